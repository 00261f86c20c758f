"""A large world's build on two threads (``sim.world.Pieces``): the same world, byte for byte.

The social graph (its own stream and the regions) is built on a second thread while the
main thread draws the KOLs' samples (each KOL's own stream) and the consumers' traits (the
population's stream); each stream draws the same values in the same order whatever the
threads. Worlds are built both ways and compared on every column's bytes, then run and
compared on the result tables; no thread outlives a build, and an error raised in a piece
is raised as it was raised by a build on one thread.
"""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

import sim
import sim.agents.consumers as consumers
import sim.agents.kol as kol
import sim.social_graph as social_graph
import sim.world as world
from sim.model import ViralChainModel
from sim.rng import stream


def _threads(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    """Every build from now on with ``threads`` threads, whatever its size (and whatever
    ``OMP_NUM_THREADS`` the tests run under)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(world, "BUILD_THREADS", threads)
    monkeypatch.setattr(world, "THREADS_FROM", 0 if threads > 1 else 1 << 62)


def _spy_pieces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread counts of the builds from now on (each build's :class:`world.Pieces`)."""
    made: list[int] = []
    real = world.Pieces

    def spy(threads: int) -> world.Pieces:
        made.append(threads)
        return real(threads)

    monkeypatch.setattr(world, "Pieces", spy)
    return made


def _columns(m: ViralChainModel) -> dict[str, bytes]:
    """Every random column of the built world, and what the build made of them before the
    run (each brand's event plan, the warehouses' initial stock, the ledger's units), as
    bytes (and their dtype and shape)."""
    pop = m.population
    out = {"platform": m.consumer_platform}
    for name in ("region", "price_sensitivity", "patience_hours", "return_propensity", "peers"):
        if hasattr(pop, name):  # the per-agent populations keep them on their agents
            out[name] = np.asarray(getattr(pop, name))
    for k in m.kols:
        out[f"kol {k.name}"] = k.followers
    for b in m.brands:
        plan = b.supply.event_plan
        events = [repr((e.hour, e.sku, e.units)) for e in plan.events]
        out[f"event plan {b.index}"] = np.array(events)
        out[f"event plan {b.index} planned"] = np.array([repr(plan.planned)])
    for w in m.warehouses:
        out[f"on hand {w.name}"] = w.on_hand
    for name, value in vars(m.ledger).items():  # its counters: arrays, or dicts of arrays
        for key, column in value.items() if isinstance(value, dict) else [("", value)]:
            if isinstance(column, np.ndarray):
                out[f"ledger {name} {key}"] = column
    if pop.graph is not None:
        for name, value in pop.graph.__getstate__().items():
            if isinstance(value, np.ndarray):
                out[f"graph {name}"] = value
            else:
                out[f"graph {name}"] = np.array([repr(value)])
    else:
        out["graph"] = np.array(["none"])
    return {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in out.items()}


_WORLDS = {  # name: overrides
    "flagship, 4 regions": ["market.n_consumers=30011"],
    "three platforms, KOLs on each": ["story=multi_platform", "market.n_consumers=20000"],
    "no KOLs": ["story=steady_seller", "market.n_consumers=5003"],
    "twelve KOLs": ["story=kol_matrix", "market.n_consumers=40000"],
    "no graph (peers)": ["market.n_consumers=9000", "market.social_graph.enabled=false"],
    "17 consumers": ["market.n_consumers=17"],
    # an event-aware planner reads the KOLs' samples before the run (their event plan)
    "rigid, no graph": [
        "setup=rigid",
        "market.n_consumers=20000",
        "market.social_graph.enabled=false",
    ],
    "rigid, graph": ["setup=rigid", "market.n_consumers=20000"],
    "per agent, touched": ["market.population=per_agent_touched", "market.n_consumers=3000"],
    "per agent, touched, rigid, no graph": [
        "market.population=per_agent_touched",
        "setup=rigid",
        "market.n_consumers=3000",
        "market.social_graph.enabled=false",
    ],
    "per agent": ["market.population=per_agent", "setup=rigid", "market.n_consumers=2000"],
}


@pytest.mark.parametrize("name", sorted(_WORLDS))
def test_a_world_built_on_two_threads_is_the_world_built_on_one(name, monkeypatch):
    cfg = sim.compose(None, _WORLDS[name])
    _threads(monkeypatch, 1)
    one = ViralChainModel(cfg, 3)
    _threads(monkeypatch, 2)
    two = ViralChainModel(cfg, 3)
    a, b = _columns(one), _columns(two)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.parametrize(
    "overrides",
    [
        ["story=multi_platform", "market.n_consumers=20000"],
        ["market.n_consumers=20000"],
        ["setup=rigid", "market.n_consumers=20000", "market.social_graph.enabled=false"],
        ["setup=rigid", "market.population=per_agent_touched", "market.n_consumers=3000"],
    ],
)
def test_a_run_built_on_two_threads_gives_the_same_tables(overrides, monkeypatch):
    cfg = sim.compose(None, [*overrides, "run.horizon_hours=96"])
    _threads(monkeypatch, 1)
    one = sim.run(cfg, seed=5)
    _threads(monkeypatch, 2)
    two = sim.run(cfg, seed=5)
    assert repr(one.kpis) == repr(two.kpis)  # NaN where a KPI is undefined
    for table in ("timeseries", "events"):
        x, y = getattr(one, table), getattr(two, table)
        assert x.equals(y), table


def test_a_small_world_is_built_on_one_thread_and_a_large_one_on_two(monkeypatch):
    made = _spy_pieces(monkeypatch)
    monkeypatch.setattr(world, "BUILD_THREADS", 2)
    monkeypatch.setattr(world, "THREADS_FROM", 10_000)
    ViralChainModel(sim.compose(None, ["market.n_consumers=9999"]), 1)
    ViralChainModel(sim.compose(None, ["market.n_consumers=10000"]), 1)
    assert made == [1, 2]


@pytest.mark.parametrize(("threads", "where"), [(1, "MainThread"), (2, "viralchain-build")])
def test_the_graph_is_built_on_the_build_thread_with_two_threads(threads, where, monkeypatch):
    """Not only the same world: with two threads the graph really is built beside the main
    thread's draws (and on the main thread with one)."""
    _threads(monkeypatch, threads)
    ran = []
    real = consumers.build

    def spy(*args, **kwargs):
        ran.append(threading.current_thread().name.split("_")[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(consumers, "build", spy)
    ViralChainModel(sim.compose(None, ["market.n_consumers=5000"]), 1)
    assert ran == [where]


def test_every_piece_is_done_before_the_build_reads_the_world(monkeypatch):
    """The KOLs' samples are drawn and the graph joined before anything after the audience
    reads them (the recorder, the event plan, the initial stock), whatever the population."""
    _threads(monkeypatch, 2)
    seen = []
    real = world.Recorder

    def spy(m):
        seen.append(
            (
                [len(k.followers) for k in m.kols],
                m.population.graph is not None,
                [t.name for t in threading.enumerate() if t.name.startswith("viralchain")],
            )
        )
        return real(m)

    monkeypatch.setattr(world, "Recorder", spy)
    for population in ("columnar", "per_agent", "per_agent_touched"):
        for graph in ("true", "false"):
            cfg = sim.compose(
                None,
                [
                    f"market.population={population}",
                    f"market.social_graph.enabled={graph}",
                    "market.n_consumers=1000",
                ],
            )
            ViralChainModel(cfg, 1)
            followers, has_graph, threads = seen.pop()
            assert all(followers), (population, graph)
            assert has_graph == (graph == "true"), (population, graph)
            assert threads == [], (population, graph)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_piece_read_inside_the_block_is_an_error_not_an_empty_value(threads, monkeypatch):
    """Inside the audience's block a KOL's sample, or the graph, kept for later is missing
    (an AttributeError), never an empty sample or no graph read silently."""
    _threads(monkeypatch, threads)
    seen = []
    real = world.ConsumerPopulation

    def spy(m, cfg, pieces):
        seen.append(hasattr(m.kols[0], "followers"))
        pop = real(m, cfg, pieces)
        seen.append(hasattr(pop, "graph"))
        return pop

    monkeypatch.setattr(world, "ConsumerPopulation", spy)
    m = ViralChainModel(sim.compose(None, ["market.n_consumers=5000"]), 1)
    assert seen == ([True, True] if threads == 1 else [False, False])
    assert len(m.kols[0].followers) and m.population.graph is not None


def test_a_piece_given_after_the_block_is_refused():
    with world.Pieces(2) as pieces:
        pass
    for way in (pieces.beside, pieces.later):
        with pytest.raises(RuntimeError, match="closed"):
            way(object(), "a", lambda: 1)


@pytest.mark.parametrize(
    ("omp", "build", "lookups"),
    [(None, 2, 2), ("1", 1, 1), ("2", 2, 2), ("8", 2, 2), ("0", 2, 2), ("-1", 2, 2), ("x", 2, 2)],
)
def test_omp_num_threads_caps_the_builds_and_the_look_ups_threads(omp, build, lookups, monkeypatch):
    """A sweep's worker (joblib sets ``OMP_NUM_THREADS=1`` there) builds and looks up on
    one thread; anything but a positive integer is ignored."""
    _threads(monkeypatch, 2)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 2)
    monkeypatch.setattr(social_graph, "SPLIT_FROM", 2)
    if omp is not None:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    made = _spy_pieces(monkeypatch)
    ViralChainModel(sim.compose(None, ["market.n_consumers=1000"]), 1)
    assert made == [build]
    g = _graph(2_000, 5)
    ran = []
    real_targets = social_graph.SocialGraph._edge_targets

    def spy(self, src, j):
        ran.append(threading.current_thread().name)
        return real_targets(self, src, j)

    monkeypatch.setattr(social_graph.SocialGraph, "_edge_targets", spy)
    g.edge_targets(np.arange(100), np.zeros(100, np.int64))
    assert len(ran) == lookups


def test_no_thread_outlives_a_build_or_a_run(monkeypatch):
    _threads(monkeypatch, 2)
    before = set(threading.enumerate())
    cfg = sim.compose(None, ["market.n_consumers=5000", "run.horizon_hours=24"])
    ViralChainModel(cfg, 1)
    assert set(threading.enumerate()) == before
    sim.run(cfg, seed=1)
    assert set(threading.enumerate()) == before


def test_importing_the_world_starts_no_thread():
    assert not [t for t in threading.enumerate() if t.name.startswith("viralchain-build")]


def _graph_fails(*args, **kwargs):
    raise ValueError("region [4] outside [0, 4)")


def _sample_fails(*args, **kwargs):
    raise RuntimeError("a KOL's sample failed")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("module", "name", "fake", "error"),
    [
        (consumers, "build", _graph_fails, ValueError),  # the piece on the second thread
        (kol, "_followers", _sample_fails, RuntimeError),  # a piece kept for the main thread
    ],
)
def test_a_piece_that_raises_raises_as_on_one_thread(
    threads, module, name, fake, error, monkeypatch
):
    _threads(monkeypatch, threads)
    monkeypatch.setattr(module, name, fake)
    before = set(threading.enumerate())
    with pytest.raises(error) as caught:
        ViralChainModel(sim.compose(None, ["market.n_consumers=5000"]), 1)
    assert str(caught.value) in ("region [4] outside [0, 4)", "a KOL's sample failed")
    assert set(threading.enumerate()) == before


def test_the_main_threads_error_waits_for_the_piece_beside_it(monkeypatch):
    _threads(monkeypatch, 2)
    finished = []
    real = consumers.build

    def slow_graph(*args, **kwargs):
        graph = real(*args, **kwargs)
        finished.append(True)
        return graph

    monkeypatch.setattr(consumers, "build", slow_graph)
    monkeypatch.setattr(kol, "_followers", _sample_fails)
    with pytest.raises(RuntimeError, match="a KOL's sample failed"):
        ViralChainModel(sim.compose(None, ["market.n_consumers=5000"]), 1)
    assert finished == [True]  # the graph's thread was waited for, not left running


@pytest.mark.parametrize("threads", [1, 2])
def test_pieces_run_in_the_order_given_and_set_their_results(threads):
    class Target:
        pass

    order: list[str] = []
    t = Target()
    with world.Pieces(threads) as pieces:
        pieces.beside(t, "a", lambda: order.append("a") or 1)
        pieces.later(t, "b", lambda: order.append("b") or 2)
        pieces.beside(t, "c", lambda: order.append("c") or 3)
        pieces.later(t, "d", lambda: order.append("d") or 4)
    assert (t.a, t.b, t.c, t.d) == (1, 2, 3, 4)
    assert [x for x in order if x in "ac"] == ["a", "c"]
    assert [x for x in order if x in "bd"] == ["b", "d"]


# ---------------------------------------------------------------- the run's look-ups


def _graph(n: int, seed: int, regions: int = 3, **changes):
    params = sim.compose().market.social_graph.model_copy(update=changes)
    region = stream(seed, "split-region").integers(0, regions, n).astype(np.int16)
    return social_graph.build(region, regions, params, stream(seed, "graph"))


@pytest.mark.parametrize(
    ("n", "seed", "regions", "changes"),
    [
        (5_000, 2, 3, {}),
        (3_000, 3, 1, {"community_size_mean": 1.2}),  # many alone in their community
        (2_500, 4, 5, {"within_community": 1.0, "within_region": 0.0}),
        (4_000, 6, 4, {"within_community": 0.0, "within_region": 1.0}),
    ],
)
def test_look_ups_split_over_two_threads_find_the_same_targets(
    n, seed, regions, changes, monkeypatch
):
    """Batches of 17 to 200,001 edges (halves of odd sizes, halves below and above the
    few-edge and one-chunk sizes, self-loops mended both ways) looked up in two halves on
    two threads against the same batch looked up in one call."""
    monkeypatch.setattr(social_graph, "_LOOKUPS", 1 << 12)  # several chunks in each half
    g = _graph(n, seed, regions, **changes)
    r = np.random.default_rng(seed)
    for size in (17, 33, 1_001, 20_000, 200_001):
        src = r.integers(0, n, size)
        src[: size // 4] = r.integers(0, 40, size // 4)  # repeated sources
        j = (r.random(size) * g.degree[src]).astype(np.int64)
        monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 1)
        expect = g.edge_targets(src, j)
        for split_from in (2, 17, size):
            monkeypatch.setattr(social_graph, "SPLIT_FROM", split_from)
            monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 2)
            fresh = copy.deepcopy(g)  # its first look-up, split: its tables made once
            for graph in (g, fresh):
                got = graph.edge_targets(src, j)
                assert got.dtype == np.int64
                assert got.tobytes() == expect.tobytes()


