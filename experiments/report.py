"""``viralchain report``: a sweep directory → tables with confidence intervals, plots, a report.

Reads the sweep's ``runs`` dataset (and the ``timeseries``/``events`` of the runs it
draws), computes with :mod:`experiments.sweep_stats` and writes into ``<sweep_dir>/report/``
(or ``--out``):

- ``kpi_means.csv`` — every KPI's mean, sd and 95% CI per policy combination;
- ``paired_differences.csv`` — every combination minus the baseline within replications
  (common random numbers), with the paired and the unpaired interval side by side;
- ``frontier.csv`` — the cost vs service points and which are Pareto-optimal;
- ``report.xlsx`` — the three tables above, one sheet each, for Excel;
- ``kpi_intervals.png``, ``paired_differences.png``, ``frontier.png``, ``timeseries.png``;
- ``report.md`` (links the PNGs) and ``report.html`` (self-contained: images inlined).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import sweep_stats as stats
from experiments import sweep_store as store
from experiments.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, os_reason, staged, unusable_dir
from sim import kpis as kpis_catalogue

DEFAULT_KPIS = [
    "fill_rate",
    "lost_sales_units",
    "profit",
    "leftover_units",
    "delivery_hours_mean",
    "stockout_hours",
]
# from the KPI catalogue: shares and ratios get three decimals; the frontier minimises the
# KPIs where lower is better and maximises all others
THREE_DECIMALS = kpis_catalogue.of_unit("share", "ratio")
LOWER_IS_BETTER = frozenset(kpis_catalogue.better_of("lower"))


class ReportError(ValueError):
    """The sweep directory or an option cannot make a report (exit 2)."""


@dataclass
class Report:
    """What :func:`build` computed and wrote."""

    out: Path
    design: stats.Design
    summary: pd.DataFrame
    diffs: pd.DataFrame
    frontier: pd.DataFrame
    baseline: dict[str, str]
    kpis: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    timeseries_runs: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- formatting


def fmt(value: float, kpi: str = "") -> str:
    """A KPI value for a table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kpi in THREE_DECIMALS:
        return f"{value:.3f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def _pm(mean: float, hw: float, kpi: str) -> str:
    if isinstance(hw, float) and math.isnan(hw):
        return fmt(mean, kpi)
    return f"{fmt(mean, kpi)} ± {fmt(hw, kpi)}"


def headline_rows(r: Report) -> tuple[list[str], list[list[str]]]:
    """Means ± 95% CI half-widths: one row per combination, one column per KPI."""
    head = ["combination", "n", *r.kpis]
    rows = []
    for combo in r.design.combinations:
        sub = r.summary[r.summary["combination"] == combo].set_index("kpi")
        n = int(sub["n"].max()) if len(sub) else 0
        rows.append(
            [combo, str(n)] + [_pm(sub.loc[k, "mean"], sub.loc[k, "half_width"], k) for k in r.kpis]
        )
    return head, rows


def paired_rows(r: Report) -> tuple[list[str], list[list[str]]]:
    """Paired differences to the baseline for the report's KPIs."""
    head = [
        "combination − baseline",
        "KPI",
        "pairs",
        "mean difference",
        "95% CI",
        "paired ±",
        "unpaired ±",
        "CRN variance ratio",
        "verdict",
    ]
    rows = []
    order = {k: i for i, k in enumerate(r.kpis)}
    shown = r.diffs[r.diffs["kpi"].isin(r.kpis)].copy()
    shown["_order"] = shown["kpi"].map(order)
    shown = shown.sort_values(["story", "combination", "_order"], kind="stable")
    for d in shown.itertuples(index=False):
        rows.append(
            [
                f"{d.combination} − {d.baseline}",
                d.kpi,
                str(d.n_pairs),
                fmt(d.mean_diff, d.kpi),
                f"[{fmt(d.ci_low, d.kpi)}, {fmt(d.ci_high, d.kpi)}]",
                fmt(d.paired_half_width, d.kpi),
                fmt(d.unpaired_half_width, d.kpi),
                "n/a" if math.isnan(d.crn_variance_ratio) else f"{d.crn_variance_ratio:.1f}×",
                verdict(d.kpi, d.ci_low, d.ci_high),
            ]
        )
    return head, rows


