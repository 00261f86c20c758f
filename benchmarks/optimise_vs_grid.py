"""Optuna's policy search against the shipped grid, paired on the same seeds.

``python -m benchmarks.optimise_vs_grid [--grid DIR] [--study DIR] [--consumers N]
[--trials N] [--replications N] [--jobs N] [--out FILE]``

Runs (or reuses, resume skips finished runs) the shipped ``safety_rush`` grid (16 policies x
``--replications``) and the ``optimise/safety_rush`` study (``--trials`` trials x the same
replications) at the same size, then compares them:

* the grid's best point: the policy with the highest mean profit;
* the study's answer: among its Pareto trials, those at least as good as the grid's best on
  both objectives (mean profit and mean fill rate), the most profitable of them (else the
  most profitable Pareto trial);
* the paired differences (study - grid) of profit and fill rate, replication by replication
  (the same run seed on both sides: common random numbers), with 95% Student-t intervals;
* the runs each used.

Prints a table and writes JSON (default ``benchmarks/results/optimise_vs_grid.json``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "optimise_vs_grid.json"
LEVERS = ["policy.safety_stock.days_of_cover", "policy.rush.threshold"]


def _viralchain(*args: str) -> None:
    cmd = [str(Path(sys.executable).with_name("viralchain")), *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")


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


def compare(grid_dir: Path, study_dir: Path) -> dict[str, Any]:
    """The figures of the comparison (see the module docstring)."""
    from experiments.optimise import pareto

    grid, study = _runs(grid_dir), _runs(study_dir)
    means = grid.groupby(LEVERS)[["profit", "fill_rate"]].mean().reset_index()
    best = means.sort_values(["profit", "fill_rate"], ascending=False).iloc[0]
    table = pareto(study_dir)
    front = table[table["pareto"]]
    good = front[(front["profit"] >= best["profit"]) & (front["fill_rate"] >= best["fill_rate"])]
    pick = (good if len(good) else front).sort_values("profit", ascending=False).iloc[0]

    def runs_of(runs: Any, point: Any) -> Any:
        mask = np.ones(len(runs), dtype=bool)
        for lever in LEVERS:
            mask &= np.isclose(runs[lever].astype(float), float(point[lever]))
        return runs[mask]

    a, b = runs_of(grid, best), runs_of(study, pick)
    return {
        "grid_runs": len(grid),
        "grid_points": len(means),
        "study_runs": len(study),
        "study_trials": len(table),
        "pareto_trials": len(front),
        "grid_best": {k: float(best[k]) for k in [*LEVERS, "profit", "fill_rate"]},
        "study_pick": {k: float(pick[k]) for k in [*LEVERS, "profit", "fill_rate"]},
        "dominates_grid_best": bool(len(good)),
        "paired_profit": _paired(a, b, "profit"),
        "paired_fill_rate": _paired(a, b, "fill_rate"),
        "pairs": len(b),
        "pareto": front[[*LEVERS, "profit", "fill_rate", "runs"]].to_dict("records"),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", type=Path, default=ROOT / "outputs/sweeps/safety_rush")
    p.add_argument("--study", type=Path, default=ROOT / "outputs/sweeps/optimise_safety_rush")
    p.add_argument("--consumers", type=int, default=None, help="default: the story's")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--replications", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    size = [f"market.n_consumers={a.consumers}"] if a.consumers else []
    reps, jobs = str(a.replications), str(a.jobs)
    _viralchain("sweep", "safety_rush", *size, "--replications", reps, "--jobs", jobs,
                "--out", str(a.grid))  # fmt: skip
    _viralchain("optimise", "safety_rush", *size, "--trials", str(a.trials),
                "--replications", reps, "--jobs", jobs, "--out", str(a.study))  # fmt: skip
    got = compare(a.grid, a.study)
    g, s = got["grid_best"], got["study_pick"]
    print(f"grid:  {got['grid_runs']} runs ({got['grid_points']} policies)")
    print(f"study: {got['study_runs']} runs ({got['study_trials']} trials)")
    print(f"grid best:   cover {g[LEVERS[0]]:.3g} d, threshold {g[LEVERS[1]]:.0f}: "
          f"profit {g['profit']:,.0f}, fill rate {g['fill_rate']:.4f}")  # fmt: skip
    print(f"study pick:  cover {s[LEVERS[0]]:.3g} d, threshold {s[LEVERS[1]]:.0f}: "
          f"profit {s['profit']:,.0f}, fill rate {s['fill_rate']:.4f}"
          f" (at least as good on both: {got['dominates_grid_best']})")  # fmt: skip
    for kpi in ("profit", "fill_rate"):
        d = got[f"paired_{kpi}"]
        print(f"paired {kpi} (study - grid, {got['pairs']} seeds): {d['mean']:+,.4g} "
              f"[{d['low']:+,.4g}, {d['high']:+,.4g}]")  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(got, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
