"""The quiet hours' short paths of the model's glue and supply side: each is held equal to
the long way (Mesa's own event loop, the books worked out every hour), on runs with events
(reviews, arrivals, live streams, presale, rush orders) and on the generator's state."""

from __future__ import annotations

import json

import mesa
import numpy as np
import pytest

import sim
from sim.model import ViralChainModel
from tests import golden
from tests.conftest import event_due, random_event_plan

RECORDED = json.loads(golden.DIGESTS.read_text())


class MesaLoop(ViralChainModel):
    """The model driven by Mesa's own event loop (the long way)."""

    _advance_time = mesa.Model._advance_time


def _trace(model_cls, cfg, chunks):
    """Run ``cfg`` in ``chunks`` of hours; what ran, when, and the state after each chunk."""
    m = model_cls(cfg, 5)
    ran: list[tuple[float, int, str]] = []
    step = m._user_step

    def traced_step():
        ran.append((m.time, m.steps, "step"))
        step()

    m._user_step = traced_step
    for ev in list(m._event_list._events):  # the timeline's callbacks, as Mesa holds them
        fn = ev.fn()
        if fn is not None and getattr(fn, "__self__", None) is not m._default_schedule:
            name = getattr(fn, "__qualname__", repr(fn))
            ev.fn = _Named(ran, m, name, fn)
    after = []
    for n in chunks:
        m.run_for(n)
        heap = sorted((e.time, e.priority) for e in m._event_list._events if not e._canceled)
        after.append((m.time, m.steps, m.hour, heap, len(m.events)))
    return m, ran, after


class _Named:
    """A strong stand-in for an event's weak reference that notes each call."""

    def __init__(self, ran, model, name, fn):
        self.ran, self.model, self.name, self.fn = ran, model, name, fn

    def __call__(self):
        return self._note

    def _note(self, *args, **kwargs):
        self.ran.append((self.model.time, self.model.steps, self.name))
        return self.fn(*args, **kwargs)


@pytest.mark.parametrize(
    "story,chunks",
    [
        ("head_kol_livestream", [1, 1, 5, 17, 24, 100, 3]),
        ("two_brands", [24] * 8),
        (None, [7, 48, 1, 200]),
    ],
)
def test_the_short_loop_runs_what_mesa_runs_in_its_order(story, chunks):
    cfg = sim.compose(story, ["market.n_consumers=3000", "run.horizon_hours=300"])
    ids = mesa.time.events.Event._ids
    first = next(ids)
    fast, ran_fast, after_fast = _trace(ViralChainModel, cfg, chunks)
    middle = next(ids)
    slow, ran_slow, after_slow = _trace(MesaLoop, cfg, chunks)
    # the short path was taken: most hours' step events were never made
    assert middle - first < (next(ids) - middle) / 2
    assert ran_fast == ran_slow
    assert after_fast == after_slow
    assert sum(1 for r in ran_fast if r[2] != "step") > 3  # events were interleaved
    assert fast.events == slow.events
    np.testing.assert_array_equal(fast.working_capital, slow.working_capital)
    for name, a in fast.ledger.money.items():
        assert a.tobytes() == slow.ledger.money[name].tobytes(), name
    assert fast.holdings.key() == slow.holdings.key()


def test_the_short_loop_steps_one_hour_at_a_time_through_model_step():
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=48"])
    fast, slow = ViralChainModel(cfg, 2), MesaLoop(cfg, 2)
    for _ in range(30):
        fast.step()
        slow.step()
        assert (fast.time, fast.steps, fast.hour) == (slow.time, slow.steps, slow.hour)
    assert fast.events == slow.events


@pytest.mark.parametrize("cls", [ViralChainModel, MesaLoop])
def test_events_scheduled_during_a_step_run_where_mesa_runs_them(cls):
    """During the step at time 3 (hour 2's work), one event is scheduled at time 3 (the
    start of hour 3: it runs right after this step) and one at time 4 (it runs after the
    step at time 4, which has the higher priority in Mesa)."""
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=48"])
    m = cls(cfg, 1)
    seen: list[tuple[float, str]] = []
    step = m._user_step

    class Probe:
        def fire(self):
            seen.append((m.time, "event"))

        def later(self):
            seen.append((m.time, "later"))

    probe = Probe()

    def stepping():
        seen.append((m.time, "step"))
        if m.steps == 3:
            m.at(3, probe.fire)
            m.at(4, probe.later)
        step()

    m._user_step = stepping
    m.run_for(6)
    assert seen[:7] == [
        (1.0, "step"),
        (2.0, "step"),
        (3.0, "step"),
        (3.0, "event"),
        (4.0, "step"),
        (4.0, "later"),
        (5.0, "step"),
    ]


