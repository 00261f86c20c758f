# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Validation: the simulator against textbook results
#
# Where theory has an answer, the model must reproduce it. This notebook plots three of the
# six checks of `viralchain validate` against their closed forms:
#
# * **Bass diffusion** on the full agent model (fully mixed word of mouth, ample stock);
# * the **bullwhip** ratio against lead time (Chen, Drezner, Ryan & Simchi-Levi 2000) with
#   the project's own forecast classes and order-up-to rule;
# * the growth of a short video's **share cascade** (a discrete Hawkes process).
#
# It uses the parameters of `scenarios/validation/*.yaml`: their small `fast` variant by
# default (so that the test suite can execute it); set `VIRALCHAIN_NOTEBOOK_FULL=1` for the
# full sizes. Each section asserts that simulation and theory agree within the tolerance, so
# executing the notebook is itself a check. See `docs/validation.md` for every formula.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sim
from experiments.validate import load_params
from sim.rng import stream
from sim.validation import bass, bullwhip, cascade
from sim.validation.params import parse
from sim.validation.stats import mean_se, t_two_sided

FAST = os.environ.get("VIRALCHAIN_NOTEBOOK_FULL", "") != "1"
print("parameter set:", "fast" if FAST else "full")

# %% [markdown]
# ## 1. Bass diffusion on the agent model
#
# Adopters recommend to random consumers (imitation `q`), organic discovery brings the
# innovators (`p`); the model decides hourly, so the exact hourly mean-field curve is shown
# too (its gap to the ODE is the check's computed bias).

# %%
bp = parse("bass", bass.BassParams, load_params("bass", fast=FAST))
case = bp.cases[0]
p, q = case.innovation_per_day, case.imitation_per_day
base = sim.compose(None, bp.model_overrides)
curves, lost = bass.simulate(case, bp, base)
H = curves.shape[1]
t = (np.arange(H) + 1) / 24
mean = curves.mean(axis=0)
half = t_two_sided(bp.alpha, len(curves)) * curves.std(axis=0, ddof=1) / np.sqrt(len(curves))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.fill_between(t, mean - half, mean + half, alpha=0.3, label="simulated (mean ± tolerance)")
ax1.plot(t, mean, lw=1.5)
ax1.plot(t, bass.adopted_fraction(t, p, q), "k--", label="Bass closed form F(t)")
ax1.plot(t, bass.discrete_curve(p, q, bp.organic_conversion_probability,
                                bp.word_of_mouth_conversion_probability, H),
         ":", color="tab:red", label="hourly mean field")
ax1.set(xlabel="days", ylabel="adopted fraction", title=f"Bass, p={p:g}/d, q={q:g}/d")
ax1.legend()
daily = np.diff(np.concatenate([[0.0], mean[23::24]]))
days = np.arange(1, len(daily) + 1) - 0.5
ax2.bar(days, daily, width=0.9, alpha=0.5, label="simulated adopters per day")
fine = np.linspace(0, t[-1], 400)
ax2.plot(fine, bass.adoption_rate(fine, p, q), "k--", label="f(t)")
ax2.axvline(bass.peak_time(p, q), color="grey", lw=0.8)
ax2.plot([bass.peak_time(p, q)], [bass.peak_height(p, q)], "ko", label="peak (t*, f(t*))")
ax2.set(xlabel="days", ylabel="adoption rate (1/day)", title="adoption rate and its peak")
ax2.legend()
plt.tight_layout()
plt.show()
print("lost or cancelled units in the Bass runs (must be 0):", max(lost))
assert max(lost) == 0, "the Bass configuration turned buyers away: an assumption is broken"

# %% [markdown]
# ## 2. The bullwhip ratio against lead time
#
# One stage, i.i.d. demand (ρ = 0), untruncated orders, no safety stock: the ratio
# var(orders)/var(demand) equals 1 + 2L/p + 2L²/p² for a p-day moving average and
# 1 + 2Lα + 2L²α²/(2 − α) for exponential smoothing.

