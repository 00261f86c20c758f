"""Sweeps: Hydra multiruns that resume, isolate failures and show their progress.

``viralchain run -m key=a,b ...``, ``viralchain sweep NAME`` and ``viralchain resume DIR``
all end in :func:`launch`, which runs Hydra's own multirun (``hydra.main``, the public entry
point) on viralchain's configs. The primary config selects viralchain's sweeper plugin
(``hydra/sweeper=viralchain``, in ``hydra_plugins/viralchain_sweeper``), whose loop is
:func:`sweep_with`: it expands the overrides as Hydra's basic sweeper does, plans every job
(:mod:`experiments.sweep_plan`: composed, validated, identified by run id) and hands the jobs
that are not finished yet to the configured Hydra launcher (joblib by default; submitit or
Ray beyond one machine). That is the basic sweeper's loop with what Hydra lacks: finished
runs are skipped (resume), every job is validated before anything is written (exit 2), and a
progress line reports done / failed / remaining, elapsed time and time left while the
launcher runs. Each job runs :func:`experiments.sweep_task.run_job`; the files it writes are
the sweep's results (:mod:`experiments.sweep_store`), so a killed sweep loses only its
unfinished runs. Another sweeper (``hydra/sweeper=optuna`` or ``basic``) runs the same task
into the same kind of directory (:func:`_prepare_other`).

A sweep directory is data: the overrides ``resume`` replays from ``sweep.json`` pass the
same checks as a command line's (:mod:`experiments.overrides`: nothing that names code).
One launch at a time holds a directory (``.lock``); finished runs are verified file by file
before they are skipped; a worker that dies does not stop the launch (:func:`_run`); and no
worker outlives the launching process (:func:`experiments.sweep_task.die_with_parent`).

Only public Hydra interfaces are used: ``hydra.main``, the ``Sweeper`` plugin interface,
``Plugins.instantiate_launcher``, the ``ConfigLoader`` interface, the override parser and
``JobReturn.return_value``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from experiments import sweep_store as store
from experiments.exits import EXIT_FAILED, EXIT_USAGE, os_reason, safe_name, unusable_dir
from experiments.sweep_plan import (
    MARKERS,
    Job,
    Plan,
    expand,
    launch_jobs,
    make_plan,
    override_key,
)
from experiments.sweep_progress import Progress
from sim.errors import ConfigError

DEFAULT_ROOT = Path("outputs/sweeps")

# hydra overrides viralchain adds unless the command line sets them; an optimisation study
# (``+optimise=NAME``) chooses its own sweeper (optuna) in its file, so it gets none
DEFAULT_HYDRA = {
    "hydra/sweeper": "viralchain",
    "hydra/launcher": "joblib",
    "hydra/hydra_logging": "viralchain",
    "hydra/job_logging": "viralchain",
}
OUR_SWEEPER = "hydra_plugins.viralchain_sweeper.viralchain_sweeper.ViralchainSweeper"


class UsageError(ValueError):
    """A command line that cannot work (exit 2)."""


class SweeperError(RuntimeError):
    """A sweeper other than viralchain's stopped the launch (exit 1); the runs it finished
    are in the sweep directory."""


# ----------------------------------------------------------------------------- overrides


def _is_hydra(override: str) -> bool:
    key = override_key(override)
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def normalise(
    overrides: Sequence[str], replications: int | None = None, n_jobs: int | None = None
) -> tuple[list[str], list[str]]:
    """Split overrides into (task, hydra) and apply the sweep-level options.

    ``sweep=NAME`` becomes ``+sweep=NAME`` (a sweep file is not in the primary defaults);
    ``replications=N`` becomes ``replication=range(0,N)``; ``n_jobs`` sets
    ``hydra.launcher.n_jobs``.
    """
    from experiments.overrides import check, config_groups

    check(overrides, config_groups())
    task, hyd = [], []
    for o in overrides:
        if "=" not in o:
            raise UsageError(f"override {o!r} is not key=value (see viralchain run --help)")
        if o.startswith(("sweep=", "optimise=")):
            o = "+" + o
        (hyd if _is_hydra(o) else task).append(o)
    if replications is not None:
        if replications < 1:
            raise UsageError(f"--replications = {replications}: must be at least 1")
        if any(override_key(o) == "replication" for o in task):
            raise UsageError("give either --replications N or replication=..., not both")
        task.append(f"replication=range(0,{replications})")
    if n_jobs is not None:
        if n_jobs == 0 or n_jobs < -1:
            raise UsageError(f"--jobs = {n_jobs}: must be at least 1 (or -1: all cores)")
        hyd = [o for o in hyd if override_key(o) != "hydra.launcher.n_jobs"]
        hyd.append(f"hydra.launcher.n_jobs={n_jobs}")
    return task, hyd


def sweep_name(task: Sequence[str]) -> str:
    """A default sweep name: the sweep file's name, or ``adhoc-<hash of the overrides>``."""
    for o in task:
        if override_key(o) == "sweep":
            return o.split("=", 1)[1]
        if override_key(o) == "optimise":
            return "optimise_" + o.split("=", 1)[1]
    stable = sorted(o for o in task if override_key(o) != "replication")
    return "adhoc-" + hashlib.sha256("\n".join(stable).encode()).hexdigest()[:8]


