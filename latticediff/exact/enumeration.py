"""Exact enumeration of every configuration of a tiny lattice model.

The reference against which samplers are checked (chi-square on state histograms) and against
which the closed forms of :mod:`latticediff.exact` are tested. Works for every model in
:mod:`latticediff.systems`:

=================  ===========================================  ==============================
model              states enumerated                            log weight
=================  ===========================================  ==============================
``Ising``          all 2^(L^2) spin configurations              ``-beta N energy`` (field h
                                                                included)
``Potts``          all q^(L^2) colourings                       ``-beta N energy``
``LoopGas``        the 2^(L^2+1) cycles of the torus (every     ``n_occupied ln x``
                   even-degree edge set), from a cycle basis
``IsingChain``     all 2^N spin configurations                  ``-N energy`` (reduced energy)
=================  ===========================================  ==============================

Energies and observables come from the model's own methods, so enumeration and Monte Carlo use
one convention (e.g. the doubled bonds of the L = 2 torus).

Ordering: for spin and Potts models state ``i`` has the value given by base-b digit ``j`` of
``i`` at flat site ``j`` (row-major, little-endian), with digit 0 -> spin +1 and 1 -> -1 (so
state 0 is all up). Loop-gas state ``i`` is the XOR of the cycle-basis vectors selected by
the bits of ``i``.

>>> import latticediff as ld
>>> states, logw = enumerate_states(ld.LoopGas(L=2, x=0.5))
>>> states.shape, states.dtype
((32, 2, 2, 2), dtype('uint8'))
>>> obs = exact_observables(ld.Ising(L=2, T=1.0))
>>> round(obs["energy"], 6)  # -(4 e^8 - 4 e^-8) / (2 e^8 + 12 + 2 e^-8)
-1.995982
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..systems import Ising, IsingChain, LoopGas, Potts

__all__ = ["MAX_STATES", "n_states", "enumerate_states", "exact_distribution", "exact_observables"]

#: Default cap on the number of enumerated configurations (2^22: 4 194 304).
MAX_STATES = 1 << 22

# Observables are evaluated in blocks of this many states to bound memory (the models'
# methods upcast to int64).
_BLOCK = 1 << 16


def n_states(model) -> int:
    """Number of configurations :func:`enumerate_states` would produce for ``model``.

    >>> import latticediff as ld
    >>> n_states(ld.Ising(L=4, T=1.0)), n_states(ld.LoopGas(L=3)), n_states(ld.IsingChain(8, 1.0))
    (65536, 1024, 256)
    """
    if isinstance(model, Ising):
        return 2 ** (model.L * model.L)
    if isinstance(model, Potts):
        return model.q ** (model.L * model.L)
    if isinstance(model, LoopGas):
        return 2 ** (model.L * model.L + 1)
    if isinstance(model, IsingChain):
        return 2**model.N
    raise ParameterError(
        f"cannot enumerate {type(model).__name__}; supported models: Ising, Potts, LoopGas, "
        "IsingChain"
    )


def _check_size(model, max_states: int) -> int:
    count = n_states(model)
    if count > max_states:
        raise ParameterError(
            f"{model!r} has {count} configurations, more than max_states={max_states}; exact "
            "enumeration is for tiny lattices (Ising L <= 4, LoopGas L <= 4, IsingChain N <= 22)"
        )
    return count


def _digits(n_sites: int, base: int) -> np.ndarray:
    """All base-``base`` strings of length n_sites, uint8 (base^n, n); row i = digits of i."""
    out = np.zeros((base**n_sites, n_sites), dtype=np.uint8)
    block = 1
    for j in range(n_sites):
        # Rows [a*block, (a+1)*block) repeat the first block with digit j set to a.
        for a in range(1, base):
            rows = slice(a * block, (a + 1) * block)
            out[rows] = out[:block]
            out[rows, j] = a
        block *= base
    return out


def _cycle_basis(L: int) -> np.ndarray:
    """A GF(2) basis of the torus's cycle space, uint8 (L^2 + 1, 2, L, L).

    L^2 - 1 plaquettes (all but the last one; their sum is the last) plus one horizontal and
    one vertical non-contractible loop. Dimension E - V + 1 = 2L^2 - L^2 + 1.
    """
    basis = []
    for i in range(L):
        for j in range(L):
            if (i, j) == (L - 1, L - 1):
                continue
            b = np.zeros((2, L, L), dtype=np.uint8)
            b[0, i, j] ^= 1  # (i, j) -> (i, j+1)
            b[0, (i + 1) % L, j] ^= 1  # (i+1, j) -> (i+1, j+1)
            b[1, i, j] ^= 1  # (i, j) -> (i+1, j)
            b[1, i, (j + 1) % L] ^= 1  # (i, j+1) -> (i+1, j+1)
            basis.append(b)
    row = np.zeros((2, L, L), dtype=np.uint8)
    row[0, 0, :] = 1
    col = np.zeros((2, L, L), dtype=np.uint8)
    col[1, :, 0] = 1
    return np.stack(basis + [row, col])


def _all_cycles(L: int) -> np.ndarray:
    basis = _cycle_basis(L)
    out = np.zeros((2 ** len(basis), 2, L, L), dtype=np.uint8)
    block = 1
    for b in basis:  # doubling: bit k of the index selects basis vector k
        np.bitwise_xor(out[:block], b, out=out[block : 2 * block])
        block *= 2
    return out


def _blocks(states: np.ndarray):
    for i in range(0, len(states), _BLOCK):
        yield states[i : i + _BLOCK]


def enumerate_states(model, *, max_states: int = MAX_STATES) -> tuple[np.ndarray, np.ndarray]:
    """Every configuration of ``model`` and its unnormalised log Boltzmann weight.

    Returns ``(states, log_weights)``: ``states`` has shape ``(n, *model.shape)`` and
    ``model.dtype`` (Ising/IsingChain int8 spins, Potts/LoopGas uint8), ``log_weights`` is
    float64 ``(n,)``. Raises :class:`~latticediff.errors.ParameterError` when ``n`` exceeds
    ``max_states`` (default 2^22), before allocating anything.

    >>> import latticediff as ld
    >>> s, lw = enumerate_states(ld.IsingChain(N=3, K=0.5, periodic=False))
    >>> s[:2].tolist(), lw[:2].tolist()
    ([[1, 1, 1], [-1, 1, 1]], [1.0, 0.0])
    """
    _check_size(model, max_states)
    if isinstance(model, LoopGas):
        states = _all_cycles(model.L)
        lw = np.zeros(len(states))
        if model.x != 1.0:
            occ = states.reshape(len(states), -1).sum(axis=1, dtype=np.int64)
            lw = occ * math.log(model.x)
        return states, lw
    if isinstance(model, Potts):
        states = _digits(model.n_sites, model.q).reshape(-1, *model.shape)
    else:  # Ising, IsingChain: digit 0 -> +1, 1 -> -1
        bits = _digits(model.n_sites, 2).view(np.int8)
        states = (1 - 2 * bits).astype(np.int8).reshape(-1, *model.shape)
    lw = np.empty(len(states))
    i = 0
    for blk in _blocks(states):
        e = model.energy(blk)
        if isinstance(model, IsingChain):
            lw[i : i + len(blk)] = -model.n_sites * e  # energy is already beta E / N
        else:
            lw[i : i + len(blk)] = -model.beta * model.n_sites * e
        i += len(blk)
    return states, lw


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + math.log(float(np.exp(x - m).sum()))


def exact_distribution(model, *, max_states: int = MAX_STATES) -> tuple[np.ndarray, np.ndarray]:
    """Every configuration of ``model`` with its exact Gibbs probability.

    Returns ``(states, probs)`` with ``probs.sum() == 1`` (to rounding).

    >>> import latticediff as ld
    >>> states, p = exact_distribution(ld.LoopGas(L=2, x=1.0))
    >>> len(p), float(p[0]) == 1 / 32
    (32, True)
    """
    states, lw = enumerate_states(model, max_states=max_states)
    return states, np.exp(lw - _logsumexp(lw))


def exact_observables(model, *, max_states: int = MAX_STATES) -> dict[str, float]:
    """Exact Gibbs averages of the model's observables, by enumeration.

    For every key ``k`` of ``model.observables(states)`` the result holds ``k`` (the mean)
    and ``k + "_sq"`` (the mean square). Also:

    * ``log_partition``: ln Z (with the log weights of :func:`enumerate_states`);
    * ``n_states``: the number of configurations;
    * Ising, Potts: ``specific_heat = N beta^2 Var(energy)`` (per site);
      IsingChain: ``specific_heat = N Var(energy)`` (its energy is already reduced);
    * Ising, IsingChain (Z2 models): ``abs_magnetization`` ``<|m|>``, ``magnetization_4``
      ``<m^4>`` and the Binder cumulant ``binder = 1 - <m^4> / (3 <m^2>^2)``.

    >>> import latticediff as ld
    >>> obs = exact_observables(ld.IsingChain(N=6, K=0.7))
    >>> round(obs["nn_correlation"], 12) == round(float(ld.exact.chain_nn_correlation(0.7, 6)), 12)
    True
    """
    states, lw = enumerate_states(model, max_states=max_states)
    logz = _logsumexp(lw)
    p = np.exp(lw - logz)
    sums: dict[str, float] = {}
    energy = np.empty(len(states)) if "energy" in model.observables(states[:1]) else None
    i = 0
    for blk in _blocks(states):
        pb = p[i : i + len(blk)]
        i += len(blk)
        obs = {k: np.asarray(v, dtype=float) for k, v in model.observables(blk).items()}
        if energy is not None:
            energy[i - len(blk) : i] = obs["energy"]
        if "magnetization" in obs and isinstance(model, Ising | IsingChain):
            m = obs["magnetization"]
            obs["abs_magnetization"] = np.abs(m)
            obs["magnetization_4"] = m**4
        for k, v in list(obs.items()):
            if k not in ("abs_magnetization", "magnetization_4"):
                obs[k + "_sq"] = v * v
        for k, v in obs.items():
            sums[k] = sums.get(k, 0.0) + float(pb @ v)
    out = dict(sums)
    out["log_partition"] = logz
    out["n_states"] = len(states)
    if energy is not None:
        # Central moment in a second pass: <e^2> - <e>^2 would cancel ~N-fold at low T.
        var_e = float(p @ (energy - out["energy"]) ** 2)
    if isinstance(model, Ising | Potts):
        out["specific_heat"] = model.n_sites * model.beta**2 * var_e
    elif isinstance(model, IsingChain):
        out["specific_heat"] = model.n_sites * var_e
    if isinstance(model, Ising | IsingChain):
        out["binder"] = 1.0 - out["magnetization_4"] / (3.0 * out["magnetization_sq"] ** 2)
    return out
