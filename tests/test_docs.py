"""The docs stay true: the configuration and KPI references are generated (wherever their
markers are: README.md, docs/configuration.md, docs/outputs.md), the quickstart is two
commands."""

from __future__ import annotations

import re

from experiments.docs import (
    DOC_FILES,
    END,
    KPI_END,
    KPI_START,
    READING_END,
    READING_START,
    README,
    START,
    render,
)
from sim.kpis import CATALOGUE
from sim.metrics import COST_KPIS


def test_configuration_reference_is_up_to_date():
    for path in [p for p in DOC_FILES if p.exists()]:
        text = path.read_text(encoding="utf-8")
        assert render(text) == text, f"{path.name}: run python -m experiments.docs"


def _text_with(marker: str) -> str:
    """The one documentation file holding a generated section's marker."""
    holders = [p for p in DOC_FILES if p.exists() and marker in p.read_text(encoding="utf-8")]
    assert len(holders) == 1, (marker, holders)
    return holders[0].read_text(encoding="utf-8")


def test_every_generated_section_is_somewhere_once():
    for start in (START, KPI_START, READING_START):
        assert _text_with(start).count(start) == 1
    assert READING_START in README.read_text(encoding="utf-8")  # the demo table's guide
    assert END and KPI_END and READING_END


def test_quickstart_is_two_make_commands():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_the_kpi_reference_has_one_row_per_catalogue_kpi_with_its_unit_and_direction():
    section = _between(_text_with(KPI_START), KPI_START, KPI_END)
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    assert [re.match(r"\| `(\w+)`", r).group(1) for r in rows] == [k.name for k in CATALOGUE]
    for k, row in zip(CATALOGUE, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[1:] == [k.unit, "" if k.better == "neither" else k.better, k.meaning]


def test_the_reading_guide_names_every_kpi_once_and_the_money_identity():
    guide = _between(_text_with(READING_START), READING_START, READING_END)
    bullets = "\n".join(line for line in guide.splitlines() if line.startswith("- **"))
    for k in CATALOGUE:
        assert bullets.count(f"`{k.name}`") == 1, k.name
        phrase = "neither direction for" if k.better == "neither" else f"{k.better} is better"
        line = next(b for b in bullets.splitlines() if f"`{k.name}`" in b)
        clause = line[: line.index(f"`{k.name}`")].rsplit(";", 1)[-1]
        assert phrase in clause, k.name
    identity = "`revenue` − " + " − ".join(f"`{c}`" for c in COST_KPIS) + " = `profit`"
    assert identity in guide


def test_readme_is_short_and_every_relative_link_resolves():
    """README: what it is, the two commands, the demo table, a cheat sheet and links (< 20 KB);
    the rest lives in docs/, and no link of README or docs/ points nowhere."""
    assert len(README.read_bytes()) < 20_000
    root = README.parent
    for path in [README, *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if re.match(r"^(https?:|mailto:|#)", target):
                continue
            assert (path.parent / target.split("#")[0]).exists(), (path.name, target)
