"""Check 1, the bullwhip effect: Chen, Drezner, Ryan & Simchi-Levi (2000) and Chen, Ryan &
Simchi-Levi (2000).

**Setting (the papers').** One stage faces AR(1) demand
``D_t = m + ρ·(D_{t-1} - m) + ε_t``, ``ε_t ~ N(0, σ²)`` (stationary mean ``m``; the papers
write ``D_t = μ + ρ D_{t-1} + ε_t``, i.e. ``μ = m(1-ρ)``). Every period it reviews and orders
up to ``y_t = L·F_t + safety``, where ``F_t`` is the forecast of one period's demand from the
demand seen up to ``t-1``, and ``L`` is the number of periods of demand the order-up-to level
covers (the papers' lead time). Capacity is unlimited and orders are **not truncated at
zero** (negative orders are returns), so ``q_t = y_t - y_{t-1} + D_{t-1}``.

**Closed forms** (safety 0, which makes the papers' lower bounds equalities):

* moving average over ``p`` periods (Chen et al. 2000, Management Science 46(3)):
  ``Var(q)/Var(D) = 1 + (2L/p + 2L²/p²)(1 - ρ^p)``;
* exponential smoothing with weight ``α`` (Chen, Ryan & Simchi-Levi 2000, Naval Research
  Logistics 47(4)): for i.i.d. demand ``1 + 2Lα + 2L²α²/(2-α)``. For AR(1) demand we derive
  the same way: with ``β = 1-α``, ``q_t = (1+Lα)·D_{t-1} - Lα·S_{t-1}``,
  ``Var(S)/V = α(1+βρ)/((2-α)(1-βρ))`` and ``Cov(D_{t-1}, S_{t-1})/V = αρ/(1-βρ)``, so
  ``Var(q)/V = (1+Lα)² + L²α²·Var(S)/V - 2(1+Lα)·Lα·Cov/V`` (reduces to the paper's i.i.d.
  formula at ρ = 0; the tests also check it against a direct sum over the impulse response);
* a positive safety factor ``z`` with the papers' ``z·σ̂`` (σ̂ the sample standard deviation
  of the last ``p`` demands times √L) only adds variance: the formula is then a lower bound;
* the project's own safety-stock rule ``fixed`` (``days_of_cover·F_t``) is a level of
  ``(L + days)·F_t``: the formula holds exactly with ``L + days``.

**Serial chain** (Chen et al. 2000, section 4), ``k`` stages with lead times ``L_i``:

* *no information sharing*: stage ``i`` forecasts from the orders of stage ``i-1``. The exact
  variance follows from the chain's impulse response (each stage is the linear filter
  ``q_t = (1+L/p)·x_{t-1} - (L/p)·x_{t-p-1}`` of its input ``x``); the paper's bound
  ``Π_i [1 + (2L_i/p + 2L_i²/p²)(1-ρ^p)]`` is reported too;
* *shared demand information* (every stage sees customer demand and orders on its echelon
  inventory position): ``1 + (2ΣL/p + 2(ΣL)²/p²)(1-ρ^p)``, with ``ΣL`` the echelon lead time.

**What is the project's, what is the harness's.** Forecasts come from the model's own
classes (:class:`sim.policies.forecast.MovingAverage`, :class:`~sim.policies.forecast.
ExpSmoothing`, built through :mod:`sim.policies.registry`), the order-up-to level from the
model's rule (:func:`sim.policies.sourcing._level`: forecast per day x (lead + review hours)
+ safety) and the ``fixed`` safety stock from :class:`sim.policies.safety_stock.FixedCover`.
A period is a day; the review period is 24 h, so ``L`` periods of cover means
``lead_hours = 24·L - 24``. The harness replaces the consumer population by exogenous AR(1)
demand and the factories by an unlimited, untruncated supplier, which the agent model cannot
express (its orders are rounded up to MOQs and never negative). Exponential smoothing is fed
the last ``K`` days, with ``K`` chosen so that the weight ``(1-α)^(K-1)`` left on the
initial level is below 1e-9.

**Tolerance.** Each replication gives a ratio of sample variances over ``periods`` days; the
replications' mean has standard error ``sd/√R``; tolerance ``z·SE``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.config import ForecastPolicy, SafetyStockPolicy
from sim.policies import registry
from sim.policies.forecast import Signals
from sim.policies.sourcing import _level
from sim.rng import stream
from sim.validation.bullwhip_model import ModelBullwhipParams
from sim.validation.bullwhip_model import rows as model_rows
from sim.validation.params import (
    Correlation,
    NonNegative,
    Params,
    Positive,
    PositiveInt,
    forecast_policy,
    parse,
    safety_stock_policy,
)
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_one_sided, t_two_sided

NAME = "bullwhip"
REVIEW_HOURS = 24.0

# ----------------------------------------------------------------------------- formulas


def ratio_moving_average(L: float, p: int, rho: float) -> float:
    """Chen et al. (2000): Var(q)/Var(D) for a p-period moving average, L periods of cover."""
    return 1.0 + (2.0 * L / p + 2.0 * L * L / (p * p)) * (1.0 - rho**p)


def ratio_exp_smoothing(L: float, alpha: float, rho: float) -> float:
    """Var(q)/Var(D) for exponential smoothing (Chen, Ryan & Simchi-Levi 2000; AR(1) derived)."""
    beta = 1.0 - alpha
    var_s = alpha * (1.0 + beta * rho) / ((2.0 - alpha) * (1.0 - beta * rho))
    cov = alpha * rho / (1.0 - beta * rho)
    a = 1.0 + L * alpha
    return a * a + (L * alpha) ** 2 * var_s - 2.0 * a * L * alpha * cov


def ratio_serial_shared(lead_times: Sequence[float], p: int, rho: float) -> float:
    """Chen et al. (2000): last stage of a serial chain with shared demand information."""
    return ratio_moving_average(float(sum(lead_times)), p, rho)


def bound_serial_decentralised(lead_times: Sequence[float], p: int, rho: float) -> float:
    """Chen et al. (2000): the product lower bound without information sharing."""
    return float(np.prod([ratio_moving_average(L, p, rho) for L in lead_times]))


def moving_average_filter(L: float, p: int) -> np.ndarray:
    """Impulse response of one moving-average order-up-to stage (lag 0 first)."""
    h = np.zeros(p + 2)
    h[1] = 1.0 + L / p
    h[p + 1] = -L / p
    return h


def variance_ratio_of_filter(h: np.ndarray, rho: float) -> float:
    """Var(Σ h_k D_{t-k}) / Var(D) for stationary AR(1) demand (autocorrelation ρ^|lag|)."""
    lags = np.abs(np.subtract.outer(np.arange(len(h)), np.arange(len(h))))
    return float(h @ (rho**lags) @ h)


def ratio_serial_decentralised(lead_times: Sequence[float], p: int, rho: float) -> float:
    """Exact Var(q_k)/Var(D) of the last of k moving-average stages without shared information."""
    h = np.array([1.0])
    for L in lead_times:
        h = np.convolve(h, moving_average_filter(L, p))
    return variance_ratio_of_filter(h, rho)


# ----------------------------------------------------------------------------- simulation


def ar1_demand(
    rng: np.random.Generator, mean: float, rho: float, noise_sd: float, periods: int
) -> np.ndarray:
    """A stationary AR(1) demand path (the first value drawn from the stationary law)."""
    eps = rng.normal(0.0, noise_sd, periods)
    d = np.empty(periods)
    d[0] = mean + eps[0] / math.sqrt(1.0 - rho * rho)
    for t in range(1, periods):
        d[t] = mean + rho * (d[t - 1] - mean) + eps[t]
    return d


def history_needed(forecast: ForecastPolicy) -> int:
    """Days of history passed to a forecaster (exponential smoothing: until weights vanish)."""
    if forecast.name == "exp_smoothing":
        a = forecast.alpha
        return 1 if a >= 1.0 else 1 + math.ceil(math.log(1e-9) / math.log(1.0 - a))
    return forecast.window_days


@dataclass
class Stage:
    """One order-up-to stage built on the project's forecast and safety-stock classes."""

    forecast: ForecastPolicy
    cover_periods: float
    safety: SafetyStockPolicy | None = None
    sigma_z: float = 0.0  # the papers' z·σ̂ safety stock (0: none)

    def __post_init__(self) -> None:
        self.forecaster = registry.build("forecast", self.forecast)
        self.safety_rule = registry.build("safety_stock", self.safety) if self.safety else None
        self.k = max(history_needed(self.forecast), self.forecast.window_days)

    def level(self, history: np.ndarray) -> float:
        """Order-up-to level from the demand seen so far (oldest first)."""
        sig = Signals(daily_demand=history[-self.k :], daily_views=np.zeros(0))
        per_day = self.forecaster.daily(sig)
        safety = self.safety_rule.units(per_day, sig) if self.safety_rule else 0.0
        if self.sigma_z:
            p = self.forecast.window_days
            safety += (
                self.sigma_z * math.sqrt(self.cover_periods) * float(np.std(history[-p:], ddof=1))
            )
        lead_hours = self.cover_periods * 24.0 - REVIEW_HOURS
        return _level(per_day, lead_hours, REVIEW_HOURS, safety)


