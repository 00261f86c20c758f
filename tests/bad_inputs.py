"""The bad-input corpus: what an adversarial user feeds the command line and the API.

Every case states what must happen: the exit code (2 usage/input, 1 run failed, 0 accepted
and done right), a text the one-line message must contain (the field it names), and that
nothing is written (or, for accepted cases, nothing outside the output root). A case is
*clean* when all of that holds; otherwise it is classified as a *traceback* (an exception
escaped, or a traceback was printed), a *wrong exit* (wrong code, or bad input accepted), a
*vague message* (right code, field not named) or *wrote* (files written on refusal, or
outside the output root, or code run from data).

The float, integer and bound cases are generated from the pydantic schema: every float field
of every shipped story gets NaN, +inf and -inf; every integer field gets a boolean and a
value beyond its bound. ``tests/test_bad_inputs.py`` asserts each case is clean;
``python -m tests.bad_inputs`` prints the figures (total, clean, tracebacks, wrong exits).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import shutil
import subprocess
import sys
import traceback
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
VIRALCHAIN = str(Path(sys.executable).with_name("viralchain"))
# a tiny world: every run a case makes (accepted bad input) is quick
TINY = ["market.n_consumers=300", "run.horizon_hours=24", "run.timeseries_resolution=day"]
PWNED = "PWNED"  # a file that code named in data would create (inside the case's directory)


@dataclass
class Case:
    """One bad input and what must happen."""

    id: str
    kind: str  # "cli" | "api"
    argv: tuple[str, ...] = ()
    api: Callable[[Path], Any] | None = None
    code: int = 2
    names: str = ""  # text the error message must contain
    sweep: str = ""  # "": none; else the name of a damage applied to a copy of a tiny sweep
    accepted_writes_under: str = ""  # code 0: files may appear only under this folder
    group: str = ""


@dataclass
class Outcome:
    """What a case did."""

    category: str  # clean | traceback | wrong_exit | vague_message | wrote
    code: int | None
    message: str
    detail: str = ""
    written: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- schema walk


def _number_kind(annotation: Any) -> str | None:
    """``float`` or ``int`` for a numeric field annotation (Optional/Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _number_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_number_kind(a) for a in typing.get_args(annotation)} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is float:
        return "float"
    if annotation is int:
        return "int"
    return None


def _bounds(info: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            v = getattr(m, attr, None)
            if v is not None:
                out[attr] = v
    return out


def numeric_fields(obj: Any, prefix: str = "") -> Iterator[tuple[str, tuple[Any, ...], str, dict]]:
    """(dotted path, key path, kind, bounds) of every numeric field of a validated config."""
    if isinstance(obj, BaseModel):
        for name, info in type(obj).model_fields.items():
            path = f"{prefix}.{name}" if prefix else name
            kind = _number_kind(info.annotation)
            if kind:
                yield path, (name,), kind, _bounds(info)
                continue
            for p, keys, k, b in numeric_fields(getattr(obj, name), path):
                yield p, (name, *keys), k, b
    elif isinstance(obj, dict):
        for key, value in obj.items():
            for p, keys, k, b in numeric_fields(value, f"{prefix}.{key}"):
                yield p, (key, *keys), k, b
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            for p, keys, k, b in numeric_fields(value, f"{prefix}[{i}]"):
                yield p, (i, *keys), k, b


def _set(data: Any, keys: tuple[Any, ...], value: Any) -> None:
    for k in keys[:-1]:
        data = data[k]
    data[keys[-1]] = value


def _stories() -> list[str]:
    return sorted(p.stem for p in (ROOT / "scenarios" / "story").glob("*.yaml"))


def _composed(story: str) -> dict[str, Any]:
    from experiments.compose import compose_dict

    return compose_dict(story, [])


def schema_cases() -> list[Case]:
    """NaN/±inf for every float field, a boolean and an out-of-range value for every int
    field, of every shipped story (each path once)."""
    import sim

    cases: list[Case] = []
    seen: set[str] = set()
    for story in _stories():
        data = _composed(story)
        cfg = sim.validate(data)
        for path, keys, kind, bounds in numeric_fields(cfg):
            if path in seen:
                continue
            seen.add(path)
            values: list[tuple[str, Any]] = []
            if kind == "float":
                values = [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)]
            else:
                values = [("true", True)]
                if "ge" in bounds:
                    values.append(("below", int(bounds["ge"]) - 1))
                if "le" in bounds:
                    values.append(("above", int(bounds["le"]) + 1))
            for label, value in values:
                cases.append(
                    Case(
                        id=f"api-schema-{story}-{path}={label}",
                        kind="api",
                        api=_validate_with(data, keys, value),
                        names=path,
                        group="schema",
                    )
                )
    return cases


