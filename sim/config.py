"""The typed configuration schema of a run, and its validation.

The schema states types, ranges, units and meanings. It deliberately holds *no defaults*:
every default lives once, in the YAML files under ``scenarios/`` (composed by
:func:`sim.compose`). A config dict is validated exactly once, by :func:`validate`, which
reports every problem with its dotted path, the bad value and what is allowed.

Quantities on the supply side (stock, capacities, minimum order quantities, batch sizes and
fixed fees) are stated for ``market.reference_consumers`` consumers and scaled linearly to
``market.n_consumers`` when the model is built, so a story keeps its shape at any size.
"""

from __future__ import annotations

import hashlib
import json
import math
import types
import typing
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.errors import ConfigError

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
HourOfDay = Annotated[int, Field(ge=0, le=23)]


# Bounds every number of the schema obeys, on top of its own: whole numbers fit the tables'
# int64 columns; other numbers are finite and small enough that money and unit sums over a
# run stay finite (a float64 holds 1e15 x 1e15 x 1e6 without overflow).
MAX_INT = 2**63 - 1
MAX_MAGNITUDE = 1e15
# the consumer population lives in memory: about this many bytes per consumer with the
# shipped defaults (measured: numpy columns, peers and per-SKU state), more with more peers
BYTES_PER_CONSUMER = 40
MAX_CONSUMERS = 100_000_000


class Strict(BaseModel):
    """Base: unknown keys are errors, values are immutable after validation, and every
    number is a finite number (never NaN, ±inf or a boolean) within :data:`MAX_INT` /
    :data:`MAX_MAGNITUDE`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name is not None and not isinstance(value, BaseModel | str):
            key = (cls, name)
            if key not in _KINDS:
                _KINDS[key] = _number_kind(cls.model_fields[name].annotation)
            _check_number(value, _KINDS[key])
        return value


_KINDS: dict[tuple[type, str], str | None] = {}  # (model, field) → what _number_kind says


def _number_kind(annotation: Any) -> str | None:
    """``int``, ``float``, ``list`` (of numbers) or None for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _number_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_number_kind(a) for a in typing.get_args(annotation)} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    if origin is list:
        return "list" if _number_kind(typing.get_args(annotation)[0]) else None
    return {int: "int", float: "float"}.get(annotation)


def _check_number(value: Any, kind: str | None) -> None:
    if kind is None:
        return
    items = value if kind == "list" and isinstance(value, list) else [value]
    for v in items:
        if isinstance(v, bool):
            raise ValueError("must be a number, not a boolean")
        if isinstance(v, int) and abs(v) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT} in size")
        if isinstance(v, float) and math.isfinite(v) and abs(v) > MAX_MAGNITUDE:
            raise ValueError(f"must be at most {MAX_MAGNITUDE:g} in size")


# ----------------------------------------------------------------------------- run


class RunConfig(Strict):
    """How long to simulate and what to record."""

    horizon_hours: Annotated[int, Field(ge=1, le=87_600)] = Field(
        description="simulated hours (1 tick = 1 hour; at most 10 years)"
    )
    timeseries_resolution: Literal["hour", "day", "off"] = Field(
        description="resolution of the timeseries table"
    )
    debug_invariants: bool = Field(
        description="check every invariant of DESIGN.md section 8 after every tick (slow)"
    )
    fail_at_hour: int = Field(
        ge=-1,
        description="raise a deliberate error at this hour (-1: never); tests failure isolation",
    )


class MetaConfig(Strict):
    """Names recorded with every run (set by the story and setup files)."""

    story: str = Field(description="story name")
    setup: str = Field(description="setup name of the main brand")
    peak_hour: NonNegativeInt = Field(
        description="hour of the story's main event (disruption overlays start from it)"
    )


# ----------------------------------------------------------------------------- market


def _absent(value: object) -> bool:
    return value is None


class RegionConfig(Strict):
    """A consumer region, placed so that distances (km) can be computed: either on a plane
    (``x_km``, ``y_km``: straight-line distances) or on the globe (``latitude_deg``,
    ``longitude_deg``: great-circle distances). A position not given is left out of the
    resolved config, so configs on a plane keep their old form and hash."""

    population_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="share of consumers living here (shares are normalised)"
    )
    x_km: float | None = Field(
        default=None, exclude_if=_absent, description="east-west position, km (planar)"
    )
    y_km: float | None = Field(
        default=None, exclude_if=_absent, description="north-south position, km (planar)"
    )
    latitude_deg: Annotated[float, Field(ge=-90.0, le=90.0)] | None = Field(
        default=None,
        exclude_if=_absent,
        description="latitude of the region's centre, degrees north, -90 to 90 (or x_km/y_km)",
    )
    longitude_deg: Annotated[float, Field(ge=-180.0, le=180.0)] | None = Field(
        default=None,
        exclude_if=_absent,
        description="longitude of the region's centre, degrees east, -180 to 180",
    )
    local_radius_km: NonNegative = Field(description="mean last-mile distance inside the region")

    @property
    def on_globe(self) -> bool:
        """True when the region is placed by latitude and longitude."""
        return self.latitude_deg is not None


class ChannelPatienceConfig(Strict):
    """Patience multiplier by the channel a wish came from (substitutes and revisits: 1)."""

    short_video: NonNegative = Field(description="buyers after a short video")
    livestream: NonNegative = Field(description="buyers in a live room (impulse)")
    word_of_mouth: NonNegative = Field(description="buyers after a peer's recommendation")
    organic: NonNegative = Field(description="buyers who searched or found it on the shelf")


