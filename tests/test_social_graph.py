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


@functools.lru_cache(maxsize=4)
def edges(seed: int = 0, **changes) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) of every edge, materialised."""
    g, _, _ = graph(seed, **changes)
    indptr, indices = g.materialize()
    return np.repeat(np.arange(g.n), np.diff(indptr)), indices


def test_materialized_edges_are_csr_without_self_loops():
    g, _, p = graph()
    indptr, indices = g.materialize()
    assert len(indptr) == N + 1 and indptr[0] == 0 and indptr[-1] == len(indices)
    assert indices.dtype == np.int32 and indptr.dtype == np.int64
    assert indices.min() >= 0 and indices.max() < N
    deg = np.diff(indptr)
    np.testing.assert_array_equal(deg, g.degree)
    assert deg.min() >= p.degree_min and deg.max() <= p.degree_max
    src, dst = edges()
    assert not np.any(src == dst)


def test_edges_are_a_function_of_the_graph_not_of_the_query():
    g, _, _ = graph()
    _, indices = g.materialize()
    indptr = np.concatenate([[0], np.cumsum(g.degree, dtype=np.int64)])
    for i in (0, 17, int(np.argmax(g.degree))):
        np.testing.assert_array_equal(g.neighbours(i), indices[indptr[i] : indptr[i + 1]])
    # the same edges asked in another order and batch
    src = np.array([5, 3, 5, 9], dtype=np.int64)
    j = np.array([1, 0, 0, 2], dtype=np.int64)
    expect = [indices[indptr[s] + k] for s, k in zip(src, j, strict=True)]
    np.testing.assert_array_equal(g.edge_targets(src, j), expect)


def test_out_degrees_follow_the_power_law():
    g, _, p = graph()
    deg = g.degree.astype(float)
    # Hill estimator of the tail exponent above 2·k_min: alpha - 1 = n / sum(log(k / k0))
    k0 = 2 * p.degree_min
    tail = deg[deg >= k0]
    alpha = 1 + len(tail) / np.sum(np.log(tail / (k0 - 0.5)))
    assert alpha == pytest.approx(p.degree_exponent, abs=0.15)
    assert deg.max() > 20 * deg.mean()  # a heavy tail: hubs reach far more than the mean


def test_in_degrees_are_heavy_tailed_too():
    _, dst = edges()
    indeg = np.bincount(dst, minlength=N)
    assert indeg.max() > 15 * indeg.mean()
    assert np.percentile(indeg, 50) < indeg.mean()  # skewed: most are reached less than average


def test_homophily_matches_the_community_and_region_shares():
    g, region, p = graph()
    src, dst = edges()
    same_comm = np.mean(g.community[src] == g.community[dst])
    same_region = np.mean(region[src] == region[dst])
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
    _, region, _ = graph(within_community=0.0, within_region=0.0)
    src, dst = edges(within_community=0.0, within_region=0.0)
    assert np.mean(region[src] == region[dst]) == pytest.approx(np.sum(SHARES**2), abs=0.02)


def test_same_stream_same_graph_other_stream_other_graph():
    a = edges(0)[1]
    b = edges(0, degree_min=3)[1]  # an equal config, built again
    c = edges(1)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:1000], c[:1000])


def test_random_neighbour_draws_out_neighbours_uniformly():
    g, _, _ = graph()
    node = int(np.argmax(g.degree))
    picks = g.random_neighbour(np.full(20_000, node), stream(0, "pick"))
    nbrs = g.neighbours(node)
    uniq, multiplicity = np.unique(nbrs, return_counts=True)  # (repeated links count twice)
    assert np.isin(picks, uniq).all()
    counts = np.bincount(np.searchsorted(uniq, picks), minlength=len(uniq))
    expected = len(picks) * multiplicity / multiplicity.sum()
    assert counts.min() > 0
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected.max())


def test_reach_tells_each_contact_with_the_probability():
    g, _, _ = graph()
    senders = np.arange(0, 3000, dtype=np.int64)
    rows, targets = g.reach(senders, 0.3, stream(0, "reach"))
    assert len(rows) == pytest.approx(0.3 * g.degree[senders].sum(), rel=0.05)
    for r in np.unique(rows)[:50]:  # every target is a contact of its sender
        assert np.isin(targets[rows == r], g.neighbours(int(senders[r]))).all()


@pytest.mark.parametrize("kernel", [False, True])
def test_a_looked_up_graph_copies_and_pickles_and_the_copy_looks_up_the_same(kernel, monkeypatch):
    """A graph keeps memoryviews for its few-edge look-ups (the compiled look-ups: buffers
    of its columns, ``_kernel``); copying a model (the tests do) or pickling a graph must
    still work, and the copy must find the same targets."""
    import copy
    import pickle

    import sim.social_graph as social_graph

    if kernel and social_graph._K is None:
        pytest.skip(
            "sim._graph is not loaded (not built, stale or VIRALCHAIN_COMPILED=0): Python paths"
        )
    if not kernel:
        monkeypatch.setattr(social_graph, "_K", None)
    held = "_kernel" if kernel else "_views"
    g, _, _ = graph()
    g = copy.copy(g)  # (not the cached graph: its tables made here)
    linked = np.flatnonzero(g.degree > 0)
    src = linked[[0, 5, 17, 42]].astype(np.int64)
    j = np.zeros(len(src), dtype=np.int64)
    first = g.edge_targets(src, j)  # the few-edge path: makes the memoryviews
    assert held in g.__dict__
    for twin in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert held not in twin.__dict__
        np.testing.assert_array_equal(twin.edge_targets(src, j), first)
        many = linked[:200].astype(np.int64)
        np.testing.assert_array_equal(
            twin.edge_targets(many, np.zeros(200, dtype=np.int64)),
            g.edge_targets(many, np.zeros(200, dtype=np.int64)),
        )


@pytest.mark.parametrize("n", [40, 17, 3_001, N])
def test_the_guide_brackets_every_point_even_at_its_buckets_bounds(n, monkeypatch):
    """The guide's scale is a power of two (a point's bucket and the buckets' bounds are
    exact), each entry counts the stored values at most its bound, and a look-up through it
    finds ``searchsorted(cumw, point, "right") - 1`` at every bucket's bound, just below it,
    at the total and past it (the last position)."""
    import sim.social_graph as social_graph

    params = sim.compose().market.social_graph
    region = stream(n, "test-region").choice(4, size=n, p=SHARES).astype(np.int16)
    g = build(region, 4, params, stream(n, "graph"))
    mantissa, _ = np.frexp(g.guide_scale)
    assert mantissa == 0.5  # a power of two
    bounds = np.arange(len(g.guide)) / g.guide_scale
    np.testing.assert_array_equal(g.guide, np.searchsorted(g.checkpoints, bounds, "right"))
    total = float(g.region_cum[-1])
    assert bounds[-2] <= total < bounds[-1]  # the last bucket holds the total
    whole = g.cumulative_attention(np.arange(n + 1))
    past = [np.nextafter(total, np.inf), total * 2]  # past the total: the last position
    points = np.concatenate([bounds, np.nextafter(bounds, 0), [total], past])
    points = points[points >= 0]
    expect = np.searchsorted(whole, points, side="right") - 1
    monkeypatch.setattr(social_graph, "_FULL_UP_TO", 0)  # the stored sums
    monkeypatch.setattr(social_graph, "_SEARCH", 0)  # the guide's bracket, counted up
    np.testing.assert_array_equal(g._locate(points), expect)
    assert [g._locate_one(float(p)) for p in points] == expect.tolist()


@pytest.mark.parametrize("regions", [4, 20])
@pytest.mark.parametrize("bad", [-1, 4, 20, 99])
def test_a_region_outside_the_range_is_refused(regions, bad):
    """A region outside ``[0, n_regions)`` raises a ValueError naming it, with few regions
    (counted by comparisons) as with many (np.bincount), not a graph missing consumers."""
    params = sim.compose().market.social_graph
    region = np.array([0, 1, 2, 3] * 5, dtype=np.int16)
    region[7] = bad
    if 0 <= bad < regions:
        build(region, regions, params, stream(1, "graph"))  # in range: accepted
        return
    with pytest.raises(ValueError, match=rf"^region \[{bad}\] outside \[0, {regions}\)$"):
        build(region, regions, params, stream(1, "graph"))


def test_the_guide_is_filled_block_by_block_the_same(monkeypatch):
    """The guide filled in blocks of a few bounds equals the one-call searchsorted."""
    import sim.social_graph as social_graph

    params = sim.compose().market.social_graph
    region = stream(3, "test-region").choice(4, size=3_001, p=SHARES).astype(np.int16)
    whole = build(region, 4, params, stream(3, "graph"))
    monkeypatch.setattr(social_graph, "_GUIDE_CHUNK", 7)
    blocked = build(region, 4, params, stream(3, "graph"))
    assert len(blocked.guide) > 7 * 3 and blocked.guide.dtype == np.int32
    np.testing.assert_array_equal(blocked.guide, whole.guide)
    bounds = np.arange(len(whole.guide)) / whole.guide_scale
    np.testing.assert_array_equal(
        blocked.guide, np.searchsorted(whole.checkpoints, bounds, "right")
    )
    assert blocked.guide[-1] == len(blocked.checkpoints)  # the last bound: past every one
