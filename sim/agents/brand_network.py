"""A brand's network: its facilities, and how regions are served from its warehouses.

Built once from the facilities the world made for the brand. It holds no state that changes
during a run (the facilities own theirs) and answers the questions every part of the brand
asks: which warehouse serves a region first (the routing policy's candidate order), how far
and how long a last-mile trip is, which factories make a SKU, what is on its way. It also
walks the candidate warehouses of a batch of wishes once, for sales and backlog alike
(:meth:`BrandNetwork.assign`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.policies.routing import RoutingContext

if TYPE_CHECKING:
    from sim.agents.carrier import Carrier
    from sim.agents.factory import Factory
    from sim.agents.warehouse import Warehouse
    from sim.model import ViralChainModel
    from sim.policies.protocols import Routing


class BrandNetwork:
    """The warehouses, factories and carriers of one brand, and their geometry.

    Attributes:
        warehouses, factories, carriers: the brand's facilities (local order).
        last_mile, contracted_last_mile, line_haul: its carriers by role.
        central: local index of the central warehouse.
        assigned: per region, the local index of the warehouse that serves it by contract.
        distance_km: (warehouse, region) distances.
        candidates: per region, warehouses in the order the routing policy tries them.
        demand_share: per warehouse, the population share of the regions assigned to it.
        trip_hours: (warehouse, region) hours of a contracted last-mile trip.
        regular, quick: regular and quick-response factories, cheapest first.
    """

    def __init__(
        self,
        model: ViralChainModel,
        warehouses: list[Warehouse],
        factories: list[Factory],
        carriers: list[Carrier],
        router: Routing,
    ):
        geo = model.geo
        self.geo = geo
        self.warehouses, self.factories, self.carriers = warehouses, factories, carriers
        self.last_mile = [c for c in carriers if c.kind == "last_mile"]
        self.contracted_last_mile = [c for c in self.last_mile if not c.cfg.elastic]
        self.line_haul = [c for c in carriers if c.kind == "line_haul"]
        self.names = [w.name for w in warehouses]
        self.central = next(i for i, w in enumerate(warehouses) if w.cfg.kind == "central")
        n_reg = len(geo)
        assigned = np.full(n_reg, self.central, dtype=np.int32)
        for i, w in enumerate(warehouses):
            for r in w.cfg.serves:
                assigned[geo.index[r]] = i
        self.assigned = assigned
        wh_regions = np.array([w.region for w in warehouses])
        self.distance_km: np.ndarray = geo.distance_km[wh_regions]  # (W, R)
        lm_cost = np.min(
            [
                c.cfg.cost_per_unit_km * self.distance_km + c.cfg.cost_per_unit
                for c in self.contracted_last_mile
            ],
            axis=0,
        )
        handling = np.array([w.cfg.handling_cost_per_unit for w in warehouses])[:, None]
        self.candidates: np.ndarray = router.candidates(
            RoutingContext(assigned, self.distance_km, lm_cost + handling)
        )
        # the same, as Python lists (read by a brand's orders of a few wishes): the array is
        # made read-only so that the two cannot part
        self.candidates.flags.writeable = False
        self.candidate_lists: list[list[int]] = self.candidates.tolist()
        share = np.zeros(len(warehouses))
        np.add.at(share, assigned, geo.population_share)
        self.demand_share = share
        lm = self.contracted_last_mile[0]
        self.trip_hours = np.array(
            [
                [lm.trip_hours(self.distance_km[w, r]) for r in range(n_reg)]
                for w in range(len(warehouses))
            ],
            dtype=float,
        )
        self.trip_hours.flags.writeable = False  # read-only: trip_lists is its copy
        self.trip_lists: list[list[float]] = self.trip_hours.tolist()
        self.regular = sorted(
            (f for f in factories if f.cfg.role == "regular"), key=lambda f: f.cfg.cost_factor
        )
        self.quick = sorted(
            (f for f in factories if f.cfg.role == "quick_response"),
            key=lambda f: f.cfg.cost_factor,
        )

    # ------------------------------------------------------------------ stock
    def available(self, sku: int) -> np.ndarray:
        """Units of ``sku`` available (not promised) at each warehouse."""
        return np.array([w.available(sku) for w in self.warehouses], dtype=np.int64)

    def available_total(self, sku: int) -> int:
        """Units available (not promised) across the brand's warehouses."""
        return sum([w.available(sku) for w in self.warehouses])

    def inbound_to(self, wh_local: int, sku: int) -> int:
        """Units of ``sku`` on their way to one of the brand's warehouses."""
        g = self.warehouses[wh_local].gindex
        return sum(int(c.stock_in_transit_to[sku, g]) for c in self.line_haul)

    def assign(
        self,
        regions: np.ndarray,
        quantity: np.ndarray,
        avail: np.ndarray,
        select: Callable[[np.ndarray, int], np.ndarray],
        eligible: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Give wishes (one per row) to warehouses, trying each wish's candidates in order.

        At each candidate rank, every warehouse with units left serves the still unserved
        wishes that rank points to it (and that ``eligible`` accepts), choosing among them by
        ``select(rows, units_left)``. ``avail`` (units per warehouse) is drawn down.

        Returns:
            per wish, the local index of the warehouse that serves it (-1: none).
        """
        cand = self.candidates[regions]
        chosen = np.full(len(regions), -1, dtype=np.int64)
        for c in range(cand.shape[1]):
            wh = cand[:, c]
            open_ = chosen < 0
            if eligible is not None:
                open_ &= eligible(wh)
            for w in range(len(self.warehouses)):
                if avail[w] <= 0:
                    continue
                rows = np.flatnonzero(open_ & (wh == w))
                if len(rows) == 0:
                    continue
                take = rows[select(rows, int(avail[w]))]
                chosen[take] = w
                avail[w] -= int(quantity[take].sum())
        return chosen

    # ------------------------------------------------------------------ factories
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

    def lead_time_hours(self, f: Factory) -> float:
        """Nominal lead time of a factory: materials, a day of production, transport."""
        lh = self.line_haul[0]
        central = self.warehouses[self.central]
        trip = lh.trip_hours(self.geo.km(f.region, central.region))
        wait = HOURS_PER_DAY / len(lh.cfg.dispatch_hours) / 2.0
        return f.nominal_material_hours() + HOURS_PER_DAY + wait + trip

    # ------------------------------------------------------------------ last mile
    def last_mile_capacity_per_hour(self) -> float:
        """Last-mile capacity of all the brand's carriers, per hour."""
        return sum(c.capacity_per_day for c in self.last_mile) / HOURS_PER_DAY
