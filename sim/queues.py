"""A FIFO queue of order ids with vectorised pops by capacity."""

from __future__ import annotations

import numpy as np

_FEW = 16  # up to this many ids queued, pop_by_capacity works on Python numbers


class IdQueue:
    """First-in first-out order ids; cancelled entries are skipped lazily when popped."""

    def __init__(self) -> None:
        self._buf = np.empty(0, dtype=np.int64)
        self._head = 0

    def __len__(self) -> int:
        return len(self._buf) - self._head

    def push(self, ids: np.ndarray) -> None:
        """Append ids at the back."""
        if len(ids) == 0:
            return
        self._buf = np.concatenate([self._buf[self._head :], np.asarray(ids, dtype=np.int64)])
        self._head = 0

    def items(self) -> np.ndarray:
        """All queued ids, front first (a view: do not modify)."""
        return self._buf[self._head :]

    def pop_by_capacity(
        self, quantity: np.ndarray, status: np.ndarray, wanted: int, capacity: float
    ) -> np.ndarray:
        """Pop ids from the front while their quantities fit into ``capacity``.

        Args:
            quantity: quantity of every order (indexed by id).
            status: status of every order (indexed by id); orders whose status is no longer
                ``wanted`` (e.g. cancelled) are dropped without using capacity.
            wanted: the status an order must have to be served.
            capacity: units available.

        Returns:
            the popped, alive ids in queue order.
        """
        if len(self) == 0:
            return np.empty(0, dtype=np.int64)
        if len(self._buf) - self._head <= _FEW and capacity >= 0:  # a few: Python numbers
            return self._pop_few(quantity, status, wanted, capacity)
        window = self._buf[self._head : self._head + int(capacity) * 2 + 64]
        live = status[window] == wanted
        q = np.where(live, quantity[window], 0)
        cum = np.cumsum(q)
        k = int(np.searchsorted(cum, capacity, side="right"))
        taken = window[:k]
        self._head += k
        if self._head > 4096 and self._head > len(self._buf) // 2:
            self._buf = self._buf[self._head :].copy()
            self._head = 0
        return taken[live[:k]]

    def _pop_few(
        self, quantity: np.ndarray, status: np.ndarray, wanted: int, capacity: float
    ) -> np.ndarray:
        """:meth:`pop_by_capacity` of a queue of a few ids (all inside its window), on Python
        numbers: the same running sum of the live quantities (0 for the others), the ids up
        to the last whose sum fits (quantities are never negative: the sums never fall, so
        the first that does not fit ends the search, as ``np.searchsorted`` finds it)."""
        ids = self._buf[self._head :].tolist()
        taken: list[int] = []
        total = 0
        k = 0
        for i in ids:
            live = status.item(i) == wanted
            if live:
                total += quantity.item(i)
            if total > capacity:
                break
            k += 1
            if live:
                taken.append(i)
        self._head += k
        if self._head > 4096 and self._head > len(self._buf) // 2:  # as pop_by_capacity
            self._buf = self._buf[self._head :].copy()
            self._head = 0
        return np.array(taken, dtype=np.int64)

    def drop_unless(self, status: np.ndarray, wanted: int) -> None:
        """Remove ids whose status is no longer ``wanted``."""
        items = self.items()
        if len(items):
            self._buf = items[status[items] == wanted].copy()
            self._head = 0
