"""Brand agents: a catalogue, a network (factories, warehouses, carriers) and decision rules.

This module holds the wiring and the sensing. Every hour the brand records demand and views
per SKU and tracks stock-outs, network-wide and per warehouse. It raises the hot-spot signal
and runs the live levers (presale, rush, hot-spot grading). Selling lives in
:mod:`sim.agents.brand_selling`; replenishment and production orders in
:mod:`sim.agents.brand_supply`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import standing_costs
from sim.agents.brand_selling import SellingMixin
from sim.agents.brand_supply import SupplyMixin
from sim.config import BrandSpec
from sim.policies import registry
from sim.policies.deployment import split_units
from sim.policies.events import EventPlan
from sim.policies.forecast import Signals
from sim.policies.routing import RoutingContext
from sim.queues import IdQueue

if TYPE_CHECKING:
    from sim.agents.carrier import Carrier
    from sim.agents.factory import Factory
    from sim.agents.warehouse import Warehouse
    from sim.model import ViralChainModel


class Brand(SellingMixin, SupplyMixin, mesa.Agent):
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
        """Put each product's initial stock into the warehouses (hour 0).

        An event-aware planner adds the stock plan for the known events its regular factory
        cannot reach in time (planned before the run: the stock agreed with the streamer's
        team, article 001). The event plan is made here, once the KOLs exist.
        """
        m = self.model
        self.event_plan = EventPlan(m, self.name, self.skus, self.spec.policy.replenishment)
        factor = min(f.cfg.cost_factor for f in self.regular)
        rp = self.spec.policy.replenishment
        for name, prod in self.spec.brand.products.items():
            sku = m.sku_index[name]
            units = math.ceil(prod.initial_stock_units * m.scale)
            if self.event_plan.active:
                reach = rp.first_review_hour + min(self.lead_time_hours(f) for f in self.regular)
                units += math.ceil(self.event_plan.units(sku, 0, reach, now=0))
                self.event_plan.mark_planned(sku, 0, reach, now=0)
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

    # ------------------------------------------------------------------ sensing
    def observe(self, hour: int) -> None:
        """Record this hour's signals, track stock-outs, and run the live levers."""
        m = self.model
        led = m.ledger
        standing_costs.accrue_hour(self)
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
