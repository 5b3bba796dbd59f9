"""Multi-spin-coded checkerboard Metropolis: 64 independent Ising replicas per uint64 word.

Bit r of ``words[i, j]`` is replica r's spin at site (i, j): 1 for +1, 0 for -1. One update of
a word attempts a flip in all 64 replicas with bitwise logic (the multi-spin coding of
Jacobs & Rebbi, J. Comput. Phys. 41, 203 (1981); Zorn, Herrmann & Rebbi, Comput. Phys. Commun.
23, 337 (1981)). Only h = 0 and even L (checkerboard) are supported.

For each replica the four bonds of the site are compared (XOR with the neighbours); with c the
number of unsatisfied bonds, ``dE = 8 - 4c``: c >= 3 always flips, c = 2 (dE = 0) flips with
probability 1/2, c = 1 with ``exp(-4 beta)``, c = 0 with ``exp(-8 beta)`` -- the same
acceptance as the scalar kernel of :mod:`latticediff.mc.ising` (where the choice
``a(0) = 1/2`` is explained), so each replica is the same Markov chain as ``"metropolis"``.

Independent replicas
--------------------
The common shortcut of one uniform number per site shared by all 64 replicas correlates the
replicas: they coalesce into identical copies within a few hundred sweeps (tested in
``tests/mc/test_multispin.py`` as a negative control). Here every replica draws its own
Bernoulli variable from its own bit lane: ``u_r < p_r`` is decided bit-serially, most
significant bit first, with bit r of successive 64-bit words as the digits of ``u_r``; a lane
is decided at its first digit that differs from ``p_r``'s (``p_r`` = the threshold of its
case), so about ``log2(#lanes) + 1.3`` words decide all lanes that need a coin (c = 2 lanes are
decided by the first digit, lanes with c >= 3 need none). The kernel always draws the first 8
digits (a fixed, well-predicted loop) and then continues while any lane is undecided. The
digits used by different lanes are different bits, and the words are i.i.d. (the stopping
rule looks only at digits already drawn), so replicas are exactly independent Markov chains up
to the generator's quality; the probability is exactly ``floor(p * 2**64) / 2**64``.

The energy of each replica after every sweep is counted with bit-sliced (vertical) counters of
the unsatisfied bonds, so no per-replica loop touches the lattice.

Example
-------
>>> from latticediff.systems import Ising
>>> from latticediff.mc._rng import seed_states
>>> x, e = run_multispin(Ising(L=8, T=3.0), seed_states(0, 1)[0], burn_in=5, n_samples=2, thin=1)
>>> x.shape, x.dtype, e.shape
((2, 64, 8, 8), dtype('int8'), (7, 64))
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import ParameterError
from ..systems import Ising
from ._rng import next_u64
from .ising import TC, _xo

__all__ = ["N_REPLICAS", "pack", "unpack", "run_multispin", "reference_multispin_sweep"]

N_REPLICAS = 64
_N_FIXED = 8  # digits drawn for every site before testing whether all lanes are decided
_LANES = np.arange(64, dtype=np.uint64)


def pack(spins: np.ndarray) -> np.ndarray:
    """Pack ``(64, L, L)`` spins in {-1, +1} into ``(L, L)`` uint64 words (bit r = replica r).

    >>> s = np.ones((64, 2, 2), np.int8); s[5, 0, 1] = -1
    >>> bool(pack(s)[0, 1] == np.uint64(2**64 - 1 - 2**5))
    True
    """
    s = np.asarray(spins)
    if s.ndim < 1 or s.shape[0] != 64:
        raise ParameterError(f"pack: spins must have shape (64, ...), got {s.shape}")
    bits = (s > 0).astype(np.uint64) << _LANES.reshape((64,) + (1,) * (s.ndim - 1))
    return np.bitwise_or.reduce(bits, axis=0)


def unpack(words: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack`: ``(L, L)`` uint64 -> ``(64, L, L)`` int8 spins.

    >>> w = np.zeros((2, 2), np.uint64)
    >>> s = unpack(w); s.shape, int(s.sum())
    ((64, 2, 2), -256)
    >>> bool((unpack(pack(s)) == s).all())
    True
    """
    w = np.asarray(words, dtype=np.uint64)
    bits = (w[None] >> _LANES.reshape((64,) + (1,) * w.ndim)) & np.uint64(1)
    return (2 * bits.astype(np.int8) - 1).astype(np.int8)


