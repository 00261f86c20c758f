"""Check 2, base-stock service: cycle service level, fill rate, mean on-hand and mean
backorders of a periodic-review base-stock policy against the normal loss function.

**Event sequence (one period = one review period).** At the start of period ``t`` the
inventory position is raised to the base-stock level ``S`` (the order is placed); the order
placed ``L`` periods earlier arrives; demand ``D_t ~ N(μ, σ²)`` (i.i.d.) occurs during the
period and is served from on-hand stock, the rest backordered; on-hand and backorders are
measured at the end of the period. The order placed at the start of period ``t`` arrives at
the start of period ``t+L``, so the net inventory at the end of period ``t+L`` is
``S - (D_t + … + D_{t+L})``: **S covers L + 1 periods of demand** (the lead time plus the
review period). The project's order-up-to rule says the same thing: its level is forecast
per day x (lead time + review period) + safety stock (:func:`sim.policies.sourcing._level`).

**Closed forms**, with ``μ₁ = (L+1)μ``, ``σ₁ = σ√(L+1)``, ``z = (S - μ₁)/σ₁``, the standard
normal loss ``G(z) = φ(z) - z(1 - Φ(z))``:

* cycle service level (no backorder at the end of a period) ``= Φ(z)``;
* mean backorders at period end ``= σ₁·G(z)``;
* mean on-hand at period end ``= S - μ₁ + σ₁·G(z) = σ₁·(z + G(z))``;
* fill rate (share of demand served from stock on hand in its period)
  ``= 1 - [σ₁G(z) - σ₀G(z₀)]/μ`` with ``σ₀ = σ√L``, ``z₀ = (S - Lμ)/σ₀`` (the expected
  backorders at the start of the period, after the arrival; 0 when ``L = 0``). This is exact
  for this sequence (units short in a period = backorders at its end minus at its start);
  the textbook approximation ``1 - σ₁G(z)/μ`` drops the second term, which is negligible
  unless ``S`` is small.

Normal demand can in principle be negative; the parameter sets keep ``μ/σ ≥ 4`` so that
happens with probability < 4e-5 per period, and the harness lets it happen (as the formulas
assume) rather than truncating.

**Harness.** The agent model's demand is consumers, not i.i.d. normal draws, and its lead
time is materials + production + line-haul: it cannot express these assumptions, so a small
harness simulates the sequence above (a pipeline of ``L`` outstanding orders, on-hand and
backorders), vectorised over replications. **Tolerance:** ``z·SE`` over replications
(each replication's long-run averages are independent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.policies.sourcing import _level
from sim.rng import stream
from sim.validation.base_stock_model import ModelBaseStockParams
from sim.validation.base_stock_model import rows as model_rows
from sim.validation.params import NonNegativeInt, Params, Positive, parse
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, norm_cdf, norm_loss, t_two_sided

NAME = "base_stock"


# ----------------------------------------------------------------------------- formulas


def expected_backorders(S: float, mean: float, sd: float, periods: int) -> float:
    """E[(D_1 + … + D_periods - S)^+] for i.i.d. normal demand (0 periods: (-S)^+)."""
    if periods == 0:
        return max(0.0, -S)
    s = sd * math.sqrt(periods)
    return s * norm_loss((S - periods * mean) / s)


def formulas(S: float, mean: float, sd: float, lead: int) -> dict[str, float]:
    """Cycle service level, fill rate, mean on-hand and mean backorders (period end)."""
    mu1, s1 = (lead + 1) * mean, sd * math.sqrt(lead + 1)
    z = (S - mu1) / s1
    b_end = expected_backorders(S, mean, sd, lead + 1)
    b_start = expected_backorders(S, mean, sd, lead)
    return {
        "cycle_service_level": norm_cdf(z),
        "fill_rate": 1.0 - (b_end - b_start) / mean,
        "mean_on_hand": S - mu1 + b_end,
        "mean_backorders": b_end,
    }


def base_stock_level(mean: float, lead: int, safety_units: float) -> float:
    """The project's order-up-to level with a daily review: mean x (L + 1) + safety."""
    return _level(mean, 24.0 * lead, 24.0, safety_units)


# ----------------------------------------------------------------------------- simulation


