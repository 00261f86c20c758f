"""A launch's joblib/loky workers are armed to die with the launcher as they start.

Armed only at their first job (``run_job``), workers still importing their first job's code,
or idle, outlived a killed launcher (``tests/test_faults.py`` kills one in that window). The
launcher registers joblib's ``loky`` backend with an initializer
(:func:`experiments.sweep.arm_loky_workers`, :func:`experiments.sweep_task.arm_at_start`):
every worker is armed (``PR_SET_PDEATHSIG``) before it unpickles its first job; outside a
launch, loky's workers are joblib's own.
"""

from __future__ import annotations

import json
import signal
import sys

import pytest

from tests.conftest import python

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG"),
    pytest.mark.xdist_group("sweep"),
]

# each job reports its worker's parent-death signal as the job starts
PDEATHSIG_OF_WORKERS = """
import ctypes, json, os
from joblib import Parallel, delayed
from experiments.sweep import _workers_know_the_launcher

def pdeathsig(_):
    sig = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
    return os.getpid(), sig.value

def workers():
    return sorted(set(Parallel(n_jobs=2, backend="loky")(delayed(pdeathsig)(i) for i in range(4))))

with _workers_know_the_launcher():
    inside = workers()
outside = workers()
from joblib.parallel import BACKENDS
print(json.dumps({"inside": inside, "outside": outside, "me": os.getpid(),
                  "after": BACKENDS["loky"].__name__}))
"""


def test_loky_workers_of_a_launch_are_armed_before_their_first_job():
    proc = python(PDEATHSIG_OF_WORKERS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["inside"] and {sig for _, sig in got["inside"]} == {int(signal.SIGKILL)}
    # outside a launch the backend is joblib's own: no initializer, nothing armed
    assert got["outside"] and {sig for _, sig in got["outside"]} == {0}
    assert not {pid for pid, _ in got["inside"]} & {pid for pid, _ in got["outside"]}
    # and after the launch "loky" is joblib's own backend again, not the armed one
    assert got["after"] == "LokyBackend"


def test_a_worker_orphaned_before_it_armed_exits_at_once():
    # its parent is not the launcher it was started by (pid 1 here): the launcher is gone
    proc = python("from experiments.sweep_task import arm_at_start\narm_at_start(1)\nprint('on')")
    assert proc.returncode == 1 and "on" not in proc.stdout


def test_a_worker_of_a_live_launcher_arms_and_carries_on():
    code = (
        "import ctypes, os\nfrom experiments.sweep_task import arm_at_start\n"
        "arm_at_start(os.getppid())\nsig = ctypes.c_int()\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)\nprint(sig.value)"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) == int(signal.SIGKILL)