def verdict(kpi: str, ci_low: float, ci_high: float) -> str:
    """``better`` or ``worse`` when the 95% CI of a difference excludes 0, by the KPI's better
    direction in the catalogue; empty when it includes 0 or neither direction is better."""
    sign = kpis_catalogue.kpi(kpi).sign
    if not sign or math.isnan(ci_low) or math.isnan(ci_high) or ci_low <= 0 <= ci_high:
        return ""
    return "better" if (ci_low > 0) == (sign > 0) else "worse"


PAIRED_NOTE = (
    "95% CI = mean diff ± paired ±; unpaired ±: as if the runs were independent (Welch); "
    "CRN ×: (unpaired ÷ paired)², the factor of replications common random numbers save; "
    "verdict: the CI excludes 0 (better or worse for the brand)."
)


def paired_text(r: Report, width: int = 100) -> str:
    """The paired differences for a terminal, at most ``width`` characters wide: one block per
    combination, headed by ``combination − baseline``, one line per KPI."""
    import textwrap

    order = {k: i for i, k in enumerate(r.kpis)}
    shown = r.diffs[r.diffs["kpi"].isin(r.kpis)].copy()
    shown["_order"] = shown["kpi"].map(order)
    shown = shown.sort_values(["story", "combination", "_order"], kind="stable")
    head = ["KPI", "pairs", "mean diff", "paired ±", "unpaired ±", "CRN ×", "verdict"]
    blocks = []
    for (_, combo), group in shown.groupby(["story", "combination"], sort=False):
        base = group["baseline"].iloc[0]
        title = textwrap.fill(f"{combo} − {base}", width, subsequent_indent="    ")
        rows = [
            [
                d.kpi,
                str(d.n_pairs),
                fmt(d.mean_diff, d.kpi),
                fmt(d.paired_half_width, d.kpi),
                fmt(d.unpaired_half_width, d.kpi),
                "n/a" if math.isnan(d.crn_variance_ratio) else f"{d.crn_variance_ratio:.1f}",
                verdict(d.kpi, d.ci_low, d.ci_high),
            ]
            for d in group.itertuples(index=False)
        ]
        table = "\n".join("  " + line.rstrip() for line in text_table(head, rows).splitlines())
        blocks.append(f"{title}\n{table}")
    note = textwrap.fill(PAIRED_NOTE, width)
    return "\n\n".join([*blocks, note])


def text_table(head: list[str], rows: list[list[str]]) -> str:
    """A fixed-width table (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = [[str(c).replace("|", "\\|") for c in r] for r in [head, *rows]]
    out = [
        "| " + " | ".join(esc[0]) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------------- building


def frontier_points(summary: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One row per combination with mean and CI of ``x`` and ``y``, and ``pareto``."""
    rows = []
    for combo, sub in summary.groupby("combination", sort=False):
        s = sub.set_index("kpi")
        row: dict[str, Any] = {
            "combination": combo,
            "story": s["story"].iloc[0],
            "setup": s["setup"].iloc[0],
        }
        for k in (x, y):
            row[f"{k}_mean"] = s.loc[k, "mean"]
            row[f"{k}_low"] = s.loc[k, "ci_low"]
            row[f"{k}_high"] = s.loc[k, "ci_high"]
        rows.append(row)
    points = pd.DataFrame(rows)
    return _mark_pareto(points, x, y)


def _mark_pareto(
    points: pd.DataFrame, x: str, y: str, among: pd.Series | None = None
) -> pd.DataFrame:
    """``pareto``: the points (those of the boolean mask ``among``, else all) on their
    story's front in ``x`` and ``y`` (stories are not alternatives: a front each)."""
    points["pareto"] = False
    for _, group in (points if among is None else points[among]).groupby("story"):
        front = stats.pareto_front(
            group, f"{x}_mean", f"{y}_mean", x not in LOWER_IS_BETTER, y not in LOWER_IS_BETTER
        )
        points.loc[group.index, "pareto"] = front
    points["pareto"] = points["pareto"].astype(bool)
    return points


