"""Tests of the exact 1D Ising chain sampler (latticediff.mc.chain).

Samples are i.i.d., so standard errors are plain ``std / sqrt(n)``. Fixed seeds make every
statistical test deterministic; thresholds are chi-square p > 1e-3 (low-count bins pooled)
and 4 standard errors for means.
"""

from __future__ import annotations

import math
import time

import mpmath
import numpy as np
import pytest
from scipy.stats import chisquare

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.mc import chain
from latticediff.mc._rng import Xoshiro256Reference, seed_states

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


def enumerate_chain(model):
    """All 2^N states (bit k of the index -> spin k is -1) and their exact probabilities."""
    N = model.N
    idx = np.arange(2**N, dtype=np.int64)
    s = (1 - 2 * ((idx[:, None] >> np.arange(N)) & 1)).astype(np.int8)
    e = model.energy(s) * N  # reduced energy: p ~ exp(-e)
    w = np.exp(-(e - e.min()))
    return s, w / w.sum()


def state_index(s):
    return ((s < 0).astype(np.int64) << np.arange(s.shape[1])).sum(axis=1)


def nn_exact(K, N, periodic):
    """<s_i s_{i+1}>: tanh K (open); (t + t^{N-1}) / (1 + t^N) with t = tanh K (periodic),
    from Z = (2 cosh K)^N + (2 sinh K)^N and <s s'> = d ln Z / dK / N."""
    t = math.tanh(K)
    return (t + t ** (N - 1)) / (1 + t**N) if periodic else t


def draw(model, n, seed):
    rng = seed_states(seed, 1)[0]
    state = chain.init_state(model, "exact", rng)
    return chain.run_chain(model, "exact", state, rng, n_samples=n)


def test_resolve_method_and_errors():
    m = ld.IsingChain(N=4, K=0.5)
    assert chain.resolve_method(m, "auto") == chain.resolve_method(m, "EXACT") == "exact"
    assert chain.is_iid(m, "auto")
    with pytest.raises(ParameterError, match="'metropolis'.*'auto', 'exact'"):
        chain.resolve_method(m, "metropolis")
    with pytest.raises(ParameterError, match="IsingChain"):
        chain.resolve_method(ld.Ising(L=4, T=1.0), "auto")
    with pytest.raises(ParameterError, match="n_samples"):
        chain.run_chain(m, "exact", np.ones(4, np.int8), seed_states(0, 1)[0], n_samples=-1)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("K", [-0.7, 0.5, 30.0, -400.0])
def test_kernel_matches_reference(periodic, K):
    model = ld.IsingChain(N=7, K=K, periodic=periodic)
    rng = seed_states(3, 1)[0]
    ref = Xoshiro256Reference(rng)
    out = np.empty((50, 7), np.int8)
    chain._sample(out, rng, chain.same_probabilities(7, K, periodic))
    np.testing.assert_array_equal(out, chain.sample_reference(model, ref, 50))
    assert [int(v) for v in rng] == ref.s


@pytest.mark.parametrize("N", [2, 3, 4, 5, 16, 101])
@pytest.mark.parametrize("K", [-25.0, -3.0, -0.7, -1e-9, 0.5, 1.5, 3.0, 25.0])
def test_table_matches_high_precision_transfer_matrix(N, K):
    """P(s_{k+1} = s_k | s_k s_0, m) from T^m computed with 60-digit arithmetic."""
    mpmath.mp.dps = 60
    Km = mpmath.mpf(K)
    T = mpmath.matrix([[mpmath.exp(Km), mpmath.exp(-Km)], [mpmath.exp(-Km), mpmath.exp(Km)]])
    p = chain.same_probabilities(N, K, True)
    Tm = T
    for m in range(1, N):
        # a = +1 (index 0); s_0 = +1 (c = +1) or -1 (c = -1).
        for ci, s0 in ((1, 0), (0, 1)):
            same = T[0, 0] * Tm[0, s0]
            flip = T[0, 1] * Tm[1, s0]
            assert abs(p[m, ci] - float(same / (same + flip))) < 1e-13, (m, ci)
        Tm = Tm * T


@pytest.mark.parametrize("K", [-700.0, -1e5])
def test_frustrated_ring_at_huge_coupling(K):
    """K -> -inf, N odd: exactly one broken bond, placed uniformly, even where e^{2K} = 0."""
    N = 5
    model = ld.IsingChain(N=N, K=K)
    s, _, _, _ = draw(model, 20_000, seed=11)
    prod = s * np.roll(s, -1, axis=1)
    assert ((prod == 1).sum(axis=1) == 1).all()
    pos = np.argmax(prod == 1, axis=1)
    assert chisquare(np.bincount(pos, minlength=N)).pvalue > P_MIN
    assert abs((s[:, 0] == 1).mean() - 0.5) < 4 * 0.5 / math.sqrt(len(s))
    # Ferromagnet and even antiferromagnetic ring: perfectly ordered.
    s, _, _, _ = draw(ld.IsingChain(N=6, K=-K), 1000, seed=12)
    assert (s == s[:, :1]).all()
    s, _, _, _ = draw(ld.IsingChain(N=6, K=K), 1000, seed=13)
    assert (s * np.roll(s, -1, axis=1) == -1).all()


