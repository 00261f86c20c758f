"""Typed parameters of the validation checks, and their validation.

Each check declares a pydantic model (unknown keys are errors, values carry bounds and a
description); :func:`parse` validates a plain mapping (read from
``scenarios/validation/<check>.yaml``) once and turns every problem into a
:class:`sim.errors.ConfigError` line naming ``<check>.<dotted.path>``, the bad value and what
is allowed: the same contract as the run configuration.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.config import ContentConfig, ForecastPolicy, PolicyConfig, SafetyStockPolicy
from sim.errors import ConfigError

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
OpenUnit = Annotated[float, Field(gt=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Correlation = Annotated[float, Field(gt=-1.0, lt=1.0)]


class Params(BaseModel):
    """Base of every check's parameters: strict keys, immutable, and the statistics settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: OpenUnit = Field(
        description="per-comparison false-failure probability: tolerance = t(alpha)·SE + abs(bias)"
    )
    seed: NonNegativeInt = Field(description="root seed of the check's random streams")


_MESSAGES = {
    "extra_forbidden": "unknown key (not a parameter of this check)",
    "missing": "required key is missing",
}


def parse[M: BaseModel](check: str, model: type[M], data: Mapping[str, Any] | M) -> M:
    """Validate ``data`` as ``model``; problems are reported as ``check.path``.

    Raises:
        ConfigError: one problem per bad field.
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems: list[tuple[str, object, str]] = []
        for err in exc.errors():
            path = check
            for part in err["loc"]:
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            msg = _MESSAGES.get(err["type"], err["msg"])
            msg = msg.replace("Input should be", "must be").replace("Value error, ", "")
            problems.append((path, err.get("input"), msg))
        raise ConfigError(problems) from None


def describe(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """``(dotted key, type and bounds, description)`` of every parameter, nested ones too."""
    out: list[tuple[str, str, str]] = []
    for name, f in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = f.annotation
        inner = _model_in(ann)
        if inner is not None:
            kind = "list of sets" if _is_list(ann) else "section"
            out.append((key, kind, f.description or ""))
            out.extend(describe(inner, key + ("[i]." if _is_list(ann) else ".")))
            continue
        metadata = list(f.metadata)
        for arg in getattr(ann, "__args__", ()) or ():  # Annotated members of a union
            for m in getattr(arg, "__metadata__", ()):
                metadata.extend(getattr(m, "metadata", [m]))
        bounds = ", ".join(
            f"{sym} {getattr(m, attr)}"
            for m in metadata
            for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
            if getattr(m, attr, None) is not None
        )
        out.append((key, f"{_type_name(ann)} {bounds}".strip(), f.description or ""))
    return out


def _type_name(ann: Any) -> str:
    if _is_list(ann):
        (arg,) = ann.__args__
        return f"list of {_type_name(arg)}"
    args = [a for a in getattr(ann, "__args__", ()) or () if a is not type(None)]
    if getattr(ann, "__metadata__", None) is not None:  # Annotated[...]
        return _type_name(ann.__origin__)
    if args and not isinstance(ann, type):
        names = [_type_name(a) for a in args]
        optional = type(None) in getattr(ann, "__args__", ())
        return " or ".join(dict.fromkeys(names)) + (" or null" if optional else "")
    return getattr(ann, "__name__", str(ann))


def _is_list(ann: Any) -> bool:
    return getattr(ann, "__origin__", None) is list


def _model_in(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


@functools.cache
def default_policy() -> PolicyConfig:
    """The shipped default policy block (composed once from ``scenarios/``).

    Harnesses build the project's policy classes from copies of it with the few parameters
    they set changed, so that parameters added to a policy later keep their shipped
    defaults.
    """
    import sim  # composition (Hydra) lives outside the library, as for sim.compose

    return sim.compose().policy


def forecast_policy(name: str, **changes: Any) -> ForecastPolicy:
    """The default forecast parameters with ``name`` and ``changes`` set."""
    return default_policy().forecast.model_copy(update={"name": name, **changes})


def safety_stock_policy(name: str, **changes: Any) -> SafetyStockPolicy:
    """The default safety-stock parameters with ``name`` and ``changes`` set."""
    return default_policy().safety_stock.model_copy(update={"name": name, **changes})


@functools.cache
def default_content() -> ContentConfig:
    """The shipped default content block (short-video and live-stream dynamics)."""
    import sim

    return sim.compose().content
