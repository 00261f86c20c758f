"""The world of a run, built once from a validated config.

:func:`build` fills a model under construction, in this order (agents are created in it, so
the order fixes Mesa's agent order; random draws come from identity-derived streams):

1. the catalogue (:class:`Catalogue`: every SKU of every brand, main brand first) and the
   market's platforms;
2. the accounts (ledger, order book, event log);
3. each brand with its network: warehouses, factories and carriers get global indices
   across brands;
4. the KOLs and the consumer population (a large world's independent pieces on two
   threads, every one finished before step 5: :class:`Pieces`);
5. the recorder, the first sellable hour of each SKU and the initial stock (the event
   plan reads the KOLs' samples).

The builder schedules nothing: :meth:`sim.model.ViralChainModel.schedule_timeline` does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.agents.brand import Brand
from sim.agents.carrier import Carrier
from sim.agents.consumers import ConsumerPopulation
from sim.agents.factory import Factory
from sim.agents.kol import Kol
from sim.agents.warehouse import Warehouse
from sim.config import BrandSpec, Config, ProductConfig
from sim.feedback import Feedback
from sim.geography import Geography
from sim.ledger import Ledger
from sim.orders import CH_LIVE, CH_ORGANIC, CH_REVISIT, CH_SUBST, CH_VIDEO, CH_WOM, OrderBook
from sim.recording import Recorder
from sim.rng import stream
from sim.social_graph import CORES, allowed_threads

if TYPE_CHECKING:
    from sim.model import ViralChainModel


@dataclass(frozen=True)
class Catalogue:
    """Every product of the market, as arrays indexed by global SKU index."""

    names: list[str]
    brand: np.ndarray  # brand index of each SKU
    products: list[ProductConfig]

    @classmethod
    def of(cls, specs: list[BrandSpec]) -> Catalogue:
        """The products of all brands, main brand first, in their config order."""
        names, brand, products = [], [], []
        for b, spec in enumerate(specs):
            for name, prod in spec.brand.products.items():
                names.append(name)
                brand.append(b)
                products.append(prod)
        return cls(names, np.array(brand, dtype=np.int64), products)

    def column(self, field: str, dtype: type = np.float64) -> np.ndarray:
        """One product field for every SKU."""
        return np.array([getattr(p, field) for p in self.products], dtype=dtype)

    def substitutes(self) -> list[np.ndarray]:
        """For each SKU, the SKUs of other brands in its category."""
        out = []
        for i, p in enumerate(self.products):
            subs = [
                j
                for j, q in enumerate(self.products)
                if j != i and q.category == p.category and self.brand[j] != self.brand[i]
            ]
            out.append(np.array(subs, dtype=np.int64))
        return out


def channel_conversion(config: Config) -> np.ndarray:
    """Probability that an exposure on each channel turns into a wish (by channel code)."""
    c = config.content
    conv = np.zeros(6)
    conv[CH_VIDEO] = c.short_video.conversion_probability
    conv[CH_LIVE] = c.livestream.conversion_probability
    conv[CH_WOM] = config.market.word_of_mouth.conversion_probability
    conv[CH_ORGANIC] = config.market.organic.conversion_probability
    conv[CH_SUBST] = conv[CH_REVISIT] = 1.0
    return conv


def channel_patience(config: Config) -> np.ndarray:
    """A buyer's patience multiplier by the channel of the wish (by channel code)."""
    cp = config.market.consumer.channel_patience_multiplier
    out = np.ones(6, dtype=np.float32)  # substitutes and revisits: 1
    out[CH_VIDEO], out[CH_LIVE] = cp.short_video, cp.livestream
    out[CH_WOM], out[CH_ORGANIC] = cp.word_of_mouth, cp.organic
    return out


def build(m: ViralChainModel) -> None:
    """Build the world of ``m`` (a model under construction) from ``m.config``, with
    numpy's requests for huge pages off (:func:`small_pages`); a large world's independent
    pieces (the KOLs' samples and the social graph) on two threads (:class:`Pieces`), every
    one of them finished when the audience's block ends, before anything reads them (the
    recorder, the event plan, the initial stock)."""
    threads = allowed_threads(BUILD_THREADS) if m.market_size >= THREADS_FROM else 1
    with small_pages():
        _market(m)
        with Pieces(threads) as pieces:
            _audience(m, pieces)
        _books(m)


BUILD_THREADS = CORES  # the cores this process may use, at most two
THREADS_FROM = 1 << 21  # consumers from which the build uses BUILD_THREADS threads
# (at most OMP_NUM_THREADS: see sim.social_graph.allowed_threads)


