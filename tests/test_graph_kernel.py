"""The compiled look-ups (sim/_graph.c, ``SocialGraph._kernel``) against the Python paths
(``SocialGraph._edge_targets``' arrays and ``_few_targets``' Python numbers): the same
targets, as the same types, on many graphs (sizes, layouts of communities and regions,
communities of one, a single consumer, self-loops, the region's salt-1 draw, the whole table
kept or not, column dtypes, points exactly at the stored sums), for arrays, lists, empty
batches and split look-ups; the batches it does not cover go to the Python path."""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import threading

import numpy as np
import pytest

import sim
import sim.social_graph as social_graph
from sim.rng import stream
from sim.social_graph import SocialGraph, build
from tests.test_compiled import built

K = built("_graph")


@pytest.fixture(autouse=True)
def _the_kernel(monkeypatch):
    """Every test here looks up through the kernel, even when the suite runs with
    VIRALCHAIN_COMPILED=0 (the tests that want the Python paths switch it off themselves)."""
    monkeypatch.setattr(social_graph, "_K", K)


BIG = 1 << 30
SHARES = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.3, 0.2], 5: [0.3, 0.25, 0.2, 0.15, 0.1]}


@functools.lru_cache(maxsize=32)
def _graph(n: int, seed: int, regions: int = 3, **changes) -> SocialGraph:
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "k-region").choice(regions, size=n, p=SHARES[regions])
    return build(region.astype(np.int16), regions, params, stream(seed, "k-graph"))


def _fresh(g: SocialGraph, **changes) -> SocialGraph:
    """A copy of ``g`` without its look-ups' tables (each test makes its own)."""
    return dataclasses.replace(g, **changes)


def _python(g: SocialGraph, src: np.ndarray, j: np.ndarray, monkeypatch) -> np.ndarray:
    """The Python paths' targets: the arrays' (numpy) and, one by one, Python numbers'."""
    with monkeypatch.context() as m:
        m.setattr(social_graph, "_K", None)
        h = _fresh(g)
        m.setattr(social_graph, "_FEW_EDGES", 0)
        arrays = h._edge_targets(src, j) if len(src) else np.empty(0, dtype=np.int64)
        few = h._few_targets(src.tolist(), j.tolist())
    assert arrays.tolist() == few
    return arrays


