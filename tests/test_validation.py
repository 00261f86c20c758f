"""The validation checks (fast variants, as ``viralchain validate --fast`` runs them).

For every check and every parameter set of its fast variant, the expected value is computed
here from the formula (never a stored number) and must equal the row's; the simulated value
must lie within the row's tolerance. Negative controls show that the tolerances have power:
the same simulations compared with a wrong theory fail.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest

from experiments.validate import load_params
from sim.errors import ConfigError
from sim.validation import (
    CHECKS,
    base_stock,
    bass,
    bullwhip,
    bullwhip_model,
    cascade,
    flexibility,
    queueing,
)
from sim.validation.params import parse

pytestmark = pytest.mark.xdist_group("validation")


@functools.cache
def fast(name: str):
    """Parsed fast parameters and the rows of one check (cached per worker)."""
    params = parse(name, CHECKS[name][1], load_params(name, fast=True))
    return params, tuple(CHECKS[name][0](params))


def assert_all_pass(rows) -> None:
    failed = [
        (r.case, r.quantity, r.expected, r.simulated, r.tolerance) for r in rows if not r.passed
    ]
    assert not failed, failed


def by_quantity(rows, quantity: str) -> list:
    return [r for r in rows if r.quantity == quantity]


# ----------------------------------------------------------------------------- bullwhip


def test_bullwhip_matches_chen_et_al_for_every_parameter_set():
    p, rows = fast("bullwhip")
    assert_all_pass(rows)
    ratios = by_quantity(rows, "var(q)/var(D)")
    expected = [
        1 + (2 * c.lead_time / c.window + 2 * c.lead_time**2 / c.window**2) * (1 - c.rho**c.window)
        for c in p.moving_average
    ]
    expected += [bullwhip.ratio_exp_smoothing(c.lead_time, c.alpha, c.rho) for c in p.exp_smoothing]
    expected += [
        bullwhip.ratio_moving_average(c.lead_time + c.days_of_cover, c.window, c.rho)
        for c in p.fixed_cover
    ]
    expected += [
        bullwhip.ratio_moving_average(c.lead_time, c.window, c.rho) for c in p.safety_factor
    ]
    for c in p.serial_chain:
        expected += [
            bullwhip.ratio_serial_decentralised(c.lead_times, c.window, c.rho),
            1
            + (2 * sum(c.lead_times) / c.window + 2 * sum(c.lead_times) ** 2 / c.window**2)
            * (1 - c.rho**c.window),
        ]
    assert [r.expected for r in ratios] == pytest.approx(expected)
    assert len(p.moving_average) >= 2 and len(p.exp_smoothing) >= 2
    # the lower-bound case (z > 0) really is above the bound, not just within noise of it
    bound_rows = [r for r in ratios if r.comparison == "at_least"]
    assert bound_rows and all(r.simulated > r.expected for r in bound_rows)


def test_bullwhip_negative_control_exp_smoothing_is_not_the_moving_average():
    p, rows = fast("bullwhip")
    es = [r for r in rows if r.case.startswith("ES ")]
    for r, c in zip(es, p.exp_smoothing, strict=True):
        wrong = bullwhip.ratio_moving_average(c.lead_time, 5, c.rho)
        assert abs(r.simulated - wrong) > r.tolerance


def test_bullwhip_through_the_model_with_memory_needs_the_demands_autocovariance():
    """Negative controls on the model rows with autocorrelated demand: the i.i.d. formula
    (memory ignored) and Chen et al.'s pure-AR(1) closed form (Poisson noise ignored) are
    both rejected by the same runs that match the autocovariance theory."""
    p, rows = fast("bullwhip")
    cases = [c for c in p.model.cases if c.log_sd]
    memory = [r for r in rows if r.via == "model" and r.kind == "textbook" and "AR(1)" in r.case]
    assert cases and len(memory) == len(cases)
    for r, c in zip(memory, cases, strict=True):
        assert r.passed, r
        cover = float(r.case.split("L'=")[1].split(" ")[0])
        iid = bullwhip_model.expected_ratio(c.model_copy(update={"rho": 0.0, "log_sd": 0.0}), cover)
        pure = bullwhip.ratio_moving_average(cover, c.window, c.rho)
        for wrong in (iid, pure):
            assert not dataclasses.replace(r, expected=wrong).passed, (wrong, r)
        # the band would catch a 10 % error of the theory either way
        assert max(r.band[1], -r.band[0]) < 0.1 * r.expected
    # per echelon: the factory's per-job materials pass the brand's orders through
    factory = [r for r in rows if "(factory echelon)" in r.quantity]
    assert factory and all(r.passed and r.simulated == pytest.approx(1.0) for r in factory)


# ----------------------------------------------------------------------------- base stock


def test_base_stock_service_matches_the_normal_loss_function():
    p, rows = fast("base_stock")
    assert_all_pass(rows)
    assert len(p.cases) >= 2
    for i, c in enumerate(p.cases):
        L, mu, sd = c.lead_time, c.mean, c.sd
        S = (L + 1) * mu + c.safety_factor * sd * math.sqrt(L + 1)
        s1 = sd * math.sqrt(L + 1)
        z = (S - (L + 1) * mu) / s1
        phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        loss = phi - z * (1 - cdf)
        if L:
            s0 = sd * math.sqrt(L)
            z0 = (S - L * mu) / s0
            phi0 = math.exp(-z0 * z0 / 2) / math.sqrt(2 * math.pi)
            start = s0 * (phi0 - z0 * (1 - 0.5 * (1 + math.erf(z0 / math.sqrt(2)))))
        else:
            start = 0.0
        mine = rows[4 * i : 4 * i + 4]
        assert [r.quantity for r in mine] == [
            "cycle_service_level",
            "fill_rate",
            "mean_on_hand",
            "mean_backorders",
        ]
        assert [r.expected for r in mine] == pytest.approx(
            [cdf, 1 - (s1 * loss - start) / mu, s1 * (z + loss), s1 * loss]
        )


def test_base_stock_negative_control_s_covers_l_plus_one_periods_not_l():
    p, rows = fast("base_stock")
    for i, c in enumerate(p.cases):
        if c.lead_time == 0:
            continue
        csl = rows[4 * i]
        S = (c.lead_time + 1) * c.mean + c.safety_factor * c.sd * math.sqrt(c.lead_time + 1)
        z_wrong = (S - c.lead_time * c.mean) / (c.sd * math.sqrt(c.lead_time))
        wrong = 0.5 * (1 + math.erf(z_wrong / math.sqrt(2)))
        assert abs(csl.simulated - wrong) > csl.tolerance


# ----------------------------------------------------------------------------- Bass


def test_bass_on_the_full_model_matches_the_closed_form():
    p, rows = fast("bass")
    assert_all_pass(rows)
    for c in p.cases:
        pp, qq = c.innovation_per_day, c.imitation_per_day
        mine = [r for r in rows if r.case.startswith(f"p={pp:g}/d q={qq:g}/d")]
        theory = {
            f"F({t:g} d)": (1 - math.exp(-(pp + qq) * t)) / (1 + qq / pp * math.exp(-(pp + qq) * t))
            for t in p.checkpoints_days
        }
        theory["peak time (d)"] = math.log(qq / pp) / (pp + qq)
        theory["peak height (1/d)"] = (pp + qq) ** 2 / (4 * qq)
        got = {r.quantity: r.expected for r in mine if r.quantity in theory}
        assert got == pytest.approx(theory)
        # the discretisation allowance is computed and small
        assert all(abs(r.bias) < 0.1 * max(abs(r.expected), 1e-9) + 0.01 for r in mine)
        lost = [r for r in mine if r.quantity.startswith("lost")]
        assert lost and lost[0].simulated == 0


def test_bass_negative_control_a_different_imitation_rate_is_rejected():
    p, rows = fast("bass")
    c = p.cases[0]
    mid = [r for r in rows if r.quantity.startswith("F(")]
    wrong_q = 0.75 * c.imitation_per_day
    worst = max(
        abs(
            r.simulated
            - float(bass.adopted_fraction(float(r.quantity[2:-3]), c.innovation_per_day, wrong_q))
        )
        / r.tolerance
        for r in mid
    )
    assert worst > 1.0


def test_bass_configuration_removes_what_bass_lacks():
    p, _ = fast("bass")
    import sim

    base = sim.compose(None, p.model_overrides)
    cfg = bass.bass_config(base, p.cases[0], p)
    assert cfg.content.calendar == []
    assert all(k.spontaneous_posts_per_day == 0 for k in cfg.content.kols.values())
    assert cfg.rivals == {}
    assert cfg.market.word_of_mouth.mixing == "fully_mixed"
    w, o = cfg.market.word_of_mouth, cfg.market.organic
    assert w.contacts_per_day * w.conversion_probability == pytest.approx(
        p.cases[0].imitation_per_day
    )
    assert o.exposure_rate_per_day * o.conversion_probability == pytest.approx(
        p.cases[0].innovation_per_day
    )
    assert len(cfg.brand.products) == p.products_per_run
    for prod in cfg.brand.products.values():
        assert prod.price == prod.reference_price and prod.launch_hour == 0
    assert cfg.market.consumer.repeat_exposure_boost == 0


# ----------------------------------------------------------------------------- cascade


def test_cascade_matches_the_hawkes_closed_forms():
    p, rows = fast("cascade")
    assert_all_pass(rows)
    assert len(p.cases) >= 2
    for c in p.cases:
        S, n = c.seed_views, c.branching_ratio
        mine = [r for r in rows if r.case.startswith(f"S={S:g} n={n:g}")]
        assert by_quantity(mine, "mean total views = S/(1-n)")[0].expected == S / (1 - n)
        assert by_quantity(mine, "var total views = S/(1-n)^3")[0].expected == pytest.approx(
            S / (1 - n) ** 3
        )
        # cumulative views: the recursion of sim/content.py, in expectation
        d = math.exp(-1 / c.share_kernel_hours)
        e, cum, total = 0.0, {}, 0.0
        for k in range(max(p.checkpoints_hours)):
            views = (
                S * (math.exp(-k / c.reach_decay_hours) - math.exp(-(k + 1) / c.reach_decay_hours))
                + e
            )
            e = d * e + n * (1 - d) * views
            total += views
            cum[k + 1] = total
        for K in p.checkpoints_hours:
            assert by_quantity(mine, f"mean views by hour {K}")[0].expected == pytest.approx(cum[K])


def test_cascade_negative_control_a_different_branching_ratio_is_rejected():
    p, rows = fast("cascade")
    for c in p.cases:
        mine = [r for r in rows if r.case.startswith(f"S={c.seed_views:g} n={c.branching_ratio:g}")]
        total = by_quantity(mine, "mean total views = S/(1-n)")[0]
        wrong = cascade.mean_total_views(c.seed_views, c.branching_ratio + 0.1)
        assert abs(total.simulated - wrong) > total.tolerance


# ----------------------------------------------------------------------------- queueing


def test_queueing_matches_erlang_c_and_littles_law():
    p, rows = fast("queueing")
    assert_all_pass(rows)
    assert len(p.cases) >= 2
    for c in p.cases:
        a = c.arrival_rate / c.service_rate
        k = c.servers
        top = a**k / math.factorial(k) * k / (k - a)
        pc = top / (sum(a**i / math.factorial(i) for i in range(k)) + top)
        mine = [r for r in rows if r.case.startswith(f"M/M/{k} lambda={c.arrival_rate:g}")]
        assert by_quantity(mine, "P(wait) = Erlang C")[0].expected == pytest.approx(pc)
        wq = pc / (k * c.service_rate - c.arrival_rate)
        assert by_quantity(mine, "mean wait W_q (h)")[0].expected == pytest.approx(wq)
    little = [r for r in rows if r.quantity.startswith("Little L=λW")]
    stages = {r.quantity.split(":")[1].split("[")[0].strip() for r in little}
    assert stages == {"awaiting shipment", "last-mile transit"}
    assert len({r.case for r in little}) == len(p.model_runs)
    assert all(r.expected > 0 for r in little)


def test_queueing_negative_control_one_server_fewer_is_rejected():
    p, rows = fast("queueing")
    for c in p.cases:
        if c.arrival_rate >= (c.servers - 1) * c.service_rate or c.servers == 1:
            continue
        mine = [r for r in rows if r.case.startswith(f"M/M/{c.servers} lambda")]
        r = by_quantity(mine, "P(wait) = Erlang C")[0]
        wrong = queueing.erlang_c(c.servers + 1, c.arrival_rate / c.service_rate)
        assert abs(r.simulated - wrong) > r.tolerance


# ----------------------------------------------------------------------------- flexibility


def test_flexibility_matches_jordan_and_graves():
    p, rows = fast("flexibility")
    assert_all_pass(rows)
    assert len(p.cases) >= 2
    from scipy import stats

    for c in p.cases:
        mine = [r for r in rows if r.case.startswith(f"n={c.n} ")]
        d = stats.truncnorm(-c.truncate_sd, c.truncate_sd, loc=c.demand_mean, scale=c.demand_sd)
        dedicated = c.n * d.expect(lambda x, cap=c.capacity: min(x, cap))
        assert by_quantity(mine, "expected sales, dedicated")[0].expected == pytest.approx(
            dedicated
        )
        full = by_quantity(mine, "expected sales, full")[0]
        # CLT check of the convolution: the full design sells about n·mu - sd_sum·φ(0)
        sd_sum = math.sqrt(c.n) * d.std()
        assert full.expected == pytest.approx(
            c.n * c.demand_mean - sd_sum / math.sqrt(2 * math.pi), rel=2e-3
        )
        share = by_quantity(mine, "long chain's share of full-flexibility benefit")[0]
        assert share.simulated > c.min_benefit_share
        means = by_quantity(mine, "sales full - long_chain ≥ 0")[0].extra["mean_sales"]
        assert means["dedicated"] < means["pairs"] < means["long_chain"] <= means["full"]


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("name", "bad", "needle"),
    [
        ("bullwhip", {"replications": 1}, "bullwhip.replications"),
        (
            "bullwhip",
            {"moving_average": [{"lead_time": 1, "window": 5, "rho": 1.0}]},
            "bullwhip.moving_average[0].rho",
        ),
        (
            "cascade",
            {
                "cases": [
                    {
                        "seed_views": 10,
                        "branching_ratio": 1.2,
                        "reach_decay_hours": 8,
                        "share_kernel_hours": 6,
                    }
                ]
            },
            "cascade.cases[0].branching_ratio",
        ),
        ("queueing", {"cases": [{"servers": 2, "arrival_rate": 3, "service_rate": 1}]}, "unstable"),
        (
            "bass",
            {"cases": [{"innovation_per_day": 0.5, "imitation_per_day": 0.1}]},
            "imitation_per_day must exceed",
        ),
        ("flexibility", {"surprise": 1}, "flexibility.surprise"),
    ],
)
def test_invalid_parameters_name_the_field(name, bad, needle):
    params = {**load_params(name, fast=True), **bad}
    with pytest.raises(ConfigError) as info:
        CHECKS[name][0](params)
    assert needle in str(info.value)


def test_every_check_has_a_parameter_file_with_a_fast_block():
    from experiments.validate import validation_dir

    for name, (_, model) in CHECKS.items():
        full = parse(name, model, load_params(name))
        quick = parse(name, model, load_params(name, fast=True))
        assert full != quick, name
        assert (validation_dir() / f"{name}.yaml").is_file()


def test_tolerance_follows_from_the_replications():
    """Quadrupling the replications roughly halves the cascade's standard error."""
    params = dict(load_params("cascade", fast=True))
    params["cases"] = params["cases"][:1]
    small = cascade.check({**params, "replications": 200})
    large = cascade.check({**params, "replications": 800})
    se_small = by_quantity(small, "mean total views = S/(1-n)")[0].se
    se_large = by_quantity(large, "mean total views = S/(1-n)")[0].se
    assert se_large / se_small == pytest.approx(0.5, rel=0.25)
    assert np.isfinite(se_small)


