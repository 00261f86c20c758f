"""Check 6, process flexibility: Jordan & Graves (1995), "Principles on the benefits of
manufacturing process flexibility", Management Science 41(4).

**Setting (the paper's).** ``n`` products and ``n`` plants, plant capacity ``c`` each,
independent demands, truncated normal (mean ``μ``, sd ``σ``, cut at ``μ ± kσ``; the paper
uses μ = c = 100, σ = 40, k = 2). A flexibility design says which plant can make which
product (in the model: ``supply.factories.<name>.skus``, empty meaning all of the brand's
SKUs; :func:`adjacency` reads designs in exactly that form). Once demand is known,
production is allocated to maximise sales: a transportation problem whose optimum, by
max-flow/min-cut, is ``min over product sets A of [D(not A) + c(plants linked to A)]``.
For ``n ≤ 12`` that minimum is enumerated exactly, vectorised over demand draws; the tests
cross-check it against :func:`networkx.maximum_flow_value`.

**Designs.** ``dedicated`` (product i at plant i), ``pairs`` (closed chains of two: plants
2j, 2j+1 make products 2j, 2j+1), ``long_chain`` (product i at plants i and i+1 mod n: the
2-chain), ``full`` (every plant makes everything). Each design is written as a model
configuration (:func:`design_config`: the shipped world with ``n`` products and ``n``
regular factories whose ``skus`` lists are the design, capacity ``c`` a day) and the check
reads the links and capacities back from the model built on it (:func:`model_links`: the
factories :meth:`BrandNetwork.regular_for` offers for each SKU, the relation the brand's
sourcing uses). These rows are ``standalone``: the sales are the max-flow optimum on the
model's network, with the paper's truncated-normal demand. **Through the model**
(:mod:`sim.validation.flexibility_model`, ``model:``) the brand's own ``max_flow`` sourcing
allocates its buyers' (Poisson) demand over the same designs. The two orderings true by
construction (pairs ≥ dedicated, full ≥ the long chain: a design containing another sells at
least as much) are ``identity`` rows.

**Expected values.**

* dedicated: ``n·E[min(D, c)]``, closed form for the truncated normal;
* full flexibility: ``E[min(ΣD, n·c)]``, computed exactly (to ~1e-9) by numerical
  convolution of the truncated-normal density;
* the paper's ordering, dedicated < pairs < long chain ≤ full, checked on paired
  differences (common random numbers) with a one-sided test;
* the paper's principle that the long chain captures most of the benefit of full
  flexibility: ``(E[chain] - E[dedicated]) / (E[full] - E[dedicated])`` above a case's
  ``min_benefit_share`` (the paper reports the chain "nearly" matching full flexibility in its
  setting; the threshold states how "most" is read, it is not a figure from the paper). The
  share falls as ``n`` and the demand variability grow (with n = 12, σ = 50 it is about
  0.88), so it is only claimed for the cases that set a threshold.

**Tolerance:** ``z·SE`` over independent demand draws (t with ``draws - 1`` df); the share
uses the delta-method SE of a ratio of means.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.rng import stream
from sim.validation.flexibility_model import ModelFlexParams
from sim.validation.flexibility_model import rows as model_rows
from sim.validation.params import OpenUnit, Params, Positive, parse
from sim.validation.rows import CheckRow
from sim.validation.stats import mean_se, norm_cdf, norm_pdf, ratio_se, t_one_sided, t_two_sided

NAME = "flexibility"
DESIGNS = ("dedicated", "pairs", "long_chain", "full")
MAX_EXACT_N = 12


# ----------------------------------------------------------------------------- designs


def design(name: str, n: int) -> np.ndarray:
    """``(n products, n plants)`` boolean links of a named design."""
    links = np.zeros((n, n), dtype=bool)
    idx = np.arange(n)
    if name == "dedicated":
        links[idx, idx] = True
    elif name == "pairs":
        links[idx, idx] = True
        links[idx, idx ^ 1 if n % 2 == 0 else np.minimum(idx ^ 1, n - 1)] = True
    elif name == "long_chain":
        links[idx, idx] = True
        links[idx, (idx + 1) % n] = True
    elif name == "full":
        links[:] = True
    else:
        raise ValueError(f"unknown design {name!r}: must be one of {list(DESIGNS)}")
    return links


def adjacency(factory_skus: Mapping[str, Sequence[str]], products: Sequence[str]) -> np.ndarray:
    """Links from the model's form: factory name -> SKUs it can make (empty: all)."""
    plants = list(factory_skus)
    links = np.zeros((len(products), len(plants)), dtype=bool)
    for j, name in enumerate(plants):
        skus = factory_skus[name]
        for i, sku in enumerate(products):
            links[i, j] = (not skus) or sku in skus
    return links


