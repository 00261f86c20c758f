"""A generated social network of the consumers: heavy-tailed degrees, communities, regions.

Directed edges ``i → j`` mean "what ``i`` shares or recommends reaches ``j``". The generator
is a degree-corrected stochastic block model with nested groups, drawn with vectorised numpy
in ``O(n + edges)`` time and memory (1M consumers: ~2 s; the graph holds ~46 MiB and the build
peaks ~105 MiB above the libraries; ``python -m benchmarks --only graph``):

* **communities** inside each region: sizes are Pareto-distributed around
  ``community_size_mean`` (a few large circles, many small ones);
* **out-degree** ``k_i`` (contacts a consumer reaches): discrete Pareto with exponent
  ``degree_exponent`` from ``degree_min``, capped at ``degree_max`` (a heavy tail: a few
  consumers reach hundreds);
* **in-degree** (how often a consumer is reached): each edge picks its target with
  probability proportional to a Pareto *attention weight* ``w_j`` (same exponent), so popular
  consumers collect many in-links (a Chung-Lu-style heavy tail);
* **homophily**: an edge stays inside its community with probability ``within_community``,
  else inside its region with ``within_region``, else it goes anywhere in the market.

Nodes are laid out sorted by (region, community), so every community and region is one
contiguous block of one cumulative-weight array, and a weighted draw inside a block is one
``searchsorted``. The result is a CSR adjacency (``indptr`` int64, ``indices`` int32).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sim.config import SocialGraphConfig

_CHUNK_EDGES = 1 << 18


@dataclass(frozen=True)
class SocialGraph:
    """A directed graph over consumers ``0..n-1`` in CSR form.

    Attributes:
        indptr: ``(n+1,)`` int64; the out-neighbours of ``i`` are
            ``indices[indptr[i]:indptr[i+1]]``.
        indices: ``(edges,)`` int32 targets.
        community: ``(n,)`` int32 community of each consumer (numbered across regions).
        attention: ``(n,)`` float32 attention weight (in-link propensity).
    """

    indptr: np.ndarray
    indices: np.ndarray
    community: np.ndarray
    attention: np.ndarray

    @property
    def n(self) -> int:
        """Number of consumers."""
        return len(self.indptr) - 1

    def out_degree(self) -> np.ndarray:
        """Out-degree per consumer."""
        return np.diff(self.indptr)

    def in_degree(self) -> np.ndarray:
        """In-degree per consumer."""
        return np.bincount(self.indices, minlength=self.n)

    def neighbours(self, i: int) -> np.ndarray:
        """Out-neighbours of consumer ``i``."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def random_neighbour(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly drawn out-neighbour per node (``-1`` for a node without any)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        start = self.indptr[nodes]
        deg = self.indptr[nodes + 1] - start
        out = np.full(len(nodes), -1, dtype=np.int64)
        has = deg > 0
        pick = start[has] + (rng.random(int(has.sum())) * deg[has]).astype(np.int64)
        out[has] = self.indices[pick]
        return out

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(a.nbytes for a in (self.indptr, self.indices, self.community, self.attention))


def _pareto_int(
    rng: np.random.Generator, n: int, kmin: int, kmax: int, exponent: float
) -> np.ndarray:
    """Discrete power law ``P(k) ∝ k^-exponent`` on ``[kmin, kmax]`` (continuous, floored)."""
    u = rng.random(n)
    a = exponent - 1.0
    lo, hi = kmin ** (-a), (kmax + 1) ** (-a)
    k = np.floor((lo - u * (lo - hi)) ** (-1.0 / a))
    return np.clip(k, kmin, kmax).astype(np.int64)


def build(
    region: np.ndarray, n_regions: int, params: SocialGraphConfig, rng: np.random.Generator
) -> SocialGraph:
    """Generate the network for consumers living in ``region`` (int per consumer).

    Args:
        region: region index of each consumer.
        n_regions: number of regions.
        params: the network's shape (``market.social_graph``).
        rng: the stream to draw from (derive it from identity, e.g. ``stream(seed, "graph")``).
    """
    region = np.asarray(region)
    n = len(region)
    p = params
    # communities inside regions: Pareto sizes (shape 2: mean = 2·scale)
    comm_local = np.zeros(n, dtype=np.int64)
    n_comm = np.zeros(n_regions, dtype=np.int64)
    for r in range(n_regions):
        members = np.flatnonzero(region == r)
        if len(members) == 0:
            continue
        k = max(1, round(len(members) / p.community_size_mean))
        sizes = rng.pareto(2.0, k) + 1.0
        comm_local[members] = rng.choice(k, size=len(members), p=sizes / sizes.sum())
        n_comm[r] = k
    offset = np.concatenate([[0], np.cumsum(n_comm)])
    community = offset[region.astype(np.int64)] + comm_local
    n_groups = int(offset[-1])
    # lay nodes out by (region, community): each group is a contiguous block
    order = np.lexsort((community, region))
    sorted_comm = community[order]
    comm_start = np.searchsorted(sorted_comm, np.arange(n_groups + 1))
    region_start = offset[np.arange(n_regions + 1)]
    region_start = comm_start[np.minimum(region_start, n_groups)]
    # attention: Pareto, capped like the out-degree (degree_max / degree_min)
    attention = np.minimum(
        rng.pareto(p.degree_exponent - 1.0, n) + 1.0, p.degree_max / p.degree_min
    ).astype(np.float32)
    cumw = np.concatenate([[0.0], np.cumsum(attention[order], dtype=np.float64)])

    degree = _pareto_int(rng, n, p.degree_min, p.degree_max, p.degree_exponent)
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    # edges in chunks of consecutive sources: temporaries stay ~50 MB at any size
    cuts = np.unique(np.searchsorted(indptr, np.arange(0, indptr[-1], _CHUNK_EDGES), "right") - 1)
    bounds = [*cuts.tolist(), n]
    for a, b in itertools.pairwise(bounds):
        e0, e1 = int(indptr[a]), int(indptr[b])
        src = np.repeat(np.arange(a, b, dtype=np.int64), degree[a:b])
        scope = rng.random(e1 - e0)
        lo = np.zeros(e1 - e0, dtype=np.int64)
        hi = np.full(e1 - e0, n, dtype=np.int64)
        in_comm = scope < p.within_community
        in_region = ~in_comm & (scope < p.within_community + p.within_region)
        c = community[src[in_comm]]
        lo[in_comm], hi[in_comm] = comm_start[c], comm_start[c + 1]
        r = region[src[in_region]].astype(np.int64)
        lo[in_region], hi[in_region] = region_start[r], region_start[r + 1]
        # weighted draw inside [lo, hi): a point in the block's cumulative weight
        point = cumw[lo] + rng.random(e1 - e0) * (cumw[hi] - cumw[lo])
        pos = np.searchsorted(cumw, point, side="right") - 1
        np.clip(pos, lo, hi - 1, out=pos)
        loop = order[pos] == src  # no self-loops: take the next node of the block
        if loop.any():
            lo_s, hi_s = lo[loop], hi[loop]
            pos[loop] = lo_s + (pos[loop] - lo_s + 1) % (hi_s - lo_s)
        indices[e0:e1] = order[pos]
    return SocialGraph(
        indptr=indptr,
        indices=indices,
        community=community.astype(np.int32),
        attention=attention,
    )
