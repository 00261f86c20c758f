"""Little's law ``L = λW`` on real model runs, from the run's public records.

For a stage that items enter and leave, over a horizon of ``T`` hours starting empty, with
the number in the stage ``N(h)`` measured at the end of every hour:
``Σ_h N(h) = Σ_items (exit - entry)`` (an item still inside at the end counts ``T - entry``).
Dividing by ``T``: ``L = λ·W`` with ``λ`` = items entering per hour and ``W`` the mean hours
spent inside. The two sides come from *different* records, so the law checks that they
agree exactly (units, integers):

* **awaiting shipment** (sold → handed to a last-mile carrier, or cancelled), per brand.
  ``N`` from the ``timeseries`` (cumulative ``sold`` at region nodes − ``shipped`` at the
  brand's warehouse nodes) and the ``events`` table (``cancellations``); sojourns from the
  order book (``placed_hour``, ``shipped_hour``) and, for cancelled orders, the events'
  hours (only the sum of exit hours is needed, which is what the events carry);
* **last-mile transit** (shipped → delivered), per SKU. ``N`` is the regions'
  ``in_transit`` column of the ``timeseries``; sojourns from ``shipped_hour`` and
  ``delivered_hour``.

Stocks (warehouse shelves, finished goods, goods on line-haul trucks) hold anonymous units:
their ``W`` is only defined through an order of service (e.g. FIFO), under which Little's
law reduces to stock-flow balance, and that is the unit-conservation invariant checked every
hour in debug mode (:mod:`sim.invariants`). The backlog of pre-orders records no
allocation hour, so its ``W`` cannot be read from the order book.

Requires ``run.timeseries_resolution = hour`` and the finished model (``keep_model=True``)
for its order book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.orders import CANCELLED


@dataclass(frozen=True)
class LittleStage:
    """One stage of one run: both sides of ``L = λW``."""

    stage: str
    key: str  # brand or SKU
    horizon_hours: int
    area_unit_hours: float  # Σ_h N(h), from the timeseries (and events)
    entered_units: float
    sojourn_unit_hours: float  # Σ units x hours inside, from the order book

    @property
    def mean_units(self) -> float:
        """Time-average units in the stage."""
        return self.area_unit_hours / self.horizon_hours

    @property
    def arrival_rate(self) -> float:
        """Units entering per hour."""
        return self.entered_units / self.horizon_hours

    @property
    def mean_sojourn_hours(self) -> float:
        """Mean hours a unit spends in the stage."""
        return self.sojourn_unit_hours / self.entered_units if self.entered_units else 0.0

    @property
    def lambda_w(self) -> float:
        """The right-hand side of Little's law, from the order book."""
        return self.arrival_rate * self.mean_sojourn_hours

    @property
    def holds(self) -> bool:
        """Whether ``L = λW`` (exactly: both sides are sums of integers)."""
        return abs(self.area_unit_hours - self.sojourn_unit_hours) <= 1e-6 * max(
            1.0, self.area_unit_hours
        )


def stages(result: Any) -> list[LittleStage]:
    """Both sides of Little's law for every order stage of a finished run.

    Args:
        result: a :class:`sim.RunResult` made with ``keep_model=True`` at hourly resolution.

    Raises:
        ValueError: when the run lacks its model or an hourly timeseries.
    """
    if result.model is None:
        raise ValueError("Little's law needs the order book: run with keep_model=True")
    if result.config.run.timeseries_resolution != "hour":
        raise ValueError("Little's law needs run.timeseries_resolution=hour")
    m = result.model
    T = m.horizon_hours
    book = m.orders
    ts = result.timeseries
    out: list[LittleStage] = []
    hours = np.arange(T)

    def per_hour(frame, column: str) -> np.ndarray:
        s = frame.groupby("t_hours")[column].sum()
        return s.reindex(hours, fill_value=0).to_numpy(dtype=float)

    regions = ts[ts.node_type == "region"]
    ev = result.events
    canc = ev[ev.kind == "cancellations"]
    for b, brand in enumerate(m.brands):
        skus = [m.sku_names[s] for s in brand.skus]
        sold = per_hour(regions[regions.sku.isin(skus)], "sold")
        wh_names = [w.name for w in brand.warehouses]
        shipped = per_hour(ts[ts.node.isin(wh_names) & (ts.node_type == "warehouse")], "shipped")
        mine = canc[canc.actor == brand.name]
        cancelled = (
            mine.groupby("t_hours")["quantity"].sum().reindex(hours, fill_value=0).to_numpy()
        )
        area = float(np.cumsum(sold - shipped - cancelled).sum())
        sel = book.brand == b
        q = book.quantity[sel].astype(float)
        placed = book.placed_hour[sel].astype(float)
        ship = book.shipped_hour[sel].astype(float)
        was_shipped = ship >= 0
        is_cancelled = book.status[sel] == CANCELLED
        still = ~was_shipped & ~is_cancelled
        sojourn = (
            float((q * (ship - placed))[was_shipped].sum())
            + float((mine.t_hours * mine.quantity).sum())
            - float((q * placed)[is_cancelled].sum())
            + float((q * (T - placed))[still].sum())
        )
        out.append(LittleStage("awaiting shipment", brand.name, T, area, float(q.sum()), sojourn))

    for s, name in enumerate(m.sku_names):
        n_transit = per_hour(regions[regions.sku == name], "in_transit")
        sel = (book.sku == s) & (book.shipped_hour >= 0)
        q = book.quantity[sel].astype(float)
        ship = book.shipped_hour[sel].astype(float)
        dlv = book.delivered_hour[sel].astype(float)
        exit_hour = np.where(dlv >= 0, dlv, T)
        out.append(
            LittleStage(
                "last-mile transit",
                name,
                T,
                float(n_transit.sum()),
                float(q.sum()),
                float((q * (exit_hour - ship)).sum()),
            )
        )
    return out


def violations(result: Any) -> list[str]:
    """A line for every stage where ``L ≠ λW`` (empty when the law holds everywhere)."""
    return [
        f"{s.stage} [{s.key}]: L={s.mean_units:.6g} but λW={s.lambda_w:.6g} "
        f"(Σ N(h)={s.area_unit_hours:g}, Σ sojourns={s.sojourn_unit_hours:g})"
        for s in stages(result)
        if not s.holds
    ]
