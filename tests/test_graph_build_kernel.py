"""The social graph's build passes in C (``sim/_graph.c``, seventeenth pass): ``communities``
draws a region's communities as :func:`sim.social_graph.build`'s chunks do (numpy's doubles,
each found through the choice's guide and counted up, the same community for the same
consumer) and counts each community's members; ``cumulative`` gives
:func:`sim.social_graph._cumulative`'s values in one pass. Whole graphs are the same with the
kernel and without it; bad arguments raise."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import social_graph
from sim.rng import stream
from tests.test_compiled import BIT_GENERATORS, built
from tests.test_compiled import same_state as _same_state

K = built("_graph")

FIELDS = (
    "community",
    "region",
    "degree",
    "order",
    "weight",
    "checkpoints",
    "comm_start",
    "region_start",
    "comm_cum",
    "region_cum",
    "guide",
)


class _Given:
    """A stand-in generator whose ``random(size)`` returns the given doubles in turn."""

    def __init__(self, u: np.ndarray):
        self.u, self.at = u, 0

    def random(self, size: int) -> np.ndarray:
        out = self.u[self.at : self.at + size]
        self.at += size
        return out.copy()


def _misaligned(a: np.ndarray) -> np.ndarray:
    """A copy of the 1-D array ``a``, contiguous, one byte off its items' alignment."""
    raw = np.zeros(a.nbytes + 1 + a.itemsize, dtype=np.uint8)
    base = raw.ctypes.data
    start = 1 + (-base) % a.itemsize  # (an aligned address + 1)
    out = raw[start : start + a.nbytes].view(a.dtype)
    out[:] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def _pick(k: int, seed: int) -> social_graph._Choice:
    sizes = np.random.default_rng(seed).pareto(2.0, k) + 1.0
    return social_graph._Choice(sizes / sizes.sum())


def _python_communities(region, r, u, pick, offset, community):
    """What build's Python chunks write for region ``r`` given its doubles ``u``."""
    members = np.flatnonzero(region == r)
    drawn = pick.draw(_Given(u), len(members), np.int32)
    drawn += offset
    community[members] = drawn


def _graphs(region, n_regions, seed, monkeypatch, params=None):
    params = sim.compose().market.social_graph if params is None else params
    out = []
    for kernel in (K, None):
        monkeypatch.setattr(social_graph, "_K", kernel)
        rng = stream(seed, "graph")
        out.append((social_graph.build(region, n_regions, params, rng), rng.bit_generator.state))
    monkeypatch.setattr(social_graph, "_K", K)
    return out


