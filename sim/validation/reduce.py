"""The agent model reduced to a textbook case: a stationary single-echelon world.

:func:`stationary_config` turns the shipped configuration into the world the inventory
textbooks assume, using only existing configuration keys:

* **stationary i.i.d. demand**: no content (no calendar, no spontaneous posts), no word of
  mouth, no rivals, price = reference price, no novelty decay, one unit per order, nobody
  returns, cancels, revisits or substitutes, and patient buyers. Demand is organic
  discovery only, with conversion 1 and exposure rate ``mean_per_day / n_consumers``: every
  product's daily demand is Poisson with mean ``mean_per_day`` (``var(D) = E[D]``). A
  consumer buys a product once, so the rate decays as ``μ·e^{-μt/N}``; a large population
  makes the decay negligible and :func:`depletion_trend_variance` computes what is left;
* **one stage**: the shipped regular factory alone, with ample capacity, no changeover
  time, no defects, the given MOQ and batch size (1 and 1: no rounding beyond whole
  units), materials bought per job with a fixed lead time, and placed in the region
  farthest from where the shipped factory stands: its goods are on the line-haul at every
  review (a day and more on the road), so the inventory position must count them;
* **the supply scale is 1**: ``reference_consumers = n_consumers``, so MOQs and batches are
  exactly the configured units (they scale with ``n_consumers / reference_consumers``).

``products`` identical products sell independently (exposures are drawn per consumer and
product), so one run gives that many replications.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sim.config import Config

#: key=value overrides on the shipped configuration: remove what the textbooks lack
STATIONARY_OVERRIDES: tuple[str, ...] = (
    "market.consumer.repeat_exposure_boost=0",
    "market.consumer.units_per_order_mean=1",
    "market.consumer.patience_hours_median=1e9",
    "market.consumer.patience_log_sd=0",
    "market.consumer.return_propensity_mean=0",
    "market.consumer.late_cancel_probability=0",
    "market.consumer.revisit_probability=0",
    "market.consumer.substitution_probability=0",
    "supply.materials.mode=per_job",
    "supply.quality.defect_rate=0",
    "supply.quality.changeover_defect_rate=0",
)

NOVELTY_HALF_LIFE_DAYS = 1e12


def stationary_config(
    *,
    n_consumers: int,
    mean_per_day: float,
    days: int,
    products: int,
    material_lead_hours: float,
    moq_units: int = 1,
    batch_units: int = 1,
    policy: Mapping[str, Mapping[str, Any]] | None = None,
    initial_stock_units: int = 0,
    overrides: Sequence[str] = (),
    factory_far: bool = True,
    memory: Mapping[str, float] | None = None,
) -> Config:
    """The shipped world reduced to stationary Poisson demand at one stage (module docstring).

    Args:
        policy: policy family → parameters to set (e.g. ``{"forecast": {"name": ...}}``).
        overrides: further key=value overrides on the shipped configuration.
        factory_far: place the factory in the region farthest from the warehouse (goods on
            the road at every review); False: in the warehouse's own region.
        memory: ``market.organic.memory`` (``rho``, ``log_sd``): each product's daily rate
            times a log-normal AR(1) multiplier of mean 1, so demand has memory; None: i.i.d.

    Raises:
        ConfigError: when a value is invalid for the run schema.
    """
    import sim

    d = sim.compose(None, [*STATIONARY_OVERRIDES, *overrides]).to_dict()
    d["run"]["horizon_hours"] = 24 * days
    d["run"]["timeseries_resolution"] = "off"
    market = d["market"]
    market["n_consumers"] = n_consumers
    market["reference_consumers"] = n_consumers
    market["word_of_mouth"]["mixing"] = "fully_mixed"
    market["word_of_mouth"]["contacts_per_day"] = 0.0
    market["organic"]["conversion_probability"] = 1.0
    market["organic"]["exposure_rate_per_day"] = mean_per_day / n_consumers
    if memory is not None:
        market["organic"]["memory"] = dict(memory)
    d["content"]["calendar"] = []
    for kol in d["content"]["kols"].values():
        kol["spontaneous_posts_per_day"] = 0.0
    d["rivals"] = {}
    first_name, first = next(iter(d["brand"]["products"].items()))
    first = {
        **first,
        "price": first["reference_price"],
        "launch_hour": 0,
        "novelty_half_life_days": NOVELTY_HALF_LIFE_DAYS,
        "initial_stock_units": initial_stock_units,
    }
    d["brand"]["products"] = {
        first_name: first,
        **{f"{first_name}_{i}": dict(first) for i in range(1, products)},
    }
    factories = d["supply"]["factories"]
    keep = next(n for n, f in factories.items() if f["role"] == "regular")
    fac = factories[keep]
    here = market["regions"][fac["region"]]
    far = max(
        market["regions"],
        key=lambda r: math.hypot(
            market["regions"][r]["x_km"] - here["x_km"], market["regions"][r]["y_km"] - here["y_km"]
        ),
    )
    central = d["logistics"]["warehouses"][next(iter(d["logistics"]["warehouses"]))]
    fac.update(
        region=far if factory_far else central["region"],
        skus=[],
        moq_units=moq_units,
        batch_size_units=batch_units,
        capacity_units_per_day=max(1e6, 100.0 * mean_per_day * products),
        material_lead_hours=material_lead_hours,
        changeover_hours=0,
    )
    d["supply"]["factories"] = {keep: fac}
    for family, values in (policy or {}).items():
        d["policy"][family].update(values)
    return sim.validate(d)


def lead_hours(cfg: Config) -> float:
    """The nominal lead time (hours) the main brand plans with at its one factory."""
    from sim.model import build_model

    brand = build_model(cfg, 0).brands[0]
    return float(brand.network.lead_time_hours(brand.network.factories[0]))


def depletion_trend_variance(
    mean_per_day: float, n_consumers: int, first_day: int, last_day: int
) -> tuple[float, float]:
    """(mean, variance over days) of the expected daily demand ``μ·e^{-μt/N}`` on the days
    ``first_day .. last_day - 1``: the slow decay as consumers buy their one unit."""
    t = np.arange(first_day, last_day, dtype=float) + 0.5
    rate = mean_per_day * np.exp(-mean_per_day * t / n_consumers)
    return float(rate.mean()), float(rate.var())


def daily(hourly: np.ndarray) -> np.ndarray:
    """Sum an hourly series (whole days) into days."""
    days = math.ceil(len(hourly) / 24)
    return np.pad(hourly, (0, days * 24 - len(hourly))).reshape(days, 24).sum(axis=1)
