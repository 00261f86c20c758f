"""Decision rules chosen by name from an explicit registry (never by import path).

Families: ``forecast``, ``safety_stock``, ``routing``, ``deployment``, ``sourcing``.
Each maps a name to a small class; see :mod:`sim.policies.registry`.
"""

from sim.policies import registry
from sim.policies.registry import (
    DEPLOYMENTS,
    FORECASTS,
    ROUTINGS,
    SAFETY_STOCKS,
    SOURCINGS,
)

__all__ = ["DEPLOYMENTS", "FORECASTS", "ROUTINGS", "SAFETY_STOCKS", "SOURCINGS", "registry"]
