"""The wish kernel's region prefetches (``sim/_wishes.c``: ``one_product_hour``'s views per
region and ``region_counts``) ask for the region of a consumer AHEAD views on, before that
consumer is checked: its address is formed as an integer (``PREFETCH_AT``, sim/_prefetch.h),
never as a pointer past the regions' end (undefined behaviour, caught by gcc's
``-fsanitize=pointer-overflow``). A consumer far out of bounds there raises as before and books
nothing, in the normal build and in one built with that sanitizer (a child process). And an
``n_regions`` whose counts' bytes would wrap ``Py_ssize_t`` raises OverflowError (the
allocation was ``8 * n_regions`` bytes, wrapped: a heap overflow)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim.content import Exposures
from tests.test_compiled import built

ROOT = Path(__file__).resolve().parents[1]
FAR = -(2**62)  # a consumer whose region's address is far outside any array


@pytest.fixture(scope="module")
def kernel():
    """The built wish kernel (VIRALCHAIN_COMPILED=0 aside)."""
    return built("_wishes")


def _hour(k, consumers, region, n_regions, ec=None, state=None):
    """one_product_hour on one content batch of ``consumers`` (int64), the views booked per
    region, with the population's counts ``ec`` and states ``state`` (of 1000)."""
    n = len(consumers)
    ec = np.zeros(1000, np.uint16) if ec is None else ec
    state = np.zeros(1000, np.int8) if state is None else state
    flat = np.clip(consumers, 0, 999).astype(np.int64)
    flat.sort()
    batches = [Exposures(consumers, np.zeros(n, np.int32), 1, 0)]
    capsule = np.random.default_rng(1).bit_generator.capsule
    args = (batches, np.full(6, 0.3), 0.5, np.ones(2), 0.9, 1, 2, np.arange(n, dtype=np.int64))
    args += (flat, region, n_regions, ec, state, np.linspace(1, 2, 10001), None, 0.9, 0.5)
    return k.one_product_hour(*args, False, capsule, 10000)


def _far_at_ahead(k) -> np.ndarray:
    """Consumers 0 .. with one far out of bounds AHEAD views in: the region loop asks for its
    region before checking it."""
    c = np.arange(k.AHEAD + 5, dtype=np.int64)
    c[k.AHEAD] = FAR
    return c


def test_a_consumer_far_out_of_bounds_ahead_raises_and_books_nothing(kernel):
    region = np.zeros(kernel.PREFETCH_BYTES, np.uint8)  # large: the loops ask ahead
    c = _far_at_ahead(kernel)
    with pytest.raises(IndexError, match="regions' bounds"):
        kernel.region_counts([c], region, 2)
    ec, state = np.zeros(1000, np.uint16), np.zeros(1000, np.int8)
    with pytest.raises(IndexError, match="regions' bounds"):
        _hour(kernel, c, region, 2, ec, state)
    assert not ec.any() and not state.any()  # nothing written
    # the same consumers within bounds: counted (the far one aside, the test's premise)
    c[kernel.AHEAD] = 0
    assert np.frombuffer(kernel.region_counts([c], region, 2), np.int64).tolist() == [len(c), 0]
    counts = _hour(kernel, c, region, 2, ec, state)[-1]
    assert np.frombuffer(counts, np.int64).tolist() == [len(c), 0]
    assert ec.any()  # (an hour decided: the counts written)


@pytest.mark.parametrize("n_regions", [2**61 + 1, 2**61, 2**60 + 1, 2**60])
def test_n_regions_whose_bytes_wrap_raise_overflow(kernel, n_regions):
    region = np.zeros(10, np.uint8)
    c = np.arange(3, dtype=np.int64)
    with pytest.raises(OverflowError, match="n_regions"):
        kernel.region_counts([c], region, n_regions)
    with pytest.raises(OverflowError, match="n_regions"):
        _hour(kernel, c, region, n_regions)


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import _wishes as k
    from tests.test_prefetch_bounds import _far_at_ahead, _hour
    region = np.zeros(k.PREFETCH_BYTES, np.uint8)
    for call in (lambda c: k.region_counts([c], region, 2), lambda c: _hour(k, c, region, 2)):
        try:
            call(_far_at_ahead(k))
        except IndexError:
            pass
        else:
            raise SystemExit("no IndexError")
    print("ok")
    """
)


def test_no_pointer_past_the_regions_under_the_sanitizer(kernel, tmp_path):
    """The kernel built with -fsanitize=pointer-overflow (a fault aborts the child)."""
    cc = sysconfig.get_config_var("CC").split()[0]
    so = tmp_path / f"_wishes{sysconfig.get_config_var('EXT_SUFFIX')}"
    build = subprocess.run(
        [cc, "-O2", "-ffp-contract=off", "-fsanitize=pointer-overflow",
         "-fno-sanitize-recover=all", "-shared", "-fPIC",
         f"-I{sysconfig.get_paths()['include']}", '-DSOURCE_SHA256="ubsan"',
         str(ROOT / "sim" / "_wishes.c"), "-o", str(so), "-lm"],
        capture_output=True, text=True,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.skip(f"no pointer-overflow sanitizer here: {build.stderr[-300:]}")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "runtime error" not in child.stderr, child.stderr[-2000:]
    assert child.returncode == 0 and child.stdout.strip() == "ok", child.stderr[-2000:]
