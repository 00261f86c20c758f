"""Holdings: the supply side's stock arrays, and its hourly flow counters, in one buffer each.

Warehouses (on hand, reserved, returns waiting), carriers (stock, parcels and returns in
transit, by destination), factories (finished goods) and brands (backlog) own their stock
arrays and change them in place, as before. Once the world is built, :func:`gather` moves
every one of them into one contiguous ``int64`` buffer: each array becomes a view of its
part of the buffer, with the same contents, still owned and changed by its agent. The
hour's flow counters (shipped, returned, received, produced this hour) get a buffer of
their own.

What this buys: "did any stock change since I last looked?" is one comparison of the
buffer's bytes (:meth:`Holdings.books_key`) with those seen then, so the hourly books that
depend only on stocks (working capital, the recorded stocks) are recomputed only when
something changed; and clearing the hour's flows is one ``fill``. Most hours of a run change
no stock.
The warehouses' reservations (``reserved``) move with every sale but no hourly book reads
them: they sit at the buffer's end (:data:`UNREAD`), after the part the books compare
(:meth:`Holdings.books_key`), so a sale that moves no other stock leaves those books alone.

The one rule for owners: change these arrays in place (``a[i] += q``, ``np.add.at(a, …)``,
``a.fill(0)``), never rebind them (``self.on_hand = …``), or the buffer stops seeing them.
:meth:`Holdings.intact` checks it (the model's debug mode and the tests call it). A copy of
the model (``copy.deepcopy``, pickle) copies each array apart from the copied buffer: the
model's ``__setstate__`` gives the owners their views again (:meth:`Holdings.rebind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.model import ViralChainModel

# the stock arrays of each kind of owner, by attribute name
WAREHOUSE_STOCKS = ("on_hand", "reserved", "returns_waiting")
CARRIER_STOCKS = (
    "stock_in_transit",
    "stock_in_transit_to",
    "parcels_in_transit",
    "parcels_to_region",
    "returns_in_transit",
)
FACTORY_STOCKS = ("fg",)
BACKLOG_STOCKS = ("backlog_units", "backlog_region")
# the hourly flow counters (the model clears this buffer each hour, in one fill): a new
# hourly counter of a warehouse or factory must be listed here
WAREHOUSE_FLOWS = ("shipped_hour", "returned_hour", "received_hour")
FACTORY_FLOWS = ("produced_hour",)
# stock arrays no hourly book reads (working capital and the recorded stocks read every
# other one): kept at the buffer's end, outside Holdings.books_key; a book that reads one
# must take it off this list
UNREAD = ("reserved",)


class Holdings:
    """Named ``int64`` arrays of several owners, as views into one buffer.

    Attributes:
        buffer: every array's elements (C order), the arrays in the owners' order, field by
            field, but those named in ``unread`` last (each part in the owners' order).
        read: the buffer but for the ``unread`` arrays at its end.
    """

    def __init__(self, owned: list[tuple[object, tuple[str, ...]]], unread: tuple[str, ...] = ()):
        arrays = [(owner, name, getattr(owner, name)) for owner, names in owned for name in names]
        for owner, name, a in arrays:
            if a.dtype != np.int64:
                raise TypeError(f"{type(owner).__name__}.{name}: int64 expected, got {a.dtype}")
        # the arrays named in ``unread`` last, each part in the owners' order
        read = [x for x in arrays if x[1] not in unread]
        arrays = read + [x for x in arrays if x[1] in unread]
        self.buffer = np.zeros(sum(a.size for _, _, a in arrays), dtype=np.int64)
        self._views: list[tuple[object, str, np.ndarray]] = [(o, n, a) for o, n, a in arrays]
        self._n_read = sum(a.size for _, _, a in read)
        self.rebind()
        self._zero = bytes(self.buffer.nbytes)

    def rebind(self) -> None:
        """Copy each owner's array into its part of the buffer and give the owner that part
        as its array (a view), in place of the array it holds. At the build; and in a copy
        of the model (``copy.deepcopy``, pickle), whose arrays are copies, detached from
        the buffer (``ViralChainModel.__setstate__``)."""
        views = []
        pos = 0
        for owner, name, _ in self._views:
            a = getattr(owner, name)
            view = self.buffer[pos : pos + a.size].reshape(a.shape)
            view[...] = a
            setattr(owner, name, view)
            views.append((owner, name, view))
            pos += a.size
        self._views = views
        # the part of the buffer the hourly books read: every array but the ``unread`` ones
        self.read = self.buffer[: self._n_read]

    def key(self) -> bytes:
        """The buffer's bytes: equal keys, equal arrays (every element of every owner): the
        stocks the warehouses settled on (``ViralChainModel._settle_warehouses``) and the
        tests (the hourly books compare :meth:`books_key`)."""
        return self.buffer.tobytes()

    def books_key(self) -> bytes:
        """The bytes of :attr:`read`: equal keys, equal arrays but for the ``unread`` ones
        (what an hourly book that reads none of those may compare)."""
        return self.read.tobytes()

    def any(self) -> bool:
        """Whether any element is nonzero."""
        return self.buffer.tobytes() != self._zero

    def clear(self) -> None:
        """Set every array to zero (in place)."""
        self.buffer.fill(0)

    def intact(self) -> bool:
        """Whether every owner still holds its view of the buffer (no array was rebound,
        none is a copy detached from the buffer)."""
        buffer = self.buffer
        return all(getattr(o, name) is v and v.base is buffer for o, name, v in self._views)

    def positions(self, view: np.ndarray) -> np.ndarray:
        """Where each element of ``view`` (one of the owners' arrays) is in the buffer."""
        if not any(view is v for _, _, v in self._views):
            raise ValueError("not an array of these holdings")
        start = (view.ctypes.data - self.buffer.ctypes.data) // self.buffer.itemsize
        return np.arange(start, start + view.size).reshape(view.shape)

    def sums(self, terms: list[tuple[np.ndarray, np.ndarray]], size: int) -> Sums:
        """A linear book kept from the buffer: ``out[t] = Σ array[e]`` over the terms
        ``(array, targets)``, element ``e`` of ``array`` going to ``out[targets[e]]``
        (``targets`` broadcast to the array's shape)."""
        pos = [self.positions(a).ravel() for a, _ in terms]
        dest = [np.broadcast_to(t, a.shape).ravel() for a, t in terms]
        return Sums(
            self.buffer,
            np.concatenate([np.empty(0, np.int64), *pos]),
            np.concatenate([np.empty(0, np.int64), *dest]),
            size,
        )


class Sums:
    """Integer sums of buffer elements into an array of ``size`` (see :meth:`Holdings.sums`):
    one gather and one ``np.add.reduceat``; integer sums are exact in any order, so this is
    what adding the owners' arrays one by one gives."""

    def __init__(self, buffer: np.ndarray, positions: np.ndarray, targets: np.ndarray, size: int):
        order = np.argsort(targets, kind="stable")
        self._buffer, self._size = buffer, size
        self._positions = positions[order]
        targets = targets[order]
        head = np.ones(len(targets), dtype=bool)
        head[1:] = targets[1:] != targets[:-1]
        self._starts = np.flatnonzero(head)
        self._targets = targets[self._starts]

    def __call__(self) -> np.ndarray:
        """The sums now (``int64``, zero where no term goes)."""
        out = np.zeros(self._size, dtype=np.int64)
        if len(self._positions):
            out[self._targets] = np.add.reduceat(self._buffer[self._positions], self._starts)
        return out

    def add_to(self, out: np.ndarray) -> None:
        """Add the sums now to ``out`` (flat, ``int64``, of ``size``): the cells without a
        term are left alone (they would get 0), the others get one addition each."""
        if len(self._positions):
            out[self._targets] += np.add.reduceat(self._buffer[self._positions], self._starts)


class _Widening:
    """A ufunc whose ``at`` gives integer values the array's integer dtype first: numpy's
    ``ufunc.at`` takes its fast loop only when the dtypes agree (an int32 quantity into an
    int64 counter went through the generic loop, element by element). Widening an integer
    is exact, so the result is that of ``ufunc.at`` with the values as they were."""

    def __init__(self, ufunc: np.ufunc):
        self._ufunc = ufunc
        # +1 / -1: an addition or a subtraction, done in place for one element; 0: neither
        self._sign = 1 if ufunc is np.add else -1 if ufunc is np.subtract else 0

    def at(self, a: np.ndarray, index: Any, values: Any) -> None:
        """``ufunc.at(a, index, values)``, the values widened when they are integers; one
        element of a vector and a Python int (a unit counter, most calls with one SKU) is the
        one addition or subtraction ``ufunc.at`` would make, without its set-up."""
        sign = self._sign
        adt = a.dtype
        if sign and (adt is _INT64 or adt == _INT64):  # (equal: an unpickled array's dtype)
            tv = type(values)
            if tv is int:
                ti = type(index)
                if (ti is int or ti is np.int64) and a.ndim == 1:
                    # one cell: the same integer addition on Python ints (a numpy scalar
                    # index read as the Python int it holds)
                    i = int(index)
                    a[i] = a.item(i) + values if sign > 0 else a.item(i) - values
                    return
            elif tv is np.ndarray and values.ndim == 1 and values.size <= _FEW_AT:
                vt = values.dtype
                if (vt is _INT64 or vt is _INT32 or vt in _SIGNED) and self._few(
                    a, index, values, sign
                ):
                    return
        dt = getattr(values, "dtype", None)
        if dt is not None and dt != adt:
            widen = _WIDEN.get((dt, a.dtype))
            if widen is None:
                widen = _WIDEN[dt, a.dtype] = _widens(dt, a.dtype)
            if widen:
                values = values.astype(a.dtype)
        self._ufunc.at(a, index, values)

    @staticmethod
    def _few(a: np.ndarray, index: Any, values: np.ndarray, sign: int) -> bool:
        """A few values (a 1-D signed integer array of at most :data:`_FEW_AT`) into the
        ``int64`` array ``a``, added (``sign`` 1) or subtracted (-1) one by one on Python
        ints (integer additions, exact in any order); False, having changed nothing, for
        an index form this does not take (``ufunc.at`` then does it, broadcasting as it
        does). This differs from ufunc.at only where runs never go: an index out of bounds
        (the cells before it are already changed when IndexError is raised; ufunc.at
        changes none) and a sum outside int64 (OverflowError here; ufunc.at wraps)."""
        if a.ndim == 1:
            if type(index) is not np.ndarray or index.ndim != 1:
                return False
            it = index.dtype
            if not (it is _INT64 or it is _INT32 or it in _INDEX):
                return False
            n = values.size
            if index.size != n:
                return False
            if n == 1:  # one cell (most calls)
                i = index.item(0)
                v = values.item(0)
                a[i] = a.item(i) + v if sign > 0 else a.item(i) - v
                return True
            cells = index.tolist()
        elif a.ndim == 2 and type(index) is tuple:
            cells = _few_cells(index)
            if cells is None or len(cells) != values.size:
                return False
        else:
            return False
        vals = values.tolist()
        if sign > 0:
            for i, v in zip(cells, vals, strict=True):
                a[i] = a.item(i) + v
        else:
            for i, v in zip(cells, vals, strict=True):
                a[i] = a.item(i) - v
        return True


_FEW_AT = 4  # up to this many values, _Widening.at adds them one by one on Python ints
_INT64 = np.dtype(np.int64)
_INT32 = np.dtype(np.int32)
# the dtypes of arrays the short paths take, tested by identity first (the cheap test) and
# then by equality: an array unpickled (a model's copy) has a dtype equal to numpy's, not
# the same object, and would otherwise go the long way (to the same result, slower)
_SUMMED = frozenset({_INT64, _INT32})
_SIGNED = frozenset(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
_INDEX = _SIGNED | frozenset(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))


_FEW_SUM = 64  # up to this many values, int_sum adds them on Python ints


def int_sum(q: np.ndarray) -> int:
    """``int(q.sum())`` of a 1-D ``int64`` or ``int32`` array (quantities, units): up to
    :data:`_FEW_SUM` values added on Python ints (integer additions, exact in any order,
    without numpy's reduction set-up); any other array as ``int(q.sum())``. The two differ
    only beyond int64, which no count of units reaches."""
    dt = q.dtype
    if q.ndim == 1 and q.size <= _FEW_SUM and (dt is _INT64 or dt is _INT32 or dt in _SUMMED):
        return sum(q.tolist())
    return int(q.sum())


def state_without(obj: object, *names: str) -> dict:
    """``obj``'s state for a copy (``copy.deepcopy``, pickle: its ``__getstate__``): its
    attributes, those ``names`` (memoryviews of its arrays: none can be copied) set to None,
    which the copy makes again from its own arrays at their next use."""
    state = obj.__dict__.copy()
    for name in names:
        state[name] = None
    return state


def _few_cells(index: tuple) -> list | None:
    """The cells of a matrix a pair index names, as pairs of Python ints: two 1-D integer
    arrays of one length, or one and a Python int (repeated); None for any other form
    (``ufunc.at`` then does it, broadcasting as it does)."""
    if len(index) != 2:
        return None
    rows, cols = index
    if type(rows) is np.ndarray and rows.dtype in _INDEX and rows.ndim == 1:
        rows = rows.tolist()
        if type(cols) is int:
            return [(r, cols) for r in rows]
        if type(cols) is np.ndarray and cols.dtype in _INDEX and cols.shape == (len(rows),):
            return list(zip(rows, cols.tolist(), strict=True))
        return None
    if type(rows) is int and type(cols) is np.ndarray and cols.dtype in _INDEX and cols.ndim == 1:
        return [(rows, c) for c in cols.tolist()]
    return None


def _widens(values: np.dtype, target: np.dtype) -> bool:
    """Whether :meth:`_Widening.at` gives values of dtype ``values`` the ``target`` dtype
    first: integer values into an integer array that holds every one of them."""
    return values.kind in "biu" and target.kind == "i" and bool(np.can_cast(values, target))


# _widens by (values' dtype, array's dtype), as asked: a few pairs in a run
_WIDEN: dict[tuple[np.dtype, np.dtype], bool] = {}


@dataclass(frozen=True)
class _IntegerUfuncs:
    add: _Widening
    subtract: _Widening


# ``ints.add.at(stock, index, quantity)``: np.add.at for the integer books, faster
ints = _IntegerUfuncs(_Widening(np.add), _Widening(np.subtract))


def gather(m: ViralChainModel) -> tuple[Holdings, Holdings]:
    """The stocks and the hourly flows of ``m``'s supply side, each moved into one buffer."""
    stocks: list[tuple[object, tuple[str, ...]]] = [(w, WAREHOUSE_STOCKS) for w in m.warehouses]
    stocks += [(c, CARRIER_STOCKS) for c in m.carriers]
    stocks += [(f, FACTORY_STOCKS) for f in m.factories]
    stocks += [(b.selling, BACKLOG_STOCKS) for b in m.brands]
    flows: list[tuple[object, tuple[str, ...]]] = [(w, WAREHOUSE_FLOWS) for w in m.warehouses]
    flows += [(f, FACTORY_FLOWS) for f in m.factories]
    return Holdings(stocks, UNREAD), Holdings(flows)
