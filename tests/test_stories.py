"""Every story of the source articles: its signature events at the times the story states.

Each test runs a reduced-size version (a fraction of the reference market; supply scales with
it) with ``run.debug_invariants=true``, so every invariant holds after every simulated hour.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import sim
from experiments.compose import group_options
from sim.orders import CH_SUBST, DELIVERED, RETURNED

STORIES = [
    "seasonal_hotspot", "head_kol_livestream", "daily_multisku", "creative_presale",
    "kol_matrix", "multi_platform", "test_and_learn", "two_brands",
    "steady_seller", "planned_megasale",
]  # fmt: skip
NAIVE = "policy.replenishment.planner=naive"  # no stock planned for the event: it runs short


@functools.lru_cache(maxsize=32)
def story(name: str, setup: str, *extra: str, n: int = 5000) -> sim.RunResult:
    cfg = sim.compose(
        name, [f"setup={setup}", f"market.n_consumers={n}", "run.debug_invariants=true", *extra]
    )
    return sim.run(cfg, seed=1, keep_model=True)


def ev(r: sim.RunResult, kind: str) -> pd.DataFrame:
    return r.events[r.events.kind == kind]


def test_every_story_is_listed_and_described():
    assert sorted(group_options("story")) == sorted(STORIES)
    from experiments.cli import _describe
    from experiments.compose import scenarios_dir

    for name in STORIES:
        assert len(_describe(scenarios_dir() / "story" / f"{name}.yaml")) > 30


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
@pytest.mark.parametrize("name", STORIES)
def test_every_story_runs_with_either_setup(name, setup):
    peak = sim.compose(name).meta.peak_hour  # short runs, past the story's main event
    r = story(name, setup, f"run.horizon_hours={max(240, peak + 24)}", n=2000)
    assert r.config.meta.story == name and r.config.meta.setup == setup
    assert r.kpis["demand_units"] > 0


# ----------------------------------------------------------------------------- 1


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_seasonal_hotspot_presale_live_room_and_seven_day_delivery(setup):
    r = story("seasonal_hotspot", setup)
    scale = r.model.scale
    assert ev(r, "presale_open").t_hours.tolist() == [96]  # sampled in 3 days from hour 24
    live = ev(r, "livestream_start")
    assert live.t_hours.tolist() == [100] and ev(r, "livestream_end").t_hours.tolist() == [102]
    book = r.model.orders
    in_room = (book.placed_hour >= 100) & (book.placed_hour < 102)
    assert book.quantity[in_room].sum() >= 1000 * scale  # "thousands" at full scale
    delivered = book.delivered_hour[book.delivered_hour >= 0]
    first = delivered.min() - 96
    if setup == "flexible":
        # orders split to partner factories; first goods about seven days after the presale
        orders = r.events[r.events.kind.isin(["rush_order", "production_order"])]
        first_hour = orders.t_hours.min()
        factories = orders[orders.t_hours == first_hour].detail.str.split().str[0]
        assert factories.nunique() >= 2
        assert 24 <= first <= 8 * 24  # materials, production and transport take time
        assert r.kpis["on_time_rate"] > 0.9
    else:
        assert first > 8 * 24  # the rigid chain cannot keep the presale promise
        assert r.kpis["on_time_rate"] < 0.5


# ----------------------------------------------------------------------------- 2


def test_head_kol_livestream_rush_during_stream_and_same_night_forward_shipping():
    r = story("head_kol_livestream", "flexible")
    assert ev(r, "livestream_start").t_hours.tolist() == [212]
    assert ev(r, "livestream_end").t_hours.tolist() == [215]
    rush = ev(r, "rush_order")
    assert ((rush.t_hours >= 212) & (rush.t_hours < 215)).any()  # production increment live
    m = r.model
    book = m.orders
    fwd = m.warehouse_index["forward_south"]
    during = (book.placed_hour >= 212) & (book.placed_hour < 215)
    same_night = during & (book.warehouse == fwd) & (book.shipped_hour == 215)  # 23:00, day 8
    assert same_night.sum() > 0
    # regional waves: the first cut-offs after the stream carry parcels to every region
    after = during & (book.shipped_hour >= 215) & (book.shipped_hour < 215 + 24)
    assert len(np.unique(book.region[after])) == len(m.geo)


def test_head_kol_livestream_rigid_has_no_rush_and_ships_next_day():
    r = story("head_kol_livestream", "rigid")
    assert len(ev(r, "rush_order")) == 0
    book = r.model.orders
    during = (book.placed_hour >= 212) & (book.placed_hour < 215)
    assert (book.shipped_hour[during & (book.shipped_hour >= 0)] >= 18 + 24 * 9).all()


# ----------------------------------------------------------------------------- 3


def test_daily_multisku_streams_every_evening_and_consolidates_parcels():
    r = story("daily_multisku", "flexible")
    starts = ev(r, "livestream_start").t_hours
    assert len(starts) == 20 and (starts % 24 == 20).all()
    book = r.model.orders
    assert len(np.unique(book.sku)) >= 20  # dozens of SKUs sold
    counts = r.model.ledger.counts
    assert counts["parcels"][0] < counts["orders_shipped"][0]  # one parcel per buyer
    unconsolidated = story("daily_multisku", "flexible", "logistics.consolidate_parcels=false")
    c2 = unconsolidated.model.ledger.counts
    assert c2["parcels"][0] == c2["orders_shipped"][0]
    assert r.kpis["transport_cost"] < unconsolidated.kpis["transport_cost"]


# ----------------------------------------------------------------------------- 4


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_creative_presale_presale_then_pilot_then_scale_up(setup):
    r = story("creative_presale", setup)
    assert ev(r, "presale_open").t_hours.min() == 0
    book = r.model.orders
    assert book.quantity[book.placed_hour < 504].sum() > 0  # pre-orders before launch
    pilots = ev(r, "pilot_batch")
    assert len(pilots) == 3  # one per variant
    orders = r.events[r.events.kind.isin(["pilot_batch", "production_order", "rush_order"])]
    for sku in r.config.brand.products:
        mine = orders[orders.sku == sku].sort_values("t_hours", kind="stable")
        assert mine.kind.iloc[0] == "pilot_batch"  # the pilot comes first
    if setup == "flexible":
        pilot_size = pilots.quantity.max()
        assert pilot_size <= 300 * r.model.scale + 20  # a few hundred at full scale
        later = ev(r, "production_order")
        assert later.quantity.sum() > pilot_size  # then scale-up on rolling forecasts
        # modules made ahead: the flexible factory finishes variants from them
        assert "flex" in r.config.supply.postponement.factories
    # steady state: buyers keep coming after the launch
    assert book.quantity[book.placed_hour > 504 + 14 * 24].sum() > 0


# ----------------------------------------------------------------------------- 5


def test_kol_matrix_grades_hot_spots_and_books_dynamic_tasks():
    r = story("kol_matrix", "flexible")
    graded = ev(r, "opportunity_graded")
    grades = graded.detail.str[6]
    assert {"A", "S"} <= set(grades)
    s_hour = graded[grades == "S"].t_hours.min()
    assert 480 <= s_hour <= 482  # the head KOL's live mention at hour 480
    tasks = ev(r, "dynamic_task")
    assert len(tasks) >= 1 and (tasks.t_hours >= graded.t_hours.min()).all()
    posts = ev(r, "post")
    task_posts = posts[posts.detail.str.startswith("task")]
    assert len(task_posts) >= len(tasks) - 1  # tasks published (unless past the horizon)
    # framework contracts: every KOL of the roster posts regularly
    assert posts[posts.detail.str.startswith("frame")].actor.nunique() == len(r.config.content.kols)
    response = ev(r, "opportunity_response")
    assert len(response) >= 2 and "grade S" in " ".join(response.detail)


# ----------------------------------------------------------------------------- 6


def test_multi_platform_priority_presale_and_high_returns():
    r = story("multi_platform", "flexible", NAIVE)
    m = r.model
    book = m.orders
    assert set(np.unique(book.platform)) == {0, 1, 2}
    assert len(ev(r, "livestream_start")) == 3 and len(ev(r, "presale_open")) >= 1
    # both live rooms compete for the stock: priority serves douyin (1) before kuaishou (2).
    # Presale accepts both rooms' buyers, so the lever shows in who gets the stock first:
    # kuaishou's buyers wait longer than douyin's under priority than under fcfs
    fcfs = story("multi_platform", "flexible", NAIVE, "policy/allocation=fcfs")

    def wait_gap(res):
        b = res.model.orders
        names = res.model.platform_names
        during = (b.placed_hour >= 164) & (b.placed_hour < 167) & (b.delivered_hour >= 0)
        wait = (b.delivered_hour - b.placed_hour).astype(float)
        douyin = wait[during & (b.platform == names.index("douyin"))].mean()
        return wait[during & (b.platform == names.index("kuaishou"))].mean() - douyin

    # about 1.7 h here (seed 1: 4.3 h under priority, 2.6 h under fcfs); about 4 h before
    # pre-positioning moved only the south's share of central stock (issue 16)
    assert wait_gap(r) > wait_gap(fcfs) + 1
    done = (book.status == DELIVERED) | (book.status == RETURNED)
    returned = (book.status == RETURNED)[done].mean()
    assert returned > 0.2  # impulse buying: high return rates


# ----------------------------------------------------------------------------- 7


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_test_and_learn_scales_winners_and_stops_losers(setup):
    r = story("test_and_learn", setup, n=20000)
    scaled = ev(r, "design_scaled")
    stopped = ev(r, "design_stopped")
    assert len(scaled) == 2 and len(stopped) == 6
    assert (scaled.t_hours == 168).all() and (stopped.t_hours == 168).all()
    appeal = {k: p.appeal for k, p in r.config.brand.products.items()}
    best = sorted(appeal, key=appeal.get)[-2:]
    # the test finds one of the two best designs, and its winners beat its losers on average.
    # (Demand per view is a noisy signal: shares travel inside communities, so a hit's later
    # views reach consumers who already bought it, and the best design is often missed.)
    assert set(scaled.sku) & set(best)
    won = np.mean([appeal[s] for s in scaled.sku])
    lost = np.mean([appeal[s] for s in stopped.sku])
    assert won > lost
    orders = r.events[r.events.kind.isin(["production_order", "rush_order"])]
    assert not orders[(orders.t_hours >= 168)].sku.isin(stopped.sku).any()
    assert set(orders.sku) <= set(scaled.sku)  # nothing was produced before the decision
    posts = ev(r, "post")
    late = posts[posts.t_hours > 168]
    assert not late.sku.isin(stopped.sku).any()  # no more content for stopped designs


# ----------------------------------------------------------------------------- 8


def test_two_brands_substitute_when_one_is_sold_out():
    r = story("two_brands", "rigid", NAIVE)
    m = r.model
    assert list(r.kpis_by_brand) == ["snackco", "crunchco"]
    rows = r.runs_frame()
    assert rows.brand.tolist() == ["snackco", "crunchco"]
    assert rows.setup.tolist() == ["rigid", "rigid"]
    out = ev(r, "stockout_start")
    start = out[(out.actor == "snackco") & (out.sku == "hero")].t_hours.min()
    book = m.orders
    rival_sku = m.sku_index["crunch_box"]
    subst = (book.channel == CH_SUBST) & (book.sku == rival_sku) & (book.placed_hour >= start)
    assert subst.sum() > 0  # would-be buyers of the sold-out brand bought the rival's box
    no_sub = story("two_brands", "rigid", NAIVE, "market.consumer.substitution_probability=0")
    assert (no_sub.model.orders.channel == CH_SUBST).sum() == 0
    assert (
        r.kpis_by_brand["crunchco"]["sold_units"] > no_sub.kpis_by_brand["crunchco"]["sold_units"]
    )
