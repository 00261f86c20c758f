"""The wheel: it ships every module and every scenario file, and an installed copy runs a story
outside the repository (``viralchain --version`` says where its scenarios come from). Both
run in the default suite (about 12 s together).

The wheel is built from a copy of the checkout (the build writes ``build/`` and
``*.egg-info`` beside the sources); the fresh venv gets the wheel with ``--no-deps`` and
borrows this venv's dependencies through a ``.pth`` file, so nothing is downloaded. Only the
build's own backend (setuptools) comes from the package index, as in ``pip install``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import sim
from tests.conftest import ROOT
from tests.test_compiled import _compiler

# one worker builds the wheel once for both tests (``--dist loadgroup``)
pytestmark = pytest.mark.xdist_group("wheel")

# what the wheel is built from: the checkout without its environments, caches and outputs
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "outputs",
    "multirun",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.so",  # the compiled kernels built in place: the wheel builds its own
)


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRALCHAIN_SCENARIOS")}
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=IGNORED)
    p = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src)
    assert p.returncode == 0, p.stderr[-3000:]
    (built,) = (tmp / "dist").glob("viralchain-*.whl")
    return built


def test_the_wheel_ships_every_module_and_every_scenario_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    scenarios = sorted(p for p in (ROOT / "scenarios").rglob("*") if p.is_file())
    assert scenarios
    missing = [
        str(p.relative_to(ROOT))
        for p in scenarios
        if f"experiments/scenarios/{p.relative_to(ROOT / 'scenarios').as_posix()}" not in names
    ]
    assert missing == [], "scenario files missing from the wheel"
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for package in ("sim", "experiments", "hydra_plugins")
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert [m for m in modules if m not in names] == [], "modules missing from the wheel"
    # each compiled kernel built into the wheel (sim/compiled.py), where a C compiler is
    if _compiler():
        for source in sorted((ROOT / "sim").glob("_*.c")):
            built = [n for n in names if n.startswith(f"sim/{source.stem}.") and n.endswith(".so")]
            assert built, f"the wheel lacks the build of {source.name}"
    assert wheel.name.startswith(f"viralchain-{sim.__version__}-")


def test_the_installed_wheel_runs_a_story_outside_the_repository(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    p = _run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert p.returncode == 0, p.stderr
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    # the dependencies: this venv's site-packages, after the fresh venv's own
    (purelib / "zz_viralchain_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    p = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel
    )
    assert p.returncode == 0, p.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    viralchain = venv / "bin" / "viralchain"

    version = _run(viralchain, "--version", cwd=elsewhere)
    assert version.returncode == 0, version.stderr
    packaged = purelib / "experiments" / "scenarios"
    assert version.stdout.strip() == f"viralchain {sim.__version__} (scenarios: {packaged})"

    where = _run(python, "-c", "import sim, experiments; print(sim.__file__)", cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(purelib), "imports the installed copy"

    out = elsewhere / "run"
    story = ["story=head_kol_livestream", "market.n_consumers=2000", "run.horizon_hours=240"]
    p = _run(viralchain, "run", *story, "--out", out, cwd=elsewhere)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "fill_rate" in p.stdout
    assert {f.name for f in out.iterdir()} >= {"runs.parquet", "timeseries.parquet", "plot.png"}
