"""Build the separate environment the Ray launcher needs: ``python -m experiments.sweep_rayenv``.

hydra-ray-launcher 1.2.2 requires ``cloudpickle<3``, while joblib 1.6 (the project's pin, used
by the joblib launcher) requires ``cloudpickle>=3``: the two cannot share one environment.
This builds a second virtual environment (default ``.venv-ray``) with the project's pinned
dependencies except ``joblib==1.5.3`` (the last release that accepts ``cloudpickle<3``),
plus the pins below, and installs viralchain into it in editable mode without its
dependencies. The simulation code is the same; only the launcher stack differs. Then::

    .venv-ray/bin/viralchain sweep smoke hydra/launcher=ray
    .venv-ray/bin/viralchain sweep rigid_vs_flexible hydra/launcher=viralchain_ray \\
        hydra.launcher.ray.init.address=auto        # join a running Ray cluster

See docs/sweeps.md ("Beyond one machine").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# what differs from the main environment (exact pins, checked together on Python 3.12)
RAY_PINS = {
    "joblib": "joblib==1.5.3",
    "cloudpickle": "cloudpickle==2.2.1",
    "hydra-ray-launcher": "hydra-ray-launcher==1.2.2",
    "ray": "ray[default]==2.60.0",
}


def _name(requirement: str) -> str:
    for sep in ("[", "=", "<", ">", "!", "~", ";", " "):
        requirement = requirement.split(sep, 1)[0]
    return requirement.strip().lower()


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The Ray environment's requirements: the project's pins with ``RAY_PINS`` swapped in."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    out = [d for d in deps if _name(d) not in RAY_PINS]
    return out + list(RAY_PINS.values())


def build(target: Path, python: str = sys.executable) -> Path:
    """Create (or update) the environment at ``target``; return its python."""
    if not (target / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=False).create(target)
    py = target / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements()], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    return py


def main(argv: list[str] | None = None) -> int:
    """Command line: build the environment, print how to use it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", nargs="?", default=str(ROOT / ".venv-ray"))
    args = p.parse_args(argv)
    py = build(Path(args.target))
    print(f"ready: {py.parent / 'viralchain'} sweep smoke hydra/launcher=ray")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