def _edges(g: SocialGraph, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` edges: random sources, a quarter repeating one community's first member,
    and the consumers alone in their community (self-loops), at slots within their degree."""
    r = np.random.default_rng(seed)
    src = r.integers(0, g.n, size)
    if size >= 4:
        src[: size // 4] = g.order[g.comm_start[r.integers(0, len(g.comm_start) - 1)]]
    alone = np.flatnonzero(np.diff(g.comm_start) == 1)
    if len(alone) and size >= 8:
        pick = g.order[g.comm_start[alone[r.integers(0, len(alone), size // 8)]]]
        src[size // 4 : size // 4 + len(pick)] = pick
    j = (r.random(size) * g.degree[src]).astype(np.int64)
    return src.astype(np.int64), j


GRAPHS = [
    (5_000, 0, 3, {}),
    (40_000, 1, 5, {}),
    (3_000, 2, 3, {"community_size_mean": 1.2}),  # many alone in their community
    (2_000, 3, 2, {"community_size_mean": 1.05}),  # nearly all alone: the salt-1 draws
    (3_000, 4, 3, {"within_community": 0.0, "within_region": 0.0}),  # the market only
    (2_500, 5, 5, {"within_community": 1.0, "within_region": 0.0}),  # communities only
    (4_000, 6, 1, {"within_community": 0.0, "within_region": 1.0}),  # one region only
    (6_000, 7, 3, {"within_community": 0.3, "within_region": 0.3}),
    (17, 8, 2, {}),
    (40, 9, 3, {"community_size_mean": 1.0}),
]


@pytest.mark.parametrize(("n", "seed", "regions", "changes"), GRAPHS)
@pytest.mark.parametrize("size", [0, 1, 5, 16, 17, 300, 2_000])
def test_array_look_ups_are_the_python_paths(n, seed, regions, changes, size, monkeypatch):
    g = _graph(n, seed, regions, **changes)
    src, j = _edges(g, size, seed + size)
    expect = _python(g, src, j, monkeypatch)
    h = _fresh(g)
    got = h.edge_targets(src, j)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expect)
    assert "_kernel" in h.__dict__  # (the compiled look-ups ran)
    assert "_cumw" not in h.__dict__ and "_views" not in h.__dict__  # no whole table made


@pytest.mark.parametrize(("n", "seed", "regions", "changes"), GRAPHS)
@pytest.mark.parametrize("size", [0, 1, 2, 7, 16, 17, 40, 500])
def test_list_look_ups_are_the_python_paths(n, seed, regions, changes, size, monkeypatch):
    g = _graph(n, seed, regions, **changes)
    src, j = _edges(g, size, 7 * seed + size)
    with monkeypatch.context() as m:
        m.setattr(social_graph, "_K", None)
        expect = _fresh(g).edge_targets_of_lists(src.tolist(), j.tolist())
    got = _fresh(g).edge_targets_of_lists(src.tolist(), j.tolist())
    assert type(got) is type(expect)
    if isinstance(got, list):  # a few: a list of Python integers
        assert got == expect and all(type(t) is int for t in got)
    else:
        assert got.dtype == expect.dtype == np.int64
        np.testing.assert_array_equal(got, expect)


def test_a_single_consumer_is_its_own_only_contact(monkeypatch):
    """A graph of one consumer: every edge is a self-loop, alone in its community and in its
    region, so the salt-1 draw and the next consumer both land on it, as in Python."""
    g = _graph(1, 11, 1)
    src, j = np.zeros(40, dtype=np.int64), np.arange(40, dtype=np.int64)
    expect = _python(g, src, j, monkeypatch)
    assert (expect == 0).all()
    np.testing.assert_array_equal(_fresh(g).edge_targets(src, j), expect)
    assert _fresh(g).edge_targets_of_lists([0, 0], [3, 9]) == [0, 0]


@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("n", [3_000, 60_000])
def test_the_same_targets_whether_the_python_paths_keep_the_whole_table(kept, n, monkeypatch):
    """The Python paths read the whole cumulative attention through its guide when it is
    kept (graphs of at most _FULL_UP_TO consumers, batches of at most _WHOLE_SEARCH) and the
    stored sums otherwise; the kernel always reads the stored sums: the same targets."""
    g = _graph(n, 12, 3)
    src, j = _edges(g, 5_000, n)
    monkeypatch.setattr(social_graph, "_FULL_UP_TO", BIG if kept else 0)
    monkeypatch.setattr(social_graph, "_WHOLE_SEARCH", BIG if kept else 0)
    expect = _python(g, src, j, monkeypatch)
    np.testing.assert_array_equal(_fresh(g).edge_targets(src, j), expect)
    with monkeypatch.context() as m:
        m.setattr(social_graph, "_K", None)
        few = _fresh(g)._few_targets(src[:200].tolist(), j[:200].tolist())
    assert _fresh(g).edge_targets_of_lists(src[:16].tolist(), j[:16].tolist()) == few[:16]


def _reweighted(g: SocialGraph, w: np.ndarray) -> SocialGraph:
    """``g`` with the attention weights ``w`` (float32, along the layout) and the stored sums,
    bounds' sums and guide made from them as :func:`build` makes them."""
    n = g.n
    weight = np.full((n // social_graph._BLOCK + 1) * social_graph._BLOCK, np.inf, np.float32)
    weight[:n] = w
    checkpoints, (comm_cum, region_cum) = social_graph._cumulative(
        weight[:n], (g.comm_start, g.region_start)
    )
    total = max(float(region_cum[-1]), 1.0)
    scale = 2.0 ** (math.floor(math.log2(max(len(checkpoints) - 1, 1) / total)) + 1)
    guide = social_graph._guide(checkpoints, math.floor(total * scale) + 2, scale)
    return dataclasses.replace(
        g,
        weight=weight,
        checkpoints=checkpoints,
        comm_cum=comm_cum,
        region_cum=region_cum,
        guide=guide,
        guide_scale=scale,
    )


@pytest.mark.parametrize("huge_at", [0, 700, 1_500])
@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("weights", [np.float32, np.float64])
def test_points_exactly_at_the_sums_are_counted_as_python_counts_them(
    huge_at, kept, weights, monkeypatch
):
    """One weight of 2**60 among weights of 1: every sum after it is 2**60 (1 is less than
    half its spacing), so a scope past it has no span and each of its edges' point is
    exactly 2**60, equal to the stored values and block sums around it: the comparisons at
    equality (``<=``: the last position at most the point) decide those targets (the
    scope's last consumer, not its first). The weights as float32 (a built graph's) and as
    float64 (the kernel's other loop over a block's weights; the same values)."""
    g = _graph(3_000, 2, 3, community_size_mean=4.0)
    w = np.ones(3_000, np.float32)
    w[huge_at] = 2.0**60
    g = _reweighted(g, w)
    g = dataclasses.replace(g, weight=g.weight.astype(weights))
    monkeypatch.setattr(social_graph, "_FULL_UP_TO", BIG if kept else 0)
    src, j = _edges(g, 6_000, huge_at)
    expect = _python(g, src, j, monkeypatch)
    table = g._scope_table
    rows = g._scope_rows(src, social_graph._uniforms(g.key, src, j, 0)[0])
    flat = table[rows, 2] == table[rows, 3]  # no span: the point is at the sums
    assert np.count_nonzero(flat & (table[rows, 1] - table[rows, 0] > 1)) > 500
    np.testing.assert_array_equal(_fresh(g).edge_targets(src, j), expect)
    for a in range(0, 400, 16):
        got = _fresh(g).edge_targets_of_lists(src[a : a + 16].tolist(), j[a : a + 16].tolist())
        assert got == expect[a : a + 16].tolist()


@pytest.mark.parametrize("huge_at", [0, 700])
@pytest.mark.parametrize("step", [256.0, 512.0, 1024.0])
@pytest.mark.parametrize("weights", [np.float32, np.float64])
def test_points_exactly_at_a_scopes_end_are_clipped_to_its_last_consumer(
    huge_at, step, weights, monkeypatch
):
    """One weight of 2**60 among weights of 256, 512 or 1,024 (one to four spacings of
    2**60's doubles): the sums after it step by a few spacings, and many edges' points,
    ``cum_lo + u * (cum_hi - cum_lo)``, round to exactly the scope's ``cum_hi``, its end
    (the next scope's first sum): the position found is then the next scope's first (or
    past it), and the clip to ``hi - 1`` (np.minimum) gives the scope's last consumer."""
    g = _graph(3_000, 2, 3, community_size_mean=4.0)
    w = np.full(3_000, step, np.float32)
    w[huge_at] = 2.0**60
    g = _reweighted(g, w)
    g = dataclasses.replace(g, weight=g.weight.astype(weights))
    src, j = _edges(g, 6_000, huge_at)
    scope, u = social_graph._uniforms(g.key, src, j, 0)
    _, hi, cum_lo, cum_hi = social_graph._scope_columns(g._scope_table[g._scope_rows(src, scope)])
    at_end = (cum_lo + u * (cum_hi - cum_lo) == cum_hi) & (cum_lo < cum_hi) & (hi < g.n)
    assert np.count_nonzero(at_end) > 50  # (hi < n: a scope other than the layout's last)
    expect = _python(g, src, j, monkeypatch)
    np.testing.assert_array_equal(_fresh(g).edge_targets(src, j), expect)
    ends = np.flatnonzero(at_end)[:64]
    got = _fresh(g).edge_targets_of_lists(src[ends].tolist(), j[ends].tolist())
    assert list(got) == expect[ends].tolist()


def test_heavy_and_equal_weights_give_the_python_paths_targets(monkeypatch):
    """Weights at the cap and all equal (many equal sums), on a graph with communities."""
    g = _graph(5_000, 14, 3)
    r = np.random.default_rng(14)
    for w in (
        np.ones(5_000),
        r.pareto(1.1, 5_000) + 1.0,
        np.where(r.random(5_000) < 0.5, 1.0, 1e6),
    ):
        h = _reweighted(g, w.astype(np.float32))
        src, j = _edges(h, 3_000, 14)
        np.testing.assert_array_equal(
            _fresh(h).edge_targets(src, j), _python(h, src, j, monkeypatch)
        )


@pytest.mark.parametrize(
    ("column", "dtype"),
    [
        ("region", np.int8),
        ("region", np.uint8),
        ("region", np.int32),
        ("region", np.int64),
        ("region", np.uint64),
        ("community", np.int64),
        ("community", np.uint32),
        ("order", np.int64),
        ("order", np.uint32),
        ("guide", np.int64),
        ("weight", np.float64),
        ("checkpoints", np.float32),
    ],
)
def test_every_columns_own_type_is_read(column, dtype, monkeypatch):
    """Columns of other integer and float types are read as their type (the same values)."""
    g = _graph(3_000, 2, 3, community_size_mean=1.2)
    h = dataclasses.replace(g, **{column: getattr(g, column).astype(dtype)})
    src, j = _edges(h, 2_000, 15)
    expect = _python(h, src, j, monkeypatch)
    np.testing.assert_array_equal(_fresh(h).edge_targets(src, j), expect)


def test_a_graphs_unaligned_or_strided_columns_are_copied_for_the_kernel(monkeypatch):
    """The kernel takes aligned, contiguous columns only; a graph's own (a copy's, a
    view's) are copied for it when they are not: the same targets."""
    g = _graph(3_000, 2, 3, community_size_mean=1.2)
    src, j = _edges(g, 2_000, 19)
    expect = _python(g, src, j, monkeypatch)
    for column in ("community", "region", "order", "weight", "checkpoints", "guide"):
        h = _fresh(g, **{column: _unaligned(getattr(g, column))})
        np.testing.assert_array_equal(h.edge_targets(src, j), expect)
        assert "_kernel" in h.__dict__
    strided = np.repeat(g.checkpoints, 2)[::2]
    np.testing.assert_array_equal(_fresh(g, checkpoints=strided).edge_targets(src, j), expect)


@pytest.mark.parametrize("split_from", [2, 17, 1_500])
def test_split_look_ups_find_the_same_targets_on_both_threads(split_from, monkeypatch):
    """Look-ups split over two threads (each half compiled, the GIL released from 1,024
    edges a half) and two threads looking up at once: the targets of one call."""
    g = _graph(40_000, 1, 5)
    src, j = _edges(g, 5_001, 16)
    expect = _python(g, src, j, monkeypatch)
    monkeypatch.setattr(social_graph, "SPLIT_FROM", split_from)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    h = _fresh(g)
    np.testing.assert_array_equal(h.edge_targets(src, j), expect)
    assert "_cumw" not in h.__dict__
    results: list[np.ndarray] = []

    def look_up() -> None:
        for _ in range(5):
            results.append(h._edge_targets(src, j))

    threads = [threading.Thread(target=look_up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10
    for got in results:
        np.testing.assert_array_equal(got, expect)


def _first_seen_running(k, size: int, calls: int) -> bool:
    """Whether this thread, once it has started a thread that calls ``k.targets`` on
    ``size`` edges ``calls`` times, first runs while those calls are under way. The switch
    interval set to 100 s: a thread holding the GIL keeps it until it releases it (no forced
    switch within the calls), so this thread runs during the calls only if they release it,
    else once the other thread has ended (no timing read)."""
    r = np.random.default_rng(size)
    src = r.integers(0, 40_000, size)  # (the graph's consumers)
    j = r.integers(0, 8, size)
    out = np.empty(size, np.int64)
    done: list[bool] = []

    def look_up() -> None:
        for _ in range(calls):
            k.targets(src, j, out)
        done.append(True)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        thread = threading.Thread(target=look_up)
        thread.start()  # (it holds the GIL from here until it releases it)
        running = not done
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert done
    return running


def test_large_batches_release_the_gil_and_small_ones_hold_it():
    """A batch of 1,024 edges or more is looked up with the GIL released (another thread
    runs meanwhile: the halves of a split look-up both look up); a smaller one holds it."""
    k = _fresh(_graph(40_000, 1, 5))._kernel
    assert _first_seen_running(k, 1_000_000, 3)
    assert not _first_seen_running(k, 1_023, 20)


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` (one-dimensional, C-contiguous) one byte past an aligned address."""
    raw = np.zeros(a.nbytes + a.itemsize, np.uint8)
    u = raw[1 : 1 + a.nbytes].view(a.dtype)
    u[:] = a
    assert not u.flags.aligned and u.flags.c_contiguous
    return u


def _outcome(case, g):
    try:
        return case(_fresh(g))
    except Exception as error:
        return type(error)


def test_batches_the_kernel_does_not_cover_go_to_the_python_path(monkeypatch):
    """Sources outside [0, n) (negative ones wrap in numpy), strided arrays, lists holding
    numpy integers or integers past int64, sources and slots of different lengths: the
    kernel says it does not cover them, and the Python path answers (or raises) as before."""
    g = _graph(3_000, 0, 3)
    n = g.n
    src, j = _edges(g, 40, 17)
    cases = [
        lambda h: h.edge_targets(np.array([5, -1, 7]), np.array([0, 1, 2])),
        lambda h: h.edge_targets(np.array([5, n, 7]), np.array([0, 1, 2])),
        lambda h: h.edge_targets(np.array([-n - 1]), np.array([0])),
        lambda h: h.edge_targets(np.repeat(src, 2)[::2], np.repeat(j, 2)[::2]),
        lambda h: h.edge_targets(src, j[:-1]),
        lambda h: h.edge_targets(src.reshape(2, 20), j.reshape(2, 20)),  # (Python: OverflowError)
        lambda h: h.edge_targets(src[:4].reshape(2, 2), j[:4].reshape(2, 2)),
        lambda h: h.edge_targets_of_lists([5, -2], [0, 1]),
        lambda h: h.edge_targets_of_lists([5, n], [0, 1]),
        lambda h: h.edge_targets_of_lists([np.int64(5), 7], [0, 1]),
        lambda h: h.edge_targets_of_lists([5, 7], [0, 1 << 70]),
        lambda h: h.edge_targets_of_lists([5, 7], [0]),
        lambda h: h.edge_targets_of_lists([*src.tolist(), -1], [*j.tolist(), 0]),
        lambda h: h.edge_targets_of_lists(src.tolist(), j.tolist()[:-1]),
    ]
    for case in cases:
        with monkeypatch.context() as m:
            m.setattr(social_graph, "_K", None)
            expect = _outcome(case, g)
        got = _outcome(case, g)
        if isinstance(expect, type):
            assert got is expect
        else:
            assert type(got) is type(expect)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(expect))
    k = _fresh(g)._kernel
    assert k.targets(np.array([5, n]), np.array([0, 0]), np.empty(2, np.int64)) is False
    strided = np.empty(20, np.int64)
    assert k.targets(src[::2], j[::2], strided) is True  # (read through their strides)
    assert strided.tolist() == k.targets_of_lists(src[::2].tolist(), j[::2].tolist())
    assert k.targets(src, j, np.empty(len(src) + 1, np.int64)) is False
    assert k.targets(src.reshape(2, 20), j.reshape(2, 20), np.empty(2, np.int64)) is False
    assert k.targets(src.reshape(2, 20), j.reshape(2, 20), np.empty(40, np.int64)) is False
    assert k.targets(src[:2], j[:2].reshape(2, 1), np.empty(2, np.int64)) is False
    assert k.targets(src[0], j[0], np.empty(1, np.int64)) is False  # (0-d: no shape)
    assert k.targets_of_lists([5, n], [0, 0]) is None
    assert k.targets_of_lists((5, 6), (0, 0)) is None
    assert k.targets_of_lists([5, n], [0, 0], np.empty(2, np.int64)) is False
    for size in (40, 64, 65, 500):  # (chunks of 64 edges: a list back, or an array filled)
        s, jj = _edges(g, size, size)
        out = np.empty(size, np.int64)
        assert k.targets(s, jj, out) is True
        assert k.targets_of_lists(s.tolist(), jj.tolist()) == out.tolist()
        filled = np.empty(size, np.int64)
        assert k.targets_of_lists(s.tolist(), jj.tolist(), filled) is True
        np.testing.assert_array_equal(filled, out)


def test_bad_arguments_raise_not_crash():
    g = _graph(3_000, 0, 3)
    h = _fresh(g)
    k = h._kernel
    src = np.arange(5, dtype=np.int64)
    with pytest.raises(TypeError):
        k.targets(src.astype(np.float64), src, np.empty(5, np.int64))
    with pytest.raises(TypeError):
        k.targets(src.astype(np.int32), src, np.empty(5, np.int64))
    with pytest.raises(TypeError):
        k.targets(src, src, np.empty((5, 1), np.int64))
    read_only = np.empty(5, np.int64)
    read_only.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        k.targets(src, src, read_only)
    with pytest.raises((ValueError, BufferError)):
        k.targets(src, src, np.empty(10, np.int64)[::2])  # out: contiguous
    with pytest.raises(ValueError):
        k.targets(src, src, _unaligned(np.empty(5, np.int64)))  # out: aligned
    with pytest.raises(ValueError):
        k.targets_of_lists([1], [0], _unaligned(np.empty(1, np.int64)))
    with pytest.raises(TypeError):
        k.targets(src, src)
    with pytest.raises(TypeError):
        k.targets_of_lists([1])
    with pytest.raises(TypeError):
        k.targets_of_lists([1], [0], np.empty(1, np.float64))
    cols = [h.community, h.region, h.order, h.weight, h.checkpoints, h.guide, h._scope_table]
    rest = [h.n, len(h.comm_start) - 1, len(h.region_start) - 1, h.guide_scale, 0.5, 0.8, 1]
    Graph = social_graph._K.Graph
    assert Graph(*cols, *rest).targets(src, src, np.empty(5, np.int64)) is True
    for i, bad, error in [
        (0, h.community.astype(np.float64), TypeError),  # integers wanted
        (3, h.order, TypeError),  # floats wanted
        (3, h.weight.astype(np.float16), TypeError),
        (1, h.region.reshape(-1, 1), ValueError),  # one-dimensional
        (2, h.order[::2], ValueError),  # not contiguous (numpy says so)
        (2, h.order[:10], ValueError),  # n entries wanted
        (5, h.guide[:1], ValueError),
        (6, h._scope_table[:, :3].copy(), TypeError),  # (rows, 4) int64
        (6, h._scope_table[:-1].copy(), ValueError),  # a row per scope
        (6, _unaligned(h._scope_table.ravel()).reshape(-1, 4), ValueError),
        (0, h.community.astype(">i4"), TypeError),  # not this host's byte order
        (0, _unaligned(h.community), ValueError),  # aligned to its items
        (3, _unaligned(h.weight), ValueError),
        (4, _unaligned(h.checkpoints), ValueError),
        (5, _unaligned(h.guide), ValueError),
        (0, "abc", TypeError),
    ]:
        args = list(cols)
        args[i] = bad
        with pytest.raises(error):
            Graph(*args, *rest)
    with pytest.raises(OverflowError):
        Graph(*cols, *rest[:-1], -1)  # the key is a uint64
    with pytest.raises(TypeError):
        Graph(*cols)
    with pytest.raises(TypeError):
        Graph(*cols, *rest, extra=1)
    with pytest.raises(ValueError):
        Graph.__new__(Graph).targets(src, src, np.empty(5, np.int64))  # not initialised
    with pytest.raises(TypeError):
        k.__init__(*cols, *rest)  # already initialised
    half = Graph.__new__(Graph)
    with pytest.raises(TypeError):
        half.__init__(*cols[:5], h.community.astype(np.float64), *cols[6:], *rest)
    with pytest.raises(ValueError):  # a failed __init__ leaves it unusable
        half.targets(src, src, np.empty(5, np.int64))
    with pytest.raises(ValueError):
        half.targets_of_lists([1], [0])


def _hand_made(guide: list[int], checkpoints: np.ndarray, blocks: int = 8):
    """A Graph of four consumers (one community, one region, every scope the four, cumulative
    attention 0 to 1, guide_scale 1: every point in bucket 0) with the given guide."""
    n = 4
    bits = np.array([0.0, 1.0]).view(np.int64)
    scopes = np.array([[0, n, bits[0], bits[1]]] * 3, np.int64)
    cols = [np.zeros(n, np.int32), np.zeros(n, np.int32), np.arange(n, dtype=np.int32)]
    weight = np.ones(social_graph._BLOCK * blocks, np.float32)
    guide = np.array(guide, np.int32)
    rest = (n, 1, 1, 1.0, 0.0, 0.0, 0)
    return social_graph._K.Graph(*cols, weight, checkpoints, guide, scopes, *rest)


def test_a_guide_out_of_order_or_past_the_stored_values_is_not_covered():
    """The guide's counts are indices of the stored values: a count past the next one (the
    count not advanced, its block index read as it is) or past the stored values is not
    covered (False, for the Python path), never read out of the buffers. (The stored value
    here has 63 zeros after it in memory, so a read past it is seen, not a crash.)"""
    backing = np.zeros(64)
    checkpoints = backing[:1]  # one stored value, 0.0
    src, j = np.zeros(8, np.int64), np.arange(8, dtype=np.int64)
    out = np.empty(8, np.int64)
    assert _hand_made([0, 1, 1], checkpoints).targets(src, j, out) is True  # a guide as built
    for guide in ([5, 0, 0], [1, 0, 0], [0, 2, 2], [-1, 1, 1]):
        assert _hand_made(guide, checkpoints).targets(src, j, out) is False, guide
        assert _hand_made(guide, checkpoints).targets_of_lists([0, 1], [0, 1]) is None, guide
