"""Content: short videos (a decaying reach plus a self-exciting share cascade) and live streams.

Short video published at hour ``t0`` by a KOL with ``F`` followers and engagement ``e``:

* follower views ("immigrants") have mean ``S = F·e`` in total, arriving in hour ``k ≥ 0``
  with mean ``S·(exp(-k/τ) - exp(-(k+1)/τ))`` (τ = ``reach_decay_hours``);
* every view triggers on average ``n`` (``branching_ratio`` < 1) shared views by
  non-followers, spread over later hours by the exponential kernel
  ``(1-exp(-1/κ))·exp(-(j-1)/κ)``, ``j ≥ 1`` (κ = ``share_kernel_hours``): a discrete-time
  Hawkes process. The expected total is ``S/(1-n)``. Views per hour are Poisson given the
  intensity, and the excitation carries over hour to hour:
  ``E[k+1] = exp(-1/κ)·E[k] + n·(1-exp(-1/κ))·V[k]``.

Live stream from ``t0`` for ``D`` hours: ``F·a·(1+b)`` viewers in expectation (``a``
attendance, ``b`` platform boost for non-followers), with the first hour ``opening_peak_factor``
times the later ones.

Every view exposes one consumer to one featured SKU (chosen uniformly among the post's SKUs).

Who sees the shares: without a social graph, uniformly random consumers. With one
(``market.social_graph.enabled``), each shared view is passed on by a recent viewer of the post
— the viewers of hour ``j`` are drawn with weight ``f_j·V_j·exp(-(k-1-j)/κ)``, their share of
the excitation — to one of that viewer's network contacts: cascades travel along the edges.
``f_j`` is the share factor of hour ``j`` (1, or less when the page sells out: sim.feedback).

Posts of a campaign excite each other (:func:`cross_excite`): a short video's views also
trigger ``cross_excitation`` direct shares per view on the other short videos of its product
whose reach is not spent, with the same kernel; the campaign's total branching is then at
most ``branching_ratio + cross_excitation`` (< 1, validated). A lone post is the textbook
cascade.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim import compiled
from sim.config import LivestreamConfig, ShortVideoConfig

if TYPE_CHECKING:
    from sim.social_graph import SocialGraph

SHARER_MEMORY = 1e-3  # viewers stay potential sharers until their kernel weight falls below
STOP_VIEWS = 0.01  # a post's reach is spent below this many expected seed views
_GATHER = 256  # sharers come from the viewers joined up to this many per hour drawn
_FEW_SHARERS = 32  # up to this many sharers from several hours are picked in Python
_FEW_PICKS = 12  # up to this many bounded draws (followers, sharers, anyone) are made in Python
_WORD = 0xFFFFFFFF
_SKU_ROW = 64  # up to this many exposures of a post of one product copy a row of it
_NONE: list[int] = []  # no draws (never changed: concatenation makes new lists)
_JOINED = True  # many sharers from several hours are gathered from the post's joined pool
# at most this many recent viewers are joined (else drawn from the hours' arrays); the pool
# grows to twice the viewers it holds, so up to 2**18 int64 (2 MiB) a post, and keeps the
# spent hours' viewers until its live ones are next moved to its start
_POOL_MOST = 1 << 17
# the draw loops in C (sim/_draws.c: the same draws on the generator's own C functions), or
# None: the Python loops below (VIRALCHAIN_COMPILED=0, no compiler, a stale build)
_K = compiled.load("_draws")


@dataclass
class Exposures:
    """A batch of (consumer, sku) exposures of one channel."""

    consumers: np.ndarray
    skus: np.ndarray
    channel: int
    kol: int  # global KOL index, -1 for none
    quantity: np.ndarray | None = None  # units wanted (revisits carry the original wish)

    def __len__(self) -> int:
        return len(self.consumers)


@dataclass
class Post:
    """A published piece of content and its running cascade state."""

    post_id: str
    kol: int
    kind: str  # short_video | livestream
    skus: np.ndarray  # global SKU indices
    start_hour: int
    duration_hours: int
    expected_seed_views: float
    rng: np.random.Generator
    excitation: float = 0.0
    views: int = 0
    follower_views: int = 0
    share_views: int = 0
    finished: bool = False
    _weights: np.ndarray = field(default_factory=lambda: np.empty(0))
    # recent viewers (potential sharers): (hour since start, consumers, share factor), newest last
    _viewers: list[tuple[int, np.ndarray, float]] = field(default_factory=list)
    # per entry of _viewers: its hour and its viewers times its share factor (the kernel
    # weight before the decay), kept in growing arrays (entries _head to _tail of each) for
    # one array operation per draw without building the arrays from lists
    _viewer_hours: np.ndarray = field(default_factory=lambda: np.empty(64, dtype=np.int64))
    _viewer_mass: np.ndarray = field(default_factory=lambda: np.empty(64))
    _head: int = 0
    _tail: int = 0
    # the viewers of entries _head to _joined, joined in one pool (copied there once each,
    # once their shares are filled in: at a draw of many sharers from several hours), each
    # entry's first place in it and its size: such a draw is one gather from the pool
    _pool: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _pool_end: int = 0
    _joined: int = 0
    _viewer_start: np.ndarray = field(default_factory=lambda: np.empty(64, dtype=np.int64))
    _viewer_size: np.ndarray = field(default_factory=lambda: np.empty(64, dtype=np.int64))
    _join_from: int = 0  # no join tried before this many entries were ever remembered
    _entries: int = 0  # entries ever remembered
    _sku_row: np.ndarray | None = None  # its product, _SKU_ROW times (a post of one product)
    _k: int = 0  # hours since start of the latest draw
    last_views: int = 0  # views of the latest hour drawn, and the share factor they had
    last_factor: float = 1.0  # (may be left at 1 for an hour without views: it fed nothing)
    # its generator's own C functions and state, made at its first draw in Python (_hold):
    # never pickled or copied (a copy's generator has its own state; not an argument of
    # __init__, so dataclasses.replace leaves it out too), and checked against ``rng`` at
    # each use
    _held: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, object]:
        """The post to copy or pickle, without its held C functions and state (a copy's
        generator is another: it holds its own at its first draw)."""
        state = dict(self.__dict__)
        state.pop("_held", None)
        return state

    def _holding(self) -> tuple:
        """:func:`_hold` of the post's generator, made once (again if ``rng`` was replaced)."""
        held = self._held
        if held is None or held[0] is not self.rng:
            held = self._held = _hold(self.rng)
        return held

    def views_this_hour(
        self,
        hour: int,
        video: ShortVideoConfig,
        live: LivestreamConfig,
        share_factor: float = 1.0,
    ) -> tuple[int, int]:
        """Draw (follower views, non-follower views) for ``hour``; updates the cascade state.

        ``share_factor`` scales how much this hour's views feed the share cascade (1: fully).
        """
        drawn = self.draw_views(hour, video, live)
        if drawn is None:
            return 0, 0
        self.feed_views(drawn, video, share_factor)
        return drawn

    def draw_views(
        self, hour: int, video: ShortVideoConfig, live: LivestreamConfig
    ) -> tuple[int, int] | None:
        """The draws of :meth:`views_this_hour` (None when the post draws nothing: not yet
        started, finished, or a live stream ending now); :meth:`feed_views` then updates the
        cascade with the hour's share factor. Without views the factor feeds nothing (the
        cascade's state is the same whatever it is), so a caller may leave it unasked then."""
        k = hour - self.start_hour
        if k < 0 or self.finished:
            return None
        self._k = k
        if self.kind == "livestream":
            if k >= self.duration_hours:
                self.finished = True
                return None
            if len(self._weights) == 0:
                w = np.ones(self.duration_hours)
                w[0] = live.opening_peak_factor
                self._weights = w / w.sum()
            mean = self.expected_seed_views * self._weights[k]
            boost = live.platform_boost
            # numpy's scalar draws are Python ints already (tests/test_quiet_content_tenth.py)
            rng = self.rng
            # (below the threshold in Python or C, numpy's own way: the same draws)
            few = _FEW_MEAN if _K is None else _FEW_MEAN_KERNEL
            lam = mean / (1 + boost)
            followers = _poisson(self, lam) if 0.0 < lam < few else rng.poisson(lam)
            lam = mean * boost / (1 + boost)
            others = _poisson(self, lam) if 0.0 < lam < few else rng.poisson(lam)
            return followers, others
        tau = video.reach_decay_hours
        seed_mean = self.expected_seed_views * (math.exp(-k / tau) - math.exp(-(k + 1) / tau))
        rng = self.rng
        # (a mean below the threshold drawn in Python or C, numpy's own way: the same draws)
        few = _FEW_MEAN if _K is None else _FEW_MEAN_KERNEL
        if 0.0 < seed_mean < few:  # noqa: SIM108 (as it was)
            followers = _poisson(self, seed_mean)
        else:
            followers = rng.poisson(seed_mean)
        lam = self.excitation
        others = 0
        if lam > 0:
            others = _poisson(self, lam) if lam < few else rng.poisson(lam)
        return followers, others

    def feed_views(
        self, drawn: tuple[int, int], video: ShortVideoConfig, share_factor: float
    ) -> None:
        """Book the views :meth:`draw_views` drew; a short video's feed its cascade by
        ``share_factor``, and it stops once both its reach and its cascade are spent."""
        followers, others = drawn
        new_views = followers + others
        if self.kind != "livestream":
            kappa = video.share_kernel_hours
            decay = math.exp(-1.0 / kappa)
            self.excitation = (
                decay * self.excitation
                + video.branching_ratio * (1 - decay) * new_views * share_factor
            )
            # stop once both the reach and the cascade are spent (expected < 0.01 views left);
            # the cascade asked first (the reach's exp only once it is spent), unless a kernel
            # without decay would divide by zero: then the reach first, as it always was
            if decay < 1.0:
                if (
                    self.excitation / (1 - decay) < STOP_VIEWS
                    and self.expected_seed_views
                    * math.exp(-(self._k + 1) / video.reach_decay_hours)
                    < STOP_VIEWS
                ):
                    self.finished = True
            elif (
                self.expected_seed_views * math.exp(-(self._k + 1) / video.reach_decay_hours)
                < STOP_VIEWS
                and self.excitation / (1 - decay) < STOP_VIEWS
            ):
                self.finished = True
        if new_views:  # (an hour without views adds 0 to each count)
            self.follower_views += followers
            self.share_views += others
            self.views += new_views
        self.last_views, self.last_factor = new_views, share_factor

    def excite(self, views: float) -> None:
        """Add excitation worth ``views`` expected direct shares, spread by the kernel
        (cross-excitation from the campaign's other posts)."""
        self.excitation += views

    def sample_exposures(
        self,
        n_followers: int,
        n_others: int,
        followers: np.ndarray,
        n_consumers: int,
        graph: SocialGraph | None = None,
        kernel_decay: float = 0.0,
        share_factor: float = 1.0,
        pending: PendingShares | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Consumers and SKUs for the views drawn (impressions: repeats allowed).

        With a ``graph``, a short video's shared views go from recent viewers (weighted by
        the kernel, ``kernel_decay = exp(-1/κ)``) to their contacts; the viewers drawn now are
        remembered as potential sharers with weight ``share_factor`` each. With ``pending``,
        the contacts are looked up later, with the other posts' (``pending.resolve()`` fills
        them into the consumers returned): one batch of graph look-ups per hour.

        A few draws stay Python lists until the one array of consumers is made (the same
        draws, in the same order, as with arrays).
        """
        rng = self.rng
        held = self._held  # (the generator's C functions: draws of a few in Python)
        if held is None or held[0] is not rng:  # (_holding's check, in line)
            held = self._holding()
        video = graph is not None and self.kind == "short_video"
        head: list[int] | np.ndarray = _NONE
        tail: list[int] | np.ndarray = _NONE
        sharers = slots = None
        if n_followers and len(followers):
            head = _picks(followers, rng, n_followers, held)
        if n_others:
            along = video and self._viewers
            if along:
                sharers = self._sharers(n_others, kernel_decay, rng, held)
            if sharers is None:  # anyone (along the graph: no recent viewer shares)
                tail = _draws(rng, graph.n if along else n_consumers, n_others, held)
            elif type(sharers) is list:  # each sharer's contact: which edge now,
                slots = graph.neighbour_slot_list(sharers, rng)  # where it leads once looked up
                tail = sharers  # a placeholder of the right length, filled in below or later
            else:
                slots = graph.neighbour_slots(sharers, rng)
                tail = sharers  # a placeholder of the right length, filled in below or later
        # one fresh int64 array (its shared views may be filled in later)
        if type(head) is list and type(tail) is list:
            consumers = np.array(head + tail, dtype=np.int64)
        elif not len(tail):
            consumers = np.asarray(head, dtype=np.int64)
        elif not len(head):
            consumers = np.array(tail, dtype=np.int64)
        else:
            consumers = np.concatenate([np.asarray(head), np.asarray(tail)]).astype(
                np.int64, copy=False
            )
        if sharers is not None:
            share_at = len(head)
            if pending is None:
                consumers[share_at:] = graph.edge_targets(sharers, slots)
            else:
                pending.add(consumers, share_at, sharers, slots)
        if video:
            self._remember(consumers, kernel_decay, share_factor)
        n = len(consumers)
        if not n:
            return consumers, np.empty(0, dtype=np.int32)
        if len(self.skus) == 1:  # its product: a copy of the row's start, or a view
            row = self._sku_row
            if row is None:
                row = self._sku_row = np.full(_SKU_ROW, self.skus[0], dtype=np.int32)
                row.flags.writeable = False  # so no view of it can be made writeable again
            # Above _SKU_ROW its product n times without n copies of it: a read-only view of
            # the row, not contiguous (stride 0: all n elements are the row's first 4 bytes, in
            # one 256-byte row): a kernel taking strided buffers must honour the strides.
            skus = row[:n].copy() if n <= _SKU_ROW else np.ndarray((n,), np.int32, row, 0, (0,))
        else:
            skus = self.skus[rng.integers(0, len(self.skus), n)].astype(np.int32)
        return consumers, skus

    def _sharers(
        self, k: int, decay: float, rng: np.random.Generator, held: tuple
    ) -> list[int] | np.ndarray | None:
        """The sharers of ``k`` shared views: an hour by kernel weight, then uniformly among
        that hour's viewers (None when no recent viewer shares: the views go to anyone); a
        list for a few (:data:`_FEW_PICKS` from one hour, :data:`_FEW_SHARERS` from several),
        else an int64 array. ``held``: :func:`_hold` of ``rng``."""
        last = self._k - 1
        viewers = self._viewers
        # len(v) * f * decay ** age, multiplied in the same order as Python's floats (the
        # power of each hour j read as power[j] = decay ** (last - j), as Python computes it)
        a, b = self._head, self._tail
        if _K is not None:  # the same products, sum and quotients in one C call
            w = np.empty(b - a)
            powers = _powers_to(decay, last)
            if not _K.weights(self._viewer_mass, self._viewer_hours, a, b, powers, w):
                return None
            counts = rng.multinomial(k, w)
        else:
            w = self._viewer_mass[a:b] * _powers_to(decay, last)[self._viewer_hours[a:b]]
            total = np.add.reduce(w)  # w.sum(), without the method's Python layer
            if not total > 0:
                return None
            counts = rng.multinomial(k, np.divide(w, total, out=w))  # w / total, in place
        drawn = counts.nonzero()[0]  # the hours with sharers, oldest first
        if len(drawn) == 1:
            return _picks(viewers[int(drawn[0])][1], rng, k, held)
        # one draw per sharer, uniformly among its hour's viewers: a single call with one
        # bound per draw gives the same numbers as one call per hour (the same bounded
        # draws from the generator, in the same order: tests/test_consumer_kernels.py)
        if k <= _FEW_SHARERS:  # a few: the same bounded draws and the picks in Python
            if _K is not None:  # (or in C: the same draws, one call)
                return _K.pick_hours(held[4], viewers, counts)
            pool = [viewers[i][1] for i in drawn.tolist()]
            return _pick_each(rng, pool, counts[drawn].tolist(), held)
        per = counts[drawn]
        if _JOINED and self._join():  # one gather from the recent viewers joined in a pool
            if _K is not None:  # the same draws and gather in one loop in C
                out = np.empty(k, dtype=np.int64)
                _K.pool_picks(
                    held[4], counts, a, self._viewer_size, self._viewer_start, self._pool, out
                )
                return out
            drawn += a  # the hours' entries
            # (the arrays' own repeat: np.repeat's Python layer left out, the same values)
            pick = rng.integers(0, self._viewer_size[drawn].repeat(per))  # as below
            pick += self._viewer_start[drawn].repeat(per)  # its place in the pool
            return self._pool[pick]
        pool = [viewers[i][1] for i in drawn.tolist()]
        sizes = np.array([len(v) for v in pool], dtype=np.int64)
        pick = rng.integers(0, sizes.repeat(per))  # the place in its hour's viewers
        if int(sizes.sum()) <= _GATHER * len(pool):  # few viewers: pick from them joined
            return np.concatenate(pool)[pick + (sizes.cumsum() - sizes).repeat(per)]
        # many viewers: pick from each hour's own (the same consumers, without copying all)
        ends = np.cumsum(per).tolist()
        return np.concatenate(
            [v[pick[b - c : b]] for v, b, c in zip(pool, ends, per.tolist(), strict=True)]
        )

    def _join(self) -> bool:
        """Copy the viewers of the entries not yet joined (``_joined`` to ``_tail``) into the
        pool (their shares are filled in: a draw is at a later hour than its viewers), after
        the live ones, moving the live ones to the pool's start (or a pool twice their size)
        first when they would not fit. False, and the pool forgotten (its memory freed),
        when the recent viewers are more than :data:`_POOL_MOST` (a national audience's
        large posts: drawn from the hours' arrays, as without the pool)."""
        a, b = self._head, self._tail
        c = max(self._joined, a)  # (entries before _head are forgotten)
        if c == b:
            return True
        if self._entries < self._join_from:  # too many lately: not tried again so soon
            return False
        entries = self._viewers[c - a :]
        sizes = [len(v) for _, v, _ in entries]
        need, end = sum(sizes), self._pool_end
        first = self._viewer_start.item(a) if a < c else end  # the live viewers' first place
        live = end - first
        if live + need > _POOL_MOST:  # forgotten; tried again 16 entries later
            self._pool, self._pool_end, self._joined = np.empty(0, dtype=np.int64), 0, a
            self._join_from = self._entries + 16
            return False
        if end + need > len(self._pool):  # the live viewers first, from place 0
            pool = self._pool
            if 2 * (live + need) > len(pool):
                pool = np.empty(max(1024, 2 * (live + need)), dtype=np.int64)
            pool[:live] = self._pool[first:end]
            self._pool = pool
            self._viewer_start[a:c] -= first
            end = live
        starts, sized, pool = self._viewer_start, self._viewer_size, self._pool
        for i, (_, v, _), size in zip(range(c, b), entries, sizes, strict=True):
            pool[end : end + size] = v
            starts[i], sized[i] = end, size  # (one or two entries: no array made of sizes)
            end += size
        self._pool_end, self._joined = end, b
        return True

    def check_viewer_weights(self) -> None:
        """Raise if the viewers' hours and masses kept in arrays are not those of the list
        of recent viewers (debug mode: the long way of :meth:`_sharers`' weights)."""
        a, b = self._head, self._tail
        hours = [j for j, _, _ in self._viewers]
        mass = [len(v) * f for _, v, f in self._viewers]
        if self._viewer_hours[a:b].tolist() != hours or self._viewer_mass[a:b].tolist() != mass:
            raise AssertionError(f"post {self.post_id}: the viewers' weights are stale")
        for i in range(a, max(self._joined, a)):  # the entries joined in the pool
            start, size = self._viewer_start.item(i), self._viewer_size.item(i)
            v = self._viewers[i - a][1]
            if size != len(v) or not np.array_equal(self._pool[start : start + size], v):
                raise AssertionError(f"post {self.post_id}: the viewers' pool is stale")

    def _remember(self, viewers: np.ndarray, decay: float, share_factor: float) -> None:
        """Keep this hour's viewers as potential sharers; forget those the kernel has spent.

        ``viewers`` is kept as it is (its shared views may be filled in later the same hour).
        """
        k, recent = self._k, self._viewers
        if len(viewers) and share_factor > 0:
            factor = float(share_factor)
            recent.append((k, viewers, factor))
            if self._tail == len(self._viewer_mass):  # full: move the live entries first
                live = self._tail - self._head
                size = max(64, 2 * live)
                hours, mass = np.empty(size, dtype=np.int64), np.empty(size)
                hours[:live] = self._viewer_hours[self._head : self._tail]
                mass[:live] = self._viewer_mass[self._head : self._tail]
                self._viewer_hours, self._viewer_mass = hours, mass
                # the joined entries' places in the pool move with them
                joined = max(self._joined, self._head) - self._head
                start, sizes = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
                start[:joined] = self._viewer_start[self._head : self._head + joined]
                sizes[:joined] = self._viewer_size[self._head : self._head + joined]
                self._viewer_start, self._viewer_size = start, sizes
                self._head, self._tail, self._joined = 0, live, joined
            tail = self._tail
            self._viewer_hours[tail] = k
            self._viewer_mass[tail] = len(viewers) * factor
            self._tail = tail + 1
            self._entries += 1
        keep = _keep_hours(decay)
        spent = 0
        while spent < len(recent) and k - recent[spent][0] >= keep:
            spent += 1
        if spent:
            del recent[:spent]
            self._head += spent


@functools.cache
def _keep_hours(decay: float) -> int:
    """Hours a viewer stays a potential sharer under a kernel decay (:data:`SHARER_MEMORY`)."""
    return 1 if decay <= 0 else max(1, math.ceil(math.log(SHARER_MEMORY) / math.log(decay)))


# numpy's own bit generator classes (each with one static C next_uint32 and next_double for
# every instance): held by class in :func:`_hold`; any other class (one that may set its
# functions per instance) through each instance's own ctypes interface
_NUMPY_BITS = (
    np.random.PCG64,
    np.random.PCG64DXSM,
    np.random.MT19937,
    np.random.Philox,
    np.random.SFC64,
)


# per bit generator class of numpy's own: its next_uint32 and next_double as ctypes
# functions that keep the GIL (the interface's own release it and take it back at each call:
# ≈ 0.1 µs of a ≈ 0.35 µs word) and take no declared argument (no converter called per call):
# the state is given as a reference made once per generator (:func:`_hold`), which ctypes
# passes as it is, where a c_void_p is made into a fresh argument object at every call
_HELD_FREE: dict[type, tuple[Callable[[object], int], Callable[[object], float]]] = {}


def _hold(rng: np.random.Generator) -> tuple:
    """``(rng, next_uint32, next_double, state, capsule)`` of ``rng``'s bit generator, each
    function called as ``f(state)``: the generator's own C functions on its own state (the
    words and doubles numpy draws, in the same order), for a numpy class without the GIL's
    release and with the state's address as a reference made here (keep ``rng`` with it:
    the tuple does); any other class, its own interface's functions and state. ``capsule``
    is the bit generator's own (its C functions and state, for the C loops: :data:`_K`).
    With the kernel, only the capsule (the ctypes functions and state are not made: the
    Python loops make them when the kernel is switched off since)."""
    bits = rng.bit_generator
    if _K is not None:
        return rng, None, None, None, bits.capsule
    words = bits.ctypes
    kind = type(bits)
    if kind not in _NUMPY_BITS:  # (a subclass may set its functions per instance)
        return rng, words.next_uint32, words.next_double, words.state, bits.capsule
    free = _HELD_FREE.get(kind)
    if free is None:
        word = ctypes.cast(words.next_uint32, ctypes.c_void_p).value
        double = ctypes.cast(words.next_double, ctypes.c_void_p).value
        free = _HELD_FREE[kind] = (
            ctypes.PYFUNCTYPE(ctypes.c_uint32)(word),
            ctypes.PYFUNCTYPE(ctypes.c_double)(double),
        )
    state = ctypes.byref(ctypes.c_char.from_address(words.state_address))
    return rng, free[0], free[1], state, bits.capsule


# below this mean (and above 0), a post's Poisson draw is made in Python, numpy's own way
# (about one uniform: cheaper than numpy's call; from two uniforms on, numpy's is cheaper).
# Its exp(-lam) is numpy's: numpy's generator links glibc's exp@GLIBC_2.2.5 and Python's
# math exp@GLIBC_2.29, the same values on this glibc (checked on 2.2M arguments);
# sim.rng.poisson_integers relies on the same. With the kernel (:data:`_K`) the uniforms are
# a C loop's: every mean below _FEW_MEAN_KERNEL (10, where numpy's own poisson takes this
# method) is drawn there. Which one applies is read at each draw from _K (switched off at
# run time, the Python loop's threshold holds: the real fallback)
_FEW_MEAN = 0.25
_FEW_MEAN_KERNEL = 10.0


def _poisson(post: Post, lam: float) -> int:
    """``post.rng.poisson(lam)`` for ``0 < lam < 10`` (callers keep it below
    :data:`_FEW_MEAN`, or :data:`_FEW_MEAN_KERNEL` with the kernel): numpy's multiplication
    method in Python, uniforms from the generator's own ``next_double`` (:func:`_hold`)
    multiplied until the product is at most ``exp(-lam)``: the same draws (as
    :func:`sim.rng.poisson_integers` makes them)."""
    held = post._held
    if held is None or held[0] is not post.rng:
        held = post._holding()
    if _K is not None:  # the same loop in C
        return _K.poisson(held[4], lam)
    if held[2] is None:  # (held with the kernel, switched off since)
        held = post._held = _hold(post.rng)
    double, state = held[2], held[3]
    enlam = math.exp(-lam)
    k = 0
    prod = double(state)
    while prod > enlam:
        k += 1
        prod *= double(state)
    return k


def _bounded(rng: np.random.Generator, bounds: list[int], held: tuple) -> list[int]:
    """``rng.integers(0, np.array(bounds)).tolist()``, one draw after the other in Python.

    numpy draws a bound ``b`` below 2**32 with Lemire's method on the generator's 32-bit
    words (``next_uint32``, which keeps the unused half of a 64-bit output for the next
    word): ``m = word * b``, redrawn while its low 32 bits are below ``(2**32 - b) % b``
    (checked only when they are below ``b``), and the draw is ``m >> 32``; a bound of 1 draws
    nothing. The same words are read here through ``held``, :func:`_hold` of ``rng`` (the
    generator's own C function, called without releasing the GIL: a fifth of a microsecond
    or less each, against about one for a scalar ``rng.integers`` and three for a call with
    a size); larger bounds go to numpy. With :data:`_K`, the same loop in C."""
    if _K is not None:
        return _K.bounded(held[4], bounds)
    if held[1] is None:  # (held with the kernel, switched off since)
        held = _hold(rng)
    word, state = held[1], held[3]
    out = []
    for b in bounds:
        if b == 1:
            out.append(0)
        elif b < 1:
            raise ValueError(f"high <= 0: a bound of {b}")  # as numpy refuses it
        elif b > _WORD:  # numpy's 64-bit (or whole-word) draws
            out.append(int(rng.integers(0, b)))
        else:
            m = word(state) * b
            if m & _WORD < b:
                threshold = (_WORD + 1 - b) % b
                while m & _WORD < threshold:
                    m = word(state) * b
            out.append(m >> 32)
    return out


def _pick_each(
    rng: np.random.Generator,
    pool: list[np.ndarray],
    counts: list[int],
    held: tuple,
) -> list[int]:
    """``counts[i]`` values of each ``pool[i]`` in turn, each uniformly drawn (the draws of
    ``rng.integers(0, bounds)`` with each array's length repeated by its count, made as
    :func:`_bounded` makes them, in one loop that reads each value as it is drawn; ``held``:
    :func:`_hold` of ``rng``). With :data:`_K`, the same loop in C."""
    if _K is not None:
        return _K.pick_each(held[4], pool, counts)
    if held[1] is None:  # (held with the kernel, switched off since)
        held = _hold(rng)
    word, state = held[1], held[3]
    out: list[int] = []
    for v, c in zip(pool, counts, strict=True):
        b = len(v)
        if b == 1:  # no draw
            out += [v.item(0)] * c
        elif b < 1 or b > _WORD:  # refused, or numpy's 64-bit (or whole-word) draws
            out += [v.item(i) for i in _bounded(rng, [b] * c, held)]
        else:
            for _ in range(c):
                m = word(state) * b
                if m & _WORD < b:
                    threshold = (_WORD + 1 - b) % b
                    while m & _WORD < threshold:
                        m = word(state) * b
                out.append(v.item(m >> 32))
    return out


def _draws(rng: np.random.Generator, bound: int, k: int, held: tuple) -> list[int] | np.ndarray:
    """``rng.integers(0, bound, k)``: up to :data:`_FEW_PICKS` draws made in Python (the
    same draws), as a list."""
    if k > _FEW_PICKS:
        return rng.integers(0, bound, k)
    return _K.draws(held[4], bound, k) if _K is not None else _bounded(rng, [bound] * k, held)


def _picks(
    values: np.ndarray, rng: np.random.Generator, k: int, held: tuple
) -> list[int] | np.ndarray:
    """``values[rng.integers(0, len(values), k)]``: up to :data:`_FEW_PICKS` draws made in
    Python (the same draws), as a list. With :data:`_K`, the draws in C: a few as a list,
    more as an int64 array (the same values; the callers make int64 consumers of them)."""
    if k <= _FEW_PICKS:
        if _K is not None:
            return _K.picks(held[4], values, k)
        return _pick_each(rng, [values], [k], held)
    if _K is not None:
        out = np.empty(k, dtype=np.int64)
        _K.picks_into(held[4], values, out)
        return out
    return values[rng.integers(0, len(values), k)]


class PendingShares:
    """Shared views of an hour whose contacts are looked up in the graph in one batch.

    Each post adds the slots of its shares (the sharer and which of its edges); an edge's
    target is a pure function of (sharer, edge), so one :meth:`SocialGraph.edge_targets` call
    for all posts gives what one call per post gave. Shares added as Python lists (a few
    per post) are kept in two flat lists, looked up as lists when no post added arrays
    (:meth:`SocialGraph.edge_targets_of_lists`: on Python numbers for a few), else with the
    arrays in one call.
    """

    def __init__(self, graph: SocialGraph):
        self.graph = graph
        # (consumers, first share position): of the shares added as lists, then as arrays
        self._fills: list[tuple[np.ndarray, int]] = []
        self._array_fills: list[tuple[np.ndarray, int]] = []
        self._src: list[int] = []  # the shares added as lists, joined
        self._edge: list[int] = []
        self._sharers: list[np.ndarray] = []  # the shares added as arrays
        self._slots: list[np.ndarray] = []

    def add(
        self,
        consumers: np.ndarray,
        at: int,
        sharers: np.ndarray | list[int],
        slots: np.ndarray | list[int],
    ) -> None:
        """``consumers[at:]`` are the contacts at ``slots`` of ``sharers``, to look up."""
        if type(sharers) is list and type(slots) is list:
            self._fills.append((consumers, at))
            self._src += sharers
            self._edge += slots
        else:
            self._array_fills.append((consumers, at))
            self._sharers.append(np.asarray(sharers))
            self._slots.append(np.asarray(slots))

    def resolve(self) -> None:
        """Look up every contact added and fill them in."""
        graph = self.graph
        if not self._array_fills:
            if not self._fills:
                return
            fills = self._fills
            targets = graph.edge_targets_of_lists(self._src, self._edge)
        else:
            fills = self._array_fills + self._fills
            src, edge = self._sharers, self._slots
            if self._src:
                src, edge = [*src, np.array(self._src)], [*edge, np.array(self._edge)]
            if len(src) == 1:
                targets = graph.edge_targets(src[0], edge[0])
            else:
                targets = graph.edge_targets(np.concatenate(src), np.concatenate(edge))
        start = 0
        for consumers, at in fills:
            end = start + len(consumers) - at
            if end == start + 1:
                consumers[at] = targets[start]
            else:
                consumers[at:] = targets[start:end]
            start = end
        self._fills, self._array_fills, self._sharers, self._slots = [], [], [], []
        self._src, self._edge = [], []


_POWERS: dict[float, np.ndarray] = {}


def _powers_to(base: float, last: int) -> np.ndarray:
    """``[base ** last, base ** (last - 1), ..., base ** 0]``: entry ``j`` is ``base ** (last
    - j)``, each computed by Python's ``**`` as the kernel weights always were; a view of a
    table remembered per base (``base ** (size - 1 - i)`` at ``i``), grown as needed."""
    table = _POWERS.get(base)
    if table is None or len(table) <= last:
        size = max(last + 1, 256 if table is None else 2 * len(table))
        table = np.array([base ** (size - 1 - i) for i in range(size)])
        _POWERS[base] = table
    return table[len(table) - 1 - last :]


def cross_excite(posts: list[Post], hour: int, video: ShortVideoConfig) -> float:
    """Cross-excitation inside a campaign, product by product.

    A short video's views this hour (times the hour's share factor) are split equally among
    its products; for each product, every other *reaching* short video featuring it (its
    follower reach is not spent: more than 0.01 expected seed views left) receives
    ``cross_excitation`` direct shares per view of the others, split equally among them and
    spread by the same kernel. So a lone post is the textbook cascade, and a post whose reach
    is over is not kept alive by its campaign. ``O(posts)`` per hour. Returns the expected
    direct shares added.
    """
    c = video.cross_excitation
    if c <= 0 or len(posts) < 2:  # a lone post (or none) excites no other
        return 0.0
    tau = video.reach_decay_hours
    # the reaching videos, each with its views this hour (x share factor) per product, worked
    # out once (exciting a post changes only its excitation: the same number again later)
    reaching: list[tuple[Post, float]] = []
    for p in posts:
        k = hour - p.start_hour
        if (
            p.kind == "short_video"
            and not p.finished
            and k >= 0
            and p.expected_seed_views * math.exp(-(k + 1) / tau) >= STOP_VIEWS
        ):
            reaching.append((p, p.last_views * p.last_factor / len(p.skus) if p._k == k else 0.0))
    if len(reaching) < 2:
        return 0.0
    given: dict[int, float] = {}  # product -> this hour's views (x share factor) of its videos
    members: dict[int, list[tuple[Post, float]]] = {}
    for p, fresh in reaching:
        for sku in p.skus.tolist():
            given[sku] = given.get(sku, 0.0) + fresh
            members.setdefault(sku, []).append((p, fresh))
    spread = 1.0 - math.exp(-1.0 / video.share_kernel_hours)
    added = 0.0
    for sku in sorted(members):
        group = members[sku]
        if len(group) < 2:
            continue
        for q, own in group:
            shares = c * (given[sku] - own) / (len(group) - 1)
            if shares > 0:
                q.excite(shares * spread)
                added += shares
    return added
