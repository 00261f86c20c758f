"""The consumers' hour with fewer numpy and Python calls (issue 21, eleventh pass): each
shortcut gives exactly what the way it replaces gives (rows' bytes and dtypes, every book,
the generator's state afterwards)."""

from __future__ import annotations

import copy
import types

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT, CH_VIDEO
from sim.rng import stream
from tests.conftest import decided_hour, wish_books
from tests.test_one_product import N, _world
from tests.test_wishes_coded import _batches

BIG = 1 << 30


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


@pytest.mark.parametrize("seed", range(24))
def test_the_wishes_batches_by_bisection_are_searchsorteds(base_model, seed, monkeypatch):
    """A coded hour's few wishes find their batch (channel, KOL) on Python numbers
    (``_FEW_WISHES``): the same rows as ``np.searchsorted`` over the batches' ends, with
    wishes at a batch's first and last exposure among them (every exposure a wish)."""
    world = _world(base_model, seed)
    hour = 30 + seed
    fresh = _batches(world, seed)
    if seed % 2:  # every exposure a sure wish: batches' edges are wishes
        world.appeal = world.appeal * 1e9
        world.population.state[:] = 0
    if sum(len(b) for b in fresh) <= wishes._SMALL_BATCH:
        fresh.append(Exposures(np.arange(40) * 7 % N, np.zeros(40, np.int32), CH_LIVE, 1))
    got = []
    for few in (0, BIG):
        monkeypatch.setattr(wishes, "_FEW_WISHES", few)
        got.append(decided_hour(copy.deepcopy(world), hour, fresh, stream(seed, "few")))
    assert got[0] == got[1]
    if seed % 2 and seed % 9 != 7:  # (an appeal of -0.0 at seed % 9 == 7: no wish)
        assert got[0][0] is not None


@pytest.mark.parametrize("seed", range(12))
def test_the_hours_exposures_counted_once_are_wishes_own(base_model, seed, monkeypatch):
    """``decide`` counts the hour's fresh exposures once and gives ``_wishes`` that count:
    a spy on ``_wishes`` during whole hours (several batches, empty ones, revisits, which
    are not fresh) sees ``total`` equal to the exposures of the batches it is given."""
    world = _world(base_model, seed)
    hour = 30 + seed
    r = np.random.default_rng(500 + seed)
    pop = world.population
    if seed % 3:  # revisits come back this hour: not fresh, not counted
        k = int(r.integers(1, 30))
        back = r.choice(N, k, replace=False).astype(np.int64)
        qty = r.integers(1, 4, k).astype(np.int64)
        pop.state[back, 0] = wishes.WAITING
        world.ledger.intents_waiting(np.zeros(k, np.int64), qty)
        pop._schedule(hour, Exposures(back, np.zeros(k, np.int64), CH_REVISIT, -1, quantity=qty))
    empty = Exposures(np.zeros(0, np.int64), np.zeros(0, np.int32), CH_LIVE, 0)
    fresh = _batches(world, seed)
    fresh.insert(int(r.integers(0, len(fresh) + 1)), empty)
    fresh.append(Exposures(np.arange(3) * 11 % N, np.zeros(3, np.int32), CH_VIDEO, -1))
    seen: list[tuple[int, int | None]] = []
    own = consumers.ConsumerPopulation._wishes

    def spy(self, hour, fresh, rng, views=False, total=None):
        seen.append((sum(len(b.consumers) for b in fresh), total))
        return own(self, hour, fresh, rng, views, total)

    monkeypatch.setattr(consumers.ConsumerPopulation, "_wishes", spy)
    pop.decide(hour, fresh)
    assert len(seen) == 1
    # (the hour's organic and word-of-mouth exposures come with the batches given)
    assert seen[0][0] == seen[0][1] >= sum(len(b.consumers) for b in fresh)


@pytest.mark.parametrize("mean", [1.0, 1.15, 3.0])
def test_the_wishes_units_are_one_plus_the_draw(base_model, mean):
    """``_with_quantities``: one unit plus a Poisson draw of the mean's excess (int64), one
    unit without an excess; the generator drawn as before."""
    m = copy.deepcopy(base_model)
    pop = m.population
    plain = pop.cfg.consumer.model_copy(update={"units_per_order_mean": mean})
    pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
    rows = (np.arange(500), np.zeros(500, np.int64))
    g, h = stream(7, "units"), stream(7, "units")
    got = pop._with_quantities(rows, g)
    want = np.ones(500, dtype=np.int64)
    if mean > 1.0:
        want += h.poisson(mean - 1.0, 500)
    assert got[2].dtype == np.int64 and got[2].tobytes() == want.tobytes()
    assert got[3].dtype == np.bool_ and not got[3].any()
    assert g.bit_generator.state == h.bit_generator.state


