"""The closed forms used by the validation checks, against independent computations.

Each formula in ``sim.validation`` is recomputed here another way (numerical integration,
ODE solution, a direct sum, scipy, networkx), so a slip in a derivation cannot hide behind a
simulation that shares it.
"""

from __future__ import annotations

import math

import networkx  # noqa: F401  (the cross-check below needs it installed)
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from sim.validation import (
    base_stock,
    bass,
    bullwhip,
    bullwhip_model,
    cascade,
    flexibility,
    queueing,
)
from sim.validation.stats import norm_loss, ratio_se, t_one_sided, t_quantile, t_two_sided

# ----------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("df", [1, 2, 3, 7, 19, 99, 10_000])
@pytest.mark.parametrize("prob", [0.6, 0.9, 0.975, 0.99995])
def test_t_quantile_matches_scipy(df, prob):
    assert t_quantile(prob, df) == pytest.approx(stats.t.ppf(prob, df), rel=1e-8)


def test_tolerance_quantiles_shrink_with_replications_towards_the_normal():
    qs = [t_two_sided(1e-4, n) for n in (3, 10, 30, 1000)]
    assert qs == sorted(qs, reverse=True)
    assert qs[-1] == pytest.approx(stats.norm.ppf(1 - 0.5e-4), rel=1e-2)
    assert t_one_sided(1e-4, 30) < t_two_sided(1e-4, 30)


@pytest.mark.parametrize("z", [-2.0, -0.5, 0.0, 0.7, 2.5])
def test_normal_loss_function_is_the_expected_excess(z):
    direct, _ = integrate.quad(lambda x: (x - z) * stats.norm.pdf(x), z, np.inf)
    assert norm_loss(z) == pytest.approx(direct, abs=1e-10)


def test_ratio_standard_error_matches_the_delta_method_by_simulation():
    rng = np.random.default_rng(3)
    estimates, ses = [], []
    for _ in range(400):
        den = rng.normal(10, 1, 200)
        num = 0.5 * den + rng.normal(0, 1, 200)
        r, se = ratio_se(num, den)
        estimates.append(r)
        ses.append(se)
    assert np.std(estimates) == pytest.approx(np.mean(ses), rel=0.1)


# ----------------------------------------------------------------------------- bullwhip


@pytest.mark.parametrize(("L", "p", "rho"), [(1, 5, 0.0), (4, 10, 0.5), (2, 3, -0.4), (6, 7, 0.8)])
def test_moving_average_formula_is_the_variance_of_the_order_filter(L, p, rho):
    paper = 1 + (2 * L / p + 2 * L**2 / p**2) * (1 - rho**p)
    assert bullwhip.ratio_moving_average(L, p, rho) == pytest.approx(paper)
    h = bullwhip.moving_average_filter(L, p)
    assert bullwhip.variance_ratio_of_filter(h, rho) == pytest.approx(paper, rel=1e-12)


@pytest.mark.parametrize(("L", "alpha", "rho"), [(2, 0.3, 0.0), (4, 0.1, 0.0), (3, 0.5, 0.6)])
def test_exp_smoothing_formula_against_a_direct_sum_over_the_impulse_response(L, alpha, rho):
    # q_t = (1+Lα) D_{t-1} - Lα S_{t-1},  S_{t-1} = α Σ_k (1-α)^k D_{t-2-k}
    k = np.arange(2000)
    h = np.zeros(len(k) + 2)
    h[1] = 1 + L * alpha
    h[2:] = -L * alpha * alpha * (1 - alpha) ** k
    h = h[: np.flatnonzero(np.abs(h) > 1e-15).max() + 1]
    direct = bullwhip.variance_ratio_of_filter(h, rho)
    assert bullwhip.ratio_exp_smoothing(L, alpha, rho) == pytest.approx(direct, rel=1e-9)
    if rho == 0.0:  # Chen, Ryan & Simchi-Levi (2000), i.i.d. demand, as printed
        paper = 1 + 2 * L * alpha + 2 * L**2 * alpha**2 / (2 - alpha)
        assert bullwhip.ratio_exp_smoothing(L, alpha, rho) == pytest.approx(paper)


