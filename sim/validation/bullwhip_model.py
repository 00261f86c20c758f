"""Bullwhip through the model: the model's own ratio against Chen et al., i.i.d. demand and
demand with memory.

:func:`sim.run` on the world of :func:`sim.validation.reduce.stationary_config`: Poisson
daily demand (AR(1) with ``ρ = 0``: the consumers' demand has no memory of its own; cases
with ``log_sd > 0`` give it memory, below), the brand's order-up-to rule at one factory with ample
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

**Demand with memory** (cases with ``rho`` and ``log_sd``): ``market.organic.memory``
multiplies each product's organic rate on day ``d`` by ``M_d = exp(x_d - s²/2)``, ``x`` a
stationary AR(1) (coefficient ``ρ``, sd ``s``) per product, so daily demand is Poisson
around an AR(1)-driven mean: not an AR(1) series (an AR(1) signal plus white noise), with
``γ(0) = μ + μ²(e^{s²} - 1)`` and ``γ(k) = μ²(e^{s²ρ^k} - 1)``
(:func:`demand_autocovariance`). Chen et al.'s order ``q_t = S_t - S_{t-1} + D_{t-1}`` with
the moving-average or exponential-smoothing forecast is a linear filter of demand,
``q_t = Σ_k h_k D_{t-k}`` (:func:`order_filter`), so ``var(q)/var(D) =
Σ_i Σ_j h_i h_j γ(i - j)/γ(0)`` exactly (:func:`ratio_of_filter`); with ``γ(k) = ρ^k`` it is
Chen et al.'s closed form ``1 + (2L/p + 2L²/p²)(1 - ρ^p)`` (tested). These cases review at
midnight (``first_review_hour`` 24) so that the days between reviews are the days over which
the rate is constant. The ratio of sample variances over a finite run falls short of the
stationary one (the sample variance of an autocorrelated series is short by ``var(mean)``,
more for demand than for orders); :func:`finite_sample_ratio` computes that from ``γ`` and it
is part of the row's signed bias.

**Per echelon**: the reduction buys materials per job (``supply.materials.mode=per_job``),
so the factory passes the brand's orders through day by day and ``factory_bullwhip_ratio``
is 1 (an ``identity`` row); the upstream ratio is then the brand's. A forecasting factory
(``stock`` materials, its own order-up-to on a 7-day mean of the orders it receives) is not
compared with theory.

**The documented deviation**: with the shipped MOQ rounding on (``moq_days`` of demand), an
order is either nothing or at least the MOQ: orders come in lumps and the ratio is far above
Chen et al.'s (``deviation`` row, one-sided). Zero-clamping is part of the same rule.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim import metrics
from sim.validation.params import Correlation, NonNegative, Positive, PositiveInt
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
    rho: Correlation = Field(
        default=0.0,
        description="demand with memory: AR(1) coefficient of the log organic rate, per day "
        "(market.organic.memory; used when log_sd > 0)",
    )
    log_sd: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        default=0.0,
        description="demand with memory: stationary sd of the log organic rate (0: i.i.d. "
        "Poisson demand, no memory)",
    )

    @model_validator(mode="after")
    def _rho_needs_log_sd(self) -> ModelCase:
        if self.rho != 0.0 and self.log_sd == 0.0:
            raise ValueError(
                f"rho={self.rho:g} needs log_sd > 0 (with log_sd 0 demand has no memory)"
            )
        return self


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


def order_filter(case: ModelCase, cover_days: float, tol: float = 1e-13) -> np.ndarray:
    """Impulse response ``h`` (lag 0 first) of the order-up-to rule's orders on demand,
    ``q_t = Σ_k h_k D_{t-k}``: from ``q_t = L·(F_t - F_{t-1}) + D_{t-1}`` with ``F_t`` the
    forecast from ``D_{t-1}, D_{t-2}, …``. Moving average of ``p`` days:
    ``h_1 = 1 + L/p``, ``h_{p+1} = -L/p``; exponential smoothing ``α`` (``β = 1 - α``):
    ``h_1 = 1 + Lα``, ``h_k = -Lα²β^{k-2}`` for ``k ≥ 2``, cut where ``β^k < tol``."""
    L = cover_days
    if case.forecast == "moving_average":
        h = np.zeros(case.window + 2)
        h[1] = 1.0 + L / case.window
        h[case.window + 1] = -L / case.window
        return h
    a, b = case.alpha, 1.0 - case.alpha
    n = 2 if b == 0.0 else 2 + max(1, math.ceil(math.log(tol) / math.log(b)))
    h = np.zeros(n)
    h[1] = 1.0 + L * a
    h[2:] = -L * a * a * b ** np.arange(n - 2)
    return h


def ratio_of_filter(h: np.ndarray, autocovariance: np.ndarray) -> float:
    """``var(Σ_k h_k D_{t-k}) / var(D) = Σ_i Σ_j h_i h_j γ(|i - j|) / γ(0)`` for stationary
    demand with autocovariance ``γ`` (``autocovariance[k] = γ(k)``, at least ``len(h)`` lags)."""
    lags = np.abs(np.subtract.outer(np.arange(len(h)), np.arange(len(h))))
    return float(h @ autocovariance[lags] @ h / autocovariance[0])


def demand_autocovariance(mean_per_day: float, rho: float, log_sd: float, lags: int) -> np.ndarray:
    """``γ(k)``, ``k = 0 .. lags-1``, of daily demand ``D_d ~ Poisson(μ·M_d)`` with the
    log-normal AR(1) multiplier ``M_d = exp(x_d - s²/2)`` (``market.organic.memory``):
    ``γ(0) = μ + μ²(e^{s²} - 1)``, ``γ(k) = μ²(e^{s²ρ^k} - 1)`` (the Poisson noise is
    independent from day to day; ``cov(M_d, M_{d+k}) = e^{s²ρ^k} - 1``). Not an AR(1)
    series: an AR(1) signal plus white noise (ARMA(1,1)-like in the linear scale)."""
    k = np.arange(lags, dtype=float)
    mu2 = mean_per_day * mean_per_day
    gamma = mu2 * np.expm1(log_sd * log_sd * rho**k)
    gamma[0] += mean_per_day
    return gamma


def finite_sample_ratio(h: np.ndarray, autocovariance: np.ndarray, days: int) -> float:
    """``E[s²(q)]/E[s²(D)]`` over ``days`` days: the sample variances of an autocorrelated
    series fall short of ``γ(0)`` by ``var(mean)``, ``E[s²] = n/(n-1)·(γ(0) - Σ_{|k|<n}
    (n-|k|)γ(k)/n²)``, and more for demand than for orders. ``autocovariance`` needs
    ``days + len(h)`` lags; ``γ_q(k) = Σ_i Σ_j h_i h_j γ(|k + i - j|)``."""
    n, m = days, len(h)
    shift = np.subtract.outer(np.arange(m), np.arange(m))
    gamma_q = np.array([h @ autocovariance[np.abs(k + shift)] @ h for k in range(n)])

    def sample_variance(g: np.ndarray) -> float:
        k = np.arange(1, n)
        var_mean = (n * g[0] + 2.0 * float(((n - k) * g[1:n]).sum())) / (n * n)
        return n / (n - 1) * (g[0] - var_mean)

    return sample_variance(gamma_q) / sample_variance(autocovariance[:n])


def expected_ratio_with_memory(case: ModelCase, cover_days: float, mean_per_day: float) -> float:
    """Chen et al.'s ratio for the case's demand: from the order filter and the demand's
    autocovariance (equal to :func:`expected_ratio` when ``log_sd = 0``)."""
    h = order_filter(case, cover_days)
    gamma = demand_autocovariance(mean_per_day, case.rho, case.log_sd, len(h))
    return ratio_of_filter(h, gamma)


def label(case: ModelCase) -> str:
    """The row's case label."""
    what = f"MA p={case.window}" if case.forecast == "moving_average" else f"ES α={case.alpha:g}"
    memory = f" AR(1) ρ={case.rho:g} s={case.log_sd:g}" if case.log_sd else ""
    return f"model: {what}{memory}" + (f" MOQ={case.moq_days:g} d" if case.moq_days else "")


