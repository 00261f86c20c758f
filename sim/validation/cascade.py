"""Check 4, the self-exciting cascade: a short video's views are a discrete-time Hawkes
process with an exponential kernel (:class:`sim.content.Post`, the model's own class).

**The process** (see :mod:`sim.content`). A post with ``S`` expected follower ("seed")
views gets, in hour ``k ≥ 0``, Poisson follower views of mean ``s_k = S(1-r)r^k`` with
``r = exp(-1/τ)`` (τ = ``reach_decay_hours``), plus Poisson shared views of mean ``e_k``,
the excitation, which carries over hour to hour:
``e_{k+1} = d·e_k + n(1-d)·V_k`` with ``d = exp(-1/κ)`` (κ = ``share_kernel_hours``), ``n``
the branching ratio and ``V_k`` all views of hour ``k``. Each view has Poisson(``n``) direct
offspring in total.

**Closed forms.**

* mean total views ``S/(1-n)``; variance of the total ``S/(1-n)³`` (seed views are
  Poisson(S); each starts a Poisson(n) Galton–Watson tree whose size has mean ``1/(1-n)`` and
  variance ``n/(1-n)³``);
* mean views per hour: ``m_k = s_k + e_k`` with ``E[e_{k+1}] = a·E[e_k] + b·s_k``,
  ``a = d + n(1-d)``, ``b = n(1-d)``, so ``E[e_k] = bS(1-r)(a^k - r^k)/(a - r)``; the mean
  cumulative views by the end of hour ``K-1`` are
  ``C(K) = S(1-r^K) + bS(1-r)/(a-r)·[(1-a^K)/(1-a) - (1-r^K)/(1-r)]``
  (``a = r``: the limit, ``E[e_k] = bS(1-r)·k·r^(k-1)``). ``C(∞) = S/(1-n)``.

**Bias allowance** on the totals (computed, shown as ``bias``): a post stops drawing once
fewer than 0.01 expected seed views remain and the excitation would bring fewer than 0.01
more direct views, which drops at most ``0.02/(1-n)`` views in expectation; and a post is
simulated for at most ``max_hours``, which drops ``S/(1-n) - C(max_hours)`` in expectation
(closed form; about 4 views of 500 for n = 0.9, κ = 12 h, 600 h). The horizon cuts the
variance much more (the longest cascades carry most of it): 46,589 instead of 50,000 at
n = 0.9, κ = 12 h, 600 h, computed exactly by :func:`cumulative_moments` (a recursion of
the first and second moments); the variance row's signed bias is that difference. The stop
rule's effect on the variance (it drops at most ``0.02/(1-n)`` views in expectation, at the
end of the longest cascades) is not in the bias: below 0.5 % of the variance.

**Tolerance:** ``z·SE`` over independent posts (``replications``); for the variance, the
standard error of a sample variance, ``√((m₄ - s⁴)/R)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.content import Post
from sim.rng import stream
from sim.validation.params import Params, Positive, parse
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_two_sided

NAME = "cascade"
STOP_VIEWS = 0.01  # sim.content.Post stops below this many expected views (reach and cascade)


# ----------------------------------------------------------------------------- formulas


def _coefficients(n: float, tau: float, kappa: float) -> tuple[float, float, float]:
    r, d = math.exp(-1.0 / tau), math.exp(-1.0 / kappa)
    return r, d + n * (1.0 - d), n * (1.0 - d)


def mean_views_per_hour(S: float, n: float, tau: float, kappa: float, hours: int) -> np.ndarray:
    """Closed-form mean views in hours 0 .. hours-1."""
    r, a, b = _coefficients(n, tau, kappa)
    k = np.arange(hours, dtype=float)
    seed = S * (1.0 - r) * r**k
    if abs(a - r) > 1e-12:
        exc = b * S * (1.0 - r) * (a**k - r**k) / (a - r)
    else:
        exc = b * S * (1.0 - r) * k * r ** (k - 1.0)
    return seed + exc


def mean_cumulative_views(S: float, n: float, tau: float, kappa: float, K: int) -> float:
    """Closed-form mean views in the first ``K`` hours."""
    r, a, b = _coefficients(n, tau, kappa)
    if abs(a - r) <= 1e-12:
        return float(mean_views_per_hour(S, n, tau, kappa, K).sum())
    geo_a = (1.0 - a**K) / (1.0 - a)
    geo_r = (1.0 - r**K) / (1.0 - r)
    return S * (1.0 - r**K) + b * S * (1.0 - r) / (a - r) * (geo_a - geo_r)


def mean_total_views(S: float, n: float) -> float:
    """Mean total views of a post: seeds / (1 - branching ratio)."""
    return S / (1.0 - n)


def var_total_views(S: float, n: float) -> float:
    """Variance of the total views: S / (1 - n)^3."""
    return S / (1.0 - n) ** 3


def cumulative_moments(S: float, n: float, tau: float, kappa: float, K: int) -> tuple[float, float]:
    """Exact mean and variance of the views in the first ``K`` hours (no stop rule).

    The recursion of the first and second moments of ``(e_k, C_k)`` (excitation, cumulative
    views): given ``e_k``, ``V_k`` is Poisson with mean and variance ``s_k + e_k``, and
    ``e_{k+1} = a·e_k + b·s_k + b·ξ``, ``C_{k+1} = C_k + e_k + s_k + ξ`` with ``ξ = V_k - s_k
    - e_k`` (conditional mean 0, variance ``s_k + e_k``). As ``K → ∞`` the variance tends to
    ``S/(1-n)³``; a finite horizon cuts the longest cascades, which carry most of it.
    """
    r, a, b = _coefficients(n, tau, kappa)
    e = c = e2 = c2 = ec = 0.0
    for k in range(K):
        s = S * (1.0 - r) * r**k
        m = s + e
        e, c, e2, c2, ec = (
            a * e + b * s,
            c + m,
            a * a * e2 + 2.0 * a * b * s * e + b * b * s * s + b * b * m,
            c2 + e2 + s * s + 2.0 * ec + 2.0 * s * c + 2.0 * s * e + m,
            a * (ec + e2 + s * e) + b * s * (c + e + s) + b * m,
        )
    return c, c2 - c * c


def truncation_bias(n: float) -> float:
    """Bound on the expected views a post drops when it stops (see the module docstring)."""
    return 2.0 * STOP_VIEWS / (1.0 - n)


# ----------------------------------------------------------------------------- simulation


def _configs(n: float, tau: float, kappa: float):
    from sim.validation.params import default_content

    content = default_content()
    video = content.short_video.model_copy(
        update={"branching_ratio": n, "reach_decay_hours": tau, "share_kernel_hours": kappa}
    )
    return video, content.livestream


def simulate_post(
    S: float, n: float, tau: float, kappa: float, rng: np.random.Generator, max_hours: int
) -> np.ndarray:
    """Views per hour of one :class:`sim.content.Post` until it finishes (or ``max_hours``)."""
    video, live = _configs(n, tau, kappa)
    post = Post(
        post_id="validation",
        kol=0,
        kind="short_video",
        skus=np.array([0]),
        start_hour=0,
        duration_hours=1,
        expected_seed_views=S,
        rng=rng,
    )
    views = np.zeros(max_hours, dtype=np.int64)
    for h in range(max_hours):
        if post.finished:
            break
        f, o = post.views_this_hour(h, video, live)
        views[h] = f + o
    return views


# ----------------------------------------------------------------------------- the check


class CascadeCase(BaseModel):
    """One parameter set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed_views: Positive = Field(description="S: expected follower views of the post")
    branching_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(description="n (< 1)")
    reach_decay_hours: Positive = Field(description="τ: time constant of follower views")
    share_kernel_hours: Positive = Field(description="κ: time constant of the share kernel")