class ConsumerConfig(Strict):
    """Heterogeneous consumer traits (drawn once per consumer) and behaviour rules."""

    price_sensitivity_mean: NonNegative = Field(
        description="mean s in the price factor exp(-s (price/reference_price - 1))"
    )
    price_sensitivity_sd: NonNegative = Field(description="sd of s across consumers")
    patience_hours_median: Positive = Field(
        description="median longest acceptable delivery promise, hours"
    )
    patience_log_sd: NonNegative = Field(description="log-normal spread of patience")
    channel_patience_multiplier: ChannelPatienceConfig = Field(
        description="patience fits the channel: a buyer's patience times its channel's factor"
    )
    return_propensity_mean: Probability = Field(
        description="mean chance that a delivered unit bought after a short video is returned"
    )
    impulse_return_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="return chance multiplier for live-stream (impulse) buys"
    )
    category_return_multiplier: dict[str, NonNegative] = Field(
        description="return chance multiplier per product category (categories not listed: 1)"
    )
    late_return_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="return chance multiplier when delivered after the promise"
    )
    return_delay_hours: NonNegative = Field(description="mean hours a returned item is kept")
    cancel_grace_hours: NonNegative = Field(
        description="hours past the promise before a waiting consumer may cancel"
    )
    late_cancel_probability: Probability = Field(
        description="chance that an order not shipped by promise + grace is cancelled"
    )
    revisit_probability: Probability = Field(
        description="chance that a consumer who found the product sold out comes back once"
    )
    revisit_delay_hours: PositiveInt = Field(description="hours until that revisit")
    units_per_order_mean: Annotated[float, Field(ge=1.0)] = Field(
        description="mean units per order (1 + Poisson)"
    )
    substitution_probability: Probability = Field(
        description="chance that a consumer who cannot buy a product buys a substitute instead"
    )
    repeat_exposure_boost: NonNegative = Field(
        description="relative conversion increase per earlier exposure to the same product"
    )
    exposure_fatigue: NonNegative = Field(
        description="fatigue: conversion x exp(-fatigue x exposures beyond the onset) (0: off)"
    )
    fatigue_onset_exposures: PositiveInt = Field(
        description="exposures to a product before fatigue sets in"
    )
    presale_patience_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="buyers accept a pre-order promise this many times their usual patience"
    )


class WordOfMouthConfig(Strict):
    """Imitation demand (Bass-like) from satisfied buyers."""

    mixing: Literal["peers", "fully_mixed"] = Field(
        description="peers: satisfied buyers recommend once to linked peers on delivery; "
        "fully_mixed: every adopter keeps recommending to random consumers (Bass)"
    )
    peers_per_consumer: NonNegativeInt = Field(description="peers: peer links per consumer")
    recommend_probability: Probability = Field(
        description="peers: chance that a satisfied buyer recommends to each peer"
    )
    contacts_per_day: NonNegative = Field(
        description="fully_mixed: recommendations per adopter per day (Bass q = this x "
        "conversion_probability)"
    )
    delay_hours_max: PositiveInt = Field(
        description="recommendations reach peers uniformly within this many hours of delivery"
    )
    conversion_probability: Probability = Field(
        description="chance that a recommended consumer wants to buy"
    )


class OrganicMemory(Strict):
    """A stationary AR(1) modulation of each product's organic exposure rate, per day."""

    rho: Annotated[float, Field(gt=-1.0, lt=1.0)] = Field(
        description="AR(1) coefficient, day to day, of the log of the rate's multiplier"
    )
    log_sd: Annotated[float, Field(gt=0.0, le=2.0)] = Field(
        description="stationary sd of the log multiplier (its mean is set so that the "
        "multiplier averages 1)"
    )


class OrganicConfig(Strict):
    """Background discovery (search, shelf, platform feed): the innovation term."""

    exposure_rate_per_day: Probability = Field(
        description="share of consumers who come across a launched product per day"
    )
    conversion_probability: Probability = Field(
        description="chance that an organic exposure turns into wanting to buy"
    )
    memory: OrganicMemory | None = Field(
        default=None,
        exclude_if=_absent,
        description="demand with memory (validation: bullwhip under autocorrelated demand): "
        "each product's daily organic rate times exp(x_d - log_sd^2/2), x a stationary "
        "AR(1) per product; columnar population only; unset: a constant rate",
    )


class SocialGraphConfig(Strict):
    """The consumers' social network (sim/social_graph.py): who shares with and tells whom."""

    enabled: bool = Field(
        description="shares of a post go from its recent viewers to their network contacts, "
        "and peer word of mouth follows the network; off: shares reach uniformly random "
        "consumers and peers are uniformly random links"
    )
    degree_min: PositiveInt = Field(description="fewest contacts a consumer reaches")
    degree_max: PositiveInt = Field(description="most contacts a consumer reaches")
    degree_exponent: Annotated[float, Field(gt=2.0, le=4.0)] = Field(
        description="power-law exponent of contacts (out-degree) and of attention (in-degree)"
    )
    community_size_mean: Annotated[float, Field(ge=2.0)] = Field(
        description="mean consumers per community (sizes are Pareto-distributed)"
    )
    within_community: Probability = Field(
        description="share of a consumer's contacts inside its community"
    )
    within_region: Probability = Field(
        description="share of its contacts elsewhere in its region (the rest: anywhere)"
    )

    @model_validator(mode="after")
    def _shares(self) -> SocialGraphConfig:
        if self.within_community + self.within_region > 1.0:
            raise ValueError("within_community + within_region must be <= 1")
        if self.degree_max < self.degree_min:
            raise ValueError("degree_max must be >= degree_min")
        return self


