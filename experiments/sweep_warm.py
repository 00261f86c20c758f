"""Start the joblib launcher's workers warm: forked from a server that has the imports done.

A loky worker normally starts as a fresh Python that imports Hydra, pandas, pyarrow,
pydantic and Mesa (with scipy and networkx) before its first job: about 2.5 s of CPU per
worker, on the critical path of every sweep, and paid by each worker. The ``viralchain``
command instead starts Python's fork server as soon as it sees a sweep on its command line;
the server imports those libraries once, in the background while the command composes and
plans the sweep, and each worker is then a fork of it, ready at once. joblib's loky backend
supports the ``forkserver`` start method (``loky.backend.context``); it is set for the
launch only, and only when the caller asks (:func:`experiments.sweep.launch`'s
``fork_server``): a fork server re-imports the main script in each worker, which a script
without an ``if __name__ == "__main__":`` guard does not survive.

It is only an optimisation: it never raises, and a sweep runs the same without it (the
same jobs, seeds and files; ``VIRALCHAIN_FORKSERVER=0`` turns it off, and the tests
compare both).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Iterator, Sequence

log = logging.getLogger(__name__)

# what a sweep job imports (the launcher's job runner, the task, the model, the writer)
PRELOAD = (
    "hydra.core.utils",
    "hydra_plugins.hydra_joblib_launcher._core",
    "experiments.sweep_task",
    "experiments.sweep_store",
    "sim.model",
)

# VIRALCHAIN_FORKSERVER=0: start the workers the default loky way
ENV = "VIRALCHAIN_FORKSERVER"

# The server must stay single-threaded to fork safely: numpy's and scipy's OpenBLAS start a
# thread pool when imported, and pyarrow's jemalloc a background thread. One thread per
# library is also what loky gives each worker when there are as many workers as cores
# (``LokyBackend._prepare_worker_env``); the model's numpy work is element-wise, so it never
# needed more. Variables the user has set are left alone.
SERVER_ENV = {
    **dict.fromkeys(
        (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS",
            "NUMEXPR_NUM_THREADS",
        ),
        "1",
    ),
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def enabled() -> bool:
    """Whether fork-server workers are allowed here (not turned off, not Windows)."""
    return os.environ.get(ENV, "1") != "0" and sys.platform != "win32"


def parallel(hydra_overrides: Sequence[str], n_jobs: int | None = None) -> bool:
    """Whether these overrides run the joblib launcher with 2+ workers (the default launcher
    on all cores unless ``hydra/launcher=``, ``hydra.launcher.n_jobs=`` or ``n_jobs`` say
    otherwise). A guess from the command line: the composed config has the final word."""
    jobs = -1 if n_jobs is None else n_jobs
    for o in hydra_overrides:
        # (not sweep_plan.override_key: this module is read before any heavy import)
        key, _, value = o.partition("=")
        key = key.lstrip("+~")
        if key == "hydra/launcher" and value.strip() != "joblib":
            return False
        if key == "hydra.launcher.n_jobs" and n_jobs is None:
            try:
                jobs = int(value)
            except ValueError:
                return False
    cores = os.cpu_count() or 1
    return (jobs if jobs > 0 else cores + 1 + jobs) >= 2


def sweep_on_command_line(argv: Sequence[str]) -> bool:
    """Whether ``viralchain ARGV`` launches a parallel sweep (read before the parser is
    built, so the server can start before the command's own imports): ``run -m``,
    ``sweep NAME`` or ``resume DIR``, not ``--jobs 1``, not another launcher, not help."""
    args = list(argv)
    if not args or any(a in ("-h", "--help") for a in args):
        return False
    command, rest = args[0], args[1:]
    if command == "run" and not any(a in ("-m", "--multirun") for a in rest):
        return False
    if command in ("sweep", "resume") and not any(not a.startswith("-") for a in rest):
        return False
    if command not in ("run", "sweep", "resume"):
        return False
    n_jobs = None
    for i, a in enumerate(rest):
        value = a.split("=", 1)[1] if a.startswith("--jobs=") else None
        if a == "--jobs" and i + 1 < len(rest):
            value = rest[i + 1]
        if value is not None:
            try:
                n_jobs = int(value)
            except ValueError:
                return False  # the parser will say why
    return parallel([a for a in rest if "=" in a and not a.startswith("-")], n_jobs)


def start_server() -> bool:
    """Start the fork server (once per process) with :data:`PRELOAD`; it imports them in
    the background. Returns whether it runs."""
    if not enabled():
        return False
    try:
        import multiprocessing
        from multiprocessing import forkserver

        mp = multiprocessing.get_context("forkserver")
        main = ["__main__"] if _main_is_importable() else []
        mp.set_forkserver_preload([*main, *PRELOAD])
        added = {k: v for k, v in SERVER_ENV.items() if k not in os.environ}
        added["VIRALCHAIN_LAUNCHER_PID"] = str(os.getpid())  # the server dies with us
        os.environ.update(added)  # the server's environment, for its start only
        try:
            forkserver.ensure_running()
        finally:
            for key in added:
                os.environ.pop(key, None)
        return True
    except Exception:  # an optimisation only: loky's default start method works
        log.debug("no fork server for the workers", exc_info=True)
        return False


@contextlib.contextmanager
def forkserver_workers(wanted: bool) -> Iterator[bool]:
    """Within this block joblib's loky workers fork from the preloaded server (started
    here unless it runs already); loky's start method is restored on exit. Yields whether
    the fork server is in use."""
    if not wanted or not start_server():
        yield False
        return
    try:
        from joblib.externals.loky.backend import context

        previous = context.get_start_method()
        context.set_start_method("forkserver", force=True)
    except Exception:
        log.debug("loky cannot use the fork server", exc_info=True)
        yield False
        return
    try:
        yield True
    finally:
        context.set_start_method(previous, force=True)


@contextlib.contextmanager
def workers_die_with_parent() -> Iterator[None]:
    """Within this block every joblib (loky) worker started arms ``PR_SET_PDEATHSIG`` as its
    first act (:func:`experiments.sweep_task.die_with_parent`), so that killing the
    launching process (even with SIGKILL) leaves no worker behind, idle ones included.

    joblib gives no public way to pass loky an ``initializer`` from a launcher, so its
    executor factory is wrapped for the block (and restored after). Fork-server workers are
    covered too: the server itself dies with the launcher (it arms on import of
    ``experiments.sweep_task``), and each worker with the server.
    """
    try:
        from joblib import _parallel_backends as backends
    except ImportError:  # no joblib: nothing to arm
        yield
        return
    from experiments.sweep_task import die_with_parent

    real = backends.get_memmapping_executor
    arm = functools.partial(die_with_parent, os.getpid())

    def armed(n_jobs: int, **kwargs: object) -> object:
        if kwargs.get("initializer") is None:
            kwargs["initializer"] = arm
        return real(n_jobs, **kwargs)

    backends.get_memmapping_executor = armed
    try:
        yield
    finally:
        backends.get_memmapping_executor = real


def _main_is_importable() -> bool:
    """Whether ``__main__`` is a script file (the server imports it once, as each worker
    will), not an interactive session or ``python -c``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return bool(path) and os.path.exists(str(path))
