"""An hour in which few consumers are exposed twice (the usual hour of a large audience):
the one-product way works out the most persuasive exposure only for the groups of more than
one (``wishes._first_best``); it must give what the general way gives, on the wishes, the
bytes of every book and the generator's state, and what lexsort picks (ties, NaN)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.test_one_product import N, _state, _world

BIG = 1 << 30


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


def _lexsort_best(flat: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The long way: per distinct ``flat``, ascending, the first exposure of its highest
    ``p`` (``np.lexsort((-p, flat))`` keeping each group's head), as a position in the
    stable sorted order of ``flat``."""
    lex = np.lexsort((-p, flat))
    head = np.ones(len(flat), bool)
    head[1:] = flat[lex][1:] != flat[lex][:-1]
    position = np.empty(len(flat), np.intp)
    position[np.argsort(flat, kind="stable")] = np.arange(len(flat))
    return position[lex[head]]


@pytest.mark.parametrize("seed", range(40))
def test_first_best_of_few_repeats_is_lexsorts(seed, monkeypatch):
    r = np.random.default_rng(seed)
    n = int(r.choice([2, 5, 40, 300, 3_000]))
    flat = r.integers(0, 10 * n, n)
    twice = r.random(n) < r.choice([0.0, 0.02, 0.1, 0.5])
    flat[twice] = flat[r.integers(0, n, int(twice.sum()))]  # some consumers again
    p = r.choice([0.0, 0.25, 0.5, 1.0], n) if seed % 3 == 0 else r.random(n)  # ties
    if seed % 4 == 1:  # NaN, in groups of one and of more
        p[r.random(n) < 0.1] = np.nan
    expect = _lexsort_best(flat, p)
    for few in (0, 4, BIG):
        monkeypatch.setattr(wishes, "_FEW_REPEATED", few)
        g = wishes._Groups(flat, 10 * n)
        got = wishes._first_best(p[g.order], g, flat)
        assert got.tolist() == expect.tolist()


def _few_repeats(model: ViralChainModel, seed: int):
    r = np.random.default_rng(2000 + seed)
    k = int(r.choice([33, 60, 300, 1_500]))
    cons = r.choice(N, k, replace=False)
    again = r.random(k) < r.choice([0.01, 0.05, 0.2])
    cons[again] = cons[r.integers(0, k, int(again.sum()))]
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(model.kol_trust), k), -1)
    return cons.astype(np.int64), np.zeros(k, np.int64), channels, kols.astype(np.int32)


@pytest.mark.parametrize("seed", range(36))
def test_an_hour_of_few_repeats_decides_as_the_general_way(base_model, seed, monkeypatch):
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    cons, skus, channels, kols = _few_repeats(world, seed)
    if seed % 6 == 5:  # NaN wish probabilities (some)
        world.population.price_sensitivity[cons[::5]] = np.nan
    books = None if seed % 4 else wishes._ConversionBooks(1)  # a chunk of a large hour, or not
    long, short = world, copy.deepcopy(world)
    long_books, short_books = books, copy.deepcopy(books)
    r_long, r_short = stream(seed, "few"), stream(seed, "few")
    monkeypatch.setattr(wishes, "_ONE_PRODUCT", False)
    got_long = long.population._wish_rows(hour, cons, skus, channels, kols, r_long, long_books)
    got_short = short.population._one_product_wish_rows(
        hour, cons, channels, kols, r_short, short_books
    )
    assert (got_short is None) == (got_long is None)
    if got_long is not None:
        assert sorted(got_short.tolist()) == sorted(got_long.tolist())
    if books is not None:
        for name in ("views", "kept", "lost"):
            assert getattr(short_books, name).tobytes() == getattr(long_books, name).tobytes()
    assert _state(short) == _state(long)
    assert r_short.bit_generator.state == r_long.bit_generator.state
