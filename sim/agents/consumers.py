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
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import mesa
import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import MarketConfig, OrganicMemory
from sim.content import Exposures
from sim.messages import Wishes
from sim.orders import (
    ALLOCATED,
    BACKLOG,
    CH_LIVE,
    CH_ORGANIC,
    CH_REVISIT,
    CH_SUBST,
    CH_VIDEO,
    CH_WOM,
    DELIVERED,
    PICKED,
)
from sim.rng import stream
from sim.social_graph import SocialGraph, _stable_order, build

if TYPE_CHECKING:
    from sim.model import ViralChainModel

NONE, BOUGHT, WAITING, WARNED = 0, 1, 2, 3  # WARNED: may buy, at a lower conversion
ACCEPTED, SOLD_OUT, TOO_SLOW = 0, 1, 2
LEFT = 3  # a lost sale's cause: still waiting to come back when the run ended
# the ledger counter of each cause of a lost sale
LOST_CAUSES = {SOLD_OUT: "lost_sold_out", TOO_SLOW: "lost_too_slow", LEFT: "lost_left"}


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


class ConsumerPopulation(mesa.Agent):
    """All consumers of the market, as numpy columns."""

    def __init__(self, model: ViralChainModel, cfg: MarketConfig):
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
        self.region = _drawn(n, region_type, lambda k: rng.choice(len(share), size=k, p=share))
        mean, sd = c.price_sensitivity_mean, c.price_sensitivity_sd
        self.price_sensitivity = _drawn(
            n, np.float32, lambda k: np.maximum(0.0, rng.normal(mean, sd, k))
        )
        log_median, log_sd = math.log(c.patience_hours_median), c.patience_log_sd
        self.patience_hours = _drawn(n, np.float32, lambda k: rng.lognormal(log_median, log_sd, k))
        m = c.return_propensity_mean
        if 0 < m < 1:  # Beta with mean m and a = 2
            b = 2.0 * (1 - m) / m
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
        self.graph: SocialGraph | None = (
            build(self.region, len(model.geo), cfg.social_graph, stream(model.seed, "graph"))
            if graph_on
            else None
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
        self._seen_tables: (
            tuple[tuple[float, float, float], np.ndarray, np.ndarray | None] | None
        ) = None  # the exposure count's factors (see _seen_factors)
        self._flat_views: tuple[np.ndarray, np.ndarray] | None = None  # see _flat_books

    # ------------------------------------------------------------------ demand
    def organic_exposures(self, hour: int, rng: np.random.Generator) -> Exposures | None:
        """Background discovery: the innovation term, drawn in O(exposures)."""
        rate = self.cfg.organic.exposure_rate_per_day
        on_sale = self._on_sale(hour)
        launched = on_sale.ids
        if rate <= 0 or len(launched) == 0:
            return None
        if self.organic_multiplier is not None:  # per product: the rate has memory
            mult = self.organic_multiplier[launched, hour // HOURS_PER_DAY]
            per_sku = rng.poisson(rate / HOURS_PER_DAY * self.n * mult)
            k = int(per_sku.sum())
            if k == 0:
                return None
            skus = np.repeat(launched, per_sku).astype(np.int32)
            return Exposures(rng.integers(0, self.n, k), skus, CH_ORGANIC, -1)
        k = int(rng.poisson(rate / HOURS_PER_DAY * self.n * len(launched)))
        if k == 0:
            return None
        if k == 1:  # a scalar draw takes the same 32-bit words as a draw of one, faster
            consumers = np.array([rng.integers(0, self.n)], dtype=np.int64)
        else:
            consumers = rng.integers(0, self.n, k)
        if len(launched) == 1:  # rng.integers(0, 1, k) draws nothing: all zeros
            skus = on_sale.ids32.copy() if k == 1 else np.repeat(on_sale.ids32, k)
        else:
            skus = launched[rng.integers(0, len(launched), k)].astype(np.int32)
        return Exposures(consumers, skus, CH_ORGANIC, -1)

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
        batches = list(content) + self._scheduled.pop(hour, [])
        organic = None
        if self.cfg.organic.exposure_rate_per_day > 0 and len(self._on_sale(hour).ids):
            # the hour's stream is made only when organic discovery can draw from it
            organic = self.organic_exposures(hour, stream(m.seed, "organic", hour))
        if organic is not None:
            batches.append(organic)
        if self.cfg.word_of_mouth.mixing == "fully_mixed":
            imitation = self.imitation_exposures(stream(m.seed, "imitation", hour))
            if imitation is not None:
                batches.append(imitation)
        fresh = [b for b in batches if b.channel != CH_REVISIT and len(b)]
        revisits = [b for b in batches if b.channel == CH_REVISIT and len(b)]
        if not fresh and not revisits:
            return
        rng = stream(m.seed, "consumers", hour)  # drawn from below: created only then

        # content views, per SKU and region: integer counts, so added in any grouping (all
        # the hour's batches at once, or a large hour by slices) they give the same books
        views = [b for b in fresh if b.channel in _CONTENT]
        if len(views) > 1 and sum(len(b) for b in views) <= _WISH_CHUNK:
            c = np.concatenate([b.consumers for b in views])
            k = np.concatenate([b.skus for b in views])
            m.ledger.add_region_flow("views", k, self.region[c], 1)
        else:
            for b in views:
                for a in range(0, len(b), _WISH_CHUNK):
                    c, k = b.consumers[a : a + _WISH_CHUNK], b.skus[a : a + _WISH_CHUNK]
                    m.ledger.add_region_flow("views", k, self.region[c], 1)

        wish = self._wishes(hour, fresh, rng)
        if revisits:
            rv = _concat(revisits)
            m.ledger.intents_resolved(rv[1], rv[4])
            self.state[rv[0], rv[1]] = NONE
            rv_wish = (rv[0], rv[1], rv[2], rv[3], rv[4], np.ones(len(rv[0]), bool))
            wish = _stack(wish, rv_wish) if wish is not None else rv_wish
        if wish is None or len(wish[0]) == 0:
            return
        consumers, skus, channels, kols, qty, is_revisit = wish
        order = rng.permutation(len(consumers))  # random arrival order within the hour
        consumers, skus, channels, kols, qty, is_revisit = (
            a[order] for a in (consumers, skus, channels, kols, qty, is_revisit)
        )
        if revisits:  # the first-time wishes (the demand)
            first = ~is_revisit
            f_consumers, f_skus, f_qty = consumers[first], skus[first], qty[first]
        else:  # every wish: the arrays themselves
            first = slice(None)
            f_consumers, f_skus, f_qty = consumers, skus, qty
        m.ledger.add_region_flow("demand", f_skus, self.region[f_consumers], f_qty)
        np.add.at(m.ledger.platform_units["demand"], (f_skus, self.platform[f_consumers]), f_qty)
        outcome = self._offer(hour, consumers, skus, channels, kols, qty)
        _observe_page(m, f_skus, outcome[first])
        failed = outcome != ACCEPTED
        if not failed.any():
            return
        # consumers turned away: substitute, come back later, or leave
        f_idx = np.flatnonzero(failed)
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

    def _wishes(self, hour: int, fresh: list[Exposures], rng: np.random.Generator):
        """Which fresh exposures become wishes (one per consumer and product per hour).

        An hour of more than :data:`_WISH_CHUNK` exposures is decided in chunks of consumers
        (ascending ranges of ids), so its temporaries stay those of one chunk: each exposure
        of a (consumer, product) is in the same chunk, the wish draws come in the same order
        (ascending consumer and product), and the conversion books add the same numbers in
        the same order (:class:`_ConversionBooks`), so the wishes are those of one pass.
        """
        if not fresh:
            return None
        total = sum(len(b) for b in fresh)
        if total <= min(_SMALL_BATCH, _WISH_CHUNK):  # a few: on Python lists, not concatenated
            consumers_l: list[int] = []
            skus_l: list[int] = []
            channels_l: list[int] = []
            kols_l: list[int] = []
            for b in fresh:
                consumers_l += b.consumers.tolist()
                skus_l += b.skus.tolist()
                channels_l += [b.channel] * len(b)
                kols_l += [b.kol] * len(b)
            few = self._few_wish_rows(hour, consumers_l, skus_l, channels_l, kols_l, rng, None)
            if not few:
                return None
            rows = (
                np.array([consumers_l[j] for j in few], np.int64),
                np.array([skus_l[j] for j in few], np.int64),
                np.array([channels_l[j] for j in few], np.int8),
                np.array([kols_l[j] for j in few], np.int32),
            )
        elif total <= _WISH_CHUNK:
            consumers, skus, channels, kols, _ = _concat(fresh, quantity=False)
            idx = self._wish_rows(hour, consumers, skus, channels, kols, rng, None)
            if idx is None or len(idx) == 0:
                return None
            idx = np.sort(idx)
            rows = (consumers[idx], skus[idx], channels[idx], kols[idx])
        else:
            rows = self._wishes_in_chunks(hour, fresh, rng)
            if rows is None:
                return None
        n_wish = len(rows[0])
        mean_extra = self.cfg.consumer.units_per_order_mean - 1.0
        qty = np.ones(n_wish, dtype=np.int64)
        if mean_extra > 0:
            qty += rng.poisson(mean_extra, n_wish)
        return (*rows, qty, np.zeros(n_wish, bool))

    def _wishes_in_chunks(self, hour: int, fresh: list[Exposures], rng: np.random.Generator):
        """:meth:`_wishes`'s rows (consumer, product, channel, KOL), sorted by exposure, for
        a large hour: decided one range of consumer ids at a time."""
        total = sum(len(b) for b in fresh)
        n_chunks = -(-total // _WISH_CHUNK)
        width = -(-self.n // n_chunks)
        offsets = np.cumsum([0] + [len(b) for b in fresh])
        books = _ConversionBooks(self.model.n_sku)
        # each exposure's chunk (its consumer's range), computed once (a byte each, mostly)
        chunk_type = np.uint8 if n_chunks <= 256 else np.uint32
        chunk_of = []
        for b in fresh:
            ids = np.empty(len(b), dtype=chunk_type)
            for a in range(0, len(b), _WISH_CHUNK):
                ids[a : a + _WISH_CHUNK] = b.consumers[a : a + _WISH_CHUNK] // width
            chunk_of.append(ids)
        parts = []
        for k in range(n_chunks):
            picks = [
                (b, np.flatnonzero(ids == k), first)
                for b, ids, first in zip(fresh, chunk_of, offsets, strict=False)
            ]
            where = np.concatenate([first + i for _, i, first in picks])  # exposure numbers
            if len(where) == 0:
                continue
            consumers = np.concatenate([b.consumers[i] for b, i, _ in picks]).astype(np.int64)
            skus = np.concatenate([b.skus[i] for b, i, _ in picks]).astype(np.int64)
            lengths = [len(i) for _, i, _ in picks]
            channels = np.repeat(np.array([b.channel for b, _, _ in picks], np.int8), lengths)
            kols = np.repeat(np.array([b.kol for b, _, _ in picks], np.int32), lengths)
            del picks
            idx = self._wish_rows(hour, consumers, skus, channels, kols, rng, books)
            if idx is not None and len(idx):
                parts.append((where[idx], consumers[idx], skus[idx], channels[idx], kols[idx]))
        books.close(self.model)
        if not parts:
            return None
        where, *rows = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.argsort(where)
        return tuple(a[order] for a in rows)

    def _wish_rows(
        self,
        hour: int,
        consumers: np.ndarray,
        skus: np.ndarray,
        channels: np.ndarray,
        kols: np.ndarray,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> np.ndarray | None:
        """The exposures (positions in the arrays given) that become wishes, unsorted; the
        conversion books go to ``books`` (or to the feedback at once if None). A world of one
        product takes :meth:`_one_product_wish_rows` (the same numbers)."""
        if len(consumers) <= _SMALL_BATCH:  # a small chunk of a large hour
            few = self._few_wish_rows(
                hour,
                consumers.tolist(),
                skus.tolist(),
                channels.tolist(),
                kols.tolist(),
                rng,
                books,
            )
            return np.array(few, dtype=np.intp)
        m = self.model
        if m.n_sku == 1 and _ONE_PRODUCT:
            return self._one_product_wish_rows(hour, consumers, channels, kols, rng, books)
        position = None
        if not self._on_sale(hour).every:  # some product not on sale yet: drop its exposures
            launched = m.sellable_from[skus] <= hour
            position = np.flatnonzero(launched)
            consumers, skus, channels, kols = (
                a[launched] for a in (consumers, skus, channels, kols)
            )
            if len(consumers) == 0:
                return None
        # one flat index per (consumer, product); with one product (sku 0), the consumer's
        flat = consumers if m.n_sku == 1 else consumers * m.n_sku + skus
        groups = _Groups(flat, self.n * m.n_sku)
        ec = self.exposure_count.reshape(-1)
        # count the exposures: each distinct (consumer, product) once, by its group's size
        # (uint16 arithmetic, as np.add.at of one per exposure)
        ec[groups.keys] += groups.sizes.astype(np.uint16)
        seen = ec[flat]
        over = seen > _MAX_SEEN
        if over.any():  # saturate far below uint16 overflow
            ec[flat[over]] = _MAX_SEEN
            seen = ec[flat]
        p = m.channel_conversion[channels] * m.appeal[skus]
        # the KOL's trust where there is a KOL (elsewhere times 1.0, which changes no float)
        p *= np.where(kols >= 0, m.kol_trust[kols], 1.0)
        s = self.price_sensitivity[consumers]
        p *= np.exp(-s * (m.price_ratio - 1.0)[skus])
        # the novelty decay is a product's: worked out per product (the same operations on
        # the same numbers), then gathered
        p *= self._novelty_row(hour)[skus]
        # the boost and fatigue of each exposure count (at most 10,000), from tables
        boost, fatigue = self._seen_factors()
        p *= boost[seen]
        if fatigue is not None:
            p *= fatigue[seen]
        del seen
        state = self.state.reshape(-1)[flat]
        p_plain = np.minimum(p, 1.0)  # before the rating and warnings (for their cost)
        p *= m.feedback.conversion_multiplier()[skus]
        warned = state == WARNED
        if warned.any():
            p[warned] *= 1.0 - m.feedback.cfg.warning_effect
        p = np.minimum(p, 1.0)
        closed = (state != NONE) & ~warned
        p[closed] = 0.0
        # one chance per consumer and product per hour: keep the most persuasive exposure
        idx = _most_persuasive(flat, p, groups)
        del groups, flat
        # each chance's numbers gathered once (the books and the draw read them in turn)
        p_idx = p[idx]
        still_open = ~closed[idx]
        kept = idx[still_open]
        content = (channels == CH_VIDEO) | (channels == CH_LIVE)
        chances = _Chances(skus[kept], content[kept], p_idx[still_open], p_plain[kept])
        if books is None:
            _book_conversion(m, skus, content, chances)
        else:
            books.add(skus, content, chances)
        want = rng.random(len(idx)) < p_idx
        idx = idx[want]
        return idx if position is None else position[idx]

    def _one_product_wish_rows(
        self,
        hour: int,
        consumers: np.ndarray,
        channels: np.ndarray,
        kols: np.ndarray,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> np.ndarray | None:
        """:meth:`_wish_rows` of a world of one product: the same numbers with fewer numpy
        calls, worked out in ascending consumer order (the order of the chances: the
        population's columns are read in one ascending pass, not at random).

        Each exposure's factors are the same operations on the same numbers, element by
        element, in another order: the product's factors are scalars (a float64 array times
        a float64 scalar rounds as times the gathered array), the channel's conversion times
        the appeal comes from a table per channel, the KOL's trust from the trusts with a
        1.0 appended (read at index -1 where there is no KOL: times 1.0); an hour without a
        consumer exposed twice counts its exposures without groups; the books' sums are
        :func:`_book_conversion`'s (``np.bincount`` in the chances' order), handed over as
        numbers (or to ``books`` for a chunk of a large hour)."""
        m = self.model
        if not self._on_sale(hour).every:  # the product is not on sale yet
            return None
        groups = _Groups(consumers, self.n)
        order, flat = groups.order, groups.ordered  # the consumers, ascending
        channels, kols = channels[order], kols[order]
        ec, state_flat = self._flat_books()
        if groups.distinct:  # each consumer once: one more exposure each (uint16 arithmetic)
            seen = ec[flat]
            seen += 1
            if seen.max() > _MAX_SEEN:  # saturate far below uint16 overflow
                np.minimum(seen, _MAX_SEEN, out=seen)
            ec[flat] = seen
        else:
            ec[groups.keys] += groups.sizes.astype(np.uint16)
            seen = ec[flat]
            if seen.max() > _MAX_SEEN:  # as above (a consumer's exposures: the same count)
                np.minimum(seen, _MAX_SEEN, out=seen)
                ec[flat] = seen
        p = (m.channel_conversion * m.appeal.item(0))[channels]
        p *= np.concatenate((m.kol_trust, _ONE))[kols]  # index -1: no KOL, times 1.0
        x = self.price_sensitivity[flat]
        x = np.negative(x, out=x) * np.float64(m.price_ratio.item(0) - 1.0)
        p *= np.exp(x, out=x)
        p *= self._novelty_row(hour)[0]
        boost, fatigue = self._seen_factors()
        p *= boost[seen]
        if fatigue is not None:
            p *= fatigue[seen]
        del seen, x
        state = state_flat[flat]
        p_plain = np.minimum(p, 1.0)  # before the rating and warnings (for their cost)
        fb = m.feedback
        p *= fb.conversion_multiplier()[0]
        warned = state == WARNED
        if warned.any():
            p[warned] *= 1.0 - fb.cfg.warning_effect
        np.minimum(p, 1.0, out=p)
        closed = _CLOSED[state]
        p[closed] = 0.0
        content = _IS_CONTENT[channels]
        views = int(np.count_nonzero(content))
        # one chance per consumer: the first most persuasive of its exposures
        if groups.distinct:
            chosen = order
        else:
            best = _first_best(p, groups, consumers)
            chosen = order[best]
            p, p_plain, closed, content = p[best], p_plain[best], closed[best], content[best]
        still_open = ~closed
        opened = p[still_open]
        plain = p_plain[still_open]
        if books is not None:  # a chunk of a large hour: its share of the books
            zeros = np.zeros(len(opened), np.intp)
            chances = _Chances(zeros, content[still_open], opened, plain)
            every = content if groups.distinct else _IS_CONTENT[channels]
            books.add(np.zeros(len(every), np.intp), every, chances)
        else:  # _book_conversion's sums, one product
            if views:
                kept = opened[content[still_open]]
                total = np.bincount(np.zeros(len(kept), np.intp), kept, 1).item(0)
                fb.note_conversion_of({0: views}, {0: total})
            lost = plain - opened
            hit = lost > 0
            if hit.any():  # nothing lost adds nothing
                lost = lost[hit]
                total = np.bincount(np.zeros(len(lost), np.intp), lost, 1).item(0)
                fb.add_demand_lost_of({0: total})
        want = rng.random(len(p)) < p
        return chosen[want]

    def _few_wish_rows(
        self,
        hour: int,
        consumers: list[int],
        skus: list[int],
        channels: list[int],
        kols: list[int],
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> list[int]:
        """:meth:`_wish_rows` for a few exposures (at most :data:`_SMALL_BATCH`), given as
        Python lists: the positions that become wishes, ascending. The same numbers as the
        numpy way: the same groups (Python's sort is stable), exposure counts (uint16
        arithmetic, saturated alike), float64 operations in the same order on Python floats
        (which round as numpy's float64 does), numpy only for the exponentials (one call)
        and the novelty's tables (:meth:`_novelty`), the same books and the same
        ``rng.random`` draw."""
        m = self.model
        P = m.n_sku
        on_sale = self._on_sale(hour)
        if on_sale.every:
            at = range(len(consumers))
        else:  # products not on sale yet: their exposures are dropped
            sellable = m.sellable_from
            at = [i for i, s in enumerate(skus) if sellable.item(s) <= hour]
            if not at:
                return []
        # one key per (consumer, product)
        flat = (
            consumers
            if P == 1 and len(at) == len(consumers)
            else [consumers[i] * P + skus[i] for i in at]
        )
        if books is None and len(set(flat)) == len(flat):  # no key twice: no groups
            return self._distinct_wish_rows(hour, consumers, skus, channels, kols, rng, at, flat)
        order = sorted(range(len(flat)), key=flat.__getitem__)
        starts: list[int] = []
        sizes: list[int] = []
        last = -1
        for i, j in enumerate(order):
            if flat[j] != last:
                last = flat[j]
                starts.append(i)
                sizes.append(1)
            else:
                sizes[-1] += 1
        # the exposure counts, each (consumer, product) once: uint16 arithmetic, then
        # saturated at 10,000 (as the numpy way's ``ec[keys] += sizes`` and clip)
        n = len(at)
        ec, state = self._flat_books()
        seen = [0] * n
        states = [NONE] * n
        for a, size in zip(starts, sizes, strict=True):
            key = flat[order[a]]
            count = (ec.item(key) + size) & 0xFFFF
            if count > _MAX_SEEN:
                count = _MAX_SEEN
            ec[key] = count
            st = state.item(key)
            for e in order[a : a + size]:
                seen[e] = count
                states[e] = st
        fb = m.feedback
        # per product: the price ratio, novelty and rating multiplier, read once each
        product: dict[int, tuple[float, float, float]] = {}
        mult = fb.conversion_multiplier()
        for s in dict.fromkeys(skus if len(at) == len(skus) else [skus[i] for i in at]):
            ratio = m.price_ratio.item(s) - 1.0
            product[s] = (ratio, self._novelty(s, hour), mult.item(s))
        # the price factor's exponentials in one call; the repeat boost and the fatigue
        # read from the numpy way's tables of every count (_seen_factors)
        sensitivity = self.price_sensitivity
        args = [-sensitivity.item(consumers[i]) * product[skus[i]][0] for i in at]
        exps = np.exp(np.array(args, dtype=np.float64)).tolist()
        boost, fatigue = self._seen_factors()
        conversion, appeal, trust = m.channel_conversion, m.appeal, m.kol_trust
        kept_share = 1.0 - fb.cfg.warning_effect
        # channel × appeal × KOL trust: the same first products for a channel, KOL and product
        first: dict[tuple[int, int, int], float] = {}
        p: list[float] = []
        p_plain: list[float] = []
        closed: list[bool] = []
        for e, i in enumerate(at):
            s, k = skus[i], kols[i]
            key = (channels[i], k, s)
            q = first.get(key)
            if q is None:
                q = conversion.item(channels[i]) * appeal.item(s)
                if k >= 0:
                    q *= trust.item(k)
                first[key] = q
            _, novelty, rating = product[s]
            q *= exps[e]
            q *= novelty
            q *= boost.item(seen[e])
            if fatigue is not None:
                q *= fatigue.item(seen[e])
            p_plain.append(min(q, 1.0))
            q *= rating
            st = states[e]
            if st == WARNED:
                q *= kept_share
            q = min(q, 1.0)
            shut = st != NONE and st != WARNED
            closed.append(shut)
            p.append(0.0 if shut else q)
        # one chance per consumer and product: the first most persuasive exposure of each
        total = sum(p)  # NaN if any is (the others lie in [0, 1]: no infinities)
        if total != total:  # NaN: as _most_persuasive does, by lexsort
            idx = _most_persuasive(np.array(flat), np.array(p)).tolist()
        elif len(starts) == n:
            idx = order
        else:
            idx = []
            for a, size in zip(starts, sizes, strict=True):
                members = order[a : a + size]
                top = max(p[j] for j in members)  # exact, like np.maximum.reduceat
                idx.append(next(j for j in members if p[j] == top))
        kept = [j for j in idx if not closed[j]]
        content = [channels[i] in _CONTENT for i in at]
        if books is not None:  # a chunk of a large hour: the chunk's share of the books
            sk = np.array([skus[i] for i in at], np.int64)
            where = np.array(kept, dtype=np.intp)
            is_content = np.array(content, dtype=bool)
            opened = np.array([p[j] for j in kept], np.float64)
            plain = np.array([p_plain[j] for j in kept], np.float64)
            books.add(sk, is_content, _Chances(sk[where], is_content[where], opened, plain))
        else:  # _book_conversion's numbers, each sum added in the same order from 0.0
            if any(content):
                views: dict[int, int] = {}
                for e, i in enumerate(at):
                    if content[e]:
                        views[skus[i]] = views.get(skus[i], 0) + 1
                sums: dict[int, float] = {}
                for j in kept:
                    if content[j]:
                        s = skus[at[j]]
                        sums[s] = sums.get(s, 0.0) + p[j]
                fb.note_conversion_of(views, sums)
            lost: dict[int, float] = {}
            for j in kept:
                x = p_plain[j] - p[j]
                if x > 0:  # nothing lost adds nothing
                    s = skus[at[j]]
                    lost[s] = lost.get(s, 0.0) + x
            if lost:
                fb.add_demand_lost_of(lost)
        # the same draw (one number: the same 64 bits, a scalar); compared as numpy compares
        if len(idx) == 1:
            j = idx[0]
            return [at[j]] if rng.random() < p[j] else []
        u = rng.random(len(idx)).tolist()
        return sorted([at[j] for j, a in zip(idx, u, strict=True) if a < p[j]])

    def _distinct_wish_rows(
        self,
        hour: int,
        consumers: list[int],
        skus: list[int],
        channels: list[int],
        kols: list[int],
        rng: np.random.Generator,
        at: Sequence[int],
        flat: list[int],
    ) -> list[int]:
        """:meth:`_few_wish_rows` when no (consumer, product) is exposed twice (the usual
        few) and the feedback takes the books at once: every exposure is its own chance, so
        one pass over them in ascending key order counts the exposure, works out the wish
        probability (the same operations in the same order) and adds it to the books (in the
        order ``np.bincount`` adds the chances: ascending keys); the same single draw.
        ``at``: the positions on sale; ``flat``: their keys."""
        if len(flat) == 1:
            (i,) = at
            return self._single_wish(hour, consumers[i], skus[i], channels[i], kols[i], rng, i)
        m = self.model
        fb = m.feedback
        mult = fb.conversion_multiplier()
        ratio_of, novelty_of, rating_of = {}, {}, {}
        price_ratio = m.price_ratio
        for s in skus if len(at) == len(skus) else [skus[i] for i in at]:
            if s not in ratio_of:
                ratio_of[s] = price_ratio.item(s) - 1.0
                novelty_of[s] = self._novelty(s, hour)
                rating_of[s] = mult.item(s)
        sensitivity = self.price_sensitivity
        n = len(flat)
        args = [-sensitivity.item(consumers[i]) * ratio_of[skus[i]] for i in at]
        exps = np.exp(np.array(args, dtype=np.float64)).tolist()
        order = sorted(range(n), key=flat.__getitem__)
        ec, state = self._flat_books()
        boost, fatigue = self._seen_factors()
        conversion, appeal, trust = m.channel_conversion, m.appeal, m.kol_trust
        kept_share = 1.0 - fb.cfg.warning_effect
        views: dict[int, int] = {}
        sums: dict[int, float] = {}
        lost: dict[int, float] = {}
        p: list[float] = []  # in ascending key order
        for e in order:
            key = flat[e]
            count = (ec.item(key) + 1) & 0xFFFF  # uint16 arithmetic, then saturated
            if count > _MAX_SEEN:
                count = _MAX_SEEN
            ec[key] = count
            i = at[e]
            s, k, ch = skus[i], kols[i], channels[i]
            content = ch in _CONTENT
            if content:
                views[s] = views.get(s, 0) + 1
            st = state.item(key)
            if st != NONE and st != WARNED:  # bought or waiting: no chance
                p.append(0.0)
                continue
            q = conversion.item(ch) * appeal.item(s)
            if k >= 0:
                q *= trust.item(k)
            q *= exps[e]
            q *= novelty_of[s]
            q *= boost.item(count)
            if fatigue is not None:
                q *= fatigue.item(count)
            plain = min(q, 1.0)
            q *= rating_of[s]
            if st == WARNED:
                q *= kept_share
            q = min(q, 1.0)
            p.append(q)
            if content:
                sums[s] = sums.get(s, 0.0) + q
            x = plain - q
            if x > 0:  # nothing lost adds nothing
                lost[s] = lost.get(s, 0.0) + x
        if views:
            fb.note_conversion_of(views, sums)
        if lost:
            fb.add_demand_lost_of(lost)
        u = rng.random(n).tolist()
        return sorted([at[e] for e, a, q in zip(order, u, p, strict=True) if a < q])

    def _single_wish(
        self, hour: int, c: int, s: int, ch: int, k: int, rng: np.random.Generator, at: int
    ) -> list[int]:
        """:meth:`_distinct_wish_rows` for one exposure (consumer ``c``, product ``s``,
        channel ``ch``, KOL ``k``) at position ``at``: the same count, probability, books
        (sums from 0.0) and draw, on Python numbers."""
        m = self.model
        fb = m.feedback
        ec, state = self._flat_books()
        key = c * m.n_sku + s
        count = (ec.item(key) + 1) & 0xFFFF  # uint16 arithmetic, then saturated
        if count > _MAX_SEEN:
            count = _MAX_SEEN
        ec[key] = count
        content = ch in _CONTENT
        st = state.item(key)
        if st != NONE and st != WARNED:  # bought or waiting: no chance (the draw is made)
            if content:
                fb.note_conversion_of({s: 1}, {})
            rng.random()
            return []
        q = m.channel_conversion.item(ch) * m.appeal.item(s)
        if k >= 0:
            q *= m.kol_trust.item(k)
        ratio = m.price_ratio.item(s) - 1.0
        q *= np.exp(np.array([-self.price_sensitivity.item(c) * ratio])).item(0)
        q *= self._novelty(s, hour)
        boost, fatigue = self._seen_factors()
        q *= boost.item(count)
        if fatigue is not None:
            q *= fatigue.item(count)
        plain = min(q, 1.0)
        q *= fb.conversion_multiplier().item(s)
        if st == WARNED:
            q *= 1.0 - fb.cfg.warning_effect
        q = min(q, 1.0)
        if content:
            fb.note_conversion_of({s: 1}, {s: 0.0 + q})
        x = plain - q
        if x > 0:  # nothing lost adds nothing
            fb.add_demand_lost_of({s: 0.0 + x})
        return [at] if rng.random() < q else []

    def _flat_books(self) -> tuple[np.ndarray, np.ndarray]:
        """The exposure counts and states as flat views (index ``consumer·P + product``),
        made again unless they are still views of the arrays the population holds."""
        views = self._flat_views
        if (
            views is None
            or views[0].base is not self.exposure_count
            or views[1].base is not self.state
        ):
            views = (self.exposure_count.reshape(-1), self.state.reshape(-1))
            self._flat_views = views
        return views

    def _novelty(self, sku: int, hour: int) -> float:
        """The novelty of product ``sku`` at ``hour`` (:meth:`_novelty_row`), as a float
        (from the table's Python copy)."""
        table = self._novelty_table
        if table is None or not 0 <= hour - table[0] < _NOVELTY_HOURS:
            self._novelty_row(hour)
            table = self._novelty_table
        return table[2][hour - table[0]][sku]

    def _novelty_row(self, hour: int) -> np.ndarray:
        """Every product's novelty at ``hour``, ``0.5 ** (age_days / half_life)`` as the
        numpy way works it out for the hour (``np.maximum``, ``/``, ``np.power``), from a
        table of :data:`_NOVELTY_HOURS` hours made at once (the same operations, element by
        element; the launch hours and half-lives are fixed once the world is built)."""
        start = hour - hour % _NOVELTY_HOURS
        table = self._novelty_table
        if table is None or table[0] != start:
            m = self.model
            hours = np.arange(start, start + _NOVELTY_HOURS, dtype=np.int64)[:, None]
            age_days = np.maximum(0, hours - m.launch_hour[None, :]) / HOURS_PER_DAY
            novelty = np.power(0.5, age_days / m.novelty_half_life_days[None, :])
            table = self._novelty_table = (start, novelty, novelty.tolist())
        return table[1][hour - start]

    def _seen_factors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Per exposure count ``0 .. 10,000``: the repeat boost ``1 + boost·(seen - 1)``
        and the fatigue ``exp(-fatigue·max(0, seen - onset))`` (None without fatigue),
        computed once for the consumers' settings with the numpy way's operations on every
        count (element by element: gathering them gives what the hour's arrays gave)."""
        c = self.cfg.consumer
        key = (c.repeat_exposure_boost, c.exposure_fatigue, c.fatigue_onset_exposures)
        tables = self._seen_tables
        if tables is None or tables[0] != key:
            seen = np.arange(_MAX_SEEN + 1, dtype=np.float64)
            boost = 1.0 + c.repeat_exposure_boost * (seen - 1.0)
            fatigue = None
            if c.exposure_fatigue > 0:
                tired = np.maximum(0.0, seen - c.fatigue_onset_exposures)
                fatigue = np.exp(-c.exposure_fatigue * tired)
            tables = self._seen_tables = (key, boost, fatigue)
        return tables[1], tables[2]

    def _on_sale(self, hour: int) -> _OnSale:
        """The products on sale at ``hour`` (``np.flatnonzero(sellable_from <= hour)``),
        worked out again only when ``hour`` leaves the span of hours it holds for (the
        model's ``sellable_from`` is fixed once the world is built)."""
        span = self._sale_span
        if span is None or not span.first <= hour < span.until:
            sellable = self.model.sellable_from
            ids = np.flatnonzero(sellable <= hour)
            earlier, later = sellable[sellable <= hour], sellable[sellable > hour]
            span = _OnSale(
                ids,
                ids.astype(np.int32),
                len(ids) == len(sellable),
                int(earlier.max()) if len(earlier) else -(1 << 62),
                int(later.min()) if len(later) else 1 << 62,
            )
            self._sale_span = span
        return span

    def _offer(self, hour, consumers, skus, channels, kols, qty) -> np.ndarray:
        """Ask each product's brand to accept the wishes; returns the outcome per wish."""
        if self.model.n_sku == 1:  # every wish is for product 0: no selection
            return self._offer_one(hour, 0, consumers, channels, kols, qty)
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

    def _offer_one(self, hour, sku, consumers, channels, kols, qty) -> np.ndarray:
        """:meth:`_offer` when every wish is for ``sku``: the brand is handed the wishes'
        own arrays (``take_orders`` reads its wishes and copies what it keeps)."""
        m = self.model
        outcome = (
            m.brand_of_sku(sku)
            .selling.take_orders(
                hour,
                sku,
                Wishes(
                    consumers=consumers,
                    regions=self.region[consumers],
                    quantity=qty,
                    patience=self.patience_hours[consumers] * m.channel_patience[channels],
                    channels=channels,
                    kols=kols,
                    platforms=self.platform[consumers],
                ),
            )
            .astype(np.int8, copy=False)
        )
        accepted = outcome == ACCEPTED
        self.state[consumers[accepted], sku] = BOUGHT
        self.adopters[sku] += int(np.count_nonzero(accepted))
        return outcome

    def _lose(self, skus, consumers, qty, reasons) -> None:
        m = self.model
        if len(skus) == 0:
            return
        m.ledger.add_region_flow("lost", skus, self.region[consumers], qty)
        for cause, field in LOST_CAUSES.items():
            sel = reasons == cause
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
        for d in np.unique(deadlines):
            if d < horizon:
                self._cancel_checks.setdefault(int(d), []).append(order_ids[deadlines == d])

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
        skus, qty = book.sku[order_ids], book.quantity[order_ids]
        m.ledger.add_units("delivered", skus, qty)
        m.ledger.add_money("delivered_value", book.brand[order_ids], book.price[order_ids] * qty)
        np.add.at(self.kept_units, skus, qty)
        rng = stream(m.seed, "deliveries", hour, int(order_ids[0]))
        c = self.cfg.consumer
        consumers = book.consumer[order_ids]
        p = self.return_propensity[consumers].astype(np.float64)
        p[book.impulse[order_ids]] *= c.impulse_return_multiplier
        p *= m.return_multiplier[skus]
        late = (hour - book.placed_hour[order_ids]) > book.promise_hours[order_ids]
        p[late] *= c.late_return_multiplier
        # defective units that slipped through factory checks come back for sure
        d = m.ledger.defective_share()[skus]
        defective = (d > 0) & (rng.random(len(order_ids)) < 1 - np.power(1 - d, qty))
        if defective.any():
            bad = order_ids[defective]
            book.mark_defective(bad)
            m.ledger.defective_found(skus[defective], qty[defective])
            p[defective] = 1.0
        back = rng.random(len(order_ids)) < np.minimum(p, 1.0)
        fb = m.feedback
        reviewed = rng.random(len(order_ids)) < fb.cfg.review_probability
        if fb.cfg.ratings:
            fb.review(skus, late, defective | back, reviewed)
        else:
            fb.review(skus, late, defective | back, np.zeros(len(order_ids), bool))
        if back.any():
            delay = np.maximum(1, np.round(rng.exponential(c.return_delay_hours, back.sum())))
            due = hour + delay.astype(np.int64)
            ret_ids = order_ids[back]
            for d, at in _positions_by_value(due):
                if d < m.horizon_hours:
                    self._returns_due.setdefault(d, []).append(ret_ids[at])
        if fb.cfg.warnings:
            disappointed = late | back | defective
            self._warn(order_ids[disappointed], rng)
            self._spread_word(order_ids[~disappointed], hour, rng)
        else:
            self._spread_word(order_ids[~back], hour, rng)

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
        np.subtract.at(self.kept_units, skus, qty)
        _to_brands(m, ids, lambda selling, own: selling.take_back(own, hour))


_WISH_CHUNK = 1 << 18  # exposures per chunk of an hour's decisions (bounds its temporaries)
# up to this many exposures, an hour's groups and wish probabilities are worked out on Python
# integers and floats (fewer numpy calls; the same numbers, tests/test_small_batches.py)
_SMALL_BATCH = 32
_CONTENT = (CH_VIDEO, CH_LIVE)  # the channels of content views
_IS_CONTENT = np.isin(np.arange(128), _CONTENT)  # per channel (int8): a content view?
_CLOSED = np.array([s in (BOUGHT, WAITING) for s in range(128)])  # per state: no chance
_ONE = np.ones(1)
# worlds of one product decide an hour's wishes by _one_product_wish_rows (False: the
# general way, for the tests)
_ONE_PRODUCT = True
_NOVELTY_HOURS = 64  # hours of the products' novelty worked out at once
_MAX_SEEN = 10_000  # exposure counts saturate here
_PACKED_FROM = 256  # exposures from which _Groups sorts values and positions packed
_DRAW_CHUNK = 1 << 18  # consumers per chunk of a trait's draw


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


class _Groups:
    """Exposures grouped by ``flat`` (consumer and product): the stable order that sorts
    them, where each group starts in it, and its size.

    ``bound``: an upper bound of ``flat`` (exclusive), if known. From :data:`_PACKED_FROM`
    exposures on, when each value and its position fit one int64 together, the order comes
    from sorting ``flat << bits | position`` (numpy's vectorised sort of plain integers,
    about twice as quick as a stable argsort): the packed values are distinct, so their
    order is the stable one, and they carry the sorted keys too."""

    def __init__(self, flat: np.ndarray, bound: int | None = None):
        n = len(flat)
        bits = max(1, (n - 1).bit_length())
        if (
            n >= _PACKED_FROM
            and bound is not None
            and max(bound - 1, 1).bit_length() + bits <= 62
            and flat.dtype == np.int64
        ):
            packed = flat << bits
            packed |= np.arange(n, dtype=np.int64)
            packed.sort()
            self.order = packed & ((1 << bits) - 1)
            ordered = packed >> bits
        else:
            self.order = _stable_order(flat)
            ordered = flat[self.order]
        self.ordered = ordered  # flat in that order
        self._new = ordered[1:] != ordered[:-1]  # where a group starts (after the first)
        self.distinct = bool(self._new.all())  # every value once: groups of one

    @functools.cached_property
    def head(self) -> np.ndarray:
        """Per sorted exposure: whether it starts its group."""
        head = np.ones(len(self.order), dtype=bool)
        head[1:] = self._new
        return head

    @functools.cached_property
    def starts(self) -> np.ndarray:
        """Where each group starts in the sorted order."""
        return np.flatnonzero(self.head)

    @functools.cached_property
    def keys(self) -> np.ndarray:
        """The distinct flat values, ascending."""
        return self.ordered if self.distinct else self.ordered[self.starts]

    @functools.cached_property
    def sizes(self) -> np.ndarray:
        """Each group's size."""
        return np.diff(np.append(self.starts, len(self.order)))


def _most_persuasive(flat: np.ndarray, p: np.ndarray, groups: _Groups | None = None) -> np.ndarray:
    """Per distinct ``flat`` (consumer and product), in ascending order, the index of its
    highest ``p`` (the first such index on ties): ``np.lexsort((-p, flat))`` keeping each
    group's head, with one stable sort instead of two and the groups' best found linearly
    (most groups are a single exposure). ``groups``: ``_Groups(flat)`` if already made."""
    g = _Groups(flat) if groups is None else groups
    if g.distinct:  # every exposure is its consumer's only one for that product
        return g.order
    order, starts = g.order, g.starts
    n = len(order)
    if np.isnan(p).any():  # NaN has no place in a maximum: sort as lexsort does
        lex = np.lexsort((-p, flat))
        return lex[g.head]
    ps = p[order]
    best = np.maximum.reduceat(ps, starts)
    position = np.where(ps == np.repeat(best, g.sizes), np.arange(n), n)
    return order[np.minimum.reduceat(position, starts)]


def _first_best(ps: np.ndarray, g: _Groups, flat: np.ndarray) -> np.ndarray:
    """:func:`_most_persuasive` in the sorted order of ``g`` (``_Groups(flat)``): per group,
    ascending, the position in that order of its exposure of the highest ``ps`` (values in
    that order; the first on ties, NaN as lexsort places it)."""
    order, starts = g.order, g.starts
    n = len(order)
    if np.isnan(ps).any():  # by _most_persuasive itself, on the values in flat's order
        p = np.empty(n)
        p[order] = ps
        position = np.empty(n, np.intp)
        position[order] = np.arange(n)
        return position[_most_persuasive(flat, p, g)]
    best = np.maximum.reduceat(ps, starts)
    position = np.where(ps == np.repeat(best, g.sizes), np.arange(n), n)
    return np.minimum.reduceat(position, starts)


def _concat(batches: list[Exposures], quantity: bool = True):
    """The batches' consumers, products, channels, KOLs and quantities (None unless
    ``quantity``), one array each."""
    if len(batches) == 1:  # the same arrays as concatenated, without the copies
        (x,) = batches
        n = len(x)
        qty = None
        if quantity:
            qty = x.quantity if x.quantity is not None else np.ones(n, np.int64)
            qty = qty.astype(np.int64, copy=False)
        return (
            x.consumers.astype(np.int64, copy=False),
            x.skus.astype(np.int64, copy=False),
            np.full(n, x.channel, np.int8),
            np.full(n, x.kol, np.int32),
            qty,
        )
    consumers = np.concatenate([b.consumers for b in batches]).astype(np.int64, copy=False)
    skus = np.concatenate([b.skus for b in batches]).astype(np.int64, copy=False)
    # each batch's channel and KOL repeated over its rows: one call each, not one a batch
    lengths = [len(b) for b in batches]
    channels = np.repeat(np.array([b.channel for b in batches], np.int8), lengths)
    kols = np.repeat(np.array([b.kol for b in batches], np.int32), lengths)
    if not quantity:
        qty = None
    elif all(b.quantity is None for b in batches):
        qty = np.ones(len(consumers), np.int64)
    else:
        qty = np.concatenate(
            [b.quantity if b.quantity is not None else np.ones(len(b), np.int64) for b in batches]
        ).astype(np.int64)
    return consumers, skus, channels, kols, qty


def _positions_by_value(values: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Each distinct value of an integer array, ascending, with its positions, ascending:
    what ``np.unique(values)`` and a mask per value give (``np.flatnonzero(values == v)``),
    from one stable sort instead of a pass per value."""
    n = len(values)
    if n == 0:
        return []
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


def _observe_page(m: ViralChainModel, skus: np.ndarray, outcome: np.ndarray) -> None:
    """Tell the feedback how the product pages answered this hour's first-time wishes."""
    P = m.n_sku
    if P == 1:  # counts of one product, as numbers
        sold_out = int(np.count_nonzero(outcome == SOLD_OUT))
        too_slow = int(np.count_nonzero(outcome == TOO_SLOW))
        m.feedback.observe_offers_of(0, len(skus), sold_out, too_slow)
        return
    m.feedback.observe_offers(
        np.bincount(skus, minlength=P),
        np.bincount(skus[outcome == SOLD_OUT], minlength=P),
        np.bincount(skus[outcome == TOO_SLOW], minlength=P),
    )


class _Chances(NamedTuple):
    """The hour's chances still open (one per consumer and product, in ascending order):
    product, whether from a content view, wish probability, and the same before the rating
    and warnings."""

    skus: np.ndarray
    content: np.ndarray
    p: np.ndarray
    p_plain: np.ndarray


class _OnSale(NamedTuple):
    """The products on sale (``ids``, as int64 and int32), whether that is every product,
    and the span of hours ``first <= hour < until`` for which this holds."""

    ids: np.ndarray
    ids32: np.ndarray
    every: bool
    first: int
    until: int


def _book_conversion(m, skus, content, chances: _Chances) -> None:
    """The hour's wishes per content view (for the views lost), and the wish probability the
    rating and warnings took (demand lost to late delivery and to quality). ``skus`` and
    ``content``: every exposure's product and whether it was a content view."""
    P = m.n_sku
    if content.any():  # without content views the books do not change
        views = np.bincount(skus[content], minlength=P)
        c = chances.content
        m.feedback.note_conversion(views, np.bincount(chances.skus[c], chances.p[c], P))
    lost = chances.p_plain - chances.p
    hit = lost > 0
    if hit.any():  # nothing lost adds nothing
        m.feedback.add_demand_lost(chances.skus[hit], lost[hit])


class _ConversionBooks:
    """The conversion books (:func:`_book_conversion`) of an hour decided in chunks: the
    views counted, and the float sums per product continued chunk after chunk in the order
    one ``np.bincount`` over the whole hour adds them (each sum starts from the last), so
    the feedback receives the same numbers once, at :meth:`close`."""

    def __init__(self, n_sku: int):
        self.views = np.zeros(n_sku, dtype=np.int64)
        self.kept = np.zeros(n_sku)
        self.lost = np.zeros(n_sku)

    def add(self, skus, content, chances: _Chances) -> None:
        """One chunk's share of :func:`_book_conversion`."""
        if content.any():
            self.views += np.bincount(skus[content], minlength=len(self.views))
            c = chances.content
            _continue_sums(self.kept, chances.skus[c], chances.p[c])
        lost = chances.p_plain - chances.p
        hit = lost > 0
        if hit.any():
            _continue_sums(self.lost, chances.skus[hit], lost[hit])

    def close(self, m: ViralChainModel) -> None:
        """Hand the hour's books to the feedback (as :func:`_book_conversion` would)."""
        if self.views.any():  # some content view was booked
            m.feedback.note_conversion(self.views, self.kept)
        if self.lost.any():  # sums of positive losses; per product, as bincount's: added to 0.0
            m.feedback.add_demand_lost(np.arange(len(self.lost)), self.lost)


def _continue_sums(sums: np.ndarray, keys: np.ndarray, values: np.ndarray) -> None:
    """``sums[k]`` plus the ``values`` of key ``k``, added one at a time in their order (as
    ``np.bincount(keys, values)`` adds them, from ``sums[k]`` instead of 0.0)."""
    counts = np.bincount(keys, minlength=len(sums))
    for k in np.flatnonzero(counts):
        run = np.empty(1 + int(counts[k]))
        run[0] = sums[k]
        run[1:] = values if counts[k] == len(keys) else values[keys == k]
        sums[k] = np.cumsum(run)[-1]
