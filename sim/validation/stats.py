"""Statistics shared by the validation checks: the standard normal, the normal loss function,
standard errors, and the tolerance rule.

Every tolerance in :mod:`sim.validation` is ``z · SE + |bias|``:

* ``SE`` is the standard error of the simulated estimate, from independent replications (or
  from batch means within a long run), so the band narrows as replications or periods grow;
* ``z`` is the two-sided Student-t quantile (``n - 1`` degrees of freedom for ``n``
  replications, so that a standard error estimated from few replications widens the band)
  of a per-comparison false-failure probability ``alpha`` (``alpha = 1e-4`` gives 3.89 for
  many replications; with the ~100 comparisons of a full ``viralchain validate``,
  Bonferroni bounds the chance of any false failure by ~1 %);
* ``bias`` is a *computed*, deterministic difference that the theory knowingly ignores (for
  example hourly instead of continuous decisions in the Bass check), reported separately so
  that nobody mistakes it for a fudge factor. It is 0 where the simulation matches the
  theory's assumptions exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

_STD = NormalDist()


def norm_pdf(z: float) -> float:
    """Standard normal density."""
    return _STD.pdf(z)


def norm_cdf(z: float) -> float:
    """Standard normal distribution function Φ."""
    return _STD.cdf(z)


def norm_loss(z: float) -> float:
    """Standard normal loss function G(z) = E[(Z - z)^+] = φ(z) - z·(1 - Φ(z))."""
    return norm_pdf(z) - z * (1.0 - norm_cdf(z))


def z_two_sided(alpha: float) -> float:
    """The normal quantile ``z`` with ``P(|Z| > z) = alpha``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return _STD.inv_cdf(1.0 - alpha / 2.0)


def z_one_sided(alpha: float) -> float:
    """The normal quantile ``z`` with ``P(Z > z) = alpha``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return _STD.inv_cdf(1.0 - alpha)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(x: float, df: float) -> float:
    """Distribution function of Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + x * x))
    return 1.0 - tail if x > 0 else tail


def t_quantile(prob: float, df: float) -> float:
    """Quantile of Student's t (bisection on :func:`t_cdf`; exact to ~1e-10)."""
    if not 0.0 < prob < 1.0 or df <= 0:
        raise ValueError(f"need 0 < probability < 1 and df > 0, got {prob}, df={df}")
    if prob < 0.5:
        return -t_quantile(1.0 - prob, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < prob:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < prob:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def t_two_sided(alpha: float, n: int) -> float:
    """Two-sided quantile for the mean of ``n`` replications (t, ``n - 1`` df)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return t_quantile(1.0 - alpha / 2.0, max(n - 1, 1))


def t_one_sided(alpha: float, n: int) -> float:
    """One-sided quantile for the mean of ``n`` replications (t, ``n - 1`` df)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return t_quantile(1.0 - alpha, max(n - 1, 1))


def mean_se(samples: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean of independent replications and its standard error (sd / sqrt(n))."""
    x = np.asarray(samples, dtype=float)
    if len(x) < 2:
        raise ValueError("at least two replications are needed for a standard error")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def batch_means_se(series: np.ndarray, n_batches: int) -> tuple[float, float]:
    """Mean of a (stationary, autocorrelated) series and its batch-means standard error.

    The series is cut into ``n_batches`` equal consecutive batches; when batches are much
    longer than the correlation time, batch means are nearly independent.
    """
    x = np.asarray(series, dtype=float)
    size = len(x) // n_batches
    if n_batches < 2 or size < 1:
        raise ValueError("need at least two non-empty batches")
    means = x[: size * n_batches].reshape(n_batches, size).mean(axis=1)
    return mean_se(means)


def ratio_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """Ratio of means ``sum(num)/sum(den)`` over replications, with its delta-method SE."""
    a, b = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    n = len(a)
    if n < 2:
        raise ValueError("at least two replications are needed for a standard error")
    r = float(a.sum() / b.sum())
    resid = a - r * b
    se = float(np.sqrt(resid.var(ddof=1) / n) / b.mean())
    return r, se
