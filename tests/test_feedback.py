"""Demand answers supply (market.feedback), exposure fatigue, and shares along the social graph.

Each mechanism has a test that fails without it: its rule in isolation (sim.feedback,
sim.content) and its effect through ``sim.run`` with paired seeds (common random numbers).
The flagship check: with the feedback on, the rigid and flexible setups differ in views; with
the switches off, their views are identical, seed by seed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.agents.wishes import WARNED
from sim.config import LivestreamConfig, ShortVideoConfig
from sim.content import Exposures, Post, cross_excite
from sim.feedback import LATE, QUALITY, STOCKOUT, Feedback
from sim.orders import CH_LIVE
from sim.rng import stream
from sim.social_graph import build
from tests.conftest import small

pytestmark = pytest.mark.xdist_group("feedback")

OFF = (
    "market.feedback.page_sharing=false",
    "market.feedback.ratings=false",
    "market.feedback.warnings=false",
)
FEEDBACK = sim.compose().market.feedback
VIDEO = ShortVideoConfig(
    reach_decay_hours=8,
    branching_ratio=0.6,
    share_kernel_hours=6,
    cross_excitation=0.0,
    conversion_probability=0.004,
)
LIVE = LivestreamConfig(conversion_probability=0.08, platform_boost=1.0, opening_peak_factor=2)


def paired_ci(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of b - a and its 95 % t interval over paired seeds."""
    d = np.asarray(b, float) - np.asarray(a, float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


# ----------------------------------------------------------------------------- the rules


def test_share_factor_follows_the_page_and_its_switch():
    fb = Feedback(FEEDBACK, 2)
    assert fb.share_factor(np.array([0])) == (1.0, 0.0, 0.0)
    fb.observe_offers(np.array([10, 0]), np.array([10, 0]), np.array([0, 0]))
    f, so, sl = fb.share_factor(np.array([0]))
    assert f == pytest.approx(1 - FEEDBACK.soldout_share_penalty) and sl == 0
    fb.observe_offers(np.array([4, 0]), np.array([0, 0]), np.array([2, 0]))
    f, so, sl = fb.share_factor(np.array([0]))
    assert f == pytest.approx(1 - FEEDBACK.slow_share_penalty * 0.5) and so == 0
    # an hour without wishes keeps the page as it was; product 1 was never turned away
    fb.observe_offers(np.array([0, 0]), np.array([0, 0]), np.array([0, 0]))
    assert fb.share_factor(np.array([0]))[0] == pytest.approx(f)
    assert fb.share_factor(np.array([1]))[0] == 1.0
    off = Feedback(FEEDBACK.model_copy(update={"page_sharing": False}), 2)
    off.observe_offers(np.array([10, 0]), np.array([10, 0]), np.array([0, 0]))
    assert off.share_factor(np.array([0])) == (1.0, 0.0, 0.0)


def test_withheld_shares_are_booked_as_views_and_demand_lost():
    fb = Feedback(FEEDBACK, 1)
    fb.note_conversion(np.array([1000]), np.array([5.0]))  # 0.005 wishes per view
    fb.withheld_shares(np.array([0]), 100, (0.3, 0.1), branching=0.6)
    # (1-f)·n·V direct shares withheld, each worth 1/(1-n) views
    assert fb.views_lost[STOCKOUT, 0] == pytest.approx(0.3 * 0.6 * 100 / 0.4)
    assert fb.views_lost[LATE, 0] == pytest.approx(0.1 * 0.6 * 100 / 0.4)
    assert fb.demand_lost[STOCKOUT, 0] == pytest.approx(0.005 * 0.3 * 0.6 * 100 / 0.4)


def test_a_share_factor_scales_the_cascade_as_theory_says():
    """Feeding the cascade with f·n per view: mean total views S/(1 - f·n)."""
    S, f, n_posts = 100.0, 0.5, 400
    totals = []
    for i in range(n_posts):
        post = Post(f"p{i}", 0, "short_video", np.array([0]), 0, 1, S, stream(5, "fb", i))
        totals.append(sum(sum(post.views_this_hour(h, VIDEO, LIVE, f)) for h in range(300)))
    se = np.std(totals, ddof=1) / math.sqrt(n_posts)
    assert np.mean(totals) == pytest.approx(S / (1 - f * 0.6), abs=4 * se)
    assert np.mean(totals) < S / (1 - 0.6) - 4 * se  # clearly below the unpenalised cascade


def test_bad_reviews_lower_the_rating_and_conversion():
    fb = Feedback(FEEDBACK, 2)
    assert fb.conversion_multiplier() == pytest.approx([1.0, 1.0])
    late = np.array([True] * 30 + [False] * 30)
    quality = np.array([False] * 30 + [True] * 10 + [False] * 20)
    fb.review(np.zeros(60, np.int64), late, quality, np.ones(60, bool))
    assert fb.bad[0] == 40 and fb.good[0] == 20
    prior = FEEDBACK.rating_prior_good / (FEEDBACK.rating_prior_good + FEEDBACK.rating_prior_bad)
    rating = (20 + FEEDBACK.rating_prior_good) / (60 + 40)
    assert fb.rating()[0] == pytest.approx(rating)
    assert fb.conversion_multiplier()[0] == pytest.approx(
        (rating / prior) ** FEEDBACK.rating_elasticity
    )
    assert fb.conversion_multiplier()[1] == 1.0
    # the demand the rating costs is split by the causes of disappointment (30 late, 10 quality)
    fb.add_demand_lost(np.array([0, 0]), np.array([0.3, 0.5]))
    assert fb.demand_lost[LATE, 0] == pytest.approx(0.8 * 30 / 40)
    assert fb.demand_lost[QUALITY, 0] == pytest.approx(0.8 * 10 / 40)
    off = Feedback(FEEDBACK.model_copy(update={"ratings": False}), 1)
    off.review(np.zeros(60, np.int64), late, quality, np.ones(60, bool))
    assert off.conversion_multiplier()[0] == 1.0


def test_shares_travel_from_recent_viewers_to_their_contacts():
    n = 3000
    region = stream(0, "fb-region").integers(0, 4, n)
    graph = build(region, 4, sim.compose().market.social_graph, stream(0, "graph"))
    followers = np.arange(0, 300)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 200.0, stream(1, "fb-post"))
    decay = math.exp(-1 / VIDEO.share_kernel_hours)
    seen: set[int] = set()
    shared = 0
    for h in range(60):
        nf, no = post.views_this_hour(h, VIDEO, LIVE)
        if nf + no == 0:
            continue
        consumers, _ = post.sample_exposures(nf, no, followers, n, graph, decay)
        contacts = {int(c) for v in seen for c in graph.neighbours(v)}
        assert {int(c) for c in consumers[nf:]} <= contacts  # every share: a viewer's contact
        shared += no
        seen.update(int(c) for c in consumers)
    assert shared > 50
    # without a graph, shares reach anyone (most of them outside the viewers' contacts)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 200.0, stream(1, "fb-post"))
    outside = 0
    for h in range(10):
        nf, no = post.views_this_hour(h, VIDEO, LIVE)
        consumers, _ = post.sample_exposures(nf, no, followers, n)
        outside += int(np.sum(consumers[nf:] >= 300))
    assert outside > 0


