"""The same bits on every x86-64 machine: numpy's AVX-512 loops switched off before numpy loads.

numpy picks, per machine, the fastest compiled loop of a ufunc among those it was built with
(its "dispatch targets"). For exact operations (``+``, ``*``, ``/``, ``sqrt``, comparisons) every
loop gives the same bits. For the transcendental ones it does not: on a CPU with AVX-512
(numpy's target group ``X86_V4``) float64 ``np.power`` is Intel's SVML and ``np.exp``,
``np.log``, ``np.sin``… have AVX-512 loops of their own, while on an AVX2 machine they are the
C library's functions. The two agree to within an ulp or so, not bit for bit: the same config
and seed gave a ``runs`` row whose ``demand_lost_quality_units`` differed in its last bit
between an AVX-512 machine and an AVX2 one (the rating's multiplier is an ``np.power``).
DESIGN.md §8 promises identical outputs whatever the processes — a sweep spread over a
cluster's mixed machines included.

So, before numpy is first imported, :func:`pin` adds numpy's AVX-512 target groups to
``NPY_DISABLE_CPU_FEATURES`` (keeping whatever the user put there): numpy then uses at most
its AVX2 loops (``X86_V3``), the ones an AVX2 machine uses, and every machine computes the
same bits. Child processes (a sweep's workers) inherit the variable. On a machine without
AVX-512 the setting changes nothing.

numpy reads the variable once, when it loads: if numpy was imported before :mod:`sim` (a
notebook's ``import numpy as np`` first) on a machine whose AVX-512 loops are active,
:func:`pin` can no longer switch them off and warns once (:class:`DispatchWarning`), naming the
remedy. This module imports nothing but the standard library, so that it can run first.
"""

from __future__ import annotations

import os
import sys
import warnings

VARIABLE = "NPY_DISABLE_CPU_FEATURES"
# numpy refuses to load when both are set: a user's explicit list of loops is left alone
ENABLE_VARIABLE = "NPY_ENABLE_CPU_FEATURES"
# numpy 2.5's x86 dispatch targets above X86_V3 (AVX2, FMA3): its AVX-512 groups
# (numpy._core._multiarray_umath.__cpu_dispatch__ lists X86_V3, X86_V4, AVX512_ICL, AVX512_SPR)
AVX512_TARGETS: tuple[str, ...] = ("X86_V4", "AVX512_ICL", "AVX512_SPR")


class DispatchWarning(RuntimeWarning):
    """numpy was loaded with its AVX-512 loops active: results may differ in the last bits
    from those of a machine without AVX-512."""


def merged(value: str | None) -> str:
    """``value`` (the variable's current text, features separated by spaces or commas) with
    the AVX-512 targets added after it, each once."""
    given = (value or "").replace(",", " ").split()
    return " ".join([*given, *(t for t in AVX512_TARGETS if t not in given)])


def active_avx512_targets() -> list[str]:
    """The AVX-512 targets the loaded numpy uses on this machine (empty: none, or numpy not
    loaded yet)."""
    umath = sys.modules.get("numpy._core._multiarray_umath")
    if umath is None:
        return []
    features = getattr(umath, "__cpu_features__", {})
    return [t for t in AVX512_TARGETS if features.get(t)]


def pin() -> None:
    """Switch numpy's AVX-512 loops off for this process and its children: set
    ``NPY_DISABLE_CPU_FEATURES`` (merged with the user's), and warn if numpy was already
    loaded with them active (then only the children are pinned). A user who chose numpy's
    loops with ``NPY_ENABLE_CPU_FEATURES`` keeps that choice (numpy does not load with both
    variables set); the warning then tells whether it left AVX-512 loops active."""
    if ENABLE_VARIABLE not in os.environ:
        os.environ[VARIABLE] = merged(os.environ.get(VARIABLE))
    active = active_avx512_targets()
    if active:
        warnings.warn(
            f"numpy was imported before sim on a CPU with AVX-512 (active: {', '.join(active)}): "
            "its transcendental functions (np.power, np.exp, ...) may then differ in the last bit "
            "from other machines' results. Import sim before numpy, or start Python with "
            f"{VARIABLE}='{merged(None)}' in the environment.",
            DispatchWarning,
            stacklevel=3,
        )
