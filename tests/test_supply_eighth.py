"""Small shortcuts of the supply side's eighth pass (issue 21), each against the way it was:
the carriers' distinct warehouses and regions on Python numbers (``carrier._distinct``)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.agents import carrier


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.intp])
def test_distinct_is_numpys_unique(dtype):
    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.choice([0, 1, 2, 5, 63, 64, 65, 300]))
        values = rng.integers(-5, int(rng.integers(1, 40)), n).astype(dtype)
        got = carrier._distinct(values)
        want = np.unique(values)
        assert got == want.tolist()
        assert all(type(v) is int for v in got)
