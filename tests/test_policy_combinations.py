"""Every combination of the policy groups composes and runs on a tiny world.

Composition: each group option is composed through Hydra on its own
(``test_every_group_option_composes`` in test_config.py). The policy groups write disjoint
blocks (``policy.<family>.name``), so a combination is that set of names on one composed
config, validated once by the schema.

Running: the full product of all options of all families (20,736 combinations per setup,
41,472 runs, about 20 minutes on 2 cores) runs in the slow suite (``make test-slow``),
checking every invariant at the end of each run. The
default suite runs a pairwise covering array: every option of every family meets every option
of every other family at least once, in both setups, with every invariant checked after every
simulated hour.
"""

from __future__ import annotations

import itertools

import pytest

import sim
from experiments.compose import group_options
from sim.invariants import check, check_kpis
from sim.policies import registry

FAMILIES = list(registry.FAMILIES)
OPTIONS = {f: registry.names(f) for f in FAMILIES}

TINY = [
    "market.n_consumers=300",
    "run.horizon_hours=72",
    "run.timeseries_resolution=off",
    "content.calendar=[{kol: top_streamer, at_hour: 20, kind: livestream, skus: [], "
    "duration_hours: 2}, {kol: foodie_a, at_hour: 30, kind: short_video, skus: [], "
    "duration_hours: 1}]",
    "policy.prepositioning.hours_before=12",
    "policy.presale.start_hour=0",
]


def pairwise(options: dict[str, list[str]]) -> list[dict[str, str]]:
    """A deterministic greedy covering array of strength 2 over ``options``."""
    fams = list(options)
    uncovered = {
        (a, x, b, y)
        for a, b in itertools.combinations(fams, 2)
        for x in options[a]
        for y in options[b]
    }
    rows: list[dict[str, str]] = []
    while uncovered:
        best, best_gain = None, -1
        # seed the row with the first uncovered pair, then fill families greedily
        a, x, b, y = min(uncovered)
        row = {a: x, b: y}
        for f in fams:
            if f in row:
                continue
            gains = []
            for v in options[f]:
                gain = sum(
                    ((g, row[g], f, v) if fams.index(g) < fams.index(f) else (f, v, g, row[g]))
                    in uncovered
                    for g in row
                )
                gains.append((gain, v))
            row[f] = max(gains, key=lambda t: (t[0], -options[f].index(t[1])))[1]
        best = row
        best_gain = sum(
            (p, best[p], q, best[q]) in uncovered for p, q in itertools.combinations(fams, 2)
        )
        assert best_gain > 0
        uncovered -= {(p, best[p], q, best[q]) for p, q in itertools.combinations(fams, 2)}
        rows.append(best)
    return rows


def _base(setup: str, debug: bool) -> dict:
    cfg = sim.compose(None, [f"setup={setup}", *TINY, f"run.debug_invariants={str(debug).lower()}"])
    return cfg.to_dict()


def _run(base: dict, combo: dict[str, str]) -> None:
    data = {**base, "policy": {k: dict(v) for k, v in base["policy"].items()}}
    for fam, name in combo.items():
        data["policy"][fam]["name"] = name
    if combo.get("forecast") == "known_mean":  # the one option with a parameter of its own
        data["policy"]["forecast"]["mean_units_per_day"] = 5.0
    r = sim.run(sim.validate(data), seed=1, keep_model=True)
    check(r.model)
    check_kpis(r.kpis)
    assert r.kpis["demand_units"] > 0


def test_the_covering_array_covers_every_pair():
    rows = pairwise(OPTIONS)
    for a, b in itertools.combinations(FAMILIES, 2):
        seen = {(r[a], r[b]) for r in rows}
        assert seen == set(itertools.product(OPTIONS[a], OPTIONS[b])), (a, b)
    assert len(rows) < 40  # far fewer than the full product


def test_policy_families_match_the_config_groups():
    for fam in FAMILIES:
        assert group_options(f"policy/{fam}") == OPTIONS[fam], fam


@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_pairwise_combinations_run_with_invariants_every_hour(setup):
    base = _base(setup, debug=True)
    for combo in pairwise(OPTIONS):
        _run(base, combo)


@pytest.mark.slow
@pytest.mark.parametrize("forecast", OPTIONS["forecast"])
@pytest.mark.parametrize("setup", ["rigid", "flexible"])
def test_full_product_of_policy_options_runs(setup, forecast):
    base = _base(setup, debug=False)
    rest = [f for f in FAMILIES if f != "forecast"]
    for names in itertools.product(*(OPTIONS[f] for f in rest)):
        _run(base, {"forecast": forecast, **dict(zip(rest, names, strict=True))})
