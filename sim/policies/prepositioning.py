"""Pre-positioning: move stock to forward warehouses before a known live stream.

``before_livestream``: ``hours_before`` each scheduled live stream that features the brand's
products, each forward warehouse receives ``share`` of the central stock its regions would buy
(the central warehouse's available stock of those SKUs × ``share`` × the forward warehouse's
demand share); the rest stays central for the other regions (moving more would leave them to
be served from afar). With ``rebalance``,
each review refills an empty forward warehouse from the central one (by the same split).
Transfers ride the line-haul carrier (its capacity and cost) and are ``transfer`` events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.config import PrepositioningPolicy

if TYPE_CHECKING:
    from sim.agents.brand import Brand


class NoPrepositioning:
    """Stock stays where it was deployed."""

    def __init__(self, params: PrepositioningPolicy):
        self.params = params

    def plan(self, brand: Brand) -> None:
        """Nothing to plan."""

    def rebalance(self, brand: Brand, hour: int) -> None:
        """Nothing to rebalance."""


class BeforeLivestream:
    """Transfers ahead of scheduled live streams, and refills of empty forward warehouses."""

    def __init__(self, params: PrepositioningPolicy):
        self.params = params

    def plan(self, brand: Brand) -> None:
        """Schedule the transfers ahead of the calendar's live streams."""
        m = brand.model
        mine = set(int(s) for s in brand.skus)
        for post in m.config.content.calendar:
            if post.kind != "livestream":
                continue
            skus = (
                [m.sku_index[s] for s in post.skus]
                if post.skus
                else [m.sku_index[s] for s in m.config.brand.products]
            )
            skus = sorted(s for s in skus if s in mine)
            at = post.at_hour - int(self.params.hours_before)
            if skus and at >= 0:
                m.call_at(at, self.move_forward, brand, tuple(skus), "before live stream")

    def move_forward(self, brand: Brand, skus: tuple[int, ...], why: str) -> None:
        """Move to each forward warehouse ``share`` of the central stock its regions would
        buy (their demand share of it): the rest stays central for the other regions."""
        hour = brand.model.hour
        net = brand.network
        total = max(float(net.demand_share.sum()), 1e-9)
        for sku in skus:
            avail = brand.warehouses[net.central].available(sku)
            for i in range(len(brand.warehouses)):
                units = int(avail * self.params.share * net.demand_share[i] / total)
                if i != net.central and units > 0:
                    brand.supply.transfer(sku, net.central, i, units, hour, why)

    def rebalance(self, brand: Brand, hour: int) -> None:
        """Refill empty forward warehouses from the central one."""
        if not self.params.rebalance:
            return
        central = brand.warehouses[brand.network.central]
        for sku in brand.skus:
            sku = int(sku)
            avail = central.available(sku)
            if avail <= 0:
                continue
            for i, w in enumerate(brand.warehouses):
                if (
                    i == brand.network.central
                    or w.available(sku) > 0
                    or brand.network.inbound_to(i, sku) > 0
                ):
                    continue
                share = brand.network.demand_share[i] / max(brand.network.demand_share.sum(), 1e-9)
                units = int(avail * share)
                if units > 0:
                    brand.supply.transfer(sku, brand.network.central, i, units, hour, "rebalance")
