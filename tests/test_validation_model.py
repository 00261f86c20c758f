"""Validation through the model, row kinds, the power of the checks, and mutation testing.

* the model reduced to a stationary stage (:mod:`sim.validation.reduce`) has Poisson demand
  and loses nothing; its bullwhip ratio matches Chen et al. (in ``test_validation``'s fast
  bullwhip run) and a wrong lead time is rejected (negative control on the model rows);
* only textbook rows count toward the headline; a bias of known sign widens the band on
  its side only;
* the FIFO waiting-time tail rows fail when the project's queue serves last in first out;
* the curated mutants apply to the current code, and a small subset is caught (the whole
  set, ≥ 90 %, is a slow test).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from experiments import mutants
from experiments.validate import headline, load_params
from sim.validation import (
    CHECKS,
    bullwhip_model,
    flexibility_model,
    queue_model,
    queueing,
)
from sim.validation.params import parse
from sim.validation.reduce import daily, stationary_config
from sim.validation.rows import CheckRow

pytestmark = pytest.mark.xdist_group("validation")


def _row(**kw) -> CheckRow:
    base = dict(check="x", case="c", quantity="q", expected=1.0, simulated=1.0, se=0.1, z=2.0, n=10)
    return CheckRow(**{**base, **kw})


# ----------------------------------------------------------------------------- rows


def test_signed_bias_widens_the_band_on_its_side_only():
    below = _row(bias=-0.5, bias_signed=True)
    assert below.band == pytest.approx((-0.7, 0.2))
    assert _row(simulated=0.4, bias=-0.5, bias_signed=True).passed
    assert not _row(simulated=1.4, bias=-0.5, bias_signed=True).passed
    assert _row(simulated=1.4, bias=-0.5).passed  # symmetric: the old, looser rule


def test_headline_counts_textbook_rows_only():
    rows = [
        _row(via="model"),
        _row(),
        _row(kind="identity", simulated=9.0),
        _row(kind="formula"),
        _row(kind="assumption", via="model"),
    ]
    text = headline(rows)
    assert text.startswith("2/2 textbook comparisons passed (1/1 through the model)")
    assert "identity 0/1" in text and "formula 1/1" in text and "FAILED: 1" in text


def test_identities_and_formula_rows_are_reported_apart():
    _, rows = _fast("flexibility")
    kind = {r.quantity: r.kind for r in rows}
    assert kind["sales full - long_chain ≥ 0"] == "identity"  # by construction
    assert kind["sales pairs - dedicated > 0"] == "identity"  # by construction
    assert kind["sales long_chain - pairs > 0"] == "textbook"
    p = parse(
        "bullwhip", CHECKS["bullwhip"][1], {**load_params("bullwhip", fast=True), "model": None}
    )
    bw = CHECKS["bullwhip"][0](p)
    assert {r.kind for r in bw if "product bound" in r.quantity} == {"formula"}
    assert all(r.via == "standalone" for r in bw)


def _fast(name: str):
    params = parse(name, CHECKS[name][1], load_params(name, fast=True))
    return params, CHECKS[name][0](params)


# ----------------------------------------------------------------------------- the model


def test_the_reduced_world_has_poisson_demand_and_loses_nothing():
    import sim

    cfg = stationary_config(
        n_consumers=500_000,
        mean_per_day=100,
        days=60,
        products=3,
        material_lead_hours=24,
        policy={"safety_stock": {"name": "fixed", "days_of_cover": 2}},
        initial_stock_units=800,
    )
    assert cfg.brand.products and len(cfg.brand.products) == 3
    assert len(cfg.supply.factories) == 1 and not cfg.content.calendar and not cfg.rivals
    res = sim.run(cfg, seed=3, keep_model=True)
    d = np.stack([daily(res.model.brands[0].sensing.hourly_demand[:, s]) for s in range(3)]).astype(
        float
    )
    assert d.mean() == pytest.approx(100, rel=0.05)
    assert d.var(axis=1, ddof=1).mean() == pytest.approx(d.mean(), rel=0.25)  # Poisson
    assert res.kpis["lost_sales_units"] == 0


def _model_params(**changes) -> bullwhip_model.ModelBullwhipParams:
    fast = load_params("bullwhip", fast=True)["model"]
    return bullwhip_model.ModelBullwhipParams.model_validate({**fast, **changes})


def test_model_bullwhip_rejects_a_lead_time_one_day_short(monkeypatch):
    """Negative control on the model: the same runs against Chen et al. with L' one day
    shorter (the order-up-to level a period short) fail."""
    p = _model_params(runs=1, cases=[{"forecast": "moving_average", "window": 5}])
    rows = bullwhip_model.rows(p, alpha=1e-4, seed=0)
    textbook = [r for r in rows if r.kind == "textbook"]
    assert textbook and all(r.passed for r in rows), rows
    r = textbook[0]
    cover = float(r.case.split("L'=")[1].split(" ")[0])
    wrong = bullwhip_model.expected_ratio(p.cases[0], cover - 1.0)
    assert not dataclasses.replace(r, expected=wrong).passed


def test_moq_rounding_is_the_documented_deviation():
    p = _model_params(
        runs=1,
        products_per_run=4,
        days=120,
        cases=[{"forecast": "moving_average", "window": 5, "moq_days": 5}],
    )
    (row,) = bullwhip_model.rows(p, alpha=1e-4, seed=0)
    assert row.kind == "deviation" and row.comparison == "at_least"
    assert row.simulated > 3 * row.expected and row.passed


def test_regular_only_sourcing_does_not_follow_the_chain():
    """Negative control: the shipped sourcing sends a SKU's whole need to its cheapest
    factory, capacity or not: not Jordan & Graves's allocation (hence the max_flow option)."""
    fast = load_params("flexibility", fast=True)["model"]
    p = flexibility_model.ModelFlexParams.model_validate({**fast, "copies": 10})
    cfg = flexibility_model.world("long_chain", p)
    d = cfg.to_dict()
    d["policy"]["sourcing"]["name"] = "regular_only"
    import sim
    from sim.model import build_model

    model = build_model(sim.validate(d), 0)
    model.run_for(flexibility_model.REVIEW_HOUR + 1)
    brand = model.brands[0]
    n = p.n * p.copies
    demand = brand.sensing.hourly_demand[1 : flexibility_model.REVIEW_HOUR, :n].sum(axis=0)
    ordered = brand.supply.daily_ordered[1, :n]
    assert (ordered == demand).all()  # everything ordered from one factory, capacity or not


