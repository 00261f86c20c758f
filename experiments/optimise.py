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

After the search, :func:`pareto` reads the dataset back and prints the Pareto set: the
trials no other trial beats on every objective, each with its mean and 95% interval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.exits import EXIT_USAGE

EPILOG = """\
examples:
  viralchain optimise                                 list the studies
  viralchain optimise safety_rush --jobs 2            14 trials x 5 replications
  viralchain optimise safety_rush --trials 20 market.n_consumers=20000
  viralchain run -m +optimise=safety_rush             the same, as a plain Hydra multirun
  viralchain report outputs/sweeps/optimise_safety_rush   tables and the frontier

The Pareto set (trials no other trial beats on every objective) is printed at the end and
written by the Optuna sweeper to DIR/optimization_results.yaml. Running the same command
again continues the study (DIR/optuna.db) and skips runs already finished.
"""


def objectives_of(sweep_dir: Path) -> tuple[list[str], list[str]]:
    """The study's objectives and directions, from the master config of its last launch."""
    from omegaconf import OmegaConf

    master = OmegaConf.load(sweep_dir / "multirun.yaml")
    names = list(master.optimise.objectives)
    raw = master.hydra.sweeper.direction
    directions = [str(d) for d in (raw if OmegaConf.is_list(raw) else [raw] * len(names))]
    return names, [d.rsplit(".", 1)[-1] for d in directions]


def pareto(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per trial (policy): its parameters, runs, mean and 95% interval of each
    objective, and ``pareto`` (no other trial is at least as good on every objective and
    better on one)."""
    from scipy import stats

    from experiments import sweep_store as store

    sweep_dir = Path(sweep_dir)
    names, directions = objectives_of(sweep_dir)
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
            half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
            row[name] = x.mean()
            row[f"{name}_ci95"] = float(half) if len(x) > 1 else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    sign = np.array([1.0 if d.startswith("max") else -1.0 for d in directions])
    values = table[names].to_numpy() * sign
    table["pareto"] = [not any(np.all(o >= v) and np.any(o > v) for o in values) for v in values]
    return table.sort_values(names[0], ascending=directions[0].startswith("min"))


def describe_pareto(sweep_dir: Path) -> str:
    """The Pareto set as text lines."""
    table = pareto(sweep_dir)
    names, _ = objectives_of(sweep_dir)
    front = table[table["pareto"]]
    params = [c for c in table.columns if c not in names and not c.endswith("_ci95")]
    params = [c for c in params if c not in ("runs", "pareto")]
    lines = [
        f"Pareto set: {len(front)} of {len(table)} trials ({int(table['runs'].sum())} runs),"
        f" mean and 95% interval over each trial's replications:"
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
        "--jobs", type=int, metavar="N", help="parallel workers (and trials asked at a time)"
    )
    p.set_defaults(func=cmd_optimise)
