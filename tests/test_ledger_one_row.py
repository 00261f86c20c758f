"""A ledger of one SKU adds its region flows on that SKU's row (issue 21, fourteenth pass):
``Ledger.add_region_flow`` gives what the general way gives (the hour's block, the unit
counters, the flag of a flowed hour), and a whole row (``region`` None) is added in place."""

from __future__ import annotations

import numpy as np
import pytest

import sim.ledger as ledger
from sim.ledger import Ledger


def _books(led: Ledger) -> list[bytes | bool]:
    return [
        led.hour_block.tobytes(),
        *(led.units[f].tobytes() for f in led.UNIT_FIELDS),
        led.hour_flowed,
    ]


@pytest.mark.parametrize("seed", range(12))
def test_one_skus_flows_on_its_row_are_the_general_ways(seed, monkeypatch):
    """Flows of one SKU (a few entries, on both sides of ``_FEW_EACH``, and many, on both
    sides of ``_COUNT_FROM``; quantities as int64, int32 or one Python or numpy integer for
    each; the SKU as an array of zeros or the int 0; regions as int16, uint8 or int64)
    booked on the row (``_ONE_ROW``) and the general way: the same block, counters and
    flag."""
    r = np.random.default_rng(seed)
    R = int(r.integers(1, 9))
    got = []
    for flag in (False, True):
        monkeypatch.setattr(ledger, "_ONE_ROW", flag)
        led = Ledger(1, 1, R, np.zeros(1))
        draws = np.random.default_rng(seed)
        for _ in range(8):
            k = int(draws.integers(0, 12 if draws.random() < 0.5 else 700))
            region = draws.integers(0, R, k).astype(draws.choice(["int16", "uint8", "int64"]))
            form = int(draws.integers(0, 4))
            qty: int | np.ndarray
            if form == 0:
                qty = draws.integers(1, 6, k).astype(np.int64)
            elif form == 1:
                qty = draws.integers(1, 6, k).astype(np.int32)
            elif form == 2:
                qty = int(draws.integers(1, 4))
            else:
                qty = np.int64(draws.integers(1, 4))
            sku = np.zeros(k, np.int64) if draws.random() < 0.7 else 0
            name = str(draws.choice(["demand", "lost", "returned", "views", "sold"]))
            led.add_region_flow(name, sku, region, qty)
        got.append(_books(led))
    assert got[0] == got[1]
    assert got[1][0] != bytes(len(got[1][0]))  # something was booked


@pytest.mark.parametrize("n_sku", [1, 3])
def test_a_whole_row_is_added_in_place(n_sku):
    """``region`` None: ``qty`` is SKU ``sku``'s row, a count per region, added to the hour
    (and to the unit counter, for a field that has one) as the region indices ``0 .. R-1``
    with those counts add it; other SKUs' rows unchanged."""
    R = 5
    a, b = Ledger(n_sku, 1, R, np.zeros(n_sku)), Ledger(n_sku, 1, R, np.zeros(n_sku))
    sku = n_sku - 1
    for name in ("views", "demand", "views"):
        counts = np.arange(3, 3 + R, dtype=np.int64)
        a.add_region_flow(name, sku, None, counts)
        b.add_sku_region_flow(name, sku, np.arange(R), counts)
    assert _books(a) == _books(b)
    assert a.hour["views"][sku].tolist() == [6, 8, 10, 12, 14]
    assert a.units["demand"][sku] == 3 + 4 + 5 + 6 + 7
    assert not a.hour["views"][:sku].any()
    a.reset_hour()
    assert not a.hour_block.any() and not a.hour_flowed


@pytest.mark.parametrize("one_row", [False, True])
@pytest.mark.parametrize("n_sku", [1, 3])
@pytest.mark.parametrize("qty", [2, np.int64(2), np.array([2, 2, 2])])
def test_an_int_sku_books_the_quantity_for_each_region(one_row, n_sku, qty, monkeypatch):
    """An int SKU with an array of regions and one quantity: the quantity for each row of
    ``region``, on the hour and on the unit counter alike (both ways)."""
    monkeypatch.setattr(ledger, "_ONE_ROW", one_row)
    led = Ledger(n_sku, 1, 3, np.zeros(n_sku))
    sku = n_sku - 1
    led.add_region_flow("demand", sku, np.array([0, 1, 1]), qty)
    assert led.hour["demand"][sku].tolist() == [2, 4, 0]
    assert led.units["demand"].tolist() == [0] * (n_sku - 1) + [6]
    many = np.arange(600) % 3
    led.add_region_flow("demand", sku, many, 1)  # (counted by a bincount the general way)
    assert led.hour["demand"][sku].tolist() == [202, 204, 200]
    assert led.units["demand"][sku] == 606


def test_a_whole_row_of_several_skus_takes_one_sku():
    """``region`` None with several SKUs: ``sku`` must be one integer, not an array."""
    led = Ledger(3, 1, 2, np.zeros(3))
    led.add_region_flow("views", np.int64(2), None, np.array([1, 2]))
    assert led.hour["views"][2].tolist() == [1, 2]
    with pytest.raises(TypeError):
        led.add_region_flow("views", np.array([0, 1]), None, np.array([1, 2]))
