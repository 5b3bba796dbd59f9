"""Monte Carlo samplers for the 2D Ising model (driver protocol of :mod:`latticediff.mc`).

Conventions (see :class:`latticediff.systems.Ising`): periodic L x L lattice, spins int8 in
{-1, +1}, ``H = -sum_i s_i (s_{i+x} + s_{i+y}) - h sum_i s_i`` with neighbours taken by
``np.roll``. For L = 2 every neighbouring pair is therefore counted twice (the torus multigraph,
as in Kaufman's solution); all kernels below treat the four neighbours of a site *with
multiplicity*, so they sample exactly this Hamiltonian for every L >= 2.

Methods
-------
``"metropolis"``
    Single-spin-flip Metropolis. Even L: checkerboard order (one sweep = all even-parity sites,
    then all odd-parity ones, each in row-major order). Odd L has no checkerboard on the torus,
    so it uses sequential (typewriter) order. Acceptance uses integer thresholds: flip iff
    ``u < floor(min(1, exp(-beta dE)) * 2**64)`` for one fresh 64-bit draw ``u`` per attempted
    flip (moves with dE <= 0 always accept, still consuming their draw).
``"wolff"``
    Wolff single-cluster updates (U. Wolff, PRL 62, 361 (1989)), explicit stack, h = 0 only.
    One *sweep* is a fixed number k of clusters, ``k = max(1, round(L^2 / <cluster size>))``,
    with ``<cluster size>`` estimated in a pilot (the first half of the burn-in, or 10 extra
    unrecorded sweeps when ``burn_in < 20``) and then held fixed; k is reported in ``info``.
    (Measuring "whenever the flipped spins add up to L^2" makes the measurement times depend on
    the state and biases the energy near Tc, so it is used only inside the pilot.)
``"sw"``
    Swendsen-Wang (PRL 58, 86 (1987)) with union-find, h = 0 only; one sweep = one update.
``"multispin"``
    64 replicas packed into bits (:mod:`latticediff.mc.multispin`); ``run_chain`` does not run
    it: call :func:`latticediff.mc.multispin.run_multispin`.
``"auto"``
    ``"wolff"`` when h = 0 and T < 2.6 (critical slowing down of local moves sets in near
    Tc = 2.269), ``"metropolis"`` otherwise (above ~2.6 clusters are small and Metropolis is
    cheaper per decorrelated sample; with a field cluster moves are not valid).

Series: Metropolis tracks energy and magnetization incrementally (exact integer sums); Wolff and
SW recompute them after each sweep, an O(L^2) pass of the same order as the sweep itself.

Initial states: T < Tc gives an ordered start (sign of h, or a random sign when h = 0), which
avoids long-lived stripe states of local dynamics; T >= Tc gives i.i.d. random spins.

Every kernel is ``@njit(cache=True, nogil=True)`` and has a Python/NumPy reference below
(``reference_*``) that consumes the same xoshiro256** stream and reproduces it bit for bit.

Example
-------
>>> import numpy as np
>>> from latticediff.systems import Ising
>>> from latticediff.mc import ising
>>> from latticediff.mc._rng import seed_states
>>> model = Ising(L=8, T=3.0)
>>> rng = seed_states(1, 1)[0]
>>> method = ising.resolve_method(model, "auto")
>>> state = ising.init_state(model, method, rng)
>>> samples, e, m, info = ising.run_chain(model, method, state, rng, burn_in=10, n_samples=4,
...                                       thin=2)
>>> method, samples.shape, e.shape, bool(np.isclose(e[-1], model.energy(state)))
('metropolis', (4, 8, 8), (18,), True)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import ParameterError
from ..systems import Ising
from ._rng import next_u64, randbelow

__all__ = [
    "METHODS",
    "TC",
    "AUTO_CLUSTER_T",
    "resolve_method",
    "is_iid",
    "init_state",
    "run_chain",
    "metropolis_thresholds",
    "bond_threshold",
    "reference_metropolis",
    "reference_wolff",
    "reference_sw",
    "xoshiro_draws",
]

METHODS: tuple[str, ...] = ("metropolis", "wolff", "sw", "multispin")
TC = 2.0 / math.log(1.0 + math.sqrt(2.0))
AUTO_CLUSTER_T = 2.6  # "auto" uses Wolff below this temperature when h == 0
_ALIASES = {"swendsen-wang": "sw", "swendsen_wang": "sw", "cluster": "wolff"}
_MIN_PILOT = 10  # pilot sweeps (by volume) used to fix Wolff's clusters per sweep
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)  # threshold of moves accepted with probability 1
_TWO64 = 2.0**64


# ----------------------------------------------------------------------------------------------
# thresholds


def _u64_threshold(p: float) -> np.uint64:
    """Threshold ``t`` such that ``u <= t`` (u a uniform 64-bit draw) has probability ~p.

    ``t = floor(p * 2**64) - 1``, clipped to [0, 2**64 - 1]: the probability is exactly
    ``floor(p * 2**64) / 2**64`` for ``2**-64 <= p < 1``, exactly 1 for p >= 1, and 2**-64 for
    p < 2**-64, so always within 2**-64 of p. One unsigned comparison, no special cases in the
    kernels.
    """
    if not p < 1.0:
        return _ALL
    x = int(p * _TWO64)  # exact: p is a double, 2**64 a power of two
    return np.uint64(max(x, 1) - 1)


def metropolis_thresholds(beta: float, h: float = 0.0) -> np.ndarray:
    """Acceptance thresholds, uint64[10], indexed by ``5 * (s > 0) + (nb + 4) // 2``.

    ``nb`` is the sum of the four neighbours (with multiplicity), ``dE = 2 s (nb + h)``; a flip
    is accepted iff ``u <= t`` for one uniform 64-bit draw u (see ``_u64_threshold``), which
    has probability ``min(1, exp(-beta dE))`` for dE != 0 and 1/2 for dE = 0.

    >>> t = metropolis_thresholds(0.5)
    >>> (int(t[9]) + 1) / 2**64  # s = +1, nb = +4: dE = 8, exp(-4) = 0.0183...
    0.01831563888873418
    >>> int(t[4]) == 2**64 - 1  # s = -1, nb = +4: dE = -8, always accepted
    True
    >>> (int(t[2]) + 1) / 2**64  # nb = 0: dE = 0
    0.5
    """
    thr = np.empty(10, dtype=np.uint64)
    for si, s in enumerate((-1, 1)):
        for ni, nb in enumerate((-4, -2, 0, 2, 4)):
            de = 2.0 * s * (nb + h)
            if de < 0.0:
                thr[5 * si + ni] = _ALL
            elif de == 0.0:
                thr[5 * si + ni] = _u64_threshold(0.5)  # see the module docstring
            else:
                thr[5 * si + ni] = _u64_threshold(math.exp(-beta * de))
    return thr


def bond_threshold(beta: float) -> np.uint64:
    """Threshold of the FK bond probability ``p = 1 - exp(-2 beta)`` (Wolff and SW).

    >>> (int(bond_threshold(0.5)) + 1) / 2**64
    0.6321205588285577
    """
    return _u64_threshold(-math.expm1(-2.0 * beta))


# ----------------------------------------------------------------------------------------------
# small Numba helpers


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def _xo(s0, s1, s2, s3):
    """One xoshiro256** step on register copies of the state (same output as ``next_u64``)."""
    r = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return r, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def _bond_sum_mag(s):
    """``(sum_i s_i (s_{i+x} + s_{i+y}), sum_i s_i)`` as int64 (unsigned indices: no
    wraparound code in the loop)."""
    L = s.shape[0]
    Lu = np.uint64(L)
    b = 0
    m = 0
    for i in range(L):
        rc = s[i]
        rd = s[i + 1 if i < L - 1 else 0]
        j = np.uint64(0)
        while j < Lu:
            jr = j + np.uint64(1) if j < Lu - np.uint64(1) else np.uint64(0)
            si = np.int64(rc[j])
            b += si * (np.int64(rc[jr]) + np.int64(rd[j]))
            m += si
            j += np.uint64(1)
    return b, m


@njit(cache=True, nogil=True)
def _random_spins(L, rng):
    """i.i.d. +-1 spins from the top bit of one draw per site (row-major)."""
    s = np.empty((L, L), dtype=np.int8)
    for i in range(L):
        for j in range(L):
            s[i, j] = np.int8(1) if (next_u64(rng) >> np.uint64(63)) else np.int8(-1)
    return s


# ----------------------------------------------------------------------------------------------
# Metropolis kernels


@njit(cache=True, nogil=True, inline="always")
def _metropolis_row(ru, rc, rd, j0, step, thr, s0, s1, s2, s3):
    """Metropolis attempts at columns j0, j0 + step, ... of row ``rc`` (rows above/below given).

    Branch-free acceptance: near Tc the outcome is a coin flip that a branch predictor cannot
    learn, so the spin is always rewritten as ``s - 2 s f`` with f in {0, 1}. Indices are
    unsigned so that Numba emits no negative-index wraparound code (a third of the loop).
    """
    L = np.uint64(rc.shape[0])
    one = np.uint64(1)
    db = 0
    dm = 0
    acc = 0
    j = np.uint64(j0)
    while j < L:
        jl = j - one if j > np.uint64(0) else L - one
        jr = j + one if j < L - one else np.uint64(0)
        si = np.int64(rc[j])
        nb = np.int64(ru[j]) + np.int64(rd[j]) + np.int64(rc[jl]) + np.int64(rc[jr])
        t = thr[np.uint64(((si + 1) >> 1) * 5 + ((nb + 4) >> 1))]
        u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
        f = np.int64(u <= t)
        d = 2 * si * f
        rc[j] = np.int8(si - d)
        db -= d * nb
        dm -= d
        acc += f
        j += np.uint64(step)
    return db, dm, acc, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def _checkerboard_sweep(s, rng, thr):
    """One checkerboard sweep (parity 0 then 1, row-major). Returns (dB, dM, n_accepted)."""
    L = s.shape[0]
    s0 = rng[0]
    s1 = rng[1]
    s2 = rng[2]
    s3 = rng[3]
    db = 0
    dm = 0
    acc = 0
    for parity in range(2):
        for i in range(L):
            iu = i - 1 if i > 0 else L - 1
            idn = i + 1 if i < L - 1 else 0
            a, b, c, s0, s1, s2, s3 = _metropolis_row(
                s[iu], s[i], s[idn], (i + parity) & 1, 2, thr, s0, s1, s2, s3
            )
            db += a
            dm += b
            acc += c
    rng[0] = s0
    rng[1] = s1
    rng[2] = s2
    rng[3] = s3
    return db, dm, acc


@njit(cache=True, nogil=True)
def _sequential_sweep(s, rng, thr):
    """One typewriter-order sweep (any L). Returns (dB, dM, n_accepted)."""
    L = s.shape[0]
    s0 = rng[0]
    s1 = rng[1]
    s2 = rng[2]
    s3 = rng[3]
    db = 0
    dm = 0
    acc = 0
    for i in range(L):
        iu = i - 1 if i > 0 else L - 1
        idn = i + 1 if i < L - 1 else 0
        a, b, c, s0, s1, s2, s3 = _metropolis_row(s[iu], s[i], s[idn], 0, 1, thr, s0, s1, s2, s3)
        db += a
        dm += b
        acc += c
    rng[0] = s0
    rng[1] = s1
    rng[2] = s2
    rng[3] = s3
    return db, dm, acc


@njit(cache=True, nogil=True)
def _metropolis_chain(
    s, rng, thr, h, checkerboard, burn_in, n_samples, thin, samples, e_out, m_out
):
    L = s.shape[0]
    n = L * L
    b, m = _bond_sum_mag(s)
    acc = 0
    total = burn_in + n_samples * thin
    for t in range(total):
        if checkerboard:
            db, dm, a = _checkerboard_sweep(s, rng, thr)
        else:
            db, dm, a = _sequential_sweep(s, rng, thr)
        b += db
        m += dm
        acc += a
        e_out[t] = (-b - h * m) / n
        m_out[t] = abs(m) / n
        k = t + 1 - burn_in
        if k > 0 and k % thin == 0:
            samples[k // thin - 1] = s
    return acc


# ----------------------------------------------------------------------------------------------
# Wolff


@njit(cache=True, nogil=True)
def _neighbour_table(L):
    """Flat indices of the up, down, left, right neighbours of every site, uint32 (L^2, 4).

    Unsigned, like the Wolff stack, so that indexing needs no negative-index wraparound code.
    """
    nbr = np.empty((L * L, 4), dtype=np.uint32)
    for i in range(L):
        iu = i - 1 if i > 0 else L - 1
        idn = i + 1 if i < L - 1 else 0
        for j in range(L):
            jl = j - 1 if j > 0 else L - 1
            jr = j + 1 if j < L - 1 else 0
            x = i * L + j
            nbr[x, 0] = iu * L + j
            nbr[x, 1] = idn * L + j
            nbr[x, 2] = i * L + jl
            nbr[x, 3] = i * L + jr
    return nbr


@njit(cache=True, nogil=True)
def _wolff_cluster(f, nbr, rng, thr, stack):
    """Grow and flip one Wolff cluster on the flat spins ``f``; returns its size.

    Spins are flipped when pushed, so ``f[y] == c`` means "not yet in the cluster". Every
    neighbour of a popped site costs one draw, used only if the spins agree: drawing
    unconditionally makes the growth branch-free (the add decision is a coin flip a branch
    predictor cannot learn), which is ~1.5x faster than drawing only when needed. A neighbour
    listed twice (L = 2) gets two independent bond tries, as the multigraph requires.
    """
    n = f.shape[0]
    seed = np.uint64(randbelow(rng, n))
    c = f[seed]
    f[seed] = -c
    stack[0] = seed
    top = np.uint64(1)
    s0 = rng[0]
    s1 = rng[1]
    s2 = rng[2]
    s3 = rng[3]
    pushed = np.uint64(1)
    while top > np.uint64(0):
        top -= np.uint64(1)
        x = np.uint64(stack[top])
        for q in range(4):
            y = np.uint64(nbr[x, q])
            u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
            fy = f[y]
            add = np.uint64((fy == c) & (u <= thr))
            f[y] = np.int8(fy - 2 * fy * np.int64(add))
            stack[top] = y  # harmless when not added: top does not move
            top += add
            pushed += add
    size = np.int64(pushed)
    rng[0] = s0
    rng[1] = s1
    rng[2] = s2
    rng[3] = s3
    return size


@njit(cache=True, nogil=True)
def _wolff_chain(s, rng, thr, k_fixed, burn_in, n_samples, thin, samples, e_out, m_out):
    """Wolff chain with a fixed number of clusters per sweep.

    Returns (k, mean pilot cluster size, total flipped spins, total clusters). Energy and
    magnetization are recomputed after each sweep (O(L^2), the same order as the sweep itself).
    """
    L = s.shape[0]
    n = L * L
    f = s.reshape(n)
    nbr = _neighbour_table(L)
    stack = np.empty(n, dtype=np.uint32)
    flipped = 0
    clusters = 0
    t = 0
    mean_size = 0.0
    k = k_fixed
    if k <= 0:
        # Pilot: "volume" sweeps (clusters until >= L^2 spins flipped). Recorded as the first
        # half of the burn-in when it is long enough, otherwise run as extra burn-in.
        recorded = burn_in >= 2 * _MIN_PILOT
        n_pilot = burn_in // 2 if recorded else _MIN_PILOT
        size_sum = 0
        size_cnt = 0
        for p in range(n_pilot):
            done = 0
            while done < n:
                sz = _wolff_cluster(f, nbr, rng, thr, stack)
                done += sz
                flipped += sz
                clusters += 1
                if 2 * p >= n_pilot:  # second half only: closer to equilibrium
                    size_sum += sz
                    size_cnt += 1
            if recorded:
                b, m = _bond_sum_mag(s)
                e_out[t] = -b / n
                m_out[t] = abs(m) / n
                t += 1
        mean_size = size_sum / size_cnt
        k = max(1, int(round(n / mean_size)))
    total = burn_in + n_samples * thin
    while t < total:
        for _ in range(k):
            flipped += _wolff_cluster(f, nbr, rng, thr, stack)
            clusters += 1
        b, m = _bond_sum_mag(s)
        e_out[t] = -b / n
        m_out[t] = abs(m) / n
        t += 1
        kk = t - burn_in
        if kk > 0 and kk % thin == 0:
            samples[kk // thin - 1] = s
    return k, mean_size, flipped, clusters


# ----------------------------------------------------------------------------------------------
# Swendsen-Wang


@njit(cache=True, nogil=True, inline="always")
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]  # path halving
        a = parent[a]
    return a


@njit(cache=True, nogil=True)
def _sw_sweep(s, rng, thr, parent, flag):
    """One Swendsen-Wang update.

    Bonds are tried in row-major site order, x-bond then y-bond, one draw per bond between
    equal spins. Roots are always the smallest site index of their cluster, so the flip bit of
    each cluster (top bit of one draw) is drawn when the scan first meets the cluster: the
    draws do not depend on the union-find details, which keeps the reference simple.
    """
    L = s.shape[0]
    n = L * L
    for a in range(n):
        parent[a] = a
        flag[a] = -1
    s0 = rng[0]
    s1 = rng[1]
    s2 = rng[2]
    s3 = rng[3]
    for i in range(L):
        idn = i + 1 if i < L - 1 else 0
        for j in range(L):
            jr = j + 1 if j < L - 1 else 0
            si = s[i, j]
            a = i * L + j
            for q in range(2):
                if q == 0:
                    o = i * L + jr
                    same = s[i, jr] == si
                else:
                    o = idn * L + j
                    same = s[idn, j] == si
                if same:
                    u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
                    if u <= thr:
                        ra = _find(parent, a)
                        rb = _find(parent, o)
                        if ra < rb:
                            parent[rb] = ra
                        elif rb < ra:
                            parent[ra] = rb
    for i in range(L):
        for j in range(L):
            a = i * L + j
            r = _find(parent, a)
            if flag[r] < 0:
                u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
                flag[r] = np.int8(u >> np.uint64(63))
            if flag[r] == 1:
                s[i, j] = -s[i, j]
    rng[0] = s0
    rng[1] = s1
    rng[2] = s2
    rng[3] = s3


@njit(cache=True, nogil=True)
def _sw_chain(s, rng, thr, burn_in, n_samples, thin, samples, e_out, m_out):
    L = s.shape[0]
    n = L * L
    parent = np.empty(n, dtype=np.int64)
    flag = np.empty(n, dtype=np.int8)
    total = burn_in + n_samples * thin
    for t in range(total):
        _sw_sweep(s, rng, thr, parent, flag)
        b, m = _bond_sum_mag(s)
        e_out[t] = -b / n
        m_out[t] = abs(m) / n
        k = t + 1 - burn_in
        if k > 0 and k % thin == 0:
            samples[k // thin - 1] = s
    return 0


# ----------------------------------------------------------------------------------------------
# driver protocol


def _check_model(model) -> None:
    if not isinstance(model, Ising):
        raise ParameterError(f"ising sampler: model must be an Ising instance, got {model!r}")


def resolve_method(model: Ising, method: str = "auto") -> str:
    """Map ``method`` (``"auto"``, a name in :data:`METHODS` or an alias) to a concrete method.

    ``"auto"`` is Wolff for h = 0 and T < 2.6, Metropolis otherwise.

    >>> resolve_method(Ising(L=8, T=2.0), "auto"), resolve_method(Ising(L=8, T=3.0), "auto")
    ('wolff', 'metropolis')
    >>> resolve_method(Ising(L=8, T=2.0, h=0.1), "wolff")
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: ising: method 'wolff' needs h == 0, got h=0.1
    """
    _check_model(model)
    if not isinstance(method, str):
        raise ParameterError(f"ising: method must be a string, got {method!r}")
    name = _ALIASES.get(method.lower(), method.lower())
    if name == "auto":
        return "wolff" if model.h == 0.0 and model.T < AUTO_CLUSTER_T else "metropolis"
    if name not in METHODS:
        allowed = ", ".join(("auto", *METHODS))
        raise ParameterError(f"ising: unknown method {method!r}; allowed: {allowed}")
    if name in ("wolff", "sw", "multispin") and model.h != 0.0:
        raise ParameterError(f"ising: method {name!r} needs h == 0, got h={model.h}")
    if name == "multispin" and model.L % 2:
        raise ParameterError(
            f"ising: method 'multispin' needs an even L (checkerboard), got L={model.L}"
        )
    return name


def is_iid(model: Ising, method: str = "auto") -> bool:
    """Ising samples are Markov-chain samples, never exact i.i.d. draws.

    >>> is_iid(Ising(L=4, T=2.0), "wolff")
    False
    """
    resolve_method(model, method)
    return False


def _check_rng(rng) -> None:
    if not (isinstance(rng, np.ndarray) and rng.dtype == np.uint64 and rng.shape == (4,)):
        raise ParameterError(
            f"ising: rng must be a xoshiro256** state, a uint64 array of shape (4,), got {rng!r}"
        )


def init_state(model: Ising, method: str, rng: np.ndarray) -> np.ndarray:
    """Initial spins: ordered below Tc (along h, or a random sign for h = 0), random above.

    >>> from latticediff.mc._rng import seed_states
    >>> s = init_state(Ising(L=4, T=1.0, h=-0.5), "metropolis", seed_states(0, 1)[0])
    >>> s.dtype, int(s.sum())
    (dtype('int8'), -16)
    """
    resolve_method(model, method)
    _check_rng(rng)
    L = model.L
    if model.T < TC:
        if model.h != 0.0:
            sign = 1 if model.h > 0 else -1
        else:
            sign = 1 if int(next_u64(rng)) >> 63 else -1
        return np.full((L, L), sign, dtype=np.int8)
    return _random_spins(L, rng)


def _check_count(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ParameterError(f"ising: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def run_chain(
    model: Ising,
    method: str,
    state: np.ndarray,
    rng: np.ndarray,
    *,
    burn_in: int,
    n_samples: int,
    thin: int,
    clusters_per_sweep: int | None = None,
):
    """Advance ``state`` and ``rng`` in place; return ``(samples, energy, abs_m, info)``.

    ``burn_in`` sweeps, then ``n_samples`` times (``thin`` sweeps, copy the state). The series
    hold the energy per site and |m| per site after every sweep (length
    ``burn_in + n_samples * thin``); they are tracked incrementally by the kernels. The whole
    chain runs in one Numba call that releases the GIL, so chains can run in threads.
    ``clusters_per_sweep`` fixes Wolff's k and skips its pilot (tests, restarts).

    >>> from latticediff.mc._rng import seed_states
    >>> model = Ising(L=16, T=2.0)
    >>> rng = seed_states(3, 1)[0]
    >>> state = init_state(model, "wolff", rng)
    >>> x, e, m, info = run_chain(model, "wolff", state, rng, burn_in=40, n_samples=10, thin=1)
    >>> x.shape, len(e), info["clusters_per_sweep"] >= 1
    ((10, 16, 16), 50, True)
    """
    method = resolve_method(model, method)
    if method == "multispin":
        raise ParameterError(
            "ising: run_chain does not run method 'multispin'; use "
            "latticediff.mc.multispin.run_multispin"
        )
    burn_in = _check_count("burn_in", burn_in, 0)
    n_samples = _check_count("n_samples", n_samples, 0)
    thin = _check_count("thin", thin, 1)
    _check_rng(rng)
    L = model.L
    if not (
        isinstance(state, np.ndarray)
        and state.dtype == np.int8
        and state.shape == (L, L)
        and state.flags.c_contiguous
    ):
        raise ParameterError(
            f"ising: state must be a C-contiguous int8 array of shape {(L, L)}, got "
            f"{getattr(state, 'dtype', type(state))} {getattr(state, 'shape', '')}"
        )
    if not np.all(np.abs(state) == 1):
        raise ParameterError("ising: state must hold spins in {-1, +1}")
    total = burn_in + n_samples * thin
    samples = np.empty((n_samples, L, L), dtype=np.int8)
    e_out = np.empty(total, dtype=np.float64)
    m_out = np.empty(total, dtype=np.float64)
    info: dict = {"method": method}
    if method == "metropolis":
        thr = metropolis_thresholds(model.beta, model.h)
        checkerboard = L % 2 == 0
        acc = _metropolis_chain(
            state, rng, thr, model.h, checkerboard, burn_in, n_samples, thin, samples, e_out, m_out
        )
        info["update"] = "checkerboard" if checkerboard else "sequential"
        info["acceptance"] = float(acc) / max(1, total * L * L)
    elif method == "wolff":
        if clusters_per_sweep is None:
            k_fixed = 0
        else:
            k_fixed = _check_count("clusters_per_sweep", clusters_per_sweep, 1)
        k, pilot_size, flipped, clusters = _wolff_chain(
            state,
            rng,
            bond_threshold(model.beta),
            k_fixed,
            burn_in,
            n_samples,
            thin,
            samples,
            e_out,
            m_out,
        )
        info["clusters_per_sweep"] = int(k)
        if k_fixed:
            info["pilot"] = "none (clusters_per_sweep given)"
        else:
            info["pilot"] = (
                f"first {burn_in // 2} burn-in sweeps"
                if burn_in >= 2 * _MIN_PILOT
                else f"{_MIN_PILOT} extra unrecorded sweeps"
            )
            info["pilot_mean_cluster_size"] = float(pilot_size)
        info["mean_cluster_size"] = float(flipped) / max(1, clusters)
    else:  # sw
        _sw_chain(
            state, rng, bond_threshold(model.beta), burn_in, n_samples, thin, samples, e_out, m_out
        )
    return samples, e_out, m_out, info


# ----------------------------------------------------------------------------------------------
# references (slow, pure NumPy/Python; same random stream as the kernels)


def xoshiro_draws(ref):
    """Adapt an object with ``next_u64()`` (e.g. ``Xoshiro256Reference``) to ``draw_u64(n)``."""
    return lambda n: np.array([ref.next_u64() for _ in range(n)], dtype=np.uint64)


def _accept(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    return u <= t


def reference_metropolis(model: Ising, state: np.ndarray, draw_u64, n_sweeps: int):
    """NumPy reference of the Metropolis kernels; returns ``(state, energy, abs_m)`` series.

    ``draw_u64(n)`` returns n uint64 draws. Even L: a vectorised checkerboard (sites of one
    parity do not interact, so updating them all at once with draws assigned in row-major order
    is the same as the kernel's loop). Odd L: a plain Python typewriter loop.

    >>> from latticediff.mc._rng import Xoshiro256Reference
    >>> m = Ising(L=4, T=2.0)
    >>> s, e, am = reference_metropolis(m, np.ones((4, 4), np.int8),
    ...                                 xoshiro_draws(Xoshiro256Reference([1, 2, 3, 4])), 2)
    >>> s.shape, e.shape
    ((4, 4), (2,))
    """
    s = np.array(state, dtype=np.int8, copy=True)
    L = model.L
    thr = metropolis_thresholds(model.beta, model.h)
    ii, jj = np.indices((L, L))
    masks = [(ii + jj) % 2 == p for p in (0, 1)]
    es, ms = [], []
    for _ in range(n_sweeps):
        if L % 2 == 0:
            for mask in masks:
                s64 = s.astype(np.int64)
                nb = (
                    np.roll(s64, 1, 0)
                    + np.roll(s64, -1, 0)
                    + np.roll(s64, 1, 1)
                    + np.roll(s64, -1, 1)
                )
                idx = ((s64 + 1) // 2) * 5 + (nb + 4) // 2
                u = draw_u64(int(mask.sum()))
                flip = np.zeros((L, L), dtype=bool)
                flip[mask] = _accept(u, thr[idx[mask]])
                s[flip] = -s[flip]
        else:
            for i in range(L):
                for j in range(L):
                    si = int(s[i, j])
                    nb = int(s[i - 1, j]) + int(s[(i + 1) % L, j]) + int(s[i, j - 1])
                    nb += int(s[i, (j + 1) % L])
                    t = thr[((si + 1) // 2) * 5 + (nb + 4) // 2]
                    if _accept(draw_u64(1), t)[0]:
                        s[i, j] = -si
        es.append(float(model.energy(s)))
        ms.append(abs(float(model.magnetization(s))))
    return s, np.array(es), np.array(ms)


def reference_wolff(model: Ising, state: np.ndarray, draw_u64, n_clusters: int):
    """Pure-Python Wolff reference; returns ``(state, cluster sizes)``.

    Same draw order as the kernel: seed site ``((u >> 32) * L^2) >> 32``, then a LIFO stack;
    for each popped site one draw per neighbour (up, down, left, right), used iff the spins agree.

    >>> from latticediff.mc._rng import Xoshiro256Reference
    >>> s, sizes = reference_wolff(Ising(L=4, T=1.0), np.ones((4, 4), np.int8),
    ...                            xoshiro_draws(Xoshiro256Reference([1, 2, 3, 4])), 3)
    >>> len(sizes)
    3
    """
    s = np.array(state, dtype=np.int8, copy=True)
    L = model.L
    thr = bond_threshold(model.beta)
    sizes = []
    for _ in range(n_clusters):
        seed = ((int(draw_u64(1)[0]) >> 32) * L * L) >> 32
        i, j = divmod(seed, L)
        c = int(s[i, j])
        s[i, j] = -c
        stack = [(i, j)]
        size = 1
        while stack:
            i, j = stack.pop()
            for a, b in (((i - 1) % L, j), ((i + 1) % L, j), (i, (j - 1) % L), (i, (j + 1) % L)):
                u = draw_u64(1)
                if s[a, b] == c and _accept(u, thr)[0]:
                    s[a, b] = -c
                    stack.append((a, b))
                    size += 1
        sizes.append(size)
    return s, sizes


def reference_sw(model: Ising, state: np.ndarray, draw_u64, n_sweeps: int) -> np.ndarray:
    """Pure-Python Swendsen-Wang reference (bond list + breadth-first labelling).

    >>> from latticediff.mc._rng import Xoshiro256Reference
    >>> reference_sw(Ising(L=3, T=2.0), np.ones((3, 3), np.int8),
    ...              xoshiro_draws(Xoshiro256Reference([1, 2, 3, 4])), 1).shape
    (3, 3)
    """
    s = np.array(state, dtype=np.int8, copy=True)
    L = model.L
    n = L * L
    thr = bond_threshold(model.beta)
    for _ in range(n_sweeps):
        adj: list[list[int]] = [[] for _ in range(n)]
        flat = s.reshape(-1)
        for i in range(L):
            for j in range(L):
                a = i * L + j
                for o in (i * L + (j + 1) % L, ((i + 1) % L) * L + j):
                    if flat[a] == flat[o] and _accept(draw_u64(1), thr)[0]:
                        adj[a].append(o)
                        adj[o].append(a)
        label = [-1] * n
        for a in range(n):  # a is the smallest site of its cluster when first met
            if label[a] >= 0:
                continue
            flip = int(draw_u64(1)[0]) >> 63
            label[a] = a
            todo = [a]
            while todo:
                x = todo.pop()
                for y in adj[x]:
                    if label[y] < 0:
                        label[y] = a
                        todo.append(y)
            if flip:
                for x in range(n):
                    if label[x] == a:
                        flat[x] = -flat[x]
    return s
