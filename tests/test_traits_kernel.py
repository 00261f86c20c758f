"""The consumers' traits by numpy's own distribution code (``sim/_traits.c``, seventeenth
pass): ``normal``, ``lognormal`` and ``beta`` write what numpy's ``rng.normal``,
``rng.lognormal`` and ``rng.beta`` give after the Python path's transform and cast, for numpy's
five bit generators, with and without a half-used 32-bit word, many sizes (0 and 1 too) and
odd parameters, the generator left in the same state; bad arguments raise and draw nothing;
the kernel is refused under another numpy than the one it was built with; the consumers'
columns are the same with the kernel and without it."""

from __future__ import annotations

import types

import numpy as np
import pytest

import sim
from sim import compiled
from sim.agents import consumers as consumers_module
from sim.model import ViralChainModel
from tests.test_compiled import GENERATOR_IDS as IDS
from tests.test_compiled import GENERATORS, built
from tests.test_compiled import generator_pair as _pair
from tests.test_compiled import same_state as _same_state

T = built("_traits")

SIZES = [0, 1, 2, 3, 17, 1000, 4099]


def _check(kind, half, numpys_draw, kernel_fill, dtype=np.float32):
    for seed, n in enumerate(SIZES):
        numpys, mine = _pair(kind, half, seed)
        with np.errstate(over="ignore"):  # (huge values: inf in float32, as the cast gives)
            want = np.asarray(numpys_draw(numpys, n)).astype(dtype)
        got = np.full(n, 77, dtype=dtype)
        kernel_fill(mine.bit_generator.capsule, got)
        assert got.tobytes() == want.tobytes(), n
        assert _same_state(mine.bit_generator.state, numpys.bit_generator.state), n
        # the next draws are the same too (a half-used word kept alike)
        assert mine.integers(0, 1000, 5, dtype=np.uint32).tolist() == (
            numpys.integers(0, 1000, 5, dtype=np.uint32).tolist()
        )


# (loc, scale): the market's, sd 0, -0.0 + 0 (np.maximum keeps -0.0), tiny and huge (float32 inf)
NORMALS = [
    (1.5, 0.5),
    (0.0, 0.0),
    (-0.0, 0.0),
    (-0.2, 1.0),
    (3.0, 1e-300),
    (1e38, 1e38),
    (-2.0, 0.5),
]


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
@pytest.mark.parametrize(("loc", "scale"), NORMALS)
@pytest.mark.parametrize("floor", [True, False])
def test_normal_is_numpys(kind, half, loc, scale, floor):
    def numpys(rng, n):
        x = rng.normal(loc, scale, n)
        return np.maximum(0.0, x) if floor else x

    _check(kind, half, numpys, lambda cap, out: T.normal(cap, loc, scale, floor, out))


def test_the_floor_keeps_minus_zero_as_numpy_does():
    """np.maximum(0.0, -0.0) is -0.0: the column's sign bits are numpy's."""
    numpys, mine = _pair(np.random.PCG64, False, 3)
    want = np.maximum(0.0, numpys.normal(-0.0, 0.0, 64)).astype(np.float32)
    got = np.empty(64, dtype=np.float32)
    T.normal(mine.bit_generator.capsule, -0.0, 0.0, True, got)
    assert np.signbit(want).any() and got.tobytes() == want.tobytes()


# (mean, sigma): the market's patience, sigma 0, exp's overflow (inf) and underflow (0)
LOGNORMALS = [(np.log(96.0), 0.6), (np.log(1e9), 0.0), (0.0, 1.0), (95.0, 2.0), (-110.0, 3.0)]


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
@pytest.mark.parametrize(("mean", "sigma"), LOGNORMALS)
def test_lognormal_is_numpys(kind, half, mean, sigma):
    _check(
        kind,
        half,
        lambda rng, n: rng.lognormal(mean, sigma, n),
        lambda cap, out: T.lognormal(cap, mean, sigma, out),
    )


# (a, b): the market's (a = 2, mean 0.08 and 0.1), tiny and huge b, numpy's Johnk path
# (a, b <= 1) and its tiny threshold, large a and b; the kernel's own gammas (a > 1 and b > 1,
# their constants computed once) beside numpy's random_beta (a shape of 1 or less: an
# exponential or numpy's other gamma), at the boundary too
BETAS = [(2.0, 23.0), (2.0, 2 * 0.9 / 0.1), (2.0, 1e-9), (2.0, 1e9), (0.5, 0.5), (1e-5, 2e-5)]
BETAS += [(300.0, 7.0), (1.0, 3.0), (3.0, 1.0), (1.0 + 2**-52, 1.5), (1.5, 0.999), (1e-3, 5.0)]


