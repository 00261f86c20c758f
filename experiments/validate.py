"""``viralchain validate``: reproduce textbook results and print expected vs simulated.

Parameters come from ``scenarios/validation/<check>.yaml`` (``_settings.yaml`` holds what
every check shares: the false-failure probability ``alpha`` and the root ``seed``). Each file
has a ``fast:`` block whose keys replace the full ones under ``--fast`` (small sizes for the
test suite). ``check.key=value`` arguments override any parameter (values are YAML: lists
and maps in flow style). Exit codes: 0 every comparison passed, 1 some failed, 2 invalid
parameters or usage (one line per problem, nothing run).
"""

from __future__ import annotations

import argparse
import copy
import csv
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from experiments.compose import scenarios_dir
from sim.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SETTINGS_FILE = "_settings.yaml"

log = logging.getLogger(__name__)

EPILOG = """\
overrides are check.key=value pairs (values in YAML), for example:
  bass.replications=5                    more runs of the Bass check
  bass.cases=[{innovation_per_day: 0.02, imitation_per_day: 0.4}]   other (p, q)
  alpha=1e-3                             for every check (the _settings.yaml keys)

examples:
  viralchain validate                    every check, full size (a few minutes)
  viralchain validate --fast             small sizes (seconds)
  viralchain validate --only bass,cascade --csv validation.csv
  viralchain validate --mutants          do the suites catch planted bugs? (minutes)
"""


def validation_dir() -> Path:
    """Where the validation parameter files live."""
    return scenarios_dir() / "validation"


