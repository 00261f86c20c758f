"""The statistics behind ``viralchain report`` on data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from experiments import sweep_stats as st
from experiments.report import Report, frontier_points, paired_rows, paired_text, verdict

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 9, 19, 29, 60, 250, 1e4])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_matches_scipy(df, p):
    assert st.t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8, abs=1e-9)
    assert st.t_quantile(1 - p, df) == pytest.approx(scipy_stats.t.ppf(1 - p, df), rel=1e-8)


def test_t_quantile_rejects_nonsense():
    with pytest.raises(ValueError):
        st.t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        st.t_quantile(0.5, 0)


def test_half_widths_match_scipy_intervals():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 2, 12)
    lo, hi = scipy_stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert st.half_width(x) == pytest.approx((hi - lo) / 2, rel=1e-9)
    assert math.isnan(st.half_width([3.0]))
    a, b = rng.normal(0, 1, 8), rng.normal(1, 3, 11)
    res = scipy_stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert st.welch_half_width(a, b) == pytest.approx((ci.high - ci.low) / 2, rel=1e-9)


def _runs(rng: np.random.Generator, n: int = 10) -> pd.DataFrame:
    """Three policies on n replications; demand noise shared within a replication (CRN)."""
    rows = []
    for rep in range(n):
        noise = rng.normal(0, 100)  # the replication's demand trace, common to all policies
        for setup, effect in (("rigid", 0.0), ("flexible", 40.0), ("flexible_x", 10.0)):
            rows.append(
                {
                    "run_id": f"{setup}-{rep}",
                    "story": "s",
                    "setup": setup,
                    "seed": 1000 + rep,
                    "replication": rep,
                    "status": "ok",
                    "error": "",
                    "brand": "b",
                    "profit": 500 + noise + effect + rng.normal(0, 5),
                    "fill_rate": 0.5 + effect / 100 + rng.normal(0, 0.01),
                }
            )
    rows.append(
        {
            **rows[0],
            "run_id": "broken",
            "setup": "rigid",
            "status": "failed",
            "seed": 9,
            "profit": math.nan,
            "fill_rate": math.nan,
        }
    )
    return pd.DataFrame(rows)


def test_design_summary_and_paired_differences_recover_known_effects():
    rng = np.random.default_rng(7)
    runs = _runs(rng)
    d = st.design(runs, param_columns=[])
    assert d.factors == ["setup"]
    assert d.combinations == ["setup=flexible", "setup=flexible_x", "setup=rigid"]
    assert len(d.failed) == 1
    summary = st.summarise(d, ["profit", "fill_rate"])
    rigid = summary[(summary["combination"] == "setup=rigid") & (summary["kpi"] == "profit")]
    assert rigid["n"].iloc[0] == 10
    base = st.pick_baseline(d)
    assert base == {"s": "setup=rigid"}
    diffs = st.paired_differences(d, ["profit"], base).set_index("combination")
    flex = diffs.loc["setup=flexible"]
    assert flex["n_pairs"] == 10
    assert flex["ci_low"] < 40 < flex["ci_high"]  # the true effect is inside
    # the shared demand noise (sd 100) cancels in the paired difference (sd ~7): CRN pays
    assert flex["paired_half_width"] < flex["unpaired_half_width"] / 5
    assert flex["crn_variance_ratio"] > 25
    assert st.pick_baseline(d, "setup=flexible") == {"s": "setup=flexible"}
    with pytest.raises(ValueError):
        st.pick_baseline(d, "nope=1")
    with pytest.raises(ValueError):
        st.pick_baseline(d, "setup=none")


def test_pareto_front_and_frontier_points():
    pts = pd.DataFrame({"x": [0.5, 0.7, 0.9, 0.6, 0.9], "y": [10, 8, 2, 7, 1]})
    assert list(st.pareto_front(pts, "x", "y")) == [True, True, True, False, False]
    # minimising y instead: (0.9, 1) dominates everything with x <= 0.9
    assert list(st.pareto_front(pts, "x", "y", maximise_y=False)) == [
        False,
        False,
        False,
        False,
        True,
    ]
    rng = np.random.default_rng(3)
    d = st.design(_runs(rng), [])
    summary = st.summarise(d, ["profit", "fill_rate"])
    front = frontier_points(summary, "fill_rate", "profit").set_index("combination")
    assert front.loc["setup=flexible", "pareto"]  # best on both
    assert not front.loc["setup=rigid", "pareto"]


def test_report_keeps_the_main_brand_of_a_two_brand_story(tmp_path):
    """Rival brands have their own rows (and setups); the report compares the main brand's."""
    import sim
    from experiments import sweep_store as store
    from experiments.report import build

    store.SweepSpec("two", {}).save(tmp_path)
    for setup in ("rigid", "flexible"):
        cfg = sim.compose("two_brands", [f"setup={setup}", *TINY])
        store.write_run(tmp_path, sim.run(cfg, 3), "two", {})
    runs = store.read_table(tmp_path, "runs")
    assert len(runs) == 4 and runs["brand"].nunique() == 2
    r = build(tmp_path, tmp_path / "report")
    assert len(r.design.runs) == 2
    assert set(r.design.runs["brand"]) == {sim.compose("two_brands", TINY).brand.name}
    assert r.design.combinations == ["setup=flexible", "setup=rigid"]


def test_verdicts_follow_the_catalogues_better_direction_and_need_a_clear_interval():
    assert verdict("profit", 1.0, 3.0) == "better"
    assert verdict("profit", -3.0, -1.0) == "worse"
    assert verdict("lost_sales_units", 1.0, 3.0) == "worse"
    assert verdict("lost_sales_units", -3.0, -1.0) == "better"
    assert verdict("profit", -1.0, 3.0) == ""  # the interval holds 0
    assert verdict("demand_units", 1.0, 3.0) == ""  # neither direction is better
    assert verdict("profit", math.nan, math.nan) == ""


def test_the_printed_paired_differences_fit_100_columns_even_with_long_combination_names():
    rng = np.random.default_rng(5)
    d = st.design(_runs(rng), [])
    diffs = st.paired_differences(d, ["profit", "fill_rate"], st.pick_baseline(d))
    long = ", ".join(f"policy.some_family.a_rather_long_parameter_{i}=0.5" for i in range(3))
    diffs["combination"] = diffs["combination"] + ", " + long
    r = Report(None, d, pd.DataFrame(), diffs, pd.DataFrame(), {}, ["profit", "fill_rate"])
    text = paired_text(r)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert all(line == line.rstrip() for line in text.splitlines())
    block = text.split("setup=flexible, ")[1].split("\n\n")[0]
    profit = next(line for line in block.splitlines() if line.strip().startswith("profit"))
    assert profit.split()[-1] == "better"  # +40 on every replication, paired
    head, rows = paired_rows(r)  # report.md and report.html carry the verdict too
    assert head[-1] == "verdict"
    flex = next(row for row in rows if row[0].startswith("setup=flexible, ") and row[1] == "profit")
    assert flex[-1] == "better"