def _quote(text: str) -> str:
    """A Hydra override value quoted (paths may hold commas, spaces or '=')."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ----------------------------------------------------------------------------- launch


@dataclass
class Outcome:
    """What a launch did."""

    sweep_dir: Path
    name: str
    total: int
    done_before: int
    ran: int
    ok: int
    failed: dict[str, tuple[Job, str]] = field(default_factory=dict)
    missing: list[Job] = field(default_factory=list)
    launcher_error: str = ""
    worker_deaths: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    plan: Plan | None = None
    master: Any = None

    @property
    def exit_code(self) -> int:
        """0 when every run of the sweep is finished and ok, else 1."""
        return 0 if self.ok == self.total else 1


@dataclass
class Request:
    """What :func:`launch` asks of the sweeper (found by the sweep directory); a Hydra app
    run with ``hydra/sweeper=viralchain`` outside :func:`launch` gets the defaults."""

    name: str
    stamp: str
    task: list[str] = field(default_factory=list)
    user_hydra: list[str] = field(default_factory=list)
    stream: TextIO | None = None
    outcome: Outcome | None = None
    lock: Any = None
    error: Exception | None = None  # raised by the callback (Hydra only warns about it)


_REQUESTS: dict[str, Request] = {}


def launch(
    overrides: Sequence[str],
    out: str | Path | None = None,
    *,
    replications: int | None = None,
    n_jobs: int | None = None,
    verbose: bool = False,
    stream: TextIO | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Plan and run a sweep (resuming it if its directory holds finished runs).

    Args:
        overrides: Hydra overrides; sweeps as ``key=a,b``, ``key=range(0,5)``,
            ``story=glob(*)``; ``sweep=NAME`` picks ``scenarios/sweep/NAME.yaml``;
            ``hydra/launcher=...`` and ``hydra.launcher.*`` choose and tune the launcher,
            ``hydra/sweeper=...`` the sweeper (default ``viralchain``; ``optuna``, ``basic``).
        out: the sweep directory (default ``outputs/sweeps/<sweep name>``).
        replications: run ``replication=0..N-1`` (each replication derives its own seed).
        n_jobs: parallel workers (``hydra.launcher.n_jobs``).
        verbose: Hydra's own INFO logging (each job's overrides) instead of warnings only.
        stream: where progress lines go (default: ``sys.stderr`` at the time of the call).
        dry_run: plan only (every job composed and validated): ``outcome.plan`` holds the
            jobs and ``outcome.master`` Hydra's master config; nothing is written.

    Raises:
        ConfigError: a job's config is invalid (nothing is written).
        UsageError: the options contradict each other or the directory holds another sweep.
    """
    stream = sys.stderr if stream is None else stream  # at call time: tests swap sys.stderr
    task, hyd = normalise(overrides, replications, n_jobs)
    for o in [o for o in hyd if override_key(o) == "hydra.sweep.dir"]:  # the same as --out
        hyd.remove(o)
        out = out if out is not None else o.split("=", 1)[1].strip("'\"")
    name = sweep_name(task)
    sweep_dir = Path(out) if out is not None else DEFAULT_ROOT / safe_name(name)
    sweep_dir = sweep_dir.resolve()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    user_hydra = list(hyd)
    chosen = {override_key(o) for o in hyd}
    study = any(override_key(o) == "optimise" for o in task)
    for key, value in DEFAULT_HYDRA.items():
        if key in chosen or (verbose and key == "hydra/hydra_logging"):
            continue
        if not (study and key == "hydra/sweeper"):
            hyd.append(f"{key}={value}")
    hyd += [
        f"hydra.sweep.dir={_quote(str(sweep_dir))}",
        f"hydra.sweep.subdir={_quote('logs/' + stamp + '/${hydra.job.num}')}",
        "hydra.job.name=run",
    ]
    if dry_run:
        hyd.append("hydra.sweeper.dry_run=true")
    request = Request(name, stamp, list(task), user_hydra, stream)
    _REQUESTS[str(sweep_dir)] = request
    try:
        run_hydra_multirun([*hyd, *task])
        if request.lock is not None and request.error is None:  # another sweeper's launch
            from experiments.optimise import confirm

            confirm(sweep_dir, stream)  # a two-stage study's second stage (else nothing)
    except SweeperError:
        if request.error is None:
            raise
    except _Refused:  # request.error is raised below
        pass
    finally:
        _REQUESTS.pop(str(sweep_dir), None)
        if request.lock is not None:  # another sweeper's launch (see _prepare_other)
            request.lock.__exit__(None, None, None)
    if request.error is not None:  # the directory was refused: the sweeper could not run
        raise request.error
    if request.outcome is None:  # another sweeper: the outcome is what the files say
        request.outcome = _outcome_from_files(sweep_dir, name)
    return request.outcome


