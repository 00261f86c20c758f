"""The workshop dashboard, measured as the room sees it: headless Chromium at 1280×720.

Two measurements of one step of the clock:

* **in the browser** (``viralchain dashboard`` driven by Selenium and the system Chromium):
  the time from a click on *Step* until the clock and all six charts show the new hour
  (each chart element carries ``data-hour`` once Vega has drawn it), for 1-hour steps
  through the evening of the live stream (day 8), and the time *Play* takes from day 0 to
  day 8 at 12 hours a step;
* **on the server** (no browser): the Python work of one 1-hour step, for the page as it is
  (step the models, read the series, build the six chart datasets, the KPI rows and the log)
  and for the page as it was (the ``timeseries``/``events`` tables of the whole run so far,
  the six-panel matplotlib figure and its PNG), side by side in the same process.

The browser helpers here (start the command, open Chromium at 1280×720, click, time a step,
survey the computed font sizes) are shared with ``tests/test_dashboard.py``.

``python -m benchmarks.dashboard [--consumers N] [--steps N]`` prints the measurements as
JSON; ``python -m benchmarks --only dashboard`` puts them in the benchmark table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = (1280, 720)
STREAM_HOUR = 192  # day 8, 00:00: the live stream starts at 20:00 that day

# the JavaScript timing one click: resolves when the clock and every chart show a new hour
STEP_JS = """
const [label, timeout] = arguments;
const done = arguments[arguments.length - 1];
const clock = () => document.querySelector('.vc-clock');
const hourOf = () => clock() ? +clock().dataset.hour : -1;
const charts = () => Array.from(document.querySelectorAll('.vc-chart'));
const before = hourOf();
const button = Array.from(document.querySelectorAll('button'))
  .find(b => b.textContent.trim().toLowerCase() === label);
if (!button) { done({error: 'no button ' + label}); return; }
const t0 = performance.now();
let clockAt = null;
button.click();
const poll = () => {
  const now = performance.now();
  const hour = hourOf();
  if (clockAt === null && hour !== before) { clockAt = now; }
  const drawn = charts().length > 0 && charts().every(c => +c.dataset.hour === hour);
  if (clockAt !== null && drawn) {
    requestAnimationFrame(() => done({
      before: before, after: hour, clock_ms: clockAt - t0, drawn_ms: performance.now() - t0,
    }));
    return;
  }
  if (now - t0 > timeout) { done({error: 'timeout', before: before, after: hour}); return; }
  setTimeout(poll, 5);
};
poll();
"""

# every visible piece of text in the page's main area and app bar, with its computed size
FONTS_JS = """
const roots = Array.from(document.querySelectorAll(arguments[0]));
const out = [];
const seen = new Set();
for (const root of roots) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || seen.has(el)) { continue; }
    seen.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === 'hidden' || style.display === 'none' || +style.opacity === 0) {
      continue;
    }
    if (box.width === 0 || box.height === 0 || box.right <= 0) { continue; }
    let hidden = false;
    for (let p = el; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.display === 'none' || s.visibility === 'hidden' || +s.opacity === 0) {
        hidden = true; break;
      }
    }
    if (hidden) { continue; }
    const where = el.closest('.vc-chart') ? 'chart'
      : el.closest('.vc-cards') ? 'kpi cards'
      : el.closest('.vc-kpis, .vc-kpi-card') ? 'kpi table'
      : el.closest('.vc-log-card') ? 'log'
      : el.closest('.v-app-bar') ? 'app bar'
      : 'page';
    out.push({text: text.slice(0, 40), px: parseFloat(style.fontSize), where: where,
              tag: el.tagName.toLowerCase()});
  }
}
return out;
"""


# ----------------------------------------------------------------------------- browser


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why the page cannot be driven here."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        return "chromium/chromedriver not installed (make browser installs them via apt as root)"
    from experiments.dashboard import assets

    if assets.ensure(quiet=True):  # installs them from the npm registry when missing
        return f"dashboard browser files missing in {assets.cache_dir()} (no npm or registry)"
    return chromium, driver


def viralchain() -> str:
    """The ``viralchain`` command of this interpreter's environment."""
    return str(Path(sys.executable).with_name("viralchain"))


