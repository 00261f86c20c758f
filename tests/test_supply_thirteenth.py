"""The supply side's short paths of the twelfth pass (``sim/holdings.py``, ``sim/rng.py``,
``sim/orders.py`` and their callers): each must give exactly what the long way gives."""

from __future__ import annotations

import numpy as np
import pytest

import sim.holdings as holdings
from sim.holdings import int_sum, ints
from tests.conftest import AtSpy

DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64, np.bool_)


def test_int_sum_as_numpy():
    """``int_sum`` is ``int(q.sum())``: the same Python int for 1-D and 2-D arrays of every
    integer dtype (and bools), empty to well past the few, negative values among them."""
    r = np.random.default_rng(13)
    short = 0
    for _ in range(20_000):
        dt = DTYPES[int(r.integers(0, len(DTYPES)))]
        n = int(r.integers(0, 80))
        lo = 0 if np.dtype(dt).kind in "ub" else -(2**30)
        hi = 2 if dt is np.bool_ else 2**30 if np.dtype(dt).itemsize >= 4 else 100
        q = r.integers(lo, hi, n).astype(dt)
        if r.random() < 0.1 and n % 2 == 0:
            q = q.reshape(2, -1)
        if r.random() < 0.1:
            q = q[::2]  # a strided view
        got, want = int_sum(q), int(q.sum())
        assert type(got) is int and got == want, (q.dtype, q.shape)
        short += q.ndim == 1 and q.size <= holdings._FEW_SUM and q.dtype in (np.int32, np.int64)
    assert short > 3_000


@pytest.mark.parametrize("sign", ["add", "subtract"])
def test_one_value_as_ufunc_at(sign):
    """A Python int into one cell (a Python int or numpy integer index, negative too) and
    one value of an array: what ``np.add.at`` / ``np.subtract.at`` give, every other form
    (a matrix, an int32 book) left to ``ufunc.at``."""
    ours, theirs = getattr(ints, sign), getattr(np, sign)
    r = np.random.default_rng(17)
    for _ in range(5_000):
        book_dt = np.int64 if r.random() < 0.9 else np.int32
        a = r.integers(-1000, 1000, 6).astype(book_dt)
        if r.random() < 0.2:
            a = r.integers(-1000, 1000, (3, 2)).astype(book_dt)
        pos = int(r.integers(-len(a), len(a)))
        form = int(r.integers(0, 4))
        index: object = (pos, np.int64(pos), np.int32(pos), np.array([pos], np.int32))[form]
        value: object = int(r.integers(-50, 50))
        if form == 3:
            value = np.array([value], (np.int32, np.int64, np.int16)[int(r.integers(0, 3))])
        b = a.copy()
        theirs.at(b, index, value)
        ours.at(a, index, value)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (index, value)


def test_one_value_takes_the_short_path(monkeypatch):
    """One value into a vector of the books (an array of one, or a Python int at an int or
    numpy ``int64`` position) never reaches ``ufunc.at``."""
    calls = []

    monkeypatch.setattr(ints.add, "_ufunc", AtSpy(np.add, calls))
    monkeypatch.setattr(ints.subtract, "_ufunc", AtSpy(np.subtract, calls))
    a = np.zeros(5, np.int64)
    ints.add.at(a, np.array([1], np.int32), np.array([2], np.int32))
    ints.add.at(a, np.array([4], np.int64), np.array([3], np.int64))
    ints.subtract.at(a, np.array([-1], np.int16), np.array([1], np.int32))
    ints.add.at(a, 2, 5)
    ints.subtract.at(a, np.int64(0), 7)
    assert calls == []
    assert a.tolist() == [-7, 2, 5, 0, 2]
    ints.add.at(a, np.array([1, 2]), np.array([1]))  # broadcast: numpy's
    assert len(calls) == 1


def test_unpickled_arrays_take_the_short_paths(monkeypatch):
    """An array unpickled (a model's copy) has a dtype equal to ``np.dtype(np.int64)`` but
    not the same object: ``ints.add.at`` / ``ints.subtract.at`` and ``int_sum`` still take
    their short paths on it (identity alone sent it the long way, to the same result)."""
    import pickle

    calls = []

    class Summed(np.ndarray):
        def sum(self, *args, **kwargs):
            calls.append("sum")
            return super().sum(*args, **kwargs)

    monkeypatch.setattr(ints.add, "_ufunc", AtSpy(np.add, calls))
    monkeypatch.setattr(ints.subtract, "_ufunc", AtSpy(np.subtract, calls))
    a = pickle.loads(pickle.dumps(np.zeros(5, np.int64)))
    assert a.dtype == np.int64 and a.dtype is not np.dtype(np.int64)  # what the test is for
    ints.add.at(a, 2, 5)
    ints.subtract.at(a, np.array([1], np.int64), np.array([3], np.int32))
    ints.add.at(a, np.array([0, 4]), np.array([1, 2]))
    assert calls == [] and a.tolist() == [1, -3, 5, 0, 2]
    for dt in (np.int64, np.int32):
        q = pickle.loads(pickle.dumps(np.arange(10, dtype=dt))).view(Summed)
        assert q.dtype is not np.dtype(dt)
        assert int_sum(q) == 45
    assert calls == []