@pytest.mark.parametrize(("L", "p", "rho"), [(1, 5, 0.0), (6.38, 5, 0.8), (2, 3, -0.4)])
def test_the_model_rows_autocovariance_formula_is_chens_closed_form_for_pure_ar1(L, p, rho):
    """var(q)/var(D) = Σ h_i h_j γ(i-j)/γ(0) with γ(k) = ρ^k is Chen et al.'s closed form;
    for exponential smoothing, the AR(1) form derived in ``bullwhip``."""
    case = bullwhip_model.ModelCase(forecast="moving_average", window=p)
    h = bullwhip_model.order_filter(case, L)
    gamma = float(rho) ** np.arange(len(h))
    paper = 1 + (2 * L / p + 2 * L**2 / p**2) * (1 - rho**p)
    assert bullwhip_model.ratio_of_filter(h, 3.0 * gamma) == pytest.approx(paper, rel=1e-12)
    es = bullwhip_model.ModelCase(forecast="exp_smoothing", alpha=0.3)
    h = bullwhip_model.order_filter(es, L)
    gamma = float(rho) ** np.arange(len(h))
    assert bullwhip_model.ratio_of_filter(h, gamma) == pytest.approx(
        bullwhip.ratio_exp_smoothing(L, 0.3, rho), rel=1e-9
    )


def test_demand_with_memory_autocovariance_and_ratio_by_simulation():
    """Poisson demand around a log-normal AR(1) rate: γ(k) and the order filter's ratio
    against a direct simulation of the series (no shared code but the formulas' inputs)."""
    mu, rho, s, L, p, days, reps = 200.0, 0.8, 0.07, 6.38, 5, 300, 3000
    case = bullwhip_model.ModelCase(forecast="moving_average", window=p, rho=rho, log_sd=s)
    rng = np.random.default_rng(7)
    n = days + p + 1
    x = np.empty((reps, n))
    x[:, 0] = rng.normal(0, s, reps)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1 - rho * rho) * rng.normal(0, s, reps)
    D = rng.poisson(mu * np.exp(x - s * s / 2)).astype(float)
    gamma = bullwhip_model.demand_autocovariance(mu, rho, s, 4)
    c = D - mu
    for k in range(4):
        assert np.mean(c[:, : n - k] * c[:, k:]) == pytest.approx(gamma[k], rel=0.05)
    q = (1 + L / p) * D[:, p : n - 1] - (L / p) * D[:, : n - p - 1]  # q_t, t = p+1 .. n-1
    d = D[:, p + 1 :]
    ratio = np.var(q, axis=1, ddof=1) / np.var(d, axis=1, ddof=1)
    h = bullwhip_model.order_filter(case, L)
    gam = bullwhip_model.demand_autocovariance(mu, rho, s, days + len(h))
    expected = bullwhip_model.finite_sample_ratio(h, gam, days)  # over `days` days
    se = ratio.std(ddof=1) / math.sqrt(reps)
    assert abs(ratio.mean() - expected) < 4 * se + 0.01 * expected
    # the stationary ratio, the limit of many days, is the filter's on γ
    assert bullwhip_model.finite_sample_ratio(
        h, bullwhip_model.demand_autocovariance(mu, rho, s, 20_000 + len(h)), 20_000
    ) == pytest.approx(bullwhip_model.expected_ratio_with_memory(case, L, mu), rel=2e-3)
    # with log_sd → 0 the theory is the i.i.d. one
    tiny = bullwhip_model.ModelCase(forecast="moving_average", window=p, rho=rho, log_sd=1e-6)
    iid = bullwhip_model.expected_ratio(
        bullwhip_model.ModelCase(forecast="moving_average", window=p), L
    )
    assert bullwhip_model.expected_ratio_with_memory(tiny, L, mu) == pytest.approx(iid, rel=1e-9)


