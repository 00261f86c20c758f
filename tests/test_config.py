"""Configuration: composition, validation, and clear errors for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import sim
from experiments.compose import group_options
from sim.errors import ConfigError


def problems(overrides: list[str]) -> list[tuple[str, object, str]]:
    with pytest.raises(ConfigError) as exc:
        sim.compose(None, overrides)
    return exc.value.problems


def test_default_compose_is_the_flagship_rigid_setup():
    cfg = sim.compose()
    assert cfg.meta.story == "head_kol_livestream"
    assert cfg.meta.setup == "rigid"
    assert list(cfg.supply.factories) == ["core"]
    assert list(cfg.logistics.warehouses) == ["central"]


def test_flexible_setup_adds_factory_warehouse_and_policies():
    cfg = sim.compose(None, ["setup=flexible"])
    assert cfg.meta.setup == "flexible"
    assert cfg.supply.factories["flex"].role == "quick_response"
    assert cfg.logistics.warehouses["forward_south"].kind == "forward"
    assert cfg.policy.routing.name == "nearest_with_stock"
    assert cfg.policy.sourcing.name == "base_surge"
    # the core factory is inherited from the rigid preset, not written twice
    assert cfg.supply.factories["core"] == sim.compose().supply.factories["core"]


def test_command_line_override_beats_setup_preset():
    cfg = sim.compose(None, ["setup=flexible", "policy/routing=assigned"])
    assert cfg.policy.routing.name == "assigned"


@pytest.mark.parametrize(
    ("override", "field", "allowed"),
    [
        (
            "supply.factories.core.capacity_units_per_day=-5",
            "supply.factories.core.capacity_units_per_day",
            "greater than or equal to 0",
        ),
        (
            "market.word_of_mouth.recommend_probability=1.5",
            "market.word_of_mouth.recommend_probability",
            "less than or equal to 1",
        ),
        ("market.n_consumers=lots", "market.n_consumers", "valid integer"),
        (
            "content.short_video.branching_ratio=1.2",
            "content.short_video.branching_ratio",
            "less than 1",
        ),
        ("+market.colour=blue", "market.colour", "unknown key"),
        ("+flux_capacitor=1", "flux_capacitor", "unknown key"),
        ("flux_capacitor=1", "flux_capacitor", "unknown key"),
        ("setup=wobbly", "setup", "must be one of ['flexible', 'rigid']"),
        ("story=atlantis", "story", "must be one of"),
        ("policy/routing=teleport", "policy/routing", "must be one of"),
        ("policy.forecast.name=crystal_ball", "policy.forecast.name", "must be one of"),
        ("supply.factories.core.region=mars", "supply.factories.core.region", "must be one of"),
    ],
)
def test_bad_input_names_field_value_and_what_is_allowed(override, field, allowed):
    found = problems([override])
    assert len(found) >= 1
    f, _value, what = found[0]
    assert f == field
    assert allowed in what
    text = str(ConfigError(found))
    assert field in text and "invalid configuration" in text
    bad_value = override.split("=", 1)[1]
    assert bad_value in text


def test_every_problem_is_reported_at_once():
    found = problems(["market.n_consumers=-1", "market.consumer.late_cancel_probability=2"])
    fields = {f for f, _, _ in found}
    assert {"market.n_consumers", "market.consumer.late_cancel_probability"} <= fields


def test_cross_references_are_checked():
    found = problems(
        [
            "+content.calendar=[{kol: ghost, at_hour: 1, kind: short_video, "
            "skus: [], duration_hours: 1}]"
        ]
    )
    assert any("kol" in f for f, _, _ in found) or any("calendar" in f for f, _, _ in found)


def test_config_is_frozen_and_hash_is_stable():
    a, b = sim.compose(), sim.compose()
    assert a.config_hash() == b.config_hash()
    assert sim.compose(None, ["seed=2"]).config_hash() != a.config_hash()
    with pytest.raises(ValidationError):
        a.seed = 5  # type: ignore[misc]


def test_every_group_option_composes():
    for group in ("setup", "story", "supply", "logistics"):
        for option in group_options(group):
            sim.compose(None, [f"{group}={option}"])
    for family in ("forecast", "safety_stock", "routing", "deployment", "sourcing"):
        for option in group_options(f"policy/{family}"):
            cfg = sim.compose(None, [f"policy/{family}={option}"])
            assert getattr(cfg.policy, family).name == option