@pytest.mark.parametrize("case", ["head_kol_livestream/flexible", "two_brands/rigid"])
def test_mesas_loop_gives_the_recorded_outputs(case, tmp_path, monkeypatch):
    monkeypatch.setattr(ViralChainModel, "_advance_time", mesa.Model._advance_time)
    story, setup = case.split("/")
    assert golden.digest_case(story, setup, tmp_path) == RECORDED[case]


def _record_long_way(rec, hour: int) -> None:
    """The recording of an hour as it was: the stocks copied under a mask of the whole row,
    the ledger's flows added through a fancy index of the row, the supply side's flows as
    a whole row of sums."""
    from sim.recording import _F

    m = rec.model
    row = rec.data[hour // rec.period]
    np.copyto(row, rec.stocks(), where=rec._stock_cells)
    if m.ledger.hour_flowed:
        fields = [_F[f] for f in m.ledger.HOURLY_REGION_FIELDS]
        row[:, : rec._w0, fields] += m.ledger.hour_block
    if m.hour_flows.any():
        row += rec._summed_flows()().reshape(row.shape)


@pytest.mark.parametrize(
    ("story", "extra"),
    [
        (None, ("setup=flexible",)),
        ("creative_presale", ("setup=flexible",)),
        ("two_brands", ("setup=rigid", "run.timeseries_resolution=day")),
    ],
)
def test_recorded_rows_equal_the_long_way(story, extra):
    cfg = sim.compose(story, ["market.n_consumers=2000", "run.horizon_hours=240", *extra])
    fast, slow = ViralChainModel(cfg, 4), ViralChainModel(cfg, 4)
    rec = slow.recorder
    slow.recorder.record = lambda hour: _record_long_way(rec, hour)
    fast.run()
    slow.run()
    assert fast.recorder.data.tobytes() == slow.recorder.data.tobytes()
    assert fast.recorder.data[..., [6, 7]].any() and fast.recorder.data[..., 0].any()


def _triggered_as_it_was(p, brand, sku, hour):
    """ThresholdRush.triggered before the description was made lazy."""
    scale = brand.model.scale
    rate = brand.sensing.demand_rate(sku, hour, p.window_hours)
    if p.signal == "sales_velocity":
        v = rate / scale
        return v >= p.threshold, f"demand {v:.0f}/h per 100k >= {p.threshold:g}"
    if p.signal == "views":
        v = brand.sensing.views_rate(sku, hour, p.window_hours) / scale
        return v >= p.threshold, f"views {v:.0f}/h per 100k >= {p.threshold:g}"
    if rate <= 0:
        return False, ""
    cover = brand.network.available_total(sku) / rate
    return cover < p.threshold, f"cover {cover:.1f} h < {p.threshold:g} h"


@pytest.mark.parametrize("signal", ["sales_velocity", "views", "projected_stockout_hours"])
def test_the_rush_signal_and_its_text_are_what_they_were(signal):
    from types import SimpleNamespace

    from sim.policies.rush import ThresholdRush

    rng = np.random.default_rng(7)
    for _ in range(300):
        rate, views, avail = (float(x) for x in rng.choice([0.0, 0.3, 2.0, 1e-9, 57.5], 3))
        brand = SimpleNamespace(
            model=SimpleNamespace(scale=float(rng.choice([0.02, 1.0, 3.0]))),
            sensing=SimpleNamespace(
                demand_rate=lambda s, h, w, r=rate: r, views_rate=lambda s, h, w, v=views: v
            ),
            network=SimpleNamespace(available_total=lambda s, a=avail: a),
        )
        params = SimpleNamespace(
            signal=signal, threshold=float(rng.choice([0.0, 1.0, 12.5])), window_hours=6
        )
        rush = ThresholdRush(params)
        want = _triggered_as_it_was(params, brand, 0, 10)
        assert rush.triggered(brand, 0, 10) == want
        fired, value = rush._signal(brand, 0, 10)
        assert (fired, rush._describe(value)) == want


class _WorkingCapitalAsItWas(ViralChainModel):
    """Working capital the way it was worked out: a call per factory, numpy scalars."""

    def __init__(self, *args, **kwargs):
        self.wc_by_hour: list[bytes] = []
        super().__init__(*args, **kwargs)

    def _track_working_capital(self) -> None:
        led = self.ledger
        self._stock_value = self._stock_at_cost()
        money = led.money
        paid, refunds, delivered = money["paid"], money["cancel_refunds"], money["delivered_value"]
        for b, brand in enumerate(self.brands):
            wip_value = 0.0
            for f in brand.factories:
                wip_value += f.unused_inputs_value()
            advances = paid[b] - refunds[b] - delivered[b]
            wc = self._stock_value[b] + wip_value - advances
            self.working_capital[b] = wc
            self.peak_working_capital[b] = max(self.peak_working_capital[b], wc)
        self.wc_by_hour.append(self.working_capital.tobytes())


class _WorkingCapitalNow(ViralChainModel):
    def __init__(self, *args, **kwargs):
        self.wc_by_hour: list[bytes] = []
        super().__init__(*args, **kwargs)

    def _track_working_capital(self) -> None:
        super()._track_working_capital()
        self.wc_by_hour.append(self.working_capital.tobytes())


@pytest.mark.parametrize(
    ("story", "extra"),
    [
        (None, ("setup=flexible",)),  # postponement modules, materials, rush
        ("creative_presale", ("setup=flexible",)),  # prepaid pre-orders
        ("two_brands", ("setup=rigid",)),
    ],
)
def test_working_capital_equals_the_way_it_was_every_hour(story, extra):
    cfg = sim.compose(story, ["market.n_consumers=2000", "run.horizon_hours=240", *extra])
    fast, slow = _WorkingCapitalNow(cfg, 2), _WorkingCapitalAsItWas(cfg, 2)
    fast.run()
    slow.run()
    assert fast.wc_by_hour == slow.wc_by_hour
    assert fast.peak_working_capital.tobytes() == slow.peak_working_capital.tobytes()
    assert len(set(fast.wc_by_hour)) > 5  # it moved


def test_unused_inputs_of_a_factory_are_what_they_were():
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 2)
    for _ in range(10):
        m.run_for(24)
        for f in m.factories:
            pp, mat = f.supply.postponement, f.supply.materials
            stock = (
                f.modules * pp.module_cost_share
                + (f.materials + f.materials_on_order) * mat.cost_share
            )
            want = f.input_unit_cost * stock + max(0.0, f.wip_input_value)
            assert f.unused_inputs_value() == want
    assert any(f.modules for f in m.factories) and any(f.materials for f in m.factories)


