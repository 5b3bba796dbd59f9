"""2D Ising samplers: kernels vs references, exact enumeration, exact thermodynamics."""

import itertools
import threading

import numpy as np
import pytest
from scipy import stats

from latticediff.errors import ParameterError
from latticediff.exact import ising_energy
from latticediff.mc import ising
from latticediff.mc._rng import Xoshiro256Reference, seed_states
from latticediff.systems import Ising

TC = ising.TC


# ---------------------------------------------------------------------------------------------
# helpers


def _all_states(L):
    return np.array(list(itertools.product([-1, 1], repeat=L * L)), dtype=np.int8).reshape(-1, L, L)


def _state_codes(s):
    """Integer code of each configuration (bit k = site k is +1), same order as _all_states."""
    n = s.shape[-1] * s.shape[-2]
    bits = (s.reshape(len(s), n) > 0).astype(np.int64)
    return bits @ (1 << np.arange(n - 1, -1, -1))


def _boltzmann(model, states):
    e = model.energy(states) * model.n_sites
    w = np.exp(-(e - e.min()) / model.T)
    return w / w.sum()


def _chi2_pvalue(counts, probs, min_expected=5.0):
    """Pearson chi-square p-value; cells with expected count < min_expected are pooled."""
    counts = np.asarray(counts, dtype=float)
    exp = np.asarray(probs, dtype=float) * counts.sum()
    small = exp < min_expected
    obs = np.append(counts[~small], counts[small].sum())
    ex = np.append(exp[~small], exp[small].sum())
    if ex[-1] == 0:
        obs, ex = obs[:-1], ex[:-1]
    return stats.chisquare(obs, ex).pvalue


def _class_probs(model, states):
    """Exact probabilities of the (E, M) classes of ``states`` (for lattices with many states)."""
    keys = _classes(model, states)
    p = _boltzmann(model, states)
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv, weights=p)


def _classes(model, s):
    e = np.rint(model.energy(s) * model.n_sites).astype(np.int64)
    m = np.asarray(s, dtype=np.int64).sum(axis=(-1, -2))
    return e * 1000 + m


def _histogram_pvalues(model, samples, wrong_T):
    """p-values of the samples' histogram against the exact law at T and at ``wrong_T``."""
    if model.n_sites <= 9:
        states = _all_states(model.L)
        counts = np.bincount(_state_codes(samples), minlength=len(states))
        probs = [_boltzmann(Ising(model.L, T, model.h), states) for T in (model.T, wrong_T)]
    else:  # 2^16 states: compare the (E, M) classes
        states = _all_states(model.L)
        keys = _classes(model, samples)
        uniq, p_ok = _class_probs(model, states)
        _, p_bad = _class_probs(Ising(model.L, wrong_T, model.h), states)
        assert np.isin(keys, uniq).all()
        counts = np.bincount(np.searchsorted(uniq, keys), minlength=len(uniq))
        probs = [p_ok, p_bad]
    return [_chi2_pvalue(counts, p) for p in probs]


def _mean_err(x, n_blocks=40):
    """Mean and its standard error from n_blocks block means (blocks >> tau_int)."""
    x = np.asarray(x, dtype=float)
    b = len(x) // n_blocks
    means = x[: b * n_blocks].reshape(n_blocks, b).mean(axis=1)
    return means.mean(), means.std(ddof=1) / np.sqrt(n_blocks)


def _run(model, method, seed, **kw):
    rng = seed_states(seed, 1)[0]
    state = ising.init_state(model, method, rng)
    return (*ising.run_chain(model, method, state, rng, **kw), state, rng)


# ---------------------------------------------------------------------------------------------
# kernels vs references (bit for bit)


def _start(L, seed):
    rng = seed_states(seed, 1)[0]
    return ising._random_spins(L, rng), rng


