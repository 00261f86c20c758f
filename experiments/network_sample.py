"""The worked example of docs/client_network.md: Lumen, a skincare brand selling in five
European cities, as a workbook (``viralchain import --sample FILE``).

The rows are written here, once; ``scripts/make_sample_workbook.py`` writes the shipped copy
(``docs/examples/client_network.xlsx`` and the CSV folder beside it) from them, so the sample
can always be made again. Every figure is an assumption made for the example, and its
``source`` cell says so.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

ASSUMED = "assumption for the worked example"

# fmt: off
SAMPLE: dict[str, list[list[Any]]] = {
    "client": [
        ["key", "value"],
        ["name", "lumen"],
        ["brand", "lumen"],
        ["based_on_story", "head_kol_livestream"],
    ],
    "regions": [
        ["name", "population_share", "latitude", "longitude", "local_radius_km", "source"],
        ["paris", 0.30, 48.857, 2.352, 25, "buyers by city, client CRM 2025 (" + ASSUMED + ")"],
        ["berlin", 0.25, 52.520, 13.405, 25, ASSUMED],
        ["milan", 0.20, 45.464, 9.190, 20, ASSUMED],
        ["madrid", 0.15, 40.417, -3.704, 25, ASSUMED],
        ["warsaw", 0.10, 52.230, 21.012, 20, ASSUMED],
    ],
    "factories": [
        ["name", "region", "role", "setups", "capacity_units_per_day", "changeover_hours",
         "moq_units", "batch_size_units", "material_lead_hours", "cost_factor",
         "setup_cost_per_order", "retainer_per_day", "skus", "postponement", "source"],
        ["lodz_plant", "warsaw", "regular", "both", 3000, 8, 5000, 1000, 240, 1.0, 2000, 0, "",
         "no", "contract manufacturer's quote (" + ASSUMED + ")"],
        ["milan_lab", "milan", "quick_response", "flexible", 800, 1, 200, 100, 24, 1.3, 300, 150,
         "", "yes", "small-batch lab, 30% dearer per unit, a retainer (" + ASSUMED + ")"],
        ["paris_workshop", "paris", "quick_response", "flexible", 300, None, None, None, None,
         1.4, None, None, "serum", "no",
         "partner workshop; blank cells: the shipped quick-response factory's values"],
    ],
    "warehouses": [
        ["name", "region", "kind", "setups", "serves", "pick_capacity_units_per_hour",
         "holding_cost_per_unit_day", "returns_capacity_units_per_day", "restock_fraction",
         "handling_cost_per_unit", "fixed_cost_per_day", "source"],
        ["berlin_dc", "berlin", "central", "both", "", 150, 0.05, 300, 0.8, 0.5, 0,
         "3PL contract (" + ASSUMED + ")"],
        ["madrid_hub", "madrid", "forward", "flexible", "madrid", 80, 0.08, 150, 0.8, 0.8, 200,
         ASSUMED],
    ],
    "carriers": [
        ["name", "kind", "setups", "capacity_units_per_day", "dispatch_hours",
         "speed_km_per_hour", "handling_hours", "cost_per_unit_km", "cost_per_unit",
         "cost_per_parcel", "elastic", "surge_price_multiplier", "source"],
        ["road", "line_haul", "both", 20000, "18", 60, 12, 0.0008, 0.3, 0, "no", 1,
         "pallet freight rate card (" + ASSUMED + ")"],
        ["parcel", "last_mile", "rigid", 3000, "18", 45, 10, 0.002, 3.5, 0, "no", 1,
         "one evening pick-up (" + ASSUMED + ")"],
        ["parcel", "last_mile", "flexible", 3000, "12;23", 45, 10, 0.002, 3.5, 0, "no", 1,
         "a second, late pick-up (" + ASSUMED + ")"],
        ["courier", "last_mile", "flexible", 3000, "2;8;14;20", 55, 4, 0.002, 3.5, 0, "yes",
         1.8, "on-demand couriers, surge pricing (" + ASSUMED + ")"],
    ],
    "products": [
        ["name", "price", "unit_cost", "initial_stock_units", "reference_price", "category",
         "novelty_half_life_days", "salvage_fraction", "source"],
        ["serum", 39, 9, 1500, 39, "skincare", 21, 0.5, "list price and BOM (" + ASSUMED + ")"],
        ["cream", 29, 7, 1200, 29, "skincare", 21, 0.5, ASSUMED],
    ],
}
# fmt: on

_FIXED_TIME = datetime(2026, 1, 1)  # the workbook's stored dates: the same file every time


def write_sample(target: str | Path, sheets: dict[str, list[list[Any]]] | None = None) -> Path:
    """Write the sample (or other ``sheets`` of rows) as an ``.xlsx`` workbook, or (no
    suffix) a folder of CSV files."""
    target = Path(target)
    sheets = SAMPLE if sheets is None else sheets
    if target.suffix.lower() == ".xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        book.remove(book.active)
        for sheet, rows in sheets.items():
            ws = book.create_sheet(sheet)
            for row in rows:
                ws.append(row)
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for i, column in enumerate(zip(*rows, strict=True), start=1):
                width = max(len(str(v)) for v in column if v is not None)
                ws.column_dimensions[ws.cell(1, i).column_letter].width = min(width + 2, 60)
            ws.freeze_panes = "A2"
        book.properties.creator = "viralchain"
        book.properties.created = _FIXED_TIME
        book.properties.modified = _FIXED_TIME
        target.parent.mkdir(parents=True, exist_ok=True)
        book.save(target)
        return target
    target.mkdir(parents=True, exist_ok=True)
    for sheet, rows in sheets.items():
        with (target / f"{sheet}.csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(
                [["" if v is None else v for v in row] for row in rows]
            )
    return target
