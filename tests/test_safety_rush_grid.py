"""The shipped ``safety_rush`` grid and its Optuna study stay in a regime where both levers act.

A flat grid (every point the same profit and fill rate on every seed) makes any policy search
look as good as the grid for free and breaks DESIGN §9 ("every lever has a regime"). The
grid's own fixed overrides, read from ``scenarios/sweep/safety_rush.yaml``, are run at a tiny
size on one seed with each lever moved from its first grid value to its last.
"""

from __future__ import annotations

import functools

import yaml

import sim
from tests.conftest import ROOT

SWEEP = ROOT / "scenarios" / "sweep" / "safety_rush.yaml"
STUDY = ROOT / "scenarios" / "optimise" / "safety_rush.yaml"
BOX = ROOT / "scenarios" / "optimise" / "safety_rush_box.yaml"
COVER, THRESHOLD = "policy.safety_stock.days_of_cover", "policy.rush.threshold"
TINY = ("market.n_consumers=2000", "run.horizon_hours=240")


def _params(path) -> dict[str, str]:
    return {
        k: str(v) for k, v in yaml.safe_load(path.read_text())["hydra"]["sweeper"]["params"].items()
    }


def _grid() -> tuple[str, list[str], list[float], list[float]]:
    """The grid's story, fixed overrides, days of cover and thresholds."""
    params = _params(SWEEP)
    story = params.pop("story")
    params.pop("replication")
    covers = [float(v) for v in params.pop(COVER).split(",")]
    thresholds = [float(v) for v in params.pop(THRESHOLD).split(",")]
    assert not any("," in v or "(" in v for v in params.values()), params  # the rest is fixed
    return story, [f"{k}={v}" for k, v in params.items()], covers, thresholds


@functools.lru_cache(maxsize=4)
def _kpis(cover: float, threshold: float) -> tuple[float, float]:
    story, fixed, _, _ = _grid()
    cfg = sim.compose(story, [*fixed, *TINY, f"{COVER}={cover}", f"{THRESHOLD}={threshold}"])
    k = sim.run(cfg, seed=0).kpis
    return k["profit"], k["fill_rate"]


def test_the_shipped_grid_is_not_flat_on_either_lever():
    _, _, covers, thresholds = _grid()
    assert len(covers) >= 2 and len(thresholds) >= 2
    base = _kpis(covers[0], thresholds[0])
    more_cover = _kpis(covers[-1], thresholds[0])
    later_trigger = _kpis(covers[0], thresholds[-1])
    # days of cover moves both objectives on the same seed (more stock held: more fill)
    assert more_cover[0] != base[0] and more_cover[1] > base[1]
    # so does the stock-out trigger
    assert later_trigger[0] != base[0] and later_trigger[1] != base[1]


def _bounds(spec: str) -> tuple[float, float]:
    """``tag(log, interval(a, b))`` -> (a, b): the studies search on a log scale."""
    assert spec.startswith("tag(log, interval(") and spec.endswith("))"), spec
    low, high = spec[len("tag(log, interval(") : -2].split(",")
    return float(low), float(high)


def test_the_study_searches_the_grid_regime_over_the_grid_ranges():
    grid, study = _params(SWEEP), _params(STUDY)
    box = {**study, **_params(BOX)}  # the box study overrides the levers' ranges only
    levers = {COVER, THRESHOLD, "replication"}
    for searched in (study, box):
        assert {k: v for k, v in searched.items() if k not in levers} == {
            k: v for k, v in grid.items() if k not in levers
        }
    _, _, covers, thresholds = _grid()
    # the box study searches exactly the grid's box
    assert _bounds(box[COVER]) == (covers[0], covers[-1])
    assert _bounds(box[THRESHOLD]) == (thresholds[0], thresholds[-1])
    # the natural-domain study's ranges hold the grid's box
    low, high = _bounds(study[COVER])
    assert low <= covers[0] and high >= covers[-1]
    low, high = _bounds(study[THRESHOLD])
    assert low <= thresholds[0] and high >= thresholds[-1]


def test_the_study_spends_fewer_runs_than_the_grid():
    """The study's budget (24 trials screened on 2 replications, the 8 leading confirmed on
    the other 3: 72 runs; the box study inherits it) is below the grid's (16 policies x 5
    replications: 80 runs), and a confirmed trial has the grid's replications."""
    study = yaml.safe_load(STUDY.read_text())
    box = yaml.safe_load(BOX.read_text())
    assert "optimise" not in box and "n_trials" not in box["hydra"]["sweeper"]
    node, trials = study["optimise"], study["hydra"]["sweeper"]["n_trials"]
    screen, confirm, reps = node["screen_replications"], node["confirm"], node["replications"]
    _, _, covers, thresholds = _grid()
    grid_reps = _params(SWEEP)["replication"]
    assert grid_reps == f"range(0,{reps})"
    assert trials * screen + confirm * (reps - screen) < len(covers) * len(thresholds) * reps
