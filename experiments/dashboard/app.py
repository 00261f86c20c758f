"""The Solara page of the workshop dashboard (``viralchain dashboard`` serves it).

Made for a projector at 1280×720: a sticky bar with the controls (restart, step, play, jump
to the end), the step size, the time window and the clock; both chains' headline KPIs as
large cards; the six charts (:mod:`experiments.dashboard.charts`: native Vega-Lite charts,
following "now" or showing the whole run) with the "what happened" log beside them and the
running totals under them; the full KPI table with the differences; the command-line
equivalent. The story, the seed, the market size, the setups and the levers live in the
side panel (the ☰ button), closed at start so the room sees the charts.

Work happens off the page's thread: a runner thread builds the comparison for the current
choices and advances it to the hour asked for (stepping the same models when only the hour
changed, rebuilding them when a lever changed); a play thread moves that hour forward while
"play" is on, one frame at most every :data:`PLAY_FRAME_SECONDS`, each after the previous
one is on screen. Only the :func:`Stage` component reads the hour, so a step re-renders the
stage, never the lever panel.
"""

# ruff: noqa: N802  (Solara components are named like classes: Page, Charts, ...)
from __future__ import annotations

import html
import json
import logging
import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import solara

from experiments.dashboard import charts as ch
from experiments.dashboard import levers as lv
from experiments.dashboard.session import (
    Comparison,
    KpiRow,
    compose,
    describe_overrides,
    format_diff,
    format_value,
)
from sim import narrative
from sim.errors import ConfigError
from sim.kpis import kpi
from sim.plotting import color_for

log = logging.getLogger(__name__)