@pytest.mark.parametrize(
    "L,T,h",
    [(2, 2.0, 0.0), (4, 2.269, 0.0), (6, 2.5, 0.3), (3, 1.5, 0.2), (5, 2.2, 0.0), (3, 0.5, -1.0)],
)
def test_metropolis_kernel_matches_reference(L, T, h):
    model = Ising(L=L, T=T, h=h)
    s0, rng = _start(L, seed=L)
    ref = Xoshiro256Reference(rng.copy())
    s = s0.copy()
    _, e, m, _ = ising.run_chain(model, "metropolis", s, rng, burn_in=6, n_samples=0, thin=1)
    s_ref, e_ref, m_ref = ising.reference_metropolis(model, s0, ising.xoshiro_draws(ref), 6)
    assert np.array_equal(s, s_ref)
    assert [int(v) for v in rng] == ref.s
    np.testing.assert_allclose(e, e_ref, atol=1e-12)
    np.testing.assert_allclose(m, m_ref, atol=1e-12)


@pytest.mark.parametrize("L,T", [(2, 1.0), (3, 2.0), (4, 2.269), (6, 3.0)])
def test_wolff_kernel_matches_reference(L, T):
    model = Ising(L=L, T=T)
    s0, rng = _start(L, seed=10 + L)
    ref = Xoshiro256Reference(rng.copy())
    s = s0.copy()
    x, e, m, info = ising.run_chain(
        model, "wolff", s, rng, burn_in=0, n_samples=4, thin=1, clusters_per_sweep=3
    )
    s_ref, sizes = ising.reference_wolff(model, s0, ising.xoshiro_draws(ref), 12)
    assert np.array_equal(s, s_ref)
    assert [int(v) for v in rng] == ref.s
    assert info["clusters_per_sweep"] == 3
    assert info["mean_cluster_size"] == pytest.approx(np.mean(sizes))
    np.testing.assert_allclose(e, model.energy(x), atol=1e-12)
    np.testing.assert_allclose(m, np.abs(model.magnetization(x)), atol=1e-12)


@pytest.mark.parametrize("L,T", [(2, 2.0), (3, 2.269), (5, 1.5), (6, 3.0)])
def test_sw_kernel_matches_reference(L, T):
    model = Ising(L=L, T=T)
    s0, rng = _start(L, seed=20 + L)
    ref = Xoshiro256Reference(rng.copy())
    s = s0.copy()
    x, e, m, _ = ising.run_chain(model, "sw", s, rng, burn_in=0, n_samples=4, thin=1)
    assert np.array_equal(s, ising.reference_sw(model, s0, ising.xoshiro_draws(ref), 4))
    assert [int(v) for v in rng] == ref.s
    np.testing.assert_allclose(e, model.energy(x), atol=1e-12)


@pytest.mark.parametrize(
    "method,L,h",
    [("metropolis", 8, 0.0), ("metropolis", 7, 0.4), ("wolff", 8, 0.0), ("sw", 9, 0.0)],
)
def test_series_match_recomputation(method, L, h):
    """Incrementally tracked energy and |m| equal the values recomputed from the samples."""
    model = Ising(L=L, T=2.4, h=h)
    x, e, m, _, state, _ = _run(model, method, 3, burn_in=25, n_samples=30, thin=3)
    assert len(e) == len(m) == 25 + 30 * 3
    at = 25 + 3 * np.arange(1, 31) - 1
    np.testing.assert_allclose(e[at], model.energy(x), atol=1e-12)
    np.testing.assert_allclose(m[at], np.abs(model.magnetization(x)), atol=1e-12)
    assert np.array_equal(x[-1], state)
    assert len(np.unique(_state_codes(x) if L * L <= 62 else x.reshape(30, -1), axis=0)) > 5


# ---------------------------------------------------------------------------------------------
# exact enumeration (chi-square on the histogram of states)


