"""A quiet hour's consumers' phase on Python numbers: the wishes of a few exposures
(``_few_wish_rows``, ``sim/agents/wishes.py``), the feedback's books of a few products
(``Feedback.note_conversion_of``, ``add_demand_lost_of``), organic discovery's draws
(``sim/agents/consumers.py``) and the products on sale (``sim/agents/consumer_tables.py``).
Each must give exactly what the numpy way gives: the same wishes, the same bytes in every book
and the same generator state afterwards."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
from sim.feedback import Feedback
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.conftest import decided_hour, wish_books

N = 600


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose("two_brands", [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 5)


def _world(model: ViralChainModel, seed: int) -> ViralChainModel:
    """A copy of the model with random exposure counts, states, reviews and products (their
    price ratios mostly not 1)."""
    m = copy.deepcopy(model)
    r = np.random.default_rng(seed)
    pop = m.population
    P = m.n_sku
    counts = r.choice([0, 1, 3, 4, 9, 9_999, 10_000, 65_530], size=(N, P))
    pop.exposure_count[:] = counts.astype(np.uint16)
    pop.state[:] = r.choice([0, 0, 0, 1, 2, 3], size=(N, P)).astype(np.int8)
    fb = m.feedback
    fb.good[:] = r.integers(0, 20, P)
    fb.bad[:] = r.integers(0, 20, P)
    fb.disappointed[:] = r.integers(0, 3, (2, P)) * (r.random((2, P)) < 0.6)
    fb.demand_lost[:] = r.random((3, P)) * (r.random((3, P)) < 0.5)
    fb.wishes_per_view[:] = r.random(P)
    fb._multiplier = None
    m.appeal = m.appeal * r.uniform(2.0, 30.0, P)  # some chances clipped at 1
    if seed % 3 == 0:
        plain = pop.cfg.consumer.model_copy(update={"exposure_fatigue": 0.0})
        pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
    if seed % 4 != 3:  # a price factor other than exp(0): its exp's bits are tested
        m.price_ratio = r.uniform(0.6, 1.4, P)
    return m


def _exposures(model: ViralChainModel, seed: int):
    r = np.random.default_rng(1000 + seed)
    P = model.n_sku
    k = 1 if seed % 10 == 0 else int(r.integers(1, wishes._SMALL_BATCH + 1))
    pool = r.integers(0, N, max(1, k // 3))  # repeats: groups of several exposures
    cons = r.choice(pool, k)
    skus = r.integers(0, P, k)
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(model.kol_trust), k), -1)
    return cons.astype(np.int64), skus.astype(np.int64), channels, kols.astype(np.int32)


@pytest.mark.parametrize("seed", range(60))
def test_few_exposures_decide_as_the_numpy_way(base_model, seed):
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    if seed % 4 == 1:  # a product not on sale yet: its exposures are dropped
        world.sellable_from = world.sellable_from.copy()
        world.sellable_from[seed % world.n_sku] = hour + 5
    cons, skus, channels, kols = _exposures(world, seed)
    if seed % 5 == 2:  # NaN wish probabilities take lexsort's choice
        world.appeal = world.appeal.copy()
        world.appeal[skus[0]] = np.nan
    if seed % 7 == 3:  # a tie: the same exposure twice
        cons[-1], skus[-1], channels[-1], kols[-1] = cons[0], skus[0], channels[0], kols[0]
    rng = stream(seed, "few")
    _few_against_numpy(world, hour, cons, skus, channels, kols, rng, "_few_wish_rows")


@pytest.mark.parametrize("seed", range(20))
def test_few_exposures_keep_a_chunks_books_as_the_numpy_way(base_model, seed, monkeypatch):
    world = _world(base_model, seed)
    cons, skus, channels, kols = _exposures(world, seed)
    long, few = world, copy.deepcopy(world)
    books = {}
    for name, m, small in (("long", long, 0), ("few", few, 1 << 18)):
        monkeypatch.setattr(wishes, "_SMALL_BATCH", small)
        b = wishes._ConversionBooks(m.n_sku)
        b.add(skus[:2], channels[:2] == CH_VIDEO, _some_chances(m))  # an earlier chunk
        idx = m.population._wish_rows(10, cons, skus, channels, kols, stream(seed, "c"), b)
        b.close(m)
        books[name] = (np.sort(idx).tolist(), b.views.tobytes(), b.kept.tobytes(), wish_books(m))
    assert books["few"] == books["long"]


def _some_chances(m: ViralChainModel) -> wishes._Chances:
    sk = np.array([0, 0], np.int64) % m.n_sku
    return wishes._Chances(sk, np.array([True, False]), np.array([0.3, 0.1]), np.ones(2))


@pytest.mark.parametrize("seed", range(30))
def test_feedback_books_of_a_few_products_are_the_arrays_books(seed):
    r = np.random.default_rng(seed)
    P = int(r.integers(1, 6))
    cfg = sim.compose().market.feedback
    a, b = Feedback(cfg, P), Feedback(cfg, P)
    for fb in (a, b):
        fb.disappointed[:] = np.random.default_rng(seed).integers(0, 3, (2, P))
        fb.disappointed[:, 0] = 0  # no disappointed delivery: shared half and half
        fb.demand_lost[:] = np.random.default_rng(seed).random((3, P))
        fb.wishes_per_view[:] = 0.25
    n = int(r.integers(1, 12))
    skus = r.integers(0, P, n)
    lost = r.random(n) * 0.3
    a.add_demand_lost(skus, lost)
    per_product: dict[int, float] = {}
    for s, x in zip(skus.tolist(), lost.tolist(), strict=True):
        per_product[s] = per_product.get(s, 0.0) + x
    b.add_demand_lost_of(per_product)
    assert a.demand_lost.tobytes() == b.demand_lost.tobytes()
    views = np.bincount(skus, minlength=P)
    sums = np.bincount(skus[: n // 2], lost[: n // 2], P)  # some products seen, none kept
    a.note_conversion(views, sums)
    seen = {s: int(views[s]) for s in range(P) if views[s] > 0}
    kept = {s: float(sums[s]) for s in np.unique(skus[: n // 2]).tolist()}
    b.note_conversion_of(seen, kept)
    assert a.wishes_per_view.tobytes() == b.wishes_per_view.tobytes()


def _organic_the_long_way(pop, hour: int, rng: np.random.Generator):
    m = pop.model
    rate = pop.cfg.organic.exposure_rate_per_day
    launched = np.flatnonzero(m.sellable_from <= hour)
    if rate <= 0 or len(launched) == 0:
        return None
    k = int(rng.poisson(rate / 24 * pop.n * len(launched)))
    if k == 0:
        return None
    c = rng.integers(0, pop.n, k)
    return c, launched[rng.integers(0, len(launched), k)].astype(np.int32)


@pytest.mark.parametrize("products", [1, 3])
@pytest.mark.parametrize("n", [600, 2**33])
def test_organic_discovery_draws_as_the_long_way(base_model, products, n):
    """One exposure drawn as a scalar, one product without a draw: the same exposures and
    the generator left in the same state (also beyond 32-bit bounds and after a half-used
    32-bit word)."""
    m = copy.deepcopy(base_model)
    pop = m.population
    pop.n = n
    m.sellable_from = np.zeros(products, np.int64)
    pop._sale_span = None
    rate = {"exposure_rate_per_day": 24 * 1.2 / n}  # mostly one exposure, some more
    pop.cfg = pop.cfg.model_copy(update={"organic": pop.cfg.organic.model_copy(update=rate)})
    sizes = set()
    for hour in range(60):
        a, b = stream(hour, "organic-test"), stream(hour, "organic-test")
        if hour % 2:
            a.integers(0, 7), b.integers(0, 7)
        got, want = pop.organic_exposures(hour, a), _organic_the_long_way(pop, hour, b)
        if want is None:
            assert got is None
        else:
            sizes.add(len(want[0]))
            np.testing.assert_array_equal(got.consumers, want[0])
            assert got.consumers.dtype == want[0].dtype
            np.testing.assert_array_equal(got.skus, want[1])
            assert got.skus.dtype == want[1].dtype
        assert a.bit_generator.state == b.bit_generator.state
    assert {1, 2} <= sizes


def test_products_on_sale_follow_the_hours(base_model):
    m = copy.deepcopy(base_model)
    m.sellable_from = np.array([5, 0, 30, 5, 200], np.int64)
    pop = m.population
    pop._sale_span = None
    hours = [0, 3, 4, 5, 6, 29, 30, 31, 199, 200, 500]
    for hour in hours + hours[::-1]:
        got = pop._on_sale(hour)
        want = np.flatnonzero(m.sellable_from <= hour)
        np.testing.assert_array_equal(got.ids, want)
        np.testing.assert_array_equal(got.ids32, want.astype(np.int32))
        assert got.ids32.dtype == np.int32
        assert got.every == (len(want) == 5)


def test_novelty_tables_give_the_numpy_novelty(base_model):
    m = copy.deepcopy(base_model)
    m.launch_hour = np.array([0, 100], np.int64)
    m.novelty_half_life_days = np.array([3.7, 0.3])
    pop = m.population
    for hour in [0, 1, 63, 64, 65, 99, 100, 101, 127, 128, 500, 64, 3]:  # edges, and back
        age_days = np.maximum(0, hour - m.launch_hour) / 24
        want = np.power(0.5, age_days / m.novelty_half_life_days)
        got = [pop._novelty(s, hour) for s in range(2)]
        assert np.array(got).tobytes() == want.tobytes()


def test_an_hours_views_are_booked_at_once_as_batch_by_batch(base_model, monkeypatch):
    """Several content batches' views go to the ledger in one call: the same counts as one
    call per batch and slice (forced here by chunks of one exposure)."""
    from sim.content import Exposures

    books = []
    for chunk in (1 << 18, 1):
        monkeypatch.setattr(consumers, "_WISH_CHUNK", chunk)
        monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
        m = copy.deepcopy(base_model)
        r = np.random.default_rng(7)
        batches = [
            Exposures(r.integers(0, N, n), r.integers(0, m.n_sku, n).astype(np.int32), ch, kol)
            for n, ch, kol in (
                (5, CH_VIDEO, 0),
                (300, CH_LIVE, 1),
                (2, CH_WOM, -1),
                (1, CH_VIDEO, 2),
            )
        ]
        m.population.decide(3, batches)
        units = [m.ledger.units[f].tobytes() for f in sorted(m.ledger.units)]
        books.append([m.ledger.hour_block.tobytes(), *units])
        assert m.ledger.hour["views"].sum() == 306
    assert books[0] == books[1]


def test_flat_books_follow_the_population_arrays(base_model):
    m = copy.deepcopy(base_model)
    pop = m.population
    ec, _ = pop._flat_books()
    ec[3 * m.n_sku + 1] = 7
    assert pop.exposure_count[3, 1] == 7
    assert pop._flat_books()[0] is ec  # remembered
    again = copy.deepcopy(pop)  # copied views would no longer write into the copied arrays
    again._flat_books()[1][2 * m.n_sku] = 3
    assert again.state[2, 0] == 3
    pop.exposure_count = np.zeros_like(pop.exposure_count)  # replaced: new views
    pop._flat_books()[0][0] = 5
    assert pop.exposure_count[0, 0] == 5


def _few_against_numpy(world, hour, cons, skus, channels, kols, rng, shortcut: str) -> list:
    """The few-exposure way (``_few_wish_rows``) on a copy of ``world`` against the numpy way
    on ``world``, from twin generators: the same wishes, books and generator state. Returns
    one entry per call of the shortcut ``shortcut`` (a method of the population) it made."""
    long, few = world, copy.deepcopy(world)
    calls = []
    original = getattr(consumers.ConsumerPopulation, shortcut)

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(consumers.ConsumerPopulation, shortcut, counting)
        mp.setattr(wishes, "_SMALL_BATCH", 0)  # the numpy way
        r_long, r_few = copy.deepcopy(rng), rng
        got_long = long.population._wish_rows(hour, cons, skus, channels, kols, r_long, None)
        got_few = few.population._few_wish_rows(
            hour, cons.tolist(), skus.tolist(), channels.tolist(), kols.tolist(), r_few, None
        )
    expected = [] if got_long is None else sorted(got_long.tolist())
    assert got_few == expected
    assert wish_books(few) == wish_books(long)
    assert r_few.bit_generator.state == r_long.bit_generator.state
    return calls


@pytest.mark.parametrize("seed", range(40))
def test_few_distinct_exposures_decide_as_the_numpy_way(base_model, seed):
    """No (consumer, product) twice in the hour (the usual few: groups of one, without the
    groups' sizes) gives the numpy way's wishes, books and generator state."""
    world = _world(base_model, seed)
    hour = int(np.random.default_rng(seed).integers(0, 400))
    if seed % 4 == 1:  # a product not on sale yet: its exposures are dropped
        world.sellable_from = world.sellable_from.copy()
        world.sellable_from[seed % world.n_sku] = hour + 5
    cons, skus, channels, kols = _exposures(world, seed)
    P = world.n_sku
    r = np.random.default_rng(seed)
    space = N * P if seed % 2 else max(len(cons), 12 * P)  # small: some share a consumer
    keys = r.choice(space, len(cons), replace=False)
    cons, skus = keys // P, keys % P
    if seed % 5 == 2:  # NaN wish probabilities
        world.appeal = world.appeal.copy()
        world.appeal[skus[0]] = np.nan
    calls = _few_against_numpy(
        world, hour, cons, skus, channels, kols, stream(seed, "few"), "_few_wish_rows"
    )
    on_sale = world.sellable_from[skus] <= hour
    assert calls == ([1] if on_sale.any() else [])


@pytest.mark.filterwarnings(
    "ignore:invalid value encountered in multiply:RuntimeWarning"
)  # NaN and infinite sensitivities on purpose: inf·0 is NaN, as the test wants
@pytest.mark.parametrize("seed", range(24))
def test_few_exposures_at_the_reference_price_with_a_sensitivity_not_finite(base_model, seed):
    """At a price ratio of exactly 1 every argument ``-s·(ratio - 1)`` of the price factor's
    exp is 0 for a finite sensitivity ``s`` and the few-exposure way skips the exp; a NaN or
    infinite ``s`` makes its argument NaN, which is no zero: with such an ``s`` on one of two
    or more exposures (groups of one, or with repeats), the numpy way's wishes, books and
    generator state."""
    world = _world(base_model, seed)
    P = world.n_sku
    world.price_ratio = np.ones(P)
    world.sellable_from = np.zeros_like(world.sellable_from)  # every product on sale
    r = np.random.default_rng(seed)
    hour = int(r.integers(0, 400))
    k = int(r.integers(2, wishes._SMALL_BATCH + 1))
    if seed % 2:  # distinct (consumer, product)s
        keys = r.choice(N * P, k, replace=False)
    else:  # some twice or more: groups
        keys = r.choice(r.choice(N * P, max(1, k // 3), replace=False), k)
    cons, skus = (keys // P).astype(np.int64), (keys % P).astype(np.int64)
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(world.kol_trust), k), -1).astype(np.int32)
    j = int(r.integers(0, k))
    pop = world.population
    pop.state[cons[j], skus[j]] = (0, 3)[seed // 3 % 2]  # none or warned: a chance
    pop.price_sensitivity[cons[j]] = (np.nan, np.inf, -np.inf)[seed % 3]
    calls = _few_against_numpy(
        world, hour, cons, skus, channels, kols, stream(seed, "ref"), "_few_wish_rows"
    )
    assert calls == [1]


@pytest.mark.parametrize("seed", range(60))
def test_one_exposure_decides_as_the_numpy_way(base_model, seed):
    """A single exposure (the usual quiet hour: one organic discovery) on Python numbers
    (``_few_wish_rows`` of one: numpy's exp of a Python float): the numpy way's wish, books
    and generator state, for every state (bought, waiting, warned), saturated counts,
    content views or not, with or without a KOL."""
    world = _world(base_model, seed)
    r = np.random.default_rng(seed)
    hour = int(r.integers(0, 400))
    P = world.n_sku
    cons = np.array([r.integers(0, N)], np.int64)
    skus = np.array([r.integers(0, P)], np.int64)
    channels = np.array([(CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM)[seed % 4]], np.int8)
    kols = np.array([-1 if seed % 3 else r.integers(0, len(world.kol_trust))], np.int32)
    world.population.state[cons[0], skus[0]] = (seed // 4) % 4  # none, bought, waiting, warned
    if seed % 5 == 2:
        world.population.exposure_count[cons[0], skus[0]] = (9_999, 10_000, 65_535)[seed % 3]
    if seed % 11 == 7:
        world.population.price_sensitivity[cons[0]] = np.nan
    calls = _few_against_numpy(
        world, hour, cons, skus, channels, kols, stream(seed, "one"), "_few_wish_rows"
    )
    assert calls == [1]


@pytest.mark.parametrize("seed", range(3))
def test_many_single_exposures_decide_as_the_numpy_way(base_model, seed):
    """``_few_wish_rows`` of one exposure, one after another (400 consumers, prices other than the
    reference: the price factor's exp is not exp(0)) against the numpy way on a twin world:
    the same wishes, books and generator state after each (numpy's exp of a Python float,
    not ``math.exp``, which differs in the last bit on some of these)."""
    world = _world(base_model, 3 * seed + 1)
    r = np.random.default_rng(seed)
    world.price_ratio = r.uniform(0.6, 1.4, world.n_sku)
    if seed == 2:  # product 0's probabilities -0.0: its content views' sums from 0.0
        world.appeal = world.appeal.copy()
        world.appeal[0] = -0.0
    world.population.state[:] = np.where(r.random(world.population.state.shape) < 0.8, 0, 3)
    long, few = world, copy.deepcopy(world)
    g_long, g_few = stream(seed, "many"), stream(seed, "many")
    hour = int(r.integers(0, 400))
    for c in r.permutation(N)[:400].tolist():
        s = int(r.integers(0, world.n_sku))
        ch = int(r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM]))
        k = int(r.integers(-1, len(world.kol_trust)))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(wishes, "_SMALL_BATCH", 0)  # the numpy way
            got_long = long.population._wish_rows(
                hour,
                np.array([c], np.int64),
                np.array([s], np.int64),
                np.array([ch], np.int8),
                np.array([k], np.int32),
                g_long,
                None,
            )
        got_few = few.population._few_wish_rows(hour, [c], [s], [ch], [k], g_few, None)
        assert got_few == ([] if got_long is None else got_long.tolist())
        assert wish_books(few) == wish_books(long)
        assert g_few.bit_generator.state == g_long.bit_generator.state


@pytest.mark.parametrize("seed", range(48))
def test_an_hour_of_one_exposure_decides_as_the_numpy_way(base_model, seed, monkeypatch):
    """``_wishes`` of an hour of one exposure (``_one_wish_row``: the few-exposure way
    without gathering the batches) gives the numpy way's rows, books and generator state, a product
    not on sale yet included (no draw), among empty batches or not."""
    from sim.content import Exposures

    world = _world(base_model, seed)
    r = np.random.default_rng(4000 + seed)
    hour = int(r.integers(0, 400))
    s = int(r.integers(0, world.n_sku))
    if seed % 4 == 1:  # this product (or another) not on sale yet
        world.sellable_from = world.sellable_from.copy()
        world.sellable_from[s if seed % 8 == 1 else (s + 1) % world.n_sku] = hour + 5
    channel = int(r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM]))
    kol = int(r.integers(-1, len(world.kol_trust))) if channel in (CH_VIDEO, CH_LIVE) else -1
    one = Exposures(np.array([int(r.integers(0, N))]), np.array([s], np.int32), channel, kol)
    empty = Exposures(np.empty(0, np.int64), np.empty(0, np.int32), CH_LIVE, 0)
    fresh = [empty, one] if seed % 3 == 0 else [one]
    got = {}
    for name, small in (("long", 0), ("short", wishes._SMALL_BATCH)):
        m = copy.deepcopy(world)
        monkeypatch.setattr(wishes, "_SMALL_BATCH", small)
        g = stream(seed, "one")
        got[name] = decided_hour(m, hour, fresh, g)
    assert got["short"] == got["long"]


@pytest.mark.parametrize("seed", range(12))
def test_a_group_with_some_nan_chooses_as_lexsort(base_model, seed):
    """A consumer exposed several times to a product, some exposures' probabilities NaN
    (a KOL's trust NaN) and some not, in either order: the chance is the first highest
    number (lexsort's choice of ``-p``: NaN last), as the numpy way; an all-NaN group keeps
    its first."""
    world = _world(base_model, seed)
    world.kol_trust = world.kol_trust.copy()
    world.kol_trust[0] = np.nan
    r = np.random.default_rng(2000 + seed)
    hour = int(r.integers(0, 400))
    k = int(r.integers(4, wishes._SMALL_BATCH + 1))
    cons = r.choice(r.integers(0, N, 3), k).astype(np.int64)  # large groups
    skus = np.full(k, seed % world.n_sku, np.int64)
    world.population.state[cons, skus] = np.where(seed % 2, 0, 3)  # none or warned: open
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = r.choice([0, 0, -1, 1], k).astype(np.int32)  # KOL 0: NaN
    _few_against_numpy(
        world, hour, cons, skus, channels, kols, stream(seed, "nan"), "_few_wish_rows"
    )
