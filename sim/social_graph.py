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
cumulative attention of the consumers laid out by region and community, so that every
community and region is one contiguous block): ``O(n)``, about 0.3 s and 20 MB at 1M
consumers. Edge ``(i, j)`` — the ``j``-th contact of ``i`` — is a pure function of the graph's
key, ``i`` and ``j`` (one counter-based hash gives its two uniforms: the scope and the point in
the block's cumulative weight, found by one ``searchsorted``). So a run pays only for the
edges it uses (work proportional to the consumers touched), every query returns the same
edge, and :meth:`SocialGraph.materialize` lists all edges (CSR) for tests and analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import SocialGraphConfig

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _uniforms(key: np.uint64, i: np.ndarray, j: np.ndarray, salt: int) -> tuple[np.ndarray, ...]:
    """Two uniforms in [0, 1) per (key, i, j, salt) from one SplitMix64 hash (vectorised,
    stateless): its high and its low 32 bits."""
    with np.errstate(over="ignore"):
        x = key + i.astype(np.uint64) * _GOLDEN + j.astype(np.uint64) * _M1
        if salt:
            x += np.uint64(salt) * _M2
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    scale = 1.0 / 4294967296.0
    high = (x >> np.uint64(32)).astype(np.float64) * scale
    low = (x & np.uint64(0xFFFFFFFF)).astype(np.float64) * scale
    return high, low


@dataclass(frozen=True)
class SocialGraph:
    """A directed graph over consumers ``0..n-1`` whose edges are drawn on demand.

    Attributes:
        community: ``(n,)`` int32 community of each consumer (numbered across regions).
        region: ``(n,)`` region of each consumer.
        degree: ``(n,)`` int32 out-degree.
        attention: ``(n,)`` float32 attention weight (in-link propensity).
        order: ``(n,)`` int32 consumers sorted by (region, community).
        cumw: ``(n+1,)`` cumulative attention along ``order``.
        comm_start: ``(communities+1,)`` block bounds of each community in ``order``.
        region_start: ``(regions+1,)`` block bounds of each region in ``order``.
        within_community, within_region: the homophily shares.
        key: the graph's hash key (drawn from its stream).
    """

    community: np.ndarray
    region: np.ndarray
    degree: np.ndarray
    attention: np.ndarray
    order: np.ndarray
    cumw: np.ndarray
    comm_start: np.ndarray
    region_start: np.ndarray
    within_community: float
    within_region: float
    key: np.uint64

    @property
    def n(self) -> int:
        """Number of consumers."""
        return len(self.degree)

    @property
    def nbytes(self) -> int:
        """Memory held by the graph's columns."""
        cols = (self.community, self.degree, self.attention, self.order, self.cumw)
        return sum(a.nbytes for a in cols) + self.comm_start.nbytes + self.region_start.nbytes

    def edge_targets(self, src: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The target of the ``j``-th edge of each ``src`` (``0 <= j < degree[src]``)."""
        src = np.asarray(src, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        n = self.n
        scope, u_point = _uniforms(self.key, src, j, 0)
        lo = np.zeros(len(src), dtype=np.int64)
        hi = np.full(len(src), n, dtype=np.int64)
        in_comm = scope < self.within_community
        in_region = ~in_comm & (scope < self.within_community + self.within_region)
        c = self.community[src[in_comm]].astype(np.int64)
        lo[in_comm], hi[in_comm] = self.comm_start[c], self.comm_start[c + 1]
        r = self.region[src[in_region]].astype(np.int64)
        lo[in_region], hi[in_region] = self.region_start[r], self.region_start[r + 1]
        cumw = self.cumw
        point = cumw[lo] + u_point * (cumw[hi] - cumw[lo])
        pos = np.searchsorted(cumw, point, side="right") - 1
        np.clip(pos, lo, hi - 1, out=pos)
        loop = self.order[pos] == src  # no self-loops: take the next consumer of the block
        if loop.any():
            alone = np.flatnonzero(loop)[hi[loop] - lo[loop] == 1]
            if len(alone):  # alone in its community: a contact elsewhere in its region
                r = self.region[src[alone]].astype(np.int64)
                lo[alone], hi[alone] = self.region_start[r], self.region_start[r + 1]
                u = _uniforms(self.key, src[alone], j[alone], 1)[0]
                pos[alone] = lo[alone] + (u * (hi[alone] - lo[alone])).astype(np.int64)
                loop = self.order[pos] == src
            lo_s, size = lo[loop], hi[loop] - lo[loop]
            pos[loop] = lo_s + (pos[loop] - lo_s + 1) % np.maximum(size, 1)
        return self.order[pos].astype(np.int64)

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
        edges): look the targets up later with :meth:`edge_targets`."""
        return (rng.random(len(nodes)) * self.degree[nodes]).astype(np.int64)

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


def _pareto_int(
    rng: np.random.Generator, n: int, kmin: int, kmax: int, exponent: float
) -> np.ndarray:
    """Discrete power law ``P(k) ∝ k^-exponent`` on ``[kmin, kmax]`` (continuous, floored)."""
    u = rng.random(n)
    a = exponent - 1.0
    lo, hi = kmin ** (-a), (kmax + 1) ** (-a)
    k = np.floor((lo - u * (lo - hi)) ** (-1.0 / a))
    return np.clip(k, kmin, kmax).astype(np.int32)


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
    community = np.zeros(n, dtype=np.int32)
    offset = 0
    for r in range(n_regions):
        members = np.flatnonzero(region == r)
        if len(members) == 0:
            continue
        k = max(1, round(len(members) / p.community_size_mean))
        sizes = rng.pareto(2.0, k) + 1.0
        community[members] = offset + rng.choice(k, size=len(members), p=sizes / sizes.sum())
        offset += k
    # lay consumers out by (region, community): each group is one contiguous block
    # communities nest in regions; few enough ids for 16 bits: numpy sorts those by radix, O(n)
    ids = community.astype(np.uint16) if offset < 2**16 else community
    order = np.argsort(ids, kind="stable").astype(np.int32)
    comm_start = np.searchsorted(community[order], np.arange(offset + 1)).astype(np.int64)
    region_start = np.searchsorted(region[order], np.arange(n_regions + 1)).astype(np.int64)
    attention = np.minimum(
        rng.pareto(p.degree_exponent - 1.0, n) + 1.0, p.degree_max / p.degree_min
    ).astype(np.float32)
    cumw = np.concatenate([[0.0], np.cumsum(attention[order], dtype=np.float64)])
    degree = _pareto_int(rng, n, p.degree_min, p.degree_max, p.degree_exponent)
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    return SocialGraph(
        community=community,
        region=region,
        degree=degree,
        attention=attention,
        order=order,
        cumw=cumw,
        comm_start=comm_start,
        region_start=region_start,
        within_community=p.within_community,
        within_region=p.within_region,
        key=key,
    )
