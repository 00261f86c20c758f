"""Per-platform columns in a sweep's ``runs`` dataset (issue 16).

A cross-story sweep (the flagship, whose market names no platforms, and ``multi_platform``,
which sells on three) is run once, tiny (2,000 consumers, 10 days, rigid only: 2 runs). Every
``runs`` row carries the columns of the union of the sweep's platforms, null where the run's
market lacks one; all four readers read it as one dataset; the values are the single runs'.
"""

from __future__ import annotations

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
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]
STORIES = ["story=head_kol_livestream,multi_platform", "setup=rigid"]
PLATFORMS = ["douyin", "kuaishou", "wechat"]  # multi_platform's, in its order
COLUMNS = store.platform_columns(PLATFORMS)


@pytest.fixture(scope="module")
def cross(tmp_path_factory) -> Path:
    """The cross-story sweep, one worker."""
    tmp = tmp_path_factory.mktemp("cross")
    out = tmp / "sweep"
    proc = cli("run", "-m", *STORIES, *TINY, "--jobs", "1", "--out", str(out), cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return out


def _runs(sweep_dir: Path) -> pd.DataFrame:
    df = store.read_table(sweep_dir, "runs")
    return df.drop(columns="wall_seconds").sort_values("run_id").reset_index(drop=True)


def test_platform_columns_name_three_kpis_per_platform_in_order():
    assert store.platform_columns(["a", "b"]) == [
        "sold_units_a",
        "demand_units_a",
        "fill_rate_a",
        "sold_units_b",
        "demand_units_b",
        "fill_rate_b",
    ]


def test_every_run_carries_the_union_null_where_its_market_lacks_a_platform(cross):
    spec = store.SweepSpec.load(cross)
    assert spec is not None and spec.platforms == PLATFORMS
    files = sorted((cross / "runs").rglob("*.parquet"))
    assert len(files) == 2
    schemas = [pq.read_schema(f).remove_metadata() for f in files]
    assert all(s.equals(schemas[0]) for s in schemas)  # one schema: one dataset
    assert schemas[0].names[-len(COLUMNS) :] == COLUMNS  # after the KPIs
    df = _runs(cross)
    flagship = df[df["story"] == "head_kol_livestream"]
    multi = df[df["story"] == "multi_platform"]
    assert len(flagship) == 1 and len(multi) == 1
    assert flagship[COLUMNS].isna().all().all()
    assert multi[[f"demand_units_{p}" for p in PLATFORMS]].notna().all().all()
    # stored as nulls (not NaN floats), as the KPIs without a value are
    table = pq.read_table(next((cross / "runs" / "story=head_kol_livestream").rglob("*.parquet")))
    assert all(table.column(c).null_count == 1 for c in COLUMNS)


def test_the_values_are_those_of_the_single_runs(cross):
    from experiments.sweep import plan_sweep

    _, plan = plan_sweep([*STORIES, *TINY])
    df = _runs(cross).set_index("run_id")
    for job in plan.jobs:
        single = sim.run(job.config, job.seed).runs_frame().iloc[0]
        row = df.loc[job.run_id]
        for c in COLUMNS:
            if c in single.index:
                assert row[c] == pytest.approx(single[c], nan_ok=True), c
            else:
                assert np.isnan(row[c]), c
        assert row["sold_units"] == single["sold_units"]
    multi = df[df["story"] == "multi_platform"].iloc[0]
    assert sum(multi[f"sold_units_{p}"] for p in PLATFORMS) == pytest.approx(multi["sold_units"])


def test_pandas_pyarrow_duckdb_and_polars_read_one_dataset(cross):
    path = cross / "runs"
    glob = store.dataset_glob(cross, "runs")
    frames = {
        "pandas": pd.read_parquet(path),
        "pyarrow": pq.read_table(path).to_pandas(),
        "pyarrow.dataset": pds.dataset(path, partitioning="hive").to_table().to_pandas(),
        "duckdb": duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning=true)").df(),
        "polars": pl.read_parquet(glob, hive_partitioning=True).to_pandas(),
    }
    ref = frames["pandas"]
    for name, df in frames.items():
        assert set(COLUMNS) <= set(df.columns), name
        df = df.assign(story=df["story"].astype("str")).sort_values("story")
        got = df[COLUMNS].to_numpy(dtype=float)
        want = ref.assign(story=ref["story"].astype("str")).sort_values("story")[COLUMNS]
        np.testing.assert_array_equal(got, want.to_numpy(dtype=float), err_msg=name)
        assert np.isnan(got[0]).all() and not np.isnan(got[1, 1]), name  # flagship first


def test_a_resumed_sweep_gives_the_same_dataset(cross, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(cross, sweep)
    before = _runs(sweep)
    for r in before.itertuples():  # neither run finished
        store.run_file(sweep, "runs", r.story, r.setup, r.run_id).unlink()
    proc = cli("resume", str(sweep), "--jobs", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 runs, 0 already done, 2 to run" in proc.stderr
    pd.testing.assert_frame_equal(_runs(sweep), before)


def test_a_sweep_adding_platforms_to_a_directory_is_refused(tmp_path):
    out = tmp_path / "sweep"
    first = cli("run", "-m", "story=head_kol_livestream", "setup=rigid", *TINY, "--jobs", "1",
                "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    files = sorted(out.rglob("*"))
    second = cli("run", "-m", "story=multi_platform", "setup=rigid", *TINY, "--jobs", "1",
                 "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "adds platforms ['douyin', 'kuaishou', 'wechat']" in second.stderr
    assert sorted(out.rglob("*")) == files  # nothing written


def test_a_failed_run_has_null_platform_columns(tmp_path):
    from experiments.sweep import plan_sweep

    _, plan = plan_sweep(["story=head_kol_livestream", "setup=rigid", *TINY])
    job = plan.jobs[0]
    path = store.write_failed(tmp_path, job.config, job.seed, "E: boom", 0.0, "s", {}, PLATFORMS)
    table = pq.read_table(path)
    assert table.schema.names[-len(COLUMNS) :] == COLUMNS
    assert all(table.column(c).null_count == 1 for c in COLUMNS)


def test_a_directory_from_before_the_platform_columns_stays_without_them(tmp_path):
    """A ``sweep.json`` without ``platforms`` (written before them): runs keep its schema."""
    from experiments.sweep import plan_sweep

    _, plan = plan_sweep(["story=multi_platform", "setup=rigid", *TINY])
    job = plan.jobs[0]
    assert plan.platforms == PLATFORMS
    (tmp_path / store.SPEC_FILE).write_text('{"sweep_id": "old", "params": {}}')
    assert store.SweepSpec.load(tmp_path).platforms is None
    result = sim.run(job.config, job.seed)
    path = store.write_run(tmp_path, result, "old", {})["runs"]
    assert not set(COLUMNS) & set(pq.read_schema(path).names)


def test_another_sweeper_takes_the_platforms_of_the_base_config(tmp_path):
    """``hydra/sweeper=basic``: the runs are not planned ahead; the columns are those of the
    launch's base config's market."""
    out = tmp_path / "sweep"
    proc = cli("run", "-m", "story=multi_platform", "setup=rigid", *TINY, "hydra/sweeper=basic",
               "--jobs", "1", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert store.SweepSpec.load(out).platforms == PLATFORMS
    row = store.read_table(out, "runs").iloc[0]
    assert list(row.index[-len(COLUMNS) :]) == COLUMNS
    assert row[[f"demand_units_{p}" for p in PLATFORMS]].sum() == row["demand_units"]
