"""Sourcing: how a replenishment need is split between regular and quick-response factories.

All rules are order-up-to on an inventory position (IP); orders are rounded up to each
factory's MOQ and batch size.

* ``regular_only``: one order-up-to level at the cheapest regular factory,
  ``S = forecast·(lead time + review) + safety``.
* ``dual_index``: two inventory positions (Veeraraghavan & Scheller-Wolf's dual-index
  policy). The *expedited* position counts what arrives within the quick-response lead time
  (stock, goods on their way, quick-response production and the regular production due
  within it); the quick-response factory orders up to a level covering its own short lead
  time on it. Then the regular factory orders up to its level on the full position. Quick
  response is used only when the near-term position falls short: a surge, not the base.
* ``base_surge``: the regular factory orders first, for the *base* demand (the median day of
  the forecast window, which ignores spikes), and the quick-response factory tops up to the
  full forecast on the fast pipeline: the surges above the base (Allon & Van Mieghem's
  tailored base-surge). This is the flexible practice of article 001: big cheap batches for
  the steady part, small fast ones for the peaks.
* ``max_flow``: the regular order-up-to need of every SKU reviewed together, allocated over
  the regular factories that make it (``supply.factories.<name>.skus``) by maximum flow,
  each factory offering its capacity over the review period minus the work it already has;
  what no factory can make within the period is not ordered at this review. This is the
  allocation Jordan & Graves's process flexibility assumes (a chained ``skus`` relation pays
  only if orders follow the chain); the other rules send a SKU to its cheapest factory.

With ``policy.replenishment.planner=event_aware`` the levels also plan known calendar events
and treat a stock-out before arrival as lost (see :mod:`sim.policies.events`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.clock import HOURS_PER_DAY
from sim.config import SourcingPolicy
from sim.policies.events import EventPlan


@dataclass
class SourcingContext:
    """What a sourcing rule sees for one SKU at a review."""

    per_day: float  # forecast demand per day (event-aware: from days no known event touched)
    base_per_day: float  # the base: median day of the forecast window
    safety_units: float
    review_hours: float
    regular: list[Any]  # factories, cheapest first
    quick: list[Any]
    lead_hours: Callable[[Any], float]
    ip_total: float  # inventory position over all factories
    ip_fast: float  # inventory position counting only quick-response production
    regular_due_fast: float = 0.0  # regular production due within the quick lead time
    backlog: float = 0.0  # pre-orders waiting (inside both positions): firm demand
    sku: int = -1
    hour: int = 0  # now
    events: EventPlan | None = None  # event-aware planning (None: naive)
    half_life_days: float = math.inf  # the product's novelty half-life: its demand fades so
    price: float = 0.0  # selling price (the planner weighs an MOQ lot's margin and overage)
    salvage_fraction: float = 0.0  # share of cost recovered for a unit left over

    @property
    def event_aware(self) -> bool:
        """Whether the planner plans known events (and sees lost sales as lost)."""
        return self.events is not None and self.events.active


def _level(per_day: float, lead: float, review: float, safety: float) -> float:
    return per_day / HOURS_PER_DAY * (lead + review) + safety


def _quantity(
    c: SourcingContext,
    f: Any,
    per_day: float,
    safety: float,
    ip: float,
    *,
    plans_events: bool,
    serves_backlog: bool = True,
) -> int:
    """The order for factory ``f``: naive order-up-to, or the event-aware one.

    Event-aware: stock that runs out before the order can arrive is not made up (lost sales),
    so the order covers the review period after arrival (base demand, the known events in it
    and safety stock) minus what will be left on arrival; events the regular channel plans are
    marked so that the quick channel does not plan them twice. When even the smallest lot (the
    MOQ) exceeds all the demand left after it arrives (the base fading with the product's
    novelty half-life, plus known events), it is placed only if pre-orders wait for it or the
    margin on what sells outweighs the loss on what is left over.
    """
    lead = c.lead_hours(f)
    if not c.event_aware:
        return f.order_quantity(_level(per_day, lead, c.review_hours, safety) - ip)
    ev = c.events
    assert ev is not None
    fresh = not plans_events
    rate = f.capacity_per_hour  # a big event's stock takes longer to make: plan it earlier
    now, arrival = c.hour, c.hour + lead
    before = per_day / HOURS_PER_DAY * lead + ev.units(c.sku, now, arrival, now, fresh, rate)
    # what will be left on arrival: stock-outs before it are lost, pre-orders are not (unless
    # another channel serves them: base-surge leaves them to quick response)
    backlog = c.backlog if serves_backlog else 0.0
    left_on_arrival = max(0.0, ip + c.backlog - before) - backlog
    window = (arrival, arrival + c.review_hours)
    need = (
        per_day / HOURS_PER_DAY * c.review_hours
        + ev.units(c.sku, *window, now, fresh, rate)
        + safety
        - left_on_arrival
    )
    q = f.order_quantity(need)
    fade = math.log(2) / c.half_life_days  # per day
    sellable = per_day * math.exp(-fade * lead / HOURS_PER_DAY) / fade + ev.units(
        c.sku, arrival, math.inf, now, fresh, rate
    )
    lot = f.order_quantity(1)  # the smallest lot (the MOQ)
    sells = max(0.0, sellable - left_on_arrival)
    if q and backlog <= 0 and lot > sells:
        # even the smallest lot would not all sell before the demand fades: place it only
        # if the margin on what sells outweighs the loss on what is left (a newsvendor check)
        cost = float(f.cost_per_unit[c.sku])
        if sells * (c.price - cost) < (lot - sells) * cost * (1.0 - c.salvage_fraction):
            return 0
    if q and plans_events:
        ev.mark_planned(c.sku, *window, now, rate)
    return q


class RegularOnly:
    """All replenishment from the cheapest regular factory."""

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """``(factory, units, quick_response)`` orders to place now."""
        f = c.regular[0]
        q = _quantity(c, f, c.per_day, c.safety_units, c.ip_total, plans_events=True)
        return [(f, q, False)] if q else []


def _fast_then_regular(
    c: SourcingContext, regular_per_day: float, regular_safety: float
) -> list[tuple[Any, int, bool]]:
    """The fast order-up-to level at the quick-response factory (its own short lead time, on
    the expedited position: the fast pipeline plus regular production due within it), then
    the regular factory's level on the full IP."""
    out = []
    fq = c.quick[0]
    ip_expedited = c.ip_fast + c.regular_due_fast
    q_fast = _quantity(c, fq, c.per_day, c.safety_units, ip_expedited, plans_events=False)
    if q_fast:
        out.append((fq, q_fast, True))
    f = c.regular[0]
    q = _quantity(c, f, regular_per_day, regular_safety, c.ip_total + q_fast, plans_events=True)
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
    """Regular factory for the base demand, quick-response for the surges above it.

    The regular (cheap, slow) factory orders first, up to its level for the base demand (and,
    event-aware, the known events it can still reach); the quick-response factory then tops
    up to the full forecast on what is on hand, moving or quick-ordered. Under steady demand
    the base covers nearly everything and the premium is paid only on the surges.
    """

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """``(factory, units, quick_response)`` orders to place now."""
        if not c.quick:
            return RegularOnly(None).orders(c)  # type: ignore[arg-type]
        base_safety = c.safety_units * (c.base_per_day / c.per_day) if c.per_day > 0 else 0.0
        f = c.regular[0]
        out = []
        q = _quantity(
            c, f, c.base_per_day, base_safety, c.ip_total, plans_events=True, serves_backlog=False
        )
        if q:
            out.append((f, q, False))
        fq = c.quick[0]
        q_fast = _quantity(c, fq, c.per_day, c.safety_units, c.ip_fast, plans_events=False)
        if q_fast:
            out.append((fq, q_fast, True))
        return out


