"""Check 5, queueing: an M/M/c station against Erlang C, and Little's law.

**Why a harness.** The model's warehouses pick at a deterministic capacity per hour (a
fluid, batch-per-hour server) and its carriers dispatch at cut-off times: neither is ``c``
exponential servers, and adding such a pick mode to the agents would change the core for a
validation only. So this check drives the project's FIFO queue component
(:class:`sim.queues.IdQueue`, the one holding the warehouses' pick and pack queues and the
brands' backlogs) in continuous simulated time: Poisson arrivals (rate ``λ``), ``c``
parallel servers with exponential service (rate ``μ`` each), first come first served.

**Closed forms** (offered load ``a = λ/μ``, utilisation ``ρ = a/c < 1``):

* probability of waiting, Erlang C: ``C(c, a) = c·B/(c - a(1 - B))`` with ``B`` the Erlang B
  blocking probability (computed by the stable recursion ``B_k = a·B_{k-1}/(k + a·B_{k-1})``);
* mean wait in queue ``W_q = C/(cμ - λ)``; mean queue length ``L_q = λ·W_q``;
* the waiting-time tail under first come first served:
  ``P(W_q > t) = C·e^{-(cμ - λ)t}``, compared at ``t = m/(cμ - λ)`` for the multiples
  ``m`` in :data:`TAIL_MULTIPLES`. P(wait), ``W_q`` and ``L_q`` are the same for every order
  of service that does not look at service times; the tail is not: served last come first,
  the waits of the waiting customers spread into a busy period's (more short waits and a
  longer tail), and these rows fail.

**Little's law** ``L = λW`` is also checked on the sample path of every replication: the
time-average length of the :class:`~sim.queues.IdQueue` over a window equals the arrival
rate in the window times the mean time customers spent queued within it (an identity, so
the tolerance is rounding only). It is also checked on every order stage of real model runs
(``model_runs``), with ``L`` from the run's timeseries and ``λW`` from its order book (see
:mod:`sim.validation.little`).

**Tolerance:** ``z·SE`` over independent replications (each starts empty; customers
arriving during the warm-up are not measured).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.queues import IdQueue
from sim.rng import stream
from sim.validation.params import Params, Positive, PositiveInt, parse
from sim.validation.queue_model import ModelQueueParams
from sim.validation.queue_model import rows as model_rows
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, t_two_sided

NAME = "queueing"
WAITING = 1


# ----------------------------------------------------------------------------- formulas


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability of ``c`` servers at offered load ``a``."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability that an arrival waits (``a < c``)."""
    if a >= c:
        raise ValueError(f"unstable: offered load {a} >= servers {c}")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


#: multiples m of 1/(cμ - λ) at which the FIFO waiting-time tail is compared
TAIL_MULTIPLES = (0.5, 3.0)


def wait_tail(c: int, lam: float, mu: float, t: float) -> float:
    """``P(W_q > t)`` of an M/M/c queue served first come first served."""
    return erlang_c(c, lam / mu) * float(np.exp(-(c * mu - lam) * t))


def mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue ``W_q`` of an M/M/c queue."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


# ----------------------------------------------------------------------------- simulation


def simulate_mmc(
    c: int,
    lam: float,
    mu: float,
    customers: int,
    warmup_customers: int,
    rng: np.random.Generator,
    tail_times: tuple[float, ...] = (),
) -> dict[str, float]:
    """One replication of an M/M/c queue built on :class:`~sim.queues.IdQueue`.

    Returns:
        the share of measured customers who waited, their mean wait, the time-average
        queue length over the measurement window, and the arrival rate and mean (clipped)
        time in queue over the same window (for Little's law); ``tail <t>`` the share of
        measured customers who waited longer than ``t`` for each of ``tail_times``.
    """
    n = customers + warmup_customers
    arrival = np.cumsum(rng.exponential(1.0 / lam, n))
    service = rng.exponential(1.0 / mu, n)
    start = np.full(n, np.nan)
    status = np.full(n, WAITING, dtype=np.int8)
    ones = np.ones(n, dtype=np.int64)
    queue = IdQueue()
    busy: list[float] = []  # completion times of busy servers (a heap)
    t0 = arrival[warmup_customers]  # the measurement window opens with the first measured
    t1 = arrival[-1]  # ... and closes at the last arrival
    area = 0.0
    now = 0.0

    def advance(to: float) -> None:
        nonlocal area, now
        lo, hi = max(now, t0), min(to, t1)
        if hi > lo:
            area += len(queue) * (hi - lo)
        now = to

    def serve_from_queue(at: float) -> None:
        ids = queue.pop_by_capacity(ones, status, WAITING, 1.0)
        if len(ids):
            i = int(ids[0])
            status[i] = 0
            start[i] = at
            heapq.heappush(busy, at + service[i])

    for i in range(n):
        t = arrival[i]
        while busy and busy[0] <= t:  # departures before this arrival
            done = heapq.heappop(busy)
            advance(done)
            serve_from_queue(done)
        advance(t)
        if len(busy) < c and len(queue) == 0:
            start[i] = t
            status[i] = 0
            heapq.heappush(busy, t + service[i])
        else:
            queue.push(np.array([i]))
    while len(queue):  # drain: every measured customer gets a start time
        done = heapq.heappop(busy)
        advance(done)
        serve_from_queue(done)
    m = slice(warmup_customers, n)
    wait = start[m] - arrival[m]
    window = t1 - t0
    # time each customer spent in the queue inside [t0, t1]
    inside = np.clip(np.minimum(start, t1) - np.maximum(arrival, t0), 0.0, None)
    entered = (arrival >= t0) & (arrival <= t1)
    return {
        "p_wait": float(np.mean(wait > 0)),
        "mean_wait": float(np.mean(wait)),
        "queue_length": area / window,
        "little_lambda": float(entered.sum()) / window,
        "little_w": float(inside.sum()) / max(int(entered.sum()), 1),
        **{f"tail {t}": float(np.mean(wait > t)) for t in tail_times},
    }


