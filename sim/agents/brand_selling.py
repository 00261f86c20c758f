"""Selling, for brands: delivery promises, order acceptance, pre-orders, cancellations, returns.

A wish for one of the brand's SKUs is routed (routing policy) to the first candidate
warehouse that has the units available and whose delivery promise fits the consumer's
patience. Scarce stock is shared by the allocation policy. Otherwise the wish becomes a
pre-order when presale is open (and the presale promise fits), or is refused as *sold out*
or *too slow*. Consumers pay at acceptance; cancellations and returns are refunded, and the
KOL commission follows the money.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.consumers import ACCEPTED, SOLD_OUT, TOO_SLOW
from sim.holdings import ints
from sim.messages import Wishes
from sim.orders import ALLOCATED, BACKLOG, CH_LIVE, PICKED
from sim.policies.allocation import FirstComeFirstServed
from sim.queues import IdQueue

if TYPE_CHECKING:
    from sim.agents.brand_network import BrandNetwork
    from sim.config import BrandSpec
    from sim.model import ViralChainModel
    from sim.policies.protocols import Allocation

_FEW = 32  # up to this many wishes, a SKU's orders are taken on Python numbers
_FEW_BACK = 7  # up to this many returned orders, take_back's money on Python numbers


class Selling:
    """The brand's sales: promises, accepted orders, pre-orders, cancellations and returns.

    Attributes:
        backlog: per SKU of the brand, the queue of pre-orders waiting for stock (FIFO).
        backlog_units: per SKU, units in the backlog.
        backlog_region: (SKU, region) units in the backlog.
        presale_open: per SKU, whether pre-orders are taken.
    """

    def __init__(
        self,
        model: ViralChainModel,
        index: int,
        name: str,
        spec: BrandSpec,
        skus: np.ndarray,
        network: BrandNetwork,
        allocator: Allocation,
    ):
        self.model, self.index, self.name, self.spec = model, index, name, spec
        self.network, self.allocator = network, allocator
        n = model.n_sku
        self.backlog = {int(s): IdQueue() for s in skus}
        self.backlog_units = np.zeros(n, dtype=np.int64)
        self.backlog_region = np.zeros((n, len(model.geo)), dtype=np.int64)
        self.presale_open = np.zeros(n, dtype=bool)

    def promise_hours(self, hour: int) -> np.ndarray:
        """Delivery promise (hours) from each warehouse to each region, quoted in ``hour``.

        An order placed now is packed once the pick queue ahead of it is done (and the
        parcels already packed have left), rides the first last-mile cut-off after that,
        and arrives one trip later.
        """
        net = self.network
        lm_per_hour = max(net.last_mile_capacity_per_hour(), 1e-9)
        out = np.empty_like(net.trip_hours)
        for i in range(len(net.warehouses)):  # one formula: the rows the few-wish path reads
            out[i] = self._promise_row(i, hour, lm_per_hour)
        return out

    def take_orders(self, hour: int, sku: int, wishes: Wishes) -> np.ndarray:
        """Accept what can be served now; returns ACCEPTED / SOLD_OUT / TOO_SLOW per wish.

        Wishes arrive in their order within the hour; the allocation policy decides who gets
        scarce stock. Wishes that no warehouse can serve become pre-orders while presale is
        open (if the consumer accepts the presale promise).
        """
        if len(wishes.consumers) <= _FEW:  # a few wishes (most calls): on Python numbers
            return self._take_few(hour, sku, wishes)
        m = self.model
        net = self.network
        regions, quantity, patience = wishes.regions, wishes.quantity, wishes.patience
        priority = m.platform_priority[wishes.platforms]
        avail = net.available(sku)
        had_stock = avail.copy()
        promise = self.promise_hours(hour)
        n = len(regions)

        def select(rows: np.ndarray, units: int) -> np.ndarray:
            return self.allocator.select(quantity[rows], regions[rows], priority[rows], units)

        fits_somewhere = np.zeros(n, dtype=bool)

        def eligible(wh: np.ndarray) -> np.ndarray:
            stock_ok = had_stock[wh] >= quantity
            fits_somewhere[:] |= stock_ok
            return stock_ok & (promise[wh, regions] <= patience)

        chosen = net.assign(regions, quantity, avail, select, eligible)
        outcome = np.where(fits_somewhere, TOO_SLOW, SOLD_OUT).astype(np.int8)
        a = np.flatnonzero(chosen >= 0)
        taken = len(a)
        if taken:
            outcome[a] = ACCEPTED
            if taken == n:  # every wish served: the wishes as they are, no copies
                kept, where = wishes, chosen
            else:
                kept, where = wishes.take(a), chosen[a]
            ids = self._book(hour, sku, kept, promise[where, kept.regions])
            if where.min() == where.max():  # one warehouse serves them all (the usual case)
                net.warehouses[where.item(0)].reserve(ids)
            else:
                for w in np.unique(where):
                    net.warehouses[int(w)].reserve(ids[where == w])
        if taken < n and self.presale_open[sku]:
            self._take_preorders(hour, sku, wishes, outcome)
        return outcome

    def _take_few(self, hour: int, sku: int, wishes: Wishes) -> np.ndarray:
        """:meth:`take_orders` of a few wishes on Python numbers: ``BrandNetwork.assign``
        with the same eligibility (stock before this call, promise within patience), the
        allocation policy asked exactly as there (same rows, same units, in the same order;
        first come first served worked out on the same integers), and a warehouse's row of
        :meth:`promise_hours` worked out only when a wish reads it (the same float
        additions; nothing changes a promise within the call before the reservations)."""
        net = self.network
        whs = net.warehouses
        regions, qty = wishes.regions.tolist(), wishes.quantity.tolist()
        patience = wishes.patience.tolist()
        k = len(regions)
        had = [w.available(sku) for w in whs]
        left = had[:]
        table = net.candidate_lists
        cand = [table[r] for r in regions]
        rows: list[list[float] | None] = [None] * len(whs)  # promise rows, when first read
        lm_per_hour = 0.0
        fcfs = type(self.allocator) is FirstComeFirstServed
        priority = None
        chosen = [-1] * k
        fits = [False] * k
        for c in range(len(table[0])):
            open_ = [False] * k
            for i in range(k):
                wh = cand[i][c]
                if had[wh] >= qty[i]:
                    fits[i] = True
                    if chosen[i] < 0:
                        row = rows[wh]
                        if row is None:
                            if not lm_per_hour:
                                lm_per_hour = max(net.last_mile_capacity_per_hour(), 1e-9)
                            row = rows[wh] = self._promise_row(wh, hour, lm_per_hour)
                        open_[i] = row[regions[i]] <= patience[i]
            for w in range(len(left)):
                if left[w] <= 0:
                    continue
                at = [i for i in range(k) if open_[i] and cand[i][c] == w]
                if not at:
                    continue
                units = left[w]
                if fcfs:  # _fcfs: cumsum(quantity) <= units, on the same integers
                    take, total = [], 0
                    for i in at:
                        total += qty[i]
                        if total <= units:
                            take.append(i)
                else:
                    if priority is None:
                        priority = self.model.platform_priority[wishes.platforms]
                    rows_ = np.array(at, dtype=np.intp)
                    mask = self.allocator.select(
                        wishes.quantity[rows_], wishes.regions[rows_], priority[rows_], units
                    )
                    take = rows_[mask].tolist()
                for i in take:
                    chosen[i] = w
                left[w] -= sum([qty[i] for i in take])
        a = [i for i in range(k) if chosen[i] >= 0]
        outcome = np.array(
            [ACCEPTED if chosen[i] >= 0 else TOO_SLOW if fits[i] else SOLD_OUT for i in range(k)],
            dtype=np.int8,
        )
        taken = len(a)
        if taken:
            if taken == k:  # every wish served: the wishes as they are, no copies
                kept, where = wishes, chosen
            else:
                kept, where = wishes.take(np.array(a, dtype=np.intp)), [chosen[i] for i in a]
            promise = [rows[w][regions[i]] for w, i in zip(where, a, strict=True)]  # type: ignore[index]
            ids = self._book_few(hour, sku, kept, promise, [qty[i] for i in a])
            first = where[0]
            if all(w == first for w in where):  # one warehouse serves them all (the usual)
                whs[first].reserve(ids)
            else:
                at_w = np.array(where)
                for w in sorted(set(where)):
                    whs[w].reserve(ids[at_w == w])
        if taken < k and self.presale_open[sku]:
            self._take_preorders(hour, sku, wishes, outcome)
        return outcome

    def _promise_row(self, i: int, hour: int, lm_per_hour: float) -> list[float]:
        """Row ``i`` (local warehouse) of :meth:`promise_hours` (which is built from these
        rows), as Python floats: an order placed now is packed once the pick queue ahead of
        it is done (and the parcels already packed have left), rides the first cut-off of
        any contracted last-mile carrier after that, and arrives one trip later."""
        net = self.network
        w = net.warehouses[i]
        wait = w.pick_delay_hours() + w.packed_units / lm_per_hour
        if not math.isfinite(wait):  # no pick capacity: nothing can be promised from here
            return [math.inf] * len(net.trip_lists[i])
        ready = hour + 1 + math.ceil(wait)
        cut = min(c.next_dispatch_wait(ready) for c in net.contracted_last_mile)
        base = ready + cut - hour
        return [base + t for t in net.trip_lists[i]]

    def _take_preorders(self, hour: int, sku: int, wishes: Wishes, outcome: np.ndarray) -> None:
        m = self.model
        p = self.spec.policy.presale
        mult = m.config.market.consumer.presale_patience_multiplier
        quantity = wishes.quantity
        idx = np.flatnonzero((outcome != ACCEPTED) & (wishes.patience * mult >= p.promise_hours))
        if p.max_backlog_units > 0:
            room = p.max_backlog_units * m.scale - self.backlog_units[sku]
            idx = idx[np.cumsum(quantity[idx]) <= room]
        if len(idx) == 0:
            return
        ids = self._book(hour, sku, wishes.take(idx), np.full(len(idx), p.promise_hours))
        self.backlog[sku].push(ids)
        self.backlog_units[sku] += int(quantity[idx].sum())
        ints.add.at(
            self.backlog_region, (np.full(len(idx), sku), wishes.regions[idx]), quantity[idx]
        )
        outcome[idx] = ACCEPTED

    def set_presale(self, sku: int, is_open: bool, hour: int, why: str) -> None:
        """Open or close presale of a SKU (logged)."""
        if bool(self.presale_open[sku]) == is_open:
            return
        self.presale_open[sku] = is_open
        kind = "presale_open" if is_open else "presale_close"
        self.model.log(
            kind,
            hour=hour,
            actor=self.name,
            sku=self.model.sku_names[sku],
            quantity=int(self.backlog_units[sku]),
            detail=why,
        )

    def _accept(self, hour: int, sku: int, wishes: Wishes, promise: np.ndarray) -> np.ndarray:
        """The order book's entries of accepted wishes (for :meth:`_book` and
        :meth:`_book_few`): their ids."""
        return self.model.orders.accept(
            consumer=wishes.consumers,
            sku=sku,
            brand=self.index,
            region=wishes.regions,
            quantity=wishes.quantity,
            price=self.model.price[sku],
            channel=wishes.channels,
            kol=wishes.kols,
            platform=wishes.platforms,
            impulse=wishes.channels == CH_LIVE,
            placed_hour=hour,
            promise_hours=promise,
        )

    def _book(self, hour: int, sku: int, wishes: Wishes, promise: np.ndarray) -> np.ndarray:
        """Record accepted orders: order book, sales, payment, commissions, cancel checks."""
        m = self.model
        price = m.price[sku]
        ids = self._accept(hour, sku, wishes, promise)
        m.ledger.add_sku_region_flow("sold", sku, wishes.regions, wishes.quantity)
        ints.add.at(m.ledger.platform_units["sold"], (sku, wishes.platforms), wishes.quantity)
        revenue = price * wishes.quantity
        m.ledger.add_money("paid", self.index, float(revenue.sum()))
        self._commission(wishes.kols, revenue, +1)
        grace = m.config.market.consumer.cancel_grace_hours
        deadlines = hour + np.ceil(promise + grace).astype(np.int64)
        m.population.watch_order(ids, deadlines)
        return ids

    def _book_few(
        self, hour: int, sku: int, wishes: Wishes, promise: list[float], qty: list[int]
    ) -> np.ndarray:
        """:meth:`_book` of a few wishes, their promises and quantities as Python numbers:
        the money on Python floats, the same operations in the same order (the revenue's
        sum as numpy's, :func:`_sum_few`; the commissions as ``np.bincount`` adds each KOL's
        revenue in turn, :meth:`_commission_few`), the cancellation deadlines on the same
        doubles."""
        m = self.model
        price = m.price[sku]
        ids = self._accept(hour, sku, wishes, np.array(promise, dtype=np.float64))
        ledger = m.ledger
        ledger.add_sku_region_flow("sold", sku, wishes.regions, wishes.quantity)
        ints.add.at(ledger.platform_units["sold"], (sku, wishes.platforms), wishes.quantity)
        p = float(price)
        revenue = [p * q for q in qty]
        ledger.add_money("paid", self.index, _sum_few(revenue))
        self._commission_few(wishes.kols.tolist(), revenue, +1)
        grace = m.config.market.consumer.cancel_grace_hours
        deadlines = [hour + math.ceil(x + grace) for x in promise]
        m.population.watch_order(ids, np.array(deadlines, dtype=np.int64))
        return ids

    def _commission_few(self, kols: list[int], revenue: list[float], sign: int) -> None:
        """:meth:`_commission` of a few orders on Python numbers (each KOL's revenue added
        in turn from zero, as ``np.bincount`` does; the fee worked out on the same double,
        a numpy scalar as there)."""
        per_kol: dict[int, float] = {}
        for k, r in zip(kols, revenue, strict=True):
            if k >= 0:
                per_kol[k] = per_kol.get(k, 0.0) + r
        if not per_kol:
            return
        m = self.model
        for i in sorted(per_kol):
            total = per_kol[i]
            if total != 0.0:  # np.flatnonzero's test
                kol = m.kols[i]
                fee = sign * kol.cfg.commission_rate * np.float64(total)
                m.ledger.add_kol_fee(kol.name, self.index, fee)

    def _commission(self, kols: np.ndarray, revenue: np.ndarray, sign: int) -> None:
        m = self.model
        has = kols >= 0
        if not has.any():
            return
        per_kol = np.bincount(kols[has], weights=revenue[has], minlength=len(m.kols))
        for i in np.flatnonzero(per_kol):
            kol = m.kols[i]
            m.ledger.add_kol_fee(kol.name, self.index, sign * kol.cfg.commission_rate * per_kol[i])

    def cancel_orders(self, ids: np.ndarray, hour: int) -> None:
        """Consumers cancel these orders (not yet shipped): release stock, refund."""
        m = self.model
        book = m.orders
        status = book.status[ids]
        held = ids[(status == ALLOCATED) | (status == PICKED)]
        for w in np.unique(book.warehouse[held]):
            m.warehouses[int(w)].release(held[book.warehouse[held] == w])
        back = ids[status == BACKLOG]
        ints.subtract.at(self.backlog_units, book.sku[back], book.quantity[back])
        ints.subtract.at(
            self.backlog_region, (book.sku[back], book.region[back]), book.quantity[back]
        )
        book.cancel(ids)
        skus, qty = book.sku[ids], book.quantity[ids]
        m.ledger.add_units("cancelled", skus, qty)
        refund = book.price[ids] * qty
        m.ledger.add_money("cancel_refunds", self.index, float(refund.sum()))
        self._commission(book.kol[ids], refund, -1)
        m.log(
            "cancellations",
            hour=hour,
            actor=self.name,
            quantity=int(qty.sum()),
            value=float(refund.sum()),
        )

    def take_back(self, ids: np.ndarray, hour: int) -> None:
        """Buyers return these delivered orders: refund, and send them back on a carrier."""
        m = self.model
        book = m.orders
        handling = self.spec.logistics.return_handling_cost_per_unit
        if len(ids) <= _FEW_BACK:  # a few (most calls): the same money on Python numbers
            qty = book.quantity[ids].tolist()
            refunds = [p * q for p, q in zip(book.price[ids].tolist(), qty, strict=True)]
            m.ledger.add_money("return_refunds", self.index, _sum_few(refunds))
            self._commission_few(book.kol[ids].tolist(), refunds, -1)
            m.ledger.add_money("return_cost", self.index, handling * float(sum(qty)))
        else:
            refund = book.price[ids] * book.quantity[ids]
            m.ledger.add_money("return_refunds", self.index, float(refund.sum()))
            self._commission(book.kol[ids], refund, -1)
            units = float(book.quantity[ids].sum())
            m.ledger.add_money("return_cost", self.index, handling * units)
        self.network.contracted_last_mile[0].carry_returns(ids, hour)

    def allocate_backlog(self, hour: int) -> None:
        """Serve waiting pre-orders first-in first-out from stock that has become available."""
        m = self.model
        book = m.orders
        for sku, q in self.backlog.items():
            if len(q._buf) == q._head:  # len(q) == 0, in line (IdQueue.__len__)
                continue
            q.drop_unless(book.status, BACKLOG)
            ids = q.items()
            if len(ids) == 0:
                continue
            avail = self.network.available(sku)
            if avail.sum() <= 0:
                continue
            quantity = book.quantity[ids]

            def fifo(rows: np.ndarray, units: int, quantity: np.ndarray = quantity) -> np.ndarray:
                return np.flatnonzero(np.cumsum(quantity[rows]) <= units)

            chosen = self.network.assign(book.region[ids], quantity, avail, fifo)
            got = chosen >= 0
            if not got.any():
                continue
            served = ids[got]
            ints.subtract.at(self.backlog_units, book.sku[served], book.quantity[served])
            ints.subtract.at(
                self.backlog_region, (book.sku[served], book.region[served]), book.quantity[served]
            )
            for w in np.unique(chosen[got]):
                self.network.warehouses[int(w)].reserve(served[chosen[got] == w])
            q.drop_unless(book.status, BACKLOG)


_SUM_FEW = 7  # up to this many values, _sum_few adds them as numpy's sum does


def _sum_few(values: list[float]) -> float:
    """``float(np.array(values).sum())`` of a few doubles: below eight values numpy's
    reduction adds them in turn to its identity, 0.0 (from eight on, in eight interleaved
    partial sums: numpy is asked then). Held to numpy's sum, bit for bit, in
    ``tests/test_supply_eleventh.py``."""
    if len(values) > _SUM_FEW:
        return float(np.array(values, dtype=np.float64).sum())
    total = 0.0
    for v in values:
        total += v
    return total