def test_flexibility_designs_of_the_paper():
    assert flexibility.design("long_chain", 4).sum(axis=1).tolist() == [2, 2, 2, 2]
    assert flexibility.design("pairs", 4).sum() == 8
    with pytest.raises(ValueError, match="unknown design"):
        flexibility.design("ring", 4)


def test_base_stock_level_is_the_projects_order_up_to_rule():
    assert base_stock.base_stock_level(100, 2, 10) == pytest.approx(310)


@pytest.mark.parametrize("name", flexibility.DESIGNS)
def test_flexibility_designs_are_read_from_model_configurations(name):
    cfg = flexibility.design_config(name, 6, 80.0)
    assert len(cfg.supply.factories) == 6 and len(cfg.brand.products) == 6
    links, capacity = flexibility.model_links(cfg)
    assert (links == flexibility.design(name, 6)).all()
    assert capacity == pytest.approx([80.0] * 6)


def test_base_stock_through_the_model_matches_the_lost_sales_chain_not_a_level_lower():
    """The brand's fill rate and cycle service level match the exact lost-sales chain; the
    same runs against the chain two units of level lower (-10 %) fail."""
    from sim.validation import base_stock_model

    p, rows = fast("base_stock")
    model = [r for r in rows if r.via == "model"]
    assert [r.kind for r in model] == ["textbook", "textbook", "identity", "assumption"]
    assert_all_pass(model)
    case = p.model.cases[0]
    s_star = base_stock_model.level(case, p.model)[1]
    l1 = int(model[0].case.split("ℓ₁=")[1].split(" ")[0])
    lower = base_stock_model.lost_sales_chain(
        s_star - 2, case.mean_per_day / 24, l1, case.review_hours
    )
    assert not dataclasses.replace(model[0], expected=lower["fill_rate"]).passed
    assert not dataclasses.replace(model[1], expected=lower["cycle_service_level"]).passed


def test_the_models_pick_queue_matches_the_lindley_recursion():
    _, rows = fast("queueing")
    model = [r for r in rows if r.case.startswith("model pick queue")]
    assert [r.kind for r in model].count("textbook") == 7  # 4 at c=2 (two tails), 3 at c=10
    assert_all_pass(model)
    assert [r.simulated for r in model if r.kind == "identity"] == [0.0, 0.0]
    # power: P(wait) and the mean wait within ~10 % of theory at fast sizes (issue 18)
    for r in model:
        if r.kind == "textbook" and not r.quantity.startswith("FIFO tail"):
            assert max(abs(b) for b in r.band) <= 0.102 * r.expected, r


def test_the_models_factory_network_allocates_by_max_flow_and_matches_jordan_graves():
    _, rows = fast("flexibility")
    model = [r for r in rows if r.via == "model"]
    assert [r.kind for r in model].count("textbook") == 3
    assert_all_pass(model)
    gap = [r for r in model if r.quantity.startswith("allocation - max-flow")]
    assert gap and gap[0].simulated == 0 and gap[0].kind == "identity"
    dedicated = model[0]
    assert not dataclasses.replace(dedicated, expected=0.9 * dedicated.expected).passed
