"""The supply side's busy-hour short paths of the eleventh pass (``sim/holdings.py``,
``sim/agents/brand_selling.py`` and what they call): each must give exactly what the long
way gives. Orders of a few wishes are held to the long way in
``tests/test_orders_fast_paths.py`` (random worlds of every allocation rule, presale on and
off) and here on whole runs."""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.holdings as holdings
from sim.holdings import ints
from sim.model import ViralChainModel
from tests.conftest import AtSpy

SIGNED = (np.int8, np.int16, np.int32, np.int64)
INDEX = (np.int16, np.int32, np.int64, np.uint32, np.intp)


def _random_call(r: np.random.Generator) -> tuple[np.ndarray, object, np.ndarray]:
    """An int64 book (a vector or a matrix), an index of one of the forms the books use
    (and some they do not), and a few signed integer values."""
    k = int(r.integers(0, 7))
    vals = r.integers(-50, 50, k).astype(SIGNED[int(r.integers(0, len(SIGNED)))])
    if r.random() < 0.5:
        a = r.integers(-1000, 1000, 6).astype(np.int64)
        form = int(r.integers(0, 4))
        if form == 0:  # repeated and negative positions among them
            index: object = r.integers(-6, 6, k).astype(INDEX[int(r.integers(0, 3))])
        elif form == 1:
            index = r.integers(0, 6, k).astype(INDEX[int(r.integers(0, len(INDEX)))])
        elif form == 2:  # one position, values broadcast
            index = np.array([int(r.integers(0, 6))] * k, dtype=np.int64)
            vals = vals[:1] if k else vals
        else:  # a Python int position, the values' sum added there
            index = int(r.integers(0, 6))
        return a, index, vals
    a = r.integers(-1000, 1000, (5, 4)).astype(np.int64)
    rows = r.integers(0, 5, k).astype(INDEX[int(r.integers(0, len(INDEX)))])
    cols = r.integers(-4, 4, k).astype(INDEX[int(r.integers(0, 3))])
    form = int(r.integers(0, 5))
    if form == 0:
        index = (rows, cols)
    elif form == 1:
        index = (rows, int(r.integers(0, 4)))
    elif form == 2:
        index = (int(r.integers(0, 5)), cols)
    elif form == 3:  # a 2-D index: ufunc.at broadcasts it
        index = (rows[:, None], cols[None, :])
        vals = vals[:1]
    else:  # one row, no column: a row added
        index = int(r.integers(0, 5))
        vals = r.integers(-50, 50, 4).astype(np.int64)
    return a, index, vals


@pytest.mark.parametrize("sign", ["add", "subtract"])
def test_few_values_as_ufunc_at(sign):
    """``ints.add.at`` / ``ints.subtract.at`` of a few values on Python ints: the same
    books as ``np.add.at`` / ``np.subtract.at`` on 20,000 random calls, every index form
    (the short path's and others, which go to ``ufunc.at``)."""
    ours, theirs = getattr(ints, sign), getattr(np, sign)
    r = np.random.default_rng(11)
    short = 0
    for _ in range(20_000):
        a, index, vals = _random_call(r)
        b = a.copy()
        try:
            theirs.at(b, index, vals)
        except (ValueError, IndexError) as e:  # a form numpy refuses: refused alike
            with pytest.raises(type(e)):
                ours.at(a, index, vals)
            continue
        ours.at(a, index, vals)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (index, vals)
        short += vals.ndim == 1 and len(vals) <= holdings._FEW_AT and a.ndim <= 2
    assert short > 10_000


