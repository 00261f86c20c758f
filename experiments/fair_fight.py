"""A fair fight: rigid vs flexible, per story, over seeds, with paired 95 % intervals.

``viralchain fairfight`` runs every story (or ``--stories``) under both setups on the same
seeds. A seed fixes the demand's random streams for both setups (common random numbers), so
the difference of a KPI within a seed is the setups' effect, not noise; the table gives its
mean over seeds with a paired Student-t 95 % interval. ``--probes`` adds the controls of
issue 15: a rigid chain that never reorders, the naive planner, safety stock under steady
noisy demand, the two flexible sourcing rules, and two crossovers in the flagship (no
standing costs of flexibility; a hard-to-call stream). ``--out docs/fair_fight.md`` writes
the tables between the markers of that file (the rest of the file is left alone).

Time to first goods is measured from the story's main event (``meta.peak_hour``): hours until
the first delivery of an order placed at or after it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments import docs
from experiments.sweep_stats import half_width
from sim.kpis import kpi
from sim.metrics import COST_KPIS

SETUPS = ("rigid", "flexible")
FIRST_GOODS = "first_goods_hours"  # measured here, not a runs-table KPI
# what the comparison shows (labels and better directions from the KPI catalogue)
SHOWN: tuple[str, ...] = (
    "fill_rate",
    "lost_sold_out_units",
    "lost_too_slow_units",
    "lost_left_units",
    "leftover_units",
    "profit",
    FIRST_GOODS,
    "quick_response_share",
)


def label(name: str) -> str:
    """A KPI's label with the direction that is better."""
    if name == FIRST_GOODS:
        return "First goods, h (lower is better)"
    k = kpi(name)
    return k.label if k.better == "neither" else f"{k.label} ({k.better} is better)"


MONEY_LINES = ("revenue", *COST_KPIS)  # where the money goes
START, END = "<!-- fair-fight:start -->", "<!-- fair-fight:end -->"


