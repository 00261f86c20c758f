"""``python -m benchmarks.ab --before REV --callgrind``: the instructions of ``sim.run`` alone,
counted by valgrind's callgrind on both trees (``benchmarks.ab_callgrind``).

Real valgrind, quick sizes (2,000 consumers × 48 hours); each process under valgrind takes
≈ 10-20 s (its imports run uninstrumented). These tests skip only when valgrind, its
annotator, a C compiler or its header is missing, with the reason; the message for that
case is tested without valgrind (an empty PATH)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import ab_callgrind as cg
from benchmarks.ab import export
from benchmarks.suite import ROOT
from tests.conftest import ab

LACKING = cg.missing()
# under valgrind: ≈ 1.5 minutes for the four tests on a quiet machine, 5 at load 4
VALGRIND_MARKS = (
    pytest.mark.skipif(LACKING is not None, reason=f"{LACKING}"),
    pytest.mark.slow,
    pytest.mark.xdist_group("callgrind"),
)


def needs_valgrind(test):
    for mark in VALGRIND_MARKS:
        test = mark(test)
    return test


# the same code twice: within this fraction (measured: ≈ 50-300 instructions of 55M at
# these sizes, 0.0005 %; 1M × 60 d: see docs/performance.md, "Instructions side by side")
SAME = 1e-4
# appended to sim/result.py of the ``bad`` tree: sim.run does 200,000 additions first
EXTRA = """

_run = run


def run(*args, **kwargs):  # noqa: F811
    sum(range(200_000))
    return _run(*args, **kwargs)
