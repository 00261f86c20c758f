"""The workshop dashboard: plain-words log, levers, the two-sided session, the Solara page
rendered without a browser, the command, and the page in headless Chromium end to end."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pandas as pd
import pytest

import sim
from experiments.compose import group_options, scenarios_dir
from experiments.dashboard import levers as lv
from experiments.dashboard.session import Comparison
from sim import narrative
from tests.conftest import ROOT, VIRALCHAIN, cached_run, cli

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


# ----------------------------------------------------------------------------- page (no browser)


def test_the_page_renders_runs_and_reruns_without_a_browser(monkeypatch):
    import ipyvuetify as v
    import ipywidgets
    import solara
    import solara.widgets

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
    images = rc.find(ipywidgets.Image).widgets
    assert images and images[0].value[:4] == b"\x89PNG"
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


def _browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why the end-to-end test cannot run."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        return "chromium/chromedriver not installed (make test installs them via apt as root)"
    from experiments.dashboard import assets

    if assets.ensure(quiet=True):  # installs them from the npm registry when missing
        return f"dashboard browser files missing in {assets.cache_dir()} (no npm or registry)"
    return chromium, driver


def test_dashboard_in_headless_chromium(tmp_path):
    found = _browser()
    if isinstance(found, str):
        pytest.skip(found)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver_path = found
    consumers = os.environ.get("VIRALCHAIN_SCREENSHOT_CONSUMERS", "3000")
    server = subprocess.Popen(
        [VIRALCHAIN, "dashboard", "--host", "127.0.0.1", "--port", "0", "--consumers", consumers],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    driver = None
    try:
        url = _wait_for_url(server)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1800,1900",
            f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.get(url)
        wait = WebDriverWait(driver, 300)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.vc-kpis"))
        jump = wait.until(
            lambda d: [
                b
                for b in d.find_elements(By.TAG_NAME, "button")
                if b.text.strip().lower() == "jump to end"
            ]
        )
        jump[0].click()
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, 'table.vc-kpis[data-finished="true"]')
        )
        # the KPI panel shows numbers for both setups
        cells = driver.find_elements(By.CSS_SELECTOR, 'table.vc-kpis tr[data-kpi="sold_units"] td')
        assert re.fullmatch(r"[\d,]+", cells[1].text) and re.fullmatch(r"[\d,]+", cells[2].text)
        fill = driver.find_element(By.CSS_SELECTOR, 'table.vc-kpis tr[data-kpi="fill_rate"]')
        assert re.search(r"\d+\.\d%", fill.text)
        # the charts are drawn (a loaded image) with their running totals underneath
        wait.until(
            lambda d: d.execute_script(
                "return Array.from(document.images).some(i => i.complete && i.naturalWidth > 600)"
            )
        )
        readout = driver.find_element(By.CSS_SELECTOR, ".vc-readout").text
        assert re.search(r"rigid: demand [1-9]", readout) and "flexible: demand" in readout
        assert "LIVE:" in driver.find_element(By.CSS_SELECTOR, ".vc-log").text
        time.sleep(1.0)  # let the last frame paint
        shots = [tmp_path / "dashboard.png"]
        if os.environ.get("VIRALCHAIN_UPDATE_SCREENSHOT"):
            shots.append(ROOT / "docs" / "img" / "dashboard.png")
        else:
            shots.append(ROOT / "outputs" / "screenshots" / "dashboard.png")
        for shot in shots:
            shot.parent.mkdir(parents=True, exist_ok=True)
            assert driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 50_000
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)


def _wait_for_url(server: subprocess.Popen, timeout: float = 180) -> str:
    """The address the command printed, once the server answers on it."""
    line = server.stdout.readline()
    while line and "open http" not in line:
        line = server.stdout.readline()
    match = re.search(r"(http://\S+)", line or "")
    assert match, f"no address printed: {line!r}"
    url = match.group(1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited with {server.returncode}: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"server did not answer on {url} within {timeout} s")


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
