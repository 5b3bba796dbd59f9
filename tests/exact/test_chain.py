"""Tests of latticediff.exact.chain: transfer-matrix results vs brute force and closed forms."""

import math

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError

KS = [-2.0, -0.5, 0.0, 0.3, 1.5]


def brute_force(K, N, periodic):
    idx = np.arange(2**N)
    s = ((idx[:, None] >> np.arange(N)) & 1) * 2 - 1
    bonds = s[:, :-1] * s[:, 1:]
    tot = bonds.sum(1) + (s[:, -1] * s[:, 0] if periodic else 0)
    lw = K * tot
    mx = lw.max()
    w = np.exp(lw - mx)
    Z = w.sum()
    p = w / Z
    n_bonds = N if periodic else N - 1
    return {
        "log_partition": mx + math.log(Z),
        "energy": -K * (p @ tot) / N,
        "nn": (p @ tot) / n_bonds,
        "corr": np.array([p @ (s[:, 0] * s[:, r]) for r in range(N)]),
    }


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("N", range(2, 9))
def test_chain_matches_enumeration(N, periodic):
    for K in KS:
        ref = brute_force(K, N, periodic)
        ex = ld.exact
        assert ex.chain_log_partition(K, N, periodic) == pytest.approx(
            ref["log_partition"], rel=1e-13, abs=1e-13
        )
        assert ex.chain_energy(K, N, periodic) == pytest.approx(ref["energy"], abs=1e-13)
        assert ex.chain_nn_correlation(K, N, periodic) == pytest.approx(ref["nn"], abs=1e-13)
        assert ex.chain_free_energy(K, N, periodic) == pytest.approx(
            -ref["log_partition"] / N, abs=1e-13
        )
        np.testing.assert_allclose(
            ex.chain_correlation(K, np.arange(N), N, periodic), ref["corr"], atol=1e-13
        )


def test_chain_energy_is_mean_of_model_observable():
    # chain_energy / chain_nn_correlation are the exact means of IsingChain's observables.
    for periodic in (True, False):
        model = ld.IsingChain(N=7, K=-0.8, periodic=periodic)
        obs = ld.exact.exact_observables(model)
        assert ld.exact.chain_energy(-0.8, 7, periodic) == pytest.approx(obs["energy"], abs=1e-13)
        assert ld.exact.chain_nn_correlation(-0.8, 7, periodic) == pytest.approx(
            obs["nn_correlation"], abs=1e-13
        )
        assert ld.exact.chain_log_partition(-0.8, 7, periodic) == pytest.approx(
            obs["log_partition"], rel=1e-13
        )


def test_infinite_chain_closed_forms():
    K = np.array([-1.2, 0.0, 0.4, 2.0])
    t = np.tanh(K)
    np.testing.assert_allclose(ld.exact.chain_energy(K), -K * t, rtol=1e-15)
    np.testing.assert_allclose(ld.exact.chain_nn_correlation(K), t, rtol=1e-15)
    np.testing.assert_allclose(ld.exact.chain_free_energy(K), -np.log(2 * np.cosh(K)), rtol=1e-15)
    for r in (0, 1, 5, -3):
        np.testing.assert_allclose(ld.exact.chain_correlation(K, r), t ** abs(r), rtol=1e-14)
    # Large rings converge to the infinite chain.
    assert ld.exact.chain_correlation(0.7, 4, N=400) == pytest.approx(math.tanh(0.7) ** 4)
    assert ld.exact.chain_energy(0.7, 400) == pytest.approx(ld.exact.chain_energy(0.7), abs=1e-15)


def test_ring_correlation_symmetry_and_wrapping():
    N, K = 9, 0.6
    c = ld.exact.chain_correlation(K, np.arange(N + 1), N)
    np.testing.assert_allclose(c, c[::-1], rtol=1e-14)  # r <-> N - r
    assert c[0] == pytest.approx(1.0) and c[N] == pytest.approx(1.0)
    assert ld.exact.chain_correlation(K, N + 2, N) == pytest.approx(c[2], rel=1e-15)
    assert ld.exact.chain_correlation(K, -2, N) == pytest.approx(c[2], rel=1e-15)


def test_frustrated_ring_limits():
    # K -> -inf on an odd ring: 2N ground states with one unsatisfied bond.
    for N in (3, 5, 11):
        assert ld.exact.chain_nn_correlation(-40.0, N) == pytest.approx(-(N - 2) / N, rel=1e-12)
        lz = ld.exact.chain_log_partition(-400.0, N)
        assert lz == pytest.approx(math.log(2 * N) + (N - 2) * 400.0, rel=1e-15)
    # Even rings are not frustrated: perfect antiferromagnet.
    assert ld.exact.chain_nn_correlation(-40.0, 6) == pytest.approx(-1.0, rel=1e-15)


def test_extreme_couplings_against_mpmath(monkeypatch):
    mp = pytest.importorskip("mpmath")
    monkeypatch.setattr(mp.mp, "dps", 120)  # mpmath's precision is global: restore it
    for K in (-40.0, -15.0, -1e-6, 1e-6, 15.0, 40.0):
        for N in (7, 100, 101):
            t = mp.tanh(mp.mpf(K))
            lz = N * mp.log(2 * mp.cosh(mp.mpf(K))) + mp.log(1 + t**N)
            assert ld.exact.chain_log_partition(K, N) == pytest.approx(float(lz), rel=1e-14)
            for r in (1, 2, N // 2):
                ref = (t**r + t ** (N - r)) / (1 + t**N)
                if abs(ref) < 1e-300:
                    continue
                got = ld.exact.chain_correlation(K, r, N)
                assert got == pytest.approx(float(ref), rel=1e-13), (K, N, r)


def test_vectorised_shapes():
    K = np.linspace(-1, 1, 6).reshape(2, 3)
    for fn in (ld.exact.chain_energy, ld.exact.chain_nn_correlation, ld.exact.chain_free_energy):
        assert fn(K, 8).shape == (2, 3)
        assert fn(K).shape == (2, 3)
        assert isinstance(fn(0.3, 8), float)
    assert ld.exact.chain_log_partition(K, 8, False).shape == (2, 3)
    out = ld.exact.chain_correlation(np.array([0.2, 0.5])[:, None], np.arange(4), N=8)
    assert out.shape == (2, 4)
    assert isinstance(ld.exact.chain_correlation(0.5, 2), float)


def test_bad_inputs():
    with pytest.raises(ParameterError, match="N must be >= 2"):
        ld.exact.chain_log_partition(0.5, 1)
    with pytest.raises(ParameterError, match="N must be an integer"):
        ld.exact.chain_energy(0.5, 4.0)
    with pytest.raises(ParameterError, match="N must be an integer"):
        ld.exact.chain_log_partition(0.5, None)
    with pytest.raises(ParameterError, match="K must be a finite"):
        ld.exact.chain_energy(float("nan"), 4)
    with pytest.raises(ParameterError, match="periodic must be a bool"):
        ld.exact.chain_energy(0.5, 4, periodic=1)
    with pytest.raises(ParameterError, match=r"r must be in \[0, N-1\]"):
        ld.exact.chain_correlation(0.5, 5, N=5, periodic=False)
    with pytest.raises(ParameterError, match="r must be an integer"):
        ld.exact.chain_correlation(0.5, 1.5)
