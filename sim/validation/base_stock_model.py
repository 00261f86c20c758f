"""Base stock through the model: the brand's fill rate and cycle service level under a
fixed order-up-to level, against the exact lost-sales base-stock chain.

**The setting.** :func:`sim.run` on the world of
:func:`sim.validation.reduce.stationary_config` with the factory in the warehouse's region:
every product's demand is Poisson, ``μ`` a day (``μ/24`` an hour, independent hours). The
brand reviews every ``R`` hours with the ``known_mean`` forecast (the mean is known, the
textbook base-stock setting) and the naive order-up-to planner, so its level is the fixed
``S = μ·(lead + R)/24 + k·μ`` (``lead`` the lead time it plans with, ``k`` days of fixed
safety stock) and it orders ``⌈S - IP⌉`` (MOQ 1, batch 1): the base-stock policy with the
level ``S* = ⌈S⌉``.

**Lost sales, not backorders.** The model turns away a buyer who finds the shelf empty; the
backorder formulas of the standalone check do not apply (a lost sale does not lower the
inventory position, so the next order is smaller). The exact comparison is the lost-sales
base-stock chain, solvable when the order arrives within the review period (lead < R, which
the reduction ensures: the goods reach the shelf ``ℓ`` hours after the review, ``ℓ`` < R).
At a review the position is the shelf ``x`` (nothing is on the way); the order is
``S* - x``; demand ``D₁ ~ Poisson(μℓ₁/24)`` arrives before the goods (``ℓ₁`` hours), is
served from ``x`` and the rest lost; then the shelf holds ``y = (x - D₁)⁺ + S* - x`` and
demand ``D₂ ~ Poisson(μ(R - ℓ₁)/24)`` takes ``x' = (y - D₂)⁺`` to the next review. The
chain on ``x ∈ {0 … S*}`` is solved exactly (its stationary law by iteration):

* fill rate ``= E[min(x, D₁) + min(y, D₂)]/(μR/24)``;
* cycle service level (no buyer turned away between two reviews)
  ``= P(D₁ ≤ x, D₂ ≤ y)``.

(The lost-sales model with a lead time shorter than the review period, e.g. Hadley & Whitin
1963, *Analysis of Inventory Systems*, ch. 5; Zipkin 2000, *Foundations of Inventory
Management*, §7.)

``ℓ₁`` — how many hours of demand come between the review's snapshot and the goods on the
shelf — is a property of the model's schedule (review hour, production, the line-haul's
cut-off and trip). It is read from the run: the value for which the chain's recursion
``x' = ((x - D₁)⁺ + S* - x - D₂)⁺`` reproduces every review's order ``S* - x`` from the
recorded hourly demand. An ``identity`` row reports how many reviews it misses (0: the
model's order-up-to rule, lost sales and deliveries are exactly the chain); the textbook rows
compare the model's own records — units sold over units demanded, and the share of review
cycles without a lost unit — with the chain's stationary values. An ``assumption`` row
checks that every order arrived within its review period.

The factory makes one product an hour (a product change waits for the next hour), so the
products are kept few enough that every order of a review makes the day's line-haul cut-off.
The replications are the products (each its own demand stream) times ``blocks`` of
consecutive review cycles of each (the chain forgets its state within a few cycles); the first
``warmup_reviews`` reviews are not measured.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.validation.params import NonNegative, Positive, PositiveInt
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_two_sided

NAME = "base_stock"

# ----------------------------------------------------------------------------- theory


def _pmf(lam: float, top: int) -> np.ndarray:
    """Poisson(lam) probabilities of 0 .. top - 1 and the tail mass in the last cell."""
    k = np.arange(top, dtype=float)
    pmf = np.exp(k * math.log(lam) - lam - np.array([math.lgamma(x + 1.0) for x in k]))
    return np.append(pmf, max(0.0, 1.0 - float(pmf.sum())))


def lost_sales_chain(
    S: int, per_hour: float, before_hours: int, review_hours: int
) -> dict[str, float]:
    """Stationary fill rate and cycle service level of the lost-sales base-stock chain
    (module docstring): level ``S``, Poisson demand ``per_hour``, ``before_hours`` hours of
    demand before the order arrives, ``review_hours`` per cycle."""
    if not 0 <= before_hours <= review_hours:
        raise ValueError(f"before_hours = {before_hours}: must be within [0, {review_hours}]")
    p1 = _pmf(per_hour * before_hours, S + 1) if before_hours else np.append(1.0, np.zeros(S + 1))
    after = review_hours - before_hours
    p2 = _pmf(per_hour * after, S + 1) if after else np.append(1.0, np.zeros(S + 1))
    n = S + 1
    T = np.zeros((n, n))
    sales = np.zeros(n)
    served_all = np.zeros(n)
    for x in range(n):
        for d1 in range(S + 2):  # d1 = S + 1 stands for "more than S"
            w1 = p1[d1]
            if w1 == 0.0:
                continue
            y = max(x - d1, 0) + S - x
            s1 = min(x, d1)
            ok1 = d1 <= x
            for d2 in range(S + 2):
                w = w1 * p2[d2]
                if w == 0.0:
                    continue
                T[x, max(y - d2, 0)] += w
                sales[x] += w * (s1 + min(y, d2))
                served_all[x] += w * (ok1 and d2 <= y)
    pi = np.full(n, 1.0 / n)
    for _ in range(100_000):
        nxt = pi @ T
        if float(np.abs(nxt - pi).sum()) < 1e-14:
            pi = nxt
            break
        pi = nxt
    return {
        "fill_rate": float(pi @ sales) / (per_hour * review_hours),
        "cycle_service_level": float(pi @ served_all),
    }


# ----------------------------------------------------------------------------- the check


class ModelBaseStockCase(BaseModel):
    """One base-stock setting of the brand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean_per_day: Positive = Field(description="μ: Poisson demand per product and day")
    review_hours: Annotated[int, Field(ge=24)] = Field(description="R: hours between reviews")
    days_of_cover: NonNegative = Field(description="k: fixed safety stock, days of μ")


