"""A world of one product decides an hour's wishes with fewer numpy calls
(``ConsumerPopulation._one_product_wish_rows``): scalars for the product's factors, tables
per channel, state and KOL, no groups when no consumer is exposed twice, the books handed
over as numbers. It must give exactly what the general way (``_wish_rows``) gives: the same
wishes, the same bytes in every book and the same generator state afterwards."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.conftest import wish_books

N = 2_000


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    m = ViralChainModel(cfg, 3)
    assert m.n_sku == 1
    return m


def _world(model: ViralChainModel, seed: int) -> ViralChainModel:
    """A copy of the model with random exposure counts, states, reviews and trusts; some
    with every consumer in state NONE, some with the rating's multiplier exactly 1, one of
    them both (nothing lost), some with an appeal of -0.0."""
    m = copy.deepcopy(model)
    r = np.random.default_rng(seed)
    pop = m.population
    counts = r.choice([0, 1, 2, 5, 9_999, 10_000, 65_534, 65_535], size=(N, 1))
    pop.exposure_count[:] = counts.astype(np.uint16)
    pop.state[:] = r.choice([0, 0, 0, 1, 2, 3], size=(N, 1)).astype(np.int8)
    fb = m.feedback
    fb.good[:] = r.integers(0, 20, 1)
    fb.bad[:] = r.integers(0, 20, 1)
    fb.disappointed[:] = r.integers(0, 3, (2, 1)) * (r.random((2, 1)) < 0.6)
    fb.demand_lost[:] = r.random((3, 1)) * (r.random((3, 1)) < 0.5)
    fb.wishes_per_view[:] = r.random(1)
    fb._multiplier = None
    m.appeal = m.appeal * r.uniform(0.5, 40.0)  # some chances clipped at 1
    m.kol_trust = r.uniform(0.2, 1.5, len(m.kol_trust))
    m.price_ratio = np.array([r.choice([0.7, 1.0, 1.3])])
    if seed % 3 == 0:
        plain = pop.cfg.consumer.model_copy(update={"exposure_fatigue": 0.0})
        pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
    if seed % 5 == 4:  # warnings count for nothing
        fb.cfg = fb.cfg.model_copy(update={"warning_effect": 0.0})
    if seed % 5 == 1:  # every consumer in state NONE (the rating alone takes demand)
        pop.state[:] = 0
    if seed % 10 == 6 or seed % 13 == 12:  # ratings off: the multiplier is exactly 1
        fb.cfg = fb.cfg.model_copy(update={"ratings": False})
        fb._multiplier = None
    if seed % 9 == 7:  # an appeal of -0.0: every wish probability -0.0 (sums of zeros)
        m.appeal = np.array([-0.0])
    return m


def _exposures(model: ViralChainModel, seed: int):
    r = np.random.default_rng(1000 + seed)
    k = int(r.choice([33, 40, 97, 256, 300, 1500, 5000]))
    if seed % 2:  # no consumer twice
        cons = r.choice(N, min(k, N), replace=False)
        k = len(cons)
    else:
        cons = r.choice(r.integers(0, N, max(1, k // 3)), k)
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    if seed % 7 == 5:  # no content view
        channels[:] = CH_ORGANIC
    elif seed % 7 == 2:  # every exposure a content view
        channels = r.choice([CH_VIDEO, CH_LIVE], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(model.kol_trust), k), -1)
    return cons.astype(np.int64), np.zeros(k, np.int64), channels, kols.astype(np.int32)


@pytest.mark.parametrize("seed", range(48))
def test_one_product_decides_as_the_general_way(base_model, seed, monkeypatch):
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    if seed % 8 == 6:  # not on sale yet: no wish
        world.sellable_from = np.array([hour + 3], np.int64)
    cons, skus, channels, kols = _exposures(world, seed)
    if seed % 11 == 10:  # NaN wish probabilities (some) take lexsort's choice
        world.population.price_sensitivity[cons[::3]] = np.nan
    if seed % 9 == 7:  # every chance a content view of probability -0.0: its sum is +0.0
        channels[:] = CH_VIDEO
        world.population.state[:] = 0
    long, short = world, copy.deepcopy(world)
    r_long, r_short = stream(seed, "one"), stream(seed, "one")
    monkeypatch.setattr(wishes, "_ONE_PRODUCT", False)  # the general way, not the short one
    got_long = long.population._wish_rows(hour, cons, skus, channels, kols, r_long, None)
    got_short = short.population._one_product_wish_rows(hour, cons, channels, kols, r_short, None)
    assert (got_short is None) == (got_long is None)
    if got_long is not None:
        assert got_short.tolist() == got_long.tolist()
    assert wish_books(short) == wish_books(long)
    assert r_short.bit_generator.state == r_long.bit_generator.state


@pytest.mark.parametrize("seed", range(24))
def test_one_product_keeps_a_chunks_books_as_the_general_way(base_model, seed, monkeypatch):
    """A chunk of a large hour: its share of the books (_ConversionBooks) continues an
    earlier chunk's as the general way's does."""
    world = _world(base_model, seed)
    cons, skus, channels, kols = _exposures(world, seed)
    if seed % 11 == 10:
        world.population.price_sensitivity[cons[::3]] = np.nan
    long, short = world, copy.deepcopy(world)
    got = {}
    for name, m, switch in (("long", long, False), ("short", short, True)):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", switch)
        b = wishes._ConversionBooks(1)
        earlier = wishes._Chances(
            np.zeros(2, np.int64), np.array([True, False]), np.array([0.3, 0.1]), np.ones(2)
        )
        b.add(np.zeros(2, np.int64), np.array([True, False]), earlier)
        g = stream(seed, "c")
        idx = m.population._wish_rows(10, cons, skus, channels, kols, g, b)
        got[name] = (
            idx.tolist(),
            b.views.tobytes(),
            b.kept.tobytes(),
            b.lost.tobytes(),
            wish_books(m),
            g.bit_generator.state,
        )
    assert got["short"] == got["long"]


@pytest.mark.parametrize("seed", range(4))
def test_an_hour_of_one_product_takes_the_short_way(base_model, seed, monkeypatch):
    """decide on batches: the same books as the general way, through the short one."""
    from sim.content import Exposures

    books, calls = [], []
    original = consumers.ConsumerPopulation._one_product_chances

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(consumers.ConsumerPopulation, "_one_product_chances", counting)
    monkeypatch.setattr(wishes, "_K", None)  # (the Python path: the kernel's, test_wishes_kernel)
    for short in (False, True):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", short)
        m = _world(base_model, seed)
        r = np.random.default_rng(seed)
        batches = [
            Exposures(r.integers(0, N, n), np.zeros(n, np.int32), ch, kol)
            for n, ch, kol in ((50, CH_VIDEO, 0), (300, CH_LIVE, 1), (20, CH_WOM, -1))
        ]
        m.population.decide(30, batches)
        units = [m.ledger.units[f].tobytes() for f in sorted(m.ledger.units)]
        books.append([m.ledger.hour_block.tobytes(), *units, *wish_books(m)])
    assert books[0] == books[1]
    assert calls == [1]


@pytest.mark.parametrize("seed", range(20))
def test_the_page_of_one_product_is_observed_as_the_arrays_way(seed):
    """_observe_page with one product hands the feedback numbers
    (``Feedback.observe_offers_of``): the same shares as the counts' arrays give."""
    from sim.feedback import Feedback

    r = np.random.default_rng(seed)
    cfg = sim.compose().market.feedback
    a, b = Feedback(cfg, 1), Feedback(cfg, 1)
    before = r.random()
    for fb in (a, b):
        fb.soldout_share[:] = before
        fb.slow_share[:] = before * 0.5
    n = int(r.integers(0, 40)) if seed % 4 else 0  # some hours without first-time wishes
    outcome = r.choice([consumers.ACCEPTED, consumers.SOLD_OUT, consumers.TOO_SLOW], n)
    skus = np.zeros(n, np.int64)
    a.observe_offers(
        np.bincount(skus, minlength=1),
        np.bincount(skus[outcome == consumers.SOLD_OUT], minlength=1),
        np.bincount(skus[outcome == consumers.TOO_SLOW], minlength=1),
    )

    class _Model:
        n_sku = 1
        feedback = b

    consumers._observe_page(_Model(), skus, outcome.astype(np.int8))
    assert a.soldout_share.tobytes() == b.soldout_share.tobytes()
    assert a.slow_share.tobytes() == b.slow_share.tobytes()
