"""The ``viralchain`` command line.

Exit codes: 0 success; 1 a run failed (or some runs of a sweep failed); 2 invalid
configuration or usage. Invalid input prints one line per problem, naming the field, the bad
value and what is allowed, writes nothing, and never shows a traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import math
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from experiments import exits, frozen_imports
from experiments.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE

# Further subcommands live in their own modules, each exposing ``add_parser(subparsers)``
# that adds its parser and sets ``func`` (returning an exit code). Each command names its
# module here, so that a command imports only its own module (``viralchain run`` does not
# load the report's statistics or the dashboard); help and unknown commands load them all.
COMMANDS: dict[str, str] = {
    "sweep": "experiments.sweep",
    "resume": "experiments.sweep",
    "report": "experiments.report",
    "validate": "experiments.validate",
    "dashboard": "experiments.dashboard.command",
    "calibrate": "experiments.calibrate",
    "timeline": "experiments.timeline",
    "fairfight": "experiments.fair_fight",
    "levers": "experiments.levers",
    "import": "experiments.network",
    "explore": "experiments.explore",
    "optimise": "experiments.optimise",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
# the commands this module defines itself
OWN_COMMANDS: tuple[str, ...] = ("run", "demo", "compare", "list")

RUN_EPILOG = """\
overrides are Hydra key=value pairs, for example:
  story=head_kol_livestream        pick a story     (viralchain list stories)
  setup=flexible                   rigid | flexible (viralchain list setups)
  policy/forecast=exp_smoothing    pick a policy    (viralchain list policies)
  market.n_consumers=20000         set any key      (docs/configuration.md)
  seed=7                           the run's seed
  replication=2                    run as a sweep's replication 2 would (seed derived
                                   from seed and replication): reproduces that sweep run
  run.timeseries_resolution=day    hour | day | off

examples:
  viralchain run
  viralchain run story=head_kol_livestream setup=flexible seed=3
  viralchain run setup=rigid market.n_consumers=20000 --out outputs/small
  viralchain run setup=flexible --format xlsx     also writes kpis.xlsx

sweeps: `viralchain run -m key=a,b ...` is for a quick, ad-hoc grid; prefer
`viralchain sweep NAME` (a file in scenarios/sweep/, or your --config-dir) for any sweep
you will run again, share or report on. Both launch the same way (viralchain sweep --help).
"""


DEMO_EPILOG = """\
the demo is `viralchain compare` on the flagship story (head_kol_livestream): the same
consumers, KOLs and seed under the rigid and the flexible setup; the table's last columns
are flexible − rigid and the change in %.

examples:
  viralchain demo
  viralchain demo seed=3 market.n_consumers=20000
  viralchain demo --format xlsx --out outputs/demo        also writes kpis.xlsx
  viralchain demo --config-dir clients/lumen story=lumen  the client's network
"""

COMPARE_EPILOG = """\
sides: --setups A,B (each a setup), or variants LABEL="key=value ..." (LABEL starts with a
capital letter; or --variant LABEL="..." for any label). Overrides outside the variants
apply to every side; seed and replication are common to all (the same demand). compare
refuses what it would ignore (setup= beside --setups) and variants that are the same config.

examples:
  viralchain compare story=kol_matrix
  viralchain compare --setups rigid,flexible seed=3
  viralchain compare A=setup=rigid B="setup=flexible policy/rush=off"
  viralchain compare story=creative_presale Fixed=policy/safety_stock=fixed \\
      Dynamic="policy/safety_stock=dynamic policy.safety_stock.days_of_cover=2"
  viralchain compare A=setup=flexible B="setup=flexible policy/presale=off" --format csv
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


