"""The content phase and the graph's look-ups, thirteenth pass (issue 21): fewer Python and
numpy steps a post-hour, with the same draws and the same values.

* The generator's 32-bit words through a ctypes function that keeps the GIL (one per bit
  generator class; since the fourteenth pass held with the post's generator,
  ``content._hold``): the words of numpy's own draws, in order, a half-used word included,
  for every bit generator numpy has.
* Picks of up to 40 sharers from each hour (``_pick_each`` on the held words) against
  numpy's bounded draws: tests/test_content_fast_paths.py's picks test.
* The sharers' quotients divided in place (the same ufunc on the same operands: no test
  can tell it from ``w / total``), the arrays' own ``repeat``, the joined pool's
  sizes set one by one, ``_remember`` reading its fields once: the sharers of a long story
  against the kernel weights computed from the lists (tests/test_content_fast_paths.py's
  long way) and the pool against the hours' arrays.
* The look-ups' bucket (``_locate_whole``) and the slots' product (``neighbour_slots``):
  the floor at the guide's bucket bounds and ``astype``'s truncation, for any degree
  dtype (held while their casts by the ufunc's own output were tried: dropped, more
  instructions), and slot lists of 0 to 70 nodes for any number of doubles drawn one by
  one (``_FEW_DOUBLES``: a ctypes ``next_double`` that keeps the GIL was tried, no fewer
  instructions, dropped).
"""

from __future__ import annotations

import ctypes
import dataclasses
import math

import numpy as np
import pytest

import sim
import sim.content as content
from sim.content import Post
from sim.rng import stream
from sim.social_graph import build
from tests.test_compiled import BIT_GENERATORS  # numpy's five
from tests.test_content_fast_paths import _sharers_from_the_viewers


def _graph(n: int, seed: int, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "thirteenth-region").integers(0, 3, n).astype(np.int16)
    return build(region, 3, params, stream(seed, "graph"))


# -- the words --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BIT_GENERATORS)
@pytest.mark.parametrize("half", [False, True])
def test_the_held_words_are_numpys_words(kind, half, monkeypatch):
    """The held ``next_uint32`` (``_hold``) gives numpy's words (``integers(0, 2**32,
    dtype=uint32)`` draws the same words, in order), keeping the unused half of a 64-bit
    output for the next word as numpy does; the generator's state after is the same."""
    monkeypatch.setattr(content, "_K", None)  # (the Python loops' held functions)
    a, b = np.random.Generator(kind(11)), np.random.Generator(kind(11))
    if half:  # a half-used 64-bit output left in the generator
        a.integers(0, 7, 3, dtype=np.uint32), b.integers(0, 7, 3, dtype=np.uint32)
    for k in (1, 2, 7, 64):
        _, word, _, state = content._hold(a)[:4]
        got = [word(state) for _ in range(k)]
        assert all(type(w) is int for w in got)
        assert got == b.integers(0, 2**32, size=k, dtype=np.uint32).tolist()
        # and numpy's draws after them (an odd number of words: a half kept for the next)
        assert a.integers(0, 1000, 5).tolist() == b.integers(0, 1000, 5).tolist()
    assert a.random(9).tolist() == b.random(9).tolist()  # (MT19937's state holds an array)


def test_one_held_function_a_class_that_keeps_the_gil(monkeypatch):
    monkeypatch.setattr(content, "_K", None)  # (the Python loops' held functions)
    first = content._hold(stream(1, "words"))[1]
    again = content._hold(stream(2, "words", 7))[1]
    other = content._hold(np.random.Generator(np.random.MT19937(3)))[1]
    assert first is again is content._HELD_FREE[np.random.PCG64][0]
    assert other is content._HELD_FREE[np.random.MT19937][0] and other is not first
    # every instance of a class has the same C function (what the cache by class relies on)
    for seed in range(4):
        bits = stream(seed, "words", "address").bit_generator
        address = ctypes.cast(bits.ctypes.next_uint32, ctypes.c_void_p).value
        assert address == ctypes.cast(first, ctypes.c_void_p).value
    for word in (first, other):
        # the GIL kept: PYFUNCTYPE's flag (ctypes' private name for it: a guard only)
        assert word._flags_ & ctypes._FUNCFLAG_PYTHONAPI
        assert word.restype is ctypes.c_uint32
        assert not word.argtypes  # (the state passed as a reference, without a converter)


def test_a_bit_generator_not_numpys_own_reads_its_own_interface(monkeypatch):
    """A class numpy does not ship (a subclass included: it may set its C function per
    instance) is not held by class: each generator's words come through its own ctypes
    interface, and are still numpy's words."""
    monkeypatch.setattr(content, "_K", None)  # (the Python loops' held functions)

    class Mine(np.random.PCG64):
        pass

    gens = [np.random.Generator(Mine(seed)) for seed in (5, 6)]
    for rng in gens:
        _, word, _, state = content._hold(rng)[:4]
        assert word is rng.bit_generator.ctypes.next_uint32
        assert state == rng.bit_generator.ctypes.state
    assert Mine not in content._HELD_FREE
    a, b = np.random.Generator(Mine(5)), gens[0]
    held = content._hold(b)
    assert content._bounded(b, [7, 1000, 2**31], held) == a.integers(0, [7, 1000, 2**31]).tolist()


