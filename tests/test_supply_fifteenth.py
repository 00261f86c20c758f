"""The fourteenth pass's supply-side shortcuts (issue 21), each held to the long way.

* ``sim.model._Recurring``: the model's recurring events (cut-offs, reviews, material
  reviews) made in line, against Mesa's own ``EventGenerator``;
* the short loop's ``time`` set in line where no one listens, against Mesa's loop (the
  times events see; a subscriber's change signals; a computed property that reads it);
* the Mesa version the list of Mesa internals in ``sim/model.py`` was checked against;
  ``every``'s refusal of a past start;
* ``Sensing._record_few`` through memoryviews of the running totals (the arrays' own way is
  ``tests/test_supply_eleventh.py``'s long path, ``_FEW_SKUS`` off); its cells checked in
  debug mode and left out of copies (``sim.holdings.state_without``).
"""

from __future__ import annotations

import copy
import pickle

import mesa
import numpy as np
import pytest
from mesa.experimental.mesa_signals import HasObservables, computed_property
from mesa.time import Event, EventGenerator, Priority, Schedule

import sim
import sim.model as model_mod
from sim.holdings import state_without
from sim.invariants import InvariantError
from sim.model import ViralChainModel, _Recurring

WORLDS = [
    (None, ["setup=flexible"]),
    (None, ["setup=rigid"]),
    ("two_brands", ["setup=flexible"]),
    ("daily_multisku", ["setup=flexible"]),
]


def _books(m: ViralChainModel) -> list[bytes]:
    book = m.orders
    out = [book._cols[c][: book.n].tobytes() for c in sorted(book._cols)]
    out += [m.recorder.data.tobytes(), repr(m.events).encode(), m.holdings.key()]
    out += [np.asarray(v).tobytes() for v in m.ledger.money.values()]
    for b in m.brands:
        s = b.sensing
        out += [s.hourly_demand.tobytes(), s.hourly_views.tobytes()]
        out += [s._demand_before.tobytes(), s._views_before.tobytes()]
    return out


def _heap(m: ViralChainModel) -> list[tuple]:
    """The model's pending events, as Mesa orders them: time, priority, the callback's name
    and the order of their ids (ids themselves move with every event made elsewhere)."""
    events = sorted(e for e in m._event_list._events if not e._canceled)
    return [(e.time, e.priority, getattr(e.fn(), "__qualname__", "")) for e in events]


def _run(story, overrides, mesa_own: bool, monkeypatch) -> tuple[list[bytes], list, int]:
    cfg = sim.compose(story, [*overrides, "market.n_consumers=2000", "run.horizon_hours=360"])
    with monkeypatch.context() as mp:
        if mesa_own:
            mp.setattr(model_mod, "_Recurring", EventGenerator)
        m = ViralChainModel(cfg, 3)
        gens = [g for g in m._event_generators if g is not m._default_schedule]
        assert gens and all(type(g) is (EventGenerator if mesa_own else _Recurring) for g in gens)
        m.run_for(200)
        heap = _heap(m)
        m.run_for(160)
    return _books(m), heap, sum(g.execution_count for g in gens)


@pytest.mark.parametrize("story,overrides", WORLDS)
def test_recurring_events_as_mesas_own(story, overrides, monkeypatch):
    """Whole runs with the in-line recurring events and with Mesa's generators: the same
    books byte for byte, the same pending events mid-run, the same number of firings."""
    assert _run(story, overrides, False, monkeypatch) == _run(story, overrides, True, monkeypatch)


def test_recurring_event_is_mesas_event():
    """The event ``_Recurring`` makes is the one Mesa's generator makes: the same class,
    attributes in the same order and values (the next id; the callback resolving to the
    generator's ``_execute_and_reschedule``), on the model's heap."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, 1)

    class Probe:
        def fire(self) -> None:
            pass

    probe = Probe()
    sched = Schedule(interval=5.0, start=7.0, end=50.0)
    ours = _Recurring(m, probe.fire, sched, Priority.DEFAULT)
    mesa = EventGenerator(m, probe.fire, sched, Priority.DEFAULT)
    for t in (7.0, 12.0):
        ours._schedule_next(t)
        mesa._schedule_next(t)
        a, b = ours._current_event, mesa._current_event
        assert type(a) is type(b) is Event
        assert list(vars(a)) == list(vars(b))
        assert a.unique_id + 1 == b.unique_id  # taken in turn from Mesa's counter
        for k in ("time", "priority", "_canceled", "function_args", "function_kwargs"):
            assert getattr(a, k) == getattr(b, k) and type(getattr(a, k)) is type(getattr(b, k))
        assert a.fn() == ours._execute_and_reschedule and b.fn() == mesa._execute_and_reschedule
        assert a in m._event_list._events and b in m._event_list._events
    # one weak reference per generator, shared by its events
    assert ours._current_event.fn is ours._ref


def test_recurring_copies_go_on_as_the_original():
    """A copied model (``copy.deepcopy``, pickle) mid-run keeps no weak reference of a
    generator, nor memoryviews of the sensing; it goes on as the original, byte for byte."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 2)
    m.run_for(100)
    assert m.brands[0].sensing._cells is not None
    gens = [g for g in m._event_generators if isinstance(g, _Recurring)]
    assert gens and all(g._ref is not None for g in gens)
    copies = [copy.deepcopy(m), pickle.loads(pickle.dumps(m))]
    for other in copies:
        assert other.brands[0].sensing._cells is None
        assert all("_ref" not in vars(g) for g in other._event_generators)
        other.run_for(140)
        s = other.brands[0].sensing
        assert s._cells[0].obj is s._demand_before and s._cells[3].obj is s.hourly_views
    m.run_for(140)
    for other in copies:
        assert _books(other) == _books(m)


