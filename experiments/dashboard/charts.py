"""The dashboard's six charts: native Vega-Lite charts in the browser, fed hour by hour.

Two parts, no UI state:

- :func:`side_series` reads a running model's hourly totals straight from its recorder's
  array (the same sums as :func:`sim.plotting.hourly_totals` over the ``timeseries`` table,
  without building that table every step) and the events that the charts mark;
- :func:`chart_views` turns both sides' series into six :class:`ChartView` (a Vega-Lite spec
  plus its named datasets) for a time window: the hours around "now" (the default, so the
  live stream is not a one-pixel needle) or the whole run, thinned to a few hundred points.

:class:`VegaChart` draws one in the browser. It embeds the spec once (SVG, so every label
is a DOM element with a computed font size) and afterwards only streams the datasets into
the live view: a step redraws in a few milliseconds, keeps the tooltips working and never
flickers. Solara's own ``FigureAltair`` re-embeds the whole chart on every change (canvas,
a new view each time); the Vega libraries are the ones it loads, from the same
Solara CDN cache (:mod:`experiments.dashboard.assets` installs them for offline rooms).
Specs are plain dicts (no Altair): building and validating an Altair chart of a few thousand
points takes a third of a second, a dict a millisecond.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipyvuetify
import numpy as np
import traitlets

from sim.plotting import color_for
from sim.recording import TS_FIELDS

F = {f: i for i, f in enumerate(TS_FIELDS)}
REGION_FIELDS = ("demand", "sold", "lost", "views", "backlog", "returned")
MARKED_KINDS = ("livestream_start", "stockout_start", "production_order", "rush_order")

FOLLOW_SPAN_HOURS = 84  # the window that follows "now": three and a half days ...
FOLLOW_AHEAD_HOURS = 12  # ... with "now" half a day from its right edge
MAX_POINTS = 1500  # per series: a 45-day run is drawn hour by hour, longer ones thinned
CHART_HEIGHT = 215  # px, plot area
LIVE_COLOR = "#C9A227"
TROUBLE_COLOR = "#B5485D"
FONT = "Roboto, 'Helvetica Neue', Arial, sans-serif"
# the legibility floor of the page at 1280x720 (tests check the computed sizes against it)
MIN_FONT_PX = 14


# ----------------------------------------------------------------------------- series


@dataclass
class SideSeries:
    """One side's hourly series up to the hour shown (index ``i`` is hour ``i``).

    ``totals``: ``demand, sold, lost, views, backlog, returned`` (regions), ``on_hand,
    in_transit, shipped`` (warehouses), ``parcels_in_transit`` (regions), ``produced``
    (factories) and ``delivered`` (parcels that reached buyers in the hour), all over the
    main brand's SKUs, exactly as :func:`sim.plotting.hourly_totals` defines them.
    ``stock``: units on hand per warehouse. ``events``: ``(t_hours, kind, detail)`` of the
    kinds the charts mark.
    """

    label: str
    color: str
    hours: int
    totals: dict[str, np.ndarray]
    stock: dict[str, np.ndarray]
    events: list[tuple[int, str, str]] = field(default_factory=list)


def side_series(side: Any, until: int, index: int = 0) -> SideSeries:
    """The series of one side of a :class:`~experiments.dashboard.session.Comparison`.

    Args:
        side: a ``Side`` (its ``model``, ``config`` and ``label`` are read, never changed).
        until: the hours before this one (the hour on screen).
        index: the side's position (its colour when the label is not a known setup).
    """
    model = side.model
    rec = model.recorder
    until = max(0, min(int(until), rec.data.shape[0]))
    data = rec.data[:until]
    brand_skus = [model.sku_names.index(s) for s in side.config.brand.products]
    sku_brand = np.asarray(model.sku_brand)[brand_skus]
    types = np.asarray(rec.node_types)
    regions = np.flatnonzero(types == "region")
    warehouses = np.flatnonzero(types == "warehouse")
    factories = np.flatnonzero(types == "factory")
    # a warehouse or factory counts only for the SKUs of its own brand (as in the table)
    wh_brand = np.array([w.brand for w in model.warehouses])
    fac_brand = np.array([f.brand for f in model.factories])
    wh_mask = (wh_brand[None, :] == sku_brand[:, None]).astype(np.int64)  # sku x warehouse
    fac_mask = (fac_brand[None, :] == sku_brand[:, None]).astype(np.int64)

    reg = data[:, brand_skus][:, :, regions]  # t x sku x region x field
    wh = data[:, brand_skus][:, :, warehouses] * wh_mask[None, :, :, None]
    fac = data[:, brand_skus][:, :, factories] * fac_mask[None, :, :, None]
    totals: dict[str, np.ndarray] = {
        f: reg[..., F[f]].sum(axis=(1, 2)).astype(float) for f in REGION_FIELDS
    }
    for f in ("on_hand", "in_transit", "shipped"):
        totals[f] = wh[..., F[f]].sum(axis=(1, 2)).astype(float)
    totals["parcels_in_transit"] = reg[..., F["in_transit"]].sum(axis=(1, 2)).astype(float)
    totals["produced"] = fac[..., F["produced"]].sum(axis=(1, 2)).astype(float)
    delivered_cum = np.cumsum(totals["shipped"]) - totals["parcels_in_transit"]
    totals["delivered"] = np.diff(delivered_cum, prepend=0.0)
    stock = {}
    for j, node in enumerate(warehouses):
        if wh_mask[:, j].any():
            stock[rec.node_names[node]] = wh[:, :, j, F["on_hand"]].sum(axis=1).astype(float)
    stock = dict(sorted(stock.items()))
    products = set(side.config.brand.products)
    events = [
        (int(e[0]), str(e[1]), str(e[6]))
        for e in model.events
        if e[0] < until and e[1] in MARKED_KINDS and (e[3] in products or e[3] == "")
    ]
    return SideSeries(side.label, color_for(side.label, index), until, totals, stock, events)


# ----------------------------------------------------------------------------- window


@dataclass(frozen=True)
class Window:
    """The hours a chart shows: ``[start, end]`` of a run of ``horizon`` hours, one point
    every ``step`` hours; ``follow``: the window moves with "now"."""

    start: int
    end: int
    step: int
    follow: bool
    horizon: int

    @property
    def ticks(self) -> list[float]:
        """Tick positions in days over the whole run (the axis shows those in the window):
        every 12 hours when following "now", every 5 days for the whole run. They do not
        move with the window, so the chart's spec stays the same from step to step."""
        every = 0.5 if self.follow else 5.0
        n = int(self.horizon / 24 / every)
        return [round(i * every, 2) for i in range(n + 1)]


