"""Process flexibility through the model: the brand's factory network under dedicated,
paired, chained and full ``skus`` relations against Jordan & Graves (1995).

**The world** (:func:`world`, on :func:`sim.validation.reduce.stationary_config`). ``copies``
independent markets in one run, each ``n`` products and ``n`` regular factories of
capacity ``c`` units a day whose ``skus`` relation is the design (copies share no factory).
Demand is organic only: Poisson, ``μ`` per product and day. Nothing is in stock and presale
is open from the end of hour 0 (patient buyers): every buyer of hours 1 to 24 pre-orders, so
at the review of hour 25 the brand's backlog of product ``i`` is that day's demand ``D_i``
(hour 0's buyers find presale not yet open and are lost: they are not counted). The
brand's forecast knows a mean of 0 and holds no safety stock (naive order-up-to), so the
need is the backlog, and the ``max_flow`` sourcing allocates the needs over the factories
that make each product, each offering a day of capacity: what the network can make in the
period is ordered, the rest is not (Jordan & Graves's one-period sales, ``min over product
sets A of [D(not A) + c(plants linked to A)]``, if the allocation is optimal).

**Compared.** The units the brand ordered per market (the model's allocation, from its
records) against, with Poisson demand (the model's):

* dedicated: ``n·E[min(D, c)]``, ``D ~ Poisson(μ)``; full flexibility:
  ``E[min(ΣD, n·c)]``, ``ΣD ~ Poisson(nμ)`` (exact sums);
* the long chain sells more than pairs (paired: every design's run uses the same seed, so
  the same buyers; one-sided), and, when ``min_benefit_share`` is set, captures more than
  that share of the full-flexibility gain;
* ``identity`` rows: the model's allocation equals the maximum flow on the demand it
  recorded, on every market (:func:`sim.validation.flexibility.max_sales`), and the
  orderings true by construction (pairs ≥ dedicated, full ≥ the long chain);
* ``assumption`` row: no sale lost, and the backlog at the review is the first day's demand.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.validation.params import OpenUnit, PositiveInt
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, ratio_se, t_one_sided, t_two_sided

NAME = "flexibility"
REVIEW_HOUR = 25  # presale opens at the end of hour 0: the market's day is hours 1 .. 24


def poisson_min(mean: float, cap: float) -> float:
    """``E[min(D, cap)]`` for ``D ~ Poisson(mean)`` (exact sum)."""
    top = int(cap)
    k = np.arange(top + 1, dtype=float)
    pmf = np.exp(k * math.log(mean) - mean - np.array([math.lgamma(x + 1.0) for x in k]))
    below = float((k * pmf).sum())  # Σ_{k ≤ cap} k p(k)
    return below + cap * max(0.0, 1.0 - float(pmf.sum()))


class ModelFlexParams(BaseModel):
    """The brand's factory network reduced to Jordan & Graves's one-period setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: Annotated[int, Field(ge=2, le=12)] = Field(description="products = factories per market")
    mean_per_day: Annotated[float, Field(gt=0.0)] = Field(
        description="μ: Poisson demand per product and day"
    )
    capacity: PositiveInt = Field(description="c: units per factory and day")
    copies: PositiveInt = Field(description="independent markets per run")
    runs: PositiveInt = Field(description="runs per design (seed r is shared by the designs)")
    n_consumers: Annotated[int, Field(ge=1000)] = Field(description="N: consumers")
    min_benefit_share: OpenUnit | None = Field(
        description="the long chain's share of the full-flexibility gain must exceed this "
        "(null: not claimed)"
    )


def world(name: str, p: ModelFlexParams) -> Any:
    """The reduced world of one design (module docstring)."""
    import sim
    from sim.validation.flexibility import design
    from sim.validation.reduce import stationary_config

    n, K = p.n, p.copies
    base = stationary_config(
        n_consumers=p.n_consumers,
        mean_per_day=p.mean_per_day,
        days=2,
        products=n * K,
        material_lead_hours=0.0,
        initial_stock_units=0,
        factory_far=False,
        overrides=["policy/sourcing=max_flow", "policy/presale=on"],
        policy={
            "forecast": {"name": "known_mean", "mean_units_per_day": 0.0},
            "safety_stock": {"name": "fixed", "days_of_cover": 0.0},
            "replenishment": {
                "review_period_hours": 24,
                "first_review_hour": REVIEW_HOUR,
                "pilot_batch_units": 0,
                "planner": "naive",
            },
            "presale": {"open_when": "always", "start_hour": 0, "max_backlog_units": 0},
        },
    )
    d = base.to_dict()
    products = list(d["brand"]["products"])
    name0, fac = next(iter(d["supply"]["factories"].items()))
    links = design(name, n)
    d["supply"]["factories"] = {
        f"{name0}_{k}_{j}": {
            **fac,
            "capacity_units_per_day": float(p.capacity),
            "skus": [products[k * n + i] for i in range(n) if links[i, j]],
        }
        for k in range(K)
        for j in range(n)
    }
    return sim.validate(d)


