"""A generated social network of the consumers: heavy-tailed degrees, communities, regions.

Directed edges ``i → j`` mean "what ``i`` shares or recommends reaches ``j``". The network is a
degree-corrected stochastic block model with nested groups:

* **communities** inside each region: sizes are Pareto-distributed around
  ``community_size_mean`` (a few large circles, many small ones);
* **out-degree** ``k_i`` (contacts a consumer reaches): discrete power law with exponent
  ``degree_exponent`` on ``[degree_min, degree_max]`` (a heavy tail: a few reach hundreds);
* **in-degree** (how often a consumer is reached): every edge picks its target with
  probability proportional to a Pareto *attention weight* ``w_j`` (same exponent, capped at
  ``degree_max/degree_min``), so popular consumers collect many in-links (Chung-Lu style);
* **homophily**: an edge stays inside its community with probability ``within_community``,
  else inside its region with ``within_region``, else it goes anywhere in the market.

**Implicit edges.** Only the per-consumer columns are built (community, degree, and the
attention of the consumers laid out by region and community, so that every community and
region is one contiguous block): ``O(n)``, built in chunks (no temporary the size of the
population), about 15 bytes per consumer. The cumulative attention along that layout
(float64) is not stored: only every :data:`_BLOCK`-th value is, and a look-up adds the few
float32 weights after it in the order ``np.cumsum`` adds them, so it finds the same
position. Edge ``(i, j)`` — the ``j``-th contact of ``i`` — is a pure function of the
graph's key, ``i`` and ``j`` (one counter-based hash gives its two uniforms: the scope and
the point in the block's cumulative weight, found through a guide table to the stored values
and a few additions). So a run pays only for the edges it uses (work proportional to the
consumers touched), every query returns the same edge, and :meth:`SocialGraph.materialize`
lists all edges (CSR) for tests and analysis.

**Compiled look-ups.** Where the optional kernel :mod:`sim._graph` is built
(:mod:`sim.compiled`), :meth:`SocialGraph.edge_targets` and
:meth:`SocialGraph.edge_targets_of_lists` run it: the same hash, scope, point, position,
clip and self-loop mend, in C (the same integers and float64 operations in the same order;
the position always found through the stored values and the block sums, the count the whole
table's guide gives, so the whole table is never made). A batch it does not cover (a source
outside ``[0, n)``, list items that are not integers within int64, ...) runs the Python
paths below, which stay the reference (``VIRALCHAIN_COMPILED=0`` runs only them). The same
kernel makes two of :func:`build`'s passes (the same values): each region's community draws
(numpy's doubles, found through the choice's guide, the communities' sizes counted on the
way) and the cumulative attention's stored values and bounds.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim import compiled
from sim.config import SocialGraphConfig

# the compiled look-ups (sim/_graph.c: the same targets), or None (the Python paths below)
_K = compiled.load("_graph")
# the layout's scatter in C (sim/_build.c: each consumer in turn at its community's next
# free place, the same order and weights), or None (the chunks' sorts below)
_BUILD = compiled.load("_build")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = (np.uint64(b) for b in (27, 30, 31, 32))
_LOW32 = np.uint64(0xFFFFFFFF)
_LITTLE = sys.byteorder == "little"  # a uint64's 32-bit words are (low, high)


def _uniforms(key: np.uint64, i: np.ndarray, j: np.ndarray, salt: int) -> tuple[np.ndarray, ...]:
    """Two uniforms in [0, 1) per (key, i, j, salt) from one SplitMix64 hash (vectorised,
    stateless): its high and its low 32 bits. uint64 arithmetic wraps (mod 2**64, in any
    order: the same hash); the steps work in place, in two arrays, each cast made by the
    call that uses it. ``i`` and ``j`` are 1-D. On a little-endian machine both halves come
    from one product over the hash's 32-bit words and are returned as two strided views of
    that one array (not contiguous)."""
    x = np.multiply(i, _GOLDEN, dtype=np.uint64, casting="unsafe")  # i.astype(uint64) * G
    x += key
    y = np.multiply(j, _M1, dtype=np.uint64, casting="unsafe")
    x += y
    if salt:
        x += np.uint64((salt * int(_M2)) & ((1 << 64) - 1))
    np.right_shift(x, _S30, out=y)
    x ^= y
    x *= _M1
    np.right_shift(x, _S27, out=y)
    x ^= y
    x *= _M2
    np.right_shift(x, _S31, out=y)
    x ^= y
    scale = 1.0 / 4294967296.0
    if _LITTLE:  # both halves' products in one call: x's 32-bit words are (low, high)
        halves = np.multiply(x.view(np.uint32), scale)  # the same exact casts and products
        return halves[1::2], halves[0::2]
    np.right_shift(x, _S32, out=y)
    high = np.multiply(y, scale)  # y.astype(float64) * scale (the same cast, one call)
    np.bitwise_and(x, _LOW32, out=y)
    low = np.multiply(y, scale)
    return high, low


_MASK = (1 << 64) - 1
_GOLDEN_INT, _M1_INT, _M2_INT = int(_GOLDEN), int(_M1), int(_M2)
_SCALE = 1.0 / 4294967296.0


def _hash(key: int, i: int, j: int, salt: int) -> int:
    """:func:`_uniforms`' SplitMix64 hash of one (key, i, j, salt), on Python integers
    (every product and sum taken mod 2**64, as uint64 arithmetic wraps)."""
    x = (key + i * _GOLDEN_INT + j * _M1_INT + salt * _M2_INT) & _MASK
    x ^= x >> 30
    x = (x * _M1_INT) & _MASK
    x ^= x >> 27
    x = (x * _M2_INT) & _MASK
    return x ^ (x >> 31)


_BLOCK = 16  # positions per stored value of the cumulative attention
assert _BLOCK < 256  # _locate counts a block's sums at most a point in bytes (uint8)
_FEW_EDGES = 16  # up to this many look-ups, edges are found one by one in Python
_CHUNK = 1 << 18  # consumers per chunk of the build
_LOOKUPS = 1 << 16  # look-ups per chunk (a chunk's table of sums: 8 MiB)
_SEARCH = 512  # up to this many points, the stored value before each is a binary search
_ACCUMULATE = 128  # up to this many blocks, a block's sums are one np.cumsum call
_FEW_SLOTS = 8  # up to this many nodes, the edges followed are drawn one by one
_SLOT_LIST = 64  # up to this many nodes given as a list, their edges are drawn in Python
_FEW_DOUBLES = 2  # up to this many, the doubles are drawn one by one (else in one call)
# the slots' loops in C (sim/_draws.c: the same doubles and products), or None: Python's
_DRAWS = compiled.load("_draws")
_FULL_UP_TO = 1 << 22  # up to this many consumers the whole cumulative attention is kept
_FEW_LOOPS = 16  # up to this many self-loops of a look-up are mended in Python
_SCOPE_GATHER = 1024  # from this many edges a scope reads only the column it needs
_WHOLE_SEARCH = 1 << 14  # up to this many points a look-up reads the whole table (if kept)
SPLIT_FROM = 1 << 16  # from this many edges a look-up is split in halves over two threads
# the cores this process may use, at most two: the threads of a look-up here and of the
# build (sim.world.BUILD_THREADS); tests set each module's own name
CORES = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
LOOKUP_THREADS = CORES


def allowed_threads(threads: int) -> int:
    """``threads``, at most ``OMP_NUM_THREADS`` when that is set to a positive integer
    (anything else is ignored): a sweep's joblib worker, where it is 1, builds and looks up
    on one thread (two workers on two cores, not four threads)."""
    try:
        cap = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return threads
    return min(threads, cap) if cap > 0 else threads


@dataclass(frozen=True)
class SocialGraph:
    """A directed graph over consumers ``0..n-1`` whose edges are drawn on demand.

    Attributes:
        community: ``(n,)`` int32 community of each consumer (numbered across regions).
        region: ``(n,)`` region of each consumer.
        degree: ``(n,)`` out-degree (uint16 when ``degree_max`` allows, else int32).
        order: ``(n,)`` int32 consumers sorted by (region, community).
        weight: float32 attention weight (in-link propensity) along ``order``, padded with
            ``inf`` to whole blocks (``n // B + 1`` blocks: the sums past ``n`` are ``inf``).
        checkpoints: the cumulative attention along ``order`` (float64, ``cumw[k]`` = the
            weights of positions ``< k`` added in turn) at positions ``0, B, 2B, …`` (``B`` =
            :data:`_BLOCK`).
        comm_start: ``(communities+1,)`` block bounds of each community in ``order``.
        region_start: ``(regions+1,)`` block bounds of each region in ``order``.
        comm_cum, region_cum: ``cumw`` at those bounds.
        guide, guide_scale: ``guide[b]`` is the number of ``checkpoints`` at most
            ``b / guide_scale`` (int32); ``guide_scale`` is a power of two, so ``point *
            guide_scale`` and the bounds ``b / guide_scale`` are exact (about one stored
            value in two buckets: one to two entries per stored value).
        within_community, within_region: the homophily shares.
        key: the graph's hash key (drawn from its stream).
    """

    community: np.ndarray
    region: np.ndarray
    degree: np.ndarray
    order: np.ndarray
    weight: np.ndarray
    checkpoints: np.ndarray
    comm_start: np.ndarray
    region_start: np.ndarray
    comm_cum: np.ndarray
    region_cum: np.ndarray
    guide: np.ndarray
    guide_scale: float
    within_community: float
    within_region: float
    key: np.uint64

    @property
    def n(self) -> int:
        """Number of consumers."""
        return len(self.degree)

    @property
    def nbytes(self) -> int:
        """Memory held by the graph's columns (the region column is the population's), and
        by the whole cumulative attention once a look-up has added it up (:attr:`_cumw`)."""
        cols = (self.community, self.degree, self.order, self.weight, self.checkpoints)
        bounds = (self.comm_start, self.region_start, self.comm_cum, self.region_cum, self.guide)
        whole = (self.__dict__["_cumw"],) if "_cumw" in self.__dict__ else ()
        if "_whole_guide" in self.__dict__:
            whole += (self.__dict__["_whole_guide"][0],)
        return sum(a.nbytes for a in cols + bounds + whole)

    def __getstate__(self) -> dict[str, object]:
        """The graph to copy or pickle, without the memoryviews of :attr:`_views` (they
        cannot be pickled, and a copy makes its own at its first look-up)."""
        state = dict(self.__dict__)
        state.pop("_views", None)
        state.pop("_degrees", None)
        state.pop("_whole_guide_views", None)
        state.pop("_shifted_cumw", None)
        state.pop("_kernel", None)
        return state

    @functools.cached_property
    def _kernel(self):  # -> sim._graph.Graph (made only when _K is not None)
        """The compiled look-ups' view of the graph (:mod:`sim._graph`: buffers of the
        columns an edge reads and the scopes' table, held until the graph is freed; left out
        of pickles and copies, which make their own)."""
        cols = (self.community, self.region, self.order, self.weight, self.checkpoints)
        return _K.Graph(
            *(_aligned(c) for c in (*cols, self.guide)),
            self._scope_table,
            self.n,
            len(self.comm_start) - 1,
            len(self.region_start) - 1,
            float(self.guide_scale),
            float(self.within_community),
            float(self.within_community + self.within_region),
            int(self.key),
        )

    @functools.cached_property
    def _scope_table(self) -> np.ndarray:
        """Every community, then every region, then the whole market, one row each: its
        first position in the layout, its end, and the cumulative attention at both (the
        bounds an edge's target is drawn between; the float64 values' bits as int64), so an
        edge reads its scope's four bounds from one row (one random read of memory, not
        four)."""
        n, total = self.n, self.region_cum[-1]
        table = np.empty((len(self.comm_start) + len(self.region_start) - 1, 4), np.int64)
        table[:, 0] = np.concatenate([self.comm_start[:-1], self.region_start[:-1], [0]])
        table[:, 1] = np.concatenate([self.comm_start[1:], self.region_start[1:], [n]])
        lo = np.concatenate([self.comm_cum[:-1], self.region_cum[:-1], [0.0]])
        hi = np.concatenate([self.comm_cum[1:], self.region_cum[1:], [total]])
        table[:, 2] = lo.astype(np.float64, copy=False).view(np.int64)
        table[:, 3] = hi.astype(np.float64, copy=False).view(np.int64)
        return table

    @functools.cached_property
    def _cumw(self) -> np.ndarray:
        """The whole cumulative attention ``cumw`` (positions ``0..n``, float64): the weights
        added in turn from 0, chunk by chunk, each chunk's first weight added to the sum
        before it (the additions of one ``np.cumsum``, so the stored values and every
        block's sums are among its values). Added up at the first look-up of a graph of at
        most :data:`_FULL_UP_TO` consumers and kept (8 bytes a consumer: the graph's columns
        are ≈ 15): a look-up is then one binary search. Not stored by :func:`build`, so a
        large graph, or one never looked up, holds only every :data:`_BLOCK`-th value."""
        n = self.n
        cumw = np.empty(n + 1)
        cumw[0] = carry = 0.0
        for a, b in _chunks(n):
            part = self.weight[a:b].astype(np.float64)
            part[0] += carry
            np.cumsum(part, out=cumw[a + 1 : b + 1])
            carry = float(cumw[b])
        return cumw

    @functools.cached_property
    def _whole_guide(self) -> tuple[np.ndarray, float, int]:
        """A guide to the whole cumulative attention (:attr:`_cumw`), made with it: ``(guide,
        scale, span)``, ``guide[b]`` the number of its values at most ``b / scale`` (int32,
        :func:`_guide`; ``scale`` a power of two, one to two entries a value: 5.5 MiB at 1M
        consumers), ``span`` the most values between two bounds. A point's
        ``searchsorted(cumw, point, "right")`` is then ``guide[b]`` (``b = floor(point ·
        scale)``, exact) plus its bucket's values at most the point, counted in at most
        ``span`` steps (:meth:`_locate_whole`): two random reads of memory a point, where a
        binary search in the 8 MB table misses the caches at each of its lower levels."""
        cumw = self._cumw
        total = max(float(cumw[-1]), 1.0)
        scale = 2.0 ** (math.floor(math.log2(max(self.n, 1) / total)) + 1)
        guide = _rising_guide(cumw, math.floor(total * scale) + 2, scale)
        # the most values between two bounds, a block at a time (no temporary the guide's size)
        span, gaps = 0, np.empty(min(_RISING_CHUNK, len(guide) - 1), dtype=np.int32)
        for a in range(0, len(guide) - 1, len(gaps)):
            b = min(a + len(gaps), len(guide) - 1)
            np.subtract(guide[a + 1 : b + 1], guide[a:b], out=gaps[: b - a])
            span = max(span, int(gaps[: b - a].max()))
        return guide, scale, span

    @functools.cached_property
    def _whole_guide_views(self) -> tuple[memoryview, float, int, int, memoryview, int]:
        """:attr:`_whole_guide` for one point at a time (:meth:`_locate_guided`): a memoryview
        of the guide, its scale, its last entry (a point past it reads it, as ``take(...,
        mode="clip")`` does in :meth:`_locate_whole`), the span, a memoryview of the whole
        table and ``n``."""
        guide, scale, span = self._whole_guide
        return memoryview(guide), scale, len(guide) - 1, span, memoryview(self._cumw), self.n

    def _locate_guided(self, point: float) -> int:
        """:meth:`_locate_whole` of one point, on Python numbers (the same product, bucket
        and comparisons): ``bisect_right(cumw, point) - 1``."""
        guide, scale, last, span, full, n = self._whole_guide_views
        b = int(point * scale)  # floor (point >= 0), exact
        pos = guide[b if b < last else last]
        stop = pos + span
        if stop > n + 1:
            stop = n + 1
        while pos < stop and full[pos] <= point:  # the bucket's values at most the point
            pos += 1
        return pos - 1

    def _locate_whole(self, point: np.ndarray, clamp: bool = True) -> np.ndarray:
        """``np.searchsorted(cumw, point, side="right") - 1`` through :attr:`_whole_guide`
        (``0 <= point``, finite): the values at most the point's bucket's lower bound, then
        those of its bucket at most the point (increasing: a prefix of them, at most
        ``span``); a point past the total is in the last bucket, whose values are all
        counted, and the count stops at ``n`` (the last value read again past it)."""
        guide, scale, _ = self._whole_guide
        n = self.n
        b = np.multiply(point, scale).astype(np.int64)  # exact (a power of two); floor (>= 0)
        # the values at most the bucket's lower bound (past the guide: its last, n + 1)
        lo = guide.take(b, mode="clip")
        pos = np.subtract(lo, 1, dtype=np.int64)
        # cumw[lo + t] as cumw[t:][lo] (no index array added up): an index past a view's
        # end reads its last value, cumw[n], as an index past the table's end did
        for shifted in self._shifted_cumw:
            pos += shifted.take(lo, mode="clip") <= point
        if clamp:  # (a point past the total: cumw[n] counted again)
            np.minimum(pos, n, out=pos)
        return pos

    @functools.cached_property
    def _shifted_cumw(self) -> tuple[np.ndarray, ...]:
        """Views ``cumw[t:]`` of the whole table for ``t < span`` (:attr:`_whole_guide`):
        what :meth:`_locate_whole` compares with each point (left out of pickles and
        copies, as the memoryviews are)."""
        cumw = self._cumw
        return tuple(cumw[t:] for t in range(self._whole_guide[2]))

    @functools.cached_property
    def _views(self) -> tuple[memoryview | None, ...]:
        """Memoryviews of the columns and bounds one edge reads (an element of a memoryview
        is a Python number, read faster than ``ndarray.item``), and last of the whole
        cumulative attention when it is kept (else None)."""
        cols = (self.community, self.region, self.order, self.comm_start, self.comm_cum)
        cols += (self.region_start, self.region_cum)
        full = memoryview(self._cumw) if self.n <= _FULL_UP_TO else None
        return (*(memoryview(np.ascontiguousarray(c)) for c in cols), full)

    @functools.cached_property
    def _degrees(self) -> memoryview:
        """A memoryview of the out-degrees (its elements are Python integers)."""
        return memoryview(np.ascontiguousarray(self.degree))

    def cumulative_attention(self, positions: np.ndarray) -> np.ndarray:
        """``cumw`` at ``positions`` (``0..n``): the stored value before each, plus the
        weights in between added in turn (tests, analysis)."""
        positions = np.asarray(positions, dtype=np.int64)
        blk = positions // _BLOCK
        return self._block_sums(blk)[positions - blk * _BLOCK, np.arange(len(positions))]

    def _block_sums(self, blk: np.ndarray) -> np.ndarray:
        """``cumw`` at the ``_BLOCK`` positions of each block ``blk`` (``inf`` past ``n``),
        one column per block: the block's stored value, then its weights added in turn (the
        additions ``np.cumsum`` made along the whole layout, so the same float64 values)."""
        rows = np.take(self.weight.reshape(-1, _BLOCK), blk, axis=0)  # one cache line each
        table = np.empty((_BLOCK, len(blk)))
        table[0] = self.checkpoints[blk]
        table[1:] = rows[:, : _BLOCK - 1].T
        if len(blk) <= _ACCUMULATE:  # one call: accumulate adds row after row, in turn
            np.cumsum(table, axis=0, out=table)
        else:  # the same additions, faster for many blocks
            for j in range(1, _BLOCK):
                np.add(table[j - 1], table[j], out=table[j])
        return table

    def _locate(self, point: np.ndarray, clamp: bool = True) -> np.ndarray:
        """``np.searchsorted(cumw, point, side="right") - 1``: the last position whose
        cumulative attention is at most ``point`` (``0 <= point``), clamped at ``n``.
        ``clamp=False`` (read by the whole table's path only; the block path always clamps)
        leaves points past the total up to ``n + span - 1``: the caller must clip below ``n``.

        Up to :data:`_FULL_UP_TO` consumers and :data:`_WHOLE_SEARCH` points that is the
        whole table (:attr:`_cumw`) read through its own guide (:meth:`_locate_whole`).
        Otherwise (for many points the bracket's reads are closer together than a binary
        search's), the stored value before it is found by a guide table (the number of
        stored values at most ``b / guide_scale`` for every ``b``: a point's answer lies
        between the counts at its bucket's bounds, exact, and is counted up from the lower;
        for a few points, a binary search among the stored values gives the same count in
        one call), then the block's sums at most ``point`` are counted."""
        if self.n <= _FULL_UP_TO and len(point) <= _WHOLE_SEARCH:  # in the whole table
            return self._locate_whole(point, clamp)  # through its own guide
        cp, guide = self.checkpoints, self.guide
        whole = len(point) <= _LOOKUPS  # one chunk: its answers are the answer
        out = None if whole else np.empty(len(point), dtype=np.int64)
        g = len(guide) - 1
        for a in range(0, len(point), _LOOKUPS):
            pt = point[a : a + _LOOKUPS]
            if len(pt) <= _SEARCH:  # a few points: a binary search each, one call
                stored = np.searchsorted(cp, pt, side="right")
            else:  # the guide's bracket, counted up (the same count, fewer cache misses)
                # exact: a power of two. The points are finite and at most about the total
                # (a scope's start plus a uniform times its span): a NaN, or a product of
                # 2**63 or more, would become some bucket silently (never reached: no check)
                b = (pt * self.guide_scale).astype(np.int64)
                np.clip(b, 0, g - 1, out=b)  # (a point past the total: the last bucket)
                stored = guide[b].astype(np.int64)  # at most the answer
                stored = _count_up(cp, stored, guide[b + 1], pt)
            stored -= 1  # the last stored value at most the point (a fresh array)
            # the block's sums at most the point, counted in bytes (at most 16 a column)
            below = np.add.reduce((self._block_sums(stored) <= pt).view(np.uint8), 0, np.uint8)
            stored *= _BLOCK  # its position, then the block's sums at most the point
            stored += below
            stored -= 1
            if out is None:
                return stored
            out[a : a + _LOOKUPS] = stored
        return out if out is not None else np.empty(0, dtype=np.int64)

    def edge_targets(self, src: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The target of the ``j``-th edge of each ``src`` (``0 <= j < degree[src]``).

        Each edge's target depends on that edge only (its hash and the graph), so from
        :data:`SPLIT_FROM` edges (with :data:`LOOKUP_THREADS` > 1, at most
        ``OMP_NUM_THREADS``: :func:`allowed_threads`) the second half is looked
        up on a second thread while this one looks up the first (numpy's work on a chunk
        of look-ups releases the GIL, as the compiled look-ups do from 1,024 edges): the
        same targets."""
        src = np.asarray(src, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        if len(src) >= SPLIT_FROM and allowed_threads(LOOKUP_THREADS) > 1:
            return self._split_edge_targets(src, j)
        return self._edge_targets(src, j)

    def _split_edge_targets(self, src: np.ndarray, j: np.ndarray) -> np.ndarray:
        """:meth:`_edge_targets` of each half of the edges, the second half on a thread of
        its own (started and joined here: none outlives the call; its error raised here)."""
        # the tables the halves read, made once, here, not by both threads at once: a
        # real split's halves (SPLIT_FROM // 2 edges or more) read the scopes' table only;
        # the one-by-one views and the whole cumulative attention (8 bytes a consumer,
        # kept) are made only for halves small enough to read them (tests' splits)
        half = -(-len(src) // 2)
        rest = len(src) - half  # the smaller half
        _ = self._scope_table
        if _K is not None:  # the compiled look-ups' buffers (they read nothing else)
            _ = self._kernel
        elif rest <= _FEW_EDGES:
            _ = self._views
        if _K is None and rest <= _WHOLE_SEARCH and self.n <= _FULL_UP_TO:
            _ = self._cumw
            _ = self._whole_guide
            _ = self._shifted_cumw
            if rest <= _FEW_EDGES:
                _ = self._whole_guide_views
        out = np.empty(len(src), dtype=np.int64)
        failed: list[BaseException] = []

        def second() -> None:
            try:
                out[half:] = self._edge_targets(src[half:], j[half:])
            except BaseException as error:  # raised by the caller's thread
                failed.append(error)

        thread = threading.Thread(target=second, name="viralchain-lookups")
        thread.start()
        try:
            out[:half] = self._edge_targets(src[:half], j[:half])
        finally:
            thread.join()
        if failed:
            raise failed[0]
        return out

    def _edge_targets(self, src: np.ndarray, j: np.ndarray) -> np.ndarray:
        if _K is not None:  # compiled (the GIL released for large batches): the same targets
            out = np.empty(len(src), dtype=np.int64)
            if self._kernel.targets(src, j, out):
                return out  # (else a batch it does not cover: the Python path's)
        if len(src) <= _FEW_EDGES:
            return self._few_edge_targets(src, j)
        scope, u_point = _uniforms(self.key, src, j, 0)
        # each edge's scope (its community, its region or the market), as a row of the
        # scopes' table: where the scope lies in the layout and its cumulative attention
        table = self._scope_table
        if len(src) < _SCOPE_GATHER:  # (the region's row: its index after the communities)
            r = np.add(self.region[src], len(self.comm_start) - 1, dtype=np.int64)
            scope_of = np.where(
                scope < self.within_community,
                self.community[src],
                np.where(scope < self.within_community + self.within_region, r, len(table) - 1),
            )
        else:  # each consumer's community or region read only where its edge needs it
            scope_of = self._scope_rows(src, scope)
        # each edge's scope's row, read at once (one random read of memory per edge)
        lo, hi, cum_lo, cum_hi = _scope_columns(table.take(scope_of, axis=0))
        point = cum_lo + u_point * (cum_hi - cum_lo)
        # the position, clipped to the scope (np.clip's result by maximum then minimum, without
        # np.clip's Python layer); _locate's clamp at n is left out: a point past the total
        # lands on the scope's last position either way (hi - 1 < n)
        pos = self._locate(point, clamp=False)
        np.minimum(np.maximum(pos, lo, out=pos), hi - 1, out=pos)
        found = self.order[pos].astype(np.int64)  # each edge's target, unless a self-loop
        loop = np.equal(found, src)  # no self-loops: take the next consumer of the block
        if not np.count_nonzero(loop):
            return found
        at = loop.nonzero()[0]
        if len(at) <= _FEW_LOOPS:  # a few: on Python numbers, their targets read again
            self._unloop(at.tolist(), src, j, pos, lo, hi)
            found[at] = self.order[pos[at]]
            return found
        alone = at[hi[loop] - lo[loop] == 1]
        if len(alone):  # alone in its community: a contact elsewhere in its region
            r = self.region[src[alone]].astype(np.int64)
            lo[alone], hi[alone] = self.region_start[r], self.region_start[r + 1]
            u = _uniforms(self.key, src[alone], j[alone], 1)[0]
            pos[alone] = lo[alone] + (u * (hi[alone] - lo[alone])).astype(np.int64)
            loop = self.order[pos] == src
        lo_s, size = lo[loop], hi[loop] - lo[loop]
        pos[loop] = lo_s + (pos[loop] - lo_s + 1) % np.maximum(size, 1)
        return self.order[pos].astype(np.int64)

    def edge_targets_of_lists(self, src: list[int], j: list[int]) -> list[int] | np.ndarray:
        """:meth:`edge_targets` of edges given as lists: for a few, found on Python numbers
        and given as a list (no array made); else the int64 array. (Compiled: the lists read
        by the kernel, a list of a few targets back or the int64 array filled; the split
        over two threads only from :data:`SPLIT_FROM` edges, as arrays.)"""
        if _K is not None:  # compiled: a list for a few, else the int64 array filled
            if len(src) <= _FEW_EDGES:
                out = self._kernel.targets_of_lists(src, j)
                if out is not None:
                    return out
            elif len(src) < SPLIT_FROM:
                out = np.empty(len(src), dtype=np.int64)
                if self._kernel.targets_of_lists(src, j, out):
                    return out
        if len(src) <= _FEW_EDGES:
            return self._few_targets(src, j)
        return self.edge_targets(np.array(src, dtype=np.int64), np.array(j, dtype=np.int64))

    def _unloop(
        self,
        at: list[int],
        src: np.ndarray,
        j: np.ndarray,
        pos: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> None:
        """:meth:`edge_targets`' way out of the self-loops at ``at`` (in place in ``pos``),
        one edge at a time on Python numbers: alone in its community, a contact drawn
        elsewhere in its region (salt 1); still itself, the next consumer of the block."""
        key = int(self.key)
        order, region, region_start = self.order, self.region, self.region_start
        for i in at:
            s, a, b, p = src.item(i), lo.item(i), hi.item(i), pos.item(i)
            if b - a == 1:  # alone in its community: a contact elsewhere in its region
                r = region.item(s)
                a, b = region_start.item(r), region_start.item(r + 1)
                p = a + int((_hash(key, s, j.item(i), 1) >> 32) * _SCALE * (b - a))
                if order.item(p) != s:
                    pos[i] = p
                    continue
            pos[i] = a + (p - a + 1) % max(b - a, 1)

    def _scope_rows(self, src: np.ndarray, scope: np.ndarray) -> np.ndarray:
        """Each edge's row of the scopes' table (:attr:`_scope_table`): its source's community
        where ``scope < within_community``, else its region where ``scope`` is below both
        shares, else the market's; the community and region columns read only where needed
        (one random read of memory per edge instead of two)."""
        wc = self.within_community
        rows = np.full(len(src), len(self.comm_start) + len(self.region_start) - 2, np.int64)
        inner = np.flatnonzero(scope < wc)
        rows[inner] = self.community[src[inner]]
        near = np.flatnonzero((scope >= wc) & (scope < wc + self.within_region))
        r = self.region[src[near]].astype(np.int64)
        r += len(self.comm_start) - 1
        rows[near] = r
        return rows

    def _few_edge_targets(self, src: np.ndarray, j: np.ndarray) -> np.ndarray:
        """:meth:`edge_targets` of a few edges (:meth:`_few_targets`), as an array."""
        return np.array(self._few_targets(src.tolist(), j.tolist()), dtype=np.int64)

    def _few_targets(self, src: list[int], j: list[int]) -> list[int]:
        """:meth:`edge_targets` of a few edges, one at a time on Python numbers: the same
        hash (integers mod 2**64), the same float64 operations in the same order, the same
        cumulative attention (through the whole table's guide when it is kept, else the
        block sums added in turn); a microsecond or two an edge instead of ~60 numpy calls."""
        key = int(self.key)
        n = self.n
        wc, wcr = self.within_community, self.within_community + self.within_region
        views = self._views
        community, region, order, comm_start, comm_cum, region_start, region_cum, full = views
        total = region_cum[-1]
        # the whole table through its guide when it is kept, else the block sums
        locate = self._locate_one if full is None else self._locate_guided
        out = []
        for s, k in zip(src, j, strict=True):
            x = (key + s * _GOLDEN_INT + k * _M1_INT) & _MASK  # _hash(key, s, k, 0)
            x ^= x >> 30
            x = (x * _M1_INT) & _MASK
            x ^= x >> 27
            x = (x * _M2_INT) & _MASK
            x ^= x >> 31
            scope, u = (x >> 32) * _SCALE, (x & 0xFFFFFFFF) * _SCALE
            if scope < wc:
                c = community[s]
                lo, hi = comm_start[c], comm_start[c + 1]
                cum_lo, cum_hi = comm_cum[c], comm_cum[c + 1]
            elif scope < wcr:
                r = region[s]
                lo, hi = region_start[r], region_start[r + 1]
                cum_lo, cum_hi = region_cum[r], region_cum[r + 1]
            else:
                lo, hi, cum_lo, cum_hi = 0, n, 0.0, total
            point = cum_lo + u * (cum_hi - cum_lo)
            pos = locate(point)
            if pos < lo:
                pos = lo
            elif pos > hi - 1:
                pos = hi - 1
            if order[pos] == s:  # no self-loops: take the next consumer of the block
                loop = True
                if hi - lo == 1:  # alone in its community: a contact elsewhere in its region
                    r = region[s]
                    lo, hi = region_start[r], region_start[r + 1]
                    pos = lo + int((_hash(key, s, k, 1) >> 32) * _SCALE * (hi - lo))
                    loop = order[pos] == s
                if loop:
                    pos = lo + (pos - lo + 1) % max(hi - lo, 1)
            out.append(order[pos])
        return out

    def _locate_one(self, point: float) -> int:
        """:meth:`_locate` of one point, on Python numbers (the same comparisons and sums)."""
        cp, guide = self.checkpoints, self.guide
        g, last = len(guide) - 1, len(cp) - 1
        b = min(max(int(point * self.guide_scale), 0), g - 1)
        stored = guide.item(b)
        most = guide.item(b + 1)
        while stored < most and cp.item(min(stored, last)) <= point:
            stored += 1
        blk = stored - 1
        acc = cp.item(blk)
        if not acc <= point:
            return blk * _BLOCK - 1
        # the block's sums at most the point: the weights (positive, or inf) added in turn as
        # np.cumsum did, so the sums only grow and counting stops at the first above it
        start = below = blk * _BLOCK
        for w in self.weight[start : start + _BLOCK - 1].tolist():
            acc += w
            if not acc <= point:
                break
            below += 1
        return below

    def neighbours(self, i: int) -> np.ndarray:
        """Out-neighbours of consumer ``i`` (in edge order; repeated links repeat)."""
        k = int(self.degree[i])
        return self.edge_targets(np.full(k, i, dtype=np.int64), np.arange(k))

    def random_neighbour(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly drawn out-neighbour per node."""
        nodes = np.asarray(nodes, dtype=np.int64)
        return self.edge_targets(nodes, self.neighbour_slots(nodes, rng))

    def neighbour_slots(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Which edge of each node :meth:`random_neighbour` follows (uniform among its
        edges): look the targets up later with :meth:`edge_targets`.

        Up to :data:`_FEW_SLOTS` nodes, on Python numbers (:meth:`neighbour_slot_list`); with
        the kernel (:data:`_DRAWS`), any number in its C loop (the same doubles and products).
        ``nodes``: an integer array (a list is made one first)."""
        if not isinstance(nodes, np.ndarray):
            nodes = np.asarray(nodes, dtype=np.int64)
        if _DRAWS is not None:
            out = np.empty(len(nodes), dtype=np.int64)
            _DRAWS.slots(rng.bit_generator.capsule, self._degrees, nodes, out)
            return out
        if len(nodes) <= _FEW_SLOTS:
            return np.array(self.neighbour_slot_list(nodes.tolist(), rng), dtype=np.int64)
        return (rng.random(len(nodes)) * self.degree[nodes]).astype(np.int64)

    def neighbour_slot_list(self, nodes: list[int], rng: np.random.Generator) -> list[int]:
        """``neighbour_slots(np.array(nodes), rng).tolist()``. Up to :data:`_SLOT_LIST`
        nodes on Python numbers: the doubles of ``rng.random(len(nodes))`` (up to
        :data:`_FEW_DOUBLES` one at a time from the generator's own ``next_double``: the same
        doubles), times the degree and truncated as numpy does."""
        if len(nodes) > _SLOT_LIST:  # numpy's (as neighbour_slots draws them)
            at = np.array(nodes, dtype=np.int64)
            return (rng.random(len(at)) * self.degree[at]).astype(np.int64).tolist()
        degree = self._degrees
        if _DRAWS is not None:  # the same doubles and products in one C call
            return _DRAWS.slot_list(rng.bit_generator.capsule, degree, nodes)
        if len(nodes) > _FEW_DOUBLES:  # the doubles of one call (0.7 µs, 0.25 µs a double)
            doubles = rng.random(len(nodes)).tolist()
            return [int(d * degree[i]) for d, i in zip(doubles, nodes, strict=True)]
        words = rng.bit_generator.ctypes
        double, state = words.next_double, words.state
        return [int(double(state) * degree[i]) for i in nodes]

    def reach(
        self, senders: np.ndarray, probability: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each sender tells each of its contacts with ``probability``: (sender row, target).

        Only the edges hit are computed: the work is the senders' degrees, not the graph's.
        """
        senders = np.asarray(senders, dtype=np.int64)
        deg = self.degree[senders].astype(np.int64)
        hit = np.flatnonzero(rng.random(int(deg.sum())) < probability)
        rows = np.repeat(np.arange(len(senders)), deg)[hit]
        first = np.concatenate([[0], np.cumsum(deg)[:-1]])
        return rows, self.edge_targets(senders[rows], hit - first[rows])

    def materialize(self) -> tuple[np.ndarray, np.ndarray]:
        """All edges as CSR ``(indptr int64, indices int32)`` (tests, analysis)."""
        indptr = np.concatenate([[0], np.cumsum(self.degree, dtype=np.int64)])
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        step = 1 << 18
        for a in range(0, self.n, step):
            b = min(a + step, self.n)
            e0, e1 = int(indptr[a]), int(indptr[b])
            src = np.repeat(np.arange(a, b, dtype=np.int64), self.degree[a:b])
            j = np.arange(e1 - e0) - (indptr[src] - e0)
            indices[e0:e1] = self.edge_targets(src, j)
        return indptr, indices


def _aligned(column: np.ndarray) -> np.ndarray:
    """``column`` C-contiguous and aligned to its items, as the compiled look-ups take it (a
    copy only of a strided or unaligned one; np.require's Python layer costs more)."""
    column = np.ascontiguousarray(column)
    return column if column.flags.aligned else column.copy()


def _scope_columns(rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows of the scopes' table (:attr:`SocialGraph._scope_table`) as four columns (views):
    first positions, ends (int64), and the cumulative attention at both (float64)."""
    return rows[:, 0], rows[:, 1], rows[:, 2].view(np.float64), rows[:, 3].view(np.float64)


def _pareto_int(
    rng: np.random.Generator, n: int, kmin: int, kmax: int, exponent: float
) -> np.ndarray:
    """Discrete power law ``P(k) ∝ k^-exponent`` on ``[kmin, kmax]`` (continuous, floored)."""
    u = rng.random(n)
    a = exponent - 1.0
    lo, hi = kmin ** (-a), (kmax + 1) ** (-a)
    u *= lo - hi  # np.floor((lo - u * (lo - hi)) ** (-1.0 / a)), in place
    np.subtract(lo, u, out=u)
    np.power(u, -1.0 / a, out=u)
    np.floor(u, out=u)
    return np.clip(u, kmin, kmax, out=u).astype(np.int32)


def build(
    region: np.ndarray, n_regions: int, params: SocialGraphConfig, rng: np.random.Generator
) -> SocialGraph:
    """Generate the network for consumers living in ``region`` (int per consumer).

    The draws are those of one call per quantity (numpy's generators are sequential), made
    in chunks so that no temporary is the size of the population.

    Args:
        region: region index of each consumer.
        n_regions: number of regions.
        params: the network's shape (``market.social_graph``).
        rng: the stream to draw from (derive it from identity, e.g. ``stream(seed, "graph")``).
    """
    region = np.asarray(region)
    n = len(region)
    p = params
    per_region = _counts(region, n_regions, "region")
    # communities inside regions: Pareto sizes (shape 2: mean = 2·scale)
    community = np.zeros(n, dtype=np.int32)
    offset = 0
    counted: list[np.ndarray] | None = []  # each region's community sizes, if all in C
    for r in range(n_regions):
        if per_region[r] == 0:
            continue
        k = max(1, round(int(per_region[r]) / p.community_size_mean))
        sizes = rng.pareto(2.0, k) + 1.0
        pick = _Choice(sizes / sizes.sum())
        if _K is not None and _assigns_in_c(region, pick, community):
            found = _communities_in_c(region, r, int(per_region[r]), pick, rng, offset, community)
            if counted is not None:
                counted.append(found)
            offset += k
            continue
        counted = None  # (counted below)
        for a, b in _chunks(n):  # the region's members in ascending order
            members = np.flatnonzero(region[a:b] == r)
            members += a
            drawn = pick.draw(rng, len(members), np.int32)
            drawn += offset  # below 2**31: the column is int32
            community[members] = drawn
        offset += k
    # lay consumers out by (region, community): each group is one contiguous block, in
    # consumer order inside it (communities nest in regions, numbered region by region);
    # the attention weights are drawn along the way, chunk by chunk in consumer order (the
    # draws of one call after the communities'), and placed where their consumers go
    comm_start = np.zeros(offset + 1, dtype=np.int64)
    if counted is None:
        np.cumsum(_counts(community, offset), out=comm_start[1:])
    elif offset:  # (no region without consumers is counted: they have no communities)
        np.cumsum(np.concatenate(counted), out=comm_start[1:])
    region_start = np.zeros(n_regions + 1, dtype=np.int64)
    np.cumsum(per_region, out=region_start[1:])
    cap = p.degree_max / p.degree_min
    weight = np.empty((n // _BLOCK + 1) * _BLOCK, dtype=np.float32)
    weight[n:] = np.inf

    def attention(k: int) -> np.ndarray:  # np.minimum(rng.pareto(…, k) + 1.0, cap), in place
        drawn = rng.pareto(p.degree_exponent - 1.0, k)
        drawn += 1.0
        return np.minimum(drawn, cap, out=drawn)

    order = _layout(community, comm_start, weight, attention)
    checkpoints, (comm_cum, region_cum) = _cumulative(weight[:n], (comm_start, region_start))
    # buckets of a power of two (exact bounds), about half a stored value's mean span
    total = max(float(region_cum[-1]), 1.0)
    guide_scale = 2.0 ** (math.floor(math.log2(max(len(checkpoints) - 1, 1) / total)) + 1)
    guide = _guide(checkpoints, math.floor(total * guide_scale) + 2, guide_scale)
    deg_type = np.uint16 if p.degree_max < 2**16 else np.int32
    degree = _drawn(
        n, deg_type, lambda k: _pareto_int(rng, k, p.degree_min, p.degree_max, p.degree_exponent)
    )
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    return SocialGraph(
        community=community,
        region=region,
        degree=degree,
        order=order,
        weight=weight,
        checkpoints=checkpoints,
        comm_start=comm_start,
        region_start=region_start,
        comm_cum=comm_cum,
        region_cum=region_cum,
        guide=guide,
        guide_scale=guide_scale,
        within_community=p.within_community,
        within_region=p.within_region,
        key=key,
    )


_GUIDE_CHUNK = 1 << 19  # values per block of _guide (its temporaries: ≈ 20 MiB, traced at 100M)


def _guide(values: np.ndarray, length: int, scale: float) -> np.ndarray:
    """``np.searchsorted(values, np.arange(length) / scale, "right")`` as int32: for every
    bound ``b / scale``, the number of the sorted ``values`` at most it (the checkpoints'
    guide; the communities' table of :class:`_Choice`). ``scale`` is a power of two, so
    ``v * scale`` is exact (unless it underflows: a subnormal value with a scale below 1,
    which no caller makes: checkpoints are 0 or at least 1, the choices' scale at least
    2**16) and ``v <= b / scale`` exactly when ``ceil(v * scale) <= b``: the
    ``i``-th value (from 0) is first counted at the bound ``f_i = ceil(v_i * scale)``, so the
    entries from ``f_{i-1}`` up to ``f_i`` are ``i`` (one ``repeat``, reading the values and
    writing the guide in order, instead of a binary search per bound: 2.4 → 0.3 ms at 1M
    consumers; 0.75 → 0.05 ms for a table of 65,536 bounds). A block of values at a time
    (at 100M consumers one call would make 16 bytes of temporaries a stored value). The
    checkpoints' last bound, ``(floor(total · scale) + 1) / scale``, is exactly past the
    total, so its entry counts every stored value."""
    if math.frexp(scale)[0] != 0.5:
        raise ValueError(f"_guide: scale must be a power of two, got {scale!r}")
    guide = np.empty(length, dtype=np.int32)
    end = 0  # guide[:end] is filled: the bound where the next value is first counted
    for a in range(0, len(values), _GUIDE_CHUNK):
        first = np.ceil(values[a : a + _GUIDE_CHUNK] * scale)
        np.clip(first, end, length, out=first)  # (sorted: at least the one before)
        spans = np.diff(first.astype(np.int64), prepend=end)  # the entries of each count
        last = int(first[-1])
        guide[end:last] = np.repeat(np.arange(a, a + len(first), dtype=np.int32), spans)
        end = last
    guide[end:] = len(values)  # past every value
    return guide


_RISING_CHUNK = 1 << 16  # values per block of _rising_guide (its buffers: 1.5 MiB, reused)


def _rising_guide(values: np.ndarray, length: int, scale: float) -> np.ndarray:
    """:func:`_guide` of increasing values from 0 (the whole cumulative attention, made at
    a run's first look-up): the same entries (the ``i``-th value first counted at the bound
    ``ceil(v_i · scale)``, so the entries up to it are ``i``), made in blocks of
    :data:`_RISING_CHUNK` values through buffers made once (no fresh temporaries the size of
    the table: 6 against 12 ms at 1M consumers) and without clipping (the values are
    non-negative and increasing, the last at most ``(length - 1) / scale``)."""
    if math.frexp(scale)[0] != 0.5:
        raise ValueError(f"_rising_guide: scale must be a power of two, got {scale!r}")
    guide = np.empty(length, dtype=np.int32)
    size = min(_RISING_CHUNK, max(len(values), 1))
    x, first = np.empty(size), np.empty(size + 1, dtype=np.int64)
    spans, index = np.empty(size, dtype=np.int64), np.arange(size, dtype=np.int32)
    end = 0  # guide[:end] is filled: the bound where the next value is first counted
    for a in range(0, len(values), size):
        m = min(size, len(values) - a)
        np.multiply(values[a : a + m], scale, out=x[:m])
        np.ceil(x[:m], out=x[:m])
        first[0] = end
        np.copyto(first[1 : m + 1], x[:m], casting="unsafe")
        np.subtract(first[1 : m + 1], first[:m], out=spans[:m])  # the entries of each count
        last = int(first[m])
        guide[end:last] = np.repeat(index[:m], spans[:m])
        index += size
        end = last
    guide[end:] = len(values)  # past every value
    return guide


def _chunks(n: int, size: int | None = None) -> list[tuple[int, int]]:
    """The bounds ``(a, b)`` of ``n`` values cut in chunks of ``size`` (:data:`_CHUNK` unless
    given), the last one shorter."""
    size = _CHUNK if size is None else size
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _drawn(n: int, dtype: type, draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """``draw(n).astype(dtype)``, drawn chunk by chunk into the narrow column."""
    out = np.empty(n, dtype=dtype)
    for a, b in _chunks(n):
        out[a:b] = draw(b - a)
    return out


_COUNT_CHUNK = 1 << 20  # values per np.bincount call of _counts (its int64 copy: 8 MiB)
_COUNT_FEW = 8  # up to this many possible values, _counts compares (at 16: only 1.2× quicker)


def _counts(values: np.ndarray, length: int, name: str = "values") -> np.ndarray:
    """``np.bincount(values, minlength=length)`` of ``values`` in ``[0, length)``, a range of
    values at a time (bincount copies its input to int64: a temporary the size of the
    population in one call); for a few values (:data:`_COUNT_FEW`, e.g. the regions), each
    value's count of equal entries instead (no int64 copy: ≈ 7× quicker for four).

    Raises:
        ValueError: a value outside ``[0, length)`` (as bincount would, for the few too).
    """
    out = np.zeros(length, dtype=np.int64)
    few = length <= _COUNT_FEW
    for a in range(0, len(values), _COUNT_CHUNK):
        part = values[a : a + _COUNT_CHUNK]
        if few:
            for v in range(length):
                out[v] += np.count_nonzero(part == v)
        else:
            try:
                counted = np.bincount(part, minlength=length)
            except ValueError:  # a value below 0: named below
                break
            if len(counted) > length:  # a value past the range: named below
                break
            out += counted
    if int(out.sum()) != len(values):
        bad = np.unique(values[(values < 0) | (values >= length)])[:5].tolist()
        raise ValueError(f"{name} {bad} outside [0, {length})")
    return out


def _packs_in_32_bits(communities: int, bits: int) -> bool:
    """Whether the layout's chunks pack a community number and a place of ``bits`` bits in
    32 bits: the largest community number, ``communities - 1``, fits in the ``32 - bits``
    bits left (up to 2**14 communities with chunks of 2**18: half the bytes to sort and
    shift); otherwise they are packed in 64. The same values, so the same order."""
    return (communities - 1) >> (32 - bits) == 0


# the layout's largest chunk (its temporaries: ≈ 66 bytes a consumer of the chunk with 200k
# communities, ≈ 100 with 5M: more where communities are small)
_LAYOUT_MOST = 1 << 20
_LAYOUT_MEMBERS = 3  # members a community is aimed to have in each chunk of the layout


def _layout_chunk(n: int, communities: int) -> int:
    """Consumers per chunk of :func:`_layout`: :data:`_CHUNK`, doubled (up to
    :data:`_LAYOUT_MOST`, while eight chunks of the doubled size fit) until a chunk holds about
    :data:`_LAYOUT_MEMBERS` members of each community. A chunk's members are written along
    the layout in ascending places, one run a community; with fewer members than
    communities nearly every member of a chunk lands on a 4 KiB page of its own. The gain
    measured is per page, not per cache line: at 100M consumers (666,667 communities) the
    layout alone took ≈ 1 s less with chunks of 2**20 than of 2**18, but only in 4 KiB pages
    (as :func:`sim.world.build` runs, small_pages) writing fresh ``order`` and ``weight``
    (first-touch faults, TLB misses); in huge pages with the outputs reused it was slower
    (5.74 against 5.42 s). The same order and weights whatever the chunk; worlds of up to
    ≈ 87,000 communities keep :data:`_CHUNK` (13M consumers at the default community size
    of 150; with smaller communities the chunk is raised from 4.2M consumers, eight chunks
    of 2**19)."""
    chunk = _CHUNK
    while chunk < _LAYOUT_MOST and chunk < _LAYOUT_MEMBERS * communities and 16 * chunk <= n:
        chunk *= 2
    return chunk


def _assigns_in_c(region: np.ndarray, pick: _Choice, community: np.ndarray) -> bool:
    """Whether a region's communities are drawn through the C pass (:func:`_communities_in_c`):
    a choice of more than :attr:`_Choice.FEW` communities (through its guide), a uint8
    region column and an int32 community column, both contiguous and aligned."""
    return (
        not pick.few
        and region.dtype == np.uint8
        and community.dtype == np.int32
        and region.flags.c_contiguous
        and community.flags.c_contiguous
        and region.flags.aligned
        and community.flags.aligned
    )


def _communities_in_c(
    region: np.ndarray,
    r: int,
    members: int,
    pick: _Choice,
    rng: np.random.Generator,
    offset: int,
    community: np.ndarray,
) -> np.ndarray:
    """Region ``r``'s communities, as the chunks of :func:`build` draw them, in one C pass a
    batch of draws (:func:`sim._graph.communities`): ``members`` doubles of ``rng.random``
    in batches of :data:`_CHUNK` into one buffer (numpy's doubles are drawn one at a time,
    so batches of any size give the same values in the same order as one ``rng.random``
    per chunk of consumers), each found in ``pick``'s guide and counted up as
    :meth:`_Choice.draw` does and written, plus ``offset``, to the next consumer of region
    ``r`` (no flatnonzero, gathers or scatter by index: the region column is read in
    order, once a region). Returns the members of each of the region's communities (int64:
    what ``_counts(community, ...)`` finds for them)."""
    drawn = np.empty(min(_CHUNK, max(members, 1)))
    sizes = np.zeros(len(pick.cdf), dtype=np.int64)
    start = 0
    for a in range(0, members, len(drawn)):
        u = drawn[: min(len(drawn), members - a)]
        rng.random(out=u)
        start = _K.communities(
            region, r, start, u, pick.cdf, pick.guide, pick.scale, offset, community, sizes
        )
    return sizes


def _layout(
    community: np.ndarray,
    comm_start: np.ndarray,
    weight: np.ndarray,
    draw: Callable[[int], np.ndarray],
) -> np.ndarray:
    """``np.argsort(community, kind="stable")`` as int32, by counting: each chunk of
    consumers is sorted alone (its community and place packed in one integer: distinct
    values, so any sort is the stable one) and its members go after those of earlier
    chunks in their community's block. Each chunk's attention, ``draw(len(chunk))``, goes
    where its consumers go: ``weight[:n]`` is the attention along the layout, without a
    column of it by consumer (the draws of ``draw(n)``, made in turn)."""
    n = len(community)
    order = np.empty(n, dtype=np.int32)
    free = comm_start[:-1].copy()  # next free place of each community
    chunk = _layout_chunk(n, len(comm_start) - 1)
    if _BUILD is not None and _scatters_in_c(community, free, weight, n):
        # each consumer in turn at its community's next free place: the stable order itself
        drawn_at = np.empty(min(chunk, n), dtype=np.float32)
        for a, b in _chunks(n, chunk):
            attention = drawn_at[: b - a]
            np.copyto(attention, draw(b - a))  # float64 to float32 as astype(np.float32)
            _BUILD.layout(community, a, free, attention, order, weight)
        return order
    bits = max(1, (chunk - 1).bit_length())  # a place in a chunk
    narrow = _packs_in_32_bits(len(comm_start) - 1, bits)
    kind, signed = (np.uint32, np.int32) if narrow else (np.uint64, np.int64)
    shift, low = kind(bits), kind((1 << bits) - 1)
    offsets = np.arange(chunk, dtype=np.int64)  # a member's place in the chunk
    places = offsets.astype(kind, copy=False)
    # the chunk's largest temporaries, made once (fresh ones of a few MiB a chunk are pages
    # the kernel zeroes again and again: ≈ 530 faults a chunk of 2**20, one thread; the
    # rest, numpy's dest, first, runs, ... and the draw's float64 output, are still fresh
    # each chunk: with two threads the 30M build faults ≈ 12 % more than with chunks of 2**18)
    packed_at, o_at = np.empty(chunk, dtype=kind), np.empty(chunk, dtype=kind)
    head_at, drawn_at = np.empty(chunk, dtype=bool), np.empty(chunk, dtype=np.float32)
    for a, b in _chunks(n, chunk):
        m = b - a
        packed = packed_at[:m]
        np.copyto(packed, community[a:b], casting="unsafe")  # ids are not negative
        packed <<= shift
        packed |= places[:m]
        packed.sort()
        o = np.bitwise_and(packed, low, out=o_at[:m]).view(signed)  # the chunk's stable order
        packed >>= shift
        keys = packed.view(signed)  # its communities, sorted (below 2**31 or 2**63)
        head = head_at[:m]
        head[0] = True
        np.not_equal(keys[1:], keys[:-1], out=head[1:])
        first = np.flatnonzero(head)  # where each community's run starts
        runs = keys[first]  # its community
        length = np.diff(first, append=m)
        base = free[runs]  # the run's first free place
        # each member's place: its run's first free place, plus its place inside the run
        shifted = base - first
        dest = np.repeat(shifted, length)
        dest += offsets[:m]
        base += length
        free[runs] = base  # (the runs' communities are distinct)
        attention = drawn_at[:m]
        np.copyto(attention, draw(m))  # float64 to float32 rounds as astype(np.float32)
        weight[dest] = attention[o]
        o += a
        order[dest] = o
    return order


def _scatters_in_c(community: np.ndarray, free: np.ndarray, weight: np.ndarray, n: int) -> bool:
    """Whether :func:`_layout`'s columns are the C scatter's (int32 communities, int64 free
    places, float32 weights, contiguous; consumers numbered in int32)."""
    return (
        n < 2**31
        and community.dtype == np.int32
        and free.dtype == np.int64
        and weight.dtype == np.float32
        and community.flags.c_contiguous
        and weight.flags.c_contiguous
    )


class _Choice:
    """``rng.choice(len(p), size, p=p)``, the same draws found faster: numpy draws one
    uniform ``u`` per value and returns ``searchsorted(cdf, u, "right")`` (``cdf`` the
    cumulative sum of ``p`` divided by its last value), that is the number of values of
    ``cdf`` at most ``u``. With few values (at most :attr:`FEW`, e.g. the regions) that count
    is a comparison per value, added up in the narrow type asked for; otherwise a binary
    search in a long ``cdf`` is a cache miss per step, so a guide table gives each ``u`` the
    few positions its answer lies between (the answers at the bounds of its 1/``scale``-th
    of [0, 1)), and the answer is counted up from the lower one. ``scale`` is a power of two
    (``u * scale`` is exact), from :attr:`GUIDE` up to :attr:`GUIDE_MOST`, at least four
    times the values where it can: then a bracket rarely holds more than one value of
    ``cdf`` (one step, not several over the whole draw)."""

    GUIDE = 1 << 16
    GUIDE_MOST = 1 << 20  # the largest table: 8 MiB
    FEW = 16

    def __init__(self, p: np.ndarray):
        cdf = np.asarray(p, dtype=np.float64).cumsum()
        cdf /= cdf[-1]
        self.cdf = cdf
        self.few = len(cdf) <= self.FEW
        self.scale = min(max(self.GUIDE, 1 << (4 * len(cdf) - 1).bit_length()), self.GUIDE_MOST)
        if not self.few:
            # int32: half the bytes of intp (its random reads are the draw's cost); its
            # draws (communities) go to int32 columns, so fewer than 2**31 values
            self.guide = _guide(cdf, self.scale + 1, self.scale)

    def draw(self, rng: np.random.Generator, size: int, dtype: type = np.int64) -> np.ndarray:
        """``size`` draws, as ``rng.choice(len(p), size=size, p=p).astype(dtype)``."""
        u = rng.random(size)
        if self.few:  # u < 1 = cdf[-1]: the count of the others
            out = np.zeros(size, dtype=dtype)
            for c in self.cdf[:-1].tolist():
                out += u >= c
            return out
        bucket = (u * self.scale).astype(np.int64)  # exact: u is a multiple of 2**-53
        out, hi = self.guide[bucket], self.guide[bucket + 1]
        wide = np.flatnonzero(out < hi)  # a bracket with values of cdf in it: counted up
        out[wide] = _count_up(self.cdf, out[wide], hi[wide], u[wide])
        return out if out.dtype == dtype else out.astype(dtype)


def _count_up(
    values: np.ndarray, pos: np.ndarray, hi: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Each ``pos`` (below its ``hi``) raised past the sorted ``values`` at most its point, one
    step at a time (in place; at most the bracket's width of steps)."""
    last = len(values) - 1
    while True:
        step = (pos < hi) & (values[np.minimum(pos, last)] <= points)
        if not step.any():
            return pos
        pos += step


_RADIX_FROM = 4096  # below this many keys numpy's comparison sort is as quick


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for non-negative integer keys: for many keys, in
    linear time (numpy sorts 16-bit integers by radix): one pass when they fit 16 bits, else
    two (the low digits, then the high ones); a stable sort's permutation is unique, so it is
    the same."""
    if len(keys) < _RADIX_FROM:
        return np.argsort(keys, kind="stable")
    if keys.max() < 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = keys[low] >> 16
    if high.max() < 1 << 16:
        high = high.astype(np.uint16)
    return low[np.argsort(high, kind="stable")]


def _cumulates_in_c(weight: np.ndarray, at: tuple[np.ndarray, ...]) -> bool:
    """Whether :func:`_cumulative` runs in one C pass (:func:`sim._graph.cumulative`): float32
    weights and two int64 arrays of positions, contiguous and aligned."""
    return (
        weight.dtype == np.float32
        and weight.flags.c_contiguous
        and weight.flags.aligned
        and len(at) == 2
        and all(w.dtype == np.int64 and w.flags.c_contiguous and w.flags.aligned for w in at)
    )


def _cumulative(
    weight: np.ndarray, at: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The cumulative weight ``cumw`` (``[0, cumsum(weight, float64)]``, the additions made
    in turn) at every ``_BLOCK``-th position, and at each sorted array of positions ``at``;
    computed chunk by chunk, each chunk's sum starting from the last value of the one before
    (so each value is the one of a single ``np.cumsum``)."""
    n = len(weight)
    if _K is not None and _cumulates_in_c(weight, at):
        checkpoints = np.empty(n // _BLOCK + 1)
        outs = tuple(np.empty(len(w)) for w in at)
        _K.cumulative(weight, checkpoints, at[0], outs[0], at[1], outs[1])
        return checkpoints, outs
    every = np.arange(0, n + 1, _BLOCK)
    wanted = (every, *at)
    values = [np.empty(len(w)) for w in wanted]
    carry = 0.0
    for a, b in _chunks(n):
        part = np.empty(b - a + 1)
        part[0] = carry
        part[1:] = weight[a:b]
        np.cumsum(part, out=part)  # part[i] = cumw[a + i]
        for w, v in zip(wanted, values, strict=True):
            i, j = np.searchsorted(w, [a, b])  # positions in [a, b)
            v[i:j] = part[w[i:j] - a]
        carry = float(part[-1])
    for w, v in zip(wanted, values, strict=True):
        v[w == n] = carry
    return values[0], tuple(values[1:])
