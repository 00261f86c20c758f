"""Presale: accept pre-orders with a promised delivery when stock is short.

* ``off``: a sold-out product turns wishes away.
* ``on`` with ``open_when=stockout``: presale opens (``presale_open`` event) when the stock
  available covers less than ``trigger_cover_hours`` of the last day's demand rate, and closes
  (``presale_close``) once stock is back, the backlog is served and cover is twice the
  trigger.
* ``on`` with ``open_when=always``: pre-orders from ``start_hour``, also before the product's
  launch: "sell, then make" (a presale launch).

A pre-order promises delivery within ``promise_hours``. Buyers accept it when that is within
their patience times ``market.consumer.presale_patience_multiplier``. At most
``max_backlog_units`` (reference scale; 0 means no limit) wait at once. Pre-orders are served
first in, first out as stock arrives. Late ones may be cancelled or returned, as any late
order.

With ``make_to_order`` the brand makes to its pre-orders while presale is open ("sell, then
make"): each review orders only the pre-orders not yet covered by stock or production, lot for
lot, and no rush fires (:meth:`sim.agents.brand_supply.Supply.makes_to_order`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.clock import HOURS_PER_DAY
from sim.config import PresalePolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand


class NoPresale:
    """Never takes pre-orders (unless a hot-spot response forces presale open)."""

    active = False  # update does nothing: the brand need not call it

    def __init__(self, params: PresalePolicy):
        self.params = params

    def sellable_from(self, launch_hour: int) -> int:
        """First hour wishes for the product count."""
        return launch_hour

    def update(self, brand: Brand, sku: int, hour: int, available: int | None = None) -> None:
        """Nothing to update."""


class Presale:
    """Opens presale by the rule of ``open_when``."""

    active = True

    def __init__(self, params: PresalePolicy):
        self.params = params
        # per SKU, (units available, the sensing's hours recorded) of the last hour presale
        # stayed closed after the rule was read (open_when=stockout): see :meth:`update`
        self._idle: dict[int, tuple[int, int]] = {}

    def sellable_from(self, launch_hour: int) -> int:
        """First hour wishes for the product count (earlier for a presale launch)."""
        if self.params.open_when == "always":
            return min(launch_hour, self.params.start_hour)
        return launch_hour

    def update(self, brand: Brand, sku: int, hour: int, available: int | None = None) -> None:
        """Open or close presale for ``sku`` (``available``: the units available across the
        brand's network now, if the caller has them)."""
        p = self.params
        is_open = brand.selling.presale_open.item(sku)  # a plain bool
        if p.open_when == "always":
            if hour >= p.start_hour and not is_open:
                brand.selling.set_presale(sku, True, hour, "presale launch")
            return
        sensing = brand.sensing
        if not is_open and self._idle.get(sku) == (available, sensing._recorded):
            # closed, the same units available as an hour it stayed closed, and no hour
            # recorded since: the day's demand can only have left the window since (the
            # running totals never fall), so the rate is no higher and presale stays closed
            # (:meth:`idle_holds` checks it in debug mode)
            return
        rate = sensing.demand_rate(sku, hour, HOURS_PER_DAY)
        avail = brand.network.available_total(sku) if available is None else available
        if not is_open and self._opens(rate, avail):
            brand.selling.set_presale(sku, True, hour, f"cover {avail / rate:.1f} h")
        elif (
            is_open
            and avail > 0
            and brand.selling.backlog_units.item(sku) == 0
            and avail >= 2 * p.trigger_cover_hours * rate
        ):
            brand.selling.set_presale(sku, False, hour, "stock back")
        elif not is_open and available is not None:
            self._idle[sku] = (available, sensing._recorded)

    def idle_holds(self, brand: Brand, sku: int, hour: int) -> bool:
        """Debug mode: if :meth:`update` would skip ``sku`` now, the rule read the long way
        keeps presale closed."""
        available = brand.network.available_total(sku)
        if self.params.open_when == "always" or brand.selling.presale_open.item(sku):
            return True
        if self._idle.get(sku) != (available, brand.sensing._recorded):
            return True
        return not self._opens(brand.sensing.demand_rate(sku, hour, HOURS_PER_DAY), available)

    def _opens(self, rate: float, available: int) -> bool:
        """The rule that opens a closed presale: demand, and less cover than the trigger's."""
        return rate > 0 and available < self.params.trigger_cover_hours * rate
