"""One measurement in a fresh process: ``python -m benchmarks.worker '<task as JSON>'``.

Every run is measured in its own process so that its peak resident memory (``ru_maxrss``
of the process: the interpreter, the libraries and the run) and its time are its own. The
worker prints one JSON line with what it measured. Tasks:

* ``run``: ``sim.compose`` + ``sim.run`` (the public path: build, simulate, KPIs, tables);
  optionally with the phase profiler.
* ``window``: build a model, run it to ``start``, then time hours ``start..end`` alone
  (with the phase profiler): the per-agent reference is too slow for whole runs.
* ``io``: write a sweep's worth of run outputs with the sweep's own writer and read them back
  as one dataset per table.
* ``quiet``: every hour of a run timed alone, hours without any flow apart; then ``sim.run``.
* ``floor``: the bare-numpy floor of the consumers' per-exposure draws and scatters.
* ``callgrind``: ``sim.run`` (and, for ``of: quiet``, every quiet hour) between callgrind
  client requests (``benchmarks.ab_callgrind``): run under ``valgrind --tool=callgrind
  --instr-atstart=no``, each part is one dump; without ``helper``, natively, a warm-up.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _import_what_a_run_needs() -> None:
    """The modules a run uses, imported before any clock or count starts, as a program has
    them before its runs: Mesa (through ``sim.model``) and ``sim.result``, the module of
    ``sim.run``, which ``import sim`` loads only on its first use (a sweep's launching
    process never needs it). A figure of ``sim.run`` is the run's, not a first import's."""
    import sim.model
    import sim.result  # noqa: F401


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """A whole run through the public API."""
    import sim
    from benchmarks.profiler import instrument

    _import_what_a_run_needs()

    prof = instrument() if task.get("profile") else None
    t0 = time.perf_counter()
    cfg = sim.compose(None, task["overrides"])
    compose_s = time.perf_counter() - t0
    base = _rss_mib()
    if prof is not None:
        prof.reset()
    t1, c1 = time.perf_counter(), time.process_time()
    result = sim.run(cfg, seed=task.get("seed", 1))
    # the phases are read before the clock stops, so they never add up to more than the run
    phases = prof.snapshot() if prof is not None else None
    run_s, run_cpu_s = time.perf_counter() - t1, time.process_time() - c1
    out = {
        "compose_s": compose_s,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
        "hours": cfg.run.horizon_hours,
        "consumers": cfg.market.n_consumers,
        "base_rss_mib": base,
        "peak_rss_mib": _rss_mib(),
        "demand_units": result.kpis["demand_units"],
        "sold_units": result.kpis["sold_units"],
        "timeseries_rows": len(result.timeseries),
    }
    if phases is not None:
        out["phases_s"] = phases
    return out


def window_task(task: dict[str, Any]) -> dict[str, Any]:
    """Hours ``start..end`` of a model, timed alone, split by phase."""
    import sim
    from benchmarks.profiler import instrument
    from sim.model import ViralChainModel

    prof = instrument()
    cfg = sim.compose(None, task["overrides"])
    t0 = time.perf_counter()
    model = ViralChainModel(cfg, task.get("seed", 1))
    build_s = time.perf_counter() - t0
    start, end = task["start"], task["end"]
    t1 = time.perf_counter()
    model.run_for(start)
    before_s = time.perf_counter() - t1
    exposures = [0]  # content exposures the consumers were given in the window
    decide = model.population.decide

    def counting_decide(hour: int, content: list) -> None:
        exposures[0] += sum(len(b) for b in content)
        decide(hour, content)

    model.population.decide = counting_decide
    prof.reset()
    t2, c2 = time.perf_counter(), time.process_time()
    model.run_for(end - start)
    window_s, window_cpu_s = time.perf_counter() - t2, time.process_time() - c2
    phases = prof.snapshot()
    return {
        "build_s": build_s,
        "before_window_s": before_s,
        "window_s": window_s,
        "window_cpu_s": window_cpu_s,
        "window_hours": end - start,
        "phases_s": phases,
        "peak_rss_mib": _rss_mib(),
        "demand_in_window": int(model.brands[0].sensing.hourly_demand[start:end].sum()),
        "exposures_in_window": exposures[0],
        "agents": len(model.agents),
    }


def io_task(task: dict[str, Any]) -> dict[str, Any]:
    """Write ``n_runs`` runs' tables as a sweep would, then read each table as one dataset.

    The runs' contents come from ``len(seeds)`` real runs per setup, each written under many
    run ids (the run id and seed columns differ; the bytes per run are those of real runs).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    import sim
    from experiments import sweep_store as store
    from sim.result import make_run_id

    t0 = time.perf_counter()
    sources = []
    for setup in task["setups"]:
        for seed in task["seeds"]:
            cfg = sim.compose(None, [*task["overrides"], f"setup={setup}"])
            sources.append(sim.run(cfg, seed=seed))
    simulate_s = time.perf_counter() - t0
    n = task["n_runs"]
    results = []
    for i in range(n):
        src = sources[i % len(sources)]
        seed = 10_000 + i
        run_id = make_run_id(src.config.config_hash(), seed)
        results.append(
            replace(
                src,
                run_id=run_id,
                seed=seed,
                timeseries=src.timeseries.assign(run_id=run_id),
                events=src.events.assign(run_id=run_id),
            )
        )
    out: dict[str, Any] = {"n_runs": n, "source_runs": len(sources), "simulate_s": simulate_s}
    with tempfile.TemporaryDirectory(prefix="viralchain-bench-io-") as tmp:
        root = Path(tmp) / "sweep"
        t1 = time.perf_counter()
        for i, r in enumerate(results):
            store.write_run(root, r, "bench-io", {"replication": i})
        out["write_s"] = time.perf_counter() - t1
        files = [p for p in root.rglob("*.parquet")]
        out["files"] = len(files)
        out["bytes"] = sum(p.stat().st_size for p in files)
        rows = {}
        t2 = time.perf_counter()
        for table in store.TABLES:
            rows[table] = len(store.read_table(root, table))
        out["read_pandas_s"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        for table in store.TABLES:
            t = pq.read_table(root / table)
            assert t.num_rows == rows[table], table
        out["read_pyarrow_s"] = time.perf_counter() - t3
        out["rows"] = rows
        ts = pd.read_parquet(root / "timeseries")
        out["runs_in_dataset"] = int(ts["run_id"].nunique())
    out["peak_rss_mib"] = _rss_mib()
    return out


def graph_task(task: dict[str, Any]) -> dict[str, Any]:
    """Build the consumers' social network at ``consumers`` with the shipped shape."""
    import numpy as np

    import sim
    from sim.rng import stream
    from sim.social_graph import build

    cfg = sim.compose(None, [f"market.n_consumers={task['consumers']}"])
    shares = np.array([r.population_share for r in cfg.market.regions.values()])
    region = stream(1, "bench-region").choice(
        len(shares), size=task["consumers"], p=shares / shares.sum()
    )
    region = region.astype(np.int16)
    base = _rss_mib()
    t0 = time.perf_counter()
    g = build(region, len(shares), cfg.market.social_graph, stream(1, "graph"))
    build_s = time.perf_counter() - t0
    build_peak = _rss_mib()
    sharers = stream(1, "bench-sharers").integers(0, g.n, 100_000)
    t1 = time.perf_counter()
    g.random_neighbour(sharers, stream(1, "bench-draw"))
    draw_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    _, indices = g.materialize()
    materialize_s = time.perf_counter() - t2
    return {
        "build_s": build_s,
        "draw_100k_s": draw_s,
        "materialize_s": materialize_s,
        "edges": len(indices),
        "graph_mib": g.nbytes / 2**20,
        "base_rss_mib": base,
        "build_peak_rss_mib": build_peak,
        "peak_rss_mib": _rss_mib(),
        "max_out_degree": int(g.degree.max()),
        "max_in_degree": int(np.bincount(indices).max()),
    }


def _flowed(ledger: Any) -> bool:
    """Whether the hour the ledger holds had any flow (a view, wish, sale, loss or return):
    the rule that tells a quiet hour (``quiet`` and ``callgrind`` tasks), read just before
    the ledger forgets the hour."""
    return any(a.any() for a in ledger.hour.values())


def quiet_task(task: dict[str, Any]) -> dict[str, Any]:
    """What an hour costs when nothing flows: every step timed alone, hours without any
    flow (no view, wish, sale, loss or return in the ledger) told apart from the others (the
    look at the ledger that tells them apart runs inside the step and its time is taken out
    of the step's);
    then ``sim.run`` of the same world (build, simulate, KPIs, tables)."""
    import statistics

    import sim
    from sim.model import ViralChainModel

    _import_what_a_run_needs()
    cfg = sim.compose(None, task["overrides"])
    seed = task.get("seed", 1)
    quiet: list[float] = []
    busy: list[float] = []

    peek_s = [0.0]  # the time the peek below took within the step: not the model's

    class Timed(ViralChainModel):
        def step(self) -> None:
            peek_s[0] = 0.0
            t0 = time.perf_counter()
            super().step()
            dt = time.perf_counter() - t0 - peek_s[0]
            (busy if self._flowed else quiet).append(dt)

    # whether the hour had any flow, read just before the ledger forgets it; the look at the
    # ledger's arrays (≈ 5-9 µs) is timed and taken out of the step's time
    model = Timed(cfg, seed)
    reset = model.ledger.reset_hour

    def peek_then_reset() -> None:
        t = time.perf_counter()
        model._flowed = _flowed(model.ledger)
        peek_s[0] = time.perf_counter() - t
        reset()

    model.ledger.reset_hour = peek_then_reset
    t0 = time.perf_counter()
    model.run()
    steps_s = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    sim.run(cfg, seed=seed)
    run_s, run_cpu_s = time.perf_counter() - t1, time.process_time() - c1
    return {
        "quiet_hours": len(quiet),
        "hours": len(quiet) + len(busy),
        "quiet_hour_median_s": statistics.median(quiet) if quiet else 0.0,
        "busy_hour_median_s": statistics.median(busy) if busy else 0.0,
        "steps_s": steps_s,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
        "peak_rss_mib": _rss_mib(),
    }


def floor_task(task: dict[str, Any]) -> dict[str, Any]:
    """The bare-numpy floor of the per-event work: for batches of exposures, the draws and
    scatters the consumers' rules need and nothing else (draw who and what, count the
    exposure, a conversion probability from four gathered traits, keep one chance per
    consumer and product by a scatter-max, draw the wish), in nanoseconds per exposure."""
    import numpy as np

    n, n_sku, batch, batches = task["consumers"], task["skus"], task["batch"], task["batches"]
    rng = np.random.default_rng(1)
    count = np.zeros(n * n_sku, dtype=np.uint16)
    best = np.zeros(n * n_sku, dtype=np.float64)  # scratch for the scatter-max
    sensitivity = rng.random(n).astype(np.float32)
    appeal, ratio = rng.random(n_sku), rng.random(n_sku) + 0.5
    one = np.uint16(1)
    t0 = time.perf_counter()
    wishes = 0
    for _ in range(batches):
        consumers = rng.integers(0, n, batch)
        skus = rng.integers(0, n_sku, batch)
        flat = consumers * n_sku + skus
        np.add.at(count, flat, one)
        p = appeal[skus] * np.exp(-sensitivity[consumers] * (ratio[skus] - 1.0))
        p *= 1.0 + 0.1 * (count[flat] - 1.0)
        np.maximum.at(best, flat, p)  # one chance per consumer and product: the best
        keep = best[flat] == p
        best[flat] = 0.0
        wishes += int((rng.random(int(keep.sum())) < p[keep]).sum())
    elapsed = time.perf_counter() - t0
    return {
        "ns_per_exposure": 1e9 * elapsed / (batch * batches),
        "exposures": batch * batches,
        "wishes": wishes,
        "peak_rss_mib": _rss_mib(),
    }


def dashboard_task(task: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's step, in Chromium and on the server (:mod:`benchmarks.dashboard`)."""
    from benchmarks.dashboard import measure

    return measure(task["consumers"], task["steps"], task.get("browser", True))


def _quiet_hours(cfg: Any, seed: int) -> list[bool]:
    """Whether each hour of a run had no flow (the ``quiet`` task's rule: no view, wish,
    sale, loss or return in the ledger), read just before the ledger forgets the hour."""
    from sim.model import ViralChainModel

    model = ViralChainModel(cfg, seed)
    reset = model.ledger.reset_hour
    quiet: list[bool] = []

    def peek_then_reset() -> None:
        quiet.append(not _flowed(model.ledger))
        reset()

    model.ledger.reset_hour = peek_then_reset
    model.run()
    if len(quiet) != cfg.run.horizon_hours:
        raise RuntimeError(f"{len(quiet)} ledger resets in {cfg.run.horizon_hours} hours")
    return quiet


def callgrind_task(task: dict[str, Any]) -> dict[str, Any]:
    """``sim.run`` alone between callgrind client requests (the ``helper`` library built by
    :mod:`benchmarks.ab_callgrind`): instrumentation on, costs zeroed, ``sim.run``, a dump
    labelled ``sim.run``. With ``of: quiet``, first every hour of a model of the same world
    stepped alone, costs zeroed before each step and dumped after each hour that
    ``quiet_hours`` marks as quiet (labelled ``quiet hour H``); the ``sim.run`` that follows
    is then a warm one, as in the ``quiet`` task. Without ``helper`` (the warm-up, natively:
    bytecode cached, lazy imports made), the marks do nothing, and for ``of: quiet`` the quiet
    hours are found (:func:`_quiet_hours`) and returned."""
    import ctypes

    import sim
    from sim.model import ViralChainModel

    _import_what_a_run_needs()  # before the counted part

    cfg = sim.compose(None, task["overrides"])
    seed = task.get("seed", 1)
    dumps: list[str] = []
    out: dict[str, Any] = {"dumps": dumps}
    if task.get("helper"):
        lib = ctypes.CDLL(task["helper"])
        lib.vc_dump.argtypes = [ctypes.c_char_p]
        start, zero, dump_at, stop = lib.vc_start, lib.vc_zero, lib.vc_dump, lib.vc_stop
        if not lib.vc_running():
            raise RuntimeError("with a helper, the callgrind task runs under valgrind")
    else:
        start = zero = stop = lambda: None
        dump_at = lambda label: None  # noqa: E731

    if task.get("of") == "quiet":
        quiet = task.get("quiet_hours")
        if quiet is None:  # the warm-up: find the quiet hours (deterministic: the same below)
            out["quiet_hours"] = _quiet_hours(cfg, seed)
        else:
            labels = [f"quiet hour {h}".encode() for h in range(len(quiet))]
            hour = [0]

            class Counted(ViralChainModel):
                def step(self) -> None:
                    h = hour[0]
                    zero()
                    super().step()
                    if quiet[h]:
                        dump_at(labels[h])
                        dumps.append(f"quiet hour {h}")
                    hour[0] = h + 1

            model = Counted(cfg, seed)
            start()
            model.run()
            if hour[0] != len(quiet):
                raise RuntimeError(f"{hour[0]} steps, {len(quiet)} hours marked")
    start()
    zero()
    result = sim.run(cfg, seed=seed)
    dump_at(b"sim.run")
    stop()
    dumps.append("sim.run")
    out["demand_units"] = result.kpis["demand_units"]
    out["sold_units"] = result.kpis["sold_units"]
    out["hours"] = cfg.run.horizon_hours
    out["consumers"] = cfg.market.n_consumers
    return out


TASKS = {
    "run": run_task,
    "window": window_task,
    "io": io_task,
    "graph": graph_task,
    "quiet": quiet_task,
    "floor": floor_task,
    "dashboard": dashboard_task,
    "callgrind": callgrind_task,
}


def main(argv: list[str]) -> int:
    """Run the task given as JSON and print its measurements as one JSON line."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    task = json.loads(argv[0])
    out = TASKS[task["kind"]](task)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
