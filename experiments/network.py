"""The client's network from a spreadsheet: ``viralchain import WORKBOOK --out DIR``.

A workbook (Excel ``.xlsx``, or a folder of CSV files named after the sheets) describes a
client: its regions, factories, warehouses, carriers and products. The import checks every
cell, then writes a config directory for ``--config-dir`` (docs/client_network.md):

- ``market/default.yaml`` — the shipped market with the client's regions;
- ``supply/rigid.yaml``, ``supply/flexible.yaml`` — the factories of each setup;
- ``logistics/rigid.yaml``, ``logistics/flexible.yaml`` — warehouses and carriers;
- ``story/<name>.yaml`` — the client's products, with the KOLs, content calendar and horizon
  of a shipped story (``based_on_story``).

They replace the shipped options of the same name, so ``setup=rigid`` and ``setup=flexible``
(and ``viralchain demo``) run on the client's network. Each file is complete (not a diff on
the shipped one): a later release of viralchain does not change a client's network.

Sheets and columns (:data:`SHEETS`). A blank cell, or a column left out, takes the value of
the shipped actor of the same kind (:func:`shipped_templates`); ``name`` and the columns
marked required must be given. Regions are placed either by ``latitude``/``longitude``
(degrees; great-circle distances) or by ``x_km``/``y_km`` (a plane), the same way for all.
The ``setups`` column (factories, warehouses, carriers) says which setups have the actor:
``both`` (blank), ``rigid`` or ``flexible``; one name may have a row per setup. The
``source`` column is where a figure comes from; it is written into the files as a comment.

Every problem is reported as ``invalid workbook: FILE, sheet S, row R, column C = VALUE:
what is allowed``, exit 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from experiments import exits
from experiments.exits import EXIT_OK, EXIT_USAGE
from sim.errors import ConfigError

SETUPS = ("rigid", "flexible")
BASE_STORY = "head_kol_livestream"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its parser and whether a value must be given."""

    name: str
    kind: str  # name | text | number | int | bool | names | hours | setups | choice
    required: bool = False
    choices: tuple[str, ...] = ()
    meaning: str = ""


def _cols(*items: Column) -> dict[str, Column]:
    return {c.name: c for c in items}


_SOURCE = Column("source", "text", meaning="where the row's figures come from (a comment)")
_SETUPS = Column(
    "setups", "setups", meaning="which setups have it: both (blank), rigid or flexible"
)

