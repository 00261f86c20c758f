"""Routing: the ordered list of warehouses that may serve each consumer region.

A router returns, for each region, warehouse indices (local to the brand) in order of
preference; the order goes to the first one with stock and an acceptable promise.

* ``assigned``: each region only to its assigned warehouse (``serves``; central takes the
  rest), the rigid practice.
* ``nearest_with_stock``: one order pool, every warehouse may serve, nearest first.
* ``cheapest``: one order pool, cheapest first (last-mile cost for the distance plus the
  warehouse's handling cost per unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import RoutingPolicy


@dataclass
class RoutingContext:
    """What a router knows about the brand's network."""

    assigned: np.ndarray  # assigned warehouse of each region
    distance_km: np.ndarray  # (warehouses, regions)
    cost_per_unit: np.ndarray  # (warehouses, regions): handling + cheapest last mile


def _sorted(key: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    n_wh, n_reg = key.shape
    out = np.empty((n_reg, n_wh), dtype=np.int32)
    for r in range(n_reg):
        k = key[:, r] - 1e-9 * (np.arange(n_wh) == assigned[r])  # assignment breaks ties
        out[r] = np.argsort(k, kind="stable")
    return out


class Assigned:
    """Each region is served by its one assigned warehouse."""

    def __init__(self, params: RoutingPolicy):
        pass

    def candidates(self, ctx: RoutingContext) -> np.ndarray:
        """``(n_regions, n_candidates)`` warehouse indices."""
        return ctx.assigned.reshape(-1, 1).astype(np.int32)


class NearestWithStock:
    """Every warehouse may serve, nearest first."""

    def __init__(self, params: RoutingPolicy):
        pass

    def candidates(self, ctx: RoutingContext) -> np.ndarray:
        """All warehouses, sorted by distance from each region."""
        return _sorted(ctx.distance_km, ctx.assigned)


class Cheapest:
    """Every warehouse may serve, cheapest first."""

    def __init__(self, params: RoutingPolicy):
        pass

    def candidates(self, ctx: RoutingContext) -> np.ndarray:
        """All warehouses, sorted by cost per unit to each region."""
        return _sorted(ctx.cost_per_unit, ctx.assigned)
