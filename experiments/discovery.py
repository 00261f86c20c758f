"""Scenario discovery: where in the uncertainty space one setup beats another, in plain words.

The explore table holds, per sampled point and seed, the KPIs of every setup on the same
demand (common random numbers). For a pair of setups (``a`` the baseline, ``b`` the
challenger) this module

* averages each point's KPI over its seeds and takes the paired difference ``b − a``;
* says how often ``b`` wins (with a Wilson 95 % interval) and by how much, over the whole
  space and where it wins or loses (paired Student-t 95 % intervals over the points);
* finds the box of the space where ``b`` wins with PRIM (the Patient Rule Induction Method
  of Friedman and Fisher, as implemented in EMA Workbench's ``ema_workbench.analysis.prim``)
  and states it in words, with its coverage (share of the wins inside the box), density
  (share of the box's points that are wins) and mass (share of all points in the box);
* ranks the uncertainties by how much of the difference's variance each explains alone
  (RBD-FAST first-order indices, SALib: valid on any sample, Latin hypercube included).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.fair_fight import Paired, paired
from experiments.uncertainties import Uncertainty

Z95 = 1.959963984540054
MIN_COVERAGE = 0.5  # a box must hold at least half of the wins
MAX_DIMS = 3  # and restrict at most three uncertainties (a sentence a reader can hold)
CANDIDATES = 8  # boxes of the peeling trajectory pruned and compared (evenly spaced)
QP_LIMIT = 0.05  # restrictions whose quasi-p value is above this are dropped (Bryant & Lempert)


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score 95 % interval of a share ``k / n``."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    den = 1 + Z95**2 / n
    mid = (p + Z95**2 / (2 * n)) / den
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def point_means(frame: pd.DataFrame, setup: str, kpi: str) -> np.ndarray:
    """A setup's KPI per sampled point, averaged over seeds (points in sample order)."""
    rows = frame[frame["setup"] == setup]
    return rows.groupby("sample", sort=True)[kpi].mean().to_numpy(float)


def points(frame: pd.DataFrame, chosen: Sequence[Uncertainty]) -> pd.DataFrame:
    """The sampled points (one row per sample, the uncertainties as float columns)."""
    first = frame.drop_duplicates("sample").sort_values("sample")
    return first[[u.name for u in chosen]].astype(float).reset_index(drop=True)


@dataclass(frozen=True)
class Box:
    """A PRIM box: the limits it places (None: that side is the range's end) and its stats."""

    limits: dict[str, tuple[float | None, float | None]]
    coverage: float
    density: float
    mass: float
    quasi_p: dict[str, float]
    inside: np.ndarray = field(repr=False)

    def words(self, chosen: Sequence[Uncertainty]) -> str:
        """The box in plain words: ``the pulse is above 2.1× the story's and ...``."""
        clauses = []
        for u in chosen:
            if u.name not in self.limits:
                continue
            lo, hi = self.limits[u.name]
            if lo is not None and hi is not None:
                clauses.append(f"{u.label} is between {u.show(lo)} and {u.show(hi)}")
            elif lo is not None:
                clauses.append(f"{u.label} is above {u.show(lo)}")
            elif hi is not None:
                clauses.append(f"{u.label} is under {u.show(hi)}")
        return " and ".join(clauses)

    def stats_words(self) -> str:
        """Coverage, density and mass as a short parenthesis."""
        return (
            f"coverage {self.coverage:.0%}, density {self.density:.0%}, "
            f"{self.mass:.0%} of the space"
        )


def prim_box(x: pd.DataFrame, y: np.ndarray) -> Box | None:
    """The PRIM box of the points where ``y`` is true (None when too few or too many are).

    Boxes of PRIM's peeling trajectory that hold at least :data:`MIN_COVERAGE` of the cases
    (:data:`CANDIDATES` of them, evenly spaced along it) are pruned: restrictions that are
    not significant (quasi-p above :data:`QP_LIMIT`) are dropped, least significant first,
    then the least significant beyond :data:`MAX_DIMS` (a sentence a reader can hold). The
    densest pruned box is kept (ties: the larger coverage, then the fewer restrictions).
    """
    y = np.asarray(y, bool)
    if y.sum() < 2 or (~y).sum() < 2:
        return None
    x = x.astype(float).reset_index(drop=True)
    # EMA Workbench warns that ipyparallel is not installed (we use none of it) and uses a
    # pandas keyword that pandas 3.1 deprecates: neither is the user's business
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _prim_box(x, y)


