"""The bad-input corpus (:mod:`tests.bad_inputs`): every case is clean.

Clean: the exit code the contract gives (2 usage/input, 1 run failed, 0 accepted and done
right), one short message naming the field, no traceback, and nothing written (accepted
cases: nothing outside the output root; no code named in data ever runs). The schema cases
(NaN/±inf for every float field, a boolean and an out-of-range value for every int field of
every shipped story) run in one test; the command-line and API cases one test each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import bad_inputs as corpus

pytestmark = pytest.mark.xdist_group("bad_inputs")

CASES = corpus.cli_cases() + corpus.api_cases()
# the command-line finite-number cases beyond one per section and value are in the slow set:
# the schema cases check every float field through the same validation
FAST_FINITE = {"market.regions.east.x_km", "brand.products.hero.price"}


def _marks(case: corpus.Case) -> list:
    if case.group == "finite" and not any(f"-{p}=" in case.id for p in FAST_FINITE):
        return [pytest.mark.slow]
    return []


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    return corpus.make_tiny_sweep(tmp_path_factory.mktemp("corpus"))


def test_the_corpus_is_large_and_covers_every_reproduction():
    ids = {c.id for c in CASES}
    assert len(CASES) >= 150
    for needed in [
        "cli-resume-callback-hydra",
        "cli-multirun-launcher-target",
        "cli-run-market.regions.east.x_km=nan",
        "cli-run-supply.factories.core.capacity_units_per_day=inf",
        "cli-run-brand.products.hero.price=inf",
        "cli-dashboard-nan",
        "cli-run-out-is-a-file",
        "cli-run-seed=9223372036854775808",
        "cli-report-corrupt-json",
        "cli-resume-no-sweep-id",
        "cli-report-truncated-runs",
        "api-run-seed=-1",
        "api-run-model_copy-seed=-5",
        "cli-run-market.n_consumers=true",
        "cli-report-run-nope",
        "cli-empty-range",
        "cli-empty-glob",
        "cli-run-policy-escape",
        "api-compose-n_consumers=1e9-memory",
        "cli-run-story-escapes",
        "cli-run-setup-escapes",
        "cli-overrides-after-options",
    ]:
        assert needed in ids, needed


def test_every_numeric_field_of_every_story_refuses_bad_numbers(tmp_path):
    cases = corpus.schema_cases()
    assert len(cases) > 1000
    bad = []
    for case in cases:
        outcome = corpus.run_case(case, tmp_path)
        if outcome.category != "clean":
            bad.append(f"{case.id}: {outcome.category} {outcome.detail}")
    assert not bad, "\n".join(bad[:40])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_marks(c)) for c in CASES])
def test_bad_input_is_refused_cleanly(case, tmp_path, tiny_sweep, monkeypatch):
    monkeypatch.setenv("VIRALCHAIN_FORKSERVER", "0")
    outcome = corpus.run_case(case, tmp_path, tiny_sweep)
    assert outcome.category == "clean", (outcome.detail, outcome.message, outcome.written)
