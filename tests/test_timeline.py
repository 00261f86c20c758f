"""The timeline in one place: the model registers every schedule from schedule_timeline."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import mesa
import pytest

import sim
from experiments.cli import main
from sim.model import PHASES, ViralChainModel, build_model

SIM = Path(sim.__file__).resolve().parent
SMALL = ["market.n_consumers=2000"]


def _pending_events(model: mesa.Model) -> int:
    return len(model._event_list._events)  # Mesa's event list (no public count in 3.5.1)


@pytest.mark.parametrize(
    "story", ["head_kol_livestream", "test_and_learn", "seasonal_hotspot", "two_brands"]
)
def test_every_event_pending_at_the_start_was_registered_by_the_timeline(story):
    model = build_model(sim.compose(story, SMALL), seed=0)
    own = _pending_events(mesa.Model(rng=0))  # Mesa's own (the model's step)
    assert model.timeline
    assert _pending_events(model) == own + len(model.timeline)


def test_the_timeline_lists_reviews_cutoffs_and_the_content_calendar():
    cfg = sim.compose("head_kol_livestream", [*SMALL, "setup=flexible"])
    tl = sim.timeline(cfg)
    recurring = {(e.what.split(".")[-1], e.actor) for e in tl.recurring()}
    brand = cfg.brand.name
    assert ("review", brand) in recurring
    for name, carrier in cfg.logistics.carriers.items():
        hours = sorted({e.start_hour for e in tl.recurring() if e.actor == name})
        assert hours == sorted(set(carrier.dispatch_hours))
    posts = [e for e in tl.once() if e.what == "Kol.publish_due"]
    assert {e.start_hour for e in posts} >= {p.at_hour for p in cfg.content.calendar}
    text = tl.render()
    assert "every hour, in order:" in text and "Carrier.dispatch" in text


def test_disruptions_and_policy_plans_are_on_the_timeline():
    cfg = sim.compose("test_and_learn", SMALL)
    whats = {e.what for e in sim.timeline(cfg).once()}
    assert any("decide" in w for w in whats)  # the test-and-learn decision
    cfg = sim.compose(None, [*SMALL, "disruption=factory_outage"])
    whats = {e.what for e in sim.timeline(cfg).once()}
    assert {"_Disruption.begin", "_Disruption.end"} <= whats


def test_no_agent_or_policy_registers_a_recurring_schedule():
    found = []
    for path in sorted(SIM.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("every", "schedule_recurring")
                and path.name != "model.py"
            ):
                found.append(f"{path.relative_to(SIM)}:{node.lineno}")
    assert found == []


def test_the_phases_are_step_in_order():
    """Each phase names the call that does it; step() makes those calls in that order."""
    src = inspect.getsource(ViralChainModel.step)
    calls = [re.search(r"\(([\w.]+)", what).group(1).split(".")[-1] for _, what in PHASES]
    where = [src.find(c) for c in calls]
    assert -1 not in where and where == sorted(where)


def test_viralchain_timeline_prints_the_timeline(capsys):
    assert main(["timeline", "story=head_kol_livestream", "setup=rigid", *SMALL]) == 0
    out = capsys.readouterr().out
    assert out.startswith("head_kol_livestream — rigid setup")
    assert "recurring" in out and "review" in out and "Kol.publish_due" in out


def test_viralchain_timeline_refuses_a_bad_story(capsys):
    assert main(["timeline", "story=nope"]) == 2
    err = capsys.readouterr().err
    assert "story = 'nope'" in err and "Traceback" not in err
