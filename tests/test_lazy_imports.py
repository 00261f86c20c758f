"""A run does not load what it does not use: Mesa's cell spaces (scipy, networkx) stay
unloaded until someone reads them, and then they work as if imported normally."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import cached_run

ROOT = Path(__file__).resolve().parent.parent

LOADED = (
    "import sys\nreal = lambda n: n in sys.modules and type(sys.modules[n]).__name__ == 'module'\n"
)


def _python(code: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], input=stdin, text=True, capture_output=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_run_loads_neither_scipy_nor_networkx():
    data = json.loads(cached_run("rigid").config.to_json())
    data["run"]["horizon_hours"] = 48
    code = LOADED + (
        "import json, sim\n"
        "from sim.config import validate\n"
        "sim.run(validate(json.loads(sys.stdin.read())), seed=1)\n"
        "assert 'mesa' in sys.modules\n"
        "print(sorted(n for n in ('scipy', 'networkx', 'mesa.discrete_space') if real(n)))\n"
    )
    assert _python(code, json.dumps(data)).strip() == "[]"


def test_deferred_packages_load_on_first_use():
    code = LOADED + (
        "import sim.model, mesa\n"
        "assert not real('networkx') and not real('mesa.discrete_space')\n"
        "from mesa.discrete_space import Network, OrthogonalMooreGrid\n"
        "import networkx as nx\n"
        "import mesa.experimental.continuous_space as cs\n"
        "g = Network(nx.path_graph(3))\n"
        "assert len(list(g.all_cells)) == 3\n"
        "assert cs.ContinuousSpace.__module__.startswith('mesa.experimental')\n"
        "assert real('networkx') and real('mesa.discrete_space') and real('scipy')\n"
        "assert mesa.discrete_space is sys.modules['mesa.discrete_space']\n"
        "import mesa.space\n"
        "assert mesa.space.nx.path_graph(2).number_of_nodes() == 2\n"
        "print('ok')\n"
    )
    assert _python(code).strip() == "ok"


def test_nothing_is_deferred_when_mesa_came_first():
    code = "import mesa\nfrom sim.lazy_imports import defer_unused_mesa_parts\n"
    code += "print(defer_unused_mesa_parts())\n"
    assert _python(code).strip() == "[]"