# %%
wp = parse("bullwhip", bullwhip.BullwhipParams, load_params("bullwhip", fast=FAST))
window, alpha_es = 5, 0.3
leads = [1, 2, 3, 4, 6, 8]
rows = []
for L in leads:
    for name, stage, formula in (
        (f"moving average p={window}", bullwhip.Stage(bullwhip._ma(window), L),
         bullwhip.ratio_moving_average(L, window, 0.0)),
        (f"exp. smoothing α={alpha_es}", bullwhip.Stage(bullwhip._es(alpha_es), L),
         bullwhip.ratio_exp_smoothing(L, alpha_es, 0.0)),
    ):
        ratios = bullwhip.simulated_ratios([stage], shared=False, rho=0.0, p=wp,
                                           label=f"notebook {name} L={L}")
        m, se = mean_se(ratios)
        rows.append({"forecast": name, "L": L, "simulated": m, "se": se, "formula": formula})
bw = pd.DataFrame(rows)
z = t_two_sided(wp.alpha, wp.replications)
assert ((bw.simulated - bw.formula).abs() <= z * bw.se).all(), bw

fig, ax = plt.subplots(figsize=(6.5, 4))
for (name, g), color in zip(bw.groupby("forecast", sort=False), ("tab:blue", "tab:orange"),
                            strict=True):
    ax.errorbar(g.L, g.simulated, yerr=z * g.se, fmt="o", color=color,
                label=f"{name}: simulated")
    Ls = np.linspace(0, max(leads), 100)
    if name.startswith("moving"):
        ax.plot(Ls, [bullwhip.ratio_moving_average(x, window, 0.0) for x in Ls], color=color)
    else:
        ax.plot(Ls, [bullwhip.ratio_exp_smoothing(x, alpha_es, 0.0) for x in Ls], color=color)
ax.set(xlabel="lead time L (days of cover)", ylabel="var(q) / var(D)",
       title="bullwhip ratio: simulated (points) and closed form (lines)")
ax.legend()
plt.show()
bw.round(4)

# %% [markdown]
# ## 3. Growth of a share cascade
#
# Follower views decay with time constant τ, every view triggers n shared views on an
# exponential kernel (κ): the mean cumulative views follow the closed form C(K) and tend to
# S/(1 − n).

# %%
cp = parse("cascade", cascade.CascadeParams, load_params("cascade", fast=FAST))
c = cp.cases[0]
S, n, tau, kappa = c.seed_views, c.branching_ratio, c.reach_decay_hours, c.share_kernel_hours
hours = 96
paths = np.stack([
    cascade.simulate_post(S, n, tau, kappa, stream(cp.seed, "notebook", "cascade", i), hours)
    for i in range(cp.replications)
])
cum = np.cumsum(paths, axis=1)
K = np.arange(1, hours + 1)
closed = [cascade.mean_cumulative_views(S, n, tau, kappa, k) for k in K]
half = t_two_sided(cp.alpha, cp.replications) * cum.std(axis=0, ddof=1) / np.sqrt(len(cum))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.fill_between(K, cum.mean(0) - half, cum.mean(0) + half, alpha=0.3,
                 label="simulated mean ± tolerance")
ax1.plot(K, closed, "k--", label="closed form C(K)")
ax1.axhline(S / (1 - n), color="grey", lw=0.8, label="S / (1 - n)")
ax1.set(xlabel="hours since publication", ylabel="cumulative views",
        title=f"S={S:g}, n={n:g}, τ={tau:g} h, κ={kappa:g} h")
ax1.legend()
ax2.plot(np.arange(hours), paths.mean(0), label="simulated views per hour")
ax2.plot(np.arange(hours), cascade.mean_views_per_hour(S, n, tau, kappa, hours), "k--",
         label="closed form")
ax2.set(xlabel="hour", ylabel="views per hour", title="views per hour")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Summary
#
# The rows below are the cascade check's own comparisons for these parameters (run
# `viralchain validate` for all six checks).

# %%
summary = pd.DataFrame([r.as_dict() for r in cascade.check(cp)])
assert summary.passed.all(), summary[~summary.passed]
summary[["check", "case", "quantity", "expected", "simulated", "tolerance", "passed"]]
