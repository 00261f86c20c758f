"""The model's agenda: its own events as plain tuples, run where Mesa's loop runs them.

``ViralChainModel.at`` / ``every`` give Mesa their events outside the loop (the timeline,
built with the model) and the loop takes them over (``_adopt``); inside the loop they go
straight onto the agenda. Each test runs the same thing under the model's loop and under
Mesa's own (``MesaLoop``, where every event stays Mesa's) and compares what ran, when.
"""

from __future__ import annotations

import mesa
import pytest

import sim
from sim.model import SimulationError, ViralChainModel

SMALL = ["market.n_consumers=2000", "run.horizon_hours=72"]


class MesaLoop(ViralChainModel):
    """The model driven by Mesa's own event loop: every event is Mesa's."""

    _advance_time = mesa.Model._advance_time


class Probe:
    """Callbacks that note when they ran (bound methods of a live object, as Mesa wants)."""

    def __init__(self, model, seen: list):
        self.model, self.seen = model, seen

    def note(self, name: str) -> None:
        self.seen.append((self.model.time, self.model.steps, name))

    def a(self) -> None:
        self.note("a")

    def b(self) -> None:
        self.note("b")

    def c(self) -> None:
        self.note("c")

    def tick(self) -> None:
        self.note("tick")

    def plan(self) -> None:
        """Inside the loop: a one-off, a Mesa event and a recurring one, made now."""
        self.note("plan")
        m = self.model
        m.at(int(m.time) + 2, self.a)
        m.schedule_event(self.b, at=m.time + 2)  # Mesa's own, between two of the model's
        m.at(int(m.time) + 2, self.c)
        m.every(5, int(m.time) + 1, self.tick)
        m.at(int(m.time), self.c)  # the current hour: right after this


def _run(cls, chunks, before=None):
    cfg = sim.compose(None, SMALL)
    m = cls(cfg, 4)
    seen: list = []
    probe = Probe(m, seen)
    step = m._user_step

    def stepping():
        seen.append((m.time, m.steps, "step"))
        step()

    m._user_step = stepping
    if before is not None:
        before(m, probe)
    states = []
    for n in chunks:
        m.run_for(n)
        due = [(e.time, e.priority) for e in m._event_list._events if not e._canceled]
        due += [(e[0], e[1]) for e in m._agenda]
        states.append((m.time, m.steps, m.hour, sorted(due), len(m.events)))
    return m, probe, seen, states


def _outside_then_inside(m, probe):
    m.at(3, probe.a)
    m.schedule_event(probe.b, at=3.0)
    m.at(3, probe.c)
    m.every(7, 2, probe.tick)
    m.at(6, probe.plan)


@pytest.mark.parametrize("chunks", [[72], [1, 1, 3, 2, 10, 55], [6, 6, 6, 54]])
def test_events_run_where_mesa_runs_them(chunks):
    fast, _, seen_fast, after_fast = _run(ViralChainModel, chunks, _outside_then_inside)
    slow, _, seen_slow, after_slow = _run(MesaLoop, chunks, _outside_then_inside)
    assert seen_fast == seen_slow
    assert after_fast == after_slow
    assert fast.events == slow.events
    names = [s[2] for s in seen_fast]
    assert names.count("tick") > 10 and names.count("plan") == 1
    # at hour 3: the model's event, Mesa's, the model's (the order they were made)
    assert [s[2] for s in seen_fast if s[0] == 3.0 and s[2] != "step"] == ["a", "b", "c"]


def test_events_made_between_chunks_are_taken_over_in_order():
    def between(m, probe):
        m.run_for(4)
        m.at(4, probe.a)  # due now (time 4), before the next step (time 5)
        m.at(9, probe.b)
        m.schedule_event(probe.c, at=9.0)

    _, _, seen_fast, after_fast = _run(ViralChainModel, [3, 30], between)
    _, _, seen_slow, after_slow = _run(MesaLoop, [3, 30], between)
    assert seen_fast == seen_slow and after_fast == after_slow
    assert [s[2] for s in seen_fast if s[2] != "step"][:3] == ["a", "b", "c"]


def test_the_timeline_is_mesas_until_the_loop_takes_it_over():
    m = ViralChainModel(sim.compose(None, SMALL), 1)
    made = sorted(
        (e.time, e.priority, e.unique_id) for e in m._event_list._events if not e._canceled
    )
    assert len(made) == 1 + len(m.timeline) and not m._agenda
    m.run_for(1)
    left = [e for e in m._event_list._events if not e._canceled]
    assert len(left) == 1  # the next step's event
    adopted = sorted((e[0], e[1], e[2]) for e in m._agenda)
    step_time = made[0]  # the first step's event, at time 1 (HIGH)
    assert step_time[0] == 1.0
    # every event made at build still due keeps its time, priority and number
    due = [x for x in made[1:] if x[0] >= 1.0]
    assert set(due) <= set(adopted)


def test_a_recurring_event_in_the_past_is_refused_as_mesa_refuses_it():
    cfg = sim.compose(None, SMALL)
    for cls in (ViralChainModel, MesaLoop):
        m = cls(cfg, 1)
        probe = Probe(m, [])
        m.run_for(12)
        errors = []

        def late(m=m, probe=probe, errors=errors):
            try:
                m.every(5, 2, probe.tick)  # from hour 2, asked at time 13: inside the loop
            except ValueError as e:
                errors.append(str(e))

        m._user_step = late
        m.run_for(1)
        assert errors and "past" in errors[0]


def test_a_failing_hour_leaves_the_loop_closed():
    cfg = sim.compose(None, [*SMALL, "run.fail_at_hour=5"])
    m = ViralChainModel(cfg, 1)
    with pytest.raises(SimulationError):
        m.run_for(10)
    assert not m._in_loop
    probe = Probe(m, [])
    m.at(20, probe.a)  # outside the loop: Mesa's, to be taken over
    assert m._to_adopt


def test_cancelled_and_stopped_mesa_events_are_not_taken_over():
    cfg = sim.compose(None, SMALL)
    m = ViralChainModel(cfg, 1)
    seen: list = []
    probe = Probe(m, seen)
    m.at(5, probe.a).cancel()
    m.every(3, 4, probe.tick).stop()
    m.at(6, probe.b)
    m.run_for(20)
    assert [s[2] for s in seen] == ["b"]
