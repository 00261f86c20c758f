"""Queueing through the model: a warehouse's pick queue against the discrete-time Lindley
recursion (P(wait), mean wait and the FIFO waiting-time tail).

**The model's server.** A warehouse picks, every hour, queued orders in arrival order (FIFO)
up to its ``pick_capacity_units_per_hour`` (:meth:`sim.agents.warehouse.Warehouse.pick`),
after the hour's buyers have placed their orders. With one unit per order and an integer
capacity ``c``, the backlog at the end of hour ``h`` is ``Q_h = max(Q_{h-1} + A_h - c, 0)``
(``A_h`` the orders placed in hour ``h``): a discrete-time queue, not ``c`` exponential
servers, so Erlang C is not its theory. Its theory is the **Lindley recursion** with
i.i.d. arrivals (Lindley 1952; the discrete-time single-server queue, e.g. Bruneel & Kim
1993, *Discrete-time models for communication systems including ATM*): the stationary law of
``Q`` is the fixed point of ``π' = (π ∗ a)`` shifted down by ``c`` and floored at 0,
computed numerically on a truncated support (``a`` the Poisson(``λ``) law of ``A_h``).
Under FIFO, the ``j``-th order (0-based) of an hour that starts behind ``Q`` is picked
``⌊(Q + j)/c⌋`` hours after the hour it was placed in, so for a random order
``P(W ≥ k) = E[(A - max(0, kc - Q))⁺]/λ`` with ``Q`` and ``A`` independent. Compared:
``P(wait) = P(W ≥ 1)`` (not picked in the hour it is placed), the mean wait
``E[W] = Σ_{k≥1} P(W ≥ k)`` and the tail ``P(W ≥ k)`` at ``k`` in ``tail_hours``. The mean
wait is the same for every order of service; the tail is not (served last come first, a
waiting order is overtaken by every later one and the tail spreads: at ``c = 2``,
``ρ = 0.6``, ``P(W ≥ 3 h)`` is 0.032 instead of 0.006), and in whole hours neither is
``P(wait)`` (the newest orders are picked in their own hour: 0.13 instead of 0.25). A
tail row is compared only when the theory expects at least :data:`MIN_TAIL_ORDERS` orders
beyond it over the measured hours: rarer, a run may see none, and a band from a standard
error of 0 means nothing (``P(W ≥ 3 h)`` at ``c = 10``, ``ρ = 0.8`` expects about 7 in the
full run).

**The reduction** (:func:`sim.validation.reduce.stationary_config`): stationary organic
demand, one unit per order, nobody cancels; ``products`` identical products with
``λ/products`` orders per hour each, so the warehouse's arrivals are Poisson(``λ``) per
hour (organic exposures are a Poisson number per hour, spread uniformly over consumers and
products); every product starts with stock for the whole run (no sale is lost, nothing is
ever short at the shelf); the one warehouse's pick capacity is ``c`` units per hour (the
supply scale is 1). An order's pick hour is read after every hour from the order book (the
first hour its status has left ``ALLOCATED``); the model records no pick hour of its own.

**Statistics.** The measured hours of each run (after ``warmup_hours``, the queue starts
empty) are cut into ``batches`` consecutive batches by the hour orders are placed; the
batch means are the replications behind the standard error (batch means: each batch is
hundreds of the queue's relaxation times long). A consumer buys a product once, so the
arrival rate falls as ``λe^{-λh/(products·N)}``; the theory at the mean rate of the measured
hours minus the theory at ``λ`` is each row's signed bias (below 1 % of the mean wait at the
shipped sizes). An ``identity`` row checks the server on the sample path: the warehouse's
queue after every hour equals the Lindley recursion of the orders placed (FIFO order aside,
a server that picks more or less than ``c`` an hour breaks it); an ``assumption`` row checks
that no sale was lost and every order is one unit.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.validation.params import PositiveInt
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_two_sided

NAME = "queueing"
#: a tail row is compared only if the theory expects at least this many orders beyond it
MIN_TAIL_ORDERS = 10.0

# ----------------------------------------------------------------------------- theory


def _poisson_pmf(lam: float, top: int) -> np.ndarray:
    """Poisson(lam) probabilities of 0 .. top, the rest of the mass added to ``top``."""
    k = np.arange(top + 1, dtype=float)
    log = k * math.log(lam) - lam - np.array([math.lgamma(x + 1.0) for x in k])
    pmf = np.exp(log)
    pmf[-1] += max(0.0, 1.0 - float(pmf.sum()))
    return pmf


def lindley_stationary(lam: float, c: int, tol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    """(π, a): the stationary law of the end-of-hour backlog ``Q = max(Q + A - c, 0)`` with
    ``A ~ Poisson(lam)`` (``lam < c``), and the law ``a`` of ``A``, on truncated supports
    whose neglected mass is below ``tol``."""
    if not lam < c:
        raise ValueError(f"unstable queue: λ = {lam} ≥ c = {c}")
    top = int(lam + 15.0 * math.sqrt(lam) + 30)
    a = _poisson_pmf(lam, top)
    # the geometric decay rate of the tail bounds the support needed
    size = 200 * c + int(60.0 * lam / (c - lam) ** 2) + 200
    pi = np.zeros(size)
    pi[0] = 1.0
    shift = np.maximum(np.arange(size + top) - c, 0)
    for _ in range(1_000_000):
        nxt = np.bincount(np.minimum(shift, size - 1), weights=np.convolve(pi, a), minlength=size)
        if float(np.abs(nxt - pi).sum()) < tol:
            return nxt, a
        pi = nxt
    raise RuntimeError("Lindley fixed point did not converge")  # pragma: no cover


def wait_at_least(lam: float, c: int, hours: int) -> float:
    """``P(W ≥ hours)`` for a random order under FIFO (module docstring)."""
    if hours <= 0:
        return 1.0
    pi, a = lindley_stationary(lam, c)
    need = np.maximum(0, hours * c - np.arange(len(pi)))  # j ≥ need is still waiting
    k = np.arange(len(a))
    # E[(A - m)^+] for every m, through the tail sums of a
    tail_mass = np.cumsum(a[::-1])[::-1]  # P(A ≥ k)
    excess = np.concatenate([np.cumsum(tail_mass[::-1])[::-1], [0.0]])  # Σ_{j≥m} P(A > j-1)
    # E[(A - m)^+] = Σ_{j>m} P(A ≥ j) = excess[m + 1]
    idx = np.minimum(need + 1, len(k))
    return float(pi @ excess[idx]) / lam


def mean_wait(lam: float, c: int) -> float:
    """``E[W] = Σ_{k≥1} P(W ≥ k)`` (hours, whole hours between placing and picking)."""
    total, k = 0.0, 1
    while True:
        p = wait_at_least(lam, c, k)
        total += p
        if p < 1e-13:
            return total
        k += 1


# ----------------------------------------------------------------------------- the check


class ModelQueueCase(BaseModel):
    """One warehouse: pick capacity and utilisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pick_capacity: PositiveInt = Field(description="c: units picked per hour")
    utilisation: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(description="ρ = λ/c")


