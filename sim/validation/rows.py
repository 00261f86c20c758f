"""One line of a validation table: what was expected, what was simulated, and the tolerance.

A :class:`CheckRow` compares a simulated estimate with a value computed from a closed-form
(or exactly computable) formula. ``tolerance`` is ``z·se + |bias|`` (see
:mod:`sim.validation.stats`); ``comparison`` says which way the test goes:

* ``equal``: ``|simulated - expected| ≤ tolerance``;
* ``at_least``: ``simulated + tolerance ≥ expected`` (a lower bound, e.g. Chen et al.'s
  bullwhip bound with a positive safety factor, or "the long chain beats dedicated plants");
* ``at_most``: ``simulated - tolerance ≤ expected``;
* ``greater``: ``simulated - tolerance > expected`` (evidence of an improvement, e.g. the
  long chain sells more than pairs of plants).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Comparison = Literal["equal", "at_least", "at_most", "greater"]


@dataclass(frozen=True)
class CheckRow:
    """A single comparison of simulation against theory.

    Attributes:
        check: the check's name (``bullwhip``, ``bass`` ...).
        case: the parameter set, as a short label (``L=2 p=5 rho=0``).
        quantity: what is compared (``var(q)/var(D)``).
        expected: the value from the formula.
        simulated: the simulation's estimate.
        se: standard error of ``simulated`` (0 when the simulation is deterministic).
        z: the quantile applied to ``se`` (Student t with ``n - 1`` df; see stats).
        bias: a computed deterministic difference allowed on top (0 when none).
        comparison: ``equal``, ``at_least``, ``at_most`` or ``greater``.
        n: replications (or batches) behind ``se``.
        note: how the expected value is obtained, or what the harness simplifies.
    """

    check: str
    case: str
    quantity: str
    expected: float
    simulated: float
    se: float
    z: float
    bias: float = 0.0
    comparison: Comparison = "equal"
    n: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def tolerance(self) -> float:
        """``z·se + |bias|``."""
        return self.z * self.se + abs(self.bias)

    @property
    def passed(self) -> bool:
        """Whether the simulated value is within tolerance of (or beyond) the expected one."""
        if not (math.isfinite(self.simulated) and math.isfinite(self.expected)):
            return False
        if self.comparison == "equal":
            return abs(self.simulated - self.expected) <= self.tolerance
        if self.comparison == "at_least":
            return self.simulated + self.tolerance >= self.expected
        if self.comparison == "greater":
            return self.simulated - self.tolerance > self.expected
        return self.simulated - self.tolerance <= self.expected

    def as_dict(self) -> dict[str, Any]:
        """A flat record (for tables): the fields plus ``tolerance`` and ``passed``."""
        d = asdict(self)
        d.pop("extra")
        d["tolerance"] = self.tolerance
        d["passed"] = self.passed
        return d
