"""Mutation testing: do the validation and invariant suites catch planted bugs?

A curated set of :data:`MUTANTS`, each a small patch of the model code (one exact text
replacement in one file, the kind of slip a change could make: an order-up-to level a period
short, a queue served last in first out, a unit lost on the way to stock, a wrong branching
ratio, a cost line dropped ...). For each mutant the command copies the checkout's code
(``sim/``, ``experiments/``, ``scenarios/``, ``tests/``) to a temporary directory, applies
the patch there (the checkout is never touched), and runs the suites against the copy in a
fresh interpreter, cheapest first:

* ``invariants``: ``pytest tests/test_invariants.py`` (unit conservation every hour, the
  KPI and money identities, the order book against the KPIs);
* ``validate:<check>``: each check of ``viralchain validate --fast`` (any failing row).

A mutant is *caught* when a suite fails (an error or a time-out counts: the bug did not go
unnoticed). By default the suites stop at the first catch; ``--all-suites`` runs every suite
on every mutant (to see every check that catches it)::

    python -m experiments.mutants                 # every mutant, stop at the first catch
    python -m experiments.mutants --only lifo_pick_queue,drop_holding_cost
    python -m experiments.mutants --all-suites    # which checks catch each mutant
    python -m experiments.mutants --list          # the mutants and what they plant
    viralchain validate --mutants                 # the same as the first line

Exit code 0 when at least ``--target`` (default 0.9) of the mutants run were caught, 1
otherwise, 2 for bad usage (an unknown mutant, or a patch whose text is no longer in the
code: the mutant must then be updated with the code).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("sim", "experiments", "scenarios", "tests", "pyproject.toml")
#: the suites, cheapest first
SUITES = (
    "invariants",
    "validate:flexibility",
    "validate:cascade",
    "validate:base_stock",
    "validate:queueing",
    "validate:bass",
    "validate:bullwhip",
)
TIMEOUT_SECONDS = 1800  # per suite: the bullwhip check takes minutes alone, more on a busy machine


@dataclass(frozen=True)
class Mutant:
    """A planted bug: replace ``old`` (which occurs exactly once) by ``new`` in ``path``."""

    name: str
    path: str
    old: str
    new: str
    what: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "order_up_to_one_period_short",
        "sim/policies/sourcing.py",
        "return per_day / HOURS_PER_DAY * (lead + review) + safety",
        "return per_day / HOURS_PER_DAY * lead + safety",
        "the order-up-to level covers the lead time but not the review period (one period short)",
    ),
    Mutant(
        "lifo_pick_queue",
        "sim/queues.py",
        "self._buf = np.concatenate([self._buf[self._head :], np.asarray(ids, dtype=np.int64)])",
        "self._buf = np.concatenate([np.asarray(ids, dtype=np.int64)[::-1], "
        "self._buf[self._head :]])",
        "the pick/pack queue (IdQueue) serves the newest order first (FIFO -> LIFO)",
    ),
    Mutant(
        "lost_unit_to_stock",
        "sim/agents/factory.py",
        "            self.fg[sku, wh] += k\n",
        "            self.fg[sku, wh] += max(k - 1, 0)\n",
        "a unit of every finished batch never reaches the factory's finished goods",
    ),
    Mutant(
        "wrong_branching_ratio",
        "sim/content.py",
        "+ video.branching_ratio * (1 - decay) * new_views * share_factor",
        "+ 1.1 * video.branching_ratio * (1 - decay) * new_views * share_factor",
        "a view triggers 10 % more shared views than the branching ratio says",
    ),
    Mutant(
        "drop_holding_cost",
        "sim/metrics.py",
        "COST_LINES = (\n    production_cost,\n    holding_cost,\n",
        "COST_LINES = (\n    production_cost,\n",
        "profit forgets the holding cost line",
    ),
    Mutant(
        "inventory_position_without_transit",
        "sim/agents/brand_supply.py",
        "return float(avail + transit + fg + open_prod - self.selling.backlog_units[sku])",
        "return float(avail + fg + open_prod - self.selling.backlog_units[sku])",
        "the inventory position forgets goods on line-haul trucks (orders twice for them)",
    ),
    Mutant(
        "exp_smoothing_weights_swapped",
        "sim/policies/forecast.py",
        "level = self.alpha * float(x) + (1 - self.alpha) * level",
        "level = (1 - self.alpha) * float(x) + self.alpha * level",
        "exponential smoothing puts alpha on the old level instead of the newest day",
    ),
    Mutant(
        "moving_average_window_off_by_one",
        "sim/policies/forecast.py",
        "return float(np.mean(d[-self.window :]))",
        "return float(np.mean(d[-self.window - 1 :]))",
        "the moving average takes one day more than its window",
    ),
    Mutant(
        "fixed_cover_one_day_short",
        "sim/policies/safety_stock.py",
        "return self.days * forecast_per_day",
        "return max(self.days - 1.0, 0.0) * forecast_per_day",
        "the fixed safety stock holds one day of cover fewer than configured",
    ),
    Mutant(
        "word_of_mouth_rate_per_day_twice",
        "sim/agents/consumers.py",
        "rate = self.cfg.word_of_mouth.contacts_per_day / HOURS_PER_DAY",
        "rate = self.cfg.word_of_mouth.contacts_per_day / 12",
        "fully mixed recommendations converted to hours with 12 hours a day (imitation x2)",
    ),
    Mutant(
        "organic_rate_ten_percent_high",
        "sim/agents/consumers.py",
        "lam = rate / HOURS_PER_DAY * self.n * len(launched)",
        "lam = 1.1 * rate / HOURS_PER_DAY * self.n * len(launched)",
        "organic discovery (the Bass innovation term) 10 % too frequent",
    ),
    Mutant(
        "demand_counts_only_sales",
        "sim/metrics.py",
        "def demand_units(t: BrandTotals) -> float:",
        "def demand_units(t: BrandTotals) -> float:  # mutant\n    return t.sold\n\n\n"
        "def _unused_demand_units(t: BrandTotals) -> float:",
        "the demand KPI reports sales (lost sales vanish from demand)",
    ),
    Mutant(
        "share_kernel_time_constant_plus_one_hour",
        "sim/content.py",
        "decay = math.exp(-1.0 / kappa)",
        "decay = math.exp(-1.0 / (kappa + 1.0))",
        "the share kernel decays an hour slower than its time constant",
    ),
    Mutant(
        "pick_capacity_one_unit_high",
        "sim/agents/warehouse.py",
        "self._pick_credit += self.pick_capacity_per_hour",
        "self._pick_credit += self.pick_capacity_per_hour + 1",
        "a warehouse picks one unit an hour more than its capacity",
    ),
    Mutant(
        "order_quantity_rounded_down",
        "sim/agents/factory.py",
        "q = math.ceil(need / self.batch_units) * self.batch_units",
        "q = math.floor(need / self.batch_units) * self.batch_units",
        "a factory rounds an order's need down to whole batches instead of up",
    ),
)


def mutant(name: str) -> Mutant:
    """A mutant by name."""
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(name)


def stale(root: Path = ROOT) -> list[str]:
    """Mutants whose ``old`` text does not occur exactly once in the code (to update)."""
    out = []
    for m in MUTANTS:
        text = (root / m.path).read_text(encoding="utf-8")
        if text.count(m.old) != 1:
            out.append(f"{m.name}: {m.path} has {text.count(m.old)} copies of the text to replace")
    return out


def copy_code(dest: Path, root: Path = ROOT) -> Path:
    """Copy the code the suites need into ``dest`` (no caches, no outputs)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "node_modules")
    for name in COPIED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def apply(m: Mutant, dest: Path) -> None:
    """Plant the mutant in the copy at ``dest``."""
    path = dest / m.path
    text = path.read_text(encoding="utf-8")
    if text.count(m.old) != 1:
        raise ValueError(f"mutant {m.name}: the text to replace is not once in {m.path}")
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")


