"""The per-event kernels (consumers, share cascade) give exactly what the plain numpy
formulation gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.agents.wishes import _Groups, _most_persuasive
from sim.content import PendingShares, Post, _hold
from sim.rng import stream
from sim.social_graph import _stable_order, build

VIDEO, LIVE = sim.compose().content.short_video, sim.compose().content.livestream


def _by_lexsort(flat: np.ndarray, p: np.ndarray) -> np.ndarray:
    order = np.lexsort((-p, flat))
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = flat[order[1:]] != flat[order[:-1]]
    return order[keep]


@pytest.mark.parametrize("seed", range(40))
def test_most_persuasive_exposure_is_the_lexsort_choice(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4000))
    flat = rng.integers(0, int(rng.integers(1, 3000)), n)
    # ties on purpose every other case: the first exposure of a tie wins, as with lexsort
    p = rng.choice([0.0, 0.1, 0.5, 1.0], n) if seed % 2 else rng.random(n)
    np.testing.assert_array_equal(_most_persuasive(flat, p), _by_lexsort(flat, p))


def test_most_persuasive_all_distinct_and_with_nan():
    flat = np.array([9, 3, 5, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(_most_persuasive(flat, p), [3, 1, 2, 0])
    flat = np.array([2, 2, 1, 2])
    p = np.array([np.nan, 0.5, 0.1, 0.5])
    np.testing.assert_array_equal(_most_persuasive(flat, p), _by_lexsort(flat, p))


@pytest.mark.parametrize("seed", range(30))
def test_one_bounded_draw_per_element_is_one_call_per_bound(seed):
    """``rng.integers(0, bounds)`` with one bound per draw gives the numbers (and leaves the
    generator in the state) of one ``rng.integers(0, bound, count)`` call per bound in turn,
    which the share cascade relies on (sim.content.Post._shares_along)."""
    r = np.random.default_rng(seed)
    n = int(r.integers(1, 40))
    sizes = r.integers(1, 5000, n)
    sizes[r.random(n) < 0.2] = 1  # a bound of one draws nothing
    if seed % 5 == 0:
        sizes[0] = 2**33  # beyond 32 bits
    counts = r.integers(0, 6, n)
    a, b = stream(seed, "one-call"), stream(seed, "one-call")
    if seed % 3 == 0:  # a half-used 32-bit word left in the generator
        a.integers(0, 7, 3), b.integers(0, 7, 3)
    parts = [a.integers(0, s, c) for s, c in zip(sizes, counts, strict=True) if c]
    per_bound = np.concatenate(parts) if parts else np.empty(0, np.int64)
    np.testing.assert_array_equal(b.integers(0, np.repeat(sizes, counts)), per_bound)
    assert a.random() == b.random()


def _shares_one_call_per_hour(post, graph, k, decay, rng):
    """The share cascade's sharers as first written: kernel weights with Python's ``**``,
    one draw call per hour of viewers."""
    last = post._k - 1
    w = np.array([len(v) * f * decay ** (last - j) for j, v, f in post._viewers])
    counts = rng.multinomial(k, w / w.sum())
    sharers = np.concatenate(
        [
            v[rng.integers(0, len(v), c)]
            for (_, v, _), c in zip(post._viewers, counts.tolist(), strict=True)
            if c
        ]
    )
    return graph.random_neighbour(sharers, rng)


@pytest.mark.parametrize("seed", range(6))
def test_shares_along_the_graph_as_first_written(seed):
    n = 5000
    region = stream(seed, "k-region").integers(0, 4, n)
    graph = build(region, 4, sim.compose().market.social_graph, stream(seed, "graph"))
    r = stream(seed, "k-viewers")
    decay = math.exp(-1 / 6.0)
    post = Post("p", 0, "short_video", np.array([0]), 0, 1, 100.0, stream(seed, "k-post"))
    for h in range(40):
        post._k = h
        post._remember(r.integers(0, n, int(r.integers(1, 60))), decay, float(r.random()))
    post._k = 40
    for k in (1, 7, 300):
        a, b = stream(seed, "k-draw", k), stream(seed, "k-draw", k)
        np.testing.assert_array_equal(
            graph.random_neighbour(post._sharers(k, decay, a, _hold(a)), a),
            _shares_one_call_per_hour(post, graph, k, decay, b),
        )
        assert a.random() == b.random()


def test_contacts_looked_up_in_one_batch_are_those_looked_up_post_by_post():
    n = 4000
    region = stream(0, "b-region").integers(0, 4, n)
    graph = build(region, 4, sim.compose().market.social_graph, stream(0, "graph"))
    decay = math.exp(-1 / 6.0)
    followers = np.arange(0, 400, dtype=np.int32)

    def posts():
        return [
            Post(f"p{i}", 0, "short_video", np.array([0, 1]), i, 1, 300.0, stream(i, "b-post"))
            for i in range(3)
        ]

    alone, batched = posts(), posts()
    pending = PendingShares(graph)
    for h in range(30):
        want, late = [], []
        for a, b in zip(alone, batched, strict=True):
            nf, no = a.views_this_hour(h, VIDEO, LIVE)
            assert b.views_this_hour(h, VIDEO, LIVE) == (nf, no)
            if nf + no:
                want.append(a.sample_exposures(nf, no, followers, n, graph, decay))
                late.append(b.sample_exposures(nf, no, followers, n, graph, decay, 1.0, pending))
        pending.resolve()
        for (c1, s1), (c2, s2) in zip(want, late, strict=True):
            np.testing.assert_array_equal(c1, c2)
            np.testing.assert_array_equal(s1, s2)
    assert sum(a.share_views for a in alone) > 50  # shares travelled along the graph


@pytest.mark.parametrize("seed", range(8))
def test_radix_order_is_the_stable_sort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4096, 60_000))
    top = [2**16, 2**20, 2**32 - 1, 2**40][seed % 4]  # one digit, two, the full two, more
    keys = rng.integers(0, top, n)
    keys[: n // 3] = keys[n // 3 : 2 * (n // 3)]  # many equal keys: ties keep their order
    np.testing.assert_array_equal(_stable_order(keys), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("seed", range(4))
def test_most_persuasive_on_large_batches(seed):
    rng = np.random.default_rng(seed)
    n = 50_000
    flat = rng.integers(0, 30_000, n)
    p = rng.choice([0.0, 0.1, 0.5, 1.0], n) if seed % 2 else rng.random(n)
    np.testing.assert_array_equal(_most_persuasive(flat, p), _by_lexsort(flat, p))


@pytest.mark.parametrize("n", [5, 3000, 70_000])
def test_exposures_counted_by_group_as_one_by_one(n):
    rng = np.random.default_rng(n)
    flat = rng.integers(0, max(2, n // 3), n)
    by_one = rng.integers(0, 2**16, max(2, n // 3)).astype(np.uint16)  # some wrap around
    by_group = by_one.copy()
    np.add.at(by_one, flat, np.uint16(1))
    g = _Groups(flat)
    by_group[g.keys] += g.sizes.astype(np.uint16)
    np.testing.assert_array_equal(by_group, by_one)
