"""Calibration: the fits recover the model's own parameters; ``viralchain calibrate`` end to end."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import yaml

import sim
from experiments.cli import main
from sim.calibration import fit_bass, fit_hawkes
from sim.config import LivestreamConfig, ShortVideoConfig
from sim.content import Post
from sim.rng import stream

pytestmark = pytest.mark.xdist_group("calibration")

Z = 3.0  # tolerance: three of the fit's own standard errors
VIDEO = dict(reach_decay_hours=8.0, branching_ratio=0.6, share_kernel_hours=6.0)
POST_STARTS = [0, 30, 70, 100, 150, 190, 230, 260, 300, 340, 380, 420]
SEED_VIEWS = 300.0


def model_views(seed: int = 0, hours: int = 480) -> tuple[np.ndarray, np.ndarray]:
    """Hourly views of twelve short videos, drawn by the model's own cascade (sim.content)."""
    video = ShortVideoConfig(**VIDEO, cross_excitation=0.0, conversion_probability=0.004)
    live = LivestreamConfig(conversion_probability=0.08, platform_boost=1.0, opening_peak_factor=2)
    posts = [
        Post(f"p{i}", 0, "short_video", np.array([0]), s, 1, SEED_VIEWS, stream(seed, "cal", i))
        for i, s in enumerate(POST_STARTS)
    ]
    views = np.zeros(hours, dtype=np.int64)
    published = np.zeros(hours, dtype=np.int64)
    published[POST_STARTS] = 1
    for h in range(hours):
        for post in posts:
            views[h] += sum(post.views_this_hour(h, video, live))
    return views, published


@functools.lru_cache(maxsize=1)
def model_orders(n_consumers: int = 5000, p: float = 0.02, q: float = 0.4) -> np.ndarray:
    """Hourly new buyers of a product diffusing through the full model set up as Bass."""
    from sim.validation.bass import BassCase, BassParams, adoption_curves, bass_config

    params = BassParams.model_validate(
        {
            **{k: v for k, v in _bass_yaml().items() if k != "fast"},
            "alpha": 0.001,
            "seed": 0,
            "n_consumers": n_consumers,
            "horizon_days": 20,
            "products_per_run": 1,
            "replications": 1,
            "checkpoints_days": [3, 7],
            "cases": [{"innovation_per_day": p, "imitation_per_day": q}],
        }
    )
    base = sim.compose(None, params.model_overrides)
    cfg = bass_config(base, BassCase(innovation_per_day=p, imitation_per_day=q), params)
    F = adoption_curves(sim.run(cfg, seed=1), n_consumers)[0]
    return np.diff(np.concatenate([[0.0], np.round(F * n_consumers)]))


def _bass_yaml() -> dict:
    from experiments.validate import validation_dir

    return yaml.safe_load((validation_dir() / "bass.yaml").read_text())


def _within(fit, truth: dict[str, float]) -> None:
    for name, value in truth.items():
        e = fit.estimates[name]
        assert np.isfinite(e.se) and e.se > 0, (name, e)
        assert abs(e.value - value) <= Z * e.se, (name, e.value, e.se, value)
        assert e.low <= e.value <= e.high


def test_hawkes_fit_recovers_the_models_cascade_parameters():
    views, posts = model_views()
    fit = fit_hawkes(views, 1.0, posts)
    _within(fit, {**VIDEO, "seed_views": SEED_VIEWS})
    # the model has no baseline: the fit puts it at its bound
    assert fit.value("baseline_views_per_hour") < 0.5


def test_hawkes_fit_of_a_pure_cascade_with_a_baseline():
    # no posts: immigrants at a constant rate mu, each view exciting n more (kernel kappa)
    rng = stream(3, "cal-baseline")
    mu, n, kappa, hours = 20.0, 0.5, 5.0, 600
    d = np.exp(-1 / kappa)
    e, views = 0.0, np.zeros(hours)
    for h in range(hours):
        views[h] = rng.poisson(mu + e)
        e = d * e + n * (1 - d) * views[h]
    fit = fit_hawkes(views, 1.0, np.zeros(hours))
    assert "seed_views" not in fit.estimates
    _within(fit, {"baseline_views_per_hour": mu, "branching_ratio": n, "share_kernel_hours": kappa})


def test_bass_fit_recovers_p_q_and_the_market_from_the_agent_model():
    orders = model_orders()
    fit = fit_bass(orders, 1.0)
    _within(fit, {"innovation_per_day": 0.02, "imitation_per_day": 0.4})
    m = fit.estimates["market_potential"]
    assert abs(m.value - 5000) <= Z * m.se + 1


def _write(path, rows: list[str]) -> str:
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_calibrate_command_writes_an_override_file_a_run_uses(tmp_path, capsys):
    orders = model_orders()
    data = _write(
        tmp_path / "launch.csv",
        ["t_hours,orders"] + [f"{h},{int(o)}" for h, o in enumerate(orders)],
    )
    out = tmp_path / "fit"
    assert main(["calibrate", data, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "innovation_per_day" in text and "95% interval" in text and "overrides.txt" in text
    assert (out / "fit.png").stat().st_size > 0
    assert "imitation_per_day" in (out / "fit.csv").read_text()
    written = yaml.safe_load((out / "calibration.yaml").read_text())
    contacts = written["market"]["word_of_mouth"]["contacts_per_day"]
    cfg = sim.compose(None, (out / "overrides.txt").read_text().split())
    assert cfg.market.word_of_mouth.mixing == "fully_mixed"
    assert cfg.market.word_of_mouth.contacts_per_day == pytest.approx(contacts)
    q = contacts * cfg.market.word_of_mouth.conversion_probability
    assert q == pytest.approx(0.4, rel=0.15)


def test_a_views_fit_becomes_the_cascade_of_a_run(tmp_path, capsys):
    views, posts = model_views()
    data = _write(
        tmp_path / "clips.csv",
        ["t_hours,views,posts"]
        + [f"{h},{v},{p}" for h, (v, p) in enumerate(zip(views, posts, strict=True))],
    )
    out = tmp_path / "fit"
    assert main(["calibrate", data, "--out", str(out)]) == 0
    assert "branching_ratio" in capsys.readouterr().out
    cfg = sim.compose(None, (out / "overrides.txt").read_text().split())
    video = cfg.content.short_video
    assert video.branching_ratio == pytest.approx(0.6, abs=0.2)
    assert video.cross_excitation == 0.0  # the fitted branching is the whole cascade
    assert video.share_kernel_hours == pytest.approx(6.0, rel=0.4)


GOOD_HEAD = "t_hours,views"


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (["hour,likes"] + [f"{i},3" for i in range(20)], "need at least one of"),
        (["views"] + ["3"] * 20, "need a time column"),
        ([GOOD_HEAD] + [f"{i},3" for i in range(19)] + ["19,abc"], "views (row 20) = 'abc'"),
        ([GOOD_HEAD] + [f"{i},3" for i in range(19)] + ["19,-4"], "views (row 20) = '-4'"),
        ([GOOD_HEAD] + [f"{i},3" for i in range(19)] + ["19,"], "views (row 20) = ''"),
        ([GOOD_HEAD] + [f"{i},3" for i in range(5)], "too short"),
        ([GOOD_HEAD] + [f"{i * i},3" for i in range(20)], "steps must be equal"),
        ([GOOD_HEAD] + [f"{i},0" for i in range(20)], "all counts are zero"),
    ],
)
def test_malformed_files_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, rows, needle):
    data = _write(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    assert main(["calibrate", data, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert "Traceback" not in err[0]
    assert not out.exists()


def test_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
