"""A model copied mid-run (``copy.deepcopy``) runs on as the original does: the copy's
stock arrays are views of its own holdings' buffer again (a copy's arrays are copies,
detached from any buffer) and the books kept from the buffer are made again
(``ViralChainModel.__setstate__``, ``Recorder.__setstate__``). Copy and original, each run
to the end, give the bytes of a run never copied: the run table, the events, the KPIs and
working capital; also in debug mode."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import sim
from sim import metrics
from sim.model import ViralChainModel

CASES = [
    (),
    ("setup=flexible",),
    ("story=two_brands",),
    ("story=creative_presale", "setup=flexible"),
]
HORIZON = 168


def _model(extra: tuple[str, ...], debug: bool) -> ViralChainModel:
    overrides = ["market.n_consumers=20000", f"run.horizon_hours={HORIZON}", *extra]
    if debug:
        overrides.append("run.debug_invariants=true")
    return ViralChainModel(sim.compose(None, overrides), 5)


def _finish(m: ViralChainModel) -> dict[str, object]:
    """Run ``m`` to the horizon, a day at a time, and what it gives."""
    while m.hour < HORIZON:
        m.run_for(min(24, HORIZON - m.hour))
    m.population.expire_waiting()
    kpis = [metrics.compute(metrics.brand_totals(m, b)) for b in range(len(m.brands))]
    return {
        "table": m.recorder.data.tobytes(),
        "events": repr(m.events),
        "kpis": repr(kpis),
        "working_capital": m.working_capital.tobytes() + m.peak_working_capital.tobytes(),
        "on_hand": b"".join(w.on_hand.tobytes() for w in m.warehouses),
    }


def _stocks_in_the_buffer(m: ViralChainModel) -> None:
    """Every stock and flow array of ``m`` is a view of its holdings' buffer."""
    for holdings in (m.holdings, m.hour_flows):
        assert holdings.intact()
        for owner, name, _ in holdings._views:
            assert np.shares_memory(getattr(owner, name), holdings.buffer), name


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("extra", CASES)
def test_a_copy_runs_on_as_the_original(extra, debug):
    want = _finish(_model(extra, debug))
    m = _model(extra, debug)
    m.run_for(48)
    assert m._wc_books is not None and m.recorder._stock_sums is not None  # books kept
    deep = copy.deepcopy(m)
    _stocks_in_the_buffer(deep)
    for w in deep.warehouses:  # the copy's stocks are its own
        assert not np.shares_memory(w.on_hand, m.holdings.buffer)
    assert _finish(deep) == want
    assert _finish(m) == want


def test_an_unpickled_model_runs_on_as_the_original():
    extra = ("setup=flexible",)
    want = _finish(_model(extra, False))
    m = _model(extra, False)
    m.run_for(72)
    back = pickle.loads(pickle.dumps(m))
    _stocks_in_the_buffer(back)
    assert _finish(back) == want
    assert _finish(m) == want


def test_intact_finds_an_array_out_of_the_buffer():
    m = _model((), False)
    assert m.holdings.intact()
    w = m.warehouses[0]
    w.on_hand = w.on_hand.copy()  # rebound
    assert not m.holdings.intact()
