"""A large hour of many chunks finds each batch's exposures of each chunk by one stable sort
of the batch's chunk numbers (``sim/agents/wishes.py``, ``_positions_by_chunk``, from
``_SORTED_CHUNKS_FROM`` chunks): the same positions, in the same order, as
``np.flatnonzero(ids == k)`` per chunk, and whole runs the same either way; a world of one
product takes its rows' products as zeros without an array of them per chunk."""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes


@pytest.mark.parametrize("seed", range(12))
def test_positions_by_chunk_are_flatnonzeros(seed):
    r = np.random.default_rng(seed)
    n_chunks = int(r.choice([1, 2, 9, 10, 40, 300]))
    size = int(r.choice([0, 1, 5, 1000, 70_000]))
    dtype = np.uint8 if n_chunks <= 256 else np.uint32
    # some chunks left empty: ids drawn from a part of the range
    ids = r.integers(0, max(1, n_chunks - seed % 3), size).astype(dtype)
    at, ends, sizes = wishes._positions_by_chunk(ids, n_chunks)
    assert at.dtype == np.int32 and len(ends) == len(sizes) == n_chunks
    for k in range(n_chunks):
        got = at[ends[k] - sizes[k] : ends[k]]
        assert got.tolist() == np.flatnonzero(ids == k).tolist()


def _run(monkeypatch, story, chunk, sorted_from, product_rows=None):
    monkeypatch.setattr(consumers, "_WISH_CHUNK", chunk)
    monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
    monkeypatch.setattr(wishes, "_SORTED_CHUNKS_FROM", sorted_from)
    calls = [0]
    real = wishes._positions_by_chunk

    def spy(ids, n_chunks):
        calls[0] += 1
        return real(ids, n_chunks)

    monkeypatch.setattr(wishes, "_positions_by_chunk", spy)
    over = ["market.n_consumers=8000", "run.horizon_hours=240"]
    result = sim.run(sim.compose(story, over), seed=11, keep_model=True)
    m = result.model
    return calls[0], (
        result.timeseries.to_csv(),
        repr(sorted(result.kpis.items())),  # (NaN KPIs compare by their text)
        {k: v.tobytes() for k, v in m.ledger.units.items()},
        m.population.state.tobytes(),
        m.population.exposure_count.tobytes(),
    )


@pytest.mark.parametrize("story", [None, "daily_multisku"])
@pytest.mark.parametrize("chunk", [7, 40, 150])
def test_runs_with_sorted_chunks_are_those_of_flatnonzero(monkeypatch, story, chunk):
    sorted_calls, got = _run(monkeypatch, story, chunk, 2)
    assert sorted_calls > 0  # (not vacuous: hours of two chunks or more were sorted)
    plain_calls, want = _run(monkeypatch, story, chunk, 1 << 40)
    assert plain_calls == 0
    assert got == want


@pytest.mark.parametrize("chunk", [7, 40])
def test_a_one_product_world_in_chunks_is_that_of_whole_hours(monkeypatch, chunk):
    """The rows of a one-product hour decided in chunks take product 0 without an array of
    it per chunk: the run is that of whole hours (one pass per hour)."""
    calls, got = _run(monkeypatch, None, chunk, 2)
    assert calls > 0
    _, want = _run(monkeypatch, None, 1 << 30, 2)
    assert got == want
