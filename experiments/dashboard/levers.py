"""The dashboard's lever panel: which levers exist, their current values, and their overrides.

Levers are discovered, not hard-coded: every policy family under ``scenarios/policy/`` becomes
a switch (two options, one of them ``off``) or a select; a few parameters the workshop cares
about become sliders when the schema has them; the forward warehouses and elastic carriers
of the flexible network become switches; each KOL tier of the story gets an audience
multiplier. A lever's *value* is what the facilitator asked for; :func:`overrides_for` turns
the levers that were touched into Hydra overrides for one side of the comparison, relative to
that side's own config, so defaults stay in the YAML files and nowhere else.

Scopes: ``world`` levers (KOL mix, disruptions) change the market and apply to both sides,
so the comparison stays on the same demand; ``chain`` levers apply to the challenger side
(or to both when asked).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from experiments.compose import group_options
from sim.config import Config

Kind = Literal["select", "switch", "slider"]
Scope = Literal["world", "chain"]

# sliders shown when the schema has the field: (dotted path, label, min, max, step, help)
SLIDERS: tuple[tuple[str, str, float, float, float, str], ...] = (
    (
        "policy.safety_stock.days_of_cover",
        "Safety stock (days of cover)",
        0.0,
        14.0,
        0.5,
        "days of demand held on top of the forecast",
    ),
    (
        "policy.rush.threshold",
        "Rush threshold",
        0.0,
        500.0,
        10.0,
        "signal level that triggers a rush order (per 100k consumers; used when rush is on)",
    ),
    (
        "policy.replenishment.review_period_hours",
        "Review every (hours)",
        1.0,
        48.0,
        1.0,
        "hours between two replenishment reviews",
    ),
)

# the order of the main panel; other policy families go under "more policies"
MAIN = (
    "policy.safety_stock.days_of_cover",
    "policy/safety_stock",
    "policy/rush",
    "policy.rush.threshold",
    "policy/presale",
    "policy/prepositioning",
    "network/forward_warehouses",
    "network/elastic_carriers",
    "policy.replenishment.review_period_hours",
)
HELP = {
    "policy/rush": "a rush order at the quick-response factory when the live signal passes the "
    "threshold",
    "policy/presale": "take pre-orders with a later delivery promise when a stock-out looms",
    "policy/prepositioning": "move stock to the forward warehouse before a live stream",
    "policy/safety_stock": "fixed days of cover, or dynamic: from demand spread and views",
    "policy/opportunity": "grade hot spots (S/A/B) and reserve capacity for the biggest",
    "policy/information": "factories plan materials from consumer demand, not the brand's orders",
}
LABELS = {
    "policy/rush": "Rush orders",
    "policy/presale": "Presale (pre-orders)",
    "policy/prepositioning": "Forward pre-positioning",
    "policy/opportunity": "Graded hot-spot response",
    "policy/information": "Share demand with factories",
    "policy/safety_stock": "Safety stock rule",
    "disruption": "Disruption",
}


@dataclass(frozen=True)
class Lever:
    """One control of the panel.

    Attributes:
        key: unique id: ``policy/<family>`` (a config group), a dotted config path (a
            slider), ``network/...`` or ``kol_tier/<tier>``.
        label: what the panel shows.
        kind: ``select``, ``switch`` or ``slider``.
        scope: ``world`` (both sides) or ``chain`` (the challenger side, or both).
        options: a select's choices; a switch's (off, on) group options.
        low, high, step: a slider's range.
        help: one line shown under the control.
        main: shown in the main panel (else under "more policies").
        source: for network switches, the facility definitions that "on" adds.
    """

    key: str
    label: str
    kind: Kind
    scope: Scope
    options: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    step: float = 1.0
    help: str = ""
    main: bool = True
    source: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    # ------------------------------------------------------------------ reading a config
    def current(self, config: Config) -> Any:
        """The lever's value in ``config`` (what the panel shows before it is touched)."""
        if self.key.startswith("policy/"):
            name = getattr(config.policy, self.key.split("/", 1)[1]).name
            if self.kind == "switch":
                return name == self.options[1]
            return name
        if self.key == "disruption":
            return _disruption_of(config, self.options)
        if self.key == "network/forward_warehouses":
            return bool(_forward_warehouses(config))
        if self.key == "network/elastic_carriers":
            return bool(_elastic_carriers(config))
        if self.key.startswith("kol_tier/"):
            return 1.0
        return _get(config, self.key)

    # ------------------------------------------------------------------ writing overrides
    def overrides(self, value: Any, config: Config) -> list[str]:
        """Hydra overrides that give ``config`` the value ``value`` (none if it has it)."""
        if self.key.startswith("policy/") or self.key == "disruption":
            option = value
            if self.kind == "switch":
                option = self.options[1] if value else self.options[0]
            if option == self._option_of(config):
                return []
            return [f"{self.key}={_quote(option)}"]
        if self.key == "network/forward_warehouses":
            have = _forward_warehouses(config)
            return _network(bool(value), have, self.source, "logistics.warehouses")
        if self.key == "network/elastic_carriers":
            have = _elastic_carriers(config)
            return _network(bool(value), have, self.source, "logistics.carriers")
        if self.key.startswith("kol_tier/"):
            tier = self.key.split("/", 1)[1]
            factor = float(value)
            if math.isclose(factor, 1.0):
                return []
            return [
                f"content.kols.{name}.followers_share={round(k.followers_share * factor, 6)}"
                for name, k in config.content.kols.items()
                if k.tier == tier and k.followers_share is not None
            ]
        if _get(config, self.key) == value:
            return []
        return [f"{self.key}={_number(value)}"]

    def _option_of(self, config: Config) -> str:
        if self.key == "disruption":
            return _disruption_of(config, self.options)
        return getattr(config.policy, self.key.split("/", 1)[1]).name


