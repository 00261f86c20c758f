"""Random streams derived from identity, never from call order.

Every stream is ``SeedSequence(entropy=seed, spawn_key=(h(family), h(id), ...))``: adding a
KOL does not reshuffle a factory, and two policies run on the same seed draw the same
content trace (common random numbers). ``h`` is a stable 32-bit hash (crc32), independent of
``PYTHONHASHSEED``. :func:`stream` builds that generator without numpy's ``SeedSequence``
object (the same state, in a third of the time: streams are made every simulated hour).
"""

from __future__ import annotations

import functools
import math
import sys
import zlib

import numpy as np
from numpy.random.bit_generator import ISeedSequence

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
    """A fresh generator for the stream named by ``identity`` under the root ``seed``.

    The same generator as ``Generator(PCG64(seed_sequence(seed, *identity)))``, built in
    a fraction of the time (streams are made every hour): the seed sequence's state is
    computed by :func:`_pcg64_seed_words`, which remembers the pool mixed from the seed and
    the identity's leading parts, so each new stream mixes in only its last part; once the
    last parts of a prefix come back from the same block of 256 (the hours of a run), their
    states come from a table computed for the whole block at once (:func:`_block_table`).
    """
    seed = int(seed)
    n = len(identity)
    if (  # a name and a number (the hour), or a name, a name or number, and a number:
        # Python's str and int
        1 < n < 4
        and type(identity[-1]) is int
        and type(identity[0]) is str
        and (n == 2 or type(identity[1]) is int or type(identity[1]) is str)
    ):
        head = identity[:-1]
        prefix = _prefix_keys.get(head)
        if prefix is None:
            if len(_prefix_keys) >= _MAX_PREFIXES:
                _prefix_keys.clear()
            prefix = _prefix_keys[head] = tuple(map(_key, head))
        last = identity[-1] & _M32
        # _block_words' table read in line (most streams: the hours of a run)
        table = _tables.get((seed, prefix, last // _BLOCK))
        if table is not None:
            return _GENERATOR(_PCG64(_SeedWords(table[last % _BLOCK])))
        words = _block_words(seed, prefix, last)
        if words is None:
            words = _pcg64_seed_words(seed, (*prefix, last))
    else:
        keys = tuple(map(_key, identity))
        words = _block_words(seed, keys[:-1], keys[-1]) if keys else None
        if words is None:
            words = _pcg64_seed_words(seed, keys)
    return _GENERATOR(_PCG64(_SeedWords(words)))


_GENERATOR, _PCG64 = np.random.Generator, np.random.PCG64
# the keys of an identity's leading parts (names repeat every hour); only for Python's str
# and int (equal tuples of these have equal keys: not so 1.0, equal to 1 but keyed "1.0")
_prefix_keys: dict[tuple[object, ...], tuple[int, ...]] = {}
_MAX_PREFIXES = 4096


# ---------------------------------------------------------------------- seed sequences
# numpy's SeedSequence (numpy/random/bit_generator.pyx, stable across versions by NEP 19),
# restated in integer arithmetic so that the pool mixed from a prefix of the entropy can be
# remembered: ``tests/test_rng.py`` checks it against numpy word for word.
_M32 = 0xFFFFFFFF
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715


def _hashmix(value: int, hash_const: int) -> tuple[int, int]:
    value ^= hash_const
    hash_const = (hash_const * _MULT_A) & _M32
    value = (value * hash_const) & _M32
    return value ^ (value >> 16), hash_const


def _mix(x: int, y: int) -> int:
    r = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _M32
    return r ^ (r >> 16)


def _words32(value: int) -> list[int]:
    """An entropy integer as 32-bit words, least significant first (at least one)."""
    if value < 0:
        raise ValueError(f"a seed must be non-negative, got {value}")
    out = [value & _M32]
    value >>= 32
    while value:
        out.append(value & _M32)
        value >>= 32
    return out


def _pool(seed: int, spawn_key: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The mixed pool and hash constant after the seed and ``spawn_key`` (32-bit parts).

    The pool of every prefix is remembered (:func:`_prefix_pool`); the last part, which is
    new for most streams (often the hour), is mixed in here, in line.
    """
    if not spawn_key:
        return _prefix_pool(seed, spawn_key)
    pool, hash_const = _prefix_pool(seed, spawn_key[:-1])
    part = spawn_key[-1]
    mixed = []
    for x in pool:  # numpy's hashmix of the part, then mix into the pool word
        value = part ^ hash_const
        hash_const = (hash_const * _MULT_A) & _M32
        value = (value * hash_const) & _M32
        value ^= value >> 16
        r = (_MIX_MULT_L * x - _MIX_MULT_R * value) & _M32
        mixed.append(r ^ (r >> 16))
    return tuple(mixed), hash_const


@functools.lru_cache(maxsize=1024)
def _prefix_pool(seed: int, spawn_key: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """:func:`_pool`, remembered: the seed and the leading parts of identities repeat."""
    return _pool(seed, spawn_key) if spawn_key else _seed_pool(seed)


def _seed_pool(seed: int) -> tuple[tuple[int, ...], int]:
    """The pool mixed from the seed alone (short seeds are padded with zeros, as numpy does)."""
    entropy = _words32(seed)
    hash_const = _INIT_A
    mixer = []
    for i in range(_POOL_SIZE):
        h, hash_const = _hashmix(entropy[i] if i < len(entropy) else 0, hash_const)
        mixer.append(h)
    for i_src in range(_POOL_SIZE):
        for i_dst in range(_POOL_SIZE):
            if i_src != i_dst:
                h, hash_const = _hashmix(mixer[i_src], hash_const)
                mixer[i_dst] = _mix(mixer[i_dst], h)
    for word in entropy[_POOL_SIZE:]:
        for i_dst in range(_POOL_SIZE):
            h, hash_const = _hashmix(word, hash_const)
            mixer[i_dst] = _mix(mixer[i_dst], h)
    return tuple(mixer), hash_const


def _state_constants() -> tuple[tuple[int, int], ...]:
    """Per output word, the hash constant it is xored with and the one it is multiplied by."""
    out, hash_const = [], _INIT_B
    for _ in range(8):
        nxt = (hash_const * _MULT_B) & _M32
        out.append((hash_const, nxt))
        hash_const = nxt
    return tuple(out)


_STATE_CONSTANTS = _state_constants()


_LITTLE_ENDIAN = sys.byteorder == "little"


def _pcg64_seed_words(seed: int, spawn_key: tuple[int, ...]) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=spawn_key).generate_state(4, np.uint64)``."""
    (p0, p1, p2, p3), _ = _pool(seed, spawn_key)
    (x0, m0), (x1, m1), (x2, m2), (x3, m3), (x4, m4), (x5, m5), (x6, m6), (x7, m7) = (
        _STATE_CONSTANTS
    )
    # output word i comes from pool word i % 4 (unrolled: this runs for every stream)
    v0 = ((p0 ^ x0) * m0) & _M32
    v1 = ((p1 ^ x1) * m1) & _M32
    v2 = ((p2 ^ x2) * m2) & _M32
    v3 = ((p3 ^ x3) * m3) & _M32
    v4 = ((p0 ^ x4) * m4) & _M32
    v5 = ((p1 ^ x5) * m5) & _M32
    v6 = ((p2 ^ x6) * m6) & _M32
    v7 = ((p3 ^ x7) * m7) & _M32
    out = [
        v0 ^ (v0 >> 16),
        v1 ^ (v1 >> 16),
        v2 ^ (v2 >> 16),
        v3 ^ (v3 >> 16),
        v4 ^ (v4 >> 16),
        v5 ^ (v5 >> 16),
        v6 ^ (v6 >> 16),
        v7 ^ (v7 >> 16),
    ]
    # 32-bit words read as little-endian 64-bit ones, as numpy does
    if _LITTLE_ENDIAN:  # the native order: a view is the 64-bit words
        return np.array(out, dtype=np.uint32).view(np.uint64)
    return np.array(out, dtype="<u4").view("<u8").astype(np.uint64)


# Streams whose identities differ only in a last part counting up (the hour, mostly) come
# from tables: the seed words of 256 consecutive last parts, computed at once in numpy's
# uint64 arithmetic (products of 32-bit numbers fit; every result is taken mod 2**32, as
# the integer code does) once a block of them has been asked for :data:`_ASKS` times (a
# table costs about as much as 30 streams made one by one: a block asked for a few times
# only, such as the deliveries of one hour, numbered by order, does better without).
_BLOCK = 256
_MAX_TABLES = 256
_ASKS = 8
_tables: dict[tuple[int, tuple[int, ...], int], np.ndarray] = {}
_asked: dict[tuple[int, tuple[int, ...], int], int] = {}


def _block_words(seed: int, prefix: tuple[int, ...], last: int) -> np.ndarray | None:
    """The seed words of the spawn key ``prefix + (last,)`` from its block's table (None:
    no table yet)."""
    block = (seed, prefix, last // _BLOCK)
    table = _tables.get(block)
    if table is None:
        asked = _asked.get(block, 0) + 1
        if asked < _ASKS:  # asked a few times: maybe never again (the hour inside a prefix)
            if asked == 1 and len(_asked) >= 16 * _MAX_TABLES:
                _asked.clear()
            _asked[block] = asked
            return None
        if len(_tables) >= _MAX_TABLES:
            _tables.clear()
        table = _tables[block] = _block_table(seed, prefix, last - last % _BLOCK)
        _asked.pop(block, None)
    return table[last % _BLOCK]


def _block_table(seed: int, prefix: tuple[int, ...], start: int, count: int = _BLOCK) -> np.ndarray:
    """``_pcg64_seed_words(seed, prefix + (p,))`` for ``p`` in ``start .. start + count - 1``
    (parts below 2**32), as rows of one read-only array, computed in vectorised uint64
    arithmetic."""
    m32, s16 = np.uint64(_M32), np.uint64(16)
    pool, hash_const = _prefix_pool(seed, prefix)
    part = np.arange(start, start + count, dtype=np.uint64)
    mixed = []
    for x in pool:  # as in _pool: hashmix of the part, then mix into the pool word
        value = part ^ np.uint64(hash_const)
        hash_const = (hash_const * _MULT_A) & _M32
        value = (value * np.uint64(hash_const)) & m32
        value ^= value >> s16
        # (L·x − R·value) mod 2**32: the uint64 difference wraps mod 2**64, a multiple
        r = (np.uint64((_MIX_MULT_L * x) & _M32) - np.uint64(_MIX_MULT_R) * value) & m32
        mixed.append(r ^ (r >> s16))
    out = []
    for i, (xor, mult) in enumerate(_STATE_CONSTANTS):
        value = ((mixed[i & 3] ^ np.uint64(xor)) * np.uint64(mult)) & m32
        out.append(value ^ (value >> s16))
    table = np.empty((count, 4), dtype=np.uint64)
    for j in range(4):  # 64-bit word j: 32-bit words 2j (low) and 2j + 1 (high)
        table[:, j] = out[2 * j] | (out[2 * j + 1] << np.uint64(32))
    table.flags.writeable = False
    return table


class _SeedWords(ISeedSequence):
    """A seed sequence whose state is already computed (what ``PCG64`` asks of it)."""

    __slots__ = ("_words",)

    def __init__(self, words: np.ndarray):
        self._words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        """The state words ``PCG64`` seeds from (four 64-bit words)."""
        if n_words != 4 or (dtype is not np.uint64 and np.dtype(dtype) != np.dtype(np.uint64)):
            raise ValueError("precomputed seed words serve PCG64 only (4 x uint64)")
        return self._words  # made for this generator alone: no copy needed


# numpy's PCG64 (numpy/random/src/pcg64: the 128-bit multiplier, XSL-RR output) for the
# first outputs of many hours' streams at once, and the few draws of its Generator a quiet
# hour makes from them on Python numbers (tests/test_hour_draws.py checks them against numpy
# number for number and state for state): a fresh generator costs more than those draws.
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M64 = (1 << 64) - 1
_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53: numpy's next_double


_U64 = np.uint64
_S32, _S63, _W32 = _U64(32), _U64(63), _U64(_M32)
_MULT_HI, _MULT_LO = _U64(_PCG_MULT >> 64), _U64(_PCG_MULT & _M64)
_MULT_L1, _MULT_L0 = _U64((_PCG_MULT & _M64) >> 32), _U64(_PCG_MULT & _M32)  # _MULT_LO's halves


def _pcg_step(
    hi: np.ndarray, lo: np.ndarray, inc_hi: np.ndarray, inc_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One PCG64 step of the 128-bit states ``(hi, lo)`` (uint64 arrays, the high and the
    low 64 bits): ``state · _PCG_MULT + inc mod 2**128``, ``inc`` as ``(inc_hi, inc_lo)``.
    ``lo · _MULT_LO`` in full (its high word from products of 32-bit halves), the other
    products' low words, carries by comparison."""
    a1, a0 = lo >> _S32, lo & _W32
    p00, p01, p10 = a0 * _MULT_L0, a0 * _MULT_L1, a1 * _MULT_L0
    mid = (p00 >> _S32) + (p01 & _W32) + (p10 & _W32)
    high = a1 * _MULT_L1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    high += lo * _MULT_HI + hi * _MULT_LO
    low = lo * _MULT_LO + inc_lo
    high += inc_hi + (low < inc_lo)
    return high, low


def hour_outputs(seed: int, name: str, start: int, count: int, k: int) -> np.ndarray:
    """The first ``k`` 64-bit outputs of the generators ``stream(seed, name, h)`` for the
    hours ``h`` in ``start .. start + count - 1`` (``0 <= h < 2**32``), as a ``(count, k)``
    uint64 array: their seed words (:func:`_block_table`) and numpy's PCG64 seeding and
    steps (:func:`_pcg_step`) on 128-bit states held as two uint64 arrays, all hours at
    once. Nothing is kept."""
    if start < 0 or start + count > 1 << 32:
        raise ValueError(f"hours {start}..{start + count - 1}: outside 0..2**32 - 1")
    words = _block_table(int(seed), (_key(name),), start, count)
    one = _U64(1)
    inc_hi = (words[:, 2] << one) | (words[:, 3] >> _S63)
    inc_lo = (words[:, 3] << one) | one
    # pcg64_srandom_r: state 0, a step (the increment), the initial state added, a step
    lo = inc_lo + words[:, 1]
    hi = inc_hi + words[:, 0] + (lo < inc_lo)
    hi, lo = _pcg_step(hi, lo, inc_hi, inc_lo)
    out = np.empty((count, k), dtype=np.uint64)
    for j in range(k):  # a step, then XSL-RR of the new state
        hi, lo = _pcg_step(hi, lo, inc_hi, inc_lo)
        x = hi ^ lo
        r = hi >> _U64(58)
        out[:, j] = (x >> r) | (x << ((_U64(64) - r) & _S63))
    return out


def poisson_integers(outputs: list[int], lam: float, n: int) -> list[int] | None:
    """What a generator whose first 64-bit outputs are ``outputs`` (:func:`hour_outputs`)
    draws first for ``k = poisson(lam)`` (``0 < lam < 10``: numpy's multiplication method,
    uniforms multiplied until the product is at most ``exp(-lam)``), then
    ``integers(0, n)`` ``k`` times (``2 <= n < 2**32``: Lemire's bounded draw on 32-bit
    halves, the lower half of an output first and the upper one kept for the next, as
    numpy's ``next_uint32``; a scalar draw and an array's take the same halves): those ``k``
    integers, or None when they need more outputs than given. None too outside those
    bounds (numpy: its PTRS method at a mean of 10 or more; no draw at 0; an error below 0,
    at NaN or at a bound below 1; 64-bit draws for a bound beyond 32 bits); a bound of 1
    draws nothing (``integers(0, 1)``: ``k`` zeros)."""
    if not (0.0 < lam < 10.0 and 1 <= n <= _M32):
        return None
    enlam = math.exp(-lam)
    k = 0
    prod = 1.0
    it = iter(outputs)
    for w in it:
        prod *= (w >> 11) * _DOUBLE
        if prod > enlam:
            k += 1
        else:
            break
    else:
        return None
    if n == 1:
        return [0] * k
    out = []
    half = -1  # the upper half of the last output, while unused
    threshold = -1
    for _ in range(k):
        while True:
            if half >= 0:
                v, half = half, -1
            else:
                w = next(it, -1)
                if w < 0:
                    return None
                v, half = w & _M32, w >> 32
            m = v * n
            leftover = m & _M32
            if leftover >= n:
                break
            if threshold < 0:
                threshold = (_M32 + 1 - n) % n
            if leftover >= threshold:
                break
        out.append(m >> 32)
    return out


class LazyStream:
    """The stream ``stream(seed, name, hour)`` whose first 64-bit outputs are ``outputs``
    (:func:`hour_outputs`), its generator made only when more than those are drawn
    (:meth:`uniforms`; the generator then draws them again, which leaves it in the same
    state)."""

    __slots__ = ("_drawn", "_generator", "_hour", "_name", "_outputs", "_seed")

    def __init__(self, outputs: list[int], seed: int, name: str, hour: int):
        self._outputs = outputs
        self._seed, self._name, self._hour = seed, name, hour
        self._drawn = 0
        self._generator: np.random.Generator | None = None

    def uniforms(self, n: int) -> list[float]:
        """``Generator.random(n).tolist()`` (the first draws of the stream: Python's)."""
        if self._drawn or self._generator is not None or n > len(self._outputs):
            return self.generator().random(n).tolist()
        self._drawn = n
        return [(w >> 11) * _DOUBLE for w in self._outputs[:n]]

    def first(self) -> float:
        """``Generator.random()`` as the stream's first draw (:meth:`uniforms` of one)."""
        if self._drawn or self._generator is not None or not self._outputs:
            return self.generator().random()
        self._drawn = 1
        return (self._outputs[0] >> 11) * _DOUBLE

    def generator(self) -> np.random.Generator:
        """The stream's generator, in the state the draws so far left (made once)."""
        g = self._generator
        if g is None:
            g = self._generator = stream(self._seed, self._name, self._hour)
            if self._drawn:
                g.random(self._drawn)
        return g


def generator(rng: np.random.Generator | LazyStream) -> np.random.Generator:
    """``rng`` as numpy's generator (a :class:`LazyStream`'s own)."""
    return rng.generator() if type(rng) is LazyStream else rng  # type: ignore[return-value]


def derive_seed(root_seed: int, replication: int) -> int:
    """The run seed of a replication: a stable function of (root seed, replication)."""
    ss = np.random.SeedSequence(
        entropy=int(root_seed), spawn_key=(_key("replication"), replication)
    )
    return int(ss.generate_state(1, dtype=np.uint32)[0])
