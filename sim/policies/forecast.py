"""Demand forecasts: daily demand expected for the coming days, per SKU.

A forecaster sees the brand's history of daily demand (and, for signal-aware variants, the
leading indicators) and returns units per day. Forecasts are never negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ForecastPolicy


@dataclass
class Signals:
    """What a brand observes about one SKU, by completed day (oldest first)."""

    daily_demand: np.ndarray
    daily_views: np.ndarray
    hourly_demand_today: float = 0.0
    hourly_views_today: float = 0.0


class MovingAverage:
    """Mean of the last ``window_days`` days of demand (fewer at the start)."""

    def __init__(self, params: ForecastPolicy):
        self.window = params.window_days

    def daily(self, signals: Signals) -> float:
        """Forecast of demand per day."""
        d = signals.daily_demand
        if len(d) == 0:
            return 0.0
        return float(np.mean(d[-self.window :]))


class ExpSmoothing:
    """Simple exponential smoothing with weight ``alpha`` on the newest day."""

    def __init__(self, params: ForecastPolicy):
        self.alpha = params.alpha

    def daily(self, signals: Signals) -> float:
        """Forecast of demand per day."""
        d = signals.daily_demand
        if len(d) == 0:
            return 0.0
        level = float(d[0])
        for x in d[1:]:
            level = self.alpha * float(x) + (1 - self.alpha) * level
        return level
