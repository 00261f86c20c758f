"""A per-agent reference of the consumer rules: one plain ``mesa.Agent`` per consumer.

Kept for equivalence tests and benchmarks only (``market.population: per_agent``); production
runs use the columnar :class:`~sim.agents.consumers.ConsumerPopulation`. This module states the
same rules a second time, written the way a plain Mesa model would: every consumer is an
object with scalar attributes, every hour *every* consumer steps (in random order, with
``AgentSet.shuffle_do``) and takes its own decisions with its own draws:

* discovery: per product on sale (launched, or in presale), Poisson(exposure_rate_per_day/24)
  organic exposures; with fully mixed word of mouth, every adopter recommends at
  ``contacts_per_day``/24 to uniformly random consumers;
* wishes: every exposure to a product on sale raises the exposure count; the consumer
  wants a product it has not bought (and is not waiting for) with probability
  ``p = c_channel · appeal · trust_kol · exp(-s·(price/reference_price - 1)) · novelty(t)
  · (1 + boost·(exposures - 1)) · exp(-fatigue·max(0, exposures - onset))``, times the
  rating multiplier of the product and ``1 - warning_effect`` if a peer warned it (clipped to
  1), one chance per product per hour (the most persuasive exposure of the hour); it wants
  ``1 + Poisson(units_per_order_mean - 1)`` units;
* the wishes of the hour go to the brands' checkout in the consumers' arrival order, one
  batch per product (the brand quotes its promise once per hour and product, and its
  allocation policy shares scarce stock among the hour's wishes, exactly as for the columnar
  population); each consumer then reacts to its own outcome: substitute (another brand's
  launched product of the same category), come back once after ``revisit_delay_hours``
  (sold out only), or leave (a lost sale);
* after the sale: at promise + grace a consumer whose order has not shipped may cancel it;
  on delivery it decides to return the item (after an exponential delay; for sure when a
  unit is defective) or, satisfied, to recommend it to each peer with
  ``recommend_probability``; it reviews the order with ``review_probability`` (bad when late,
  defective or sent back) and, disappointed so, warns each peer with ``warn_probability``
  (``market.feedback``); the product pages tell the feedback how they answered the wishes.
  Peers are the social graph's contacts when it is enabled (the same graph as the columnar
  population's).

Consumer traits (region, platform, price sensitivity, patience, return propensity, peers) are
drawn from the same random streams and in the same way as the columnar population, so both see
the same world; the decisions use this population's own generator, so runs agree in
distribution, not draw for draw. The order book, the ledger and the brands' acceptance are
shared code: the population does their bookkeeping in batches once per hour.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

import mesa
import numpy as np
from mesa.agentset import AgentSet

from sim.agents.consumers import (
    ACCEPTED,
    LEFT,
    LOST_CAUSES,
    SOLD_OUT,
    TOO_SLOW,
)
from sim.agents.wishes import BOUGHT, NONE, WAITING, WARNED
from sim.clock import HOURS_PER_DAY
from sim.config import MarketConfig
from sim.content import Exposures
from sim.messages import Wishes
from sim.orders import (
    ALLOCATED,
    BACKLOG,
    CH_LIVE,
    CH_ORGANIC,
    CH_REVISIT,
    CH_SUBST,
    CH_VIDEO,
    CH_WOM,
    DELIVERED,
    PICKED,
)
from sim.rng import stream
from sim.social_graph import build

if TYPE_CHECKING:
    from sim.model import ViralChainModel

EXPOSURE_CAP = 10_000  # exposure counts saturate here (as in the columnar population)


def poisson(u: float, lam: float, p0: float) -> int:
    """The Poisson(``lam``) value at uniform ``u`` by inversion (``p0 = exp(-lam)``).

    Fast for the small rates used here; ``u <= p0`` is the common answer 0.
    """
    k, p = 0, p0
    cdf = p
    while u > cdf and p > 0.0:
        k += 1
        p *= lam / k
        cdf += p
    return k


class Wish:
    """One consumer wanting ``quantity`` units of one product this hour."""

    __slots__ = ("channel", "consumer", "kol", "outcome", "quantity", "revisit", "sku")

    def __init__(self, consumer, sku, channel, kol, quantity, revisit):
        self.consumer: ReferenceConsumer = consumer
        self.sku: int = sku
        self.channel: int = channel
        self.kol: int = kol
        self.quantity: int = quantity
        self.revisit: bool = revisit
        self.outcome: int = SOLD_OUT


class ReferenceConsumer(mesa.Agent):
    """One consumer, with scalar traits and its own memory of products and orders."""

    def __init__(
        self,
        model: ViralChainModel,
        population: ReferencePopulation,
        index: int,
        region: int,
        platform: int,
        price_sensitivity: float,
        patience_hours: float,
        return_propensity: float,
        peers: list[int],
    ):
        super().__init__(model)
        self.population = population
        self.index = index
        self.region = region
        self.platform = platform
        self.price_sensitivity = price_sensitivity
        self.patience_hours = patience_hours
        self.return_propensity = return_propensity
        self.peers = peers
        n_sku = model.n_sku
        self.exposures = [0] * n_sku  # exposures seen per product
        self.state = [NONE] * n_sku  # NONE, BOUGHT, WAITING or WARNED per product
        self.inbox: dict[int, list[tuple[int, int, int, int]]] = {}  # hour -> (sku, ch, kol, q)
        self.cancel_checks: dict[int, list[int]] = {}  # hour -> order ids to check
        self.returns_due: dict[int, list[int]] = {}  # hour -> order ids to send back

    # ------------------------------------------------------------------ hearing
    def hear(self, hour: int, sku: int, channel: int, kol: int, quantity: int = 1) -> None:
        """Something about ``sku`` reaches this consumer in ``hour``."""
        self.inbox.setdefault(hour, []).append((sku, channel, kol, quantity))

    def recommend(self, hour: int) -> None:
        """Fully mixed word of mouth: as an adopter, recommend to random consumers."""
        pop = self.population
        rng = pop.random
        for sku, st in enumerate(self.state):
            if st != BOUGHT:
                continue
            for _ in range(poisson(rng.random(), pop.contacts_per_hour, pop.contacts_p0)):
                pop.agents_list[rng.randrange(pop.n)].hear(hour, sku, CH_WOM, -1)

    # ------------------------------------------------------------------ deciding
    def step(self, hour: int) -> None:
        """Discover, then turn this hour's exposures and revisits into wishes."""
        pop = self.population
        rng = pop.random
        items = self.inbox.pop(hour, None)
        for sku in pop.launched:  # organic discovery
            u = rng.random()
            if u > pop.organic_p0:
                if items is None:
                    items = []
                k = poisson(u, pop.organic_per_hour, pop.organic_p0)
                items.extend([(sku, CH_ORGANIC, -1, 1)] * k)
        if not items:
            return
        fresh = []
        for item in items:
            sku, channel = item[0], item[1]
            if channel == CH_REVISIT:
                continue
            if channel in (CH_VIDEO, CH_LIVE):
                pop.tally("views", sku, self.region, 1)
            if pop.sellable_from[sku] > hour:  # not on sale yet (launch or presale start)
                continue
            if channel in (CH_VIDEO, CH_LIVE):
                pop.content_views[sku] += 1
            fresh.append(item)
            self.exposures[sku] = min(self.exposures[sku] + 1, EXPOSURE_CAP)
        best: dict[int, tuple[float, int, int, float]] = {}  # sku -> (p, channel, kol, plain)
        for sku, channel, kol, _ in fresh:
            state = self.state[sku]
            if state not in (NONE, WARNED):  # bought, or waiting to come back
                continue
            p = pop.conversion[channel] * pop.appeal[sku]
            if kol >= 0:
                p *= pop.kol_trust[kol]
            p *= math.exp(-self.price_sensitivity * (pop.price_ratio[sku] - 1.0))
            p *= pop.novelty[sku]
            seen = self.exposures[sku]
            p *= 1.0 + pop.boost * (seen - 1.0)
            if pop.fatigue > 0:
                p *= math.exp(-pop.fatigue * max(0.0, seen - pop.fatigue_onset))
            plain = min(p, 1.0)
            p *= pop.rating_multiplier[sku]
            if state == WARNED:
                p *= 1.0 - pop.warning_effect
            p = min(p, 1.0)
            if sku not in best or p > best[sku][0]:
                best[sku] = (p, channel, kol, plain)
        for sku, (p, channel, kol, plain) in best.items():  # one chance per product and hour
            if channel in (CH_VIDEO, CH_LIVE):
                pop.content_wish_probability[sku] += p
            if plain > p:
                pop.lost_to_feedback.append((sku, plain - p))
            if rng.random() < p:
                quantity = 1
                if pop.extra_units > 0:
                    quantity += poisson(rng.random(), pop.extra_units, pop.extra_units_p0)
                pop.tally("demand", sku, self.region, quantity)
                pop.wish(Wish(self, sku, channel, kol, quantity, False))
        for sku, channel, _, quantity in items:  # coming back to a sold-out product
            if channel == CH_REVISIT:
                pop.pending_intents[sku] -= quantity
                self.state[sku] = NONE
                pop.wish(Wish(self, sku, channel, -1, quantity, True))

    def react(self, wish: Wish, hour: int) -> Wish | None:
        """Turned away: substitute (returns the substitute wish), come back later, or leave."""
        pop = self.population
        rng = pop.random
        sub = -1
        if rng.random() < pop.substitution_probability:
            sub = pop.substitute(wish.sku, hour)
        if sub >= 0:
            pop.lose(self, wish.sku, wish.quantity, wish.outcome)
            if self.state[sub] not in (NONE, WARNED):
                return None
            pop.tally("demand", sub, self.region, wish.quantity)
            return Wish(self, sub, CH_SUBST, -1, wish.quantity, False)
        come_back = (
            rng.random() < pop.revisit_probability and not wish.revisit and wish.outcome == SOLD_OUT
        )
        if not come_back:
            pop.lose(self, wish.sku, wish.quantity, wish.outcome)
            return None
        self.state[wish.sku] = WAITING
        pop.pending_intents[wish.sku] += wish.quantity
        due = hour + pop.revisit_delay_hours
        if due < pop.horizon_hours:
            self.hear(due, wish.sku, CH_REVISIT, -1, wish.quantity)
        else:  # the horizon ends first: the consumer left while waiting
            pop.pending_intents[wish.sku] -= wish.quantity
            pop.lose(self, wish.sku, wish.quantity, LEFT)
        return None

    def hear_warning(self, sku: int) -> None:
        """A disappointed peer warns this consumer about ``sku`` (it converts less)."""
        if self.state[sku] == NONE:
            self.state[sku] = WARNED

    def bought(self, sku: int) -> None:
        """The brand accepted this consumer's order for ``sku``."""
        self.state[sku] = BOUGHT

    # ------------------------------------------------------------------ after the sale
    def watch(self, order_id: int, deadline: int) -> None:
        """Check this order at ``deadline``: cancel it if it has not shipped by then."""
        self.cancel_checks.setdefault(deadline, []).append(order_id)

    def check_cancellations(self, hour: int, status: np.ndarray) -> list[int]:
        """The orders due for a check now that this consumer cancels."""
        pop = self.population
        out = []
        for oid in self.cancel_checks.pop(hour, ()):
            st = status[oid]
            late = st in (BACKLOG, ALLOCATED, PICKED)
            if late and pop.random.random() < pop.late_cancel_probability:
                out.append(oid)
        return out

    def receive(
        self,
        order_id: int,
        sku: int,
        quantity: int,
        hour: int,
        impulse: bool,
        late: bool,
        defect_share: float,
    ) -> bool:
        """A parcel arrives: keep it and recommend it to peers, or plan to send it back.

        Each unit is defective with chance ``defect_share`` (defects that slipped through the
        factory's checks); a defective parcel goes back for sure. Returns whether it was.
        """
        pop = self.population
        rng = pop.random
        p = self.return_propensity
        if impulse:
            p *= pop.impulse_return_multiplier
        p *= pop.model.return_multiplier[sku]
        if late:
            p *= pop.late_return_multiplier
        defective = defect_share > 0 and rng.random() < 1 - (1 - defect_share) ** quantity
        if defective:
            p = 1.0
        back = rng.random() < min(p, 1.0)
        reviewed = pop.ratings and rng.random() < pop.review_probability
        pop.reviews.append((sku, late, defective or back, reviewed))
        if back:
            delay = rng.expovariate(1.0 / pop.return_delay_hours) if pop.return_delay_hours else 0
            due = hour + max(1, round(delay))
            if due < pop.horizon_hours:
                self.returns_due.setdefault(due, []).append(order_id)
                pop.alarm_returns(due, self)
        if pop.warnings and (late or back or defective):
            for peer in self.peers:
                if rng.random() < pop.warn_probability:
                    pop.agents_list[peer].hear_warning(sku)
            return defective
        if back:
            return defective
        if pop.recommend_probability <= 0 or not pop.peer_mixing:
            return defective
        for peer in self.peers:
            if rng.random() < pop.recommend_probability:
                when = hour + rng.randint(1, pop.wom_delay_hours_max)
                if when < pop.horizon_hours:
                    pop.agents_list[peer].hear(when, sku, CH_WOM, -1)
        return defective

    def send_back(self, hour: int) -> list[int]:
        """The order ids this consumer sends back now."""
        return self.returns_due.pop(hour, [])


