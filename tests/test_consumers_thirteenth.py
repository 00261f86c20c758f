"""The consumers' hour, thirteenth pass (issue 21): each shortcut gives exactly what the way
it replaces gives (every book, the orders' columns, the schedules)."""

from __future__ import annotations

import pytest

import sim
import sim.agents.consumers as consumers
from sim.agents.wishes import BOUGHT
from sim.model import ViralChainModel
from sim.orders import RETURNED
from tests.test_consumers_eleventh import _run_books


def _books(m: ViralChainModel) -> list[bytes]:
    """:func:`_run_books` and the orders' status and defect flags."""
    book = m.orders
    return [*_run_books(m), book.status.tobytes(), book.defective.tobytes()]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["supply.quality.defect_rate=0.4", "supply.quality.detection_rate=0.0"],
        [
            "supply.quality.defect_rate=0.2",
            "supply.quality.detection_rate=0.0",
            "market.consumer.return_propensity_mean=0.5",
            "market.feedback.ratings=false",
        ],
        [
            "market.consumer.return_propensity_mean=0.3",
            "market.consumer.impulse_return_multiplier=30",
            "market.feedback.warnings=false",
        ],
        ["brand.products.hero.price=19.99", "brand.products.hero.reference_price=19.99"],
    ],
)
def test_a_few_parcels_on_python_numbers_book_as_arrays(extra, monkeypatch):
    """``receive_parcels`` of a few parcels of one product (``_FEW_PARCELS``) on Python
    numbers: a 600-hour run books what the array way books (units, money, feedback, states,
    kept units, returns and recommendations due, the orders' status and defects), with
    defective units reaching buyers or not, many returns, ratings or warnings off; the few
    way is taken for most deliveries, the array way for the larger ones (and every
    delivery the few way: the same books too)."""
    overrides = ["setup=flexible", "market.n_consumers=30000", "run.horizon_hours=600", *extra]
    cfg = sim.compose(None, overrides)
    got, sizes, large = [], [], []
    few = consumers.ConsumerPopulation._few_parcels
    receive = consumers.ConsumerPopulation.receive_parcels

    def counted(self, order_ids, hour):
        sizes.append(len(order_ids))
        return few(self, order_ids, hour)

    def received(self, order_ids, hour):  # the deliveries above the limit (the array way)
        if len(order_ids) > consumers._FEW_PARCELS:
            large.append(len(order_ids))
        return receive(self, order_ids, hour)

    monkeypatch.setattr(consumers.ConsumerPopulation, "_few_parcels", counted)
    monkeypatch.setattr(consumers.ConsumerPopulation, "receive_parcels", received)
    usual = consumers._FEW_PARCELS
    for limit in (0, usual, 1 << 30):  # none, the few, every delivery on Python numbers
        monkeypatch.setattr(consumers, "_FEW_PARCELS", limit)
        large.clear()
        m = ViralChainModel(cfg, 5)
        assert m.n_sku == 1
        m.run_for(600)
        got.append(_books(m))
        if limit == usual:
            assert sizes and max(sizes) <= usual
            assert large  # larger deliveries too, the array way
    assert got[0] == got[1] == got[2]
    if any("defect_rate" in x for x in extra):  # defective parcels reached buyers
        assert m.orders.defective.any()
    assert (m.orders.status == RETURNED).any()


@pytest.mark.parametrize("story", ["setup=flexible", "story=multi_platform"])
def test_the_adopters_are_the_consumers_who_bought(story):
    """Each product's adopters (counted from the offers accepted, ``np.add.reduce`` of the
    accepted flags) are the consumers in state BOUGHT for it: a consumer buys a product
    once (bought, it has no more chances for it)."""
    cfg = sim.compose(None, [story, "market.n_consumers=30000", "run.horizon_hours=400"])
    m = ViralChainModel(cfg, 7)
    m.run_for(400)
    pop = m.population
    bought = (pop.state == BOUGHT).sum(axis=0)
    assert bought.sum() > 0
    assert pop.adopters.tolist() == bought.tolist()
