"""KPIs as named pure functions of a brand's end-of-run totals.

:func:`brand_totals` gathers, once, everything the KPIs need from a finished model into a
:class:`BrandTotals`; every KPI in :data:`KPIS` is then a pure function of it. The KPI names
and meanings are the contract of the ``runs`` table (DESIGN.md section 5).

Identities (tested): demand = sold + lost; lost = lost_sold_out + lost_too_slow + lost_left;
sold = delivered + cancelled + open; profit = revenue - (production + holding + transport +
rush premium + KOL fees + returns + write-off + the standing costs of flexibility:
reservations, forward warehouses, platform). ``production_cost + writeoff_cost`` equals all
production spend (initial stock included, at the cheapest regular factory's unit cost) plus
set-up costs, minus the salvage value of leftover stock: ``production_cost`` is the cost of
goods that went to buyers and ``writeoff_cost`` that of leftover (net of salvage) and
scrapped goods.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.orders import DELIVERED, OPEN_STATUSES, RETURNED

if TYPE_CHECKING:
    from sim.model import ViralChainModel


@dataclass(frozen=True)
class BrandTotals:
    """End-of-run aggregates of one brand (units summed over its SKUs)."""

    horizon_hours: int
    demand: int
    sold: int
    lost: int
    lost_sold_out: int
    lost_too_slow: int
    lost_left: int
    cancelled: int
    delivered: int
    open_units: int
    returned: int
    produced: int
    initial: int
    scrapped: int
    leftover: int
    stockout_hours: int
    delivery_hours: np.ndarray  # per delivered order
    on_time: np.ndarray  # per delivered order
    paid: float
    cancel_refunds: float
    return_refunds: float
    production_spend: float
    setup_cost: float
    leftover_cost: float  # leftover units at average cost
    unused_inputs_cost: float  # modules and materials bought and not turned into units
    unused_inputs_salvage: float  # what those are still worth at the end
    salvage_value: float
    scrapped_cost: float
    holding_cost: float
    transport_cost: float
    rush_premium_cost: float
    reservation_cost: float
    warehouse_fixed_cost: float
    platform_cost: float
    kol_fees: float
    return_cost: float
    unit_km: float
    daily_orders: np.ndarray
    daily_material_orders: np.ndarray
    daily_demand: np.ndarray
    response_hours: np.ndarray  # per SKU that had a hot-spot signal (censored at the horizon)
    units_ordered: int
    units_ordered_quick: int
    peak_working_capital: float
    views_lost: np.ndarray  # by cause (stock-out, late delivery, quality), sim.feedback
    demand_lost: np.ndarray  # by cause, units
    rating: float  # mean over the brand's products of the rating shown at the end (0..1)


def brand_totals(model: ViralChainModel, b: int) -> BrandTotals:
    """Gather a brand's totals from a finished model."""
    m = model
    led = m.ledger
    brand = m.brands[b]
    skus = brand.skus
    u = {k: int(v[skus].sum()) for k, v in led.units.items()}
    book = m.orders
    mine = book.brand == b
    status = book.status[mine]
    qty = book.quantity[mine].astype(np.int64)
    open_units = int(qty[np.isin(status, OPEN_STATUSES)].sum())
    done = (status == DELIVERED) | (status == RETURNED)
    delivery = (book.delivered_hour[mine][done] - book.placed_hour[mine][done]).astype(float)
    on_time = delivery <= book.promise_hours[mine][done]
    avg = led.average_cost()
    leftover = m_leftover(m, b)
    leftover_units = int(leftover[skus].sum())
    salvage = float((leftover * avg * m.salvage_fraction)[skus].sum())
    H = m.horizon_hours
    days = -(-H // HOURS_PER_DAY)
    demand_h = brand.sensing.hourly_demand[:, skus].sum(axis=1)
    daily_demand = (
        np.pad(demand_h, (0, days * HOURS_PER_DAY - H)).reshape(days, HOURS_PER_DAY).sum(axis=1)
    )
    signal = brand.sensing.signal_hour[skus]
    resp = brand.sensing.response_hour[skus]
    had = signal >= 0
    response = np.where(resp[had] >= 0, resp[had] - signal[had], H - signal[had]).astype(float)
    money = {k: float(v[b]) for k, v in led.money.items()}
    return BrandTotals(
        horizon_hours=H,
        demand=u["demand"],
        sold=u["sold"],
        lost=u["lost"],
        lost_sold_out=u["lost_sold_out"],
        lost_too_slow=u["lost_too_slow"],
        lost_left=u["lost_left"],
        cancelled=u["cancelled"],
        delivered=u["delivered"],
        open_units=open_units,
        returned=u["returned"],
        produced=u["produced"],
        initial=u["initial"],
        scrapped=u["scrapped"],
        leftover=leftover_units,
        stockout_hours=int(brand.sensing.stockout_hours[skus].sum()),
        delivery_hours=delivery,
        on_time=on_time,
        paid=money["paid"],
        cancel_refunds=money["cancel_refunds"],
        return_refunds=money["return_refunds"],
        production_spend=money["production_spend"],
        setup_cost=money["setup_cost"],
        leftover_cost=float((leftover * avg)[skus].sum()),
        unused_inputs_cost=sum(f.unused_inputs_value() for f in brand.factories),
        unused_inputs_salvage=sum(f.unused_inputs_salvage() for f in brand.factories),
        daily_material_orders=sum(f.daily_material_orders for f in brand.factories),
        salvage_value=salvage,
        scrapped_cost=float((led.units["scrapped"] * avg)[skus].sum()),
        holding_cost=money["holding_cost"],
        transport_cost=money["transport_cost"],
        rush_premium_cost=money["rush_premium_cost"],
        reservation_cost=money["reservation_cost"],
        warehouse_fixed_cost=money["warehouse_fixed_cost"],
        platform_cost=money["platform_cost"],
        kol_fees=money["kol_fees"],
        return_cost=money["return_cost"],
        unit_km=money["unit_km"],
        daily_orders=brand.supply.daily_ordered[:, skus].sum(axis=1).astype(float),
        daily_demand=daily_demand.astype(float),
        response_hours=response,
        units_ordered=u["units_ordered"],
        units_ordered_quick=u["units_ordered_quick"],
        peak_working_capital=float(m.peak_working_capital[b]),
        views_lost=m.feedback.views_lost[:, skus].sum(axis=1),
        demand_lost=m.feedback.demand_lost[:, skus].sum(axis=1),
        rating=float(m.feedback.rating()[skus].mean()),
    )


def m_leftover(m: ViralChainModel, b: int) -> np.ndarray:
    """Units per SKU the brand still holds at the end and that nobody bought.

    Unreserved warehouse stock, returns awaiting inspection, finished goods at factories,
    stock on line-haul trucks and returns on their way back.
    """
    out = np.zeros(m.n_sku, dtype=np.int64)
    brand = m.brands[b]
    for w in brand.warehouses:
        out += w.on_hand - w.reserved + w.returns_waiting
    for f in brand.factories:
        out += f.fg.sum(axis=1)
    for c in brand.carriers:
        out += c.stock_in_transit + c.returns_in_transit
    return out


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


# ----------------------------------------------------------------------------- the KPIs


def demand_units(t: BrandTotals) -> float:
    """Units consumers tried to buy."""
    return t.demand


def sold_units(t: BrandTotals) -> float:
    """Units in accepted orders (pre-orders included)."""
    return t.sold


def lost_sales_units(t: BrandTotals) -> float:
    """Demand not accepted: sold out, promise too slow, or left."""
    return t.lost


def lost_sold_out_units(t: BrandTotals) -> float:
    """Lost sales because no warehouse had the units (and the buyer did not come back)."""
    return t.lost_sold_out


def lost_too_slow_units(t: BrandTotals) -> float:
    """Lost sales because the delivery promise exceeded the buyer's patience (stock was there)."""
    return t.lost_too_slow


def lost_left_units(t: BrandTotals) -> float:
    """Lost sales of buyers who were waiting to come back when the run ended (they left)."""
    return t.lost_left


def cancelled_units(t: BrandTotals) -> float:
    """Accepted, then cancelled before shipping."""
    return t.cancelled


def delivered_units(t: BrandTotals) -> float:
    """Units that reached buyers (returned ones included)."""
    return t.delivered


def open_order_units(t: BrandTotals) -> float:
    """Accepted units neither delivered nor cancelled at the end."""
    return t.open_units


def returned_units(t: BrandTotals) -> float:
    """Delivered units that buyers sent back."""
    return t.returned


def fill_rate(t: BrandTotals) -> float:
    """sold / demand (NaN without demand)."""
    return _ratio(t.sold, t.demand)


def stockout_hours(t: BrandTotals) -> float:
    """SKU-hours with no available unit in any of the brand's warehouses (after launch)."""
    return t.stockout_hours


def delivery_hours_mean(t: BrandTotals) -> float:
    """Mean order-to-delivery hours of delivered orders (NaN if none)."""
    return float(t.delivery_hours.mean()) if len(t.delivery_hours) else float("nan")


def delivery_hours_p95(t: BrandTotals) -> float:
    """95th percentile of order-to-delivery hours (NaN if none)."""
    return float(np.percentile(t.delivery_hours, 95)) if len(t.delivery_hours) else float("nan")


def on_time_rate(t: BrandTotals) -> float:
    """Share of delivered orders delivered within their promise (NaN if none)."""
    return float(t.on_time.mean()) if len(t.on_time) else float("nan")


def revenue(t: BrandTotals) -> float:
    """Paid by buyers, net of refunds for cancellations and returns."""
    return t.paid - t.cancel_refunds - t.return_refunds


def production_cost(t: BrandTotals) -> float:
    """Cost of goods that went to buyers: production spend + set-up - leftover and scrapped
    units at cost - inputs bought but not used."""
    return (
        t.production_spend + t.setup_cost - t.leftover_cost - t.scrapped_cost - t.unused_inputs_cost
    )


def holding_cost(t: BrandTotals) -> float:
    """Warehouse holding cost."""
    return t.holding_cost


def transport_cost(t: BrandTotals) -> float:
    """Line-haul, transfers and last mile (returns excluded)."""
    return t.transport_cost


def rush_premium_cost(t: BrandTotals) -> float:
    """Premiums paid for rush production and expedited transport."""
    return t.rush_premium_cost


def reservation_cost(t: BrandTotals) -> float:
    """Quick-response capacity kept available: factories' retainers and the fees for capacity
    held for hot spots (a standing cost of flexibility)."""
    return t.reservation_cost


def warehouse_fixed_cost(t: BrandTotals) -> float:
    """Fixed cost of forward warehouses (a standing cost of flexibility)."""
    return t.warehouse_fixed_cost


def platform_cost(t: BrandTotals) -> float:
    """The shared real-time data platform (a standing cost of flexibility)."""
    return t.platform_cost


def kol_fees(t: BrandTotals) -> float:
    """Base fees plus commissions (net of refunded commissions)."""
    return t.kol_fees


def return_cost(t: BrandTotals) -> float:
    """Reverse transport and handling of returns."""
    return t.return_cost


def writeoff_cost(t: BrandTotals) -> float:
    """Leftover stock and unused inputs at cost net of their salvage, plus scrapped units."""
    return (
        t.leftover_cost
        - t.salvage_value
        + t.scrapped_cost
        + t.unused_inputs_cost
        - t.unused_inputs_salvage
    )


COST_LINES = (
    production_cost,
    holding_cost,
    transport_cost,
    rush_premium_cost,
    kol_fees,
    return_cost,
    writeoff_cost,
    reservation_cost,
    warehouse_fixed_cost,
    platform_cost,
)
COST_KPIS = tuple(f.__name__ for f in COST_LINES)  # their names in the runs table


def profit(t: BrandTotals) -> float:
    """Revenue minus every cost line."""
    return revenue(t) - sum(f(t) for f in COST_LINES)


def leftover_units(t: BrandTotals) -> float:
    """Unsold units the brand holds at the end (stock, goods in transit, returns)."""
    return t.leftover


# When a bullwhip ratio means something: the order stream has at least this many days with an
# order (fewer is one batch or a few lots, whose variance measures the lot size, not an
# amplification of demand) ...
BULLWHIP_MIN_ORDER_DAYS = 5
# ... and daily demand varies: a coefficient of variation of at least this (a ratio over a
# near-flat demand divides by almost nothing) over at least two weeks of days.
BULLWHIP_MIN_DEMAND_CV = 0.05
BULLWHIP_MIN_DAYS = 14


def bullwhip_undefined(orders: np.ndarray, demand: np.ndarray) -> str:
    """Why var(orders) / var(demand) means nothing here ("" when it is defined)."""
    if len(demand) < BULLWHIP_MIN_DAYS:
        return f"{len(demand)} days < {BULLWHIP_MIN_DAYS}"
    mean, var = float(np.mean(demand)), float(np.var(demand))
    if mean <= 0:
        return "no demand (nothing to amplify)"
    if var < (BULLWHIP_MIN_DEMAND_CV * mean) ** 2:
        cv = var**0.5 / mean
        return f"demand nearly flat (CV {cv:.3f} < {BULLWHIP_MIN_DEMAND_CV})"
    days = int(np.count_nonzero(orders))
    if days < BULLWHIP_MIN_ORDER_DAYS:
        return f"{days} order days < {BULLWHIP_MIN_ORDER_DAYS} (a few lots, not a stream)"
    return ""


def _bullwhip(orders: np.ndarray, demand: np.ndarray) -> float:
    if bullwhip_undefined(orders, demand):
        return math.nan  # one NaN object: KPI dicts of equal runs compare equal
    return float(np.var(orders) / np.var(demand))


def bullwhip_notes(t: BrandTotals) -> dict[str, str]:
    """Why each bullwhip KPI that is NaN is undefined (KPI name → reason), per echelon."""
    pairs = {
        "bullwhip_ratio": (t.daily_orders, t.daily_demand),
        "upstream_bullwhip_ratio": (t.daily_material_orders, t.daily_demand),
        "factory_bullwhip_ratio": (t.daily_material_orders, t.daily_orders),
    }
    notes = {k: bullwhip_undefined(o, d) for k, (o, d) in pairs.items()}
    return {k: v for k, v in notes.items() if v}


def bullwhip_ratio(t: BrandTotals) -> float:
    """Brand echelon: var(daily production orders) / var(daily consumer demand); NaN unless
    defined (:func:`bullwhip_undefined`: ≥ 5 order days, ≥ 14 days, demand CV ≥ 0.05)."""
    return _bullwhip(t.daily_orders, t.daily_demand)


def upstream_bullwhip_ratio(t: BrandTotals) -> float:
    """var(factories' daily material orders) / var(daily consumer demand): the bullwhip one
    echelon up, cumulative (NaN unless defined). Information sharing acts here."""
    return _bullwhip(t.daily_material_orders, t.daily_demand)


def factory_bullwhip_ratio(t: BrandTotals) -> float:
    """Factory echelon: var(daily material orders) / var(the brand's daily production
    orders), the factories' own amplification (NaN unless defined, with the brand's orders
    as the demand they see)."""
    return _bullwhip(t.daily_material_orders, t.daily_orders)


def response_time_hours(t: BrandTotals) -> float:
    """Hot-spot response: from the first hour a SKU's 24-h demand reaches its available
    stock to the first arrival of goods ordered after it (mean over SKUs with a signal;
    censored at the horizon; NaN when no SKU had a signal)."""
    return float(t.response_hours.mean()) if len(t.response_hours) else float("nan")


def quick_response_share(t: BrandTotals) -> float:
    """Share of production units ordered through the quick-response channel."""
    return _ratio(t.units_ordered_quick, t.units_ordered) if t.units_ordered else 0.0


def transport_unit_km(t: BrandTotals) -> float:
    """Units × km moved (all legs, returns included)."""
    return t.unit_km


def peak_working_capital(t: BrandTotals) -> float:
    """Highest hourly (stock + WIP at cost - buyers' prepayments for open orders)."""
    return t.peak_working_capital


def views_lost_stockout(t: BrandTotals) -> float:
    """Views the share cascades lost because product pages were sold out (estimated by the
    page-sharing mechanism: withheld shares x 1/(1-n); sim.feedback)."""
    return float(t.views_lost[0])


def views_lost_late(t: BrandTotals) -> float:
    """Views lost because pages turned buyers away with a too-slow delivery promise."""
    return float(t.views_lost[1])


def demand_lost_stockout_units(t: BrandTotals) -> float:
    """Wishes those stock-out views would have brought (at the hour's wishes per view)."""
    return float(t.demand_lost[0])


def demand_lost_late_units(t: BrandTotals) -> float:
    """Wishes lost to slow pages' views, and to the rating and warnings that late deliveries
    caused (their share of the disappointed deliveries)."""
    return float(t.demand_lost[1])


def demand_lost_quality_units(t: BrandTotals) -> float:
    """Wishes lost to the rating and warnings that defects and returns caused."""
    return float(t.demand_lost[2])


def rating_end(t: BrandTotals) -> float:
    """Rating the brand's product pages show at the end, in stars (1 + 4 x share of good
    reviews, the prior included; mean over its products)."""
    return 1.0 + 4.0 * t.rating


KPIS: dict[str, Callable[[BrandTotals], float]] = {
    f.__name__: f
    for f in (
        demand_units,
        sold_units,
        lost_sales_units,
        cancelled_units,
        delivered_units,
        open_order_units,
        returned_units,
        fill_rate,
        stockout_hours,
        delivery_hours_mean,
        delivery_hours_p95,
        on_time_rate,
        revenue,
        production_cost,
        holding_cost,
        transport_cost,
        rush_premium_cost,
        kol_fees,
        return_cost,
        writeoff_cost,
        profit,
        leftover_units,
        bullwhip_ratio,
        response_time_hours,
        quick_response_share,
        transport_unit_km,
        peak_working_capital,
        upstream_bullwhip_ratio,
        lost_sold_out_units,
        lost_too_slow_units,
        lost_left_units,
        reservation_cost,
        warehouse_fixed_cost,
        platform_cost,
        views_lost_stockout,
        views_lost_late,
        demand_lost_stockout_units,
        demand_lost_late_units,
        demand_lost_quality_units,
        rating_end,
        factory_bullwhip_ratio,
    )
}


def compute(t: BrandTotals) -> dict[str, float]:
    """All KPIs of one brand, in contract order."""
    return {name: float(f(t)) for name, f in KPIS.items()}


def platform_kpis(model: ViralChainModel, brand: int = 0) -> dict[str, float]:
    """Per-platform KPIs of one brand when the market names its platforms (else empty):
    ``sold_units_<platform>``, ``demand_units_<platform>`` and ``fill_rate_<platform>``
    (sold ÷ demand, NaN without demand), platforms in the order of ``market.platforms``."""
    if not model.config.market.platforms:
        return {}
    units = model.ledger.platform_units
    skus = model.brands[brand].skus
    demand, sold = units["demand"][skus].sum(axis=0), units["sold"][skus].sum(axis=0)
    out: dict[str, float] = {}
    for i, p in enumerate(model.platform_names):
        out[f"sold_units_{p}"] = float(sold[i])
        out[f"demand_units_{p}"] = float(demand[i])
        out[f"fill_rate_{p}"] = float(sold[i] / demand[i]) if demand[i] else math.nan
    return out