class ReferencePopulation:
    """All consumers as Mesa agents, with the interface of the columnar population.

    Attributes:
        agents: the consumers (an ``AgentSet`` shuffled with this population's generator).
        kept_units: delivered and not sent back, per SKU.
        adopters: consumers who bought, per SKU.
    """

    def __init__(self, model: ViralChainModel, cfg: MarketConfig):
        self.model = model
        self.cfg = cfg
        n = cfg.n_consumers
        self.n = n
        # the same world as the columnar population: same stream, same draws, same order
        rng = stream(model.seed, "population")
        c = cfg.consumer
        self.region = rng.choice(len(model.geo), size=n, p=model.geo.population_share).astype(
            np.int16
        )
        price_sensitivity = np.maximum(
            0.0, rng.normal(c.price_sensitivity_mean, c.price_sensitivity_sd, n)
        ).astype(np.float32)
        patience = rng.lognormal(math.log(c.patience_hours_median), c.patience_log_sd, n).astype(
            np.float32
        )
        m = c.return_propensity_mean
        if 0 < m < 1:
            propensity = rng.beta(2.0, 2.0 * (1 - m) / m, n).astype(np.float32)
        else:
            propensity = np.full(n, m, dtype=np.float32)
        self.platform = model.consumer_platform  # drawn by the model (KOLs need it too)
        wom = cfg.word_of_mouth
        graph_on = cfg.social_graph.enabled
        k = wom.peers_per_consumer if wom.mixing == "peers" and not graph_on else 0
        peers = rng.integers(0, n, size=(n, k), dtype=np.int32)
        self.price_sensitivity, self.patience_hours = price_sensitivity, patience
        self.return_propensity, self.peers = propensity, peers
        self.graph = (
            build(self.region, len(model.geo), cfg.social_graph, stream(model.seed, "graph"))
            if graph_on
            else None
        )
        if self.graph is not None:  # peers are the graph's contacts
            indptr, indices = self.graph.materialize()
            peer_lists = [x.tolist() for x in np.split(indices, indptr[1:-1])]
        else:
            peer_lists = peers.tolist()

        seed = int(stream(model.seed, "reference_consumers").integers(2**63))
        self.random = random.Random(seed)
        self.np_random = stream(model.seed, "reference_consumers", "substitutes")
        self.agents_list = [
            ReferenceConsumer(
                model, self, i, int(r), int(pl), float(s), float(pt), float(rp), list(pe)
            )
            for i, (r, pl, s, pt, rp, pe) in enumerate(
                zip(
                    self.region.tolist(),
                    self.platform.tolist(),
                    price_sensitivity.tolist(),
                    patience.tolist(),
                    propensity.tolist(),
                    peer_lists,
                    strict=True,
                )
            )
        ]
        self.agents = AgentSet(self.agents_list, random=self.random)

        P = model.n_sku
        self.kept_units = np.zeros(P, dtype=np.int64)
        self.adopters = np.zeros(P, dtype=np.int64)
        self.horizon_hours = model.horizon_hours
        # rule constants, as plain Python numbers
        self.sellable_from: list[int] = []
        self.price_ratio = model.price_ratio.tolist()
        self.conversion = model.channel_conversion.tolist()
        self.kol_trust = model.kol_trust.tolist()
        self.appeal = model.appeal.tolist()
        self.boost = c.repeat_exposure_boost
        self.extra_units = c.units_per_order_mean - 1.0
        self.extra_units_p0 = math.exp(-self.extra_units)
        self.substitution_probability = c.substitution_probability
        self.revisit_probability = c.revisit_probability
        self.revisit_delay_hours = c.revisit_delay_hours
        self.late_cancel_probability = c.late_cancel_probability
        self.impulse_return_multiplier = c.impulse_return_multiplier
        self.late_return_multiplier = c.late_return_multiplier
        self.return_delay_hours = c.return_delay_hours
        self.organic_per_hour = cfg.organic.exposure_rate_per_day / HOURS_PER_DAY
        self.organic_p0 = math.exp(-self.organic_per_hour)
        self.contacts_per_hour = wom.contacts_per_day / HOURS_PER_DAY
        self.contacts_p0 = math.exp(-self.contacts_per_hour)
        self.peer_mixing = wom.mixing == "peers" and (k > 0 or self.graph is not None)
        fb = cfg.feedback
        self.fatigue = c.exposure_fatigue
        self.fatigue_onset = c.fatigue_onset_exposures
        self.ratings, self.review_probability = fb.ratings, fb.review_probability
        self.warnings, self.warn_probability = fb.warnings, fb.warn_probability
        self.warning_effect = fb.warning_effect
        self.rating_multiplier: list[float] = []
        self.content_views = [0] * P  # this hour's, for the feedback's estimates
        self.content_wish_probability = [0.0] * P
        self.lost_to_feedback: list[tuple[int, float]] = []
        self.reviews: list[tuple[int, bool, bool, bool]] = []
        self.recommend_probability = wom.recommend_probability
        self.wom_delay_hours_max = wom.delay_hours_max
        self.pending_intents = [0] * P  # wishes waiting to come back, per SKU
        self._pending_in_ledger = [0] * P
        # per-hour state
        self.launched: list[int] = []
        self.novelty: list[float] = []
        self._wishes: list[Wish] = []
        self._tally: dict[str, list[tuple[int, int, int]]] = {}
        self._lost: list[tuple[int, int, int, int]] = []
        self._cancel_alarms: dict[int, list[ReferenceConsumer]] = {}
        self._return_alarms: dict[int, list[ReferenceConsumer]] = {}

    # ------------------------------------------------------------------ called by agents
    def wish(self, w: Wish) -> None:
        """A consumer joins this hour's checkout queue."""
        self._wishes.append(w)

    def tally(self, name: str, sku: int, region: int, quantity: int) -> None:
        """Count a flow (views, demand, ...) for the ledger."""
        self._tally.setdefault(name, []).append((sku, region, quantity))

    def lose(self, agent: ReferenceConsumer, sku: int, quantity: int, reason: int) -> None:
        """A wish ends as a lost sale."""
        self._lost.append((sku, agent.region, quantity, reason))

    def substitute(self, sku: int, hour: int) -> int:
        """A launched substitute of another brand for ``sku``, drawn for one consumer (-1:
        none)."""
        return int(self.model.substitute_for(np.array([sku]), hour, self.np_random)[0])

    def alarm_returns(self, hour: int, agent: ReferenceConsumer) -> None:
        """Wake ``agent`` at ``hour`` to send a parcel back."""
        self._return_alarms.setdefault(hour, []).append(agent)

    # ------------------------------------------------------------------ the hour
    def decide(self, hour: int, content: list[Exposures]) -> None:
        """Every consumer steps; the hour's wishes go to the brands; the refused react."""
        m = self.model
        self.sellable_from = m.sellable_from.tolist()
        self.launched = [s for s, h in enumerate(self.sellable_from) if h <= hour]
        age_days = np.maximum(0, hour - m.launch_hour) / HOURS_PER_DAY
        self.novelty = np.power(0.5, age_days / m.novelty_half_life_days).tolist()
        self.rating_multiplier = m.feedback.conversion_multiplier().tolist()
        self._step_consumers(hour, content)
        self._flush()
        self._book_conversion()
        wishes, self._wishes = self._wishes, []
        self._checkout(hour, wishes)
        first = [w for w in wishes if not w.revisit]
        counts = np.zeros((3, m.n_sku), dtype=np.int64)
        for w in first:
            counts[0, w.sku] += 1
            counts[1, w.sku] += w.outcome == SOLD_OUT
            counts[2, w.sku] += w.outcome == TOO_SLOW
        m.feedback.observe_offers(counts[0], counts[1], counts[2])
        subs = []
        for w in wishes:
            if w.outcome != ACCEPTED:
                s = w.consumer.react(w, hour)
                if s is not None:
                    subs.append(s)
        self._checkout(hour, subs)
        for w in subs:
            if w.outcome != ACCEPTED:
                self.lose(w.consumer, w.sku, w.quantity, w.outcome)
        self._flush()

    def _step_consumers(self, hour: int, content: list[Exposures]) -> None:
        """Content reaches its viewers, adopters recommend, then every consumer steps."""
        agents = self.agents_list
        for b in content:  # content reaches its viewers
            for c, s in zip(b.consumers.tolist(), b.skus.tolist(), strict=True):
                agents[c].hear(hour, s, b.channel, b.kol)
        if self.contacts_per_hour > 0 and self.cfg.word_of_mouth.mixing == "fully_mixed":
            self.agents.do("recommend", hour)
        self.agents.shuffle_do("step", hour)

    def _checkout(self, hour: int, wishes: list[Wish]) -> None:
        """The brands accept or refuse the wishes, product by product, in arrival order."""
        m = self.model
        for sku in sorted({w.sku for w in wishes}):
            queue = [w for w in wishes if w.sku == sku]
            consumers = np.array([w.consumer.index for w in queue], dtype=np.int64)
            outcome = m.brand_of_sku(sku).selling.take_orders(
                hour,
                sku,
                Wishes(
                    consumers=consumers,
                    regions=np.array([w.consumer.region for w in queue], dtype=np.int16),
                    quantity=np.array([w.quantity for w in queue], dtype=np.int64),
                    patience=np.array([w.consumer.patience_hours for w in queue], np.float32)
                    * m.channel_patience[np.array([w.channel for w in queue], dtype=np.int8)],
                    channels=np.array([w.channel for w in queue], dtype=np.int8),
                    kols=np.array([w.kol for w in queue], dtype=np.int32),
                    platforms=np.array([w.consumer.platform for w in queue], dtype=np.int16),
                ),
            )
            for w, o in zip(queue, outcome.tolist(), strict=True):
                w.outcome = o
                if o == ACCEPTED:
                    w.consumer.bought(sku)
                    self.adopters[sku] += 1

    def _flush(self) -> None:
        """Write the hour's tallies, lost sales and waiting wishes into the ledger."""
        led = self.model.ledger
        for name, rows in self._tally.items():
            s, r, q = (np.array(x, dtype=np.int64) for x in zip(*rows, strict=True))
            led.add_region_flow(name, s, r, q)
        self._tally = {}
        if self._lost:
            s, r, q, why = (np.array(x, dtype=np.int64) for x in zip(*self._lost, strict=True))
            led.add_region_flow("lost", s, r, q)
            for cause, field in LOST_CAUSES.items():
                sel = why == cause
                led.add_units(field, s[sel], q[sel])
            self._lost = []
        delta = np.array(self.pending_intents, dtype=np.int64) - self._pending_in_ledger
        led.shift_intents(delta)
        self._pending_in_ledger = list(self.pending_intents)

    def _book_conversion(self) -> None:
        """Hand the hour's content views, wish probabilities and feedback losses over."""
        fb = self.model.feedback
        fb.note_conversion(
            np.array(self.content_views, dtype=np.int64),
            np.array(self.content_wish_probability),
        )
        if self.lost_to_feedback:
            s, lost = zip(*self.lost_to_feedback, strict=True)
            fb.add_demand_lost(np.array(s, dtype=np.int64), np.array(lost))
        P = len(self.content_views)
        self.content_views, self.content_wish_probability = [0] * P, [0.0] * P
        self.lost_to_feedback = []

    def expire_waiting(self) -> None:
        """At the end of a run, wishes still waiting to come back are lost sales."""
        for agent in self.agents_list:
            for hour in sorted(agent.inbox):
                for sku, channel, _, quantity in agent.inbox[hour]:
                    if channel == CH_REVISIT:
                        self.pending_intents[sku] -= quantity
                        self.lose(agent, sku, quantity, LEFT)
            agent.inbox.clear()
        self._flush()

    # ------------------------------------------------------------------ orders after sale
    def watch_order(self, order_ids: np.ndarray, deadlines: np.ndarray) -> None:
        """Each buyer notes when to check its new order for cancellation."""
        horizon = self.horizon_hours
        consumers = self.model.orders.consumer[order_ids].tolist()
        for oid, d, c in zip(order_ids.tolist(), deadlines.tolist(), consumers, strict=True):
            if d < horizon:
                agent = self.agents_list[c]
                agent.watch(oid, d)
                self._cancel_alarms.setdefault(d, []).append(agent)

    def check_cancellations(self, hour: int) -> None:
        """Buyers whose order is late past the grace decide whether to cancel it."""
        m = self.model
        due = self._cancel_alarms.pop(hour, None)
        if not due:
            return
        status = m.orders.status
        cancel = []
        for agent in due:
            cancel.extend(agent.check_cancellations(hour, status))
        if cancel:
            ids = np.array(cancel, dtype=np.int64)
            brands = m.orders.brand[ids]
            for b in np.unique(brands):
                m.brands[int(b)].selling.cancel_orders(ids[brands == b], hour)

    def receive_parcels(self, order_ids: np.ndarray, hour: int) -> None:
        """Parcels reach their buyers, each of whom decides to keep or return it."""
        m = self.model
        book = m.orders
        book.deliver(order_ids, hour)
        skus, qty = book.sku[order_ids], book.quantity[order_ids]
        m.ledger.add_units("delivered", skus, qty)
        m.ledger.add_money("delivered_value", book.brand[order_ids], book.price[order_ids] * qty)
        np.add.at(self.kept_units, skus, qty)
        late = (hour - book.placed_hour[order_ids]) > book.promise_hours[order_ids]
        share = m.ledger.defective_share().tolist()
        rows = zip(
            order_ids.tolist(),
            book.consumer[order_ids].tolist(),
            skus.tolist(),
            qty.tolist(),
            book.impulse[order_ids].tolist(),
            late.tolist(),
            strict=True,
        )
        bad = []
        for oid, c, s, q, impulse, is_late in rows:
            if self.agents_list[c].receive(oid, s, q, hour, impulse, is_late, share[s]):
                bad.append(oid)
        if self.reviews:
            s, is_late, quality, reviewed = (np.array(x) for x in zip(*self.reviews, strict=True))
            m.feedback.review(s.astype(np.int64), is_late, quality, reviewed)
            self.reviews = []
        if bad:  # the defective units found are no longer hidden in the stock
            bad = np.array(bad, dtype=np.int64)
            book.mark_defective(bad)
            m.ledger.defective_found(book.sku[bad], book.quantity[bad])

    def send_returns(self, hour: int) -> None:
        """Buyers send back the items they decided to return, due this hour."""
        m = self.model
        due = self._return_alarms.pop(hour, None)
        if not due:
            return
        ids = []
        for agent in due:
            ids.extend(agent.send_back(hour))
        ids = np.array(ids, dtype=np.int64)
        book = m.orders
        ids = ids[book.status[ids] == DELIVERED]
        if len(ids) == 0:
            return
        book.send_back(ids)
        skus, qty = book.sku[ids], book.quantity[ids]
        m.ledger.add_region_flow("returned", skus, self.region[book.consumer[ids]], qty)
        np.subtract.at(self.kept_units, skus, qty)
        for b in np.unique(book.brand[ids]):
            m.brands[int(b)].selling.take_back(ids[book.brand[ids] == b], hour)