def simulate_orders(stage: Stage, demand: np.ndarray, start: int) -> np.ndarray:
    """Orders of one stage facing ``demand`` (periods ``start`` .. end), untruncated.

    The inventory position after ordering is the order-up-to level; demand then lowers it:
    ``q_t = y_t - (y_{t-1} - D_{t-1})``.
    """
    n = len(demand)
    q = np.empty(n - start)
    prev_level = stage.level(demand[: start - 1])
    for t in range(start, n):
        y = stage.level(demand[:t])
        ip = prev_level - demand[t - 1]
        q[t - start] = y - ip
        prev_level = y
    return q


def variance_ratio(series: np.ndarray, demand: np.ndarray) -> float:
    """Sample variance of ``series`` over sample variance of ``demand``."""
    return float(np.var(series, ddof=1) / np.var(demand, ddof=1))


# ----------------------------------------------------------------------------- parameters


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemandParams(_Case):
    """The AR(1) demand process."""

    mean: NonNegative = Field(description="stationary mean demand per period (m)")
    noise_sd: Positive = Field(description="sd of the AR(1) innovation ε (σ)")


class MovingAverageCase(_Case):
    """One moving-average case."""

    lead_time: NonNegative = Field(description="L: periods of demand the order-up-to covers")
    window: PositiveInt = Field(description="p: periods averaged")
    rho: Correlation = Field(description="AR(1) coefficient of demand")


