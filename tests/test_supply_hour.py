"""The supply side's hour, sixth pass: each shortcut held equal to the way it was.

* the warehouses' hour in one call each (``Warehouse.work_hour``) against the three loops
  over all warehouses (pick, inspect returns, holding cost);
* ``Brand.observe`` (standing costs in line, the levers that do nothing not called, the
  units available handed from the stock-out tracking to presale and rush) against the
  observation as it was;
* a factory's unused inputs worked out again only when an input changed, against the
  formula every hour; the units' average cost (working capital) only when a unit was made;

on whole runs of stories that reach them (presale, rush on each signal, hot-spot grading,
returns, two brands), compared on the events, the books, the recorded rows, working
capital hour by hour and the model's generator afterwards.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import sim
from sim import standing_costs
from sim.agents.brand import Brand
from sim.agents.factory import Factory
from sim.model import ViralChainModel


def _observe_as_it_was(brand: Brand, hour: int) -> None:
    """``Brand.observe`` before the sixth pass."""
    standing_costs.accrue_hour(brand)
    sensing, supply = brand.sensing, brand.supply
    sensing.record(hour)
    sellable_from = brand.model.sellable_from
    for sku in brand._sku_list:
        if sellable_from.item(sku) > hour:
            continue
        sensing._settled.pop(sku, None)  # the stock-outs tracked the long way every hour
        sensing.track_stockouts(sku, hour)
        brand.presale.update(brand, sku, hour)
        if not supply.makes_to_order(sku, hour):
            brand.rush.watch(brand, sku, hour)
        brand.opportunity.watch(brand, sku, hour)


def _unused_as_it_was(f: Factory) -> float:
    """``Factory.unused_inputs_value`` before it was kept: the formula, every time."""
    pp, mat = f.supply.postponement, f.supply.materials
    stock = f.modules * pp.module_cost_share + (f.materials + f.materials_on_order) * mat.cost_share
    return f.input_unit_cost * stock + max(0.0, f.wip_input_value)


class _Traced(ViralChainModel):
    """Notes working capital after every hour."""

    def __init__(self, *args, **kwargs):
        self.wc_by_hour: list[bytes] = []
        self.unused_by_hour: list[list[float]] = []
        super().__init__(*args, **kwargs)

    def _track_working_capital(self) -> None:
        super()._track_working_capital()
        self.wc_by_hour.append(self.working_capital.tobytes())
        self.unused_by_hour.append([f.unused_inputs_value() for f in self.factories])


class _AsItWas(_Traced):
    """The supply side's hour the way it was: the warehouses' three loops every hour (the
    step's idle hour off), the observation as it was (the stock-outs tracked the long way),
    the unused inputs and the units' average cost worked out every hour; ``work_hours``
    counts the warehouses' hours worked (each warehouse's ``work_hour`` called)."""

    def _settle_warehouses(self) -> None:
        """Never settled: the step calls every warehouse's work_hour every hour."""
        return None

    def _track_working_capital(self) -> None:
        self._made_key = -1  # never a count of writes: the average cost worked out again,
        super()._track_working_capital()  # and the stock at cost

    def __init__(self, *args, **kwargs):
        self.work_hours = 0
        super().__init__(*args, **kwargs)
        whs = self.warehouses

        def three_loops(hour: int) -> None:
            self.work_hours += 1
            for w in whs:
                w.pick(hour)
            for w in whs:
                w.inspect_returns(hour)
            for w in whs:
                w.accrue_holding()

        def nothing(hour: int) -> None:
            """A warehouse whose hour the last one's stand-in does."""
            self.work_hours += 1

        for w in whs[:-1]:
            w.work_hour = nothing
        whs[-1].work_hour = three_loops
        for brand in self.brands:
            brand.observe = functools.partial(_observe_as_it_was, brand)
        for f in self.factories:
            f.unused_inputs_value = functools.partial(_unused_as_it_was, f)


CASES = [
    (None, ("setup=flexible",)),
    (
        None,
        (
            "setup=flexible",
            "policy.rush.signal=projected_stockout_hours",
            "policy.rush.threshold=30",
        ),
    ),
    (None, ("setup=flexible", "policy.rush.signal=views", "policy.rush.threshold=2000")),
    ("creative_presale", ("setup=flexible",)),
    ("kol_matrix", ("setup=flexible",)),
    ("multi_platform", ("setup=rigid",)),
    ("seasonal_hotspot", ("setup=flexible",)),
    ("two_brands", ("setup=rigid",)),
]


