"""``viralchain explore``: uncertainties sampled, setups run on common random numbers, the
answer in words (PRIM boxes), a phase diagram, Sobol indices; bad input refused.

The runs here are the flagship at 1,000 consumers over 15 days (the live stream is on day 8):
small enough for the default suite, large enough that both setups sell.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import sim
from experiments.cli import main
from experiments.discovery import prim_box, wilson
from experiments.explore import base_configs, kpi_paragraph, run_point
from experiments.sensitivity import indices, saltelli_points
from experiments.uncertainties import (
    BY_NAME,
    UNCERTAINTIES,
    apply,
    choose,
    expand,
    scale_points,
    targets,
    unit_sample,
)
from sim.errors import ConfigError
from sim.kpis import CATALOGUE

STORY = "head_kol_livestream"
SMALL = ["market.n_consumers=1000", "run.horizon_hours=360"]
ARGS = ["--samples", "8", "--seeds", "2", "--n-consumers", "1000", "--quiet", *SMALL[1:]]


def _explore(tmp_path, name: str, *extra: str) -> tuple[int, object]:
    out = tmp_path / name
    code = main(["explore", *ARGS, "--out", str(out), *extra])
    return code, out


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """One small explore run with two workers, and the same with one."""
    tmp = tmp_path_factory.mktemp("explore")
    doc = tmp / "docs" / "explore.md"
    doc.parent.mkdir()
    stale = "<!-- explore:start -->\nSTALE-ANSWER\n<!-- explore:end -->"
    doc.write_text(f"# Title\n\nkept\n\n{stale}\n\ntail\n")
    code2, out2 = _explore(tmp, "jobs2", "--jobs", "2")
    code1, out1 = _explore(tmp, "jobs1", "--jobs", "1", "--doc", str(doc))
    assert code2 == code1 == 0
    return out2, out1


# ----------------------------------------------------------------------------- the command


def test_explore_writes_one_row_per_point_seed_and_setup_with_every_kpi(explored):
    out, _ = explored
    frame = pd.read_parquet(out / "explore.parquet")
    names = [u.name for u in UNCERTAINTIES]
    assert list(frame.columns[:4]) == ["story", "sample", "seed", "setup"]
    assert set(names) <= set(frame.columns)
    assert {k.name for k in CATALOGUE} <= set(frame.columns)
    assert len(frame) == 8 * 2 * 2
    assert (
        frame.groupby(["sample", "seed"])["setup"].apply(list) == [["rigid", "flexible"]] * 16
    ).all()
    # the same point for every setup and seed (common random numbers across the design)
    assert (frame.groupby("sample")[names].nunique() == 1).all().all()
    # the points fill the ranges
    for u in UNCERTAINTIES:
        assert frame[u.name].between(u.low, u.high).all(), u.name
    assert (frame["notice_hours"] % 1 == 0).all()
    design = json.loads((out / "design.json").read_text())
    assert design["setups"] == ["rigid", "flexible"] and design["seeds"] == [0, 1]
    png = (out / "phase-flexible-vs-rigid.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_explore_answers_in_words_with_paired_intervals(explored):
    text = (explored[0] / "summary.md").read_text()
    assert "### flexible vs rigid" in text
    for piece in ("**Profit.**", "**Fill rate.**", "paired 95 % interval", "of the points"):
        assert piece in text
    assert "**What decides the profit difference**" in text
    assert "(phase-flexible-vs-rigid.png)" in text


def test_explore_gives_the_same_table_whatever_the_number_of_workers(explored):
    two, one = (pd.read_parquet(o / "explore.parquet") for o in explored)
    pd.testing.assert_frame_equal(two, one)
    assert (explored[0] / "summary.md").read_text() == (explored[1] / "summary.md").read_text()


def test_doc_gets_the_answer_between_its_markers_and_the_plot_beside_it(explored):
    doc = explored[1].parent / "docs" / "explore.md"
    text = doc.read_text()
    assert text.startswith("# Title\n\nkept\n\n<!-- explore:start -->\n*head_kol_livestream: 8")
    assert text.endswith("<!-- explore:end -->\n\ntail\n") and "STALE-ANSWER" not in text
    assert "(img/explore-phase-flexible-vs-rigid.png)" in text
    png = doc.parent / "img" / "explore-phase-flexible-vs-rigid.png"
    assert png.read_bytes() == (explored[1] / "phase-flexible-vs-rigid.png").read_bytes()


def test_a_row_is_reproduced_by_its_overrides_on_the_same_seed(explored):
    """Common random numbers: the same point and seed give the same run, re-run alone or
    through ``viralchain run`` with the row's overrides."""
    frame = pd.read_parquet(explored[0] / "explore.parquet")
    row = frame[(frame["setup"] == "rigid")].iloc[5]
    cfg = sim.compose(
        STORY,
        [*SMALL, "setup=rigid", "run.timeseries_resolution=off", *row["overrides"].split()],
    )
    again = sim.run(cfg, seed=int(row["seed"])).kpis
    for k in ("profit", "fill_rate", "demand_units", "sold_units", "writeoff_cost"):
        assert again[k] == pytest.approx(row[k], rel=1e-12, abs=1e-9), k
    bases = base_configs(STORY, ["rigid"], SMALL[:1] + SMALL[1:])
    values = [row[u.name] for u in UNCERTAINTIES]
    direct = run_point(bases["rigid"], UNCERTAINTIES, values, int(row["seed"]))
    assert direct["profit"] == again["profit"]