def _assert_same_graph(a, b):
    (ga, sa), (gb, sb) = a, b
    for name in FIELDS:
        x, y = getattr(ga, name), getattr(gb, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
    assert ga.guide_scale == gb.guide_scale and ga.key == gb.key and _same_state(sa, sb)


# ---- communities ----


@pytest.mark.parametrize(
    ("n", "k", "batch"),
    [
        (1, 17, 1),
        (300, 17, 7),
        (5_000, 40, 255),
        (5_000, 40, 256),
        (5_000, 40, 257),
        (20_011, 1_000, 5_000),
        (100_003, 90_000, 1 << 14),
        (250_000, 600, 1 << 18),
    ],
)
def test_communities_are_the_python_chunks_draws(n, k, batch):
    rng = np.random.default_rng(n + k)
    region = rng.integers(0, 3, n).astype(np.uint8)
    region[: min(n, 2)] = 1  # (the region's first members at the column's start)
    pick = _pick(k, n)
    assert not pick.few
    members = int(np.count_nonzero(region == 1))
    u = rng.random(members)
    e = min(5, members // 2)
    u[:e] = pick.cdf[:e]  # draws landing exactly on cdf values: counted (<=)
    u[e : 2 * e] = np.nextafter(pick.cdf[:e], 0.0)  # just below them: not counted
    want = np.full(n, -7, dtype=np.int32)
    _python_communities(region, 1, u, pick, 1000, want)
    got = np.full(n, -7, dtype=np.int32)
    counts = np.zeros(k, dtype=np.int64)
    start = 0
    for a in range(0, members, batch):  # batches of any size: one pass
        part = u[a : a + batch]
        start = K.communities(
            region, 1, start, part, pick.cdf, pick.guide, pick.scale, 1000, got, counts
        )
        assert region[start - 1] == 1 and np.count_nonzero(region[:start] == 1) == a + len(part)
    assert got.tobytes() == want.tobytes()
    assert counts.tolist() == np.bincount(want[region == 1] - 1000, minlength=k).tolist()
    assert (
        np.searchsorted(pick.cdf, u[:10], "right").tolist()
        == (got[region == 1][:10] - 1000).tolist()
    )


def test_communities_fill_a_region_and_stop_at_its_last_member():
    region = np.array([2, 0, 2, 2, 1, 2, 0], dtype=np.uint8)
    pick = _pick(20, 1)
    community = np.full(7, -1, dtype=np.int32)
    counts = np.zeros(20, dtype=np.int64)
    u = np.array([0.0, 0.5, np.nextafter(1.0, 0.0), 0.25])
    end = K.communities(region, 2, 0, u, pick.cdf, pick.guide, pick.scale, 5, community, counts)
    assert end == 6
    assert community[[1, 4, 6]].tolist() == [-1, -1, -1]
    want = np.searchsorted(pick.cdf, u, "right") + 5
    assert community[[0, 2, 3, 5]].tolist() == want.tolist()
    assert int(counts.sum()) == 4
    # none left: an empty batch is fine, one more draw is refused
    assert (
        K.communities(region, 2, end, u[:0], pick.cdf, pick.guide, pick.scale, 5, community, counts)
        == end
    )
    with pytest.raises(ValueError, match="fewer consumers"):
        K.communities(region, 2, end, u[:1], pick.cdf, pick.guide, pick.scale, 5, community, counts)


def test_communities_refuse_bad_arguments():
    region = np.array([0, 1, 0, 0], dtype=np.uint8)
    pick = _pick(20, 2)
    cdf, guide, scale = pick.cdf, pick.guide, pick.scale

    def call(**kw):
        args = dict(
            region=region,
            r=0,
            start=0,
            u=np.array([0.1, 0.2, 0.3]),
            cdf=cdf,
            guide=guide,
            scale=scale,
            offset=0,
            community=np.zeros(4, dtype=np.int32),
            counts=np.zeros(20, dtype=np.int64),
        )
        args.update(kw)
        return K.communities(*args.values())

    assert call() == 4
    for kw in [
        dict(region=region.astype(np.int64)),
        dict(u=np.array([0.1, 0.2, 0.3], dtype=np.float32)),
        dict(cdf=cdf.astype(np.float32)),
        dict(guide=guide.astype(np.int64)),
        dict(community=np.zeros(4, dtype=np.int64)),
        dict(counts=np.zeros(20, dtype=np.int32)),
        dict(community=np.zeros((4, 1), dtype=np.int32)),
    ]:
        with pytest.raises(TypeError):
            call(**kw)
    with pytest.raises(ValueError, match="contiguous"):
        call(community=np.zeros(8, dtype=np.int32)[::2])
    frozen = np.zeros(4, dtype=np.int32)
    frozen.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        call(community=frozen)
    for kw, why in [
        (dict(community=np.zeros(5, dtype=np.int32)), "differ in length"),
        (dict(counts=np.zeros(19, dtype=np.int64)), "differ in length"),
        (dict(start=-1), "start"),
        (dict(start=5), "start"),
        (dict(offset=-1), "offset"),
        (dict(offset=2**31 - 20), "offset"),
        (dict(scale=0.0), "scale"),
        (dict(cdf=cdf[:0], counts=np.zeros(0, dtype=np.int64)), "empty"),
        (dict(u=np.array([0.1, 1.0, 0.3])), "outside the guide"),
        (dict(u=np.array([0.1, -0.5, 0.3])), "outside the guide"),
        (dict(u=np.array([0.1, np.nan, 0.3])), "outside the guide"),
        (dict(guide=np.full_like(guide, 21)), "guide entry"),
        (dict(guide=np.full_like(guide, -1)), "guide entry"),
        (dict(r=1, u=np.array([0.1, 0.2])), "fewer consumers"),
        (dict(r=300), "fewer consumers"),
        (dict(r=-1), "fewer consumers"),
        # r outside a uint8 is no region (not r modulo 256: 256 → 0, -255 → 1)
        (dict(r=256), "fewer consumers"),
        (dict(r=-255, region=np.array([1, 1, 1, 1], dtype=np.uint8)), "fewer consumers"),
        # a guide whose bracket ends past cdf's last value
        (dict(guide=np.full_like(guide, 20)), "past cdf's last value"),
        (
            dict(guide=social_graph._guide(cdf * 0.5, len(guide), scale), u=np.array([0.9])),
            "past cdf's last value",
        ),
    ]:
        with pytest.raises(ValueError, match=why):
            call(**kw)
    with pytest.raises(TypeError):
        K.communities(region, 0, 0)
    # buffers not aligned to their items (numpy allows them; C may not read them)
    for kw in [
        dict(u=_misaligned(np.array([0.1, 0.2, 0.3]))),
        dict(cdf=_misaligned(cdf)),
        dict(guide=_misaligned(guide)),
        dict(community=_misaligned(np.zeros(4, dtype=np.int32))),
        dict(counts=_misaligned(np.zeros(20, dtype=np.int64))),
    ]:
        with pytest.raises(ValueError, match="not aligned"):
            call(**kw)
    # the draws before a bad one are written and counted
    community, counts = np.full(4, -1, dtype=np.int32), np.zeros(20, dtype=np.int64)
    with pytest.raises(ValueError, match="outside the guide"):
        call(u=np.array([0.1, 0.2, 2.0]), community=community, counts=counts)
    assert community[[0, 2]].tolist() == np.searchsorted(cdf, [0.1, 0.2], "right").tolist()
    assert community[[1, 3]].tolist() == [-1, -1] and int(counts.sum()) == 2


# ---- the cumulative attention ----


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1_000, 4_097, 100_003])
@pytest.mark.parametrize("chunk", [16, 1000, 1 << 18])
def test_the_cumulative_pass_is_the_python_one(n, chunk, monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", chunk)
    rng = np.random.default_rng(n)
    weight = np.minimum(rng.pareto(1.5, n) + 1.0, 300.0).astype(np.float32)
    at0 = np.sort(rng.integers(0, n + 1, 50)).astype(np.int64)
    at0[:2] = 0  # (repeats, the ends)
    at0[-2:] = n
    at1 = np.array([0, n // 3, n // 2, n], dtype=np.int64)
    outs = []
    for kernel in (K, None):
        monkeypatch.setattr(social_graph, "_K", kernel)
        outs.append(social_graph._cumulative(weight, (at0, at1)))
    (ca, (a0, a1)), (cb, (b0, b1)) = outs
    assert ca.tobytes() == cb.tobytes() and len(ca) == n // 16 + 1
    assert a0.tobytes() == b0.tobytes() and a1.tobytes() == b1.tobytes()
    total = K.cumulative(weight, np.empty(n // 16 + 1), at0, np.empty(50), at1, np.empty(4))
    assert total == b1[-1]


def test_the_cumulative_pass_refuses_bad_arguments():
    w = np.ones(40, dtype=np.float32)
    at = np.array([0, 5, 40], dtype=np.int64)

    def call(**kw):
        args = dict(w=w, cp=np.empty(3), at0=at, out0=np.empty(3), at1=at, out1=np.empty(3))
        args.update(kw)
        return K.cumulative(*args.values())

    assert call() == 40.0
    for kw in [
        dict(w=w.astype(np.float64)),
        dict(cp=np.empty(3, dtype=np.float32)),
        dict(at0=at.astype(np.int32)),
        dict(out1=np.empty(3, dtype=np.float32)),
        dict(at1=np.zeros((3, 1), dtype=np.int64)),
    ]:
        with pytest.raises(TypeError):
            call(**kw)
    with pytest.raises(ValueError, match="contiguous"):
        call(at1=np.zeros(6, dtype=np.int64)[::2])
    for kw, why in [
        (dict(cp=np.empty(4)), "checkpoints"),
        (dict(out0=np.empty(2)), "length"),
        (dict(at1=np.array([0, 41, 40], dtype=np.int64)), "sorted"),
        (dict(at0=np.array([-1, 5, 40], dtype=np.int64)), "sorted"),
        (dict(at0=np.array([5, 0, 40], dtype=np.int64)), "sorted"),
    ]:
        with pytest.raises(ValueError, match=why):
            call(**kw)
    with pytest.raises(TypeError):
        K.cumulative(w)
    for kw in [
        dict(w=_misaligned(w)),
        dict(cp=_misaligned(np.empty(3))),
        dict(at0=_misaligned(at)),
        dict(out1=_misaligned(np.empty(3))),
    ]:
        with pytest.raises(ValueError, match="not aligned"):
            call(**kw)


@pytest.mark.parametrize("n", [17, 1001])
def test_the_cumulative_pass_stops_at_the_end_between_positions(n, monkeypatch):
    """No position at len(weight): the last block (cut short) ends at len(weight)."""
    weight = np.random.default_rng(n).random(n).astype(np.float32)
    at = np.array([0, n // 2], dtype=np.int64)
    outs = []
    for kernel in (K, None):
        monkeypatch.setattr(social_graph, "_K", kernel)
        outs.append(social_graph._cumulative(weight, (at, at.copy())))
    (ca, (a0, a1)), (cb, (b0, b1)) = outs
    assert ca.tobytes() == cb.tobytes()
    assert a0.tobytes() == b0.tobytes() and a1.tobytes() == b1.tobytes()
    total = K.cumulative(weight, np.empty(n // 16 + 1), at, np.empty(2), at, np.empty(2))
    assert total == float(np.cumsum(weight, dtype=np.float64)[-1])


@pytest.mark.parametrize("kind", ["strided", "misaligned"])
def test_the_cumulative_of_other_layouts_runs_in_python(kind, monkeypatch):
    """A strided or misaligned float32 weight (or positions): the Python pass, same values."""
    n = 4_097
    rng = np.random.default_rng(8)
    weight = rng.random(n).astype(np.float32)
    at0 = np.sort(rng.integers(0, n + 1, 30)).astype(np.int64)
    at1 = np.array([0, n // 2, n], dtype=np.int64)
    if kind == "strided":
        wide = np.zeros(2 * n, dtype=np.float32)
        wide[::2] = weight
        odd, odd_at = wide[::2], np.repeat(at0, 2)[::2]
    else:
        odd, odd_at = _misaligned(weight), _misaligned(at0)
    assert not social_graph._cumulates_in_c(odd, (at0, at1))
    assert not social_graph._cumulates_in_c(weight, (odd_at, at1))
    want = social_graph._cumulative(weight, (at0, at1))
    for got in (
        social_graph._cumulative(odd, (at0, at1)),
        social_graph._cumulative(weight, (odd_at, at1)),
    ):
        assert got[0].tobytes() == want[0].tobytes()
        assert all(x.tobytes() == y.tobytes() for x, y in zip(got[1], want[1], strict=True))


# ---- whole graphs ----


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [20_011, 300_000])
def test_graphs_with_the_build_passes_in_c_and_without_them(seed, n, monkeypatch):
    region = np.random.default_rng(seed).choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    _assert_same_graph(*_graphs(region, 4, seed, monkeypatch))


@pytest.mark.parametrize("kind", BIT_GENERATORS)
def test_graphs_alike_on_every_bit_generator(kind, monkeypatch):
    region = np.random.default_rng(4).choice(3, size=30_000).astype(np.uint8)
    params = sim.compose().market.social_graph
    out = []
    for kernel in (K, None):
        monkeypatch.setattr(social_graph, "_K", kernel)
        rng = np.random.Generator(kind(11))
        out.append((social_graph.build(region, 3, params, rng), rng.bit_generator.state))
    monkeypatch.setattr(social_graph, "_K", K)
    _assert_same_graph(*out)


def test_graphs_with_small_and_empty_regions(monkeypatch):
    """A region of few communities (the Python chunks, counted by _counts) between regions
    drawn in C, and a region without consumers: the same graph."""
    n = 40_000
    region = np.random.default_rng(5).choice([0, 1, 3], size=n, p=[0.6, 0.01, 0.39])
    region = region.astype(np.uint8)  # region 1: ≈ 400 consumers, 3 communities; 2: none
    calls = []
    real = social_graph._communities_in_c
    monkeypatch.setattr(
        social_graph, "_communities_in_c", lambda *a: calls.append(a[1]) or real(*a)
    )
    _assert_same_graph(*_graphs(region, 4, 7, monkeypatch))
    assert calls == [0, 3]  # (region 1 ran the Python chunks)


def test_a_region_column_of_another_type_runs_the_python_chunks(monkeypatch):
    region = np.random.default_rng(6).choice(4, size=20_000).astype(np.uint8)
    wide = region.astype(np.int64)
    params = sim.compose().market.social_graph
    a = social_graph.build(region, 4, params, stream(3, "graph"))
    b = social_graph.build(wide, 4, params, stream(3, "graph"))
    for name in FIELDS[:1] + FIELDS[2:]:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.mark.parametrize("kind", ["strided", "misaligned"])
def test_a_region_column_strided_or_misaligned_is_the_same_graph(kind, monkeypatch):
    """A strided uint8 region column (region[::2]) runs the Python chunks (the C pass takes
    contiguous columns), the same graph as its contiguous copy; so does a misaligned
    community column (_assigns_in_c)."""
    region = np.random.default_rng(9).choice(4, size=40_000).astype(np.uint8)
    params = sim.compose().market.social_graph
    pick = social_graph._Choice(np.full(300, 1 / 300))
    if kind == "strided":
        odd = region[::2]
        assert not odd.flags.c_contiguous
        assert not social_graph._assigns_in_c(odd, pick, np.zeros(len(odd), dtype=np.int32))
        a = social_graph.build(odd, 4, params, stream(3, "graph"))
        b = social_graph.build(odd.copy(), 4, params, stream(3, "graph"))
        for name in FIELDS:
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    else:
        community = _misaligned(np.zeros(len(region), dtype=np.int32))
        assert not social_graph._assigns_in_c(region, pick, community)
        assert social_graph._assigns_in_c(region, pick, community.copy())


@pytest.mark.parametrize("scale", [1.0, 2.0, 8.0])
def test_communities_count_up_through_wide_brackets(scale):
    """A coarse guide (many cdf values a bracket): draws on every cdf value and just below
    each are found as ``searchsorted(cdf, u, "right")``, as _count_up finds them."""
    pick = _pick(40, 9)
    guide = social_graph._guide(pick.cdf, int(scale) + 1, scale)
    u = np.concatenate([pick.cdf[:-1], np.nextafter(pick.cdf[:-1], 0.0), [0.0]])
    region = np.zeros(len(u), dtype=np.uint8)
    got, counts = np.full(len(u), -1, dtype=np.int32), np.zeros(40, dtype=np.int64)
    K.communities(region, 0, 0, u, pick.cdf, guide, scale, 0, got, counts)
    assert got.tolist() == np.searchsorted(pick.cdf, u, "right").tolist()
    want = np.zeros(len(u), dtype=np.int32)
    pick.guide, pick.scale = guide, scale
    _python_communities(region, 0, u, pick, 0, want)
    assert got.tolist() == want.tolist()


def test_the_cumulative_pass_ends_when_positions_change_while_it_runs():
    """Positions are checked before the GIL is released and read again after; one set below
    the pass's place meanwhile (another thread) must not stall it (stop <= k: one more
    weight). Without the guard the pass loops forever (the join times out)."""
    import threading
    import time

    n = 20_000_000
    weight = np.ones(n, dtype=np.float32)
    at0 = np.array([n - 1, n], dtype=np.int64)
    at1 = np.array([n], dtype=np.int64)
    result = []
    worker = threading.Thread(
        target=lambda: result.append(
            K.cumulative(weight, np.empty(n // 16 + 1), at0, np.empty(2), at1, np.empty(1))
        ),
        daemon=True,
    )

    def lower():
        while worker.is_alive() or not result:
            at0[0] = 0  # (below the pass's place once it has begun)
            time.sleep(0.0005)
            if result:
                break

    worker.start()
    time.sleep(0.002)  # (the positions checked, the pass under way)
    changer = threading.Thread(target=lower, daemon=True)
    changer.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and result == [float(n)]
