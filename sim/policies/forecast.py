"""Demand forecasts: daily demand expected for the coming days, per SKU.

A forecaster sees the brand's observations of one SKU (:class:`Signals`) and returns units
per day (never negative).

* ``moving_average``: mean of the last ``window_days`` days of demand.
* ``exp_smoothing``: simple exponential smoothing with weight ``alpha``.
* ``signal``: the leading-indicator forecast. The base is the median day of the window (robust
  to a spike). The content term is the views of the last 24 hours times the demand per view
  observed over the window, times ``signal_weight``: the share of today's content-driven
  demand expected to carry into a coming day (content decays within hours to days). It reacts
  to views as they come, a review or two after they rise. When the content fades, the
  forecast falls with it instead of echoing a spike for a week.
* ``known_mean``: the configured ``mean_units_per_day``, whatever is observed: the mean of
  stationary demand known in advance, as the textbook base-stock policy assumes (with it the
  order-up-to level is a fixed ``S``; used by the validation, never a default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ForecastPolicy


@dataclass
class Signals:
    """What a brand observes about one SKU (daily series are 24-hour windows, oldest first)."""

    daily_demand: np.ndarray
    daily_views: np.ndarray
    presale_units: float = 0.0  # open pre-orders (backlog)

    @property
    def demand_24h(self) -> float:
        """Demand of the last 24 hours."""
        return float(self.daily_demand[-1]) if len(self.daily_demand) else 0.0

    @property
    def views_24h(self) -> float:
        """Views of the last 24 hours."""
        return float(self.daily_views[-1]) if len(self.daily_views) else 0.0

    def conversion(self, window: int, prior: float) -> float:
        """Demand per view over the last ``window`` days (``prior`` without views)."""
        v = float(self.daily_views[-window:].sum())
        return float(self.daily_demand[-window:].sum()) / v if v > 0 else prior


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


class SignalForecast:
    """Median day of the window plus the demand today's views will bring."""

    def __init__(self, params: ForecastPolicy):
        self.window = params.window_days
        self.weight = params.signal_weight
        self.prior = params.prior_conversion

    def daily(self, signals: Signals) -> float:
        """Forecast of demand per day."""
        d = signals.daily_demand
        base = median(d[-self.window :]) if len(d) else 0.0
        content = self.weight * signals.views_24h * signals.conversion(self.window, self.prior)
        return base + content


class KnownMean:
    """The known mean demand per day (``mean_units_per_day``), whatever is observed."""

    def __init__(self, params: ForecastPolicy):
        if params.mean_units_per_day is None:
            raise ValueError("known_mean needs mean_units_per_day")
        self.mean = float(params.mean_units_per_day)

    def daily(self, signals: Signals) -> float:
        """Forecast of demand per day."""
        return self.mean


def median(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a few values (days of demand, their deviations), on
    Python floats: the middle value, or the two middle values added and halved (np.median's
    mean of them: the same two float operations); NaN goes to numpy. About 1 µs instead of
    20-40: a brand's review asks it three times a SKU (forecast, safety stock)."""
    x = sorted(values.tolist())
    n = len(x)
    if any(v != v for v in x):  # NaN (sorts anywhere): let numpy say what it gives
        return float(np.median(values))
    mid = n // 2
    return float(x[mid]) if n % 2 else (x[mid - 1] + x[mid]) / 2
