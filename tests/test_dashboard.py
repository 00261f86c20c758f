"""The workshop dashboard: plain-words log, levers, the two-sided session, the Solara page
rendered without a browser, the command, and the page in headless Chromium end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time

import numpy as np
import pandas as pd
import pytest

import sim
from experiments.compose import group_options, scenarios_dir
from experiments.dashboard import levers as lv
from experiments.dashboard.session import Comparison
from sim import narrative
from tests.conftest import ROOT, cached_run, cli

SMALL = ["market.n_consumers=3000"]

# ----------------------------------------------------------------------------- narrative


def _event(kind: str, **kw) -> dict:
    row = {"t_hours": 212, "kind": kind, "actor": "x", "sku": "hero", "quantity": 5.0}
    row.update({"value": 0.0, "detail": ""})
    row.update(kw)
    return row


def test_every_known_kind_has_its_own_sentence():
    for kind in narrative.SENTENCES:
        text = narrative.describe(_event(kind, detail="core job 3"))
        assert text and text != narrative._generic(_event(kind)), kind
        assert not text.lower().startswith(kind.replace("_", " ")), kind


def test_sentences_say_what_happened_in_plain_words():
    d = narrative.describe
    assert d(_event("livestream_start", actor="top_streamer", detail="cal3 for 3h")) == (
        "LIVE: top_streamer starts a live stream selling hero for 3 hours."
    )
    assert "at warehouse central" in d(
        _event("stockout_start", actor="central", detail="warehouse")
    )
    assert "every warehouse" in d(_event("stockout_start", actor="snackco", detail="network"))
    assert "after 12 hours" in d(_event("stockout_end", actor="central", detail="warehouse, 12h"))
    rush = d(_event("rush_order", actor="snackco", quantity=400, detail="flex job 7 quick"))
    assert "RUSH order" in rush and "400 units" in rush and "factory flex" in rush


def test_unknown_kinds_get_a_generic_sentence():
    text = narrative.describe(_event("teleport", actor="ufo", quantity=3, detail="beam me up"))
    assert text == "Teleport: ufo for hero (3 units) — beam me up."
    assert narrative.category("teleport") == "other"


def test_narrate_a_real_run():
    ev = cached_run("flexible").events
    log = narrative.narrate(ev)
    assert len(log) == len(ev)
    assert list(log.columns) == ["t_hours", "when", "kind", "category", "text"]
    assert log["t_hours"].is_monotonic_increasing
    assert log["text"].str.len().min() > 10
    assert "livestream_start" in set(log["kind"])
    assert narrative.format_hour(212) == "day 8, 20:00"
    assert narrative.narrate(ev.iloc[:0]).empty


# ----------------------------------------------------------------------------- levers


@pytest.fixture(scope="module")
def configs():
    rigid = sim.compose("head_kol_livestream", [*SMALL, "setup=rigid"])
    flexible = sim.compose("head_kol_livestream", [*SMALL, "setup=flexible"])
    return rigid, flexible


def test_levers_are_discovered_from_the_config_groups(configs):
    rigid, flexible = configs
    levers = {x.key: x for x in lv.discover(rigid, flexible)}
    families = sorted(p.name for p in (scenarios_dir() / "policy").iterdir() if p.is_dir())
    for family in families:
        if len(group_options(f"policy/{family}")) >= 2:
            assert f"policy/{family}" in levers, family
    assert levers["policy.safety_stock.days_of_cover"].kind == "slider"
    assert levers["network/forward_warehouses"].kind == "switch"
    assert levers["kol_tier/head"].scope == "world"
    assert levers["network/forward_warehouses"].current(rigid) is False
    assert levers["network/forward_warehouses"].current(flexible) is True


def test_lever_overrides_compose_into_valid_configs(configs):
    rigid, flexible = configs
    levers = lv.discover(rigid, flexible)
    values = {
        "network/forward_warehouses": True,
        "policy.safety_stock.days_of_cover": 6.5,
        "kol_tier/head": 0.5,
    }
    left = lv.overrides_for(levers, values, rigid, challenger=False, levers_on_both=True)
    cfg = sim.compose("head_kol_livestream", [*SMALL, "setup=rigid", *left])
    assert any(w.kind == "forward" for w in cfg.logistics.warehouses.values())
    assert cfg.policy.safety_stock.days_of_cover == 6.5
    head = next(k for k in rigid.content.kols.values() if k.tier == "head")
    new_head = next(k for k in cfg.content.kols.values() if k.tier == "head")
    assert new_head.followers_share == pytest.approx(head.followers_share * 0.5)
    # chain levers leave the baseline alone unless asked; market levers never do
    only_world = lv.overrides_for(levers, values, rigid, challenger=False)
    assert only_world == [o for o in left if o.startswith("content.kols.")]
    off = lv.overrides_for(levers, {"network/forward_warehouses": False}, flexible, challenger=True)
    cfg = sim.compose("head_kol_livestream", [*SMALL, "setup=flexible", *off])
    assert not any(w.kind == "forward" for w in cfg.logistics.warehouses.values())
    # untouched or unchanged levers write nothing
    assert lv.overrides_for(levers, {}, flexible, challenger=True) == []
    same = {"policy.safety_stock.days_of_cover": flexible.policy.safety_stock.days_of_cover}
    assert lv.overrides_for(levers, same, flexible, challenger=True) == []


# ----------------------------------------------------------------------------- session


def test_comparison_steps_both_sides_and_ends_with_the_same_kpis_as_sim_run():
    comp = Comparison("head_kol_livestream", ("rigid", "flexible"), seed=2, base=SMALL)
    assert comp.labels == ["rigid", "flexible"]
    assert comp.advance(230) == 230
    tables = comp.tables()
    for ts, ev in tables.values():
        assert ts["t_hours"].max() == 229
        assert (ev["t_hours"] < 230).all()
    partial = comp.kpis()
    assert partial["rigid"]["demand_units"] > 0
    log = comp.log()
    assert log["t_hours"].is_monotonic_decreasing
    assert (log[log["kind"] == "livestream_start"]["side"] == "both").all()
    comp.run_to_end()
    assert comp.finished and comp.advance(5) == 0
    for side in comp.sides:
        expected = sim.run(side.config, seed=2).kpis
        got = comp.kpis()[side.label]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, nan_ok=True), (side.label, name)
    rows = {r.name: r for r in comp.kpi_rows()}
    fill = rows["fill_rate"]
    assert fill.diff == pytest.approx(fill.right - fill.left)
    if fill.diff > 0:
        assert fill.verdict == "better"


def test_an_invalid_lever_builds_nothing():
    with pytest.raises(sim.ConfigError, match=r"policy\.rush\.threshold"):
        Comparison("head_kol_livestream", base=SMALL, right_overrides=["policy.rush.threshold=-1"])


# ----------------------------------------------------------------------------- charts


@pytest.fixture(scope="module")
def stream():
    """Both chains through the evening of the live stream (hour 230)."""
    comp = Comparison("head_kol_livestream", ("rigid", "flexible"), seed=1, base=SMALL)
    comp.run_to(230)
    return comp


def test_chart_series_are_the_totals_of_the_run_tables(stream):
    from experiments.dashboard import charts as ch
    from sim.plotting import hourly_totals

    tables = stream.tables(until=220)
    for i, side in enumerate(stream.sides):
        s = ch.side_series(side, 220, i)
        ts, _ = tables[side.label]
        ref = hourly_totals(ts, list(side.config.brand.products))
        assert s.hours == 220 and list(ref.index) == list(range(220))
        for column in ref.columns:
            np.testing.assert_allclose(s.totals[column], ref[column].to_numpy(), err_msg=column)
        wh = ts[ts["node_type"] == "warehouse"]
        assert sorted(s.stock) == sorted(wh["node"].unique())
        for node, g in wh.groupby("node"):
            np.testing.assert_allclose(s.stock[node], g.groupby("t_hours")["on_hand"].sum())
        assert "livestream_start" in {kind for _, kind, _ in s.events}
        assert all(t < 220 for t, _, _ in s.events)


def test_the_window_follows_now_or_shows_the_whole_run():
    from experiments.dashboard import charts as ch

    span, ahead = ch.FOLLOW_SPAN_HOURS, ch.FOLLOW_AHEAD_HOURS
    w = ch.window(212, 1080, follow=True)
    assert (w.start, w.end, w.step) == (212 + ahead - span, 212 + ahead, 1)
    assert (ch.window(0, 1080, True).start, ch.window(0, 1080, True).end) == (0, span)
    end = ch.window(1080, 1080, True)
    assert (end.start, end.end) == (1080 - span, 1080)
    whole = ch.window(212, 1080, follow=False)
    assert (whole.start, whole.end, whole.step) == (0, 1080, 1)  # 45 days: every hour
    assert ch.window(0, 24 * 90, follow=False).step == 2  # longer runs are thinned
    # thinning keeps a flow's busiest hour (the peak keeps its height) and a level's end
    w4 = ch.Window(0, 8, 4, False, 8)
    x, y = ch._thin(np.array([0, 0, 9, 0, 1, 1, 1, 1.0]), w4, level=False)
    assert x.tolist() == [0, 4] and y.tolist() == [9, 1]
    x, y = ch._thin(np.arange(8.0), w4, level=True)
    assert x.tolist() == [3, 7] and y.tolist() == [3, 7]


def _font_sizes(spec) -> list[float]:
    if isinstance(spec, dict):
        own = [v for k, v in spec.items() if k.lower().endswith("fontsize")]
        return own + [x for v in spec.values() for x in _font_sizes(v)]
    if isinstance(spec, list):
        return [x for v in spec for x in _font_sizes(v)]
    return []


def test_six_charts_in_a_window_around_now_drawn_from_the_series(stream):
    from experiments.dashboard import charts as ch

    def views(hour: int, follow: bool = True) -> list[ch.ChartView]:
        series = [ch.side_series(s, hour, i) for i, s in enumerate(stream.sides)]
        return ch.chart_views(series, hour, stream.horizon_hours, follow)

    now = views(216)
    assert [v.key for v in now] == [p.key for p in ch.PANELS]
    start, end = 216 + ch.FOLLOW_AHEAD_HOURS - ch.FOLLOW_SPAN_HOURS, 216 + ch.FOLLOW_AHEAD_HOURS
    for v in now:
        data = json.loads(v.data_json)
        assert data["frame"] == [{"x": start / 24}, {"x": end / 24}]
        assert data["now"] == [{"x": 9.0}]
        for name in ("lines", "views"):
            xs = [r["x"] for r in ch.dataset_rows(data.get(name, []))]
            assert all((start - 1) / 24 - 1e-4 <= x <= 215 / 24 + 1e-4 for x in xs), v.key
        assert min(_font_sizes(json.loads(v.spec_json))) >= ch.MIN_FONT_PX
    marks = json.loads(now[3].data_json)["marks"]  # production: the flexible chain's rushes
    assert any(m["kind"] == "rush" and m["side"] == "flexible" for m in marks)
    # an hour later only the data change: the browser feeds the chart instead of redrawing it
    assert [v.spec_json for v in views(217)] == [v.spec_json for v in now]
    # the whole run: every hour so far, from day 0
    sales = next(v for v in views(216, follow=False) if v.key == "sales")
    rows = ch.dataset_rows(sales.datasets["lines"])
    assert len({r["x"] for r in rows}) == 216 and min(r["x"] for r in rows) == 0


def test_the_log_grown_step_by_step_is_the_log_of_the_whole_run_so_far():
    from experiments.dashboard.app import LogBook

    comp = Comparison("head_kol_livestream", ("rigid", "flexible"), seed=1, base=SMALL)
    book = LogBook()
    for hour in (100, 212, 213, 214, 240):
        comp.run_to(hour)
        grown = book.until(comp, hour)
        pd.testing.assert_frame_equal(grown.reset_index(drop=True), comp.log(until=hour))
    assert (book.until(comp, 240)["kind"] == "livestream_start").sum() == 1


def test_kpi_cards_read_from_the_back_of_the_room():
    from experiments.dashboard.app import compact

    assert compact(0.6213, "share") == "62.1%"
    assert compact(0.13, "share", signed=True) == "+13.0 pts"
    assert compact(48_213, "units") == "48 k"
    assert compact(-1_250_000, "money") == "-1.25 M"
    assert compact(1234, "money", signed=True) == "+1.2 k"
    assert compact(float("nan"), "units") == "–"


# ----------------------------------------------------------------------------- page (no browser)


def test_the_page_renders_runs_and_reruns_without_a_browser(monkeypatch):
    import ipyvuetify as v
    import solara
    import solara.widgets

    from experiments.dashboard.charts import PANELS, VegaChart, dataset_rows

    monkeypatch.setenv("VIRALCHAIN_DASHBOARD", '{"consumers": 2000, "seed": 1}')
    from experiments.dashboard.app import Page

    @solara.component
    def App():  # noqa: N802 (Solara components are named like classes)
        with solara.AppLayout():
            Page()

    _, rc = solara.render(App(), handle_error=False)

    def kpis():
        return rc.find(solara.widgets.HTML, tag="table")

    kpis().wait_for(timeout=300)
    rc.find(v.Btn, children=["Jump to end"]).widget.click()
    kpis().assert_wait(lambda w: w.attributes.get("data-finished") == "true", timeout=300)
    html = kpis().widget.unsafe_innerHTML
    fill = re.search(r'data-kpi="fill_rate">.*?class="num left">([\d.]+)%', html)
    assert fill and 0 <= float(fill.group(1)) <= 100
    log = rc.find(solara.widgets.HTML, attributes={"class": "vc-log"}).widget.unsafe_innerHTML
    assert "LIVE:" in log
    readout = rc.find(solara.widgets.HTML, attributes={"class": "vc-readout"}).widget
    assert re.search(r"demand [1-9][\d,]*", readout.unsafe_innerHTML)
    # six native charts, at the last hour, whose data stop at the horizon
    charts = rc.find(VegaChart).widgets
    assert len(charts) == 6 and {c.hour for c in charts} == {1080}
    assert {c.chart_key for c in charts} == {p.key for p in PANELS}
    for chart in charts:
        spec, data = json.loads(chart.spec_json), json.loads(chart.data_json)
        assert spec["layer"] and "datasets" not in spec  # the data travel on their own
        xs = [r["x"] for d in data.values() for r in dataset_rows(d) if "x" in r]
        assert xs and max(xs) <= 45.0
    # a lever re-runs the comparison to where it was, with its override
    presale = rc.find(v.Switch, label="Presale (pre-orders)")
    presale.assert_single()
    presale.widget.v_model = not presale.widget.v_model

    def rerun_done() -> bool:
        pre = rc.find(v.Html, tag="pre").widgets
        table = kpis().widgets
        return bool(
            pre
            and "policy/presale=" in pre[0].children[0]
            and table
            and table[0].attributes.get("data-finished") == "true"
        )

    _wait(rerun_done, 300)


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# ----------------------------------------------------------------------------- command


def test_dashboard_command_rejects_bad_input_with_exit_2():
    for args in (["story=nope"], ["--setups", "rigid"], ["seed=x"], ["--port", "70000"]):
        p = cli("dashboard", *args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("viralchain: ") and "Traceback" not in p.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = cli("dashboard", "--port", str(port))
    assert p.returncode == 2 and "pick another --port" in p.stderr


# ----------------------------------------------------------------------------- end to end


def test_sigterm_stops_the_server_and_leaves_no_process():
    """``kill -TERM`` of the command stops the server: no process of its tree survives and
    nothing listens on the port any more (the server used to be a child that survived)."""
    import psutil

    from benchmarks.dashboard import start_server, stop_server

    proc, url = start_server(2000)
    try:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGTERM)  # the command's own pid, as `kill -TERM` would
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if proc.poll() is None:
            stop_server(proc)


def _chromium_or_skip():
    from benchmarks.dashboard import find_browser

    found = find_browser()
    if isinstance(found, str):
        pytest.skip(found)


def test_dashboard_in_chromium_at_1280x720(tmp_path):
    """The page as a room sees it: 1280×720, every text legible, nothing truncated or
    covered, the charts following the clock; screenshots; SIGTERM with the page open."""
    _chromium_or_skip()
    import psutil
    from selenium.webdriver.common.by import By

    from benchmarks import dashboard as bd
    from experiments.dashboard.charts import MIN_FONT_PX

    consumers = int(os.environ.get("VIRALCHAIN_SCREENSHOT_CONSUMERS", "3000"))
    shots = ROOT / "outputs" / "screenshots"
    if os.environ.get("VIRALCHAIN_UPDATE_SCREENSHOT"):
        shots = ROOT / "docs" / "img"
    shots.mkdir(parents=True, exist_ok=True)
    proc, url = bd.start_server(consumers)
    try:
        with bd.chromium() as driver:
            bd.open_page(driver, url)
            assert driver.execute_script("return [innerWidth, innerHeight]") == [1280, 720]
            # the title is whole: not cut, not ellipsed, inside the app bar
            title = driver.find_element(By.CSS_SELECTOR, ".vc-title")
            assert driver.execute_script(
                "const t = arguments[0], r = t.getBoundingClientRect();"
                "return t.scrollWidth <= t.clientWidth + 1 && r.right <= innerWidth"
                " && getComputedStyle(t.closest('.v-toolbar-title')).textOverflow !== 'ellipsis'",
                title,
            )
            assert "supply chain" in title.text
            # no badge of the server over the page; nothing wider than the screen
            assert "runs on Solara" not in driver.find_element(By.TAG_NAME, "body").text
            assert not _overflows(driver)
            # the side panel (scenario, levers) opens from the ☰ button, legible too, and the
            # page makes room for it instead of running off the screen
            driver.find_element(By.CSS_SELECTOR, ".v-app-bar-nav-icon").click()
            # the drawer slides in from the left: read it once it is whole on the screen
            bd.wait_until(
                driver,
                "(d => d && d.getBoundingClientRect().left >= 0)"
                "(document.querySelector('.v-navigation-drawer--active'))",
            )
            drawer = bd.fonts(driver, ".v-navigation-drawer")
            assert any(t["text"] == "Levers" for t in drawer)
            assert not [t for t in drawer if t["px"] < MIN_FONT_PX], drawer
            assert not _overflows(driver)
            driver.find_element(By.CSS_SELECTOR, ".v-app-bar-nav-icon").click()
            # through the evening of the live stream, hour by hour: the window follows "now"
            bd.advance_to(driver, bd.STREAM_HOUR)
            bd.choose_step(driver, "6 hours")
            for _ in range(3):
                bd.step(driver, "step +6 hours")
            bd.choose_step(driver, "1 hour")
            for _ in range(3):
                bd.step(driver, "step +1 hour")
            assert bd.shown_hour(driver) == bd.STREAM_HOUR + 21  # day 8, 21:00: live since 20:00
            ticks = driver.execute_script(
                "return Array.from(document.querySelectorAll('.vc-chart[data-key=sales] text'))"
                ".map(t => t.textContent).filter(t => t.startsWith('day '))"
            )
            assert ticks and "day 0" not in ticks and "day 8" in ticks  # not the whole run
            log_text = driver.find_element(By.CSS_SELECTOR, ".vc-log").text
            assert "LIVE:" in log_text
            _assert_legible(bd.fonts(driver), MIN_FONT_PX)
            _assert_nothing_covers(driver, ".vc-log-card")
            cards = driver.find_elements(By.CSS_SELECTOR, ".vc-card .value")
            assert len(cards) == 8
            assert min(float(c.value_of_css_property("font-size")[:-2]) for c in cards) >= 28
            time.sleep(0.5)
            assert driver.save_screenshot(str(shots / "dashboard_stream.png"))
            # the end of the run, whole-run view
            bd.click(driver, "jump to end")
            bd.wait_hour(driver, 1080)
            finished = driver.find_elements(By.CSS_SELECTOR, 'table.vc-kpis[data-finished="true"]')
            assert finished
            cells = driver.find_elements(
                By.CSS_SELECTOR, 'table.vc-kpis tr[data-kpi="sold_units"] td'
            )
            assert re.fullmatch(r"[\d,]+", cells[1].text) and re.fullmatch(r"[\d,]+", cells[2].text)
            readout = driver.find_element(By.CSS_SELECTOR, ".vc-readout").text
            assert re.search(r"rigid: demand [1-9]", readout) and "flexible: demand" in readout
            ticks = driver.execute_script(
                "return Array.from(document.querySelectorAll('.vc-chart[data-key=sales] text'))"
                ".map(t => t.textContent).filter(t => t.startsWith('day '))"
            )
            assert "day 0" in ticks and "day 40" in ticks  # the whole run
            _assert_legible(bd.fonts(driver), MIN_FONT_PX)
            time.sleep(0.5)
            assert driver.save_screenshot(str(shots / "dashboard.png"))
            for name in ("dashboard_stream.png", "dashboard.png"):
                assert (shots / name).stat().st_size > 50_000
            # SIGTERM with the page connected: the server and its whole tree stop
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            os.kill(proc.pid, signal.SIGTERM)
            _, alive = psutil.wait_procs(tree, timeout=30)
            assert not alive
    finally:
        if proc.poll() is None:
            bd.stop_server(proc)


def _overflows(driver) -> list[str]:
    """The clock, the cards and the charts that reach past the right edge of the screen."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.vc-clock, .vc-card, .vc-chart'))"
        ".filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".map(e => e.className)"
    )


