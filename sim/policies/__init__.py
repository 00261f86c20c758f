"""Decision rules chosen by name from an explicit registry (never by import path).

Families: forecast, safety_stock, sourcing, routing, allocation, deployment, rush, presale,
opportunity, prepositioning, information. Each maps a name to a small class; see
:mod:`sim.policies.registry`.
"""

from sim.policies import registry
from sim.policies.registry import FAMILIES, build, names

__all__ = ["FAMILIES", "build", "names", "registry"]