def run_suite(suite: str, dest: Path, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Run one suite against the copy at ``dest``: ``(caught, what failed)``."""
    env = {
        **os.environ,
        "PYTHONPATH": str(dest),
        "VIRALCHAIN_SCENARIOS": str(dest / "scenarios"),
        "PYTHONWARNINGS": "ignore",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if suite == "invariants":
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "tests/test_invariants.py",
        ]
    else:
        cmd = [sys.executable, "-m", "experiments.mutants", "--worker", suite.split(":", 1)[1]]
    try:
        p = subprocess.run(
            cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return True, f"time-out after {timeout:.0f} s"
    if p.returncode == 0:
        return False, ""
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    if suite == "invariants":
        failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
        return True, "; ".join(failed[:2]) or (lines[-1] if lines else f"exit {p.returncode}")
    rows = [ln for ln in lines if ln.startswith("{")]
    if rows:
        first = json.loads(rows[0])
        more = f" (+{len(rows) - 1} rows)" if len(rows) > 1 else ""
        return True, f"{first['case']} | {first['quantity']}{more}"
    return True, (lines[-1] if lines else f"exit {p.returncode}")[:200]


@dataclass
class Outcome:
    """What the suites did with one mutant."""

    mutant: Mutant
    caught_by: list[tuple[str, str]]
    passed: list[str]
    seconds: float

    @property
    def caught(self) -> bool:
        """Whether some suite failed."""
        return bool(self.caught_by)


#: the control: no patch (every suite must pass on the unmutated copy)
BASELINE = Mutant("baseline", "sim/__init__.py", "", "", "no bug planted (the control)")


def run_mutant(
    m: Mutant, suites: tuple[str, ...] = SUITES, all_suites: bool = False, root: Path = ROOT
) -> Outcome:
    """Plant ``m`` in a temporary copy of the code and run the suites against it."""
    t0 = time.perf_counter()
    caught, passed = [], []
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.name}-") as tmp:
        dest = copy_code(Path(tmp), root)
        if m is not BASELINE:
            apply(m, dest)
        for suite in suites:
            hit, why = run_suite(suite, dest)
            if hit:
                caught.append((suite, why))
                if not all_suites:
                    break
            else:
                passed.append(suite)
    return Outcome(m, caught, passed, time.perf_counter() - t0)


def report(outcomes: list[Outcome]) -> str:
    """The mutation report: each mutant, caught or not, by which check."""
    lines = ["| mutant | planted bug | caught | by | s |", "|---|---|---|---|---|"]
    for o in outcomes:
        by = "; ".join(f"`{s}` ({why})" if why else f"`{s}`" for s, why in o.caught_by)
        lines.append(
            f"| {o.mutant.name} | {o.mutant.what} | {'yes' if o.caught else '**no**'} | "
            f"{by or '-'} | {o.seconds:.0f} |"
        )
    n = sum(o.caught for o in outcomes)
    lines.append("")
    lines.append(f"caught {n}/{len(outcomes)} ({n / max(len(outcomes), 1):.0%})")
    return "\n".join(lines)


def _worker(check: str) -> int:
    """In the mutated copy: run one fast validation check; print failing rows as JSON."""
    from experiments.validate import run_checks, validated_params

    params = validated_params([check], fast=True)
    rows = run_checks(params, echo=False)
    failed = [r for r in rows if not r.passed]
    for r in failed:
        print(json.dumps({k: v for k, v in r.as_dict().items() if k in ("case", "quantity")}))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.mutants``: run the mutants and print the report."""
    ap = argparse.ArgumentParser(prog="python -m experiments.mutants", description=__doc__)
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--all-suites", action="store_true", help="run every suite on every mutant")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--target", type=float, default=0.9, help="share to catch (default 0.9)")
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the control run of every suite on the unmutated copy",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    return run(
        args.only,
        all_suites=args.all_suites,
        listing=args.list,
        target=args.target,
        baseline=not args.no_baseline,
    )


