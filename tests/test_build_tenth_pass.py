"""The social graph's build, tenth pass (issue 21): the community draws' guide table counted
from the values instead of searched bound by bound, and the layout's chunks packed in 32 bits
when the communities leave room. Both against their definitions (the long way), on the
bytes."""

import math

import numpy as np
import pytest

import sim
from sim import social_graph
from sim.model import ViralChainModel


def _cdf(p: np.ndarray) -> np.ndarray:
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


def _cdfs() -> list[np.ndarray]:
    rng = np.random.default_rng(21)
    sizes = rng.pareto(2.0, 5_000) + 1.0
    sizes[::7] = 0.0  # equal values (brackets without a value)
    sizes[-4:] = 0.0  # ... up to the last one (1.0)
    on_bounds = np.arange(1, 65_537) / 65_536  # every value exactly on a bound
    return [
        _cdf(rng.pareto(2.0, 17) + 1.0),
        _cdf(sizes),
        _cdf(np.r_[1e-300, 5e-324, np.ones(40)]),  # tiny and subnormal values, then the rest
        on_bounds,
        np.r_[0.0, 0.0, on_bounds[::3], 1.0],
        _cdf(rng.pareto(2.0, 300_000) + 1.0),
    ]


@pytest.mark.parametrize("block", [1 << 20, 1000, 7, 1])
@pytest.mark.parametrize("scale", [1 << 16, 1 << 17, 1 << 20])
@pytest.mark.parametrize("case", range(6))
def test_the_guide_counts_the_values_at_most_each_bound(case, scale, block, monkeypatch):
    monkeypatch.setattr(social_graph, "_GUIDE_CHUNK", block)  # a block of values at a time
    cdf = _cdfs()[case][: 20_000 if block < 1000 else None]
    for length in (scale + 1, scale // 2, 3, 0):  # every bound, or the first few
        got = social_graph._guide(cdf, length, scale)
        expect = cdf.searchsorted(np.arange(length) / scale, side="right")
        assert got.dtype == np.int32
        assert got.tobytes() == expect.astype(np.int32).tobytes()


@pytest.mark.parametrize("scale", [1.0, 2.0**-3, 2.0**5])
def test_the_checkpoints_guide_is_the_search_of_its_bounds(scale, monkeypatch):
    """Checkpoints past 1 (sums of attention) with repeated values, and no values."""
    rng = np.random.default_rng(3)
    values = np.cumsum(np.repeat(rng.pareto(1.5, 3_000) + 1.0, rng.integers(1, 3, 3_000)))
    values[100:110] = values[100]  # equal values
    for block in (1 << 20, 64):
        monkeypatch.setattr(social_graph, "_GUIDE_CHUNK", block)
        for v in (values, values[:1], values[:0]):
            length = math.floor(float(v[-1] if len(v) else 0.0) * scale) + 2
            expect = v.searchsorted(np.arange(length) / scale, side="right")
            got = social_graph._guide(v, length, scale)
            assert got.tobytes() == expect.astype(np.int32).tobytes()


def test_values_outside_the_bounds_are_counted_as_a_search_counts_them():
    cdf = np.array([-0.5, -0.0, 0.25, 0.5, 1.0, 1.5, 2.0])
    for scale in (1 << 2, 1 << 16):
        expect = cdf.searchsorted(np.arange(scale + 1) / scale, side="right")
        got = social_graph._guide(cdf, scale + 1, scale)
        assert got.tobytes() == expect.astype(np.int32).tobytes()


@pytest.mark.parametrize("most", [1 << 16, 1 << 20])
@pytest.mark.parametrize("k", [17, 5_000, 300_000])
def test_a_choices_guide_is_the_search_of_its_bounds(k, most, monkeypatch):
    monkeypatch.setattr(social_graph._Choice, "GUIDE_MOST", most)
    sizes = np.random.default_rng(k).pareto(2.0, k) + 1.0
    sizes[::5] = 0.0
    pick = social_graph._Choice(sizes / sizes.sum())
    bounds = np.arange(pick.scale + 1) / pick.scale
    expect = pick.cdf.searchsorted(bounds, side="right").astype(np.int32)
    assert pick.guide.tobytes() == expect.tobytes()


def _long_layout(community: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(community, kind="stable")
    return order.astype(np.int32), draws.astype(np.float32)[order]


@pytest.mark.parametrize(
    ("communities", "bits", "narrow"),
    [
        (1, 18, True),
        (6_668, 18, True),  # the 1M world's
        (1 << 14, 18, True),  # the largest number of communities that fits with 2**18 places
        ((1 << 14) + 1, 18, False),
        (1 << 20, 12, True),
        ((1 << 20) + 1, 12, False),
    ],
)
def test_the_layout_packs_in_32_bits_exactly_when_the_numbers_fit(communities, bits, narrow):
    assert social_graph._packs_in_32_bits(communities, bits) is narrow
    # the packed key of the last community's last place fits the width chosen
    largest = ((communities - 1) << bits) | ((1 << bits) - 1)
    assert (largest < 1 << 32) is narrow


def test_the_1m_world_sorts_its_layout_in_32_bits(monkeypatch):
    widths = []
    real = social_graph._packs_in_32_bits

    def spy(communities, bits):
        widths.append(real(communities, bits))
        return widths[-1]

    monkeypatch.setattr(social_graph, "_packs_in_32_bits", spy)
    monkeypatch.setattr(social_graph, "_BUILD", None)  # the Python layout (the C one packs nothing)
    ViralChainModel(sim.compose(None, ["market.n_consumers=1000000"]), 1)
    assert widths and all(widths)


def test_a_guide_refuses_a_scale_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        social_graph._guide(np.array([1.0, 2.0]), 8, 3.0)


@pytest.mark.parametrize(
    ("chunk", "communities"),
    [
        (1 << 18, 6_668),  # the 1M world's: 32 bits
        (1 << 18, 1 << 14),  # the largest number that fits 32 bits with 2**18 places
        (1 << 18, (1 << 14) + 1),  # one more: 64 bits
        (1 << 12, 1 << 20),  # smaller chunks leave room for more communities
        (1 << 12, (1 << 20) + 1),
        (1 << 10, 3),
    ],
)
@pytest.mark.parametrize("c_scatter", [True, False])  # sim/_build.c's, or the chunks' sorts
def test_the_layout_is_the_stable_order_whichever_width_it_packs(
    chunk, communities, c_scatter, monkeypatch
):
    if not c_scatter:
        monkeypatch.setattr(social_graph, "_BUILD", None)
    monkeypatch.setattr(social_graph, "_CHUNK", chunk)
    n = 3 * chunk + 123  # several chunks and a short one
    rng = np.random.default_rng(communities)
    community = rng.integers(0, communities, n).astype(np.int32)
    community[:2] = [0, communities - 1]  # the first and the last number both used
    comm_start = np.zeros(communities + 1, dtype=np.int64)
    np.cumsum(np.bincount(community, minlength=communities), out=comm_start[1:])
    weight = np.empty((n // 16 + 1) * 16, dtype=np.float32)
    weight[n:] = np.inf
    mine = np.random.default_rng(5)
    order = social_graph._layout(community, comm_start, weight, mine.random)
    theirs = np.random.default_rng(5)
    long_order, long_weight = _long_layout(community, theirs.random(n))
    assert order.tobytes() == long_order.tobytes()
    assert weight[:n].tobytes() == long_weight.tobytes()
    assert mine.bit_generator.state == theirs.bit_generator.state  # drawn in turn, n in all
