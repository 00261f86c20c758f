"""``hydra/sweeper=viralchain``: Hydra's basic grid, with resume, validation and progress.

The primary config (``scenarios/config.yaml``) selects this sweeper, so every
``viralchain run -m`` / ``viralchain sweep NAME`` / ``viralchain resume DIR`` (and any
``@hydra.main`` app on viralchain's configs run with ``-m``) expands its overrides exactly as
Hydra's basic sweeper does (``key=a,b``, ``range``, ``glob``, ``hydra.sweeper.params``), then
(:func:`experiments.sweep.sweep_with`): composes and validates every job before anything is
written (exit 2), skips runs that are finished (verified file by file), holds the sweep
directory's lock, launches the rest through the configured launcher (joblib, submitit, Ray)
with replications batched per launcher job, shows a progress line, and retries the runs of a
worker that died. Another sweeper (``hydra/sweeper=basic`` or ``optuna``) works too: the task
(:func:`experiments.sweep_task.run_job`) writes the same dataset under any of them.

Its launcher gets a config loader that makes each launcher job's config from the plan's
compositions instead of composing it again where the job runs (:class:`ReusingConfigLoader`).

Its settings (``hydra.sweeper.*``) are ``scenarios/hydra/sweeper/viralchain.yaml``. Everything
here uses Hydra's plugin interfaces only: :class:`hydra.plugins.sweeper.Sweeper`,
:class:`hydra.plugins.search_path_plugin.SearchPathPlugin`,
``Plugins.instantiate_launcher`` (what every sweeper plugin calls) with a
:class:`hydra.core.config_loader.ConfigLoader` in its ``HydraContext``; the loader's
:func:`experiments.sweep_plan.job_config` also reads Hydra's config repository (as the plan
does) and names the job's directory with Hydra's own ``get_overrides_dirname``.

Hydra discovers the plugins by scanning ``hydra_plugins`` (an installed wheel); :func:`register`
also registers them by hand (Hydra's ``Plugins.register``), which an editable install needs:
its import hook hides the folder from that scan.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.config_loader import ConfigLoader
from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig

# the client's config directory (``viralchain --config-dir DIR``), searched before scenarios/
CONFIG_DIR_ENV = "VIRALCHAIN_CONFIG_DIR"


class ViralchainSweeper(Sweeper):
    """The sweeper; the loop itself is :func:`experiments.sweep.sweep_with`.

    Args:
        params: the grid of a sweep file (``key: a,b``), merged with the command line as the
            basic sweeper merges them.
        max_batch_size: launch at most this many launcher jobs at a time (None: all).
        runs_per_job: runs that differ only in their replication share a launcher job of at
            most this many runs (None: about two jobs per joblib worker; 10 on a cluster
            launcher, so that a SLURM array task holds minutes of work, not seconds).
        dry_run: plan only (compose and validate every job), launch nothing.
    """

    def __init__(
        self,
        params: dict[str, str] | None = None,
        max_batch_size: int | None = None,
        runs_per_job: int | None = None,
        dry_run: bool = False,
    ) -> None:
        self.params = dict(params or {})
        self.max_batch_size = max_batch_size
        self.runs_per_job = runs_per_job
        self.dry_run = dry_run
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Any = None
        self.job_loader: ReusingConfigLoader | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep the context and instantiate the configured launcher (as every sweeper does),
        handing it a config loader that reuses the plan's compositions
        (:class:`ReusingConfigLoader`)."""
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.job_loader = ReusingConfigLoader(hydra_context.config_loader)
        jobs_context = HydraContext(
            config_loader=self.job_loader, callbacks=hydra_context.callbacks
        )
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=jobs_context, task_function=task_function, config=config
        )

    @property
    def config_loader(self) -> Any:
        """Hydra's config loader (the public ``ConfigLoader`` interface)."""
        assert self.hydra_context is not None
        return self.hydra_context.config_loader

    def sweep(self, arguments: list[str]) -> Any:
        """Plan, skip the finished runs, launch the rest (see the module docstring)."""
        from experiments.sweep import sweep_with

        return sweep_with(self, list(arguments))


