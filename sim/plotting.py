"""Plots shared by the command line, the sweep report, the notebooks and the dashboard.

Every function takes tables (pandas DataFrames in the contract schemas) and returns a
matplotlib ``Figure``; :func:`save` writes it. Setups keep fixed colours everywhere: rigid is
grey-blue, flexible orange, other labels follow the default cycle.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

# headless (files only) unless a Jupyter kernel chose its inline backend: notebooks then show
# the figures; the dashboard embeds them as images either way
if "ipykernel" not in sys.modules and "inline" not in os.environ.get("MPLBACKEND", ""):
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from sim.kpis import BY_NAME as KPI_CATALOGUE

SETUP_COLORS = {"rigid": "#4C6A92", "flexible": "#E8833A"}
_CYCLE = ["#4C6A92", "#E8833A", "#5DA271", "#B5485D", "#8E6CB0", "#C9A227"]


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A new figure: pyplot's in a notebook or wherever pyplot is in use (a notebook shows
    the figures pyplot holds at the end of a cell), else a bare ``Figure`` on an Agg canvas:
    no pyplot import, no backend resolution, no figure manager (``viralchain run``)."""
    if "ipykernel" in sys.modules or "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def color_for(label: str, i: int = 0) -> str:
    """The colour of a setup or series label."""
    for key, c in SETUP_COLORS.items():
        if key in label:
            return c
    return _CYCLE[i % len(_CYCLE)]


def kpi_title(name: str, unit: bool = True, better: bool = True) -> str:
    """A KPI's label from the catalogue (``sim.kpis``), with its unit and which way is better.

    Names that are not KPIs come back with spaces for underscores.
    """
    k = KPI_CATALOGUE.get(name)
    if k is None:
        return name.replace("_", " ")
    notes = [k.unit] if unit else []
    if better and k.better != "neither":
        notes.append(f"{k.better} is better")
    return f"{k.label} ({'; '.join(notes)})" if notes else k.label


def fit_text(text: str, fig: Figure, fontsize: float = 12.0, share: float = 0.96) -> str:
    """``text`` wrapped to ``share`` of the figure's width (a character is at most about 0.6
    of the font size wide), so that a title never runs off the figure's edges."""
    chars = max(20, int(fig.get_figwidth() * 72 * share / (0.6 * fontsize)))
    return textwrap.fill(text, chars, break_on_hyphens=False, break_long_words=False)


def _suptitle(fig: Figure, title: str) -> int:
    """The figure's title, wrapped to its width; how many lines it takes (0: none)."""
    if not title:
        return 0
    wrapped = fit_text(title, fig)
    fig.suptitle(wrapped)
    return wrapped.count("\n") + 1


def short_labels(labels: Sequence[str]) -> tuple[list[str], str]:
    """Combination labels (``key=value, key=value``) made short for a plot.

    The ``key=value`` parts that every label has are taken out and returned joined (for a
    title); a dotted key keeps only its last segment when that names one key. Labels that
    are not ``key=value`` lists come back as they are.

    Returns:
        the short labels, in order, and the common part ("" when none).
    """
    parts = [[p.strip() for p in str(label).split(", ")] for label in labels]
    common = [p for p in parts[0] if all(p in q for q in parts[1:])] if len(parts) > 1 else []
    rest = [[p for p in q if p not in common] or q for q in parts]
    keys = sorted({p.partition("=")[0] for q in parts for p in q if "=" in p})
    last = {k: k.rsplit(".", 1)[-1] for k in keys}
    unique = len(set(last.values())) == len(last)

    def shorten(p: str) -> str:
        key, eq, value = p.partition("=")
        return f"{last[key]}={value}" if eq and unique else p

    return [", ".join(map(shorten, q)) for q in rest], ", ".join(map(shorten, common))


