"""The hourly books' key leaves the warehouses' reservations out (sim.holdings.UNREAD):
a sale that only reserves stock no longer makes working capital and the recorded stocks
work themselves out again. Held against the long way every hour in debug mode, on a run
with hours where only reservations moved."""

from __future__ import annotations

import numpy as np

import sim
from sim.holdings import UNREAD
from sim.model import ViralChainModel


def _model(*extra: str) -> ViralChainModel:
    cfg = sim.compose(None, ["market.n_consumers=20000", "run.horizon_hours=72", *extra])
    return ViralChainModel(cfg, 1)


def test_the_books_key_moves_with_every_stock_but_the_unread_ones():
    m = _model()
    h = m.holdings
    assert UNREAD == ("reserved",)
    n_read = len(h.read)
    assert h.read.ctypes.data == h.buffer.ctypes.data  # a prefix of the buffer
    for _owner, name, view in h._views:
        start = (view.ctypes.data - h.buffer.ctypes.data) // h.buffer.itemsize
        # the unread arrays make up the buffer's tail, every other one lies before it
        assert (start >= n_read) == (name in UNREAD), name
        before, whole = h.books_key(), h.key()
        view.reshape(-1)[0] += 1
        assert h.key() != whole
        assert (h.books_key() != before) == (name not in UNREAD), name
        view.reshape(-1)[0] -= 1


def test_no_hourly_book_reads_an_unread_array():
    m = _model()
    m.run_for(3)  # the books are listed at the first hours
    n_read = len(m.holdings.read)
    for book in (m.recorder._stock_sums, m._held_units):
        assert book is not None
        assert (book._positions < n_read).all()
    assert m._wc_books is not None and m._wc_books[0] is m.holdings.read


def test_books_equal_the_long_way_when_only_reservations_move():
    m = _model("run.debug_invariants=true")  # wc and recorded stocks checked every hour
    h = m.holdings
    seen = {"only_reserved": 0, "read": 0}
    last = [h.key(), h.books_key()]
    reset = m.ledger.reset_hour

    def peek() -> None:
        whole, read = h.key(), h.books_key()
        if read != last[1]:
            seen["read"] += 1
        elif whole != last[0]:
            seen["only_reserved"] += 1
        last[:] = [whole, read]
        reset()

    m.ledger.reset_hour = peek
    m.run()
    assert seen["only_reserved"] > 0 and seen["read"] > 0, seen
    plain = _model()
    plain.run()
    np.testing.assert_array_equal(m.recorder.data, plain.recorder.data)
    np.testing.assert_array_equal(m.peak_working_capital, plain.peak_working_capital)
    np.testing.assert_array_equal(m.working_capital, plain.working_capital)