def run_hydra_multirun(overrides: list[str]) -> None:
    """Hydra's multirun (``hydra.main``, as ``app.py -m OVERRIDES``) on viralchain's configs,
    with :func:`experiments.sweep_task.run_job` as the task. Hydra's errors are raised (not
    printed): composition errors become :class:`ConfigError`."""
    import hydra

    from experiments.compose import hydra_error, scenarios_dir
    from experiments.sweep_task import run_job
    from hydra_plugins.viralchain_sweeper.viralchain_sweeper import register

    register()  # an editable install hides the plugin from Hydra's scan
    main = hydra.main(config_path=str(scenarios_dir()), config_name="config", version_base="1.3")
    saved_argv, saved_env = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = ["viralchain", "--multirun", *overrides]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's switch: raise errors instead of printing
    try:
        main(run_job)()
    except (ConfigError, UsageError, store.SweepDirError, OSError):
        raise
    except Exception as exc:
        from hydra.errors import (
            ConfigCompositionException,
            MissingConfigException,
            OverrideParseException,
        )
        from omegaconf.errors import OmegaConfBaseException

        composing = (
            ConfigCompositionException,
            MissingConfigException,
            OverrideParseException,
            OmegaConfBaseException,
        )
        if isinstance(exc, composing):
            raise hydra_error(exc, [o for o in overrides if not _is_hydra(o)]) from None
        # another sweeper gave up (optuna: more failed trials than max_failure_rate)
        raise SweeperError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_env


def sweep_with(sweeper: Any, arguments: list[str]) -> Outcome:
    """The loop of viralchain's sweeper plugin (``hydra/sweeper=viralchain``): plan, check the
    directory, lock it, skip the finished runs, launch the rest."""
    master = sweeper.config
    sweep_dir = Path(master.hydra.sweep.dir).resolve()
    request = _REQUESTS.get(str(sweep_dir))
    if request is None:  # a Hydra app outside viralchain's command line
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        request = Request(sweep_dir.name, stamp, list(arguments), [], sys.stderr)
    stream = request.stream or sys.stderr
    _check_launcher(master)
    plan = _plan(master, sweeper.config_loader, sweeper.params, arguments)
    if sweeper.dry_run:
        request.outcome = Outcome(sweep_dir, request.name, len(plan.jobs), 0, 0, 0)
        request.outcome.plan, request.outcome.master = plan, master
        return request.outcome
    _check_spec(sweep_dir, plan)  # before anything is made: a foreign or damaged directory
    problem = unusable_dir(sweep_dir, "--out")
    if problem:
        raise UsageError(problem)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with store.locked(sweep_dir):
        spec = _check_spec(sweep_dir, plan)  # again under the lock: the last launch's record
        store.remove_temporaries(sweep_dir)  # left by a killed launch
        _clear_markers(sweep_dir)
        outcome = _launch_locked(sweeper, master, plan, spec, sweep_dir, request, stream)
    outcome.plan = plan
    request.outcome = outcome
    return outcome


def _check_launcher(master: Any) -> None:
    """A launcher that cannot start here is a usage error (exit 2), found before anything is
    written: the SLURM launcher needs SLURM's ``srun`` on PATH."""
    import shutil

    target = str(master.hydra.launcher.get("_target_", ""))
    if "SlurmLauncher" in target and shutil.which("srun") is None:
        raise UsageError(
            "hydra/launcher = 'submitit_slurm': SLURM's srun is not on PATH (not a SLURM "
            "node): run it on a SLURM login node, or try the sweep here with "
            "hydra/launcher=submitit_local"
        )


def _launch_locked(
    sweeper: Any,
    master: Any,
    plan: Plan,
    spec: store.SweepSpec,
    sweep_dir: Path,
    request: Request,
    stream: TextIO,
) -> Outcome:
    status = {job.run_id: _verified(sweep_dir, job) for job in plan.jobs}
    todo = [job for job in plan.jobs if status[job.run_id] != "ok"]
    done_before = len(plan.jobs) - len(todo)
    stream.write(
        f"sweep {request.name}: {len(plan.jobs)} runs, {done_before} already done, "
        f"{len(todo)} to run -> {sweep_dir}\n"
    )
    outcome = Outcome(sweep_dir, request.name, len(plan.jobs), done_before, 0, done_before)
    record: dict[str, Any] = {
        "started": request.stamp,
        "overrides": list(request.task),
        "hydra_overrides": list(request.user_hydra),
        "runs": len(plan.jobs),
        "done_before": done_before,
    }
    from experiments.compose import config_dir

    if config_dir() is not None:  # resume asks for the same --config-dir again
        record["config_dir"] = str(config_dir())
    spec.launches.append(record)
    spec.save(sweep_dir)
    if todo:
        from omegaconf import OmegaConf

        OmegaConf.save(master, sweep_dir / "multirun.yaml")
        if getattr(sweeper, "job_loader", None) is not None:  # the jobs reuse the plan's
            sweeper.job_loader.reuse(master, plan.bases)
        with _workers_know_the_launcher():
            _run(sweeper, master, plan, todo, outcome, stream, spec)
        store.remove_temporaries(sweep_dir)  # a worker killed while writing left one
    _collect(plan, outcome)
    if outcome.launcher_error:
        record["launcher_error"] = outcome.launcher_error
    if outcome.worker_deaths:
        record["worker_deaths"] = outcome.worker_deaths
    record.update(
        ok=outcome.ok,
        failed=len(outcome.failed),
        not_run=len(outcome.missing),
        wall_seconds=round(outcome.wall_seconds, 3),
    )
    spec.save(sweep_dir)
    return outcome


