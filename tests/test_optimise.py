"""Policy optimisation: Hydra's Optuna sweeper over a policy's levers (viralchain optimise).

A tiny budget (2 trials x 2 replications of a 2,000-consumer, 10-day flagship) checks the path:
the Optuna sweeper runs viralchain's task, every trial faces the same seeds (common random
numbers), Optuna is told the mean of each objective over the replications, every run lands
in the sweep dataset, and the Pareto set is reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import sweep_store as store
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]


def optimise(name: str, out: Path, *overrides: str, trials: int = 1, replications: int = 1):
    """``viralchain optimise NAME`` tiny, one job, into ``out`` (run from its parent)."""
    budget = ["--trials", str(trials), "--replications", str(replications), "--jobs", "1"]
    return cli("optimise", name, *TINY, *overrides, *budget, "--out", str(out), cwd=out.parent)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("study")
    out = tmp / "study"
    proc = optimise("safety_rush", out, trials=2, replications=2)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_optuna_trials_run_on_common_random_numbers(study):
    out, _ = study
    runs = store.read_table(out, "runs")
    runs = runs[runs["setup"] == "flexible"]
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    assert sorted(runs["replication"]) == [0, 0, 1, 1]
    levers = ["policy.safety_stock.days_of_cover", "policy.rush.threshold"]
    assert runs.groupby(levers).ngroups == 2  # two trials, two policies
    # every trial faces the same seeds: replication r has one seed whatever the policy
    assert runs.groupby("replication")["seed"].nunique().eq(1).all()
    # the levers' natural domains (scenarios/optimise/safety_rush.yaml)
    assert runs[levers[0]].min() >= 0.125 and runs[levers[0]].max() <= 4
    assert runs[levers[1]].min() >= 1 and runs[levers[1]].max() <= 48


def test_the_dataset_names_appended_keys_as_the_grid_does(study):
    """``+content.calendar.3.notice_hours`` (an appended key in the study's params) is the
    column ``content.calendar.3.notice_hours`` holding the run's value, as in a grid's
    dataset: the two can be read side by side."""
    out, _ = study
    runs = store.read_table(out, "runs")
    assert not [c for c in runs.columns if c.startswith(("+", "~"))]
    assert set(runs["content.calendar.3.notice_hours"]) == {0}


def test_optuna_is_told_the_mean_over_replications(study):
    optuna = pytest.importorskip("optuna")
    out, _ = study
    runs = store.read_table(out, "runs")
    runs = runs[runs["setup"] == "flexible"]
    loaded = optuna.load_study(
        study_name="optimise_safety_rush", storage=f"sqlite:///{out / 'optuna.db'}"
    )
    trials = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 2
    for t in trials:
        cover = t.params["policy.safety_stock.days_of_cover"]
        mine = runs[
            (runs["policy.safety_stock.days_of_cover"] - cover).abs().lt(1e-9)
            & runs["policy.rush.threshold"].eq(t.params["policy.rush.threshold"])
        ]
        assert len(mine) == 2
        assert t.values == pytest.approx([mine["profit"].mean(), mine["fill_rate"].mean()])
        # searched on the scale the levers act on: ratios (tag(log, interval(a, b)))
        cover = t.distributions["policy.safety_stock.days_of_cover"]
        trigger = t.distributions["policy.rush.threshold"]
        assert isinstance(cover, optuna.distributions.LogUniformDistribution)
        assert isinstance(trigger, optuna.distributions.LogUniformDistribution)
        assert (cover.low, cover.high, trigger.low, trigger.high) == (0.125, 4, 1, 48)


def test_the_study_uses_multivariate_tpe_with_a_constant_liar(study):
    """The sampler the study chooses (scenarios/hydra/sweeper/sampler/tpe_joint.yaml) is
    what Optuna gets: multivariate TPE, constant liar, 5 random start-up trials, seeded."""
    optuna = pytest.importorskip("optuna")
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    out, _ = study
    node = OmegaConf.load(out / "multirun.yaml").hydra.sweeper.sampler
    sampler = instantiate(node)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate and sampler._constant_liar
    assert sampler._n_startup_trials == 5 and node.seed == 0


def test_the_box_study_searches_the_grids_own_box(tmp_path):
    """``safety_rush_box``: the same study held to the safety_rush grid's box (days of cover
    0.5-4, trigger 2-16 h), still on a log scale, under its own study name."""
    optuna = pytest.importorskip("optuna")
    out = tmp_path / "box"
    proc = optimise("safety_rush_box", out)
    assert proc.returncode == 0, proc.stderr
    loaded = optuna.load_study(
        study_name="optimise_safety_rush_box", storage=f"sqlite:///{out / 'optuna.db'}"
    )
    (trial,) = loaded.trials
    cover = trial.distributions["policy.safety_stock.days_of_cover"]
    trigger = trial.distributions["policy.rush.threshold"]
    assert isinstance(cover, optuna.distributions.LogUniformDistribution)
    assert (cover.low, cover.high, trigger.low, trigger.high) == (0.5, 4, 2, 16)
    assert 0.5 <= trial.params["policy.safety_stock.days_of_cover"] <= 4
    assert 2 <= trial.params["policy.rush.threshold"] <= 16


def test_the_pareto_set_is_reported(study):
    from experiments.optimise import pareto

    out, proc = study
    assert "Pareto set:" in proc.stdout and "profit" in proc.stdout
    assert (out / "optimization_results.yaml").is_file()
    table = pareto(out)
    assert len(table) == 2 and table["pareto"].any() and set(table["runs"]) == {2}
    best = table.sort_values("profit").iloc[-1]
    assert best["pareto"]  # the most profitable trial is never dominated


def test_an_unknown_objective_is_refused_before_anything_runs(tmp_path):
    proc = optimise("safety_rush", tmp_path / "s", "optimise.objectives=[profit,no_such_kpi]")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "optimise.objectives = 'no_such_kpi'" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_optimise_lists_its_studies_and_refuses_unknown_ones(capsys):
    from experiments.cli import main

    assert main(["optimise"]) == 0
    assert "safety_rush" in capsys.readouterr().out
    assert main(["optimise", "nope"]) == 2
    assert "must be one of" in capsys.readouterr().err
    assert main(["optimise", "safety_rush", "--trials", "0"]) == 2
    assert "--trials = 0" in capsys.readouterr().err


def test_a_failing_trial_stops_the_study_with_one_line(tmp_path):
    """Optuna's sweeper stops when more trials fail than it allows (``max_failure_rate``):
    exit 1, one clear line, the failed runs recorded in the dataset."""
    out = tmp_path / "s"
    proc = optimise("safety_rush", out, "run.fail_at_hour=5")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the sweeper stopped" in proc.stderr
    runs = store.read_table(out, "runs")
    assert list(runs["status"]) == ["failed"]


def test_the_benchmark_reruns_a_policy_exactly_as_the_study_ran_it(study):
    """benchmarks/optimise_vs_grid.py runs picks again on fresh replications in-process: the
    same overrides and replication give the run the study recorded (same seed, same KPIs)."""
    from benchmarks.optimise_vs_grid import LEVERS, _fixed_overrides, _fresh_run

    out, _ = study
    runs = store.read_table(out, "runs")
    row = runs[(runs["setup"] == "flexible") & (runs["replication"] == 1)].iloc[0]
    levers = [f"{k}={float(row[k])!r}" for k in LEVERS]
    seed, profit, fill = _fresh_run([*_fixed_overrides(), *TINY, *levers, "replication=1"])
    assert seed == row["seed"]
    assert (profit, fill) == pytest.approx((row["profit"], row["fill_rate"]))


def test_the_benchmark_reads_budgets_and_near_misses():
    import pandas as pd

    from benchmarks.optimise_vs_grid import _best, study_trials

    assert study_trials("safety_rush") == 14 and study_trials("safety_rush_box") == 14
    table = pd.DataFrame({"profit": [1.0, 3.0, 2.0], "fill_rate": [0.9, 0.8, 0.95]})
    assert _best(table, "profit", "fill_rate", 0.9) == 2.0  # best profit at fill >= 0.9
    assert _best(table, "fill_rate", "profit", 2.5) == 0.8
    assert _best(table, "fill_rate", "profit", 5.0) is None
