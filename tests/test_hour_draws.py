"""A quiet hour's draws on Python numbers (``sim/rng.py``: :func:`hour_outputs`,
:func:`poisson_integers`, :class:`LazyStream`; the tables of
``sim/agents/consumer_tables.py``) and their users in the consumers' hour (organic discovery
without its generator, the few-exposure way's first numbers): the same numbers numpy's
generator of the stream gives, the generator left in the same state, and the same books,
wishes and orders as the numpy way's, over varied worlds."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.consumer_tables as consumer_tables
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
import sim.rng as rng
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT, CH_VIDEO, CH_WOM
from sim.rng import LazyStream, generator, hour_outputs, poisson_integers, stream
from tests.conftest import offer_books, wish_books

_BOUNDS = [2, 3, 6, 7, 600, 10_000, 2**31, 2**31 + 1, 3 * 2**30, 2**32 - 1]


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**40 + 7, 2**64 + 3])
def test_hours_first_outputs_are_numpys(seed):
    """Every hour's first outputs, all hours at once, are its generator's ``random_raw``
    (hours from 0, across a block of 256, near 2**32; names of every stream kind)."""
    for name, start, count in (
        ("organic", 0, 300),
        ("consumers", 250, 20),
        ("x", 2**32 - 5, 5),
        ("consumers", 7, 1),
    ):
        table = hour_outputs(seed, name, start, count, 5)
        assert table.shape == (count, 5) and table.dtype == np.uint64
        for h in range(start, start + count, 1 + count // 40):
            raw = stream(seed, name, h).bit_generator.random_raw(5).tolist()
            assert table[h - start].tolist() == raw
    for start, count in ((-1, 3), (2**32 - 2, 3)):
        with pytest.raises(ValueError, match="outside"):
            hour_outputs(seed, "organic", start, count, 2)


@pytest.mark.parametrize("seed", range(12))
def test_poisson_then_integers_are_numpys(seed):
    """``k = poisson(lam)`` then ``k`` bounded integers, scalar or as an array: the same
    numbers as numpy's (means 1e-9 to just below 10, bounds up to 2**32 - 1, rejections
    near 2**31 and 2**32); None when the outputs given run out."""
    r = np.random.default_rng(seed)
    sizes, short = set(), 0
    for i in range(600):
        root, hour = int(r.integers(0, 2**40)), int(r.integers(0, 3000))
        lam = float((r.uniform(0, 10), 0.8333333333333334, 9.999999999, 1e-9, 4.0)[i % 5])
        n = int(r.choice(_BOUNDS)) if i % 3 else int(r.integers(2, 2**32))
        given = int(r.integers(1, 12))
        g = stream(root, "organic", hour)
        outputs = g.bit_generator.random_raw(given).tolist()
        g = stream(root, "organic", hour)
        k = int(g.poisson(lam))
        if i % 2:
            want = [int(g.integers(0, n)) for _ in range(k)]
        else:
            want = g.integers(0, n, k).tolist() if k else []
        got = poisson_integers(outputs, lam, n)
        used = stream(root, "organic", hour)
        used.bit_generator.random_raw(given)
        if got is None:  # the outputs given did not reach as far as numpy's draws
            short += 1
            assert g.bit_generator.state["state"] != used.bit_generator.state["state"]
            continue
        sizes.add(k)
        assert got == want
    assert {0, 1, 2, 3} <= sizes and short > 10


def test_poisson_integers_refuses_what_numpy_draws_otherwise():
    """Outside ``0 < lam < 10`` and 32-bit bounds :func:`poisson_integers` gives None
    whatever its caller checks: numpy's PTRS method from a mean of 10 (seed 0's organic hour
    259 at 10: 12 draws, where the multiplication method would give 3), no draw at 0, an
    error at NaN or below 0, 64-bit draws beyond 32 bits; a bound of 1: ``k`` zeros, drawn
    from nothing, as numpy's; a mean just below 10: numpy's numbers."""
    outputs = stream(0, "organic", 259).bit_generator.random_raw(64).tolist()
    assert stream(0, "organic", 259).poisson(10.0) == 12
    for lam in (10.0, 30.0, float("nan"), -1.0, 0.0, -0.0, float("inf"), 1e300):
        assert poisson_integers(outputs, lam, 600) is None
    for n in (2**32, 2**33, 0, -3):
        assert poisson_integers(outputs, 4.0, n) is None
    below = float(np.nextafter(10.0, 0.0))
    checked = 0
    for hour in range(400):
        g = stream(3, "organic", hour)
        outputs = g.bit_generator.random_raw(64).tolist()
        g = stream(3, "organic", hour)
        n = (1, 2, 600, 2**32 - 1)[hour % 4]
        k = int(g.poisson(below if hour % 2 else 9.5))
        want = g.integers(0, n, k).tolist() if k else []
        got = poisson_integers(outputs, below if hour % 2 else 9.5, n)
        if got is not None:
            checked += 1
            assert got == want
        if n == 1 and got is not None:  # integers(0, 1, k) draws nothing
            once = stream(3, "organic", hour)
            once.poisson(below if hour % 2 else 9.5)
            assert once.bit_generator.state == g.bit_generator.state
            assert got == [0] * k
            assert poisson_integers(outputs[: k + 1], below if hour % 2 else 9.5, 1) == got
    assert checked > 300


_BIG = ((1 << 128) - 1, 1 << 128)


def _pcg_big(state: int, inc: int) -> int:
    return (state * rng._PCG_MULT + inc) % _BIG[1]


def test_pcg_step_is_the_128_bit_product():
    """:func:`sim.rng._pcg_step` on uint64 halves against Python's big integers: halves at
    their edges (0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1), increments 1 and 2**128 - 1,
    states whose middle sum of 32-bit products has a low word of all ones (where a carry
    off by one shows) and random ones."""
    edges = [0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    r = np.random.default_rng(17)
    los = [*edges, *r.integers(0, 2**64, 40, dtype=np.uint64).tolist()]
    l0, l1 = rng._PCG_MULT & 0xFFFFFFFF, (rng._PCG_MULT >> 32) & 0xFFFFFFFF
    inverse = pow(l0, -1, 1 << 32)
    for a0 in [0, 1, 2**32 - 1, *r.integers(0, 2**32, 30).tolist()]:  # mid's low word all ones
        base = (a0 * l0 >> 32) + (a0 * l1 & 0xFFFFFFFF)
        a1 = ((0xFFFFFFFF - base) * inverse) % (1 << 32)
        lo = a1 << 32 | a0
        mid = base + (a1 * l0 & 0xFFFFFFFF)
        assert mid & 0xFFFFFFFF == 0xFFFFFFFF
        los.append(lo)
    his = [*edges, *r.integers(0, 2**64, 8, dtype=np.uint64).tolist()]
    incs = [
        1,
        _BIG[0],
        *(int(x) << 64 | int(y) for x, y in r.integers(0, 2**64, (6, 2), np.uint64)),
    ]
    pairs = [(h, lo) for h in his for lo in los]
    hi_a = np.array([h for h, _ in pairs], np.uint64)
    lo_a = np.array([lo for _, lo in pairs], np.uint64)
    for inc in incs:
        inc_hi = np.full(len(pairs), inc >> 64, np.uint64)
        inc_lo = np.full(len(pairs), inc & (2**64 - 1), np.uint64)
        high, low = rng._pcg_step(hi_a, lo_a, inc_hi, inc_lo)
        got = [h << 64 | lo for h, lo in zip(high.tolist(), low.tolist(), strict=True)]
        assert got == [_pcg_big(h << 64 | lo, inc) for h, lo in pairs]


def test_lazy_stream_leaves_numpys_state():
    """A :class:`LazyStream`'s Python uniforms, then its generator: the numbers and the
    state of numpy's generator after the same draws (uniforms after the generator is made,
    or more than its outputs, are the generator's)."""
    table = hour_outputs(9, "consumers", 0, 200, 4).tolist()
    for hour in range(200):
        n = 1 + hour % 5
        g = stream(9, "consumers", hour)
        lazy = LazyStream(table[hour], 9, "consumers", hour)
        assert lazy.uniforms(n) == g.random(n).tolist()
        if hour % 3 == 0:
            assert lazy.uniforms(2) == g.random(2).tolist()  # the generator's own
        if hour % 2:
            assert generator(lazy).poisson(1.5, 3).tolist() == g.poisson(1.5, 3).tolist()
        assert generator(lazy).bit_generator.state == g.bit_generator.state
        assert generator(lazy) is generator(lazy)
        firsts = LazyStream(table[hour], 9, "consumers", hour)
        numpys = stream(9, "consumers", hour)
        assert [firsts.first(), firsts.first()] == [numpys.random(), numpys.random()]
        assert generator(firsts).bit_generator.state == numpys.bit_generator.state
        assert LazyStream([], 9, "consumers", hour).first() == stream(9, "consumers", hour).random()
        fresh = LazyStream(table[hour], 9, "consumers", hour)
        made = generator(fresh)  # made before any draw: the stream itself
        assert made.bit_generator.state == stream(9, "consumers", hour).bit_generator.state
        assert fresh.uniforms(1) == stream(9, "consumers", hour).random(1).tolist()
    g = np.random.default_rng(1)
    assert generator(g) is g


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose("two_brands", ["market.n_consumers=600", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 5)


@pytest.mark.parametrize("products", [1, 1, 3])
@pytest.mark.parametrize("n", [2, 600, 10_000, 2**32 - 1, 2**32, 2**33])
def test_organic_discovery_without_its_generator(base_model, products, n, monkeypatch):
    """Organic discovery's hour drawn on Python numbers (``organic_exposures(hour)``) gives
    the exposures of the hour's stream drawn by numpy, whatever the mean (some at 10 and
    above: numpy's other method), the audience (beyond 32-bit bounds: numpy) or how many are
    drawn (above ``_PY_ORGANIC``: numpy)."""
    m = copy.deepcopy(base_model)
    pop = m.population
    pop.n = n
    m.sellable_from = np.zeros(products, np.int64)
    pop._sale_span = None
    sizes = set()
    for hour in range(90):
        lam = (0.9, 1.9, 0.4, 3.0, 8.3, 9.99, 10.0, 14.0, 1e-6)[hour % 9] / products
        rate = {"exposure_rate_per_day": 24 * lam / n}
        pop.cfg = pop.cfg.model_copy(update={"organic": pop.cfg.organic.model_copy(update=rate)})
        got = pop.organic_exposures(hour)
        want = pop.organic_exposures(hour, stream(m.seed, "organic", hour))
        if want is None:
            assert got is None
            continue
        sizes.add(len(want))
        for a, b in ((got.consumers, want.consumers), (got.skus, want.skus)):
            assert a.tobytes() == b.tobytes() and a.dtype == b.dtype
        assert (got.channel, got.kol) == (want.channel, want.kol) == (CH_ORGANIC, -1)
    assert {1, 2, 3, 4, 12} <= sizes  # (4 below a mean of 2: more than a row of 6 holds)


@pytest.mark.parametrize("threshold", [consumers._PY_ORGANIC, 11.0, float("inf")])
def test_organic_discovery_at_means_of_10_and_above_is_numpys(base_model, threshold, monkeypatch):
    """Worlds whose organic mean is 10 or more (numpy's PTRS method) or just below: the
    hour's exposures are the hour's stream's, with the caller's threshold as it is or
    raised (to 11, or none): :func:`poisson_integers` refuses those means itself."""
    monkeypatch.setattr(consumers, "_PY_ORGANIC", threshold)
    m = copy.deepcopy(base_model)
    pop = m.population
    m.sellable_from = np.zeros(1, np.int64)
    pop._sale_span = None
    rates = []  # rates whose hourly means over the audience are these, or the nearest
    for target in (float(np.nextafter(10.0, 0.0)), 10.0, 10.5, 30.0):
        near = [24 * target / pop.n] * 2
        for i in range(40):  # the floats next to it, below and above
            near.append(float(np.nextafter(near[-2], (0.0, 1.0)[i % 2])))
        rates.append(min(near, key=lambda r, t=target: abs(r / 24 * pop.n - t)))
    means = [r / 24 * pop.n for r in rates]
    assert means[:2] == [float(np.nextafter(10.0, 0.0)), 10.0] and min(means[2:]) > 10.4
    differ = 0
    for hour in range(160):
        lam = means[hour % 4]
        update = {"exposure_rate_per_day": rates[hour % 4]}
        pop.cfg = pop.cfg.model_copy(update={"organic": pop.cfg.organic.model_copy(update=update)})
        got = pop.organic_exposures(hour)
        want = pop.organic_exposures(hour, stream(m.seed, "organic", hour))
        assert (got is None) == (want is None)
        if want is not None:
            assert got.consumers.tobytes() == want.consumers.tobytes()
            assert got.skus.tobytes() == want.skus.tobytes()
        if hour % 4 and want is not None:  # the multiplication method would draw otherwise
            outputs = stream(m.seed, "organic", hour).bit_generator.random_raw(64).tolist()
            enlam, prod, k = np.exp(-lam), 1.0, 0
            for w in outputs:
                prod *= (w >> 11) * 2.0**-53
                if prod <= enlam:
                    break
                k += 1
            differ += k != len(want)
    assert differ > 20


def test_tables_of_first_outputs_follow_the_hours(base_model, monkeypatch):
    """The population's tables of the hours' first outputs: each hour's row is its
    stream's (tables of a few hours, across their edges, a run's last hour, hours outside
    the run: None)."""
    monkeypatch.setattr(consumer_tables, "_OUTPUT_HOURS", 13)  # the last: 39-47
    pop = copy.deepcopy(base_model).population
    horizon = pop.model.horizon_hours
    for hour in [0, 12, 13, 3, 20, 26, 14, horizon - 1, horizon - 8, 40, 39]:
        for name, k in (("organic", 6), ("consumers", 4), ("organic", 32)):
            raw = stream(pop.model.seed, name, hour).bit_generator.random_raw(k).tolist()
            assert pop._hour_outputs(name, hour, k) == raw
    assert pop._hour_outputs("organic", horizon, 6) is None
    assert pop._hour_outputs("organic", -1, 6) is None


def _books(m) -> list:
    """Every book an hour's ``decide`` writes (the wishes', the offers', the revisits and
    the conversion's), as bytes."""
    pop = m.population
    return [
        *wish_books(m),
        *offer_books(m, np.zeros(0)),
        pop.kept_units.tobytes(),
        repr(
            {
                h: [(b.consumers.tobytes(), b.skus.tobytes(), b.channel) for b in bs]
                for h, bs in sorted(pop._scheduled.items())
            }
        ),
        m.feedback.wishes_per_view.tobytes(),
        *(a.tobytes() for a in m.ledger.platform_units.values()),
    ]


@pytest.mark.parametrize("seed", range(30))
def test_an_hour_of_few_exposures_decides_as_with_numpys_generator(seed, monkeypatch):
    """``decide`` on hours of 0-6 fresh exposures (with revisits due or none; wishes likely
    or not; several units per order or one), its first numbers on Python numbers and organic
    discovery without its generator, against the same hours with numpy's generators
    (``_LAZY_FEW`` 0, ``_PY_ORGANIC`` 0): the same books, and every hour's streams left in
    the same state (the consumers' generator made afterwards, if it was not)."""
    r = np.random.default_rng(seed)
    over = ["market.n_consumers=800", "run.horizon_hours=120"]
    if seed % 2:
        over.append("market.consumer.units_per_order_mean=2.5")
    if seed % 3 == 0:
        over.append("market.organic.exposure_rate_per_day=0.02")
    m = ViralChainModel(sim.compose(None, ["setup=flexible", *over]), seed)
    for _ in range(20 + 3 * seed):
        m.step()
    hour, pop = m.hour, m.population
    if seed % 4 == 1:
        m.appeal = m.appeal * 40.0  # wishes likely
    fresh = []
    for _ in range(int(r.integers(0, 3))):
        k = int(r.integers(1, 3))
        ch = int(r.choice([CH_VIDEO, CH_LIVE, CH_WOM]))
        fresh.append(Exposures(r.integers(0, 800, k), np.zeros(k, np.int32), ch, 0))
    if seed % 5 == 2:
        k = int(r.integers(1, 4))
        back = r.choice(800, k, replace=False).astype(np.int64)
        qty = np.ones(k, np.int64)
        pop.state[back, 0] = 2
        m.ledger.intents_waiting(np.zeros(k, np.int64), qty)
        pop._schedule(hour, Exposures(back, np.zeros(k, np.int64), CH_REVISIT, -1, quantity=qty))
    got = []
    for long in (True, False):
        w = copy.deepcopy(m)
        made: list = []
        real_stream, real_lazy = consumers.stream, consumers.LazyStream

        def kept(*key, made=made, real=real_stream):
            g = real(*key)
            made.append((key, g))
            return g

        def kept_lazy(*args, made=made, real=real_lazy):
            lazy = real(*args)
            made.append((("lazy",), lazy))
            return lazy

        with monkeypatch.context() as mp:
            mp.setattr(consumers, "stream", kept)
            mp.setattr(consumers, "LazyStream", kept_lazy)
            if long:
                mp.setattr(consumers, "_LAZY_FEW", 0)
                mp.setattr(consumers, "_PY_ORGANIC", 0.0)
            w.population.decide(hour, copy.deepcopy(fresh))
        states = [generator(g).bit_generator.state for key, g in made if key[-2:-1] != ("organic",)]
        got.append((_books(w), states))
    assert got[0] == got[1]


def _fatigue_off_or_a_product_not_on_sale(world, seed: int) -> None:
    """Vary a copied world by ``seed``: exposure fatigue off (``seed % 3 == 0``), the first
    product not on sale before hour 1,000 (``seed % 5 == 1``); the population's caches of
    both dropped."""
    pop = world.population
    if seed % 3 == 0:
        plain = pop.cfg.consumer.model_copy(update={"exposure_fatigue": 0.0})
        pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
        pop._seen_tables = None
    if seed % 5 == 1:
        world.sellable_from = world.sellable_from.copy()
        world.sellable_from[0] = 1_000
        pop._sale_span = None


@pytest.mark.parametrize("seed", range(40))
def test_one_exposure_decides_as_the_few_exposure_way(base_model, seed):
    """``_one_wish`` (an hour of one exposure) against ``_few_wish_rows`` of lists of one,
    on copies of a varied world: whether a wish, the books' bytes (counts, states, wishes
    per view, demand lost) and the generator's state; appeals of ``-0.0`` (a content view's
    wishes per view: ``+0.0``), NaN, clipped; prices off the reference; every state;
    counts at the saturation; products not on sale; with and without fatigue."""
    r = np.random.default_rng(seed)
    world = copy.deepcopy(base_model)
    pop, P = world.population, world.n_sku
    pop.exposure_count[:] = r.choice([0, 1, 4, 9_999, 10_000, 65_535], size=pop.state.shape)
    pop.state[:] = r.choice([0, 0, 1, 2, 3], size=pop.state.shape)
    fb = world.feedback
    fb.disappointed[:] = r.integers(0, 3, (2, P))
    fb.good[:], fb.bad[:] = r.integers(0, 20, P), r.integers(0, 20, P)
    fb._multiplier = None
    # books already written (a stepped world): a book written again with its old value
    # would change no byte from zeros
    fb.wishes_per_view[:] = r.uniform(0.01, 0.5, P)
    fb.demand_lost[:] = r.uniform(0, 3, fb.demand_lost.shape)
    world.appeal = world.appeal * r.choice([-0.0, 1.0, 40.0, np.nan], P)
    if seed % 2:
        world.price_ratio = r.uniform(0.6, 1.4, P)
    _fatigue_off_or_a_product_not_on_sale(world, seed)
    for i in range(30):
        c, s = int(r.integers(0, 600)), int(r.integers(0, P))
        ch = int(r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM]))
        kol = int(r.integers(-1, len(world.kol_trust)))
        hour = int(r.integers(0, 48))
        got = []
        for one in (True, False):
            w = copy.deepcopy(world)
            g = stream(seed, "one", i)
            if one:
                wished = w.population._one_wish(hour, c, s, ch, kol, g)
            else:
                wished = bool(w.population._few_wish_rows(hour, [c], [s], [ch], [kol], g, None))
            got.append((wished, wish_books(w), g.bit_generator.state))
        assert got[0] == got[1]


