"""Streams an hour often draws nothing or a double from, left unmade
(``sim.rng.LazyStream``): organic discovery's Poisson draw decided from the stream's first
double, and a quiet hour's wish draws worked out without the consumers' generator. Each is
held to the generator's own draws: the same numbers and the same state afterwards."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import sim
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.rng import _PYTHON_DRAWS, LazyStream, stream

N = 600


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose("two_brands", [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 5)


def test_poisson_gives_zero_exactly_when_the_first_double_is_at_most_exp_minus_lambda():
    """numpy's Poisson draw below a mean of 10, at the boundary too: means whose exp(-λ)
    lies within a few ulps of the first double, on both sides."""
    checked = {True: 0, False: 0}
    for p in range(300):
        first = LazyStream(4, "poisson", p).first_double()
        base = -math.log(first)
        lams = [base, 0.01 + p / 40.0]
        x = base
        for _ in range(3):
            x = math.nextafter(x, math.inf)
            lams.append(x)
        x = base
        for _ in range(3):
            x = math.nextafter(x, 0.0)
            lams.append(x)
        for lam in lams:
            if not 0 < lam < 10:
                continue
            zero = first <= math.exp(-lam)
            assert zero == (stream(4, "poisson", p).poisson(lam) == 0), (p, lam)
            checked[zero] += 1
    assert min(checked.values()) > 100


def _with_rate(m: ViralChainModel, rate: float, products: int) -> ViralChainModel:
    m = copy.deepcopy(m)
    pop = m.population
    m.sellable_from = np.zeros(products, np.int64)
    pop._sale_span = None
    update = {"exposure_rate_per_day": rate, "memory": None}
    pop.cfg = pop.cfg.model_copy(update={"organic": pop.cfg.organic.model_copy(update=update)})
    pop.organic_multiplier = None
    return m


@pytest.mark.parametrize("products", [1, 3])
@pytest.mark.parametrize("mean", [0.05, 0.7, 3.0, 9.9, 12.0])
def test_organic_discovery_from_a_lazy_stream_draws_as_from_the_generator(
    base_model, products, mean
):
    """The hour's exposures are those drawn from the generator itself, hour after hour, for
    means on both sides of numpy's switch at 10; hours without exposures make no generator."""
    m = _with_rate(base_model, 24 * mean / (N * products), products)
    pop = m.population
    unmade = 0
    for hour in range(200):
        lazy = LazyStream(8, "organic-lazy", hour)
        got = pop.organic_exposures(hour, lazy)
        want = pop.organic_exposures(hour, stream(8, "organic-lazy", hour))
        if want is None:
            assert got is None
            unmade += lazy._generator is None
        else:
            np.testing.assert_array_equal(got.consumers, want.consumers)
            np.testing.assert_array_equal(got.skus, want.skus)
            assert got.consumers.dtype == want.consumers.dtype
    if mean < 1:
        assert unmade > 50
    if mean >= 10:
        assert unmade == 0


@pytest.mark.parametrize("seed", range(40))
def test_a_few_wishes_drawn_from_a_lazy_stream_are_the_generators(base_model, seed):
    """``_few_wish_rows`` and ``_wishes`` given the hour's stream as a LazyStream: the same
    wishes, books and quantities as given the generator, and the generator made afterwards
    continues where the generator given left off."""
    from tests.test_few_exposures import _exposures, _state, _world

    world = _world(base_model, seed)
    if seed % 2:  # quantities drawn after the wishes
        more = world.population.cfg.consumer.model_copy(update={"units_per_order_mean": 1.7})
        world.population.cfg = world.population.cfg.model_copy(update={"consumer": more})
    hour = int(np.random.default_rng(seed).integers(0, 400))
    cons, skus, channels, kols = _exposures(world, seed)
    lists = (cons.tolist(), skus.tolist(), channels.tolist(), kols.tolist())
    a, b = world, copy.deepcopy(world)
    gen, lazy = stream(seed, "lazy-few", hour), LazyStream(seed, "lazy-few", hour)
    got_gen = a.population._few_wish_rows(hour, *lists, gen, None)
    got_lazy = b.population._few_wish_rows(hour, *lists, lazy, None)
    assert got_lazy == got_gen
    assert _state(b) == _state(a)
    assert lazy.generator.bit_generator.state == gen.bit_generator.state

    a, b = copy.deepcopy(world), copy.deepcopy(world)
    batches = [
        Exposures(cons[i : i + 3], skus[i : i + 3], int(channels[i]), int(kols[i]))
        for i in range(0, len(cons), 3)
    ]
    gen, lazy = stream(seed, "lazy-wishes", hour), LazyStream(seed, "lazy-wishes", hour)
    want = a.population._wishes(hour, batches, gen)
    got = b.population._wishes(hour, batches, lazy)
    if want is None:
        assert got is None
        # nothing wished from a few chances: no generator made
        assert lazy._generator is None or len(cons) > _PYTHON_DRAWS
    else:
        for x, y in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
    assert _state(b) == _state(a)
    assert lazy.generator.bit_generator.state == gen.bit_generator.state
