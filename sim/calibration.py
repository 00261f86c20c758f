"""Calibration: fit the content model's parameters to an observed series (pure functions).

Two fits, each a Poisson maximum-likelihood fit with ``scipy.optimize.minimize`` (L-BFGS-B: for
the views, exactly on the concave inner problem and on the profile over the two time constants,
then polished in all coordinates; for the orders, from a few starts) and uncertainty from the
observed information (the Hessian of the negative log-likelihood by
``scipy.differentiate.hessian``, in the transformed coordinates the optimiser uses; standard
errors on the natural scale by the delta method, 95 % intervals by transforming the interval
back, so they respect the bounds).

**Views: the short-video cascade of** :mod:`sim.content`. With a step of ``Δ`` hours, views in
step ``t`` are Poisson with mean

    λ[t] = μ·Δ + S·Σ_p c_p·(1 - r)·r^(t - s_p) + E[t],       r = exp(-Δ/τ)
    E[t] = n·(1 - d)·Σ_{j<t} d^(t-1-j)·V[j],                  d = exp(-Δ/κ)

``μ`` a constant baseline (views per hour: search, feeds, older content), ``c_p`` posts
published in step ``s_p`` (a ``posts`` column; without one, a single post at the first row),
each bringing ``S`` follower views in expectation that fade with time constant ``τ``
(``content.short_video.reach_decay_hours``), and every view exciting ``n`` further views
(``branching_ratio``) spread by the exponential kernel of time constant ``κ``
(``share_kernel_hours``). At ``Δ = 1`` h this is exactly the model's discrete Hawkes process
(the excitation is driven by the realised views, so the likelihood is the exact conditional
one). At a daily step the same form is fitted with ``Δ = 24`` h: kernels much shorter than a
day are then barely identified, and the fit's own uncertainty says so. The split between a
post's own reach and its shares is the weakly identified direction: with a few large posts the
likelihood is a curved ridge there and the Hessian's intervals are too narrow; many posts (a
``posts`` column) or a long series make them trustworthy (``tests/test_calibration.py`` checks
recovery on twelve).

**Orders: Bass diffusion, as the model's consumers produce it.** ``O[t]`` new buyers in step
``t`` are Poisson with the conditional mean of the model's hourly rule (``sim.validation.bass``:
``1 - exp(-(p + q·A/m)·Δ)`` per non-adopter):

    E[O[t] | A[t]] = (m - A[t])·(1 - exp(-(p + q·A[t]/m)·Δ/24)),   A[t] = Σ_{j<t} O[j]

``p`` the innovation and ``q`` the imitation rate (per day), ``m`` the market potential
(buyers who eventually buy; the first row is the launch). In the model ``p = organic
exposure_rate_per_day x organic conversion`` and ``q = word-of-mouth contacts_per_day x
conversion`` under ``market.word_of_mouth.mixing = fully_mixed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, signal
from scipy.differentiate import hessian
from scipy.special import expit, logit

from sim.clock import HOURS_PER_DAY

Z95 = 1.959963984540054
_TINY = 1e-12


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter: value, standard error and 95 % interval (NaN when unavailable)."""

    name: str
    value: float
    se: float
    low: float
    high: float
    unit: str
    meaning: str


@dataclass(frozen=True)
class Fit:
    """The result of one fit.

    Attributes:
        model: ``hawkes`` (views) or ``bass`` (orders).
        estimates: fitted parameters by name, in report order.
        log_likelihood: at the optimum (Poisson, without the ``log V!`` constant).
        step_hours: the series' step.
        observed: the series fitted.
        expected: the fitted (conditional) mean per step.
        note: how the uncertainty was obtained, or why it is missing.
    """

    model: str
    estimates: dict[str, Estimate]
    log_likelihood: float
    step_hours: float
    observed: np.ndarray
    expected: np.ndarray
    note: str
    fixed: dict[str, float] = field(default_factory=dict)

    def value(self, name: str) -> float:
        """A parameter's fitted value."""
        if name in self.estimates:
            return self.estimates[name].value
        return self.fixed[name]


# ----------------------------------------------------------------------------- views


def hawkes_expected(
    views: np.ndarray,
    posts: np.ndarray,
    step_hours: float,
    baseline_per_hour: float,
    seed_views: float,
    reach_decay_hours: float,
    branching_ratio: float,
    share_kernel_hours: float,
) -> np.ndarray:
    """The conditional mean of views per step given the views before (see module docstring)."""
    v = np.asarray(views, dtype=float)
    r = math.exp(-step_hours / reach_decay_hours)
    d = math.exp(-step_hours / share_kernel_hours)
    seed = seed_views * (1.0 - r) * signal.lfilter([1.0], [1.0, -r], posts)
    excitation = branching_ratio * (1.0 - d) * signal.lfilter([0.0, 1.0], [1.0, -d], v)
    return baseline_per_hour * step_hours + seed + excitation


