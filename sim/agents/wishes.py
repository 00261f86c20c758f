"""The wish decision: which of an hour's exposures become wishes (one per consumer and product
per hour), with the probability stated in :mod:`sim.agents.consumers`, and the conversion books
the feedback keeps of them.

What lives here: the consumers' states (a state decides whether an exposure is a chance at
all); :class:`WishDecisions`, the population's methods that decide an hour's wishes
(:meth:`~WishDecisions._wishes` and its ways: the numpy way :meth:`~WishDecisions._wish_rows`,
chunk by chunk for a large hour, the one-product way, and the ways on Python numbers for a few
exposures, all giving the same numbers); the kernels they use (:class:`_Groups`,
:func:`_ascending`, :class:`_Repeats`, :func:`_most_persuasive`, :func:`_concat`) and the
conversion books (:class:`_Chances`, :func:`_book_conversion`, :class:`_ConversionBooks`).
The per-hour tables the decision reads (products on sale, novelty, the exposure count's
factors) are :mod:`sim.agents.consumer_tables`'s; the population's columns and the rest of
its hour are :mod:`sim.agents.consumers`'s (this module does not import it: the columns are
the population's own attributes, read through ``self``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sim import compiled
from sim.agents.consumer_tables import _HEAD, _MAX_SEEN, HourTables
from sim.content import Exposures
from sim.orders import CH_LIVE, CH_VIDEO
from sim.rng import LazyStream, generator, stream
from sim.social_graph import _stable_order

if TYPE_CHECKING:
    from sim.model import ViralChainModel

NONE, BOUGHT, WAITING, WARNED = 0, 1, 2, 3  # WARNED: may buy, at a lower conversion

_WISH_CHUNK = 1 << 18  # exposures per chunk of an hour's decisions (bounds its temporaries)
# up to this many exposures, an hour's groups and wish probabilities are worked out on Python
# integers and floats (fewer numpy calls; the same numbers, tests/test_small_batches.py)
_SMALL_BATCH = 32
_CONTENT = (CH_VIDEO, CH_LIVE)  # the channels of content views
_IS_CONTENT = np.isin(np.arange(128), _CONTENT)  # per channel (int8): a content view?
_ONE = np.ones(1)
_MAXIMUM = np.maximum.reduce  # a 1-D array's largest value (``a.max()`` without its wrapper)
_ANY = np.logical_or.reduce  # whether a boolean array holds a True (``a.any()``, no wrapper)
# worlds of one product decide an hour's wishes by _one_product_wish_rows (False: the
# general way, for the tests)
_ONE_PRODUCT = True
# exposures from which _ascending (and _Groups) sorts values and positions packed; below,
# numpy's stable argsort of the values (a comparison sort of a few hundred values is the
# quicker: 125 values 1.4 against 2.6 µs, 300 values 2.6 against 4.4 µs)
_PACKED_FROM = 400
# exposures from which the one-product way sorts consumers and positions packed in 32 bits
# when they fit (_ascending; below, the 64-bit sort, unpacked in place, is as quick)
_NARROW_FROM = 1024
# up to this many wishes, an hour decided by the one-product way finds each wish's batch on
# Python numbers (fewer numpy calls; the same rows)
_FEW_WISHES = 16
# the wish decision of an hour of one product in C (sim/_wishes.c: the same numbers and
# draws as _one_product_chances' common branch), or None (not built, or VIRALCHAIN_COMPILED=0)
_K = compiled.load("_wishes")
# the quiet hour's kernel (sim/_quiet.c): one exposure's numbers (_one_wish) in one C call
# and organic discovery's draws on Python numbers (sim.rng.poisson_integers, read here by
# sim/agents/consumers.py); None: the Python paths (not built, stale, VIRALCHAIN_COMPILED=0,
# or set so by a test: this one name switches both)
_QUIET = compiled.load("_quiet")


class WishDecisions(HourTables):
    """The population's wish decision (a base of
    :class:`~sim.agents.consumers.ConsumerPopulation`, which holds the columns read here)."""

    n: int
    price_sensitivity: np.ndarray
    # the price sensitivities looked at, and whether every one is finite (_finite_sensitivity)
    _sensitivity_known: tuple[np.ndarray, bool] | None = None
    # the repeat boost's table looked at, and whether it is at least 0 (_unsigned_boost)
    _boost_known: tuple[np.ndarray, bool] | None = None

    def _unsigned_boost(self, boost: np.ndarray) -> bool:
        """Whether every entry of the repeat boost's table (:meth:`_seen_factors`) is at
        least 0, worked out once per table."""
        known = self._boost_known
        if known is None or known[0] is not boost:
            known = self._boost_known = (boost, bool(boost.min() >= 0.0))
        return known[1]

    def _finite_sensitivity(self) -> bool:
        """Whether every consumer's price sensitivity is finite, worked out once per column
        (drawn with the world and fixed since; a column replaced is looked at again): two
        reductions, which NaN and the infinities carry through."""
        s = self.price_sensitivity
        known = self._sensitivity_known
        if known is None or known[0] is not s:
            finite = len(s) == 0 or bool(np.isfinite(s.min()) and np.isfinite(s.max()))
            known = self._sensitivity_known = (s, finite)
        return known[1]

    def check_kept_answers(self) -> None:
        """Raise if an answer kept by :meth:`_finite_sensitivity`, :meth:`_unsigned_boost`
        or :meth:`_seen_heads` is not what its array gives now (debug mode: they are worked
        out again only for an array replaced, or other settings, so values written into the
        array in place would leave them stale),
        or if the hour's row of a table of first outputs (:meth:`_hour_outputs`) is not its
        stream's first outputs, or if the hour's organic discovery without its generator
        (on Python numbers: :func:`sim.rng.poisson_integers`) is not what numpy's generator
        of the hour's stream draws."""
        from sim.invariants import InvariantError

        hour = self.model.hour
        known = self._sensitivity_known
        if known is not None and known[1] != bool(np.isfinite(known[0]).all()):
            raise InvariantError(f"hour {hour}: stale answer: every price sensitivity finite")
        boost = self._boost_known
        if boost is not None and boost[1] != bool((boost[0] >= 0.0).all()):
            raise InvariantError(f"hour {hour}: stale answer: the repeat boost at least 0")
        tables = self._seen_tables
        if tables is not None and tables[3] != (
            tables[1][:_HEAD].tolist(),
            None if tables[2] is None else tables[2][:_HEAD].tolist(),
        ):
            raise InvariantError(f"hour {hour}: stale copies of the exposure count's factors")
        for (name, _), (start, rows) in (self._output_tables or {}).items():  # hours' draws
            if 0 <= hour - start < len(rows):
                raw = stream(self.model.seed, name, hour).bit_generator.random_raw(len(rows[0]))
                if rows[hour - start] != raw.tolist():
                    raise InvariantError(
                        f"hour {hour}: {name}'s first outputs are not its stream's"
                    )
        organic = self.organic_exposures  # type: ignore[attr-defined]  # ConsumerPopulation's
        drawn = organic(hour)  # without its generator when it can, and with numpy's:
        want = organic(hour, stream(self.model.seed, "organic", hour))
        if (drawn is None) != (want is None) or (
            drawn is not None
            and (
                drawn.consumers.tobytes() != want.consumers.tobytes()
                or drawn.skus.tobytes() != want.skus.tobytes()
            )
        ):
            raise InvariantError(f"hour {hour}: organic discovery is not its stream's draws")

    def _wishes(
        self,
        hour: int,
        fresh: list[Exposures],
        rng: np.random.Generator | LazyStream,
        views: bool = False,
        total: int | None = None,
    ):
        """Which fresh exposures become wishes (one per consumer and product per hour).
        ``views``: an hour the one-product way decides (:func:`_coded_hour`) also books its
        content views in the ledger (per region: counts, the same books in any order).
        ``total``: the exposures in ``fresh``, if counted already.

        An hour of more than :data:`_WISH_CHUNK` exposures is decided in chunks of consumers
        (ascending ranges of ids), so its temporaries stay those of one chunk: each exposure
        of a (consumer, product) is in the same chunk, the wish draws come in the same order
        (ascending consumer and product), and the conversion books add the same numbers in
        the same order (:class:`_ConversionBooks`), so the wishes are those of one pass.
        """
        if not fresh:
            return None
        if total is None:
            total = sum(len(b.consumers) for b in fresh)
        if total > min(_SMALL_BATCH, _WISH_CHUNK):  # (the few-exposure way takes either)
            rng = generator(rng)
        if total == 1 and _SMALL_BATCH >= 1 and _WISH_CHUNK >= 1:  # one (a quiet hour's)
            b = fresh[0] if len(fresh) == 1 else next(b for b in fresh if len(b))
            c, s = b.consumers.item(0), b.skus.item(0)
            return self._one_wish_row(hour, c, s, b.channel, b.kol, rng)
        elif total <= min(_SMALL_BATCH, _WISH_CHUNK):  # a few: on Python lists, not concatenated
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
        elif _coded_hour(self.model.n_sku, total):
            rows = self._one_product_rows(hour, fresh, rng, views, total)
            if rows is None:
                return None
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
        return self._with_quantities(rows, rng)

    def _with_quantities(self, rows: tuple, rng: np.random.Generator | LazyStream) -> tuple:
        """:meth:`_wishes`' answer from its rows (consumer, product, channel, KOL): each
        wish's units (one, or one plus a Poisson draw) and its revisit flag (none)."""
        n_wish = len(rows[0])
        mean_extra = self.cfg.consumer.units_per_order_mean - 1.0
        if mean_extra > 0:  # the draw plus one (int64: 1 + x is x + 1)
            qty = generator(rng).poisson(mean_extra, n_wish)
            qty += 1
        else:
            qty = np.ones(n_wish, dtype=np.int64)
        return (*rows, qty, np.zeros(n_wish, bool))

    def _one_wish_row(
        self, hour: int, c: int, s: int, ch: int, kol: int, rng: np.random.Generator | LazyStream
    ):
        """:meth:`_wishes` of an hour of one exposure (consumer ``c``, product ``s``,
        channel ``ch``, KOL ``kol``; :meth:`_one_wish`), without gathering batches."""
        if not self._one_wish(hour, c, s, ch, kol, rng):
            return None
        rows = (
            np.array([c], np.int64),
            np.array([s], np.int64),
            np.array([ch], np.int8),
            np.array([kol], np.int32),
        )
        return self._with_quantities(rows, rng)

    def _one_wish(
        self, hour: int, c: int, s: int, ch: int, kol: int, rng: np.random.Generator | LazyStream
    ) -> bool:
        """:meth:`_few_wish_rows` of one exposure (consumer ``c``, product ``s``, channel
        ``ch``, KOL ``kol``; lists of one, whole, without a chunk's books): whether it
        becomes a wish. The same float operations in the same order, the same books (its
        count and the feedback's) and the same draw, without the groups' bookkeeping.

        Its first factors (conversion x appeal (x trust) x the price factor x novelty) are
        worked out on Python floats for both ways; then its count, state and last factors
        by the quiet hour's kernel (``_QUIET.one_chance``: the same float64 operations in
        the same order; the draw made after the count is written: the generator and the
        counts are apart) or, without it, here; its books here. One method, not a helper
        for the shared part: a Python call more cost ≈ 1 k instructions an exposure (+1 %
        on the quiet hour). What is read before the consumer's state is known (also for
        one who bought or waits, whose chance is 0.0: novelty, the flat books, and with the
        kernel the repeat boost's tables and the rating's multiplier) are caches of the
        fixed world, the consumers' settings and the reviews, none of which changes within
        an exposure: the same numbers wherever they are first read (only a RuntimeWarning
        of their numpy operations, made an error, could come before the count is written)."""
        m = self.model
        if not self._on_sale(hour).every and m.sellable_from.item(s) > hour:
            return False  # a product not on sale yet: the exposure is dropped
        key = c if m.n_sku == 1 else c * m.n_sku + s
        x = -self.price_sensitivity.item(c) * (m.price_ratio.item(s) - 1.0)
        e = float(np.exp(x)) if x else 1.0  # exp(±0.0) is 1.0 (numpy's exp: its bits)
        q = m.channel_conversion.item(ch) * m.appeal.item(s)
        if kol >= 0:
            q *= m.kol_trust.item(kol)
        q *= e
        q *= self._novelty(s, hour)
        ec, state = self._flat_books()
        fb = m.feedback
        content = ch in _CONTENT
        if _QUIET is not None:
            boost, fatigue = self._seen_factors()
            got = _QUIET.one_chance(
                key,
                _MAX_SEEN,
                ec,
                state,
                boost,
                fatigue,
                q,
                fb.conversion_multiplier().item(s),
                1.0 - fb.cfg.warning_effect,
            )
            u = rng.first() if type(rng) is LazyStream else rng.random()
            if got is None:  # bought or waiting: a chance of 0.0 (drawn)
                if content:
                    fb.note_conversion_of({s: 1}, {})
                return False
            q, lost = got
        else:
            u = rng.first() if type(rng) is LazyStream else rng.random()
            count = (ec.item(key) + 1) & 0xFFFF  # uint16 arithmetic, then saturated
            if count > _MAX_SEEN:
                count = _MAX_SEEN
            ec[key] = count
            st = state.item(key)
            if st != NONE and st != WARNED:  # bought or waiting: a chance of 0.0 (drawn)
                if content:
                    fb.note_conversion_of({s: 1}, {})
                return False
            boost, fatigue = self._seen_factors()
            q *= boost.item(count)
            if fatigue is not None:
                q *= fatigue.item(count)
            plain = min(q, 1.0)
            q *= fb.conversion_multiplier().item(s)
            if st == WARNED:
                q *= 1.0 - fb.cfg.warning_effect
            q = min(q, 1.0)
            lost = plain - q
        if content:  # from 0.0, as np.bincount's: -0.0 gives +0.0
            fb.note_conversion_of({s: 1}, {s: 0.0 + q})
        if lost > 0:  # nothing lost adds nothing
            fb.add_demand_lost_of({s: lost})
        return u < q

    def _wishes_in_chunks(self, hour: int, fresh: list[Exposures], rng: np.random.Generator):
        """:meth:`_wishes`'s rows (consumer, product, channel, KOL), sorted by exposure, for
        a large hour: decided one range of consumer ids at a time."""
        total = sum(len(b) for b in fresh)
        n_chunks = -(-total // _WISH_CHUNK)
        width = -(-self.n // n_chunks)
        offsets = np.cumsum([0] + [len(b) for b in fresh])
        books = _ConversionBooks(self.model.n_sku)
        one = self.model.n_sku == 1 and _ONE_PRODUCT
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
            consumers = np.concatenate([b.consumers[i] for b, i, _ in picks]).astype(
                np.int64, copy=False
            )
            if one:  # every exposure's product is product 0, read only by a small chunk's
                # lists (a larger one's rows take them as zeros, below)
                skus = (
                    np.zeros(len(consumers), np.int64) if len(consumers) <= _SMALL_BATCH else None
                )
            else:
                skus = np.concatenate([b.skus[i] for b, i, _ in picks]).astype(np.int64)
            lengths = [len(i) for _, i, _ in picks]
            channels = np.repeat(np.array([b.channel for b, _, _ in picks], np.int8), lengths)
            kols = np.repeat(np.array([b.kol for b, _, _ in picks], np.int32), lengths)
            del picks
            idx = self._wish_rows(hour, consumers, skus, channels, kols, rng, books)
            if idx is not None and len(idx):
                kept = np.zeros(len(idx), np.int64) if skus is None else skus[idx]
                parts.append((where[idx], consumers[idx], kept, channels[idx], kols[idx]))
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
        skus: np.ndarray | None,
        channels: np.ndarray,
        kols: np.ndarray,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> np.ndarray | None:
        """The exposures (positions in the arrays given) that become wishes, unsorted; the
        conversion books go to ``books`` (or to the feedback at once if None). A world of one
        product takes :meth:`_one_product_wish_rows` (the same positions). ``skus`` is None
        only in a world of one product, for a chunk above _SMALL_BATCH (every product is 0)."""
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
        channels: np.ndarray | None,
        kols: np.ndarray | None,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> np.ndarray | None:
        """:meth:`_wish_rows` of a world of one product (:meth:`_one_product_chances`), each
        exposure's channel and KOL given."""
        if not self._on_sale(hour).every:  # the product is not on sale yet
            return None
        m = self.model
        first = (m.channel_conversion * m.appeal.item(0))[channels]
        # index -1 (the only "no KOL" value: Exposures.kol): times 1.0
        first *= np.concatenate((m.kol_trust, _ONE))[kols]
        content = _IS_CONTENT[channels]
        n_views = int(np.count_nonzero(content))
        order, flat = _ascending(consumers, self.n, narrow=True)
        every = None if n_views in (0, len(content)) else content[order]
        coded = _Coded(first, every, n_views, order, flat)
        return self._one_product_chances(hour, consumers, coded, rng, books)

    def _one_product_rows(
        self,
        hour: int,
        fresh: list[Exposures],
        rng: np.random.Generator,
        views: bool = False,
        total: int | None = None,
    ):
        """:meth:`_wishes`'s rows (consumer, product, channel, KOL), sorted by exposure, for an
        hour of a world of one product (not decided in chunks): the batches concatenated,
        each exposure's first factors and content flag those of its batch (:class:`_Coded`;
        ``views``: the content views booked in the ledger too, their regions read in
        ascending consumer order;
        the content views, when they are the first batches, known by their positions)."""
        m = self.model
        # in C (sim/_wishes.c) an hour of the product on sale without the price factor (at
        # the reference price, every sensitivity finite: see below; neither looked up draws
        # or changes a number), unless its batches' arrays are not the kernel's
        if (
            _K is not None
            and self._on_sale(hour).every
            and m.price_ratio.item(0) - 1.0 == 0.0
            and self._finite_sensitivity()
        ):
            rows = self._one_product_rows_in_c(hour, fresh, rng, views, total)
            if rows is not NotImplemented:
                return rows
        # per batch, its exposures' first factors: the same float64 operations as per
        # exposure, on Python floats (times 1.0 without a KOL changes no float)
        conversion, appeal, trust = m.channel_conversion, m.appeal.item(0), m.kol_trust
        firsts: list[float] = []
        lengths: list[int] = []
        n_views = 0
        n = 0  # the exposures so far
        content_first = True  # the content views' batches come first
        for b in fresh:
            channel, kol, k = b.channel, b.kol, len(b.consumers)
            q = conversion.item(channel) * appeal
            if kol >= 0:
                q *= trust.item(kol)
            firsts.append(q)
            lengths.append(k)
            n += k
            if channel in _CONTENT:
                n_views += k
                content_first = content_first and n_views == n
        if len(fresh) == 1:
            consumers = fresh[0].consumers.astype(np.int64, copy=False)
        else:
            consumers = np.concatenate([b.consumers for b in fresh]).astype(np.int64, copy=False)
        order, flat = _ascending(consumers, self.n, narrow=True)
        if n_views in (0, n):  # every exposure alike
            every = None
        elif content_first:  # the first exposures are the content views
            every = order < n_views
        else:
            every = np.array([b.channel in _CONTENT for b in fresh]).repeat(lengths)[order]
        if views and n_views:  # counted per region here: the same integer books
            if every is None:  # every exposure a view: read in ascending consumer order
                regions = self.region.take(flat)
            elif content_first:  # the first exposures: counted in any order, no mask
                regions = self.region.take(consumers[:n_views])
            else:
                regions = self.region.take(flat)[every]
            counts = _region_counts(regions, m.ledger.n_regions)
            m.ledger.add_region_flow("views", 0, None, counts)  # (product 0's whole row)
        if not self._on_sale(hour).every:  # the product is not on sale yet: no chance
            return None
        unsigned = min(firsts) >= 0.0
        # without the price factor (at the reference price, every sensitivity finite: see
        # _one_product_chances) the next factor, the product's novelty, is a batch's too:
        # each batch's first factors times it, the same float64 product as per exposure
        # (both looked up only for a product on sale: neither draws nor changes a number)
        novelty = m.price_ratio.item(0) - 1.0 == 0.0 and self._finite_sensitivity()
        if novelty:
            nov = self._novelty(0, hour)  # (a Python float: the same number)
            firsts = [q * nov for q in firsts]
        if len(fresh) == 1:  # (np.full without its wrapper)
            first = np.empty(lengths[0])
            first.fill(firsts[0])
        else:
            first = np.array(firsts).repeat(lengths)
        coded = _Coded(first, every, n_views, order, flat, unsigned, novelty)
        idx = self._one_product_chances(hour, consumers, coded, rng, None)
        if len(idx) == 0:
            return None
        idx.sort()
        ends = list(itertools.accumulate(lengths))
        if len(idx) <= _FEW_WISHES:  # each wish's batch by bisection, on Python numbers
            at = [bisect.bisect_right(ends, i) for i in idx.tolist()]
            channels = np.array([fresh[a].channel for a in at], np.int8)
            kols = np.array([fresh[a].kol for a in at], np.int32)
            return consumers[idx], np.zeros(len(idx), np.int64), channels, kols
        at = np.searchsorted(ends, idx, side="right")  # each wish's batch
        channels = np.array([b.channel for b in fresh], np.int8)
        kols = np.array([b.kol for b in fresh], np.int32)
        return consumers[idx], np.zeros(len(idx), np.int64), channels[at], kols[at]

    def _one_product_rows_in_c(
        self,
        hour: int,
        fresh: list[Exposures],
        rng: np.random.Generator,
        views: bool,
        total: int | None,
    ):
        """:meth:`_one_product_rows` of an hour of the product on sale without the price
        factor (at the reference price, every sensitivity finite) by the compiled kernel
        (``sim/_wishes.c``): the same numbers (each batch's first factors with the novelty,
        the views counted per region, the counts, the chances, the books' sums) and the same
        draws of :meth:`_one_product_chances`, the rows made there too; NotImplemented
        when a batch's consumers are not an array the kernel reads: then no count, book,
        ledger entry or draw has changed (the tables were looked up and, from
        :data:`_PACKED_FROM` on, the consumers sorted, which the Python path does again).
        ``total``: the hour's exposures, if counted (below :data:`_PACKED_FROM` the kernel
        sorts them; else numpy's sorts of :func:`_ascending`)."""
        m = self.model
        if total is None:
            total = sum(len(b.consumers) for b in fresh)
        order = flat = None
        if total >= _PACKED_FROM:  # (one batch: its consumers as they are, int64)
            consumers = (
                fresh[0].consumers
                if len(fresh) == 1
                else np.concatenate([b.consumers for b in fresh])
            ).astype(np.int64, copy=False)
            order, flat = _ascending(consumers, self.n, narrow=True)
        boost, fatigue = self._seen_factors()
        ec, state = self._flat_books()
        fb = m.feedback
        done = _K.one_product_hour(
            fresh,
            m.channel_conversion,
            m.appeal.item(0),
            m.kol_trust,
            self._novelty(0, hour),  # (a Python float: the same number)
            CH_VIDEO,
            CH_LIVE,
            order,
            flat,
            self.region if views else None,
            m.ledger.n_regions,
            ec,
            state,
            boost,
            fatigue,
            fb.conversion_multiplier().item(0),
            1.0 - fb.cfg.warning_effect,
            self._unsigned_boost(boost),
            rng.bit_generator.capsule,  # (its draws: the generator's own words)
            _MAX_SEEN,
        )
        if done is NotImplemented:
            return done
        k, rows, n_views, views_sum, lost_sum, regions = done
        if regions is not None and n_views:  # the content views per region
            m.ledger.add_region_flow("views", 0, None, np.frombuffer(regions, np.int64))
        if n_views:  # from 0.0, as np.bincount (the kernel adds the 0.0)
            fb.note_conversion_of({0: n_views}, {0: views_sum})
        if lost_sum > 0:  # a positive sum (0.0 for a lossless hour: nothing to book)
            fb.add_demand_lost_of({0: lost_sum})
        if k == 0:
            return None
        return (
            np.frombuffer(rows, np.int64, k),
            np.zeros(k, np.int64),
            np.frombuffer(rows, np.int8, k, 12 * k),
            np.frombuffer(rows, np.int32, k, 8 * k),
        )

    def _views_by_region_in_c(self, views: list[Exposures]) -> bool:
        """The content views ``views`` (batches) of a large hour of a world of one product
        booked per region by the compiled kernel (``sim/_wishes.c``, ``region_counts``: each
        view's region counted, the region some views on asked for ahead): the same integer
        books as the regions gathered and added view by view. False (nothing booked)
        without the kernel, with several products, or when it declines an array of
        consumers (not 4- or 8-byte integers, C-contiguous). Only int64 consumers (the
        model's) in uint8 regions of at least ``PREFETCH_BYTES`` are asked for ahead. On
        invalid input (never the model's) the errors differ from the chunked numpy path's:
        a consumer -1 raises IndexError here (numpy reads the last one's region), a region
        < 0 or >= n_regions ValueError (numpy's add.at: from the end, or IndexError), and
        nothing is booked (numpy books the chunks before the bad one)."""
        m = self.model
        if _K is None or m.n_sku != 1:
            return False
        counts = _K.region_counts([b.consumers for b in views], self.region, m.ledger.n_regions)
        if counts is NotImplemented:
            return False
        m.ledger.add_region_flow("views", 0, None, np.frombuffer(counts, np.int64))
        return True

    def _one_product_chances_in_c(
        self,
        hour: int,
        coded: _Coded,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ):
        """:meth:`_one_product_chances` without the price factor by the compiled kernel
        (``sim/_wishes.c``, ``chances``): the same counts, chances, books (the hour's handed to
        the feedback here, or a chunk's continued in ``books``) and draws; the wishes'
        positions in chance order, or NotImplemented when the kernel does not read
        ``coded``'s arrays: then no count, book or draw has changed (only the tables looked
        up)."""
        m = self.model
        ec, state = self._flat_books()
        boost, fatigue = self._seen_factors()
        fb = m.feedback
        done = _K.chances(
            coded.order,
            coded.flat,
            coded.first,
            None if coded.novelty else self._novelty_row(hour)[0],
            coded.every,
            coded.views,
            ec,
            state,
            boost,
            fatigue,
            fb.conversion_multiplier().item(0),
            1.0 - fb.cfg.warning_effect,
            coded.unsigned and self._unsigned_boost(boost),
            rng.bit_generator.capsule,  # (its draws: the generator's own words)
            _MAX_SEEN,
            None if books is None else (books.views, books.kept, books.lost),
        )
        if done is NotImplemented:
            return done
        at, views_sum, lost_sum = done
        if books is None:
            if coded.views:  # from 0.0, as np.bincount (the kernel adds the 0.0)
                fb.note_conversion_of({0: coded.views}, {0: views_sum})
            if lost_sum > 0:  # a positive sum (0.0 for a lossless hour: nothing to book)
                fb.add_demand_lost_of({0: lost_sum})
        return np.frombuffer(at, np.intp)

    def _one_product_chances(
        self,
        hour: int,
        consumers: np.ndarray,
        coded: _Coded,
        rng: np.random.Generator,
        books: _ConversionBooks | None,
    ) -> np.ndarray:
        """:meth:`_wish_rows` of a world of one product whose product is on sale: the same
        numbers with fewer numpy calls, worked out in ascending consumer order (the order of
        the chances: the population's columns are read in one ascending pass).

        Each exposure's first factors (channel's conversion, appeal, KOL's trust) and
        whether it is a content view come in ``coded`` (:class:`_Coded`: the same numbers as
        per exposure). The other factors are the same operations on the same numbers in the
        same order, element by element (the product's factors are scalars: a float64 array
        times a float64 scalar rounds as times the gathered array). The exposure counts are
        read and written per exposure: the exposures of a consumer seen more than once this
        hour (few) get the group's size added (uint16 arithmetic, as ``ec[keys] += sizes``).
        One chance per consumer: the first most persuasive exposure of each (lexsort's
        choice, NaN last). The books' sums are ``np.bincount``'s (in the chances' order,
        from 0.0) as a running sum over every exposure in that order, those that are not
        chances or add nothing adding zeros (which changes no sum of these non-negative
        numbers, the sign of a zero sum aside: 0.0 is added at the end of the views' sum,
        whose zeros may all be -0.0; a loss is booked only when positive), handed over as
        numbers (or to ``books`` for a chunk of a large hour).

        Without the price factor (the novelty in the first factors, or at the reference
        price with every sensitivity finite) the compiled kernel does it
        (:meth:`_one_product_chances_in_c`), unless it declines the arrays."""
        m = self.model
        if _K is not None and (
            coded.novelty or (m.price_ratio.item(0) - 1.0 == 0.0 and self._finite_sensitivity())
        ):
            idx = self._one_product_chances_in_c(hour, coded, rng, books)
            if idx is not NotImplemented:
                return idx
        n = len(consumers)
        order, flat = coded.order, coded.flat
        ec, state_flat = self._flat_books()
        # (mostly the arrays' own methods and ufuncs: the same numbers as numpy's functions,
        # without their Python wrappers; the price sensitivities below through np.take)
        seen = ec.take(flat)
        seen += 1  # uint16 arithmetic
        # exposure i + 1 continues i's group
        repeated = (flat[1:] == flat[:-1]).nonzero()[0]
        groups = _Repeats(repeated) if len(repeated) else None
        if groups is not None:  # the group's other exposures, counted too
            groups.add_sizes(seen)
        if _MAXIMUM(seen) > _MAX_SEEN:  # saturate far below uint16 overflow
            np.minimum(seen, _MAX_SEEN, out=seen)
        ec[flat] = seen  # a consumer's exposures write the same count
        p = coded.first.take(order)
        ratio = m.price_ratio.item(0) - 1.0
        # at the reference price exp(-s·0.0) is exactly 1.0 for every finite s, and p
        # times 1.0 is p: the factor is skipped (not if some s is infinite or NaN); then the
        # novelty may come in the first factors already (coded.novelty)
        if not coded.novelty:
            if ratio != 0.0 or not self._finite_sensitivity():
                x = np.take(self.price_sensitivity, flat)
                x = np.negative(x, out=x) * np.float64(ratio)
                p *= np.exp(x, out=x)
                del x
            p *= self._novelty_row(hour)[0]
        boost, fatigue = self._seen_factors()
        p *= boost.take(seen)
        if fatigue is not None:
            p *= fatigue.take(seen)
        del seen
        state = state_flat.take(flat)
        fb = m.feedback
        rating = fb.conversion_multiplier()[0]
        # the highest state (WARNED is the highest): none, some bought or waiting, or some
        # warned, in one reduction
        top_state = int(_MAXIMUM(state))
        some_state = top_state != NONE  # some consumer not in state NONE
        # nothing is lost (every p_plain - p is at most 0, NaN aside) at a rating of 1 with
        # every consumer in state NONE, or at a rating of at least 1 with none warned and
        # every q at least 0 (the first factors and the repeat boost's table; the price,
        # novelty and fatigue factors are at least 0 or NaN): then
        # min(q, 1) <= min(q * rating, 1), since q * rating rounds to at least q; the hour's
        # probabilities before the rating and warnings are then not needed
        lossless = books is None and (
            (rating == 1.0 and not some_state)
            or (
                rating >= 1.0
                and top_state != WARNED
                and coded.unsigned
                and self._unsigned_boost(boost)
            )
        )
        # before the rating and warnings (for their cost)
        p_plain = None if lossless else np.minimum(p, 1.0)
        p *= rating
        if top_state == WARNED:
            warned = state == WARNED
            # (in place where warned: the same products, without the gather and scatter)
            np.multiply(p, 1.0 - fb.cfg.warning_effect, out=p, where=warned)
            np.minimum(p, 1.0, out=p)
            closed = state != NONE  # bought or waiting: no chance (the warned, not
            closed ^= warned  # NONE, taken out: two ufuncs, no Python wrapper)
            if _ANY(closed):  # nothing for the books either (p and p_plain zero)
                p[closed] = 0.0
                if p_plain is not None:
                    p_plain[closed] = 0.0
        else:
            np.minimum(p, 1.0, out=p)
            if some_state:  # bought or waiting (none warned): no chance, nothing booked
                closed = state != NONE
                p[closed] = 0.0
                if p_plain is not None:
                    p_plain[closed] = 0.0
        every = coded.every
        keep = None
        if groups is not None:  # one chance per consumer: the first most persuasive
            losers = groups.losers(p)
            keep = _trues(n)
            keep[losers] = False
        if books is not None:  # a chunk of a large hour: its share of the books (p_plain
            # made: never lossless)
            if every is None:
                every = np.full(n, coded.views > 0)
            if keep is not None:
                order, p, p_plain, chance_content = order[keep], p[keep], p_plain[keep], every[keep]
                keep = None
            else:
                chance_content = every
            chances = _Chances(np.zeros(len(p), np.intp), chance_content, p, p_plain)
            books.add(np.zeros(n, np.intp), every, chances)
        else:  # _book_conversion's sums, one product, over every exposure in chance order
            # (those not a chance add zeros)
            if keep is not None:
                p_draw = p[keep]  # the chances' probabilities
                p[losers] = 0.0
                if p_plain is not None:
                    p_plain[losers] = 0.0
            if coded.views:
                # the views' terms alone (the others would add +0.0, which changes no
                # running sum but the sign of a zero one); from 0.0, as np.bincount: a sum
                # of zeros all -0.0 is +0.0
                kept = p if every is None else p[every]
                total = 0.0 + np.add.accumulate(kept).item(-1)
                fb.note_conversion_of({0: coded.views}, {0: total})
            if p_plain is not None:
                lost = np.subtract(p_plain, p, out=p_plain)
                np.fmax(lost, 0.0, out=lost)  # nothing lost (or NaN) adds nothing
                total = np.add.accumulate(lost).item(-1)
                if total > 0:  # a positive sum, the same from 0.0
                    fb.add_demand_lost_of({0: total})
            if keep is not None:
                p, order = p_draw, order[keep]
        want = rng.random(len(p)) < p
        return order[want]

    def _few_wish_rows(
        self,
        hour: int,
        consumers: list[int],
        skus: list[int],
        channels: list[int],
        kols: list[int],
        rng: np.random.Generator | LazyStream,
        books: _ConversionBooks | None,
    ) -> list[int]:
        """:meth:`_wish_rows` for a few exposures (at most :data:`_SMALL_BATCH`), given as
        Python lists: the positions that become wishes, ascending. The same numbers as the
        numpy way, in one pass over the groups of exposures of a (consumer, product) in
        ascending key order (Python's sort is stable: the groups' and their members' order),
        each group's count (uint16 arithmetic, saturated alike), each member's wish
        probability (float64 operations in the same order on Python floats, which round as
        numpy's float64 does; numpy only for the exponentials, one call, and the novelty's
        tables, :meth:`_novelty`), its chance (the first most persuasive member: lexsort's
        choice, NaN last), the books (each sum from 0.0 in the chances' order, as
        ``np.bincount`` adds them; or the chunk's share to ``books``) and the same
        ``rng.random`` draw (one number, a scalar: the same 64 bits)."""
        m = self.model
        P = m.n_sku
        n = len(consumers)
        at: Sequence[int]
        if self._on_sale(hour).every:
            at = range(n)
        else:  # products not on sale yet: their exposures are dropped
            sellable = m.sellable_from
            at = [i for i, s in enumerate(skus) if sellable.item(s) <= hour]
            if not at:
                return []
            n = len(at)
        # one key per (consumer, product)
        flat = (
            consumers
            if P == 1 and n == len(consumers)
            else [consumers[i] * P + skus[i] for i in at]
        )
        price_ratio, sensitivity = m.price_ratio, self.price_sensitivity
        # the price factor's exponentials: exp(±0.0) is exactly 1.0 (at the reference price,
        # the usual), so only arguments other than zero (NaN among them) call numpy's exp
        if n == 1:  # numpy's exp of a Python float: its own loop on one element
            i = at[0]
            x = -sensitivity.item(consumers[i]) * (price_ratio.item(skus[i]) - 1.0)
            exps = [float(np.exp(x)) if x else 1.0]
            order: list[int] = [0]
        else:  # in one call
            if P == 1 and price_ratio.item(0) == 1.0 and self._finite_sensitivity():
                exps = [1.0] * n  # every argument -s·0.0 is ±0.0 (s finite): exp gives 1.0
            else:
                args = [
                    -sensitivity.item(consumers[i]) * (price_ratio.item(skus[i]) - 1.0) for i in at
                ]
                exps = np.exp(np.array(args, dtype=np.float64)).tolist() if any(args) else [1.0] * n
            order = sorted(range(n), key=flat.__getitem__)
        size: dict[int, int] | None = None  # each key's exposures (None: one each)
        if n > 1 and len(set(flat)) < n:
            size = {}
            for key in flat:
                size[key] = size.get(key, 0) + 1
        # the draw: one number per (consumer, product), in ascending order; one number as a
        # scalar (the same 64 bits, compared as numpy compares)
        n_chances = n if size is None else len(size)
        if type(rng) is LazyStream:  # an hour's first numbers, on Python numbers
            u = rng.uniforms(n_chances)
        else:
            u = [rng.random()] if n_chances == 1 else rng.random(n_chances).tolist()
        ec, state = self._flat_books()
        boost, fatigue = self._seen_factors()
        boost_head, fatigue_head = self._seen_heads()
        # (the channels' conversions as Python floats: the same numbers, read by index)
        conversion, appeal, trust = m.channel_conversion.tolist(), m.appeal, m.kol_trust
        fb = m.feedback
        mult = fb.conversion_multiplier()
        # per product: novelty, rating multiplier, appeal
        product: dict[int, tuple[float, float, float]] = {}
        views: dict[int, int] = {}
        sums: dict[int, float] = {}
        lost: dict[int, float] = {}
        kept: list[tuple[int, bool, float, float]] = []  # a chunk's chances, for ``books``
        wishes: list[int] = []
        j = left = 0  # the group's number; its members still to come
        top = 0.0  # the group's highest so far
        for e in order:  # ascending keys: each group's members one after another
            key = flat[e]
            i = at[e]
            s, ch = skus[i], channels[i]
            content = ch in _CONTENT
            if content:
                views[s] = views.get(s, 0) + 1
            if not left:  # a group starts: its count and state
                left = 1 if size is None else size[key]
                count = (ec.item(key) + left) & 0xFFFF  # uint16 arithmetic, then saturated
                if count > _MAX_SEEN:
                    count = _MAX_SEEN
                ec[key] = count
                st = state.item(key)
                shut = st != NONE and st != WARNED  # bought or waiting: no chance
                best = -1
                if not shut:  # the count's factors, the group's members' alike
                    if count < _HEAD:
                        b = boost_head[count]
                        f = None if fatigue_head is None else fatigue_head[count]
                    else:
                        b = boost.item(count)
                        f = None if fatigue is None else fatigue.item(count)
            left -= 1
            if shut:  # a chance of 0.0: never a wish (its number is drawn)
                j += not left
                continue
            factors = product.get(s)
            if factors is None:
                factors = product[s] = (self._novelty(s, hour), mult.item(s), appeal.item(s))
            q = conversion[ch] * factors[2]
            k = kols[i]
            if k >= 0:
                q *= trust.item(k)
            q *= exps[e]
            q *= factors[0]
            q *= b
            if f is not None:
                q *= f
            plain = min(q, 1.0)
            q *= factors[1]
            if st == WARNED:
                q *= 1.0 - fb.cfg.warning_effect
            q = min(q, 1.0)
            # the group's chance: its first highest, a number after NaN (lexsort's NaN last)
            if best < 0 or q > top or (top != top and q == q):
                best, top, top_plain, top_s, top_content = e, q, plain, s, content
            if left:
                continue
            if u[j] < top:
                wishes.append(at[best])
            j += 1
            if books is not None:
                kept.append((top_s, top_content, top, top_plain))
                continue
            if top_content:  # from 0.0, as np.bincount's: -0.0 gives +0.0
                sums[top_s] = sums.get(top_s, 0.0) + top
            x = top_plain - top
            if x > 0:  # nothing lost adds nothing
                lost[top_s] = lost.get(top_s, 0.0) + x
        if books is not None:  # a chunk of a large hour: the chunk's share of the books
            sk = np.array([skus[i] for i in at], np.int64)
            is_content = np.array([channels[i] in _CONTENT for i in at], dtype=bool)
            chances = _Chances(
                np.array([c[0] for c in kept], np.int64),
                np.array([c[1] for c in kept], dtype=bool),
                np.array([c[2] for c in kept], np.float64),
                np.array([c[3] for c in kept], np.float64),
            )
            books.add(sk, is_content, chances)
        else:
            if views:
                fb.note_conversion_of(views, sums)
            if lost:
                fb.add_demand_lost_of(lost)
        if len(wishes) > 1:
            wishes.sort()
        return wishes


def _trues(n: int) -> np.ndarray:
    """``np.ones(n, dtype=bool)`` without its Python wrapper (an empty array filled)."""
    out = np.empty(n, dtype=bool)
    out.fill(True)
    return out


# per dtype (int64, uint32): 0, 1, 2, ... read only, grown as needed (_iota). Bound: asked for
# one chunk's positions (about _WISH_CHUNK = 2**18; a range of consumers may hold a few more),
# a table holds at most twice that: about 2**19 values, ≈ 4 MiB int64 + 2 MiB uint32
_IOTAS: dict[type, np.ndarray] = {}


def _iota(n: int, dtype: type) -> np.ndarray:
    """``np.arange(n, dtype=dtype)`` as a read-only view of a table kept per dtype (grown,
    at least doubled, when a longer one is asked for): no allocation an hour."""
    table = _IOTAS.get(dtype)
    if table is None or len(table) < n:
        table = np.arange(max(n, 1024, 2 * len(table) if table is not None else 0), dtype=dtype)
        table.flags.writeable = False
        _IOTAS[dtype] = table
    return table[:n]


# from this many views (of up to _FEW_REGIONS regions) their regions are counted region by
# region (a comparison and a count each: 18,000 views of 4 regions 17 against 42 µs, 9,000
# 7 against 22 µs; below ≈ 4,000 the bincount is as quick)
_COUNT_EACH_FROM = 4096
_FEW_REGIONS = 8


def _region_counts(regions: np.ndarray, n_regions: int) -> np.ndarray:
    """``np.bincount(regions, minlength=n_regions)`` of regions below ``n_regions`` (int64
    counts): many views of a few regions counted region by region, without the bincount's
    cast of every value to intp."""
    if len(regions) >= _COUNT_EACH_FROM and n_regions <= _FEW_REGIONS:
        counts = np.empty(n_regions, np.int64)
        for r in range(n_regions):
            counts[r] = np.count_nonzero(regions == r)
        return counts
    return np.bincount(regions, minlength=n_regions)


def _coded_hour(n_sku: int, total: int) -> bool:
    """Whether an hour of ``total`` fresh exposures in a world of ``n_sku`` products is
    decided by the one-product way with its exposures coded by batch
    (:meth:`WishDecisions._one_product_rows`)."""
    return n_sku == 1 and _ONE_PRODUCT and _SMALL_BATCH < total <= _WISH_CHUNK


class _Coded(NamedTuple):
    """An hour's exposures for :meth:`WishDecisions._one_product_chances`: each exposure's
    first factors (``first``, in exposure order); whether it is a content view, in the
    sorted order (``every``; None when all or none are), and how many are; the stable order
    that sorts the consumers and the consumers in that order (:func:`_ascending`); whether
    every first factor is known to be at least 0 (``-0.0`` too; False: not known); whether
    ``first`` already includes the product's novelty (an hour without the price factor)."""

    first: np.ndarray
    every: np.ndarray | None
    views: int
    order: np.ndarray
    flat: np.ndarray
    unsigned: bool = False
    novelty: bool = False


def _ascending(
    consumers: np.ndarray, bound: int, narrow: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The stable order that sorts ``consumers`` (below ``bound``) and the consumers in that
    order: below :data:`_PACKED_FROM` by numpy's stable argsort; from it on (when a value and
    its position fit one int64), by sorting ``consumer << bits | position`` (the positions
    from :func:`_iota`; :class:`_Groups`). ``narrow``: sorted packed in 32 bits when they
    fit (:data:`_NARROW_FROM` exposures on; about twice as quick a sort as 64 bits),
    unpacked as intp. The order is always intp; the sorted consumers are intp only when they
    come in as int64 (any other dtype: sorted in their own)."""
    n = len(consumers)
    if n < _PACKED_FROM:  # a few hundred: the stable argsort (the method: no wrapper)
        order = consumers.argsort(kind="stable")
        return order, consumers.take(order)
    bits = max(1, (n - 1).bit_length())
    width = max(bound - 1, 1).bit_length() + bits  # a consumer and its position, packed
    dtype: type | None = None
    if consumers.dtype == np.int64:
        if narrow and n >= _NARROW_FROM and width <= 32:
            dtype = np.uint32
        elif width <= 62:
            dtype = np.int64
    if dtype is not None:
        if dtype is np.uint32:  # (a copy, shifted in place)
            packed = consumers.astype(np.uint32)
            packed <<= bits
        else:  # (shifted into a new array: one pass)
            packed = consumers << bits
        packed |= _iota(n, dtype)
        packed.sort()
        mask = (1 << bits) - 1
        if dtype is np.uint32:  # unpacked as intp (numpy casts indices of another dtype at
            # every gather and scatter: 18,000 uint32 indices 20 against 10 µs a gather, 45
            # against 20 µs a scatter)
            order = np.bitwise_and(packed, mask, dtype=np.intp)
            return order, np.right_shift(packed, bits, dtype=np.intp)
        order = packed & mask
        packed >>= bits
        return order, packed
    order = _stable_order(consumers)
    return order, consumers[order]


# up to this many exposures that continue a consumer's group, the groups are found on Python
# numbers (fewer numpy calls)
_FEW_CONTINUED = 16


class _Repeats:
    """The groups of more than one exposure of a sorted hour (a consumer exposed more than
    once), from ``repeated``: the ascending positions ``i`` whose next exposure is the same
    consumer's. ``members``: their exposures' positions, ascending; ``sizes``: each group's
    size (Python lists up to :data:`_FEW_CONTINUED` repeated positions, else arrays)."""

    def __init__(self, repeated: np.ndarray):
        self.few = len(repeated) <= _FEW_CONTINUED
        if self.few:
            members: list[int] = []
            sizes: list[int] = []
            last = -2
            for i in repeated.tolist():
                if i == last + 1:  # the group goes on
                    sizes[-1] += 1
                else:
                    members.append(i)
                    sizes.append(2)
                members.append(i + 1)
                last = i
            self.members: list[int] | np.ndarray = members
            self._at = np.array(members, dtype=np.intp)  # the same, to index arrays with
            self.sizes: list[int] | np.ndarray = sizes
        else:
            # a group ends at repeated[brk] (the arrays' own methods: fewer wrappers)
            brk = ((repeated[1:] - repeated[:-1]) != 1).nonzero()[0]
            cut = np.empty(len(brk) + 2, dtype=np.intp)  # -1, brk..., the last position
            cut[0], cut[-1] = -1, len(repeated) - 1
            cut[1:-1] = brk
            first, last = repeated[cut[:-1] + 1], repeated[cut[1:]]
            self.sizes = sizes = last - first + 2
            # where each group starts among the members (losers reads it too)
            self._starts = starts = sizes.cumsum() - sizes
            self.members = np.arange(int(np.add.reduce(sizes)), dtype=np.intp)
            self.members += (first - starts).repeat(sizes)

    def add_sizes(self, seen: np.ndarray) -> None:
        """Each member's count ``seen`` (uint16) plus its group's other exposures."""
        if self.few:
            extra = [z - 1 for z in self.sizes for _ in range(z)]
            seen[self._at] += np.array(extra, dtype=np.uint16)
        else:
            seen[self.members] += (self.sizes - 1).astype(np.uint16).repeat(self.sizes)

    def losers(self, p: np.ndarray) -> np.ndarray:
        """The members that are not their consumer's chance: all but the first of the
        highest ``p`` of each group (lexsort's choice of ``-p``: NaN last)."""
        members = self.members
        if self.few:  # on Python numbers
            pm = p[self._at].tolist()
            out: list[int] = []
            a = 0
            for size in self.sizes:
                best = a
                for j in range(a + 1, a + size):  # a greater number, or a number after NaN
                    if pm[j] > pm[best] or (pm[best] != pm[best] and pm[j] == pm[j]):
                        best = j
                out += members[a:best] + members[best + 1 : a + size]
                a += size
            return np.array(out, dtype=np.intp)
        sizes = self.sizes
        starts = self._starts
        pm = p[members]
        if _ANY(np.isnan(pm)):  # as lexsort sorts: NaN after every number
            group = np.repeat(np.arange(len(sizes)), sizes)
            best = np.lexsort((-pm, group))[starts]
        else:
            best = _first_highest_of_groups(pm, starts, sizes)
        lose = _trues(len(members))
        lose[best] = False
        return members[lose]


class _Groups:
    """Exposures grouped by ``flat`` (consumer and product): the stable order that sorts
    them, where each group starts in it, and its size.

    ``bound``: an upper bound of ``flat`` (exclusive), if known. From :data:`_PACKED_FROM`
    exposures on, when each value and its position fit one int64 together, the order comes
    from sorting ``flat << bits | position`` (numpy's vectorised sort of plain integers,
    about twice as quick as a stable argsort): the packed values are distinct, so their
    order is the stable one, and they carry the sorted keys too."""

    def __init__(self, flat: np.ndarray, bound: int | None = None):
        if bound is not None:
            self.order, ordered = _ascending(flat, bound)
        else:
            self.order = _stable_order(flat)
            ordered = flat[self.order]
        self.ordered = ordered  # flat in that order
        self._new = ordered[1:] != ordered[:-1]  # where a group starts (after the first)
        self.distinct = bool(self._new.all())  # every value once: groups of one

    @functools.cached_property
    def head(self) -> np.ndarray:
        """Per sorted exposure: whether it starts its group."""
        head = _trues(len(self.order))
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
    if np.isnan(p).any():  # NaN has no place in a maximum: sort as lexsort does
        lex = np.lexsort((-p, flat))
        return lex[g.head]
    return g.order[_best_in_order(p[g.order], g)]


def _best_in_order(ps: np.ndarray, g: _Groups) -> np.ndarray:
    """Per group of ``g``, the position in its sorted order of the first highest of ``ps``
    (values in that order, no NaN)."""
    return _first_highest(ps, g.starts, g.sizes)


def _first_highest(ps: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per run of ``ps`` (consecutive, from each of ``starts``, ``sizes`` long, covering
    ``ps``; no NaN), the position of its first highest value."""
    n = len(ps)
    best = np.maximum.reduceat(ps, starts)
    position = np.where(ps == best.repeat(sizes), np.arange(n), n)
    return np.minimum.reduceat(position, starts)


def _first_highest_of_groups(ps: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`_first_highest` of runs of at least two values (a consumer's exposures seen
    more than once; no NaN): each run's second value against its first (most runs are
    pairs: the second when it is greater), then the runs of three or more by
    :func:`_first_highest` on their values alone."""
    second = starts + 1
    best = np.where(ps[second] > ps[starts], second, starts)
    longer = (sizes > 2).nonzero()[0]
    if len(longer):
        size, start = sizes[longer], starts[longer]
        offset = size.cumsum() - size  # where each run starts among the longer runs' values
        at = np.arange(int(size.sum()), dtype=np.intp)
        at += (start - offset).repeat(size)  # their positions in ps, run after run
        best[longer] = at[_first_highest(ps[at], offset, size)]
    return best


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


class _Chances(NamedTuple):
    """The hour's chances still open (one per consumer and product, in ascending order):
    product, whether from a content view, wish probability, and the same before the rating
    and warnings."""

    skus: np.ndarray
    content: np.ndarray
    p: np.ndarray
    p_plain: np.ndarray


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