def test_streams_of_two_names_and_an_hour_as_numpy():
    """``stream(seed, name, name, hour)`` (a warehouse's inspections) keys its two names
    once and reads the hours' tables in line: numpy's generator, hour by hour, past the
    tables' first asks and across a block's edge."""
    from sim import rng
    from sim.rng import seed_sequence, stream

    rng._tables.clear()
    rng._asked.clear()
    for hour in [*range(250, 270), *range(250, 270)]:
        expected = np.random.Generator(np.random.PCG64(seed_sequence(4, "inspect", "wh", hour)))
        got = stream(4, "inspect", "wh", hour)
        assert got.bit_generator.state == expected.bit_generator.state, hour
        assert got.random() == expected.random()
    assert ("inspect", "wh") in rng._prefix_keys
    assert any(key[1] == rng._prefix_keys["inspect", "wh"] for key in rng._tables)


# ---------------------------------------------------------------- the model's event loop


def _mesa_loop_model():
    import mesa

    from sim.model import ViralChainModel

    class MesaLoop(ViralChainModel):
        _advance_time = mesa.Model._advance_time

    return MesaLoop


def _probe_run(cls, plan, chunks=(5, 7, 1, 30)):
    """A small model run in ``chunks`` of hours with probe events: ``plan`` maps a step
    number to what its hour's events do. Returns what ran (time, steps, what) and the
    loop's state after each chunk."""
    from mesa.time import Priority

    import sim

    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=72"])
    m = cls(cfg, 4)
    ran: list[tuple] = []
    step = m._user_step

    class Probe:
        def __init__(self, name, then=None):
            self.name, self.then = name, then

        def fire(self):
            ran.append((m.time, m.steps, self.name))
            if self.then is not None:
                self.then()

    probes = []

    def at(t, name, then=None, priority=Priority.DEFAULT):
        p = Probe(name, then)
        probes.append(p)  # Mesa holds weak references
        m.schedule_event(p.fire, at=t, priority=priority)

    def stepping():
        ran.append((m.time, m.steps, "step"))
        step()
        for what in plan.get(m.steps, ()):
            what(m, at)

    m._user_step = stepping
    after = []
    for n in chunks:
        m.run_for(n)
        heap = sorted((e.time, e.priority) for e in m._event_list._events if not e._canceled)
        after.append((m.time, m.steps, m.hour, heap, len(m.events)))
    return ran, after


def _chain(m, at):
    """At the start of the next hour: an event that schedules one at its own time (it runs
    before the next step), one of the step's priority at the next step's time (made after
    the step's event under Mesa: it runs after that step), one of the default priority then,
    and one of the step's priority made before (it runs before that step)."""
    from mesa.time import Priority

    t = m.time
    at(t + 1, "high, made before the step's event", priority=Priority.HIGH)

    def spawn():
        at(t, "same time, made by an event")
        at(t + 1, "high, made after the step's event", priority=Priority.HIGH)
        at(t + 1, "default, after the step")

    at(t, "spawner", spawn)


def _pause(m, at):
    at(m.time, "pauses the step", m._default_schedule.pause)
    at(m.time, "after the pause")


def _stop(m, at):
    at(m.time, "stops the step", m._default_schedule.stop)


def _resume_later(m, at):
    at(m.time + 3, "resumes", m._default_schedule.resume)


def _restart(m, at):
    gen = m._default_schedule

    def restart():
        gen.stop()
        gen.start()

    at(m.time, "restarts the step", restart)


def _high_only(m, at):
    """Only one event of the step's priority at the next step's time (made before the step's
    event under Mesa: it runs first), none due before it: no event id reserved."""
    from mesa.time import Priority

    at(m.time + 1, "high alone, made during the step", priority=Priority.HIGH)


