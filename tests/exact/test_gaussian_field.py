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


# ----------------------------------------------------------------------------------------------
# the Bayes-optimal local denoiser and the locality-gap bound (issue 6, item 2)


def test_optimal_denoiser_weights_and_denoise():
    g = GaussianField(9, 0.3)
    path = GaussianPath("linear")
    for t, r in ((0.2, 1), (0.5, 2), (0.8, 3)):
        K = g.optimal_denoiser_weights(t, r, path)
        assert K.shape == (2 * r + 1,) * 2
        # lattice symmetries of the square: reflections and the transpose
        assert np.allclose(K, K.T) and np.allclose(K, K[::-1]) and np.allclose(K, K[:, ::-1])
        # its MSE from the dense covariance equals optimal_mse
        a = float(path.alpha(t))
        C = g.covariance()
        x = np.zeros((9, 9))
        x[: r + 1, : r + 1] = K[r:, r:]  # kernel placed at offsets around site 0 (wrapped)
        x[-r:, : r + 1] = K[:r, r:]
        x[: r + 1, -r:] = K[r:, :r]
        x[-r:, -r:] = K[:r, :r]
        k = x.ravel()  # prediction of x0(0) = k . x_t
        e0 = np.eye(81)[0]
        mse = C[0, 0] - 2 * a * k @ C @ e0 + k @ g.cov_t(t, path) @ k
        assert abs(mse - g.optimal_mse(t, r, path)) < 1e-12
    # applied by optimal_denoise: the same linear map, any leading shape
    xt = np.random.default_rng(0).standard_normal((2, 3, 9, 9))
    out = g.optimal_denoise(xt, 0.5, 1)
    K = g.optimal_denoiser_weights(0.5, 1)
    want = sum(
        K[1 + dy, 1 + dx] * np.roll(xt, (-dy, -dx), axis=(-2, -1))
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    assert out.shape == xt.shape and np.allclose(out, want)
    # ends of the path: the identity at t = 0, the mean (0) at t = 1
    K0 = g.optimal_denoiser_weights(0.0, 1)
    assert np.allclose(K0, np.pad([[1.0]], 1))
    assert not g.optimal_denoiser_weights(1.0, 2).any()
    with pytest.raises(ParameterError, match="end in"):
        g.optimal_denoise(np.zeros((2, 8, 8)), 0.5, 1)


def test_optimal_denoise_monte_carlo():
    """Per-site squared error of optimal_denoise on fresh samples: mean = optimal_mse (4 se)."""
    g = GaussianField(10, 0.1)
    path = GaussianPath("vp")
    x0 = g.sample(3000, seed=11)
    for t, r in ((0.3, 1), (1.0, 2)):
        xt, _ = path.sample(x0, t, np.random.default_rng(12))
        per = ((g.optimal_denoise(xt, t, r, path) - x0) ** 2).reshape(len(x0), -1).mean(axis=1)
        se = per.std(ddof=1) / math.sqrt(per.size)
        assert abs(per.mean() - g.optimal_mse(t, r, path)) < 4 * se


BOUND_CAP = 0.22563  # max over I of (1 - exp(-2I)) / (4 sqrt(I)), at I = 0.628


def test_locality_bound_holds_on_a_grid():
    """The finding: for the Gaussian field (m_A = 1) the locality-gap bound
    Delta^2 <= 4 sqrt(I) / sigma^2 holds at every grid point, both paths, both masses,
    because Delta^2 = (1 - exp(-2I)) / Var(x_A | x_BC) and Var(x_A | x_BC) >= sigma^2; the
    ratio never exceeds 0.2256. Each side is checked against the module's independent dense /
    log-ratio implementations."""
    grids = {"linear": np.linspace(0.05, 0.95, 10), "vp": np.geomspace(0.01, 4.0, 8)}
    for mass in (1.0, 0.1):
        g = GaussianField(10, mass)
        for kind, ts in grids.items():
            for t in ts:
                for r in range(1, 5):
                    b = g.locality_bound(t, r, kind)
                    assert b.holds and b.gap_sq <= b.bound, b
                    assert 0 <= b.ratio < BOUND_CAP, b
                    assert b.path == kind and b.r == r and b.n_a == 1
                    # the left side: the dense quadratic form of locality_gap_sq
                    dense = g.locality_gap_sq(t, r, kind)
                    assert abs(b.gap_sq - dense) <= 1e-8 * dense + 1e-15, (b, dense)
                    # the CMI: the log-ratio of exact_cmi (resolved above its ~1e-16 floor)
                    lr = g.exact_cmi(t, r, kind)
                    assert abs(b.cmi - lr) <= 1e-7 * lr + 1e-14, (b, lr)
                    # the Gaussian identity, from independent pieces
                    v_b, v_bc = g.conditional_variance(t, r, kind)
                    assert abs(b.var_given_bc / v_bc - 1) < 1e-12
                    assert abs(b.var_given_b / v_b - 1) < 1e-12
                    if lr > 1e-10:
                        ident = -math.expm1(-2 * lr) / v_bc
                        assert abs(dense / ident - 1) < 1e-5, (dense, ident)
                    assert b.var_given_bc >= b.sigma**2 * (1 - 1e-12)
                    # so the ratio is at most sigma^2 / Var(x_A | x_BC) times the cap
                    assert b.ratio <= BOUND_CAP * b.sigma**2 / b.var_given_bc * (1 + 1e-9)


def test_locality_bound_edges():
    g = GaussianField(8, 0.5)
    with pytest.raises(ParameterError, match="sigma"):
        g.locality_bound(0.0, 1)  # sigma = 0: the bound's right side is undefined
    with pytest.raises(ParameterError, match=r"\[0, 3\]"):
        g.locality_bound(0.5, 4)
    b = g.locality_bound(1.0, 1)  # pure noise: both sides 0, the bound holds with equality
    assert b.gap_sq == 0.0 and b.cmi == 0.0 and b.holds and math.isnan(b.ratio)
    assert b.to_dict()["ratio"] is None
    b0 = g.locality_bound(0.5, 0)  # r = 0: B empty, the gap is the full neighbour information
    assert b0.holds and b0.cmi > g.locality_bound(0.5, 1).cmi
    # resolution: the quadratic forms follow the exponential decay far below the 1e-16 floor
    # of the log-ratio (L = 32, m = 1, t = 0.05: I(r) ~ 1e-5 ** r)
    big = GaussianField(32, 1.0)
    cmis = [big.locality_bound(0.05, r).cmi for r in (2, 3, 4)]
    assert 1e-13 < cmis[0] < 1e-10 and 1e-18 < cmis[1] < 1e-15 and 1e-23 < cmis[2] < 1e-20
    assert abs(big.exact_cmi(0.05, 4)) < 1e-15  # the log-ratio cannot see it