ENV = "VIRALCHAIN_DASHBOARD"
TITLE = "viralchain workshop: a viral spike meets a rigid and a flexible supply chain"
CONSUMER_CHOICES = [2000, 5000, 10000, 20000, 50000, 100000]
STEP_CHOICES = {"1 hour": 1, "6 hours": 6, "12 hours": 12, "1 day": 24}
DEFAULT_STEP = "12 hours"
WINDOW_CHOICES = {"follow now": True, "whole run": False}
PLAY_FRAME_SECONDS = 0.3  # while playing, at most one frame this often (so the room can follow)
LOG_ROWS = 80
# the headline KPIs of each chain's card (the full table is under the charts)
CARD_KPIS = ("fill_rate", "lost_sales_units", "profit", "leftover_units")
CATEGORY_COLORS = {
    "content": "#8E6CB0",
    "supply": "#4C6A92",
    "trouble": "#B5485D",
    "recovery": "#3E8E57",
    "other": "#666666",
}
CSS = """
.v-toolbar-title, .v-toolbar__title { flex: 1 1 auto !important; }
.v-toolbar-title, .v-toolbar-title__placeholder, .v-toolbar__title {
  overflow: visible !important; white-space: normal !important; text-overflow: clip !important;
  line-height: 1.2; font-size: 22px !important; }
.v-app-bar-nav-icon .v-btn__content::before { font-family: "Material Design Icons";
  content: "\\F35C"; font-size: 30px; }
.vc-title { font-size: 22px; font-weight: 500; }
.vc-bar { position: sticky; top: -12px; z-index: 5; background: white; padding: 6px 0;
  border-bottom: 1px solid #e0e0e0; gap: 10px; align-items: center; flex-wrap: wrap; }
.vc-bar .v-btn { font-size: 16px !important; letter-spacing: 0.02em; }
.vc-bar .v-btn-group .v-btn, .vc-bar .v-btn-toggle .v-btn { font-size: 15px !important;
  text-transform: none; padding: 0 10px !important; }
.vc-clock { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums;
  margin-left: auto; white-space: nowrap; }
.vc-clock small { font-size: 15px; font-weight: 400; color: #555; margin-left: 8px; }
.vc-busy { font-size: 15px; color: #555; }
.vc-cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 12px;
  margin: 10px 0; }
.vc-card { border: 1px solid #ddd; border-top-width: 8px; border-radius: 6px;
  padding: 6px 14px 8px; }
.vc-card .who { font-size: 20px; font-weight: 700; }
.vc-card .who small { font-size: 15px; font-weight: 400; color: #555; margin-left: 6px; }
.vc-card .metrics { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
.vc-card .label { font-size: 15px; color: #444; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.vc-card .value { font-size: 34px; font-weight: 700; line-height: 1.15;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.vc-card .delta { font-size: 15px; font-weight: 600; white-space: nowrap; min-height: 20px; }
.vc-card .delta.better { color: #2e7d32; } .vc-card .delta.worse { color: #b5485d; }
.vc-card .delta.same { color: #555; }
.vc-main { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.vc-main > .vc-stage-charts { flex: 10 1 560px; min-width: 0; }
.vc-main > .vc-log-card { flex: 1 1 300px; min-width: 0; }
.vc-charts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 10px 16px; }
.vc-chart-box { min-width: 0; }
.vc-legend { font-size: 16px; margin: 2px 0 4px; gap: 14px; align-items: center;
  flex-wrap: wrap; }
.vc-legend .v-btn { font-size: 15px !important; text-transform: none; }
.vc-legend b { margin-right: 18px; }
.vc-legend .live { color: #9a7a12; font-weight: 600; }
.vc-log-card { position: sticky; top: 64px; align-self: start; border: 1px solid #ddd;
  border-radius: 6px; padding: 6px 10px; }
.vc-log-card h3 { font-size: 20px; margin: 0 0 2px; }
.vc-log-card .v-label, .vc-log-card label { font-size: 15px !important; opacity: 1 !important; }
.vc-log { max-height: 560px; overflow-y: auto; font-size: 15px; line-height: 1.3; }
.vc-log .row { padding: 4px 0; border-bottom: 1px solid #eee; }
.vc-log .when { color: #555; font-variant-numeric: tabular-nums; margin-right: 6px;
  white-space: nowrap; }
.vc-log .side { border-radius: 3px; padding: 0 5px; color: white; font-size: 14px;
  font-weight: 600; }
.vc-readout { font-size: 16px; font-variant-numeric: tabular-nums; margin: 8px 0; }
.vc-kpis { border-collapse: collapse; width: 100%; font-size: 16px; }
.vc-kpis th, .vc-kpis td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; }
.vc-kpis th { text-align: left; }
.vc-kpis td.num, .vc-kpis th.num { text-align: right; font-variant-numeric: tabular-nums; }
.vc-kpis td.better { color: #2e7d32; font-weight: 600; }
.vc-kpis td.worse { color: #b5485d; font-weight: 600; }
.vc-kpis small { font-size: 14px; color: #555; }
.vc-kpi-card h3 { font-size: 20px; margin: 12px 0 4px; }
.vc-note { font-size: 14px; color: #555; }
.vc-help { font-size: 14px; color: #555; }
.v-navigation-drawer { font-size: 16px; }
.v-navigation-drawer .v-field-label--floating, .v-navigation-drawer .v-slider-thumb__label,
.v-navigation-drawer .v-label { font-size: 14px !important; opacity: 0.9; }
"""


@dataclass(frozen=True)
class LaunchSettings:
    """What ``viralchain dashboard`` asked for (read from the environment)."""

    story: str
    seed: int
    consumers: int
    setups: tuple[str, str]
    base: tuple[str, ...]


def launch_settings() -> LaunchSettings:
    """The start-up choices passed by the command (``$VIRALCHAIN_DASHBOARD``, JSON)."""
    from experiments.compose import group_options

    raw = json.loads(os.environ.get(ENV) or "{}")
    stories = group_options("story")
    story = raw.get("story") or ("head_kol_livestream" if "head_kol_livestream" in stories else "")
    story = story or (stories[0] if stories else "")
    setups = tuple(raw.get("setups") or ("rigid", "flexible"))
    return LaunchSettings(
        story=story,
        seed=int(raw.get("seed", 0)),
        consumers=int(raw.get("consumers", 10000)),
        setups=(setups[0], setups[1]),
        base=tuple(raw.get("base", ())),
    )


@dataclass(frozen=True)
class Choices:
    """Everything that defines a comparison (a change rebuilds the models)."""

    story: str
    seed: int
    consumers: int
    setups: tuple[str, str]
    base: tuple[str, ...]
    levers: tuple[tuple[str, Any], ...]
    levers_on_both: bool
    generation: int

    def base_overrides(self) -> list[str]:
        """Overrides of both sides before the levers."""
        return [*self.base, f"market.n_consumers={self.consumers}"]


