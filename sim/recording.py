"""Recording: the ``timeseries`` and ``events`` tables, and parquet files written atomically.

``timeseries`` is long format, one row per (time, SKU, node). Nodes are consumer regions
(``node_type=region``: demand, sold, lost, backlog, in_transit = parcels heading there,
returned = units sent back, views), warehouses (on_hand, in_transit = stock heading there,
shipped = parcels handed to carriers, returned = returns received) and factories (on_hand =
finished goods, produced). Columns that do not apply to a node type are 0. At ``day``
resolution flows are summed over the day and stocks are taken at the day's last hour.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.clock import HOURS_PER_DAY

if TYPE_CHECKING:
    from sim.holdings import Sums
    from sim.model import ViralChainModel

SCHEMA_VERSION = "1"

TS_FIELDS = (
    "demand",
    "sold",
    "lost",
    "backlog",
    "on_hand",
    "in_transit",
    "produced",
    "shipped",
    "returned",
    "views",
)
FLOW_FIELDS = {"demand", "sold", "lost", "produced", "shipped", "returned", "views"}
_F = {f: i for i, f in enumerate(TS_FIELDS)}

TIMESERIES_COLUMNS = ["run_id", "t_hours", "sku", "node", "node_type", *TS_FIELDS]
EVENTS_COLUMNS = ["run_id", "t_hours", "kind", "actor", "sku", "quantity", "value", "detail"]


class Recorder:
    """Collects the timeseries of one run in a preallocated array."""

    def __init__(self, model: ViralChainModel):
        self.model = model
        res = model.config.run.timeseries_resolution
        self.resolution = res
        H = model.horizon_hours
        self.period = HOURS_PER_DAY if res == "day" else 1
        n_t = 0 if res == "off" else -(-H // self.period)
        self.node_names = (
            list(model.geo.names)
            + [w.name for w in model.warehouses]
            + [f.name for f in model.factories]
        )
        self.node_types = (
            ["region"] * len(model.geo)
            + ["warehouse"] * len(model.warehouses)
            + ["factory"] * len(model.factories)
        )
        self.data = np.zeros((n_t, model.n_sku, len(self.node_names), len(TS_FIELDS)), np.int64)
        self._r0 = 0
        self._w0 = len(model.geo)
        self._f0 = self._w0 + len(model.warehouses)
        # the cells of a row that hold stocks (set every hour), and their cached values
        cells = np.zeros(self.data.shape[1:], dtype=bool)
        cells[:, : self._w0, [_F["backlog"], _F["in_transit"]]] = True
        cells[:, self._w0 : self._f0, [_F["on_hand"], _F["in_transit"]]] = True
        cells[:, self._f0 :, _F["on_hand"]] = True
        self._stock_cells = cells
        self._stocks = np.zeros(self.data.shape[1:], dtype=np.int64)
        self._stocks_key = b""  # the holdings' bytes the cached stocks were taken from
        self._stock_sums: Sums | None = None  # the stocks, summed from the holdings' buffer
        self._flow_sums: Sums | None = None  # the recorded flows of the supply side's hour
        # each row as a flat view, and the flat positions in a row of the stock cells (C
        # order) and of the ledger's hourly region flows (its block's elements, in order):
        # one indexed assignment or addition each (the cells are distinct)
        self._rows = self.data.reshape(n_t, cells.size)
        self._stock_at = np.flatnonzero(cells)
        self._stock_values = self._stocks.reshape(-1)[self._stock_at]
        cell = np.arange(cells.size).reshape(cells.shape)
        fields = [_F[f] for f in model.ledger.HOURLY_REGION_FIELDS]
        self._region_flow_at = cell[:, : self._w0, fields].reshape(-1)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A copy of the recorder (a copied model's): its rows a view of its own table
        again (a copy's are a copy, detached from it), the sums kept over the holdings'
        buffers made again at their next use (the model's buffers are others then)."""
        self.__dict__.update(state)
        self._rows = self.data.reshape(len(self.data), -1)
        self._stocks_key = b""
        self._stock_sums = None
        self._flow_sums = None

    def record(self, hour: int) -> None:
        """Add the hour's flows and set the stocks at its end.

        The stocks come from a cached block (:meth:`stocks`), rebuilt only when a stock
        they read changed since the last hour (the model's holdings buffer tells, the
        warehouses' reservations left out: :meth:`sim.holdings.Holdings.books_key`); most
        hours change none. Flows are added only when there were any.
        """
        if self.resolution == "off":
            return
        m = self.model
        row = self._rows[hour // self.period]
        key = m.holdings.books_key()
        if key != self._stocks_key:
            if self._stock_sums is None:
                self._stock_sums = self._summed_stocks()
            self._stocks = self._stock_sums().reshape(self._stocks.shape)
            self._stock_values = self._stocks.reshape(-1)[self._stock_at]
            self._stocks_key = key
        row[self._stock_at] = self._stock_values
        ledger = m.ledger
        if ledger.hour_flowed:  # most hours have no flow; the ledger's block, in one add
            row[self._region_flow_at] += ledger.hour_block.reshape(-1)
        if m.hour_flows.any():  # shipped, returned, produced: one book of the flow buffer
            if self._flow_sums is None:
                self._flow_sums = self._summed_flows()
            self._flow_sums.add_to(row)

    def stocks(self) -> np.ndarray:
        """The stock fields of a row as they are now (every other field 0): the long way."""
        m = self.model
        out = np.zeros(self.data.shape[1:], dtype=np.int64)
        regions = out[:, : self._w0]
        # integer sums: one reduction each, exact (the same as adding them one by one)
        regions[:, :, _F["backlog"]] = _total([b.selling.backlog_region for b in m.brands])
        regions[:, :, _F["in_transit"]] = _total([c.parcels_to_region for c in m.carriers])
        if m.warehouses:  # one array operation per field for all warehouses
            whs = out[:, self._w0 : self._f0]
            whs[:, :, _F["on_hand"]] = np.array([w.on_hand for w in m.warehouses]).T
            whs[:, :, _F["in_transit"]] = _total([c.stock_in_transit_to for c in m.carriers])
        if m.factories:
            facs = out[:, self._f0 :]
            facs[:, :, _F["on_hand"]] = np.array([f.fg for f in m.factories]).sum(axis=2).T
        return out

    def _summed_stocks(self) -> Sums:
        """:meth:`stocks` as one book of integer sums over the holdings' buffer (each cell
        gets the elements :meth:`stocks` adds there: exact, so the same values)."""
        m = self.model
        w0, f0 = self._w0, self._f0
        cell = np.arange(self._stocks.size).reshape(self._stocks.shape)
        terms = [(b.selling.backlog_region, cell[:, :w0, _F["backlog"]]) for b in m.brands]
        terms += [(c.parcels_to_region, cell[:, :w0, _F["in_transit"]]) for c in m.carriers]
        terms += [(w.on_hand, cell[:, w0 + i, _F["on_hand"]]) for i, w in enumerate(m.warehouses)]
        if m.warehouses:
            at = cell[:, w0:f0, _F["in_transit"]]
            terms += [(c.stock_in_transit_to, at) for c in m.carriers]
        for i, f in enumerate(m.factories):  # finished goods, summed over their destinations
            terms.append((f.fg, cell[:, f0 + i, _F["on_hand"], None]))
        return m.holdings.sums(terms, cell.size)

    def _summed_flows(self) -> Sums:
        """The warehouses' shipped and returned and the factories' produced units of the
        hour, in their cells of a row (every other cell 0), from the hour's flow buffer."""
        m = self.model
        w0, f0 = self._w0, self._f0
        cell = np.arange(self._stocks.size).reshape(self._stocks.shape)
        terms = []
        for i, w in enumerate(m.warehouses):
            terms += [
                (w.shipped_hour, cell[:, w0 + i, _F["shipped"]]),
                (w.returned_hour, cell[:, w0 + i, _F["returned"]]),
            ]
        terms += [
            (f.produced_hour, cell[:, f0 + i, _F["produced"]]) for i, f in enumerate(m.factories)
        ]
        return m.hour_flows.sums(terms, cell.size)

    def check(self) -> None:
        """Debug mode: the cached stocks are those of now (raises when stale)."""
        from sim.invariants import InvariantError

        if self.resolution != "off" and not np.array_equal(self._stocks, self.stocks()):
            raise InvariantError(f"hour {self.model.hour}: stale recorded stocks")

    def timeseries(self, run_id: str) -> pd.DataFrame:
        """The long-format table (rows only for nodes that handle the SKU)."""
        m = self.model
        n_t, n_sku, n_node, _ = self.data.shape
        if n_t == 0:
            return _empty_timeseries()
        node_brand = np.array(
            [-1] * len(m.geo) + [w.brand for w in m.warehouses] + [f.brand for f in m.factories]
        )
        relevant = (node_brand[None, :] < 0) | (node_brand[None, :] == m.sku_brand[:, None])
        t_idx, s_idx, n_idx = np.nonzero(np.broadcast_to(relevant, (n_t, n_sku, n_node)))
        values = self.data[t_idx, s_idx, n_idx]
        return _frame(
            {
                "run_id": _strings([run_id], np.zeros(len(t_idx), dtype=np.int64)),
                "t_hours": (t_idx * self.period).astype(np.int64),
                "sku": _strings(m.sku_names, s_idx),
                "node": _strings(self.node_names, n_idx),
                "node_type": _strings(self.node_types, n_idx),
                # every field in the constructor: a column set afterwards costs pandas a
                # look-up of the whole column index (≈ 0.3 ms each)
                **{f: values[:, j].astype(np.int64) for j, f in enumerate(TS_FIELDS)},
            }
        )


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """``pd.DataFrame(columns)``, its column labels (pandas' ``str`` index) made from arrow
    as the string columns are (:func:`_arrow_strings`): the same frame. Every string a run's
    tables hold is put together this way, so that a run never asks pyarrow's pandas shim
    (its first use in a process costs a few milliseconds); writing a table still does."""
    df = pd.DataFrame(dict(enumerate(columns.values())))
    df.columns = pd.Index(pd.array(_arrow_strings(list(columns)), dtype="str"))
    return df


def _strings(names: list[str], index: np.ndarray) -> pd.Series:
    """``pd.Series(np.array(names, dtype=object)[index], dtype="str")``, taken from the few
    names as an arrow array (pandas' ``str`` is arrow's ``large_string``): the same column,
    without converting a Python string object per row."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    at = pa.Array.from_buffers(pa.int64(), len(index), [None, pa.py_buffer(index)])
    return pd.Series(pd.array(_arrow_strings(names).take(at), dtype="str"))


def _str_column(values: Sequence[str]) -> pd.Series:
    """``pd.Series(values, dtype="str")``: the column made from the strings' UTF-8 bytes."""
    return pd.Series(pd.array(_arrow_strings(values), dtype="str"))


def _arrow_strings(values: Sequence[str]) -> pa.Array:
    """An arrow ``large_string`` array of ``values``, put together from
    their UTF-8 bytes and offsets: what ``pa.array(values, pa.large_string())`` makes, but
    without going through pyarrow's pandas shim, whose first use in a process costs a few
    milliseconds (it compiles a version pattern) that a run would otherwise pay. Every
    value must be a ``str``: a missing value (None, NaN) would otherwise become text."""
    try:
        encoded = [v.encode() for v in values]
    except AttributeError:
        bad = next(v for v in values if not isinstance(v, str))
        raise TypeError(f"a table's strings must be str, not {bad!r}") from None
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_string(),
        len(encoded),
        [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )


def _total(arrays: list[np.ndarray]) -> np.ndarray | int:
    """The sum of same-shaped integer arrays (0 for none)."""
    if not arrays:
        return 0
    return arrays[0] if len(arrays) == 1 else np.add.reduce(arrays)


def _empty_timeseries() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="int64") for c in TIMESERIES_COLUMNS})
    for c in ("run_id", "sku", "node", "node_type"):
        df[c] = df[c].astype("str")
    return df


