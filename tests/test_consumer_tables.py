"""The consumers' per-hour factors read from tables (``sim/agents/consumer_tables.py``): every
product's novelty for a span of hours, and the repeat boost and fatigue of every exposure
count. Gathered from the tables they must give, byte for byte, what the numpy way's
operations on the hour's own arrays give (numpy's element-wise functions may take other
code paths for other array lengths and alignments: these tests hold them equal)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
from sim.agents.consumers import ACCEPTED
from sim.model import ViralChainModel
from tests.conftest import offer_books


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose("two_brands", ["market.n_consumers=300", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 3)


@pytest.mark.parametrize("seed", range(6))
def test_the_novelty_row_is_the_hours_novelty(base_model, seed):
    r = np.random.default_rng(seed)
    m = copy.deepcopy(base_model)
    P = int(r.integers(1, 9))
    m.launch_hour = r.integers(0, 700, P).astype(np.int64)
    m.novelty_half_life_days = r.uniform(0.05, 40.0, P)
    pop = m.population
    pop._novelty_table = None
    hours = [0, 1, 63, 64, 65, 127, 128, 699, 700, 64, 3, *r.integers(0, 2000, 30).tolist()]
    for hour in hours:  # table edges, going back, and random hours
        age_days = np.maximum(0, hour - m.launch_hour) / 24
        want = np.power(0.5, age_days / m.novelty_half_life_days)
        assert pop._novelty_row(hour).tobytes() == want.tobytes()
        skus = r.integers(0, P, int(r.integers(1, 300)))
        assert pop._novelty_row(hour)[skus].tobytes() == want[skus].tobytes()
        assert [pop._novelty(s, hour) for s in range(P)] == want.tolist()


@pytest.mark.parametrize(
    ("boost", "fatigue", "onset"),
    [(0.25, 0.3, 3), (0.0, 0.0, 0), (1.7, 0.013, 0), (0.4, 2.5, 40), (0.05, 0.7, 1.5)],
)
def test_the_seen_tables_are_the_hours_factors(base_model, boost, fatigue, onset):
    m = copy.deepcopy(base_model)
    pop = m.population
    update = {
        "repeat_exposure_boost": boost,
        "exposure_fatigue": fatigue,
        "fatigue_onset_exposures": onset,
    }
    consumer = pop.cfg.consumer.model_copy(update=update)
    pop.cfg = pop.cfg.model_copy(update={"consumer": consumer})
    r = np.random.default_rng(int(boost * 100 + fatigue * 1000))
    every = np.arange(10_001, dtype=np.uint16)
    for n in [1, 2, 3, 7, 8, 15, 16, 17, 31, 64, 333, 4099, 10_001, 25_000]:
        seen = every if n == 10_001 else r.choice(every, n).astype(np.uint16)
        if n == 25_000:  # a view starting at an odd place
            seen = seen[3:]
        table_boost, table_fatigue = pop._seen_factors()
        x = seen.astype(np.float64)
        want_boost = 1.0 + boost * (x - 1.0)
        assert table_boost[seen].tobytes() == want_boost.tobytes()
        if fatigue > 0:
            want_fatigue = np.exp(-fatigue * np.maximum(0.0, x - onset))
            assert table_fatigue[seen].tobytes() == want_fatigue.tobytes()
        else:
            assert table_fatigue is None


def test_the_seen_tables_follow_the_settings(base_model):
    m = copy.deepcopy(base_model)
    pop = m.population
    first = pop._seen_factors()[0]
    consumer = pop.cfg.consumer.model_copy(update={"repeat_exposure_boost": 0.9})
    pop.cfg = pop.cfg.model_copy(update={"consumer": consumer})
    assert pop._seen_factors()[0][3] == 1.0 + 0.9 * 2.0
    assert pop._seen_factors()[0] is not first


@pytest.mark.parametrize("n", [255, 256, 257, 1000, 4096, 70_000, 262_144])
@pytest.mark.parametrize("span", [3, 1_000_000, 2**40])
def test_groups_of_packed_values_and_positions_are_the_stable_sorts(n, span):
    """_Groups sorts ``flat << bits | position`` from _PACKED_FROM exposures on: the same
    order, keys and sizes as the stable argsort, with repeats, at bounds near the limit of
    an int64 and past it (then the stable argsort itself)."""
    from sim.agents.wishes import _PACKED_FROM, _Groups

    r = np.random.default_rng(n + span)
    flat = r.integers(0, span, n)
    flat[: n // 5] = flat[n // 5 : 2 * (n // 5)]  # repeats: groups of several
    want = np.argsort(flat, kind="stable")
    for bound in (span, None, 2 ** (62 - max(1, (n - 1).bit_length())), 2**62):
        g = _Groups(flat, bound)
        assert g.order.dtype == np.intp
        np.testing.assert_array_equal(g.order, want)
        keys, sizes = np.unique(flat, return_counts=True)
        np.testing.assert_array_equal(g.keys, keys)
        np.testing.assert_array_equal(g.sizes, sizes)
        np.testing.assert_array_equal(g.starts, np.r_[0, np.cumsum(sizes)[:-1]])
    assert n < _PACKED_FROM or _packs(n, span)


def _packs(n: int, bound: int) -> bool:
    return max(bound - 1, 1).bit_length() + max(1, (n - 1).bit_length()) <= 62


def test_demand_lost_split_follows_the_disappointed_counts():
    """The late/quality split of the demand lost is remembered between calls and made again
    when the disappointed counts change (by a review or written directly): the books are
    those of the split worked out at every call."""
    from sim.feedback import Feedback

    cfg = sim.compose().market.feedback
    P = 4
    fast, slow = Feedback(cfg, P), Feedback(cfg, P)
    r = np.random.default_rng(2)
    for step in range(40):
        if step % 3 == 0:
            skus, late, quality = r.integers(0, P, 6), r.random(6) < 0.5, r.random(6) < 0.3
            for fb in (fast, slow):
                fb.review(skus, late, quality, np.ones(6, bool))
        if step % 7 == 0:
            counts = r.integers(0, 4, (2, P))
            fast.disappointed[:] = counts
            slow.disappointed[:] = counts
        skus, lost = r.integers(0, P, 9), r.random(9)
        fast.add_demand_lost(skus, lost)
        slow._split = None  # the long way: worked out again
        slow.add_demand_lost(skus, lost)
        assert fast.demand_lost.tobytes() == slow.demand_lost.tobytes()
    d = fast.disappointed.astype(float)
    n = d.sum(axis=0)
    want = np.divide(d[0], n, out=np.full(P, 0.5), where=n > 0)
    assert fast._late_split()[0].tobytes() == want.tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_offers_of_one_product_are_the_product_by_product_offers(seed):
    """With one product the brand is handed the wishes' own arrays (_offer_one): the same
    outcomes, states, adopters, orders and ledger as the product-by-product way."""
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=96"])
    m = ViralChainModel(cfg, seed)
    assert m.n_sku == 1
    for _ in range(30 + 5 * seed):  # some hours in: stock, backlog and presale as they come
        m.step()
    r = np.random.default_rng(seed)
    k = int(r.integers(1, 400))
    consumers = r.integers(0, 2000, k)
    skus = np.zeros(k, np.int64)
    channels = r.integers(0, len(m.channel_patience), k).astype(np.int8)
    kols = r.integers(-1, 3, k).astype(np.int32)
    qty = r.integers(1, 4, k).astype(np.int64)
    hour = m.hour
    results = []
    outcomes: set[int] = set()
    for way in ("_offer_one", "_offer_each"):
        w = copy.deepcopy(m)
        pop = w.population
        args = (consumers.copy(), skus.copy(), channels.copy(), kols.copy(), qty.copy())
        offer = pop._offer if way == "_offer_one" else pop._offer_each
        out = offer(hour, *args)
        assert out.dtype == np.int8
        outcomes.update(out.tolist())
        assert all(
            (a == b).all()
            for a, b in zip(args, (consumers, skus, channels, kols, qty), strict=True)
        )
        results.append(offer_books(w, out))
    assert results[0] == results[1]
    assert ACCEPTED in outcomes


def _to_brands_one_by_one(m, ids, act) -> None:
    """The long way: brand by brand, each brand's orders selected."""
    for b in np.unique(m.orders.brand[ids]):
        act(m.brands[int(b)].selling, ids[m.orders.brand[ids] == b])


