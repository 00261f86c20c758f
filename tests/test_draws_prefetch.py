"""The draw kernel's prefetches (``sim/_draws.c``, ``AHEAD``): ``slots`` asks for the degree
of the node some nodes on, ``picks_into`` draws every pick first and then reads the values,
asking for the value some picks on. No number or draw changes (numpy's answers, the generator
left in numpy's state, for sizes around the distance and every bit generator), and no item
past the end of ``out`` is read (arrays that end where an unreadable page begins, in a child
process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.test_draws_kernel import GENERATORS, IDS, K, _pair, _same_after

ROOT = Path(__file__).resolve().parents[1]


def _big(r, dtype) -> np.ndarray:
    """An array of ``dtype`` large enough for the kernel to ask ahead in (PREFETCH_BYTES)."""
    n = max(K.PREFETCH_BYTES // np.dtype(dtype).itemsize, 1000)
    return r.integers(1, 100, n).astype(dtype)


def _sizes() -> list[int]:
    a = K.AHEAD
    return [0, 1, a - 1, a, a + 1, 2 * a + 1, 7 * a + 3]


def test_the_kernel_says_its_prefetch_distance():
    assert isinstance(K.AHEAD, int) and K.AHEAD > 0


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_slots_around_the_prefetch_distance(kind, half):
    a, b = _pair(kind, half)
    r = np.random.default_rng(3)
    for dtype in (np.int32, np.int64, np.uint16):
        degree = r.integers(1, 1000, 5000).astype(dtype)
        large = _big(r, dtype)
        for n in _sizes():
            for view in (r.integers(0, 5000, n), r.integers(0, 5000, 2 * n)[::2]):
                for d in (degree, degree[::-1], large, large[::-1]):
                    out = np.empty(len(view), np.int64)
                    a_cap = a.bit_generator.capsule
                    assert K.slots(a_cap, d, view, out) is None
                    np.testing.assert_array_equal(
                        out, (b.random(len(view)) * d[view]).astype(np.int64)
                    )
    _same_after(a, b)


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
def test_picks_into_around_the_prefetch_distance(kind, half):
    a, b = _pair(kind, half)
    r = np.random.default_rng(4)
    for dtype in (np.int32, np.int64, np.uint8, np.uint64):
        values = r.integers(0, 200, 3001).astype(dtype)
        large = _big(r, dtype)
        for v in (values, values[::-2], values[:1], large, large[::-3]):
            for k in _sizes():
                out = np.empty(k, np.int64)
                assert K.picks_into(a.bit_generator.capsule, v, out) is None
                want = v[b.integers(0, len(v), k)].astype(np.int64) if len(v) > 1 else v[[0] * k]
                np.testing.assert_array_equal(out, want)
    _same_after(a, b)


# the child: ``out`` placed so that it ends where a page it may not read begins, the degrees
# and values large (the kernel asks ahead); against the same calls on ordinary arrays (the
# degrees small: no asking) and numpy
_CHILD = textwrap.dedent(
    """
    import ctypes, mmap
    import numpy as np
    import sim._draws as K

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    keep = []

    def guarded(n):
        page = mmap.PAGESIZE
        pages = -(-max(8 * n, 1) // page) + 1
        mm = mmap.mmap(-1, pages * page)
        base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        assert libc.mprotect(base + (pages - 1) * page, page, 0) == 0  # PROT_NONE
        keep.append(mm)
        return np.frombuffer(mm, np.int64, n, (pages - 1) * page - 8 * n)

    r = np.random.default_rng(1)
    big = max(K.PREFETCH_BYTES // 8, 5000)  # (int64 arrays the kernel asks ahead in)
    small = r.integers(1, 1000, 5000)
    degree = np.zeros(big, np.int64)
    degree[:5000] = small
    values = np.arange(big, dtype=np.int64) * 3
    for n in range(1, 3 * K.AHEAD + 5):
        nodes = r.integers(0, 5000, n)
        got = []
        for out, d in ((guarded(n), degree), (np.empty(n, np.int64), small)):
            g = np.random.Generator(np.random.PCG64(n))
            K.slots(g.bit_generator.capsule, d, nodes, out)
            first = out.tolist()
            K.picks_into(g.bit_generator.capsule, values, out)
            got.append((first, out.tolist(), g.bit_generator.state))
        assert got[0] == got[1], n
        h = np.random.Generator(np.random.PCG64(n))
        assert got[0][0] == (h.random(n) * small[nodes]).astype(np.int64).tolist(), n
        assert got[0][1] == values[h.integers(0, big, n)].tolist(), n
    print("ok")
    """
)


def test_no_read_past_the_end_of_out():
    """``out`` ends at an unreadable page: a look-ahead of one too many kills the child."""
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