SHEETS: dict[str, dict[str, Column]] = {
    "client": _cols(
        Column("key", "text", True),
        Column("value", "text"),
    ),
    "regions": _cols(
        Column("name", "name", True, meaning="region name (letters, digits, _)"),
        Column("population_share", "number", True, meaning="share of consumers living there"),
        Column("latitude", "number", meaning="degrees north (with longitude)"),
        Column("longitude", "number", meaning="degrees east (with latitude)"),
        Column("x_km", "number", meaning="east-west position, km (instead of lat/lon)"),
        Column("y_km", "number", meaning="north-south position, km"),
        Column("local_radius_km", "number", meaning="mean last-mile distance inside it"),
        _SOURCE,
    ),
    "factories": _cols(
        Column("name", "name", True),
        Column("region", "name", True, meaning="a region of the regions sheet"),
        Column("role", "choice", True, ("regular", "quick_response")),
        _SETUPS,
        Column("capacity_units_per_day", "number"),
        Column("changeover_hours", "number"),
        Column("moq_units", "int"),
        Column("batch_size_units", "int"),
        Column("material_lead_hours", "number"),
        Column("cost_factor", "number"),
        Column("setup_cost_per_order", "number"),
        Column("retainer_per_day", "number", meaning="standing money per day to keep it ready"),
        Column("skus", "names", meaning="products it makes, ';'-separated (blank: all)"),
        Column("postponement", "bool", meaning="keeps generic modules ready (flexible setup)"),
        _SOURCE,
    ),
    "warehouses": _cols(
        Column("name", "name", True),
        Column("region", "name", True),
        Column("kind", "choice", True, ("central", "forward")),
        _SETUPS,
        Column("serves", "names", meaning="regions it ships to first, ';'-separated"),
        Column("pick_capacity_units_per_hour", "number"),
        Column("holding_cost_per_unit_day", "number"),
        Column("returns_capacity_units_per_day", "number"),
        Column("restock_fraction", "number"),
        Column("handling_cost_per_unit", "number"),
        Column("fixed_cost_per_day", "number", meaning="standing money per day to run it"),
        _SOURCE,
    ),
    "carriers": _cols(
        Column("name", "name", True),
        Column("kind", "choice", True, ("line_haul", "last_mile")),
        _SETUPS,
        Column("capacity_units_per_day", "number"),
        Column("dispatch_hours", "hours", meaning="cut-off hours of day, ';'-separated (0-23)"),
        Column("speed_km_per_hour", "number"),
        Column("handling_hours", "number"),
        Column("cost_per_unit_km", "number"),
        Column("cost_per_unit", "number"),
        Column("cost_per_parcel", "number"),
        Column("elastic", "bool", meaning="extra capacity bought above the contract"),
        Column("surge_price_multiplier", "number"),
        _SOURCE,
    ),
    "products": _cols(
        Column("name", "name", True),
        Column("price", "number", True),
        Column("unit_cost", "number", True),
        Column("initial_stock_units", "int", True),
        Column("reference_price", "number", meaning="the price buyers think fair (blank: price)"),
        Column("category", "text"),
        Column("launch_hour", "int"),
        Column("novelty_half_life_days", "number"),
        Column("salvage_fraction", "number"),
        Column("appeal", "number"),
        _SOURCE,
    ),
}
CLIENT_KEYS = {
    "name": "the client's story name (letters, digits, _): story=NAME",
    "brand": "the brand's name (blank: the client's name)",
    "based_on_story": f"the shipped story whose KOLs and content calendar it uses ({BASE_STORY})",
}
# which shipped section each sheet replaces, and the schema field of a column when it differs
_FIELD = {"latitude": "latitude_deg", "longitude": "longitude_deg"}
_BOOLS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


class WorkbookError(ConfigError):
    """Problems of a workbook, each naming file, sheet, row, column, value and what is allowed."""

    def render(self) -> str:
        """The problems as text, one per line."""
        return "\n".join(f"invalid workbook: {f} = {v!r}: {a}" for f, v, a in self.problems)


@dataclass
class Cell:
    """Where a value came from."""

    sheet: str
    row: int
    column: str


@dataclass
class Workbook:
    """The sheets of a workbook as rows of ``{column: raw value}`` with their row numbers."""

    path: Path
    sheets: dict[str, list[tuple[int, dict[str, Any]]]]
    headers: dict[str, list[str]]

    def where(self, sheet: str, row: int | None = None, column: str | None = None) -> str:
        """``file, sheet S, row R, column C`` (as much as is known)."""
        text = f"{self.path.name}, sheet {sheet}"
        if row is not None:
            text += f", row {row}"
        if column is not None:
            text += f", column {column}"
        return text


# ----------------------------------------------------------------------------- reading


