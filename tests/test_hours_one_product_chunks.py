"""A world of one product decides a large hour in chunks without an array of product 0 per
chunk (``sim/agents/wishes.py``, ``_wishes_in_chunks``: the rows' products made as zeros from
the wishes, a small chunk's lists from zeros): the run is that of whole hours."""

from __future__ import annotations

import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes


def _run(monkeypatch, story, chunk):
    monkeypatch.setattr(consumers, "_WISH_CHUNK", chunk)
    monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
    calls = [0]
    real = wishes.WishDecisions._wishes_in_chunks

    def spy(self, *args):
        calls[0] += 1
        return real(self, *args)

    monkeypatch.setattr(wishes.WishDecisions, "_wishes_in_chunks", spy)
    kinds = {"none": 0, "small": 0}  # the chunks' products: None (large) or zeros (small)
    rows = wishes.WishDecisions._wish_rows

    def wish_rows(self, hour, consumers_, skus, *args):
        if skus is None:
            kinds["none"] += 1
        elif len(consumers_) <= wishes._SMALL_BATCH:
            kinds["small"] += 1
        return rows(self, hour, consumers_, skus, *args)

    monkeypatch.setattr(wishes.WishDecisions, "_wish_rows", wish_rows)
    over = ["market.n_consumers=8000", "run.horizon_hours=240"]
    result = sim.run(sim.compose(story, over), seed=11, keep_model=True)
    m = result.model
    return (
        calls[0],
        kinds,
        (
            result.timeseries.to_csv(),
            repr(sorted(result.kpis.items())),  # (NaN KPIs compare by their text)
            {k: v.tobytes() for k, v in m.ledger.units.items()},
            m.population.state.tobytes(),
            m.population.exposure_count.tobytes(),
        ),
    )


@pytest.mark.parametrize("chunk", [7, 40, 200])
def test_a_one_product_world_in_chunks_is_that_of_whole_hours(monkeypatch, chunk):
    """The rows of a one-product hour decided in chunks take product 0 without an array of
    it per chunk: the run is that of whole hours (one pass per hour). Chunks of 7 are all
    small (their lists read zeros); of 40, small and large (``skus is None``); of 200, large."""
    calls, kinds, got = _run(monkeypatch, None, chunk)
    assert calls > 0  # (not vacuous: hours were decided in chunks)
    if chunk <= 40:  # small chunks: their lists read zeros
        assert kinds["small"] > 0
    if chunk > wishes._SMALL_BATCH:  # large chunks: no array of product 0 (skus None)
        assert kinds["none"] > 0
    whole, _, want = _run(monkeypatch, None, 1 << 30)
    assert whole == 0
    assert got == want
