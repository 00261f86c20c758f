"""``viralchain optimise NAME``: a multi-objective policy search with Optuna through Hydra.

A study is a file of the ``optimise`` config group (``scenarios/optimise/NAME.yaml``): it
chooses Hydra's Optuna sweeper (hydra-optuna-sweeper) and its sampler, the policy levers to
search (``hydra.sweeper.params``: ``interval(a, b)``, ``int(interval(a, b))``,
``choice(...)``), the objectives' directions, the number of trials, and (its ``optimise``
node) the KPIs to optimise and the replications each trial runs. Every trial runs its policy
on replications ``0..N-1``: all trials face the same demand (common random numbers), and a
trial's objective is the mean over them (:func:`experiments.sweep_task.run_job`). Each run is
written to the sweep directory like any sweep's (one dataset; resume skips finished runs),
the study to ``optuna.db`` (sqlite: running the command again continues the study).

A study may search in two stages (``optimise.screen_replications: r`` and
``optimise.confirm: K``): Optuna screens each trial on replications ``0..r-1`` only (so the
same runs screen more policies), then :func:`confirm` runs the ``K`` leading trials (on the
screening means: whole fronts of non-dominated sorting, the last one cut by crowding
distance) on the remaining replications ``r..N-1``, so each confirmed trial has all ``N``.
Confirmation runs go through the same task (:func:`experiments.sweep_task._run_one`) into
the same dataset: resume skips them too. The Pareto set is then taken among the confirmed
trials, on their means over all ``N`` replications (a screening mean over ``r`` is not
comparable with them), and ``optimization_results.yaml`` is rewritten with it.

After the search, :func:`pareto` reads the dataset back and prints the Pareto set: the
trials no other trial beats on every objective, each with its mean and 95% interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from experiments.exits import EXIT_USAGE

if TYPE_CHECKING:
    from typing import TextIO

EPILOG = """\
examples:
  viralchain optimise                                 list the studies
  viralchain optimise safety_rush --jobs 2            24 trials x 2, the 8 leading x 3 more
  viralchain optimise safety_rush --trials 30 --confirm 10 market.n_consumers=20000
  viralchain optimise safety_rush --screen 0 --trials 14   one stage: 14 trials x 5
  viralchain run -m +optimise=safety_rush             the same, as a plain Hydra multirun
  viralchain report outputs/sweeps/optimise_safety_rush   tables and the frontier

A two-stage study (optimise.screen_replications, optimise.confirm) screens every trial on
its first replications, then runs the leading trials on the others (confirmed trials). The
Pareto set (trials no other trial beats on every objective; of a two-stage study, among the
confirmed trials on all their replications) is printed at the end and written to
DIR/optimization_results.yaml. Running the same command again continues the study
(DIR/optuna.db) and skips runs already finished.
"""


def objectives_of(sweep_dir: Path) -> tuple[list[str], list[str]]:
    """The study's objectives and directions, from the master config of its last launch."""
    from omegaconf import OmegaConf

    master = OmegaConf.load(sweep_dir / "multirun.yaml")
    names = list(master.optimise.objectives)
    raw = master.hydra.sweeper.direction
    directions = [str(d) for d in (raw if OmegaConf.is_list(raw) else [raw] * len(names))]
    return names, [d.rsplit(".", 1)[-1] for d in directions]


def check_stages(node: Any, replications: int) -> list[tuple[str, object, str]]:
    """The problems of a study's two-stage settings (``optimise.screen_replications`` and
    ``optimise.confirm``: both or neither), as ``(field, value, allowed)``."""
    screen, k = node.get("screen_replications"), node.get("confirm")
    problems: list[tuple[str, object, str]] = []
    if screen is None and k is None:
        return problems
    if screen is None or k is None:
        given, other = (
            ("optimise.confirm", k) if screen is None else ("optimise.screen_replications", screen)
        )
        missing = "optimise.screen_replications" if screen is None else "optimise.confirm"
        return [(given, other, f"a two-stage study needs {missing} too (or neither)")]
    if not _is_int(screen) or not 1 <= screen < replications:
        problems.append(
            (
                "optimise.screen_replications",
                screen,
                f"must be an integer from 1 to optimise.replications - 1 ({replications - 1})",
            )
        )
    if not _is_int(k) or k < 1:
        problems.append(("optimise.confirm", k, "must be an integer of at least 1"))
    return problems


