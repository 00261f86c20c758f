"""A fair fight (issue 15): lost sales by cause, hot-spot grading, the rigid planner, the
price of flexibility. Small worlds, fixed seeds, paired comparisons."""

from __future__ import annotations

import sim

SMALL = ["market.n_consumers=6000", "run.timeseries_resolution=off"]


def _run(story: str, *overrides: str, seed: int = 1) -> sim.RunResult:
    return sim.run(sim.compose(story, [*SMALL, *overrides]), seed=seed)


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
