"""``viralchain calibrate DATA.csv``: fit the content model to a user's series of views/orders.

The CSV has one row per step (an hour or a day, equally spaced) and these columns:

* a time column, one of ``t_hours`` (hours), ``hour`` (hours), ``day`` (days) or ``date``
  (timestamps, e.g. ``2026-03-01 20:00``);
* ``views`` and/or ``orders``: counts per step (non-negative). ``views`` are the views of the
  content (all posts); ``orders`` are new buyers per step from the launch (one unit each);
* optionally ``posts``: posts published in that step (without it, the views are taken to
  follow one post published at the first row).

Fits (:mod:`sim.calibration`): views → the short-video cascade (baseline, reach of a post and
its decay, branching ratio, share kernel); orders → Bass ``p``, ``q`` and the market potential.
It prints the estimates with standard errors and 95 % intervals, and writes into ``--out``:

* ``overrides.txt`` — the fitted values as ``key=value`` overrides, one per line; use them in
  any run with ``viralchain run $(cat <out>/overrides.txt) [other overrides]`` (they pass the
  same checks as any override: values, never a file to load or code to run);
* ``calibration.yaml`` — the same values as a nested mapping, for the record;
* ``fit.png`` — the series and the fitted mean;
* ``fit.csv`` — the estimates.

Exit codes: 0 fitted; 1 the fit failed; 2 a malformed file or usage (one line naming the
column, the bad value and what is allowed; nothing written).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TIME_COLUMNS = {"t_hours": 1.0, "hour": 1.0, "day": float(HOURS_PER_DAY), "date": None}
SERIES_COLUMNS = ("views", "orders")
MIN_ROWS = 12

EPILOG = """\
examples:
  viralchain calibrate views.csv                      fit, print, write outputs/calibration/views/
  viralchain calibrate sales.csv --out my_fit
  viralchain run $(cat my_fit/overrides.txt) setup=flexible     use the fit