@dataclass(frozen=True)
class Paired:
    """Means of two setups over the same seeds and the paired difference ``b - a``."""

    mean_a: float
    mean_b: float
    diff: float
    half_width: float  # of the 95 % interval of the difference (NaN with < 2 pairs)

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return math.isfinite(self.half_width) and abs(self.diff) > self.half_width


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    """Paired comparison of two equally long samples (pairs with a NaN are dropped)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return Paired(math.nan, math.nan, math.nan, math.nan)
    d = y - x
    return Paired(float(x.mean()), float(y.mean()), float(d.mean()), half_width(d))


def first_goods_hours(result: Any) -> float:
    """Hours from the story's main event to the first delivery of an order placed after it
    (NaN if none was delivered)."""
    m = result.model
    peak = result.config.meta.peak_hour
    book = m.orders
    mine = book.brand == 0
    placed = book.placed_hour[mine]
    delivered = book.delivered_hour[mine]
    ok = (placed >= peak) & (delivered >= 0)
    return float(delivered[ok].min() - peak) if ok.any() else math.nan


def run_kpis(story: str, overrides: Sequence[str], seed: int) -> dict[str, float]:
    """The KPIs of one run, plus the time to first goods."""
    import sim

    cfg = sim.compose(story, [*overrides, "run.timeseries_resolution=off"])
    r = sim.run(cfg, seed=seed, keep_model=True)
    out = dict(r.kpis)
    out["first_goods_hours"] = first_goods_hours(r)
    return out


def measure(
    story: str, variants: dict[str, list[str]], seeds: Sequence[int]
) -> dict[str, list[dict[str, float]]]:
    """KPIs per variant (name → overrides) and seed, in seed order."""
    return {name: [run_kpis(story, ov, s) for s in seeds] for name, ov in variants.items()}


# ----------------------------------------------------------------------------- formatting


def fmt(v: float, name: str = "") -> str:
    """A number for the tables."""
    if not math.isfinite(v):
        return "–"
    if name in ("fill_rate", "quick_response_share"):
        return f"{v:.3f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def _pm(p: Paired, name: str) -> str:
    hw = p.half_width
    return f"{fmt(p.diff, name)} ± {fmt(hw, name)}" if math.isfinite(hw) else fmt(p.diff, name)


def _md(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def why(runs: dict[str, list[dict[str, float]]], a: str, b: str) -> str:
    """The two money lines that move profit most from ``a`` to ``b`` (paired means)."""
    parts = []
    for line in MONEY_LINES:
        d = paired([k[line] for k in runs[a]], [k[line] for k in runs[b]]).diff
        effect = d if line == "revenue" else -d  # effect on b's profit
        parts.append((abs(effect), line, effect))
    parts.sort(reverse=True)
    return ", ".join(f"{line} {'+' if e >= 0 else '−'}{fmt(abs(e))}" for _, line, e in parts[:2])


def story_rows(story: str, runs: dict[str, list[dict[str, float]]], a: str, b: str):
    """Rows of the per-KPI table, and the verdict row, of one story."""
    rows = []
    for name in SHOWN:
        p = paired([k[name] for k in runs[a]], [k[name] for k in runs[b]])
        rows.append([story, label(name), fmt(p.mean_a, name), fmt(p.mean_b, name), _pm(p, name)])
    pp = paired([k["profit"] for k in runs[a]], [k["profit"] for k in runs[b]])
    winner = (b if pp.diff > 0 else a) if pp.significant else "neither (interval spans 0)"
    verdict = [story, winner, _pm(pp, "profit"), f"{b} vs {a}: {why(runs, a, b)}"]
    return rows, verdict


def comparison_markdown(
    results: dict[str, dict[str, list[dict[str, float]]]], n_seeds: int, n_consumers: int
) -> str:
    """The two tables of the comparison: verdicts, then every KPI."""
    a, b = SETUPS
    rows, verdicts = [], []
    for story, runs in results.items():
        r, v = story_rows(story, runs, a, b)
        rows += r
        verdicts.append(v)
    head = (
        f"{n_seeds} seeds × {n_consumers:,} consumers; "
        f"paired differences {b} − {a} with 95 % intervals"
    )
    return "\n\n".join(
        [
            f"*{head}.*",
            "**Who wins (profit)**\n\n"
            + _md(["story", "winner", f"profit {b} − {a}", "main money lines"], verdicts),
            "**Every KPI**\n\n"
            + _md(["story", "KPI", f"{a} (mean)", f"{b} (mean)", f"{b} − {a}"], rows),
        ]
    )


# ----------------------------------------------------------------------------- probes


NO_STANDING_COSTS = [
    "supply.factories.flex.retainer_per_day=0",
    "supply.factories.workshop_east.retainer_per_day=0",
    "supply.factories.workshop_north.retainer_per_day=0",
    "logistics.warehouses.forward_south.fixed_cost_per_day=0",
    "policy.information.platform_cost_per_day=0",
]
SMALL_LOTS = ["supply.factories.core.moq_units=200", "supply.factories.core.batch_size_units=100"]
PROBES: tuple[tuple[str, str, dict[str, list[str]]], ...] = (
    (
        "Rigid: the shipped planner vs one that never reorders (flagship)",
        "head_kol_livestream",
        {
            "shipped rigid": ["setup=rigid"],
            "never reorders": ["setup=rigid", "policy.replenishment.first_review_hour=100000"],
        },
    ),
    (
        "Rigid: the naive planner (teaching) vs the shipped event-aware one (flagship)",
        "head_kol_livestream",
        {
            "naive": ["setup=rigid", "policy.replenishment.planner=naive"],
            "event-aware": ["setup=rigid"],
        },
    ),
    (
        "Rigid under steady noisy demand, small lots: 0 vs 7 days of safety stock",
        "steady_seller",
        {
            "0 days": ["setup=rigid", *SMALL_LOTS, "policy.safety_stock.days_of_cover=0"],
            "7 days": ["setup=rigid", *SMALL_LOTS, "policy.safety_stock.days_of_cover=7"],
        },
    ),
    (
        "Flexible sourcing under steady demand: dual_index vs base_surge",
        "steady_seller",
        {
            "dual_index": ["setup=flexible", "policy/sourcing=dual_index"],
            "base_surge": ["setup=flexible", "policy/sourcing=base_surge"],
        },
    ),
    (
        "Crossover, standing costs: rigid vs a flexible chain that keeps flexibility for free "
        "(flagship)",
        "head_kol_livestream",
        {
            "rigid": ["setup=rigid"],
            "flexible, no standing costs": ["setup=flexible", *NO_STANDING_COSTS],
        },
    ),
    (
        "Crossover, forecast error: rigid vs flexible when the stream's sales are hard to call "
        "(flagship, event_forecast_error=1.0)",
        "head_kol_livestream",
        {
            "rigid": ["setup=rigid", "policy.replenishment.event_forecast_error=1.0"],
            "flexible": ["setup=flexible", "policy.replenishment.event_forecast_error=1.0"],
        },
    ),
)


def probes_markdown(seeds: Sequence[int], common: Sequence[str]) -> str:
    """The controls of issue 15, each a paired comparison of two variants."""
    from experiments.compose import group_options

    out = []
    stories = group_options("story")
    for title, story, variants in PROBES:
        if story not in stories:
            continue
        runs = measure(story, {k: [*common, *v] for k, v in variants.items()}, seeds)
        a, b = list(variants)
        rows = []
        for name in SHOWN:
            p = paired([k[name] for k in runs[a]], [k[name] for k in runs[b]])
            rows.append([label(name), fmt(p.mean_a, name), fmt(p.mean_b, name), _pm(p, name)])
        out.append(f"**{title}**\n\n" + _md(["KPI", a, b, f"{b} − {a}"], rows))
    return "\n\n".join(out)


# ----------------------------------------------------------------------------- command


def cmd_fairfight(args: argparse.Namespace) -> int:
    """Run the comparison and print (and optionally write) its tables."""
    from experiments.compose import group_options
    from sim.errors import ConfigError

    stories = group_options("story")
    chosen = [s.strip() for s in args.stories.split(",") if s.strip()] if args.stories else stories
    bad = [s for s in chosen if s not in stories]
    if bad:
        print(
            f"viralchain: invalid --stories = {bad[0]!r}: must be among {stories}", file=sys.stderr
        )
        return 2
    if args.seeds < 2:
        print(f"viralchain: invalid --seeds = {args.seeds}: needs at least 2", file=sys.stderr)
        return 2
    seeds = list(range(args.seeds))
    common = [f"market.n_consumers={args.n_consumers}", *args.overrides]
    try:
        for s in chosen:  # validate every story once before the long part
            for setup in SETUPS:
                from sim import compose

                compose(s, [*common, f"setup={setup}"])
    except ConfigError as exc:
        print(f"viralchain: {exc}", file=sys.stderr)
        return 2
    results = {}
    for s in chosen:
        results[s] = measure(s, {st: [*common, f"setup={st}"] for st in SETUPS}, seeds)
        print(f"  {s}: done", file=sys.stderr)
    body = comparison_markdown(results, len(seeds), args.n_consumers)
    if args.probes:
        body += "\n\n" + probes_markdown(seeds, common)
    docs.emit(body, args.out, START, END)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain fairfight``."""
    p = subparsers.add_parser(
        "fairfight",
        help="rigid vs flexible per story over seeds, paired 95%% intervals (docs/fair_fight.md)",
        description=(__doc__ or "").split("\n\n")[1],
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for all")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    p.add_argument("--n-consumers", type=int, default=20000, help="market size (default 20000)")
    p.add_argument("--stories", help="comma-separated stories (default: every story)")
    p.add_argument("--probes", action="store_true", help="add the controls of issue 15")
    p.add_argument("--out", help="write the tables between the markers of this file")
    p.set_defaults(func=cmd_fairfight)
