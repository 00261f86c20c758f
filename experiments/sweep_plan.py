"""A sweep's plan: the jobs of a Hydra multirun, each composed, validated and identified.

The jobs are the cartesian product Hydra's basic sweeper makes of the sweep file's
``hydra.sweeper.params`` and the command-line overrides (the same factors in the same order,
from Hydra's override parser). Each job's config is composed as Hydra composes it, but a
config group combination is composed only once: the job's value overrides (``key=value``)
are then set as Hydra sets them (``OmegaConf.update``). A
20-run sweep over two setups costs two compositions instead of twenty (a composition takes a
quarter of a second). Every job is validated before anything runs or is written, and gets
its run seed (derived from root seed and replication: common random numbers), its run id and
its swept parameters (the ``runs`` columns).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.config import Config, make_run_id, validate
from sim.errors import ConfigError
from sim.rng import derive_seed

if TYPE_CHECKING:  # OmegaConf loads with the first sweep, not with `viralchain run`
    from omegaconf import DictConfig

# <sweep_dir>/.running/<run_id>: a run in progress (written by the worker, read by the
# launcher when a worker dies; a dot directory every dataset reader ignores)
MARKERS = ".running"

# keys that already have their own ``runs`` column, or that name the sweep file itself
RESERVED_KEYS = {"story", "setup", "seed", "replication", "sweep"}


def run_seed(config: Config) -> int:
    """The seed a sweep runs a config with: derived from (root seed, replication).

    Every policy in the same replication gets the same seed, hence the same content
    calendar and viral trace (common random numbers).
    """
    return derive_seed(config.seed, config.replication)


def column_name(key: str) -> str:
    """The ``runs`` column of an override key: ``policy/rush`` → ``policy.rush``.

    Variant groups shipped with sweep files (``sweep/ablation``) lose the ``sweep/``
    prefix: ``ablation``.
    """
    return key.removeprefix("sweep/").replace("/", ".")


def param_values(
    config: Mapping[str, Any], choices: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The swept parameters of one run, as stored in the ``runs`` table.

    Args:
        config: the run's resolved config (plain dict).
        choices: Hydra's ``runtime.choices`` (config group → chosen option).
        params: column → ``{"key", "group", "kind"}`` (see :class:`Plan`).
    """
    from experiments.sweep_store import param_value

    out = {}
    for column, spec in params.items():
        key = spec["key"]
        value = choices.get(key) if spec["group"] else _select(config, key)
        out[column] = param_value(value, spec["kind"])
    return out


def _select(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(data, list):
            data = data[int(part)]
        elif isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data


@dataclass(frozen=True)
class Job:
    """One run of the sweep."""

    overrides: tuple[str, ...]
    config: Config
    choices: tuple[tuple[str, str], ...]

    @cached_property
    def seed(self) -> int:
        """The run seed (from root seed and replication)."""
        return run_seed(self.config)

    @cached_property
    def run_id(self) -> str:
        """The run id: a function of the resolved config and the run seed."""
        return make_run_id(self.config.config_hash(), self.seed)

    @property
    def story(self) -> str:
        """The story name (a partition key)."""
        return self.config.meta.story

    @property
    def setup(self) -> str:
        """The setup name (a partition key)."""
        return self.config.meta.setup

    def runs_path(self, sweep_dir: str | Path) -> Path:
        """The run's main ``runs`` file (its commit marker)."""
        from experiments.sweep_store import run_file

        return run_file(sweep_dir, "runs", self.story, self.setup, self.run_id)

    def label(self) -> str:
        """The job's overrides as one line (for messages)."""
        return " ".join(self.overrides)


@dataclass
class Plan:
    """All jobs of a sweep, and the parameters that become ``runs`` columns.

    Attributes:
        jobs: in Hydra's order.
        params: ``runs`` column → ``{"key": override key, "group": is a config group,
            "kind": "native" | "json"}``.
        platforms: the union of the jobs' selling platforms (``market.platforms``), in
            order of first appearance: every ``runs`` row gets their per-platform columns.
        bases: Hydra's compositions of the plan's config group combinations
            (:attr:`JobComposer.bases`), which the launcher jobs' configs are made from
            (:func:`job_config`).
    """

    jobs: list[Job]
    params: dict[str, dict[str, Any]]
    platforms: list[str] = field(default_factory=list)
    bases: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)

    def params_of(self, job: Job) -> dict[str, Any]:
        """The ``runs`` parameter columns of a job."""
        return param_values(job.config.to_dict(), dict(job.choices), self.params)

    def duplicates(self) -> list[tuple[Job, Job]]:
        """Pairs of jobs that resolve to the same run (same config and seed)."""
        seen: dict[str, Job] = {}
        out = []
        for job in self.jobs:
            if job.run_id in seen:
                out.append((seen[job.run_id], job))
            else:
                seen[job.run_id] = job
        return out


