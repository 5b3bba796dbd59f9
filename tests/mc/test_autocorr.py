import numpy as np
import pytest

from latticediff.mc.autocorr import autocorrelation, binning_errors, mean_stderr, tau_int


def _ar1(phi, n, seed, chains=1):
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, n))
    noise = rng.normal(size=(chains, n))
    for i in range(1, n):
        x[:, i] = phi * x[:, i - 1] + noise[:, i]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_tau_int_of_ar1_process(phi):
    exact = (1 + phi) / (2 * (1 - phi))
    est = tau_int(_ar1(phi, 40_000, seed=1, chains=4))
    assert abs(est.tau - exact) < 4 * est.stderr + 0.02
    assert est.reliable


def test_mean_stderr_matches_spread_of_means():
    x = _ar1(0.8, 4000, seed=2, chains=200)
    spread = x.mean(axis=1).std(ddof=1)
    per_chain = np.array([mean_stderr(c) for c in x[:40]])
    assert abs(np.median(per_chain) / spread - 1) < 0.15


def test_binning_plateau_reflects_tau():
    x = _ar1(0.9, 2**16, seed=3)[0]
    sizes, err = binning_errors(x)
    tau_binning = 0.5 * (err[-3] / err[0]) ** 2
    assert abs(tau_binning - 9.5) < 3.0


def test_constant_series_is_not_an_error():
    rho = autocorrelation(np.ones(100))
    assert rho[0] == 1 and not rho[1:].any()
    assert tau_int(np.ones(100)).tau == 0.5