class MaxFlow:
    """Regular replenishment of all reviewed SKUs, allocated jointly by maximum flow."""

    joint = True  # the brand collects every SKU's need and calls :meth:`allocate`

    def __init__(self, params: SourcingPolicy):
        pass

    def orders(self, c: SourcingContext) -> list[tuple[Any, int, bool]]:
        """One SKU's need (the regular order-up-to), to be allocated with the others."""
        return RegularOnly(None).orders(c)  # type: ignore[arg-type]

    @staticmethod
    def allocate(
        needs: list[tuple[int, list[Any]]], free: list[float], plants: list[Any]
    ) -> list[tuple[Any, int, int]]:
        """Maximum flow from SKU needs to factories: a greedy start (each SKU at its
        factories in order), then shortest augmenting paths (Edmonds-Karp) that move work
        along the links until no SKU's remaining need can reach a factory with room.

        Args:
            needs: ``(units, factories that make the SKU)`` per SKU, in review order.
            free: units each factory of ``plants`` can still make in the period.
            plants: the factories, in the network's order.

        Returns:
            ``(factory, index into needs, units)`` orders, by SKU then factory.
        """
        index = {id(f): j for j, f in enumerate(plants)}
        arcs = [[index[id(f)] for f in fs] for _, fs in needs]
        left = [int(u) for u, _ in needs]
        room = [max(0, math.floor(x)) for x in free]
        into: list[dict[int, int]] = [{} for _ in plants]  # factory -> {SKU: units}
        for i, js in enumerate(arcs):  # greedy start
            for j in js:
                take = min(left[i], room[j])
                if take > 0:
                    into[j][i] = into[j].get(i, 0) + take
                    left[i] -= take
                    room[j] -= take
        while any(left[i] > 0 and arcs[i] for i in range(len(left))):
            # BFS from every SKU with need left; nodes: ("p", SKU) and ("f", factory)
            parent: dict[tuple[str, int], tuple[str, int] | None] = {}
            queue = [("p", i) for i in range(len(left)) if left[i] > 0]
            for node in queue:
                parent[node] = None
            end, head = -1, 0
            while head < len(queue) and end < 0:
                kind, k = queue[head]
                head += 1
                nxt = (
                    [("f", j) for j in arcs[k]]
                    if kind == "p"
                    else [("p", i) for i, u in into[k].items() if u > 0]
                )
                for node in nxt:
                    if node in parent:
                        continue
                    parent[node] = (kind, k)
                    if node[0] == "f" and room[node[1]] > 0:
                        end = node[1]
                        break
                    queue.append(node)
            if end < 0:
                break
            path = [("f", end)]
            while (up := parent[path[-1]]) is not None:
                path.append(up)
            path.reverse()  # SKU, factory, SKU, factory, ... factory with room
            push = min(left[path[0][1]], room[end])
            for (a, x), (_, y) in itertools.pairwise(path):
                if a == "f":  # factory x gives SKU y's units back: at most what it holds
                    push = min(push, into[x][y])
            for (a, x), (_, y) in itertools.pairwise(path):
                if a == "p":
                    into[y][x] = into[y].get(x, 0) + push
                else:
                    into[x][y] -= push
            left[path[0][1]] -= push
            room[end] -= push
        return [
            (plants[j], i, u)
            for i, js in enumerate(arcs)
            for j in dict.fromkeys(js)
            if (u := into[j].get(i, 0)) > 0
        ]
