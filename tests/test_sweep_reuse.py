"""A sweep's launcher jobs reuse the plan's compositions (``ReusingConfigLoader``).

Hydra's launchers compose every job's config where it runs (``load_sweep_config``); the
sweeper hands them a loader that makes it from the plan's composition of the job's config
groups instead (:func:`experiments.sweep_plan.job_config`). The config must be Hydra's to
the byte: the same keys, values, order, node types, flags and resolver cache (compared as
pickles), and the same ``.hydra/`` files and runs in the sweep directory.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

from experiments import sweep_store as store
from experiments.sweep import launch, plan_sweep
from experiments.sweep_plan import job_config
from hydra_plugins.viralchain_sweeper.viralchain_sweeper import ReusingConfigLoader

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]


@pytest.fixture(scope="module")
def planned():
    """A plan over two setups and two forecasts (four group combinations), Hydra's own
    loader, and the master config."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    from experiments.compose import scenarios_dir

    master, plan = plan_sweep(
        [
            "setup=rigid,flexible",
            "policy/forecast=moving_average,exp_smoothing",
            "policy.safety_stock.days_of_cover=1,4",
            *TINY,
        ],
        replications=2,
    )
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(scenarios_dir())))
    return master, plan, loader


def _same_as_hydra(loader, plan, master, overrides: list[str]) -> bool:
    made = job_config(loader, plan.bases, master, overrides)
    assert made is not None, overrides
    hydra = loader.load_sweep_config(master, overrides)
    return pickle.dumps(made) == pickle.dumps(hydra)


@pytest.mark.parametrize(
    "overrides",
    [
        ["setup=rigid", "policy/forecast=moving_average", "+viralchain_replications=[0,1]"],
        ["setup=flexible", "policy/forecast=exp_smoothing", "replication=3"],
        # values between and before the groups: the task list keeps the job's order
        [
            "market.n_consumers=2000",
            "setup=rigid",
            "policy.safety_stock.days_of_cover=4",
            "policy/forecast=exp_smoothing",
            "run.horizon_hours=240",
            "+viralchain_replications=[5]",
        ],
        # a value that replaces a group's, a forced add, a new dict
        [
            "setup=flexible",
            "++seed=7",
            "policy/forecast=moving_average",
            "+extra={a: 1, b: [2, 3]}",
            "policy.safety_stock.days_of_cover=2.5",
        ],
        # a dict over an existing dict: merged into it, not put in its place
        ["setup=rigid", "policy/forecast=exp_smoothing", "market={n_consumers: 3}"],
    ],
)
def test_a_job_config_is_hydras_to_the_byte(planned, overrides):
    master, plan, loader = planned
    assert _same_as_hydra(loader, plan, master, overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        ["setup=rigid"],  # no composition of these groups alone (the plan has pairs)
        ["policy/forecast=moving_average", "setup=rigid"],  # nor in this order
        ["setup=rigid", "policy/forecast=moving_average", "~seed"],  # a deletion
        ["setup=rigid", "policy/forecast=moving_average", "+seed=3"],  # Hydra refuses it
        ["setup=rigid", "policy/forecast=moving_average", "no_such.key=1"],  # Hydra refuses
        ["setup=rigid", "policy/forecast=moving_average", "hydra.job.chdir=true"],
        # the whole hydra node as one value: Hydra's to read (env_copy, the directory)
        ["setup=rigid", "policy/forecast=moving_average", "hydra={job: {env_copy: [HOME]}}"],
        ["setup=rigid", "policy/forecast=moving_average", "hydra={job: {chdir: true}}"],
    ],
)
def test_what_it_cannot_make_is_left_to_hydra(planned, overrides):
    master, plan, loader = planned
    assert job_config(loader, plan.bases, master, overrides) is None


def test_a_package_on_a_value_is_hydras_error(planned):
    """``key@package=v`` on a key that is not a config group: Hydra refuses it."""
    from hydra.errors import HydraException

    master, plan, loader = planned
    job = ["setup=rigid", "policy/forecast=moving_average", "seed@x=1"]
    assert job_config(loader, plan.bases, master, job) is None
    with pytest.raises(HydraException):
        loader.load_sweep_config(master, job)


def test_the_masters_resolver_cache_of_the_job_is_copied(planned):
    """The master's resolver cache as it is when the job is made (an entry added after the
    plan was composed), as Hydra copies it."""
    import copy

    from omegaconf import OmegaConf

    master, plan, loader = planned
    later = copy.deepcopy(master)
    OmegaConf.set_cache(later, {"oc.env": {("VIRALCHAIN_TEST",): "after the plan"}})
    job = ["setup=flexible", "policy/forecast=exp_smoothing", "replication=2"]
    assert _same_as_hydra(loader, plan, later, job)
    made = job_config(loader, plan.bases, later, job)
    assert OmegaConf.get_cache(made) == OmegaConf.get_cache(later)


