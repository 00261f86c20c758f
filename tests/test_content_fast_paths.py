"""Shortcuts of the content phase (issue 21, fourth pass) give exactly what the long way
gives: the graph's look-ups of a few edges on Python numbers, a binary search for a few
points, a block's sums in one ``np.cumsum``, sharers picked from each hour's viewers;
checked look-up by look-up against the numpy path, and on golden runs with every shortcut
forced off and forced on."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import sim
import sim.content as content
import sim.social_graph as social_graph
from sim.rng import stream
from sim.social_graph import build
from tests import golden

RECORDED = json.loads(golden.DIGESTS.read_text())
CASES = ["head_kol_livestream/flexible", "two_brands/rigid", "steady_seller/flexible"]


def _graph(n: int, seed: int, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    shares = np.array([0.5, 0.3, 0.2])
    region = stream(seed, "test-region").choice(3, size=n, p=shares).astype(np.int16)
    return build(region, 3, params, stream(seed, "graph"))


@pytest.mark.parametrize(
    ("n", "seed", "changes"),
    [
        (5_000, 0, {}),
        (40_000, 1, {}),
        (3_000, 2, {"community_size_mean": 1.2}),  # many consumers alone in their community
        (3_000, 3, {"within_community": 0.0, "within_region": 0.0}),
        (2_000, 4, {"within_community": 1.0, "within_region": 0.0}),
    ],
)
def test_few_edges_are_found_as_numpy_finds_them(n, seed, changes, monkeypatch):
    monkeypatch.setattr(social_graph, "_K", None)  # the Python paths (test_graph_kernel.py)
    monkeypatch.setattr(social_graph, "_FULL_UP_TO", 0)  # the stored sums (large graphs)
    g = _graph(n, seed, **changes)
    rng = np.random.default_rng(seed)
    src = np.concatenate([rng.integers(0, n, 3000), np.arange(min(n, 2000))])
    j = (rng.random(len(src)) * g.degree[src]).astype(np.int64)
    monkeypatch.setattr(social_graph, "_FEW_EDGES", 0)
    long_way = g.edge_targets(src, j)
    monkeypatch.setattr(social_graph, "_FEW_EDGES", 1 << 30)
    few = g.edge_targets(src, j)
    assert few.dtype == long_way.dtype == np.int64
    np.testing.assert_array_equal(few, long_way)
    # one point at a time and all at once: the same positions, at and next to stored sums
    cp = g.checkpoints[:-1]
    points = np.concatenate([cp, np.nextafter(cp, np.inf), np.nextafter(cp, 0), rng.random(500)])
    points = np.clip(points, 0.0, float(g.region_cum[-1]))
    monkeypatch.setattr(social_graph, "_SEARCH", 0)  # the guide's bracket, counted up
    located = g._locate(points)
    np.testing.assert_array_equal([g._locate_one(float(p)) for p in points], located)
    monkeypatch.setattr(social_graph, "_SEARCH", 1 << 30)  # a binary search per point
    np.testing.assert_array_equal(g._locate(points), located)


@pytest.mark.parametrize("size", [1, 5, 127, 128, 129, 1000])
def test_block_sums_in_one_call_are_the_sums_added_in_turn(size, monkeypatch):
    g = _graph(20_000, 5)
    blk = np.random.default_rng(size).integers(0, len(g.checkpoints) - 1, size)
    monkeypatch.setattr(social_graph, "_ACCUMULATE", 0)
    long_way = g._block_sums(blk)
    monkeypatch.setattr(social_graph, "_ACCUMULATE", 1 << 30)
    np.testing.assert_array_equal(g._block_sums(blk), long_way)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fast", [False, True])
def test_golden_runs_with_the_content_shortcuts_off_and_on(case, fast, tmp_path, monkeypatch):
    big = 1 << 30
    monkeypatch.setattr(social_graph, "_K", None)  # the Python look-ups' shortcuts
    for name in ("_FEW_EDGES", "_SEARCH", "_ACCUMULATE", "_FULL_UP_TO", "_WHOLE_SEARCH"):
        monkeypatch.setattr(social_graph, name, big if fast else 0)
    monkeypatch.setattr(content, "_GATHER", 0 if fast else big)
    monkeypatch.setattr(content, "_FEW_SHARERS", big if fast else 0)
    monkeypatch.setattr(content, "_FEW_PICKS", big if fast else 0)
    monkeypatch.setattr(social_graph, "_FEW_SLOTS", big if fast else 0)
    monkeypatch.setattr(social_graph, "_FEW_LOOPS", big if fast else 0)
    monkeypatch.setattr(social_graph, "_SCOPE_GATHER", 0 if fast else big)
    story, setup = case.split("/")
    assert golden.digest_case(story, setup, tmp_path) == RECORDED[case]


def test_sharers_picked_per_hour_are_those_picked_from_the_viewers_joined(monkeypatch):
    from sim.content import Post

    def sharers(gather: int, few: int, seed: int, k: int) -> np.ndarray:
        monkeypatch.setattr(content, "_GATHER", gather)
        monkeypatch.setattr(content, "_FEW_SHARERS", few)
        viewers = np.random.default_rng(seed)
        post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(seed, "post"))
        for h in range(30):
            post._k = h
            seen = viewers.integers(0, 10**6, int(viewers.integers(0, 400)))
            post._remember(seen, 0.9, 0.5 if h % 3 else 1.0)
        post._k = 30
        got = post._sharers(k, 0.9, post.rng, post._holding())
        return np.concatenate([got, post.rng.integers(0, 2**62, 4)])  # and the stream after

    big = 1 << 30
    for seed in range(5):
        for k in (2, 7, 32, 500):
            joined = sharers(big, 0, seed, k)
            assert joined.dtype == np.int64
            np.testing.assert_array_equal(sharers(0, 0, seed, k), joined)  # per hour
            np.testing.assert_array_equal(sharers(big, big, seed, k), joined)  # in Python


@pytest.mark.parametrize("salt", [0, 1, 7])
def test_the_hash_in_place_is_splitmix64_on_python_integers(salt):
    rng = np.random.default_rng(salt)
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64)) * np.uint64(2) + np.uint64(1)
    i = np.concatenate([rng.integers(0, 2**62, 300), [0, 2**63 - 1]])
    j = np.concatenate([rng.integers(0, 2**40, 300), [2**63 - 1, 0]])
    high, low = social_graph._uniforms(key, i, j, salt)
    for a, b, h, lo in zip(i.tolist(), j.tolist(), high.tolist(), low.tolist(), strict=True):
        x = social_graph._hash(int(key), a, b, salt)
        assert (h, lo) == ((x >> 32) / 2**32, (x & 0xFFFFFFFF) / 2**32)


@pytest.mark.parametrize(("n", "seed"), [(20, 0), (33, 1), (5_000, 2), (70_000, 3)])
def test_the_whole_cumulative_attention_is_the_sums_added_in_turn(n, seed, monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", 4096)  # several chunks, each carried on
    g = _graph(n, seed)
    columns = g.nbytes
    whole = g._cumw
    assert g.nbytes == columns + 8 * (n + 1)  # counted once added up
    np.testing.assert_array_equal(whole, g.cumulative_attention(np.arange(n + 1)))
    expect = np.concatenate([[0.0], np.cumsum(g.weight[:n].astype(np.float64))])
    np.testing.assert_array_equal(whole, expect)


@pytest.mark.parametrize(
    ("n", "seed", "changes"),
    [
        (5_000, 0, {}),
        (40_000, 1, {}),
        (3_000, 2, {"community_size_mean": 1.2}),
        (3_000, 3, {"within_community": 0.0, "within_region": 0.0}),
    ],
)
def test_look_ups_in_the_whole_table_are_those_of_the_stored_sums(n, seed, changes, monkeypatch):
    monkeypatch.setattr(social_graph, "_K", None)  # the Python paths (test_graph_kernel.py)
    g = _graph(n, seed, **changes)
    rng = np.random.default_rng(seed)
    cp = g.checkpoints[:-1]
    whole = g.cumulative_attention(np.arange(n + 1))
    points = np.concatenate(
        [cp, np.nextafter(cp, np.inf), np.nextafter(cp, 0), whole, np.nextafter(whole, 0)]
    )
    points = np.concatenate([points, rng.random(2000) * float(g.region_cum[-1])])
    points = np.clip(points, 0.0, float(g.region_cum[-1]))
    src = np.concatenate([rng.integers(0, n, 3000), np.arange(min(n, 2000))])
    j = (rng.random(len(src)) * g.degree[src]).astype(np.int64)
    answers = {}
    monkeypatch.setattr(social_graph, "_WHOLE_SEARCH", 1 << 30)
    for kept in (False, True):
        monkeypatch.setattr(social_graph, "_FULL_UP_TO", n if kept else n - 1)
        for few in (0, 1 << 30):
            monkeypatch.setattr(social_graph, "_FEW_EDGES", few)
            answers[kept, few] = (g._locate(points), g.edge_targets(src, j))
    located, targets = answers[False, 0]
    np.testing.assert_array_equal(located, np.searchsorted(whole, points, side="right") - 1)
    for got_located, got_targets in answers.values():
        np.testing.assert_array_equal(got_located, located)
        assert got_targets.dtype == np.int64
        np.testing.assert_array_equal(got_targets, targets)


@pytest.mark.parametrize("seed", range(12))
def test_bounded_draws_in_python_are_numpys(seed):
    r = np.random.default_rng(100 + seed)
    bounds = r.integers(1, 5000, 40).tolist()
    bounds += [1, 1, 2, 3, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 5, 2**40, 6 * 10**8]
    bounds += (r.integers(2**31, 2**32 - 1, 20)).tolist()  # rejections are likely
    r.shuffle(bounds)
    a, b = stream(seed, "bounded"), stream(seed, "bounded")
    if seed % 2:  # a half-used 32-bit word left in the generator
        a.integers(0, 7, 3), b.integers(0, 7, 3)
    held = content._hold(a)
    got = content._bounded(a, bounds, held)
    assert got == b.integers(0, np.array(bounds, dtype=np.int64)).tolist()
    assert got == [int(x) for x in got] and all(type(x) is int for x in got)
    assert a.integers(0, 2**62, 3).tolist() == b.integers(0, 2**62, 3).tolist()
    assert a.bit_generator.state == b.bit_generator.state
    # and each bound drawn k times as one call of numpy's
    for bound in (1, 7, 10_000, 2**32 - 1, 2**33):
        for k in (0, 1, 5):
            got = np.asarray(content._draws(a, bound, k, held), dtype=np.int64)
            np.testing.assert_array_equal(got, b.integers(0, bound, k))
            values = np.arange(3, 3 + min(bound, 50), dtype=np.int32)
            got = np.asarray(content._picks(values, a, k, held), dtype=np.int64)
            np.testing.assert_array_equal(got, values[b.integers(0, len(values), k)])
    assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("bound", [0, -3])
def test_a_bound_below_one_is_refused_as_numpy_refuses_it(bound):
    """numpy raises ``high <= 0`` and draws nothing; so does the Python draw (it used to
    return zeros after using up a word)."""
    a, b = stream(4, "bounded"), stream(4, "bounded")
    with pytest.raises(ValueError, match="high <= 0"):
        b.integers(0, np.array([5, bound], dtype=np.int64))
    with pytest.raises(ValueError, match="high <= 0"):
        content._bounded(a, [bound], content._hold(a))
    assert a.bit_generator.state == stream(4, "bounded").bit_generator.state


@pytest.mark.parametrize("seed", range(4))
def test_slots_drawn_one_by_one_are_numpys(seed, monkeypatch):
    g = _graph(3_000, seed)
    nodes = np.random.default_rng(seed).integers(0, g.n, 40)
    for k in (0, 1, 3, 8, 9, 40):
        a, b = stream(seed, "slots", k), stream(seed, "slots", k)
        monkeypatch.setattr(social_graph, "_FEW_SLOTS", 1 << 30)
        few = g.neighbour_slots(nodes[:k], a)
        monkeypatch.setattr(social_graph, "_FEW_SLOTS", 0)
        long_way = g.neighbour_slots(nodes[:k], b)
        assert few.dtype == long_way.dtype == np.int64
        np.testing.assert_array_equal(few, long_way)
        assert a.bit_generator.state == b.bit_generator.state


def _sharers_from_the_viewers(post, k, decay, rng):
    """The sharers as the kernel weights were first computed: from the list of recent
    viewers, Python's ``**`` per hour, one bounded draw call per hour."""
    last = post._k - 1
    w = np.array([len(v) * f * decay ** (last - j) for j, v, f in post._viewers])
    total = np.add.reduce(w)
    if not total > 0:
        return None
    counts = rng.multinomial(k, w / total)
    hours = zip(post._viewers, counts, strict=True)
    picked = [v[rng.integers(0, len(v), c)] for (_, v, _), c in hours if c]
    return np.concatenate(picked).astype(np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_the_viewers_weights_kept_in_growing_arrays_are_the_lists(seed, monkeypatch):
    """Hundreds of hours (the arrays grow and move their live entries), hours without
    viewers or with a share factor of 0, and a long memory (decay 0.97: 227 hours)."""
    from sim.content import Post

    decay = 0.97 if seed % 2 else math.exp(-1 / 6)
    viewers = np.random.default_rng(seed)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(seed, "post"))
    for h in range(400):
        post._k = h
        size = int(viewers.integers(0, 30)) if h % 7 else 0
        factor = 0.0 if h % 11 == 0 else float(viewers.random())
        post._remember(viewers.integers(0, 10**6, size), decay, factor)
        a, b = post._head, post._tail
        assert post._viewer_hours[a:b].tolist() == [j for j, _, _ in post._viewers]
        assert post._viewer_mass[a:b].tolist() == [len(v) * f for _, v, f in post._viewers]
        post.check_viewer_weights()
        if h % 5 == 0 and post._viewers:
            post._k = h + 1
            for k in (1, 3, 40):
                x, y = stream(seed, "sh", h, k), stream(seed, "sh", h, k)
                np.testing.assert_array_equal(
                    post._sharers(k, decay, x, content._hold(x)),
                    _sharers_from_the_viewers(post, k, decay, y),
                )
                assert x.bit_generator.state == y.bit_generator.state
            post._k = h


