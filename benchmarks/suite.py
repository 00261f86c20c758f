"""The benchmarks, their sizes and their targets (issue 7), measured side by side in one run.

Each benchmark returns rows ``(benchmark, measure, value, unit, target)`` plus raw details.
Absolute times drift on a shared machine; the targets that matter most are ratios measured
in the same invocation (columnar vs per-agent, 1M vs 100k, 2 workers vs 1). Times are the
best of ``repeats`` fresh processes (the least disturbed measurement); memory is the largest
peak resident set seen. Benchmarks 1 and 10 (columnar vs the fair peer, vs the numpy floor)
measure their two sides in one process, in paired rounds (CPU time, A-B-B-A), and judge the
median of the rounds' ratios: run with ``python -m benchmarks.suite TASK`` (see
:func:`peer_rounds_task` and :func:`floor_rounds_task`).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STORY = "setup=flexible"  # the flagship story (the default story) with the flexible setup

FULL: dict[str, dict[str, Any]] = {
    "reference": {"consumers": 100_000, "start": 192, "end": 216, "rounds": 15},
    "scaling": {"sizes": [10_000, 100_000, 1_000_000], "hours": 1440, "repeats": 3},
    "flagship": {"consumers": 1_000_000, "hours": 1440, "repeats": 3},
    "sweep": {"replications": 20, "overrides": [], "repeats": 2},
    "io": {"n_runs": 200, "seeds": [1, 2, 3, 4, 5], "overrides": []},
    "workshop": {"consumers": 10_000, "hours": 720, "repeats": 3},
    "graph": {"consumers": 1_000_000, "repeats": 3},
    "dashboard": {"consumers": 10_000, "steps": 12, "browser": True},
    "quiet": {"consumers": 10_000, "hours": 720, "repeats": 3},
    "floor": {
        "scales": [1_000_000, 10_000_000],  # the range: 1M-100M consumers
        "below": [100_000],  # benchmark 1's size: no target
        "rounds": 7,
        "batch": 100_000,  # the earlier floor's batches (shown for comparison)
        "batches": 20,
        "start": 192,  # benchmark 1's live-stream window
        "end": 216,
    },
    "many": {"runs": 500, "consumers": 10_000, "hours": None, "jobs": 2},
    "national": {"consumers": 100_000_000, "hours": 1440, "repeats": 1},
}
QUICK: dict[str, dict[str, Any]] = {
    "reference": {"consumers": 2_000, "start": 24, "end": 48, "rounds": 3},
    "scaling": {"sizes": [1_000, 2_000, 5_000], "hours": 48, "repeats": 1},
    "flagship": {"consumers": 5_000, "hours": 48, "repeats": 1},
    "sweep": {
        "replications": 1,
        "overrides": ["market.n_consumers=2000", "run.horizon_hours=48"],
        "repeats": 1,
    },
    "io": {
        "n_runs": 6,
        "seeds": [1],
        "overrides": ["market.n_consumers=2000", "run.horizon_hours=48"],
    },
    "workshop": {"consumers": 2_000, "hours": 48, "repeats": 1},
    "graph": {"consumers": 5_000, "repeats": 1},
    "dashboard": {"consumers": 2_000, "steps": 3, "browser": False},  # no Chromium: quick
    "quiet": {"consumers": 2_000, "hours": 48, "repeats": 1},
    "floor": {
        "scales": [5_000],
        "below": [2_000],
        "rounds": 3,
        "batch": 2_000,
        "batches": 5,
        "start": 24,
        "end": 48,
    },
    "many": {"runs": 6, "consumers": 2_000, "hours": 48, "jobs": 2},
    "national": {"consumers": 20_000, "hours": 48, "repeats": 1},
}

GIB = 1024.0  # MiB


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    measure: str
    value: float
    unit: str
    target: str = ""  # e.g. ">= 50", "<= 30"

    def meets(self) -> bool | None:
        """Whether ``value`` meets ``target`` (None when there is no target)."""
        if not self.target:
            return None
        op, bound = self.target.split()
        return self.value >= float(bound) if op == ">=" else self.value <= float(bound)


@dataclass
class Runner:
    """Runs measurements in fresh processes and remembers them for the whole invocation."""

    quick: bool
    log: Callable[[str], None] = print
    _memo: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def measure(self, task: dict[str, Any], repeats: int = 1) -> list[dict[str, Any]]:
        """``repeats`` measurements of ``task`` (each in its own process; memoised)."""
        key = json.dumps(task, sort_keys=True)
        done = self._memo.setdefault(key, [])
        while len(done) < repeats:
            done.append(worker(task, module=_module_of(task)))
        return done[:repeats]


def worker(
    task: dict[str, Any], timeout: float = 3600, module: str = "benchmarks.worker"
) -> dict[str, Any]:
    """Run ``module`` (``benchmarks.worker``, or this module for the paired rounds of
    benchmarks 1 and 10) on ``task`` in a fresh Python process."""
    proc = subprocess.run(
        [sys.executable, "-m", module, json.dumps(task)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker failed on {task}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # the workers must import this checkout, wherever the command is started from
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _best(runs: list[dict[str, Any]], key: str) -> float:
    return min(r[key] for r in runs)


def _peak(runs: list[dict[str, Any]]) -> float:
    return max(r["peak_rss_mib"] for r in runs)


def _run_task(consumers: int, hours: int, profile: bool = False, extra=()) -> dict[str, Any]:
    overrides = [STORY, f"market.n_consumers={consumers}", f"run.horizon_hours={hours}", *extra]
    return {"kind": "run", "overrides": overrides, "seed": 1, "profile": profile}


# ----------------------------------------------------------------------------- 1


def bench_reference(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """Columnar vs per-agent consumers on the same world, over the same window of hours: the
    fair peer (only the touched consumers step) and the columnar consumers in ``rounds``
    paired rounds in one process (CPU time, A-B-B-A), the verdict on the median of the
    rounds' ratios; the per-agent reference that steps every consumer, measured once (slow;
    wall time, in its own process: its figures shown as they are, in no ratio)."""
    n, start, end = p["consumers"], p["start"], p["end"]
    ref_task = _window_task(n, start, end, "market.population=per_agent")
    per_agent = r.measure(ref_task, 1)[0]  # slow: measured once
    task = {
        "kind": "peer_rounds",
        "consumers": n,
        "start": start,
        "end": end,
        "rounds": p["rounds"],
        "peer": "per_agent_touched",
    }
    paired = r.measure(task, 1)[0]
    rounds = paired["rounds"]
    fair = _paired(rounds, "peer_s", "columnar_s")
    hours = end - start
    col_c, fair_c = fair["columnar_s"], fair["peer_s"]
    ref_c = per_agent["phases_s"]["consumers"]
    col_w = statistics.median(x["columnar"]["window_s"] for x in rounds)
    b = "1 columnar vs per-agent"
    k = len(rounds)
    rows = [
        Row(b, f"consumers ({n:,}), hours {start}-{end}", hours, "h"),
        Row(
            b,
            "per-agent consumers (all step, measured once, wall): ms per hour",
            1000 * ref_c / hours,
            "ms",
        ),
        Row(
            b,
            f"fair peer (touched step): ms per hour, median of {k} rounds, CPU",
            1000 * fair_c / hours,
            "ms",
        ),
        Row(
            b,
            f"columnar consumers: ms per hour, median of {k} rounds, CPU",
            1000 * col_c / hours,
            "ms",
        ),
    ]
    for i, (x, ratio) in enumerate(zip(rounds, fair["ratios"], strict=True)):
        rows.append(
            Row(b, f"  round {i + 1} ({x['first']} first): fair peer / columnar", ratio, "x")
        )
    rows += [
        Row(
            b,
            f"speed ratio vs the fair peer, consumer phase: median of {k} paired rounds",
            fair["median"],
            "x",
            ">= 50",
        ),
        # the whole models' windows: wall times from two processes at two moments (no
        # ratio: the per-agent reference is measured once, apart from the paired rounds)
        Row(
            b,
            "per-agent model (all step): window, measured once in its own process, wall",
            per_agent["window_s"],
            "s",
        ),
        Row(b, f"columnar model: window, median of {k} paired rounds, wall", col_w, "s"),
        Row(b, "per-agent model build", per_agent["build_s"], "s"),
    ]
    exposures = rounds[0]["columnar"]["exposures"]
    if exposures:
        rows.append(
            Row(
                b,
                "columnar consumers: ns per content exposure (median, CPU)",
                1e9 * col_c / exposures,
                "ns",
            )
        )
    return rows, {"paired": paired, "fair_peer": fair, "per_agent": per_agent}


# ----------------------------------------------------------------------------- 2


def bench_scaling(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """One flagship run at growing market sizes: time and peak memory."""
    b = "2 scaling"
    rows, details, times = [], {}, {}
    for n in p["sizes"]:
        runs = r.measure(_run_task(n, p["hours"]), p["repeats"])
        times[n] = _best(runs, "run_s")
        details[n] = runs
        rows.append(Row(b, f"{n:,} consumers, {p['hours'] // 24} days: run time", times[n], "s"))
        rows.append(Row(b, f"{n:,} consumers: peak memory", _peak(runs), "MiB"))
    small, large = p["sizes"][-2], p["sizes"][-1]
    rows.append(Row(b, f"time({large:,}) / time({small:,})", times[large] / times[small], "x"))
    rows[-1].target = "<= 10"
    return rows, details


# ----------------------------------------------------------------------------- 3


def bench_flagship(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The flagship at the largest size: wall time, memory, and ms per hour by phase."""
    n, hours = p["consumers"], p["hours"]
    plain = r.measure(_run_task(n, hours), p["repeats"])
    profiled = r.measure(_run_task(n, hours, profile=True), 1)[0]
    b = "3 flagship"
    wall = _best(plain, "run_s")
    above = _peak(plain) - min(x["base_rss_mib"] for x in plain)
    rows = [
        Row(b, f"{n:,} consumers, {hours // 24} days, hourly ticks: run time", wall, "s", "<= 30"),
        Row(b, "peak resident memory (whole process)", _peak(plain), "MiB", f"<= {4 * GIB:.0f}"),
        Row(b, "memory above the imported libraries", above, "MiB"),
        Row(b, "ms per simulated hour (total)", 1000 * wall / hours, "ms"),
    ]
    phases = profiled["phases_s"]
    total = sum(phases.values())
    for name, secs in phases.items():
        share = secs / total if total else 0.0
        rows.append(Row(b, f"  phase {name}: ms per hour ({share:.0%})", 1000 * secs / hours, "ms"))
    rows.append(Row(b, "profiled run time (profiler overhead incl.)", profiled["run_s"], "s"))
    return rows, {"plain": plain, "profiled": profiled}


