"""numpy's AVX-512 loops are off wherever the model runs (sim.numpy_dispatch): the same bits on
every x86-64 machine, whichever way the process started (``import sim``, the command line, a
test worker), the user's own numpy settings kept, and a warning when it came too late."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from sim import numpy_dispatch
from sim.numpy_dispatch import AVX512_TARGETS, VARIABLE, DispatchWarning

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (the numpy variables only as given) and return
    its stdout."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NPY_")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_merged_adds_each_avx512_target_once_after_the_users_own():
    assert numpy_dispatch.merged(None).split() == list(AVX512_TARGETS)
    assert numpy_dispatch.merged("").split() == list(AVX512_TARGETS)
    assert numpy_dispatch.merged("AVX2").split() == ["AVX2", *AVX512_TARGETS]
    assert numpy_dispatch.merged("X86_V4,FMA3").split() == ["X86_V4", "FMA3", *AVX512_TARGETS[1:]]
    assert numpy_dispatch.merged(numpy_dispatch.merged(None)) == numpy_dispatch.merged(None)


# what numpy made of the variable in the child: which of these target groups it uses
_REPORT = (
    "import os, numpy._core._multiarray_umath as u; "
    "print(os.environ.get('NPY_DISABLE_CPU_FEATURES'), "
    f"u.__cpu_features__['X86_V3'], any(u.__cpu_features__.get(t) for t in {AVX512_TARGETS!r}))"
)


@pytest.mark.parametrize("first", ["import sim", "import experiments.cli"])
def test_the_pin_reaches_numpy_and_keeps_the_users_setting(first):
    """``import sim`` and the command line's module set the variable before numpy loads, and
    numpy reads it: a group the user switched off (X86_V3, which this machine has) is off in
    numpy, the AVX-512 groups are added, and no AVX-512 loop is active."""
    out = _python(f"{first}\n{_REPORT}", NPY_DISABLE_CPU_FEATURES="X86_V3").split()
    assert out == ["X86_V3", *AVX512_TARGETS, "False", "False"]
    out = _python(f"{first}\n{_REPORT}").split()
    assert out[: len(AVX512_TARGETS)] == list(AVX512_TARGETS) and out[-1] == "False"


def test_the_command_line_sets_it_before_numpy_loads():
    """``viralchain`` loads numpy (through pyarrow) before it imports sim: the variable must
    already be set when numpy's first import starts."""
    code = (
        "import os, sys\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'import' and args[0] == 'numpy' and not seen:\n"
        "        seen.append(os.environ.get('NPY_DISABLE_CPU_FEATURES'))\n"
        "sys.addaudithook(hook)\n"
        "sys.argv = ['viralchain', 'list', 'stories']\n"
        "from experiments.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main()\n"
        "print(seen)\n"
    )
    assert _python(code) == repr([" ".join(AVX512_TARGETS)])


def test_a_users_enable_list_is_left_alone():
    """numpy refuses to load with both variables set: with NPY_ENABLE_CPU_FEATURES given, sim
    sets nothing, and numpy still loads."""
    out = _python(f"import sim\n{_REPORT}", NPY_ENABLE_CPU_FEATURES="X86_V3").split()
    assert out[0] == "None" and out[-1] == "False"


def test_a_late_pin_warns_when_avx512_loops_are_active(monkeypatch):
    """numpy already loaded with AVX-512 loops active (a machine with AVX-512, numpy imported
    first): the pin warns, naming the remedy; with none active it is silent."""
    fake = types.SimpleNamespace(__cpu_features__={"X86_V3": True, "X86_V4": True})
    monkeypatch.setitem(sys.modules, "numpy._core._multiarray_umath", fake)
    monkeypatch.delenv("NPY_ENABLE_CPU_FEATURES", raising=False)
    with pytest.warns(DispatchWarning, match=r"X86_V4.*Import sim before numpy"):
        numpy_dispatch.pin()
    fake.__cpu_features__["X86_V4"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numpy_dispatch.pin()


def test_this_process_runs_without_avx512_loops():
    """The suite's own processes (and so every model run in them) are pinned: on a machine
    with AVX-512 this fails if numpy loaded before the variable was set."""
    assert set(AVX512_TARGETS) <= set(os.environ[VARIABLE].replace(",", " ").split())
    assert numpy_dispatch.active_avx512_targets() == []