def test_sobol_mode_writes_indices_with_intervals_per_setup_and_difference(tmp_path):
    code, out = _explore(
        tmp_path,
        "sobol",
        "--sobol",
        "--seeds",
        "1",
        "--uncertainties",
        "platform_boost,notice_hours",
        "--jobs",
        "2",
    )
    assert code == 0
    table = pd.read_csv(out / "sobol_indices.csv")
    assert list(table.columns) == ["kpi", "output", "uncertainty", "S1", "S1_conf", "ST", "ST_conf"]
    assert set(table["output"]) == {"rigid", "flexible", "flexible − rigid"}
    assert set(table["kpi"]) == {"profit", "fill_rate"}
    assert len(table) == 2 * 3 * 2
    runs = pd.read_parquet(out / "sobol.parquet")
    assert len(runs) == 8 * (2 + 2) * 2  # Saltelli: N (D + 2) points per setup
    text = (out / "summary.md").read_text()
    assert "matters most" in text and "| uncertainty |" in text
    assert (out / "sobol.png").read_bytes()[:4] == b"\x89PNG"


BAD = [
    (["--samples", "3"], "--samples = 3"),
    (["--seeds", "0"], "--seeds = 0"),
    (["--jobs", "0"], "--jobs = 0"),
    (["--n-consumers", "10"], "--n-consumers = 10"),
    (["--setups", "rigid,bendy"], "--setups = 'bendy'"),
    (["--setups", "rigid"], "at least two"),
    (["--story", "nope"], "--story = 'nope'"),
    (["--uncertainties", "pulse,virality"], "--uncertainties = 'pulse'"),
    (["--uncertainties", "virality"], "at least two"),
    (["--range", "virality=0.5"], "NAME=LOW:HIGH"),
    (["--range", "virality=0.8:0.4"], "LOW < HIGH"),
    (["--range", "virality=0.3:0.95"], "within 0:0.89"),
    (["--range", "wobble=1:2"], "'wobble' is not among"),
    (["--sobol", "--samples", "12"], "power of 2"),
    (["--sampler", "sobol", "--samples", "12"], "power of 2"),
    (["--sobol", "--sampler", "lhs"], "--sampler with --sobol"),
    (["--doc", "notes.txt"], "--doc = 'notes.txt'"),
    (["market.no_such_key=1"], "market.no_such_key"),
    # a range the uncertainty allows but the config does not (an unstable cascade)
    (["content.short_video.cross_excitation=0.3"], "setup rigid gets content.short_video"),
]