def hourly_totals(ts: pd.DataFrame, brand_skus: list[str] | None = None) -> pd.DataFrame:
    """Totals per time step: market flows (regions), stock (warehouses), output (factories).

    Columns: ``demand, sold, lost, views, backlog, returned`` (regions), ``on_hand,
    in_transit, shipped`` (warehouses), ``parcels_in_transit`` (parcels heading to buyers),
    ``produced`` (factories) and ``delivered``: units that reached buyers in the step,
    derived as the change of (parcels shipped so far − parcels still on their way).
    """
    if brand_skus is not None:
        ts = ts[ts["sku"].isin(brand_skus)]
    reg = (
        ts[ts["node_type"] == "region"]
        .groupby("t_hours")[["demand", "sold", "lost", "views", "backlog", "returned"]]
        .sum()
    )
    wh = (
        ts[ts["node_type"] == "warehouse"]
        .groupby("t_hours")[["on_hand", "in_transit", "shipped"]]
        .sum()
    )
    parcels = (
        ts[ts["node_type"] == "region"]
        .groupby("t_hours")[["in_transit"]]
        .sum()
        .rename(columns={"in_transit": "parcels_in_transit"})
    )
    fac = ts[ts["node_type"] == "factory"].groupby("t_hours")[["produced"]].sum()
    out = reg.join(wh, how="outer").join(parcels, how="outer").join(fac, how="outer").fillna(0)
    # parcels handed to last-mile carriers and no longer on their way have been delivered
    delivered_cum = out["shipped"].cumsum() - out["parcels_in_transit"]
    out["delivered"] = delivered_cum.diff().fillna(delivered_cum)
    out.index.name = "t_hours"
    return out


def peak_window(demand: pd.Series, before_h: int = 48, after_h: int = 96) -> tuple[int, int]:
    """Time range around the demand peak (the whole run when demand is flat)."""
    if len(demand) == 0 or demand.max() <= 0:
        return (0, int(demand.index.max()) if len(demand) else 0)
    peak = int(demand.idxmax())
    return (max(int(demand.index.min()), peak - before_h), peak + after_h)


def _days(index: pd.Index) -> np.ndarray:
    return np.asarray(index, dtype=float) / 24.0


def plot_run(
    timeseries: pd.DataFrame, events: pd.DataFrame, title: str = "", skus: list[str] | None = None
) -> Figure:
    """One run: views and demand, sales vs lost sales, stock per warehouse, production."""
    tot = hourly_totals(timeseries, skus)
    fig = new_figure((13, 8))
    axes = fig.subplots(2, 2, sharex=True)
    ax = axes[0, 0]
    x = _days(tot.index)
    ax.fill_between(x, tot["views"], color="#BBBBBB", alpha=0.6, label="content views")
    ax.set_ylabel("views per step")
    ax2 = ax.twinx()
    ax2.plot(x, tot["demand"], color="#B5485D", lw=1.2, label="demand (units)")
    ax2.set_ylabel("demand, units per step")
    ax.set_title("Content views and the demand they create")
    _legend(ax, ax2)
    ax = axes[0, 1]
    ax.plot(x, tot["sold"].cumsum(), color="#5DA271", label="sold (cumulative)")
    ax.plot(x, tot["lost"].cumsum(), color="#B5485D", label="lost sales (cumulative)")
    ax.plot(x, tot["returned"].cumsum(), color="#8E6CB0", ls="--", label="returned (cumulative)")
    ax.set_ylabel("units")
    ax.set_title("Sales, lost sales and returns")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1, 0]
    wh = timeseries[timeseries["node_type"] == "warehouse"]
    if skus is not None:
        wh = wh[wh["sku"].isin(skus)]
    for i, (node, g) in enumerate(wh.groupby("node", sort=True)):
        s = g.groupby("t_hours")["on_hand"].sum()
        ax.step(_days(s.index), s.values, where="post", label=str(node), color=_CYCLE[i % 6])
    ax.set_ylabel("units on hand")
    ax.set_xlabel("day")
    ax.set_title("Stock per warehouse")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1, 1]
    _bars(ax, x, tot["produced"].to_numpy(), color="#4C6A92", label="produced")
    ax.set_ylabel("units produced per step")
    ax.set_xlabel("day")
    ax.set_title("Production, and when orders were placed")
    if len(events):
        for kind, color, marker in (
            ("production_order", "#4C6A92", "v"),
            ("rush_order", "#B5485D", "v"),
            ("livestream_start", "#E8833A", "*"),
        ):
            ev = events[events["kind"] == kind]
            if len(ev):
                ymax = max(1.0, float(tot["produced"].max()))
                ax.scatter(
                    ev["t_hours"] / 24.0,
                    np.full(len(ev), ymax * 1.05),
                    marker=marker,
                    color=color,
                    s=60,
                    label=kind.replace("_", " "),
                    zorder=3,
                )
    ax.legend(loc="upper right", fontsize=8)
    title_lines = _suptitle(fig, title)
    for a in fig.axes:  # short tick labels (250k, 1.5M): they fit the fixed margins
        a.yaxis.set_major_formatter(FuncFormatter(compact_number))
    _margins(fig, title_lines, gap_x_in=1.6)  # the first panel's twin axis: labels on the right
    return fig


