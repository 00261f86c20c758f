"""The consumers' per-event kernels give exactly what the plain numpy formulation gives."""

from __future__ import annotations

import numpy as np
import pytest

from sim.agents.consumers import _most_persuasive


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
