"""The KPI catalogue: what every KPI of the ``runs`` table means, and how to read it.

One entry per KPI computed by :mod:`sim.metrics` (a test keeps the two in step), in the
order of the ``runs`` table: its name, unit, which direction is better, a short label for
tables and plots, a one-line meaning and the group it belongs to. The command line's KPI
table, ``viralchain list kpis``, the sweep report, the dashboard's KPI panel, the plots and
README's KPI reference all read it; none keeps its own copy.

:mod:`sim.metrics` says how each KPI is computed (its functions' docstrings); this module
says what a reader needs to interpret the number.

Example::

    from sim.kpis import kpi
    kpi("fill_rate").better   # "higher"
    kpi("fill_rate").unit     # "share"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower", "neither"]

# what each unit means (README's KPI reference lists them)
UNITS: dict[str, str] = {
    "units": "units of product, summed over the brand's SKUs",
    "share": "a fraction from 0 to 1 (tables print 0.950; the dashboard shows 95.0%)",
    "SKU-h": "SKU-hours: one SKU for one hour",
    "h": "hours",
    "money": "one currency unit, the same for every money KPI",
    "ratio": "a ratio of two variances (1 = no amplification)",
    "unit·km": "units × kilometres moved",
    "views": "content views (one consumer seeing one post once)",
    "stars": "a rating from 1 to 5 stars",
}

# the groups, in the order of the runs table (README's reading guide walks through them)
GROUPS: tuple[str, ...] = ("orders", "service", "money", "stock and flexibility", "feedback")


@dataclass(frozen=True)
class Kpi:
    """One KPI of the ``runs`` table.

    Attributes:
        name: its column in the ``runs`` table and its key in ``RunResult.kpis``.
        unit: one of :data:`UNITS`.
        better: ``higher`` or ``lower`` when one direction is better for the brand;
            ``neither`` when the number describes the market or a choice, not a result.
        label: a short name for tables, plots and the dashboard.
        meaning: what the number is, in one line.
        group: one of :data:`GROUPS`.
    """

    name: str
    unit: str
    better: Better
    label: str
    meaning: str
    group: str

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better, 0 for neither."""
        return {"higher": 1, "lower": -1, "neither": 0}[self.better]

    @property
    def axis_label(self) -> str:
        """The label with its unit, for a plot axis or a panel title."""
        return f"{self.label} ({self.unit})"


def _k(name: str, unit: str, better: Better, label: str, meaning: str, group: str) -> Kpi:
    return Kpi(name, unit, better, label, meaning, group)


