"""The neural CMI estimator for continuous data, validated against the exact Gaussian field."""

import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.exact.gaussian_field import GaussianField
from latticediff.info.neural_continuous import (
    _geometry,
    neural_cmi_continuous,
    neural_cmi_continuous_profile,
)
from latticediff.noise import GaussianPath

# linear-Gaussian conditionals (K = 1, no MLP) are exact for the Gaussian field
GAUSS = {"depth": 0, "n_components": 1, "lr": 0.01, "batch": 2048, "threads": 1}


def _noisy_field(L, mass, t, n, seed):
    g = GaussianField(L, mass)
    x0 = g.sample(n, seed=seed)
    xt, _ = GaussianPath("linear").sample(x0, t, np.random.default_rng(seed + 1))
    return g, xt


def test_geometry_periodic_and_open():
    centres, idx, dist = _geometry((5, 5), True, None, None)
    assert idx.shape == (25, 24) and centres.tolist() == list(range(25))
    for v in range(25):  # every other site exactly once, never A
        assert sorted(idx[v].tolist() + [v]) == list(range(25))
    assert (np.diff(dist) >= 0).all() and (dist <= 1).sum() == 8 and (dist <= 2).sum() == 24
    _, idx, dist = _geometry((8, 8), True, None, None)  # even L: the whole torus once
    assert sorted(idx[0].tolist()) == list(range(1, 64))
    _, idx, dist = _geometry((28, 28), False, (14, 14), None)
    assert idx.shape == (1, 783) and 14 * 28 + 14 not in idx[0]
    assert (dist <= 12).sum() == 624 and (dist <= 1).sum() == 8
    _, idx, dist = _geometry((28, 28), False, (0, 0), 2)  # clipped at the corner
    assert (dist <= 1).sum() == 3 and idx.shape[1] == 8


def test_near_model_sees_only_the_shell():
    """The radius-r model's inputs are exactly the shell: the first n_r window columns."""
    _, idx, dist = _geometry((9, 9), True, None, None)
    L = 9
    for r in (1, 2, 3):
        cols = idx[40, : int((dist <= r).sum())]
        y, x = np.divmod(cols, L)
        d = np.maximum(np.abs(y - 4), np.abs(x - 4))
        assert d.min() == 1 and d.max() == r and len(cols) == (2 * r + 1) ** 2 - 1


def test_matches_exact_gaussian_field():
    """Near-critical field, t = 0.5, r = 1: within 3 sigma of the exact CMI (0.0173 nats)."""
    g, xt = _noisy_field(8, 0.1, 0.5, 1000, seed=21)
    e = neural_cmi_continuous(xt, radius=1, steps=600, seed=0, **GAUSS)
    exact = g.exact_cmi(0.5, 1)
    assert 0.015 < exact < 0.02
    assert e.stderr < 0.2 * exact
    assert abs(e.value - exact) < 3 * e.stderr, (e.value, e.stderr, exact)
    # the two entropies are upper bounds of the exact conditional entropies, up to noise
    vb, vbc = g.conditional_variance(0.5, 1)
    h_bc = 0.5 * np.log(2 * np.pi * np.e * vbc)
    d = e.details
    assert d["h_A_given_BC"] > h_bc - 4 * d["h_A_given_BC_stderr"]
    assert d["h_A_given_BC"] - h_bc < 0.02


def test_null_iid_data():
    """i.i.d. pixels: CMI = 0. The held-out estimate is not clipped and sits at minus the
    expected overfitting excess of the far model, (n_far - n_B) / N_train nats for linear-Gaussian
    fits (2 fitted outputs per input, each costing 1/(2N)); the in/out mean cancels it."""
    x = np.random.default_rng(3).standard_normal((600, 1, 7, 7))
    es = neural_cmi_continuous_profile(x, radii=[1, 2], steps=600, seed=0, **GAUSS)
    d = es[0].details
    assert d["n_test"] == 180 and d["examples_per_sample"] == 49
    n_train = d["n_train"] * 49
    for e in es:
        bias = (e.details["sites"]["far"] - e.details["sites"]["B"]) / n_train
        assert abs(e.value + bias) < 4 * e.stderr, (e.value, bias, e.stderr)
        assert abs(e.details["value_mean_in_out"]) < 4 * e.stderr, e.details["value_mean_in_out"]


def test_groups_and_open_boundary():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 1, 9, 9))
    x = np.repeat(base, 2, axis=0) + 0.1 * rng.standard_normal((400, 1, 9, 9))
    groups = np.repeat(np.arange(200), 2)
    es = neural_cmi_continuous_profile(
        x.astype(np.float32), radii=[1, 3], periodic=False, groups=groups, steps=30, depth=1,
        hidden=8, n_components=2, seed=0,
    )  # fmt: skip
    d = es[0].details
    assert d["bootstrap_units"] == 60 and d["n_test"] == 120 and d["examples_per_sample"] == 1
    assert d["sites"] == {"B": 8, "far": 80} and es[1].details["sites"]["B"] == 48
    assert d["center"] == [4, 4]