def check_names() -> list[str]:
    """The checks, in report order."""
    from sim.validation import CHECKS

    return list(CHECKS)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError([(str(path.name), str(path), "validation parameter file is missing")])
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError([(str(path.name), type(data).__name__, "must be a mapping")])
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_overrides(overrides: Iterable[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``key=value`` strings → (settings for all checks, per-check nested overrides).

    Raises:
        ConfigError: for a malformed override or an unknown check.
    """
    names = check_names()
    shared: dict[str, Any] = {}
    per_check: dict[str, dict[str, Any]] = {}
    problems: list[tuple[str, object, str]] = []
    for o in overrides:
        key, eq, raw = o.partition("=")
        key = key.strip()
        if not eq or not key:
            problems.append(("override", o, "malformed: must be check.key=value"))
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            problems.append((key, raw, "malformed value: must be YAML (e.g. 3, 0.5, [1, 2])"))
            continue
        head, _, rest = key.partition(".")
        if not rest:
            if head in names:
                problems.append((key, raw, "give a parameter: check.key=value"))
            else:
                shared[head] = value
            continue
        if head not in names:
            problems.append((head, key, f"unknown check: must be one of {names}"))
            continue
        node = per_check.setdefault(head, {})
        parts = rest.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                problems.append((key, raw, "conflicting overrides"))
                break
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(problems)
    return shared, per_check


def load_params(name: str, *, fast: bool = False, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The parameter mapping of one check (not yet validated: the check validates it).

    Raises:
        ConfigError: when a file is missing or an override is malformed.
    """
    if name not in check_names():
        raise ConfigError([("check", name, f"must be one of {check_names()}")])
    shared, per_check = parse_overrides(overrides)
    settings = _read_yaml(validation_dir() / SETTINGS_FILE)
    data = _read_yaml(validation_dir() / f"{name}.yaml")
    fast_block = data.pop("fast", {}) or {}
    params = _merge(settings, data)
    if fast:
        params = _merge(params, fast_block)
    params = _merge(params, shared)
    return _merge(params, per_check.get(name, {}))


def validated_params(
    names: Sequence[str], *, fast: bool = False, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Load and validate the parameters of every named check (all problems at once)."""
    from sim.validation import CHECKS, PREFLIGHTS
    from sim.validation.params import parse

    _, per_check = parse_overrides(overrides)
    unused = sorted(set(per_check) - set(names))
    if unused:
        raise ConfigError(
            [
                (u, sorted(per_check[u]), f"overrides a check not selected by --only {names}")
                for u in unused
            ]
        )
    out, problems = {}, []
    for name in names:
        try:
            out[name] = parse(
                name, CHECKS[name][1], load_params(name, fast=fast, overrides=overrides)
            )
            if name in PREFLIGHTS:  # model configurations named by the parameters
                PREFLIGHTS[name](out[name])
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return out


# ----------------------------------------------------------------------------- output


_SYMBOL = {"equal": "=", "at_least": "≥", "at_most": "≤", "greater": ">"}


def _num(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 1000:
        return f"{x:,.1f}"
    if ax >= 1:
        return f"{x:.4f}"
    return f"{x:.4g}"


def _interval(r: Any) -> str:
    lo, hi = r.interval
    return f"[{_num(lo)}, {_num(hi)}]"


def _cells(r, fail: str) -> list[str]:
    """One result row's cells, in the order of both tables (``fail`` marks a failed row)."""
    return [
        r.check,
        r.via,
        r.kind,
        r.case,
        r.quantity,
        f"{_SYMBOL[r.comparison]} {_num(r.expected)}",
        _num(r.simulated),
        _interval(r),
        _tolerance(r),
        "pass" if r.passed else fail,
    ]


def _tolerance(r: Any) -> str:
    if r.bias_signed and r.bias and r.comparison == "equal":
        lo, hi = r.band
        return f"{_num(lo):>s}/+{_num(hi)}"
    return f"± {_num(r.tolerance)}"


_LEVEL = 3  # columns left-aligned: check, via, kind, case, quantity


def format_rows(rows: Sequence[Any], header: bool = True) -> str:
    """A text table: check, via (model or standalone), kind, case, quantity, expected,
    simulated, its interval (± z·SE), tolerance (z·SE + bias), result."""
    head = [
        "check",
        "via",
        "kind",
        "case",
        "quantity",
        "expected",
        "simulated",
        "interval",
        "tolerance",
        "result",
    ]
    body = [_cells(r, "FAIL") for r in rows]
    table = [head, *body] if header else body
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    lines = []
    for j, row in enumerate(table):
        lines.append(
            "  ".join(
                str(c).ljust(w) if i < _LEVEL + 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if header and j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def headline(rows: Sequence[Any]) -> str:
    """``N/N textbook comparisons passed`` (the only rows that count), then the other kinds
    apart and how many of the textbook rows ran through the model."""
    from sim.validation.rows import KINDS

    text = [r for r in rows if r.kind == "textbook"]
    ok = sum(r.passed for r in text)
    model = [r for r in text if r.via == "model"]
    out = (
        f"{ok}/{len(text)} textbook comparisons passed "
        f"({sum(r.passed for r in model)}/{len(model)} through the model)"
    )
    others = []
    for kind in KINDS[1:]:
        some = [r for r in rows if r.kind == kind]
        if some:
            others.append(f"{kind} {sum(r.passed for r in some)}/{len(some)}")
    if others:
        out += "; reported apart: " + ", ".join(others)
    failed = sum(not r.passed for r in rows)
    return out + ("." if not failed else f"; FAILED: {failed}")


def write_csv(rows: Sequence[Any], path: Path) -> Path:
    """Write the rows (every field, tolerance and pass/fail) to a CSV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [r.as_dict() for r in rows]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["check"])
            w.writeheader()
            w.writerows(records)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves no partial file
        raise
    return path


# ----------------------------------------------------------------------------- command


def run_checks(params: dict[str, Any], echo: bool = True) -> list[Any]:
    """Run the checks (already validated parameters), printing each check's rows as it ends."""
    from sim.validation import CHECKS

    rows: list[Any] = []
    for name, p in params.items():
        t0 = time.perf_counter()
        got = CHECKS[name][0](p)
        rows.extend(got)
        if echo:
            n_ok = sum(r.passed for r in got)
            print(
                f"\n{name}: {n_ok}/{len(got)} passed ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
            print(format_rows(got), flush=True)
    return rows


def cmd_validate(args: argparse.Namespace) -> int:
    """Run the selected checks and report."""
    if args.mutants:
        from experiments.mutants import run as run_mutants

        if args.only or args.overrides or args.csv:
            print(
                "viralchain: invalid --mutants: runs the curated mutants against every "
                "suite; give no --only, --csv or overrides with it",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return run_mutants()
    names = check_names()
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in chosen if n not in names]
        if bad or not chosen:
            for n in bad or [args.only]:
                print(f"viralchain: invalid --only = {n!r}: must be among {names}", file=sys.stderr)
            return EXIT_USAGE
        names = [n for n in names if n in chosen]
    try:
        params = validated_params(names, fast=args.fast, overrides=args.overrides)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"viralchain: {line}", file=sys.stderr)
        return EXIT_USAGE
    if args.csv:  # checked before the checks run (they take minutes)
        from experiments.exits import unusable_dir

        csv_path = Path(args.csv)
        problem = (
            f"--csv = {args.csv!r}: is a directory"
            if csv_path.is_dir()
            else unusable_dir(csv_path.parent, "--csv").replace("--csv = ", "--csv folder = ")
        )
        if problem:
            print(f"viralchain: {problem}", file=sys.stderr)
            return EXIT_USAGE
    mode = "fast" if args.fast else "full"
    print(f"viralchain validate ({mode}): {', '.join(names)}")
    try:
        rows = run_checks(params)
    except ConfigError as exc:  # e.g. a model override rejected by the run schema
        for line in str(exc).splitlines():
            print(f"viralchain: {line}", file=sys.stderr)
        return EXIT_USAGE
    failed = [r for r in rows if not r.passed]
    print(f"\n{headline(rows)}")
    for r in failed:
        print(
            f"  FAIL {r.check} | {r.case} | {r.quantity}: expected {_SYMBOL[r.comparison]} "
            f"{_num(r.expected)}, simulated {_num(r.simulated)} ± {_num(r.tolerance)}"
        )
    if args.csv:
        try:
            print(f"wrote {write_csv(rows, Path(args.csv))}")
        except OSError as exc:
            from experiments.exits import os_reason

            print(f"viralchain: cannot write {args.csv}: {os_reason(exc)}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK if not failed else EXIT_FAILED


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain validate``."""
    p = subparsers.add_parser(
        "validate",
        help="reproduce textbook results (bullwhip, base stock, Bass, cascade, queues, "
        "flexibility): expected vs simulated",
        description=(
            "Run the validation checks (scenarios/validation/*.yaml) and print expected vs "
            "simulated values with their tolerance. Exit 0 if all pass, 1 otherwise."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("overrides", nargs="*", metavar="check.key=value", help="parameter overrides")
    p.add_argument("--fast", action="store_true", help="small sizes (the test suite's variant)")
    p.add_argument("--only", help=f"comma-separated checks among {', '.join(check_names())}")
    p.add_argument("--csv", help="also write every row to this CSV file")
    p.add_argument(
        "--mutants",
        action="store_true",
        help="mutation testing: plant the curated bugs of experiments/mutants.py in a copy of "
        "the code and report which the suites catch (python -m experiments.mutants has more)",
    )
    p.set_defaults(func=cmd_validate)


# ----------------------------------------------------------------------------- reference

DOCS_FILE = "docs/validation.md"
_START, _END = "<!-- validation-parameters:start -->", "<!-- validation-parameters:end -->"


def _value_at(data: dict[str, Any], key: str) -> str:
    if "[i]" in key:
        return ""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return f"{len(node)} set" + ("s" if len(node) > 1 else "")
    if isinstance(node, dict):
        return ""
    text = yaml.safe_dump(node, default_flow_style=True, width=1000).strip()
    text = text.removesuffix("...").strip()
    return f"`{text}`" if len(text) <= 40 else f"{len(node)} entries"


def parameter_reference() -> str:
    """Markdown tables of every check's parameters, with the shipped full and fast values."""
    from sim.validation import CHECKS
    from sim.validation.params import Params, describe

    shared = {k for k in Params.model_fields}
    settings = _read_yaml(validation_dir() / SETTINGS_FILE)
    lines = [
        "Generated by `python -m experiments.validate` from the parameter models in "
        "`sim/validation/` and the files in `scenarios/validation/`. `[i]` marks the "
        "entries of a list of parameter sets.",
        "",
        f"**Shared** (`scenarios/validation/{SETTINGS_FILE}`, for every check):",
        "",
        "| key | type | value | meaning |",
        "|---|---|---|---|",
    ]
    for key, kind, desc in describe(Params):
        lines.append(f"| {key} | {kind} | {_value_at(settings, key)} | {desc} |")
    for name, (_, model) in CHECKS.items():
        full, quick = load_params(name), load_params(name, fast=True)
        lines += [
            "",
            f"**{name}** (`scenarios/validation/{name}.yaml`):",
            "",
            "| key | type | full | fast | meaning |",
            "|---|---|---|---|---|",
        ]
        for key, kind, desc in describe(model):
            if key in shared:
                continue
            lines.append(
                f"| {key} | {kind} | {_value_at(full, key)} | {_value_at(quick, key)} | {desc} |"
            )
    return "\n".join(lines)


def write_reference(path: Path | None = None) -> Path:
    """Rewrite the generated block of ``docs/validation.md``."""
    path = path or (scenarios_dir().parent / DOCS_FILE)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(_START)
    _, _, tail = rest.partition(_END)
    path.write_text(f"{head}{_START}\n{parameter_reference()}\n{_END}{tail}", encoding="utf-8")
    return path


def documented_reference(path: Path | None = None) -> str:
    """The generated block as it stands in ``docs/validation.md``."""
    path = path or (scenarios_dir().parent / DOCS_FILE)
    text = path.read_text(encoding="utf-8")
    return text.partition(_START)[2].partition(_END)[0].strip("\n")


_RESULTS_START = "<!-- validation-results:start -->"
_RESULTS_END = "<!-- validation-results:end -->"


def results_markdown(csv_path: Path) -> str:
    """A Markdown table of a run's rows (from ``viralchain validate --csv``), the headline
    first: check, via, kind, case, quantity, expected, simulated, interval, tolerance, result.
    """
    from sim.validation.rows import CheckRow

    def num(x: str) -> float:
        return float(x) if x not in ("", "nan") else math.nan

    rows = []
    with csv_path.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            rows.append(
                CheckRow(
                    rec["check"],
                    rec["case"],
                    rec["quantity"],
                    num(rec["expected"]),
                    num(rec["simulated"]),
                    num(rec["se"]),
                    num(rec["z"]),
                    bias=num(rec["bias"]),
                    comparison=rec["comparison"],  # type: ignore[arg-type]
                    n=int(rec["n"]),
                    note=rec["note"],
                    via=rec.get("via", "standalone"),  # type: ignore[arg-type]
                    kind=rec.get("kind", "textbook"),  # type: ignore[arg-type]
                    bias_signed=rec.get("bias_signed") == "True",
                )
            )
    lines = [
        f"**{headline(rows)}**",
        "",
        "| check | via | kind | case | quantity | expected | simulated | interval "
        "| tolerance | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = _cells(r, "**FAIL**")
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def write_results(csv_path: Path, path: Path | None = None) -> Path:
    """Put the table of a full run (its CSV) between the results markers of the docs."""
    path = path or (scenarios_dir().parent / DOCS_FILE)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(_RESULTS_START)
    _, _, tail = rest.partition(_RESULTS_END)
    body = results_markdown(csv_path)
    path.write_text(f"{head}{_RESULTS_START}\n{body}\n{_RESULTS_END}{tail}", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m experiments.validate: regenerate the docs' reference
    if len(sys.argv) == 3 and sys.argv[1] == "--results":  # ... or the table of a full run
        print(f"wrote {write_results(Path(sys.argv[2]))}")
    else:
        print(f"wrote {write_reference()}")