def read(path: str | Path) -> Workbook:
    """Read an ``.xlsx`` workbook, or a folder of ``<sheet>.csv`` files.

    Raises:
        WorkbookError: the file cannot be read, or a sheet is missing.
    """
    p = Path(path)
    if p.is_dir():
        raw = {f.stem.lower(): _csv_rows(f) for f in sorted(p.glob("*.csv"))}
    elif p.suffix.lower() in (".xlsx", ".xlsm"):
        raw = _xlsx_rows(p)
    elif p.suffix.lower() == ".csv":
        raise WorkbookError(
            [
                (
                    str(p),
                    p.name,
                    "a CSV network is a folder of CSV files, one per sheet "
                    f"({', '.join(f'{s}.csv' for s in SHEETS)}): give the folder",
                )
            ]
        )
    else:
        why = "no such file" if not p.exists() else f"unknown kind of file ({p.suffix or 'none'})"
        raise WorkbookError(
            [("workbook", str(p), f"must be an .xlsx file or a folder of CSV files ({why})")]
        )
    missing = [s for s in SHEETS if s not in raw]
    if missing:
        raise WorkbookError(
            [
                (
                    f"{p.name}, sheet {s}",
                    "(missing)",
                    f"the workbook must have the sheets {list(SHEETS)}",
                )
                for s in missing
            ]
        )
    sheets, headers = {}, {}
    for name in SHEETS:
        rows = raw[name]
        if not rows:
            raise WorkbookError([(f"{p.name}, sheet {name}", "(empty)", "must have a header row")])
        header = [_text(h).lower() for h in rows[0][1]]
        headers[name] = header
        body = []
        for number, values in rows[1:]:
            if all(_blank(v) for v in values):
                continue
            body.append((number, {h: v for h, v in zip(header, values, strict=False) if h}))
        sheets[name] = body
    return Workbook(p, sheets, headers)


