"""The consumers' per-hour tables: what the population's hour and its wish decision read
again and again, worked out once for a span of hours or for the run.

What lives here: :class:`HourTables`, the population's methods that keep them (the products
on sale, :class:`_OnSale`; every product's novelty for :data:`_NOVELTY_HOURS` hours; the
repeat boost and fatigue of every exposure count up to :data:`_MAX_SEEN`; the exposure counts
and states as flat views). The population (:mod:`sim.agents.consumers`) holds the columns and
the caches, set in its ``__init__``; the wish decision (:mod:`sim.agents.wishes`) reads the
tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sim.clock import HOURS_PER_DAY
from sim.rng import hour_outputs

if TYPE_CHECKING:
    from sim.config import MarketConfig
    from sim.model import ViralChainModel

_NOVELTY_HOURS = 64  # hours of the products' novelty worked out at once
# the hours whose streams' first 64-bit outputs are worked out at once, at most (bounds a
# long run's tables; sim.rng.hour_outputs)
_OUTPUT_HOURS = 1024
_MAX_SEEN = 10_000  # exposure counts saturate here
# the exposure counts below this read the count's factors from Python copies (_seen_heads)
_HEAD = 64
# the settings read, the boost's and fatigue's tables, and their heads as Python floats
_SeenTables = tuple[
    tuple[float, float, float],
    np.ndarray,
    np.ndarray | None,
    tuple[list[float], list[float] | None],
]


class HourTables:
    """The population's per-hour tables (a base of
    :class:`~sim.agents.consumers.ConsumerPopulation`, whose ``__init__`` sets the caches)."""

    model: ViralChainModel
    cfg: MarketConfig
    exposure_count: np.ndarray
    state: np.ndarray
    _sale_span: _OnSale | None
    _novelty_table: tuple[int, np.ndarray, list[list[float]]] | None
    # the settings, the boost's and fatigue's tables and their heads (see _seen_factors)
    _seen_tables: _SeenTables | None
    _flat_views: tuple[np.ndarray, np.ndarray] | None
    # per stream name and width: the first hour of its table of first outputs and its rows
    _output_tables: dict[tuple[str, int], tuple[int, list[list[int]]]] | None = None

    def _hour_outputs(self, name: str, hour: int, width: int) -> list[int] | None:
        """The first ``width`` 64-bit outputs of the hour's stream ``stream(seed, name,
        hour)``, from a table of up to :data:`_OUTPUT_HOURS` hours of the run made at once
        (:func:`sim.rng.hour_outputs`; None: an hour outside the run)."""
        tables = self._output_tables
        if tables is None:
            tables = self._output_tables = {}
        table = tables.get((name, width))
        if table is None or not 0 <= hour - table[0] < len(table[1]):
            m = self.model
            if not 0 <= hour < m.horizon_hours:
                return None
            start = hour - hour % _OUTPUT_HOURS
            count = min(_OUTPUT_HOURS, m.horizon_hours - start)
            rows = hour_outputs(m.seed, name, start, count, width).tolist()
            table = tables[name, width] = (start, rows)
        return table[1][hour - table[0]]

    def _flat_books(self) -> tuple[np.ndarray, np.ndarray]:
        """The exposure counts and states as flat views (index ``consumer·P + product``),
        made again unless they are still views of the arrays the population holds."""
        views = self._flat_views
        if (
            views is None
            or views[0].base is not self.exposure_count
            or views[1].base is not self.state
        ):
            views = (self.exposure_count.reshape(-1), self.state.reshape(-1))
            self._flat_views = views
        return views

    def _novelty(self, sku: int, hour: int) -> float:
        """The novelty of product ``sku`` at ``hour`` (:meth:`_novelty_row`), as a float
        (from the table's Python copy)."""
        table = self._novelty_table
        if table is None or not 0 <= hour - table[0] < _NOVELTY_HOURS:
            self._novelty_row(hour)
            table = self._novelty_table
        return table[2][hour - table[0]][sku]

    def _novelty_row(self, hour: int) -> np.ndarray:
        """Every product's novelty at ``hour``, ``0.5 ** (age_days / half_life)`` as the
        numpy way works it out for the hour (``np.maximum``, ``/``, ``np.power``), from a
        table of :data:`_NOVELTY_HOURS` hours made at once (the same operations, element by
        element; the launch hours and half-lives are fixed once the world is built)."""
        start = hour - hour % _NOVELTY_HOURS
        table = self._novelty_table
        if table is None or table[0] != start:
            m = self.model
            hours = np.arange(start, start + _NOVELTY_HOURS, dtype=np.int64)[:, None]
            age_days = np.maximum(0, hours - m.launch_hour[None, :]) / HOURS_PER_DAY
            novelty = np.power(0.5, age_days / m.novelty_half_life_days[None, :])
            table = self._novelty_table = (start, novelty, novelty.tolist())
        return table[1][hour - start]

    def _seen_factors(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Per exposure count ``0 .. 10,000``: the repeat boost ``1 + boost·(seen - 1)``
        and the fatigue ``exp(-fatigue·max(0, seen - onset))`` (None without fatigue),
        computed once for the consumers' settings with the numpy way's operations on every
        count (element by element: gathering them gives what the hour's arrays gave); with
        them their heads (:meth:`_seen_heads`)."""
        c = self.cfg.consumer
        key = (c.repeat_exposure_boost, c.exposure_fatigue, c.fatigue_onset_exposures)
        tables = self._seen_tables
        if tables is None or tables[0] != key:
            seen = np.arange(_MAX_SEEN + 1, dtype=np.float64)
            boost = 1.0 + c.repeat_exposure_boost * (seen - 1.0)
            fatigue = None
            if c.exposure_fatigue > 0:
                tired = np.maximum(0.0, seen - c.fatigue_onset_exposures)
                fatigue = np.exp(-c.exposure_fatigue * tired)
            heads = (
                boost[:_HEAD].tolist(),
                None if fatigue is None else fatigue[:_HEAD].tolist(),
            )
            tables = self._seen_tables = (key, boost, fatigue, heads)
        return tables[1], tables[2]

    def _seen_heads(self) -> tuple[list[float], list[float] | None]:
        """The first :data:`_HEAD` entries of the repeat boost's and the fatigue's tables of
        the last :meth:`_seen_factors` (call it first; None without fatigue) as Python
        floats (the same numbers), made with the tables."""
        tables = self._seen_tables
        assert tables is not None, "_seen_factors first"
        return tables[3]

    def _on_sale(self, hour: int) -> _OnSale:
        """The products on sale at ``hour`` (``np.flatnonzero(sellable_from <= hour)``),
        worked out again only when ``hour`` leaves the span of hours it holds for (the
        model's ``sellable_from`` is fixed once the world is built)."""
        span = self._sale_span
        if span is None or not span.first <= hour < span.until:
            sellable = self.model.sellable_from
            ids = np.flatnonzero(sellable <= hour)
            earlier, later = sellable[sellable <= hour], sellable[sellable > hour]
            span = _OnSale(
                ids,
                ids.astype(np.int32),
                len(ids) == len(sellable),
                int(earlier.max()) if len(earlier) else -(1 << 62),
                int(later.min()) if len(later) else 1 << 62,
            )
            self._sale_span = span
        return span


class _OnSale(NamedTuple):
    """The products on sale (``ids``, as int64 and int32), whether that is every product,
    and the span of hours ``first <= hour < until`` for which this holds."""

    ids: np.ndarray
    ids32: np.ndarray
    every: bool
    first: int
    until: int