class Pieces:
    """The build's pieces that draw from their own streams only, run beside each other.

    numpy's bulk draws, casts, sorts and most large ufuncs release the GIL, so two pieces
    whose streams and inputs are distinct run on two cores; each stream still draws the
    same values in the same order, whatever the threads. ``beside(target, attr, piece)``
    runs ``piece()`` on the second thread (in the order given) and ``later(...)`` keeps it
    for the main thread's next :meth:`run_later`; each result is set as ``target.attr``
    when the end of the ``with`` block has waited for it: nothing inside the block may read
    a piece's attribute (:func:`build` ends the block as soon as the audience is made), and
    a piece given after the block is refused. With one thread both run the piece at once,
    in the main thread: the order of a build without threads. An error in a piece is raised
    at the end of the block as it was raised (the main thread's own first); no thread
    outlives the block, which waits for a piece still running even on an error or a
    Ctrl-C (numpy's work cannot be cut short: ≈ 8 s for the graph at 100M consumers)."""

    def __init__(self, threads: int):
        self._pool = ThreadPoolExecutor(1, "viralchain-build") if threads > 1 else None
        self._beside: list[tuple[object, str, Future]] = []
        self._later: list[tuple[object, str, Callable[[], object]]] = []
        self._closed = False

    def beside(self, target: object, attr: str, piece: Callable[[], object]) -> None:
        self._open()
        if self._pool is None:
            setattr(target, attr, piece())
        else:
            self._beside.append((target, attr, self._pool.submit(piece)))

    def later(self, target: object, attr: str, piece: Callable[[], object]) -> None:
        self._open()
        if self._pool is None:
            setattr(target, attr, piece())
        else:
            self._later.append((target, attr, piece))

    def _open(self) -> None:
        if self._closed:
            raise RuntimeError("a build piece given after its Pieces block closed")

    def run_later(self) -> None:
        """Run the pieces kept for the main thread, in the order given."""
        later, self._later = self._later, []
        for target, attr, piece in later:
            setattr(target, attr, piece())

    def __enter__(self) -> Pieces:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._closed = True
        if self._pool is None:
            return
        try:
            if kind is None:  # else the main thread's error is the one raised
                self.run_later()
                for target, attr, future in self._beside:
                    setattr(target, attr, future.result())  # raises the piece's error
        finally:  # waits for a piece still running (numpy's work cannot be cut short)
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """numpy's requests for transparent huge pages off inside the block, then as before.

    numpy asks the kernel for huge pages (``madvise``) for every array of 4 MiB or more;
    where the kernel then compacts memory to find them (``defrag = madvise``, the usual
    setting), a fresh array costs ≈ 1.5 ms of system time per MiB: at 100M consumers the
    build's columns and the KOLs' draws (≈ 6 GiB allocated in all) spent ≈ 10 s there, 1 s
    with ordinary pages; the run after the build reads them through ordinary pages, ≈ 1.8 s
    slower at 100M. Only where the arrays live changes, never a value. Builds may overlap
    in threads (the dashboard's): the first to begin turns the setting off, the last to end
    puts it back."""
    switch = getattr(np._core.multiarray, "_set_madvise_hugepage", None)
    if switch is None:  # a numpy without the setting: nothing to switch
        yield
        return
    global _small_depth, _pages_before
    with _pages_lock:
        if _small_depth == 0:
            _pages_before = switch(False)
        _small_depth += 1
    try:
        yield
    finally:
        with _pages_lock:
            _small_depth -= 1
            if _small_depth == 0:
                switch(_pages_before)


_pages_lock = threading.Lock()
_small_depth = 0  # builds inside small_pages() now
_pages_before = True  # numpy's setting when the first of them began


