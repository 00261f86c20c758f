"""Statistics of a sweep: KPI means with confidence intervals, paired differences, Pareto front.

A *combination* is one policy setting of the sweep: the values of the factors that vary
(story, setup and the swept parameter columns), replications pooled. Means get Student-t
confidence intervals over replications. Paired differences compare each combination with a
baseline *within* replications: runs of one replication share their seed, hence their
content and viral trace (common random numbers), so the demand noise cancels in the
difference. The unpaired (Welch) interval of the same difference is reported next to it; the
ratio of their variances says how many times more replications an unpaired comparison would
need for the same precision.

The Student-t quantile comes from :mod:`sim.validation.stats` (regularised incomplete beta,
bisection), so the report needs no SciPy at run time; a test checks it against
``scipy.stats.t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.validation.stats import t_quantile

FACTOR_BASE = ("story", "setup")
NOT_FACTORS = {"replication", "seed", "run_id", "sweep_id", "config_hash", "brand", "status"}


# ----------------------------------------------------------------------------- Student t


def half_width(values: Sequence[float] | np.ndarray, level: float = 0.95) -> float:
    """Half-width of the t confidence interval of a mean (NaN with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan
    return t_quantile(0.5 + level / 2.0, len(x) - 1) * float(np.std(x, ddof=1)) / math.sqrt(len(x))


def welch_half_width(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> float:
    """Half-width of the Welch interval of mean(b) - mean(a) (independent samples)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se2 = va + vb
    if se2 == 0:
        return 0.0
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return t_quantile(0.5 + level / 2.0, df) * math.sqrt(se2)


# ----------------------------------------------------------------------------- combinations


@dataclass
class Design:
    """The runs of a sweep and the factors that tell its combinations apart.

    Attributes:
        runs: ok rows of the main brand, with a ``combination`` label column.
        factors: the columns that vary between combinations (story, setup, parameters).
        combinations: labels in a stable order (factor values sorted).
        failed: rows of failed runs.
    """

    runs: pd.DataFrame
    factors: list[str]
    combinations: list[str]
    failed: pd.DataFrame


def _sort_key(value: object) -> tuple:
    if isinstance(value, int | float | np.integer | np.floating):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def design(runs: pd.DataFrame, param_columns: Sequence[str]) -> Design:
    """Split a ``runs`` table into ok main-brand rows with combination labels.

    Args:
        runs: the sweep's ``runs`` rows of the main brand (one per run).
        param_columns: the sweep's parameter columns (``sweep.json``).
    """
    main = runs.copy()
    failed = main[main["status"] != "ok"].copy()
    ok = main[main["status"] == "ok"].copy()
    candidates = [*FACTOR_BASE, *[c for c in param_columns if c in ok.columns]]
    factors = [c for c in candidates if c not in NOT_FACTORS and ok[c].nunique(dropna=False) > 1]
    if not factors:  # one combination: name it by its setup
        factors = ["setup"]
    ordered = sorted(
        {tuple(r) for r in ok[factors].itertuples(index=False, name=None)},
        key=lambda t: tuple(_sort_key(v) for v in t),
    )

    def label(values: tuple) -> str:
        return ", ".join(f"{f}={v}" for f, v in zip(factors, values, strict=True))

    ok["combination"] = [label(tuple(r)) for r in ok[factors].itertuples(index=False, name=None)]
    if len(failed):
        failed["combination"] = [
            label(tuple(r)) for r in failed[factors].itertuples(index=False, name=None)
        ]
    return Design(ok, factors, [label(t) for t in ordered], failed)


def summarise(d: Design, kpis: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """KPI means with confidence intervals: one row per (combination, KPI)."""
    rows = []
    for combo in d.combinations:
        sub = d.runs[d.runs["combination"] == combo]
        first = sub.iloc[0]
        for kpi in kpis:
            x = sub[kpi].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            mean = float(np.mean(x)) if len(x) else math.nan
            hw = half_width(x, level)
            rows.append(
                {
                    "combination": combo,
                    "story": str(first["story"]),
                    "setup": str(first["setup"]),
                    "kpi": kpi,
                    "n": len(x),
                    "mean": mean,
                    "sd": float(np.std(x, ddof=1)) if len(x) > 1 else math.nan,
                    "half_width": hw,
                    "ci_low": mean - hw,
                    "ci_high": mean + hw,
                }
            )
    return pd.DataFrame(rows)


def _values(d: Design, combo: str, column: str) -> set[str]:
    return set(d.runs.loc[d.runs["combination"] == combo, column].astype(str))


def pick_baseline(d: Design, spec: str | None = None) -> dict[str, str]:
    """The baseline combination of each story.

    Args:
        spec: ``key=value[,key=value]`` choosing it (e.g. ``setup=rigid``); by default the
            first combination with ``setup=rigid`` if there is one, else the first.

    Raises:
        ValueError: the spec names an unknown column or matches nothing.
    """
    wanted: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in d.runs.columns:
            raise ValueError(f"{key.strip()!r} is not a column of the runs table")
        wanted[key.strip()] = value.strip()
    if not wanted and "rigid" in set(d.runs["setup"].astype(str)):
        wanted = {"setup": "rigid"}
    out = {}
    for story in sorted(d.runs["story"].astype(str).unique()):
        combos = [c for c in d.combinations if story in _values(d, c, "story")]
        match = [c for c in combos if all(_values(d, c, k) == {v} for k, v in wanted.items())]
        if spec and not match:
            raise ValueError(f"{spec!r} matches no combination of story {story}")
        out[story] = (match or combos)[0]
    return out


def paired_differences(
    d: Design, kpis: Sequence[str], baseline: dict[str, str], level: float = 0.95
) -> pd.DataFrame:
    """Each combination minus its story's baseline, paired by seed (same replication).

    Columns: combination, baseline, kpi, n_pairs, mean_diff, ci_low, ci_high,
    paired_half_width, unpaired_half_width, crn_variance_ratio (unpaired ÷ paired variance of
    the estimated difference: the factor of replications common random numbers save).
    """
    rows = []
    runs = d.runs
    for story, base in baseline.items():
        b = runs[runs["combination"] == base].set_index("seed")
        for combo in d.combinations:
            if combo == base:
                continue
            c = runs[(runs["combination"] == combo) & (runs["story"].astype(str) == story)]
            if c.empty:
                continue
            c = c.set_index("seed")
            seeds = c.index.intersection(b.index)
            for kpi in kpis:
                diff = (c.loc[seeds, kpi] - b.loc[seeds, kpi]).to_numpy(dtype=float)
                diff = diff[~np.isnan(diff)]
                mean = float(np.mean(diff)) if len(diff) else math.nan
                hw = half_width(diff, level)
                uhw = welch_half_width(b[kpi].to_numpy(float), c[kpi].to_numpy(float), level)
                ratio = (uhw / hw) ** 2 if hw and not math.isnan(hw) and hw > 0 else math.nan
                rows.append(
                    {
                        "story": story,
                        "combination": combo,
                        "baseline": base,
                        "kpi": kpi,
                        "n_pairs": len(diff),
                        "mean_diff": mean,
                        "ci_low": mean - hw,
                        "ci_high": mean + hw,
                        "paired_half_width": hw,
                        "unpaired_half_width": uhw,
                        "crn_variance_ratio": ratio,
                    }
                )
    return pd.DataFrame(rows)


def pareto_front(
    points: pd.DataFrame, x: str, y: str, maximise_x: bool = True, maximise_y: bool = True
) -> pd.Series:
    """True for points that no other point beats on both ``x`` and ``y``."""
    xs = points[x].to_numpy(float) * (1 if maximise_x else -1)
    ys = points[y].to_numpy(float) * (1 if maximise_y else -1)
    optimal = []
    for i in range(len(points)):
        dominated = np.any((xs >= xs[i]) & (ys >= ys[i]) & ((xs > xs[i]) | (ys > ys[i])))
        optimal.append(not dominated and not (math.isnan(xs[i]) or math.isnan(ys[i])))
    return pd.Series(optimal, index=points.index)
