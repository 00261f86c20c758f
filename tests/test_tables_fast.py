"""The run's tables built faster, held equal to the way they were built: the ``timeseries``
string columns taken from the few names as an arrow array, the ``events`` table with every
column typed in its constructor; compared as frames (values and dtypes) and as the bytes of
the parquet files written from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model import ViralChainModel
from sim.recording import EVENTS_COLUMNS, TS_FIELDS, events_frame, write_table


def _timeseries_as_it_was(rec, run_id: str) -> pd.DataFrame:
    """``Recorder.timeseries`` before the sixth pass: a Python string per row and column."""
    m = rec.model
    n_t, n_sku, n_node, _ = rec.data.shape
    node_brand = np.array(
        [-1] * len(m.geo) + [w.brand for w in m.warehouses] + [f.brand for f in m.factories]
    )
    relevant = (node_brand[None, :] < 0) | (node_brand[None, :] == m.sku_brand[:, None])
    t_idx, s_idx, n_idx = np.nonzero(np.broadcast_to(relevant, (n_t, n_sku, n_node)))
    values = rec.data[t_idx, s_idx, n_idx]
    node_names = np.array(rec.node_names, dtype=object)
    node_types = np.array(rec.node_types, dtype=object)
    sku_names = np.array(m.sku_names, dtype=object)
    return pd.DataFrame(
        {
            "run_id": pd.Series(np.full(len(t_idx), run_id, dtype=object), dtype="str"),
            "t_hours": (t_idx * rec.period).astype(np.int64),
            "sku": pd.Series(sku_names[s_idx], dtype="str"),
            "node": pd.Series(node_names[n_idx], dtype="str"),
            "node_type": pd.Series(node_types[n_idx], dtype="str"),
            **{f: values[:, j].astype(np.int64) for j, f in enumerate(TS_FIELDS)},
        }
    )


def _events_as_it_was(rows: list[tuple], run_id: str) -> pd.DataFrame:
    """``events_frame`` before the sixth pass: built, then a column inserted and retyped."""
    df = pd.DataFrame(rows, columns=EVENTS_COLUMNS[1:])
    df.insert(0, "run_id", run_id)
    df["t_hours"] = df["t_hours"].astype(np.int64)
    df["quantity"] = df["quantity"].astype(np.float64)
    df["value"] = df["value"].astype(np.float64)
    for c in ("run_id", "kind", "actor", "sku", "detail"):
        df[c] = df[c].astype("str")
    return df


def _same(got: pd.DataFrame, want: pd.DataFrame, tmp_path, name: str) -> None:
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.dtypes) == list(want.dtypes)
    a = write_table(got, tmp_path / f"{name}-a.parquet", {"k": "v"})
    b = write_table(want, tmp_path / f"{name}-b.parquet", {"k": "v"})
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("story", "extra"),
    [
        (None, ("setup=flexible",)),
        ("two_brands", ("setup=rigid",)),  # two brands: nodes left out per SKU
        ("daily_multisku", ("setup=flexible", "run.timeseries_resolution=day")),
        ("multi_platform", ("setup=rigid",)),
    ],
)
def test_the_tables_are_built_as_they_were(story, extra, tmp_path):
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=360", *extra])
    m = ViralChainModel(cfg, 2)
    m.run()
    run_id = "0123abcd"
    _same(m.recorder.timeseries(run_id), _timeseries_as_it_was(m.recorder, run_id), tmp_path, "ts")
    assert len(m.events) > 1
    _same(events_frame(m.events, run_id), _events_as_it_was(m.events, run_id), tmp_path, "ev")


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [(0, "post", "kol-ä", "", 0.0, 0.0, "")],
        [(3, "stockout_start", "b", "s1", 2.0, -1.5, "d"), (7, "x", "", "s2", 1e300, 0.1, "é ✓")],
    ],
)
def test_events_frames_of_any_rows_are_what_they_were(rows, tmp_path):
    _same(events_frame(rows, "r"), _events_as_it_was(rows, "r"), tmp_path, "rows")


def test_a_run_does_not_wake_pyarrows_pandas_shim():
    """The run's tables are put together from arrow arrays of UTF-8 bytes, so ``sim.run``
    never asks pyarrow's pandas shim (``pyarrow.pandas_compat``, whose first use compiles
    ``pyarrow.vendored.version``'s pattern: a few ms on a process's first run); writing a
    table still does."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, sim\n"
        "cfg = sim.compose(None, ['setup=flexible', 'market.n_consumers=2000',"
        " 'run.horizon_hours=72'])\n"
        "r = sim.run(cfg, seed=1)\n"
        "assert len(r.timeseries) and len(r.events)\n"
        "assert 'pyarrow.vendored.version' not in sys.modules, 'the shim woke'\n"
        "assert 'pyarrow.pandas_compat' not in sys.modules, 'the shim woke'\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@pytest.mark.parametrize("bad", [None, float("nan"), 3, b"bytes"])
def test_a_missing_or_foreign_string_is_refused_not_written_as_text(bad):
    """``str(None)`` would be the text "None" where pandas keeps a missing value: the
    tables' strings are str or nothing is made."""
    from sim.recording import _arrow_strings

    assert _arrow_strings(["a", "bé"]).to_pylist() == ["a", "bé"]
    with pytest.raises(TypeError, match="strings must be str"):
        _arrow_strings(["a", bad])
