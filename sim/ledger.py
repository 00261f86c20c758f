"""The model's accounts: unit and money counters that agents report to.

Agents keep their own state (stock, queues, vehicles); the ledger only counts flows, so that
KPIs and invariants can be computed without reaching into agents. Units are counted per SKU
(global index), money per brand (index), flows of the current hour per SKU and region.

Money convention (one currency unit throughout):

* consumers pay when an order is accepted (``paid``); revenue is ``paid`` net of refunds for
  cancelled (``cancel_refunds``) and returned (``return_refunds``) orders; ``delivered_value``
  is the price of what reached buyers, so prepaid open orders are ``paid - cancel_refunds -
  delivered_value``;
* ``production_spend`` is cash spent on production: the initial stock, conversion of every
  unit made, and inputs bought ahead (materials in stock mode, modules under postponement).
  Separately, every unit is *valued* at its factory's full unit cost (``spend_variable``, for
  average costs). KPIs split the spend into the cost of goods that reached buyers
  (``production_cost``) and the cost of leftover and scrapped goods and unused inputs, net of
  salvage (``writeoff_cost``).
"""

from __future__ import annotations

import operator

import numpy as np

from sim.holdings import int_sum, ints

_COUNT_FROM = 256  # from this many entries a flow is counted by np.bincount, not np.add.at
# a ledger of one SKU adds its region flows on that SKU's row (1-D: quicker, the same integer
# sums; False: the general way, for the tests)
_ONE_ROW = True
_FEW_EACH = 8  # up to this many entries of the same units, the one row adds them one by one
# the unit counters of made units, and the money of buyers' advances: the ledger counts their
# writes (made_writes, advance_writes), and working capital reads them again only in an hour
# when a count moved (ViralChainModel._track_working_capital)
_MADE = frozenset(("initial", "produced"))
_ADVANCES = frozenset(("paid", "cancel_refunds", "delivered_value"))