# ----------------------------------------------------------------------------- expansion


def expand(
    config_loader: Any, params: Mapping[str, str] | None, arguments: Sequence[str]
) -> list[list[str]]:
    """The override list of every job, as Hydra's basic sweeper makes them: the sweep file's
    ``hydra.sweeper.params`` then the command line, each sweep (``a,b``, ``range``,
    ``glob``) a factor of the cartesian product, in Hydra's order."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    parser = OverridesParser.create(config_loader=config_loader)
    # one factor per key, in the order keys first appear; a later override of the same key
    # (the command line over the sweep file) replaces its values
    factors: dict[str, list[str]] = {}
    for o in parser.parse_overrides(lines):
        key = o.get_key_element()
        if not o.is_sweep_override():
            factors[key] = [f"{key}={o.get_value_element_as_str()}"]
        elif o.is_discrete_sweep():
            factors[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:  # interval(...): a range to sample, not a grid
            raise ValueError(
                f"{key}={o.input_line.split('=', 1)[1]}: a continuous range is not a grid: "
                "sample it with a sampling sweeper (hydra/sweeper=optuna)"
            )
    return [list(job) for job in itertools.product(*factors.values())]


class JobComposer:
    """Composes job configs exactly as Hydra does, once per config group combination."""

    def __init__(self, master: DictConfig, config_loader: Any):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.master = master
        self.loader = config_loader
        self.parser = OverridesParser.create(config_loader=config_loader)
        self._bases: dict[tuple[str, ...], DictConfig] = {}

    def _is_group(self, override: Any) -> bool:
        return not isinstance(override.value(), dict) and self.loader.repository.group_exists(
            override.key_or_group
        )

    def compose(self, overrides: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
        """The resolved job config (without ``hydra``) and Hydra's group choices.

        The config groups are composed by Hydra (``ConfigLoader.load_sweep_config``, what
        the launcher does in the worker), once per combination of group options; each
        ``key=value`` is then set with ``OmegaConf.update(cfg, key, value, merge=True)``, as
        Hydra applies it. A job with ``+key``, ``++key`` or ``~key`` values is composed in
        full.
        """
        from omegaconf import OmegaConf

        parsed = self.parser.parse_overrides(list(overrides))
        groups = tuple(o.input_line for o in parsed if self._is_group(o))
        values = [o for o in parsed if not self._is_group(o)]
        if any(o.is_add() or o.is_force_add() or o.is_delete() for o in values):
            cfg = self.loader.load_sweep_config(self.master, list(overrides))
        else:
            if groups not in self._bases:
                self._bases[groups] = self.loader.load_sweep_config(self.master, list(groups))
            cfg = copy.deepcopy(self._bases[groups])
            for o in values:
                OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
        return task_config(cfg)

    @property
    def compositions(self) -> int:
        """How many full Hydra compositions were made."""
        return len(self._bases)

    @property
    def bases(self) -> dict[tuple[str, ...], DictConfig]:
        """The full Hydra compositions made, by their config group overrides (kept
        unchanged: each job works on a copy)."""
        return dict(self._bases)


# at most this many group combinations' compositions go with every launcher job
# (``ReusingConfigLoader`` in ``hydra_plugins/viralchain_sweeper``): each is ≈ 50 kB
# pickled, kept as bytes, and joblib pickles them with every job
MAX_SHIPPED_BASES = 64


def reusing_loader(inner: Any, bases: dict, key: tuple[Any, ...] | None) -> Any:
    """A ``ReusingConfigLoader`` (``hydra_plugins/viralchain_sweeper``) as it was pickled."""
    from hydra_plugins.viralchain_sweeper.viralchain_sweeper import ReusingConfigLoader

    loader = ReusingConfigLoader(inner)
    loader.bases, loader.master_key = bases, key
    return loader


def master_key(master: Any) -> tuple[Any, ...]:
    """What a composition depends on in the master config besides the job's overrides:
    the primary config's name and the sweep's Hydra overrides."""
    from omegaconf import OmegaConf

    return (
        str(master.hydra.job.config_name),
        tuple(OmegaConf.to_container(master.hydra.overrides.hydra)),
    )


def _intern_attributes(node: Any) -> None:
    """Give an unpickled config's nodes their attribute names as Python's own (interned)
    strings, as a deep copy has them: the nodes set their state from pickle's strings, and
    a node added later names its attributes with the interned ones, so the config's pickle
    would differ from Hydra's (the same config) by which strings are shared."""
    import sys

    state = {sys.intern(k): v for k, v in vars(node).items()}
    object.__setattr__(node, "__dict__", state)  # a DictConfig's own __setattr__ sets keys
    content = state.get("_content")
    if isinstance(content, dict):
        for child in content.values():
            _intern_attributes(child)
    elif isinstance(content, list):
        for child in content:
            _intern_attributes(child)


