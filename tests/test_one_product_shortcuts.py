"""Three shortcuts of the one-product way (``WishDecisions._one_product_chances``):

* at the reference price (price ratio exactly 1) it skips the price factor: ``exp(-s·0.0)``
  is exactly 1.0 for a finite sensitivity ``s``, and ``p · 1.0`` is ``p``
  (``WishDecisions._finite_sensitivity``); an infinite or NaN sensitivity makes the factor
  NaN, so then it is not skipped;
* the consumers' states by their highest (one reduction): none but NONE, some bought or
  waiting and none warned (no mask of the warned), or some warned;
* the demand lost is not summed when nothing can be lost: a rating multiplier of at least 1,
  none warned, every first factor and every entry of the repeat boost's table at least 0
  (``WishDecisions._unsigned_boost``); a negative appeal, or a boost above 1 with a count
  that wrapped to 0, make some loss positive.

Held to the general way (``_wish_rows`` with ``_ONE_PRODUCT`` off): the same wishes, the same
bytes in every book, the same generator state afterwards."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT, CH_VIDEO
from sim.rng import stream
from tests.conftest import decided_hour, offer_books, wish_books

N = 1_500


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 4)
    assert m.n_sku == 1
    return m


# the sensitivities' edge: none, NaN, +inf, -inf (for the minimum), and a large finite one
EDGES = [None, np.nan, np.inf, -np.inf, 3e38]


def _world(model: ViralChainModel, seed: int) -> ViralChainModel:
    m = copy.deepcopy(model)
    r = np.random.default_rng(seed)
    pop = m.population
    pop.exposure_count[:] = r.choice([0, 1, 4, 9_999], size=(N, 1)).astype(np.uint16)
    states = ([0, 0, 0, 3], [0, 0, 0, 1, 2], [0, 0, 0, 1, 2, 3], [0])[seed % 4]
    pop.state[:] = r.choice(states, size=(N, 1)).astype(np.int8)
    m.appeal = m.appeal * r.uniform(0.5, 40.0)
    if seed % 7 == 3:  # negative wish probabilities: a rating above 1 loses some
        m.appeal = -m.appeal
    elif seed % 7 == 5:
        m.appeal = np.array([-0.0])
    fb = m.feedback
    fb._multiplier = np.array([(0.9, 1.0, 1.0, 1.1, 1.7)[seed % 5]])  # the rating's
    if seed % 6 == 1:  # a boost above 1, counts that wrap to 0: a negative boost
        plain = pop.cfg.consumer.model_copy(update={"repeat_exposure_boost": 2.5})
        pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
        pop.exposure_count[r.integers(0, N, 200)] = 65_535
    m.price_ratio = np.array([1.0 if seed % 8 else r.choice([0.8, 1.2])])
    edge = EDGES[seed % len(EDGES)]
    if edge is not None:
        pop.price_sensitivity[r.integers(0, N, 3)] = edge
    return m


def _exposures(seed: int):
    r = np.random.default_rng(500 + seed)
    k = int(r.choice([40, 300, 2000]))
    cons = r.integers(0, N, k).astype(np.int64)
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, 0, -1).astype(np.int32)
    return cons, channels, kols


@pytest.mark.filterwarnings(
    "ignore:invalid value encountered in multiply:RuntimeWarning"
)  # NaN and infinite sensitivities on purpose: inf·0 is NaN, as the test wants
@pytest.mark.parametrize("seed", range(60))
def test_the_price_factor_at_the_reference_price(base_model, seed, monkeypatch):
    world = _world(base_model, seed)
    cons, channels, kols = _exposures(seed)
    skus = np.zeros(len(cons), np.int64)
    long, short = world, copy.deepcopy(world)
    got = {}
    for name, m, switch in (("long", long, False), ("short", short, True)):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", switch)
        g = stream(seed, "price")
        idx = m.population._wish_rows(20, cons, skus, channels, kols, g, None)
        got[name] = (sorted(idx.tolist()), wish_books(m), g.bit_generator.state)
    assert got["short"] == got["long"]
    if world.price_ratio[0] == 1.0:
        edge = EDGES[seed % len(EDGES)]
        finite = edge is None or np.isfinite(edge)
        assert short.population._finite_sensitivity() == finite


@pytest.mark.filterwarnings(
    "ignore:invalid value encountered in multiply:RuntimeWarning"
)  # NaN and infinite sensitivities on purpose: inf·0 is NaN, as the test wants
@pytest.mark.parametrize("seed", range(30))
def test_an_hour_at_the_reference_price_decides_as_the_general_way(base_model, seed, monkeypatch):
    """Through ``_wishes`` (the hour's batches coded, ``_one_product_rows``)."""
    world = _world(base_model, seed)
    r = np.random.default_rng(seed)
    fresh = [
        Exposures(r.integers(0, N, n), np.zeros(n, np.int32), ch, kol)
        for n, ch, kol in ((200, CH_LIVE, 0), (60, CH_VIDEO, -1), (30, CH_ORGANIC, -1))
    ]
    got = {}
    for name, switch in (("long", False), ("short", True)):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", switch)
        got[name] = decided_hour(copy.deepcopy(world), 30, fresh, stream(seed, "hour"))
    assert got["short"] == got["long"]


def test_a_replaced_column_is_looked_at_again(base_model):
    pop = copy.deepcopy(base_model).population
    assert pop._finite_sensitivity()
    column = pop.price_sensitivity.copy()
    column[7] = np.nan
    pop.price_sensitivity = column
    assert not pop._finite_sensitivity()
    pop.price_sensitivity = np.ones(N, np.float32)
    assert pop._finite_sensitivity()


@pytest.mark.parametrize("seed", range(4))
def test_an_offer_with_its_regions_and_platforms_read_is_the_offer(seed):
    """``decide`` hands ``_offer_one`` the wishes' regions and platforms it read for the
    demand's books: the same outcomes, states, adopters, orders and ledger as reading them
    again, and the arrays given left as they were."""
    from sim.agents.consumers import ACCEPTED

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, seed)
    for _ in range(30 + 5 * seed):  # some hours in: stock, backlog and presale as they come
        m.step()
    r = np.random.default_rng(seed)
    k = int(r.integers(1, 400))
    consumers = r.integers(0, 2000, k)
    channels = r.integers(0, len(m.channel_patience), k).astype(np.int8)
    kols = r.integers(-1, 3, k).astype(np.int32)
    qty = r.integers(1, 4, k).astype(np.int64)
    results = []
    for given in (False, True):
        w = copy.deepcopy(m)
        pop = w.population
        known = (pop.region[consumers], pop.platform[consumers]) if given else None
        kept = None if known is None else [a.copy() for a in known]
        out = pop._offer_one(w.hour, 0, consumers.copy(), channels, kols, qty.copy(), known)
        if known is not None:
            assert all((a == b).all() for a, b in zip(known, kept, strict=True))
        results.append(offer_books(w, out))
    assert results[0] == results[1]
    assert ACCEPTED in np.frombuffer(results[0][0], np.int8)


