"""Bullwhip through the model: the model's own ratio against Chen et al. under i.i.d. demand.

:func:`sim.run` on the world of :func:`sim.validation.reduce.stationary_config`: Poisson
daily demand (AR(1) with ``ρ = 0``, the only AR(1) case the agent model's consumers produce:
their demand has no memory), the brand's order-up-to rule at one factory with ample
capacity, MOQ 1 and batch 1, the shipped ``fixed`` safety stock of ``k`` days of forecast,
daily reviews. The level is ``S_t = F_t·(lead + review)/24 + k·F_t``, so Chen et al.'s
``L`` is ``L' = (lead + review)/24 + k`` days (the lead time is the one the brand plans with,
:meth:`BrandNetwork.lead_time_hours`), and with ``ρ = 0``:

* moving average of ``p`` days: ``1 + 2L'/p + 2L'²/p²``;
* exponential smoothing ``α``: ``1 + 2L'α + 2L'²α²/(2 - α)``.

The simulated value is the model's ``bullwhip_ratio`` (:func:`sim.metrics.bullwhip_ratio`,
``var(daily production orders)/var(daily consumer demand)``) applied to each product's own
daily series after ``warmup_days`` (the KPI over a whole run includes the start-up, when
the forecasts have no history). Products are independent replications.

The formula assumes what the reduction must deliver, and two ``assumption`` rows check it
on every run: no sale lost (a stock-out would make orders follow sales instead of demand)
and no order clamped at zero (the formula lets orders be negative). An ``identity`` row
checks the order-up-to rule itself on the sample path, from records that do not use the
brand's inventory position: after every review, ``initial stock + units ordered so far -
demand so far`` (the true inventory position when nothing is lost, returned or scrapped)
minus the level ``S_t = F_t·L'`` (``F_t`` from the brand's own forecaster) lies in
``[0, 1)`` (orders are whole units) — Chen et al.'s ``q_t = S_t - S_{t-1} + D_{t-1}``.
An inventory position that forgets a pipeline stock breaks it. The daily orders are
whole units (the rounding adds ≤ 1/12 to ``var(q)``, below 0.1 %). The slow decay of demand
as consumers buy their unit adds a trend to both series; its computed effect on the ratio is
the row's signed bias.

**The documented deviation**: with the shipped MOQ rounding on (``moq_days`` of demand), an
order is either nothing or at least the MOQ: orders come in lumps and the ratio is far above
Chen et al.'s (``deviation`` row, one-sided). Zero-clamping is part of the same rule.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim import metrics
from sim.validation.params import NonNegative, Positive, PositiveInt
from sim.validation.reduce import daily, depletion_trend_variance, lead_hours, stationary_config
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_one_sided, t_two_sided

NAME = "bullwhip"


class ModelCase(BaseModel):
    """One forecast of the model's order-up-to rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forecast: Literal["moving_average", "exp_smoothing"] = Field(description="forecast policy")
    window: PositiveInt = Field(default=1, description="p: moving-average days")
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.3, description="exp. smoothing weight"
    )
    moq_days: NonNegative = Field(
        default=0.0,
        description="MOQ in days of mean demand (0: MOQ 1, the textbook case; > 0: the "
        "documented deviation)",
    )


class ModelBullwhipParams(BaseModel):
    """The model reduced to a single stationary stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_consumers: Annotated[int, Field(ge=1000)] = Field(description="N: consumers")
    mean_per_day: Positive = Field(description="μ: Poisson demand per product and day")
    days: Annotated[int, Field(ge=30)] = Field(description="days simulated per run")
    warmup_days: Annotated[int, Field(ge=0)] = Field(description="days not measured")
    runs: PositiveInt = Field(description="runs per case")
    products_per_run: PositiveInt = Field(description="identical independent products per run")
    days_of_cover: NonNegative = Field(description="k: the fixed safety stock, days")
    material_lead_hours: NonNegative = Field(description="materials lead time of the factory")
    cases: list[ModelCase] = Field(description="forecasts of the order-up-to rule")


def expected_ratio(case: ModelCase, cover_days: float) -> float:
    """Chen et al. with ``ρ = 0`` and ``L = cover_days``."""
    L = cover_days
    if case.forecast == "moving_average":
        return 1.0 + 2.0 * L / case.window + 2.0 * L * L / case.window**2
    a = case.alpha
    return 1.0 + 2.0 * L * a + 2.0 * L * L * a * a / (2.0 - a)


def label(case: ModelCase) -> str:
    """The row's case label."""
    what = f"MA p={case.window}" if case.forecast == "moving_average" else f"ES α={case.alpha:g}"
    return f"model: {what}" + (f" MOQ={case.moq_days:g} d" if case.moq_days else "")


