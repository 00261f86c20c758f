"""Global sensitivity: Sobol indices of profit and fill rate per setup (``explore --sobol``).

Saltelli's design (SALib's ``sample.sobol``, a scrambled Sobol sequence of ``N`` base points
and their cross-combinations: ``N (D + 2)`` points for ``D`` uncertainties) is run under every
setup on the same seeds (common random numbers: at a fixed seed the model is a deterministic
function of the uncertainties); a KPI at a point is its mean over the seeds. SALib's
``analyze.sobol`` gives each uncertainty's first-order index S1 (the share of the KPI's
variance it explains alone) and total index ST (alone and with every interaction), with
95 % bootstrap intervals. The difference between the challenger and the baseline is analysed
too: what decides *by how much* flexibility pays.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import exits
from experiments.uncertainties import Uncertainty, describe_table

RESAMPLES = 1000  # bootstrap resamples of the intervals


def problem(chosen: Sequence[Uncertainty]) -> dict[str, Any]:
    """SALib's problem definition of the uncertainties."""
    return {
        "num_vars": len(chosen),
        "names": [u.name for u in chosen],
        "bounds": [[u.low, u.high] for u in chosen],
    }


def saltelli_points(chosen: Sequence[Uncertainty], n: int, seed: int) -> np.ndarray:
    """Saltelli's design of ``n`` base points (``n (D + 2)`` rows; whole numbers rounded)."""
    from SALib.sample import sobol as sobol_sample

    x = sobol_sample.sample(problem(chosen), n, calc_second_order=False, scramble=True, seed=seed)
    for j, u in enumerate(chosen):
        if u.integer:
            x[:, j] = np.round(x[:, j])
    return x


def indices(chosen: Sequence[Uncertainty], y: np.ndarray, seed: int) -> pd.DataFrame:
    """S1 and ST with their 95 % bootstrap half-widths (NaN when ``y`` does not vary)."""
    from SALib.analyze import sobol

    names = [u.name for u in chosen]
    y = np.asarray(y, float)
    cols = ("S1", "S1_conf", "ST", "ST_conf")
    if not np.isfinite(y).all() or float(np.var(y)) == 0.0:
        return pd.DataFrame({"uncertainty": names, **{c: np.nan for c in cols}})
    res = sobol.analyze(
        problem(chosen),
        y,
        calc_second_order=False,
        num_resamples=RESAMPLES,
        conf_level=0.95,
        seed=seed,
    )
    return pd.DataFrame({"uncertainty": names, **{c: np.asarray(res[c], float) for c in cols}})


def sobol_table(
    frame: pd.DataFrame,
    chosen: Sequence[Uncertainty],
    setups: Sequence[str],
    kpis: Sequence[str] = ("profit", "fill_rate"),
    seed: int = 0,
) -> pd.DataFrame:
    """Indices per KPI and setup, plus each challenger − baseline (rows: kpi, output,
    uncertainty, S1, S1_conf, ST, ST_conf)."""
    means = frame.groupby(["setup", "sample"], sort=True)[list(kpis)].mean()
    parts = []
    a = setups[0]
    for k in kpis:
        series = {s: means.loc[s, k].to_numpy(float) for s in setups}
        for b in setups[1:]:
            series[f"{b} − {a}"] = series[b] - series[a]
        for name, y in series.items():
            t = indices(chosen, y, seed)
            t.insert(0, "output", name)
            t.insert(0, "kpi", k)
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _cell(v: float, conf: float) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:.2f} ± {conf:.2f}" if math.isfinite(conf) else f"{v:.2f}"


def table_markdown(table: pd.DataFrame, chosen: Sequence[Uncertainty]) -> str:
    """One table per KPI: a row per uncertainty, S1 and ST (± 95 % half-width) per output."""
    labels = {u.name: u.label for u in chosen}
    out = []
    for k, rows in table.groupby("kpi", sort=False):
        outputs = list(dict.fromkeys(rows["output"]))
        head = ["uncertainty"] + [f"{o} {s}" for o in outputs for s in ("S1", "ST")]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for u in chosen:
            cells = [f"{labels[u.name]} (`{u.name}`)"]
            for o in outputs:
                r = rows[(rows["output"] == o) & (rows["uncertainty"] == u.name)].iloc[0]
                cells += [_cell(r.S1, r.S1_conf), _cell(r.ST, r.ST_conf)]
            lines.append("| " + " | ".join(cells) + " |")
        name = {"profit": "Profit", "fill_rate": "Fill rate"}.get(str(k), str(k))
        out.append(f"**{name}**\n\n" + "\n".join(lines))
    return "\n\n".join(out)


