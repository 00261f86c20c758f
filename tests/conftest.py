"""Shared fixtures: small worlds composed from the real scenarios, and cached runs."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent

# compositions are remembered (experiments.compose.ComposeCache): in a directory of this
# session, inherited by the commands the tests start, not in the user's cache
if "VIRALCHAIN_COMPOSE_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="viralchain-compose-")
    os.environ["VIRALCHAIN_COMPOSE_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
VIRALCHAIN = str(Path(sys.executable).with_name("viralchain"))

# a reduced flagship: 5,000 consumers (supply scales with them), 20 days, all else as shipped
SMALL = ["market.n_consumers=5000", "run.horizon_hours=480"]


def small(*overrides: str, story: str | None = None) -> sim.Config:
    """A small world: the flagship story at 5,000 consumers and 20 days, plus overrides."""
    return sim.compose(story, [*SMALL, *overrides])


@functools.lru_cache(maxsize=16)
def cached_run(setup: str, seed: int = 1, extra: tuple[str, ...] = ()) -> sim.RunResult:
    """A run of the small world (debug invariants on), cached per worker."""
    cfg = small(f"setup={setup}", "run.debug_invariants=true", *extra)
    return sim.run(cfg, seed=seed, keep_model=True)


@pytest.fixture(params=["rigid", "flexible"])
def setup_run(request) -> sim.RunResult:
    """The small flagship under each setup."""
    return cached_run(request.param)


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter of this environment, from the project's root, with
    ``env`` added to the environment; output captured as text."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
    )


def cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real ``viralchain`` command."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [VIRALCHAIN, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def random_event_plan(rng, most_events: int):
    """An event plan (``sim.policies.events.EventPlan``, without a model) holding up to
    ``most_events - 1`` random known events of two SKUs: for the tests that hold the plan's
    sums and marks to the long way (:func:`event_due`)."""
    from sim.policies.events import EventPlan, KnownEvent

    plan = EventPlan.__new__(EventPlan)
    plan.events = [
        KnownEvent(
            int(rng.integers(0, 300)),
            int(rng.integers(0, 2)),
            float(rng.random() * 10 ** rng.integers(0, 4)),
            int(rng.integers(0, 200)),
        )
        for _ in range(int(rng.integers(0, most_events)))
    ]
    return plan


def event_due(e, rate: float) -> float:
    """When a known event's stock must arrive, the long way (``EventPlan._due``)."""
    return e.hour if rate <= 0 else e.hour - max(0.0, e.units / rate - 24)


# stories whose supply side takes every lever's path (presale, rush, dynamic safety stock,
# dual sourcing, rivals): the supply tests' worlds (a story and its overrides)
SUPPLY_WORLDS = [
    ("seasonal_hotspot", ["setup=flexible"]),
    ("creative_presale", []),
    ("creative_presale", ["policy/rush=threshold", "policy/safety_stock=dynamic"]),
    ("test_and_learn", ["setup=flexible"]),
    ("head_kol_livestream", ["setup=flexible", "policy/sourcing=dual_index"]),
    ("two_brands", ["setup=flexible"]),
]


def ledger_books(m) -> list[bytes]:
    """The bytes of a model's accounts: the ledger's units and money, working capital and its
    peak, the recorder's table and the order book's filled rows (the supply tests' books)."""
    led = m.ledger
    out = [led.units[f].tobytes() for f in led.UNIT_FIELDS]
    out += [led.money[f].tobytes() for f in led.MONEY_FIELDS]
    out += [m.working_capital.tobytes(), m.peak_working_capital.tobytes()]
    out.append(m.recorder.data.tobytes())
    book = m.orders
    out += [book._cols[c][: book.n].tobytes() for c in book._cols]
    return out


def wish_books(m) -> list[bytes]:
    """The bytes of what deciding wishes books: the consumers' exposure counts and states,
    and the feedback's wishes per view, demand lost and views lost."""
    fb = m.feedback
    return [
        m.population.exposure_count.tobytes(),
        m.population.state.tobytes(),
        fb.wishes_per_view.tobytes(),
        fb.demand_lost.tobytes(),
        fb.views_lost.tobytes(),
    ]


def offer_books(m, out) -> list:
    """The bytes of what an offer (``_offer``'s outcomes ``out``) books: the outcomes, the
    consumers' states and adopters, the orders and the ledger's hour."""
    pop, orders = m.population, m.orders
    return [
        out.tobytes(),
        pop.state.tobytes(),
        pop.adopters.tobytes(),
        orders.n,
        *(getattr(orders, c)[: orders.n].tobytes() for c in orders._cols),
        *(a.tobytes() for a in m.ledger.hour.values()),
    ]


def decided_hour(m, hour: int, fresh: list, g) -> tuple:
    """``_wishes`` of an hour's batches (a copy of ``fresh``) on ``m`` with generator ``g``:
    the rows' bytes and dtypes, the books (:func:`wish_books`) and the generator's state
    afterwards, to compare two ways of deciding."""
    import copy

    rows = m.population._wishes(hour, copy.deepcopy(fresh), g)
    return (
        None if rows is None else [a.tobytes() for a in rows] + [a.dtype.str for a in rows],
        wish_books(m),
        g.bit_generator.state,
    )


class AtSpy:
    """A ufunc's stand-in that records each ``at`` call in ``calls`` and does it with
    ``ufunc``: set in place of ``ints.add._ufunc`` (monkeypatch) to see whether the books'
    short paths were taken (no call) or numpy's ``ufunc.at`` (a call)."""

    def __init__(self, ufunc, calls: list):
        self.ufunc, self.calls = ufunc, calls

    def at(self, *args):
        self.calls.append(args)
        self.ufunc.at(*args)


def ab(*args: str, out: Path, env: dict | None = None, timeout: int = 600):
    """``python -m benchmarks.ab ARGS --out OUT`` from the project root (``env``: the whole
    environment of the command, or this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.ab", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