def confirmed_front(
    sweep_dir: Path, summary: pd.DataFrame, points: pd.DataFrame, x: str, y: str
) -> pd.DataFrame:
    """A two-stage optimisation study's frontier (:mod:`experiments.optimise`): ``confirmed``
    marks the trials run on every replication, and only they can be Pareto-optimal (a
    screened trial's means are over its first replications only). Other sweeps: unchanged."""
    from experiments.optimise import stages

    if not (sweep_dir / "multirun.yaml").is_file():
        return points
    full, screen = stages(sweep_dir)
    if screen is None:
        return points
    n = summary[summary["kpi"] == x].set_index("combination")["n"]
    points["confirmed"] = points["combination"].map(n).ge(full).to_numpy()
    return _mark_pareto(points, x, y, points["confirmed"])


def main_brands(sweep_dir: Path, runs: pd.DataFrame) -> dict[str, str]:
    """Run id → the main brand's name (from the config each run's files carry).

    A run of a story with rival brands has a ``runs`` row per brand; the sweep's policy is
    the main brand's.
    """
    from sim.recording import read_metadata

    out = {}
    for row in runs.drop_duplicates("run_id").itertuples(index=False):
        path = store.run_file(sweep_dir, "runs", str(row.story), str(row.setup), row.run_id)
        config = json.loads(read_metadata(path)["config"])
        out[row.run_id] = config["brand"]["name"]
    return out


def _skus(sweep_dir: Path, story: str, setup: str, run_id: str) -> list[str]:
    """The main brand's SKUs of a run (from the config its files carry)."""
    from sim.recording import read_metadata

    path = store.run_file(sweep_dir, "runs", story, setup, run_id)
    config = json.loads(read_metadata(path)["config"])
    return list(config["brand"]["products"])


def _pick_runs(r: Report, y: str, run_ids: list[str] | None) -> dict[str, str]:
    """Runs to draw: label → run id (default: baseline vs the best other, same seed)."""
    runs = r.design.runs
    if run_ids:
        chosen = {}
        for rid in run_ids:
            hit = runs[runs["run_id"] == rid]
            if hit.empty:
                raise ReportError(f"--run {rid!r}: no finished run with this id in the sweep")
            row = hit.iloc[0]
            chosen[f"{row['combination']} (rep {row['replication']})"] = rid
        return chosen
    story = sorted(r.baseline)[0]
    base = r.baseline[story]
    others = r.summary[
        (r.summary["kpi"] == y) & (r.summary["story"] == story) & (r.summary["combination"] != base)
    ]
    combos = [base]
    if len(others):
        combos.append(str(others.sort_values("mean", ascending=False)["combination"].iloc[0]))
    seeds = set.intersection(*[set(runs.loc[runs["combination"] == c, "seed"]) for c in combos])
    sub = runs[runs["combination"].isin(combos) & runs["seed"].isin(seeds)]
    first = sub.sort_values("replication").iloc[0]["seed"]
    pick = sub[sub["seed"] == first]
    return {
        str(pick.loc[pick["combination"] == c, "combination"].iloc[0]): str(
            pick.loc[pick["combination"] == c, "run_id"].iloc[0]
        )
        for c in combos
    }


