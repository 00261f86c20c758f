"""The consumer population: individuals stored as columns inside one Mesa agent.

Each consumer has a region, price sensitivity, patience (the longest delivery promise they
accept, hours), return propensity, peer links (word of mouth) and, per product, an exposure
count and a state (0 none, 1 bought, 2 waiting to come back). Work per hour is proportional
to the consumers touched that hour (exposed, recommended, receiving, returning, cancelling),
never to the whole population.

A consumer exposed to a product *wants* it with probability

    p = c_channel · trust_kol · exp(-s·(price/reference_price - 1)) · novelty(t)
        · (1 + boost·(exposures - 1))

(clipped to 1), times the fatigue ``exp(-fatigue·max(0, exposures - onset))``, the rating
multiplier of the product's page and, for a consumer warned by a disappointed peer,
``1 - warning_effect`` (sim.feedback). A wish is *demand*; the brand then accepts it (in stock
with a promise the consumer's patience allows, or a pre-order) or not. A consumer turned away
may buy a substitute of another brand, come back once later, or leave (a lost sale). Satisfied
buyers recommend to their peers; disappointed ones (late, defective or returned) warn them.
Peers are uniformly random links, or the social graph's contacts when it is enabled.

What lives where: this module holds the population's columns and its hour (organic and
imitation exposures, :meth:`ConsumerPopulation.decide`, the offers to the brands, revisits,
substitutes and lost sales, cancellations, parcels, returns, recommendations and warnings) and
the outcomes of an offer (``ACCEPTED`` ...). Which exposures become wishes (the probability
above, one chance per consumer and product per hour, the conversion books) is decided in
:mod:`sim.agents.wishes`, which also holds the consumers' states (``NONE`` ... ``WARNED``); the
per-hour tables both read (the products on sale, novelty, the exposure count's factors) are
kept in :mod:`sim.agents.consumer_tables`. :class:`ConsumerPopulation` takes their methods
as its bases (:class:`~sim.agents.wishes.WishDecisions`, itself a
:class:`~sim.agents.consumer_tables.HourTables`).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import compiled
from sim.agents import wishes as _wishes
from sim.agents.consumer_tables import _OnSale, _SeenTables
from sim.agents.wishes import (
    _ANY,
    _CONTENT,
    _WISH_CHUNK,
    BOUGHT,
    NONE,
    WAITING,
    WARNED,
    WishDecisions,
    _coded_hour,
    _concat,
)
from sim.clock import HOURS_PER_DAY
from sim.config import MarketConfig, OrganicMemory
from sim.content import Exposures
from sim.holdings import int_sum, ints
from sim.messages import Wishes
from sim.orders import (
    ALLOCATED,
    BACKLOG,
    CH_ORGANIC,
    CH_REVISIT,
    CH_SUBST,
    CH_WOM,
    DELIVERED,
    PICKED,
)
from sim.rng import LazyStream, generator, poisson_integers, stream
from sim.social_graph import SocialGraph, _Choice, build

if TYPE_CHECKING:
    from sim.model import ViralChainModel
    from sim.world import Pieces

ACCEPTED, SOLD_OUT, TOO_SLOW = 0, 1, 2
LEFT = 3  # a lost sale's cause: still waiting to come back when the run ended
# the ledger counter of each cause of a lost sale
LOST_CAUSES = {SOLD_OUT: "lost_sold_out", TOO_SLOW: "lost_too_slow", LEFT: "lost_left"}
# organic discovery's hour draws on Python numbers from its stream's first outputs when
# its mean is below this (numpy's Poisson by multiplication; above: numpy's generator), from
# rows of 6 outputs below a mean of 2 (up to 3 exposures), of 32 above (up to 20); an hour
# needing more outputs than its row holds draws with numpy's generator
_PY_ORGANIC = 10.0
# an hour of up to this many fresh exposures draws its wish numbers on Python numbers
# (sim.rng.LazyStream: its generator made only if more is drawn)
_LAZY_FEW = 4
# parcels of a world of one product take its numbers as scalars (False: as arrays, for the
# tests)
_ONE_PARCELS = True
# up to this many parcels of one product, a delivery is worked out on Python numbers
# (receive_parcels)
_FEW_PARCELS = 16
# a quiet hour's one organic exposure goes straight to the one-exposure decision, without
# a batch (False: through its batch and _wishes, for the tests). It is not read from
# wishes._SMALL_BATCH or _WISH_CHUNK: a test that wants the numpy way of every decision
# turns this off too
_ONE_SCALAR = True
# a world of one product books its platforms' demand on product 0's row and its kept units
# returned as an integer (False: the per-product books, for the tests; its demand, lost sales
# and returns per region: on product 0's row by the ledger itself, sim.ledger._ONE_ROW)
_ONE_BOOKS = True


def organic_multiplier(
    memory: OrganicMemory, n_sku: int, days: int, rng: np.random.Generator
) -> np.ndarray:
    """(SKU x day) multipliers ``exp(x_d - s²/2)`` of the organic rate, ``x`` a stationary
    AR(1) per SKU (``x_0`` from its stationary law N(0, s²)): mean 1, autocovariance
    ``exp(s²·ρ^|k|) - 1`` at a lag of ``k`` days."""
    s, rho = memory.log_sd, memory.rho
    eps = rng.normal(0.0, s, (n_sku, days))
    x = np.empty((n_sku, days))
    x[:, 0] = eps[:, 0]
    innovation = math.sqrt(1.0 - rho * rho)
    for d in range(1, days):
        x[:, d] = rho * x[:, d - 1] + innovation * eps[:, d]
    return np.exp(x - 0.5 * s * s)


class ConsumerPopulation(WishDecisions, mesa.Agent):
    """All consumers of the market, as numpy columns (the wish decision and the per-hour
    tables: its bases, :mod:`sim.agents.wishes` and :mod:`sim.agents.consumer_tables`)."""

    def __init__(self, model: ViralChainModel, cfg: MarketConfig, pieces: Pieces | None = None):
        super().__init__(model)
        self.cfg = cfg
        n, P = cfg.n_consumers, model.n_sku
        self.n = n
        rng = stream(model.seed, "population")
        c = cfg.consumer
        # each trait is drawn in chunks straight into its narrow column: the same draws in
        # the same order as one call per trait (numpy's generators are sequential), without
        # a float64 or int64 temporary the size of the population
        share = model.geo.population_share
        region_type = np.uint8 if len(share) <= 256 else np.int16  # region ids: indices only
        regions = _Choice(share)  # rng.choice(len(share), size=k, p=share), quicker
        self.region = _drawn(n, region_type, lambda k: regions.draw(rng, k, region_type))
        # the social graph from its own stream and the regions, beside the traits' draws
        # (then the KOLs' samples kept for now: see sim.world.Pieces); on two threads the
        # attribute is set by the end of the build's Pieces block (missing before it)
        self.graph: SocialGraph | None
        if not cfg.social_graph.enabled:
            self.graph = None
        else:
            graph = functools.partial(
                build, self.region, len(model.geo), cfg.social_graph, stream(model.seed, "graph")
            )
            if pieces is None:
                self.graph = graph()
            else:
                pieces.beside(self, "graph", graph)
                pieces.run_later()
        # the float traits: with the kernel (sim/_traits.c) numpy's own distribution code
        # draws each value and the cast writes it into the column, no float64 chunk between;
        # parameters numpy would refuse (or odd ones) take the Python path and its errors
        # (mean and log_median are finite: the config refuses nan/inf, so no test of them)
        mean, sd = c.price_sensitivity_mean, c.price_sensitivity_sd
        if _T is not None and _not_negative(sd):
            column = np.empty(n, dtype=np.float32)
            self.price_sensitivity = _fused(rng, column, _T.normal, mean, sd, True)
        else:
            self.price_sensitivity = _drawn(
                n, np.float32, lambda k: np.maximum(0.0, rng.normal(mean, sd, k))
            )
        log_median, log_sd = math.log(c.patience_hours_median), c.patience_log_sd
        if _T is not None and _not_negative(log_sd):
            column = np.empty(n, dtype=np.float32)
            self.patience_hours = _fused(rng, column, _T.lognormal, log_median, log_sd)
        else:
            self.patience_hours = _drawn(
                n, np.float32, lambda k: rng.lognormal(log_median, log_sd, k)
            )
        m = c.return_propensity_mean
        if 0 < m < 1:  # Beta with mean m and a = 2
            b = 2.0 * (1 - m) / m
            if _T is not None and _finite(b) and b > 0:  # m = 1e-320 gives b = inf
                column = np.empty(n, dtype=np.float32)
                self.return_propensity = _fused(rng, column, _T.beta, 2.0, b)
            else:
                self.return_propensity = _drawn(n, np.float32, lambda k: rng.beta(2.0, b, k))
        else:
            self.return_propensity = np.full(n, m, dtype=np.float32)
        self.platform = model.consumer_platform
        wom = cfg.word_of_mouth
        graph_on = cfg.social_graph.enabled
        k = wom.peers_per_consumer if wom.mixing == "peers" and not graph_on else 0
        self.peers = _drawn(
            n, np.int32, lambda rows: rng.integers(0, n, size=(rows, k), dtype=np.int32), k
        )
        self.exposure_count = np.zeros((n, P), dtype=np.uint16)
        self.state = np.zeros((n, P), dtype=np.int8)
        # future work, bucketed by hour
        self._scheduled: dict[int, list[Exposures]] = {}
        self._cancel_checks: dict[int, list[np.ndarray]] = {}
        self._returns_due: dict[int, list[np.ndarray]] = {}
        self.kept_units = np.zeros(P, dtype=np.int64)  # delivered and not sent back, per SKU
        self.adopters = np.zeros(P, dtype=np.int64)  # consumers who bought, per SKU
        self.organic_multiplier = (
            organic_multiplier(
                cfg.organic.memory,
                P,
                -(-model.horizon_hours // HOURS_PER_DAY),
                stream(model.seed, "organic_memory"),
            )
            if cfg.organic.memory is not None
            else None
        )
        self._sale_span: _OnSale | None = None  # the products on sale, per span of hours
        # every product's novelty for a span of hours (see _novelty_row)
        self._novelty_table: tuple[int, np.ndarray, list[list[float]]] | None = None
        self._seen_tables: _SeenTables | None = None  # the count's factors (_seen_factors)
        self._flat_views: tuple[np.ndarray, np.ndarray] | None = None  # see _flat_books

    # ------------------------------------------------------------------ demand
    def organic_exposures(
        self, hour: int, rng: np.random.Generator | None = None, raw: bool = False
    ) -> Exposures | list[int] | None:
        """Background discovery: the innovation term, drawn in O(exposures). ``rng``: the
        hour's organic stream (None: the stream named by the hour, made only when drawn
        from; the usual quiet hour, one product and a mean below :data:`_PY_ORGANIC`, draws
        on Python numbers without its generator: :func:`sim.rng.poisson_integers`, the same
        numbers). ``raw``: such an hour's exposures as the list of consumers exposed to the
        one product on sale (other hours: as always)."""
        rate = self.cfg.organic.exposure_rate_per_day
        on_sale = self._on_sale(hour)
        launched = on_sale.ids
        if rate <= 0 or len(launched) == 0:
            return None
        if self.organic_multiplier is not None:  # per product: the rate has memory
            if rng is None:
                rng = stream(self.model.seed, "organic", hour)
            mult = self.organic_multiplier[launched, hour // HOURS_PER_DAY]
            per_sku = rng.poisson(rate / HOURS_PER_DAY * self.n * mult)
            k = int(per_sku.sum())
            if k == 0:
                return None
            skus = np.repeat(launched, per_sku).astype(np.int32)
            return Exposures(rng.integers(0, self.n, k), skus, CH_ORGANIC, -1)
        lam = rate / HOURS_PER_DAY * self.n * len(launched)
        if rng is None:
            if len(launched) == 1 and 0.0 < lam < _PY_ORGANIC and 2 <= self.n <= 0xFFFFFFFF:
                outputs = self._hour_outputs("organic", hour, 6 if lam < 2.0 else 32)
                if outputs is None:
                    drawn = None
                elif (quiet := _wishes._QUIET) is not None:  # (the kernel's one name)
                    drawn = quiet.poisson_integers(outputs, lam, self.n)
                else:
                    drawn = poisson_integers(outputs, lam, self.n)
                if drawn is not None:
                    if not drawn:
                        return None
                    return drawn if raw else self._organic_batch(hour, drawn, on_sale)
            rng = stream(self.model.seed, "organic", hour)
        k = int(rng.poisson(lam))
        if k == 0:
            return None
        if k == 1:  # a scalar draw takes the same 32-bit words as a draw of one, faster
            consumers = np.array([rng.integers(0, self.n)], dtype=np.int64)
        else:
            consumers = rng.integers(0, self.n, k)
        if len(launched) == 1:  # rng.integers(0, 1, k) draws nothing: all zeros
            skus = on_sale.ids32.copy() if k == 1 else on_sale.ids32.repeat(k)
        else:
            skus = launched[rng.integers(0, len(launched), k)].astype(np.int32)
        return Exposures(consumers, skus, CH_ORGANIC, -1)

    def _organic_batch(
        self, hour: int, consumers: list[int], on_sale: _OnSale | None = None
    ) -> Exposures:
        """Organic discovery's exposures of ``consumers`` (drawn on Python numbers) to the
        one product on sale (``on_sale``: the hour's products on sale, if known)."""
        ids32 = (self._on_sale(hour) if on_sale is None else on_sale).ids32
        return Exposures(
            np.array(consumers, np.int64), ids32.repeat(len(consumers)), CH_ORGANIC, -1
        )

    def imitation_exposures(self, rng: np.random.Generator) -> Exposures | None:
        """Fully mixed word of mouth: every adopter recommends at ``contacts_per_day`` to
        uniformly random consumers, so a non-adopter's hazard is ``q·A/N`` per day with
        ``q = contacts_per_day · conversion_probability`` (the Bass imitation term)."""
        rate = self.cfg.word_of_mouth.contacts_per_day / HOURS_PER_DAY
        if rate <= 0 or not self.adopters.any():
            return None
        k = rng.poisson(rate * self.adopters)
        total = int(k.sum())
        if total == 0:
            return None
        skus = np.repeat(np.arange(len(k), dtype=np.int32), k)
        return Exposures(rng.integers(0, self.n, total), skus, CH_WOM, -1)

    def decide(self, hour: int, content: list[Exposures]) -> None:
        """Turn this hour's exposures into wishes, then orders, substitutions or lost sales."""
        m = self.model
        scheduled = self._scheduled.pop(hour, None)
        one = -1  # the consumer of a quiet hour's one exposure (organic), decided on scalars
        if content or scheduled or self.cfg.word_of_mouth.mixing == "fully_mixed":
            # (the hour's organic stream is made only when organic discovery can draw from it)
            organic = self.organic_exposures(hour)
            batches = [*content, *(scheduled or ())]
            if organic is not None:
                batches.append(organic)
            if self.cfg.word_of_mouth.mixing == "fully_mixed":
                imitation = self.imitation_exposures(stream(m.seed, "imitation", hour))
                if imitation is not None:
                    batches.append(imitation)
            # (each batch's length read from its consumers: not through Exposures.__len__)
            fresh, revisits = [], []
            total = 0
            for b in batches:
                size = len(b.consumers)
                if not size:
                    continue
                if b.channel != CH_REVISIT:
                    fresh.append(b)
                    total += size
                else:
                    revisits.append(b)
            if not fresh and not revisits:
                return
        else:  # a quiet hour: organic discovery's exposures alone, if any
            organic = self.organic_exposures(hour, raw=True)
            if organic is None:
                return
            if type(organic) is list:  # the usual hour, drawn on Python numbers
                if len(organic) == 1 and _ONE_SCALAR:
                    one = organic[0]
                else:
                    organic = self._organic_batch(hour, organic)
            fresh, revisits = [organic], []
            total = len(organic)
        # drawn from below: created only then; an hour of a few exposures draws its first
        # numbers on Python numbers, its generator made only if more is drawn (the usual
        # quiet hour's exposure ends in no wish: one number)
        rng: np.random.Generator | LazyStream
        outputs = (
            self._hour_outputs("consumers", hour, _LAZY_FEW) if 0 < total <= _LAZY_FEW else None
        )
        if outputs is not None:
            rng = LazyStream(outputs, m.seed, "consumers", hour)
        else:
            rng = stream(m.seed, "consumers", hour)

        # content views, per SKU and region: integer counts, so added in any grouping (all
        # the hour's batches at once, or a large hour by slices) they give the same books;
        # an hour the one-product way decides books them with its wishes
        if one >= 0:  # (an organic exposure is no content view)
            product = self._on_sale(hour).ids.item(0)
            wish = self._one_wish_row(hour, one, product, CH_ORGANIC, -1, rng)
        else:
            coded = _coded_hour(m.n_sku, total)
            views = [] if coded else [b for b in fresh if b.channel in _CONTENT]
            if views and total > _WISH_CHUNK and self._views_by_region_in_c(views):
                pass  # (a large hour's views counted per region in C: the same books)
            elif len(views) > 1 and (
                total <= _WISH_CHUNK or sum(len(b) for b in views) <= _WISH_CHUNK
            ):
                c = np.concatenate([b.consumers for b in views])
                k = np.concatenate([b.skus for b in views])
                m.ledger.add_region_flow("views", k, self.region[c], 1)
            else:
                for b in views:
                    for a in range(0, len(b), _WISH_CHUNK):
                        c, k = b.consumers[a : a + _WISH_CHUNK], b.skus[a : a + _WISH_CHUNK]
                        m.ledger.add_region_flow("views", k, self.region[c], 1)
            wish = self._wishes(hour, fresh, rng, coded, total)
        if revisits:
            rv = _concat(revisits)
            m.ledger.intents_resolved(rv[1], rv[4])
            self.state[rv[0], rv[1]] = NONE
            rv_wish = (rv[0], rv[1], rv[2], rv[3], rv[4], np.ones(len(rv[0]), bool))
            wish = _stack(wish, rv_wish) if wish is not None else rv_wish
        if wish is None or len(wish[0]) == 0:
            return
        rng = generator(rng)
        consumers, skus, channels, kols, qty, is_revisit = wish
        if len(consumers) > 1:  # random arrival order within the hour (one wish: shuffling
            # one element draws nothing, and the order is itself)
            order = rng.permutation(len(consumers))
            consumers, channels, kols = consumers[order], channels[order], kols[order]
            qty = qty[order]
            if m.n_sku > 1:  # (one product: every wish's product is 0)
                skus = skus[order]
            if revisits:  # (without revisits no wish is one)
                is_revisit = is_revisit[order]
        if revisits:  # the first-time wishes (the demand)
            first = ~is_revisit
            f_consumers, f_skus, f_qty = consumers[first], skus[first], qty[first]
        else:  # every wish: the arrays themselves
            first = slice(None)
            f_consumers, f_skus, f_qty = consumers, skus, qty
        f_regions, f_platforms = self.region[f_consumers], self.platform[f_consumers]
        m.ledger.add_region_flow("demand", f_skus, f_regions, f_qty)
        if m.n_sku == 1 and _ONE_BOOKS:  # product 0's row (1-D: quicker, the same sums)
            ints.add.at(m.ledger.platform_units["demand"][0], f_platforms, f_qty)
        else:
            np.add.at(m.ledger.platform_units["demand"], (f_skus, f_platforms), f_qty)
        # without revisits the wishes' regions and platforms are those just read
        known = None if revisits else (f_regions, f_platforms)
        outcome = self._offer(hour, consumers, skus, channels, kols, qty, known)
        _observe_page(m, f_skus, outcome[first])
        failed = outcome != ACCEPTED
        if not _ANY(failed):  # (ufuncs' reductions: not the methods' Python wrappers)
            return
        # consumers turned away: substitute, come back later, or leave
        f_idx = failed.nonzero()[0]
        u = rng.random(len(f_idx))
        sub_p = self.cfg.consumer.substitution_probability
        subst_sku = m.substitute_for(skus[f_idx], hour, rng)
        try_sub = (u < sub_p) & (subst_sku >= 0)
        rest = ~try_sub
        rev_p = self.cfg.consumer.revisit_probability
        v = rng.random(len(f_idx))
        come_back = rest & (v < rev_p) & ~is_revisit[f_idx] & (outcome[f_idx] == SOLD_OUT)
        lost = rest & ~come_back
        # the original product is lost when the consumer substitutes or leaves
        gone = f_idx[try_sub | lost]
        self._lose(skus[gone], consumers[gone], qty[gone], outcome[gone])
        if come_back.any():
            cb = f_idx[come_back]
            self.state[consumers[cb], skus[cb]] = WAITING
            m.ledger.intents_waiting(skus[cb], qty[cb])
            due = hour + self.cfg.consumer.revisit_delay_hours
            if due < m.horizon_hours:
                self._schedule(
                    due, Exposures(consumers[cb], skus[cb], CH_REVISIT, -1, quantity=qty[cb])
                )
            else:  # the horizon ends first: the consumer left while waiting
                m.ledger.intents_resolved(skus[cb], qty[cb])
                self._lose(skus[cb], consumers[cb], qty[cb], np.full(len(cb), LEFT))
        if try_sub.any():
            s_idx = f_idx[try_sub]
            sc, ss, sq = consumers[s_idx], subst_sku[try_sub], qty[s_idx]
            st = self.state[sc, ss]
            ok = (st == NONE) | (st == WARNED)
            sc, ss, sq = sc[ok], ss[ok], sq[ok]
            if len(sc):
                m.ledger.add_region_flow("demand", ss, self.region[sc], sq)
                neg = np.full(len(sc), -1, dtype=np.int32)
                sub_out = self._offer(hour, sc, ss, np.full(len(sc), CH_SUBST, np.int8), neg, sq)
                bad = sub_out != ACCEPTED
                self._lose(ss[bad], sc[bad], sq[bad], sub_out[bad])

    def _offer(self, hour, consumers, skus, channels, kols, qty, known=None) -> np.ndarray:
        """Ask each product's brand to accept the wishes; returns the outcome per wish.
        ``known``: the wishes' regions and platforms, if already read."""
        if self.model.n_sku == 1:  # every wish is for product 0: no selection
            return self._offer_one(hour, 0, consumers, channels, kols, qty, known)
        return self._offer_each(hour, consumers, skus, channels, kols, qty)

    def _offer_each(self, hour, consumers, skus, channels, kols, qty) -> np.ndarray:
        """:meth:`_offer`, product by product."""
        outcome = np.full(len(consumers), SOLD_OUT, dtype=np.int8)
        for sku in np.unique(skus):
            sel = np.flatnonzero(skus == sku)
            outcome[sel] = self._offer_one(
                hour, int(sku), consumers[sel], channels[sel], kols[sel], qty[sel]
            )
        return outcome

    def _offer_one(self, hour, sku, consumers, channels, kols, qty, known=None) -> np.ndarray:
        """:meth:`_offer` when every wish is for ``sku``: the brand is handed the wishes'
        own arrays (``take_orders`` reads its wishes and copies what it keeps); ``known``:
        their regions and platforms, if already read."""
        m = self.model
        if known is None:
            known = (self.region[consumers], self.platform[consumers])
        outcome = (
            m.brand_of_sku(sku)
            .selling.take_orders(
                hour,
                sku,
                Wishes(
                    consumers=consumers,
                    regions=known[0],
                    quantity=qty,
                    patience=self.patience_hours[consumers] * m.channel_patience[channels],
                    channels=channels,
                    kols=kols,
                    platforms=known[1],
                ),
            )
            .astype(np.int8, copy=False)
        )
        accepted = outcome == ACCEPTED
        # (the product's column, then its rows: quicker than a 2-D index, the same writes)
        self.state[:, sku][consumers[accepted]] = BOUGHT
        self.adopters[sku] += int(np.add.reduce(accepted, dtype=np.intp))  # (the Trues)
        return outcome

    def _lose(self, skus, consumers, qty, reasons) -> None:
        m = self.model
        if len(skus) == 0:
            return
        m.ledger.add_region_flow("lost", skus, self.region[consumers], qty)
        one = m.n_sku == 1  # product 0's counters: each cause's units as one integer sum
        for cause, field in LOST_CAUSES.items():
            sel = reasons == cause
            if one:
                m.ledger.add_units(field, 0, int(qty[sel].sum()))
            else:
                m.ledger.add_units(field, skus[sel], qty[sel])

    def _schedule(self, hour: int, batch: Exposures) -> None:
        self._scheduled.setdefault(hour, []).append(batch)

    def expire_waiting(self) -> None:
        """At the end of a run, wishes still waiting to come back are lost sales."""
        m = self.model
        for hour in sorted(self._scheduled):
            for b in self._scheduled[hour]:
                if b.channel == CH_REVISIT and len(b):
                    m.ledger.intents_resolved(b.skus, b.quantity)
                    self._lose(b.skus, b.consumers, b.quantity, np.full(len(b), LEFT))
        self._scheduled.clear()

    # ------------------------------------------------------------------ orders after sale
    def watch_order(self, order_ids: np.ndarray, deadlines: np.ndarray) -> None:
        """Remember to check these orders for cancellation at their deadlines (hours)."""
        horizon = self.model.horizon_hours
        if len(deadlines) == 1:  # one order (the usual): its deadline alone
            d = deadlines.item(0)
            if d < horizon:
                self._cancel_checks.setdefault(d, []).append(order_ids[:1].copy())
            return
        # each deadline's orders, in their order (np.unique and a mask per deadline, at once)
        for d, at in _positions_by_value(deadlines):
            if d < horizon:
                self._cancel_checks.setdefault(d, []).append(order_ids[at])

    def check_cancellations(self, hour: int) -> None:
        """Waiting consumers whose order is late past the grace may cancel it."""
        m = self.model
        due = self._cancel_checks.pop(hour, None)
        if not due:
            return
        ids = np.concatenate(due)
        book = m.orders
        status = book.status[ids]
        late = ids[(status == BACKLOG) | (status == ALLOCATED) | (status == PICKED)]
        if len(late) == 0:
            return
        rng = stream(m.seed, "cancellations", hour)
        cancel = late[rng.random(len(late)) < self.cfg.consumer.late_cancel_probability]
        if len(cancel):
            _to_brands(m, cancel, lambda selling, own: selling.cancel_orders(own, hour))

    def receive_parcels(self, order_ids: np.ndarray, hour: int) -> None:
        """Parcels reach their buyers: delivered; some will go back, the rest spread the word."""
        m = self.model
        book = m.orders
        book.deliver(order_ids, hour)
        # a few parcels of one product (the usual delivery): on Python numbers (the same
        # numbers)
        if m.n_sku == 1 and _ONE_PARCELS and len(order_ids) <= _FEW_PARCELS:
            self._few_parcels(order_ids, hour)
            return
        skus, qty = book.sku[order_ids], book.quantity[order_ids]
        m.ledger.add_units("delivered", skus, qty)
        m.ledger.add_money("delivered_value", book.brand[order_ids], book.price[order_ids] * qty)
        # one product (every order product 0): its numbers as scalars (integer sums, one
        # factor), and no defect drawn against a stock hiding none
        one = m.n_sku == 1 and _ONE_PARCELS
        if one:
            self.kept_units[0] += int(qty.sum())
        else:
            np.add.at(self.kept_units, skus, qty)
        rng = stream(m.seed, "deliveries", hour, int(order_ids[0]))
        c = self.cfg.consumer
        n = len(order_ids)
        consumers = book.consumer[order_ids]
        p = self.return_propensity[consumers].astype(np.float64)
        p[book.impulse[order_ids]] *= c.impulse_return_multiplier
        p *= m.return_multiplier[0] if one else m.return_multiplier[skus]
        late = (hour - book.placed_hour[order_ids]) > book.promise_hours[order_ids]
        p[late] *= c.late_return_multiplier
        # defective units that slipped through factory checks come back for sure
        found = None
        if one and not m.ledger.hides_defects():
            rng.random(n)  # (each parcel's number is drawn all the same)
        else:
            d = m.ledger.defective_share()[skus]
            defective = (d > 0) & (rng.random(n) < 1 - np.power(1 - d, qty))
            if defective.any():
                found = defective
                p[defective] = 1.0
        # returned; every defective parcel among them (p = 1.0 > any draw): also the
        # quality the reviews and warnings read
        back = rng.random(n) < np.minimum(p, 1.0)
        reviewed = rng.random(n) < m.feedback.cfg.review_probability
        self._after_delivery(order_ids, skus, late, back, reviewed, back.any(), found, hour, rng)

    def _few_parcels(self, order_ids: np.ndarray, hour: int) -> None:
        """:meth:`receive_parcels` of a few parcels (at most :data:`_FEW_PARCELS`, delivered
        already) of a world of one product: each parcel's numbers read as Python numbers,
        the same float64 operations in the same order (the return chance: the propensity,
        times the impulse factor, the product's factor and the lateness factor; 1.0 for a
        defective parcel), the same books (the delivered units and kept units as one integer
        sum, the delivered value added order by order as ``np.add.at`` adds it) and the same
        draws (the defects' numbers, drawn all the same, the returns' and the reviews': one
        ``random`` call for the three, as numpy's generators draw them in turn). The chance
        of a defect is numpy's own (``np.power`` on the same arrays), worked out only when
        the stock hides some."""
        m = self.model
        book = m.orders
        ids = order_ids.tolist()
        n = len(ids)
        quantity, brand, price = book.quantity, book.brand, book.price
        qty = [quantity.item(i) for i in ids]
        units = sum(qty)
        m.ledger.add_units("delivered", 0, units)
        for i, q in zip(ids, qty, strict=True):  # (float64 price times the units: a float)
            m.ledger.add_money("delivered_value", brand.item(i), price.item(i) * q)
        self.kept_units[0] += units
        rng = stream(m.seed, "deliveries", hour, ids[0])
        c = self.cfg.consumer
        fb = m.feedback
        skus = book.sku[order_ids]
        hidden = m.ledger.hides_defects()
        if hidden:  # each parcel's chance of a defect, as the array way works it out
            d = m.ledger.defective_share()[skus]
            defect = (1 - np.power(1 - d, quantity[order_ids])).tolist()
        u = rng.random(3 * n).tolist()  # defects, returns, reviews
        consumer, impulse = book.consumer, book.impulse
        placed, promise = book.placed_hour, book.promise_hours
        propensity, factor = self.return_propensity, m.return_multiplier.item(0)
        review = fb.cfg.review_probability
        late_l, back_l, reviewed_l, defective = [], [], [], []
        for j, i in enumerate(ids):
            p = propensity.item(consumer.item(i))  # (a float32 as a float: exact)
            if impulse.item(i):
                p *= c.impulse_return_multiplier
            p *= factor
            late = (hour - placed.item(i)) > promise.item(i)  # (exact: small integers)
            if late:
                p *= c.late_return_multiplier
            if hidden and u[j] < defect[j]:  # defective units come back for sure
                defective.append(j)
                p = 1.0
            late_l.append(late)
            back_l.append(u[n + j] < min(p, 1.0))
            reviewed_l.append(u[2 * n + j] < review)
        self._after_delivery(
            order_ids,
            skus,
            np.array(late_l, bool),
            np.array(back_l, bool),
            np.array(reviewed_l, bool),
            True in back_l,
            np.array(defective, np.intp) if defective else None,
            hour,
            rng,
        )

    def _after_delivery(
        self,
        order_ids: np.ndarray,
        skus: np.ndarray,
        late: np.ndarray,
        back: np.ndarray,
        reviewed: np.ndarray,
        returned: bool,
        defective: np.ndarray | None,
        hour: int,
        rng: np.random.Generator,
    ) -> None:
        """What follows a delivery's draws, the same for :meth:`receive_parcels` and
        :meth:`_few_parcels`: the defective parcels found (``defective``: their positions
        or mask, None if none) marked and booked, the reviews (``reviewed`` read with
        ratings on), the returns scheduled (``returned``: ``back`` holds a True), then the
        warnings and the word spread (``rng`` drawn on in this order)."""
        m = self.model
        if defective is not None:
            bad = order_ids[defective]
            m.orders.mark_defective(bad)
            m.ledger.defective_found(skus[defective], m.orders.quantity[bad])
        fb = m.feedback
        if fb.cfg.ratings:
            fb.review(skus, late, back, reviewed)
        else:
            fb.review(skus, late, back, np.zeros(len(order_ids), bool))
        if returned:
            self._returns_after(order_ids[back], hour, rng)
        if fb.cfg.warnings:
            disappointed = late | back  # late, returned or defective
            self._warn(order_ids[disappointed], rng)
            self._spread_word(order_ids[~disappointed], hour, rng)
        else:
            self._spread_word(order_ids[~back], hour, rng)

    def _returns_after(self, ret_ids: np.ndarray, hour: int, rng) -> None:
        """Schedule the return of the parcels ``ret_ids``, each after its own delay."""
        m = self.model
        k = len(ret_ids)
        delay = np.maximum(1, np.round(rng.exponential(self.cfg.consumer.return_delay_hours, k)))
        due = hour + delay.astype(np.int64)
        for d, at in _positions_by_value(due):
            if d < m.horizon_hours:
                self._returns_due.setdefault(d, []).append(ret_ids[at])

    def _spread_word(self, order_ids: np.ndarray, hour: int, rng: np.random.Generator) -> None:
        """Satisfied buyers recommend the product to peers (imitation demand)."""
        m = self.model
        wom = self.cfg.word_of_mouth
        if len(order_ids) == 0 or wom.recommend_probability <= 0:
            return
        book = m.orders
        buyers, skus = book.consumer[order_ids], book.sku[order_ids]
        if wom.mixing != "peers":
            return  # fully mixed word of mouth runs every hour (imitation_exposures)
        rows, targets = self._reach(buyers, wom.recommend_probability, rng)
        t_skus = skus[rows]
        if len(targets) == 0:
            return
        when = hour + rng.integers(1, wom.delay_hours_max + 1, len(targets))
        for d, at in _positions_by_value(when):
            if d < m.horizon_hours:
                self._schedule(d, Exposures(targets[at], t_skus[at], CH_WOM, -1))

    def _reach(
        self, senders: np.ndarray, probability: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each sender tells each of its peers with ``probability``: (sender row, peer)."""
        g = self.graph
        if g is None:
            if self.peers.shape[1] == 0:
                return np.empty(0, np.int64), np.empty(0, np.int64)
            hit = rng.random((len(senders), self.peers.shape[1])) < probability
            rows, cols = np.nonzero(hit)
            return rows, self.peers[senders[rows], cols].astype(np.int64)
        return g.reach(senders, probability, rng)

    def _warn(self, order_ids: np.ndarray, rng: np.random.Generator) -> None:
        """Disappointed buyers warn their peers: the warned convert less (state WARNED)."""
        if len(order_ids) == 0:
            return
        book = self.model.orders
        rows, targets = self._reach(
            book.consumer[order_ids], self.model.feedback.cfg.warn_probability, rng
        )
        if self.model.n_sku == 1:  # product 0's column (1-D indices: the same reads, writes)
            column = self.state[:, 0]
            column[targets[column[targets] == NONE]] = WARNED
            return
        t_skus = book.sku[order_ids][rows]
        fresh = self.state[targets, t_skus] == NONE
        self.state[targets[fresh], t_skus[fresh]] = WARNED

    def send_returns(self, hour: int) -> None:
        """Buyers send back the items they decided to return, due this hour."""
        m = self.model
        due = self._returns_due.pop(hour, None)
        if not due:
            return
        ids = np.concatenate(due)
        ids = ids[m.orders.status[ids] == DELIVERED]
        if len(ids) == 0:
            return
        book = m.orders
        book.send_back(ids)
        skus, qty = book.sku[ids], book.quantity[ids]
        m.ledger.add_region_flow("returned", skus, self.region[book.consumer[ids]], qty)
        if m.n_sku == 1 and _ONE_BOOKS:  # product 0's counter (an integer sum)
            self.kept_units[0] -= int_sum(qty)
        else:
            np.subtract.at(self.kept_units, skus, qty)
        _to_brands(m, ids, lambda selling, own: selling.take_back(own, hour))


_DRAW_CHUNK = 1 << 18  # consumers per chunk of a trait's draw


def _fused(rng: np.random.Generator, out: np.ndarray, fill: Callable, *params) -> np.ndarray:
    """``out`` filled by the kernel's ``fill(capsule, *params, out)``, holding the bit
    generator's lock as numpy's own draws do (the kernel frees the GIL meanwhile)."""
    with rng.bit_generator.lock:
        fill(rng.bit_generator.capsule, *params, out)
    return out


# the self-check's draws: (kernel function, its parameters, the numpy path's draw of n)
_AGREEMENT_CASES: tuple[tuple[str, tuple, Callable], ...] = (
    ("normal", (0.5, 0.25, True), lambda r, n: np.maximum(0.0, r.normal(0.5, 0.25, n))),
    ("normal", (-1.0, 3.0, True), lambda r, n: np.maximum(0.0, r.normal(-1.0, 3.0, n))),
    ("lognormal", (math.log(5.0), 1.0), lambda r, n: r.lognormal(math.log(5.0), 1.0, n)),
    ("beta", (2.0, 23.0), lambda r, n: r.beta(2.0, 23.0, n)),  # the kernel's copied gammas
    ("beta", (2.0, 2.5), lambda r, n: r.beta(2.0, 2.5, n)),
    ("beta", (2.0, 0.5), lambda r, n: r.beta(2.0, 0.5, n)),  # numpy's random_beta itself
)


def _agreeing(kernel, n: int = 2048):
    """``kernel`` if it gives numpy's values on this machine, byte for byte, else None.

    The kernel links the build's ``libnpyrandom.a`` and copies one branch of numpy's gamma:
    its bits equal the running numpy's only if both were compiled alike (a numpy built
    elsewhere, another compiler's contraction into FMA, could differ by an ulp, which no
    version check sees). So each of a few cases is drawn both ways from one seed, values,
    their float32 casts and the generator's state afterwards compared; any difference and
    the Python paths run. ≈ 12k draws, once per process."""
    if kernel is None:
        return None
    for name, params, numpy_draw in _AGREEMENT_CASES:
        ours = np.random.Generator(np.random.PCG64(20261202))
        theirs = np.random.Generator(np.random.PCG64(20261202))
        got = _fused(ours, np.empty(n, dtype=np.float32), getattr(kernel, name), *params)
        want = numpy_draw(theirs, n).astype(np.float32)
        if (
            got.tobytes() != want.tobytes()
            or ours.bit_generator.state != theirs.bit_generator.state
        ):
            return None
    return kernel


# the traits' kernel: numpy's own distributions, cast into the column (None: Python paths)
_T = _agreeing(compiled.load("_traits"))


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _not_negative(x: float) -> bool:
    """finite and not below 0, -0.0 excluded (numpy's test of a scale is its sign bit)"""
    return math.isfinite(x) and math.copysign(1.0, x) > 0


def _drawn(
    n: int, dtype: type, draw: Callable[[int], np.ndarray], width: int | None = None
) -> np.ndarray:
    """A column of ``n`` values (rows of ``width`` if given) filled chunk by chunk with
    ``draw(rows)``, cast to ``dtype`` as ``astype`` casts: the values of ``draw(n)``, since
    numpy's generators draw sequentially, with temporaries of one chunk only."""
    out = np.empty(n if width is None else (n, width), dtype=dtype)
    for a in range(0, n, _DRAW_CHUNK):
        b = min(a + _DRAW_CHUNK, n)
        out[a:b] = draw(b - a)
    return out


# up to this many integers, _positions_by_value groups them on Python numbers
_FEW_VALUES = 16


def _positions_by_value(values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Each distinct value of an integer array, ascending, with its positions, ascending:
    what ``np.unique(values)`` and a mask per value give (``np.flatnonzero(values == v)``),
    from one stable sort instead of a pass per value (a few integers: from a dict of
    Python numbers)."""
    n = len(values)
    if n == 0:
        return []
    if n <= _FEW_VALUES and values.dtype.kind in "iu":  # a few integers: on Python numbers
        at: dict[int, list[int]] = {}
        for i, v in enumerate(values.tolist()):
            if v in at:
                at[v].append(i)
            else:
                at[v] = [i]
        return [(v, np.array(at[v], dtype=np.intp)) for v in sorted(at)]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    bounds = [0, *(np.flatnonzero(ordered[1:] != ordered[:-1]) + 1).tolist(), n]
    return [(ordered.item(a), order[a:b]) for a, b in itertools.pairwise(bounds)]


def _to_brands(m: ViralChainModel, ids: np.ndarray, act: Callable) -> None:
    """Hand orders to their brands: ``act(selling, ids of the brand)``, brand by brand in
    ascending order; with one brand, every order at once (no selection)."""
    if len(m.brands) == 1:
        act(m.brands[0].selling, ids)
        return
    brand = m.orders.brand[ids]
    for b in np.unique(brand):
        act(m.brands[int(b)].selling, ids[brand == b])


def _stack(a, b):
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b, strict=True))


# up to this many offers' answers, _observe_page counts them on Python numbers
_FEW_ANSWERS = 16


def _observe_page(m: ViralChainModel, skus: np.ndarray, outcome: np.ndarray) -> None:
    """Tell the feedback how the product pages answered this hour's first-time wishes."""
    P = m.n_sku
    if P == 1:  # counts of one product, as numbers
        if len(outcome) <= _FEW_ANSWERS:  # (a few: on Python numbers)
            answers = outcome.tolist()
            sold_out, too_slow = answers.count(SOLD_OUT), answers.count(TOO_SLOW)
        else:
            sold_out = int(np.count_nonzero(outcome == SOLD_OUT))
            too_slow = int(np.count_nonzero(outcome == TOO_SLOW))
        m.feedback.observe_offers_of(0, len(skus), sold_out, too_slow)
        return
    m.feedback.observe_offers(
        np.bincount(skus, minlength=P),
        np.bincount(skus[outcome == SOLD_OUT], minlength=P),
        np.bincount(skus[outcome == TOO_SLOW], minlength=P),
    )
