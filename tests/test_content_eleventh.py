"""The content phase and the graph's look-ups at 1M, eleventh pass (issue 21): the same
answers as the long way, checked value by value and on the generator's state.

* Many sharers from several hours are gathered from the post's recent viewers joined in one
  pool (``Post._join``), each hour copied there once (after its shares are filled in),
  instead of the hours' arrays joined or looped over at every draw.
* The whole cumulative attention (kept up to ``_FULL_UP_TO`` consumers) is read through its
  own guide (``SocialGraph._whole_guide``), in numpy (``_locate_whole``) and on Python
  numbers (``_few_targets``), instead of a binary search; the guide is made in blocks
  (``_rising_guide``).
"""

from __future__ import annotations

import bisect
import copy
import math
import pickle

import numpy as np
import pytest

import sim
import sim.content as content
import sim.social_graph as social_graph
from sim.content import Post
from sim.rng import stream
from sim.social_graph import build


def _graph(n: int, seed: int, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    shares = np.array([0.5, 0.3, 0.2])
    region = stream(seed, "test-region").choice(3, size=n, p=shares).astype(np.int16)
    return build(region, 3, params, stream(seed, "graph"))


# -- the sharers' pool -------------------------------------------------------------------


def _post_story(seed: int, joined: bool, monkeypatch) -> list[np.ndarray]:
    """A post remembering viewers for 600 hours (empty hours, hours of factor 0, a few large
    hours), whose arrays' tails are filled in after they are remembered (as the hour's
    batch of look-ups fills them), drawing sharers at some hours: every draw and the
    stream's next numbers."""
    monkeypatch.setattr(content, "_JOINED", joined)
    decay = (0.97, math.exp(-1 / 6), 0.9)[seed % 3]
    world = np.random.default_rng(seed)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(seed, "post"))
    out = []
    filled: list[tuple[np.ndarray, int]] = []
    for h in range(600):
        post._k = h
        for consumers, at in filled:  # the hour's look-ups fill last hour's shares
            consumers[at:] = world.integers(0, 10**6, len(consumers) - at)
        filled = []
        if h % 3 and h % 41 and post._viewers:  # a draw (of this hour's sharers)
            k = int(world.choice([1, 5, 33, 80, 400, 2500]))
            got = post._sharers(k, decay, post.rng, post._holding())
            out.append(np.asarray(got, dtype=np.int64))
        size = int(world.choice([0, 1, 3, 20, 300, 3000], p=[0.1, 0.2, 0.3, 0.25, 0.1, 0.05]))
        factor = 0.0 if h % 13 == 0 else float(world.choice([1.0, world.random()]))
        consumers = np.full(size, -1, dtype=np.int64)  # shares not yet looked up
        at = int(world.integers(0, size + 1))
        consumers[:at] = world.integers(0, 10**6, at)
        post._remember(consumers, decay, factor)
        filled.append((consumers, at))
        post.check_viewer_weights()
    out.append(post.rng.integers(0, 2**62, 8))  # the stream after
    return out


@pytest.mark.parametrize("most", [1 << 17, 5_000])
@pytest.mark.parametrize("seed", range(6))
def test_sharers_gathered_from_the_joined_pool_are_those_of_the_hours_arrays(
    seed, most, monkeypatch
):
    monkeypatch.setattr(content, "_POOL_MOST", most)  # (5,000: often too many to join)
    joined = _post_story(seed, True, monkeypatch)
    long_way = _post_story(seed, False, monkeypatch)
    assert len(joined) == len(long_way) > 300
    for a, b in zip(joined, long_way, strict=True):
        assert a.dtype == b.dtype == np.int64
        np.testing.assert_array_equal(a, b)


def test_the_pool_is_used_moved_and_grown(monkeypatch):
    """The story above goes through every branch of the pool: a draw from it, its live
    viewers moved to its start in place and into a larger pool, the entries' arrays moved
    (more than 64 live hours) with joined entries among them, and (with a lower cap) a pool
    forgotten for too many viewers, then made again."""
    moved = {"in_place": 0, "grown": 0, "entries": 0, "gathered": 0, "forgotten": 0}
    join, remember = Post._join, Post._remember

    def counting_join(self):
        pool, end, a = self._pool, self._pool_end, self._head
        c = max(self._joined, a)
        need = sum(len(v) for _, v, _ in self._viewers[c - a :])
        joined = join(self)
        if not joined:
            assert len(self._pool) == 0 and self._joined <= self._head  # nothing joined
            moved["forgotten"] += 1
        elif end + need > len(pool):
            moved["in_place" if self._pool is pool else "grown"] += 1
        moved["gathered"] += joined
        return joined

    def counting_remember(self, viewers, decay, share_factor):
        joined = max(self._joined, self._head) > self._head
        full = self._tail == len(self._viewer_mass)
        remember(self, viewers, decay, share_factor)
        moved["entries"] += joined and full and len(viewers) > 0 and share_factor > 0

    monkeypatch.setattr(Post, "_join", counting_join)
    monkeypatch.setattr(Post, "_remember", counting_remember)
    for seed in range(6):
        _post_story(seed, True, monkeypatch)
    monkeypatch.setattr(content, "_POOL_MOST", 5_000)
    _post_story(0, True, monkeypatch)
    assert all(v > 0 for v in moved.values()), moved


