"""Rush orders: when a live signal crosses a threshold, order at a flexible factory now.

``threshold`` watches one signal every hour (averaged over ``window_hours``):

* ``sales_velocity``: demand, in units per hour per ``market.reference_consumers`` consumers;
* ``views``: content views per hour, on the same scale;
* ``projected_stockout_hours``: available stock divided by the demand rate (it triggers below
  the threshold).

A trigger places an expedited order topping the inventory position up to ``cover_hours`` of
demand at the current rate (at most ``cap_units``; none if the position covers it) at the
quick-response factories (or the regular one if there are none). The
order jumps the queue, has expedited materials, pays ``premium_per_unit``, and ships on an
expedited trip as soon as it is produced (``transport_premium_per_unit``). A SKU can rush
``max_orders`` times, at least ``cooldown_hours`` apart. Each trigger is a ``rush_order``
event.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.config import RushPolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand


class NoRush:
    """Never rushes."""

    active = False

    def __init__(self, params: RushPolicy):
        self.params = params

    def watch(self, brand: Brand, sku: int, hour: int, available: int | None = None) -> None:
        """Nothing to watch."""


class ThresholdRush:
    """Rush when the watched signal crosses its threshold."""

    active = True

    def __init__(self, params: RushPolicy):
        self.params = params
        self._count: dict[int, int] = {}
        self._last: dict[int, int] = {}
        # per SKU, (units available, the sensing's hours recorded) of the last hour the
        # signal was read and did not fire: see :meth:`watch`
        self._idle: dict[int, tuple[int, int]] = {}

    def triggered(self, brand: Brand, sku: int, hour: int) -> tuple[bool, str]:
        """Whether the signal is past its threshold now, and a description of it."""
        fired, value = self._signal(brand, sku, hour)
        return fired, self._describe(value)

    def _signal(
        self, brand: Brand, sku: int, hour: int, available: int | None = None
    ) -> tuple[bool, float | None]:
        """Whether the signal is past its threshold now, and its value (None: no demand to
        cover), without the description: this is asked every hour, the text only when the
        rush fires (``available``: the units available across the network, if known)."""
        p = self.params
        scale = brand.model.scale
        rate = brand.sensing.demand_rate(sku, hour, p.window_hours)
        if p.signal == "sales_velocity":
            v = rate / scale
            return v >= p.threshold, v
        if p.signal == "views":
            v = brand.sensing.views_rate(sku, hour, p.window_hours) / scale
            return v >= p.threshold, v
        if rate <= 0:
            return False, None
        if available is None:
            available = brand.network.available_total(sku)
        cover = available / rate
        return cover < p.threshold, cover

    def _describe(self, value: float | None) -> str:
        """The text of a signal's value (:meth:`_signal`)."""
        p = self.params
        if value is None:
            return ""
        if p.signal == "sales_velocity":
            return f"demand {value:.0f}/h per 100k >= {p.threshold:g}"
        if p.signal == "views":
            return f"views {value:.0f}/h per 100k >= {p.threshold:g}"
        return f"cover {value:.1f} h < {p.threshold:g} h"

    def watch(self, brand: Brand, sku: int, hour: int, available: int | None = None) -> None:
        """Check the signal and place a rush order when it fires (``available``: the units
        available across the network now, if the caller has them)."""
        if self._idle.get(sku) == (available, brand.sensing._recorded):
            # the same units available (none below zero) as an hour the signal did not fire,
            # and no hour recorded since: the windows' demand and views can only have left
            # them since (the running totals never fall), so the rates are no higher, the
            # cover no lower, and the signal does not fire (:meth:`idle_holds` checks it)
            return
        p = self.params
        if self._count.get(sku, 0) >= p.max_orders:
            return
        if sku in self._last and hour - self._last[sku] < p.cooldown_hours:
            return
        fired, value = self._signal(brand, sku, hour, available)
        if not fired:
            if available is not None and available >= 0:
                self._idle[sku] = (available, brand.sensing._recorded)
            return
        rate = brand.sensing.demand_rate(sku, hour, p.window_hours)
        # top up to cover_hours of demand at the current rate: stock on hand or on its way
        # already covers part of it (a rush on a full shelf is waste)
        short = p.cover_hours * rate - brand.supply.inventory_position(sku)
        qty = min(p.cap_units * brand.model.scale, short)
        if qty < 1:
            return
        brand.supply.place_rush(sku, math.ceil(qty), hour, self._describe(value))
        self._count[sku] = self._count.get(sku, 0) + 1
        self._last[sku] = hour

    def idle_holds(self, brand: Brand, sku: int, hour: int) -> bool:
        """Debug mode: if :meth:`watch` would skip ``sku`` now, the signal read the long way
        does not fire."""
        available = brand.network.available_total(sku)
        if self._idle.get(sku) != (available, brand.sensing._recorded):
            return True
        return not self._signal(brand, sku, hour, available)[0]