def test_debug_mode_catches_stale_sensing_cells():
    cfg = sim.compose(
        None,
        [
            "setup=flexible",
            "market.n_consumers=2000",
            "run.horizon_hours=240",
            "run.debug_invariants=true",
        ],
    )
    m = ViralChainModel(cfg, 1)
    s = m.brands[0].sensing
    while s._cells is None and m.hour < 200:  # (made at the first hour that flows)
        m.run_for(1)
    assert s._cells is not None
    m.run_for(1)  # the kept cells pass the check
    s._cells = (memoryview(s._demand_before.copy()), *s._cells[1:])
    with pytest.raises(InvariantError, match="stale cells"):
        m.run_for(1)


def test_state_without_drops_only_the_named():
    class Owner:
        pass

    o = Owner()
    o.a, o.cells, o.other = np.arange(3), memoryview(np.arange(3)), 5
    state = state_without(o, "cells")
    assert state["cells"] is None and state["a"] is o.a and state["other"] == 5
    assert o.cells is not None  # the object itself keeps its views
    assert list(state) == list(vars(o))


class _Probe:
    """Events between two hours (at 2.5 and 30.25): the only ones that move the time
    between steps. Mesa keeps a weak reference to ``fire``: the model keeps the probe."""

    def __init__(self, record) -> None:
        self.record = record

    def fire(self) -> None:
        self.record()


def _probe(m, record) -> None:
    m._test_probe = probe = _Probe(record)
    for at in (2.5, 30.25):
        m.schedule_event(probe.fire, at=at)


def _times_seen(subscribe: bool, mesa_loop: bool, monkeypatch) -> tuple[list, list, list]:
    """The model's time as a subscriber of ``time`` and the events between steps see it."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    signals: list[tuple] = []
    seen: list[float] = []
    with monkeypatch.context() as mp:
        if mesa_loop:  # the short loop refuses a step of another schedule: Mesa's own loop
            mp.setattr(model_mod, "_HOURLY_STEP", Schedule(interval=2.0, start=1.0))
        from sim.agents.carrier import Carrier

        dispatch = Carrier.dispatch

        def spy(self) -> None:
            seen.append(self.model.time)
            dispatch(self)

        mp.setattr(Carrier, "dispatch", spy)  # (before the model schedules it)
        m = ViralChainModel(cfg, 1)

        def heard(signal) -> None:
            signals.append(tuple(sorted(signal.additional_kwargs.items())))

        if subscribe:  # (Mesa keeps a weak reference: heard lives until the run's end)
            m.observe("time", "changed", heard)

        _probe(m, lambda: seen.append(m.time))
        m.run_for(72)
    return signals, seen, [m.time, m._time, m.steps]


@pytest.mark.parametrize("subscribe", [False, True])
def test_time_as_mesas_observable(subscribe, monkeypatch):
    """The short loop's in-line ``time``: the same times seen by the events and, with a
    subscriber, the same change signals as Mesa's own loop sends."""
    ours = _times_seen(subscribe, False, monkeypatch)
    assert ours == _times_seen(subscribe, True, monkeypatch)
    assert 2.5 in ours[1] and 30.25 in ours[1]
    assert bool(ours[0]) == subscribe


def _computed_seen(mesa_loop: bool, monkeypatch) -> tuple[list, list]:
    """A computed property of the model's ``time``, read by events between steps and by
    every step's work, under the short loop or Mesa's own."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    seen: list[float] = []
    with monkeypatch.context() as mp:
        if mesa_loop:  # (as in _times_seen: Mesa's own loop)
            mp.setattr(model_mod, "_HOURLY_STEP", Schedule(interval=2.0, start=1.0))
        m = ViralChainModel(cfg, 1)

        class Watcher(HasObservables):
            @computed_property
            def doubled(self) -> float:
                return m.time * 2

        w = Watcher()
        assert not m.subscribers
        assert w.doubled == 0.0  # the read subscribes the computed property to ``time``
        assert m.subscribers
        step = m._user_step

        def stepped() -> None:
            seen.append(w.doubled)
            step()

        m._user_step = stepped

        _probe(m, lambda: seen.append(w.doubled))
        m.run_for(72)
        seen.append(w.doubled)
    return seen, [m.time, m._time, m.steps]


def test_computed_property_of_time_as_mesas_loop(monkeypatch):
    """A computed property that reads ``time`` is a subscriber (the short loop's test
    ``self.subscribers`` covers it): it follows the time as under Mesa's own loop."""
    ours = _computed_seen(False, monkeypatch)
    assert ours == _computed_seen(True, monkeypatch)
    assert 5.0 in ours[0] and 60.5 in ours[0] and ours[0][-1] == 144.0


def test_mesa_version_of_the_internals_list():
    assert mesa.__version__ == "3.5.1", (
        "Mesa moved: re-check the list of Mesa internals sim/ relies on (sim/model.py, the "
        "comment block above _Recurring) against the new version, then move this pin"
    )


def test_every_refuses_a_past_start():
    """``every`` with a start before the model's time: Mesa's own refusal, nothing scheduled."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, 1)
    m.run_for(10)

    class Probe:
        def fire(self) -> None:
            pass

    probe = Probe()
    before = len(m._event_list._events)
    with pytest.raises(ValueError, match="in the past"):
        m.every(24, 5, probe.fire)
    assert len(m._event_list._events) == before
    assert m.every(24, 10, probe.fire) is not None  # the current time itself is allowed