def start_server(consumers: int = 10_000, *extra: str) -> tuple[subprocess.Popen, str]:
    """``viralchain dashboard`` on a free port of 127.0.0.1; returns (process, address)."""
    proc = subprocess.Popen(
        [viralchain(), "dashboard", "--port", "0", "--consumers", str(consumers), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        return proc, wait_for_url(proc)
    except BaseException:
        stop_server(proc)
        raise


def wait_for_url(proc: subprocess.Popen, timeout: float = 180) -> str:
    """The address the command printed, once the server answers on it."""
    line = proc.stdout.readline()
    while line and "open http" not in line:
        line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line or "")
    if not match:
        raise RuntimeError(f"no address printed: {line!r}")
    url = match.group(1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer on {url} within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (SIGKILL after 20 s)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def chromium(size: tuple[int, int] = VIEWPORT) -> Iterator[Any]:
    """A headless Chromium whose page (viewport) is exactly ``size`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if isinstance(found, str):
        raise RuntimeError(found)
    binary, driver_path = found
    with tempfile.TemporaryDirectory(prefix="viralchain-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--window-size={size[0]},{size[1]}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
            )
            driver.set_script_timeout(300)
            yield driver
        finally:
            driver.quit()


def open_page(driver: Any, url: str, timeout: float = 300) -> None:
    """Load the page and wait until the clock and the six charts are drawn."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(
            "const c = document.querySelectorAll('.vc-chart svg');"
            "return c.length === 6 && document.querySelector('.vc-clock') !== null"
        )
    )


def click(driver: Any, text: str) -> None:
    """Click the (first) button whose text is ``text`` (any case)."""
    from selenium.webdriver.common.by import By

    for b in driver.find_elements(By.TAG_NAME, "button"):
        if b.text.strip().lower() == text.lower():
            b.click()
            return
    raise LookupError(f"no button {text!r}")


def wait_until(driver: Any, expression: str, timeout: float = 30) -> None:
    """Wait until the JavaScript ``expression`` is true in the page."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return Boolean({expression})")
    )


def shown_hour(driver: Any) -> int:
    """The hour the clock shows."""
    return int(driver.execute_script("return +document.querySelector('.vc-clock').dataset.hour"))


def wait_hour(driver: Any, hour: int, timeout: float = 300) -> None:
    """Wait until the clock and every chart show ``hour``."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(
            "const h = arguments[0]; const c = document.querySelector('.vc-clock');"
            "const charts = Array.from(document.querySelectorAll('.vc-chart'));"
            "return c && +c.dataset.hour === h && charts.length === 6 &&"
            " charts.every(x => +x.dataset.hour === h)",
            hour,
        )
    )


def step(driver: Any, label: str, timeout_ms: int = 120_000) -> dict[str, Any]:
    """Click the button ``label`` and time it (see :data:`STEP_JS`)."""
    result = driver.execute_async_script(STEP_JS, label.lower(), timeout_ms)
    if "error" in result:
        raise RuntimeError(f"step {label!r}: {result}")
    return result


def fonts(driver: Any, roots: str = ".v-main, .v-app-bar") -> list[dict[str, Any]]:
    """Every visible text element under ``roots`` with its computed font size (px)."""
    return driver.execute_script(FONTS_JS, roots)