def design_config(name: str, n: int, capacity: float) -> Any:
    """The shipped world with ``n`` products and ``n`` regular factories of
    ``capacity_units_per_day`` each (the supply scale 1), whose ``skus`` relation is the
    named design (:func:`design`): the design as a model configuration.

    Raises:
        ConfigError: when the configuration is invalid for the run schema.
    """
    import sim

    links = design(name, n)
    d = sim.compose(None, ["market.n_consumers=1000", "market.reference_consumers=1000"])
    d = d.to_dict()
    first_name, first = next(iter(d["brand"]["products"].items()))
    products = [first_name, *(f"{first_name}_{i}" for i in range(1, n))]
    d["brand"]["products"] = {p: dict(first) for p in products}
    factories = d["supply"]["factories"]
    name0, base = next((k, f) for k, f in factories.items() if f["role"] == "regular")
    d["supply"]["factories"] = {
        f"{name0}_{j}": {
            **base,
            "capacity_units_per_day": capacity,
            "skus": [products[i] for i in range(n) if links[i, j]],
        }
        for j in range(n)
    }
    return sim.validate(d)


def model_links(cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """(links, capacities) as the model's network sees them: ``links[i, j]`` when the main
    brand's regular factory ``j`` can make SKU ``i`` (:meth:`BrandNetwork.regular_for`, the
    relation its sourcing uses), and each factory's capacity per day."""
    from sim.model import build_model

    net = build_model(cfg, 0).brands[0].network
    plants = list(net.regular)
    n_sku = len(cfg.brand.products)
    links = np.zeros((n_sku, len(plants)), dtype=bool)
    for i in range(n_sku):
        for f in net.regular_for(i):
            links[i, plants.index(f)] = True
    capacity = np.array([f.capacity_per_hour * 24.0 for f in plants])
    return links, capacity


# ----------------------------------------------------------------------------- sales


def max_sales(demand: np.ndarray, capacity: np.ndarray, links: np.ndarray) -> np.ndarray:
    """Maximum sales per demand draw (rows of ``demand``): min-cut enumeration, exact.

    Args:
        demand: ``(draws, products)``.
        capacity: ``(plants,)``.
        links: ``(products, plants)`` booleans.
    """
    n_prod = links.shape[0]
    if n_prod > MAX_EXACT_N:
        raise ValueError(f"exact enumeration supports at most {MAX_EXACT_N} products")
    subsets = np.array(list(itertools.product((0, 1), repeat=n_prod)), dtype=bool)  # (2^n, n)
    # plants linked to each subset of products, and their capacity
    reach = (subsets.astype(np.int64) @ links.astype(np.int64)) > 0  # (2^n, plants)
    cut_capacity = reach.astype(float) @ capacity  # (2^n,)
    outside = (~subsets).astype(float).T  # (n, 2^n): products cut from the source
    out = np.empty(len(demand))
    for lo in range(0, len(demand), 2048):
        block = demand[lo : lo + 2048]
        out[lo : lo + 2048] = (block @ outside + cut_capacity).min(axis=1)
    return out


def max_sales_networkx(demand_row: np.ndarray, capacity: np.ndarray, links: np.ndarray) -> float:
    """The same optimum by networkx max-flow (a cross-check; one draw)."""
    import networkx as nx

    g = nx.DiGraph()
    for i, d in enumerate(demand_row):
        g.add_edge("source", ("product", i), capacity=float(d))
    for j, c in enumerate(capacity):
        g.add_edge(("plant", j), "sink", capacity=float(c))
    for i, j in zip(*np.nonzero(links), strict=True):
        g.add_edge(("product", int(i)), ("plant", int(j)))  # no capacity: unbounded
    return float(nx.maximum_flow_value(g, "source", "sink"))


# ----------------------------------------------------------------------------- formulas


def truncated_normal_mean_min(mean: float, sd: float, k: float, cap: float) -> float:
    """E[min(D, cap)] for D normal(mean, sd) truncated to mean ± k·sd."""
    a, b = mean - k * sd, mean + k * sd
    Z = norm_cdf(k) - norm_cdf(-k)
    if cap >= b:
        return mean  # the truncation is symmetric: E[D] = mean
    if cap <= a:
        return cap
    zc = (cap - mean) / sd
    over = sd * (norm_pdf(zc) - norm_pdf(k)) + (mean - cap) * (norm_cdf(k) - norm_cdf(zc))
    return mean - over / Z


def full_flexibility_sales(n: int, mean: float, sd: float, k: float, cap: float) -> float:
    """E[min(D_1 + … + D_n, n·cap)], by numerical convolution of the truncated normal."""
    step = sd * k / 4000.0
    x = np.arange(-k * sd, k * sd + step / 2, step)
    w = np.exp(-0.5 * (x / sd) ** 2)
    w[0] *= 0.5  # trapezoid weights: the density's mass on the grid
    w[-1] *= 0.5
    w /= w.sum()
    total = np.array([1.0])
    for _ in range(n):
        total = np.convolve(total, w)
    s = n * (mean - k * sd) + step * np.arange(len(total))
    return float(np.sum(total * np.minimum(s, n * cap)))


def truncated_normal(
    rng: np.random.Generator, mean: float, sd: float, k: float, shape: tuple[int, int]
) -> np.ndarray:
    """Draws of normal(mean, sd) truncated to mean ± k·sd (rejection)."""
    out = rng.normal(mean, sd, shape)
    bad = np.abs(out - mean) > k * sd
    while bad.any():
        out[bad] = rng.normal(mean, sd, int(bad.sum()))
        bad = np.abs(out - mean) > k * sd
    return out


# ----------------------------------------------------------------------------- the check


class FlexibilityCase(BaseModel):
    """One market."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: Annotated[int, Field(ge=2, le=MAX_EXACT_N)] = Field(description="products = plants")
    demand_mean: Positive = Field(description="μ: mean demand per product")
    demand_sd: Positive = Field(description="σ: sd of demand before truncation")
    truncate_sd: Positive = Field(description="k: demand truncated to μ ± kσ")
    capacity: Positive = Field(description="c: capacity per plant")
    min_benefit_share: OpenUnit | None = Field(
        description="how 'most of the benefit' is read: the long chain's share of the "
        "full-flexibility gain must exceed this (null: not claimed for this case)"
    )


class FlexibilityParams(Params):
    """Parameters of the flexibility check."""

    draws: Annotated[int, Field(ge=100)] = Field(description="demand draws per case")
    cases: list[FlexibilityCase] = Field(min_length=1, description="markets")
    model: ModelFlexParams | None = Field(
        default=None,
        description="through the model: the brand's factory network with max_flow sourcing "
        "under each design (null: not run)",
    )


def simulate_sales(c: FlexibilityCase, draws: int, rng: np.random.Generator) -> dict[str, Any]:
    """Sales of every design on the same demand draws. Each design's links and capacities
    are read from its model configuration (:func:`design_config`, :func:`model_links`)."""
    d = truncated_normal(rng, c.demand_mean, c.demand_sd, c.truncate_sd, (draws, c.n))
    out: dict[str, Any] = {}
    for name in DESIGNS:
        links, cap = model_links(design_config(name, c.n, c.capacity))
        out[name] = max_sales(d, cap, links)
    return out


def check(params: Mapping[str, Any] | FlexibilityParams) -> list[CheckRow]:
    """Every market: expected sales of the extreme designs, the ordering, the chain's share."""
    p = parse(NAME, FlexibilityParams, params)
    z2, z1 = t_two_sided(p.alpha, p.draws), t_one_sided(p.alpha, p.draws)
    rows = []
    for c in p.cases:
        label = (
            f"n={c.n} mu={c.demand_mean:g} sd={c.demand_sd:g} k={c.truncate_sd:g} c={c.capacity:g}"
        )
        sales = simulate_sales(c, p.draws, stream(p.seed, "validation", NAME, label))
        exp_ded = c.n * truncated_normal_mean_min(
            c.demand_mean, c.demand_sd, c.truncate_sd, c.capacity
        )
        exp_full = full_flexibility_sales(
            c.n, c.demand_mean, c.demand_sd, c.truncate_sd, c.capacity
        )
        for design_name, expected, note in (
            ("dedicated", exp_ded, "n·E[min(D,c)], truncated normal"),
            ("full", exp_full, "E[min(ΣD, nc)], numerical convolution"),
        ):
            m, se = mean_se(sales[design_name])
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    f"expected sales, {design_name}",
                    expected,
                    m,
                    se,
                    z2,
                    n=p.draws,
                    note=note,
                )
            )
        for lo, hi in (("dedicated", "pairs"), ("pairs", "long_chain")):
            m, se = mean_se(sales[hi] - sales[lo])
            rows.append(
                CheckRow(
                    NAME,
                    label,
                    f"sales {hi} - {lo} > 0",
                    0.0,
                    m,
                    se,
                    z1,
                    comparison="greater",
                    n=p.draws,
                    note="Jordan & Graves ordering",
                    kind="textbook" if lo == "pairs" else "identity",
                )
            )
        m, se = mean_se(sales["full"] - sales["long_chain"])
        rows.append(
            CheckRow(
                NAME,
                label,
                "sales full - long_chain ≥ 0",
                0.0,
                m,
                se,
                z1,
                comparison="at_least",
                n=p.draws,
                note="holds by construction (full flexibility contains the chain)",
                kind="identity",
                extra={"mean_sales": {k: float(np.mean(v)) for k, v in sales.items()}},
            )
        )
        if c.min_benefit_share is None:
            continue
        share, se = ratio_se(
            sales["long_chain"] - sales["dedicated"], sales["full"] - sales["dedicated"]
        )
        rows.append(
            CheckRow(
                NAME,
                label,
                "long chain's share of full-flexibility benefit",
                c.min_benefit_share,
                share,
                se,
                z1,
                comparison="greater",
                n=p.draws,
                note="Jordan & Graves: the chain captures most of the benefit",
            )
        )
    if p.model is not None:
        rows.extend(model_rows(p.model, p.alpha, p.seed))
    return rows