@pytest.mark.parametrize(
    "plan",
    [
        {3: [_chain], 4: [_chain], 9: [_chain], 12: [_chain]},
        {3: [_high_only]},
        {6: [_pause], 2: [_chain]},
        {6: [_pause, _resume_later]},
        {5: [_stop], 2: [_chain]},
        {7: [_stop]},
        {8: [_restart]},
    ],
    ids=[
        "chained events",
        "high alone",
        "pause",
        "pause and resume",
        "stop",
        "stop between steps",
        "restart",
    ],
)
def test_events_between_steps_run_where_mesas_loop_runs_them(plan):
    """The events the short loop runs between two steps (and the events they schedule, of
    the step's priority too), an event pausing, stopping or restarting the hourly step: the
    same calls at the same times and steps, the same loop state after every chunk, as
    Mesa's own loop."""
    from sim.model import ViralChainModel

    fast = _probe_run(ViralChainModel, plan)
    slow = _probe_run(_mesa_loop_model(), plan)
    assert fast == slow
    assert any(r[2] != "step" for r in fast[0])


def _raising_run(cls, then=None):
    """exc.py of the review: an event due before step 6 raises (caught), then the run goes
    on for two chunks of ten hours; the event before it made one of the step's priority at
    the step's time (after the step's event under Mesa: it runs after step 6). Returns when
    it raised and when that one ran, then the loop's state."""
    from mesa.time import Priority

    import sim

    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=72"])
    m = cls(cfg, 4)
    step = m._user_step
    keep: list = []
    ran: list = []

    def boom():
        if then is not None:
            getattr(m._default_schedule, then)()
        raise RuntimeError("boom")

    def high():
        ran.append((m.time, m.steps))

    def spawn():
        m.schedule_event(high, at=m.time + 1, priority=Priority.HIGH)

    def stepping():
        step()
        if m.steps == 5:
            keep.extend((boom, high, spawn))  # Mesa holds weak references
            m.schedule_event(spawn, at=m.time)  # due before the next step
            m.schedule_event(boom, at=m.time)

    m._user_step = stepping
    with pytest.raises(RuntimeError, match="boom"):
        m.run_for(10)
    out: list[tuple] = [(m.time, m.steps), ran]
    for _ in range(2):
        m.run_for(10)
        gen = m._default_schedule
        heap = sorted((e.time, e.priority) for e in m._event_list._events if not e._canceled)
        out.append((m.time, m.steps, gen._active, gen.next_scheduled_time, heap))
    return out


@pytest.mark.parametrize("then", [None, "pause", "stop"])
def test_an_event_raising_between_steps_keeps_the_next_step(then):
    """An event between two steps that raises leaves the next step's event on the heap, as
    Mesa's loop does (it is scheduled before that event runs): the run goes on after the
    exception with the same steps and the same next step; none if the event paused or
    stopped the step before raising (Mesa's is cancelled)."""
    from sim.model import ViralChainModel

    fast = _raising_run(ViralChainModel, then)
    slow = _raising_run(_mesa_loop_model(), then)
    assert fast == slow
    if then is None:
        assert fast[0] == (5.0, 5) and fast[1] == [(6.0, 6)]
        assert fast[2][:2] == (15.0, 15) and fast[2][3] == 16.0
    else:
        assert fast[2][:2] == (15.0, 5) and fast[2][3] is None


def test_events_between_steps_make_no_step_event(monkeypatch):
    """Hours with events between their steps make no event for the next step (the short
    loop's gain): only the first step's and the one after the chunk."""
    import mesa

    from sim.model import ViralChainModel

    made = []
    schedule_next = mesa.time.EventGenerator._schedule_next

    def counted(gen, time):
        made.append(gen.function().__name__)
        schedule_next(gen, time)

    monkeypatch.setattr(mesa.time.EventGenerator, "_schedule_next", counted)
    plan = {s: [_chain] for s in range(2, 40, 3)}
    fast = _probe_run(ViralChainModel, plan, chunks=(48,))
    steps_fast, made[:] = made.count("_do_step"), []
    slow = _probe_run(_mesa_loop_model(), plan, chunks=(48,))
    steps_slow = made.count("_do_step")
    assert fast == slow
    assert sum(1 for r in fast[0] if r[2] != "step") > 20
    # the model's first (its construction) and the one after the chunk; Mesa: one a step
    assert steps_fast == 2 and steps_slow == 49


# ---------------------------------------------------------------- the order book