def simulate(p: ModelFlexParams, seed: int) -> dict[str, Any]:
    """Per design: each market's demand (first day) and the units the brand ordered."""
    from sim.model import build_model
    from sim.validation.flexibility import DESIGNS

    n, K = p.n, p.copies
    out: dict[str, Any] = {d: {"demand": [], "ordered": []} for d in DESIGNS}
    out["lost"] = 0.0
    out["backlog_gap"] = 0.0
    for name in DESIGNS:
        cfg = world(name, p)
        for r in range(p.runs):
            model = build_model(cfg, seed * 1000 + r)
            model.run_for(REVIEW_HOUR + 1)  # through the review of hour 24
            brand = model.brands[0]
            hourly = brand.sensing.hourly_demand
            demand = hourly[1:REVIEW_HOUR].sum(axis=0)[: n * K]
            backlog = brand.selling.backlog_units[: n * K]
            ordered = brand.supply.daily_ordered[REVIEW_HOUR // 24, : n * K]
            # hour 0's buyers find presale not yet open (it opens as the hour ends)
            out["lost"] += float(model.ledger.units["lost"].sum() - hourly[0].sum())
            # the backlog at the review: the first day's demand plus the review hour's buyers
            extra = hourly[REVIEW_HOUR, : n * K]
            out["backlog_gap"] = max(
                out["backlog_gap"], float(np.abs(backlog - demand - extra).max())
            )
            out[name]["demand"].append(demand.reshape(K, n).astype(float))
            out[name]["ordered"].append(ordered.reshape(K, n).sum(axis=1).astype(float))
    for name in DESIGNS:
        out[name]["demand"] = np.concatenate(out[name]["demand"])
        out[name]["ordered"] = np.concatenate(out[name]["ordered"])
    return out


def rows(p: ModelFlexParams, alpha: float, seed: int) -> list[CheckRow]:
    """Expected sales, orderings, the allocation identity and the assumptions."""
    from sim.validation.flexibility import DESIGNS, design, max_sales

    n, c = p.n, float(p.capacity)
    draws = p.copies * p.runs
    z2, z1 = t_two_sided(alpha, draws), t_one_sided(alpha, draws)
    got = simulate(p, seed)
    sales = {d: got[d]["ordered"] for d in DESIGNS}
    label = f"model: n={n} Poisson μ={p.mean_per_day:g}/d c={p.capacity}/d"
    out: list[CheckRow] = []
    kw: dict[str, Any] = {"n": draws, "via": "model"}
    for name, expected, note in (
        ("dedicated", n * poisson_min(p.mean_per_day, c), "n·E[min(D,c)], D Poisson"),
        ("full", poisson_min(n * p.mean_per_day, n * c), "E[min(ΣD, nc)], ΣD Poisson"),
    ):
        m, se = mean_se(sales[name])
        out.append(
            CheckRow(NAME, label, f"units ordered, {name}", expected, m, se, z2, note=note, **kw)
        )
    for lo, hi, kind in (
        ("dedicated", "pairs", "identity"),
        ("pairs", "long_chain", "textbook"),
    ):
        m, se = mean_se(sales[hi] - sales[lo])
        out.append(
            CheckRow(
                NAME,
                label,
                f"units ordered {hi} - {lo} > 0",
                0.0,
                m,
                se,
                z1,
                comparison="greater",
                note="Jordan & Graves ordering (paired: the same buyers)",
                kind=kind,
                **kw,
            )
        )
    m, se = mean_se(sales["full"] - sales["long_chain"])
    out.append(
        CheckRow(
            NAME,
            label,
            "units ordered full - long_chain ≥ 0",
            0.0,
            m,
            se,
            z1,
            comparison="at_least",
            note="holds by construction (full flexibility contains the chain)",
            kind="identity",
            **kw,
        )
    )
    if p.min_benefit_share is not None:
        share, se = ratio_se(
            sales["long_chain"] - sales["dedicated"], sales["full"] - sales["dedicated"]
        )
        out.append(
            CheckRow(
                NAME,
                label,
                "long chain's share of full-flexibility benefit",
                p.min_benefit_share,
                share,
                se,
                z1,
                comparison="greater",
                note="Jordan & Graves: the chain captures most of the benefit",
                **kw,
            )
        )
    gap = 0.0
    for name in DESIGNS:
        best = max_sales(got[name]["demand"], np.full(n, c), design(name, n))
        gap = max(gap, float(np.abs(best - got[name]["ordered"]).max()))
    out.append(
        CheckRow(
            NAME,
            label,
            "allocation - max-flow on the recorded demand (max |gap|)",
            0.0,
            gap,
            0.0,
            z2,
            note="the max_flow sourcing is optimal on every market",
            kind="identity",
            **kw,
        )
    )
    out.append(
        CheckRow(
            NAME,
            label,
            "lost units + |backlog - demand| (assumptions: 0)",
            0.0,
            got["lost"] + got["backlog_gap"],
            0.0,
            z2,
            note="every buyer pre-orders; the need at the review is the backlog",
            kind="assumption",
            **kw,
        )
    )
    return out
