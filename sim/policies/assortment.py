"""Assortment: test many designs with sample batches, then scale the winners, stop the rest.

``test_and_learn`` (article 000: "make a few hundred samples of many designs, let KOCs test
them, scale the winners"): until ``decision_hour`` the brand's designs are not replenished
(only their sample stock sells). At the decision, each design is scored by its demand per
content view over the test. The best ``winner_share`` are scaled up (``design_scaled``): an
order covering ``scale_up_days`` of their test-period demand rate, and ``winner_posts``
dynamic KOL tasks. The others are stopped (``design_stopped``): no more production, presale
closed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import AssortmentPolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand


class FullAssortment:
    """Every design is replenished from the start."""

    def __init__(self, params: AssortmentPolicy):
        self.params = params

    def plan(self, brand: Brand) -> None:
        """Nothing to plan."""

    def replenishes(self, brand: Brand, sku: int) -> bool:
        """Whether the brand replenishes ``sku`` now."""
        return True


class TestAndLearn:
    """Sample batches first; winners scaled up and losers stopped at the decision hour."""

    def __init__(self, params: AssortmentPolicy):
        self.params = params
        self.decided = False

    def plan(self, brand: Brand) -> None:
        """Schedule the decision."""
        brand.model.call_at(self.params.decision_hour, self.decide, brand)

    def replenishes(self, brand: Brand, sku: int) -> bool:
        """Only winners, and only after the decision."""
        return self.decided and not brand.stopped[sku]

    def scores(self, brand: Brand, hour: int) -> np.ndarray:
        """Demand per view of each of the brand's designs over the test (brand SKU order)."""
        views = brand.sensing.hourly_views[:hour].sum(axis=0)[brand.skus].astype(float)
        demand = brand.sensing.hourly_demand[:hour].sum(axis=0)[brand.skus].astype(float)
        return np.divide(demand, views, out=np.zeros(len(views)), where=views > 0)

    def decide(self, brand: Brand) -> None:
        """Rank the designs, scale the winners, stop the rest (event callback)."""
        m = brand.model
        hour = m.hour
        p = self.params
        score = self.scores(brand, hour)
        k = max(1, math.ceil(p.winner_share * len(brand.skus)))
        order = np.argsort(-score, kind="stable")
        winners = set(int(brand.skus[i]) for i in order[:k])
        self.decided = True
        for i, sku in enumerate(brand.skus):
            sku = int(sku)
            name = m.sku_names[sku]
            if sku not in winners:
                brand.stop_design(sku, hour)
                m.log(
                    "design_stopped",
                    hour=hour,
                    actor=brand.name,
                    sku=name,
                    value=score[i],
                    detail=f"{score[i]:.4f} orders per view",
                )
                continue
            rate = brand.sensing.hourly_demand[:hour, sku].sum() / max(1, hour)
            qty = math.ceil(p.scale_up_days * HOURS_PER_DAY * rate)
            m.log(
                "design_scaled",
                hour=hour,
                actor=brand.name,
                sku=name,
                quantity=qty,
                value=score[i],
                detail=f"{score[i]:.4f} orders per view",
            )
            if qty > 0:
                brand.supply.place_scale_up(sku, qty, hour)
            if p.winner_posts:
                brand.supply.book_dynamic_posts(sku, p.winner_posts, hour)
