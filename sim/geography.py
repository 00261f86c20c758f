"""Regions on a plane, and distances (km) between places.

A place is a region; facilities stand in a region. Between two regions the distance is the
straight line between their centres; inside one region it is that region's
``local_radius_km`` (the typical last-mile or local trip).
"""

from __future__ import annotations

import numpy as np

from sim.config import MarketConfig


class Geography:
    """Region index, population shares and the distance matrix."""

    def __init__(self, market: MarketConfig):
        self.names: list[str] = list(market.regions)
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        cfg = [market.regions[n] for n in self.names]
        share = np.array([r.population_share for r in cfg], dtype=float)
        self.population_share = share / share.sum()
        xy = np.array([[r.x_km, r.y_km] for r in cfg], dtype=float)
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        local = np.array([r.local_radius_km for r in cfg], dtype=float)
        d[np.diag_indices(len(cfg))] = local
        self.distance_km = d

    def __len__(self) -> int:
        return len(self.names)

    def km(self, a: str | int, b: str | int) -> float:
        """Distance between two regions (by name or index)."""
        ia = self.index[a] if isinstance(a, str) else a
        ib = self.index[b] if isinstance(b, str) else b
        return float(self.distance_km[ia, ib])