@pytest.mark.parametrize(("extra", "named"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_exits_2_naming_it_and_writes_nothing(tmp_path, capsys, extra, named):
    code, out = _explore(tmp_path, "out", *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert named in err
    assert err.startswith("viralchain: explore: invalid") and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_failing_run_exits_1_naming_its_point_and_writes_nothing(tmp_path, capsys):
    code, out = _explore(tmp_path, "out", "--jobs", "1", "run.fail_at_hour=5")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("viralchain: explore: a run failed: sample ") and "setup " in err
    assert "Traceback" not in err and not out.exists()


def test_explore_help_lists_every_uncertainty(capsys):
    with pytest.raises(SystemExit):
        main(["explore", "--help"])
    text = capsys.readouterr().out
    for u in UNCERTAINTIES:
        assert u.name in text
    for option in ("--samples", "--seeds", "--n-consumers", "--jobs", "--out", "--story"):
        assert option in text


# ----------------------------------------------------------------------------- the parts


def test_latin_hypercube_puts_one_point_in_each_stratum_of_every_uncertainty():
    u = unit_sample("lhs", 16, 3, seed=4)
    for j in range(3):
        assert sorted(np.floor(u[:, j] * 16).astype(int)) == list(range(16))
    assert np.array_equal(u, unit_sample("lhs", 16, 3, seed=4))  # from the seed, no global state
    assert not np.array_equal(u, unit_sample("lhs", 16, 3, seed=5))


def test_sobol_sequence_is_balanced_and_needs_a_power_of_2():
    u = unit_sample("sobol", 16, 2, seed=0)
    for j in range(2):  # a (0, m, s)-net: every half holds half the points
        assert (u[:, j] < 0.5).sum() == 8
    with pytest.raises(ValueError, match="power of 2"):
        unit_sample("sobol", 12, 2, seed=0)


def test_points_map_onto_ranges_and_whole_numbers_stay_whole():
    chosen = [BY_NAME["notice_hours"], BY_NAME["virality"]]
    pts = scale_points(chosen, np.array([[0.0, 0.0], [0.5, 0.5], [0.999, 1.0]]))
    assert pts[:, 0].tolist() == [0, 120, 240]
    assert pts[:, 1].tolist() == pytest.approx([0.3, 0.575, 0.85])


def test_uncertainties_set_every_matching_path_and_scale_each_setups_own_value():
    bases = base_configs(STORY, ["rigid", "flexible"], SMALL[:1])
    flex = bases["flexible"]
    lead = BY_NAME["lead_time"]
    data, overrides = apply(flex, [lead, BY_NAME["notice_hours"]], [2.0, 30])
    for name, f in flex["supply"]["factories"].items():  # × each factory's own lead time
        got = data["supply"]["factories"][name]["material_lead_hours"]
        assert got == 2.0 * f["material_lead_hours"], name
    live = [i for i, p in enumerate(flex["content"]["calendar"]) if p["kind"] == "livestream"]
    for i, post in enumerate(data["content"]["calendar"]):
        assert post["notice_hours"] == (30 if i in live else None)
    assert f"++content.calendar.{live[0]}.notice_hours=30" in overrides
    assert flex == base_configs(STORY, ["flexible"], SMALL[:1])["flexible"]  # base untouched
    rigid = apply(bases["rigid"], [lead], [2.0])[0]["supply"]["factories"]
    assert rigid["core"]["material_lead_hours"] == 480


def test_a_path_that_matches_nothing_is_a_clear_error():
    base = base_configs("steady_seller", ["rigid"], SMALL[:1])["rigid"]
    assert expand(base, "content.calendar[kind=livestream].notice_hours") == []
    with pytest.raises(ConfigError, match="matches nothing"):
        targets(base, BY_NAME["notice_hours"])


def test_ranges_are_checked_and_replaced():
    chosen = choose("virality,lead_time", ["lead_time=0.8:1.5"])
    assert [(u.name, u.low, u.high) for u in chosen] == [
        ("virality", 0.3, 0.85),
        ("lead_time", 0.8, 1.5),
    ]
    with pytest.raises(ConfigError) as exc:
        choose(None, ["notice_hours=3.2:3.9", "virality=x:1"])
    assert [p[0] for p in exc.value.problems] == ["--range", "--range"]


def test_prim_box_in_plain_words():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {"platform_boost": rng.uniform(0, 12, 400), "notice_hours": rng.uniform(0, 240, 400)}
    )
    wins = (x["platform_boost"] > 6).to_numpy() & (x["notice_hours"] < 100).to_numpy()
    box = prim_box(x, wins)
    assert box is not None
    lo_boost, hi_boost = box.limits["platform_boost"]
    lo_notice, hi_notice = box.limits["notice_hours"]
    assert hi_boost is None and lo_boost == pytest.approx(6, abs=0.6)
    assert lo_notice is None and hi_notice == pytest.approx(100, abs=12)
    assert box.coverage > 0.8 and box.density > 0.8
    chosen = [BY_NAME["platform_boost"], BY_NAME["notice_hours"]]
    words = box.words(chosen)
    assert re.match(r"the platform's boost of the live stream is above (5\.\d|6\.?\d?) and ", words)
    assert " and notice before the live stream is under " in words and words.endswith(" h")
    assert prim_box(x, np.ones(400, bool)) is None  # everywhere: no box


def test_the_paragraph_states_the_winner_box_share_and_intervals():
    from experiments.discovery import answer

    rng = np.random.default_rng(0)
    n = 64
    boost, notice = rng.uniform(0, 12, n), rng.uniform(0, 240, n)
    rows = []
    for i in range(n):
        for seed in (0, 1):
            gain = 100.0 if boost[i] > 6 else -100.0
            for setup, profit in (("rigid", 0.0), ("flexible", gain + seed)):
                rows.append(
                    {
                        "sample": i,
                        "seed": seed,
                        "setup": setup,
                        "platform_boost": boost[i],
                        "notice_hours": notice[i],
                        "profit": profit,
                        "fill_rate": 0.5 + (setup == "flexible") * 0.1,
                    }
                )
    frame = pd.DataFrame(rows)
    chosen = [BY_NAME["platform_boost"], BY_NAME["notice_hours"]]
    ans = answer(frame, chosen, "rigid", "flexible", "profit")
    assert ans.wins == int((boost > 6).sum()) and ans.n == n
    text = kpi_paragraph(ans, "rigid", "flexible", chosen)
    assert re.search(
        r"\*\*flexible wins when the platform's boost of the live stream is above (5\.\d|6)", text
    )
    assert re.search(
        r"\*\*rigid wins when the platform's boost of the live stream is under (5\.\d|6)", text
    )
    assert "coverage 100%, density 100%" in text
    assert f"at {ans.share:.0%} of the points ({ans.wins} of {n}; 95 % interval" in text
    fill = kpi_paragraph(
        answer(frame, chosen, "rigid", "flexible", "fill_rate"), "rigid", "flexible", chosen
    )
    assert "flexible wins everywhere in these ranges" in fill


def test_the_phase_diagram_is_drawn_over_the_two_most_decisive_uncertainties():
    from experiments.explore import compare
    from experiments.explore_plots import plot_phase

    rng = np.random.default_rng(1)
    n = 64
    chosen = [BY_NAME["virality"], BY_NAME["platform_boost"], BY_NAME["patience_hours"]]
    x = {u.name: rng.uniform(u.low, u.high, n) for u in chosen}
    rows = []
    for i in range(n):
        gain = 400 * (x["platform_boost"][i] - 6) + 2 * (x["patience_hours"][i] - 96)
        for setup, profit in (("rigid", 0.0), ("flexible", gain)):
            rows.append(
                {"sample": i, "seed": 0, "setup": setup, **{k: v[i] for k, v in x.items()}}
                | {"profit": profit, "fill_rate": 0.5 + 0.001 * gain}
            )
    c = compare(pd.DataFrame(rows), chosen, "rigid", "flexible")
    assert c.decisive()[:2] == ["platform_boost", "patience_hours"]
    fig = plot_phase(pd.DataFrame(rows), chosen, c)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("the platform's boost of the live stream")
    assert ax.get_ylabel().startswith("buyers' patience (median)")


def test_wilson_interval():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


def test_sobol_indices_find_the_one_input_that_matters():
    chosen = [BY_NAME["virality"], BY_NAME["return_propensity"], BY_NAME["patience_hours"]]
    x = saltelli_points(chosen, 256, seed=0)
    assert x.shape == (256 * (3 + 2), 3)
    y = np.sin(10 * x[:, 0]) + 0.1 * x[:, 1]  # patience does nothing
    t = indices(chosen, y, seed=0).set_index("uncertainty")
    assert t.loc["virality", "S1"] > 0.8 and t.loc["virality", "ST"] > 0.8
    assert abs(t.loc["patience_hours", "ST"]) < 0.02
    assert t.loc["virality", "S1_conf"] > 0 and (t["ST_conf"] >= 0).all()
    flat = indices(chosen, np.ones(len(x)), seed=0)
    assert flat["S1"].isna().all() and math.isnan(flat["ST"].iloc[0])
