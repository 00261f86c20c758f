"""Plots keep their words on the page: titles wrap, legends sit clear of the data, the
frontier's labels stay inside the figure, and long combination names are shortened."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from sim.plotting import fit_text, kpi_title, plot_comparison, plot_frontier, short_labels
from tests.conftest import cached_run, python

LONG = "policy.safety_stock.days_of_cover=0.5, policy.rush.threshold={t}, setup=flexible"


def _words(fig: Figure) -> list[Text]:
    """The figure's titles, legend entries and annotations (not tick labels)."""
    out: list[Text] = [fig._suptitle] if fig._suptitle is not None else []
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None:
            out += legend.get_texts()
    for ax in fig.axes:
        out += [ax.title, *ax.texts]
    return [t for t in out if t.get_visible() and t.get_text()]


def _assert_inside(fig: Figure) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for t in _words(fig):
        box = t.get_window_extent(renderer)
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, f"runs off the side: {t}"
        assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, f"runs off the top: {t}"


def test_short_labels_take_out_the_common_part_and_shorten_unambiguous_keys():
    labels, common = short_labels([LONG.format(t=50), LONG.format(t=100)])
    assert labels == ["threshold=50", "threshold=100"]
    assert common == "days_of_cover=0.5, setup=flexible"
    assert short_labels(["rigid", "flexible"]) == (["rigid", "flexible"], "")
    # two keys ending alike stay in full
    ambiguous = ["a.rate=1, b.rate=2", "a.rate=3, b.rate=2"]
    assert short_labels(ambiguous) == (["a.rate=1", "a.rate=3"], "b.rate=2")


def test_fit_text_wraps_to_the_figure_width():
    fig = plt.figure(figsize=(6, 4))
    text = fit_text("word " * 60, fig)
    assert "\n" in text and max(len(line) for line in text.splitlines()) < 60
    plt.close(fig)


def test_kpi_titles_come_from_the_catalogue():
    assert kpi_title("fill_rate") == "Fill rate (share; higher is better)"
    assert kpi_title("demand_units") == "Demand (units)"
    assert kpi_title("not_a_kpi") == "not a kpi"


def test_comparison_title_wraps_and_one_legend_sits_below_the_panels():
    runs = {
        LONG.format(t=50): (cached_run("rigid").timeseries, cached_run("rigid").kpis),
        LONG.format(t=100): (cached_run("flexible").timeseries, cached_run("flexible").kpis),
    }
    fig = plot_comparison(runs, "a story: " + " vs ".join(runs) + " on the same demand (seed 1)")
    _assert_inside(fig)
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:  # over no panel, hence over no bar
        assert not box.overlaps(ax.get_tightbbox(renderer)), ax.get_title()
    plt.close(fig)