class ModelBaseStockParams(BaseModel):
    """The brand's base-stock policy in the reduced world."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_consumers: Annotated[int, Field(ge=1000)] = Field(description="N: consumers")
    products: Annotated[int, Field(ge=2, le=12)] = Field(
        description="identical products (replications; few enough to make the cut-off)"
    )
    days: Annotated[int, Field(ge=30)] = Field(description="days simulated per run")
    warmup_reviews: Annotated[int, Field(ge=1)] = Field(description="reviews not measured")
    runs: PositiveInt = Field(description="runs per case")
    blocks: PositiveInt = Field(
        description="blocks of consecutive measured reviews per product (replications = runs "
        "x products x blocks)"
    )
    cases: list[ModelBaseStockCase] = Field(min_length=1, description="settings")


def _config(case: ModelBaseStockCase, p: ModelBaseStockParams, initial: int) -> Any:
    from sim.validation.reduce import stationary_config

    return stationary_config(
        n_consumers=p.n_consumers,
        mean_per_day=case.mean_per_day,
        days=p.days,
        products=p.products,
        material_lead_hours=0.0,
        initial_stock_units=initial,
        factory_far=False,
        policy={
            "forecast": {"name": "known_mean", "mean_units_per_day": case.mean_per_day},
            "safety_stock": {"name": "fixed", "days_of_cover": case.days_of_cover},
            "replenishment": {
                "review_period_hours": case.review_hours,
                "first_review_hour": 0,
                "pilot_batch_units": 0,
                "planner": "naive",
            },
        },
    )


def level(case: ModelBaseStockCase, p: ModelBaseStockParams) -> tuple[float, int]:
    """(S, S*): the brand's order-up-to level and the whole units it orders up to."""
    from sim.validation.reduce import lead_hours

    lead = lead_hours(_config(case, p, 0))
    S = case.mean_per_day * ((lead + case.review_hours) / 24.0 + case.days_of_cover)
    return S, math.ceil(S - 1e-9)


