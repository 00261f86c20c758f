"""The quiet hour's supply side, thirteenth pass of issue 21 (branch ``supply14``): each
shortcut held equal to the long way on whole runs.

* ``Sensing.track_stockouts`` of a SKU whose stocks (the holdings' bytes) and recorded hours
  are those of its last long read: only the hours out of stock move
  (``sim.agents.brand_sensing._SETTLED_BYTES`` set below zero: always the long way);
* the warehouses' idle hour in the model's step, while the holdings keep the bytes they had
  after an hour in which every warehouse was idle (``ViralChainModel._settle_warehouses``
  made to answer None: always ``Warehouse.work_hour``).
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.brand_sensing as brand_sensing
from sim.agents.brand_sensing import Sensing
from sim.agents.warehouse import Warehouse
from sim.invariants import InvariantError
from sim.model import ViralChainModel
from tests.conftest import SUPPLY_WORLDS, ledger_books


def _books(m: ViralChainModel) -> list[bytes]:
    out = ledger_books(m)
    out.append(m.holdings.key())
    for w in m.warehouses:
        out.append(repr((w._pick_credit, w._returns_credit, w._holding_per_hour)).encode())
        out.append(w.pick_queue.items().tobytes())
    for b in m.brands:
        s = b.sensing
        out += [
            s.stockout_hours.tobytes(),
            s.signal_hour.tobytes(),
            s.response_hour.tobytes(),
            s._stockout_since.tobytes(),
            s._wh_stockout.tobytes(),
            s.hourly_demand.tobytes(),
        ]
        out.append(b.selling.backlog_units.tobytes())
    out.append(repr(list(m.events)).encode())
    return out


WORLDS = [
    (None, ["setup=flexible", "market.n_consumers=10000", "run.horizon_hours=720"]),
    (None, ["setup=rigid", "market.n_consumers=3000"]),
    *SUPPLY_WORLDS,
]


def _run(cfg, long: bool, monkeypatch, seen: dict[str, int]) -> list[bytes]:
    """One run, the shortcuts on or off; ``seen`` counts the hours each shortcut was taken
    (read from the same conditions, before the call)."""
    with monkeypatch.context() as mp:
        if long:
            mp.setattr(brand_sensing, "_SETTLED_BYTES", -1)
            mp.setattr(ViralChainModel, "_settle_warehouses", lambda self: None)
        track, work = Sensing.track_stockouts, Warehouse.work_hour
        calls = {"work_hour": 0, "steps": 0}

        def tracked(self: Sensing, sku: int, hour: int) -> int:
            settled = self._settled.get(sku)
            if (
                settled is not None
                and settled[0] == self.model.holdings.buffer.tobytes()
                and settled[1] == self._recorded
            ):
                seen["settled stock-outs"] = seen.get("settled stock-outs", 0) + 1
                if settled[2] <= 0:
                    seen["settled, out of stock"] = seen.get("settled, out of stock", 0) + 1
            return track(self, sku, hour)

        def worked(self: Warehouse, hour: int) -> None:
            calls["work_hour"] += 1
            work(self, hour)

        mp.setattr(Sensing, "track_stockouts", tracked)
        mp.setattr(Warehouse, "work_hour", worked)
        m = ViralChainModel(cfg, 3)
        m.run()
        idle = m.horizon_hours * len(m.warehouses) - calls["work_hour"]
        seen["idle warehouse hours"] = seen.get("idle warehouse hours", 0) + idle
        return _books(m)


@pytest.mark.parametrize(("story", "extra"), WORLDS)
def test_quiet_supply_shortcuts_as_the_long_way(story, extra, monkeypatch):
    """Whole runs, books, stock-out states and events byte for byte, the shortcuts against
    the long way; both shortcuts taken in every world (the long way takes none)."""
    cfg = sim.compose(story, extra)
    seen: dict[str, int] = {}
    short = _run(cfg, False, monkeypatch, seen)
    assert seen["settled stock-outs"] > 0 and seen["idle warehouse hours"] > 0
    long_seen: dict[str, int] = {}
    long = _run(cfg, True, monkeypatch, long_seen)
    assert "settled stock-outs" not in long_seen and long_seen["idle warehouse hours"] == 0
    assert short == long


def test_the_worlds_reach_hours_out_of_stock_settled(monkeypatch):
    """Some world keeps a SKU out of stock through settled hours (the count moves there)."""
    seen: dict[str, int] = {}
    for story, extra in WORLDS[2:4]:
        _run(sim.compose(story, extra), False, monkeypatch, seen)
    assert seen.get("settled, out of stock", 0) > 0


def test_a_large_holdings_buffer_is_not_keyed(monkeypatch):
    """Above ``_SETTLED_BYTES`` of stocks the stock-out tracking keeps no key (the long way
    every hour: a large world's key would cost more than the reads), with the same books."""
    cfg = sim.compose("seasonal_hotspot", ["setup=flexible"])
    seen: dict[str, int] = {}
    want = _run(cfg, True, monkeypatch, seen)
    m = ViralChainModel(cfg, 3)
    monkeypatch.setattr(brand_sensing, "_SETTLED_BYTES", m.holdings.buffer.nbytes - 1)
    m.run()
    assert all(not b.sensing._settled for b in m.brands)
    monkeypatch.setattr(ViralChainModel, "_settle_warehouses", lambda self: None)
    m2 = ViralChainModel(cfg, 3)
    m2.run()
    assert _books(m2) == want


def test_an_idle_warehouse_is_one_with_nothing_to_do():
    """``_warehouses_idle`` answers False for a warehouse with an order to pick, returns
    waiting, a holding cost kept from other stocks, or a cost without its cells of the
    ledger's array (a copy's, until its next work_hour)."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 1)
    m.run()
    w = m.warehouses[0]
    assert w._holding_cells is not None and w._holding_per_hour
    assert m._warehouses_idle()

    def refused(change, undo) -> None:
        change()
        assert not m._warehouses_idle()
        undo()
        assert m._warehouses_idle()

    key = w._holding_key
    refused(
        lambda: setattr(w, "_holding_key", key[:-1] + b"\x01"),
        lambda: setattr(w, "_holding_key", key),
    )
    sku = int(np.flatnonzero(w.on_hand)[0])
    refused(
        lambda: w.returns_waiting.__setitem__(sku, 1),
        lambda: w.returns_waiting.__setitem__(sku, 0),
    )
    cells = w._holding_cells
    refused(lambda: setattr(w, "_holding_cells", None), lambda: setattr(w, "_holding_cells", cells))
    w.pick_queue.push(np.array([0]))
    assert not m._warehouses_idle()


def test_the_idle_check_runs_once_while_the_stocks_stay(monkeypatch):
    """``_warehouses_idle`` is asked at the first hour the stocks have the bytes they had
    after the warehouses' work, not again while they keep them once it said yes; again
    after a busy hour (a no, as while returns are waiting, makes the hour busy): at most
    once per settling."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=10000", "run.horizon_hours=720"])
    asked, worked = [], []
    check, work = ViralChainModel._warehouses_idle, Warehouse.work_hour
    monkeypatch.setattr(
        ViralChainModel, "_warehouses_idle", lambda self: asked.append(self.hour) or check(self)
    )
    monkeypatch.setattr(
        Warehouse, "work_hour", lambda self, hour: worked.append(hour) or work(self, hour)
    )
    m = ViralChainModel(cfg, 1)
    m.run()
    busy = sorted(set(worked))
    idle = m.horizon_hours - len(busy)
    assert idle > 100 and 0 < len(asked) < idle / 2
    # at most one ask per settling (each busy hour settles the stocks once)
    assert len(set(asked)) == len(asked) and len(asked) <= len(busy)


