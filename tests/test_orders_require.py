"""The order book's status check on Python numbers for a few orders
(``OrderBook._require``, up to ``_FEW_IDS``): the same refusals, with the same message, as the
numpy way it had, on random books, ids (out of range, negative, repeated) and verbs; and the
verbs' effects on whole runs are those of the numpy way. Ids that are not integers (a mask,
floats) are refused before either way, naming the dtype."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import sim
import sim.orders as orders
from sim.model import ViralChainModel
from sim.orders import STATUS_NAMES, OrderBook, OrderStateError


def _long_require(self: OrderBook, ids, verb: str, allowed: tuple[int, ...]) -> None:
    """``OrderBook._require`` as it was: numpy for any number of orders."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= self.n):
        raise OrderStateError(f"cannot {verb}: order ids outside 0..{self.n - 1}")
    status = self._cols["status"][ids]
    ok = status == allowed[0]
    for s in allowed[1:]:
        ok |= status == s
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        need = " or ".join(STATUS_NAMES[s] for s in allowed)
        raise OrderStateError(
            f"cannot {verb} order {int(ids[bad])}: it is {STATUS_NAMES[status[bad]]}, "
            f"{verb} needs {need} ({int((~ok).sum())} of {len(ids)} orders refused)"
        )


def _outcome(fn, *args) -> str | None:
    try:
        fn(*args)
    except OrderStateError as e:
        return str(e)
    return None


def _book(rng: np.random.Generator, n: int, capacity: int = 1024) -> OrderBook:
    book = OrderBook(capacity)
    if n:
        book.accept(
            consumer=np.arange(n),
            sku=0,
            brand=0,
            region=np.zeros(n, dtype=np.int16),
            quantity=np.ones(n, dtype=np.int32),
            price=1.0,
            channel=np.zeros(n, dtype=np.int8),
            kol=np.full(n, -1),
            platform=np.zeros(n, dtype=np.int16),
            impulse=np.zeros(n, dtype=bool),
            placed_hour=0,
            promise_hours=np.ones(n),
        )
        book._cols["status"][:n] = rng.integers(0, 7, n)
    return book


@pytest.mark.parametrize("seed", range(5))
def test_require_refuses_as_the_numpy_way(seed):
    rng = np.random.default_rng(seed)
    refused = passed = 0
    for _ in range(3000):
        n = int(rng.integers(0, 12))
        book = _book(rng, n)
        k = int(rng.integers(0, 12))
        ids = rng.integers(-2, n + 2, k)
        if rng.random() < 0.5 and n:  # mostly valid ids
            ids = rng.integers(0, n, k)
        if rng.random() < 0.3:
            ids = ids.tolist()  # the verbs accept lists too
        allowed = tuple(sorted(rng.choice(7, int(rng.integers(1, 4)), replace=False).tolist()))
        want = _outcome(_long_require, book, ids, "verb", allowed)
        got = _outcome(book._require, ids, "verb", allowed)
        assert got == want, (ids, allowed, book._cols["status"][:n])
        refused += want is not None
        passed += want is None
    assert refused > 500 and passed > 200


def test_runs_with_the_numpy_check_give_the_same_books(monkeypatch):
    cfg = sim.compose(None, ["market.n_consumers=50000", "run.horizon_hours=120"])
    fast = ViralChainModel(cfg, 2)
    fast.run()
    monkeypatch.setattr(orders, "_FEW_IDS", -1)  # every call the numpy way
    slow = ViralChainModel(cfg, 2)
    slow.run()
    assert len(fast.orders) == len(slow.orders) > 0
    for name in orders._COLUMNS:
        a, b = getattr(fast.orders, name), getattr(slow.orders, name)
        assert a.tobytes() == b.tobytes(), name
    assert fast.recorder.data.tobytes() == slow.recorder.data.tobytes()
    assert fast.rng.bit_generator.state == slow.rng.bit_generator.state


def test_column_views_are_read_only_slices_that_follow_the_book():
    rng = np.random.default_rng(0)
    book = _book(rng, 5, capacity=16)
    for copy_of in (lambda b: pickle.loads(pickle.dumps(b)), copy.deepcopy, lambda b: b):
        assert book.n == 5  # the copies had their own columns
        b = copy_of(book)
        for _ in range(6):  # grows past its capacity (16) on the way
            for name in orders._COLUMNS:
                view = getattr(b, name)
                assert len(view) == b.n and not view.flags.writeable, name
                assert np.shares_memory(view, b._cols[name]), name
                with pytest.raises(ValueError):
                    view[:1] = view[:1]
            b.allocate(np.flatnonzero(b.status == 0)[:1], 3)  # a verb's write is seen
            b.accept(
                consumer=np.arange(4),
                sku=1,
                brand=0,
                region=np.zeros(4, dtype=np.int16),
                quantity=np.full(4, 2, dtype=np.int32),
                price=2.0,
                channel=np.zeros(4, dtype=np.int8),
                kol=np.full(4, -1),
                platform=np.zeros(4, dtype=np.int16),
                impulse=np.zeros(4, dtype=bool),
                placed_hour=1,
                promise_hours=np.ones(4),
            )
            assert b.sku[-4:].tolist() == [1] * 4 and b.quantity[-1] == 2
        assert b.n == 5 + 24


@pytest.mark.parametrize(
    "ids",
    [np.array([True, False, True]), np.array([0.0, 1.0]), np.array([0.0]), [0.5], [True]],
    ids=["mask", "floats", "one float", "float list", "bool list"],
)
def test_require_refuses_ids_that_are_not_integers(ids):
    book = _book(np.random.default_rng(0), 3)
    book._cols["status"][:3] = orders.BACKLOG
    before = book.status.tobytes()
    for verb in (book.cancel, book.mark_defective):
        with pytest.raises(TypeError, match=r"order ids must be integers, got (bool|float64)"):
            verb(ids)
    assert book.status.tobytes() == before
    for empty in ([], np.zeros(0, dtype=np.uint8)):  # no order: nothing to refuse
        book.cancel(empty)
    book.cancel(np.array([0, 2], dtype=np.uint16))  # unsigned ids are ids
    assert book.status[[0, 2]].tolist() == [orders.CANCELLED] * 2
