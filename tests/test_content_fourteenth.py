"""The content phase, fourteenth pass: a post's generator held once (``content._hold``:
its own ``next_uint32`` and ``next_double`` as ctypes functions without declared arguments,
called on a reference to its state made once per post) and the Poisson draws of small means
made in Python (``content._poisson``): the same words, doubles and draws as numpy's, the
generator left in the same state; the held functions never copied or pickled with a post."""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import pickle

import numpy as np
import pytest

import sim
from sim import content
from sim.content import Post
from sim.rng import stream
from tests.test_compiled import BIT_GENERATORS  # numpy's five


@pytest.mark.parametrize("kind", BIT_GENERATORS)
@pytest.mark.parametrize("half", [False, True])
def test_the_held_functions_draw_numpys_words_and_doubles(kind, half, monkeypatch):
    monkeypatch.setattr(content, "_K", None)  # (the Python loops' held functions)
    a, b = np.random.Generator(kind(21)), np.random.Generator(kind(21))
    if half:  # a half-used 64-bit output left in the generator
        a.integers(0, 7, 3, dtype=np.uint32), b.integers(0, 7, 3, dtype=np.uint32)
    held = content._hold(a)
    assert held[0] is a
    word, double, state = held[1], held[2], held[3]
    for k in (1, 2, 7, 64):
        got = [word(state) for _ in range(k)]
        assert all(type(w) is int for w in got)
        assert got == b.integers(0, 2**32, size=k, dtype=np.uint32).tolist()
        doubles = [double(state) for _ in range(k)]
        assert doubles == b.random(k).tolist()
        assert a.integers(0, 1000, 5).tolist() == b.integers(0, 1000, 5).tolist()
    assert a.random(9).tolist() == b.random(9).tolist()
    # one pair of functions per class, without declared arguments, keeping the GIL
    assert content._HELD_FREE[kind] == (word, double)
    for f in (word, double):
        assert not f.argtypes and f._flags_ & ctypes._FUNCFLAG_PYTHONAPI
    assert content._hold(np.random.Generator(kind(5)))[1] is word


def test_a_bit_generator_not_numpys_own_is_held_through_its_own_interface(monkeypatch):
    monkeypatch.setattr(content, "_K", None)  # (the Python loops' held functions)

    class Mine(np.random.PCG64):
        pass

    a, b = np.random.Generator(Mine(5)), np.random.Generator(Mine(5))
    held = content._hold(a)
    words = a.bit_generator.ctypes
    assert held[1] is words.next_uint32 and held[2] is words.next_double
    assert Mine not in content._HELD_FREE
    assert content._bounded(a, [7, 1000, 2**31], held) == b.integers(0, [7, 1000, 2**31]).tolist()
    assert held[2](held[3]) == b.random()


def _post(seed: int, kind: str = "short_video", views: float = 40.0) -> Post:
    return Post(
        post_id=f"p{seed}",
        kol=0,
        kind=kind,
        skus=np.array([3], dtype=np.int64),
        start_hour=0,
        duration_hours=6,
        expected_seed_views=views,
        rng=stream(seed, "fourteenth", "post"),
    )


@pytest.mark.parametrize("seed", range(6))
def test_small_means_drawn_in_python_are_numpys_draws(seed):
    lams = [1e-300, 1e-9, 0.001, 0.01, 0.05, 0.1, 0.2, 0.2499, 0.5, 1.0, 3.0, 9.99]
    post = _post(seed)
    twin = stream(seed, "fourteenth", "post")
    for _ in range(40):
        for lam in lams:
            assert content._poisson(post, lam) == twin.poisson(lam)
    assert post.rng.bit_generator.state == twin.bit_generator.state
    assert post.rng.random(3).tolist() == twin.random(3).tolist()


@pytest.mark.parametrize("kind", ["short_video", "livestream"])
@pytest.mark.parametrize("views", [0.3, 4.0, 400.0])
def test_a_posts_views_are_those_of_numpys_draws(kind, views, monkeypatch):
    """A post's hours drawn with the small means in Python and, the threshold at 0, all by
    numpy: the same views and cascade, hour by hour, and the same generator state."""
    cfg = sim.compose()
    video, live = cfg.content.short_video, cfg.content.livestream
    runs, in_python = [], []
    real = content._poisson

    def counted(post, lam):
        in_python.append(lam)
        return real(post, lam)

    monkeypatch.setattr(content, "_poisson", counted)
    monkeypatch.setattr(content, "_K", None)  # the Python loop's threshold (the kernel's: 10)
    for few in (0.25, 0.0):
        monkeypatch.setattr(content, "_FEW_MEAN", few)
        post = _post(7, kind, views)
        hours = []
        for hour in range(300):
            hours.append(post.views_this_hour(hour, video, live, 0.5 + (hour % 3) / 4))
            if hour % 5 == 0:
                post.excite(0.05 * (hour % 4))
        runs.append((hours, post.views, post.excitation, post.rng.bit_generator.state))
    assert runs[0] == runs[1]
    assert all(0 < lam < 0.25 for lam in in_python)  # (the first run's only)
    # the Python way taken by every short video (its reach's last hours and the small
    # cascades of the cross-excitation) and by the smallest live stream (0.3 views in 6
    # hours); the larger live streams' means are all 0.25 or more: numpy's calls only
    assert bool(in_python) == (kind == "short_video" or views == 0.3)
    assert views < 1 or any(h != (0, 0) for h in runs[0][0])