class FeedbackConfig(Strict):
    """Supply feeds back into content and demand (DESIGN.md section 9): named switches."""

    page_sharing: bool = Field(
        description="a product page that sells out or turns buyers away with a slow promise "
        "is shared less: the share cascade of posts featuring it loses the penalty's share "
        "of its new shares while it does"
    )
    soldout_share_penalty: Probability = Field(
        description="share of a post's shares lost per unit of sold-out share of the hour's "
        "wishes for its product"
    )
    slow_share_penalty: Probability = Field(
        description="share of shares lost per unit of too-slow share of the hour's wishes"
    )
    ratings: bool = Field(
        description="delivered orders leave reviews (bad when late, defective or returned); "
        "later viewers convert in proportion to the rating they see"
    )
    review_probability: Probability = Field(description="chance a delivered order is reviewed")
    rating_prior_good: Positive = Field(
        description="good reviews assumed before any (Beta prior of the rating)"
    )
    rating_prior_bad: Positive = Field(description="bad reviews assumed before any")
    rating_elasticity: NonNegative = Field(
        description="conversion x (rating / prior rating)^elasticity"
    )
    warnings: bool = Field(
        description="disappointed buyers (late, defective or returned) warn their peers "
        "(negative word of mouth); satisfied ones recommend as before"
    )
    warn_probability: Probability = Field(
        description="chance per peer that a disappointed buyer warns it"
    )
    warning_effect: Probability = Field(
        description="a warned consumer's conversion for the product falls by this share"
    )


class PlatformConfig(Strict):
    """A selling platform (channel); several can share one stock pool."""

    population_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="share of consumers buying on it (shares are normalised)"
    )
    priority: NonNegativeInt = Field(
        description="allocation=priority serves lower numbers first when stock is scarce"
    )


class MarketConfig(Strict):
    """Consumers, regions and platforms."""

    n_consumers: PositiveInt = Field(description="simulated consumers")
    reference_consumers: PositiveInt = Field(
        description="market size at which supply-side quantities are stated"
    )
    regions: dict[str, RegionConfig] = Field(min_length=1, description="consumer regions")
    platforms: dict[str, PlatformConfig] = Field(
        description="selling platforms sharing one stock pool (empty: a single platform)"
    )
    consumer: ConsumerConfig
    word_of_mouth: WordOfMouthConfig
    organic: OrganicConfig
    social_graph: SocialGraphConfig
    feedback: FeedbackConfig
    population: Literal["columnar", "per_agent", "per_agent_touched"] = Field(
        description="consumer implementation: columnar (numpy columns, for every run), "
        "per_agent (one Mesa agent per consumer: a slow reference for equivalence tests and "
        "benchmarks) or per_agent_touched (the same agents, stepping only those touched in "
        "an hour: the fair per-agent peer of the benchmarks)"
    )

    @model_validator(mode="after")
    def _memory_needs_columnar(self) -> MarketConfig:
        if self.organic.memory is not None and self.population != "columnar":
            raise ValueError(
                f"organic.memory needs population 'columnar', not {self.population!r} "
                "(the per-agent populations draw a constant organic rate)"
            )
        return self

    @field_validator("n_consumers")
    @classmethod
    def _fits_in_memory(cls, n: int) -> int:
        if n > MAX_CONSUMERS:
            need, most = n * BYTES_PER_CONSUMER / 1e9, MAX_CONSUMERS * BYTES_PER_CONSUMER / 1e9
            raise ValueError(
                f"must be at most {MAX_CONSUMERS:,}: {n:,} consumers would need about "
                f"{need:,.0f} GB of memory (about {BYTES_PER_CONSUMER} bytes each, more with "
                f"word-of-mouth peers and SKUs; {MAX_CONSUMERS:,} need about {most:.0f} GB)"
            )
        return n


# ----------------------------------------------------------------------------- content

Tier = Literal["head", "mid", "tail", "koc"]  # the KOL tiers, largest following first
TIERS: tuple[Tier, ...] = get_args(Tier)


class TierConfig(Strict):
    """Follower range of a KOL tier, as shares of the population."""

    followers_share_min: Probability = Field(description="smallest follower share in the tier")
    followers_share_max: Probability = Field(description="largest follower share in the tier")

    @model_validator(mode="after")
    def _ordered(self) -> TierConfig:
        if self.followers_share_max < self.followers_share_min:
            raise ValueError("followers_share_max must be >= followers_share_min")
        return self


class KolConfig(Strict):
    """An influencer (KOL) or key opinion consumer (KOC)."""

    tier: Tier = Field(description=" | ".join(TIERS))
    followers_share: Probability | None = Field(
        description="share of consumers following; null draws it from the tier's range"
    )
    engagement_rate: Probability = Field(
        description="share of followers who see a short video of this KOL"
    )
    livestream_attendance: Probability = Field(
        description="share of followers who join a live stream of this KOL"
    )
    trust: NonNegative = Field(description="conversion multiplier of this KOL's audience")
    fee_per_post: NonNegative = Field(description="base fee per short video (money)")
    fee_per_livestream: NonNegative = Field(description="base fee per live stream (money)")
    commission_rate: Probability = Field(description="commission on the revenue it drives")
    spontaneous_posts_per_day: NonNegative = Field(
        description="rate of unscheduled short videos (Poisson), posts per day"
    )
    response_hours: NonNegative = Field(
        description="hours from a dynamic task (hot-spot response) to its post"
    )
    platform: str = Field(description="platform its followers buy on (empty: any)")
    framework_posts_per_week: NonNegative = Field(
        description="short videos per week under a framework contract (evenly spaced, "
        "featuring the main brand's products in turn)"
    )


