"""The content phase's draw loops in C (``sim/_draws.c``, fifteenth pass): the bounded draws,
picks, picks of each array, small Poisson means and slot lists made on the bit generator's
own C functions (its capsule) give what numpy's own ``integers``, ``random`` and ``poisson``
give, and what the Python loops beside them give, for numpy's five bit generators, with and
without a half-used 32-bit word, the generator left in the same state; bad arguments raise.
The golden runs give the recorded digests with the kernel and without it."""

from __future__ import annotations

import ctypes
import json

import numpy as np
import pytest

import sim
from sim import content, social_graph
from sim.rng import stream
from sim.social_graph import build
from tests import golden
from tests.test_compiled import GENERATOR_IDS as IDS
from tests.test_compiled import GENERATORS, built
from tests.test_compiled import generator_pair as _pair

K = built("_draws")


# bounds where rejections are likely (near 2**32), a whole word (2**32), numpy's 64-bit
# draws above it, the largest int64 bound (2**63), ones (no draw)
EDGE_BOUNDS = [1, 1, 2, 3, 7, 2**31, 2**31 + 1, 3 * 2**30 + 1, 2**32 - 1, 2**32, 2**32 + 1]
EDGE_BOUNDS += [2**32 + 5, 2**33, 2**40, 6 * 10**8, 2**62 + 1, 3 * 2**61, 2**63 - 1, 2**63]


def _state(g) -> object:
    """A generator's state, comparable with ``==`` (MT19937's key is an array)."""

    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x.tolist() if isinstance(x, np.ndarray) else x

    return plain(g.bit_generator.state)


def _same_after(a, b) -> None:
    """The same state, and the same draws after (words, doubles, 64-bit draws)."""
    assert _state(a) == _state(b)
    assert a.integers(0, 1000, 5).tolist() == b.integers(0, 1000, 5).tolist()
    assert a.random(3).tolist() == b.random(3).tolist()
    assert a.integers(0, 2**62, 2).tolist() == b.integers(0, 2**62, 2).tolist()


def _bounds(seed: int) -> list[int]:
    r = np.random.default_rng(seed)
    bounds = r.integers(1, 5000, 60).tolist() + r.integers(2**31, 2**32 - 1, 40).tolist()
    bounds += r.integers(2**32, 2**63 - 1, 10, dtype=np.int64).tolist() + EDGE_BOUNDS
    r.shuffle(bounds)
    return bounds


