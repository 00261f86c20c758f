"""The ``viralchain`` command line.

Exit codes: 0 success; 1 a run failed (or some runs of a sweep failed); 2 invalid
configuration or usage. Invalid input prints one line per problem, naming the field, the bad
value and what is allowed, writes nothing, and never shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from experiments import exits
from experiments.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from experiments.sweep_warm import start_server, sweep_on_command_line

# Further subcommands live in their own modules, each exposing ``add_parser(subparsers)``
# that adds its parser and sets ``func`` (returning an exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "experiments.sweep",
    "experiments.report",
    "experiments.validate",
    "experiments.dashboard.command",
    "experiments.calibrate",
    "experiments.timeline",
    "experiments.fair_fight",
    "experiments.levers",
)

RUN_EPILOG = """\
overrides are Hydra key=value pairs, for example:
  story=head_kol_livestream        pick a story     (viralchain list stories)
  setup=flexible                   rigid | flexible (viralchain list setups)
  policy/forecast=exp_smoothing    pick a policy    (viralchain list policies)
  market.n_consumers=20000         set any key      (README: configuration reference)
  seed=7                           the run's seed
  run.timeseries_resolution=day    hour | day | off

examples:
  viralchain run
  viralchain run story=head_kol_livestream setup=flexible seed=3
  viralchain run setup=rigid market.n_consumers=20000 --out outputs/small
