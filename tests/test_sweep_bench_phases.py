"""Benchmark 4's rows on where a sweep's wall time goes, read from its jobs' logs."""

from __future__ import annotations

from datetime import datetime

import pytest

from benchmarks.suite import _sweep_phases


def _line(t: float, text: str) -> str:
    stamp = datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return f"[{stamp}][experiments.sweep_task][INFO] - {text}\n"


def test_start_up_gaps_and_wind_down_from_the_job_logs(tmp_path):
    """Two workers (pids 11 and 12), three jobs: the first run starts 1.5 s after the
    command; between runs: 0.25 s inside job 0, 0.5 s from job 0 to job 2 (both worker 11);
    the last run ends 0.25 s before the exit. Other lines (the model's own) do not count."""
    t0 = 1_800_000_000.0
    jobs = {
        0: [(1.5, "run a: setup=rigid replication=0 (seed 1)"),
            (2.0, "run a ok in 0.50s (worker pid 11, parent 10)"),
            (2.25, "run b: setup=rigid replication=1 (seed 2)"),
            (3.0, "run b ok in 0.75s (worker pid 11, parent 10)")],
        1: [(1.75, "run c: setup=flexible replication=0 (seed 1)"),
            (3.75, "run c ok in 2.00s (worker pid 12, parent 10)")],
        2: [(3.5, "run d: setup=flexible replication=1 (seed 2)"),
            (4.0, "run d ok in 0.50s (worker pid 11, parent 10)")],
    }  # fmt: skip
    for n, lines in jobs.items():
        log = tmp_path / "logs" / "20261201-120000" / str(n) / "run.log"
        log.parent.mkdir(parents=True)
        text = "".join(_line(t0 + t, msg) for t, msg in lines)
        log.write_text(text + "[2026-12-01 12:00:00,000][sim.result][INFO] - run a done\n")
    got = _sweep_phases(tmp_path, t0, t0 + 4.25)
    assert got["start_s"] == pytest.approx(1.5, abs=2e-3)
    assert got["between_s"] == pytest.approx(0.75, abs=4e-3)
    assert got["end_s"] == pytest.approx(0.25, abs=2e-3)