class ModelQueueParams(BaseModel):
    """The model's pick queue, reduced to Poisson arrivals of one-unit orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_consumers: Annotated[int, Field(ge=1000)] = Field(description="N: consumers")
    products: PositiveInt = Field(description="identical products sharing the arrivals")
    hours: PositiveInt = Field(description="hours simulated per run (whole days)")
    warmup_hours: Annotated[int, Field(ge=0)] = Field(description="hours not measured")
    runs: PositiveInt = Field(description="runs per case")
    batches: Annotated[int, Field(ge=2)] = Field(description="batches per run (batch means)")
    tail_hours: list[Annotated[int, Field(ge=2)]] = Field(
        description="k: the FIFO tail P(W ≥ k hours) is compared at these"
    )
    cases: list[ModelQueueCase] = Field(min_length=1, description="warehouses")

    @model_validator(mode="after")
    def _whole_days(self) -> ModelQueueParams:
        if self.hours % 24 or self.hours <= self.warmup_hours:
            raise ValueError(f"hours = {self.hours}: must be whole days and more than warmup_hours")
        return self


def _config(case: ModelQueueCase, p: ModelQueueParams) -> Any:
    from sim.validation.reduce import stationary_config

    lam = case.utilisation * case.pick_capacity
    stock = math.ceil(lam * p.hours / p.products * 1.2 + 100)
    return stationary_config(
        n_consumers=p.n_consumers,
        mean_per_day=24.0 * lam / p.products,
        days=p.hours // 24,
        products=p.products,
        material_lead_hours=0.0,
        initial_stock_units=stock,
        overrides=[
            f"logistics.warehouses.central.pick_capacity_units_per_hour={case.pick_capacity}"
        ],
    )


def simulate(case: ModelQueueCase, p: ModelQueueParams, seed: int) -> dict[str, Any]:
    """Per batch: P(wait), mean wait and the tail; per run: the server identity and the
    assumptions (lost units, largest order)."""
    from sim.model import build_model
    from sim.orders import ALLOCATED, BACKLOG

    cfg = _config(case, p)
    c = case.pick_capacity
    ks = [1, *p.tail_hours]
    out: dict[str, Any] = {"batches": [], "server_gap": 0, "lost": 0.0, "max_quantity": 0}
    for r in range(p.runs):
        model = build_model(cfg, seed * 1000 + r)
        book, w = model.orders, model.warehouses[0]
        picked = np.full(1024, -1, dtype=np.int64)
        queue = np.zeros(p.hours, dtype=np.int64)
        first = 0  # every order before it has been picked
        for h in range(p.hours):
            model.run_for(1)
            n = book.n
            if n > len(picked):
                picked = np.concatenate([picked, np.full(max(n, 2 * len(picked)), -1)])
            st = book.status[first:n]
            done = (st != ALLOCATED) & (st != BACKLOG) & (picked[first:n] < 0)
            picked[first:n][done] = h
            queue[h] = w.queued_units
            while first < n and picked[first] >= 0:
                first += 1
        n = book.n
        placed = np.asarray(book.placed_hour[:n], dtype=np.int64)
        arrivals = np.bincount(placed, minlength=p.hours)
        q, worst = 0, 0
        for h in range(p.hours):
            q = max(q + int(arrivals[h]) - c, 0)
            worst = max(worst, abs(q - int(queue[h])))
        out["server_gap"] = max(out["server_gap"], worst)
        out["lost"] += float(model.ledger.units["lost"].sum())
        out["max_quantity"] = max(out["max_quantity"], int(book.quantity[:n].max(initial=0)))
        wait = picked[:n] - placed
        edges = np.linspace(p.warmup_hours, p.hours, p.batches + 1).round().astype(int)
        # an order placed near the end may be unpicked: the batches end where every order of
        # theirs has been picked (the last batch stops a margin before the horizon)
        margin = int(wait[picked[:n] >= 0].max(initial=0)) + 1
        edges[-1] = min(edges[-1], p.hours - margin)
        for lo, hi in itertools.pairwise(edges):
            sel = (placed >= lo) & (placed < hi)
            ww = wait[sel]
            if len(ww) == 0 or (ww < 0).any():
                raise RuntimeError(f"queue_model: batch [{lo}, {hi}) has unpicked orders")
            out["batches"].append(
                {"mean_wait": float(ww.mean()), **{k: float((ww >= k).mean()) for k in ks}}
            )
    return out


def mean_rate(case: ModelQueueCase, p: ModelQueueParams) -> float:
    """The arrival rate averaged over the measured hours (each buyer buys a product once)."""
    lam = case.utilisation * case.pick_capacity
    h = np.arange(p.warmup_hours, p.hours, dtype=float) + 0.5
    return float(np.mean(lam * np.exp(-lam * h / (p.products * p.n_consumers))))


def rows(p: ModelQueueParams, alpha: float, seed: int) -> list[CheckRow]:
    """The pick queue's rows for every case."""
    out: list[CheckRow] = []
    n = p.runs * p.batches
    z = t_two_sided(alpha, n)
    for case in p.cases:
        c = case.pick_capacity
        lam = case.utilisation * c
        lam_bar = mean_rate(case, p)
        label = f"model pick queue: c={c}/h λ={lam:g}/h (ρ={case.utilisation:g})"
        got = simulate(case, p, seed)
        b = got["batches"]
        items: list[tuple[str, float, float, str]] = [
            ("P(wait) = P(W ≥ 1 h)", wait_at_least(lam, c, 1), wait_at_least(lam_bar, c, 1), "1"),
            ("mean wait E[W] (h)", mean_wait(lam, c), mean_wait(lam_bar, c), "mean_wait"),
        ]
        orders = lam_bar * (p.hours - p.warmup_hours) * p.runs
        for k in p.tail_hours:
            if wait_at_least(lam, c, k) * orders < MIN_TAIL_ORDERS:
                continue  # too rare to estimate: with no such order the SE would be 0
            items.append(
                (
                    f"FIFO tail P(W ≥ {k} h)",
                    wait_at_least(lam, c, k),
                    wait_at_least(lam_bar, c, k),
                    str(k),
                )
            )
        for quantity, expected, at_mean_rate, key in items:
            vals = [x[int(key)] if key.isdigit() else x[key] for x in b]
            m, se = mean_se(vals)
            out.append(
                CheckRow(
                    NAME,
                    label,
                    quantity,
                    expected,
                    m,
                    se,
                    z,
                    bias=at_mean_rate - expected,
                    bias_signed=True,
                    n=n,
                    note="discrete-time Lindley recursion, Poisson arrivals, FIFO; bias: "
                    "buyers buy once (the rate falls)",
                    via="model",
                )
            )
        out.append(
            CheckRow.exact_zero(
                NAME,
                label,
                "queue on the path - Lindley max(Q+A-c, 0) (max |gap|)",
                got["server_gap"],
                z,
                n,
                "the warehouse picks c units an hour: an identity on every hour",
                "identity",
            )
        )
        out.append(
            CheckRow(
                NAME,
                label,
                "lost units + (largest order - 1) (assumptions: 0)",
                0.0,
                got["lost"] + float(got["max_quantity"] - 1),
                0.0,
                z,
                n=n,
                note="stock for the whole run; one unit per order",
                via="model",
                kind="assumption",
            )
        )
    return out
