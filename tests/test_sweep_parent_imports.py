"""A sweep's launching process loads what it does itself and no more.

With two workers or more the jobs run in the workers: the command plans, validates, launches
and checks the files, none of which needs pandas, pyarrow's datasets or the run's tables
(``sim.result``). Loading them before the launch (≈ 0.3 s: the parser's ``--format`` choices,
``import sim``, the sweep store) delayed every worker's start by as much; loading them at the
end (reading a run's status through ``pq.read_table``) delayed the command's exit.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import python

pytestmark = pytest.mark.xdist_group("sweep")

HEAVY = ["pandas", "pyarrow.dataset", "sim.result", "sim.recording", "mesa"]

SWEEP = """
import atexit, gc, json, sys
collector = {{}}  # whether the collector was on as pandas began to load
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" and name not in collector:
            collector[name] = gc.isenabled()
sys.meta_path.insert(0, Spy())
atexit.register(lambda: print(json.dumps({{**{{n: n in sys.modules for n in {heavy!r}}},
                                           "collector": collector.get("pandas")}})))
from experiments import cli
sys.argv = ["viralchain", "run", "-m", "setup=rigid,flexible", "market.n_consumers=300",
            "run.horizon_hours=24", "--jobs", "{jobs}", "--out", {out!r}]
rc = cli.console()
print(json.dumps({{"rc": rc}}))
"""


def _sweep(tmp_path, jobs: int) -> tuple[int, dict[str, bool | None]]:
    out = str(tmp_path / f"sweep{jobs}")
    done = python(SWEEP.format(heavy=HEAVY, jobs=jobs, out=out))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    return lines[-2]["rc"], lines[-1]


def test_a_parallel_sweeps_launching_process_loads_no_tables(tmp_path):
    rc, loaded = _sweep(tmp_path, 2)
    assert rc == 0
    assert loaded == {**dict.fromkeys(HEAVY, False), "collector": None}


def test_a_one_worker_sweep_runs_its_jobs_in_the_command(tmp_path):
    rc, loaded = _sweep(tmp_path, 1)  # the jobs (and their imports) are the command's
    assert rc == 0
    assert loaded["pandas"] and loaded["sim.result"] and loaded["mesa"]
    # imported as the parser's imports are: the collector off, then frozen
    assert loaded["collector"] is False


def test_sim_still_offers_run_and_its_result():
    import sim
    import sim.config
    import sim.result

    assert sim.run is sim.result.run and sim.RunResult is sim.result.RunResult
    assert {"run", "RunResult"} <= set(dir(sim))
    assert sim.result.make_run_id is sim.config.make_run_id
    with pytest.raises(AttributeError):
        sim.no_such_name  # noqa: B018


def test_frozen_imports_leave_a_callers_collector_alone():
    """Outside the ``viralchain`` process (tests, notebooks calling ``main``) the command's
    way of importing (:mod:`experiments.frozen_imports`) neither freezes nor turns the
    collector off or on."""
    import gc

    from experiments import frozen_imports

    assert not frozen_imports.in_command()
    frozen = gc.get_freeze_count()
    with frozen_imports.importing():
        assert gc.isenabled()
    frozen_imports.freeze()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_type_checkers_see_sim_run_and_its_result():
    """``sim.run`` and ``sim.RunResult`` come from ``__getattr__`` at run time; a type
    checker reads the ``if TYPE_CHECKING:`` import of the same names from ``sim.result``."""
    import ast
    from pathlib import Path

    import sim

    tree = ast.parse(Path(sim.__file__).read_text())
    seen = {
        (node.module, alias.name)
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == {("sim.result", name) for name in sim._FROM_RESULT}


def test_which_launchers_run_the_jobs_in_the_command():
    """The one-worker path (the jobs' modules imported frozen before the launch) is taken
    for Hydra's basic launcher and its joblib launcher on one worker, by class, not name."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
    from joblib import effective_n_jobs

    from experiments.sweep import _runs_jobs_here

    class OwnJoblibLauncher(JoblibLauncher):  # a subclass: still joblib's
        pass

    class JoblibLauncherElsewhere:  # joblib's name, not its class (say, a remote launcher)
        def __init__(self) -> None:
            self.joblib = {"n_jobs": 1}

    all_cores = effective_n_jobs(-1) == 1  # -1 and None: every core (two here)
    assert _runs_jobs_here(BasicLauncher())
    assert _runs_jobs_here(JoblibLauncher(n_jobs=1))
    assert _runs_jobs_here(OwnJoblibLauncher(n_jobs=1))
    assert not _runs_jobs_here(JoblibLauncher(n_jobs=2))
    assert _runs_jobs_here(JoblibLauncher(n_jobs=None)) is all_cores
    assert _runs_jobs_here(JoblibLauncher()) is all_cores
    assert not _runs_jobs_here(JoblibLauncherElsewhere())
    assert not _runs_jobs_here(object())
