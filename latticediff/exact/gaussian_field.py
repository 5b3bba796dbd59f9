"""The massive Gaussian free field on the periodic L x L torus: an exactly solvable continuous
data distribution for Gaussian noising paths.

The field has density ``p(x) ~ exp(-x^T Q x / 2)`` with precision matrix

    Q = m^2 I + Delta,   Delta = 4 on the diagonal, -1 to each of the 4 nearest neighbours,

so its covariance ``C = Q^{-1}`` is circulant with eigenvalues ``1/lambda(k)``,
``lambda(k) = m^2 + 4 - 2 cos kx - 2 cos ky`` at the lattice momenta ``k = 2 pi n / L``. The
correlation length is ``~1/m`` for small m; ``m -> 0`` is the critical (massless) limit, where
the zero mode makes ``C`` singular, so ``mass > 0`` is required.

Along a Gaussian path ``x_t = alpha(t) x_0 + sigma(t) z`` (:class:`latticediff.noise.GaussianPath`)
the data stay Gaussian with circulant covariance ``Sigma_t = alpha^2 C + sigma^2 I``, so everything
is a log-determinant or a linear solve on covariance blocks (Cover & Thomas, ch. 8):

* the CMI, A = one site, B = the L-infinity shell ``0 < d <= r``, C = the rest,
  ``I(A:C|B) = 1/2 [log det S_AB + log det S_BC - log det S_B - log det S_ABC]``
  ``= 1/2 log[Var(x_A | x_B) / Var(x_A | x_BC)]`` (Schur complements; both forms are computed and
  tested against each other);
* the score ``grad log p_t(x) = -Sigma_t^{-1} x`` (a Fourier multiplier);
* the Bayes-optimal x_0 denoisers: ``E[x_0A | window]`` is linear in the window, so the optimal
  radius-r MSE is the conditional variance ``C_AA - alpha^2 C_AW S_WW^{-1} C_WA`` with W the
  window ``d <= r`` around A (A included), and the global optimum is
  ``mean_k sigma^2 c_k / (alpha^2 c_k + sigma^2)``, ``c_k = 1/lambda(k)``.

At t = 0 the field is a Gaussian Markov random field with nearest-neighbour precision, so
``I(A:C|B) = 0`` exactly for every r >= 1 (the Markov property, tested).

>>> import numpy as np
>>> g = GaussianField(8, 0.5)
>>> x = g.sample(2, seed=0)
>>> x.shape, x.dtype
((2, 1, 8, 8), dtype('float64'))
>>> abs(g.exact_cmi(0.0, 1)) < 1e-12          # Markov at t = 0
True
>>> g.exact_cmi(0.3, 1) > g.exact_cmi(0.3, 2) > 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import ParameterError

__all__ = ["GaussianField", "LocalityBound"]


def _path(path):
    from ..noise import GaussianPath

    if path is None:
        return GaussianPath("linear")
    if isinstance(path, str):
        return GaussianPath(path)
    if not isinstance(path, GaussianPath):
        raise ParameterError(
            f"GaussianField: path must be a GaussianPath or one of its kinds, got {path!r}"
        )
    return path


def _logdet(S: np.ndarray) -> float:
    if S.shape[0] == 0:
        return 0.0
    sign, ld = np.linalg.slogdet(S)
    if sign <= 0:
        raise np.linalg.LinAlgError("covariance block is not positive definite")
    return float(ld)


@dataclass(frozen=True)
class LocalityBound:
    """Both sides of the locality-gap bound at one ``(t, r)``: what
    :meth:`GaussianField.locality_bound` returns.

    ``gap_sq`` = ``Delta_loc(t)^2 = E |d_A log p_t(x) - d_A log p_t(x_AB)|^2``;
    ``bound`` = ``2 sqrt(m_A (m_A + 3)) sqrt(cmi) / sigma^2`` with ``m_A = n_a = 1``;
    ``ratio = gap_sq / bound`` (<= 1 where the bound holds; NaN when both sides are 0);
    ``holds`` = ``gap_sq <= bound``. ``cmi`` is ``I_t(A:C|B)`` in nats, ``var_given_b`` and
    ``var_given_bc`` are ``Var(x_A | x_B)`` and ``Var(x_A | x_BC)``; ``gap_sq_identity`` is
    ``(1 - exp(-2 cmi)) / var_given_bc``, which equals ``gap_sq`` for Gaussian data (see
    :meth:`GaussianField.locality_bound`).

    >>> b = GaussianField(8, 0.5).locality_bound(0.5, 1)
    >>> b.holds, round(b.ratio, 4)
    (True, 0.0218)
    """

    t: float
    r: int
    path: str
    sigma: float
    gap_sq: float
    bound: float
    ratio: float
    holds: bool
    cmi: float
    var_given_b: float
    var_given_bc: float
    gap_sq_identity: float
    n_a: int = 1

    def to_dict(self) -> dict:
        """JSON-able dict (NaN becomes None).

        >>> GaussianField(8, 0.5).locality_bound(0.5, 1).to_dict()["n_a"]
        1
        """
        out = {}
        for k, v in self.__dict__.items():
            out[k] = None if isinstance(v, float) and math.isnan(v) else v
        return out


@dataclass(frozen=True)
class GaussianField:
    """Massive Gaussian free field on the periodic ``L x L`` torus, precision ``m^2 I + Delta``.

    ``L >= 3`` (an integer), ``mass > 0`` (finite). See the module docstring for the formulas.

    >>> g = GaussianField(16, 0.1)
    >>> round(g.variance, 4)   # near-critical: large single-site variance
    0.8706
    """

    L: int
    mass: float

    def __post_init__(self):
        L = self.L
        if isinstance(L, bool) or not isinstance(L, int | np.integer) or L < 3:
            raise ParameterError(f"GaussianField: L must be an integer >= 3, got {L!r}")
        m = self.mass
        if isinstance(m, bool) or not isinstance(m, int | float | np.integer | np.floating):
            raise ParameterError(f"GaussianField: mass must be a number > 0, got {m!r}")
        if not (math.isfinite(float(m)) and float(m) > 0):
            raise ParameterError(
                f"GaussianField: mass must be finite and > 0 (m = 0 is the critical massless "
                f"limit, where the covariance is singular), got {m!r}"
            )
        object.__setattr__(self, "L", int(L))
        object.__setattr__(self, "mass", float(m))

    # ------------------------------------------------------------------------------------------
    # spectrum and covariance

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """``lambda(k) = m^2 + 4 - 2 cos kx - 2 cos ky`` on the ``(L, L)`` FFT momentum grid."""
        k = 2.0 * np.pi * np.arange(self.L) / self.L
        c = 2.0 - 2.0 * np.cos(k)
        return self.mass**2 + c[:, None] + c[None, :]

    def precision(self) -> np.ndarray:
        """Dense ``(L^2, L^2)`` precision matrix ``Q`` (sites in row-major order)."""
        L = self.L
        n = L * L
        idx = np.arange(n).reshape(L, L)
        Q = np.zeros((n, n))
        Q[idx.ravel(), idx.ravel()] = self.mass**2 + 4.0
        for ax in (0, 1):
            for s in (1, -1):
                nb = np.roll(idx, s, axis=ax).ravel()
                np.add.at(Q, (idx.ravel(), nb), -1.0)
        return Q

    @cached_property
    def _corr(self) -> np.ndarray:
        # C(dx, dy) = (1/L^2) sum_k e^{i k.d} / lambda(k): the inverse FFT of the spectrum
        return np.fft.ifft2(1.0 / self.eigenvalues).real

    @property
    def variance(self) -> float:
        """Single-site variance ``C(0, 0)``."""
        return float(self._corr[0, 0])

    def correlation(self) -> np.ndarray:
        """``C(dx, dy)``, the ``(L, L)`` covariance between sites separated by ``(dx, dy)``."""
        return self._corr.copy()

    def covariance(self) -> np.ndarray:
        """Exact dense ``(L^2, L^2)`` covariance ``C = Q^{-1}`` (circulant, built by FFT).

        >>> g = GaussianField(4, 1.0)
        >>> bool(np.allclose(g.covariance() @ g.precision(), np.eye(16)))
        True
        """
        return self._block_cov(np.arange(self.L**2), np.arange(self.L**2))

    def _block_cov(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        L = self.L
        ai, aj = np.divmod(np.asarray(a), L)
        bi, bj = np.divmod(np.asarray(b), L)
        return self._corr[(ai[:, None] - bi[None, :]) % L, (aj[:, None] - bj[None, :]) % L]

    # ------------------------------------------------------------------------------------------
    # sampling

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` exact independent samples, float64 ``(n, 1, L, L)``.

        ``x = C^{1/2} w`` with w white noise: C is diagonal in Fourier space, so
        ``x = IFFT(FFT(w) / sqrt(lambda))``; real because lambda(k) = lambda(-k).

        >>> GaussianField(4, 1.0).sample(3, seed=1).shape
        (3, 1, 4, 4)
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ParameterError(f"GaussianField.sample: n must be an integer >= 1, got {n!r}")
        rng = np.random.default_rng(seed)
        w = rng.standard_normal((int(n), self.L, self.L))
        x = np.fft.ifft2(np.fft.fft2(w) / np.sqrt(self.eigenvalues)).real
        return x[:, None]

    # ------------------------------------------------------------------------------------------
    # along a Gaussian path

    def _coef(self, t, path) -> tuple[float, float]:
        p = _path(path)
        return float(p.alpha(t)), float(p.sigma(t))

    def spectrum_t(self, t, path=None) -> np.ndarray:
        """Eigenvalues of ``Sigma_t = alpha^2 C + sigma^2 I`` on the momentum grid."""
        a, s = self._coef(t, path)
        return a * a / self.eigenvalues + s * s

    def _check_radius(self, r, who: str) -> int:
        rmax = (self.L - 1) // 2
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or not 0 <= r <= rmax:
            raise ParameterError(
                f"GaussianField.{who}: r must be an integer in [0, {rmax}] (the window "
                f"2r+1 must fit on the L={self.L} torus without wrapping), got {r!r}"
            )
        return int(r)

    def _sites(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the shell ``0 < d <= r`` and of the rest, around site 0."""
        L = self.L
        d = np.arange(L)
        d = np.minimum(d, L - d)
        dist = np.maximum(d[:, None], d[None, :]).ravel()
        return np.flatnonzero((dist > 0) & (dist <= r)), np.flatnonzero(dist > r)

    def cov_t(self, t, path=None) -> np.ndarray:
        """Dense covariance ``Sigma_t = alpha(t)^2 C + sigma(t)^2 I`` of the noisy field."""
        a, s = self._coef(t, path)
        return a * a * self.covariance() + s * s * np.eye(self.L**2)

    def _block_t(self, idx, a, s):
        S = a * a * self._block_cov(idx, idx)
        S[np.diag_indices_from(S)] += s * s
        return S

    def conditional_variance(self, t, r: int, path=None) -> tuple[float, float]:
        """``(Var(x_A | x_B), Var(x_A | x_BC))`` of the noisy field at time t, shell radius r.

        ``Var(x_A | x_BC) = 1 / (Sigma_t^{-1})_AA``, a mean over the momentum grid.
        """
        r = self._check_radius(r, "conditional_variance")
        a, s = self._coef(t, path)
        v_all = 1.0 / float(np.mean(1.0 / self.spectrum_t(t, path)))
        return self._var_given_shell(r, a, s), v_all

    def _var_given_shell(self, r: int, a: float, s: float) -> float:
        """Var(x_A | x_B) for the shell ``0 < d <= r``: a Schur complement."""
        B, _ = self._sites(r)
        AB = np.concatenate(([0], B))
        S = self._block_t(AB, a, s)
        if not B.size:
            return float(S[0, 0])
        return float(S[0, 0] - S[0, 1:] @ np.linalg.solve(S[1:, 1:], S[1:, 0]))

    def exact_cmi(self, t, r: int, path=None, *, far_radius: int | None = None) -> float:
        """Exact ``I(A:C|B)`` in nats of the noisy field ``x_t``; A = one site, B = the shell of
        radius r (L-infinity), C = the rest of the torus. ``path`` defaults to the linear path.

        Computed as ``1/2 log[Var(A|B) / Var(A|BC)]`` (equal to the log-determinant formula,
        :meth:`exact_cmi_logdet`). 0 when C is empty (``2r + 1 = L``) and at t = 1 on the linear
        path (pure noise). ``far_radius = R`` (r < R <= (L-1)//2) replaces C by the ring
        ``r < d <= R``: ``I(A : C_R | B) = I(r) - I(R)`` (chain rule), what an estimator whose far
        model sees only the window of radius R measures.

        >>> g = GaussianField(8, 0.5)
        >>> round(g.exact_cmi(0.5, 1), 6)
        0.003247
        >>> bool(abs(g.exact_cmi(0.5, 1, far_radius=2) - (g.exact_cmi(0.5, 1)
        ...      - g.exact_cmi(0.5, 2))) < 1e-12)
        True
        """
        v_b, v_all = self.conditional_variance(t, r, path)
        if far_radius is not None:
            R = self._check_radius(far_radius, "exact_cmi")
            if R <= r:
                raise ParameterError(
                    f"GaussianField.exact_cmi: far_radius must be > r = {r}, got {far_radius}"
                )
            a, s = self._coef(t, path)
            v_all = self._var_given_shell(R, a, s)
        return 0.5 * math.log(v_b / v_all)

    def exact_cmi_logdet(self, t, r: int, path=None) -> float:
        """``1/2 [log det S_AB + log det S_BC - log det S_B - log det S_ABC]`` with dense
        covariance blocks (``O(L^6)``; a check of :meth:`exact_cmi`)."""
        r = self._check_radius(r, "exact_cmi_logdet")
        a, s = self._coef(t, path)
        B, C = self._sites(r)
        A = np.array([0])
        cat = np.concatenate
        return 0.5 * (
            _logdet(self._block_t(cat((A, B)), a, s))
            + _logdet(self._block_t(cat((B, C)), a, s))
            - _logdet(self._block_t(B, a, s))
            - _logdet(self._block_t(cat((A, B, C)), a, s))
        )

    def score(self, x, t, path=None) -> np.ndarray:
        """Exact score ``grad log p_t(x) = -Sigma_t^{-1} x`` of the noisy field, for x of shape
        ``(..., L, L)`` (a Fourier multiplier). At t = 0 this is ``-Q x``.

        >>> g = GaussianField(4, 1.0)
        >>> x = g.sample(1, seed=0)[0, 0]
        >>> bool(np.allclose(g.score(x, 0.0), -(g.precision() @ x.ravel()).reshape(4, 4)))
        True
        """
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-2:] != (self.L, self.L):
            raise ParameterError(
                f"GaussianField.score: x must end in ({self.L}, {self.L}), got shape {x.shape}"
            )
        mult = 1.0 / self.spectrum_t(t, path)
        return -np.fft.ifft2(np.fft.fft2(x) * mult).real

    def optimal_mse(self, t, r: int | None = None, path=None) -> float:
        """Exact MSE of the Bayes-optimal x_0 denoiser of one site at time t.

        ``r`` = the radius of the window ``d <= r`` (A included) the denoiser sees;
        ``r=None`` = the global optimum (the whole noisy field). Decreases with r towards the
        global value. At t = 0 it is 0.

        >>> g = GaussianField(8, 0.5)
        >>> [round(g.optimal_mse(0.5, r), 4) for r in (0, 1, 3)], round(g.optimal_mse(0.5), 4)
        ([0.2782, 0.2389, 0.234], 0.234)
        """
        a, s = self._coef(t, path)
        if r is None:
            c = 1.0 / self.eigenvalues
            return float(np.mean(s * s * c / (a * a * c + s * s)))
        r = self._check_radius(r, "optimal_mse")
        B, _ = self._sites(r)
        W = np.concatenate(([0], B))
        S = self._block_t(W, a, s)
        cw = a * self._block_cov(np.array([0]), W)[0]  # Cov(x0_A, x_t,W)
        if s == 0.0 and a != 0.0:
            return 0.0
        return float(self.variance - cw @ np.linalg.solve(S, cw))

    def locality_gap_sq(self, t, r: int, path=None) -> float:
        """``E |d_A log p_t(x) - d_A log p_t(x_AB)|^2``: the squared error of the radius-r local
        score at site A (the marginal score of the window ``d <= r``) against the full score.

        Both scores are linear in x (``-(Sigma^{-1} x)_A`` and ``-(S_WW^{-1} x_W)_A``), so this
        is ``u^T Sigma_t u`` for their difference vector u. Needs sigma(t) > 0 or alpha(t) > 0.
        """
        r = self._check_radius(r, "locality_gap_sq")
        a, s = self._coef(t, path)
        B, _ = self._sites(r)
        W = np.concatenate(([0], B))
        n = self.L**2
        # row 0 of Sigma_t^{-1} (circulant): inverse FFT of the inverse spectrum
        prec_row = np.fft.ifft2(1.0 / self.spectrum_t(t, path)).real.ravel()
        local = np.linalg.solve(self._block_t(W, a, s), np.eye(W.size)[:, 0])
        u = prec_row.copy()
        u[W] -= local
        full = self._block_t(np.arange(n), a, s)
        return float(u @ full @ u)

    # ------------------------------------------------------------------------------------------
    # the Bayes-optimal local denoiser and the locality-gap bound

    def _window(self, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat indices of the window ``d <= r`` (A = site 0 first, then the shell) and their
        offsets ``(dy, dx)`` in ``[-r, r]``."""
        B, _ = self._sites(r)
        W = np.concatenate(([0], B))
        dy, dx = np.divmod(W, self.L)
        dy = np.where(dy > self.L // 2, dy - self.L, dy)
        dx = np.where(dx > self.L // 2, dx - self.L, dx)
        return W, dy, dx

    def optimal_denoiser_weights(self, t, r: int, path=None) -> np.ndarray:
        """Weights of the Bayes-optimal radius-r x_0 denoiser, a ``(2r+1, 2r+1)`` kernel K:
        ``E[x_0(i) | x_t(j), ||j - i||_inf <= r] = sum_{dy,dx} K[r+dy, r+dx] x_t(i + (dy, dx))``
        (periodic). ``K = S_WW^{-1} Cov(x_t,W, x_0,A)``; its MSE is :meth:`optimal_mse`. At
        ``alpha(t) = 0`` it is 0 (predict the mean), at ``sigma(t) = 0`` the identity ``/alpha``.

        >>> g = GaussianField(8, 0.5)
        >>> K = g.optimal_denoiser_weights(0.5, 1)
        >>> K.shape, bool(np.allclose(K, K.T) and np.allclose(K, K[::-1]))  # lattice symmetry
        ((3, 3), True)
        """
        r = self._check_radius(r, "optimal_denoiser_weights")
        a, s = self._coef(t, path)
        W, dy, dx = self._window(r)
        K = np.zeros((2 * r + 1, 2 * r + 1))
        if a == 0.0:
            return K
        cw = a * self._block_cov(np.array([0]), W)[0]
        K[r + dy, r + dx] = np.linalg.solve(self._block_t(W, a, s), cw)
        return K

    def optimal_denoise(self, x_t, t, r: int, path=None) -> np.ndarray:
        """Apply the Bayes-optimal radius-r x_0 denoiser (:meth:`optimal_denoiser_weights`) to
        noisy fields ``x_t`` of shape ``(..., L, L)`` (periodic); returns float64, same shape.
        Its mean squared error per site, averaged over samples, estimates :meth:`optimal_mse`.

        >>> g = GaussianField(8, 0.5)
        >>> x0 = g.sample(400, seed=0)
        >>> from latticediff.noise import GaussianPath
        >>> xt, _ = GaussianPath().sample(x0, 0.5, np.random.default_rng(1))
        >>> mse = float(np.mean((g.optimal_denoise(xt, 0.5, 1) - x0) ** 2))
        >>> bool(abs(mse / g.optimal_mse(0.5, 1) - 1) < 0.03)
        True
        """
        x = np.asarray(x_t, dtype=np.float64)
        if x.ndim < 2 or x.shape[-2:] != (self.L, self.L):
            raise ParameterError(
                f"GaussianField.optimal_denoise: x_t must end in ({self.L}, {self.L}), "
                f"got shape {x.shape}"
            )
        K = self.optimal_denoiser_weights(t, r, path)
        r = K.shape[0] // 2
        out = np.zeros_like(x)
        for iy in range(2 * r + 1):
            for ix in range(2 * r + 1):
                if K[iy, ix] != 0.0:
                    # out(i) += K[dy, dx] x(i + d): roll by -d
                    out += K[iy, ix] * np.roll(x, (r - iy, r - ix), axis=(-2, -1))
        return out

    def locality_bound(self, t, r: int, path=None) -> LocalityBound:
        """Evaluate the locality-gap bound for Gaussian paths ``x_t = alpha x_0 + sigma z``,

            ``Delta_loc(t)^2 <= (2 sqrt(m_A (m_A + 3)) / sigma(t)^2) sqrt(I_t(A:C|B))``,

        with ``Delta_loc(t)^2 = E |d_A log p_t(x) - d_A log p_t(x_AB)|^2``
        (:meth:`locality_gap_sq`), A = one site (``m_A = 1``, so the prefactor is 4), B the
        shell of radius r, C the rest. Both sides are exact; returns a :class:`LocalityBound`.
        Needs ``sigma(t) > 0`` (at t = 0 the right side is undefined).

        Computation. The full score at A is ``-(Sigma^{-1} x)_A = f . x`` (f: row 0 of the
        circulant ``Sigma_t^{-1}``, by FFT) and the window score is ``g . x_W`` with
        ``g = S_WW^{-1} e_A``; then ``Delta^2 = u^T Sigma_t u`` for ``u = f - g`` (embedded),
        evaluated in Fourier space (Parseval). The CMI is taken from the difference of the two
        regressions of x_A, ``w = f/f_A - g/g_A`` (0 at A):
        ``Var(x_A|x_B) - Var(x_A|x_BC) = w^T Sigma_t w`` and
        ``I = 1/2 log1p(w^T Sigma_t w / Var(x_A|x_BC))``. Both are quadratic forms of small
        vectors, accurate down to ~1e-30 rather than the ~1e-16 floor of the log-ratio in
        :meth:`exact_cmi` (they agree above it); below ~1e-30 the numbers are rounding noise.

        Gaussian identity. Writing both scores through the conditional means,
        ``Delta^2 = 1/Var(x_A|x_BC) - 1/Var(x_A|x_B) = (1 - e^{-2I}) / Var(x_A|x_BC)``
        (``gap_sq_identity``). As ``Var(x_A|x_BC) >= sigma^2`` (x_A keeps its own noise
        ``sigma z_A``), ``Delta^2 sigma^2 <= 1 - e^{-2I} <= min(1, 2I) <= 4 sqrt(I)``, so for
        Gaussian data the bound holds at every (t, r), with ``ratio <= 0.2256`` (the maximum
        of ``(1 - e^{-2I}) / (4 sqrt I)``, at I = 0.628) and ``ratio ~ sqrt(I)/2`` for small I.

        >>> g = GaussianField(8, 0.5)
        >>> b = g.locality_bound(0.5, 1)
        >>> b.holds, bool(abs(b.gap_sq / g.locality_gap_sq(0.5, 1) - 1) < 1e-9)
        (True, True)
        >>> bool(abs(b.cmi / g.exact_cmi(0.5, 1) - 1) < 1e-9)
        True
        """
        r = self._check_radius(r, "locality_bound")
        p = _path(path)
        a, s = self._coef(t, p)
        if not s > 0.0:
            raise ParameterError(
                f"GaussianField.locality_bound: needs sigma(t) > 0 (the bound divides by "
                f"sigma^2), got t={t!r} with sigma={s}"
            )
        L = self.L
        spec = self.spectrum_t(t, p)
        f = np.fft.ifft2(1.0 / spec).real  # row 0 of Sigma_t^{-1}, by offset
        W, dy, dx = self._window(r)
        gW = np.linalg.solve(self._block_t(W, a, s), np.eye(W.size)[:, 0])  # row 0 of S_WW^-1
        g = np.zeros((L, L))
        g[dy % L, dx % L] = gW

        def quad(v):  # v^T Sigma_t v for a vector given by offsets, via Parseval
            return float(np.sum(spec * np.abs(np.fft.fft2(v)) ** 2) / (L * L))

        gap_sq = quad(f - g)
        w = f / f[0, 0] - g / g[0, 0]
        w[0, 0] = 0.0
        v_bc = 1.0 / float(f[0, 0])
        dvar = quad(w)
        v_b = v_bc + dvar
        cmi = 0.5 * math.log1p(dvar / v_bc)
        bound = 2.0 * math.sqrt(1 * (1 + 3)) * math.sqrt(cmi) / (s * s)
        if bound > 0:
            ratio = gap_sq / bound
        else:
            ratio = math.nan if gap_sq == 0 else math.inf
        return LocalityBound(
            t=float(t),
            r=r,
            path=p.kind,
            sigma=s,
            gap_sq=gap_sq,
            bound=bound,
            ratio=ratio,
            holds=bool(gap_sq <= bound),
            cmi=cmi,
            var_given_b=v_b,
            var_given_bc=v_bc,
            gap_sq_identity=-math.expm1(-2.0 * cmi) / v_bc,
        )
