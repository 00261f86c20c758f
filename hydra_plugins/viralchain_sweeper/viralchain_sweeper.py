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

Its settings (``hydra.sweeper.*``) are ``scenarios/hydra/sweeper/viralchain.yaml``. Everything
here uses Hydra's plugin interfaces only: :class:`hydra.plugins.sweeper.Sweeper`,
:class:`hydra.plugins.search_path_plugin.SearchPathPlugin` and
``Plugins.instantiate_launcher`` (what every sweeper plugin calls). Hydra discovers them by
scanning ``hydra_plugins`` (an installed wheel); :func:`register` also registers them by hand
(Hydra's ``Plugins.register``), which an editable install needs: its import hook hides the
folder from that scan.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
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

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep the context and instantiate the configured launcher (as every sweeper does)."""
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
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