class ExpSmoothingCase(_Case):
    """One exponential-smoothing case."""

    lead_time: NonNegative = Field(description="L: periods of demand the order-up-to covers")
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = Field(description="smoothing weight")
    rho: Correlation = Field(description="AR(1) coefficient of demand")


class FixedCoverCase(MovingAverageCase):
    """Moving average plus the project's fixed days-of-cover safety stock."""

    days_of_cover: NonNegative = Field(description="safety stock, days of forecast demand")


class SafetyFactorCase(MovingAverageCase):
    """Moving average plus the papers' z·σ̂ safety stock (a lower-bound case)."""

    window: Annotated[int, Field(ge=2)] = Field(description="p: periods averaged (≥ 2)")
    z: NonNegative = Field(description="safety factor")


class SerialChainCase(_Case):
    """A serial chain of moving-average stages, with and without shared demand information."""

    lead_times: list[NonNegative] = Field(min_length=1, description="L_i of each stage")
    window: PositiveInt = Field(description="p: periods averaged at every stage")
    rho: Correlation = Field(description="AR(1) coefficient of demand")


class BullwhipParams(Params):
    """Parameters of the bullwhip check."""

    periods: Annotated[int, Field(ge=50)] = Field(description="measured periods per replication")
    warmup_periods: Annotated[int, Field(ge=0)] = Field(description="periods discarded first")
    replications: Annotated[int, Field(ge=2)] = Field(description="independent replications")
    demand: DemandParams
    moving_average: list[MovingAverageCase] = Field(description="single stage, moving average")
    exp_smoothing: list[ExpSmoothingCase] = Field(description="single stage, exp. smoothing")
    fixed_cover: list[FixedCoverCase] = Field(description="moving average + fixed cover")
    safety_factor: list[SafetyFactorCase] = Field(description="moving average + z·σ̂ (bound)")
    serial_chain: list[SerialChainCase] = Field(description="serial chains")
    model: ModelBullwhipParams | None = Field(
        default=None, description="through the model: sim.run reduced to one stationary stage"
    )


# ----------------------------------------------------------------------------- the check


def _ma(window: int) -> ForecastPolicy:
    return forecast_policy("moving_average", window_days=window)


def _es(alpha: float) -> ForecastPolicy:
    return forecast_policy("exp_smoothing", window_days=1, alpha=alpha)


def decentralised_orders(stages: Sequence[Stage], demand: np.ndarray, start: int) -> np.ndarray:
    """Orders of the last stage of a chain where each stage sees only its customer's orders.

    Returns the last stage's orders aligned with ``demand`` (NaN before they exist).
    """
    x = demand
    for i, stage in enumerate(stages):
        if i:  # this stage needs ``k`` periods of its customer's orders first
            start += stage.k + 1
        q = simulate_orders(stage, x, start)
        x = np.concatenate([np.full(start, np.nan), q])
    return x