def _frontier_points(names: list[str], xs, ys, pareto) -> pd.DataFrame:
    """A frontier table (as ``experiments.report`` makes it) of one story, flexible setup:
    fill rate ± 0.01 and profit ± 50 around the means ``xs`` and ``ys``."""
    return pd.DataFrame(
        {
            "combination": names,
            "story": "s",
            "setup": "flexible",
            "pareto": pareto,
            "fill_rate_mean": xs,
            "fill_rate_low": xs - 0.01,
            "fill_rate_high": xs + 0.01,
            "profit_mean": ys,
            "profit_low": ys - 50,
            "profit_high": ys + 50,
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "key",
    [
        "policy.safety_stock.days_of_cover={d}, policy.rush.threshold={t}",
        "forecast=exponential_smoothing_with_trend_{d}, rush=threshold_on_live_sales_{t}",
    ],
    ids=["dotted keys", "long values"],
)
def test_frontier_labels_stay_inside_the_figure(seed, key):
    rng = np.random.default_rng(seed)
    names = [key.format(d=d, t=t) for d in (0.5, 1.0) for t in (50, 100, 200, 400)]
    xs, ys = rng.uniform(0.6, 0.99, len(names)), rng.uniform(-1000, 500, len(names))
    points = _frontier_points(names, xs, ys, pareto=True)
    fig = plot_frontier(points)
    _assert_inside(fig)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert short_labels(names)[0][0] in texts
    plt.close(fig)


@pytest.mark.parametrize("confirmed", [None, [True, False, True, False, False]])
def test_frontier_marks_a_two_stage_studys_screened_only_trials_apart(confirmed):
    from matplotlib.colors import to_rgba

    from sim.plotting import SCREENED

    xs = np.array([0.90, 0.91, 0.92, 0.93, 0.94])
    ys = np.array([500.0, 400.0, 300.0, 600.0, 100.0])
    names = [f"policy.rush.threshold={t}" for t in range(5)]
    points = _frontier_points(names, xs, ys, pareto=[True, False, True, False, False])
    if confirmed is not None:
        points["confirmed"] = confirmed
    fig = plot_frontier(points)
    ax = fig.axes[0]
    grey = to_rgba(SCREENED)
    screened = [
        tuple(c.get_offsets()[0])
        for c in ax.collections
        if len(c.get_offsets()) and tuple(c.get_edgecolor()[0]) == grey
    ]
    labels = ax.get_legend_handles_labels()[1]
    if confirmed is None:
        assert screened == [] and "screened only (fewer replications)" not in labels
    else:  # the three screened-only trials, in grey, without error bars; named in the legend
        assert sorted(screened) == [(0.91, 400.0), (0.93, 600.0), (0.94, 100.0)]
        assert "screened only (fewer replications)" in labels
        bars = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
        assert len(bars) == 2 * 2  # x and y error bars of the two confirmed trials only
    plt.close(fig)


def test_run_plot_draws_production_as_one_filled_step_outline_not_a_bar_per_hour():
    from matplotlib.patches import Rectangle

    from sim.plotting import plot_run

    r = cached_run("flexible")
    fig = plot_run(r.timeseries, r.events, "run", list(r.config.brand.products))
    ax = fig.axes[3]  # production
    assert not [p for p in ax.patches if type(p) is Rectangle]
    (fill,) = [c for c in ax.collections if c.get_label() == "produced"]
    (outline,) = fill.get_paths()
    produced = r.timeseries.query("node_type == 'factory'").groupby("t_hours")["produced"].sum()
    x, y = outline.vertices[:, 0], outline.vertices[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))  # shoelace
    step_days = 1 / 24  # an hour
    assert area == pytest.approx(produced.sum() * step_days)
    assert y.max() == produced.max() and y.min() == 0
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= produced.max()
    plt.close(fig)


def _panels(fig: Figure) -> dict[tuple, list]:
    """The figure's axes grouped by the grid cell they sit in (an axis and its twin)."""
    cells: dict[tuple, list] = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        cells.setdefault((spec.rowspan.start, spec.colspan.start), []).append(ax)
    return cells


@pytest.mark.parametrize(
    ("scale", "title"),
    [(1, "run"), (1000, "run"), (25_000, "a long title, " * 14), (1e-3, "small numbers")],
    ids=["as run", "a thousand times", "large numbers, long title", "fractions"],
)
def test_run_plot_labels_stay_inside_the_figure_and_clear_of_the_other_panels(scale, title):
    """Fixed margins (no tight_layout pass): every tick label, axis label and panel title
    is on the page and off its neighbours, however large the numbers or long the title."""
    from sim.plotting import plot_run

    r = cached_run("flexible")
    ts = r.timeseries.copy()
    flows = [c for c in ts.select_dtypes("number").columns if c != "t_hours"]
    ts[flows] = ts[flows] * scale
    fig = plot_run(ts, r.events, title, list(r.config.brand.products))
    _assert_inside(fig)
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    boxes = {}
    for cell, axes in _panels(fig).items():
        box = Bbox.union([ax.get_tightbbox(renderer) for ax in axes])
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1, (cell, box, page)
        assert page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1, (cell, box, page)
        boxes[cell] = box
    cells = sorted(boxes)
    for i, a in enumerate(cells):
        for b in cells[i + 1 :]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
    heading = fig._suptitle.get_window_extent(renderer)
    assert all(not heading.overlaps(box) for box in boxes.values())
    plt.close(fig)


