"""A sweep's worker freezes what it imported once, at its first job (``freeze_worker``).

The freeze keeps the full garbage collections during the worker's runs from looking through
its imports again and again; it must happen in a launched worker only, only once (freezing
at every job would keep each job's configuration forever), and it must not move a run's
results (a run in a frozen worker writes the same bytes as one in a fresh process).
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

import sim
from experiments import sweep_task
from tests.conftest import python

SMALL = ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"]

FREEZE_TWICE = """
import gc, json, os
from experiments.sweep_task import FROZEN_ENV, freeze_worker
before = gc.get_freeze_count()
first = freeze_worker()
after_first = gc.get_freeze_count()
second = freeze_worker()
print(json.dumps({"first": first, "second": second, "before": before,
                  "after_first": after_first, "after_second": gc.get_freeze_count(),
                  "marker": os.environ.get(FROZEN_ENV), "pid": os.getpid()}))
"""


def _last_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_launched_worker_freezes_once():
    got = _last_json(python(FREEZE_TWICE, **{sweep_task.PARENT_ENV: str(os.getpid())}))
    assert got["first"] is True and got["second"] is False
    assert got["after_first"] > got["before"] + 1000  # its imports, out of the collector's sight
    assert got["after_second"] == got["after_first"]
    assert got["marker"] == str(got["pid"])


@pytest.mark.parametrize("launcher", ["", "1"])  # no launcher, or one that is not its parent
def test_nothing_frozen_outside_a_launched_worker(launcher):
    got = _last_json(python(FREEZE_TWICE, **{sweep_task.PARENT_ENV: launcher}))
    assert got["first"] is False and got["second"] is False
    assert got["after_second"] == got["before"]
    assert got["marker"] is None


def test_a_marker_inherited_from_another_process_does_not_count():
    env = {sweep_task.PARENT_ENV: str(os.getpid()), sweep_task.FROZEN_ENV: "1"}
    got = _last_json(python(FREEZE_TWICE, **env))
    assert got["first"] is True and got["marker"] == str(got["pid"])


def test_this_process_is_not_frozen_by_the_task(monkeypatch):
    monkeypatch.delenv(sweep_task.PARENT_ENV, raising=False)
    assert sweep_task.freeze_worker() is False


RUN_FROZEN = """
import hashlib, json, sys
import sim
from experiments.sweep_task import freeze_worker
from sim.model import ViralChainModel  # noqa: F401  (imported before the freeze, as in a job)
overrides = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {overrides!r}
warm = sim.run(sim.compose(None, overrides), seed=5)  # a run before: its garbage is collected
assert freeze_worker()
out = {{}}
for seed in (1, 2):
    r = sim.run(sim.compose(None, overrides), seed=seed)
    out[seed] = [hashlib.sha256(r.timeseries.to_csv().encode()).hexdigest(),
                 hashlib.sha256(r.events.to_csv().encode()).hexdigest(), json.dumps(r.kpis)]
print(json.dumps(out))
"""


def test_a_run_in_a_frozen_worker_gives_the_same_results():
    code = RUN_FROZEN.format(overrides=SMALL)
    got = _last_json(python(code, **{sweep_task.PARENT_ENV: str(os.getpid())}))
    for seed in (1, 2):
        r = sim.run(sim.compose(None, SMALL), seed=seed)
        expected = [
            hashlib.sha256(r.timeseries.to_csv().encode()).hexdigest(),
            hashlib.sha256(r.events.to_csv().encode()).hexdigest(),
            json.dumps(r.kpis),
        ]
        assert got[str(seed)] == expected


# the first job of each loky worker of a launch: was the collector off while the job's code
# was imported (unpickling it imports pandas; the job imports more), and does the freeze
# collect? (a full collection counts in gc.get_stats()[2])
FIRST_JOBS_OF_ARMED_WORKERS = """
import gc, json, os
from joblib import Parallel, delayed
from experiments.sweep import _workers_know_the_launcher