def _threshold(p: float) -> int:
    """``floor(p * 2**64)`` clipped to 2**64 - 1 (p < 1 here; the clip only guards T -> inf)."""
    return min(int(p * 2.0**64), 2**64 - 1)


def _bit_masks(t: int) -> np.ndarray:
    """Digits of t, most significant first: ``masks[k]`` = all ones if bit 63 - k of t is set,
    else 0 (k = 0..63), uint64[64]."""
    return np.array([(2**64 - 1) if (t >> (63 - k)) & 1 else 0 for k in range(64)], dtype=np.uint64)


@njit(cache=True, nogil=True, inline="always")
def _ms_row(ru, rc, rd, j0, mask2, mask4, mask8, s0, s1, s2, s3):
    """Update the words at columns j0, j0 + 2, ... of row ``rc``.

    Indices are unsigned so that Numba emits no negative-index wraparound code.
    """
    L = np.uint64(rc.shape[0])
    one_ = np.uint64(1)
    j = np.uint64(j0)
    while j < L:
        jl = j - one_ if j > np.uint64(0) else L - one_
        jr = j + one_ if j < L - one_ else np.uint64(0)
        w = rc[j]
        a = w ^ ru[j]  # 1 where the bond is unsatisfied
        b = w ^ rd[j]
        c = w ^ rc[jl]
        d = w ^ rc[jr]
        x1 = a ^ b
        y1 = a & b
        x2 = c ^ d
        y2 = c & d
        # c = x1 + x2 + 2 (y1 + y2), where x_k and y_k never share a lane
        pair = y1 | y2
        one = x1 ^ x2
        ge3 = (y1 & y2) | ((y1 ^ y2) & one)  # c >= 3: dE < 0, always flip
        eq2 = (x1 & x2) | ((y1 ^ y2) & ~(x1 | x2))  # dE = 0: probability 1/2
        eq1 = one & ~pair  # dE = 4
        eq0 = ~(x1 | x2 | pair)  # dE = 8
        und = eq2 | eq1 | eq0  # lanes still comparing u_r with p_r
        res = np.uint64(0)
        # The first _N_FIXED digits unconditionally: a fixed trip count the CPU predicts; about
        # log2(64) + 1.3 digits are needed on average anyway, so few draws are wasted.
        for k in range(_N_FIXED):
            u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
            # digit k (from the most significant) of each lane's threshold
            pb = (eq2 & mask2[k]) | (eq1 & mask4[k]) | (eq0 & mask8[k])
            res |= und & pb & ~u  # u digit 0 < p digit 1: u_r < p_r decided true
            und &= ~(u ^ pb)  # equal digits: still undecided
        k = np.uint64(_N_FIXED)
        while und != np.uint64(0) and k < np.uint64(64):
            u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
            pb = (eq1 & mask4[k]) | (eq0 & mask8[k])  # mask2 is zero after the first digit
            res |= und & pb & ~u
            und &= ~(u ^ pb)
            k += one_
        rc[j] = w ^ (ge3 | res)
        j += np.uint64(2)
    return s0, s1, s2, s3


@njit(cache=True, nogil=True)
def _ms_sweep(w, rng, mask2, mask4, mask8):
    L = w.shape[0]
    s0 = rng[0]
    s1 = rng[1]
    s2 = rng[2]
    s3 = rng[3]
    for parity in range(2):
        for i in range(L):
            iu = i - 1 if i > 0 else L - 1
            idn = i + 1 if i < L - 1 else 0
            s0, s1, s2, s3 = _ms_row(
                w[iu], w[i], w[idn], (i + parity) & 1, mask2, mask4, mask8, s0, s1, s2, s3
            )
    rng[0] = s0
    rng[1] = s1
    rng[2] = s2
    rng[3] = s3


@njit(cache=True, nogil=True, inline="always")
def _ripple_add(planes, word, k):
    """Add the 1-bit-per-lane ``word`` at weight 2**k to the bit-sliced counter ``planes``."""
    while word != np.uint64(0):
        t = planes[k] & word
        planes[k] ^= word
        word = t
        k += 1


@njit(cache=True, nogil=True, inline="always")
def _csa(a, b, c):
    """Carry-save adder on bit lanes: returns (a ^ b ^ c, majority(a, b, c))."""
    u = a ^ b
    return u ^ c, (a & b) | (c & u)


