"""``python -m benchmarks.ab --only many``: benchmark 11's sweep, before and after side by side
(quick sizes here: it runs and reports; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.suite import ROOT


def test_many_short_runs_side_by_side(tmp_path):
    out = tmp_path / "ab.json"
    args = ["--before", "HEAD", "--only", "many", "--rounds", "1", "--quick", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [r["measure"] for r in report["rows"]] == [
        "sweep, wall",
        "sweep, CPU (all processes)",
        "runs' own time, summed",
    ]
    for side in ("before", "after"):
        (m,) = report["raw"]["many"][side]
        assert m["runs"] == 6 and m["cpu_s"] > 0 and 0 < m["run_seconds_sum"] < m["wall_s"] * 2
    assert report["table"] in proc.stdout
