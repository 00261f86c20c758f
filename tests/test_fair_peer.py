"""The fair per-agent peer (``market.population=per_agent_touched``): the reference's agents
and rules, stepping only the consumers an hour touches, in distribution the same market."""

from __future__ import annotations

import pytest

import sim
from sim.agents.reference_consumers import ReferenceConsumer, TouchedReferencePopulation
from sim.model import ViralChainModel
from tests.test_equivalence import Z_MAX, _report, compare, outcome

SMALL = ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=72"]


def test_only_the_consumers_touched_in_an_hour_step(monkeypatch):
    model = ViralChainModel(sim.compose(None, [*SMALL, "market.population=per_agent_touched"]))
    pop = model.population
    assert isinstance(pop, TouchedReferencePopulation)
    stepped: list[int] = []
    heard: dict[int, set[int]] = {}
    step, hear = ReferenceConsumer.step, ReferenceConsumer.hear

    def counting_step(self, hour):
        stepped.append(hour)
        step(self, hour)

    def noting_hear(self, hour, *args, **kw):
        heard.setdefault(hour, set()).add(self.unique_id)
        hear(self, hour, *args, **kw)

    monkeypatch.setattr(ReferenceConsumer, "step", counting_step)
    monkeypatch.setattr(ReferenceConsumer, "hear", noting_hear)
    model.run_for(72)
    assert 0 < len(stepped) < 72 * pop.n / 10  # a few per hour, not the whole crowd
    for hour in range(72):
        assert stepped.count(hour) == len(heard.get(hour, ()))


@pytest.mark.xdist_group("equivalence")
def test_fair_peer_and_columnar_consumers_agree_in_distribution():
    seeds = range(8)
    table = compare(
        seeds, lambda s: outcome("columnar", s), lambda s: outcome("per_agent_touched", s)
    )
    bad = {k: v for k, v in table.items() if not abs(v[2]) <= Z_MAX}
    assert not bad, "columnar vs fair per-agent peer differ:\n" + _report(table)