def simulate(case: ModelBaseStockCase, p: ModelBaseStockParams, seed: int) -> dict[str, Any]:
    """Per product: fill rate and cycle service level of the measured reviews; per case: the
    hours of demand before the goods arrive (read from the path), the reviews the chain
    misses and the orders that arrived after the next review."""
    from sim.model import build_model

    _, s_star = level(case, p)
    cfg = _config(case, p, s_star)
    R, P = case.review_hours, p.products
    H = p.days * 24
    reviews = np.arange(0, H - R, R)
    out: dict[str, Any] = {"fill": [], "csl": [], "misses": 0, "late": 0, "before": []}
    for r in range(p.runs):
        model = build_model(cfg, seed * 1000 + r)
        brand, w = model.brands[0], model.warehouses[0]
        lost = np.zeros((H, P), dtype=np.int64)
        shelf = np.zeros((H, P), dtype=np.int64)
        prev = np.zeros(P, dtype=np.int64)
        for h in range(H):
            model.run_for(1)
            cur = model.ledger.units["lost"][:P].copy()
            lost[h], prev = cur - prev, cur
            shelf[h] = w.on_hand[:P] - w.reserved[:P]
        demand = brand.sensing.hourly_demand[:H, :P].astype(np.int64)
        ordered = brand.supply.daily_ordered[reviews // 24, :P].astype(np.int64)
        x = s_star - ordered  # the shelf at each review (nothing is on the way)
        # the hours of demand before the goods arrive: the split the recursion reproduces
        best = None
        for l1 in range(R + 1):
            cum = np.vstack([np.zeros(P, dtype=np.int64), np.cumsum(demand, axis=0)])
            d1 = cum[reviews + l1] - cum[reviews]
            d2 = cum[reviews + R] - cum[reviews + l1]
            pred = np.maximum(np.maximum(x - d1, 0) + ordered - d2, 0)
            miss = int((pred[1:-1] != x[2:]).sum())  # the first review has no history
            if best is None or miss < best[0]:
                best = (miss, l1)
        assert best is not None
        out["misses"] += best[0]
        out["before"].append(best[1])
        # arrivals: every order is on the shelf before the next review
        sold = demand - lost
        jump = np.diff(np.vstack([shelf[:1], shelf]), axis=0) + sold
        for i, t in enumerate(reviews[1:-1], start=1):
            got = jump[t : t + R].clip(min=0).sum(axis=0)
            out["late"] += int((got < ordered[i]).sum())
        measured = reviews[p.warmup_reviews :]
        for block in np.array_split(measured[:-1], p.blocks):
            if len(block) == 0:
                raise ValueError(f"blocks = {p.blocks}: more than the measured reviews")
            lo, hi = int(block[0]), int(block[-1]) + R
            dem = demand[lo:hi].sum(axis=0)
            out["fill"].extend((sold[lo:hi].sum(axis=0) / np.maximum(dem, 1)).tolist())
            cyc = lost[lo:hi].reshape(-1, R, P).sum(axis=1)
            out["csl"].extend((cyc == 0).mean(axis=0).tolist())
    return out


def rows(p: ModelBaseStockParams, alpha: float, seed: int) -> list[CheckRow]:
    """The fill rate, cycle service level, chain identity and arrival assumption per case."""
    out: list[CheckRow] = []
    n = p.runs * p.products * p.blocks
    z = t_two_sided(alpha, n)
    for case in p.cases:
        _, s_star = level(case, p)
        got = simulate(case, p, seed)
        l1 = int(np.bincount(got["before"]).argmax())
        theory = lost_sales_chain(s_star, case.mean_per_day / 24.0, l1, case.review_hours)
        label = (
            f"model: μ={case.mean_per_day:g}/d R={case.review_hours} h k={case.days_of_cover:g} d "
            f"(S*={s_star}, ℓ₁={l1} h)"
        )
        for quantity, key, sim_key in (
            ("fill rate (lost sales)", "fill_rate", "fill"),
            ("cycle service level (lost sales)", "cycle_service_level", "csl"),
        ):
            m, se = mean_se(got[sim_key])
            out.append(
                CheckRow(
                    NAME,
                    label,
                    quantity,
                    theory[key],
                    m,
                    se,
                    z,
                    n=n,
                    note="exact lost-sales base-stock chain (lead < review), Poisson demand",
                    via="model",
                )
            )
        out.append(
            CheckRow.exact_zero(
                NAME,
                label,
                "reviews the chain's recursion misses (order = S* - shelf)",
                got["misses"],
                z,
                n,
                "order-up-to S*, lost sales and deliveries on the recorded path",
                "identity",
            )
        )
        out.append(
            CheckRow.exact_zero(
                NAME,
                label,
                "orders not on the shelf by the next review (assumption: 0)",
                got["late"],
                z,
                n,
                "the chain needs lead < review period",
                "assumption",
            )
        )
    return out