def window(now: int, horizon: int, follow: bool) -> Window:
    """The window around ``now`` (``follow``) or the whole run, and the thinning step."""
    if follow:
        end = min(horizon, max(now + FOLLOW_AHEAD_HOURS, FOLLOW_SPAN_HOURS))
        start = max(0, end - FOLLOW_SPAN_HOURS)
    else:
        start, end = 0, horizon
    step = max(1, math.ceil((end - start) / MAX_POINTS))
    return Window(start, end, step, follow, horizon)


def _thin(values: np.ndarray, w: Window, level: bool) -> tuple[np.ndarray, np.ndarray]:
    """(hours, values) inside the window, one point per ``w.step`` hours.

    A level (stock, cumulative count) keeps its value at the end of each step; a flow (per
    hour) keeps its busiest hour of the step, so a live stream's peak keeps its height.
    """
    n = len(values)
    lo = max(0, w.start - w.step)  # one point before the window: lines enter from the edge
    hi = min(n, w.end + 1)
    if hi <= lo:
        return np.empty(0), np.empty(0)
    part = values[lo:hi]
    if w.step == 1:
        return np.arange(lo, hi, dtype=float), part
    edges = np.arange(0, len(part), w.step)
    if level:
        last = np.minimum(edges + w.step, len(part)) - 1
        return (lo + last).astype(float), part[last]
    return (lo + edges).astype(float), np.maximum.reduceat(part, edges)


def _rows(
    out: list[dict[str, Any]], hours: np.ndarray, values: np.ndarray, side: str, measure: str
) -> None:
    """Add one series as a block (``side``, ``m`` and the ``x``/``y`` columns): the browser
    expands the blocks of a dataset ``{"series": [...]}`` into rows, so the JSON stays small
    and no Python dict is made per point."""
    out.append(
        {
            "side": side,
            "m": measure,
            "x": np.round(hours / 24.0, 4).tolist(),
            "y": np.round(values, 2).tolist(),
        }
    )


def dataset_rows(dataset: Any) -> list[dict[str, Any]]:
    """The rows of a dataset as the chart sees them (series blocks expanded)."""
    if isinstance(dataset, dict):
        return [
            {"side": b["side"], "m": b["m"], "x": x, "y": y}
            for b in dataset["series"]
            for x, y in zip(b["x"], b["y"], strict=True)
        ]
    return list(dataset)


