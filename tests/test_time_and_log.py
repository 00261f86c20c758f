"""Named time units instead of the literal 24, and a keyword event-log call with defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sim
from sim.clock import HOURS_PER_DAY, HOURS_PER_WEEK
from sim.model import build_model

SIM = Path(sim.__file__).resolve().parent
# textbook harnesses state their own periods; plots convert hours to days for display
NOT_MODEL = ("validation/", "plotting.py", "clock.py")


def test_model_code_names_its_time_units():
    found = []
    for path in sorted(SIM.rglob("*.py")):
        rel = path.relative_to(SIM).as_posix()
        if rel.startswith(NOT_MODEL):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            number = isinstance(node, ast.Constant) and type(node.value) in (int, float)
            if number and node.value in (24, 168):
                found.append(f"sim/{rel}:{node.lineno}: {node.value}")
    assert found == []
    assert (HOURS_PER_DAY, HOURS_PER_WEEK) == (24, 168)


@pytest.fixture(scope="module")
def model():
    return build_model(sim.compose(None, ["market.n_consumers=500"]), seed=0)


def test_a_log_call_names_what_it_sets_and_defaults_the_rest(model):
    model.events.clear()
    model.log("note", actor="core", quantity=3)
    model.log("note", hour=7, sku="hero", value=1.5, detail="why")
    assert model.events == [
        (model.hour, "note", "core", "", 3.0, 0.0, ""),
        (7, "note", "", "hero", 0.0, 1.5, "why"),
    ]
    with pytest.raises(TypeError):
        model.log(0, "note", "core", "", 0, 0.0, "")  # the old positional form