"""


def read_series(path: Path) -> tuple[float, dict[str, np.ndarray]]:
    """Read and check a series file.

    Returns:
        (step in hours, {column: values}) with ``views``/``orders``/``posts`` as present.

    Raises:
        ConfigError: the first problem, naming the column, the bad value and what is allowed.
    """
    import pandas as pd

    if not path.is_file():
        raise ConfigError([("DATA", str(path), "no such file")])
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError([("DATA", str(path), f"not a readable CSV file ({first})")]) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    time_cols = [c for c in TIME_COLUMNS if c in df.columns]
    if not time_cols:
        raise ConfigError(
            [("columns", list(df.columns), f"need a time column: one of {list(TIME_COLUMNS)}")]
        )
    series_cols = [c for c in SERIES_COLUMNS if c in df.columns]
    if not series_cols:
        raise ConfigError(
            [("columns", list(df.columns), f"need at least one of {list(SERIES_COLUMNS)}")]
        )
    if len(df) < MIN_ROWS:
        raise ConfigError([("rows", len(df), f"too short: need at least {MIN_ROWS} steps")])
    tcol = time_cols[0]
    if tcol == "date":
        t = pd.to_datetime(df[tcol], errors="coerce")
        bad = t.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError([(f"date (row {i + 1})", df[tcol].iloc[i], "must be a timestamp")])
        hours = (t - t.iloc[0]).dt.total_seconds().to_numpy() / 3600.0
    else:
        hours = _numbers(df, tcol, allow_fraction=True) * TIME_COLUMNS[tcol]
    steps = np.diff(hours)
    step = float(steps[0])
    uneven = ~np.isclose(steps, step, rtol=0.0, atol=1e-3 * abs(step)) | (steps <= 0)
    if uneven.any():
        i = int(np.flatnonzero(uneven)[0]) + 1
        raise ConfigError(
            [(f"{tcol} (row {i + 1})", df[tcol].iloc[i], "steps must be equal and increasing")]
        )
    out = {}
    for c in [*series_cols, *(["posts"] if "posts" in df.columns else [])]:
        out[c] = _numbers(df, c, allow_fraction=False)
    for c in series_cols:
        if out[c].sum() <= 0:
            raise ConfigError([(c, 0, "all counts are zero: nothing to fit")])
    return step, out


def _numbers(df, column: str, allow_fraction: bool) -> np.ndarray:
    import pandas as pd

    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    what = "a number" if allow_fraction else "a non-negative count"
    for i, x in enumerate(values):
        if not math.isfinite(x):
            raise ConfigError([(f"{column} (row {i + 1})", raw.iloc[i], f"must be {what}")])
        if not allow_fraction and (x < 0 or x != round(x)):
            raise ConfigError([(f"{column} (row {i + 1})", raw.iloc[i], f"must be {what}")])
    return values


def overrides(fits: dict, conversions: tuple[float, float]) -> dict[str, object]:
    """The config keys a run takes from the fits (dotted name → value)."""
    out: dict[str, object] = {}
    if "views" in fits:
        f = fits["views"]
        if "reach_decay_hours" in f.estimates:
            out["content.short_video.reach_decay_hours"] = f.value("reach_decay_hours")
        out["content.short_video.branching_ratio"] = min(f.value("branching_ratio"), 0.999)
        out["content.short_video.share_kernel_hours"] = f.value("share_kernel_hours")
        # the fit sees one cascade: its branching is the whole of it, none left for crossing
        out["content.short_video.cross_excitation"] = 0.0
    if "orders" in fits:
        f = fits["orders"]
        c_org, c_wom = conversions
        p, q = f.value("innovation_per_day"), f.value("imitation_per_day")
        if p / c_org > 1.0:  # the exposure rate is a daily share: raise conversion instead
            c_org = 1.0
            out["market.organic.conversion_probability"] = 1.0
        out["market.organic.exposure_rate_per_day"] = min(p / c_org, 1.0)
        out["market.word_of_mouth.mixing"] = "fully_mixed"
        out["market.word_of_mouth.contacts_per_day"] = q / c_wom
    return out


def _nested(flat: dict[str, object]) -> dict:
    root: dict = {}
    for key, value in flat.items():
        node = root
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = float(value) if isinstance(value, float | np.floating) else value
    return root


def _report(name: str, fit) -> str:
    lines = [
        f"{name}: {fit.model} fit, {len(fit.observed)} steps of {fit.step_hours:g} h, "
        f"log-likelihood {fit.log_likelihood:,.1f}"
    ]
    lines.append(f"  {'parameter':<26}{'estimate':>12}{'s.e.':>12}   95% interval      unit")
    for e in fit.estimates.values():
        ci = "n/a" if math.isnan(e.low) else f"[{e.low:.4g}, {e.high:.4g}]"
        se = "n/a" if math.isnan(e.se) else f"{e.se:.4g}"
        lines.append(f"  {e.name:<26}{e.value:>12.4g}{se:>12}   {ci:<18}{e.unit}")
    for k, v in fit.fixed.items():
        lines.append(f"  {k:<26}{v:>12.4g}{'(at bound)':>12}")
    lines.append(f"  {fit.note}")
    return "\n".join(lines)


def _plot(fits: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(fits), 1, figsize=(9, 3.2 * len(fits)), squeeze=False)
    for ax, (name, f) in zip(axes[:, 0], fits.items(), strict=True):
        t = np.arange(len(f.observed)) * f.step_hours
        ax.bar(t, f.observed, width=f.step_hours, color="#bbb", label=f"observed {name}")
        ax.plot(t, f.expected, color="C3", lw=1.5, label="fitted mean (given the past)")
        ax.set_xlabel("hours since the first row")
        ax.set_ylabel(f"{name} per step")
        ax.set_title(f"{name}: {f.model} fit")
        ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit, print, write the override file, the plot and the estimates."""
    import yaml

    import sim
    from sim.calibration import fit_bass, fit_hawkes

    path = Path(args.data)
    name = args.name or path.stem
    if not name.replace("_", "").replace("-", "").isalnum():
        print(f"viralchain: invalid --name = {name!r}: letters, digits, - and _", file=sys.stderr)
        return EXIT_USAGE
    try:
        step, cols = read_series(path)
    except ConfigError as exc:
        msg = exc.render().splitlines()[0].replace("invalid configuration: ", f"invalid {path}: ")
        print(f"viralchain: {msg}", file=sys.stderr)
        return EXIT_USAGE
    fits = {}
    try:
        if "views" in cols:
            fits["views"] = fit_hawkes(cols["views"], step, cols.get("posts"))
        if "orders" in cols:
            fits["orders"] = fit_bass(cols["orders"], step)
    except (FloatingPointError, ValueError, np.linalg.LinAlgError) as exc:
        print(f"viralchain: the fit failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    base = sim.compose()
    conv = (
        base.market.organic.conversion_probability,
        base.market.word_of_mouth.conversion_probability,
    )
    flat = overrides(fits, conv)
    out = Path(args.out) if args.out else Path("outputs/calibration") / name
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in flat.items()]
    (out / "overrides.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    header = (
        f"# Fitted by `viralchain calibrate {path.name}` (sim/calibration.py); standard errors in\n"
        "# fit.csv. Use the values with: viralchain run $(cat overrides.txt) [other overrides]\n"
    )
    yaml_path = out / "calibration.yaml"
    yaml_path.write_text(header + yaml.safe_dump(_nested(flat), sort_keys=True), encoding="utf-8")
    with (out / "fit.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "parameter", "estimate", "se", "low95", "high95", "unit"])
        for series, f in fits.items():
            for e in f.estimates.values():
                w.writerow([series, e.name, e.value, e.se, e.low, e.high, e.unit])
            for k, v in f.fixed.items():
                w.writerow([series, k, v, "", "", "", "at bound"])
    _plot(fits, out / "fit.png")
    for series, f in fits.items():
        print(_report(series, f) + "\n")
    print("overrides:")
    for k, v in flat.items():
        print(f"  {k}={v:.6g}" if isinstance(v, float) else f"  {k}={v}")
    print(f"\nwrote {out}/\n  overrides  {out / 'overrides.txt'}\n  values     {yaml_path}")
    print(f"  plot       {out / 'fit.png'}\n  estimates  {out / 'fit.csv'}")
    print(f"use it: viralchain run $(cat {out / 'overrides.txt'}) [other overrides]")
    return EXIT_OK


def add_parser(sub) -> None:
    """Add the ``calibrate`` subcommand."""
    p = sub.add_parser(
        "calibrate",
        help="fit the content model (Hawkes cascade, Bass p and q) to a series of views/orders",
        description=(__doc__ or "").split("\n\n", 1)[1].split("\n\nExit codes")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="DATA.csv", help="the series (see above for its columns)")
    p.add_argument("--out", help="output directory (default: outputs/calibration/<name>)")
    p.add_argument("--name", help="name of the fit (default: the data file's stem)")
    p.set_defaults(func=cmd_calibrate)
