"""Optuna's policy search against the shipped grid, paired on the same seeds.

``python -m benchmarks.optimise_vs_grid [--consumers N] [--replications N] [--trials N]
[--screen R] [--confirm K] [--studies NAME ...] [--sampler-seeds S ...] [--fresh N]
[--probe COVER:TRIGGER ...] [--jobs N] [--root DIR] [--out FILE]``

Runs (or reuses: resume skips finished runs, a study that has its trials is not run again)
the shipped ``safety_rush`` grid (16 policies x ``--replications``) and, for every study
named (``scenarios/optimise/NAME.yaml``) and every sampler seed, the study with that seed
(``--trials`` trials, default: the study's own; each on the same replications, or, for a
two-stage study, screened on the first ``R`` and the ``K`` leading confirmed on the rest:
the study's own ``optimise.screen_replications`` and ``optimise.confirm`` unless
``--screen``/``--confirm`` say otherwise, ``--screen 0``: one stage) at the same size,
then compares each study with the grid:

* the grid's best point: the policy with the highest mean profit;
* the study's answer: among its Pareto trials (of a two-stage study: among its confirmed
  trials, on all their replications), those at least as good as the grid's best on both
  objectives (mean profit and mean fill rate), the most profitable of them (else the most
  profitable Pareto trial);
* the paired differences (study - grid) of profit and fill rate, replication by replication
  (the same run seed on both sides: common random numbers), with 95% Student-t intervals;
* the runs each used;
* then (``--fresh N``) the grid's best and each study's pick run again on N replications
  neither saw (``--replications`` onwards), paired the same way: a best-of-16 (or best of a
  study's trials) on five seeds is chosen partly for its luck on those seeds, and fresh
  seeds show what each policy is worth. These evaluation runs are not part of either search;
* (``--probe COVER:TRIGGER ...``) policies near the grid's best run on the search seeds and
  paired with it: how rough the response is there (not part of any search either).

Nothing of the grid reaches a study: each runs its own sampler from its own seed. Prints a
table and writes JSON (default ``benchmarks/results/optimise_vs_grid.json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "optimise_vs_grid.json"
LEVERS = ["policy.safety_stock.days_of_cover", "policy.rush.threshold"]


def _viralchain(*args: str) -> float:
    """Run the command; its wall time in seconds."""
    cmd = [str(Path(sys.executable).with_name("viralchain")), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def _runs(sweep_dir: Path) -> Any:
    from experiments import sweep_store as store

    runs = store.read_table(sweep_dir, "runs")
    return runs[(runs["status"] == "ok") & (runs["setup"] == "flexible")]


def _paired(a: Any, b: Any, kpi: str) -> dict[str, float]:
    """Mean and 95% interval of b - a, paired by seed."""
    from scipy import stats

    left = a.set_index("seed")[kpi]
    right = b.set_index("seed")[kpi]
    d = (right - left.reindex(right.index)).dropna().to_numpy(dtype=float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return {"mean": float(d.mean()), "low": float(d.mean() - half), "high": float(d.mean() + half)}


def grid_best(grid_dir: Path) -> dict[str, float]:
    """The grid's most profitable policy (mean over its replications)."""
    means = _runs(grid_dir).groupby(LEVERS)[["profit", "fill_rate"]].mean().reset_index()
    best = means.sort_values(["profit", "fill_rate"], ascending=False).iloc[0]
    return {k: float(best[k]) for k in [*LEVERS, "profit", "fill_rate"]}


def _runs_of(runs: Any, point: Any) -> Any:
    """The runs of the policy ``point`` (its levers' values)."""
    mask = np.ones(len(runs), dtype=bool)
    for lever in LEVERS:
        mask &= np.isclose(runs[lever].astype(float), float(point[lever]))
    return runs[mask]


