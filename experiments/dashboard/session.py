"""Two setups of one story on the same seed, stepped together: the dashboard's engine, no UI.

A :class:`Comparison` composes both configs through :func:`sim.compose` (so every lever is
validated by the same schema as the command line), builds one
:class:`~sim.model.ViralChainModel` per side and advances them in lockstep. At any hour it
gives each side's tables (``timeseries`` and ``events`` so far), KPIs "as if the run ended
now" (exactly :func:`sim.run`'s KPIs once the horizon is reached), a KPI table with the
differences, and the merged plain-words event log.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import sim
from sim import kpis as kpis_catalogue
from sim import metrics, narrative
from sim.config import Config
from sim.model import ViralChainModel
from sim.recording import events_frame
from sim.result import make_run_id

# the KPI panel's rows, in order; their label, unit and better direction come from the KPI
# catalogue (sim/kpis.py)
PANEL_KPIS: tuple[str, ...] = (
    "demand_units",
    "sold_units",
    "lost_sales_units",
    "fill_rate",
    "stockout_hours",
    "delivery_hours_mean",
    "on_time_rate",
    "returned_units",
    "revenue",
    "rush_premium_cost",
    "writeoff_cost",
    "profit",
    "leftover_units",
    "response_time_hours",
    "peak_working_capital",
)

# Hydra's compose API keeps process-global state: the page and its worker threads compose
# one at a time
COMPOSE_LOCK = threading.Lock()


def compose(story: str, overrides: Sequence[str]) -> Config:
    """:func:`sim.compose`, serialised across threads."""
    with COMPOSE_LOCK:
        return sim.compose(story, list(overrides))


@dataclass
class Side:
    """One setup of the comparison: its config, model and run id."""

    label: str
    config: Config
    model: ViralChainModel
    run_id: str
    overrides: list[str] = field(default_factory=list)
    finished: bool = False


@dataclass(frozen=True)
class KpiRow:
    """One line of the KPI panel."""

    name: str
    label: str
    unit: str
    left: float
    right: float
    diff: float
    change_pct: float
    verdict: str  # "better", "worse" or "" (for the right side, relative to the left)


class Comparison:
    """A story under two setups, on the same seed, advanced hour by hour.

    Args:
        story: a story name (``viralchain list stories``).
        setups: the two setups, left (baseline) and right (challenger).
        seed: the run seed shared by both sides (common random numbers).
        base: overrides applied to both sides (e.g. ``market.n_consumers=10000``).
        left_overrides, right_overrides: overrides of one side (from the levers).

    Raises:
        sim.ConfigError: when a side's config is invalid (nothing is built).
    """

    def __init__(
        self,
        story: str,
        setups: tuple[str, str] = ("rigid", "flexible"),
        seed: int = 0,
        base: Sequence[str] = (),
        left_overrides: Sequence[str] = (),
        right_overrides: Sequence[str] = (),
    ):
        self.story = story
        self.seed = int(seed)
        self.base = list(base)
        labels = _labels(setups)
        self.sides: list[Side] = []
        configs = []
        for setup, extra in zip(setups, (left_overrides, right_overrides), strict=True):
            overrides = [*self.base, f"setup={setup}", "run.timeseries_resolution=hour", *extra]
            configs.append((compose(story, overrides), list(extra)))
        for label, (cfg, extra) in zip(labels, configs, strict=True):
            model = ViralChainModel(cfg, self.seed)
            run_id = make_run_id(cfg.config_hash(), self.seed)
            self.sides.append(Side(label, cfg, model, run_id, extra))
        self.horizon_hours = min(s.config.run.horizon_hours for s in self.sides)
        self.hour = 0
        self.wall_seconds = 0.0
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ stepping
    @property
    def finished(self) -> bool:
        """Whether both sides reached the horizon."""
        return self.hour >= self.horizon_hours

    def advance(self, hours: int) -> int:
        """Simulate up to ``hours`` more hours on both sides; returns the hours done."""
        with self._lock:
            n = max(0, min(int(hours), self.horizon_hours - self.hour))
            if n == 0:
                return 0
            t0 = time.perf_counter()
            for side in self.sides:
                side.model.run_for(n)
            self.hour += n
            if self.finished:
                for side in self.sides:
                    self._close(side)
            self.wall_seconds += time.perf_counter() - t0
            return n

    def run_to(self, hour: int) -> None:
        """Advance both sides to ``hour`` (no-op if already there)."""
        self.advance(int(hour) - self.hour)

    def run_to_end(self) -> None:
        """Advance both sides to the horizon."""
        self.advance(self.horizon_hours - self.hour)

    @staticmethod
    def _close(side: Side) -> None:
        """Close the books as :meth:`ViralChainModel.run` does at the horizon."""
        if not side.finished:
            side.model.population.expire_waiting()
            side.finished = True

    # ------------------------------------------------------------------ reading
    @property
    def labels(self) -> list[str]:
        """The two sides' labels, left first."""
        return [s.label for s in self.sides]

    def tables(self, until: int | None = None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        """label → (timeseries, events) of the hours simulated so far (or before ``until``)."""
        with self._lock:
            end = self.hour if until is None else min(int(until), self.hour)
            out = {}
            for s in self.sides:
                ts = s.model.recorder.timeseries(s.run_id)
                ts = ts[ts["t_hours"] < end].reset_index(drop=True)
                ev = events_frame(s.model.events, s.run_id)
                ev = ev[ev["t_hours"] < end].reset_index(drop=True)
                out[s.label] = (ts, ev)
            return out

    def kpis(self) -> dict[str, dict[str, float]]:
        """label → the main brand's KPIs as if the run ended now (final at the horizon)."""
        with self._lock:
            return {s.label: metrics.compute(metrics.brand_totals(s.model, 0)) for s in self.sides}

    def kpi_rows(self, kpis: Mapping[str, Mapping[str, float]] | None = None) -> list[KpiRow]:
        """The KPI panel: left, right, difference (right − left), change and verdict."""
        kpis = kpis or self.kpis()
        left, right = (kpis[s.label] for s in self.sides)
        rows = []
        for name in PANEL_KPIS:
            k = kpis_catalogue.kpi(name)
            label, unit, direction = k.label, k.unit, k.sign
            a, b = float(left.get(name, math.nan)), float(right.get(name, math.nan))
            d = b - a
            pct = d / abs(a) * 100 if a and not math.isnan(d) else math.nan
            verdict = ""
            if direction and not math.isnan(d) and abs(d) > 1e-9 * max(1.0, abs(a)):
                verdict = "better" if d * direction > 0 else "worse"
            rows.append(KpiRow(name, label, unit, a, b, d, pct, verdict))
        return rows

    def log(self, until: int | None = None, since: int = 0) -> pd.DataFrame:
        """The plain-words event log of both sides, newest first (events before ``until``,
        from ``since`` on: the page adds each step's hours to what it has).

        Events the two sides share (the content: posts, live streams) appear once, with
        ``side`` = ``both``.

        Returns:
            columns ``t_hours, when, side, kind, category, text``.
        """
        with self._lock:
            frames = []
            keys = ["t_hours", "kind", "actor", "sku", "quantity", "detail"]
            end = self.hour if until is None else min(int(until), self.hour)
            evs = {}
            for s in self.sides:
                ev = events_frame(s.model.events, s.run_id)
                evs[s.label] = ev[(ev["t_hours"] >= since) & (ev["t_hours"] < end)]
            left, right = (evs[s.label] for s in self.sides)
            common = left.merge(right[keys].drop_duplicates(), on=keys, how="inner")
            for label, ev in evs.items():
                own = ev.merge(common[keys].drop_duplicates(), on=keys, how="left", indicator=True)
                own = own[own["_merge"] == "left_only"].drop(columns="_merge")
                frames.append(narrative.narrate(own).assign(side=label))
            frames.append(
                narrative.narrate(common.drop_duplicates(subset=keys)).assign(side="both")
            )
        out = pd.concat(frames, ignore_index=True)
        out = out.sort_values("t_hours", ascending=False, kind="stable").reset_index(drop=True)
        return out[["t_hours", "when", "side", "kind", "category", "text"]]

    def readout(self, tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None):
        """label → running totals at this hour: demand, sold, lost, on hand, produced,
        delivered, returned (units), for the strip under the charts."""
        from sim.plotting import hourly_totals

        tables = tables or self.tables()
        out: dict[str, dict[str, float]] = {}
        for s in self.sides:
            ts, _ = tables[s.label]
            tot = hourly_totals(ts, list(s.config.brand.products))
            if tot.empty:
                out[s.label] = dict.fromkeys(
                    ("demand", "sold", "lost", "on_hand", "produced", "delivered", "returned"), 0.0
                )
                continue
            out[s.label] = {
                "demand": float(tot["demand"].sum()),
                "sold": float(tot["sold"].sum()),
                "lost": float(tot["lost"].sum()),
                "on_hand": float(tot["on_hand"].iloc[-1]),
                "produced": float(tot["produced"].sum()),
                "delivered": float(tot["delivered"].sum()),
                "returned": float(tot["returned"].sum()),
            }
        return out


def _labels(setups: tuple[str, str]) -> list[str]:
    a, b = setups
    if a != b:
        return [a, b]
    return [f"{a} (A)", f"{b} (B)"]


def format_value(value: float, unit: str) -> str:
    """A KPI value for the panel."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "money":
        return f"{value:,.0f}"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def format_diff(row: KpiRow) -> str:
    """The difference column: signed, in the KPI's unit (points for shares)."""
    d = row.diff
    if math.isnan(d):
        return "n/a"
    if row.unit == "share":
        return f"{d * 100:+.1f} pts"
    if row.unit == "money" or abs(d) >= 100 or float(d).is_integer():
        return f"{d:+,.0f}"
    return f"{d:+,.1f}"


def describe_overrides(overrides: Sequence[str]) -> str:
    """Overrides as one line for the page (the command-line equivalent)."""
    return " ".join(overrides) if overrides else "(as the setup ships)"


def as_dict(row: KpiRow) -> dict[str, Any]:
    """A KPI row as a plain dict (for tables and tests)."""
    return dict(row.__dict__)
