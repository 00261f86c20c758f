"""Check 3, Bass diffusion, on the full agent model.

**Bass (1969).** The adopted fraction ``F(t)`` of a market follows
``dF/dt = (p + qF)(1 - F)``, so ``F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p)e^{-(p+q)t})``; the
adoption rate ``f = dF/dt`` peaks at ``t* = ln(q/p)/(p+q)`` (when ``F = (1 - p/q)/2``) with
height ``f(t*) = (p+q)²/(4q)`` (``q > p``).

**The model configured to Bass's assumptions.** This check runs :func:`sim.run` on the
shipped world with ``market.word_of_mouth.mixing = fully_mixed``: every adopter recommends
to uniformly random consumers at ``contacts_per_day``, so a non-adopter's imitation hazard is
``q·A/N`` per day with ``q = contacts_per_day x word_of_mouth.conversion_probability``; the
innovation hazard is ``p = organic.exposure_rate_per_day x organic.conversion_probability``.
:func:`bass_config` sets those from ``(p, q)`` and removes everything else Bass does not
have: no content calendar and no spontaneous KOL posts, no rival brands, price = reference
price, a novelty half-life of 10^12 days, every product launched at hour 0 with stock for
every consumer. The rest (no repeat-exposure boost, one unit per order, patient consumers,
no returns or cancellations ...) is set by ``model_overrides`` in
``scenarios/validation/bass.yaml``. The run must then lose no sale: a row checks it (if a
future feature breaks an assumption, that row fails and says so). ``F(t)`` is read from the
run's ``timeseries``: cumulative units sold (one unit per buyer) / ``n_consumers``, per
product. Each run sells ``products_per_run`` identical products (copies of the main brand's
first product): they are independent Bass processes on the same consumers (exposures are
drawn per consumer and product), so one run yields that many replications; the hourly cost
of a run barely grows with them.

**Discretisation.** The model decides hourly: a consumer gets at most one chance per product
per hour, taking the most persuasive of its Poisson(``λ``) exposures that hour, and the
imitation rate uses the adopters at the end of the previous hour. The exact mean-field
recursion of those rules is
``F_{h+1} = F_h + (1 - F_h)·π(F_h)``,
``π = (1 - e^{-λ_hi})c_hi + e^{-λ_hi}(1 - e^{-λ_lo})c_lo`` (the two channels ordered by
conversion ``c``, ``λ_w = contacts_per_day·F_h/24``, ``λ_o = exposure_rate_per_day/24``),
and :func:`discrete_curve` computes it. Its difference from the continuous curve, for the
same estimator, is the computed ``bias`` of each row (it is ~1e-3 for the shipped
parameters): the tolerance is ``z·SE + |bias|``.

**Estimators** (the same on every replication and on the mean-field curve): ``F`` at the
checkpoint days; the peak time as the time ``F`` first crosses ``(1 - p/q)/2`` (linear
interpolation between hours); the peak height as ``[F(t̂+1 d) - F(t̂-1 d)]/2 d``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.config import Config
from sim.errors import ConfigError
from sim.validation.params import Params, parse
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_two_sided

NAME = "bass"
NOVELTY_HALF_LIFE_DAYS = 1e12
DELTA_DAYS = 1.0


# ----------------------------------------------------------------------------- formulas


def adopted_fraction(t: np.ndarray | float, p: float, q: float) -> np.ndarray | float:
    """Closed-form Bass adopted fraction at time ``t`` (days)."""
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def adoption_rate(t: np.ndarray | float, p: float, q: float) -> np.ndarray | float:
    """Closed-form Bass adoption rate dF/dt (per day)."""
    F = adopted_fraction(t, p, q)
    return (p + q * F) * (1.0 - F)


def peak_time(p: float, q: float) -> float:
    """Time (days) of the peak of f: ln(q/p)/(p+q)."""
    return math.log(q / p) / (p + q)


def peak_height(p: float, q: float) -> float:
    """Height of the peak of f (per day): (p+q)²/(4q)."""
    return (p + q) ** 2 / (4.0 * q)


def discrete_curve(p: float, q: float, c_organic: float, c_wom: float, hours: int) -> np.ndarray:
    """Mean-field adopted fraction after each hour under the model's hourly rules."""
    lam_o = p / c_organic / 24.0
    contacts = q / c_wom / 24.0
    F = np.empty(hours)
    x = 0.0
    for h in range(hours):
        lam_w = contacts * x
        if c_wom >= c_organic:
            pi = (1 - math.exp(-lam_w)) * c_wom + math.exp(-lam_w) * (1 - math.exp(-lam_o)) * (
                c_organic
            )
        else:
            pi = (1 - math.exp(-lam_o)) * c_organic + math.exp(-lam_o) * (
                1 - math.exp(-lam_w)
            ) * c_wom
        x = x + (1.0 - x) * pi
        F[h] = x
    return F


