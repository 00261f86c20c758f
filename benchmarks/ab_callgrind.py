"""Instructions side by side: ``python -m benchmarks.ab --before REV --callgrind``.

On a shared host whole runs move by ±25 % with the load, which hides the gains of 3–10 % a
pass is made of. The number of instructions a run executes does not move with the load:
this mode counts them (``valgrind --tool=callgrind``) for ``sim.run`` alone, on the
revision ``REV`` (exported as the timed mode does) and on the working tree, and prints them
side by side with the difference, the ratio and the C functions whose instructions changed
most. Instructions are not time: cache misses, page faults and memory traffic are not
counted, so a gain in memory (fewer bytes touched, fewer faults) shows only in the timed
mode, and one instruction of numpy's inner loops is not one of the interpreter's. Use both.

How, for each task and tree:

1. a warm-up, natively (the same worker task without valgrind): the tree's bytecode is
   cached and the lazily imported modules compiled, so neither is counted; for ``quiet`` it
   also finds which hours are quiet (no flow: the ``quiet`` task's rule);
2. one process under ``valgrind --tool=callgrind --instr-atstart=no`` (``setarch -R``:
   without address randomisation, the interpreter's caches keyed by addresses collide alike
   from one run to the next), with ``OMP_NUM_THREADS=1`` (one thread: the two-thread paths
   of the build and the look-ups are not taken), ``VIRALCHAIN_COMPOSE_CACHE=off`` and
   ``PYTHONHASHSEED=0``; the worker (``benchmarks.worker``, task ``callgrind``) turns the
   instrumentation on, zeroes the costs, calls ``sim.run`` and dumps them, through
   callgrind's client requests (a small C library built here with ``cc`` from valgrind's
   ``callgrind.h``, called with ``ctypes``): the imports and the composition run natively
   fast and are not counted. ``quiet`` also steps a model of the same world hour by hour,
   each quiet hour one dump: the median quiet hour's instructions.

The figures include a constant of a few thousand instructions (the ``ctypes`` calls around
the counted part), the same on both sides. The same tree twice gives counts within a few
hundred instructions, < 10⁻⁶ at the full sizes (``docs/performance.md``, "Instructions side
by side").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.ab import _overrides, alternating, kernels
from benchmarks.suite import ROOT

# the tasks this mode counts: those whose figure is sim.run (and the quiet hour)
TASKS = ("quiet", "workshop", "flagship", "ten_m", "fifty_m")
ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "VIRALCHAIN_COMPOSE_CACHE": "off",
    "PYTHONHASHSEED": "0",
}
HELPER_C = r"""
#include <valgrind/valgrind.h>
#include <valgrind/callgrind.h>
void vc_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void vc_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void vc_zero(void) { CALLGRIND_ZERO_STATS; }
void vc_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
int vc_running(void) { return RUNNING_ON_VALGRIND; }
"""
# (key in a measurement, label, unit, scale) of each task's rows
FIGURES: dict[str, list[tuple[str, str, str, float]]] = {
    "quiet": [
        ("quiet_hour_median_ir", "quiet hour, median", "k", 1e-3),
        ("run_ir", "sim.run (warm)", "M", 1e-6),
    ],
    **{name: [("run_ir", "sim.run", "M", 1e-6)] for name in TASKS if name != "quiet"},
}


def _include_dirs() -> list[Path]:
    """Where ``valgrind/callgrind.h`` may be: beside the ``valgrind`` found on PATH, then the
    system's directory."""
    dirs = []
    found = shutil.which("valgrind")
    if found:
        dirs.append(Path(found).resolve().parent.parent / "include")
    dirs.append(Path("/usr/include"))
    return dirs


def missing() -> str | None:
    """What this mode needs and does not find, as one sentence, or ``None``."""
    install = (
        "(Debian/Ubuntu: apt-get install valgrind gcc; "
        "Fedora: dnf install valgrind valgrind-devel gcc)"
    )
    lacking = [tool for tool in ("valgrind", "callgrind_annotate") if shutil.which(tool) is None]
    if lacking:
        return f"--callgrind needs valgrind: {' and '.join(lacking)} not found on PATH {install}"
    if shutil.which("cc") is None:
        return f"--callgrind needs a C compiler (cc, for callgrind's client requests) {install}"
    if not any((d / "valgrind" / "callgrind.h").exists() for d in _include_dirs()):
        return f"--callgrind needs valgrind's header valgrind/callgrind.h, not found {install}"
    return None


