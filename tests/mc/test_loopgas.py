"""Tests of the loop-gas samplers (latticediff.mc.loopgas).

Statistical tests use fixed seeds, so they are deterministic. Thresholds: chi-square p > 1e-3
(low-count bins pooled), means within 4 standard errors computed with tau_int
(latticediff.mc.autocorr); MCMC samples are thinned by >= tau_int, measured in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chisquare

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.mc import loopgas
from latticediff.mc._rng import Xoshiro256Reference, seed_states
from latticediff.mc.autocorr import mean_stderr, tau_int

P_MIN = 1e-3


def chi2_pvalue(observed: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Chi-square p-value, pooling every bin with expected count < min_expected into one."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = observed.sum() * np.asarray(probs, dtype=np.float64) / np.sum(probs)
    big = expected >= min_expected
    o, e = list(observed[big]), list(expected[big])
    if (~big).any():
        o_rest, e_rest = observed[~big].sum(), expected[~big].sum()
        if e_rest >= min_expected or not o:
            o.append(o_rest)
            e.append(e_rest)
        else:
            k = int(np.argmin(e))
            o[k] += o_rest
            e[k] += e_rest
    assert len(o) >= 2
    return float(chisquare(o, e).pvalue)


def all_loop_states(L: int) -> np.ndarray:
    """Every edge set of the L x L torus with all degrees even, by brute force over 2^(2 L^2)."""
    n = 2 * L * L
    idx = np.arange(2**n, dtype=np.int64)
    bits = ((idx[:, None] >> np.arange(n)) & 1).astype(np.uint8).reshape(-1, 2, L, L)
    return bits[ld.LoopGas(L=L).defects(bits) == 0]


def state_codes(b: np.ndarray) -> np.ndarray:
    flat = b.reshape(len(b), -1).astype(np.int64)
    return flat @ (1 << np.arange(flat.shape[1], dtype=np.int64))


def loop_distribution(L: int, x: float):
    states = all_loop_states(L)
    w = x ** states.reshape(len(states), -1).sum(axis=1).astype(float)
    return states, w / w.sum()


def histogram(states, samples):
    codes = state_codes(states)
    got = state_codes(samples)
    pos = np.searchsorted(codes, got)  # codes are increasing: states come out in index order
    assert (codes[np.minimum(pos, len(codes) - 1)] == got).all(), "sample is not a loop state"
    return np.bincount(pos, minlength=len(codes))


def brute_force_ising_energy(T: float, L: int) -> float:
    n = L * L
    idx = np.arange(2**n, dtype=np.int64)
    spins = (1 - 2 * ((idx[:, None] >> np.arange(n)) & 1)).astype(np.int8).reshape(-1, L, L)
    e = ld.Ising(L=L, T=T).energy(spins) * n
    w = np.exp(-(e - e.min()) / T)
    return float((w * e).sum() / w.sum() / n)


def occupation_from_ising(x: float, u: float) -> float:
    """High-temperature expansion: Z_Ising = 2^N cosh^{2N} K sum_loops x^|E| with x = tanh K.

    -N u = d ln Z / dK = 2N x + (1 - x^2) <|E|> / x, so <|E|> / (2N) = x (-u - 2x) / (2 (1 - x^2)).
    """
    return x * (-u - 2 * x) / (2 * (1 - x * x))


def run(model, method, *, seed, burn_in, n_samples, thin):
    rng = seed_states(seed, 1)[0]
    b = loopgas.init_state(model, method, rng)
    return loopgas.run_chain(model, method, b, rng, burn_in=burn_in, n_samples=n_samples, thin=thin)


def test_resolve_method_and_errors():
    assert loopgas.resolve_method(ld.LoopGas(L=4, x=1.0)) == "exact"
    assert loopgas.resolve_method(ld.LoopGas(L=4, x=0.3)) == "mcmc"
    assert loopgas.resolve_method(ld.LoopGas(L=4, x=1.0), "mcmc") == "mcmc"
    assert loopgas.is_iid(ld.LoopGas(L=4, x=1.0), "auto")
    assert not loopgas.is_iid(ld.LoopGas(L=4, x=1.0), "mcmc")
    with pytest.raises(ParameterError, match="x == 1.*got x=0.5"):
        loopgas.resolve_method(ld.LoopGas(L=4, x=0.5), "exact")
    with pytest.raises(ParameterError, match="'worm'.*'exact', 'mcmc'"):
        loopgas.resolve_method(ld.LoopGas(L=4, x=0.5), "worm")
    model = ld.LoopGas(L=3, x=0.5)
    bad = np.zeros(model.shape, np.uint8)
    bad[0, 0, 0] = 1
    with pytest.raises(ParameterError, match="odd-degree"):
        loopgas.run_chain(model, "mcmc", bad, seed_states(0, 1)[0], burn_in=0, n_samples=1, thin=1)


@pytest.mark.parametrize("L", [2, 3, 5, 9])
def test_exact_kernel_matches_reference(L):
    rng = seed_states(L, 1)[0]
    ref = Xoshiro256Reference(rng)
    b = np.empty((2, L, L), np.uint8)
    for _ in range(3):
        loopgas._exact_sample(b, rng, np.empty((L, L), np.uint8))
        np.testing.assert_array_equal(b, loopgas.exact_sample_reference(L, ref))
    assert [int(v) for v in rng] == ref.s


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("x", [0.3, 0.9, 1.0])
def test_mcmc_kernel_matches_reference(L, x):
    rng = seed_states([L, int(10 * x)], 1)[0]
    ref = Xoshiro256Reference(rng)
    a = loopgas.exact_sample_reference(L, Xoshiro256Reference(seed_states(99, 1)[0]))
    b = a.copy()
    pacc = loopgas.acceptance_table(x, L)
    for _ in range(3):
        assert loopgas._mcmc_sweep(a, rng, pacc) == loopgas.mcmc_sweep_reference(b, ref, x)
        np.testing.assert_array_equal(a, b)
    assert [int(v) for v in rng] == ref.s


@pytest.mark.parametrize(
    ("L", "x", "method"),
    [
        (2, 1.0, "exact"),
        (3, 1.0, "exact"),
        (5, 1.0, "exact"),
        (8, 1.0, "exact"),
        (2, 0.4, "mcmc"),
        (5, 0.7, "mcmc"),
        (8, 0.4, "mcmc"),
        (7, 1.0, "mcmc"),
    ],
)
def test_every_sample_is_closed_and_series_match(L, x, method):
    model = ld.LoopGas(L=L, x=x)
    b, e, occ, info = run(model, method, seed=L, burn_in=10, n_samples=2000, thin=1)
    assert b.dtype == np.uint8 and b.shape == (2000, 2, L, L) and b.max() <= 1
    assert (model.defects(b) == 0).all()
    n = len(e) - len(b)  # 0 for the exact sampler (i.i.d. series: one value per sample)
    assert n == (0 if method == "exact" else 10)
    np.testing.assert_allclose(occ[n:], model.occupation(b))
    np.testing.assert_allclose(e[n:], 2 * model.occupation(b))
    assert info["method"] == method


def _thin_for(model, method, seed):
    """3 tau_int of occupation and winding parities, from a pilot run after burn-in."""
    if method == "exact":
        return 1, None
    rng = seed_states(seed, 1)[0]
    b0 = loopgas.init_state(model, method, rng)
    b, _, occ, _ = loopgas.run_chain(model, method, b0, rng, burn_in=500, n_samples=20_000, thin=1)
    w = model.winding(b)
    taus = [tau_int(occ[500:]).tau, tau_int(w[:, 0]).tau, tau_int(w[:, 1]).tau]
    return math.ceil(3 * max(taus)), (b0, rng)


@pytest.mark.parametrize("L", [2, 3])
@pytest.mark.parametrize(
    ("x", "method"), [(1.0, "exact"), (1.0, "mcmc"), (0.4, "mcmc"), (0.8, "mcmc")]
)
def test_state_histogram_matches_enumeration(L, x, method):
    model = ld.LoopGas(L=L, x=x)
    states, probs = loop_distribution(L, x)
    assert len(states) == 2 ** (L * L + 1)  # dim of the cycle space of the torus: L^2 + 1
    n = 20_000 if L == 2 else 60_000
    thin, carry = _thin_for(model, method, [L, int(10 * x)])
    if carry is None:
        b, _, _, _ = run(model, method, seed=[L, 1], burn_in=0, n_samples=n, thin=1)
    else:
        b, _, occ, _ = loopgas.run_chain(model, method, *carry, burn_in=0, n_samples=n, thin=thin)
        assert thin >= tau_int(occ).tau
        assert max(tau_int(w).tau for w in model.winding(b).T) < 1.0
    assert chi2_pvalue(histogram(states, b), probs) > P_MIN


@pytest.mark.parametrize(("L", "method"), [(4, "exact"), (7, "exact"), (4, "mcmc")])
def test_winding_sectors_uniform_at_x1(L, method):
    model = ld.LoopGas(L=L, x=1.0)
    thin, carry = _thin_for(model, method, [L, 5])
    if carry is None:
        b, _, _, _ = run(model, method, seed=[L, 2], burn_in=0, n_samples=20_000, thin=1)
    else:
        b, _, _, _ = loopgas.run_chain(
            model, method, *carry, burn_in=0, n_samples=20_000, thin=thin
        )
    w = model.winding(b)
    sectors = np.bincount(2 * w[:, 0] + w[:, 1], minlength=4)
    assert chisquare(sectors).pvalue > P_MIN
    # Occupation of the uniform cycle space: every edge is occupied with probability 1/2.
    occ = model.occupation(b)
    assert abs(occ.mean() - 0.5) < 4 * occ.std() / math.sqrt(len(occ))


@pytest.mark.parametrize("L", [2, 3])
def test_high_temperature_identity_is_exact(L):
    """The identity behind the Ising checks, verified by enumerating both sides."""
    for x in (0.2, 0.4, 0.8):
        states, probs = loop_distribution(L, x)
        occ = float((probs * states.reshape(len(states), -1).mean(axis=1)).sum())
        u = brute_force_ising_energy(1 / math.atanh(x), L)
        assert abs(occ - occupation_from_ising(x, u)) < 1e-12


@pytest.mark.parametrize(
    ("L", "x"), [(3, 0.4), (3, 0.8), (4, 0.3), (4, math.sqrt(2) - 1), (4, 0.6)]
)
def test_mean_occupation_small_tori(L, x):
    """Against enumeration (L = 3) and the brute-force Ising energy (L = 4, 2^16 states)."""
    if L == 3:
        states, probs = loop_distribution(L, x)
        exact = float((probs * states.reshape(len(states), -1).mean(axis=1)).sum())
    else:
        exact = occupation_from_ising(x, brute_force_ising_energy(1 / math.atanh(x), L))
    model = ld.LoopGas(L=L, x=x)
    _, _, occ, _ = run(
        model, "mcmc", seed=[L, int(100 * x)], burn_in=1000, n_samples=50_000, thin=1
    )
    occ = occ[1000:]
    assert abs(occ.mean() - exact) < 4 * mean_stderr(occ), (occ.mean(), exact)


def _kaufman_energy(T, L):
    try:
        from latticediff.exact import ising_energy
    except ImportError:
        try:
            from latticediff.exact.ising2d import ising_energy
        except ImportError:
            pytest.skip("latticediff.exact.ising_energy (Kaufman) not available")
    return float(ising_energy(T, L))


@pytest.mark.parametrize(("L", "x"), [(8, 0.3), (8, math.sqrt(2) - 1), (16, 0.35), (16, 0.6)])
def test_mean_occupation_matches_ising_kaufman(L, x):
    exact = occupation_from_ising(x, _kaufman_energy(1 / math.atanh(x), L))
    model = ld.LoopGas(L=L, x=x)
    _, _, occ, _ = run(
        model, "mcmc", seed=[L, int(100 * x)], burn_in=2000, n_samples=40_000, thin=1
    )
    occ = occ[2000:]
    t = tau_int(occ)
    assert t.reliable
    err = mean_stderr(occ, t.tau)
    assert abs(occ.mean() - exact) < 4 * err, (occ.mean(), exact, err, t.tau)