class LogBook:
    """The merged "what happened" log of each comparison, grown step by step.

    A step narrates only its own hours (:meth:`Comparison.log` with ``since``) and puts them
    on top of what was there: the same table as narrating the whole run so far, since events
    the two sides share happen in the same hour.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: weakref.WeakKeyDictionary[Comparison, tuple[int, pd.DataFrame]] = (
            weakref.WeakKeyDictionary()
        )

    def until(self, comp: Comparison, hour: int) -> pd.DataFrame:
        """The log of ``comp`` before ``hour``, newest first."""
        with self._lock:
            done, frame = self._logs.get(comp, (0, None))
            if frame is None or hour < done:
                done, frame = hour, comp.log(until=hour)
            elif hour > done:
                new = comp.log(until=hour, since=done)
                done, frame = hour, pd.concat([new, frame], ignore_index=True)
            self._logs[comp] = (done, frame)
            return frame


class Workshop:
    """Per-browser-session state shared between the page and its threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cache: OrderedDict[Choices, Comparison] = OrderedDict()
        self.current: Comparison | None = None
        self.drawn_hour = -1
        self.overrides: tuple[list[str], list[str]] = ([], [])
        self.logbook = LogBook()
        self._asked = 0  # the hour the room asked for (step, play, jump, restart)
        self.wake = threading.Event()  # set when it changes: the runner thread acts on it

    def ask(self, hour: int) -> None:
        """Ask the runner thread to show ``hour``."""
        with self.lock:
            self._asked = max(0, int(hour))
        self.wake.set()

    def asked(self) -> int:
        """The hour last asked for."""
        with self.lock:
            return self._asked

    def has(self, choices: Choices) -> bool:
        """Whether the comparison of ``choices`` is built already."""
        with self.lock:
            return choices in self.cache

    def comparison(self, choices: Choices, lever_list: list[lv.Lever]) -> Comparison:
        """The comparison of ``choices`` (built, or reused while only the hour changes)."""
        with self.lock:
            comp = self.cache.get(choices)
            if comp is not None:
                self.cache.move_to_end(choices)
                return comp
        left_cfg, right_cfg = (
            _side_config(choices, setup) for setup in choices.setups
        )  # raises ConfigError
        values = dict(choices.levers)
        left = lv.overrides_for(
            lever_list, values, left_cfg, challenger=False, levers_on_both=choices.levers_on_both
        )
        right = lv.overrides_for(lever_list, values, right_cfg, challenger=True)
        comp = Comparison(
            choices.story,
            choices.setups,
            choices.seed,
            choices.base_overrides(),
            left,
            right,
        )
        with self.lock:
            self.cache[choices] = comp
            while len(self.cache) > 4:
                self.cache.popitem(last=False)
            self.overrides = (left, right)
        return comp


_CONFIGS: dict[tuple, Any] = {}


def _side_config(choices: Choices, setup: str):
    """A side's config before the levers (memoised: composing takes a few tenths of a second)."""
    key = (choices.story, tuple(choices.base_overrides()), setup)
    if key not in _CONFIGS:
        _CONFIGS[key] = compose(choices.story, [*choices.base_overrides(), f"setup={setup}"])
    return _CONFIGS[key]


# ----------------------------------------------------------------------------- components


@solara.component
def LeverControl(lever: lv.Lever, value: Any, on_value) -> None:
    """One lever: a slider, a switch or a select."""
    with solara.Column(gap="0px", classes=["vc-lever"]):
        if lever.kind == "slider":
            solara.SliderFloat(
                lever.label,
                value=float(value),
                min=lever.low,
                max=lever.high,
                step=lever.step,
                on_value=on_value,
                thumb_label="always",
            )
        elif lever.kind == "switch":
            solara.Switch(label=lever.label, value=bool(value), on_value=on_value, color="primary")
        else:
            solara.Select(
                lever.label, values=list(lever.options), value=str(value), on_value=on_value
            )
        if lever.help:
            solara.Text(lever.help, classes=["vc-help"])


