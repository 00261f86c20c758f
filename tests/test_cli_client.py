"""The command line for a client: config variants in ``compare``, KPI exports, reproducing a
sweep run, and the help and logging polish of issue 20."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from experiments import cli as cli_module
from experiments.compose import describe, scenarios_dir
from experiments.exports import kpi_frame
from sim.kpis import CATALOGUE
from tests.conftest import cli

SMALL = ["market.n_consumers=2000", "run.horizon_hours=200"]


def _main(*args: str) -> int:
    return cli_module.main(list(args))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- compare


def test_compare_runs_two_config_variants(tmp_path):
    out = tmp_path / "cmp"
    p = cli(
        "compare",
        "A=setup=flexible",
        "B=setup=flexible policy/rush=off",
        "market.n_consumers=2000",
        "run.horizon_hours=400",  # past the live stream (hour 212): rush orders
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr
    assert "A vs B on the same demand" in p.stdout
    assert "B: setup=flexible policy/rush=off" in p.stdout
    a = pd.read_parquet(out / "A" / "runs.parquet")
    b = pd.read_parquet(out / "B" / "runs.parquet")
    assert a.seed.iloc[0] == b.seed.iloc[0] and a.setup.iloc[0] == b.setup.iloc[0] == "flexible"
    assert a.rush_premium_cost.iloc[0] > 0 and b.rush_premium_cost.iloc[0] == 0  # rush off
    doc = json.loads((out / "kpis.json").read_text())
    assert doc["variants"] == {"A": "setup=flexible", "B": "setup=flexible policy/rush=off"}
    profit = next(r for r in doc["kpis"] if r["kpi"] == "profit")
    assert profit["A"] == pytest.approx(a.profit.iloc[0])
    assert profit["difference"] == pytest.approx(b.profit.iloc[0] - a.profit.iloc[0])


def test_compare_variant_option_takes_any_label(tmp_path):
    out = tmp_path / "cmp"
    code = _main(
        "compare", "--variant", "as-is=setup=rigid", "--variant", "to-be=setup=flexible",
        *SMALL, "--out", str(out),
    )  # fmt: skip
    assert code == 0
    assert (out / "as-is" / "runs.parquet").exists() and (out / "to-be" / "runs.parquet").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["setup=flexible"], "setup = 'flexible': compare runs each setup of --setups and would"),
        (["--setups", "rigid"], "give at least two different setups"),
        (["A=setup=rigid", "B=setup=rigid"], "A and B give the same configuration"),
        (["A=setup=rigid", "B=setup=flexible seed=4"], "B: seed = '4': is common to every"),
        (["A=setup=rigid", "B=setup=flexible replication=1"], "B: replication = '1'"),
        (["setup=rigid", "A=policy/rush=off", "B=setup=flexible"], "B: setup = 'flexible': also"),
        (["A=setup=rigid", "A=setup=flexible"], "variant = 'A': labels must differ"),
        (["A=setup=rigid"], "give at least two"),
        (["A=setup=rigid", "B=setup=flexible", "--setups", "rigid,flexible"], "either --setups"),
        (["A=setup=rigid", "B=setup=elastic"], "setup = 'elastic': must be one of"),
        (["A=setup=rigid", "B=nonsense"], "must be key=value overrides"),
        (["--variant", "=setup=rigid", "B=setup=flexible"], "must be LABEL="),
    ],
)
def test_compare_refuses_what_it_would_ignore(tmp_path, capsys, args, needle):
    out = tmp_path / "cmp"
    assert _main("compare", *args, *SMALL, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert "Traceback" not in err and not out.exists()


# ----------------------------------------------------------------------------- exports


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_run_exports_its_kpi_table(tmp_path, fmt):
    out = tmp_path / "run"
    assert _main("run", "setup=flexible", *SMALL, "--format", fmt, "--out", str(out)) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    path = out / f"kpis.{fmt}"
    if fmt == "csv":
        table = pd.read_csv(path)
    elif fmt == "xlsx":
        table = pd.read_excel(path, sheet_name="kpis")
        about = pd.read_excel(path, sheet_name="about")
        assert "seed" in set(about["key"])
    else:
        table = pd.DataFrame(json.loads(path.read_text())["kpis"])
    assert list(table["kpi"]) == [k.name for k in CATALOGUE]
    assert list(table.columns[:4]) == ["kpi", "unit", "better", "label"]
    row = table.set_index("kpi").loc["profit"]
    assert row["flexible"] == pytest.approx(runs.profit.iloc[0])


def test_compare_xlsx_has_the_difference_and_change(tmp_path):
    out = tmp_path / "demo"
    assert _main("demo", *SMALL, "--format", "xlsx", "--out", str(out)) == 0
    table = pd.read_excel(out / "kpis.xlsx", sheet_name="kpis").set_index("kpi")
    r = table.loc["fill_rate"]
    assert r["difference"] == pytest.approx(r["flexible"] - r["rigid"])
    assert r["change_pct"] == pytest.approx((r["flexible"] - r["rigid"]) / r["rigid"] * 100)


def test_kpi_frame_leaves_missing_values_empty():
    frame = kpi_frame({"a": {"profit": 1.0}, "b": {"profit": 0.0}}, diff=True)
    row = frame.set_index("kpi").loc["fill_rate"]
    assert pd.isna(row["a"]) and pd.isna(row["difference"])
    p = frame.set_index("kpi").loc["profit"]
    assert p["difference"] == -1.0 and p["change_pct"] == -100.0


def test_bad_format_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _main("run", "--format", "pdf", "--out", str(tmp_path / "r"))
    assert exc.value.code == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "sweep"
    p = cli(
        "run", "-m", "setup=rigid,flexible", "replication=0,1", *SMALL, "--jobs", "1",
        "--out", str(out), cwd=tmp,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return out


def test_run_with_replication_reproduces_a_sweep_run_exactly(small_sweep, tmp_path):
    runs = pd.read_parquet(small_sweep / "runs")
    swept = runs[(runs.setup == "flexible") & (runs.replication == 1)].iloc[0]
    out = tmp_path / "one"
    p = cli("run", "setup=flexible", "replication=1", *SMALL, "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert f"seed {swept.seed} (from seed=0, replication=1, as a sweep)" in p.stdout
    part = "story=head_kol_livestream/setup=flexible"
    for table in ("timeseries", "events"):
        assert _sha(out / f"{table}.parquet") == _sha(
            small_sweep / table / part / f"{swept.run_id}.parquet"
        ), table
    one = pd.read_parquet(out / "runs.parquet").iloc[0]
    assert one.run_id == swept.run_id and one.seed == swept.seed
    for k in CATALOGUE:
        assert one[k.name] == pytest.approx(swept[k.name], nan_ok=True), k.name
    # without replication= a single run keeps its seed as given (as before)
    p = cli("run", "setup=flexible", *SMALL, "--out", str(tmp_path / "plain"))
    assert pd.read_parquet(tmp_path / "plain" / "runs.parquet").seed.iloc[0] == 0


def test_report_writes_its_tables_into_a_workbook(small_sweep, tmp_path):
    out = tmp_path / "report"
    assert _main("report", str(small_sweep), "--out", str(out)) == 0
    book = pd.read_excel(out / "report.xlsx", sheet_name=None)
    assert list(book) == ["kpi_means", "paired_differences", "frontier"]
    for sheet, csv in (
        ("kpi_means", "kpi_means.csv"),
        ("paired_differences", "paired_differences.csv"),
        ("frontier", "frontier.csv"),
    ):
        expected = pd.read_csv(out / csv)
        pd.testing.assert_frame_equal(
            book[sheet], expected, check_dtype=False, check_exact=False, rtol=1e-12
        )


def test_slurm_sweep_without_srun_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    if shutil.which("srun"):
        pytest.skip("this machine has srun")
    out = tmp_path / "slurm"
    code = _main(
        "run", "-m", "setup=rigid,flexible", *SMALL, "hydra/launcher=submitit_slurm",
        "--out", str(out),
    )  # fmt: skip
    assert code == 2
    captured = capsys.readouterr()
    assert "srun is not on PATH" in captured.err
    assert "next: viralchain report" not in captured.out + captured.err
    assert not out.exists()


# ----------------------------------------------------------------------------- help and logs


def test_verbose_works_after_the_subcommand_without_mesa_steps(tmp_path):
    for args in (["-v", "run"], ["run", "-v"]):
        out = tmp_path / "-".join(args)
        p = cli(*args, *SMALL, "--out", str(out))
        assert p.returncode == 0, p.stderr
        assert "INFO sim.result: run" in p.stderr  # viralchain's own progress lines
        assert "Step " not in p.stderr and "MESA" not in p.stderr
        assert len(p.stderr.splitlines()) < 20


def test_verbose_before_the_subcommand_is_not_reset_by_it():
    parser = cli_module.build_parser()
    assert parser.parse_args(["-v", "run"]).verbose is True
    assert parser.parse_args(["run", "-v"]).verbose is True
    assert parser.parse_args(["run"]).verbose is False
    assert parser.parse_args(["--config-dir", "x", "list", "stories"]).config_dir == "x"


@pytest.mark.parametrize(
    ("command", "needles", "absent"),
    [
        ("report", ["95% confidence"], ["95%%"]),
        ("demo", ["viralchain demo --format xlsx", "flexible − rigid"], ["viralchain run story="]),
        ("compare", ['A=setup=rigid B="setup=flexible', "refuses what it would ignore"], []),
        ("list", ["List what can be chosen", "viralchain list kpis"], []),
        ("run", ["prefer", "viralchain sweep NAME", "replication=2"], []),
        ("sweep", ["Prefer a sweep file", "ad-hoc grid"], []),
        ("import", ["viralchain import --sample", "docs/client_network.md"], []),
    ],
)
def test_each_command_prints_its_own_help(capsys, command, needles, absent):
    with pytest.raises(SystemExit):
        _main(command, "--help")
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for needle in needles:
        assert " ".join(needle.split()) in text, needle
    for needle in absent:
        assert needle not in text


@pytest.mark.parametrize("command", [["list", "setups"], ["list", "stories"], ["sweep"]])
def test_listings_do_not_cut_descriptions(capsys, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert _main(*command) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    entries = " ".join(lines)
    group = {"setups": "setup", "stories": "story"}.get(command[-1], "sweep")
    for f in sorted((scenarios_dir() / group).glob("*.yaml")):
        text = describe(f)
        assert text.endswith((".", ")")), (f.name, text)  # a whole sentence
        assert " ".join(text.split()) in " ".join(entries.split()), f.name


def test_describe_returns_the_whole_first_sentence(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("# @package _global_\n# One sentence that goes\n# on. Then another.\nkey: 1\n")
    assert describe(f) == "One sentence that goes on."