# ----------------------------------------------------------------------------- queueing


def test_lifo_fails_the_fifo_tail(monkeypatch):
    from sim.queues import IdQueue

    def push_front(self, ids):
        if len(ids) == 0:
            return
        self._buf = np.concatenate([np.asarray(ids, dtype=np.int64), self._buf[self._head :]])
        self._head = 0

    params = {**load_params("queueing", fast=True), "model_runs": [], "model": None}
    rows = queueing.check(params)
    assert all(r.passed for r in rows)
    monkeypatch.setattr(IdQueue, "push", push_front)
    rows = queueing.check(params)
    tail = [r for r in rows if r.quantity.startswith("FIFO tail")]
    assert tail and not all(r.passed for r in tail)
    same = [r for r in rows if r.quantity.startswith(("P(wait)", "mean wait"))]
    assert all(r.passed for r in same)  # order of service is invisible to these


def test_lifo_breaks_the_model_pick_queues_tail(monkeypatch):
    """(The FIFO model passes these rows in test_validation's fast queueing run.)"""
    from sim.queues import IdQueue

    p = queue_model.ModelQueueParams.model_validate(
        {**load_params("queueing", fast=True)["model"], "hours": 2400, "runs": 1, "batches": 16}
    )

    def push_front(self, ids):
        if len(ids) == 0:
            return
        self._buf = np.concatenate([np.asarray(ids, dtype=np.int64), self._buf[self._head :]])
        self._head = 0

    monkeypatch.setattr(IdQueue, "push", push_front)
    rows = queue_model.rows(p, alpha=1e-4, seed=0)
    tail = [r for r in rows if r.quantity.startswith("FIFO tail")]
    assert tail and not all(r.passed for r in tail), tail
    server = [r for r in rows if r.kind != "textbook"]
    assert all(r.passed for r in server)  # the server still picks c an hour


# ----------------------------------------------------------------------------- mutants


def test_every_mutant_applies_to_the_current_code():
    assert len(mutants.MUTANTS) >= 10
    assert mutants.stale() == []
    names = [m.name for m in mutants.MUTANTS]
    assert len(set(names)) == len(names)


def test_a_planted_bug_is_caught_and_the_checkout_is_untouched(tmp_path):
    before = (mutants.ROOT / "sim/metrics.py").read_text(encoding="utf-8")
    out = mutants.run_mutant(mutants.mutant("drop_holding_cost"), suites=("invariants",))
    assert out.caught and out.caught_by[0][0] == "invariants"
    assert "test_money_identity" in out.caught_by[0][1]
    assert (mutants.ROOT / "sim/metrics.py").read_text(encoding="utf-8") == before


def test_mutants_command_rejects_an_unknown_mutant(capsys):
    assert mutants.main(["--only", "no_such_bug", "--no-baseline"]) == 2
    assert "no_such_bug" in capsys.readouterr().err


@pytest.mark.slow
def test_the_suites_catch_at_least_90_percent_of_the_mutants():
    assert mutants.main([]) == 0


def test_validate_mutants_takes_no_selection(capsys):
    from experiments.cli import main

    assert main(["validate", "--mutants", "--only", "bass"]) == 2
    err = capsys.readouterr().err
    assert "invalid --mutants" in err and "Traceback" not in err