def run(
    only: str | None = None,
    *,
    all_suites: bool = False,
    listing: bool = False,
    target: float = 0.9,
    baseline: bool = True,
) -> int:
    """Run the selected mutants (all when ``only`` is None) and print the report."""
    if listing:
        for m in MUTANTS:
            print(f"{m.name:42s} {m.path}: {m.what}")
        return 0
    chosen = list(MUTANTS)
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        bad = [n for n in names if n not in {m.name for m in MUTANTS}]
        if bad or not names:
            for n in bad or [only]:
                print(f"viralchain: invalid mutant = {n!r}: see --list", file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m.name in names]
    problems = [p for p in stale() if p.split(":")[0] in {m.name for m in chosen}]
    if problems:
        for p in problems:
            print(f"viralchain: stale mutant {p}", file=sys.stderr)
        return 2
    if baseline:  # the suites must pass on the unmutated copy, or a catch means nothing
        o = run_mutant(BASELINE, all_suites=True)
        if o.caught:
            for suite, why in o.caught_by:
                print(f"viralchain: the unmutated code fails {suite}: {why}", file=sys.stderr)
            return 2
        print(f"baseline: every suite passes on the unmutated copy ({o.seconds:.0f} s)")
    outcomes = []
    for m in chosen:
        o = run_mutant(m, all_suites=all_suites)
        by = ", ".join(s for s, _ in o.caught_by) or "NOT CAUGHT"
        print(f"{m.name}: {by} ({o.seconds:.0f} s)", flush=True)
        outcomes.append(o)
    print()
    print(report(outcomes))
    share = sum(o.caught for o in outcomes) / max(len(outcomes), 1)
    return 0 if share >= target else 1


if __name__ == "__main__":
    sys.exit(main())
