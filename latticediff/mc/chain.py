"""Exact i.i.d. sampler for the 1D Ising chain ``p(s) ~ exp(K sum_i s_i s_{i+1})``.

Follows the driver protocol of :mod:`latticediff.mc`; the only method is ``"exact"`` (``"auto"``
maps to it). A chain of N spins is generated left to right as a Markov chain, one uniform draw
per spin, with no rejection, for any finite real K:

* open chain: s_0 is uniform and each bond ``s_i s_{i+1}`` is +1 with probability
  ``e^K / (2 cosh K)``, independently;
* periodic chain: s_0 is uniform (global spin-flip symmetry) and, with the transfer matrix
  ``T(a, b) = e^{K a b}``, ``P(s_{k+1} = b | s_k = a, s_0) ~ T(a, b) T^m(b, s_0)`` with
  ``m = N - k - 1`` bonds left to close the ring. From the eigen-decomposition,
  ``T^m(b, c) = (2 cosh K)^m (1 + b c t^m) / 2`` with ``t = tanh K``, so only the ratio
  ``(1 - |t|^m) / (1 + |t|^m)`` matters. It is evaluated through
  ``-m ln|t| = exp(ln m + ln(-ln tanh|K|))`` with ``expm1``/``log1p``, which stays accurate when
  ``|t|`` rounds to 1 (|K| > ~19) and when ``e^{-2|K|}`` underflows (|K| > ~370): e.g. the
  frustrated ring (K -> -inf, N odd) still places its single broken bond uniformly.

The probabilities ``P(s_{k+1} = s_k | s_k s_0, m)`` are tabulated once per model, so sampling
costs one table look-up and one draw per spin.

Series (one value per sample): the reduced energy per site ``-K sum s_i s_{i+1} / N``
(:meth:`latticediff.IsingChain.energy`) and ``|m|``, the absolute magnetization per site.

Example
-------
>>> import latticediff as ld
>>> from latticediff.mc import chain
>>> from latticediff.mc._rng import seed_states
>>> model = ld.IsingChain(N=8, K=0.5)
>>> rng = seed_states(0, 1)[0]
>>> state = chain.init_state(model, "auto", rng)
>>> s, e, m, info = chain.run_chain(model, "auto", state, rng, burn_in=0, n_samples=3, thin=1)
>>> s.shape, s.dtype, e.shape
((3, 8), dtype('int8'), (3,))
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import expit

from ..errors import ParameterError
from ..systems import IsingChain
from ._rng import next_u64, uniform

__all__ = [
    "METHODS",
    "resolve_method",
    "is_iid",
    "init_state",
    "run_chain",
    "same_probabilities",
    "sample_reference",
]

METHODS = ("exact",)


def resolve_method(model: IsingChain, method: str = "auto") -> str:
    """``"auto"`` and ``"exact"`` both mean the exact sampler.

    >>> resolve_method(IsingChain(N=4, K=1.0), "auto")
    'exact'
    """
    if not isinstance(model, IsingChain):
        raise ParameterError(f"chain sampler needs an IsingChain, got {type(model).__name__}")
    m = str(method).lower()
    if m not in ("auto", "exact"):
        raise ParameterError(f"IsingChain: unknown method {method!r}; allowed: 'auto', 'exact'")
    return "exact"


def is_iid(model: IsingChain, method: str) -> bool:
    """Always True: the sampler is exact."""
    resolve_method(model, method)
    return True


def same_probabilities(N: int, K: float, periodic: bool) -> np.ndarray:
    """Table ``p[m, c]`` of ``P(s_{k+1} = s_k)``, ``m = N - k - 1``, ``c = (1 + s_k s_0) / 2``.

    Row 0 is unused. For the open chain every entry is ``e^K / (2 cosh K)``.

    >>> p = same_probabilities(3, -50.0, True)  # frustrated triangle: one broken bond
    >>> [round(float(v), 12) for v in p[2]], [round(float(v), 12) for v in p[1]]
    ([0.0, 0.333333333333], [0.5, 0.0])
    """
    p = np.empty((N, 2), dtype=np.float64)
    if not periodic or K == 0.0:
        p[:] = expit(2.0 * K)
        return p
    a = abs(K)
    sg = 1.0 if K > 0 else -1.0
    with np.errstate(over="ignore", divide="ignore"):
        # ln z with z = 2 / (e^{2a} - 1), so that -ln tanh a = log1p(z).
        log_z = math.log(2.0) - 2.0 * a - math.log(-math.expm1(-2.0 * a))
        z = math.exp(log_z) if log_z < 709.0 else math.inf
        ell = log_z + math.log1p(-z / 2.0) if z < 1e-8 else math.log(math.log1p(z))
        m = np.arange(1, N, dtype=np.float64)
        g = np.log(m) + ell  # ln(-m ln|t|)
        y = np.exp(g)  # -m ln|t|, so |t|^m = e^{-y}
        lf_plus = np.log1p(np.exp(-y))  # ln(1 + |t|^m)
        lf_minus = np.where(g < -30.0, g - y / 2.0, np.log(-np.expm1(-y)))  # ln(1 - |t|^m)
    sgm = np.where(np.arange(1, N) % 2 == 0, 1.0, sg)  # sign(t)^m
    for ci, c in ((0, -1.0), (1, 1.0)):
        same_plus = c * sgm > 0  # sign of b s_0 t^m for b = s_k
        lf_same = np.where(same_plus, lf_plus, lf_minus)
        lf_flip = np.where(same_plus, lf_minus, lf_plus)
        p[1:, ci] = expit(2.0 * K + lf_same - lf_flip)
    p[0] = np.nan
    return p


def _tables(model: IsingChain) -> np.ndarray:
    return same_probabilities(model.N, model.K, model.periodic)


@njit(cache=True, nogil=True)
def _sample(out, rng, p_same):
    n, N = out.shape
    for r in range(n):
        s0 = 1 if (next_u64(rng) >> np.uint64(63)) else -1
        out[r, 0] = s0
        a = s0
        for k in range(N - 1):
            ci = 1 if a == s0 else 0
            if not uniform(rng) < p_same[N - 1 - k, ci]:
                a = -a
            out[r, k + 1] = a


@njit(cache=True, nogil=True)
def _series(out, K, periodic, e_out, m_out):
    n, N = out.shape
    for r in range(n):
        bonds = 0
        mag = 0
        for k in range(N):
            mag += out[r, k]
            if k < N - 1:
                bonds += out[r, k] * out[r, k + 1]
        if periodic:
            bonds += out[r, N - 1] * out[r, 0]
        e_out[r] = -K * bonds / N
        m_out[r] = abs(mag) / N


def init_state(model: IsingChain, method: str, rng: np.ndarray) -> np.ndarray:
    """An exact sample drawn with ``rng``.

    >>> from latticediff.mc._rng import seed_states
    >>> init_state(IsingChain(N=5, K=0.3), "exact", seed_states(0, 1)[0]).shape
    (5,)
    """
    resolve_method(model, method)
    out = np.empty((1, model.N), dtype=np.int8)
    _sample(out, rng, _tables(model))
    return out[0]


def run_chain(
    model: IsingChain,
    method: str,
    state: np.ndarray,
    rng: np.ndarray,
    *,
    burn_in: int = 0,
    n_samples: int,
    thin: int = 1,
):
    """``n_samples`` exact i.i.d. samples; returns ``(samples, energy, order, info)``.

    ``burn_in`` and ``thin`` are accepted for the protocol and ignored (the samples are already
    independent); the series have length ``n_samples``, one value per sample; ``state`` ends as
    the last sample and ``rng`` is advanced in place.

    >>> from latticediff.mc._rng import seed_states
    >>> model = IsingChain(N=64, K=1.0, periodic=False)
    >>> rng = seed_states(9, 1)[0]
    >>> s, e, m, info = run_chain(model, "exact", init_state(model, "exact", rng), rng,
    ...                           n_samples=100_000)
    >>> s.shape, abs(float(model.nn_correlation(s).mean()) - math.tanh(1.0)) < 0.01
    ((100000, 64), True)
    """
    resolve_method(model, method)
    for name, v, lo in (("burn_in", burn_in, 0), ("n_samples", n_samples, 0), ("thin", thin, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ParameterError(f"run_chain: {name} must be an integer >= {lo}, got {v!r}")
    if state.shape != model.shape:
        raise ParameterError(f"IsingChain: state must have shape {model.shape}, got {state.shape}")
    samples = np.empty((int(n_samples), model.N), dtype=np.int8)
    _sample(samples, rng, _tables(model))
    e_out = np.empty(len(samples), dtype=np.float64)
    m_out = np.empty(len(samples), dtype=np.float64)
    _series(samples, model.K, model.periodic, e_out, m_out)
    if len(samples):
        state[...] = samples[-1]
    return samples, e_out, m_out, {"method": "exact"}


def sample_reference(model: IsingChain, ref, n: int) -> np.ndarray:
    """Python version of the sampler, equal bit for bit to the kernel for the same stream.

    ``ref`` is a :class:`~latticediff.mc._rng.Xoshiro256Reference`.
    """
    p = _tables(model)
    N = model.N
    out = np.empty((n, N), dtype=np.int8)
    for r in range(n):
        s0 = 1 if ref.next_u64() >> 63 else -1
        a = s0
        out[r, 0] = a
        for k in range(N - 1):
            if not ref.uniform() < p[N - 1 - k, 1 if a == s0 else 0]:
                a = -a
            out[r, k + 1] = a
    return out
