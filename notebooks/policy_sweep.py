# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Policy sweep: compare policies from a sweep dataset, and the cost–service frontier
#
# A sweep (`viralchain run -m …`) writes one `runs`, `timeseries` and `events` file per run
# into one directory, hive-partitioned by story and setup. This notebook only **reads** that
# dataset (DuckDB and pandas), compares the policy combinations with 95% intervals, finds
# the profit vs fill-rate frontier and draws one run. If the sweep directory does not exist
# yet, the first cell makes it with the documented command (small sizes under the tests).
#
# The same dataset feeds `viralchain report SWEEP_DIR` (tables, plots, `report.html`).

# %% tags=["parameters"]
import os
from pathlib import Path

SMALL = os.environ.get("VIRALCHAIN_NOTEBOOK_SMALL") == "1"  # the test suite runs it small
SWEEP_DIR = Path(os.environ.get("VIRALCHAIN_SWEEP_DIR", "outputs/sweeps/notebook_policy_sweep"))
SWEEP = [
    "setup=rigid,flexible",
    "policy.safety_stock.days_of_cover=1,3",
    f"market.n_consumers={2_000 if SMALL else 20_000}",
    *(["run.horizon_hours=360"] if SMALL else []),
]
REPLICATIONS = 2 if SMALL else 10

# %%
# %matplotlib inline
import shutil
import subprocess
import sys

if not (SWEEP_DIR / "runs").exists():
    exe = shutil.which("viralchain") or str(Path(sys.executable).with_name("viralchain"))
    cmd = [exe, "run", "-m", *SWEEP, "--replications", str(REPLICATIONS),
           "--out", str(SWEEP_DIR), "--jobs", "2"]
    print("making the dataset:", " ".join(cmd[1:]))
    done = subprocess.run(cmd, capture_output=True, text=True)
    print(done.stdout[-800:])
    assert done.returncode == 0, done.stderr[-2000:]

# %% [markdown]
# ## Load the runs table with DuckDB
# One SQL query over every run's file; the partition columns (story, setup) come with it.

# %%
import duckdb
import numpy as np
import pandas as pd
from scipy import stats

con = duckdb.connect()
runs = con.execute(
    "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true)",
    [str(SWEEP_DIR / "runs" / "**" / "*.parquet")],
).df()
swept = [c for c in runs.columns if "." in c and runs[c].nunique() > 1]
print(len(runs), "runs;", runs["status"].value_counts().to_dict(), "; swept:", swept)
runs = runs[(runs["status"] == "ok") & (runs["brand"] == runs.groupby("run_id")["brand"]
                                          .transform("first"))]
runs["combination"] = runs[["setup", *swept]].astype(str).agg(
    lambda r: " ".join(f"{k.split('.')[-1]}={v}" if k != "setup" else v
                       for k, v in zip(["setup", *swept], r)), axis=1)
runs[["combination", "replication", "fill_rate", "profit", "leftover_units"]].head()

# %% [markdown]
# ## KPI means with 95% intervals per combination

# %%
from sim.plotting import plot_kpi_intervals

KPIS = ["fill_rate", "lost_sales_units", "profit", "leftover_units", "delivery_hours_mean",
        "stockout_hours"]


def interval(x: pd.Series) -> dict:
    x = x.dropna()
    n = len(x)
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
    return {"n": n, "mean": x.mean(), "ci_low": x.mean() - half, "ci_high": x.mean() + half}


summary = pd.DataFrame([
    {"combination": c, "setup": g["setup"].iloc[0], "kpi": k, **interval(g[k])}
    for c, g in runs.groupby("combination", sort=True) for k in KPIS
])
plot_kpi_intervals(summary, KPIS, f"{runs['story'].iloc[0]}: policies compared");
summary.pivot(index="combination", columns="kpi", values="mean")[KPIS].round(2)

# %% [markdown]
# ## The cost–service frontier
# Each combination's mean profit against its mean fill rate; a star marks the
# Pareto-optimal ones (no other combination has both a higher fill rate and a higher profit).

# %%
from sim.plotting import plot_frontier

wide = summary.pivot(index="combination", columns="kpi", values=["mean", "ci_low", "ci_high"])
points = pd.DataFrame({
    "combination": wide.index,
    "setup": [runs.loc[runs["combination"] == c, "setup"].iloc[0] for c in wide.index],
    "story": runs["story"].iloc[0],
})
for k in ("fill_rate", "profit"):
    points[f"{k}_mean"] = wide[("mean", k)].to_numpy()
    points[f"{k}_low"] = wide[("ci_low", k)].to_numpy()
    points[f"{k}_high"] = wide[("ci_high", k)].to_numpy()
x, y = points["fill_rate_mean"].to_numpy(), points["profit_mean"].to_numpy()
points["pareto"] = [not ((x >= xi) & (y >= yi) & ((x > xi) | (y > yi))).any()
                    for xi, yi in zip(x, y)]
plot_frontier(points, "fill_rate", "profit", "Profit vs fill rate (95% intervals)");
points[["combination", "fill_rate_mean", "profit_mean", "pareto"]].round(3)

# %% [markdown]
# ## One run's time series
# The timeseries dataset is large: read only the run you want (DuckDB pushes the `run_id`
# filter down to the files).

# %%
from sim.plotting import plot_run

best = runs.sort_values("profit", ascending=False).iloc[0]


def one_run(table: str) -> pd.DataFrame:
    return con.execute(
        "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true) "
        "WHERE run_id = ? ORDER BY t_hours",
        [str(SWEEP_DIR / table / "**" / "*.parquet"), best["run_id"]],
    ).df()


ts, ev = one_run("timeseries"), one_run("events")
plot_run(ts, ev, f"The most profitable run: {best['combination']}, "
         f"replication {best['replication']}");