COPIES = {
    "deepcopy": copy.deepcopy,
    "pickle": lambda p: pickle.loads(pickle.dumps(p)),
    "copy": copy.copy,  # (shallow: the original's generator itself)
    "replace": dataclasses.replace,  # (likewise)
}


@pytest.mark.parametrize("how", list(COPIES))
def test_the_held_functions_are_never_copied_or_pickled(how):
    """A copy holds no held functions until its first draw, then holds its own generator's:
    a deep copy or a pickle draws what a copy of the generator draws, the original's left
    as it was; a shallow copy or a ``dataclasses.replace`` draws from the original's."""
    post = _post(3)
    content._poisson(post, 0.1)
    assert post._held is not None and post._held[0] is post.rng
    ref = copy.deepcopy(post.rng)
    before = post.rng.bit_generator.state
    twin = COPIES[how](post)
    assert twin._held is None
    assert "_held" not in twin.__dict__ or how == "replace"
    lams = [8.6, 9.0, 9.4, 8.8, 9.2, 9.9]
    got = [content._poisson(twin, lam) for lam in lams]
    assert got == [ref.poisson(lam) for lam in lams]
    assert sum(got) > 20  # (draws of means near 9: not all alike)
    assert twin._held is not None and twin._held[0] is twin.rng
    if how in ("copy", "replace"):
        assert twin.rng is post.rng
    else:
        assert twin.rng is not post.rng and post.rng.bit_generator.state == before


def test_a_replaced_generator_is_held_again():
    post = _post(4)
    content._poisson(post, 0.1)
    first = post._held
    post.rng = stream(9, "fourteenth", "other")
    twin = stream(9, "fourteenth", "other")
    assert content._poisson(post, 0.2) == twin.poisson(0.2)
    assert post._held is not first and post._held[0] is post.rng


def test_a_replaced_generator_is_held_again_by_the_picks():
    """``sample_exposures`` checks its held functions against ``post.rng`` as ``_poisson``
    does: a few picks after the generator is replaced are the new generator's, the old
    one left as it was."""
    post = _post(5)
    followers = np.arange(100, 700, dtype=np.int64)
    post.sample_exposures(3, 2, followers, 1000)  # (held: the first generator's)
    first, old = post._held, post.rng
    assert first is not None and first[0] is old
    state = old.bit_generator.state
    post.rng = stream(9, "fourteenth", "picks", "other")
    twin = stream(9, "fourteenth", "picks", "other")
    consumers, _ = post.sample_exposures(4, 3, followers, 1000)
    want = followers[twin.integers(0, 600, 4)].tolist() + twin.integers(0, 1000, 3).tolist()
    assert consumers.tolist() == want
    assert old.bit_generator.state == state
    assert post._held is not first and post._held[0] is post.rng
    assert post.rng.bit_generator.state == twin.bit_generator.state


@pytest.mark.parametrize("seed", range(3))
def test_the_picks_with_the_held_functions_are_numpys(seed):
    values = [np.arange(n, dtype=np.int64) * 3 + 1 for n in (1, 2, 9, 1000, 70_000)]
    a, b = stream(seed, "fourteenth", "picks"), stream(seed, "fourteenth", "picks")
    held = content._hold(a)
    for counts in ([1, 1, 1, 1, 1], [0, 3, 2, 12, 5], [4, 0, 0, 1, 30]):
        got = content._pick_each(a, values, counts, held)
        bounds = np.repeat([len(v) for v in values], counts)
        want = b.integers(0, bounds)
        flat = np.concatenate(
            [
                v[want[s : s + c]]
                for v, s, c in zip(values, np.cumsum(counts) - counts, counts, strict=True)
            ]
        )
        assert got == flat.tolist()
        assert content._picks(values[3], a, 7, held) == values[3][b.integers(0, 1000, 7)].tolist()
        assert content._draws(a, 500, 5, held) == b.integers(0, 500, 5).tolist()
    assert a.bit_generator.state == b.bit_generator.state
