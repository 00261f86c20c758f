"""Standing costs of flexibility: what keeping it available costs, used or not.

Accrued every hour for each brand (quantities are per day at ``market.reference_consumers``
consumers and scale with the market, like every supply-side quantity):

* ``warehouse_fixed_cost``: each warehouse's ``fixed_cost_per_day`` (rent, staff and systems
  of a forward warehouse; the central one's is common to every setup and left at 0);
* ``reservation_cost``: each factory's ``retainer_per_day`` (a partner's line kept available
  for quick response), on top of the fees for capacity held for hot spots;
* ``platform_cost``: the shared real-time data platform (``policy.information=on``:
  ``platform_cost_per_day``).

All three are cost lines of the money identity (profit = revenue − every cost line).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sim.clock import HOURS_PER_DAY

if TYPE_CHECKING:
    from sim.agents.brand import Brand


def daily(brand: Brand) -> dict[str, float]:
    """The standing costs of a brand per simulated day, by ledger field (model scale)."""
    scale = brand.model.scale
    info = brand.spec.policy.information
    return {
        "warehouse_fixed_cost": scale * sum(w.cfg.fixed_cost_per_day for w in brand.warehouses),
        "reservation_cost": scale * sum(f.cfg.retainer_per_day for f in brand.factories),
        "platform_cost": scale * info.platform_cost_per_day if info.name == "on" else 0.0,
    }


class _Hourly(NamedTuple):
    key: tuple[int, int]  # the brand's warehouses and factories it was worked out for
    costs: list[tuple[str, float]]  # by ledger field
    counters: list[tuple[np.ndarray, float]]  # the same, with the ledger's arrays


_HOURLY: weakref.WeakKeyDictionary[Brand, _Hourly] = weakref.WeakKeyDictionary()


def _hourly(brand: Brand) -> _Hourly:
    key = (len(brand.warehouses), len(brand.factories))
    known = _HOURLY.get(brand)
    if known is None or known.key != key:
        costs = [(f, d / HOURS_PER_DAY) for f, d in daily(brand).items() if d]
        money = brand.model.ledger.money
        known = _Hourly(key, costs, [(money[f], c) for f, c in costs])
        _HOURLY[brand] = known
    return known


def hourly(brand: Brand) -> list[tuple[str, float]]:
    """The nonzero standing costs of one hour, by ledger field: :func:`daily` / 24, worked
    out once per brand (again if its facilities change)."""
    return _hourly(brand).costs


def counters(brand: Brand) -> list[tuple[np.ndarray, float]]:
    """The ledger's money arrays :func:`accrue_hour` adds to, each with its cost of an hour
    (in :func:`hourly`'s order); what :meth:`sim.agents.brand.Brand.observe` adds in line
    (``counter[brand.index] += per_hour``, as :func:`accrue_hour` does)."""
    return list(_hourly(brand).counters)


def accrue_hour(brand: Brand) -> None:
    """Book one hour of the brand's standing costs (``Ledger.add_money``: one float addition
    each, straight into the ledger's arrays: this runs every hour)."""
    b = brand.index
    for counter, per_hour in _hourly(brand).counters:
        counter[b] += per_hour
