"""Compose a run's config from the Hydra config groups under ``scenarios/``, then validate it.

Hydra's own errors (an unknown group option, an unknown key, a malformed override) are
turned into :class:`sim.errors.ConfigError` problems naming the field, the value and what is
allowed, so that the command line can print one clear line and exit 2.

:func:`compose` remembers what it composed (:class:`ComposeCache`): Hydra's composition
and its imports are a fixed cost of every ``viralchain run`` several times that of
checking that nothing it read has changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import os
import re
import sys
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


CONFIG_DIR_ENV = "VIRALCHAIN_CONFIG_DIR"


def config_dir() -> Path | None:
    """The client's config directory (``--config-dir`` / ``$VIRALCHAIN_CONFIG_DIR``), if any.

    Its group folders (``story/``, ``market/``, ``supply/``, ...) are searched *before* the
    shipped ``scenarios/``, exactly as Hydra's own ``--config-dir``: a file there adds an
    option (``story/acme.yaml``) or replaces the shipped option of the same name
    (``supply/rigid.yaml``: the client's own network under ``setup=rigid``).
    """
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env).resolve() if env else None


def check_config_dir(path: str | Path) -> Path:
    """The config directory, resolved, or :class:`ConfigError` saying why it cannot be one.

    It holds group folders of YAML files: the shipped groups (``story/``, ``supply/``, ...)
    or new ones (``calibration/``, chosen with ``+calibration=NAME``). It may not replace the
    primary ``config.yaml`` or Hydra's own settings (``hydra/``), and no file in it may name
    code to instantiate (``_target_``): a client's files hold data only.
    """
    d = Path(path).expanduser()
    shown = str(path)
    if not d.is_dir():
        why = "not a directory" if d.exists() else "no such directory"
        raise ConfigError(
            [("--config-dir", shown, f"must be a directory of config groups ({why})")]
        )
    if (d / "config.yaml").exists() or (d / "hydra").exists():
        name = "config.yaml" if (d / "config.yaml").exists() else "hydra/"
        raise ConfigError(
            [
                (
                    "--config-dir",
                    shown,
                    f"may not hold {name}: it adds or replaces group options (story/, market/,"
                    " supply/, logistics/, setup/, ...), the primary config stays the shipped one",
                )
            ]
        )
    problems = []
    for f in sorted(d.rglob("*.yaml")):
        rel = f.relative_to(d)
        if rel.parts[0].startswith("."):
            continue
        if f.suffix == ".yaml":
            named = _instantiation_keys(f)
            if named:
                problems.append(
                    (
                        "--config-dir",
                        f"{shown}/{rel}",
                        f"may not name code to instantiate ({named}): client files hold data",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return d.resolve()


def _instantiation_keys(path: Path) -> str:
    """Hydra's instantiation keys (``_target_``, ...) used as keys anywhere in a YAML file."""
    import yaml

    from experiments.overrides import INSTANTIATION_KEYS

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return f"unreadable YAML: {type(exc).__name__}"
    found: list[str] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found += [k for k in node if k in INSTANTIATION_KEYS]
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node
    return ", ".join(sorted(set(found)))


def search_dirs() -> list[Path]:
    """Where config files are looked up, first match wins: the client's, then the shipped."""
    extra = config_dir()
    return [extra, scenarios_dir()] if extra else [scenarios_dir()]


def option_file(group: str, name: str) -> Path:
    """The file that ``group=name`` loads (the client's copy first)."""
    for d in search_dirs():
        f = d / group / f"{name}.yaml"
        if f.is_file():
            return f
    return scenarios_dir() / group / f"{name}.yaml"


def group_options(group: str) -> list[str]:
    """The options of a config group (e.g. ``story``, ``setup``, ``policy/forecast``),
    the client's directory included."""
    names: set[str] = set()
    for root in search_dirs():
        d = root / group
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml") if not p.stem.startswith("_"))
    return sorted(names)


def named_option(group: str, name: str | None, what: str) -> int | None:
    """For a command that runs one option of ``group`` (``viralchain sweep NAME``): ``None``
    when ``name`` is one; else its exit code after listing the options (no name: 0) or
    saying that ``what = name`` is not one of them (2)."""
    names = group_options(group)
    if not name:
        print(listing([(n, describe(option_file(group, n))) for n in names], 22))
        return 0
    if name not in names:
        print(f"viralchain: {what} = {name!r}: must be one of {names}", file=sys.stderr)
        return 2
    return None


def describe(path: Path) -> str:
    """The first sentence of a config file's first comment block, after the package header
    ('' if none): whole, however many lines it spans."""
    block: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("#") and "@package" not in s:
            block.append(s.lstrip("#").strip())
        elif block:
            break
    text = " ".join(part for part in block if part)
    m = re.search(r"(?<=[.!?])\s+(?=[A-Z`(\"'])", text)
    return text[: m.start()] if m else text


def listing(rows: list[tuple[str, str]], pad: int) -> str:
    """``name  description`` lines, descriptions wrapped to the terminal under their column
    (never cut)."""
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size((100, 24)).columns, pad + 40)
    lines = []
    for name, text in rows:
        head = f"{name:<{pad}} "
        lines.append(
            textwrap.fill(
                text or "-",
                width=width,
                initial_indent=head if len(head) <= pad + 1 else head + "\n" + " " * (pad + 1),
                subsequent_indent=" " * (pad + 1),
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def compose_dict(story: str | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose the raw config dict (not validated)."""
    from omegaconf import OmegaConf

    from experiments.overrides import check, config_groups

    overrides = list(overrides or [])
    if story is not None:
        overrides = [f"story={story}", *overrides]
    check(overrides, config_groups())
    cfg = hydra_compose(overrides, "app")
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return data


def hydra_compose(overrides: list[str], job_name: str, with_hydra: bool = False) -> Any:
    """Hydra's composition of ``config`` from the scenarios (the client's ``--config-dir``
    first) with ``overrides`` (and the ``hydra`` node if ``with_hydra``), as an OmegaConf
    config; any of Hydra's errors becomes a :class:`ConfigError` (:func:`hydra_error`)."""
    from hydra import compose as compose_config
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from hydra_plugins.viralchain_sweeper.viralchain_sweeper import register

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    register()  # the search-path plugin puts the client's --config-dir before scenarios/
    try:
        with initialize_config_dir(
            config_dir=str(scenarios_dir()), job_name=job_name, version_base="1.3"
        ):
            return compose_config(
                config_name="config", overrides=overrides, return_hydra_config=with_hydra
            )
    except Exception as exc:  # Hydra raises several types; all become ConfigError
        raise hydra_error(exc, overrides) from None


def compose(story: str | None = None, overrides: list[str] | None = None) -> Config:
    """Compose and validate (see :func:`sim.compose`).

    A composition that validated is remembered (:class:`ComposeCache`); the next call with
    the same story and overrides, on the same config files, takes the remembered dict and
    validates it again, without importing or running Hydra.
    """
    from experiments.overrides import check, config_groups

    overrides = list(overrides or [])
    check(overrides, config_groups())  # before the cache too: refused on every path
    cache = ComposeCache.default()
    key = cache.key(story, overrides) if cache else None  # None: not remembered
    data = cache.get(key) if key else None
    if data is not None:
        return validate(data)
    data = compose_dict(story, overrides)
    text = ComposeCache.exact_json(data) if key else None
    cfg = validate(data)
    if key and text is not None:  # only what validated: bad input writes nothing
        cache.put(key, text)
    return cfg


COMPOSE_CACHE_ENV = "VIRALCHAIN_COMPOSE_CACHE"
# a resolver call in a value (``${oc.env:HOME}``, ``${now:%H}``): it may answer differently
# each time, so a composition that meets one is not remembered
_RESOLVER = re.compile(r"\$\{\s*[A-Za-z_][\w.\-]*\s*:")


class ComposeCache:
    """Composed configs, remembered on disk under a digest of everything they came from.

    The key is a SHA-256 of: the story and the overrides; every file under each config
    search directory (the client's ``--config-dir`` and the scenarios), by path and content;
    the code that composes (this module, :mod:`experiments.overrides`, the search-path
    plugin); and the installed Hydra, OmegaConf and PyYAML (their version files). Change any
    of them and the key changes. Not remembered: a composition that did not validate, one
    whose overrides or config files (outside Hydra's own ``hydra/`` settings, which are not
    part of the composed config) call a resolver, and one whose JSON text would not give
    back the very same dict (types included).

    The directory is ``$VIRALCHAIN_COMPOSE_CACHE`` (``off`` switches the cache off), else
    ``$XDG_CACHE_HOME/viralchain/compose``, else ``~/.cache/viralchain/compose``. Entries
    are written atomically; a missing, unreadable or stale entry is composed again; an
    unwritable directory only means nothing is remembered. At most :attr:`MAX_ENTRIES`
    are kept (the least recently written go first).
    """

    FORMAT = 1
    MAX_ENTRIES = 512
    # the code and the libraries a composition depends on, besides the config files
    CODE = (
        "experiments/compose.py",
        "experiments/overrides.py",
        "hydra_plugins/viralchain_sweeper/viralchain_sweeper.py",
    )
    LIBRARIES = (("hydra", "__init__.py"), ("omegaconf", "version.py"), ("yaml", "__init__.py"))

    def __init__(self, directory: Path):
        self.directory = directory

    @classmethod
    def default(cls) -> ComposeCache | None:
        """The cache of ``$VIRALCHAIN_COMPOSE_CACHE`` or the user's cache directory; None
        when switched off (or when there is no home directory to put it in)."""
        env = os.environ.get(COMPOSE_CACHE_ENV)
        if env is not None:
            off = env.strip().lower() in ("", "0", "off", "false", "no")
            return None if off else cls(Path(env).expanduser())
        xdg = os.environ.get("XDG_CACHE_HOME")
        try:
            base = Path(xdg) if xdg else Path.home() / ".cache"
        except RuntimeError:  # no home directory
            return None
        return cls(base / "viralchain" / "compose")

    def key(self, story: str | None, overrides: list[str]) -> str | None:
        """The digest of everything the composition depends on; None if it must not be
        remembered (a resolver call, or a file that cannot be read)."""
        if any("${" in o for o in overrides) or (story and "${" in story):
            return None
        h = hashlib.sha256(json.dumps([self.FORMAT, story, overrides]).encode())
        try:
            for root in search_dirs():
                h.update(f"\0dir\0{root}".encode())
                for path in sorted(root.rglob("*")):
                    rel = path.relative_to(root)
                    if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                        continue
                    if not path.is_file():
                        continue
                    data = path.read_bytes()
                    text = data.decode("utf-8", "replace")
                    if rel.parts[0] != "hydra" and _RESOLVER.search(text):
                        return None
                    h.update(f"\0file\0{rel.as_posix()}\0{len(data)}\0".encode())
                    h.update(data)
            here = Path(__file__).resolve().parent.parent
            for rel in self.CODE:
                h.update(f"\0code\0{rel}\0".encode())
                h.update((here / rel).read_bytes())
            for package, name in self.LIBRARIES:
                spec = importlib.util.find_spec(package)
                origin = spec.origin if spec else None
                h.update(f"\0lib\0{package}\0".encode())
                if origin:
                    h.update((Path(origin).parent / name).read_bytes())
        except (OSError, UnicodeError):
            return None
        return h.hexdigest()

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The remembered config dict of ``key``, or None."""
        try:
            entry = json.loads(self._file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        data = entry.get("config")
        return data if isinstance(data, dict) else None

    def put(self, key: str, config_json: str) -> None:
        """Remember ``config_json`` (from :meth:`exact_json`) under ``key``; errors ignored."""
        text = f'{{"key": {json.dumps(key)}, "config": {config_json}}}'
        tmp = self.directory / f".{key}.json.{os.getpid()}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self._file(key))
            self._prune()
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _prune(self) -> None:
        entries = [p for p in self.directory.glob("*.json") if not p.name.startswith(".")]
        if len(entries) <= self.MAX_ENTRIES:
            return
        by_age = sorted(entries, key=lambda p: p.stat().st_mtime_ns)
        for old in by_age[: len(entries) - self.MAX_ENTRIES * 3 // 4]:
            old.unlink(missing_ok=True)  # another process may have removed it first

    @staticmethod
    def exact_json(data: dict[str, Any]) -> str | None:
        """``data`` as JSON text if reading it back gives the very same dict (the same keys,
        values and types: no int keys turned into strings, no tuples into lists); else None."""
        try:
            text = json.dumps(data, allow_nan=True)
        except (TypeError, ValueError):
            return None
        return text if _same(json.loads(text), data) else None


def _same(a: object, b: object) -> bool:
    """``a`` and ``b`` are equal and of the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    return a == b


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
