"""The Mesa model: the timeline (every registered schedule) and the phase order of an hour.

The world (catalogue, accounts, agents) is built by :mod:`sim.world` from a validated config;
:meth:`ViralChainModel.schedule_timeline` registers every recurring schedule and planned
event; :meth:`ViralChainModel.step` is the work of one hour (:data:`PHASES`).

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
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any
from weakref import WeakMethod

import mesa
import numpy as np
from mesa.time import Event, EventGenerator, Priority, Schedule

from sim import world
from sim.agents.brand import Brand
from sim.agents.carrier import Carrier
from sim.agents.consumers import ConsumerPopulation
from sim.agents.factory import Factory
from sim.agents.kol import Kol
from sim.agents.warehouse import Warehouse
from sim.clock import HOURS_PER_DAY, HOURS_PER_WEEK
from sim.config import Config, DisruptionConfig
from sim.content import PendingShares, cross_excite
from sim.geography import Geography
from sim.holdings import Holdings, Sums, gather
from sim.ledger import Ledger
from sim.orders import OrderBook
from sim.recording import Recorder
from sim.rng import stream

log = logging.getLogger(__name__)

# Mesa's default step schedule (every 1.0 from 1.0, no end, priority HIGH), which the short
# path of ViralChainModel._advance_time replays
_HOURLY_STEP = Schedule(interval=1.0, start=1.0)
_STEP_PRIORITY = Priority.HIGH.value

# the work of every hour, in the order :meth:`ViralChainModel.step` does it
PHASES: tuple[tuple[str, str], ...] = (
    (
        "content",
        "KOL posts and live streams broadcast their views (kol.broadcast); a campaign's "
        "videos excite each other (content.cross_excite)",
    ),
    ("backlog", "brands serve waiting pre-orders from stock (brand.selling.allocate_backlog)"),
    ("consumers", "exposed consumers buy, pre-order, wait or leave (population.decide)"),
    ("cancellations", "late orders are cancelled (population.check_cancellations)"),
    ("returns", "buyers send back what they return (population.send_returns)"),
    ("warehouses", "pick and pack, inspect returns, holding cost (warehouse.pick, …)"),
    ("factories", "produce up to capacity (factory.produce)"),
    ("sensing", "brands record demand, track stock-outs, run live levers (brand.observe)"),
    ("recording", "working capital and the timeseries row (recorder.record)"),
)


class SimulationError(RuntimeError):
    """A run failed inside the model."""


class ViralChainModel(mesa.Model):
    """The market, its content and the competing supply chains.

    The world (catalogue, accounts, agents) is built by :func:`sim.world.build`; the
    timeline is registered by :meth:`schedule_timeline`; :meth:`step` is an hour's work.
    """

    # the world, built by sim.world.build
    geo: Geography
    sku_names: list[str]
    sku_index: dict[str, int]
    n_sku: int
    sku_brand: np.ndarray
    price: np.ndarray
    price_ratio: np.ndarray
    launch_hour: np.ndarray
    novelty_half_life_days: np.ndarray
    salvage_fraction: np.ndarray
    return_multiplier: np.ndarray  # return chance multiplier of each SKU's category
    appeal: np.ndarray
    product_unit_cost: np.ndarray
    platform_names: list[str]
    platform_priority: np.ndarray
    consumer_platform: np.ndarray
    channel_conversion: np.ndarray
    channel_patience: np.ndarray  # patience multiplier by channel
    n_warehouses: int
    ledger: Ledger
    orders: OrderBook
    brands: list[Brand]
    warehouses: list[Warehouse]
    factories: list[Factory]
    carriers: list[Carrier]
    warehouse_index: dict[str, int]
    kols: list[Kol]
    kol_index: dict[str, int]
    kol_trust: np.ndarray
    population: ConsumerPopulation
    recorder: Recorder
    holdings: Holdings  # every stock array of the supply side, in one buffer
    hour_flows: Holdings  # the supply side's flow counters of the hour, in one buffer
    sellable_from: np.ndarray
    _substitutes: list[np.ndarray]

    def __init__(self, config: Config, seed: int = 0):
        super().__init__(rng=seed)
        self.config = config
        self.seed = int(seed)
        self.horizon_hours = config.run.horizon_hours
        self.hour = 0
        self.market_size = config.market.n_consumers
        self.scale = config.market.n_consumers / config.market.reference_consumers
        self.events: list[tuple] = []
        self.timeline: list[Scheduled] = []  # what schedule_timeline registered
        self._deferred: list[_Deferred] = []
        self._registering = False
        world.build(self)
        self.holdings, self.hour_flows = gather(self)
        self.disruptions = [_Disruption(self, i, d) for i, d in enumerate(config.disruptions)]
        self.schedule_timeline()
        self.working_capital = np.zeros(len(self.brands))
        # the stock part of working capital per brand, and what it was computed from
        self._stock_value: list[float] = []
        self._stock_value_key = b""
        # the units' average cost (Ledger.average_cost), and the count of writes of the made
        # units and their value (Ledger.made_writes) it was worked out at
        self._average_cost = np.zeros(0)
        self._made_key = -1  # the ledger's made_writes it was worked out at
        # the buyers' advances per brand (paid - refunds - delivered), and the ledger's
        # advance_writes they were read at; the working capital written last, per brand
        self._advances: list[float] = []
        self._advances_key = -1
        self._wc_written: list[float | None] = [None] * len(self.brands)
        self._held_units: Sums | None = None  # the units per brand, from the holdings
        self._wc_books: tuple | None = None  # what working capital reads (_list_wc_books)
        self._warehouses_settled: bytes | None = None  # the stocks after the warehouses' work
        self._warehouses_checked = False  # _warehouses_idle answered True for those stocks
        graph = self.population.graph
        self._shares = PendingShares(graph) if graph is not None else None
        self.peak_working_capital = np.zeros(len(self.brands))

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A copy of the model (``copy.deepcopy``, pickle): its stock and flow arrays are
        copies, detached from its holdings' buffers; each owner gets its view of them again
        (:meth:`sim.holdings.Holdings.rebind`), and the books kept from the old arrays are
        made again at their next use (the recorder's: ``Recorder.__setstate__``; the
        ledger's views of its hour's flows: ``Ledger.__setstate__``). Every other object is
        whole by now (copied before the model's own attributes are set)."""
        self.__dict__.update(state)
        self.holdings.rebind()
        self.hour_flows.rebind()
        self._wc_books = None
        self._held_units = None
        self._stock_value_key = b""
        self._warehouses_settled = None
        self._warehouses_checked = False

    # ------------------------------------------------------------------ the timeline
    def schedule_timeline(self) -> None:
        """Register every recurring schedule and planned event of the run: the timeline.

        With :meth:`step` (the work of every hour, in phase order) this is the whole
        timeline; :attr:`timeline` lists what was registered. Events due at the same hour
        run in the order registered here, so keep the order.
        """
        self._registering = True
        for brand in self.brands:
            for f in brand.factories:
                if f.material_stock_mode:  # order-up-to review of the material stock
                    self.every(f.supply.materials.review_hours, 0, f.review_materials)
            for c in brand.carriers:
                for h in c.cutoff_hours():
                    self.every(HOURS_PER_DAY, h, c.dispatch)
            brand.prepositioning.plan(brand)  # transfers ahead of calendar live streams
            brand.assortment.plan(brand)  # the test-and-learn decision
            rp = brand.spec.policy.replenishment
            self.every(rp.review_period_hours, rp.first_review_hour, brand.review)
        for d in self.disruptions:
            d.schedule()
        self._plan_content()
        self._registering = False

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
            period = HOURS_PER_WEEK / per_week
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
            n = int(rng.poisson(rate * self.horizon_hours / HOURS_PER_DAY))
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
        if self._registering:
            self.timeline.append(Scheduled.of(fn, hour, None))
        return self.schedule_event(fn, at=float(hour))

    def call_at(self, hour: int, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)`` at the start of ``hour`` (held strongly until it runs)."""
        d = _Deferred(self, fn, args)
        self._deferred.append(d)
        registering, self._registering = self._registering, False
        if registering and self.hour <= hour < self.horizon_hours:
            self.timeline.append(Scheduled.of(fn, hour, None, args))
        try:
            return self.at(hour, d.fire)
        finally:
            self._registering = registering

    def every(self, interval_hours: int, start_hour: int, fn) -> Any:
        """Schedule ``fn`` every ``interval_hours`` from ``start_hour`` until the horizon."""
        if start_hour >= self.horizon_hours:
            return None
        sched = Schedule(
            interval=float(interval_hours),
            start=float(start_hour),
            end=float(self.horizon_hours - 1),
        )
        if self._registering:
            self.timeline.append(Scheduled.of(fn, start_hour, interval_hours))
        # Model.schedule_recurring, with Mesa's generator's next events made in line
        if sched.start < self.time:  # defensive (sim/ starts none in the past): Mesa's refusal
            return self.schedule_recurring(fn, sched)
        return _Recurring(self, fn, sched, Priority.DEFAULT).start()

    def log(
        self,
        kind: str,
        *,
        hour: int | None = None,
        actor: str = "",
        sku: str = "",
        quantity: float = 0.0,
        value: float = 0.0,
        detail: str = "",
    ) -> None:
        """Append a row to the events table (``hour``: the current hour unless given)."""
        when = self.hour if hour is None else hour
        self.events.append((int(when), kind, actor, sku, float(quantity), float(value), detail))

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
        # Mesa's ``time`` is an observable (its descriptor reads ``_time``, ≈ 0.13 µs): read
        # where it keeps it (tests/test_quiet_content_tenth.py holds it to ``time``)
        h = round(self._time) - 1
        self.hour = h
        if h == self.config.run.fail_at_hour:
            raise SimulationError(f"deliberate failure at hour {h} (run.fail_at_hour)")
        shares = self._shares  # the hour's graph look-ups, one batch for all KOLs
        kols = self.kols
        # a KOL with nothing on air broadcasts nothing (Kol.broadcast returns at once)
        exposures = [e for kol in kols if kol.posts for e in kol.broadcast(h, shares)]
        # no exposures: no post drew a view (a post with views gives one, even empty), so no
        # share was added to look up and no post excites another (each one's fresh views
        # are 0: cross_excite adds nothing; tests/test_quiet_content_tenth.py)
        if exposures:
            if shares is not None:
                shares.resolve()
            posts = [p for kol in kols for p in kol.posts]
            if len(posts) > 1:  # a post alone excites nothing (cross_excite returns at once)
                cross_excite(posts, h, self.config.content.short_video)
        for brand in self.brands:
            brand.selling.allocate_backlog(h)
        self.population.decide(h, exposures)
        self.population.check_cancellations(h)
        self.population.send_returns(h)
        # plain loops over the lists built with the world (the order of creation, as
        # AgentSet.do would): a few microseconds less per call, every hour
        warehouses, factories = self.warehouses, self.factories
        # every stock as at the end of the last hour's warehouse work (_settle_warehouses),
        # no order to pick, and none with returns waiting and each one's holding cost worked
        # out from its stocks (_warehouses_idle: its yes kept until the next work_hour; a no
        # sends the hour to work_hour and a new settling, so while returns are waiting it is
        # asked, and refuses, every hour): Warehouse.work_hour's idle hour, in line (the
        # credits at zero, the same holding cost added)
        idle = self._warehouses_settled
        if idle is not None:
            idle = idle == self.holdings.buffer.tobytes()  # holdings.key(), in line
            if idle:
                for w in warehouses:
                    queue = w.pick_queue
                    if len(queue._buf) != queue._head:  # len(queue), in line
                        idle = False
                        break
                if idle and not self._warehouses_checked:
                    idle = self._warehouses_checked = self._warehouses_idle()
        if idle:
            for w in warehouses:
                w._pick_credit = 0.0
                w._returns_credit = 0.0
                if w._holding_per_hour:  # (its holding cells kept: _warehouses_idle)
                    cells, b = w._holding_cells, w.brand
                    cells[b] = cells[b] + w._holding_per_hour  # as work_hour adds it
        else:
            for w in warehouses:  # pick, inspect returns, holding cost
                w.work_hour(h)
            self._warehouses_settled = self._settle_warehouses()
            self._warehouses_checked = False
        for f in factories:
            # an idle factory (no queue, no modules to build) would only keep its credits
            # at zero, where its last hour left them (Factory.produce): not called then; a
            # postponement factory with its modules built would only set its two credits to
            # zero: called only while one is not zero yet (``_credit`` is a guard only: an
            # empty queue's produce already left it at zero)
            if f.queue or (
                f.postponement and (f.modules < f.module_target or f._module_credit or f._credit)
            ):
                f.produce(h)
        for brand in self.brands:
            brand.observe(h)
        self._track_working_capital()
        self.recorder.record(h)
        if self.config.run.debug_invariants:
            from sim.invariants import check

            check(self)
            self._check_books()
        self.ledger.reset_hour()
        self.hour_flows.clear()  # the warehouses' and factories' hourly counters, in one fill
        self.hour = h + 1

    def _settle_warehouses(self) -> bytes | None:
        """The holdings' bytes after the warehouses' work of an hour (every stock as it is
        then): while the stocks keep them, no work_hour has run since (:meth:`step`).

        A test seam, hence ``bytes | None`` though it always answers bytes here: a test
        makes it answer None to switch the idle hour off (never settled: every warehouse's
        work_hour called every hour), for the long way it compares the shortcut with
        (tests/test_supply_idle_hours.py, tests/test_supply_hour.py)."""
        return self.holdings.key()

    def _warehouses_idle(self) -> bool:
        """Whether every warehouse is idle (no order to pick, no returns waiting) and keeps
        the holding cost of the stocks it holds now (its key, and its cells of the ledger's
        array when the cost is not zero): asked when the stocks have the bytes they had
        after the warehouses' last work (:meth:`_settle_warehouses`), so these hold as
        they held then, and keep holding while the bytes stay and no work_hour runs; each
        such hour's work_hour would only set the two credits to zero and add the same
        holding cost (:meth:`step`; tests/test_supply_idle_hours.py).

        Asked at most once per settling, not once per still stretch: a yes is kept
        (``_warehouses_checked``) until the next work_hour, but a no (returns waiting, a
        holding key of other stocks, no cells) sends the hour to every work_hour, which
        settles the stocks again; so while returns are waiting and the stocks stand still,
        it is asked, and refuses, every hour."""
        return all(w.keeps_idle_hour() for w in self.warehouses)

    def _track_working_capital(self) -> None:
        """Stock and work in progress at cost, minus what buyers prepaid for open orders.

        The stock at cost is recomputed only when a stock (the reservations aside: they
        are no part of it) or the units' average cost changed since the last hour
        (:meth:`_stock_at_cost`); the rest is a few scalars.
        """
        books = self._wc_books
        if books is None:
            books = self._list_wc_books()
        stocks, (paid, refunds, delivered, factories) = books[0], books[4:]
        led = self.ledger
        made = led.made_writes  # the made units or their value written since: worked out again
        if made != self._made_key:  # (the units' average cost may have changed)
            self._average_cost = led.average_cost()
            self._made_key = made
            self._stock_value_key = b""
        key = stocks.tobytes()
        if key != self._stock_value_key:
            self._stock_value = self._stock_at_cost_summed()
            self._stock_value_key = key
        written = led.advance_writes  # the buyers' advances written since: read again
        if written != self._advances_key:
            # plain floats: the same float64 operations
            self._advances = [
                paid.item(b) - refunds.item(b) - delivered.item(b) for b in range(len(factories))
            ]
            self._advances_key = written
        stock_value, advances, last = self._stock_value, self._advances, self._wc_written
        wc_all, peak_all = self.working_capital, self.peak_working_capital
        for b, own in enumerate(factories):
            wip_value = 0.0
            for f in own:  # Factory.unused_inputs_value, its kept value read in line
                if f._unused_value is None:
                    wip_value += f.unused_inputs_value()
                else:  # the same double as a Python float (Factory._unused_float)
                    wip_value += f._unused_float
            wc = stock_value[b] + wip_value - advances[b]
            # the value written last (a double equal to it and not zero has its bits, and
            # the peak is at least that value already): nothing to write
            if wc != last[b] or wc == 0.0:
                wc_all[b] = wc
                last[b] = wc
                if wc > peak_all.item(b):  # max(peak, wc): the peak stays otherwise
                    peak_all[b] = wc

    def _list_wc_books(self) -> tuple:
        """What :meth:`_track_working_capital` reads, listed once: the holdings' part the
        books read (every stock but the reservations; read every hour), the ledger's made
        units and their value (listed only for debug mode's check that none was rebound:
        the average cost is worked out from the ledger's own arrays, in an hour when its
        count of their writes moved), the money of buyers' advances (read in an hour when
        the count of their writes moved), and each brand's factories (the ledger's arrays
        are changed in place, never rebound)."""
        self._wc_books = (
            self.holdings.read,  # every stock but the reservations (no part of its value)
            *self._wc_arrays(),
            [brand.factories for brand in self.brands],
        )
        return self._wc_books

    def _wc_arrays(self) -> tuple[np.ndarray, ...]:
        """The ledger's arrays working capital reads: made units and their value, the money
        of buyers' advances (:meth:`_list_wc_books` keeps them; debug mode checks that none
        was rebound)."""
        led = self.ledger
        money = led.money
        return (
            led.units["initial"],
            led.units["produced"],
            led.spend_variable,
            money["paid"],
            money["cancel_refunds"],
            money["delivered_value"],
        )

    def _check_books(self) -> None:
        """Debug mode: the books kept incrementally equal the long way's."""
        from sim.invariants import InvariantError

        if not (self.holdings.intact() and self.hour_flows.intact()):
            raise InvariantError(f"hour {self.hour}: a stock array was rebound (sim.holdings)")
        if self._stock_value != self._stock_at_cost():
            raise InvariantError(f"hour {self.hour}: stale working capital")
        if self._made_key != -1 and (
            self._average_cost.tobytes() != self.ledger.average_cost().tobytes()
        ):
            raise InvariantError(f"hour {self.hour}: stale average cost of the units")
        money = self.ledger.money
        advances = money["paid"] - money["cancel_refunds"] - money["delivered_value"]
        if self._advances_key != -1 and advances.tobytes() != np.array(self._advances).tobytes():
            raise InvariantError(f"hour {self.hour}: stale buyers' advances")
        if any(
            w is not None and np.float64(w).tobytes() != self.working_capital[b].tobytes()
            for b, w in enumerate(self._wc_written)
        ):
            raise InvariantError(f"hour {self.hour}: working capital written elsewhere")
        books = self._wc_books
        if books is not None and any(
            a is not b for a, b in zip(books[1:7], self._wc_arrays(), strict=True)
        ):
            raise InvariantError(f"hour {self.hour}: a ledger array was rebound")
        for f in self.factories:
            if f.unused_inputs_value() != f.unused_inputs_value_now() or (
                np.float64(f._unused_float).tobytes() != np.float64(f._unused_value).tobytes()
            ):
                raise InvariantError(f"hour {self.hour}: {f.name}: stale unused inputs value")
            received = f.orders_received_hourly
            if f.orders_received_before(len(received)) != int(received.sum()) or (
                received[f._orders_received_last + 1 :].any()
            ):
                raise InvariantError(f"hour {self.hour}: {f.name}: stale orders received")
        self._check_kept_references()
        self.recorder.check()
        if isinstance(self.population, ConsumerPopulation):  # the per-agent peers keep none
            self.population.check_kept_answers()
        for kol in self.kols:  # the sharers' weights kept in arrays, against the viewers
            kol.check_hourly()
            for post in kol.posts:
                post.check_viewer_weights()

    def _check_kept_references(self) -> None:
        """What the supply side keeps (debug mode): each warehouse's holding-cost array is
        the ledger's, each brand's standing costs and live levers are those
        :meth:`Brand._list_watched` would list now, its sensing's running totals are the
        sums of its hourly rows and its event plan's kept due hours those of its events."""
        from sim import standing_costs
        from sim.invariants import InvariantError

        holding = self.ledger.money["holding_cost"]
        for w in self.warehouses:
            if w._holding is not None and w._holding is not holding:
                raise InvariantError(f"hour {self.hour}: {w.name}: a ledger array was rebound")
            if w._holding_cells is not None and w._holding_cells.obj is not holding:
                raise InvariantError(f"hour {self.hour}: {w.name}: stale holding cells")
        for b in self.brands:
            if b._ledger is not self.ledger:  # Brand.observe reads the hour's flag there
                raise InvariantError(f"hour {self.hour}: {b.name}: not the model's ledger")
            if b._watched is None:
                continue
            now = standing_costs.counters(b)
            kept = b._standing
            if len(kept) != len(now) or any(
                a is not c or x != y for (a, x), (c, y) in zip(kept, now, strict=True)
            ):
                raise InvariantError(f"hour {self.hour}: {b.name}: stale standing costs")
            cells = b._standing_cells
            if cells is not None and (
                len(cells) != len(now)
                or any(v.obj is not c or x != y for (v, x), (c, y) in zip(cells, now, strict=True))
            ):
                raise InvariantError(f"hour {self.hour}: {b.name}: stale standing cells")
            live = (b.presale.active, b.rush.active, b.opportunity.active)
            if tuple(lever is not None for lever in b._levers) != live:
                raise InvariantError(f"hour {self.hour}: {b.name}: stale live levers")
            for lever in (b.presale, b.rush):  # the hours a lever skips: it would do nothing
                holds = getattr(lever, "idle_holds", None)
                if holds is not None and not all(holds(b, s, self.hour) for s, _ in b._watched):
                    raise InvariantError(f"hour {self.hour}: {b.name}: a lever skipped wrongly")
        for b in self.brands:  # totals and due hours the reviews read
            b.sensing.check_totals()
            b.supply.event_plan.check_dues()

    def _stock_at_cost(self) -> list[float]:
        """Per brand, the units it holds (shelves, returns, vehicles, finished goods) at their
        average cost: the long way, from every stock array."""
        cost = self.ledger.average_cost()
        out = []
        for brand in self.brands:
            # whole units summed as integers: exact in any order, so the same vector as
            # summed in floats; one reduction over all the stocks instead of one add each
            units = np.zeros(self.n_sku, dtype=np.int64)
            held = [a for w in brand.warehouses for a in (w.on_hand, w.returns_waiting)]
            held += [
                a
                for c in brand.carriers
                for a in (c.stock_in_transit, c.parcels_in_transit, c.returns_in_transit)
            ]
            if held:
                units += np.add.reduce(held)
            if brand.factories:
                units += np.add.reduce([f.fg for f in brand.factories]).sum(axis=1)
            out.append(float(units.astype(np.float64) @ cost))
        return out

    def _stock_at_cost_summed(self) -> list[float]:
        """:meth:`_stock_at_cost` with each brand's units summed from the holdings' buffer
        in one book (:meth:`sim.holdings.Holdings.sums`: the same integers, so the same
        floats), at the units' average cost as :meth:`_track_working_capital` keeps it
        (worked out again when a unit is made); :meth:`_check_books` compares it with the
        long way in debug mode."""
        if self._held_units is None:
            n = self.n_sku
            terms: list[tuple[np.ndarray, np.ndarray]] = []
            for b, brand in enumerate(self.brands):
                at = np.arange(b * n, (b + 1) * n)
                terms += [(a, at) for w in brand.warehouses for a in (w.on_hand, w.returns_waiting)]
                terms += [
                    (a, at)
                    for c in brand.carriers
                    for a in (c.stock_in_transit, c.parcels_in_transit, c.returns_in_transit)
                ]
                terms += [(f.fg, at[:, None]) for f in brand.factories]
            self._held_units = self.holdings.sums(terms, len(self.brands) * n)
        units = self._held_units().reshape(len(self.brands), self.n_sku)
        cost = self._average_cost
        return [float(u.astype(np.float64) @ cost) for u in units]

    # ------------------------------------------------------------------ running
    def _advance_time(self, until: float) -> None:
        """Mesa's event loop (``mesa.Model._advance_time``) with the hourly step taken on a
        short path: after an hour's step, the events due before the next step (a cut-off,
        an arrival, a review at the start of the hour) run at once, in the order Mesa's
        loop would pop them, and then the next step, without the event Mesa would create
        for that step, push onto its heap and pop again (its weak reference, its ordering
        comparisons). Mesa would schedule the step's event right after the step, so it
        takes the next event id then (:meth:`_events_before_step`): an event of the step's
        time and priority made by those events comes after the step, as under Mesa. The
        steps and events run in the order Mesa's loop runs them (time, then priority: the
        step is ``Priority.HIGH``, the model schedules everything else at the default
        priority), ``time`` and ``steps`` move as they would, and the next step's event is
        scheduled as Mesa schedules it whenever the loop stops, an exception raised by an
        event between two steps too (it is made then, with the id reserved for it, as Mesa
        has it on its heap already: the step is not lost) (``tests/test_quiet_supply.py``
        and ``tests/test_supply_thirteenth.py`` compare both loops). Mesa's per-step log
        line (``logging.INFO`` of the ``MESA`` logger) is not written on the short path.
        ``time`` is set as Mesa's ``Observable`` sets it, in line where the model has no
        subscriber (then its ``__set__`` only sets the attribute; a computed property that
        reads ``time`` is a subscriber; tests/test_supply_fifteenth.py holds a subscriber's
        signals and a computed property to Mesa's loop)."""
        gen = self._default_schedule
        if (
            until <= self.time
            or not gen._active
            or gen._paused
            or gen.schedule != _HOURLY_STEP
            or self._simulator is not None
        ):
            super()._advance_time(until)
            return
        heap = self._event_list._events
        step = self._user_step
        while heap:
            event = heappop(heap)
            if event._canceled:
                continue
            if event.time > until:
                heappush(heap, event)
                break
            # Mesa's Observable.__set__ where no one listens sets the attribute alone; a
            # computed property reading ``time`` subscribes itself (and its cycle check
            # needs such a read), so ``subscribers`` covers it
            if self.subscribers:
                self.time = event.time
            else:
                self._time = event.time
            if event is not gen._current_event or not gen._active or gen._paused:
                event.execute()  # Mesa's own (a step paused or stopped during a step: a no-op)
                continue
            # the hourly step, then the next ones, with the events due between them
            t = event.time
            while True:
                self.steps += 1
                step()
                gen._execution_count += 1
                t += 1.0
                if t > until or not gen._active or gen._paused:
                    # (Mesa schedules the next step's event even if the step paused it)
                    gen._schedule_next(t)
                    break
                if heap and not self._events_before_step(heap, t, gen, event):
                    break  # an event stopped, paused or restarted the step: no step event
                if self.subscribers:  # (as above)
                    self.time = t
                else:
                    self._time = t
        self.time = until

    def _events_before_step(self, heap: list, t: float, gen: Any, current: Any) -> bool:
        """Run the events Mesa's loop would pop before the hourly step at time ``t`` (its
        event not made: see :meth:`_advance_time`); False if one of them stopped, paused or
        restarted the hourly step (Mesa cancels the step's event: the step does not run,
        and the loop goes on as Mesa's; a restart scheduled its own event). If one of them
        raises, the step's event is made and pushed (unless that event stopped, paused
        or restarted the step), as Mesa's loop would leave it, before the exception goes on."""
        sid = -1  # the id of the step's event under Mesa, taken before the first event runs
        while heap:
            top = heap[0]
            if top._canceled:
                heappop(heap)
                continue
            if top.time > t or (
                top.time == t
                and (
                    top.priority > _STEP_PRIORITY
                    or (top.priority == _STEP_PRIORITY and 0 <= sid < top.unique_id)
                )
            ):
                return True  # the step comes first
            if sid < 0:
                sid = next(Event._ids)
            heappop(heap)
            if self.subscribers:  # (Mesa's Observable.__set__: see _advance_time)
                self.time = top.time
            else:
                self._time = top.time
            try:
                top.execute()
            except BaseException:
                if gen._current_event is current:  # (not stopped, paused or restarted)
                    # Mesa's loop has the step's event on its heap already: make it, with
                    # the id reserved for it (a fresh one is taken and dropped: ids are only
                    # compared, a gap orders nothing differently), so the step is not lost
                    step_event = Event(t, gen._execute_and_reschedule, priority=gen.priority)
                    step_event.unique_id = sid
                    heappush(heap, step_event)
                    gen._current_event = step_event
                raise
            # Mesa's stop() and pause() drop the generator's current event (and a restart
            # makes another): the one test of all three (tests/test_supply_thirteenth.py)
            if gen._current_event is not current:
                return False
        return True

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """Run to the horizon (a day at a time) and close the books.

        Args:
            progress: called with the hours done after every simulated day.
        """
        done = 0
        while done < self.horizon_hours:
            chunk = min(HOURS_PER_DAY, self.horizon_hours - done)
            self.run_for(chunk)
            done += chunk
            if progress is not None:
                progress(done)
        self.population.expire_waiting()


