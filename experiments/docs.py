"""Generate README's configuration reference from the schema and the shipped defaults.

Run ``python -m experiments.docs`` to rewrite the section between the markers in README.md;
a test fails when the README is out of date.
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
README = Path(__file__).resolve().parent.parent / "README.md"


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


def render_readme(text: str) -> str:
    """README text with the reference section regenerated."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + reference_markdown() + text[end:]


def main() -> int:
    """Rewrite README.md's configuration reference."""
    text = README.read_text(encoding="utf-8")
    new = render_readme(text)
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: configuration reference updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