def continuous_on_hours(p: float, q: float, hours: int) -> np.ndarray:
    """The closed-form curve at the ends of hours 0 .. hours-1 (t = (h+1)/24 days)."""
    return np.asarray(adopted_fraction((np.arange(hours) + 1.0) / 24.0, p, q))


# ----------------------------------------------------------------------------- estimators


def _at(F: np.ndarray, t_days: float) -> float:
    """F at time t (days), linear between hour ends; F(0) = 0."""
    times = np.concatenate([[0.0], (np.arange(len(F)) + 1.0) / 24.0])
    values = np.concatenate([[0.0], F])
    return float(np.interp(t_days, times, values))


def estimate_peak(curve: np.ndarray, p: float, q: float) -> tuple[float, float]:
    """(peak time in days, peak height per day) of a curve sampled at hour ends."""
    level = 0.5 * (1.0 - p / q)
    F = curve
    above = np.flatnonzero(level <= F)
    if len(above) == 0:
        return math.nan, math.nan
    h = int(above[0])
    prev = F[h - 1] if h > 0 else 0.0
    frac = (level - prev) / (F[h] - prev) if F[h] > prev else 1.0
    t_hat = (h + frac) / 24.0  # F[h] is at (h+1)/24, prev at h/24
    height = (_at(F, t_hat + DELTA_DAYS) - _at(F, max(t_hat - DELTA_DAYS, 0.0))) / (2 * DELTA_DAYS)
    return t_hat, height


def estimates(F: np.ndarray, p: float, q: float, checkpoints: Sequence[float]) -> dict[str, float]:
    """Every compared quantity of one curve."""
    out = {f"F({t:g} d)": _at(F, t) for t in checkpoints}
    t_hat, height = estimate_peak(F, p, q)
    out["peak time (d)"] = t_hat
    out["peak height (1/d)"] = height
    return out


# ----------------------------------------------------------------------------- parameters


class BassCase(BaseModel):
    """One (p, q) pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    innovation_per_day: Annotated[float, Field(gt=0.0, le=1.0)] = Field(description="p")
    imitation_per_day: Annotated[float, Field(gt=0.0, le=24.0)] = Field(description="q (> p)")

    @model_validator(mode="after")
    def _peak_exists(self) -> BassCase:
        if self.imitation_per_day <= self.innovation_per_day:
            raise ValueError("imitation_per_day must exceed innovation_per_day (f peaks at t>0)")
        return self


class BassParams(Params):
    """Parameters of the Bass check."""

    n_consumers: Annotated[int, Field(ge=100)] = Field(description="N: consumers simulated")
    horizon_days: Annotated[int, Field(ge=2)] = Field(description="days simulated")
    replications: Annotated[int, Field(ge=1)] = Field(description="independent runs per case")
    products_per_run: Annotated[int, Field(ge=1)] = Field(
        description="identical products per run, each an independent Bass process"
    )
    checkpoints_days: list[Annotated[float, Field(gt=0.0)]] = Field(
        description="days t at which F(t) is compared"
    )
    organic_conversion_probability: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="c_o: organic.conversion_probability (exposure rate = p / c_o)"
    )
    word_of_mouth_conversion_probability: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="c_w: word_of_mouth.conversion_probability (contacts = q / c_w)"
    )
    model_overrides: list[str] = Field(
        description="key=value overrides on the shipped config that remove what Bass lacks"
    )
    cases: list[BassCase] = Field(min_length=1, description="(p, q) pairs")

    @model_validator(mode="after")
    def _rates_feasible(self) -> BassParams:
        for c in self.cases:
            if c.innovation_per_day / self.organic_conversion_probability > 1.0:
                raise ValueError(
                    "innovation_per_day / organic_conversion_probability must be <= 1 "
                    "(it is organic.exposure_rate_per_day, a share per day)"
                )
        return self


# ----------------------------------------------------------------------------- the model


def bass_config(base: Config, case: BassCase, p: BassParams) -> Config:
    """The model configured to Bass's assumptions for one (p, q) (see the module docstring)."""
    import sim

    d = base.to_dict()
    d["run"]["horizon_hours"] = 24 * p.horizon_days
    d["run"]["timeseries_resolution"] = "hour"
    market = d["market"]
    market["n_consumers"] = p.n_consumers
    market["word_of_mouth"]["mixing"] = "fully_mixed"
    market["word_of_mouth"]["conversion_probability"] = p.word_of_mouth_conversion_probability
    market["word_of_mouth"]["contacts_per_day"] = (
        case.imitation_per_day / p.word_of_mouth_conversion_probability
    )
    market["organic"]["conversion_probability"] = p.organic_conversion_probability
    market["organic"]["exposure_rate_per_day"] = (
        case.innovation_per_day / p.organic_conversion_probability
    )
    d["content"]["calendar"] = []
    for kol in d["content"]["kols"].values():
        kol["spontaneous_posts_per_day"] = 0.0
    d["rivals"] = {}
    units = 2 * market["reference_consumers"]  # scaled to n_consumers: 2 units per consumer
    first_name, first = next(iter(d["brand"]["products"].items()))
    first = {
        **first,
        "price": first["reference_price"],
        "launch_hour": 0,
        "novelty_half_life_days": NOVELTY_HALF_LIFE_DAYS,
        "initial_stock_units": units,
    }
    products = {first_name: first}
    for i in range(1, p.products_per_run):  # identical, independent Bass processes
        products[f"{first_name}_bass{i}"] = dict(first)
    d["brand"]["products"] = products
    for fac in d["supply"]["factories"].values():
        fac["skus"] = []
    return sim.validate(d)