def compact(value: float, unit: str, signed: bool = False) -> str:
    """A KPI for a card, readable from the back of the room: 62.1%, 48.2 k, 1.25 M."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "+" if signed and value > 0 else ""
    if unit == "share":
        return f"{sign}{value * 100:.1f}{' pts' if signed else '%'}"
    a = abs(value)
    if a >= 1e6:
        return f"{sign}{value / 1e6:.2f} M"
    if a >= 1e4:
        return f"{sign}{value / 1e3:.0f} k"
    if a >= 1e3:
        return f"{sign}{value / 1e3:.1f} k"
    return f"{sign}{value:,.0f}"


@solara.component
def KpiCards(rows: list[KpiRow], labels: list[str]) -> None:
    """Both chains' headline KPIs in large type; the right card shows right − left."""
    by_name = {r.name: r for r in rows}
    cards = []
    for i, (label, role) in enumerate(zip(labels, ("baseline", "challenger"), strict=True)):
        color = color_for(label, i)
        cells = []
        for name in CARD_KPIS:
            r = by_name.get(name)
            if r is None:
                continue
            value = r.left if i == 0 else r.right
            delta, verdict = "", ""
            if i == 1 and not math.isnan(r.diff):
                same = abs(r.diff) < 1e-9 * max(1.0, abs(r.left))
                delta = "same" if same else compact(r.diff, r.unit, signed=True)
                verdict = r.verdict or "same"
            cells.append(
                f'<div class="metric" data-kpi="{name}" title="{html.escape(kpi(name).meaning)}">'
                f'<div class="label">{html.escape(r.label)}</div>'
                f'<div class="value">{compact(value, r.unit)}</div>'
                f'<div class="delta {verdict}">{delta}</div></div>'
            )
        cards.append(
            f'<div class="vc-card" data-side="{html.escape(label)}" '
            f'style="border-top-color:{color}">'
            f'<div class="who" style="color:{color}">{html.escape(label)}'
            f"<small>{role}</small></div>"
            f'<div class="metrics">{"".join(cells)}</div></div>'
        )
    solara.HTML(tag="div", unsafe_innerHTML="".join(cards), classes=["vc-cards"])


@solara.component
def KpiPanel(rows: list[KpiRow], labels: list[str], hour: int, finished: bool) -> None:
    """The KPI table: left, right, difference, change; green when the right side is better."""
    left, right = labels
    head = (
        "<tr><th>KPI</th>"
        f'<th class="num" style="color:{color_for(left, 0)}">{html.escape(left)}</th>'
        f'<th class="num" style="color:{color_for(right, 1)}">{html.escape(right)}</th>'
        f"<th class='num'>{html.escape(right)} − {html.escape(left)}</th>"
        "<th class='num'>change</th></tr>"
    )
    body = []
    for r in rows:
        pct = "" if r.change_pct != r.change_pct else f"{r.change_pct:+.0f}%"
        unit = "" if r.unit in ("share", "money") else f" <small>{r.unit}</small>"
        body.append(
            f'<tr data-kpi="{r.name}"><td title="{html.escape(kpi(r.name).meaning)}">'
            f"{html.escape(r.label)}{unit}</td>"
            f'<td class="num left">{format_value(r.left, r.unit)}</td>'
            f'<td class="num right">{format_value(r.right, r.unit)}</td>'
            f'<td class="num diff {r.verdict}">{format_diff(r)}</td>'
            f'<td class="num {r.verdict}">{pct}</td></tr>'
        )
    when = narrative.format_hour(hour)
    title = "Final KPIs" if finished else f"KPIs if the run ended now ({when})"
    with solara.Column(gap="0px", classes=["vc-kpi-card"]):
        solara.HTML(tag="h3", unsafe_innerHTML=html.escape(title))
        solara.HTML(
            tag="table",
            unsafe_innerHTML=head + "".join(body),
            classes=["vc-kpis"],
            attributes={"data-hour": str(hour), "data-finished": str(finished).lower()},
        )
        solara.Text(
            "Money in one currency unit; shares in %. Green: the right-hand setup does better.",
            classes=["vc-note"],
        )


