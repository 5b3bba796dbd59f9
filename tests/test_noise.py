"""Forward processes: exact marginals, composition laws, exact reverse posteriors, validation.

Statistical checks use fixed seeds and 4-sigma tolerances with sigma from the binomial or
Gaussian sampling error of independent draws (all draws here are i.i.d.).
"""

import math

import numpy as np
import pytest
from scipy.linalg import expm

from latticediff.errors import ParameterError
from latticediff.noise import BitFlip, GaussianPath, UniformResample, process_from_dict

Z = 4.0  # tolerance in standard errors


def _binom_ok(k, n, p):
    se = math.sqrt(p * (1 - p) / n)
    return abs(k / n - p) <= Z * se + 1e-12


# ---------------------------------------------------------------------------------------------
# bit flips


def test_bitflip_schedule_roundtrip():
    bf = BitFlip(gamma=0.7)
    t = np.array([0.0, 1e-9, 0.01, 0.3, 2.0, 10.0])
    p = bf.p(t)
    assert p[0] == 0.0 and np.all(np.diff(p) > 0) and np.all(p < 0.5)
    np.testing.assert_allclose(p, -0.5 * np.expm1(-1.4 * t), rtol=1e-12)
    np.testing.assert_allclose(bf.t_of_p(p[:-1]), t[:-1], rtol=1e-9)
    np.testing.assert_allclose(bf.snr(t), (1 - 2 * p) ** 2, rtol=1e-9)
    np.testing.assert_allclose(bf.t_of_snr(bf.snr(t[:-1])), t[:-1], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(bf.time_feature(t), 2 * p, rtol=1e-12)
    assert bf.p(math.inf) == 0.5 and bf.t_of_p(0.5) == math.inf
    assert isinstance(bf.p(0.2), float)
    # the Nishimori point of the loop gas quoted in DESIGN.md: gamma t_c = 0.1232 <-> p_c = 0.1092
    assert abs(BitFlip(gamma=1.0).p(0.1232) - 0.1092) < 2e-4


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_bitflip_empirical_flip_rate(dtype):
    bf = BitFlip(gamma=1.3)
    rng = np.random.default_rng(11)
    vals = np.array([-1, 1], np.int8) if dtype == np.int8 else np.array([0, 1], np.uint8)
    x0 = rng.choice(vals, size=(50, 2, 100, 100)).astype(dtype)
    for t in (0.01, 0.1, 0.5, 3.0):
        xt = bf.sample(x0, t, rng)
        assert xt.dtype == dtype and xt.shape == x0.shape
        assert set(np.unique(xt)) <= set(vals.tolist())
        k = int((xt != x0).sum())
        assert _binom_ok(k, x0.size, bf.p(t)), (t, k / x0.size, bf.p(t))
    assert np.array_equal(bf.sample(x0, 0.0, rng), x0)


def test_bitflip_per_sample_t_broadcast():
    bf = BitFlip()
    rng = np.random.default_rng(5)
    x0 = np.ones((4, 1, 300, 300), np.int8)
    t = np.array([0.0, 0.05, 0.3, 2.0])
    xt = bf.sample(x0, t, rng)
    for i in range(4):
        k = int((xt[i] != 1).sum())
        assert _binom_ok(k, xt[i].size, bf.p(t[i])), (i, k)
    # also one value per (sample, channel)
    assert bf.sample(np.ones((3, 2, 5), np.int8), np.zeros((3, 2)), rng).shape == (3, 2, 5)
    with pytest.raises(ParameterError, match="prefix of the data shape"):
        bf.sample(x0, np.zeros(3), rng)


def test_bitflip_composition_law():
    """Noising to s and then s -> t equals noising to t: (1-2p_t) = (1-2p_s)(1-2p_{t|s})."""
    bf = BitFlip(gamma=0.9)
    rng = np.random.default_rng(2)
    x0 = np.ones((40, 1, 160, 160), np.int8)
    for s, t in [(0.05, 0.2), (0.3, 0.31), (0.5, 2.5)]:
        xs = bf.sample(x0, s, rng)
        xt = bf.sample_transition(xs, s, t, rng)
        n = x0.size
        assert _binom_ok(int((xt != x0).sum()), n, bf.p(t))
        p_ts = 0.5 * (1 - (1 - 2 * bf.p(t)) / (1 - 2 * bf.p(s)))
        assert _binom_ok(int((xt != xs).sum()), n, p_ts)
        # the flips s -> t are independent of the flips 0 -> s (chi-square on the 2x2 table)
        a, b = (xs != x0).ravel(), (xt != xs).ravel()
        table = np.array([[np.sum(~a & ~b), np.sum(~a & b)], [np.sum(a & ~b), np.sum(a & b)]])
        expect = np.outer(table.sum(1), table.sum(0)) / n
        chi2 = float(((table - expect) ** 2 / expect).sum())
        assert chi2 < 16.0  # 1 dof: P(chi2 > 16) = 6e-5
    with pytest.raises(ParameterError, match="t >= s"):
        bf.sample_transition(x0, 0.5, 0.4, rng)


def _generator_matrix(proc):
    """Rate matrix of the CTMC, written from the process definitions (not from noise.py)."""
    if isinstance(proc, BitFlip):
        return proc.gamma * np.array([[-1.0, 1.0], [1.0, -1.0]])  # flip at rate gamma
    q = proc.q
    return proc.gamma * (np.ones((q, q)) / q - np.eye(q))  # resample at rate gamma


def _brute_posterior(proc, prior, y, t, s, P_hat=None):
    """p(x_s | x_t = y) by enumerating x0, x_s with transition matrices exp(Q t)."""
    Q = _generator_matrix(proc)
    Ms = expm(Q * s)
    Mts = expm(Q * (t - s)) if np.isfinite(t) else np.full_like(Q, 1.0 / len(Q))
    joint = prior[:, None, None] * Ms[:, :, None] * Mts[None, :, :]  # (x0, x_s, x_t)
    cond = joint[:, :, y]  # (x0, x_s) with x_t = y
    post_x0 = cond.sum(1) / cond.sum()
    q_s_given_t_x0 = cond / cond.sum(1, keepdims=True)
    if P_hat is None:
        return post_x0, cond.sum(0) / cond.sum()
    return post_x0, P_hat @ q_s_given_t_x0


@pytest.mark.parametrize(
    "proc", [BitFlip(gamma=0.6), UniformResample(q=3, gamma=1.1), UniformResample(q=4, gamma=0.4)]
)
@pytest.mark.parametrize("t,s", [(0.3, 0.1), (1.0, 0.0), (0.02, 0.01), (2.0, 1.9), (np.inf, 0.7)])
def test_posterior_step_matches_bayes(proc, t, s):
    rng = np.random.default_rng(3)
    K = proc.n_classes
    for _ in range(3):
        prior = rng.dirichlet(np.ones(K))
        for y in range(K):
            post_x0, exact = _brute_posterior(proc, prior, y, t, s)
            x_t = proc.from_index(np.array([y]), np.uint8 if K > 2 else np.int8)
            got = proc.posterior_step(x_t, post_x0[None, :], t, s)[0]
            np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-14)
            # an arbitrary (wrong) denoiser prediction: the D3PM marginalisation of q(x_s|x_t,x0)
            P_hat = rng.dirichlet(np.ones(K))
            _, mix = _brute_posterior(proc, prior, y, t, s, P_hat)
            got = proc.posterior_step(x_t, P_hat[None, :], t, s)[0]
            np.testing.assert_allclose(got, mix, rtol=1e-10, atol=1e-14)