class PostConfig(Strict):
    """One entry of the content calendar."""

    kol: str = Field(description="KOL name")
    at_hour: NonNegativeInt = Field(description="publication hour")
    kind: Literal["short_video", "livestream"]
    skus: list[str] = Field(description="products featured (empty: all of the main brand)")
    duration_hours: PositiveInt = Field(description="live-stream length (short videos: ignored)")
    notice_hours: NonNegativeInt | None = Field(
        default=None,
        description="hours before it that the brand learns of it (null: booked before the run; "
        "0: a surprise). The one schema default: calendar entries are list items",
    )


class ShortVideoConfig(Strict):
    """Short-video dynamics: follower views decay; shares re-broadcast (a Hawkes cascade)."""

    reach_decay_hours: Positive = Field(description="time constant of follower views, hours")
    branching_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        description="expected shared views triggered by one view (< 1)"
    )
    share_kernel_hours: Positive = Field(description="time constant of the share kernel, hours")
    cross_excitation: NonNegative = Field(
        description="shared views one view of a short video triggers on the campaign's other "
        "live short videos of the same product (split among them; branching_ratio + this < 1)"
    )
    conversion_probability: Probability = Field(description="chance a view leads to wanting")

    @model_validator(mode="after")
    def _stable(self) -> ShortVideoConfig:
        if self.branching_ratio + self.cross_excitation >= 1.0:
            raise ValueError("branching_ratio + cross_excitation must be < 1 (a stable cascade)")
        return self


class LivestreamConfig(Strict):
    """Live-stream dynamics: a window of concentrated, higher conversion."""

    conversion_probability: Probability = Field(description="chance a viewer wants to buy")
    platform_boost: NonNegative = Field(
        description="non-follower viewers the platform sends, per follower viewer"
    )
    opening_peak_factor: Annotated[float, Field(ge=1.0)] = Field(
        description="arrivals in the first hour relative to later hours"
    )


class ContentConfig(Strict):
    """KOLs, the content calendar, and content dynamics."""

    tiers: dict[Tier, TierConfig]
    kols: dict[str, KolConfig]
    calendar: list[PostConfig]
    short_video: ShortVideoConfig
    livestream: LivestreamConfig


# ----------------------------------------------------------------------------- brand


class ProductConfig(Strict):
    """A SKU of a brand."""

    price: Positive = Field(description="selling price (money per unit)")
    reference_price: Positive = Field(description="price consumers consider fair for it")
    category: str = Field(description="products of one category substitute for each other")
    launch_hour: NonNegativeInt = Field(description="hour from which it can be bought")
    novelty_half_life_days: Positive = Field(
        description="days for the conversion of its content to halve after launch (hype fades)"
    )
    initial_stock_units: NonNegativeInt = Field(
        description="stock in the warehouses at hour 0 (placed by the deployment policy)"
    )
    salvage_fraction: Probability = Field(
        description="share of unit cost recovered for leftover stock at the end (markdown)"
    )
    appeal: NonNegative = Field(
        description="conversion multiplier: how much buyers like this design (1: average)"
    )
    unit_cost: NonNegative = Field(
        description="money per unit made at a factory with cost_factor 1 (the initial stock is "
        "valued at the cheapest regular factory's cost)"
    )


class BrandConfig(Strict):
    """A brand and its catalogue."""

    name: str = Field(min_length=1)
    products: dict[str, ProductConfig] = Field(min_length=1)


class FactoryConfig(Strict):
    """A factory of the brand's supply network."""

    region: str = Field(description="region where it stands")
    role: Literal["regular", "quick_response"] = Field(
        description="regular: the bulk channel; quick_response: small fast batches"
    )
    capacity_units_per_day: NonNegative = Field(description="output at full speed")
    changeover_hours: NonNegative = Field(description="idle hours when switching SKU")
    moq_units: PositiveInt = Field(description="minimum order quantity")
    batch_size_units: PositiveInt = Field(description="orders are rounded up to multiples")
    material_lead_hours: NonNegative = Field(description="hours from order to production start")
    cost_factor: NonNegative = Field(
        description="unit cost multiplier: a product costs its unit_cost x this here"
    )
    setup_cost_per_order: NonNegative = Field(description="fixed money per production order")
    retainer_per_day: NonNegative = Field(
        description="money per day to keep its capacity available (partners' quick-response "
        "lines; a standing cost of flexibility)"
    )
    skus: list[str] = Field(description="SKUs it can make (empty: all of its brand)")


class QualityConfig(Strict):
    """Defects: more with rush orders and just after changeovers."""

    defect_rate: Probability = Field(description="share of units made defective, normally")
    rush_defect_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="defect rate multiplier for rush orders"
    )
    changeover_defect_rate: Probability = Field(
        description="extra defect rate while ramping up after a changeover"
    )
    changeover_ramp_hours: NonNegative = Field(description="hours a ramp-up lasts")
    detection_rate: Probability = Field(
        description="share of defective units caught at the factory (scrapped); the rest reach "
        "buyers, who return them"
    )


class PostponementConfig(Strict):
    """Modular design: common modules built ahead, variants finished to order."""

    factories: list[str] = Field(description="factories that build modules ahead (empty: none)")
    module_target_units: NonNegative = Field(description="module stock kept at each of them")
    module_build_units_per_day: NonNegative = Field(description="module output per day")
    module_cost_share: Probability = Field(description="share of unit cost spent on a module")
    assembly_lead_hours: NonNegative = Field(
        description="hours from order to production start when modules cover the order"
    )
    salvage_fraction: Probability = Field(
        description="share of cost recovered for modules left at the end (they are generic)"
    )


