"""Where does flexibility pay? Sample the uncertainties, run every setup, map the answer.

``viralchain explore`` draws points of the uncertainty space (``experiments/uncertainties.py``:
pulse size, virality, notice, forecast error, product life, returns, lead times, patience) by
Latin hypercube or Sobol sequence, and runs every setup (``--setups``, default rigid and
flexible) at each point on seeds ``0..N-1``. A point and a seed fix the demand's random
streams for every setup (common random numbers), so the difference between setups at a point
is their effect, not noise. It answers: at what share of the space the challenger (each
setup after the first) beats the baseline (the first) on profit and on fill rate, by how much
(paired 95 % intervals over the points), where (a PRIM box in plain words, with its coverage
and density) and over which two uncertainties the answer turns (a phase diagram).
``--sobol`` instead estimates Sobol indices (SALib) of profit and fill rate per setup.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import docs, exits
from experiments.discovery import KpiAnswer, answer, first_order, point_means, points
from experiments.fair_fight import Paired
from experiments.fair_fight import fmt as _fmt
from experiments.uncertainties import (
    SAMPLERS,
    UNCERTAINTIES,
    Uncertainty,
    apply,
    choose,
    describe_table,
    scale_points,
    targets,
    unit_sample,
)
from sim.errors import ConfigError

START, END = "<!-- explore:start -->", "<!-- explore:end -->"
SOBOL_START, SOBOL_END = "<!-- explore-sobol:start -->", "<!-- explore-sobol:end -->"
KPIS = ("profit", "fill_rate")
DEFAULT_STORY = "head_kol_livestream"


# ----------------------------------------------------------------------------- running


def base_configs(
    story: str, setups: Sequence[str], common: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Each setup's composed config (as a dict), before any uncertainty is set."""
    import sim

    return {
        s: sim.compose(story, [*common, f"setup={s}", "run.timeseries_resolution=off"]).to_dict()
        for s in setups
    }


def check_ranges(bases: dict[str, dict[str, Any]], chosen: Sequence[Uncertainty]) -> None:
    """Every uncertainty at both ends of its range gives a valid config of every setup.

    Raises:
        ConfigError: naming the uncertainty, the end, and the config's own complaint.
    """
    from sim.config import validate

    problems: list[tuple[str, object, str]] = []
    for setup, base in bases.items():
        for u in chosen:
            targets(base, u)  # raises when a declared path matches nothing
            for end in (u.low, u.high):
                data, _ = apply(base, [u], [end])
                try:
                    validate(data)
                except ConfigError as exc:
                    for path, value, allowed in exc.problems:
                        problems.append(
                            (
                                f"--range {u.name}",
                                end,
                                f"setup {setup} gets {path} = {value!r}, which {allowed}",
                            )
                        )
    if problems:
        raise ConfigError(problems[:5])


def run_point(base: dict[str, Any], chosen: Sequence[Uncertainty], values, seed: int) -> dict:
    """The main brand's KPIs of one run at one point (no files written)."""
    import sim

    data, _ = apply(base, chosen, values)
    return dict(sim.run(data, seed=seed).kpis)


def _job(setup: str, base: dict, chosen: tuple, sample: int, values: tuple, seed: int):
    try:
        return sample, seed, setup, run_point(base, chosen, values, seed), ""
    except Exception as exc:  # one failing point is reported, not a traceback
        return sample, seed, setup, {}, f"{type(exc).__name__}: {exc}"


class RunFailedError(RuntimeError):
    """A run of the design failed; the message names its point, seed and setup."""