def compare(grid_dir: Path, study_dir: Path) -> dict[str, Any]:
    """The figures of the comparison (see the module docstring)."""
    from experiments.optimise import pareto

    grid, study = _runs(grid_dir), _runs(study_dir)
    best = grid_best(grid_dir)
    table = pareto(study_dir)
    front = table[table["pareto"]]
    good = front[(front["profit"] >= best["profit"]) & (front["fill_rate"] >= best["fill_rate"])]
    pick = (good if len(good) else front).sort_values("profit", ascending=False).iloc[0]

    a, b = _runs_of(grid, best), _runs_of(study, pick)
    confirmed = table[table["confirmed"]]
    return {
        "grid_runs": len(grid),
        "grid_points": int(grid.groupby(LEVERS).ngroups),
        "study_runs": len(study),
        "study_trials": len(table),
        "confirmed_trials": len(confirmed),
        "pareto_trials": len(front),
        "grid_best": best,
        "study_pick": {k: float(pick[k]) for k in [*LEVERS, "profit", "fill_rate"]},
        "dominates_grid_best": bool(len(good)),
        "paired_profit": _paired(a, b, "profit"),
        "paired_fill_rate": _paired(a, b, "fill_rate"),
        "pairs": len(b),
        # how near the study came to the grid's best: its best profit at the grid's fill rate
        # or better, and its best fill rate at the grid's profit or better, among the trials
        # with every replication (a screening mean is not comparable; None: no trial)
        "best_profit_at_grid_fill": _best(confirmed, "profit", "fill_rate", best["fill_rate"]),
        "best_fill_at_grid_profit": _best(confirmed, "fill_rate", "profit", best["profit"]),
        "pareto": front[[*LEVERS, "profit", "fill_rate", "runs"]].to_dict("records"),
    }


def _fixed_overrides() -> list[str]:
    """The regime's settings: the grid's own (``scenarios/sweep/safety_rush.yaml``) but the
    levers and the replications."""
    from omegaconf import OmegaConf

    params = OmegaConf.load(ROOT / "scenarios/sweep/safety_rush.yaml").hydra.sweeper.params
    skip = {*LEVERS, "replication"}
    return [f"{k}={v}" for k, v in OmegaConf.to_container(params).items() if k not in skip]


def _fresh_run(overrides: list[str]) -> tuple[int, float, float]:
    from experiments.compose import compose
    from experiments.sweep_plan import run_seed
    from sim.result import run

    config = compose(None, overrides)
    seed = run_seed(config)
    result = run(config, seed)
    return seed, float(result.kpis["profit"]), float(result.kpis["fill_rate"])


def fresh(points: list[dict[str, float]], reps: range, consumers: int | None, cache: Path,
          jobs: int) -> dict[tuple[float, float], Any]:  # fmt: skip
    """Each policy run on the replications ``reps`` (seeds neither the grid nor the studies
    saw), in this process's workers; finished runs are kept in ``cache`` (JSON) and reused.
    Returns policy → table of (replication, seed, profit, fill_rate)."""
    import pandas as pd
    from joblib import Parallel, delayed

    done = json.loads(cache.read_text()) if cache.is_file() else {}
    size = [f"market.n_consumers={consumers}"] if consumers else []
    keys = {(p[LEVERS[0]], p[LEVERS[1]]) for p in points}
    todo = []
    for cover, trigger in sorted(keys):
        for rep in reps:
            key = f"{cover!r} {trigger!r} {rep} {consumers}"
            if key not in done:
                levers = [f"{LEVERS[0]}={cover!r}", f"{LEVERS[1]}={trigger!r}"]
                todo.append((key, [*_fixed_overrides(), *size, *levers, f"replication={rep}"]))
    got = Parallel(n_jobs=jobs)(delayed(_fresh_run)(o) for _, o in todo)
    for (key, _), (seed, profit, fill) in zip(todo, got, strict=True):
        done[key] = {"seed": seed, "profit": profit, "fill_rate": fill}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(done, indent=1) + "\n")
    out = {}
    for cover, trigger in keys:
        rows = [{"replication": r, **done[f"{cover!r} {trigger!r} {r} {consumers}"]} for r in reps]
        out[(cover, trigger)] = pd.DataFrame(rows)
    return out


def fresh_comparison(grid: Any, pick: Any) -> dict[str, Any]:
    """The grid's best and a study's pick on fresh seeds: means and paired differences."""
    return {
        "replications": [int(r) for r in grid["replication"]],
        "grid_best": {k: float(grid[k].mean()) for k in ("profit", "fill_rate")},
        "study_pick": {k: float(pick[k].mean()) for k in ("profit", "fill_rate")},
        "paired_profit": _paired(grid, pick, "profit"),
        "paired_fill_rate": _paired(grid, pick, "fill_rate"),
    }


