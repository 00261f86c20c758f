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

_SWITCH = getattr(np._core.multiarray, "_set_madvise_hugepage", None)
_NO_SWITCH = pytest.mark.skipif(_SWITCH is None, reason="this numpy has no huge-page setting")


def _huge_pages_requested() -> bool:
    before = _SWITCH(True)
    _SWITCH(before)
    return bool(before)


@_NO_SWITCH
@pytest.mark.parametrize("setting", [True, False])
def test_the_world_is_built_without_huge_pages_and_the_setting_comes_back(setting, monkeypatch):
    seen = []

    def spy(step):
        def seeing(*args):
            seen.append(_huge_pages_requested())
            step(*args)

        return seeing

    for name in ("_market", "_audience", "_books"):  # every step of the build
        monkeypatch.setattr(world, name, spy(getattr(world, name)))
    before = _SWITCH(setting)
    try:
        ViralChainModel(sim.compose(None, ["market.n_consumers=2000"]), 1)
        assert seen == [False, False, False]
        assert _huge_pages_requested() is setting
    finally:
        _SWITCH(before)


@_NO_SWITCH
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


def _eager_graph(region, n_regions, p, rng):
    """The graph's columns the long way: one call per quantity (numpy's own choice with p,
    a stable argsort, bincount, the whole cumulative sum)."""
    n = len(region)
    per_region = np.bincount(region, minlength=n_regions)
    community = np.zeros(n, dtype=np.int32)
    offset = 0
    for r in range(n_regions):
        if per_region[r] == 0:
            continue
        k = max(1, round(int(per_region[r]) / p.community_size_mean))
        sizes = rng.pareto(2.0, k) + 1.0
        drawn = rng.choice(k, size=int(per_region[r]), p=sizes / sizes.sum())
        community[region == r] = offset + drawn
        offset += k
    order = np.argsort(community, kind="stable").astype(np.int32)
    comm_start = np.concatenate([[0], np.cumsum(np.bincount(community, minlength=offset))])
    cap = p.degree_max / p.degree_min
    attention = np.minimum(rng.pareto(p.degree_exponent - 1.0, n) + 1.0, cap).astype(np.float32)
    weight = attention[order]
    cumw = np.concatenate([[0.0], np.cumsum(weight.astype(np.float64))])
    deg_type = np.uint16 if p.degree_max < 2**16 else np.int32
    u = rng.random(n)  # the Pareto degrees as _pareto_int drew them before (not in place)
    a = p.degree_exponent - 1.0
    lo, hi = p.degree_min ** (-a), (p.degree_max + 1) ** (-a)
    k = np.floor((lo - u * (lo - hi)) ** (-1.0 / a))
    degree = np.clip(k, p.degree_min, p.degree_max).astype(np.int32).astype(deg_type)
    key = np.uint64(rng.integers(0, 2**63, dtype=np.int64))
    return community, order, comm_start, per_region, weight, cumw, degree, key


_WORLDS = {  # name: (consumers, region shares, graph overrides, chunk)
    "one region": (5_000, [1.0], {}, 1024),
    "four regions": (20_011, [0.3, 0.25, 0.25, 0.2], {}, 999),
    "empty regions": (20_011, [0.4, 0.0, 0.35, 0.25, 0.0], {}, 1024),
    "a few per community": (3_001, [0.5, 0.5], {"community_size_mean": 2.0}, 256),
    "one community per region": (300, [0.2, 0.8], {"community_size_mean": 1000.0}, 64),
    "many regions": (30_000, list(np.arange(1, 301) % 7), {}, 4096),
    "wide degrees": (10_000, [0.6, 0.4], {"degree_max": 70_000, "degree_exponent": 2.1}, 1000),
    "one chunk": (70_000, [0.1, 0.9], {}, 1 << 18),
    "steep degrees": (9_000, [0.5, 0.5], {"degree_exponent": 3.0}, 1000),
    "steepest degrees": (9_000, [0.5, 0.5], {"degree_exponent": 4.0, "degree_max": 40}, 1000),
    "seventeen consumers": (17, [0.5, 0.5], {}, 1024),
}


