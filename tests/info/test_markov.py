"""Markov-length fits: recovery and coverage on synthetic data, the window rule, the exact chain."""

import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.exact.noisy_chain import chain_cmi, chain_markov_length
from latticediff.info.markov import MarkovFit, fit_markov_length


def test_noiseless_exponential_is_recovered_exactly():
    r = np.arange(1, 9)
    fit = fit_markov_length(r, 0.4 * np.exp(-r / 2.3), np.zeros(8))
    assert fit.xi == pytest.approx(2.3, rel=1e-12)
    assert fit.amplitude == pytest.approx(0.4, rel=1e-12)
    assert fit.window == tuple(range(1, 9)) and fit.dof == 6 and not fit.weighted


def test_coverage_on_noisy_synthetic_data():
    """xi is unbiased and its error bar covers the truth at the nominal rate."""
    rng = np.random.default_rng(3)
    r = np.arange(1, 8)
    xi_true, gamma = 1.7, 0.2
    truth = gamma * np.exp(-r / xi_true)
    sig = 0.05 * truth + 2e-5  # relative and absolute noise
    pulls = []
    for _ in range(400):
        y = truth + sig * rng.standard_normal(r.size)
        fit = fit_markov_length(r, y, sig, snr=3.0)
        if fit.status == "ok":
            pulls.append((fit.xi - xi_true) / fit.xi_stderr)
    pulls = np.array(pulls)
    assert len(pulls) > 380
    assert abs(pulls.mean()) < 0.2
    # the Birge scaling only inflates errors: coverage >= nominal, but not grossly
    assert 0.85 < pulls.std() < 1.15
    assert np.mean(np.abs(pulls) < 2) > 0.93


def test_window_rule_stops_at_first_failure_and_reports():
    r = [1, 2, 3, 4, 5, 6, 7]
    y = [0.1, 0.03, 0.01, 0.004, -0.0004, 0.002, 0.0001]
    s = [0.001] * 7
    fit = fit_markov_length(r, y, s, r_min=2)
    assert fit.window == (2, 3, 4)
    assert "r < r_min" in fit.excluded[1]
    assert "<= snr * stderr" in fit.excluded[5] or "<= 0" in fit.excluded[5]
    assert "beyond the first failing radius r = 5" in fit.excluded[6]
    assert set(fit.excluded) == {1, 5, 6, 7}
    # explicit window: negative values are excluded and reported, never clipped
    fit = fit_markov_length(r, y, s, window=(3, 6))
    assert fit.window == (3, 4, 6)
    assert "<= 0" in fit.excluded[5]
    assert "outside the window" in fit.excluded[1]


def test_no_fit_and_no_decay_are_reported():
    fit = fit_markov_length([1, 2, 3], [1e-4, -1e-4, 2e-4], [1e-3] * 3)
    assert math.isnan(fit.xi) and fit.status.startswith("no fit")
    assert fit.to_dict()["xi"] is None
    fit = fit_markov_length([1, 2, 3], [0.01, 0.02, 0.04], [1e-4] * 3)
    assert fit.xi == math.inf and fit.status.startswith("no decay")
    assert fit.to_dict()["xi"] == "inf"


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_exact_chain_cmi_gives_the_exact_markov_length(p):
    K = 1.0
    r = list(range(3, 9))
    cmi = [chain_cmi(K, p, k, R_max=10) for k in r]
    fit = fit_markov_length(r, cmi, [0.0] * len(r))
    assert fit.window == tuple(r)
    assert fit.xi == pytest.approx(chain_markov_length(K, p), rel=0.01)


def test_result_type_and_errors():
    fit = fit_markov_length([1, 2, 3], [0.1, 0.04, 0.015], [0.001] * 3)
    assert isinstance(fit, MarkovFit)
    d = fit.to_dict()
    assert d["window"] == [1, 2, 3] and d["dof"] == 1 and "rule" in d
    with pytest.raises(ParameterError, match="same non-zero length"):
        fit_markov_length([1, 2], [0.1], [0.1])
    with pytest.raises(ParameterError, match="mixture"):
        fit_markov_length([1, 2, 3], [0.1, 0.05, 0.02], [0.0, 0.01, 0.01])
    with pytest.raises(ParameterError, match="distinct integers"):
        fit_markov_length([1, 1, 2], [0.1, 0.05, 0.02], [0.01] * 3)
    with pytest.raises(ParameterError, match="finite"):
        fit_markov_length([1, 2, 3], [0.1, math.nan, 0.02], [0.01] * 3)