def _poisson_nll(observed: np.ndarray, expected: np.ndarray) -> float:
    lam = np.maximum(expected, _TINY)
    return float(np.sum(lam - observed * np.log(lam)))


def fit_hawkes(
    views: Sequence[float] | np.ndarray,
    step_hours: float,
    posts: Sequence[float] | np.ndarray | None = None,
) -> Fit:
    """Fit baseline, post reach, branching ratio and kernel to a views series.

    Args:
        views: views per step (non-negative counts).
        step_hours: length of a step in hours (1 hourly, 24 daily).
        posts: posts published per step; ``None`` means one post at the first step; all
            zeros fits a pure Hawkes process with a baseline (no post reach).

    Returns:
        The fit; parameters ``baseline_views_per_hour``, ``seed_views`` and
        ``reach_decay_hours`` (when there are posts), ``branching_ratio``,
        ``share_kernel_hours``.
    """
    v = np.asarray(views, dtype=float)
    if posts is None:
        p = np.zeros(len(v))
        p[0] = 1.0
    else:
        p = np.asarray(posts, dtype=float)
    with_posts = bool(p.sum() > 0)
    total = float(v.sum())
    # transformed coordinates: log μΔ, [log S, log τ/Δ], logit n, log κ/Δ
    names = ["baseline_views_per_hour"]
    if with_posts:
        names += ["seed_views", "reach_decay_hours"]
    names += ["branching_ratio", "share_kernel_hours"]

    def natural(eta: np.ndarray) -> dict[str, float]:
        it = iter(eta)
        out = {"baseline_views_per_hour": max(float(next(it)), 0.0) / step_hours}
        if with_posts:
            out["seed_views"] = math.exp(next(it))
            out["reach_decay_hours"] = math.exp(next(it)) * step_hours
        else:
            out["seed_views"], out["reach_decay_hours"] = 0.0, 1.0
        out["branching_ratio"] = float(expit(next(it)))
        out["share_kernel_hours"] = math.exp(next(it)) * step_hours
        return out

    def expected(eta: np.ndarray) -> np.ndarray:
        th = natural(eta)
        return hawkes_expected(
            v,
            p,
            step_hours,
            th["baseline_views_per_hour"],
            th["seed_views"],
            th["reach_decay_hours"],
            th["branching_ratio"],
            th["share_kernel_hours"],
        )

    def nll(eta: np.ndarray) -> float:
        return _poisson_nll(v, expected(eta))

    # For fixed (τ, κ) the mean is linear in (μΔ, S, n(1-d)) with non-negative weights: a
    # concave Poisson regression, solved exactly; (τ, κ) are found on its profile.
    lo_tau, hi_tau = math.log(0.05), math.log(2000.0)

    def columns(log_tau_steps: float, log_kappa_steps: float) -> tuple[np.ndarray, float]:
        r = math.exp(-math.exp(-log_tau_steps))
        d = math.exp(-math.exp(-log_kappa_steps))
        cols = [np.ones(len(v))]
        if with_posts:
            cols.append((1.0 - r) * signal.lfilter([1.0], [1.0, -r], p))
        cols.append(signal.lfilter([0.0, 1.0], [1.0, -d], v))
        return np.column_stack(cols), 1.0 - d

    def inner(log_tau_steps: float, log_kappa_steps: float) -> tuple[float, np.ndarray]:
        X, one_minus_d = columns(log_tau_steps, log_kappa_steps)
        upper = [None] * (X.shape[1] - 1) + [0.999 * one_minus_d]

        def f(beta: np.ndarray) -> tuple[float, np.ndarray]:
            lam = np.maximum(X @ beta, _TINY)
            return float(np.sum(lam - v * np.log(lam))), X.T @ (1.0 - v / lam)

        x0 = np.full(X.shape[1], 1e-3)
        x0[0] = max(total / len(v), 1e-3) * 0.1
        if with_posts:
            x0[1] = max(total, 1.0) / p.sum() * 0.5
        x0[-1] = 0.5 * upper[-1]
        res = optimize.minimize(
            f,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip([0.0] * X.shape[1], upper, strict=True)),
        )
        return float(res.fun), res.x

    def profile(z: np.ndarray) -> float:
        tz = float(z[0]) if with_posts else 0.0
        return inner(tz, float(z[-1]))[0]

    grid = np.linspace(math.log(0.2), math.log(200.0), 13)
    if with_posts:
        cands = [np.array([a, b]) for a in grid for b in grid]
    else:
        cands = [np.array([b]) for b in grid]
    z0 = min(cands, key=profile)
    zb = [(lo_tau, hi_tau)] * len(z0)
    zres = optimize.minimize(profile, z0, method="L-BFGS-B", bounds=zb)
    z = zres.x if zres.fun <= profile(z0) else z0
    nll_hat, beta = inner(float(z[0]) if with_posts else 0.0, float(z[-1]))
    one_minus_d = 1.0 - math.exp(-math.exp(-float(z[-1])))
    n_hat = min(beta[-1] / one_minus_d, 0.999)
    mu_step = beta[0]
    eta = [float(mu_step)]
    if with_posts:
        eta += [math.log(max(beta[1], _TINY)), float(z[0])]
    eta += [float(logit(max(n_hat, 1e-9))), float(z[-1])]
    # polish in all coordinates at once (the profile's outer search stops on its own noise)
    bounds = [(0.0, None)] + [(None, None)] * (len(eta) - 1)
    best = optimize.minimize(
        nll, np.array(eta), method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-13}
    )
    if not best.fun <= nll_hat:
        best = optimize.OptimizeResult(x=np.array(eta), fun=nll_hat)
    # a baseline at its lower bound is zero: fix it there, leave it out of the information
    at_bound = bool(best.x[0] <= 1e-6 * max(total / len(v), 1e-3))
    free = [i for i in range(len(names)) if not (i == 0 and at_bound)]
    fixed = {"baseline_views_per_hour": 0.0} if at_bound else {}
    eta_hat = best.x.copy()
    if at_bound:
        eta_hat[0] = 0.0
    scale = np.ones(len(free))
    if not at_bound:  # the baseline is on its natural scale: steps that stay above 0
        scale[0] = eta_hat[0] / 2.0
    cov, note = _covariance(nll, eta_hat, free, scale)
    th = natural(eta_hat)
    units = {
        "baseline_views_per_hour": ("views/h", "background views per hour"),
        "seed_views": ("views", "follower views one post brings"),
        "reach_decay_hours": ("h", "time constant of a post's follower views"),
        "branching_ratio": ("", "shared views triggered by one view"),
        "share_kernel_hours": ("h", "time constant of the share kernel"),
    }
    transforms: dict[str, Callable[[float], float]] = {
        "baseline_views_per_hour": lambda e: max(e, 0.0) / step_hours,
        "seed_views": math.exp,
        "reach_decay_hours": lambda e: math.exp(e) * step_hours,
        "branching_ratio": lambda e: float(expit(e)),
        "share_kernel_hours": lambda e: math.exp(e) * step_hours,
    }
    estimates = {}
    for j, i in enumerate(free):
        name = names[i]
        se_eta = math.sqrt(cov[j, j]) if cov is not None and cov[j, j] > 0 else math.nan
        estimates[name] = _estimate(
            name, eta_hat[i], se_eta, th[name], transforms[name], *units[name]
        )
    return Fit(
        model="hawkes",
        estimates=estimates,
        log_likelihood=-float(best.fun),
        step_hours=step_hours,
        observed=v,
        expected=expected(eta_hat),
        note=note + (" The baseline is at its bound 0 (fixed)." if at_bound else ""),
        fixed=fixed,
    )


