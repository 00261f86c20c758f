"""Sweeps under faults: a killed parent, a killed worker, a full disk, two launches at once,
damaged files. Each asserts that nothing is lost (every run ends finished, or recorded as
failed with its reason, or is run by ``resume``) and nothing is duplicated (one file per run
and table, each run id once).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

from experiments import sweep_store as store
from tests.conftest import VIRALCHAIN, cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=300", "run.horizon_hours=24"]
# runs long enough (about a second each) to be caught in flight
BUSY = ["market.n_consumers=20000", "run.horizon_hours=720"]


def _files(sweep_dir: Path, table: str) -> list[Path]:
    return sorted((sweep_dir / table).rglob("*.parquet"))


def _assert_complete(sweep_dir: Path, runs: int) -> None:
    """Every run once in every table, every file readable, hive readers agree."""
    for table in store.TABLES:
        files = _files(sweep_dir, table)
        assert len(files) == runs, (table, len(files))
        assert len({f.name for f in files}) == runs  # no run twice
        for f in files:
            pq.read_metadata(f)
        pds.dataset(sweep_dir / table, partitioning="hive").to_table()
    df = store.read_table(sweep_dir, "runs")
    assert len(df) == runs and df["run_id"].is_unique and set(df["status"]) == {"ok"}
    assert not list(sweep_dir.rglob(".*.tmp"))


def _group_alive(pgid: int) -> list[str]:
    """Processes still alive in a process group (zombies excluded)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(text.split(")")[0])
    return alive


def _launch(out: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [VIRALCHAIN, "run", "-m", *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: we can see every child it leaves
        env={**os.environ, **(env or {})},
    )


def _with_path(hook: Path) -> str:
    """PYTHONPATH with the hook first and the caller's entries after it: the child runs the
    tree under test (a copy's, an exported revision's), not whatever the venv points to."""
    return os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)