@pytest.mark.parametrize(("leads", "p", "rho"), [([1, 2, 1], 8, 0.3), ([2, 2], 5, 0.0)])
def test_serial_chain_exact_ratio_is_above_the_papers_bound(leads, p, rho):
    exact = bullwhip.ratio_serial_decentralised(leads, p, rho)
    bound = bullwhip.bound_serial_decentralised(leads, p, rho)
    shared = bullwhip.ratio_serial_shared(leads, p, rho)
    assert exact > bound > shared > 1.0  # sharing demand information damps the bullwhip
    assert bullwhip.ratio_serial_decentralised(leads[:1], p, rho) == pytest.approx(
        bullwhip.ratio_moving_average(leads[0], p, rho)
    )


def test_the_harness_uses_the_projects_order_up_to_level():
    stage = bullwhip.Stage(bullwhip._ma(4), cover_periods=3)
    history = np.array([10.0, 20.0, 30.0, 40.0])
    assert stage.level(history) == pytest.approx(3 * 25.0)  # L x moving average
    ss = bullwhip.safety_stock_policy("fixed", days_of_cover=2)
    assert bullwhip.Stage(bullwhip._ma(4), 3, safety=ss).level(history) == pytest.approx(125.0)


# ----------------------------------------------------------------------------- base stock


@pytest.mark.parametrize(("mean", "sd", "L", "z"), [(100, 20, 2, 1.0), (50, 10, 0, 0.0)])
def test_base_stock_formulas_by_numerical_integration(mean, sd, L, z):
    S = base_stock.base_stock_level(mean, L, z * sd * math.sqrt(L + 1))
    assert pytest.approx((L + 1) * mean + z * sd * math.sqrt(L + 1)) == S  # covers L+1 periods

    def excess(periods):
        if periods == 0:
            return 0.0
        m, s = periods * mean, sd * math.sqrt(periods)
        return integrate.quad(lambda y: (y - S) * stats.norm.pdf(y, m, s), S, np.inf)[0]

    f = base_stock.formulas(S, mean, sd, L)
    y = stats.norm((L + 1) * mean, sd * math.sqrt(L + 1))
    assert f["cycle_service_level"] == pytest.approx(y.cdf(S))
    assert f["mean_backorders"] == pytest.approx(excess(L + 1), abs=1e-8)
    on_hand = integrate.quad(lambda v: (S - v) * y.pdf(v), -np.inf, S)[0]
    assert f["mean_on_hand"] == pytest.approx(on_hand, abs=1e-6)
    assert f["fill_rate"] == pytest.approx(1 - (excess(L + 1) - excess(L)) / mean, abs=1e-9)


# ----------------------------------------------------------------------------- cascade


CASCADES = [(200, 0.6, 8, 6), (50, 0.9, 4, 12), (100, 0.5, 6, 6), (80, 0, 3, 5)]


@pytest.mark.parametrize(("S", "n", "tau", "kappa"), CASCADES)
def test_cascade_closed_form_against_the_expectation_recursion(S, n, tau, kappa):
    r, d = math.exp(-1 / tau), math.exp(-1 / kappa)
    e, total = 0.0, []
    for k in range(400):  # the recursion stated in sim/content.py, in expectation
        views = S * (math.exp(-k / tau) - math.exp(-(k + 1) / tau)) + e
        e = d * e + n * (1 - d) * views
        total.append(views)
    cum = np.cumsum(total)
    for K in (1, 3, 12, 24, 96, 400):
        assert cascade.mean_cumulative_views(S, n, tau, kappa, K) == pytest.approx(
            cum[K - 1], rel=1e-10
        )
    assert cascade.mean_views_per_hour(S, n, tau, kappa, 50) == pytest.approx(total[:50])
    assert cascade.mean_cumulative_views(S, n, tau, kappa, 10_000) == pytest.approx(S / (1 - n))
    assert r > 0


def test_cascade_degenerate_case_a_equals_r_is_continuous():
    # a = d + n(1-d) equals r = exp(-1/tau) for this kappa
    tau, n = 5.0, 0.5
    r = math.exp(-1 / tau)
    d = (r - n) / (1 - n)
    kappa = -1 / math.log(d)
    near = cascade.mean_cumulative_views(100, n, tau, kappa * (1 + 1e-7), 30)
    at = cascade.mean_cumulative_views(100, n, tau, kappa, 30)
    assert at == pytest.approx(near, rel=1e-5)