def test_the_loader_serves_jobs_from_the_plan_and_falls_back_to_hydra(planned):
    # its own plan and loader, made now: a plugin scan in an earlier test of this process
    # may have imported Hydra's config classes again since the module's plan was made (the
    # compositions would then not pickle, and the loader would rightly ship nothing)
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    from experiments.compose import scenarios_dir

    master, plan = plan_sweep(["setup=rigid,flexible", "policy/forecast=exp_smoothing", *TINY])
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(scenarios_dir())))
    job = ["setup=rigid", "policy/forecast=exp_smoothing", "+viralchain_replications=[0,1]"]
    reusing = ReusingConfigLoader(loader)
    reusing.load_sweep_config(master, job)
    assert reusing.reused == 0  # not told the plan's compositions yet: Hydra composes
    reusing.reuse(master, plan.bases)
    # pickled with every job, as joblib's loky sends it to a worker: with cloudpickle (plain
    # pickle refuses Hydra's config sources once a plugin scan in this process has imported
    # their module again, as an earlier test's in-process launch may have done)
    worker = pickle.loads(cloudpickle.dumps(reusing))
    made = worker.load_sweep_config(pickle.loads(pickle.dumps(master)), job)
    assert worker.reused == 1
    assert pickle.dumps(made) == pickle.dumps(loader.load_sweep_config(master, job))
    # what it cannot make, Hydra makes (and raises what Hydra raises)
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        worker.load_sweep_config(master, [*job[:2], "no_such.key=1"])
    assert worker.reused == 1
    # Hydra's other calls and attributes are Hydra's loader's
    assert worker.get_sources() and worker.repository is not None
    assert worker.list_groups("policy") == loader.list_groups("policy")


def test_another_master_or_too_many_combinations_compose_in_full(planned, monkeypatch):
    import copy

    from omegaconf import open_dict

    from experiments import sweep_plan

    master, plan, loader = planned
    job = ["setup=flexible", "policy/forecast=moving_average", "replication=1"]
    reusing = ReusingConfigLoader(loader)
    reusing.reuse(master, plan.bases)
    other = copy.deepcopy(master)
    with open_dict(other):
        other.hydra.overrides.hydra.append("hydra.job.chdir=false")
    reusing.load_sweep_config(other, job)
    assert reusing.reused == 0
    monkeypatch.setattr(sweep_plan, "MAX_SHIPPED_BASES", len(plan.bases) - 1)
    reusing.reuse(master, plan.bases)
    assert reusing.bases == {}
    reusing.load_sweep_config(master, job)
    assert reusing.reused == 0


def test_what_hydra_reads_from_the_process_must_not_have_changed(planned, monkeypatch, tmp_path):
    """Hydra notes the working directory as it composes, and copies the variables
    ``hydra.job.env_copy`` names: a job composed elsewhere, or such a config, is Hydra's."""
    import copy

    from omegaconf import open_dict

    master, plan, loader = planned
    job = ["setup=rigid", "policy/forecast=moving_average", "replication=0"]
    assert job_config(loader, plan.bases, master, job) is not None
    monkeypatch.chdir(tmp_path)
    assert job_config(loader, plan.bases, master, job) is None
    monkeypatch.undo()
    bases = {k: copy.deepcopy(v) for k, v in plan.bases.items()}
    for base in bases.values():
        with open_dict(base):
            base.hydra.job.env_copy.append("HOME")
    assert job_config(loader, bases, master, job) is None


def _hydra_files(sweep_dir: Path) -> dict[str, str]:
    """Every job's ``.hydra/*.yaml``, with the sweep directory and launch time named."""
    out = {}
    for path in sorted(sweep_dir.glob("logs/*/*/.hydra/*.yaml")):
        stamp, job = path.parts[-4], path.parts[-3]
        text = path.read_text().replace(str(sweep_dir), "SWEEP").replace(stamp, "STAMP")
        out[f"{job}/{path.name}"] = text
    return out


