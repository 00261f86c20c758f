"""Shortcuts of the consumers' and content's hour, ninth pass (issue 21), each against the
long way on the bytes of what it returns and the generator's state afterwards:

* ``sim.rng.stream`` of a name and an hour reads its block's table rows by name
  (``_block_rows``) once the block has a table: the same generator as numpy's
  ``SeedSequence`` gives, for every seed, name and hour (below, at and past a block's edge;
  before and after its table is made; negative or too large hours go the long way);
* ``organic_exposures`` draws a few consumers with :func:`sim.content._draws` (numpy's
  bounded draws made in Python) instead of ``rng.integers``.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.rng as rng_mod
from sim.agents.consumers import CH_ORGANIC, HOURS_PER_DAY
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.rng import seed_sequence, stream


def _numpy_way(seed: int, *identity: object) -> dict:
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *identity))).bit_generator.state


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31 + 5, 2**64 + 3])
def test_hour_streams_by_name_are_numpys(seed):
    rng_mod._block_rows.clear()
    rng_mod._tables.clear()
    rng_mod._asked.clear()
    r = np.random.default_rng(seed % 1000)
    hours = [*range(0, 40), *range(250, 262), *range(500, 520), 1023, 1024, 2**32 - 1]
    hours += r.integers(0, 3000, 60).tolist()
    # names interleaved (two seeds' rows of one name must not mix: a second seed as well)
    for _ in range(3):
        for h in hours:
            for name in ("organic", "consumers", "imitation"):
                for s in (seed, seed + 1):
                    got = stream(s, name, h).bit_generator.state
                    assert got == _numpy_way(s, name, h), (s, name, h)
    assert rng_mod._block_rows, "the hours' streams never came from rows by name"
    # the long way for what the rows do not hold: negative, too large, numpy ints, 3 parts
    for ident in (("organic", -1), ("organic", -300), ("organic", 2**32), ("organic", 2**40)):
        assert stream(seed, *ident).bit_generator.state == _numpy_way(seed, *ident)
    assert stream(seed, "organic", np.int64(5)).bit_generator.state == _numpy_way(
        seed, "organic", 5
    )
    assert stream(seed, "deliveries", 5, 9).bit_generator.state == _numpy_way(
        seed, "deliveries", 5, 9
    )


def test_hour_streams_by_name_survive_their_tables_being_dropped():
    rng_mod._block_rows.clear()
    for h in range(300):
        stream(3, "organic", h)
    rng_mod._tables.clear()  # the rows stay right: they are the tables' values
    for h in range(300):
        assert stream(3, "organic", h).bit_generator.state == _numpy_way(3, "organic", h)


def _organic_long_way(pop, hour: int, rng: np.random.Generator) -> Exposures | None:
    """``organic_exposures`` as it was before this pass (``rng.integers`` for consumers)."""
    rate = pop.cfg.organic.exposure_rate_per_day
    on_sale = pop._on_sale(hour)
    launched = on_sale.ids
    if rate <= 0 or len(launched) == 0:
        return None
    if pop.organic_multiplier is not None:
        mult = pop.organic_multiplier[launched, hour // HOURS_PER_DAY]
        per_sku = rng.poisson(rate / HOURS_PER_DAY * pop.n * mult)
        k = int(per_sku.sum())
        if k == 0:
            return None
        skus = np.repeat(launched, per_sku).astype(np.int32)
        return Exposures(rng.integers(0, pop.n, k), skus, CH_ORGANIC, -1)
    k = int(rng.poisson(rate / HOURS_PER_DAY * pop.n * len(launched)))
    if k == 0:
        return None
    if k == 1:
        consumers = np.array([rng.integers(0, pop.n)], dtype=np.int64)
    else:
        consumers = rng.integers(0, pop.n, k)
    if len(launched) == 1:
        skus = on_sale.ids32.copy() if k == 1 else np.repeat(on_sale.ids32, k)
    else:
        skus = launched[rng.integers(0, len(launched), k)].astype(np.int32)
    return Exposures(consumers, skus, CH_ORGANIC, -1)


@pytest.mark.parametrize(
    ("story", "n", "rate"),
    [
        (None, 500, 0.01),
        (None, 10_000, 0.002),
        (None, 3_000, 0.05),
        ("daily_multisku", 2_000, 0.01),
        ("two_brands", 800, 0.03),
        ("steady_seller", 5_000, 0.0005),
    ],
)
def test_organic_exposures_draw_as_numpy_draws(story, n, rate):
    cfg = sim.compose(
        story,
        [
            f"market.n_consumers={n}",
            "run.horizon_hours=48",
            f"market.organic.exposure_rate_per_day={rate}",
        ],
    )
    pop = ViralChainModel(cfg, 11).population
    sizes = set()
    for hour in range(0, 24 * 40, 7):
        for seed in range(3):
            a = np.random.default_rng([seed, hour])
            a.random(seed)  # anywhere in the stream, a half-used word or not
            a.integers(0, 5, seed % 2)
            b = np.random.default_rng([seed, hour])
            b.random(seed)
            b.integers(0, 5, seed % 2)
            got = pop.organic_exposures(hour, a)
            want = _organic_long_way(pop, hour, b)
            assert a.bit_generator.state == b.bit_generator.state
            assert (got is None) == (want is None)
            if got is None:
                continue
            sizes.add(len(got))
            for x, y in ((got.consumers, want.consumers), (got.skus, want.skus)):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
            assert (got.channel, got.kol, got.quantity) == (want.channel, want.kol, None)
    assert any(s <= 12 for s in sizes), sizes  # the shortcut was taken