def _assert_legible(texts: list[dict], floor: float) -> None:
    """Every text of the charts, the KPI cards and table, the log and the bar ≥ ``floor`` px."""
    places = {t["where"] for t in texts}
    assert {"chart", "kpi cards", "kpi table", "log", "app bar"} <= places, places
    small = [t for t in texts if t["px"] < floor]
    assert not small, small[:10]


def _assert_nothing_covers(driver, selector: str) -> None:
    """The element on top at points across ``selector``'s visible box belongs to it."""
    covered = driver.execute_script(
        "const el = document.querySelector(arguments[0]); const r = el.getBoundingClientRect();"
        "const out = [];"
        "for (const fx of [0.05, 0.5, 0.95]) for (const fy of [0.05, 0.5, 0.95]) {"
        "  const h = Math.min(r.height, innerHeight - r.top);"
        "  const x = r.left + fx * r.width, y = r.top + fy * h;"
        "  if (y >= innerHeight || x >= innerWidth) continue;"
        "  const top = document.elementFromPoint(x, y);"
        "  if (top && !el.contains(top)) out.push([x, y, top.outerHTML.slice(0, 80)]);"
        "}"
        "return out;",
        selector,
    )
    assert not covered, covered


def test_plot_dashboard_draws_a_run_in_progress(tmp_path):
    from sim.plotting import plot_dashboard, save

    runs = {s: (cached_run(s).timeseries, cached_run(s).events) for s in ("rigid", "flexible")}
    fig = plot_dashboard(runs, now_hours=240, horizon_hours=480, title="t", skus=["hero"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [
        "Views and demand",
        "Sales vs lost sales (cumulative)",
        "Stock per warehouse",
        "Production and orders",
        "Deliveries and returns (cumulative)",
        "Orders waiting and parcels on the road",
    ]
    for ax in fig.axes:
        for line in ax.get_lines():
            x = line.get_xdata()
            if len(x) > 2:
                assert max(x) < 10.0  # nothing drawn after the current hour (day 10)
    assert save(fig, tmp_path / "d.png").stat().st_size > 10_000
    empty = {k: (ts.iloc[:0], ev.iloc[:0]) for k, (ts, ev) in runs.items()}
    plot_dashboard(empty, now_hours=0, horizon_hours=480)


def test_delivered_series_matches_the_delivered_kpi():
    from sim.plotting import hourly_totals

    r = cached_run("flexible")
    tot = hourly_totals(r.timeseries, list(r.config.brand.products))
    assert tot["delivered"].sum() == pytest.approx(r.kpis["delivered_units"])
    assert (tot["delivered"] >= 0).all()
    assert isinstance(tot, pd.DataFrame)