@pytest.mark.parametrize("seed", range(24))
# the long way's price factor of an infinite sensitivity: inf times 0.0 (its NaN expected)
@pytest.mark.filterwarnings(
    "ignore:invalid value encountered in multiply:RuntimeWarning:sim.agents.wishes"
)
def test_few_exposures_of_one_product_at_the_reference_price(seed):
    """A world of one product at exactly its reference price skips the price factor's
    arguments (every ``-s·0.0`` is ``±0.0`` while every sensitivity is finite): the same
    wishes, books and generator state as the numpy way, with sensitivities finite or some
    NaN or infinite (a column replaced), the price ratio at 1 or just off it."""
    from tests.test_few_exposures import _few_against_numpy

    r = np.random.default_rng(seed)
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=600", "run.horizon_hours=48"])
    world = ViralChainModel(cfg, seed)
    pop = world.population
    assert world.n_sku == 1
    pop.exposure_count[:] = r.choice([0, 1, 4, 9_999], size=pop.state.shape)
    pop.state[:] = r.choice([0, 0, 0, 1, 3], size=pop.state.shape)
    world.appeal = world.appeal * r.choice([1.0, 30.0])
    if seed % 4 == 1:
        world.price_ratio = np.array([np.nextafter(1.0, 2.0)])
    else:
        world.price_ratio = np.ones(1)
    if seed % 3 == 2:
        sens = pop.price_sensitivity.copy()
        sens[r.integers(0, 600, 200)] = r.choice([np.nan, np.inf, -np.inf], 200)
        pop.price_sensitivity = sens
    k = int(r.integers(2, 33))
    cons = r.integers(0, 600, k).astype(np.int64)
    if seed % 2:
        cons[: k // 2] = cons[k // 2 : 2 * (k // 2)]  # repeated consumers
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(world.kol_trust), k), -1)
    _few_against_numpy(
        world,
        int(r.integers(0, 48)),
        cons,
        np.zeros(k, np.int64),
        channels,
        kols.astype(np.int32),
        stream(seed, "few-one"),
        "_few_wish_rows",
    )


