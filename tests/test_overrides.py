"""No override, from a user or from a sweep directory, can name code to run or a file to load."""

from __future__ import annotations

import json

import pytest

import sim
from experiments.overrides import check, problems
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=300", "run.horizon_hours=24"]
GROUPS = ["story", "setup", "sweep", "market"]


@pytest.mark.parametrize(
    "override",
    [
        "hydra.launcher._target_=os.system",
        "+hydra.callbacks.x={_target_: builtins.open, _args_: [/tmp/x, w]}",
        "hydra.launcher.backend={_target_: os.system}",
        "hydra.searchpath=[file:///tmp]",
        "+hydra.job.env_set.X=1",
        "hydra.sweep.subdir=../../x",
        "+x._target_=os.system",
        "+x={_partial_: true}",
        "policy/rush=../../setup/rigid",
        "story=/etc/passwd",
        "setup=rigid,../x",
        "hydra/launcher=../../../tmp/x",
        "+sweep=../story/two_brands",
        "story=glob(*,exclude=../x)",
        "story=glob(../*)",
    ],
)
def test_overrides_that_reach_code_or_other_files_are_refused(override):
    found = problems([override], GROUPS)
    assert len(found) == 1, found
    with pytest.raises(sim.ConfigError):
        check([override], GROUPS)


@pytest.mark.parametrize(
    "override",
    [
        "hydra/launcher=joblib",
        "hydra/launcher=viralchain_slurm",
        "hydra.launcher.n_jobs=2",
        "hydra.launcher.ray.init.address=auto",
        "hydra.sweep.dir=/tmp/sweeps/x",
        "setup=rigid,flexible",
        "story=glob(*)",
        "story=glob(*,exclude=two_brands)",
        "story=glob(*,exclude=[two_brands,kol_*])",
        "setup=[rigid,flexible]",
        "policy/rush=threshold",
        "+sweep=smoke",
        "sweep/ablation=no_presale,all_levers",
        "replication=range(0,5)",
        "market.n_consumers=2000",
    ],
)
def test_ordinary_overrides_pass(override):
    assert problems([override], GROUPS) == []


def test_a_single_run_refuses_a_path_as_a_group_option():
    with pytest.raises(sim.ConfigError, match="policy/rush"):
        sim.compose(None, ["policy/rush=../../setup/rigid"])


def test_resume_never_runs_code_written_into_sweep_json(tmp_path):
    """The reproduction of issue 14, item 1: a callback appended to the stored overrides."""
    out = tmp_path / "sw"
    proc = cli("run", "-m", "setup=rigid,flexible", *TINY, "--jobs", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    pwned = tmp_path / "PWNED"
    spec = json.loads((out / "sweep.json").read_text())
    spec["launches"][-1]["hydra_overrides"].append(
        f"+hydra.callbacks.x={{_target_: builtins.open, _args_: [{pwned}, w]}}"
    )
    (out / "sweep.json").write_text(json.dumps(spec))
    for f in (out / "runs").rglob("*.parquet"):
        f.unlink()
    proc = cli("resume", str(out), "--jobs", "1")
    assert proc.returncode == 2, proc.stderr
    assert "hydra.callbacks.x" in proc.stderr and "Traceback" not in proc.stderr
    assert not pwned.exists()
    assert not list((out / "runs").rglob("*.parquet"))  # nothing ran
