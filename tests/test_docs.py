"""README stays true: the configuration reference is generated, the quickstart is two commands."""

from __future__ import annotations

from experiments.docs import README, render_readme


def test_configuration_reference_is_up_to_date():
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "run: python -m experiments.docs"


def test_quickstart_is_two_make_commands():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
