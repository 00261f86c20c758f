"""The quiet hour's content phase, tenth pass: each shortcut held equal to the way it was.

* ``ViralChainModel.step`` looks the hour's shares up, lists the posts and cross-excites
  them only when the KOLs' broadcasts gave exposures (no exposures: no post drew a view,
  so nothing was added to look up and every post's fresh views are 0);
* ``Post.draw_views`` returns numpy's scalar Poisson draws as they come (Python ints);
* ``Post.feed_views`` asks whether the cascade is spent before working out the reach left
  (the reach first, as before, for a kernel without decay: its division by zero);
* ``Kol.broadcast`` makes its own batch of look-ups (without the hour's) at its first post
  with views.

Held against the long way on whole runs of varied worlds (several KOLs and products, live
streams, posts starting and ending, with and without the social graph, cross-excitation
on and off): the books' bytes, the events, every post's cascade and generator state.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import sim
import sim.model as model_module
from sim.content import STOP_VIEWS, Post, cross_excite
from sim.model import ViralChainModel
from sim.rng import stream


class _LongWay(ViralChainModel):
    """The step as it was: the shares resolved, the posts listed and cross-excited every
    hour; counts the hours the shortcut skips in which cross_excite had posts to consider."""

    skipped_with_posts = 0
    excited = 0
    own_batches = False  # each KOL looks its shares up itself (broadcast without ``pending``)

    def step(self) -> None:
        h = round(self.time) - 1
        self.hour = h
        shares, kols = self._shares, self.kols
        given = None if self.own_batches else shares
        per_kol = {id(k): k.broadcast(h, given) for k in kols if k.posts}
        exposures = [e for k in kols if id(k) in per_kol for e in per_kol[id(k)]]
        if shares is not None:
            shares.resolve()
        posts = [p for kol in kols for p in kol.posts]
        if len(posts) > 1:
            before = [p.excitation.hex() for p in posts]
            added = cross_excite(posts, h, self.config.content.short_video)
            if not exposures:
                type(self).skipped_with_posts += 1
                assert added == 0.0
                assert [p.excitation.hex() for p in posts] == before
            elif added > 0:
                type(self).excited += 1
        # the rest of the step as the model makes it, with these broadcasts (cross_excite
        # made above: not again)
        for k in kols:
            k.broadcast = _given(per_kol.get(id(k), []))
        real = model_module.cross_excite
        model_module.cross_excite = lambda *a: 0.0
        try:
            ViralChainModel.step(self)
        finally:
            model_module.cross_excite = real
            for k in kols:
                del k.broadcast


def _given(out: list) -> object:
    """A broadcast that gives ``out`` (made already)."""
    return lambda hour, pending=None: out


def _state(m: ViralChainModel) -> list:
    posts = [p for k in m.kols for p in k.posts]
    return [
        [(k, a.tobytes()) for k, a in sorted(m.ledger.money.items())],
        m.recorder.data.tobytes(),
        list(m.events),
        [k.n_posts for k in m.kols],
        [
            (p.post_id, p.excitation.hex(), p.views, p.finished, p.rng.bit_generator.state)
            for p in posts
        ],
    ]


WORLDS = [
    ("kol_matrix", []),
    ("kol_matrix", ["market.social_graph.enabled=false"]),
    ("head_kol_livestream", ["content.short_video.cross_excitation=0.3"]),
    ("two_brands", ["content.short_video.cross_excitation=0.2"]),
    ("multi_platform", ["content.short_video.cross_excitation=0.1"]),
    ("test_and_learn", []),
]


@pytest.mark.parametrize(("story", "changes"), WORLDS)
def test_content_skipped_without_exposures_is_the_long_way(story, changes):
    cfg = sim.compose(
        story, ["market.n_consumers=2000", "run.horizon_hours=480", "setup=flexible", *changes]
    )
    _LongWay.skipped_with_posts = _LongWay.excited = 0
    long_way = _LongWay(cfg, 3)
    long_way.run()
    short = ViralChainModel(cfg, 3)
    short.run()
    assert _state(short) == _state(long_way)
    assert short.ledger.money.keys() == long_way.ledger.money.keys()


@pytest.mark.parametrize("story", ["kol_matrix", "head_kol_livestream", "multi_platform"])
def test_a_kols_own_batch_made_at_its_first_view_is_the_hours_batch(story):
    """``Kol.broadcast`` without ``pending`` (its own batch, made at its first post with
    views) gives what the hour's one batch gives; debug mode's checks pass."""
    cfg = sim.compose(
        story,
        ["market.n_consumers=2000", "run.horizon_hours=360", "run.debug_invariants=true"],
    )
    assert cfg.market.social_graph.enabled
    own = type("_OwnBatches", (_LongWay,), {"own_batches": True})(cfg, 5)
    own.run()
    short = ViralChainModel(cfg, 5)
    short.run()
    assert _state(short) == _state(own)


def test_the_worlds_reach_both_sides_of_the_shortcut():
    """Hours skipped with several posts on air, and hours whose cross-excitation acts."""
    skipped = excited = 0
    for story, changes in WORLDS[:4]:
        cfg = sim.compose(
            story, ["market.n_consumers=2000", "run.horizon_hours=480", "setup=flexible", *changes]
        )
        _LongWay.skipped_with_posts = _LongWay.excited = 0
        _LongWay(cfg, 3).run()
        skipped += _LongWay.skipped_with_posts
        excited += _LongWay.excited
    assert skipped > 20 and excited > 20


@pytest.mark.parametrize("mean", [0.0, 1e-9, 0.3, 9.99, 10.0, 55.5])
def test_scalar_poisson_draws_are_python_ints(mean):
    rng = np.random.default_rng(4)
    for lam in (mean, np.float64(mean)):
        x = rng.poisson(lam)
        assert type(x) is int


def _spent_as_it_was(post, video) -> bool:
    """The stop of ``Post.feed_views`` before the tenth pass: the reach asked first."""
    decay = math.exp(-1.0 / video.share_kernel_hours)
    remaining_seed = post.expected_seed_views * math.exp(-(post._k + 1) / video.reach_decay_hours)
    return remaining_seed < STOP_VIEWS and post.excitation / (1 - decay) < STOP_VIEWS


@pytest.mark.parametrize("seed", range(4))
def test_the_cascade_asked_first_stops_a_post_when_it_stopped(seed):
    """The stop with the cascade asked before the reach: the same answer on random posts
    (both sides of both bounds, either side spent alone, both, neither)."""
    base = sim.compose().content.short_video
    rng = np.random.default_rng(seed)
    seen = set()
    for i in range(3000):
        video = base.model_copy(
            update={
                "reach_decay_hours": float(rng.choice([0.5, 3.0, 24.0, 200.0])),
                "share_kernel_hours": float(rng.choice([0.7, 6.0, 48.0])),
            }
        )
        k = int(rng.integers(0, 400))
        seeds = float(rng.choice([0.0, 1e-3, 40.0, 1e4]) * rng.random())
        p = Post("p", 0, "short_video", np.array([0]), 0, 30, seeds, stream(seed, "stop", i))
        p._k = k
        p.excitation = float(rng.choice([0.0, 1e-5, 1e-3, 0.01, 1.0]) * rng.random())
        views = int(rng.choice([0, 0, 1, 3]))
        before = p.excitation
        expected = copy.copy(p)
        decay = math.exp(-1.0 / video.share_kernel_hours)
        expected.excitation = decay * before + video.branching_ratio * (1 - decay) * views * 1.0
        want = _spent_as_it_was(expected, video)
        p.feed_views((views, 0), video, 1.0)
        assert p.excitation == expected.excitation
        assert p.finished is want
        reach = seeds * math.exp(-(k + 1) / video.reach_decay_hours) < STOP_VIEWS
        seen.add((reach, p.excitation / (1 - decay) < STOP_VIEWS))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_a_kernel_without_decay_divides_by_zero_when_it_did():
    """``1 - decay == 0`` (a kernel of infinite hours): the reach asked first, as it was:
    the division by zero only once the reach is spent."""
    video = sim.compose().content.short_video.model_copy(update={"share_kernel_hours": math.inf})
    assert math.exp(-1.0 / video.share_kernel_hours) == 1.0
    reaching = Post("p", 0, "short_video", np.array([0]), 0, 30, 1e9, stream(1, "inf"))
    reaching.excitation = 0.5
    reaching.feed_views((0, 0), video, 1.0)  # the reach not spent: no division
    assert not reaching.finished
    spent = Post("q", 0, "short_video", np.array([0]), 0, 30, 0.0, stream(2, "inf"))
    with pytest.raises(ZeroDivisionError):
        spent.feed_views((0, 0), video, 1.0)


def test_the_step_reads_mesas_time_where_mesa_keeps_it():
    """``step`` reads ``_time``, where Mesa's observable ``time`` keeps its value: the same
    number every hour of a run (and Mesa's descriptor still names that attribute)."""
    import mesa

    assert mesa.Model.__dict__["time"].private_name == "_time"
    seen = []

    class _Watched(ViralChainModel):
        def step(self) -> None:
            assert self._time is self.time
            seen.append(round(self.time) - 1)
            super().step()
            assert self.hour == seen[-1] + 1

    cfg = sim.compose("kol_matrix", ["market.n_consumers=500", "run.horizon_hours=50"])
    _Watched(cfg, 1).run()
    assert seen == list(range(50))


@pytest.mark.parametrize("kind", ["short_video", "livestream"])
def test_feed_views_counts_the_hours_views(kind):
    """A post's three counts after hours of 0, 1 and many views (an hour without views
    adds nothing; any other adds its followers', shares' and all views)."""
    video = sim.compose().content.short_video
    p = Post("p", 0, kind, np.array([0]), 0, 30, 1e6, stream(3, "feed"))
    want = [0, 0, 0]
    for followers, others in [(0, 0), (1, 0), (0, 1), (0, 0), (7, 5), (1, 0)]:
        p.feed_views((followers, others), video, 0.5)
        want = [want[0] + followers, want[1] + others, want[2] + followers + others]
        assert [p.follower_views, p.share_views, p.views] == want
        assert p.last_views == followers + others
