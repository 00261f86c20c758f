"""Carrier agents: line-haul (factory→warehouse) and last-mile (warehouse→buyer, and returns).

A carrier dispatches at its cut-off hours each day, taking goods up to its remaining daily
capacity; a trip takes ``ceil(handling_hours + km / speed_km_per_hour)`` hours (at least 1).
Goods on board are the carrier's: they count as in transit until they arrive. Returns ride
back without a capacity limit. Transport cost is ``units·(km·cost_per_unit_km +
cost_per_unit)``; returns' transport goes to ``return_cost``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import CarrierConfig
from sim.holdings import int_sum, ints
from sim.messages import Consignment

if TYPE_CHECKING:
    from sim.agents.warehouse import Warehouse
    from sim.model import ViralChainModel


class Carrier(mesa.Agent):
    """A transport provider of one brand."""

    def __init__(self, model: ViralChainModel, name: str, brand: int, cfg: CarrierConfig):
        super().__init__(model)
        self.name, self.brand, self.cfg = name, brand, cfg
        self.kind = cfg.kind
        self.spec = model.config.brand_specs()[brand]  # its brand's (the config is frozen)
        self.capacity_per_day = cfg.capacity_units_per_day * model.scale
        self.capacity_factor = 1.0  # < 1 during a carrier shortage
        self._used_today = 0.0
        self._day = -1
        self._arrivals: dict[int, list[Consignment]] = {}
        n = model.n_sku
        self.stock_in_transit = np.zeros(n, dtype=np.int64)  # stock consignments (per SKU)
        self.stock_in_transit_to = np.zeros((n, model.n_warehouses), dtype=np.int64)
        self.parcels_in_transit = np.zeros(n, dtype=np.int64)
        self.parcels_to_region = np.zeros((n, len(model.geo)), dtype=np.int64)
        self.returns_in_transit = np.zeros(n, dtype=np.int64)

    # ------------------------------------------------------------------ disruptions
    def cut_capacity(self, factor: float) -> None:
        """A shortage: only ``factor`` (0..1) of the daily capacity is left until restored."""
        self.capacity_factor = factor

    def restore_capacity(self) -> None:
        """The shortage is over: full capacity again."""
        self.capacity_factor = 1.0

    # ------------------------------------------------------------------ helpers
    def cutoff_hours(self) -> list[int]:
        """Hours of the day at which it dispatches (the model schedules :meth:`dispatch`)."""
        return sorted(set(self.cfg.dispatch_hours))

    def trip_hours(self, km: float) -> int:
        """Hours a trip of ``km`` takes."""
        return max(1, math.ceil(self.cfg.handling_hours + km / self.cfg.speed_km_per_hour))

    def next_dispatch_wait(self, hour: int) -> int:
        """Hours from ``hour`` until the next cut-off (0 if one is now)."""
        hod = hour % HOURS_PER_DAY
        return min((h - hod) % HOURS_PER_DAY for h in self.cfg.dispatch_hours)

    def remaining_today(self, hour: int) -> float:
        """Capacity left today."""
        if hour // HOURS_PER_DAY != self._day:
            self._day = hour // HOURS_PER_DAY
            self._used_today = 0.0
        return self.capacity_per_day * self.capacity_factor - self._used_today

    def _load(self, c: Consignment) -> None:
        self._arrivals.setdefault(c.arrival_hour, []).append(c)
        if len(self._arrivals[c.arrival_hour]) == 1:
            self.model.at(c.arrival_hour, self.arrive)

    def _charge(self, units: int, km: float, account: str) -> None:
        ledger = self.model.ledger
        cost = units * (km * self.cfg.cost_per_unit_km + self.cfg.cost_per_unit)
        if self.cfg.elastic:
            cost *= self.cfg.surge_price_multiplier
        ledger.add_money(account, self.brand, cost)
        ledger.add_money("unit_km", self.brand, units * km)

    # ------------------------------------------------------------------ events
    def dispatch(self) -> None:
        """A cut-off: load what waits, up to the remaining daily capacity (event callback)."""
        m = self.model
        hour = m.hour
        budget = self.remaining_today(hour)
        if budget < 1:
            return
        brand = m.brands[self.brand]
        used = 0
        if self.cfg.elastic:  # spot capacity: only what the contracted carriers cannot take
            waiting = sum(w.packed_units for w in brand.warehouses)
            contracted = sum(
                max(0.0, c.remaining_today(hour)) for c in brand.network.contracted_last_mile
            )
            budget = min(budget, waiting - contracted)
            if budget < 1:
                return
        if self.kind == "line_haul":
            for f in brand.factories:
                for sku, wh, units, jobs in f.handover_stock(budget - used):
                    km = m.geo.km(f.region, m.warehouses[wh].region)
                    self._send_stock(sku, f.name, wh, units, km, hour, jobs)
                    used += units
        else:
            for w in brand.warehouses:
                ids = w.handover_parcels(budget - used, hour)
                if len(ids):
                    used += self._send_parcels(w, ids, hour)
        self._used_today += used

    def _send_stock(
        self,
        sku: int,
        origin: str,
        wh: int,
        units: int,
        km: float,
        hour: int,
        jobs=(),
        depart: int | None = None,
    ) -> None:
        m = self.model
        start = hour if depart is None else depart
        c = Consignment(
            kind="stock",
            brand=m.brands[self.brand].name,
            origin=origin,
            destination=m.warehouses[wh].name,
            sku_index=sku,
            units=units,
            dispatched_hour=start,
            arrival_hour=start + self.trip_hours(km),
            distance_km=km,
            job_ids=tuple(jobs),
        )
        self.stock_in_transit[sku] += units
        self.stock_in_transit_to[sku, wh] += units
        self._charge(units, km, "transport_cost")
        self._load(c)

    def expedite(
        self, factory, sku: int, wh: int, units: int, jobs: tuple[int, ...], hour: int
    ) -> None:
        """Rush output leaves the factory at once on a dedicated trip (no cut-off, no cap)."""
        m = self.model
        km = m.geo.km(factory.region, m.warehouses[wh].region)
        self._send_stock(sku, factory.name, wh, units, km, hour, jobs, depart=hour + 1)
        premium = units * self.spec.policy.rush.transport_premium_per_unit
        m.ledger.add_money("rush_premium_cost", self.brand, premium)

    def transfer(self, sku: int, src: Warehouse, dst: Warehouse, units: int, hour: int) -> int:
        """Move available stock between two warehouses now; returns units loaded."""
        budget = int(self.remaining_today(hour))
        given = src.handover_stock(sku, min(units, budget))
        if given > 0:
            self._used_today += given
            km = self.model.geo.km(src.region, dst.region)
            self._send_stock(sku, src.name, dst.gindex, given, km, hour)
        return given

    def _send_parcels(self, w: Warehouse, ids: np.ndarray, hour: int) -> int:
        m = self.model
        book = m.orders
        regions = book.region[ids]
        units = 0
        for r in _distinct(regions):
            sel = ids[regions == r]
            qty = book.quantity[sel]
            n = int_sum(qty)
            km = m.geo.km(w.region, int(r))
            c = Consignment(
                kind="parcels",
                brand=m.brands[self.brand].name,
                origin=w.name,
                destination=m.geo.names[int(r)],
                sku_index=-1,
                units=n,
                dispatched_hour=hour,
                arrival_hour=hour + self.trip_hours(km),
                distance_km=km,
                order_ids=sel,
            )
            ints.add.at(self.parcels_in_transit, book.sku[sel], qty)
            ints.add.at(self.parcels_to_region, (book.sku[sel], int(r)), qty)
            self._charge(n, km, "transport_cost")
            # a sorting centre packs one parcel per buyer, else one parcel per order
            parcels = (
                len(_distinct(book.consumer[sel]))  # np.unique's count
                if self.spec.logistics.consolidate_parcels
                else len(sel)
            )
            surge = self.cfg.surge_price_multiplier if self.cfg.elastic else 1.0
            m.ledger.add_money(
                "transport_cost", self.brand, parcels * self.cfg.cost_per_parcel * surge
            )
            m.ledger.count_parcels(self.brand, parcels, len(sel))
            self._load(c)
            units += n
        return units

    def carry_returns(self, ids: np.ndarray, hour: int) -> None:
        """Take returned parcels back to the warehouse that shipped them."""
        m = self.model
        book = m.orders
        if len(ids) == 0:
            return
        wh = book.warehouse[ids]
        regions = book.region[ids]
        one = wh.min() == wh.max()  # one warehouse shipped them all (the usual case)
        for w in [int(wh[0])] if one else _distinct(wh):
            sel, reg = (ids, regions) if one else (ids[wh == w], regions[wh == w])
            dest = m.warehouses[int(w)]
            for r in _distinct(reg):
                part = sel[reg == r]
                qty = book.quantity[part]
                n = int_sum(qty)
                km = m.geo.km(int(r), dest.region)
                c = Consignment(
                    kind="returns",
                    brand=m.brands[self.brand].name,
                    origin=m.geo.names[int(r)],
                    destination=dest.name,
                    sku_index=-1,
                    units=n,
                    dispatched_hour=hour,
                    arrival_hour=hour + self.trip_hours(km),
                    distance_km=km,
                    order_ids=part,
                )
                ints.add.at(self.returns_in_transit, book.sku[part], qty)
                self._charge(n, km, "return_cost")
                self._load(c)

    def arrive(self) -> None:
        """Consignments due now reach their destination (event callback)."""
        m = self.model
        hour = m.hour
        book = m.orders
        for c in self._arrivals.pop(hour, []):
            if c.kind == "stock":
                wh = m.warehouse_index[c.destination]
                self.stock_in_transit[c.sku_index] -= c.units
                self.stock_in_transit_to[c.sku_index, wh] -= c.units
                m.warehouses[wh].receive_stock(c.sku_index, c.units, hour)
                if c.job_ids:
                    m.brands[self.brand].sensing.note_arrival(c.sku_index, hour, c.job_ids)
            elif c.kind == "parcels":
                skus, qty = book.sku[c.order_ids], book.quantity[c.order_ids]
                ints.subtract.at(self.parcels_in_transit, skus, qty)
                ints.subtract.at(self.parcels_to_region, (skus, book.region[c.order_ids]), qty)
                m.population.receive_parcels(c.order_ids, hour)
            else:
                skus, qty = book.sku[c.order_ids], book.quantity[c.order_ids]
                ints.subtract.at(self.returns_in_transit, skus, qty)
                m.warehouses[m.warehouse_index[c.destination]].receive_returns(c.order_ids, hour)


_FEW_ROWS = 64  # up to this many rows, _distinct sorts a set of Python ints


def _distinct(values: np.ndarray) -> list[int]:
    """``np.unique(values)`` of an integer array, as Python ints: the same values in the same
    (ascending) order; a set of a few rows' values instead of numpy's sort."""
    if len(values) <= _FEW_ROWS:
        return sorted(set(values.tolist()))
    return np.unique(values).tolist()
