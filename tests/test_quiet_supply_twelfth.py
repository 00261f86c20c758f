"""The quiet hour's supply side, second push of the tenth pass: each shortcut held equal to
the long way on whole runs.

* the step calls a postponement factory with an empty queue only while it has modules to
  build or a credit not yet zero (``Factory.produce`` would only set both credits to zero);
* the warehouses' pick queue and the brands' backlog queues are tested for emptiness in
  line (``IdQueue.__len__``'s expression).

The long way is the model's own step with those shortcuts taken out of its source (so the
test follows the step as it is), run on the same worlds: the books must be the same bytes.
"""

from __future__ import annotations

import inspect
import textwrap

import numpy as np
import pytest

import sim
import sim.model
from sim.agents.factory import Factory
from sim.model import ViralChainModel
from sim.policies.presale import Presale
from sim.policies.rush import ThresholdRush
from sim.queues import IdQueue
from tests.conftest import SUPPLY_WORLDS, ledger_books

_SKIP = """            if f.queue or (
                f.postponement and (f.modules < f.module_target or f._module_credit or f._credit)
            ):
                f.produce(h)"""
_LONG = """            if f.queue or f.postponement:
                f.produce(h)"""


def _long_model() -> type[ViralChainModel]:
    """The model with its step as it was: every postponement factory produces every hour."""
    src = textwrap.dedent(inspect.getsource(ViralChainModel.step))
    old, new = (textwrap.indent(textwrap.dedent(x), " " * 8) for x in (_SKIP, _LONG))
    assert src.count(old) == 1, "the step no longer skips idle factories this way"
    src = src.replace(old, new)
    namespace: dict = {}
    exec(compile(src, "<long step>", "exec"), vars(sim.model), namespace)
    return type("LongModel", (ViralChainModel,), {"step": namespace["step"]})


def _books(m: ViralChainModel) -> list[bytes]:
    out = ledger_books(m)
    for f in m.factories:
        out.append(repr((f.modules, f._module_credit, f._credit, len(f.queue))).encode())
        out.append(f.fg.tobytes())
    for w in m.warehouses:
        out += [w.on_hand.tobytes(), w.reserved.tobytes(), w.pick_queue.items().tobytes()]
    for b in m.brands:
        out += [q.items().tobytes() for q in b.selling.backlog.values()]
        out.append(b.selling.backlog_units.tobytes())
    out.append(repr(list(m.events)).encode())
    return out


WORLDS = SUPPLY_WORLDS


@pytest.mark.parametrize(("story", "extra"), WORLDS)
def test_quiet_supply_shortcuts_as_the_long_way(story, extra, monkeypatch):
    """Whole runs, books and events byte for byte, the shortcuts against the long way;
    the postponement factories' branches are all reached over the worlds."""
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=480", *extra])
    seen: set[str] = set()
    real = Factory.produce

    def produce(self: Factory, hour: int) -> None:
        if self.postponement and not self.queue:
            if self.modules < self.module_target:
                seen.add("modules to build")
            elif self._module_credit or self._credit:
                seen.add("a credit left")
        return real(self, hour)

    with monkeypatch.context() as mp:
        mp.setattr(Factory, "produce", produce)
        short = ViralChainModel(cfg, 3)
        short.run()
    long = _long_model()(cfg, 3)
    long.run()
    assert _books(short) == _books(long)
    if any(f.postponement for f in short.factories):
        _SEEN.update(seen)


_SEEN: set[str] = set()


def test_the_worlds_reach_every_branch():
    """Run after the worlds above (pytest keeps the file's order): a postponement factory
    was called both with modules to build and, its modules built, with a credit left."""
    if len(_SEEN) < 2:
        pytest.skip("the worlds' test did not run in this session")
    assert {"modules to build", "a credit left"} == _SEEN


def test_queue_emptiness_in_line_is_len():
    """The warehouses' and the backlogs' in-line test of an empty queue
    (``len(q._buf) != q._head``) is ``len(q)`` of ``IdQueue`` through pushes and pops."""
    rng = np.random.default_rng(5)
    q = IdQueue()
    quantity = rng.integers(1, 4, 400)
    status = np.zeros(400, dtype=np.int64)
    seen = set()
    for _ in range(300):
        if rng.random() < 0.5:
            q.push(rng.integers(0, 400, rng.integers(0, 4)))
        else:
            status[rng.integers(0, 400, 20)] = rng.integers(0, 2, 20)
            q.pop_by_capacity(quantity, status, 0, float(rng.integers(0, 6)))
        assert (len(q._buf) != q._head) is (len(q) != 0)
        seen.add(len(q) != 0)
    assert seen == {True, False}


