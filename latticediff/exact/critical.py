"""Known critical points, with their sources, and the bit-flip path's time <-> probability map.

Each entry is a frozen :class:`CriticalPoint`; :data:`CRITICAL_POINTS` maps a short name to it
and :func:`critical_point` looks one up (case-insensitive; ``-`` and spaces read as ``_``).
Exact values have ``uncertainty = 0``; numerical estimates carry one standard error in the last
quoted digits, as published.

Conventions follow DESIGN.md: J = k_B = 1; Potts ``H = -sum delta(s_i, s_j)``; the bit-flip
forward process flips each bit independently with probability
``p(t) = (1 - exp(-2 gamma t)) / 2``.

>>> critical_point("ising2d").value == TC_ISING
True
>>> round(potts_tc(3), 6)
0.994973
>>> round(critical_point("Nishimori-time").value, 4)
0.1232
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .ising2d import TC_ISING

__all__ = [
    "CriticalPoint",
    "CRITICAL_POINTS",
    "critical_point",
    "potts_tc",
    "bitflip_probability",
    "bitflip_time",
]


@dataclass(frozen=True)
class CriticalPoint:
    """A critical (or threshold) value of one parameter of one model.

    ``name``: key in :data:`CRITICAL_POINTS`; ``value`` and ``uncertainty`` (0 when exact) of
    the ``parameter`` (e.g. ``"T"``, ``"p"``, ``"x"``, ``"gamma*t"``); ``model``: what it is the
    critical point of; ``source``: references; ``note``: conventions and caveats.
    """

    name: str
    value: float
    uncertainty: float
    parameter: str
    model: str
    source: str
    note: str = ""

    @property
    def exact(self) -> bool:
        return self.uncertainty == 0.0


# ----------------------------------------------------------------------------- helpers
def potts_tc(q):
    """Critical temperature ``1 / ln(1 + sqrt q)`` of the square-lattice q-state Potts model.

    Self-dual point (R. B. Potts, Proc. Camb. Phil. Soc. 48, 106 (1952)); continuous for
    q <= 4, first order for q > 4 (R. J. Baxter, J. Phys. C 6, L445 (1973)). For q = 2 it is
    half the Ising Tc, since ``delta(s, s') = (1 + s s') / 2``. Vectorised; any real q >= 1.

    >>> [round(potts_tc(q), 6) for q in (2, 3, 4, 10)]
    [1.134593, 0.994973, 0.910239, 0.701232]
    """
    arr = np.asarray(q, dtype=float)
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr >= 1)):
        bad = arr[~(np.isfinite(arr) & (arr >= 1))].ravel()[0]
        raise ParameterError(f"potts_tc: q must be a finite number >= 1, got {bad}")
    tc = 1.0 / np.log1p(np.sqrt(arr))
    return float(tc) if arr.ndim == 0 else tc


def bitflip_probability(gamma_t):
    """Flip probability ``p = (1 - exp(-2 gamma t)) / 2`` of the bit-flip path at ``gamma*t``.

    ``gamma_t >= 0``; ``inf`` gives 1/2. Vectorised; inverse of :func:`bitflip_time`.

    >>> round(bitflip_probability(0.1232), 4)
    0.1092
    """
    arr = np.asarray(gamma_t, dtype=float)
    if arr.size and not np.all(arr >= 0):  # NaN fails too
        bad = arr[~(arr >= 0)].ravel()[0]
        raise ParameterError(f"bitflip_probability: gamma*t must be >= 0, got {bad}")
    p = -0.5 * np.expm1(-2.0 * arr)
    return float(p) if arr.ndim == 0 else p


def bitflip_time(p):
    """``gamma*t = -ln(1 - 2p) / 2`` at which the bit-flip path reaches flip probability ``p``.

    ``0 <= p <= 1/2`` (``p = 1/2`` gives ``inf``). Vectorised; inverse of
    :func:`bitflip_probability`.

    >>> round(bitflip_time(0.1092), 4)
    0.1232
    """
    arr = np.asarray(p, dtype=float)
    if arr.size and not np.all((arr >= 0) & (arr <= 0.5)):
        bad = arr[~((arr >= 0) & (arr <= 0.5))].ravel()[0]
        raise ParameterError(f"bitflip_time: p must be in [0, 0.5], got {bad}")
    with np.errstate(divide="ignore"):
        t = -0.5 * np.log1p(-2.0 * arr)
    return float(t) if arr.ndim == 0 else t


# ----------------------------------------------------------------------------- the table
_P_NISHIMORI = 0.1092
_DP_NISHIMORI = 0.0001
_KC_ISING3D = 0.221654626
_DKC_ISING3D = 0.000000005


def _entries() -> list[CriticalPoint]:
    sq2 = math.sqrt(2.0)
    return [
        CriticalPoint(
            "ising2d",
            TC_ISING,
            0.0,
            "T",
            "2D Ising, square lattice, J = 1",
            "L. Onsager, Phys. Rev. 65, 117 (1944); Kramers & Wannier, Phys. Rev. 60, 252 (1941)",
            "Tc = 2 / ln(1 + sqrt 2) = 2.269185...; K_c = ln(1 + sqrt 2) / 2. Binder crossing "
            "U* ~= 0.6107 (not exact; finite-size estimate).",
        ),
        CriticalPoint(
            "potts3",
            float(potts_tc(3)),
            0.0,
            "T",
            "3-state Potts, square lattice, H = -sum delta",
            "R. B. Potts, Proc. Camb. Phil. Soc. 48, 106 (1952); R. J. Baxter, J. Phys. C 6, "
            "L445 (1973)",
            "Tc = 1 / ln(1 + sqrt 3) = 0.994973; continuous transition. See potts_tc(q).",
        ),
        CriticalPoint(
            "potts4",
            float(potts_tc(4)),
            0.0,
            "T",
            "4-state Potts, square lattice, H = -sum delta",
            "R. B. Potts, Proc. Camb. Phil. Soc. 48, 106 (1952); R. J. Baxter, J. Phys. C 6, "
            "L445 (1973)",
            "Tc = 1 / ln 3 = 0.910239; continuous with logarithmic corrections (q = 4 is the "
            "marginal case; first order for q > 4).",
        ),
        CriticalPoint(
            "ising3d",
            1.0 / _KC_ISING3D,
            _DKC_ISING3D / _KC_ISING3D**2,
            "T",
            "3D Ising, simple cubic lattice, J = 1",
            "A. M. Ferrenberg, J. Xu, D. P. Landau, Phys. Rev. E 97, 043301 (2018): "
            "K_c = 0.221654626(5)",
            "Tc = 1 / K_c = 4.5115232(1) (uncertainty propagated from K_c). Numerical estimate.",
        ),
        CriticalPoint(
            "xy_bkt",
            0.8929,
            0.0001,
            "T",
            "2D XY (plane rotator), square lattice, J = 1",
            "M. Hasenbusch, J. Phys. A 38, 5869 (2005): beta_BKT = 1.1199(1), T = 0.89294(8); "
            "Y. Komura and Y. Okabe, J. Phys. Soc. Jpn. 81, 113001 (2012): 0.89290(5)",
            "Berezinskii-Kosterlitz-Thouless transition (infinite order). Numerical estimate; "
            "the Komura-Okabe figure is as quoted in the project notes, not re-checked here.",
        ),
        CriticalPoint(
            "nishimori",
            _P_NISHIMORI,
            _DP_NISHIMORI,
            "p",
            "random-bond (+-J) Ising model on the Nishimori line = toric code / uniform loop "
            "gas under i.i.d. bit flips with probability p",
            "A. Honecker, M. Picco, P. Pujol, Phys. Rev. Lett. 87, 047201 (2001); F. Merz and "
            "J. T. Chalker, Phys. Rev. B 65, 054425 (2002): 0.1093(2); M. Hasenbusch et al., "
            "Phys. Rev. E 77, 051115 (2008): 0.10919(7); E. Dennis, A. Kitaev, A. Landahl, "
            "J. Preskill, J. Math. Phys. 43, 4452 (2002) (mapping to the toric code)",
            "Optimal (maximum-likelihood) error threshold of the toric code under bit flips, "
            "and the CMI transition of the bit-flipped uniform loop gas (Sang & Hsieh, PRL 134, "
            "070403). A 2025 transfer-matrix study (Wan, Dai, Zhu, arXiv:2511.02907) gives "
            "0.1092212(4).",
        ),
        CriticalPoint(
            "nishimori_time",
            float(bitflip_time(_P_NISHIMORI)),
            _DP_NISHIMORI / (1.0 - 2.0 * _P_NISHIMORI),
            "gamma*t",
            "bit-flip forward process p(t) = (1 - exp(-2 gamma t)) / 2 applied to the uniform "
            "loop gas",
            "derived from 'nishimori' via bitflip_time",
            "gamma t_c = -ln(1 - 2 p_c) / 2 = 0.1232; uncertainty propagated from p_c.",
        ),
        CriticalPoint(
            "mwpm_threshold",
            0.1031,
            0.0001,
            "p",
            "toric code under bit flips decoded by minimum-weight perfect matching = "
            "zero-temperature random-bond Ising model",
            "C. Wang, J. Harrington, J. Preskill, Ann. Phys. 303, 31 (2003): p_c0 = 0.1031(1)",
            "Threshold of the matching decoder (T = 0 RBIM critical point); below the optimal "
            "'nishimori' threshold. Numerical estimate.",
        ),
        CriticalPoint(
            "loopgas",
            sq2 - 1.0,
            0.0,
            "x",
            "closed-loop gas on the square-lattice torus with weight x per occupied edge",
            "high-temperature expansion of the 2D Ising model (tanh K_c = sqrt 2 - 1); Kramers "
            "& Wannier (1941), Onsager (1944)",
            "x_c = tanh K_c = sqrt 2 - 1 = 0.414214. x < x_c maps to the Ising paramagnet "
            "(short loops), x > x_c to the ferromagnet (system-spanning loops); the uniform "
            "gas x = 1 (toric code Z basis) is K = infinity.",
        ),
        CriticalPoint(
            "ising1d",
            0.0,
            0.0,
            "T",
            "1D Ising chain, J = 1, zero field",
            "E. Ising, Z. Phys. 31, 253 (1925)",
            "No phase transition at any T > 0: the correlation length -1 / ln tanh K is finite "
            "for every finite K; Tc = 0.",
        ),
    ]


#: Known critical points by name (see :func:`critical_point`).
CRITICAL_POINTS: dict[str, CriticalPoint] = {c.name: c for c in _entries()}


def critical_point(name: str) -> CriticalPoint:
    """Look up a :class:`CriticalPoint` by name (case-insensitive; ``-``/spaces = ``_``).

    >>> cp = critical_point("mwpm_threshold")
    >>> cp.value, cp.uncertainty, cp.parameter
    (0.1031, 0.0001, 'p')
    >>> critical_point("ising4d")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: unknown critical point 'ising4d'; known: ising1d, ...
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in CRITICAL_POINTS:
        known = ", ".join(sorted(CRITICAL_POINTS))
        raise ParameterError(f"unknown critical point {name!r}; known: {known}")
    return CRITICAL_POINTS[key]