# ----------------------------------------------------------------------------- the check


class QueueCase(BaseModel):
    """One M/M/c station."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: PositiveInt = Field(description="c: parallel servers")
    arrival_rate: Positive = Field(description="λ: arrivals per hour")
    service_rate: Positive = Field(description="μ: services per hour per server")

    @model_validator(mode="after")
    def _stable(self) -> QueueCase:
        if self.arrival_rate >= self.servers * self.service_rate:
            raise ValueError("unstable: arrival_rate must be < servers x service_rate")
        return self


class ModelRun(BaseModel):
    """A real model run on which Little's law is checked on every order stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    story: str | None = Field(description="story name (null: the default story)")
    overrides: list[str] = Field(description="key=value overrides (hourly timeseries is forced)")
    run_seed: Annotated[int, Field(ge=0)] = Field(description="the run's seed")


class QueueingParams(Params):
    """Parameters of the queueing check."""

    customers: Annotated[int, Field(ge=100)] = Field(description="measured customers per rep.")
    warmup_customers: Annotated[int, Field(ge=0)] = Field(description="customers not measured")
    replications: Annotated[int, Field(ge=2)] = Field(description="independent replications")
    cases: list[QueueCase] = Field(min_length=1, description="stations")
    model_runs: list[ModelRun] = Field(description="model runs checked for Little's law")
    model: ModelQueueParams | None = Field(
        default=None,
        description="through the model: a warehouse's pick queue against the discrete-time "
        "Lindley recursion (null: not run)",
    )


def check(params: Mapping[str, Any] | QueueingParams) -> list[CheckRow]:
    """Every station: Erlang C, mean wait, L_q = λW_q, and Little's law on the sample path."""
    p = parse(NAME, QueueingParams, params)
    z = t_two_sided(p.alpha, p.replications)
    rows = []
    for c in p.cases:
        lam, mu, k = c.arrival_rate, c.service_rate, c.servers
        label = f"M/M/{k} lambda={lam:g}/h mu={mu:g}/h (rho={lam / (k * mu):.2f})"
        reps = [
            simulate_mmc(
                k,
                lam,
                mu,
                p.customers,
                p.warmup_customers,
                stream(p.seed, "validation", NAME, label, r),
                tuple(m / (k * mu - lam) for m in TAIL_MULTIPLES),
            )
            for r in range(p.replications)
        ]
        pc = erlang_c(k, lam / mu)
        wq = mean_wait(k, lam, mu)
        for quantity, expected, key in (
            ("P(wait) = Erlang C", pc, "p_wait"),
            ("mean wait W_q (h)", wq, "mean_wait"),
            ("mean queue L_q = λW_q", lam * wq, "queue_length"),
        ):
            m, se = mean_se([r[key] for r in reps])
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    quantity,
                    expected,
                    m,
                    se,
                    z,
                    n=p.replications,
                    note="Erlang C (M/M/c on sim.queues.IdQueue)",
                )
            )
        for mult in TAIL_MULTIPLES:
            t = mult / (k * mu - lam)
            m, se = mean_se([r[f"tail {t}"] for r in reps])
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    f"FIFO tail P(W_q > {mult:g}/(cμ-λ))",
                    wait_tail(k, lam, mu, t),
                    m,
                    se,
                    z,
                    n=p.replications,
                    note="C·exp(-(cμ-λ)t): first come first served",
                )
            )
        # Little's law on each sample path: an identity up to floating-point rounding
        gap = max(abs(r["queue_length"] - r["little_lambda"] * r["little_w"]) for r in reps)
        lq = float(np.mean([r["queue_length"] for r in reps]))
        rows.append(
            CheckRow(
                NAME,
                label,
                "Little: L_q - λ̂·Ŵ_q on the path (max)",
                0.0,
                gap,
                0.0,
                z,
                bias=1e-9 * max(1.0, lq),
                n=p.replications,
                note="sample-path identity; tolerance = rounding",
                kind="identity",
            )
        )
    rows.extend(little_rows(p, z))
    if p.model is not None:
        rows.extend(model_rows(p.model, p.alpha, p.seed))
    return rows


def preflight(params: Mapping[str, Any] | QueueingParams) -> None:
    """Compose every model run's configuration (raises ConfigError before anything runs)."""
    import sim

    p = parse(NAME, QueueingParams, params)
    for run in p.model_runs:
        sim.compose(run.story, [*run.overrides, "run.timeseries_resolution=hour"])


def little_rows(p: QueueingParams, z: float) -> list[CheckRow]:
    """Little's law on every order stage of the configured model runs."""
    import sim
    from sim.validation.little import stages

    rows = []
    for run in p.model_runs:
        cfg = sim.compose(run.story, [*run.overrides, "run.timeseries_resolution=hour"])
        result = sim.run(cfg, seed=run.run_seed, keep_model=True)
        label = f"model {cfg.meta.story}/{cfg.meta.setup} seed {run.run_seed}"
        for st in stages(result):
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    f"Little L=λW: {st.stage} [{st.key}]",
                    st.lambda_w,
                    st.mean_units,
                    0.0,
                    z,
                    bias=1e-6 * max(1.0, st.mean_units),
                    n=1,
                    note="L from timeseries+events, λW from the order book",
                    via="model",
                    kind="identity",
                )
            )
    return rows