def test_settled_stock_outs_on_random_hours(monkeypatch):
    """``track_stockouts`` called hour after hour on stocks and recorded demand that change
    at random moments (or not), settled against the long way: the same totals, states, counts
    and log lines."""
    cfg = sim.compose(None, ["market.n_consumers=500", "run.horizon_hours=400", "setup=rigid"])
    rng = np.random.default_rng(14)
    models = [ViralChainModel(cfg, 3) for _ in range(2)]
    sensings = [m.brands[0].sensing for m in models]
    sku = int(models[0].brands[0].skus[0])
    seen = set()
    for hour in range(400):
        on_hand = [int(rng.choice([0, 0, 1, 3, 50])) for _ in sensings[0].network.warehouses]
        change = rng.random() < 0.3
        record = rng.random() < 0.1
        demand = int(rng.integers(0, 80))
        settled = sensings[0]._settled.get(sku)
        for i, s in enumerate(sensings):
            if change:
                for w, u in zip(s.network.warehouses, on_hand, strict=True):
                    w.on_hand[sku] = u
                    w.reserved[sku] = min(u, 1)
            if record:  # a recorded hour of demand (the running totals and rows)
                r = s._recorded
                s._demand_before[r + 1 : hour + 1, sku] = s._demand_before[r, sku]
                s._demand_before[hour + 1, sku] = s._demand_before[hour, sku] + demand
                s._recorded = hour + 1
            if i == 1:
                s._settled.clear()  # the long way
        totals = [s.track_stockouts(sku, hour) for s in sensings]
        assert totals[0] == totals[1]
        for a, b in zip(sensings[0].__dict__.items(), sensings[1].__dict__.items(), strict=True):
            if isinstance(a[1], np.ndarray):
                assert a[1].tobytes() == b[1].tobytes(), a[0]
        assert models[0].events == models[1].events
        if settled is not None and settled[0] == models[0].holdings.buffer.tobytes():
            seen.add("settled" if settled[1] == sensings[0]._recorded else "recorded since")
    assert {"settled", "recorded since"} <= seen
    kinds = {e[1] for e in models[0].events}
    assert {"stockout_start", "stockout_end", "hotspot_signal"} <= kinds


