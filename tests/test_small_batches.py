"""Hours of a few exposures take a short path (``sim/agents/wishes.py``): their
wishes are decided on Python lists (``_few_wish_rows``). It must give exactly what the numpy
path gives: checked on golden runs with the short path forced off and forced on for every
hour (and against the numpy path kernel by kernel in ``tests/test_few_exposures.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.wishes as wishes
from sim.content import Exposures
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT
from tests import golden

RECORDED = json.loads(golden.DIGESTS.read_text())
CASES = ["head_kol_livestream/flexible", "two_brands/rigid", "steady_seller/flexible"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("small", [0, 1 << 18])
def test_either_path_gives_the_recorded_outputs(case, small, tmp_path, monkeypatch):
    monkeypatch.setattr(wishes, "_SMALL_BATCH", small)  # never / every hour
    story, setup = case.split("/")
    assert golden.digest_case(story, setup, tmp_path) == RECORDED[case]


def test_the_short_path_runs_and_meets_repeated_exposures(monkeypatch):
    """The test above would pass vacuously if the short path never saw a group of two."""
    seen = []
    original = consumers.ConsumerPopulation._few_wish_rows

    def counting(self, hour, cons, skus, *rest):
        seen.append((len(cons), len(set(zip(cons, skus, strict=True)))))
        return original(self, hour, cons, skus, *rest)

    monkeypatch.setattr(consumers.ConsumerPopulation, "_few_wish_rows", counting)
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=240"])
    sim.run(cfg, seed=3)
    assert len(seen) > 20
    monkeypatch.setattr(wishes, "_SMALL_BATCH", 1 << 18)
    seen.clear()
    sim.run(cfg, seed=3)
    assert any(n > k for n, k in seen)  # some exposures shared a consumer and product


def test_concatenated_batches_keep_channel_kol_and_quantity():
    a = Exposures(np.array([3, 1]), np.array([0, 1], np.int32), CH_LIVE, 2)
    b = Exposures(np.array([5]), np.array([1], np.int32), CH_ORGANIC, -1)
    c = Exposures(np.array([7]), np.array([0], np.int32), CH_REVISIT, -1, quantity=np.array([4]))
    got = wishes._concat([a, b, c])
    np.testing.assert_array_equal(got[0], [3, 1, 5, 7])
    np.testing.assert_array_equal(got[2], [CH_LIVE, CH_LIVE, CH_ORGANIC, CH_REVISIT])
    np.testing.assert_array_equal(got[3], [2, 2, -1, -1])
    np.testing.assert_array_equal(got[4], [1, 1, 1, 4])
    assert [x.dtype for x in got] == [np.int64, np.int64, np.int8, np.int32, np.int64]
    plain = wishes._concat([a, b])
    np.testing.assert_array_equal(plain[4], [1, 1, 1])
    assert plain[4].dtype == np.int64


@pytest.mark.parametrize("small", [0, 1 << 18])
def test_chunked_hours_keep_their_books_on_either_path(small, tmp_path, monkeypatch):
    """Cut into chunks of a few exposures, an hour's books go through ``_ConversionBooks``:
    the short path's share of them must be the numpy path's."""
    monkeypatch.setattr(consumers, "_WISH_CHUNK", 7)
    monkeypatch.setattr(wishes, "_WISH_CHUNK", 7)
    monkeypatch.setattr(wishes, "_SMALL_BATCH", small)
    assert golden.digest_case("two_brands", "flexible", tmp_path) == RECORDED["two_brands/flexible"]