def measure(
    bases: dict[str, dict[str, Any]],
    chosen: Sequence[Uncertainty],
    values: np.ndarray,
    seeds: Sequence[int],
    n_jobs: int = 2,
    progress: bool = True,
    desc: str = "explore",
) -> pd.DataFrame:
    """Run every setup at every point and seed (joblib, any order); rows in a fixed order:
    sample, seed, setup (in the order given), then the uncertainties and every KPI."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    ch = tuple(chosen)
    todo = [
        (setup, i, tuple(float(v) for v in values[i]), s)
        for i in range(len(values))
        for s in seeds
        for setup in bases
    ]
    got: dict[tuple[int, int, str], dict[str, float]] = {}
    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    results = par(delayed(_job)(st, bases[st], ch, i, v, s) for st, i, v, s in todo)
    with tqdm(total=len(todo), desc=desc, unit="run", disable=not progress) as bar:
        for sample, seed, setup, kpis, error in results:
            if error:
                raise RunFailedError(f"sample {sample}, seed {seed}, setup {setup}: {error}")
            got[(sample, seed, setup)] = kpis
            bar.update(1)
    rows = []
    for setup, i, v, s in sorted(todo, key=lambda t: (t[1], t[3], list(bases).index(t[0]))):
        _, overrides = apply(bases[setup], chosen, v)
        row: dict[str, Any] = {"sample": i, "seed": s, "setup": setup}
        row.update({u.name: (int(x) if u.integer else x) for u, x in zip(chosen, v, strict=True)})
        row.update(got[(i, s, setup)])
        row["overrides"] = " ".join(overrides)
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- answering


def fmt(v: float, kpi: str) -> str:
    """A KPI value or difference for the text (shares as percentage points)."""
    if kpi == "fill_rate" and math.isfinite(v):
        return f"{v * 100:+.1f} pp" if v else "0 pp"
    return _fmt(v, kpi)


def _pm(p: Paired | None, kpi: str) -> str:
    if p is None or not math.isfinite(p.diff):
        return "–"
    hw = fmt(p.half_width, kpi).lstrip("+") if math.isfinite(p.half_width) else "–"
    return f"{fmt(p.diff, kpi)} ± {hw}"


WHAT = {"profit": ("earns more", "profit"), "fill_rate": ("serves more of the demand", "fill rate")}


def kpi_paragraph(ans: KpiAnswer, a: str, b: str, chosen: Sequence[Uncertainty]) -> str:
    """One KPI's answer in words."""
    verb, name = WHAT.get(ans.kpi, ("does better", ans.kpi))
    lo, hi = ans.share_interval
    lines = [
        f"**{name.capitalize()}.** {b} {verb} than {a} at {ans.share:.0%} of the points "
        f"({ans.wins} of {ans.n}; 95 % interval {lo:.0%}–{hi:.0%}). Over the whole space "
        f"{b} − {a} = {_pm(ans.overall, ans.kpi)} (mean over points, paired 95 % interval); "
        f"where {b} wins, {_pm(ans.when_wins, ans.kpi)}; where it does not, "
        f"{_pm(ans.when_loses, ans.kpi)}. Points where the seeds' paired interval excludes 0: "
        f"{ans.significant_wins} for {b}, {ans.significant_losses} for {a}."
    ]
    if ans.box is not None:
        lines.append(
            f"- **{b} wins when {ans.box.words(chosen)}** ({ans.box.stats_words()}); in this "
            f"box {b} − {a} = {_pm(ans.box_inside, ans.kpi)}, outside it "
            f"{_pm(ans.box_outside, ans.kpi)}."
        )
    elif ans.wins == ans.n or ans.wins == 0:
        lines.append(f"- {b if ans.wins else a} wins everywhere in these ranges: no box to draw.")
    else:
        lines.append(f"- No box holds at least half of {b}'s wins: they are scattered.")
    if ans.loser_box is not None:
        lines.append(
            f"- **{a} wins when {ans.loser_box.words(chosen)}** ({ans.loser_box.stats_words()})."
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Comparison:
    """A challenger against the baseline over the sampled space."""

    a: str
    b: str
    answers: dict[str, KpiAnswer]
    ranking: pd.DataFrame  # RBD-FAST first-order indices of the profit difference

    def decisive(self) -> list[str]:
        """The uncertainties over which the profit difference turns most, most first."""
        return list(self.ranking["uncertainty"])


def compare(frame: pd.DataFrame, chosen: Sequence[Uncertainty], a: str, b: str) -> Comparison:
    """Answer every KPI of :data:`KPIS` for ``b`` against ``a``."""
    answers = {k: answer(frame, chosen, a, b, k) for k in KPIS}
    x = points(frame, chosen)
    d = point_means(frame, b, "profit") - point_means(frame, a, "profit")
    return Comparison(a, b, answers, first_order(x, d, chosen))


def comparison_markdown(
    c: Comparison, chosen: Sequence[Uncertainty], phase_png: str | None = None
) -> str:
    """A comparison's answer: profit, fill rate, the ranking and the phase diagram."""
    parts = [f"### {c.b} vs {c.a}"]
    parts += [kpi_paragraph(c.answers[k], c.a, c.b, chosen) for k in KPIS]
    labels = {u.name: u.label for u in chosen}
    ranks = [
        f"{labels[r.uncertainty]} ({max(0.0, r.S1):.2f})"
        if math.isfinite(r.S1)
        else labels[r.uncertainty]
        for r in c.ranking.itertuples()
    ]
    parts.append(
        f"**What decides the profit difference** (RBD-FAST first-order share of its variance "
        f"over the points, negative estimates shown as 0): {', '.join(ranks)}."
    )
    if phase_png:
        parts.append(f"![{c.b} − {c.a} over the two most decisive uncertainties]({phase_png})")
    return "\n\n".join(parts)


def design_line(story: str, n_points: int, seeds: int, n_consumers: int, sampler: str) -> str:
    """What was run, in one italic line."""
    how = {"lhs": "Latin hypercube", "sobol": "scrambled Sobol sequence"}[sampler]
    return (
        f"*{story}: {n_points} points ({how}) × {seeds} seed{'s' * (seeds != 1)} × "
        f"{n_consumers:,} consumers; common random numbers: every setup meets the same "
        "demand at a point and seed.*"
    )


# ----------------------------------------------------------------------------- command


def _usage(message: str) -> int:
    return exits.error(f"explore: {message}")


def _setups(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def check_args(args: argparse.Namespace) -> str:
    """Why the options cannot run ('' if they can)."""
    from experiments.compose import group_options

    stories, setups = group_options("story"), group_options("setup")
    chosen = _setups(args.setups)
    if args.story not in stories:
        return f"invalid --story = {args.story!r}: must be one of {stories}"
    bad = [s for s in chosen if s not in setups]
    if bad:
        return f"invalid --setups = {bad[0]!r}: must be among {setups}"
    if len(chosen) < 2 or len(set(chosen)) != len(chosen):
        return f"invalid --setups = {args.setups!r}: name at least two different setups"
    if args.samples < 8:
        return f"invalid --samples = {args.samples}: needs at least 8 points"
    pow2 = args.samples & (args.samples - 1) == 0
    if (args.sobol or args.sampler == "sobol") and not pow2:
        return (
            f"invalid --samples = {args.samples}: Sobol sequences need a power of 2 "
            "(8, 16, 32, 64, ...)"
        )
    if args.sobol and args.sampler is not None:
        return "invalid --sampler with --sobol: the Sobol indices use their own design (Saltelli)"
    if args.seeds is not None and args.seeds < 1:
        return f"invalid --seeds = {args.seeds}: needs at least 1"
    if args.n_consumers < 100:
        return f"invalid --n-consumers = {args.n_consumers}: needs at least 100"
    if args.jobs < 1:
        return f"invalid --jobs = {args.jobs}: needs at least 1"
    if args.sample_seed < 0:
        return f"invalid --sample-seed = {args.sample_seed}: must be 0 or more"
    if args.doc and not str(args.doc).endswith(".md"):
        return f"invalid --doc = {args.doc!r}: must be a markdown file (.md)"
    return ""


def default_out(args: argparse.Namespace) -> Path:
    """``outputs/explore/<story>`` (``-sobol`` with ``--sobol``)."""
    return Path("outputs") / "explore" / (args.story + ("-sobol" if args.sobol else ""))


def cmd_explore(args: argparse.Namespace) -> int:
    """Validate everything, run the design, answer, and write the results."""
    why = check_args(args)
    if why:
        return _usage(why)
    try:
        chosen = choose(args.uncertainties, args.range or [])
    except ConfigError as exc:
        return _usage(_problems(exc))
    if len(chosen) < 2:
        return _usage(
            f"invalid --uncertainties = {args.uncertainties!r}: name at least two (a map "
            "needs two axes)"
        )
    out = Path(args.out) if args.out else default_out(args)
    for path, option in ((out, "--out"), (Path(args.doc).parent if args.doc else None, "--doc")):
        if path is not None and (bad := exits.unusable_dir(path, option)):
            return _usage(bad)
    setups = _setups(args.setups)
    common = [f"market.n_consumers={args.n_consumers}", *args.overrides]
    try:
        bases = base_configs(args.story, setups, common)
        check_ranges(bases, chosen)
    except ConfigError as exc:
        return _usage(_problems(exc))
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.sobol else 2)))
    from experiments.sensitivity import cmd_sobol

    if args.sobol:
        return cmd_sobol(args, bases, chosen, seeds, out)
    sampler = args.sampler or "lhs"
    values = scale_points(chosen, unit_sample(sampler, args.samples, len(chosen), args.sample_seed))
    try:
        frame = measure(bases, chosen, values, seeds, args.jobs, progress=not args.quiet)
    except RunFailedError as exc:
        return exits.error(f"explore: a run failed: {exc}", exits.EXIT_FAILED)
    frame.insert(0, "story", args.story)
    comparisons = [compare(frame, chosen, setups[0], b) for b in setups[1:]]
    head = design_line(args.story, len(values), len(seeds), args.n_consumers, sampler)
    body_for = {
        prefix: "\n\n".join(
            [
                head,
                "**Uncertainties**\n\n" + describe_table(chosen),
                *[
                    comparison_markdown(c, chosen, f"{prefix}phase-{c.b}-vs-{c.a}.png")
                    for c in comparisons
                ],
            ]
        )
        for prefix in ("", "img/explore-")
    }
    print(body_for[""])
    design = {
        "command": "explore",
        "story": args.story,
        "setups": setups,
        "overrides": list(args.overrides),
        "n_consumers": args.n_consumers,
        "sampler": sampler,
        "samples": args.samples,
        "sample_seed": args.sample_seed,
        "seeds": seeds,
        "uncertainties": {u.name: [u.low, u.high] for u in chosen},
    }
    from experiments.explore_plots import plot_phase
    from sim.plotting import save

    try:
        with exits.staged(out) as stage:
            frame.to_parquet(stage / "explore.parquet", index=False)
            (stage / "design.json").write_text(json.dumps(design, indent=2) + "\n")
            (stage / "summary.md").write_text(body_for[""] + "\n", encoding="utf-8")
            for c in comparisons:
                fig = plot_phase(frame, chosen, c)
                save(fig, stage / f"phase-{c.b}-vs-{c.a}.png", dpi=80)
    except OSError as exc:
        return exits.error(f"explore: cannot write {out}: {exits.os_reason(exc)}", 1)
    print(f"\nwrote {out}", file=sys.stderr)
    if args.doc:
        write_doc(Path(args.doc), out, body_for["img/explore-"], START, END)
    return exits.EXIT_OK