def _timeseries_plot(r: Report, sweep_dir: Path, chosen: dict[str, str]):
    from sim.plotting import plot_comparison, plot_run, short_labels

    runs = r.design.runs.set_index("run_id")
    ids = list(chosen.values())
    ts = store.read_table(sweep_dir, "timeseries", run_ids=ids)
    ev = store.read_table(sweep_dir, "events", run_ids=ids)
    first = runs.loc[ids[0]]
    skus = _skus(sweep_dir, str(first["story"]), str(first["setup"]), ids[0])
    if ts.empty:
        return None
    if len(chosen) == 1:
        rid = ids[0]
        title = f"{first['story']}: {next(iter(chosen))}, seed {first['seed']} (run {rid})"
        return plot_run(ts[ts["run_id"] == rid], ev[ev["run_id"] == rid], title, skus)
    same_seed = len({runs.loc[i, "seed"] for i in ids}) == 1
    labels, common = short_labels(list(chosen))  # the legend names what differs
    title = (
        f"{first['story']}: "
        + " vs ".join(labels)
        + (f" ({common})" if common else "")
        + (f" on the same demand (seed {first['seed']})" if same_seed else "")
    )
    data = {
        label: (ts[ts["run_id"] == rid], runs.loc[rid].to_dict())
        for label, rid in zip(labels, chosen.values(), strict=True)
    }
    return plot_comparison(data, title, skus)


def build(
    sweep_dir: str | Path,
    out: str | Path | None = None,
    kpis: list[str] | None = None,
    baseline: str | None = None,
    run_ids: list[str] | None = None,
    x: str = "fill_rate",
    y: str = "profit",
) -> Report:
    """Compute the report of a sweep directory and write its files.

    Raises:
        ReportError: not a sweep directory, no finished run, or an unknown KPI/baseline/run.
    """
    from sim.result import KPI_COLUMNS

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        why = "not a directory" if sweep_dir.exists() else "no such directory"
        raise ReportError(f"sweep_dir = {str(sweep_dir)!r}: not a sweep directory ({why})")
    try:
        spec = store.SweepSpec.load(sweep_dir)
    except store.SweepDirError as exc:
        raise ReportError(str(exc)) from None
    if spec is None:
        raise ReportError(f"sweep_dir = {str(sweep_dir)!r}: not a sweep directory (no sweep.json)")
    damaged = store.damaged_files(sweep_dir)
    if damaged:
        path, why = damaged[0]
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise ReportError(
            f"damaged file {path.relative_to(sweep_dir)}{more}: {why}; "
            f"`viralchain resume {sweep_dir}` runs its run again"
        )
    kpis = kpis or DEFAULT_KPIS
    for k in [*kpis, x, y]:
        if k not in KPI_COLUMNS:
            raise ReportError(f"KPI = {k!r}: must be one of {KPI_COLUMNS}")
    runs = store.read_table(sweep_dir, "runs")
    if runs.empty or not (runs["status"] == "ok").any():
        raise ReportError(f"sweep_dir = {str(sweep_dir)!r}: no finished run to report on")
    main = main_brands(sweep_dir, runs)
    runs = runs[runs["brand"] == runs["run_id"].map(main)]  # rival brands: not the policy's
    d = stats.design(runs, list(spec.params))
    summary = stats.summarise(d, KPI_COLUMNS)
    try:
        base = stats.pick_baseline(d, baseline)
    except ValueError as exc:
        raise ReportError(f"--baseline: {exc}") from None
    diffs = stats.paired_differences(d, KPI_COLUMNS, base)
    points = confirmed_front(sweep_dir, summary, frontier_points(summary, x, y), x, y)
    out = Path(out) if out is not None else sweep_dir / "report"
    problem = unusable_dir(out, "--out")
    if problem:
        raise ReportError(problem)
    r = Report(out, d, summary, diffs, points, base, list(kpis))
    r.timeseries_runs = _pick_runs(r, y, run_ids)  # before anything is written: --run checked
    final, out = out, None
    with staged(final) as out:
        r.out = out
        _write_files(r, sweep_dir, spec.sweep_id, kpis, x, y)
    r.out = final
    r.files = {name: final / path.relative_to(out) for name, path in r.files.items()}
    return r


