"""Consumer orders as columns: the order book of the whole market.

One row per accepted order (quantity ≥ 1 unit). Status moves forward only::

    BACKLOG ──▶ ALLOCATED ──▶ PICKED ──▶ IN_TRANSIT ──▶ DELIVERED ──▶ RETURNED
       │             │            │
       └─────────────┴────────────┴──▶ CANCELLED

* BACKLOG: sold (accepted, e.g. a pre-order) but no stock reserved yet.
* ALLOCATED: stock reserved at ``warehouse`` (still on its shelf), waiting to be picked.
* PICKED: packed, waiting for the last-mile carrier's cut-off (still in the warehouse).
* IN_TRANSIT: on a last-mile carrier.
* DELIVERED / RETURNED: in the buyer's hands / sent back (RETURNED orders count as delivered).

Invariant: sold units = delivered + cancelled + open (BACKLOG, ALLOCATED, PICKED, IN_TRANSIT).
"""

from __future__ import annotations

import numpy as np

BACKLOG, ALLOCATED, PICKED, IN_TRANSIT, DELIVERED, CANCELLED, RETURNED = range(7)
OPEN_STATUSES = (BACKLOG, ALLOCATED, PICKED, IN_TRANSIT)
STATUS_NAMES = (
    "backlog",
    "allocated",
    "picked",
    "in_transit",
    "delivered",
    "cancelled",
    "returned",
)

# channel codes: how the buyer came to the product
CHANNELS = ("short_video", "livestream", "word_of_mouth", "organic", "substitution", "revisit")
CH_VIDEO, CH_LIVE, CH_WOM, CH_ORGANIC, CH_SUBST, CH_REVISIT = range(len(CHANNELS))

_COLUMNS: dict[str, type] = {
    "consumer": np.int64,
    "sku": np.int32,
    "brand": np.int16,
    "region": np.int16,
    "quantity": np.int32,
    "price": np.float64,
    "warehouse": np.int32,  # global warehouse index, -1 while in backlog
    "status": np.int8,
    "channel": np.int8,
    "kol": np.int32,  # -1: no KOL
    "platform": np.int16,
    "impulse": np.bool_,
    "defective": np.bool_,  # a defective unit reached the buyer (it will come back)
    "placed_hour": np.int32,
    "promise_hours": np.float32,
    "shipped_hour": np.int32,
    "delivered_hour": np.int32,
}


class OrderBook:
    """Growable columns of all orders of a run."""

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._cap = max(16, capacity)
        self.cols: dict[str, np.ndarray] = {
            k: np.empty(self._cap, dtype=t) for k, t in _COLUMNS.items()
        }

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols")
        if cols is not None and name in cols:
            return cols[name][: self.__dict__["n"]]
        raise AttributeError(name)

    def add(self, **columns: np.ndarray | int | float) -> np.ndarray:
        """Append orders; each keyword is a column (arrays of one length, or scalars).

        Returns:
            the ids (row numbers) of the new orders.
        """
        lengths = [len(v) for v in columns.values() if isinstance(v, np.ndarray)]
        k = lengths[0] if lengths else 1
        if k == 0:
            return np.empty(0, dtype=np.int64)
        need = self.n + k
        if need > self._cap:
            new_cap = max(need, self._cap * 2)
            for name, arr in self.cols.items():
                grown = np.empty(new_cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.cols[name] = grown
            self._cap = new_cap
        missing = set(_COLUMNS) - set(columns)
        if missing:
            raise KeyError(f"order columns missing: {sorted(missing)}")
        sl = slice(self.n, need)
        for name, value in columns.items():
            self.cols[name][sl] = value
        ids = np.arange(self.n, need, dtype=np.int64)
        self.n = need
        return ids

    def set(self, name: str, ids: np.ndarray, value: np.ndarray | int | float) -> None:
        """Write one column for the given order ids."""
        self.cols[name][ids] = value

    def units_by_status(self) -> np.ndarray:
        """Total units per status code (length 7)."""
        return np.bincount(self.status, weights=self.quantity, minlength=7).astype(np.int64)
