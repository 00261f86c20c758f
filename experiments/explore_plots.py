"""The explore command's plots: the phase diagram of a comparison and the Sobol bars.

Both return a matplotlib ``Figure`` (``sim.plotting.save`` writes it); matplotlib is imported
only when a plot is drawn, so ``viralchain --help`` and the other commands never load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from experiments.discovery import point_means, points
from experiments.uncertainties import Uncertainty

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from experiments.explore import Comparison


def _axis_label(u: Uncertainty) -> str:
    unit = "× the story's value" if u.unit == "×" else u.unit
    return f"{u.label} ({unit})" if unit else u.label


def _binned(x: np.ndarray, y: np.ndarray, z: np.ndarray, edges_x, edges_y) -> np.ndarray:
    """Mean of ``z`` per cell of the grid (NaN where no point falls)."""
    ix = np.clip(np.digitize(x, edges_x) - 1, 0, len(edges_x) - 2)
    iy = np.clip(np.digitize(y, edges_y) - 1, 0, len(edges_y) - 2)
    total = np.zeros((len(edges_y) - 1, len(edges_x) - 1))
    count = np.zeros_like(total)
    np.add.at(total, (iy, ix), z)
    np.add.at(count, (iy, ix), 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def plot_phase(frame: pd.DataFrame, chosen: Sequence[Uncertainty], c: Comparison) -> Figure:
    """The challenger − baseline difference over the two most decisive uncertainties.

    One panel per KPI (profit, fill rate): the cells' colour is the mean difference of the
    points falling in them (the other uncertainties averaged over), blue where the baseline
    does better, orange where the challenger does; dots are the points (filled: the
    challenger wins); the dashed rectangle is the PRIM box where it wins, when the box
    restricts these axes.
    """
    from matplotlib import pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm

    import sim.plotting  # noqa: F401  (selects the headless backend)
    from sim.plotting import SETUP_COLORS, fit_text

    by = {u.name: u for u in chosen}
    ux, uy = (by[n] for n in c.decisive()[:2])
    x = points(frame, chosen)
    px, py = x[ux.name].to_numpy(), x[uy.name].to_numpy()
    k = int(np.clip(round(np.sqrt(len(px) / 4)), 3, 10))
    ex, ey = np.linspace(ux.low, ux.high, k + 1), np.linspace(uy.low, uy.high, k + 1)
    cmap = LinearSegmentedColormap.from_list(
        "setups", [SETUP_COLORS["rigid"], "#f4f4f4", SETUP_COLORS["flexible"]]
    ).with_extremes(bad="#c8c8c8")  # grey: a cell no point fell in
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    for ax, kpi in zip(axes, ("profit", "fill_rate"), strict=True):
        d = point_means(frame, c.b, kpi) - point_means(frame, c.a, kpi)
        grid = _binned(px, py, d, ex, ey)
        span = float(np.nanmax(np.abs(d))) or 1.0
        norm = TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)
        mesh = ax.pcolormesh(ex, ey, grid, cmap=cmap, norm=norm, shading="flat")
        win = d > 0
        ax.scatter(px[win], py[win], s=12, c=SETUP_COLORS["flexible"], edgecolors="k", lw=0.4)
        ax.scatter(px[~win], py[~win], s=12, facecolors="none", edgecolors="#333", lw=0.6)
        box = c.answers[kpi].box
        if box is not None and (ux.name in box.limits or uy.name in box.limits):
            lo_x, hi_x = box.limits.get(ux.name, (None, None))
            lo_y, hi_y = box.limits.get(uy.name, (None, None))
            x0, x1 = lo_x if lo_x is not None else ux.low, hi_x if hi_x is not None else ux.high
            y0, y1 = lo_y if lo_y is not None else uy.low, hi_y if hi_y is not None else uy.high
            ax.add_patch(
                plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=1.6, ec="k")
            )
        unit = "percentage points" if kpi == "fill_rate" else "money"
        bar = fig.colorbar(mesh, ax=ax, shrink=0.9)
        bar.set_label(f"{c.b} − {c.a}, {kpi.replace('_', ' ')} ({unit})")
        if kpi == "fill_rate":
            bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{v * 100:+.0f}")
        ax.set_xlabel(_axis_label(ux))
        ax.set_ylabel(_axis_label(uy))
        ax.set_xlim(ux.low, ux.high)
        ax.set_ylim(uy.low, uy.high)
        ax.set_title(
            f"{kpi.replace('_', ' ')}: {c.b} wins at {c.answers[kpi].share:.0%} of the points",
            fontsize=10,
        )
    fig.suptitle(
        fit_text(
            f"Where {c.b} beats {c.a}: cells = mean difference of the points in them "
            "(other uncertainties averaged over; grey: no point); filled dots = points it wins; "
            "dashed = PRIM box",
            fig,
            fontsize=10,
        ),
        fontsize=10,
    )
    return fig


def plot_sobol(table: pd.DataFrame, chosen: Sequence[Uncertainty]) -> Figure:
    """Bars of S1 (solid) and ST (light) with 95 % intervals, a panel per KPI and output."""
    from matplotlib import pyplot as plt

    import sim.plotting  # noqa: F401  (selects the headless backend)
    from sim.plotting import color_for

    kpis = list(dict.fromkeys(table["kpi"]))
    outputs = list(dict.fromkeys(table["output"]))
    names = [u.name for u in chosen]
    fig, axes = plt.subplots(
        len(kpis),
        len(outputs),
        figsize=(3.4 * len(outputs) + 1.6, 0.42 * len(names) * len(kpis) + 1.4),
        sharey=True,
        squeeze=False,
        constrained_layout=True,
    )
    y = np.arange(len(names))
    for r, k in enumerate(kpis):
        for col, o in enumerate(outputs):
            ax = axes[r][col]
            rows = table[(table["kpi"] == k) & (table["output"] == o)].set_index("uncertainty")
            rows = rows.reindex(names)
            colour = color_for(o, col) if "−" not in o else "#5DA271"
            ax.barh(y + 0.2, rows["ST"], 0.38, xerr=rows["ST_conf"], color=colour, alpha=0.4)
            ax.barh(y - 0.2, rows["S1"], 0.38, xerr=rows["S1_conf"], color=colour)
            ax.axvline(0, color="#999", lw=0.6)
            ax.set_xlim(-0.05, 1.05)
            ax.set_title(f"{k.replace('_', ' ')}: {o}", fontsize=9)
            if col == 0:
                ax.set_yticks(y, [u.label for u in chosen], fontsize=8)
            if r == len(kpis) - 1:
                ax.set_xlabel("Sobol index (solid S1, light ST)", fontsize=8)
    axes[0][0].invert_yaxis()
    return fig
