"""Package layout for setuptools (everything else is in pyproject.toml).

The Hydra config groups live at the repository's top level, ``scenarios/``, where users and
docs find them; the wheel ships them as package data of ``experiments.scenarios`` so that an
installed ``viralchain`` composes configs outside the repository
(``experiments.compose.scenarios_dir`` finds either). Each config group folder is listed as a
package of its own: setuptools then copies its YAML files without warning that a data folder
looks importable.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
SCENARIOS = "scenarios"  # relative to this file, as setuptools wants
if not (HERE / SCENARIOS / "config.yaml").is_file():
    raise SystemExit(f"viralchain: {HERE / SCENARIOS} is missing: the wheel must ship it")
SCENARIO_PACKAGES = [
    "experiments.scenarios",
    *(f"experiments.scenarios.{p}" for p in find_namespace_packages(str(HERE / SCENARIOS))),
]

setup(
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