# -- the sharers --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("most", [1 << 17, 1_500])
def test_a_long_storys_sharers_are_the_lists_sharers(seed, most, monkeypatch):
    """300 hours of a post (hours of 0 to 150 viewers, factors of 0, the arrays grown and
    moved, the pool joined, moved, grown or forgotten): every few hours draws of 1 to 900
    sharers (Python picks, one hour, the joined pool, the hours' arrays) against the kernel
    weights from the list of viewers with one bounded draw call per hour; the kept arrays
    and the pool checked against the list."""
    monkeypatch.setattr(content, "_POOL_MOST", most)
    joins: list[bool] = []
    join = Post._join

    def counted(self):
        joins.append(join(self))
        return joins[-1]

    monkeypatch.setattr(Post, "_join", counted)
    decay = math.exp(-1 / 6) if seed % 2 else 0.9
    viewers = np.random.default_rng(seed)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 10.0, stream(seed, "post"))
    for h in range(300):
        post._k = h
        size = int(viewers.integers(0, 150)) if h % 5 else int(viewers.integers(0, 3))
        factor = 0.0 if h % 13 == 0 else float(viewers.random())
        post._remember(viewers.integers(0, 10**6, size), decay, factor)
        post.check_viewer_weights()
        if h % 3 == 0 and post._viewers:
            post._k = h + 1
            for k in (1, 5, 33, 900):
                x, y = stream(seed, "story", h, k), stream(seed, "story", h, k)
                got = post._sharers(k, decay, x, content._hold(x))
                want = _sharers_from_the_viewers(post, k, decay, y)
                np.testing.assert_array_equal(np.asarray(got, dtype=np.int64), want)
                assert x.bit_generator.state == y.bit_generator.state
                post.check_viewer_weights()  # the pool's starts and sizes
            post._k = h
    assert True in joins  # the pool used (and with the cap, also forgotten)
    assert (False in joins) == (most < 1 << 17)


# -- the look-ups and the slots -------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed"), [(50, 1), (4_000, 2), (30_000, 3)])
def test_the_bucket_cast_by_the_product_is_the_floor(n, seed):
    """Points at the guide's bucket bounds (``b / scale``), just below and above them, at
    the table's values and past the total: ``_locate_whole`` is the binary search."""
    g = _graph(n, seed)
    cumw = g._cumw
    _, scale, _ = g._whole_guide
    total = float(cumw[-1])
    bounds = np.arange(0, math.floor(total * scale) + 3) / scale
    rng = np.random.default_rng(seed)
    points = np.concatenate(
        [
            bounds,
            np.nextafter(bounds, np.inf),
            np.nextafter(bounds[1:], 0),
            cumw,
            rng.random(5_000) * total,
            [total, total * 1.5],
        ]
    )
    points = points[points >= 0]
    want = np.searchsorted(cumw, points, side="right") - 1
    got = g._locate_whole(points)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.minimum(want, n))


@pytest.mark.parametrize("degree", [np.uint16, np.int32, np.int64])
def test_slots_cast_by_the_product_are_astypes(degree):
    g = _graph(5_000, 4)
    g = dataclasses.replace(g, degree=g.degree.astype(degree))
    nodes = np.random.default_rng(4).integers(0, g.n, 3_000)
    for k in (9, 100, 3_000):
        a, b = stream(4, "slots", k), stream(4, "slots", k)
        got = g.neighbour_slots(nodes[:k], a)
        want = (b.random(k) * g.degree[nodes[:k]]).astype(np.int64)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
        assert (got >= 0).all() and (got < g.degree[nodes[:k]]).all()


@pytest.mark.parametrize("few", [0, 2, 4, 64])
def test_slot_lists_are_numpys_slots_whatever_the_few_doubles(few, monkeypatch):
    from sim import social_graph

    monkeypatch.setattr(social_graph, "_FEW_DOUBLES", few)
    g = _graph(3_000, 6)
    nodes = np.random.default_rng(6).integers(0, g.n, 70).tolist()
    for k in (0, 1, 2, 3, 4, 5, 8, 64, 65, 70):
        a, b = stream(6, "slot-list", k), stream(6, "slot-list", k)
        if k % 2:  # a half-used word left in the generator
            a.integers(0, 7, 1), b.integers(0, 7, 1)
        got = g.neighbour_slot_list(nodes[:k], a)
        want = (b.random(k) * g.degree[nodes[:k]]).astype(np.int64).tolist()
        assert got == want and all(type(x) is int for x in got)
        assert a.bit_generator.state == b.bit_generator.state
