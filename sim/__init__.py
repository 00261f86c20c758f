"""viralchain: supply chains facing social-media demand, as an agent-based model (Mesa 3).

Public API::

    import sim
    cfg = sim.compose("head_kol_livestream", ["setup=flexible", "market.n_consumers=20000"])
    result = sim.run(cfg, seed=1)
    result.kpis["fill_rate"], result.timeseries, result.events
    result.write("outputs/my_run")
    print(sim.timeline(cfg).render())   # every hour's phases and every registered schedule

The library never imports Hydra: :func:`compose` delegates to ``experiments.compose``,
which composes the YAML files under ``scenarios/`` and validates the result once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.numpy_dispatch import pin as _pin_numpy_dispatch

_pin_numpy_dispatch()  # first: numpy's loops the same on every x86-64 machine (see the module)

from sim.lazy_imports import defer_unused_mesa_parts  # noqa: E402

defer_unused_mesa_parts()  # before anything imports Mesa: no scipy or networkx for a run

from sim.config import Config, validate  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from sim.timeline import Timeline, timeline  # noqa: E402

# ``sim.run`` and ``sim.RunResult`` live in :mod:`sim.result`, which imports pandas and
# pyarrow (a run's tables): imported on first use (:func:`__getattr__`), so that code that
# needs only the config (``import sim.config``: a sweep's launching process, which plans
# and validates but runs nothing when workers run the jobs) does not load them
_FROM_RESULT = ("RunResult", "run")

if TYPE_CHECKING:  # what a type checker (and an IDE) sees of them: the real names
    from sim.result import RunResult, run

__all__ = [
    "Config",
    "ConfigError",
    "RunResult",
    "Timeline",
    "compose",
    "run",
    "timeline",
    "validate",
]
__version__ = "0.1.0"


def compose(story: str | None = None, overrides: Sequence[str] = ()) -> Config:
    """Compose a validated config from ``scenarios/`` (a story and ``key=value`` overrides).

    A composition is remembered on disk and reused while nothing it read has changed
    (``experiments.compose.ComposeCache``; ``VIRALCHAIN_COMPOSE_CACHE=off`` switches it off).

    Raises:
        ConfigError: naming each bad field, its value and what is allowed.
    """
    from experiments.compose import compose as _compose  # Hydra lives outside sim/

    return _compose(story, list(overrides))


def __getattr__(name: str) -> Any:
    """``sim.run`` and ``sim.RunResult``, from :mod:`sim.result` on first use."""
    if name in _FROM_RESULT:
        from sim import result

        value = getattr(result, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_RESULT})
