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

from sim.clock import HOURS_PER_DAY
from sim.messages import ProductionJob
from sim.policies.deployment import split_units
from sim.policies.events import EventPlan
from sim.policies.forecast import Signals
from sim.policies.forecast import median as _median
from sim.policies.sourcing import SourcingContext

if TYPE_CHECKING:
    from sim.agents.brand_network import BrandNetwork
    from sim.agents.brand_selling import Selling
    from sim.agents.brand_sensing import Sensing
    from sim.agents.factory import Factory
    from sim.config import BrandSpec
    from sim.model import ViralChainModel
    from sim.policies.protocols import Deployment, Forecast, SafetyStock, Sourcing


class Supply:
    """The brand's supply: production orders, transfers and dynamic content tasks.

    Attributes:
        daily_ordered: (day, SKU) units ordered from factories.
    """

    def __init__(
        self,
        model: ViralChainModel,
        index: int,
        name: str,
        spec: BrandSpec,
        network: BrandNetwork,
        sensing: Sensing,
        selling: Selling,
        *,
        forecaster: Forecast,
        safety: SafetyStock,
        sourcer: Sourcing,
        deployer: Deployment,
    ):
        self.model, self.index, self.name, self.spec = model, index, name, spec
        self._mto = bool(spec.policy.presale.make_to_order)  # asked every hour
        self.network, self.sensing, self.selling = network, sensing, selling
        self.forecaster, self.safety, self.sourcer = forecaster, safety, sourcer
        self.deployer = deployer
        n = model.n_sku
        self.daily_ordered = np.zeros(
            (math.ceil(model.horizon_hours / HOURS_PER_DAY), n), dtype=np.int64
        )
        self._job_counter = 0
        self._task_counter = 0
        self._safety_boost = np.ones(n)
        self._safety_boost_until = np.zeros(n, dtype=np.int64)
        self._piloted = np.zeros(n, dtype=bool)
        # regular orders per SKU as (hour due at the warehouses, units), oldest first
        self._regular_due: list[list[tuple[float, int]]] = [[] for _ in range(n)]
        self._pilot_pending = np.zeros(n, dtype=bool)
        # known calendar events (policy.replenishment.planner=event_aware)
        self.event_plan = EventPlan(model, name, spec.policy.replenishment)

    def deploy(self, units: int) -> np.ndarray:
        """Split new stock across warehouses (local order) by the deployment policy."""
        w = self.deployer.weights(self.network.central, self.network.demand_share)
        return split_units(units, w)

    def place_initial_stock(self) -> None:
        """Put each product's initial stock into the warehouses (hour 0).

        An event-aware planner adds the stock plan for the known events its regular factory
        cannot reach in time (planned before the run: the stock agreed with the streamer's
        team, article 001). The event plan is made here, once the KOLs exist.
        """
        m = self.model
        rp = self.spec.policy.replenishment
        self.event_plan.read_calendar(
            np.array([m.sku_index[s] for s in self.spec.brand.products], dtype=np.int64)
        )
        factor = min(f.cfg.cost_factor for f in self.network.regular)
        for name, prod in self.spec.brand.products.items():
            sku = m.sku_index[name]
            units = math.ceil(prod.initial_stock_units * m.scale)
            if self.event_plan.active:
                # due as the reviews count it (earlier by the time to make a big event's
                # stock), so an event is planned here or by a review, never by neither
                first = min(self.network.regular, key=self.network.lead_time_hours)
                reach = rp.first_review_hour + self.network.lead_time_hours(first)
                rate = first.capacity_per_hour
                # from -inf: a big early event is due before hour 0 and still planned here
                units += math.ceil(
                    self.event_plan.units(sku, -math.inf, reach, 0, make_per_hour=rate)
                )
                self.event_plan.mark_planned(sku, -math.inf, reach, 0, make_per_hour=rate)
            if units <= 0:
                continue
            for w, u in zip(self.network.warehouses, self.deploy(units), strict=True):
                if u:
                    w.place_initial(sku, int(u))
            m.ledger.add_units("initial", sku, units)
            m.ledger.record_made(sku, units, float(m.product_unit_cost[sku]) * factor)

    def inventory_position(self, sku: int, fast_only: bool = False) -> float:
        """Available + in transit + finished goods + open production - backlog."""
        net = self.network
        # whole units as plain ints (exact, in any order)
        avail = net.available_total(sku)
        transit = sum([c.stock_in_transit.item(sku) for c in net.line_haul])
        fg = sum([sum(f.fg[sku].tolist()) for f in net.factories])
        factories = net.quick if fast_only else net.factories
        open_prod = sum([f.open_units.item(sku) for f in factories])
        # this line as it was: experiments/mutants.py rewrites it
        return float(avail + transit + fg + open_prod - self.selling.backlog_units[sku])

    def regular_due_within(self, sku: int, hour: int, hours: float) -> int:
        """Units ordered from regular factories, not yet produced, due within ``hours``.

        Regular factories make their orders first in, first out, so the units still open are
        those of the latest orders; of these, count the ones whose nominal arrival (order hour
        + lead time) falls within ``hours`` from now.
        """
        open_units = sum(int(f.open_units[sku]) for f in self.network.regular)
        due = 0
        for due_hour, units in reversed(self._regular_due[sku]):
            if open_units <= 0:
                break
            part = min(units, open_units)
            open_units -= part
            if due_hour <= hour + hours:
                due += part
        return due

    def raise_safety(self, sku: int, multiplier: float, until_hour: int) -> None:
        """Multiply the safety stock of a SKU until ``until_hour`` (a hot-spot response)."""
        self._safety_boost[sku] = max(self._safety_boost[sku], multiplier)
        self._safety_boost_until[sku] = max(self._safety_boost_until[sku], until_hour)

    def review(self, hour: int, skus: list[int]) -> None:
        """Periodic review of ``skus``: forecast and place production orders."""
        m = self.model
        net = self.network
        review_h = self.spec.policy.replenishment.review_period_hours
        window = self.spec.policy.forecast.window_days
        joint: list[tuple[int, int, list[Factory]]] = []  # max_flow: needs allocated together
        for sku in skus:
            regular, quick = net.regular_for(sku), net.quick_for(sku)
            if not regular and not quick:
                continue
            backlog = float(self.selling.backlog_units[sku])
            sig = (
                self.sensing.signals(sku, hour - 1, backlog)
                if hour > 0
                else Signals(np.zeros(0), np.zeros(0))
            )
            if self.event_plan.active:  # forecast from days no known event touched
                sig = self.event_plan.baseline_signals(sku, sig, hour - 1)
            per_day = max(0.0, self.forecaster.daily(sig)) if len(sig.daily_demand) else 0.0
            recent = sig.daily_demand[-window:]
            base = min(_median(recent) if len(recent) else 0.0, per_day)
            safety = max(0.0, self.safety.units(per_day, sig))
            if hour < self._safety_boost_until[sku]:
                safety *= self._safety_boost[sku]
            if self.makes_to_order(sku, hour):
                self._make_to_order(sku, hour, [*regular, *quick])
                continue
            ctx = SourcingContext(
                per_day=per_day,
                base_per_day=base,
                safety_units=safety,
                review_hours=review_h,
                regular=regular or quick,
                quick=quick if regular else [],
                lead_hours=net.lead_time_hours,
                ip_total=self.inventory_position(sku),
                ip_fast=self.inventory_position(sku, fast_only=True),
                regular_due_fast=float(
                    self.regular_due_within(sku, hour, net.lead_time_hours(quick[0]))
                    if quick and regular
                    else 0
                ),
                backlog=backlog,
                sku=sku,
                hour=hour,
                events=self.event_plan,
                half_life_days=float(m.novelty_half_life_days[sku]),
                price=float(m.price[sku]),
                salvage_fraction=float(m.salvage_fraction[sku]),
            )
            for f, q, is_quick in self.sourcer.orders(ctx):
                q = self._pilot(f, sku, q)
                if not is_quick and getattr(self.sourcer, "joint", False):
                    joint.append((sku, q, ctx.regular))
                    continue
                if is_quick and self.spec.policy.sourcing.pool_split and len(quick) > 1:
                    self.order_from_pool(sku, q, hour, rush=False)
                else:
                    self.order(f, sku, q, hour, quick=f.cfg.role == "quick_response")
        if joint:
            self._order_by_max_flow(joint, hour, review_h)

    def _order_by_max_flow(
        self, joint: list[tuple[int, int, list[Factory]]], hour: int, review_h: int
    ) -> None:
        """``max_flow`` sourcing: allocate the reviewed SKUs' needs over the factories that
        make them, each offering its capacity over the review period minus its open work;
        each part is rounded to the factory's MOQ and batch."""
        plants = list(dict.fromkeys(f for _, _, fs in joint for f in fs))
        free = [
            max(0.0, f.capacity_per_hour * f.capacity_factor * review_h - float(f.open_units.sum()))
            for f in plants
        ]
        parts = self.sourcer.allocate([(q, fs) for _, q, fs in joint], free, plants)
        for f, i, units in parts:
            q = f.order_quantity(units)
            self.order(f, joint[i][0], q, hour, quick=f.cfg.role == "quick_response")

    def makes_to_order(self, sku: int, hour: int) -> bool:
        """Whether ``sku`` is made to its pre-orders only now (``policy.presale.make_to_order``:
        presale open and the product not launched yet)."""
        return bool(self._mto and self.selling.presale_open.item(sku))

    def _make_to_order(self, sku: int, hour: int, factories: list[Factory]) -> None:
        """Sell, then make: order the pre-orders not yet covered by stock or production, lot
        for lot, at the factory whose smallest lot fits them best (cheapest on a tie): no
        forecast, no safety stock, no speculative lot."""
        need = -self.inventory_position(sku)
        if need <= 0:
            return
        f = min(factories, key=lambda f: (f.order_quantity(need), float(f.cost_per_unit[sku])))
        q = self._pilot(f, sku, f.order_quantity(need))
        if q:
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
        pool = self.network.quick_for(sku)
        free = np.array(
            [max(0.0, f.capacity_per_hour * HOURS_PER_DAY - f.open_units.sum()) for f in pool]
        )
        if free.sum() <= 0:
            free = np.array([f.capacity_per_hour for f in pool])
        for f, part in zip(pool, split_units(quantity, free), strict=True):
            q = f.order_quantity(int(part))
            if q:
                self.order(f, sku, q, hour, quick=True, rush=rush, why=why)

    def place_rush(self, sku: int, quantity: int, hour: int, why: str) -> None:
        """An expedited order at the quick-response factories (the regular one if none)."""
        quick = self.network.quick_for(sku)
        if quick and self.spec.policy.sourcing.pool_split and len(quick) > 1:
            self.order_from_pool(sku, quantity, hour, rush=True, why=why)
            return
        pool = quick or self.network.regular_for(sku)
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
        for f in self.network.quick_for(sku):
            units = int(f.capacity_per_hour * hours)
            if units < 1:
                continue
            f.hold(sku, units, hour + int(hours))
            total += units
            m.log(
                "capacity_hold",
                hour=hour,
                actor=self.name,
                sku=m.sku_names[sku],
                quantity=units,
                value=units * fee_per_unit,
                detail=f"{f.name} until hour {hour + int(hours)} ({why})",
            )
        m.ledger.add_money("reservation_cost", self.index, total * fee_per_unit)
        return total

    def place_scale_up(self, sku: int, quantity: int, hour: int) -> None:
        """A scale-up order for a winning design (quick-response if possible)."""
        pool = self.network.quick_for(sku) or self.network.regular_for(sku)
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
        dest = tuple((self.network.names[i], int(u)) for i, u in enumerate(split) if u > 0)
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
        self.sensing.note_job(sku, job.job_id)
        f.accept(job)
        m.ledger.add_money("setup_cost", self.index, f.cfg.setup_cost_per_order * m.scale)
        m.ledger.add_units("units_ordered", sku, quantity)
        if quick:
            m.ledger.add_units("units_ordered_quick", sku, quantity)
        elif f.cfg.role == "regular":
            self._regular_due[sku].append((hour + self.network.lead_time_hours(f), quantity))
        if rush:
            premium = quantity * self.spec.policy.rush.premium_per_unit
            m.ledger.add_money("rush_premium_cost", self.index, premium)
        day = min(hour // HOURS_PER_DAY, len(self.daily_ordered) - 1)
        self.daily_ordered[day, sku] += quantity
        kind = "rush_order" if rush else "production_order"
        if self._pilot_pending[sku] and not rush:
            kind = "pilot_batch"
            self._pilot_pending[sku] = False
        detail = f"{f.name} job {job.job_id}" + (" quick-response" if quick else "")
        if why:
            detail += f" ({why})"
        m.log(
            kind,
            hour=hour,
            actor=self.name,
            sku=m.sku_names[sku],
            quantity=quantity,
            value=quantity * float(f.cost_per_unit[sku]),
            detail=detail,
        )
        return job

    # ------------------------------------------------------------------ other levers
    def transfer(self, sku: int, src: int, dst: int, units: int, hour: int, why: str) -> int:
        """Move available stock between two of the brand's warehouses on the line-haul."""
        s, d = self.network.warehouses[src], self.network.warehouses[dst]
        moved = self.network.line_haul[0].transfer(sku, s, d, units, hour)
        if moved:
            self.model.log(
                "transfer",
                hour=hour,
                actor=self.name,
                sku=self.model.sku_names[sku],
                quantity=moved,
                detail=f"{s.name} -> {d.name} ({why})",
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
                "dynamic_task",
                hour=hour,
                actor=self.name,
                sku=m.sku_names[sku],
                quantity=1,
                detail=f"{kol.name} posts at hour {at}",
            )
