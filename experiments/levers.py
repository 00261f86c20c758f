"""The lever atlas: every lever switched low → high in the regime where theory says it matters.

``viralchain levers`` runs each lever of :data:`LEVERS` in its named regime (a shipped story
plus a few overrides) with the lever low and high, over seeds ``0..N-1``. A seed fixes the
demand's random streams for both arms (common random numbers), so the difference of a KPI
within a seed is the lever's effect; the table gives its mean with a paired Student-t 95 %
interval, the sign theory expects, and whether the measured effect holds it (the interval
excludes zero on the expected side). ``--only`` picks levers, ``--out docs/levers.md`` writes
the table between the markers of that file.

The table :data:`LEVERS` is the one place a lever's regime is declared; the tests of
``tests/test_lever_atlas.py`` run the same regimes on a fixed seed set.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from experiments import docs
from experiments.fair_fight import Paired, paired
from experiments.fair_fight import fmt as _fmt

START, END = "<!-- levers:start -->", "<!-- levers:end -->"


@dataclass(frozen=True)
class Lever:
    """One lever, its regime and what theory expects of it.

    Attributes:
        name: the lever's name on the command line (``--only``).
        story: the shipped story the regime starts from.
        regime: overrides of both arms (the situation where the lever matters).
        low: overrides of the arm with the lever off (or low).
        high: overrides of the arm with the lever on (or high).
        expect: (KPI, +1 | -1): the sign theory expects of ``high - low`` per KPI.
        why: the regime in words: why theory says the lever acts here.
        acts: False marks a placeholder: the lever does not yet act with the expected sign
            in its regime (README and ``viralchain levers --help`` say so).
    """

    name: str
    story: str
    regime: tuple[str, ...]
    low: tuple[str, ...]
    high: tuple[str, ...]
    expect: tuple[tuple[str, int], ...]
    why: str
    acts: bool = True  # False: a placeholder, not yet acting with the expected sign here

    def arms(self) -> dict[str, list[str]]:
        """Overrides of the low and high arm."""
        return {"low": [*self.regime, *self.low], "high": [*self.regime, *self.high]}


RIGID, FLEX = "setup=rigid", "setup=flexible"
# small lots at the core factory: replenishment follows demand in many small orders
SMALL_LOTS = ("supply.factories.core.moq_units=200", "supply.factories.core.batch_size_units=100")
# the flagship's live stream as a surprise (no notice): nothing planned ahead for it
SURPRISE = "+content.calendar.3.notice_hours=0"
# rush when a stock-out looms within two days, covering two days: the expedited order can
# arrive inside the pulse (the clips keep selling for ~3 days after the stream)
RUSH_ON_STOCKOUT = (
    "policy.rush.signal=projected_stockout_hours",
    "policy.rush.threshold=48",
    "policy.rush.cover_hours=48",
)
# a steady staple with no content (the default world stripped of its calendar)
STEADY_WORLD = (
    "content.calendar=[]",
    "content.kols.taster_koc.spontaneous_posts_per_day=0",
    "market.organic.exposure_rate_per_day=0.02",
    "market.organic.conversion_probability=0.1",
    "run.horizon_hours=1440",  # 60 days: enough material orders for a defined ratio
    "brand.products.hero.novelty_half_life_days=1000",
)
# a steady base (search buyers, a staple that does not fade) with four surprise short videos
# (surges above it), a core factory with small lots and its nominal ten-day material lead
# time (materials bought per job): both a regular order and surges fire
SURGES_ON_A_BASE = (
    "market.organic.exposure_rate_per_day=0.05",
    "market.organic.conversion_probability=0.05",
    "brand.products.hero.novelty_half_life_days=1000",
    "content.calendar=["
    + ",".join(
        f"{{kol:{k},at_hour:{h},kind:short_video,skus:[],duration_hours:1,notice_hours:0}}"
        for k, h in (
            ("foodie_a", 200),
            ("top_streamer", 420),
            ("foodie_b", 620),
            ("top_streamer", 820),
        )
    )
    + "]",
    "supply.materials.mode=per_job",
    *SMALL_LOTS,
)
# creative_presale's speculative alternative: stock made ahead of about the demand presale
# would have taken (reference scale; ~1,200 units over the three variants)
SPECULATIVE_STOCK = (
    "brand.products.lamp_sand.initial_stock_units=550",
    "brand.products.lamp_sage.initial_stock_units=400",
    "brand.products.lamp_ink.initial_stock_units=300",
)

LEVERS: tuple[Lever, ...] = (
    Lever(
        "safety_stock",
        "steady_seller",
        (RIGID, *SMALL_LOTS, "market.n_consumers=3000"),
        ("policy.safety_stock.days_of_cover=0",),
        ("policy.safety_stock.days_of_cover=7",),
        (("fill_rate", +1), ("lost_sold_out_units", -1), ("leftover_units", +1)),
        "steady noisy demand (a small market), small lots, replenishment (days) slower than "
        "the daily noise: the reorder point decides stock-outs",
    ),
    Lever(
        "rush",
        "head_kol_livestream",
        (FLEX, SURPRISE, *RUSH_ON_STOCKOUT),
        ("policy/rush=off",),
        ("policy/rush=threshold",),
        (("fill_rate", +1), ("rush_premium_cost", +1)),
        "a surprise stream sells out; the expedited order arrives while its clips still sell",
    ),
    Lever(
        "presale",
        "creative_presale",
        (FLEX, "policy.presale.make_to_order=true"),
        ("policy/presale=off", *SPECULATIVE_STOCK),
        ("policy/presale=on",),
        (("leftover_units", -1), ("peak_working_capital", -1)),
        "presale replaces speculative stock (sell, then make: production covers the "
        "pre-orders only); off = stock made ahead of about the same demand",
    ),
    Lever(
        "pilot_batch",
        "creative_presale",
        (RIGID,),
        ("policy.replenishment.pilot_batch_units=0",),
        ("policy.replenishment.pilot_batch_units=300",),
        (("leftover_units", -1), ("peak_working_capital", -1)),
        "a new design with a large MOQ: a pilot run below the MOQ limits what is made blind",
    ),
    Lever(
        "small_batches",
        "steady_seller",
        (RIGID,),
        (),
        SMALL_LOTS,
        (("leftover_units", -1), ("peak_working_capital", -1)),
        "a staple ordered in MOQ lots of weeks of demand: smaller lots hold less stock",
    ),
    Lever(
        "information",
        "head_kol_livestream",
        (
            RIGID,
            *STEADY_WORLD,
            *SMALL_LOTS,
            "supply.materials.mode=stock",
            "market.n_consumers=20000",
        ),
        ("policy/information=off",),
        ("policy/information=on",),
        (("upstream_bullwhip_ratio", -1), ("factory_bullwhip_ratio", -1)),
        "factories hold material stock; planned from consumer demand instead of the brand's "
        "lots, their material orders swing less",
    ),
    Lever(
        "allocation",
        "multi_platform",
        (
            FLEX,
            "policy/presale=off",
            "policy.replenishment.planner=naive",
            "brand.products.linen_shirt.initial_stock_units=600",
        ),
        ("policy/allocation=fcfs",),
        ("policy/allocation=priority",),
        (("fill_rate_wechat", +1), ("fill_rate_kuaishou", -1)),
        "stock short while two live rooms compete: priority serves the private domain first "
        "and the lowest-priority platform last",
    ),
    Lever(
        "elastic_carriers",
        "head_kol_livestream",
        (FLEX, "disruption=carrier_shortage"),
        ("~logistics.carriers.crowd",),
        (),
        (("delivery_hours_mean", -1), ("transport_cost", +1)),
        "contracted last-mile capacity binds (a carrier shortage at the peak); off = no spot "
        "carrier (elastic=false would make the crowd contracted capacity, not remove it)",
    ),
    Lever(
        "outage",
        "head_kol_livestream",
        (FLEX, SURPRISE, *RUSH_ON_STOCKOUT),
        ("disruption=none",),
        ("disruption=factory_outage",),
        (("delivery_hours_mean", +1),),
        "a factory outage while the factories make the surprise's rush orders",
    ),
    Lever(
        "prepositioning",
        "multi_platform",
        (FLEX, "policy/deployment=central"),
        ("policy/prepositioning=off",),
        ("policy/prepositioning=before_livestream",),
        (("delivery_hours_mean", -1), ("fill_rate", +1)),
        "stock held centrally (pooled); before a known live stream the forward warehouse "
        "gets its regions' share, so their wave ships from near them",
    ),
    Lever(
        "forecast",
        "head_kol_livestream",
        (RIGID, "policy.replenishment.planner=naive"),
        ("policy/forecast=moving_average",),
        ("policy/forecast=signal",),
        (("leftover_units", -1),),
        "a planner that forecasts from every past day: the moving average chases the stream's "
        "spike into an MOQ lot; the signal forecast's median day forgets it",
    ),
    Lever(
        "sourcing",
        "head_kol_livestream",
        (FLEX, *SURGES_ON_A_BASE),
        ("policy/sourcing=dual_index",),
        ("policy/sourcing=base_surge",),
        (("quick_response_share", +1), ("production_cost", +1)),
        "surges above a steady base: base_surge buys every surge at quick response (the "
        "regular factory makes the base only); dual_index expedites only when its expedited "
        "position (what arrives within the quick lead time) falls short",
    ),
    Lever(
        "routing",
        "multi_platform",
        (FLEX, "policy/deployment=central", "policy/prepositioning=off"),
        ("policy/routing=assigned",),
        ("policy/routing=nearest_with_stock",),
        (("fill_rate", +1), ("lost_sold_out_units", -1)),
        "two warehouses, the forward one out of stock (stock held centrally): one order pool "
        "serves its region from the central one",
    ),
    Lever(
        "opportunity",
        "kol_matrix",
        (FLEX,),
        ("policy/opportunity=off",),
        ("policy/opportunity=graded",),
        (("reservation_cost", +1),),
        "surprise hot spots of grades A and S: capacity held, dynamic KOL tasks booked",
    ),
    Lever(
        "consolidate_parcels",
        "daily_multisku",
        (RIGID,),
        ("logistics.consolidate_parcels=false",),
        ("logistics.consolidate_parcels=true",),
        (("transport_cost", -1),),
        "buyers order several SKUs together: one parcel instead of several",
    ),
    Lever(
        "deployment",
        "multi_platform",
        (FLEX, "policy/prepositioning=off"),
        ("policy/deployment=central",),
        ("policy/deployment=demand_share",),
        (("delivery_hours_mean", -1), ("fill_rate", +1)),
        "two warehouses far apart: new stock split by the regions' demand ships from near the "
        "buyers; all of it central leaves the south's wave to the far warehouse",
    ),
    Lever(
        "forward_warehouse",
        "head_kol_livestream",
        (FLEX,),
        ("logistics=rigid",),
        ("logistics=flexible",),
        (("delivery_hours_mean", -1), ("warehouse_fixed_cost", +1)),
        "a live-stream wave: a forward warehouse near the south and a same-night wave cut "
        "delivery time, for the forward warehouse's fixed cost",
    ),
    Lever(
        "postponement",
        "head_kol_livestream",
        (FLEX, SURPRISE, "policy/rush=off", "supply.materials.mode=per_job"),
        ("supply.postponement.factories=[]",),
        ("supply.postponement.factories=[flex]",),
        (("response_time_hours", -1), ("delivery_hours_mean", -1)),
        "a surprise sells out and the quick-response factory buys materials per job: modules "
        "made ahead start its orders after assembly, not after the materials arrive",
    ),
    Lever(
        "pool_split",
        "head_kol_livestream",
        (FLEX, SURPRISE, *RUSH_ON_STOCKOUT),
        ("policy.sourcing.pool_split=false",),
        ("policy.sourcing.pool_split=true",),
        (("response_time_hours", -1), ("production_cost", +1)),
        "a surprise's rush orders exceed one factory's free capacity: split across the cloud "
        "pool (workshops cost more per unit) they arrive sooner",
    ),
    Lever(
        "materials",
        "head_kol_livestream",
        (FLEX, SURPRISE, *RUSH_ON_STOCKOUT),
        ("supply.materials.mode=per_job",),
        ("supply.materials.mode=stock",),
        (("response_time_hours", -1), ("writeoff_cost", +1)),
        "a surprise's rush orders: materials held in stock start them sooner; the stock left "
        "unused is written off",
    ),
    Lever(
        "returns_capacity",
        "multi_platform",
        (RIGID,),
        ("logistics.warehouses.central.returns_capacity_units_per_day=20",),
        ("logistics.warehouses.central.returns_capacity_units_per_day=600",),
        (("leftover_units", -1), ("writeoff_cost", +1)),
        "live apparel's many returns: with inspection capacity they are restocked or scrapped "
        "within the run instead of waiting uninspected (scrapped ones are written off at cost)",
    ),
    Lever(
        "defect_rate",
        "head_kol_livestream",
        (FLEX,),
        ("supply.quality.defect_rate=0.01",),
        ("supply.quality.defect_rate=0.10",),
        (("returned_units", +1), ("writeoff_cost", +1)),
        "more defects: more returns and scrapped units",
    ),
)

BY_NAME = {lever.name: lever for lever in LEVERS}


# ----------------------------------------------------------------------------- running


def fmt(v: float, name: str = "") -> str:
    """A number for the table (ratios and shares to three decimals)."""
    if math.isfinite(v) and name.startswith(("fill_rate", "quick_response")):
        return f"{v:.3f}"
    if math.isfinite(v) and name.endswith("_ratio") and abs(v) < 100:
        return f"{v:.3f}"
    return _fmt(v, name)


def platform_fill_rates(model: Any, brand: int = 0) -> dict[str, float]:
    """``fill_rate_<platform>``: sold ÷ demand of the brand's SKUs on each platform (the
    runs table's per-platform columns, :func:`sim.metrics.platform_kpis`; here also for a
    market without named platforms, as ``fill_rate_all``)."""
    units = model.ledger.platform_units
    skus = model.brands[brand].skus
    demand, sold = units["demand"][skus].sum(axis=0), units["sold"][skus].sum(axis=0)
    return {
        f"fill_rate_{p}": float(sold[i] / demand[i]) if demand[i] else math.nan
        for i, p in enumerate(model.platform_names)
    }


def run_arm(story: str, overrides: Sequence[str], seed: int, n_consumers: int) -> dict[str, float]:
    """The KPIs of one arm on one seed (a fresh world, no files), with per-platform fill."""
    import sim
    from experiments.fair_fight import first_goods_hours

    cfg = sim.compose(
        story, [f"market.n_consumers={n_consumers}", *overrides, "run.timeseries_resolution=off"]
    )
    r = sim.run(cfg, seed=seed, keep_model=True)
    out = dict(r.kpis)
    out["first_goods_hours"] = first_goods_hours(r)
    out.update(platform_fill_rates(r.model))
    return out


def _job(lever: str, arm: str, seed: int, n_consumers: int) -> tuple[str, str, int, dict]:
    lv = BY_NAME[lever]
    return lever, arm, seed, run_arm(lv.story, lv.arms()[arm], seed, n_consumers)


def jobs(levers: Sequence[Lever], seeds: Sequence[int]) -> Iterator[tuple[str, str, int]]:
    """Every (lever, arm, seed) to run."""
    for lv in levers:
        for arm in ("low", "high"):
            for s in seeds:
                yield lv.name, arm, s


def measure(
    levers: Sequence[Lever],
    seeds: Sequence[int],
    n_consumers: int,
    n_jobs: int = 2,
    progress: bool = True,
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """KPIs per lever, arm and seed (in seed order), run in parallel with joblib."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    todo = list(jobs(levers, seeds))
    out: dict[str, dict[str, dict[int, dict]]] = {lv.name: {"low": {}, "high": {}} for lv in levers}
    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    results = par(delayed(_job)(lv, arm, s, n_consumers) for lv, arm, s in todo)
    with tqdm(total=len(todo), desc="levers", unit="run", disable=not progress) as bar:
        for lever, arm, seed, kpis in results:
            out[lever][arm][seed] = kpis
            bar.update(1)
    return {
        name: {arm: [runs[arm][s] for s in seeds] for arm in ("low", "high")}
        for name, runs in out.items()
    }