def simulate(case: ModelCase, p: ModelBullwhipParams, seed: int) -> dict[str, list[float]]:
    """Per product: the model's ratio after the warm-up; per run: lost units and clamped days."""
    import sim

    policy = {
        "forecast": {"name": case.forecast, "window_days": case.window, "alpha": case.alpha},
        "safety_stock": {"name": "fixed", "days_of_cover": p.days_of_cover},
        "replenishment": {"review_period_hours": 24, "pilot_batch_units": 0},
    }
    if case.log_sd:  # review at midnight: the days between reviews are the demand's days
        policy["replenishment"]["first_review_hour"] = 24
    kw = dict(
        n_consumers=p.n_consumers,
        mean_per_day=p.mean_per_day,
        days=p.days,
        products=p.products_per_run,
        material_lead_hours=p.material_lead_hours,
        moq_units=max(1, math.ceil(case.moq_days * p.mean_per_day)),
        policy=policy,
        memory={"rho": case.rho, "log_sd": case.log_sd} if case.log_sd else None,
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
        "factory": [],
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
        # the factory echelon: per-job materials pass the brand's orders through, day by day.
        # factory_bullwhip_ratio's formula on the measured days; the KPI itself calls the sum
        # of many products' orders "nearly flat" (CV < 5 %) and leaves it undefined
        brand_orders = totals.daily_orders[W:]
        materials = totals.daily_material_orders[W:]
        out["factory"].append(float(np.var(materials) / np.var(brand_orders)))
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
        expected = (
            expected_ratio_with_memory(case, cover, p.mean_per_day)
            if case.log_sd
            else expected_ratio(case, cover)
        )
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
        var_d = mu_w + mu_w * mu_w * math.expm1(case.log_sd**2)
        bias = (expected * var_d + v_trend) / (var_d + v_trend) - expected
        if case.log_sd:  # and the sample variances' shortfall over the measured days
            h = order_filter(case, cover)
            days = p.days - p.warmup_days
            gamma = demand_autocovariance(p.mean_per_day, case.rho, case.log_sd, days + len(h))
            bias += finite_sample_ratio(h, gamma, days) - expected
        out.append(
            CheckRow(
                NAME,
                tag,
                "bullwhip_ratio (model) = Chen, " + ("from γ(k)" if case.log_sd else "ρ=0"),
                expected,
                m,
                se,
                z2,
                bias=bias,
                bias_signed=True,
                n=n,
                note="Chen et al. 2000 with L' = (lead + review)/24 + k"
                + ("; var(q)/var(D) = Σ h_i h_j γ(i-j)/γ(0)" if case.log_sd else "")
                + "; bias: demand decay",
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
                "var(material orders)/var(brand orders) (factory echelon) = 1",
                1.0,
                max(got["factory"], key=lambda r: abs(r - 1.0)),
                0.0,
                z2,
                bias=1e-9,
                n=p.runs,
                note="factory_bullwhip_ratio's formula (all products); per-job materials pass "
                "orders through (lot for lot): upstream = brand ratio; a forecasting factory "
                "(materials.mode=stock) is not compared",
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
