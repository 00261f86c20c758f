"""The KOLs' samples in C (``sim/_build.c``, sixteenth pass): ``tail_sample`` gives what
numpy's ``rng.choice(n, size=k, replace=False)`` gives on its tail-shuffle path (the same
values in the same order, int32 or int64), for numpy's five bit generators, with and without
a half-used 32-bit word, the generator left in the same state; bad arguments raise and draw
nothing; the KOLs' followers are the same with the kernel and without it."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import sim
from sim import compiled
from sim.agents import kol as kol_module
from sim.model import ViralChainModel
from tests.test_compiled import _compiler
from tests.test_content_fourteenth import BIT_GENERATORS  # numpy's five


def _kernel():
    """sim._build when built from the source beside it (whatever VIRALCHAIN_COMPILED says)."""
    try:
        module = importlib.import_module("sim._build")
    except ImportError:
        return None
    return None if compiled.stale(module, "_build") else module


K = _kernel()
if K is None:
    if not _compiler():  # the Python paths run (the same results): nothing to compare
        pytest.skip("no C compiler here: sim._build is not built", allow_module_level=True)
    pytest.fail(
        "sim._build is not built or is stale: `python setup.py build_ext --inplace`",
        pytrace=False,
    )

GENERATORS = [(kind, half) for kind in BIT_GENERATORS for half in (False, True)]
IDS = [f"{kind.__name__}-{'half' if half else 'whole'}" for kind, half in GENERATORS]

# (n, k) on numpy's tail-shuffle path: its smallest n and k, the whole population (the loop
# stops at 1), one short of it, the build's shares (35 %, 6 %, 4 %) and odd sizes
SIZES = [(10_001, 201), (10_001, 10_001), (10_001, 10_000), (20_000, 401), (20_000, 19_999)]
SIZES += [(100_003, 35_001), (100_003, 6_000), (100_003, 4_000), (65_537, 65_536)]
SIZES += [(250_000, 87_500), (12_345, 12_345)]


def _same_state(a: dict, b: dict) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_state(a[x], b[x]) for x in a)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _pair(kind, half: bool, seed: int):
    """Two generators in the same state (a half-used 64-bit output left in both if
    ``half``)."""
    a, b = np.random.Generator(kind(seed)), np.random.Generator(kind(seed))
    if half:
        a.integers(0, 7, 3, dtype=np.uint32), b.integers(0, 7, 3, dtype=np.uint32)
    return a, b


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
    for bad in (np.empty(300, dtype=np.float64), np.empty(300, dtype=np.uint8),
                np.empty((300, 1), dtype=np.int32), np.empty(600, dtype=np.int32)[::2],
                b"x" * 1200, np.empty(300, dtype=np.int16)):
        with pytest.raises((TypeError, ValueError, BufferError)):
            K.tail_sample(cap, 20_000, 300, bad)
    ro = np.empty(300, dtype=np.int32)
    ro.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        K.tail_sample(cap, 20_000, 300, ro)
    assert rng.bit_generator.state == before


@pytest.mark.parametrize("n", [10_000, 10_001, 30_011, 120_000])
def test_tail_path_is_numpys(n):
    """The kernel is asked exactly where numpy takes its tail shuffle."""
    edges = {n // 50 - 1, n // 50, n // 50 + 1, n - 1, n}
    for k in sorted(set(range(1, n + 1, max(1, n // 997))) | edges):
        assert kol_module._tail_path(n, k) == (n > 10_000 and k > n // 50)
    assert not kol_module._tail_path(2**31, 2**30)


@pytest.mark.parametrize(
    ("story", "n", "seed"),
    [("head_kol_livestream", 30_011, 4), ("multi_platform", 40_000, 2), ("kol_matrix", 25_000, 7),
     (None, 200_000, 1)],  # (None: the benchmarks' flagship, setup=flexible)
)
def test_followers_with_the_kernel_and_without_it(story, n, seed, monkeypatch):
    def build(kernel):
        monkeypatch.setattr(kol_module, "_K", kernel)
        overrides = [f"market.n_consumers={n}", "setup=flexible" if story is None else f"story={story}"]
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