@contextlib.contextmanager
def _workers_know_the_launcher() -> Iterator[None]:
    """Within the block, worker processes started by this one inherit
    ``VIRALCHAIN_LAUNCHER_PID``: a worker whose parent is this process asks Linux to kill it
    when this process dies (:func:`experiments.sweep_task.die_with_parent`); a joblib/loky
    worker as it starts (:func:`arm_loky_workers`), any other at its first job. After the
    block, ``"loky"`` is the backend it was before (a notebook's own ``Parallel`` keeps
    joblib's pool instead of one rebuilt for another initializer at each switch)."""
    from joblib.parallel import BACKENDS, register_parallel_backend

    from experiments.sweep_task import PARENT_ENV

    own = BACKENDS.get("loky")
    arm_loky_workers()
    before = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = before
        if own is not None:  # joblib's own backend again for this process's other uses
            register_parallel_backend("loky", own)


def arm_loky_workers() -> None:
    """Make joblib's ``loky`` backend arm its workers as they start (the initializer
    :func:`experiments.sweep_task.arm_at_start`) when the process that starts them is a
    launch's launcher (``VIRALCHAIN_LAUNCHER_PID`` is its pid); elsewhere it is joblib's own.

    Hydra's joblib launcher (and :mod:`experiments.optimise`) name the backend ``"loky"``, so
    it is registered under that name (joblib's ``register_parallel_backend``). Armed only at
    its first job, a worker still starting when the launcher was killed (importing the job's
    code, or waiting for a job) ran the jobs queued for the dead launch, then idled for
    loky's 300 s, and kept loky's and multiprocessing's resource trackers alive with it."""
    from joblib.parallel import LokyBackend, register_parallel_backend

    from experiments.sweep_task import PARENT_ENV, arm_at_start

    class ArmedLokyBackend(LokyBackend):
        def configure(self, n_jobs: int = 1, parallel: Any = None, **kwargs: Any) -> int:
            me = os.getpid()
            given = "initializer" in kwargs or "initializer" in self.backend_kwargs
            if os.environ.get(PARENT_ENV) == str(me) and not given:
                kwargs.update(initializer=arm_at_start, initargs=(me,))
            return super().configure(n_jobs, parallel, **kwargs)

    register_parallel_backend("loky", ArmedLokyBackend)


def _verified(sweep_dir: Path, job: Job) -> str | None:
    return store.verify_run(sweep_dir, job.story, job.setup, job.run_id)


def _clear_markers(sweep_dir: Path) -> None:
    for marker in (sweep_dir / MARKERS).glob("*"):
        marker.unlink(missing_ok=True)


def plan_sweep(overrides: Sequence[str], replications: int | None = None) -> tuple[Any, Plan]:
    """Hydra's master config and the plan of a sweep, without running or writing anything
    (``launch(..., dry_run=True)``; for tests and tools)."""
    import tempfile

    given = any(override_key(o) == "hydra.sweep.dir" for o in overrides)
    with tempfile.TemporaryDirectory(prefix="viralchain-plan-") as tmp:
        out = None if given else Path(tmp) / "plan"
        outcome = launch(overrides, out, replications=replications, dry_run=True)
    assert outcome.plan is not None
    return outcome.master, outcome.plan


def _plan(master: Any, loader: Any, params: dict[str, str], arguments: list[str]) -> Plan:
    from experiments.compose import hydra_error

    try:
        jobs = expand(loader, params, arguments)
    except Exception as exc:
        raise hydra_error(exc, list(arguments)) from None
    if not jobs:
        raise UsageError(
            f"the sweep has no runs: its overrides expand to nothing ({' '.join(arguments)})"
        )
    plan = make_plan(master, loader, jobs)
    dupes = plan.duplicates()
    if dupes:
        a, b = dupes[0]
        raise UsageError(f"jobs '{a.label()}' and '{b.label()}' are the same run (same config)")
    return plan


