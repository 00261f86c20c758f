"""Hot-spot grading (article 002): grade a rising topic S, A or B and run its procedure.

Every hour the views of a SKU (per hour, averaged over ``window_hours``, per
``market.reference_consumers`` consumers) are graded S, A or B against the thresholds. When
the grade rises, an ``opportunity_graded`` event is logged and the grade's procedure runs
after its decision time (decision rights per grade):

* S: reserve ``s_reserve_hours`` of quick-response capacity (a rush order of that size), book
  ``s_dynamic_posts`` dynamic KOL tasks, and open presale;
* A: reserve ``a_reserve_hours`` of capacity and book ``a_dynamic_posts`` tasks;
* B: multiply the safety stock by ``b_safety_multiplier`` for ``b_hold_hours``.

After a day below grade B, a SKU can be graded again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.clock import HOURS_PER_DAY
from sim.config import OpportunityPolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand

RANK = {"B": 1, "A": 2, "S": 3}


class NoGrading:
    """No hot-spot procedure."""

    def __init__(self, params: OpportunityPolicy):
        self.params = params

    def watch(self, brand: Brand, sku: int, hour: int) -> None:
        """Nothing to watch."""


class Graded:
    """Grades hot spots and runs each grade's procedure."""

    def __init__(self, params: OpportunityPolicy):
        self.params = params
        self._rank: dict[int, int] = {}
        self._cool: dict[int, int] = {}

    def grade(self, views_per_hour: float) -> str | None:
        """The grade of a views rate (reference scale)."""
        p = self.params
        if views_per_hour >= p.s_threshold:
            return "S"
        if views_per_hour >= p.a_threshold:
            return "A"
        if views_per_hour >= p.b_threshold:
            return "B"
        return None

    def watch(self, brand: Brand, sku: int, hour: int) -> None:
        """Grade the SKU now; start the procedure when the grade rises."""
        p = self.params
        heat = brand.sensing.views_rate(sku, hour, p.window_hours) / brand.model.scale
        g = self.grade(heat)
        if g is None:
            self._cool[sku] = self._cool.get(sku, 0) + 1
            if self._cool[sku] >= HOURS_PER_DAY:  # a day without a grade
                self._rank[sku] = 0
            return
        self._cool[sku] = 0
        if RANK[g] <= self._rank.get(sku, 0):
            return
        self._rank[sku] = RANK[g]
        brand.model.log(
            "opportunity_graded",
            hour=hour,
            actor=brand.name,
            sku=brand.model.sku_names[sku],
            quantity=heat,
            detail=f"grade {g}: {heat:.0f} views/h per 100k",
        )
        if g == "B":
            brand.supply.raise_safety(sku, p.b_safety_multiplier, hour + int(p.b_hold_hours))
            return
        delay = p.s_decision_hours if g == "S" else p.a_decision_hours
        brand.model.call_at(hour + int(delay), self.respond, brand, sku, g)

    def respond(self, brand: Brand, sku: int, grade: str) -> None:
        """Run the procedure of a grade (after its decision time)."""
        p = self.params
        hour = brand.model.hour
        reserve = p.s_reserve_hours if grade == "S" else p.a_reserve_hours
        posts = p.s_dynamic_posts if grade == "S" else p.a_dynamic_posts
        brand.model.log(
            "opportunity_response",
            hour=hour,
            actor=brand.name,
            sku=brand.model.sku_names[sku],
            quantity=reserve,
            detail=f"grade {grade}: reserve {reserve:g} h, {posts} tasks",
        )
        units = brand.network.quick_capacity_per_hour(sku) * reserve
        if units >= 1:
            brand.supply.place_rush(sku, int(units), hour, f"grade {grade} capacity reservation")
        if posts:
            brand.supply.book_dynamic_posts(sku, posts, hour)
        if grade == "S":
            brand.selling.set_presale(sku, True, hour, "grade S procedure")