def simulate(case: ModelCase, p: ModelBullwhipParams, seed: int) -> dict[str, list[float]]:
    """Per product: the model's ratio after the warm-up; per run: lost units and clamped days."""
    import sim

    policy = {
        "forecast": {"name": case.forecast, "window_days": case.window, "alpha": case.alpha},
        "safety_stock": {"name": "fixed", "days_of_cover": p.days_of_cover},
        "replenishment": {"review_period_hours": 24, "pilot_batch_units": 0},
    }
    kw = dict(
        n_consumers=p.n_consumers,
        mean_per_day=p.mean_per_day,
        days=p.days,
        products=p.products_per_run,
        material_lead_hours=p.material_lead_hours,
        moq_units=max(1, math.ceil(case.moq_days * p.mean_per_day)),
        policy=policy,
    )
    probe = stationary_config(**kw)  # type: ignore[arg-type]
    cover = (lead_hours(probe) + 24.0) / 24.0 + p.days_of_cover
    # start at the steady level (plus the first day, which has no history to order on)
    initial = math.ceil(p.mean_per_day * (cover + 1.0 + 1.0))
    cfg = stationary_config(**kw, initial_stock_units=initial)  # type: ignore[arg-type]
    out: dict[str, list[float]] = {
        "ratio": [],
        "lost": [],
        "clamped": [],
        "cover": [cover],
        "position_gap": [],
    }
    W = p.warmup_days
    for r in range(p.runs):
        res = sim.run(cfg, seed=seed * 1000 + r, keep_model=True)
        model = res.model
        brand = model.brands[0]
        totals = metrics.brand_totals(model, 0)
        for sku in range(p.products_per_run):
            d = daily(brand.sensing.hourly_demand[:, sku]).astype(float)[W:]
            q = brand.supply.daily_ordered[W:, sku].astype(float)
            one = dataclasses.replace(totals, daily_demand=d, daily_orders=q)
            out["ratio"].append(metrics.bullwhip_ratio(one))
            if not case.moq_days:
                out["position_gap"].append(position_gap(res, sku, initial, cover, W))
            if not case.moq_days:
                out["clamped"].append(float((q == 0).sum()))
        out["lost"].append(float(res.kpis["lost_sales_units"]))
    return out


def position_gap(res: Any, sku: int, initial: int, cover_days: float, warmup_days: int) -> float:
    """Largest ``|IP - S_t - 1/2|`` after the reviews of the measured days (≤ 1/2 when the
    order-up-to rule holds), with ``IP = initial + ordered - demand`` counted from the
    orders and the demand, not from the brand's inventory position."""
    model = res.model
    brand = model.brands[0]
    rp = res.config.policy.replenishment
    demand = np.cumsum(brand.sensing.hourly_demand[:, sku])
    ordered = np.cumsum(brand.supply.daily_ordered[:, sku])
    worst = 0.0
    for hour in range(rp.first_review_hour, model.horizon_hours, rp.review_period_hours):
        day = hour // 24
        if day < warmup_days or hour == 0:
            continue
        sig = brand.sensing.signals(sku, hour - 1, 0.0)
        level = max(0.0, brand.supply.forecaster.daily(sig)) * cover_days
        position = initial + float(ordered[day]) - float(demand[hour - 1])
        worst = max(worst, abs(position - level - 0.5))
    return worst


def rows(p: ModelBullwhipParams, alpha: float, seed: int) -> list[CheckRow]:
    """The textbook rows, the assumption rows and the MOQ deviation rows."""
    out: list[CheckRow] = []
    n = p.runs * p.products_per_run
    z2, z1 = t_two_sided(alpha, n), t_one_sided(alpha, n)
    mu_w, v_trend = depletion_trend_variance(p.mean_per_day, p.n_consumers, p.warmup_days, p.days)
    for case in p.cases:
        got = simulate(case, p, seed)
        cover = got["cover"][0]
        expected = expected_ratio(case, cover)
        m, se = mean_se(got["ratio"])
        tag = f"{label(case)} L'={cover:.3g} d"
        if case.moq_days:
            out.append(
                CheckRow(
                    NAME,
                    tag,
                    "var(q)/var(D) ≥ Chen (MOQ lumps orders)",
                    expected,
                    m,
                    se,
                    z1,
                    comparison="at_least",
                    n=n,
                    note="documented deviation: MOQ rounding and zero-clamping on",
                    via="model",
                    kind="deviation",
                )
            )
            continue
        # both series carry the demand's slow decay (variance v): (R·σ² + v)/(σ² + v) - R
        bias = (expected * mu_w + v_trend) / (mu_w + v_trend) - expected
        out.append(
            CheckRow(
                NAME,
                tag,
                "bullwhip_ratio (model) = Chen, ρ=0",
                expected,
                m,
                se,
                z2,
                bias=bias,
                bias_signed=True,
                n=n,
                note="Chen et al. 2000 with L' = (lead + review)/24 + k; bias: demand decay",
                via="model",
            )
        )
        out.append(
            CheckRow(
                NAME,
                tag,
                "order-up-to on the path: max |IP - S_t - 1/2|",
                0.5,
                max(got["position_gap"]),
                0.0,
                z2,
                comparison="at_most",
                bias=1e-6,
                n=n,
                note="IP = initial + ordered - demand (not the brand's own IP); S_t = F_t·L'",
                via="model",
                kind="identity",
            )
        )
        out.append(
            CheckRow(
                NAME,
                tag,
                "lost units + zero-order days (assumptions: 0)",
                0.0,
                float(sum(got["lost"]) + sum(got["clamped"])),
                0.0,
                z2,
                n=n,
                note="no stock-out (orders follow demand), no order clamped at zero",
                via="model",
                kind="assumption",
            )
        )
    return out