"""


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    """Task ``quiet`` (quick) counted on three trees of this checkout's HEAD side by side:
    ``old`` and ``new`` identical, ``bad`` with ``sim.run`` doing extra work first."""
    tmp = tmp_path_factory.mktemp("callgrind")
    work = tmp / "work"
    work.mkdir()
    helper = cg.build_helper(work)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        # the warm-up caches the bytecode even where the environment says not to
        mp.setenv("PYTHONDONTWRITEBYTECODE", "1")
        for name in ("old", "new", "bad"):
            out[name] = _count(name, tmp, helper, work)
    return out


def _count(name: str, tmp: Path, helper: Path, work: Path) -> dict:
    """Task ``quiet`` (quick) on HEAD exported into ``tmp/name`` (``bad``: with EXTRA)."""
    (tmp / name).mkdir()
    tree = export("HEAD", tmp / name)
    if name == "bad":
        with (tree / "sim" / "result.py").open("a") as f:
            f.write(EXTRA)
    got = cg.measure("quiet", tree, True, helper, work, name)
    got["tree"] = tree
    return got


@needs_valgrind
def test_the_same_tree_twice_gives_the_same_count(counted):
    old, new = counted["old"], counted["new"]
    # sim.run alone: ≈ 55M at these sizes; the imports and the composition (≈ 5.6G) are
    # not counted
    assert 1_000_000 < old["run_ir"] < 500_000_000
    # the warm-up cached the tree's bytecode before the count
    assert list((old["tree"] / "sim" / "agents" / "__pycache__").glob("*.pyc"))
    assert abs(new["run_ir"] - old["run_ir"]) <= SAME * old["run_ir"], (old, new)
    med_old, med_new = old["quiet_hour_median_ir"], new["quiet_hour_median_ir"]
    assert med_old > 10_000 and abs(med_new - med_old) <= SAME * med_old
    assert old["demand_units"] == new["demand_units"]


@needs_valgrind
def test_extra_work_in_sim_run_gives_more_instructions(counted):
    old, bad = counted["old"], counted["bad"]
    # 200,000 additions in C: millions of instructions, far above the noise
    assert bad["run_ir"] - old["run_ir"] > 1_000_000
    # the hours stepped alone do not call sim.run: the quiet hours move only by the memory
    # layout of a changed module (measured: 234 of 124k instructions, 0.2 %)
    assert abs(bad["quiet_hour_median_ir"] - old["quiet_hour_median_ir"]) <= (
        0.01 * old["quiet_hour_median_ir"]
    )


@needs_valgrind
def test_every_quiet_hour_is_one_dump(counted, tmp_path):
    from benchmarks.worker import TASKS

    # the warm-up's rule, natively: which hours had no flow
    task = {"kind": "callgrind", "of": "quiet", "overrides": cg._overrides("quiet", True)}
    quiet = TASKS["callgrind"](task)["quiet_hours"]
    assert 0 < sum(quiet) < len(quiet)
    assert len(counted["old"]["quiet_hours_ir"]) == sum(quiet)


@needs_valgrind
def test_before_and_after_in_instructions(tmp_path):
    """The command: a table of instructions and the functions that changed, the JSON."""
    out = tmp_path / "ab.json"
    args = ["--before", "HEAD", "--callgrind", "--only", "workshop", "--quick", "--top", "3"]
    proc = ab(*args, out=out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "callgrind" and report["env"]["OMP_NUM_THREADS"] == "1"
    assert [(r["task"], r["measure"]) for r in report["rows"]] == [
        ("workshop", "sim.run, instructions")
    ]
    for side in ("before", "after"):
        (m,) = report["raw"]["workshop"][side]
        # sim.run alone (≈ 55M), not the imports and the composition (≈ 5.6G)
        assert 1_000_000 < m["run_ir"] < 500_000_000 and "profile" not in m
    assert len(report["top"]["workshop"]) <= 3
    assert report["table"] in proc.stdout


def test_without_valgrind_it_says_what_is_missing(tmp_path):
    """No valgrind on PATH: one line naming it and how to install it, exit 2, nothing
    written (checked before the revision is exported)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "ab.json"
    proc = ab("--before", "HEAD", "--callgrind", out=out, env={"PATH": str(empty)}, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "--callgrind needs valgrind: valgrind and callgrind_annotate not found" in proc.stderr
    assert "apt-get install valgrind" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--only", "cli"], "--only: task 'cli' is not counted by --callgrind"),
        (["--only", "nope"], "--only: task 'nope' unknown"),
        (["--rounds", "0"], "--rounds: 0"),
        (["--top", "-1"], "--top: -1"),
    ],
)
def test_bad_input_with_callgrind(args, needle, tmp_path):
    proc = ab("--before", "HEAD", "--callgrind", *args, out=tmp_path / "x.json", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.json").exists()


def test_the_annotators_functions_are_summed_by_name(tmp_path, monkeypatch):
    """``functions``: a function's self cost over its files and objects, by name (the
    annotator's "events annotated" line, printed where it found sources, left out)."""
    text = (
        "--------\n"
        "1,000 (100.0%)  PROGRAM TOTALS\n"
        "--------\n"
        "  600 (60.00%)  /src/Python/ceval.c:_PyEval_EvalFrameDefault [/lib/libpython3.12.so]\n"
        "  200 (20.00%)  /src/Python/generated_cases.c.h:_PyEval_EvalFrameDefault\n"
        "  150 (15.00%)  ???:std::vector<int>::push_back(int const&) [/lib/libarrow.so]\n"
        "   50 ( 5.00%)  PyErr_Occurred\n"
        "  120 (12.00%)  events annotated\n"  # (the annotator's summary, not a function)
        "--------\n"
        "-- Auto-annotated source: /src/sim/_draws.c\n"
        "--------\n"
        "  300 (30.00%)      found += region[i] == r;\n"  # a source line, not a function
        "  400 (40.00%)  => ???:pcg64_uint32 (304,324x)\n"  # a call line, not a function
    )
    asked = []

    def fake_run(*args, **kwargs):
        asked.append(args[0])
        return subprocess.CompletedProcess(args, 0, stdout=text, stderr="")

    monkeypatch.setattr(cg.subprocess, "run", fake_run)
    got = cg.functions("x")
    assert "--auto=no" in asked[0]  # the function table only
    assert got == {
        "_PyEval_EvalFrameDefault": 800,
        "std::vector<int>::push_back(int const&)": 150,
        "PyErr_Occurred": 50,
    }


def test_the_working_tree_is_copied_beside_the_revision(tmp_path):
    """The *after* side is this checkout's files copied into a directory whose name has the
    length of the revision's (``old``, ``new``): the same paths' lengths on both sides."""
    tree = cg.snapshot(tmp_path / "new")
    for rel in ("sim/model.py", "benchmarks/ab_callgrind.py", "pyproject.toml"):
        assert (tree / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert not (tree / "benchmarks" / "results").exists()
    assert not list(tree.rglob("__pycache__")) and not (tree / ".git").exists()
