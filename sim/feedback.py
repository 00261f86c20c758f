"""Supply feeding back into content and demand: the page, the rating, and their estimated cost.

Three switchable mechanisms (``market.feedback``; DESIGN.md section 9), each owned here and
changed only through this object's verbs, called by the consumers and the KOLs:

* **page sharing** — the product page a post links to is *sold out* for the share ``σ_so`` and
  *too slow* for the share ``σ_sl`` of the wishes turned to it in the last hour with wishes
  (:meth:`observe_offers`). A post's new views then feed its share cascade with the factor
  ``f = 1 - soldout_share_penalty·σ_so - slow_share_penalty·σ_sl`` (mean over its products):
  viewers of a sold-out live room's clips stop sharing. The views this costs are estimated
  by the mechanism itself: the ``(1-f)·n·V`` direct shares withheld in an hour with ``V`` new
  views would each have started ``1/(1-n)`` views in expectation in a world without the
  penalty (:meth:`withheld_shares`); the demand they would have brought is those views times
  the current wishes per content view of the product (:meth:`note_conversion`).
* **ratings** — a delivered order is reviewed with ``review_probability``; the review is bad
  when the order was late (past its promise), defective or sent back (:meth:`review`). Later
  viewers see the rating ``ρ = (good + prior_good) / (reviews + prior_good + prior_bad)`` and
  convert ``(ρ/ρ₀)^elasticity`` times as well (``ρ₀`` the prior rating)
  (:meth:`conversion_multiplier`).
* **warnings** — disappointed buyers (late, defective or returned) warn each peer with
  ``warn_probability``; a warned consumer's conversion for that product is multiplied by
  ``1 - warning_effect`` (the population keeps who was warned).

The demand the rating and the warnings cost (:meth:`add_demand_lost`: the wish probability
lost, summed over the exposures it applied to) is attributed to late delivery or to quality
(defects and returns) in proportion to the disappointed deliveries of each cause.
"""

from __future__ import annotations

import numpy as np

from sim.config import FeedbackConfig
from sim.holdings import state_without

STOCKOUT, LATE, QUALITY = 0, 1, 2
CAUSES = ("stockout", "late", "quality")


