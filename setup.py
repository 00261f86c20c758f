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


# Kernels that call numpy's own distribution code (sim/_traits.c) link numpy's static library
# numpy/random/lib/libnpyrandom.a and include its numpy/random/distributions.h, from the numpy
# of the build (pyproject's [build-system] pins the runtime's version); the build records that
# version (NUMPY_BUILT_VERSION) and sim.compiled.load refuses the module under another numpy.
# Without numpy or its static library at build time the kernel is left out (Python paths).
NUMPY_KERNELS = {"_traits"}


def _numpy_random() -> tuple[str, str, str] | None:
    """numpy's include dir, the folder of libnpyrandom.a and numpy's version, or None."""
    try:
        import numpy
    except ImportError:
        return None
    include = numpy.get_include()
    lib = Path(numpy.__file__).resolve().parent / "random" / "lib"
    if not (lib / "libnpyrandom.a").is_file():
        return None
    return include, str(lib), numpy.__version__


def _kernel(name: str) -> Extension | None:
    source = f"sim/{name}.c"
    digest = hashlib.sha256((HERE / source).read_bytes())
    for header in HEADERS:
        digest.update(header.read_bytes())
    macros = [("SOURCE_SHA256", f'"{digest.hexdigest()}"')]
    include_dirs, library_dirs, libraries = [], [], ["m"]
    if name in NUMPY_KERNELS:
        found = _numpy_random()
        if found is None:
            return None
        include, lib, version = found
        include_dirs, library_dirs = [include], [lib]
        libraries = ["npyrandom", "m"]  # numpy's distributions, then libm (exp, log, pow...)
        macros.append(("NUMPY_BUILT_VERSION", f'"{version}"'))
    return Extension(
        f"sim.{name}",
        [source],
        depends=[f"sim/{header.name}" for header in HEADERS],
        define_macros=macros,
        include_dirs=include_dirs,
        library_dirs=library_dirs,
        extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math"],
        libraries=libraries,  # exp() and the like, as numpy's own random module links them
        optional=True,
    )


setup(
    ext_modules=[k for k in map(_kernel, KERNELS) if k is not None],
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