# ----------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ChartView:
    """One chart: its Vega-Lite spec (fixed while the layout is) and its datasets.

    The widget receives both as JSON text: Solara compares a new element's arguments with
    the previous ones and walks into lists and dicts looking for elements, which for a few
    thousand data rows took most of a step; a string is compared in one go.
    """

    key: str
    title: str
    spec: dict[str, Any]
    datasets: dict[str, list[dict[str, Any]]]

    @functools.cached_property
    def spec_json(self) -> str:
        """The spec as JSON text (for :class:`VegaChart`)."""
        return json.dumps(self.spec, separators=(",", ":"))

    @functools.cached_property
    def data_json(self) -> str:
        """The datasets as JSON text (for :class:`VegaChart`)."""
        return json.dumps(self.datasets, separators=(",", ":"))


def _config() -> dict[str, Any]:
    return {
        "font": FONT,
        "background": "white",
        "view": {"stroke": None},
        "axis": {
            "labelFontSize": 14,
            "titleFontSize": 15,
            "titleFontWeight": "normal",
            "labelColor": "#333333",
            "titleColor": "#333333",
            "gridColor": "#E6E6E6",
            "labelOverlap": True,
        },
        "legend": {
            "labelFontSize": 15,
            "orient": "top",
            "direction": "horizontal",
            "title": None,
            "symbolStrokeWidth": 3,
            "symbolSize": 260,
            "columnPadding": 14,
            "labelLimit": 220,
            "padding": 0,
            "offset": 6,
        },
        "title": {"fontSize": 18, "fontWeight": 600, "anchor": "start", "color": "#222222"},
    }


def _x(w: Window) -> dict[str, Any]:
    label = (
        "datum.value % 1 == 0 ? 'day ' + format(datum.value, 'd') : ''"
        if w.follow
        else "'day ' + format(datum.value, 'd')"
    )
    return {
        "field": "x",
        "type": "quantitative",
        "title": None,
        "scale": {"nice": False, "zero": False},
        "axis": {"values": w.ticks, "labelExpr": label, "labelFlush": True},
    }