def first_job(_):
    import pandas  # noqa: F401  (a job's imports)
    from experiments.sweep_task import freeze_worker
    off = not gc.isenabled()
    full = gc.get_stats()[2]["collections"]
    froze = freeze_worker()
    return [os.getpid(), off, froze, gc.isenabled(), gc.get_stats()[2]["collections"] - full]

def jobs():
    return Parallel(n_jobs=2, backend="loky")(delayed(first_job)(i) for i in range(4))

with _workers_know_the_launcher():
    inside = jobs()
outside = jobs()
print(json.dumps({"inside": inside, "outside": outside}))
"""


def test_a_launchs_loky_worker_imports_its_first_job_with_the_collector_off():
    got = _last_json(python(FIRST_JOBS_OF_ARMED_WORKERS))
    first = [j for j in got["inside"] if j[2]]  # the job that froze its worker
    assert first, got
    for _pid, off, _froze, on_after, collections in first:
        assert off  # off from the worker's start (arm_at_start) to its first job's freeze
        assert on_after  # and on for the runs
        assert collections == 0  # frozen at once: no full collection over the imports
    assert all(j[3] for j in got["inside"])  # later jobs of the same workers: collector on
    # outside a launch loky's workers are joblib's own: collector on, nothing frozen
    assert got["outside"] and all(not off and not froze for _, off, froze, *_ in got["outside"])


COLLECTOR = """
import gc, json
from experiments.sweep_task import freeze_worker
if {collector!r} == "off":
    gc.disable()
full = gc.get_stats()[2]["collections"]
froze = freeze_worker()
print(json.dumps({{"froze": froze, "on": gc.isenabled(),
                   "collected": gc.get_stats()[2]["collections"] - full}}))
"""


@pytest.mark.parametrize("collector", ["on", "off"])
def test_the_freeze_collects_only_where_the_worker_imported_with_the_collector_on(collector):
    code = COLLECTOR.format(collector=collector)
    got = _last_json(python(code, **{sweep_task.PARENT_ENV: str(os.getpid())}))
    assert got["froze"] is True and got["on"] is True
    # a submitit local job (collector on) collects its import garbage first; a loky worker
    # (off since it started) freezes at once
    assert got["collected"] == (1 if collector == "on" else 0)


# the optimiser's confirm stage runs its runs in loky workers of a launch too
# (experiments.optimise._run_all): each run, once its job has begun, records whether the
# collector is on (the spec's ``params`` are read by sweep_task._run_one after the job's
# entry: experiments.sweep_task.enter_worker)
CONFIRM_STAGE = """
import gc, json, os, uuid
from pathlib import Path
import sim
from experiments.optimise import _run_all

class Spec:  # what sweep_task._run_one reads of a sweep's spec
    sweep_id, platforms = "probe", ()
    def __init__(self, where):
        self.where = where
    @property
    def params(self):
        Path(self.where, uuid.uuid4().hex).write_text(json.dumps([os.getpid(), gc.isenabled()]))
        return {{}}

sweep_dir, seen = Path({sweep_dir!r}), Path({seen!r})
todo = [(sim.compose(None, {overrides!r} + [f"seed={{s}}"]).to_dict(), {{}}, f"run {{s}}")
        for s in range(4)]
got = _run_all(todo, sweep_dir, Spec(str(seen)), 2)
jobs = [json.loads(f.read_text()) for f in seen.iterdir()]
print(json.dumps({{"status": [g["status"] for g in got], "jobs": jobs, "me": os.getpid()}}))
"""


def test_the_optimisers_confirm_stage_runs_with_the_collector_on(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "seen").mkdir()
    code = CONFIRM_STAGE.format(
        overrides=SMALL, sweep_dir=str(tmp_path / "sweep"), seen=str(tmp_path / "seen")
    )
    got = _last_json(python(code))
    assert got["status"] == ["ok"] * 4
    assert len(got["jobs"]) == 4
    assert all(pid != got["me"] for pid, _ in got["jobs"])  # in the launch's workers
    assert all(on for _, on in got["jobs"]), got  # not off as the worker started (arm_at_start)