def job_config(
    loader: Any,
    bases: Mapping[tuple[str, ...], DictConfig | bytes],
    master: DictConfig,
    overrides: list[str],
) -> DictConfig | None:
    """A launcher job's config (with its ``hydra`` node) as Hydra's
    ``load_sweep_config(master, overrides)`` composes it, from ``bases[groups]``, the
    composition of the job's config group overrides alone (a config, or its pickle);
    None when it cannot be (no such base, a hydra or ``~key`` override, an override
    Hydra would refuse).

    Hydra composes the groups' defaults, sets the root to struct mode, applies the value
    overrides (``key=v`` merged, ``+key=v`` / ``++key=v`` added), then lists the overrides
    in ``hydra.overrides.task``, names the job's ``override_dirname`` after them, and copies
    the master's resolver cache. The base went through all of it with only the group
    overrides; the value overrides touch nothing but the task's keys, so they are applied
    to a copy of it (unpickled: the same config as a deep copy) as Hydra applies them,
    then the two ``hydra`` fields that name the overrides are set again from all of them,
    in order. What Hydra reads from the process
    (the working directory, ``hydra.job.env_copy``'s variables) must be what it was for the
    base, else Hydra composes."""
    import os
    import pickle

    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    parsed = OverridesParser.create(config_loader=loader).parse_overrides(overrides)
    # ``hydra.x=v``, ``hydra/x=g``, and ``hydra={...}`` (the whole node as one value)
    if any(o.is_hydra_override() or o.is_sweep_override() for o in parsed):
        return None
    if any(o.key_or_group.split("@")[0] == "hydra" for o in parsed):
        return None
    repo = loader.repository

    def is_group(o: Any) -> bool:
        return not isinstance(o.value(), dict) and repo.group_exists(o.key_or_group)

    grouped = [is_group(o) for o in parsed]
    groups = tuple(o.input_line for o, g in zip(parsed, grouped, strict=True) if g)
    base = bases.get(groups)
    if base is None:
        return None
    cfg = pickle.loads(base if isinstance(base, bytes) else pickle.dumps(base))
    _intern_attributes(cfg)
    try:
        for o, g in zip(parsed, grouped, strict=True):
            if g:
                continue
            key, value = o.key_or_group, o.value()
            if o.is_delete() or o.package is not None:
                return None
            if o.is_add():
                taken = OmegaConf.select(cfg, key, throw_on_missing=False) is not None
                if taken and not isinstance(value, dict | list):
                    return None  # Hydra refuses it: its own message
                OmegaConf.update(cfg, key, value, merge=True, force_add=True)
            elif o.is_force_add():
                OmegaConf.update(cfg, key, value, merge=True, force_add=True)
            else:
                OmegaConf.update(cfg, key, value, merge=True)
    except Exception:  # Hydra refuses it (an unknown key): its own message
        return None
    # what Hydra reads from the process as it composes: its working directory, and the
    # environment variables the finished config copies (none unless hydra.job.env_copy
    # names some)
    if cfg.hydra.runtime.cwd != os.getcwd() or len(cfg.hydra.job.env_copy) > 0:
        return None
    task = cfg.hydra.overrides.task
    task.clear()
    for o in parsed:
        task.append(o.input_line)
    dirname = cfg.hydra.job.config.override_dirname
    cfg.hydra.job.override_dirname = get_overrides_dirname(
        overrides=parsed,
        kv_sep=dirname.kv_sep,
        item_sep=dirname.item_sep,
        exclude_keys=dirname.exclude_keys,
    )
    OmegaConf.copy_cache(from_config=master, to_config=cfg)
    return cfg


