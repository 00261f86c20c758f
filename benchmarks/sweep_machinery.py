"""The sweep benchmark: a realistic sweep launched with and without each piece of machinery.

``python -m benchmarks.sweep_machinery [--runs 48] [--consumers 10000] [--repeats 2]
[--before DIR] [--variants a,b] [--out FILE]``

The sweep is the shipped ``safety_rush`` grid (flexible setup, 4 days of cover x 4 rush
thresholds) at ``--consumers`` consumers with enough replications for ``--runs`` runs, on 2
workers, through the real ``viralchain`` command (``sweep safety_rush ...``), each launch
into a fresh directory. Each variant is one way of launching it:

* ``current``: this checkout as it is.
* ``before``: the code in ``--before DIR`` (a checkout of an older commit, e.g. ``git
  worktree add /tmp/before main``), imported in place of this checkout (``PYTHONPATH``),
  with the same interpreter and libraries.
* ``before-no-forkserver``, ``before-no-gcfreeze``, ``before-no-cache``, ``before-none``:
  the older code with its fork server (``VIRALCHAIN_FORKSERVER=0``), its ``gc.freeze()`` at
  exit, its composition cache (every job composed in full, as Hydra composes it) or all
  three switched off, by :func:`drive` patching the launching process.

Variants run round-robin, the order reversed every other round, so that a drift of the
shared machine's speed cancels from the comparison; the table gives the best and the median
wall time of each, and the median CPU time of the launch and all its processes (steadier on a
shared machine), each with its ratio to the first variant. Results go to
``benchmarks/results/sweep_machinery.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "sweep_machinery.json"
SWEEP = "safety_rush"
GRID_POINTS = 16  # 4 days of cover x 4 thresholds

PATCHES = {
    "before": (),
    "before-no-forkserver": ("forkserver",),
    "before-no-gcfreeze": ("gcfreeze",),
    "before-no-cache": ("cache",),
    "before-none": ("forkserver", "gcfreeze", "cache"),
}


def drive(patches: list[str], argv: list[str]) -> int:
    """Run the ``viralchain`` command (``experiments.cli.console``) with pieces switched off.

    ``gcfreeze``: ``gc.freeze`` does nothing; ``cache``: the plan composes every job in full
    (Hydra's ``load_sweep_config`` with all the job's overrides), with no reuse between jobs;
    ``forkserver`` is switched off by the environment (``VIRALCHAIN_FORKSERVER=0``).
    """
    import gc

    if "gcfreeze" in patches:
        gc.freeze = lambda: None
    if "cache" in patches:
        from experiments import sweep_plan

        def compose_in_full(self, overrides):
            cfg = self.loader.load_sweep_config(self.master, list(overrides))
            self._bases[tuple(overrides)] = None  # counted as a composition
            return sweep_plan.task_config(cfg)

        sweep_plan.JobComposer.compose = compose_in_full
        real_make_plan = sweep_plan.make_plan

        def make_plan_uncached(*args, **kwargs):
            # no reuse between replications either (launcher jobs still batch them)
            real_split = sweep_plan.split_replication
            sweep_plan.split_replication = lambda overrides: (tuple(overrides), None)
            try:
                return real_make_plan(*args, **kwargs)
            finally:
                sweep_plan.split_replication = real_split

        sweep_plan.make_plan = make_plan_uncached
        import experiments.sweep

        experiments.sweep.make_plan = make_plan_uncached
    sys.argv = ["viralchain", *argv]
    from experiments.cli import console

    return console()


def _env(code: Path, patches: tuple[str, ...]) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH", "")) if p)
    if "forkserver" in patches:
        env["VIRALCHAIN_FORKSERVER"] = "0"
    return env


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its descendants.

    This process is a child subreaper (:func:`_adopt_orphans`): a descendant that outlives
    its parent (the fork server, its workers) is reaped here, so its time counts too.
    """
    import resource

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # reap the orphans of the last launch
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _adopt_orphans() -> None:
    """Become a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


def launch_once(variant: str, before: Path | None, args: list[str]) -> dict[str, Any]:
    """One fresh sweep launch of a variant: wall time and what its runs report."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="viralchain-bench-machinery-") as tmp:
        out = Path(tmp) / "sweep"
        if variant == "current":
            cmd = [str(Path(sys.executable).with_name("viralchain"))]
            env = _env(ROOT, ())
            code = ROOT
        else:
            if before is None:
                raise SystemExit(f"variant {variant!r} needs --before DIR")
            patches = PATCHES[variant]
            cmd = [sys.executable, str(Path(__file__).resolve()), "drive", ",".join(patches)]
            env = _env(before, patches)
            code = before
        cmd += ["sweep", SWEEP, *args, "--out", str(out)]
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=code, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        if proc.returncode != 0:
            raise RuntimeError(f"{variant}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        # file by file: the runs' own rows (a rival brand's rows sit under setup=rival)
        rows = [
            pq.read_table(f, columns=["status", "wall_seconds"]).to_pylist()[0]
            for f in (out / "runs").rglob("*.parquet")
            if "setup=rival" not in str(f)
        ]
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "runs": len(rows),
            "ok": sum(r["status"] == "ok" for r in rows),
            "run_seconds_sum": sum(r["wall_seconds"] for r in rows),
        }


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "drive":
        patches = [p for p in argv[1].split(",") if p]
        return drive(patches, argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=48, help="at least this many runs (default 48)")
    p.add_argument("--consumers", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="rounds over the variants")
    p.add_argument("--before", type=Path, help="a checkout of the code to compare against")
    p.add_argument("--variants", default="current", help="comma-separated (see the docstring)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    variants = [v for v in a.variants.split(",") if v]
    for v in variants:
        if v != "current" and v not in PATCHES:
            allowed = ", ".join(["current", *PATCHES])
            raise SystemExit(f"--variants: {v!r} is not one of {allowed}")
    _adopt_orphans()
    reps = -(-a.runs // GRID_POINTS)
    n_runs = reps * GRID_POINTS
    args = [f"market.n_consumers={a.consumers}", "--replications", str(reps)]
    args += ["--jobs", str(a.jobs)]
    walls: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(a.repeats):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            got = launch_once(v, a.before, args)
            if got["ok"] != n_runs:
                raise RuntimeError(f"{v}: {got['ok']} ok runs of {n_runs}")
            walls[v].append(got["wall_s"])
            cpus[v].append(got["cpu_s"])
            raw[v].append(got)
            print(
                f"round {r + 1} {v:<22} {got['wall_s']:7.1f} s wall {got['cpu_s']:7.1f} s CPU",
                flush=True,
            )
    ref = variants[0]
    print(f"\nsweep {SWEEP}: {n_runs} runs of {a.consumers:,} consumers on {a.jobs} workers")
    print(
        f"{'variant':<22} {'wall best':>10} {'median':>8} {'vs ' + ref:>12}"
        f" {'CPU median':>11} {'vs ' + ref:>12}"
    )
    summary = {}
    for v in variants:
        best, med = min(walls[v]), statistics.median(walls[v])
        ratio = med / statistics.median(walls[ref])
        cpu = statistics.median(cpus[v])
        cpu_ratio = cpu / statistics.median(cpus[ref])
        summary[v] = {
            "best_s": best,
            "median_s": med,
            "median_ratio_to_first": ratio,
            "cpu_median_s": cpu,
            "cpu_ratio_to_first": cpu_ratio,
        }
        print(f"{v:<22} {best:9.1f}s {med:7.1f}s {ratio:11.3f}x {cpu:10.1f}s {cpu_ratio:11.3f}x")
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "sweep": SWEEP,
        "runs": n_runs,
        "consumers": a.consumers,
        "jobs": a.jobs,
        "load_average": os.getloadavg(),
        "variants": variants,
        "summary": summary,
        "launches": raw,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