class Feedback:
    """Per-product page state, reviews, and the estimated views and demand lost per cause."""

    def __init__(self, cfg: FeedbackConfig, n_sku: int):
        self.cfg = cfg
        self.soldout_share = np.zeros(n_sku)  # of the last hour with wishes, per product
        self.slow_share = np.zeros(n_sku)
        self.good = np.zeros(n_sku, dtype=np.int64)  # reviews
        self.bad = np.zeros(n_sku, dtype=np.int64)
        self.disappointed = np.zeros((2, n_sku), dtype=np.int64)  # late, quality
        self.wishes_per_view = np.zeros(n_sku)  # the latest hour's, content channels
        self.views_lost = np.zeros((3, n_sku))  # by cause (stockout, late, quality)
        self.demand_lost = np.zeros((3, n_sku))
        self._prior = cfg.rating_prior_good / (cfg.rating_prior_good + cfg.rating_prior_bad)
        self._multiplier: np.ndarray | None = None  # conversion_multiplier until a review
        # add_demand_lost's split per product, for the disappointed counts it was made from
        self._split: tuple[bytes, np.ndarray, np.ndarray] | None = None
        # memoryviews of ``disappointed`` and ``demand_lost`` (add_demand_lost_of's cells: a
        # cell read or written without ``item`` and numpy's assignment, the same numbers);
        # made at the first use, again if either array was rebound; no copy keeps them
        # (__getstate__). The rule: these two arrays are only ever rebound, never resized or
        # frozen in place (a view holds a buffer export: ``resize`` raises, and
        # ``writeable = False`` would not stop writes through the view)
        self._lost_cells: tuple[memoryview, memoryview] | None = None

    def __getstate__(self) -> dict:
        """A copy's state (``copy.deepcopy``, pickle): no memoryview (none can be copied;
        :meth:`add_demand_lost_of` makes them again from the copy's arrays)."""
        return state_without(self, "_lost_cells")

    # ------------------------------------------------------------------ the page
    def observe_offers(self, skus: np.ndarray, sold_out: np.ndarray, too_slow: np.ndarray) -> None:
        """The hour's first-time wishes per product and how many were sold out / too slow."""
        seen = np.flatnonzero(skus > 0)
        self.soldout_share[seen] = sold_out[seen] / skus[seen]
        self.slow_share[seen] = too_slow[seen] / skus[seen]

    def observe_offers_of(self, sku: int, wishes: int, sold_out: int, too_slow: int) -> None:
        """:meth:`observe_offers` for one product, as numbers (the same division: an integer
        count by an integer count is a float64 division of two exact floats)."""
        if wishes > 0:
            self.soldout_share[sku] = sold_out / wishes
            self.slow_share[sku] = too_slow / wishes

    def share_factor(self, skus: np.ndarray) -> tuple[float, float, float]:
        """``(f, so, sl)`` for a post featuring ``skus``: the factor its new views feed the
        cascade with, and the penalty parts due to stock-outs and to slow promises."""
        if not self.cfg.page_sharing:
            return 1.0, 0.0, 0.0
        if len(skus) == 1:  # the common case, without numpy reductions (.item: a float)
            s = skus.item(0)
            so = self.cfg.soldout_share_penalty * self.soldout_share.item(s)
            sl = self.cfg.slow_share_penalty * self.slow_share.item(s)
        else:
            so = self.cfg.soldout_share_penalty * float(self.soldout_share[skus].mean())
            sl = self.cfg.slow_share_penalty * float(self.slow_share[skus].mean())
        total = min(so + sl, 1.0)
        if total <= 0:
            return 1.0, 0.0, 0.0
        scale = total / (so + sl)
        return 1.0 - total, so * scale, sl * scale

    def withheld_shares(
        self, skus: np.ndarray, new_views: int, parts: tuple[float, float], branching: float
    ) -> None:
        """Book the views and demand lost when ``new_views`` fed the cascade penalised by
        ``parts`` (stock-out, slow) of their shares."""
        if new_views == 0 or branching <= 0:
            return
        per_part = np.array(parts) * branching * new_views / (1.0 - branching) / len(skus)
        for cause, views in zip((STOCKOUT, LATE), per_part, strict=True):
            if views > 0:
                np.add.at(self.views_lost[cause], skus, views)
                np.add.at(self.demand_lost[cause], skus, views * self.wishes_per_view[skus])

    def note_conversion(self, views: np.ndarray, wish_probability_sum: np.ndarray) -> None:
        """The hour's content views per product and the sum of their wish probabilities."""
        seen = np.flatnonzero(views > 0)
        self.wishes_per_view[seen] = wish_probability_sum[seen] / views[seen]

    def note_conversion_of(
        self, views: dict[int, int], wish_probability_sum: dict[int, float]
    ) -> None:
        """:meth:`note_conversion` for a few products as Python numbers: ``views`` per product
        seen (all > 0), the sum of its wish probabilities (absent: 0.0). The same division
        (an integer count divides a float64 as numpy's ``true_divide`` does: as a float)."""
        per_view = self.wishes_per_view
        for s, v in views.items():
            per_view[s] = wish_probability_sum.get(s, 0.0) / v

    # ------------------------------------------------------------------ reviews
    def review(
        self,
        skus: np.ndarray,
        late: np.ndarray,
        quality: np.ndarray,
        reviewed: np.ndarray,
    ) -> None:
        """Delivered orders: count the disappointed by cause, and the reviews left."""
        np.add.at(self.disappointed[0], skus[late], 1)
        np.add.at(self.disappointed[1], skus[quality & ~late], 1)
        bad = late | quality
        np.add.at(self.bad, skus[reviewed & bad], 1)
        np.add.at(self.good, skus[reviewed & ~bad], 1)
        self._multiplier = None

    def rating(self) -> np.ndarray:
        """The rating each product's page shows (share of good reviews, with the prior)."""
        c = self.cfg
        return (self.good + c.rating_prior_good) / (
            self.good + self.bad + c.rating_prior_good + c.rating_prior_bad
        )

    def conversion_multiplier(self) -> np.ndarray:
        """Per product: how much the rating multiplies conversion (1 with ratings off).

        Computed once per change of the reviews (do not modify the array returned)."""
        if self._multiplier is None:
            if not self.cfg.ratings:
                self._multiplier = np.ones(len(self.good))
            else:
                self._multiplier = np.power(self.rating() / self._prior, self.cfg.rating_elasticity)
        return self._multiplier

    def add_demand_lost(self, skus: np.ndarray, lost_probability: np.ndarray) -> None:
        """Wish probability lost to the rating or warnings, split into late and quality."""
        if len(skus) == 0:
            return
        total = np.bincount(skus, weights=lost_probability, minlength=len(self.good))
        late_share, quality_share = self._late_split()
        self.demand_lost[LATE] += total * late_share
        self.demand_lost[QUALITY] += total * quality_share

    def _late_split(self) -> tuple[np.ndarray, np.ndarray]:
        """Per product, the share of the disappointed deliveries that were late (0.5 without
        any) and the rest; worked out again only when the counts' bytes change."""
        counts = self.disappointed.tobytes()
        split = self._split
        if split is None or split[0] != counts:
            d = self.disappointed.astype(float)
            n = d.sum(axis=0)
            late_share = np.divide(d[0], n, out=np.full(len(n), 0.5), where=n > 0)
            split = self._split = (counts, late_share, 1.0 - late_share)
        return split[1], split[2]

    def add_demand_lost_of(self, lost: dict[int, float]) -> None:
        """:meth:`add_demand_lost` for a few products as Python numbers: per product, the sum
        of its lost wish probabilities, added in their order from 0.0 (as ``np.bincount``
        adds them). Products without a loss are left alone: the long way adds ``0.0`` to
        them, which changes no value these books can hold (never ``-0.0``: they start at
        ``+0.0`` and only grow)."""
        cells = self._lost_cells
        if (
            cells is None
            or cells[0].obj is not self.disappointed
            or (cells[1].obj is not self.demand_lost)
        ):
            cells = self._lost_cells = (
                memoryview(self.disappointed),
                memoryview(self.demand_lost),
            )
        d, demand_lost = cells  # (int64 read as Python ints, float64 as Python floats)
        for s, total in lost.items():
            # whole counts (below 2**53): their true division is the correctly rounded
            # quotient, as the floats' division of the same values
            late = d[0, s]
            n = late + d[1, s]
            late_share = late / n if n > 0 else 0.5
            # the same float64 additions on Python floats (``a[i] += x`` reads a numpy
            # scalar and adds in numpy, several times slower), written as the same doubles
            demand_lost[LATE, s] = demand_lost[LATE, s] + total * late_share
            demand_lost[QUALITY, s] = demand_lost[QUALITY, s] + total * (1.0 - late_share)
