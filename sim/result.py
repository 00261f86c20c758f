"""One run from config to tables: :func:`run` and its :class:`RunResult`."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from sim import metrics
from sim.config import MAX_INT, Config, make_run_id, validate
from sim.errors import ConfigError
from sim.invariants import check_kpis
from sim.recording import events_frame, file_metadata, write_table

if TYPE_CHECKING:  # Mesa is imported when a run starts, not with the package
    from sim.model import ViralChainModel

log = logging.getLogger(__name__)

RUNS_ID_COLUMNS = [
    "run_id",
    "sweep_id",
    "story",
    "setup",
    "seed",
    "replication",
    "status",
    "error",
    "wall_seconds",
    "config_hash",
    "brand",
]
KPI_COLUMNS = list(metrics.KPIS)


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        kpis: KPI name → value for the main brand.
        kpis_by_brand: brand name → KPIs (the main brand first).
        platform_kpis_by_brand: brand name → per-platform KPIs (``fill_rate_<platform>``,
            ``sold_units_<platform>``, ``demand_units_<platform>``; empty unless the market
            names its platforms). They follow the KPIs in the ``runs`` table.
        timeseries: the ``timeseries`` table.
        events: the ``events`` table.
    """

    run_id: str
    config: Config
    seed: int
    kpis: dict[str, float]
    kpis_by_brand: dict[str, dict[str, float]]
    timeseries: pd.DataFrame
    events: pd.DataFrame
    wall_seconds: float
    model: ViralChainModel | None = field(default=None, repr=False)
    platform_kpis_by_brand: dict[str, dict[str, float]] = field(default_factory=dict)

    def runs_frame(
        self,
        sweep_id: str = "",
        params: dict[str, Any] | None = None,
        *,
        platform_columns: bool = True,
    ) -> pd.DataFrame:
        """The ``runs`` table rows of this run: one per brand, the main brand first.

        ``platform_columns``: add the per-platform KPIs after the KPIs (their names depend on
        the market's platforms, so a sweep adds those of the union of its platforms itself:
        :func:`experiments.sweep_store.write_run`).
        """
        rows = []
        for brand, k in self.kpis_by_brand.items():
            row = {
                "run_id": self.run_id,
                "sweep_id": sweep_id,
                "story": self.config.meta.story,
                "setup": self._setup_of(brand),
                "seed": self.seed,
                "replication": self.config.replication,
                "status": "ok",
                "error": "",
                "wall_seconds": self.wall_seconds,
                "config_hash": self.config.config_hash(),
                "brand": brand,
            }
            row.update(params or {})
            row.update(k)
            if platform_columns:
                row.update(self.platform_kpis_by_brand.get(brand, {}))
            rows.append(row)
        return pd.DataFrame(rows)

    def _setup_of(self, brand: str) -> str:
        for spec in self.config.brand_specs():
            if spec.brand.name == brand:
                return spec.setup
        return ""

    def write(self, directory: str | Path, sweep_id: str = "", params=None) -> dict[str, Path]:
        """Write ``runs``, ``timeseries`` and ``events`` parquet files into ``directory``."""
        directory = Path(directory)
        meta = file_metadata(self.config.to_json(), self.seed, {"run_id": self.run_id})
        return {
            "runs": write_table(
                self.runs_frame(sweep_id, params), directory / "runs.parquet", meta
            ),
            "timeseries": write_table(self.timeseries, directory / "timeseries.parquet", meta),
            "events": write_table(self.events, directory / "events.parquet", meta),
        }


def run(
    config: Config | dict,
    seed: int = 0,
    *,
    keep_model: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Simulate one run.

    Args:
        config: a :class:`~sim.config.Config` or a dict; validated here either way (a
            ``Config`` may have been changed by ``model_copy(update=...)``, which pydantic
            does not validate).
        seed: the run's seed, a whole number from 0 to 2**63 - 1; the same config and
            seed give identical outputs.
        keep_model: keep the finished Mesa model on the result (for inspection and tests).
        progress: called with the simulated hours done, once per simulated day.

    Returns:
        the run's KPIs and tables.

    Raises:
        ConfigError: the config or the seed is invalid (naming the field and what is allowed).
    """
    from sim.model import ViralChainModel  # Mesa loads with the first run

    seed = checked_seed(seed)
    cfg = validate(_as_data(config))
    t0 = time.perf_counter()
    model = ViralChainModel(cfg, seed)
    model.run(progress)
    run_id = make_run_id(cfg.config_hash(), seed)
    by_brand, by_platform = {}, {}
    for b, brand in enumerate(model.brands):
        by_platform[brand.name] = metrics.platform_kpis(model, b)
        totals = metrics.brand_totals(model, b)
        k = metrics.compute(totals)
        check_kpis(k)
        for name, why in metrics.bullwhip_notes(totals).items():
            model.log(
                hour=model.horizon_hours,
                kind="kpi_undefined",
                actor=brand.name,
                sku="",
                quantity=0.0,
                value=0.0,
                detail=f"{name}: {why}",
            )
        by_brand[brand.name] = k
    wall = time.perf_counter() - t0
    result = RunResult(
        run_id=run_id,
        config=cfg,
        seed=int(seed),
        kpis=by_brand[model.brands[0].name],
        kpis_by_brand=by_brand,
        timeseries=model.recorder.timeseries(run_id),
        events=events_frame(model.events, run_id),
        wall_seconds=wall,
        model=model if keep_model else None,
        platform_kpis_by_brand=by_platform,
    )
    log.info("run %s done in %.2fs", run_id, wall)
    return result


def checked_seed(seed: object) -> int:
    """``seed`` as an int if it is a whole number from 0 to 2**63 - 1.

    Raises:
        ConfigError: naming ``seed``, the bad value and what is allowed.
    """
    import numpy as np

    whole = isinstance(seed, int | np.integer) and not isinstance(seed, bool | np.bool_)
    if whole and 0 <= int(seed) <= MAX_INT:
        return int(seed)
    raise ConfigError([("seed", seed, f"must be a whole number from 0 to {MAX_INT}")])


def _as_data(config: object) -> object:
    """A Config's fields (every attribute, unknown ones included) as plain data, to validate
    them again: ``model_copy(update=...)`` skips validation. Anything else unchanged."""
    if isinstance(config, BaseModel):
        return {k: _as_data(v) for k, v in config.__dict__.items()}
    if isinstance(config, dict):
        return {k: _as_data(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [_as_data(v) for v in config]
    return config


def failed_runs_row(
    config: Config,
    seed: int,
    error: str,
    wall_seconds: float,
    sweep_id: str = "",
    params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """A ``runs`` row for a run that raised: status ``failed``, KPIs NaN."""
    row = {
        "run_id": make_run_id(config.config_hash(), seed),
        "sweep_id": sweep_id,
        "story": config.meta.story,
        "setup": config.meta.setup,
        "seed": int(seed),
        "replication": config.replication,
        "status": "failed",
        "error": error,
        "wall_seconds": wall_seconds,
        "config_hash": config.config_hash(),
        "brand": config.brand.name,
    }
    row.update(params or {})
    row.update({k: math.nan for k in KPI_COLUMNS})
    return pd.DataFrame([row])
