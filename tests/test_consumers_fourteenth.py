"""The consumers' hour with fewer calls (issue 21, fourteenth pass): a few exposures'
decision reads the exposure count's factors of small counts, the channels' conversions and
the products' appeal from Python copies (``_seen_heads``: the same numbers, kept with the
tables), each kept copy checked in debug mode."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import sim
import sim.agents.wishes as wishes
from sim.invariants import InvariantError
from sim.model import ViralChainModel
from sim.orders import CH_LIVE, CH_ORGANIC, CH_VIDEO, CH_WOM
from sim.rng import stream
from tests.test_few_exposures import N, _few_against_numpy, _world
from tests.test_kept_answers import _model, _until_kept


@pytest.fixture(scope="module")
def base_model() -> ViralChainModel:
    cfg = sim.compose("two_brands", [f"market.n_consumers={N}", "run.horizon_hours=48"])
    return ViralChainModel(cfg, 5)


@pytest.mark.parametrize("seed", range(24))
def test_few_exposures_at_counts_around_the_heads_decide_as_the_numpy_way(base_model, seed):
    """Groups whose count lands just below, at and above ``_HEAD`` (and at the saturation),
    with fatigue on and off: the few-exposure way gives the numpy way's wishes, books
    (the counts written back among them) and generator state."""
    world = _world(base_model, seed)
    r = np.random.default_rng(500 + seed)
    pop = world.population
    head = wishes._HEAD
    counts = r.choice(
        [0, head - 3, head - 2, head - 1, head, head + 1, 9_999], size=pop.state.shape
    )
    pop.exposure_count[:] = counts.astype(np.uint16)
    k = int(r.integers(2, wishes._SMALL_BATCH + 1))
    cons = r.choice(r.integers(0, N, max(1, k // 2)), k).astype(np.int64)
    skus = r.integers(0, world.n_sku, k).astype(np.int64)
    channels = r.choice([CH_ORGANIC, CH_VIDEO, CH_LIVE, CH_WOM], k).astype(np.int8)
    kols = np.where(r.random(k) < 0.5, r.integers(0, len(world.kol_trust), k), -1)
    hour = int(r.integers(0, 400))
    _few_against_numpy(
        world,
        hour,
        cons,
        skus,
        channels,
        kols.astype(np.int32),
        stream(seed, "heads"),
        "_few_wish_rows",
    )


@pytest.mark.parametrize("fatigue", [0.0, 0.3])
def test_the_heads_are_the_tables_first_entries_kept_with_them(base_model, fatigue):
    """``_seen_heads``: the first ``_HEAD`` entries of the boost's and fatigue's tables as
    Python floats (bit for bit; None without fatigue), kept with the tables (in
    ``_seen_tables``) and made again with them for other settings."""
    m = copy.deepcopy(base_model)
    pop = m.population
    plain = pop.cfg.consumer.model_copy(update={"exposure_fatigue": fatigue})
    pop.cfg = pop.cfg.model_copy(update={"consumer": plain})
    boost, tired = pop._seen_factors()
    b, f = pop._seen_heads()
    assert len(b) == wishes._HEAD and all(type(x) is float for x in b)
    assert np.array(b).tobytes() == boost[: wishes._HEAD].tobytes()
    if fatigue:
        assert np.array(f).tobytes() == tired[: wishes._HEAD].tobytes()
    else:
        assert tired is None and f is None
    assert pop._seen_factors()[0] is boost and pop._seen_heads()[0] is b  # kept
    other = pop.cfg.consumer.model_copy(update={"exposure_fatigue": fatigue + 0.2})
    pop.cfg = pop.cfg.model_copy(update={"consumer": other})
    again, tired2 = pop._seen_factors()
    b2, f2 = pop._seen_heads()
    assert again is not boost and b2 == boost[: wishes._HEAD].tolist()  # made again
    assert np.array(f2).tobytes() == tired2[: wishes._HEAD].tobytes() and f2 != f


@pytest.mark.parametrize("which", [0, 1])
def test_debug_mode_finds_a_head_written_in_place(which):
    """A table of the count's factors (the boost's or the fatigue's) written in place after
    its heads were copied: the hour's debug checks raise."""
    m = _model()
    _until_kept(m, "_seen_tables")
    m.run_for(3)  # the kept copies hold: the checks pass
    pop = m.population
    table = pop._seen_factors()[which]
    assert table is not None  # (the default settings have fatigue)
    table[2] = 3.5  # in place: the table is the same array
    with pytest.raises(InvariantError, match="count's factors"):
        pop.check_kept_answers()


@pytest.mark.parametrize(
    ("initial", "produced", "out"),
    [(0, 0, 0), (0, 0, 3), (5, 0, 0), (5, 0, 1), (0, 7, 2), (1 << 40, 1 << 40, 1), (9, 9, 18)],
)
def test_hidden_defects_on_python_ints_are_the_share_not_zero(initial, produced, out):
    """``Ledger.hides_defects``: product 0's ``defective_share()`` is not 0.0, told from the
    ledger's counters on Python ints (nothing made: 0.0; one defective unit in a vast
    stock: still hidden)."""
    from sim.ledger import Ledger

    led = Ledger(1, 1, 2, np.zeros(1))
    led.units["initial"][0] = initial
    led.units["produced"][0] = produced
    led.units["defective_out"][0] = out
    assert led.hides_defects() == (led.defective_share().item(0) != 0.0)