def _wait_for(predicate, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ----------------------------------------------------------------------------- parent killed


def test_killing_the_parent_leaves_no_process_and_resume_runs_only_the_missing(tmp_path):
    out = tmp_path / "sw"
    args = ["setup=rigid,flexible", "replication=range(0,4)", *BUSY, "--jobs", "2"]
    proc = _launch(out, *args)
    assert _wait_for(lambda: len(_files(out, "runs")) >= 1), proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _wait_for(lambda: not _group_alive(proc.pid), 15), _group_alive(proc.pid)
    done = {f.name for f in _files(out, "runs")}
    assert 1 <= len(done) < 8
    for f in _files(out, "runs"):  # what finished is whole
        assert pq.read_table(f).column("status").to_pylist()[0] == "ok"
    res = cli("resume", str(out), "--jobs", "2")
    assert res.returncode == 0, res.stderr
    assert f"{len(done)} already done, {8 - len(done)} to run" in res.stderr
    _assert_complete(out, 8)


HOLD_BEFORE_FIRST_JOB = '''
"""Test hook: a sweep's worker holds at the import of the joblib launcher's job code (the
first thing its first job unpickles) until its launching process is gone."""
import importlib.abc, os, sys, time

_LAUNCHER = os.environ.get("VIRALCHAIN_LAUNCHER_PID", "")
_HOLD_DIR = os.environ.get("HOLD_DIR", "")

class _Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "hydra_plugins.hydra_joblib_launcher._core" and _LAUNCHER.isdigit():
            if os.getppid() == int(_LAUNCHER):  # a worker of the launch
                open(os.path.join(_HOLD_DIR, str(os.getpid())), "w").close()
                end = time.monotonic() + 60
                while os.getppid() == int(_LAUNCHER) and time.monotonic() < end:
                    time.sleep(0.02)
                time.sleep(0.5)  # the launcher is gone: carry on (if still alive)
        return None

sys.meta_path.insert(0, _Hold())
'''


def test_a_parent_killed_while_its_workers_start_leaves_no_process(tmp_path):
    """Workers are armed when they start, not at their first job: a launcher killed while
    its workers still import their first job's code leaves none of them running (before
    the fix they went on to run the queued jobs, then idled for loky's 300 s)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_BEFORE_FIRST_JOB)
    held = tmp_path / "held"
    held.mkdir()
    out = tmp_path / "sw"
    env = {"PYTHONPATH": _with_path(hook), "HOLD_DIR": str(held)}
    proc = _launch(
        out, "setup=rigid,flexible", "replication=range(0,4)", *TINY, "--jobs", "2", env=env
    )
    try:
        assert _wait_for(lambda: len(list(held.iterdir())) >= 2), proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _wait_for(lambda: not _group_alive(proc.pid), 15), _group_alive(proc.pid)
        assert not _files(out, "runs")  # no worker ran a job for the dead launch
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- worker killed


def test_a_worker_killed_from_outside_loses_no_run(tmp_path):
    out = tmp_path / "sw"
    proc = _launch(out, "setup=rigid,flexible", "replication=range(0,4)", *BUSY, "--jobs", "2")
    running = out / ".running"
    assert _wait_for(lambda: running.is_dir() and any(running.iterdir())), proc.communicate()
    marker = next(running.iterdir())
    os.kill(int(marker.read_text()), signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "a worker process died" in err and "Traceback" not in err
    _assert_complete(out, 8)
    spec = json.loads((out / "sweep.json").read_text())
    assert spec["launches"][-1]["worker_deaths"]


SITECUSTOMIZE = '''
"""Test hook: a run of replication 1 kills its own worker (a crash in native code)."""
import importlib.abc, os, sys

class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "sim.result":
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            run = module.run
            def killing_run(config, seed=0, **kw):
                if getattr(config, "replication", None) == 1 and os.environ.get("KILL_REP1"):
                    os.kill(os.getpid(), 9)
                return run(config, seed, **kw)
            module.run = killing_run
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Hook())
'''


def test_a_run_that_kills_its_worker_is_recorded_failed_and_the_rest_complete(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = tmp_path / "sw"
    env = {"PYTHONPATH": _with_path(hook), "KILL_REP1": "1"}
    proc = _launch(
        out, "setup=rigid,flexible", "replication=range(0,3)", *TINY, "--jobs", "2", env=env
    )
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    runs = store.read_table(out, "runs")
    assert len(runs) == 6 and runs["run_id"].is_unique
    failed = runs[runs["status"] == "failed"]
    assert sorted(failed["replication"]) == [1, 1]
    assert all("worker process died" in e for e in failed["error"])
    assert set(runs.loc[runs["status"] == "ok", "replication"]) == {0, 2}
    # without the fault, resume runs exactly the two failed runs
    res = cli("resume", str(out), "--jobs", "2")
    assert res.returncode == 0, res.stderr
    assert "4 already done, 2 to run" in res.stderr
    _assert_complete(out, 6)


# ----------------------------------------------------------------------------- disk full


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return False
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return r.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize(
    "size",
    [
        pytest.param("64k", marks=pytest.mark.slow),
        "400k",
        pytest.param("1200k", marks=pytest.mark.slow),
    ],
)
def test_a_full_disk_fails_cleanly_and_resume_finishes(tmp_path, size):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, size):
        pytest.skip("cannot mount a tmpfs here (test_a_full_disk_simulated covers ENOSPC)")
    try:
        out = disk / "sw"
        args = ["setup=rigid,flexible", "replication=range(0,4)", *TINY, "--jobs", "1"]
        res = cli("run", "-m", *args, "--out", str(out))
        if res.returncode == 0:  # it fitted: nothing to check at this size
            _assert_complete(out, 8)
            return
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert "No space left on device" in res.stderr
        assert not list(disk.rglob(".*.tmp"))  # no temporary file left behind
        for table in store.TABLES:  # what was written is whole
            for f in _files(out, table):
                pq.read_metadata(f)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        res = (
            cli("resume", str(out), "--jobs", "1")
            if (out / "sweep.json").exists()
            else cli("run", "-m", *args, "--out", str(out))
        )
        assert res.returncode == 0, res.stderr
        _assert_complete(out, 8)
    finally:
        _umount(disk)


def test_a_full_disk_simulated_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    """ENOSPC from the parquet writer half-way through a run's files: exit 1, one line,
    and the output directory is not made at all."""
    import pyarrow.parquet

    from experiments.cli import main

    real = pyarrow.parquet.write_table
    calls = []

    def full(table, where, *a, **k):
        calls.append(where)
        if len(calls) == 2:
            Path(where).write_bytes(b"PAR1 half")  # a partial temporary file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(table, where, *a, **k)

    monkeypatch.setattr(pyarrow.parquet, "write_table", full)
    monkeypatch.chdir(tmp_path)
    code = main(["run", *TINY, "--out", "out"])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing: no out/, no stage


# ----------------------------------------------------------------------------- concurrency


def test_two_launches_into_one_directory_never_run_a_run_twice(tmp_path):
    out = tmp_path / "sw"
    args = ["setup=rigid,flexible", "replication=range(0,4)", *BUSY, "--jobs", "1"]
    procs = [_launch(out, *args) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errs = "\n".join(e for _, e in results)
    assert "Traceback" not in errs and "FileNotFoundError" not in errs
    assert codes in ([0, 0], [0, 2]), errs
    if codes == [0, 2]:
        assert "in use by another launch" in errs
    _assert_complete(out, 8)
    spec = json.loads((out / "sweep.json").read_text())
    assert len(spec["launches"]) == codes.count(0)  # no launch record lost
    # each run was computed once: run logs name each run id once as "ok in"
    oks = [
        line
        for log in (out / "logs").rglob("run.log")
        for line in log.read_text().splitlines()
        if " ok in " in line
    ]
    assert len(oks) == 8


def test_a_held_lock_refuses_a_second_launch(tmp_path):
    out = tmp_path / "sw"
    res = cli("run", "-m", "setup=rigid,flexible", *TINY, "--jobs", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    with store.locked(out):
        res = cli("resume", str(out), "--jobs", "1")
    assert res.returncode == 2 and "in use by another launch" in res.stderr
    assert "Traceback" not in res.stderr


# ----------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    ("table", "damage"),
    [
        ("timeseries", "truncate"),
        pytest.param("events", "garbage", marks=pytest.mark.slow),
        pytest.param("runs", "truncate", marks=pytest.mark.slow),
        pytest.param("runs", "rm", marks=pytest.mark.slow),
    ],
)
def test_resume_reruns_exactly_the_damaged_run(tmp_path, table, damage):
    out = tmp_path / "sw"
    args = ["setup=rigid,flexible", "replication=range(0,2)", *TINY, "--jobs", "1"]
    res = cli("run", "-m", *args, "--out", str(out))
    assert res.returncode == 0, res.stderr
    victim = _files(out, table)[0]
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    elif damage == "garbage":
        victim.write_bytes(b"garbage")
    else:
        victim.unlink()
    (victim.parent / f".{victim.name}.999.tmp").write_bytes(b"left by a killed writer")
    rep = cli("report", str(out))
    assert rep.returncode == (2 if damage != "rm" else 0), rep.stderr
    res = cli("resume", str(out), "--jobs", "1")
    assert res.returncode == 0, res.stderr
    assert "3 already done, 1 to run" in res.stderr
    _assert_complete(out, 4)


def test_a_row_count_that_differs_from_the_marker_reruns_the_run(tmp_path):
    out = tmp_path / "sw"
    res = cli("run", "-m", "setup=rigid,flexible", *TINY, "--jobs", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    victim = _files(out, "timeseries")[0]
    table = pq.read_table(victim)
    assert table.num_rows > 1
    pq.write_table(table.slice(0, table.num_rows - 1), victim)  # readable, a row missing
    run_id = victim.stem
    story, setup = (p.name.split("=", 1)[1] for p in (victim.parent.parent, victim.parent))
    assert store.verify_run(out, story, setup, run_id) is None
    res = cli("resume", str(out), "--jobs", "1")
    assert res.returncode == 0 and "1 already done, 1 to run" in res.stderr, res.stderr
    _assert_complete(out, 2)


def test_sweep_and_cli_do_not_import_each_other():
    """Issue 13: no import cycle between experiments/cli.py and experiments/sweep.py
    (neither by ``import`` statements nor by module names in strings)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "experiments"

    def imported(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("experiments.")
            ):
                names.add(node.value)
        return names

    assert not {n for n in imported("sweep") if n.startswith("experiments.cli")}
    assert "experiments.sweep" in imported("cli")
    code = "import experiments.sweep, sys; assert 'experiments.cli' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