class MaterialsConfig(Strict):
    """How factories get materials (and what they plan from: see policy.information)."""

    mode: Literal["per_job", "stock"] = Field(
        description="per_job: each job waits material_lead_hours; stock: factories keep a "
        "material stock, replenished order-up-to from their own forecast"
    )
    cover_days: NonNegative = Field(description="stock: days of forecast need held above lead time")
    review_hours: PositiveInt = Field(description="stock: hours between material reviews")
    initial_units: NonNegativeInt = Field(description="stock: material units at hour 0")
    min_lead_hours: NonNegative = Field(
        description="no material order (expedited ones included) arrives sooner than this: "
        "e.g. the fabric of a design sampled days ago must first be sourced"
    )
    cost_share: Probability = Field(description="share of unit cost that is material")
    salvage_fraction: Probability = Field(
        description="share of cost recovered for materials left at the end"
    )


class SupplyConfig(Strict):
    """Factories and brand-wide production practices."""

    factories: dict[str, FactoryConfig] = Field(min_length=1)
    quality: QualityConfig
    postponement: PostponementConfig
    materials: MaterialsConfig


class WarehouseConfig(Strict):
    """A central DC or a forward (front) warehouse."""

    region: str
    kind: Literal["central", "forward"]
    serves: list[str] = Field(
        description="regions assigned to it (routing=assigned); central takes the rest"
    )
    pick_capacity_units_per_hour: NonNegative
    holding_cost_per_unit_day: NonNegative
    returns_capacity_units_per_day: NonNegative = Field(
        description="returned units inspected per day"
    )
    restock_fraction: Probability = Field(description="share of inspected returns put back")
    handling_cost_per_unit: NonNegative = Field(description="pick/pack money per unit shipped")
    fixed_cost_per_day: NonNegative = Field(
        description="rent, staff and systems per day (forward warehouses: a standing cost of "
        "flexibility; the central one's is common to every setup)"
    )


class CarrierConfig(Strict):
    """A transport provider on line-haul (factory→warehouse) or last-mile (warehouse→buyer)."""

    kind: Literal["line_haul", "last_mile"]
    capacity_units_per_day: NonNegative
    dispatch_hours: list[HourOfDay] = Field(min_length=1, description="cut-off hours of day")
    speed_km_per_hour: Positive
    handling_hours: NonNegative = Field(description="hours added to every trip")
    cost_per_unit_km: NonNegative
    cost_per_unit: NonNegative = Field(description="fixed money per unit moved")
    cost_per_parcel: NonNegative = Field(description="last mile: money per parcel")
    elastic: bool = Field(
        description="spot/crowd capacity: only used when parcels exceed contracted capacity"
    )
    surge_price_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="price multiplier of elastic capacity (surge pricing)"
    )


class LogisticsConfig(Strict):
    """Warehouses and carriers."""

    warehouses: dict[str, WarehouseConfig] = Field(min_length=1)
    carriers: dict[str, CarrierConfig] = Field(min_length=1)
    return_handling_cost_per_unit: NonNegative
    consolidate_parcels: bool = Field(
        description="a sorting centre packs a buyer's orders leaving together into one parcel"
    )


# ----------------------------------------------------------------------------- policy


class ForecastPolicy(Strict):
    """Demand forecast used by the replenishment rule."""

    name: str = Field(description="a name in sim.policies.FORECASTS")
    window_days: PositiveInt = Field(description="moving_average: days averaged")
    alpha: Annotated[float, Field(gt=0.0, le=1.0)] = Field(description="exp_smoothing: weight")
    signal_weight: NonNegative = Field(
        description="signal: share of today's content-driven demand (views of the last 24 h x "
        "demand per view) expected in a coming day"
    )
    prior_conversion: Probability = Field(
        description="signal: demand per view assumed before any has been observed"
    )
    mean_units_per_day: NonNegative | None = Field(
        default=None,
        exclude_if=_absent,
        description="known_mean: the mean demand per SKU and day, in units as simulated "
        "(known, not estimated: the textbook base-stock setting); the other forecasts ignore "
        "it",
    )

    @model_validator(mode="after")
    def _known_mean_needs_its_mean(self) -> ForecastPolicy:
        if self.name == "known_mean" and self.mean_units_per_day is None:
            raise ValueError("known_mean needs mean_units_per_day (units per SKU and day)")
        return self


class SafetyStockPolicy(Strict):
    """Safety stock on top of the forecast over the protection interval."""

    name: str = Field(description="a name in sim.policies.SAFETY_STOCKS")
    days_of_cover: NonNegative = Field(description="days of demand held extra")
    z: NonNegative = Field(description="dynamic: safety factor on the sd of daily demand")
    signal_weight: NonNegative = Field(
        description="dynamic: weight of the gap between the last 24 h's demand and the forecast"
    )


class ReplenishmentPolicy(Strict):
    """Order-up-to replenishment, reviewed periodically."""

    review_period_hours: PositiveInt = Field(description="hours between reviews")
    first_review_hour: NonNegativeInt = Field(description="hour of the first review")
    pilot_batch_units: NonNegative = Field(
        description="the first order of each SKU is a pilot batch of at most this size "
        "(reference scale; 0: no pilot)"
    )
    planner: Literal["naive", "event_aware"] = Field(
        description="naive: order-up-to on a forecast of every past day (chases spikes that "
        "have passed; for teaching); event_aware: plans known calendar events ahead from the "
        "KOL's reach, forecasts the base from days no event touched, never orders what "
        "cannot arrive in time or be sold before the season ends"
    )
    event_forecast_error: NonNegative = Field(
        description="event_aware: log-normal spread of the forecast of an event's demand"
    )
    event_memory_hours: NonNegative = Field(
        description="event_aware: hours from an event's start left out of the base forecast"
    )


class RoutingPolicy(Strict):
    """Which warehouse serves a consumer order."""

    name: str = Field(description="a name in sim.policies.ROUTINGS")


