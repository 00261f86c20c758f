"""Sourcing: how a replenishment need is split between regular and quick-response factories.

All rules are order-up-to on an inventory position (IP); orders are rounded up to each
factory's MOQ and batch size.

* ``regular_only``: one order-up-to level at the cheapest regular factory,
  ``S = forecast·(lead time + review) + safety``.
* ``dual_index``: a second, fast level at the quick-response factory covering its own
  short lead time (IP counts only the fast pipeline), then the regular level on the full IP
  (Veeraraghavan & Scheller-Wolf's dual-index policy).
* ``base_surge``: the regular factory covers only the *base* demand (the median day of the
  forecast window, which ignores spikes) and the quick-response factory the surges above it
  (Allon & Van Mieghem's tailored base-surge). This is the flexible practice of article 001:
  big cheap batches for the steady part, small fast ones for the peaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.clock import HOURS_PER_DAY
from sim.config import SourcingPolicy


@dataclass
class SourcingContext:
    """What a sourcing rule sees for one SKU at a review."""

    per_day: float  # forecast demand per day
    base_per_day: float  # median daily demand of the forecast window
    safety_units: float
    review_hours: float
    regular: list[Any]  # factories, cheapest first
    quick: list[Any]
    lead_hours: Callable[[Any], float]
    ip_total: float  # inventory position over all factories
    ip_fast: float  # inventory position counting only quick-response production


def _level(per_day: float, lead: float, review: float, safety: float) -> float:
    return per_day / HOURS_PER_DAY * (lead + review) + safety


class RegularOnly:
    """All replenishment from the cheapest regular factory."""

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """``(factory, units, quick_response)`` orders to place now."""
        f = c.regular[0]
        q = f.order_quantity(
            _level(c.per_day, c.lead_hours(f), c.review_hours, c.safety_units) - c.ip_total
        )
        return [(f, q, False)] if q else []


def _fast_then_regular(
    c: SourcingContext, regular_per_day: float, regular_safety: float
) -> list[tuple[Any, int, bool]]:
    """The fast order-up-to level at the quick-response factory (its own short lead time,
    IP of the fast pipeline), then the regular factory's level on the full IP."""
    out = []
    fq = c.quick[0]
    q_fast = fq.order_quantity(
        _level(c.per_day, c.lead_hours(fq), c.review_hours, c.safety_units) - c.ip_fast
    )
    if q_fast:
        out.append((fq, q_fast, True))
    f = c.regular[0]
    q = f.order_quantity(
        _level(regular_per_day, c.lead_hours(f), c.review_hours, regular_safety)
        - (c.ip_total + q_fast)
    )
    if q:
        out.append((f, q, False))
    return out


class DualIndex:
    """A fast order-up-to level at the quick-response factory, then the regular level."""

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """``(factory, units, quick_response)`` orders to place now."""
        if not c.quick:
            return RegularOnly(None).orders(c)  # type: ignore[arg-type]
        return _fast_then_regular(c, c.per_day, c.safety_units)


class BaseSurge:
    """Regular factory for the base (median) demand, quick-response for the surges."""

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """``(factory, units, quick_response)`` orders to place now."""
        if not c.quick:
            return RegularOnly(None).orders(c)  # type: ignore[arg-type]
        base_safety = c.safety_units * (c.base_per_day / c.per_day) if c.per_day > 0 else 0.0
        return _fast_then_regular(c, c.base_per_day, base_safety)