@dataclass(frozen=True)
class Scheduled:
    """One entry of the timeline: a callback, when it first runs, and how often."""

    what: str  # the callback, as Class.method
    actor: str  # the name of the object it belongs to (or of its first argument)
    start_hour: int
    interval_hours: int | None  # None: runs once

    @classmethod
    def of(cls, fn: Callable[..., Any], hour: int, interval: int | None, args: tuple = ()):
        """The entry for ``fn`` (a bound method) first due at ``hour``."""
        owner = getattr(fn, "__self__", None)
        actor = getattr(owner, "name", None) or (getattr(args[0], "name", "") if args else "")
        what = getattr(fn, "__qualname__", repr(fn))
        return cls(what, str(actor), int(hour), interval)


# Mesa 3.5.1's internals sim/ relies on (tests/test_supply_fifteenth.py pins the
# version: re-check this list against a new Mesa before moving the pin):
# * Model: ``_advance_time`` (overridden, called back), ``_default_schedule`` (the step's
#   EventGenerator, its ``schedule`` of every 1.0 from 1.0 at ``Priority.HIGH``),
#   ``_user_step``, ``_simulator``, ``_event_list._events`` (the heap, as
#   ``EventList.add_event`` pushes onto it);
# * Observable ``time``: its private ``_time`` (read and set), ``HasObservables.subscribers``
#   (empty: ``Observable.__set__`` sets the attribute alone; its ``CURRENT_COMPUTED`` cycle
#   check needs a computed property to have read ``time``, which subscribed it);
# * EventGenerator: ``_schedule_next``, ``_current_event``, ``_execution_count``,
#   ``_active``, ``_paused``, ``_execute_and_reschedule``, ``__getstate__``;
# * Event: ``__init__``'s attributes and their order (``time``, ``priority``, ``_canceled``,
#   ``fn`` a weak reference, ``unique_id``, ``function_args``, ``function_kwargs``), the
#   counter ``Event._ids``, ``_canceled``, the ordering on (time, priority, unique_id);
# * sim/lazy_imports.py: ``mesa.mesa_logging``'s module attribute ``inspect`` and the
#   sub-packages it defers (``mesa.discrete_space``, ``mesa.experimental.continuous_space``).
_new_event = object.__new__