def build_helper(into: Path) -> Path:
    """The client-request library (``vc_start``, ``vc_zero``, ``vc_dump``, ``vc_stop``,
    ``vc_running``), compiled into ``into``."""
    source, lib = into / "vc_requests.c", into / "vc_requests.so"
    source.write_text(HELPER_C)
    includes = [f"-I{d}" for d in _include_dirs() if d.exists()]
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", *includes, "-o", str(lib), str(source)],
        check=True,
        capture_output=True,
    )
    return lib


def snapshot(into: Path) -> Path:
    """The working tree as it is (tracked and untracked files, not the ignored ones, nor
    ``benchmarks/results``) copied into ``into``: both sides then run from directories of the
    same name length beside each other (``old``, ``new``), so that the paths in the modules'
    objects and the strings built from them take the same memory on both sides. (Run from the
    checkout itself, a path of another length moved the interpreter's memory layout enough to
    change ``sim.run`` by ≈ 0.6 % at the quick sizes with no change of code: hash-trie
    look-ups of context variables, whose hashes come from addresses.)"""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if rel.startswith("benchmarks/results/") or not src.is_file():
            continue
        dst = into / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    # the compiled kernels' builds (ignored files), rebuilt there when stale
    for so in (ROOT / "sim").glob("_*.so"):
        shutil.copy2(so, into / "sim" / so.name)
    return kernels(into)


def _env(tree: Path) -> dict[str, str]:
    env = {**os.environ, **ENV, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    # the warm-up writes the tree's bytecode, whatever the caller's environment says (this
    # host sets PYTHONDONTWRITEBYTECODE=1: every process would compile from the sources)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _worker(task: dict[str, Any], tree: Path, prefix: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "benchmarks.worker", json.dumps(task)],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"callgrind worker failed in {tree} on {task}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_dump(path: Path) -> tuple[str, int]:
    """The trigger's label and the instructions of one callgrind dump file."""
    label, total = "", None
    with path.open() as f:
        for line in f:
            if line.startswith("desc: Trigger: "):
                label = line[len("desc: Trigger: ") :].strip()
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        raise RuntimeError(f"no totals in callgrind dump {path}")
    return label, total


def _dumps(prefix: Path) -> list[tuple[str, int, Path]]:
    """The client requests' dumps of the process whose files start with ``prefix``, in
    order (label without ``Client Request: ``, instructions, file)."""
    parts = []
    for path in prefix.parent.glob(prefix.name + ".*"):
        m = re.fullmatch(re.escape(prefix.name) + r"\.(\d+)\.(\d+)", path.name)
        if m:
            parts.append((int(m.group(2)), path))
    out = []
    for _, path in sorted(parts):
        label, total = read_dump(path)
        if label.startswith("Client Request: "):
            out.append((label[len("Client Request: ") :], total, path))
    return out


def measure(
    name: str, tree: Path, quick: bool, helper: Path, work: Path, tag: str
) -> dict[str, Any]:
    """Task ``name`` on the code in ``tree``: the warm-up natively, then one process under
    callgrind; the instructions of ``sim.run`` (``run_ir``) and for ``quiet`` of every
    quiet hour (``quiet_hours_ir``, their median ``quiet_hour_median_ir``)."""
    task: dict[str, Any] = {
        "kind": "callgrind",
        "of": "quiet" if name == "quiet" else "run",
        "overrides": _overrides(name, quick),
    }
    warm = _worker(task, tree, [])
    if name == "quiet":
        task["quiet_hours"] = warm["quiet_hours"]
    task["helper"] = str(helper)
    prefix = work / tag
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--dump-line=no",
        f"--callgrind-out-file={prefix}.%p",
    ]
    if shutil.which("setarch"):
        valgrind = ["setarch", os.uname().machine, "-R", *valgrind]
    t0 = time.perf_counter()
    got = _worker(task, tree, valgrind)
    seconds = time.perf_counter() - t0
    dumps = _dumps(prefix)
    if [d[0] for d in dumps] != got["dumps"]:
        raise RuntimeError(
            f"callgrind wrote dumps {[d[0] for d in dumps][:5]}… for {got['dumps'][:5]}… ({tree})"
        )
    run = dumps[-1]
    out: dict[str, Any] = {
        "run_ir": run[1],
        "profile": str(run[2]),
        "valgrind_s": seconds,
        "demand_units": got["demand_units"],
    }
    if name == "quiet":
        hours = [d[1] for d in dumps[:-1]]
        out["quiet_hours_ir"] = hours
        out["quiet_hour_median_ir"] = statistics.median(hours) if hours else 0
        for _, _, path in dumps[:-1]:
            path.unlink()
    return out