"""


def _fmt(value: float, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    from sim.kpis import BY_NAME

    unit = BY_NAME[name].unit if name in BY_NAME else ""
    if unit in ("share", "ratio"):
        return f"{value:.3f}"
    if unit == "money" or abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def kpi_table(columns: Mapping[str, Mapping[str, float]], diff: bool = False) -> str:
    """KPIs side by side; with ``diff``, the last column minus the first, and in %.

    Each row names the KPI, its unit and which direction is better (``sim.kpis``).
    """
    from sim.kpis import CATALOGUE

    labels = list(columns)
    rows = []
    for k in CATALOGUE:
        name = k.name
        vals = [columns[c].get(name, math.nan) for c in labels]
        row = [name, k.unit, "" if k.better == "neither" else k.better]
        row += [_fmt(v, name) for v in vals]
        if diff and len(labels) >= 2:
            a, b = vals[0], vals[-1]
            d = b - a
            row.append(_fmt(d, name) if not math.isnan(d) else "n/a")
            rel = d / abs(a) * 100 if a and not math.isnan(d) else math.nan
            row.append("n/a" if math.isnan(rel) else f"{rel:+.0f}%")
        rows.append(row)
    head = ["KPI", "unit", "better", *labels]
    if diff and len(labels) >= 2:
        head += [f"{labels[-1]} − {labels[0]}", "change"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(
            h.ljust(w) if i < 3 else h.rjust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                str(c).ljust(w) if i < 3 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _version() -> str:
    """``viralchain X.Y.Z`` and where its scenarios are read from."""
    from experiments.compose import scenarios_dir
    from sim import __version__

    return f"viralchain {__version__} (scenarios: {scenarios_dir()})"


def _error(lines: str) -> int:
    return exits.error(lines, EXIT_USAGE)


def _compose(overrides: Sequence[str]):
    from experiments.compose import compose_dict
    from sim.config import validate

    return validate(compose_dict(None, list(overrides)))


def _progress_bar(label: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="h", leave=False, file=sys.stderr, disable=None)

    def update(hour: int) -> None:
        bar.n = hour
        bar.refresh()

    return update, bar.close


def _run_one(cfg, label: str):
    from sim.result import run

    update, close = _progress_bar(label, cfg.run.horizon_hours)
    try:
        return run(cfg, seed=cfg.seed, progress=update)
    finally:
        close()


def default_out(cfg, root: str = "outputs/runs") -> Path:
    """The default output directory of a run (deterministic: same config, same place).

    Story and setup names are config values: only their safe characters make the name, so
    the directory is always inside ``root``.
    """
    name = (
        f"{exits.safe_name(cfg.meta.story)}-{exits.safe_name(cfg.meta.setup)}"
        f"-seed{cfg.seed}-{cfg.config_hash()[:8]}"
    )
    return exits.inside(Path(root), Path(root) / name)


# ----------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    """One run: KPI table, tables, plot."""
    if args.multirun:  # a sweep: experiments/sweep.py
        from experiments import sweep

        return sweep.cmd_multirun(args)
    if args.replications is not None or args.jobs is not None:
        return _error("--replications and --jobs need -m (a multirun sweep)")

    from sim.errors import ConfigError
    from sim.plotting import plot_run, save  # matplotlib: only a single run plots

    try:
        cfg = _compose(args.overrides)
    except ConfigError as exc:
        return _error(str(exc))
    out = Path(args.out) if args.out else default_out(cfg)
    problem = exits.unusable_dir(out, "--out")
    if problem:
        return _error(problem)
    try:
        result = _run_one(cfg, f"{cfg.meta.story}/{cfg.meta.setup}")
    except Exception as exc:  # a model failure: report, exit 1
        logging.getLogger(__name__).debug("run failed", exc_info=True)
        print(f"viralchain: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    title = f"{cfg.meta.story} — {cfg.meta.setup} setup, seed {cfg.seed}"
    try:
        with exits.staged(out) as stage:
            files = result.write(stage)
            plot = save(
                plot_run(result.timeseries, result.events, title, list(cfg.brand.products)),
                stage / "plot.png",
            )
    except OSError as exc:
        return exits.error(f"cannot write {out}/: {exits.os_reason(exc)}", EXIT_FAILED)
    print(f"{title}  ({result.wall_seconds:.2f} s)\n")
    print(kpi_table({cfg.meta.setup: result.kpis}))
    print(f"\nwrote {out}/")
    for name, path in [*files.items(), ("plot", plot)]:
        print(f"  {name:<10} {out / Path(path).name}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """The same story and seed under several setups, side by side."""
    from sim.errors import ConfigError
    from sim.plotting import plot_comparison, save

    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if len(setups) < 2:
        return _error(f"invalid --setups = {args.setups!r}: give at least two, comma-separated")
    overrides = [o for o in args.overrides if not o.startswith("setup=")]
    try:
        cfgs = {s: _compose([*overrides, f"setup={s}"]) for s in setups}
    except ConfigError as exc:
        return _error(str(exc))
    first = next(iter(cfgs.values()))
    root = Path("outputs/compare")
    out = (
        Path(args.out)
        if args.out
        else exits.inside(root, root / f"{exits.safe_name(first.meta.story)}-seed{first.seed}")
    )
    problem = exits.unusable_dir(out, "--out")
    if problem:
        return _error(problem)
    results = {}
    for s, cfg in cfgs.items():
        try:
            results[s] = _run_one(cfg, f"{cfg.meta.story}/{s}")
        except Exception as exc:
            print(f"viralchain: run failed ({s}): {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    title = f"{first.meta.story}: {' vs '.join(setups)} on the same demand (seed {first.seed})"
    skus = list(first.brand.products)
    try:
        with exits.staged(out) as stage:
            for s, r in results.items():
                r.write(stage / exits.safe_name(s))
            save(
                plot_comparison(
                    {s: (r.timeseries, r.kpis) for s, r in results.items()}, title, skus
                ),
                stage / "comparison.png",
            )
    except OSError as exc:
        return exits.error(f"cannot write {out}/: {exits.os_reason(exc)}", EXIT_FAILED)
    plot = out / "comparison.png"
    print(title + "\n")
    print(kpi_table({s: r.kpis for s, r in results.items()}, diff=True))
    print(f"\nwrote {out}/  (one folder of tables per setup)")
    print(f"  plot       {plot}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """List stories, setups, policies or KPIs."""
    from experiments.compose import group_options, scenarios_dir
    from sim.kpis import CATALOGUE
    from sim.policies import registry

    what = args.what
    if what in ("stories", "setups"):
        group = "story" if what == "stories" else "setup"
        for name in group_options(group):
            print(f"{name:<24} {_describe(scenarios_dir() / group / f'{name}.yaml')}")
    elif what == "policies":
        for family in sorted(registry.FAMILIES):
            print(f"policy/{family:<14} {', '.join(registry.names(family))}")
    elif what == "kpis":
        print(f"{'KPI':<24} {'unit':<8} {'better':<7} meaning")
        for k in CATALOGUE:
            better = "-" if k.better == "neither" else k.better
            print(f"{k.name:<24} {k.unit:<8} {better:<7} {k.meaning}")
    return EXIT_OK


def _describe(path: Path) -> str:
    """The first comment line of a config file (:func:`experiments.compose.describe`)."""
    from experiments.compose import describe

    return describe(path)


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(
        prog="viralchain",
        description=textwrap.dedent("""\
            Simulate supply chains facing social-media demand: KOL posts and live streams
            create demand pulses; rigid and flexible supply chains answer them."""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and debug details")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="run one simulation: KPI table, tables (parquet) and a plot",
        description="Run one simulation, print its KPIs, write its tables and a plot.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    r.add_argument("--out", help="output directory (default: outputs/runs/<story>-<setup>-...)")
    from experiments import sweep

    sweep.add_multirun_arguments(r)
    r.set_defaults(func=cmd_run)

    for name, help_text in (
        ("demo", "the flagship comparison: rigid vs flexible on the same live-stream demand"),
        ("compare", "run a story under several setups on the same seed, side by side"),
    ):
        c = sub.add_parser(
            name,
            help=help_text,
            description=help_text.capitalize() + ".",
            epilog=RUN_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        c.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
        c.add_argument("--setups", default="rigid,flexible", help="comma-separated setups")
        c.add_argument("--out", help="output directory (default: outputs/compare/<story>-seed<n>)")
        c.set_defaults(func=cmd_compare)

    ls = sub.add_parser("list", help="list stories, setups, policies or KPIs")
    ls.add_argument("what", choices=["stories", "setups", "policies", "kpis"])
    ls.set_defaults(func=cmd_list)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``viralchain`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if sweep_on_command_line(argv):  # the workers' imports start now, beside ours
        start_server()
    parser = build_parser()
    # overrides may follow options (``run -m seed=0,1 --jobs 1 setup=flexible``): argparse
    # leaves those after an option unrecognised; key=value ones join the overrides
    args, extra = parser.parse_known_args(argv)
    if extra:
        takes = hasattr(args, "overrides")
        rest = [a for a in extra if not (takes and "=" in a and not a.startswith("-"))]
        if rest:
            parser.parse_args(argv)  # argparse's own message and exit 2
            return _error(f"unrecognized arguments: {' '.join(rest)}")
        args.overrides = [*args.overrides, *extra]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    return int(args.func(args))


def console() -> int:
    """The ``viralchain`` command: :func:`main`, then a quicker exit.

    ``gc.freeze()`` lets the interpreter's shutdown skip the cyclic collections over
    everything the command loaded (Hydra's configs, pandas, Mesa): about 0.3-0.4 s of every
    command, measured (``docs/performance.md``). Only for the process that ends here: tests
    and notebooks call :func:`main`.
    """
    import gc

    logging.raiseExceptions = False  # a log file on a full disk: no traceback on stderr
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
