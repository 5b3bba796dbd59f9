"""The massive Gaussian free field: exact sampler, covariance, CMI, score and optimal MSEs."""

import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.exact.gaussian_field import GaussianField
from latticediff.noise import GaussianPath


def test_covariance_inverts_precision():
    for L, m in ((4, 1.0), (5, 0.1), (6, 0.5)):
        g = GaussianField(L, m)
        assert np.allclose(g.covariance() @ g.precision(), np.eye(L * L), atol=1e-10)
        Q = g.precision()
        assert np.allclose(Q, Q.T)
        assert np.allclose(np.diag(Q), m * m + 4.0)
        assert np.allclose(Q.sum(axis=1), m * m)  # Laplacian rows sum to 0


def test_sampler_matches_exact_covariance():
    g = GaussianField(6, 0.3)
    n = 20000
    x = g.sample(n, seed=5)[:, 0]
    assert x.shape == (n, 6, 6)
    C = g.correlation()
    # per-sample translation average of x(i) x(i + d): independent across samples
    for dy in range(6):
        for dx in range(6):
            prod = (x * np.roll(x, (-dy, -dx), axis=(1, 2))).mean(axis=(1, 2))
            se = prod.std(ddof=1) / math.sqrt(n)
            assert abs(prod.mean() - C[dy, dx]) < 4.0 * se, (dy, dx, prod.mean(), C[dy, dx], se)
    mean = x.mean(axis=(1, 2))
    assert abs(mean.mean()) < 4.0 * mean.std(ddof=1) / math.sqrt(n)
    # variance of the zero mode is exactly 1/(m^2 L^2) in units of the spatial mean
    assert abs(mean.var(ddof=1) / (1.0 / (0.09 * 36)) - 1.0) < 4.0 * math.sqrt(2.0 / n)


def test_sampler_is_seeded():
    g = GaussianField(5, 0.5)
    assert np.array_equal(g.sample(3, seed=1), g.sample(3, seed=1))
    assert not np.array_equal(g.sample(3, seed=1), g.sample(3, seed=2))


@pytest.mark.parametrize("kind", ["linear", "vp", "ve"])
def test_cmi_schur_equals_logdet(kind):
    path = GaussianPath(kind)
    g = GaussianField(7, 0.2)
    for t in (0.0, 0.1, 0.4, 0.9):
        for r in range(0, 3):
            a = g.exact_cmi(t, r, path)
            b = g.exact_cmi_logdet(t, r, path)
            assert abs(a - b) < 1e-9 * max(1.0, abs(a)), (t, r, a, b)


@pytest.mark.parametrize("mass", [0.5, 0.1])
def test_cmi_zero_at_t0_markov(mass):
    g = GaussianField(8, mass)
    assert g.exact_cmi(0.0, 0) > 0.1  # neighbours are informative
    for r in (1, 2, 3):
        assert abs(g.exact_cmi(0.0, r)) < 1e-12
        assert abs(g.exact_cmi_logdet(0.0, r)) < 1e-9


@pytest.mark.parametrize("mass", [0.5, 0.1])
def test_cmi_positive_and_decays_with_r(mass):
    g = GaussianField(10, mass)
    for t in (0.1, 0.3, 0.5, 0.7):
        vals = [g.exact_cmi(t, r) for r in range(0, 5)]
        assert all(v > -1e-14 for v in vals), (t, vals)  # >= 0 up to rounding
        big = [v for v in vals if v > 1e-11]  # strictly decreasing above rounding level
        assert len(big) >= 3 and all(a > b for a, b in zip(big, vals[1:], strict=False)), vals
    assert abs(g.exact_cmi(1.0, 1)) < 1e-14  # pure noise on the linear path
    # near-critical: longer correlations, more CMI at the same (t, r)
    if mass == 0.1:
        assert g.exact_cmi(0.5, 2) > GaussianField(10, 0.5).exact_cmi(0.5, 2)


def test_cmi_zero_when_c_empty():
    g = GaussianField(5, 0.3)
    assert abs(g.exact_cmi(0.4, 2)) < 1e-12  # 2r + 1 = L: B is everything else


def test_score_dense():
    g = GaussianField(5, 0.4)
    x = g.sample(2, seed=3)[:, 0]
    for kind, t in (("linear", 0.3), ("vp", 1.0), ("linear", 0.0)):
        path = GaussianPath(kind)
        S = g.cov_t(t, path)
        want = -np.linalg.solve(S, x.reshape(2, -1).T).T.reshape(x.shape)
        assert np.allclose(g.score(x, t, path), want, atol=1e-10)


def test_optimal_mse():
    g = GaussianField(9, 0.3)
    for t in (0.2, 0.5, 0.8):
        mse = [g.optimal_mse(t, r) for r in range(0, 5)]
        glob = g.optimal_mse(t)
        assert all(a > b for a, b in zip(mse, mse[1:], strict=False)), mse
        assert mse[-1] >= glob - 1e-12
        assert mse[-1] - glob < 1e-3 * glob
        # global optimum from dense matrices: diag(C - alpha^2 C S^-1 C)
        a, s = float(GaussianPath().alpha(t)), float(GaussianPath().sigma(t))
        C = g.covariance()
        dense = C - a * a * C @ np.linalg.solve(g.cov_t(t), C)
        assert abs(dense[0, 0] - glob) < 1e-10
        # radius 0: one-site shrinkage
        v = g.variance
        assert abs(mse[0] - v * s * s / (a * a * v + s * s)) < 1e-12
    assert g.optimal_mse(0.0, 1) == 0.0 and g.optimal_mse(0.0) == 0.0
    assert abs(g.optimal_mse(1.0, 2) - g.variance) < 1e-12


def test_optimal_mse_against_regression():
    """The radius-1 optimum equals the held-out MSE of least squares on many samples."""
    g = GaussianField(6, 0.5)
    t = 0.5
    x0 = g.sample(6000, seed=7)
    xt, _ = GaussianPath().sample(x0, t, np.random.default_rng(8))
    # window d <= 1 around every site, all sites pooled (translation invariance)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    X = np.stack([np.roll(xt[:, 0], s, axis=(1, 2)).ravel() for s in shifts], axis=1)
    y = x0[:, 0].ravel()
    half = X.shape[0] // 2
    coef, *_ = np.linalg.lstsq(X[:half], y[:half], rcond=None)
    res = (y[half:] - X[half:] @ coef) ** 2
    # per-sample means are independent
    per = res.reshape(-1, 36).mean(axis=1)
    se = per.std(ddof=1) / math.sqrt(per.size)
    assert abs(per.mean() - g.optimal_mse(t, 1)) < 4 * se


def test_locality_gap():
    g = GaussianField(5, 0.3)
    gaps = [g.locality_gap_sq(0.4, r) for r in range(3)]
    assert gaps[0] > gaps[1] > gaps[2] >= 0
    assert gaps[2] < 1e-10  # the r = 2 window is the whole 5 x 5 torus


def test_parameter_errors():
    with pytest.raises(ParameterError, match="mass"):
        GaussianField(8, 0.0)
    with pytest.raises(ParameterError, match="mass"):
        GaussianField(8, float("nan"))
    with pytest.raises(ParameterError, match="L must"):
        GaussianField(2, 1.0)
    g = GaussianField(8, 1.0)
    with pytest.raises(ParameterError, match=r"\[0, 3\]"):
        g.exact_cmi(0.5, 4)
    with pytest.raises(ParameterError):
        g.exact_cmi(1.5, 1)  # outside the linear path's [0, 1]
    with pytest.raises(ParameterError, match="n must"):
        g.sample(0)
