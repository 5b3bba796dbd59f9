"""Finite-size scaling: crossings, peaks, size drift and data collapse, each with error bars.

The tools that turn curves measured at several system sizes into a located transition:

* :func:`find_crossing` / :func:`crossings` -- where two curves on a common grid cross (Binder
  cumulants, CMI curves against t), by a local polynomial fit to their difference;
* :func:`peak_location` -- the position and height of a maximum (specific heat, CMI against t);
* :func:`fit_log_drift` -- does a characteristic point ``t*(L)`` drift like ``a + b ln L``
  (no transition at finite t) or approach a finite ``t_c`` like ``t_c + c L^(-1/nu)``?
* :func:`collapse_fit` -- the collapse ``I = s^(-alpha) Phi((x - x_c) s^(1/nu))`` with a jointly
  fitted polynomial master curve, bootstrap errors and a stated fit window;
* :func:`binder_cumulant` -- ``U = 1 - <|m|^4> / (3 <|m|^2>^2)`` from Monte Carlo series with a
  blocked-jackknife error.

**Errors.** Every input value carries a standard error; points are assumed independent (as for
separate Monte Carlo runs at each grid point). Every estimate is given two ways where both make
sense: linear error propagation through the fit (``stderr_prop``) and a *parametric bootstrap*
(every input redrawn from a Gaussian with its error, the whole procedure -- bracket or window
choice included -- repeated; ``stderr_boot`` is half the width of the central 68 % interval,
which is robust to the heavy tails a ratio of noisy slopes can have). ``stderr`` is the
bootstrap value when a bootstrap was run, else the propagated one.

Only NumPy and SciPy are used.

>>> import numpy as np
>>> x = np.linspace(0.0, 1.0, 11)
>>> c = find_crossing(x, 2 * x, np.full(11, 0.01), 1 - x, np.full(11, 0.01), seed=1)
>>> round(c.value, 4), [round(b, 2) for b in c.bracket]
(0.3333, [0.3, 0.4])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ParameterError

__all__ = [
    "Crossing",
    "Peak",
    "DriftFit",
    "CollapseFit",
    "find_crossing",
    "crossings",
    "peak_location",
    "fit_log_drift",
    "collapse_fit",
    "binder_cumulant",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _clean(v):
    """JSON-able value: NaN -> None, +-inf -> "inf"/"-inf", tuples -> lists, numpy -> Python."""
    if isinstance(v, dict):
        return {str(k): _clean(w) for k, w in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(w) for w in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


class _ToDict:
    def to_dict(self) -> dict:
        """JSON-able dict (NaN becomes None, infinities the strings "inf" / "-inf")."""
        return _clean(asdict(self))


def _vec(name: str, v, n: int | None = None, *, nonneg: bool = False) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim != 1:
        raise ParameterError(f"{name} must be a 1-D sequence, got shape {a.shape}")
    if n is not None and a.size != n:
        raise ParameterError(f"{name} must have length {n} (like x), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} must be finite, got {a[~np.isfinite(a)][:3].tolist()}")
    if nonneg and np.any(a < 0):
        raise ParameterError(f"{name} must be >= 0, got {a[a < 0][:3].tolist()}")
    return a


def _check_int(name: str, v, lo: int, hi: int | None = None) -> int:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | np.integer)
        or v < lo
        or (hi is not None and v > hi)
    ):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(f"{name} must be an integer {rng}, got {v!r}")
    return int(v)


def _increasing(x: np.ndarray, name: str = "x") -> None:
    if x.size < 2 or np.any(np.diff(x) <= 0):
        raise ParameterError(f"{name} must be strictly increasing with >= 2 points, got {x}")


def _wlsq(X: np.ndarray, y: np.ndarray, s: np.ndarray):
    """Least squares with errors ``s``: coefficients, their covariance and chi2.

    All ``s > 0``: weighted fit, covariance ``(A^T A)^-1`` (unscaled). Otherwise (some or all
    errors exactly 0) an unweighted fit whose covariance propagates the given errors through
    the sandwich ``(X^T X)^-1 X^T diag(s^2) X (X^T X)^-1`` (zero for exact data); chi2 is then
    the plain residual sum of squares.
    """
    if np.all(s > 0):
        A, b = X / s[:, None], y / s
        coef, *_ = np.linalg.lstsq(A, b, rcond=None)
        try:
            cov = np.linalg.inv(A.T @ A)
        except np.linalg.LinAlgError:
            cov = np.full((X.shape[1], X.shape[1]), np.nan)
        return coef, cov, float(np.sum((b - A @ coef) ** 2))
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    try:
        P = np.linalg.pinv(X)  # (X^T X)^-1 X^T
        cov = (P * s**2) @ P.T
    except np.linalg.LinAlgError:
        cov = np.full((X.shape[1], X.shape[1]), np.nan)
    return coef, cov, float(np.sum((y - X @ coef) ** 2))


def _window(k: int, n_points: int, n: int, centre_pair: bool) -> tuple[int, int]:
    """Index range [lo, hi) of ``n_points`` grid points centred on point k (or pair k, k+1)."""
    lo = k + 1 - n_points // 2 if centre_pair else k - (n_points - 1) // 2
    lo = min(max(lo, 0), n - n_points)
    return lo, lo + n_points


def _robust_sd(v: np.ndarray) -> float:
    """Half the width of the central 68.27 % interval (= sigma for a Gaussian)."""
    if v.size < 3:
        return math.nan
    q16, q84 = np.percentile(v, [15.865, 84.135])
    return float((q84 - q16) / 2)


def _interval(v: np.ndarray) -> tuple[float, float]:
    if v.size < 3:
        return (math.nan, math.nan)
    q16, q84 = np.percentile(v, [15.865, 84.135])
    return (float(q16), float(q84))


# --------------------------------------------------------------------------------------------
# crossings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crossing(_ToDict):
    """Where two measured curves cross: ``value`` ± ``stderr`` and the curves' common ``height``.

    ``bracket`` is the pair of adjacent grid points between which ``y1 - y2`` changes sign (the
    middle one when there are several, ``n_sign_changes`` says how many); ``window`` the grid
    points of the local fit. ``status`` is ``"ok"``, or says why the result is doubtful
    (several sign changes, many failed bootstrap replicas) or missing (no sign change: then
    ``value`` is NaN).

    >>> Crossing(value=2.27, stderr=0.01, bracket=(2.26, 2.28)).value
    2.27
    """

    value: float
    stderr: float
    bracket: tuple
    height: float = math.nan
    height_stderr: float = math.nan
    stderr_prop: float = math.nan
    stderr_boot: float = math.nan
    interval: tuple = (math.nan, math.nan)
    window: tuple = ()
    degree: int = 1
    n_sign_changes: int = 0
    n_boot: int = 0
    n_boot_failed: int = 0
    status: str = "ok"


def _crossing_core(x, y1, e1, y2, e2, degree, n_points):
    """One crossing estimate (no bootstrap): dict or a string saying why there is none."""
    d = y1 - y2
    ed = np.sqrt(e1**2 + e2**2)
    pos = d > 0
    changes = np.flatnonzero(pos[:-1] != pos[1:])
    if changes.size == 0:
        return "no sign change of y1 - y2 on the grid"
    k = int(changes[(changes.size - 1) // 2])  # the middle sign change
    lo, hi = _window(k, n_points, x.size, centre_pair=True)
    xm, h = 0.5 * (x[k] + x[k + 1]), x[k + 1] - x[k]
    u = (x[lo:hi] - xm) / h  # centred and scaled: well-conditioned Vandermonde
    X = np.vander(u, degree + 1, increasing=True)
    coef, cov, _ = _wlsq(X, d[lo:hi], ed[lo:hi])
    if np.all(coef[1:] == 0):
        return "y1 - y2 is locally constant"
    roots = np.roots(np.trim_zeros(coef[::-1], "f"))
    roots = np.real(roots[np.abs(np.imag(roots)) < 1e-12])
    roots = roots[(roots >= u[0] - 1e-12) & (roots <= u[-1] + 1e-12)]
    if roots.size == 0:
        return "the local fit of y1 - y2 has no zero inside its window"
    r0 = float(roots[np.argmin(np.abs(roots))])
    # implicit function theorem: P(r0; c) = 0  =>  d r0 / d c_j = -r0^j / P'(r0)
    dP = sum(j * coef[j] * r0 ** (j - 1) for j in range(1, degree + 1))
    if dP == 0:
        return "the curves touch without crossing (zero slope of y1 - y2)"
    g = -np.array([r0**j for j in range(degree + 1)]) / dP
    var = float(g @ cov @ g) * h * h
    # the curves' common value at the crossing: mean of the two local fits there
    powers = np.array([r0**j for j in range(degree + 1)])
    heights = []
    for y, e in ((y1, e1), (y2, e2)):
        c, _, _ = _wlsq(X, y[lo:hi], e[lo:hi])
        heights.append(float(powers @ c))
    return {
        "value": xm + h * r0,
        "var": var,
        "height": 0.5 * (heights[0] + heights[1]),
        "bracket": (float(x[k]), float(x[k + 1])),
        "window": tuple(float(v) for v in x[lo:hi]),
        "n_sign_changes": int(changes.size),
    }


def find_crossing(
    x,
    y1,
    e1,
    y2,
    e2,
    *,
    degree: int = 1,
    n_points: int | None = None,
    n_boot: int = 500,
    seed=0,
) -> Crossing:
    """Crossing point of two curves measured on a common grid ``x``, with error bars.

    **Rule.** Find the adjacent grid points where ``d = y1 - y2`` changes sign (the middle such
    pair if there are several); fit a polynomial of ``degree`` (1 linear, 2 quadratic) to ``d``
    by weighted least squares (weights ``1 / sqrt(e1^2 + e2^2)``) on ``n_points`` grid points
    centred on that pair (default ``degree + 1``: interpolation through the bracket for
    ``degree=1``); the crossing is the zero of the fit closest to the bracket's midpoint inside
    the window. ``height`` is the mean of the two curves' own local fits at the crossing (e.g.
    the Binder cumulant's universal value U*).

    **Errors.** ``stderr_prop`` from the fit covariance by the implicit-function theorem;
    ``stderr_boot`` from ``n_boot`` parametric-bootstrap replicas (each y redrawn from
    N(y, e), the bracket found anew); ``stderr`` is the bootstrap one when ``n_boot > 0``.
    The two curves' errors are treated as independent. ``height_stderr`` is bootstrap-only.
    Linear interpolation carries a curvature bias of order ``h^2 d''``; use ``degree=2`` with
    ``n_points=4`` when the grid is coarse.

    >>> import numpy as np
    >>> x = np.linspace(2.2, 2.34, 8)
    >>> U16 = 0.61 - 1.5 * (x - 2.269)
    >>> U32 = 0.61 - 3.0 * (x - 2.269)
    >>> c = find_crossing(x, U16, np.full(8, 2e-3), U32, np.full(8, 2e-3), seed=0)
    >>> round(c.value, 4), round(c.height, 4), c.status
    (2.269, 0.61, 'ok')
    >>> round(c.stderr_prop, 4), round(c.stderr_boot, 4)
    (0.0013, 0.0014)
    """
    x = _vec("x", x)
    n = x.size
    y1, y2 = _vec("y1", y1, n), _vec("y2", y2, n)
    e1, e2 = _vec("e1", e1, n, nonneg=True), _vec("e2", e2, n, nonneg=True)
    _increasing(x)
    degree = _check_int("degree", degree, 1, 3)
    n_points = degree + 1 if n_points is None else _check_int("n_points", n_points, degree + 1)
    if n_points > n:
        raise ParameterError(f"n_points must be <= the number of grid points {n}, got {n_points}")
    n_boot = _check_int("n_boot", n_boot, 0)

    core = _crossing_core(x, y1, e1, y2, e2, degree, n_points)
    if isinstance(core, str):
        return Crossing(
            value=math.nan,
            stderr=math.nan,
            bracket=(math.nan, math.nan),
            degree=degree,
            status=core,
        )
    sp = math.sqrt(core["var"]) if core["var"] >= 0 else math.nan
    vals, hts, failed = [], [], 0
    if n_boot > 0 and (np.any(e1 > 0) or np.any(e2 > 0)):
        rng = np.random.default_rng(seed)
        for _ in range(n_boot):
            b = _crossing_core(
                x,
                y1 + e1 * rng.standard_normal(n),
                e1,
                y2 + e2 * rng.standard_normal(n),
                e2,
                degree,
                n_points,
            )
            if isinstance(b, str):
                failed += 1
            else:
                vals.append(b["value"])
                hts.append(b["height"])
    vals, hts = np.array(vals), np.array(hts)
    sb = _robust_sd(vals) if n_boot > 0 else math.nan
    status = "ok"
    if core["n_sign_changes"] > 1:
        status = f"ambiguous: {core['n_sign_changes']} sign changes of y1 - y2; used the middle one"
    if n_boot > 0 and failed > 0.1 * n_boot:
        status = f"doubtful: {failed} of {n_boot} bootstrap replicas found no crossing"
    return Crossing(
        value=float(core["value"]),
        stderr=sb if n_boot > 0 and math.isfinite(sb) else sp,
        bracket=core["bracket"],
        height=core["height"],
        height_stderr=_robust_sd(hts) if n_boot > 0 else math.nan,
        stderr_prop=sp,
        stderr_boot=sb,
        interval=_interval(vals),
        window=core["window"],
        degree=degree,
        n_sign_changes=core["n_sign_changes"],
        n_boot=n_boot,
        n_boot_failed=failed,
        status=status,
    )


def crossings(x, curves: dict, **kwargs) -> dict:
    """Crossings of consecutive sizes: ``{(L1, L2): Crossing}`` for sorted ``L1 < L2``.

    ``curves`` maps a size to ``(y, e)`` on the common grid ``x``; ``kwargs`` go to
    :func:`find_crossing` (each pair gets its own bootstrap stream spawned from ``seed``, an
    int or a ``numpy.random.SeedSequence``).

    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 9)
    >>> curves = {L: (0.6 - L * x / 8, np.full(9, 1e-3)) for L in (8, 16, 32)}
    >>> {k: round(c.value, 6) for k, c in crossings(x, curves, n_boot=0).items()}
    {(8, 16): 0.0, (16, 32): 0.0}
    """
    if not isinstance(curves, dict) or len(curves) < 2:
        raise ParameterError(f"curves must be a dict of >= 2 sizes -> (y, e), got {curves!r}")
    sizes = sorted(curves)
    seed = kwargs.pop("seed", 0)
    base = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    streams = base.spawn(len(sizes) - 1)
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        (ya, ea), (yb, eb) = curves[a], curves[b]
        out[(a, b)] = find_crossing(x, ya, ea, yb, eb, seed=streams[i], **kwargs)
    return out


# --------------------------------------------------------------------------------------------
# peaks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peak(_ToDict):
    """Position ``value`` ± ``stderr`` and ``height`` of a maximum; ``window`` is the fit range.

    >>> Peak(value=2.29, stderr=0.003, height=1.9).height
    1.9
    """

    value: float
    stderr: float
    height: float = math.nan
    height_stderr: float = math.nan
    stderr_prop: float = math.nan
    stderr_boot: float = math.nan
    interval: tuple = (math.nan, math.nan)
    window: tuple = ()
    n_boot: int = 0
    n_boot_failed: int = 0
    status: str = "ok"


def _peak_core(x, y, e, n_points):
    k = int(np.argmax(y))
    if k == 0 or k == x.size - 1:
        return "the maximum is at the edge of the grid"
    tried = set()
    for _ in range(5):
        lo, hi = _window(k, n_points, x.size, centre_pair=False)
        tried.add(lo)
        xm, h = x[k], 0.5 * (x[min(k + 1, x.size - 1)] - x[max(k - 1, 0)])
        u = (x[lo:hi] - xm) / h
        X = np.vander(u, 3, increasing=True)
        coef, cov, _ = _wlsq(X, y[lo:hi], e[lo:hi])
        c0, c1, c2 = coef
        if c2 >= 0:
            return "the local quadratic fit has no maximum (curvature >= 0)"
        v = -c1 / (2 * c2)
        if u[0] <= v <= u[-1]:
            g = np.array([0.0, -1 / (2 * c2), c1 / (2 * c2 * c2)])
            return {
                "value": xm + h * v,
                "var": float(g @ cov @ g) * h * h,
                "height": c0 - c1 * c1 / (4 * c2),
                "window": tuple(float(t) for t in x[lo:hi]),
            }
        # a flat, noisy top: the largest point need not be nearest the vertex; re-centre
        k = int(np.argmin(np.abs(x - (xm + h * v))))
        if k == 0 or k == x.size - 1 or _window(k, n_points, x.size, False)[0] in tried:
            break
    return "the vertex of the local quadratic lies outside its window"


def peak_location(x, y, e, *, n_points: int = 3, n_boot: int = 500, seed=0) -> Peak:
    """Position and height of the maximum of a measured curve, with error bars.

    **Rule.** Take the largest measured value (it must not be at either end of the grid); fit
    a parabola by weighted least squares to ``n_points`` (odd, >= 3) grid points centred on it;
    the peak is its vertex. If the vertex falls outside the window (a flat, noisy top), the
    window is re-centred on the grid point nearest the vertex and the fit repeated (at most 5
    times, never revisiting a window); if that does not settle, no peak is reported.
    ``stderr_prop`` comes from the fit covariance, ``stderr_boot`` from ``n_boot``
    parametric-bootstrap replicas (the maximum found anew in each); ``stderr`` is the bootstrap
    value when ``n_boot > 0``.

    >>> import numpy as np
    >>> x = np.linspace(2.2, 2.4, 11)
    >>> y = 2.0 - 40 * (x - 2.294) ** 2
    >>> p = peak_location(x, y, np.full(11, 0.01), seed=0)
    >>> round(p.value, 4), round(p.height, 4), [round(w, 2) for w in p.window]
    (2.294, 2.0, [2.28, 2.3, 2.32])
    """
    x = _vec("x", x)
    n = x.size
    y, e = _vec("y", y, n), _vec("e", e, n, nonneg=True)
    _increasing(x)
    n_points = _check_int("n_points", n_points, 3, n)
    if n_points % 2 == 0:
        raise ParameterError(f"n_points must be odd (centred on the maximum), got {n_points}")
    n_boot = _check_int("n_boot", n_boot, 0)
    core = _peak_core(x, y, e, n_points)
    if isinstance(core, str):
        return Peak(value=math.nan, stderr=math.nan, status=core)
    sp = math.sqrt(core["var"]) if core["var"] >= 0 else math.nan
    vals, hts, failed = [], [], 0
    if n_boot > 0 and np.any(e > 0):
        rng = np.random.default_rng(seed)
        for _ in range(n_boot):
            b = _peak_core(x, y + e * rng.standard_normal(n), e, n_points)
            if isinstance(b, str):
                failed += 1
            else:
                vals.append(b["value"])
                hts.append(b["height"])
    vals, hts = np.array(vals), np.array(hts)
    sb = _robust_sd(vals) if n_boot > 0 else math.nan
    status = "ok"
    if n_boot > 0 and failed > 0.1 * n_boot:
        status = f"doubtful: {failed} of {n_boot} bootstrap replicas found no interior peak"
    return Peak(
        value=float(core["value"]),
        stderr=sb if n_boot > 0 and math.isfinite(sb) else sp,
        height=float(core["height"]),
        height_stderr=_robust_sd(hts) if n_boot > 0 else math.nan,
        stderr_prop=sp,
        stderr_boot=sb,
        interval=_interval(vals),
        window=core["window"],
        n_boot=n_boot,
        n_boot_failed=failed,
        status=status,
    )


# --------------------------------------------------------------------------------------------
# drift of t*(L): ln L against a power-law approach to a finite t_c
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftFit(_ToDict):
    """Two fits of a size-dependent point ``t*(L)`` and which one the data prefer.

    ``log``: ``t* = a + b ln L``. ``power``: ``t* = t_c + c L^(-1/nu)`` (``nu`` fitted unless it
    was given, ``nu_fixed``). ``aic_*`` = chi2 + 2 (number of parameters); ``delta_aic`` =
    ``aic_power - aic_log`` (> 0 favours the ln L drift). ``preferred`` is ``"log"``,
    ``"power"`` or ``"undecided"`` (|delta_aic| <= 2); ``note`` explains edge cases.

    >>> DriftFit(sizes=(8, 16), a=0.1, b=0.2).b
    0.2
    """

    sizes: tuple
    a: float = math.nan
    a_stderr: float = math.nan
    b: float = math.nan
    b_stderr: float = math.nan
    chi2_log: float = math.nan
    dof_log: int = 0
    p_log: float = math.nan
    t_c: float = math.nan
    t_c_stderr: float = math.nan
    c: float = math.nan
    c_stderr: float = math.nan
    nu: float = math.nan
    nu_stderr: float = math.nan
    nu_fixed: bool = False
    chi2_power: float = math.nan
    dof_power: int = 0
    p_power: float = math.nan
    aic_log: float = math.nan
    aic_power: float = math.nan
    delta_aic: float = math.nan
    preferred: str = "undecided"
    note: str = ""

    def predict_log(self, L):
        """``a + b ln L``."""
        return self.a + self.b * np.log(np.asarray(L, dtype=float))

    def predict_power(self, L):
        """``t_c + c L^(-1/nu)``."""
        return self.t_c + self.c * np.asarray(L, dtype=float) ** (-1.0 / self.nu)


def _chi2_sf(chi2: float, dof: int) -> float:
    if dof <= 0:
        return math.nan
    from scipy.stats import chi2 as _c2

    return float(_c2.sf(chi2, dof))


def fit_log_drift(L, t_star, e, *, nu=None, nu_bounds=(0.05, 20.0)) -> DriftFit:
    """Fit ``t*(L) = a + b ln L`` and ``t*(L) = t_c + c L^(-1/nu)``; say which the data prefer.

    A transition at a finite ``t_c`` shows up as a power-law approach with finite ``t_c`` and
    ``nu``; a crossover that moves for ever (e.g. a speciation time ``~ ln L``) as a good
    ``ln L`` fit, with a free-``nu`` power law running to large ``nu`` (``L^(-1/nu) ~ 1 - ln L /
    nu``: the power law then only mimics the logarithm, with ``t_c`` and ``c`` diverging).

    Both fits are weighted least squares with the given errors ``e`` (> 0). ``nu`` fixes the
    exponent (both models then have two parameters and chi2 decides directly); otherwise it is
    fitted within ``nu_bounds``. Parameter errors are from the unscaled covariance (check
    ``p_log`` / ``p_power`` for the goodness of fit). The model choice uses Akaike's criterion
    ``AIC = chi2 + 2 k``; ``|delta AIC| <= 2`` is ``"undecided"``. Needs >= 3 sizes (>= 4 for a
    free ``nu`` with a degree of freedom left).

    >>> import numpy as np
    >>> L = np.array([8, 16, 32, 64, 128])
    >>> f = fit_log_drift(L, 0.3 + 0.1 * np.log(L), np.full(5, 0.002))
    >>> f.preferred, round(f.b, 4)
    ('log', 0.1)
    >>> g = fit_log_drift(L, 1.0 - 2.0 / L, np.full(5, 0.002))
    >>> g.preferred, round(g.t_c, 4), round(g.nu, 3)
    ('power', 1.0, 1.0)
    """
    Lv = _vec("L", L)
    n = Lv.size
    if n < 3:
        raise ParameterError(f"fit_log_drift needs >= 3 sizes, got {n}")
    if np.any(Lv <= 0):
        raise ParameterError(f"L must be > 0, got {Lv.tolist()}")
    t = _vec("t_star", t_star, n)
    e = _vec("e", e, n)
    if np.any(e <= 0):
        raise ParameterError(f"e must be > 0 (standard errors), got {e.tolist()}")
    lo_nu, hi_nu = (float(v) for v in nu_bounds)
    if not 0 < lo_nu < hi_nu:
        raise ParameterError(f"nu_bounds must satisfy 0 < lo < hi, got {nu_bounds!r}")
    lnL = np.log(Lv)
    coef, cov, chi2_log = _wlsq(np.column_stack([np.ones(n), lnL]), t, e)
    dof_log = n - 2
    notes = []
    if nu is not None:
        nu = float(nu)
        if not nu > 0:
            raise ParameterError(f"nu must be > 0, got {nu}")
        pc, pcov, chi2_pow = _wlsq(np.column_stack([np.ones(n), Lv ** (-1 / nu)]), t, e)
        t_c, c = pc
        t_c_se, c_se = np.sqrt(np.diag(pcov))
        nu_se, k_pow = 0.0, 2
    else:
        from scipy.optimize import least_squares

        def resid(th):
            return (th[0] + th[1] * Lv ** (-1 / math.exp(th[2])) - t) / e

        best = None
        for nu0 in (0.5, 1.0, 2.0, 5.0):
            nu0 = min(max(nu0, lo_nu * 1.01), hi_nu / 1.01)
            X = np.column_stack([np.ones(n), Lv ** (-1 / nu0)])
            p0, _, _ = _wlsq(X, t, e)
            res = least_squares(
                resid,
                x0=[p0[0], p0[1], math.log(nu0)],
                bounds=([-np.inf, -np.inf, math.log(lo_nu)], [np.inf, np.inf, math.log(hi_nu)]),
                x_scale="jac",
            )
            if best is None or res.cost < best.cost:
                best = res
        t_c, c, lnu = best.x
        nu = math.exp(lnu)
        chi2_pow = 2 * float(best.cost)
        J = best.jac
        try:
            pcov = np.linalg.inv(J.T @ J)
            t_c_se, c_se, lnu_se = np.sqrt(np.clip(np.diag(pcov), 0, None))
        except np.linalg.LinAlgError:
            t_c_se = c_se = lnu_se = math.nan
        nu_se = nu * lnu_se
        k_pow = 3
        if lnu > math.log(hi_nu) - 1e-3:
            notes.append(
                f"free-nu power law runs to the bound nu = {hi_nu:g}: it only mimics a ln L drift"
            )
        elif lnu < math.log(lo_nu) + 1e-3:
            notes.append(f"free-nu power law at the lower bound nu = {lo_nu:g}")
    dof_pow = n - k_pow
    aic_log, aic_pow = chi2_log + 4.0, chi2_pow + 2.0 * k_pow
    delta = aic_pow - aic_log
    preferred = "log" if delta > 2 else "power" if delta < -2 else "undecided"
    if dof_pow <= 0:
        notes.append("the power-law fit has no degree of freedom left: use more sizes or fix nu")
    return DriftFit(
        sizes=tuple(float(v) for v in Lv),
        a=float(coef[0]),
        a_stderr=float(math.sqrt(cov[0, 0])),
        b=float(coef[1]),
        b_stderr=float(math.sqrt(cov[1, 1])),
        chi2_log=float(chi2_log),
        dof_log=dof_log,
        p_log=_chi2_sf(chi2_log, dof_log),
        t_c=float(t_c),
        t_c_stderr=float(t_c_se),
        c=float(c),
        c_stderr=float(c_se),
        nu=float(nu),
        nu_stderr=float(nu_se),
        nu_fixed=k_pow == 2,
        chi2_power=float(chi2_pow),
        dof_power=dof_pow,
        p_power=_chi2_sf(chi2_pow, dof_pow),
        aic_log=float(aic_log),
        aic_power=float(aic_pow),
        delta_aic=float(delta),
        preferred=preferred,
        note="; ".join(notes),
    )


# --------------------------------------------------------------------------------------------
# data collapse
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollapseFit(_ToDict):
    """Result of :func:`collapse_fit`: ``y = s^(-alpha) Phi((x - x_c) s^(1/nu))``.

    ``coef`` are the master curve's polynomial coefficients in ``z / z_scale`` (lowest degree
    first); ``form="log"`` means ``log Phi`` is the polynomial. ``used`` lists the indices of the
    input points inside the final fit window, ``rule`` states the window. ``*_stderr`` come from
    the parametric bootstrap (half the width of the replicas' central 68 % range, which a few
    runaway refits cannot inflate; ``intervals`` holds the ranges themselves). When
    ``chi2 / dof`` is well above 1 the master curve does not describe the data within their
    errors (corrections to scaling, too low a degree, too wide a window), and the bootstrap
    errors are then too small.

    >>> CollapseFit(x_c=0.1, nu=1.0, alpha=0.0).nu
    1.0
    """

    x_c: float
    nu: float
    alpha: float
    x_c_stderr: float = math.nan
    nu_stderr: float = math.nan
    alpha_stderr: float = math.nan
    chi2: float = math.nan
    dof: int = 0
    n_points: int = 0
    window: float | None = None
    rule: str = ""
    used: tuple = ()
    degree: int = 3
    form: str = "linear"
    coef: tuple = ()
    z_scale: float = 1.0
    fitted: tuple = ("x_c", "nu", "alpha")
    intervals: dict = field(default_factory=dict)
    n_boot: int = 0
    n_boot_failed: int = 0
    status: str = "ok"

    @property
    def chi2_dof(self) -> float:
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    def scaled(self, x, y, size):
        """``(z, s^alpha y)`` with ``z = (x - x_c) s^(1/nu)``: the axes of a collapse plot."""
        x, y, s = (np.asarray(v, dtype=float) for v in (x, y, size))
        return (x - self.x_c) * s ** (1 / self.nu), y * s**self.alpha

    def master(self, z):
        """The fitted master curve ``Phi(z)``."""
        p = np.polynomial.polynomial.polyval(np.asarray(z, float) / self.z_scale, self.coef)
        return np.exp(p) if self.form == "log" else p


def _solve(X: np.ndarray, Y: np.ndarray, sY: np.ndarray) -> np.ndarray:
    """Weighted linear least squares by the normal equations (X is a scaled Vandermonde)."""
    A = X / sY[:, None]
    b = Y / sY
    try:
        return np.linalg.solve(A.T @ A, A.T @ b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, b, rcond=None)[0]


def _collapse_eval(theta, free, fixed, x, y, e, s, degree, form, sel):
    """Residuals of the inner (linear) master-curve fit at the outer parameters."""
    par = dict(fixed)
    par.update(zip(free, theta, strict=True))
    nu = math.exp(par["log_nu"])
    z = (x[sel] - par["x_c"]) * s[sel] ** (1 / nu)
    if form == "log":
        Y = np.log(y[sel]) + par["alpha"] * np.log(s[sel])
        sY = e[sel] / y[sel]
    else:
        Y = y[sel] * s[sel] ** par["alpha"]
        sY = e[sel] * s[sel] ** par["alpha"]
    zs = float(np.max(np.abs(z))) or 1.0
    X = np.vander(z / zs, degree + 1, increasing=True)
    coef = _solve(X, Y, sY)
    return (Y - X @ coef) / sY, coef, zs


_MAX_ROUNDS = 10


def _collapse_once(
    start,
    free,
    fixed,
    x,
    y,
    e,
    s,
    degree,
    form,
    window,
    bounds,
    min_pts,
    rounds=_MAX_ROUNDS,
    sel0=None,
):
    """Fit with the window re-selected at the fitted parameters until it stops changing.

    If the selection cycles (a point hops in and out as the parameters move), the fit with the
    lowest chi2 / dof among the selections of the cycle is kept.
    """
    from scipy.optimize import least_squares

    par = dict(fixed)
    par.update(zip(free, start, strict=True))
    theta = np.array([par[k] for k in free], float)
    ok = np.ones(x.size, bool) if form == "linear" else y > 0

    def select(th):
        p = dict(fixed)
        p.update(zip(free, th, strict=True))
        if window is None:
            return ok.copy()
        z = (x - p["x_c"]) * s ** (1 / math.exp(p["log_nu"]))
        return ok & (np.abs(z) <= window)

    sel = select(theta) if sel0 is None else sel0 & ok
    history = []  # (selection, fit result)
    for _ in range(rounds):
        if sel.sum() < min_pts:
            return None
        res = least_squares(
            lambda th, sel=sel: _collapse_eval(th, free, fixed, x, y, e, s, degree, form, sel)[0],
            x0=np.clip(theta, bounds[0] + 1e-9, bounds[1] - 1e-9),
            bounds=bounds,
            x_scale="jac",
        )
        theta = res.x
        r, coef, zs = _collapse_eval(theta, free, fixed, x, y, e, s, degree, form, sel)
        dof = int(sel.sum()) - (degree + 1) - len(free)
        history.append(
            (
                sel,
                {
                    "theta": theta,
                    "chi2": float(r @ r),
                    "dof": dof,
                    "sel": sel,
                    "coef": coef,
                    "zs": zs,
                },
            )
        )
        new = select(theta)
        if np.array_equal(new, sel):
            out = history[-1][1]
            out["converged"] = True
            return out
        seen = [i for i, (h, _) in enumerate(history) if np.array_equal(h, new)]
        if seen:  # a cycle: keep its best member
            cyc = [f for _, f in history[seen[0] :]]
            out = min(cyc, key=lambda f: f["chi2"] / f["dof"] if f["dof"] > 0 else np.inf)
            out["converged"] = "cycle"
            return out
        sel = new
    out = history[-1][1]
    out["converged"] = False
    return out


def collapse_fit(
    x,
    y,
    e,
    size,
    *,
    x_c0: float,
    nu0: float,
    alpha0: float = 0.0,
    degree: int = 3,
    form: str = "linear",
    window: float | None = None,
    fit_nu: bool = True,
    fit_alpha: bool = True,
    x_c_bounds=None,
    nu_bounds=(0.1, 10.0),
    alpha_bounds=(-10.0, 10.0),
    n_boot: int = 200,
    seed=0,
) -> CollapseFit:
    """Finite-size-scaling collapse ``y = s^(-alpha) Phi((x - x_c) s^(1/nu))``.

    ``x`` is the control parameter (t, T, p), ``y`` the measured quantity with errors ``e``, and
    ``size`` the scaling size s of each point (r or L). The master curve ``Phi`` is a polynomial
    of ``degree`` in the scaled variable ``z = (x - x_c) s^(1/nu)``, fitted jointly: for every
    trial ``(x_c, nu, alpha)`` its coefficients are the weighted linear least-squares solution
    (variable projection) and the outer parameters minimise the total chi2.

    ``form="linear"`` fits ``y s^alpha = Phi(z)`` with errors ``e s^alpha`` -- the chi2 of
    ``y = s^(-alpha) Phi`` itself; ``form="log"`` fits ``log y + alpha log s = log Phi(z)`` with
    errors ``e / y`` (for positive data spanning decades, such as CMI; points with ``y <= 0``
    are left out and counted in ``status``).

    **Window rule.** With ``window=w`` only points with ``|z| <= w`` enter, ``z`` evaluated at the
    fitted parameters: the selection is made at the start values, the fit redone, the selection
    redone at the new parameters, until it no longer changes (at most 10 rounds; if the
    selection cycles, the member of the cycle with the lowest chi2 / dof is kept and ``status``
    says so). ``window=None`` uses every point. The rule and the points used are returned.

    **Starts and errors.** Nine starts, ``x_c0 + {-1, 0, 1} * 0.1 * (range of x)`` times
    ``nu0 * {2/3, 1, 3/2}``, each fitted on the points inside the window at ``(x_c0, nu0)``; the
    one with the lowest chi2 is then iterated with the window rule. Errors from ``n_boot``
    parametric-bootstrap replicas (every y redrawn from N(y, e), the whole fit, window rule
    included, repeated from the best parameters). ``fit_nu=False`` / ``fit_alpha=False`` hold
    ``nu`` / ``alpha`` at ``nu0`` / ``alpha0`` (e.g. ``alpha = 0`` for a Binder cumulant).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = np.repeat([8.0, 16.0, 32.0], 9)
    >>> x = np.tile(np.linspace(-0.1, 0.1, 9), 3)
    >>> z = x * s ** (1 / 1.0)
    >>> y = s ** -0.25 * (1.0 + 0.3 * z - 0.05 * z**2)
    >>> f = collapse_fit(x, y, np.full(27, 1e-3), s, x_c0=0.01, nu0=1.2, alpha0=0.2,
    ...                  degree=2, n_boot=20)
    >>> abs(f.x_c) < 1e-3, round(f.nu, 2), round(f.alpha, 2), f.dof
    (True, 1.0, 0.25, 21)
    """
    x = _vec("x", x)
    n = x.size
    y, e, s = _vec("y", y, n), _vec("e", e, n), _vec("size", size, n)
    if np.any(e <= 0):
        raise ParameterError(f"e must be > 0 (standard errors), got {e[e <= 0][:3].tolist()}")
    if np.any(s <= 0):
        raise ParameterError(f"size must be > 0, got {s[s <= 0][:3].tolist()}")
    if np.unique(s).size < 2:
        raise ParameterError(f"collapse_fit needs >= 2 distinct sizes, got {np.unique(s)}")
    degree = _check_int("degree", degree, 0, 10)
    if form not in ("linear", "log"):
        raise ParameterError(f"form must be 'linear' or 'log', got {form!r}")
    if window is not None and not (isinstance(window, int | float) and window > 0):
        raise ParameterError(f"window must be None or a number > 0, got {window!r}")
    n_boot = _check_int("n_boot", n_boot, 0)
    xr = float(x.max() - x.min())
    xb = (float(x.min()), float(x.max())) if x_c_bounds is None else tuple(map(float, x_c_bounds))
    if not xb[0] < xb[1]:
        raise ParameterError(f"x_c_bounds must satisfy lo < hi, got {x_c_bounds!r}")
    if not xb[0] <= x_c0 <= xb[1]:
        raise ParameterError(f"x_c0 must lie in x_c_bounds {xb}, got {x_c0}")
    if not (0 < nu_bounds[0] <= nu0 <= nu_bounds[1]):
        raise ParameterError(f"nu0 must lie in nu_bounds {tuple(nu_bounds)} (> 0), got {nu0}")
    if not (alpha_bounds[0] <= alpha0 <= alpha_bounds[1]):
        raise ParameterError(f"alpha0 must lie in alpha_bounds {tuple(alpha_bounds)}, got {alpha0}")

    free = ["x_c"] + (["log_nu"] if fit_nu else []) + (["alpha"] if fit_alpha else [])
    fixed = {}
    if not fit_nu:
        fixed["log_nu"] = math.log(nu0)
    if not fit_alpha:
        fixed["alpha"] = float(alpha0)
    blo = {"x_c": xb[0], "log_nu": math.log(nu_bounds[0]), "alpha": alpha_bounds[0]}
    bhi = {"x_c": xb[1], "log_nu": math.log(nu_bounds[1]), "alpha": alpha_bounds[1]}
    bounds = (np.array([blo[k] for k in free]), np.array([bhi[k] for k in free]))
    min_pts = degree + 1 + len(free) + 1  # at least one degree of freedom

    def start(xc, nu):
        d = {"x_c": xc, "log_nu": math.log(nu), "alpha": float(alpha0)}
        return [d[k] for k in free]

    args = (free, fixed, x, None, e, s, degree, form, window, bounds, min_pts)

    def run(st, yy, rounds=_MAX_ROUNDS, sel0=None):
        a = list(args)
        a[3] = yy
        return _collapse_once(st, *a, rounds=rounds, sel0=sel0)

    # starts: one fit each on the points in the window at (x_c0, nu0), so that their chi2 are
    # comparable; the best is then iterated with the window rule
    z0 = (x - x_c0) * s ** (1 / nu0)
    sel0 = np.ones(n, bool) if window is None else np.abs(z0) <= window
    first = None
    for dx in (-0.1, 0.0, 0.1):
        for fn in (2 / 3, 1.0, 1.5) if fit_nu else (1.0,):
            xc = min(max(x_c0 + dx * xr, xb[0]), xb[1])
            nu = min(max(nu0 * fn, nu_bounds[0]), nu_bounds[1])
            r = run(start(xc, nu), y, rounds=1, sel0=sel0)
            if r is None or r["dof"] <= 0:
                continue
            if first is None or r["chi2"] < first["chi2"]:
                first = r
    best = None if first is None else run(list(first["theta"]), y)
    rule = "all points" if window is None else f"|x - x_c| s^(1/nu) <= {window:g}"
    rule += " at the fitted x_c, nu" if window is not None else ""
    rule += ", y > 0" if form == "log" else ""
    if best is None:
        return CollapseFit(
            x_c=math.nan,
            nu=math.nan,
            alpha=math.nan,
            rule=rule,
            degree=degree,
            form=form,
            window=window,
            status=f"too few points in the window (need >= {min_pts})",
        )

    def unpack(theta):
        p = dict(fixed)
        p.update(zip(free, theta, strict=True))
        return p["x_c"], math.exp(p["log_nu"]), p["alpha"]

    boots, failed = [], 0
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        for _ in range(n_boot):
            r = run(list(best["theta"]), y + e * rng.standard_normal(n))
            if r is None:
                failed += 1
            else:
                boots.append(unpack(r["theta"]))
    boots = np.array(boots).reshape(-1, 3)
    names = ("x_c", "nu", "alpha")
    fitted = tuple(
        nm
        for nm in names
        if nm == "x_c" or (nm == "nu" and fit_nu) or (nm == "alpha" and fit_alpha)
    )
    se = {}
    intervals = {}
    for j, nm in enumerate(names):
        if nm not in fitted:
            se[nm] = 0.0
            continue
        se[nm] = _robust_sd(boots[:, j])
        intervals[nm] = _interval(boots[:, j])
    x_c, nu, alpha = unpack(best["theta"])
    notes = []
    if best["converged"] is False:
        notes.append(f"window selection did not settle in {_MAX_ROUNDS} rounds; last one used")
    elif best["converged"] == "cycle":
        notes.append("window selection cycles; the best fit of the cycle was kept")
    at_bound = [
        k
        for k, v, lo, hi in zip(free, best["theta"], *bounds, strict=True)
        if v <= lo + 1e-6 or v >= hi - 1e-6
    ]
    if at_bound:
        notes.append("at a bound: " + ", ".join(k.replace("log_nu", "nu") for k in at_bound))
    if form == "log" and np.any(y <= 0):
        notes.append(f"{int(np.sum(y <= 0))} points with y <= 0 left out (log form)")
    if n_boot > 0 and failed > 0.1 * n_boot:
        notes.append(f"{failed} of {n_boot} bootstrap replicas failed")
    return CollapseFit(
        x_c=float(x_c),
        nu=float(nu),
        alpha=float(alpha),
        x_c_stderr=se["x_c"],
        nu_stderr=se["nu"],
        alpha_stderr=se["alpha"],
        chi2=best["chi2"],
        dof=best["dof"],
        n_points=int(best["sel"].sum()),
        window=window,
        rule=rule,
        used=tuple(int(i) for i in np.flatnonzero(best["sel"])),
        degree=degree,
        form=form,
        coef=tuple(float(c) for c in best["coef"]),
        z_scale=float(best["zs"]),
        fitted=fitted,
        intervals=intervals,
        n_boot=n_boot,
        n_boot_failed=failed,
        status="ok" if not notes else "; ".join(notes),
    )


# --------------------------------------------------------------------------------------------
# Binder cumulant
# --------------------------------------------------------------------------------------------


def binder_cumulant(m, *, n_blocks: int = 32) -> tuple[float, float]:
    """``U = 1 - <|m|^4> / (3 <|m|^2>^2)`` of an order-parameter series, with a jackknife error.

    ``m`` is ``(n,)`` or ``(n_chains, n)``, real or complex (for a complex or multi-component
    order parameter pass ``|m|``-preserving values; only ``|m|^2`` and ``|m|^4`` enter). The
    error is a delete-one-block jackknife over ``n_blocks`` contiguous blocks per chain, so it
    accounts for autocorrelation as long as a block is much longer than tau_int (check that the
    blocks hold >= ~20 tau_int each). The convention is the Ising one (U = 2/3 in a perfectly
    ordered state, 0 for a 1-component Gaussian); other normalisations are affine in the same
    ratio and cross at the same point.

    >>> import numpy as np
    >>> u, du = binder_cumulant(np.random.default_rng(0).normal(size=100_000))
    >>> abs(u) < 4 * du < 0.04
    True
    """
    a = np.abs(np.asarray(m))
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] < 2:
        raise ParameterError(f"m must be (n,) or (n_chains, n) with n >= 2, got {np.shape(m)}")
    n_blocks = _check_int("n_blocks", n_blocks, 2)
    nb = min(n_blocks, a.shape[1])
    m2, m4 = a.astype(np.float64) ** 2, a.astype(np.float64) ** 4
    # block sums per chain -> (n_chains * nb) blocks, equal lengths within a chain
    edges = np.linspace(0, a.shape[1], nb + 1).astype(int)
    s2 = np.add.reduceat(m2, edges[:-1], axis=1).ravel()
    s4 = np.add.reduceat(m4, edges[:-1], axis=1).ravel()
    cnt = np.tile(np.diff(edges), a.shape[0]).astype(np.float64)
    T2, T4, N = s2.sum(), s4.sum(), cnt.sum()

    def u_of(t2, t4, nn):
        return 1.0 - (t4 / nn) / (3.0 * (t2 / nn) ** 2)

    u = float(u_of(T2, T4, N))
    jk = u_of(T2 - s2, T4 - s4, N - cnt)
    k = jk.size
    se = float(math.sqrt((k - 1) / k * np.sum((jk - jk.mean()) ** 2)))
    return u, se
