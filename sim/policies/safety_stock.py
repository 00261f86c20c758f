"""Safety stock: units held above the forecast over the protection interval.

* ``fixed``: ``days_of_cover`` days of forecast demand.
* ``dynamic``: follows what is happening now. It holds ``days_of_cover`` days of the
  forecast plus ``signal_weight`` times the gap between the last 24 hours' demand (sales
  velocity) and the forecast. The forecast carries the content signal when the forecast
  policy is ``signal``, and pre-orders enter through the inventory position. On top it adds
  ``z`` robust standard deviations (median absolute deviation) of daily demand over the cover
  for forecast error. It rises with a pulse and falls as the hype fades, and a single spike
  does not inflate the spread.
"""

from __future__ import annotations

import math

import numpy as np

from sim.config import SafetyStockPolicy
from sim.policies.forecast import Signals, median


class FixedCover:
    """A fixed number of days of forecast demand."""

    def __init__(self, params: SafetyStockPolicy):
        self.days = params.days_of_cover

    def units(self, forecast_per_day: float, signals: Signals) -> float:
        """Safety stock in units."""
        return self.days * forecast_per_day


class DynamicCover:
    """Cover on the forecast and the live velocity, plus z robust sd of daily demand."""

    WINDOW_DAYS = 7

    def __init__(self, params: SafetyStockPolicy):
        self.days = params.days_of_cover
        self.z = params.z
        self.weight = params.signal_weight

    def units(self, forecast_per_day: float, signals: Signals) -> float:
        """Safety stock in units."""
        d = signals.daily_demand[-self.WINDOW_DAYS :]
        gap = max(0.0, signals.demand_24h - forecast_per_day)
        level = forecast_per_day + self.weight * gap
        sd = 1.4826 * median(np.abs(d - median(d))) if len(d) > 1 else 0.0
        return self.days * level + self.z * sd * math.sqrt(max(self.days, 1e-9))