def compact_number(value: float, _pos: object = None) -> str:
    """A short tick label (four significant digits): ``950``, ``12.5k``, ``1.125M``, ``3G``."""
    size = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


# fixed margins around a grid of panels, in inches: room for tick labels of up to six
# characters (:func:`compact_number`) and an axis label on the left (and, between the
# columns, for a twin axis's right-hand ones), the x tick labels and label at the bottom,
# each panel's title above it
_MARGIN_IN = {"left": 0.95, "right": 0.2, "bottom": 0.6, "top": 0.45, "gap_y": 0.5}


def _margins(fig: Figure, title_lines: int, gap_x_in: float) -> None:
    """Place a grid of panels with fixed margins (:data:`_MARGIN_IN`) and room above for
    the title's ``title_lines`` lines: the layout ``tight_layout`` finds for this plot,
    without the extra drawing pass it costs to measure every label."""
    width, height = fig.get_size_inches()
    top_in = _MARGIN_IN["top"] + title_lines * 0.24
    geometry = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    rows, cols = geometry
    span_x = width - _MARGIN_IN["left"] - _MARGIN_IN["right"]
    span_y = height - _MARGIN_IN["bottom"] - top_in
    panel_w = (span_x - (cols - 1) * gap_x_in) / cols
    panel_h = (span_y - (rows - 1) * _MARGIN_IN["gap_y"]) / rows
    fig.subplots_adjust(
        left=_MARGIN_IN["left"] / width,
        right=1 - _MARGIN_IN["right"] / width,
        bottom=_MARGIN_IN["bottom"] / height,
        top=1 - top_in / height,
        wspace=gap_x_in / panel_w,
        hspace=_MARGIN_IN["gap_y"] / panel_h,
    )


def _bars(ax, x: np.ndarray, heights: np.ndarray, **style) -> None:
    """Bars of ``heights`` centred on ``x`` as one filled step outline: one artist for the
    whole series, where ``ax.bar`` draws a rectangle per time step. A step-wise
    ``fill_between`` (one polygon, its data limits taken with numpy), not ``ax.stairs``,
    whose patch has its limits found segment by segment in Python (≈ 0.02–0.03 s for a
    month of hours)."""
    if len(x) == 0:
        return
    width = max(x[1] - x[0], 1 / 24) if len(x) > 1 else 0.04
    if len(x) > 1 and not np.allclose(np.diff(x), x[1] - x[0]):  # uneven steps: real bars
        ax.bar(x, heights, width=width, **style)
        return
    edges = np.append(x - width / 2, x[-1] + width / 2)
    fill = ax.fill_between(edges, np.append(heights, heights[-1:]), step="post", **style)
    fill.sticky_edges.y.append(0.0)  # the axis starts at zero, as a bar chart's does