class TouchedReferencePopulation(ReferencePopulation):
    """The fair per-agent peer (``market.population=per_agent_touched``, for benchmarks).

    The same Mesa agents and rules as :class:`ReferencePopulation`, but an hour steps only
    the consumers it touches (``AgentSet.shuffle_do`` over them): those who hear something
    that hour (content, organic discovery, a recommendation, a revisit). Organic discovery
    is drawn for the whole crowd at once (a Poisson number of exposures given to uniformly
    random consumers and launched products: the same law as one Poisson draw per consumer
    and product), and under fully mixed word of mouth only adopters are asked to recommend.
    The reference steps every consumer every hour, which no per-agent modeller would do at
    scale; this is the per-agent design a columnar population should be measured against.
    """

    def __init__(self, model: ViralChainModel, cfg: MarketConfig):
        super().__init__(model, cfg)
        for a in self.agents_list:
            a.__class__ = _TouchedConsumer
        self.due: dict[int, dict[ReferenceConsumer, None]] = {}  # hour -> consumers to step
        self.adopter_agents: dict[ReferenceConsumer, None] = {}
        self._organic = stream(model.seed, "reference_consumers", "organic")

    def _step_consumers(self, hour: int, content: list[Exposures]) -> None:
        """Content and organic discovery reach their consumers; only they step."""
        agents = self.agents_list
        for b in content:
            for c, s in zip(b.consumers.tolist(), b.skus.tolist(), strict=True):
                agents[c].hear(hour, s, b.channel, b.kol)
        launched, self.launched = self.launched, []  # no per-agent organic draws in step
        if self.organic_per_hour > 0 and launched:
            rng = self._organic
            k = int(rng.poisson(self.organic_per_hour * self.n * len(launched)))
            who, what = rng.integers(0, self.n, k).tolist(), rng.integers(0, len(launched), k)
            for c, j in zip(who, what.tolist(), strict=True):
                agents[c].hear(hour, launched[j], CH_ORGANIC, -1)
        if self.contacts_per_hour > 0 and self.cfg.word_of_mouth.mixing == "fully_mixed":
            AgentSet(list(self.adopter_agents), random=self.random).do("recommend", hour)
        touched = self.due.pop(hour, {})
        AgentSet(list(touched), random=self.random).shuffle_do("step", hour)
        self.launched = launched


class _TouchedConsumer(ReferenceConsumer):
    """A reference consumer that tells its population when it has something to do."""

    population: TouchedReferencePopulation

    def hear(self, hour: int, sku: int, channel: int, kol: int, quantity: int = 1) -> None:
        """Something reaches this consumer in ``hour``: it will step then."""
        super().hear(hour, sku, channel, kol, quantity)
        self.population.due.setdefault(hour, {})[self] = None

    def bought(self, sku: int) -> None:
        """An adopter (it recommends under fully mixed word of mouth)."""
        super().bought(sku)
        self.population.adopter_agents[self] = None
