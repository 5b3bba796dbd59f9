"""Exact thermodynamics of the 2D Ising model (J = k_B = 1, zero field).

* Infinite lattice: Onsager's free energy, internal energy and specific heat
  (L. Onsager, Phys. Rev. 65, 117 (1944)) and Yang's spontaneous magnetization
  (C. N. Yang, Phys. Rev. 85, 808 (1952)).
* Finite periodic L x L lattice: Kaufman's exact partition function
  (B. Kaufman, Phys. Rev. 76, 1232 (1949); see also A. E. Ferdinand and M. E. Fisher,
  Phys. Rev. 185, 832 (1969), and McCoy & Wu, *The Two-Dimensional Ising Model*, ch. IV).

Kaufman's torus has the 2 L^2 bonds (i, i + e_x), (i, i + e_y); for L = 2 every neighbouring
pair is counted twice. This is exactly the convention of :meth:`latticediff.Ising.energy`
(``np.roll`` bonds), and the tests check it against brute-force enumeration for L = 2, 3, 4.

Finite-lattice formula (K = 1/T, N = m n sites, m columns, n rows)::

    Z = 1/2 (2 sinh 2K)^(N/2) [ prod_r 2 cosh(m g_{2r+1}/2) + prod_r 2 sinh(m g_{2r+1}/2)
                              + prod_r 2 cosh(m g_{2r}/2)   + prod_r 2 sinh(m g_{2r}/2) ],

with r = 0 .. n-1, ``cosh g_j = cosh 2K coth 2K - cos(pi j / n)`` (g_j > 0) for j != 0, and the
*signed* ``g_0 = 2K + ln tanh K = 2 (K - K*)``. The sign matters: g_0 < 0 above Tc, which makes
the fourth product negative there; taking |g_0| gives a wrong Z for T > Tc (a test checks this
against enumeration).

Derivatives of ln Z in K are analytic (no finite differences): each of the four products is
carried as (log scale, Z_i, Z_i', Z_i'') relative to that scale, so nothing overflows for large
L or low T and the vanishing factor ``sinh(m g_0 / 2)`` at T = Tc causes no 0 * inf; the
variance is formed from derivatives shifted by the dominant term's, not as <l'^2> - <l'>^2.
Measured against 40-digit mpmath (tests/exact/test_ising2d.py): ln Z and u to ~1e-14 and c to
~1e-13 relative for L <= 128, T in [1, 5]. The absolute error of c is ~1e-15 per site, so its
*relative* error grows where c itself is tiny (T < 0.3, c < 1e-13).

>>> round(ising_energy(TC_ISING), 12)
-1.414213562373
>>> round(float(ising_energy(2.0, L=4)), 6)
-1.75538
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError

__all__ = [
    "TC_ISING",
    "KC_ISING",
    "ising_log_partition",
    "ising_free_energy",
    "ising_energy",
    "ising_specific_heat",
    "ising_magnetization",
]

#: Critical coupling of the square-lattice Ising model, ``K_c = ln(1 + sqrt 2) / 2``.
KC_ISING = 0.5 * math.log1p(math.sqrt(2.0))
#: Critical temperature ``T_c = 2 / ln(1 + sqrt 2) = 2.269185314...`` (Onsager 1944).
TC_ISING = 1.0 / KC_ISING

# Largest number of (temperature, mode) pairs evaluated at once, to bound memory.
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- input checks
def _temperatures(T) -> tuple[np.ndarray, bool]:
    arr = np.asarray(T, dtype=float)
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        bad = arr[~(np.isfinite(arr) & (arr > 0))].ravel()[0]
        raise ParameterError(f"T must be finite and > 0, got {bad}")
    return arr, arr.ndim == 0


def _size(L) -> int:
    if isinstance(L, bool) or not isinstance(L, int | np.integer):
        raise ParameterError(f"L must be an integer >= 2 or None, got {L!r}")
    if L < 2:
        raise ParameterError(f"L must be >= 2, got {L}")
    return int(L)


def _out(x: np.ndarray, scalar: bool):
    return float(x) if scalar else x


# ----------------------------------------------------------------------------- stable pieces
def _log2cosh(x):
    """ln(2 cosh x) without overflow."""
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a))


def _log2sinh(x):
    """ln(2 sinh x) for x > 0 without overflow or loss near 0 (-inf at x = 0)."""
    with np.errstate(divide="ignore"):
        return x + np.log(-np.expm1(-2.0 * x))


def _sech2(x):
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _csch2(x):
    """1 / sinh(x)^2 for x > 0."""
    return 4.0 * np.exp(-2.0 * x) / np.expm1(-2.0 * x) ** 2


def _coth(x):
    """coth x for x > 0."""
    return -(1.0 + np.exp(-2.0 * x)) / np.expm1(-2.0 * x)


# ----------------------------------------------------------------------------- Kaufman
def _gammas(K: np.ndarray, n: int):
    """g_j, g_j', g_j'' (derivatives in K) for j = 0 .. 2n-1; K has shape (k, 1)."""
    j = np.arange(2 * n)
    s = np.sinh(2.0 * K)
    c = np.cosh(2.0 * K)
    # cosh g_j - 1 = (1 - s)^2 / s + 2 sin^2(pi j / 2n): written this way so that g_j stays
    # accurate when it is small (near Tc at large n), where arccosh(1 + tiny) loses digits.
    delta = (1.0 - s) ** 2 / s + 2.0 * np.sin(0.5 * np.pi * j / n) ** 2
    sh = np.sqrt(delta * (delta + 2.0))  # sinh g_j
    g = np.log1p(delta + sh)
    a1 = 2.0 * c * (1.0 - 1.0 / s**2)  # d(cosh g)/dK
    a2 = 8.0 * c**2 / s**3 + 4.0 * s - 4.0 / s  # d2(cosh g)/dK2
    with np.errstate(divide="ignore", invalid="ignore"):
        g1 = a1 / sh
        g2 = (a2 - (1.0 + delta) * g1**2) / sh
    # j = 0: the signed root g_0 = 2K + ln tanh K; ln tanh K = log1p(-2 e^{-2K} / (1 + e^{-2K}))
    # keeps its digits at large K, log(tanh K) at small K.
    K0 = K[:, 0]
    e2 = np.exp(-2.0 * K0)
    g[:, 0] = 2.0 * K0 + np.where(K0 < 0.5, np.log(np.tanh(K0)), np.log1p(-2.0 * e2 / (1.0 + e2)))
    g1[:, 0] = 2.0 + 2.0 / s[:, 0]
    g2[:, 0] = -4.0 * c[:, 0] / s[:, 0] ** 2
    return g, g1, g2


