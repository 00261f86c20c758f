"""The sweep writer's quick path writes the very bytes of the long way.

``experiments.sweep_store.write_run`` and ``write_failed`` read the package versions once per
process (:func:`sim.recording.package_versions`), convert the frames without copying
them first and in one thread, and cast only the ``runs`` columns whose type differs. The long
way (below, as the writer was before) reads the versions for every run, drops the partition
columns by copying, and casts every column. Both must write the same files, byte for byte,
over varied worlds: one brand or several (a rival's rows in their own partition), with and
without the sweep's platforms (missing ones added as NaN), swept values of every kind, a
failed run.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sim
from experiments import sweep_store as store
from sim.recording import file_metadata
from sim.result import KPI_COLUMNS

# ----------------------------------------------------------------------------- the long way


def _long_to_arrow(df: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(
        df.drop(columns=list(store.PARTITION_KEYS), errors="ignore"), preserve_index=False
    )
    return table.replace_schema_metadata(None)


def _long_write(df: pd.DataFrame, path: Path, meta) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _long_to_arrow(df).replace_schema_metadata(dict(meta))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def _long_runs_columns(df: pd.DataFrame, platforms=()) -> pd.DataFrame:
    df = df.copy()
    wanted = store.platform_columns(platforms)
    for c in wanted:
        if c not in df.columns:
            df[c] = math.nan
    for c in [*KPI_COLUMNS, *wanted]:
        df[c] = df[c].astype("float64")
    df["seed"] = df["seed"].astype("int64")
    df["replication"] = df["replication"].astype("int64")
    df["wall_seconds"] = df["wall_seconds"].astype("float64")
    df["error"] = df["error"].astype("str")
    return df


def _long_write_run(sweep_dir, result, sweep_id, params, platforms=()) -> None:
    cfg = result.config
    story, setup = cfg.meta.story, cfg.meta.setup
    meta = file_metadata(cfg.to_json(), result.seed, {"run_id": result.run_id})
    rows: dict[str, int] = {}
    for table, df in (("timeseries", result.timeseries), ("events", result.events)):
        _long_write(df, store.run_file(sweep_dir, table, story, setup, result.run_id), meta)
        rows[table] = len(df)
    runs = result.runs_frame(sweep_id, dict(params), platform_columns=False)
    for c in store.platform_columns(platforms):
        by_brand = result.platform_kpis_by_brand
        runs[c] = [by_brand.get(str(b), {}).get(c, math.nan) for b in runs["brand"]]
    runs = _long_runs_columns(runs, platforms)
    for part_setup, part in runs.groupby("setup", sort=True):
        if part_setup != setup:
            rows[f"runs/setup={part_setup}"] = len(part)
            path = store.run_file(sweep_dir, "runs", story, str(part_setup), result.run_id)
            _long_write(part.reset_index(drop=True), path, meta)
    main = runs[runs["setup"] == setup].reset_index(drop=True)
    rows["runs"] = len(main)
    marker = {**meta, store.ROWS_KEY: json.dumps(rows, sort_keys=True)}
    _long_write(main, store.run_file(sweep_dir, "runs", story, setup, result.run_id), marker)


def _long_write_failed(sweep_dir, config, seed, error, wall, sweep_id, params, platforms=()):
    from sim.result import failed_runs_row

    row = _long_runs_columns(
        failed_runs_row(config, seed, error, wall, sweep_id, params), platforms
    )
    run_id = str(row["run_id"].iloc[0])
    meta = file_metadata(config.to_json(), seed, {"run_id": run_id})
    path = store.run_file(sweep_dir, "runs", config.meta.story, config.meta.setup, run_id)
    _long_write(row, path, meta)


# ----------------------------------------------------------------------------- the check


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _same_files(quick: Path, long: Path) -> None:
    a, b = _files(quick), _files(long)
    assert sorted(a) == sorted(b)
    assert a, "nothing was written"
    for name in a:
        assert a[name] == b[name], name


PLATFORMS = ["douyin", "kuaishou", "wechat"]
PARAMS = [
    {},
    {"setup": "flexible", "market.n_consumers": 3000, "x_share": 0.25, "flag": True},
    {"policy": json.dumps({"a": [1, 2]}, sort_keys=True), "n": None},
]
WORLDS = [
    (None, ["setup=flexible"]),
    (None, ["setup=rigid"]),
    ("two_brands", ["setup=flexible"]),  # a rival in its own partition
    ("multi_platform", ["setup=rigid"]),  # per-platform KPIs of its own
]


@pytest.mark.parametrize(("story", "overrides"), WORLDS)
@pytest.mark.parametrize("platforms", [(), PLATFORMS])
def test_write_run_writes_the_bytes_of_the_long_way(tmp_path, story, overrides, platforms):
    cfg = sim.compose(story, [*overrides, "market.n_consumers=1500", "run.horizon_hours=72"])
    for seed, params in enumerate(PARAMS):
        result = sim.run(cfg, seed=seed)
        store.write_run(tmp_path / "quick", result, "s1", params, platforms)
        _long_write_run(tmp_path / "long", result, "s1", params, platforms)
    _same_files(tmp_path / "quick", tmp_path / "long")


@pytest.mark.parametrize("platforms", [(), PLATFORMS])
def test_write_failed_writes_the_bytes_of_the_long_way(tmp_path, platforms):
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=1500"])
    for seed, params in enumerate(PARAMS):
        args = (cfg, seed, "ValueError: boom", 0.5, "s1", params, platforms)
        store.write_failed(tmp_path / "quick", *args)
        _long_write_failed(tmp_path / "long", *args)
    _same_files(tmp_path / "quick", tmp_path / "long")


def test_the_caller_s_runs_frame_is_left_as_it_was():
    result = sim.run(sim.compose(None, ["market.n_consumers=1500", "run.horizon_hours=48"]), 1)
    runs = result.runs_frame("s", {}, platform_columns=False)
    before = runs.copy()
    store._runs_columns(runs, PLATFORMS)
    pd.testing.assert_frame_equal(runs, before)
