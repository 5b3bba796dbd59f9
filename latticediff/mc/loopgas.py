"""Samplers for the closed-loop gas ``p(b) ~ x^{|b|}`` on the edges of the L x L torus.

Follows the driver protocol of :mod:`latticediff.mc`. A state is uint8 ``(2, L, L)``: channel 0
is the edge (i, j) -> (i, j+1), channel 1 the edge (i, j) -> (i+1, j); every vertex has even
degree. Plaquette (i, j) is the square with lower-left corner (i, j); its boundary is
``{h(i, j), h(i+1, j), v(i, j), v(i, j+1)}``.

Methods
-------
``"exact"`` (x = 1 only, i.i.d.)
    The uniform distribution on the cycle space Z of the torus. Z = B + span(two winding
    loops), where B (the boundaries) is the image of the map ``P -> dP`` from plaquette subsets,
    a group homomorphism whose kernel is {nothing, all plaquettes}. A uniformly random P
    therefore gives a uniform element of B, and adding each winding loop (all channel-0 edges
    of row 0; all channel-1 edges of column 0) with probability 1/2 independently makes the
    sum uniform on Z. Cost: one 64-bit draw per 64 plaquettes.
``"mcmc"`` (any x in (0, 1])
    Single-flip Markov chain. One sweep is L^2 proposals to flip the boundary of a uniformly
    random plaquette (edge-count change dn in {-4, -2, 0, 2, 4}), followed by one proposal per
    row to flip its horizontal winding loop and one per column to flip its vertical winding
    loop (dn = L - 2 n_occupied). Plaquette moves alone cannot change the winding sector; the
    loop moves make the chain ergodic on Z. Every proposal is accepted with the heat-bath
    (Glauber) probability ``x^dn / (1 + x^dn)``, not Metropolis' ``min(1, x^dn)``: at x = 1
    Metropolis accepts every move, so each sweep makes exactly L^2 plaquette and L + L loop
    flips and the parities of these counts become conserved (for even L the winding sector
    never changes and only half of the boundaries are reachable) -- a reducible chain.

``"auto"`` is ``"exact"`` at x = 1 and ``"mcmc"`` otherwise.

Series (one value per sweep, or per sample for ``"exact"``): the *energy* series is the number
of occupied edges per site, ``|b| / L^2`` -- the energy per site in units of the bond energy
``-ln x`` (so that the series is informative also at x = 1, where the reduced energy
``-|b| ln x`` vanishes identically); the *order* series is the occupation per edge
``|b| / (2 L^2)`` (:meth:`latticediff.LoopGas.occupation`).

Example
-------
>>> import latticediff as ld
>>> from latticediff.mc import loopgas
>>> from latticediff.mc._rng import seed_states
>>> model = ld.LoopGas(L=6, x=1.0)
>>> rng = seed_states(5, 1)[0]
>>> state = loopgas.init_state(model, "exact", rng)
>>> b, e, occ, info = loopgas.run_chain(model, "exact", state, rng, burn_in=0, n_samples=4, thin=1)
>>> b.shape, int(model.defects(b).max()), e.shape
((4, 2, 6, 6), 0, (4,))
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import ParameterError
from ..systems import LoopGas
from ._rng import next_u64, randbelow, uniform

__all__ = [
    "METHODS",
    "resolve_method",
    "is_iid",
    "init_state",
    "run_chain",
    "acceptance_table",
    "exact_sample_reference",
    "mcmc_sweep_reference",
]

METHODS = ("exact", "mcmc")


def resolve_method(model: LoopGas, method: str = "auto") -> str:
    """Map ``method`` to ``"exact"`` (x = 1 only) or ``"mcmc"``.

    >>> resolve_method(LoopGas(L=4, x=1.0)), resolve_method(LoopGas(L=4, x=0.5))
    ('exact', 'mcmc')
    """
    if not isinstance(model, LoopGas):
        raise ParameterError(f"loopgas sampler needs a LoopGas model, got {type(model).__name__}")
    m = str(method).lower()
    if m == "auto":
        return "exact" if model.x == 1.0 else "mcmc"
    if m not in METHODS:
        raise ParameterError(
            f"LoopGas: unknown method {method!r}; allowed: 'auto', {', '.join(map(repr, METHODS))}"
        )
    if m == "exact" and model.x != 1.0:
        raise ParameterError(
            f"LoopGas: method 'exact' needs x == 1 (uniform cycle space), got x={model.x}; "
            "use 'mcmc' or 'auto'"
        )
    return m


def is_iid(model: LoopGas, method: str) -> bool:
    """True for the exact sampler."""
    return resolve_method(model, method) == "exact"


def init_state(model: LoopGas, method: str, rng: np.ndarray) -> np.ndarray:
    """The empty configuration for ``"mcmc"``; an exact sample for ``"exact"``.

    >>> from latticediff.mc._rng import seed_states
    >>> int(init_state(LoopGas(L=3, x=0.5), "mcmc", seed_states(0, 1)[0]).sum())
    0
    """
    method = resolve_method(model, method)
    b = np.zeros(model.shape, dtype=np.uint8)
    if method == "exact":
        _exact_sample(b, rng, np.empty((model.L, model.L), dtype=np.uint8))
    return b


# --------------------------------------------------------------------------------------------
# Numba kernels


@njit(cache=True, nogil=True)
def _exact_sample(b, rng, pl):
    """Overwrite ``b`` with a uniform cycle; ``pl`` is uint8 (L, L) scratch for plaquette bits."""
    L = b.shape[1]
    word = np.uint64(0)
    k = 0
    for i in range(L):
        for j in range(L):
            if k % 64 == 0:
                word = next_u64(rng)
            pl[i, j] = (word >> np.uint64(k % 64)) & np.uint64(1)
            k += 1
    # h(i, j) bounds plaquettes (i, j) and (i-1, j); v(i, j) bounds (i, j) and (i, j-1).
    for i in range(L):
        im = i - 1 if i > 0 else L - 1
        for j in range(L):
            jm = j - 1 if j > 0 else L - 1
            b[0, i, j] = pl[i, j] ^ pl[im, j]
            b[1, i, j] = pl[i, j] ^ pl[i, jm]
    w = next_u64(rng)
    if w & np.uint64(1):
        for j in range(L):
            b[0, 0, j] ^= 1
    if (w >> np.uint64(1)) & np.uint64(1):
        for i in range(L):
            b[1, i, 0] ^= 1


@njit(cache=True, nogil=True)
def _mcmc_sweep(b, rng, pacc):
    """One sweep (see module docstring). ``pacc[D + dn] = x^dn / (1 + x^dn)`` for
    ``|dn| <= D = (len(pacc) - 1) / 2``. Returns the number of accepted moves."""
    L = b.shape[1]
    N = L * L
    D = (pacc.shape[0] - 1) // 2
    acc = 0
    for _ in range(N):
        p = randbelow(rng, N)
        i = p // L
        j = p - i * L
        ip = i + 1 if i < L - 1 else 0
        jp = j + 1 if j < L - 1 else 0
        occ = np.int64(b[0, i, j]) + b[0, ip, j] + b[1, i, j] + b[1, i, jp]
        if uniform(rng) < pacc[D + 4 - 2 * occ]:
            b[0, i, j] ^= 1
            b[0, ip, j] ^= 1
            b[1, i, j] ^= 1
            b[1, i, jp] ^= 1
            acc += 1
    for i in range(L):
        occ = np.int64(0)
        for j in range(L):
            occ += b[0, i, j]
        if uniform(rng) < pacc[D + L - 2 * occ]:
            for j in range(L):
                b[0, i, j] ^= 1
            acc += 1
    for j in range(L):
        occ = np.int64(0)
        for i in range(L):
            occ += b[1, i, j]
        if uniform(rng) < pacc[D + L - 2 * occ]:
            for i in range(L):
                b[1, i, j] ^= 1
            acc += 1
    return acc


@njit(cache=True, nogil=True)
def _count(b):
    n = np.int64(0)
    for c in range(2):
        for i in range(b.shape[1]):
            for j in range(b.shape[2]):
                n += b[c, i, j]
    return n


@njit(cache=True, nogil=True)
def _run_exact(b, rng, n_samples, samples, e_out, o_out):
    L = b.shape[1]
    N = L * L
    pl = np.empty((L, L), dtype=np.uint8)
    for t in range(n_samples):
        _exact_sample(b, rng, pl)
        samples[t] = b
        n = _count(b)
        e_out[t] = n / N
        o_out[t] = n / (2 * N)


@njit(cache=True, nogil=True)
def _run_mcmc(b, rng, pacc, burn_in, n_samples, thin, samples, e_out, o_out):
    L = b.shape[1]
    N = L * L
    acc = 0
    for t in range(burn_in + n_samples * thin):
        acc += _mcmc_sweep(b, rng, pacc)
        n = _count(b)
        e_out[t] = n / N
        o_out[t] = n / (2 * N)
        u = t + 1 - burn_in
        if u > 0 and u % thin == 0:
            samples[u // thin - 1] = b
    return acc


# --------------------------------------------------------------------------------------------
# Driver


def _check_counts(burn_in, n_samples, thin):
    for name, v, lo in (("burn_in", burn_in, 0), ("n_samples", n_samples, 0), ("thin", thin, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ParameterError(f"run_chain: {name} must be an integer >= {lo}, got {v!r}")
    return int(burn_in), int(n_samples), int(thin)


def acceptance_table(x: float, L: int) -> np.ndarray:
    """``p[D + dn] = x^dn / (1 + x^dn)`` for ``dn = -D..D``, ``D = max(4, L)``.

    >>> acceptance_table(1.0, 2).tolist() == [0.5] * 9
    True
    """
    D = max(4, L)
    d = np.arange(-D, D + 1, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        # x^|d| in (0, 1]: the two branches never overflow.
        xa = x ** np.abs(d)
        return np.where(d >= 0, xa / (1.0 + xa), 1.0 / (1.0 + xa))


def run_chain(
    model: LoopGas,
    method: str,
    state: np.ndarray,
    rng: np.ndarray,
    *,
    burn_in: int,
    n_samples: int,
    thin: int,
):
    """Advance ``state`` and ``rng`` in place and return ``(samples, energy, order, info)``.

    For ``"mcmc"`` the series have length ``burn_in + n_samples * thin`` (one value per sweep).
    For ``"exact"`` the samples are i.i.d.: ``burn_in`` and ``thin`` are ignored, the series
    have length ``n_samples`` (one value per sample) and ``state`` ends as the last sample.

    >>> from latticediff.mc._rng import seed_states
    >>> model = LoopGas(L=4, x=0.5)
    >>> rng = seed_states(2, 1)[0]
    >>> s = init_state(model, "mcmc", rng)
    >>> b, e, occ, info = run_chain(model, "mcmc", s, rng, burn_in=10, n_samples=3, thin=2)
    >>> b.shape, e.shape, int(model.defects(b).sum())
    ((3, 2, 4, 4), (16,), 0)
    """
    method = resolve_method(model, method)
    burn_in, n_samples, thin = _check_counts(burn_in, n_samples, thin)
    if state.shape != model.shape or state.dtype != np.uint8:
        raise ParameterError(
            f"LoopGas: state must be uint8 of shape {model.shape}, got {state.dtype} {state.shape}"
        )
    samples = np.empty((n_samples, *model.shape), dtype=np.uint8)
    info: dict = {"method": method}
    if method == "exact":
        e_out = np.empty(n_samples, dtype=np.float64)
        o_out = np.empty(n_samples, dtype=np.float64)
        _run_exact(state, rng, n_samples, samples, e_out, o_out)
        return samples, e_out, o_out, info
    if model.defects(state) != 0:
        raise ParameterError("LoopGas: initial state has odd-degree vertices; not a loop state")
    n_tot = burn_in + n_samples * thin
    e_out = np.empty(n_tot, dtype=np.float64)
    o_out = np.empty(n_tot, dtype=np.float64)
    acc = _run_mcmc(
        state,
        rng,
        acceptance_table(model.x, model.L),
        burn_in,
        n_samples,
        thin,
        samples,
        e_out,
        o_out,
    )
    L = model.L
    info["acceptance"] = acc / max(1, n_tot * (L * L + 2 * L))
    info["proposals_per_sweep"] = L * L + 2 * L
    return samples, e_out, o_out, info


# --------------------------------------------------------------------------------------------
# NumPy references, drawing from a Xoshiro256Reference in the same order


def exact_sample_reference(L: int, ref) -> np.ndarray:
    """One exact x = 1 sample (NumPy), equal bit for bit to the kernel with the same stream."""
    n_words = -(-L * L // 64)
    words = [ref.next_u64() for _ in range(n_words)]
    bits = [(words[k // 64] >> (k % 64)) & 1 for k in range(L * L)]
    pl = np.array(bits, dtype=np.uint8).reshape(L, L)
    b = np.stack([pl ^ np.roll(pl, 1, axis=0), pl ^ np.roll(pl, 1, axis=1)])
    w = ref.next_u64()
    b[0, 0, :] ^= w & 1
    b[1, :, 0] ^= (w >> 1) & 1
    return b


def mcmc_sweep_reference(b: np.ndarray, ref, x: float) -> int:
    """One sweep (NumPy), in place, equal bit for bit to the kernel."""
    L = b.shape[1]
    D = max(4, L)
    pacc = acceptance_table(x, L)
    acc = 0
    for _ in range(L * L):
        i, j = divmod(ref.randbelow(L * L), L)
        edges = ((0, i, j), (0, (i + 1) % L, j), (1, i, j), (1, i, (j + 1) % L))
        d = 4 - 2 * sum(int(b[e]) for e in edges)
        if ref.uniform() < pacc[D + d]:
            for e in edges:
                b[e] ^= 1
            acc += 1
    for view in (lambda k: (0, k, slice(None)), lambda k: (1, slice(None), k)):
        for k in range(L):
            d = L - 2 * int(b[view(k)].sum())
            if ref.uniform() < pacc[D + d]:
                b[view(k)] ^= 1
                acc += 1
    return acc