CATALOGUE: tuple[Kpi, ...] = (
    # ---- orders: what the market asked for and what became of it
    _k(
        "demand_units",
        "units",
        "neither",
        "Demand",
        "units consumers tried to buy (a wish counts once, however often its owner comes back)",
        "orders",
    ),
    _k(
        "sold_units",
        "units",
        "higher",
        "Sold",
        "units in accepted orders (pre-orders included)",
        "orders",
    ),
    _k(
        "lost_sales_units",
        "units",
        "lower",
        "Lost sales",
        "demand not accepted: sold out, promise too slow, or the buyer left",
        "orders",
    ),
    _k(
        "cancelled_units",
        "units",
        "lower",
        "Cancelled",
        "accepted, then cancelled before shipping",
        "orders",
    ),
    _k(
        "delivered_units",
        "units",
        "higher",
        "Delivered",
        "units that reached buyers (returned ones included)",
        "orders",
    ),
    _k(
        "open_order_units",
        "units",
        "lower",
        "Open orders",
        "accepted units neither delivered nor cancelled at the end",
        "orders",
    ),
    _k(
        "returned_units",
        "units",
        "lower",
        "Returned",
        "delivered units that buyers sent back",
        "orders",
    ),
    # ---- service
    _k("fill_rate", "share", "higher", "Fill rate", "sold ÷ demand", "service"),
    _k(
        "stockout_hours",
        "SKU-h",
        "lower",
        "Stock-out hours",
        "SKU-hours with no available unit in any of the brand's warehouses (after launch)",
        "service",
    ),
    _k(
        "delivery_hours_mean",
        "h",
        "lower",
        "Delivery time (mean)",
        "mean order-to-delivery hours of delivered orders",
        "service",
    ),
    _k(
        "delivery_hours_p95",
        "h",
        "lower",
        "Delivery time (p95)",
        "95th percentile of order-to-delivery hours of delivered orders",
        "service",
    ),
    _k(
        "on_time_rate",
        "share",
        "higher",
        "On time",
        "share of delivered orders delivered within the promise quoted at sale",
        "service",
    ),
    # ---- money: revenue minus the cost lines is profit
    _k(
        "revenue",
        "money",
        "higher",
        "Revenue",
        "paid by buyers (at order), net of refunds for cancellations and returns",
        "money",
    ),
    _k(
        "production_cost",
        "money",
        "lower",
        "Production cost",
        "cost of goods that went to buyers: all production spend (initial stock included) "
        "+ set-up − leftover and scrapped goods at average cost − inputs bought and not used",
        "money",
    ),
    _k("holding_cost", "money", "lower", "Holding cost", "warehouse holding cost", "money"),
    _k(
        "transport_cost",
        "money",
        "lower",
        "Transport cost",
        "line-haul, transfers and last mile (returns excluded)",
        "money",
    ),
    _k(
        "rush_premium_cost",
        "money",
        "lower",
        "Rush premium",
        "premiums paid for rush production and expedited transport",
        "money",
    ),
    _k(
        "kol_fees",
        "money",
        "lower",
        "KOL fees",
        "KOL base fees plus commissions, net of refunded commissions",
        "money",
    ),
    _k(
        "return_cost",
        "money",
        "lower",
        "Return cost",
        "reverse transport and handling of returns",
        "money",
    ),
    _k(
        "writeoff_cost",
        "money",
        "lower",
        "Write-off",
        "leftover stock and unused inputs at cost net of their salvage, plus scrapped units",
        "money",
    ),
    _k("profit", "money", "higher", "Profit", "revenue − every cost line", "money"),
    # ---- stock and flexibility
    _k(
        "leftover_units",
        "units",
        "lower",
        "Leftover stock",
        "unsold units the brand still holds (stock, goods in transit, returns)",
        "stock and flexibility",
    ),
    _k(
        "bullwhip_ratio",
        "ratio",
        "lower",
        "Bullwhip ratio",
        "variance of daily production orders ÷ variance of daily consumer demand (NaN, with "
        "a kpi_undefined event, unless ≥ 5 order days, ≥ 14 days and demand CV ≥ 0.05)",
        "stock and flexibility",
    ),
    _k(
        "response_time_hours",
        "h",
        "lower",
        "Hot-spot response",
        "hours from the first hour a SKU's 24-h demand reaches its available stock to the "
        "first arrival of goods ordered after it (censored at the horizon)",
        "stock and flexibility",
    ),
    _k(
        "quick_response_share",
        "share",
        "neither",
        "Quick-response share",
        "share of production units ordered through quick-response factories (a choice: "
        "their units cost more)",
        "stock and flexibility",
    ),
    _k(
        "transport_unit_km",
        "unit·km",
        "lower",
        "Transport volume",
        "units × km moved, all legs (returns included)",
        "stock and flexibility",
    ),
    _k(
        "peak_working_capital",
        "money",
        "lower",
        "Peak working capital",
        "highest hourly (stock + WIP at cost − buyers' prepayments for open orders)",
        "stock and flexibility",
    ),
    _k(
        "upstream_bullwhip_ratio",
        "ratio",
        "lower",
        "Upstream bullwhip ratio",
        "variance of the factories' daily material orders ÷ variance of daily consumer "
        "demand (the bullwhip one echelon up)",
        "stock and flexibility",
    ),
    # ---- added with the fair-fight comparison (issue 15): lost sales by cause, and the
    # standing costs of flexibility (cost lines of the money identity)
    _k(
        "lost_sold_out_units",
        "units",
        "lower",
        "Lost: sold out",
        "lost sales because no warehouse had the units (and the buyer did not come back)",
        "orders",
    ),
    _k(
        "lost_too_slow_units",
        "units",
        "lower",
        "Lost: too slow",
        "lost sales because the delivery promise exceeded the buyer's patience (stock was there)",
        "orders",
    ),
    _k(
        "lost_left_units",
        "units",
        "lower",
        "Lost: left",
        "lost sales of buyers still waiting to come back when the run ended",
        "orders",
    ),
    _k(
        "reservation_cost",
        "money",
        "lower",
        "Capacity reservations",
        "quick-response capacity kept available: factory retainers and hot-spot reservation fees",
        "money",
    ),
    _k(
        "warehouse_fixed_cost",
        "money",
        "lower",
        "Forward warehouses",
        "fixed cost (rent, staff, systems) of forward warehouses",
        "money",
    ),
    _k(
        "platform_cost",
        "money",
        "lower",
        "Data platform",
        "the shared real-time data platform (policy.information=on)",
        "money",
    ),
    # ---- feedback: what supply cost on the content and demand side (market.feedback)
    _k(
        "views_lost_stockout",
        "views",
        "lower",
        "Views lost to stock-outs",
        "views the share cascades lost because product pages were sold out (estimated by the "
        "page-sharing mechanism itself)",
        "feedback",
    ),
    _k(
        "views_lost_late",
        "views",
        "lower",
        "Views lost to slow promises",
        "views lost because pages turned buyers away with a too-slow delivery promise",
        "feedback",
    ),
    _k(
        "demand_lost_stockout_units",
        "units",
        "lower",
        "Demand lost to stock-outs",
        "wishes the views lost to stock-outs would have brought",
        "feedback",
    ),
    _k(
        "demand_lost_late_units",
        "units",
        "lower",
        "Demand lost to late delivery",
        "wishes lost to slow pages' views and to the rating and warnings that late deliveries "
        "caused",
        "feedback",
    ),
    _k(
        "demand_lost_quality_units",
        "units",
        "lower",
        "Demand lost to defects and returns",
        "wishes lost to the rating and warnings that defects and returns caused",
        "feedback",
    ),
    _k(
        "rating_end",
        "stars",
        "higher",
        "Rating at the end",
        "rating the product pages show at the end (1 + 4 × share of good reviews, with the "
        "prior; mean over the brand's products)",
        "feedback",
    ),
    # ---- added with the lever atlas (issue 16): the bullwhip per echelon
    _k(
        "factory_bullwhip_ratio",
        "ratio",
        "lower",
        "Factory bullwhip ratio",
        "variance of the factories' daily material orders ÷ variance of the brand's daily "
        "production orders (the factory echelon's own amplification)",
        "stock and flexibility",
    ),
)

BY_NAME: dict[str, Kpi] = {k.name: k for k in CATALOGUE}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def kpi(name: str) -> Kpi:
    """The catalogue entry of a KPI.

    Raises:
        KeyError: naming the KPI and where to find the known ones.
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a KPI (viralchain list kpis)") from None


def of_unit(*units: str) -> frozenset[str]:
    """Names of the KPIs measured in any of ``units``."""
    return frozenset(k.name for k in CATALOGUE if k.unit in units)


def better_of(direction: Better) -> tuple[str, ...]:
    """Names of the KPIs whose better direction is ``direction``, in catalogue order."""
    return tuple(k.name for k in CATALOGUE if k.better == direction)
