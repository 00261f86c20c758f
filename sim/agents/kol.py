"""KOL / KOC agents: followers, a content calendar, posts and live streams, and their fees."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import compiled
from sim.config import KolConfig
from sim.content import Exposures, PendingShares, Post
from sim.orders import CH_LIVE, CH_VIDEO
from sim.rng import stream

if TYPE_CHECKING:
    from sim.model import ViralChainModel
    from sim.world import Pieces


# numpy's tail-shuffle sample in C (sim/_build.c: the same draws and values without numpy's
# int64 array of the population), or None: numpy's own `choice`
_K = compiled.load("_build")


class Kol(mesa.Agent):
    """An influencer with followers (consumer indices) who publishes content.

    Fee model: a base fee per post or live stream, paid by the brand(s) whose products it
    features, plus ``commission_rate`` on the revenue of the orders it drives (refunded on
    cancellations and returns).
    """

    def __init__(
        self,
        model: ViralChainModel,
        name: str,
        index: int,
        cfg: KolConfig,
        pieces: Pieces | None = None,
    ):
        super().__init__(model)
        self.name, self.index, self.cfg = name, index, cfg
        n = model.market_size
        rng = stream(model.seed, "kol", name, "followers")
        tier = model.config.content.tiers[cfg.tier]
        share = cfg.followers_share
        if share is None:
            share = float(rng.uniform(tier.followers_share_min, tier.followers_share_max))
        self.followers_share = share
        k = round(share * n)
        # followers are users of the KOL's platform (everyone: no pool, the draw's indices)
        pool = (
            np.flatnonzero(model.consumer_platform == model.platform_names.index(cfg.platform))
            if cfg.platform
            else None
        )
        k = min(k, n if pool is None else len(pool))
        ids = np.int32 if n < 2**31 else np.int64  # consumer ids: half the memory
        # the sample from the KOL's own stream: drawn now, or later in the build (set by the
        # end of the build's Pieces block; read before it, the attribute is missing: an
        # error, never an empty sample)
        self.followers: np.ndarray
        if not k:
            self.followers = np.empty(0, dtype=ids)
        elif pieces is None:
            self.followers = _followers(rng, n, pool, k, ids)
        else:
            pieces.later(self, "followers", functools.partial(_followers, rng, n, pool, k, ids))
        self.posts: list[Post] = []  # active posts
        self._due: dict[int, list[tuple[str, str, np.ndarray, int]]] = {}
        self.n_posts = 0
        self._hourly: tuple | None = None  # what broadcast reads every hour (_list_hourly)

    # -- calendar ------------------------------------------------------------------
    def plan(self, post_id: str, hour: int, kind: str, skus: np.ndarray, duration: int) -> None:
        """Add a post to the calendar (a Mesa event publishes it at ``hour``)."""
        if hour >= self.model.horizon_hours:
            return
        self._due.setdefault(hour, []).append((post_id, kind, skus, duration))
        if len(self._due[hour]) == 1:
            self.model.at(hour, self.publish_due)

    def publish_due(self) -> None:
        """Publish the posts planned for the current hour (event callback)."""
        hour = self.model.hour
        m = self.model
        for post_id, kind, skus, duration in self._due.pop(hour, []):
            live = skus[~m.design_stopped(skus)]  # no more content for stopped designs
            if len(live):
                self.publish(post_id, kind, live, duration, hour)

    def publish(self, post_id: str, kind: str, skus: np.ndarray, duration: int, hour: int) -> Post:
        """Start a post now: pay the base fee, log the event, start its view process."""
        m = self.model
        cfg = self.cfg
        if kind == "livestream":
            seed_views = len(self.followers) * cfg.livestream_attendance
            seed_views *= 1 + m.config.content.livestream.platform_boost
            fee = cfg.fee_per_livestream * m.scale
        else:
            seed_views = len(self.followers) * cfg.engagement_rate
            fee = cfg.fee_per_post * m.scale
        post = Post(
            post_id=post_id,
            kol=self.index,
            kind=kind,
            skus=skus,
            start_hour=hour,
            duration_hours=duration,
            expected_seed_views=seed_views,
            rng=stream(m.seed, "post", post_id),
        )
        self.posts.append(post)
        self.n_posts += 1
        brands = np.unique(m.sku_brand[skus])
        for b in brands:
            m.ledger.add_kol_fee(self.name, int(b), fee / len(brands))
        sku_names = ",".join(m.sku_names[s] for s in skus)
        if kind == "livestream":
            m.log(
                "livestream_start",
                hour=hour,
                actor=self.name,
                sku=sku_names,
                value=fee,
                detail=f"{post_id} for {duration}h",
            )
            m.at(hour + duration, self.end_livestreams)
        else:
            m.log("post", hour=hour, actor=self.name, sku=sku_names, value=fee, detail=post_id)
        return post

    def end_livestreams(self) -> None:
        """Log the end of live streams that finish now (event callback)."""
        hour = self.model.hour
        for p in self.posts:
            if p.kind == "livestream" and p.start_hour + p.duration_hours == hour:
                names = ",".join(self.model.sku_names[s] for s in p.skus)
                self.model.log(
                    "livestream_end",
                    hour=hour,
                    actor=self.name,
                    sku=names,
                    quantity=p.views,
                    detail=p.post_id,
                )

    # -- hourly --------------------------------------------------------------------
    def _list_hourly(self) -> tuple:
        """What :meth:`broadcast` reads every hour, listed at its first call: the content's
        settings, the social graph (or None), the share kernel's decay, the feedback and
        the market's size (all fixed once the world is built)."""
        m = self.model
        video = m.config.content.short_video
        self._hourly = (
            video,
            m.config.content.livestream,
            m.population.graph,
            math.exp(-1.0 / video.share_kernel_hours),
            m.feedback,
            m.market_size,
        )
        return self._hourly

    def check_hourly(self) -> None:
        """Raise if what :meth:`broadcast` listed is not what it would list now (debug mode:
        a setting or an actor replaced during the run)."""
        kept = self._hourly
        if kept is None:
            return
        self._hourly = None
        now = self._list_hourly()
        self._hourly = kept
        if any(a is not b and a != b for a, b in zip(kept, now, strict=True)):
            raise AssertionError(f"{self.name}: stale hourly settings of its broadcasts")

    def broadcast(self, hour: int, pending: PendingShares | None = None) -> list[Exposures]:
        """Views of this hour from all active posts, as exposures.

        A short video's new views feed its share cascade less while its product page is sold
        out or slow (``market.feedback.page_sharing``); the shares withheld are booked with
        the feedback as views lost. With a social graph, shares travel along its edges: with
        ``pending``, their contacts are filled in by ``pending.resolve()`` (the caller's,
        once for all KOLs), else before this returns.
        """
        posts = self.posts
        if not posts:  # nothing on air: no views, no draws
            return []
        hourly = self._hourly
        if hourly is None:  # the run's settings and actors, read once (fixed for the run)
            hourly = self._list_hourly()
        video, live = hourly[0], hourly[1]
        own = None  # the KOL's own batch of look-ups (without ``pending``), made at a view
        out = []
        finished = False  # whether a post finished this hour
        for post in posts:
            drawn = post.draw_views(hour, video, live)
            if drawn is None:
                finished = finished or post.finished
                continue
            nf, no = drawn
            if nf + no == 0:  # no view feeds the cascade: the page's factor changes nothing
                post.feed_views(drawn, video, 1.0)
                finished = finished or post.finished
                continue
            if not out:  # the first post with views: what they need
                _, _, graph, decay, feedback, n = hourly
                if pending is None and graph is not None:
                    own = PendingShares(graph)
                shares = pending if own is None else own
            f, so, sl = feedback.share_factor(post.skus)
            post.feed_views(drawn, video, f)
            finished = finished or post.finished
            if f < 1.0 and post.kind == "short_video":
                feedback.withheld_shares(post.skus, nf + no, (so, sl), video.branching_ratio)
            consumers, skus = post.sample_exposures(
                nf, no, self.followers, n, graph, decay, f, shares
            )
            ch = CH_LIVE if post.kind == "livestream" else CH_VIDEO
            out.append(Exposures(consumers, skus, ch, self.index))
        if finished:
            self.posts = [p for p in posts if not p.finished]
        if own is not None:
            own.resolve()
        return out