@pytest.mark.parametrize(("story", "extra"), CASES)
def test_the_supply_sides_hour_is_what_it_was(story, extra):
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=360", *extra])
    fast, slow = _Traced(cfg, 6), _AsItWas(cfg, 6)
    fast.run()
    slow.run()
    assert slow.work_hours == slow.horizon_hours * len(slow.warehouses)  # no idle hour
    assert fast.events == slow.events
    for name, a in fast.ledger.money.items():
        assert a.tobytes() == slow.ledger.money[name].tobytes(), name
    for name, a in fast.ledger.units.items():
        assert a.tobytes() == slow.ledger.units[name].tobytes(), name
    assert fast.holdings.key() == slow.holdings.key()
    assert fast.recorder.data.tobytes() == slow.recorder.data.tobytes()
    assert fast.wc_by_hour == slow.wc_by_hour
    assert fast.unused_by_hour == slow.unused_by_hour
    assert fast.peak_working_capital.tobytes() == slow.peak_working_capital.tobytes()
    assert fast.orders.status.tobytes() == slow.orders.status.tobytes()
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state
    for b, brand in enumerate(fast.brands):
        other = slow.brands[b]
        assert brand.sensing.stockout_hours.tobytes() == other.sensing.stockout_hours.tobytes()
        assert brand.selling.presale_open.tobytes() == other.selling.presale_open.tobytes()


def test_the_cases_reach_the_shortcuts():
    """The runs above open presale, rush, grade hot spots, inspect returns and change the
    factories' inputs, so each shortcut is compared where it acts."""
    kinds: set[str] = set()
    unused_moved = False
    for story, extra in CASES:
        cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=360", *extra])
        m = _Traced(cfg, 6)
        m.run()
        kinds.update(e[1] for e in m.events)
        unused_moved |= len({tuple(u) for u in m.unused_by_hour}) > 3
        assert m.ledger.units["restocked"].any() or story != "multi_platform"
    assert {"presale_open", "rush_order", "opportunity_graded", "stockout_start"} <= kinds
    assert unused_moved


def test_levers_that_do_nothing_say_so():
    """The brand skips a lever whose policy declares it inactive: only the do-nothing
    classes do."""
    from sim.policies import registry

    for family in ("rush", "presale", "opportunity"):
        for name, cls in registry.FAMILIES[family].items():
            assert cls.active == (name != "off"), (family, name)


def test_unused_inputs_kept_equal_the_formula_after_every_change():
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 2)
    seen = set()
    for _ in range(240):
        m.run_for(1)
        for f in m.factories:
            assert f.unused_inputs_value() == _unused_as_it_was(f)
            assert f.unused_inputs_value_now() == _unused_as_it_was(f)
            seen.add((f.name, f.unused_inputs_value()))
    assert len(seen) > 10


def test_debug_mode_finds_a_stale_unused_inputs_value():
    from sim.invariants import InvariantError

    cfg = sim.compose(
        None,
        ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"],
    )
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"debug_invariants": True})})
    m = ViralChainModel(cfg, 1)
    m.run_for(5)
    f = next(f for f in m.factories if f.unused_inputs_value() > 0)
    f.modules += 1  # changed behind the factory's back: the kept value is stale
    with pytest.raises(InvariantError, match="stale unused inputs"):
        m.run_for(1)


@pytest.mark.parametrize("change", ["holding array", "standing cost", "lever"])
def test_debug_mode_finds_what_the_first_hour_kept_gone_stale(change):
    """A warehouse keeps the ledger's holding-cost array, a brand its standing costs and
    live levers, from their first hour: debug mode checks them against the long way."""
    import numpy as np

    from sim.invariants import InvariantError

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"debug_invariants": True})})
    m = ViralChainModel(cfg, 1)
    m.run_for(3)
    if change == "holding array":  # rebound behind the warehouses' backs
        m.ledger.money["holding_cost"] = np.array(m.ledger.money["holding_cost"])
        message = "a ledger array was rebound"
    elif change == "standing cost":
        brand = m.brands[0]
        array, per_hour = brand._standing[0]
        brand._standing[0] = (array, per_hour * 2)
        message = "stale standing costs"
    else:
        brand = m.brands[0]
        brand._levers = (None, None, None) if brand.rush.active else (None, print, None)
        message = "stale live levers"
    with pytest.raises(InvariantError, match=message):
        m.run_for(1)


