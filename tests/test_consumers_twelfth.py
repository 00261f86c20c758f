"""The consumers' hour with fewer numpy calls (issue 21, twelfth pass): each shortcut gives
exactly what the way it replaces gives (values, dtypes, every book)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
import sim.ledger as ledger
from sim.model import ViralChainModel
from tests.test_consumers_eleventh import _run_books


@pytest.mark.parametrize("n", [0, 1, 2, 3, 60, 125, 255, 256, 399, 400, 401, 700, 1023, 1024])
@pytest.mark.parametrize("bound", [2, 5, 100_000, 1_000_000, 1 << 22, 1 << 40])
@pytest.mark.parametrize("narrow", [False, True])
def test_sorted_consumers_below_and_above_the_packing_are_the_stable_sorts(n, bound, narrow):
    """``_ascending`` sorts a few hundred consumers by numpy's stable argsort (below
    ``_PACKED_FROM``) and more packed with their positions (from ``_iota``): the stable
    order and the sorted consumers, with many repeats (ties keep their positions' order),
    the order as intp (and int64 consumers as intp) however sorted."""
    r = np.random.default_rng(n * 7 + bound)
    for dtype in (np.int64, np.int32):
        if bound > 1 << 31 and dtype is np.int32:
            continue
        consumers = r.integers(0, bound, n).astype(dtype)
        if n > 4:
            consumers[: n // 3] = consumers[n // 3 : 2 * (n // 3)]  # repeats
            consumers[-1] = bound - 1
        want = np.argsort(consumers, kind="stable")
        order, flat = wishes._ascending(consumers, bound, narrow=narrow)
        np.testing.assert_array_equal(order, want)
        np.testing.assert_array_equal(flat, consumers[want])
        assert order.dtype == np.intp  # (packed in 32 bits too: unpacked as intp)
        assert flat.dtype == (np.intp if dtype is np.int64 else consumers.dtype)


@pytest.mark.parametrize("dtype", [np.int64, np.uint32])
def test_the_positions_table_is_arange_read_only_and_grows(dtype, monkeypatch):
    """``_iota(n, dtype)`` is ``np.arange(n, dtype=dtype)``, a read-only view; a longer one
    grows the table (views handed out before keep their values)."""
    monkeypatch.setattr(wishes, "_IOTAS", {})
    first = wishes._iota(5, dtype)
    np.testing.assert_array_equal(first, np.arange(5, dtype=dtype))
    assert first.dtype == dtype and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 7
    for n in (0, 1024, 1025, 5000, 3, 70_000):
        got = wishes._iota(n, dtype)
        np.testing.assert_array_equal(got, np.arange(n, dtype=dtype))
        assert got.dtype == dtype and len(got) == n
    np.testing.assert_array_equal(first, np.arange(5, dtype=dtype))
    assert len(wishes._IOTAS[dtype]) >= 70_000


@pytest.mark.parametrize(
    "extra",
    [
        ["setup=flexible"],
        [
            "setup=flexible",
            "market.consumer.return_propensity_mean=0.6",
            "market.consumer.units_per_order_mean=2.5",
        ],
        ["setup=flexible", "story=multi_platform"],  # 3 platforms, high returns
        ["setup=rigid", *(f"~market.regions.{r}" for r in ("south", "north", "west"))],
    ],
    ids=["default", "returns", "multi_platform", "rigid-one-region"],
)
def test_one_products_books_on_its_row_are_the_per_product_books(extra, monkeypatch):
    """A world of one product books its demand, lost sales and returns per region on
    product 0's row and its platforms' demand and returned units as integers
    (``_ONE_BOOKS``; the flows per region: the ledger's ``_ONE_ROW``): a whole run records
    and books what the per-product books give (the recorder's table, the ledger's counters,
    platform units, kept units), with demand, lost sales and returns in it; one platform
    and four regions, three platforms (each with demand), one region."""
    overrides = ["market.n_consumers=30000", "run.horizon_hours=600", *extra]
    cfg = sim.compose(None, overrides)
    n_platforms = max(1, len(cfg.market.platforms))
    got = []
    for flag in (False, True):
        monkeypatch.setattr(consumers, "_ONE_BOOKS", flag)
        monkeypatch.setattr(ledger, "_ONE_ROW", flag)  # (the region flows: the ledger's)
        m = ViralChainModel(cfg, 5)
        assert m.n_sku == 1
        m.run_for(600)
        led = m.ledger
        got.append(
            [
                m.recorder.data.tobytes(),
                *(led.platform_units[k].tobytes() for k in sorted(led.platform_units)),
                *_run_books(m),
            ]
        )
    assert got[0] == got[1]
    assert m.ledger.platform_units["demand"].shape == (1, n_platforms)
    assert (m.ledger.platform_units["demand"] > 0).all()  # every platform's demand booked
    assert m.ledger.n_regions == (1 if "setup=rigid" in extra else 4)
    units = m.ledger.units
    assert units["demand"].sum() > 0 and units["returned"].sum() > 0
    assert sum(int(units[f].sum()) for f in consumers.LOST_CAUSES.values()) > 0


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 4097, 18_000])
@pytest.mark.parametrize("n_regions", [1, 2, 4, 8, 9, 31])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_views_regions_counted_region_by_region_are_the_bincount(n, n_regions, dtype):
    """``_region_counts``: many views of a few regions counted region by region give
    ``np.bincount(regions, minlength=n_regions)`` (values and dtype), regions with no view
    and the last region among them."""
    r = np.random.default_rng(n + n_regions)
    regions = r.integers(0, n_regions, n).astype(dtype)
    if n > 3:
        regions[-1] = n_regions - 1
        regions[regions == 0] = min(1, n_regions - 1)  # region 0 without a view
    got = wishes._region_counts(regions, n_regions)
    want = np.bincount(regions, minlength=n_regions)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and len(got) == n_regions


@pytest.mark.parametrize("n", [0, 1, 7, 500, 70_000])
def test_trues_are_np_ones_of_bools(n):
    """``_trues(n)``: ``np.ones(n, dtype=bool)`` (values, dtype, a fresh writable array)."""
    got = wishes._trues(n)
    want = np.ones(n, dtype=bool)
    assert got.dtype == want.dtype and got.shape == want.shape and got.flags.writeable
    np.testing.assert_array_equal(got, want)
    assert wishes._trues(n) is not got


def test_a_live_hour_takes_the_region_counts_and_the_32_bit_sort(monkeypatch):
    """The fast paths are taken (results can't show it): a one-product world's live hour
    (more than ``_COUNT_EACH_FROM`` views of 4 regions) counts its views' regions region by
    region (np.bincount of the regions raises) and sorts its ≥ ``_NARROW_FROM`` consumers
    packed in 32 bits (positions from ``_iota(n, np.uint32)``)."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=30000", "run.horizon_hours=300"])
    m = ViralChainModel(cfg, 5)
    n_regions = m.ledger.n_regions
    assert m.n_sku == 1 and n_regions == 4 <= wishes._FEW_REGIONS

    class Numpy:  # numpy, whose bincount of many views' regions raises
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def bincount(x, *args, minlength=0, **kwargs):
            if len(x) >= wishes._COUNT_EACH_FROM and minlength == n_regions:
                raise AssertionError(f"{len(x)} regions counted by np.bincount")
            return np.bincount(x, *args, minlength=minlength, **kwargs)

    counted, iotas = [], []
    region_counts, iota = wishes._region_counts, wishes._iota

    def spy_counts(regions, n):
        counted.append(len(regions))
        return region_counts(regions, n)

    def spy_iota(n, dtype):
        iotas.append((n, dtype))
        return iota(n, dtype)

    monkeypatch.setattr(wishes, "np", Numpy())
    monkeypatch.setattr(wishes, "_K", None)  # (the Python path's; the kernel counts in C)
    monkeypatch.setattr(wishes, "_region_counts", spy_counts)
    monkeypatch.setattr(wishes, "_iota", spy_iota)
    m.run_for(300)
    assert max(counted) >= wishes._COUNT_EACH_FROM  # a live hour's views counted
    narrow = [n for n, dtype in iotas if dtype is np.uint32]
    assert narrow and max(narrow) >= wishes._NARROW_FROM  # packed in 32 bits
