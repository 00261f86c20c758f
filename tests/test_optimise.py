"""Policy optimisation: Hydra's Optuna sweeper over a policy's levers (viralchain optimise).

A tiny budget (2 trials x 2 replications of a 2,000-consumer, 10-day flagship) checks the path:
the Optuna sweeper runs viralchain's task, every trial faces the same seeds (common random
numbers), Optuna is told the mean of each objective over the replications, every run lands
in the sweep dataset, and the Pareto set is reported. A two-stage study (4 trials screened
on replication 0, the 2 leading confirmed on 1-2) checks the screening and confirmation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import sweep_store as store
from tests.conftest import cli

pytestmark = pytest.mark.xdist_group("sweep")

TINY = ["market.n_consumers=2000", "run.horizon_hours=240"]


def optimise(
    name: str,
    out: Path,
    *overrides: str,
    trials: int = 1,
    replications: int = 1,
    screen: int = 0,
    confirm: int | None = None,
    jobs: int = 1,
):
    """``viralchain optimise NAME`` tiny, ``jobs`` workers, into ``out`` (run from its
    parent); one stage unless ``screen`` (and ``confirm``) say otherwise."""
    budget = ["--trials", str(trials), "--replications", str(replications), "--jobs", str(jobs)]
    budget += ["--screen", str(screen), *(["--confirm", str(confirm)] if confirm else [])]
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


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # the two options
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

    assert study_trials("safety_rush") == 24 and study_trials("safety_rush_box") == 24
    table = pd.DataFrame({"profit": [1.0, 3.0, 2.0], "fill_rate": [0.9, 0.8, 0.95]})
    assert _best(table, "profit", "fill_rate", 0.9) == 2.0  # best profit at fill >= 0.9
    assert _best(table, "fill_rate", "profit", 2.5) == 0.8
    assert _best(table, "fill_rate", "profit", 5.0) is None


def test_the_benchmarks_probe_pairs_policies_with_the_grids_best_on_its_own_runs(tmp_path):
    """``--probe COVER:TRIGGER``: a policy run on the search replications, paired with the
    grid's best. The grid's best probed again is the very same runs (a difference of
    exactly 0, no interval); another cover is a different policy on the same seeds."""
    from types import SimpleNamespace

    from benchmarks.optimise_vs_grid import LEVERS as BENCH_LEVERS
    from benchmarks.optimise_vs_grid import grid_best, probe

    grid = tmp_path / "grid"
    levers = [f"{BENCH_LEVERS[0]}=0.5,2", f"{BENCH_LEVERS[1]}=16"]
    size = ["market.n_consumers=1000", "--replications", "2", "--jobs", "1"]
    proc = cli("sweep", "safety_rush", *levers, *size, "--out", str(grid), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    best = grid_best(grid)
    a = SimpleNamespace(replications=2, consumers=1000, root=tmp_path, jobs=1)
    same, other = probe([f"{best[BENCH_LEVERS[0]]:g}:16", "1:16"], best, grid, a)
    assert (same["profit"], same["fill_rate"]) == (best["profit"], best["fill_rate"])
    for kpi in ("paired_profit", "paired_fill_rate"):
        assert same[kpi]["mean"] == 0.0 and same[kpi]["low"] == same[kpi]["high"] == 0.0
    assert other[BENCH_LEVERS[0]] == 1.0 and other["profit"] != best["profit"]
    assert len(json.loads((tmp_path / "fresh.json").read_text())) == 2 * 2  # cached runs


# ----------------------------------------------------------------------------- two stages

LEVERS = ["policy.safety_stock.days_of_cover", "policy.rush.threshold"]


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> tuple[Path, object]:
    """4 trials screened on replication 0, the 2 leading confirmed on replications 1-2, in
    two workers (the confirmation runs in worker processes too)."""
    out = tmp_path_factory.mktemp("staged") / "study"
    proc = optimise("safety_rush", out, trials=4, replications=3, screen=1, confirm=2, jobs=2)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def _replications_by_trial(out: Path) -> dict[tuple[float, float], list[int]]:
    runs = store.read_table(out, "runs")
    runs = runs[runs["setup"] == "flexible"]
    assert set(runs["status"]) == {"ok"}
    return {
        tuple(k): sorted(int(r) for r in g["replication"])
        for k, g in runs.groupby(LEVERS, sort=True)
    }


def test_two_stages_confirm_the_leading_trials_on_the_other_replications(staged):
    """Screened trials have replication 0 only; the confirmed ones exactly 0, 1, 2 (4 + 2 x 2
    runs); they are the leading trials on the screening means Optuna was told (the first
    front of non-dominated sorting, cut by crowding distance), and every replication has one
    seed whatever the policy (common random numbers)."""
    optuna = pytest.importorskip("optuna")
    from experiments.optimise import leading

    out, proc = staged
    reps = _replications_by_trial(out)
    assert sorted(map(tuple, reps.values())) == [(0,), (0,), (0, 1, 2), (0, 1, 2)]
    runs = store.read_table(out, "runs")
    runs = runs[runs["setup"] == "flexible"]
    assert len(runs) == 8 and runs.groupby("replication")["seed"].nunique().eq(1).all()
    loaded = optuna.load_study(
        study_name="optimise_safety_rush", storage=f"sqlite:///{out / 'optuna.db'}"
    )
    trials = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 4
    import numpy as np

    chosen = {
        tuple(trials[i].params[k] for k in LEVERS)
        for i in leading(np.array([t.values for t in trials]), 2)
    }
    assert chosen == {k for k, v in reps.items() if v == [0, 1, 2]}
    # Optuna was told the screening means (replication 0 alone)
    for t in trials:
        key = tuple(t.params[k] for k in LEVERS)
        mine = runs[
            runs[LEVERS[0]].eq(key[0]) & runs[LEVERS[1]].eq(key[1]) & runs["replication"].eq(0)
        ]
        assert t.values == pytest.approx([mine["profit"].iloc[0], mine["fill_rate"].iloc[0]])
    assert "confirm: the 2 leading of 4 screened trials (replication 0)" in proc.stderr


def test_the_pareto_set_of_two_stages_is_of_the_confirmed_trials_on_all_replications(staged):
    from omegaconf import OmegaConf

    from experiments.optimise import pareto

    out, proc = staged
    table = pareto(out)
    assert sorted(table["runs"]) == [1, 1, 3, 3]
    assert list(table["confirmed"]) == [r == 3 for r in table["runs"]]
    # only confirmed trials can be on the front, however good a screening mean looks
    assert not table[~table["confirmed"]]["pareto"].any() and table["pareto"].any()
    runs = store.read_table(out, "runs")
    runs = runs[runs["setup"] == "flexible"]
    for _, row in table[table["confirmed"]].iterrows():
        mine = runs[runs[LEVERS[0]].eq(row[LEVERS[0]]) & runs[LEVERS[1]].eq(row[LEVERS[1]])]
        assert row["profit"] == pytest.approx(mine["profit"].mean())  # over replications 0-2
        assert row["fill_rate"] == pytest.approx(mine["fill_rate"].mean())
    front = table[table["pareto"]]
    assert f"Pareto set: {len(front)} of the 2 confirmed trials (of 4 screened" in proc.stdout
    saved = OmegaConf.to_container(OmegaConf.load(out / "optimization_results.yaml"))
    assert saved["stages"] == {
        "screen_replications": 1,
        "replications": 3,
        "screened_trials": 4,
        "confirmed_trials": 2,
    }
    assert sorted(s["values"][0] for s in saved["solutions"]) == pytest.approx(
        sorted(front["profit"])
    )


def test_confirming_again_runs_nothing_already_finished(staged):
    """The second stage again (as a resumed launch runs it) finds every confirmation run
    finished: nothing runs, no file is rewritten."""
    import io

    from experiments.optimise import confirm

    out, _ = staged
    files = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.parquet")}
    stream = io.StringIO()
    confirm(out, stream)
    assert "confirm: 0 ran (0 failed), 4 already done" in stream.getvalue()
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*.parquet")} == files


def test_a_confirmation_run_is_the_run_a_one_stage_trial_makes(study, tmp_path):
    """A trial confirmed on replication 1 gets the very run (same config, run id, seed and
    KPIs) the one-stage study made for the same policy on replication 1: the same sampler
    seed asks the same first policy of both."""
    one, _ = study
    out = tmp_path / "s"
    proc = optimise("safety_rush", out, replications=2, screen=1, confirm=1)
    assert proc.returncode == 0, proc.stderr
    mine = store.read_table(out, "runs")
    mine = mine[(mine["setup"] == "flexible") & (mine["replication"] == 1)]
    theirs = store.read_table(one, "runs")
    theirs = theirs[(theirs["setup"] == "flexible") & (theirs["replication"] == 1)]
    (row,) = mine.itertuples()
    same = theirs[theirs["run_id"] == row.run_id]
    assert len(same) == 1
    assert same["profit"].iloc[0] == row.profit and same["seed"].iloc[0] == row.seed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replications", "3", "--screen", "2", "--confirm", "0"], "optimise.confirm = 0:"),
        (
            ["--replications", "3", "--screen", "3", "--confirm", "1"],
            "optimise.screen_replications = 3: must be an integer from 1 to",
        ),
        (
            ["--replications", "3", "--screen", "-1", "--confirm", "1"],
            "optimise.screen_replications = -1:",
        ),
        (
            ["--replications", "3", "--screen", "1", "optimise.confirm=two"],
            "optimise.confirm = 'two': must be an integer",
        ),
        (
            ["--replications", "3", "--screen", "1", "optimise.confirm=null"],
            "optimise.screen_replications = 1: a two-stage study needs optimise.confirm",
        ),
        (
            ["--replications", "3", "--screen", "0", "--confirm", "2"],
            "optimise.confirm = 2: a two-stage study needs optimise.screen_replications",
        ),
        (
            [
                "--replications",
                "3",
                "--screen",
                "1",
                "--confirm",
                "1",
                "hydra.sweeper.storage=null",
            ],
            "hydra.sweeper.storage = None: a two-stage study",
        ),
    ],
)
def test_bad_two_stage_settings_are_refused_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "s"
    proc = cli("optimise", "safety_rush", *TINY, *args, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("viralchain:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert not out.exists()


def test_leading_takes_whole_fronts_then_the_ends_and_most_isolated():
    import numpy as np

    from experiments.optimise import leading

    values = np.array(
        [
            [3.0, 1.0],  # 0: front 1, an end
            [2.0, 1.0],  # 1: front 2 (below 0 and 2)
            [2.0, 2.0],  # 2: front 1, middle
            [1.0, 3.0],  # 3: front 1, an end
            [2.9, 1.5],  # 4: front 1, near 0: less isolated than 2
            [0.5, 0.5],  # 5: front 3
        ]
    )
    assert leading(values, 2) == [0, 3]  # a front cut: its ends first
    assert leading(values, 3) == [0, 2, 3]  # then the most isolated
    assert leading(values, 4) == [0, 2, 3, 4]  # the whole first front
    assert leading(values, 5) == [0, 2, 3, 4, 1]  # then the next
    assert leading(values, 10) == [0, 2, 3, 4, 1, 5]  # every row, at most


def test_the_report_of_two_stages_draws_its_front_among_the_confirmed_trials(staged, tmp_path):
    """``viralchain report DIR``: frontier.csv marks the confirmed trials (every replication:
    their means are the confirmed ones) and only they are Pareto-optimal."""
    import pandas as pd

    out, _ = staged
    proc = cli("report", str(out), "--out", str(tmp_path / "report"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    points = pd.read_csv(tmp_path / "report" / "frontier.csv")
    assert sorted(points["confirmed"]) == [False, False, True, True]
    assert points["pareto"].any() and not points[~points["confirmed"]]["pareto"].any()
