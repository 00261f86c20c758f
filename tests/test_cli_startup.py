"""``viralchain run`` loads what the run uses and no more: the chosen command's module only,
no Hydra when the composition is remembered, no matplotlib before the run (none at all when
the config is bad) and never pyplot, and none of Mesa's scipy/networkx parts; the process
freezes its objects for a quick exit; Mesa's import reads no source files."""

from __future__ import annotations

import json

import pytest

from experiments import cli
from tests.conftest import python

SMALL = ["market.n_consumers=2000", "run.horizon_hours=48"]
NEVER = ["experiments.report", "experiments.sweep_stats", "sim.validation", "scipy", "networkx"]
NEVER += ["experiments.dashboard.command", "experiments.network", "experiments.optimise"]
NEVER += ["matplotlib.pyplot"]  # the run plot is a bare Figure on an Agg canvas


def _loaded_after(argv: list[str], cache_dir, names: list[str]) -> tuple[int, dict[str, bool]]:
    """Run ``viralchain ARGV`` in a fresh process; its exit code and which of ``names``
    were really imported (not a stand-in) when it ended."""
    code = (
        "import json, sys\n"
        "from experiments.cli import main\n"
        f"rc = main({argv!r})\n"
        "real = lambda n: type(sys.modules.get(n)).__name__ == 'module'\n"
        f"print(json.dumps([rc, {{n: real(n) for n in {names!r}}}]))\n"
    )
    done = python(code, VIRALCHAIN_COMPOSE_CACHE=str(cache_dir))
    assert done.returncode == 0, done.stderr
    rc, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, loaded


def test_a_run_with_a_remembered_composition_loads_no_hydra_and_no_other_command(tmp_path):
    argv = ["run", *SMALL, "--out", str(tmp_path / "run")]
    names = [*NEVER, "hydra", "omegaconf", "matplotlib", "pandas", "mesa"]
    rc, first = _loaded_after(argv, tmp_path / "cache", names)
    assert rc == 0 and first["hydra"] and first["matplotlib"]  # composed by Hydra, plotted
    rc, loaded = _loaded_after(argv, tmp_path / "cache", names)
    assert rc == 0 and (tmp_path / "run" / "plot.png").is_file()
    assert loaded == {
        **dict.fromkeys(names, False),
        "matplotlib": True,
        "pandas": True,
        "mesa": True,
    }
    assert not any(first[n] for n in NEVER)


def test_a_bad_config_loads_neither_matplotlib_nor_mesa(tmp_path):
    rc, loaded = _loaded_after(
        ["run", "market.n_consumers=-1"], tmp_path / "cache", ["matplotlib", "mesa"]
    )
    assert rc == 2 and loaded == {"matplotlib": False, "mesa": False}


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["run", "seed=1"], "run"),
        (["-v", "report", "x"], "report"),
        (["--config-dir", "clients/acme", "sweep"], "sweep"),
        (["--config-dir=clients/acme", "-v", "resume", "d"], "resume"),
        (["--verbose", "list", "stories"], "list"),
        ([], None),
        (["-h"], None),
        (["--version"], None),
        (["--config-dir"], None),
        (["--bogus", "run"], None),
    ],
)
def test_the_chosen_command_is_the_first_word_after_the_top_level_options(argv, command):
    assert cli.chosen_command(argv) == command


def _commands(parser) -> set[str]:
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


def test_the_command_table_names_every_command_of_every_module():
    every = _commands(cli.build_parser())
    assert every == set(cli.OWN_COMMANDS) | set(cli.COMMANDS)
    for name, module in cli.COMMANDS.items():  # each module adds the commands it is named for
        only = _commands(cli.build_parser([name]))
        assert name in only and only - set(cli.OWN_COMMANDS) == {
            n for n, m in cli.COMMANDS.items() if m == module
        }
    assert _commands(cli.build_parser(["run"])) == set(cli.OWN_COMMANDS)
    assert _commands(cli.build_parser(["nonsense"])) == every  # argparse lists them all


@pytest.mark.parametrize("argv", [["list", "stories"], ["run", "--bogus"]])
def test_the_command_leaves_its_objects_to_the_os_at_exit_and_still_flushes(argv, tmp_path):
    # gc.freeze(): the interpreter's exit does not collect garbage through every object
    # pandas, Mesa and matplotlib made; atexit hooks run and the output arrives whole
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 1000))\n"
        "from experiments.cli import console\n"
        f"sys.argv = ['viralchain', *{argv!r}]\n"
        "sys.exit(console())\n"
    )
    done = python(code, VIRALCHAIN_COMPOSE_CACHE=str(tmp_path))
    assert done.stdout.rstrip().endswith("frozen True")
    if argv[0] == "list":
        assert done.returncode == 0 and "head_kol_livestream" in done.stdout
    else:
        assert done.returncode == 2 and "--bogus" in done.stderr


