"""Brand agents: sell, sense, forecast, replenish, and pull the flexibility levers.

Selling: a wish for one of the brand's SKUs is routed (routing policy) to the first candidate
warehouse that has the units available and whose delivery promise fits the consumer's
patience. Scarce stock is shared by the allocation policy. Otherwise the wish becomes a
pre-order when presale is open (and the presale promise fits), or is refused as *sold out*
or *too slow*.

Sensing, every hour: demand and views per SKU, stock-outs (network-wide and per warehouse),
the hot-spot signal, and the live levers (rush, presale, hot-spot grading).

Replenishing, every ``review_period_hours``, per SKU: order-up-to on the inventory position

    IP = available + in transit to warehouses + finished goods at factories
         + ordered not yet produced - backlog

The level is ``S = forecast/day · (lead time + review period) + safety stock``, split
between regular and quick-response factories by the sourcing policy. Orders are rounded up to
each factory's MOQ and batch size.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.agents.consumers import ACCEPTED, SOLD_OUT, TOO_SLOW
from sim.config import BrandSpec
from sim.messages import ProductionJob
from sim.orders import ALLOCATED, BACKLOG, CANCELLED, CH_LIVE, PICKED
from sim.policies import registry
from sim.policies.deployment import split_units
from sim.policies.forecast import Signals
from sim.policies.routing import RoutingContext
from sim.policies.sourcing import SourcingContext
from sim.queues import IdQueue

if TYPE_CHECKING:
    from sim.agents.carrier import Carrier
    from sim.agents.factory import Factory
    from sim.agents.warehouse import Warehouse
    from sim.model import ViralChainModel


class Brand(mesa.Agent):
    """A brand: its catalogue, its network (factories, warehouses, carriers) and its rules."""

    def __init__(self, model: ViralChainModel, index: int, spec: BrandSpec):
        super().__init__(model)
        self.index, self.spec = index, spec
        self.name = spec.brand.name
        self.skus = np.array([model.sku_index[s] for s in spec.brand.products], dtype=np.int64)
        self.warehouses: list[Warehouse] = []
        self.factories: list[Factory] = []
        self.carriers: list[Carrier] = []
        p = spec.policy
        self.forecaster = registry.build("forecast", p.forecast)
        self.safety = registry.build("safety_stock", p.safety_stock)
        self.router = registry.build("routing", p.routing)
        self.deployer = registry.build("deployment", p.deployment)
        self.sourcer = registry.build("sourcing", p.sourcing)
        self.allocator = registry.build("allocation", p.allocation)
        self.rush = registry.build("rush", p.rush)
        self.presale = registry.build("presale", p.presale)
        self.opportunity = registry.build("opportunity", p.opportunity)
        self.prepositioning = registry.build("prepositioning", p.prepositioning)
        self.information = registry.build("information", p.information)
        self.assortment = registry.build("assortment", p.assortment)
        n, H = model.n_sku, model.horizon_hours
        self.backlog = {int(s): IdQueue() for s in self.skus}
        self.backlog_units = np.zeros(n, dtype=np.int64)
        self.backlog_region = np.zeros((n, len(model.geo)), dtype=np.int64)
        self.presale_open = np.zeros(n, dtype=bool)
        self.hourly_demand = np.zeros((H, n), dtype=np.int64)
        self.hourly_views = np.zeros((H, n), dtype=np.int64)
        self.daily_ordered = np.zeros((math.ceil(H / 24), n), dtype=np.int64)
        self.stockout_hours = np.zeros(n, dtype=np.int64)
        self._stockout_since = np.full(n, -1, dtype=np.int64)
        self._wh_stockout = None
        self.signal_hour = np.full(n, -1, dtype=np.int64)  # first projected stock-out
        self.response_hour = np.full(n, -1, dtype=np.int64)  # first replenishment after it
        self._jobs_after_signal: set[int] = set()
        self._job_counter = 0
        self._task_counter = 0
        self._safety_boost = np.ones(n)
        self._safety_boost_until = np.zeros(n, dtype=np.int64)
        self._piloted = np.zeros(n, dtype=bool)
        self._pilot_pending = np.zeros(n, dtype=bool)
        self.stopped = np.zeros(n, dtype=bool)  # designs stopped by test-and-learn

    # ------------------------------------------------------------------ wiring
    def attach(self, warehouses, factories, carriers) -> None:
        """Give the brand its network (called once by the model)."""
        m = self.model
        self.warehouses, self.factories, self.carriers = warehouses, factories, carriers
        self.last_mile = [c for c in carriers if c.kind == "last_mile"]
        self.contracted_last_mile = [c for c in self.last_mile if not c.cfg.elastic]
        self.line_haul = [c for c in carriers if c.kind == "line_haul"]
        self._names = [w.name for w in warehouses]
        self.central = next(i for i, w in enumerate(warehouses) if w.cfg.kind == "central")
        n_reg = len(m.geo)
        assigned = np.full(n_reg, self.central, dtype=np.int32)
        for i, w in enumerate(warehouses):
            for r in w.cfg.serves:
                assigned[m.geo.index[r]] = i
        self.assigned = assigned
        wh_regions = np.array([w.region for w in warehouses])
        self.distance_km = m.geo.distance_km[wh_regions]  # (W, R)
        lm_cost = np.min(
            [
                c.cfg.cost_per_unit_km * self.distance_km + c.cfg.cost_per_unit
                for c in self.contracted_last_mile
            ],
            axis=0,
        )
        handling = np.array([w.cfg.handling_cost_per_unit for w in warehouses])[:, None]
        self.candidates = self.router.candidates(
            RoutingContext(assigned, self.distance_km, lm_cost + handling)
        )
        share = np.zeros(len(warehouses))
        np.add.at(share, assigned, m.geo.population_share)
        self.demand_share = share
        self._wh_stockout = np.full((len(warehouses), m.n_sku), -1, dtype=np.int64)
        lm = self.contracted_last_mile[0]
        self.trip_hours = np.array(
            [
                [lm.trip_hours(self.distance_km[w, r]) for r in range(n_reg)]
                for w in range(len(warehouses))
            ],
            dtype=float,
        )
        self.regular = sorted(
            (f for f in factories if f.cfg.role == "regular"), key=lambda f: f.cfg.cost_factor
        )
        self.quick = sorted(
            (f for f in factories if f.cfg.role == "quick_response"),
            key=lambda f: f.cfg.cost_factor,
        )
        self.prepositioning.plan(self)
        self.assortment.plan(self)

    def deploy(self, units: int) -> np.ndarray:
        """Split new stock across warehouses (local order) by the deployment policy."""
        w = self.deployer.weights(self.central, self.demand_share)
        return split_units(units, w)

    def place_initial_stock(self) -> None:
        """Put each product's initial stock into the warehouses (hour 0)."""
        m = self.model
        factor = min(f.cfg.cost_factor for f in self.regular)
        for name, prod in self.spec.brand.products.items():
            sku = m.sku_index[name]
            units = math.ceil(prod.initial_stock_units * m.scale)
            if units <= 0:
                continue
            for w, u in zip(self.warehouses, self.deploy(units), strict=True):
                if u:
                    w.place_initial(sku, int(u))
            m.ledger.add_units("initial", sku, units)
            m.ledger.record_made(sku, units, float(m.product_unit_cost[sku]) * factor)

    # ------------------------------------------------------------------ observations
    def available_total(self, sku: int) -> int:
        """Units available (not promised) across the brand's warehouses."""
        return sum(w.available(sku) for w in self.warehouses)

    def demand_rate(self, sku: int, hour: int, hours: int) -> float:
        """Mean demand per hour over the ``hours`` up to and including ``hour``."""
        lo = max(0, hour - hours + 1)
        return float(self.hourly_demand[lo : hour + 1, sku].sum()) / max(1, hour + 1 - lo)

    def views_rate(self, sku: int, hour: int, hours: int) -> float:
        """Mean content views per hour over the ``hours`` up to and including ``hour``."""
        lo = max(0, hour - hours + 1)
        return float(self.hourly_views[lo : hour + 1, sku].sum()) / max(1, hour + 1 - lo)

    def inbound_to(self, wh_local: int, sku: int) -> int:
        """Units of ``sku`` on their way to one of the brand's warehouses."""
        g = self.warehouses[wh_local].gindex
        return sum(int(c.stock_in_transit_to[sku, g]) for c in self.line_haul)

    def regular_for(self, sku: int) -> list[Factory]:
        """Regular factories that can make ``sku``, cheapest first."""
        return [f for f in self.regular if f.sku_mask[sku]]

    def quick_for(self, sku: int) -> list[Factory]:
        """Quick-response factories that can make ``sku``, cheapest first."""
        return [f for f in self.quick if f.sku_mask[sku]]

    def quick_capacity_per_hour(self, sku: int) -> float:
        """Output per hour of the quick-response factories for ``sku`` (regular if none)."""
        pool = self.quick_for(sku) or self.regular_for(sku)
        return sum(f.capacity_per_hour for f in pool)

    # ------------------------------------------------------------------ selling
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

    # ------------------------------------------------------------------ sensing
    def observe(self, hour: int) -> None:
        """Record this hour's signals, track stock-outs, and run the live levers."""
        m = self.model
        led = m.ledger
        self.hourly_demand[hour] = led.hour["demand"].sum(axis=1)
        self.hourly_views[hour] = led.hour["views"].sum(axis=1)
        for sku in self.skus:
            sku = int(sku)
            if m.sellable_from[sku] > hour:
                continue
            self._track_stockouts(sku, hour)
            self.presale.update(self, sku, hour)
            self.rush.watch(self, sku, hour)
            self.opportunity.watch(self, sku, hour)

    def _track_stockouts(self, sku: int, hour: int) -> None:
        m = self.model
        per_wh = np.array([w.available(sku) for w in self.warehouses])
        total = int(per_wh.sum())
        name = m.sku_names[sku]
        if total <= 0:
            self.stockout_hours[sku] += 1
            if self._stockout_since[sku] < 0:
                self._stockout_since[sku] = hour
                m.log(hour, "stockout_start", self.name, name, 0, 0.0, "network")
        elif self._stockout_since[sku] >= 0:
            dur = hour - self._stockout_since[sku]
            m.log(hour, "stockout_end", self.name, name, 0, 0.0, f"network, {dur}h")
            self._stockout_since[sku] = -1
        for i, w in enumerate(self.warehouses):
            if per_wh[i] <= 0 and self._wh_stockout[i, sku] < 0:
                self._wh_stockout[i, sku] = hour
                m.log(hour, "stockout_start", w.name, name, 0, 0.0, "warehouse")
            elif per_wh[i] > 0 and self._wh_stockout[i, sku] >= 0:
                dur = hour - self._wh_stockout[i, sku]
                m.log(hour, "stockout_end", w.name, name, 0, 0.0, f"warehouse, {dur}h")
                self._wh_stockout[i, sku] = -1
        # hot-spot signal: demand of the last 24 h reaches the stock available
        if self.signal_hour[sku] < 0:
            last_day = self.hourly_demand[max(0, hour - 23) : hour + 1, sku].sum()
            if last_day > 0 and last_day >= total:
                self.signal_hour[sku] = hour
                m.log(
                    hour,
                    "hotspot_signal",
                    self.name,
                    name,
                    int(last_day),
                    0.0,
                    f"24h demand {last_day} >= available {total}",
                )

    def note_arrival(self, sku: int, hour: int, job_ids: tuple[int, ...] = ()) -> None:
        """Goods reached a warehouse: the first arrival after the signal ends the response."""
        if (
            self.signal_hour[sku] >= 0
            and self.response_hour[sku] < 0
            and any(j in self._jobs_after_signal for j in job_ids)
        ):
            self.response_hour[sku] = hour

    def signals(self, sku: int, hour: int) -> Signals:
        """Daily demand and views in 24-hour windows ending at ``hour`` (oldest first)."""
        n_days = (hour + 1) // 24
        start = hour + 1 - 24 * n_days
        d = self.hourly_demand[start : hour + 1, sku].reshape(n_days, 24).sum(axis=1)
        v = self.hourly_views[start : hour + 1, sku].reshape(n_days, 24).sum(axis=1)
        return Signals(
            daily_demand=d.astype(float),
            daily_views=v.astype(float),
            presale_units=float(self.backlog_units[sku]),
        )

    # ------------------------------------------------------------------ replenishing
    def inventory_position(self, sku: int, fast_only: bool = False) -> float:
        """Available + in transit + finished goods + open production - backlog."""
        avail = self.available_total(sku)
        transit = sum(int(c.stock_in_transit[sku]) for c in self.line_haul)
        fg = sum(int(f.fg[sku].sum()) for f in self.factories)
        factories = self.quick if fast_only else self.factories
        open_prod = sum(int(f.open_units[sku]) for f in factories)
        return float(avail + transit + fg + open_prod - self.backlog_units[sku])

    def lead_time_hours(self, f: Factory) -> float:
        """Nominal lead time of a factory: materials, a day of production, transport."""
        m = self.model
        lh = self.line_haul[0]
        central = self.warehouses[self.central]
        trip = lh.trip_hours(m.geo.km(f.region, central.region))
        wait = 24.0 / len(lh.cfg.dispatch_hours) / 2.0
        return f.nominal_material_hours() + 24.0 + wait + trip

    def raise_safety(self, sku: int, multiplier: float, until_hour: int) -> None:
        """Multiply the safety stock of a SKU until ``until_hour`` (a hot-spot response)."""
        self._safety_boost[sku] = max(self._safety_boost[sku], multiplier)
        self._safety_boost_until[sku] = max(self._safety_boost_until[sku], until_hour)

    def review(self) -> None:
        """Periodic review: forecast and place production orders (event callback)."""
        m = self.model
        hour = m.hour
        review_h = self.spec.policy.replenishment.review_period_hours
        window = self.spec.policy.forecast.window_days
        self.prepositioning.rebalance(self, hour)
        for sku in self.skus:
            sku = int(sku)
            if not self.assortment.replenishes(self, sku):
                continue
            regular, quick = self.regular_for(sku), self.quick_for(sku)
            if not regular and not quick:
                continue
            sig = self.signals(sku, hour - 1) if hour > 0 else Signals(np.zeros(0), np.zeros(0))
            per_day = max(0.0, self.forecaster.daily(sig))
            recent = sig.daily_demand[-window:]
            base = float(np.median(recent)) if len(recent) else 0.0
            safety = max(0.0, self.safety.units(per_day, sig))
            if hour < self._safety_boost_until[sku]:
                safety *= self._safety_boost[sku]
            ctx = SourcingContext(
                per_day=per_day,
                base_per_day=min(base, per_day),
                safety_units=safety,
                review_hours=review_h,
                regular=regular or quick,
                quick=quick if regular else [],
                lead_hours=self.lead_time_hours,
                ip_total=self.inventory_position(sku),
                ip_fast=self.inventory_position(sku, fast_only=True),
            )
            for f, q, is_quick in self.sourcer.orders(ctx):
                q = self._pilot(f, sku, q)
                if is_quick and self.spec.policy.sourcing.pool_split and len(quick) > 1:
                    self.order_from_pool(sku, q, hour, rush=False)
                else:
                    self.order(f, sku, q, hour, quick=f.cfg.role == "quick_response")

    def _pilot(self, f: Factory, sku: int, quantity: int) -> int:
        """The first order of a SKU is a pilot batch (if configured): cap its size."""
        cap = self.spec.policy.replenishment.pilot_batch_units
        if cap <= 0 or self._piloted[sku]:
            return quantity
        self._piloted[sku] = True
        self._pilot_pending[sku] = True
        return min(quantity, f.order_quantity(cap * self.model.scale))

    def order_from_pool(
        self, sku: int, quantity: int, hour: int, *, rush: bool, why: str = ""
    ) -> None:
        """Cloud-factory pool: split an order across quick-response factories by free
        capacity (capacity over the coming day minus work already queued)."""
        pool = self.quick_for(sku)
        free = np.array([max(0.0, f.capacity_per_hour * 24 - f.open_units.sum()) for f in pool])
        if free.sum() <= 0:
            free = np.array([f.capacity_per_hour for f in pool])
        for f, part in zip(pool, split_units(quantity, free), strict=True):
            q = f.order_quantity(int(part))
            if q:
                self.order(f, sku, q, hour, quick=True, rush=rush, why=why)

    def place_rush(self, sku: int, quantity: int, hour: int, why: str) -> None:
        """An expedited order at the quick-response factories (the regular one if none)."""
        quick = self.quick_for(sku)
        if quick and self.spec.policy.sourcing.pool_split and len(quick) > 1:
            self.order_from_pool(sku, quantity, hour, rush=True, why=why)
            return
        pool = quick or self.regular_for(sku)
        if not pool:
            return
        q = pool[0].order_quantity(quantity)
        if q:
            self.order(pool[0], sku, q, hour, quick=bool(quick), rush=True, why=why)

    def place_scale_up(self, sku: int, quantity: int, hour: int) -> None:
        """A scale-up order for a winning design (quick-response if possible)."""
        pool = self.quick_for(sku) or self.regular_for(sku)
        if pool:
            q = pool[0].order_quantity(quantity)
            if q:
                self.order(
                    pool[0],
                    sku,
                    q,
                    hour,
                    quick=pool[0].cfg.role == "quick_response",
                    why="scale-up of a winning design",
                )

    def order(
        self,
        f: Factory,
        sku: int,
        quantity: int,
        hour: int,
        *,
        quick: bool,
        rush: bool = False,
        why: str = "",
    ) -> ProductionJob:
        """Send a production job to factory ``f``; stock is deployed by policy."""
        m = self.model
        split = self.deploy(quantity)
        dest = tuple((self._names[i], int(u)) for i, u in enumerate(split) if u > 0)
        self._job_counter += 1
        job = ProductionJob(
            job_id=self._job_counter * 1000 + self.index,
            brand=self.name,
            sku=m.sku_names[sku],
            sku_index=sku,
            quantity=int(quantity),
            destinations=dest,
            placed_hour=hour,
            quick_response=quick,
            rush=rush,
        )
        if self.signal_hour[sku] >= 0:
            self._jobs_after_signal.add(job.job_id)
        m.jobs[job.job_id] = job
        f.accept(job)
        m.ledger.add_money("setup_cost", self.index, f.cfg.setup_cost_per_order * m.scale)
        m.ledger.add_units("units_ordered", sku, quantity)
        if quick:
            m.ledger.add_units("units_ordered_quick", sku, quantity)
        if rush:
            premium = quantity * self.spec.policy.rush.premium_per_unit
            m.ledger.add_money("rush_premium_cost", self.index, premium)
        day = min(hour // 24, len(self.daily_ordered) - 1)
        self.daily_ordered[day, sku] += quantity
        kind = "rush_order" if rush else "production_order"
        if self._pilot_pending[sku] and not rush:
            kind = "pilot_batch"
            self._pilot_pending[sku] = False
        detail = f"{f.name} job {job.job_id}" + (" quick-response" if quick else "")
        if why:
            detail += f" ({why})"
        m.log(
            hour,
            kind,
            self.name,
            m.sku_names[sku],
            quantity,
            quantity * float(f.cost_per_unit[sku]),
            detail,
        )
        return job

    # ------------------------------------------------------------------ other levers
    def transfer(self, sku: int, src: int, dst: int, units: int, hour: int, why: str) -> int:
        """Move available stock between two of the brand's warehouses on the line-haul."""
        s, d = self.warehouses[src], self.warehouses[dst]
        moved = self.line_haul[0].transfer(sku, s, d, units, hour)
        if moved:
            self.model.log(
                hour,
                "transfer",
                self.name,
                self.model.sku_names[sku],
                moved,
                0.0,
                f"{s.name} -> {d.name} ({why})",
            )
        return moved

    def book_dynamic_posts(self, sku: int, n: int, hour: int) -> None:
        """Dynamic tasks: ask KOLs of the roster (mid, tail, KOC; fastest first) for posts."""
        m = self.model
        roster = sorted(
            (k for k in m.kols if k.cfg.tier != "head"),
            key=lambda k: (k.cfg.response_hours, k.name),
        )
        if not roster:
            return
        for i in range(n):
            kol = roster[i % len(roster)]
            self._task_counter += 1
            at = hour + max(1, math.ceil(kol.cfg.response_hours))
            post_id = f"task{self._task_counter}-{self.name}-{kol.name}"
            kol.plan(post_id, at, "short_video", np.array([sku], dtype=np.int64), 1)
            m.log(
                hour,
                "dynamic_task",
                self.name,
                m.sku_names[sku],
                1,
                0.0,
                f"{kol.name} posts at hour {at}",
            )