def test_posterior_step_axis_shapes_and_s0():
    bf = BitFlip()
    rng = np.random.default_rng(0)
    x_t = rng.choice(np.array([0, 1], np.uint8), size=(3, 2, 5, 5))
    P = rng.dirichlet([1, 1], size=(3, 2, 5, 5))
    post = bf.posterior_step(x_t, P, 0.4, 0.1)
    assert post.shape == P.shape
    np.testing.assert_allclose(post.sum(-1), 1.0, rtol=1e-12)
    post1 = bf.posterior_step(x_t, np.moveaxis(P, -1, 1), 0.4, 0.1, axis=1)
    np.testing.assert_allclose(np.moveaxis(post1, 1, -1), post, rtol=1e-14)
    np.testing.assert_allclose(bf.posterior_step(x_t, P, 0.4, 0.0), P, rtol=1e-12)
    # per-sample t and s
    post2 = bf.posterior_step(x_t, P, np.array([0.4, 0.4, 0.4]), np.array([0.1, 0.1, 0.1]))
    np.testing.assert_allclose(post2, post, rtol=1e-14)


def test_sample_posterior_frequencies():
    ur = UniformResample(q=3, gamma=1.0)
    rng = np.random.default_rng(9)
    n = 200_000
    x_t = np.full(n, 2, np.uint8)
    P = np.tile([0.2, 0.5, 0.3], (n, 1))
    post = ur.posterior_step(x_t[:1], P[:1], 0.8, 0.3)[0]
    xs = ur.sample_posterior(x_t, P, 0.8, 0.3, rng)
    assert xs.dtype == np.uint8
    counts = np.bincount(xs, minlength=3)
    chi2 = float(((counts - n * post) ** 2 / (n * post)).sum())
    assert chi2 < 21.0  # 2 dof: P(chi2 > 21) = 3e-5
    bf = BitFlip()
    s = bf.sample_posterior(np.ones(10, np.int8), np.tile([0.0, 1.0], (10, 1)), 1.0, 0.0, rng)
    assert np.array_equal(s, np.ones(10, np.int8))  # P(x0 = +1) = 1 at s = 0