def simulate(
    S: float,
    mean: float,
    sd: float,
    lead: int,
    periods: int,
    warmup: int,
    replications: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """The base-stock sequence, vectorised over replications.

    Returns:
        per replication: the share of periods ending without backorders, the fill rate,
        mean on-hand and mean backorders at period end (after ``warmup`` periods).
    """
    R = replications
    on_hand = np.full(R, S)  # start full: net inventory S, nothing in the pipeline
    backorders = np.zeros(R)
    pipeline = np.zeros((R, lead)) if lead else np.zeros((R, 0))
    ip = np.full(R, S)
    no_stockout = np.zeros(R)
    served = np.zeros(R)
    demanded = np.zeros(R)
    oh_sum = np.zeros(R)
    bo_sum = np.zeros(R)
    for t in range(warmup + periods):
        order = S - ip  # raise the inventory position to S
        ip = ip + order
        if lead:
            arriving = pipeline[:, 0].copy()
            pipeline = np.concatenate([pipeline[:, 1:], order[:, None]], axis=1)
        else:
            arriving = order
        # receipts first clear backorders, the rest goes on the shelf
        clear = np.minimum(arriving, backorders)
        backorders -= clear
        on_hand += arriving - clear
        d = rng.normal(mean, sd, R)
        from_shelf = np.clip(np.minimum(d, on_hand), 0.0, None)
        on_hand -= from_shelf
        backorders += d - from_shelf
        # negative demand (a return) is taken back onto the shelf, as the formulas assume
        neg = backorders < 0
        on_hand[neg] -= backorders[neg]
        backorders[neg] = 0.0
        ip -= d
        if t >= warmup:
            no_stockout += backorders <= 0
            served += from_shelf
            demanded += d
            oh_sum += on_hand
            bo_sum += backorders
    return {
        "cycle_service_level": no_stockout / periods,
        "fill_rate": served / demanded,
        "mean_on_hand": oh_sum / periods,
        "mean_backorders": bo_sum / periods,
    }


# ----------------------------------------------------------------------------- the check


class BaseStockCase(BaseModel):
    """One parameter set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: Positive = Field(description="μ: mean demand per period")
    sd: Positive = Field(description="σ: sd of demand per period")
    lead_time: NonNegativeInt = Field(description="L: periods from order to arrival")
    safety_factor: float = Field(
        description="z: S = (L+1)μ + z·σ√(L+1) (the project's order-up-to level + safety)"
    )


class BaseStockParams(Params):
    """Parameters of the base-stock check."""

    periods: Annotated[int, Field(ge=100)] = Field(description="measured periods per replication")
    warmup_periods: Annotated[int, Field(ge=0)] = Field(description="periods discarded first")
    replications: Annotated[int, Field(ge=2)] = Field(description="independent replications")
    cases: list[BaseStockCase] = Field(min_length=1, description="parameter sets")
    model: ModelBaseStockParams | None = Field(
        default=None,
        description="through the model: the brand's base-stock policy (known mean, lost "
        "sales) against the exact lost-sales chain (null: not run)",
    )


def check(params: Mapping[str, Any] | BaseStockParams) -> list[CheckRow]:
    """Every case: the four service measures, formula against simulation."""
    p = parse(NAME, BaseStockParams, params)
    z = t_two_sided(p.alpha, p.replications)
    rows: list[CheckRow] = []
    for c in p.cases:
        L = c.lead_time
        S = base_stock_level(c.mean, L, c.safety_factor * c.sd * math.sqrt(L + 1))
        label = f"mu={c.mean:g} sd={c.sd:g} L={L} z={c.safety_factor:g} (S={S:.1f})"
        rng = stream(p.seed, "validation", NAME, label)
        sim = simulate(S, c.mean, c.sd, L, p.periods, p.warmup_periods, p.replications, rng)
        expected = formulas(S, c.mean, c.sd, L)
        for q, value in expected.items():
            m, se = mean_se(sim[q])
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    q,
                    value,
                    m,
                    se,
                    z,
                    n=p.replications,
                    note="normal loss function; S covers L+1 periods",
                )
            )
    if p.model is not None:  # after the standalone rows (their order is the cases')
        rows.extend(model_rows(p.model, p.alpha, p.seed))
    return rows