class _VersionAction(argparse.Action):
    """``--version``: like argparse's own, but the text (which imports the package to name
    its scenarios) is made only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(_version())
        parser.exit()


def _error(lines: str) -> int:
    return exits.error(lines, EXIT_USAGE)


def _compose(overrides: Sequence[str]):
    from experiments.compose import compose

    return compose(None, list(overrides))


def _progress_bar(label: str, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="h", leave=False, file=sys.stderr, disable=None)

    def update(hour: int) -> None:
        bar.n = hour
        bar.refresh()

    return update, bar.close


def _run_one(cfg, label: str, seed: int | None = None):
    with frozen_imports.importing():
        import sim.model  # noqa: F401  (Mesa: run() would import it; here, to freeze it)
        from sim.result import run

    update, close = _progress_bar(label, cfg.run.horizon_hours)
    try:
        return run(cfg, seed=cfg.seed if seed is None else seed, progress=update)
    finally:
        close()


def _seed_of(cfg, overrides: Sequence[str]) -> tuple[int, str]:
    """The seed a single run uses, and a note when it is not ``seed`` itself.

    With ``replication=N`` on the command line the run is the sweep's run of that
    replication: its seed derives from (seed, replication) exactly as in a sweep
    (:func:`experiments.sweep_plan.run_seed`), so ``viralchain run ... replication=N``
    reproduces it file for file. Without it, a single run uses ``seed`` as given.
    """
    from experiments.overrides import key_of
    from experiments.sweep_plan import run_seed

    if any(key_of(o) == "replication" for o in overrides):
        return run_seed(cfg), f" (from seed={cfg.seed}, replication={cfg.replication}, as a sweep)"
    return cfg.seed, ""


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

    try:
        cfg = _compose(args.overrides)
    except ConfigError as exc:
        return _error(str(exc))
    out = Path(args.out) if args.out else default_out(cfg)
    problem = exits.unusable_dir(out, "--out")
    if problem:
        return _error(problem)
    seed, seed_note = _seed_of(cfg, args.overrides)
    try:
        result = _run_one(cfg, f"{cfg.meta.story}/{cfg.meta.setup}", seed)
    except Exception as exc:  # a model failure: report, exit 1
        logging.getLogger(__name__).debug("run failed", exc_info=True)
        print(f"viralchain: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # matplotlib only now: a bad config or a failed run does not load it, and Mesa's import
    # (which looks its callers up in every loaded module) meets fewer modules
    plotting = _plotting()
    plot_run, save = plotting.plot_run, plotting.save

    title = f"{cfg.meta.story} — {cfg.meta.setup} setup, seed {seed}{seed_note}"
    try:
        with exits.staged(out) as stage:
            files = result.write(stage)
            plot = save(
                plot_run(result.timeseries, result.events, title, list(cfg.brand.products)),
                stage / "plot.png",
            )
            if args.format:
                files["kpis"] = _export(
                    {cfg.meta.setup: result.kpis},
                    stage,
                    args.format,
                    title,
                    cfg,
                    None,
                    args.overrides,
                )
    except OSError as exc:
        return exits.error(f"cannot write {out}/: {exits.os_reason(exc)}", EXIT_FAILED)
    print(f"{title}  ({result.wall_seconds:.2f} s)\n")
    print(kpi_table({cfg.meta.setup: result.kpis}))
    print(f"\nwrote {out}/")
    for name, path in [*files.items(), ("plot", plot)]:
        print(f"  {name:<10} {out / Path(path).name}")
    return EXIT_OK


_LABEL = re.compile(r"^[A-Z][A-Za-z0-9_-]*$")
# keys a variant may not set: the comparison is on the same demand (common random numbers)
COMMON_ONLY = ("seed", "replication")


def split_variants(
    overrides: Sequence[str], variant_options: Sequence[str] | None
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split ``compare``'s arguments into the common overrides and the variants.

    A variant is ``LABEL="key=value key=value ..."``: positionally when LABEL starts with a
    capital letter (config keys never do), or with ``--variant LABEL=...`` for any label.

    Raises:
        ConfigError: a malformed variant.
    """
    from sim.errors import ConfigError

    common, variants = [], []
    raw = [(o, False) for o in overrides] + [(v, True) for v in variant_options or []]
    for text, explicit in raw:
        label, sep, rest = text.partition("=")
        if explicit or (sep and _LABEL.match(label)):
            if not sep or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", label):
                raise ConfigError(
                    [
                        (
                            "--variant",
                            text,
                            'must be LABEL="key=value ..." (LABEL: letters, digits, _ or -)',
                        )
                    ]
                )
            try:
                parts = shlex.split(rest)
            except ValueError as exc:
                raise ConfigError([(label, rest, f"cannot split into overrides: {exc}")]) from None
            bad = [p for p in parts if "=" not in p]
            if bad or not parts:
                raise ConfigError(
                    [(label, rest, "must be key=value overrides separated by spaces")]
                )
            variants.append((label, parts))
        else:
            common.append(text)
    return common, variants