# ----------------------------------------------------------------------------- queueing


@pytest.mark.parametrize(("c", "lam", "mu"), [(1, 0.8, 1.0), (3, 2.4, 1.0), (8, 6.0, 1.0)])
def test_erlang_c_against_the_textbook_sum(c, lam, mu):
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    direct = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    assert queueing.erlang_c(c, a) == pytest.approx(direct, rel=1e-12)
    assert queueing.mean_wait(c, lam, mu) == pytest.approx(direct / (c * mu - lam))
    if c == 1:
        assert queueing.erlang_c(1, a) == pytest.approx(a)  # M/M/1: P(wait) = rho


def test_erlang_c_refuses_an_unstable_queue():
    with pytest.raises(ValueError, match="unstable"):
        queueing.erlang_c(2, 2.0)


# ----------------------------------------------------------------------------- Bass


@pytest.mark.parametrize(("p", "q"), [(0.01, 0.3), (0.03, 0.5), (0.002, 0.8)])
def test_bass_closed_form_solves_the_ode_and_locates_the_peak(p, q):
    t = np.linspace(0, 60, 601)
    sol = integrate.solve_ivp(
        lambda _t, F: (p + q * F) * (1 - F), (0, 60), [0.0], t_eval=t, rtol=1e-10, atol=1e-12
    )
    assert bass.adopted_fraction(t, p, q) == pytest.approx(sol.y[0], abs=1e-8)
    fine = np.linspace(0, 60, 600_001)
    f = bass.adoption_rate(fine, p, q)
    assert bass.peak_time(p, q) == pytest.approx(fine[np.argmax(f)], abs=1e-3)
    assert bass.peak_height(p, q) == pytest.approx(f.max(), rel=1e-8)
    # the estimators on the closed-form curve sampled hourly: the crossing time is the peak,
    # the height is the central difference of F over ±DELTA_DAYS around it
    t_hat, height = bass.estimate_peak(bass.continuous_on_hours(p, q, 24 * 60), p, q)
    t_star, dt = bass.peak_time(p, q), bass.DELTA_DAYS
    assert t_hat == pytest.approx(t_star, abs=0.01)
    central = bass.adopted_fraction(t_star + dt, p, q) - bass.adopted_fraction(t_star - dt, p, q)
    assert height == pytest.approx(central / (2 * dt), rel=2e-3)


def test_bass_hourly_mean_field_is_close_and_worse_with_more_exposures_per_hour():
    p, q = 0.03, 0.5
    hours = 24 * 20
    cont = bass.continuous_on_hours(p, q, hours)

    def gap(conversion: float) -> float:
        disc = bass.discrete_curve(p, q, conversion, conversion, hours)
        return float(np.max(np.abs(disc - cont)))

    # one chance per consumer and hour: more (less persuasive) exposures per hour saturate
    # the hourly adoption probability, so conversion 1 (the validation's choice) is closest
    assert 0 < gap(1.0) < 0.01 < gap(0.2) < gap(0.05)


# ----------------------------------------------------------------------------- flexibility


@pytest.mark.parametrize("name", flexibility.DESIGNS)
def test_max_sales_by_min_cut_equals_networkx_max_flow(name):
    rng = np.random.default_rng(7)
    demand = flexibility.truncated_normal(rng, 100, 40, 2, (25, 7))
    cap = rng.uniform(60, 140, 7)
    links = flexibility.design(name, 7)
    fast = flexibility.max_sales(demand, cap, links)
    slow = [flexibility.max_sales_networkx(row, cap, links) for row in demand]
    assert fast == pytest.approx(slow, abs=1e-9)


