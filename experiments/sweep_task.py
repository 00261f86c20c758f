"""The Hydra task function of a sweep: one job = one or a few ``sim.run(config, seed)``.

It runs inside a launcher's worker (a joblib/loky process, a submitit job on a SLURM node, a
Ray actor), so it keeps no module-level state: joblib reuses worker processes between jobs.
Hydra configures logging per job in the worker (``hydra/job_logging``), so records reach the
job's log file under ``<sweep_dir>/logs/``. A run that raises is recorded in the ``runs``
table with status ``failed`` and its error; it never stops the other jobs.

The same task serves every sweeper. Under viralchain's sweeper a job is one run or a batch of
replications; under a sampling sweeper (``hydra/sweeper=optuna``) a job is one trial: the
config's ``optimise`` node (set by an optimisation sweep file) names the objectives and the
replications, the task runs the trial's policy on replications ``0..N-1`` (the same demand
for every trial: common random numbers) and returns the mean of each objective.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# set by the launching process while it launches: its workers die with it
PARENT_ENV = "VIRALCHAIN_LAUNCHER_PID"
# set by a worker to its own pid once it has frozen what it imported (freeze_worker)
FROZEN_ENV = "VIRALCHAIN_WORKER_FROZEN"
# the optimisation node of a config (not part of the model's config: removed before
# validation); ``objectives`` (KPI names) and ``replications`` (runs per trial)
OPTIMISE_KEY = "optimise"
_PR_SET_PDEATHSIG = 1


def die_with_parent(launcher_pid: int | None = None) -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``), so no
    worker outlives the launch that started it; if ``launcher_pid`` (the launching
    process) is already gone, exit now. Returns whether it is armed."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent or (launcher_pid and not _alive(launcher_pid)):
        os._exit(1)  # the launch died before we armed: follow it now
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def arm_at_start(launcher_pid: int) -> None:
    """The initializer of a joblib/loky worker of a launch (see
    :func:`experiments.sweep.arm_loky_workers`): runs as the worker starts, before it imports
    its first job's code, so a launcher killed while its workers start, import, or wait for
    a job leaves none behind. The worker's parent is the launcher: a worker whose parent is
    already someone else was orphaned before it could arm, and exits now.

    It also turns the garbage collector off until the worker's first job freezes what it
    imported (:func:`freeze_worker`), as the ``viralchain`` command does for its own imports:
    the first job's code (Hydra, pandas, pyarrow, pydantic: ≈ 110,000 objects) makes almost
    no garbage, yet its imports and Hydra's set-up of the job set off full collections over
    everything imported so far, and the freeze then collected once more: ≈ 0.3–0.5 s of the
    worker's way to its first run, measured on two shared cores, where the command's own
    first run pays none of it."""
    if os.getppid() != launcher_pid:
        os._exit(1)
    gc.disable()
    die_with_parent(launcher_pid)


def arm_worker() -> bool:
    """Arm :func:`die_with_parent` in a worker the launching process started itself (a
    joblib/loky worker, a submitit local job): its parent is the launcher named by
    ``VIRALCHAIN_LAUNCHER_PID``. Not in the launcher itself (one worker: jobs run in it) nor
    in a process something else started (a SLURM task, whose parent is SLURM's)."""
    if not launched_worker():
        return False
    return die_with_parent(int(os.environ[PARENT_ENV]))


def launched_worker() -> bool:
    """Whether this process is a worker the launching process started itself (a joblib/loky
    worker, a submitit local job): its parent is the launcher named by
    ``VIRALCHAIN_LAUNCHER_PID``."""
    launcher = os.environ.get(PARENT_ENV, "")
    return launcher.isdigit() and os.getppid() == int(launcher)


def freeze_worker() -> bool:
    """In a launched worker (:func:`launched_worker`), at its first job: move everything
    that lives (its imports, Hydra's state) out of the garbage collector's sight
    (``gc.freeze``) and turn the collector on. Returns whether it froze. A loky worker
    had the collector off since it started (:func:`arm_at_start`) and freezes at once (what
    its imports left as garbage, ≈ 1,500 objects, is frozen with them); a worker that
    imported with the collector on (a submitit local job) collects its garbage first.

    A loky worker imports pandas, pyarrow, pydantic, Hydra and Mesa before its first run:
    ≈ 110,000 objects that the full collections during its runs looked through each time
    (≈ 0.1 s each, six per 50 runs of 10,000 consumers: ≈ 12 ms a run). Frozen, they are
    never looked at again; what a run makes is collected as before. Not in the launching
    process (one worker: jobs run in the ``viralchain`` command, which freezes its own
    imports) nor in a caller of the task that owns its process (tests, notebooks). Once per
    worker: its environment says so (``VIRALCHAIN_WORKER_FROZEN``, this process's pid: a
    freeze count would not, since the interpreter starts with objects frozen), so no module
    state; freezing again would keep a job's configuration, garbage after the job, forever."""
    me = str(os.getpid())
    if not launched_worker() or os.environ.get(FROZEN_ENV) == me:
        return False
    if gc.isenabled():  # a worker that imported with the collector on (a submitit local job)
        gc.collect()
    gc.freeze()  # what lives: a loky worker's imports (made with the collector off since
    # arm_at_start), or a submitit local job's once its garbage is collected above
    gc.enable()
    os.environ[FROZEN_ENV] = me
    return True


def enter_worker() -> bool:
    """What every job does first, whoever runs it (:func:`run_job`, the optimiser's confirm
    stage: :func:`experiments.optimise._run_in_worker`): in a worker the launching process
    started itself, arm :func:`die_with_parent` (:func:`arm_worker`) and, at its first job,
    freeze what it imported and turn the collector on (:func:`freeze_worker`; a loky worker
    of a launch has had it off since it started, :func:`arm_at_start`). Elsewhere nothing.
    Returns whether this job froze its worker."""
    arm_worker()
    return freeze_worker()


def run_job(cfg: DictConfig) -> list[dict[str, Any]]:
    """Run one launcher job of a sweep and write its files into the sweep directory.

    A job holds one run, or several runs that differ only in their replication (the key
    ``viralchain_replications`` lists them; see :func:`experiments.sweep_plan.batches`): the
    config is composed once and each replication runs in turn.

    Returns:
        per run ``{"run_id", "status", "error", "wall_seconds"}``; status is ``ok``,
        ``failed``, or ``skipped`` (already finished in an earlier launch).
    """
    from hydra.core.hydra_config import HydraConfig

    from experiments import sweep_store as store
    from experiments.sweep_plan import BATCH_KEY

    # a job log that cannot be written (disk full) must not print tracebacks: the run's
    # own outcome (its files, or its failure) is what counts
    logging.raiseExceptions = False
    enter_worker()
    hc = HydraConfig.get()
    sweep_dir = Path(hc.sweep.dir)
    spec = store.SweepSpec.load(sweep_dir)
    if spec is None:
        raise RuntimeError(f"{sweep_dir} has no {store.SPEC_FILE}: launch sweeps with viralchain")
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    reps = data.pop(BATCH_KEY, None)
    optimise = data.pop(OPTIMISE_KEY, None)
    choices = {k: v for k, v in OmegaConf.to_container(hc.runtime.choices).items() if v}
    if optimise is not None:
        return _trial(data, choices, sweep_dir, spec, list(hc.overrides.task), optimise)
    if reps is None:
        return [_run_one(data, choices, sweep_dir, spec, " ".join(hc.overrides.task))]
    out = []
    for rep in reps:
        one = {**data, "replication": int(rep)}
        label = " ".join([*hc.overrides.task[:-1], f"replication={rep}"])
        out.append(_run_one(one, choices, sweep_dir, spec, label))
    return out


def _run_one(data, choices, sweep_dir: Path, spec, label: str) -> dict[str, Any]:
    from experiments import sweep_store as store
    from experiments.sweep_plan import MARKERS, param_values, run_seed
    from sim.config import validate
    from sim.result import make_run_id, run

    config = validate(data)
    seed = run_seed(config)
    run_id = make_run_id(config.config_hash(), seed)
    # from the validated config, as the plan reads them: a YAML ``1`` for a float field is
    # 1.0 here, so every file of a column has the same type (one readable dataset)
    params = param_values(config.to_dict(), choices, spec.params)
    if store.verify_run(sweep_dir, config.meta.story, config.meta.setup, run_id) == "ok":
        log.info("run %s already done: skipped", run_id)
        return {"run_id": run_id, "status": "skipped", "error": "", "wall_seconds": 0.0}
    log.info("run %s: %s (seed %d)", run_id, label, seed)
    marker = sweep_dir / MARKERS / run_id  # in flight: the launcher's record if we die
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(str(os.getpid()))
    t0 = time.perf_counter()
    try:
        result = run(config, seed)
    except Exception as exc:  # failure isolation: record it, let the others run
        wall = time.perf_counter() - t0
        error = f"{type(exc).__name__}: {exc}"
        log.error("run %s failed: %s", run_id, error)
        log.info("traceback of run %s:\n%s", run_id, traceback.format_exc())
        platforms = spec.platforms or ()
        store.write_failed(sweep_dir, config, seed, error, wall, spec.sweep_id, params, platforms)
        marker.unlink(missing_ok=True)
        return {"run_id": run_id, "status": "failed", "error": error, "wall_seconds": wall}
    store.write_run(sweep_dir, result, spec.sweep_id, params, spec.platforms or ())
    marker.unlink(missing_ok=True)
    log.info(
        "run %s ok in %.2fs (worker pid %d, parent %d)",
        run_id,
        result.wall_seconds,
        os.getpid(),
        os.getppid(),
    )
    return {"run_id": run_id, "status": "ok", "error": "", "wall_seconds": result.wall_seconds}


def _trial(
    data: dict[str, Any],
    choices: dict[str, Any],
    sweep_dir: Path,
    spec: Any,
    overrides: list[str],
    optimise: dict[str, Any],
) -> list[float]:
    """One trial of a sampling sweeper: the policy on replications ``0..N-1``; the mean of
    each objective over them (raises when a run failed: the trial fails)."""
    import math

    from sim.kpis import BY_NAME

    objectives = list(optimise.get("objectives") or [])
    unknown = [k for k in objectives if k not in BY_NAME]
    if not objectives or unknown:
        raise ValueError(
            f"optimise.objectives = {objectives!r}: must be a list of KPI names "
            f"(viralchain list kpis)"
        )
    # a two-stage study screens each trial on its first screen_replications
    # (experiments.optimise.confirm runs the leading trials' other replications)
    n = int(optimise.get("screen_replications") or optimise.get("replications", 1))
    label = " ".join(o for o in overrides if not o.startswith(("replication=", "+optimise")))
    values: dict[str, list[float]] = {k: [] for k in objectives}
    for rep in range(n):
        one = {**data, "replication": rep}
        got = _run_one(one, choices, sweep_dir, spec, f"{label} replication={rep}")
        if got["status"] == "failed":
            raise RuntimeError(f"run {got['run_id']} failed: {got['error']}")
        kpis = store_kpis(sweep_dir, one, got["run_id"])
        for k in objectives:  # an undefined KPI (no demand: no fill rate) is NaN
            values[k].append(float("nan") if kpis[k] is None else float(kpis[k]))
    means = [sum(v) / len(v) for v in values.values()]
    shown = dict(zip(objectives, means, strict=True))
    if any(math.isnan(m) for m in means):
        raise ValueError(f"an objective is not a number: {shown}")
    log.info("trial %s: %s", label, shown)
    return means


def store_kpis(sweep_dir: Path, data: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The main brand's KPIs of a finished run, read back from its ``runs`` file."""
    import pyarrow.parquet as pq

    from experiments import sweep_store as store
    from sim.config import validate

    config = validate(data)
    path = store.run_file(sweep_dir, "runs", config.meta.story, config.meta.setup, run_id)
    return pq.read_table(path).to_pylist()[0]