@pytest.mark.parametrize("story", ["flexible", "two_brands"])
def test_returns_and_cancellations_reach_the_brands_as_one_by_one(story, monkeypatch):
    """Returns and cancellations handed to the brands (all at once with one brand): the
    same books after a run as brand by brand with selection."""
    import sim.agents.consumers as consumers

    over = ["market.n_consumers=20000", "run.horizon_hours=400"]
    over.append("market.consumer.late_cancel_probability=0.9")
    name = None if story == "flexible" else story
    cfg = sim.compose(name, ["setup=flexible", *over] if name is None else over)
    books = []
    for to_brands in (consumers._to_brands, _to_brands_one_by_one):
        monkeypatch.setattr(consumers, "_to_brands", to_brands)
        m = ViralChainModel(cfg, 2)
        m.run()
        orders = m.orders
        books.append(
            [
                *(getattr(orders, c).tobytes() for c in orders._cols),
                *(a.tobytes() for a in m.ledger.money.values()),
                *(a.tobytes() for a in m.ledger.units.values()),
            ]
        )
        assert (orders.status == 6).sum() > 5  # some returned
    assert books[0] == books[1]


class _Selling:
    def __init__(self, calls: list, b: int):
        self.calls, self.b = calls, b

    def act(self, ids: np.ndarray) -> None:
        self.calls.append((self.b, ids.tolist()))


@pytest.mark.parametrize("n_brands", [1, 3])
def test_orders_go_to_their_brands_in_order(n_brands):
    from types import SimpleNamespace

    from sim.agents.consumers import _to_brands

    r = np.random.default_rng(n_brands)
    brand = r.integers(0, n_brands, 40)
    ids = r.permutation(40)[:25]
    calls: list = []
    m = SimpleNamespace(
        orders=SimpleNamespace(brand=brand),
        brands=[SimpleNamespace(selling=_Selling(calls, b)) for b in range(n_brands)],
    )
    _to_brands(m, ids, lambda selling, own: selling.act(own))
    want: list = []
    m_long = SimpleNamespace(
        orders=m.orders,
        brands=[SimpleNamespace(selling=_Selling(want, b)) for b in range(n_brands)],
    )
    _to_brands_one_by_one(m_long, ids, lambda selling, own: selling.act(own))
    assert calls == want


@pytest.mark.parametrize("n", [0, 1, 2, 5, 300, 5000])
def test_positions_by_value_are_unique_and_masks(n):
    from sim.agents.consumers import _positions_by_value

    r = np.random.default_rng(n)
    values = 100 + r.integers(1, 25, n)
    got = _positions_by_value(values)
    want = [(int(v), np.flatnonzero(values == v)) for v in np.unique(values)]
    assert [v for v, _ in got] == [v for v, _ in want]
    assert all(type(v) is int for v, _ in got)
    for (_, a), (_, b) in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
        x = np.arange(n) * 7
        assert x[a].tobytes() == x[values == values[b[0]]].tobytes()
