"""Delivery promises read the last mile as listed once (``Selling._list_cutoffs``: the
capacity per hour and the wait until the first contracted cut-off for each hour of the day):
held equal to the long way (every carrier asked for every warehouse, as before) at every
promise of whole runs and at random hours and queues, and debug mode finds a stale list."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.agents.brand_selling import Selling
from sim.invariants import InvariantError
from sim.model import ViralChainModel


def _long_promise_hours(self: Selling, hour: int) -> np.ndarray:
    """``Selling.promise_hours`` as it was: every carrier asked at every call."""
    net = self.network
    lm_per_hour = max(net.last_mile_capacity_per_hour(), 1e-9)
    out = np.empty_like(net.trip_hours)
    for i, w in enumerate(net.warehouses):
        wait = w.pick_delay_hours() + w.packed_units / lm_per_hour
        if not math.isfinite(wait):
            out[i] = math.inf
            continue
        ready = hour + 1 + math.ceil(wait)
        cut = min(c.next_dispatch_wait(ready) for c in net.contracted_last_mile)
        out[i] = (ready + cut - hour) + net.trip_hours[i]
    return out


CASES = [
    ("setup=flexible",),
    ("setup=rigid", "logistics.carriers.express.dispatch_hours=[0,7,13,23]"),
    ("setup=flexible", "logistics.carriers.express.dispatch_hours=[5,9,17]"),
    ("story=two_brands",),
    ("story=creative_presale", "setup=flexible"),
]


@pytest.mark.parametrize("extra", CASES)
def test_promises_equal_the_long_way_at_every_call(extra, monkeypatch):
    cfg = sim.compose(None, ["market.n_consumers=100000", "run.horizon_hours=168", *extra])
    fast = Selling.promise_hours
    calls = [0]

    def both(self: Selling, hour: int) -> np.ndarray:
        got = fast(self, hour)
        want = _long_promise_hours(self, hour)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), hour
        calls[0] += 1
        return got

    monkeypatch.setattr(Selling, "promise_hours", both)
    m = ViralChainModel(cfg, 3)
    m.run()
    assert calls[0] > 10, calls
    # random hours and queues, no pick capacity among them (an infinite promise)
    rng = np.random.default_rng(7)
    for brand in m.brands:
        selling = brand.selling
        for _ in range(300):
            for w in brand.warehouses:
                w.queued_units = int(rng.integers(0, 5000))
                w.packed_units = int(rng.integers(0, 5000))
                w.pick_capacity_per_hour = float(rng.choice([0.0, 0.5, 7.0, 80.0]))
            hour = int(rng.integers(0, 10_000))
            np.testing.assert_array_equal(
                fast(selling, hour), _long_promise_hours(selling, hour), err_msg=str(hour)
            )


def test_debug_mode_finds_a_stale_list_of_cutoffs():
    cfg = sim.compose(None, ["market.n_consumers=100000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, 1)
    m.run_for(90)
    selling = m.brands[0].selling
    assert selling._cutoffs is not None  # orders were taken: the list was made
    m._check_kept_references()  # what debug mode checks of the kept references
    lm_per_hour, wait_from = selling._cutoffs
    selling._cutoffs = (lm_per_hour, [w + 1 for w in wait_from])
    with pytest.raises(InvariantError, match="cut-offs"):
        m._check_kept_references()