@pytest.mark.parametrize(
    ("kind", "seed"), [("short_video", 0), ("short_video", 1), ("livestream", 2)]
)
def test_an_hour_without_views_leaves_the_same_cascade_whatever_its_share_factor(kind, seed):
    """Kol.broadcast asks the page's share factor only for hours with views: a post fed
    1.0 in the other hours is the post fed the page's factor every hour, draw by draw."""
    from sim.content import Post

    cfg = sim.compose().content
    video, live = cfg.short_video, cfg.livestream
    factors = np.random.default_rng(seed)
    a, b = (
        Post("p", 0, kind, np.array([0, 1]), 5, 30, 40.0, stream(seed, "lazy")) for _ in range(2)
    )
    for h in range(400):
        f = float(factors.choice([1.0, 0.0, factors.random()]))
        if h % 37 == 0:  # the campaign's other posts excite both alike
            a.excite(0.3), b.excite(0.3)
        drawn = a.views_this_hour(h, video, live, f)
        got = b.draw_views(h, video, live)
        if got is None:
            assert drawn == (0, 0)
            continue
        assert got == drawn
        b.feed_views(got, video, f if sum(got) else 1.0)
        assert a.last_views * a.last_factor == b.last_views * b.last_factor  # cross_excite's
        assert (a.excitation, a.finished, a.views) == (b.excitation, b.finished, b.views)
    assert a.finished and b.finished
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


