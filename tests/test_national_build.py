"""Building a national audience faster: the same world, drawn from the same streams.

The world is built with numpy's requests for huge pages off (``sim/world.py``); the social
graph's construction (``sim/social_graph.py``) is checked against the one it replaced, kept
here as the oracle, on varied worlds: every column's bytes and the generator's state after.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.social_graph as social_graph
import sim.world as world
from sim.model import ViralChainModel
from sim.rng import stream

_SWITCH = np._core.multiarray._set_madvise_hugepage


def _huge_pages_requested() -> bool:
    before = _SWITCH(True)
    _SWITCH(before)
    return bool(before)


@pytest.mark.parametrize("setting", [True, False])
def test_the_world_is_built_without_huge_pages_and_the_setting_comes_back(setting, monkeypatch):
    seen = []
    build = world._build

    def spy(m):
        seen.append(_huge_pages_requested())
        build(m)

    monkeypatch.setattr(world, "_build", spy)
    before = _SWITCH(setting)
    try:
        ViralChainModel(sim.compose(None, ["market.n_consumers=2000"]), 1)
        assert seen == [False]
        assert _huge_pages_requested() is setting
    finally:
        _SWITCH(before)


def test_the_setting_comes_back_when_the_build_fails():
    before = _SWITCH(True)
    try:
        with pytest.raises(RuntimeError), world.small_pages():
            assert not _huge_pages_requested()
            raise RuntimeError("a failed build")
        assert _huge_pages_requested()
    finally:
        _SWITCH(before)


@pytest.mark.parametrize(
    "p",
    [[1.0], [0.3, 0.25, 0.25, 0.2], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0], [1e-9, 1.0 - 1e-9]]
    + [list(np.random.default_rng(k).pareto(1.0, k) + 0.01) for k in (2, 15, 16, 17, 40)],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64])
def test_few_choices_are_numpys_choices_in_the_narrow_type(p, dtype):
    p = np.array(p) / np.sum(p)
    pick = social_graph._Choice(p)
    assert pick.few is (len(p) <= social_graph._Choice.FEW)
    mine, numpys = np.random.default_rng(7), np.random.default_rng(7)
    for size in (0, 1, 999, 70_001):  # in turn, from one stream
        got = pick.draw(mine, size, dtype)
        expect = numpys.choice(len(p), size=size, p=p)
        np.testing.assert_array_equal(got, expect)
        assert got.dtype == dtype
    assert mine.bit_generator.state == numpys.bit_generator.state


def test_the_regions_are_drawn_as_numpy_chose_them(monkeypatch):
    monkeypatch.setattr(consumers, "_DRAW_CHUNK", 1000)  # many chunks, drawn in turn
    cfg = sim.compose(None, ["market.n_consumers=30011"])
    m = ViralChainModel(cfg, 3)
    share = m.geo.population_share
    expect = stream(3, "population").choice(len(share), size=30011, p=share)
    np.testing.assert_array_equal(m.population.region, expect)
    assert m.population.region.dtype == np.uint8