# ----------------------------------------------------------------------------- through sim.run


@functools.lru_cache(maxsize=64)
def kpis(setup: str, seed: int, extra: tuple[str, ...] = ()) -> dict[str, float]:
    r = sim.run(small(f"setup={setup}", *extra), seed=seed, keep_model=True)
    out = dict(r.kpis)
    regions = r.timeseries[r.timeseries.node_type == "region"]
    out["views"] = float(regions.views.sum())
    out["warned"] = float((r.model.population.state == 3).sum())
    return out


SEEDS = range(6)
FLAGSHIP = ("market.n_consumers=20000",)  # large enough for the views to tell the setups apart


def test_flagship_rigid_and_flexible_differ_in_views_only_with_the_feedback():
    """The setups' views differ with the feedback on (which way depends on which chain's page
    fails its buyers more: the views it loses to stock-outs and slow promises say so), and are
    identical seed by seed with the switches off."""
    on = {s: (kpis("rigid", s, FLAGSHIP), kpis("flexible", s, FLAGSHIP)) for s in SEEDS}
    mean, low, high = paired_ci(
        [r["views"] for r, _ in on.values()], [f["views"] for _, f in on.values()]
    )
    assert low > 0 or high < 0, (mean, low, high)

    def page_lost(k: dict[str, float]) -> float:
        return k["views_lost_stockout"] + k["views_lost_late"]

    lost = np.mean([page_lost(r) - page_lost(f) for r, f in on.values()])
    assert np.sign(lost) == np.sign(mean)  # the chain whose page fails more loses the views
    for s in SEEDS:  # switched off, the content does not answer supply: identical views
        off_r, off_f = kpis("rigid", s, (*FLAGSHIP, *OFF)), kpis("flexible", s, (*FLAGSHIP, *OFF))
        assert off_r["views"] == off_f["views"]
        for k in ("views_lost_stockout", "views_lost_late", "demand_lost_late_units"):
            assert off_r[k] == off_f[k] == 0.0
        assert off_r["rating_end"] == pytest.approx(1 + 4 * 38 / 40)