def test_the_powers_read_by_hour_are_pythons(monkeypatch):
    monkeypatch.setattr(content, "_POWERS", {})
    for base in (math.exp(-1 / 6), 0.5, 0.97):
        for last in (0, 1, 5, 255, 256, 257, 700, 3, 2000):
            power = content._powers_to(base, last)
            assert len(power) == last + 1
            assert power.tolist() == [base ** (last - j) for j in range(last + 1)]


def test_stale_viewer_weights_are_caught():
    from sim.content import Post

    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(0, "post"))
    for h in range(5):
        post._k = h
        post._remember(np.arange(h + 1), 0.8, 1.0)
    post.check_viewer_weights()
    post._viewer_mass[post._head] += 1.0
    with pytest.raises(AssertionError, match="stale"):
        post.check_viewer_weights()


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 300])
def test_a_posts_product_row_is_nps_full(n):
    from sim.content import Post

    post = Post("p", 0, "livestream", np.array([7]), 0, 3, 10.0, stream(n, "post"))
    for _ in range(2):
        consumers, skus = post.sample_exposures(n, 0, np.arange(500, dtype=np.int32), 500)
        assert skus.dtype == np.int32 and skus.tolist() == [7] * len(consumers)
        if len(consumers) <= content._SKU_ROW:
            skus[:] = 3  # the caller's own array
        else:  # a read-only view of the post's row (tests/test_hours_one_product_skus.py)
            assert not skus.flags.writeable
            with pytest.raises(ValueError):  # its base, the row, is read-only too
                skus.flags.writeable = True
    assert post._sku_row is None or (post._sku_row == 7).all()