def test_a_sweep_writes_the_same_files_with_and_without_reuse(tmp_path, monkeypatch):
    """One worker (the jobs run in this process): the launcher jobs' configs come from the
    plan's compositions (no Hydra composition in a job), and the sweep directory holds the
    same ``.hydra/`` files and the same runs as when Hydra composes each job."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from experiments import sweep_plan

    calls = []
    hydras = ConfigLoaderImpl.load_sweep_config

    def counted(self, master, overrides):
        calls.append(list(overrides))
        return hydras(self, master, overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counted)
    args = ["setup=rigid,flexible", *TINY]
    reused = launch(args, tmp_path / "reused", replications=2, n_jobs=1)
    assert reused.exit_code == 0
    assert calls == [["setup=rigid"], ["setup=flexible"]]  # the plan's two, no job's
    calls.clear()
    monkeypatch.setattr(sweep_plan, "MAX_SHIPPED_BASES", 0)
    composed = launch(args, tmp_path / "composed", replications=2, n_jobs=1)
    assert composed.exit_code == 0
    assert len(calls) == 4  # the plan's two, then one a launcher job
    a, b = _hydra_files(tmp_path / "reused"), _hydra_files(tmp_path / "composed")
    assert len(a) == 6 and a == b

    def runs(d: Path) -> pd.DataFrame:
        df = store.read_table(d, "runs").drop(columns=["wall_seconds", "sweep_id"])
        return df.sort_values("run_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(runs(tmp_path / "reused"), runs(tmp_path / "composed"))


SPY = '''
"""Test hook: each process of a sweep notes the jobs Hydra composes (``load_sweep_config``)
in $SPY_DIR/<pid>; with $NO_REUSE set, the sweep ships no compositions to its jobs."""
import importlib.abc, importlib.util, os, sys

_DIR = os.environ.get("SPY_DIR", "")


def _spy(module):
    orig = module.ConfigLoaderImpl.load_sweep_config

    def counted(self, master, overrides):
        with open(os.path.join(_DIR, str(os.getpid())), "a") as f:
            f.write(" ".join(overrides) + "\\n")
        return orig(self, master, overrides)

    module.ConfigLoaderImpl.load_sweep_config = counted


def _no_reuse(module):
    if os.environ.get("NO_REUSE"):
        module.MAX_SHIPPED_BASES = 0


_AFTER = {"hydra._internal.config_loader_impl": _spy, "experiments.sweep_plan": _no_reuse}


class _Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _AFTER:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        real = spec.loader.exec_module

        def exec_module(module):
            real(module)
            _AFTER[name](module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Spy())
'''


def test_two_workers_compose_nothing_and_write_the_same_files(tmp_path):
    """The real command on two workers (loky processes, the loader pickled with each job):
    only the command composes (the plan's two compositions); the jobs' ``.hydra/`` files
    and runs are those of the same sweep with every job composed by Hydra."""
    import os
    import subprocess

    from tests.conftest import VIRALCHAIN

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SPY)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    outs = {}
    for name, extra in (("reused", {}), ("composed", {"NO_REUSE": "1"})):
        spy = tmp_path / f"spy-{name}"
        spy.mkdir()
        out = tmp_path / name
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": path, "SPY_DIR": str(spy)}
        cmd = [VIRALCHAIN, "run", "-m", "setup=rigid,flexible", "replication=range(0,4)", *TINY]
        proc = subprocess.run(
            [*cmd, "--jobs", "2", "--out", str(out)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        outs[name] = (out, {p.name: p.read_text().splitlines() for p in spy.iterdir()})
    (reused, calls), (composed, calls_composed) = outs["reused"], outs["composed"]
    assert list(calls.values()) == [["setup=rigid", "setup=flexible"]]  # the command's only
    assert len(calls_composed) == 3  # the command, and each worker composing its jobs
    a, b = _hydra_files(reused), _hydra_files(composed)
    assert len(a) == 12 and a == b  # 4 launcher jobs of 2 runs, 3 files each

    def runs(d: Path) -> pd.DataFrame:
        df = store.read_table(d, "runs").drop(columns=["wall_seconds", "sweep_id"])
        return df.sort_values("run_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(runs(reused), runs(composed))


def test_compositions_pickle_refuses_leave_every_job_to_hydra(planned, monkeypatch):
    """A plugin scan that imported Hydra's config classes again in this process (plain
    pickle then refuses the classes the plan's compositions hold): nothing is shipped and
    Hydra composes the job, the same config."""
    master, plan, loader = planned

    def refused(obj, *args, **kwargs):  # what pickle says of a class imported again
        raise pickle.PicklingError("Can't pickle <class ...>: it's not the same object as ...")

    reusing = ReusingConfigLoader(loader)
    with monkeypatch.context() as mp:
        mp.setattr(pickle, "dumps", refused)
        reusing.reuse(master, plan.bases)
    assert reusing.bases == {} and reusing.master_key is None
    job = ["setup=rigid", "policy/forecast=exp_smoothing", "+viralchain_replications=[0,1]"]
    made = reusing.load_sweep_config(master, job)
    assert reusing.reused == 0
    assert made == loader.load_sweep_config(master, job)