class ReusingConfigLoader(ConfigLoader):
    """Hydra's config loader for a sweep's launcher jobs, reusing the plan's compositions.

    Hydra's launchers compose each job's config where the job runs (a joblib worker, a
    SLURM task) with ``config_loader.load_sweep_config(master, job overrides)``: a full
    composition (≈ 0.13 s, half a short run), serial before each job's first run. The plan
    has already composed every config group combination of the sweep with the same call
    (:attr:`experiments.sweep_plan.Plan.bases`). This loader is the one the sweeper hands
    its launcher (Hydra's ``HydraContext``, pickled with every job): once told the plan's
    compositions (:meth:`reuse`), it makes a job's config from a copy of the composition of
    its group overrides exactly as Hydra finishes one
    (:func:`experiments.sweep_plan.job_config`); whatever it cannot make (another master
    config, groups the plan did not compose, a ``~key`` override, an override Hydra would
    refuse) and every other call go to Hydra's own loader, which it wraps. The compositions
    are kept pickled (bytes: joblib pickles the loader with every job, and a job's copy is
    one ``pickle.loads``, cheaper than pickling and copying live configs); they travel with
    the jobs only for a sweep of at most :data:`experiments.sweep_plan.MAX_SHIPPED_BASES`
    group combinations; beyond that every job is composed by Hydra, as before.
    """

    def __init__(self, inner: ConfigLoader) -> None:
        self.inner = inner
        self.bases: dict[tuple[str, ...], bytes] = {}  # pickled compositions
        self.master_key: tuple[Any, ...] | None = None
        self.reused = 0  # jobs served from a composition (in this process)

    def reuse(self, master: DictConfig, bases: dict[tuple[str, ...], DictConfig]) -> None:
        """Make the jobs of ``master`` from ``bases`` (nothing when there are more than
        :data:`experiments.sweep_plan.MAX_SHIPPED_BASES`), each kept pickled."""
        import pickle

        from experiments.sweep_plan import MAX_SHIPPED_BASES, master_key

        shipped = 0 < len(bases) <= MAX_SHIPPED_BASES
        try:
            self.bases = {k: pickle.dumps(v) for k, v in bases.items()} if shipped else {}
        except pickle.PicklingError:
            # a plugin scan in this process imported Hydra's config classes again (pickle
            # refuses the older ones the compositions hold): Hydra composes every job
            self.bases, shipped = {}, False
        self.master_key = master_key(master) if shipped else None

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> Any:
        """The job's config as Hydra's ``load_sweep_config`` composes it."""
        from experiments.sweep_plan import job_config, master_key

        if self.bases and master_key(master_config) == self.master_key:
            cfg = job_config(self.inner, self.bases, master_config, list(sweep_overrides))
            if cfg is not None:
                self.reused += 1
                return cfg
        return self.inner.load_sweep_config(master_config, list(sweep_overrides))

    def load_configuration(
        self,
        config_name: str | None,
        overrides: list[str],
        run_mode: RunMode,
        from_shell: bool = True,
        validate_sweep_overrides: bool = True,
    ) -> DictConfig:
        """Hydra's."""
        return self.inner.load_configuration(
            config_name, overrides, run_mode, from_shell, validate_sweep_overrides
        )

    def get_search_path(self) -> ConfigSearchPath:
        """Hydra's."""
        return self.inner.get_search_path()

    def get_sources(self) -> list[ConfigSource]:
        """Hydra's."""
        return self.inner.get_sources()

    def list_groups(self, parent_name: str) -> list[str]:
        """Hydra's."""
        return self.inner.list_groups(parent_name)

    def get_group_options(
        self,
        group_name: str,
        results_filter: ObjectType | None = ObjectType.CONFIG,
        config_name: str | None = None,
        overrides: list[str] | None = None,
    ) -> list[str]:
        """Hydra's."""
        return self.inner.get_group_options(group_name, results_filter, config_name, overrides)

    def compute_defaults_list(
        self, config_name: str | None, overrides: list[str], run_mode: RunMode
    ) -> Any:
        """Hydra's."""
        return self.inner.compute_defaults_list(config_name, overrides, run_mode)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by a function of a module Hydra's plugin scan does not import again
        (the scan re-imports this one: its classes are then other objects)."""
        from experiments.sweep_plan import reusing_loader

        return (reusing_loader, (self.inner, self.bases, self.master_key))

    def __getattr__(self, name: str) -> Any:  # the loader's other attributes (repository)
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class ViralchainSearchPath(SearchPathPlugin):
    """Search the client's config directory (``--config-dir``) before the shipped scenarios,
    as the single-run composition does (Hydra's own ``--config-dir`` searches it after)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        """Prepend ``$VIRALCHAIN_CONFIG_DIR`` when it is set."""
        extra = os.environ.get(CONFIG_DIR_ENV)
        if extra:
            search_path.prepend(
                provider="viralchain-config-dir", path=f"file://{Path(extra).resolve()}"
            )


def register() -> None:
    """Register the plugins with Hydra by hand (idempotent)."""
    from hydra.core.plugins import Plugins

    for plugin in (ViralchainSweeper, ViralchainSearchPath):
        Plugins.instance().register(plugin)