def test_debug_mode_checks_the_hours_first_outputs():
    """Debug mode holds each hour's row of the tables of first outputs to its stream's
    first outputs: a row written in place is found the hour it is read."""
    from sim.invariants import InvariantError

    cfg = sim.compose(
        None, ["market.n_consumers=3000", "run.horizon_hours=60", "run.debug_invariants=true"]
    )
    m = ViralChainModel(cfg, 1)
    m.run_for(10)  # every hour checked: the rows hold
    tables = m.population._output_tables
    assert tables is not None and ("organic", 6) in tables
    start, rows = tables["organic", 6]
    rows[m.hour - start][0] ^= 1
    with pytest.raises(InvariantError, match="organic's first outputs"):
        m.run_for(1)


def test_debug_mode_checks_organic_discovery_without_its_generator(monkeypatch):
    """Debug mode holds the hour's organic discovery on Python numbers to numpy's draws of
    the hour's stream: a Python draw off by one consumer is found the hour it is made (and
    runs whose Python draws are numpy's pass)."""
    from sim.invariants import InvariantError

    cfg = sim.compose(
        None, ["market.n_consumers=3000", "run.horizon_hours=60", "run.debug_invariants=true"]
    )
    m = ViralChainModel(cfg, 1)
    made = []
    real = consumers.poisson_integers
    monkeypatch.setattr(wishes, "_QUIET", None)  # the Python function, spied on below

    def counted(outputs, lam, n):
        drawn = real(outputs, lam, n)
        made.append(drawn)
        return drawn

    with monkeypatch.context() as mp:
        mp.setattr(consumers, "poisson_integers", counted)
        m.run_for(10)
    assert any(made)  # Python draws, some of them exposures, checked every hour

    def off_by_one(outputs, lam, n):
        drawn = real(outputs, lam, n)
        return None if drawn is None else [(c + 1) % n for c in drawn]

    monkeypatch.setattr(consumers, "poisson_integers", off_by_one)
    with pytest.raises(InvariantError, match="organic discovery is not its stream's"):
        m.run_for(20)


