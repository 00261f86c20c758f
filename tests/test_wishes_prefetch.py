"""The wish kernel's prefetches (``sim/_wishes.c``, ``AHEAD``): asking for the population's
columns (counts, states, regions) some exposures ahead changes no number and reads no item
past the end of an array: hours of sizes around the prefetch distance decide as the Python
path does (every bit generator), and the kernel called on arrays that end where an unreadable
page begins (in a child process) answers as on ordinary arrays."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_VIDEO
from tests.test_compiled import BIT_GENERATORS, built
from tests.test_one_product import N, _world
from tests.test_wishes_kernel import _both, _chunks_both

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kernel():
    """The built wish kernel (VIRALCHAIN_COMPILED=0 aside: both paths are compared here)."""
    return built("_wishes")


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


def _sizes(ahead: int) -> list[int]:
    return [ahead - 1, ahead, ahead + 1, 2 * ahead + 3, 5 * ahead]


def _fresh(r, total: int, repeats: bool) -> list[Exposures]:
    """Three batches of ``total`` exposures (content and not), some consumers more than
    once (``repeats``: groups that straddle the prefetch distance)."""
    pool = N if not repeats else max(total // 3, 2)
    cuts = sorted(r.integers(0, total + 1, 2).tolist())
    lengths = [cuts[0], cuts[1] - cuts[0], total - cuts[1]]
    return [
        Exposures(r.integers(0, pool, k), np.zeros(k, np.int32), ch, kol)
        for k, ch, kol in zip(lengths, (CH_VIDEO, 3, CH_LIVE), (0, -1, 1), strict=True)
    ]


def test_the_kernel_says_its_prefetch_distance(kernel):
    assert isinstance(kernel.AHEAD, int) and kernel.AHEAD > 0


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("at", range(5))
@pytest.mark.parametrize("sort", [400, 33, 1 << 30])
def test_hours_around_the_prefetch_distance(base_model, kernel, monkeypatch, at, repeats, sort):
    """one_product_hour (sorted by the kernel or by numpy), the views booked per region."""
    import sim.agents.wishes as wishes

    seed = 10 * at + repeats
    total = _sizes(kernel.AHEAD)[at]
    if total <= wishes._SMALL_BATCH:
        total += wishes._SMALL_BATCH + 1  # (the coded way: the kernel's)
    world = _world(base_model, seed)
    world.price_ratio = np.array([1.0])
    monkeypatch.setattr(wishes, "_PACKED_FROM", sort)
    fresh = _fresh(np.random.default_rng(seed), total, repeats)
    bit_generator = BIT_GENERATORS[seed % len(BIT_GENERATORS)]
    python, c, calls = _both(
        world, 50, fresh, lambda: np.random.Generator(bit_generator(seed)), monkeypatch, kernel
    )
    assert calls == 1
    assert c == python


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("at", range(5))
def test_chunks_around_the_prefetch_distance(base_model, kernel, monkeypatch, at, repeats):
    """chances, a large hour's chunks of sizes around the prefetch distance."""
    ahead = kernel.AHEAD
    seed = 10 * at + repeats + 100
    world = _world(base_model, seed)
    world.price_ratio = np.array([1.0])
    fresh = _fresh(np.random.default_rng(seed), 6 * ahead + 7, repeats)
    python, c, spy = _chunks_both(
        world, 60, fresh, monkeypatch, kernel, seed, chunk=_sizes(ahead)[at]
    )
    assert spy.chance_calls > 0
    assert c == python


# the child: each array the kernel reads by position (order, flat, first, every, a batch's
# consumers, region_counts' consumers) placed so that it ends where a page it may not read
# begins, the population's columns large (the kernel asks ahead); the answers, the counts
# written and the generator's state compared with the same calls on ordinary arrays and
# small columns (the kernel does not ask ahead)
_CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    import numpy as np
    import sim._wishes as K
    from sim.content import Exposures

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    keep = []

    def guarded(values):
        page = mmap.PAGESIZE
        size = max(values.nbytes, 1)
        pages = -(-size // page) + 1
        mm = mmap.mmap(-1, pages * page)
        base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        assert libc.mprotect(base + (pages - 1) * page, page, 0) == 0  # PROT_NONE
        a = np.frombuffer(mm, values.dtype, len(values), (pages - 1) * page - values.nbytes)
        a[:] = values
        keep.append(mm)
        return a

    def hour(n, seed, guard):
        r = np.random.default_rng(seed)
        pool = 60 if seed % 2 else 10_000
        cons = [r.integers(0, pool, k) for k in (n // 2, n - n // 2)]
        c = np.concatenate(cons)
        order = np.argsort(c, kind="stable")
        flat = c[order]
        first = r.random(n) * 0.5
        every = r.random(n) < 0.5
        g = guarded if guard else (lambda a: a.copy())
        # guarded: columns large enough for the kernel to ask ahead (PREFETCH_BYTES; their
        # first 10,000 entries used), else small ones (no asking): the same answers
        size = max(K.PREFETCH_BYTES, 10_000) if guard else 10_000
        ec, state = np.zeros(size, np.uint16), np.zeros(size, np.int8)
        region = np.zeros(size, np.uint8)
        state[:10_000] = r.integers(0, 4, 10_000)
        region[:10_000] = r.integers(0, 3, 10_000)
        tables = (np.linspace(1, 2, 10_001), np.linspace(1, 0.5, 10_001))
        gen = np.random.Generator(np.random.PCG64(seed))
        at, views, lost = K.chances(
            g(order), g(flat), g(first), 0.9, g(every), int(every.sum()), ec, state,
            *tables, 0.9, 0.5, False, gen.bit_generator.capsule, 10_000, None,
        )
        out = [bytes(at), views, lost, ec[:10_000].tobytes()]
        batches = [
            Exposures(g(x), np.zeros(len(x), np.int32), ch, 0) for x, ch in zip(cons, (1, 2))
        ]
        for presorted in (False, True):
            got = K.one_product_hour(
                batches, np.full(6, 0.3), 0.5, np.ones(2), 0.9, 1, 2,
                g(order) if presorted else None, g(flat) if presorted else None,
                region, 3, ec, state, *tables, 0.9, 0.5, False, gen.bit_generator.capsule,
                10_000,
            )
            out += [got[0], bytes(got[1]), got[2], got[3], got[4], bytes(got[5])]
            out.append(ec[:10_000].tobytes())
        out.append(bytes(K.region_counts([g(x) for x in cons], region, 3)))
        out.append(gen.bit_generator.state["state"]["state"])
        return out

    for n in range(1, 3 * K.AHEAD + 5):
        for seed in (n, n + 1000):
            assert hour(n, seed, True) == hour(n, seed, False), (n, seed)
    print("ok")
    """
)


def test_no_read_past_an_arrays_end(kernel):
    """Arrays that end at an unreadable page: a read past the end (a prefetch's look-ahead
    of one too many) kills the child (SIGSEGV)."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
