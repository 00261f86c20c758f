"""The Mesa model: builds the world from a validated config and fixes the phase order.

Time: one tick is one hour. ``step()`` runs at ``model.time = h + 1`` and does the work of
hour ``h``; discrete events (posts, live streams, reviews, cut-offs, arrivals, material
releases) are scheduled with :meth:`at` / :meth:`every` at time ``h``, meaning *at the start
of hour h*, so they run between the work of hour ``h-1`` and that of hour ``h``. Nothing is
scheduled at or after the horizon, so the final state is the state at the end of the last
hour.

Phase order of an hour: content → backlog allocation → consumers → cancellations → returns
→ warehouses → factories → brands observe → recording (→ invariants in debug mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
from mesa.time import Schedule

from sim.agents.brand import Brand
from sim.agents.carrier import Carrier
from sim.agents.consumers import ConsumerPopulation
from sim.agents.factory import Factory
from sim.agents.kol import Kol
from sim.agents.warehouse import Warehouse
from sim.config import Config, DisruptionConfig
from sim.geography import Geography
from sim.ledger import Ledger
from sim.messages import ProductionJob
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT, CH_SUBST, CH_VIDEO, CH_WOM, OrderBook
from sim.recording import Recorder
from sim.rng import stream

log = logging.getLogger(__name__)


class SimulationError(RuntimeError):
    """A run failed inside the model."""


class ViralChainModel(mesa.Model):
    """The market, its content and the competing supply chains."""

    def __init__(self, config: Config, seed: int = 0):
        super().__init__(rng=seed)
        self.config = config
        self.seed = int(seed)
        self.horizon_hours = config.run.horizon_hours
        self.hour = 0
        self.market_size = config.market.n_consumers
        self.scale = config.market.n_consumers / config.market.reference_consumers
        self.geo = Geography(config.market)
        specs = config.brand_specs()

        # products (main brand first), as arrays indexed by global SKU index
        self.sku_names: list[str] = []
        sku_brand, products = [], []
        for b, spec in enumerate(specs):
            for name, prod in spec.brand.products.items():
                self.sku_names.append(name)
                sku_brand.append(b)
                products.append(prod)
        self.sku_index = {n: i for i, n in enumerate(self.sku_names)}
        self.n_sku = len(self.sku_names)
        self.sku_brand = np.array(sku_brand, dtype=np.int64)
        self.price = np.array([p.price for p in products])
        self.price_ratio = np.array([p.price / p.reference_price for p in products])
        self.launch_hour = np.array([p.launch_hour for p in products], dtype=np.int64)
        self.novelty_half_life_days = np.array([p.novelty_half_life_days for p in products])
        self.salvage_fraction = np.array([p.salvage_fraction for p in products])
        by_category = config.market.consumer.category_return_multiplier
        self.return_multiplier = np.array([by_category.get(p.category, 1.0) for p in products])
        platforms = config.market.platforms
        self.platform_names = list(platforms) or ["all"]
        self.platform_priority = np.array(
            [platforms[p].priority if p in platforms else 0 for p in self.platform_names],
            dtype=np.int64,
        )
        self._deferred: list[_Deferred] = []
        self._substitutes = self._substitute_table(products)

        c = config.content
        conv = np.zeros(6)
        conv[CH_VIDEO] = c.short_video.conversion_probability
        conv[CH_LIVE] = c.livestream.conversion_probability
        conv[CH_WOM] = config.market.word_of_mouth.conversion_probability
        conv[CH_ORGANIC] = config.market.organic.conversion_probability
        conv[CH_SUBST] = conv[CH_REVISIT] = 1.0
        self.channel_conversion = conv
        cp = config.market.consumer.channel_patience_multiplier
        patience = np.ones(6, dtype=np.float32)
        patience[CH_VIDEO], patience[CH_LIVE] = cp.short_video, cp.livestream
        patience[CH_WOM], patience[CH_ORGANIC] = cp.word_of_mouth, cp.organic
        self.channel_patience = patience
        self.appeal = np.array([p.appeal for p in products])
        self.product_unit_cost = np.array([p.unit_cost for p in products])
        # each consumer buys on one platform (drawn here: KOL followers are drawn from it)
        share = np.array(
            [platforms[p].population_share if p in platforms else 1.0 for p in self.platform_names]
        )
        self.consumer_platform = (
            stream(self.seed, "population", "platform")
            .choice(len(share), size=self.market_size, p=share / share.sum())
            .astype(np.int16)
        )

        # network: warehouses and factories get global indices across brands
        self.warehouses: list[Warehouse] = []
        self.factories: list[Factory] = []
        self.carriers: list[Carrier] = []
        self.warehouse_index: dict[str, int] = {}
        self.n_warehouses = sum(len(s.logistics.warehouses) for s in specs)
        self.ledger = Ledger(
            self.n_sku, len(specs), len(self.geo), self.sku_brand, len(self.platform_names)
        )
        self.orders = OrderBook(capacity=max(1024, self.market_size // 20))
        self.jobs: dict[int, ProductionJob] = {}
        self.events: list[tuple] = []
        self.brands: list[Brand] = []
        for b, spec in enumerate(specs):
            brand = Brand(self, b, spec)
            whs = []
            for name, wcfg in spec.logistics.warehouses.items():
                w = Warehouse(self, self._unique(name, b), b, len(self.warehouses), wcfg)
                self.warehouse_index[w.name] = w.gindex
                self.warehouses.append(w)
                whs.append(w)
            facs = []
            for name, fcfg in spec.supply.factories.items():
                f = Factory(self, self._unique(name, b), b, len(self.factories), fcfg)
                self.factories.append(f)
                facs.append(f)
            self.brands.append(brand)
            brand_carriers = []
            for name, ccfg in spec.logistics.carriers.items():
                cr = Carrier(self, self._unique(name, b), b, ccfg)
                self.carriers.append(cr)
                brand_carriers.append(cr)
            brand.attach(whs, facs, brand_carriers)
            rp = spec.policy.replenishment
            if rp.first_review_hour < self.horizon_hours:
                self.every(rp.review_period_hours, rp.first_review_hour, brand.review)

        self.kols: list[Kol] = [
            Kol(self, name, i, kcfg) for i, (name, kcfg) in enumerate(c.kols.items())
        ]
        self.kol_index = {k.name: k.index for k in self.kols}
        self.kol_trust = np.array([k.cfg.trust for k in self.kols] or [1.0])
        if config.market.population == "per_agent":
            from sim.agents.reference_consumers import ReferencePopulation

            self.population = ReferencePopulation(self, config.market)
        else:
            self.population = ConsumerPopulation(self, config.market)
        self.recorder = Recorder(self)

        # first hour wishes count: the launch, or the presale start for a presale launch
        self.sellable_from = np.array(
            [
                self.brands[int(self.sku_brand[s])].presale.sellable_from(int(self.launch_hour[s]))
                for s in range(self.n_sku)
            ],
            dtype=np.int64,
        )
        for brand in self.brands:
            brand.place_initial_stock()
        self.disruptions = [_Disruption(self, i, d) for i, d in enumerate(config.disruptions)]
        self._plan_content()
        self.working_capital = np.zeros(len(self.brands))
        self.peak_working_capital = np.zeros(len(self.brands))

    # ------------------------------------------------------------------ building
    def _unique(self, name: str, brand: int) -> str:
        """Facility names are prefixed by their brand when the market has several brands."""
        if len(self.config.rivals) == 0:
            return name
        return f"{self.config.brand_specs()[brand].brand.name}.{name}"

    def _substitute_table(self, products) -> list[np.ndarray]:
        out = []
        for i, p in enumerate(products):
            subs = [
                j
                for j, q in enumerate(products)
                if j != i and q.category == p.category and self.sku_brand[j] != self.sku_brand[i]
            ]
            out.append(np.array(subs, dtype=np.int64))
        return out

    def _plan_content(self) -> None:
        """Put the calendar and spontaneous posts on the KOLs' agendas."""
        main_skus = np.array(
            [self.sku_index[s] for s in self.config.brand.products], dtype=np.int64
        )
        for i, post in enumerate(self.config.content.calendar):
            skus = (
                np.array([self.sku_index[s] for s in post.skus], dtype=np.int64)
                if post.skus
                else main_skus
            )
            kol = self.kols[self.kol_index[post.kol]]
            kol.plan(f"cal{i}-{post.kol}", post.at_hour, post.kind, skus, post.duration_hours)
        for kol in self.kols:  # framework contracts: evenly spaced posts, products in turn
            per_week = kol.cfg.framework_posts_per_week
            if per_week <= 0:
                continue
            period = 168.0 / per_week
            offset = (kol.index * 7.0) % period
            for j in range(int((self.horizon_hours - offset) / period) + 1):
                sku = main_skus[[j % len(main_skus)]]
                kol.plan(f"frame{j}-{kol.name}", round(offset + j * period), "short_video", sku, 1)
        all_skus = np.arange(self.n_sku, dtype=np.int64)
        for kol in self.kols:
            rate = kol.cfg.spontaneous_posts_per_day
            if rate <= 0:
                continue
            rng = stream(self.seed, "kol", kol.name, "spontaneous")
            n = int(rng.poisson(rate * self.horizon_hours / 24.0))
            hours = np.sort(rng.integers(0, self.horizon_hours, n))
            picks = rng.integers(0, self.n_sku, n)
            for j, (h, s) in enumerate(zip(hours, picks, strict=True)):
                kol.plan(f"spont{j}-{kol.name}", int(h), "short_video", all_skus[[s]], 1)

    # ------------------------------------------------------------------ scheduling
    def at(self, hour: int, fn) -> Any:
        """Schedule ``fn`` (a bound method of a live object) at the start of ``hour``.

        Nothing is scheduled at or after the horizon.
        """
        if hour < self.time and hour >= self.hour:
            # asked for the current hour during its work: the earliest is the next hour's start
            hour = int(self.time)
        if hour >= self.horizon_hours:
            return None
        if hour < self.time:
            raise SimulationError(f"cannot schedule at hour {hour}: it is already {self.time}")
        return self.schedule_event(fn, at=float(hour))

    def call_at(self, hour: int, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)`` at the start of ``hour`` (held strongly until it runs)."""
        d = _Deferred(self, fn, args)
        self._deferred.append(d)
        return self.at(hour, d.fire)

    def every(self, interval_hours: int, start_hour: int, fn) -> Any:
        """Schedule ``fn`` every ``interval_hours`` from ``start_hour`` until the horizon."""
        if start_hour >= self.horizon_hours:
            return None
        sched = Schedule(
            interval=float(interval_hours),
            start=float(start_hour),
            end=float(self.horizon_hours - 1),
        )
        return self.schedule_recurring(fn, sched)

    def log(
        self,
        hour: int,
        kind: str,
        actor: str,
        sku: str,
        quantity: float,
        value: float,
        detail: str,
    ) -> None:
        """Append a row to the events table."""
        self.events.append((int(hour), kind, actor, sku, float(quantity), float(value), detail))

    # ------------------------------------------------------------------ queries for agents
    def brand_of_sku(self, sku: int) -> Brand:
        """The brand selling a SKU."""
        return self.brands[int(self.sku_brand[sku])]

    def design_stopped(self, skus: np.ndarray) -> np.ndarray:
        """Whether each SKU's design was stopped by its brand (test-and-learn)."""
        return np.array([self.brands[int(self.sku_brand[s])].stopped[s] for s in skus], dtype=bool)

    def substitute_for(self, skus: np.ndarray, hour: int, rng: np.random.Generator) -> np.ndarray:
        """A launched substitute of another brand for each SKU (-1 where none)."""
        out = np.full(len(skus), -1, dtype=np.int64)
        for s in np.unique(skus):
            subs = self._substitutes[int(s)]
            subs = subs[self.launch_hour[subs] <= hour] if len(subs) else subs
            if len(subs) == 0:
                continue
            sel = np.flatnonzero(skus == s)
            out[sel] = subs[rng.integers(0, len(subs), len(sel))]
        return out

    # ------------------------------------------------------------------ the hour
    def step(self) -> None:
        """The work of one hour, in phase order."""
        h = round(self.time) - 1
        self.hour = h
        if h == self.config.run.fail_at_hour:
            raise SimulationError(f"deliberate failure at hour {h} (run.fail_at_hour)")
        exposures = [e for kol in self.kols for e in kol.broadcast(h)]
        for brand in self.brands:
            brand.allocate_backlog(h)
        self.population.decide(h, exposures)
        self.population.check_cancellations(h)
        self.population.send_returns(h)
        warehouses = self.agents_by_type[Warehouse]
        warehouses.do("pick", h)
        warehouses.do("inspect_returns", h)
        warehouses.do("accrue_holding")
        self.agents_by_type[Factory].do("produce", h)
        for brand in self.brands:
            brand.observe(h)
        self._track_working_capital()
        self.recorder.record(h)
        if self.config.run.debug_invariants:
            from sim.invariants import check

            check(self)
        self.ledger.reset_hour()
        warehouses.do("reset_hour")
        self.agents_by_type[Factory].do("reset_hour")
        self.hour = h + 1

    def _track_working_capital(self) -> None:
        """Stock and work in progress at cost, minus what buyers prepaid for open orders."""
        cost = self.ledger.average_cost()
        money = self.ledger.money
        for b, brand in enumerate(self.brands):
            units = np.zeros(self.n_sku)
            wip_value = 0.0
            for w in brand.warehouses:
                units += w.on_hand + w.returns_waiting
            for f in brand.factories:
                units += f.fg.sum(axis=1)
                wip_value += f.unused_inputs_value()
            for c in brand.carriers:
                units += c.stock_in_transit + c.parcels_in_transit + c.returns_in_transit
            advances = money["paid"][b] - money["cancel_refunds"][b] - money["delivered_value"][b]
            wc = float(units @ cost) + wip_value - advances
            self.working_capital[b] = wc
            self.peak_working_capital[b] = max(self.peak_working_capital[b], wc)

    # ------------------------------------------------------------------ running
    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """Run to the horizon (a day at a time) and close the books.

        Args:
            progress: called with the hours done after every simulated day.
        """
        done = 0
        while done < self.horizon_hours:
            chunk = min(24, self.horizon_hours - done)
            self.run_for(chunk)
            done += chunk
            if progress is not None:
                progress(done)
        self.population.expire_waiting()


