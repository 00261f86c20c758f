"""The order book is the one writer of order state: each verb refuses an illegal transition."""

from __future__ import annotations

import numpy as np
import pytest

from sim.orders import (
    ALLOCATED,
    BACKLOG,
    CANCELLED,
    DELIVERED,
    IN_TRANSIT,
    PICKED,
    RETURNED,
    STATUS_NAMES,
    OrderBook,
    OrderStateError,
)


def _book(k: int = 1) -> tuple[OrderBook, np.ndarray]:
    book = OrderBook(capacity=4)
    ids = book.accept(
        consumer=np.arange(k),
        sku=0,
        brand=0,
        region=np.zeros(k, dtype=np.int16),
        quantity=np.ones(k, dtype=np.int32),
        price=10.0,
        channel=0,
        kol=-1,
        platform=0,
        impulse=False,
        placed_hour=5,
        promise_hours=48.0,
    )
    return book, ids


def _in_status(status: int) -> tuple[OrderBook, np.ndarray]:
    """One order brought to ``status`` by the legal path."""
    book, ids = _book()
    path = {
        BACKLOG: [],
        ALLOCATED: [lambda: book.allocate(ids, 2)],
        PICKED: [lambda: book.allocate(ids, 2), lambda: book.pick(ids)],
        IN_TRANSIT: [
            lambda: book.allocate(ids, 2),
            lambda: book.pick(ids),
            lambda: book.ship(ids, 7),
        ],
        DELIVERED: [
            lambda: book.allocate(ids, 2),
            lambda: book.pick(ids),
            lambda: book.ship(ids, 7),
            lambda: book.deliver(ids, 9),
        ],
        CANCELLED: [lambda: book.cancel(ids)],
        RETURNED: [
            lambda: book.allocate(ids, 2),
            lambda: book.pick(ids),
            lambda: book.ship(ids, 7),
            lambda: book.deliver(ids, 9),
            lambda: book.send_back(ids),
        ],
    }[status]
    for step in path:
        step()
    assert book.status[0] == status
    return book, ids


VERBS = {
    "allocate": (lambda b, i: b.allocate(i, 2), {BACKLOG}),
    "pick": (lambda b, i: b.pick(i), {ALLOCATED}),
    "ship": (lambda b, i: b.ship(i, 7), {PICKED}),
    "deliver": (lambda b, i: b.deliver(i, 9), {IN_TRANSIT}),
    "cancel": (lambda b, i: b.cancel(i), {BACKLOG, ALLOCATED, PICKED}),
    "send back": (lambda b, i: b.send_back(i), {DELIVERED}),
    "mark defective": (lambda b, i: b.mark_defective(i), {DELIVERED}),
}


@pytest.mark.parametrize("verb", sorted(VERBS))
@pytest.mark.parametrize("status", range(len(STATUS_NAMES)), ids=STATUS_NAMES)
def test_each_verb_refuses_an_illegal_transition(verb, status):
    act, allowed = VERBS[verb]
    book, ids = _in_status(status)
    if status in allowed:
        act(book, ids)
        return
    before = {name: getattr(book, name).copy() for name in ("status", "warehouse", "defective")}
    refused = f"cannot {verb} order 0: it is {STATUS_NAMES[status]}"
    with pytest.raises(OrderStateError, match=refused):
        act(book, ids)
    for name, col in before.items():  # a refused verb writes nothing
        assert (getattr(book, name) == col).all()


def test_one_refused_order_refuses_the_whole_call():
    book, ids = _book(3)
    book.allocate(ids[:1], 0)
    with pytest.raises(OrderStateError, match="1 of 3 orders refused"):
        book.allocate(ids, 1)
    assert list(book.status) == [ALLOCATED, BACKLOG, BACKLOG]


def test_verbs_record_where_and_when():
    book, ids = _in_status(DELIVERED)
    assert (book.warehouse[0], book.shipped_hour[0], book.delivered_hour[0]) == (2, 7, 9)
    book.mark_defective(ids)
    assert book.defective[0]


def test_columns_are_read_only_outside_the_verbs():
    book, _ = _book()
    with pytest.raises(ValueError, match="read-only"):
        book.status[0] = DELIVERED
    with pytest.raises(AttributeError):
        book.set  # noqa: B018 (the unguarded writer is gone)


def test_acceptance_starts_in_the_backlog_and_refuses_state_columns():
    book, _ = _book(2)
    assert list(book.status) == [BACKLOG, BACKLOG]
    assert list(book.warehouse) == [-1, -1] and not book.defective.any()
    with pytest.raises(KeyError, match="status"):
        book.accept(status=DELIVERED)
    with pytest.raises(OrderStateError, match="outside"):
        book.pick(np.array([5]))


def test_the_book_grows_and_keeps_state():
    book, _ = _book(3)
    book.allocate(np.array([1]), 4)
    more = book.accept(
        consumer=np.arange(10),
        sku=1,
        brand=0,
        region=np.zeros(10, dtype=np.int16),
        quantity=np.full(10, 2, dtype=np.int32),
        price=1.0,
        channel=0,
        kol=-1,
        platform=0,
        impulse=False,
        placed_hour=6,
        promise_hours=24.0,
    )
    assert list(more) == list(range(3, 13)) and len(book) == 13
    assert book.status[1] == ALLOCATED and book.warehouse[1] == 4
    assert book.units_by_status()[BACKLOG] == 2 + 20