def _xlsx_rows(path: Path) -> dict[str, list[tuple[int, list[Any]]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise WorkbookError([("workbook", str(path), "no such file")]) from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise WorkbookError(
            [("workbook", str(path), f"not a readable .xlsx file ({type(exc).__name__})")]
        ) from None
    try:
        out = {}
        for ws in book.worksheets:
            rows = []
            for i, values in enumerate(ws.iter_rows(values_only=True), start=1):
                rows.append((i, list(values)))
            out[ws.title.strip().lower()] = rows
        return out
    finally:
        book.close()


def _csv_rows(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return [(i, row) for i, row in enumerate(csv.reader(f), start=1)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise WorkbookError(
            [(str(path), path.name, f"not a readable UTF-8 CSV file ({type(exc).__name__})")]
        ) from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ----------------------------------------------------------------------------- parsing


def _parse(value: Any, col: Column) -> Any:
    """A cell's value as its column's kind, or ValueError saying what is allowed."""
    if col.kind in ("number", "int"):
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, int | float):
            number = float(value)
        else:
            try:
                number = float(_text(value).replace(",", ""))
            except ValueError:
                raise ValueError("must be a number") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        if col.kind == "int":
            if not number.is_integer():
                raise ValueError("must be a whole number")
            return int(number)
        return int(number) if number.is_integer() else number
    text = _text(value)
    if col.kind == "name":
        if not _NAME.match(text):
            raise ValueError("must be a name: a letter, then letters, digits or _")
        return text
    if col.kind == "choice":
        if text not in col.choices:
            raise ValueError(f"must be one of {list(col.choices)}")
        return text
    if col.kind == "bool":
        if text.lower() not in _BOOLS:
            raise ValueError("must be yes or no")
        return _BOOLS[text.lower()]
    if col.kind == "setups":
        if text.lower() in ("", "both"):
            return list(SETUPS)
        if text.lower() not in SETUPS:
            raise ValueError("must be both, rigid or flexible")
        return [text.lower()]
    if col.kind == "names":
        parts = [t.strip() for t in re.split(r"[;,]", text) if t.strip()]
        bad = [t for t in parts if not _NAME.match(t)]
        if bad:
            raise ValueError("must be names separated by ';'")
        return parts
    if col.kind == "hours":
        try:
            hours = [float(t) for t in re.split(r"[;,]", text) if t.strip()]
        except ValueError:
            raise ValueError("must be hours of day 0-23 separated by ';'") from None
        if not hours or any(h < 0 or h > 23 or not h.is_integer() for h in hours):
            raise ValueError("must be hours of day 0-23 separated by ';'")
        return sorted({int(h) for h in hours})
    return text


@dataclass
class Row:
    """One parsed row: its values and where each came from."""

    sheet: str
    number: int
    values: dict[str, Any]
    setups: list[str] = field(default_factory=lambda: list(SETUPS))
    source: str = ""


def _rows(book: Workbook, sheet: str, problems: list) -> list[Row]:
    cols = SHEETS[sheet]
    unknown = [h for h in book.headers[sheet] if h and h not in cols]
    for h in unknown:
        problems.append(
            (book.where(sheet, 1, h), h, f"unknown column; the columns are {list(cols)}")
        )
    missing = [c.name for c in cols.values() if c.required and c.name not in book.headers[sheet]]
    for name in missing:
        problems.append((book.where(sheet, 1), "(no such column)", f"column {name!r} is required"))
    out = []
    for number, raw in book.sheets[sheet]:
        row = Row(sheet, number, {})
        for name, col in cols.items():
            value = raw.get(name)
            if _blank(value):
                if col.required and name not in missing:
                    problems.append((book.where(sheet, number, name), "", "must be given"))
                continue
            try:
                parsed = _parse(value, col)
            except ValueError as exc:
                problems.append((book.where(sheet, number, name), value, str(exc)))
                continue
            if name == "setups":
                row.setups = parsed
            elif name == "source":
                row.source = parsed
            else:
                row.values[name] = parsed
        out.append(row)
    if not out and sheet != "client":
        problems.append((book.where(sheet), "(no rows)", "must have at least one row"))
    return out


# ----------------------------------------------------------------------------- building


def shipped_templates() -> dict[str, dict[str, dict[str, Any]]]:
    """The shipped actor each kind of row takes its blank cells from (as the setups ship
    them, without any story's changes).

    ``factories``: by role (the first shipped factory of that role); ``warehouses``: by kind;
    ``carriers``: by kind, and ``last_mile_elastic`` for an elastic last-mile carrier.
    """
    from experiments.compose import compose_dict

    flexible = compose_dict(None, ["~story", "setup=flexible"])
    rigid = compose_dict(None, ["~story", "setup=rigid"])
    out: dict[str, dict[str, dict[str, Any]]] = {"factories": {}, "warehouses": {}, "carriers": {}}
    for cfg in (rigid, flexible):
        for f in cfg["supply"]["factories"].values():
            out["factories"].setdefault(f["role"], f)
        for w in cfg["logistics"]["warehouses"].values():
            out["warehouses"].setdefault(w["kind"], w)
        for c in cfg["logistics"]["carriers"].values():
            key = c["kind"] + ("_elastic" if c["elastic"] else "")
            out["carriers"].setdefault(key, c)
    region = next(iter(rigid["market"]["regions"].values()))
    out["regions"] = {"": {"local_radius_km": region["local_radius_km"]}}
    return out


def _product_template(story: str) -> dict[str, Any]:
    """The first product of a shipped story: where a product row's blank cells come from."""
    from experiments.compose import compose_dict

    products = compose_dict(story, ["setup=rigid"])["brand"]["products"]
    return dict(next(iter(products.values())))


NETWORK_KEYS = (
    ("market", "regions"),
    ("supply", "factories"),
    ("logistics", "warehouses"),
    ("logistics", "carriers"),
)


def base_stories() -> list[str]:
    """Shipped stories a client's story can borrow its KOLs and content calendar from: those
    with a main brand and no rival brands (a rival brings a network of its own)."""
    from experiments.compose import scenarios_dir

    ok = []
    for f in sorted((scenarios_dir() / "story").glob("*.yaml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        if "brand" in data and not data.get("rivals"):
            ok.append(f.stem)
    return ok


def _without_network(story: dict[str, Any]) -> list[str]:
    """Drop a story's changes to the shipped network (the client's replaces it, in place);
    the dotted keys dropped."""
    dropped = []
    for section, key in NETWORK_KEYS:
        part = story.get(section)
        if isinstance(part, dict) and key in part:
            dropped.append(f"{section}.{key}")
            del part[key]
            if not part:
                del story[section]
    return dropped


@dataclass
class Network:
    """The client's network, parsed and checked, ready to write."""

    name: str
    brand: str
    based_on_story: str
    regions: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    factories: dict[str, dict[str, dict[str, Any]]]  # setup -> name -> fields
    postponement: dict[str, list[str]]  # setup -> factories
    warehouses: dict[str, dict[str, dict[str, Any]]]
    carriers: dict[str, dict[str, dict[str, Any]]]
    sources: dict[str, str]  # "sheet name" -> source
    origin: dict[str, Cell]  # dotted config path -> the cell it came from
    workbook: Path


def parse(path: str | Path) -> Network:
    """Read and check a workbook.

    Raises:
        WorkbookError: every problem found, each naming sheet, row, column and value.
    """
    book = read(path)
    problems: list[tuple[str, object, str]] = []
    rows = {s: _rows(book, s, problems) for s in SHEETS}
    if problems:
        raise WorkbookError(problems)
    templates = shipped_templates()
    client = _client(book, rows["client"], problems)
    origin: dict[str, Cell] = {}
    sources: dict[str, str] = {}

    def names(sheet: str, per_setup: bool) -> None:
        seen: dict[tuple[str, str], int] = {}
        for r in rows[sheet]:
            for s in r.setups if per_setup else [""]:
                key = (r.values.get("name", ""), s)
                if key in seen:
                    problems.append(
                        (
                            book.where(sheet, r.number, "name"),
                            key[0],
                            f"already on row {seen[key]}"
                            + (f" for the {s} setup" if s else "")
                            + ": names must be unique",
                        )
                    )
                seen[key] = r.number

    for sheet, per_setup in (
        ("regions", False),
        ("products", False),
        ("factories", True),
        ("warehouses", True),
        ("carriers", True),
    ):
        names(sheet, per_setup)
    regions = _regions(book, rows["regions"], templates, origin, sources, problems)
    products = {}
    product_template = _product_template(client["based_on_story"])
    for r in rows["products"]:
        v = dict(r.values)
        name = v.pop("name")
        v = {**product_template, "reference_price": v["price"], **v}
        products[name] = v
        _note(origin, sources, f"brand.products.{name}", r, v)
    region_names = list(regions)
    product_names = list(products)

    def ref(r: Row, column: str, allowed: list[str], what: str) -> None:
        values = r.values.get(column)
        for v in values if isinstance(values, list) else [values]:
            if v is not None and v not in allowed:
                problems.append(
                    (
                        book.where(r.sheet, r.number, column),
                        v,
                        f"must be one of the {what} {allowed}",
                    )
                )

    factories: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SETUPS}
    postponement: dict[str, list[str]] = {s: [] for s in SETUPS}
    for r in rows["factories"]:
        ref(r, "region", region_names, "regions")
        ref(r, "skus", product_names, "products")
        v = dict(r.values)
        name = v.pop("name")
        modules = v.pop("postponement", False)
        fields = {**templates["factories"][v["role"]], **v}
        fields.setdefault("skus", [])
        for s in r.setups:
            factories[s][name] = fields
            if modules:
                postponement[s].append(name)
            _note(origin, sources, f"supply.factories.{name}", r, fields)
    warehouses: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SETUPS}
    for r in rows["warehouses"]:
        ref(r, "region", region_names, "regions")
        ref(r, "serves", region_names, "regions")
        v = dict(r.values)
        name = v.pop("name")
        fields = {**templates["warehouses"][v["kind"]], **v}
        if "serves" not in v:
            fields["serves"] = [] if v["kind"] == "central" else [v["region"]]
        for s in r.setups:
            warehouses[s][name] = fields
            _note(origin, sources, f"logistics.warehouses.{name}", r, fields)
    carriers: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SETUPS}
    for r in rows["carriers"]:
        v = dict(r.values)
        name = v.pop("name")
        key = v["kind"] + ("_elastic" if v.get("elastic") else "")
        template = templates["carriers"].get(key) or templates["carriers"][v["kind"]]
        fields = {**template, **v}
        for s in r.setups:
            carriers[s][name] = fields
            _note(origin, sources, f"logistics.carriers.{name}", r, fields)
    for s in SETUPS:
        for sheet, found in (("factories", factories), ("warehouses", warehouses)):
            if not found[s]:
                problems.append(
                    (book.where(sheet), "(none)", f"the {s} setup needs at least one row")
                )
        kinds = {c["kind"] for c in carriers[s].values()}
        for kind in ("line_haul", "last_mile"):
            if kind not in kinds:
                problems.append(
                    (
                        book.where("carriers"),
                        "(none)",
                        f"the {s} setup needs a {kind} carrier (setups: both or {s})",
                    )
                )
        if not any(w["kind"] == "central" for w in warehouses[s].values()):
            problems.append(
                (book.where("warehouses"), "(none)", f"the {s} setup needs a central warehouse")
            )
    if problems:
        raise WorkbookError(problems)
    return Network(
        name=client["name"],
        brand=client["brand"],
        based_on_story=client["based_on_story"],
        regions=regions,
        products=products,
        factories=factories,
        postponement=postponement,
        warehouses=warehouses,
        carriers=carriers,
        sources=sources,
        origin=origin,
        workbook=book.path,
    )


def _note(origin: dict, sources: dict, prefix: str, r: Row, fields: dict[str, Any]) -> None:
    for column in fields:
        if column in r.values or _FIELD.get(column) or column in ("latitude", "longitude"):
            origin[f"{prefix}.{_FIELD.get(column, column)}"] = Cell(r.sheet, r.number, column)
    origin[prefix] = Cell(r.sheet, r.number, "name")
    if r.source:
        sources[f"{r.sheet} {prefix.rsplit('.', 1)[1]}"] = r.source


def _client(book: Workbook, rows: list[Row], problems: list) -> dict[str, str]:
    values: dict[str, str] = {}
    for r in rows:
        key = str(r.values.get("key", "")).strip()
        if key not in CLIENT_KEYS:
            problems.append(
                (book.where("client", r.number, "key"), key, f"must be one of {list(CLIENT_KEYS)}")
            )
            continue
        values[key] = _text(r.values.get("value"))
        values[key + "@row"] = str(r.number)
    name = values.get("name", "")
    if not _NAME.match(name):
        problems.append(
            (
                book.where("client", int(values.get("name@row", 0)) or None, "value"),
                name,
                "the client's name must be given (key 'name'): a letter, then letters, digits or _",
            )
        )
    base = values.get("based_on_story") or BASE_STORY
    allowed = base_stories()
    if base not in allowed:
        problems.append(
            (
                book.where("client", int(values.get("based_on_story@row", 0)) or None, "value"),
                base,
                f"based_on_story must be a shipped story with one brand: {allowed}",
            )
        )
    if problems:
        raise WorkbookError(problems)
    return {"name": name, "brand": values.get("brand") or name, "based_on_story": base}


def _regions(
    book: Workbook,
    rows: list[Row],
    templates: dict,
    origin: dict,
    sources: dict,
    problems: list,
) -> dict[str, dict[str, Any]]:
    out = {}
    ways = set()
    for r in rows:
        v = dict(r.values)
        name = v.pop("name")
        globe = [k for k in ("latitude", "longitude") if k in v]
        plane = [k for k in ("x_km", "y_km") if k in v]
        if (globe and plane) or len(globe) == 1 or len(plane) == 1 or not (globe or plane):
            given = {k: v[k] for k in (*globe, *plane)}
            problems.append(
                (
                    book.where("regions", r.number),
                    given or "(no position)",
                    "give latitude and longitude, or x_km and y_km (not both, not one of a pair)",
                )
            )
            continue
        ways.add("globe" if globe else "plane")
        for k, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
            if k in v and not low <= v[k] <= high:
                problems.append(
                    (book.where("regions", r.number, k), v[k], f"must be from {low} to {high}")
                )
        fields = {**templates["regions"][""], **{_FIELD.get(k, k): x for k, x in v.items()}}
        out[name] = fields
        _note(origin, sources, f"market.regions.{name}", r, v)
    if len(ways) > 1:
        problems.append(
            (
                book.where("regions"),
                "(mixed)",
                "place every region the same way: all by latitude/longitude or all by x_km/y_km",
            )
        )
    return out


# ----------------------------------------------------------------------------- writing


def files(net: Network) -> dict[str, dict[str, Any]]:
    """The config files of a network: relative path -> content."""
    from experiments.compose import compose_dict, scenarios_dir

    out: dict[str, dict[str, Any]] = {}
    shipped = {s: compose_dict(None, ["~story", f"setup={s}"]) for s in SETUPS}
    market = dict(shipped["rigid"]["market"])
    market["regions"] = net.regions
    out["market/default.yaml"] = market
    for s in SETUPS:
        supply = dict(shipped[s]["supply"])
        supply["factories"] = net.factories[s]
        supply["postponement"] = {**supply["postponement"], "factories": net.postponement[s]}
        out[f"supply/{s}.yaml"] = supply
        logistics = dict(shipped[s]["logistics"])
        logistics["warehouses"] = net.warehouses[s]
        logistics["carriers"] = net.carriers[s]
        out[f"logistics/{s}.yaml"] = logistics
    story_file = scenarios_dir() / "story" / f"{net.based_on_story}.yaml"
    story = yaml.safe_load(story_file.read_text(encoding="utf-8"))
    _without_network(story)
    story["meta"] = {**story.get("meta", {}), "story": net.name}
    story["brand"] = {**story.get("brand", {}), "name": net.brand, "products": net.products}
    for post in (story.get("content") or {}).get("calendar") or []:
        post["skus"] = []  # the posts promote every product of the client's
    out[f"story/{net.name}.yaml"] = story
    return out


def _header(net: Network, rel: str) -> str:
    lines = [
        f"Generated by `viralchain import {net.workbook.name}`: edit the workbook and import",
        "again rather than this file. The client's network (docs/client_network.md).",
    ]
    if rel.startswith("story/"):
        lines.insert(0, "@package _global_")
        lines.insert(
            1,
            f"The client {net.name}: its products, with the KOLs, content calendar and horizon"
            f" of the shipped story {net.based_on_story} (its changes to the shipped network,"
            " if any, left out: the client's network replaces that one).",
        )
    sheet = {"market": "regions", "supply": "factories", "logistics": "warehouses"}.get(
        rel.split("/")[0], "products"
    )
    sheets = ("warehouses", "carriers") if sheet == "warehouses" else (sheet,)
    cited = [f"{k}: {v}" for k, v in net.sources.items() if k.split()[0] in sheets]
    if cited:
        lines.append("Sources:")
        lines += [f"  {c}" for c in cited]
    return "".join(f"# {line}\n" for line in lines)


def write(net: Network, out: Path) -> list[Path]:
    """Write the config directory (all files, or none on error)."""
    written = []
    with exits.staged(out) as stage:
        for rel, content in files(net).items():
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            text = _header(net, rel) + yaml.safe_dump(
                content, sort_keys=False, allow_unicode=True, width=100
            )
            target.write_text(text, encoding="utf-8")
            written.append(out / rel)
    return written


def check(net: Network, out: Path) -> None:
    """Compose and validate the client's story under both setups from ``out``.

    Raises:
        WorkbookError: a value the model refuses, named by the cell it came from.
    """
    from experiments.compose import CONFIG_DIR_ENV, compose

    before = os.environ.get(CONFIG_DIR_ENV)
    os.environ[CONFIG_DIR_ENV] = str(out.resolve())
    problems: list[tuple[str, object, str]] = []
    try:
        for s in SETUPS:
            try:
                compose(net.name, [f"setup={s}"])
            except ConfigError as exc:
                for f, v, a in exc.problems:
                    entry = (_cell_of(net, f), v, a)
                    if entry not in problems:
                        problems.append(entry)
    finally:
        if before is None:
            os.environ.pop(CONFIG_DIR_ENV, None)
        else:
            os.environ[CONFIG_DIR_ENV] = before
    if problems:
        raise WorkbookError(problems)


def _cell_of(net: Network, dotted: str) -> str:
    path = dotted
    while path:
        cell = net.origin.get(path)
        if cell is not None:
            where = f"{net.workbook.name}, sheet {cell.sheet}, row {cell.row}, column {cell.column}"
            return where if path == dotted else f"{where} ({dotted})"
        path = path.rpartition(".")[0]
    return f"{net.workbook.name} ({dotted})"


def import_network(workbook: str | Path, out: str | Path) -> tuple[Network, list[Path]]:
    """Parse, write into a staging directory, validate, then move into ``out``.

    Raises:
        WorkbookError: a problem in the workbook; nothing is written.
    """
    import shutil
    import tempfile

    net = parse(workbook)
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix=".viralchain-import-"))
    try:
        write(net, tmp / "config")
        check(net, tmp / "config")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return net, write(net, out)


