"""Brand agents: a catalogue, a network and decision rules, as composed parts.

A brand is four parts, each holding and declaring its own state, given the brand's spec and
network when the brand is built:

* :class:`~sim.agents.brand_network.BrandNetwork`: its facilities and their geometry;
* :class:`~sim.agents.brand_sensing.Sensing`: demand, views, stock-outs, the hot-spot signal;
* :class:`~sim.agents.brand_selling.Selling`: promises, orders, pre-orders, cancellations;
* :class:`~sim.agents.brand_supply.Supply`: production orders, transfers, content tasks.

The brand itself holds its decision rules (one policy object per family) and the designs
stopped by test-and-learn, and runs the two timed behaviours: :meth:`Brand.observe` every
hour (sensing, then the live levers) and :meth:`Brand.review` on its review cadence.
Policies receive the brand and act through its parts' verbs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import standing_costs
from sim.agents.brand_network import BrandNetwork
from sim.agents.brand_selling import Selling
from sim.agents.brand_sensing import Sensing
from sim.agents.brand_supply import Supply
from sim.config import BrandSpec
from sim.holdings import state_without
from sim.policies import registry

if TYPE_CHECKING:
    from sim.agents.carrier import Carrier
    from sim.agents.factory import Factory
    from sim.agents.warehouse import Warehouse
    from sim.model import ViralChainModel


class Brand(mesa.Agent):
    """A brand: its catalogue, its network (factories, warehouses, carriers) and its rules.

    Attributes:
        index, name, spec: the brand's position (main brand first), name and config.
        skus: global indices of its products.
        network, sensing, selling, supply: its parts.
        stopped: per SKU, designs stopped by test-and-learn.
        rush, presale, opportunity, prepositioning, information, assortment: the policy
            objects the brand runs itself (its parts hold forecast, safety stock, sourcing,
            deployment, routing and allocation).
    """

    def __init__(
        self,
        model: ViralChainModel,
        index: int,
        spec: BrandSpec,
        warehouses: list[Warehouse],
        factories: list[Factory],
        carriers: list[Carrier],
    ):
        super().__init__(model)
        self.index, self.spec = index, spec
        self.name = spec.brand.name
        self.skus = np.array([model.sku_index[s] for s in spec.brand.products], dtype=np.int64)
        self._sku_list = self.skus.tolist()  # plain ints, for the hourly loop
        # what observe reads every hour, listed at its first hour (Brand._list_watched)
        self._watched: list[tuple[int, int]] | None = None
        self._standing: list[tuple[np.ndarray, float]] = []
        # the same counters as memoryviews (a cell read and written on Python floats: the
        # same double added, ≈ 0.8 k instructions less than ``item`` and numpy's
        # assignment); no copy of the brand keeps them (__getstate__: made again from its
        # copies of the arrays at its next hour)
        self._standing_cells: list[tuple[memoryview, float]] | None = None
        self._levers: tuple = (None, None, None)  # presale, rush, opportunity (bound)
        self._ledger = model.ledger  # the model's (never rebound), read every hour
        built = registry.build_all(spec.policy)
        # the live levers and plans the brand runs (the parts get the rules they use)
        self.rush = built["rush"]
        self.presale = built["presale"]
        self.opportunity = built["opportunity"]
        self.prepositioning = built["prepositioning"]
        self.information = built["information"]
        self.assortment = built["assortment"]
        self.stopped = np.zeros(model.n_sku, dtype=bool)
        self.network = BrandNetwork(model, warehouses, factories, carriers, built["routing"])
        self.sensing = Sensing(model, self.name, self.network)
        self.selling = Selling(
            model, index, self.name, spec, self.skus, self.network, built["allocation"]
        )
        self.supply = Supply(
            model,
            index,
            self.name,
            spec,
            self.network,
            self.sensing,
            self.selling,
            forecaster=built["forecast"],
            safety=built["safety_stock"],
            sourcer=built["sourcing"],
            deployer=built["deployment"],
        )

    def __getstate__(self) -> dict:
        """A copy's state (``copy.deepcopy``, pickle): no memoryview (none can be copied;
        :meth:`observe` makes them again from the copy's counters)."""
        return state_without(self, "_standing_cells")

    # ------------------------------------------------------------------ the network
    @property
    def warehouses(self) -> list[Warehouse]:
        """The brand's warehouses (local order)."""
        return self.network.warehouses

    @property
    def factories(self) -> list[Factory]:
        """The brand's factories."""
        return self.network.factories

    @property
    def carriers(self) -> list[Carrier]:
        """The brand's carriers."""
        return self.network.carriers

    # ------------------------------------------------------------------ timed behaviour
    def observe(self, hour: int) -> None:
        """Record this hour's signals, track stock-outs, and run the live levers."""
        watched = self._watched
        if watched is None:  # the first hour: what every later hour reads
            watched = self._list_watched()
        b = self.index
        cells = self._standing_cells
        if cells is None:
            cells = self._standing_cells = [(memoryview(c), x) for c, x in self._standing]
        for counter, per_hour in cells:  # standing_costs.accrue_hour, in line
            counter[b] = counter[b] + per_hour  # the same float addition, on a Python float
        sensing, supply = self.sensing, self.supply
        if self._ledger.hour_flowed:  # (Sensing.record records nothing otherwise)
            sensing.record(hour)
        presale, rush, opportunity = self._levers
        for sku, sellable_from in watched:
            if sellable_from > hour:
                continue
            # the units available across the network: no lever changes them before the
            # last one has read them
            available = sensing.track_stockouts(sku, hour)
            if presale is not None:
                presale(self, sku, hour, available)
            if rush is not None and not supply.makes_to_order(sku, hour):  # pre-orders wait
                rush(self, sku, hour, available)
            if opportunity is not None:
                opportunity(self, sku, hour)

    def _list_watched(self) -> list[tuple[int, int]]:
        """The SKUs :meth:`observe` watches, each with the first hour it is on sale (fixed
        once the world is built), the standing costs of an hour
        (:func:`sim.standing_costs.accrue_hour`'s counters) and the live levers to run (the
        policy objects are the brand's for the whole run)."""
        sellable_from = self.model.sellable_from
        self._watched = [(sku, sellable_from.item(sku)) for sku in self._sku_list]
        self._standing = standing_costs.counters(self)
        self._standing_cells = None
        self._levers = (  # None: the policy does nothing there (its class says so)
            self.presale.update if self.presale.active else None,
            self.rush.watch if self.rush.active else None,
            self.opportunity.watch if self.opportunity.active else None,
        )
        return self._watched

    def review(self) -> None:
        """Periodic review: rebalance stock, then replenish the designs kept (event callback)."""
        hour = self.model.hour
        self.prepositioning.rebalance(self, hour)
        kept = [int(s) for s in self.skus if self.assortment.replenishes(self, int(s))]
        self.supply.review(hour, kept)

    def stop_design(self, sku: int, hour: int) -> None:
        """Test-and-learn dropped this design: no more production, presale or content."""
        self.stopped[sku] = True
        self.selling.set_presale(sku, False, hour, "design stopped")