@solara.component
def EventLog(comp: Comparison, hour: int, logbook: LogBook) -> None:
    """The "what happened" log, newest first, coloured by category and side."""
    show_posts = solara.use_reactive(False)
    entries = solara.use_memo(lambda: logbook.until(comp, hour), [id(comp), hour])
    if not show_posts.value:
        entries = entries[entries["kind"] != "post"]
    rows = []
    for e in entries.head(LOG_ROWS).itertuples(index=False):
        side_color = "#777777" if e.side == "both" else color_for(str(e.side), 0)
        cat = CATEGORY_COLORS.get(e.category, "#666666")
        rows.append(
            f'<div class="row" data-kind="{e.kind}"><span class="when">{e.when}</span>'
            f'<span class="side" style="background:{side_color}">{html.escape(str(e.side))}</span> '
            f'<span style="color:{cat}">{html.escape(e.text)}</span></div>'
        )
    if not rows:
        rows = ['<div class="row">Nothing yet: step or play the run.</div>']
    with solara.Column(gap="0px", classes=["vc-log-card"]):
        solara.HTML(tag="h3", unsafe_innerHTML="What happened")
        solara.Checkbox(label="show short-video posts", value=show_posts)
        solara.HTML(tag="div", unsafe_innerHTML="".join(rows), classes=["vc-log"])


@solara.component
def Readout(series: list[ch.SideSeries]) -> None:
    """Running totals at the current hour, one line per side (units)."""
    lines = []
    for s in series:
        t = ch.running_totals(s)
        lines.append(
            f'<div data-side="{html.escape(s.label)}"><b style="color:{s.color}">'
            f"{html.escape(s.label)}</b>: "
            f"demand {t['demand']:,.0f} · sold {t['sold']:,.0f} · lost {t['lost']:,.0f} · "
            f"stock {t['on_hand']:,.0f} · produced {t['produced']:,.0f} · "
            f"delivered {t['delivered']:,.0f} · returned {t['returned']:,.0f} units</div>"
        )
    solara.HTML(tag="div", unsafe_innerHTML="".join(lines), classes=["vc-readout"])


@solara.component
def Charts(views: list[ch.ChartView], series: list[ch.SideSeries], hour: int, window_label) -> None:
    """The six charts, two by two, under the chains' colours and the time window's switch."""
    legend = "".join(f'<b style="color:{s.color}">━ {html.escape(s.label)}</b>' for s in series)
    legend += f'<span class="live" style="color:{ch.LIVE_COLOR}">┃ live stream</span>'
    with solara.Row(classes=["vc-legend"]):
        solara.HTML(tag="div", unsafe_innerHTML=legend)
        solara.ToggleButtonsSingle(value=window_label, values=list(WINDOW_CHOICES))
    with solara.Div(classes=["vc-charts"]):
        for view in views:
            with solara.Div(classes=["vc-chart-box"]).key(view.key):
                ch.VegaChart.element(
                    spec_json=view.spec_json,
                    data_json=view.data_json,
                    hour=hour,
                    chart_key=view.key,
                )


@dataclass(frozen=True)
class Frame:
    """Everything drawn for one comparison at one hour (computed once per hour shown)."""

    series: list[ch.SideSeries]
    views: list[ch.ChartView]
    kpi_rows: list[KpiRow]


def make_frame(comp: Comparison, hour: int, follow: bool) -> Frame:
    """Series, charts and KPI rows of ``comp`` at ``hour`` (read-only on the models)."""
    # hours before ``hour`` are final, so this reads safely while the runner steps on
    series = [ch.side_series(s, hour, i) for i, s in enumerate(comp.sides)]
    rows = comp.kpi_rows()
    views = ch.chart_views(series, hour, comp.horizon_hours, follow)
    return Frame(series, views, rows)


