"""Time per phase of a run, by actor, without touching the model's code.

:func:`instrument` wraps, once per process, every method defined on the classes of each actor
family and on their bases in ``sim`` (such as the brand's selling and supply mixins) with a
timer that charges the elapsed time to that family: KOLs and posts are *content*, the
consumer populations *consumers*, then brands, factories, warehouses, carriers, and the
recorder is *recording*; the model's working-capital bookkeeping is charged to *brands*. Calls
nest: a brand's ``take_orders`` called from the consumers' ``decide`` is
charged to *brands*, and the consumers get the rest. Event callbacks (carriers' cut-offs,
brands' reviews, KOLs' posts) are charged to their actor too, which a timer around the
phases of ``step()`` could not do.

What runs outside the actors' methods is split into named parts (:data:`GLUE`): *build* (the
model's constructor: the world, the population and its graph, the timeline, less the actors'
own methods it calls), *graph look-ups* (the hour's batch of the posts' sharers' look-ups,
``sim.content.PendingShares.resolve``, and the posts' mutual excitation, ``cross_excite``:
content work that runs from the model's step; the shares each post adds to the batch,
``PendingShares.add``, run inside the KOLs' broadcasts and stay *content*'s), *step glue*
(``ViralChainModel.step``'s own work between the actors' calls, the hour's reset of the books
included), *event loop* (Mesa's loop and the model's ``_advance_time``: events made, pushed,
popped and run, less their callbacks' own phases) and *KPIs* (the KPIs and the events table
after the hours; the timeseries table is the recorder's). Whatever is left (the config's
validation, the run's id) is *other*.

The per-agent reference's individual consumers (``ReferenceConsumer``) are deliberately not
wrapped: a timer per agent-step would distort what it measures; their time is charged to
*consumers* through the population's own methods.

Cost: one wrapper call per method call (well under a microsecond), about 1–3% of a run; the
benchmark reports wall times from unprofiled runs and phase splits from profiled ones. The
wrapping is permanent for the process (Mesa holds event callbacks through weak references to
the functions, so wrappers must outlive every model): use it in a dedicated process.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

PHASES = (
    "content",
    "consumers",
    "brands",
    "factories",
    "warehouses",
    "carriers",
    "recording",
    "build",
    "graph look-ups",
    "step glue",
    "event loop",
    "KPIs",
    "other",
)
# the parts of what used to be one "other" phase (see the module's docstring)
GLUE = ("build", "graph look-ups", "step glue", "event loop", "KPIs")


class PhaseProfiler:
    """Accumulates seconds per phase; the innermost wrapped call owns the clock."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        # the clock read at every charge: wall time unless told (time.thread_time: CPU)
        self.clock = clock or time.perf_counter
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._stack: list[str] = []
        self._phase = "other"
        self._t = self.clock()

    def enter(self, phase: str) -> None:
        """Start charging ``phase`` (the caller's phase is paused)."""
        now = self.clock()
        self.seconds[self._phase] += now - self._t
        self._stack.append(self._phase)
        self._phase, self._t = phase, now

    def exit(self) -> None:
        """Stop charging the current phase; resume the caller's."""
        now = self.clock()
        self.seconds[self._phase] += now - self._t
        self._phase, self._t = self._stack.pop(), now

    def reset(self) -> None:
        """Forget the time so far (e.g. at the start of a measured window)."""
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._t = self.clock()

    def snapshot(self) -> dict[str, float]:
        """Seconds per phase up to now."""
        now = self.clock()
        self.seconds[self._phase] += now - self._t
        self._t = now
        return dict(self.seconds)


PROFILER = PhaseProfiler()
_KEEP: list[Callable[..., Any]] = []  # wrappers live as long as the process
_DONE = False


def _families() -> dict[str, list[type]]:
    from sim.agents.brand import Brand
    from sim.agents.brand_network import BrandNetwork
    from sim.agents.brand_selling import Selling
    from sim.agents.brand_sensing import Sensing
    from sim.agents.brand_supply import Supply
    from sim.agents.carrier import Carrier
    from sim.agents.consumers import ConsumerPopulation
    from sim.agents.factory import Factory
    from sim.agents.kol import Kol
    from sim.agents.reference_consumers import ReferencePopulation
    from sim.agents.warehouse import Warehouse
    from sim.content import Post
    from sim.recording import Recorder

    return {
        "content": [Kol, Post],
        "consumers": [ConsumerPopulation, ReferencePopulation],
        "brands": [Brand, BrandNetwork, Sensing, Selling, Supply],
        "factories": [Factory],
        "warehouses": [Warehouse],
        "carriers": [Carrier],
        "recording": [Recorder],
    }


def _glue() -> list[tuple[Any, str, str]]:
    """The model's parts outside the actors' methods, as (owner, attribute, phase): classes'
    methods and module functions (patched where the caller looks them up)."""
    import sim.metrics
    import sim.model
    import sim.result
    from sim.content import PendingShares
    from sim.model import ViralChainModel

    out: list[tuple[Any, str, str]] = [
        (ViralChainModel, "__init__", "build"),
        (ViralChainModel, "step", "step glue"),
        (ViralChainModel, "_advance_time", "event loop"),
        (sim.model, "cross_excite", "graph look-ups"),
        (sim.result, "events_frame", "KPIs"),
        (sim.result, "check_kpis", "KPIs"),
    ]
    # only the batch's look-ups: ``PendingShares.add`` runs inside the KOLs' broadcasts
    # (``Post.sample_exposures``) and stays *content*'s, as before this split
    out.append((PendingShares, "resolve", "graph look-ups"))
    out += [
        (sim.metrics, name, "KPIs")
        for name, attr in vars(sim.metrics).items()
        if inspect.isfunction(attr) and attr.__module__ == "sim.metrics"
    ]
    return out


def _timed(fn: Callable[..., Any], phase: str, prof: PhaseProfiler) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if prof._phase == phase:  # nested call within the same phase: no bookkeeping
            return fn(*args, **kwargs)
        prof.enter(phase)
        try:
            return fn(*args, **kwargs)
        finally:
            prof.exit()

    return timed


def instrument() -> PhaseProfiler:
    """Wrap the actors' methods (once per process) and return the process's profiler.

    Call before building a model.
    """
    global _DONE
    if _DONE:
        return PROFILER
    from sim.model import ViralChainModel

    targets: list[tuple[type, str, str]] = []
    seen: set[tuple[type, str]] = set()
    for phase, classes in _families().items():
        for cls in classes:
            # the class and its own bases within sim
            for owner in cls.__mro__:
                if not owner.__module__.startswith("sim."):
                    continue
                for name, attr in vars(owner).items():
                    if name.startswith("__") or not inspect.isfunction(attr):
                        continue
                    if (owner, name) not in seen:
                        seen.add((owner, name))
                        targets.append((owner, name, phase))
    if hasattr(ViralChainModel, "_track_working_capital"):
        targets.append((ViralChainModel, "_track_working_capital", "brands"))
    targets += _glue()
    for cls, name, phase in targets:
        wrapped = _timed(getattr(cls, name), phase, PROFILER)
        _KEEP.append(wrapped)
        setattr(cls, name, wrapped)
    _DONE = True
    return PROFILER