def test_few_values_take_the_short_path(monkeypatch):
    """The books' forms of a few values never reach ``ufunc.at`` (the short path is taken)."""
    calls = []

    monkeypatch.setattr(ints.add, "_ufunc", AtSpy(np.add, calls))
    a, m = np.zeros(5, np.int64), np.zeros((5, 3), np.int64)
    ints.add.at(a, np.array([1, 1, 4], np.int32), np.array([2, 3, 4], np.int32))
    ints.add.at(m, (np.array([0, 4], np.int32), np.array([2, 2], np.int16)), np.array([1, 5]))
    ints.add.at(m, (np.array([3], np.int64), 1), np.array([7], np.int16))
    ints.add.at(m, (2, np.array([0, 1, 2, 0], np.int16)), np.array([1, 2, 3, 4], np.int32))
    assert calls == []
    assert a.tolist() == [0, 5, 0, 0, 4]
    assert m.sum() == 1 + 5 + 7 + 10 and m[0, 2] == 1 and m[4, 2] == 5 and m[2, 0] == 5
    ints.add.at(a, np.arange(5), np.ones(5, np.int64))  # more than a few: numpy's
    assert len(calls) == 1


WORLDS = [
    (None, ["setup=flexible"]),
    (None, ["setup=rigid"]),
    (None, ["setup=flexible", "policy/allocation=proportional", "policy/presale=on"]),
    ("multi_platform", ["setup=flexible", "policy/allocation=priority"]),
    ("two_brands", ["setup=flexible"]),
    ("daily_multisku", ["setup=flexible"]),
    ("creative_presale", ["setup=flexible"]),
]


def _run_bytes(story: str | None, overrides: list[str]) -> list[bytes]:
    cfg = sim.compose(story, [*overrides, "market.n_consumers=3000", "run.horizon_hours=480"])
    res = sim.run(cfg, seed=5, keep_model=True)
    m = res.model
    book = m.orders
    out = [book._cols[c][: book.n].tobytes() for c in sorted(book._cols)]
    out += [res.timeseries.to_csv().encode(), res.events.to_csv().encode()]
    out.append(repr(sorted(res.kpis_by_brand.items())).encode())
    for b in m.brands:  # what the brands sensed, hour by hour, and their running totals
        s = b.sensing
        out += [s.hourly_demand.tobytes(), s.hourly_views.tobytes()]
        out += [s._demand_before.tobytes(), s._views_before.tobytes()]
    return out


@pytest.mark.parametrize("story,overrides", WORLDS)
def test_whole_runs_as_the_long_way(story, overrides, monkeypatch):
    """Whole runs with the short paths against runs without them (every order through the
    many-wish path, every ``ints`` call through ``ufunc.at``): the same order book, tables
    and KPIs, byte for byte."""
    import sim.agents.brand_selling as selling
    import sim.agents.brand_sensing as sensing
    import sim.queues as queues

    short = _run_bytes(story, overrides)
    with monkeypatch.context() as mp:
        mp.setattr(selling, "_FEW", -1)
        mp.setattr(selling, "_FEW_BACK", -1)
        mp.setattr(selling, "_SUM_FEW", -1)
        mp.setattr(queues, "_FEW", -1)
        mp.setattr(sensing, "_FEW_SKUS", -1)
        mp.setattr(holdings, "_FEW_AT", -1)
        long = _run_bytes(story, overrides)
    assert short == long


def test_sum_of_a_few_as_numpy():
    """``_sum_few``: ``float(array.sum())`` bit for bit on 200,000 random arrays of 1 to 11
    doubles (magnitudes far apart, signed zeros, infinities, money-like values): in turn
    from 0.0 below eight values, numpy's own sum from eight on."""
    from sim.agents.brand_selling import _sum_few

    r = np.random.default_rng(3)
    special = [0.0, -0.0, 1e16, 1.0, -1.0, 3.3, 1e-300, 2.0**53, np.inf, -np.inf, 1e308]
    for t in range(200_000):
        k = int(r.integers(1, 12))
        kind = t % 4
        if kind == 0:
            v = r.random(k) * 10.0 ** r.integers(-5, 8, k)
        elif kind == 1:
            v = r.choice(special, k)
        elif kind == 2:
            v = np.round(r.random(k) * 100, 2) * r.integers(1, 6, k)
        else:
            v = r.normal(size=k) * 1e10
        with np.errstate(all="ignore"):
            want, got = float(v.sum()), _sum_few(v.tolist())
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert np.float64(got).tobytes() == np.float64(want).tobytes(), v.tolist()


