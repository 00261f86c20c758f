"""A post of one product gives its views' products as a read-only view of one row (no array
of the views' length made and filled, ``sim/content.py`` ``Post.sample_exposures``): the
same values as ``np.full``, and whole runs (one product and many, with the kernels and on
the Python paths) the same as when every batch's products are copied out."""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.kol as kol
import sim.agents.wishes as wishes
import sim.content as content
import sim.social_graph as social_graph
from sim.rng import stream


@pytest.mark.parametrize("n", [65, 66, 300, 5000])
def test_a_large_batch_of_one_product_is_a_read_only_view_of_its_row(n):
    post = content.Post("p", 0, "livestream", np.array([7]), 0, 3, 10.0, stream(n, "post"))
    followers = np.arange(10_000, dtype=np.int32)
    for _ in range(3):
        got, skus = post.sample_exposures(n, 0, followers, 10_000)
        assert len(skus) == len(got) == n
        assert skus.dtype == np.int32 and skus.tolist() == [7] * n
        assert skus.tobytes() == np.full(n, 7, np.int32).tobytes()
        assert skus.strides == (0,) and skus.base is post._sku_row  # no memory of its own
        with pytest.raises(ValueError, match="read-only"):
            skus[0] = 3
        # what the hours do with it: the same as with np.full's array
        want = np.full(n, 7, np.int32)
        k = np.arange(0, n, 3)
        assert skus[k].tolist() == want[k].tolist()
        assert np.concatenate([skus, want]).tolist() == [7] * (2 * n)
        assert skus.astype(np.int64, copy=False).tolist() == [7] * n
        assert skus[1:40].tolist() == [7] * 39 and skus.item(0) == 7
    assert (post._sku_row == 7).all()


def _result(story: str, n: int):
    over = [f"market.n_consumers={n}", "run.horizon_hours=240"]
    result = sim.run(sim.compose(story, over), seed=5, keep_model=True)
    m = result.model
    return (
        result.timeseries.to_csv(),
        repr(sorted(result.kpis.items())),  # (NaN KPIs compare by their text)
        {k: v.tobytes() for k, v in m.ledger.units.items()},
        m.population.state.tobytes(),
        m.population.exposure_count.tobytes(),
    )


def _spy(monkeypatch, copy: bool) -> list[int]:
    """Counts the batches of one product given as views of their row; with ``copy``, gives
    each as its own array instead (np.full's, as before the views)."""
    views = [0]
    real = content.Post.sample_exposures

    def sample_exposures(post, *args, **kwargs):
        got, skus = real(post, *args, **kwargs)
        if skus.strides == (0,) and len(skus) > 1:
            views[0] += 1
            if copy:
                skus = np.full(len(skus), skus[0], np.int32)
        return got, skus

    monkeypatch.setattr(content.Post, "sample_exposures", sample_exposures)
    return views


@pytest.mark.parametrize("story", [None, "daily_multisku", "two_brands"])
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("chunk", [None, 300])
def test_runs_are_those_of_copied_rows(monkeypatch, story, compiled, chunk):
    """The run with the rows' views against the run with every such batch copied
    (``np.full``'s arrays, as before); with the kernels and on the Python
    paths (which read the products of the content views), whole hours and small chunks."""
    if not compiled:
        for module, name in [
            (content, "_K"),  # the draws kernel
            (wishes, "_K"),
            (wishes, "_QUIET"),
            (social_graph, "_K"),  # the graph kernel
            (kol, "_K"),  # the build kernel
        ]:
            assert getattr(module, name) is not None  # (a kernel to switch off)
            monkeypatch.setattr(module, name, None)
    if chunk is not None:
        monkeypatch.setattr(consumers, "_WISH_CHUNK", chunk)
        monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
    views = _spy(monkeypatch, copy=False)
    n = 20_000
    viewed = _result(story, n)
    if story is None:  # the flagship: one product, batches above the row's length
        assert views[0] > 0
    before = views[0]
    copied = _spy(monkeypatch, copy=True)  # (around the first: it sees the views)
    assert _result(story, n) == viewed
    assert copied[0] == views[0] - before  # the same batches, copied