class DeploymentPolicy(Strict):
    """Where new stock (initial and produced) is placed."""

    name: str = Field(description="a name in sim.policies.DEPLOYMENTS")


class SourcingPolicy(Strict):
    """How replenishment is split between regular and quick-response factories."""

    name: str = Field(description="a name in sim.policies.SOURCINGS")
    pool_split: bool = Field(
        description="cloud-factory pool: split a quick-response order across all "
        "quick-response factories by free capacity"
    )


class AllocationPolicy(Strict):
    """How scarce stock is split between buyers of different regions or platforms."""

    name: str = Field(description="a name in sim.policies.ALLOCATIONS")


class RushPolicy(Strict):
    """Rush orders triggered by a live signal (article 001: the live sales dashboard)."""

    name: str = Field(description="off | threshold")
    signal: Literal["sales_velocity", "views", "projected_stockout_hours"] = Field(
        description="what is watched every hour"
    )
    threshold: NonNegative = Field(
        description="trigger level: demand units/hour or views/hour (both per "
        "market.reference_consumers consumers), or hours of cover left (projected stock-out)"
    )
    window_hours: PositiveInt = Field(description="the signal is averaged over this many hours")
    cover_hours: Positive = Field(description="a rush order covers this many hours of demand")
    cap_units: NonNegative = Field(description="largest rush order (reference scale)")
    max_orders: NonNegativeInt = Field(description="rush orders allowed per SKU and run")
    cooldown_hours: NonNegative = Field(description="hours between two rush orders of a SKU")
    material_lead_hours: NonNegative = Field(description="expedited material lead time")
    premium_per_unit: NonNegative = Field(description="production premium (money per unit)")
    transport_premium_per_unit: NonNegative = Field(
        description="expedited line-haul: leaves as soon as produced (money per unit)"
    )


class PresalePolicy(Strict):
    """Presale (pre-orders) with a promised delivery."""

    name: str = Field(description="off | on")
    open_when: Literal["stockout", "always"] = Field(
        description="stockout: opens when the stock left covers under trigger_cover_hours of "
        "demand; always: pre-orders from start_hour whenever stock is short (presale launch)"
    )
    start_hour: NonNegativeInt = Field(description="always: hour presale opens")
    promise_hours: Positive = Field(description="promised delivery of a pre-order, hours")
    trigger_cover_hours: NonNegative = Field(description="stockout: cover that opens presale")
    max_backlog_units: NonNegative = Field(
        description="pre-orders accepted at most (reference scale; 0: no limit)"
    )
    make_to_order: bool = Field(
        description="sell, then make: while presale is open before the product's launch, "
        "production covers the pre-orders only (no forecast, safety stock or rush)",
    )


class OpportunityPolicy(Strict):
    """Hot-spot grading S/A/B and the response procedure of each grade (article 002)."""

    name: str = Field(description="off | graded")
    window_hours: PositiveInt = Field(description="views are averaged over this many hours")
    s_threshold: NonNegative = Field(description="views/hour (reference scale) for grade S")
    a_threshold: NonNegative = Field(description="views/hour (reference scale) for grade A")
    b_threshold: NonNegative = Field(description="views/hour (reference scale) for grade B")
    s_decision_hours: NonNegative = Field(description="S: hours to decide (decision rights)")
    a_decision_hours: NonNegative = Field(description="A: hours to decide")
    s_reserve_hours: NonNegative = Field(
        description="S: hours of quick-response capacity held for the SKU (a reservation: "
        "orders placed while it holds start at once and jump the queue)"
    )
    a_reserve_hours: NonNegative = Field(description="A: hours of capacity held")
    reserve_fee_per_unit: NonNegative = Field(
        description="money per unit of quick-response capacity held (the reservation fee)"
    )
    s_dynamic_posts: NonNegativeInt = Field(description="S: dynamic KOL tasks booked")
    a_dynamic_posts: NonNegativeInt = Field(description="A: dynamic KOL tasks booked")
    b_safety_multiplier: Annotated[float, Field(ge=1.0)] = Field(
        description="B: safety stock multiplier while the grade holds"
    )
    b_hold_hours: NonNegative = Field(description="B: hours the raised safety stock holds")


class PrepositioningPolicy(Strict):
    """Moving stock to forward warehouses before a known event, and rebalancing."""

    name: str = Field(description="off | before_livestream")
    hours_before: NonNegative = Field(description="transfer this many hours before a stream")
    share: Probability = Field(
        description="share of the central stock a forward warehouse's regions would buy "
        "(their demand share of it) moved there"
    )
    rebalance: bool = Field(
        description="refill an empty forward warehouse from the central one at each review"
    )


class InformationPolicy(Strict):
    """Information sharing along the chain."""

    name: str = Field(
        description="off: factories plan materials from the brand's orders; on: from consumer "
        "demand (needs supply.materials.mode=stock to matter)"
    )
    platform_cost_per_day: NonNegative = Field(
        description="on: money per day for the shared real-time data platform (IT, licences)"
    )


class AssortmentPolicy(Strict):
    """Test-and-learn: sample batches of many designs, then scale the winners, stop the rest."""

    name: str = Field(description="off | test_and_learn")
    decision_hour: NonNegativeInt = Field(
        description="hour the test ends; until then tested designs are not replenished"
    )
    winner_share: Probability = Field(
        description="share of designs kept (the best demand per view)"
    )
    scale_up_days: NonNegative = Field(
        description="a winner's scale-up order covers this many days of its test-period demand"
    )
    winner_posts: NonNegativeInt = Field(description="dynamic KOL tasks booked per winner")