def test_max_sales_on_a_random_design_equals_networkx():
    rng = np.random.default_rng(11)
    links = rng.random((6, 5)) < 0.35
    demand = rng.uniform(0, 200, (20, 6))
    cap = rng.uniform(50, 150, 5)
    fast = flexibility.max_sales(demand, cap, links)
    slow = [flexibility.max_sales_networkx(row, cap, links) for row in demand]
    assert fast == pytest.approx(slow, abs=1e-9)


def test_designs_read_from_the_models_factory_skus():
    products = ["a", "b", "c"]
    links = flexibility.adjacency({"f1": ["a", "c"], "f2": ["a", "b"], "f3": ["b", "c"]}, products)
    chain = flexibility.design("long_chain", 3)
    assert (links == chain).all()
    assert flexibility.adjacency({"any": []}, products).all()  # empty list: every SKU


@pytest.mark.parametrize(("mean", "sd", "k", "cap"), [(100, 40, 2, 100), (100, 30, 2, 110)])
def test_dedicated_sales_formula_against_scipy_truncnorm(mean, sd, k, cap):
    d = stats.truncnorm(-k, k, loc=mean, scale=sd)
    expected = d.expect(lambda x: min(x, cap))
    assert flexibility.truncated_normal_mean_min(mean, sd, k, cap) == pytest.approx(expected)


def test_full_flexibility_formula_against_a_double_integral():
    mean, sd, k, cap = 100, 40, 2, 100
    d = stats.truncnorm(-k, k, loc=mean, scale=sd)
    lo, hi = mean - k * sd, mean + k * sd
    val, _ = integrate.dblquad(
        lambda y, x: min(x + y, 2 * cap) * d.pdf(x) * d.pdf(y), lo, hi, lo, hi, epsabs=1e-9
    )
    assert flexibility.full_flexibility_sales(2, mean, sd, k, cap) == pytest.approx(val, rel=1e-6)


# ----------------------------------------------------------------------------- random parameters

FAST = settings(deadline=None, derandomize=True, max_examples=60)


@FAST
@given(
    S=st.floats(1, 1e4),
    n=st.floats(0, 0.95),
    tau=st.floats(0.5, 48),
    kappa=st.floats(0.5, 48),
    K=st.integers(1, 300),
)
def test_cascade_closed_form_equals_the_recursion_for_random_parameters(S, n, tau, kappa, K):
    d = math.exp(-1 / kappa)
    e, total = 0.0, 0.0
    for k in range(K):
        views = S * (math.exp(-k / tau) - math.exp(-(k + 1) / tau)) + e
        e = d * e + n * (1 - d) * views
        total += views
    assert cascade.mean_cumulative_views(S, n, tau, kappa, K) == pytest.approx(total, rel=1e-7)
    assert total <= S / (1 - n) * (1 + 1e-9)


@FAST
@given(L=st.floats(0, 10), alpha=st.floats(0.05, 1.0), rho=st.floats(-0.9, 0.9))
def test_exp_smoothing_formula_equals_the_impulse_sum_for_random_parameters(L, alpha, rho):
    beta = 1 - alpha
    n_terms = 1 + (math.ceil(math.log(1e-14) / math.log(beta)) if beta > 0 else 0)
    h = np.zeros(n_terms + 2)
    h[1] = 1 + L * alpha
    h[2:] = -L * alpha * alpha * beta ** np.arange(n_terms)
    direct = bullwhip.variance_ratio_of_filter(h, rho)
    assert bullwhip.ratio_exp_smoothing(L, alpha, rho) == pytest.approx(direct, rel=1e-6)


@FAST
@given(c=st.integers(1, 30), load=st.floats(0.01, 0.99))
def test_erlang_c_equals_the_textbook_sum_for_random_stations(c, load):
    a = load * c
    top = a**c / math.factorial(c) * c / (c - a)
    direct = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    assert queueing.erlang_c(c, a) == pytest.approx(direct, rel=1e-9)
    assert 0 < queueing.erlang_c(c, a) < 1


@FAST
@given(p=st.floats(1e-3, 0.2), ratio=st.floats(1.5, 100))
def test_bass_peak_is_where_the_curve_crosses_its_inflection_level(p, ratio):
    q = p * ratio
    t_star = bass.peak_time(p, q)
    assert bass.adopted_fraction(t_star, p, q) == pytest.approx((1 - p / q) / 2, rel=1e-9)
    assert bass.adoption_rate(t_star, p, q) == pytest.approx(bass.peak_height(p, q), rel=1e-9)


