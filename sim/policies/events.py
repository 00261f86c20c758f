"""Known calendar events and the brand's forecast of them (``policy.replenishment.planner``).

A competent planner knows its content calendar: the hour of each booked post and live
stream (from ``notice_hours`` before it, if the post sets it; else from the start), which
products it features, and the KOL's expected reach (followers, engagement or
live attendance, the platform's boost). With ``planner: event_aware`` the brand forecasts
each event's demand from that reach and the channel's conversion (trust, appeal, fading
novelty, units per order), times a mean-one log-normal error of spread
``event_forecast_error`` drawn once per event and SKU. The planner then

* plans stock for an event only while an order can still arrive before it (events that no
  factory can reach in time are stocked ahead, in the initial stock: the stock plan agreed
  with the streamer's team, article 001);
* forecasts the *baseline* (for the regular, cheap channel) from days no known event touched
  (the ``event_memory_hours`` from its start), so it does not chase a spike that
  has passed;
* does not place an order that cannot be sold before the season (the run) ends.

``planner: naive`` keeps the old behaviour (moving averages over every day, for teaching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.config import ReplenishmentPolicy
from sim.policies.forecast import Signals
from sim.rng import stream

if TYPE_CHECKING:
    from sim.model import ViralChainModel


@dataclass(frozen=True)
class KnownEvent:
    """A calendar post or live stream featuring one of the brand's SKUs."""

    hour: int
    sku: int
    units: float  # forecast demand it brings (model scale, error included)
    known_from: int  # the hour the brand learns of it (0: booked before the run)


def expected_units(
    model: ViralChainModel, kol_index: int, kind: str, sku: int, hour: int, n_featured: int = 1
) -> float:
    """Expected demand (units) a post or live stream brings for one SKU, from the KOL's reach
    and the channel's conversion (what the KOL team's past events tell the planner). Each view
    shows one of the ``n_featured`` products of the post."""
    m = model
    kol = m.kols[kol_index]
    c = m.config.content
    followers = len(kol.followers)
    if kind == "livestream":
        views = followers * kol.cfg.livestream_attendance * (1 + c.livestream.platform_boost)
        conv = c.livestream.conversion_probability
    else:
        views = followers * kol.cfg.engagement_rate / (1 - c.short_video.branching_ratio)
        conv = c.short_video.conversion_probability
    age_days = max(0, hour - int(m.launch_hour[sku])) / HOURS_PER_DAY
    novelty = 0.5 ** (age_days / float(m.novelty_half_life_days[sku]))
    cons = m.config.market.consumer
    price = math.exp(-cons.price_sensitivity_mean * (float(m.price_ratio[sku]) - 1.0))
    p = min(1.0, conv * kol.cfg.trust * float(m.appeal[sku]) * novelty * price)
    return views / max(1, n_featured) * p * cons.units_per_order_mean