def test_a_stale_pool_is_caught():
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(0, "post"))
    for h in range(6):
        post._k = h
        post._remember(np.arange(10 * h, 10 * h + 40), 0.8, 1.0)
    post._k = 6
    assert isinstance(post._sharers(100, 0.8, post.rng, post._holding()), np.ndarray)  # joined
    post.check_viewer_weights()
    post._pool[post._viewer_start[post._head]] += 1
    with pytest.raises(AssertionError, match="pool is stale"):
        post.check_viewer_weights()


# -- the whole table's guide -------------------------------------------------------------


def _points(g, rng) -> np.ndarray:
    whole = g._cumw
    total = float(whole[-1])
    return np.concatenate(
        [
            whole,
            np.nextafter(whole, 0),
            np.nextafter(whole, np.inf),
            [0.0, total, np.nextafter(total, np.inf), total * 1.5, total * 4 + 7],
            rng.random(3000) * total,
        ]
    )


@pytest.mark.parametrize(
    ("n", "seed", "changes"),
    [
        (1, 0, {}),
        (40, 1, {}),
        (5_000, 2, {}),
        (60_000, 3, {}),
        (3_000, 4, {"degree_exponent": 1.5}),  # heavy weights: wide buckets
        (3_000, 5, {"within_community": 0.0, "within_region": 0.0}),
    ],
)
def test_the_whole_guide_finds_what_a_binary_search_finds(n, seed, changes):
    g = _graph(n, seed, **changes)
    rng = np.random.default_rng(seed)
    points = _points(g, rng)
    expect = np.searchsorted(g._cumw, points, side="right") - 1
    got = g._locate_whole(points)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_array_equal(g._locate(points), expect)  # the whole table, guided
    # the guide: a power-of-two scale, one or two entries a value, the most in a bucket
    guide, scale, span = g._whole_guide
    assert math.frexp(scale)[0] == 0.5 and guide.dtype == np.int32
    assert n + 1 <= len(guide) <= 2 * (n + 1) + 2
    np.testing.assert_array_equal(
        guide, np.searchsorted(g._cumw, np.arange(len(guide)) / scale, side="right")
    )
    assert span == int(np.diff(guide).max())
    assert guide[-1] == n + 1


@pytest.mark.parametrize(("n", "seed"), [(40, 1), (5_000, 2), (60_000, 3)])
def test_few_edges_through_the_guide_are_found_as_numpy_finds_them(n, seed, monkeypatch):
    monkeypatch.setattr(social_graph, "_K", None)  # the Python paths (test_graph_kernel.py)
    g = _graph(n, seed)
    rng = np.random.default_rng(seed)
    src = np.concatenate([rng.integers(0, n, 4000), np.arange(min(n, 2000))])
    j = (rng.random(len(src)) * g.degree[src]).astype(np.int64)
    got = {}
    for searched in (True, False):  # binary searches in the whole table (the long way), guided
        with monkeypatch.context() as m:
            if searched:
                cls = social_graph.SocialGraph
                m.setattr(
                    cls,
                    "_locate_whole",
                    lambda s, p, clamp=True: np.searchsorted(s._cumw, p, "right") - 1,
                )
                m.setattr(cls, "_locate_guided", lambda s, p: bisect.bisect_right(s._cumw, p) - 1)
            m.setattr(social_graph, "_FEW_EDGES", 0)
            got["numpy", searched] = g.edge_targets(src, j)
            m.setattr(social_graph, "_FEW_EDGES", 1 << 30)
            got["python", searched] = np.array(g._few_targets(src.tolist(), j.tolist()))
    long_way = got["numpy", True]
    for answer in got.values():
        np.testing.assert_array_equal(answer, long_way)
    # points one at a time, on Python numbers: at, next to and past the values
    points = _points(g, rng)
    expect = np.searchsorted(g._cumw, points, side="right") - 1
    assert [g._locate_guided(p) for p in points.tolist()] == expect.tolist()


@pytest.mark.parametrize("chunk", [1, 7, 1000, 1 << 16])
@pytest.mark.parametrize("scale", [2.0**-3, 0.5, 1.0, 4.0])
def test_the_rising_guide_is_the_guide(chunk, scale, monkeypatch):
    monkeypatch.setattr(social_graph, "_RISING_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    tables = [
        np.array([0.0]),
        np.array([0.0, 1.0]),
        np.concatenate([[0.0], np.cumsum(rng.pareto(1.5, 5000) + 1.0)]),
        np.concatenate([[0.0], np.cumsum(np.ones(3000))]),  # values on every bound
        np.concatenate([[0.0], np.cumsum(rng.random(2000) * 40 + 1.0)]),
    ]
    for values in tables:
        length = math.floor(float(values[-1]) * scale) + 2
        got = social_graph._rising_guide(values, length, scale)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, social_graph._guide(values, length, scale))
    with pytest.raises(ValueError, match="power of two"):
        social_graph._rising_guide(tables[2], 10, 0.3)