def write_doc(doc: Path, out: Path, body: str, start: str, end: str) -> None:
    """Put ``body`` between the markers of ``doc`` and copy the PNGs it shows beside it."""
    img = doc.parent / "img"
    img.mkdir(parents=True, exist_ok=True)
    for png in sorted(out.glob("*.png")):
        if f"img/explore-{png.name}" in body:
            shutil.copyfile(png, img / f"explore-{png.name}")
    docs.write_between_markers(doc, body, start, end)
    print(f"wrote {doc}", file=sys.stderr)


def _problems(exc: ConfigError) -> str:
    return "\n".join(
        f"invalid {f} = {v!r}: {a}" if f.startswith("--") else f"invalid {f}: {v!r}: {a}"
        for f, v, a in exc.problems
    )


EPILOG = """\
uncertainties (--uncertainties, --range NAME=LOW:HIGH):
{table}

examples:
  viralchain explore                                   the flagship, 64 points x 2 seeds
  viralchain explore --samples 256 --n-consumers 10000 --jobs 2
  viralchain explore --uncertainties pulse_size,notice_hours --range pulse_size=0.5:6
  viralchain explore --sampler sobol --samples 128 --setups rigid,flexible
  viralchain explore --sobol --samples 64              Sobol indices (N (D+2) points/setup)
  viralchain explore --out outputs/explore/big --doc docs/explore.md

It writes explore.parquet (one row per point, seed and setup: the uncertainties, every
KPI, and the overrides that reproduce the run with `viralchain run story=S setup=X seed=N
OVERRIDES`), summary.md, design.json and a phase diagram per challenger; with --sobol,
sobol.parquet, sobol_indices.csv and sobol.png. docs/explore.md explains how to read them.
"""


