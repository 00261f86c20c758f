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

:class:`OrderBook` is the one writer of these columns: each arrow is one of its verbs
(``allocate``, ``pick``, ``ship``, ``deliver``, ``send_back``, ``cancel``), which refuses an
order not in a status the arrow starts from.

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


# the order's state: written only by OrderBook's verbs, with its value at acceptance
_STATE_COLUMNS: dict[str, int | bool] = {
    "warehouse": -1,
    "status": BACKLOG,
    "defective": False,
    "shipped_hour": -1,
    "delivered_hour": -1,
}
_STATE_NAMES = frozenset(_STATE_COLUMNS)
_FEW_IDS = 8  # up to this many orders, a verb checks their status on Python numbers
_OWN_NAMES = frozenset(_COLUMNS) - _STATE_NAMES  # the columns ``accept`` must be given


# per column, what ``accept`` writes into the one cell of a single order (``col[i] = v``)
# rather than over a slice of one (``col[i:i + 1] = v``, ≈ 0.5 µs more a column): the scalar
# types, and the kinds of the one-value arrays, whose value is stored the same either way:
# Python ints and integer arrays' values into integer columns (an out-of-range one refused,
# for one order only: the slice of an array, of one order or several, would wrap it; runs
# have none), Python bools and bool arrays' into bool columns, Python floats, float64
# scalars and float arrays' into float columns (rounded alike into float32); any other value
# as before. Only when every array given has one value: else the slice (of the first
# array's length), which refuses arrays of other lengths as before
_CELL_VALUES: dict[str, tuple[frozenset[type], str]] = {
    name: {
        "i": (frozenset({int}), "iu"),
        "b": (frozenset({bool}), "b"),
        "f": (frozenset({float, np.float64}), "f"),
    }[np.dtype(t).kind]
    for name, t in _COLUMNS.items()
}


class OrderStateError(RuntimeError):
    """A verb of :class:`OrderBook` was asked for a transition the status rule forbids."""