@pytest.mark.parametrize("seed", range(6))
def test_runs_with_the_quiet_hours_shortcuts_are_the_long_ways(seed, tmp_path, monkeypatch):
    """Whole runs of small worlds where organic discovery often makes wishes (its
    conversion raised; its mean below ``_PY_ORGANIC``; several units per order in some):
    with every quiet-hour shortcut, with the one organic exposure through its batch and
    ``_wishes`` (``_ONE_SCALAR`` off) and with numpy's generators throughout
    (``_LAZY_FEW`` 0, ``_PY_ORGANIC`` 0) and the numpy way of every wish decision
    (``_SMALL_BATCH`` 0): the same tables, byte for byte."""
    from tests.golden import _sha, runs_digest

    over = [
        "setup=" + ("flexible", "rigid")[seed % 2],
        "market.n_consumers=1500",
        "run.horizon_hours=240",
        f"market.organic.exposure_rate_per_day={(0.03, 0.12)[seed // 3]}",  # means 1.9, 7.5
        "market.organic.conversion_probability=0.6",
    ]
    if seed % 3 == 1:
        over.append("market.consumer.units_per_order_mean=2.5")
    cfg = sim.compose(None, over)
    # tables of 100 hours: each run crosses two of their edges
    monkeypatch.setattr(consumer_tables, "_OUTPUT_HOURS", 100)
    digests = []
    for name, switches in (
        ("all", {}),
        ("batch", {"_ONE_SCALAR": False}),
        ("numpy", {"_ONE_SCALAR": False, "_LAZY_FEW": 0, "_PY_ORGANIC": 0.0}),
    ):
        with monkeypatch.context() as mp:
            for attr, value in switches.items():
                mp.setattr(consumers, attr, value)
            if name == "numpy":  # and the numpy way of every wish decision
                mp.setattr(wishes, "_SMALL_BATCH", 0)
            out = tmp_path / name
            sim.run(cfg, seed=seed).write(out)
        digests.append(
            (
                _sha(out / "timeseries.parquet"),
                _sha(out / "events.parquet"),
                runs_digest(__import__("pandas").read_parquet(out / "runs.parquet")),
            )
        )
    assert digests[0] == digests[1] == digests[2]
