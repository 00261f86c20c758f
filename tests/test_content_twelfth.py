"""The graph's look-ups, twelfth pass (issue 21): fewer numpy calls a batch, with the same
floats and the same targets.

* The hash's two uniforms from one product of its 32-bit words (``_uniforms``) against the
  shift and the mask (``_LITTLE`` off) and the hash on Python integers.
* The whole table read through shifted views (``_shifted_cumw``), and the clamp at ``n``
  left to the scope's clip (``_locate_whole(..., clamp=False)``): the same positions once
  clipped, the views kept out of copies and pickles.
* Batches of 17 to 3,000 edges in numpy against the edges found one at a time in Python.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import sim
import sim.social_graph as social_graph
from sim.rng import stream
from sim.social_graph import build


def _graph(n: int, seed: int, regions: int = 3, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "twelfth-region").integers(0, regions, n).astype(np.int16)
    return build(region, regions, params, stream(seed, "graph"))


# -- the look-ups -----------------------------------------------------------------------


@pytest.mark.parametrize("salt", [0, 1, 7])
@pytest.mark.parametrize("size", [0, 1, 17, 1_000, 70_001])
def test_the_uniforms_from_the_words_are_the_shifted_and_masked_halves(salt, size, monkeypatch):
    rng = np.random.default_rng(size + salt)
    i = rng.integers(0, 1 << 31, size)
    j = rng.integers(0, 1 << 16, size)
    key = np.uint64(rng.integers(0, 1 << 63))
    words = social_graph._uniforms(key, i, j, salt)
    monkeypatch.setattr(social_graph, "_LITTLE", False)  # the shift and the mask
    shifted = social_graph._uniforms(key, i, j, salt)
    for a, b in zip(words, shifted, strict=True):
        assert a.dtype == b.dtype == np.float64
        assert a.tobytes() == b.tobytes()
    # and the hash on Python integers
    for s, k, hi, lo in list(zip(i.tolist(), j.tolist(), *words, strict=True))[:50]:
        x = social_graph._hash(int(key), s, k, salt)
        assert (hi, lo) == ((x >> 32) * social_graph._SCALE, (x & 0xFFFFFFFF) * social_graph._SCALE)


@pytest.mark.parametrize(("n", "seed"), [(40, 1), (5_000, 2), (60_000, 3)])
def test_the_shifted_views_and_the_clamp_left_to_the_clip(n, seed):
    g = _graph(n, seed)
    cumw = g._cumw
    total = float(cumw[-1])
    rng = np.random.default_rng(seed)
    points = np.concatenate(
        [
            rng.random(3_000) * total,
            cumw[rng.integers(0, n + 1, 500)],
            np.nextafter(cumw[rng.integers(0, n + 1, 500)], np.inf),
            [0.0, total, np.nextafter(total, np.inf), total * 1.5, total + 1e6],
        ]
    )
    expect = np.searchsorted(cumw, points, side="right") - 1
    np.testing.assert_array_equal(g._locate_whole(points), expect)
    free = g._locate_whole(points, clamp=False)
    np.testing.assert_array_equal(np.minimum(free, n), expect)  # (past n: at the total, past)
    assert (free[points < cumw[-2]] == expect[points < cumw[-2]]).all()
    # any scope's clip (lo <= last <= n - 1) gives the same position with or without the clamp
    lo = rng.integers(0, n, len(points))
    last = lo + (rng.random(len(points)) * (n - lo)).astype(np.int64)
    np.testing.assert_array_equal(np.minimum(np.maximum(free, lo), last), np.clip(expect, lo, last))
    # the views are cumw[t:] for t < span, and stay out of pickles and copies
    span = g._whole_guide[2]
    assert len(g._shifted_cumw) == span
    for t, view in enumerate(g._shifted_cumw):
        assert np.shares_memory(view, cumw)  # a view of the table, not a copy
        np.testing.assert_array_equal(view, cumw[t:])
    for other in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert "_shifted_cumw" not in vars(other)
        np.testing.assert_array_equal(other._locate_whole(points), expect)


@pytest.mark.parametrize(
    ("n", "seed", "regions", "changes"),
    [
        (5_000, 2, 3, {}),
        (3_000, 3, 1, {"community_size_mean": 2.0}),  # the smallest mean a config allows
        (2_500, 4, 5, {"within_community": 1.0, "within_region": 0.0}),
        (3_000, 5, 2, {"within_community": 0.0, "within_region": 0.0}),
        (4_000, 6, 4, {"within_community": 0.0, "within_region": 1.0}),
    ],
)
def test_array_look_ups_are_the_edges_found_one_by_one(n, seed, regions, changes, monkeypatch):
    """Batches of 17 to 3,000 edges (the numpy path, its self-loops mended both ways), with
    the words' uniforms and with the shifted ones, against the edges found one at a time
    on Python numbers."""
    g = _graph(n, seed, regions, **changes)
    r = np.random.default_rng(seed)
    for size in (17, 40, 300, 3_000):
        src = r.integers(0, n, size)
        src[: size // 3] = g.order[g.comm_start[r.integers(0, len(g.comm_start) - 1)]]
        j = (r.random(size) * g.degree[src]).astype(np.int64)
        one_by_one = g._few_targets(src.tolist(), j.tolist())
        for little in (True, False):
            with monkeypatch.context() as m:
                m.setattr(social_graph, "_LITTLE", little)
                got = g.edge_targets(src, j)
            assert got.dtype == np.int64
            assert got.tolist() == one_by_one


def test_points_at_the_scopes_top_land_on_its_last_position(monkeypatch):
    """Points at the very top of their scope (u = 1) land on the scope's last position, as
    the whole search clamped at n then clipped to [lo, hi - 1] (the production clip, not a
    copy of it: a clip to hi instead of hi - 1 fails here; the Python path: the compiled
    look-ups are compared with it in test_graph_kernel.py)."""
    monkeypatch.setattr(social_graph, "_K", None)
    params = sim.compose().market.social_graph
    n = 5_000
    region = stream(3, "r").integers(0, 3, n).astype(np.int16)
    g = build(region, 3, params, stream(3, "graph"))
    rng = np.random.default_rng(3)
    src = rng.integers(0, n, 600)
    j = np.zeros(600, dtype=np.int64)
    scope = np.repeat([0.0, 0.999, 0.99999], 200)  # community, region, market
    real = social_graph._uniforms

    def top_of_scope(k, i, jj, salt):  # the point at its scope's top (u = 1)
        return (scope[: len(i)], np.ones(len(i))) if salt == 0 else real(k, i, jj, salt)

    monkeypatch.setattr(social_graph, "_uniforms", top_of_scope)
    got = g.edge_targets(src, j)
    # reference: the whole search, clamped at n, then np.clip to [lo, hi - 1]
    table = g._scope_table
    rows = g._scope_rows(src, scope)
    lo, hi = table[rows, 0], table[rows, 1]
    cum_hi = table[rows, 3].view(np.float64)
    pos = np.minimum(np.searchsorted(g._cumw, cum_hi, "right") - 1, n)
    pos = np.clip(pos, lo, hi - 1)
    ok = g.order[pos] != src
    assert ok.sum() > 300
    np.testing.assert_array_equal(got[ok], g.order[pos][ok])
