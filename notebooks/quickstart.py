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
# # Quickstart: one run, its KPIs, its plots and its tables
#
# The flagship story, `head_kol_livestream`: a top streamer sells a snack box live for three
# hours on the evening of day 8. This notebook composes the story under the **flexible**
# setup, runs it once, reads the KPIs, draws the run and reads back the parquet tables it
# wrote. Everything goes through the public API: `sim.compose`, `sim.run`, `sim.plotting`.

# %% tags=["parameters"]
import os
from pathlib import Path

SMALL = os.environ.get("VIRALCHAIN_NOTEBOOK_SMALL") == "1"  # the test suite runs it small
N_CONSUMERS = 3_000 if SMALL else 20_000
SEED = 1
OUT = Path("outputs/notebooks/quickstart")

# %%
# %matplotlib inline
import pandas as pd

import sim
from sim import narrative
from sim.plotting import plot_run

cfg = sim.compose("head_kol_livestream", ["setup=flexible", f"market.n_consumers={N_CONSUMERS}"])
print(cfg.meta.story, cfg.meta.setup, f"{cfg.market.n_consumers:,} consumers,",
      f"{cfg.run.horizon_hours // 24} days")

# %% [markdown]
# A bad value is caught before anything runs, naming the field, the value and what is allowed:

# %%
try:
    sim.compose("head_kol_livestream", ["market.n_consumers=-5"])
except sim.ConfigError as exc:
    print(exc)

# %% [markdown]
# ## Run it
# The same config and seed always give the same tables.

# %%
result = sim.run(cfg, seed=SEED)
print(f"run {result.run_id} in {result.wall_seconds:.2f} s")
kpis = pd.Series(result.kpis, name="flexible")
kpis[["demand_units", "sold_units", "lost_sales_units", "fill_rate", "stockout_hours",
      "delivery_hours_mean", "on_time_rate", "revenue", "profit", "leftover_units"]].round(3)

# %% [markdown]
# The identities the README promises hold for every run:

# %%
k = result.kpis
assert k["demand_units"] == k["sold_units"] + k["lost_sales_units"]
assert k["sold_units"] == k["delivered_units"] + k["cancelled_units"] + k["open_order_units"]
print("demand = sold + lost; sold = delivered + cancelled + open  ✓")

# %% [markdown]
# ## The run in four panels
# Views and demand, sales vs lost sales, stock per warehouse, production and orders
# (the same plot `viralchain run` writes as `plot.png`).

# %%
plot_run(result.timeseries, result.events,
         f"head_kol_livestream — flexible setup, seed {SEED}", list(cfg.brand.products));

# %% [markdown]
# ## What happened, in plain words
# The `events` table told as sentences (`sim.narrative`), without the routine short-video posts.

# %%
story = narrative.narrate(result.events)
story = story[story["kind"] != "post"]
pd.set_option("display.max_colwidth", 120)
story[["when", "text"]].head(15)

# %% [markdown]
# ## The tables on disk
# `write` puts `runs`, `timeseries` and `events` parquet files in a folder; any parquet reader
# reads them back.

# %%
files = result.write(OUT)
runs = pd.read_parquet(files["runs"])
ts = pd.read_parquet(files["timeseries"])
print({name: str(path) for name, path in files.items()})
print(len(ts), "timeseries rows;", ts["node_type"].value_counts().to_dict())
runs[["run_id", "story", "setup", "seed", "fill_rate", "profit"]]

# %% [markdown]
# Daily demand and sales of the whole market, from the long-format timeseries table:

# %%
regions = ts[ts["node_type"] == "region"].assign(day=ts["t_hours"] // 24)
daily = regions.groupby("day")[["demand", "sold", "lost"]].sum()
daily.loc[daily["demand"].idxmax() - 2 : daily["demand"].idxmax() + 4]
