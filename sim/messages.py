"""Messages exchanged between agents through the model: small frozen records.

Agents never edit each other's fields. Consumers offer a brand their :class:`Wishes`; a brand
sends a :class:`ProductionJob` to a factory; a factory or a warehouse hands a
:class:`Consignment` to a carrier, which hands it to the receiving warehouse or the buyers
when it arrives. Consumer orders are too many for one object each: they live as columns in
:class:`sim.orders.OrderBook`, and consignments of parcels carry arrays of order ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class ProductionJob:
    """A production order from a brand to a factory.

    Attributes:
        job_id: unique within the run.
        brand: ordering brand.
        sku: product to make (name).
        sku_index: product to make (global index).
        quantity: units ordered (already rounded to MOQ and batch size).
        destinations: ``(warehouse, units)`` pairs, summing to ``quantity``.
        placed_hour: hour the order was placed.
        quick_response: placed through the small-batch quick-response channel.
        rush: an expedited order (pays a premium, skips the queue).
    """

    job_id: int
    brand: str
    sku: str
    sku_index: int
    quantity: int
    destinations: tuple[tuple[str, int], ...]
    placed_hour: int
    quick_response: bool = False
    rush: bool = False


@dataclass(frozen=True, slots=True)
class Consignment:
    """Goods moving on a carrier.

    ``kind`` is ``stock`` (factory→warehouse or warehouse→warehouse, ``units`` of ``sku``),
    ``parcels`` (warehouse→buyers, the order ids travel along) or ``returns``
    (buyers→warehouse, order ids and units).
    """

    kind: str
    brand: str
    origin: str
    destination: str
    sku_index: int
    units: int
    dispatched_hour: int
    arrival_hour: int
    distance_km: float
    order_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    job_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Wishes:
    """Consumers' wishes for one SKU within an hour, one row each, in arrival order."""

    consumers: np.ndarray
    regions: np.ndarray
    quantity: np.ndarray
    patience: np.ndarray  # longest acceptable delivery promise (hours)
    channels: np.ndarray
    kols: np.ndarray  # -1: no KOL
    platforms: np.ndarray

    def __len__(self) -> int:
        return len(self.consumers)

    def take(self, rows: np.ndarray) -> Wishes:
        """The wishes of these rows."""
        return Wishes(*(getattr(self, f)[rows] for f in _WISH_FIELDS))


_WISH_FIELDS = ("consumers", "regions", "quantity", "patience", "channels", "kols", "platforms")
