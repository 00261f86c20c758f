"""The generated social network: heavy-tailed degrees, communities, regional homophily."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import sim
from sim.rng import stream
from sim.social_graph import SocialGraph, build

N = 60_000
SHARES = np.array([0.35, 0.30, 0.20, 0.15])


@functools.lru_cache(maxsize=4)
def graph(seed: int = 0, **changes) -> tuple[SocialGraph, np.ndarray, object]:
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "test-region").choice(4, size=N, p=SHARES).astype(np.int16)
    return build(region, 4, params, stream(seed, "graph")), region, params


def test_csr_layout_types_and_no_self_loops():
    g, _, p = graph()
    assert g.n == N and g.indptr[0] == 0 and g.indptr[-1] == len(g.indices)
    assert g.indices.dtype == np.int32 and g.indptr.dtype == np.int64
    assert g.indices.min() >= 0 and g.indices.max() < N
    deg = g.out_degree()
    assert deg.min() >= p.degree_min and deg.max() <= p.degree_max
    src = np.repeat(np.arange(N), deg)
    assert not np.any(src == g.indices)


def test_out_degrees_follow_the_power_law():
    g, _, p = graph()
    deg = g.out_degree().astype(float)
    # Hill estimator of the tail exponent above 2·k_min: alpha - 1 = n / sum(log(k / k0))
    k0 = 2 * p.degree_min
    tail = deg[deg >= k0]
    alpha = 1 + len(tail) / np.sum(np.log(tail / (k0 - 0.5)))
    assert alpha == pytest.approx(p.degree_exponent, abs=0.15)
    assert deg.max() > 20 * deg.mean()  # a heavy tail: hubs reach far more than the mean


def test_in_degrees_are_heavy_tailed_too():
    g, _, _ = graph()
    indeg = g.in_degree()
    assert indeg.max() > 15 * indeg.mean()
    assert np.percentile(indeg, 50) < indeg.mean()  # skewed: most are reached less than average


def test_homophily_matches_the_community_and_region_shares():
    g, region, p = graph()
    src = np.repeat(np.arange(N), g.out_degree())
    same_comm = np.mean(g.community[src] == g.community[g.indices])
    same_region = np.mean(region[src] == region[g.indices])
    anywhere = 1 - p.within_community - p.within_region
    # edges drawn market-wide land in the own region with about sum(share^2)
    expected_region = p.within_community + p.within_region + anywhere * np.sum(SHARES**2)
    assert same_comm == pytest.approx(p.within_community, abs=0.02)
    assert same_region == pytest.approx(expected_region, abs=0.02)
    # communities stay inside one region and have heavy-tailed sizes around the mean
    assert all(len(np.unique(region[g.community == c])) == 1 for c in range(0, 50))
    sizes = np.bincount(g.community)
    sizes = sizes[sizes > 0]
    assert sizes.mean() == pytest.approx(p.community_size_mean, rel=0.15)
    assert sizes.max() > 4 * sizes.mean()


def test_no_homophily_spreads_edges_across_the_market():
    g, region, _ = graph(within_community=0.0, within_region=0.0)
    src = np.repeat(np.arange(N), g.out_degree())
    assert np.mean(region[src] == region[g.indices]) == pytest.approx(np.sum(SHARES**2), abs=0.02)


def test_same_stream_same_graph_other_stream_other_graph():
    a, _, _ = graph(0)
    b, _, _ = graph(0, degree_min=3)  # an equal config, built again
    c, _, _ = graph(1)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.indices[:1000], c.indices[:1000])


def test_random_neighbour_draws_out_neighbours_uniformly():
    g, _, _ = graph()
    node = int(np.argmax(g.out_degree()))
    picks = g.random_neighbour(np.full(20_000, node), stream(0, "pick"))
    nbrs = g.neighbours(node)
    assert np.isin(picks, nbrs).all()
    uniq, multiplicity = np.unique(nbrs, return_counts=True)  # (repeated links count twice)
    counts = np.bincount(np.searchsorted(uniq, picks), minlength=len(uniq))
    expected = len(picks) * multiplicity / multiplicity.sum()
    assert counts.min() > 0
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected.max())