def _variant_problems(
    common: list[str], variants: list[tuple[str, list[str]]], setups_given: bool
) -> list[tuple[str, object, str]]:
    from experiments.overrides import key_of

    problems: list[tuple[str, object, str]] = []
    labels = [label for label, _ in variants]
    if len(set(labels)) < len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        problems.append(("variant", dupes[0], "labels must differ"))
    if variants and setups_given:
        problems.append(("--setups", "given", "give either --setups or variants (A=... B=...)"))
    common_keys = {key_of(o): o for o in common}
    for label, parts in variants:
        for o in parts:
            key = key_of(o)
            if key in COMMON_ONLY:
                problems.append(
                    (
                        f"{label}: {key}",
                        o.split("=", 1)[1],
                        "is common to every variant (the same demand): give it once, "
                        "outside the variants",
                    )
                )
            elif key in common_keys:
                problems.append(
                    (
                        f"{label}: {key}",
                        o.split("=", 1)[1],
                        f"also set for every variant ({common_keys[key]}): set it in one place",
                    )
                )
    if not variants and "setup" in common_keys:
        problems.append(
            (
                "setup",
                common_keys["setup"].split("=", 1)[1],
                "compare runs each setup of --setups and would ignore it: use "
                '--setups A,B, or variants (A=setup=rigid B="setup=flexible ...")',
            )
        )
    return problems