def test_uniform_resample_marginal_and_composition():
    ur = UniformResample(q=4, gamma=0.8)
    rng = np.random.default_rng(4)
    x0 = np.zeros((40, 1, 128, 128), np.uint8)
    n = x0.size
    for s, t in [(0.1, 0.4), (0.6, 2.0)]:
        xs = ur.sample(x0, s, rng)
        xt = ur.sample_transition(xs, s, t, rng)
        for x, tau in [(xs, s), (xt, t)]:
            u = math.exp(-0.8 * tau)
            probs = np.array([u + (1 - u) / 4] + [(1 - u) / 4] * 3)
            counts = np.bincount(x.ravel(), minlength=4)
            chi2 = float(((counts - n * probs) ** 2 / (n * probs)).sum())
            assert chi2 < 25.0, (tau, chi2)  # 3 dof: P(chi2 > 25) = 2e-5
    assert abs(ur.p_resample(ur.t_of_p_resample(0.3)) - 0.3) < 1e-14
    assert ur.sample_prior((5, 6), rng).dtype == np.uint8


def test_discrete_validation():
    rng = np.random.default_rng(0)
    for bad in (0, -1.0, math.nan, math.inf, "1", True):
        with pytest.raises(ParameterError, match="gamma"):
            BitFlip(gamma=bad)
    for bad in (1, 0, 257, 2.0):
        with pytest.raises(ParameterError, match="q must be"):
            UniformResample(q=bad)
    bf = BitFlip()
    with pytest.raises(ParameterError, match=r"t must be in \[0.0, inf\], got -0.1"):
        bf.sample(np.ones(3, np.int8), -0.1, rng)
    with pytest.raises(ParameterError, match="got nan"):
        bf.p(math.nan)
    with pytest.raises(ParameterError, match="must be -1 or \\+1, got 0"):
        bf.sample(np.zeros(3, np.int8), 0.1, rng)
    with pytest.raises(ParameterError, match="bits must be 0 or 1, got 2"):
        bf.sample(np.array([0, 2], np.uint8), 0.1, rng)
    with pytest.raises(ParameterError, match="dtype float64"):
        bf.sample(np.ones(3), 0.1, rng)
    with pytest.raises(ParameterError, match="numpy.random.Generator"):
        bf.sample(np.ones(3, np.int8), 0.1, 42)
    with pytest.raises(ParameterError, match=r"p must be in \[0.0, 0.5\]"):
        bf.t_of_p(0.6)
    x = np.ones(2, np.int8)
    with pytest.raises(ParameterError, match="s < t"):
        bf.posterior_step(x, np.full((2, 2), 0.5), 0.3, 0.3)
    with pytest.raises(ParameterError, match="sum to 1"):
        bf.posterior_step(x, np.full((2, 2), 0.6), 0.3, 0.1)
    with pytest.raises(ParameterError, match="class axis of length 2"):
        bf.posterior_step(x, np.full((2, 3), 1 / 3), 0.3, 0.1)
    with pytest.raises(ParameterError, match="values must be in \\[0, 2\\]"):
        UniformResample(q=3).sample(np.array([3], np.uint8), 0.1, rng)
    with pytest.raises(ParameterError, match="pass dtype"):
        bf.sample_prior((3,), rng)


def test_process_roundtrip_dict():
    for p in (
        BitFlip(gamma=2.0),
        UniformResample(q=5, gamma=0.3),
        GaussianPath("linear"),
        GaussianPath("vp", t_max=3.0),
        GaussianPath("ve", schedule="geometric", sigma_max=20.0, sigma_min=0.01),
    ):
        assert process_from_dict(p.to_dict()) == p


# ---------------------------------------------------------------------------------------------
# Gaussian paths

PATHS = [
    GaussianPath("linear"),
    GaussianPath("vp"),
    GaussianPath("ve", sigma_max=5.0),
    GaussianPath("ve", schedule="geometric", sigma_max=10.0, sigma_min=0.05),
]