def _check_spec(sweep_dir: Path, plan: Plan) -> store.SweepSpec:
    spec = store.SweepSpec.load(sweep_dir)
    if spec is None:
        if sweep_dir.is_dir() and any(p.name != store.LOCK_FILE for p in sweep_dir.iterdir()):
            raise UsageError(
                f"--out = {str(sweep_dir)!r}: not a sweep directory (no {store.SPEC_FILE}) and "
                "not empty: choose a new or empty directory"
            )
        if sweep_dir.exists() and not sweep_dir.is_dir():
            raise UsageError(f"--out = {str(sweep_dir)!r}: exists and is not a directory")
        return store.SweepSpec(
            sweep_id=sweep_dir.name,
            params=plan.params,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            platforms=list(plan.platforms),
        )
    if spec.params != plan.params:
        raise UsageError(
            f"{sweep_dir} holds sweep {spec.sweep_id!r} with parameter columns "
            f"{sorted(spec.params) or 'none'}; this sweep has {sorted(plan.params) or 'none'}:"
            " choose another --out"
        )
    new = [p for p in plan.platforms if p not in (spec.platforms or [])]
    if spec.platforms is not None and new:
        raise UsageError(
            f"{sweep_dir} holds sweep {spec.sweep_id!r} with per-platform columns for "
            f"{spec.platforms or 'no platforms'}; this sweep adds platforms {new}: choose "
            "another --out"
        )
    return spec


def _run(
    sweeper: Any,
    master: Any,
    plan: Plan,
    todo: list[Job],
    outcome: Outcome,
    stream: TextIO,
    spec: store.SweepSpec,
) -> None:
    """Launch the runs to do; survive a dead worker.

    A worker that dies (killed, out of memory, a crash in native code) breaks joblib's pool
    and the launcher raises. The runs that were in flight then (each marks itself in
    ``.running/``) are each launched again alone; one that kills its worker again is
    recorded as failed with the reason, one that completes was collateral damage. The runs
    that had not started are launched again together. So every run ends finished or
    recorded as failed, and none runs twice to completion.
    """
    progress = Progress(
        outcome.name, outcome.sweep_dir, todo, outcome.done_before, outcome.total, stream
    )
    sweep_dir = outcome.sweep_dir
    t0 = time.perf_counter()
    progress.start()
    counter = [0]
    try:
        pending, suspects = list(todo), []
        while pending or suspects:
            if suspects:
                job = suspects.pop(0)
                error = _launch(sweeper, master, [job], outcome, counter)
                if error and _verified(sweep_dir, job) is None:
                    reason = f"the worker process died while running it: {error}"
                    store.write_failed(
                        sweep_dir,
                        job.config,
                        job.seed,
                        reason,
                        0.0,
                        spec.sweep_id,
                        plan.params_of(job),
                        spec.platforms or (),
                    )
                    outcome.failed[job.run_id] = (job, reason)
                _clear_markers(sweep_dir)
                continue
            error = _launch(sweeper, master, pending, outcome, counter)
            if not error:
                break
            unfinished = [j for j in pending if _verified(sweep_dir, j) is None]
            started = [j for j in unfinished if (sweep_dir / MARKERS / j.run_id).exists()]
            _clear_markers(sweep_dir)
            if not started:  # the launcher failed before any run started: give up
                outcome.launcher_error = error
                break
            outcome.worker_deaths.append(error)
            suspects = started
            pending = [j for j in unfinished if j not in started]
    finally:
        progress.stop()
        outcome.wall_seconds = time.perf_counter() - t0


def _launch(sweeper: Any, master: Any, jobs: list[Job], outcome: Outcome, counter: list) -> str:
    """Launch jobs; '' when the launcher returned, else why it stopped."""
    from hydra.core.utils import JobStatus

    launches = launch_jobs(master, jobs, sweeper.runs_per_job)
    batch = sweeper.max_batch_size or len(launches)
    if _runs_jobs_here(sweeper.launcher):  # the command runs the jobs: their tables' modules,
        from experiments import frozen_imports  # imported as the command imports (frozen)

        with frozen_imports.importing():
            import sim.result  # noqa: F401
    try:
        for i in range(0, len(launches), batch):
            chunk = launches[i : i + batch]
            returns = sweeper.launcher.launch(
                [b.overrides for b in chunk], initial_job_idx=counter[0]
            )
            counter[0] += len(chunk)
            for b, ret in zip(chunk, returns, strict=True):
                for job in b.jobs:
                    if ret.status == JobStatus.FAILED:  # raised outside the model (writing)
                        err = _job_error(ret)
                        outcome.failed[job.run_id] = (job, f"{type(err).__name__}: {err}")
                    else:
                        outcome.ran += 1
    except Exception as exc:  # the launcher gave up (e.g. a worker was killed)
        logging.getLogger(__name__).debug("launcher failed", exc_info=True)
        counter[0] += len(launches)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ""


