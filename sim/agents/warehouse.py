"""Warehouse agents: a central DC or a forward warehouse of one brand.

State per SKU (global index), with its invariants:

* ``on_hand``: units physically in the warehouse (≥ 0), including those reserved;
* ``reserved``: units promised to accepted orders not yet handed to a carrier
  (0 ≤ reserved ≤ on_hand); ``available = on_hand - reserved``;
* ``returns_waiting``: returned units received, waiting for inspection.

Orders flow through a pick queue (pick/pack capacity per hour) into a packed queue, from
which last-mile carriers take them at their cut-off times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import WarehouseConfig
from sim.holdings import int_sum, ints, state_without
from sim.orders import ALLOCATED, PICKED
from sim.queues import IdQueue
from sim.rng import stream

if TYPE_CHECKING:
    from sim.model import ViralChainModel


class Warehouse(mesa.Agent):
    """Stock, picking, hand-over to carriers, and returns inspection."""

    def __init__(
        self, model: ViralChainModel, name: str, brand: int, gindex: int, cfg: WarehouseConfig
    ):
        super().__init__(model)
        self.name, self.brand, self.gindex, self.cfg = name, brand, gindex, cfg
        self.region = model.geo.index[cfg.region]
        n = model.n_sku
        self.on_hand = np.zeros(n, dtype=np.int64)
        self.reserved = np.zeros(n, dtype=np.int64)
        self.returns_waiting = np.zeros(n, dtype=np.int64)
        self.pick_queue = IdQueue()
        self.packed = IdQueue()
        self.pick_capacity_per_hour = cfg.pick_capacity_units_per_hour * model.scale
        self.returns_capacity_per_hour = (
            cfg.returns_capacity_units_per_day * model.scale / HOURS_PER_DAY
        )
        self._pick_credit = 0.0
        self._returns_credit = 0.0
        self.shipped_hour = np.zeros(n, dtype=np.int64)
        self.returned_hour = np.zeros(n, dtype=np.int64)
        self.received_hour = np.zeros(n, dtype=np.int64)
        self.packed_units = 0
        self.queued_units = 0
        # the holding cost of an hour, and the stock bytes it was worked out from
        self._holding_key = b""
        self._holding_per_hour = 0.0
        self._none_waiting = bytes(self.returns_waiting.nbytes)  # no returns waiting: zeros
        self._holding: np.ndarray | None = None  # the ledger's holding costs (work_hour)
        # a memoryview of it (a cell read and written on Python floats, ≈ 0.8 k instructions
        # less than ``item`` and numpy's assignment: the same double added); no copy of the
        # warehouse keeps it (__getstate__: made again from its copy of the array)
        self._holding_cells: memoryview | None = None

    def __getstate__(self) -> dict:
        """A copy's state (``copy.deepcopy``, pickle): no memoryview (none can be copied;
        work_hour makes it again from the copy's holding costs)."""
        return state_without(self, "_holding_cells")

    # ------------------------------------------------------------------ queries
    def keeps_idle_hour(self) -> bool:
        """Whether :meth:`work_hour` would only set the two credits to zero and add the same
        holding cost now: no order to pick, no returns waiting, the holding cost worked out
        from the stocks held now, and its cells of the ledger's array kept when that cost is
        not zero (``ViralChainModel._warehouses_idle``, which runs the idle hour in line)."""
        waiting = self.returns_waiting.tobytes()
        return (
            not len(self.pick_queue)
            and waiting == self._none_waiting
            and self._holding_key == self.on_hand.tobytes() + waiting
            and not (self._holding_per_hour and self._holding_cells is None)
        )

    def available(self, sku: int) -> int:
        """Units on the shelf not promised to anyone."""
        return self.on_hand.item(sku) - self.reserved.item(sku)  # plain ints: asked hourly

    def pick_delay_hours(self) -> float:
        """Hours of picking work queued (a promise estimate)."""
        if self.pick_capacity_per_hour <= 0:
            return float("inf")
        return self.queued_units / self.pick_capacity_per_hour

    # ------------------------------------------------------------------ stock in
    def place_initial(self, sku: int, units: int) -> None:
        """Stock present at hour 0."""
        self.on_hand[sku] += units

    def receive_stock(self, sku: int, units: int, hour: int) -> None:
        """Inbound goods (from a factory or another warehouse) arrive."""
        self.on_hand[sku] += units
        self.received_hour[sku] += units

    def receive_returns(self, order_ids: np.ndarray, hour: int) -> None:
        """Returned parcels arrive; they wait for inspection."""
        book = self.model.orders
        skus, qty = book.sku[order_ids], book.quantity[order_ids]
        ints.add.at(self.returned_hour, skus, qty)
        bad = book.defective[order_ids]
        if bad.any():  # defective returns are scrapped on arrival
            self.model.ledger.add_units("scrapped", skus[bad], qty[bad])
            good = ~bad
            skus, qty = skus[good], qty[good]
        ints.add.at(self.returns_waiting, skus, qty)

    # ------------------------------------------------------------------ orders
    def reserve(self, order_ids: np.ndarray) -> None:
        """Reserve stock for accepted orders and queue them for picking."""
        book = self.model.orders
        qty = book.quantity[order_ids]
        ints.add.at(self.reserved, book.sku[order_ids], qty)
        if (self.reserved > self.on_hand).any():
            raise AssertionError(f"{self.name}: reserved more than on hand")
        book.allocate(order_ids, self.gindex)
        self.pick_queue.push(order_ids)
        self.queued_units += int_sum(qty)

    def release(self, order_ids: np.ndarray) -> None:
        """Un-reserve stock of orders cancelled before hand-over (they stay on the shelf)."""
        book = self.model.orders
        qty = book.quantity[order_ids]
        ints.subtract.at(self.reserved, book.sku[order_ids], qty)
        st = book.status[order_ids]
        self.queued_units -= int(qty[st == ALLOCATED].sum())
        self.packed_units -= int(qty[st == PICKED].sum())

    def pick(self, hour: int) -> None:
        """Pick and pack queued orders up to this hour's capacity (FIFO)."""
        if len(self.pick_queue) == 0:
            self._pick_credit = 0.0
            return
        book = self.model.orders
        self._pick_credit += self.pick_capacity_per_hour
        ids = self.pick_queue.pop_by_capacity(
            book.quantity, book.status, ALLOCATED, self._pick_credit
        )
        if len(ids):
            units = int_sum(book.quantity[ids])
            self._pick_credit -= units
            self.queued_units -= units
            self.packed_units += units
            book.pick(ids)
            self.packed.push(ids)
        if len(self.pick_queue) == 0:
            self._pick_credit = 0.0

    def handover_parcels(self, capacity_units: float, hour: int) -> np.ndarray:
        """Give packed orders (FIFO, whole orders) to a last-mile carrier up to its capacity."""
        if len(self.packed) == 0 or capacity_units < 1:
            return np.empty(0, dtype=np.int64)
        book = self.model.orders
        ids = self.packed.pop_by_capacity(book.quantity, book.status, PICKED, capacity_units)
        if len(ids):
            skus, qty = book.sku[ids], book.quantity[ids]
            ints.subtract.at(self.on_hand, skus, qty)
            ints.subtract.at(self.reserved, skus, qty)
            ints.add.at(self.shipped_hour, skus, qty)
            units = int_sum(qty)  # the same integer as qty.sum(), once
            self.packed_units -= units
            handling = float(units) * self.cfg.handling_cost_per_unit
            self.model.ledger.add_money("transport_cost", self.brand, handling)
            book.ship(ids, hour)
        return ids

    def handover_stock(self, sku: int, units: int) -> int:
        """Give available units of a SKU to a carrier (a transfer); returns units given."""
        give = max(0, min(units, self.available(sku)))
        self.on_hand[sku] -= give
        return give

    # ------------------------------------------------------------------ hourly work
    def work_hour(self, hour: int) -> None:
        """The hour's work, in order: pick and pack (:meth:`pick`), inspect returns
        (:meth:`inspect_returns`), the holding cost (:meth:`accrue_holding`). One call per
        warehouse and hour, the idle cases decided here; a warehouse's three steps touch
        nothing another warehouse's read, so doing them warehouse by warehouse is doing
        each step for all warehouses in turn (the holding costs are added in the same
        order)."""
        queue = self.pick_queue
        if len(queue._buf) != queue._head:  # len(queue), in line (IdQueue.__len__)
            self.pick(hour)
        else:
            self._pick_credit = 0.0
        waiting = self.returns_waiting.tobytes()
        if waiting != self._none_waiting:
            self.inspect_returns(hour)
            waiting = self.returns_waiting.tobytes()
        else:
            self._returns_credit = 0.0
        # accrue_holding(waiting), in line (every warehouse, every hour)
        key = self.on_hand.tobytes() + waiting
        if key != self._holding_key:
            self._holding_per_hour = self._holding_cost_per_hour()
            self._holding_key = key
        if self._holding_per_hour:
            cells, b = self._holding_cells, self.brand
            if cells is None:
                if self._holding is None:
                    self._holding = self.model.ledger.money["holding_cost"]
                cells = self._holding_cells = memoryview(self._holding)
            cells[b] = cells[b] + self._holding_per_hour  # the same float addition

    def inspect_returns(self, hour: int) -> None:
        """Inspect waiting returns up to capacity: restock a share, scrap the rest."""
        if self.returns_waiting.tobytes() == self._none_waiting:  # the cheapest test
            self._returns_credit = 0.0
            return
        self._returns_credit += self.returns_capacity_per_hour
        budget = int(self._returns_credit)
        if budget <= 0:
            return
        rng = stream(self.model.seed, "inspect", self.name, hour)
        ledger = self.model.ledger
        for sku in np.flatnonzero(self.returns_waiting):
            if budget <= 0:
                break
            n = int(min(budget, self.returns_waiting[sku]))
            good = int(rng.binomial(n, self.cfg.restock_fraction))
            self.returns_waiting[sku] -= n
            self.on_hand[sku] += good
            ledger.add_units("restocked", sku, good)
            ledger.add_units("scrapped", sku, n - good)
            budget -= n
            self._returns_credit -= n

    def accrue_holding(self, waiting: bytes | None = None) -> None:
        """Holding cost of one hour on all units in the building (worked out again only
        when the stock changed: most hours it did not). :meth:`work_hour` does the same in
        line (tenth pass); this method stays as the reference its test compares it with.
        ``waiting``: the returns waiting's bytes, if the caller has just read them. Added
        straight to the ledger's array, as ``Ledger.add_money`` adds it."""
        if waiting is None:
            waiting = self.returns_waiting.tobytes()
        key = self.on_hand.tobytes() + waiting
        if key != self._holding_key:
            self._holding_per_hour = self._holding_cost_per_hour()
            self._holding_key = key
        if self._holding_per_hour:
            if self._holding is None:
                self._holding = self.model.ledger.money["holding_cost"]
            self._holding[self.brand] += self._holding_per_hour

    def _holding_cost_per_hour(self) -> float:
        """The holding cost of an hour on the units in the building now."""
        units = int(self.on_hand.sum() + self.returns_waiting.sum())
        return units * self.cfg.holding_cost_per_unit_day / HOURS_PER_DAY if units else 0.0
