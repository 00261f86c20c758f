"""DESIGN.md sections 5 and 8: identities and invariants after runs of both setups.

The small runs have ``run.debug_invariants=true``: every invariant is checked after every
hour inside the model (a failure raises), so reaching the end already proves them per tick.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.invariants import InvariantError, check, check_kpis, unit_locations
from sim.orders import BACKLOG, OPEN_STATUSES
from tests.conftest import cached_run, small


def test_identities_of_design_section_5(setup_run):
    k = setup_run.kpis
    assert k["demand_units"] == k["sold_units"] + k["lost_sales_units"]
    assert k["sold_units"] == k["delivered_units"] + k["cancelled_units"] + k["open_order_units"]
    assert k["demand_units"] > 0 and k["sold_units"] > 0 and k["lost_sales_units"] > 0
    assert 0 <= k["fill_rate"] <= 1
    assert k["fill_rate"] == pytest.approx(k["sold_units"] / k["demand_units"])


def test_design_section_8_orders_form(setup_run):
    """demand = sold + lost + cancelled + backlog, with "sold" meaning delivered there."""
    k = setup_run.kpis
    assert k["demand_units"] == (
        k["delivered_units"] + k["lost_sales_units"] + k["cancelled_units"] + k["open_order_units"]
    )


def test_money_identity(setup_run):
    k = setup_run.kpis
    costs = sum(
        k[c]
        for c in (
            "production_cost",
            "holding_cost",
            "transport_cost",
            "rush_premium_cost",
            "kol_fees",
            "return_cost",
            "writeoff_cost",
            "reservation_cost",
            "warehouse_fixed_cost",
            "platform_cost",
        )
    )
    assert k["profit"] == pytest.approx(k["revenue"] - costs)
    standing = ("reservation_cost", "warehouse_fixed_cost", "platform_cost")
    if setup_run.config.meta.setup == "flexible":  # flexibility's standing costs are paid
        assert all(k[c] > 0 for c in standing)
    else:
        assert all(k[c] == 0 for c in standing)
    for c in ("holding_cost", "transport_cost", "kol_fees", "return_cost", "writeoff_cost"):
        assert k[c] > 0, c


def test_production_plus_writeoff_is_all_spend_minus_salvage(setup_run):
    """Production and write-off split all cash spent on production, minus what leftover stock
    and unused inputs are still worth."""
    m = setup_run.model
    led = m.ledger
    t = sim.metrics.brand_totals(m, 0)
    spend = led.money["production_spend"][0] + led.money["setup_cost"][0]
    assert sim.metrics.production_cost(t) + sim.metrics.writeoff_cost(t) == pytest.approx(
        spend - t.salvage_value - t.unused_inputs_salvage
    )


def test_units_conserved_at_the_end(setup_run):
    m = setup_run.model
    loc = unit_locations(m)
    made = m.ledger.units["initial"] + m.ledger.units["produced"]
    assert np.array_equal(made, sum(loc.values()))
    assert loc["kept_by_buyers"].sum() > 0 and loc["scrapped"].sum() >= 0


def test_order_book_agrees_with_kpis(setup_run):
    m = setup_run.model
    book = m.orders
    k = setup_run.kpis
    assert book.quantity.sum() == k["sold_units"]
    open_units = book.quantity[np.isin(book.status, OPEN_STATUSES)].sum()
    assert open_units == k["open_order_units"]
    assert (book.status != BACKLOG).all() or k["open_order_units"] > 0


def test_check_detects_a_broken_stock(setup_run):
    """The checker is not vacuous: corrupt one warehouse and it must fail."""
    m = cached_run("rigid", seed=2)  # a private copy to corrupt
    m = m.model
    w = m.warehouses[0]
    w.on_hand[0] += 1
    with pytest.raises(InvariantError, match="units not conserved"):
        check(m)
    w.on_hand[0] -= 1
    check(m)
    m.ledger.units["sold"][0] += 1
    with pytest.raises(InvariantError):
        check(m)
    m.ledger.units["sold"][0] -= 1


def test_check_kpis_detects_broken_identity(setup_run):
    bad = dict(setup_run.kpis)
    bad["profit"] += 100.0
    with pytest.raises(InvariantError, match="profit"):
        check_kpis(bad)
    bad = dict(setup_run.kpis)
    bad["lost_sales_units"] += 1
    with pytest.raises(InvariantError, match="demand"):
        check_kpis(bad)


def test_no_negative_quantities_in_tables(setup_run):
    ts = setup_run.timeseries
    numeric = ts.select_dtypes("number")
    assert (numeric >= 0).all().all()


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_invariants_hold_every_tick_with_returns_cancellations_and_revisits(setup):
    """A stressed world: scarce pick capacity forces lateness, cancellations and returns."""
    cfg = small(
        f"setup={setup}",
        "run.debug_invariants=true",
        "logistics.warehouses.central.pick_capacity_units_per_hour=10",
        "market.consumer.late_cancel_probability=0.9",
        "market.consumer.cancel_grace_hours=0",
        "market.consumer.revisit_probability=0.9",
    )
    r = sim.run(cfg, seed=3)
    k = r.kpis
    assert k["cancelled_units"] > 0
    assert k["returned_units"] > 0
    check_kpis(k)
