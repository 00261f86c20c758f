"""Delivery promises (``Selling.promise_hours``) wait for the first cut-off of any contracted
last-mile carrier: with two contracted carriers the promise is worked out here from their
cut-off hours alone (the union of their hours of the day), at every hour of two days and at
random queues, so a promise that waited for the last of them (``min`` made ``max``) fails."""

from __future__ import annotations

import math

import numpy as np

import sim
from sim.clock import HOURS_PER_DAY
from sim.model import ViralChainModel


def _promise(selling, hour: int, cutoffs: list[int]) -> np.ndarray:
    """The promise from each warehouse to each region, the wait for a cut-off taken from the
    hours of the day in ``cutoffs``."""
    net = selling.network
    lm_per_hour = max(sum(c.capacity_per_day for c in net.last_mile) / HOURS_PER_DAY, 1e-9)
    out = np.empty_like(net.trip_hours)
    for i, w in enumerate(net.warehouses):
        if w.pick_capacity_per_hour <= 0:
            out[i] = math.inf
            continue
        wait = w.queued_units / w.pick_capacity_per_hour + w.packed_units / lm_per_hour
        ready = hour + 1 + math.ceil(wait)
        cut = min((h - ready) % HOURS_PER_DAY for h in cutoffs)
        out[i] = (ready + cut - hour) + net.trip_hours[i]
    return out


def test_promises_wait_for_the_first_of_two_contracted_carriers():
    cfg = sim.compose(
        None,
        [
            "market.n_consumers=100000",
            "run.horizon_hours=48",
            "setup=flexible",
            "logistics.carriers.crowd.elastic=false",
        ],
    )
    m = ViralChainModel(cfg, 3)
    m.run_for(30)
    selling = m.brands[0].selling
    hours = [sorted(set(c.cfg.dispatch_hours)) for c in selling.network.contracted_last_mile]
    assert sorted(hours) == [[2, 8, 14, 20], [12, 23]], hours
    cutoffs = sorted({h for hs in hours for h in hs})
    warehouses = selling.network.warehouses
    for w in warehouses:  # nothing queued: ready the next hour
        w.queued_units, w.packed_units, w.pick_capacity_per_hour = 0, 0, 10.0
    for hour in range(2 * HOURS_PER_DAY):
        want = _promise(selling, hour, cutoffs)
        assert selling.promise_hours(hour).tobytes() == want.tobytes(), hour
    rng = np.random.default_rng(7)
    for _ in range(300):  # random queues, no pick capacity among them (an infinite promise)
        for w in warehouses:
            w.queued_units = int(rng.integers(0, 5000))
            w.packed_units = int(rng.integers(0, 5000))
            w.pick_capacity_per_hour = float(rng.choice([0.0, 0.5, 7.0, 80.0]))
        hour = int(rng.integers(0, 10_000))
        want = _promise(selling, hour, cutoffs)
        assert selling.promise_hours(hour).tobytes() == want.tobytes(), hour
