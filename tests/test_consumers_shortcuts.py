"""Shortcuts of the consumers' hour (``sim/agents/consumers.py``), each against the long way:
orders remembered for the cancellation check by deadline (``watch_order``: one order alone,
several grouped by one stable sort, against ``np.unique`` and a mask per deadline: the same
hours, the same arrays in the same order), and an hour of one wish left unshuffled (its
shuffle draws nothing)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.model import ViralChainModel

HORIZON = 48


@pytest.fixture(scope="module")
def model() -> ViralChainModel:
    return ViralChainModel(
        sim.compose(None, ["market.n_consumers=500", f"run.horizon_hours={HORIZON}"]), 1
    )


def _long_way(checks: dict, order_ids: np.ndarray, deadlines: np.ndarray) -> None:
    for d in np.unique(deadlines):
        if d < HORIZON:
            checks.setdefault(int(d), []).append(order_ids[deadlines == d])


@pytest.mark.parametrize("seed", range(30))
def test_watch_order_remembers_as_unique_and_masks(model, seed):
    r = np.random.default_rng(seed)
    pop = model.population
    pop._cancel_checks = {}
    expect: dict = {}
    for _ in range(int(r.integers(1, 6))):
        k = int(r.choice([0, 1, 1, 2, 5, 40]))
        ids = r.integers(0, 10_000, k).astype(np.int64)
        deadlines = r.integers(HORIZON - 10, HORIZON + 5, k).astype(np.int64)
        pop.watch_order(ids, deadlines)
        _long_way(expect, ids, deadlines)
    got = pop._cancel_checks
    assert list(got) == list(expect)
    for hour, arrays in expect.items():
        assert all(type(h) is int for h in got)
        assert [a.tobytes() for a in got[hour]] == [a.tobytes() for a in arrays]
        assert [a.dtype for a in got[hour]] == [a.dtype for a in arrays]


@pytest.mark.parametrize("seed", range(8))
def test_shuffling_one_wish_draws_nothing(seed):
    """A guard on the assumption behind decide's not shuffling an hour of one wish (it does
    not call decide): numpy's ``permutation(1)`` is ``[0]`` and leaves the generator as it
    was (Fisher-Yates draws once per element after the first), so skipping it changes
    neither the order nor the draws after it. Should numpy ever draw here, this fails."""
    g = np.random.default_rng(seed)
    g.random(int(seed))  # anywhere in the stream
    g.integers(0, 7, seed % 2)  # a half-used 32-bit word or not
    before = g.bit_generator.state
    assert g.permutation(1).tolist() == [0]
    assert g.bit_generator.state == before