def test_the_available_units_handed_on_are_the_networks():
    """What the stock-out tracking hands presale and rush is ``available_total``."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=3000", "run.horizon_hours=360"])
    m = ViralChainModel(cfg, 3)
    brand = m.brands[0]
    track = brand.sensing.track_stockouts
    handed: list[tuple[int, int]] = []

    def tracked(sku: int, hour: int) -> int:
        got = track(sku, hour)
        handed.append((got, brand.network.available_total(sku)))
        return got

    brand.sensing.track_stockouts = tracked
    m.run()
    assert handed and all(a == b for a, b in handed)
    assert len({a for a, _ in handed}) > 3
    assert np.all(np.array(handed) >= 0)


def test_kols_with_nothing_on_air_and_lone_posts_change_nothing():
    """The step skips ``Kol.broadcast`` for a KOL with no post on air and ``cross_excite``
    for fewer than two posts: both return at once there, changing nothing."""
    import pickle

    from sim.content import cross_excite

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 5)
    video = cfg.content.short_video
    idle = lone = 0
    for h in range(240):
        for kol in m.kols:
            if not kol.posts:
                before = pickle.dumps(kol.__dict__.get("posts"))
                assert kol.broadcast(h, m._shares) == []
                assert pickle.dumps(kol.__dict__.get("posts")) == before
                idle += 1
            for post in kol.posts:  # each post alone, and none at all
                before = pickle.dumps(post)
                assert cross_excite([post], h, video) == 0.0
                assert cross_excite([], h, video) == 0.0
                assert pickle.dumps(post) == before
                lone += 1
        m.run_for(1)
    assert idle > 50 and lone > 50


def _record_as_it_was(sensing, hour: int) -> None:
    """``Sensing.record`` before the sixth pass (the fill of the quiet hours' rows always
    assigned, empty or not)."""
    led = sensing.model.ledger
    if not led.hour_flowed:
        return
    sums = led.hour_block.sum(axis=1)
    demand, views = sums[:, sensing._demand_field], sums[:, sensing._views_field]
    r = sensing._recorded
    for before, row in ((sensing._demand_before, demand), (sensing._views_before, views)):
        before[r + 1 : hour + 1] = before[r]
        before[hour + 1] = before[hour] + row
    sensing._recorded = hour + 1
    sensing.hourly_demand[hour] = demand
    sensing.hourly_views[hour] = views


@pytest.mark.parametrize(("story", "extra"), [CASES[0], CASES[4], CASES[7]])
def test_the_brands_records_are_what_they_were(story, extra):
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=360", *extra])
    fast, slow = ViralChainModel(cfg, 8), ViralChainModel(cfg, 8)
    for brand in slow.brands:
        brand.sensing.record = functools.partial(_record_as_it_was, brand.sensing)
    fast.run()
    slow.run()
    assert fast.events == slow.events
    for a, b in zip(fast.brands, slow.brands, strict=True):
        for name in ("hourly_demand", "hourly_views", "_demand_before", "_views_before"):
            assert getattr(a.sensing, name).tobytes() == getattr(b.sensing, name).tobytes()
        assert a.sensing._recorded == b.sensing._recorded
    assert fast.brands[0].sensing.hourly_demand.any()


def test_carriers_keep_their_own_brands_spec():
    cfg = sim.compose("two_brands", ["market.n_consumers=2000", "run.horizon_hours=24"])
    m = ViralChainModel(cfg, 1)
    specs = cfg.brand_specs()
    assert len({c.brand for c in m.carriers}) == 2
    for c in m.carriers:
        assert c.spec == specs[c.brand]


@pytest.mark.parametrize("seed", range(10))
def test_one_element_of_an_integer_book_moves_as_ufunc_at_moves_it(seed):
    """``ints.add.at`` / ``ints.subtract.at`` of one element and a Python int (done in place)
    against numpy's ``ufunc.at``, indices of either kind and sign, and the cases that keep
    ``ufunc.at``'s own path (arrays, other dtypes, numpy values, bools)."""
    from sim.holdings import _Widening, ints

    rng = np.random.default_rng(seed)
    dtypes = [np.int64, np.int64, np.int32, np.float64]
    for _ in range(200):
        n = int(rng.integers(1, 6))
        a = rng.integers(-50, 50, n).astype(dtypes[int(rng.integers(0, 4))])
        b = a.copy()
        i = int(rng.integers(-n, n))
        kind = int(rng.integers(0, 10))
        if kind < 4:
            index, values = i, int(rng.integers(-9, 9))
        elif kind < 7:
            index, values = np.int64(i), int(rng.integers(-9, 9))
        elif kind == 7:
            index, values = i, np.int64(rng.integers(-9, 9))
        elif kind == 8:
            index, values = np.array([i, i]), np.array([1, 2])
        else:
            index, values = True, 3
        for ours, theirs in ((ints.add, np.add), (ints.subtract, np.subtract)):
            ours.at(a, index, values)
            theirs.at(b, index, values)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (index, values, a.dtype)
    other = _Widening(np.maximum)  # neither an addition nor a subtraction: numpy's own
    a, b = np.array([1, 5, 2]), np.array([1, 5, 2])
    other.at(a, 0, 4)
    np.maximum.at(b, 0, 4)
    assert a.tolist() == b.tolist() == [4, 5, 2]


