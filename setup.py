"""Package layout for setuptools (everything else is in pyproject.toml).

The Hydra config groups live at the repository's top level, ``scenarios/``, where users and
docs find them; the wheel ships them as package data of ``experiments.scenarios`` so that an
installed ``viralchain`` composes configs outside the repository
(``experiments.compose.scenarios_dir`` finds either). Each config group folder is listed as a
package of its own: setuptools then copies its YAML files without warning that a data folder
looks importable.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
SCENARIOS = "scenarios"  # relative to this file, as setuptools wants
if not (HERE / SCENARIOS / "config.yaml").is_file():
    raise SystemExit(f"viralchain: {HERE / SCENARIOS} is missing: the wheel must ship it")
SCENARIO_PACKAGES = [
    "experiments.scenarios",
    *(f"experiments.scenarios.{p}" for p in find_namespace_packages(str(HERE / SCENARIOS))),
]

# The optional compiled kernels (sim/compiled.py): C extension modules of the sim package,
# one per source file sim/_<name>.c, each stamped with the SHA-256 of its source followed by the
# shared headers sim/_*.h in name order, as sim.compiled.source_sha256 computes it (this file
# cannot import sim in an isolated build); a stale build is not used. Optional: without a C
# compiler the install succeeds and the Python paths run.
# No floating-point contraction (an FMA would round differently from numpy's two steps).
KERNELS = sorted(p.stem for p in (HERE / "sim").glob("_*.c"))
HEADERS = sorted((HERE / "sim").glob("_*.h"))


def _kernel(name: str) -> Extension:
    source = f"sim/{name}.c"
    digest = hashlib.sha256((HERE / source).read_bytes())
    for header in HEADERS:
        digest.update(header.read_bytes())
    return Extension(
        f"sim.{name}",
        [source],
        depends=[f"sim/{header.name}" for header in HEADERS],
        define_macros=[("SOURCE_SHA256", f'"{digest.hexdigest()}"')],
        extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
        libraries=["m"],  # exp() and the like, as numpy's own random module links them
        optional=True,
    )


setup(
    ext_modules=[_kernel(name) for name in KERNELS],
    # namespace discovery: a folder of modules without __init__.py (sim/agents) is a package
    packages=[
        *find_namespace_packages(
            where=str(HERE),
            include=["sim", "sim.*", "experiments", "experiments.*", "hydra_plugins.*"],
            exclude=["*__pycache__*"],
        ),
        *SCENARIO_PACKAGES,
    ],
    package_dir={"experiments.scenarios": SCENARIOS},
    package_data={p: ["*.yaml"] for p in SCENARIO_PACKAGES},
)