# ----------------------------------------------------------------------------- orders


def bass_expected(
    orders: np.ndarray, step_hours: float, market_potential: float, p: float, q: float
) -> np.ndarray:
    """The conditional mean of new buyers per step given the buyers before."""
    o = np.asarray(orders, dtype=float)
    adopted = np.concatenate([[0.0], np.cumsum(o)[:-1]])
    left = np.maximum(market_potential - adopted, 0.0)
    hazard = (p + q * adopted / market_potential) * step_hours / HOURS_PER_DAY
    return left * -np.expm1(-hazard)


def fit_bass(orders: Sequence[float] | np.ndarray, step_hours: float) -> Fit:
    """Fit Bass's market potential ``m``, innovation ``p`` and imitation ``q`` (per day).

    Args:
        orders: new buyers per step from launch (non-negative counts; one unit per buyer).
        step_hours: length of a step in hours.
    """
    o = np.asarray(orders, dtype=float)
    total = float(o.sum())
    names = ["market_potential", "innovation_per_day", "imitation_per_day"]

    def natural(eta: np.ndarray) -> tuple[float, float, float]:
        # m = A_T + exp(η0): the potential is at least the buyers already seen
        return total + math.exp(eta[0]), math.exp(eta[1]), math.exp(eta[2])

    def expected(eta: np.ndarray) -> np.ndarray:
        m, p, q = natural(eta)
        return bass_expected(o, step_hours, m, p, q)

    def nll(eta: np.ndarray) -> float:
        return _poisson_nll(o, expected(eta))

    big = math.log(max(total, 1.0) * 1e3)
    bounds = [(math.log(1e-3), big), (math.log(1e-6), math.log(20.0)), (math.log(1e-6), 4.0)]
    starts = [
        np.array([math.log(max(total, 1.0) * f), math.log(p0), math.log(q0)])
        for f in (0.2, 1.0, 5.0)
        for p0, q0 in ((0.01, 0.3), (0.05, 0.8))
    ]
    best = _minimise(nll, starts, bounds)
    cov, note = _covariance(nll, best.x, [0, 1, 2])
    m, p, q = natural(best.x)
    rows = (
        ("market_potential", m, lambda e: total + math.exp(e), "buyers", "buyers in the end"),
        ("innovation_per_day", p, math.exp, "1/day", "Bass p: discovery without imitation"),
        ("imitation_per_day", q, math.exp, "1/day", "Bass q: imitation of earlier buyers"),
    )
    estimates = {}
    for j, (name, val, tr, unit, meaning) in enumerate(rows):
        se_eta = math.sqrt(cov[j, j]) if cov is not None and cov[j, j] > 0 else math.nan
        estimates[name] = _estimate(name, best.x[j], se_eta, val, tr, unit, meaning)
    assert list(estimates) == names
    return Fit(
        model="bass",
        estimates=estimates,
        log_likelihood=-float(best.fun),
        step_hours=step_hours,
        observed=o,
        expected=expected(best.x),
        note=note,
    )


