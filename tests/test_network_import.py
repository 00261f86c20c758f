"""The client's network from a spreadsheet (``viralchain import``) and ``--config-dir``."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from experiments import cli as cli_module
from experiments.network import import_network, parse, read
from experiments.network_sample import SAMPLE, write_sample
from sim.geography import Geography, great_circle_km
from tests.conftest import ROOT, cli

SHIPPED = ROOT / "docs" / "examples" / "client_network.xlsx"
SMALL = ["market.n_consumers=2000", "run.horizon_hours=300"]


def _main(*args: str) -> int:
    return cli_module.main(list(args))


def _tree(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------- the sample


def test_shipped_sample_is_the_generated_one(tmp_path):
    """docs/examples/ is what scripts/make_sample_workbook.py writes (same sheets and cells)."""
    fresh = write_sample(tmp_path / "fresh.xlsx")
    assert read(SHIPPED).sheets == read(fresh).sheets
    fresh_csv = write_sample(tmp_path / "fresh")
    assert _tree(ROOT / "docs" / "examples" / "client_network") == _tree(fresh_csv)


def test_sample_workbook_imports_and_runs_both_setups(tmp_path, monkeypatch):
    out = tmp_path / "clients" / "lumen"
    p = cli("import", str(SHIPPED), "--out", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "imported lumen: 5 regions, 2 products" in p.stdout
    assert f"viralchain demo --config-dir {out} story=lumen" in p.stdout
    assert sorted(_tree(out)) == [
        "logistics/flexible.yaml",
        "logistics/rigid.yaml",
        "market/default.yaml",
        "story/lumen.yaml",
        "supply/flexible.yaml",
        "supply/rigid.yaml",
    ]
    demo = tmp_path / "demo"
    p = cli("demo", "--config-dir", str(out), "story=lumen", *SMALL, "--out", str(demo))
    assert p.returncode == 0, p.stderr
    assert "lumen: rigid vs flexible" in p.stdout
    rigid = pd.read_parquet(demo / "rigid" / "runs.parquet")
    flexible = pd.read_parquet(demo / "flexible" / "runs.parquet")
    assert rigid.story.iloc[0] == "lumen" and rigid.demand_units.iloc[0] > 0
    assert flexible.quick_response_share.iloc[0] > 0  # the client's quick-response factories
    # the config is the client's: its regions, factories and products
    monkeypatch.setenv("VIRALCHAIN_CONFIG_DIR", str(out))
    cfg = sim.compose("lumen", ["setup=flexible"])
    assert list(cfg.market.regions) == ["paris", "berlin", "milan", "madrid", "warsaw"]
    assert set(cfg.supply.factories) == {"lodz_plant", "milan_lab", "paris_workshop"}
    assert cfg.supply.postponement.factories == ["milan_lab"]
    assert set(cfg.logistics.carriers) == {"road", "parcel", "courier"}
    assert cfg.logistics.carriers["parcel"].dispatch_hours == [12, 23]
    assert set(cfg.brand.products) == {"serum", "cream"}
    # a blank cell takes the shipped quick-response factory's value
    assert cfg.supply.factories["paris_workshop"].moq_units == 200
    rigid_cfg = sim.compose("lumen", ["setup=rigid"])
    assert set(rigid_cfg.supply.factories) == {"lodz_plant"}
    assert rigid_cfg.logistics.carriers["parcel"].dispatch_hours == [18]
    # great-circle distances between the client's cities
    geo = Geography(cfg.market)
    assert geo.km("paris", "berlin") == pytest.approx(878, abs=3)
    assert geo.km("madrid", "warsaw") == pytest.approx(2290, abs=10)
    assert geo.km("paris", "paris") == 25


def test_csv_folder_imports_to_the_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    import_network(SHIPPED, a)
    import_network(ROOT / "docs" / "examples" / "client_network", b)
    assert sorted(_tree(a)) == sorted(_tree(b))
    for rel in _tree(a):
        assert yaml.safe_load((a / rel).read_text()) == yaml.safe_load((b / rel).read_text())


def test_sources_are_written_as_comments(tmp_path):
    import_network(SHIPPED, tmp_path / "c")
    text = (tmp_path / "c" / "supply" / "rigid.yaml").read_text()
    assert "# Sources:" in text and "contract manufacturer's quote" in text


def test_great_circle_distances():
    lat_lon = np.array([[0.0, 0.0], [0.0, 90.0], [90.0, 0.0]])
    d = great_circle_km(lat_lon)
    quarter = np.pi / 2 * 6371.0088
    assert d[0, 1] == pytest.approx(quarter) and d[0, 2] == pytest.approx(quarter)
    assert np.allclose(d, d.T) and np.allclose(np.diag(d), 0)


def test_planar_configs_keep_their_form_and_hash():
    """Positions not given stay out of the resolved config (so hashes and files don't move)."""
    cfg = sim.compose()
    region = cfg.to_dict()["market"]["regions"]["east"]
    assert set(region) == {"population_share", "x_km", "y_km", "local_radius_km"}


# ----------------------------------------------------------------------------- bad workbooks


def _edited(tmp_path: Path, edit, csv: bool = False) -> Path:
    sheets = copy.deepcopy(SAMPLE)
    edit(sheets)
    return write_sample(tmp_path / ("bad" if csv else "bad.xlsx"), sheets)


def _set(sheet: str, row: int, column: str, value):
    def edit(sheets):
        header = sheets[sheet][0]
        sheets[sheet][row - 1][header.index(column)] = value

    return edit


def _drop_sheet(sheet: str):
    return lambda sheets: sheets.pop(sheet)


def _add_column(sheet: str, column: str):
    def edit(sheets):
        for i, row in enumerate(sheets[sheet]):
            row.append(column if i == 0 else 1)

    return edit


def _duplicate_row(sheet: str, row: int):
    return lambda sheets: sheets[sheet].append(list(sheets[sheet][row - 1]))


BAD = [
    (
        "text_in_number",
        _set("factories", 2, "capacity_units_per_day", "lots"),
        "client_network bad: sheet factories, row 2, column capacity_units_per_day = 'lots': "
        "must be a number",
    ),
    (
        "unknown_region",
        _set("factories", 3, "region", "lyon"),
        "sheet factories, row 3, column region = 'lyon': must be one of the regions "
        "['paris', 'berlin', 'milan', 'madrid', 'warsaw']",
    ),
    (
        "unknown_sku",
        _set("factories", 4, "skus", "serum;mask"),
        "sheet factories, row 4, column skus = 'mask': must be one of the products",
    ),
    (
        "bad_role",
        _set("factories", 2, "role", "big"),
        "sheet factories, row 2, column role = 'big': must be one of ['regular', 'quick_response']",
    ),
    (
        "negative_capacity",
        _set("factories", 2, "capacity_units_per_day", -5),
        "sheet factories, row 2, column capacity_units_per_day = -5: must be",
    ),
    (
        "latitude_range",
        _set("regions", 3, "latitude", 152.5),
        "sheet regions, row 3, column latitude = 152.5: must be from -90 to 90",
    ),
    (
        "half_position",
        _set("regions", 2, "longitude", None),
        "sheet regions, row 2 = {'latitude': 48.857}: give latitude and longitude, or x_km",
    ),
    (
        "missing_sheet",
        _drop_sheet("carriers"),
        "sheet carriers = '(missing)': the workbook must have the sheets",
    ),
    (
        "unknown_column",
        _add_column("warehouses", "colour"),
        "sheet warehouses, row 1, column colour = 'colour': unknown column",
    ),
    (
        "duplicate_name",
        _duplicate_row("products", 2),
        "sheet products, row 4, column name = 'serum': already on row 2",
    ),
    (
        "bad_hours",
        _set("carriers", 3, "dispatch_hours", "18;25"),
        "sheet carriers, row 3, column dispatch_hours = '18;25': must be hours of day 0-23",
    ),
    (
        "bad_setups",
        _set("carriers", 2, "setups", "sometimes"),
        "sheet carriers, row 2, column setups = 'sometimes': must be both, rigid or flexible",
    ),
    (
        "no_central",
        _set("warehouses", 2, "kind", "forward"),
        "sheet warehouses = '(none)': the rigid setup needs a central warehouse",
    ),
    (
        "required_blank",
        _set("products", 3, "price", None),
        "sheet products, row 3, column price = '': must be given",
    ),
    (
        "share_range",
        _set("regions", 4, "population_share", 1.5),
        "sheet regions, row 4, column population_share = 1.5: must be",
    ),
    (
        "client_name",
        _set("client", 2, "value", "2lumen"),
        "sheet client, row 2, column value = '2lumen': the client's name must be given",
    ),
    (
        "base_story",
        _set("client", 4, "value", "two_brands"),
        "based_on_story must be a shipped story with one brand",
    ),
]


@pytest.mark.parametrize(("case", "edit", "needle"), BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("csv", [False, True], ids=["xlsx", "csv"])
def test_bad_workbook_exits_2_naming_the_cell(tmp_path, capsys, case, edit, needle, csv):
    book = _edited(tmp_path, edit, csv)
    out = tmp_path / "out"
    assert _main("import", str(book), "--out", str(out)) == 2
    err = capsys.readouterr().err
    name = "bad" if csv else "bad.xlsx"
    needle = needle.replace("client_network bad: ", f"{name}, ")
    assert f"viralchain: invalid workbook: {name}, " in err, err
    assert needle in err, err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "nowhere.xlsx", "workbook = "),
        (lambda d: (d / "x.xlsx").write_text("not a zip") and d / "x.xlsx", "not a readable .xlsx"),
        (lambda d: (d / "r.csv").write_text("a,b") and d / "r.csv", "a CSV network is a folder"),
        (lambda d: (d / "n.txt").write_text("x") and d / "n.txt", "unknown kind of file"),
    ],
)
def test_unreadable_workbook_exits_2(tmp_path, capsys, make, needle):
    assert _main("import", str(make(tmp_path)), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_import_refuses_a_non_empty_out_without_force(tmp_path, capsys):
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert _main("import", str(SHIPPED), "--out", str(out)) == 2
    assert "not empty" in capsys.readouterr().err
    assert _main("import", str(SHIPPED), "--out", str(out), "--force") == 0


def test_sample_option_writes_the_worked_example(tmp_path, capsys):
    target = tmp_path / "start.xlsx"
    assert _main("import", "--sample", str(target)) == 0
    assert read(target).sheets == read(SHIPPED).sheets
    assert _main("import", "--sample", str(target)) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_parse_names_every_problem_at_once(tmp_path):
    def two(sheets):
        _set("factories", 2, "capacity_units_per_day", "x")(sheets)
        _set("products", 2, "price", "y")(sheets)

    with pytest.raises(sim.ConfigError) as err:
        parse(_edited(tmp_path, two))
    assert len(err.value.problems) == 2


# ----------------------------------------------------------------------------- --config-dir


def test_config_dir_adds_a_story_and_replaces_shipped_options(tmp_path):
    d = tmp_path / "client"
    (d / "story").mkdir(parents=True)
    shipped = (ROOT / "scenarios" / "story" / "head_kol_livestream.yaml").read_text()
    (d / "story" / "mine.yaml").write_text(
        shipped.replace("story: head_kol_livestream", "story: mine")
    )
    p = cli("--config-dir", str(d), "list", "stories")
    assert p.returncode == 0 and "mine" in p.stdout and "head_kol_livestream" in p.stdout
    p = cli("run", "story=mine", *SMALL, "--config-dir", str(d), "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert pd.read_parquet(tmp_path / "r" / "runs.parquet").story.iloc[0] == "mine"
    p = cli("run", "story=mine", *SMALL, "--out", str(tmp_path / "s"))  # without it: unknown
    assert p.returncode == 2 and "story = 'mine': must be one of" in p.stderr


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing", "must be a directory of config groups (no such directory)"),
        (lambda d: (d / "config.yaml").write_text("x: 1") and d, "may not hold config.yaml"),
        (lambda d: (d / "hydra").mkdir() or d, "may not hold hydra/"),
        (
            lambda d: (
                (d / "story").mkdir()
                or (
                    (d / "story" / "x.yaml").write_text(
                        "hydra:\n  callbacks:\n    a: {_target_: os.system}\n"
                    )
                    and d
                )
            ),
            "may not name code to instantiate (_target_)",
        ),
    ],
)
def test_bad_config_dir_exits_2(tmp_path, capsys, make, needle):
    d = tmp_path / "cd"
    d.mkdir()
    target = make(d)
    assert _main("run", "--config-dir", str(target), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_config_dir_sweeps(tmp_path):
    """A sweep composes from the client's directory too (the Hydra launcher's search path)."""
    out = tmp_path / "clients" / "lumen"
    import_network(SHIPPED, out)
    sweep = tmp_path / "sweep"
    p = cli(
        "run",
        "-m",
        "story=lumen",
        "setup=rigid,flexible",
        *SMALL,
        "--jobs",
        "1",
        "--config-dir",
        str(out),
        "--out",
        str(sweep),
    )
    assert p.returncode == 0, p.stderr
    runs = pd.read_parquet(sweep / "runs")
    assert sorted(runs.setup) == ["flexible", "rigid"] and set(runs.story) == {"lumen"}


def test_resume_asks_for_the_same_config_dir(tmp_path, capsys):
    out = tmp_path / "clients" / "lumen"
    import_network(SHIPPED, out)
    sweep = tmp_path / "sweep"
    args = ["story=lumen", "setup=rigid", *SMALL, "--jobs", "1"]
    assert _main("run", "-m", *args, "--config-dir", str(out), "--out", str(sweep)) == 0
    spec = (sweep / "sweep.json").read_text()
    assert str(out.resolve()) in spec
    capsys.readouterr()
    assert _main("resume", str(sweep)) == 2
    assert f"this sweep was launched with --config-dir {out.resolve()}" in capsys.readouterr().err
    assert _main("resume", str(sweep), "--config-dir", str(out)) == 0


def test_the_guide_documents_every_sheet_and_column():
    from experiments.network import CLIENT_KEYS, SHEETS

    guide = (ROOT / "docs" / "client_network.md").read_text()
    for sheet, columns in SHEETS.items():
        assert f"`{sheet}`" in guide.split("## 2.")[1], sheet
        for name in columns:
            if sheet != "client":
                assert f"`{name}`" in guide, (sheet, name)
    for key in CLIENT_KEYS:
        assert f"| `{key}` |" in guide, key


def test_config_dir_may_add_a_group_of_its_own(tmp_path, capsys):
    """A new group (calibrate's ``calibration/``) is chosen with ``+group=NAME``; its option
    must be a name, never a path."""
    d = tmp_path / "fit"
    (d / "calibration").mkdir(parents=True)
    (d / "calibration" / "launch.yaml").write_text(
        "# @package _global_\nmarket:\n  organic:\n    conversion_probability: 0.05\n"
    )
    (d / "README.txt").write_text("notes beside the files are fine")
    out = tmp_path / "r"
    args = ["run", "+calibration=launch", *SMALL, "--config-dir", str(d), "--out", str(out)]
    assert _main(*args) == 0
    from sim.recording import read_metadata

    meta = read_metadata(out / "runs.parquet")
    assert '"conversion_probability":0.05' in meta["config"]
    bad = ["run", "+calibration=../fit/calibration/launch", "--config-dir", str(d)]
    assert _main(*bad, "--out", str(tmp_path / "b")) == 2
    assert "must be the name of a shipped option, not a path" in capsys.readouterr().err
