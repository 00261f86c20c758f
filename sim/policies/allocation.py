"""Allocation: who gets scarce stock when more is asked of a warehouse than it holds.

A rule receives the wishes routed to one warehouse in arrival order (random within the hour)
and the units available, and says which wishes are served (whole orders only).

* ``fcfs``: first come, first served.
* ``proportional``: when stock is short, each consumer region gets a quota proportional to
  what it asks (largest remainder), served first come first served within the region; stock
  a region leaves unused goes to the others in arrival order.
* ``priority``: platforms with a lower ``market.platforms.<p>.priority`` are served first.
"""

from __future__ import annotations

import numpy as np

from sim.config import AllocationPolicy
from sim.policies.deployment import split_units


def _fcfs(quantity: np.ndarray, available: int) -> np.ndarray:
    return np.cumsum(quantity) <= available


class FirstComeFirstServed:
    """Arrival order."""

    def __init__(self, params: AllocationPolicy):
        pass

    def select(
        self, quantity: np.ndarray, regions: np.ndarray, priority: np.ndarray, available: int
    ) -> np.ndarray:
        """Which wishes (in the given order) are served."""
        return _fcfs(quantity, available)


class Proportional:
    """Regions share scarce stock in proportion to their requests."""

    def __init__(self, params: AllocationPolicy):
        pass

    def select(
        self, quantity: np.ndarray, regions: np.ndarray, priority: np.ndarray, available: int
    ) -> np.ndarray:
        """Which wishes (in the given order) are served."""
        if quantity.sum() <= available:
            return np.ones(len(quantity), dtype=bool)
        keys = np.unique(regions)
        asked = np.array([quantity[regions == r].sum() for r in keys])
        quota = split_units(int(available), asked)
        taken = np.zeros(len(quantity), dtype=bool)
        for r, q in zip(keys, quota, strict=True):
            idx = np.flatnonzero(regions == r)
            taken[idx] = _fcfs(quantity[idx], int(q))
        left = available - int(quantity[taken].sum())
        rest = np.flatnonzero(~taken)
        taken[rest] = _fcfs(quantity[rest], left)
        return taken


class Priority:
    """Platforms by priority, first come first served within one."""

    def __init__(self, params: AllocationPolicy):
        pass

    def select(
        self, quantity: np.ndarray, regions: np.ndarray, priority: np.ndarray, available: int
    ) -> np.ndarray:
        """Which wishes (in the given order) are served."""
        order = np.argsort(priority, kind="stable")
        taken = np.zeros(len(quantity), dtype=bool)
        taken[order] = _fcfs(quantity[order], available)
        return taken
