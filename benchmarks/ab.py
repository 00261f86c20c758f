"""Before and after, side by side: ``python -m benchmarks.ab --before REV``.

Measures the same tasks on two versions of the code in one invocation, alternating fresh
processes (A-B in odd rounds, B-A in even ones, so that a drift of the shared machine falls
on both sides alike): *before* is the git revision ``REV`` (exported with ``git archive``
into a temporary directory), *after* is this checkout as it is. Both run with this
checkout's Python environment and its measuring code (``benchmarks/``, copied over the
revision's), so that only the model and the commands differ. Prints one table of ranges
(min–max over the rounds) and the ratio of the medians, and writes every raw measurement to
``--out`` (default ``benchmarks/results/ab.json``).

Tasks (``--only``, comma-separated; ``--quick``: tiny sizes, seconds, figures meaningless):

* ``quiet``: benchmark 9's worker at 10,000 consumers × 30 days: the median quiet hour
  (no flow) and ``sim.run`` of the same world (CPU);
* ``workshop``: ``sim.run`` at 10,000 consumers × 30 days (benchmark 6);
* ``flagship``: ``sim.run`` at 1,000,000 consumers × 60 days (benchmark 3);
* ``ten_m``: ``sim.run`` at 10,000,000 consumers × 60 days (peak memory too);
* ``fifty_m``: the same at 50,000,000 consumers (the largest size both sides of a change
  made before 100M consumers were allowed can run);
* ``cli``: the ``viralchain run`` command of the workshop story, imports to exit (wall and
  CPU of the process), its composition remembered (``experiments.compose.ComposeCache``,
  in a directory of this invocation, warmed by one unmeasured run per side), as every run
  after the first with the same overrides;
* ``cli_cold``: the same with the cache switched off (``VIRALCHAIN_COMPOSE_CACHE=off``):
  Hydra composes, as for the first run of a new set of overrides;
* ``many``: benchmark 11, the real sweep command over 500 runs of 10,000 consumers (both
  setups, 250 replications, the flagship's own horizon) on 2 workers, into a fresh
  directory: wall and CPU time of the command with its workers, and the sum of the runs' own
  ``wall_seconds`` (model build, hours and KPIs); ``--quick``: 6 runs of 2,000 consumers
  over 2 days.

``--callgrind``: instead of times, the **instructions** of ``sim.run`` alone (and of the
median quiet hour), counted by ``valgrind --tool=callgrind`` on both trees
(:mod:`benchmarks.ab_callgrind`; tasks quiet, workshop, flagship, ten_m, fifty_m).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.suite import ROOT

RESULTS = Path(__file__).resolve().parent / "results"
FLEX = "setup=flexible"
SIZES = {
    "quiet": (10_000, 720),
    "workshop": (10_000, 720),
    "flagship": (1_000_000, 1440),
    "ten_m": (10_000_000, 1440),
    "fifty_m": (50_000_000, 1440),
    "cli": (10_000, 720),
    "cli_cold": (10_000, 720),
    "many": (10_000, None),
}
QUICK = {name: (2_000, 48) for name in SIZES}
# the sweep of task ``many``: replications of each of the two setups, and workers
MANY = {"replications": 250, "jobs": 2}
MANY_QUICK = {"replications": 3, "jobs": 2}
# the figures of each task: (key in the measurement, label, unit, scale)
FIGURES: dict[str, list[tuple[str, str, str, float]]] = {
    "quiet": [
        ("quiet_hour_median_s", "quiet hour, median step", "us", 1e6),
        ("run_cpu_s", "sim.run, CPU", "s", 1.0),
    ],
    "workshop": [("run_cpu_s", "sim.run, CPU", "s", 1.0), ("run_s", "sim.run, wall", "s", 1.0)],
    "flagship": [
        ("run_cpu_s", "sim.run, CPU", "s", 1.0),
        ("run_s", "sim.run, wall", "s", 1.0),
        ("peak_rss_mib", "peak memory", "MiB", 1.0),
    ],
    "ten_m": [
        ("run_cpu_s", "sim.run, CPU", "s", 1.0),
        ("run_s", "sim.run, wall", "s", 1.0),
        ("peak_rss_mib", "peak memory", "MiB", 1.0),
    ],
    "cli": [
        ("cpu_s", "viralchain run, CPU", "s", 1.0),
        ("wall_s", "viralchain run, wall", "s", 1.0),
    ],
    "cli_cold": [
        ("cpu_s", "run, CPU, no cache", "s", 1.0),
        ("wall_s", "run, wall, no cache", "s", 1.0),
    ],
    "many": [
        ("wall_s", "sweep, wall", "s", 1.0),
        ("cpu_s", "sweep, CPU (all processes)", "s", 1.0),
        ("run_seconds_sum", "runs' own time, summed", "s", 1.0),
    ],
}
FIGURES["fifty_m"] = FIGURES["ten_m"]  # the same figures, 50M consumers
CALLGRIND_HELP = """
With --callgrind: the instructions of sim.run alone (and of the median quiet hour), counted by
valgrind --tool=callgrind, one process per tree and task (after a native warm-up: bytecode
cached), with OMP_NUM_THREADS=1, VIRALCHAIN_COMPOSE_CACHE=off, PYTHONHASHSEED=0; the imports
and the composition are not counted. Why: on a shared host whole runs move by +-25 % with the
load, which hides the 3-10 % gains of a pass; instruction counts do not move (the same tree
twice: within a few hundred instructions of billions). But instructions do not count cache
misses, page faults or memory traffic: a gain in memory shows only in the timed mode, so
measure both. Prints per task the counts, the difference, the ratio and the C functions
that changed most (--top). Needs valgrind, callgrind_annotate, cc and valgrind/callgrind.h.
One round of quiet,workshop,flagship takes about 5 minutes on a quiet machine.
"""


_NOT_CODE = shutil.ignore_patterns("__pycache__", "results")


def _kernel_current(tree: Path, source: Path) -> bool:
    """Whether ``tree`` has a build of the compiled kernel ``source`` (``sim/_<name>.c``)
    made from that very source: its SHA-256 is written into the module (sim/compiled.py)."""
    from sim.compiled import source_sha256  # (sim's imports only when a tree has kernels)

    sha = source_sha256(source.stem, source.parent).encode()
    return any(sha in so.read_bytes() for so in (tree / "sim").glob(f"{source.stem}.*.so"))


def kernels(tree: Path, log=print) -> Path:
    """``tree``'s optional compiled kernels (``sim/_<name>.c``) built in place when one is
    missing or stale, as an install builds them (``setup.py``, through ``pip wheel``: the
    same flags), so that each side is measured with its own kernels; nothing when the tree
    has none or all are current. Raises CalledProcessError when the build fails."""
    sources = sorted((tree / "sim").glob("_*.c"))
    if all(_kernel_current(tree, src) for src in sources):
        return tree
    log(f"building the compiled kernels of {tree} ({', '.join(s.name for s in sources)})")
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, str(tree)],
            capture_output=True,
            check=True,
        )
        with zipfile.ZipFile(next(Path(wheels).glob("*.whl"))) as wheel:
            for name in wheel.namelist():
                if name.startswith("sim/_") and name.endswith(".so"):
                    wheel.extract(name, tree)
    return tree


def export(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` written into ``into`` (``git archive``), with this
    checkout's ``benchmarks/`` (the measuring code) in place of the revision's."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    # the measuring code is this checkout's on both sides: a change to how a figure is
    # measured (benchmarks/) must not show as a change of the model
    shutil.rmtree(into / "benchmarks", ignore_errors=True)
    shutil.copytree(ROOT / "benchmarks", into / "benchmarks", ignore=_NOT_CODE)
    return kernels(into)


_PACKAGES = ("sim", "experiments", "benchmarks", "hydra_plugins")


def compiled(tree: Path) -> Path:
    """``tree``'s packages compiled to bytecode (``compileall``, which writes even under
    ``PYTHONDONTWRITEBYTECODE=1``), so that neither side compiles modules inside a timed
    run: an exported tree has no ``__pycache__`` while a checkout has one, and a module
    imported inside ``sim.run`` would otherwise be compiled in every "before" process."""
    dirs = [str(tree / d) for d in _PACKAGES if (tree / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True)
    return tree


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}


def _overrides(name: str, quick: bool) -> list[str]:
    n, hours = (QUICK if quick else SIZES)[name]
    if hours is None:  # the story's own horizon
        return [FLEX, f"market.n_consumers={n}"]
    return [FLEX, f"market.n_consumers={n}", f"run.horizon_hours={hours}"]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_many(tree: Path, quick: bool, out_dir: Path) -> dict[str, Any]:
    """Task ``many``: the real sweep command (``viralchain run -m setup=rigid,flexible
    --replications R --jobs 2``) with the code in ``tree``, into a fresh directory."""
    import pandas as pd

    n, hours = (QUICK if quick else SIZES)["many"]
    sweep = MANY_QUICK if quick else MANY
    out = Path(tempfile.mkdtemp(prefix=f"many-{tree.name}-", dir=out_dir))
    argv = ["viralchain", "run", "-m", "setup=rigid,flexible", f"market.n_consumers={n}"]
    if hours is not None:
        argv.append(f"run.horizon_hours={hours}")
    argv += ["--replications", str(sweep["replications"]), "--jobs", str(sweep["jobs"])]
    argv += ["--out", str(out / "sweep")]
    code = "import sys; from experiments.cli import console; sys.exit(console())"
    command = [sys.executable, "-c", f"import sys; sys.argv = {argv!r}; {code}"]
    cpu0, t0 = _cpu_of_children(), time.perf_counter()
    proc = subprocess.run(command, cwd=tree, env=_env(tree), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu_of_children() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed in {tree}:\n{proc.stderr[-3000:]}")
    runs = pd.read_parquet(out / "sweep" / "runs")
    runs = runs[runs["setup"] != "rival"]
    expected = 2 * sweep["replications"]
    if len(runs) != expected or (runs["status"] != "ok").any():
        raise RuntimeError(f"sweep in {tree} wrote {len(runs)} ok runs, expected {expected}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "run_seconds_sum": float(runs["wall_seconds"].sum()),
        "runs": expected,
    }


def measure(name: str, tree: Path, quick: bool, out_dir: Path) -> dict[str, Any]:
    """One measurement of task ``name`` with the code in ``tree``, in a fresh process."""
    if name == "many":
        return measure_many(tree, quick, out_dir)
    overrides = _overrides(name, quick)
    if name in ("cli", "cli_cold"):
        code = "import sys; from experiments.cli import console; sys.exit(console())"
        argv = ["viralchain", "run", "--out", str(out_dir / tree.name), *overrides]
        cache = out_dir / f"compose-cache-{tree.name}"
        remembered = "off" if name == "cli_cold" else str(cache)
        env = {**_env(tree), "VIRALCHAIN_COMPOSE_CACHE": remembered}
        command = [sys.executable, "-c", f"import sys; sys.argv = {argv!r}; {code}"]
        if name == "cli" and not cache.exists():  # warm-up: the first run composes
            cache.mkdir(parents=True)
            subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"viralchain run failed in {tree}:\n{proc.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return {"wall_s": wall, "cpu_s": cpu}
    task = {"kind": "quiet" if name == "quiet" else "run", "overrides": overrides}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", json.dumps(task)],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker failed in {tree} on {task}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(
    before: Path, after: Path, names: list[str], rounds: int, quick: bool, log=print
) -> dict[str, Any]:
    """Every task ``rounds`` times on both trees, alternating; the raw measurements."""
    res: dict[str, dict[str, list[dict[str, Any]]]] = {
        n: {"before": [], "after": []} for n in names
    }
    trees = {"before": before, "after": after}
    with tempfile.TemporaryDirectory() as tmp:
        for r, name, side in alternating(names, rounds):
            res[name][side].append(measure(name, trees[side], quick, Path(tmp)))
            log(f"round {r + 1}/{rounds}: {name} {side} done")
    return res


def alternating(names: list[str], rounds: int) -> Iterator[tuple[int, str, str]]:
    """The order of the measurements (round, task, side): every task in turn each round,
    before then after in even rounds, after then before in odd ones (A-B, B-A), so that a
    drift of the shared machine falls on both sides alike."""
    for r in range(rounds):
        for name in names:
            for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                yield r, name, side


def table(res: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The ranges and the ratio of medians (before / after), as text and as rows."""
    rows = []
    for name, sides in res.items():
        for key, label, unit, scale in FIGURES[name]:
            b = [scale * m[key] for m in sides["before"]]
            a = [scale * m[key] for m in sides["after"]]
            mb, ma = statistics.median(b), statistics.median(a)
            rows.append(
                {
                    "task": name,
                    "measure": label,
                    "unit": unit,
                    "before": [min(b), max(b)],
                    "after": [min(a), max(a)],
                    "ratio": mb / ma if ma else float("nan"),
                }
            )
    w = max([24, *(len(r["measure"]) for r in rows)])
    head = f"{'task':<9} {'measure':<{w}} {'before':>19} {'after':>19} {'before/after':>12}"
    lines = [head, "-" * len(head)]
    for r in rows:
        rng = [f"{r[s][0]:.3g}–{r[s][1]:.3g} {r['unit']}" for s in ("before", "after")]
        lines.append(
            f"{r['task']:<9} {r['measure']:<{w}} {rng[0]:>19} {rng[1]:>19} {r['ratio']:>11.2f}x"
        )
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.ab",
        description=__doc__.split("\n")[0] + " " + CALLGRIND_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--before", required=True, help="git revision to compare against")
    p.add_argument(
        "--only",
        default=None,
        help="tasks, comma-separated (default "
        "quiet,workshop,flagship,cli; with --callgrind quiet,workshop,flagship)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="measurements per side (default 3; with --callgrind 1)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    p.add_argument(
        "--callgrind",
        action="store_true",
        help="count the instructions of sim.run (valgrind) instead of timing",
    )
    p.add_argument(
        "--top",
        type=int,
        default=12,
        help="with --callgrind: the C functions that changed most, per task (12)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "ab.json", help="JSON file to write")
    args = p.parse_args(argv)
    if args.callgrind:
        return _main_callgrind(args)
    only = args.only or "quiet,workshop,flagship,cli"
    rounds = 3 if args.rounds is None else args.rounds
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown or rounds < 1:
        bad = f"--only: unknown task {unknown[0]!r}" if unknown else f"--rounds: {rounds}"
        print(f"benchmarks.ab: {bad} (tasks: {', '.join(SIZES)}; rounds >= 1)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        try:
            before = export(args.before, Path(tmp))
        except subprocess.CalledProcessError:
            print(f"benchmarks.ab: --before: no git revision {args.before!r}", file=sys.stderr)
            return 2
        compiled(before), compiled(kernels(ROOT))
        load0 = os.getloadavg()
        res = compare(before, ROOT, names, rounds, args.quick, log=print)
        load1 = os.getloadavg()
    text, rows = table(res)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "before": args.before,
        "after": "working tree",
        "rounds": rounds,
        "quick": args.quick,
        "loadavg": [load0, load1],
        "rows": rows,
        "raw": res,
        "table": text,
    }
    args.out.write_text(json.dumps(report, indent=1))
    return 0


def _main_callgrind(args: argparse.Namespace) -> int:
    """``--callgrind``: the instructions of ``sim.run`` on both trees (benchmarks.ab_callgrind)."""
    from benchmarks import ab_callgrind as cg

    names = [n.strip() for n in (args.only or "quiet,workshop,flagship").split(",") if n.strip()]
    rounds = 1 if args.rounds is None else args.rounds
    bad = [n for n in names if n not in cg.TASKS]
    if bad or rounds < 1 or args.top < 0:
        if bad:
            what = f"--only: task {bad[0]!r} " + (
                "is not counted by --callgrind" if bad[0] in SIZES else "unknown"
            )
        else:
            what = f"--rounds: {rounds}" if rounds < 1 else f"--top: {args.top}"
        print(
            f"benchmarks.ab: {what} (with --callgrind, tasks: {', '.join(cg.TASKS)}; "
            "rounds >= 1, top >= 0)",
            file=sys.stderr,
        )
        return 2
    lacking = cg.missing()
    if lacking:
        print(f"benchmarks.ab: {lacking}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # the two trees side by side, with names of one length (cg.snapshot says why)
        for sub in ("old", "new", "work"):
            (Path(tmp) / sub).mkdir()
        try:
            before = export(args.before, Path(tmp) / "old")
        except subprocess.CalledProcessError:
            print(f"benchmarks.ab: --before: no git revision {args.before!r}", file=sys.stderr)
            return 2
        after = cg.snapshot(Path(tmp) / "new")
        load0 = os.getloadavg()
        res = cg.compare(before, after, names, rounds, args.quick, Path(tmp) / "work", log=print)
        top = cg.top_changes(res, args.top) if args.top else {}
        load1 = os.getloadavg()
        for sides in res.values():
            for runs in sides.values():
                for m in runs:
                    del m["profile"]  # in the temporary directory, gone
    text, rows = cg.table(res)
    print(text)
    if top:
        print()
        print(cg.top_table(top))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "mode": "callgrind",
        "before": args.before,
        "after": "working tree (copied beside the revision)",
        "rounds": rounds,
        "quick": args.quick,
        "env": cg.ENV,
        "valgrind": cg.valgrind_version(),
        "seconds": time.perf_counter() - t0,
        "loadavg": [load0, load1],
        "rows": rows,
        "top": top,
        "raw": res,
        "table": text,
    }
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
