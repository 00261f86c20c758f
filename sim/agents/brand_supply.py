"""Supply, for brands: replenishment reviews, production orders, rush and scale-up orders,
transfers and dynamic KOL tasks.

Every ``review_period_hours``, per SKU: order-up-to on the inventory position

    IP = available + in transit to warehouses + finished goods at factories
         + ordered not yet produced - backlog

The level is ``S = forecast/day · (lead time + review period) + safety stock``, split
between regular and quick-response factories by the sourcing policy. Orders are rounded up to
each factory's MOQ and batch size. A SKU's first order may be a pilot batch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.messages import ProductionJob
from sim.policies.deployment import split_units
from sim.policies.forecast import Signals
from sim.policies.sourcing import SourcingContext

if TYPE_CHECKING:
    from sim.agents.factory import Factory


class SupplyMixin:
    """The supply side of :class:`~sim.agents.brand.Brand`."""

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
            if self.event_plan.active:  # forecast from days no known event touched
                sig = self.event_plan.baseline_signals(sku, sig, hour - 1)
            per_day = max(0.0, self.forecaster.daily(sig)) if len(sig.daily_demand) else 0.0
            recent = sig.daily_demand[-window:]
            base = min(float(np.median(recent)) if len(recent) else 0.0, per_day)
            safety = max(0.0, self.safety.units(per_day, sig))
            if hour < self._safety_boost_until[sku]:
                safety *= self._safety_boost[sku]
            ctx = SourcingContext(
                per_day=per_day,
                base_per_day=base,
                safety_units=safety,
                review_hours=review_h,
                regular=regular or quick,
                quick=quick if regular else [],
                lead_hours=self.lead_time_hours,
                ip_total=self.inventory_position(sku),
                ip_fast=self.inventory_position(sku, fast_only=True),
                backlog=float(self.backlog_units[sku]),
                sku=sku,
                hour=hour,
                events=self.event_plan,
                half_life_days=float(m.novelty_half_life_days[sku]),
            )
            for f, q, is_quick in self.sourcer.orders(ctx):
                q = self._pilot(f, sku, q)
                if is_quick and self.spec.policy.sourcing.pool_split and len(quick) > 1:
                    self.order_from_pool(sku, q, hour, rush=False)
                else:
                    self.order(f, sku, q, hour, quick=f.cfg.role == "quick_response")

    def _pilot(self, f: Factory, sku: int, quantity: int) -> int:
        """The first order of a SKU is a pilot batch (if configured): cap its size.

        A pilot run is agreed with the factory below its MOQ (whole batches only): rounded up
        to the MOQ it would not be a pilot at all.
        """
        cap = self.spec.policy.replenishment.pilot_batch_units
        if cap <= 0 or self._piloted[sku]:
            return quantity
        self._piloted[sku] = True
        self._pilot_pending[sku] = True
        pilot = math.ceil(cap * self.model.scale / f.batch_units) * f.batch_units
        return min(quantity, pilot)

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

    def hold_capacity(
        self, sku: int, hours: float, hour: int, fee_per_unit: float, why: str
    ) -> int:
        """Hold ``hours`` of each quick-response factory's capacity for ``sku`` (a reservation,
        not an order), paying ``fee_per_unit`` per unit held; returns the units held."""
        m = self.model
        total = 0
        for f in self.quick_for(sku):
            units = int(f.capacity_per_hour * hours)
            if units < 1:
                continue
            f.hold(sku, units, hour + int(hours))
            total += units
            m.log(
                hour,
                "capacity_hold",
                self.name,
                m.sku_names[sku],
                units,
                units * fee_per_unit,
                f"{f.name} until hour {hour + int(hours)} ({why})",
            )
        m.ledger.add_money("reservation_cost", self.index, total * fee_per_unit)
        return total

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