def _market(m: ViralChainModel) -> None:
    """The catalogue, the platforms, the accounts and the brands' networks."""
    config = m.config
    specs = config.brand_specs()
    m.geo = Geography(config.market)
    _catalogue(m, Catalogue.of(specs))
    _platforms(m, config)
    m.channel_conversion = channel_conversion(config)
    m.channel_patience = channel_patience(config)
    m.n_warehouses = sum(len(s.logistics.warehouses) for s in specs)
    m.ledger = Ledger(m.n_sku, len(specs), len(m.geo), m.sku_brand, len(m.platform_names))
    m.feedback = Feedback(config.market.feedback, m.n_sku)
    m.orders = OrderBook(capacity=max(1024, m.market_size // 20))
    _network(m, specs)


def _audience(m: ViralChainModel, pieces: Pieces) -> None:
    """The KOLs and the consumers: their samples and the graph given to ``pieces``."""
    config = m.config
    m.kols = [
        Kol(m, name, i, kcfg, pieces) for i, (name, kcfg) in enumerate(config.content.kols.items())
    ]
    m.kol_index = {k.name: k.index for k in m.kols}
    m.kol_trust = np.array([k.cfg.trust for k in m.kols] or [1.0])
    if config.market.population == "per_agent":
        from sim.agents.reference_consumers import ReferencePopulation

        m.population = ReferencePopulation(m, config.market)
    elif config.market.population == "per_agent_touched":
        from sim.agents.reference_consumers import TouchedReferencePopulation

        m.population = TouchedReferencePopulation(m, config.market)
    else:
        m.population = ConsumerPopulation(m, config.market, pieces)


def _books(m: ViralChainModel) -> None:
    """The recorder, the first sellable hours and the initial stock (the event plan reads
    the KOLs' samples: every piece is finished by now)."""
    m.recorder = Recorder(m)
    # first hour wishes count: the launch, or the presale start for a presale launch
    m.sellable_from = np.array(
        [m.brand_of_sku(s).presale.sellable_from(int(m.launch_hour[s])) for s in range(m.n_sku)],
        dtype=np.int64,
    )
    for brand in m.brands:
        brand.supply.place_initial_stock()


def _catalogue(m: ViralChainModel, cat: Catalogue) -> None:
    m.sku_names = cat.names
    m.sku_index = {n: i for i, n in enumerate(cat.names)}
    m.n_sku = len(cat.names)
    m.sku_brand = cat.brand
    m.price = cat.column("price")
    m.price_ratio = np.array([p.price / p.reference_price for p in cat.products])
    m.launch_hour = cat.column("launch_hour", np.int64)
    m.novelty_half_life_days = cat.column("novelty_half_life_days")
    m.salvage_fraction = cat.column("salvage_fraction")
    by_category = m.config.market.consumer.category_return_multiplier
    m.return_multiplier = np.array([by_category.get(p.category, 1.0) for p in cat.products])
    m.appeal = cat.column("appeal")
    m.product_unit_cost = cat.column("unit_cost")
    m._substitutes = cat.substitutes()


def _platforms(m: ViralChainModel, config: Config) -> None:
    """Platform names and priorities; each consumer buys on one platform (drawn here: KOL
    followers are drawn from it)."""
    platforms = config.market.platforms
    m.platform_names = list(platforms) or ["all"]
    m.platform_priority = np.array(
        [platforms[p].priority if p in platforms else 0 for p in m.platform_names],
        dtype=np.int64,
    )
    share = np.array(
        [platforms[p].population_share if p in platforms else 1.0 for p in m.platform_names]
    )
    if len(share) == 1:  # everyone is on it: what the draw would give, without drawing
        m.consumer_platform = np.zeros(m.market_size, dtype=np.int16)
        return
    m.consumer_platform = (
        stream(m.seed, "population", "platform")
        .choice(len(share), size=m.market_size, p=share / share.sum())
        .astype(np.int16)
    )


def _network(m: ViralChainModel, specs: list[BrandSpec]) -> None:
    """Brands and their facilities; warehouses and factories are indexed across brands."""
    m.warehouses, m.factories, m.carriers, m.brands = [], [], [], []
    m.warehouse_index = {}
    for b, spec in enumerate(specs):
        whs = []
        for name, wcfg in spec.logistics.warehouses.items():
            w = Warehouse(m, _unique(m, name, b), b, len(m.warehouses), wcfg)
            m.warehouse_index[w.name] = w.gindex
            m.warehouses.append(w)
            whs.append(w)
        facs = []
        for name, fcfg in spec.supply.factories.items():
            f = Factory(m, _unique(m, name, b), b, len(m.factories), fcfg)
            m.factories.append(f)
            facs.append(f)
        brand_carriers = []
        for name, ccfg in spec.logistics.carriers.items():
            cr = Carrier(m, _unique(m, name, b), b, ccfg)
            m.carriers.append(cr)
            brand_carriers.append(cr)
        m.brands.append(Brand(m, b, spec, whs, facs, brand_carriers))


def _unique(m: ViralChainModel, name: str, brand: int) -> str:
    """Facility names are prefixed by their brand when the market has several brands."""
    if len(m.config.rivals) == 0:
        return name
    return f"{m.config.brand_specs()[brand].brand.name}.{name}"