# ----------------------------------------------------------------------------- 4


def _viralchain() -> str:
    return str(Path(sys.executable).with_name("viralchain"))


def _sweep_once(
    reps: int, jobs: int, overrides: list[str], n_runs: int, phases: dict | None = None
) -> tuple[float, float]:
    """Wall time of one fresh sweep, and the simulation time its runs report; ``phases``
    (when given) gets where the wall time went, from the jobs' logs (:func:`_sweep_phases`)."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="viralchain-bench-sweep-") as tmp:
        out = Path(tmp) / "sweep"
        cmd = [_viralchain(), "run", "-m", "setup=rigid,flexible", *overrides]
        cmd += ["--replications", str(reps), "--jobs", str(jobs), "--out", str(out)]
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=_env())
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"sweep failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        runs = pd.read_parquet(out / "runs")
        runs = runs[runs["setup"] != "rival"]
        if len(runs) != n_runs or (runs["status"] != "ok").any():
            raise RuntimeError(f"sweep wrote {len(runs)} ok runs, expected {n_runs}")
        if phases is not None:
            phases.update(_sweep_phases(out, started, started + wall))
        return wall, float(runs["wall_seconds"].sum())


def _sweep_phases(out: Path, started: float, ended: float) -> dict[str, float]:
    """Where a sweep's wall time went, from its jobs' log lines (wall-clock stamps, to the
    millisecond): ``start_s`` from the command's start to the first run's start (imports,
    composition, planning, workers), ``end_s`` from the last run's end (its files written)
    to the command's exit, ``between_s`` the gaps between two runs of a job and between two
    jobs of a worker (Hydra's composition and job set-up, the next run's checks), summed
    over the workers."""
    import itertools
    import re
    from datetime import datetime

    line_re = re.compile(r"^\[([^]]+)\]\[experiments\.sweep_task\]\[INFO\] - run \w+(: | ok in )")
    by_worker: dict[str, list[tuple[float, str]]] = {}
    for log in out.glob("logs/*/*/*.log"):
        text = log.read_text()
        worker = re.search(r"worker pid (\d+)", text)  # a job runs in one worker
        marks = by_worker.setdefault(worker.group(1) if worker else str(log), [])
        for line in text.splitlines():
            m = line_re.match(line)
            if m:
                t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                marks.append((t, "start" if m.group(2) == ": " else "end"))
    starts = [t for marks in by_worker.values() for t, kind in marks if kind == "start"]
    ends = [t for marks in by_worker.values() for t, kind in marks if kind == "end"]
    between = 0.0
    for marks in by_worker.values():
        marks.sort()
        pairs = itertools.pairwise(marks)
        between += sum(b[0] - a[0] for a, b in pairs if a[1] == "end" and b[1] == "start")
    return {"start_s": min(starts) - started, "end_s": ended - max(ends), "between_s": between}


def bench_sweep(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The real sweep command (Hydra multirun, joblib launcher) with 1 and 2 workers.

    The machine is shared and its speed drifts: the same 1-worker sweep took 56 s, then 43 s
    two minutes later. So each repeat runs 1 worker, 2 workers, 2 workers, 1 worker
    (A-B-B-A): a drift linear in time cancels from the repeat's ratio (its two 1-worker
    times over its two 2-worker times), and the headline speed-up is the median of these
    ratios. The machine ceiling (one flagship run alone vs two at once) is measured the same
    way inside each repeat, so the share of the ceiling the sweep reaches compares like
    with like.
    """
    reps = p["replications"]
    n_runs = 2 * reps
    walls: dict[int, list[float]] = {1: [], 2: []}
    inside: dict[int, list[float]] = {1: [], 2: []}
    phases: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    ratios, ceilings, ceiling_runs = [], [], []
    for _ in range(p["repeats"]):
        pair: dict[int, list[float]] = {1: [], 2: []}
        for jobs in (1, 2, 2, 1):
            phase: dict[str, float] = {}
            wall, sim_s = _sweep_once(reps, jobs, p["overrides"], n_runs, phase)
            walls[jobs].append(wall)
            inside[jobs].append(sim_s)
            phases[jobs].append(phase)
            pair[jobs].append(wall)
        ratios.append(sum(pair[1]) / sum(pair[2]))
        ceiling = _parallel_ceiling(p["overrides"])
        ceilings.append(ceiling["ratio"])
        ceiling_runs.append(ceiling)
    best = {jobs: int(np.argmin(w)) for jobs, w in walls.items()}
    times = {jobs: walls[jobs][i] for jobs, i in best.items()}
    sim_1 = inside[1][best[1]]
    speed_up = float(np.median(ratios))
    ceiling_ratio = float(np.median(ceilings))
    details = {
        "wall_s": walls,
        "run_seconds_sum": inside,
        "abba_ratios": ratios,
        "parallel_ceiling": ceiling_runs,
        "phases": phases,
    }
    b = "4 sweep"
    rows = [
        Row(b, f"{n_runs} runs, 1 worker: wall time (best)", times[1], "s"),
        Row(b, f"{n_runs} runs, 2 workers: wall time (best)", times[2], "s"),
        Row(b, "  simulation inside the runs (1 worker)", sim_1, "s"),
        Row(b, "  sweep overhead per run (1 worker)", (times[1] - sim_1) / n_runs, "s"),
        Row(b, "speed-up, 2 workers vs 1 (A-B-B-A, median)", speed_up, "x", ">= 1.7"),
        Row(b, "  speed-up, best time of each", times[1] / times[2], "x"),
        Row(b, "machine ceiling: 2 runs at once vs 1", ceiling_ratio, "x"),
        Row(b, "  speed-up as a share of the ceiling", 100 * speed_up / ceiling_ratio, "%"),
    ]
    # where the wall time goes (medians over the sweeps, from the jobs' logs)
    labels = {
        "start_s": "start-up: command start to the first run",
        "between_s": "between runs: jobs' composition and set-up, summed over workers",
        "end_s": "wind-down: the last run's end to the command's exit",
    }
    for key, label in labels.items():
        for jobs in (1, 2):
            value = float(np.median([ph[key] for ph in phases[jobs]]))
            rows.append(Row(b, f"  {label} ({jobs} worker{'s' if jobs > 1 else ''})", value, "s"))
    return rows, details