@pytest.mark.parametrize("world_name", list(_WORLDS))
def test_the_graph_is_built_as_the_long_way_builds_it(world_name, monkeypatch):
    n, shares, overrides, chunk = _WORLDS[world_name]
    monkeypatch.setattr(social_graph, "_CHUNK", chunk)
    monkeypatch.setattr(social_graph, "_COUNT_CHUNK", 777)
    params = sim.compose().market.social_graph.model_copy(update=overrides)
    shares = np.array(shares, dtype=float) / np.sum(shares)
    region = stream(5, "test-region", world_name).choice(len(shares), size=n, p=shares)
    region = region.astype(np.uint8 if len(shares) <= 256 else np.int16)
    rng, eager_rng = stream(5, "graph"), stream(5, "graph")
    g = social_graph.build(region, len(shares), params, rng)
    community, order, comm_start, per_region, weight, cumw, degree, key = _eager_graph(
        region, len(shares), params, eager_rng
    )
    for got, expect in [
        (g.community, community),
        (g.order, order),
        (g.comm_start, comm_start),
        (g.region_start, np.concatenate([[0], np.cumsum(per_region)])),
        (g.weight[:n], weight),
        (g.checkpoints, cumw[::16]),
        (g.comm_cum, cumw[comm_start]),
        (g.region_cum, cumw[g.region_start]),
        (g.degree, degree),
    ]:
        np.testing.assert_array_equal(got, expect)
        assert got.dtype == expect.dtype
        assert got.tobytes() == expect.tobytes()
    assert g.weight.tobytes()[: 4 * n] == weight.tobytes()
    assert np.isinf(g.weight[n:]).all() and len(g.weight) == (n // 16 + 1) * 16
    assert g.key == key
    assert rng.bit_generator.state == eager_rng.bit_generator.state


@pytest.mark.parametrize("most", [1 << 16, 1 << 20])  # a capped table: wide brackets
@pytest.mark.parametrize("k", [17, 5_000, 300_000])
def test_guided_choices_are_numpys_choices_whatever_the_table(k, most, monkeypatch):
    monkeypatch.setattr(social_graph._Choice, "GUIDE_MOST", most)
    rng = np.random.default_rng(k)
    sizes = rng.pareto(2.0, k) + 1.0
    sizes[::5] = 0.0  # values never drawn: brackets of equal bounds
    sizes[-3:] = 0.0  # ... at the very end too
    p = sizes / sizes.sum()
    pick = social_graph._Choice(p)
    assert pick.scale == min(max(1 << 16, 1 << (4 * k - 1).bit_length()), most)
    assert pick.guide.dtype == np.int32  # the table read at random: half the bytes
    mine, numpys = np.random.default_rng(k + 1), np.random.default_rng(k + 1)
    for size in (0, 3, 100_001):
        for dtype in (np.int64, np.int32):  # in turn, from one stream
            got = pick.draw(mine, size, dtype)
            np.testing.assert_array_equal(got, numpys.choice(k, size=size, p=p))
            assert got.dtype == dtype
    assert mine.bit_generator.state == numpys.bit_generator.state


@pytest.mark.parametrize("story", ["head_kol_livestream", "multi_platform", "kol_matrix"])
def test_followers_are_the_sorted_sample_of_the_long_way(story):
    n = 30_011  # above 10,000: the large KOLs' samples are partial shuffles, the small Floyd's
    m = ViralChainModel(sim.compose(None, [f"story={story}", f"market.n_consumers={n}"]), 4)
    for kol in m.kols:
        rng = stream(4, "kol", kol.name, "followers")
        tier = m.config.content.tiers[kol.cfg.tier]
        if kol.cfg.followers_share is None:
            rng.uniform(tier.followers_share_min, tier.followers_share_max)
        pool = np.arange(n)
        if kol.cfg.platform:
            pool = np.flatnonzero(m.consumer_platform == m.platform_names.index(kol.cfg.platform))
        k = min(round(kol.followers_share * n), len(pool))
        expect = np.sort(pool[rng.choice(len(pool), size=k, replace=False)]) if k else pool[:0]
        assert kol.followers.dtype == np.int32
        assert kol.followers.tobytes() == expect.astype(np.int32).tobytes()


@_NO_SWITCH
def test_builds_overlapping_in_threads_put_the_setting_back_once_all_are_done():
    """The first build to begin turns huge pages off, the last to end puts them back: a
    build that began first and ends first leaves them off for the one still running, and
    the setting comes back when that one ends (not the "off" it found when it began)."""
    import threading

    before = _SWITCH(True)
    inside, release, seen = threading.Event(), threading.Event(), []

    def first_build():
        with world.small_pages():
            inside.set()
            release.wait(10)

    try:
        t = threading.Thread(target=first_build)
        t.start()
        assert inside.wait(10)
        with world.small_pages():  # a second build, begun while the first runs
            release.set()
            t.join(10)  # the first ends while this one still runs
            seen.append(_huge_pages_requested())
        seen.append(_huge_pages_requested())
        assert seen == [False, True]
    finally:
        release.set()
        _SWITCH(before)


@pytest.mark.parametrize("length", [1, 4, 16, 17, 300])  # counted value by value up to 16
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_counts_are_bincounts(length, dtype, monkeypatch):
    monkeypatch.setattr(social_graph, "_COUNT_CHUNK", 1000)  # many ranges, added in turn
    rng = np.random.default_rng(length)
    for size, high in ((0, length), (1, length), (999, max(1, length - 2)), (10_007, length)):
        values = rng.integers(0, high, size).astype(dtype)  # some values unused, then none
        got = social_graph._counts(values, length)
        np.testing.assert_array_equal(got, np.bincount(values, minlength=length))
        assert got.dtype == np.int64