# ---- against numpy's own draws ----


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_bounded_draws_are_numpys(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    for seed in range(4):
        bounds = _bounds(seed)
        bounds = [bd for bd in bounds if bd < 2**63]  # (an int64 array's)
        got = K.bounded(cap, bounds)
        assert got == b.integers(0, np.array(bounds, dtype=np.int64)).tolist()
        assert all(type(x) is int for x in got)
        assert all(0 <= x < bd for x, bd in zip(got, bounds, strict=True))
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_bounded_draws_one_by_one_are_numpys_scalar_draws(kind, half):
    """Every bound, 2**63 included, against numpy's scalar ``integers(0, bound)``."""
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    bounds = _bounds(5)
    assert K.bounded(cap, bounds) == [int(b.integers(0, bd)) for bd in bounds]
    # numpy's integers as bounds (through __index__), the largest too
    bounds = [np.uint64(2**63), np.int64(2**63 - 1), np.uint32(2**32 - 1), np.int8(3)]
    assert K.bounded(cap, bounds) == [int(b.integers(0, int(bd))) for bd in bounds]
    assert K.draws(cap, np.uint64(2**63), 3) == b.integers(0, 2**63, 3).tolist()
    assert K.bounded(cap, []) == []
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_draws_of_one_bound_are_numpys(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    for bound in [*EDGE_BOUNDS, 10, 1_000_000, np.int64(77), np.uint32(2**31 + 3)]:
        for k in (0, 1, 2, 5, 13, 40):
            got = K.draws(cap, bound, k)
            assert got == b.integers(0, bound, k).tolist()
            assert all(type(x) is int for x in got)
    assert K.draws(cap, 0, 0) == [] == b.integers(0, 0, 0).tolist()  # (not checked: no draw)
    _same_after(a, b)


DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def _every_integer_array(r: np.random.Generator):
    """Arrays of every integer type and of sizes 1 to 70,001, over each type's whole range."""
    for dtype in DTYPES:
        info = np.iinfo(dtype)
        for size in (1, 2, 3, 17, 1000, 70_001):
            yield r.integers(info.min, info.max, size, dtype=dtype, endpoint=True)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_picks_are_numpys_for_every_integer_type_and_stride(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(3)
    for values in _every_integer_array(r):
        for view in (values, values[::3], values[::-2], values[1:]):
            if not len(view):
                continue
            for k in (0, 1, 4, 12, 33):
                got = K.picks(cap, view, k)
                assert got == view[b.integers(0, len(view), k)].tolist()
                assert all(type(x) is int for x in got)
    # a memoryview, and an array longer than 2**32 (a broadcast view: no memory): 64-bit draws
    values = np.arange(50, dtype=np.int64) * 7
    assert K.picks(cap, memoryview(values), 9) == values[b.integers(0, 50, 9)].tolist()
    long = np.broadcast_to(np.int64(-5), (2**33 + 3,))
    assert K.picks(cap, long, 4) == [-5] * 4
    b.integers(0, 2**33 + 3, 4)
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_picks_of_each_array_are_numpys_bounded_draws(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    for seed in range(6):
        r = np.random.default_rng(seed)
        sizes = [*r.integers(1, 3000, 12).tolist(), 1, 1, 2**31 + 7, 3 * 2**30 + 1, 2**33, 5]
        r.shuffle(sizes)
        pool = [
            np.arange(s, dtype=np.int64) * 3 - 9
            if s < 10**6
            else np.broadcast_to(np.int64(s % 1000), (s,))
            for s in sizes
        ]
        pool = [
            p.astype(np.int32) if i % 3 == 0 and len(p) < 10**6 else p for i, p in enumerate(pool)
        ]
        pool.append(np.empty(0, dtype=np.int64))  # an empty array picked from 0 times
        counts = [*r.integers(0, 40, len(sizes)).tolist(), 0]
        counts[1] = -2  # (as 0: range(-2) is empty)
        got = K.pick_each(cap, pool, counts)
        per = [max(c, 0) for c in counts]
        places = b.integers(0, np.repeat(np.array([*sizes, 1], dtype=np.int64), per))
        owner = np.repeat(np.arange(len(pool)), per)
        assert got == [
            pool[o].item(p) for o, p in zip(owner.tolist(), places.tolist(), strict=True)
        ]
        assert all(type(x) is int for x in got)
    assert K.pick_each(cap, [], []) == []
    _same_after(a, b)


MEANS = [1e-300, 1e-9, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.2499, 0.25, 0.5, 1.0, 2.5, 9.99]


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_poisson_draws_are_numpys(kind, half):
    """numpy's ``poisson`` takes its multiplication method below a mean of 10: the same
    draws for every mean there (the content phase uses it below 0.25)."""
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(8)
    means = MEANS + r.uniform(0, 0.25, 200).tolist() + r.uniform(0, 10, 50).tolist()
    for lam in means * 3:
        if lam > 0:
            got = K.poisson(cap, lam)
            assert type(got) is int and got == b.poisson(lam)
    assert K.poisson(cap, np.float64(0.125)) == b.poisson(0.125)
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_slot_lists_are_numpys(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(4)
    for dtype in (np.uint8, np.uint16, np.int32, np.int64, np.uint64):
        degree = r.integers(0, min(np.iinfo(dtype).max, 2**40), 500, dtype=dtype)
        degree[:3] = (0, 1, np.iinfo(dtype).max if dtype != np.uint64 else 2**53)
        for n in (0, 1, 2, 3, 8, 64, 65, 300):
            nodes = r.integers(0, 500, n)
            for deg in (degree, memoryview(degree)):
                got = K.slot_list(cap, deg, nodes.tolist())
                assert got == (b.random(n) * degree[nodes]).astype(np.int64).tolist()
                assert all(type(x) is int for x in got)
    # negative nodes count from the end, as a memoryview's and numpy's indexing do
    degree = np.arange(10, dtype=np.int32) + 3
    assert (
        K.slot_list(cap, degree, [-1, -10, 4])
        == (b.random(3) * degree[[-1, -10, 4]]).astype(np.int64).tolist()
    )
    _same_after(a, b)


def _joined(seed: int, first: int, hours: int):
    """A joined pool as ``Post._join`` keeps it: entries ``first..first + hours`` with their
    sizes and places (in order, or not), the pool longer than their viewers; counts with
    zeros, hours of one viewer among them."""
    r = np.random.default_rng(seed)
    entries = first + hours + 3
    sizes = r.integers(1, 400, entries)
    sizes[r.random(entries) < 0.2] = 1
    starts = np.zeros(entries, dtype=np.int64)
    place = 5
    for e in r.permutation(entries).tolist():
        starts[e], place = place, place + int(sizes[e])
    pool = r.integers(0, 10**9, place + 50)
    counts = r.integers(0, 30, hours)
    counts[r.random(hours) < 0.4] = 0
    return counts, sizes, starts, pool


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_the_joined_pools_picks_are_numpys(kind, half):
    """``pool_picks`` against ``Post._sharers``' numpy way: one bounded draw call with an
    array of bounds (each hour's size repeated by its count), then the gather."""
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    for seed in range(8):
        for first, hours in ((0, 1), (0, 42), (7, 20), (3, 2)):
            counts, sizes, starts, pool = _joined(seed, first, hours)
            out = np.empty(int(counts.sum()), dtype=np.int64)
            assert K.pool_picks(cap, counts, first, sizes, starts, pool, out) is None
            drawn = counts.nonzero()[0]
            per = counts[drawn]
            drawn += first
            pick = b.integers(0, sizes[drawn].repeat(per)) + starts[drawn].repeat(per)
            np.testing.assert_array_equal(out, pool[pick])
    _same_after(a, b)


def test_the_joined_pools_picks_check_every_entry_before_drawing():
    a = np.random.default_rng(3)
    cap = a.bit_generator.capsule
    counts, sizes, starts, pool = _joined(1, 2, 10)
    counts[-1] = 4
    k = int(counts.sum())
    state = _state(a)
    bad = [
        (IndexError, (counts, 2, sizes[:11], starts, pool, np.empty(k, np.int64))),  # entry
        (IndexError, (counts, -1, sizes, starts, pool, np.empty(k, np.int64))),
        (IndexError, (counts, 2, sizes, starts[:5], pool, np.empty(k, np.int64))),
        (IndexError, (counts, 2, sizes, starts, pool[: int(starts[11])], np.empty(k, np.int64))),
        (ValueError, (counts, 2, sizes, starts, pool, np.empty(k + 1, np.int64))),  # out
        (ValueError, (counts, 2, sizes, starts, pool, np.empty(k - 1, np.int64))),
        (TypeError, (counts, 2, sizes, starts, pool, np.empty(k, np.int32))),
        (TypeError, (counts, 2, sizes, starts, pool, np.empty(k, np.float64))),
        (ValueError, (counts, 2, sizes, starts, pool, np.empty(k, np.int64)[::-1])),
        (TypeError, (counts, 2, sizes, starts, pool.astype(float), np.empty(k, np.int64))),
    ]
    empty = sizes.copy()
    empty[11] = 0
    bad.append((ValueError, (counts, 2, empty, starts, pool, np.empty(k, np.int64))))
    negative = counts.copy()
    negative[-1] = -4
    bad.append((ValueError, (negative, 2, sizes, starts, pool, np.empty(k - 8, np.int64))))
    readonly = np.empty(k, np.int64)
    readonly.flags.writeable = False
    bad.append(((TypeError, ValueError, BufferError), (counts, 2, sizes, starts, pool, readonly)))
    for error, args in bad:
        with pytest.raises(error):
            K.pool_picks(cap, *args)
    assert _state(a) == state  # nothing drawn


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_slot_arrays_are_numpys(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(6)
    for dtype in (np.uint16, np.int32, np.int64):
        degree = r.integers(0, np.iinfo(dtype).max, 700, dtype=dtype)
        degree[:2] = (0, np.iinfo(dtype).max)
        for n in (0, 1, 5, 9, 64, 1000):
            for ntype in (np.int64, np.int32, np.uint32, np.uint64):
                nodes = r.integers(0, 700, n).astype(ntype)
                for view in (nodes, nodes[::2]):
                    out = np.empty(len(view), dtype=np.int64)
                    assert K.slots(cap, memoryview(degree), view, out) is None
                    want = (b.random(len(view)) * degree[view]).astype(np.int64)
                    np.testing.assert_array_equal(out, want)
    nodes = np.array([-1, -700, 3])
    out = np.empty(3, dtype=np.int64)
    K.slots(cap, degree, nodes, out)
    np.testing.assert_array_equal(out, (b.random(3) * degree[nodes]).astype(np.int64))
    state = _state(a)
    for bad in ([700], [-701], [2**63 + 5]):
        with pytest.raises(IndexError):
            K.slots(
                cap,
                degree,
                np.array(bad, dtype=np.uint64 if bad[0] > 0 else np.int64),
                np.empty(1, dtype=np.int64),
            )
    for nodes, out in [
        (np.arange(3), np.empty(2, dtype=np.int64)),
        (np.arange(3), np.empty(3, dtype=np.int32)),
        (np.arange(3.0), np.empty(3, dtype=np.int64)),
        (np.arange(6).reshape(2, 3), np.empty(6, dtype=np.int64)),
    ]:
        with pytest.raises((ValueError, TypeError)):
            K.slots(cap, degree, nodes, out)
    assert _state(a) == state  # nothing drawn by a refused call
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_picks_from_the_hours_are_those_of_each_hours_array(kind, half):
    """``pick_hours`` (a post's recent viewers by hour, the multinomial's counts) against
    numpy's bounded draws over the hours with sharers, in turn."""
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(12)
    for hours in (1, 2, 7, 42):
        sizes = r.integers(1, 300, hours)
        sizes[r.random(hours) < 0.2] = 1
        viewers = [(j, r.integers(0, 10**6, s), 0.5) for j, s in enumerate(sizes.tolist())]
        for _ in range(5):
            counts = r.multinomial(int(r.integers(0, 33)), np.full(hours, 1 / hours))
            got = K.pick_hours(cap, viewers, counts)
            drawn = counts.nonzero()[0]
            places = b.integers(0, sizes[drawn].repeat(counts[drawn]))
            owner = drawn.repeat(counts[drawn])
            assert got == [viewers[o][1].item(p) for o, p in zip(owner, places, strict=True)]
            assert all(type(x) is int for x in got)
    _same_after(a, b)
    state = _state(a)
    one = [(0, np.arange(5), 1.0), (1, np.arange(3), 1.0)]
    for viewers, counts, error in [
        (one, np.array([1, 2, 3]), ValueError),
        (tuple(one), np.array([1, 2]), TypeError),
        ([one[0], [1, np.arange(3)]], np.array([0, 2]), TypeError),
        ([one[0], (1,)], np.array([0, 2]), TypeError),
        ([one[0], (1, np.arange(3.0))], np.array([0, 2]), TypeError),
        ([one[0], (1, np.arange(0))], np.array([0, 2]), ValueError),
        (one, np.array([1.0, 2.0]), TypeError),
    ]:
        with pytest.raises(error):
            K.pick_hours(cap, viewers, counts)
    assert _state(a) == state  # nothing drawn (the bad hour the first one drawn from)


def test_the_sharers_weights_are_numpys_products_sum_and_quotients():
    """``weights`` against ``Post._sharers``' numpy way (its products, ``np.add.reduce``'s
    pairwise sum, the quotients), bit for bit, for 0 to 300 hours, masses of very different
    sizes, zeros (no sharer: False), infinities and NaN."""
    r = np.random.default_rng(13)
    cases = 0
    for n in [*range(0, 40), 63, 64, 65, 127, 128, 129, 130, 255, 256, 257, 300]:
        for trial in range(12):
            first = int(r.integers(0, 5))
            mass = r.random(first + n + 3) * np.exp(r.normal(0, 6, first + n + 3))
            if trial == 1:
                mass[:] = 0.0
            elif trial == 2 and n:
                mass[first + n // 2] = np.inf
            elif trial == 3 and n:
                mass[first] = np.nan
            decay = float(r.uniform(0.5, 0.99))
            last = int(r.integers(0, 400))
            hours = r.integers(0, last + 1, first + n + 3)
            if trial == 4:  # (negative hours count from the powers' end, as numpy's)
                hours = -hours - 1
            powers = content._powers_to(decay, last)
            out = np.empty(n)
            got = K.weights(mass, hours, first, first + n, powers, out)
            w = mass[first : first + n] * powers[hours[first : first + n]]
            total = np.add.reduce(w)
            assert got is bool(total > 0)
            if got:
                with np.errstate(invalid="ignore"):  # (inf / inf)
                    w = w / total
            np.testing.assert_array_equal(out, w)
            assert out.tobytes() == w.tobytes()  # (bit for bit: signs of zeros, NaNs)
            cases += got
    assert cases > 300
    mass, hours, powers = np.ones(5), np.arange(5), np.ones(5)
    for args, error in [
        ((mass, hours, 0, 5, powers, np.empty(4)), ValueError),
        ((mass, hours, 0, 6, powers, np.empty(6)), IndexError),
        ((mass, hours, 3, 2, powers, np.empty(0)), IndexError),
        ((mass, hours, 0, 5, powers[:4], np.empty(5)), IndexError),
        ((mass, hours + 1, 0, 5, powers, np.empty(5)), IndexError),
        ((mass, hours, 0, 5, powers, np.empty(5, dtype=np.float32)), TypeError),
        ((np.arange(5), hours, 0, 5, powers, np.empty(5)), TypeError),
        ((mass, hours * 1.0, 0, 5, powers, np.empty(5)), TypeError),
        ((mass[::2], hours, 0, 3, powers, np.empty(3)), (TypeError, ValueError, BufferError)),
    ]:
        with pytest.raises(error):
            K.weights(*args)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_many_picks_into_an_array_are_numpys(kind, half):
    a, b = _pair(kind, half)
    cap = a.bit_generator.capsule
    r = np.random.default_rng(14)
    for values in _every_integer_array(r):
        for view in (values, values[::3]):
            for k in (0, 1, 13, 400, 5000):
                out = np.empty(k, dtype=np.int64)
                assert K.picks_into(cap, view, out) is None
                want = view[b.integers(0, len(view), k)].astype(np.int64)
                np.testing.assert_array_equal(out, want)
    long = np.broadcast_to(np.int64(-5), (2**33 + 3,))  # 64-bit draws
    out = np.empty(7, dtype=np.int64)
    K.picks_into(cap, long, out)
    assert out.tolist() == [-5] * 7
    b.integers(0, 2**33 + 3, 7)
    _same_after(a, b)
    state = _state(a)
    for values, out, error in [
        (np.empty(0, dtype=np.int64), np.empty(2, dtype=np.int64), ValueError),
        (np.arange(5.0), np.empty(2, dtype=np.int64), TypeError),
        (np.arange(5), np.empty(2, dtype=np.int32), TypeError),
        (np.arange(5), np.empty((2, 2), dtype=np.int64), TypeError),
        (np.arange(5), np.empty(4, dtype=np.int64)[::2], (ValueError, BufferError)),
    ]:
        with pytest.raises(error):
            K.picks_into(cap, values, out)
    assert _state(a) == state
    K.picks_into(cap, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))  # (none)


# ---- against the Python loops (content._K / social_graph._DRAWS switched off) ----


def _kernel_on(monkeypatch, kernel: object = K) -> None:
    """The model's paths through the kernel (also where VIRALCHAIN_COMPILED=0 left them off)."""
    monkeypatch.setattr(content, "_K", kernel)
    monkeypatch.setattr(social_graph, "_DRAWS", kernel)


def _python(monkeypatch) -> None:
    monkeypatch.setattr(content, "_K", None)
    monkeypatch.setattr(social_graph, "_DRAWS", None)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_the_kernel_and_the_python_loops_draw_alike(kind, half, monkeypatch):
    """``_bounded``, ``_draws``, ``_picks``, ``_pick_each`` and ``_poisson`` with the kernel
    and with the Python loops: the same values and generator state."""
    runs = []
    for kernel in (True, False):
        (_kernel_on if kernel else _python)(monkeypatch)
        a = np.random.Generator(kind(99))
        if half:
            a.integers(0, 7, 3, dtype=np.uint32)
        post = content.Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, a)
        held = content._hold(a)
        r = np.random.default_rng(2)
        out = [content._bounded(a, _bounds(1), held)]
        for k in (0, 1, 5, 12, 13, 40):
            out.append(np.asarray(content._draws(a, 123_457, k, held)).tolist())
            values = r.integers(-(2**40), 2**40, 77)
            out.append(np.asarray(content._picks(values, a, k, held)).tolist())
        pool = [r.integers(0, 10**6, s) for s in (1, 5, 300, 2, 2**16)]
        out.append(content._pick_each(a, pool, [3, 0, 7, 12, 1], held))
        out.append([content._poisson(post, lam) for lam in MEANS[:8] * 10])
        runs.append((out, _state(a)))
    assert runs[0] == runs[1]


def test_with_the_kernel_a_generator_is_held_by_its_capsule_only(monkeypatch):
    """``_hold`` makes no ctypes functions for the kernel; switched off after, the Python
    loops make them (the same draws as numpy's)."""
    _kernel_on(monkeypatch)
    a, b = _pair(np.random.SFC64, True)
    held = content._hold(a)
    assert held[0] is a and held[1:4] == (None, None, None)
    assert held[4] is not None and content._bounded(a, [7, 2**33], held) == [
        int(b.integers(0, 7)),
        int(b.integers(0, 2**33)),
    ]
    post = content.Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, a)
    post._held = held
    _python(monkeypatch)
    bounds = [5, 1, 2**32 - 1, 2**40]
    assert content._bounded(a, bounds, held) == b.integers(0, bounds).tolist()
    pool = [np.arange(9), np.arange(1), np.arange(300)]
    got = content._pick_each(a, pool, [2, 1, 3], held)
    assert (
        got
        == np.concatenate(pool)[[*b.integers(0, 9, 2), 9, *(b.integers(0, 300, 3) + 10)]].tolist()
    )
    assert [content._poisson(post, lam) for lam in (0.1, 0.2)] == [b.poisson(0.1), b.poisson(0.2)]
    assert post._held[1] is not None  # (made once for the post)
    _same_after(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_slot_lists_with_the_kernel_and_without_it(seed, monkeypatch):
    g = build(
        stream(seed, "test-region").choice(3, size=3_000).astype(np.int16),
        3,
        sim.compose().market.social_graph,
        stream(seed, "graph"),
    )
    nodes = np.random.default_rng(seed).integers(0, g.n, 80)
    runs = []
    for kernel in (True, False):
        (_kernel_on if kernel else _python)(monkeypatch)
        a = stream(seed, "slots")
        out = [g.neighbour_slot_list(nodes[:k].tolist(), a) for k in (0, 1, 2, 3, 8, 64, 65, 80)]
        for k in (0, 5, 8, 9, 80):
            out.append(g.neighbour_slots(nodes[:k], a).tolist())
            out.append(g.random_neighbour(nodes[:k], a).tolist())
        runs.append((out, _state(a)))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kernel", [True, False])
def test_slots_of_nodes_given_as_a_list_are_those_of_an_array(kernel, monkeypatch):
    g = build(
        stream(4, "test-region").choice(3, size=2_000).astype(np.int16),
        3,
        sim.compose().market.social_graph,
        stream(4, "graph"),
    )
    (_kernel_on if kernel else _python)(monkeypatch)
    for n in (0, 3, 8, 9, 70):
        nodes = np.random.default_rng(n).integers(0, g.n, n)
        a, b = stream(5, "slots", n), stream(5, "slots", n)
        got = g.neighbour_slots(nodes.tolist(), a)
        want = g.neighbour_slots(nodes, b)
        assert got.dtype == np.int64 and got.tolist() == want.tolist()
        assert _state(a) == _state(b)


def test_a_post_draws_the_same_with_and_without_the_kernel(monkeypatch):
    """A short video along a graph and a live stream, 200 hours each: views, exposures
    (followers' picks, sharers, their slots, anyone) and generator state alike."""
    cfg = sim.compose()
    video, live = cfg.content.short_video, cfg.content.livestream
    g = build(
        stream(1, "test-region").choice(3, size=4_000).astype(np.int16),
        3,
        sim.compose().market.social_graph,
        stream(1, "graph"),
    )
    followers = np.random.default_rng(5).integers(0, g.n, 700).astype(np.int32)
    called: list[str] = []

    class Counted:  # the kernel, each function's calls counted
        def __getattr__(self, name):
            called.append(name)
            return getattr(K, name)

    runs = []
    for kernel in (True, False):
        if kernel:
            _kernel_on(monkeypatch, Counted())
        else:
            _python(monkeypatch)
        out = []
        for kind, views in (("short_video", 30.0), ("short_video", 3000.0), ("livestream", 40.0)):
            post = content.Post(
                "p", 0, kind, np.array([4, 9]), 0, 6, views, stream(2, "post", kind, views)
            )
            for hour in range(200):
                drawn = post.draw_views(hour, video, live)
                if drawn is None:
                    continue
                post.feed_views(drawn, video, 0.5 + (hour % 3) / 4)
                consumers, skus = post.sample_exposures(
                    drawn[0], drawn[1], followers, g.n, g, 0.8, 1.0
                )
                out.append((drawn, consumers.tolist(), skus.tolist()))
                if hour % 7 == 0:
                    post.excite(0.03 * (hour % 5))
            out.append(_state(post.rng))
        runs.append(out)
    assert runs[0] == runs[1]
    assert len(runs[0]) > 100
    # every loop of the kernel taken (the pick of each array by hours' sharers: a few)
    kernel = {"poisson", "draws", "picks", "slot_list", "pool_picks", "slots", "pick_hours"}
    kernel |= {"weights", "picks_into"}
    assert kernel <= set(called)


@pytest.mark.parametrize("kind", ["short_video", "livestream"])
@pytest.mark.parametrize("views", [0.3, 4.0, 40.0, 400.0])
def test_with_the_kernel_every_mean_below_10_is_drawn_in_c(kind, views, monkeypatch):
    """numpy's poisson draws a mean below 10 by multiplication: with the kernel every such
    mean is its loop's (``_FEW_MEAN_KERNEL`` 10), the same views, cascade and state as all
    numpy's."""
    assert content._FEW_MEAN_KERNEL == 10.0
    _kernel_on(monkeypatch)
    cfg = sim.compose()
    video, live = cfg.content.short_video, cfg.content.livestream
    real, in_c = content._poisson, []

    def counted(post, lam):
        in_c.append(lam)
        return real(post, lam)

    monkeypatch.setattr(content, "_poisson", counted)
    runs = []
    for few in (10.0, 0.0):
        monkeypatch.setattr(content, "_FEW_MEAN_KERNEL", few)
        post = content.Post("p", 0, kind, np.array([0]), 0, 6, views, stream(7, "post", kind))
        hours = []
        for hour in range(300):
            hours.append(post.views_this_hour(hour, video, live, 0.5 + (hour % 3) / 4))
            if hour % 5 == 0:
                post.excite(0.05 * (hour % 4))
        runs.append((hours, post.views, post.excitation, _state(post.rng)))
    assert runs[0] == runs[1]
    assert all(0 < lam < 10 for lam in in_c)  # (the first run's only)
    # the largest live stream's means are all 10 or more (numpy's call); every other post
    # draws some of its means in C
    assert bool(in_c) == (kind == "short_video" or views < 400)
    if views in (4.0, 40.0):  # means beyond the Python loop's threshold (0.25) among them
        assert any(lam >= 0.25 for lam in in_c)


@pytest.mark.parametrize("kind", ["short_video", "livestream"])
def test_the_kernel_switched_off_at_run_time_is_the_python_paths_fallback(kind, monkeypatch):
    """``content._K`` set to None while running (as ``VIRALCHAIN_COMPILED=0`` leaves it at
    import): the Python loop draws only the means below its own threshold (0.25, not the
    kernel's 10), the same views and state as with the kernel."""
    cfg = sim.compose()
    video, live = cfg.content.short_video, cfg.content.livestream
    real, means = content._poisson, []

    def counted(post, lam):
        means[-1].append(lam)
        return real(post, lam)

    monkeypatch.setattr(content, "_poisson", counted)
    runs = []
    for kernel in (True, False):
        (_kernel_on if kernel else _python)(monkeypatch)
        means.append([])
        post = content.Post("p", 0, kind, np.array([0]), 0, 6, 4.0, stream(3, "post", kind))
        hours = []
        for hour in range(300):
            hours.append(post.views_this_hour(hour, video, live, 0.5 + (hour % 3) / 4))
            if hour % 5 == 0:
                post.excite(0.05 * (hour % 4))
        runs.append((hours, post.views, post.excitation, _state(post.rng)))
    assert runs[0] == runs[1]
    assert any(lam >= 0.25 for lam in means[0])  # (the kernel's means: up to 10)
    assert all(0 < lam < 0.25 for lam in means[1])  # (the Python loop's)


RECORDED = json.loads(golden.DIGESTS.read_text())


@pytest.mark.parametrize("case", ["head_kol_livestream/flexible", "two_brands/rigid"])
@pytest.mark.parametrize("kernel", [True, False])
def test_golden_runs_with_the_kernel_and_without_it(case, kernel, tmp_path, monkeypatch):
    """Every pick through the kernel (the few-draw thresholds raised), or none."""
    if kernel:
        _kernel_on(monkeypatch)
        big = 1 << 30
        monkeypatch.setattr(content, "_FEW_PICKS", big)
        monkeypatch.setattr(content, "_FEW_SHARERS", big)
        monkeypatch.setattr(social_graph, "_FEW_SLOTS", big)
        monkeypatch.setattr(social_graph, "_SLOT_LIST", big)
    else:
        _python(monkeypatch)
    story, setup = case.split("/")
    assert golden.digest_case(story, setup, tmp_path) == RECORDED[case]


# ---- bad arguments raise (never a crash) ----


def test_bounds_below_one_or_above_int64_are_refused():
    a, b = _pair(np.random.PCG64, False)
    cap = a.bit_generator.capsule
    for bad in (0, -3, -(2**70)):
        with pytest.raises(ValueError, match="high <= 0"):
            K.bounded(cap, [bad])
        with pytest.raises(ValueError, match="high <= 0"):
            K.draws(cap, bad, 2)
    for bad in (2**63 + 1, 2**64, 2**90):
        with pytest.raises(ValueError, match="out of bounds for int64"):
            K.bounded(cap, [bad])
        with pytest.raises(ValueError):
            b.integers(0, bad)
    _same_after(a, b)  # nothing drawn
    with pytest.raises(ValueError, match="high <= 0"):  # the draws before it are made
        K.bounded(cap, [10, 20, 0])
    b.integers(0, [10, 20])
    with pytest.raises(TypeError):
        K.bounded(cap, [2.5])
    with pytest.raises(TypeError):
        K.bounded(cap, 5)
    _same_after(a, b)


def test_bad_capsules_arrays_and_indices_raise():
    a = np.random.default_rng(1)
    cap = a.bit_generator.capsule
    state = _state(a)
    for f, args in [
        (K.poisson, (0.1,)),
        (K.draws, (5, 2)),
        (K.bounded, ([5],)),
        (K.picks, (np.arange(3), 2)),
        (K.pick_each, ([np.arange(3)], [2])),
        (K.slot_list, (np.arange(3), [1])),
    ]:
        with pytest.raises(TypeError):
            f(a, *args)  # the generator, not its capsule
        with pytest.raises(TypeError):
            f(cap)  # too few arguments
    new = ctypes.pythonapi.PyCapsule_New  # a capsule of another name
    new.restype, new.argtypes = (
        ctypes.py_object,
        (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p),
    )
    wrong = new(1, b"NotABitGenerator", None)
    with pytest.raises(ValueError):
        K.poisson(wrong, 0.1)
    with pytest.raises(TypeError, match="array of integers"):
        K.picks(cap, np.arange(3.0), 1)
    with pytest.raises(TypeError, match="array of integers"):
        K.picks(cap, np.arange(3, dtype=">i8"), 1)  # (big-endian)
    with pytest.raises(TypeError, match="array of integers"):
        K.picks(cap, np.ones(3, dtype=bool), 1)
    with pytest.raises(ValueError, match="1-D"):
        K.picks(cap, np.arange(6).reshape(2, 3), 1)
    with pytest.raises(TypeError):
        K.picks(cap, [1, 2, 3], 1)  # (a list is no buffer)
    with pytest.raises(ValueError, match="high <= 0"):
        K.picks(cap, np.empty(0, dtype=np.int64), 1)
    with pytest.raises(ValueError, match="differ in length"):
        K.pick_each(cap, [np.arange(3)], [1, 2])
    with pytest.raises(TypeError, match="array of integers"):
        K.slot_list(cap, np.ones(5), [1])
    for bad in ([5], [-6], [0, 2**70], [1.0]):
        with pytest.raises((IndexError, TypeError)):
            K.slot_list(cap, np.arange(5), bad)
    assert _state(a) == state  # nothing drawn by any refused call


# ---- arguments changed while they are read (review of the fifteenth pass) ----

# Each case runs in a child process (a crash there fails the test, not the whole run). Python
# code the kernel calls (an integer's __index__, a buffer's __buffer__) changes a list of the
# arguments or the counts; the kernel works on the arguments as they were given, or raises.
CHANGED_WHILE_READ = {
    # a count read a second time, larger (the list sized from its first read)
    "pick_each_count_grows": """
class Flip:
    calls = 0
    def __index__(self):
        Flip.calls += 1
        return 1 if Flip.calls == 1 else 100_000
got = K.pick_each(cap, [vals], [Flip()])
assert got == vals[b.integers(0, 10, 1)].tolist() and Flip.calls == 1, (got, Flip.calls)
""",
    # a count whose second read raises
    "pick_each_count_raises": """
class Once:
    calls = 0
    def __index__(self):
        Once.calls += 1
        if Once.calls > 1:
            raise RuntimeError("read twice")
        return 3
got = K.pick_each(cap, [vals, vals[:4]], [2, Once()])
want = [vals.item(b.integers(0, 10)) for _ in range(2)]
want += [vals[:4].item(b.integers(0, 4)) for _ in range(3)]
assert got == want, (got, want)
""",
    # the bounds' list emptied (its items freed) by the first bound's __index__
    "bounded_list_cleared": """
class Clear:
    def __index__(self):
        bounds.clear()
        junk.extend(object() for _ in range(3000))  # (the freed memory used again)
        return 5
junk = []
bounds = [Clear(), *range(1000, 2000)]
got = K.bounded(cap, bounds)
assert got == b.integers(0, [5, *range(1000, 2000)]).tolist()
""",
    # the nodes' list emptied by a node's __index__
    "slot_list_cleared": """
class Clear:
    def __index__(self):
        nodes.clear()
        junk.extend(object() for _ in range(3000))
        return 2
junk = []
degree = np.arange(100, 600)
nodes = [Clear(), *range(300)]
got = K.slot_list(cap, degree, nodes)
want = (b.random(301) * degree[[2, *range(300)]]).astype(np.int64).tolist()
assert got == want
""",
    # the pool's list emptied by an array's __buffer__ (its arrays freed)
    "pick_each_pool_cleared": """
class Clears:
    def __buffer__(self, flags):
        pool.clear()
        junk.extend(object() for _ in range(3000))
        return memoryview(vals)
junk = []
pool = [Clears(), *[np.arange(i, i + 50) for i in range(200)]]
got = K.pick_each(cap, pool, [2] * 201)
want = [vals.item(p) for p in b.integers(0, 10, 2).tolist()]
want += [i + p for i in range(200) for p in b.integers(0, 50, 2).tolist()]
assert got == want
""",
    # a count made larger, and one made smaller, by an array's __buffer__ (pick_hours reads
    # the counts' buffer again)
    "pick_hours_counts_changed": """
for new, hour in ((100_000, 2), (0, 2)):
    class Changes:
        def __buffer__(self, flags):
            counts[hour] = new
            viewers.clear()
            return memoryview(vals)
    viewers = [(0, vals, 1.0), (1, Changes(), 1.0), (2, vals[:5], 1.0)]
    counts = np.array([1, 2, 3])
    try:
        K.pick_hours(cap, viewers, counts)
    except RuntimeError as e:
        assert "counts" in str(e) or "more picks" in str(e), e
    else:
        raise AssertionError(f"no error for a count made {new}")
""",
}


@pytest.mark.parametrize("case", sorted(CHANGED_WHILE_READ))
def test_arguments_changed_while_read_are_safe(case):
    import subprocess
    import sys
    import textwrap

    setup = "import numpy as np\nfrom sim import _draws as K\n"
    setup += "a = np.random.default_rng(3); b = np.random.default_rng(3)\n"
    setup += "cap = a.bit_generator.capsule\nvals = np.arange(10) * 7\n"
    code = setup + textwrap.dedent(CHANGED_WHILE_READ[case]) + "print('done')\n"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0 and run.stdout.strip() == "done", (run.returncode, run.stderr)


def test_poisson_of_zero_draws_nothing_and_means_outside_its_method_are_refused():
    """numpy's ``poisson(0)`` is 0 without a draw; a negative or NaN mean is refused, and
    from 10 on numpy draws another way: refused too (never a wrong draw)."""
    a, b = _pair(np.random.PCG64, False)
    cap = a.bit_generator.capsule
    assert K.poisson(cap, 0.0) == 0 == b.poisson(0.0)
    assert K.poisson(cap, -0.0) == 0 == b.poisson(-0.0)
    _same_after(a, b)  # (no draw)
    state = _state(a)
    for lam in (-1.0, -1e-300, float("nan"), 10.0, 10.5, 1e9, float("inf")):
        with pytest.raises(ValueError, match="lam must be in"):
            K.poisson(cap, lam)
    assert K.poisson(cap, np.nextafter(10.0, 0.0)) == b.poisson(np.nextafter(10.0, 0.0))
    assert _state(a) != state
    _same_after(a, b)


def test_a_negative_number_of_draws_or_picks_is_refused_as_numpy_refuses_it():
    a = np.random.default_rng(4)
    cap = a.bit_generator.capsule
    state = _state(a)
    with pytest.raises(ValueError, match="negative dimensions"):
        a.integers(0, 5, -3)
    for call in (lambda: K.draws(cap, 5, -3), lambda: K.picks(cap, np.arange(5), -1)):
        with pytest.raises(ValueError, match="negative dimensions"):
            call()
    assert K.picks(cap, np.arange(5), 0) == [] and K.draws(cap, 5, 0) == []
    assert _state(a) == state
