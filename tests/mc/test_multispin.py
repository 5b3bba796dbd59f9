"""Multi-spin-coded Metropolis: bit identity, exact laws, independent replicas."""

import itertools

import numpy as np
import pytest
from numba import njit
from scipy import stats

from latticediff.errors import ParameterError
from latticediff.exact import ising_energy
from latticediff.mc import multispin as ms
from latticediff.mc._rng import Xoshiro256Reference, seed_states
from latticediff.mc.ising import _xo
from latticediff.systems import Ising

TC = 2.0 / np.log(1.0 + np.sqrt(2.0))


def _all_states(L):
    return np.array(list(itertools.product([-1, 1], repeat=L * L)), dtype=np.int8).reshape(-1, L, L)


def _boltzmann(model, states):
    e = model.energy(states) * model.n_sites
    w = np.exp(-(e - e.min()) / model.T)
    return w / w.sum()


def _chi2_pvalue(counts, probs, min_expected=5.0):
    counts = np.asarray(counts, dtype=float)
    exp = np.asarray(probs, dtype=float) * counts.sum()
    small = exp < min_expected
    obs = np.append(counts[~small], counts[small].sum())
    ex = np.append(exp[~small], exp[small].sum())
    if ex[-1] == 0:
        obs, ex = obs[:-1], ex[:-1]
    return stats.chisquare(obs, ex).pvalue


def _classes(model, s):
    e = np.rint(model.energy(s) * model.n_sites).astype(np.int64)
    return e * 1000 + np.asarray(s, dtype=np.int64).sum(axis=(-1, -2))


def _replica_ratio(x, n_blocks=100):
    """Var of the replica-averaged block means over the mean per-replica variance / R.

    ``x`` has shape (time, R). For independent replicas the ratio is 1 within about
    sqrt(2 / (n_blocks - 1)); a pairwise correlation rho between replicas makes it
    1 + (R - 1) rho (65 times more sensitive than a single pair for R = 64).
    """
    b = x.shape[0] // n_blocks
    blocks = x[: b * n_blocks].reshape(n_blocks, b, -1).mean(axis=1)  # (n_blocks, R)
    per_replica = blocks.var(axis=0, ddof=1).mean()
    return blocks.mean(axis=1).var(ddof=1) / (per_replica / x.shape[1])


def _run(L, T, seed, **kw):
    return ms.run_multispin(Ising(L=L, T=T), seed_states(seed, 1)[0], **kw)


def test_pack_unpack_roundtrip():
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(64, 5, 6))
    w = ms.pack(s)
    assert w.dtype == np.uint64 and w.shape == (5, 6)
    assert np.array_equal(ms.unpack(w), s)
    assert int(w[2, 3]) == sum(1 << r for r in range(64) if s[r, 2, 3] == 1)
    with pytest.raises(ParameterError, match=r"shape \(64, ...\)"):
        ms.pack(s[:63])


@pytest.mark.parametrize("L,T", [(2, 2.0), (4, TC), (6, 1.5), (4, 5.0), (8, 0.8)])
def test_kernel_matches_per_replica_reference(L, T):
    model = Ising(L=L, T=T)
    rng = seed_states(L, 1)[0]
    w0 = ms._ms_init(L, rng, False)
    ref = Xoshiro256Reference(rng.copy())
    w = w0.copy()
    x, e = ms.run_multispin(model, rng, burn_in=0, n_samples=3, thin=1, state=w)
    wr = w0
    for k in range(3):
        wr = ms.reference_multispin_sweep(model, wr, ref)
        assert np.array_equal(ms.unpack(wr), x[k])
    assert np.array_equal(wr, w)
    assert [int(v) for v in rng] == ref.s
    np.testing.assert_allclose(e, model.energy(x), atol=1e-12)


def test_energy_series_and_samples():
    model = Ising(L=10, T=2.4)
    x, e = ms.run_multispin(model, seed_states(5, 1)[0], burn_in=7, n_samples=6, thin=4)
    assert x.shape == (6, 64, 10, 10) and x.dtype == np.int8 and e.shape == (31, 64)
    np.testing.assert_allclose(e[7 + 4 * np.arange(1, 7) - 1], model.energy(x), atol=1e-12)
    # ordered start below Tc: every replica starts from one of the two ground states
    x0, _ = ms.run_multispin(
        Ising(L=4, T=0.2), seed_states(1, 1)[0], burn_in=0, n_samples=1, thin=1
    )
    assert set(np.abs(x0[0].sum(axis=(1, 2)))) == {16}
    assert 10 < (x0[0, :, 0, 0] > 0).sum() < 54  # the signs are random per replica


# thin >= 3 tau_int of the signed magnetization (measured: 13, 1.8, 34, 5.6 sweeps)
@pytest.mark.parametrize("L,T,thin", [(2, 2.0, 40), (2, 4.0, 6), (4, TC, 100), (4, 3.0, 17)])
def test_histogram_matches_exact_boltzmann(L, T, thin):
    """All 64 replicas pooled (independent, see below). The same histogram must reject a 15%
    error in T."""
    model = Ising(L=L, T=T)
    x, _ = _run(L, T, 30 + L, burn_in=200, n_samples=1500, thin=thin)
    x = x.reshape(-1, L, L)
    states = _all_states(L)
    pvals = []
    for temp in (T, 1.15 * T):
        p = _boltzmann(Ising(L=L, T=temp), states)
        if L == 2:
            codes = (x.reshape(len(x), -1) > 0).astype(np.int64) @ (1 << np.arange(3, -1, -1))
            counts = np.bincount(codes, minlength=16)
        else:
            uniq, inv = np.unique(_classes(model, states), return_inverse=True)
            p = np.bincount(inv, weights=p)
            counts = np.bincount(np.searchsorted(uniq, _classes(model, x)), minlength=len(uniq))
        pvals.append(_chi2_pvalue(counts, p))
    assert pvals[0] > 1e-3, pvals
    assert pvals[1] < 1e-6, pvals


