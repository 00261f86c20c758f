"""The layout's chunks at a national size (issue 21, eleventh pass): the social graph's layout
(:func:`sim.social_graph._layout`) cuts its consumers in larger chunks when a world has many
communities (:func:`sim.social_graph._layout_chunk`), and must give the same order, the same
weights and leave the generator where one call would, whatever the chunk."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import social_graph
from sim.model import ViralChainModel


def _long_layout(community: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(community, kind="stable")
    return order.astype(np.int32), draws.astype(np.float32)[order]


@pytest.mark.parametrize(
    ("n", "communities", "chunk"),
    [
        (10_000, 67, 1 << 18),  # the workshop's world
        (1_000_000, 6_667, 1 << 18),  # the flagship's: chunks (and 32-bit keys) as before
        (10_000_000, 66_667, 1 << 18),
        (13_000_000, 87_381, 1 << 18),  # 3 · 87,381 < 2**18: still one member in three
        (13_000_000, 87_382, 1 << 19),
        (30_000_000, 200_000, 1 << 20),
        (100_000_000, 666_667, 1 << 20),  # the national audience's: capped
        (3_000_000, 666_667, 1 << 18),  # fewer than eight chunks of 2**19: not raised
        (4_194_304, 666_667, 1 << 19),  # eight chunks of 2**19 exactly
    ],
)
def test_the_layout_takes_larger_chunks_only_with_many_communities(n, communities, chunk):
    assert social_graph._layout_chunk(n, communities) == chunk


def test_the_chunk_follows_the_build_chunk_and_the_cap(monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", 1 << 10)
    monkeypatch.setattr(social_graph, "_LAYOUT_MOST", 1 << 13)
    assert social_graph._layout_chunk(10**6, 5_000) == 1 << 13  # capped
    assert social_graph._layout_chunk(10**6, 300) == 1 << 10  # 3 · 300 < 2**10
    assert social_graph._layout_chunk(10**6, 342) == 1 << 11
    assert social_graph._layout_chunk(8 * (1 << 12) - 1, 5_000) == 1 << 11  # eight chunks left


@pytest.mark.parametrize(
    ("communities", "n"),
    [
        (5_000, 8 * (1 << 13) + 777),  # chunks of 2**13 (raised from 2**10), 32-bit keys
        (5_000, 8 * (1 << 13) + 1),  # the last raised chunk holds a single member
        ((1 << 19) + 1, 8 * (1 << 13) + 1),  # the same with 64-bit keys
        ((1 << 19) + 1, 8 * (1 << 13) + 5),  # 64-bit keys with chunks of 2**13
        (700, 8 * (1 << 11) + 3),  # raised once (3 · 700 > 2**10): eight chunks of 2**12 do not fit
        (5_000, 3 * (1 << 10) + 1),  # too few chunks to raise: the build chunk
    ],
)
@pytest.mark.parametrize("c_scatter", [True, False])  # sim/_build.c's, or the chunks' sorts
def test_the_layout_in_larger_chunks_is_the_stable_order(communities, n, c_scatter, monkeypatch):
    if not c_scatter:
        monkeypatch.setattr(social_graph, "_BUILD", None)
    monkeypatch.setattr(social_graph, "_CHUNK", 1 << 10)
    monkeypatch.setattr(social_graph, "_LAYOUT_MOST", 1 << 13)
    rng = np.random.default_rng(communities + n)
    community = rng.integers(0, communities, n).astype(np.int32)
    community[:2] = [0, communities - 1]  # the first and the last number both used
    comm_start = np.zeros(communities + 1, dtype=np.int64)
    np.cumsum(np.bincount(community, minlength=communities), out=comm_start[1:])
    drawn = []

    def draw(k: int) -> np.ndarray:
        drawn.append(k)
        return mine.random(k)

    weight = np.empty((n // 16 + 1) * 16, dtype=np.float32)
    weight[n:] = np.inf
    mine = np.random.default_rng(5)
    order = social_graph._layout(community, comm_start, weight, draw)
    theirs = np.random.default_rng(5)
    long_order, long_weight = _long_layout(community, theirs.random(n))
    assert order.tobytes() == long_order.tobytes()
    assert weight[:n].tobytes() == long_weight.tobytes()
    assert np.isinf(weight[n:]).all()  # the padding left alone
    assert mine.bit_generator.state == theirs.bit_generator.state  # drawn in turn, n in all
    chunk = social_graph._layout_chunk(n, communities)
    assert drawn == [min(chunk, n - a) for a in range(0, n, chunk)]  # one draw a chunk


def test_a_world_built_with_larger_layout_chunks_is_the_same(monkeypatch):
    """A whole world's graph built with the layout's chunks raised (forced at 20,000
    consumers) against the same world built with the build's chunk throughout."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=20000"])
    monkeypatch.setattr(social_graph, "_CHUNK", 1 << 7)
    monkeypatch.setattr(social_graph, "_LAYOUT_MOST", 1 << 7)
    plain = ViralChainModel(cfg, 3).population.graph
    monkeypatch.setattr(social_graph, "_LAYOUT_MOST", 1 << 11)
    assert social_graph._layout_chunk(20_000, len(plain.comm_start) - 1) == 1 << 9
    raised = ViralChainModel(cfg, 3).population.graph
    for name in ("order", "weight", "community", "degree", "checkpoints", "guide"):
        assert getattr(raised, name).tobytes() == getattr(plain, name).tobytes(), name
    assert raised.key == plain.key  # the stream left where it was: the same last draw


@pytest.mark.parametrize(("n", "size"), [(0, 4), (1, 4), (8, 4), (9, 4), (11, 4)])
def test_the_chunks_cover_every_value_once(n, size):
    bounds = social_graph._chunks(n, size)
    assert [a for a, _ in bounds] == list(range(0, n, size))
    assert all(b - a == size for a, b in bounds[:-1])
    assert [i for a, b in bounds for i in range(a, b)] == list(range(n))


def test_the_chunks_default_to_the_build_chunk(monkeypatch):
    monkeypatch.setattr(social_graph, "_CHUNK", 3)
    assert social_graph._chunks(7) == [(0, 3), (3, 6), (6, 7)]