# thin >= 3 tau_int of the slowest observable, the signed magnetization (measured: Metropolis
# 13, 43, 4.6, 170, 7.2 sweeps for the rows below; Wolff and SW <= 2); a thin below tau_int
# makes the counts overdispersed and the chi-square p-values too small.
@pytest.mark.parametrize(
    "method,L,T,h,thin,n",
    [
        ("metropolis", 2, 2.0, 0.0, 40, 40_000),  # the L = 2 multigraph, checkerboard
        ("metropolis", 3, 2.0, 0.0, 130, 40_000),  # odd L: sequential
        ("metropolis", 3, 2.5, 0.3, 15, 40_000),  # detailed balance with a field
        ("metropolis", 3, 1.5, -0.2, 500, 20_000),
        ("metropolis", 4, 2.5, 0.2, 25, 40_000),  # (E, M) classes of the 2^16 states
        # Cluster moves on tiny lattices often flip everything, so the sign nearly alternates
        # from sweep to sweep: an odd thin avoids sampling that rhythm in phase.
        ("wolff", 2, 2.5, 0.0, 5, 40_000),
        ("wolff", 3, 2.0, 0.0, 5, 40_000),
        ("wolff", 4, TC, 0.0, 5, 40_000),
        ("sw", 2, 2.0, 0.0, 5, 40_000),
        ("sw", 3, 2.5, 0.0, 5, 40_000),
        ("sw", 4, 2.0, 0.0, 5, 40_000),
    ],
)
def test_histogram_matches_exact_boltzmann(method, L, T, h, thin, n):
    """Chi-square of the state histogram against exact enumeration; the same histogram must
    reject a 15% error in T, so the test has power."""
    model = Ising(L=L, T=T, h=h)
    x, *_ = _run(model, method, 100 + L, burn_in=1000, n_samples=n, thin=thin)
    p_ok, p_bad = _histogram_pvalues(model, x, wrong_T=1.15 * T)
    assert p_ok > 1e-3, p_ok
    assert p_bad < 1e-6, p_bad


