"""A fair fight (issue 15): lost sales by cause, hot-spot grading, the rigid planner, the
price of flexibility. Small worlds, fixed seeds, paired comparisons."""

from __future__ import annotations

import sim

SMALL = ["market.n_consumers=6000", "run.timeseries_resolution=off"]


def _run(story: str, *overrides: str, seed: int = 1) -> sim.RunResult:
    return sim.run(sim.compose(story, [*SMALL, *overrides]), seed=seed, keep_model=True)


def test_lost_sales_split_by_cause_adds_up():
    """Every lost unit has one cause: sold out, too slow, or left while waiting."""
    k = _run("head_kol_livestream", "setup=rigid").kpis
    parts = k["lost_sold_out_units"] + k["lost_too_slow_units"] + k["lost_left_units"]
    assert parts == k["lost_sales_units"] > 0


def test_buyers_waiting_at_the_end_count_as_left():
    """A sold-out product near the end: buyers waiting to come back have left."""
    k = _run(
        "head_kol_livestream",
        "setup=rigid",
        "policy.replenishment.planner=naive",  # no stock planned for the stream: it sells out
        "run.horizon_hours=230",
        "market.consumer.revisit_probability=1.0",
    ).kpis
    assert k["lost_left_units"] > 0


# ----------------------------------------------------------------------------- steady demand

STEADY = ("market.n_consumers=3000", "run.horizon_hours=960")
SEEDS = (0, 1, 2)


def _steady(*overrides: str, seed: int) -> dict[str, float]:
    cfg = sim.compose("steady_seller", [*STEADY, "run.timeseries_resolution=off", *overrides])
    return sim.run(cfg, seed=seed).kpis


def test_flexible_buys_the_base_at_the_core_factory_under_steady_demand():
    """Base-surge under flat demand: the premium is paid on (almost) nothing."""
    for s in SEEDS:
        assert _steady("setup=flexible", seed=s)["quick_response_share"] < 0.3


def test_rigid_out_earns_flexible_under_steady_demand():
    """With no surge to answer, flexibility's standing costs buy nothing: paired over seeds."""
    diffs = [
        _steady("setup=rigid", seed=s)["profit"] - _steady("setup=flexible", seed=s)["profit"]
        for s in SEEDS
    ]
    assert min(diffs) > 0


def test_safety_stock_raises_fill_rate_under_steady_noisy_demand():
    """A small market (noisy days) and small lots, so the reorder point decides stock-outs."""
    lots = (
        "setup=rigid",
        "supply.factories.core.moq_units=200",
        "supply.factories.core.batch_size_units=100",
    )
    for s in SEEDS:
        none = _steady(*lots, "policy.safety_stock.days_of_cover=0", seed=s)
        week = _steady(*lots, "policy.safety_stock.days_of_cover=7", seed=s)
        assert week["fill_rate"] > none["fill_rate"]
        assert week["lost_sold_out_units"] < none["lost_sold_out_units"]


# ----------------------------------------------------------------------------- the planner


def test_the_shipped_rigid_is_not_beaten_by_one_that_never_reorders():
    """The competent rigid planner does not chase the stream's spike after it has passed."""
    for s in (1, 2):
        shipped = _run("head_kol_livestream", "setup=rigid", seed=s).kpis
        never = _run(
            "head_kol_livestream",
            "setup=rigid",
            "policy.replenishment.first_review_hour=100000",
            seed=s,
        ).kpis
        assert shipped["profit"] >= never["profit"] - 0.01 * shipped["revenue"]


def test_the_naive_planner_chases_the_passed_spike():
    """The teaching option keeps the old behaviour: an MOQ order after the stream, left over."""
    naive = _run("head_kol_livestream", "setup=rigid", "policy.replenishment.planner=naive")
    aware = _run("head_kol_livestream", "setup=rigid")
    assert naive.kpis["leftover_units"] > aware.kpis["leftover_units"]
    assert naive.kpis["profit"] < aware.kpis["profit"]