@pytest.mark.parametrize("seed", range(16))
def test_the_views_of_content_batches_first_are_booked_as_masked(base_model, seed, monkeypatch):
    """The one-product way books the hour's content views per region from the content
    batches' consumers when they come first (no mask), from every exposure when all are
    views, and masked otherwise: the ledger's books are the general way's."""
    # the batches' order: content first or not; every exposure a view when seed % 4 == 0
    order = np.random.default_rng(seed).permutation(3).tolist() if seed % 4 else [0, 1]
    kinds = [(CH_VIDEO, 0), (CH_LIVE, 1), (CH_ORGANIC, -1)]
    books = []
    for short in (False, True):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", short)
        m = _world(base_model, seed)
        fresh = []
        for j in order:
            channel, kol = kinds[j]
            k = 30 + 17 * j
            c = (np.arange(k) * (5 + j) + seed) % N
            fresh.append(Exposures(c, np.zeros(k, np.int32), channel, kol))
        m.population.decide(30 + seed, fresh)
        flows = [m.ledger.hour[f].tobytes() for f in sorted(m.ledger.hour)]
        units = [m.ledger.units[f].tobytes() for f in sorted(m.ledger.units)]
        books.append([*flows, *units, *wish_books(m)])
    assert books[0] == books[1]


@pytest.mark.parametrize("seed", range(40))
def test_a_few_integers_by_value_are_the_sorts(seed, monkeypatch):
    """``_positions_by_value`` of a few integers on Python numbers: each distinct value
    (a Python number, ascending) with its positions (ascending) as the stable sort's."""
    r = np.random.default_rng(seed)
    n = int(r.integers(1, 17))
    dtype = (np.int64, np.int32, np.uint16, np.int8)[seed % 4]
    values = r.integers(0 if seed % 4 == 2 else -3, 4 + seed, n).astype(dtype)
    got = {}
    for few in (0, BIG):
        monkeypatch.setattr(consumers, "_FEW_VALUES", few)
        got[few] = [(v, type(v), at.tolist()) for v, at in consumers._positions_by_value(values)]
    assert got[0] == got[BIG]
    assert [v for v, _, _ in got[0]] == sorted(set(values.tolist()))


@pytest.mark.parametrize("seed", range(12))
def test_a_few_offers_answers_are_counted_as_numpy_counts(seed, monkeypatch):
    """``_observe_page`` of one product counts a few offers' answers on Python numbers: the
    feedback is told what ``np.count_nonzero`` counts."""
    r = np.random.default_rng(seed)
    outcome = r.choice([consumers.ACCEPTED, consumers.SOLD_OUT, consumers.TOO_SLOW], 1 + seed)
    outcome = outcome.astype(np.int8)
    told = []

    class Feedback:
        def observe_offers_of(self, *args):
            told.append(args)

    class Model:
        n_sku = 1
        feedback = Feedback()

    for few in (0, BIG):
        monkeypatch.setattr(consumers, "_FEW_ANSWERS", few)
        consumers._observe_page(Model(), np.zeros(len(outcome), np.int64), outcome)
    assert told[0] == told[1]
    assert all(type(x) is int for x in told[1])


