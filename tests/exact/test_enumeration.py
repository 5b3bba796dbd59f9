"""Tests of latticediff.exact.enumeration against hand counts, dualities and Kaufman."""

import itertools
import math

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError


# ----------------------------------------------------------------------------- loop gas
@pytest.mark.parametrize("L", [2, 3])
def test_loopgas_states_are_exactly_the_even_subgraphs(L):
    states, lw = ld.exact.enumerate_states(ld.LoopGas(L=L, x=1.0))
    # Cycle space of the torus: dimension E - V + 1 = L^2 + 1 (32 states for L = 2).
    assert len(states) == 2 ** (L * L + 1)
    assert states.dtype == np.uint8 and states.shape[1:] == (2, L, L)
    np.testing.assert_array_equal(lw, 0.0)
    # Brute force: every edge set, keep those with all vertex degrees even.
    E = 2 * L * L
    idx = np.arange(2**E)
    every = (((idx[:, None] >> np.arange(E)) & 1).astype(np.uint8)).reshape(-1, 2, L, L)
    even = every[ld.LoopGas.vertex_parity(every).reshape(len(every), -1).sum(1) == 0]
    key = lambda b: np.packbits(b.reshape(len(b), -1), axis=1, bitorder="little")  # noqa: E731
    assert len(even) == len(states)
    got = {bytes(r) for r in key(states)}
    assert got == {bytes(r) for r in key(even)}  # same set, no duplicates


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("K", [0.2, 0.5 * math.log1p(math.sqrt(2)), 0.9])
def test_loopgas_is_ising_high_temperature_expansion(L, K):
    # Z_Ising(K) = 2^N cosh(K)^(2N) sum_{even subgraphs} tanh(K)^|edges| on the torus.
    x = math.tanh(K)
    N = L * L
    obs = ld.exact.exact_observables(ld.LoopGas(L=L, x=x))
    logz_ising = ld.exact.ising_log_partition(1 / K, L)
    assert obs["log_partition"] == pytest.approx(
        logz_ising - N * math.log(2) - 2 * N * math.log(math.cosh(K)), rel=1e-12, abs=1e-12
    )
    # <n_edges> = x d ln Z_loop / dx = sinh K cosh K (-N u - 2N tanh K).
    u = ld.exact.ising_energy(1 / K, L)
    n_mean = math.sinh(K) * math.cosh(K) * (-N * u - 2 * N * math.tanh(K))
    assert obs["occupation"] == pytest.approx(n_mean / (2 * N), rel=1e-11)
    assert obs["defects"] == 0.0


