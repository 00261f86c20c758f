"""Regions on a plane or on the globe, and distances (km) between places.

A place is a region; facilities stand in a region. Between two regions the distance is the
straight line between their centres (``x_km``/``y_km``), or the great-circle distance on a
sphere of the Earth's mean radius when regions are placed by latitude and longitude; inside
one region it is that region's ``local_radius_km`` (the typical last-mile or local trip).
"""

from __future__ import annotations

import numpy as np

from sim.config import MarketConfig

EARTH_RADIUS_KM = 6371.0088  # the mean Earth radius (IUGG)


def great_circle_km(lat_lon_deg: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distances (km) between points given as (latitude, longitude)
    rows in degrees: the haversine formula on a sphere of :data:`EARTH_RADIUS_KM`."""
    lat, lon = np.radians(lat_lon_deg[:, 0]), np.radians(lat_lon_deg[:, 1])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


class Geography:
    """Region index, population shares and the distance matrix."""

    def __init__(self, market: MarketConfig):
        self.names: list[str] = list(market.regions)
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.names)}
        cfg = [market.regions[n] for n in self.names]
        share = np.array([r.population_share for r in cfg], dtype=float)
        self.population_share = share / share.sum()
        if cfg[0].on_globe:
            lat_lon = np.array([[r.latitude_deg, r.longitude_deg] for r in cfg], dtype=float)
            d = great_circle_km(lat_lon)
        else:
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