@pytest.mark.parametrize("threads", [1, 2])
def test_a_split_look_ups_second_half_runs_off_the_calling_thread(threads, monkeypatch):
    g = _graph(3_000, 8)
    ran = []
    real = social_graph.SocialGraph._edge_targets

    def spy(self, src, j):
        ran.append((threading.current_thread().name, len(src)))
        return real(self, src, j)

    monkeypatch.setattr(social_graph.SocialGraph, "_edge_targets", spy)
    monkeypatch.setattr(social_graph, "SPLIT_FROM", 2)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", threads)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    g.edge_targets(np.arange(1_001), np.zeros(1_001, np.int64))
    if threads == 1:
        assert ran == [("MainThread", 1_001)]
    else:
        assert sorted(ran) == [("MainThread", 501), ("viralchain-lookups", 500)]


def test_a_split_look_up_keeps_no_whole_table_its_halves_do_not_read(monkeypatch):
    """Halves of a real split (from SPLIT_FROM edges) search the checkpoints, never the
    whole cumulative attention: the split makes only the scopes' table, not that one."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 2)
    g = _graph(5_000, 7)
    size = social_graph.SPLIT_FROM
    r = np.random.default_rng(7)
    src = r.integers(0, g.n, size)
    j = (r.random(size) * g.degree[src]).astype(np.int64)
    got = g.edge_targets(src, j)
    assert "_scope_table" in vars(g)
    assert "_cumw" not in vars(g) and "_views" not in vars(g)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 1)
    assert got.tobytes() == copy.deepcopy(g).edge_targets(src, j).tobytes()


def test_a_split_look_up_raises_the_second_halfs_error_and_leaves_no_thread(monkeypatch):
    g = _graph(3_000, 9)
    real = social_graph.SocialGraph._edge_targets

    def fails_past_1000(self, src, j):
        if len(src) and src[0] >= 1_000:
            raise IndexError("the second half failed")
        return real(self, src, j)

    monkeypatch.setattr(social_graph.SocialGraph, "_edge_targets", fails_past_1000)
    monkeypatch.setattr(social_graph, "SPLIT_FROM", 2)
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 2)
    before = set(threading.enumerate())
    src = np.r_[np.arange(500), np.arange(2_000, 2_500)]
    with pytest.raises(IndexError, match="the second half failed"):
        g.edge_targets(src, np.zeros(len(src), np.int64))
    assert set(threading.enumerate()) == before
    ok = g.edge_targets(np.arange(600), np.zeros(600, np.int64))  # both halves below 1,000
    monkeypatch.setattr(social_graph, "LOOKUP_THREADS", 1)
    assert ok.tobytes() == g.edge_targets(np.arange(600), np.zeros(600, np.int64)).tobytes()
