"""The supply side's short paths of a busy hour (``sim/agents/brand_selling.py``,
``sim/ledger.py``, ``sim/orders.py``, returns in ``sim/agents/warehouse.py`` and
``sim/agents/carrier.py``): a brand's ``take_orders`` on Python numbers for a few wishes,
without copies when every wish is served or one warehouse serves them all, the sold flow
of one SKU added by ``Ledger.add_sku_region_flow``, and the order book's column views kept
until it grows. Each must give exactly what the long way gives: the same outcomes and the
same bytes in every book (orders, ledger, warehouses, backlog, cancellation checks)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import sim
import sim.agents.brand_selling as selling
from sim.agents.brand_selling import Selling
from sim.agents.carrier import Carrier
from sim.agents.consumers import ACCEPTED, SOLD_OUT, TOO_SLOW
from sim.agents.warehouse import Warehouse
from sim.holdings import ints
from sim.ledger import Ledger
from sim.messages import Consignment, Wishes
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM, OrderBook
from sim.policies.allocation import FirstComeFirstServed

N = 400


def _long_take_orders(self: Selling, hour: int, sku: int, wishes: Wishes) -> np.ndarray:
    """``Selling.take_orders`` the long way (as before the short paths)."""
    m = self.model
    net = self.network
    regions, quantity, patience = wishes.regions, wishes.quantity, wishes.patience
    priority = m.platform_priority[wishes.platforms]
    avail = net.available(sku)
    had_stock = avail.copy()
    promise = self.promise_hours(hour)
    fits_somewhere = np.zeros(len(wishes), dtype=bool)

    def eligible(wh: np.ndarray) -> np.ndarray:
        stock_ok = had_stock[wh] >= quantity
        fits_somewhere[:] |= stock_ok
        return stock_ok & (promise[wh, regions] <= patience)

    def select(rows: np.ndarray, units: int) -> np.ndarray:
        return self.allocator.select(quantity[rows], regions[rows], priority[rows], units)

    chosen = net.assign(regions, quantity, avail, select, eligible)
    outcome = np.where(fits_somewhere, TOO_SLOW, SOLD_OUT).astype(np.int8)
    accepted = chosen >= 0
    outcome[accepted] = ACCEPTED
    if accepted.any():
        a = np.flatnonzero(accepted)
        ids = _long_book(self, hour, sku, wishes.take(a), promise[chosen[a], regions[a]])
        for w in np.unique(chosen[a]):
            net.warehouses[int(w)].reserve(ids[chosen[a] == w])
    if self.presale_open[sku] and not accepted.all():
        self._take_preorders(hour, sku, wishes, outcome)
    return outcome


def _long_book(self: Selling, hour: int, sku: int, wishes: Wishes, promise: np.ndarray):
    m = self.model
    price = m.price[sku]
    ids = m.orders.accept(
        consumer=wishes.consumers,
        sku=sku,
        brand=self.index,
        region=wishes.regions,
        quantity=wishes.quantity,
        price=price,
        channel=wishes.channels,
        kol=wishes.kols,
        platform=wishes.platforms,
        impulse=wishes.channels == CH_LIVE,
        placed_hour=hour,
        promise_hours=promise,
    )
    m.ledger.add_region_flow("sold", np.full(len(ids), sku), wishes.regions, wishes.quantity)
    ints.add.at(m.ledger.platform_units["sold"], (sku, wishes.platforms), wishes.quantity)
    revenue = price * wishes.quantity
    m.ledger.add_money("paid", self.index, float(revenue.sum()))
    self._commission(wishes.kols, revenue, +1)
    grace = m.config.market.consumer.cancel_grace_hours
    deadlines = hour + np.ceil(promise + grace).astype(np.int64)
    m.population.watch_order(ids, deadlines)
    return ids


SETUPS = [
    ("fcfs", "off", "assigned"),
    ("proportional", "off", "assigned"),
    ("priority", "on", "assigned"),
    ("fcfs", "on", "assigned"),
    # a warehouse serving wishes at its second rank too, after those at its first
    ("fcfs", "off", "nearest_with_stock"),
]


@pytest.fixture(scope="module", params=SETUPS, ids=lambda s: f"{s[0]}-presale_{s[1]}-{s[2]}")
def base_model(request) -> ViralChainModel:
    allocation, presale, routing = request.param
    cfg = sim.compose(
        "multi_platform",
        [
            "setup=flexible",
            f"market.n_consumers={N}",
            "run.horizon_hours=200",
            f"policy/allocation={allocation}",
            f"policy/presale={presale}",
            f"policy/routing={routing}",
        ],
    )
    return ViralChainModel(cfg, 3)


def _world(model: ViralChainModel, seed: int) -> tuple[ViralChainModel, int, int, Wishes]:
    """A copy of the model with random stock and queues, and random wishes for one SKU."""
    m = copy.deepcopy(model)
    r = np.random.default_rng(seed)
    brand = m.brands[0]
    net = brand.selling.network
    sku = int(r.choice(list(brand.selling.backlog)))
    for w in net.warehouses:
        kind = r.integers(0, 4)
        units = [0, 3, 40, 100_000][kind]
        w.on_hand[sku] = w.reserved[sku] + units
        w.queued_units = int(r.choice([0, 10, 5_000, 200_000]))
    if r.random() < 0.5:
        brand.selling.set_presale(sku, True, m.hour, "test")
    k = int(r.choice([1, 1, 2, 3, 5, 8, 9, 16, 32, 33, 40, 300]))  # a few (up to _FEW) or many
    regions = r.integers(0, len(m.geo), k).astype(np.int16)
    patience = r.choice([1.0, 24.0, 48.0, 96.0, 500.0], k).astype(np.float32)
    if seed % 5 == 2:  # plenty of stock, patient buyers: every wish can be served
        patience[:] = 500.0
        for w in net.warehouses:
            w.on_hand[sku] = w.reserved[sku] + 100_000
            w.queued_units = 0
    wishes = Wishes(
        consumers=r.integers(0, N, k).astype(np.int64),
        regions=regions,
        quantity=r.choice([1, 1, 2, 5], k).astype(np.int32),
        patience=patience,
        channels=r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8),
        kols=np.where(r.random(k) < 0.4, r.integers(0, len(m.kols), k), -1).astype(np.int32),
        platforms=r.integers(0, len(m.platform_priority), k).astype(np.int16),
    )
    return m, m.hour + int(r.integers(0, 5)), sku, wishes


def _books(m: ViralChainModel) -> list[bytes]:
    book = m.orders
    out = [book._cols[c][: book.n].tobytes() for c in book._cols]
    led = m.ledger
    out += [led.hour_block.tobytes(), led.pending_intents.tobytes()]
    out += [led.units[f].tobytes() for f in led.UNIT_FIELDS]
    out += [led.money[f].tobytes() for f in led.MONEY_FIELDS]
    out += [v.tobytes() for v in led.platform_units.values()]
    out.append(repr(sorted(led.kol_fees_by_kol.items())).encode())
    for w in m.warehouses:
        out += [w.on_hand.tobytes(), w.reserved.tobytes(), w.pick_queue.items().tobytes()]
        out.append(repr((w.queued_units, w.packed_units)).encode())
    for b in m.brands:
        s = b.selling
        out += [s.backlog_units.tobytes(), s.backlog_region.tobytes()]
        out += [q.items().tobytes() for q in s.backlog.values()]
    checks = m.population._cancel_checks
    out += [repr(h).encode() + b"".join(a.tobytes() for a in checks[h]) for h in sorted(checks)]
    return out


@pytest.mark.parametrize("seed", range(60))
def test_take_orders_as_the_long_way(base_model, seed):
    short, hour, sku, wishes = _world(base_model, seed)
    long = copy.deepcopy(short)
    given = [np.array(getattr(wishes, f)) for f in ("consumers", "regions", "quantity")]
    got = short.brands[0].selling.take_orders(hour, sku, wishes)
    want = _long_take_orders(long.brands[0].selling, hour, sku, wishes)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert _books(short) == _books(long)
    # the wishes are only read
    for f, before in zip(("consumers", "regions", "quantity"), given, strict=True):
        assert getattr(wishes, f).tobytes() == before.tobytes()


def test_the_worlds_reach_every_branch(base_model):
    """All served, some served, none served, and several warehouses serving one call."""
    seen = set()
    for seed in range(60):
        m, hour, sku, wishes = _world(base_model, seed)
        seen_warehouses: list[np.ndarray] = []
        for w in m.brands[0].selling.network.warehouses:
            real = w.reserve

            def spy(ids, real=real, seen_warehouses=seen_warehouses):
                seen_warehouses.append(ids)
                real(ids)

            w.reserve = spy
        presale = bool(m.brands[0].selling.presale_open[sku])
        out = m.brands[0].selling.take_orders(hour, sku, wishes)
        served = int((out == ACCEPTED).sum())
        few = "few" if len(out) <= selling._FEW else "many"
        if not presale:
            seen.add(
                f"{few}: " + ("all" if served == len(out) else "none" if served == 0 else "some")
            )
        if len(seen_warehouses) > 1:
            seen.add(f"{few}: several warehouses")
    assert seen == {
        f"{few}: {what}"
        for few in ("few", "many")
        for what in ("all", "some", "none", "several warehouses")
    }


@pytest.mark.parametrize("seed", range(20))
def test_sku_region_flow_as_the_long_way(seed):
    r = np.random.default_rng(seed)
    S, R = 7, 5
    a, b = Ledger(S, 2, R, np.zeros(S)), Ledger(S, 2, R, np.zeros(S))
    for _ in range(5):
        k = int(r.integers(0, 600))  # on both sides of the counting threshold
        sku = int(r.integers(0, S))
        region = r.integers(0, R, k).astype(np.int16)
        qty = r.integers(1, 6, k).astype(np.int32)
        name = str(r.choice(["sold", "returned"]))
        a.add_sku_region_flow(name, sku, region, qty)
        b.add_region_flow(name, np.full(k, sku), region, qty)
    assert a.hour_block.tobytes() == b.hour_block.tobytes()
    assert all(a.units[f].tobytes() == b.units[f].tobytes() for f in a.UNIT_FIELDS)
    assert a.hour_flowed == b.hour_flowed


def _accept(book: OrderBook, k: int) -> np.ndarray:
    return book.accept(
        consumer=np.arange(k),
        sku=1,
        brand=0,
        region=np.zeros(k, dtype=np.int16),
        quantity=np.ones(k, dtype=np.int32),
        price=2.0,
        channel=np.zeros(k, dtype=np.int8),
        kol=-1,
        platform=0,
        impulse=False,
        placed_hour=3,
        promise_hours=np.full(k, 5.0),
    )


def test_order_book_views_follow_the_book():
    book = OrderBook(capacity=16)
    _accept(book, 3)
    first = book.status
    assert len(first) == 3 and not first.flags.writeable
    assert book.status is first  # kept
    book.allocate(np.array([1]), 4)
    assert book.status[1] == 1 and book.warehouse[1] == 4  # writes reach the kept views
    _accept(book, 40)  # grows past its capacity: new columns
    assert len(book.status) == 43 and len(book.quantity) == 43
    assert book.warehouse[1] == 4 and book.consumer[42] == 39
    book.pick(np.array([1]))
    assert book.status[1] == 2
    copied = pickle.loads(pickle.dumps(book))
    copied.ship(np.array([1]), 7)
    assert copied.status[1] == 3 and book.status[1] == 2  # the copy has its own columns
    again = copy.deepcopy(book)
    again.cancel(np.array([0]))
    assert again.status[0] == 5 and book.status[0] == 0


def _long_receive_returns(self, order_ids: np.ndarray, hour: int) -> None:
    """``Warehouse.receive_returns`` the long way."""
    book = self.model.orders
    ints.add.at(self.returned_hour, book.sku[order_ids], book.quantity[order_ids])
    bad = book.defective[order_ids]
    if bad.any():
        self.model.ledger.add_units(
            "scrapped", book.sku[order_ids[bad]], book.quantity[order_ids[bad]]
        )
    good = order_ids[~bad]
    ints.add.at(self.returns_waiting, book.sku[good], book.quantity[good])


def _long_carry_returns(self, ids: np.ndarray, hour: int) -> None:
    """``Carrier.carry_returns`` the long way."""
    m = self.model
    book = m.orders
    wh = book.warehouse[ids]
    for w in np.unique(wh):
        sel = ids[wh == w]
        dest = m.warehouses[int(w)]
        for r in np.unique(book.region[sel]):
            part = sel[book.region[sel] == r]
            qty = book.quantity[part]
            n = int(qty.sum())
            km = m.geo.km(int(r), dest.region)
            c = Consignment(
                kind="returns",
                brand=m.brands[self.brand].name,
                origin=m.geo.names[int(r)],
                destination=dest.name,
                sku_index=-1,
                units=n,
                dispatched_hour=hour,
                arrival_hour=hour + self.trip_hours(km),
                distance_km=km,
                order_ids=part,
            )
            ints.add.at(self.returns_in_transit, book.sku[part], qty)
            self._charge(n, km, "return_cost")
            self._load(c)


def _run_books(cfg, long: bool, monkeypatch, seen: set[str]) -> list[bytes]:
    with monkeypatch.context() as mp:
        if long:
            mp.setattr(Warehouse, "receive_returns", _long_receive_returns)
            mp.setattr(Carrier, "carry_returns", _long_carry_returns)
        else:
            real_receive, real_carry = Warehouse.receive_returns, Carrier.carry_returns

            def receive(self, ids, hour):
                if self.model.orders.defective[ids].any():
                    seen.add("defective")
                return real_receive(self, ids, hour)

            def carry(self, ids, hour):
                wh = self.model.orders.warehouse[ids]
                seen.add("several warehouses" if len(np.unique(wh)) > 1 else "one warehouse")
                return real_carry(self, ids, hour)

            mp.setattr(Warehouse, "receive_returns", receive)
            mp.setattr(Carrier, "carry_returns", carry)
        m = ViralChainModel(cfg, 7)
        m.run()
    out = _books(m)
    for c in m.carriers:
        out += [c.returns_in_transit.tobytes(), c.parcels_in_transit.tobytes()]
        arrivals = sorted(c._arrivals.items())
        out += [
            repr((h, [(x.origin, x.destination, x.units) for x in cs])).encode()
            for h, cs in arrivals
        ]
        out += [x.order_ids.tobytes() for _, cs in arrivals for x in cs]
    for w in m.warehouses:
        out += [w.returned_hour.tobytes(), w.returns_waiting.tobytes()]
    return out


def test_returns_as_the_long_way(monkeypatch):
    """Returned parcels carried back and received: several warehouses, defective units."""
    cfg = sim.compose(
        "multi_platform",
        [
            "setup=flexible",
            "market.n_consumers=3000",
            "run.horizon_hours=600",
            "supply.quality.defect_rate=0.5",
            "supply.quality.detection_rate=0.0",
        ],
    )
    seen: set[str] = set()
    assert _run_books(cfg, False, monkeypatch, seen) == _run_books(cfg, True, monkeypatch, seen)
    assert seen == {"defective", "several warehouses", "one warehouse"}


def _scarce_world(model: ViralChainModel, r: np.random.Generator):
    """A copy of the model whose warehouses hold a few units of one SKU (no queues), and a
    few patient wishes from random platforms and regions competing for them."""
    m = copy.deepcopy(model)
    net = m.brands[0].selling.network
    sku = 0
    for w in net.warehouses:
        w.on_hand[sku] = w.reserved[sku] + int(r.integers(0, 6))
        w.queued_units = 0
    k = int(r.integers(2, 7))
    wishes = Wishes(
        consumers=r.integers(0, N, k).astype(np.int64),
        regions=r.integers(0, len(m.geo), k).astype(np.int16),
        quantity=r.integers(1, 4, k).astype(np.int32),
        patience=np.full(k, 500.0, dtype=np.float32),
        channels=np.zeros(k, dtype=np.int8),
        kols=np.full(k, -1, dtype=np.int32),
        platforms=r.integers(0, len(m.platform_priority), k).astype(np.int16),
    )
    return m, sku, wishes


@pytest.mark.parametrize("allocation", ["priority", "proportional"])
@pytest.mark.parametrize("routing", ["assigned", "nearest_with_stock"])
def test_few_wishes_share_scarce_stock_as_the_long_way(allocation, routing):
    """A few wishes from different platforms and regions competing for scarce stock, under
    the priority and proportional rules: the short path gives what the long way gives, and
    the rule's choice is not first come first served's (so a short path that served them in
    arrival order fails)."""
    cfg = sim.compose(
        "multi_platform",
        [
            "setup=flexible",
            f"market.n_consumers={N}",
            f"policy/routing={routing}",
            f"policy/allocation={allocation}",
            "policy/presale=off",
        ],
    )
    base = ViralChainModel(cfg, 3)
    r = np.random.default_rng(17)
    differs = 0
    for _ in range(60):
        short, sku, wishes = _scarce_world(base, r)
        long, fcfs = copy.deepcopy(short), copy.deepcopy(short)
        assert len(wishes) <= selling._FEW
        got = short.brands[0].selling.take_orders(short.hour, sku, wishes)
        want = _long_take_orders(long.brands[0].selling, long.hour, sku, wishes)
        assert got.tobytes() == want.tobytes()
        assert _books(short) == _books(long)
        s = fcfs.brands[0].selling
        s.allocator = FirstComeFirstServed(None)
        first_come = _long_take_orders(s, fcfs.hour, sku, wishes)
        differs += got.tobytes() != first_come.tobytes() or _books(short) != _books(fcfs)
    assert differs >= 2, differs