@pytest.mark.parametrize("n", [1023, 1024, 1025, 4096, 18_000, 65_536])
@pytest.mark.parametrize("bound", [2, 1_000, 100_000, 1 << 16, 1 << 20, (1 << 22) + 1])
def test_consumers_sorted_packed_in_32_bits_are_the_stable_sorts(n, bound):
    """``_ascending(..., narrow=True)`` sorts consumer and position packed in 32 bits when
    they fit (from ``_NARROW_FROM`` exposures): the stable order and the sorted consumers
    (as intp), with repeats, at the edge of 32 bits and past it (then 64 bits)."""
    r = np.random.default_rng(n + bound)
    consumers = r.integers(0, bound, n)
    consumers[: n // 5] = consumers[n // 5 : 2 * (n // 5)]  # repeats
    consumers[-1] = bound - 1  # the largest consumer
    want = np.argsort(consumers, kind="stable")
    order, flat = wishes._ascending(consumers, bound, narrow=True)
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(flat, consumers[want])
    assert order.dtype == np.intp and flat.dtype == np.intp  # (unpacked as intp, twelfth pass)
    wide = wishes._ascending(consumers, bound)
    np.testing.assert_array_equal(wide[0], want)
    assert wide[0].dtype == np.int64


@pytest.mark.parametrize("seed", range(12))
def test_warnings_of_one_product_write_its_column_as_the_2d_index(base_model, seed):
    """``_warn`` in a world of one product reads and writes the product's column with 1-D
    indices: the states the 2-D index gives (only consumers in state NONE become WARNED,
    a consumer warned twice once), the generator drawn alike."""
    m = _world(base_model, seed)
    pop = m.population
    r = np.random.default_rng(seed)
    k = 40
    ids = np.arange(k, dtype=np.int64)
    # (an order book of the orders' buyers and products only: what _warn reads)
    orders = m.orders = types.SimpleNamespace(
        consumer=r.integers(0, N, k), sku=np.zeros(k, np.int32)
    )
    cfg = m.feedback.cfg.model_copy(update={"warn_probability": 0.7})
    m.feedback.cfg = cfg
    want = pop.state.copy()
    g, h = stream(seed, "warn"), stream(seed, "warn")
    rows, targets = pop._reach(orders.consumer[ids], 0.7, h)
    t_skus = orders.sku[ids][rows]
    fresh = want[targets, t_skus] == wishes.NONE
    want[targets[fresh], t_skus[fresh]] = wishes.WARNED
    pop._warn(ids, g)
    assert len(targets) > 0
    assert pop.state.tobytes() == want.tobytes()
    assert g.bit_generator.state == h.bit_generator.state


@pytest.mark.parametrize("seed", range(6))
def test_lost_sales_of_one_product_book_each_cause_as_its_units(base_model, seed):
    """``_lose`` in a world of one product adds each cause's units as one integer sum: the
    counters ``np.add.at`` of every lost wish gives (no cause, one, all three)."""
    m = copy.deepcopy(base_model)
    r = np.random.default_rng(seed)
    k = int(r.integers(0, 30))
    reasons = r.choice([consumers.SOLD_OUT, consumers.TOO_SLOW, consumers.LEFT][: 1 + seed % 3], k)
    qty = r.integers(1, 5, k).astype(np.int64)
    skus = np.zeros(k, np.int64)
    want = {f: m.ledger.units[f].copy() for f in consumers.LOST_CAUSES.values()}
    for cause, field in consumers.LOST_CAUSES.items():
        np.add.at(want[field], skus[reasons == cause], qty[reasons == cause])
    m.population._lose(skus, r.integers(0, N, k), qty, reasons)
    for field, units in want.items():
        assert m.ledger.units[field].tobytes() == units.tobytes()


@pytest.mark.parametrize("seed", range(30))
def test_the_first_highest_of_groups_is_the_reduceats(seed):
    """``_first_highest_of_groups`` (pairs compared directly, longer runs by reduceat on their
    values alone): each run's first highest, as ``_first_highest`` finds it, with ties,
    zeros of both signs, only pairs, no pair, one long run."""
    r = np.random.default_rng(seed)
    k = int(r.integers(1, 400))
    if seed % 5 == 0:
        sizes = np.full(k, 2)
    elif seed % 5 == 1:
        sizes = r.integers(3, 9, k)
    elif seed % 5 == 2:
        sizes = np.array([int(r.integers(2, 3000))])
    else:
        sizes = r.choice([2, 2, 2, 2, 3, 4, 7], k)
    sizes = sizes.astype(np.intp)
    n = int(sizes.sum())
    ps = r.choice([0.0, -0.0, 0.25, 0.5, 1.0], n) if seed % 3 == 0 else r.random(n)
    starts = sizes.cumsum() - sizes
    want = wishes._first_highest(ps, starts, sizes)
    got = wishes._first_highest_of_groups(ps, starts, sizes)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_many_repeats_found_from_their_cuts_are_the_groups(seed, monkeypatch):
    """``_Repeats`` of more than ``_FEW_CONTINUED`` repeated positions (numpy): the groups'
    sizes and members as on Python numbers, and the same losers."""
    r = np.random.default_rng(seed)
    n = int(r.choice([40, 300, 5000]))
    flat = np.sort(r.integers(0, max(2, n // int(r.choice([1, 2, 6]))), n))
    repeated = (flat[1:] == flat[:-1]).nonzero()[0]
    if len(repeated) == 0:
        return
    p = r.choice([0.0, -0.0, 0.5, 1.0], n) if seed % 2 else r.random(n)
    got = []
    for few in (0, BIG):
        monkeypatch.setattr(wishes, "_FEW_CONTINUED", few)
        g = wishes._Repeats(repeated)
        got.append((list(map(int, g.sizes)), list(map(int, g.members)), g.losers(p).tolist()))
    assert got[0] == got[1]


def _run_books(m: ViralChainModel) -> list[bytes]:
    """What a run books: the ledger's counters, the feedback's books, the consumers' states
    and kept units, the returns and checks due."""
    pop, fb = m.population, m.feedback
    scheduled = sorted(
        (h, [(b.consumers.tolist(), b.channel) for b in v]) for h, v in pop._scheduled.items()
    )
    return [
        *(m.ledger.units[f].tobytes() for f in sorted(m.ledger.units)),
        *(m.ledger.money[f].tobytes() for f in sorted(m.ledger.money)),
        fb.good.tobytes(),
        fb.bad.tobytes(),
        fb.disappointed.tobytes(),
        pop.state.tobytes(),
        pop.kept_units.tobytes(),
        repr(sorted((h, [a.tolist() for a in v]) for h, v in pop._returns_due.items())).encode(),
        repr(scheduled).encode(),
    ]


def _counted(f, calls: list):
    """``f``, its calls' first argument's lengths appended to ``calls``."""

    def counted(*args):
        calls.append(len(args[0]))
        return f(*args)

    return counted


@pytest.mark.parametrize("defects", [False, True])
def test_parcels_of_one_product_as_scalars_book_as_arrays(defects, monkeypatch):
    """``receive_parcels`` in a world of one product (``_ONE_PARCELS``): kept units as one
    integer sum, the return factor as a scalar, no defect drawn against a stock hiding none
    (the number drawn all the same): a run books what the array way books, without
    defective units and with many reaching buyers (none caught at the factory)."""
    overrides = ["setup=flexible", "market.n_consumers=30000", "run.horizon_hours=600"]
    if defects:
        overrides += ["supply.quality.defect_rate=0.4", "supply.quality.detection_rate=0.0"]
    cfg = sim.compose(None, overrides)
    got, found = [], []
    for flag in (False, True):
        monkeypatch.setattr(consumers, "_ONE_PARCELS", flag)
        m = ViralChainModel(cfg, 5)
        assert m.n_sku == 1
        m.ledger.defective_found = _counted(m.ledger.defective_found, found)
        m.run_for(600)
        got.append(_run_books(m))
    assert got[0] == got[1]
    assert m.ledger.units["delivered"].sum() > 0
    assert bool(found) == defects


@pytest.mark.parametrize("seed", range(6))
def test_an_hour_before_the_sale_looks_up_no_novelty(base_model, seed, monkeypatch):
    """``_one_product_rows`` of an hour before the product is on sale: no wish, its content
    views booked all the same, and neither the novelty nor the sensitivities looked up (no
    number of theirs is used)."""
    world = _world(base_model, seed)
    hour = 30 + seed
    world.sellable_from = np.array([hour + 1 + seed], np.int64)
    if seed % 3:  # at the reference price: where the novelty would come in the first factors
        world.price_ratio = np.ones_like(world.price_ratio)
    fresh = [b for b in _batches(world, seed) if len(b)]
    fresh.append(Exposures(np.arange(5) * 13 % N, np.zeros(5, np.int32), CH_LIVE, 0))
    pop = world.population

    def looked_up(*args):
        raise AssertionError("looked up for a product not on sale")

    monkeypatch.setattr(pop, "_novelty_row", looked_up)
    monkeypatch.setattr(pop, "_finite_sensitivity", looked_up)
    before = int(world.ledger.hour["views"].sum())
    assert pop._one_product_rows(hour, fresh, stream(seed, "sale"), True) is None
    assert int(world.ledger.hour["views"].sum()) > before