def _prim_box(x: pd.DataFrame, y: np.ndarray) -> Box | None:
    from ema_workbench.analysis import prim

    p = prim.Prim(x, y, peel_alpha=0.05, paste_alpha=0.05, mass_min=0.05)
    box = p.find_box()
    if box is None:
        return None
    traj = box.peeling_trajectory
    initial = box.box_lims[0]
    best: Box | None = None
    candidates = traj.index[traj["coverage"] >= MIN_COVERAGE].to_numpy()
    picks = np.unique(np.linspace(0, len(candidates) - 1, CANDIDATES).round().astype(int))
    for j in candidates[picks]:  # candidates along the trajectory, each pruned
        box.select(int(j))
        for _ in range(x.shape[1]):  # drop restrictions, least significant first
            qp = {u: max(v) for u, v in box.p_values[box._cur_box].items()}
            if not qp or (max(qp.values()) <= QP_LIMIT and len(qp) <= MAX_DIMS):
                break
            worst = sorted(qp.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            box.drop_restriction(worst)
        i = box._cur_box
        qp = {u: float(max(v)) for u, v in box.p_values[i].items()}
        found = _box(x, y, box.box_lims[i], initial, qp)
        if found is not None and (
            best is None
            or (found.density, found.coverage, -len(found.limits))
            > (best.density, best.coverage, -len(best.limits))
        ):
            best = found
    return best


def _box(
    x: pd.DataFrame, y: np.ndarray, lims: pd.DataFrame, initial: pd.DataFrame, qp: dict
) -> Box | None:
    """A :class:`Box` from PRIM's limits (None when it restricts nothing)."""
    limits: dict[str, tuple[float | None, float | None]] = {}
    for name in x.columns:
        lo, hi = float(lims[name].iloc[0]), float(lims[name].iloc[1])
        lo0, hi0 = float(initial[name].iloc[0]), float(initial[name].iloc[1])
        side = (lo if lo > lo0 else None, hi if hi < hi0 else None)
        if side != (None, None):
            limits[name] = side
    if not limits:
        return None
    inside = np.ones(len(x), bool)
    for name, (lo, hi) in limits.items():
        if lo is not None:
            inside &= x[name].to_numpy() >= lo
        if hi is not None:
            inside &= x[name].to_numpy() <= hi
    k = int((y & inside).sum())
    return Box(
        limits=limits,
        coverage=k / int(y.sum()),
        density=k / max(1, int(inside.sum())),
        mass=float(inside.mean()),
        quasi_p={u: qp[u] for u in limits if u in qp},
        inside=inside,
    )


def first_order(
    x: pd.DataFrame, y: np.ndarray, chosen: Sequence[Uncertainty], seed: int = 0
) -> pd.DataFrame:
    """RBD-FAST first-order indices of ``y`` over the sample ``x`` (SALib), largest first:
    the share of ``y``'s variance each uncertainty explains alone, with its 95 % half-width."""
    from SALib.analyze import rbd_fast

    y = np.asarray(y, float)
    names = [u.name for u in chosen]
    if len(y) < 8 or not np.isfinite(y).all() or float(np.var(y)) == 0.0:
        s1 = np.full(len(names), np.nan)
        conf = np.full(len(names), np.nan)
    else:
        problem = {
            "num_vars": len(chosen),
            "names": names,
            "bounds": [[u.low, u.high] for u in chosen],
        }
        m = max(1, min(10, len(y) // 8))
        with np.errstate(invalid="ignore", divide="ignore"):  # a flat bootstrap resample
            res = rbd_fast.analyze(problem, x[names].to_numpy(float), y, M=m, seed=seed)
        s1, conf = np.asarray(res["S1"], float), np.asarray(res["S1_conf"], float)
    out = pd.DataFrame({"uncertainty": names, "S1": s1, "S1_conf": conf})
    out["order"] = -np.nan_to_num(out["S1"], nan=-np.inf)
    return out.sort_values(["order"], kind="stable").drop(columns="order").reset_index(drop=True)


@dataclass(frozen=True)
class KpiAnswer:
    """How ``b`` compares with ``a`` on one KPI over the sampled space."""

    kpi: str
    overall: Paired  # over points: a's mean, b's mean, mean of b − a, its 95 % half-width
    wins: int  # points where b's mean is better
    n: int
    significant_wins: int  # points whose per-seed paired interval excludes 0, on b's side
    significant_losses: int
    when_wins: Paired  # over the points b wins
    when_loses: Paired  # over the points b does not win
    box: Box | None  # where b wins
    box_inside: Paired | None  # b − a inside the box
    box_outside: Paired | None
    loser_box: Box | None  # where a wins

    @property
    def share(self) -> float:
        """Share of points where b wins."""
        return self.wins / self.n if self.n else math.nan

    @property
    def share_interval(self) -> tuple[float, float]:
        """Wilson 95 % interval of that share."""
        return wilson(self.wins, self.n)


def _per_seed_significance(frame: pd.DataFrame, a: str, b: str, kpi: str) -> tuple[int, int]:
    """Points whose paired per-seed interval excludes zero above and below (needs 2+ seeds)."""
    wide = frame.pivot_table(index=["sample", "seed"], columns="setup", values=kpi)
    d = (wide[b] - wide[a]).groupby(level="sample")
    up = down = 0
    for _, diffs in d:
        p = paired(np.zeros(len(diffs)), diffs.to_numpy(float))
        if p.significant:
            up += p.diff > 0
            down += p.diff < 0
    return int(up), int(down)


def answer(
    frame: pd.DataFrame, chosen: Sequence[Uncertainty], a: str, b: str, kpi: str
) -> KpiAnswer:
    """Where and by how much ``b`` beats ``a`` on ``kpi`` (higher is better)."""
    x = points(frame, chosen)
    va, vb = point_means(frame, a, kpi), point_means(frame, b, kpi)
    d = vb - va
    wins = d > 0
    box = prim_box(x, wins)
    loser = prim_box(x, ~wins)
    up, down = _per_seed_significance(frame, a, b, kpi)
    return KpiAnswer(
        kpi=kpi,
        overall=paired(va, vb),
        wins=int(wins.sum()),
        n=len(d),
        significant_wins=up,
        significant_losses=down,
        when_wins=paired(va[wins], vb[wins]),
        when_loses=paired(va[~wins], vb[~wins]),
        box=box,
        box_inside=paired(va[box.inside], vb[box.inside]) if box else None,
        box_outside=paired(va[~box.inside], vb[~box.inside]) if box else None,
        loser_box=loser,
    )
