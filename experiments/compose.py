"""Compose a run's config from the Hydra config groups under ``scenarios/``, then validate it.

Hydra's own errors (an unknown group option, an unknown key, a malformed override) are
turned into :class:`sim.errors.ConfigError` problems naming the field, the value and what is
allowed, so that the command line can print one clear line and exit 2.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sim.config import Config, validate
from sim.errors import ConfigError


def scenarios_dir() -> Path:
    """The Hydra config root.

    ``$VIRALCHAIN_SCENARIOS`` when set; else the copy an installed wheel ships inside this
    package (``experiments/scenarios/``, see setup.py); else, in a checkout or an editable
    install, ``scenarios/`` at the repository's top level.
    """
    env = os.environ.get("VIRALCHAIN_SCENARIOS")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent
    packaged = here / "scenarios"
    if (packaged / "config.yaml").is_file():
        return packaged
    return (here.parent / "scenarios").resolve()


def group_options(group: str) -> list[str]:
    """The options of a config group (e.g. ``story``, ``setup``, ``policy/forecast``)."""
    d = scenarios_dir() / group
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.yaml") if not p.stem.startswith("_"))


def describe(path: Path) -> str:
    """The first comment line after the package header of a config file ('' if none)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("#") and "@package" not in s:
            return s.lstrip("# ").strip()
    return ""


def compose_dict(story: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose the raw config dict (not validated)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from experiments.overrides import check, config_groups

    overrides = list(overrides or [])
    if story is not None:
        overrides = [f"story={story}", *overrides]
    check(overrides, config_groups())
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(scenarios_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=overrides)
    except Exception as exc:  # Hydra raises several types; all become ConfigError
        raise hydra_error(exc, overrides) from None
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return data


def compose(story: str | None = None, overrides: list[str] | None = None) -> Config:
    """Compose and validate (see :func:`sim.compose`)."""
    return validate(compose_dict(story, overrides))


_MISSING = re.compile(r"Could not find '([^']+)'")
_NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'")
_APPEND_EXISTS = re.compile(r"Could not append to config. An item is already at '([^']+)'")
_DELETE = re.compile(r"Could not delete from config. (?:The value of )?'([^']+)'")


def _override_value(overrides: list[str], key: str) -> str:
    for o in overrides:
        k, _, v = o.lstrip("+~").partition("=")
        if k == key or k.endswith("@" + key) or k.split("@")[0] == key:
            return v
    return "?"


def _unparsable(overrides: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    bad = []
    for o in overrides:
        try:
            parser.parse_override(o)
        except Exception:
            bad.append(o)
    return bad


def hydra_error(exc: Exception, overrides: list[str]) -> ConfigError:
    """Translate a Hydra composition error into a :class:`ConfigError`."""
    msg = str(exc)
    m = _MISSING.search(msg)
    if m:
        path = m.group(1)
        group, _, name = path.rpartition("/")
        if not group:  # the primary config itself is missing
            return ConfigError([("config", path, f"no such config in {scenarios_dir()}")])
        options = group_options(group)
        return ConfigError([(group, name, f"must be one of {options}")])
    m = _NOT_IN_STRUCT.search(msg)
    if m:
        key = m.group(1)
        value = _override_value(overrides, key)
        if "not in struct" in msg or "Key '" in msg or "To append to your config" in msg:
            return ConfigError([(key, value, "unknown key (not part of the configuration schema)")])
        return ConfigError([(key, value, msg.splitlines()[-1].strip())])
    m = _APPEND_EXISTS.search(msg)
    if m:
        key = m.group(1)
        return ConfigError(
            [(key, _override_value(overrides, key), "already exists: override it without '+'")]
        )
    m = _DELETE.search(msg)
    if m:
        return ConfigError([(m.group(1), "~", "cannot delete: key not in the config")])
    if type(exc).__name__ == "OverrideParseException":
        return ConfigError(
            [
                ("override", o, "malformed: must be key=value (see viralchain run --help)")
                for o in _unparsable(overrides)
            ]
            or [("override", overrides, msg.splitlines()[0])]
        )
    first = msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
    return ConfigError([("override", overrides, first)])
