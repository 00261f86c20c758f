"""Routing: the ordered list of warehouses that may serve each consumer region.

A router returns, for each region, warehouse indices (local to the brand) in order of
preference; the consumer's order goes to the first one with stock and an acceptable promise.
"""

from __future__ import annotations

import numpy as np

from sim.config import RoutingPolicy


class Assigned:
    """Each region is served by its one assigned warehouse (``serves``; central takes the rest).

    The rigid practice: stock in another region's warehouse is not offered.
    """

    def __init__(self, params: RoutingPolicy):
        pass

    def candidates(self, assigned: np.ndarray, distance_km: np.ndarray) -> np.ndarray:
        """``(n_regions, n_candidates)`` warehouse indices, -1 padded.

        Args:
            assigned: the assigned warehouse of each region.
            distance_km: ``(n_warehouses, n_regions)`` distances.
        """
        return assigned.reshape(-1, 1).astype(np.int32)


class NearestWithStock:
    """One order pool: every warehouse may serve, nearest first (ties by assignment)."""

    def __init__(self, params: RoutingPolicy):
        pass

    def candidates(self, assigned: np.ndarray, distance_km: np.ndarray) -> np.ndarray:
        """All warehouses, sorted by distance from each region (stable)."""
        n_wh, n_reg = distance_km.shape
        out = np.empty((n_reg, n_wh), dtype=np.int32)
        for r in range(n_reg):
            # the assigned warehouse wins ties
            key = distance_km[:, r] - 1e-6 * (np.arange(n_wh) == assigned[r])
            out[r] = np.argsort(key, kind="stable")
        return out