class Ledger:
    """Counters of one run.

    Write the ``units`` and ``money`` arrays through the methods below: :attr:`made_writes`
    counts the writes of the made units and their value (``units`` ``initial`` and
    ``produced``, ``spend_variable``), :attr:`advance_writes` those of the buyers' advances
    (``money`` ``paid``, ``cancel_refunds``, ``delivered_value``), and working capital reads
    those arrays again only when a count moved. A direct write to one of them goes unseen
    (working capital stays stale) outside debug mode, which raises
    (``ViralChainModel._check_books``: stale average cost, stale buyers' advances). (The
    counters no working capital reads are also added in place elsewhere: the holding and
    standing costs through the warehouses' and brands' kept cells.)
    """

    UNIT_FIELDS = (
        "initial",
        "produced",
        "scrapped",
        "demand",
        "sold",
        "lost",
        "cancelled",
        "delivered",
        "returned",
        "restocked",
        "units_ordered",
        "units_ordered_quick",
        "lost_sold_out",
        "lost_too_slow",
        "lost_left",
        "defective_out",
    )
    MONEY_FIELDS = (
        "paid",
        "cancel_refunds",
        "return_refunds",
        "delivered_value",
        "production_spend",
        "setup_cost",
        "holding_cost",
        "transport_cost",
        "rush_premium_cost",
        "reservation_cost",
        "warehouse_fixed_cost",
        "platform_cost",
        "kol_fees",
        "return_cost",
        "unit_km",
    )
    HOURLY_REGION_FIELDS = ("demand", "sold", "lost", "views", "returned")

    def __init__(
        self,
        n_sku: int,
        n_brand: int,
        n_regions: int,
        sku_brand: np.ndarray,
        n_platforms: int = 1,
    ):
        self.n_sku, self.n_brand, self.n_regions = n_sku, n_brand, n_regions
        self.sku_brand = np.asarray(sku_brand, dtype=np.int64)
        self.units = {f: np.zeros(n_sku, dtype=np.int64) for f in self.UNIT_FIELDS}
        self.money = {f: np.zeros(n_brand, dtype=np.float64) for f in self.MONEY_FIELDS}
        self.spend_variable = np.zeros(n_sku, dtype=np.float64)  # cost of initial + produced units
        self.pending_intents = np.zeros(n_sku, dtype=np.int64)  # waiting to revisit
        # the hour's flows, field by field: views into one (SKU, region, field) block, so
        # that recording adds them in one operation and a reset is one fill
        self.hour_block = np.zeros((n_sku, n_regions, len(self.HOURLY_REGION_FIELDS)), np.int64)
        self._view_hour_block()
        self.hour_flowed = False  # whether any hourly flow was added since the last reset
        # writes so far of the made units and their value (``_MADE``, ``spend_variable``),
        # and of the buyers' advances (``_ADVANCES``): equal counts, the same arrays (they
        # are written through these methods only)
        self.made_writes = 0
        self.advance_writes = 0
        self.kol_fees_by_kol: dict[str, float] = {}
        # units consumers tried to buy, and units sold, per SKU and platform
        self.platform_units = {
            k: np.zeros((n_sku, n_platforms), dtype=np.int64) for k in ("demand", "sold")
        }
        # last-mile parcels handed to carriers, and the orders inside them, per brand
        self.counts = {k: np.zeros(n_brand, dtype=np.int64) for k in ("parcels", "orders_shipped")}

    def _view_hour_block(self) -> None:
        """:attr:`hour`: each field's view of :attr:`hour_block`."""
        self.hour = {f: self.hour_block[:, :, i] for i, f in enumerate(self.HOURLY_REGION_FIELDS)}

    def __setstate__(self, state: dict[str, object]) -> None:
        # a copy (copy.deepcopy, pickle) copies each view of the hour's block on its own,
        # detached from the block that recording reads and a reset fills: view it again
        self.__dict__.update(state)
        self._view_hour_block()

    # -- unit flows ----------------------------------------------------------------
    def add_units(self, name: str, sku: int | np.ndarray, qty: int | np.ndarray) -> None:
        """Add to a per-SKU unit counter (vectorised over skus)."""
        ints.add.at(self.units[name], sku, qty)
        if name in _MADE:
            self.made_writes += 1

    def add_region_flow(
        self, name: str, sku: int | np.ndarray, region: np.ndarray | None, qty: int | np.ndarray
    ) -> None:
        """Add to the current hour's flow per SKU and region (and to the unit counter).
        ``region`` None: ``qty`` is SKU ``sku``'s (an int) whole row, a count per region.
        ``sku`` an int (and ``region`` an array): that SKU for each row of ``region``, and
        a single ``qty`` booked for each row (on the hour and on the unit counter alike).

        A ledger of one SKU (every ``sku`` 0) adds on that SKU's row (:meth:`_add_one_row`:
        1-D, the same integer sums; :data:`_ONE_ROW`)."""
        hour = self.hour[name]
        self.hour_flowed = True
        if region is None or (self.n_sku == 1 and _ONE_ROW):
            # (of several SKUs: ``sku`` must be one integer, not an array)
            one = 0 if self.n_sku == 1 else operator.index(sku)
            self._add_one_row(name, hour, one, region, qty)
            return
        if not isinstance(sku, np.ndarray):  # one SKU: its index for each row of region
            sku = np.full(len(region), sku, np.int64)
        if len(sku) > _COUNT_FROM:
            # many: count per (SKU, region) cell in one pass; integer sums, so exact
            cell = sku.astype(np.int64) * self.n_regions + region
            if np.ndim(qty) == 0:
                counts = np.bincount(cell, minlength=hour.size) * int(qty)
            else:  # whole units as float64 weights: exact below 2**53
                counts = np.bincount(cell, weights=qty, minlength=hour.size).astype(np.int64)
            counts = counts.reshape(hour.shape)
            hour += counts
            if name in self.units:
                self.units[name] += counts.sum(axis=1)
            return
        ints.add.at(hour, (sku, region), qty)
        if name in self.units:
            ints.add.at(self.units[name], sku, qty)

    def _add_one_row(
        self,
        name: str,
        hour: np.ndarray,
        sku: int,
        region: np.ndarray | None,
        qty: int | np.ndarray,
    ) -> None:
        """:meth:`add_region_flow` of flows of the one SKU ``sku`` (an int): on its row of
        the hour (1-D indices), ``qty`` per row of ``region`` (a Python or numpy integer:
        for each), or per region when ``region`` is None; its unit counter by one integer
        addition of the units' sum (exact: no count of units leaves int64). ``hour``: the
        field's hour, :attr:`hour` ``[name]``."""
        row = hour[sku]
        if region is None:  # a whole row: added in place
            row += qty
        elif type(qty) is np.ndarray:
            ints.add.at(row, region, qty)
        elif len(region) <= _FEW_EACH:  # the same units for each (views), a few: one by one
            q = int(qty)
            for r in region.tolist():
                row[r] = row.item(r) + q
        else:  # (np.add.at on 1-D indices: quicker than a bincount, 20,000 of them too)
            np.add.at(row, region, int(qty))
        if name in self.units:
            units = self.units[name]
            total = int_sum(qty) if type(qty) is np.ndarray else len(region) * int(qty)
            units[sku] = units.item(sku) + total  # the same integer addition

    def add_sku_region_flow(self, name: str, sku: int, region: np.ndarray, qty: np.ndarray) -> None:
        """:meth:`add_region_flow` for flows of one SKU (``qty`` per row of ``region``), on
        its row (the array branch of :meth:`_add_one_row`, written out: a call through it
        cost 3.5 M instructions more at 1M)."""
        ints.add.at(self.hour[name][sku], region, qty)
        self.hour_flowed = True
        if name in self.units:
            units = self.units[name]
            units[sku] = units.item(sku) + int_sum(qty)  # the same integer addition

    def defective_share(self) -> np.ndarray:
        """Per SKU, the share of units made that are defective and not yet found."""
        made = self.units["initial"] + self.units["produced"]
        return np.divide(self.units["defective_out"], made, out=np.zeros(len(made)), where=made > 0)

    def hides_defects(self, sku: int = 0) -> bool:
        """Whether SKU ``sku``'s stock hides defective units (``defective_share()[sku] !=
        0.0``), on Python ints: the share ``out / made`` is 0.0 when nothing was made and
        otherwise exactly when ``out`` is 0 (at least 1 / made, never 0.0 for a count of
        int64; ``out`` is never negative)."""
        units = self.units
        made = units["initial"].item(sku) + units["produced"].item(sku)
        return made > 0 and units["defective_out"].item(sku) != 0

    def defective_found(self, sku: np.ndarray, qty: np.ndarray) -> None:
        """Buyers found these defective units: they are no longer hidden in the stock."""
        out = self.units["defective_out"]
        ints.subtract.at(out, sku, qty)
        np.maximum(out, 0, out=out)

    def intents_waiting(self, sku: np.ndarray, qty: np.ndarray) -> None:
        """Turned-away wishes that will come back later (per SKU, not yet demand again)."""
        self.pending_intents += np.bincount(sku, weights=qty, minlength=self.n_sku).astype(np.int64)

    def intents_resolved(self, sku: np.ndarray, qty: np.ndarray) -> None:
        """Waiting wishes came back, or were lost at the end of the horizon."""
        self.pending_intents -= np.bincount(sku, weights=qty, minlength=self.n_sku).astype(np.int64)

    def shift_intents(self, delta: np.ndarray) -> None:
        """Change the waiting wishes per SKU by ``delta`` (a per-SKU difference)."""
        self.pending_intents += delta

    def reset_hour(self) -> None:
        """Start a new hour of flows."""
        if not self.hour_flowed:  # nothing to clear
            return
        self.hour_block.fill(0)
        self.hour_flowed = False

    # -- money ---------------------------------------------------------------------
    def add_money(self, name: str, brand: int | np.ndarray, amount: float | np.ndarray) -> None:
        """Add to a per-brand money counter."""
        if isinstance(brand, int) and isinstance(amount, float):  # one brand: one addition
            self.money[name][brand] += amount
        else:
            np.add.at(self.money[name], brand, amount)
        if name in _ADVANCES:
            self.advance_writes += 1

    def add_kol_fee(self, kol: str, brand: int, amount: float) -> None:
        """A fee or commission paid by ``brand`` to ``kol``."""
        self.money["kol_fees"][brand] += amount
        self.kol_fees_by_kol[kol] = self.kol_fees_by_kol.get(kol, 0.0) + amount

    def count_parcels(self, brand: int, parcels: int, orders: int) -> None:
        """Last-mile parcels handed to a carrier by ``brand``, holding ``orders`` orders."""
        self.counts["parcels"][brand] += parcels
        self.counts["orders_shipped"][brand] += orders

    def record_made(self, sku: int, units: int, unit_cost: float) -> None:
        """Initial stock: paid for and valued at ``unit_cost``."""
        self.value_made(sku, units, unit_cost)
        self.money["production_spend"][self.sku_brand[sku]] += units * unit_cost

    def value_made(self, sku: int, units: int, unit_cost: float) -> None:
        """Value produced units at their full unit cost (cash is recorded where it is paid)."""
        self.spend_variable[sku] += units * unit_cost
        self.made_writes += 1

    def average_cost(self) -> np.ndarray:
        """Average cost per unit of each SKU so far (0 where nothing was made)."""
        made = self.units["initial"] + self.units["produced"]
        return np.divide(self.spend_variable, made, out=np.zeros(self.n_sku), where=made > 0)
