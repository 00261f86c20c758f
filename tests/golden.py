"""Golden digests: every story × both setups at one seed, recorded before a refactor.

A restructuring that must not change results ("One owner per state") is checked
against digests recorded on the code before it: the ``timeseries`` and ``events``
files byte for byte, and the ``runs`` rows value for value (all but ``wall_seconds``).

A change that is *meant* to move results (a model issue) records them anew and says
so in its commit::

    .venv/bin/python -m tests.golden --record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

import sim

HERE = Path(__file__).resolve().parent
DIGESTS = HERE / "golden_digests.json"
SEED = 3
# small enough to run every story × setup in the default suite, large enough to exercise
# every mechanism the stories ship (live streams, rush orders, presale, forward stock)
OVERRIDES = ["market.n_consumers=6000"]
SETUPS = ("rigid", "flexible")


def stories() -> list[str]:
    """Every shipped story, by file name."""
    return sorted(p.stem for p in (HERE.parent / "scenarios" / "story").glob("*.yaml"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs_digest(runs: pd.DataFrame) -> str:
    """A digest of the ``runs`` rows with ``wall_seconds`` dropped (floats by their repr)."""
    rows = runs.drop(columns="wall_seconds").to_dict(orient="records")
    text = json.dumps(rows, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def digest_case(story: str, setup: str, workdir: Path) -> dict[str, str]:
    """Run one story × setup at the golden seed and digest its three tables."""
    cfg = sim.compose(story, [f"setup={setup}", *OVERRIDES])
    out = workdir / f"{story}-{setup}"
    sim.run(cfg, seed=SEED).write(out)
    return {
        "timeseries": _sha(out / "timeseries.parquet"),
        "events": _sha(out / "events.parquet"),
        "runs": runs_digest(pd.read_parquet(out / "runs.parquet")),
    }


def record() -> dict[str, dict[str, str]]:
    """Digest every case and store the result in ``golden_digests.json``."""
    out: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for story in stories():
            for setup in SETUPS:
                out[f"{story}/{setup}"] = digest_case(story, setup, Path(tmp))
                print(f"{story}/{setup}", file=sys.stderr)
    DIGESTS.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--record", action="store_true", help="record the digests anew")
    if ap.parse_args().record:
        record()
        print(f"wrote {DIGESTS}")
    else:
        ap.print_help()
