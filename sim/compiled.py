"""Optional compiled kernels: C versions of a few per-hour loops, the same numbers.

A kernel is a C extension module of the ``sim`` package (``sim/_<name>.c``), built when the
project is installed (``make venv``: ``pip install -e .``; listed in ``setup.py``, built as
*optional*: without a C compiler the install still succeeds and the model runs on its
Python and numpy paths). Each kernel computes exactly what the Python path beside it
computes, draw for draw and bit for bit (the same generator words, the same integer and
float64 operations in the same order, compiled without floating-point contraction), so
results never depend on whether it is there: tests run both paths and compare them.

:func:`load` gives the module, or None when it is not built, when it was built from another
version of its source (its ``SOURCE_SHA256`` differs from the stamp of the source file and
the shared headers ``sim/_*.h`` beside it: a stale build after an edit, until ``make venv``
or ``python setup.py build_ext --inplace`` rebuilds it) or when ``VIRALCHAIN_COMPILED=0``
asks for the Python paths.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parent

#: set ``VIRALCHAIN_COMPILED=0`` to run every kernel's Python path (same results, slower)
ENV = "VIRALCHAIN_COMPILED"


def source_sha256(name: str, package: Path = HERE) -> str | None:
    """The stamp of a kernel's source: the SHA-256 of ``sim/<name>.c`` followed by every
    shared header ``sim/_*.h`` in name order (of ``package``, this one unless another
    tree's is given; None when the source is not shipped there). ``setup.py`` stamps each
    build the same way, so an edit of the source or of a header makes the build stale."""
    try:
        digest = hashlib.sha256((package / f"{name}.c").read_bytes())
        for header in sorted(package.glob("_*.h")):
            digest.update(header.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def stale(module: ModuleType, name: str) -> bool:
    """Whether ``module`` was built from another version of ``sim/<name>.c`` than the one
    beside it (False when the source is not there to compare: an installed wheel)."""
    sha = source_sha256(name)
    return sha is not None and getattr(module, "SOURCE_SHA256", None) != sha


def other_numpy(module: ModuleType) -> bool:
    """Whether ``module`` calls numpy's own distribution code (it records the version of
    numpy it was built with, ``NUMPY_BUILT_VERSION``: sim/_traits.c links numpy's static
    ``libnpyrandom.a``) and the running numpy is another version, whose draws could differ."""
    built = getattr(module, "NUMPY_BUILT_VERSION", None)
    return built is not None and built != np.__version__


def load(name: str) -> ModuleType | None:
    """The compiled module ``sim.<name>``, or None (not built, stale, built with another
    numpy than the one running, or switched off)."""
    if os.environ.get(ENV, "1").strip() == "0":
        return None
    try:
        module = importlib.import_module(f"sim.{name}")
    except ImportError:
        return None
    return None if stale(module, name) or other_numpy(module) else module
