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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.config import LivestreamConfig, ShortVideoConfig


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

    def views_this_hour(
        self, hour: int, video: ShortVideoConfig, live: LivestreamConfig
    ) -> tuple[int, int]:
        """Draw (follower views, non-follower views) for ``hour``; updates the cascade state."""
        k = hour - self.start_hour
        if k < 0 or self.finished:
            return 0, 0
        if self.kind == "livestream":
            if k >= self.duration_hours:
                self.finished = True
                return 0, 0
            if len(self._weights) == 0:
                w = np.ones(self.duration_hours)
                w[0] = live.opening_peak_factor
                self._weights = w / w.sum()
            mean = self.expected_seed_views * self._weights[k]
            boost = live.platform_boost
            followers = int(self.rng.poisson(mean / (1 + boost)))
            others = int(self.rng.poisson(mean * boost / (1 + boost)))
        else:
            tau, kappa = video.reach_decay_hours, video.share_kernel_hours
            seed_mean = self.expected_seed_views * (math.exp(-k / tau) - math.exp(-(k + 1) / tau))
            followers = int(self.rng.poisson(seed_mean))
            others = int(self.rng.poisson(self.excitation)) if self.excitation > 0 else 0
            decay = math.exp(-1.0 / kappa)
            new_views = followers + others
            self.excitation = (
                decay * self.excitation + video.branching_ratio * (1 - decay) * new_views
            )
            # stop once both the reach and the cascade are spent (expected < 0.01 views left)
            remaining_seed = self.expected_seed_views * math.exp(-(k + 1) / tau)
            if remaining_seed < 0.01 and self.excitation / (1 - decay) < 0.01:
                self.finished = True
        self.follower_views += followers
        self.share_views += others
        self.views += followers + others
        return followers, others

    def sample_exposures(
        self, n_followers: int, n_others: int, followers: np.ndarray, n_consumers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Consumers and SKUs for the views drawn (impressions: repeats allowed)."""
        rng = self.rng
        parts = []
        if n_followers and len(followers):
            parts.append(followers[rng.integers(0, len(followers), n_followers)])
        if n_others:
            parts.append(rng.integers(0, n_consumers, n_others))
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        consumers = np.concatenate(parts).astype(np.int64, copy=False)
        if len(self.skus) == 1:
            skus = np.full(len(consumers), self.skus[0], dtype=np.int32)
        else:
            skus = self.skus[rng.integers(0, len(self.skus), len(consumers))].astype(np.int32)
        return consumers, skus