def compare(
    before: Path,
    after: Path,
    names: list[str],
    rounds: int,
    quick: bool,
    work: Path,
    log=print,
) -> dict[str, Any]:
    """Every task ``rounds`` times on both trees, A-B then B-A; the raw counts."""
    helper = build_helper(work)
    res: dict[str, dict[str, list[dict[str, Any]]]] = {
        n: {"before": [], "after": []} for n in names
    }
    trees = {"before": before, "after": after}
    for r, name, side in alternating(names, rounds):
        m = measure(name, trees[side], quick, helper, work, f"{name}-{side}-{r}")
        res[name][side].append(m)
        log(
            f"round {r + 1}/{rounds}: {name} {side}: sim.run {m['run_ir']:,} "
            f"instructions ({m['valgrind_s']:.0f} s under valgrind)"
        )
    return res


def functions(profile: str | Path) -> Counter:
    """Instructions by C function (self cost, every file and object of that name summed)
    of one dump (``callgrind_annotate``, its function table only: the annotated sources
    after it hold source lines and call lines, ``=> ???:pcg64_uint32 (304,324x)``, whose
    counts are not a function's own, and which of a function's inlined copies such a line
    names is arbitrary)."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", str(profile)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    costs: Counter = Counter()
    for line in text.splitlines():
        if line.startswith("-- Auto-annotated source") or line.startswith("-- User-annotated"):
            break  # the annotated sources (should --auto=no be ignored)
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or m.group(2).strip() in ("PROGRAM TOTALS", "events annotated"):
            continue
        name = re.sub(r" \[[^\]]*\]$", "", m.group(2).strip())  # the object
        # the file, when known: "path:function" (a function name may hold "::")
        fm = re.match(r"^(\?\?\?|[^:]*\S*?\.[A-Za-z]+):(.*)$", name)
        costs[fm.group(2) if fm else name] += int(m.group(1).replace(",", ""))
    return costs


def top_changes(res: dict[str, Any], n: int) -> dict[str, list[dict[str, Any]]]:
    """For each task, the ``n`` C functions whose instructions in ``sim.run`` changed most
    (first round of each side)."""
    out = {}
    for name, sides in res.items():
        b, a = functions(sides["before"][0]["profile"]), functions(sides["after"][0]["profile"])
        changes = sorted(
            ((a[f] - b[f], f) for f in set(a) | set(b) if a[f] != b[f]),
            key=lambda t: (-abs(t[0]), t[1]),
        )
        out[name] = [
            {"function": f, "before": b[f], "after": a[f], "change": d} for d, f in changes[:n]
        ]
    return out


def table(res: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Instructions per side (min–max over the rounds), the difference and the ratio of the
    medians, as text and as rows."""
    rows = []
    for name, sides in res.items():
        for key, label, unit, scale in FIGURES[name]:
            b = [m[key] for m in sides["before"]]
            a = [m[key] for m in sides["after"]]
            mb, ma = statistics.median(b), statistics.median(a)
            rows.append(
                {
                    "task": name,
                    "measure": f"{label}, instructions",
                    "unit": unit,
                    "scale": scale,
                    "before": [min(b), max(b)],
                    "after": [min(a), max(a)],
                    "change": ma - mb,
                    "change_pct": 100.0 * (ma - mb) / mb if mb else float("nan"),
                    "ratio": mb / ma if ma else float("nan"),
                }
            )
    w = max([30, *(len(r["measure"]) for r in rows)])

    def span(r: dict[str, Any], side: str) -> str:
        lo, hi = (r["scale"] * v for v in r[side])
        return f"{lo:,.3f} {r['unit']}" if lo == hi else f"{lo:,.3f}–{hi:,.3f} {r['unit']}"

    head = (
        f"{'task':<9} {'measure':<{w}} {'before':>23} {'after':>23} "
        f"{'after - before (instr.)':>26} {'before/after':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        change = f"{r['change']:+,.0f} ({r['change_pct']:+.3f} %)"
        lines.append(
            f"{r['task']:<9} {r['measure']:<{w}} {span(r, 'before'):>23} {span(r, 'after'):>23} "
            f"{change:>26} {r['ratio']:>11.4f}x"
        )
    return "\n".join(lines), rows


def top_table(top: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for name, changes in top.items():
        lines.append(f"{name}: the C functions of sim.run whose instructions changed most")
        for c in changes:
            lines.append(
                f"  {c['change']:>+15,} {c['before']:>15,} -> {c['after']:>15,}  {c['function']}"
            )
        if not changes:
            lines.append("  (none)")
    return "\n".join(lines)


def valgrind_version() -> str:
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