@solara.component
def Stage(choices: Choices, lever_list: list, workshop: Workshop, on_restart) -> None:
    """The controls, the clock, the KPI cards, the charts, the log and the KPI table."""
    step_label = solara.use_reactive(DEFAULT_STEP)
    window_label = solara.use_reactive("follow now")
    playing = solara.use_reactive(False)
    shown = solara.use_reactive((None, 0))  # the comparison on screen and its hour
    progress = solara.use_reactive(0)  # the hour the runner has reached (while busy)
    busy = solara.use_reactive("")
    error = solara.use_reactive("")

    # ---- the runner: build (or reuse) the comparison of these choices, then advance it to
    # each hour asked for (a step is a request to this thread, not a re-render of the page)
    def runner(cancel: threading.Event) -> None:
        try:
            if not workshop.has(choices):
                busy.set("building the two chains…")
            comp = workshop.comparison(choices, lever_list)
            error.set("")
            workshop.wake.set()  # show it at the hour asked for, even if nothing is asked
            while not cancel.is_set():
                if not workshop.wake.wait(0.1) or cancel.is_set():
                    continue  # (a cancelled runner leaves the request to its successor)
                workshop.wake.clear()
                if workshop.asked() - comp.hour > 24:
                    busy.set("simulating…")
                while not cancel.is_set() and comp.hour < min(workshop.asked(), comp.horizon_hours):
                    comp.advance(min(24, workshop.asked() - comp.hour))
                    if busy.value:
                        progress.set(comp.hour)
                if cancel.is_set():
                    return
                with workshop.lock:
                    workshop.current = comp
                if busy.value:
                    busy.set("")
                shown.set((comp, comp.hour))
        except ConfigError as exc:
            error.set("Invalid levers, nothing re-run: " + str(exc))
            busy.set("")
            playing.set(False)
        except Exception as exc:  # a model failure: show it, keep the page alive
            log.exception("dashboard run failed")
            error.set(f"The run failed: {type(exc).__name__}: {exc}")
            busy.set("")
            playing.set(False)

    solara.use_thread(runner, dependencies=[choices], intrusive_cancel=False)

    # ---- play: ask for the next hour once the previous frame is drawn
    def player(cancel: threading.Event) -> None:
        if not playing.value:
            return
        last = 0.0
        while not cancel.is_set() and playing.value:
            comp, hour = shown.value
            asked = workshop.asked()
            if comp is None or busy.value or hour < asked or workshop.drawn_hour < hour:
                time.sleep(0.01)
                continue
            if comp.finished:
                playing.set(False)
                return
            wait = PLAY_FRAME_SECONDS - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            workshop.ask(min(comp.horizon_hours, asked + STEP_CHOICES[step_label.value]))

    solara.use_thread(player, dependencies=[playing.value], intrusive_cancel=False)

    comp, hour = shown.value
    horizon = comp.horizon_hours if comp else 1
    follow = WINDOW_CHOICES[window_label.value]
    frame = solara.use_memo(
        lambda: make_frame(comp, hour, follow) if comp is not None else None,
        [id(comp), hour, follow],
    )

    def restart():
        playing.set(False)
        window_label.set("follow now")
        on_restart()  # new choices: this runner stops, the next one builds anew ...
        workshop.ask(0)  # ... and shows hour 0

    def step():
        playing.set(False)
        workshop.ask(min(horizon, workshop.asked() + STEP_CHOICES[step_label.value]))

    def jump():
        playing.set(False)
        window_label.set("whole run")
        workshop.ask(horizon)

    finished = bool(comp and comp.finished)
    if error.value:
        solara.Error(error.value)
    with solara.Row(classes=["vc-bar"], gap="10px"):
        solara.Button("Restart", on_click=restart, outlined=True, color="primary")
        solara.Button(
            f"Step +{step_label.value}", on_click=step, color="primary", disabled=finished
        )
        solara.Button(
            "Pause" if playing.value else "Play",
            on_click=lambda: playing.set(not playing.value),
            color="primary",
            disabled=finished,
        )
        solara.Button("Jump to end", on_click=jump, color="primary", disabled=finished)
        solara.ToggleButtonsSingle(value=step_label, values=list(STEP_CHOICES))
        if busy.value:
            solara.Text(
                f"{busy.value} {narrative.format_hour(progress.value)}", classes=["vc-busy"]
            )
        if comp is not None:
            solara.HTML(
                tag="div",
                unsafe_innerHTML=(
                    f"{narrative.format_hour(hour)}"
                    f"<small>hour {hour} of {comp.horizon_hours}</small>"
                ),
                classes=["vc-clock"],
                attributes={"data-hour": str(hour)},
            )
    if comp is None or frame is None:
        solara.Info("Building the two chains…")
        return
    KpiCards(frame.kpi_rows, comp.labels)
    with solara.Div(classes=["vc-main"]):
        with solara.Div(classes=["vc-stage-charts"]):
            Charts(frame.views, frame.series, hour, window_label)
            workshop.drawn_hour = hour
            Readout(frame.series)
        EventLog(comp, hour, workshop.logbook)
    KpiPanel(frame.kpi_rows, comp.labels, hour, hour >= comp.horizon_hours)
    left, right = workshop.overrides
    with solara.Details("Command-line equivalent"):
        solara.Preformatted(
            "\n".join(
                f"viralchain run story={comp.story} setup={s.config.meta.setup} "
                f"seed={comp.seed} {describe_overrides([*comp.base, *o])}"
                for s, o in zip(comp.sides, (left, right), strict=True)
            )
        )