class OrderBook:
    """Growable columns of all orders of a run; the one writer of order state.

    Columns are read as attributes (``book.status``, ``book.quantity`` …: read-only views of
    the first ``len(book)`` rows). They change only through the verbs below, each of which
    refuses an order whose status does not allow it (:class:`OrderStateError`), so status
    only moves forward along the diagram in the module docstring.
    """

    def __init__(self, capacity: int = 1024):
        self.n = 0
        self._cap = max(16, capacity)
        self._cols: dict[str, np.ndarray] = {
            k: np.empty(self._cap, dtype=t) for k, t in _COLUMNS.items()
        }
        self._read_only = _read_only(self._cols)

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:
        # called only when ``name`` is not in the instance's dict: the view is made once and
        # kept there (a plain attribute read from then on) until ``accept`` adds rows; a
        # slice of the column's read-only view is read-only (no flags to set)
        d = self.__dict__
        cols = d.get("_read_only")
        if cols is not None and name in cols:
            view = cols[name][: d["n"]]
            d[name] = view
            return view
        raise AttributeError(name)

    def _forget_views(self) -> None:
        """Drop the kept column views (their length is that of the book before a change)."""
        d = self.__dict__
        for name in _COLUMNS:
            d.pop(name, None)

    def __getstate__(self) -> dict[str, object]:
        # the kept views would be pickled as copies, detached from the columns: leave them
        # out, and the read-only views of the columns (made again from the columns)
        return {k: v for k, v in self.__dict__.items() if k not in _COLUMNS and k != "_read_only"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._read_only = _read_only(self._cols)

    # ------------------------------------------------------------------ creation
    def accept(self, **columns: np.ndarray | int | float) -> np.ndarray:
        """Append accepted orders in the backlog (no stock reserved yet).

        Each keyword is one of the order's own columns (arrays of one length, or scalars):
        every column but the state ones (``status``, ``warehouse``, ``defective``,
        ``shipped_hour``, ``delivered_hour``), which start as BACKLOG / -1 / False / -1 / -1.

        Returns:
            the ids (row numbers) of the new orders.
        """
        given = columns.keys()
        if given & _STATE_NAMES:
            raise KeyError(
                f"order state is set by the verbs, not at acceptance: "
                f"{sorted(given & _STATE_NAMES)}"
            )
        missing = _OWN_NAMES - given
        if missing:
            raise KeyError(f"order columns missing: {sorted(missing)}")
        lengths = [len(v) for v in columns.values() if isinstance(v, np.ndarray)]
        k = lengths[0] if lengths else 1
        if k == 0:
            return np.empty(0, dtype=np.int64)
        need = self.n + k
        if need > self._cap:
            new_cap = max(need, self._cap * 2)
            for name, arr in self._cols.items():
                grown = np.empty(new_cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self._cols[name] = grown
            self._cap = new_cap
            self._read_only = _read_only(self._cols)
        sl = slice(self.n, need)
        cols = self._cols
        if k == 1 and lengths.count(1) == len(lengths):  # one order (most calls): by cell
            at = self.n
            for name, (scalars, kinds) in _CELL_VALUES.items():
                value = columns[name] if name in columns else _STATE_COLUMNS[name]
                if type(value) in scalars:
                    cols[name][at] = value
                elif type(value) is np.ndarray and value.ndim == 1 and value.dtype.kind in kinds:
                    cols[name][at] = value.item(0)
                else:
                    cols[name][sl] = value
        else:
            for name in _COLUMNS:
                value = columns[name] if name in columns else _STATE_COLUMNS[name]
                cols[name][sl] = value
        ids = np.arange(self.n, need, dtype=np.int64)
        self.n = need
        self._forget_views()
        return ids

    # ------------------------------------------------------------------ status verbs
    def allocate(self, ids: np.ndarray, warehouse: int) -> None:
        """BACKLOG → ALLOCATED: stock reserved at ``warehouse`` (global index)."""
        self._move(ids, "allocate", (BACKLOG,), ALLOCATED)
        self._cols["warehouse"][ids] = warehouse

    def pick(self, ids: np.ndarray) -> None:
        """ALLOCATED → PICKED: packed, waiting for a last-mile cut-off."""
        self._move(ids, "pick", (ALLOCATED,), PICKED)

    def ship(self, ids: np.ndarray, hour: int) -> None:
        """PICKED → IN_TRANSIT: handed to a last-mile carrier in ``hour``."""
        self._move(ids, "ship", (PICKED,), IN_TRANSIT)
        self._cols["shipped_hour"][ids] = hour

    def deliver(self, ids: np.ndarray, hour: int) -> None:
        """IN_TRANSIT → DELIVERED: in the buyer's hands in ``hour``."""
        self._move(ids, "deliver", (IN_TRANSIT,), DELIVERED)
        self._cols["delivered_hour"][ids] = hour

    def cancel(self, ids: np.ndarray) -> None:
        """BACKLOG / ALLOCATED / PICKED → CANCELLED: cancelled before hand-over."""
        self._move(ids, "cancel", (BACKLOG, ALLOCATED, PICKED), CANCELLED)

    def send_back(self, ids: np.ndarray) -> None:
        """DELIVERED → RETURNED: the buyer sends the order back."""
        self._move(ids, "send back", (DELIVERED,), RETURNED)

    def mark_defective(self, ids: np.ndarray) -> None:
        """A delivered order turned out defective (it will come back)."""
        self._require(ids, "mark defective", (DELIVERED,))
        self._cols["defective"][ids] = True

    def _move(self, ids: np.ndarray, verb: str, allowed: tuple[int, ...], to: int) -> None:
        self._require(ids, verb, allowed)
        self._cols["status"][ids] = to

    def _require(self, ids: np.ndarray, verb: str, allowed: tuple[int, ...]) -> None:
        given = np.asarray(ids)
        if given.dtype.kind not in "iu" and given.size:
            # a mask or floats would be converted to other ids than the verb then indexes
            raise TypeError(f"cannot {verb}: order ids must be integers, got {given.dtype}")
        ids = given.astype(np.int64, copy=False)
        if len(ids) <= _FEW_IDS:  # a few orders (most calls): on Python numbers
            n, status = self.n, self._cols["status"]
            for i in ids.tolist():
                if not 0 <= i < n or status.item(i) not in allowed:
                    break  # refused: the long way below says which and why
            else:
                return
        if len(ids) and (ids.min() < 0 or ids.max() >= self.n):
            raise OrderStateError(f"cannot {verb}: order ids outside 0..{self.n - 1}")
        status = self._cols["status"][ids]
        ok = status == allowed[0]
        for s in allowed[1:]:
            ok |= status == s
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            need = " or ".join(STATUS_NAMES[s] for s in allowed)
            raise OrderStateError(
                f"cannot {verb} order {int(ids[bad])}: it is {STATUS_NAMES[status[bad]]}, "
                f"{verb} needs {need} ({int((~ok).sum())} of {len(ids)} orders refused)"
            )

    # ------------------------------------------------------------------ queries
    def units_by_status(self) -> np.ndarray:
        """Total units per status code (length 7)."""
        return np.bincount(self.status, weights=self.quantity, minlength=7).astype(np.int64)


def _read_only(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A read-only view of each column's whole buffer (the book's columns are its slices)."""
    out = {}
    for name, col in cols.items():
        view = col[:]
        view.flags.writeable = False
        out[name] = view
    return out