def _validate_with(data: dict[str, Any], keys: tuple[Any, ...], value: Any) -> Callable:
    def call(_tmp: Path) -> Any:
        import sim

        d = copy.deepcopy(data)
        _set(d, keys, value)
        return sim.validate(d)

    return call


# ----------------------------------------------------------------------------- API cases


def _tiny_config():
    import sim

    return sim.compose(None, TINY)


def _run_seed(seed: Any) -> Callable:
    def call(_tmp: Path) -> Any:
        import sim

        return sim.run(_tiny_config(), seed=seed)

    return call


def _run_copy(update: Callable[[Any], dict[str, Any]]) -> Callable:
    def call(_tmp: Path) -> Any:
        import sim

        cfg = _tiny_config()
        return sim.run(cfg.model_copy(update=update(cfg)))

    return call


def _compose(*overrides: str) -> Callable:
    def call(_tmp: Path) -> Any:
        import sim

        return sim.compose(None, list(overrides))

    return call


def _validate(data: Any) -> Callable:
    def call(_tmp: Path) -> Any:
        import sim

        return sim.validate(data)

    return call


def api_cases() -> list[Case]:
    """sim.run / sim.compose / sim.validate called with bad arguments."""
    cases = [
        Case(f"api-run-seed={label}", "api", api=_run_seed(seed), names="seed", group="seed")
        for label, seed in [
            ("-1", -1),
            ("1.5", 1.5),
            ("abc", "abc"),
            ("nan", math.nan),
            ("inf", math.inf),
            ("true", True),
            ("2**64", 2**64),
            ("2**63", 2**63),
            ("none", None),
            ("list", [1]),
        ]
    ]
    cases += [
        Case(
            "api-run-model_copy-seed=-5",
            "api",
            api=_run_copy(lambda c: {"seed": -5}),
            names="seed",
            group="copy",
        ),
        Case(
            "api-run-model_copy-horizon=0",
            "api",
            api=_run_copy(lambda c: {"run": c.run.model_copy(update={"horizon_hours": 0})}),
            names="run.horizon_hours",
            group="copy",
        ),
        Case(
            "api-run-model_copy-consumers=nan",
            "api",
            api=_run_copy(
                lambda c: {"market": c.market.model_copy(update={"n_consumers": math.nan})}
            ),
            names="market.n_consumers",
            group="copy",
        ),
        Case(
            "api-run-model_copy-price=inf",
            "api",
            api=_run_copy(
                lambda c: {
                    "brand": c.brand.model_copy(
                        update={
                            "products": {
                                "hero": c.brand.products["hero"].model_copy(
                                    update={"price": math.inf}
                                )
                            }
                        }
                    )
                }
            ),
            names="brand.products.hero.price",
            group="copy",
        ),
        Case(
            "api-run-model_copy-unknown-key",
            "api",
            api=_run_copy(lambda c: {"evil": 1}),
            names="evil",
            group="copy",
        ),
        Case(
            "api-compose-n_consumers=1e9",
            "api",
            api=_compose("market.n_consumers=1000000000"),
            names="market.n_consumers",
            group="bounds",
        ),
        Case(
            "api-compose-n_consumers=1e9-memory",
            "api",
            api=_compose("market.n_consumers=1000000000"),
            names="GB",
            group="bounds",
        ),
        Case(
            "api-compose-horizon=1e9",
            "api",
            api=_compose("run.horizon_hours=1000000000"),
            names="run.horizon_hours",
            group="bounds",
        ),
        Case(
            "api-compose-seed=2**63",
            "api",
            api=_compose("seed=9223372036854775808"),
            names="seed",
            group="bounds",
        ),
        Case(
            "api-compose-policy-path-escape",
            "api",
            api=_compose("policy/rush=../../setup/rigid"),
            names="policy/rush",
            group="paths",
        ),
        Case(
            "api-compose-target",
            "api",
            api=_compose("+evil._target_=os.system"),
            names="_target_",
            group="code",
        ),
        Case("api-validate-none", "api", api=_validate(None), names="<root>", group="types"),
        Case("api-validate-str", "api", api=_validate("x"), names="<root>", group="types"),
        Case("api-validate-unknown", "api", api=_validate({"bad": 1}), names="bad", group="types"),
    ]
    return cases