@dataclass(frozen=True)
class Effect:
    """A lever's measured effect on one KPI."""

    lever: str
    kpi: str
    expected: int
    p: Paired

    @property
    def holds(self) -> bool:
        """The paired interval excludes zero on the expected side."""
        return self.p.significant and math.copysign(1, self.p.diff) == self.expected


def effects(lever: Lever, runs: dict[str, list[dict[str, float]]]) -> list[Effect]:
    """The lever's effect on each KPI it is expected to move."""
    return [
        Effect(
            lever.name, k, sign, paired([r[k] for r in runs["low"]], [r[k] for r in runs["high"]])
        )
        for k, sign in lever.expect
    ]


def table_markdown(
    results: dict[str, dict[str, list[dict[str, float]]]], n_seeds: int, n_consumers: int
) -> str:
    """The atlas: one row per lever and KPI."""
    head = ["lever", "regime", "KPI", "low", "high", "high − low (95 %)", "expected", "holds"]
    rows = []
    for name, runs in results.items():
        lv = BY_NAME[name]
        setup = next((o.split("=")[1] for o in lv.regime if o.startswith("setup=")), "")
        n = sum(not o.startswith("setup=") for o in lv.regime)
        regime = f"{lv.story} {setup}" + (f" +{n} overrides" if n else "")
        for e in effects(lv, runs):
            hw = e.p.half_width
            rows.append(
                [
                    f"`{name}`",
                    regime,
                    e.kpi,
                    fmt(e.p.mean_a, e.kpi),
                    fmt(e.p.mean_b, e.kpi),
                    f"{fmt(e.p.diff, e.kpi)} ± {fmt(hw, e.kpi)}",
                    "+" if e.expected > 0 else "−",
                    "yes" if e.holds else "no",
                ]
            )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return (
        f"*{n_seeds} seeds × {n_consumers:,} consumers, common random numbers; "
        "paired differences high − low with 95 % intervals.*\n\n" + "\n".join(lines)
    )


