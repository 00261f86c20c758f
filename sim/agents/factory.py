"""Factory agents: take production jobs, get materials, produce, hand goods to carriers.

A job starts production once its inputs are there:

* with ``supply.materials.mode=per_job``, after ``material_lead_hours`` (rush jobs:
  ``policy.rush.material_lead_hours``); no material arrives sooner than
  ``supply.materials.min_lead_hours`` (a new design's fabric must be sourced first);
* with ``mode=stock``, at once from the factory's material stock, else when materials
  arrive. The factory replenishes that stock order-up-to on its own forecast of need; what
  the forecast is built from is ``policy.information``;
* with postponement (the factory is in ``supply.postponement.factories``), the part covered
  by pre-built common modules starts after ``assembly_lead_hours``.

The factory produces at ``capacity_units_per_day / 24`` per hour (times ``capacity_factor``
during an outage), FIFO with rush jobs first. Switching to another SKU costs
``changeover_hours`` of idle time. Output goes to finished goods (``fg``), earmarked for the
job's destination warehouses, until a line-haul carrier collects it; rush output leaves at
once on an expedited trip. A share of output is defective (more for rush jobs and just after
a changeover). Defects caught at the factory are scrapped; the rest reach buyers, who return
them.

Invariants: ``open_units`` (ordered, not yet produced) ≥ 0; ``fg`` ≥ 0; output per hour ≤
capacity; modules and materials ≥ 0.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import FactoryConfig
from sim.messages import ProductionJob
from sim.rng import stream

if TYPE_CHECKING:
    from sim.model import ViralChainModel


@dataclass
class _Part:
    """A job, or the part of one, that can be produced once started."""

    job: ProductionJob
    remaining: int
    dest_left: list[list[int]]  # [[warehouse gindex, units left], ...]
    from_modules: bool = False
    priority: bool = False  # jumps the queue (rush jobs, and parts using held capacity)


class Factory(mesa.Agent):
    """A production site of one brand."""

    def __init__(
        self, model: ViralChainModel, name: str, brand: int, gindex: int, cfg: FactoryConfig
    ):
        super().__init__(model)
        self.name, self.brand, self.gindex, self.cfg = name, brand, gindex, cfg
        self.region = model.geo.index[cfg.region]
        s = model.scale
        spec = model.config.brand_specs()[brand]
        self.supply = spec.supply
        self.rush_policy = spec.policy.rush
        self.capacity_per_hour = cfg.capacity_units_per_day * s / HOURS_PER_DAY
        self.capacity_factor = 1.0
        self.moq_units = max(1, math.ceil(cfg.moq_units * s))
        self.batch_units = max(1, math.ceil(cfg.batch_size_units * s))
        n = model.n_sku
        own = [model.sku_index[k] for k in spec.brand.products]
        allowed = [model.sku_index[k] for k in cfg.skus] if cfg.skus else own
        self.sku_mask = np.zeros(n, dtype=bool)
        self.sku_mask[allowed] = True
        self.skus_made: list[int] = np.flatnonzero(self.sku_mask).tolist()  # (the mask's)
        self.cost_per_unit = model.product_unit_cost * cfg.cost_factor  # per SKU
        # generic inputs (materials, modules) are valued at the mean cost of what it makes
        self.input_unit_cost = float(self.cost_per_unit[allowed].mean()) if allowed else 0.0
        self.open_units = np.zeros(n, dtype=np.int64)  # ordered, not produced
        self.wip_units = np.zeros(n, dtype=np.int64)  # started (inputs in), not produced
        self.wip_input_value = 0.0  # paid inputs (modules, materials) inside started parts
        self.fg = np.zeros((n, model.n_warehouses), dtype=np.int64)
        self.produced_hour = np.zeros(n, dtype=np.int64)
        self.orders_received_hourly = np.zeros(model.horizon_hours, dtype=np.int64)
        # the units of every job received (orders_received_hourly's sum) and the latest
        # row any was received in: what orders_received_before reads
        self._orders_received = 0
        self._orders_received_last = -1
        self._fg_jobs: dict[tuple[int, int], deque[list[int]]] = {}
        self._caught: dict[int, int] = {}  # defective units scrapped, per job
        self._due: dict[int, list[_Part]] = {}
        self.queue: deque[_Part] = deque()
        self._credit = 0.0
        self._changeover_left = 0.0
        self._since_changeover = 1e9
        self.last_sku: int | None = None
        # postponement: generic modules built ahead
        pp = self.supply.postponement
        self.postponement = name in pp.factories
        self.modules = 0
        self.module_target = math.ceil(pp.module_target_units * s) if self.postponement else 0
        self._module_credit = 0.0
        # materials: per job, or a stock replenished order-up-to
        mat = self.supply.materials
        self.material_stock_mode = mat.mode == "stock"
        self.materials = math.ceil(mat.initial_units * s) if self.material_stock_mode else 0
        self.materials_on_order = 0
        # the input cost shares of a module and of a unit of materials (unused_inputs_value)
        self.module_cost_share = pp.module_cost_share
        self.material_cost_share = mat.cost_share
        # unused_inputs_value as last worked out; None: an input changed since (every change
        # of modules, materials, materials on order or the inputs in work sets it to None)
        self._unused_value: float | None = None
        self._unused_float = 0.0  # _unused_value as a Python float, once worked out
        self._material_arrivals: dict[int, int] = {}
        self._waiting: deque[list] = deque()  # [job, units, dest, expedite] awaiting materials
        self._holds: dict[int, tuple[int, int]] = {}  # sku -> (units held, until hour)
        self.daily_material_orders = np.zeros(math.ceil(model.horizon_hours / HOURS_PER_DAY))
        if self.material_stock_mode and mat.initial_units > 0:
            self._spend(self.materials * mat.cost_share * self.input_unit_cost)

    # ------------------------------------------------------------------ helpers
    def _spend(self, amount: float) -> None:
        self.model.ledger.add_money("production_spend", self.brand, amount)

    def nominal_material_hours(self) -> float:
        """Hours a normal order placed now would wait for its inputs, from what is there: an
        order of the minimum size starts at once (stock mode) or after assembly
        (postponement) when the inputs for it are on hand, else it waits for materials."""
        if self.postponement and self.modules >= self.moq_units:
            return self.supply.postponement.assembly_lead_hours
        if self.material_stock_mode and self.materials >= self.moq_units:
            return 0.0
        return self.material_lead_hours(expedite=False)

    def material_lead_hours(self, expedite: bool) -> float:
        """Hours to get materials bought now: the factory's lead (expedited: the rush
        policy's), never below ``supply.materials.min_lead_hours``."""
        lead = self.rush_policy.material_lead_hours if expedite else self.cfg.material_lead_hours
        return max(lead, self.supply.materials.min_lead_hours)

    def orders_received_before(self, hour: int) -> int:
        """Units of the jobs received before ``hour``: ``orders_received_hourly[:hour].sum()``
        (whole units, exact), the running total when none was received at ``hour`` or
        later, else the long way."""
        if self._orders_received_last < hour:
            return self._orders_received
        return int(self.orders_received_hourly[:hour].sum())

    def order_quantity(self, need: float) -> int:
        """Round a need up to the minimum order quantity and to whole batches."""
        if need <= 0:
            return 0
        q = math.ceil(need / self.batch_units) * self.batch_units
        return max(q, math.ceil(self.moq_units / self.batch_units) * self.batch_units)

    # ------------------------------------------------------------------ orders
    def accept(self, job: ProductionJob) -> None:
        """Take a production job and get its inputs.

        The part of a normal job covered by capacity this factory holds for its SKU (a
        hot-spot reservation, :meth:`hold`) starts as soon as expedited inputs are there and
        goes to the front of the queue, like a rush job, but without the rush premium.
        """
        m = self.model
        hour = job.placed_hour
        self.open_units[job.sku_index] += job.quantity
        row = min(hour, len(self.orders_received_hourly) - 1)
        self.orders_received_hourly[row] += job.quantity
        self._orders_received += int(job.quantity)
        if row > self._orders_received_last:
            self._orders_received_last = row
        dest = [[m.warehouse_index[w], u] for w, u in job.destinations if u > 0]
        left = job.quantity
        if self.postponement and self.modules > 0:
            k = min(left, self.modules)
            self.modules -= k
            self._unused_value = None
            self._start_after(
                job,
                k,
                _take(dest, k),
                self.supply.postponement.assembly_lead_hours,
                from_modules=True,
            )
            left -= k
        if left <= 0:
            return
        held = 0 if job.rush else self._use_hold(job.sku_index, left, hour)
        if held:
            self._get_inputs(job, held, _take(dest, held), expedite=True)
            left -= held
        if left:
            self._get_inputs(job, left, _take(dest, left), expedite=job.rush)

    def _get_inputs(self, job: ProductionJob, units: int, dest: list[list[int]], expedite: bool):
        """Start ``units`` of a job once their materials are there (expedited: faster, and
        the part jumps the queue)."""
        hour = job.placed_hour
        if not self.material_stock_mode:
            day = min(hour // HOURS_PER_DAY, len(self.daily_material_orders) - 1)
            self.daily_material_orders[day] += units
            lead = self.material_lead_hours(expedite)
            self._start_after(job, units, dest, lead, priority=expedite)
            return
        k = min(units, self.materials)
        if k:
            self.materials -= k
            self._unused_value = None
            self._start_after(job, k, _take(dest, k), 0, priority=expedite)
            units -= k
        if units:
            self._waiting.append([job, units, _take(dest, units), expedite])
            if expedite:  # expedited materials for what the stock could not cover
                self._buy_materials(units, hour, self.material_lead_hours(expedite=True))

    def hold(self, sku: int, units: int, until_hour: int) -> None:
        """Hold capacity for ``units`` of ``sku`` until ``until_hour`` (a reservation: no
        order yet; orders for the SKU placed meanwhile use it)."""
        left, until = self._holds.get(sku, (0, 0))
        if until <= self.model.hour:
            left = 0
        self._holds[sku] = (left + int(units), max(until, int(until_hour)))

    def held_units(self, sku: int, hour: int) -> int:
        """Capacity still held for ``sku`` at ``hour``."""
        left, until = self._holds.get(sku, (0, 0))
        return left if hour < until else 0

    def _use_hold(self, sku: int, units: int, hour: int) -> int:
        k = min(units, self.held_units(sku, hour))
        if k:
            left, until = self._holds[sku]
            self._holds[sku] = (left - k, until)
        return k

    def _start_after(
        self, job, units, dest, lead_hours, from_modules=False, priority=False
    ) -> None:
        part = _Part(job, units, dest, from_modules, priority)
        due = job.placed_hour + math.ceil(lead_hours)
        if due <= self.model.hour or due <= job.placed_hour:
            self._start(part)
            return
        self._due.setdefault(due, []).append(part)
        if len(self._due[due]) == 1:
            self.model.at(due, self.inputs_arrive)

    def inputs_arrive(self) -> None:
        """Parts whose inputs arrive now join the production queue (event callback)."""
        for part in self._due.pop(self.model.hour, []):
            self._start(part)

    def _input_share(self, part: _Part) -> float:
        if part.from_modules:
            return self.supply.postponement.module_cost_share
        return self.supply.materials.cost_share if self.material_stock_mode else 0.0

    def _start(self, part: _Part) -> None:
        self.wip_units[part.job.sku_index] += part.remaining
        self.wip_input_value += (
            part.remaining * self._input_share(part) * self.cost_per_unit[part.job.sku_index]
        )
        self._unused_value = None
        if part.job.rush or part.priority:
            self.queue.appendleft(part)
        else:
            self.queue.append(part)

    # ------------------------------------------------------------------ materials
    def review_materials(self) -> None:
        """Order-up-to on the material position (event callback, stock mode)."""
        m = self.model
        hour = m.hour
        mat = self.supply.materials
        need = m.brands[self.brand].information.need_per_day(self, hour)
        target = need * (self.material_lead_hours(expedite=False) / HOURS_PER_DAY + mat.cover_days)
        waiting = sum(w[1] for w in self._waiting)
        position = self.materials + self.materials_on_order - waiting
        q = math.ceil(target - position)
        if q > 0:  # materials are bought in lots of a production batch
            q = math.ceil(q / self.batch_units) * self.batch_units
            self._buy_materials(q, hour, self.material_lead_hours(expedite=False))

    def _buy_materials(self, units: int, hour: int, lead_hours: float) -> None:
        m = self.model
        day = min(hour // HOURS_PER_DAY, len(self.daily_material_orders) - 1)
        self.daily_material_orders[day] += units
        self.materials_on_order += units
        self._unused_value = None
        self._spend(units * self.supply.materials.cost_share * self.input_unit_cost)
        due = hour + max(1, math.ceil(lead_hours))
        self._material_arrivals[due] = self._material_arrivals.get(due, 0) + units
        if self._material_arrivals[due] == units:
            m.at(due, self.materials_arrive)
        m.log(
            "material_order",
            hour=hour,
            actor=self.name,
            quantity=units,
            detail=f"arrives at hour {due}",
        )

    def materials_arrive(self) -> None:
        """Materials arrive; jobs waiting for them start, oldest first (event callback)."""
        units = self._material_arrivals.pop(self.model.hour, 0)
        self.materials_on_order -= units
        self.materials += units
        self._unused_value = None
        while self._waiting and self.materials > 0:
            w = self._waiting[0]
            k = min(w[1], self.materials)
            self.materials -= k
            w[1] -= k
            part_dest = _take(w[2], k)
            self._start(_Part(w[0], k, part_dest, priority=w[3]))
            if w[1] == 0:
                self._waiting.popleft()

    # ------------------------------------------------------------------ disruptions
    def cut_capacity(self, factor: float) -> None:
        """An outage: only ``factor`` (0..1, 0 a full stop) of capacity is left until restored."""
        self.capacity_factor = factor

    def restore_capacity(self) -> None:
        """The outage is over: full capacity again."""
        self.capacity_factor = 1.0

    # ------------------------------------------------------------------ hourly work
    def produce(self, hour: int) -> None:
        """Produce up to this hour's capacity (changeovers take idle time); build modules."""
        if self.postponement and self.modules < self.module_target:
            self._build_modules()
        else:  # nothing to build
            self._module_credit = 0.0
        if self.capacity_factor <= 0 or not self.queue:
            self._credit = 0.0
            return
        head = self.queue[0]
        sku = head.job.sku_index
        if self.last_sku is not None and sku != self.last_sku and self._changeover_left <= 0:
            self._changeover_left = self.cfg.changeover_hours
            self._since_changeover = 0.0
            self.model.log("changeover", hour=hour, actor=self.name, sku=self.model.sku_names[sku])
        self.last_sku = sku
        usable = 1.0
        if self._changeover_left > 0:
            spent = min(self._changeover_left, 1.0)
            self._changeover_left -= spent
            usable -= spent
        else:
            self._since_changeover += 1.0
        self._credit += self.capacity_per_hour * self.capacity_factor * usable
        while self.queue and self._credit >= 1:
            head = self.queue[0]
            if head.job.sku_index != self.last_sku:
                break  # the changeover starts next hour
            n = int(min(self._credit, head.remaining))
            self._output(head, n, hour)
            self._credit -= n
            if head.remaining == 0:
                self.queue.popleft()
                caught = self._caught.pop(head.job.job_id, 0)
                self.model.log(
                    "production_complete",
                    hour=hour,
                    actor=self.name,
                    sku=self.model.sku_names[head.job.sku_index],
                    quantity=head.job.quantity,
                    detail=f"job {head.job.job_id}, {caught} defective units scrapped",
                )
        if not self.queue:
            self._credit = 0.0

    def _build_modules(self) -> None:
        """Build modules toward the target (:meth:`produce` asks only when some are due)."""
        pp = self.supply.postponement
        self._module_credit += pp.module_build_units_per_day * self.model.scale / HOURS_PER_DAY
        k = int(min(self._module_credit, self.module_target - self.modules))
        if k > 0:
            self.modules += k
            self._unused_value = None
            self._module_credit -= k
            self._spend(k * pp.module_cost_share * self.input_unit_cost)

    def _defect_rate(self, rush: bool) -> float:
        q = self.supply.quality
        p = q.defect_rate * (q.rush_defect_multiplier if rush else 1.0)
        if self._since_changeover < q.changeover_ramp_hours:
            p += q.changeover_defect_rate
        return min(p, 1.0)

    def _output(self, p: _Part, n: int, hour: int) -> None:
        m = self.model
        sku = p.job.sku_index
        ledger = m.ledger
        p.remaining -= n
        self.open_units[sku] -= n
        self.wip_units[sku] -= n
        self.wip_input_value -= n * self._input_share(p) * self.cost_per_unit[sku]
        self._unused_value = None
        self.produced_hour[sku] += n
        ledger.add_units("produced", sku, n)
        cost = float(self.cost_per_unit[sku])
        ledger.value_made(sku, n, cost)  # valued at full unit cost
        if p.from_modules:
            self._spend(n * (1 - self.supply.postponement.module_cost_share) * cost)
        elif self.material_stock_mode:
            self._spend(n * (1 - self.supply.materials.cost_share) * cost)
        else:
            self._spend(n * cost)
        # quality: some units are defective; the factory catches most of them
        good = n
        rate = self._defect_rate(p.job.rush)
        if rate > 0:
            rng = stream(m.seed, "defects", self.name, hour, p.job.job_id)
            bad = int(rng.binomial(n, rate))
            caught = int(rng.binomial(bad, self.supply.quality.detection_rate))
            if caught:
                ledger.add_units("scrapped", sku, caught)
                self._caught[p.job.job_id] = self._caught.get(p.job.job_id, 0) + caught
            ledger.add_units("defective_out", sku, bad - caught)
            good = n - caught
        shipped = _take(p.dest_left, good)
        if p.job.rush:
            lh = m.brands[self.brand].network.line_haul[0]
            for wh, k in shipped:
                lh.expedite(self, sku, wh, k, (p.job.job_id,), hour)
            return
        for wh, k in shipped:
            self.fg[sku, wh] += k
            self._fg_jobs.setdefault((sku, wh), deque()).append([p.job.job_id, k])

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

    def unused_inputs_value(self) -> float:
        """Paid inputs not (yet) in a finished unit: modules, materials on hand and on order,
        and the inputs inside started work, at their cost (asked every hour: worked out
        again only when an input changed since; :meth:`unused_inputs_value_now` is the
        long way)."""
        value = self._unused_value
        if value is None:
            value = self._unused_value = self.unused_inputs_value_now()
            # the same double as a Python float, for working capital's hourly sum (a numpy
            # scalar's addition is the same float addition, several times slower)
            self._unused_float = float(value)
        return value

    def unused_inputs_value_now(self) -> float:
        """:meth:`unused_inputs_value` worked out from the inputs as they are."""
        stock = (
            self.modules * self.module_cost_share
            + (self.materials + self.materials_on_order) * self.material_cost_share
        )
        return self.input_unit_cost * stock + max(0.0, self.wip_input_value)

    def unused_inputs_salvage(self) -> float:
        """What unused modules and materials are worth at the end (their salvage share)."""
        pp, mat = self.supply.postponement, self.supply.materials
        return self.input_unit_cost * (
            self.modules * self.module_cost_share * pp.salvage_fraction
            + (self.materials + self.materials_on_order)
            * self.material_cost_share
            * mat.salvage_fraction
        )


def _take(dest_left: list[list[int]], units: int) -> list[list[int]]:
    """Take ``units`` from destination quotas (in order); returns the taken ``[wh, units]``."""
    out, left = [], units
    for d in dest_left:
        if left <= 0:
            break
        k = min(left, d[1])
        if k > 0:
            d[1] -= k
            left -= k
            out.append([d[0], k])
    if left > 0 and out:
        out[-1][1] += left
    elif left > 0 and dest_left:
        out.append([dest_left[-1][0], left])
    return out
