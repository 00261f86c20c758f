"""An hour of a world of one product decided with each exposure's channel and KOL coded by its
batch (``WishDecisions._one_product_rows``, ``_Coded``), the groups of a consumer exposed more
than once found from the positions that repeat (``_Repeats``, on Python numbers for a few,
numpy for many) and the books summed as running sums over every chance: it must give exactly
what the general way gives (the same wishes, the bytes of every book, the generator's state
afterwards), over varied worlds and hours of batches."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.conftest import decided_hour, wish_books
from tests.test_one_product import N, _world

BIG = 1 << 30


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


def _batches(model: ViralChainModel, seed: int) -> list[Exposures]:
    """An hour's batches: a few to many exposures, no consumer twice, a few twice, or many."""
    r = np.random.default_rng(3000 + seed)
    out = []
    for _ in range(int(r.integers(1, 7))):
        k = int(r.choice([1, 5, 40, 300, 900]))
        channel = int(r.choice([CH_VIDEO, CH_LIVE, CH_ORGANIC, CH_WOM]))
        kol = int(r.integers(-1, len(model.kol_trust))) if channel in (CH_VIDEO, CH_LIVE) else -1
        out.append(Exposures(r.integers(0, N, k), np.zeros(k, np.int32), channel, kol))
    consumers = np.concatenate([b.consumers for b in out])
    kind = seed % 4
    if kind == 0:  # no consumer twice
        fresh = r.choice(N, len(consumers), replace=len(consumers) > N)
    elif kind == 1:  # a few consumers twice or more
        fresh = r.choice(N, len(consumers), replace=False) if len(consumers) <= N else consumers
        again = r.random(len(fresh)) < 0.01
        fresh[again] = fresh[r.integers(0, len(fresh), int(again.sum()))]
    elif kind == 2:  # many, in groups of up to hundreds
        fresh = r.choice(r.integers(0, N, max(1, len(consumers) // 4)), len(consumers))
    else:  # one consumer very often
        fresh = consumers.copy()
        fresh[r.random(len(fresh)) < 0.5] = int(r.integers(0, N))
    a = 0
    for b in out:
        b.consumers[:] = fresh[a : a + len(b)]
        a += len(b)
    return out


@pytest.mark.parametrize("seed", range(64))
def test_an_hour_coded_by_batch_decides_as_the_general_way(base_model, seed, monkeypatch):
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    if seed % 16 == 14:  # not on sale yet: no wish
        world.sellable_from = np.array([hour + 3], np.int64)
    fresh = _batches(world, seed)
    if sum(len(b) for b in fresh) <= wishes._SMALL_BATCH:  # the coded way from 33 on
        fresh.append(Exposures(np.arange(40) * 7 % N, np.zeros(40, np.int32), CH_LIVE, 0))
    if seed % 11 == 10:  # NaN wish probabilities (some) take lexsort's choice
        c = np.concatenate([b.consumers for b in fresh])
        world.population.price_sensitivity[c[::3]] = np.nan
    monkeypatch.setattr(wishes, "_FEW_CONTINUED", (0, 16, BIG)[seed % 3])
    got = {}
    for name, m, short in (("long", world, False), ("short", copy.deepcopy(world), True)):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", short)
        g = stream(seed, "coded")
        got[name] = decided_hour(m, hour, fresh, g)
    assert got["short"] == got["long"]


@pytest.mark.parametrize("seed", range(12))
def test_an_hour_in_chunks_decides_as_the_general_way(base_model, seed, monkeypatch):
    """A large hour decided in chunks (``_WISH_CHUNK`` small here), each chunk by the
    one-product way keeping its share of the books: every exposure a content view, none, or
    some; the same wishes, books and generator state as the general way."""
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    fresh = _batches(world, seed)
    kind = seed % 3
    for b in fresh:
        if kind == 0:  # every exposure a content view
            b.channel = (CH_VIDEO, CH_LIVE)[len(b) % 2]
        elif kind == 1:  # none
            b.channel, b.kol = (CH_ORGANIC, CH_WOM)[len(b) % 2], -1
    fresh.append(Exposures(np.arange(400) * 3 % N, np.zeros(400, np.int32), fresh[0].channel, -1))
    monkeypatch.setattr(wishes, "_WISH_CHUNK", 128)
    got = {}
    for name, m, short in (("long", world, False), ("short", copy.deepcopy(world), True)):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", short)
        g = stream(seed, "chunks")
        got[name] = decided_hour(m, hour, fresh, g)
    assert got["short"] == got["long"]


@pytest.mark.parametrize("seed", range(40))
def test_repeats_found_on_python_numbers_are_numpys(seed):
    """_Repeats' groups (members, sizes) and choice of the first highest, on Python
    numbers and by numpy, against lexsort's on every group (ties, NaN, -0.0)."""
    r = np.random.default_rng(seed)
    n = int(r.choice([2, 3, 10, 60, 500]))
    flat = np.sort(r.integers(0, max(1, n // int(r.choice([1, 2, 5]))), n))
    p = r.choice([0.0, -0.0, 0.5, 1.0], n) if seed % 3 == 0 else r.random(n)
    if seed % 4 == 1:
        p[r.random(n) < 0.2] = np.nan
    repeated = np.flatnonzero(flat[1:] == flat[:-1])
    lex = np.lexsort((-p, flat))
    head = np.ones(n, bool)
    head[1:] = flat[lex][1:] != flat[lex][:-1]
    expect = np.zeros(n, bool)
    expect[lex[head]] = True
    got = []
    for few in (0, BIG):
        wishes._FEW_CONTINUED, saved = few, wishes._FEW_CONTINUED
        try:
            if len(repeated) == 0:
                got.append(np.ones(n, bool).tolist())
                continue
            g = wishes._Repeats(repeated)
            sizes = np.diff(np.append(np.flatnonzero(head), n))
            assert np.array_equal(g.sizes, sizes[sizes > 1])
            assert np.array_equal(g.members, np.flatnonzero(np.repeat(sizes > 1, sizes)))
            counts = np.zeros(n, np.uint16)
            g.add_sizes(counts)
            assert counts.tolist() == np.repeat(sizes - 1, sizes).tolist()
            keep = np.ones(n, bool)
            keep[g.losers(p)] = False
            got.append(keep.tolist())
        finally:
            wishes._FEW_CONTINUED = saved
    assert got[0] == got[1] == expect.tolist()


@pytest.mark.parametrize("seed", range(24))
def test_an_hour_through_decide_books_the_views_as_the_general_way(base_model, seed, monkeypatch):
    """The one-product way books the hour's content views itself (regions read in ascending
    consumer order): the ledger's books, the population's and the feedback's bytes and the
    wishes' outcome are the general way's."""
    books = []
    for short in (False, True):
        monkeypatch.setattr(wishes, "_ONE_PRODUCT", short)
        m = _world(base_model, seed)
        hour = 30 + seed
        fresh = _batches(m, seed)
        if sum(len(b) for b in fresh) <= wishes._SMALL_BATCH:
            fresh.append(Exposures(np.arange(40) * 7 % N, np.zeros(40, np.int32), CH_VIDEO, 0))
        m.population.decide(hour, fresh)
        units = [m.ledger.units[f].tobytes() for f in sorted(m.ledger.units)]
        flows = [m.ledger.hour[f].tobytes() for f in sorted(m.ledger.hour)]
        books.append([m.ledger.hour_block.tobytes(), *units, *flows, *wish_books(m)])
    assert books[0] == books[1]


def test_exp_of_a_python_float_is_the_arrays():
    """The single exposure's price factor takes numpy's exp of a Python float: the same bits
    as numpy's exp over an array (its vector loop), which math.exp does not always give."""
    r = np.random.default_rng(5)
    x = np.concatenate(
        [
            r.normal(0.0, 3.0, 200_000),
            r.uniform(-745.0, 710.0, 50_000),
            r.normal(0.0, 1e-8, 10_000),
            [0.0, -0.0, 709.78, -745.1, -708.4, 1e-300, -1e-300, 5e-324],
        ]
    )
    with np.errstate(over="ignore"):
        whole = np.exp(x)
        one = np.array([float(np.exp(v)) for v in x.tolist()])
    assert whole.tobytes() == one.tobytes()
