"""Sweeps: real Hydra multiruns (joblib workers) through the real ``viralchain`` command.

The ``smoke`` sweep (rigid vs flexible, 2 replications, 2,000 consumers, 10 days: 4 runs)
is run once with 1 worker and once with 2 workers per test process (session fixtures; the
tests share an xdist group), then re-read, resumed, broken and reported on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

import sim
from experiments import sweep_store as store
from sim.rng import derive_seed
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]
CONTENT_KINDS = ["post", "livestream_start", "livestream_end"]


def _sweep(tmp: Path, *args: str) -> tuple[Path, object]:
    out = tmp / "sweep"
    proc = cli(*args, "--out", str(out), cwd=tmp)
    return out, proc


@pytest.fixture(scope="session")
def smoke_1(tmp_path_factory) -> Path:
    """The smoke sweep run with one worker (``--jobs 1``)."""
    tmp = tmp_path_factory.mktemp("smoke1")
    out, proc = _sweep(tmp, "sweep", "smoke", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def smoke_2(tmp_path_factory) -> tuple[Path, object]:
    """The smoke sweep as ``run -m +sweep=smoke hydra.launcher.n_jobs=2`` (two workers)."""
    tmp = tmp_path_factory.mktemp("smoke2")
    out, proc = _sweep(tmp, "run", "-m", "+sweep=smoke", "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def _runs(sweep_dir: Path) -> pd.DataFrame:
    df = store.read_table(sweep_dir, "runs")
    return df.drop(columns="wall_seconds").sort_values("run_id").reset_index(drop=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_workers_and_one_worker_give_the_same_dataset(smoke_1, smoke_2):
    out2, proc = smoke_2
    a, b = _runs(smoke_1), _runs(out2)
    assert len(a) == 4 and set(a["status"]) == {"ok"}
    assert sorted(a["setup"].unique()) == ["flexible", "rigid"]
    assert sorted(a["replication"].unique()) == [0, 1]
    pd.testing.assert_frame_equal(
        a.drop(columns="sweep_id"), b.drop(columns="sweep_id"), check_exact=True
    )
    # the per-run tables are byte-identical too
    for table in ("timeseries", "events"):
        files_1 = {p.name: _digest(p) for p in (smoke_1 / table).rglob("*.parquet")}
        files_2 = {p.name: _digest(p) for p in (out2 / table).rglob("*.parquet")}
        assert len(files_1) == 4 and files_1 == files_2, table
    # the launch really used two joblib workers: each job ran in a worker process
    hydra_cfg = next((out2 / "logs").rglob("hydra.yaml")).read_text()
    assert "n_jobs: 2" in hydra_cfg and "JoblibLauncher" in hydra_cfg
    # and the progress line was shown
    assert "4/4 done · 0 failed · 0 remaining" in proc.stderr
    assert "ETA" in proc.stderr


def test_runs_table_carries_ids_seeds_and_parameters(smoke_1):
    runs = _runs(smoke_1)
    for c in (
        "run_id",
        "sweep_id",
        "story",
        "setup",
        "seed",
        "replication",
        "status",
        "error",
        "config_hash",
        "market.n_consumers",
        "run.horizon_hours",
        "fill_rate",
    ):
        assert c in runs.columns, c
    assert set(runs["sweep_id"]) == {"sweep"}
    assert set(runs["market.n_consumers"]) == {2000}
    # the run seed derives from (root seed, replication): same for both setups of a replication
    seeds = runs.groupby("replication")["seed"].agg(set)
    assert all(len(s) == 1 for s in seeds) and seeds[0] != seeds[1]
    assert seeds[0] == {derive_seed(0, 0)} and seeds[1] == {derive_seed(0, 1)}


def test_common_random_numbers_same_content_within_a_replication(smoke_1):
    runs = _runs(smoke_1)[["run_id", "setup", "replication"]]
    ev = store.read_table(smoke_1, "events").merge(runs, on=["run_id", "setup"])
    ts = store.read_table(smoke_1, "timeseries").merge(runs, on=["run_id", "setup"])
    content, views = {}, {}
    for (rep, setup), e in ev.groupby(["replication", "setup"]):
        c = e[e["kind"].isin(CONTENT_KINDS)]
        cols = ["t_hours", "kind", "actor", "sku", "quantity", "value", "detail"]
        content[rep, setup] = c.sort_values(cols)[cols].reset_index(drop=True)
    for (rep, setup), t in ts.groupby(["replication", "setup"]):
        views[rep, setup] = t[t["node_type"] == "region"].groupby("t_hours")["views"].sum()
    for rep in (0, 1):
        assert len(content[rep, "rigid"]) > 3
        pd.testing.assert_frame_equal(content[rep, "rigid"], content[rep, "flexible"])
        # views start equal; later the supply feedback (market.feedback: sold-out or slow
        # pages are shared less, ratings, warnings) lets each chain's service move them
        early = views[rep, "rigid"].index < 48
        pd.testing.assert_series_equal(views[rep, "rigid"][early], views[rep, "flexible"][early])
    # and the replications really differ (each has its own seed)
    assert not content[0, "rigid"].equals(content[1, "rigid"])
    assert not views[0, "rigid"].equals(views[1, "rigid"])


def _canonical(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype == object:
            df[c] = df[c].astype("str")
    return df[sorted(df.columns)].sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize(
    ("table", "keys"),
    [("runs", ["run_id", "brand"]), ("timeseries", ["run_id", "t_hours", "sku", "node"])],
)
def test_pandas_pyarrow_duckdb_and_polars_read_the_same_rows(smoke_1, table, keys):
    path = smoke_1 / table
    # a temporary file of a run being written must not disturb any reader
    first = next(path.rglob("*.parquet"))
    (first.parent / ".0123456789ab.parquet.tmp").write_bytes(b"not parquet")
    try:
        frames = {
            "pandas": pd.read_parquet(path),
            "pyarrow": pq.read_table(path).to_pandas(),
            "pyarrow.dataset": pds.dataset(path, partitioning="hive").to_table().to_pandas(),
            "duckdb": duckdb.sql(
                f"select * from read_parquet('{store.dataset_glob(smoke_1, table)}',"
                " hive_partitioning=true)"
            ).df(),
            "polars": pl.read_parquet(
                store.dataset_glob(smoke_1, table), hive_partitioning=True
            ).to_pandas(),
        }
    finally:
        (first.parent / ".0123456789ab.parquet.tmp").unlink()
    canon = {k: _canonical(v, keys) for k, v in frames.items()}
    ref = canon["pandas"]
    assert len(ref) > 0 and set(ref["story"]) == {"head_kol_livestream"}
    for name, df in canon.items():
        assert list(df.columns) == list(ref.columns), name
        assert len(df) == len(ref), name
        for c in ref.columns:
            a, b = ref[c].to_numpy(), df[c].to_numpy()
            if np.issubdtype(a.dtype, np.number):
                np.testing.assert_array_equal(a.astype(float), b.astype(float), err_msg=name)
            else:
                assert list(map(str, a)) == list(map(str, b)), (name, c)
    # the partition values live in the paths only: no file carries a conflicting column
    for f in path.rglob("*.parquet"):
        names = pq.read_schema(f).names
        assert "story" not in names and "setup" not in names


def test_resume_runs_only_the_missing_runs(smoke_1, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(smoke_1, sweep)
    shutil.rmtree(sweep / "logs")
    runs = _runs(sweep)
    gone = runs.iloc[[0, 3]]  # two runs "never finished": their commit file is missing
    for r in gone.itertuples():
        store.run_file(sweep, "runs", r.story, r.setup, r.run_id).unlink()
    kept = {p: p.stat().st_mtime_ns for p in (sweep / "runs").rglob("*.parquet")} | {
        p: p.stat().st_mtime_ns
        for p in (sweep / "timeseries").rglob("*.parquet")
        if p.stem not in set(gone["run_id"])
    }
    proc = cli("sweep", "smoke", "--jobs", "2", "--out", str(sweep), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs, 2 already done, 2 to run" in proc.stderr
    # exactly two jobs were launched, and they were the missing runs
    jobs = list((sweep / "logs").glob("*/*/run.log"))
    assert len(jobs) == 2
    ran = {
        line.split("run ")[1].split(":")[0]
        for j in jobs
        for line in j.read_text().splitlines()
        if "experiments.sweep_task" in line and ": setup=" in line
    }
    assert ran == set(gone["run_id"])
    # finished runs were not touched, the missing ones are back and equal to before
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    pd.testing.assert_frame_equal(
        _runs(sweep).drop(columns="sweep_id"), runs.drop(columns="sweep_id")
    )
    # a third launch finds nothing to do
    again = cli("resume", str(sweep), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "4 already done, 0 to run" in again.stderr
    assert len(list((sweep / "logs").glob("*/*/run.log"))) == 2


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path):
    args = [
        "run",
        "-m",
        "setup=rigid",
        "run.fail_at_hour=-1,100,150",
        "policy/forecast=moving_average",
        *TINY,
    ]
    sweep, proc = _sweep(tmp_path, *args, "--jobs", "2")
    assert proc.returncode == 1, proc.stderr
    assert "1/3 ok, 2 failed" in proc.stderr
    assert "2 run(s) failed" in proc.stderr
    assert "deliberate failure at hour 100" in proc.stderr
    assert "deliberate failure at hour 150" in proc.stderr
    runs = _runs(sweep)
    assert len(runs) == 3
    failed, ok = runs[runs["status"] == "failed"], runs[runs["status"] == "ok"]
    assert set(failed["run.fail_at_hour"]) == {100, 150} and set(ok["run.fail_at_hour"]) == {-1}
    for hour, error in zip(failed["run.fail_at_hour"], failed["error"], strict=True):
        assert f"deliberate failure at hour {hour}" in error
    assert failed["fill_rate"].isna().all() and ok["fill_rate"].notna().all()
    assert set(ok["error"]) == {""}
    # swept config groups become columns too (policy/forecast -> policy.forecast)
    assert set(runs["policy.forecast"]) == {"moving_average"}
    ts_ids = {p.stem for p in (sweep / "timeseries").rglob("*.parquet")}
    assert ts_ids == set(ok["run_id"])
    # re-running retries the failed runs only (one worker: jobs run in this process)
    again = cli(*args, "--jobs", "1", "--out", str(sweep), cwd=tmp_path)
    assert again.returncode == 1
    assert "3 runs, 1 already done, 2 to run" in again.stderr


def test_invalid_sweep_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    proc = cli(
        "run",
        "-m",
        "setup=rigid,flexibel",
        "market.n_consumers=-5,2000",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert any("setup = 'flexibel'" in x and "must be one of" in x for x in lines), lines
    assert any("market.n_consumers = -5" in x for x in lines), lines
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_sweep_options_need_multirun_and_do_not_contradict(capsys):
    from experiments.cli import main

    assert main(["run", "--replications", "3", "setup=rigid"]) == 2
    assert "need -m" in capsys.readouterr().err
    assert main(["run", "-m", "replication=0,1", "--replications", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["run", "-m", "setup=rigid", "--jobs", "0"]) == 2
    assert "--jobs = 0" in capsys.readouterr().err
    assert main(["sweep", "no_such_sweep"]) == 2
    assert "must be one of" in capsys.readouterr().err
    assert main(["resume", "/nonexistent/sweep"]) == 2
    assert "not a sweep directory" in capsys.readouterr().err
    assert main(["sweep"]) == 0
    assert "smoke" in capsys.readouterr().out


def test_a_directory_holding_another_sweep_is_refused(smoke_1, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(smoke_1, sweep)
    proc = cli(
        "run",
        "-m",
        "setup=rigid",
        "policy.safety_stock.days_of_cover=2,4",
        *TINY,
        "--out",
        str(sweep),
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "choose another --out" in proc.stderr


def test_plan_composes_every_job_as_hydra_does():
    """The cached composition (one per group combination) equals a full compose per job."""
    from experiments.sweep import plan_sweep

    _, plan = plan_sweep(
        [
            "setup=rigid,flexible",
            "policy/forecast=moving_average,exp_smoothing",
            "policy.safety_stock.days_of_cover=1,4",
            *TINY,
        ],
        replications=2,
    )
    assert len(plan.jobs) == 16
    assert set(plan.params) == {
        "policy.forecast",
        "policy.safety_stock.days_of_cover",
        "market.n_consumers",
        "run.horizon_hours",
    }
    for job in plan.jobs[::5]:
        full = sim.compose(None, list(job.overrides))
        assert full.config_hash() == job.config.config_hash(), job.label()
    assert len({j.run_id for j in plan.jobs}) == 16
    params = plan.params_of(plan.jobs[-1])
    assert params["policy.safety_stock.days_of_cover"] == 4.0
    assert params["policy.forecast"] == "exp_smoothing"


def test_report_from_the_smoke_sweep(smoke_1, tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "report"
    assert main(["report", str(smoke_1), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "setup=rigid" in printed and "setup=flexible" in printed
    for name in ("kpi_intervals", "paired_differences", "frontier", "timeseries"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # self-contained
    assert "setup=flexible − setup=rigid" in html
    md = (out / "report.md").read_text()
    assert "![" in md and "kpi_intervals.png" in md
    # the table's numbers are the runs' means, and the intervals use both replications
    runs = _runs(smoke_1)
    means = pd.read_csv(out / "kpi_means.csv")
    row = means[(means["combination"] == "setup=flexible") & (means["kpi"] == "profit")].iloc[0]
    assert row["n"] == 2
    assert row["mean"] == pytest.approx(runs.loc[runs["setup"] == "flexible", "profit"].mean())
    diffs = pd.read_csv(out / "paired_differences.csv")
    d = diffs[diffs["kpi"] == "fill_rate"].iloc[0]
    assert d["baseline"] == "setup=rigid" and d["n_pairs"] == 2
    by_seed = runs.pivot(index="seed", columns="setup", values="fill_rate")
    assert d["mean_diff"] == pytest.approx((by_seed["flexible"] - by_seed["rigid"]).mean())
    front = pd.read_csv(out / "frontier.csv")
    assert front["pareto"].any()
    # a chosen run's time series, and clear errors for bad options
    rid = runs["run_id"].iloc[0]
    assert main(["report", str(smoke_1), "--out", str(out), "--run", rid]) == 0
    assert main(["report", str(smoke_1), "--out", str(out), "--kpis", "nope"]) == 2
    assert "KPI = 'nope'" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--out", str(out)]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


def _sweep_files() -> list[str]:
    from experiments.compose import group_options

    return group_options("sweep")


@pytest.mark.parametrize("name", _sweep_files())
def test_every_sweep_file_plans_and_its_configs_run(name):
    """Each ready sweep composes and validates every job; one job per group combination runs."""
    from experiments.sweep import plan_sweep

    _, plan = plan_sweep([f"+sweep={name}", *TINY], replications=1)
    assert len(plan.jobs) >= 2 and not plan.duplicates()
    assert all(j.config.replication == 0 for j in plan.jobs)
    seen = set()
    for job in plan.jobs:
        if job.choices in seen and job is not plan.jobs[-1]:
            continue
        seen.add(job.choices)
        result = sim.run(job.config, job.seed)
        assert result.kpis["demand_units"] >= result.kpis["sold_units"] >= 0, job.label()


def test_batches_group_replications_and_cover_every_run_once():
    """Runs that differ only in replication share a launcher job; every run is in one job."""
    from experiments.sweep import plan_sweep
    from experiments.sweep_plan import BATCH_KEY, batches

    _, plan = plan_sweep(["setup=rigid,flexible", "run.fail_at_hour=-1,100", *TINY], 6)
    assert len(plan.jobs) == 24
    for workers, per_worker, size in [(1, 4, 6), (2, 4, 3), (2, 1, 6), (16, 4, 1)]:
        got = batches(plan.jobs, workers, per_worker)
        ids = [j.run_id for b in got for j in b.jobs]
        assert sorted(ids) == sorted(j.run_id for j in plan.jobs)  # each run exactly once
        assert len(got) == 4 * -(-6 // size)
        for b in got:
            assert len(b.jobs) == size
            # one batch = one group of non-replication overrides
            rest = {
                tuple(o for o in j.overrides if not o.startswith("replication=")) for j in b.jobs
            }
            assert len(rest) == 1 and list(rest.pop()) == b.overrides[:-1]
            reps = [
                int(o.split("=")[1])
                for j in b.jobs
                for o in j.overrides
                if o.startswith("replication=")
            ]
            assert b.overrides[-1] == f"+{BATCH_KEY}=[{','.join(map(str, reps))}]"
    # without a swept replication every run is its own job, launched with its own overrides
    _, plan = plan_sweep(["setup=rigid,flexible", *TINY])
    got = batches(plan.jobs, 1)
    assert [b.overrides for b in got] == [list(j.overrides) for j in plan.jobs]


@pytest.mark.parametrize(
    ("launcher", "extra", "expected"),
    [
        ("joblib", [], [3] * 4),
        ("submitit_local", [], [6, 6]),
        ("submitit_slurm", [], [6, 6]),
        ("submitit_slurm", ["hydra.sweeper.runs_per_job=4"], [3, 3, 3, 3]),
    ],
)
def test_launcher_jobs_batch_replications(launcher, extra, expected, tmp_path, monkeypatch):
    """joblib with 2 workers: 2 configs x 6 replications in 4 jobs of 3 (about two jobs a
    worker); a cluster launcher batches up to ``runs_per_job`` runs (default 10) per job, so a
    SLURM array task holds several runs, not one few-second run."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from experiments.sweep import plan_sweep
    from experiments.sweep_plan import launch_jobs

    fake_bin = tmp_path / "bin"  # the SLURM launcher is refused where srun is missing
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    n_jobs = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    master, plan = plan_sweep(
        ["setup=rigid,flexible", *TINY, f"hydra/launcher={launcher}", *n_jobs, *extra], 6
    )
    jobs = launch_jobs(master, plan.jobs, master.hydra.sweeper.runs_per_job)
    assert [len(b.jobs) for b in jobs] == expected
    assert sorted(j.run_id for b in jobs for j in b.jobs) == sorted(j.run_id for j in plan.jobs)