def _reps(start: int, stop: int) -> str:
    """Replications ``start..stop-1`` in words."""
    return f"replication {start}" if stop == start + 1 else f"replications {start}-{stop - 1}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stages(sweep_dir: Path) -> tuple[int, int | None]:
    """``(replications, screen_replications)`` of the study's last launch (``None``: one
    stage)."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(sweep_dir / "multirun.yaml").get("optimise") or {}
    return int(node.get("replications", 1)), node.get("screen_replications")


def leading(values: np.ndarray, k: int) -> list[int]:
    """The rows of ``values`` (one per trial, every column to maximise) to confirm: whole
    fronts of non-dominated sorting in order while they fit, then the next front's rows by
    crowding distance (NSGA-II: its ends first, then the most isolated; ties by row order),
    ``k`` in all (or every row)."""
    rest = list(range(len(values)))
    chosen: list[int] = []
    while rest and len(chosen) < k:
        front = [
            i for i in rest if not any(_dominates(values[j], values[i]) for j in rest if j != i)
        ]
        if len(chosen) + len(front) > k:
            crowd = _crowding(values[front])
            order = sorted(range(len(front)), key=lambda f: (-crowd[f], front[f]))
            front = sorted(front[f] for f in order[: k - len(chosen)])
        chosen += front
        rest = [i for i in rest if i not in front]
    return chosen


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a >= b) and np.any(a > b))


def _crowding(values: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its front."""
    n, m = values.shape
    dist = np.zeros(n)
    for c in range(m):
        order = np.argsort(values[:, c], kind="stable")
        span = values[order[-1], c] - values[order[0], c]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            for a, i, b in zip(order[:-2], order[1:-1], order[2:], strict=True):
                dist[i] += (values[b, c] - values[a, c]) / span
    return dist


def confirm(sweep_dir: Path, stream: TextIO) -> None:
    """A two-stage study's second stage (nothing for a one-stage study): the leading trials
    of the study (all its completed trials, on the screening means Optuna was told; see
    :func:`leading`) run on replications ``r..N-1`` too, each as its trial ran
    (:func:`_trial_config`: the trial's own overrides), through the task's
    :func:`experiments.sweep_task._run_one`, ``hydra.launcher.n_jobs`` at a time. Runs already
    finished are skipped; a failed run is recorded (its trial stays unconfirmed). Then
    ``optimization_results.yaml`` holds the Pareto set of the confirmed trials."""
    import optuna
    from omegaconf import OmegaConf

    from experiments import sweep_store as store

    master = OmegaConf.load(sweep_dir / "multirun.yaml")
    node = master.get("optimise")
    if node is None or node.get("screen_replications") is None:
        return
    full, screen, k = int(node.replications), int(node.screen_replications), int(node.confirm)
    names, directions = objectives_of(sweep_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=str(master.hydra.sweeper.study_name), storage=str(master.hydra.sweeper.storage)
    )
    trials, seen = [], set()
    for t in study.trials:  # a policy asked twice is one policy
        key = tuple(sorted(t.params.items()))
        if t.state == optuna.trial.TrialState.COMPLETE and key not in seen:
            seen.add(key)
            trials.append(t)
    sign = np.array([1.0 if d.startswith("max") else -1.0 for d in directions])
    chosen = [trials[i] for i in leading(np.array([t.values for t in trials]) * sign, k)]
    spec = store.SweepSpec.load(sweep_dir)
    assert spec is not None
    todo = []
    for t in chosen:
        overrides = [f"{name}={value}" for name, value in {**t.params, **t.user_attrs}.items()]
        data, choices = _trial_config(overrides)
        label = " ".join(o for o in overrides if not o.startswith(("+optimise", "optimise.")))
        for rep in range(screen, full):
            todo.append(({**data, "replication": rep}, choices, f"{label} replication={rep}"))
    stream.write(
        f"confirm: the {len(chosen)} leading of {len(trials)} screened trials "
        f"({_reps(0, screen)}) on {_reps(screen, full)}: {len(todo)} runs\n"
    )
    t0 = time.perf_counter()
    n_jobs = int(OmegaConf.select(master, "hydra.launcher.n_jobs", default=1) or 1)
    got = _run_all(todo, sweep_dir, spec, n_jobs)
    ran = sum(g["status"] != "skipped" for g in got)
    failed = sum(g["status"] == "failed" for g in got)
    stream.write(
        f"confirm: {ran} ran ({failed} failed), {len(got) - ran} already done, "
        f"in {time.perf_counter() - t0:.1f} s\n"
    )
    _write_results(sweep_dir, names)