def test_commission_of_a_few_as_the_arrays():
    """``Selling._commission_few`` on Python numbers against ``Selling._commission`` on
    arrays: the same KOL fees (values and types) and per-brand money, on 3,000 random
    orders of up to 40 wishes (no KOL, one, several, zero revenue)."""
    cfg = sim.compose("multi_platform", ["setup=flexible", "market.n_consumers=500"])
    from sim.model import ViralChainModel

    a, b = ViralChainModel(cfg, 1), ViralChainModel(cfg, 1)
    r = np.random.default_rng(4)
    n_kols = len(a.kols)
    for _ in range(3_000):
        k = int(r.integers(1, 41))  # up to more than a few orders (selling._FEW)
        kols = np.where(r.random(k) < 0.5, r.integers(0, n_kols, k), -1).astype(np.int32)
        revenue = np.round(r.random(k) * 200, 2) * r.integers(0, 4, k)
        sign = int(r.choice([1, -1]))
        a.brands[0].selling._commission_few(kols.tolist(), revenue.tolist(), sign)
        b.brands[0].selling._commission(kols, revenue, sign)
    fa, fb = a.ledger.kol_fees_by_kol, b.ledger.kol_fees_by_kol
    assert repr(sorted(fa.items())) == repr(sorted(fb.items()))
    assert a.ledger.money["kol_fees"].tobytes() == b.ledger.money["kol_fees"].tobytes()
    assert len(fa) == n_kols


@pytest.mark.parametrize("seed", range(6))
def test_pop_of_a_few_as_the_arrays(seed, monkeypatch):
    """``IdQueue.pop_by_capacity`` of a few queued ids on Python numbers against the array
    way: the same ids popped (values and dtype) and the same queue left, on random queues
    of 0 to 40 ids (cancelled ones among them) and capacities (fractional, zero, below and
    above what is queued), pops and pushes interleaved."""
    import sim.queues as queues

    r = np.random.default_rng(seed)
    n = 500
    quantity = r.integers(1, 6, n).astype(np.int32)
    status = r.choice([1, 1, 1, 5], n).astype(np.int8)
    a, b = queues.IdQueue(), queues.IdQueue()
    few = 0
    for _ in range(2_000):
        if r.random() < 0.5:
            ids = r.integers(0, n, int(r.integers(0, 12)))
            a.push(ids)
            b.push(ids)
            continue
        capacity = float(r.choice([0.0, 0.5, 1.0, 3.7, 8.0, 20.0, 1e6]))
        few += len(a) <= queues._FEW
        got = a.pop_by_capacity(quantity, status, 1, capacity)
        with monkeypatch.context() as mp:
            mp.setattr(queues, "_FEW", -1)
            want = b.pop_by_capacity(quantity, status, 1, capacity)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
        assert a.items().tobytes() == b.items().tobytes() and len(a) == len(b)
    assert few > 300


def test_recording_a_few_skus_in_debug_mode():
    """The sensing's hourly rows of a few SKUs on Python ints, in debug mode (the running
    totals checked against the hourly rows every hour): a story of three SKUs runs."""
    cfg = sim.compose(
        "creative_presale",
        [
            "setup=flexible",
            "market.n_consumers=2000",
            "run.horizon_hours=240",
            "run.debug_invariants=true",
        ],
    )
    res = sim.run(cfg, seed=2, keep_model=True)
    s = res.model.brands[0].sensing
    assert 1 < s.hourly_demand.shape[1] <= 4 and s.hourly_demand.any()


def test_routing_tables_are_read_only():
    """A brand network's candidates and trip hours cannot be written: their Python-list
    copies (read by orders of a few wishes) cannot part from them."""
    m = ViralChainModel(sim.compose("multi_platform", ["setup=flexible"]), 1)
    for b in m.brands:
        net = b.selling.network
        for arr, lists in ((net.candidates, net.candidate_lists), (net.trip_hours, net.trip_lists)):
            assert not arr.flags.writeable
            assert arr.tolist() == lists
            with pytest.raises(ValueError):
                arr[0, 0] = arr[0, 0]
