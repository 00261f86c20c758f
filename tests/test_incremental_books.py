"""The hourly books kept only when something changed equal the long way's (issue 21).

Working capital's stock at cost, the recorded stocks, the warehouses' holding cost and the
hour's flow counters are recomputed or cleared only when a stock changed (the supply side's
holdings buffer, ``sim/holdings.py``, or a warehouse's own arrays say so); sensing's window
rates come from running totals. These tests run stories with events next to a model that
takes the long way every hour and compare them hour by hour; they fail if a cache goes stale.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.holdings import Holdings
from sim.invariants import InvariantError
from sim.model import ViralChainModel


class _Watched(ViralChainModel):
    """Keeps every hour's working capital."""

    def __init__(self, *args, **kwargs):
        self.wc_by_hour: list[np.ndarray] = []
        super().__init__(*args, **kwargs)

    def _track_working_capital(self) -> None:
        super()._track_working_capital()
        self.wc_by_hour.append(self.working_capital.copy())


class _LongWay(_Watched):
    """Forgets every cache before each hour: stocks at cost and recorded stocks recomputed,
    the long way (from every stock array, not summed from the holdings' buffer)."""

    def step(self) -> None:
        self._stock_value_key = b""
        self._stock_at_cost_summed = self._stock_at_cost
        self.recorder._stocks_key = b""
        self.recorder._stock_sums = self.recorder.stocks
        for w in self.warehouses:
            w._holding_key = b""
        super().step()


def _pair(story: str | None, *extra: str) -> tuple[_Watched, _LongWay]:
    cfg = sim.compose(story, ["market.n_consumers=2000", "run.horizon_hours=264", *extra])
    fast, slow = _Watched(cfg, 1), _LongWay(cfg, 1)
    fast.run()
    slow.run()
    return fast, slow


@pytest.mark.parametrize(
    ("story", "extra"),
    [
        (None, ("setup=flexible",)),  # the flagship: live stream, rush, transfers
        ("creative_presale", ("setup=flexible",)),  # backlog of pre-orders
        ("two_brands", ("setup=rigid", "run.timeseries_resolution=day")),  # two brands, days
    ],
)
def test_incremental_books_equal_the_long_way_every_hour(story, extra):
    fast, slow = _pair(story, *extra)
    assert len(fast.wc_by_hour) == fast.horizon_hours
    for h, (a, b) in enumerate(zip(fast.wc_by_hour, slow.wc_by_hour, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"working capital at hour {h}")
    np.testing.assert_array_equal(fast.peak_working_capital, slow.peak_working_capital)
    np.testing.assert_array_equal(fast.recorder.data, slow.recorder.data)
    for field, money in fast.ledger.money.items():  # holding cost among them
        np.testing.assert_array_equal(money, slow.ledger.money[field], err_msg=field)
    assert fast.ledger.money["holding_cost"].all()
    # the story moved stock in most hours, and kept it still in some: both paths were taken
    stocks = fast.recorder.data[..., 4]  # on_hand
    moved = (np.diff(stocks, axis=0) != 0).any(axis=(1, 2))
    assert moved.any() and not moved.all()


def test_stock_arrays_are_views_of_the_buffer_with_their_contents():
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 1)
    for w in m.warehouses:
        assert np.shares_memory(w.on_hand, m.holdings.buffer)
        assert np.shares_memory(w.shipped_hour, m.hour_flows.buffer)
    assert sum(int(w.on_hand.sum()) for w in m.warehouses) > 0  # the initial stock moved in
    before = m.holdings.key()
    m.warehouses[0].on_hand[0] += 1
    assert m.holdings.key() != before
    assert m.holdings.intact()


def test_holdings_buffer_follows_in_place_changes_only():
    class Owner:
        def __init__(self):
            self.a = np.array([1, 2], dtype=np.int64)
            self.b = np.zeros((2, 2), dtype=np.int64)

    o = Owner()
    h = Holdings([(o, ("a", "b"))])
    np.testing.assert_array_equal(h.buffer, [1, 2, 0, 0, 0, 0])
    assert h.any()
    np.add.at(o.b, (1, 0), 5)
    assert h.buffer[4] == 5
    h.clear()
    assert not h.any() and not o.a.any()
    o.a = np.zeros(2, dtype=np.int64)  # rebound: the buffer no longer sees it
    assert not h.intact()
    with pytest.raises(TypeError, match="int64"):
        Holdings([(type("F", (), {"x": np.zeros(2)})(), ("x",))])


def test_debug_mode_catches_a_rebound_or_stale_stock():
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 1)
    m.run_for(2)
    m.warehouses[0].on_hand = m.warehouses[0].on_hand.copy()
    with pytest.raises(InvariantError, match="rebound"):
        m._check_books()
    m = ViralChainModel(cfg, 1)
    m.run_for(2)
    m._stock_value = [v + 1.0 for v in m._stock_value]
    with pytest.raises(InvariantError, match="stale working capital"):
        m._check_books()
    m._stock_value = m._stock_at_cost()
    m.recorder._stocks[0, 0, 3] += 1
    with pytest.raises(InvariantError, match="stale recorded stocks"):
        m._check_books()


