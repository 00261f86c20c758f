"""KPI tables as files a client opens: CSV, Excel (``.xlsx``) or JSON.

``viralchain run/compare/demo --format csv|xlsx|json`` write ``kpis.<format>`` beside the
run's tables (:func:`kpi_frame`: one row per KPI of the catalogue, with its unit and better
direction, one column per setup or variant, and for a comparison the difference and the
change in %); ``viralchain report`` writes its tables into ``report.xlsx``
(:func:`write_workbook`). Files are written under a temporary name and then moved, so a
reader never sees half a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported where a table is made: the parser reads FORMATS only
    import pandas as pd

FORMATS = ("csv", "xlsx", "json")


def kpi_frame(columns: Mapping[str, Mapping[str, float]], diff: bool = False) -> pd.DataFrame:
    """The KPI table as data: ``kpi, unit, better, label, <column>..., [difference,
    change_pct]`` (difference = last column − first; change_pct in % of the first)."""
    import pandas as pd

    from sim.kpis import CATALOGUE

    labels = list(columns)
    rows = []
    for k in CATALOGUE:
        row: dict[str, Any] = {
            "kpi": k.name,
            "unit": k.unit,
            "better": k.better,
            "label": k.label,
        }
        values = [columns[c].get(k.name, math.nan) for c in labels]
        for c, v in zip(labels, values, strict=True):
            row[c] = _number(v)
        if diff and len(labels) >= 2:
            a, b = values[0], values[-1]
            d = _number(b - a) if a is not None and b is not None else None
            row["difference"] = d
            row["change_pct"] = _number(d / abs(a) * 100) if d is not None and a else None
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def write_kpis(
    frame: pd.DataFrame, path: Path, fmt: str, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write a KPI table as ``fmt`` (csv, xlsx or json); ``meta`` (title, seed, variants)
    goes into the JSON object and a second sheet of the workbook (CSV: the table only)."""
    meta = dict(meta or {})
    if fmt == "csv":
        return _atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
    if fmt == "json":
        doc = {**meta, "kpis": json.loads(frame.to_json(orient="records"))}
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    if fmt == "xlsx":
        import pandas as pd

        about = pd.DataFrame(
            [{"key": k, "value": _flat(v)} for k, v in meta.items()], columns=["key", "value"]
        )
        return write_workbook({"kpis": frame, "about": about}, path)
    raise ValueError(f"format must be one of {FORMATS}")


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """One sheet per table (header row bold and frozen, columns as wide as their text)."""

    def save(tmp: Path) -> None:
        import pandas as pd
        from openpyxl.styles import Font

        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for name, df in tables.items():
                sheet = name[:31]  # Excel's limit
                df.to_excel(writer, sheet_name=sheet, index=False)
                ws = writer.sheets[sheet]
                ws.freeze_panes = "A2"
                for cell in ws[1]:
                    cell.font = Font(bold=True)
                for i, col in enumerate(df.columns, start=1):
                    width = max([len(str(col)), *(len(str(v)) for v in df[col].head(200))])
                    ws.column_dimensions[ws.cell(1, i).column_letter].width = min(width + 2, 50)

    return _atomic(path, save)


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # pandas picks the engine by suffix
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
