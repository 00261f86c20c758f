"""The schema stands alone: no import of the policies, one list of families, specs built once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.config import POLICY_FAMILIES
from sim.policies import registry

SIM = Path(sim.__file__).resolve().parent


def test_importing_the_schema_imports_no_policy():
    code = (
        "import sys, sim.config\n"
        "bad = sorted(m for m in sys.modules if m.startswith('sim.policies'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_schema_module_never_imports_the_policies():
    """Not even inside a function (a run-time cycle: the policies import the schema)."""
    tree = ast.parse((SIM / "config.py").read_text())
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    ]
    assert not [m for m in imported if m and m.startswith("sim.policies")]


def test_the_registry_offers_exactly_the_schemas_families_and_names():
    assert {f: tuple(registry.FAMILIES[f]) for f in registry.FAMILIES} == POLICY_FAMILIES
    assert [f for f in sim.config.PolicyConfig.model_fields if f != "replenishment"] == list(
        POLICY_FAMILIES
    )


def test_a_bad_policy_name_names_the_allowed_ones():
    with pytest.raises(sim.ConfigError, match=r"policy.rush.name = 'often': must be one of"):
        sim.compose(None, ["policy.rush.name=often"])


def test_brand_specs_are_built_once_and_anew_for_a_changed_copy():
    cfg = sim.compose(None, ["market.n_consumers=1000"])
    first, again = cfg.brand_specs(), cfg.brand_specs()
    assert first[0] is again[0] and first is not again  # cached; callers get their own list
    renamed = cfg.model_copy(update={"brand": cfg.brand.model_copy(update={"name": "other"})})
    assert renamed.brand_specs()[0].brand.name == "other"
    assert cfg.brand_specs()[0].brand.name == cfg.brand.name


def test_kol_tiers_are_written_once():
    from sim.config import TIERS, KolConfig

    assert TIERS == ("head", "mid", "tail", "koc")
    assert KolConfig.model_fields["tier"].description == " | ".join(TIERS)
    src = (SIM / "config.py").read_text()
    assert src.count('"koc"') == 1  # the Literal; everything else reads TIERS


def test_known_mean_forecast_needs_its_mean_and_returns_it():
    from sim.policies.forecast import Signals

    with pytest.raises(sim.ConfigError, match=r"policy.forecast.*known_mean needs mean_units"):
        sim.compose(None, ["policy.forecast.name=known_mean"])
    cfg = sim.compose(None, ["policy/forecast=known_mean", "policy.forecast.mean_units_per_day=42"])
    f = registry.build("forecast", cfg.policy.forecast)
    assert f.daily(Signals(np.array([1.0, 900.0]), np.zeros(2))) == 42.0
    # absent from every other configuration: their hashes (and the golden digests) stay
    assert "mean_units_per_day" not in sim.compose(None, []).to_json()


def test_max_flow_sourcing_allocates_the_maximum_flow():
    from sim.policies.sourcing import MaxFlow
    from sim.validation import flexibility

    rng = np.random.default_rng(0)
    plants = [object() for _ in range(6)]
    for name in flexibility.DESIGNS:
        links = flexibility.design(name, 6)
        for _ in range(40):
            demand = rng.poisson(6, 6)
            needs = [
                (int(demand[i]), [p for j, p in enumerate(plants) if links[i, j]]) for i in range(6)
            ]
            parts = MaxFlow.allocate(needs, [6.0] * 6, plants)
            best = flexibility.max_sales(demand[None, :].astype(float), np.full(6, 6.0), links)[0]
            assert sum(u for _, _, u in parts) == best
            per_sku, per_plant = np.zeros(6), np.zeros(6)
            for f, i, u in parts:
                assert links[i, plants.index(f)]
                per_sku[i] += u
                per_plant[plants.index(f)] += u
            assert (per_sku <= demand).all() and (per_plant <= 6).all()


def test_organic_memory_is_absent_unless_set_and_needs_the_columnar_population():
    # absent from every configuration that does not set it: hashes and golden digests stay
    assert "memory" not in sim.compose(None, []).to_dict()["market"]["organic"]
    cfg = sim.compose(None, ["+market.organic.memory.rho=0.5", "+market.organic.memory.log_sd=0.1"])
    assert cfg.market.organic.memory is not None and cfg.market.organic.memory.rho == 0.5
    with pytest.raises(sim.ConfigError, match=r"market.*organic.memory needs population"):
        sim.compose(
            None,
            [
                "market.population=per_agent",
                "+market.organic.memory.rho=0.5",
                "+market.organic.memory.log_sd=0.1",
            ],
        )
    with pytest.raises(sim.ConfigError, match=r"market.organic.memory.rho"):
        sim.compose(None, ["+market.organic.memory.rho=1", "+market.organic.memory.log_sd=0.1"])


def test_organic_memory_multiplier_has_mean_one_and_the_lognormal_ar1_autocovariance():
    from sim.agents.consumers import organic_multiplier
    from sim.config import OrganicMemory
    from sim.rng import stream

    s, rho = 0.3, 0.7
    m = organic_multiplier(OrganicMemory(rho=rho, log_sd=s), 4000, 12, stream(0, "t"))
    assert m.shape == (4000, 12) and (m > 0).all()
    assert m.mean() == pytest.approx(1.0, abs=0.01)
    for k in (0, 1, 3):  # across SKUs at fixed days: stationary from day 0
        cov = np.mean((m[:, 2] - 1.0) * (m[:, 2 + k] - 1.0))
        assert cov == pytest.approx(np.expm1(s * s * rho**k), rel=0.1)