def test_an_order_to_pick_ends_the_idle_hours(monkeypatch):
    """Settled stocks, but an order in a pick queue (the holdings' bytes cannot tell): the
    step calls every warehouse's ``work_hour``."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, 1)
    m.run_for(48)
    calls: list[str] = []
    monkeypatch.setattr(Warehouse, "work_hour", lambda self, hour: calls.append(self.name))
    for _ in range(30):  # to an hour with the warehouses settled and none picking
        if m._warehouses_settled == m.holdings.buffer.tobytes():
            break
        m.run_for(1)
    assert m._warehouses_settled == m.holdings.buffer.tobytes()
    assert all(len(w.pick_queue) == 0 for w in m.warehouses)
    m.warehouses[-1].pick_queue.push(np.array([0]))
    calls.clear()
    m.run_for(1)
    assert calls == [w.name for w in m.warehouses]


# ---------------------------------------------------------------- working capital's reads


def test_the_ledger_counts_the_writes_working_capital_reads():
    """``made_writes`` moves with every write of the made units or their value, and
    ``advance_writes`` with every write of the buyers' advances; other fields move neither."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=2"])
    led = ViralChainModel(cfg, 1).ledger
    counts = lambda: (led.made_writes, led.advance_writes)  # noqa: E731
    for name in led.UNIT_FIELDS:
        before = counts()
        led.add_units(name, 0, 1)
        assert counts() == (before[0] + (name in ("initial", "produced")), before[1])
    before = counts()
    led.value_made(0, 3, 2.5)
    assert counts() == (before[0] + 1, before[1])
    before = counts()
    led.record_made(0, 3, 2.5)
    assert counts() == (before[0] + 1, before[1])
    for name in led.MONEY_FIELDS:
        for brand, amount in ((0, 1.5), (np.array([0, 0]), np.array([1.0, 2.0]))):
            before = counts()
            led.add_money(name, brand, amount)
            advance = name in ("paid", "cancel_refunds", "delivered_value")
            assert counts() == (before[0], before[1] + advance)


def test_debug_mode_catches_advances_written_around_the_ledger():
    over = ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"]
    cfg = sim.compose(None, [*over, "run.debug_invariants=true"])
    m = ViralChainModel(cfg, 1)
    m.run_for(24)
    m.ledger.money["paid"][0] += 1.0  # not through add_money: the kept advances are stale
    with pytest.raises(InvariantError, match="advances"):
        m.run_for(1)
    m = ViralChainModel(cfg, 1)
    m.run_for(24)
    m.working_capital[0] += 1.0
    with pytest.raises(InvariantError, match="written elsewhere"):
        m.run_for(1)


def test_working_capital_of_zero_is_written_over_a_negative_zero():
    """The value written last is skipped only when equal and not zero: a +0.0 is written
    over a -0.0 (equal as floats, not as bits)."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 1)
    m.run_for(24)
    wip = 0.0
    for f in m.brands[0].factories:
        wip += f.unused_inputs_value()
    m._stock_value = [0.0]  # kept: the stocks' key is unchanged
    m._advances = [wip]  # kept: no advance written
    m.working_capital[0] = -0.0
    m._wc_written[0] = -0.0
    m._track_working_capital()
    assert m.working_capital[0].tobytes() == np.float64(0.0).tobytes()


# ---------------------------------------------------------------- memoryview cells


def test_cells_are_not_copied_and_are_made_again(monkeypatch):
    """A copied model (``copy.deepcopy``, pickle) keeps no memoryview; its first hours make
    them again from its own arrays, and it goes on as the original does, byte for byte."""
    import copy
    import pickle

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, 1)
    m.run_for(48)
    assert m.brands[0]._standing_cells is not None and m.warehouses[0]._holding_cells is not None
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert other.brands[0]._standing_cells is None
        assert all(w._holding_cells is None for w in other.warehouses)
        other.run_for(48)
        money = other.ledger.money
        assert other.brands[0]._standing_cells[0][0].obj is other.brands[0]._standing[0][0]
        assert all(
            v.obj is not m.ledger.money[f]
            for f in money
            for v, _ in other.brands[0]._standing_cells
        )
        assert other.warehouses[0]._holding_cells.obj is money["holding_cost"]
    m.run_for(48)
    assert _books(other) == _books(m)


def test_debug_mode_catches_stale_cells():
    over = ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"]
    cfg = sim.compose(None, [*over, "run.debug_invariants=true"])
    m = ViralChainModel(cfg, 1)
    m.run_for(24)
    m.warehouses[0]._holding_cells = memoryview(np.zeros(3))
    with pytest.raises(InvariantError, match="holding cells"):
        m.run_for(1)
    m = ViralChainModel(cfg, 1)
    m.run_for(24)
    cells = m.brands[0]._standing_cells
    m.brands[0]._standing_cells = [(memoryview(np.zeros(3)), x) for _, x in cells]
    with pytest.raises(InvariantError, match="standing cells"):
        m.run_for(1)


def test_listing_the_standing_costs_again_drops_their_cells():
    """The cells follow the counters listed: listed again, they are made again."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 1)
    m.run_for(2)
    b = m.brands[0]
    assert b._standing_cells is not None
    b._list_watched()
    assert b._standing_cells is None
    m.run_for(1)
    assert [v.obj for v, _ in b._standing_cells] == [c for c, _ in b._standing]
