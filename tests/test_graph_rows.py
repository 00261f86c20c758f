"""The graph's look-ups read each edge's scope from one row of the scopes' table (issue 21,
the national audience's run): the same targets as the long way, edge by edge on Python
numbers from the graph's own bound columns, over varied graphs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.social_graph as social_graph
from sim.rng import stream
from sim.social_graph import build

BIG = 1 << 30


def _graph(n: int, seed: int, regions: int = 3, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "rows-region").integers(0, regions, n).astype(np.int16)
    return build(region, regions, params, stream(seed, "graph"))


def test_the_scopes_table_holds_each_scopes_bounds():
    g = _graph(3_000, 1)
    table = g._scope_table
    n_comm, n_reg = len(g.comm_start) - 1, len(g.region_start) - 1
    assert table.shape == (n_comm + n_reg + 1, 4)
    lo, hi, cum_lo, cum_hi = social_graph._scope_columns(table)
    np.testing.assert_array_equal(lo, np.r_[g.comm_start[:-1], g.region_start[:-1], 0])
    np.testing.assert_array_equal(hi, np.r_[g.comm_start[1:], g.region_start[1:], g.n])
    total = g.region_cum[-1]
    assert cum_lo.dtype == cum_hi.dtype == np.float64
    assert cum_lo.tobytes() == np.r_[g.comm_cum[:-1], g.region_cum[:-1], 0.0].tobytes()
    assert cum_hi.tobytes() == np.r_[g.comm_cum[1:], g.region_cum[1:], total].tobytes()


@pytest.mark.parametrize(
    ("n", "seed", "regions", "changes"),
    [
        (5_000, 2, 3, {}),
        (3_000, 3, 1, {"community_size_mean": 1.2}),  # many alone in their community
        (2_500, 4, 5, {"within_community": 1.0, "within_region": 0.0}),
        (3_000, 5, 2, {"within_community": 0.0, "within_region": 0.0}),
        (4_000, 6, 4, {"within_community": 0.0, "within_region": 1.0}),
        (6_000, 7, 3, {"within_community": 0.3, "within_region": 0.3}),
    ],
)
def test_array_look_ups_are_the_edges_found_one_by_one(n, seed, regions, changes, monkeypatch):
    """Batches of 17 to 5,000 edges (repeated sources, self-loops mended both ways, scopes
    read from both columns or by need, the whole table or the stored sums) against the same
    edges found one at a time on Python numbers (the Python paths; the compiled look-ups
    are compared with them in test_graph_kernel.py)."""
    monkeypatch.setattr(social_graph, "_K", None)
    g = _graph(n, seed, regions, **changes)
    r = np.random.default_rng(seed)
    for size in (17, 300, 2_000, 5_000):
        src = r.integers(0, n, size)
        src[: size // 4] = g.order[g.comm_start[r.integers(0, len(g.comm_start) - 1)]]
        j = (r.random(size) * g.degree[src]).astype(np.int64)
        expect = g._few_targets(src.tolist(), j.tolist())
        for loops, gather, full in ((16, 1024, 1 << 22), (0, 0, 0), (BIG, BIG, 0)):
            monkeypatch.setattr(social_graph, "_FEW_LOOPS", loops)
            monkeypatch.setattr(social_graph, "_SCOPE_GATHER", gather)
            monkeypatch.setattr(social_graph, "_FULL_UP_TO", full)
            got = g.edge_targets(src, j)
            assert got.dtype == np.int64
            assert got.tolist() == expect


def test_a_copy_looks_up_with_its_own_table():
    """A graph copied or pickled before its first look-up makes its own table, and finds
    the same edges as the original."""
    import pickle

    src = np.arange(0, 2_000, 3)
    j = np.zeros(len(src), np.int64)
    first = _graph(2_000, 8).edge_targets(src, j)
    for make in (copy.deepcopy, copy.copy, lambda g: pickle.loads(pickle.dumps(g))):
        g = _graph(2_000, 8)
        assert "_scope_table" not in g.__dict__  # never looked up: no table yet
        other = make(g)
        np.testing.assert_array_equal(other.edge_targets(src, j), first)
        np.testing.assert_array_equal(g.edge_targets(src, j), first)
