"""Markov length from the decay of the CMI with the buffer radius: ``I(r) ~ gamma e^{-r / xi}``.

:func:`fit_markov_length` fits ``log I = log gamma - r / xi`` by weighted least squares, with the
log-scale error ``sigma_log = stderr / I`` (first order), over a window of radii chosen by a
stated rule and reported with the result:

**Window rule** (when no ``window`` is given): sort by radius; drop radii below ``r_min``; then
take radii in increasing order while ``I > snr * stderr`` (the point is resolved from 0; for
exact values with ``stderr = 0`` this means ``I > 0``), and stop at the first radius that fails:
it and every larger radius are excluded (a point that reappears above the noise floor after a
failure is noise, and keeping it biases ``xi`` upwards). With an explicit ``window=(lo, hi)``
all radii in ``[lo, hi]`` with ``I > 0`` are used. Either way every excluded point is listed in
``MarkovFit.excluded`` with its reason; values ``<= 0`` are never clipped or shifted.

**Errors** come from the covariance of the weighted fit. If ``chi2 / dof > 1`` the covariance is
scaled by ``chi2 / dof`` (``scaled=True``), so a poor exponential model widens the error bar
instead of being hidden. Exact inputs (all ``stderr = 0``) are fitted unweighted and their
errors come from the residual scatter (``weighted=False``; ``chi2`` is then the residual sum of
squares in log units). ``xi_stderr = sigma_slope / slope^2``.

>>> import numpy as np
>>> r = np.arange(1, 8)
>>> fit = fit_markov_length(r, 0.3 * np.exp(-r / 1.5), np.full(7, 1e-3))
>>> round(fit.xi, 3), fit.window
(1.5, (1, 2, 3, 4, 5, 6))
>>> fit.excluded
{7: 'I = 0.002821 <= snr * stderr = 0.003 (first failure; fit stops here)'}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError

__all__ = ["MarkovFit", "fit_markov_length"]


@dataclass(frozen=True)
class MarkovFit:
    """Result of :func:`fit_markov_length`: ``I(r) ~ amplitude * exp(-r / xi)`` over ``window``.

    ``window`` is the tuple of radii used, ``excluded`` maps every other radius to the reason it
    was left out, ``status`` is ``"ok"`` or says why no fit was possible (then ``xi`` is NaN).
    ``xi`` is ``inf`` when the fitted slope is >= 0 (no decay).

    >>> MarkovFit(xi=1.0, xi_stderr=0.1, amplitude=0.5, window=(1, 2, 3), chi2=0.5, dof=1).xi
    1.0
    """

    xi: float
    xi_stderr: float
    amplitude: float
    window: tuple
    chi2: float
    dof: int
    amplitude_stderr: float = math.nan
    slope: float = math.nan
    slope_stderr: float = math.nan
    weighted: bool = True
    scaled: bool = False
    excluded: dict = field(default_factory=dict)
    rule: str = ""
    status: str = "ok"

    def to_dict(self) -> dict:
        """JSON-able dict (NaN and inf become None and the string "inf")."""

        def clean(v):
            if isinstance(v, float):
                if math.isnan(v):
                    return None
                if math.isinf(v):
                    return "inf" if v > 0 else "-inf"
            return v

        return {
            "xi": clean(self.xi),
            "xi_stderr": clean(self.xi_stderr),
            "amplitude": clean(self.amplitude),
            "amplitude_stderr": clean(self.amplitude_stderr),
            "slope": clean(self.slope),
            "slope_stderr": clean(self.slope_stderr),
            "window": list(self.window),
            "chi2": clean(self.chi2),
            "dof": self.dof,
            "weighted": self.weighted,
            "scaled": self.scaled,
            "excluded": {str(k): v for k, v in self.excluded.items()},
            "rule": self.rule,
            "status": self.status,
        }


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def fit_markov_length(
    radii,
    cmi,
    stderr,
    *,
    window=None,
    r_min: int = 1,
    snr: float = 3.0,
    min_points: int = 2,
) -> MarkovFit:
    """Fit ``I(r) = amplitude * exp(-r / xi)`` to CMI values; see the module docstring for the rule.

    ``radii``, ``cmi`` and ``stderr`` are equal-length sequences (``stderr`` all 0 for exact
    values, or all > 0). ``window=(lo, hi)`` overrides the automatic rule; ``r_min`` and ``snr``
    parametrise it. With fewer than ``min_points`` usable radii no fit is made: the result has
    ``xi = nan`` and ``status`` says why (a sweep can record it instead of crashing).

    >>> from latticediff.exact.noisy_chain import chain_cmi, chain_markov_length
    >>> r = list(range(3, 9))
    >>> fit = fit_markov_length(r, [chain_cmi(1.0, 0.2, k) for k in r], [0.0] * 6)
    >>> abs(fit.xi / chain_markov_length(1.0, 0.2) - 1) < 0.01
    True
    """
    r = np.asarray(radii, dtype=np.float64).ravel()
    y = np.asarray(cmi, dtype=np.float64).ravel()
    s = np.asarray(stderr, dtype=np.float64).ravel()
    if not (r.size == y.size == s.size) or r.size == 0:
        raise ParameterError(
            f"fit_markov_length: radii, cmi and stderr must have the same non-zero length, got "
            f"{r.size}, {y.size}, {s.size}"
        )
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(y)) and np.all(np.isfinite(s))):
        raise ParameterError("fit_markov_length: radii, cmi and stderr must be finite")
    if np.any(s < 0):
        raise ParameterError(f"fit_markov_length: stderr must be >= 0, got min {s.min()}")
    if np.any(r != np.round(r)) or len(np.unique(r)) != r.size:
        raise ParameterError(
            f"fit_markov_length: radii must be distinct integers, got {r.tolist()}"
        )
    exact = bool(np.all(s == 0))
    if not exact and np.any(s == 0):
        raise ParameterError(
            "fit_markov_length: stderr must be all 0 (exact values) or all > 0, got a mixture"
        )
    if isinstance(snr, bool) or not isinstance(snr, int | float) or not snr >= 0:
        raise ParameterError(f"fit_markov_length: snr must be a number >= 0, got {snr!r}")
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 2:
        raise ParameterError(
            f"fit_markov_length: min_points must be an integer >= 2, got {min_points!r}"
        )
    order = np.argsort(r)
    r, y, s = r[order], y[order], s[order]
    ri = [int(v) for v in r]

    excluded: dict[int, str] = {}
    use = np.zeros(r.size, dtype=bool)
    if window is not None:
        try:
            lo, hi = (int(window[0]), int(window[1]))
        except (TypeError, ValueError, IndexError):
            raise ParameterError(
                f"fit_markov_length: window must be (lo, hi), got {window!r}"
            ) from None
        if lo > hi:
            raise ParameterError(f"fit_markov_length: window must have lo <= hi, got {window!r}")
        rule = f"explicit window [{lo}, {hi}]; radii with I <= 0 excluded"
        for k in range(r.size):
            if not lo <= ri[k] <= hi:
                excluded[ri[k]] = f"outside the window [{lo}, {hi}]"
            elif y[k] <= 0:
                excluded[ri[k]] = f"I = {_fmt(y[k])} <= 0 (no logarithm)"
            else:
                use[k] = True
    else:
        rule = (
            f"r >= r_min = {r_min}, then increasing r while I > snr * stderr (snr = {snr}; "
            "I > 0 for exact values); stop at the first failure"
        )
        stopped_at = None
        for k in range(r.size):
            if ri[k] < r_min:
                excluded[ri[k]] = f"r < r_min = {r_min}"
                continue
            if stopped_at is not None:
                excluded[ri[k]] = f"beyond the first failing radius r = {stopped_at}"
                continue
            if y[k] > snr * s[k] and y[k] > 0:
                use[k] = True
            else:
                stopped_at = ri[k]
                if y[k] <= 0:
                    excluded[ri[k]] = f"I = {_fmt(y[k])} <= 0 (first failure; fit stops here)"
                else:
                    excluded[ri[k]] = (
                        f"I = {_fmt(y[k])} <= snr * stderr = {_fmt(snr * s[k])} "
                        "(first failure; fit stops here)"
                    )
    window_used = tuple(int(v) for v in r[use])
    n = int(use.sum())
    if n < min_points:
        return MarkovFit(
            xi=math.nan,
            xi_stderr=math.nan,
            amplitude=math.nan,
            window=window_used,
            chi2=math.nan,
            dof=max(n - 2, 0),
            weighted=not exact,
            excluded=excluded,
            rule=rule,
            status=f"no fit: {n} usable radii, need >= {min_points}",
        )
    x = r[use]
    ly = np.log(y[use])
    if exact:
        w = np.ones(n)
    else:
        w = (y[use] / s[use]) ** 2  # 1 / sigma_log^2
    X = np.stack([np.ones(n), x], axis=1)
    F = X.T @ (w[:, None] * X)
    cov = np.linalg.inv(F)
    a, b = cov @ (X.T @ (w * ly))
    resid = ly - (a + b * x)
    chi2 = float(np.sum(w * resid**2))
    dof = n - 2
    scaled = False
    if exact:
        cov = cov * (chi2 / dof) if dof > 0 else np.full((2, 2), math.nan)
    elif dof > 0 and chi2 / dof > 1.0:
        cov = cov * (chi2 / dof)
        scaled = True
    sa, sb = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    if b < 0:
        xi = -1.0 / b
        xi_err = sb / b**2
        status = "ok"
    else:
        xi = math.inf
        xi_err = math.nan
        status = f"no decay: fitted slope {_fmt(b)} >= 0"
    return MarkovFit(
        xi=float(xi),
        xi_stderr=float(xi_err),
        amplitude=float(math.exp(a)),
        window=window_used,
        chi2=chi2,
        dof=dof,
        amplitude_stderr=float(math.exp(a) * sa),
        slope=float(b),
        slope_stderr=float(sb),
        weighted=not exact,
        scaled=scaled,
        excluded=excluded,
        rule=rule,
        status=status,
    )
