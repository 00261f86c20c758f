"""Imports as the ``viralchain`` command makes them: with the garbage collector off, then
frozen (``gc.freeze``) with everything else that lives.

Modules, their classes and functions are never garbage, yet their imports set off
collections that look through them again and again: before this, ``viralchain run`` spent
≈ 0.1 s collecting while importing pandas, pyarrow and pydantic for the parser, and
importing matplotlib after the run set off a full collection over pandas and Mesa. The
command (:func:`experiments.cli.console`) starts with the collector off and marks its
process (:func:`enter_command`); :func:`experiments.cli.main` freezes as the command starts
(:func:`freeze`); what it imports later (the model before a run, matplotlib, a one-worker
sweep's job modules in :mod:`experiments.sweep`) goes through :func:`importing`. A caller of
``main`` (tests, notebooks) keeps its collector as it is: everything here is a no-op outside
the command's process.

Its own module so that :mod:`experiments.cli` and :mod:`experiments.sweep` both use it
without importing each other (``tests/test_faults.py``).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# True in the ``viralchain`` process (experiments.cli.console), not where main() is called
_COMMAND_PROCESS = False


def enter_command() -> None:
    """Mark this process as the ``viralchain`` command's and turn the collector off until
    the command starts (:func:`freeze`): its imports make no garbage."""
    global _COMMAND_PROCESS
    _COMMAND_PROCESS = True
    gc.disable()


def in_command() -> bool:
    """Whether this is the ``viralchain`` command's process (:func:`enter_command`)."""
    return _COMMAND_PROCESS


def freeze() -> None:
    """In the command's process: everything made so far out of the collector's sight
    (``gc.freeze``), and the collector on again. What the command makes from then on is
    collected as usual."""
    if _COMMAND_PROCESS:
        gc.freeze()
        gc.enable()


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """In the command's process: the block's imports with the collector off, then frozen
    with the rest (:func:`freeze`). What is garbage already (a finished run's model) is
    collected first, so that only what lives on is frozen. Elsewhere a plain block."""
    if _COMMAND_PROCESS and gc.isenabled():
        gc.collect()
        gc.disable()
    try:
        yield
    finally:
        freeze()