def _parallel_ceiling(overrides: list[str]) -> dict[str, float]:
    """What 2 cores give here: two independent runs at once vs one alone (whole processes),
    measured alone, together, together, alone."""
    task = json.dumps({"kind": "run", "overrides": [STORY, *overrides], "seed": 1})
    cmd = [sys.executable, "-m", "benchmarks.worker", task]

    def together(k: int) -> float:
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL) for _ in range(k)
        ]
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError(f"benchmark worker failed on {task}")
        return time.perf_counter() - t0

    alone, pair = [], []
    for k in (1, 2, 2, 1):
        (alone if k == 1 else pair).append(together(k))
    return {"alone_s": alone, "pair_s": pair, "ratio": 2 * sum(alone) / sum(pair)}


# ----------------------------------------------------------------------------- 5


def bench_io(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """Write a sweep's outputs with the sweep's writer, read each table back as one dataset."""
    task = {
        "kind": "io",
        "n_runs": p["n_runs"],
        "seeds": p["seeds"],
        "setups": ["rigid", "flexible"],
        "overrides": p["overrides"],
    }
    d = r.measure(task, 1)[0]
    n = d["n_runs"]
    b = "5 sweep outputs"
    rows = [
        Row(b, f"{n} runs: files written", d["files"], ""),
        Row(b, f"{n} runs: size on disk", d["bytes"] / 2**20, "MiB"),
        Row(b, f"{n} runs: timeseries rows", d["rows"]["timeseries"], ""),
        Row(b, f"{n} runs: write (sweep writer, atomic parquet)", d["write_s"], "s"),
        Row(b, "  per run", 1000 * d["write_s"] / n, "ms"),
        Row(b, "read runs+timeseries+events (pandas)", d["read_pandas_s"], "s"),
        Row(b, "read runs+timeseries+events (pyarrow)", d["read_pyarrow_s"], "s"),
    ]
    return rows, d


# ----------------------------------------------------------------------------- 6


def bench_workshop(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """A workshop-size run: what the room waits for."""
    n, hours = p["consumers"], p["hours"]
    runs = r.measure(_run_task(n, hours), p["repeats"])
    b = "6 workshop"
    rows = [
        Row(b, f"{n:,} consumers, {hours // 24} days: run time", _best(runs, "run_s"), "s", "<= 1"),
        Row(b, "compose (Hydra + validation) before it", _best(runs, "compose_s"), "s"),
        Row(b, "peak memory", _peak(runs), "MiB"),
    ]
    return rows, {"runs": runs}


# ----------------------------------------------------------------------------- 7


def bench_graph(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The consumers' social network (sim/social_graph.py) alone: the build a run pays for
    (columns only; edges are drawn on demand), drawing contacts, and listing every edge."""
    n = p["consumers"]
    runs = r.measure({"kind": "graph", "consumers": n}, p["repeats"])
    b = "7 social graph"
    best = min(runs, key=lambda x: x["build_s"])
    build_peak = max(x["build_peak_rss_mib"] - x["base_rss_mib"] for x in runs)
    rows = [
        Row(b, f"{n:,} consumers: build time (what a run pays)", best["build_s"], "s", "<= 1"),
        Row(b, "graph columns", best["graph_mib"], "MiB"),
        Row(b, "peak memory of the build above the libraries", build_peak, "MiB"),
        Row(b, "100,000 random contacts drawn", 1000 * best["draw_100k_s"], "ms"),
        Row(b, "all edges listed (materialize, tests)", best["materialize_s"], "s"),
        Row(b, "  edges", best["edges"], ""),
        Row(b, "  largest out-degree", best["max_out_degree"], ""),
        Row(b, "  largest in-degree", best["max_in_degree"], ""),
    ]
    return rows, {"runs": runs}


# ----------------------------------------------------------------------------- 8


def bench_dashboard(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The workshop dashboard's step of an hour, in Chromium at 1280x720 and on the server
    (see benchmarks/dashboard.py)."""
    task = {"kind": "dashboard", "consumers": p["consumers"], "steps": p["steps"]}
    task["browser"] = p["browser"]
    d = r.measure(task, 1)[0]
    b = "8 dashboard"
    s = d["server"]
    rows = [
        Row(b, f"{p['consumers']:,} consumers, 1-hour steps from day 8", p["steps"], "steps"),
        Row(b, "server work per step: page as it is", s["new_median_ms"], "ms"),
        Row(b, "server work per step: page as it was (matplotlib PNG)", s["old_median_ms"], "ms"),
        Row(b, "chart data rows sent per step", s["rows_per_frame"], ""),
    ]
    w = d["browser"]
    if "skipped" in w:
        rows.append(Row(b, f"in Chromium: skipped ({w['skipped']})", 0, ""))
    else:
        rows += [
            Row(
                b,
                "in Chromium: click to clock and 6 charts drawn, median",
                w["step_median_ms"],
                "ms",
                "<= 300",
            ),
            Row(b, "in Chromium: slowest step", w["step_max_ms"], "ms"),
            Row(
                b,
                "in Chromium: Play from day 0 to day 8 (12-hour steps)",
                w["play_to_day8_s"],
                "s",
                "<= 8",
            ),
            Row(b, "in Chromium: smallest text on the page", w["smallest_font_px"], "px", ">= 14"),
        ]
    return rows, d


# ----------------------------------------------------------------------------- 9


def bench_quiet(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """What a quiet hour costs (no flow at all), and a short run end to end."""
    n, hours = p["consumers"], p["hours"]
    task = {
        "kind": "quiet",
        "overrides": [STORY, f"market.n_consumers={n}", f"run.horizon_hours={hours}"],
        "seed": 1,
    }
    runs = r.measure(task, p["repeats"])
    b = "9 quiet hours"
    quiet = _best(runs, "quiet_hour_median_s")
    rows = [
        Row(
            b,
            f"{n:,} consumers, {hours // 24} days: hours without flow",
            runs[0]["quiet_hours"],
            "h",
        ),
        Row(b, "quiet hour (median step)", 1e6 * quiet, "us", "<= 20"),
        Row(b, "busy hour (median step)", 1e6 * _best(runs, "busy_hour_median_s"), "us"),
        Row(b, "sim.run: wall time", _best(runs, "run_s"), "s", "<= 0.1"),
        Row(b, "  CPU time", _best(runs, "run_cpu_s"), "s"),
    ]
    return rows, {"runs": runs}


# ----------------------------------------------------------------------------- 10


def bench_floor(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """The columnar consumers' cost per content exposure in the live-stream window beside the
    bare-numpy floor of the same work on the same hours' exposures (:class:`_Floor`), in
    ``rounds`` paired rounds in one process per size (CPU time, A-B-B-A), the verdict on the
    median of
    the rounds' ratios: at each of ``scales`` (the issue's range, 1M-100M consumers; target
    <= 2) and at each of ``below`` (benchmark 1's 100k, below that range: no target)."""
    b = "10 numpy floor"
    start, end = p["start"], p["end"]
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for n in [*p["below"], *p["scales"]]:
        task = {
            "kind": "floor_rounds",
            "consumers": n,
            "start": start,
            "end": end,
            "rounds": p["rounds"],
            "earlier": {"batch": p["batch"], "batches": p["batches"]},
        }
        details[f"rounds {n}"] = got = r.measure(task, 1)[0]
        rounds = got["rounds"]
        if not got["exposures"]:
            continue
        k = len(rounds)
        whole = _paired(rounds, "model_ns", "floor_ns")
        alone = _paired(rounds, "decide_ns", "floor_ns")
        earlier_ns = statistics.median(x["earlier_ns"] for x in rounds)  # wall: no ratio
        details[f"paired {n}"] = {"consumers": whole, "decide": alone}
        target = "<= 2" if n in p["scales"] else ""
        rows += [
            Row(
                b,
                f"{n:,} consumers, hours {start}-{end} ({got['exposures']:,} content "
                f"exposures): columnar ns per exposure, median of {k} rounds, CPU",
                whole["model_ns"],
                "ns",
            ),
            Row(
                b,
                f"{n:,} consumers, the same hours: numpy floor ns per exposure, median, CPU",
                whole["floor_ns"],
                "ns",
            ),
        ]
        for i, (x, ratio) in enumerate(zip(rounds, whole["ratios"], strict=True)):
            rows.append(
                Row(
                    b,
                    f"  {n:,} consumers, round {i + 1} ({x['first']} first): columnar / floor",
                    ratio,
                    "x",
                )
            )
        rows += [
            Row(
                b,
                f"{n:,} consumers: columnar consumers / floor, per exposure, median of {k} "
                "paired rounds",
                whole["median"],
                "x",
                target,
            ),
            Row(
                b,
                f"{n:,} consumers: the wish decision alone (decide) / floor, median",
                alone["median"],
                "x",
            ),
            Row(
                b,
                f"{n:,} consumers: the earlier floor (batches of {p['batch']:,} drawn, fewer "
                "steps; wall time, so in no ratio with the CPU times): ns per exposure, median",
                earlier_ns,
                "ns",
            ),
        ]
    return rows, details


def _window_task(n: int, start: int, end: int, *extra: str) -> dict[str, Any]:
    """Hours ``start..end`` of the flagship at ``n`` consumers, timed alone by phase."""
    overrides = [STORY, f"market.n_consumers={n}", f"run.horizon_hours={end}", *extra]
    return {"kind": "window", "overrides": overrides, "seed": 1, "start": start, "end": end}


# ----------------------------------------------------------------------------- 1 and 10, paired

# Benchmarks 1 and 10 compare two measurements (the columnar consumers against the fair peer,
# against the numpy floor). Measured at different moments, such a ratio follows the shared
# machine more than the code; so both are measured in one process, in CPU time, in rounds
# that alternate which goes first (A-B-B-A), each round gives one ratio of its two paired
# measurements, and the verdict is on the median of those ratios.
PAIRED_KINDS = ("peer_rounds", "floor_rounds")


def _module_of(task: dict[str, Any]) -> str:
    """The module whose process measures ``task``: this one for the paired rounds."""
    return "benchmarks.suite" if task["kind"] in PAIRED_KINDS else "benchmarks.worker"


def _a_first(k: int) -> bool:
    """A-B-B-A: rounds 0 and 3 of every four measure A first, rounds 1 and 2 B first."""
    return k % 4 in (0, 3)


def _paired(rounds: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """Per round, ``a / b`` of that round's two measurements, and the median of those ratios
    (the verdict's figure); the medians of ``a`` and ``b`` themselves for the table."""
    ratios = [x[a] / x[b] for x in rounds]
    return {
        "ratios": ratios,
        "median": statistics.median(ratios),
        a: statistics.median(x[a] for x in rounds),
        b: statistics.median(x[b] for x in rounds),
    }


class _Window:
    """A model of ``cfg`` (seed 1) built and run to ``start``, then run on (:meth:`run`),
    its consumers' phase timed on the profiler's clock (:func:`_cpu_clock`): the whole phase,
    the part inside ``decide`` (the wish decision and the offers, the brands' part left out),
    the content exposures decided. ``record``: receives each hour's content batches
    (consumers, products, channel, KOL); ``inputs``: receives what the floor reads
    (:class:`_Floor`)."""

    def __init__(
        self,
        cfg: Any,
        start: int,
        prof: Any,
        record: list[list[tuple[Any, ...]]] | None = None,
        inputs: dict[str, Any] | None = None,
    ):
        from sim.model import ViralChainModel

        self.model = model = ViralChainModel(cfg, 1)
        model.run_for(start)
        self.start, self.prof = start, prof
        pop = model.population
        if inputs is not None:
            inputs.update(_floor_inputs(model, start))
        decide = pop.decide
        self.seen = seen = {"exposures": 0, "decide_s": 0.0}

        def counting_decide(hour: int, content: list) -> None:
            # its own work runs in the caller's phase (the step's glue), not the consumers'
            seen["exposures"] += sum(len(b) for b in content)
            if record is not None:
                record.append([(b.consumers, b.skus, b.channel, b.kol) for b in content if len(b)])
            before = prof.snapshot()["consumers"]
            decide(hour, content)
            seen["decide_s"] += prof.snapshot()["consumers"] - before

        pop.decide = counting_decide
        self.consumers_s = self.window_s = self.window_cpu_s = 0.0
        self.hours = 0

    def run(self, hours: int) -> None:
        """The next ``hours`` hours, timed as one stretch (as in a run: nothing else runs
        between them)."""
        before = self.prof.snapshot()["consumers"]
        t, c = time.perf_counter(), time.process_time()
        self.model.run_for(hours)
        self.window_s += time.perf_counter() - t
        self.window_cpu_s += time.process_time() - c
        self.consumers_s += self.prof.snapshot()["consumers"] - before
        self.hours += hours

    def result(self) -> dict[str, Any]:
        """What the hours so far measured."""
        start, end = self.start, self.start + self.hours
        m = self.model
        return {
            "consumers_s": self.consumers_s,
            "decide_s": self.seen["decide_s"],
            "exposures": self.seen["exposures"],
            "window_s": self.window_s,
            "window_cpu_s": self.window_cpu_s,
            "demand_in_window": int(m.brands[0].sensing.hourly_demand[start:end].sum()),
            "agents": len(m.agents),
        }


def _cpu_clock() -> Any:
    """The phase profiler of this process, its clock made this thread's CPU time
    (``time.thread_time``): a paired task's process is alone with its measurements, and CPU
    time leaves out the moments the shared machine gives to other processes (the wall clock
    counts them on whichever side they fall). Returns the profiler."""
    import benchmarks.profiler as profiler

    prof = profiler.instrument()
    prof.clock = time.thread_time
    prof.reset()
    return prof


def peer_rounds_task(task: dict[str, Any]) -> dict[str, Any]:
    """Benchmark 1's paired rounds: the columnar consumers and the fair per-agent peer over
    the same hours, in one process (CPU time: :func:`_cpu_clock`); each round builds both
    models and runs them to the window's start, then runs one side's window and the other's,
    A-B-B-A over the rounds (each side's window uninterrupted, as in a run: hours of the two
    interleaved would leave each side's hour the other's caches); a warm-up round first."""
    import sim

    prof = _cpu_clock()
    start, end = task["start"], task["end"]
    base = [STORY, f"market.n_consumers={task['consumers']}", f"run.horizon_hours={end}"]
    cfgs = {
        "columnar": sim.compose(None, base),
        "peer": sim.compose(None, [*base, f"market.population={task['peer']}"]),
    }

    def one_round(k: int) -> dict[str, Any]:
        gc.collect()
        sides = {name: _Window(cfg, start, prof) for name, cfg in cfgs.items()}
        gc.collect()
        order = ("columnar", "peer") if _a_first(k) else ("peer", "columnar")
        for name in order:
            sides[name].run(end - start)
        got = {name: w.result() for name, w in sides.items()}
        return {
            "first": order[0],
            "columnar_s": got["columnar"]["consumers_s"],
            "peer_s": got["peer"]["consumers_s"],
            **got,
        }

    warm = one_round(0)
    rounds = [one_round(k) for k in range(task["rounds"])]
    return {
        "warm_up": warm,
        "rounds": rounds,
        "clock": "thread CPU time",
        "peak_rss_mib": _rss_mib(),
    }


def _floor_inputs(model: Any, start: int) -> dict[str, Any]:
    """Copies of what the floor reads, from ``model`` at the window's ``start``: the
    population's columns and books, the products' and channels' factors, the hour's tables."""
    pop = model.population
    boost, fatigue = pop._seen_factors()
    fb = model.feedback
    return {
        "n": pop.n,
        "n_sku": model.n_sku,
        "n_regions": model.ledger.n_regions,
        "sensitivity": pop.price_sensitivity.copy(),
        "region": pop.region.copy(),
        "patience": pop.patience_hours.copy(),
        "platform": np.asarray(pop.platform).copy(),
        "count": pop.exposure_count.reshape(-1).copy(),
        "state": pop.state.reshape(-1).copy(),
        "conversion": model.channel_conversion.copy(),
        "channel_patience": model.channel_patience.copy(),
        "appeal": model.appeal.copy(),
        "trust": model.kol_trust.copy(),
        "ratio_m1": model.price_ratio - 1.0,
        "novelty": pop._novelty_row(start).copy(),
        "boost": boost.copy(),
        "fatigue": None if fatigue is None else fatigue.copy(),
        "rating": fb.conversion_multiplier().copy(),
        "warning": fb.cfg.warning_effect,
        "units_mean": pop.cfg.consumer.units_per_order_mean,
    }


class _Floor:
    """The bare-numpy floor of the consumers' per-exposure work on an hour's content batches
    as the consumers were given them: the work the model must do for each exposure, done the
    cheapest way numpy allows, and nothing the model does not do (who and what were drawn by
    the content phase: the batches are replayed, not drawn).

    Per hour: the batches joined; the views booked per product and region; each exposure
    counted and its count read back; the probability from the channel's conversion and the
    KOL's trust (per batch), the product's appeal, price ratio, novelty and rating (scalars
    with one product, else gathered), the consumer's price sensitivity (gathered, ``exp``),
    the count's boost and fatigue (tables) and the consumer's state (warned: less likely;
    bought or waiting: no chance), before and after the rating (for the demand lost); with one
    product, what the model skips skipped under its conditions (the price factor at the
    reference price, the probability before the rating when nothing can be lost; one
    reduction of the states); one chance per consumer and product (the sorted way: picked
    among the repeated exposures only); the conversion books (the views' chances summed per
    product, the demand lost); the wish draw; per wish, the quantity, the random arrival
    order, the demand booked per product and region, the patience, platform and region read
    for the offer, and the state set to bought.

    Two ways, each timed (:func:`floor_rounds_task`): ``scatter`` (exposures in
    their order, counts by ``np.add.at``, one chance per key by a scatter-max on a
    population-sized scratch and a second scatter for ties) and ``sorted`` (the exposures
    sorted by consumer and product first, one plain sort of keys packed with positions, as the
    model does, then decided in slices of whole keys: the columns are read in one ascending
    pass, a key's exposures are adjacent, a slice's temporaries stay in the caches). The floor
    is the quicker of the two. Each works on copies of the population's columns at the
    window's start (:func:`_floor_inputs`), reset before each round."""

    WAYS = ("scatter", "sorted")

    def __init__(self, inputs: dict[str, Any]):
        from sim.agents.consumer_tables import _MAX_SEEN
        from sim.agents.wishes import _IS_CONTENT, _WISH_CHUNK, BOUGHT, NONE, WARNED

        self.x = inputs
        self.max_seen, self.is_content = _MAX_SEEN, _IS_CONTENT
        self.none, self.warned, self.bought = NONE, WARNED, BOUGHT
        size = inputs["n"] * inputs["n_sku"]
        self.count = inputs["count"].copy()
        self.state = inputs["state"].copy()
        self.best = np.full(size, -1.0)  # the scatter-max's scratch, back to -1 after use
        self.winner = np.zeros(size, dtype=np.intp)  # ties: one exposure per key
        books = inputs["n_sku"] * inputs["n_regions"]
        self.views = np.zeros(books, dtype=np.int64)
        self.demand = np.zeros(books, dtype=np.int64)
        self.converted = np.zeros(inputs["n_sku"])
        self.lost = np.zeros(inputs["n_sku"])
        self.wishes = 0
        self.offered: tuple[np.ndarray, ...] = ()
        self.chunk = _WISH_CHUNK  # the sorted way's slices, as the model's chunks
        self.hour_kept = self.hour_lost = 0.0  # one product: the hour's sums so far
        if inputs["n_sku"] == 1:  # the product's factors: scalars
            self.one = tuple(
                float(inputs[f][0]) for f in ("appeal", "ratio_m1", "novelty", "rating")
            )
        # decided once, as the model does per column and table
        s = inputs["sensitivity"]
        self.finite = len(s) == 0 or bool(np.isfinite(s.min()) and np.isfinite(s.max()))
        self.unsigned_boost = bool(inputs["boost"].min() >= 0.0)
        self.unsigned = True  # the hour's first factors all at least 0 (_joined)

    def reset(self) -> None:
        """The counts and states as at the window's start, the books and wishes empty."""
        self.count[:] = self.x["count"]
        self.state[:] = self.x["state"]
        for books in (self.views, self.demand, self.converted, self.lost):
            books[:] = 0
        self.wishes = 0

    def _joined(self, batches: list[tuple[Any, ...]]):
        """The hour's consumers and products (None with one product), each batch's length,
        each exposure's first factors (channel and KOL) and the flat keys."""
        x = self.x
        if len(batches) == 1:
            c, k = batches[0][0], batches[0][1]
        else:
            c = np.concatenate([b[0] for b in batches])
            k = np.concatenate([b[1] for b in batches])
        c = c.astype(np.int64, copy=False)
        lengths = [len(b[0]) for b in batches]
        conversion, trust = x["conversion"], x["trust"]
        if x["n_sku"] == 1:  # the model's order: conversion, appeal, trust
            appeal = self.one[0]
            firsts = [
                conversion[b[2]] * appeal * (trust[b[3]] if b[3] >= 0 else 1.0) for b in batches
            ]
            self.unsigned = min(firsts) >= 0.0
            return c, None, lengths, np.repeat(firsts, lengths), c
        first = np.repeat(
            [conversion[b[2]] * (trust[b[3]] if b[3] >= 0 else 1.0) for b in batches], lengths
        )
        k = k.astype(np.int64, copy=False)
        return c, k, lengths, first, c * x["n_sku"] + k

    def _book_views(self, region, k, batches, lengths, order) -> None:
        """The content views per product and region (``order``: the exposures' positions of
        ``region``'s, None: the same)."""
        content = self.is_content[[b[2] for b in batches]]
        if not content.any():
            return
        if not content.all():
            views = np.repeat(content, lengths)
            views = views if order is None else views[order]
            region = region[views]
            k = None if k is None else k[views]
        R = self.x["n_regions"]
        self.views += np.bincount(
            region if k is None else k * R + region, minlength=len(self.views)
        )

    def _probability(self, p, c, k, seen, state, may_skip):
        """``p`` (the first factors, in the exposures' order here) times the other factors,
        clipped, zero without a chance; and the same before the rating and warnings (None
        when nothing can be lost). With one product, the model's steps (``_one_product_
        chances``): the price factor skipped at the reference price (finite sensitivities),
        the states' one reduction, the probability before the rating skipped when nothing can
        be lost (``may_skip``: an hour the model decides whole)."""
        x = self.x
        if k is None:
            _, ratio_m1, novelty, rating = self.one
            if ratio_m1 != 0.0 or not self.finite:
                s = np.take(x["sensitivity"], c)
                s = np.negative(s, out=s) * np.float64(ratio_m1)
                p *= np.exp(s, out=s)
            p *= novelty
        else:
            s = np.take(x["sensitivity"], c)
            p *= np.take(x["appeal"], k)
            p *= np.exp(-s * np.take(x["ratio_m1"], k))
            p *= np.take(x["novelty"], k)
        p *= np.take(x["boost"], seen)
        if x["fatigue"] is not None:
            p *= np.take(x["fatigue"], seen)
        top = int(state.max())  # WARNED is the highest state
        if k is None:
            lossless = may_skip and (
                (rating == 1.0 and top == self.none)
                or (rating >= 1.0 and top != self.warned and self.unsigned and self.unsigned_boost)
            )
            p_plain = None if lossless else np.minimum(p, 1.0)
            p *= rating
        else:
            p_plain = np.minimum(p, 1.0)
            p *= np.take(x["rating"], k)
        if top == self.warned:
            warned = state == self.warned
            p[warned] *= 1.0 - x["warning"]
            np.minimum(p, 1.0, out=p)
            closed = (state != self.none) & ~warned
            if closed.any():
                p[closed] = 0.0
                if p_plain is not None:
                    p_plain[closed] = 0.0
        else:
            np.minimum(p, 1.0, out=p)
            if top != self.none:
                closed = state != self.none
                p[closed] = 0.0
                if p_plain is not None:
                    p_plain[closed] = 0.0
        return p, p_plain

    def _books_and_draw(self, batches, lengths, p, p_plain, k, chance, order, rng):
        """The conversion books of the chances (positions in ``p``; None: every exposure)
        and their wish draw; ``order``: the exposures' positions of ``p``'s (None: the same).
        Returns the wishes' positions in ``p``. With one product, the hour's two sums go on
        from the previous slice's, as the model's (one running sum over the hour)."""
        pc = p if chance is None else p[chance]
        want = rng.random(len(pc)) < pc
        wish = np.flatnonzero(want) if chance is None else chance[want]
        content = self.is_content[[b[2] for b in batches]]
        views = None
        if content.any() and not content.all():
            views = np.repeat(content, lengths)
            views = views if order is None else views[order]
            views = views if chance is None else views[chance]
        if k is None:
            if p_plain is not None:
                lost = np.subtract(p_plain if chance is None else p_plain[chance], pc)
                np.fmax(lost, 0.0, out=lost)
                self.hour_lost = _continued(self.hour_lost, lost)
            if content.any():  # p's own slice (a temporary) or a copy: added up in place
                self.hour_kept = _continued(self.hour_kept, pc if views is None else pc[views])
            return wish
        P = self.x["n_sku"]
        kc = k if chance is None else k[chance]
        if views is None and content.all():
            self.converted += np.bincount(kc, pc, P)
        elif views is not None:
            self.converted += np.bincount(kc[views], pc[views], P)
        lost = np.subtract(p_plain if chance is None else p_plain[chance], pc)
        np.fmax(lost, 0.0, out=lost)
        self.lost += np.bincount(kc, lost, P)
        return wish

    def _wishes(self, batches, lengths, c, k, flat, wish, at, rng) -> None:
        """The wishes' own work (positions ``wish`` in ``c``, ``k`` and ``flat``; ``at``: their
        exposure positions): the quantity, the random arrival order, the state set to bought,
        the demand booked per product and region, and what the brand is handed."""
        x = self.x
        n_wish = len(wish)
        if n_wish == 0:
            return
        self.state[flat[wish]] = self.bought
        qty = np.ones(n_wish, dtype=np.int64)
        if x["units_mean"] > 1.0:
            qty += rng.poisson(x["units_mean"] - 1.0, n_wish)
        if n_wish > 1:
            shuffle = rng.permutation(n_wish)
            wish, at = wish[shuffle], at[shuffle]
        self.wishes += n_wish
        wc = c[wish]
        wk = None if k is None else k[wish]
        wr = np.take(x["region"], wc)
        R = x["n_regions"]
        np.add.at(self.demand, wr if wk is None else wk * R + wr, qty)
        channel = np.repeat(np.array([b[2] for b in batches], np.int8), lengths)[at]
        patience = np.take(x["patience"], wc) * np.take(x["channel_patience"], channel)
        platform = np.take(x["platform"], wc)
        self.offered = (wc, wk, qty, wr, patience, platform)

    def _hour_books(self) -> None:
        """With one product, the hour's sums added to the books (as the feedback receives
        them: one number each per hour)."""
        if self.x["n_sku"] == 1:
            self.converted[0] += self.hour_kept
            self.lost[0] += self.hour_lost
        self.hour_kept = self.hour_lost = 0.0

    def hour_scatter(self, batches: list[tuple[Any, ...]], rng: np.random.Generator) -> None:
        """One hour's batches (consumers, products, channel, KOL), in their order."""
        if not batches:
            return
        c, k, lengths, first, flat = self._joined(batches)
        region = np.take(self.x["region"], c)
        self._book_views(region, k, batches, lengths, None)
        np.add.at(self.count, flat, np.uint16(1))
        seen = np.take(self.count, flat)
        if seen.max() > self.max_seen:
            np.minimum(seen, self.max_seen, out=seen)
            self.count[flat] = seen
        state = np.take(self.state, flat)
        p, p_plain = self._probability(first, c, k, seen, state, len(c) <= self.chunk)
        # one chance per consumer and product: the most persuasive exposure (one of equals)
        np.maximum.at(self.best, flat, p)
        cand = np.flatnonzero(np.take(self.best, flat) == p)
        self.best[flat] = -1.0
        key = flat[cand]
        self.winner[key] = cand
        chance = cand[np.take(self.winner, key) == cand]
        wish = self._books_and_draw(batches, lengths, p, p_plain, k, chance, None, rng)
        self._hour_books()
        self._wishes(batches, lengths, c, k, flat, wish, wish, rng)

    def hour_sorted(self, batches: list[tuple[Any, ...]], rng: np.random.Generator) -> None:
        """One hour's batches (consumers, products, channel, KOL), sorted by consumer and
        product, then decided in slices of at most :data:`~sim.agents.wishes._WISH_CHUNK`
        exposures (whole keys: the temporaries of a slice stay in the caches, as the model's
        chunks)."""
        if not batches:
            return
        c, k, lengths, first, flat = self._joined(batches)
        n = len(c)
        bits = max(1, (n - 1).bit_length())
        if (len(self.count) - 1).bit_length() + bits <= 62:  # key and position in an int64
            packed = flat << bits
            packed |= np.arange(n, dtype=np.int64)
            packed.sort()
            order = packed & ((1 << bits) - 1)
            key = packed >> bits
        else:
            order = np.argsort(flat, kind="stable")
            key = flat[order]
        P = self.x["n_sku"]
        cs, ks = (key, None) if k is None else (key // P, key % P)
        if n <= self.chunk:
            wish = self._sorted_slice(batches, lengths, first, order, key, cs, ks, 0, n, rng)
        else:
            parts, a = [], 0
            while a < n:  # slices of whole keys
                b = min(a + self.chunk, n)
                if b < n:
                    b = int(np.searchsorted(key, key[b - 1], side="right"))
                parts.append(
                    self._sorted_slice(batches, lengths, first, order, key, cs, ks, a, b, rng)
                )
                a = b
            wish = np.concatenate(parts)
        self._hour_books()
        self._wishes(batches, lengths, cs, ks, key, wish, order[wish], rng)

    def _sorted_slice(self, batches, lengths, first, order, key, cs, ks, a, b, rng):
        """Sorted exposures ``a..b`` (whole keys) of :meth:`hour_sorted`: their wishes'
        positions in the sorted order. Each exposure's count read and written (a key's
        exposures the same count); the repeated keys' exposures (few) found once, their
        group's size added and one chance picked among them (the first most persuasive)."""
        n = b - a
        whole = n == len(key)
        if not whole:
            order, key, cs = order[a:b], key[a:b], cs[a:b]
            ks = None if ks is None else ks[a:b]
        region = np.take(self.x["region"], cs)
        self._book_views(region, ks, batches, lengths, order)
        seen = np.take(self.count, key)
        seen += np.uint16(1)
        repeated = np.flatnonzero(key[1:] == key[:-1])  # exposure i + 1 continues i's key
        if len(repeated):  # the repeated keys' exposures ("members"), in groups
            brk = np.flatnonzero(np.diff(repeated) != 1)
            head = repeated[np.concatenate(([0], brk + 1))]
            tail = repeated[np.concatenate((brk, [len(repeated) - 1]))]
            sizes = tail - head + 2
            starts = np.cumsum(sizes) - sizes
            members = np.arange(int(sizes[-1] + starts[-1]), dtype=np.intp)
            members += np.repeat(head - starts, sizes)
            seen[members] += np.repeat((sizes - 1).astype(np.uint16), sizes)
        if seen.max() > self.max_seen:
            np.minimum(seen, self.max_seen, out=seen)
        self.count[key] = seen
        state = np.take(self.state, key)
        p, p_plain = self._probability(np.take(first, order), cs, ks, seen, state, whole)
        chance = None  # one chance per exposure but the repeated keys' losers
        if len(repeated):
            pm = p[members]
            best = np.maximum.reduceat(pm, starts)
            at = np.where(pm == np.repeat(best, sizes), np.arange(len(pm)), len(pm))
            keep = np.ones(n, dtype=bool)
            keep[members] = False
            keep[members[np.minimum.reduceat(at, starts)]] = True
            chance = np.flatnonzero(keep)
        wish = self._books_and_draw(batches, lengths, p, p_plain, ks, chance, order, rng)
        return wish if whole else wish + a


def _continued(start: float, values: np.ndarray) -> float:
    """``start`` plus ``values`` added one at a time in their order (as ``np.bincount``
    adds them, from ``start``: 0.0 for an hour's first), added up in place in ``values``."""
    if len(values) == 0:
        return start
    if start != 0.0:
        values[0] += start
    return 0.0 + np.add.accumulate(values, out=values)[-1].item()


def floor_rounds_task(task: dict[str, Any]) -> dict[str, Any]:
    """Benchmark 10's paired rounds at ``consumers``, in one process (CPU time:
    :func:`_cpu_clock`): the columnar consumers over the window (a fresh model each round,
    built and run to the window's start) and the floor replaying the same hours' content
    batches (as recorded in a warm-up window, on the population's columns at the window's
    start; both ways, the quicker is the floor), one after the other, A-B-B-A over the
    rounds (each side's hours uninterrupted); then the earlier floor (for comparison, no
    verdict)."""
    import sim
    from benchmarks.worker import floor_task

    prof = _cpu_clock()
    start, end = task["start"], task["end"]
    cfg = sim.compose(
        None, [STORY, f"market.n_consumers={task['consumers']}", f"run.horizon_hours={end}"]
    )
    hours: list[list[tuple[Any, ...]]] = []
    inputs: dict[str, Any] = {}
    warm = _Window(cfg, start, prof, record=hours, inputs=inputs)
    warm.run(end - start)
    warm_up = warm.result()
    del warm
    floors = {way: _Floor(inputs) for way in _Floor.WAYS}
    # the earlier floor: batches of random exposures drawn in the loop, fewer steps
    earlier = {"consumers": task["consumers"], "skus": inputs["n_sku"], **task["earlier"]}
    del inputs
    exposures = sum(len(b[0]) for h in hours for b in h)

    def floor_window(k: int) -> dict[str, float]:
        ways = {}
        for way, f in floors.items():
            step = f.hour_sorted if way == "sorted" else f.hour_scatter
            rng = np.random.default_rng(k)
            t = time.thread_time()
            for batches in hours:
                step(batches, rng)
            ways[way] = time.thread_time() - t
        return ways

    def one_round(k: int) -> dict[str, Any]:
        gc.collect()
        window = _Window(cfg, start, prof)
        for f in floors.values():
            f.reset()
        gc.collect()
        if _a_first(k):
            window.run(end - start)
            ways = floor_window(k)
        else:
            ways = floor_window(k)
            window.run(end - start)
        m = window.result()
        assert m["exposures"] == exposures, (m["exposures"], exposures)  # the same hours
        return {
            "first": "model" if _a_first(k) else "floor",
            "model_ns": 1e9 * m["consumers_s"] / exposures,
            "decide_ns": 1e9 * m["decide_s"] / exposures,
            "floor_ns": 1e9 * min(ways.values()) / exposures,
            "ways_ns": {w: 1e9 * t / exposures for w, t in ways.items()},
            "floor_wishes": {w: f.wishes for w, f in floors.items()},  # this round's
            "earlier_ns": floor_task(earlier)["ns_per_exposure"],
            "model": m,
        }

    warm_round = one_round(0)
    rounds = [one_round(k) for k in range(task["rounds"])]
    return {
        "exposures": exposures,
        "hours_with_content": sum(1 for h in hours if h),
        "largest_hour": max((sum(len(b[0]) for b in h) for h in hours), default=0),
        "warm_up": {"model": warm_up, "round": warm_round},
        "rounds": rounds,
        "clock": "thread CPU time (the earlier floor: wall)",
        "peak_rss_mib": _rss_mib(),
    }


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


PAIRED_TASKS = {"peer_rounds": peer_rounds_task, "floor_rounds": floor_rounds_task}


def _main(argv: list[str]) -> int:
    """A paired task's process: run the task given as JSON, print one JSON line."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    task = json.loads(argv[0])
    print(json.dumps(PAIRED_TASKS[task["kind"]](task)))
    return 0


# ----------------------------------------------------------------------------- 11


def bench_many(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """Many short runs: the real sweep command over ``runs`` runs of ``consumers``
    consumers (both setups, replications), where the per-run fixed costs decide."""
    runs, jobs = p["runs"], p["jobs"]
    overrides = [f"market.n_consumers={p['consumers']}"]
    if p["hours"]:
        overrides.append(f"run.horizon_hours={p['hours']}")
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, sim_s = _sweep_once(runs // 2, jobs, overrides, runs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load1 = os.getloadavg()[0]
    b = "11 many short runs"
    rows = [
        Row(
            b,
            f"{runs} runs of {p['consumers']:,} consumers, {jobs} workers: wall time",
            wall,
            "s",
            "<= 90" if runs >= 500 else "",
        ),
        Row(b, "  per run", wall / runs, "s"),
        Row(b, "  simulation inside the runs (sum)", sim_s, "s"),
        # the wall time follows the shared machine's load; the CPU time much less so
        Row(b, "  CPU time of the sweep (all its processes)", cpu, "s"),
        Row(b, "  load average (1 min) at the start", load0, ""),
        Row(b, "  load average (1 min) at the end", load1, ""),
    ]
    details = {"wall_s": wall, "run_seconds_sum": sim_s, "cpu_s": cpu, "loadavg": [load0, load1]}
    return rows, details


# ----------------------------------------------------------------------------- 12


def bench_national(r: Runner, p: dict[str, Any]) -> tuple[list[Row], dict[str, Any]]:
    """A national audience: the flagship at 100M consumers, time, peak memory and bytes per
    consumer above the imported libraries."""
    n, hours = p["consumers"], p["hours"]
    runs = r.measure(_run_task(n, hours), p["repeats"])
    b = "12 national audience"
    big = n >= 100_000_000
    above = _peak(runs) - min(x["base_rss_mib"] for x in runs)
    rows = [
        Row(b, f"{n:,} consumers, {hours // 24} days: run time", _best(runs, "run_s"), "s"),
        Row(b, "  CPU time", _best(runs, "run_cpu_s"), "s", "<= 30" if big else ""),
        Row(b, "peak resident memory", _peak(runs), "MiB", f"<= {4 * GIB:.0f}" if big else ""),
        Row(b, "bytes per consumer above the libraries", above * 2**20 / n, "B"),
    ]
    return rows, {"runs": runs}


BENCHMARKS: dict[str, Callable[[Runner, dict[str, Any]], tuple[list[Row], dict[str, Any]]]] = {
    "reference": bench_reference,
    "scaling": bench_scaling,
    "flagship": bench_flagship,
    "sweep": bench_sweep,
    "io": bench_io,
    "workshop": bench_workshop,
    "graph": bench_graph,
    "dashboard": bench_dashboard,
    "quiet": bench_quiet,
    "floor": bench_floor,
    "many": bench_many,
    "national": bench_national,
}


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
