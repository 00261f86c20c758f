"""Uncertainties: the demand and market conditions a brand does not choose, with their ranges.

Policy levers (``experiments/levers.py``) are what a brand decides; the uncertainties here are
what it faces: how big the live stream's pulse is, how viral the clips are, how much notice it
gets, how fast the hype fades, how many buyers return, how long suppliers take, how long
buyers wait. ``viralchain explore`` samples them (Latin hypercube or Sobol sequences) and runs
every setup at each point, so that the map says *where* flexibility pays.

Each :class:`Uncertainty` names the config paths it sets. A path is dotted, as in an override;
``*`` stands for every key of a map (every product, every factory) and ``[kind=livestream]``
for the list items whose field has that value (every live stream of the calendar). A
``scale`` uncertainty multiplies the value each setup already has (``× the story's``), so
that one factor moves the rigid core factory's 240 h and the flexible line's 24 h alike; the
others set the value itself. Paths touch the main brand only (rivals keep their own values).

The table :data:`UNCERTAINTIES` is the one place they are declared; ``docs/explore.md`` lists
them with their sources.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sim.errors import ConfigError


@dataclass(frozen=True)
class Uncertainty:
    """One uncertain demand or market parameter and its range.

    Attributes:
        name: its name on the command line and the column of the explore table.
        label: what it is, in plain words (the subject of a sentence).
        paths: config paths it sets (``*`` and ``[field=value]`` selectors allowed).
        low: the range's lower end.
        high: the range's upper end.
        scale: True: the value multiplies each path's value in the composed config.
        integer: the paths take whole numbers (the sampled value is rounded).
        unit: how a value reads: ``×`` (a factor of the story's value), ``h``, ``days`` or ``""``.
        allowed: the widest range a user may ask for (``--range``), inclusive.
        source: why the range is what it is (DESIGN.md section 9: figures carry their source).
    """

    name: str
    label: str
    paths: tuple[str, ...]
    low: float
    high: float
    scale: bool
    integer: bool
    unit: str
    allowed: tuple[float, float]
    source: str

    def value(self, unit_value: float) -> float:
        """The value at ``unit_value`` in [0, 1] of the range (rounded when whole)."""
        v = self.low + float(unit_value) * (self.high - self.low)
        return float(round(v)) if self.integer else v

    def show(self, v: float) -> str:
        """A value as it reads in a sentence: ``2.1× the story's``, ``36 h``, ``0.12``."""
        if self.unit == "×":
            return f"{v:.2g}× the story's"
        text = f"{v:,.0f}" if self.integer or abs(v) >= 10 else f"{v:.2g}"
        return f"{text} {self.unit}".strip()


UNCERTAINTIES: tuple[Uncertainty, ...] = (
    Uncertainty(
        "platform_boost",
        "the platform's boost of the live stream",
        ("content.livestream.platform_boost",),
        0.0,
        12.0,
        scale=False,
        integer=False,
        unit="",
        allowed=(0.0, 100.0),
        source="non-follower viewers the platform sends per follower viewer: none to 12 (the "
        "stream's audience 0.5× to 6.5× the story's, which has 1); the pulse's size "
        "(assumption: a stream the platform pushes draws most viewers from its feed)",
    ),
    Uncertainty(
        "live_conversion",
        "the live room's conversion",
        ("content.livestream.conversion_probability",),
        0.5,
        2.0,
        scale=True,
        integer=False,
        unit="×",
        allowed=(0.01, 12.0),
        source="live-room conversion × 0.5–2 around the story's 8 % (4–16 %): a stream that "
        "sells half or twice as well per viewer (article 001: live rooms convert far better "
        "than feeds)",
    ),
    Uncertainty(
        "virality",
        "the clips' virality (branching ratio)",
        ("content.short_video.branching_ratio",),
        0.3,
        0.85,
        scale=False,
        integer=False,
        unit="",
        allowed=(0.0, 0.89),
        source="shared views per view, 0.3–0.85 around the default 0.6 (a cascade 1.4× to 6.7× "
        "its seed views); below 0.9 so that with cross-excitation 0.1 the cascade stays stable",
    ),
    Uncertainty(
        "notice_hours",
        "notice before the live stream",
        ("content.calendar[kind=livestream].notice_hours",),
        0,
        240,
        scale=False,
        integer=True,
        unit="h",
        allowed=(0, 2000),
        source="hours before the stream that the brand learns of it: a surprise (0) to ten "
        "days; the flagship's stream is at hour 212, so 212 and more mean known from the start",
    ),
    Uncertainty(
        "forecast_error",
        "the stream's forecast error",
        ("policy.replenishment.event_forecast_error",),
        0.0,
        1.2,
        scale=False,
        integer=False,
        unit="",
        allowed=(0.0, 3.0),
        source="log-normal spread of the event forecast, perfect (0) to hard to call (1.2); "
        "default 0.3 (±30 %), the fair fight's hard-to-call crossover uses 1.0",
    ),
    Uncertainty(
        "product_life_days",
        "the product's hype half-life",
        ("brand.products.*.novelty_half_life_days",),
        3.0,
        45.0,
        scale=False,
        integer=False,
        unit="days",
        allowed=(0.5, 1000.0),
        source="days for the content's conversion to halve: 'hype rises and fades in days or "
        "weeks' (DOMAIN.md); the story has 14",
    ),
    Uncertainty(
        "return_propensity",
        "the return propensity",
        ("market.consumer.return_propensity_mean",),
        0.02,
        0.25,
        scale=False,
        integer=False,
        unit="",
        allowed=(0.0, 1.0),
        source="chance a considered buy is returned (live-stream buys: × the impulse "
        "multiplier); default 0.08, apparel bought live 0.15 (article 003)",
    ),
    Uncertainty(
        "lead_time",
        "suppliers' material lead times",
        ("supply.factories.*.material_lead_hours",),
        0.5,
        2.0,
        scale=True,
        integer=False,
        unit="×",
        allowed=(0.0, 10.0),
        source="every factory's material lead time × 0.5–2 (rigid core: 120–480 h around 240 "
        "h; quick response: 12–48 h around 24 h): sourcing that speeds up or slips",
    ),
    Uncertainty(
        "patience_hours",
        "buyers' patience (median)",
        ("market.consumer.patience_hours_median",),
        24.0,
        168.0,
        scale=False,
        integer=False,
        unit="h",
        allowed=(1.0, 2000.0),
        source="longest delivery promise a median buyer accepts, one day to a week around "
        "the default 96 h ('buyers expect 1–3 days', DOMAIN.md)",
    ),
)

BY_NAME: dict[str, Uncertainty] = {u.name: u for u in UNCERTAINTIES}
SAMPLERS = ("lhs", "sobol")


# ----------------------------------------------------------------------------- choosing


def choose(names: str | None, ranges: Sequence[str] = ()) -> list[Uncertainty]:
    """The uncertainties named (comma-separated; None: all) with ``NAME=LOW:HIGH`` ranges.

    Raises:
        ConfigError: an unknown name, a malformed range, LOW ≥ HIGH or a value outside what
            the uncertainty allows; each problem names the option, the value and what is
            allowed.
    """
    problems: list[tuple[str, object, str]] = []
    known = sorted(BY_NAME)
    if names is None:
        chosen = list(UNCERTAINTIES)
    else:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        for n in wanted:
            if n not in BY_NAME:
                problems.append(("--uncertainties", n, f"must be among {known}"))
        if not wanted:
            problems.append(("--uncertainties", names, f"name at least one of {known}"))
        if len(set(wanted)) != len(wanted):
            problems.append(("--uncertainties", names, "names each uncertainty once"))
        chosen = [BY_NAME[n] for n in wanted if n in BY_NAME]
    by = {u.name: u for u in chosen}
    for text in ranges:
        name, sep, span = text.partition("=")
        lo_text, sep2, hi_text = span.partition(":")
        if not (sep and sep2):
            problems.append(("--range", text, "must read NAME=LOW:HIGH, e.g. pulse_size=0.5:3"))
            continue
        if name not in by:
            where = "the chosen uncertainties" if names is not None else "the uncertainties"
            problems.append(("--range", text, f"{name!r} is not among {where} {sorted(by)}"))
            continue
        u = by[name]
        try:
            lo, hi = float(lo_text), float(hi_text)
        except ValueError:
            problems.append(("--range", text, "LOW and HIGH must be numbers"))
            continue
        a, b = u.allowed
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            problems.append(("--range", text, "must have LOW < HIGH (finite numbers)"))
        elif lo < a or hi > b:
            problems.append(("--range", text, f"{name} must lie within {a:g}:{b:g}"))
        elif u.integer and math.floor(hi) - math.ceil(lo) < 1:
            problems.append(("--range", text, f"{name} takes whole numbers: span at least 1"))
        else:
            by[name] = replace(u, low=lo, high=hi)
    if problems:
        raise ConfigError(problems)
    return [by[u.name] for u in chosen]


def describe_table(chosen: Sequence[Uncertainty]) -> str:
    """The uncertainties as a markdown table: name, what, range, config paths, source."""
    rows = ["| uncertainty | what | range | config paths | source |", "|---|---|---|---|---|"]
    for u in chosen:
        if u.unit == "×":
            span = f"{u.low:g}–{u.high:g}× the story's"
        else:
            span = f"{u.show(u.low)} – {u.show(u.high)}"
        paths = ", ".join(f"`{p}`" for p in u.paths) + (" (× each value)" if u.scale else "")
        rows.append(f"| `{u.name}` | {u.label} | {span} | {paths} | {u.source} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- sampling


def unit_sample(sampler: str, n: int, d: int, seed: int) -> np.ndarray:
    """``n`` points in the unit cube [0, 1)^d: a Latin hypercube or a scrambled Sobol sequence
    (``n`` a power of 2), drawn from a stream named by the sampler and ``seed``."""
    from scipy.stats import qmc

    from sim.rng import seed_sequence

    rng = np.random.default_rng(seed_sequence(seed, "explore", sampler))
    if sampler == "lhs":
        return qmc.LatinHypercube(d=d, rng=rng).random(n)
    if sampler == "sobol":
        m = round(math.log2(n))
        if 2**m != n:
            raise ValueError(f"a Sobol sequence needs a power of 2 points, not {n}")
        return qmc.Sobol(d=d, scramble=True, rng=rng).random_base2(m)
    raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")


def scale_points(chosen: Sequence[Uncertainty], unit: np.ndarray) -> np.ndarray:
    """Points of the unit cube mapped onto the uncertainties' ranges (whole ones rounded)."""
    out = np.empty_like(np.asarray(unit, float))
    for j, u in enumerate(chosen):
        out[:, j] = [u.value(x) for x in unit[:, j]]
    return out


# ----------------------------------------------------------------------------- applying

_SELECTOR = re.compile(r"^(?P<key>[^\[\]]+)\[(?P<field>\w+)=(?P<value>[^\]]+)\]$")


def expand(data: dict[str, Any], path: str) -> list[tuple[str | int, ...]]:
    """The concrete key paths a declared path matches in a config dict, in config order."""
    found: list[tuple[str | int, ...]] = [()]
    for part in path.split("."):
        nxt: list[tuple[str | int, ...]] = []
        for prefix in found:
            node = _get(data, prefix)
            m = _SELECTOR.match(part)
            if part == "*":
                if isinstance(node, dict):
                    nxt += [(*prefix, k) for k in node]
                elif isinstance(node, list):
                    nxt += [(*prefix, i) for i in range(len(node))]
            elif m:
                items = node.get(m["key"]) if isinstance(node, dict) else None
                if isinstance(items, list):
                    nxt += [
                        (*prefix, m["key"], i)
                        for i, item in enumerate(items)
                        if isinstance(item, dict) and str(item.get(m["field"])) == m["value"]
                    ]
            elif isinstance(node, dict) and part in node:
                nxt.append((*prefix, part))
        found = nxt
    return found


def _get(data: Any, keys: Sequence[str | int]) -> Any:
    for k in keys:
        data = data[k]
    return data


def hydra_key(keys: Sequence[str | int]) -> str:
    """A key path as an override key: ``content.calendar.3.notice_hours``."""
    return ".".join(str(k) for k in keys)


def targets(base: dict[str, Any], u: Uncertainty) -> list[tuple[str | int, ...]]:
    """Every key path ``u`` sets in ``base`` (ConfigError when a declared path matches none)."""
    out = []
    for p in u.paths:
        found = expand(base, p)
        if not found:
            raise ConfigError(
                [
                    (
                        f"uncertainty {u.name}",
                        p,
                        "matches nothing in this story's config (choose others with "
                        "--uncertainties)",
                    )
                ]
            )
        out += found
    return out


def apply(
    base: dict[str, Any], chosen: Sequence[Uncertainty], values: Sequence[float]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``base`` with each uncertainty set to its value, and the overrides that
    reproduce it with ``viralchain run`` (``++key=value``)."""
    data = copy.deepcopy(base)
    overrides = []
    for u, v in zip(chosen, values, strict=True):
        for keys in targets(base, u):
            old = _get(base, keys)
            new = (float(old) if old is not None else 0.0) * v if u.scale else v
            new = round(new) if u.integer else float(new)
            _get(data, keys[:-1])[keys[-1]] = new
            overrides.append(f"++{hydra_key(keys)}={new!r}")
    return data, overrides