def test_standing_costs_are_added_hour_by_hour_as_accrue_hour_adds_them():
    from sim import standing_costs

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=100"])
    m = ViralChainModel(cfg, 1)
    m.run()
    twin = ViralChainModel(cfg, 1)
    for _ in range(100):
        standing_costs.accrue_hour(twin.brands[0])
    checked = 0
    for field, _ in standing_costs.hourly(m.brands[0]):
        if field == "reservation_cost":  # also gets the fees of capacity held
            continue
        assert m.ledger.money[field].tobytes() == twin.ledger.money[field].tobytes()
        checked += 1
    assert checked


@pytest.mark.parametrize("seed", range(20))
def test_the_policies_median_is_numpys_on_deviations_too(seed):
    """The forecast and the safety stock take medians of days and of absolute deviations
    from the median (halves and other fractions): the same floats as np.median."""
    from sim.policies.forecast import median

    rng = np.random.default_rng(seed)
    d = rng.integers(0, 50, int(rng.integers(2, 30))).astype(float)
    for values in (d, np.abs(d - float(np.median(d))), rng.random(7) * 1e3, d[:1]):
        got = median(values)
        assert type(got) is float and got == float(np.median(values))
    deviations = np.abs(d - median(d))
    assert median(deviations) == float(np.median(np.abs(d - np.median(d))))


def test_baseline_days_are_those_no_event_touched_as_event_by_event():
    from sim.policies.events import EventPlan, KnownEvent
    from sim.policies.forecast import Signals

    rng = np.random.default_rng(3)
    for _ in range(200):
        plan = EventPlan.__new__(EventPlan)
        plan.memory_hours = int(rng.choice([0, 24, 72])) + float(rng.choice([0.0, 0.5]))
        n_ev = int(rng.integers(0, 6))
        plan.events = [
            KnownEvent(int(rng.integers(0, 400)), int(rng.integers(0, 2)), 1.0, 0)
            for _ in range(n_ev)
        ]
        n = int(rng.integers(1, 16))
        sig = Signals(rng.random(n), rng.random(n), 0.0)
        end = int(rng.integers(24 * n - 1, 24 * n + 30))
        starts = end + 1 - 24 * np.arange(n, 0, -1)
        keep = np.ones(n, dtype=bool)  # the loop it was
        for e in plan.events:
            if e.sku == 1:
                keep &= ~((starts + 24 > e.hour) & (starts < e.hour + plan.memory_hours))
        got = plan.baseline_signals(1, sig, end)
        np.testing.assert_array_equal(got.daily_demand, sig.daily_demand[keep])
        np.testing.assert_array_equal(got.daily_views, sig.daily_views[keep])