@njit(cache=True, nogil=True)
def _ms_unsatisfied(w, planes, out):
    """Number of unsatisfied bonds of each replica, into ``out`` (int64[64]).

    Bit-sliced counting in the Harley-Seal style: per pair of sites, carry-save adders fold the
    four bond words into running planes of weight 1..128 (branch-free); only the rare weight-256
    overflow is rippled into the wide counter ``planes``.
    """
    L = w.shape[0]
    for k in range(planes.shape[0]):
        planes[k] = 0
    p1 = np.uint64(0)
    p2 = np.uint64(0)
    p4 = np.uint64(0)
    p8 = np.uint64(0)
    p16 = np.uint64(0)
    p32 = np.uint64(0)
    p64 = np.uint64(0)
    p128 = np.uint64(0)
    for i in range(L):
        rc = w[i]
        rd = w[i + 1 if i < L - 1 else 0]
        Lu = np.uint64(L)
        j = np.uint64(0)
        while j < Lu:  # L is even; unsigned indices: no wraparound code
            j1 = j + np.uint64(1)
            jr = j + np.uint64(2) if j1 < Lu - np.uint64(1) else np.uint64(0)
            x0 = rc[j] ^ rc[j1]
            y0 = rc[j] ^ rd[j]
            x1 = rc[j1] ^ rc[jr]
            y1 = rc[j1] ^ rd[j1]
            p1, ta = _csa(p1, x0, y0)
            p1, tb = _csa(p1, x1, y1)
            p2, c = _csa(p2, ta, tb)
            t = p4 & c
            p4 ^= c
            c = p8 & t
            p8 ^= t
            t = p16 & c
            p16 ^= c
            c = p32 & t
            p32 ^= t
            t = p64 & c
            p64 ^= c
            c = p128 & t
            p128 ^= t
            if c != np.uint64(0):
                _ripple_add(planes, c, 8)
            j += np.uint64(2)
    _ripple_add(planes, p1, 0)
    _ripple_add(planes, p2, 1)
    _ripple_add(planes, p4, 2)
    _ripple_add(planes, p8, 3)
    _ripple_add(planes, p16, 4)
    _ripple_add(planes, p32, 5)
    _ripple_add(planes, p64, 6)
    _ripple_add(planes, p128, 7)
    for r in range(64):
        v = 0
        for k in range(planes.shape[0]):
            v += np.int64((planes[k] >> np.uint64(r)) & np.uint64(1)) << k
        out[r] = v


@njit(cache=True, nogil=True)
def _unpack_into(w, out):
    L = w.shape[0]
    for r in range(64):
        for i in range(L):
            for j in range(L):
                out[r, i, j] = np.int8(2 * np.int64((w[i, j] >> np.uint64(r)) & np.uint64(1)) - 1)


