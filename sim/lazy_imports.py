"""Defer the parts of Mesa that a run never touches until someone uses them.

``import mesa`` imports every sub-package: the cell spaces (``mesa.discrete_space``, which
pull in scipy and networkx), the experimental continuous space (scipy again) and, through
``mesa.space``, networkx. The model uses none of them, yet they were about a third of
``viralchain run``'s import time. Before Mesa is first imported,
:func:`defer_unused_mesa_parts` puts a stand-in for each of them in ``sys.modules``:
``import mesa`` binds the stand-in without executing the package, and the first attribute
read on it (``mesa.discrete_space.Network``, ``from mesa.discrete_space import Cell``, an
import of one of its submodules) imports the real package, which then replaces the
stand-in on its parent and in ``sys.modules``; the stand-in forwards to it, so code that
does use them sees no difference.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

# Mesa's sub-packages that the model does not use, and that import scipy or networkx; and
# networkx itself, which ``mesa.space`` imports for its network grid
DEFERRED_PACKAGES: tuple[str, ...] = (
    "mesa.discrete_space",
    "mesa.experimental.continuous_space",
    "networkx",
)


class _Deferred(types.ModuleType):
    """Stands in for a package until its first attribute is read, then imports it."""

    def __getattr__(self, attr: str) -> Any:  # only for attributes the stand-in lacks
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)  # also rebinds it on its parent package
        return getattr(real, attr)


def defer_unused_mesa_parts() -> list[str]:
    """Put stand-ins for :data:`DEFERRED_PACKAGES`, unless Mesa is loaded already.

    Returns:
        The packages deferred (empty when Mesa was imported first, or is not installed).
    """
    if "mesa" in sys.modules or importlib.util.find_spec("mesa") is None:
        return []
    deferred = []
    for name in DEFERRED_PACKAGES:
        if name in sys.modules or importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        stand_in = _Deferred(name)
        stand_in.__spec__ = importlib.machinery.ModuleSpec(name, None)
        stand_in.__file__ = None  # inspect.getmodule (Mesa's logger set-up) skips it
        sys.modules[name] = stand_in
        deferred.append(name)
    return deferred