def test_the_event_aware_planner_stocks_a_known_stream_it_cannot_produce_for():
    """The stock plan for the stream is in the initial stock (the core cannot reach it)."""
    naive = _run("head_kol_livestream", "setup=rigid", "policy.replenishment.planner=naive")
    aware = _run("head_kol_livestream", "setup=rigid")
    initial = {k: r.model.ledger.units["initial"].sum() for k, r in (("n", naive), ("a", aware))}
    assert initial["a"] > 2 * initial["n"]
    assert aware.kpis["fill_rate"] > naive.kpis["fill_rate"]


def test_a_stream_due_between_the_initial_plan_and_the_first_review_is_planned():
    """A shorter core lead time (144 h at 6,000 consumers) puts the stream after the initial
    stock's reach but inside the time the first review needs to make its units: the initial
    stock must plan it (it was planned by neither: fill 0.09, no production order; found by
    `viralchain explore`)."""
    short = _run(
        "head_kol_livestream", "setup=rigid", "supply.factories.core.material_lead_hours=144"
    )
    assert short.kpis["fill_rate"] > 0.6


def test_a_surprise_event_is_not_planned():
    """notice_hours=0: the brand learns of a post when it happens, so nothing is stocked for it."""
    from sim.model import ViralChainModel

    cfg = sim.compose("kol_matrix", [*SMALL, "setup=rigid"])
    plan = ViralChainModel(cfg, 1).brands[0].supply.event_plan
    assert plan.events and all(e.known_from == e.hour for e in plan.events)
    assert plan.units(int(plan.events[0].sku), 0, 10_000, now=0) == 0


# ----------------------------------------------------------------------------- grading


def test_hot_spot_grading_fires_one_grade_per_hot_spot():
    """kol_matrix: the day-10 mid-tier live stream is one A hot spot, the day-20 head-KOL
    live stream one S hot spot; each gets one grade and only that grade's response."""
    ev = _run("kol_matrix", "setup=flexible").events
    graded = ev[ev.kind == "opportunity_graded"]
    responses = ev[ev.kind == "opportunity_response"]
    day10 = graded[(graded.t_hours >= 240) & (graded.t_hours < 260)]
    day20 = graded[(graded.t_hours >= 480) & (graded.t_hours < 500)]
    assert day10.detail.str[6].tolist() == ["A"]
    assert day20.detail.str[6].tolist() == ["S"]
    for t0 in (240, 480):
        window = responses[(responses.t_hours >= t0) & (responses.t_hours < t0 + 20)]
        assert len(window) == 1


def test_reservation_holds_capacity_and_places_no_rush_order():
    """A grade's reservation is capacity held (a fee, no order); with rush off there is no
    rush order at all, and a brand without quick-response factories holds nothing."""
    flex = _run("kol_matrix", "setup=flexible", "policy/rush=off")
    ev = flex.events
    assert "capacity_hold" in set(ev.kind)
    assert "rush_order" not in set(ev.kind)
    assert flex.kpis["reservation_cost"] > 0 and flex.kpis["rush_premium_cost"] == 0
    rigid = _run("kol_matrix", "setup=rigid")
    assert not {"rush_order", "capacity_hold"} & set(rigid.events.kind)
    assert rigid.kpis["reservation_cost"] == 0


# ----------------------------------------------------------------------------- the command


def test_fairfight_command_writes_its_table_between_the_markers(tmp_path):
    from tests.conftest import cli

    doc = tmp_path / "fair.md"
    doc.write_text(
        "# Title\n\n<!-- fair-fight:start -->\nSTALE-TABLE\n<!-- fair-fight:end -->\n\nEnd\n"
    )
    p = cli(
        "fairfight",
        "--stories",
        "steady_seller",
        "--seeds",
        "2",
        "--n-consumers",
        "2000",
        "--out",
        str(doc),
        "run.horizon_hours=240",
    )
    assert p.returncode == 0, p.stderr
    text = doc.read_text()
    assert (
        text.startswith("# Title") and text.rstrip().endswith("End") and "STALE-TABLE" not in text
    )
    assert "steady_seller" in text and "profit flexible − rigid" in text


def test_fairfight_refuses_an_unknown_story_with_exit_2(tmp_path):
    from tests.conftest import cli

    p = cli("fairfight", "--stories", "nope", "--out", str(tmp_path / "x.md"))
    assert p.returncode == 2 and "--stories" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x.md").exists()