def task_config(cfg: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A composed job config (with its ``hydra`` node) as the task gets it: resolved,
    without ``hydra`` (as Hydra's ``run_job`` hands it over), and Hydra's group choices."""
    from omegaconf import OmegaConf, open_dict

    choices = {
        str(k): str(v)
        for k, v in OmegaConf.to_container(cfg.hydra.runtime.choices).items()
        if v is not None
    }
    with open_dict(cfg):
        del cfg["hydra"]
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    return data, choices


def _override_keys(job_overrides: Iterable[str], parser: Any) -> list[Any]:
    return parser.parse_overrides(list(job_overrides))


def override_key(override: str) -> str:
    """The key of a ``key=value`` override, without Hydra's ``+``/``++``/``~`` prefix."""
    return override.split("=", 1)[0].lstrip("+~")


def split_replication(overrides: Iterable[str]) -> tuple[tuple[str, ...], int | None]:
    """A job's overrides without its ``replication=N``, and N (None unless exactly one
    integer replication is set): runs with the same rest compose to the same config but
    for that key."""
    rest = tuple(o for o in overrides if override_key(o) != "replication")
    reps = [o.split("=", 1)[1] for o in overrides if override_key(o) == "replication"]
    if len(reps) != 1 or not reps[0].strip().isdigit():
        return rest, None
    return rest, int(reps[0])


def make_plan(master: DictConfig, config_loader: Any, jobs: list[list[str]]) -> Plan:
    """Compose and validate every job; raise one :class:`ConfigError` listing all problems."""
    from experiments.compose import hydra_error

    composer = JobComposer(master, config_loader)
    problems: list[tuple[str, object, str]] = []
    built: list[Job] = []
    # runs that differ only in ``replication=N`` compose to the same config but for that key
    same: dict[tuple[str, ...], tuple[dict[str, Any], dict[str, str]]] = {}
    for overrides in jobs:
        try:
            rest, rep = split_replication(overrides)
            if rep is not None and rest in same:
                data, choices = same[rest]
                data = {**data, "replication": rep}
            else:
                data, choices = composer.compose(overrides)
                if rep is not None:
                    same[rest] = (data, choices)
            config = validate(data)
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
            continue
        except Exception as exc:  # Hydra's composition errors
            err = hydra_error(exc, list(overrides))
            problems += [p for p in err.problems if p not in problems]
            continue
        built.append(Job(tuple(overrides), config, tuple(sorted(choices.items()))))
    if problems:
        raise ConfigError(problems)
    params = _param_specs(built, composer)
    platforms: dict[str, None] = {}  # ordered: first appearance, each market's own order
    for job in built:
        platforms.update(dict.fromkeys(job.config.market.platforms))
    return Plan(built, params, list(platforms), composer.bases)


def _param_specs(jobs: list[Job], composer: JobComposer) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for o in _override_keys(job.overrides, composer.parser):
            key = o.key_or_group
            if key in RESERVED_KEYS or key.startswith("hydra"):
                continue
            col = column_name(key)
            specs.setdefault(col, {"key": key, "group": composer._is_group(o), "kind": "native"})
    # values whose type varies between runs, or that are not scalars, are stored as JSON text
    for col, spec in specs.items():
        probe = {**spec, "kind": "native"}
        types = set()
        for job in jobs:
            v = param_values(job.config.to_dict(), dict(job.choices), {col: probe})[col]
            types.add(type(v).__name__)
        scalar = types <= {"int", "float", "bool", "str"}
        if not scalar or len(types) > 1:
            spec["kind"] = "json"
    return specs


# ----------------------------------------------------------------------------- launcher jobs


BATCH_KEY = "viralchain_replications"


@dataclass
class Batch:
    """One launcher job: runs that differ only in their replication, composed once."""

    overrides: list[str]
    jobs: list[Job]


# runs of one launcher job on a cluster launcher (submitit, Ray) unless the sweep says
# (hydra.sweeper.runs_per_job): a SLURM array task then holds minutes of work, not seconds
CLUSTER_RUNS_PER_JOB = 10


def launch_jobs(master: Any, todo: list[Job], runs_per_job: int | None = None) -> list[Batch]:
    """The launcher jobs for the runs to do (:func:`batches`): on the joblib launcher about
    two jobs per worker; on a cluster launcher jobs of up to ``runs_per_job`` runs (default
    :data:`CLUSTER_RUNS_PER_JOB`), each job one array task."""
    if _is_joblib(master):
        return batches(todo, _workers(master), size=runs_per_job)
    return batches(todo, 1, size=runs_per_job or CLUSTER_RUNS_PER_JOB)


def _is_joblib(master: Any) -> bool:
    return "launcher" in master.hydra and "joblib" in str(master.hydra.launcher.get("_target_"))


def _workers(master: Any) -> int:
    import os

    n = master.hydra.launcher.get("n_jobs") if "launcher" in master.hydra else None
    return int(n) if n is not None and int(n) > 0 else max(1, os.cpu_count() or 1)


# launcher jobs per joblib worker (:func:`batches`)
JOBS_PER_WORKER = 2


def batches(
    todo: list[Job], workers: int, per_worker: int = JOBS_PER_WORKER, size: int | None = None
) -> list[Batch]:
    """Group the runs to launch into launcher jobs.

    A launcher job costs a full Hydra composition in the worker and Hydra's job set-up
    (≈ 0.2–0.3 s), about as much as a short run. Runs that differ only in ``replication``
    get the same composed config, so they share one job, which runs them one after another
    (each still isolated and skipped if done). Groups are cut into pieces of near-equal
    sizes (at most ``ceil(runs / (workers * per_worker))``) so that every worker gets about
    ``per_worker`` jobs, and the longest go out first, to keep the load balanced to the end.
    Two a worker: with four, a 40-run sweep of 0.3 s runs on two workers spent ≈ 1 s a
    worker composing (8 jobs), as much as the whole one-worker sweep did. ``size`` sets the
    largest job instead (a cluster launcher: several runs per array task).
    """
    if size is None:
        size = -(-len(todo) // (workers * per_worker))
    size = max(1, size)
    groups: dict[tuple[str, ...], list[tuple[int, Job]]] = {}
    for job in todo:
        rest, rep = split_replication(job.overrides)
        if rep is None:  # no swept replication: the job runs alone
            groups[(*rest, f"#{job.run_id}")] = [(-1, job)]
            continue
        groups.setdefault(rest, []).append((rep, job))
    out = []
    for rest, members in groups.items():
        if members[0][0] < 0:
            out.append(Batch(list(members[0][1].overrides), [members[0][1]]))
            continue
        pieces = -(-len(members) // size)  # as many as needed, of near-equal sizes
        for k in range(pieces):
            part = members[k * len(members) // pieces : (k + 1) * len(members) // pieces]
            reps = ",".join(str(r) for r, _ in part)
            out.append(Batch([*rest, f"+{BATCH_KEY}=[{reps}]"], [j for _, j in part]))
    # the longest jobs first (stable): the last jobs, which decide the tail, are the short ones
    return sorted(out, key=lambda b: -len(b.jobs))