def test_run_plot_shows_every_series_of_the_run():
    from sim.plotting import hourly_totals, plot_run

    r = cached_run("flexible")
    skus = list(r.config.brand.products)
    tot = hourly_totals(r.timeseries, skus)
    fig = plot_run(r.timeseries, r.events, "run", skus)
    views, sales, stock, production = fig.axes[:4]
    demand_ax = fig.axes[4]  # the twin of the views panel
    (demand,) = demand_ax.get_lines()
    np.testing.assert_array_equal(demand.get_ydata(), tot["demand"].to_numpy())
    fill = views.collections[0].get_paths()[0].vertices[:, 1]
    assert fill.max() == tot["views"].max()
    finals = {line.get_label(): line.get_ydata()[-1] for line in sales.get_lines()}
    assert finals == {
        "sold (cumulative)": tot["sold"].sum(),
        "lost sales (cumulative)": tot["lost"].sum(),
        "returned (cumulative)": tot["returned"].sum(),
    }
    warehouses = sorted(r.timeseries.query("node_type == 'warehouse'")["node"].unique())
    assert [line.get_label() for line in stock.get_lines()] == warehouses
    marks = {c.get_label() for c in production.collections}
    kinds = set(r.events["kind"])
    expected = {k.replace("_", " ") for k in ("production_order", "rush_order") if k in kinds}
    assert expected and expected <= marks
    plt.close(fig)


def test_compact_numbers_keep_four_significant_digits():
    from sim.plotting import compact_number

    cases = {0: "0", 950: "950", 0.25: "0.25", 12_500: "12.5k", 1_125_000: "1.125M"}
    cases |= {-40_000: "-40k", 3e9: "3G", 250_000: "250k"}
    assert {v: compact_number(v) for v in cases} == cases


@pytest.mark.parametrize("plotter", ["plot_run", "plot_comparison"])
def test_outside_a_notebook_the_plots_need_no_pyplot_and_look_the_same(tmp_path, plotter):
    """Without pyplot in use (``viralchain run``) a plot is a bare Figure on an Agg canvas
    and pyplot is never imported; with pyplot in use (a notebook) pyplot holds the figure,
    so the notebook shows it. Both write the same PNG bytes."""
    r = cached_run("flexible")
    skus = list(r.config.brand.products)
    r.timeseries.to_pickle(tmp_path / "ts.pkl")
    r.events.to_pickle(tmp_path / "ev.pkl")
    call = {
        "plot_run": f"plot_run(ts, ev, 'a run', {skus!r})",
        "plot_comparison": "plot_comparison({'rigid': (ts, {}), 'flexible': (ts, {})})",
    }[plotter]
    pngs = {}
    for pyplot in (False, True):
        code = (
            "import sys\n"
            + ("import matplotlib.pyplot as plt\n" if pyplot else "")
            + "import pandas as pd\n"
            f"from sim.plotting import save, {plotter}\n"
            f"ts, ev = pd.read_pickle({str(tmp_path / 'ts.pkl')!r}), "
            f"pd.read_pickle({str(tmp_path / 'ev.pkl')!r})\n"
            f"fig = {call}\n"
            "held = 'matplotlib.pyplot' in sys.modules and plt.get_fignums() == [fig.number]\n"
            f"save(fig, {str(tmp_path / f'{pyplot}.png')!r})\n"
            "print('matplotlib.pyplot' in sys.modules, held, type(fig.canvas).__name__)\n"
            "print(sys.modules['matplotlib.pyplot'].get_fignums() if held else [])\n"
        )
        done = python(code)
        assert done.returncode == 0, done.stderr
        state, left = done.stdout.splitlines()[-2:]
        assert state.startswith("True True") if pyplot else state == "False False FigureCanvasAgg"
        assert left == "[]"  # saved: pyplot forgot it
        pngs[pyplot] = (tmp_path / f"{pyplot}.png").read_bytes()
    assert pngs[False].startswith(b"\x89PNG\r\n\x1a\n") and pngs[False] == pngs[True]


def test_save_writes_a_png_with_zlib_at_its_fastest_level(tmp_path):
    from sim.plotting import new_figure, save

    fig = new_figure((4, 3))
    fig.subplots().plot([0, 1, 2], [1, 3, 2])
    data = save(fig, tmp_path / "p.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and not list(tmp_path.glob(".*tmp"))
    idat = data.index(b"IDAT") + 4
    assert data[idat : idat + 2] == b"\x78\x01"  # zlib header: deflate, fastest level