def test_loopgas_uniform_distribution():
    states, p = ld.exact.exact_distribution(ld.LoopGas(L=2, x=1.0))
    np.testing.assert_allclose(p, 1 / 32, rtol=1e-15)
    obs = ld.exact.exact_observables(ld.LoopGas(L=3, x=1.0))
    # Uniform on the cycle space: each winding parity is a fair coin, each edge occupied 1/2.
    assert obs["winding_x"] == pytest.approx(0.5) and obs["winding_y"] == pytest.approx(0.5)
    assert obs["occupation"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- Ising
def _explicit_ising_logz(L, T, h):
    """ln Z by explicit loops over sites and the 2 L^2 bonds (right and down neighbours)."""
    terms = []
    for bits in itertools.product((1, -1), repeat=L * L):
        s = np.array(bits).reshape(L, L)
        E = 0.0
        for i in range(L):
            for j in range(L):
                E -= s[i, j] * s[i, (j + 1) % L] + s[i, j] * s[(i + 1) % L, j]
                E -= h * s[i, j]
        terms.append(-E / T)
    terms = np.array(terms)
    return terms.max() + math.log(np.exp(terms - terms.max()).sum())


@pytest.mark.parametrize("L", [2, 3])
def test_ising_with_field_against_explicit_sum(L):
    for T, h in ((1.3, 0.0), (2.5, 0.4), (0.7, -0.2)):
        obs = ld.exact.exact_observables(ld.Ising(L=L, T=T, h=h))
        assert obs["log_partition"] == pytest.approx(_explicit_ising_logz(L, T, h), rel=1e-13)
        if h == 0:
            assert obs["magnetization"] == pytest.approx(0.0, abs=1e-14)
        else:
            assert np.sign(obs["magnetization"]) == np.sign(h)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_ising_observables_match_kaufman(L):
    for T in (1.0, 2.269, 3.5):
        obs = ld.exact.exact_observables(ld.Ising(L=L, T=T))
        assert obs["energy"] == pytest.approx(ld.exact.ising_energy(T, L), rel=1e-12)
        assert obs["specific_heat"] == pytest.approx(ld.exact.ising_specific_heat(T, L), rel=1e-10)
        assert obs["log_partition"] == pytest.approx(ld.exact.ising_log_partition(T, L), rel=1e-13)


def test_ising_states_layout_and_binder_limits():
    states, lw = ld.exact.enumerate_states(ld.Ising(L=2, T=1.0))
    assert states.shape == (16, 2, 2) and states.dtype == np.int8
    np.testing.assert_array_equal(states[0], 1)  # state 0 is all up
    np.testing.assert_array_equal(states[1].ravel(), [-1, 1, 1, 1])  # bit 0 = flat site 0
    assert len({s.tobytes() for s in states}) == 16
    # L = 2 torus: E = -8 (2 states), 0 (12), +8 (2).
    np.testing.assert_allclose(np.sort(lw)[[0, 2, -1]], [-8.0, 0.0, 8.0])
    cold = ld.exact.exact_observables(ld.Ising(L=3, T=0.05))
    assert cold["binder"] == pytest.approx(2 / 3, abs=1e-12)
    assert cold["abs_magnetization"] == pytest.approx(1.0, abs=1e-12)
    hot = ld.exact.exact_observables(ld.Ising(L=3, T=1e6))
    # Independent spins: <m^2> = 1/N, <m^4> = (3N^2 - 2N)/N^4, so U = 1 - (3 - 2/N)/3 = 2/(3N).
    N = 9
    assert hot["magnetization_sq"] == pytest.approx(1 / N, rel=1e-5)
    assert hot["binder"] == pytest.approx(1 - (3 - 2 / N) / 3, rel=1e-4)


# ----------------------------------------------------------------------------- Potts
@pytest.mark.parametrize("L", [2, 3])
def test_potts_q2_is_ising_at_double_temperature(L):
    # delta(s, s') = (1 + s s')/2: ln Z_P(T) = N/T + ln Z_I(2T), e_P = -1 + u_I(2T)/2.
    N = L * L
    for T in (0.6, 1.1345, 2.0):
        obs = ld.exact.exact_observables(ld.Potts(L=L, q=2, T=T))
        assert obs["log_partition"] == pytest.approx(
            N / T + ld.exact.ising_log_partition(2 * T, L), rel=1e-13
        )
        assert obs["energy"] == pytest.approx(-1 + ld.exact.ising_energy(2 * T, L) / 2, rel=1e-12)


def test_potts_q3_against_explicit_sum():
    L, q, T = 2, 3, 0.9
    terms = []
    for colours in itertools.product(range(q), repeat=L * L):
        s = np.array(colours).reshape(L, L)
        same = sum(
            int(s[i, j] == s[i, (j + 1) % L]) + int(s[i, j] == s[(i + 1) % L, j])
            for i in range(L)
            for j in range(L)
        )
        terms.append(same / T)
    logz = math.log(np.exp(terms).sum())
    states, p = ld.exact.exact_distribution(ld.Potts(L=L, q=q, T=T))
    assert states.shape == (81, 2, 2) and states.dtype == np.uint8
    assert p.sum() == pytest.approx(1.0, rel=1e-15)
    assert ld.exact.exact_observables(ld.Potts(L=L, q=q, T=T))["log_partition"] == pytest.approx(
        logz, rel=1e-14
    )


# ----------------------------------------------------------------------------- chain, caps
def test_chain_states_and_weights():
    model = ld.IsingChain(N=5, K=0.7, periodic=False)
    states, lw = ld.exact.enumerate_states(model)
    assert states.shape == (32, 5) and states.dtype == np.int8
    s = states.astype(int)
    np.testing.assert_allclose(lw, 0.7 * (s[:, :-1] * s[:, 1:]).sum(1), rtol=1e-15)
    obs = ld.exact.exact_observables(model)
    assert obs["log_partition"] == pytest.approx(
        ld.exact.chain_log_partition(0.7, 5, False), rel=1e-14
    )


def test_distribution_is_normalised_boltzmann():
    model = ld.Ising(L=3, T=1.7, h=0.1)
    states, lw = ld.exact.enumerate_states(model)
    _, p = ld.exact.exact_distribution(model)
    assert p.sum() == pytest.approx(1.0, rel=1e-14)
    i, j = 3, 100
    assert p[i] / p[j] == pytest.approx(math.exp(lw[i] - lw[j]), rel=1e-12)


def test_state_count_cap():
    assert ld.exact.n_states(ld.Ising(L=4, T=1.0)) == 2**16
    assert ld.exact.n_states(ld.LoopGas(L=4)) == 2**17
    assert ld.exact.n_states(ld.Potts(L=3, q=5, T=1.0)) == 5**9
    with pytest.raises(ParameterError, match="33554432 configurations, more than max_states"):
        ld.exact.enumerate_states(ld.Ising(L=5, T=1.0))
    with pytest.raises(ParameterError, match="max_states=100"):
        ld.exact.exact_observables(ld.Potts(L=2, q=4, T=1.0), max_states=100)
    with pytest.raises(ParameterError, match="more than max_states"):
        ld.exact.exact_distribution(ld.LoopGas(L=5))
    with pytest.raises(ParameterError, match="cannot enumerate"):
        ld.exact.enumerate_states("ising")
