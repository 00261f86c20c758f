"""Every relative link of README.md and docs/*.md points somewhere: to a file that exists and,
with a ``#anchor``, to a heading of that file (GitHub's anchors: the heading's text in lower
case, punctuation dropped, spaces as hyphens, ``-1``, ``-2``... after repeats).

``tests/test_docs.py`` checks that the linked files exist; this one also checks the anchors,
links within a page (``#...``) included, so a section moved to another page (the passes of
issue 21 went from docs/performance.md to docs/performance-log.md) leaves no dead link."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
# [text](target) or [text](target "title"), images too; the text may span lines
_INLINE = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
_HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=\"([^\"]+)\"", re.I)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (a fence's lines replaced by blanks)."""
    out, fence = [], None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * len(m.group(1))
            out.append("")
        elif fence is not None:
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                fence = None
            out.append("")
        else:
            out.append(line)
    return out


def _plain(heading: str) -> str:
    """The text GitHub renders for a heading's markdown (code, links and emphasis undone)."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # images: their alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"(`+)(.*?)\1", r"\2", text)  # code spans: their content
    return re.sub(r"\*+", "", text)  # emphasis (headings here use no `_x_`)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading (github-slugger): lower case; letters, marks, decimal
    digits, connector punctuation (``_``), hyphens and spaces kept, everything else
    dropped; each space a hyphen (no squeezing: ``a × b`` gives ``a--b``)."""
    kept = (
        ch
        for ch in _plain(heading).strip().lower()
        if ch in " -"
        or unicodedata.category(ch) in {"Nd", "Nl", "Pc"}
        or ch.isalpha()
        or unicodedata.category(ch).startswith("M")
    )
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered) and HTML anchors."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")):
        m = _ATX.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
        out.update(a for a in _HTML_ANCHOR.findall(line))
    return out


def links(path: Path) -> list[str]:
    """The link targets of a page's prose (code blocks and code spans left out)."""
    text = "\n".join(_prose(path.read_text(encoding="utf-8")))
    text = re.sub(r"(`+)(?:(?!\n[ \t]*\n).)*?\1", "", text, flags=re.S)  # code spans
    return _INLINE.findall(text) + _REFERENCE.findall(text)


def broken(path: Path) -> list[str]:
    """The page's relative links that point at no file, or at no heading of their file."""
    out = []
    for target in links(path):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:...
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file)).resolve() if file else path
        if not dest.exists():
            out.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            out.append(f"{target} (no such heading in {dest.name})")
    return out


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page):
    assert broken(page) == []


def test_the_log_of_the_passes_is_linked_from_the_page_and_lists_its_sections():
    """docs/performance.md links the log; the log's contents name each of its sections."""
    page, log = ROOT / "docs" / "performance.md", ROOT / "docs" / "performance-log.md"
    assert "performance-log.md" in links(page)
    sections = [
        m.group(2)
        for line in _prose(log.read_text(encoding="utf-8"))
        if (m := _ATX.match(line)) and m.group(1) == "##" and m.group(2) != "Contents"
    ]
    contents = {t for t in links(log) if t.startswith("#")}
    assert len(sections) >= 40
    missing = [s for s in sections if f"#{slug(s)}" not in contents]
    assert missing == [], "add these sections to the log's Contents"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "The tenth pass together (issue 21, 2026-12-01, 17:47–20:10 UTC)",
            "the-tenth-pass-together-issue-21-2026-12-01-17472010-utc",
        ),
        (
            "The 10k × 30-day run, seventh pass (issue 21)",
            "the-10k--30-day-run-seventh-pass-issue-21",
        ),
        ("`viralchain run`, second pass (issue 21)", "viralchain-run-second-pass-issue-21"),
        ("The closed loop's cost (issue 17)", "the-closed-loops-cost-issue-17"),
        ("1. Start from the sample workbook", "1-start-from-the-sample-workbook"),
        ("Quiet hour ≤ 20 µs **now**", "quiet-hour--20-µs-now"),
        (
            'The "nothing moved" key: its ceiling, measured',
            "the-nothing-moved-key-its-ceiling-measured",
        ),
        ("snake_case and [a link](x.md)", "snake_case-and-a-link"),
    ],
)
def test_slugs_follow_github(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n## Part one\n\n## Part one\n", encoding="utf-8")
    page = tmp_path / "a.md"
    page.write_text(
        "## Here\n\n[ok](b.md) [ok](b.md#part-one) [ok](b.md#part-one-1) [ok](#here)\n"
        "[ok](https://x.org/#nowhere) `[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
        "[no file](c.md) [no heading](b.md#part-two) [no\nheading](#there)\n"
        "[ref]: b.md#part-one-2\n",
        encoding="utf-8",
    )
    assert broken(page) == [
        "c.md (no such file)",
        "b.md#part-two (no such heading in b.md)",
        "#there (no such heading in a.md)",
        "b.md#part-one-2 (no such heading in b.md)",
    ]