def discover(reference: Config, flexible: Config | None = None) -> list[Lever]:
    """The levers that exist for a story, in panel order.

    Args:
        reference: a composed config of the story (its schema fields and KOLs are read).
        flexible: the story under the flexible setup, whose forward warehouses and elastic
            carriers the network switches add (defaults to ``reference``).
    """
    flexible = flexible or reference
    levers: dict[str, Lever] = {}
    for path, label, low, high, step, help_text in SLIDERS:
        if _has(reference, path):
            levers[path] = Lever(path, label, "slider", "chain", (), low, high, step, help_text)
    families = sorted(p.name for p in _policy_dirs())
    for family in families:
        options = tuple(group_options(f"policy/{family}"))
        if len(options) < 2 or not hasattr(reference.policy, family):
            continue
        key = f"policy/{family}"
        label = LABELS.get(key, family.replace("_", " ").capitalize())
        if len(options) == 2 and "off" in options:
            on = next(o for o in options if o != "off")
            on_text = "" if on == "on" else f" ({on.replace('_', ' ')})"
            levers[key] = Lever(
                key, label + on_text, "switch", "chain", ("off", on), help=HELP.get(key, "")
            )
        else:
            levers[key] = Lever(key, label, "select", "chain", options, help=HELP.get(key, ""))
    forward = _forward_warehouses(flexible)
    if forward:
        levers["network/forward_warehouses"] = Lever(
            "network/forward_warehouses",
            "Forward warehouse",
            "switch",
            "chain",
            help="stock near buyers: " + ", ".join(forward),
            source={n: _dump(flexible.logistics.warehouses[n]) for n in forward},
        )
    elastic = _elastic_carriers(flexible)
    if elastic:
        levers["network/elastic_carriers"] = Lever(
            "network/elastic_carriers",
            "Elastic carriers",
            "switch",
            "chain",
            help="extra last-mile capacity bought at surge prices: " + ", ".join(elastic),
            source={n: _dump(flexible.logistics.carriers[n]) for n in elastic},
        )
    tiers = sorted(
        {k.tier for k in reference.content.kols.values() if k.followers_share is not None}
    )
    for tier in tiers:
        levers[f"kol_tier/{tier}"] = Lever(
            f"kol_tier/{tier}",
            f"{tier.upper() if tier == 'koc' else tier.capitalize()}-tier KOL audience (×)",
            "slider",
            "world",
            (),
            0.0,
            2.0,
            0.25,
            "multiplies the follower share of the story's KOLs of this tier (KOL tier mix)",
        )
    disruptions = tuple(group_options("disruption"))
    if len(disruptions) >= 2:
        levers["disruption"] = Lever(
            "disruption",
            LABELS["disruption"],
            "select",
            "world",
            disruptions,
            help="an outage or capacity loss at the story's peak, on both sides",
        )
    ordered = [levers[k] for k in MAIN if k in levers]
    rest = [lv for k, lv in levers.items() if k not in MAIN]
    world = [lv for lv in rest if lv.scope == "world"]
    more = [
        Lever(**{**lv.__dict__, "main": False})
        for lv in rest
        if lv.scope == "chain" and lv.key.startswith("policy/")
    ]
    return ordered + world + more