class EventPlan:
    """The known events of one brand's SKUs and what the planner has already provided for."""

    def __init__(self, model: ViralChainModel, brand_name: str, rp: ReplenishmentPolicy):
        self.model, self.brand_name, self.params = model, brand_name, rp
        self.active = rp.planner == "event_aware"
        self.memory_hours = rp.event_memory_hours
        self.events: list[KnownEvent] = []
        self.planned: list[bool] = []

    def read_calendar(self, skus: np.ndarray) -> None:
        """Forecast the calendar's events for the brand's SKUs (once the KOLs exist)."""
        if not self.active:
            return
        model, cfg, sd = self.model, self.model.config, self.params.event_forecast_error
        mine = {int(s) for s in skus}
        main = [model.sku_index[s] for s in cfg.brand.products]
        for i, post in enumerate(cfg.content.calendar):
            featured = [model.sku_index[s] for s in post.skus] if post.skus else main
            for s in featured:
                if s not in mine:
                    continue
                kol = model.kol_index[post.kol]
                mean = expected_units(model, kol, post.kind, s, post.at_hour, len(featured))
                rng = stream(model.seed, "event_forecast", self.brand_name, i, s)
                units = mean * math.exp(sd * float(rng.standard_normal()) - sd * sd / 2)
                notice = post.notice_hours
                known = 0 if notice is None else max(0, post.at_hour - notice)
                self.events.append(KnownEvent(post.at_hour, s, units, known))
                self.planned.append(False)

    def _due(self, e: KnownEvent, make_per_hour: float) -> float:
        """When an event's stock must arrive: its hour, minus the time to make it beyond
        the day a lead time already counts (``make_per_hour``: the factory's output)."""
        if make_per_hour <= 0:
            return e.hour
        return e.hour - max(0.0, e.units / make_per_hour - HOURS_PER_DAY)

    def units(
        self,
        sku: int,
        lo_hour: float,
        hi_hour: float,
        now: int,
        unplanned_only: bool = False,
        make_per_hour: float = 0.0,
    ) -> float:
        """Forecast units of the SKU's events due in ``[lo_hour, hi_hour)``, known at ``now``."""
        # the cheap tests first (the filter has no side effect: the same events are summed,
        # in the same order, by sum()'s own algorithm); the events' due hours for this
        # output, worked out once (:meth:`_dues`)
        return sum(
            e.units
            for e, done, due in zip(
                self.events, self.planned, self._dues(make_per_hour), strict=True
            )
            if e.sku == sku
            and e.known_from <= now
            and not (unplanned_only and done)
            and lo_hour <= due < hi_hour
        )

    def _dues(self, make_per_hour: float) -> list[float]:
        """:meth:`_due` of every event for ``make_per_hour``, kept per output (a review asks
        it for the same few factories' outputs again and again; the events are fixed once
        the calendar is read). Kept for the list of events they were worked out from: a
        list replaced or grown starts afresh; debug mode checks the kept ones
        (:meth:`check_dues`)."""
        events = self.events
        kept = self.__dict__.get("_due_cache")
        if kept is None or kept[0] is not events or kept[1] != len(events):
            kept = self._due_cache = (events, len(events), {})
        table = kept[2]
        dues = table.get(make_per_hour)
        if dues is None:
            dues = table[make_per_hour] = [self._due(e, make_per_hour) for e in events]
        return dues

    def check_dues(self) -> None:
        """Debug mode: the kept due hours (:meth:`_dues`) are those of the events now."""
        from sim.invariants import InvariantError

        kept = self.__dict__.get("_due_cache")
        if kept is None or kept[0] is not self.events or kept[1] != len(self.events):
            return  # nothing kept for these events: the next ask works them out
        for rate, dues in kept[2].items():
            if dues != [self._due(e, rate) for e in self.events]:
                raise InvariantError(f"{self.brand_name}: stale due hours of known events")

    def mark_planned(
        self, sku: int, lo_hour: float, hi_hour: float, now: int, make_per_hour: float = 0.0
    ) -> None:
        """The regular channel has provided for the SKU's events due in ``[lo_hour, hi_hour)``."""
        dues = self._dues(make_per_hour)
        for i, e in enumerate(self.events):
            if e.sku == sku and e.known_from <= now and lo_hour <= dues[i] < hi_hour:
                self.planned[i] = True

    def baseline_signals(self, sku: int, sig: Signals, end_hour: int) -> Signals:
        """The daily series without the days a known event touched (the
        ``event_memory_hours`` from its start); ``end_hour`` is the last hour of the series."""
        n = len(sig.daily_demand)
        if n == 0:
            return sig
        # day j (0 the oldest) starts at end_hour + 1 - 24 k, k = n - j; an event at hour h
        # touches it when that start + 24 > h and that start < h + memory: 24 k < end_hour +
        # 25 - h (whole numbers: exact) and end_hour + 1 - 24 k < h + memory (a float: the
        # estimate of its edge is settled by that very comparison, as numpy made it), so k
        # runs over whole numbers between the two bounds
        start = end_hour + 1
        keep: list[bool] | None = None
        for e in self.events:
            if e.sku != sku or e.hour >= start:
                # another SKU's, or not begun by the series' end: every day starts 24 h or
                # more before it (k_hi below would be 0 or less), so it touches none
                continue
            k_hi = math.ceil((start + HOURS_PER_DAY - e.hour) / HOURS_PER_DAY) - 1
            if k_hi > n:
                k_hi = n
            limit = e.hour + self.memory_hours  # the float numpy compared the starts with
            k_lo = math.floor((start - e.hour - self.memory_hours) / HOURS_PER_DAY) + 1
            k_lo = max(1, min(k_lo, k_hi + 1))
            while k_lo > 1 and start - HOURS_PER_DAY * (k_lo - 1) < limit:
                k_lo -= 1
            while k_lo <= k_hi and not start - HOURS_PER_DAY * k_lo < limit:
                k_lo += 1
            if k_lo <= k_hi:
                if keep is None:
                    keep = [True] * n
                for k in range(k_lo, k_hi + 1):
                    keep[n - k] = False
        if keep is None:  # no day touched: every day, as copies
            return Signals(sig.daily_demand.copy(), sig.daily_views.copy(), sig.presale_units)
        mask = np.array(keep, dtype=bool)
        return Signals(sig.daily_demand[mask], sig.daily_views[mask], sig.presale_units)