def _wish_rates(model, groups: np.ndarray, hour: int = 0) -> np.ndarray:
    """Share of consumers in each group (0/1) who want the hero after one live-stream view."""
    pop = model.population
    n = pop.n
    batch = Exposures(np.arange(n), np.zeros(n, np.int32), CH_LIVE, -1)
    wish = pop._wishes(hour, [batch], stream(9, "wish-rates", hour))
    wanted = np.zeros(n, bool)
    wanted[wish[0]] = True
    return np.array([wanted[groups == g].mean() if (groups == g).any() else np.nan for g in (0, 1)])


def _model(*extra: str):
    from sim.model import ViralChainModel

    cfg = small("market.n_consumers=40000", "market.consumer.price_sensitivity_sd=0", *extra)
    return ViralChainModel(cfg, seed=3)


def test_warned_consumers_convert_less_by_the_warning_effect():
    m = _model()
    warned = (np.arange(m.population.n) % 2).astype(np.int64)
    m.population.state[warned == 1, 0] = WARNED
    rate_plain, rate_warned = _wish_rates(m, warned)
    se = math.sqrt(rate_plain * (1 - rate_plain) / 20000 + rate_warned / 20000)
    assert rate_warned == pytest.approx(rate_plain * (1 - FEEDBACK.warning_effect), abs=4 * se)


def test_the_rating_scales_every_viewers_conversion():
    m, ref = _model(), _model("market.feedback.ratings=false")
    m.feedback.review(  # a hundred bad reviews of the hero
        np.zeros(100, np.int64), np.ones(100, bool), np.zeros(100, bool), np.ones(100, bool)
    )
    ref.feedback.review(
        np.zeros(100, np.int64), np.ones(100, bool), np.zeros(100, bool), np.ones(100, bool)
    )
    groups = np.zeros(m.population.n, np.int64)
    rated = _wish_rates(m, groups)[0]
    plain = _wish_rates(ref, groups)[0]
    factor = float(m.feedback.conversion_multiplier()[0])
    assert factor < 0.5
    se = math.sqrt(plain / m.population.n)
    assert rated == pytest.approx(plain * factor, abs=4 * se)
    assert m.feedback.demand_lost[LATE, 0] > 0 and ref.feedback.demand_lost.sum() == 0


def test_fatigue_sets_in_after_the_onset():
    c = sim.compose().market.consumer
    m = _model()
    tired = (np.arange(m.population.n) % 2).astype(np.int64)
    # the tired half has seen the hero often: 9 exposures beyond the onset with this one
    m.population.exposure_count[tired == 1, 0] = c.fatigue_onset_exposures + 8
    fresh_rate, tired_rate = _wish_rates(m, tired)
    seen = c.fatigue_onset_exposures + 9
    expected = (1 + c.repeat_exposure_boost * (seen - 1)) * math.exp(-c.exposure_fatigue * 9)
    se = math.sqrt(fresh_rate / 20000 + tired_rate / 20000)
    assert tired_rate == pytest.approx(fresh_rate * expected, abs=4 * se)
    assert expected < 1  # past the onset, fatigue outweighs the repeat-exposure boost


def test_warnings_mark_consumers_and_ratings_fall_with_returns():
    world = ("market.consumer.return_propensity_mean=0.5",)
    k = kpis("rigid", 0, world)
    assert k["warned"] > 0
    assert k["rating_end"] < kpis("rigid", 0)["rating_end"] < 1 + 4 * 38 / 40
    assert k["demand_lost_quality_units"] > 0
    off = kpis("rigid", 0, (*world, "market.feedback.warnings=false"))
    assert off["warned"] == 0


