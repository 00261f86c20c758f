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
from sim.orders import ALLOCATED, BACKLOG, CANCELLED, CH_LIVE, PICKED

if TYPE_CHECKING:
    pass


class SellingMixin:
    """The selling side of :class:`~sim.agents.brand.Brand`."""

    def promise_hours(self, hour: int) -> np.ndarray:
        """Delivery promise (hours) from each warehouse to each region, quoted in ``hour``.

        An order placed now is packed once the pick queue ahead of it is done (and the
        parcels already packed have left), rides the first last-mile cut-off after that,
        and arrives one trip later.
        """
        lm_per_hour = max(self._lm_capacity_per_hour(), 1e-9)
        out = np.empty_like(self.trip_hours)
        for i, w in enumerate(self.warehouses):
            wait = w.pick_delay_hours() + w.packed_units / lm_per_hour
            if not math.isfinite(wait):  # no pick capacity: nothing can be promised from here
                out[i] = math.inf
                continue
            ready = hour + 1 + math.ceil(wait)
            cut = min(c.next_dispatch_wait(ready) for c in self.contracted_last_mile)
            out[i] = (ready + cut - hour) + self.trip_hours[i]
        return out

    def _lm_capacity_per_hour(self) -> float:
        return sum(c.capacity_per_day for c in self.last_mile) / 24.0

    def take_orders(
        self,
        *,
        hour,
        sku,
        consumers,
        regions,
        quantity,
        patience,
        channels,
        kols,
        platforms=None,
    ) -> np.ndarray:
        """Accept what can be served now; returns ACCEPTED / SOLD_OUT / TOO_SLOW per wish.

        Wishes arrive in their order within the hour; the allocation policy decides who gets
        scarce stock. Wishes that no warehouse can serve become pre-orders while presale is
        open (if the consumer accepts the presale promise).
        """
        m = self.model
        k = len(consumers)
        if platforms is None:
            platforms = np.zeros(k, dtype=np.int16)
        priority = m.platform_priority[platforms]
        avail = np.array([w.available(sku) for w in self.warehouses], dtype=np.int64)
        had_stock = avail.copy()
        promise = self.promise_hours(hour)
        cand = self.candidates[regions]
        chosen = np.full(k, -1, dtype=np.int64)
        fits_somewhere = np.zeros(k, dtype=bool)
        for c in range(cand.shape[1]):
            wh = cand[:, c]
            stock_ok = had_stock[wh] >= quantity
            fits_somewhere |= stock_ok
            ok = stock_ok & (chosen < 0) & (promise[wh, regions] <= patience)
            for w in range(len(self.warehouses)):
                if avail[w] <= 0:
                    continue
                sel = np.flatnonzero(ok & (wh == w))
                if len(sel) == 0:
                    continue
                take = sel[
                    self.allocator.select(quantity[sel], regions[sel], priority[sel], int(avail[w]))
                ]
                chosen[take] = w
                avail[w] -= int(quantity[take].sum())
        outcome = np.where(fits_somewhere, TOO_SLOW, SOLD_OUT).astype(np.int8)
        accepted = chosen >= 0
        outcome[accepted] = ACCEPTED
        if accepted.any():
            a = np.flatnonzero(accepted)
            ids = self._book(
                hour,
                sku,
                consumers[a],
                regions[a],
                quantity[a],
                channels[a],
                kols[a],
                platforms[a],
                promise[chosen[a], regions[a]],
            )
            for w in np.unique(chosen[a]):
                self.warehouses[int(w)].reserve(ids[chosen[a] == w])
        if self.presale_open[sku] and not accepted.all():
            self._take_preorders(
                hour,
                sku,
                consumers,
                regions,
                quantity,
                patience,
                channels,
                kols,
                platforms,
                outcome,
            )
        return outcome

    def _take_preorders(
        self, hour, sku, consumers, regions, quantity, patience, channels, kols, platforms, outcome
    ) -> None:
        m = self.model
        p = self.spec.policy.presale
        mult = m.config.market.consumer.presale_patience_multiplier
        idx = np.flatnonzero((outcome != ACCEPTED) & (patience * mult >= p.promise_hours))
        if p.max_backlog_units > 0:
            room = p.max_backlog_units * m.scale - self.backlog_units[sku]
            idx = idx[np.cumsum(quantity[idx]) <= room]
        if len(idx) == 0:
            return
        ids = self._book(
            hour,
            sku,
            consumers[idx],
            regions[idx],
            quantity[idx],
            channels[idx],
            kols[idx],
            platforms[idx],
            np.full(len(idx), p.promise_hours),
        )
        self.backlog[sku].push(ids)
        self.backlog_units[sku] += int(quantity[idx].sum())
        np.add.at(self.backlog_region, (np.full(len(idx), sku), regions[idx]), quantity[idx])
        outcome[idx] = ACCEPTED

    def set_presale(self, sku: int, is_open: bool, hour: int, why: str) -> None:
        """Open or close presale of a SKU (logged)."""
        if bool(self.presale_open[sku]) == is_open:
            return
        self.presale_open[sku] = is_open
        kind = "presale_open" if is_open else "presale_close"
        self.model.log(
            hour, kind, self.name, self.model.sku_names[sku], int(self.backlog_units[sku]), 0.0, why
        )

    def _book(self, hour, sku, consumers, regions, quantity, channels, kols, platforms, promise):
        """Record accepted orders: order book, sales, payment, commissions, cancel checks."""
        m = self.model
        price = m.price[sku]
        ids = m.orders.add(
            consumer=consumers,
            sku=sku,
            brand=self.index,
            region=regions,
            quantity=quantity,
            price=price,
            warehouse=-1,
            status=BACKLOG,
            channel=channels,
            kol=kols,
            platform=platforms,
            impulse=channels == CH_LIVE,
            defective=False,
            placed_hour=hour,
            promise_hours=promise,
            shipped_hour=-1,
            delivered_hour=-1,
        )
        m.ledger.add_region_flow("sold", np.full(len(ids), sku), regions, quantity)
        np.add.at(m.ledger.platform_units["sold"], (sku, platforms), quantity)
        revenue = price * quantity
        m.ledger.add_money("paid", self.index, float(revenue.sum()))
        self._commission(kols, revenue, +1)
        grace = m.config.market.consumer.cancel_grace_hours
        deadlines = hour + np.ceil(promise + grace).astype(np.int64)
        m.population.watch_order(ids, deadlines)
        return ids

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
        np.subtract.at(self.backlog_units, book.sku[back], book.quantity[back])
        np.subtract.at(
            self.backlog_region, (book.sku[back], book.region[back]), book.quantity[back]
        )
        book.set("status", ids, CANCELLED)
        skus, qty = book.sku[ids], book.quantity[ids]
        m.ledger.add_units("cancelled", skus, qty)
        refund = book.price[ids] * qty
        m.ledger.add_money("cancel_refunds", self.index, float(refund.sum()))
        self._commission(book.kol[ids], refund, -1)
        m.log(hour, "cancellations", self.name, "", int(qty.sum()), float(refund.sum()), "")

    def take_back(self, ids: np.ndarray, hour: int) -> None:
        """Buyers return these delivered orders: refund, and send them back on a carrier."""
        m = self.model
        book = m.orders
        refund = book.price[ids] * book.quantity[ids]
        m.ledger.add_money("return_refunds", self.index, float(refund.sum()))
        self._commission(book.kol[ids], refund, -1)
        handling = self.spec.logistics.return_handling_cost_per_unit
        m.ledger.add_money("return_cost", self.index, handling * float(book.quantity[ids].sum()))
        self.contracted_last_mile[0].carry_returns(ids, hour)

    def allocate_backlog(self, hour: int) -> None:
        """Serve waiting pre-orders first-in first-out from stock that has become available."""
        m = self.model
        book = m.orders
        for sku, q in self.backlog.items():
            if len(q) == 0:
                continue
            q.drop_unless(book.cols["status"], BACKLOG)
            ids = q.items()
            if len(ids) == 0:
                continue
            avail = np.array([w.available(sku) for w in self.warehouses], dtype=np.int64)
            if avail.sum() <= 0:
                continue
            regions = book.region[ids]
            quantity = book.quantity[ids]
            cand = self.candidates[regions]
            chosen = np.full(len(ids), -1, dtype=np.int64)
            for c in range(cand.shape[1]):
                wh = cand[:, c]
                for w in range(len(self.warehouses)):
                    if avail[w] <= 0:
                        continue
                    sel = np.flatnonzero((chosen < 0) & (wh == w))
                    cum = np.cumsum(quantity[sel])
                    take = sel[cum <= avail[w]]
                    chosen[take] = w
                    avail[w] -= int(quantity[take].sum())
            got = chosen >= 0
            if not got.any():
                continue
            served = ids[got]
            np.subtract.at(self.backlog_units, book.sku[served], book.quantity[served])
            np.subtract.at(
                self.backlog_region, (book.sku[served], book.region[served]), book.quantity[served]
            )
            for w in np.unique(chosen[got]):
                self.warehouses[int(w)].reserve(served[chosen[got] == w])
            q.drop_unless(book.cols["status"], BACKLOG)
