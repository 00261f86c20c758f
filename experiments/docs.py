"""Generate the documentation's reference sections from the code they describe.

- the configuration reference (docs/configuration.md), from the schema and the shipped
  defaults;
- the KPI reference (docs/outputs.md) and the guide to reading the demo's KPI table
  (README.md), from the KPI catalogue (``sim/kpis.py``) and the cost lines of
  ``sim/metrics.py``.

Each section sits between a pair of markers; a section is regenerated wherever its markers
are (:data:`DOC_FILES`). Run ``python -m experiments.docs`` to rewrite them; a test fails
when a file is out of date.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from sim.config import Config

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
KPI_START = "<!-- kpi-reference:start -->"
KPI_END = "<!-- kpi-reference:end -->"
READING_START = "<!-- kpi-reading:start -->"
READING_END = "<!-- kpi-reading:end -->"
ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_FILES = (README, ROOT / "docs" / "configuration.md", ROOT / "docs" / "outputs.md")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        return f"map of {_type_name(get_args(annotation)[1])}"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            v = getattr(meta, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
        if getattr(meta, "min_length", None):
            parts.append(f"at least {meta.min_length}")
    ann = field.annotation
    if get_origin(ann) is typing.Annotated:
        for meta in get_args(ann)[1:]:
            for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
                v = getattr(meta, attr, None)
                if v is not None:
                    parts.append(f"{sym} {v}")
    return ", ".join(dict.fromkeys(parts))


def _default(defaults: Any, path: list[str]) -> str:
    node = defaults
    for p in path:
        if isinstance(node, dict) and p in node:
            node = node[p]
        else:
            return ""
    if isinstance(node, dict | list) and node:
        return "(see scenarios/)"
    text = (
        repr(node)
        if isinstance(node, str)
        else str(node).lower()
        if isinstance(node, bool)
        else str(node)
    )
    return f"`{text}`"


def _rows(model: type[BaseModel], prefix: list[str], defaults: Any, out: list[list[str]]) -> None:
    for name, field in model.model_fields.items():
        path = [*prefix, name]
        ann = field.annotation
        inner = ann
        if get_origin(inner) is typing.Annotated:
            inner = get_args(inner)[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            if name == "rivals":
                continue
            _rows(inner, path, defaults, out)
            continue
        if get_origin(inner) is dict:
            value_type = get_args(inner)[1]
            if isinstance(value_type, type) and issubclass(value_type, BaseModel):
                if prefix == [] and name == "rivals":
                    out.append(
                        [
                            ".".join(path),
                            "map of brands",
                            "",
                            "`{}`",
                            field.description or "other brands",
                        ]
                    )
                    continue
                _rows(value_type, [*path, "<name>"], {}, out)
                continue
        if get_origin(inner) is list:
            item = get_args(inner)[0]
            if isinstance(item, type) and issubclass(item, BaseModel):
                _rows(item, [*path, "[i]"], {}, out)
                continue
        out.append(
            [
                ".".join(path),
                _type_name(ann),
                _bounds(field),
                _default(defaults, path),
                (field.description or "").replace("|", "\\|"),
            ]
        )


def reference_markdown() -> str:
    """The configuration reference as a Markdown table."""
    from experiments.compose import compose_dict

    defaults = compose_dict(None, [])
    rows: list[list[str]] = []
    _rows(Config, [], defaults, rows)
    head = "| key | type | allowed | default (flagship, rigid) | meaning |\n|---|---|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"


def kpi_reference_markdown() -> str:
    """The KPI reference (every KPI of the ``runs`` table) as a Markdown table."""
    from sim.kpis import CATALOGUE, UNITS

    head = "| KPI | unit | better | meaning |\n|---|---|---|---|\n"
    rows = [
        f"| `{k.name}` | {k.unit} | {'' if k.better == 'neither' else k.better} | "
        + k.meaning.replace("|", "\\|")
        + " |"
        for k in CATALOGUE
    ]
    units = "; ".join(f"*{u}*: {text}" for u, text in UNITS.items())
    return head + "\n".join(rows) + f"\n\nUnits: {units}.\n"


# what each group of the KPI table tells (the KPI names are filled in from the catalogue)
GROUP_NOTES = {
    "orders": "what the market asked for and what became of it",
    "service": "how well and how fast buyers were served",
    "money": "one currency unit",
    "stock and flexibility": "what is left, how much orders swing, how fast the chain answers",
    "feedback": "what stock-outs, late deliveries and defects cost later on the content and "
    "demand side, and the rating buyers see",
}


def kpi_reading_markdown() -> str:
    """How to read the demo's KPI table: which direction is better, where the money goes."""
    from sim.kpis import CATALOGUE, GROUPS
    from sim.metrics import COST_KPIS

    def names(ks: list[str]) -> str:
        return ", ".join(f"`{n}`" for n in ks)

    lines = [
        "**Reading the KPI table.** One row per KPI of the main brand over the whole run "
        "(`viralchain list kpis` says what each means). *better* says which direction is "
        "better for the brand (blank: neither); the last two columns are flexible − rigid "
        "and that difference as a share of the rigid value.",
        "",
    ]
    for group in GROUPS:
        members = [k for k in CATALOGUE if k.group == group]
        parts = []
        for direction in ("higher", "lower", "neither"):
            ks = [k.name for k in members if k.better == direction]
            if ks:
                what = "neither direction" if direction == "neither" else f"{direction} is better"
                parts.append(f"{what} for {names(ks)}")
        lines.append(f"- **{group}** ({GROUP_NOTES[group]}): " + "; ".join(parts) + ".")
    costs = " − ".join(f"`{c}`" for c in COST_KPIS)
    lines += [
        "",
        f"Where the money goes: `revenue` − {costs} = `profit`. Cost lines grow with sales "
        "and flexibility moves money between them (more `rush_premium_cost`, less "
        "`writeoff_cost`), so read the `profit` row first, then the lines that moved.",
    ]
    return "\n".join(lines) + "\n"


def _section(text: str, start_marker: str, end_marker: str, body: str) -> str:
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    return text[:start] + "\n" + body + text[end:]


def write_between_markers(path: Path, body: str, start: str, end: str) -> None:
    """Put ``body`` between ``start`` and ``end`` in ``path`` (appended, or a new file)."""
    block = f"{start}\n{body}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in text and end in text:
        pre, rest = text.split(start, 1)
        text = pre + block + rest.split(end, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def emit(body: str, out: str | Path | None, start: str, end: str) -> None:
    """Print a command's ``body``; with ``out``, also put it between the markers of that file."""
    print(body)
    if out:
        write_between_markers(Path(out), body, start, end)
        print(f"\nwrote {out}", file=sys.stderr)


def render(text: str) -> str:
    """``text`` with every generated section whose markers it holds regenerated."""
    for start, end, body in (
        (START, END, reference_markdown),
        (KPI_START, KPI_END, kpi_reference_markdown),
        (READING_START, READING_END, kpi_reading_markdown),
    ):
        if start in text:
            text = _section(text, start, end, body())
    return text


def render_readme(text: str) -> str:
    """README text with its generated sections regenerated (:func:`render`)."""
    return render(text)


def main() -> int:
    """Rewrite the generated sections of :data:`DOC_FILES`."""
    for path in DOC_FILES:
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: generated sections updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