def _hour_books(m: ViralChainModel) -> list:
    """The bytes of what an hour's ``decide`` books: the consumers' states and adopters, the
    orders, the ledger's counts and money, the wishes' books (:func:`wish_books`)."""
    pop, orders, ledger = m.population, m.orders, m.ledger
    return [
        pop.state.tobytes(),
        pop.adopters.tobytes(),
        orders.n,
        *(getattr(orders, c)[: orders.n].tobytes() for c in orders._cols),
        *(a.tobytes() for a in ledger.hour.values()),
        *(a.tobytes() for a in ledger.units.values()),
        *(a.tobytes() for a in ledger.money.values()),
        *(a.tobytes() for a in ledger.platform_units.values()),
        *wish_books(m),
    ]


@pytest.mark.parametrize("seed", range(6))
def test_an_hour_with_revisits_reads_the_offers_regions_again(seed, monkeypatch):
    """On an hour with revisits the regions and platforms ``decide`` read for the demand's
    books are the first-time wishes' only, so the offer reads every wish's again: one
    product's ``decide`` with revisits due (and fresh exposures or none) gives what it gives
    when ``_offer`` always reads them again: the same states, orders, ledger and wishes'
    books, and the same generators' states afterwards."""
    import sim.agents.consumers as consumers

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, seed)
    for _ in range(30 + 5 * seed):  # some hours in: stock, backlog and presale as they come
        m.step()
    hour, pop = m.hour, m.population
    r = np.random.default_rng(seed)
    k = int(r.integers(2, 80))
    back = r.choice(2000, k, replace=False).astype(np.int64)
    qty = r.integers(1, 4, k).astype(np.int64)
    pop.state[back, 0] = wishes.WAITING
    m.ledger.intents_waiting(np.zeros(k, np.int64), qty)
    pop._schedule(hour, Exposures(back, np.zeros(k, np.int64), CH_REVISIT, -1, quantity=qty))
    n = (0, 40, 400)[seed % 3]
    content = [Exposures(r.integers(0, 2000, n), np.zeros(n, np.int32), CH_LIVE, 0)] if n else []
    offer, make = consumers.ConsumerPopulation._offer, consumers.stream
    got = []
    for long in (True, False):
        w = copy.deepcopy(m)
        made: list[np.random.Generator] = []

        def kept_stream(*key, made=made):
            g = make(*key)
            made.append(g)
            return g

        def reading_again(self, hour, consumers, skus, channels, kols, qty, known=None):
            return offer(self, hour, consumers, skus, channels, kols, qty, None)

        with monkeypatch.context() as mp:
            mp.setattr(consumers, "stream", kept_stream)
            if long:
                mp.setattr(consumers.ConsumerPopulation, "_offer", reading_again)
            w.population.decide(hour, copy.deepcopy(content))
        got.append((_hour_books(w), [g.bit_generator.state for g in made]))
        assert w.orders.n > m.orders.n  # some wishes became orders
    assert got[0] == got[1]
