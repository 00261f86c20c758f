"""The quiet hour's kernel (``sim/_quiet.c``, sixteenth pass): organic discovery's draws on
Python numbers (:func:`sim.rng.poisson_integers`) in C give what the Python function gives,
number for number, and what numpy's own generators draw from the same outputs; None where the
Python function gives None; bad arguments raise. Whole runs give the same books with the
kernel and with the Python function, and the kernel is the one the quiet hours call."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.agents import consumers, wishes
from sim.model import ViralChainModel
from sim.rng import poisson_integers, stream
from tests.test_compiled import BIT_GENERATORS, built
from tests.test_hour_draws import _fatigue_off_or_a_product_not_on_sale

K = built("_quiet")

# numpy's 64-bit generators: next_double is (output >> 11) * 2**-53 and next_uint32 the
# output's halves, lower first (MT19937 makes its doubles from two 32-bit words: not these)
SIXTY_FOUR = [kind for kind in BIT_GENERATORS if kind is not np.random.MT19937]
# bounds near 2**32 (rejections likely), small ones, 2 and the largest 32-bit one
BOUNDS = [2, 3, 7, 600, 10_000, 2**31, 2**31 + 1, 3 * 2**30 + 1, 2**32 - 2, 2**32 - 1]


def _both(outputs, lam, n):
    """The kernel's answer, asserted equal to the Python function's (types too)."""
    want = poisson_integers(outputs, lam, n)
    got = K.poisson_integers(outputs, lam, n)
    assert got == want
    if want is not None:
        assert type(got) is list and all(type(x) is int for x in got)
    return got


@pytest.mark.parametrize("kind", SIXTY_FOUR, ids=lambda k: k.__name__)
def test_as_numpy_draws_from_the_same_outputs(kind):
    """k = poisson(lam), then integers(0, n) k times, from a generator's raw outputs: what
    numpy's Generator draws (a scalar draw or an array's), for means across (0, 10) and
    bounds with rejections; None only when the outputs given run out first."""
    r = np.random.default_rng(5)
    sizes, short = set(), 0
    for i in range(800):
        seed = int(r.integers(0, 2**40))
        lam = float((r.uniform(0, 10), 0.8333333333333334, 9.999999999, 1e-9, 4.0)[i % 5])
        n = int(BOUNDS[i % len(BOUNDS)]) if i % 3 else int(r.integers(2, 2**32))
        given = int(r.integers(1, 24))
        outputs = kind(seed).random_raw(given).tolist()
        g = np.random.Generator(kind(seed))
        k = int(g.poisson(lam))
        want = g.integers(0, n, k).tolist() if k else []
        got = _both(outputs, lam, n)
        if got is None:
            short += 1
            continue
        sizes.add(k)
        assert got == want
    assert {0, 1, 2, 3} <= sizes and short > 10


def test_the_hours_streams_as_the_python_function():
    """The organic streams of many hours (sim.rng.stream, PCG64), the quiet hours' means
    and bounds: the kernel's numbers are the Python function's, outputs as a list or tuple."""
    checked = 0
    for hour in range(600):
        outputs = stream(7, "organic", hour).bit_generator.random_raw(32).tolist()
        for lam, n in ((0.8333333333333334, 10_000), (1.7, 3), (6.5, 2**32 - 1), (9.99, 2)):
            got = _both(outputs[: 6 + hour % 27], lam, n)
            assert K.poisson_integers(tuple(outputs[: 6 + hour % 27]), lam, n) == got
            checked += got is not None
    assert checked > 1500


def test_the_same_nones_as_the_python_function():
    """Means outside (0, 10) (numpy's other methods or none), NaN, bounds outside
    [1, 2**32 - 1]: None as the Python function; a bound of 1 gives k zeros from nothing;
    outputs that run out (in the Poisson's product or in the integers) give None; an empty
    list None."""
    outputs = stream(0, "organic", 259).bit_generator.random_raw(64).tolist()
    for lam in (10.0, 30.0, math.nan, -1.0, 0.0, -0.0, math.inf, -math.inf, 1e300):
        assert _both(outputs, lam, 600) is None
    for n in (2**32, 2**33, 2**64, 2**70, 0, -3, -(2**70)):
        assert _both(outputs, 4.0, n) is None
    assert _both([], 4.0, 600) is None
    below = float(np.nextafter(10.0, 0.0))
    seen_short, seen_ones = 0, 0
    for hour in range(300):
        full = stream(3, "organic", hour).bit_generator.random_raw(64).tolist()
        for cut in range(0, 20):
            for n in (1, 2, 600, 2**32 - 1):
                got = _both(full[:cut], below if hour % 2 else 9.5, n)
                seen_short += got is None
                if n == 1 and got is not None:
                    seen_ones += 1
                    assert got == [0] * len(got)
    assert seen_short > 1000 and seen_ones > 100
    # the mean, then the bound, looked at before the outputs (as the Python function): an
    # int mean beyond a double's range, a bound that is no integer or outputs that are no
    # list after a mean or bound out of range: None
    for lam in (10**400, -(10**400), 10**20):
        assert _both(outputs, lam, 600) is None
    assert _both(iter(outputs), 30.0, 600) is None
    assert _both(np.array(outputs, dtype=np.uint64), 4.0, 2**33) is None
    assert _both(outputs, 30.0, "600") is None
    assert _both(None, 4.0, 0) is None
    # the numbers a Python int and a numpy integer give (the bound read through __index__)
    assert K.poisson_integers(outputs, 4.0, np.int64(600)) == poisson_integers(outputs, 4.0, 600)
    assert K.poisson_integers(outputs, 4, 600) == poisson_integers(outputs, 4, 600)


def test_rejections_take_the_next_half():
    """A bound whose threshold rejects most words (2**31 + 1: about half rejected): the
    rejected word's half is used up and the next one drawn, lower half first."""
    n = 2**31 + 1
    threshold = (2**32 - n) % n
    rejected = 0
    r = np.random.default_rng(9)
    for _ in range(400):
        outputs = r.integers(0, 2**64, 12, dtype=np.uint64).tolist()
        outputs[0] = 2**64 - 1  # the first uniform just below 1: k >= 1 at lam = 9
        got = _both(outputs, 9.0, n)
        if got is None:
            continue
        for w in outputs:
            for v in (w & 0xFFFFFFFF, w >> 32):
                if (v * n) & 0xFFFFFFFF < threshold:
                    rejected += 1
    assert rejected > 100


def test_bad_arguments_raise():
    """Not a list or tuple, an output that is not an int or outside [0, 2**64), a mean that
    is not a number, a bound that is not an integer, a wrong argument count: Python
    exceptions (the kernel reads the outputs it needs, in order)."""
    good = stream(1, "organic", 5).bit_generator.random_raw(8).tolist()
    with pytest.raises(TypeError):
        K.poisson_integers(iter(good), 4.0, 600)
    with pytest.raises(TypeError):
        K.poisson_integers(np.array(good, dtype=np.uint64), 4.0, 600)
    with pytest.raises(TypeError):
        K.poisson_integers(["1", *good], 4.0, 600)
    with pytest.raises(TypeError):
        K.poisson_integers([1.5, *good], 4.0, 600)
    with pytest.raises(OverflowError):
        K.poisson_integers([-1, *good], 4.0, 600)
    with pytest.raises(OverflowError):
        K.poisson_integers([2**64, *good], 4.0, 600)
    with pytest.raises(TypeError):
        K.poisson_integers(good, "4", 600)
    with pytest.raises(TypeError):
        K.poisson_integers(good, 4.0, 600.0)
    with pytest.raises(TypeError):
        K.poisson_integers(good, 4.0)
    with pytest.raises(TypeError):
        K.poisson_integers(good, 4.0, 600, 1)
    # the largest output and zero are read as they are: uniforms just below 1 keep the
    # product above exp(-9) past 30 outputs (None); a first uniform of 0.0 gives k = 0
    assert _both([2**64 - 1] * 30, 9.0, 600) is None
    assert _both([0, *good], 4.0, 600) == []


def _books(model: ViralChainModel) -> list:
    """What a run leaves: the ledger's hour books as recorded, events and consumers."""
    rec = model.recorder
    return [
        rec.data.tobytes(),
        model.events,
        model.population.state.tobytes(),
        model.population.exposure_count.tobytes(),
        model.working_capital.tobytes(),
    ]


def _run_without_the_kernel(cfg, monkeypatch) -> ViralChainModel:
    """The world of ``cfg`` (seed 3) run on the Python paths (``wishes._QUIET`` None)."""
    with monkeypatch.context() as mp:
        mp.setattr(wishes, "_QUIET", None)
        b = ViralChainModel(cfg, 3)
        b.run()
    return b


@pytest.mark.parametrize(
    "overrides",
    [
        ["market.n_consumers=10000", "run.horizon_hours=240"],
        [
            "market.n_consumers=3000",
            "run.horizon_hours=200",
            "market.consumer.units_per_order_mean=2.5",
            "market.organic.exposure_rate_per_day=0.05",
        ],
    ],
)
def test_runs_with_the_kernel_and_without_are_the_same(overrides, monkeypatch):
    """Whole runs of quiet-hour worlds with the kernel and with the Python function: the
    same records, events and consumers' books; the kernel called in the run (and the Python
    function not), every call's answer the Python function's."""
    cfg = sim.compose(None, overrides)
    calls = []

    class Spy:
        one_chance = staticmethod(K.one_chance)

        @staticmethod
        def poisson_integers(outputs, lam, n):
            got = K.poisson_integers(outputs, lam, n)
            assert got == poisson_integers(outputs, lam, n)
            calls.append(got)
            return got

    def no_python(*args):
        raise AssertionError("the Python function was called with the kernel loaded")

    with monkeypatch.context() as mp:
        mp.setattr(wishes, "_QUIET", Spy)
        mp.setattr(consumers, "poisson_integers", no_python)
        a = ViralChainModel(cfg, 3)
        a.run()
    assert len(calls) > 100 and any(calls) and [] in calls
    b = _run_without_the_kernel(cfg, monkeypatch)
    for x, y in zip(_books(a), _books(b), strict=True):
        assert x == y


def test_a_product_equal_to_the_limit_ends_the_count():
    """A uniform exactly ``exp(-lam)`` (a mean below ln 2: the limit is a multiple of 2**-53)
    counts nothing: the product must be above the limit (numpy's ``while prod > enlam``)."""
    for lam in (0.3, 0.6931, 1e-9, 0.01):
        limit = math.exp(-lam)
        w = int(limit * 2**53) << 11
        assert (w >> 11) * 2.0**-53 == limit
        outputs = [w, *stream(2, "organic", 1).bit_generator.random_raw(8).tolist()]
        assert _both(outputs, lam, 600) == []
        # just above the limit: one
        assert len(_both([w + (1 << 11), *outputs[1:]], lam, 600)) == 1


# ---------------------------------------------------------------- the feedback's cells


def _fed(P: int = 3):
    """Two feedbacks of ``P`` products with the same disappointed counts and books."""
    from sim.feedback import Feedback

    cfg = sim.compose().market.feedback
    a, b = Feedback(cfg, P), Feedback(cfg, P)
    for fb in (a, b):
        fb.disappointed[:] = [[3, 0, 5], [1, 0, 0]][:2] if P == 3 else 1
        fb.demand_lost[:] = 0.25
    return a, b


def test_demand_lost_cells_follow_rebound_arrays():
    """``add_demand_lost_of`` reads and writes the arrays the feedback holds now: after
    ``disappointed`` or ``demand_lost`` is rebound, the new ones (the same bytes as
    ``add_demand_lost``), the old ones left alone."""
    a, b = _fed()
    b.add_demand_lost_of({0: 0.5})  # cells made
    a.add_demand_lost(np.array([0]), np.array([0.5]))
    old_lost, old_disappointed = b.demand_lost, b.disappointed
    kept = old_lost.copy()
    for fb in (a, b):
        fb.demand_lost = fb.demand_lost.copy()
        fb.disappointed = np.array([[0, 7, 2], [9, 1, 0]], dtype=np.int64)
    a.add_demand_lost(np.array([0, 1, 2]), np.array([0.125, 3.0, 1e-3]))
    b.add_demand_lost_of({0: 0.125, 1: 3.0, 2: 1e-3})
    assert a.demand_lost.tobytes() == b.demand_lost.tobytes()
    assert old_lost.tobytes() == kept.tobytes()  # not written through stale cells
    assert old_disappointed is not b.disappointed
    b.disappointed = np.array([[1, 1, 1], [0, 0, 0]], dtype=np.int64)  # (counts alone)
    a.disappointed = b.disappointed.copy()
    a.add_demand_lost(np.array([1]), np.array([2.0]))
    b.add_demand_lost_of({1: 2.0})
    assert a.demand_lost.tobytes() == b.demand_lost.tobytes()
    before = b.demand_lost
    kept = before.copy()
    for fb in (a, b):  # (the books alone)
        fb.demand_lost = fb.demand_lost.copy()
    a.add_demand_lost(np.array([2]), np.array([0.5]))
    b.add_demand_lost_of({2: 0.5})
    assert a.demand_lost.tobytes() == b.demand_lost.tobytes()
    assert before.tobytes() == kept.tobytes()


def test_feedback_copies_keep_no_memoryview():
    """A feedback whose cells were made copies and pickles (no memoryview kept) and the copy
    books into its own arrays, the same numbers as the original."""
    import copy
    import pickle

    a, _ = _fed()
    a.add_demand_lost_of({2: 0.75})
    assert a._lost_cells is not None
    for c in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert c._lost_cells is None
        c.add_demand_lost_of({0: 1.5, 2: 0.5})
        assert c.demand_lost.tobytes() != a.demand_lost.tobytes()
        a2 = copy.deepcopy(a)
        a2._lost_cells = None
        a2.add_demand_lost_of({0: 1.5, 2: 0.5})
        assert c.demand_lost.tobytes() == a2.demand_lost.tobytes()
    assert a._lost_cells[1].obj is a.demand_lost


# ---------------------------------------------------------------- one exposure's numbers


@pytest.fixture(scope="module")
def worlds() -> dict:
    """A world of two brands (three products) and the quiet hours' world (one product), at
    their start."""
    from sim.model import ViralChainModel as M

    two = sim.compose("two_brands", ["market.n_consumers=600", "run.horizon_hours=48"])
    one = sim.compose(None, ["setup=flexible", "market.n_consumers=600", "run.horizon_hours=48"])
    return {"two": M(two, 5), "one": M(one, 5)}


def _varied(base, r, seed: int, reference_price: bool):
    """A copy of ``base`` with counts at the saturation, every state, ratings, books already
    written, appeals of -0.0, 40 and NaN, prices at the reference (or off it), fatigue off
    in some, a product not on sale yet in some, sensitivities NaN or infinite in some."""
    import copy

    world = copy.deepcopy(base)
    pop, P = world.population, world.n_sku
    pop.exposure_count[:] = r.choice([0, 1, 4, 63, 64, 9_999, 10_000, 65_535], pop.state.shape)
    pop.state[:] = r.choice([0, 0, 1, 2, 3, 3], size=pop.state.shape)
    fb = world.feedback
    fb.disappointed[:] = r.integers(0, 3, (2, P))
    fb.good[:], fb.bad[:] = r.integers(0, 20, P), r.integers(0, 20, P)
    fb._multiplier = None
    fb.wishes_per_view[:] = r.uniform(0.01, 0.5, P)
    fb.demand_lost[:] = r.uniform(0, 3, fb.demand_lost.shape)
    world.appeal = world.appeal * r.choice([-0.0, 1.0, 1.0, 40.0, np.nan], P)
    world.kol_trust = world.kol_trust * r.choice([1.0, 0.5, 3.0], len(world.kol_trust))
    # (the two brands' second product is off its reference price: at it here, or all off)
    world.price_ratio = np.ones(P) if reference_price else r.uniform(0.6, 1.4, P)
    _fatigue_off_or_a_product_not_on_sale(world, seed)
    if seed % 4 == 2:
        pop.price_sensitivity = pop.price_sensitivity.copy()
        pop.price_sensitivity[r.integers(0, 600, 400)] = r.choice([np.nan, np.inf, -np.inf])
    return world


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (inf * 0.0 in the long way's price)
def test_one_exposure_in_c_as_the_python_method(worlds, seed):
    """``_one_wish`` with the kernel (its numbers) and without it (the Python lines) on
    copies of varied worlds: whether a wish, the books' bytes (counts, states, wishes per
    view, demand lost) and the generator's state (a stream's generator, each of numpy's
    five bit generators, or a lazy stream), every channel, KOLs or none, prices at the
    reference or off it (numpy's ``exp`` in the shared first factors, then the kernel),
    every state, counts at the saturation; the kernel's answer taken."""
    import copy

    from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
    from sim.rng import LazyStream
    from tests.conftest import wish_books

    r = np.random.default_rng(seed)
    base = worlds["two" if seed % 2 else "one"]
    world = _varied(base, r, seed, reference_price=seed % 6 != 5)
    P = world.n_sku
    taken = {"kernel": 0, "wished": 0}
    real = K.one_chance

    class Spy:
        @staticmethod
        def one_chance(*args):
            taken["kernel"] += 1
            return real(*args)

    for i in range(30):
        c, s = int(r.integers(0, 600)), int(r.integers(0, P))
        ch = int(r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM]))
        kol = int(r.integers(-1, len(world.kol_trust)))
        hour = int(r.integers(0, 48))
        got = []
        for way in ("c", "python"):
            w = copy.deepcopy(world)
            pop = w.population
            if i % 3 == 1:
                g = stream(seed, "one", i)
            elif i % 3 == 2:  # (numpy's five generators in turn)
                g = np.random.Generator(BIT_GENERATORS[(seed + i) % 5](1000 * seed + i))
            else:
                g = LazyStream(hour_rows(seed, i), seed, "one", i)
            old, wishes._QUIET = wishes._QUIET, (Spy if way == "c" else None)
            try:
                wished = pop._one_wish(hour, c, s, ch, kol, g)
            finally:
                wishes._QUIET = old
            state = _plain((g.generator() if type(g) is LazyStream else g).bit_generator.state)
            got.append((wished, wish_books(w), state))
        assert got[0] == got[1]
        taken["wished"] += got[0][0]
    if seed % 5 != 1:  # (every product on sale; at the reference price or off it)
        assert taken["kernel"] > 10


def _plain(state):
    """A bit generator's state with its arrays as lists (MT19937's key), for ``==``."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    return state.tolist() if isinstance(state, np.ndarray) else state


def hour_rows(seed: int, i: int) -> list[int]:
    """The first four outputs of ``stream(seed, "one", i)`` (a lazy stream's)."""
    return stream(seed, "one", i).bit_generator.random_raw(4).tolist()


def test_the_kernels_states_are_the_python_constants():
    """The kernel's NONE and WARNED are sim.agents.wishes's."""
    assert (K.NONE, K.WARNED) == (wishes.NONE, wishes.WARNED)


def test_the_quiet_hours_take_the_kernel(monkeypatch):
    """A run of the quiet hours' world decides its one-exposure hours by the kernel (each
    of ``_one_wish``'s calls), with the books of a run without it."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=10000", "run.horizon_hours=720"])
    calls = []

    class Spy:
        poisson_integers = staticmethod(K.poisson_integers)

        @staticmethod
        def one_chance(*args):
            got = K.one_chance(*args)
            calls.append(got)
            return got

    decided = []
    one_wish = wishes.WishDecisions._one_wish

    def counted(self, *args):
        decided.append(args)
        return one_wish(self, *args)

    with monkeypatch.context() as mp:
        mp.setattr(wishes, "_QUIET", Spy)
        mp.setattr(wishes.WishDecisions, "_one_wish", counted)
        a = ViralChainModel(cfg, 3)
        a.run()
    # every one-exposure decision by the kernel (every product on sale here)
    assert len(calls) == len(decided) > 20
    assert any(type(x) is tuple and x[1] > 0 for x in calls)
    b = _run_without_the_kernel(cfg, monkeypatch)
    for x, y in zip(_books(a), _books(b), strict=True):
        assert x == y
    assert a.feedback.demand_lost.tobytes() == b.feedback.demand_lost.tobytes()


def test_one_chance_bad_arguments_raise(worlds):
    """Wrong formats (float64 counts, 2-D, a list), read-only counts, indices out of range,
    a count past the tables, numbers that are not numbers, the wrong argument count: Python
    exceptions, nothing written."""
    import copy

    w = copy.deepcopy(worlds["one"])
    pop = w.population
    ec, st = pop._flat_books()
    boost, fatigue = pop._seen_factors()

    def args(**over):
        a = dict(
            key=3, max_seen=10_000, ec=ec, st=st, bo=boost, fa=fatigue, q=0.5, mu=0.9, warn=0.2
        )
        a.update(over)
        return list(a.values())

    assert type(K.one_chance(*args())) is tuple
    before = ec.tobytes()
    for bad, exc in [
        (dict(ec=ec.astype(np.float64)), TypeError),
        (dict(ec=ec.astype(np.int16)), TypeError),
        (dict(st=st.astype(np.uint8)), TypeError),
        (dict(bo=boost.reshape(1, -1)), TypeError),
        (dict(bo=boost.astype(np.float32)), TypeError),
        (dict(fa=[1.0, 2.0]), TypeError),
        (dict(key=600), IndexError),
        (dict(key=-1), IndexError),
        (dict(max_seen=70_000), ValueError),
        (dict(max_seen=-1), ValueError),
        (dict(bo=boost[:1]), IndexError),  # (a count of 1 or more)
        (dict(fa=fatigue[:1]), IndexError),
        (dict(q="x"), TypeError),
        (dict(mu=None), TypeError),
        (dict(key=2**70), OverflowError),
    ]:
        with pytest.raises(exc):
            K.one_chance(*args(**bad))
        assert ec.tobytes() == before
    ro = ec.copy()
    ro.flags.writeable = False
    with pytest.raises((BufferError, ValueError, TypeError)):
        K.one_chance(*args(ec=ro))
    with pytest.raises(TypeError):
        K.one_chance(*args()[:-1])