def _sweep_matrix(model):
    """Exact one-sweep transition matrix of the Metropolis kernel's update rule, built from the
    same integer thresholds (probability (t + 1) / 2**64) and the same site order."""
    L, n = model.L, model.n_sites
    states = _all_states(L).reshape(-1, n).astype(np.int64)
    thr = ising.metropolis_thresholds(model.beta, model.h)
    if L % 2 == 0:
        order = [k for p in (0, 1) for k in range(n) if (k // L + k % L) % 2 == p]
    else:
        order = list(range(n))
    P = np.eye(len(states))
    for k in order:
        i, j = divmod(k, L)
        nbr = [((i - 1) % L) * L + j, ((i + 1) % L) * L + j, i * L + (j - 1) % L]
        nbr.append(i * L + (j + 1) % L)
        s = states[:, k]
        nb = states[:, nbr].sum(axis=1)
        a = np.array([(int(thr[q]) + 1) / 2**64 for q in ((s + 1) // 2) * 5 + (nb + 4) // 2])
        flipped = np.arange(len(states)) ^ (1 << (n - 1 - k))  # code of the flipped state
        M = np.zeros_like(P)
        M[np.arange(len(states)), flipped] = a
        M[np.arange(len(states)), np.arange(len(states))] = 1 - a
        P = P @ M
    return P


@pytest.mark.parametrize(
    "L,T,h", [(2, 2.0, 0.0), (2, 0.7, 0.0), (2, 3.0, 2.0), (3, 2.0, 0.0), (3, 1.0, 0.3)]
)
def test_metropolis_sweep_is_ergodic_with_boltzmann_fixed_point(L, T, h):
    """The sweep's exact transition matrix leaves the Boltzmann law invariant and is primitive
    (some power has all entries > 0), so every start converges to it. With a(0) = 1 instead of
    1/2 the 2 x 2 and 3 x 3 sweeps are not primitive (closed deterministic orbits)."""
    model = Ising(L=L, T=T, h=h)
    P = _sweep_matrix(model)
    pi = _boltzmann(model, _all_states(L))
    np.testing.assert_allclose(pi @ P, pi, atol=1e-14)
    Q = np.linalg.matrix_power(P, 64)
    assert (Q > 0).all()


# ---------------------------------------------------------------------------------------------
# exact thermodynamics (Kaufman's finite-L energy)


def test_kaufman_reference_matches_enumeration():
    """The exact finite-L energy used below, checked by brute force on 4 x 4 (L = 2 too)."""
    for L in (2, 4):
        states = _all_states(L)
        for T in (1.5, TC, 3.0):
            model = Ising(L=L, T=T)
            e = float((_boltzmann(model, states) * model.energy(states)).sum())
            assert ising_energy(T, L) == pytest.approx(e, abs=1e-10)


def _energy_z(model, method, seed, n_sweeps, burn_in):
    _, e, _, info, _, _ = _run(model, method, seed, burn_in=burn_in, n_samples=n_sweeps, thin=1)
    mean, err = _mean_err(e[burn_in:])
    return (mean - ising_energy(model.T, model.L)) / err, mean, err


@pytest.mark.parametrize("T", [2.0, TC, 3.0])
@pytest.mark.parametrize(
    "method,n_sweeps", [("metropolis", 200_000), ("wolff", 40_000), ("sw", 40_000)]
)
def test_energy_matches_kaufman_L16(method, n_sweeps, T):
    """Each method's mean energy at L = 16 within 4 sigma (binning) of the exact value; with
    every method checked against the same exact number they also agree with each other."""
    z, mean, err = _energy_z(Ising(L=16, T=T), method, 7, n_sweeps, burn_in=2000)
    assert abs(z) < 4, (mean, err, z)
    assert err < 3e-3  # the check is sharp, not vacuous


def test_methods_agree_with_each_other_L16():
    T = TC
    res = {
        m: _energy_z(Ising(L=16, T=T), m, 11, n, 2000)[1:]
        for m, n in (("metropolis", 150_000), ("wolff", 30_000), ("sw", 30_000))
    }
    for a, b in itertools.combinations(res, 2):
        (ma, ea), (mb, eb) = res[a], res[b]
        assert abs(ma - mb) < 4 * np.hypot(ea, eb), (a, b, res)


@pytest.mark.slow
@pytest.mark.parametrize("L", [16, 32])
@pytest.mark.parametrize("T", [1.5, 2.0, TC, 3.0])
@pytest.mark.parametrize("method", ["metropolis", "wolff", "sw"])
def test_energy_matches_kaufman_slow(method, T, L):
    n = {"metropolis": 400_000, "wolff": 100_000, "sw": 100_000}[method]
    z, mean, err = _energy_z(Ising(L=L, T=T), method, 1000 + L, n, burn_in=5000)
    assert abs(z) < 4, (mean, err, z)


# ---------------------------------------------------------------------------------------------
# Wolff schedule


def test_wolff_fixed_schedule():
    model = Ising(L=32, T=TC)
    x, e, m, info, state, rng = _run(model, "wolff", 5, burn_in=100, n_samples=10, thin=2)
    k = info["clusters_per_sweep"]
    assert info["pilot"] == "first 50 burn-in sweeps"
    assert k == max(1, round(model.n_sites / info["pilot_mean_cluster_size"]))
    assert 1 < k < 20  # at Tc on 32 x 32 clusters hold a sizeable fraction of the lattice
    assert len(e) == 120
    # Reusing k continues the same fixed schedule without a new pilot.
    x2, e2, _, info2 = ising.run_chain(
        model, "wolff", state, rng, burn_in=0, n_samples=5, thin=1, clusters_per_sweep=k
    )
    assert info2["clusters_per_sweep"] == k and "pilot_mean_cluster_size" not in info2
    # A short burn-in runs its pilot as extra, unrecorded sweeps.
    *_, info3, _, _ = _run(model, "wolff", 6, burn_in=4, n_samples=3, thin=1)
    assert info3["pilot"].endswith("extra unrecorded sweeps")


def test_wolff_low_temperature_one_cluster_per_sweep():
    *_, info, _, _ = _run(Ising(L=16, T=1.0), "wolff", 1, burn_in=40, n_samples=10, thin=1)
    assert info["clusters_per_sweep"] == 1


# ---------------------------------------------------------------------------------------------
# driver protocol


def test_resolve_method_rules_and_errors():
    assert ising.resolve_method(Ising(L=8, T=2.0), "auto") == "wolff"
    assert ising.resolve_method(Ising(L=8, T=2.59), "auto") == "wolff"
    assert ising.resolve_method(Ising(L=8, T=2.6), "auto") == "metropolis"
    assert ising.resolve_method(Ising(L=8, T=1.0, h=0.1), "auto") == "metropolis"
    assert ising.resolve_method(Ising(L=8, T=2.0), "Swendsen-Wang") == "sw"
    assert ising.resolve_method(Ising(L=8, T=2.0), "multispin") == "multispin"
    assert not ising.is_iid(Ising(L=8, T=2.0), "auto")
    with pytest.raises(ParameterError, match="unknown method 'heat'; allowed: auto, metropolis"):
        ising.resolve_method(Ising(L=8, T=2.0), "heat")
    for method in ("wolff", "sw", "multispin"):
        with pytest.raises(ParameterError, match="needs h == 0, got h=0.5"):
            ising.resolve_method(Ising(L=8, T=2.0, h=0.5), method)
    with pytest.raises(ParameterError, match="even L"):
        ising.resolve_method(Ising(L=7, T=2.0), "multispin")
    with pytest.raises(ParameterError, match="Ising instance"):
        ising.resolve_method("ising", "auto")


def test_run_chain_validates_arguments():
    model = Ising(L=4, T=2.0)
    rng = seed_states(0, 1)[0]
    s = ising.init_state(model, "metropolis", rng)
    kw = dict(burn_in=1, n_samples=1, thin=1)
    with pytest.raises(ParameterError, match="run_multispin"):
        ising.run_chain(model, "multispin", s, rng, **kw)
    with pytest.raises(ParameterError, match="int8 array of shape"):
        ising.run_chain(model, "metropolis", s.astype(np.int64), rng, **kw)
    with pytest.raises(ParameterError, match="spins in"):
        ising.run_chain(model, "metropolis", np.zeros((4, 4), np.int8), rng, **kw)
    with pytest.raises(ParameterError, match="thin must be an integer >= 1, got 0"):
        ising.run_chain(model, "metropolis", s, rng, burn_in=1, n_samples=1, thin=0)
    with pytest.raises(ParameterError, match="rng must be"):
        ising.run_chain(model, "metropolis", s, np.zeros(4), **kw)


def test_init_state():
    rng = seed_states(4, 1)[0]
    hot = ising.init_state(Ising(L=32, T=3.0), "metropolis", rng)
    assert hot.dtype == np.int8 and abs(hot.mean()) < 0.15 and set(np.unique(hot)) == {-1, 1}
    assert (ising.init_state(Ising(L=4, T=1.0, h=0.3), "metropolis", rng) == 1).all()
    assert (ising.init_state(Ising(L=4, T=1.0, h=-0.3), "metropolis", rng) == -1).all()
    signs = {int(ising.init_state(Ising(L=4, T=2.0), "wolff", rng)[0, 0]) for _ in range(20)}
    assert signs == {-1, 1}


def test_kernels_release_the_gil_and_threads_do_not_change_results():
    for kernel in (ising._metropolis_chain, ising._wolff_chain, ising._sw_chain):
        assert kernel.targetoptions["nogil"]
    model = Ising(L=16, T=2.3)
    jobs = [("metropolis", 1), ("wolff", 2), ("sw", 3), ("metropolis", 4)]

    def go(method, seed, out, i):
        out[i] = _run(model, method, seed, burn_in=50, n_samples=20, thin=2)[0]

    serial, threaded = [None] * 4, [None] * 4
    for i, (mth, sd) in enumerate(jobs):
        go(mth, sd, serial, i)
    threads = [threading.Thread(target=go, args=(*j, threaded, i)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, threaded, strict=True):
        assert np.array_equal(a, b)


def test_thresholds():
    beta = 0.7
    t = ising.metropolis_thresholds(beta, 0.25)
    for si, s in enumerate((-1, 1)):
        for ni, nb in enumerate((-4, -2, 0, 2, 4)):
            p = min(1.0, np.exp(-beta * 2 * s * (nb + 0.25)))
            assert (int(t[5 * si + ni]) + 1) / 2**64 == pytest.approx(p, rel=1e-15, abs=2**-64)
    assert int(ising.metropolis_thresholds(1e3)[9]) == 0  # p < 2**-64: as good as never
    assert (int(ising.bond_threshold(0.3)) + 1) / 2**64 == pytest.approx(1 - np.exp(-0.6))
