"""Safety stock: units held above the forecast over the protection interval."""

from __future__ import annotations

from sim.config import SafetyStockPolicy
from sim.policies.forecast import Signals


class FixedCover:
    """A fixed number of days of forecast demand."""

    def __init__(self, params: SafetyStockPolicy):
        self.days = params.days_of_cover

    def units(self, forecast_per_day: float, signals: Signals) -> float:
        """Safety stock in units."""
        return self.days * forecast_per_day