def _one_order(r: np.random.Generator) -> dict:
    """The columns of one order, each given as a Python scalar, a numpy scalar or an array
    of one, of dtypes the callers use and others (in each column's range)."""
    from sim.orders import _COLUMNS, _STATE_NAMES

    out: dict = {}
    for name, t in _COLUMNS.items():
        if name in _STATE_NAMES:
            continue
        kind = np.dtype(t).kind
        if kind == "b":
            v: object = bool(r.random() < 0.5)
            dts: tuple = (np.bool_,)
        elif kind == "f":
            v = float(r.normal(50.0, 30.0)) * (1.0 if r.random() < 0.9 else 1e-40)
            dts = (np.float64, np.float32, np.float16)
        else:
            info = np.iinfo(t)  # in the column's range (out of it the cell is refused)
            v = int(r.integers(max(-100, info.min), min(30_000, info.max) + 1))
            dts = tuple(
                d
                for d in (np.int64, np.int32, np.int16, np.int8, np.uint16, np.uint8)
                if np.iinfo(d).min <= v <= np.iinfo(d).max
            )
        form = int(r.integers(0, 3))
        if form == 0:
            out[name] = v
        else:
            dt = dts[int(r.integers(0, len(dts)))]
            a = np.array([v]).astype(dt)
            out[name] = a if form == 1 else a[0]  # an array of one, or a numpy scalar
    return out


def test_one_order_is_written_as_a_slice_of_one(monkeypatch):
    """``OrderBook.accept`` of one order (its values written cell by cell) fills the same
    bytes as the slice of one it wrote before, on 3,000 random orders of every value form,
    and orders of several as before."""
    from sim import orders
    from sim.orders import OrderBook

    r = np.random.default_rng(19)
    given = [_one_order(r) for _ in range(3_000)]
    several = {k: np.repeat(np.asarray(v).reshape(-1)[:1], 3) for k, v in given[0].items()}
    fast, slow = OrderBook(16), OrderBook(16)
    for g in given:
        fast.accept(**g)
    fast.accept(**several)
    monkeypatch.setattr(orders, "_CELL_VALUES", {k: (frozenset(), "") for k in orders._COLUMNS})
    for g in given:
        slow.accept(**g)
    slow.accept(**several)
    assert fast.n == slow.n == 3_003
    for name in orders._COLUMNS:
        a, b = fast._cols[name][: fast.n], slow._cols[name][: slow.n]
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name


def test_one_order_out_of_its_columns_range_is_refused():
    """A value outside its column's range is refused (a slice of one would wrap it; no run
    makes one): documented in ``sim.orders._CELL_VALUES``."""
    from sim.orders import OrderBook

    order = _one_order(np.random.default_rng(2))
    order["channel"] = np.array([300], np.int64)  # the channel column is int8
    with pytest.raises(OverflowError):
        OrderBook(16).accept(**order)


def test_one_order_of_other_values_is_written_as_before():
    """Values of other kinds (floats into an integer column) go the slice's way, casting
    as it casts (here an out-of-range float, which numpy's cast turns into int32's least)."""
    import warnings

    from sim.orders import OrderBook

    order = _one_order(np.random.default_rng(3))
    order["kol"] = np.array([-2.5e10])
    book = OrderBook(16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "invalid value in cast"
        book.accept(**order)
    assert book.kol[0] == np.iinfo(np.int32).min


@pytest.mark.parametrize("length", [0, 2])
def test_one_order_with_an_array_of_another_length_is_refused(length, monkeypatch):
    """mis.py of the review: the first array given has one value, another has ``length``
    (a caller's bug): refused as the slice of one refuses it (numpy's ValueError), not
    stored from its first value; nothing accepted."""
    from sim import orders
    from sim.orders import OrderBook

    order = _one_order(np.random.default_rng(5))
    order["consumer"] = np.array([7], np.int64)  # the first column, an array of one
    order["region"] = np.arange(1, 1 + length, dtype=np.int16)
    for cells in (orders._CELL_VALUES, {k: (frozenset(), "") for k in orders._COLUMNS}):
        monkeypatch.setattr(orders, "_CELL_VALUES", cells)
        book = OrderBook(16)
        with pytest.raises(ValueError):
            book.accept(**order)
        assert book.n == 0


def test_a_stopped_or_paused_step_has_no_current_event():
    """What lets the short loop test only ``gen._current_event is not current`` after an
    event between two steps (and before making the step's event when one raises): Mesa's
    ``stop()`` and ``pause()`` of the hourly step drop its current event, in either order,
    and ``resume()`` / ``start()`` make another; so a stopped or paused step never has the
    event the loop holds (the pause and stop plans above give Mesa's loop's results)."""
    import sim
    from sim.model import ViralChainModel

    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=72"])
    m = ViralChainModel(cfg, 4)
    gen = m._default_schedule
    seen = [gen._current_event]
    for verbs in (("pause",), ("stop",), ("pause", "stop"), ("stop", "pause")):
        for verb in verbs:
            getattr(gen, verb)()
            assert (not gen._active or gen._paused) and gen._current_event is None, verbs
        gen.resume() if gen._active else gen.start()
        assert gen._active and not gen._paused
        assert gen._current_event is not None and all(gen._current_event is not e for e in seen)
        seen.append(gen._current_event)
