"""The optional compiled kernels (sim/compiled.py): built and current where a C compiler is,
switched off by VIRALCHAIN_COMPILED=0, and a stale build (another version of its source)
never used. Each kernel's own test compares it with its Python path."""

from __future__ import annotations

import importlib
import shutil
import sysconfig
import types
from pathlib import Path

import numpy as np
import pytest

from sim import compiled

KERNELS = sorted(p.stem for p in (Path(compiled.__file__).parent).glob("_*.c"))

#: numpy's five bit generators: a kernel that draws is compared with its Python path on each
BIT_GENERATORS = [
    np.random.PCG64,
    np.random.PCG64DXSM,
    np.random.MT19937,
    np.random.Philox,
    np.random.SFC64,
]

# each bit generator fresh and with a half-used 64-bit output (numpy's 32-bit draws keep the
# other half for the next one): the kernels' tests draw from both
GENERATORS = [(kind, half) for kind in BIT_GENERATORS for half in (False, True)]
GENERATOR_IDS = [f"{kind.__name__}-{'half' if half else 'whole'}" for kind, half in GENERATORS]


def generator_pair(kind, half: bool, seed: int = 11):
    """Two generators of ``kind`` in the same state (a half-used 64-bit output left in both
    if ``half``)."""
    a, b = np.random.Generator(kind(seed)), np.random.Generator(kind(seed))
    if half:
        a.integers(0, 7, 3, dtype=np.uint32), b.integers(0, 7, 3, dtype=np.uint32)
    return a, b


def same_state(a, b) -> bool:
    """Two bit generators' states (``bit_generator.state``) alike, arrays by value."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_state(a[x], b[x]) for x in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _compiler() -> bool:
    """Whether the install could build the kernels: the compiler setuptools calls ($CC, else
    the one Python was built with) runs here."""
    import os
    import subprocess

    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return False
    return subprocess.run([cc, "--version"], capture_output=True).returncode == 0


def built(name: str) -> types.ModuleType:
    """``sim.<name>`` built from the source beside it, whatever VIRALCHAIN_COMPILED says (a
    kernel's own tests compare it with its Python path; the model's paths follow the
    switch). Skips the caller where no C compiler is (the Python paths run, the same
    results); fails where one is and the build is missing or stale."""
    try:
        module = importlib.import_module(f"sim.{name}")
    except ImportError:
        module = None
    if module is not None and not compiled.stale(module, name):
        return module
    if not _compiler():
        pytest.skip(f"no C compiler here: sim.{name} is not built", allow_module_level=True)
    pytest.fail(
        f"sim.{name} is not built or is stale (sim/{name}.c or a shared header sim/_*.h "
        "changed): `make venv` or `python setup.py build_ext --inplace`",
        pytrace=False,
    )


@pytest.mark.parametrize("name", KERNELS)
def test_each_kernel_is_built_and_current(name, monkeypatch):
    monkeypatch.delenv(compiled.ENV, raising=False)  # (the suite may run with them off)
    if not _compiler():
        pytest.skip("no C compiler here: the Python paths run (the same results)")
    module = compiled.load(name)
    assert module is not None, (
        f"sim.{name} is not built or is stale (sim/{name}.c changed): run `make venv` "
        "or `python setup.py build_ext --inplace`"
    )
    assert compiled.source_sha256(name) == module.SOURCE_SHA256


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setattr(compiled.importlib, "import_module", lambda name: types.ModuleType(name))
    monkeypatch.setattr(compiled, "source_sha256", lambda name: None)
    assert compiled.load("_anything") is not None
    monkeypatch.setenv(compiled.ENV, "0")
    assert compiled.load("_anything") is None


def test_a_stale_build_is_not_used(monkeypatch):
    monkeypatch.delenv(compiled.ENV, raising=False)
    built = types.ModuleType("sim._k")
    built.SOURCE_SHA256 = "a" * 64
    monkeypatch.setattr(compiled.importlib, "import_module", lambda name: built)
    monkeypatch.setattr(compiled, "source_sha256", lambda name: "a" * 64)
    assert compiled.load("_k") is built
    monkeypatch.setattr(compiled, "source_sha256", lambda name: "b" * 64)
    assert compiled.stale(built, "_k")
    assert compiled.load("_k") is None


def test_a_missing_module_gives_none():
    assert compiled.load("_no_such_kernel") is None


def test_golden_digests_on_the_python_paths():
    """Every recorded story and setup gives its recorded outputs with every kernel switched
    off (VIRALCHAIN_COMPILED=0: a machine without a C compiler), as with them (the golden
    test itself, in this process)."""
    import os
    import subprocess
    import sys

    root = Path(compiled.__file__).resolve().parent.parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_golden.py"],
        cwd=root,
        env={**os.environ, compiled.ENV: "0"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


def test_the_stamp_covers_the_source_and_every_shared_header(tmp_path: Path):
    """An edit of a kernel's source or of a shared header (sim/_*.h, included by several
    kernels) changes the stamp, so the build made before it is stale; other files do not."""
    (tmp_path / "_k.c").write_bytes(b'#include "_h.h"\nint x;\n')
    (tmp_path / "_h.h").write_bytes(b"int y;\n")
    stamp = compiled.source_sha256("_k", tmp_path)
    assert stamp is not None and len(stamp) == 64
    (tmp_path / "notes.txt").write_bytes(b"not a header")
    (tmp_path / "other.h").write_bytes(b"not a shared header: no leading underscore")
    assert compiled.source_sha256("_k", tmp_path) == stamp
    (tmp_path / "_h.h").write_bytes(b"int y, z;\n")
    edited_header = compiled.source_sha256("_k", tmp_path)
    assert edited_header != stamp
    (tmp_path / "_a.h").write_bytes(b"")  # a new header (empty) in front of the others
    assert compiled.source_sha256("_k", tmp_path) == edited_header  # same bytes in order
    (tmp_path / "_a.h").write_bytes(b"int w;\n")
    assert compiled.source_sha256("_k", tmp_path) != edited_header
    assert compiled.source_sha256("_absent", tmp_path) is None
