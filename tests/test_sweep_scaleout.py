"""Beyond one machine: the submitit (SLURM) and Ray launchers.

The submitit launcher installs alongside the project: its local mode runs the smoke sweep
(runs batched per submitit job, as they would be per SLURM array task), and the SLURM
example config is checked against submitit itself (the ``sbatch`` script it would submit).
The Ray launcher needs its own environment (cloudpickle<3 against joblib 1.6's
cloudpickle>=3): the slow test builds it with ``experiments.sweep_rayenv`` (or uses
``$VIRALCHAIN_RAY_VENV``) and runs the smoke sweep through Ray.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from experiments import sweep_store as store
from tests.conftest import ROOT, cli


def _runs(sweep_dir: Path) -> pd.DataFrame:
    df = store.read_table(sweep_dir, "runs")
    return (
        df.drop(columns=["wall_seconds", "sweep_id"]).sort_values("run_id").reset_index(drop=True)
    )


def test_slurm_example_is_accepted_by_submitit(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
    from omegaconf import OmegaConf

    from experiments.sweep import plan_sweep

    monkeypatch.setenv("VIRALCHAIN_VENV", "/opt/viralchain/.venv")
    fake_bin = tmp_path / "bin"  # the SLURM launcher is refused where srun is missing
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    sweep_dir = tmp_path / "sweep"
    master, _ = plan_sweep(
        [
            "+sweep=smoke",
            "hydra/launcher=viralchain_slurm",
            "hydra.launcher.partition=cpu",
            f"hydra.sweep.dir={sweep_dir}",
        ]
    )
    conf = master.hydra.launcher
    assert conf._target_.endswith("SlurmLauncher")
    launcher = SlurmLauncher(**{k: conf[k] for k in conf if k != "_target_"})
    # build the executor exactly as the launcher does; submitit checks every parameter name
    params = dict(launcher.params)
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params["submitit_folder"],
        slurm_max_num_timeout=params["max_num_timeout"],
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{
            k if k in base else f"slurm_{k}": v
            for k, v in params.items()
            if k not in {"submitit_folder", "max_num_timeout"}
        }
    )
    script = executor._executor._make_submission_file_text("python -m x", "uid")
    assert "#SBATCH --partition=cpu" in script
    assert "#SBATCH --cpus-per-task=1" in script
    assert "#SBATCH --mem=4GB" in script
    assert "#SBATCH --time=60" in script
    assert "source /opt/viralchain/.venv/bin/activate" in script
    assert str(sweep_dir / ".submitit") in script


def test_submitit_local_runs_batched_array_tasks_like_joblib(tmp_path):
    """The smoke sweep through submitit's local executor: its 4 runs go out as 2 submitit
    jobs of 2 replications each (a cluster launcher batches runs per array task), and the
    dataset equals the joblib launcher's."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sub = cli(
        "sweep",
        "smoke",
        "hydra/launcher=submitit_local",
        "--out",
        str(tmp_path / "sub"),
        cwd=tmp_path,
    )
    assert sub.returncode == 0, sub.stderr
    assert "4/4 ok, 0 failed" in sub.stderr
    tasks = [p for p in (tmp_path / "sub" / ".submitit").iterdir() if p.name.isdigit()]
    assert len(tasks) == 2  # submitit really ran the jobs: two tasks, not four
    logs = list((tmp_path / "sub" / "logs").glob("*/*/run.log"))
    assert sorted(sum(" ok in " in ln for ln in log.read_text().splitlines()) for log in logs) == [
        2,
        2,
    ]
    ref = cli("sweep", "smoke", "--jobs", "1", "--out", str(tmp_path / "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    pd.testing.assert_frame_equal(_runs(tmp_path / "sub"), _runs(tmp_path / "ref"))


def test_ray_environment_swaps_only_the_conflicting_pins():
    from experiments.sweep_rayenv import RAY_PINS, requirements

    reqs = requirements()
    assert "joblib==1.5.3" in reqs and "joblib==1.6.0" not in reqs
    assert "cloudpickle==2.2.1" in reqs and "hydra-ray-launcher==1.2.2" in reqs
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    kept = [d for d in deps if not d.startswith(tuple(RAY_PINS))]
    assert set(kept) <= set(reqs) and len(kept) >= 10


def _ray_env(tmp_path_factory) -> Path:
    env = os.environ.get("VIRALCHAIN_RAY_VENV")
    if env:
        return Path(env)
    default = ROOT / ".venv-ray"
    if (default / "bin" / "viralchain").exists():
        return default
    from experiments.sweep_rayenv import build

    target = tmp_path_factory.mktemp("venv-ray")
    try:
        build(target)
    except subprocess.CalledProcessError as exc:  # no registry reachable: cannot build here
        pytest.skip(f"could not build the Ray environment: {exc}")
    return target


@pytest.mark.slow
def test_ray_launcher_runs_the_smoke_sweep_like_joblib(tmp_path, tmp_path_factory):
    venv = _ray_env(tmp_path_factory)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "RAY_USAGE_STATS_ENABLED": "0"}
    ray = subprocess.run(
        [
            str(venv / "bin" / "viralchain"),
            "sweep",
            "smoke",
            "hydra/launcher=viralchain_ray",
            "hydra.launcher.ray.init.num_cpus=2",
            "--out",
            str(tmp_path / "ray"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert ray.returncode == 0, ray.stderr[-3000:]
    assert "4/4 ok, 0 failed" in ray.stderr
    hydra_cfg = next((tmp_path / "ray" / "logs").rglob("hydra.yaml")).read_text()
    assert "hydra/launcher: viralchain_ray" in hydra_cfg
    assert (
        "hydra_ray_launcher.ray_launcher.RayLauncher"
        in (tmp_path / "ray" / "multirun.yaml").read_text()
    )
    ref = cli("sweep", "smoke", "--jobs", "1", "--out", str(tmp_path / "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    a, b = _runs(tmp_path / "ray"), _runs(tmp_path / "ref")
    # the two environments differ in joblib/cloudpickle only: the same simulation results
    pd.testing.assert_frame_equal(a, b)
