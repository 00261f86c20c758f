"""Random streams: the fast construction draws exactly what numpy's SeedSequence gives."""

from __future__ import annotations

import numpy as np
import pytest

from sim.rng import _SeedWords, seed_sequence, stream

SEEDS = [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**40 + 5, 2**64 + 3, 2**130 + 9]
IDENTITIES = [
    (),
    ("population",),
    ("consumers", 0),
    ("consumers", 719),
    ("kol", "top_streamer", "followers"),
    ("defects", "core", 1234, 56),
    ("x", 2**32 + 5, -1, np.int64(9)),
    ("a", "b", "c", "d", "e", "f"),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("identity", IDENTITIES)
def test_stream_draws_what_numpy_seed_sequence_gives(seed, identity):
    expected = np.random.Generator(np.random.PCG64(seed_sequence(seed, *identity)))
    got = stream(seed, *identity)
    assert (got.integers(0, 2**63, 16) == expected.integers(0, 2**63, 16)).all()
    assert got.bit_generator.state == expected.bit_generator.state


def test_stream_is_fresh_each_call_and_independent_of_call_order():
    a = stream(3, "organic", 5).random(4)
    stream(3, "organic", 6).random(100)  # another stream in between changes nothing
    assert (stream(3, "organic", 5).random(4) == a).all()


def test_precomputed_seed_words_serve_pcg64_only():
    words = _SeedWords(np.zeros(4, dtype=np.uint64))
    with pytest.raises(ValueError, match="PCG64 only"):
        words.generate_state(8, np.uint32)


def test_negative_seeds_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        stream(-1, "x")


@pytest.mark.parametrize("seed", [0, 5, 2**32 + 5, 2**64 + 3])
def test_streams_from_block_tables_draw_what_numpy_gives(seed):
    """The hour-like last part of an identity: the first streams of a block of 256 come from
    the integer code, the later ones from the block's table (vectorised): both as numpy."""
    from sim import rng

    rng._tables.clear()
    rng._asked.clear()
    parts = [0, 1, 2, 100, 255, 256, 257, 719, 2**32 - 257, 2**32 - 256, 2**32 - 1]
    for identity in [("organic",), ("inspect", "central"), ("defects", "core", 12)]:
        for _ in range(rng._ASKS + 1):  # the last rounds come from the tables
            for p in parts:
                expected = np.random.Generator(np.random.PCG64(seed_sequence(seed, *identity, p)))
                got = stream(seed, *identity, p)
                assert got.bit_generator.state == expected.bit_generator.state, (identity, p)
                assert got.random() == expected.random()
    assert len(rng._tables) >= 3 * 4  # every block asked again and again has its table
    for table in rng._tables.values():
        assert not table.flags.writeable


def test_block_tables_stay_bounded():
    from sim import rng

    for p in range(0, 2 * rng._BLOCK * (rng._MAX_TABLES + 10), rng._BLOCK):
        for i in range(rng._ASKS):
            stream(1, "bounded", p + i)
    assert len(rng._tables) <= rng._MAX_TABLES
    assert len(rng._asked) <= 16 * rng._MAX_TABLES


def test_a_block_asked_for_a_few_times_has_no_table():
    """The deliveries of one hour (numbered by order) ask for a block a few times: no table."""
    from sim import rng

    rng._tables.clear()
    rng._asked.clear()
    for p in range(rng._ASKS - 1):
        stream(2, "few-asks", 7, 1000 + p)
    assert not rng._tables
    stream(2, "few-asks", 7, 1000 + rng._ASKS)
    assert len(rng._tables) == 1


def test_identities_of_equal_but_other_typed_parts_draw_what_numpy_gives():
    """The keys of a name and a number are remembered: a float, bool or numpy integer equal
    to a remembered int is keyed as numpy keys it (``1.0`` as the text "1.0")."""
    from sim import rng

    rng._prefix_keys.clear()
    identities = [
        ("a", 5),
        ("a", 1, 5),
        ("a", 1.0, 5),
        ("a", True, 5),
        ("a", np.int64(1), 5),
        ("a", 1, np.int64(5)),
        ("a", 1, -3),
        ("a", 1, 2**40 + 7),
        (1, 5),
        ("a", "b", 5),
    ]
    for _ in range(2):  # the second time from the remembered keys
        for identity in identities:
            expected = np.random.Generator(np.random.PCG64(seed_sequence(9, *identity)))
            got = stream(9, *identity)
            assert got.bit_generator.state == expected.bit_generator.state, identity
    assert ("a",) in rng._prefix_keys and ("a", 1) in rng._prefix_keys


def test_remembered_identity_keys_stay_bounded():
    from sim import rng

    for hour in range(rng._MAX_PREFIXES + 10):
        stream(1, "deliveries", hour, 3)
    assert len(rng._prefix_keys) <= rng._MAX_PREFIXES
