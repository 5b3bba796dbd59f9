"""Integrated autocorrelation times and error bars of Monte Carlo time series.

Convention: ``tau_int = 1/2 + sum_{t>=1} rho(t)``, so uncorrelated data have ``tau_int = 1/2``
and the variance of a mean of n correlated values is ``2 tau_int var / n``. Samples spaced by
``2 tau_int`` are effectively independent, which is the rule behind the thinning warning of
:func:`latticediff.sample`.

The sum is cut at Sokal's self-consistent window, the smallest M with ``M >= c tau_int(M)``
(A. Sokal, "Monte Carlo Methods in Statistical Mechanics: Foundations and New Algorithms",
Cargèse lectures 1996; c = 5). With several chains the autocovariance is averaged over chains
(each about its own mean), as in Goodman & Weare's emcee.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=20000)
>>> round(tau_int(x).tau, 1)
0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TauEstimate", "tau_int", "autocorrelation", "binning_errors", "mean_stderr"]


@dataclass(frozen=True)
class TauEstimate:
    """An integrated autocorrelation time with Sokal's error and the window used.

    ``reliable`` is False when a chain is shorter than 20 tau_int or all chains together are
    shorter than 100 tau_int: below that the windowed estimate is itself biased low and noisy
    (Sokal recommends much longer runs for a precise tau_int; this flags the hopeless cases).
    """

    tau: float
    stderr: float
    window: int
    n: int
    reliable: bool

    def to_dict(self) -> dict:
        return {
            "tau": self.tau,
            "stderr": self.stderr,
            "window": self.window,
            "n": self.n,
            "reliable": self.reliable,
        }


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation rho(t), t = 0..n-1, averaged over chains.

    ``x`` is ``(n,)`` for one chain or ``(n_chains, n)``. Uses zero-padded FFTs (O(n log n)).

    >>> rho = autocorrelation(np.array([1.0, -1.0, 1.0, -1.0]))
    >>> float(rho[0]), bool(rho[1] < 0)
    (1.0, True)
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x.shape[1]
    if n < 2:
        raise ValueError(f"autocorrelation needs a series of length >= 2, got {n}")
    y = x - x.mean(axis=1, keepdims=True)
    nfft = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(y, n=nfft, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=1)[:, :n].mean(axis=0) / n
    if acov[0] <= 0:
        # A constant series (e.g. a frozen ground state): report rho = 1 at 0, 0 elsewhere.
        rho = np.zeros(n)
        rho[0] = 1.0
        return rho
    return acov / acov[0]


def tau_int(x: np.ndarray, *, c: float = 5.0) -> TauEstimate:
    """Integrated autocorrelation time of one series ``(n,)`` or several chains ``(k, n)``.

    >>> rng = np.random.default_rng(1)
    >>> a = np.zeros(50000)
    >>> for i in range(1, a.size):  # AR(1), phi = 0.8: tau_int = (1 + phi) / (2 (1 - phi))
    ...     a[i] = 0.8 * a[i - 1] + rng.normal()
    >>> abs(tau_int(a).tau - 4.5) < 0.5
    True
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x.shape[1]
    rho = autocorrelation(x)
    cums = 0.5 + np.cumsum(rho[1:])
    ms = np.arange(1, n)
    ok = ms >= c * cums
    window = int(ms[np.argmax(ok)]) if ok.any() else n - 1
    tau = float(max(cums[window - 1], 0.5)) if n > 1 else 0.5
    n_total = x.size
    stderr = tau * math.sqrt(2.0 * (2 * window + 1) / n_total)
    reliable = n >= 20 * tau and n_total >= 100 * tau
    return TauEstimate(tau=tau, stderr=stderr, window=window, n=n, reliable=reliable)


def mean_stderr(x: np.ndarray, tau: float | None = None) -> float:
    """Standard error of the mean of a correlated series, ``sqrt(2 tau var / n)``.

    ``x`` is ``(n,)`` or ``(n_chains, n)``; tau is estimated when not given.

    >>> round(mean_stderr(np.random.default_rng(0).normal(size=10000)), 2)
    0.01
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if tau is None:
        tau = tau_int(x).tau
    var = x.var(axis=1, ddof=1).mean() if x.shape[1] > 1 else 0.0
    return math.sqrt(2.0 * tau * var / x.size)


def binning_errors(x: np.ndarray, *, min_bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The binning curve: stderr of the mean for bin sizes 1, 2, 4, ... (while >= min_bins bins).

    Its plateau is the honest error bar; ``(err[k] / err[0])**2 / 2`` estimates tau_int.
    Returns ``(bin_sizes, stderr)``.

    >>> sizes, err = binning_errors(np.random.default_rng(0).normal(size=4096))
    >>> int(sizes[0]), bool(abs(err[-1] / err[0] - 1) < 0.5)
    (1, True)
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    sizes, errs = [], []
    b = 1
    while x.size // b >= min_bins:
        m = x.size // b
        means = x[: m * b].reshape(m, b).mean(axis=1)
        sizes.append(b)
        errs.append(means.std(ddof=1) / math.sqrt(m))
        b *= 2
    if not sizes:
        raise ValueError(f"binning_errors needs at least {min_bins} values, got {x.size}")
    return np.array(sizes), np.array(errs)