# ----------------------------------------------------------------------------- CLI cases

# one float field per config section through the command line (all of them: the schema cases)
CLI_FLOATS = [
    "market.regions.east.x_km",
    "market.consumer.price_sensitivity_mean",
    "market.consumer.patience_hours_median",
    "market.word_of_mouth.contacts_per_day",
    "market.organic.exposure_rate_per_day",
    "content.kols.top_streamer.trust",
    "content.short_video.branching_ratio",
    "content.livestream.platform_boost",
    "brand.products.hero.price",
    "brand.products.hero.unit_cost",
    "supply.factories.core.capacity_units_per_day",
    "supply.quality.defect_rate",
    "logistics.carriers.trunk.capacity_units_per_day",
    "logistics.carriers.trunk.speed_km_per_hour",
    "logistics.warehouses.central.holding_cost_per_unit_day",
    "policy.safety_stock.days_of_cover",
    "policy.rush.threshold",
    "policy.forecast.alpha",
]

CODE_OVERRIDES = [
    ("launcher-target", "hydra.launcher._target_=os.system", "_target_"),
    (
        "callbacks",
        f"+hydra.callbacks.x={{_target_: builtins.open, _args_: [{PWNED}, w]}}",
        "hydra.callbacks",
    ),
    ("searchpath", "hydra.searchpath=[file:///tmp]", "hydra.searchpath"),
    ("job-env", "+hydra.job.env_set.X=1", "hydra.job"),
    ("nested-target", "hydra.launcher.backend={_target_: os.system}", "_target_"),
    ("task-target", "+evil._target_=os.system", "_target_"),
    ("launcher-option", "hydra/launcher=../../../tmp/x", "hydra/launcher"),
]


