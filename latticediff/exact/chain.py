"""Exact results for the clean 1D Ising chain in zero field (transfer matrix).

Conventions match :class:`latticediff.IsingChain`: N spins, reduced coupling ``K = J / T`` (any
finite real K; K < 0 is antiferromagnetic), Boltzmann weight ``exp(K sum_b s_i s_j)`` over the
bonds b, which are the N pairs (i, i+1 mod N) of a ring (``periodic=True``) or the N - 1 pairs
(i, i+1) of an open chain. ``N=None`` means the infinite chain.

The transfer matrix ``[[e^K, e^-K], [e^-K, e^K]]`` has eigenvalues ``2 cosh K`` and ``2 sinh K``,
so with ``t = tanh K``::

    ring:  Z = (2 cosh K)^N (1 + t^N),   <s_0 s_r> = (t^r + t^(N-r)) / (1 + t^N)
    open:  Z = 2 (2 cosh K)^(N-1),        <s_i s_(i+r)> = t^r
    N = inf:                              <s_0 s_r> = t^|r|

Everything is evaluated through ``ln tanh|K|`` and ``1 - tanh|K|^k = -expm1(k ln tanh|K|)``, so
the frustrated odd ring at large negative K (where 1 + t^N -> 0) keeps full relative precision.

>>> round(chain_energy(1.0), 12)  # -K tanh K
-0.761594155956
>>> round(float(chain_correlation(0.5, 3, N=8)), 12)
0.119512262324
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

__all__ = [
    "chain_log_partition",
    "chain_free_energy",
    "chain_energy",
    "chain_nn_correlation",
    "chain_correlation",
]


def _couplings(K) -> tuple[np.ndarray, bool]:
    arr = np.asarray(K, dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ParameterError(f"K must be a finite real number, got {bad}")
    return arr, arr.ndim == 0


def _length(N, *, allow_none: bool) -> int | None:
    if N is None and allow_none:
        return None
    if isinstance(N, bool) or not isinstance(N, int | np.integer):
        extra = " or None" if allow_none else ""
        raise ParameterError(f"N must be an integer >= 2{extra}, got {N!r}")
    if N < 2:
        raise ParameterError(f"N must be >= 2, got {N}")
    return int(N)


def _periodic(periodic) -> bool:
    if not isinstance(periodic, bool | np.bool_):
        raise ParameterError(f"periodic must be a bool, got {periodic!r}")
    return bool(periodic)


def _out(x, scalar: bool):
    x = np.asarray(x, dtype=float)
    return float(x) if scalar else x


def _log2cosh(K):
    a = np.abs(K)
    return a + np.log1p(np.exp(-2.0 * a))


def _log_tanh_abs(K):
    """ln tanh|K| (<= 0), accurate for every |K| > 0; -inf at K = 0."""
    a = np.abs(K)
    e = np.exp(-2.0 * a)
    with np.errstate(divide="ignore"):
        # tanh a = 1 - 2e/(1+e): log1p keeps the digits of ln tanh ~ -2e at large a, log(tanh)
        # keeps those of tanh a ~ a at small a.
        return np.where(a < 0.5, np.log(np.tanh(a)), np.log1p(-2.0 * e / (1.0 + e)))


def _log1m_pow(k, K):
    """ln(1 - tanh|K|^k) for integer k >= 1, accurate also when tanh|K|^k -> 1."""
    lt = _log_tanh_abs(K)
    x = k * lt
    with np.errstate(divide="ignore"):
        tiny = x > -1e-300
        # For |K| > ~350, ln tanh|K| underflows to 0; then 1 - tanh^k = 2k e^{-2|K|}.
        fallback = math.log(2.0) + np.log(np.maximum(k, 1)) - 2.0 * np.abs(K)
        return np.where(tiny, fallback, np.log(-np.expm1(np.where(tiny, -1.0, x))))


def _ring_pair(K, r, N):
    """(t^r + t^(N-r)) / (1 + t^N) for 0 <= r <= N, stable for every real K and N."""
    a_log = _log_tanh_abs(K)
    lo = np.minimum(r, N - r)
    d = np.abs(N - 2 * r)  # t^r + t^(N-r) = t^lo (1 +- |t|^d)
    frustrated = (K < 0) & (N % 2 == 1)
    with np.errstate(invalid="ignore", over="ignore"):
        # |t|^lo with 0^0 = 1 (K = 0, r = 0 or N).
        pow_lo = np.where(lo == 0, 1.0, np.exp(lo * a_log))
        sign_lo = np.where((K < 0) & (lo % 2 == 1), -1.0, 1.0)
        # Unfrustrated: denominator 1 + |t|^N, numerator |t|^lo (1 + |t|^d), no cancellation.
        plain = (
            pow_lo * (1.0 + np.exp(np.where(d == 0, 0.0, d * a_log))) / (1.0 + np.exp(N * a_log))
        )
        # Frustrated odd ring (K < 0, N odd): t^N = -|t|^N and the two numerator terms have
        # opposite signs; both numerator and denominator are 1 - |t|^power.
        ratio = np.exp(_log1m_pow(np.maximum(d, 1), K) - _log1m_pow(N, K))
        fr = pow_lo * np.where(d == 0, 0.0, ratio)
        # In both cases t^r + t^(N-r) = (-1)^lo |t|^lo (1 +- |t|^d) when K < 0.
        return sign_lo * np.where(frustrated, fr, plain)


def chain_log_partition(K, N: int, periodic: bool = True):
    """ln Z of the N-spin chain, ``Z = sum_s exp(K sum_bonds s_i s_j)``.

    Ring: ``N ln(2 cosh K) + ln(1 + tanh(K)^N)``; open: ``ln 2 + (N-1) ln(2 cosh K)``.
    Vectorised over ``K``.

    >>> round(chain_log_partition(0.0, 10), 12) == round(10 * math.log(2), 12)
    True
    >>> round(chain_log_partition(-2.0, 3), 6)  # frustrated triangle: 2 e^{-6} + 6 e^{2}
    3.791871
    """
    Karr, scalar = _couplings(K)
    N = _length(N, allow_none=False)
    periodic = _periodic(periodic)
    if not periodic:
        return _out(math.log(2.0) + (N - 1) * _log2cosh(Karr), scalar)
    lt = _log_tanh_abs(Karr)
    with np.errstate(over="ignore", invalid="ignore"):
        if N % 2 == 0:
            corr = np.log1p(np.exp(N * lt))
        else:
            corr = np.where(Karr >= 0, np.log1p(np.exp(N * lt)), _log1m_pow(N, Karr))
    return _out(N * _log2cosh(Karr) + corr, scalar)


def chain_free_energy(K, N: int | None = None, periodic: bool = True):
    """Reduced free energy per site ``beta f = -ln Z / N`` (dimensionless).

    ``N=None``: the infinite chain, ``-ln(2 cosh K)``. Multiply by T to get f in units of J.

    >>> round(chain_free_energy(0.0), 12) == round(-math.log(2), 12)
    True
    """
    Karr, scalar = _couplings(K)
    N = _length(N, allow_none=True)
    if N is None:
        return _out(-_log2cosh(Karr), scalar)
    return _out(-np.asarray(chain_log_partition(Karr, N, periodic)) / N, scalar)


def chain_nn_correlation(K, N: int | None = None, periodic: bool = True):
    """Nearest-neighbour correlation ``<s_i s_(i+1)>``, averaged over the chain's bonds.

    Ring: ``(t + t^(N-1)) / (1 + t^N)``; open chain and N = None: ``t = tanh K``. This is the
    exact mean of :meth:`latticediff.IsingChain.nn_correlation`.

    >>> round(chain_nn_correlation(1.0, N=4), 12)
    0.900412681425
    """
    Karr, scalar = _couplings(K)
    N = _length(N, allow_none=True)
    periodic = _periodic(periodic)
    if N is None or not periodic:
        return _out(np.tanh(Karr), scalar)
    return _out(_ring_pair(Karr, 1, N), scalar)


def chain_energy(K, N: int | None = None, periodic: bool = True):
    """Mean reduced energy per site ``<beta E> / N = -K (n_bonds / N) <s_i s_(i+1)>``.

    Here ``beta E = -K sum_bonds s_i s_j``, the convention of
    :meth:`latticediff.IsingChain.energy` (n_bonds = N on a ring, N - 1 open), so this is the
    exact mean of that observable; it equals ``-(K / N) d ln Z / dK``. ``N=None``:
    ``-K tanh K``.

    >>> round(chain_energy(1.0, N=5, periodic=False), 12)  # -(4/5) tanh 1
    -0.609275324765
    """
    Karr, scalar = _couplings(K)
    N = _length(N, allow_none=True)
    periodic = _periodic(periodic)
    nn = np.asarray(chain_nn_correlation(Karr, N, periodic))
    frac = 1.0 if (N is None or periodic) else (N - 1) / N
    return _out(-Karr * frac * nn, scalar)


def chain_correlation(K, r, N: int | None = None, periodic: bool = True):
    """Spin-spin correlation ``<s_0 s_r>`` of the zero-field chain.

    Ring: ``(t^r + t^(N-r)) / (1 + t^N)`` with r taken mod N; open chain: ``t^r`` for any two
    sites r apart (``0 <= r <= N - 1``); ``N=None``: ``t^|r|``. Vectorised over ``K`` and ``r``
    (broadcast together).

    >>> chain_correlation(0.5, [0, 1, 2]).round(6).tolist()
    [1.0, 0.462117, 0.213552]
    >>> round(float(chain_correlation(-30.0, 1, N=5)), 6)  # frustrated ring, K -> -inf: -3/5
    -0.6
    """
    Karr, kscalar = _couplings(K)
    rarr = np.asarray(r)
    if not np.issubdtype(rarr.dtype, np.integer):
        raise ParameterError(f"r must be an integer distance, got {r!r}")
    N = _length(N, allow_none=True)
    periodic = _periodic(periodic)
    scalar = kscalar and rarr.ndim == 0
    Kb, rb = np.broadcast_arrays(Karr, rarr.astype(np.int64))
    if N is None or not periodic:
        if N is None:
            rb = np.abs(rb)
        elif np.any((rb < 0) | (rb > N - 1)):
            bad = rb[(rb < 0) | (rb > N - 1)].ravel()[0]
            raise ParameterError(
                f"r must be in [0, N-1] = [0, {N - 1}] on an open chain, got {bad}"
            )
        lt = _log_tanh_abs(Kb)
        with np.errstate(invalid="ignore"):
            mag = np.where(rb == 0, 1.0, np.exp(rb * lt))
        sign = np.where((Kb < 0) & (rb % 2 == 1), -1.0, 1.0)
        return _out(sign * mag, scalar)
    return _out(_ring_pair(Kb, np.mod(rb, N), N), scalar)