def preflight(params: Mapping[str, Any] | BassParams) -> None:
    """Build every case's model configuration (raises ConfigError before anything runs)."""
    import sim

    p = parse(NAME, BassParams, params)
    base = sim.compose(None, p.model_overrides)
    for case in p.cases:
        bass_config(base, case, p)


def adoption_curves(result: Any, n_consumers: int) -> np.ndarray:
    """``(products, hours)`` adopted fraction after each hour, from the run's timeseries."""
    ts = result.timeseries
    main = list(result.config.brand.products)
    regions = ts[(ts.node_type == "region") & ts.sku.isin(main)]
    sold = regions.pivot_table(index="sku", columns="t_hours", values="sold", aggfunc="sum")
    sold = sold.reindex(index=main, columns=range(result.config.run.horizon_hours), fill_value=0)
    return np.cumsum(sold.to_numpy(dtype=float), axis=1) / n_consumers


def simulate(case: BassCase, p: BassParams, base: Config) -> tuple[np.ndarray, list[float]]:
    """Run the replications; returns ``(runs x products, hours)`` curves and lost units per run."""
    import sim

    cfg = bass_config(base, case, p)
    curves, lost = [], []
    for rep in range(p.replications):
        res = sim.run(cfg, seed=p.seed * 1000 + rep)
        curves.extend(adoption_curves(res, p.n_consumers))
        lost.append(res.kpis["lost_sales_units"] + res.kpis["cancelled_units"])
    return np.array(curves), lost


# ----------------------------------------------------------------------------- the check


def check(params: Mapping[str, Any] | BassParams, base: Config | None = None) -> list[CheckRow]:
    """Every (p, q): F at the checkpoints, peak time and height, and no lost sale."""
    import sim

    p = parse(NAME, BassParams, params)
    if base is None:
        base = sim.compose(None, p.model_overrides)
    samples = p.replications * p.products_per_run
    if samples < 2:
        raise ConfigError(
            [
                (
                    f"{NAME}.replications",
                    p.replications,
                    "replications x products_per_run must be >= 2",
                )
            ]
        )
    z = t_two_sided(p.alpha, samples)
    H = 24 * p.horizon_days
    rows = []
    for case in p.cases:
        pp, qq = case.innovation_per_day, case.imitation_per_day
        label = f"p={pp:g}/d q={qq:g}/d N={p.n_consumers}"
        curves, lost = simulate(case, p, base)
        cps = [t for t in p.checkpoints_days if t <= p.horizon_days]
        sims = [estimates(c, pp, qq, cps) for c in curves]
        disc = estimates(
            discrete_curve(
                pp, qq, p.organic_conversion_probability, p.word_of_mouth_conversion_probability, H
            ),
            pp,
            qq,
            cps,
        )
        cont = estimates(continuous_on_hours(pp, qq, H), pp, qq, cps)
        theory = {f"F({t:g} d)": float(adopted_fraction(t, pp, qq)) for t in cps}
        theory["peak time (d)"] = peak_time(pp, qq)
        theory["peak height (1/d)"] = peak_height(pp, qq)
        for key, expected in theory.items():
            m, se = mean_se([s[key] for s in sims])
            # deterministic difference: hourly rules + the estimator, on the mean-field curve
            bias = disc[key] - expected
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    key,
                    expected,
                    m,
                    se,
                    z,
                    bias=bias,
                    n=samples,
                    note="Bass closed form; bias = hourly mean-field - continuous",
                    via="model",
                    bias_signed=True,
                    extra={"estimator_on_continuous": cont[key]},
                )
            )
        rows.append(
            CheckRow(
                NAME,
                label,
                "lost + cancelled units (assumptions: 0)",
                0.0,
                float(max(lost)),
                0.0,
                z,
                n=p.replications,
                note="ample stock, patient buyers: nobody is turned away",
                via="model",
                kind="assumption",
            )
        )
    return rows