@pytest.mark.parametrize(("kind", "half"), GENERATORS, ids=IDS)
@pytest.mark.parametrize(("a", "b"), BETAS)
def test_beta_is_numpys(kind, half, a, b):
    _check(kind, half, lambda rng, n: rng.beta(a, b, n), lambda cap, out: T.beta(cap, a, b, out))


def test_a_large_column_is_numpys():
    """A million values of each: many chunks' worth of the Python path at once."""
    n = 1_000_000
    numpys, mine = _pair(np.random.PCG64, False, 11)
    cap = mine.bit_generator.capsule
    got = {x: np.empty(n, dtype=np.float32) for x in ("normal", "lognormal", "beta")}
    T.normal(cap, 1.5, 0.5, True, got["normal"])
    T.lognormal(cap, np.log(96.0), 0.6, got["lognormal"])
    T.beta(cap, 2.0, 8.0, got["beta"])
    assert (
        got["normal"].tobytes()
        == np.maximum(0.0, numpys.normal(1.5, 0.5, n)).astype(np.float32).tobytes()
    )
    assert got["lognormal"].tobytes() == (
        numpys.lognormal(np.log(96.0), 0.6, n).astype(np.float32).tobytes()
    )
    assert got["beta"].tobytes() == numpys.beta(2.0, 8.0, n).astype(np.float32).tobytes()
    assert mine.bit_generator.state == numpys.bit_generator.state


def test_bad_arguments_raise_and_draw_nothing():
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    cap = rng.bit_generator.capsule
    out = np.empty(300, dtype=np.float32)
    with pytest.raises(TypeError):  # argument counts
        T.normal(cap, 1.0, 1.0, out)
    with pytest.raises(TypeError):
        T.beta(cap, 2.0, 1.0)
    for fill in (lambda c: T.lognormal(c, 0.0, 1.0, out), lambda c: T.beta(c, 2.0, 1.0, out)):
        with pytest.raises(TypeError):  # not a capsule
            fill(object())
    with pytest.raises(TypeError):  # not a number
        T.lognormal(cap, "1", 1.0, out)
    bad_scales = [-1.0, -0.0, float("nan"), float("inf")]
    for scale in bad_scales:
        with pytest.raises(ValueError):
            T.normal(cap, 0.0, scale, True, out)
        with pytest.raises(ValueError):
            T.lognormal(cap, 0.0, scale, out)
    for loc in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            T.normal(cap, loc, 1.0, False, out)
        with pytest.raises(ValueError):
            T.lognormal(cap, loc, 1.0, out)
    for a, b in [(0.0, 1.0), (2.0, 0.0), (-1.0, 1.0), (2.0, -0.0), (float("nan"), 1.0)]:
        with pytest.raises(ValueError):
            T.beta(cap, a, b, out)
    with pytest.raises(ValueError):
        T.beta(cap, 2.0, float("inf"), out)
    bad_outs = [
        np.empty(300, dtype=np.float64),
        np.empty(300, dtype=np.int32),
        np.empty((30, 10), dtype=np.float32),
        np.empty(600, dtype=np.float32)[::2],
        b"x" * 1200,
    ]
    for bad in bad_outs:
        with pytest.raises((TypeError, ValueError, BufferError)):
            T.normal(cap, 1.0, 1.0, True, bad)
        with pytest.raises((TypeError, ValueError, BufferError)):
            T.beta(cap, 2.0, 1.0, bad)
    ro = np.empty(300, dtype=np.float32)
    ro.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        T.lognormal(cap, 0.0, 1.0, ro)
    assert rng.bit_generator.state == before


def test_the_kernel_is_refused_under_another_numpy(monkeypatch):
    """It runs numpy's distributions as they were at its build: another numpy's could draw
    otherwise, so sim.compiled.load gives None (the Python paths) and says why."""
    monkeypatch.delenv(compiled.ENV, raising=False)
    assert np.__version__ == T.NUMPY_BUILT_VERSION
    assert compiled.load("_traits") is T
    assert not compiled.other_numpy(T)
    monkeypatch.setattr(compiled.np, "__version__", "2.5.4")
    assert compiled.other_numpy(T)
    assert compiled.load("_traits") is None
    # kernels that call none of numpy's C are not concerned
    assert compiled.load("_build") is not None