def _runs_jobs_here(launcher: Any) -> bool:
    """Whether the launcher runs the jobs in this process: Hydra's basic launcher, or its
    joblib launcher with one worker (joblib then runs them in the caller). Subclasses count
    as their base; any other launcher (submitit, Ray) runs them elsewhere."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    if isinstance(launcher, BasicLauncher):
        return True
    try:  # loaded already when the launcher is one of its
        from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
    except ImportError:
        return False
    if not isinstance(launcher, JoblibLauncher):
        return False
    from joblib import effective_n_jobs

    n_jobs = (getattr(launcher, "joblib", None) or {}).get("n_jobs", -1)
    return effective_n_jobs(-1 if n_jobs is None else n_jobs) == 1


def _job_error(ret: Any) -> BaseException:
    """The exception of a failed Hydra job (``JobReturn.return_value`` re-raises it)."""
    try:
        _ = ret.return_value
    except Exception as exc:
        return exc
    return RuntimeError("the job failed")


def prepare_other(master: Any) -> None:
    """Prepare the directory for another sweeper (:func:`_prepare_other`); a problem is kept
    for :func:`launch` to raise, since Hydra only warns about a callback's exception: under
    :func:`launch` the sweeper is then stopped before it starts (:class:`_Refused` is not an
    ``Exception``, so it passes Hydra's guard; a sweeper started anyway would write job
    directories, e.g. Optuna's with an in-memory study)."""
    request = _REQUESTS.get(str(Path(master.hydra.sweep.dir).resolve()))
    try:
        _prepare_other(master)
    except (ConfigError, UsageError, store.SweepDirError) as exc:
        if request is None:
            raise
        request.error = exc
        raise _Refused from exc


class _Refused(BaseException):
    """The sweep directory was refused (``Request.error``): the sweeper must not start."""


def _prepare_other(master: Any) -> None:
    """Get the sweep directory ready for another sweeper (optuna, basic): checked, created,
    locked for the launch, with a ``sweep.json`` whose parameter columns are the swept keys
    (the sweeper's ``params`` and the command line's overrides)."""
    from experiments.overrides import config_groups
    from experiments.sweep_plan import RESERVED_KEYS, column_name
    from experiments.sweep_task import OPTIMISE_KEY

    sweep_dir = Path(master.hydra.sweep.dir).resolve()
    request = _REQUESTS.get(str(sweep_dir))
    _check_optimise(master.get(OPTIMISE_KEY), master.hydra.sweeper.get("storage"))
    groups = set(config_groups())
    keys = [override_key(str(k)) for k in (master.hydra.sweeper.get("params") or {})]
    keys += [override_key(o) for o in master.hydra.overrides.task]
    params: dict[str, dict[str, Any]] = {}
    for key in keys:
        if key in RESERVED_KEYS or key.startswith(("hydra", OPTIMISE_KEY)):
            continue
        group = "/" in key or key in groups
        params.setdefault(column_name(key), {"key": key, "group": group, "kind": "native"})
    # the runs' stories are known only as they run: the per-platform columns are those of
    # the launch's base config (its market's platforms)
    market = master.get("market") or {}
    plan = Plan([], params, [str(p) for p in (market.get("platforms") or {})])
    _check_spec(sweep_dir, plan)
    problem = unusable_dir(sweep_dir, "--out")
    if problem:
        raise UsageError(problem)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    lock = store.locked(sweep_dir)
    lock.__enter__()
    if request is not None:
        request.lock = lock  # released by launch() when the sweeper is done
    spec = _check_spec(sweep_dir, plan)
    store.remove_temporaries(sweep_dir)
    stamp = request.stamp if request else datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    spec.launches.append(
        {
            "started": stamp,
            "overrides": list(request.task) if request else [],
            "hydra_overrides": list(request.user_hydra) if request else [],
            "sweeper": str(master.hydra.sweeper.get("_target_", "")),
        }
    )
    spec.save(sweep_dir)
    from omegaconf import OmegaConf

    OmegaConf.save(master, sweep_dir / "multirun.yaml")


def _check_optimise(node: Any, storage: Any = None) -> None:
    """An optimisation study's ``optimise`` node, checked before anything runs (exit 2); a
    two-stage study reads its trials back from the study's ``storage``."""
    if node is None:
        return
    from sim.kpis import NAMES

    problems = []
    objectives = list(node.get("objectives") or [])
    bad = [k for k in objectives if k not in NAMES]
    if not objectives or bad:
        problems.append(
            (
                "optimise.objectives",
                bad[0] if bad else objectives,
                "must be KPI names (viralchain list kpis)",
            )
        )
    reps = node.get("replications", 1)
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        problems.append(("optimise.replications", reps, "must be an integer of at least 1"))
    else:
        from experiments.optimise import check_stages

        problems += check_stages(node, reps)
        if node.get("screen_replications") is not None and not storage:
            problems.append(
                (
                    "hydra.sweeper.storage",
                    storage,
                    "a two-stage study (optimise.screen_replications) needs the study stored "
                    "(e.g. sqlite:///${hydra.sweep.dir}/optuna.db)",
                )
            )
    if problems:
        raise ConfigError(problems)


def _outcome_from_files(sweep_dir: Path, name: str) -> Outcome:
    """What another sweeper's launch left: every run's status from its files."""
    import pyarrow.parquet as pq

    ok, failed = 0, {}
    for path in sorted((sweep_dir / "runs").rglob("*.parquet")) if sweep_dir.is_dir() else []:
        try:
            row = pq.read_table(path, columns=["run_id", "status", "error"]).to_pylist()[0]
            marker = store.ROWS_KEY.encode() in (pq.read_schema(path).metadata or {})
        except Exception:  # unreadable: resume runs it again
            continue
        if row["status"] == "ok" and marker:  # a rival brand's file has no row counts
            ok += 1
        elif row["status"] != "ok":
            failed[row["run_id"]] = (None, row["error"])
    return Outcome(sweep_dir, name, ok + len(failed), 0, ok + len(failed), ok, failed)


def _collect(plan: Plan, outcome: Outcome) -> None:
    """Final statuses from the files (the source of truth)."""
    ok = 0
    for job in plan.jobs:
        path = job.runs_path(outcome.sweep_dir)
        status = _verified(outcome.sweep_dir, job)
        if status == "ok":
            ok += 1
            outcome.failed.pop(job.run_id, None)
        elif status == "failed":
            outcome.failed[job.run_id] = (job, store.run_error(path))
        elif job.run_id not in outcome.failed:
            outcome.missing.append(job)
    outcome.ok = ok


# ----------------------------------------------------------------------------- command line


def summary(outcome: Outcome) -> str:
    """The closing lines of a sweep."""
    ran_now = outcome.total - outcome.done_before
    lines = [
        f"sweep {outcome.name}: {outcome.ok}/{outcome.total} ok, {len(outcome.failed)} failed,"
        f" {len(outcome.missing)} not run ({outcome.done_before} were already done;"
        f" {ran_now} launched in {outcome.wall_seconds:.1f} s)"
    ]
    if outcome.launcher_error:
        lines.append(f"the launcher stopped: {outcome.launcher_error}")
    for death in outcome.worker_deaths:
        lines.append(f"a worker process died ({death}); the runs it held were retried alone")
    if outcome.failed:
        lines.append(f"{len(outcome.failed)} run(s) failed:")
        for rid, (job, error) in outcome.failed.items():
            lines.append(f"  {rid}  {job.label() if job is not None else ''}".rstrip())
            lines.append(f"      {error}")
    if outcome.failed or outcome.missing:
        lines.append(
            f"re-run the same command, or `viralchain resume {outcome.sweep_dir}`, to run only"
            " the failed and missing runs"
        )
    return "\n".join(lines)


def _report_files(outcome: Outcome) -> str:
    lines = [f"wrote {outcome.sweep_dir}/"]
    for table in store.TABLES:
        lines.append(f"  {table:<11} {outcome.sweep_dir / table}/")
    lines.append(f"next: viralchain report {outcome.sweep_dir}")
    return "\n".join(lines)


def execute(
    overrides: Sequence[str],
    out: str | None,
    replications: int | None,
    n_jobs: int | None,
    verbose: bool,
) -> int:
    """Launch from the command line: messages, and the exit code (0, 1 or 2)."""
    try:
        outcome = launch(
            overrides,
            out,
            replications=replications,
            n_jobs=n_jobs,
            verbose=verbose,
        )
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"viralchain: {line}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, store.SweepDirError) as exc:
        print(f"viralchain: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SweeperError as exc:
        print(f"viralchain: the sweeper stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # disk full, permission: nothing half-written (atomic files)
        where = exc.filename or out or "the sweep directory"
        print(f"viralchain: cannot write {where}: {os_reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        release_workers()
    print(summary(outcome), file=sys.stderr)
    if outcome.ok:  # nothing to report on when no run finished
        print(_report_files(outcome))
    return outcome.exit_code


def release_workers() -> None:
    """Stop the joblib launcher's worker processes now that the launch is over (the command
    is about to exit): SIGKILL, since they are idle and hold nothing (each run's files are
    written atomically, its log lines flushed as written). Left to the interpreter's exit,
    loky sends each a sentinel and waits for it to shut its interpreter down: ≈ 0.1 s at
    the end of every parallel sweep, more on a loaded machine. Nothing happens where joblib's
    process pool was never loaded (one worker runs the jobs in this process)."""
    pool_module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(pool_module, "_executor", None)  # loky's one reusable pool
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


def add_multirun_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep options of ``viralchain run`` (``-m`` and friends)."""
    g = parser.add_argument_group("sweeps (with -m)")
    g.add_argument(
        "-m",
        "--multirun",
        action="store_true",
        help="run a Hydra multirun sweep: key=a,b and key=range(0,5) give one run per "
        "combination, in parallel (joblib launcher); finished runs are skipped when the "
        "same sweep runs again",
    )
    g.add_argument(
        "--replications",
        type=int,
        metavar="N",
        help="replications 0..N-1 of every combination (sweep-level option, the same as "
        "replication=range(0,N)); each run's seed derives from seed= and its replication, "
        "so all policies of one replication face the same demand (common random numbers)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="parallel worker processes (the same as hydra.launcher.n_jobs=N; default: all cores)",
    )


def cmd_multirun(args: argparse.Namespace) -> int:
    """``viralchain run -m ...``."""
    return execute(args.overrides, args.out, args.replications, args.jobs, args.verbose)


SWEEP_EPILOG = """\
examples:
  viralchain sweep                              list the sweep files
  viralchain sweep smoke                        the small sweep the tests use
  viralchain sweep rigid_vs_flexible --replications 10 --jobs 2
  viralchain sweep safety_rush market.n_consumers=20000
  viralchain run -m setup=rigid,flexible policy.safety_stock.days_of_cover=1,3,5 \\
      --replications 5 --out outputs/sweeps/my_sweep
  viralchain resume outputs/sweeps/smoke        run only the failed and missing runs
  viralchain report outputs/sweeps/smoke        tables with 95% CIs, plots, report.html

the sweep directory (default outputs/sweeps/<name>) holds runs/, timeseries/ and events/,
each one hive-partitioned parquet dataset (story=.../setup=.../<run_id>.parquet).
launcher settings go on the command line: hydra.launcher.n_jobs=4, hydra/launcher=...
"""


def cmd_sweep(args: argparse.Namespace) -> int:
    """``viralchain sweep [NAME] [key=value ...]``."""
    from experiments.compose import named_option

    if (code := named_option("sweep", args.name, "sweep")) is not None:
        return code
    return execute(
        [f"+sweep={args.name}", *args.overrides],
        args.out,
        args.replications,
        args.jobs,
        args.verbose,
    )


def cmd_resume(args: argparse.Namespace) -> int:
    """``viralchain resume DIR``: the last launch of that sweep again.

    ``sweep.json`` is data: its overrides are replayed only after the same checks as a
    command line's (:mod:`experiments.overrides`), so it can name no code to run.
    """
    from experiments.overrides import check, config_groups

    sweep_dir = Path(args.sweep_dir)
    if not sweep_dir.is_dir():
        why = "not a directory" if sweep_dir.exists() else "no such directory"
        return _usage(f"sweep_dir = {args.sweep_dir!r}: not a sweep directory ({why})")
    try:
        spec = store.SweepSpec.load(sweep_dir)
        if spec is None:
            raise store.SweepDirError(
                f"sweep_dir = {args.sweep_dir!r}: not a sweep directory (no {store.SPEC_FILE})"
            )
        if not spec.launches:
            raise store.SweepDirError(
                f"{sweep_dir / store.SPEC_FILE}: damaged: launches is empty (nothing to resume)"
            )
        last = spec.launches[-1]
        overrides = [*last.get("overrides", []), *last.get("hydra_overrides", [])]
        from experiments.compose import config_dir

        used, given = last.get("config_dir"), config_dir()
        if used is not None and str(given) != str(used):
            # a directory of config files is trusted like code: never taken from sweep.json
            return _usage(
                f"--config-dir = {str(given) if given else None!r}: this sweep was launched "
                f"with --config-dir {used}: give it again (viralchain resume {args.sweep_dir} "
                f"--config-dir {used})"
            )
        check(overrides, config_groups(), source=str(sweep_dir / store.SPEC_FILE))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"viralchain: {line}", file=sys.stderr)
        return EXIT_USAGE
    except store.SweepDirError as exc:
        return _usage(str(exc))
    return execute(overrides, args.sweep_dir, None, args.jobs, args.verbose)


def _usage(message: str) -> int:
    print(f"viralchain: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_parser(subparsers: Any) -> None:
    """Register ``viralchain sweep`` and ``viralchain resume``."""
    s = subparsers.add_parser(
        "sweep",
        help="run a ready sweep file (scenarios/sweep/NAME.yaml); no NAME lists them",
        description="Run a sweep file from scenarios/sweep/ as a Hydra multirun (the same as "
        "`viralchain run -m +sweep=NAME ...`). Finished runs are skipped when it runs again. "
        "Prefer a sweep file for any sweep you will run again, share or report on (it can be "
        "reviewed, and its name names the output); `viralchain run -m key=a,b` is for a quick, "
        "ad-hoc grid.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("name", nargs="?", help="sweep file name (omit to list them)")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="extra overrides")
    s.add_argument("--out", help="sweep directory (default: outputs/sweeps/NAME)")
    s.add_argument(
        "--replications",
        type=int,
        metavar="N",
        help="replications 0..N-1 (overrides the sweep file's)",
    )
    s.add_argument("--jobs", type=int, metavar="N", help="parallel workers (hydra.launcher.n_jobs)")
    s.set_defaults(func=cmd_sweep)

    r = subparsers.add_parser(
        "resume",
        help="re-run a sweep directory's last launch: only failed and missing runs run",
        description="Re-run the last launch recorded in SWEEP_DIR/sweep.json. Finished runs "
        "are skipped; failed and missing ones run.",
    )
    r.add_argument("sweep_dir", help="a sweep directory (holds sweep.json)")
    r.add_argument("--jobs", type=int, metavar="N", help="parallel workers (hydra.launcher.n_jobs)")
    r.set_defaults(func=cmd_resume)
