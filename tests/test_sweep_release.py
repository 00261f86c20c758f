"""A sweep's launch stops its idle joblib workers as it returns
(``experiments.sweep.release_workers``), instead of leaving each to shut its interpreter down
at the interpreter's exit; one worker (jobs in the launching process) has no pool to stop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=48"]


RELEASE_AFTER_EXECUTE = """
import glob, json, os, re, sys, time
from experiments.sweep import execute

code = execute(["setup=rigid", *sys.argv[2:]], sys.argv[1], 2, 2, False)
logs = "".join(open(p).read() for p in glob.glob(sys.argv[1] + "/logs/*/*/*.log"))
pids = sorted({int(p) for p in re.findall(r"worker pid (\\d+)", logs)})

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"

deadline = time.monotonic() + 10
while any(alive(p) for p in pids) and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"code": code, "pids": pids, "alive": [p for p in pids if alive(p)]}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_command_stops_its_idle_workers_when_the_launch_is_over(tmp_path):
    """The command line's launch stops the joblib workers as it returns (they are idle),
    instead of leaving them to the interpreter's exit."""
    proc = subprocess.run(
        [sys.executable, "-c", RELEASE_AFTER_EXECUTE, str(tmp_path / "sweep"), *TINY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["code"] == 0 and got["pids"] and got["alive"] == []


def test_releasing_without_a_pool_does_nothing():
    """One worker (jobs in this process) never loads joblib's pool: nothing to stop."""
    from experiments.sweep import release_workers

    code = "import sys; from experiments.sweep import release_workers; release_workers(); "
    code += "print('joblib.externals.loky.reusable_executor' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
    release_workers()  # here too (whatever the test process loaded): no error