# The policy families and the names each offers: the one list. sim.policies.registry maps
# every name to its class and refuses to import if the two differ; the schema checks names
# here, so it never imports the policies (which import the schema's types).
POLICY_FAMILIES: dict[str, tuple[str, ...]] = {
    "forecast": ("moving_average", "exp_smoothing", "signal", "known_mean"),
    "safety_stock": ("fixed", "dynamic"),
    "routing": ("assigned", "nearest_with_stock", "cheapest"),
    "deployment": ("central", "demand_share"),
    "sourcing": ("regular_only", "dual_index", "base_surge", "max_flow"),
    "allocation": ("fcfs", "proportional", "priority"),
    "rush": ("off", "threshold"),
    "presale": ("off", "on"),
    "opportunity": ("off", "graded"),
    "prepositioning": ("off", "before_livestream"),
    "information": ("off", "on"),
    "assortment": ("off", "test_and_learn"),
}


class PolicyConfig(Strict):
    """The brand's decision rules, each chosen by name from a registry (:data:`POLICY_FAMILIES`)."""

    forecast: ForecastPolicy
    safety_stock: SafetyStockPolicy
    replenishment: ReplenishmentPolicy
    routing: RoutingPolicy
    deployment: DeploymentPolicy
    sourcing: SourcingPolicy
    allocation: AllocationPolicy
    rush: RushPolicy
    presale: PresalePolicy
    opportunity: OpportunityPolicy
    prepositioning: PrepositioningPolicy
    information: InformationPolicy
    assortment: AssortmentPolicy


class DisruptionConfig(Strict):
    """A factory outage or a carrier capacity loss."""

    kind: Literal["factory_outage", "carrier_shortage"]
    target: str = Field(
        description="factory or carrier name (empty: the main brand's quick-response factory, "
        "else its regular one; or its first contracted last-mile carrier)"
    )
    start_hour: NonNegativeInt = Field(description="first hour of the disruption")
    duration_hours: PositiveInt = Field(description="hours it lasts")
    capacity_factor: Probability = Field(description="share of capacity left (0: a full stop)")
    random_window_hours: NonNegativeInt = Field(
        description="> 0: the start is drawn uniformly in [start_hour, start_hour + window)"
    )


class BrandSpec(Strict):
    """Everything one competing brand brings: catalogue, network and policies."""

    setup: str = Field(
        description="label of the brand's setup (rivals; the main brand uses meta.setup)"
    )
    brand: BrandConfig
    supply: SupplyConfig
    logistics: LogisticsConfig
    policy: PolicyConfig


# ----------------------------------------------------------------------------- root


