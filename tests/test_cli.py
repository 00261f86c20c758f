"""The ``viralchain`` command: runs, the demo comparison, listings and exit codes."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from tests.conftest import ROOT, cli

SMALL = ["market.n_consumers=3000", "run.horizon_hours=300"]


def test_run_prints_kpis_writes_tables_and_plot(tmp_path):
    out = tmp_path / "run"
    p = cli("run", "setup=flexible", *SMALL, "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "fill_rate" in p.stdout and "profit" in p.stdout and str(out) in p.stdout
    for name in ("runs.parquet", "timeseries.parquet", "events.parquet", "plot.png"):
        assert (out / name).stat().st_size > 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs.setup.iloc[0] == "flexible"
    assert f"{runs.fill_rate.iloc[0]:.3f}" in p.stdout


def test_run_default_output_directory_is_deterministic(tmp_path):
    p = cli("run", *SMALL, "seed=3", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    dirs = list((tmp_path / "outputs" / "runs").iterdir())
    assert len(dirs) == 1 and dirs[0].name.startswith("head_kol_livestream-rigid-seed3-")


def test_demo_compares_setups_on_the_same_seed(tmp_path):
    p = cli("demo", *SMALL, "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "rigid" in p.stdout and "flexible" in p.stdout and "flexible − rigid" in p.stdout
    assert (tmp_path / "demo" / "comparison.png").stat().st_size > 0
    r = pd.read_parquet(tmp_path / "demo" / "rigid" / "runs.parquet")
    f = pd.read_parquet(tmp_path / "demo" / "flexible" / "runs.parquet")
    assert r.seed.iloc[0] == f.seed.iloc[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["run", "supply.factories.core.capacity_units_per_day=-1"],
            "supply.factories.core.capacity_units_per_day = -1",
        ),
        (
            ["run", "market.organic.conversion_probability=1.5"],
            "market.organic.conversion_probability = 1.5",
        ),
        (["run", "market.n_consumers=many"], "market.n_consumers = 'many'"),
        (["run", "nonsense_key=1"], "nonsense_key = '1': unknown key"),
        (["run", "+nonsense_key=1"], "nonsense_key = 1: unknown key"),
        (["run", "setup=elastic"], "setup = 'elastic': must be one of"),
        (["run", "story=nowhere"], "story = 'nowhere': must be one of"),
        (["demo", "story=nowhere"], "story = 'nowhere': must be one of"),
        (["run", "market.n_consumers=[1"], "malformed"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(tmp_path, args, needle):
    p = cli(*args, cwd=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert len(p.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_usage_errors_exit_2(tmp_path):
    assert cli("frobnicate", cwd=tmp_path).returncode == 2
    assert cli(cwd=tmp_path).returncode == 2
    assert cli("compare", "--setups", "rigid", cwd=tmp_path).returncode == 2


def test_a_failing_run_exits_1_without_traceback(tmp_path):
    p = cli("run", *SMALL, "run.fail_at_hour=5", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert p.returncode == 1
    assert "deliberate failure at hour 5" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x").exists()


def test_help_answers_the_questions():
    p = cli("run", "--help")
    assert p.returncode == 0
    for needle in ("story=", "setup=flexible", "policy/forecast", "seed=", "--out"):
        assert needle in p.stdout


def test_list_commands(tmp_path):
    stories = cli("list", "stories").stdout
    assert "head_kol_livestream" in stories and "flood peak" in stories
    assert "rigid" in cli("list", "setups").stdout
    pol = cli("list", "policies").stdout
    assert "policy/forecast" in pol and "exp_smoothing" in pol
    assert "fill_rate" in cli("list", "kpis").stdout


def test_version_names_the_release_and_where_the_scenarios_come_from():
    p = cli("--version")
    assert p.returncode == 0
    assert p.stdout.strip() == f"viralchain {sim.__version__} (scenarios: {ROOT / 'scenarios'})"


def test_list_kpis_prints_the_catalogue():
    from sim.kpis import CATALOGUE

    lines = cli("list", "kpis").stdout.splitlines()
    assert lines[0].split() == ["KPI", "unit", "better", "meaning"]
    for k, line in zip(CATALOGUE, lines[1:], strict=True):
        better = "-" if k.better == "neither" else k.better
        assert line.split()[:3] == [k.name, k.unit, better] and line.endswith(k.meaning)


def test_the_kpi_table_shows_each_kpis_unit_and_better_direction_from_the_catalogue():
    from experiments.cli import kpi_table
    from sim.kpis import CATALOGUE

    table = kpi_table({"a": {"fill_rate": 0.5, "profit": 1234.5}, "b": {}}, diff=True)
    lines = {line.split()[0]: line.split() for line in table.splitlines()[2:]}
    assert list(lines) == [k.name for k in CATALOGUE]
    assert lines["fill_rate"][1:4] == ["share", "higher", "0.500"]
    assert lines["profit"][1:4] == ["money", "higher", "1,234"]
    assert lines["stockout_hours"][1:3] == ["SKU-h", "lower"]
    assert lines["demand_units"][1:3] == ["units", "n/a"]  # neither: no direction shown
