"""The on-disk layout of a sweep directory: one file set per run, hive-partitioned.

A sweep directory holds three datasets, one per table, each readable as one dataset by
pandas, pyarrow, DuckDB and polars::

    <sweep_dir>/
      sweep.json                                    what the sweep is (id, swept keys, history)
      multirun.yaml                                 Hydra's master config of the last launch
      runs/story=<story>/setup=<setup>/<run_id>.parquet
      timeseries/story=<story>/setup=<setup>/<run_id>.parquet
      events/story=<story>/setup=<setup>/<run_id>.parquet
      logs/<launch stamp>/<job number>/             Hydra job directories (job log, .hydra/)
      report/                                       written by ``viralchain report``

The partition values (``story``, ``setup``) live in the directory names only, not in the
files: every hive reader adds them from the path, and none then meets a conflict between a
file's column and the path's value (pyarrow's ``dataset(dir, partitioning="hive")`` infers
strings where ``pd.read_parquet`` and ``pq.read_table`` infer dictionaries, so a column in
the files could match only one of them). DuckDB reads them with ``hive_partitioning=true``,
polars with ``hive_partitioning=True``. The run id is the file name, not a
partition (a 12-hex-digit id may look like a number). ``runs`` rows of rival brands whose
setup differs from the run's go to their own file under their setup's partition.

Each run writes ``timeseries``, ``events`` and rival ``runs`` rows first and its main
``runs`` file last: that file is the run's commit marker; its ``status`` (``ok`` or
``failed``) and the row count it records for every file of the run are what a resumed sweep
checks (:func:`verify_run`). Files are written atomically (a dot-named
``.name.parquet.<pid>.tmp``, then a rename), which every reader ignores. ``.lock`` (held by a
running launch) and ``.running/`` (runs in flight) are dot-named too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Config

if TYPE_CHECKING:  # pandas and the run's tables where a run is written or a table read:
    import pandas as pd  # a launching process whose workers run the jobs never loads them

    from sim.result import RunResult

TABLES = ("runs", "timeseries", "events")
PARTITION_KEYS = ("story", "setup")
SPEC_FILE = "sweep.json"
LOCK_FILE = ".lock"
ROWS_KEY = "viralchain.rows"


# ----------------------------------------------------------------------------- paths


def _segment(key: str, value: str) -> str:
    # pyarrow and DuckDB URI-decode hive segments; our names are plain, but stay safe
    return f"{key}={quote(str(value), safe='')}"


def partition_dir(sweep_dir: str | Path, table: str, story: str, setup: str) -> Path:
    """The directory of one (story, setup) partition of a table."""
    return Path(sweep_dir) / table / _segment("story", story) / _segment("setup", setup)


def run_file(sweep_dir: str | Path, table: str, story: str, setup: str, run_id: str) -> Path:
    """The file of one run in one table."""
    return partition_dir(sweep_dir, table, story, setup) / f"{run_id}.parquet"


def dataset_glob(sweep_dir: str | Path, table: str) -> str:
    """A glob matching every file of a table (for DuckDB and polars)."""
    return str(Path(sweep_dir) / table / "**" / "*.parquet")


# ----------------------------------------------------------------------------- spec


class SweepDirError(ValueError):
    """A sweep directory that is missing, damaged or holds something else (exit 2)."""


def _checked_spec(data: Any, path: Path) -> dict[str, Any]:
    """The fields of a ``sweep.json``, each checked for its type."""

    def bad(field_name: str, allowed: str) -> SweepDirError:
        return SweepDirError(f"{path}: damaged: {field_name} {allowed}")

    if not isinstance(data, dict):
        raise bad("the file", "must hold a JSON object")
    sweep_id = data.get("sweep_id")
    if not isinstance(sweep_id, str) or not sweep_id:
        raise bad("sweep_id", f"must be a non-empty text, not {sweep_id!r}")
    params = data.get("params")
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in params.items()
    ):
        raise bad("params", "must map column names to objects")
    created = data.get("created", "")
    if not isinstance(created, str):
        raise bad("created", "must be a text")
    launches = data.get("launches", [])
    if not isinstance(launches, list) or not all(isinstance(x, dict) for x in launches):
        raise bad("launches", "must be a list of objects")
    for i, launch in enumerate(launches):
        for key in ("overrides", "hydra_overrides"):
            value = launch.get(key, [])
            if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
                raise bad(f"launches[{i}].{key}", "must be a list of 'key=value' texts")
    platforms = data.get("platforms")
    if platforms is not None and (
        not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms)
    ):
        raise bad("platforms", f"must be a list of platform names or null, not {platforms!r}")
    return {
        "sweep_id": sweep_id,
        "params": params,
        "created": created,
        "launches": launches,
        "platforms": platforms,
    }


@dataclass
class SweepSpec:
    """What a sweep directory holds (``sweep.json``).

    Attributes:
        sweep_id: the id written into every ``runs`` row (the directory's name).
        params: swept or set keys that become ``runs`` columns, each mapped to how its
            values are stored: ``native`` (number, bool or string) or ``json`` (text).
        launches: one record per launch (command line, counts, wall time).
        platforms: the selling platforms whose per-platform columns every ``runs`` row
            carries (NaN where a run's market lacks one): the union over the plan of the
            first launch. None in a directory written before these columns (none added).
    """

    sweep_id: str
    params: dict[str, str]
    created: str = ""
    launches: list[dict[str, Any]] = field(default_factory=list)
    platforms: list[str] | None = None

    @classmethod
    def load(cls, sweep_dir: str | Path) -> SweepSpec | None:
        """The spec of a sweep directory, or None if it has none.

        Raises:
            SweepDirError: ``sweep.json`` is unreadable, not JSON, or not shaped as a spec
                (a sweep directory is data: it is checked, never trusted).
        """
        path = Path(sweep_dir) / SPEC_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SweepDirError(f"{path}: damaged ({exc}): not a readable sweep.json") from None
        return cls(**_checked_spec(data, path))

    def save(self, sweep_dir: str | Path) -> Path:
        """Write ``sweep.json`` atomically."""
        path = Path(sweep_dir) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"
        with _temporary(path) as tmp:
            tmp.write_text(text, "utf-8")
            os.replace(tmp, path)
        return path


@contextlib.contextmanager
def locked(sweep_dir: str | Path) -> Iterator[Path]:
    """Hold the sweep directory's lock (``.lock``, an advisory ``flock``) for the block.

    Raises:
        SweepDirError: another launch holds it (two launches into one directory would run
            every run twice and race on its files).
    """
    path = Path(sweep_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise SweepDirError(
                f"{sweep_dir} is in use by another launch (pid {holder}): wait for it to "
                "finish, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


# ----------------------------------------------------------------------------- writing


def param_value(value: Any, kind: str) -> Any:
    """A swept value as stored in its ``runs`` column."""
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    return value


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    """The table of a file: the partition columns live in the path only (see the module).
    Converted as selected (no copy of the frame without them), in this thread (a run's
    tables are small: starting threads for them cost more than it saved)."""
    columns = [c for c in df.columns if c not in PARTITION_KEYS]
    table = pa.Table.from_pandas(df, columns=columns, preserve_index=False, nthreads=1)
    return table.replace_schema_metadata(None)


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``: dot-named, unique to this process, never ending in
    ``.parquet`` (every reader ignores it), and removed if the block fails (disk full)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(df: pd.DataFrame, path: Path, meta: Mapping[str, str]) -> Path:
    """Write atomically: ``.name.parquet.<pid>.tmp`` (ignored by every reader), then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _to_arrow(df).replace_schema_metadata(dict(meta))
    with _temporary(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    return path


def remove_temporaries(sweep_dir: str | Path) -> int:
    """Delete temporary files left by killed writers (call under the sweep's lock)."""
    n = 0
    for table in TABLES:
        for tmp in (Path(sweep_dir) / table).rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            n += 1
    for tmp in Path(sweep_dir).glob(f".{SPEC_FILE}*.tmp"):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


def platform_columns(platforms: Sequence[str]) -> list[str]:
    """The per-platform ``runs`` columns of these platforms, in the order a run writes them
    (:func:`sim.metrics.platform_kpis`)."""
    return [f"{kpi}_{p}" for p in platforms for kpi in ("sold_units", "demand_units", "fill_rate")]


def _runs_columns(df: pd.DataFrame, platforms: Sequence[str] = ()) -> pd.DataFrame:
    """The ``runs`` rows with the sweep's column types, ending with the per-platform columns
    of the sweep's ``platforms`` (those missing added as NaN, stored as null), so every file
    of a sweep has one schema."""
    from sim.result import KPI_COLUMNS

    df = df.copy()
    wanted = platform_columns(platforms)
    for c in wanted:
        if c not in df.columns:
            df[c] = math.nan
    types: dict[str, str] = {c: "float64" for c in [*KPI_COLUMNS, *wanted]}
    types.update(seed="int64", replication="int64", wall_seconds="float64")
    have = df.dtypes
    for c, t in types.items():
        if have[c] != t:  # most are already (casting each anyway was a third of the write)
            df[c] = df[c].astype(t)
    df["error"] = df["error"].astype("str")
    return df


def write_run(
    sweep_dir: str | Path,
    result: RunResult,
    sweep_id: str,
    params: Mapping[str, Any],
    platforms: Sequence[str] = (),
) -> dict[str, Path]:
    """Write a finished run's three tables into the sweep (the main ``runs`` file last).

    ``platforms``: the sweep's platforms (:attr:`SweepSpec.platforms`); the ``runs`` rows
    end with their per-platform columns, NaN where this run's market lacks one.
    """
    from sim.recording import file_metadata

    cfg = result.config
    story, setup = cfg.meta.story, cfg.meta.setup
    meta = file_metadata(cfg.to_json(), result.seed, {"run_id": result.run_id})
    out: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for table, df in (("timeseries", result.timeseries), ("events", result.events)):
        path = run_file(sweep_dir, table, story, setup, result.run_id)
        out[table] = _write(df, path, meta)
        rows[table] = len(df)
    # per-platform columns vary with the story: every file of a sweep carries those of the
    # sweep's platforms (one schema across stories), NaN where the run's market lacks one
    runs = result.runs_frame(sweep_id, dict(params), platform_columns=False)
    for c in platform_columns(platforms):
        by_brand = result.platform_kpis_by_brand
        runs[c] = [by_brand.get(str(b), {}).get(c, math.nan) for b in runs["brand"]]
    runs = _runs_columns(runs, platforms)
    for part_setup, part in runs.groupby("setup", sort=True):
        if part_setup != setup:
            rows[f"runs/setup={part_setup}"] = len(part)
            path = run_file(sweep_dir, "runs", story, str(part_setup), result.run_id)
            _write(part.reset_index(drop=True), path, meta)
    main = runs[runs["setup"] == setup].reset_index(drop=True)
    rows["runs"] = len(main)
    # the commit marker carries every file's row count: resume checks them (verify_run)
    marker = {**meta, ROWS_KEY: json.dumps(rows, sort_keys=True)}
    out["runs"] = _write(main, run_file(sweep_dir, "runs", story, setup, result.run_id), marker)
    return out


def write_failed(
    sweep_dir: str | Path,
    config: Config,
    seed: int,
    error: str,
    wall_seconds: float,
    sweep_id: str,
    params: Mapping[str, Any],
    platforms: Sequence[str] = (),
) -> Path:
    """Record a run that raised: a ``runs`` row with status ``failed``, its error, and NaN
    KPIs (the per-platform columns of the sweep's ``platforms`` too)."""
    from sim.recording import file_metadata
    from sim.result import failed_runs_row

    row = failed_runs_row(config, seed, error, wall_seconds, sweep_id, dict(params))
    row = _runs_columns(row, platforms)
    run_id = str(row["run_id"].iloc[0])
    meta = file_metadata(config.to_json(), seed, {"run_id": run_id})
    path = run_file(sweep_dir, "runs", config.meta.story, config.meta.setup, run_id)
    return _write(row, path, meta)


# ----------------------------------------------------------------------------- reading


def _column(path: Path, name: str) -> list[Any]:
    """One column of one parquet file, read by the file's own reader: ``pq.read_table``
    goes through ``pyarrow.dataset``, whose import loads pandas (≈ 0.3 s), which a sweep's
    launching process otherwise never needs while its workers run the jobs."""
    with pq.ParquetFile(path) as f:
        return f.read(columns=[name]).column(0).to_pylist()


def run_status(path: Path) -> str | None:
    """``ok`` or ``failed`` from a run's main ``runs`` file, None if it does not exist."""
    if not path.is_file():
        return None
    try:
        status = _column(path, "status")
    except (OSError, pa.ArrowException):
        return None  # unreadable (e.g. truncated by a crash): run it again
    return str(status[0]) if status else None


def verify_run(sweep_dir: str | Path, story: str, setup: str, run_id: str) -> str | None:
    """A finished run's status once its files are checked: ``ok`` only if its main ``runs``
    file says ok and every file it wrote is readable with the row count recorded in that
    marker; ``failed`` if it failed; None if it must run (again): missing or damaged."""
    main = run_file(sweep_dir, "runs", story, setup, run_id)
    status = run_status(main)
    if status != "ok":
        return status
    try:
        raw = (pq.read_schema(main).metadata or {}).get(ROWS_KEY.encode())
        rows = json.loads(raw) if raw else {"runs": None, "timeseries": None, "events": None}
        for name, expected in rows.items():
            table, _, part = name.partition("/setup=")
            path = run_file(sweep_dir, table, story, part or setup, run_id)
            found = pq.read_metadata(path).num_rows  # raises if missing or damaged
            if expected is not None and found != expected:
                return None
    except (OSError, ValueError, pa.ArrowException):
        return None  # a file missing, truncated or not parquet: run it again
    return "ok"


def damaged_files(sweep_dir: str | Path) -> list[tuple[Path, str]]:
    """Every parquet file of the sweep that cannot be read (footer and schema), with why."""
    out = []
    for table in TABLES:
        for path in sorted((Path(sweep_dir) / table).rglob("*.parquet")):
            try:
                pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                out.append((path, str(exc).splitlines()[0][:120]))
    return out


def run_error(path: Path) -> str:
    """The error text recorded in a run's main ``runs`` file ('' if none)."""
    if not path.is_file():
        return ""
    errors = _column(path, "error")
    return str(errors[0]) if errors else ""


def read_table(sweep_dir: str | Path, table: str = "runs", run_ids=None) -> pd.DataFrame:
    """One table of a sweep as a pandas DataFrame (partition columns as plain strings).

    Args:
        sweep_dir: the sweep directory.
        table: ``runs``, ``timeseries`` or ``events``.
        run_ids: keep only these runs (read with a pushed-down filter).
    """
    import pandas as pd

    if table not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, not {table!r}")
    path = Path(sweep_dir) / table
    if not path.is_dir():
        return pd.DataFrame()
    filters = [("run_id", "in", list(run_ids))] if run_ids is not None else None
    df = pd.read_parquet(path, filters=filters)
    for key in PARTITION_KEYS:
        if key in df.columns:
            df[key] = df[key].astype("str")
    # the partition columns (added from the paths, at the end) next to the run id
    keys = [k for k in PARTITION_KEYS if k in df.columns]
    rest = [c for c in df.columns if c not in keys]
    return df[rest[:1] + keys + rest[1:]]