def _write_files(r: Report, sweep_dir: Path, sweep_id: str, kpis: list[str], x: str, y: str):
    from sim.plotting import plot_frontier, plot_kpi_intervals, plot_paired_differences, save

    out, summary, diffs, points = r.out, r.summary, r.diffs, r.frontier
    r.files["kpi_means"] = _csv(summary, out / "kpi_means.csv")
    r.files["paired_differences"] = _csv(diffs, out / "paired_differences.csv")
    r.files["frontier_table"] = _csv(points, out / "frontier.csv")
    from experiments.exports import write_workbook

    r.files["workbook"] = write_workbook(
        {"kpi_means": summary, "paired_differences": diffs, "frontier": points},
        out / "report.xlsx",
    )
    r.files["kpi_intervals"] = save(
        plot_kpi_intervals(summary[summary["kpi"].isin(kpis)], list(kpis)),
        out / "kpi_intervals.png",
    )
    r.files["frontier"] = save(plot_frontier(points, x, y), out / "frontier.png")
    if len(diffs):
        r.files["paired"] = save(
            plot_paired_differences(diffs[diffs["kpi"].isin(kpis)], list(kpis)),
            out / "paired_differences.png",
        )
    fig = _timeseries_plot(r, sweep_dir, r.timeseries_runs)
    if fig is not None:
        r.files["timeseries"] = save(fig, out / "timeseries.png")
    r.files["markdown"] = _write_markdown(r, sweep_id, x, y)
    r.files["html"] = _write_html(r, sweep_id, x, y)