def test_exposure_fatigue_lowers_demand_in_a_run():
    heavy = ("market.consumer.exposure_fatigue=2.0", "market.consumer.fatigue_onset_exposures=1")
    none = ("market.consumer.exposure_fatigue=0",)
    a = [kpis("flexible", s, none)["demand_units"] for s in SEEDS]
    b = [kpis("flexible", s, heavy)["demand_units"] for s in SEEDS]
    mean, low, high = paired_ci(a, b)
    assert high < 0, (mean, low, high)


def _pair_totals(cross: float, skus_b: int, pairs: int = 300) -> np.ndarray:
    """Total views of two short videos published together (products 0 and ``skus_b``)."""
    video = VIDEO.model_copy(update={"branching_ratio": 0.5, "cross_excitation": cross})
    out = []
    for i in range(pairs):
        a = Post(f"a{i}", 0, "short_video", np.array([0]), 0, 1, 100.0, stream(6, "x", i, 0))
        b = Post(f"b{i}", 0, "short_video", np.array([skus_b]), 0, 1, 100.0, stream(6, "x", i, 1))
        for h in range(400):
            for p in (a, b):
                p.views_this_hour(h, video, LIVE)
            cross_excite([a, b], h, video)
        out.append(a.views + b.views)
    return np.array(out, dtype=float)


def test_posts_of_a_campaign_excite_each_other_as_theory_says():
    """Two posts of one product, each view exciting n shares of its own post and c of the
    other: each post totals S/(1 - n - c) in expectation."""
    totals = _pair_totals(0.2, 0)
    se = totals.std(ddof=1) / math.sqrt(len(totals))
    assert totals.mean() == pytest.approx(2 * 100 / (1 - 0.5 - 0.2), abs=4 * se)
    # posts of different products do not excite each other: each is the textbook cascade
    apart = _pair_totals(0.2, 1)
    se = apart.std(ddof=1) / math.sqrt(len(apart))
    assert apart.mean() == pytest.approx(2 * 100 / (1 - 0.5), abs=4 * se)


def test_cross_excitation_must_keep_the_cascade_stable():
    bad = sim.compose().to_dict()
    bad["content"]["short_video"]["cross_excitation"] = 0.5  # 0.6 + 0.5 >= 1
    with pytest.raises(sim.ConfigError, match="branching_ratio \\+ cross_excitation"):
        sim.validate(bad)


POST_PEAK_CONSUMERS = 100_000
POST_PEAK_SEEDS = range(12)


@functools.lru_cache(maxsize=64)
def post_peak(setup: str, seed: int, off: bool) -> dict[str, float]:
    """Views and demand after the live stream of the flagship at the reference size."""
    cfg = sim.compose(
        None, [f"market.n_consumers={POST_PEAK_CONSUMERS}", f"setup={setup}", *(OFF if off else ())]
    )
    r = sim.run(cfg, seed=seed)
    regions = r.timeseries[r.timeseries.node_type == "region"]
    after = regions[regions.t_hours >= cfg.meta.peak_hour + 3]  # the stream lasts 3 h
    return {"views": float(regions.views.sum()), "demand": float(after.demand.sum())}


@pytest.mark.slow
def test_flagship_post_peak_demand_answers_supply():
    """At the reference size over twelve seeds: with the feedback, the setups differ in views
    and in post-peak demand (the chain whose page and deliveries fail its buyers more loses
    both); without it, their views are identical and their post-peak demand does not differ."""
    diff = {}
    for mode, off in (("on", False), ("off", True)):
        diff[mode] = {
            k: [
                post_peak("flexible", s, off)[k] - post_peak("rigid", s, off)[k]
                for s in POST_PEAK_SEEDS
            ]
            for k in ("views", "demand")
        }
    zero = [0.0] * len(POST_PEAK_SEEDS)
    for k in ("views", "demand"):
        _, low, high = paired_ci(zero, diff["on"][k])
        assert low > 0 or high < 0, (k, low, high)
    assert all(d == 0 for d in diff["off"]["views"])
    _, low, high = paired_ci(zero, diff["off"]["demand"])
    assert low < 0 < high