def _spec(title: str, w: Window, layers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    x = _x(w)
    frame = {  # invisible: makes the x axis span the window whatever the data
        "data": {"name": "frame"},
        "mark": {"type": "rule", "opacity": 0},
        "encoding": {"x": x},
    }
    now = {
        "data": {"name": "now"},
        "mark": {"type": "rule", "color": "#222222", "strokeDash": [5, 4], "strokeWidth": 1.5},
        "encoding": {"x": x},
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": "container",
        "height": CHART_HEIGHT,
        "autosize": {"type": "fit-x", "contains": "padding", "resize": True},
        "config": _config(),
        "layer": [frame, *layers, now],
        **extra,
    }


def _side_scale(labels: Sequence[str], colors: Sequence[str]) -> dict[str, Any]:
    # no legend: the page shows the chains' colours once, above the charts
    scale = {"domain": list(labels), "range": list(colors)}
    return {"field": "side", "type": "nominal", "scale": scale, "legend": None}


def _dash(measures: Sequence[str], dashes: Sequence[Sequence[int]]) -> dict[str, Any]:
    return {
        "field": "m",
        "type": "nominal",
        "scale": {"domain": list(measures), "range": [list(d) for d in dashes]},
    }


def _tooltip(value_title: str) -> list[dict[str, Any]]:
    return [
        {"field": "side", "title": "setup"},
        {"field": "m", "title": "series"},
        {"field": "x", "title": "day", "format": ".2f"},
        {"field": "y", "title": value_title, "format": ",.0f"},
    ]


def _line_layer(
    w: Window,
    labels: Sequence[str],
    colors: Sequence[str],
    measures: Sequence[str],
    dashes: Sequence[Sequence[int]],
    y_title: str,
    step: bool = False,
    legend_dash: bool = True,
) -> dict[str, Any]:
    dash = _dash(measures, dashes)
    if not legend_dash:
        dash["legend"] = None
    mark: dict[str, Any] = {"type": "line", "strokeWidth": 3, "clip": True}
    if step:
        mark["interpolate"] = "step-after"
    return {
        "data": {"name": "lines"},
        "mark": mark,
        "encoding": {
            "x": _x(w),
            "y": {"field": "y", "type": "quantitative", "title": y_title, "axis": {"format": "~s"}},
            "color": _side_scale(labels, colors),
            "strokeDash": dash,
            "detail": {"field": "m"},
            "tooltip": _tooltip(y_title),
        },
    }


def _mark_layer(
    w: Window, labels: Sequence[str], colors: Sequence[str], kinds: Sequence[str], shape: str
) -> dict[str, Any]:
    return {
        "data": {"name": "marks"},
        "transform": [{"filter": {"field": "kind", "oneOf": list(kinds)}}],
        "mark": {"type": "point", "shape": shape, "filled": True, "clip": True, "opacity": 1},
        "encoding": {
            "x": _x(w),
            "y": {"field": "y", "type": "quantitative"},
            "color": _side_scale(labels, colors),
            "size": {
                "field": "kind",
                "type": "nominal",
                "scale": {"domain": list(kinds), "range": [220, 150, 150][: len(kinds)]},
                "legend": None,
            },
            "stroke": {
                "condition": {"test": "datum.trouble", "value": TROUBLE_COLOR},
                "value": "white",
            },
            "strokeWidth": {"condition": {"test": "datum.trouble", "value": 3}, "value": 1},
            "tooltip": [
                {"field": "side", "title": "setup"},
                {"field": "label", "title": "what"},
                {"field": "x", "title": "day", "format": ".2f"},
            ],
        },
    }


@dataclass(frozen=True)
class Panel:
    """What one chart shows (the six are :data:`PANELS`)."""

    key: str
    title: str


PANELS = (
    Panel("views", "Views (grey) and demand per hour"),
    Panel("sales", "Sold (solid) and lost (dashed), cumulative"),
    Panel("stock", "Stock per warehouse"),
    Panel("production", "Produced, cumulative; ▼ orders placed"),
    Panel("deliveries", "Delivered (solid) and returned (dotted), cumulative"),
    Panel("waiting", "Orders waiting (solid), parcels on the road (dotted)"),
)


def chart_views(
    series: Sequence[SideSeries], now: int, horizon: int, follow: bool = True
) -> list[ChartView]:
    """The six charts of both sides at hour ``now`` (window: around now, or the whole run)."""
    w = window(now, horizon, follow)
    labels = [s.label for s in series]
    colors = [s.color for s in series]
    frame = [{"x": w.start / 24.0}, {"x": w.end / 24.0}]
    now_rows = [{"x": now / 24.0}] if now < horizon else []
    common = {"frame": frame, "now": now_rows}
    out = []
    for panel in PANELS:
        build = _BUILDERS[panel.key]
        spec, data = build(panel, w, series, labels, colors)
        out.append(ChartView(panel.key, panel.title, spec, {**common, **data}))
    return out


def _views(panel, w, series, labels, colors):
    views: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    live: list[dict[str, Any]] = []
    for i, s in enumerate(series):
        if i == 0:
            x, y = _thin(s.totals["views"], w, level=False)
            _rows(views, x, y, "both", "views")
            live = [
                {"x": t / 24.0, "label": "live stream starts"}
                for t, kind, _ in s.events
                if kind == "livestream_start"
            ]
        x, y = _thin(s.totals["demand"], w, level=False)
        _rows(lines, x, y, s.label, "demand")
    x = _x(w)
    area = {
        "data": {"name": "views"},
        "mark": {"type": "area", "color": "#BBBBBB", "opacity": 0.55, "clip": True},
        "encoding": {
            "x": x,
            "y": {
                "field": "y",
                "type": "quantitative",
                "title": "views / h (grey)",
                "axis": {"format": "~s", "titleColor": "#777777"},
            },
            "tooltip": [
                {"field": "x", "title": "day", "format": ".2f"},
                {"field": "y", "title": "views per hour", "format": ",.0f"},
            ],
        },
    }
    demand = _line_layer(w, labels, colors, ["demand"], [[1, 0]], "demand, units / h", False, False)
    demand["encoding"]["y"]["axis"] = {"format": "~s", "orient": "right"}
    rules = {
        "data": {"name": "live"},
        "mark": {"type": "rule", "color": LIVE_COLOR, "strokeWidth": 3, "clip": True},
        "encoding": {"x": x, "tooltip": [{"field": "label", "title": "what"}]},
    }
    spec = _spec(
        panel.title,
        w,
        [area, rules, demand],
        resolve={"scale": {"y": "independent"}},
    )
    return spec, {"views": {"series": views}, "lines": {"series": lines}, "live": live}


def _lines(
    fields: Sequence[tuple[str, str]],
    dashes: Sequence[Sequence[int]],
    y: str,
    cumulative: bool,
):
    """A chart of some ``totals`` (field, series name), per side, summed up or as they are."""

    def build(panel, w, series, labels, colors):
        lines: list[dict[str, Any]] = []
        for s in series:
            for f, measure in fields:
                values = np.cumsum(s.totals[f]) if cumulative else s.totals[f]
                hx, hy = _thin(values, w, level=True)
                _rows(lines, hx, hy, s.label, measure)
        measures = [m for _, m in fields]
        spec = _spec(panel.title, w, [_line_layer(w, labels, colors, measures, dashes, y)])
        return spec, {"lines": {"series": lines}}

    return build


WAREHOUSE_DASHES = ([1, 0], [8, 5], [2, 3], [10, 3, 2, 3])


def _stock(panel, w, series, labels, colors):
    lines: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    names: list[str] = []
    for s in series:
        for node, values in s.stock.items():
            if node not in names:
                names.append(node)
            hx, hy = _thin(values, w, level=True)
            _rows(lines, hx, hy, s.label, node)
        for t, kind, detail in s.events:
            if kind == "stockout_start" and detail.startswith("network"):
                marks.append(
                    {
                        "x": t / 24.0,
                        "y": 0,
                        "side": s.label,
                        "kind": "soldout",
                        "trouble": True,
                        "label": "sold out in every warehouse",
                    }
                )
    dashes = [WAREHOUSE_DASHES[i % len(WAREHOUSE_DASHES)] for i in range(len(names))]
    layers = [
        _line_layer(w, labels, colors, names, dashes, "units on hand", step=True),
        _mark_layer(w, labels, colors, ["soldout"], "triangle-up"),
    ]
    return _spec(panel.title, w, layers), {"lines": {"series": lines}, "marks": marks}


def _production(panel, w, series, labels, colors):
    lines: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for s in series:
        made = np.cumsum(s.totals["produced"])
        hx, hy = _thin(made, w, level=True)
        _rows(lines, hx, hy, s.label, "produced")
        for t, kind, _ in s.events:
            if kind in ("production_order", "rush_order"):
                rush = kind == "rush_order"
                marks.append(
                    {
                        "x": t / 24.0,
                        "y": float(made[t]) if t < len(made) else 0.0,
                        "side": s.label,
                        "kind": "rush" if rush else "order",
                        "trouble": rush,
                        "label": "RUSH order placed" if rush else "order placed",
                    }
                )
    layers = [
        _line_layer(w, labels, colors, ["produced"], [[1, 0]], "units", legend_dash=False),
        _mark_layer(w, labels, colors, ["rush", "order"], "triangle-down"),
    ]
    return _spec(panel.title, w, layers), {"lines": {"series": lines}, "marks": marks}


_BUILDERS = {
    "views": _views,
    "sales": _lines((("sold", "sold"), ("lost", "lost")), ([1, 0], [8, 5]), "units", True),
    "stock": _stock,
    "production": _production,
    "deliveries": _lines(
        (("delivered", "delivered"), ("returned", "returned")), ([1, 0], [2, 3]), "units", True
    ),
    "waiting": _lines(
        (("backlog", "waiting"), ("parcels_in_transit", "on the road")),
        ([1, 0], [2, 3]),
        "units",
        False,
    ),
}


def running_totals(s: SideSeries) -> dict[str, float]:
    """Totals so far for the strip under the charts (units)."""
    t = s.totals
    return {
        "demand": float(t["demand"].sum()),
        "sold": float(t["sold"].sum()),
        "lost": float(t["lost"].sum()),
        "on_hand": float(t["on_hand"][-1]) if s.hours else 0.0,
        "produced": float(t["produced"].sum()),
        "delivered": float(t["delivered"].sum()),
        "returned": float(t["returned"].sum()),
    }


# ----------------------------------------------------------------------------- widget


VUE_TEMPLATE = r"""
<template>
  <div ref="chart" class="vc-chart" :data-key="chart_key" :data-hour="drawn_hour"></div>
</template>
<script>
module.exports = {
  data() { return { drawn_hour: -1 }; },
  mounted() {
    this.queue = this.loadVega().then(() => this.embed());
    // Vega sizes a "container"-wide chart on window resizes only: pass on the box's own
    // (the side panel opening, a column changing width)
    this.resizer = new ResizeObserver(() => {
      clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => window.dispatchEvent(new Event("resize")), 60);
    });
    this.resizer.observe(this.$refs.chart);
  },
  beforeDestroy() {
    if (this.resizer) { this.resizer.disconnect(); }
    if (this.view) { this.view.finalize(); this.view = null; }
  },
  beforeUnmount() { this.$options.beforeDestroy.call(this); },
  watch: {
    spec_json() { this.queue = this.queue.then(() => this.embed()); },
    data_json() { this.queue = this.queue.then(() => this.update()); },
  },
  methods: {
    async embed() {
      const [vega, vegaEmbed] = await this.load(["vega", "vega-embed"]);
      this.vega = vega;
      if (this.view) { this.view.finalize(); this.view = null; }
      const spec = { ...JSON.parse(this.spec_json), datasets: this.datasets() };
      const result = await vegaEmbed(this.$refs.chart, spec, { renderer: "svg", actions: false });
      this.view = result.view;
      this.drawn_hour = this.hour;
    },
    async update() {
      if (!this.view) { return this.embed(); }
      const vega = this.vega;
      for (const [name, values] of Object.entries(this.datasets())) {
        this.view.change(name, vega.changeset().remove(vega.truthy).insert(values));
      }
      await this.view.runAsync();
      this.drawn_hour = this.hour;
    },
    datasets() {
      // a dataset is rows, or {series: [{side, m, x: [...], y: [...]}, ...]} to expand
      const out = {};
      for (const [name, value] of Object.entries(JSON.parse(this.data_json))) {
        if (Array.isArray(value)) { out[name] = value; continue; }
        const rows = [];
        for (const b of value.series) {
          for (let i = 0; i < b.x.length; i++) {
            rows.push({ side: b.side, m: b.m, x: b.x[i], y: b.y[i] });
          }
        }
        out[name] = rows;
      }
      return out;
    },
    load(deps) {
      return new Promise((resolve, reject) => requirejs(deps, (...m) => resolve(m), reject));
    },
    async loadVega() {
      await this.loadRequire();
      const cdn = this.getCdn();
      if (!window.__vcVegaConfigured) {
        window.__vcVegaConfigured = true;
        require.config({
          map: {
            "*": {
              "vega": `${cdn}/vega@5/build/vega.min.js`,
              "vega-lite": `${cdn}/vega-lite@5/build/vega-lite.min.js`,
              "vega-embed": `${cdn}/vega-embed@6/build/vega-embed.min.js`,
            },
          },
        });
      }
    },
    loadRequire() {
      if (window.requirejs) { return Promise.resolve(); }
      return new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    },
    getJupyterBaseUrl() {
      if (document.getElementsByTagName("base").length) { return "./"; }
      const labConfigData = document.getElementById("jupyter-config-data");
      if (labConfigData) { return JSON.parse(labConfigData.textContent).baseUrl; }
      let base = document.body.dataset.baseUrl || document.baseURI;
      if (!base.endsWith("/")) { base += "/"; }
      return base;
    },
    getCdn() {
      if (this.cdn) { return this.cdn; }
      return window.solara ? window.solara.cdn : `${this.getJupyterBaseUrl()}_solara/cdn`;
    },
  },
};
</script>
<style id="vc-chart-style">
.vc-chart { width: 100%; }
.vc-chart.vega-embed { width: 100%; display: block; }
.vc-chart .vega-embed summary { display: none; }
</style>
"""


class VegaChart(ipyvuetify.VuetifyTemplate):
    """A Vega-Lite chart that is embedded once and then fed new data (see the module doc).

    ``spec_json`` (a Vega-Lite spec) re-embeds the chart (a new layout); ``data_json`` (dataset
    name → rows) updates the live view in place. The element carries ``data-hour``: the hour
    whose data it shows, once drawn.
    """

    template = traitlets.Unicode(VUE_TEMPLATE).tag(sync=True)
    spec_json = traitlets.Unicode("{}").tag(sync=True)
    data_json = traitlets.Unicode("{}").tag(sync=True)
    hour = traitlets.Int(-1).tag(sync=True)
    chart_key = traitlets.Unicode("").tag(sync=True)
    cdn = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    @traitlets.default("cdn")
    def _cdn(self):
        import solara.settings

        if not solara.settings.assets.proxy:
            return solara.settings.assets.cdn
        return None


def datasets_size(views: Mapping[str, ChartView] | Sequence[ChartView]) -> int:
    """Rows sent to the browser for these charts (for the benchmark)."""
    items = views.values() if isinstance(views, Mapping) else views
    return sum(len(dataset_rows(d)) for v in items for d in v.datasets.values())
