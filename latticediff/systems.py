"""Lattice models with known phases, as frozen dataclasses validated on construction.

A model object only *describes* a distribution: its parameters, the shape and encoding of one
sample, and vectorised observables. Sampling lives in :mod:`latticediff.mc`, exact results in
:mod:`latticediff.exact`. Conventions (DESIGN.md §2): periodic lattices, J = k_B = 1, spins int8
in {-1, +1}, bits uint8 in {0, 1}, Potts states uint8 in {0, ..., q-1}.

Bonds on a periodic L x L lattice are the 2 L^2 pairs (i, i + e_x) and (i, i + e_y). For L = 2
this counts each neighbouring pair twice (the torus multigraph), which is also the convention of
Kaufman's exact finite-size solution.

Example
-------
>>> import latticediff as ld
>>> m = ld.Ising(L=8, T=2.0)
>>> m.shape, m.n_sites, round(m.beta, 3)
((8, 8), 64, 0.5)
>>> ld.Ising(L=8, T=-1.0)
Traceback (most recent call last):
...
latticediff.errors.ParameterError: Ising: T must be a finite number > 0, got -1.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from .errors import ParameterError

__all__ = ["Ising", "Potts", "LoopGas", "IsingChain", "MODEL_CLASSES", "model_from_dict"]


def _check_int(cls: str, name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{cls}: {name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(f"{cls}: {name} must be {rng}, got {value}")
    return int(value)


def _check_float(cls: str, name: str, value, *, positive=False, lo=None, hi=None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{cls}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ParameterError(
            f"{cls}: {name} must be a finite number{' > 0' if positive else ''}, got {value}"
        )
    if lo is not None and hi is not None and not (lo < v <= hi):
        raise ParameterError(f"{cls}: {name} must be in ({lo}, {hi}], got {value}")
    return v


class _Model:
    """Shared behaviour: JSON-able parameters and a stable name."""

    name: ClassVar[str]

    def params(self) -> dict:
        """Parameters as a plain dict (JSON-serialisable)."""
        return asdict(self)

    def to_dict(self) -> dict:
        """``{"model": name, **params}``, the form stored in HDF5 attributes and sweep plans."""
        return {"model": self.name, **self.params()}


@dataclass(frozen=True)
class Ising(_Model):
    """2D ferromagnetic Ising model on a periodic L x L square lattice.

    ``H = -sum_<ij> s_i s_j - h sum_i s_i`` with J = 1; samples are int8 ``(L, L)`` in {-1, +1}.
    The infinite-lattice critical temperature is ``Tc = 2 / ln(1 + sqrt 2) = 2.269185...``.

    >>> Ising(L=4, T=2.269).dtype
    dtype('int8')
    """

    L: int
    T: float
    h: float = 0.0
    name: ClassVar[str] = "ising"

    def __post_init__(self):
        object.__setattr__(self, "L", _check_int("Ising", "L", self.L, 2))
        object.__setattr__(self, "T", _check_float("Ising", "T", self.T, positive=True))
        object.__setattr__(self, "h", _check_float("Ising", "h", self.h))

    @property
    def beta(self) -> float:
        return 1.0 / self.T

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.L, self.L)

    @property
    def n_sites(self) -> int:
        return self.L * self.L

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int8)

    def energy(self, s: np.ndarray) -> np.ndarray:
        """Energy per site of each sample in a stack ``(..., L, L)``.

        >>> s = np.ones((1, 4, 4), dtype=np.int8)
        >>> float(Ising(L=4, T=1.0).energy(s)[0])
        -2.0
        """
        s = np.asarray(s, dtype=np.int64)
        bonds = s * np.roll(s, -1, axis=-1) + s * np.roll(s, -1, axis=-2)
        e = -bonds.sum(axis=(-1, -2)) - self.h * s.sum(axis=(-1, -2))
        return e / self.n_sites

    def magnetization(self, s: np.ndarray) -> np.ndarray:
        """Magnetization per site of each sample."""
        return np.asarray(s, dtype=np.int64).sum(axis=(-1, -2)) / self.n_sites

    def observables(self, s: np.ndarray) -> dict[str, np.ndarray]:
        """Per-sample observables stored beside samples: energy and magnetization per site."""
        return {"energy": self.energy(s), "magnetization": self.magnetization(s)}


@dataclass(frozen=True)
class Potts(_Model):
    """q-state Potts model on a periodic L x L lattice, ``H = -sum_<ij> delta(s_i, s_j)``.

    Samples are uint8 ``(L, L)`` in {0, ..., q-1}. ``Tc(q) = 1 / ln(1 + sqrt q)``; the
    transition is continuous for q <= 4 and first order above.

    >>> Potts(L=8, q=3, T=1.0).shape
    (8, 8)
    """

    L: int
    q: int
    T: float
    name: ClassVar[str] = "potts"

    def __post_init__(self):
        object.__setattr__(self, "L", _check_int("Potts", "L", self.L, 2))
        object.__setattr__(self, "q", _check_int("Potts", "q", self.q, 2, 255))
        object.__setattr__(self, "T", _check_float("Potts", "T", self.T, positive=True))

    @property
    def beta(self) -> float:
        return 1.0 / self.T

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.L, self.L)

    @property
    def n_sites(self) -> int:
        return self.L * self.L

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def energy(self, s: np.ndarray) -> np.ndarray:
        """Energy per site, ``-(number of satisfied bonds) / L^2``.

        >>> float(Potts(L=4, q=3, T=1.0).energy(np.zeros((1, 4, 4), np.uint8))[0])
        -2.0
        """
        s = np.asarray(s)
        same = (s == np.roll(s, -1, axis=-1)).astype(np.int64) + (s == np.roll(s, -1, axis=-2))
        return -same.sum(axis=(-1, -2)) / self.n_sites

    def magnetization(self, s: np.ndarray) -> np.ndarray:
        """Order parameter ``(q * max_a n_a / N - 1) / (q - 1)`` in [0, 1] per sample."""
        s = np.asarray(s).reshape(*np.shape(s)[:-2], -1)
        counts = np.stack([(s == a).sum(axis=-1) for a in range(self.q)], axis=-1)
        return (self.q * counts.max(axis=-1) / self.n_sites - 1.0) / (self.q - 1.0)

    def observables(self, s: np.ndarray) -> dict[str, np.ndarray]:
        return {"energy": self.energy(s), "magnetization": self.magnetization(s)}


@dataclass(frozen=True)
class LoopGas(_Model):
    """Closed-loop gas on the edges of a periodic L x L lattice, weight ``x`` per occupied edge.

    A configuration is a set of edges in which every vertex has even degree (a cycle of the
    torus, including non-contractible ones). ``x = 1`` is the uniform distribution on the cycle
    space, the Z-basis measurement distribution of the toric code's ground state. By the
    high-temperature expansion it is the Ising model's loop representation at ``tanh K = x``
    (critical at ``x_c = sqrt 2 - 1``).

    Samples are uint8 ``(2, L, L)``: channel 0 is the edge (i, j) -> (i, j+1), channel 1 the
    edge (i, j) -> (i+1, j).

    >>> LoopGas(L=4, x=1.0).shape
    (2, 4, 4)
    """

    L: int
    x: float = 1.0
    name: ClassVar[str] = "loopgas"

    def __post_init__(self):
        object.__setattr__(self, "L", _check_int("LoopGas", "L", self.L, 2))
        object.__setattr__(self, "x", _check_float("LoopGas", "x", self.x, lo=0.0, hi=1.0))

    @property
    def shape(self) -> tuple[int, ...]:
        return (2, self.L, self.L)

    @property
    def n_sites(self) -> int:
        return self.L * self.L

    @property
    def n_edges(self) -> int:
        return 2 * self.L * self.L

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @staticmethod
    def vertex_parity(b: np.ndarray) -> np.ndarray:
        """Degree mod 2 of every vertex, shape ``(..., L, L)``; all zero for a closed-loop state."""
        b = np.asarray(b, dtype=np.uint8)
        h, v = b[..., 0, :, :], b[..., 1, :, :]
        return h ^ np.roll(h, 1, axis=-1) ^ v ^ np.roll(v, 1, axis=-2)

    def defects(self, b: np.ndarray) -> np.ndarray:
        """Number of odd-degree vertices per sample (0 for every true loop-gas sample)."""
        return self.vertex_parity(b).sum(axis=(-1, -2)).astype(np.int64)

    def occupation(self, b: np.ndarray) -> np.ndarray:
        """Fraction of occupied edges per sample."""
        return np.asarray(b, dtype=np.int64).sum(axis=(-1, -2, -3)) / self.n_edges

    @staticmethod
    def winding(b: np.ndarray) -> np.ndarray:
        """Winding parities ``(w_x, w_y)`` per sample, shape ``(..., 2)``.

        ``w_x`` is the parity of horizontal edges crossing the cut between columns L-1 and 0,
        ``w_y`` that of vertical edges crossing the cut between rows L-1 and 0. For closed-loop
        configurations they do not depend on where the cut is placed.
        """
        b = np.asarray(b, dtype=np.int64)
        wx = b[..., 0, :, -1].sum(axis=-1) % 2
        wy = b[..., 1, -1, :].sum(axis=-1) % 2
        return np.stack([wx, wy], axis=-1)

    def observables(self, b: np.ndarray) -> dict[str, np.ndarray]:
        w = self.winding(b)
        return {
            "occupation": self.occupation(b),
            "defects": self.defects(b),
            "winding_x": w[..., 0],
            "winding_y": w[..., 1],
        }


@dataclass(frozen=True)
class IsingChain(_Model):
    """1D Ising chain of N spins with coupling ``K = J / T`` (any finite real K), zero field.

    Sampled exactly and i.i.d. as a Markov chain. Samples are int8 ``(N,)`` in {-1, +1}.

    >>> IsingChain(N=16, K=1.0).shape
    (16,)
    """

    N: int
    K: float
    periodic: bool = True
    name: ClassVar[str] = "chain"

    def __post_init__(self):
        object.__setattr__(self, "N", _check_int("IsingChain", "N", self.N, 2))
        object.__setattr__(self, "K", _check_float("IsingChain", "K", self.K))
        if not isinstance(self.periodic, bool | np.bool_):
            raise ParameterError(f"IsingChain: periodic must be a bool, got {self.periodic!r}")
        object.__setattr__(self, "periodic", bool(self.periodic))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.N,)

    @property
    def n_sites(self) -> int:
        return self.N

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int8)

    def energy(self, s: np.ndarray) -> np.ndarray:
        """Energy per site in units of T, ``-K sum s_i s_{i+1} / N`` (reduced energy)."""
        s = np.asarray(s, dtype=np.int64)
        prod = s[..., :-1] * s[..., 1:]
        tot = prod.sum(axis=-1)
        if self.periodic:
            tot = tot + s[..., -1] * s[..., 0]
        return -self.K * tot / self.N

    def nn_correlation(self, s: np.ndarray) -> np.ndarray:
        """Mean nearest-neighbour correlation ``<s_i s_{i+1}>`` per sample (over all bonds)."""
        s = np.asarray(s, dtype=np.int64)
        if self.periodic:
            return (s * np.roll(s, -1, axis=-1)).mean(axis=-1)
        return (s[..., :-1] * s[..., 1:]).mean(axis=-1)

    def magnetization(self, s: np.ndarray) -> np.ndarray:
        return np.asarray(s, dtype=np.int64).mean(axis=-1)

    def observables(self, s: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "energy": self.energy(s),
            "magnetization": self.magnetization(s),
            "nn_correlation": self.nn_correlation(s),
        }


MODEL_CLASSES: dict[str, type] = {c.name: c for c in (Ising, Potts, LoopGas, IsingChain)}


def model_from_dict(d: dict):
    """Rebuild a model from ``model.to_dict()`` (as stored in HDF5 attributes).

    >>> model_from_dict({"model": "potts", "L": 4, "q": 3, "T": 1.0})
    Potts(L=4, q=3, T=1.0)
    """
    d = dict(d)
    name = d.pop("model", None)
    if name not in MODEL_CLASSES:
        known = ", ".join(sorted(MODEL_CLASSES))
        raise ParameterError(f"unknown model {name!r}; known models: {known}")
    try:
        return MODEL_CLASSES[name](**d)
    except TypeError as exc:
        raise ParameterError(f"{name}: {exc}") from None

