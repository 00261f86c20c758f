"""Deployment: how new stock (initial or produced) is split across the brand's warehouses."""

from __future__ import annotations

import numpy as np

from sim.config import DeploymentPolicy


def split_units(units: int, weights: np.ndarray) -> np.ndarray:
    """Split integer ``units`` by ``weights`` (largest remainder; sums exactly to ``units``)."""
    w = np.asarray(weights, dtype=float)
    if units <= 0 or w.sum() <= 0:
        out = np.zeros(len(w), dtype=np.int64)
        if units > 0:
            out[0] = units
        return out
    raw = units * w / w.sum()
    out = np.floor(raw).astype(np.int64)
    rest = units - int(out.sum())
    if rest:
        order = np.argsort(-(raw - out), kind="stable")
        out[order[:rest]] += 1
    return out


class Central:
    """All new stock goes to the central warehouse."""

    def __init__(self, params: DeploymentPolicy):
        pass

    def weights(self, central: int, demand_share: np.ndarray) -> np.ndarray:
        """Weight of each warehouse."""
        w = np.zeros(len(demand_share))
        w[central] = 1.0
        return w


class DemandShare:
    """Each warehouse gets the share of demand of the regions assigned to it."""

    def __init__(self, params: DeploymentPolicy):
        pass

    def weights(self, central: int, demand_share: np.ndarray) -> np.ndarray:
        """Weight of each warehouse."""
        return np.asarray(demand_share, dtype=float)
