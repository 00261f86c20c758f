"""A parallel sweep's workers start ahead of its launch (``experiments.sweep_task.Prestart``).

The ``viralchain`` command reads from its command line that it launches a parallel sweep on
the joblib launcher (``experiments.cli.sweep_workers``) and starts the workers in a thread
while it imports, composes and plans; the launch reuses them (joblib keeps its loky pool
while the launcher's settings are those it was made with). The sweep's files are the same
as with one worker (``tests/test_sweep.py``'s two-worker fixture runs through it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments.cli import sweep_workers
from tests.conftest import ROOT, cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=48"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "-m", "setup=rigid,flexible"], -1),  # the launcher's default: every core
        (["run", "--multirun", "setup=rigid,flexible", "--jobs", "2"], 2),
        (["-v", "run", "-m", "seed=1,2", "--jobs=3"], 3),
        (["run", "-m", "seed=1,2", "hydra.launcher.n_jobs=2"], 2),
        (["run", "-m", "seed=1,2", "hydra.launcher.n_jobs=4", "--jobs", "2"], 2),  # --jobs wins
        (["sweep", "smoke"], -1),
        (["sweep", "--out", "somewhere", "smoke", "--jobs", "2"], 2),
        (["resume", "outputs/sweeps/smoke", "--jobs", "2"], 2),
        # no parallel sweep on the joblib launcher, or not known before parsing: none
        (["run", "setup=rigid"], None),  # one run
        (["run", "-m", "seed=1,2", "--jobs", "1"], None),  # one worker: in this process
        (["run", "-m", "seed=1,2", "--jobs", "0"], None),  # refused (exit 2)
        (["run", "-m", "seed=1,2", "--jobs", "-3"], None),
        (["run", "-m", "seed=1,2", "--jobs", "two"], None),
        (["sweep"], None),  # lists the sweep files
        (["sweep", "--out", "somewhere"], None),
        (["resume", "outputs/sweeps/smoke"], None),  # its launch is in sweep.json
        (["run", "-m", "seed=1,2", "hydra/launcher=submitit_local"], None),
        (["run", "-m", "seed=1,2", "hydra.launcher.batch_size=2"], None),
        (["run", "-m", "seed=1,2", "hydra/sweeper=basic"], None),
        (["run", "-m", "seed=1,2", "hydra.sweeper.dry_run=true"], None),
        (["run", "-m", "+optimise=safety_rush"], None),
        (["report", "outputs/sweeps/smoke"], None),
        ([], None),
    ],
)
def test_the_command_line_says_how_many_workers_to_start(monkeypatch, argv, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert sweep_workers(argv) == expected


def test_every_core_on_a_single_core_machine_is_one_worker(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert sweep_workers(["run", "-m", "seed=1,2"]) is None
    assert sweep_workers(["run", "-m", "seed=1,2", "--jobs", "2"]) == 2


def test_the_pool_is_made_with_the_joblib_launchers_own_settings():
    """What the launcher hands ``joblib.Parallel`` for viralchain's config (its
    ``hydra.launcher`` node, instantiated by Hydra, the backend set as the launcher sets it)
    is what the pool is made with: otherwise joblib would not reuse it."""
    from hydra.utils import instantiate
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    from experiments.sweep import plan_sweep
    from experiments.sweep_task import joblib_settings

    for n_jobs in (2, -1):
        master, _ = plan_sweep(["setup=rigid", f"hydra.launcher.n_jobs={n_jobs}", *TINY])
        launcher = instantiate(master.hydra.launcher)
        settings = dict(launcher.joblib)
        settings["backend"] = "loky"  # hydra_joblib_launcher._core.launch
        process_joblib_cfg(settings)
        assert settings == joblib_settings(n_jobs)


LAUNCH_WITH_PRESTART = """
import glob, io, json, re, sys
from experiments.sweep import launch
from experiments.sweep_task import Prestart

prestart = Prestart(2)
outcome = launch(["setup=rigid,flexible", *sys.argv[2:]], sys.argv[1], replications=2,
                 n_jobs=2, stream=io.StringIO(), prestart=prestart)
logs = "".join(open(p).read() for p in glob.glob(sys.argv[1] + "/logs/*/*/*.log"))
print(json.dumps({"ok": outcome.ok, "warmed": prestart.pids, "error": prestart.error,
                  "ran_in": sorted({int(p) for p in re.findall(r"worker pid (\\d+)", logs)})}))
"""


def test_the_launch_runs_its_jobs_in_the_prestarted_workers(tmp_path):
    """The workers warmed up ahead are the ones the jobs run in (joblib reused its pool)."""
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCH_WITH_PRESTART, str(tmp_path / "sweep"), *TINY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["ok"] == 4 and got["error"] == ""
    assert len(got["warmed"]) == 2 and got["ran_in"] and set(got["ran_in"]) <= set(got["warmed"])


HOLD_PRESTARTED = """
import json, time
from experiments.sweep_task import Prestart

prestart = Prestart(2)
prestart.join()
time.sleep(0.5)  # the thread that started the workers has done its part
print(json.dumps({"pids": prestart.pids, "error": prestart.error}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_prestarted_workers_live_while_the_launcher_lives_and_die_with_it():
    """Linux kills an armed worker when the *thread* that started it ends: the prestart's
    thread stays, so its workers live on after their warm-up, and die with the process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_PRESTARTED], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        got = json.loads(proc.stdout.readline())
        assert got["error"] == "" and len(got["pids"]) == 2
        assert all(_alive(pid) for pid in got["pids"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in got["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in got["pids"])


def test_bad_input_with_prestarted_workers_exits_2_and_writes_nothing(tmp_path):
    """The workers start before the command line is checked; a bad one still ends in one
    line and exit 2, with nothing written."""
    out = tmp_path / "sweep"
    for args in (
        ["run", "-m", "setup=rigid,nosuch", "--jobs", "2"],
        ["run", "-m", "setup=rigid,flexible", "market.n_consumers=-5", "--jobs", "2"],
        ["run", "-m", "setup=rigid,flexible", "--jobs", "2", "--replications", "0"],
    ):
        proc = cli(*args, "--out", str(out), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("viralchain: ")
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


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


WARM_IMPORTS = """
import json, os, sys
from experiments.sweep_task import WORKER_MODULES, warm_imports

before = os.getpriority(os.PRIO_PROCESS, 0)
ran_at = warm_imports()
print(json.dumps({"ran_at": ran_at, "before": before,
                  "after": os.getpriority(os.PRIO_PROCESS, 0),
                  "missing": [m for m in WORKER_MODULES if m not in sys.modules]}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's priority: Linux")
def test_the_warm_up_imports_at_the_lowest_priority_and_the_worker_keeps_its_own():
    """The warm-up's imports run in a thread at niceness 19 (they take only spare CPU, never
    the launching process's); the thread that runs the jobs keeps its priority."""
    proc = subprocess.run(
        [sys.executable, "-c", WARM_IMPORTS], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["missing"] == []
    assert got["ran_at"] == 19 and got["after"] == got["before"] < 19


def test_a_failed_warm_up_import_is_raised_in_the_worker(monkeypatch):
    """An import that fails in the warm-up's thread fails the warm-up task (the prestart
    records it and the launch starts its own workers), not silently."""
    from experiments import sweep_task

    monkeypatch.setattr(sweep_task, "WORKER_MODULES", ("experiments.no_such_module",))
    with pytest.raises(ModuleNotFoundError):
        sweep_task.warm_imports()