def events_frame(rows: list[tuple], run_id: str) -> pd.DataFrame:
    """The events table from the model's event rows (``(t_hours, kind, actor, sku,
    quantity, value, detail)``), every column made with its type in the constructor."""
    t_hours, kind, actor, sku, quantity, value, detail = (
        zip(*rows, strict=True) if rows else ((),) * 7
    )
    return _frame(
        {
            "run_id": _strings([run_id], np.zeros(len(rows), dtype=np.int64)),
            "t_hours": np.array(t_hours, dtype=np.int64),
            "kind": _str_column(kind),
            "actor": _str_column(actor),
            "sku": _str_column(sku),
            "quantity": np.array(quantity, dtype=np.float64),
            "value": np.array(value, dtype=np.float64),
            "detail": _str_column(detail),
        }
    )


# ----------------------------------------------------------------------------- files


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine results (read once per process: reading a
    distribution's metadata costs 1-3 ms, and a run writes several tables)."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> dict[str, str]:
    out = {}
    for name in ("viralchain", "mesa", "numpy", "pandas", "pyarrow", "pydantic"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def file_metadata(config_json: str, seed: int, extra: dict[str, Any] | None = None) -> dict:
    """Schema metadata carried by every table file."""
    meta = {
        "viralchain.config": config_json,
        "viralchain.seed": str(seed),
        "viralchain.versions": json.dumps(package_versions(), sort_keys=True),
        "viralchain.schema_version": SCHEMA_VERSION,
    }
    for k, v in (extra or {}).items():
        meta[f"viralchain.{k}"] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return meta


def write_table(df: pd.DataFrame, path: Path, meta: dict[str, str]) -> Path:
    """Write ``df`` to ``path`` atomically: a dot-named temporary file, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    existing = table.schema.metadata or {}
    merged = {**{k.decode(): v.decode() for k, v in existing.items()}, **meta}
    merged.pop("pandas", None)  # carries pandas' own version string: not needed to read back
    table = table.replace_schema_metadata(merged)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    """The viralchain metadata of a table file."""
    raw = pq.read_schema(path).metadata or {}
    return {
        k.decode().removeprefix("viralchain."): v.decode()
        for k, v in raw.items()
        if k.startswith(b"viralchain.")
    }
