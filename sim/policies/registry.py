"""The explicit registry of policy classes, by family and name.

Every family maps names to small classes; a config names one (``policy.<family>.name``) and
:func:`build` instantiates it with the family's parameter block. Nothing is imported by a
user-supplied path.
"""

from __future__ import annotations

from typing import Any

from sim.config import POLICY_FAMILIES
from sim.policies.allocation import FirstComeFirstServed, Priority, Proportional
from sim.policies.assortment import FullAssortment, TestAndLearn
from sim.policies.deployment import Central, DemandShare
from sim.policies.forecast import ExpSmoothing, KnownMean, MovingAverage, SignalForecast
from sim.policies.information import NoSharing, Sharing
from sim.policies.opportunity import Graded, NoGrading
from sim.policies.prepositioning import BeforeLivestream, NoPrepositioning
from sim.policies.presale import NoPresale, Presale
from sim.policies.routing import Assigned, Cheapest, NearestWithStock
from sim.policies.rush import NoRush, ThresholdRush
from sim.policies.safety_stock import DynamicCover, FixedCover
from sim.policies.sourcing import BaseSurge, DualIndex, MaxFlow, RegularOnly

FORECASTS: dict[str, type] = {
    "moving_average": MovingAverage,
    "exp_smoothing": ExpSmoothing,
    "signal": SignalForecast,
    "known_mean": KnownMean,
}
SAFETY_STOCKS: dict[str, type] = {"fixed": FixedCover, "dynamic": DynamicCover}
ROUTINGS: dict[str, type] = {
    "assigned": Assigned,
    "nearest_with_stock": NearestWithStock,
    "cheapest": Cheapest,
}
DEPLOYMENTS: dict[str, type] = {"central": Central, "demand_share": DemandShare}
SOURCINGS: dict[str, type] = {
    "regular_only": RegularOnly,
    "dual_index": DualIndex,
    "base_surge": BaseSurge,
    "max_flow": MaxFlow,
}
ALLOCATIONS: dict[str, type] = {
    "fcfs": FirstComeFirstServed,
    "proportional": Proportional,
    "priority": Priority,
}
RUSHES: dict[str, type] = {"off": NoRush, "threshold": ThresholdRush}
PRESALES: dict[str, type] = {"off": NoPresale, "on": Presale}
OPPORTUNITIES: dict[str, type] = {"off": NoGrading, "graded": Graded}
PREPOSITIONINGS: dict[str, type] = {"off": NoPrepositioning, "before_livestream": BeforeLivestream}
INFORMATIONS: dict[str, type] = {"off": NoSharing, "on": Sharing}
ASSORTMENTS: dict[str, type] = {"off": FullAssortment, "test_and_learn": TestAndLearn}

FAMILIES: dict[str, dict[str, type]] = {
    "forecast": FORECASTS,
    "safety_stock": SAFETY_STOCKS,
    "routing": ROUTINGS,
    "deployment": DEPLOYMENTS,
    "sourcing": SOURCINGS,
    "allocation": ALLOCATIONS,
    "rush": RUSHES,
    "presale": PRESALES,
    "opportunity": OPPORTUNITIES,
    "prepositioning": PREPOSITIONINGS,
    "information": INFORMATIONS,
    "assortment": ASSORTMENTS,
}


if {f: tuple(FAMILIES[f]) for f in FAMILIES} != POLICY_FAMILIES:  # one list, checked at import
    raise ImportError(
        "sim.policies.registry and sim.config.POLICY_FAMILIES list different families or names"
    )


def names(family: str) -> list[str]:
    """The names registered in a family."""
    return sorted(FAMILIES[family])


def build(family: str, params: Any) -> Any:
    """Instantiate the policy named ``params.name`` of ``family``."""
    return FAMILIES[family][params.name](params)


def build_all(policy: Any) -> dict[str, Any]:
    """One policy object per family, from a brand's ``policy`` block (family order)."""
    return {family: build(family, getattr(policy, family)) for family in FAMILIES}
