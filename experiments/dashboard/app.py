"""The Solara page of the workshop dashboard (``viralchain dashboard`` serves it).

Left: the story, the seed, the market size, the two setups and the levers. Right: the clock
and the controls (step, play, jump to the end, restart), the six charts of
:func:`sim.plotting.plot_dashboard` with a strip of running totals under them, the
"what happened" log beside them, and the KPI panel with the differences.

Work happens off the page's thread: a runner thread builds the comparison for the current
choices and advances it to the hour asked for (stepping the same models when only the hour
changed, rebuilding them when a lever changed); a play thread moves that hour forward while
"play" is on, waiting for each frame to be drawn before asking for the next.
"""

# ruff: noqa: N802  (Solara components are named like classes: Page, Charts, ...)
from __future__ import annotations

import html
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import solara

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
from sim.plotting import color_for, plot_dashboard

log = logging.getLogger(__name__)

ENV = "VIRALCHAIN_DASHBOARD"
CONSUMER_CHOICES = [2000, 5000, 10000, 20000, 50000, 100000]
STEP_CHOICES = {"1 hour": 1, "6 hours": 6, "12 hours": 12, "1 day": 24}
DEFAULT_STEP = "12 hours"
PLAY_PAUSE_SECONDS = 0.25  # pause between frames while playing (drawing a frame takes ~1 s)
LOG_ROWS = 80
CATEGORY_COLORS = {
    "content": "#8E6CB0",
    "supply": "#4C6A92",
    "trouble": "#B5485D",
    "recovery": "#5DA271",
    "other": "#777777",
}
CSS = """
.vc-kpis { border-collapse: collapse; width: 100%; font-size: 14px; }
.vc-kpis th, .vc-kpis td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; }
.vc-kpis td.num { text-align: right; font-variant-numeric: tabular-nums; }
.vc-kpis td.better { color: #2e7d32; font-weight: 600; }
.vc-kpis td.worse { color: #b5485d; font-weight: 600; }
.vc-log { max-height: 760px; overflow-y: auto; font-size: 13px; }
.vc-log .row { padding: 3px 0; border-bottom: 1px solid #f0f0f0; }
.vc-log .when { color: #666; font-variant-numeric: tabular-nums; margin-right: 6px; }
.vc-log .side { border-radius: 3px; padding: 0 4px; color: white; font-size: 11px; }
.vc-readout { font-size: 14px; font-variant-numeric: tabular-nums; }
.vc-clock { font-size: 20px; font-weight: 600; }
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


class Workshop:
    """Per-browser-session state shared between the page and its threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cache: OrderedDict[Choices, Comparison] = OrderedDict()
        self.current: Comparison | None = None
        self.drawn_hour = -1
        self.overrides: tuple[list[str], list[str]] = ([], [])

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
            solara.Text(lever.help, style={"font-size": "11px", "color": "#777"})


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
    with solara.Card(title, classes=["vc-kpi-card"]):
        solara.HTML(
            tag="table",
            unsafe_innerHTML=head + "".join(body),
            classes=["vc-kpis"],
            attributes={"data-hour": str(hour), "data-finished": str(finished).lower()},
        )
        solara.Text(
            "Money in one currency unit; shares in %. Green: the right-hand setup does better.",
            style={"font-size": "12px", "color": "#777"},
        )


@solara.component
def EventLog(comp: Comparison, hour: int) -> None:
    """The "what happened" log, newest first, coloured by category and side."""
    show_posts = solara.use_reactive(False)
    entries = solara.use_memo(lambda: comp.log(until=hour), [id(comp), hour])
    if not show_posts.value:
        entries = entries[entries["kind"] != "post"]
    rows = []
    for e in entries.head(LOG_ROWS).itertuples(index=False):
        side_color = "#999999" if e.side == "both" else color_for(str(e.side), 0)
        cat = CATEGORY_COLORS.get(e.category, "#777777")
        rows.append(
            f'<div class="row" data-kind="{e.kind}"><span class="when">{e.when}</span>'
            f'<span class="side" style="background:{side_color}">{html.escape(str(e.side))}</span> '
            f'<span style="color:{cat}">{html.escape(e.text)}</span></div>'
        )
    if not rows:
        rows = ['<div class="row">Nothing yet: step or play the run.</div>']
    with solara.Card("What happened", classes=["vc-log-card"]):
        solara.Checkbox(label="show short-video posts", value=show_posts)
        solara.HTML(tag="div", unsafe_innerHTML="".join(rows), classes=["vc-log"])


@solara.component
def Readout(comp: Comparison, tables) -> None:
    """Running totals at the current hour, one line per side (units)."""
    totals = comp.readout(tables)
    lines = []
    for i, (label, t) in enumerate(totals.items()):
        c = color_for(label, i)
        lines.append(
            f'<div data-side="{html.escape(label)}"><b style="color:{c}">{html.escape(label)}</b>: '
            f"demand {t['demand']:,.0f} · sold {t['sold']:,.0f} · lost {t['lost']:,.0f} · "
            f"stock {t['on_hand']:,.0f} · produced {t['produced']:,.0f} · "
            f"delivered {t['delivered']:,.0f} · returned {t['returned']:,.0f} units</div>"
        )
    solara.HTML(tag="div", unsafe_innerHTML="".join(lines), classes=["vc-readout"])