def test_deterministic():
    _, xt = _noisy_field(6, 0.5, 0.3, 150, seed=2)
    a = neural_cmi_continuous(xt, radius=1, steps=40, seed=5, hidden=8, depth=1)
    b = neural_cmi_continuous(xt, radius=1, steps=40, seed=5, hidden=8, depth=1)
    assert a.value == b.value and a.stderr == b.stderr


def test_parameter_errors():
    x = np.zeros((50, 1, 6, 6), np.float32) + np.random.default_rng(0).random((50, 1, 6, 6))
    with pytest.raises(ParameterError, match="float"):
        neural_cmi_continuous(np.ones((10, 1, 6, 6), np.int8), radius=1)
    with pytest.raises(ParameterError, match="<= 2"):
        neural_cmi_continuous(x, radius=3)
    with pytest.raises(ParameterError, match="one channel"):
        neural_cmi_continuous(np.zeros((10, 2, 6, 6)), radius=1)
    with pytest.raises(ParameterError, match="far_radius"):
        neural_cmi_continuous(x, radius=2, far_radius=2)
    with pytest.raises(ParameterError, match="steps"):
        neural_cmi_continuous(x, radius=1, steps=0)
    with pytest.raises(ParameterError, match="center"):
        neural_cmi_continuous(x, radius=1, periodic=False, center=(6, 0))
    with pytest.raises(ParameterError, match="test_fraction"):
        neural_cmi_continuous(x, radius=1, test_fraction=1.0)