@pytest.mark.parametrize("T", [2.0, TC, 3.0])
def test_energy_matches_kaufman_L16(T):
    """64 independent replicas: sigma is the spread of the per-replica means / 8."""
    burn_in = 2000
    _, e = _run(16, T, 7, burn_in=burn_in + 20_000, n_samples=0, thin=1)
    means = e[burn_in:].mean(axis=0)
    mean, err = means.mean(), means.std(ddof=1) / 8
    z = (mean - ising_energy(T, 16)) / err
    assert abs(z) < 3, (mean, err, z)
    assert err < 2e-3
    # every replica samples the same law: the spread of the per-replica means matches the
    # (pooled, binned) error of one replica's mean
    b = 20
    blk = e[burn_in:].reshape(b, -1, 64).mean(axis=1)
    se2 = (blk.var(axis=0, ddof=1) / b).mean()
    chi2 = ((means - mean) ** 2 / se2).sum()
    assert stats.chi2.sf(chi2, 63) > 1e-3


@pytest.mark.parametrize("T", [TC, 3.0, 6.0])
def test_replicas_are_independent(T):
    """No correlation between replicas, in energy and in the (signed) magnetization, including
    at high T where replicas sharing one random number per site would synchronise."""
    L = 8
    x, e = _run(L, T, 99, burn_in=500, n_samples=4000, thin=2)
    n = len(e) - 500
    bound = 1 + 4 * np.sqrt(2 / 99)
    assert _replica_ratio(e[500:], 100) < bound
    assert abs(_replica_ratio(e[500 : 500 + n // 2], 100) - 1) < 4 * np.sqrt(2 / 99)
    m = x.mean(axis=(2, 3))  # (n_samples, 64)
    assert abs(_replica_ratio(m, 100) - 1) < 4 * np.sqrt(2 / 99)
    # the statistic has power: replicas sharing a 5% common component are caught
    rng = np.random.default_rng(1)
    fake = rng.normal(size=(4000, 64)) + np.sqrt(0.05 / 0.95) * rng.normal(size=(4000, 1))
    assert _replica_ratio(fake, 100) > bound


@njit
def _shared_random_sweep(w, rng, t2, t4, t8):
    """The common shortcut this module avoids: one uniform per site shared by all replicas."""
    L = w.shape[0]
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    zero = np.uint64(0)
    for parity in range(2):
        for i in range(L):
            ru, rc, rd = w[i - 1 if i > 0 else L - 1], w[i], w[i + 1 if i < L - 1 else 0]
            for j in range((i + parity) & 1, L, 2):
                x = rc[j]
                a, b = x ^ ru[j], x ^ rd[j]
                c, d = x ^ rc[j - 1 if j > 0 else L - 1], x ^ rc[j + 1 if j < L - 1 else 0]
                x1, y1, x2, y2 = a ^ b, a & b, c ^ d, c & d
                ge3 = (y1 & y2) | ((y1 ^ y2) & (x1 ^ x2))
                eq2 = (x1 & x2) | ((y1 ^ y2) & ~(x1 | x2))
                eq1 = (x1 ^ x2) & ~(y1 | y2)
                eq0 = ~(x1 | x2 | y1 | y2)
                u, s0, s1, s2, s3 = _xo(s0, s1, s2, s3)
                f = ge3 | (eq2 & (full if u < t2 else zero)) | (eq1 & (full if u < t4 else zero))
                rc[j] = x ^ (f | (eq0 & (full if u < t8 else zero)))
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3


def test_independence_check_catches_shared_random_numbers():
    """Negative control: with one shared uniform per site the replicas synchronise and the
    statistic of test_replicas_are_independent explodes (it is ~64 here)."""
    L, T = 8, 3.0
    model = Ising(L=L, T=T)
    rng = seed_states(99, 1)[0]
    w = ms._ms_init(L, rng, False)
    t2, t4, t8 = (np.uint64(ms._threshold(p)) for p in (0.5, np.exp(-4 / T), np.exp(-8 / T)))
    e = []
    for k in range(2500):
        _shared_random_sweep(w, rng, t2, t4, t8)
        if k >= 500:
            e.append(model.energy(ms.unpack(w)))
    assert _replica_ratio(np.array(e), 100) > 10


def test_errors_and_gil():
    rng = seed_states(0, 1)[0]
    with pytest.raises(ParameterError, match="even L"):
        ms.run_multispin(Ising(L=5, T=2.0), rng, burn_in=1, n_samples=1, thin=1)
    with pytest.raises(ParameterError, match="h == 0"):
        ms.run_multispin(Ising(L=4, T=2.0, h=0.1), rng, burn_in=1, n_samples=1, thin=1)
    with pytest.raises(ParameterError, match="thin must be an integer >= 1"):
        ms.run_multispin(Ising(L=4, T=2.0), rng, burn_in=1, n_samples=1, thin=0)
    with pytest.raises(ParameterError, match="uint64 words"):
        ms.run_multispin(
            Ising(L=4, T=2.0), rng, burn_in=1, n_samples=1, thin=1, state=np.zeros((4, 4))
        )
    assert ms._ms_chain.targetoptions["nogil"]
