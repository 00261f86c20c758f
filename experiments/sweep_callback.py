"""A sweep directory for Hydra's other sweepers (``hydra/sweeper=optuna``, ``basic``).

viralchain's own sweeper prepares its directory itself (:func:`experiments.sweep.sweep_with`).
Under another sweeper the task still writes each run's files into the sweep directory
(:mod:`experiments.sweep_task`); this Hydra callback (``hydra.callbacks`` in the primary
config: Hydra's public callback interface) gets the directory ready before the sweeper starts:
the same checks (a foreign or damaged directory is refused), its ``sweep.json`` (the swept
keys become ``runs`` columns) and its lock (one launch at a time).
"""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepDirectory(Callback):
    """``on_multirun_start``: prepare the sweep directory unless viralchain's sweeper runs."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Check, create and lock the directory; record the launch in ``sweep.json``."""
        from experiments.sweep import OUR_SWEEPER, prepare_other

        if str(config.hydra.sweeper.get("_target_", "")) != OUR_SWEEPER:
            prepare_other(config)
