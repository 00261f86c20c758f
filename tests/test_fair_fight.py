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
        "run.horizon_hours=230",
        "market.consumer.revisit_probability=1.0",
    ).kpis
    assert k["lost_left_units"] > 0