@solara.component
def Page() -> None:
    """The dashboard: the scenario and levers in the side panel, the stage in the middle."""
    settings = solara.use_memo(launch_settings, [])
    workshop = solara.use_memo(Workshop, [])
    story = solara.use_reactive(settings.story)
    seed = solara.use_reactive(settings.seed)
    consumers = solara.use_reactive(settings.consumers)
    left_setup = solara.use_reactive(settings.setups[0])
    right_setup = solara.use_reactive(settings.setups[1])
    lever_values = solara.use_reactive({})
    levers_on_both = solara.use_reactive(False)
    generation = solara.use_reactive(0)

    from experiments.compose import group_options

    stories = solara.use_memo(lambda: group_options("story"), [])
    setups = solara.use_memo(lambda: group_options("setup"), [])
    choices = Choices(
        story=story.value,
        seed=int(seed.value or 0),
        consumers=int(consumers.value),
        setups=(left_setup.value, right_setup.value),
        base=settings.base,
        levers=tuple(sorted(lever_values.value.items())),
        levers_on_both=levers_on_both.value,
        generation=generation.value,
    )

    def discover():
        try:
            ref = _side_config(choices, right_setup.value)
            flex = _side_config(choices, "flexible") if "flexible" in setups else ref
            return lv.discover(ref, flex), ref, ""
        except ConfigError as exc:
            return [], None, str(exc)

    lever_list, right_cfg, discover_error = solara.use_memo(
        discover, [story.value, consumers.value, right_setup.value]
    )

    def set_lever(key: str):
        def setter(value):
            lever_values.set({**lever_values.value, key: value})

        return setter

    with solara.Column(gap="0px"):  # (the default gap put 24 px above the controls)
        solara.Style(CSS)
        solara.Title("viralchain workshop")
        with solara.AppBarTitle():
            solara.Text(TITLE, classes=["vc-title"])

        with solara.Sidebar():
            with solara.Card("Scenario"):
                solara.Select("Story", values=stories, value=story)
                solara.InputInt("Seed", value=seed, continuous_update=False)
                solara.Select("Consumers", values=CONSUMER_CHOICES, value=consumers)
                solara.Select("Left (baseline)", values=setups, value=left_setup)
                solara.Select("Right (challenger)", values=setups, value=right_setup)
            with solara.Card("Levers"):
                if discover_error:
                    solara.Error(discover_error)
                solara.Text(
                    "Chain levers act on the right-hand setup; market levers on both.",
                    classes=["vc-help"],
                )
                solara.Switch(label="apply chain levers to both sides", value=levers_on_both)
                for lever in [x for x in lever_list if x.main and x.scope == "chain"]:
                    value = lever_values.value.get(lever.key, lever.current(right_cfg))
                    LeverControl(lever, value, set_lever(lever.key))
                solara.Text("Market (both sides)", style={"font-weight": "600"})
                for lever in [x for x in lever_list if x.scope == "world"]:
                    value = lever_values.value.get(lever.key, lever.current(right_cfg))
                    LeverControl(lever, value, set_lever(lever.key))
                with solara.Details("More policies"):
                    for lever in [x for x in lever_list if not x.main]:
                        value = lever_values.value.get(lever.key, lever.current(right_cfg))
                        LeverControl(lever, value, set_lever(lever.key))
                solara.Button(
                    "Reset levers",
                    on_click=lambda: lever_values.set({}),
                    text=True,
                    color="primary",
                )

        with solara.Column(style={"padding": "0 8px"}, gap="0px"):
            Stage(
                choices,
                lever_list,
                workshop,
                lambda: generation.set(generation.value + 1),
            )


@solara.component
def Layout(children: list | None = None) -> None:
    """The page's frame: the side panel (scenario and levers) starts closed, so a projector
    at 1280×720 gives the whole width to the charts; the ☰ button opens it."""
    solara.AppLayout(children=children or [], sidebar_open=False)
