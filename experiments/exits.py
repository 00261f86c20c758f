"""Exit codes, one-line error messages and safe output directories, shared by every command.

Exit codes: 0 success; 1 a run failed, or writing its results failed (disk full, permission
lost half-way); 2 invalid configuration or usage (a bad option, a bad output path, a damaged
or foreign directory). A command writes its results into a hidden staging directory beside
the target and moves them in only when all are written, so a failure leaves nothing
half-written behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def error(lines: str, code: int = EXIT_USAGE) -> int:
    """Print each line as ``viralchain: LINE`` on stderr; return ``code``."""
    for line in str(lines).splitlines() or [""]:
        print(f"viralchain: {line}", file=sys.stderr)
    return code


def os_reason(exc: OSError) -> str:
    """An OS error as a short reason (``No space left on device``), without a traceback."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        reason = "No space left on device"
    return reason


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: object, limit: int = 80) -> str:
    """A file-name part from a config value: letters, digits, ``.``, ``_`` and ``-`` only,
    no leading dot (so ``../../x`` or ``/tmp/x`` can never leave the output root)."""
    name = _UNSAFE.sub("_", str(text)).lstrip(".") or "_"
    return name[:limit]


def inside(root: Path, path: Path) -> Path:
    """``path`` if it resolves inside ``root``, else ValueError."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"{path} is outside {root}")
    return path


def unusable_dir(path: Path, option: str) -> str:
    """Why ``path`` cannot be an output directory ('' if it can), without creating it."""
    shown = f"{option} = {str(path)!r}"
    if path.exists() and not path.is_dir():
        return f"{shown}: exists and is not a directory"
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{shown}: {parent} is not a directory"
    try:  # the real test: can a directory be made there (read-only mounts, /proc, ...)
        probe = tempfile.mkdtemp(prefix=".viralchain-probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        return f"{shown}: cannot write in {parent} ({os_reason(exc)})"
    return ""


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden directory beside ``out`` to write into; its files move into ``out`` (made if
    needed) only when the block ends without error. On error the staging directory is
    removed and ``out`` is left as it was."""
    out = Path(out)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        yield stage
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(stage.rglob("*")):
            target = out / item.relative_to(stage)
            if item.is_dir():
                target.mkdir(exist_ok=True)
            else:
                os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
