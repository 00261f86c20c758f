"""The integer books' ``ufunc.at`` decides whether to widen the values once per pair of
dtypes (``sim.holdings._WIDEN``): the same decision as the test it made at every call, for
every pair of numpy's dtypes, asked cold and from the table."""

from __future__ import annotations

import numpy as np

from sim import holdings

DTYPES = [np.dtype(c) for c in "?bBhHiIlLqQefdgFDO"]


def _old_test(dt: np.dtype, target: np.dtype) -> bool:
    return bool(
        dt != target and dt.kind in "biu" and target.kind == "i" and np.can_cast(dt, target)
    )


def test_the_kept_decision_is_the_test_made_at_every_call():
    holdings._WIDEN.clear()
    for _ in range(2):  # cold, then from the table
        for dt in DTYPES:
            for target in DTYPES:
                if dt == target:
                    continue
                # more values than a few (a few are added one by one, never widened)
                k = holdings._FEW_AT + 1
                values = np.zeros(k, dtype=dt)
                a = np.zeros(3, dtype=target)
                if target.kind in "biu" and dt.kind in "biu":
                    holdings.ints.add.at(a, np.zeros(k, dtype=np.intp), values)
                    assert holdings._WIDEN[dt, target] == _old_test(dt, target), (dt, target)
                assert holdings._widens(dt, target) == _old_test(dt, target), (dt, target)
    assert any(holdings._WIDEN.values()) and not all(holdings._WIDEN.values())
