"""The ninth pass's short paths of the model's hour (issue 21), each held against the long
way: an idle factory is not asked to produce (its hour would change nothing)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.agents.brand import Brand
from sim.agents.factory import Factory
from sim.model import ViralChainModel

_SCALARS = (int, float, bool, str, type(None))


def _state(f: Factory) -> dict[str, object]:
    """A factory's state: its scalars, its queue and the bytes of its arrays."""
    out: dict[str, object] = {}
    for k, v in vars(f).items():
        if isinstance(v, _SCALARS):
            out[k] = (type(v), repr(v))
        elif isinstance(v, np.ndarray):
            out[k] = v.tobytes()
    out["queue"] = [(id(p), p.remaining) for p in f.queue]
    out["_due"] = {h: [id(p) for p in ps] for h, ps in f._due.items()}
    return out


@pytest.mark.parametrize(
    "story,setup,extra",
    [
        ("seasonal_hotspot", "flexible", []),
        ("creative_presale", "flexible", []),
        ("steady_seller", "rigid", []),
        ("planned_megasale", "flexible", []),
        ("two_brands", "rigid", []),
        (None, "flexible", ["disruption=factory_outage"]),
    ],
)
def test_an_idle_factory_skipped_by_the_step_would_change_nothing(story, setup, extra, monkeypatch):
    """At the point of the hour where the step skips a factory, calling its ``produce``
    leaves every attribute as it was (so skipping it is the long way), and the step does
    call every factory with a queue or modules to build."""
    overrides = [f"setup={setup}", "market.n_consumers=3000", "run.horizon_hours=400"]
    cfg = sim.compose(story, [*overrides, *extra])
    produce, observe = Factory.produce, Brand.observe
    called: set[int] = set()
    checked = {"skipped": 0, "called": 0}

    def noted_produce(self, hour):
        assert self.queue or self.postponement  # the step asks only these
        called.add(id(self))
        checked["called"] += 1
        return produce(self, hour)

    def first_observe(self, hour):
        if self.index == 0:  # right after the factories' loop: the skipped ones now
            for f in self.model.factories:
                if id(f) in called:
                    continue
                before = _state(f)
                produce(f, hour)  # the long way: ask it anyway
                assert _state(f) == before, f"{f.name} at hour {hour}"
                checked["skipped"] += 1
            called.clear()
        return observe(self, hour)

    monkeypatch.setattr(Factory, "produce", noted_produce)
    monkeypatch.setattr(Brand, "observe", first_observe)
    ViralChainModel(cfg, 3).run()
    assert checked["skipped"] > 0
    if story not in ("steady_seller", "two_brands"):  # (their 400 hours make nothing)
        assert checked["called"] > 0


@pytest.mark.parametrize("story", ["head_kol_livestream", "kol_matrix", None])
def test_a_kol_keeps_no_finished_post_after_its_broadcast(story, monkeypatch):
    """The broadcast drops the posts that finished in its hour (noted as it goes, instead
    of asking every post again): at the end of every hour no KOL holds a finished post."""
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=300"])
    m = ViralChainModel(cfg, 2)
    seen = {"finished": 0}
    for _ in range(300):
        before = {id(p) for kol in m.kols for p in kol.posts}
        m.run_for(1)
        for kol in m.kols:
            assert not any(p.finished for p in kol.posts)
        after = {id(p) for kol in m.kols for p in kol.posts}
        seen["finished"] += len(before - after)
    assert seen["finished"] > 0


def test_debug_mode_finds_a_kols_stale_hourly_settings():
    """What a KOL's broadcast lists at its first hour is checked in debug mode: a feedback
    replaced during the run is found."""
    cfg = sim.compose(
        "head_kol_livestream",
        ["market.n_consumers=2000", "run.horizon_hours=200", "run.debug_invariants=true"],
    )
    m = ViralChainModel(cfg, 1)
    m.run_for(150)
    assert any(kol._hourly is not None for kol in m.kols)
    import copy

    m.feedback = copy.copy(m.feedback)
    with pytest.raises(AssertionError, match="stale hourly settings"):
        m.run_for(50)


def _share_factor_long_way(fb, skus):
    """Feedback.share_factor as it was: numpy scalars made floats with float()."""
    if not fb.cfg.page_sharing:
        return 1.0, 0.0, 0.0
    so = fb.cfg.soldout_share_penalty * float(fb.soldout_share[skus].mean())
    sl = fb.cfg.slow_share_penalty * float(fb.slow_share[skus].mean())
    total = min(so + sl, 1.0)
    if total <= 0:
        return 1.0, 0.0, 0.0
    scale = total / (so + sl)
    return 1.0 - total, so * scale, sl * scale


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_the_share_factor_of_one_product_is_the_long_ways(dtype):
    """One product's share factor read with ``.item`` gives the floats of the numpy way."""
    from sim.feedback import Feedback

    cfg = sim.compose(None, ["market.n_consumers=1000"])
    fb = Feedback(cfg.market.feedback, 7)
    assert fb.cfg.page_sharing  # (else the factor is 1 without a look)
    rng = np.random.default_rng(4)
    for _ in range(2000):
        fb.soldout_share[:] = rng.random(7) * rng.integers(0, 2, 7)
        fb.slow_share[:] = rng.random(7) ** 3
        skus = np.array([rng.integers(0, 7)], dtype=dtype)
        got = fb.share_factor(skus)
        assert all(type(x) is float for x in got)
        assert got == _share_factor_long_way(fb, skus)