class CascadeParams(Params):
    """Parameters of the cascade check."""

    replications: Annotated[int, Field(ge=10)] = Field(description="independent posts per case")
    max_hours: Annotated[int, Field(ge=24)] = Field(description="hours simulated at most per post")
    checkpoints_hours: list[Annotated[int, Field(ge=1)]] = Field(
        description="hours K at which mean cumulative views C(K) are compared"
    )
    cases: list[CascadeCase] = Field(min_length=1, description="parameter sets")


def check(params: Mapping[str, Any] | CascadeParams) -> list[CheckRow]:
    """Every case: total views (mean and variance) and cumulative views at the checkpoints."""
    p = parse(NAME, CascadeParams, params)
    z = t_two_sided(p.alpha, p.replications)
    rows = []
    for c in p.cases:
        S, n = c.seed_views, c.branching_ratio
        tau, kappa = c.reach_decay_hours, c.share_kernel_hours
        label = f"S={S:g} n={n:g} tau={tau:g}h kappa={kappa:g}h"
        paths = np.stack(
            [
                simulate_post(
                    S, n, tau, kappa, stream(p.seed, "validation", NAME, label, i), p.max_hours
                )
                for i in range(p.replications)
            ]
        )
        totals = paths.sum(axis=1).astype(float)
        bias = (
            truncation_bias(n)
            + mean_total_views(S, n)
            - mean_cumulative_views(S, n, tau, kappa, p.max_hours)
        )
        m, se = mean_se(totals)
        rows.append(
            CheckRow(
                NAME,
                label,
                "mean total views = S/(1-n)",
                mean_total_views(S, n),
                m,
                se,
                z,
                bias=-bias,  # the stop rule and the horizon only ever drop views
                bias_signed=True,
                n=p.replications,
                note="Hawkes branching; bias: stop rule and horizon (one-sided, below)",
                via="model",
            )
        )
        dev = totals - m
        s2 = float(dev.var(ddof=1))
        # the horizon cuts the longest cascades: the exact variance of the views in max_hours
        var_horizon = cumulative_moments(S, n, tau, kappa, p.max_hours)[1]
        se_var = math.sqrt(max(float(np.mean(dev**4)) - s2 * s2, 0.0) / len(totals))
        rows.append(
            CheckRow(
                NAME,
                label,
                "var total views = S/(1-n)^3",
                var_total_views(S, n),
                s2,
                se_var,
                z,
                bias=var_horizon - var_total_views(S, n),  # the horizon only ever cuts it
                bias_signed=True,
                n=p.replications,
                note="Poisson(S) seeds x Borel trees; bias: the horizon (exact, one-sided)",
                via="model",
            )
        )
        cum = np.cumsum(paths, axis=1)
        for K in (k for k in p.checkpoints_hours if k <= p.max_hours):
            m, se = mean_se(cum[:, K - 1].astype(float))
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    f"mean views by hour {K}",
                    mean_cumulative_views(S, n, tau, kappa, K),
                    m,
                    se,
                    z,
                    n=p.replications,
                    note="closed form of the discrete kernel",
                    via="model",
                )
            )
    return rows