GRID = [(m, t, r) for m in (0.5, 0.1) for t in (0.2, 0.5) for r in (1, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("mass,t", [(0.5, 0.2), (0.5, 0.5), (0.1, 0.2), (0.1, 0.5)])
def test_grid_against_exact(mass, t):
    """L = 8, masses 0.5 and 0.1 (near-critical), t in {0.2, 0.5}, r in {1, 2}: within 3 sigma."""
    g, xt = _noisy_field(8, mass, t, 2000, seed=31)
    es = neural_cmi_continuous_profile(xt, radii=[1, 2], steps=1500, seed=1, **GAUSS)
    for e in es:
        exact = g.exact_cmi(t, e.radius)
        # error budget: bootstrap stderr and the estimated first-order fitting bias
        fit_bias = e.details["value_mean_in_out"] - e.value
        sigma = math.hypot(e.stderr, fit_bias)
        assert abs(e.value - exact) < 3 * sigma, (mass, t, e.radius, e.value, sigma, exact)
        assert abs(e.details["value_mean_in_out"] - exact) < 3 * sigma


@pytest.mark.slow
def test_t0_markov_is_zero():
    """Clean field (t = 0): the Markov property makes I = 0 for r >= 1."""
    _, x0 = _noisy_field(8, 0.3, 0.0, 2000, seed=41)
    for e in neural_cmi_continuous_profile(x0, radii=[1, 2], steps=1500, seed=2, **GAUSS):
        sigma = math.hypot(e.stderr, e.details["value_mean_in_out"] - e.value)
        assert abs(e.value) < 3 * sigma, e


def _linear_noise(t):
    def f(x, rng):
        return (1 - t) * x + t * rng.standard_normal(x.shape)

    return f


def test_fresh_noise_option():
    g = GaussianField(6, 0.5)
    x0 = g.sample(120, seed=4)
    e = neural_cmi_continuous(
        x0, radius=1, noise=_linear_noise(0.5), eval_draws=3, steps=30, hidden=8, depth=1
    )
    assert e.details["n_test"] == 36 and np.isfinite(e.value)
    with pytest.raises(ParameterError, match="noise must return"):
        neural_cmi_continuous(x0, radius=1, noise=lambda x, rng: x[:, :2], steps=5)


@pytest.mark.slow
def test_fresh_noise_matches_exact():
    """Clean samples + noise drawn afresh per minibatch: within 3 sigma of the exact CMI."""
    g = GaussianField(8, 0.1)
    x0 = g.sample(1500, seed=51)
    e = neural_cmi_continuous(
        x0, radius=1, noise=_linear_noise(0.5), eval_draws=2, steps=800, seed=0, **GAUSS
    )
    exact = g.exact_cmi(0.5, 1)
    sigma = math.hypot(e.stderr, e.details["value_mean_in_out"] - e.value)
    assert abs(e.value - exact) < 3 * sigma, (e.value, sigma, exact)


def test_far_summary_lower_bound_gaussian_and_iid_null():
    """``far_summary=k``: the far predictor sees B plus k principal-component features of C, as
    a zero-initialised correction of the shell predictor. Gaussian field (L = 8, near-critical,
    t = 0.5): a lower bound of the exact CMI and, with k = 8 of the 55 C sites, within 3 sigma of
    it at r = 1; i.i.d. data: ~0 (no negative bias from a 60-input far model)."""
    g, xt = _noisy_field(8, 0.1, 0.5, 1000, seed=21)
    es = neural_cmi_continuous_profile(xt, radii=[1, 2], steps=400, seed=0, far_summary=8, **GAUSS)
    for e in es:
        exact = g.exact_cmi(0.5, e.radius)
        assert e.details["sites"]["far"] == e.details["sites"]["B"] + 8
        assert e.details["far_summary"]["k"] == 8
        assert e.value < exact + 3 * e.stderr + 1e-4, (e.radius, e.value, e.stderr, exact)
    e1 = es[0]
    assert abs(e1.value - g.exact_cmi(0.5, 1)) < 3 * e1.stderr, (e1.value, e1.stderr)
    x = np.random.default_rng(3).standard_normal((600, 1, 7, 7))
    for e in neural_cmi_continuous_profile(
        x, radii=[1, 2], steps=400, seed=0, far_summary=4, **GAUSS
    ):
        assert abs(e.value) < 3 * e.stderr + 1e-3, (e.radius, e.value, e.stderr)


# ---------------------------------------------------------------------------------------------
# fit="lstsq": the exact maximum-likelihood fit of the linear-Gaussian conditionals


def _ols_heldout_nll(x, train, test, cols, idx, centres):
    """Held-out Gaussian NLL per test sample (mean over its centres) of an OLS fit with the
    MLE variance, built from explicit design matrices (an independent route, original units)."""
    n = x.shape[0]
    flat = x.reshape(n, -1)

    def design(ids):
        X = flat[ids][:, idx[:, :cols]].reshape(-1, cols)
        return np.column_stack([np.ones(X.shape[0]), X]), flat[ids][:, centres].reshape(-1)

    Z, y = design(train)
    beta, *_ = np.linalg.lstsq(Z, y, rcond=None)
    var = np.mean((y - Z @ beta) ** 2)
    Zt, yt = design(test)
    nll = 0.5 * (yt - Zt @ beta) ** 2 / var + 0.5 * math.log(2 * math.pi * var)
    return nll.reshape(len(test), -1).mean(axis=1)


def test_lstsq_matches_explicit_least_squares():
    """Every mask's held-out entropy equals that of numpy's least squares on the same split."""
    g, xt = _noisy_field(6, 0.3, 0.4, 300, seed=51)
    es = neural_cmi_continuous_profile(xt, radii=[1, 2], fit="lstsq", depth=0, seed=0)
    centres, idx, dist = _geometry((6, 6), True, None, None)
    d = es[0].details
    n_test, n_val = d["n_test"], d["n_val"]
    test = np.arange(300 - n_test, 300)
    train = np.arange(300 - n_test - n_val)
    assert d["fit"] == "lstsq" and d["lstsq"]["rows"] == len(train) * 36
    far = _ols_heldout_nll(xt, train, test, idx.shape[1], idx, centres).mean()
    for e in es:
        cols = int((dist <= e.radius).sum())
        near = _ols_heldout_nll(xt, train, test, cols, idx, centres).mean()
        # float32 storage of the standardised data: agreement to ~1e-6 nats
        assert e.details["h_A_given_B"] == pytest.approx(near, abs=2e-5)
        assert e.details["h_A_given_BC"] == pytest.approx(far, abs=2e-5)
        assert e.value == pytest.approx(near - far, abs=2e-5)


@pytest.mark.parametrize("mass, t", [(0.1, 0.3), (1.0, 0.4)])
def test_lstsq_against_exact(mass, t):
    """The grid points where SGD's noise floor showed (CMI ~1e-5..1e-6 nats): with the exact
    fit, within 3 sigma of the exact I(r) - I(R) at L = 32. (At L = 16 with as many samples
    the far model's overfitting, ~ (extra parameters) / (training sites) = 56 / 2e5 nats, is
    several sigma: see ``details["value_mean_in_out"]`` for the first-order correction.)"""
    g, xt = _noisy_field(32, mass, t, 1500, seed=61)
    es = neural_cmi_continuous_profile(xt, radii=[1, 2, 3], far_radius=4, fit="lstsq", depth=0)
    path = GaussianPath("linear")
    for e in es:
        exact = g.exact_cmi(t, e.radius, path, far_radius=4)
        assert abs(e.value - exact) < 3 * e.stderr, (mass, t, e.radius, e.value, e.stderr, exact)


def test_lstsq_rejects_models_it_cannot_fit():
    x = np.random.default_rng(0).standard_normal((40, 5, 5))
    with pytest.raises(ParameterError, match="fit='lstsq' needs depth=0"):
        neural_cmi_continuous(x, radius=1, fit="lstsq", depth=1)
    with pytest.raises(ParameterError, match="fit='lstsq' needs"):
        neural_cmi_continuous(x, radius=1, fit="lstsq", depth=0, noise=lambda a, rng: a)
    with pytest.raises(ParameterError, match="fit must be 'sgd' or 'lstsq'"):
        neural_cmi_continuous(x, radius=1, fit="adam", depth=0)
