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

Mesa's logging set-up also costs a run: ``mesa.model`` names its logger and its ``Model``
class's by looking at the stack with ``inspect.stack()`` and ``inspect.getouterframes``,
which read the source lines of every frame and, to name a frame's module, resolve the
file of every loaded module (≈ 0.03–0.04 s with pandas and pyarrow loaded).
:func:`defer_unused_mesa_parts` also has ``mesa.mesa_logging`` loaded with a light view of
the stack (:class:`_LightInspect`): the same frames, names and modules, without the source
lines or the scan; Mesa's functions themselves are untouched.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, NamedTuple

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


# the Mesa module that looks at the stack when Mesa is imported (to name loggers)
MESA_LOGGING = "mesa.mesa_logging"


class _FrameInfo(NamedTuple):
    """``inspect.FrameInfo``'s fields, without the source lines (``code_context``)."""

    frame: types.FrameType
    filename: str
    lineno: int
    function: str
    code_context: list[str] | None
    index: int | None


def _outer_frames(frame: types.FrameType | None) -> list[_FrameInfo]:
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append(_FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
        frame = frame.f_back
    return frames


class _LightInspect(types.ModuleType):
    """``inspect`` as ``mesa.mesa_logging`` uses it, without reading source files:
    ``stack`` and ``getouterframes`` give the frames with their file, line and function
    (no source lines), ``getmodule`` of a frame is the module its code runs in; anything
    else is the real ``inspect``'s."""

    def __init__(self) -> None:
        super().__init__("inspect")
        self.currentframe = sys._getframe  # the caller's frame, as inspect's

    @staticmethod
    def stack(context: int = 1) -> list[_FrameInfo]:
        return _outer_frames(sys._getframe(1))

    @staticmethod
    def getouterframes(frame: types.FrameType, context: int = 1) -> list[_FrameInfo]:
        return _outer_frames(frame)

    @staticmethod
    def getmodule(obj: object, _filename: str | None = None) -> types.ModuleType | None:
        if isinstance(obj, types.FrameType):
            module = sys.modules.get(obj.f_globals.get("__name__", ""))
            if module is not None:
                return module
        import inspect

        return inspect.getmodule(obj, _filename)

    def __getattr__(self, attr: str) -> Any:
        import inspect

        return getattr(inspect, attr)


class _LightLoggingLoader(importlib.machinery.SourceFileLoader):
    """Loads ``mesa.mesa_logging`` as usual, then gives it :class:`_LightInspect`."""

    def exec_module(self, module: types.ModuleType) -> None:
        super().exec_module(module)
        if isinstance(getattr(module, "inspect", None), types.ModuleType):
            module.inspect = _LightInspect()


class _LightLoggingFinder:
    """Finds ``mesa.mesa_logging`` once (then leaves ``sys.meta_path``), with
    :class:`_LightLoggingLoader` when it is a plain source file."""

    def find_spec(
        self, name: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != MESA_LOGGING:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _LightLoggingLoader(spec.loader.name, spec.loader.path)
        return spec


def defer_unused_mesa_parts() -> list[str]:
    """Put stand-ins for :data:`DEFERRED_PACKAGES`, and have :data:`MESA_LOGGING` loaded
    with a light view of the stack, unless Mesa is loaded already.

    Returns:
        The packages deferred (empty when Mesa was imported first, or is not installed).
    """
    if "mesa" in sys.modules or importlib.util.find_spec("mesa") is None:
        return []
    if not any(isinstance(f, _LightLoggingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LightLoggingFinder())
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
