"""Information sharing: what factories plan their materials from.

Only matters when factories keep a material stock (``supply.materials.mode=stock``); each
factory then orders materials order-up-to on its own forecast of need.

* ``off``: the factory sees only the production orders the brand sends it, lumpy and late
  (the classic source of the bullwhip effect upstream).
* ``on``: the brand shares consumer demand; the factory forecasts its need as consumer demand
  times its share of the brand's production orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.clock import HOURS_PER_DAY
from sim.config import InformationPolicy

if TYPE_CHECKING:
    from sim.agents.factory import Factory

WINDOW_DAYS = 7


class NoSharing:
    """Factories forecast from the orders they receive."""

    def __init__(self, params: InformationPolicy):
        self.params = params

    def need_per_day(self, factory: Factory, hour: int) -> float:
        """Forecast material need per day of ``factory``."""
        lo = max(0, hour - HOURS_PER_DAY * WINDOW_DAYS)
        days = max(1.0, (hour - lo) / HOURS_PER_DAY)
        return float(factory.orders_received_hourly[lo:hour].sum()) / days


class Sharing:
    """Factories forecast from shared consumer demand."""

    def __init__(self, params: InformationPolicy):
        self.params = params

    def need_per_day(self, factory: Factory, hour: int) -> float:
        """Forecast material need per day of ``factory``."""
        brand = factory.model.brands[factory.brand]
        lo = max(0, hour - HOURS_PER_DAY * WINDOW_DAYS)
        days = max(1.0, (hour - lo) / HOURS_PER_DAY)
        # whole units from running totals (exact: the sums of the hourly rows, as floats)
        demand = float(brand.sensing.demand_between(factory.skus_made, lo, hour)) / days
        total = sum(float(f.orders_received_before(hour)) for f in brand.factories)
        mine = float(factory.orders_received_before(hour))
        share = mine / total if total > 0 else 1.0 / len(brand.factories)
        return demand * share
