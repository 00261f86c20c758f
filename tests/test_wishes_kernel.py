"""The wish decision of an hour of one product in C (``sim/_wishes.c``, called by
``WishDecisions._one_product_rows_in_c``): exactly what the Python path gives (the same
wishes and their dtypes, the bytes of every book: exposure counts, states, the feedback's,
the ledger's views; the generator's state afterwards, for each of numpy's bit generators),
over varied worlds and hours (repeats, warned / bought / waiting consumers, ratings above and
below 1, fatigue on and off, NaN and infinite first factors, zero and negative-zero
probabilities, counts at saturation and at uint16's wrap); the hours it leaves to the Python
path (another price, a sensitivity not finite, a product not on sale) go there; bad
arguments raise."""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.content import Exposures
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_VIDEO
from tests.conftest import wish_books
from tests.test_compiled import BIT_GENERATORS, built
from tests.test_one_product import N, _world
from tests.test_wishes_coded import _batches


@pytest.fixture(scope="module")
def kernel():
    """The built kernel (VIRALCHAIN_COMPILED=0 aside: these tests compare both paths)."""
    return built("_wishes")


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose(None, [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


class _Spy:
    """The kernel, counting its calls."""

    def __init__(self, k):
        self.k, self.calls, self.declined, self.chance_calls = k, 0, 0, 0

    def one_product_hour(self, *args):
        self.calls += 1
        out = self.k.one_product_hour(*args)
        self.declined += out is NotImplemented
        return out

    def chances(self, *args):
        self.chance_calls += 1
        return self.k.chances(*args)


def _made_not_finite(m: ViralChainModel) -> bool:
    """Whether a test made a KOL's trust or a price sensitivity NaN or infinite (_varied,
    the sensitivity case): then the Python path's numpy multiplies NaN or inf by 0 or inf
    and says so (RuntimeWarning "invalid value"): numbers made so on purpose."""
    return not (
        np.isfinite(m.kol_trust).all() and np.isfinite(m.population.price_sensitivity).all()
    )


def _hour(m: ViralChainModel, hour: int, fresh: list, g, views: bool, python=False) -> tuple:
    """``_wishes`` of the hour (``views``: its views booked in the ledger too): the rows'
    bytes and dtypes, the books, the ledger's hour and the generator's state. ``python``:
    the Python path's call, quiet about the invalid values a test made on purpose."""
    quiet = python and _made_not_finite(m)
    with np.errstate(invalid="ignore") if quiet else contextlib.nullcontext():
        rows = m.population._wishes(hour, copy.deepcopy(fresh), g, views=views)
    return (
        None if rows is None else [a.tobytes() for a in rows] + [a.dtype.str for a in rows],
        wish_books(m),
        [(k, a.tobytes()) for k, a in sorted(m.ledger.hour.items())],
        _plain(g.bit_generator.state),
    )


def _plain(state):
    """A generator's state comparable with ==: its arrays (Philox, MT19937) as bytes."""
    if isinstance(state, dict):
        return {k: _plain(v) for k, v in state.items()}
    return (state.dtype.str, state.tobytes()) if isinstance(state, np.ndarray) else state


def _both(world, hour, fresh, make_generator, monkeypatch, kernel, views=True):
    """The hour by the Python path and by the kernel: both answers, the kernel's calls and
    how many of them declined (NotImplemented)."""
    got = {}
    spy = _Spy(kernel)
    for name, k in (("python", None), ("c", spy)):
        monkeypatch.setattr(wishes, "_K", k)
        got[name] = _hour(
            copy.deepcopy(world), hour, fresh, make_generator(), views, name == "python"
        )
    return got["python"], got["c"], spy.calls - spy.declined


def _varied(base_model, seed: int):
    """A world at the reference price (the kernel's hours) and an hour's batches, varied."""
    world = _world(base_model, seed)
    world.price_ratio = np.array([1.0])
    r = np.random.default_rng(500 + seed)
    hour = int(r.integers(0, 400))
    fresh = _batches(world, seed)
    if sum(len(b) for b in fresh) <= wishes._SMALL_BATCH:  # the coded way from 33 on
        fresh.append(Exposures(np.arange(40) * 7 % N, np.zeros(40, np.int32), CH_LIVE, 0))
    pop = world.population
    if seed % 7 == 3:  # NaN and infinite first factors (a KOL's trust): lexsort's choice
        world.kol_trust = world.kol_trust.copy()
        world.kol_trust[r.integers(0, len(world.kol_trust), 2)] = (np.nan, np.inf)
        fresh.append(
            Exposures(
                fresh[0].consumers[:50].copy(),
                np.zeros(50, np.int32),
                CH_VIDEO,
                int(np.flatnonzero(~np.isfinite(world.kol_trust))[0]),
            )
        )
    if seed % 6 == 5:  # the counts at their bounds: saturation, uint16's wrap
        pop.exposure_count[:] = r.choice([9_999, 10_000, 65_535], size=(N, 1)).astype(np.uint16)
    if seed % 8 == 2:  # every consumer warned (the highest state alone)
        pop.state[:] = wishes.WARNED
    if seed % 8 == 6:  # bought or waiting, none warned
        pop.state[:] = r.choice([0, 1, 2], size=(N, 1)).astype(np.int8)
    if seed % 12 == 11:  # a rating below and one above 1 (ratings on)
        fb = world.feedback
        fb.good[:], fb.bad[:] = (0, 19) if seed % 24 == 11 else (19, 0)
        fb._multiplier = None
    if seed % 10 == 9:  # negative first factors at a rating above 1, none warned: not
        # lossless (the rating takes more from a negative probability)
        world.appeal = -np.abs(world.appeal)
        pop.state[:] = r.choice([0, 1, 2], size=(N, 1)).astype(np.int8)
        fb = world.feedback
        fb.cfg = fb.cfg.model_copy(update={"ratings": True})
        fb.good[:], fb.bad[:] = 19, 0
        fb._multiplier = None
    return world, hour, fresh


@pytest.mark.parametrize("seed", range(96))
def test_an_hour_in_c_is_the_python_paths(base_model, kernel, seed, monkeypatch):
    """Sorted by the kernel or by numpy (_PACKED_FROM: from where numpy sorts), the views
    booked or not."""
    world, hour, fresh = _varied(base_model, seed)
    bit_generator = BIT_GENERATORS[seed % len(BIT_GENERATORS)]
    monkeypatch.setattr(wishes, "_PACKED_FROM", (400, 33, 1 << 30)[seed % 3])
    python, c, calls = _both(
        world,
        hour,
        fresh,
        lambda: np.random.Generator(bit_generator(seed)),
        monkeypatch,
        kernel,
        views=seed % 4 != 3,
    )
    assert calls == 1
    assert c == python


@pytest.mark.parametrize("seed", range(8))
def test_a_large_hour_in_c_is_the_python_paths(base_model, kernel, seed, monkeypatch):
    """Thousands of exposures (_ascending's packed sorts), many repeats."""
    world = _world(base_model, seed)
    world.price_ratio = np.array([1.0])
    r = np.random.default_rng(seed)
    fresh = [
        Exposures(r.integers(0, N, k), np.zeros(k, np.int32), ch, kol)
        for k, ch, kol in ((3000, CH_VIDEO, 0), (1500, CH_LIVE, 1), (900, 3, -1))[: 1 + seed % 3]
    ]
    python, c, calls = _both(
        world, 77, fresh, lambda: np.random.default_rng(seed), monkeypatch, kernel
    )
    assert calls == 1
    assert c == python


@pytest.mark.parametrize(
    "case",
    [
        "price",
        pytest.param(  # an infinite sensitivity: both runs are the Python path's, both warn
            "sensitivity",
            marks=pytest.mark.filterwarnings(
                "ignore:invalid value encountered in multiply:RuntimeWarning"
            ),
        ),
        "not on sale",
    ],
)
def test_the_hours_left_to_the_python_path(base_model, kernel, case, monkeypatch):
    world, hour, fresh = _varied(base_model, 1)
    if case == "price":
        world.price_ratio = np.array([1.3])
    elif case == "sensitivity":
        world.population.price_sensitivity = world.population.price_sensitivity.copy()
        world.population.price_sensitivity[7] = np.inf
    else:
        world.sellable_from = np.array([hour + 3], np.int64)
    python, c, calls = _both(
        world, hour, fresh, lambda: np.random.default_rng(5), monkeypatch, kernel
    )
    assert calls == 0
    assert c == python


def test_the_kernel_takes_the_hour_at_the_reference_price(base_model, kernel, monkeypatch):
    """The other side of each condition above: a finite sensitivity, on sale, price 1."""
    world, hour, fresh = _varied(base_model, 1)
    _, _, calls = _both(world, hour, fresh, lambda: np.random.default_rng(5), monkeypatch, kernel)
    assert calls == 1


def _args(consumers=(0, 0, 1, 2)):
    """A hand-made hour: one batch of video views, three consumers (one twice)."""
    c = np.array(consumers, np.int64)
    return [
        [Exposures(c, np.zeros(len(c), np.int32), CH_VIDEO, 0)],
        np.full(6, 0.5), 1.0, np.ones(2), 1.0, CH_VIDEO, CH_LIVE, None, None,
        np.array([0, 1, 1], np.uint8), 2, np.zeros(3, np.uint16), np.zeros(3, np.int8),
        np.ones(10_001), None, 1.0, 0.5, True, np.random.default_rng(0).bit_generator.capsule,
        10_000,
    ]  # fmt: skip


@pytest.mark.parametrize("presorted", [False, True])
def test_the_kernel_on_a_hand_made_hour(kernel, presorted):
    args = _args()
    if presorted:
        args[7], args[8] = np.arange(4, dtype=np.intp), np.array([0, 0, 1, 2], np.int64)
    g = np.random.default_rng(0)
    args[18] = g.bit_generator.capsule
    want = np.random.default_rng(0).random(3) < 0.5  # one draw per consumer (3)
    k, rows, n_views, views, lost, regions = kernel.one_product_hour(*args)
    assert list(args[11]) == [2, 1, 1]  # counts: the group's size
    assert k == int(want.sum()) and n_views == 4
    assert views == 1.5 and lost == 0.0
    assert list(np.frombuffer(regions, np.int64)) == [2, 2]
    assert list(np.frombuffer(rows, np.int64, k)) == [
        c for c, w in zip([0, 1, 2], want, strict=True) if w
    ]
    assert list(np.frombuffer(rows, np.int32, k, 8 * k)) == [0] * k
    assert list(np.frombuffer(rows, np.int8, k, 12 * k)) == [CH_VIDEO] * k
    h = np.random.default_rng(0)
    h.random(3)
    assert g.bit_generator.state == h.bit_generator.state


def _sorted(consumers):
    c = np.array(consumers, np.int64)
    order = np.argsort(c, kind="stable")
    return {7: order, 8: c[order]}


@pytest.mark.parametrize(
    "change, error",
    [
        ({7: np.arange(4, dtype=np.intp)}, TypeError),  # order without flat
        ({7: np.arange(4, dtype=np.int32), 8: np.zeros(4, np.int64)}, TypeError),  # not intp
        ({7: np.arange(8, dtype=np.intp)[::2], 8: np.zeros(4, np.int64)}, ValueError),  # strided
        ({7: np.array([0, 1, 2, 4]), 8: np.array([0, 0, 1, 2])}, IndexError),  # a position
        ({7: np.arange(4), 8: np.array([0, 0, 1, 3])}, IndexError),  # a consumer beyond
        ({7: np.arange(3), 8: np.array([0, 0, 1])}, ValueError),  # not one per exposure
        ({0: _args((0, 3))[0]}, IndexError),  # a batch's consumer beyond the books
        ({0: _args((0, -1))[0]}, IndexError),  # (below)
        ({0: 5}, TypeError),  # not a sequence
        ({0: [object()]}, AttributeError),  # not a batch
        ({1: np.full(CH_VIDEO, 0.5)}, IndexError),  # the channel beyond the conversions
        ({3: np.ones(0)}, IndexError),  # the KOL beyond the trusts
        ({9: np.array([0, 1, 2], np.uint8)}, ValueError),  # a region beyond n_regions
        ({9: np.array([0, 1], np.uint8)}, IndexError),  # a consumer beyond the regions
        ({9: np.zeros(3)}, TypeError),  # regions not integers
        ({11: np.zeros(3, np.int16)}, TypeError),  # counts not uint16
        ({11: np.zeros(3, np.uint16)[::-1]}, ValueError),  # (reversed: numpy says)
        ({12: np.zeros(3, np.uint8)}, TypeError),  # states not int8
        ({13: np.ones(100)}, IndexError),  # the boost's table shorter than the counts
        ({14: np.ones(10_001, np.float32)}, TypeError),  # fatigue not float64
        ({18: "capsule"}, ValueError),  # not a capsule
        ({19: 70_000}, ValueError),  # max_seen beyond uint16
    ],
)
def test_bad_arguments_raise(kernel, change, error):
    args = _args()
    for at, value in change.items():
        args[at] = value
    with pytest.raises(error):
        kernel.one_product_hour(*args)


def test_read_only_counts_raise(kernel):
    args = _args()
    args[11].flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):  # (numpy's buffer says)
        kernel.one_product_hour(*args)


@pytest.mark.parametrize(
    "consumers",
    [np.array([0, 0, 1, 2])[::-1], np.array([0.0, 1.0]), np.array([0, 1], np.int16)],
)
def test_batches_the_kernel_does_not_read_go_to_the_python_path(kernel, consumers):
    args = _args()
    args[0] = [args[0][0], Exposures(consumers, np.zeros(len(consumers), np.int32), 3, -1)]
    assert kernel.one_product_hour(*args) is NotImplemented
    assert not args[11].any()  # nothing written


@pytest.mark.parametrize("seed", range(12))
def test_an_hour_the_kernel_does_not_read_is_the_python_paths(
    base_model, kernel, seed, monkeypatch
):
    """A batch of int16 consumers: the Python path decides the hour (the same numbers)."""
    world, hour, fresh = _varied(base_model, seed)
    fresh.insert(
        seed % 2, Exposures(np.arange(30, dtype=np.int16) * 5, np.zeros(30, np.int32), 3, -1)
    )
    python, c, calls = _both(
        world, hour, fresh, lambda: np.random.default_rng(seed), monkeypatch, kernel
    )
    assert calls == 0  # (called, declined)
    assert c == python


def _chunks_both(world, hour, fresh, monkeypatch, kernel, seed, chunk=128):
    """The hour in chunks of ``chunk`` exposures: by the Python path and by the kernel's
    ``chances`` (one_product_hour is not called in chunks); both answers and its calls."""
    monkeypatch.setattr(wishes, "_WISH_CHUNK", chunk)
    got = {}
    spy = _Spy(kernel)
    bit_generator = BIT_GENERATORS[seed % len(BIT_GENERATORS)]
    for name, k in (("python", None), ("c", spy)):
        monkeypatch.setattr(wishes, "_K", k)
        g = np.random.Generator(bit_generator(seed))
        got[name] = _hour(copy.deepcopy(world), hour, fresh, g, False, name == "python")
    return got["python"], got["c"], spy


@pytest.mark.parametrize("seed", range(48))
def test_an_hour_in_chunks_in_c_is_the_python_paths(base_model, kernel, seed, monkeypatch):
    """Chunks keep their share of the books (views counted, sums continued from the chunks
    before, a loss when positive): every exposure a content view, none, or some; at the
    reference price (the kernel's) or not (numpy's exp: the Python path)."""
    world, hour, fresh = _varied(base_model, seed)
    kind = seed % 3
    for b in fresh:
        if kind == 0:  # every exposure a content view
            b.channel = (CH_VIDEO, CH_LIVE)[len(b) % 2]
        elif kind == 1:  # none
            b.channel, b.kol = 3, -1
    fresh.append(Exposures(np.arange(400) * 3 % N, np.zeros(400, np.int32), fresh[0].channel, -1))
    if seed % 8 == 7:
        world.price_ratio = np.array([1.3])
    python, c, spy = _chunks_both(world, hour, fresh, monkeypatch, kernel, seed)
    assert spy.calls == 0
    assert (spy.chance_calls > 0) == (seed % 8 != 7)
    assert c == python


@pytest.mark.parametrize("seed", range(24))
def test_an_hour_declined_by_the_hour_kernel_takes_chances_in_c(
    base_model, kernel, seed, monkeypatch
):
    """A batch of int16 consumers: one_product_hour declines, _one_product_rows codes the
    hour in Python and ``chances`` decides it (the novelty in its first factors)."""
    world, hour, fresh = _varied(base_model, seed)
    fresh.insert(0, Exposures(np.arange(30, dtype=np.int16) * 5, np.zeros(30, np.int32), 3, -1))
    spy = _Spy(kernel)
    got = {}
    for name, k in (("python", None), ("c", spy)):
        monkeypatch.setattr(wishes, "_K", k)
        g = np.random.default_rng(seed)
        got[name] = _hour(copy.deepcopy(world), hour, fresh, g, True, name == "python")
    assert spy.declined == spy.calls == 1 and spy.chance_calls == 1
    assert got["c"] == got["python"]


def _chance_args():
    """``chances`` of a hand-made hour (three consumers, one twice; every one a view)."""
    return [
        np.arange(4, dtype=np.intp), np.array([0, 0, 1, 2], np.int64), np.full(4, 0.5), None,
        None, 4, np.zeros(3, np.uint16), np.zeros(3, np.int8), np.ones(10_001), None, 1.0, 0.5,
        True, np.random.default_rng(0).bit_generator.capsule, 10_000, None,
    ]  # fmt: skip


def test_chances_on_a_hand_made_hour(kernel):
    args = _chance_args()
    g = np.random.default_rng(0)
    args[13] = g.bit_generator.capsule
    want = np.random.default_rng(0).random(3) < 0.5
    at, views, lost = kernel.chances(*args)
    assert list(np.frombuffer(at, np.int64)) == [
        p for p, w in zip([0, 2, 3], want, strict=True) if w
    ]
    assert views == 1.5 and lost == 0.0 and list(args[6]) == [2, 1, 1]
    books = (np.array([5], np.int64), np.array([0.25]), np.array([0.0]))
    args = _chance_args()
    args[10], args[15] = 0.5, books  # a rating of 0.5: half of each chance lost
    kernel.chances(*args)
    assert books[0][0] == 9 and books[1][0] == 0.25 + 0.25 * 3 and books[2][0] == 0.25 * 3


@pytest.mark.parametrize(
    "at, value",
    [
        (0, np.arange(4, dtype=np.int32)),  # order not intp
        (1, np.array([0, 0, 1, 2], np.int32)),  # flat not int64
        (2, np.full(4, 0.5, np.float32)),  # first not float64
        (2, np.full(8, 0.5)[::2]),  # first strided
        (4, np.ones(4, np.int8)),  # every not bool
    ],
)
def test_chances_declines_other_arrays(kernel, at, value):
    args = _chance_args()
    args[at] = value
    assert kernel.chances(*args) is NotImplemented
    assert not args[6].any()  # nothing written


@pytest.mark.parametrize(
    "at, value, error",
    [
        (0, np.array([0, 1, 2, 4], np.intp), IndexError),  # a position out of bounds
        (1, np.array([0, 0, 1, 3]), IndexError),  # a consumer beyond the books
        (2, np.full(3, 0.5), ValueError),  # first not one per exposure
        (3, "novelty", TypeError),  # not a float
        (6, np.zeros(3, np.int16), TypeError),  # counts not uint16
        (8, np.ones(100), IndexError),  # the boost's table too short
        (13, None, ValueError),  # not a capsule
        (15, (np.zeros(1), np.zeros(1), np.zeros(1)), TypeError),  # views not int64
        (15, (np.zeros(0, np.int64), np.zeros(1), np.zeros(1)), IndexError),  # no product 0
        (15, (np.zeros(1, np.int64), np.zeros(1)), TypeError),  # not three books
    ],
)
def test_chances_bad_arguments_raise(kernel, at, value, error):
    args = _chance_args()
    args[at] = value
    with pytest.raises(error):
        kernel.chances(*args)


def test_a_nan_first_factor_first_is_not_unsigned(base_model, kernel, monkeypatch):
    """The unsigned rule is Python's ``min(firsts) >= 0.0``: a NaN first factor in the
    FIRST batch stays the minimum (nothing compares below it), so a negative one later does
    not make the hour unsigned: not lossless at a rating above 1, none warned (the rating
    takes more from the negative probabilities: a loss booked). Catches ``low >= 0.0``
    written ``!(low < 0.0)`` (true for NaN)."""
    world = copy.deepcopy(base_model)
    world.price_ratio = np.array([1.0])
    world.channel_conversion = world.channel_conversion.copy()
    world.channel_conversion[3], world.channel_conversion[4] = np.nan, -0.3
    world.feedback._multiplier = np.array([1.5])
    world.population.state[:] = wishes.NONE
    r = np.random.default_rng(1)
    fresh = [Exposures(r.integers(0, N, 50), np.zeros(50, np.int32), ch, -1) for ch in (3, 4)]
    with np.errstate(invalid="ignore"):  # (NaN first factors: made so here)
        python, c, calls = _both(
            world, 5, fresh, lambda: np.random.default_rng(0), monkeypatch, kernel, views=False
        )
    assert calls == 1
    assert c == python


def test_chances_views_of_negative_zeros_are_zero(base_model, kernel, monkeypatch):
    """An appeal of -0.0: every probability -0.0, and the content views all on consumers
    exposed once, so the views' running sum stays -0.0 and ``chances`` returns 0.0 + it
    (np.bincount's sum from 0.0): +0.0 in the books, bit for bit. An int16 batch makes the
    hour kernel decline, so ``chances`` decides the hour. Catches the ``0.0 +`` dropped."""
    world = copy.deepcopy(base_model)
    world.price_ratio = np.array([1.0])
    world.appeal = np.array([-0.0])
    world.population.state[:] = wishes.NONE
    fresh = [
        Exposures(np.arange(30, dtype=np.int16) * 5, np.zeros(30, np.int32), 3, -1),
        Exposures(np.arange(40) * 5 + 2, np.zeros(40, np.int32), CH_VIDEO, -1),
    ]
    spy = _Spy(kernel)
    got = {}
    for name, k in (("python", None), ("c", spy)):
        monkeypatch.setattr(wishes, "_K", k)
        got[name] = _hour(copy.deepcopy(world), 5, fresh, np.random.default_rng(0), True)
    assert spy.declined == spy.calls == 1 and spy.chance_calls == 1
    assert got["c"] == got["python"]


class _NoBuffer:
    """Consumers whose buffer fails with ``error`` (PEP 688's ``__buffer__``)."""

    def __init__(self, error):
        self.error = error

    def __buffer__(self, flags):
        raise self.error

    def __len__(self):
        return 2


@pytest.mark.parametrize("error", [MemoryError, RuntimeError])
def test_a_batch_whose_buffer_fails_otherwise_raises(kernel, error):
    """Not a buffer (BufferError, TypeError, ValueError): the Python path's hour; any other
    error of a batch's buffer (no memory) propagates, nothing written."""
    args = _args()
    args[0] = [args[0][0], Exposures(_NoBuffer(error("made")), np.zeros(2, np.int32), 3, -1)]
    with pytest.raises(error, match="made"):
        kernel.one_product_hour(*args)
    assert not args[11].any()
    args[0][1].consumers = _NoBuffer(BufferError("made"))
    assert kernel.one_product_hour(*args) is NotImplemented