def plot_comparison(
    runs: Mapping[str, tuple[pd.DataFrame, Mapping[str, float]]],
    title: str = "",
    skus: list[str] | None = None,
) -> Figure:
    """Several runs (e.g. rigid vs flexible on the same seed), overlaid.

    One legend for all four panels, under them: a run keeps its colour everywhere.

    Args:
        runs: label → (timeseries, KPIs).
    """
    fig = new_figure((13, 8))
    axes = fig.subplots(2, 2)
    kpi_names = ["fill_rate", "on_time_rate", "quick_response_share"]
    first = hourly_totals(next(iter(runs.values()))[0], skus)
    lo, hi = peak_window(first["demand"])
    for i, (label, (ts, _)) in enumerate(runs.items()):
        tot = hourly_totals(ts, skus)
        c = color_for(label, i)
        x = _days(tot.index)
        near = (tot.index >= lo) & (tot.index <= hi)
        if i == 0:
            axes[0, 0].fill_between(x[near], tot["demand"][near], color="#DDDDDD", label="demand")
        axes[0, 0].plot(x[near], tot["sold"][near], color=c, lw=1.2, label=label)
        axes[0, 1].plot(x, tot["lost"].cumsum(), color=c)
        axes[1, 0].step(x, tot["on_hand"], where="post", color=c)
    axes[0, 0].set_title("Demand (grey) and sales around the peak (per step)")
    axes[0, 0].set_ylabel("units")
    axes[0, 1].set_title("Lost sales (cumulative)")
    axes[0, 1].set_ylabel("units")
    axes[1, 0].set_title("Stock on hand, all warehouses")
    axes[1, 0].set_ylabel("units")
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
        ax.set_xlabel("day")
    ax = axes[1, 1]
    labels = list(runs)
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        k = runs[label][1]
        vals = [k.get(n, np.nan) for n in kpi_names]
        ax.bar(
            np.arange(len(kpi_names)) + i * width,
            vals,
            width,
            color=color_for(label, i),
        )
    ax.set_xticks(np.arange(len(kpi_names)) + width * (len(labels) - 1) / 2)
    ax.set_xticklabels([kpi_title(n, unit=False, better=False) for n in kpi_names])
    ax.set_ylim(0, 1.05)
    ax.set_title("Service and flexibility (share, 0–1)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    one_row = sum(len(n) for n in names) < 110
    fig.legend(
        handles,
        names,
        loc="lower center",
        ncol=len(names) if one_row else 1,
        fontsize=9,
        frameon=False,
    )
    _suptitle(fig, title)
    legend_rows = 1 if one_row else len(names)
    fig.tight_layout(rect=(0, 0.015 + 0.035 * legend_rows, 1, 1))
    return fig


# ----------------------------------------------------------------------------- live comparison
# Panels drawn on a given Axes from several runs' tables (label → (timeseries, events)); the
# dashboard redraws them as a run unfolds (``now_hours``), notebooks and reports draw them for
# finished runs. The x axis is always days of the run, the same for every panel.

RunTables = tuple[pd.DataFrame, pd.DataFrame]
"""(timeseries, events) of one run, in the contract schemas."""

_WAREHOUSE_STYLES = ["-", "--", ":", "-."]


@dataclass(frozen=True)
class _Prepared:
    """One run's series, totalled once for every panel."""

    label: str
    color: str
    totals: pd.DataFrame
    stock: dict[str, pd.Series]  # warehouse → units on hand per step
    events: pd.DataFrame


def _prepare(
    runs: Mapping[str, RunTables],
    skus: list[str] | None = None,
    now_hours: float | None = None,
) -> list[_Prepared]:
    out = []
    for i, (label, (ts, ev)) in enumerate(runs.items()):
        if now_hours is not None:
            ts = ts[ts["t_hours"] < now_hours]
            ev = ev[ev["t_hours"] < now_hours] if len(ev) else ev
        if skus is not None:
            ts = ts[ts["sku"].isin(skus)]
            ev = ev[ev["sku"].isin(skus) | (ev["sku"] == "")] if len(ev) else ev
        wh = ts[ts["node_type"] == "warehouse"]
        stock = {
            str(node): g.groupby("t_hours")["on_hand"].sum()
            for node, g in wh.groupby("node", sort=True)
        }
        out.append(_Prepared(label, color_for(label, i), hourly_totals(ts), stock, ev))
    return out


def _frame_axis(ax, now_hours: float | None, horizon_hours: float | None) -> None:
    if horizon_hours:
        ax.set_xlim(0, horizon_hours / 24.0)
    if now_hours is not None and (not horizon_hours or now_hours < horizon_hours):
        ax.axvline(now_hours / 24.0, color="#333333", lw=0.8, ls=":", zorder=1)
    ax.grid(alpha=0.25)


def _no_data(ax, message: str = "no data yet: step or play the run") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#777777")


def _of_kind(ev: pd.DataFrame, kind: str) -> pd.DataFrame:
    return ev[ev["kind"] == kind] if len(ev) else ev


def _draw_views_demand(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Views and demand")
    ax.set_ylabel("content views per hour")
    ax2 = ax.twinx()
    ax2.set_ylabel("demand, units per hour")
    for i, r in enumerate(p for p in runs if not p.totals.empty):
        x = _days(r.totals.index)
        if i == 0:
            ax.fill_between(x, r.totals["views"], color="#CCCCCC", alpha=0.7, label="views")
            live = _of_kind(r.events, "livestream_start")
            for j, t in enumerate(live["t_hours"] if len(live) else []):
                ax.axvline(
                    t / 24.0, color="#C9A227", lw=1.2, label="live stream" if j == 0 else None
                )
        ax2.plot(x, r.totals["demand"], color=r.color, lw=1.1, label=f"demand — {r.label}")
    if all(p.totals.empty for p in runs):
        _no_data(ax)
    _legend(ax, ax2)


def _draw_sales(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Sales vs lost sales (cumulative)")
    ax.set_ylabel("units")
    for r in runs:
        if r.totals.empty:
            continue
        x = _days(r.totals.index)
        ax.plot(x, r.totals["sold"].cumsum(), color=r.color, lw=1.6, label=f"sold — {r.label}")
        ax.plot(
            x, r.totals["lost"].cumsum(), color=r.color, lw=1.4, ls="--", label=f"lost — {r.label}"
        )
    _finish(ax, runs, "upper left")


def _draw_stock(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Stock per warehouse")
    ax.set_ylabel("units on hand")
    for r in runs:
        for j, (node, s) in enumerate(r.stock.items()):
            ax.step(
                _days(s.index),
                s.values,
                where="post",
                color=r.color,
                ls=_WAREHOUSE_STYLES[j % len(_WAREHOUSE_STYLES)],
                lw=1.3,
                label=f"{node} — {r.label}",
            )
        out = _of_kind(r.events, "stockout_start")
        if len(out):
            out = out[out["detail"].str.startswith("network")]
        if len(out):
            ax.plot(
                out["t_hours"] / 24.0,
                np.zeros(len(out)),
                ls="none",
                marker="^",
                ms=7,
                color=r.color,
                markeredgecolor="#B5485D",
                label=f"sold out everywhere — {r.label}",
            )
    _finish(ax, runs, "upper right", fontsize=7)


def _draw_production(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Production and orders")
    ax.set_ylabel("units produced (cumulative)")
    for r in runs:
        if r.totals.empty:
            continue
        made = r.totals["produced"].cumsum()
        ax.plot(_days(r.totals.index), made, color=r.color, lw=1.6, label=f"produced — {r.label}")
        for kind, name in (("production_order", "order"), ("rush_order", "RUSH order")):
            o = _of_kind(r.events, kind)
            if not len(o):
                continue
            t = o["t_hours"].to_numpy(float)
            y = np.interp(t, r.totals.index.to_numpy(float), made.to_numpy(float))
            rush = kind == "rush_order"
            ax.scatter(
                t / 24.0,
                y,
                marker="v",
                s=70 if rush else 45,
                color=r.color,
                edgecolors="#B5485D" if rush else "white",
                linewidths=1.8 if rush else 0.5,
                zorder=3,
                label=f"{name} placed — {r.label}",
            )
    _finish(ax, runs, "upper left", fontsize=7)


def _draw_deliveries(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Deliveries and returns (cumulative)")
    ax.set_ylabel("units")
    for r in runs:
        if r.totals.empty:
            continue
        x = _days(r.totals.index)
        ax.plot(
            x, r.totals["delivered"].cumsum(), color=r.color, lw=1.6, label=f"delivered — {r.label}"
        )
        ax.plot(
            x,
            r.totals["returned"].cumsum(),
            color=r.color,
            lw=1.4,
            ls=":",
            label=f"returned — {r.label}",
        )
    _finish(ax, runs, "upper left")


def _draw_waiting(ax, runs: list[_Prepared]) -> None:
    ax.set_title("Orders waiting and parcels on the road")
    ax.set_ylabel("units")
    for r in runs:
        if r.totals.empty:
            continue
        x = _days(r.totals.index)
        ax.plot(x, r.totals["backlog"], color=r.color, lw=1.5, label=f"waiting — {r.label}")
        ax.plot(
            x,
            r.totals["parcels_in_transit"],
            color=r.color,
            lw=1.2,
            ls=":",
            label=f"on the road — {r.label}",
        )
    _finish(ax, runs, "upper right")


def _finish(ax, runs: list[_Prepared], loc: str, fontsize: int = 8) -> None:
    if all(p.totals.empty for p in runs):
        _no_data(ax)
    else:
        ax.legend(loc=loc, fontsize=fontsize)


def _panel(draw):
    def panel(ax, runs: Mapping[str, RunTables], skus: list[str] | None = None) -> None:
        draw(ax, _prepare(runs, skus))

    return panel


panel_views_demand = _panel(_draw_views_demand)
panel_views_demand.__doc__ = "Content views (grey, left axis) and demand per setup (right axis)."
panel_sales = _panel(_draw_sales)
panel_sales.__doc__ = "Cumulative sales (solid) and lost sales (dashed) per setup."
panel_stock = _panel(_draw_stock)
panel_stock.__doc__ = "Units on hand per warehouse (line style) and setup (colour)."
panel_production = _panel(_draw_production)
panel_production.__doc__ = "Cumulative production; triangles: orders placed (red edge: rush)."
panel_deliveries = _panel(_draw_deliveries)
panel_deliveries.__doc__ = "Cumulative deliveries to buyers (solid) and returns (dotted)."
panel_waiting = _panel(_draw_waiting)
panel_waiting.__doc__ = "Units sold and waiting for stock (solid), parcels on the road (dotted)."

_DASHBOARD_DRAWS = (
    _draw_views_demand,
    _draw_sales,
    _draw_stock,
    _draw_production,
    _draw_deliveries,
    _draw_waiting,
)


def plot_dashboard(
    runs: Mapping[str, RunTables],
    *,
    now_hours: float | None = None,
    horizon_hours: float | None = None,
    title: str = "",
    skus: list[str] | None = None,
    figsize: tuple[float, float] = (15, 8),
) -> Figure:
    """Several runs side by side, as the workshop dashboard shows them: six panels.

    Views and demand, sales vs lost sales, stock per warehouse, production and orders,
    deliveries and returns, orders waiting. Setups keep their colours (rigid grey-blue,
    flexible orange); the x axis is days of the run. The figure is not registered with
    pyplot (safe in a server); :func:`save` writes it, a notebook shows it.

    Args:
        runs: label → (timeseries, events) of each run, on the same story and seed.
        now_hours: draw only the hours before this one and mark it (a run in progress).
        horizon_hours: fix the x axis to the whole run (so a run in progress fills it in).
        title: the figure title.
        skus: the SKUs to total (default: all in the tables).
        figsize: inches.
    """
    prepared = _prepare(runs, skus, now_hours)
    fig = Figure(figsize=figsize)  # fixed margins: a layout engine triples the drawing time
    axes = fig.subplots(2, 3, sharex=True)
    fig.subplots_adjust(left=0.05, right=0.965, bottom=0.07, top=0.92, wspace=0.34, hspace=0.2)
    for ax, draw in zip(axes.flat, _DASHBOARD_DRAWS, strict=True):
        draw(ax, prepared)
        _frame_axis(ax, now_hours, horizon_hours)
    for ax in axes[1]:
        ax.set_xlabel("day")
    if title:
        fig.suptitle(title)
    return fig


def _legend(*axes) -> None:
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    axes[0].legend(handles, labels, loc="upper right", fontsize=8)


# zlib's fastest level for the PNGs: a quarter less encoding time than the default (6) for
# files about a tenth larger (the run plot: 118 kB instead of 105 kB)
PNG_COMPRESS_LEVEL = 1


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure to PNG (atomically) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=dpi, format="png", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    if "matplotlib.pyplot" in sys.modules:  # a pyplot figure: let pyplot forget it
        sys.modules["matplotlib.pyplot"].close(fig)
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- sweep report
# Plots of a sweep's summary tables (``experiments/sweep_stats.py``): one row per
# (combination, KPI) with ``mean, ci_low, ci_high, setup``, or per compared pair.


def _combo_colors(summary: pd.DataFrame, combos: list[str]) -> dict[str, str]:
    setups = summary.drop_duplicates("combination").set_index("combination")["setup"]
    return {c: color_for(str(setups.get(c, c)), i) for i, c in enumerate(combos)}


def plot_kpi_intervals(
    summary: pd.DataFrame, kpis: list[str], title: str = "", level: float = 0.95
) -> Figure:
    """KPI means per policy combination with their confidence intervals, one panel per KPI.

    Args:
        summary: rows (combination, setup, kpi, n, mean, ci_low, ci_high).
        kpis: the KPIs to draw, in panel order.
    """
    from matplotlib import ticker

    combos = list(dict.fromkeys(summary["combination"]))
    colors = _combo_colors(summary, combos)
    ncol = min(3, max(1, len(kpis)))
    nrow = -(-len(kpis) // ncol)
    height = max(2.2, 0.32 * len(combos) + 1.2)
    fig = new_figure((4.6 * ncol, height * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    y = np.arange(len(combos))[::-1]
    for ax, kpi in zip(axes.flat, kpis, strict=False):
        rows = summary[summary["kpi"] == kpi].set_index("combination").reindex(combos)
        mean = rows["mean"].to_numpy(float)
        err = np.vstack(
            [mean - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - mean]
        )
        err = np.nan_to_num(err)
        for j, c in enumerate(combos):
            ax.errorbar(mean[j], y[j], xerr=err[:, [j]], fmt="o", color=colors[c], capsize=3, ms=5)
        ax.set_title(kpi_title(kpi), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.set_yticks(y)
        ax.set_yticklabels(combos, fontsize=8)
    for ax in list(axes.flat)[len(kpis) :]:
        ax.set_visible(False)
    n = summary.loc[summary["n"] > 0, "n"]
    runs = (
        f"{n.min()}–{n.max()}" if len(n) and n.min() != n.max() else f"{n.max() if len(n) else 0}"
    )
    _suptitle(
        fig, title or f"KPI means with {level:.0%} confidence intervals ({runs} runs per point)"
    )
    fig.tight_layout()
    return fig


SCREENED = "#9a9a9a"  # a two-stage study's trials that were only screened (plot_frontier)


def plot_frontier(
    points: pd.DataFrame, x: str = "fill_rate", y: str = "profit", title: str = ""
) -> Figure:
    """Cost vs service: each combination's mean ``y`` against mean ``x``, Pareto front marked.

    With more than eight combinations only the Pareto-optimal ones are named (the table in
    ``frontier.csv`` names all). A two-stage study's points (a ``confirmed`` column) that
    were only screened, on fewer replications, are small grey diamonds: their means are
    not comparable with the confirmed ones', among which the front is drawn.

    Args:
        points: one row per combination with ``combination, setup, pareto`` and
            ``<x>_mean, <x>_low, <x>_high, <y>_mean, <y>_low, <y>_high``.
    """
    fig = new_figure((8.5, 6))
    ax = fig.subplots()
    combos = list(points["combination"])
    short = dict(zip(combos, short_labels(combos)[0], strict=True))
    names: dict[tuple[float, float], list[str]] = {}
    for i, row in enumerate(points.itertuples(index=False)):
        r = row._asdict()
        c = color_for(str(r["setup"]), i)
        xm, ym = r[f"{x}_mean"], r[f"{y}_mean"]
        if not r.get("confirmed", True):  # screened only: its means are on fewer replications
            ax.scatter([xm], [ym], s=22, marker="D", facecolors="white", edgecolors=SCREENED)
            continue
        xerr = [[xm - r[f"{x}_low"]], [r[f"{x}_high"] - xm]]
        yerr = [[ym - r[f"{y}_low"]], [r[f"{y}_high"] - ym]]
        ax.errorbar(
            xm,
            ym,
            xerr=np.nan_to_num(xerr),
            yerr=np.nan_to_num(yerr),
            fmt="none",
            ecolor=c,
            alpha=0.45,
            capsize=2,
        )
        ax.scatter(
            [xm],
            [ym],
            s=110 if r["pareto"] else 55,
            marker="*" if r["pareto"] else "o",
            facecolors=c if r["pareto"] else "white",
            edgecolors=c,
            linewidths=1.5,
            zorder=3,
        )
        if r["pareto"] or len(points) <= 8:  # many policies: name the front only
            names.setdefault((xm, ym), []).append(short[str(r["combination"])])
    x0, x1 = ax.get_xlim()
    for (xm, ym), labels in names.items():  # policies with equal means share one label
        text = "\n".join(labels[:3]) + (f"\n(+{len(labels) - 3} more)" if len(labels) > 3 else "")
        right = x1 > x0 and (xm - x0) / (x1 - x0) > 0.5  # right half: the label grows leftwards
        ax.annotate(
            text,
            (xm, ym),
            textcoords="offset points",
            xytext=(-6, 4) if right else (6, 4),
            ha="right" if right else "left",
            fontsize=7,
            color="#333333",
        )
    groups = points.groupby("story") if "story" in points.columns else [("", points)]
    labelled = False
    for _, group in groups:  # one front per story: stories are not alternatives
        front = group[group["pareto"]].sort_values(f"{x}_mean")
        if len(front) > 1:
            ax.plot(
                front[f"{x}_mean"],
                front[f"{y}_mean"],
                color="#333333",
                lw=1,
                ls="--",
                zorder=2,
                label=None if labelled else "Pareto front",
            )
            labelled = True
    ax.scatter([], [], marker="*", s=110, color="#333333", label="Pareto-optimal")
    ax.scatter(
        [], [], marker="o", s=55, facecolors="white", edgecolors="#333333", label="dominated"
    )
    if "confirmed" in points.columns and not points["confirmed"].all():
        ax.scatter(
            [],
            [],
            marker="D",
            s=22,
            facecolors="white",
            edgecolors=SCREENED,
            label="screened only (fewer replications)",
        )
    ax.set_xlabel(f"{kpi_title(x)}: mean, 95% CI")
    ax.set_ylabel(f"{kpi_title(y)}: mean, 95% CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    auto = f"Cost vs service: {kpi_title(y, False, False)} against {kpi_title(x, False, False)}"
    ax.set_title(fit_text(title or f"{auto} ({len(combos)} policies)", fig))
    fig.tight_layout()
    return fig


def plot_paired_differences(diffs: pd.DataFrame, kpis: list[str], title: str = "") -> Figure:
    """Differences to the baseline with their paired (CRN) and unpaired 95% intervals.

    Args:
        diffs: rows (combination, baseline, kpi, mean_diff, paired_half_width,
            unpaired_half_width).
    """
    from matplotlib import ticker

    combos = list(dict.fromkeys(diffs["combination"]))
    ncol = min(3, max(1, len(kpis)))
    nrow = -(-len(kpis) // ncol)
    height = max(2.2, 0.45 * len(combos) + 1.2)
    fig = new_figure((4.6 * ncol, height * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False, sharey=True)
    y = np.arange(len(combos))[::-1]
    for ax, kpi in zip(axes.flat, kpis, strict=False):
        rows = diffs[diffs["kpi"] == kpi].set_index("combination").reindex(combos)
        m = rows["mean_diff"].to_numpy(float)
        ax.errorbar(
            m,
            y + 0.12,
            xerr=np.nan_to_num(rows["unpaired_half_width"].to_numpy(float)),
            fmt="o",
            color="#AAAAAA",
            capsize=3,
            ms=4,
            label="unpaired (independent)",
        )
        ax.errorbar(
            m,
            y - 0.12,
            xerr=np.nan_to_num(rows["paired_half_width"].to_numpy(float)),
            fmt="o",
            color="#B5485D",
            capsize=3,
            ms=4,
            label="paired (same demand)",
        )
        ax.axvline(0, color="#333333", lw=0.8)
        ax.set_title(kpi_title(kpi, better=False) + " − baseline", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.set_yticks(y)
        ax.set_yticklabels(combos, fontsize=8)
    for ax in list(axes.flat)[len(kpis) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    base = ", ".join(dict.fromkeys(diffs["baseline"])) if len(diffs) else ""
    _suptitle(fig, title or f"Paired differences to {base} (95% CIs)")
    fig.tight_layout()
    return fig
