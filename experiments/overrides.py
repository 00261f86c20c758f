"""Which overrides viralchain accepts: none that can name code to run or a file to load.

Hydra instantiates the ``_target_`` of its own launcher, sweeper and callbacks
(``hydra.callbacks.*``), loads config files from ``hydra.searchpath`` and from any group
option path (``policy/rush=../../x``), and exports ``hydra.job.env_set``. An override that
reaches any of those from the command line, or from a sweep directory's ``sweep.json``
(which ``viralchain resume`` replays, and which is data anyone may have edited), could run
arbitrary code. So every override, from a user or from a file, passes :func:`check` first:

- no key segment and no value may mention ``_target_`` (nor Hydra's other instantiation
  keys ``_args_``, ``_partial_``, ``_recursive_``, ``_convert_``);
- a config group option is a plain name (letters, digits, ``_``, ``-``, ``.`` inside), or a
  sweep of plain names, never a path;
- Hydra's own settings are limited to :data:`HYDRA_KEYS`: choosing a shipped launcher or
  sweeper and tuning it (``hydra/launcher=NAME``, ``hydra.launcher.n_jobs=4``,
  ``hydra/sweeper=optuna``, ``hydra.sweeper.n_trials=20``), the logging configs and the
  sweep directory; never the sweeper's ``params`` (sweep on the command line instead:
  ``key=a,b``) nor its ``custom_search_space`` (an import path).

Everything else under ``hydra`` is refused with exit 2, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sim.errors import ConfigError

# Hydra's keys a user (or a sweep.json) may set; prefixes end with "."
HYDRA_KEYS = (
    "hydra/launcher",
    "hydra/sweeper",
    "hydra/sweeper/sampler",
    "hydra/hydra_logging",
    "hydra/job_logging",
    "hydra.launcher.",
    "hydra.sweep.dir",
    "hydra.sweeper.",
)
# under an allowed prefix, still refused: a path to code, and overrides hidden from the checks
HYDRA_REFUSED = ("hydra.sweeper.custom_search_space", "hydra.sweeper.params")
INSTANTIATION_KEYS = ("_target_", "_args_", "_partial_", "_recursive_", "_convert_")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_SWEEP_FUNCTIONS = re.compile(
    r"^\s*(glob|choice|range|interval|tag|sort|shuffle)\((.*)\)\s*$", re.S
)


def key_of(override: str) -> str:
    """The key of ``key=value`` without Hydra's ``+``, ``++`` or ``~`` prefix."""
    return override.split("=", 1)[0].strip().lstrip("+~")


def _is_group(key: str, groups: Iterable[str]) -> bool:
    return "/" in key or key in groups


def _options(value: str) -> list[str]:
    """The options a group override names (a sweep's comma list and functions unpacked)."""
    m = _SWEEP_FUNCTIONS.match(value)
    inner = m.group(2) if m else value
    parts = [p.strip().strip("[]").strip().strip("'\"") for p in inner.split(",")]
    if m and m.group(1) == "glob":  # glob(pattern, exclude=...): patterns, not paths
        parts = [re.sub(r"^exclude\s*=\s*", "", p).strip("[]'\" ") for p in parts]
        return [re.sub(r"[*?]", "x", p) for p in parts if p]
    return [p for p in parts if p]


def problems(overrides: Iterable[str], groups: Iterable[str] = (), source: str = "") -> list:
    """The (field, value, allowed) problems of a list of overrides; empty if all are safe.

    Args:
        overrides: ``key=value`` strings (task and Hydra overrides).
        groups: config group names without a ``/`` (``story``, ``setup``, ``sweep``, ...).
        source: where the overrides come from, for the message (``sweep.json``).
    """
    groups = set(groups)
    where = f" (in {source})" if source else ""
    out: list[tuple[str, object, str]] = []
    for o in overrides:
        if not isinstance(o, str):
            out.append(("overrides", o, f"must be 'key=value' text{where}"))
            continue
        key, _, value = o.partition("=")
        bare = key.strip().lstrip("+~")
        segments = re.split(r"[./@]", bare)
        named = [k for k in INSTANTIATION_KEYS if k in segments or k in value]
        if named:
            out.append(
                (
                    bare,
                    value,
                    f"may not name code to instantiate ({', '.join(named)}){where}: "
                    "policies and launchers are chosen by name",
                )
            )
            continue
        hydra_key = bare == "hydra" or bare.startswith(("hydra.", "hydra/"))
        refused = any(bare == k or bare.startswith(k + ".") for k in HYDRA_REFUSED)
        if hydra_key and (
            refused
            or not any(bare == k or (k.endswith(".") and bare.startswith(k)) for k in HYDRA_KEYS)
        ):
            out.append(
                (
                    bare,
                    value,
                    f"this Hydra setting is not allowed{where}; allowed: "
                    + ", ".join(k + ("*" if k.endswith(".") else "") for k in HYDRA_KEYS)
                    + " (but not "
                    + ", ".join(HYDRA_REFUSED)
                    + ")",
                )
            )
            continue
        if _is_group(bare, groups):
            bad = [p for p in _options(value) if not _PLAIN.match(p) or ".." in p]
            if bad:
                out.append(
                    (bare, bad[0], f"must be the name of a shipped option, not a path{where}")
                )
    return out


def check(overrides: Iterable[str], groups: Iterable[str] = (), source: str = "") -> None:
    """Raise :class:`ConfigError` if any override could run code or load another file."""
    found = problems(overrides, groups, source)
    if found:
        raise ConfigError(found)


def config_groups() -> list[str]:
    """The top-level config groups under ``scenarios/`` (``story``, ``setup``, ...) and the
    client's ``--config-dir`` (which may add groups, e.g. ``calibration``)."""
    from experiments.compose import search_dirs

    return sorted({p.name for d in search_dirs() for p in d.iterdir() if p.is_dir()})