@solara.component
def Charts(comp: Comparison, hour: int, workshop: Workshop) -> None:
    """The six panels (drawn once per hour shown) and the running totals under them."""
    tables = solara.use_memo(lambda: comp.tables(until=hour), [id(comp), hour])

    def draw():
        title = f"{comp.story}: {' vs '.join(comp.labels)} on the same demand (seed {comp.seed})"
        return plot_dashboard(
            tables,
            now_hours=hour,
            horizon_hours=comp.horizon_hours,
            title=title,
            skus=list(comp.sides[0].config.brand.products),
            figsize=(15, 8),
        )

    fig = solara.use_memo(draw, [id(comp), hour])
    solara.FigureMatplotlib(fig, dependencies=[id(comp), hour], format="png", dpi=72)
    workshop.drawn_hour = hour
    Readout(comp, tables)


@solara.component
def Page() -> None:
    """The dashboard."""
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
    target = solara.use_reactive(0)
    step_label = solara.use_reactive(DEFAULT_STEP)
    playing = solara.use_reactive(False)
    shown = solara.use_reactive((None, 0))  # the comparison on screen and its hour
    progress = solara.use_reactive(0)  # the hour the runner has reached
    busy = solara.use_reactive("")
    error = solara.use_reactive("")

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

    # ---- the runner: build (or reuse) the comparison and advance it to the target hour
    def runner(cancel: threading.Event) -> None:
        try:
            busy.set("building the two chains…")
            comp = workshop.comparison(choices, lever_list)
            error.set("")
            goal = min(target.value, comp.horizon_hours)
            if comp.hour < goal:
                busy.set("simulating…")
            while comp.hour < goal and not cancel.is_set():
                comp.advance(min(24, goal - comp.hour))
                progress.set(comp.hour)
        except ConfigError as exc:
            error.set("Invalid levers, nothing re-run: " + str(exc))
            busy.set("")
            playing.set(False)
            return
        except Exception as exc:  # a model failure: show it, keep the page alive
            log.exception("dashboard run failed")
            error.set(f"The run failed: {type(exc).__name__}: {exc}")
            busy.set("")
            playing.set(False)
            return
        if cancel.is_set():
            return
        with workshop.lock:
            workshop.current = comp
        busy.set("")
        shown.set((comp, comp.hour))

    solara.use_thread(runner, dependencies=[choices, target.value], intrusive_cancel=False)

    # ---- play: move the target hour forward once the previous frame is drawn
    def player(cancel: threading.Event) -> None:
        if not playing.value:
            return
        while not cancel.is_set() and playing.value:
            comp, _ = shown.value
            if comp is None:
                time.sleep(0.1)
                continue
            if comp.finished:
                playing.set(False)
                return
            if workshop.drawn_hour < target.value or busy.value:
                time.sleep(0.05)
                continue
            time.sleep(PLAY_PAUSE_SECONDS)
            target.set(min(comp.horizon_hours, target.value + STEP_CHOICES[step_label.value]))

    solara.use_thread(player, dependencies=[playing.value], intrusive_cancel=False)

    comp, hour = shown.value
    horizon = comp.horizon_hours if comp else 1
    kpi_rows = solara.use_memo(lambda: comp.kpi_rows() if comp else [], [id(comp), hour])

    def set_lever(key: str):
        def setter(value):
            lever_values.set({**lever_values.value, key: value})

        return setter

    def restart():
        playing.set(False)
        target.set(0)
        generation.set(generation.value + 1)

    def step():
        playing.set(False)
        target.set(min(horizon, target.value + STEP_CHOICES[step_label.value]))

    def jump():
        playing.set(False)
        target.set(horizon)

    solara.Style(CSS)
    solara.Title("viralchain workshop")
    with solara.AppBarTitle():
        solara.Text("viralchain — what a viral spike does to a rigid and to a flexible chain")

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
                style={"font-size": "12px", "color": "#555"},
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
                "Reset levers", on_click=lambda: lever_values.set({}), text=True, color="primary"
            )

    with solara.Column(style={"padding": "8px"}):
        if error.value:
            solara.Error(error.value)
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Button("Restart", on_click=restart, outlined=True, color="primary")
            solara.Button(
                f"Step +{step_label.value}",
                on_click=step,
                color="primary",
                disabled=bool(comp and comp.finished),
            )
            solara.Button(
                "Pause" if playing.value else "Play",
                on_click=lambda: playing.set(not playing.value),
                color="primary",
                disabled=bool(comp and comp.finished),
            )
            solara.Button(
                "Jump to end",
                on_click=jump,
                color="primary",
                disabled=bool(comp and comp.finished),
            )
            solara.ToggleButtonsSingle(value=step_label, values=list(STEP_CHOICES))
            if comp is not None:
                solara.Text(
                    f"{narrative.format_hour(hour)}  ·  hour {hour} of {comp.horizon_hours}",
                    classes=["vc-clock"],
                )
            if busy.value:
                solara.Text(
                    f"{busy.value} {narrative.format_hour(progress.value)}",
                    style={"color": "#777"},
                )
        solara.ProgressLinear(value=100 * (hour / horizon) if comp else 0)
        if comp is None:
            solara.Info("Building the two chains…")
            return
        with solara.Columns([3, 1]):
            with solara.Column():
                Charts(comp, hour, workshop)
            EventLog(comp, hour)
        KpiPanel(kpi_rows, comp.labels, hour, hour >= comp.horizon_hours)
        left, right = workshop.overrides
        with solara.Details("Command-line equivalent"):
            solara.Preformatted(
                "\n".join(
                    f"viralchain run story={comp.story} setup={s.config.meta.setup} "
                    f"seed={comp.seed} {describe_overrides([*comp.base, *o])}"
                    for s, o in zip(comp.sides, (left, right), strict=True)
                )
            )
