"""The reviews' parts, seventh pass: each shortcut held equal to the way it was.

* a factory's material need under shared information (``Sharing.need_per_day``): the
  brand's demand over the window and the factories' orders received so far from running
  totals, against the numpy sums over the hourly rows, at every material review of runs
  that reach it (one and two brands, rush orders, presale, hot spots), and on the whole
  run's books and generator;
* ``Factory.orders_received_before`` and ``Sensing.demand_between`` against the slices they
  stand for, at every hour and bound; debug mode finds a stale total.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.agents.factory import Factory
from sim.model import ViralChainModel
from sim.policies.information import WINDOW_DAYS, Sharing
from tests.conftest import event_due, random_event_plan


def _need_as_it_was(factory: Factory, hour: int) -> float:
    """``Sharing.need_per_day`` as it was: numpy sums over the hourly rows."""
    brand = factory.model.brands[factory.brand]
    lo = max(0, hour - 24 * WINDOW_DAYS)
    days = max(1.0, (hour - lo) / 24)
    skus = factory.sku_mask
    demand = float(brand.sensing.hourly_demand[lo:hour][:, skus].sum()) / days
    total = sum(float(f.orders_received_hourly[:hour].sum()) for f in brand.factories)
    mine = float(factory.orders_received_hourly[:hour].sum())
    share = mine / total if total > 0 else 1.0 / len(brand.factories)
    return demand * share


class _AsItWas(ViralChainModel):
    """The model with every material need worked out the way it was."""


CASES = [
    (None, ("setup=flexible",)),
    (None, ("setup=flexible", "policy.rush.signal=views", "policy.rush.threshold=2000")),
    ("two_brands", ("setup=flexible",)),
    ("seasonal_hotspot", ("setup=flexible",)),
    ("creative_presale", ("setup=flexible",)),
]


def _run(cls, cfg, monkeypatch, asked):
    def need(self, factory, hour):
        got = real(self, factory, hour)
        want = _need_as_it_was(factory, hour)
        asked.append((hour, factory.name, got == want, np.float64(got).tobytes()))
        return want if cls is _AsItWas else got

    real = Sharing.need_per_day
    with monkeypatch.context() as mp:
        mp.setattr(Sharing, "need_per_day", need)
        m = cls(cfg, 4)
        m.run()
    return m


@pytest.mark.parametrize(("story", "extra"), CASES)
def test_material_needs_are_what_they_were(story, extra, monkeypatch):
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=360", *extra])
    asked_fast: list = []
    asked_slow: list = []
    fast = _run(ViralChainModel, cfg, monkeypatch, asked_fast)
    slow = _run(_AsItWas, cfg, monkeypatch, asked_slow)
    assert asked_fast and all(same for _, _, same, _ in asked_fast)
    assert asked_fast == asked_slow
    assert fast.events == slow.events
    for name, a in fast.ledger.money.items():
        assert a.tobytes() == slow.ledger.money[name].tobytes(), name
    assert fast.holdings.key() == slow.holdings.key()
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state
    assert len({b for *_, b in asked_fast}) > 3  # the needs moved


def test_orders_received_and_demand_between_are_the_slices():
    cfg = sim.compose(
        "two_brands", ["setup=flexible", "market.n_consumers=3000", "run.horizon_hours=240"]
    )
    m = ViralChainModel(cfg, 3)
    received_now = 0
    for _ in range(240):
        m.run_for(1)
        h = m.hour
        for f in m.factories:
            rows = f.orders_received_hourly
            for hour in (0, max(0, h - 3), h, h + 1, len(rows)):
                got = f.orders_received_before(hour)
                assert type(got) is int and got == int(rows[:hour].sum())
                received_now += int(rows[hour:].any())  # the long way's case
        for brand in m.brands:
            s = brand.sensing
            for skus in ([], brand._sku_list, brand._sku_list[:1]):
                for lo, hi in ((0, h), (max(0, h - 168), h), (h, h + 1), (max(0, h - 5), h + 2)):
                    got = s.demand_between(skus, lo, hi)
                    assert got == int(s.hourly_demand[lo:hi][:, skus].sum()), (h, lo, hi)
    assert received_now > 0  # a job was received in or after the hour asked about
    assert any(f.skus_made != list(range(m.n_sku)) for f in m.factories) or m.n_sku == 1


def test_debug_mode_finds_a_stale_orders_received_total():
    from sim.invariants import InvariantError

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"debug_invariants": True})})
    m = ViralChainModel(cfg, 1)
    m.run_for(5)
    m.factories[0].orders_received_hourly[3] += 1  # behind the factory's back
    with pytest.raises(InvariantError, match="stale orders received"):
        m.run_for(1)


def test_event_units_with_kept_due_hours_are_what_they_were():
    """The known events' due hours are kept per factory output: many questions to one plan,
    with several outputs and marks in between, get the sums and marks of the long way."""
    from sim.policies.events import KnownEvent

    rng = np.random.default_rng(5)
    for _ in range(40):
        plan = random_event_plan(rng, 12)
        plan.planned = [False] * len(plan.events)
        for _ in range(30):
            sku = int(rng.integers(0, 2))
            lo, hi = sorted(float(x) for x in rng.integers(0, 320, 2))
            now, rate = int(rng.integers(0, 250)), float(rng.choice([0.0, 0.5, 20.0, 3.25]))
            fresh = bool(rng.random() < 0.5)
            want = sum(
                e.units
                for e, done in zip(plan.events, plan.planned, strict=True)
                if e.sku == sku
                and e.known_from <= now
                and not (fresh and done)
                and lo <= event_due(e, rate) < hi
            )
            got = plan.units(sku, lo, hi, now, fresh, rate)
            assert type(got) is type(want) and got == want
            if rng.random() < 0.3:
                marked = [
                    done or (e.sku == sku and e.known_from <= now and lo <= event_due(e, rate) < hi)
                    for e, done in zip(plan.events, plan.planned, strict=True)
                ]
                plan.mark_planned(sku, lo, hi, now, rate)
                assert plan.planned == marked
        assert len(plan._due_cache[2]) <= 4  # one list per output asked about
    # a calendar replaced by one of as many events is not read through the old due hours
    plan.events = [KnownEvent(100, 0, 50.0, 0)]
    plan.planned = [False]
    assert plan.units(0, 0.0, 90.0, 200, False, 1.0) == 50.0
    plan.events = [KnownEvent(200, 0, 50.0, 0)]
    assert plan.units(0, 0.0, 90.0, 200, False, 1.0) == 0


@pytest.mark.parametrize("change", ["demand total", "views row", "due hours"])
def test_debug_mode_finds_stale_totals_and_due_hours(change):
    """The sensing's running totals (read by the windows and the material reviews) and the
    event plan's kept due hours are checked against the long way every hour in debug mode."""
    from sim.invariants import InvariantError
    from sim.policies.events import KnownEvent

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=48"])
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"debug_invariants": True})})
    m = ViralChainModel(cfg, 1)
    m.run_for(30)
    brand = m.brands[0]
    assert brand.sensing._recorded > 0  # demand flowed: totals to check
    if change == "demand total":
        brand.sensing._demand_before[brand.sensing._recorded] += 7
        message = "stale running totals"
    elif change == "views row":  # a row past the last recorded hour
        brand.sensing.hourly_views[brand.sensing._recorded + 2] += 1
        message = "stale running totals"
    else:
        plan = brand.supply.event_plan
        plan.events.append(KnownEvent(30, 0, 5.0, 0))
        plan.planned.append(False)
        plan._dues(2.0)
        plan.events[-1] = KnownEvent(40, 0, 5.0, 0)  # changed in place: same list, same length
        message = "stale due hours"
    with pytest.raises(InvariantError, match=message):
        m.run_for(1)
