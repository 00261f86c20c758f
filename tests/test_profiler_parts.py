"""The phase profiler's split of what used to be one "other" phase (benchmarks/profiler.py):
the build, the graph look-ups, the step's glue, Mesa's event loop and the KPIs each get
their own phase, nested calls still go to the innermost, and the phases add up to the run.
Each earlier phase keeps what it had: the shares a post adds to the hour's batch
(``PendingShares.add``, inside the KOLs' broadcasts) stay *content*'s; only the batch's
look-ups (``PendingShares.resolve``, from the model's step) are *graph look-ups*.
"""

from __future__ import annotations

from benchmarks.profiler import GLUE, PHASES
from tests.conftest import python


def test_the_glue_phases_are_listed_before_other():
    assert PHASES[-1] == "other"
    assert set(GLUE) <= set(PHASES)
    assert PHASES[: len(PHASES) - len(GLUE) - 1] == (
        "content",
        "consumers",
        "brands",
        "factories",
        "warehouses",
        "carriers",
        "recording",
    )


def test_a_run_charges_every_glue_phase_and_the_phases_add_up():
    code = (
        "import time, sim\n"
        "from benchmarks.profiler import GLUE, instrument\n"
        "prof = instrument()\n"
        "import sim.model, sim.result, sim.metrics\n"
        "from sim.content import PendingShares\n"
        "wrapped = lambda f: hasattr(f, '__wrapped__')\n"
        "M = sim.model.ViralChainModel\n"
        "assert wrapped(M.__init__) and wrapped(M.step) and wrapped(M._advance_time)\n"
        "assert wrapped(PendingShares.resolve) and wrapped(sim.model.cross_excite)\n"
        "assert not wrapped(PendingShares.add)  # content's, inside Kol.broadcast\n"
        "assert wrapped(sim.metrics.brand_totals) and wrapped(sim.result.events_frame)\n"
        "cfg = sim.compose(None, ['market.n_consumers=3000', 'run.horizon_hours=96'])\n"
        "prof.reset()\n"
        "t = time.perf_counter()\n"
        "r = sim.run(cfg, seed=1)\n"
        "s = prof.snapshot()\n"
        "total = time.perf_counter() - t\n"
        "assert all(s[p] > 0 for p in GLUE), s\n"
        "assert sum(s.values()) <= total * 1.01, (s, total)\n"
        "plain = sim.run(cfg, seed=1)\n"
        "assert repr(r.kpis) == repr(plain.kpis) and r.timeseries.equals(plain.timeseries)\n"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