# ----------------------------------------------------------------------------- command


IMPORT_EPILOG = """\
examples:
  viralchain import --sample client_network.xlsx      write the worked example to start from
  viralchain import client_network.xlsx --out clients/lumen
  viralchain demo --config-dir clients/lumen story=lumen
  viralchain compare --config-dir clients/lumen story=lumen \\
      A=setup=rigid B="setup=flexible policy/rush=off"

the workbook (or a folder of CSV files named after the sheets) has the sheets
client, regions, factories, warehouses, carriers and products: docs/client_network.md.
"""


def cmd_import(args: argparse.Namespace) -> int:
    """``viralchain import WORKBOOK --out DIR`` (or ``--sample FILE``)."""
    if args.sample:
        from experiments.network_sample import write_sample

        target = Path(args.sample)
        if target.exists():
            return exits.error(f"--sample = {args.sample!r}: exists: choose a new file name")
        if target.suffix.lower() != ".xlsx" and target.suffix:
            return exits.error(f"--sample = {args.sample!r}: must end in .xlsx (or be a folder)")
        problem = exits.unusable_dir(target.parent if target.suffix else target, "--sample")
        if problem:
            return exits.error(problem)
        write_sample(target)
        print(f"wrote {target}")
        print(f"next: viralchain import {target} --out clients/lumen")
        return EXIT_OK
    if not args.workbook:
        return exits.error("give a WORKBOOK to import (or --sample FILE for the worked example)")
    try:
        net = parse(args.workbook)
    except WorkbookError as exc:
        return exits.error(str(exc), EXIT_USAGE)
    out = Path(args.out) if args.out else Path("clients") / net.name
    problem = exits.unusable_dir(out, "--out")
    if not problem and out.is_dir() and any(out.iterdir()) and not args.force:
        problem = (
            f"--out = {str(out)!r}: not empty: choose a new directory, or --force to update it"
        )
    if problem:
        return exits.error(problem)
    try:
        net, written = import_network(args.workbook, out)
    except WorkbookError as exc:
        return exits.error(str(exc), EXIT_USAGE)
    print(
        f"imported {net.name}: {len(net.regions)} regions, {len(net.products)} products; "
        + ", ".join(
            f"{s}: {len(net.factories[s])} factories, {len(net.warehouses[s])} warehouses, "
            f"{len(net.carriers[s])} carriers"
            for s in SETUPS
        )
    )
    print(f"wrote {out}/")
    for path in written:
        print(f"  {path}")
    print(f"next: viralchain demo --config-dir {out} story={net.name}")
    return EXIT_OK


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain import``."""
    p = subparsers.add_parser(
        "import",
        help="the client's network from a workbook (.xlsx or CSV folder) into a config dir",
        description=(
            "Import a client's regions, factories, warehouses, carriers and products from an\n"
            "Excel workbook (or a folder of CSV files) into a config directory for --config-dir.\n"
            "Every cell is checked first: a bad one is named by sheet, row and column, and\n"
            "nothing is written."
        ),
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("workbook", nargs="?", help="an .xlsx file or a folder of CSV files")
    p.add_argument("--out", help="the config directory to write (default: clients/<name>)")
    p.add_argument("--force", action="store_true", help="update a non-empty --out")
    p.add_argument("--sample", metavar="FILE", help="write the worked example workbook and stop")
    p.set_defaults(func=cmd_import)
