"""An hour in which few consumers are exposed twice (the usual hour of a large audience):
the one-product way works out the most persuasive exposure only for the groups of more than
one (``wishes._Repeats``, whose choice is held to lexsort's, ties and NaN, in
tests/test_wishes_coded.py); it must give what the general way gives, on the wishes, the
bytes of every book and the generator's state."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.conftest import wish_books
from tests.test_one_product import N, _world


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


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
    assert wish_books(short) == wish_books(long)
    assert r_short.bit_generator.state == r_long.bit_generator.state