@pytest.mark.parametrize("most", [3, 40])  # up to 40 picks from one array: its loop
@pytest.mark.parametrize("seed", range(6))
def test_picks_from_each_array_are_numpys_bounded_draws(seed, most):
    """Bounds where rejections are likely (near 2**32), above 2**32, arrays of one value, a
    half-used word (odd seeds); Python ints."""
    r = np.random.default_rng(seed)
    sizes = [*r.integers(1, 3000, 12).tolist(), 1, 1, 2**31 + 7, 3 * 2**30 + 1, 2**33, 5, 17]
    r.shuffle(sizes)
    # the large ones as broadcast views (their length without their memory)
    pool = [
        np.arange(s, dtype=np.int64) * 3 + 1 if s < 10**6 else np.broadcast_to(np.int64(11), (s,))
        for s in sizes
    ]
    counts = r.integers(0, most + 1, len(sizes)).tolist()
    a, b = stream(seed, "each"), stream(seed, "each")
    if seed % 2:
        a.integers(0, 7, 3), b.integers(0, 7, 3)
    got = content._pick_each(a, pool, counts, content._hold(a))
    places = b.integers(0, np.repeat(np.array(sizes, dtype=np.int64), counts))
    owner = np.repeat(np.arange(len(sizes)), counts)
    assert got == [pool[o].item(p) for o, p in zip(owner.tolist(), places.tolist(), strict=True)]
    assert all(type(x) is int for x in got)
    assert a.bit_generator.state == b.bit_generator.state


def test_debug_mode_catches_stale_viewer_weights_in_a_run():
    """The posts' kept weights are among the books the model checks every hour in debug
    mode (``ViralChainModel._check_books``)."""
    from sim.model import ViralChainModel

    cfg = sim.compose(
        "head_kol_livestream",
        ["market.n_consumers=3000", "run.horizon_hours=220", "run.debug_invariants=true"],
    )
    m = ViralChainModel(cfg, 1)
    m.run_for(200)
    post = next(p for k in m.kols for p in k.posts if p._tail > p._head)
    post._viewer_mass[post._head] += 1.0
    with pytest.raises(AssertionError, match="weights are stale"):
        m.run_for(1)