def overrides_for(
    levers: Sequence[Lever],
    values: Mapping[str, Any],
    config: Config,
    *,
    challenger: bool,
    levers_on_both: bool = False,
) -> list[str]:
    """Overrides for one side from the levers the facilitator touched.

    Args:
        levers: the panel's levers.
        values: lever key → requested value (only touched levers).
        config: that side's config before the levers.
        challenger: whether this is the side the chain levers act on.
        levers_on_both: apply chain levers to both sides.
    """
    out: list[str] = []
    for lever in levers:
        if lever.key not in values:
            continue
        if lever.scope == "chain" and not (challenger or levers_on_both):
            continue
        out += lever.overrides(values[lever.key], config)
    return out


# ----------------------------------------------------------------------------- helpers


def _policy_dirs():
    from experiments.compose import scenarios_dir

    root = scenarios_dir() / "policy"
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def _get(config: Any, path: str) -> Any:
    obj = config
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, Mapping) else getattr(obj, part)
    return obj


def _has(config: Any, path: str) -> bool:
    try:
        _get(config, path)
    except (AttributeError, KeyError):
        return False
    return True


def _forward_warehouses(config: Config) -> list[str]:
    return [n for n, w in config.logistics.warehouses.items() if w.kind == "forward"]


def _elastic_carriers(config: Config) -> list[str]:
    return [n for n, c in config.logistics.carriers.items() if getattr(c, "elastic", False)]


def _disruption_of(config: Config, options: Sequence[str]) -> str:
    """The disruption option whose kinds match the config's disruptions (best effort)."""
    kinds = sorted(d.kind for d in getattr(config, "disruptions", []) or [])
    if not kinds:
        return "none" if "none" in options else (options[0] if options else "")
    for o in options:
        if o in kinds:
            return o
    return kinds[0]


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json") if hasattr(model, "model_dump") else dict(model)


def _network(
    want: bool, have: list[str], source: Mapping[str, Mapping[str, Any]], prefix: str
) -> list[str]:
    if want and not have:
        return [f"+{prefix}.{name}={_hydra(spec)}" for name, spec in source.items()]
    if not want and have:
        return [f"~{prefix}.{name}" for name in have]
    return []


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _quote(text: str) -> str:
    """A group option in an override, quoted only where the grammar would read a literal."""
    return f"'{text}'" if text in ("true", "false", "null") else text


def _hydra(value: Any) -> str:
    """A value in Hydra's override grammar (dicts, lists, strings, numbers, booleans)."""
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    text = str(value)
    if text.replace("_", "").isalnum() and text not in ("true", "false", "null"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
