"""Every piece of model state has one owner that changes it through its own methods.

A scan of ``sim/`` for writes (``x.field = …``, ``x.field[i] += …``, ``np.add.at(x.field, …)``)
to fields whose owner is named below: only the owner's own methods (``self.field``) in its
own module may write them. Behaviour tests check the owners' verbs do what they say.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.ledger import Ledger

SIM = Path(sim.__file__).resolve().parent

# field → the modules whose classes own it (and write it through ``self``)
OWNED = {
    "capacity_factor": {"agents/factory.py", "agents/carrier.py"},
    "stopped": {"agents/brand.py"},
    "presale_open": {"agents/brand_selling.py"},
    "backlog_units": {"agents/brand_selling.py"},
    "backlog_region": {"agents/brand_selling.py"},
    "hourly_demand": {"agents/brand_sensing.py"},
    "hourly_views": {"agents/brand_sensing.py"},
    "signal_hour": {"agents/brand_sensing.py"},
    "response_hour": {"agents/brand_sensing.py"},
    "stockout_hours": {"agents/brand_sensing.py"},
    "daily_ordered": {"agents/brand_supply.py"},
    "pending_intents": {"ledger.py", "agents/reference_consumers.py"},
    "counts": {"ledger.py"},
    "units": {"ledger.py"},
    "money": {"ledger.py"},
    "status": {"orders.py"},
    "on_hand": {"agents/warehouse.py", "agents/factory.py"},
    "reserved": {"agents/warehouse.py"},
}
# the reference consumers (a test oracle) keep their population's tallies from each agent
SELF = {"agents/reference_consumers.py": ("self", "pop")}
_WRITERS = {"add", "subtract", "maximum", "minimum", "multiply"}  # np.<ufunc>.at / out=


def _target_field(node: ast.expr) -> tuple[str, ast.expr] | None:
    """The field written by an assignment target, and the object it belongs to."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr, node.value
    return None


def _writes(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for el in t.elts if isinstance(t, ast.Tuple) else [t]:
                    got = _target_field(el)
                    if got:
                        yield node.lineno, *got
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            in_place = f.attr == "at" and isinstance(f.value, ast.Attribute)
            if in_place and f.value.attr in _WRITERS and node.args:
                got = _target_field(node.args[0])
                if got:
                    yield node.lineno, *got
            for kw in node.keywords:
                if kw.arg == "out":
                    got = _target_field(kw.value)
                    if got:
                        yield node.lineno, *got


def foreign_writes() -> list[str]:
    """Writes to an owned field from outside its owner."""
    out = []
    for path in sorted(SIM.rglob("*.py")):
        rel = path.relative_to(SIM).as_posix()
        for line, field, obj in _writes(ast.parse(path.read_text())):
            owners = OWNED.get(field)
            if owners is None:
                continue
            mine = (
                rel in owners and isinstance(obj, ast.Name) and obj.id in SELF.get(rel, ("self",))
            )
            if not mine:
                out.append(f"sim/{rel}:{line}: writes .{field} of {ast.unparse(obj)}")
    return out


def test_no_module_writes_state_it_does_not_own():
    assert foreign_writes() == []


def test_the_scan_finds_a_foreign_write(tmp_path, monkeypatch):
    """The guard itself: a policy writing a brand's field is reported."""
    bad = "def decide(brand, sku):\n    brand.stopped[sku] = True\n"
    found = [(f, ast.unparse(o)) for _, f, o in _writes(ast.parse(bad))]
    assert found == [("stopped", "brand")]
    calls = "np.subtract.at(led.units['x'], s, q)\nnp.maximum(a, 0, out=m.ledger.counts)\n"
    assert [f for _, f, _ in _writes(ast.parse(calls))] == ["units", "counts"]


def _ledger() -> Ledger:
    return Ledger(n_sku=3, n_brand=2, n_regions=1, sku_brand=np.array([0, 0, 1]))


def test_ledger_verbs_for_waiting_wishes_defects_and_parcels():
    led = _ledger()
    led.intents_waiting(np.array([0, 2, 2]), np.array([1, 2, 3]))
    assert list(led.pending_intents) == [1, 0, 5]
    led.intents_resolved(np.array([2]), np.array([4]))
    led.shift_intents(np.array([0, 1, 0]))
    assert list(led.pending_intents) == [1, 1, 1]
    led.add_units("initial", 0, 10)
    led.add_units("defective_out", 0, 2)
    assert led.defective_share()[0] == pytest.approx(0.2)
    led.defective_found(np.array([0, 0]), np.array([1, 5]))  # never below zero
    assert led.units["defective_out"][0] == 0
    led.count_parcels(1, parcels=3, orders=5)
    assert (led.counts["parcels"][1], led.counts["orders_shipped"][1]) == (3, 5)


@pytest.fixture(scope="module")
def model():
    from sim.model import build_model

    return build_model(
        sim.compose(None, ["market.n_consumers=500", "run.horizon_hours=48"]), seed=1
    )


def test_factories_and_carriers_cut_and_restore_their_own_capacity(model):
    brand = model.brands[0]
    for agent in (brand.factories[0], brand.network.last_mile[0]):
        agent.cut_capacity(0.25)
        assert agent.capacity_factor == 0.25
        agent.restore_capacity()
        assert agent.capacity_factor == 1.0
    lm = brand.network.last_mile[0]
    lm.cut_capacity(0.0)
    assert lm.remaining_today(0) <= 0
    lm.restore_capacity()


def test_a_brand_stops_a_design_and_closes_its_presale(model):
    brand = model.brands[0]
    sku = int(brand.skus[0])
    brand.selling.set_presale(sku, True, 0, "test")
    brand.stop_design(sku, 0)
    assert brand.stopped[sku] and not brand.selling.presale_open[sku]
    assert model.design_stopped(np.array([sku]))[0]