def cli_cases() -> list[Case]:
    """The command line: runs, sweeps, compare, dashboard, report and resume."""
    c: list[Case] = []

    def run(cid: str, *argv: str, names: str, code: int = 2, group: str = "run") -> None:
        c.append(Case(cid, "cli", argv=("run", *argv, *TINY), names=names, code=code, group=group))

    for path in CLI_FLOATS:
        for label in ("nan", "inf", "-inf"):
            run(f"cli-run-{path}={label}", f"{path}={label}", names=path, group="finite")
    for seed in ("9223372036854775808", "-1", "1.5", "abc", "true", "nan"):
        run(f"cli-run-seed={seed}", f"seed={seed}", names="seed", group="seed")
    for key, bad in [
        ("market.n_consumers", "true"),
        ("market.n_consumers", "0"),
        ("market.n_consumers", "abc"),
        ("run.horizon_hours", "false"),
        ("run.horizon_hours", "1000000000"),
        ("replication", "-1"),
        ("run.timeseries_resolution", "week"),
        ("content.calendar.0.at_hour", "true"),
    ]:
        c.append(
            Case(
                f"cli-run-{key}={bad}",
                "cli",
                argv=("run", *TINY, f"{key}={bad}"),
                names=key.replace(".0.", "[0]."),  # messages name list items as [i]
                group="range",
            )
        )
    run("cli-run-out-is-a-file", "--out", "/etc/hostname", names="--out", group="paths")
    run("cli-run-out-under-a-file", "--out", "/etc/hostname/x", names="--out", group="paths")
    run("cli-run-out-in-proc", "--out", "/proc/viralchain-x", names="--out", group="paths")
    c.append(
        Case(
            "cli-run-story-escapes",
            "cli",
            argv=("run", "meta.story=../../../escaped", *TINY),
            code=0,
            accepted_writes_under="outputs",
            group="paths",
        )
    )
    c.append(
        Case(
            "cli-run-setup-escapes",
            "cli",
            argv=("run", "meta.setup=/../../../../tmp/x", *TINY),
            code=0,
            accepted_writes_under="outputs",
            group="paths",
        )
    )
    run(
        "cli-run-policy-escape", "policy/rush=../../setup/rigid", names="policy/rush", group="paths"
    )
    run("cli-run-setup-escape", "setup=../story/two_brands", names="setup", group="paths")
    for label, override, names in CODE_OVERRIDES:
        run(f"cli-run-{label}", override, names=names, group="code")
        c.append(
            Case(
                f"cli-multirun-{label}",
                "cli",
                argv=("run", "-m", "setup=rigid,flexible", override, "--jobs", "1", *TINY),
                names=names,
                group="code",
            )
        )
    for cid, argv, names in [
        ("empty-range", ("run", "-m", "seed=range(0,-1)"), "no runs"),
        ("empty-glob", ("run", "-m", "story=glob(zz*)"), "no runs"),
        ("jobs-0", ("run", "-m", "setup=rigid,flexible", "--jobs", "0"), "--jobs"),
        ("replications-0", ("run", "-m", "--replications", "0"), "--replications"),
        ("replications-no-m", ("run", "--replications", "2"), "-m"),
        ("not-key-value", ("run", "foo"), "foo"),
        ("unknown-key", ("run", "unknown.key=1"), "unknown.key"),
        ("plus-key", ("run", "+market.extra=1"), "market.extra"),
        ("unknown-story", ("run", "story=nope"), "story"),
        (
            "sweep-nan",
            ("run", "-m", "setup=rigid,flexible", "brand.products.hero.price=nan"),
            "brand.products.hero.price",
        ),
        ("sweep-unknown", ("sweep", "nope"), "sweep"),
        ("sweep-escape", ("sweep", "smoke", "policy/rush=../../setup/rigid"), "policy/rush"),
        ("compare-one-setup", ("compare", "--setups", "rigid"), "--setups"),
        (
            "compare-nan",
            ("compare", "market.consumer.patience_hours_median=nan"),
            "market.consumer.patience_hours_median",
        ),
        (
            "compare-target",
            ("compare", "+hydra.callbacks.x={_target_: os.getcwd}"),
            "hydra.callbacks",
        ),
        (
            "demo-inf",
            ("demo", "supply.factories.core.capacity_units_per_day=inf"),
            "supply.factories.core.capacity_units_per_day",
        ),
        (
            "dashboard-nan",
            ("dashboard", "market.consumer.price_sensitivity_mean=nan"),
            "market.consumer.price_sensitivity_mean",
        ),
        (
            "dashboard-inf",
            ("dashboard", "brand.products.hero.price=inf"),
            "brand.products.hero.price",
        ),
        ("dashboard-seed", ("dashboard", "seed=-1"), "seed"),
        ("dashboard-port", ("dashboard", "--port", "70000"), "--port"),
        ("dashboard-target", ("dashboard", "hydra.launcher._target_=os.system"), "_target_"),
        ("list-nope", ("list", "nope"), "nope"),
        ("validate-only-nope", ("validate", "--fast", "--only", "nope"), "nope"),
        (
            "validate-unknown-key",
            ("validate", "--fast", "--only", "bass", "bass.nope=1"),
            "bass.nope",
        ),
        (
            "validate-csv-under-file",
            ("validate", "--fast", "--only", "bass", "--csv", "/etc/hostname/x"),
            "--csv",
        ),
    ]:
        extra = () if argv[0] in ("sweep", "dashboard", "list") and len(argv) < 3 else TINY
        if argv[0] in ("dashboard", "list", "validate") or cid == "sweep-unknown":
            extra = ()
        c.append(Case(f"cli-{cid}", "cli", argv=(*argv, *extra), names=names, group="usage"))
    c.append(
        Case(
            "cli-overrides-after-options",
            "cli",
            argv=("run", "-m", "seed=0,1", "--jobs", "1", "setup=flexible", *TINY, "--out", "sw"),
            code=0,
            accepted_writes_under="sw",
            group="usage",
        )
    )
    c += sweep_dir_cases()
    return c