# ---------------------------------------------------------------- the levers' idle hours

LEVER_WORLDS = [
    (None, ["setup=flexible"]),
    (None, ["setup=flexible", "policy.rush.signal=views", "policy.rush.threshold=400"]),
    (
        None,
        [
            "setup=flexible",
            "policy.rush.signal=projected_stockout_hours",
            "policy.rush.threshold=30",
            "policy.rush.window_hours=12",
            "policy.rush.cooldown_hours=3",
            "policy.rush.max_orders=6",
        ],
    ),
    (None, ["setup=flexible", "policy.presale.trigger_cover_hours=80"]),
    ("creative_presale", ["policy/rush=threshold", "policy/safety_stock=dynamic"]),
    ("seasonal_hotspot", ["setup=flexible", "policy/sourcing=dual_index"]),
    ("test_and_learn", ["setup=flexible"]),
    ("two_brands", ["setup=flexible", "policy.rush.window_hours=24"]),
    ("head_kol_livestream", ["setup=flexible", "policy.rush.signal=projected_stockout_hours"]),
]


def _lever_run(cfg, long: bool, monkeypatch, seen: dict[str, int]) -> list[bytes]:
    """A whole run's books; the long way reads every lever's rule every hour (the kept
    keys cleared before each call, so no hour is skipped)."""
    real_update, real_watch = Presale.update, ThresholdRush.watch

    def update(self, brand, sku, hour, available=None):
        if long:
            self._idle.clear()
        elif self._idle.get(sku) == (available, brand.sensing._recorded):
            seen["presale"] = seen.get("presale", 0) + 1
        return real_update(self, brand, sku, hour, available)

    def watch(self, brand, sku, hour, available=None):
        if long:
            self._idle.clear()
        elif self._idle.get(sku) == (available, brand.sensing._recorded):
            seen["rush"] = seen.get("rush", 0) + 1
        return real_watch(self, brand, sku, hour, available)

    with monkeypatch.context() as mp:
        mp.setattr(Presale, "update", update)
        mp.setattr(ThresholdRush, "watch", watch)
        m = ViralChainModel(cfg, 11)
        m.run()
    return _books(m)


@pytest.mark.parametrize(("story", "extra"), LEVER_WORLDS)
def test_levers_idle_hours_as_the_long_way(story, extra, monkeypatch):
    """Presale and rush skip an hour that repeats a quiet one (the same units available, no
    hour recorded since): whole runs, books and events byte for byte against the rules read
    every hour, the skips reached."""
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=480", *extra])
    seen: dict[str, int] = {}
    short = _lever_run(cfg, False, monkeypatch, seen)
    assert short == _lever_run(cfg, True, monkeypatch, {})
    assert seen.get("rush", 0) > 0
    if cfg.policy.presale.name == "on" and cfg.policy.presale.open_when == "stockout":
        assert seen.get("presale", 0) > 0


@pytest.mark.parametrize(("story", "extra"), LEVER_WORLDS[:4])
def test_levers_idle_hours_in_debug_mode(story, extra):
    """Debug mode reads the rule the long way wherever a lever would skip: a run passes."""
    over = ["market.n_consumers=2000", "run.horizon_hours=300", "run.debug_invariants=true"]
    ViralChainModel(sim.compose(story, [*over, *extra]), 5).run()


@pytest.mark.parametrize("lever", ["presale", "rush"])
def test_debug_mode_catches_a_wrong_skip(lever):
    """A kept key that would skip an hour whose rule acts is caught by debug mode."""
    from sim.invariants import InvariantError

    cfg = sim.compose(
        None,
        [
            "setup=flexible",
            "market.n_consumers=2000",
            "run.debug_invariants=true",
            "policy.rush.threshold=0",  # the velocity signal fires at every rate
            "policy.presale.trigger_cover_hours=1000000",  # opens at any demand
        ],
    )
    m = ViralChainModel(cfg, 5)
    b = m.brands[0]
    m.run_for(1)
    sku = b._watched[0][0]
    while b.sensing.demand_rate(sku, m.hour, 24) <= 0:  # some demand in the day's window
        m.run_for(1)
    policy = b.presale if lever == "presale" else b.rush
    if lever == "presale":
        b.selling.presale_open[sku] = False
    policy._idle[sku] = (b.network.available_total(sku), b.sensing._recorded)
    with pytest.raises(InvariantError, match="skipped wrongly"):
        m._check_books()