def _kaufman(K: np.ndarray, m: int, n: int):
    """ln Z and its first two K-derivatives on the m x n torus, for a 1D array of K > 0."""
    K = K[:, None]
    g, g1, g2 = _gammas(K, n)
    x, x1, x2 = 0.5 * m * g, 0.5 * m * g1, 0.5 * m * g2
    odd, even = slice(1, None, 2), slice(2, None, 2)  # j = 1, 3, ...; j = 2, 4, ... (no 0)

    def cosh_prod(sl):
        xs, d1, d2 = x[:, sl], x1[:, sl], x2[:, sl]
        t = np.tanh(xs)
        lam = _log2cosh(xs).sum(1)
        l1 = (t * d1).sum(1)
        l2 = (_sech2(xs) * d1**2 + t * d2).sum(1)
        return lam, l1, l2

    def sinh_prod(sl):  # every g_j > 0 here
        xs, d1, d2 = x[:, sl], x1[:, sl], x2[:, sl]
        ct = _coth(xs)
        lam = _log2sinh(xs).sum(1)
        l1 = (ct * d1).sum(1)
        l2 = (-_csch2(xs) * d1**2 + ct * d2).sum(1)
        return lam, l1, l2

    # Each term i is carried as (lambda_i, a_i, b_i, c_i): its log scale and Z_i, Z_i' - D Z_i,
    # Z_i'' - 2 D Z_i' + D^2 Z_i relative to e^lambda_i, where D is the first term's d ln Z_1/dK.
    # Shifting by D avoids computing Var = <l'^2> - <l'>^2 from two numbers of order N^2
    # (which loses ~1e-10 of c at low T and L = 128).
    lam1, l11, l12 = cosh_prod(odd)
    D = l11
    terms = [(lam1, np.ones_like(lam1), np.zeros_like(l11), l12)]
    lam2, l21, l22 = sinh_prod(odd)
    terms.append((lam2, np.ones_like(lam2), l21 - D, l22 + (l21 - D) ** 2))
    # Third term: prod_{j even > 0} 2 cosh(x_j) times the j = 0 factor 2 cosh(x_0).
    lam3, l31, l32 = cosh_prod(even)
    x0, x01, x02 = x[:, 0], x1[:, 0], x2[:, 0]
    c0 = _log2cosh(x0)
    t0 = np.tanh(x0)
    l31 = l31 + t0 * x01 - D
    l32 = l32 + _sech2(x0) * x01**2 + t0 * x02
    terms.append((lam3 + c0, np.ones_like(lam3), l31, l32 + l31**2))
    # Fourth term: prod_{j even > 0} 2 sinh(x_j) times the signed factor 2 sinh(x_0), written
    # relative to e^{lP} 2 cosh(x_0) so that x_0 -> 0 (T = Tc) stays finite.
    lP, lP1, lP2 = sinh_prod(even)
    dP = lP1 - D
    terms.append(
        (
            lP + c0,
            t0,
            t0 * dP + x01,
            t0 * (lP2 + dP**2 + x01**2) + 2.0 * x01 * dP + x02,
        )
    )
    lam = np.stack([t[0] for t in terms])
    lmax = lam.max(0)
    w = np.exp(lam - lmax)
    S = sum(wi * t[1] for wi, t in zip(w, terms, strict=True))
    S1 = sum(wi * t[2] for wi, t in zip(w, terms, strict=True)) / S
    S2 = sum(wi * t[3] for wi, t in zip(w, terms, strict=True)) / S - S1**2
    S1 = S1 + D
    K = K[:, 0]
    N = m * n
    pre = -math.log(2.0) + 0.5 * N * _log2sinh(2.0 * K)
    logz = pre + lmax + np.log(S)
    d1 = N * _coth(2.0 * K) + S1
    d2 = -2.0 * N * _csch2(2.0 * K) + S2
    return logz, d1, d2


