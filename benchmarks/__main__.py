"""``python -m benchmarks`` (``make bench``): run the benchmarks, print a table, write JSON.

Options: ``--quick`` (tiny sizes, seconds: checks the suite works, its figures mean nothing),
``--only NAME[,NAME]`` (some benchmarks), ``--out FILE`` (default
``benchmarks/results/latest.json``, or ``quick.json`` with ``--quick``), ``--strict`` (exit 1
when a target is missed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.suite import BENCHMARKS, FULL, QUICK, ROOT, Row, Runner

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(value: float, unit: str) -> str:
    if unit == "" and float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}".strip()
    if abs(value) >= 100:
        return f"{value:.0f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()


def table(rows: list[Row], quick: bool) -> str:
    """The rows as an aligned text table."""
    head = ("benchmark", "measure", "value", "target", "met")
    lines = []
    for r in rows:
        met = r.meets()
        verdict = "" if met is None else ("n/a" if quick else ("yes" if met else "NO"))
        lines.append((r.benchmark, r.measure, _fmt(r.value, r.unit), r.target, verdict))
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    for x in lines:
        cells = [x[0].ljust(widths[0]), x[1].ljust(widths[1]), x[2].rjust(widths[2])]
        cells += [x[3].ljust(widths[3]), x[4]]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _machine() -> dict[str, Any]:
    import mesa
    import numpy
    import pandas
    import pyarrow

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "mesa": mesa.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "git_commit": commit,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure viralchain's speed and memory (issue 7's benchmarks), side by "
        "side in one run; print a table and write it as JSON.",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs")
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated benchmarks to run (of: {', '.join(BENCHMARKS)})",
    )
    p.add_argument("--out", help="JSON file to write (default benchmarks/results/latest.json)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"--only = {','.join(unknown)}: must be among {', '.join(BENCHMARKS)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = QUICK if args.quick else FULL
    out = Path(args.out) if args.out else RESULTS / ("quick.json" if args.quick else "latest.json")
    runner = Runner(quick=args.quick)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for name in args.names:
        t = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        r, d = BENCHMARKS[name](runner, sizes[name])
        rows += r
        details[name] = {"sizes": sizes[name], "measured": d, "seconds": time.perf_counter() - t}
    text = table(rows, args.quick)
    print(text)
    report = {
        "mode": "quick" if args.quick else "full",
        "started": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t0,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": _machine(),
        "rows": [
            {
                "benchmark": r.benchmark,
                "measure": r.measure,
                "value": r.value,
                "unit": r.unit,
                "target": r.target,
                "met": r.meets(),
            }
            for r in rows
        ],
        "table": text,
        "details": details,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
    os.replace(tmp, out)
    print(f"\nwritten: {out}", file=sys.stderr)
    missed = [r for r in rows if r.meets() is False]
    if args.strict and missed and not args.quick:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