def _followers(
    rng: np.random.Generator, n: int, pool: np.ndarray | None, k: int, ids: type
) -> np.ndarray:
    """``k`` distinct followers among ``n`` consumers (or the ``pool``'s), sorted: drawn from
    the KOL's own stream ``rng`` only."""
    m = n if pool is None else len(pool)
    if _K is not None and _tail_path(m, k):  # the same values, kept in an int32 table
        chosen = np.empty(k, dtype=np.int32)
        # any other caller of tail_sample must hold this lock too: the kernel frees the GIL
        with rng.bit_generator.lock:  # (held by numpy's own choice too)
            _K.tail_sample(rng.bit_generator.capsule, m, k, chosen)
    else:
        chosen = rng.choice(m, size=k, replace=False)
    # narrowed, then sorted in place: the same ids, half the bytes to sort
    followers = (chosen if pool is None else pool[chosen]).astype(ids, copy=False)
    followers.sort()
    return followers


def _tail_path(m: int, k: int) -> bool:
    """Whether ``rng.choice(m, size=k, replace=False)`` takes numpy's tail shuffle (numpy's
    Generator.choice with shuffle=True: more than 10,000 values and a sample of more than
    1/50 of them; else Floyd's algorithm, left to numpy) and the C kernel's int32 table
    holds the values (below 2**31)."""
    return 10_000 < m < 2**31 and m // 50 < k <= m