@pytest.mark.parametrize(
    ("n", "seed", "overrides"),
    [
        (20_000, 1, []),
        (20_000, 2, ["story=multi_platform"]),
        (
            25_000,
            3,
            ["market.consumer.price_sensitivity_sd=0", "market.consumer.patience_log_sd=0"],
        ),
        (30_000, 4, ["market.consumer.return_propensity_mean=0"]),
        (30_000, 6, ["market.consumer.return_propensity_mean=1e-320"]),  # b = inf
        (300_000, 5, []),
    ],
)
def test_consumers_with_the_kernel_and_without_it(n, seed, overrides, monkeypatch):
    calls = []
    rngs = []
    fused = consumers_module._fused

    def remembering(rng, *args):
        rngs.append(rng)
        return fused(rng, *args)

    monkeypatch.setattr(consumers_module, "_fused", remembering)

    class Counting:
        def __getattr__(self, name):
            def fill(*args):
                calls.append(name)
                # the kernel runs holding the bit generator's lock (numpy's draws take it)
                assert rngs[-1].bit_generator.lock._is_owned(), name  # RLock: no .locked()
                getattr(T, name)(*args)

            return fill

    def build(kernel):
        monkeypatch.setattr(consumers_module, "_T", kernel)
        cfg = sim.compose(None, [f"market.n_consumers={n}", "setup=flexible", *overrides])
        return ViralChainModel(cfg, seed).population

    with_k, without = build(Counting()), build(None)
    beta = not any(o.startswith("market.consumer.return_propensity_mean=") for o in overrides)
    assert sorted(calls) == sorted(["normal", "lognormal"] + ["beta"] * beta)
    for column in ("region", "price_sensitivity", "patience_hours", "return_propensity"):
        a, b = getattr(with_k, column), getattr(without, column)
        assert a.dtype == b.dtype and a.shape == b.shape == (n,), column
        assert a.tobytes() == b.tobytes(), column
    assert with_k.graph.order.tobytes() == without.graph.order.tobytes()


@pytest.mark.parametrize(
    ("override", "message", "drawn"),
    [
        ("market.consumer.price_sensitivity_sd=-0.0", "scale < 0", []),
        ("market.consumer.patience_log_sd=-0.0", "sigma < 0", ["normal"]),
    ],
)
def test_a_scale_numpy_refuses_takes_its_path(override, message, drawn, monkeypatch):
    """-0.0 passes the configuration's check (not below 0) but numpy refuses it as a scale
    (its sign bit): the kernel does not take it, numpy's own error is raised, as without the
    kernel."""
    calls = []

    class Counting:
        def __getattr__(self, name):
            def fill(*args):
                calls.append(name)
                getattr(T, name)(*args)

            return fill

    monkeypatch.setattr(consumers_module, "_T", Counting())
    cfg = sim.compose(None, ["market.n_consumers=3000", "setup=flexible", override])
    with pytest.raises(ValueError, match=message):
        ViralChainModel(cfg, 1)
    assert calls == drawn


def test_the_kernel_is_used_only_where_it_gives_numpys_bytes():
    """``consumers._agreeing``: the kernel built and current here gives numpy's bytes and is
    kept; a kernel one ulp off in any case (a numpy compiled otherwise) is refused, and so
    the Python paths run; no kernel stays none."""
    consumers = consumers_module
    kernel = built("_traits")
    assert consumers._agreeing(kernel) is kernel
    assert consumers._T is not None  # the module's own, checked at import
    assert consumers._agreeing(None) is None
    for name in ("normal", "lognormal", "beta"):
        real = getattr(kernel, name)

        def off_by_an_ulp(capsule, *args, real=real):
            real(capsule, *args)
            out = args[-1]
            out[7] = np.nextafter(out[7], np.float32(np.inf))

        wrong = types.SimpleNamespace(
            **{n: getattr(kernel, n) for n in ("normal", "lognormal", "beta")}
        )
        setattr(wrong, name, off_by_an_ulp)
        assert consumers._agreeing(wrong) is None, name
