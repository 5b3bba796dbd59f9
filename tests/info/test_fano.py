"""The Fano bound on I(A:C|B) <= H(A|B): exact where A is a function of B, valid and reasonably
tight where it is not, and clear errors for bad input."""

import math

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.info.fano import (
    FanoBound,
    _clopper_pearson_upper,
    fano_cmi_bound,
    fano_entropy_bound,
)


@pytest.fixture(scope="module")
def clean_loopgas():
    return ld.run_mc(ld.LoopGas(L=16), n_samples=6000, seed=3, warn=False).samples


def _binary_entropy(q):
    return -q * math.log(q) - (1 - q) * math.log(1 - q)


def test_clean_loop_gas_has_no_error_and_the_closed_form_bound(clean_loopgas):
    b = fano_cmi_bound(clean_loopgas, radius=1, confidence=0.95, seed=1)
    assert (b.n_errors, b.n_unseen, b.n_test, b.n_values) == (0, 0, 3000, 4)
    assert b.details["error_rate_all_centres"] == 0.0
    pe = 1.0 - 0.05 ** (1.0 / 3000)
    assert b.error_rate_upper == pytest.approx(pe, rel=1e-12)
    assert b.upper == pytest.approx(_binary_entropy(pe) + pe * math.log(3), rel=1e-12)
    # (below 0.002 nats from ~30,000 held-out samples on: analysis/ising_markov/loopgas_fano.py)
    # radius 2 is nested: B_2 has 2^40 patterns, far more than 3000 samples see, so every
    # held-out pattern is new and the bound says nothing (it is not a smaller number)
    b2 = fano_cmi_bound(clean_loopgas, radius=2, seed=1)
    assert b2.n_unseen == b2.n_test and b2.upper == pytest.approx(math.log(4))


def test_bit_flips_break_the_function_and_the_bound_sees_it(clean_loopgas):
    rng = np.random.default_rng(0)
    y = clean_loopgas ^ (rng.random(clean_loopgas.shape) < 0.01).astype(np.uint8)
    b = fano_cmi_bound(y, radius=1, seed=1)
    # one flip among A's 2 edges and the 6 edges that fix them (16 of the shell) breaks the map
    assert b.n_errors > 50
    assert b.upper > 10 * fano_cmi_bound(clean_loopgas, radius=1, seed=1).upper


def test_markov_chain_error_rate_and_entropy_are_covered():
    # symmetric binary Markov chain, flip probability q: the MAP of s_0 from (s_-1, s_1) errs
    # with probability exactly q, and H(s_0 | s_-1, s_1) has the closed form below
    q, n, N = 0.02, 20000, 9
    rng = np.random.default_rng(5)
    s = np.cumsum(rng.random((n, N)) < q, axis=1) + rng.integers(0, 2, size=(n, 1))
    s = (s % 2).astype(np.uint8)
    b = fano_cmi_bound(s, radius=1, periodic=False, confidence=0.999, seed=2)
    sd = math.sqrt(q * (1 - q) / b.n_test)
    assert abs(b.n_errors / b.n_test - q) < 4 * sd
    assert q <= b.error_rate_upper < q + 5 * sd
    same = (1 - q) ** 2 + q**2
    exact_h = (1 - same) * math.log(2) + same * _binary_entropy(q**2 / same)
    # valid; Fano's worst case is loose here (the errors sit in 50/50 contexts) but no looser
    # than Fano at the true error rate allows
    assert exact_h <= fano_entropy_bound(q, 2) <= b.upper < fano_entropy_bound(q + 5 * sd, 2)


def test_clopper_pearson_matches_scipy():
    from scipy.stats import beta

    assert _clopper_pearson_upper(0, 500, 0.95) == pytest.approx(beta.ppf(0.95, 1, 500))
    assert _clopper_pearson_upper(7, 500, 0.9) == pytest.approx(beta.ppf(0.9, 8, 493))
    assert _clopper_pearson_upper(5, 5, 0.95) == 1.0


def test_fano_entropy_bound_limits():
    assert fano_entropy_bound(0.0, 2) == 0.0
    assert fano_entropy_bound(0.75, 4) == pytest.approx(math.log(4))
    assert fano_entropy_bound(0.9, 4) == pytest.approx(math.log(4))
    xs = np.linspace(0, 0.74, 50)
    assert np.all(np.diff([fano_entropy_bound(x, 4) for x in xs]) > 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"radius": -1}, "radius must be an integer >= 0"),
        ({"radius": 9}, "pattern spans 19 sites"),
        ({"confidence": 1.0}, "confidence must lie in"),
        ({"train_fraction": 0.0}, "train_fraction must lie in"),
        ({"block": 0}, "block must be an integer >= 1"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    x = np.zeros((10, 2, 8, 8), np.uint8)
    with pytest.raises(ParameterError, match=match):
        fano_cmi_bound(x, **kwargs)


def test_bad_samples_and_fields():
    with pytest.raises(ParameterError, match="integer or bool"):
        fano_cmi_bound(np.zeros((10, 8)), radius=1)
    with pytest.raises(ParameterError, match="empty"):
        fano_cmi_bound(np.zeros((1, 8), np.uint8), radius=1)
    with pytest.raises(ParameterError, match="n_values must be"):
        fano_entropy_bound(0.1, 1)
    with pytest.raises(ParameterError, match="n_unseen <= n_errors"):
        FanoBound(0.1, 0.95, 0.01, 1, 10, 2, 10, 4, 1)