def test_gaussian_schedules():
    g = GaussianPath("linear")
    assert g.alpha(0.3) == 0.7 and g.sigma(0.3) == 0.3 and g.t_max == 1.0
    v = GaussianPath("vp")
    assert abs(v.alpha(1.0) - math.exp(-1)) < 1e-15
    assert abs(v.alpha(1.0) ** 2 + v.sigma(1.0) ** 2 - 1) < 1e-14
    e = GaussianPath("ve", sigma_max=5.0)
    assert e.alpha(0.5) == 1.0 and e.sigma(0.5) == 2.5
    geo = PATHS[3]
    assert geo.sigma(0.0) == 0.0 and abs(geo.sigma(1.0) - 10.0) < 1e-12
    assert abs(geo.sigma(0.5) - math.sqrt(0.5)) < 1e-12
    for p in PATHS:
        t = np.linspace(0.05, 0.95, 7) * p.t_max
        np.testing.assert_allclose(p.t_of_snr(p.snr(t)), t, rtol=1e-10)
        assert p.t_of_snr(math.inf) == 0.0
        tf = p.time_feature(t)
        assert np.all(np.diff(tf) > 0) and np.all((tf > 0) & (tf < 1))
        # derivatives against central finite differences
        h = 1e-6
        np.testing.assert_allclose(
            p.d_alpha(t), (p.alpha(t + h) - p.alpha(t - h)) / 2 / h, rtol=1e-6, atol=1e-8
        )
        np.testing.assert_allclose(
            p.d_sigma(t), (p.sigma(t + h) - p.sigma(t - h)) / 2 / h, rtol=1e-6
        )
    np.testing.assert_allclose(g.time_feature([0.0, 0.4, 1.0]), [0.0, 0.4, 1.0])


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.kind}-{p.schedule}")
def test_gaussian_moments(path):
    rng = np.random.default_rng(7)
    n = 200_000
    x0 = np.full(n, 0.7)
    for t in (0.1, 0.5, 0.9):
        t = t * path.t_max
        xt, z = path.sample(x0, t, rng)
        a, s = path.alpha(t), path.sigma(t)
        np.testing.assert_allclose(xt, a * x0 + s * z, rtol=1e-12)
        assert abs(xt.mean() - a * 0.7) < Z * s / math.sqrt(n)
        assert abs(xt.var() / s**2 - 1) < Z * math.sqrt(2 / n)
        # composition: x0 -> s -> t has the x0 -> t marginal
        xs, _ = path.sample(x0, 0.5 * t, rng)
        xt2 = path.sample_transition(xs, 0.5 * t, t, rng)
        assert abs(xt2.mean() - a * 0.7) < Z * s / math.sqrt(n)
        assert abs(xt2.var() / s**2 - 1) < Z * math.sqrt(2 / n)
    x32, z32 = path.sample(np.zeros((2, 3), np.float32), 0.5 * path.t_max, rng)
    assert x32.dtype == np.float32 and z32.dtype == np.float32


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.kind}-{p.schedule}")
def test_gaussian_conversions(path):
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, 1, 4, 4))
    t = np.array([0.2, 0.5, 0.8]) * path.t_max
    xt, z = path.sample(x0, t, rng)
    np.testing.assert_allclose(path.x0_from_eps(xt, z, t), x0, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(path.eps_from_x0(xt, x0, t), z, rtol=1e-9, atol=1e-9)
    v = path.v_target(x0, z, t)
    np.testing.assert_allclose(path.x0_from_v(xt, v, t), x0, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(path.eps_from_v(xt, v, t), z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(path.v_from_x0(xt, x0, t), v, rtol=1e-9, atol=1e-9)
    for pred, target in (("x0", x0), ("eps", z), ("v", v)):
        np.testing.assert_allclose(path.target(pred, x0, z, t), target)
        np.testing.assert_allclose(path.to_x0(pred, target, xt, t), x0, rtol=1e-9, atol=1e-9)
    # v is the time derivative of the path at fixed (x0, z)
    h = 1e-6
    tt = t[:, None, None, None]
    xp = path.alpha(tt + h) * x0 + path.sigma(tt + h) * z
    xm = path.alpha(tt - h) * x0 + path.sigma(tt - h) * z
    np.testing.assert_allclose(v, (xp - xm) / (2 * h), rtol=1e-5, atol=1e-6)
    if path.kind == "linear":
        np.testing.assert_allclose(v, z - x0)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.kind}-{p.schedule}")
def test_steps_recover_x0_with_exact_prediction(path):
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((2, 1, 5, 5))
    t, s = 0.8 * path.t_max, 0.3 * path.t_max
    xt, z = path.sample(x0, t, rng)
    # Euler/DDIM with the exact x0 lands on the same noise realisation at s, and on x0 at s = 0
    xs = path.euler_step(xt, x0, t, s)
    np.testing.assert_allclose(xs, path.alpha(s) * x0 + path.sigma(s) * z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(path.euler_step(xt, x0, t, 0.0), x0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(path.ddpm_step(xt, x0, t, 0.0, rng), x0, rtol=1e-9, atol=1e-12)
    # no noise at all: x_t = alpha_t x0 -> both steps give alpha_s x0 (DDPM: as its mean)
    xt0 = path.alpha(t) * x0
    np.testing.assert_allclose(path.euler_step(xt0, x0, t, s), path.alpha(s) * x0, rtol=1e-9)
    mean, _ = path.posterior_mean_var(xt0, x0, t, s)
    np.testing.assert_allclose(mean, path.alpha(s) * x0, rtol=1e-9, atol=1e-12)
    if path.kind == "linear":  # Euler in t on the velocity
        v = path.v_from_x0(xt, x0, t)
        np.testing.assert_allclose(path.euler_step(xt, x0, t, s), xt + (s - t) * v, rtol=1e-9)
    with pytest.raises(ParameterError, match="s < t"):
        path.euler_step(xt, x0, s, t)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.kind}-{p.schedule}")
def test_ddpm_posterior_vs_monte_carlo(path):
    """Regress x_s on x_t over forward-simulated pairs (x0 fixed): slope, intercept and residual
    variance are the posterior mean coefficients and variance; then check ddpm_step's draws."""
    rng = np.random.default_rng(8)
    n = 400_000
    x0v = 0.6
    t, s = 0.7 * path.t_max, 0.35 * path.t_max
    xs, _ = path.sample(np.full(n, x0v), s, rng)
    xt = path.sample_transition(xs, s, t, rng)
    slope, intercept = np.polyfit(xt, xs, 1)
    resid = xs - (slope * xt + intercept)
    # posterior mean is linear in x_t: mean(x_t) = c1 x_t + c0
    m0, var = path.posterior_mean_var(np.array([0.0]), x0v, t, s)
    m1, _ = path.posterior_mean_var(np.array([1.0]), x0v, t, s)
    c1, c0 = float(m1[0] - m0[0]), float(m0[0])
    var = float(var[0])
    sd_xt = float(xt.std())
    assert abs(slope - c1) < Z * math.sqrt(var / n) / sd_xt
    assert abs(resid.var() / var - 1) < Z * math.sqrt(2 / n)
    assert abs((intercept + slope * xt.mean()) - (c0 + c1 * xt.mean())) < Z * math.sqrt(var / n)
    # ddpm_step draws from N(mean, var)
    y = 0.3
    draws = path.ddpm_step(np.full(n, y), np.full(n, x0v), t, s, rng)
    mean = c0 + c1 * y
    assert abs(draws.mean() - mean) < Z * math.sqrt(var / n)
    assert abs(draws.var() / var - 1) < Z * math.sqrt(2 / n)


def test_gaussian_validation():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match="kind must be one of"):
        GaussianPath("cosine")
    with pytest.raises(ParameterError, match="sigma_min is only used by schedule='geometric'"):
        GaussianPath("ve", sigma_min=0.1)
    with pytest.raises(ParameterError, match="sigma_min must be < sigma_max"):
        GaussianPath("ve", schedule="geometric", sigma_max=1.0, sigma_min=2.0)
    with pytest.raises(ParameterError, match="t_max is fixed to 1"):
        GaussianPath("linear", t_max=2.0)
    with pytest.raises(ParameterError, match=r"t must be in \[0.0, 1.0\], got 1.5"):
        GaussianPath("linear").sample(np.zeros(3), 1.5, rng)
    with pytest.raises(ParameterError, match="alpha"):
        GaussianPath("linear").x0_from_eps(np.zeros(3), np.zeros(3), 1.0)
    with pytest.raises(ParameterError, match="sigma"):
        GaussianPath("linear").eps_from_x0(np.zeros(3), np.zeros(3), 0.0)
    with pytest.raises(ParameterError, match="prediction must be one of"):
        GaussianPath("linear").target("score", 0.0, 0.0, 0.5)
    with pytest.raises(ParameterError, match="snr must be reachable"):
        GaussianPath("vp", t_max=1.0).t_of_snr(1e-6)
    with pytest.raises(ParameterError, match="real numbers"):
        GaussianPath("linear").sample(np.array(["a"]), 0.5, rng)
