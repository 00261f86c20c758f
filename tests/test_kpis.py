"""The KPI catalogue (sim/kpis.py) matches the KPIs sim/metrics.py computes, one for one."""

from __future__ import annotations

from collections import Counter

import pytest

from sim import kpis, metrics


def test_every_computed_kpi_has_exactly_one_catalogue_entry_and_vice_versa():
    names = [k.name for k in kpis.CATALOGUE]
    assert [n for n, c in Counter(names).items() if c > 1] == []
    assert set(names) == set(metrics.KPIS)
    assert names == list(metrics.KPIS), "the catalogue is in the order of the runs table"


def test_every_entry_is_complete_and_uses_known_units_and_groups():
    labels = [k.label for k in kpis.CATALOGUE]
    assert len(set(labels)) == len(labels), "labels name one KPI each"
    for k in kpis.CATALOGUE:
        assert k.unit in kpis.UNITS, k.name
        assert k.group in kpis.GROUPS, k.name
        assert k.better in ("higher", "lower", "neither"), k.name
        assert k.label and k.meaning and "\n" not in k.meaning, k.name
        assert k.sign == {"higher": 1, "lower": -1, "neither": 0}[k.better]


def test_units_and_directions_agree_with_the_metrics():
    for name in metrics.COST_KPIS:
        assert kpis.kpi(name).unit == "money" and kpis.kpi(name).better == "lower", name
    for name in ("revenue", "profit"):
        assert kpis.kpi(name).unit == "money" and kpis.kpi(name).better == "higher"
    for name in metrics.KPIS:
        if name.endswith(("_rate", "_share")):
            assert kpis.kpi(name).unit == "share", name
        if name.endswith("_ratio"):
            assert kpis.kpi(name).unit == "ratio", name
        if name.endswith("_units"):
            assert kpis.kpi(name).unit == "units", name
        if name.endswith("_hours") or "_hours_" in name:
            assert kpis.kpi(name).unit in ("h", "SKU-h"), name


def test_an_unknown_kpi_is_named_in_the_error():
    with pytest.raises(KeyError, match="'fil_rate' is not a KPI"):
        kpis.kpi("fil_rate")