# ----------------------------------------------------------------------------- shared


def _minimise(
    nll: Callable[[np.ndarray], float],
    starts: list[np.ndarray],
    bounds: list[tuple[float, float]],
) -> optimize.OptimizeResult:
    """The best of a few L-BFGS-B runs (the likelihoods are not convex in these coordinates)."""
    best = None
    for x0 in starts:
        x0 = np.clip(x0, [b[0] for b in bounds], [b[1] for b in bounds])
        res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise FloatingPointError("the likelihood is not finite at any starting point")
    # polish from the best start (L-BFGS-B can stop early on flat ridges)
    res = optimize.minimize(nll, best.x, method="L-BFGS-B", bounds=bounds)
    return res if res.fun <= best.fun else best


def _covariance(
    nll: Callable[[np.ndarray], float],
    eta: np.ndarray,
    free: list[int],
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray | None, str]:
    """Inverse observed information over the free coordinates (None if not positive definite).

    ``scale`` sets each coordinate's unit for the finite differences (steps of 0.05 units).
    """
    s = np.ones(len(free)) if scale is None else np.asarray(scale, dtype=float)
    x = np.zeros(len(free))

    def f(xs: np.ndarray) -> np.ndarray:
        flat = xs.reshape(len(free), -1)
        out = np.empty(flat.shape[1])
        full = eta.copy()
        for i in range(flat.shape[1]):
            full[free] = eta[free] + flat[:, i] * s
            out[i] = nll(full)
        return out.reshape(xs.shape[1:])

    res = hessian(f, x, initial_step=0.05)
    H = 0.5 * (res.ddf + res.ddf.T) / np.outer(s, s)
    if not np.all(np.isfinite(H)):
        return None, "Uncertainty unavailable: the information matrix is not finite."
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None, (
            "Uncertainty unavailable: the information matrix is not positive definite "
            "(a parameter is not identified by this series)."
        )
    return np.linalg.inv(H), "Standard errors from the observed information (Hessian)."


def _estimate(
    name: str,
    eta: float,
    se_eta: float,
    value: float,
    transform: Callable[[float], float],
    unit: str,
    meaning: str,
) -> Estimate:
    if not math.isfinite(se_eta):
        return Estimate(name, value, math.nan, math.nan, math.nan, unit, meaning)
    h = 1e-6 * max(1.0, abs(eta))
    slope = (transform(eta + h) - transform(eta - h)) / (2 * h)
    lo, hi = transform(eta - Z95 * se_eta), transform(eta + Z95 * se_eta)
    return Estimate(name, value, abs(slope) * se_eta, min(lo, hi), max(lo, hi), unit, meaning)