# damaged or foreign sweep directories: name → how to damage a copy of a tiny sweep
def _write(rel: str, text: str | bytes) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)

    return damage


def _spec_edit(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        data = json.loads((d / "sweep.json").read_text())
        edit(data)
        (d / "sweep.json").write_text(json.dumps(data))
        for f in (d / "runs").rglob("*.parquet"):  # so that resume has something to run
            f.unlink()

    return damage


def _append(where: str, override: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["launches"][-1].setdefault(where, []).append(override)

    return edit


def _first(table: str) -> Callable[[Path], Path]:
    def find(d: Path) -> Path:
        return sorted((d / table).rglob("*.parquet"))[0]

    return find


def _truncate(table: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        f = _first(table)(d)
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    return damage


def _garbage(table: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        _first(table)(d).write_bytes(b"not a parquet file at all")

    return damage


def _rm(rel: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        p = d / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()

    return damage


def _foreign(d: Path) -> None:
    shutil.rmtree(d)
    d.mkdir()
    (d / "notes.txt").write_text("my thesis")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "corrupt-json": _write("sweep.json", "{x"),
    "empty-json": _write("sweep.json", ""),
    "json-list": _write("sweep.json", "[1, 2]"),
    "no-sweep-id": _spec_edit(lambda d: d.pop("sweep_id")),
    "sweep-id-number": _spec_edit(lambda d: d.update(sweep_id=7)),
    "params-list": _spec_edit(lambda d: d.update(params=[1])),
    "launches-str": _spec_edit(lambda d: d.update(launches="x")),
    "launches-empty": _spec_edit(lambda d: d.update(launches=[])),
    "overrides-not-str": _spec_edit(lambda d: d["launches"][-1].update(overrides=[1, {}])),
    "callback-hydra": _spec_edit(
        _append(
            "hydra_overrides",
            f"+hydra.callbacks.x={{_target_: builtins.open, _args_: [{PWNED}, w]}}",
        )
    ),
    "callback-task": _spec_edit(
        _append(
            "overrides", f"+hydra.callbacks.x={{_target_: builtins.open, _args_: [{PWNED}, w]}}"
        )
    ),
    "launcher-target": _spec_edit(_append("hydra_overrides", "hydra.launcher._target_=os.system")),
    "searchpath": _spec_edit(_append("hydra_overrides", "hydra.searchpath=[file:///tmp]")),
    "task-target": _spec_edit(_append("overrides", "+x._target_=os.system")),
    "garbage-runs": _garbage("runs"),
    "truncated-runs": _truncate("runs"),
    "truncated-timeseries": _truncate("timeseries"),
    "no-json": _rm("sweep.json"),
    "foreign": _foreign,
    "single-run-dir": lambda d: (_foreign(d), _write("runs.parquet", b"PAR1")(d)),
}

# which commands must refuse which damage (exit 2), naming what
SWEEP_CASES: list[tuple[str, str, str]] = [
    ("report", "corrupt-json", "sweep.json"),
    ("resume", "corrupt-json", "sweep.json"),
    ("report", "empty-json", "sweep.json"),
    ("resume", "empty-json", "sweep.json"),
    ("report", "json-list", "sweep.json"),
    ("resume", "json-list", "sweep.json"),
    ("report", "no-sweep-id", "sweep_id"),
    ("resume", "no-sweep-id", "sweep_id"),
    ("resume", "sweep-id-number", "sweep_id"),
    ("resume", "params-list", "params"),
    ("resume", "launches-str", "launches"),
    ("resume", "launches-empty", "launches"),
    ("resume", "overrides-not-str", "overrides"),
    ("resume", "callback-hydra", "hydra.callbacks"),
    ("resume", "callback-task", "hydra.callbacks"),
    ("resume", "launcher-target", "_target_"),
    ("resume", "searchpath", "hydra.searchpath"),
    ("resume", "task-target", "_target_"),
    ("report", "garbage-runs", "runs/"),
    ("report", "truncated-runs", "runs/"),
    ("report", "truncated-timeseries", "timeseries/"),
    ("report", "no-json", "sweep.json"),
    ("resume", "no-json", "sweep.json"),
    ("report", "foreign", "sweep.json"),
    ("resume", "foreign", "sweep.json"),
    ("report", "single-run-dir", "sweep.json"),
    ("run-m", "foreign", "not a sweep directory"),
    ("run-m", "corrupt-json", "sweep.json"),
]


def sweep_dir_cases() -> list[Case]:
    """report / resume / run -m --out on damaged or foreign sweep directories."""
    out = []
    for command, damage, names in SWEEP_CASES:
        if command == "run-m":
            argv = ("run", "-m", "setup=rigid,flexible", *TINY, "--jobs", "1", "--out", "SW")
        elif command == "resume":
            argv = ("resume", "SW", "--jobs", "1")
        else:
            argv = ("report", "SW")
        out.append(Case(f"cli-{command}-{damage}", "cli", argv=argv, names=names, sweep=damage))
    for cid, argv, names in [
        ("report-missing", ("report", "nowhere"), "nowhere"),
        ("resume-missing", ("resume", "nowhere"), "nowhere"),
        ("report-a-file", ("report", "/etc/hostname"), "/etc/hostname"),
        ("resume-a-file", ("resume", "/etc/hostname"), "/etc/hostname"),
    ]:
        out.append(Case(f"cli-{cid}", "cli", argv=argv, names=names, group="sweepdir"))
    for cid, extra, names in [
        ("run-nope", ("--run", "nope"), "nope"),
        ("kpis-nope", ("--kpis", "nope"), "nope"),
        ("baseline-nope", ("--baseline", "setup=nope"), "nope"),
        ("x-nope", ("--x", "nope"), "nope"),
        ("out-a-file", ("--out", "/etc/hostname"), "--out"),
    ]:
        out.append(
            Case(f"cli-report-{cid}", "cli", argv=("report", "SW", *extra), names=names, sweep="ok")
        )
    for case in out:
        case.group = case.group or "sweepdir"
    return out


def all_cases() -> list[Case]:
    """The whole corpus."""
    return cli_cases() + api_cases() + schema_cases()


# ----------------------------------------------------------------------------- running


def make_tiny_sweep(directory: Path) -> Path:
    """A finished two-run sweep (rigid, flexible) made by the real command."""
    out = directory / "tiny_sweep"
    proc = subprocess.run(
        [VIRALCHAIN, "run", "-m", "setup=rigid,flexible", *TINY, "--jobs", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the tiny sweep failed: {proc.stderr}")
    return out


def _snapshot(root: Path) -> dict[str, float]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            out[str(p.relative_to(root))] = p.stat().st_mtime_ns
    return out


@contextlib.contextmanager
def _no_server() -> Iterator[list[list[str]]]:
    """The dashboard's server start recorded instead of run."""
    started: list[list[str]] = []
    real = subprocess.call

    def fake(cmd, *a, **k):
        started.append(list(cmd))
        return 0

    subprocess.call = fake
    try:
        yield started
    finally:
        subprocess.call = real


def _call_cli(argv: list[str], cwd: Path) -> tuple[int | None, str, str]:
    from experiments.cli import main

    err, out = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    tb = ""
    code: int | None = None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), _no_server():
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException:  # a traceback is what the corpus counts
                tb = traceback.format_exc()
    finally:
        os.chdir(old)
    return code, err.getvalue(), tb


def run_case(case: Case, tmp: Path, tiny_sweep: Path | None = None) -> Outcome:
    """Run one case in ``tmp`` (its working directory is nested inside) and classify it."""
    work = tmp / "a" / "b" / "c" / "d"
    work.mkdir(parents=True, exist_ok=True)
    argv = list(case.argv)
    if case.sweep:
        assert tiny_sweep is not None
        sw = work / "SW"
        shutil.copytree(tiny_sweep, sw)
        if case.sweep != "ok":
            DAMAGES[case.sweep](sw)
    before = _snapshot(tmp)
    tb, message, code = "", "", None
    if case.kind == "cli":
        code, message, tb = _call_cli(argv, work)
    else:
        old = os.getcwd()
        os.chdir(work)
        try:
            case.api(work)
            code = 0
        except ValueError as exc:  # ConfigError is a ValueError
            from sim.errors import ConfigError

            code = 2 if isinstance(exc, ConfigError) else None
            message = str(exc)
            if code is None:
                tb = traceback.format_exc()
        except BaseException:
            tb = traceback.format_exc()
        finally:
            os.chdir(old)
    after = _snapshot(tmp)
    written = sorted(k for k, v in after.items() if before.get(k) != v)
    pwned = [k for k in after if Path(k).name == PWNED]
    if tb or "Traceback (most recent call last)" in message:
        return Outcome("traceback", code, message, (tb or message).strip().splitlines()[-1])
    if pwned:
        return Outcome("wrote", code, message, "code from data ran", pwned)
    if code != case.code:
        return Outcome("wrong_exit", code, message, f"exit {code}, expected {case.code}")
    if case.code == 0:
        root = str((work / case.accepted_writes_under).relative_to(tmp))
        outside = [w for w in written if not w.startswith(root + os.sep)]
        if outside:
            return Outcome("wrote", code, message, "wrote outside the output root", outside)
        return Outcome("clean", code, message)
    if case.names not in message:
        return Outcome("vague_message", code, message, f"message does not name {case.names!r}")
    if case.kind == "cli" and len([x for x in message.splitlines() if x.strip()]) > 6:
        return Outcome("vague_message", code, message, "more than a few lines")
    if written:
        return Outcome("wrote", code, message, "wrote files on refusal", written)
    return Outcome("clean", code, message)


def figures(outcomes: dict[str, tuple[Case, Outcome]]) -> str:
    """Total, clean, tracebacks, wrong exits (and the rest), overall and per kind."""
    lines = []
    for kind in ("all", "cli", "api"):
        chosen = [o for c, o in outcomes.values() if kind == "all" or c.kind == kind]
        counts = {k: 0 for k in ("clean", "traceback", "wrong_exit", "vague_message", "wrote")}
        for o in chosen:
            counts[o.category] += 1
        lines.append(
            f"{kind:<4} total {len(chosen):4d}  "
            + "  ".join(f"{k} {v:4d}" for k, v in counts.items())
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the whole corpus and print the figures (and each case that is not clean)."""
    import tempfile

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", help="substring of case ids to run")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("VIRALCHAIN_FORKSERVER", "0")
    # an accepted bad input may run for ever or exhaust memory: bound both
    import resource
    import signal

    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, resource.RLIM_INFINITY))

    def _timeout(*_):
        raise TimeoutError("the case ran for more than 120 s")

    signal.signal(signal.SIGALRM, _timeout)
    cases = [c for c in all_cases() if not args.only or args.only in c.id]
    outcomes: dict[str, tuple[Case, Outcome]] = {}
    with tempfile.TemporaryDirectory() as d:
        tiny = make_tiny_sweep(Path(d)) if any(c.sweep for c in cases) else None
        for i, case in enumerate(cases):
            tmp = Path(d) / f"case{i}"
            tmp.mkdir()
            signal.alarm(120)
            outcomes[case.id] = (case, run_case(case, tmp, tiny))
            signal.alarm(0)
            shutil.rmtree(tmp, ignore_errors=True)
            o = outcomes[case.id][1]
            if o.category != "clean" and not args.quiet:
                print(f"{o.category:<13} {case.id}: {o.detail}", flush=True)
    print(figures(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