def _csv(df: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- documents

PLOTS = [
    ("kpi_intervals", "KPI means per policy combination (95% confidence intervals)"),
    ("paired", "Differences to the baseline: paired by replication vs unpaired"),
    ("frontier", "Cost vs service frontier (Pareto-optimal policies as stars)"),
    ("timeseries", "Time series of the chosen runs"),
]


def _span(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _intro(r: Report, sweep_id: str) -> list[str]:
    d = r.design
    reps = d.runs.groupby("combination")["seed"].nunique()
    lines = [
        f"Sweep `{sweep_id}`: {len(d.runs)} finished runs of {len(d.combinations)} policy "
        f"combinations ({_span(reps.min(), reps.max())} replications each), "
        f"{len(d.failed)} failed.",
        f"Combinations differ by: {', '.join(d.factors)}. Baseline: "
        + "; ".join(f"{b}" for b in r.baseline.values())
        + ".",
        "Runs of the same replication share their seed, so every policy faces the same "
        "content and viral trace (common random numbers); the paired differences use that.",
    ]
    return lines


def _failed_rows(r: Report) -> tuple[list[str], list[list[str]]]:
    f = r.design.failed
    return ["run_id", "combination", "replication", "error"], [
        [str(x.run_id), str(x.combination), str(x.replication), str(x.error)]
        for x in f.itertuples(index=False)
    ]


def _write_markdown(r: Report, sweep_id: str, x: str, y: str) -> Path:
    parts = [f"# Sweep report: {sweep_id}", "", *_intro(r, sweep_id), ""]
    parts += ["## KPI means with 95% confidence intervals", "", _md_table(*headline_rows(r)), ""]
    if len(r.diffs):
        parts += [
            "## Paired differences to the baseline (within replications)",
            "",
            _md_table(*paired_rows(r)),
            "",
            "*paired ±*: half-width of the 95% CI from the within-replication differences; "
            "*unpaired ±*: the same difference as if the runs were independent (Welch); "
            "*CRN variance ratio*: (unpaired ÷ paired)², the factor of replications common "
            "random numbers save; *verdict*: the CI excludes 0, better or worse for the brand.",
            "",
        ]
    front = r.frontier[r.frontier["pareto"]]["combination"].tolist()
    parts += [f"Pareto-optimal on {y} vs {x}: " + (", ".join(front) or "none") + ".", ""]
    for key, caption in PLOTS:
        if key in r.files:
            parts += [f"## {caption}", "", f"![{caption}]({r.files[key].name})", ""]
    if len(r.design.failed):
        parts += ["## Failed runs", "", _md_table(*_failed_rows(r)), ""]
    parts += ["Full tables: `kpi_means.csv`, `paired_differences.csv`, `frontier.csv`.", ""]
    path = r.out / "report.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f2f2f2}
img{max-width:100%;border:1px solid #eee} .note{color:#555;font-size:13px}
"""


def _write_html(r: Report, sweep_id: str, x: str, y: str) -> Path:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep report: {html.escape(sweep_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>Sweep report: {html.escape(sweep_id)}</h1>",
        *[f"<p>{html.escape(line)}</p>" for line in _intro(r, sweep_id)],
        "<h2>KPI means with 95% confidence intervals</h2>",
        _html_table(*headline_rows(r)),
    ]
    if len(r.diffs):
        parts += [
            "<h2>Paired differences to the baseline (within replications)</h2>",
            _html_table(*paired_rows(r)),
            "<p class='note'>paired ±: half-width of the 95% CI of the within-replication "
            "differences; unpaired ±: the same difference as if the runs were independent "
            "(Welch); CRN variance ratio: (unpaired ÷ paired)², the factor of replications "
            "common random numbers save; verdict: the CI excludes 0, better or worse for the "
            "brand.</p>",
        ]
    front = r.frontier[r.frontier["pareto"]]["combination"].tolist()
    parts.append(
        f"<p>Pareto-optimal on {html.escape(y)} vs {html.escape(x)}: "
        f"{html.escape(', '.join(front) or 'none')}.</p>"
    )
    for key, caption in PLOTS:
        if key in r.files:
            data = base64.b64encode(r.files[key].read_bytes()).decode()
            parts += [
                f"<h2>{html.escape(caption)}</h2>",
                f"<img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>",
            ]
    if len(r.design.failed):
        parts += ["<h2>Failed runs</h2>", _html_table(*_failed_rows(r))]
    parts.append("</body></html>")
    path = r.out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- command line


def cmd_report(args: argparse.Namespace) -> int:
    """``viralchain report SWEEP_DIR``."""
    kpis = [k.strip() for k in args.kpis.split(",") if k.strip()] if args.kpis else None
    try:
        r = build(args.sweep_dir, args.out, kpis, args.baseline, args.run, args.x, args.y)
    except ReportError as exc:
        print(f"viralchain: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # disk full, permission: staged, so nothing half-written
        print(f"viralchain: cannot write the report: {os_reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(_intro(r, store.SweepSpec.load(args.sweep_dir).sweep_id)) + "\n")
    print("KPI means ± 95% CI half-width:")
    print(text_table(*headline_rows(r)))
    if len(r.diffs):
        print("\nPaired differences to the baseline (same replications, same demand):")
        print(paired_text(r))
    print(f"\nwrote {r.out}/")
    for name, path in r.files.items():
        print(f"  {name:<19} {path}")
    return EXIT_OK


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain report``."""
    p = subparsers.add_parser(
        "report",
        help="turn a sweep directory into tables with 95%% CIs, plots and report.html",
        description="Summarise a sweep: KPI means with 95% confidence intervals per policy "
        "combination, paired differences to a baseline within replications (common random "
        "numbers), the cost vs service frontier with its Pareto-optimal policies, and the "
        "time series of chosen runs. Writes CSV tables (and report.xlsx), PNG plots, "
        "report.md and a self-contained report.html.",
    )
    p.add_argument("sweep_dir", help="a sweep directory (from viralchain run -m / sweep)")
    p.add_argument("--out", help="output directory (default: SWEEP_DIR/report)")
    p.add_argument(
        "--kpis",
        help=f"comma-separated KPIs for the tables and plots (default: {','.join(DEFAULT_KPIS)})",
    )
    p.add_argument(
        "--baseline",
        help="key=value[,key=value] choosing the baseline combination (default: setup=rigid "
        "if swept, else the first combination)",
    )
    p.add_argument(
        "--run",
        action="append",
        metavar="RUN_ID",
        help="run(s) whose time series to draw (repeatable; default: the baseline and the "
        "most profitable other combination, same replication)",
    )
    p.add_argument("--x", default="fill_rate", help="service KPI of the frontier (x axis)")
    p.add_argument("--y", default="profit", help="money KPI of the frontier (y axis)")
    p.set_defaults(func=cmd_report)