def probe(points: list[str], best: dict[str, float], grid_dir: Path, a: Any) -> list[dict]:
    """Policies ``COVER:TRIGGER`` run on the search replications (``0..N-1``, the grid's and
    the studies' seeds; in this process's workers, cached as the fresh runs are), each paired
    with the grid's best: how the response looks around it, not part of any search."""
    pts = []
    for text in points:
        cover, trigger = (float(v) for v in text.split(":"))
        pts.append({LEVERS[0]: cover, LEVERS[1]: trigger})
    table = fresh(pts, range(a.replications), a.consumers, a.root / "fresh.json", a.jobs)
    ref = _runs_of(_runs(grid_dir), best)
    out = []
    for p in pts:
        t = table[(p[LEVERS[0]], p[LEVERS[1]])]
        row = {**p, "profit": float(t["profit"].mean()), "fill_rate": float(t["fill_rate"].mean())}
        row |= {"paired_profit": _paired(ref, t, "profit")}
        row |= {"paired_fill_rate": _paired(ref, t, "fill_rate")}
        out.append(row)
        print(f"probe cover {p[LEVERS[0]]:g} d, trigger {p[LEVERS[1]]:g} h: profit "
              f"{row['profit']:,.0f}, fill {row['fill_rate']:.4f}; paired profit "
              f"{_interval(row['paired_profit'], '+,.0f')}, fill "
              f"{_interval(row['paired_fill_rate'], '+.4f')}")  # fmt: skip
    return out


def _best(table: Any, kpi: str, floor_kpi: str, floor: float) -> float | None:
    """The highest mean ``kpi`` among trials whose mean ``floor_kpi`` is at least ``floor``."""
    ok = table[table[floor_kpi] >= floor]
    return float(ok[kpi].max()) if len(ok) else None


def completed_trials(study_dir: Path, study_name: str) -> int:
    """Trials the study in ``study_dir`` has completed (0 if it has none yet)."""
    if not (study_dir / "optuna.db").is_file():
        return 0
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{study_dir / 'optuna.db'}"
    if study_name not in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        return 0
    study = optuna.load_study(study_name=study_name, storage=storage)
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def study_trials(name: str) -> int:
    """The study file's own ``hydra.sweeper.n_trials`` (or that of the study it extends)."""
    from omegaconf import OmegaConf

    from experiments.compose import option_file

    node = OmegaConf.load(option_file("optimise", name))
    trials = OmegaConf.select(node, "hydra.sweeper.n_trials")
    if trials is None:
        parent = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        return study_trials(parent[0])
    return int(trials)


def _interval(d: dict[str, float], fmt: str) -> str:
    return f"{d['mean']:{fmt}} [{d['low']:{fmt}}, {d['high']:{fmt}}]"


