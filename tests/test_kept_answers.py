"""The wish decision's kept answers (sim.agents.wishes): whether every price sensitivity is
finite (:meth:`WishDecisions._finite_sensitivity`) and whether the repeat boost's table is at
least 0 (:meth:`WishDecisions._unsigned_boost`) are worked out once per array and again only
for an array replaced. Debug mode works both out again every hour
(:meth:`WishDecisions.check_kept_answers`) and finds one left stale by values written into its
array in place after the first decision; in normal runs it finds none (every story runs in
debug mode in tests/test_stories.py)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.invariants import InvariantError
from sim.model import ViralChainModel


def _model(*extra: str) -> ViralChainModel:
    cfg = sim.compose(
        None,
        ["market.n_consumers=5000", "run.horizon_hours=480", "run.debug_invariants=true", *extra],
    )
    return ViralChainModel(cfg, 1)


def _until_kept(m: ViralChainModel, name: str) -> None:
    """Run hour by hour (each hour checked in debug mode) until the answer ``name`` is kept."""
    while getattr(m.population, name) is None:
        assert m.hour < 400, f"no hour kept {name}"
        m.run_for(1)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_debug_mode_finds_a_sensitivity_written_in_place(value):
    m = _model()
    _until_kept(m, "_sensitivity_known")
    m.run_for(3)  # the kept answer holds: the checks pass
    pop = m.population
    assert pop._sensitivity_known is not None and pop._sensitivity_known[1]
    pop.price_sensitivity[7] = value  # in place: the column is the same array
    with pytest.raises(InvariantError, match="price sensitivity"):
        pop.check_kept_answers()
    with pytest.raises(InvariantError, match="price sensitivity"):
        m.run_for(1)  # the hour's debug checks


def test_a_sensitivity_column_replaced_is_looked_at_again():
    m = _model()
    _until_kept(m, "_sensitivity_known")
    pop = m.population
    column = pop.price_sensitivity.copy()
    column[7] = np.inf
    pop.price_sensitivity = column  # replaced: the answer is worked out again when looked up
    assert not pop._finite_sensitivity()
    pop.check_kept_answers()
    m.run_for(3)


def test_debug_mode_finds_a_boost_table_written_in_place():
    m = _model()
    _until_kept(m, "_boost_known")
    m.run_for(3)
    pop = m.population
    table, unsigned = pop._boost_known
    assert unsigned and table is pop._seen_factors()[0]
    table[3] = -1.0  # in place: the table is the same array
    with pytest.raises(InvariantError, match="repeat boost"):
        pop.check_kept_answers()
    with pytest.raises(InvariantError, match="repeat boost"):
        m.run_for(1)
