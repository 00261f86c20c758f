"""The brand as composed parts: each part declares its state when built, nothing sprouts later."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.model import build_model


@pytest.fixture(scope="module")
def model():
    cfg = sim.compose("head_kol_livestream", ["setup=flexible", "market.n_consumers=3000"])
    m = build_model(cfg, seed=2)
    return m


def _parts(brand):
    return {
        "brand": brand,
        "network": brand.network,
        "sensing": brand.sensing,
        "selling": brand.selling,
        "supply": brand.supply,
    }


def test_no_part_grows_undeclared_state_while_running(model):
    declared = {k: set(vars(p)) for k, p in _parts(model.brands[0]).items()}
    model.run_for(240)  # ten days: reviews, rush orders, presale, transfers
    after = {k: set(vars(p)) for k, p in _parts(model.brands[0]).items()}
    assert after == declared


def test_each_piece_of_brand_state_lives_in_one_part(model):
    state = {
        k: {a for a, v in vars(p).items() if isinstance(v, np.ndarray)}
        for k, p in _parts(model.brands[0]).items()
    }
    names = [a for attrs in state.values() for a in attrs]
    assert len(names) == len(set(names)), state
    assert "backlog_units" in state["selling"] and "hourly_demand" in state["sensing"]
    assert "daily_ordered" in state["supply"] and "candidates" in state["network"]


def test_the_candidate_walk_serves_each_wish_once_in_candidate_order(model):
    net = model.brands[0].network
    n_reg = net.candidates.shape[0]
    regions = np.arange(n_reg, dtype=np.int64)
    quantity = np.ones(n_reg, dtype=np.int64)
    avail = np.full(len(net.warehouses), n_reg, dtype=np.int64)

    def everyone(rows, units):
        return np.arange(len(rows))

    chosen = net.assign(regions, quantity, avail, everyone)
    assert (chosen == net.candidates[regions, 0]).all()  # plenty of stock: first choice
    assert avail.sum() == len(net.warehouses) * n_reg - n_reg
    none_left = np.zeros(len(net.warehouses), dtype=np.int64)
    assert (net.assign(regions, quantity, none_left, everyone) == -1).all()
    refused = net.assign(regions, quantity, avail.copy(), everyone, lambda wh: wh < 0)
    assert (refused == -1).all()


def test_every_registered_policy_fits_the_protocol_its_brand_part_expects():
    import inspect

    from sim.policies import protocols, registry

    expected = {
        "forecast": protocols.Forecast,
        "safety_stock": protocols.SafetyStock,
        "sourcing": protocols.Sourcing,
        "deployment": protocols.Deployment,
        "routing": protocols.Routing,
        "allocation": protocols.Allocation,
    }
    for family, proto in expected.items():
        methods = [n for n, v in vars(proto).items() if inspect.isfunction(v) and n[0] != "_"]
        assert methods
        for cls in registry.FAMILIES[family].values():
            for name in methods:
                want = list(inspect.signature(getattr(proto, name)).parameters)
                got = list(inspect.signature(getattr(cls, name)).parameters)
                assert got == want, (family, cls.__name__, name)
