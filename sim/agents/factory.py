"""Factory agents: take production jobs, wait for materials, produce, hand goods to carriers.

A job waits ``material_lead_hours`` for materials, then joins the production queue (FIFO).
The factory produces at ``capacity_units_per_day / 24`` per hour; switching to another SKU
costs ``changeover_hours`` of idle time. Output goes to finished goods (``fg``), earmarked for
the job's destination warehouses, until a line-haul carrier collects it.

Invariants: ``open_units`` (ordered, not yet produced) ≥ 0; ``fg`` ≥ 0; output per hour ≤
capacity.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.config import FactoryConfig
from sim.messages import ProductionJob

if TYPE_CHECKING:
    from sim.model import ViralChainModel


@dataclass
class _JobProgress:
    job: ProductionJob
    remaining: int
    dest_left: list[list]  # [[warehouse gindex, units left], ...]


class Factory(mesa.Agent):
    """A production site of one brand."""

    def __init__(
        self, model: ViralChainModel, name: str, brand: int, gindex: int, cfg: FactoryConfig
    ):
        super().__init__(model)
        self.name, self.brand, self.gindex, self.cfg = name, brand, gindex, cfg
        self.region = model.geo.index[cfg.region]
        s = model.scale
        self.capacity_per_hour = cfg.capacity_units_per_day * s / 24.0
        self.moq_units = max(1, math.ceil(cfg.moq_units * s))
        self.batch_units = max(1, math.ceil(cfg.batch_size_units * s))
        n = model.n_sku
        self.open_units = np.zeros(n, dtype=np.int64)  # ordered, not produced
        self.wip_units = np.zeros(n, dtype=np.int64)  # materials in, not produced
        self.fg = np.zeros((n, model.n_warehouses), dtype=np.int64)
        self.produced_hour = np.zeros(n, dtype=np.int64)
        self._fg_jobs: dict[tuple[int, int], deque[list[int]]] = {}  # (sku, wh) -> [job, units]
        self._materials: dict[int, list[ProductionJob]] = {}
        self.queue: deque[_JobProgress] = deque()
        self._credit = 0.0
        self._changeover_left = 0.0
        self.last_sku: int | None = None
        self.up = True

    # ------------------------------------------------------------------ orders
    def order_quantity(self, need: float) -> int:
        """Round a need up to the minimum order quantity and to whole batches."""
        if need <= 0:
            return 0
        q = math.ceil(need / self.batch_units) * self.batch_units
        return max(q, math.ceil(self.moq_units / self.batch_units) * self.batch_units)

    def accept(self, job: ProductionJob) -> None:
        """Take a production job; materials arrive after the material lead time."""
        m = self.model
        self.open_units[job.sku_index] += job.quantity
        due = job.placed_hour + math.ceil(self.cfg.material_lead_hours)
        if due <= job.placed_hour:
            self._start(job)
            return
        self._materials.setdefault(due, []).append(job)
        if len(self._materials[due]) == 1:
            m.at(due, self.materials_arrive)

    def materials_arrive(self) -> None:
        """Jobs whose materials arrive now join the production queue (event callback)."""
        for job in self._materials.pop(self.model.hour, []):
            self._start(job)

    def _start(self, job: ProductionJob) -> None:
        self.wip_units[job.sku_index] += job.quantity
        dest = [[self.model.warehouse_index[w], u] for w, u in job.destinations if u > 0]
        progress = _JobProgress(job, job.quantity, dest)
        if job.rush:
            self.queue.appendleft(progress)
        else:
            self.queue.append(progress)

    # ------------------------------------------------------------------ hourly work
    def produce(self, hour: int) -> None:
        """Produce up to this hour's capacity (changeovers take idle time)."""
        if not self.up or not self.queue:
            self._credit = 0.0
            return
        head = self.queue[0]
        sku = head.job.sku_index
        if self.last_sku is not None and sku != self.last_sku and self._changeover_left <= 0:
            self._changeover_left = self.cfg.changeover_hours
            self.model.log(hour, "changeover", self.name, self.model.sku_names[sku], 0, 0.0, "")
        self.last_sku = sku
        usable = 1.0
        if self._changeover_left > 0:
            spent = min(self._changeover_left, 1.0)
            self._changeover_left -= spent
            usable -= spent
        self._credit += self.capacity_per_hour * usable
        while self.queue and self._credit >= 1:
            head = self.queue[0]
            if head.job.sku_index != self.last_sku:
                break  # the changeover starts next hour
            n = int(min(self._credit, head.remaining))
            self._output(head, n, hour)
            self._credit -= n
            if head.remaining == 0:
                self.queue.popleft()
                self.model.log(
                    hour,
                    "production_complete",
                    self.name,
                    self.model.sku_names[head.job.sku_index],
                    head.job.quantity,
                    0.0,
                    f"job {head.job.job_id}",
                )
        if not self.queue:
            self._credit = 0.0

    def _output(self, p: _JobProgress, n: int, hour: int) -> None:
        sku = p.job.sku_index
        left = n
        for d in p.dest_left:
            if left == 0:
                break
            k = min(left, d[1])
            if k == 0:
                continue
            self.fg[sku, d[0]] += k
            self._fg_jobs.setdefault((sku, d[0]), deque()).append([p.job.job_id, k])
            d[1] -= k
            left -= k
        p.remaining -= n
        self.open_units[sku] -= n
        self.wip_units[sku] -= n
        self.produced_hour[sku] += n
        ledger = self.model.ledger
        ledger.add_units("produced", sku, n)
        ledger.record_made(sku, n, self.cfg.unit_cost)

    def handover_stock(self, capacity_units: float) -> list[tuple[int, int, int, tuple[int, ...]]]:
        """Give finished goods to a line-haul carrier.

        Returns:
            ``(sku, warehouse gindex, units, job ids)`` per load, oldest goods first.
        """
        out: list[tuple[int, int, int, tuple[int, ...]]] = []
        budget = int(capacity_units)
        if budget <= 0 or not self.fg.any():
            return out
        for sku, wh in zip(*np.nonzero(self.fg), strict=True):
            if budget <= 0:
                break
            k = int(min(budget, self.fg[sku, wh]))
            self.fg[sku, wh] -= k
            budget -= k
            jobs, left = [], k
            fifo = self._fg_jobs[(int(sku), int(wh))]
            while left > 0:
                take = min(left, fifo[0][1])
                jobs.append(fifo[0][0])
                fifo[0][1] -= take
                left -= take
                if fifo[0][1] == 0:
                    fifo.popleft()
            out.append((int(sku), int(wh), k, tuple(jobs)))
        return out

    def reset_hour(self) -> None:
        """Start a new hour of flow counters."""
        self.produced_hour.fill(0)
