"""A national audience: compact consumer columns, builds and hours in chunks, the same results.

The population's traits and the social graph are drawn in chunks, the graph keeps its
cumulative attention only every few positions, and an hour with many exposures is decided
one range of consumers at a time (``sim/agents/consumers.py``, ``sim/agents/wishes.py``,
``sim/social_graph.py``).
Each of these must give the results of the one-pass, full-width version: checked here with
chunks small enough that every build and most hours of a golden run are cut into many.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
import sim.social_graph as social_graph
from sim.config import BYTES_PER_CONSUMER, MAX_CONSUMERS
from sim.errors import ConfigError
from sim.model import ViralChainModel
from sim.rng import stream
from tests import golden

RECORDED = json.loads(golden.DIGESTS.read_text())


@pytest.mark.parametrize(
    "case", ["head_kol_livestream/flexible", "two_brands/rigid", "multi_platform/flexible"]
)
def test_tiny_chunks_give_the_recorded_outputs(case, tmp_path, monkeypatch):
    monkeypatch.setattr(consumers, "_WISH_CHUNK", 7)  # most hours: many chunks
    monkeypatch.setattr(wishes, "_WISH_CHUNK", 7)
    monkeypatch.setattr(consumers, "_DRAW_CHUNK", 1000)
    monkeypatch.setattr(social_graph, "_CHUNK", 999)
    story, setup = case.split("/")
    assert golden.digest_case(story, setup, tmp_path) == RECORDED[case]


def test_hours_are_decided_in_chunks_when_large(monkeypatch):
    """The test above would pass vacuously if no hour were cut: count the chunks."""
    monkeypatch.setattr(consumers, "_WISH_CHUNK", 7)
    monkeypatch.setattr(wishes, "_WISH_CHUNK", 7)
    calls = []
    original = consumers.ConsumerPopulation._wishes_in_chunks

    def counting(self, hour, fresh, rng):
        calls.append(sum(len(b) for b in fresh))
        return original(self, hour, fresh, rng)

    monkeypatch.setattr(consumers.ConsumerPopulation, "_wishes_in_chunks", counting)
    cfg = sim.compose(None, ["market.n_consumers=6000", "run.horizon_hours=240"])
    sim.run(cfg, seed=3)
    assert len(calls) > 20 and max(calls) > 100 * 7


def _eager_graph(region: np.ndarray, n_regions: int, p, rng: np.random.Generator):
    """The graph built the plain way (whole-population draws, argsort, one cumsum): the
    oracle the chunked, compact build must equal."""
    n = len(region)
    community = np.zeros(n, dtype=np.int32)
    offset = 0
    for r in range(n_regions):
        members = np.flatnonzero(region == r)
        if len(members) == 0:
            continue
        k = max(1, round(len(members) / p.community_size_mean))
        sizes = rng.pareto(2.0, k) + 1.0
        community[members] = offset + rng.choice(k, size=len(members), p=sizes / sizes.sum())
        offset += k
    order = np.argsort(community, kind="stable").astype(np.int32)
    comm_start = np.searchsorted(community[order], np.arange(offset + 1))
    region_start = np.searchsorted(region[order], np.arange(n_regions + 1))
    attention = np.minimum(
        rng.pareto(p.degree_exponent - 1.0, n) + 1.0, p.degree_max / p.degree_min
    ).astype(np.float32)
    cumw = np.concatenate([[0.0], np.cumsum(attention[order], dtype=np.float64)])
    u = rng.random(n)
    a = p.degree_exponent - 1.0
    lo, hi = p.degree_min ** (-a), (p.degree_max + 1) ** (-a)
    degree = np.clip(np.floor((lo - u * (lo - hi)) ** (-1.0 / a)), p.degree_min, p.degree_max)
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    return community, order, comm_start, region_start, attention, cumw, degree, key


@pytest.mark.parametrize("n", [50, 20_011])
def test_the_compact_graph_is_the_eager_one(n, monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", 1024)
    params = sim.compose().market.social_graph
    region = stream(1, "test-region").choice(4, size=n, p=[0.4, 0.0, 0.35, 0.25]).astype(np.int16)
    g = social_graph.build(region, 4, params, stream(1, "graph"))
    community, order, comm_start, region_start, attention, cumw, degree, key = _eager_graph(
        region, 4, params, stream(1, "graph")
    )
    np.testing.assert_array_equal(g.community, community)
    np.testing.assert_array_equal(g.order, order)
    np.testing.assert_array_equal(g.comm_start, comm_start)
    np.testing.assert_array_equal(g.region_start, region_start)
    np.testing.assert_array_equal(g.weight[:n], attention[order])
    assert np.isinf(g.weight[n:]).all() and len(g.weight) % 16 == 0
    np.testing.assert_array_equal(g.degree, degree)
    assert g.key == key
    # the cumulative attention, derived on demand, is the eager one bit for bit
    np.testing.assert_array_equal(g.cumulative_attention(np.arange(n + 1)), cumw)
    edges = cumw[:: max(1, n // 97)]  # on stored values, just below and just above them
    near = (np.nextafter(edges, 0), edges, np.nextafter(edges, np.inf), cumw[-1:])
    points = np.concatenate([stream(2, "pts").random(5000) * cumw[-1], *near])
    expect = np.searchsorted(cumw, points, side="right") - 1
    np.testing.assert_array_equal(g._locate(points), expect)


def test_consumer_columns_are_narrow_and_small():
    cfg = sim.compose(None, ["market.n_consumers=40000", "setup=flexible"])
    m = ViralChainModel(cfg, 1)
    pop, g = m.population, m.population.graph
    assert pop.region.dtype == np.uint8  # up to 256 regions
    for trait in (pop.price_sensitivity, pop.patience_hours, pop.return_propensity):
        assert trait.dtype == np.float32
    assert g.degree.dtype == np.uint16 and g.order.dtype == np.int32
    assert g.weight.dtype == np.float32 and len(g.checkpoints) <= 40000 // 16 + 1
    assert not hasattr(g, "attention") and not hasattr(g, "cumw")
    n = pop.n
    per_consumer = (
        sum(a.nbytes for a in vars(pop).values() if isinstance(a, np.ndarray) and len(a) == n)
        + g.nbytes
    ) / n
    # region 1 + traits 12 + platform 2 + exposures and state 3 per SKU + graph 14.9
    assert per_consumer <= 15 + 3 * m.n_sku + 15, per_consumer
    assert all(k.followers.dtype == np.int32 for k in m.kols)


def test_continued_sums_are_one_bincount():
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 4, 10_000)
    values = rng.random(10_000) * rng.choice([1e-9, 1.0, 1e9], 10_000)
    sums = np.zeros(5)
    for a in range(0, 10_000, 777):
        wishes._continue_sums(sums, keys[a : a + 777], values[a : a + 777])
    np.testing.assert_array_equal(sums, np.bincount(keys, values, minlength=5))


def test_the_market_size_limit_names_the_field_value_and_limit():
    assert MAX_CONSUMERS >= 100_000_000
    too_many = MAX_CONSUMERS + 1
    with pytest.raises(ConfigError) as err:
        sim.compose(None, [f"market.n_consumers={too_many}"])
    text = str(err.value)
    assert "market.n_consumers" in text and f"{too_many}" in text.replace(",", "")
    assert f"{MAX_CONSUMERS:,}" in text and f"{BYTES_PER_CONSUMER} bytes" in text


@pytest.mark.parametrize("seed", range(6))
def test_guided_choice_draws_what_numpy_choice_draws(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 50_000))
    sizes = rng.pareto([2.0, 0.5, 8.0][seed % 3], k) + 1.0
    if seed == 4:
        sizes[::3] = 0.0  # communities that can never be drawn
    p = sizes / sizes.sum()
    m = int(rng.integers(0, 100_000))
    expect = np.random.default_rng(seed + 100).choice(k, size=m, p=p)
    pick, mine = social_graph._Choice(p), np.random.default_rng(seed + 100)
    got = np.concatenate([pick.draw(mine, m // 3), pick.draw(mine, m - m // 3)])  # in turn
    np.testing.assert_array_equal(got, expect)
    assert got.dtype == expect.dtype


@pytest.mark.parametrize("high", [3, 2**16, 2**16 + 1, 10**6, 2**31 - 1])
def test_radix_layout_order_is_the_stable_argsort(high):
    keys = np.random.default_rng(high).integers(0, high, 50_001).astype(np.int32)
    np.testing.assert_array_equal(social_graph._stable_order(keys), np.argsort(keys, kind="stable"))


def test_per_product_factors_are_the_per_exposure_ones():
    """The wish probability's product factors are worked out per product and gathered: the
    same numbers as the same operations per exposure (whatever the array's length)."""
    rng = np.random.default_rng(3)
    launch = rng.integers(-500, 900, 7)
    half_life = rng.random(7) * 30 + 0.5
    ratio = rng.random(7) + 0.5
    s = rng.random(10_007).astype(np.float32)
    for hour in (0, 17, 333, 1439):
        skus = rng.integers(0, 7, 10_007)
        per_exposure = np.power(0.5, (np.maximum(0, hour - launch[skus]) / 24) / half_life[skus])
        per_product = np.power(0.5, np.maximum(0, hour - launch) / 24 / half_life)[skus]
        np.testing.assert_array_equal(per_product, per_exposure)
        np.testing.assert_array_equal(
            np.exp(-s * (ratio - 1.0)[skus]), np.exp(-s * (ratio[skus] - 1.0))
        )


def test_no_organic_stream_is_made_when_organic_discovery_cannot_draw(monkeypatch):
    import sim.agents.consumer_tables as tables

    made = []
    real, real_outputs = consumers.stream, tables.hour_outputs

    def counting(seed, *identity):
        made.append(identity[0])
        return real(seed, *identity)

    def counting_outputs(seed, name, *span):  # streams drawn from without their generator
        made.append(name)
        return real_outputs(seed, name, *span)

    monkeypatch.setattr(consumers, "stream", counting)
    monkeypatch.setattr(tables, "hour_outputs", counting_outputs)
    off = ["market.n_consumers=2000", "run.horizon_hours=48"]
    sim.run(sim.compose(None, [*off, "market.organic.exposure_rate_per_day=0"]), seed=1)
    assert "organic" not in made and "population" in made
    sim.run(sim.compose(None, off), seed=1)
    assert made.count("organic") > 0