def simulated_ratios(
    stages: Sequence[Stage],
    *,
    shared: bool,
    rho: float,
    p: BullwhipParams,
    label: str,
) -> list[float]:
    """Var(orders of the last stage)/Var(demand), one value per replication."""
    hist = sum(s.k + 1 for s in stages) + 1
    n = hist + p.warmup_periods + p.periods
    out = []
    for rep in range(p.replications):
        rng = stream(p.seed, "validation", NAME, label, rep)
        d = ar1_demand(rng, p.demand.mean, rho, p.demand.noise_sd, n)
        if shared:  # the last stage forecasts customer demand over its echelon lead time
            q = simulate_orders(stages[-1], d, hist)
        else:
            q = decentralised_orders(stages, d, stages[0].k + 1)
        out.append(variance_ratio(q[-p.periods :], d[-p.periods :]))
    return out


def check(params: Mapping[str, Any] | BullwhipParams) -> list[CheckRow]:
    """Every case of the bullwhip check: expected from the formula against the simulation."""
    p = parse(NAME, BullwhipParams, params)
    z2 = t_two_sided(p.alpha, p.replications)
    z1 = t_one_sided(p.alpha, p.replications)
    rows: list[CheckRow] = [] if p.model is None else model_rows(p.model, p.alpha, p.seed)

    def add(label, stages, rho, expected, *, shared=False, comparison="equal", note=""):
        ratios = simulated_ratios(stages, shared=shared, rho=rho, p=p, label=label)
        sim_mean, se = mean_se(ratios)
        z = z2 if comparison == "equal" else z1
        rows.append(
            CheckRow(
                NAME,
                label,
                "var(q)/var(D)",
                expected,
                sim_mean,
                se,
                z,
                comparison=comparison,
                n=p.replications,
                note=note,
            )
        )

    for c in p.moving_average:
        add(
            f"MA L={c.lead_time:g} p={c.window} rho={c.rho:g}",
            [Stage(_ma(c.window), c.lead_time)],
            c.rho,
            ratio_moving_average(c.lead_time, c.window, c.rho),
            note="Chen et al. 2000; equality at z=0",
        )
    for c in p.exp_smoothing:
        add(
            f"ES L={c.lead_time:g} alpha={c.alpha:g} rho={c.rho:g}",
            [Stage(_es(c.alpha), c.lead_time)],
            c.rho,
            ratio_exp_smoothing(c.lead_time, c.alpha, c.rho),
            note="Chen, Ryan & Simchi-Levi 2000 (AR(1) form derived)",
        )
    for c in p.fixed_cover:
        ss = safety_stock_policy("fixed", days_of_cover=c.days_of_cover)
        add(
            f"MA+fixed L={c.lead_time:g} p={c.window} cover={c.days_of_cover:g} rho={c.rho:g}",
            [Stage(_ma(c.window), c.lead_time, safety=ss)],
            c.rho,
            ratio_moving_average(c.lead_time + c.days_of_cover, c.window, c.rho),
            note="fixed cover k days = formula with L+k",
        )
    for c in p.safety_factor:
        add(
            f"MA+zσ L={c.lead_time:g} p={c.window} z={c.z:g} rho={c.rho:g}",
            [Stage(_ma(c.window), c.lead_time, sigma_z=c.z)],
            c.rho,
            ratio_moving_average(c.lead_time, c.window, c.rho),
            comparison="at_least",
            note="Chen et al. 2000: lower bound for z>0",
        )
    for c in p.serial_chain:
        leads = list(c.lead_times)
        tag = f"k={len(leads)} L={'/'.join(f'{x:g}' for x in leads)} p={c.window} rho={c.rho:g}"
        exact = ratio_serial_decentralised(leads, c.window, c.rho)
        add(
            f"serial, no sharing {tag}",
            [Stage(_ma(c.window), L) for L in leads],
            c.rho,
            exact,
            note="exact, from the chain's impulse response",
        )
        rows.append(
            CheckRow(
                NAME,
                f"serial, no sharing {tag}",
                "exact ratio ≥ paper's product bound",
                bound_serial_decentralised(leads, c.window, c.rho),
                exact,
                0.0,
                z1,
                comparison="at_least",
                note="Chen et al. 2000 bound; both sides computed",
                kind="formula",
            )
        )
        echelon = [float(x) for x in np.cumsum(leads)]
        add(
            f"serial, shared {tag}",
            [Stage(_ma(c.window), Le) for Le in echelon],
            c.rho,
            ratio_serial_shared(leads, c.window, c.rho),
            shared=True,
            note="Chen et al. 2000; echelon lead time, equality at z=0",
        )
    return rows