@pytest.mark.parametrize("N", [4, 5])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("K", [-0.7, 0.5, 1.5])
def test_state_histogram_matches_enumeration(N, periodic, K):
    model = ld.IsingChain(N=N, K=K, periodic=periodic)
    states, probs = enumerate_chain(model)
    np.testing.assert_array_equal(state_index(states), np.arange(2**N))
    s, _, _, _ = draw(model, 50_000, seed=[N, int(periodic), int(10 * K) + 10])
    assert chi2_pvalue(np.bincount(state_index(s), minlength=2**N), probs) > P_MIN


@pytest.mark.parametrize(("N", "periodic"), [(5, True), (64, True), (5, False), (64, False)])
@pytest.mark.parametrize("K", [-0.7, 0.5, 1.5])
def test_nn_correlation(N, periodic, K):
    model = ld.IsingChain(N=N, K=K, periodic=periodic)
    if N == 5:  # the closed forms themselves, against enumeration
        states, probs = enumerate_chain(model)
        assert abs((probs * model.nn_correlation(states)).sum() - nn_exact(K, N, periodic)) < 1e-12
    s, _, _, _ = draw(model, 20_000, seed=[N, int(periodic), int(10 * K) + 10])
    c = model.nn_correlation(s)
    assert abs(c.mean() - nn_exact(K, N, periodic)) < 4 * c.std(ddof=1) / math.sqrt(len(c))


def test_run_chain_protocol_and_series():
    model = ld.IsingChain(N=9, K=0.8, periodic=True)
    rng = seed_states(5, 1)[0]
    state = chain.init_state(model, "auto", rng)
    s, e, m, info = chain.run_chain(model, "auto", state, rng, burn_in=100, n_samples=300, thin=7)
    assert s.shape == (300, 9) and s.dtype == np.int8 and set(np.unique(s)) <= {-1, 1}
    assert e.shape == m.shape == (300,) and info == {"method": "exact"}
    np.testing.assert_array_equal(state, s[-1])
    np.testing.assert_allclose(e, model.energy(s), rtol=0, atol=1e-14)
    np.testing.assert_allclose(m, np.abs(model.magnetization(s)), rtol=0, atol=1e-14)
    # burn_in and thin do not change the i.i.d. stream.
    rng2 = seed_states(5, 1)[0]
    chain.init_state(model, "auto", rng2)
    s2, _, _, _ = chain.run_chain(model, "auto", state.copy(), rng2, n_samples=300)
    np.testing.assert_array_equal(s, s2)


def test_fast_for_many_samples():
    model = ld.IsingChain(N=64, K=1.0, periodic=True)
    draw(model, 10, seed=0)  # compile / load the cache first
    t0 = time.perf_counter()
    s, e, m, _ = draw(model, 100_000, seed=1)
    elapsed = time.perf_counter() - t0
    assert s.shape == (100_000, 64)
    assert elapsed < 3.0, f"100000 chains of 64 spins took {elapsed:.2f} s"
    # Every pair of the 64 sites at distance r: <s_0 s_r> = (t^r + t^{N-r}) / (1 + t^N).
    t = math.tanh(1.0)
    for r in (1, 5, 32):
        c = (s * np.roll(s, -r, axis=1)).mean(axis=1)
        exact = (t**r + t ** (64 - r)) / (1 + t**64)
        assert abs(c.mean() - exact) < 4 * c.std(ddof=1) / math.sqrt(len(c))


def test_open_chain_bonds_independent():
    """Open chain: bond variables are i.i.d. with P(+1) = e^K / (2 cosh K)."""
    model = ld.IsingChain(N=6, K=0.9, periodic=False)
    s, _, _, _ = draw(model, 40_000, seed=21)
    bonds = (s[:, :-1] * s[:, 1:] + 1) // 2  # 1 for a satisfied bond
    p = math.exp(0.9) / (2 * math.cosh(0.9))
    patterns = state_index(1 - 2 * bonds.astype(np.int8))  # bit k set <-> bond k satisfied
    probs = [math.prod(p if (i >> k) & 1 else 1 - p for k in range(5)) for i in range(2**5)]
    assert chi2_pvalue(np.bincount(patterns, minlength=32), np.array(probs)) > P_MIN