# ----------------------------------------------------------------------------- command


def _usage(message: str) -> int:
    print(f"viralchain levers: {message}", file=sys.stderr)
    return 2


def cmd_levers(args: argparse.Namespace) -> int:
    """Run the atlas and print (and optionally write) its table."""
    from sim import compose
    from sim.errors import ConfigError

    names = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else list(BY_NAME)
    bad = [n for n in names if n not in BY_NAME]
    if bad:
        return _usage(f"invalid --only = {bad[0]!r}: must be among {sorted(BY_NAME)}")
    if args.seeds < 2:
        return _usage(f"invalid --seeds = {args.seeds}: needs at least 2 (a paired interval)")
    if args.n_consumers < 100:
        return _usage(f"invalid --n-consumers = {args.n_consumers}: needs at least 100")
    if args.jobs < 1:
        return _usage(f"invalid --jobs = {args.jobs}: needs at least 1")
    chosen = [BY_NAME[n] for n in names]
    try:
        for lv in chosen:  # validate every arm once before the long part
            for ov in lv.arms().values():
                compose(lv.story, [f"market.n_consumers={args.n_consumers}", *ov])
    except ConfigError as exc:
        return _usage(str(exc))
    seeds = list(range(args.seeds))
    results = measure(chosen, seeds, args.n_consumers, args.jobs, progress=not args.quiet)
    body = table_markdown(results, len(seeds), args.n_consumers)
    docs.emit(body, args.out, START, END)
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain levers``."""
    p = subparsers.add_parser(
        "levers",
        help="every lever low vs high in its regime, paired 95%% intervals (docs/levers.md)",
        description=(__doc__ or "").split("\n\n")[1],
        epilog="levers: "
        + ", ".join(BY_NAME)
        + ". Placeholders (not yet acting with the expected sign in their regime; see "
        + "docs/levers.md): "
        + (", ".join(lv.name for lv in LEVERS if not lv.acts) or "none"),
    )
    p.add_argument("--only", help="comma-separated levers (default: all)")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    p.add_argument("--n-consumers", type=int, default=20000, help="market size (default 20000)")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", help="write the table between the markers of this file")
    p.set_defaults(func=cmd_levers)