def test_the_whole_guide_is_counted_and_not_copied_as_views():
    g = _graph(5_000, 7)
    columns = g.nbytes
    _ = g._cumw
    assert g.nbytes == columns + 8 * (5_000 + 1)  # the table alone: its guide not made
    g._few_targets([1, 2, 3], [0, 0, 0])  # the guide and its views made
    assert g.nbytes == columns + 8 * (5_000 + 1) + g._whole_guide[0].nbytes
    assert "_whole_guide_views" in vars(g)
    # its last entry is the guide's last (n + 1), as take(..., mode="clip") reads past it
    assert g._whole_guide_views[2] == len(g._whole_guide[0]) - 1
    for other in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert "_whole_guide_views" not in vars(other)
        assert other._few_targets([1, 2, 3], [0, 1, 0]) == g._few_targets([1, 2, 3], [0, 1, 0])


# -- the slots of a list of sharers -------------------------------------------------------


@pytest.mark.parametrize("few", [0, 2, 1 << 30])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 8, 9, 30, 32, 64, 65, 100])
def test_slot_lists_are_numpys_slots_whatever_the_doubles_way(k, few, monkeypatch):
    """Up to ``_SLOT_LIST`` nodes the slots are drawn on Python numbers: the doubles one by one
    (``next_double``) up to ``_FEW_DOUBLES``, else from one ``rng.random`` call; the same
    slots and the same generator state as numpy's (a half-used 32-bit word left in it)."""
    monkeypatch.setattr(social_graph, "_FEW_DOUBLES", few)
    graph = _graph(3_000, 5)
    nodes = np.random.default_rng(k).integers(0, graph.n, k)
    a, b = stream(k, "slots-11"), stream(k, "slots-11")
    if k % 2:
        a.integers(0, 7, 3), b.integers(0, 7, 3)
    got = graph.neighbour_slot_list(nodes.tolist(), a)
    monkeypatch.setattr(social_graph, "_FEW_SLOTS", 0)
    expect = graph.neighbour_slots(nodes, b)
    assert got == expect.tolist() and all(type(x) is int for x in got)
    assert a.bit_generator.state == b.bit_generator.state


# -- whole runs ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["head_kol_livestream/flexible", "kol_matrix/rigid"])
@pytest.mark.parametrize("mode", ["off", "on", "capped"])
def test_golden_runs_with_the_pool_off_on_and_capped(case, mode, tmp_path, monkeypatch):
    """The recorded digests with the pool and the slot lists on (as shipped, the cap never
    met), off (the paths before this pass: ``_join`` never called, so no cap applies), and
    on with a cap low enough to be met (200 viewers; these runs join 89 to 594 at a time:
    some ``_join`` returns False, the pool forgotten and those sharers drawn from the hours'
    arrays). The whole guide has no switch: every run reads it (its answers are checked
    against ``np.searchsorted`` above)."""
    import json

    from tests import golden

    monkeypatch.setattr(content, "_JOINED", mode != "off")
    monkeypatch.setattr(content, "_POOL_MOST", 200 if mode == "capped" else 1 << 17)
    monkeypatch.setattr(content, "_FEW_SHARERS", 8)  # more draws gathered (pool or arrays)
    monkeypatch.setattr(social_graph, "_SLOT_LIST", 8 if mode == "off" else 64)
    monkeypatch.setattr(social_graph, "_FEW_DOUBLES", 8 if mode == "off" else 2)
    joins = []
    join = Post._join
    monkeypatch.setattr(Post, "_join", lambda self: joins.append(join(self)) or joins[-1])
    story, setup = case.split("/")
    recorded = json.loads(golden.DIGESTS.read_text())
    assert golden.digest_case(story, setup, tmp_path) == recorded[case]
    if mode == "off":
        assert joins == []  # the pool never tried
    elif mode == "on":
        assert joins and all(joins)  # the pool used, its cap never met
    else:
        assert True in joins and False in joins  # the pool used, and dropped at the cap


@pytest.mark.parametrize("chunk", [1, 3, 1 << 16])
def test_the_whole_guides_span_found_block_by_block_is_the_most_in_a_bucket(chunk, monkeypatch):
    monkeypatch.setattr(social_graph, "_RISING_CHUNK", chunk)
    for n, seed, changes in ((1, 0, {}), (300, 1, {}), (3_000, 4, {"degree_exponent": 1.5})):
        g = _graph(n, seed, **changes)
        guide, _, span = g._whole_guide
        assert span == int(np.diff(guide).max())