def _kaufman_chunked(T: np.ndarray, m: int, n: int):
    K = 1.0 / T.ravel()
    out = [np.empty_like(K) for _ in range(3)]
    step = max(1, _CHUNK // (2 * n))
    for i in range(0, K.size, step):
        for o, r in zip(out, _kaufman(K[i : i + step], m, n), strict=True):
            o[i : i + step] = r
    return [o.reshape(T.shape) for o in out]


def ising_log_partition(T, L: int):
    """ln Z of the periodic L x L Ising model (2 L^2 bonds, J = 1, h = 0), Kaufman 1949.

    Vectorised over ``T``. Accurate for large L and low T (the four terms are combined in log
    space).

    >>> import numpy as np
    >>> round(float(ising_log_partition(1.0, L=2)), 10)  # ln(2 e^8 + 12 + 2 e^-8)
    8.6951580457
    >>> ising_log_partition(np.array([2.0, 3.0]), L=64).shape
    (2,)
    """
    arr, scalar = _temperatures(T)
    L = _size(L)
    logz, _, _ = _kaufman_chunked(arr, L, L)
    return _out(logz, scalar)


# ----------------------------------------------------------------------------- Onsager
def _onsager_logz(K: float) -> float:
    """ln Z / N on the infinite lattice (Onsager's single-integral form)."""
    from scipy import integrate  # lazy: keeps `import latticediff.exact` fast

    s = math.sinh(2.0 * K)
    kappa2 = 4.0 * s * s / (1.0 + s * s) ** 2

    def integrand(phi):
        return math.log(0.5 * (1.0 + math.sqrt(1.0 - kappa2 * math.sin(phi) ** 2)))

    val, _ = integrate.quad(integrand, 0.0, 0.5 * math.pi, epsabs=1e-14, epsrel=1e-13, limit=200)
    return float(_log2cosh(2.0 * K)) + val / math.pi


def _elliptic(K: np.ndarray):
    """s = sinh 2K, (2 tanh^2 2K - 1), K1(kappa) and E1(kappa) with kappa = 2s / (1 + s^2)."""
    from scipy import special  # lazy: keeps `import latticediff.exact` fast

    s = np.sinh(2.0 * K)
    r = (s * s - 1.0) / (s * s + 1.0)  # = 2 tanh^2 2K - 1; kappa'^2 = r^2
    with np.errstate(divide="ignore"):
        k1 = special.ellipkm1(r * r)  # K(m = kappa^2) accurate as kappa -> 1
    e1 = special.ellipe(1.0 - r * r)
    return s, r, k1, e1


def _onsager_energy(K):
    s, r, k1, _ = _elliptic(K)
    # r * K1 -> 0 logarithmically at Tc; define the product as 0 there (u(Tc) = -sqrt 2).
    rk = np.where(r == 0.0, 0.0, r * np.where(np.isfinite(k1), k1, 0.0))
    coth2k = np.sqrt(1.0 + s * s) / s
    return -coth2k * (1.0 + (2.0 / np.pi) * rk)


def _onsager_specific_heat(K):
    s, r, k1, e1 = _elliptic(K)
    coth2k = np.sqrt(1.0 + s * s) / s
    sech2 = 1.0 / (1.0 + s * s)  # 1 - tanh^2 2K
    rk = np.where(r == 0.0, 0.0, r * np.where(np.isfinite(k1), k1, 0.0))
    c = (4.0 / np.pi) * (K * coth2k) ** 2 * (k1 - e1 - sech2 * (0.5 * np.pi + rk))
    return np.where(np.isfinite(k1), c, np.inf)


# ----------------------------------------------------------------------------- public API
def ising_free_energy(T, L: int | None = None):
    """Free energy per site ``f = -T ln Z / N`` of the 2D Ising model (J = 1, h = 0).

    ``L=None``: Onsager's infinite lattice (numerical quadrature of his single integral,
    ~1e-13 accurate). ``L`` int: Kaufman's periodic L x L lattice. Vectorised over ``T``.

    >>> round(ising_free_energy(TC_ISING), 10)
    -2.1096511446
    """
    arr, scalar = _temperatures(T)
    if L is None:
        K = 1.0 / arr.ravel()
        f = np.array([-_onsager_logz(k) / k for k in K]).reshape(arr.shape)
    else:
        L = _size(L)
        logz, _, _ = _kaufman_chunked(arr, L, L)
        f = -arr * logz / (L * L)
    return _out(f, scalar)


def ising_energy(T, L: int | None = None):
    """Internal energy per site ``u = <E> / N`` of the 2D Ising model (J = 1, h = 0).

    ``L=None``: Onsager, ``u = -coth 2K [1 + (2/pi)(2 tanh^2 2K - 1) K1(kappa)]`` with
    ``kappa = 2 sinh 2K / cosh^2 2K``; ``u(Tc) = -sqrt 2``. ``L`` int: ``-d ln Z / d beta / N``
    of Kaufman's periodic L x L partition function, by analytic differentiation.
    Vectorised over ``T``; a scalar ``T`` gives a float.

    >>> round(ising_energy(2.0), 6)
    -1.745565
    >>> ising_energy([2.0, 3.0], L=16).round(4).tolist()
    [-1.7455, -0.8177]
    """
    arr, scalar = _temperatures(T)
    if L is None:
        u = _onsager_energy(1.0 / arr)
    else:
        L = _size(L)
        _, d1, _ = _kaufman_chunked(arr, L, L)
        u = -d1 / (L * L)
    return _out(np.asarray(u, dtype=float), scalar)


def ising_specific_heat(T, L: int | None = None):
    """Specific heat per site ``c = beta^2 Var(E) / N`` of the 2D Ising model (J = 1, h = 0).

    ``L=None``: Onsager's closed form
    ``c = (4/pi) (K coth 2K)^2 {K1 - E1 - sech^2 2K [pi/2 + (2 tanh^2 2K - 1) K1]}`` with
    complete elliptic integrals of modulus ``kappa = 2 sinh 2K / cosh^2 2K``
    (``c ~ -(8/pi) K_c^2 ln|1 - T/Tc|`` near Tc; ``inf`` only where kappa rounds to 1).
    ``L`` int: ``beta^2 d^2 ln Z / d beta^2 / N`` of Kaufman's periodic lattice (finite
    everywhere; Ferdinand & Fisher 1969 give its ``(8/pi) K_c^2 ln L`` growth at Tc).
    Vectorised over ``T``.

    >>> round(ising_specific_heat(3.0), 6)
    0.40138
    >>> round(ising_specific_heat(TC_ISING, L=32), 4)
    1.8468
    """
    arr, scalar = _temperatures(T)
    if L is None:
        c = _onsager_specific_heat(1.0 / arr)
    else:
        L = _size(L)
        _, _, d2 = _kaufman_chunked(arr, L, L)
        c = d2 / (arr * arr * L * L)
    return _out(np.asarray(c, dtype=float), scalar)


def ising_magnetization(T):
    """Yang's spontaneous magnetization per site of the infinite lattice.

    ``m = (1 - sinh(2/T)^-4)^(1/8)`` for ``T < Tc`` and 0 for ``T >= Tc`` (Yang 1952).
    Vectorised over ``T``.

    >>> round(ising_magnetization(2.0), 6)
    0.911319
    >>> ising_magnetization(3.0)
    0.0
    """
    arr, scalar = _temperatures(T)
    s = np.sinh(2.0 / arr)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(arr < TC_ISING, np.clip(1.0 - s**-4.0, 0.0, None) ** 0.125, 0.0)
    return _out(np.asarray(m, dtype=float), scalar)