def test_inventory_position_and_availability_are_what_they_were():
    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=240"])
    m = ViralChainModel(cfg, 2)
    seen = set()
    for _ in range(20):
        m.run_for(12)
        for brand in m.brands:
            net, sup = brand.network, brand.supply
            for sku in brand._sku_list:
                avail = sum(w.available(sku) for w in net.warehouses)
                assert net.available_total(sku) == avail
                for fast_only in (False, True):
                    factories = net.quick if fast_only else net.factories
                    want = float(
                        avail
                        + sum(int(c.stock_in_transit[sku]) for c in net.line_haul)
                        + sum(int(f.fg[sku].sum()) for f in net.factories)
                        + sum(int(f.open_units[sku]) for f in factories)
                        - brand.selling.backlog_units[sku]
                    )
                    got = sup.inventory_position(sku, fast_only=fast_only)
                    assert type(got) is float and got == want
                    seen.add(got)
    assert len(seen) > 3  # the position moved


def test_event_units_and_planning_are_what_they_were():
    rng = np.random.default_rng(11)
    for _ in range(300):
        plan = random_event_plan(rng, 9)
        plan.planned = [bool(rng.random() < 0.3) for _ in plan.events]
        lo, hi = sorted(float(x) for x in rng.integers(0, 320, 2))
        now, rate = int(rng.integers(0, 250)), float(rng.choice([0.0, 0.5, 20.0]))
        fresh = bool(rng.random() < 0.5)
        want = sum(
            e.units
            for e, done in zip(plan.events, plan.planned, strict=True)
            if e.sku == 1
            and lo <= event_due(e, rate) < hi
            and e.known_from <= now
            and not (fresh and done)
        )
        got = plan.units(1, lo, hi, now, fresh, rate)
        assert type(got) is type(want) and got == want
        marked = [
            done or (e.sku == 1 and lo <= event_due(e, rate) < hi and e.known_from <= now)
            for e, done in zip(plan.events, plan.planned, strict=True)
        ]
        plan.mark_planned(1, lo, hi, now, rate)
        assert plan.planned == marked


def test_the_timeseries_frame_is_built_as_it_was(tmp_path):
    import pandas as pd

    from sim.recording import TS_FIELDS, write_table

    cfg = sim.compose(None, ["setup=flexible", "market.n_consumers=2000", "run.horizon_hours=72"])
    m = ViralChainModel(cfg, 1)
    m.run()
    got = m.recorder.timeseries("r1")
    # the way it was: the fields set one by one after the constructor
    want = got[["run_id", "t_hours", "sku", "node", "node_type"]].copy()
    for f in TS_FIELDS:
        want[f] = got[f].to_numpy().astype(np.int64)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.columns) == list(want.columns) and got.columns.dtype == want.columns.dtype
    a = write_table(got, tmp_path / "a.parquet", {"k": "v"})
    b = write_table(want, tmp_path / "b.parquet", {"k": "v"})
    assert a.read_bytes() == b.read_bytes()


def test_package_versions_are_read_once_per_process_and_handed_out_as_copies(monkeypatch):
    """Every table's metadata carries the versions: read from the installed distributions
    once, not once per table; a caller changing its dict changes nobody else's."""
    from importlib import metadata

    from sim import recording

    recording._package_versions.cache_clear()
    asked: list[str] = []
    real = metadata.version

    def counted(name: str) -> str:
        asked.append(name)
        return real(name)

    monkeypatch.setattr(recording.metadata, "version", counted)
    first = recording.package_versions()
    first["numpy"] = "changed by a caller"
    second = recording.package_versions()
    recording.file_metadata("{}", 1)
    assert len(asked) == len(second) == 6  # one read per package, whatever the calls
    assert second["numpy"] == real("numpy")
    recording._package_versions.cache_clear()


@pytest.mark.parametrize("how", ["pause", "stop"])
def test_a_step_that_pauses_its_own_schedule_stops_stepping_as_under_mesa(how):
    """Nothing in the model pauses its hourly step, but the short loop must not outrun
    Mesa's if something does: Mesa schedules one more (empty) step event and steps no more."""
    cfg = sim.compose(None, ["market.n_consumers=2000", "run.horizon_hours=48"])
    seen = {}
    for cls in (ViralChainModel, MesaLoop):
        m = cls(cfg, 3)
        step = m._user_step

        def stepping(m=m, step=step):
            step()
            if m.steps == 4:
                getattr(m._default_schedule, how)()

        m._user_step = stepping
        m.run_for(12)
        heap = sorted((e.time, e.priority) for e in m._event_list._events if not e._canceled)
        seen[cls] = (m.time, m.steps, m.hour, heap, len(m.events))
    assert seen[ViralChainModel] == seen[MesaLoop]
    assert seen[MesaLoop][1] == 4
