"""Validation against textbook results: each check configures the model (or, where the agent
model cannot express a classic result's assumptions, a small harness around the project's
real components) to match the theory, and compares the simulation with the closed form.

Checks (one module each; every module is a pure library: parameters → rows of expected,
simulated, tolerance, passed):

======================  =====================================================================
``bullwhip``            Chen, Drezner, Ryan & Simchi-Levi (2000); Chen, Ryan & Simchi-Levi
                        (2000): through the model (:mod:`sim.validation.bullwhip_model`, the
                        world reduced by :mod:`sim.validation.reduce`) and a harness of the
                        project's forecasts and order-up-to rule under AR(1) demand
``base_stock``          base-stock service measures against the normal loss function (a
                        harness) and, through the model, the brand's known-mean base-stock
                        policy against the exact lost-sales chain
                        (:mod:`sim.validation.base_stock_model`)
``bass``                Bass (1969) diffusion on the full agent model (fully mixed)
``cascade``             the short-video Hawkes cascade (:class:`sim.content.Post`)
``queueing``            M/M/c on :class:`sim.queues.IdQueue` against Erlang C, Little's
                        law on real runs (:mod:`sim.validation.little`), and a warehouse's
                        pick queue in the model against the discrete-time Lindley recursion
                        (:mod:`sim.validation.queue_model`)
``flexibility``         Jordan & Graves (1995): dedicated, pairs, long chain, full, on the
                        designs read from model configurations, and through the model with
                        the ``max_flow`` sourcing (:mod:`sim.validation.flexibility_model`)
======================  =====================================================================

Rows say whether they come through the model or a standalone harness (``via``) and what
kind of comparison they are (``kind``): only textbook rows count toward the headline.

Parameters live in ``scenarios/validation/<check>.yaml`` (read by ``experiments.validate``);
tolerances follow from replications (:mod:`sim.validation.stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from sim.validation import base_stock, bass, bullwhip, cascade, flexibility, queueing
from sim.validation.rows import CheckRow

#: check name → (function of its parameters returning rows, its parameter model)
CHECKS: dict[str, tuple[Callable[[Any], list[CheckRow]], type[BaseModel]]] = {
    "bullwhip": (bullwhip.check, bullwhip.BullwhipParams),
    "base_stock": (base_stock.check, base_stock.BaseStockParams),
    "bass": (bass.check, bass.BassParams),
    "cascade": (cascade.check, cascade.CascadeParams),
    "queueing": (queueing.check, queueing.QueueingParams),
    "flexibility": (flexibility.check, flexibility.FlexibilityParams),
}


#: checks whose parameters also name model configurations: composed before anything runs
PREFLIGHTS: dict[str, Callable[[Any], None]] = {
    "bass": bass.preflight,
    "queueing": queueing.preflight,
}


def run_check(name: str, params: Mapping[str, Any]) -> list[CheckRow]:
    """Run one check by name."""
    fn, _ = CHECKS[name]
    return fn(params)


__all__ = ["CHECKS", "PREFLIGHTS", "CheckRow", "run_check"]