def test_batched_jobs_give_the_same_runs_as_single_jobs(smoke_1, tmp_path):
    """20 runs on two workers go out as 4 launcher jobs of 5 replications; the runs they
    write equal the same runs launched one per job (the smoke sweep)."""
    sweep, proc = _sweep(
        tmp_path,
        "run",
        "-m",
        "setup=rigid,flexible",
        "replication=range(0,10)",
        *TINY,
        "--jobs",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    logs = list((sweep / "logs").glob("*/*/run.log"))
    assert len(logs) == 4
    runs = _runs(sweep)
    assert len(runs) == 20 and runs["run_id"].is_unique
    assert not any("viralchain_replications" in c for c in runs.columns)
    # every run's log line names its own replication
    labels = [ln for j in logs for ln in j.read_text().splitlines() if ": setup=" in ln]
    assert len(labels) == 20 and all("replication=" in ln for ln in labels)
    first = runs[runs["replication"] < 2].reset_index(drop=True)
    smoke = _runs(smoke_1)
    kpis = [
        "run_id",
        "seed",
        "setup",
        "replication",
        "fill_rate",
        "profit",
        "lost_sales_units",
        "leftover_units",
    ]
    pd.testing.assert_frame_equal(first[kpis], smoke[kpis])


LAUNCH_SCRIPT = """\
import json, os, sys

from experiments.sweep import launch

outcome = launch(["+sweep=smoke"], sys.argv[1], n_jobs=2)
print(json.dumps({"me": os.getpid(), "ok": outcome.ok}))
"""


def test_the_python_api_launches_with_loky_as_shipped(smoke_1, tmp_path):
    """``experiments.sweep.launch`` from a plain script (no ``__main__`` guard needed: loky's
    own start method, no fork server): every job runs in a worker the launching process
    started, and the runs equal the 1-worker sweep's."""
    import json
    import re
    import subprocess
    import sys

    script = tmp_path / "launch_smoke.py"
    script.write_text(LAUNCH_SCRIPT)
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(script), str(out)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["ok"] == 4
    workers, parents = set(), set()
    for log in (out / "logs").glob("*/*/run.log"):
        for m in re.finditer(r"\(worker pid (\d+), parent (\d+)\)", log.read_text()):
            workers.add(int(m.group(1)))
            parents.add(int(m.group(2)))
    assert parents == {info["me"]} and info["me"] not in workers
    pd.testing.assert_frame_equal(
        _runs(out).drop(columns="sweep_id"), _runs(smoke_1).drop(columns="sweep_id")
    )


def test_uneven_groups_are_cut_evenly_and_the_longest_jobs_go_first():
    """3 configs x 20 replications on 2 workers (at most 8 runs a job): each group is cut
    into 6+7+7, not 8+8+4, and the launch order puts the 7-run jobs first (the short ones
    last, where they decide how long one worker waits for the other)."""
    from experiments.sweep_plan import Job, batches

    todo = []
    for s in ("rigid", "flexible", "hybrid"):
        for r in range(20):
            job = Job(overrides=(f"setup={s}", f"replication={r}"), config=None, choices=())
            job.__dict__["run_id"] = f"{s}-{r}"  # the cached property, without a config
            todo.append(job)
    got = batches(todo, workers=2, per_worker=4)
    assert [len(b.jobs) for b in got] == [7, 7, 7, 7, 7, 7, 6, 6, 6]
    assert sorted(j.run_id for b in got for j in b.jobs) == sorted(j.run_id for j in todo)
    # every piece is a run of consecutive replications of one config
    for b in got:
        reps = [int(j.overrides[1].split("=")[1]) for j in b.jobs]
        assert reps == list(range(reps[0], reps[0] + len(reps)))
        assert len({j.overrides[0] for j in b.jobs}) == 1


def test_joblib_workers_get_two_jobs_each_by_default():
    """2 setups x 20 replications: 4 jobs of 10 on two workers, 2 of 20 on one (a job's
    Hydra composition costs as much as a short run: two a worker keep the load balanced
    without composing for every few runs)."""
    from experiments.sweep_plan import Job, batches

    todo = []
    for s in ("rigid", "flexible"):
        for r in range(20):
            job = Job(overrides=(f"setup={s}", f"replication={r}"), config=None, choices=())
            job.__dict__["run_id"] = f"{s}-{r}"  # the cached property, without a config
            todo.append(job)
    assert [len(b.jobs) for b in batches(todo, workers=2)] == [10, 10, 10, 10]
    assert [len(b.jobs) for b in batches(todo, workers=1)] == [20, 20]


def test_the_sweeper_is_a_hydra_plugin_and_others_can_be_chosen():
    """``hydra/sweeper=viralchain`` is a Sweeper plugin in the ``hydra_plugins`` namespace
    that Hydra instantiates itself; ``basic`` and ``optuna`` compose in its place."""
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    from experiments.sweep import OUR_SWEEPER, plan_sweep
    from hydra_plugins.viralchain_sweeper.viralchain_sweeper import ViralchainSweeper, register

    register()
    assert ViralchainSweeper in Plugins.instance().discover(Sweeper)
    master, plan = plan_sweep(["setup=rigid,flexible", *TINY])
    assert master.hydra.sweeper._target_ == OUR_SWEEPER and len(plan.jobs) == 2
    assert master.hydra.callbacks.sweep_directory._target_.endswith("SweepDirectory")


def test_a_dry_run_plans_every_job_and_writes_nothing(tmp_path):
    from experiments.sweep import launch

    out = tmp_path / "never"
    outcome = launch(["+sweep=smoke"], out, dry_run=True)
    assert outcome.total == 4 and len(outcome.plan.jobs) == 4 and not out.exists()


def test_a_continuous_range_is_not_a_grid(tmp_path):
    proc = cli("run", "-m", "policy.safety_stock.days_of_cover=interval(1,4)", *TINY, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hydra/sweeper=optuna" in proc.stderr


def test_hydras_basic_sweeper_writes_the_same_dataset(smoke_1, tmp_path):
    """``hydra/sweeper=basic``: Hydra's own grid runs the same task into the same kind of
    directory (prepared, locked and described by the callback)."""
    out, proc = _sweep(tmp_path, "sweep", "smoke", "hydra/sweeper=basic", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "4/4 ok, 0 failed" in proc.stderr
    spec = store.SweepSpec.load(out)
    assert spec is not None and "market.n_consumers" in spec.params
    assert "BasicSweeper" in spec.launches[-1]["sweeper"]
    pd.testing.assert_frame_equal(
        _runs(out).drop(columns="sweep_id"), _runs(smoke_1).drop(columns="sweep_id")
    )