@pytest.mark.parametrize(
    ("S", "n", "tau", "kappa"), [(50, 0.9, 4, 12), (200, 0.6, 8, 6), (100, 0.0, 6, 6)]
)
def test_cascade_cumulative_moments_tend_to_the_branching_closed_forms(S, n, tau, kappa):
    mean, var = cascade.cumulative_moments(S, n, tau, kappa, 20_000)
    assert mean == pytest.approx(S / (1 - n), rel=1e-9)
    assert var == pytest.approx(S / (1 - n) ** 3, rel=1e-9)
    for K in (1, 5, 40):
        assert cascade.cumulative_moments(S, n, tau, kappa, K)[0] == pytest.approx(
            cascade.mean_cumulative_views(S, n, tau, kappa, K), rel=1e-9
        )


def test_cascade_cumulative_variance_against_a_direct_simulation_of_the_recursion():
    # e_{k+1} = d e_k + n(1-d) V_k, V_k ~ Poisson(s_k + e_k): simulated directly in numpy
    S, n, tau, kappa, K, R = 30.0, 0.8, 3.0, 5.0, 40, 200_000
    r, d = math.exp(-1 / tau), math.exp(-1 / kappa)
    rng = np.random.default_rng(1)
    e, c = np.zeros(R), np.zeros(R)
    for k in range(K):
        v = rng.poisson(S * (1 - r) * r**k + e)
        c += v
        e = d * e + n * (1 - d) * v
    mean, var = cascade.cumulative_moments(S, n, tau, kappa, K)
    assert c.mean() == pytest.approx(mean, rel=0.01)
    assert c.var() == pytest.approx(var, rel=0.03)
    assert var < S / (1 - n) ** 3 * 0.9  # the horizon cuts the variance noticeably


# ----------------------------------------------------------------------------- pick queue


@pytest.mark.parametrize(("lam", "c"), [(1.2, 2), (8.0, 10), (0.5, 1)])
def test_lindley_waits_against_a_direct_fifo_simulation(lam, c):
    from sim.validation import queue_model

    rng = np.random.default_rng(3)
    arrivals = rng.poisson(lam, 400_000)
    q, waits = 0, []
    for a in arrivals:
        if a:
            waits.append((q + np.arange(a)) // c)
        q = max(q + a - c, 0)
    w = np.concatenate(waits)
    for k in (1, 2, 3):
        expected = queue_model.wait_at_least(lam, c, k)
        assert (w >= k).mean() == pytest.approx(expected, rel=0.05, abs=2e-4)
    assert w.mean() == pytest.approx(queue_model.mean_wait(lam, c), rel=0.05)
    pi, _ = queue_model.lindley_stationary(lam, c)
    assert pi.sum() == pytest.approx(1.0, abs=1e-9)


# ----------------------------------------------------------------------------- lost sales


@pytest.mark.parametrize(("S", "mu", "before", "review"), [(19, 3.0, 31, 96), (6, 2.0, 0, 48)])
def test_lost_sales_chain_against_a_direct_simulation(S, mu, before, review):
    from sim.validation import base_stock_model

    rng = np.random.default_rng(5)
    n = 200_000
    d1 = rng.poisson(mu / 24 * before, n)
    d2 = rng.poisson(mu / 24 * (review - before), n)
    x, sold, ok = S, 0, 0
    for a, b in zip(d1, d2, strict=True):
        y = max(x - a, 0) + S - x
        sold += min(x, a) + min(y, b)
        ok += a <= x and b <= y
        x = max(y - b, 0)
    got = base_stock_model.lost_sales_chain(S, mu / 24, before, review)
    assert sold / (d1.sum() + d2.sum()) == pytest.approx(got["fill_rate"], abs=0.003)
    assert ok / n == pytest.approx(got["cycle_service_level"], abs=0.006)
