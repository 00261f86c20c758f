"""A large hour's content views counted per region in C (``sim/_wishes.c``,
``region_counts``; ``WishDecisions._views_by_region_in_c``, called by
``ConsumerPopulation.decide`` for hours decided in chunks): numpy's ``bincount`` of the
regions gathered, for every integer dtype of consumers and regions and sizes around the
prefetch distance; arrays it does not read are declined (NotImplemented) and the Python path
books them; bad consumers and regions raise; whole runs whose hours are cut in tiny chunks
book the same ledger with the kernel and without it."""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
from tests.test_compiled import built

CONSUMER_TYPES = (np.int64, np.int32, np.uint32, np.uint64)
REGION_TYPES = (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.int64, np.uint64)


@pytest.fixture(scope="module")
def kernel():
    """The built wish kernel (VIRALCHAIN_COMPILED=0 aside: both paths are compared here)."""
    return built("_wishes")


def _want(arrays, region, n_regions):
    c = np.concatenate([np.asarray(a, np.int64) for a in arrays]) if arrays else np.zeros(0, int)
    return np.bincount(region[c].astype(np.int64), minlength=n_regions)


@pytest.mark.parametrize("seed", range(24))
def test_region_counts_are_numpys_bincount(kernel, seed):
    r = np.random.default_rng(seed)
    a = kernel.AHEAD
    n = int(r.choice([1, 7, 1000, 100_000]))
    n_regions = int(r.choice([1, 3, 9, 300]))
    region = r.integers(0, n_regions, n).astype(REGION_TYPES[seed % len(REGION_TYPES)])
    sizes = r.choice([0, 1, a - 1, a, a + 1, 2 * a + 3, 5000], int(r.integers(0, 5)))
    arrays = [
        r.integers(0, n, k).astype(CONSUMER_TYPES[(seed + j) % len(CONSUMER_TYPES)])
        for j, k in enumerate(sizes)
    ]
    got = kernel.region_counts(arrays, region, n_regions)
    assert np.frombuffer(got, np.int64).tolist() == _want(arrays, region, n_regions).tolist()
    assert kernel.region_counts(tuple(arrays), region, n_regions) == got  # any sequence


@pytest.mark.parametrize(
    "consumers",
    [np.arange(4, dtype=np.int16), np.arange(4.0), np.arange(8)[::2], np.arange(4).reshape(2, 2)],
)
def test_region_counts_declines_arrays_it_does_not_read(kernel, consumers):
    region = np.zeros(10, np.uint8)
    assert kernel.region_counts([np.arange(3), consumers], region, 2) is NotImplemented


@pytest.mark.parametrize(
    "args, error",
    [
        (([np.array([0, 10])], np.zeros(10, np.uint8), 2), IndexError),  # beyond the regions
        (([np.array([-1])], np.zeros(10, np.uint8), 2), IndexError),  # below
        (([np.array([2**63 + 1], np.uint64)], np.zeros(10, np.uint8), 2), IndexError),
        (([np.array([3])], np.full(10, 2, np.uint8), 2), ValueError),  # a region too high
        (([np.array([3])], np.full(10, -1, np.int8), 2), ValueError),  # negative
        (([np.array([3])], np.zeros(10), 2), TypeError),  # regions not integers
        (([np.array([3])], np.zeros(10, np.uint8), -1), ValueError),  # n_regions
        ((5, np.zeros(10, np.uint8), 2), TypeError),  # not a sequence
    ],
)
def test_region_counts_bad_arguments_raise(kernel, args, error):
    with pytest.raises(error):
        kernel.region_counts(*args)


class _Spy:
    def __init__(self, k):
        self.k, self.calls = k, 0

    def __getattr__(self, name):
        return getattr(self.k, name)

    def region_counts(self, *args):
        self.calls += 1
        return self.k.region_counts(*args)


def _run(monkeypatch, k, chunk: int):
    monkeypatch.setattr(wishes, "_K", k)
    monkeypatch.setattr(consumers, "_WISH_CHUNK", chunk)
    monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
    cfg = sim.compose(None, ["market.n_consumers=6000", "run.horizon_hours=240"])
    result = sim.run(cfg, seed=3, keep_model=True)
    ledger = result.model.ledger
    return (
        result.timeseries.to_csv(),
        sorted(result.kpis.items()),
        {k: v.tobytes() for k, v in ledger.units.items()},
    )


@pytest.mark.parametrize("chunk", [7, 300])
def test_runs_in_chunks_book_the_same_views_with_the_kernel(kernel, monkeypatch, chunk):
    spy = _Spy(kernel)
    with_c = _run(monkeypatch, spy, chunk)
    assert spy.calls > 0  # (not vacuous: large hours' views were counted in C)
    without = _run(monkeypatch, None, chunk)
    assert with_c == without


def test_a_declined_array_books_by_the_python_path(kernel, monkeypatch):
    """region_counts declines: ``_views_by_region_in_c`` says False, books nothing."""

    class Declining(_Spy):
        def region_counts(self, *args):
            self.calls += 1
            return NotImplemented

    spy = Declining(kernel)
    declined = _run(monkeypatch, spy, 7)
    assert spy.calls > 0
    assert declined == _run(monkeypatch, None, 7)
