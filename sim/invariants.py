"""The invariants of DESIGN.md section 8, checked on a live model.

* Units, per SKU: initial + produced = on hand (warehouses, returns awaiting inspection,
  factory finished goods) + in transit (stock, parcels, returns) + kept by buyers + scrapped.
* Orders, per SKU: demand = sold + lost + waiting-to-revisit; sold = delivered + cancelled +
  open; the ledger's counters agree with the order book; reservations equal the units of
  allocated and picked orders; the backlog equals the units of backlog orders.
* Nothing negative: stock, reservations, finished goods, open production, goods in transit.
* Money: profit = revenue - all cost lines (checked on the KPIs, see :func:`check_kpis`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.metrics import COST_KPIS
from sim.orders import ALLOCATED, BACKLOG, CANCELLED, DELIVERED, OPEN_STATUSES, PICKED, RETURNED

if TYPE_CHECKING:
    from sim.model import ViralChainModel


class InvariantError(AssertionError):
    """An invariant does not hold."""


def unit_locations(m: ViralChainModel) -> dict[str, np.ndarray]:
    """Where every unit is, per SKU."""
    n = m.n_sku
    loc = {
        k: np.zeros(n, dtype=np.int64)
        for k in (
            "warehouse_on_hand",
            "returns_waiting",
            "factory_fg",
            "stock_in_transit",
            "parcels_in_transit",
            "returns_in_transit",
        )
    }
    for w in m.warehouses:
        loc["warehouse_on_hand"] += w.on_hand
        loc["returns_waiting"] += w.returns_waiting
    for f in m.factories:
        loc["factory_fg"] += f.fg.sum(axis=1)
    for c in m.carriers:
        loc["stock_in_transit"] += c.stock_in_transit
        loc["parcels_in_transit"] += c.parcels_in_transit
        loc["returns_in_transit"] += c.returns_in_transit
    loc["kept_by_buyers"] = m.population.kept_units.copy()
    loc["scrapped"] = m.ledger.units["scrapped"].copy()
    return loc


def check(m: ViralChainModel) -> None:
    """Raise :class:`InvariantError` naming the first broken invariant."""
    led = m.ledger.units
    hour = m.hour
    loc = unit_locations(m)
    made = led["initial"] + led["produced"]
    placed = sum(loc.values())
    if not np.array_equal(made, placed):
        detail = {k: v.tolist() for k, v in loc.items()}
        raise InvariantError(
            f"hour {hour}: units not conserved: initial+produced={made.tolist()} "
            f"but locations sum to {placed.tolist()} {detail}"
        )
    for w in m.warehouses:
        if (w.on_hand < 0).any() or (w.reserved < 0).any() or (w.reserved > w.on_hand).any():
            raise InvariantError(f"hour {hour}: {w.name}: negative stock or over-reservation")
        if (w.returns_waiting < 0).any():
            raise InvariantError(f"hour {hour}: {w.name}: negative returns")
    for f in m.factories:
        if (f.fg < 0).any() or (f.open_units < 0).any() or (f.wip_units < 0).any():
            raise InvariantError(f"hour {hour}: {f.name}: negative goods or open production")
    for c in m.carriers:
        for arr in (c.stock_in_transit, c.parcels_in_transit, c.returns_in_transit):
            if (arr < 0).any():
                raise InvariantError(f"hour {hour}: {c.name}: negative units in transit")

    book = m.orders
    by_status = np.zeros((7, m.n_sku), dtype=np.int64)
    np.add.at(by_status, (book.status, book.sku), book.quantity)
    open_units = by_status[list(OPEN_STATUSES)].sum(axis=0)
    delivered_book = by_status[DELIVERED] + by_status[RETURNED]
    sold_book = by_status.sum(axis=0)
    checks = {
        "demand = sold + lost + waiting": (
            led["demand"],
            led["sold"] + led["lost"] + m.ledger.pending_intents,
        ),
        "sold (ledger) = sold (order book)": (led["sold"], sold_book),
        "sold = delivered + cancelled + open": (
            led["sold"],
            led["delivered"] + led["cancelled"] + open_units,
        ),
        "delivered (ledger) = delivered (order book)": (led["delivered"], delivered_book),
        "cancelled (ledger) = cancelled (order book)": (led["cancelled"], by_status[CANCELLED]),
        "returned (ledger) = returned (order book)": (led["returned"], by_status[RETURNED]),
        "reserved = allocated + picked": (
            sum(w.reserved for w in m.warehouses),
            by_status[ALLOCATED] + by_status[PICKED],
        ),
        "backlog = backlog orders": (
            sum(b.selling.backlog_units for b in m.brands),
            by_status[BACKLOG],
        ),
        "kept by buyers = delivered - returned": (m.population.kept_units, by_status[DELIVERED]),
    }
    for name, (a, b) in checks.items():
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise InvariantError(f"hour {hour}: {name} fails: {np.asarray(a)} vs {np.asarray(b)}")
    if (m.ledger.pending_intents < 0).any():
        raise InvariantError(f"hour {hour}: negative waiting intents")


def check_kpis(kpis: dict[str, float], tol: float = 1e-6) -> None:
    """The identities of DESIGN.md section 5 on a KPI mapping."""
    k = kpis
    if k["demand_units"] != k["sold_units"] + k["lost_sales_units"]:
        raise InvariantError(f"demand != sold + lost: {k}")
    causes = k["lost_sold_out_units"] + k["lost_too_slow_units"] + k["lost_left_units"]
    if k["lost_sales_units"] != causes:
        raise InvariantError(f"lost != sold out + too slow + left: {k}")
    if k["sold_units"] != k["delivered_units"] + k["cancelled_units"] + k["open_order_units"]:
        raise InvariantError(f"sold != delivered + cancelled + open: {k}")
    costs = sum(k[c] for c in COST_KPIS)
    if abs(k["profit"] - (k["revenue"] - costs)) > tol * max(1.0, abs(k["revenue"])):
        raise InvariantError(f"profit != revenue - costs: {k}")