def _collector_as_modules_load(entry: str, argv: list[str], cache_dir) -> list[list]:
    """Run ``viralchain ARGV`` through ``entry`` (``console`` or ``main``) in a fresh process:
    as pandas, Mesa and matplotlib begin to load, whether the garbage collector is on and
    how many objects had been put out of its sight (``gc.freeze``); then the same at exit."""
    code = (
        "import atexit, gc, json, sys\n"
        "seen, before = {}, gc.get_freeze_count()\n"
        "state = lambda: [gc.isenabled(), gc.get_freeze_count() - before]\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in ('pandas', 'mesa.model', 'matplotlib') and name not in seen:\n"
        "            seen[name] = state()\n"
        "sys.meta_path.insert(0, Spy())\n"
        "atexit.register(lambda: print(json.dumps([*seen.values(), state()])))\n"
        "from experiments import cli\n"
        f"sys.argv = ['viralchain', *{argv!r}]\n"
        f"sys.exit(cli.console() if {entry == 'console'} else cli.main(sys.argv[1:]))\n"
    )
    done = python(code, VIRALCHAIN_COMPOSE_CACHE=str(cache_dir))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_command_imports_without_collecting_and_freezes_what_it_imported(tmp_path):
    argv = ["run", *SMALL, "--out", str(tmp_path / "run")]
    pandas, mesa, matplotlib, end = _collector_as_modules_load("console", argv, tmp_path / "c")
    # pandas and Mesa load with the run's model (the parser needs neither): the collector
    # off, after the command started and froze the parser's imports
    assert pandas[0] is False and pandas[1] > 50_000
    assert mesa[0] is False and mesa[1] > 50_000
    assert matplotlib[0] is False and matplotlib[1] > mesa[1] + 50_000  # those frozen too
    assert end[0] is True  # on again for the run and the plot
    # a caller of main() keeps its collector
    states = _collector_as_modules_load("main", argv, tmp_path / "c")
    assert states == [[True, 0]] * 4


def test_importing_mesa_reads_no_source_and_names_its_loggers_as_before():
    # Mesa names its loggers from the stack (inspect.stack, getouterframes: the source lines
    # of every frame and a scan of every module's file); sim gives it a light view
    code = (
        "import inspect, logging, sys\n"
        "import sim\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('read the stack with its source lines')\n"
        "inspect.stack = inspect.getouterframes = inspect.findsource = refuse\n"
        "import sim.model, mesa\n"
        "from mesa import mesa_logging\n"
        "print(sorted(mesa_logging._module_loggers))\n"
        "logging.basicConfig(stream=sys.stdout, format='%(name)s %(message)s')\n"
        "logging.getLogger('MESA').setLevel(logging.DEBUG)\n"
        "mesa.Model(rng=1)\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    loggers, message = done.stdout.splitlines()[:2]
    assert loggers == "['mesa.mesa_logging', 'mesa.model']"
    assert message.startswith("MESA.mesa.model calling Model.__init__ with ()")


def test_the_command_skips_matplotlib_property_docs_and_draws_the_same_plot(tmp_path):
    # matplotlib writes every artist's property list into its set() docstring as the class
    # is defined; the viralchain process skips that, a caller of main() keeps it
    docs = {}
    for entry in ("console", "main"):
        out = tmp_path / entry
        code = (
            "import sys\n"
            "from experiments import cli\n"
            f"sys.argv = ['viralchain', 'run', *{SMALL!r}, '--out', {str(out)!r}]\n"
            f"rc = cli.console() if {entry == 'console'} else cli.main(sys.argv[1:])\n"
            "from matplotlib.lines import Line2D\n"
            "print(rc, Line2D.set.__doc__.splitlines()[-1])\n"
        )
        done = python(code, VIRALCHAIN_COMPOSE_CACHE="off")
        assert done.returncode == 0, done.stderr
        rc, last = done.stdout.splitlines()[-1].split(" ", 1)
        assert rc == "0"
        docs[entry] = last
    assert docs["console"] == cli.SKIPPED_PROPERTY_DOCS
    assert "zorder" in docs["main"]  # the last property, as matplotlib documents it
    png = (tmp_path / "console" / "plot.png").read_bytes()
    assert png == (tmp_path / "main" / "plot.png").read_bytes()