class Config(Strict):
    """A whole run: the market, its content, the main brand and any rival brands."""

    seed: NonNegativeInt = Field(description="root seed")
    replication: NonNegativeInt = Field(description="replication index (seed derivation)")
    meta: MetaConfig
    run: RunConfig
    market: MarketConfig
    content: ContentConfig
    brand: BrandConfig
    supply: SupplyConfig
    logistics: LogisticsConfig
    policy: PolicyConfig
    rivals: dict[str, BrandSpec] = Field(description="other brands competing for the consumers")
    disruptions: list[DisruptionConfig] = Field(description="outages and capacity losses")
    _brand_specs: tuple[tuple[Any, ...], list[BrandSpec]] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        _check_cross_references(self)
        return self

    # -- derived views -------------------------------------------------------------
    def brand_specs(self) -> list[BrandSpec]:
        """The main brand first, then rivals in name order.

        Built once and kept (the config is frozen); a copy with other parts builds anew.
        """
        parts = (self.meta, self.brand, self.supply, self.logistics, self.policy, self.rivals)
        cached = self._brand_specs
        if cached is None or any(a is not b for a, b in zip(cached[0], parts, strict=True)):
            main = BrandSpec(
                setup=self.meta.setup,
                brand=self.brand,
                supply=self.supply,
                logistics=self.logistics,
                policy=self.policy,
            )
            specs = [main] + [self.rivals[k] for k in sorted(self.rivals)]
            self._brand_specs = (parts, specs)
        return list(self._brand_specs[1])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of the whole resolved config."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) of the resolved config."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        """Stable hash of the resolved config (seed included)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- validation


def _position_problems(market: MarketConfig) -> list[tuple[str, object, str]]:
    """Every region placed once, and all the same way: by x_km/y_km or by latitude/longitude."""
    out: list[tuple[str, object, str]] = []
    either = "give x_km and y_km, or latitude_deg and longitude_deg"
    ways: dict[bool, list[str]] = {True: [], False: []}
    for name, r in market.regions.items():
        path = f"market.regions.{name}"
        planar = {"x_km": r.x_km, "y_km": r.y_km}
        globe = {"latitude_deg": r.latitude_deg, "longitude_deg": r.longitude_deg}
        given_p = [k for k, v in planar.items() if v is not None]
        given_g = [k for k, v in globe.items() if v is not None]
        if given_p and given_g:
            out.append((f"{path}.{given_g[0]}", globe[given_g[0]], f"{either}, not both"))
            continue
        pair = globe if given_g else planar
        missing = [k for k, v in pair.items() if v is None]
        for k in missing:
            out.append((f"{path}.{k}", None, f"required key is missing ({either})"))
        if not missing:
            ways[bool(given_g)].append(name)
    if ways[True] and ways[False]:
        out.append(
            (
                f"market.regions.{ways[True][0]}.latitude_deg",
                market.regions[ways[True][0]].latitude_deg,
                f"regions {ways[True]} are placed by latitude/longitude and {ways[False]} by "
                "x_km/y_km: place every region the same way",
            )
        )
    return out


def _check_cross_references(cfg: Config) -> None:
    """Names that must refer to something that exists (raises ValueError with a path)."""
    problems: list[tuple[str, object, str]] = _position_problems(cfg.market)
    regions = sorted(cfg.market.regions)
    kols = sorted(cfg.content.kols)
    specs = [("", cfg.brand_specs()[0])] + [(f"rivals.{k}.", cfg.rivals[k]) for k in cfg.rivals]
    all_skus: list[str] = []
    brand_names: list[str] = []
    for prefix, spec in specs:
        brand_names.append(spec.brand.name)
        skus = sorted(spec.brand.products)
        all_skus.extend(skus)
        for name, f in spec.supply.factories.items():
            path = f"{prefix}supply.factories.{name}"
            if f.region not in cfg.market.regions:
                problems.append((f"{path}.region", f.region, f"must be one of {regions}"))
            for s in f.skus:
                if s not in spec.brand.products:
                    problems.append((f"{path}.skus", s, f"must be SKUs of its brand {skus}"))
        if not any(f.role == "regular" for f in spec.supply.factories.values()):
            problems.append(
                (
                    f"{prefix}supply.factories",
                    sorted(spec.supply.factories),
                    "at least one factory must have role 'regular'",
                )
            )
        centrals = [w for w, c in spec.logistics.warehouses.items() if c.kind == "central"]
        if len(centrals) != 1:
            problems.append(
                (f"{prefix}logistics.warehouses", centrals, "exactly one warehouse must be central")
            )
        for name, w in spec.logistics.warehouses.items():
            path = f"{prefix}logistics.warehouses.{name}"
            if w.region not in cfg.market.regions:
                problems.append((f"{path}.region", w.region, f"must be one of {regions}"))
            for r in w.serves:
                if r not in cfg.market.regions:
                    problems.append((f"{path}.serves", r, f"must be regions {regions}"))
        for f in spec.supply.postponement.factories:
            if f not in spec.supply.factories:
                problems.append(
                    (
                        f"{prefix}supply.postponement.factories",
                        f,
                        f"must be factories of its brand {sorted(spec.supply.factories)}",
                    )
                )
        if not any(
            c.kind == "last_mile" and not c.elastic for c in spec.logistics.carriers.values()
        ):
            problems.append(
                (
                    f"{prefix}logistics.carriers",
                    sorted(spec.logistics.carriers),
                    "needs at least one contracted (non-elastic) last_mile carrier",
                )
            )
        kinds = {c.kind for c in spec.logistics.carriers.values()}
        for needed in ("line_haul", "last_mile"):
            if needed not in kinds:
                problems.append(
                    (
                        f"{prefix}logistics.carriers",
                        sorted(spec.logistics.carriers),
                        f"needs at least one carrier of kind '{needed}'",
                    )
                )
        for family, names in POLICY_FAMILIES.items():
            chosen = getattr(spec.policy, family).name
            allowed = sorted(names)
            if chosen not in allowed:
                problems.append(
                    (f"{prefix}policy.{family}.name", chosen, f"must be one of {allowed}")
                )
    dup = sorted({s for s in all_skus if all_skus.count(s) > 1})
    if dup:
        problems.append(("brand.products", dup, "SKU names must be unique across brands"))
    if len(set(brand_names)) != len(brand_names):
        problems.append(("brand.name", brand_names, "brand names must be unique"))
    platforms = sorted(cfg.market.platforms)
    for name, k in cfg.content.kols.items():
        if k.platform and k.platform not in cfg.market.platforms:
            problems.append(
                (
                    f"content.kols.{name}.platform",
                    k.platform,
                    f"must be empty or one of {platforms}",
                )
            )
    for i, post in enumerate(cfg.content.calendar):
        if post.kol not in cfg.content.kols:
            problems.append((f"content.calendar[{i}].kol", post.kol, f"must be one of {kols}"))
        for s in post.skus:
            if s not in all_skus:
                problems.append((f"content.calendar[{i}].skus", s, f"must be one of {all_skus}"))
    main = cfg.brand_specs()[0]
    for i, d in enumerate(cfg.disruptions):
        names = main.supply.factories if d.kind == "factory_outage" else main.logistics.carriers
        if d.target and d.target not in names:
            problems.append(
                (f"disruptions[{i}].target", d.target, f"must be one of {sorted(names)}")
            )
    for tier in TIERS:
        if tier not in cfg.content.tiers:
            problems.append(("content.tiers", sorted(cfg.content.tiers), f"missing tier '{tier}'"))
    if problems:
        raise _CrossReferenceError(problems)


class _CrossReferenceError(ValueError):
    def __init__(self, problems: list[tuple[str, object, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}={v!r}: {a}" for f, v, a in problems))


_PYDANTIC_MESSAGES = {
    "extra_forbidden": "unknown key (not part of the configuration schema)",
    "missing": "required key is missing",
}


def validate(data: dict[str, Any] | Config) -> Config:
    """Validate a composed config dict once and return the typed :class:`Config`.

    Raises:
        ConfigError: listing every problem as (dotted field, bad value, what is allowed).
    """
    if isinstance(data, Config):
        return data
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems: list[tuple[str, object, str]] = []
        for err in exc.errors():
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, _CrossReferenceError):
                problems.extend(ctx_err.problems)
                continue
            path = _dotted(err["loc"])
            msg = _PYDANTIC_MESSAGES.get(err["type"], err["msg"])
            msg = msg.replace("Input should be", "must be").replace("Value error, ", "")
            problems.append((path or "<root>", err.get("input"), msg))
        raise ConfigError(problems) from None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def make_run_id(config_hash: str, seed: int) -> str:
    """A run's id: a stable function of its resolved config and seed (also
    ``sim.result.make_run_id``; here so that a sweep's plan names its runs without importing
    the run's tables)."""
    return hashlib.sha256(f"{config_hash}:{seed}".encode()).hexdigest()[:12]