def _baseline_as_it_was(plan, sku: int, sig, end_hour: int):
    """``EventPlan.baseline_signals`` before the sixth pass: every day's start in numpy."""
    from sim.policies.forecast import Signals

    n = len(sig.daily_demand)
    if n == 0:
        return sig
    starts = end_hour + 1 - 24 * np.arange(n, 0, -1)
    keep = np.ones(n, dtype=bool)
    hours = [e.hour for e in plan.events if e.sku == sku]
    if hours:
        h = np.array(hours)[:, None]
        touched = (starts + 24 > h) & (starts < h + plan.memory_hours)
        keep &= ~touched.any(axis=0)
    return Signals(sig.daily_demand[keep], sig.daily_views[keep], sig.presale_units)


@pytest.mark.parametrize(
    "memory, hours",
    [
        (24.000000000000004, (1_000, 2_000)),  # h + memory rounds: the edge day is settled
        (1e-9, (999_999_000, 1_000_000_000)),  # ... and here, far from hour 0
        (1e-9, (-200, 3_000)),
        (23.999999999999996, (0, 5_000)),
        (1e6, (0, 3_000)),  # every day touched
    ],
)
def test_the_days_an_event_touched_are_found_where_float_sums_round(memory, hours):
    """The event's reach ``h + memory`` is a float: a day at its edge is kept or dropped as
    numpy's comparison of the day's start with that float decided it."""
    from sim.policies.events import EventPlan, KnownEvent
    from sim.policies.forecast import Signals

    rng = np.random.default_rng(int(memory * 1000) % 97 + hours[0] % 89)
    plan = EventPlan.__new__(EventPlan)
    plan.memory_hours = memory
    plan.events = [KnownEvent(1541, 0, 1.0, 0)]
    sig = Signals(np.arange(36.0), np.arange(36.0), 0.0)
    got, want = plan.baseline_signals(0, sig, 1588), _baseline_as_it_was(plan, 0, sig, 1588)
    assert got.daily_demand.tobytes() == want.daily_demand.tobytes()
    for _ in range(3_000):
        h = int(rng.integers(*hours))
        plan.events = [KnownEvent(h, 0, 1.0, 0)]
        n = int(rng.integers(1, 62))
        sig = Signals(rng.random(n), rng.random(n), 0.0)
        end = h + int(rng.integers(-30, 24 * 70))
        got, want = plan.baseline_signals(0, sig, end), _baseline_as_it_was(plan, 0, sig, end)
        assert got.daily_demand.tobytes() == want.daily_demand.tobytes(), (h, end, n)


@pytest.mark.parametrize("seed", range(5))
def test_the_days_no_event_touched_are_what_they_were(seed):
    from sim.policies.events import EventPlan, KnownEvent
    from sim.policies.forecast import Signals

    rng = np.random.default_rng(seed)
    dropped = 0
    for _ in range(2000):
        plan = EventPlan.__new__(EventPlan)
        plan.memory_hours = [0, 0.5, 1, 23, 24, 24.5, 47.9, 72, 200][int(rng.integers(0, 9))]
        plan.events = [
            KnownEvent(int(rng.integers(-100, 2000)), int(rng.integers(0, 3)), 1.0, 0)
            for _ in range(int(rng.integers(0, 8)))
        ]
        n = int(rng.integers(0, 62))
        sig = Signals(rng.random(n), rng.random(n), 1.5)
        end = int(rng.integers(-50, 1600))
        sku = int(rng.integers(0, 3))
        got, want = plan.baseline_signals(sku, sig, end), _baseline_as_it_was(plan, sku, sig, end)
        assert got.daily_demand.tobytes() == want.daily_demand.tobytes()
        assert got.daily_views.tobytes() == want.daily_views.tobytes()
        assert got.presale_units == want.presale_units
        dropped += len(sig.daily_demand) - len(got.daily_demand)
    assert dropped > 1000
