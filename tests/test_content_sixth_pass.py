"""Shortcuts of the content phase (issue 21, sixth pass) give exactly what the long way
gives: a post's few draws kept as Python lists until one array of consumers is made, the
hour's shares added as lists and looked up together, the slots of a few sharers drawn from
the generator's own doubles; compared with the numpy way on the consumers drawn and on the
generator's state afterwards, over varied worlds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
import sim.content as content
import sim.social_graph as social_graph
from sim.content import PendingShares, Post
from sim.rng import stream
from sim.social_graph import build

CFG = sim.compose().content
VIDEO, LIVE = CFG.short_video, CFG.livestream
BIG = 1 << 30
SHORTCUTS = {
    content: ("_FEW_PICKS", "_FEW_SHARERS"),
    social_graph: ("_FEW_SLOTS", "_FEW_EDGES"),
}


def _graph(n: int, seed: int, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "six-region").integers(0, 3, n).astype(np.int16)
    return build(region, 3, params, stream(seed, "graph"))


def _long_way(monkeypatch) -> None:
    """Every few-draw shortcut off: numpy calls with arrays."""
    for module, names in SHORTCUTS.items():
        for name in names:
            monkeypatch.setattr(module, name, 0)


def _run_posts(graph, seed: int, scale: float, batched: bool, kinds: tuple[str, ...]):
    """A few posts over 60 hours: their exposures and their generators' states."""
    n = graph.n
    followers = np.sort(stream(seed, "six-followers").choice(n, n // 4, replace=False))
    followers = followers.astype(np.int32)
    decay = math.exp(-1 / VIDEO.share_kernel_hours)
    posts = [
        Post(
            f"p{i}",
            0,
            kind,
            np.array([0, 3][: 1 + i % 2]),
            i,
            24,
            scale * (1 + i),
            stream(seed, "six-post", i),
        )
        for i, kind in enumerate(kinds)
    ]
    pending = PendingShares(graph) if batched else None
    out = []
    for h in range(60):
        hour = []
        for post in posts:
            drawn = post.views_this_hour(h, VIDEO, LIVE, 0.5 + 0.5 * (h % 3 != 0))
            nf, no = drawn
            if nf + no:
                hour.append(post.sample_exposures(nf, no, followers, n, graph, decay, 1.0, pending))
        if pending is not None:
            pending.resolve()
        out += [(c.dtype.str, c.tolist(), s.dtype.str, s.tolist()) for c, s in hour]
    return out, [p.rng.bit_generator.state for p in posts]


@pytest.mark.parametrize(
    ("n", "seed", "scale", "changes"),
    [
        (3_000, 0, 2.0, {}),  # a few views an hour: lists throughout
        (6_000, 1, 40.0, {}),  # tens of views: lists and arrays in the same hour
        (20_000, 2, 600.0, {}),  # hundreds: arrays
        (2_000, 3, 10.0, {"community_size_mean": 1.2}),  # consumers alone in their community
    ],
)
@pytest.mark.parametrize("batched", [False, True])
def test_a_posts_draws_as_lists_are_the_arrays_draws(n, seed, scale, changes, batched, monkeypatch):
    graph = _graph(n, seed, **changes)
    kinds = ("short_video", "short_video", "livestream", "short_video")
    fast = _run_posts(graph, seed, scale, batched, kinds)
    assert sum(len(c) for _, c, _, _ in fast[0]) > 0
    _long_way(monkeypatch)
    slow = _run_posts(graph, seed, scale, batched, kinds)
    assert fast == slow
    for module, names in SHORTCUTS.items():  # every list path, however many draws
        for name in names:
            monkeypatch.setattr(module, name, BIG)
    assert _run_posts(graph, seed, scale, batched, kinds) == slow


def test_shares_added_as_lists_and_arrays_are_filled_as_one_call_fills_them():
    graph = _graph(5_000, 4)
    r = np.random.default_rng(4)
    pending = PendingShares(graph)
    want = []
    for i in range(12):
        k = int(r.integers(1, 40))
        src = r.integers(0, graph.n, k)
        slots = (r.random(k) * graph.degree[src]).astype(np.int64)
        at = int(r.integers(0, 5))
        consumers = np.full(at + k, -7, dtype=np.int64)
        if i % 3:  # as lists (what a post's few draws give)
            pending.add(consumers, at, src.tolist(), slots.tolist())
        else:
            pending.add(consumers, at, src, slots)
        want.append((consumers, np.concatenate([np.full(at, -7), graph.edge_targets(src, slots)])))
    pending.resolve()
    for consumers, expect in want:
        assert consumers.dtype == np.int64
        np.testing.assert_array_equal(consumers, expect)
    pending.resolve()  # nothing left: a no-op
    for consumers, expect in want:
        np.testing.assert_array_equal(consumers, expect)


@pytest.mark.parametrize("k", [0, 1, 5, 16, 17, 60])
def test_edge_targets_of_lists_are_the_arrays_targets(k):
    graph = _graph(4_000, 6)
    r = np.random.default_rng(k)
    src = r.integers(0, graph.n, k)
    slots = (r.random(k) * graph.degree[src]).astype(np.int64)
    got = graph.edge_targets_of_lists(src.tolist(), slots.tolist())
    if k <= 16:  # a few: a list of Python integers
        assert type(got) is list and all(type(x) is int for x in got)
    else:
        assert got.dtype == np.int64
    assert list(got) == graph.edge_targets(src, slots).tolist()


@pytest.mark.parametrize(
    ("n", "seed", "changes"),
    [
        (5_000, 7, {}),
        (3_000, 8, {"community_size_mean": 1.2}),  # many alone in their community
        (2_000, 9, {"within_community": 1.0, "within_region": 0.0}),
        (3_000, 10, {"within_community": 0.0, "within_region": 0.0}),
        (4_000, 11, {"within_community": 0.0, "within_region": 1.0}),
    ],
)
def test_self_loops_mended_in_python_and_scopes_read_by_need_are_numpys(
    n, seed, changes, monkeypatch
):
    """Look-ups of thousands of edges (self-loops among them) with the few self-loops
    mended on Python numbers or with arrays, and each edge's scope read from both columns
    or only the one it needs: the same targets, and the Python few-edge path agrees (the
    Python paths: the compiled look-ups are compared with them in test_graph_kernel.py)."""
    monkeypatch.setattr(social_graph, "_K", None)
    g = _graph(n, seed, **changes)
    r = np.random.default_rng(seed)
    mended = []
    unloop = social_graph.SocialGraph._unloop

    def counted(self, at, *args):
        mended.append(len(at))
        return unloop(self, at, *args)

    monkeypatch.setattr(social_graph.SocialGraph, "_unloop", counted)
    answers = {}
    for size in (40, 300, 2_000):
        src = r.integers(0, n, size)
        src[: size // 4] = g.order[np.searchsorted(g.comm_start, 0)]  # repeated sources
        j = (r.random(size) * g.degree[src]).astype(np.int64)
        for loops in (0, BIG):
            for gather in (0, BIG):
                monkeypatch.setattr(social_graph, "_FEW_LOOPS", loops)
                monkeypatch.setattr(social_graph, "_SCOPE_GATHER", gather)
                answers[size, loops, gather] = g.edge_targets(src, j)
        few = g.edge_targets_of_lists(src.tolist(), j.tolist()) if size <= 40 else None
        first = answers[size, 0, BIG]
        assert first.dtype == np.int64
        for (s, _, _), got in answers.items():
            if s == size:
                np.testing.assert_array_equal(got, first)
        assert (first != src).all()  # no self-loops left
        if few is not None:
            monkeypatch.setattr(social_graph, "_FEW_EDGES", BIG)
            assert list(g.edge_targets_of_lists(src.tolist(), j.tolist())) == first.tolist()
            monkeypatch.setattr(social_graph, "_FEW_EDGES", 16)
    if changes.get("within_community", 1.0) > 0:  # communities: self-loops are common
        assert sum(mended) > 0  # the Python mend was used


@pytest.mark.parametrize("chunk", [1, 100, 700, BIG])
def test_look_ups_in_chunks_are_one_searchsorted(chunk, monkeypatch):
    """The stored sums' look-up (large graphs) in one chunk or several, by binary search
    or the guide's bracket: every answer is ``searchsorted(cumw, point, "right") - 1``."""
    g = _graph(6_000, 12)
    whole = g.cumulative_attention(np.arange(g.n + 1))
    r = np.random.default_rng(chunk % 97)
    points = np.concatenate([whole, np.nextafter(whole, 0), r.random(3000) * whole[-1]])
    points = np.clip(points, 0.0, whole[-1])
    expect = np.searchsorted(whole, points, side="right") - 1
    monkeypatch.setattr(social_graph, "_FULL_UP_TO", 0)  # the stored sums
    monkeypatch.setattr(social_graph, "_LOOKUPS", chunk)
    for search in (0, BIG):
        monkeypatch.setattr(social_graph, "_SEARCH", search)
        got = g._locate(points)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expect)
    assert g._locate(points[:0]).shape == (0,)
