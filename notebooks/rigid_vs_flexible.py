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
# # Rigid vs flexible: the flagship comparison, with replications and intervals
#
# The same demand meets two supply chains. The **rigid** chain has one cheap core factory
# (MOQ 5,000, ten days of material lead time), one central warehouse and a daily review. The
# **flexible** one adds a quick-response factory, a forward warehouse, elastic carriers,
# signal-driven forecasts, rush orders, presale and pre-positioning.
#
# Each replication draws one demand trace (seed); both setups face it (common random
# numbers), so the paired difference flexible − rigid is measured without the noise of the
# demand. Intervals are 95% t-intervals over replications.

# %% tags=["parameters"]
import os

SMALL = os.environ.get("VIRALCHAIN_NOTEBOOK_SMALL") == "1"  # the test suite runs it small
STORY = "head_kol_livestream"
N_CONSUMERS = 3_000 if SMALL else 20_000
REPLICATIONS = 3 if SMALL else 10
EXTRA = ["run.horizon_hours=480"] if SMALL else []  # the small run stops at day 20

# %%
# %matplotlib inline
import numpy as np
import pandas as pd
from scipy import stats

import sim
from sim import narrative
from sim.plotting import SETUP_COLORS, plot_dashboard

SETUPS = ("rigid", "flexible")
configs = {
    s: sim.compose(STORY, [f"setup={s}", f"market.n_consumers={N_CONSUMERS}", *EXTRA])
    for s in SETUPS
}
rows, first = [], {}
for rep in range(REPLICATIONS):
    for s, cfg in configs.items():
        r = sim.run(cfg, seed=rep)
        rows.append({"setup": s, "replication": rep, **r.kpis})
        if rep == 0:
            first[s] = r
runs = pd.DataFrame(rows)
print(f"{len(runs)} runs: {REPLICATIONS} replications x {len(SETUPS)} setups")

# %% [markdown]
# ## KPI means with 95% intervals

# %%
KPIS = ["fill_rate", "lost_sales_units", "stockout_hours", "delivery_hours_mean",
        "profit", "leftover_units", "writeoff_cost", "peak_working_capital"]


def interval(x: pd.Series) -> pd.Series:
    x = x.dropna()
    n = len(x)
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return pd.Series({"mean": x.mean(), "low": x.mean() - half, "high": x.mean() + half, "n": n})


means = runs.groupby("setup")[KPIS].apply(lambda g: g.apply(interval)).unstack()
means.round(2)

# %% [markdown]
# ## Paired differences, flexible − rigid
# Pairing by replication removes the shared demand noise: the interval of the difference is
# much narrower than the two intervals above would suggest.

# %%
wide = runs.pivot(index="replication", columns="setup", values=KPIS)
diff = pd.DataFrame({k: wide[(k, "flexible")] - wide[(k, "rigid")] for k in KPIS})
paired = diff.apply(interval).T
paired["significant"] = (paired["low"] > 0) | (paired["high"] < 0)
paired.round(2)

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
for ax, kpi in zip(axes.flat, KPIS):
    for i, s in enumerate(SETUPS):
        m = means.loc[s, kpi]
        ax.bar(i, m["mean"], color=SETUP_COLORS[s], label=s)
        ax.errorbar(i, m["mean"], yerr=[[m["mean"] - m["low"]], [m["high"] - m["mean"]]],
                    color="black", capsize=4)
    ax.set_xticks(range(len(SETUPS)), SETUPS)
    unit = "share" if kpi.endswith("rate") else ("h" if "hours" in kpi else
                                                 "units" if "units" in kpi else "money")
    ax.set_title(f"{kpi.replace('_', ' ')} ({unit})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
axes.flat[0].legend(fontsize=8)
fig.suptitle(f"{STORY}: rigid vs flexible, mean and 95% interval over {REPLICATIONS} "
             f"replications ({N_CONSUMERS:,} consumers)")
fig.tight_layout()

# %% [markdown]
# ## One replication, side by side
# The dashboard's six panels for replication 0: the same demand, two answers.

# %%
fig = plot_dashboard(
    {s: (r.timeseries, r.events) for s, r in first.items()},
    horizon_hours=configs["rigid"].run.horizon_hours,
    title=f"{STORY}: rigid vs flexible on the same demand (seed 0)",
    skus=list(configs["rigid"].brand.products),
)
fig

# %% [markdown]
# ## When did each chain sell out, and for how long?

# %%
for s, r in first.items():
    ev = r.events[r.events["kind"].isin(["stockout_start", "stockout_end", "rush_order",
                                         "presale_open", "hotspot_signal"])]
    print(f"--- {s}")
    for line in narrative.narrate(ev).itertuples():
        print(f"{line.when:>16}  {line.text}")
