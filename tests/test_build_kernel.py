"""The KOLs' samples in C (``sim/_build.c``, sixteenth pass): ``tail_sample`` gives what
numpy's ``rng.choice(n, size=k, replace=False)`` gives on its tail-shuffle path (the same
values in the same order, int32 or int64), for numpy's five bit generators, with and without
a half-used 32-bit word, the generator left in the same state; bad arguments raise and draw
nothing; the KOLs' followers are the same with the kernel and without it. ``layout`` places
each consumer at its community's next free place: the social graph's order and weights of
the Python layout (its chunks' sorts), graphs alike with it and without it."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import sim
from sim import social_graph
from sim.agents import kol as kol_module
from sim.model import ViralChainModel
from sim.rng import stream
from tests.test_compiled import BIT_GENERATORS, GENERATORS, built
from tests.test_compiled import GENERATOR_IDS as IDS
from tests.test_compiled import generator_pair as _pair
from tests.test_compiled import same_state as _same_state

K = built("_build")


# (n, k) on numpy's tail-shuffle path: its smallest n and k, the whole population (the loop
# stops at 1), one short of it, the build's shares (35 %, 6 %, 4 %) and odd sizes
SIZES = [(10_001, 201), (10_001, 10_001), (10_001, 10_000), (20_000, 401), (20_000, 19_999)]
SIZES += [(100_003, 35_001), (100_003, 6_000), (100_003, 4_000), (65_537, 65_536)]
SIZES += [(250_000, 87_500), (12_345, 12_345)]


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_tail_samples_are_numpys_choices(kind, half, dtype):
    for seed, (n, k) in enumerate(SIZES):
        numpys, mine = _pair(kind, half, seed)
        want = numpys.choice(n, size=k, replace=False)
        got = np.full(k, -1, dtype=dtype)
        K.tail_sample(mine.bit_generator.capsule, n, k, got)
        assert got.tobytes() == want.astype(dtype).tobytes(), (n, k)
        assert _same_state(mine.bit_generator.state, numpys.bit_generator.state), (n, k)
        # the next draws are the same too (a half-used word kept alike)
        assert mine.integers(0, 1000, 5).tolist() == numpys.integers(0, 1000, 5).tolist()


def test_a_large_sample_is_numpys():
    """A million values: tables of many pages, the 35 % and the 4 % shares."""
    for k in (350_000, 40_000):
        numpys, mine = _pair(np.random.PCG64, False, 9)
        want = numpys.choice(1_000_000, size=k, replace=False)
        got = np.empty(k, dtype=np.int32)
        K.tail_sample(mine.bit_generator.capsule, 1_000_000, k, got)
        assert got.tobytes() == want.astype(np.int32).tobytes()
        assert mine.bit_generator.state == numpys.bit_generator.state


def test_bad_arguments_raise_and_draw_nothing():
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    cap = rng.bit_generator.capsule
    out = np.empty(300, dtype=np.int32)
    with pytest.raises(TypeError):
        K.tail_sample(cap, 20_000, 300)
    with pytest.raises(TypeError):
        K.tail_sample(object(), 20_000, 300, out)
    with pytest.raises(TypeError):
        K.tail_sample(cap, 20_000.0, 300, out)
    for n, k in [(10_000, 300), (20_000, 400), (20_000, 20_001), (2**31, 2**30), (-5, 1)]:
        with pytest.raises(ValueError):  # not numpy's tail path, or too large
            K.tail_sample(cap, n, k, np.empty(max(k, 0), dtype=np.int32))
    with pytest.raises(ValueError):  # the wrong length
        K.tail_sample(cap, 20_000, 301, out)
    for bad in (
        np.empty(300, dtype=np.float64),
        np.empty(300, dtype=np.uint8),
        np.empty((300, 1), dtype=np.int32),
        np.empty(600, dtype=np.int32)[::2],
        b"x" * 1200,
        np.empty(300, dtype=np.int16),
    ):
        with pytest.raises((TypeError, ValueError, BufferError)):
            K.tail_sample(cap, 20_000, 300, bad)
    ro = np.empty(300, dtype=np.int32)
    ro.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        K.tail_sample(cap, 20_000, 300, ro)
    assert rng.bit_generator.state == before


# ---- Lemire's rejection, on chosen words ----

_MASK = 0xFFFFFFFF
_WORD = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)  # (takes the GIL: the kernel frees it)
_UNUSED64 = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_UNUSED_D = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p)


class _Bitgen(ctypes.Structure):  # numpy's bitgen_t (sim/_bitgen.h)
    _fields_ = [
        ("state", ctypes.c_void_p),
        ("next_uint64", _UNUSED64),
        ("next_uint32", _WORD),
        ("next_double", _UNUSED_D),
        ("next_raw", _UNUSED64),
    ]


class _Scripted:
    """A bit generator whose next_uint32 gives ``words`` in turn (0 past their end, counted),
    as a capsule named "BitGenerator" holding its ``bitgen_t *``; its other outputs are
    counted as misuse."""

    def __init__(self, words: list[int]):
        self.words, self.used, self.misuse = words, 0, 0

        def word(_state):
            self.used += 1
            return self.words[self.used - 1] if self.used <= len(self.words) else 0

        def misused(_state):
            self.misuse += 1
            return 0

        self._fns = (_WORD(word), _UNUSED64(misused), _UNUSED_D(misused))  # (kept alive)
        self._bitgen = _Bitgen(None, self._fns[1], self._fns[0], self._fns[2], self._fns[1])
        self._name = b"BitGenerator"
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self.capsule = new(ctypes.addressof(self._bitgen), self._name, None)


def _numpys_tail_shuffle(words: list[int], n: int, k: int) -> tuple[list[int], int]:
    """numpy's tail shuffle written in Python (numpy/random/_generator.pyx ``_shuffle_int``,
    each j by random_bounded_uint64(bitgen, 0, i, 0, 0): buffered_bounded_lemire_uint32 on
    fresh 32-bit words): the sample, and how many words it took."""
    it = iter(words)
    used = 0

    def bounded(rng: int) -> int:  # j in [0, rng]
        nonlocal used
        rng_excl = rng + 1
        m = next(it) * rng_excl
        used += 1
        leftover = m & _MASK
        if leftover < rng_excl:
            threshold = (_MASK - rng) % rng_excl
            while leftover < threshold:
                m = next(it) * rng_excl
                used += 1
                leftover = m & _MASK
        return m >> 32

    idx = list(range(n))
    for i in range(n - 1, max(n - k, 1) - 1, -1):
        j = bounded(i)
        idx[i], idx[j] = idx[j], idx[i]
    return idx[n - k :], used


def _landing_on(leftover: int, bound: int) -> int:
    """The word whose product with an odd ``bound`` has ``leftover`` as its low 32 bits."""
    return leftover * pow(bound, -1, 1 << 32) & _MASK


@pytest.mark.parametrize(("n", "k"), [(10_001, 10_001), (30_011, 601), (65_537, 40_000)])
def test_lemires_rejection_on_chosen_words(n, k):
    """Words chosen so that draws land exactly on Lemire's threshold - 1 (rejected, another
    word drawn) and on the threshold (kept), at many steps: the kernel's sample and its count
    of words are those of numpy's formula in Python. A threshold one off ((2**32 - 1 - b) % b,
    or 2**32 % b + 1) keeps or rejects one of them: another sample, another count."""
    filler = np.random.default_rng(n + k).integers(0, 1 << 32, 3 * n, dtype=np.uint64).tolist()
    words, at = [], 0
    for i in range(n - 1, max(n - k, 1) - 1, -1):
        bound = i + 1
        threshold = (1 << 32) % bound
        if bound % 2 and threshold > 0 and (n - 1 - i) % 7 in (0, 3):
            if (n - 1 - i) % 7 == 0:  # on threshold - 1 (rejected), then on the threshold
                words += [_landing_on(threshold - 1, bound), _landing_on(threshold, bound)]
            else:  # on the threshold (kept at once)
                words.append(_landing_on(threshold, bound))
        else:
            words.append(filler[at])
            at += 1
    words += filler[at : at + 1000]  # (any further rejections' words)
    want, used = _numpys_tail_shuffle(words, n, k)
    steps = n - max(n - k, 1)
    assert steps + (steps // 7) // 2 < used < len(words)  # (the words on threshold - 1 rejected)
    gen = _Scripted(words)
    got = np.full(k, -1, dtype=np.int64)
    K.tail_sample(gen.capsule, n, k, got)
    assert got.tolist() == want
    assert gen.used == used and gen.misuse == 0


@pytest.mark.parametrize("pool", [False, True], ids=["all", "pool"])
@pytest.mark.parametrize("n", [10_000, 10_001, 30_011])
def test_followers_are_numpys_on_both_sides_of_its_tail_path(n, pool, monkeypatch):
    """``_followers`` with the kernel and without it (numpy's ``choice``): the same values and
    generator state at n = 10,000 (never numpy's tail shuffle), 10,001 and 30,011, with k at
    n // 50 (Floyd's), n // 50 + 1 (the tail shuffle's first), n - 1 and n. A kernel asked
    where numpy uses Floyd's algorithm would give other values (or refuse); one not asked
    where numpy shuffles would give the same ones through numpy: the calls are counted."""
    calls = []

    class Counting:
        def tail_sample(self, *args):
            calls.append(args[1:3])
            K.tail_sample(*args)

    # (with a pool, its n ids are sampled: a permutation's first n of 3 n)
    ids = np.random.default_rng(n).permutation(3 * n)[:n] if pool else None
    for k in (n // 50, n // 50 + 1, n - 1, n):
        for kind in BIT_GENERATORS:
            got = []
            for kernel in (Counting(), None):
                monkeypatch.setattr(kol_module, "_K", kernel)
                rng = np.random.Generator(kind(n + k))
                got.append(
                    (
                        kol_module._followers(rng, n if ids is None else 3 * n, ids, k, np.int32),
                        rng.bit_generator.state,
                    )
                )
            (a, sa), (b, sb) = got
            assert a.dtype == b.dtype == np.int32
            assert a.tobytes() == b.tobytes(), (k, kind.__name__)
            assert _same_state(sa, sb), (k, kind.__name__)
    # the kernel was asked exactly where numpy shuffles its tail, each time for each generator
    tail = [(n, k) for k in (n // 50, n // 50 + 1, n - 1, n) if n > 10_000 and k > n // 50]
    assert calls == [c for c in tail for _ in BIT_GENERATORS]


@pytest.mark.parametrize(
    ("story", "n", "seed"),
    [
        ("head_kol_livestream", 30_011, 4),
        ("multi_platform", 40_000, 2),
        ("kol_matrix", 25_000, 7),
        (None, 200_000, 1),
    ],  # (None: the benchmarks' flagship, setup=flexible)
)
def test_followers_with_the_kernel_and_without_it(story, n, seed, monkeypatch):
    def build(kernel):
        monkeypatch.setattr(kol_module, "_K", kernel)
        overrides = [
            f"market.n_consumers={n}",
            "setup=flexible" if story is None else f"story={story}",
        ]
        return ViralChainModel(sim.compose(None, overrides), seed)

    calls = []

    class Counting:
        def tail_sample(self, *args):
            calls.append(args[1:3])
            K.tail_sample(*args)

    with_k, without = build(Counting()), build(None)
    assert calls  # the kernel drew the large samples
    for a, b in zip(with_k.kols, without.kols, strict=True):
        assert a.followers.dtype == b.followers.dtype == np.int32
        assert a.followers.tobytes() == b.followers.tobytes()


# ---- the layout's scatter (social_graph._layout) ----


def _python_layout(community, comm_start, weight, draw, monkeypatch):
    monkeypatch.setattr(social_graph, "_BUILD", None)
    try:
        return social_graph._layout(community, comm_start, weight, draw)
    finally:
        monkeypatch.setattr(social_graph, "_BUILD", K)


@pytest.mark.parametrize(
    ("n", "communities", "chunk"),
    [
        (1, 1, 1 << 18),
        (17, 3, 4),
        (5_000, 1, 1000),
        (20_011, 150, 999),
        (70_000, 5_000, 1 << 12),
        (100_003, 90_000, 1 << 14),
        (40_000, 40_000, 777),
        (250_000, 1_700, 1 << 18),
    ],
)
def test_the_layout_in_c_is_the_python_layout(n, communities, chunk, monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", chunk)
    monkeypatch.setattr(social_graph, "_BUILD", K)
    rng = np.random.default_rng(n + communities)
    community = rng.integers(0, communities, n).astype(np.int32)
    community[: min(n, 3)] = communities - 1  # (the last community first)
    comm_start = np.concatenate([[0], np.cumsum(np.bincount(community, minlength=communities))])
    outs = []
    for python in (False, True):
        weight = np.empty((n // 16 + 1) * 16, dtype=np.float32)
        weight[n:] = np.inf
        drawn = np.random.default_rng(3)
        sizes = []

        def draw(k, drawn=drawn, sizes=sizes):
            sizes.append(k)
            return np.minimum(drawn.pareto(1.5, k) + 1.0, 40.0)

        if python:
            order = _python_layout(community, comm_start, weight, draw, monkeypatch)
        else:
            order = social_graph._layout(community, comm_start, weight, draw)
        outs.append((order, weight, sizes, drawn.bit_generator.state))
    (order, weight, sizes, state), (order_p, weight_p, sizes_p, state_p) = outs
    assert order.dtype == order_p.dtype == np.int32
    assert order.tobytes() == order_p.tobytes()
    assert order.tobytes() == np.argsort(community, kind="stable").astype(np.int32).tobytes()
    assert weight.tobytes() == weight_p.tobytes()
    assert sizes == sizes_p and state == state_p


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("n", [20_011, 300_000])
def test_graphs_with_the_layout_in_c_and_without_it(seed, n, monkeypatch):
    params = sim.compose().market.social_graph
    region = np.random.default_rng(seed).choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    graphs = []
    for kernel in (K, None):
        monkeypatch.setattr(social_graph, "_BUILD", kernel)
        rng = stream(seed, "graph")
        graphs.append((social_graph.build(region, 4, params, rng), rng.bit_generator.state))
    (a, sa), (b, sb) = graphs
    for name in (
        "community",
        "order",
        "weight",
        "checkpoints",
        "comm_start",
        "region_start",
        "comm_cum",
        "region_cum",
        "guide",
        "degree",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
    assert a.key == b.key and sa == sb


def test_the_layout_is_refused_outside_its_tables():
    community = np.array([0, 1, 1, 2], dtype=np.int32)
    att = np.ones(4, dtype=np.float32)

    def tables():
        return (
            np.array([0, 1, 3], dtype=np.int64),
            np.zeros(4, dtype=np.int32),
            np.zeros(16, dtype=np.float32),
        )

    free, order, weight = tables()
    with pytest.raises(IndexError):  # community 2 outside the free places
        K.layout(community, 0, free[:2], att, order, weight)
    assert order[:3].tolist() == [0, 1, 2] and free.tolist() == [1, 3, 3]  # (those before)
    free, order, weight = tables()
    with pytest.raises(IndexError):  # a place past the order's end
        K.layout(community[:2], 0, np.array([0, 4], dtype=np.int64), att[:2], order, weight)
    for a, m in [(-1, 1), (4, 1), (3, 2), (5, 0)]:
        free, order, weight = tables()
        with pytest.raises(IndexError):  # consumers outside the column
            K.layout(community, a, np.array([0, 1, 3, 4], dtype=np.int64), att[:m], order, weight)
    free, order, weight = tables()
    good = (community, 0, np.array([0, 1, 3, 4], dtype=np.int64), att, order, weight)
    for at, bad in [
        (0, community.astype(np.int64)),
        (2, free.astype(np.int32)),
        (3, att.astype(np.float64)),
        (4, order.astype(np.uint32)),
        (5, weight.astype(np.float64)),
        (0, np.zeros((4, 1), dtype=np.int32)),
        (4, np.zeros(8, dtype=np.int32)[::2]),
    ]:
        args = list(good)
        args[at] = bad
        with pytest.raises((TypeError, ValueError, BufferError)):
            K.layout(*args)
    ro = np.zeros(4, dtype=np.int32)
    ro.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        K.layout(community, 0, np.array([0, 1, 3, 4], dtype=np.int64), att, ro, weight)
    with pytest.raises(TypeError):
        K.layout(community, 0, free, att, order)
    K.layout(*good)
    assert order.tolist() == [0, 1, 2, 3] and good[2].tolist() == [1, 3, 4, 4]