class _Deferred:
    """A call with arguments, scheduled through a bound method (Mesa holds weak refs)."""

    def __init__(self, model: ViralChainModel, fn: Callable[..., Any], args: tuple):
        self.model, self.fn, self.args = model, fn, args

    def fire(self) -> None:
        """Run the call, then let go of it."""
        self.fn(*self.args)
        self.model._deferred.remove(self)


class _Disruption:
    """A factory outage or carrier shortage: capacity cut at the start, restored at the end."""

    def __init__(self, model: ViralChainModel, index: int, cfg: DisruptionConfig):
        self.model, self.cfg = model, cfg
        main = model.brands[0]
        if cfg.kind == "factory_outage":
            pool = main.factories
            default = (main.quick or main.regular)[0]  # the peak's workhorse
        else:
            pool = main.last_mile
            default = main.contracted_last_mile[0]
        self.target = next(
            (a for a in pool if a.name == cfg.target or a.name.endswith("." + cfg.target)),
            default,
        )
        start = cfg.start_hour
        if cfg.random_window_hours > 0:
            rng = stream(model.seed, "disruption", index)
            start += int(rng.integers(0, cfg.random_window_hours))
        self.start_hour = start
        model.at(start, self.begin)
        model.at(start + cfg.duration_hours, self.end)

    def begin(self) -> None:
        """The disruption starts (event callback)."""
        self.target.capacity_factor = self.cfg.capacity_factor
        self.model.log(
            self.model.hour,
            "outage_start",
            self.target.name,
            "",
            0,
            self.cfg.capacity_factor,
            f"{self.cfg.kind}: {self.cfg.capacity_factor:.0%} of capacity left",
        )

    def end(self) -> None:
        """The disruption ends (event callback)."""
        self.target.capacity_factor = 1.0
        self.model.log(
            self.model.hour, "outage_end", self.target.name, "", 0, 1.0, f"{self.cfg.kind} over"
        )


def build_model(config: Config, seed: int = 0) -> ViralChainModel:
    """A model ready to run."""
    return ViralChainModel(config, seed)