def test_an_open_presale_is_never_skipped():
    """The kept key skips only a closed presale: an open one whose key matches (the same
    units available, no hour recorded since) still closes when its stock is back (debug
    mode's ``idle_holds`` passes any open presale, so it could not see this)."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000"])
    m = ViralChainModel(cfg, 5)
    b = m.brands[0]
    m.run_for(30)
    sku = b._watched[0][0]
    assert isinstance(b.presale, Presale) and b.presale.params.open_when == "stockout"
    b.selling.presale_open[sku] = True
    b.selling.backlog_units[sku] = 0
    plenty = 10**9  # far above twice the trigger's cover at any rate
    b.presale._idle[sku] = (plenty, b.sensing._recorded)
    b.presale.update(b, sku, m.hour, plenty)
    assert not b.selling.presale_open.item(sku)  # closed: "stock back"


# ---------------------------------------------------------------- working capital's sum


class _WipAsItWas(ViralChainModel):
    """Working capital with the factories' unused inputs summed as they were (the kept
    value as ``unused_inputs_value`` returns it, a numpy scalar where it is one), hour by
    hour next to the model's own."""

    def __init__(self, *args, **kwargs):
        self.hours: list[tuple[bytes, bytes]] = []
        self.numpy_scalars = 0  # hours summing a kept value that is a numpy scalar
        super().__init__(*args, **kwargs)

    def _track_working_capital(self) -> None:
        super()._track_working_capital()
        now = self.working_capital.tobytes()
        paid, refunds, delivered = (
            self.ledger.money[k] for k in ("paid", "cancel_refunds", "delivered_value")
        )
        old = np.zeros(len(self.brands))
        for b, brand in enumerate(self.brands):
            wip_value = 0.0
            for f in brand.factories:
                wip_value += f.unused_inputs_value()
                self.numpy_scalars += isinstance(f.unused_inputs_value(), np.floating)
            advances = paid.item(b) - refunds.item(b) - delivered.item(b)
            old[b] = self._stock_value[b] + wip_value - advances
        self.hours.append((now, old.tobytes()))
        for f in self.factories:
            if f._unused_value is not None:
                assert type(f._unused_float) is float
                assert (
                    np.float64(f._unused_float).tobytes() == np.float64(f._unused_value).tobytes()
                )


@pytest.mark.parametrize(("story", "extra"), WORLDS)
def test_working_capital_sum_as_it_was(story, extra):
    """The unused inputs summed as Python floats give working capital's bytes, every hour,
    in worlds with modules, materials and several factories."""
    cfg = sim.compose(story, ["market.n_consumers=2000", "run.horizon_hours=400", *extra])
    m = _WipAsItWas(cfg, 4)
    m.run()
    assert m.hours and all(now == old for now, old in m.hours)


def test_the_worlds_sum_numpy_scalars():
    """The worlds above reach the case the Python float changes: some hours summed a kept
    value that is a numpy scalar (run here on their own, whichever tests ran before)."""
    scalars = 0
    for story, extra in WORLDS:
        cfg = sim.compose(story, ["market.n_consumers=2000", "run.horizon_hours=400", *extra])
        m = _WipAsItWas(cfg, 4)
        m.run()
        scalars += m.numpy_scalars
    assert scalars > 0


# ---------------------------------------------------------------- the feedback's book


@pytest.mark.parametrize("seed", range(40))
def test_demand_lost_of_a_few_products_is_the_arrays_book(seed):
    """``Feedback.add_demand_lost_of`` (Python floats, the counts' true division) adds the
    bytes ``add_demand_lost`` adds, hour after hour, on counts small and large (up to 2**40),
    none, late only or quality only, and books already holding values."""
    from sim.feedback import Feedback

    r = np.random.default_rng(seed)
    P = int(r.integers(1, 7))
    cfg = sim.compose().market.feedback
    a, b = Feedback(cfg, P), Feedback(cfg, P)
    start = r.random((3, P)) * 10.0 ** r.integers(-3, 4)
    for fb in (a, b):
        fb.demand_lost[:] = start
    for _ in range(20):
        counts = r.integers(0, 2 ** int(r.integers(1, 41)), (2, P))
        counts[:, r.random(P) < 0.3] = 0
        counts[0, r.random(P) < 0.2] = 0
        counts[1, r.random(P) < 0.2] = 0
        for fb in (a, b):
            fb.disappointed[:] = counts
        n = int(r.integers(1, 5))
        skus = r.integers(0, P, n)
        lost = r.random(n) * 10.0 ** r.integers(-4, 1)
        a.add_demand_lost(skus, lost)
        per_product: dict[int, float] = {}
        for s, x in zip(skus.tolist(), lost.tolist(), strict=True):
            per_product[s] = per_product.get(s, 0.0) + x
        b.add_demand_lost_of(per_product)
        assert a.demand_lost.tobytes() == b.demand_lost.tobytes()