def _trial_config(overrides: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A trial's task config (without ``hydra`` and the ``optimise`` node) and Hydra's
    group choices, composed from its overrides as the launcher composes a job's."""
    from experiments.compose import hydra_compose
    from experiments.sweep_plan import task_config
    from experiments.sweep_task import OPTIMISE_KEY

    data, choices = task_config(hydra_compose(overrides, "run", with_hydra=True))
    data.pop(OPTIMISE_KEY, None)
    return data, choices


def _run_all(todo: list[tuple], sweep_dir: Path, spec: Any, n_jobs: int) -> list[dict]:
    """``_run_one`` of each (data, choices, label), in ``n_jobs`` worker processes that die
    with this one."""
    if n_jobs == 1 or len(todo) <= 1:
        return [_run_in_worker(d, c, sweep_dir, spec, label) for d, c, label in todo]
    from joblib import Parallel, delayed

    from experiments.sweep import _workers_know_the_launcher

    with _workers_know_the_launcher():
        return list(
            Parallel(n_jobs=n_jobs, backend="loky")(
                delayed(_run_in_worker)(d, c, sweep_dir, spec, label) for d, c, label in todo
            )
        )


def _run_in_worker(data: dict, choices: dict, sweep_dir: Path, spec: Any, label: str) -> dict:
    from experiments.sweep_task import _run_one, enter_worker

    enter_worker()  # a loky worker of the launch: armed, and its collector on (frozen first)
    return _run_one(data, choices, sweep_dir, spec, label)


def _write_results(sweep_dir: Path, names: list[str]) -> None:
    """``optimization_results.yaml`` (the Optuna sweeper's file, written with the screening
    means) rewritten with the Pareto set of the confirmed trials on all their replications."""
    from omegaconf import OmegaConf

    table = pareto(sweep_dir)
    front = table[table["pareto"]]
    params = _param_columns(table, names)
    full, screen = table.attrs["replications"], table.attrs["screen"]
    results = {
        "name": "optuna",
        "stages": {
            "screen_replications": screen,
            "replications": full,
            "screened_trials": len(table),
            "confirmed_trials": int(table["confirmed"].sum()),
        },
        "solutions": [
            {
                "params": {p: _plain(r[p]) for p in params},
                "values": [float(r[n]) for n in names],
            }
            for _, r in front.iterrows()
        ],
    }
    path = sweep_dir / "optimization_results.yaml"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    OmegaConf.save(OmegaConf.create(results), tmp)
    tmp.replace(path)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _param_columns(table: pd.DataFrame, names: list[str]) -> list[str]:
    drop = {*names, "runs", "pareto", "confirmed"}
    return [c for c in table.columns if c not in drop and not c.endswith("_ci95")]


def pareto(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per trial (policy): its parameters, runs, mean and 95% interval of each
    objective, ``confirmed`` (it has every replication: in a one-stage study, every trial
    whose runs all finished) and ``pareto`` (confirmed, and no other confirmed trial is at
    least as good on every objective and better on one)."""
    from scipy import stats

    from experiments import sweep_store as store

    sweep_dir = Path(sweep_dir)
    names, directions = objectives_of(sweep_dir)
    full, screen = stages(sweep_dir)
    spec = store.SweepSpec.load(sweep_dir)
    assert spec is not None
    runs = store.read_table(sweep_dir, "runs")
    runs = runs[(runs["status"] == "ok") & (runs["brand"] == runs["brand"].iloc[0])]
    params = [c for c in spec.params if c in runs.columns and runs[c].nunique() > 1]
    rows = []
    for key, g in runs.groupby(params, sort=True) if params else [((), runs)]:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(params, key, strict=True))
        row["runs"] = len(g)
        for name in names:
            x = g[name].astype(float).to_numpy()
            row[name] = x.mean()
            row[f"{name}_ci95"] = (  # one run (a trial screened on one replication): none
                float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
                if len(x) > 1
                else float("nan")
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    # one stage: every trial counts (as before: a trial with a failed run has fewer runs)
    table["confirmed"] = table["runs"] >= full if screen is not None else True
    sign = np.array([1.0 if d.startswith("max") else -1.0 for d in directions])
    values = table[names].to_numpy() * sign
    confirmed = values[table["confirmed"].to_numpy()]
    table["pareto"] = [
        bool(ok) and not any(_dominates(o, v) for o in confirmed)
        for v, ok in zip(values, table["confirmed"], strict=True)
    ]
    # what the study's file said, for the callers that describe or write the set
    table.attrs.update(objectives=names, replications=full, screen=screen)
    return table.sort_values(names[0], ascending=directions[0].startswith("min"))


def describe_pareto(sweep_dir: Path) -> str:
    """The Pareto set as text lines."""
    table = pareto(sweep_dir)
    names, full, screen = (table.attrs[k] for k in ("objectives", "replications", "screen"))
    front = table[table["pareto"]]
    params = _param_columns(table, names)
    runs = int(table["runs"].sum())
    if screen is None:
        lines = [
            f"Pareto set: {len(front)} of {len(table)} trials ({runs} runs),"
            f" mean and 95% interval over each trial's replications:"
        ]
    else:
        n = int(table["confirmed"].sum())
        lines = [
            f"Pareto set: {len(front)} of the {n} confirmed trials (of {len(table)} screened on"
            f" {_reps(0, screen)}; confirmed on {_reps(0, full)}; {runs} runs),"
            f" mean and 95% interval over {_reps(0, full)}:"
        ]
    for _, r in front.iterrows():
        where = ", ".join(
            f"{p}={r[p]:.4g}" if isinstance(r[p], float) else f"{p}={r[p]}" for p in params
        )
        got = ", ".join(f"{n} {r[n]:.4g} ± {r[n + '_ci95']:.2g}" for n in names)
        lines.append(f"  {where}: {got}")
    return "\n".join(lines)


def cmd_optimise(args: argparse.Namespace) -> int:
    """``viralchain optimise [NAME] [key=value ...]``."""
    from experiments.compose import named_option
    from experiments.sweep import execute

    if (code := named_option("optimise", args.name, "study")) is not None:
        return code
    extra = []
    if args.trials is not None:
        if args.trials < 1:
            print(f"viralchain: --trials = {args.trials}: must be at least 1", file=sys.stderr)
            return EXIT_USAGE
        extra.append(f"hydra.sweeper.n_trials={args.trials}")
    if args.replications is not None:
        if args.replications < 1:
            print(
                f"viralchain: --replications = {args.replications}: must be at least 1",
                file=sys.stderr,
            )
            return EXIT_USAGE
        extra.append(f"optimise.replications={args.replications}")
    if args.screen == 0:  # one stage: every trial on every replication
        extra += ["optimise.screen_replications=null", "optimise.confirm=null"]
    elif args.screen is not None:
        extra.append(f"optimise.screen_replications={args.screen}")
    if args.confirm is not None:
        extra.append(f"optimise.confirm={args.confirm}")
    if args.jobs is not None:
        extra.append(f"hydra.sweeper.n_jobs={max(args.jobs, 1)}")
    code = execute(
        [f"+optimise={args.name}", *extra, *args.overrides],
        args.out,
        None,
        args.jobs,
        args.verbose,
    )
    out = Path(args.out) if args.out else Path("outputs/sweeps") / f"optimise_{args.name}"
    if (out / "multirun.yaml").is_file() and (out / "runs").is_dir():
        print(describe_pareto(out))
    return code


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain optimise``."""
    p = subparsers.add_parser(
        "optimise",
        help="multi-objective policy search with Optuna (scenarios/optimise/NAME.yaml)",
        description="Search a policy's levers for the best trade-off between objectives "
        "(e.g. profit and fill rate) with Hydra's Optuna sweeper; each trial runs on the "
        "same replications (common random numbers). Prints the Pareto set.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="study name (omit to list them)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="extra overrides")
    p.add_argument("--out", help="sweep directory (default: outputs/sweeps/optimise_NAME)")
    p.add_argument("--trials", type=int, metavar="N", help="trials (hydra.sweeper.n_trials)")
    p.add_argument(
        "--replications", type=int, metavar="N", help="replications per trial (optimise.*)"
    )
    p.add_argument(
        "--screen",
        type=int,
        metavar="R",
        help="screen each trial on replications 0..R-1 (optimise.screen_replications; "
        "0: one stage, every trial on every replication)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        metavar="K",
        help="then run the K leading trials on the other replications (optimise.confirm)",
    )
    p.add_argument(
        "--jobs", type=int, metavar="N", help="parallel workers (and trials asked at a time)"
    )
    p.set_defaults(func=cmd_optimise)