def cmd_compare(args: argparse.Namespace) -> int:
    """The same story and seed under several setups or config variants, side by side."""
    from sim.errors import ConfigError

    plotting = _plotting()
    plot_comparison, save = plotting.plot_comparison, plotting.save

    try:
        common, variants = split_variants(args.overrides, getattr(args, "variant", None))
    except ConfigError as exc:
        return _error(str(exc))
    setups_given = args.setups is not None
    problems = _variant_problems(common, variants, setups_given)
    if problems:
        return _error(str(ConfigError(problems)))
    by_setup = not variants
    if by_setup:
        setups = [s.strip() for s in (args.setups or "rigid,flexible").split(",") if s.strip()]
        if len(setups) < 2 or len(set(setups)) < len(setups):
            return _error(
                f"invalid --setups = {args.setups!r}: give at least two different setups, "
                "comma-separated"
            )
        variants = [(s, [f"setup={s}"]) for s in setups]
    if len(variants) < 2:
        return _error(
            f"invalid variants = {[v[0] for v in variants]}: give at least two "
            '(A=setup=rigid B="setup=flexible policy/rush=off")'
        )
    try:
        cfgs = {label: _compose([*common, *parts]) for label, parts in variants}
    except ConfigError as exc:
        return _error(str(exc))
    seen: dict[str, str] = {}
    for label, cfg in cfgs.items():
        other = seen.setdefault(cfg.config_hash(), label)
        if other != label:
            return _error(
                f"invalid variants: {other} and {label} give the same configuration: "
                "the comparison would show no difference"
            )
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
    for label, cfg in cfgs.items():
        try:
            results[label] = _run_one(cfg, f"{cfg.meta.story}/{label}")
        except Exception as exc:
            print(f"viralchain: run failed ({label}): {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    labels = list(results)
    title = f"{first.meta.story}: {' vs '.join(labels)} on the same demand (seed {first.seed})"
    skus = list(first.brand.products)
    kpis = {label: r.kpis for label, r in results.items()}
    export = None
    try:
        with exits.staged(out) as stage:
            for label, r in results.items():
                r.write(stage / exits.safe_name(label))
            save(
                plot_comparison(
                    {label: (r.timeseries, r.kpis) for label, r in results.items()}, title, skus
                ),
                stage / "comparison.png",
            )
            if args.format:
                export = _export(
                    kpis,
                    stage,
                    args.format,
                    title,
                    first,
                    {label: " ".join(parts) for label, parts in variants},
                    common,
                )
    except OSError as exc:
        return exits.error(f"cannot write {out}/: {exits.os_reason(exc)}", EXIT_FAILED)
    plot = out / "comparison.png"
    print(title)
    if not by_setup:
        for label, parts in variants:
            print(f"  {label}: {' '.join(parts)}")
    print()
    print(kpi_table(kpis, diff=True))
    print(f"\nwrote {out}/  (one folder of tables per {'setup' if by_setup else 'variant'})")
    print(f"  plot       {plot}")
    if export is not None:
        print(f"  kpis       {out / export.name}")
    return EXIT_OK


def _export(kpis, stage: Path, fmt: str, title: str, cfg, variants=None, common=()) -> Path:
    """``kpis.<fmt>`` in the staging directory (:mod:`experiments.exports`)."""
    from experiments.exports import kpi_frame, write_kpis

    meta = {
        "title": title,
        "story": cfg.meta.story,
        "seed": cfg.seed,
        "overrides": list(common),
    }
    if variants:
        meta["variants"] = variants
    frame = kpi_frame(kpis, diff=len(kpis) >= 2)
    return write_kpis(frame, stage / f"kpis.{fmt}", fmt, meta)


def cmd_list(args: argparse.Namespace) -> int:
    """List stories, setups, policies or KPIs."""
    from experiments.compose import group_options, listing, option_file
    from sim.kpis import CATALOGUE
    from sim.policies import registry

    what = args.what
    if what in ("stories", "setups"):
        group = "story" if what == "stories" else "setup"
        names = group_options(group)
        print(listing([(n, _describe(option_file(group, n))) for n in names], 24))
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


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first word after the top-level options), or None
    when it names none: no command, ``-h``/``--help``/``--version`` first, or an option this
    parser does not know before it (argparse then reports it)."""
    words = iter(argv)
    for word in words:
        if word in ("-v", "--verbose") or word.startswith("--config-dir="):
            continue
        if word == "--config-dir":
            next(words, None)
            continue
        return None if word.startswith("-") else word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    With ``argv``, only the module of the command it names is imported (:data:`COMMANDS`);
    without, or when it names no known command, every command's (help lists them all, and
    argparse names them when the command is unknown).
    """
    p = argparse.ArgumentParser(
        prog="viralchain",
        description=textwrap.dedent("""\
            Simulate supply chains facing social-media demand: KOL posts and live streams
            create demand pulses; rigid and flexible supply chains answer them."""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(p, top=True)
    p.add_argument("--version", action=_VersionAction)
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
    _format_option(r)
    from experiments.sweep import add_multirun_arguments

    add_multirun_arguments(r)
    r.set_defaults(func=cmd_run)

    for name, help_text, epilog in (
        (
            "demo",
            "the flagship comparison: rigid vs flexible on the same live-stream demand",
            DEMO_EPILOG,
        ),
        (
            "compare",
            "run a story under several setups or config variants on the same seed, side by side",
            COMPARE_EPILOG,
        ),
    ):
        c = sub.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        c.add_argument(
            "overrides",
            nargs="*",
            metavar="key=value",
            help="config overrides for every side"
            + ('; LABEL="...": a variant' if name == "compare" else ""),
        )
        c.add_argument(
            "--setups", default=None, help="comma-separated setups (default: rigid,flexible)"
        )
        if name == "compare":
            c.add_argument(
                "--variant",
                action="append",
                metavar='LABEL="key=value ..."',
                help="one side of the comparison (repeatable; the same as LABEL=... when "
                "LABEL starts with a capital letter)",
            )
        c.add_argument("--out", help="output directory (default: outputs/compare/<story>-seed<n>)")
        _format_option(c)
        c.set_defaults(func=cmd_compare)

    ls = sub.add_parser(
        "list",
        help="list stories, setups, policies or KPIs",
        description=textwrap.dedent("""\
            List what can be chosen: stories (story=NAME), setups (setup=NAME), policies
            (policy/FAMILY=NAME), or the KPIs of the tables with their units and better
            direction. With --config-dir, a client's stories and setups are listed too."""),
        epilog="examples:\n  viralchain list stories\n  viralchain list policies\n"
        "  viralchain list kpis\n  viralchain list stories --config-dir clients/lumen",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument("what", choices=["stories", "setups", "policies", "kpis"])
    ls.set_defaults(func=cmd_list)
    chosen = None if argv is None else chosen_command(argv)
    if chosen in OWN_COMMANDS:
        modules: Sequence[str] = ()
    elif chosen in COMMANDS:
        modules = (COMMANDS[chosen],)
    else:
        modules = COMMAND_MODULES
    for module in modules:
        importlib.import_module(module).add_parser(sub)
    for command in sub.choices.values():  # -v and --config-dir also after the subcommand
        _common_options(command, top=False)
    return p


def _format_option(parser: argparse.ArgumentParser) -> None:
    from experiments.exports import FORMATS

    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="also write the KPI table as kpis.csv, kpis.xlsx (Excel) or kpis.json in the "
        "output directory",
    )


def _common_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v`` and ``--config-dir``, before or after the subcommand (``viralchain -v run`` and
    ``viralchain run -v`` are the same). On a subcommand their default is "not given", so it
    never resets what was given before the subcommand."""
    options = {a for action in parser._actions for a in action.option_strings}
    unset = {} if top else {"default": argparse.SUPPRESS}
    if "-v" not in options:
        parser.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="log viralchain's progress and debug details (not every model step)",
            **({"default": False} if top else unset),
        )
    if "--config-dir" not in options:
        parser.add_argument(
            "--config-dir",
            metavar="DIR",
            help="a client's config directory, searched before the shipped scenarios/ "
            "(story/, market/, supply/, logistics/, setup/ ... folders; see "
            "docs/client_network.md); also $VIRALCHAIN_CONFIG_DIR",
            **({"default": None} if top else unset),
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``viralchain`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
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
    _configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    frozen_imports.freeze()  # the parser's imports, out of the collector's sight
    if args.config_dir is None:
        return int(args.func(args))
    from experiments.compose import CONFIG_DIR_ENV, check_config_dir
    from sim.errors import ConfigError

    try:
        chosen = str(check_config_dir(args.config_dir))
    except ConfigError as exc:
        return _error(str(exc))
    before = os.environ.get(CONFIG_DIR_ENV)
    os.environ[CONFIG_DIR_ENV] = chosen  # for this command only (tests call main() often)
    try:
        return int(args.func(args))
    finally:
        if before is None:
            os.environ.pop(CONFIG_DIR_ENV, None)
        else:
            os.environ[CONFIG_DIR_ENV] = before


OWN_LOGGERS = ("sim", "experiments")
MESA_LOGGER = "MESA"  # mesa.mesa_logging's root: every model step at INFO


def _configure_logging(verbose: bool) -> None:
    """Warnings only; with ``-v``, viralchain's own debug lines and others' INFO and above,
    but not Mesa's (it logs every model step at INFO: a thousand lines per run)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    logging.getLogger(MESA_LOGGER).setLevel(logging.WARNING)  # "Step N at time N" per hour


# what ``set()`` of every matplotlib artist class says of its properties in the process
SKIPPED_PROPERTY_DOCS = "Properties: not listed in the viralchain command (see matplotlib's docs)"


def _plotting():
    """``sim.plotting`` (and matplotlib), imported as the command imports: without the
    artists' property docs, then frozen (:func:`experiments.frozen_imports.importing`)."""
    with frozen_imports.importing():
        _skip_matplotlib_property_docs()
        import sim.plotting
    return sim.plotting


def _skip_matplotlib_property_docs() -> None:
    """In the ``viralchain`` process, before matplotlib's artists load: no property lists in
    their docstrings.

    Each artist class that matplotlib defines writes, as it is defined, the docstring of its
    ``set()`` method: every property with its accepted values, found by inspecting every
    setter's docstring (``matplotlib.artist.kwdoc``), ≈ 0.06–0.09 s of importing matplotlib.
    Nothing in the command reads a docstring, and nothing drawn depends on them. A caller of
    :func:`main` (a notebook, tests) keeps matplotlib's docstrings.
    """
    if not frozen_imports.in_command() or "matplotlib.artist" in sys.modules:
        return
    from matplotlib import artist

    if callable(getattr(artist, "kwdoc", None)):
        artist.kwdoc = lambda _artist: SKIPPED_PROPERTY_DOCS


def console() -> int:
    """The ``viralchain`` command: :func:`main`, with a quiet end when stdout's reader left,
    and a quick one (:func:`exit_quickly`)."""
    frozen_imports.enter_command()  # collector off until main() starts: imports make no garbage
    logging.raiseExceptions = False  # a log file on a full disk: no traceback on stderr
    try:
        return main()
    except BrokenPipeError:  # `viralchain list stories | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        exit_quickly()


def exit_quickly() -> None:
    """Spare the interpreter's exit its garbage collections (for the ``viralchain`` process,
    once its command has returned).

    At exit Python collects garbage several times while it takes the modules apart, each
    time looking at every object that pandas, Mesa, matplotlib and the run made: ≈ 0.2 s of
    ``viralchain run``. ``gc.freeze()`` moves them all out of the collector's sight; the
    exit still runs every ``atexit`` hook (logging's flush, multiprocessing's and Ray's
    clean-ups), flushes stdout and stderr, and frees by reference count; only cycles are
    left to the operating system. Every command closes its files before it returns.
    """
    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
