"""``viralchain validate``: the real command, its table, exit codes and errors."""

from __future__ import annotations

import contextlib
import csv
import io

import pytest

from experiments.cli import main
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("validation-cli")


def test_validate_fast_prints_expected_simulated_tolerance_and_exits_0(tmp_path):
    out = tmp_path / "v.csv"
    p = cli("validate", "--fast", "--only", "cascade,flexibility", "--csv", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    for needle in (
        "expected",
        "simulated",
        "tolerance",
        "mean total views = S/(1-n)",
        "long chain's share",
        "textbook comparisons passed",
    ):
        assert needle in p.stdout
    assert "FAIL" not in p.stdout
    rows = list(csv.DictReader(out.open()))
    assert rows and {r["check"] for r in rows} == {"cascade", "flexibility"}
    assert all(r["passed"] == "True" for r in rows)
    assert {"expected", "simulated", "tolerance", "se", "bias", "z", "n"} <= set(rows[0])


def test_validate_exits_1_when_a_comparison_fails(tmp_path):
    # demand the impossible: the long chain capturing more than 99.9% of the benefit
    p = cli(
        "validate",
        "--fast",
        "--only",
        "flexibility",
        "flexibility.cases=[{n: 10, demand_mean: 100, demand_sd: 40, truncate_sd: 2, "
        "capacity: 100, min_benefit_share: 0.999}]",
        cwd=tmp_path,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL flexibility" in p.stdout and "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--only", "nope"], "invalid --only = 'nope'"),
        (["cascade.replications=-3"], "cascade.replications = -3"),
        (["cascade.bogus=1"], "cascade.bogus = 1: unknown key"),
        (["nocheck.replications=3"], "nocheck = 'nocheck.replications': unknown check"),
        (["cascade"], "malformed"),
        (["--only", "flexibility", "bass.replications=2"], "not selected by --only"),
        (
            ["bass.cases=[{innovation_per_day: 0.5, imitation_per_day: 0.1}]"],
            "imitation_per_day must exceed",
        ),
        (["alpha=2"], "alpha = 2"),
        (["bass.model_overrides=[market.n_consumers=-1]"], "market.n_consumers = -1"),
        (
            ["queueing.model_runs=[{story: nowhere, overrides: [], run_seed: 0}]"],
            "story = 'nowhere'",
        ),
    ],
)
def test_validate_bad_parameters_exit_2_with_clear_lines_and_run_nothing(
    tmp_path, monkeypatch, args, needle
):
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--fast", *args])
    assert code == 2, out.getvalue() + err.getvalue()
    assert needle in err.getvalue()
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert all(line.startswith("viralchain: ") for line in err.getvalue().strip().splitlines())
    assert "passed" not in out.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_validate_bad_parameters_through_the_installed_command(tmp_path):
    p = cli("validate", "--fast", "cascade.replications=-3", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "viralchain: invalid configuration: cascade.replications = -3: "
        "must be greater than or equal to 10"
    ]


def test_validate_help_lists_the_checks():
    p = cli("validate", "--help")
    assert p.returncode == 0
    for name in (
        "bullwhip",
        "base_stock",
        "bass",
        "cascade",
        "queueing",
        "flexibility",
        "--fast",
        "--only",
        "--csv",
    ):
        assert name in p.stdout


@pytest.mark.slow
def test_full_validation_passes_every_check(tmp_path):
    """The full-size ``viralchain validate`` (several minutes): every comparison passes."""
    p = cli("validate", "--csv", str(tmp_path / "full.csv"), cwd=tmp_path, timeout=3600)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr
    assert "FAIL" not in p.stdout


def test_docs_parameter_reference_is_up_to_date():
    """``docs/validation.md`` carries the generated reference (python -m experiments.validate)."""
    from experiments.validate import documented_reference, parameter_reference

    assert documented_reference() == parameter_reference()


def test_readme_documents_every_check_and_its_parameters():
    from experiments.validate import load_params
    from sim.validation import CHECKS
    from tests.conftest import ROOT

    readme = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")  # from README
    section = readme.split("## Validation", 1)[1].split("\n## ", 1)[0]
    for name in CHECKS:
        assert f"`{name}`" in section, name
        for key in load_params(name):
            if key not in ("alpha", "seed", "fast"):
                assert key in section, (name, key)
    assert "docs/validation.md" in section and "_settings.yaml" in section
