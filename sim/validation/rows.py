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

Each row says how it was obtained (``via``): ``model`` when the simulated value comes from
:func:`sim.run` / the agent model reduced to the textbook case, ``standalone`` when it comes
from a harness built on the project's components. And what kind of comparison it is
(``kind``): only ``textbook`` rows (simulation against a published result) count toward the
headline "N/N passed"; ``identity`` rows (bookkeeping such as Little's law on a sample path,
or orderings true by construction), ``formula`` rows (a formula against a formula),
``assumption`` rows (the reduction held, e.g. no sale was lost) and ``deviation`` rows (the
documented direction in which the model departs from the textbook when a feature the theory
lacks is switched on) are reported apart.

A bias whose sign is known (``bias_signed``) widens the band on its side only:
``expected + min(0, bias) - z·se ≤ simulated ≤ expected + max(0, bias) + z·se``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Comparison = Literal["equal", "at_least", "at_most", "greater"]
Via = Literal["model", "standalone"]
Kind = Literal["textbook", "identity", "formula", "assumption", "deviation"]
KINDS: tuple[Kind, ...] = ("textbook", "identity", "formula", "assumption", "deviation")


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
        via: ``model`` (the agent model reduced to the case) or ``standalone`` (a harness).
        kind: ``textbook`` (counts toward the headline), ``identity``, ``formula``,
            ``assumption`` or ``deviation`` (reported apart).
        bias_signed: the bias has a known sign: the band widens on that side only.
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
    via: Via = "standalone"
    kind: Kind = "textbook"
    bias_signed: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def exact_zero(
        cls,
        check: str,
        case: str,
        quantity: str,
        value: float,
        z: float,
        n: int,
        note: str,
        kind: Kind,
    ) -> CheckRow:
        """A through-the-model row whose expected value is exactly 0 (an identity or an
        assumption checked on the sample path): no standard error, no bias."""
        return cls(
            check, case, quantity, 0.0, float(value), 0.0, z, n=n, note=note, via="model", kind=kind
        )

    @property
    def tolerance(self) -> float:
        """``z·se + |bias|``."""
        return self.z * self.se + abs(self.bias)

    @property
    def band(self) -> tuple[float, float]:
        """Accepted range of ``simulated - expected`` for an equality: ``±(z·se + |bias|)``,
        or with a signed bias ``[min(0, bias) - z·se, max(0, bias) + z·se]``."""
        half = self.z * self.se
        if self.bias_signed:
            return min(0.0, self.bias) - half, max(0.0, self.bias) + half
        return -self.tolerance, self.tolerance

    @property
    def interval(self) -> tuple[float, float]:
        """The simulated value's confidence interval ``simulated ± z·se``."""
        half = self.z * self.se
        return self.simulated - half, self.simulated + half

    @property
    def passed(self) -> bool:
        """Whether the simulated value is within tolerance of (or beyond) the expected one."""
        if not (math.isfinite(self.simulated) and math.isfinite(self.expected)):
            return False
        if self.comparison == "equal":
            lo, hi = self.band
            return lo <= self.simulated - self.expected <= hi
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