def test_window_rates_from_running_totals_equal_slice_sums_every_hour():
    """Sensing's demand and views rates come from running totals: at every hour of a story
    with a live stream, for windows from 1 hour to longer than the run, ending before, at
    and after the current hour, they equal the slice sums of the hourly rows."""
    checked = []

    class Checked(ViralChainModel):
        def step(self) -> None:
            super().step()
            h = self.hour - 1
            for brand in self.brands:
                s = brand.sensing
                for sku in brand.skus.tolist():
                    for end in (h - 1, h, h + 1, h + 30):
                        for hours in (1, 5, 24, 48, 10_000):
                            lo = max(0, end - hours + 1)
                            n = max(1, end + 1 - lo)
                            d = float(s.hourly_demand[lo : end + 1, sku].sum()) / n
                            v = float(s.hourly_views[lo : end + 1, sku].sum()) / n
                            assert s.demand_rate(sku, end, hours) == d, (h, end, hours)
                            assert s.views_rate(sku, end, hours) == v, (h, end, hours)
                checked.append(int(s.hourly_demand[: h + 1].sum()))

    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=240"])
    Checked(cfg, 1).run()
    assert len(checked) == 240 and checked[-1] > 0  # demand was recorded, rates moved


def test_sums_from_the_buffer_are_the_arrays_added_one_by_one():
    class Owner:
        def __init__(self, rng):
            self.a = rng.integers(-50, 50, 3)
            self.b = rng.integers(-50, 50, (3, 2))
            self.c = rng.integers(-50, 50, (3, 2))

    rng = np.random.default_rng(4)
    o, p = Owner(rng), Owner(rng)
    h = Holdings([(o, ("a", "b", "c")), (p, ("a", "b", "c"))])
    np.testing.assert_array_equal(h.positions(p.b), np.arange(18, 24).reshape(3, 2))
    with pytest.raises(ValueError, match="not an array"):
        h.positions(o.a.copy())
    cell = np.arange(12).reshape(3, 4)
    # per row: a's into column 0 of both owners, b's rows summed into column 1, c as it is
    terms = [(x.a, cell[:, 0]) for x in (o, p)] + [(x.b, cell[:, 1, None]) for x in (o, p)]
    terms.append((o.c, cell[:, 2:]))
    sums = h.sums(terms, cell.size)
    for _ in range(3):
        want = np.zeros((3, 4), dtype=np.int64)
        want[:, 0] = o.a + p.a
        want[:, 1] = o.b.sum(axis=1) + p.b.sum(axis=1)
        want[:, 2:] = o.c
        got = sums()
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.reshape(3, 4), want)
        o.b[1, 1] += 7  # in place: the book follows
        p.a[2] -= 3
    assert not h.sums([], 5)().any()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.uint16, bool, np.float64])
def test_integer_ufunc_at_is_numpys_with_values_widened(dtype):
    from sim.holdings import ints

    rng = np.random.default_rng(7)
    for ufunc, ours in ((np.add, ints.add), (np.subtract, ints.subtract)):
        for index in (
            (rng.integers(0, 4, 300),),
            (rng.integers(0, 4, 300), rng.integers(0, 3, 300)),
        ):
            values = rng.integers(0, 200, 300).astype(dtype)
            target = np.zeros((4, 3) if len(index) == 2 else 4, dtype=np.int64)
            if dtype is np.float64:
                target = target.astype(np.float64)
            a, b = target.copy(), target.copy()
            idx = index if len(index) == 2 else index[0]
            ufunc.at(a, idx, values)
            ours.at(b, idx, values)
            assert b.dtype == a.dtype
            np.testing.assert_array_equal(b, a)
        scalar = np.zeros(3, dtype=np.int64)
        ours.at(scalar, 1, 5)
        ours.at(scalar, np.array([0, 0]), np.int32(2))
        assert scalar.tolist() == ([4, 5, 0] if ufunc is np.add else [-4, -5, 0])


def test_recorded_supply_flows_are_the_owners_counters_every_hour():
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 1)
    rec, record = m.recorder, m.recorder.record
    seen = []

    def checked(hour: int) -> None:
        want = np.zeros(rec.data.shape[1:], dtype=np.int64)
        whs, facs = want[:, rec._w0 : rec._f0], want[:, rec._f0 :]
        whs[:, :, 7] = np.array([w.shipped_hour for w in m.warehouses]).T  # the long way
        whs[:, :, 8] = np.array([w.returned_hour for w in m.warehouses]).T
        facs[:, :, 6] = np.array([f.produced_hour for f in m.factories]).T
        rec._flow_sums = rec._flow_sums or rec._summed_flows()
        np.testing.assert_array_equal(rec._flow_sums().reshape(want.shape), want)
        seen.append(want.any())
        record(hour)

    m.recorder.record = checked
    m.run()
    assert any(seen) and not all(seen)
