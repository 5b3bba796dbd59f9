"""xoshiro256** random streams for Numba kernels.

Every Monte Carlo kernel takes its generator explicitly as a ``uint64[4]`` state array that it
advances in place. One chain owns one state, so results never depend on thread count or on the
order in which chains run (DESIGN.md §9.2). States are derived from a user seed through
``numpy.random.SeedSequence``, which gives statistically independent streams per chain.

The generator is xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
generators", ACM TOMS 47, 2021). ``Xoshiro256Reference`` is a pure-Python copy used in the tests
to pin the kernel's output bit for bit.

Example
-------
>>> import numpy as np
>>> from latticediff.mc._rng import seed_states, next_u64, uniform
>>> states = seed_states(1234, 2)
>>> states.shape, states.dtype
((2, 4), dtype('uint64'))
>>> 0.0 <= uniform(states[0]) < 1.0
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MASK = (1 << 64) - 1


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def next_u64(s):
    """Advance state ``s`` (uint64[4]) and return the next 64-bit output."""
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return result


@njit(cache=True, inline="always")
def uniform(s):
    """A double in [0, 1) with 53 random bits."""
    return np.float64(next_u64(s) >> np.uint64(11)) * 1.1102230246251565e-16


@njit(cache=True, inline="always")
def randbelow(s, n):
    """An integer uniform in [0, n) for 0 < n < 2**32 (multiply-shift; bias < n / 2**32)."""
    return np.int64(((next_u64(s) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


def seed_states(seed: int | np.random.SeedSequence, n_streams: int) -> np.ndarray:
    """Independent xoshiro256** states, one row per stream, from one user seed.

    >>> seed_states(7, 3).shape
    (3, 4)
    """
    if n_streams < 1:
        raise ValueError(f"n_streams must be >= 1, got {n_streams}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = np.empty((n_streams, 4), dtype=np.uint64)
    for i, child in enumerate(ss.spawn(n_streams)):
        st = child.generate_state(4, np.uint64)
        if not st.any():  # xoshiro's one forbidden state; probability 2**-256
            st[0] = 1
        out[i] = st
    return out


class Xoshiro256Reference:
    """Pure-Python xoshiro256** with the same outputs as the Numba kernel functions.

    >>> ref = Xoshiro256Reference([1, 2, 3, 4])
    >>> ref.next_u64()
    11520
    """

    def __init__(self, state):
        self.s = [int(v) & _MASK for v in state]

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & _MASK

    def next_u64(self) -> int:
        s = self.s
        result = (self._rotl((s[1] * 5) & _MASK, 7) * 9) & _MASK
        t = (s[1] << 17) & _MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        return (self.next_u64() >> 11) * 2.0**-53

    def randbelow(self, n: int) -> int:
        return ((self.next_u64() >> 32) * n) >> 32
