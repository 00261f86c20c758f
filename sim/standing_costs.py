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

from typing import TYPE_CHECKING

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


def accrue_hour(brand: Brand) -> None:
    """Book one hour of the brand's standing costs."""
    ledger = brand.model.ledger
    for field, per_day in daily(brand).items():
        if per_day:
            ledger.add_money(field, brand.index, per_day / HOURS_PER_DAY)
