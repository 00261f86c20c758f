"""Hot-spot grading (article 002): grade a rising topic S, A or B once and run its procedure.

Every hour the views of a SKU (per hour, averaged over ``window_hours``, per
``market.reference_consumers`` consumers) are compared with the thresholds. A *hot spot* opens
the first hour the heat reaches grade B. Its grade is the highest reached while the team
watches it: the grade is fixed at once when it reaches S (nothing is higher), else
``window_hours`` after the hot spot opened. Exactly one ``opportunity_graded`` event is logged
per hot spot, and only that grade's procedure runs, after its decision time (decision rights
per grade):

* S: hold ``s_reserve_hours`` of quick-response capacity for the SKU (a reservation, not an
  order: replenishment orders placed while it holds start at once and jump the queue; the
  brand pays ``reserve_fee_per_unit`` per unit of capacity held), book ``s_dynamic_posts``
  dynamic KOL tasks, and open presale;
* A: hold ``a_reserve_hours`` of quick-response capacity and book ``a_dynamic_posts`` tasks;
* B: multiply the safety stock by ``b_safety_multiplier`` for ``b_hold_hours``.

A brand without quick-response factories holds no capacity. A hot spot closes after 12 hours
below grade B; the SKU can then have a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config import OpportunityPolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand

RANK = {"B": 1, "A": 2, "S": 3}
GRADES = {v: k for k, v in RANK.items()}
COOL_HOURS = 12  # hours below grade B that close a hot spot (half a day cold: over)


class NoGrading:
    """No hot-spot procedure."""

    active = False  # watch does nothing: the brand need not call it

    def __init__(self, params: OpportunityPolicy):
        self.params = params

    def watch(self, brand: Brand, sku: int, hour: int) -> None:
        """Nothing to watch."""


class Graded:
    """Grades each hot spot once and runs that grade's procedure."""

    active = True

    def __init__(self, params: OpportunityPolicy):
        self.params = params
        self._opened: dict[int, int] = {}  # sku -> hour its hot spot opened
        self._best: dict[int, int] = {}  # sku -> highest rank seen in the open hot spot
        self._graded: dict[int, bool] = {}  # sku -> the open hot spot has its grade
        self._peak: dict[int, float] = {}  # sku -> highest heat seen in the open hot spot
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
        """Track the SKU's hot spot; fix its grade once, then start that procedure."""
        p = self.params
        heat = brand.sensing.views_rate(sku, hour, p.window_hours) / brand.model.scale
        g = self.grade(heat)
        if g is None:
            self._cool[sku] = self._cool.get(sku, 0) + 1
            if self._cool[sku] >= COOL_HOURS:
                self._opened.pop(sku, None)
        else:
            self._cool[sku] = 0
        if sku not in self._opened:
            if g is None:
                return
            self._opened[sku], self._best[sku], self._graded[sku] = hour, RANK[g], False
            self._peak[sku] = heat
        if self._graded[sku]:
            return
        if g is not None:
            self._best[sku] = max(self._best[sku], RANK[g])
        self._peak[sku] = max(self._peak[sku], heat)
        best = GRADES[self._best[sku]]
        if best != "S" and hour < self._opened[sku] + p.window_hours:
            return  # still watching
        self._graded[sku] = True
        brand.model.log(
            "opportunity_graded",
            hour=hour,
            actor=brand.name,
            sku=brand.model.sku_names[sku],
            quantity=self._peak[sku],
            detail=f"grade {best}: peak {self._peak[sku]:.0f} views/h per 100k "
            f"(hot spot since hour {self._opened[sku]})",
        )
        if best == "B":
            brand.supply.raise_safety(sku, p.b_safety_multiplier, hour + int(p.b_hold_hours))
            return
        delay = p.s_decision_hours if best == "S" else p.a_decision_hours
        brand.model.call_at(hour + int(delay), self.respond, brand, sku, best)

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
        if reserve > 0:
            brand.supply.hold_capacity(sku, reserve, hour, p.reserve_fee_per_unit, f"grade {grade}")
        if posts:
            brand.supply.book_dynamic_posts(sku, posts, hour)
        if grade == "S":
            brand.selling.set_presale(sku, True, hour, "grade S procedure")