@njit(cache=True, nogil=True)
def _ms_chain(w, rng, mask2, mask4, mask8, burn_in, n_samples, thin, samples, e_out):
    L = w.shape[0]
    n = L * L
    planes = np.zeros(64, dtype=np.uint64)  # 2 n < 2**63 bonds
    unsat = np.empty(64, dtype=np.int64)
    total = burn_in + n_samples * thin
    for t in range(total):
        _ms_sweep(w, rng, mask2, mask4, mask8)
        _ms_unsatisfied(w, planes, unsat)
        for r in range(64):
            e_out[t, r] = -(2 * n - 2 * unsat[r]) / n
        k = t + 1 - burn_in
        if k > 0 and k % thin == 0:
            _unpack_into(w, samples[k // thin - 1])


@njit(cache=True, nogil=True)
def _ms_init(L, rng, ordered):
    w = np.empty((L, L), dtype=np.uint64)
    if ordered:
        signs = next_u64(rng)  # one random sign per replica
        for i in range(L):
            for j in range(L):
                w[i, j] = signs
    else:
        for i in range(L):
            for j in range(L):
                w[i, j] = next_u64(rng)
    return w


def _check_model(model) -> None:
    if not isinstance(model, Ising):
        raise ParameterError(f"multispin: model must be an Ising instance, got {model!r}")
    if model.h != 0.0:
        raise ParameterError(f"multispin: needs h == 0, got h={model.h}")
    if model.L % 2:
        raise ParameterError(f"multispin: needs an even L (checkerboard), got L={model.L}")


def _check_count(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ParameterError(f"multispin: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def run_multispin(
    model: Ising,
    rng: np.ndarray,
    *,
    burn_in: int,
    n_samples: int,
    thin: int,
    state: np.ndarray | None = None,
):
    """Run 64 independent Metropolis replicas; return ``(samples, energy_series)``.

    ``samples`` is int8 ``(n_samples, 64, L, L)``; ``energy_series`` is float64
    ``(burn_in + n_samples * thin, 64)``, the energy per site of every replica after every
    sweep. ``rng`` (xoshiro256** uint64[4]) is advanced in place. ``state`` (packed uint64
    ``(L, L)`` words, see :func:`pack`) is advanced in place when given; otherwise each replica
    starts ordered with a random sign below Tc and from random spins above. Runs in one Numba
    call that releases the GIL.

    >>> from latticediff.mc._rng import seed_states
    >>> x, e = run_multispin(Ising(L=4, T=1.0), seed_states(1, 1)[0], burn_in=0, n_samples=1,
    ...                      thin=3)
    >>> x.shape, e.shape
    ((1, 64, 4, 4), (3, 64))
    """
    _check_model(model)
    burn_in = _check_count("burn_in", burn_in, 0)
    n_samples = _check_count("n_samples", n_samples, 0)
    thin = _check_count("thin", thin, 1)
    if not (isinstance(rng, np.ndarray) and rng.dtype == np.uint64 and rng.shape == (4,)):
        raise ParameterError(f"multispin: rng must be a uint64 array of shape (4,), got {rng!r}")
    L = model.L
    if state is None:
        state = _ms_init(L, rng, model.T < TC)
    elif not (
        isinstance(state, np.ndarray)
        and state.dtype == np.uint64
        and state.shape == (L, L)
        and state.flags.c_contiguous
    ):
        raise ParameterError(
            f"multispin: state must be C-contiguous uint64 words of shape {(L, L)}, got "
            f"{getattr(state, 'dtype', type(state))} {getattr(state, 'shape', '')}"
        )
    mask2, mask4, mask8 = _masks(model.beta)
    total = burn_in + n_samples * thin
    samples = np.empty((n_samples, 64, L, L), dtype=np.int8)
    e_out = np.empty((total, 64), dtype=np.float64)
    _ms_chain(state, rng, mask2, mask4, mask8, burn_in, n_samples, thin, samples, e_out)
    return samples, e_out


def _masks(beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        _bit_masks(_threshold(0.5)),
        _bit_masks(_threshold(math.exp(-4.0 * beta))),
        _bit_masks(_threshold(math.exp(-8.0 * beta))),
    )


def reference_multispin_sweep(model: Ising, words: np.ndarray, ref) -> np.ndarray:
    """Slow per-replica reference of one sweep, consuming ``ref.next_u64()`` like the kernel.

    Each lane counts its unsatisfied bonds explicitly and compares its own digits of the shared
    words with its own threshold. Returns the new words (the input is not modified).

    >>> from latticediff.mc._rng import Xoshiro256Reference
    >>> w = reference_multispin_sweep(Ising(L=2, T=2.0), np.zeros((2, 2), np.uint64),
    ...                               Xoshiro256Reference([1, 2, 3, 4]))
    >>> w.shape
    (2, 2)
    """
    _check_model(model)
    L = model.L
    w = [[int(v) for v in row] for row in np.asarray(words, dtype=np.uint64)]
    t4 = _threshold(math.exp(-4.0 * model.beta))
    t8 = _threshold(math.exp(-8.0 * model.beta))
    for parity in (0, 1):
        for i in range(L):
            for j in range(L):
                if (i + j) % 2 != parity:
                    continue
                nbrs = (w[i - 1][j], w[(i + 1) % L][j], w[i][j - 1], w[i][(j + 1) % L])
                new = w[i][j]
                c = [sum(((w[i][j] ^ v) >> r) & 1 for v in nbrs) for r in range(64)]
                thr = {0: t8, 1: t4, 2: 2**63}
                pending = {r: thr[c[r]] for r in range(64) if c[r] <= 2}
                flip = {r for r in range(64) if c[r] >= 3}
                bit = 63
                while (pending or bit > 63 - _N_FIXED) and bit >= 0:
                    u = ref.next_u64()
                    for r, t in list(pending.items()):
                        ub, tb = (u >> r) & 1, (t >> bit) & 1
                        if ub != tb:
                            if ub < tb:
                                flip.add(r)
                            del pending[r]
                    bit -= 1
                for r in flip:
                    new ^= 1 << r
                w[i][j] = new
    return np.array(w, dtype=np.uint64)
