"""The explicit registry of policy classes, by family and name."""

from __future__ import annotations

from typing import Any

from sim.policies.deployment import Central, DemandShare
from sim.policies.forecast import ExpSmoothing, MovingAverage
from sim.policies.routing import Assigned, NearestWithStock
from sim.policies.safety_stock import FixedCover
from sim.policies.sourcing import BaseSurge, DualIndex, RegularOnly

FORECASTS: dict[str, type] = {"moving_average": MovingAverage, "exp_smoothing": ExpSmoothing}
SAFETY_STOCKS: dict[str, type] = {"fixed": FixedCover}
ROUTINGS: dict[str, type] = {"assigned": Assigned, "nearest_with_stock": NearestWithStock}
DEPLOYMENTS: dict[str, type] = {"central": Central, "demand_share": DemandShare}
SOURCINGS: dict[str, type] = {
    "regular_only": RegularOnly,
    "dual_index": DualIndex,
    "base_surge": BaseSurge,
}

FAMILIES: dict[str, dict[str, type]] = {
    "forecast": FORECASTS,
    "safety_stock": SAFETY_STOCKS,
    "routing": ROUTINGS,
    "deployment": DEPLOYMENTS,
    "sourcing": SOURCINGS,
}


def names(family: str) -> list[str]:
    """The names registered in a family."""
    return sorted(FAMILIES[family])


def build(family: str, params: Any) -> Any:
    """Instantiate the policy named ``params.name`` of ``family``."""
    return FAMILIES[family][params.name](params)