def headline(table: pd.DataFrame, chosen: Sequence[Uncertainty]) -> str:
    """The uncertainty with the largest total index per KPI and output, in words."""
    labels = {u.name: u.label for u in chosen}
    lines = []
    for (k, o), rows in table.groupby(["kpi", "output"], sort=False):
        rows = rows.dropna(subset=["ST"])
        if rows.empty:
            lines.append(f"- {k}, {o}: does not vary over these ranges")
            continue
        top = rows.sort_values("ST", ascending=False, kind="stable").iloc[0]
        lines.append(
            f"- {k}, {o}: {labels[top.uncertainty]} matters most "
            f"(ST {top.ST:.2f} ± {top.ST_conf:.2f}, S1 {top.S1:.2f} ± {top.S1_conf:.2f})"
        )
    return "\n".join(lines)


def cmd_sobol(
    args: argparse.Namespace,
    bases: dict[str, dict[str, Any]],
    chosen: Sequence[Uncertainty],
    seeds: Sequence[int],
    out: Path,
) -> int:
    """``explore --sobol``: run Saltelli's design under every setup, write the indices."""
    from experiments.explore import SOBOL_END, SOBOL_START, RunFailedError, measure, write_doc
    from experiments.explore_plots import plot_sobol
    from sim.plotting import save

    setups = list(bases)
    x = saltelli_points(chosen, args.samples, args.sample_seed)
    try:
        frame = measure(bases, chosen, x, seeds, args.jobs, not args.quiet, desc="sobol")
    except RunFailedError as exc:
        return exits.error(f"explore: a run failed: {exc}", exits.EXIT_FAILED)
    frame.insert(0, "story", args.story)
    table = sobol_table(frame, chosen, setups, seed=args.sample_seed)
    d = len(chosen)
    head = (
        f"*{args.story}: Saltelli design, N = {args.samples} base points × (D + 2) = "
        f"{len(x)} points per setup ({d} uncertainties) × {len(seeds)} seed"
        f"{'s' * (len(seeds) != 1)} × {args.n_consumers:,} consumers; S1 first-order, ST total "
        f"Sobol index, ± the 95 % bootstrap half-width ({RESAMPLES} resamples).*"
    )

    def body(png: str) -> str:
        return "\n\n".join(
            [
                head,
                "**Uncertainties**\n\n" + describe_table(chosen),
                "**What matters most (largest total index)**\n\n" + headline(table, chosen),
                table_markdown(table, chosen),
                f"![Sobol indices per setup]({png})",
            ]
        )

    print(body("sobol.png"))
    design = {
        "command": "explore --sobol",
        "story": args.story,
        "setups": setups,
        "overrides": list(args.overrides),
        "n_consumers": args.n_consumers,
        "base_samples": args.samples,
        "sample_seed": args.sample_seed,
        "seeds": list(seeds),
        "uncertainties": {u.name: [u.low, u.high] for u in chosen},
    }
    try:
        with exits.staged(out) as stage:
            frame.to_parquet(stage / "sobol.parquet", index=False)
            table.to_csv(stage / "sobol_indices.csv", index=False)
            (stage / "design.json").write_text(json.dumps(design, indent=2) + "\n")
            (stage / "summary.md").write_text(body("sobol.png") + "\n", encoding="utf-8")
            save(plot_sobol(table, chosen), stage / "sobol.png", dpi=80)
    except OSError as exc:
        return exits.error(f"explore: cannot write {out}: {exits.os_reason(exc)}", 1)
    print(f"\nwrote {out}", file=sys.stderr)
    if args.doc:
        write_doc(Path(args.doc), out, body("img/explore-sobol.png"), SOBOL_START, SOBOL_END)
    return exits.EXIT_OK
