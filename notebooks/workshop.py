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
# # Workshop: what a viral spike does to a rigid and to a flexible chain
#
# *A guided session to project to a room (about 30 minutes). Run the cells one at a time and
# talk over each picture; the questions in italics are for the room. The live, clickable
# version is `viralchain dashboard` (see `docs/workshop.md`).*
#
# **The story.** A food brand sells a snack gift box. A head streamer followed by a third of
# the market will sell it live for three hours on the evening of **day 8**. Mid-tier food
# bloggers tease it the days before; clips circulate for a week after. The brand agreed a
# stock plan ahead: **below what the stream will sell**.
#
# **Two chains face the same demand** (same seed, the same posts and viewers):
#
# | | rigid | flexible |
# |---|---|---|
# | factories | one core factory: cheap, MOQ 5,000, 10 days of material lead time | + a quick-response factory: MOQ 200, 1 day, +28% unit cost |
# | warehouses | one central warehouse | + a forward warehouse near buyers |
# | decisions | daily review, forecast from past sales | review every 8 h, forecast from views, rush orders, presale, pre-positioning |

# %% tags=["parameters"]
import os

SMALL = os.environ.get("VIRALCHAIN_NOTEBOOK_SMALL") == "1"  # the test suite runs it small
N_CONSUMERS = 3_000 if SMALL else 20_000
SEED = 0

# %%
# %matplotlib inline
import pandas as pd

import sim
from sim import narrative
from sim.kpis import kpi
from sim.plotting import plot_dashboard

STORY = "head_kol_livestream"
cfg = {s: sim.compose(STORY, [f"setup={s}", f"market.n_consumers={N_CONSUMERS}"])
       for s in ("rigid", "flexible")}
res = {s: sim.run(c, seed=SEED) for s, c in cfg.items()}
HORIZON = cfg["rigid"].run.horizon_hours
SKUS = list(cfg["rigid"].brand.products)
LIVE = int(res["rigid"].events.query("kind == 'livestream_start'")["t_hours"].min())
pd.set_option("display.max_colwidth", 140)


def show(hour: int, title: str):
    """The six panels as they stood at ``hour``."""
    return plot_dashboard({s: (r.timeseries, r.events) for s, r in res.items()},
                          now_hours=hour, horizon_hours=HORIZON, skus=SKUS,
                          title=f"{title} — {narrative.format_hour(hour)}")


def what_happened(start: int, end: int) -> pd.DataFrame:
    """Both chains' events between two hours, in plain words (posts left out)."""
    rows = []
    for s, r in res.items():
        ev = r.events[(r.events["t_hours"] >= start) & (r.events["t_hours"] < end)]
        rows.append(narrative.narrate(ev[ev["kind"] != "post"]).assign(chain=s))
    out = pd.concat(rows).sort_values("t_hours", kind="stable")
    return out.drop_duplicates(["t_hours", "text"])[["when", "chain", "text"]]


print(f"{N_CONSUMERS:,} consumers, {HORIZON // 24} days; the live stream starts "
      f"{narrative.format_hour(LIVE)}")

# %% [markdown]
# ## 1. The day before the stream
# *Ask the room: how much would you have in stock? Where?* Both chains look the same: the
# teasers bring a trickle of demand; stock is where the plan put it.

# %%
show(LIVE - 20, "Before the live stream")

# %% [markdown]
# ## 2. The night of the live stream
# Demand jumps from a trickle to a flood within the hour. *Which chain sells out first? What
# can each one still do tonight?*

# %%
show(LIVE + 6, "The live stream")

# %%
what_happened(LIVE - 24, LIVE + 24)

# %% [markdown]
# ## 3. Three days later
# The rigid chain ordered once, at its next daily review, one large batch from its core
# factory; the flexible chain's quick-response factories have been producing since the rush
# orders placed during the stream.
# *Who is still selling? Who is cancelling orders?*

# %%
show(LIVE + 72, "Three days after")

# %%
what_happened(LIVE + 24, LIVE + 96)

# %% [markdown]
# ## 4. The end of the story
# The hype fades. *Who sold more? Who is left with boxes of snacks that will be marked down?*

# %%
show(HORIZON, "End of the story")

# %%
# labels, units and which way is better come from the KPI catalogue (sim/kpis.py)
KPIS = ["sold_units", "lost_sales_units", "fill_rate", "stockout_hours", "delivery_hours_mean",
        "revenue", "rush_premium_cost", "writeoff_cost", "profit", "leftover_units"]
table = pd.DataFrame({s: r.kpis for s, r in res.items()}).loc[KPIS]
table["flexible − rigid"] = table["flexible"] - table["rigid"]
table.insert(0, "better", [kpi(k).better for k in KPIS])
table.index = [kpi(k).axis_label for k in KPIS]
table.round(2)

# %% [markdown]
# ## 5. Pull one lever
# *Could the rigid chain have saved the night with more safety stock instead?* Give it 14
# days of cover on top of its forecast, on the same demand:

# %%
more = sim.run(sim.compose(STORY, ["setup=rigid", f"market.n_consumers={N_CONSUMERS}",
                                   "policy.safety_stock.days_of_cover=14"]), seed=SEED)
pd.DataFrame({"rigid": res["rigid"].kpis, "rigid, 14 days of cover": more.kpis,
              "flexible": res["flexible"].kpis}).loc[
    ["fill_rate", "lost_sales_units", "writeoff_cost", "leftover_units", "profit"]].round(2)

# %% [markdown]
# Safety stock is computed from a forecast built on *past sales*: before the stream there
# were almost none, so more days of cover of almost nothing barely helps. Flexibility is
# about reacting to the *signal* (views, live sales) fast, not about holding more.
#
# ## 6. Now let the room drive
# `viralchain dashboard` opens the same comparison in the browser: press **Play**, stop at
# the stream, switch levers (rush orders, presale, forward warehouse, elastic carriers,
# the KOL tier mix, a factory outage) and watch both chains re-run on the same demand.
