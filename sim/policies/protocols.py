"""What a brand's parts ask of the policies they hold (structural types, no base classes).

Each registry family's classes satisfy one protocol; the brand's parts are typed against
these, so a new policy class needs only the method its family calls.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from sim.policies.forecast import Signals
from sim.policies.routing import RoutingContext
from sim.policies.sourcing import SourcingContext


class Forecast(Protocol):
    """``policy.forecast``: expected demand per day from the brand's signals."""

    def daily(self, signals: Signals) -> float: ...


class SafetyStock(Protocol):
    """``policy.safety_stock``: units held against forecast error."""

    def units(self, forecast_per_day: float, signals: Signals) -> float: ...


class Sourcing(Protocol):
    """``policy.sourcing``: which factories get how much at a review."""

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]: ...


class Deployment(Protocol):
    """``policy.deployment``: how new stock is split across warehouses."""

    def weights(self, central: int, demand_share: np.ndarray) -> np.ndarray: ...


class Routing(Protocol):
    """``policy.routing``: per region, the warehouses to try, in order."""

    def candidates(self, ctx: RoutingContext) -> np.ndarray: ...


class Allocation(Protocol):
    """``policy.allocation``: who gets scarce stock among competing wishes."""

    def select(
        self, quantity: np.ndarray, regions: np.ndarray, priority: np.ndarray, available: int
    ) -> np.ndarray: ...