def _line(row: dict[str, Any]) -> str:
    s = row["study_pick"]
    return (
        f"{row['study']:<16} {row['sampler_seed']:>4} {row['study_runs']:>4}  "
        f"{s[LEVERS[0]]:>7.3g} {s[LEVERS[1]]:>6.3g} {s['profit']:>7,.0f} {s['fill_rate']:>6.4f}"
        f"  {_interval(row['paired_profit'], '+,.0f'):<26}"
        f" {_interval(row['paired_fill_rate'], '+.4f'):<28} {row['dominates_grid_best']}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=ROOT / "outputs/bench/optimise_vs_grid")
    p.add_argument("--consumers", type=int, default=None, help="default: the story's")
    p.add_argument("--studies", nargs="+", default=["safety_rush", "safety_rush_box"])
    p.add_argument("--sampler-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--trials", type=int, default=None, help="default: each study's own")
    p.add_argument("--replications", type=int, default=5)
    p.add_argument(
        "--screen",
        type=int,
        default=None,
        metavar="R",
        help="screening replications (default: each study's own; 0: one stage)",
    )
    p.add_argument("--confirm", type=int, default=None, metavar="K",
                   help="trials confirmed (default: each study's own)")  # fmt: skip
    p.add_argument(
        "--fresh", type=int, default=10, metavar="N", help="then N fresh seeds (0: none)"
    )
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--probe", nargs="*", default=[], metavar="COVER:TRIGGER",
                   help="policies run on the search replications by the grid's best")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    size = [f"market.n_consumers={a.consumers}"] if a.consumers else []
    reps, jobs = str(a.replications), str(a.jobs)
    grid_dir = a.root / "grid"
    wall = _viralchain("sweep", "safety_rush", *size, "--replications", reps, "--jobs", jobs,
                       "--out", str(grid_dir))  # fmt: skip
    best = grid_best(grid_dir)
    got: dict[str, Any] = {
        "consumers": a.consumers,
        "replications": a.replications,
        "grid": {"dir": str(grid_dir.relative_to(ROOT)), "wall_seconds": wall, "best": best},
        "studies": [],
    }
    print(f"grid best: cover {best[LEVERS[0]]:.3g} d, trigger {best[LEVERS[1]]:.3g} h: "
          f"profit {best['profit']:,.0f}, fill rate {best['fill_rate']:.4f}")  # fmt: skip
    print(
        f"{'study':<16} {'seed':>4} {'runs':>4}  {'cover d':>7} {'trig h':>6} {'profit':>7} "
        f"{'fill':>6}  {'paired profit [95%]':<26} {'paired fill rate [95%]':<28} >=grid"
    )
    stage = [*(["--screen", str(a.screen)] if a.screen is not None else []),
             *(["--confirm", str(a.confirm)] if a.confirm is not None else [])]  # fmt: skip
    tag = "".join(f"_{k}{v}" for k, v in (("screen", a.screen), ("confirm", a.confirm))
                  if v is not None)  # fmt: skip
    for name in a.studies:
        trials = a.trials if a.trials is not None else study_trials(name)
        for seed in a.sampler_seeds:
            study_dir = a.root / f"{name}{tag}_seed{seed}"
            todo = trials - completed_trials(study_dir, f"optimise_{name}")
            wall = 0.0
            if todo > 0:
                wall = _viralchain("optimise", name, *size, f"hydra.sweeper.sampler.seed={seed}",
                                   "--trials", str(todo), "--replications", reps, *stage,
                                   "--jobs", jobs, "--out", str(study_dir))  # fmt: skip
            row = {"study": name + tag, "sampler_seed": seed, "wall_seconds": wall}
            row |= {"dir": str(study_dir.relative_to(ROOT)), **compare(grid_dir, study_dir)}
            got["studies"].append(row)
            print(_line(row))
    if a.probe:
        got["probe"] = probe(a.probe, best, grid_dir, a)
    if a.fresh:
        extra = range(a.replications, a.replications + a.fresh)
        picks = [best, *(r["study_pick"] for r in got["studies"])]
        table = fresh(picks, extra, a.consumers, a.root / "fresh.json", a.jobs)
        grid_fresh = table[(best[LEVERS[0]], best[LEVERS[1]])]
        print(f"on {a.fresh} fresh seeds (replications {extra.start}-{extra.stop - 1}): grid best "
              f"profit {grid_fresh['profit'].mean():,.0f}, "
              f"fill rate {grid_fresh['fill_rate'].mean():.4f}")  # fmt: skip
        for row in got["studies"]:
            s = row["study_pick"]
            row["fresh"] = fresh_comparison(grid_fresh, table[(s[LEVERS[0]], s[LEVERS[1]])])
            f = row["fresh"]
            print(f"  {row['study']:<16} seed {row['sampler_seed']}: pick profit "
                  f"{f['study_pick']['profit']:,.0f}, fill {f['study_pick']['fill_rate']:.4f};"
                  f" paired profit {_interval(f['paired_profit'], '+,.0f')},"
                  f" fill {_interval(f['paired_fill_rate'], '+.4f')}")  # fmt: skip
    got["summary"] = {
        name + tag: {
            "sampler_seeds": [
                r["sampler_seed"] for r in got["studies"] if r["study"] == name + tag
            ],
            "runs": [r["study_runs"] for r in got["studies"] if r["study"] == name + tag],
            "at_least_as_good_on_both_means": sum(
                r["dominates_grid_best"] for r in got["studies"] if r["study"] == name + tag
            ),
        }
        for name in a.studies
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(got, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