def choose_step(driver: Any, step_label: str, timeout: float = 60) -> None:
    """Pick the step size (``1 hour``, ..., ``1 day``) and wait for the Step button to say so."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    click(driver, step_label)
    want = f"step +{step_label}".lower()
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: any(
            b.text.strip().lower() == want for b in d.find_elements(By.TAG_NAME, "button")
        )
    )


def advance_to(driver: Any, hour: int, step_label: str = "1 day") -> None:
    """Step (by ``step_label``) until the clock shows at least ``hour``."""
    choose_step(driver, step_label)
    while shown_hour(driver) < hour:
        step(driver, f"step +{step_label}")


# ----------------------------------------------------------------------------- measurements


def browser_steps(consumers: int, steps: int) -> dict[str, Any]:
    """In Chromium: 1-hour steps from :data:`STREAM_HOUR` on, and Play from day 0 to day 8."""
    proc, url = start_server(consumers)
    try:
        with chromium() as driver:
            open_page(driver, url)
            advance_to(driver, STREAM_HOUR)
            choose_step(driver, "1 hour")
            times = [step(driver, "step +1 hour") for _ in range(steps)]
            small = min(f["px"] for f in fonts(driver))
            click(driver, "restart")
            wait_hour(driver, 0)
            choose_step(driver, "12 hours")
            t0 = time.perf_counter()
            click(driver, "play")
            wait_hour_at_least(driver, 8 * 24)
            play_s = time.perf_counter() - t0
            click(driver, "pause")
    finally:
        stop_server(proc)
    drawn = [t["drawn_ms"] for t in times]
    return {
        "step_drawn_ms": drawn,
        "step_clock_ms": [t["clock_ms"] for t in times],
        "step_median_ms": statistics.median(drawn),
        "step_max_ms": max(drawn),
        "play_to_day8_s": play_s,
        "smallest_font_px": small,
    }


def wait_hour_at_least(driver: Any, hour: int, timeout: float = 300) -> None:
    """Wait until the clock shows ``hour`` or later."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: shown_hour(d) >= hour)


def server_steps(consumers: int, steps: int) -> dict[str, Any]:
    """The Python work of one 1-hour step, as the page does it now and as it did before."""
    from experiments.dashboard.app import make_frame
    from experiments.dashboard.charts import datasets_size
    from experiments.dashboard.session import Comparison
    from sim.plotting import plot_dashboard

    comp = Comparison("head_kol_livestream", base=[f"market.n_consumers={consumers}"])
    comp.run_to(STREAM_HOUR)
    make_frame(comp, comp.hour, True)  # warm-up (first use of numpy paths)
    new, old = [], []
    skus = list(comp.sides[0].config.brand.products)
    for _ in range(steps):
        t0 = time.perf_counter()
        comp.advance(1)
        frame = make_frame(comp, comp.hour, True)
        comp.log(until=comp.hour)
        new.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        tables = comp.tables(until=comp.hour)
        comp.readout(tables)
        comp.kpi_rows()
        comp.log(until=comp.hour)
        fig = plot_dashboard(
            tables, now_hours=comp.hour, horizon_hours=comp.horizon_hours, skus=skus
        )
        fig.savefig(io.BytesIO(), format="png", dpi=72)
        old.append(time.perf_counter() - t1)
    rows = datasets_size(frame.views)
    return {
        "new_ms": [1000 * x for x in new],
        "old_ms": [1000 * x for x in old],
        "new_median_ms": 1000 * statistics.median(new),
        "old_median_ms": 1000 * statistics.median(old),
        "rows_per_frame": rows,
    }


def measure(consumers: int = 10_000, steps: int = 12, browser: bool = True) -> dict[str, Any]:
    """Both measurements (the browser one only where Chromium is installed)."""
    out: dict[str, Any] = {"consumers": consumers, "steps": steps}
    out["server"] = server_steps(consumers, steps)
    found = find_browser() if browser else "not asked"
    if isinstance(found, str):
        out["browser"] = {"skipped": found}
    else:
        out["browser"] = browser_steps(consumers, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.dashboard``: print the measurements as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--consumers", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--no-browser", action="store_true", help="the server measurement only")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.consumers, args.steps, not args.no_browser), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
