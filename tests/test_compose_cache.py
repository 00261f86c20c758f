"""Composition is remembered (experiments.compose.ComposeCache): the same story and
overrides on the same files give the same config without Hydra; a change to any file it
read, to the client's directory, or an override gives a fresh composition; bad input and
resolver calls are never remembered."""

from __future__ import annotations

import json
import math
import shutil

import pytest

import experiments.compose as composing
from experiments.compose import ComposeCache, compose
from sim.errors import ConfigError
from tests.conftest import ROOT

SMALL = ["market.n_consumers=3000", "run.horizon_hours=48"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory, and a count of the Hydra compositions made."""
    monkeypatch.setenv("VIRALCHAIN_COMPOSE_CACHE", str(tmp_path / "cache"))
    calls = []
    real = composing.compose_dict

    def counted(story=None, overrides=None):
        calls.append((story, list(overrides or [])))
        return real(story, overrides)

    monkeypatch.setattr(composing, "compose_dict", counted)
    return tmp_path / "cache", calls


def _entries(directory):
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_the_same_composition_comes_from_the_cache_equal_to_hydras(cache):
    directory, calls = cache
    first = compose("creative_presale", [*SMALL, "setup=flexible"])
    again = compose("creative_presale", [*SMALL, "setup=flexible"])
    assert len(calls) == 1 and len(_entries(directory)) == 1
    assert again.to_json() == first.to_json() and again.config_hash() == first.config_hash()
    compose("creative_presale", [*SMALL, "setup=rigid"])  # other overrides: composed
    compose(None, [*SMALL, "setup=flexible"])  # another story: composed
    assert len(calls) == 3 and len(_entries(directory)) == 3


def test_a_changed_config_file_is_composed_again(cache, tmp_path, monkeypatch):
    _, calls = cache
    scenarios = tmp_path / "scenarios"
    shutil.copytree(ROOT / "scenarios", scenarios)
    monkeypatch.setenv("VIRALCHAIN_SCENARIOS", str(scenarios))
    assert compose(None, SMALL).seed == 0
    config = scenarios / "config.yaml"
    config.write_text(config.read_text().replace("seed: 0 ", "seed: 5 ", 1))
    assert compose(None, SMALL).seed == 5
    assert compose(None, SMALL).seed == 5
    assert len(calls) == 2


def test_the_client_directory_is_part_of_what_is_remembered(cache, tmp_path, monkeypatch):
    _, calls = cache
    client = tmp_path / "client" / "story"
    client.mkdir(parents=True)
    story = (ROOT / "scenarios" / "story" / "head_kol_livestream.yaml").read_text()
    (client / "acme.yaml").write_text(story)
    monkeypatch.setenv("VIRALCHAIN_CONFIG_DIR", str(client.parent))
    plain = compose("acme", SMALL)
    (client / "acme.yaml").write_text(story + "\nseed: 9\n")
    assert compose("acme", SMALL).seed == 9 != plain.seed
    assert len(calls) == 2


def test_bad_input_is_not_remembered(cache):
    directory, calls = cache
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"market\.n_consumers"):
            compose(None, ["market.n_consumers=-5"])
    assert len(calls) == 2 and _entries(directory) == []
    with pytest.raises(ConfigError, match="_target_"):  # refused before the cache too
        compose(None, ["market._target_=os.system"])


def test_resolver_calls_are_composed_every_time(cache, monkeypatch):
    directory, calls = cache
    monkeypatch.setenv("VIRALCHAIN_TEST_N", "4000")
    for _ in range(2):
        cfg = compose(
            None, ["market.n_consumers=${oc.env:VIRALCHAIN_TEST_N}", "run.horizon_hours=48"]
        )
    assert cfg.market.n_consumers == 4000
    assert len(calls) == 2 and _entries(directory) == []


def test_a_damaged_entry_is_composed_again(cache):
    directory, calls = cache
    compose(None, SMALL)
    (entry,) = _entries(directory)
    entry.write_text("{not json")
    assert compose(None, SMALL).run.horizon_hours == 48
    other = json.loads(entry.read_text())
    other["key"] = "another key"  # an entry that is not for this key is not used
    entry.write_text(json.dumps(other))
    compose(None, SMALL)
    assert len(calls) == 3


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_the_cache_can_be_switched_off(cache, monkeypatch, value):
    directory, calls = cache
    monkeypatch.setenv("VIRALCHAIN_COMPOSE_CACHE", value)
    assert ComposeCache.default() is None
    compose(None, SMALL)
    compose(None, SMALL)
    assert len(calls) == 2 and _entries(directory) == []


def test_an_unwritable_cache_only_means_composing_each_time(cache, tmp_path, monkeypatch):
    _, calls = cache
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("VIRALCHAIN_COMPOSE_CACHE", str(blocker / "cache"))
    assert compose(None, SMALL).run.horizon_hours == 48
    assert compose(None, SMALL).run.horizon_hours == 48
    assert len(calls) == 2


def test_the_user_cache_directory_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("VIRALCHAIN_COMPOSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ComposeCache.default().directory == tmp_path / "viralchain" / "compose"


def test_old_entries_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(ComposeCache, "MAX_ENTRIES", 4)
    c = ComposeCache(tmp_path)
    for i in range(5):
        c.put(f"{i:064x}", "{}")
    assert len(_entries(tmp_path)) == 3  # pruned to three quarters when over four
    assert c.get(f"{4:064x}") == {}


def test_only_dicts_that_json_gives_back_exactly_are_remembered():
    assert ComposeCache.exact_json({"a": [1, 2.0, None, True, "x"], "b": {"c": math.nan}})
    assert ComposeCache.exact_json({1: "int key"}) is None
    assert ComposeCache.exact_json({"t": (1, 2)}) is None
    assert ComposeCache.exact_json({"o": object()}) is None
