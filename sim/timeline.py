"""The whole timeline of a run: the hourly phases plus everything the model schedules.

A run is :meth:`~sim.model.ViralChainModel.step` every hour (:data:`~sim.model.PHASES`, in
order) plus the events registered by
:meth:`~sim.model.ViralChainModel.schedule_timeline` (reviews, cut-offs, material reviews,
policy plans, disruptions, the content calendar); events due at the start of an hour run
before that hour's work, in the order registered. Other events are consequences of these
(arrivals, live-stream ends, responses to signals) and are not listed::

    import sim
    print(sim.timeline(sim.compose("head_kol_livestream")).render())
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sim.config import Config


@dataclass(frozen=True)
class Timeline:
    """The phases of every hour and the registered schedules of one run.

    Attributes:
        horizon_hours: the run's length.
        phases: ``(name, what happens)`` for the work of every hour, in order.
        entries: :class:`~sim.model.Scheduled` entries, in registration order.
    """

    horizon_hours: int
    phases: tuple[tuple[str, str], ...]
    entries: tuple

    def recurring(self) -> list:
        """The recurring schedules (reviews, cut-offs, …), in registration order."""
        return [e for e in self.entries if e.interval_hours is not None]

    def once(self) -> list:
        """The one-off planned events (posts, disruptions, policy plans)."""
        return [e for e in self.entries if e.interval_hours is None]

    def render(self) -> str:
        """The timeline as text: hourly phases, recurring schedules, planned events."""
        lines = [f"horizon: {self.horizon_hours} h (one step per hour)", ""]
        lines.append("every hour, in order:")
        lines += [f"  {i}. {name:<14} {what}" for i, (name, what) in enumerate(self.phases, 1)]
        lines += ["", "recurring (at the start of the hour, before its work):"]
        lines += [
            f"  from h{e.start_hour:<5} every {e.interval_hours:>4} h  {e.what:<28} {e.actor}"
            for e in self.recurring()
        ]
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in self.once():
            groups[(e.what, e.actor)].append(e.start_hour)
        lines += ["", "planned once (at the start of the hour):"]
        for (what, actor), hours in groups.items():
            shown = ", ".join(f"h{h}" for h in hours[:8]) + (" …" if len(hours) > 8 else "")
            lines.append(f"  {len(hours):>4} × {what:<34} {actor:<18} {shown}")
        return "\n".join(lines)


def timeline(config: Config, seed: int = 0) -> Timeline:
    """Build the world of ``config`` (nothing runs) and return its timeline."""
    from sim.model import PHASES, build_model

    model = build_model(config, seed)
    return Timeline(model.horizon_hours, PHASES, tuple(model.timeline))
