"""Shortcuts taken for speed give exactly what the long way gives (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.feedback import Feedback
from sim.model import build_model
from sim.rng import stream


def test_one_platform_needs_no_draw():
    cfg = sim.compose(None, ["market.n_consumers=3000", "run.horizon_hours=24"])
    assert not cfg.market.platforms
    m = build_model(cfg, 3)
    drawn = stream(3, "population", "platform").choice(1, size=3000, p=[1.0]).astype(np.int16)
    np.testing.assert_array_equal(m.consumer_platform, drawn)
    assert m.consumer_platform.dtype == np.int16


def test_followers_are_compact_ids_of_the_same_consumers():
    cfg = sim.compose(None, ["market.n_consumers=3000", "run.horizon_hours=24"])
    m = build_model(cfg, 3)
    for kol in m.kols:
        assert kol.followers.dtype == np.int32
        rng = stream(3, "kol", kol.name, "followers")
        tier = cfg.content.tiers[kol.cfg.tier]
        if kol.cfg.followers_share is None:
            rng.uniform(tier.followers_share_min, tier.followers_share_max)
        pool = np.arange(3000) if not kol.cfg.platform else None
        if pool is not None and len(kol.followers):
            again = np.sort(pool[rng.choice(3000, size=len(kol.followers), replace=False)])
            np.testing.assert_array_equal(kol.followers, again)


def test_the_conversion_multiplier_follows_every_review():
    cfg = sim.compose().market.feedback
    fb = Feedback(cfg, 2)
    first = fb.conversion_multiplier().copy()
    assert fb.conversion_multiplier() is fb.conversion_multiplier()  # computed once
    fb.review(
        np.array([0, 0, 1]), np.array([True, True, False]), np.zeros(3, bool), np.ones(3, bool)
    )
    after = fb.conversion_multiplier()
    fresh = np.power(fb.rating() / fb._prior, cfg.rating_elasticity)
    np.testing.assert_array_equal(after, fresh)
    assert after[0] < first[0] and after[1] > first[1]


def test_one_brands_money_is_added_as_numpy_adds_it():
    from sim.ledger import Ledger

    a = Ledger(2, 3, 1, np.array([0, 1]))
    b = Ledger(2, 3, 1, np.array([0, 1]))
    for amount in (0.1, 1e-17, 3.3333333333333335, np.float64(2.7)):
        a.add_money("holding_cost", 1, amount)
        np.add.at(b.money["holding_cost"], 1, amount)
    a.add_money("holding_cost", np.array([0, 2]), np.array([0.5, 0.25]))
    np.add.at(b.money["holding_cost"], np.array([0, 2]), np.array([0.5, 0.25]))
    np.testing.assert_array_equal(a.money["holding_cost"], b.money["holding_cost"])


def test_standing_costs_of_an_hour_are_the_daily_ones_over_24():
    from sim import standing_costs

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=24"])
    m = build_model(cfg, 1)
    brand = m.brands[0]
    daily = standing_costs.daily(brand)
    assert standing_costs.hourly(brand) == [(f, d / 24) for f, d in daily.items() if d]
    assert standing_costs.hourly(brand)  # the flexible setup pays for its flexibility
    before = {f: float(m.ledger.money[f][0]) for f in daily}
    standing_costs.accrue_hour(brand)
    for f, d in daily.items():
        assert m.ledger.money[f][0] == before[f] + d / 24


@pytest.mark.parametrize("seed", range(30))
def test_the_review_median_is_numpys(seed):
    from sim.agents.brand_supply import _median

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    days = [
        rng.integers(0, 5, n).astype(float),  # many ties
        rng.integers(0, 10**6, n).astype(float),
        rng.random(n) * 10.0 ** float(rng.integers(-300, 300)),
        np.concatenate([rng.random(n), [np.nan]]),
    ]
    for d in days:
        got, want = _median(d), float(np.median(d))
        assert (got == want) or (got != got and want != want), (d, got, want)
        assert type(got) is float
