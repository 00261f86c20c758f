"""Sensing, for brands: what the brand sees of its market, hour by hour.

Every hour the brand records demand and views per SKU and tracks stock-outs, network-wide
and per warehouse. It raises the hot-spot signal (the last 24 hours' demand reaches the
stock available) and notes when the first replenishment ordered after it arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.holdings import state_without
from sim.policies.forecast import Signals

if TYPE_CHECKING:
    from sim.agents.brand_network import BrandNetwork
    from sim.model import ViralChainModel


_FEW_SKUS = 4  # up to this many SKUs, an hour's demand and views are recorded on Python ints
# up to this many bytes of stocks (the holdings' buffer), track_stockouts keys them whole
_SETTLED_BYTES = 4096


class Sensing:
    """The brand's observations.

    Attributes:
        hourly_demand, hourly_views: (hour, SKU) demand (units wished) and content views.
        stockout_hours: per SKU, hours with nothing available across the network.
        signal_hour: per SKU, the hour of the hot-spot signal (-1: none yet).
        response_hour: per SKU, the hour the first goods ordered after the signal arrived.
    """

    def __init__(self, model: ViralChainModel, name: str, network: BrandNetwork):
        self.model, self.name, self.network = model, name, network
        n, H = model.n_sku, model.horizon_hours
        # the next four arrays are held as memoryviews (_cells): never reassign them (debug checks)
        self.hourly_demand = np.zeros((H, n), dtype=np.int64)
        self.hourly_views = np.zeros((H, n), dtype=np.int64)
        # running totals: row k is the sum of the hourly rows before hour k, so a window's
        # sum is a difference; rows are filled up to the last hour that flowed (_recorded),
        # and any later row would hold the total so far, so queries stop there
        self._demand_before = np.zeros((H + 1, n), dtype=np.int64)
        self._views_before = np.zeros((H + 1, n), dtype=np.int64)
        self._recorded = 0
        self.stockout_hours = np.zeros(n, dtype=np.int64)
        self.signal_hour = np.full(n, -1, dtype=np.int64)  # first projected stock-out
        self.response_hour = np.full(n, -1, dtype=np.int64)  # first replenishment after it
        self._stockout_since = np.full(n, -1, dtype=np.int64)
        self._wh_stockout = np.full((len(network.warehouses), n), -1, dtype=np.int64)
        # per SKU, (the holdings' bytes, the hours recorded, the units available) at the end
        # of the last track_stockouts that read them the long way (see there)
        self._settled: dict[int, tuple[bytes, int, int]] = {}
        self._jobs_after_signal: set[int] = set()
        # memoryviews of the running totals and the hourly rows (_record_few: a cell read
        # and written on Python ints, the same integers as ``item`` and numpy's assignment);
        # no copy keeps them (__getstate__: made again from its own arrays at its next hour)
        self._cells: tuple[memoryview, ...] | None = None
        fields = model.ledger.HOURLY_REGION_FIELDS  # the ledger's hourly block, last axis
        self._demand_field, self._views_field = fields.index("demand"), fields.index("views")

    # ------------------------------------------------------------------ recording
    def check_totals(self) -> None:
        """Debug mode: the running totals are the sums of the hourly rows recorded so far,
        and no later row holds anything; the kept memoryviews are of these arrays."""
        from sim.invariants import InvariantError

        cells = self._cells
        if cells is not None and any(
            v.obj is not a for v, a in zip(cells, self._cell_arrays(), strict=True)
        ):
            raise InvariantError(f"{self.name}: stale cells of the running totals")
        r = self._recorded
        for before, hourly in (
            (self._demand_before, self.hourly_demand),
            (self._views_before, self.hourly_views),
        ):
            if hourly[r:].any() or not np.array_equal(before[1 : r + 1], hourly[:r].cumsum(0)):
                raise InvariantError(f"{self.name}: stale running totals of demand or views")
            if before[0].any():
                raise InvariantError(f"{self.name}: stale running totals of demand or views")

    def record(self, hour: int) -> None:
        """Record this hour's demand and views (all SKUs, from the ledger's hourly flows)."""
        led = self.model.ledger
        if not led.hour_flowed:  # no flow this hour: the rows stay zero
            return
        if self._demand_before.shape[1] <= _FEW_SKUS:  # a few SKUs: on Python ints
            self._record_few(hour, led.hour_block.tolist())
            return
        # every field's sum over the regions in one reduction (integers: exact)
        sums = led.hour_block.sum(axis=1)
        demand, views = sums[:, self._demand_field], sums[:, self._views_field]
        # integer running totals, exact: the quiet hours since the last recorded one add
        # nothing, then this hour's row
        r = self._recorded
        for before, row in ((self._demand_before, demand), (self._views_before, views)):
            if r < hour:  # (an empty slice otherwise)
                before[r + 1 : hour + 1] = before[r]
            before[hour + 1] = before[hour] + row
        self._recorded = hour + 1
        self.hourly_demand[hour] = demand
        self.hourly_views[hour] = views

    def _record_few(self, hour: int, block: list) -> None:
        """:meth:`record` of a few SKUs from the ledger's hourly block as nested lists: the
        same integer sums over the regions (exact in any order), the same rows written, cell
        by cell through memoryviews of the arrays (:meth:`_list_cells`: Python ints, the
        same integers as ``item`` and numpy's assignment)."""
        df, vf = self._demand_field, self._views_field
        demand = [sum([cell[df] for cell in regions]) for regions in block]
        views = [sum([cell[vf] for cell in regions]) for regions in block]
        cells = self._cells
        if cells is None:
            cells = self._list_cells()
        demand_before, views_before, hourly_demand, hourly_views = cells
        r = self._recorded
        if r < hour:  # the quiet hours since the last recorded one add nothing
            self._demand_before[r + 1 : hour + 1] = self._demand_before[r]
            self._views_before[r + 1 : hour + 1] = self._views_before[r]
        nxt = hour + 1
        for s, x in enumerate(demand):
            demand_before[nxt, s] = demand_before[hour, s] + x
            hourly_demand[hour, s] = x
        for s, x in enumerate(views):
            views_before[nxt, s] = views_before[hour, s] + x
            hourly_views[hour, s] = x
        self._recorded = nxt

    def _list_cells(self) -> tuple[memoryview, ...]:
        """Memoryviews of the running totals of demand and views and of their hourly rows
        (:meth:`_record_few`), kept until the sensing is copied (:meth:`__getstate__`)."""
        self._cells = tuple(memoryview(a) for a in self._cell_arrays())
        return self._cells

    def _cell_arrays(self) -> tuple[np.ndarray, ...]:
        return (self._demand_before, self._views_before, self.hourly_demand, self.hourly_views)

    def __getstate__(self) -> dict:
        """A copy's state (``copy.deepcopy``, pickle): no memoryview (:func:`state_without`)."""
        return state_without(self, "_cells")

    def track_stockouts(self, sku: int, hour: int) -> int:
        """Stock-outs start and end (network and warehouses); the hot-spot signal.

        Returns:
            the units of ``sku`` available across the network now
            (:meth:`~sim.agents.brand_network.BrandNetwork.available_total`).
        """
        m = self.model
        # every stock of the supply side (each warehouse's on hand and reserved among them),
        # as bytes, where they are few (a large world's would cost more than the long way)
        buffer = m.holdings.buffer
        key = buffer.tobytes() if buffer.nbytes <= _SETTLED_BYTES else None
        settled = self._settled.get(sku)
        if settled is not None and settled[0] == key and settled[1] == self._recorded:
            # the same stocks as when this SKU's states were last set here, and no hour
            # recorded since: every stock-out state already says what these units say (no
            # start, no end), and the last 24 hours' demand can only have left the window
            # since (the running totals never fall; the window's end stays at the last
            # recorded hour), so a signal that did not fire then does not fire now. Only
            # the count of hours out of stock moves (tests/test_supply_idle_hours.py).
            total = settled[2]
            if total <= 0:
                self.stockout_hours[sku] += 1
            return total
        whs = self.network.warehouses
        # Warehouse.available of each, in line (plain ints: this runs every hour)
        per_wh = [w.on_hand.item(sku) - w.reserved.item(sku) for w in whs]
        total = sum(per_wh)
        since_net = self._stockout_since.item(sku)
        if total <= 0:
            self.stockout_hours[sku] += 1
            if since_net < 0:
                self._stockout_since[sku] = hour
                name = m.sku_names[sku]
                m.log("stockout_start", hour=hour, actor=self.name, sku=name, detail="network")
        elif since_net >= 0:
            dur = hour - since_net
            name = m.sku_names[sku]
            m.log("stockout_end", hour=hour, actor=self.name, sku=name, detail=f"network, {dur}h")
            self._stockout_since[sku] = -1
        since = self._wh_stockout  # .item: plain ints, read every hour
        for i, w in enumerate(whs):
            units = per_wh[i]
            started = since.item(i, sku)
            if units <= 0 and started < 0:
                since[i, sku] = hour
                name = m.sku_names[sku]
                m.log("stockout_start", hour=hour, actor=w.name, sku=name, detail="warehouse")
            elif units > 0 and started >= 0:
                dur = hour - started
                name = m.sku_names[sku]
                m.log(
                    "stockout_end", hour=hour, actor=w.name, sku=name, detail=f"warehouse, {dur}h"
                )
                since[i, sku] = -1
        # hot-spot signal: demand of the last 24 h reaches the stock available
        if self.signal_hour.item(sku) < 0:
            last_day = _window_sum(self._demand_before, self._recorded, sku, hour, HOURS_PER_DAY)
            if last_day > 0 and last_day >= total:
                self.signal_hour[sku] = hour
                m.log(
                    "hotspot_signal",
                    hour=hour,
                    actor=self.name,
                    sku=m.sku_names[sku],
                    quantity=int(last_day),
                    detail=f"24h demand {last_day} >= available {total}",
                )
        if key is not None:
            self._settled[sku] = (key, self._recorded, total)
        return total

    def note_job(self, sku: int, job_id: int) -> None:
        """A production job was placed: it answers the signal if one was raised."""
        if self.signal_hour[sku] >= 0:
            self._jobs_after_signal.add(job_id)

    def note_arrival(self, sku: int, hour: int, job_ids: tuple[int, ...] = ()) -> None:
        """Goods reached a warehouse: the first arrival after the signal ends the response."""
        if (
            self.signal_hour[sku] >= 0
            and self.response_hour[sku] < 0
            and any(j in self._jobs_after_signal for j in job_ids)
        ):
            self.response_hour[sku] = hour

    # ------------------------------------------------------------------ queries
    def demand_rate(self, sku: int, hour: int, hours: int) -> float:
        """Mean demand per hour over the ``hours`` up to and including ``hour``
        (:func:`_window_rate`, in line: asked several times an hour)."""
        n = hours if hours <= hour + 1 else hour + 1  # the window's hours from 0 on
        total = _window_sum(self._demand_before, self._recorded, sku, hour, hours)
        return float(total) / (n if n > 1 else 1)

    def demand_between(self, skus: list[int], lo: int, hi: int) -> int:
        """Units demanded of ``skus`` in hours ``lo .. hi - 1`` (``0 <= lo``):
        ``hourly_demand[lo:hi, skus].sum()`` from the running totals (whole units, exact)."""
        if lo < 0:
            raise ValueError(f"demand_between: lo = {lo}: must be 0 or more")
        before, last = self._demand_before, self._recorded
        return sum([_window_sum(before, last, s, hi - 1, hi - lo) for s in skus])

    def views_rate(self, sku: int, hour: int, hours: int) -> float:
        """Mean content views per hour over the ``hours`` up to and including ``hour``."""
        return _window_rate(self._views_before, self._recorded, sku, hour, hours)

    def signals(self, sku: int, hour: int, presale_units: float) -> Signals:
        """Daily demand and views in 24-hour windows ending at ``hour`` (oldest first)."""
        n_days = (hour + 1) // HOURS_PER_DAY
        start = hour + 1 - HOURS_PER_DAY * n_days
        d = self.hourly_demand[start : hour + 1, sku].reshape(n_days, HOURS_PER_DAY).sum(axis=1)
        v = self.hourly_views[start : hour + 1, sku].reshape(n_days, HOURS_PER_DAY).sum(axis=1)
        return Signals(
            daily_demand=d.astype(float),
            daily_views=v.astype(float),
            presale_units=presale_units,
        )


def _window_sum(before: np.ndarray, last: int, sku: int, hour: int, hours: int) -> int:
    """The sum of the hourly rows ``max(0, hour - hours + 1) .. hour`` of one SKU, from the
    running totals ``before`` (row k: the sum of the rows before k), filled up to row
    ``last`` (every later hour's row is zero so far), as a slice sum gives (plain
    comparisons, not min/max: this runs several times an hour)."""
    hi = hour + 1
    lo = hi - hours
    if lo < 0:
        lo = 0
    if hi > last:
        hi = last
    if lo >= hi:  # an empty window
        return 0
    return before.item(hi, sku) - before.item(lo, sku)


def _window_rate(before: np.ndarray, last: int, sku: int, hour: int, hours: int) -> float:
    """Mean per hour of the window of :func:`_window_sum` (divided by at least 1 hour)."""
    n = hours if hours <= hour + 1 else hour + 1  # the window's hours from 0 on
    return float(_window_sum(before, last, sku, hour, hours)) / (n if n > 1 else 1)
