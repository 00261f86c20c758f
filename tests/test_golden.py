"""Results do not move unless a change means them to (see tests/golden.py)."""

from __future__ import annotations

import json

import pytest

from tests import golden

RECORDED = json.loads(golden.DIGESTS.read_text())


def test_every_story_and_setup_is_recorded():
    assert set(RECORDED) == {f"{s}/{u}" for s in golden.stories() for u in golden.SETUPS}


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_outputs_match_the_recorded_digests(case, tmp_path):
    story, setup = case.split("/")
    got = golden.digest_case(story, setup, tmp_path)
    for table in ("timeseries", "events", "runs"):
        assert got[table] == RECORDED[case][table], (
            f"{case}: {table} changed; if the change means to move results, record anew with "
            "`.venv/bin/python -m tests.golden --record` and say so in the commit"
        )
