"""Random streams derived from identity, never from call order.

Every stream is ``SeedSequence(entropy=seed, spawn_key=(h(family), h(id), ...))``: adding a
KOL does not reshuffle a factory, and two policies run on the same seed draw the same
content trace (common random numbers). ``h`` is a stable 32-bit hash (crc32), independent of
``PYTHONHASHSEED``.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

_INTEGERS = (int, np.integer)


@functools.lru_cache(maxsize=4096)
def _text_key(text: str) -> int:
    return zlib.crc32(text.encode())


def _key(part: object) -> int:
    if isinstance(part, _INTEGERS):
        return int(part) & 0xFFFFFFFF
    return _text_key(str(part))  # names repeat every hour: hashed once


def seed_sequence(seed: int, *identity: object) -> np.random.SeedSequence:
    """The seed sequence of the stream named by ``identity`` under the root ``seed``."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_key(p) for p in identity))


def stream(seed: int, *identity: object) -> np.random.Generator:
    """A fresh generator for the stream named by ``identity`` under the root ``seed``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *identity)))


def derive_seed(root_seed: int, replication: int) -> int:
    """The run seed of a replication: a stable function of (root seed, replication)."""
    ss = np.random.SeedSequence(
        entropy=int(root_seed), spawn_key=(_key("replication"), replication)
    )
    return int(ss.generate_state(1, dtype=np.uint32)[0])