class _Recurring(EventGenerator):
    """Mesa's :class:`~mesa.time.EventGenerator` (the model's recurring events: carriers'
    cut-offs, reviews, material reviews), each next event made in line: the same
    :class:`~mesa.time.Event` (its attributes set in the order ``Event.__init__`` sets them,
    the next id of ``Event._ids``, the weak reference to the generator's
    ``_execute_and_reschedule`` made once and shared by its events, as each would make
    one of the same bound method) pushed onto the model's heap as ``EventList.add_event``
    pushes it, without the checks of a callable Mesa makes per event
    (tests/test_supply_fifteenth.py holds it to Mesa's own)."""

    _ref: WeakMethod | None = None  # (made at the first event; no copy keeps it)

    def _schedule_next(self, time: float) -> None:
        ref = self._ref
        if ref is None:
            ref = self._ref = WeakMethod(self._execute_and_reschedule)
        event = _new_event(Event)
        event.time = time
        event.priority = self.priority.value
        event._canceled = False
        event.fn = ref
        event.unique_id = next(Event._ids)
        event.function_args = []
        event.function_kwargs = {}
        self._current_event = event
        heappush(self.model._event_list._events, event)

    def __getstate__(self) -> dict[str, Any]:
        """A copy's state: Mesa's, without the shared weak reference (none can be copied;
        the copy makes its own at its next event)."""
        state = super().__getstate__()
        state.pop("_ref", None)
        return state


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
            default = (main.network.quick or main.network.regular)[0]  # the peak's workhorse
        else:
            pool = main.network.last_mile
            default = main.network.contracted_last_mile[0]
        self.target = next(
            (a for a in pool if a.name == cfg.target or a.name.endswith("." + cfg.target)),
            default,
        )
        start = cfg.start_hour
        if cfg.random_window_hours > 0:
            rng = stream(model.seed, "disruption", index)
            start += int(rng.integers(0, cfg.random_window_hours))
        self.start_hour = start

    def schedule(self) -> None:
        """Put the start and the end on the model's timeline."""
        self.model.at(self.start_hour, self.begin)
        self.model.at(self.start_hour + self.cfg.duration_hours, self.end)

    def begin(self) -> None:
        """The disruption starts (event callback)."""
        self.target.cut_capacity(self.cfg.capacity_factor)
        self.model.log(
            "outage_start",
            actor=self.target.name,
            value=self.cfg.capacity_factor,
            detail=f"{self.cfg.kind}: {self.cfg.capacity_factor:.0%} of capacity left",
        )

    def end(self) -> None:
        """The disruption ends (event callback)."""
        self.target.restore_capacity()
        self.model.log(
            "outage_end", actor=self.target.name, value=1.0, detail=f"{self.cfg.kind} over"
        )


def build_model(config: Config, seed: int = 0) -> ViralChainModel:
    """A model ready to run."""
    return ViralChainModel(config, seed)