def _epilog() -> str:
    rows = "\n".join(
        f"  {u.name:<18} {u.label}: {u.show(u.low)} – {u.show(u.high)}" for u in UNCERTAINTIES
    )
    return EPILOG.format(table=rows)


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain explore``."""
    p = subparsers.add_parser(
        "explore",
        help="where flexibility pays: sample uncertainties, run the setups, map the answer "
        "(docs/explore.md)",
        description=(__doc__ or "").split("\n\n")[1],
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for all")
    p.add_argument("--story", default=DEFAULT_STORY, help=f"story (default {DEFAULT_STORY})")
    p.add_argument(
        "--setups",
        default="rigid,flexible",
        help="comma-separated setups; the first is the baseline (default rigid,flexible)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=64,
        help="points of the design (default 64); with --sobol the base N (a power of 2)",
    )
    p.add_argument(
        "--seeds", type=int, default=None, help="seeds 0..N-1 per point (default 2; --sobol 1)"
    )
    p.add_argument("--n-consumers", type=int, default=20000, help="market size (default 20000)")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    p.add_argument(
        "--sampler", choices=SAMPLERS, default=None, help="lhs (default) or sobol (sequence)"
    )
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the design (default 0)")
    p.add_argument("--uncertainties", help="comma-separated uncertainties (default: all)")
    p.add_argument(
        "--range",
        action="append",
        metavar="NAME=LOW:HIGH",
        help="another range for an uncertainty (repeatable)",
    )
    p.add_argument(
        "--sobol", action="store_true", help="Sobol indices of profit and fill rate per setup"
    )
    p.add_argument("--out", help="output directory (default outputs/explore/<story>[-sobol])")
    p.add_argument("--doc", help="also write the answer between the markers of this .md file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_explore)
