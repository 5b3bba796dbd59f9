"""Tests of the Potts samplers (latticediff.mc.potts).

Statistical tests use fixed seeds, so they are deterministic: a pass stays a pass. Thresholds
are p > 1e-3 for chi-square tests and 4 standard errors (with tau_int from
latticediff.mc.autocorr) for means; samples are thinned by at least 2 tau_int, which the tests
check, so the chi-square statistic is not inflated by correlations.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import chisquare

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.mc import potts
from latticediff.mc._rng import Xoshiro256Reference, seed_states
from latticediff.mc.autocorr import mean_stderr, tau_int

P_MIN = 1e-3


def chi2_pvalue(observed: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> float:
    """Chi-square p-value, pooling every bin with expected count < min_expected into one."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = observed.sum() * np.asarray(probs, dtype=np.float64) / np.sum(probs)
    assert observed[expected == 0].sum() == 0, "sampled a state of probability zero"
    big = expected >= min_expected
    o, e = list(observed[big]), list(expected[big])
    if (~big).any():
        o_rest, e_rest = observed[~big].sum(), expected[~big].sum()
        if e_rest >= min_expected or not o:
            o.append(o_rest)
            e.append(e_rest)
        else:  # too small even pooled: merge into the smallest kept bin
            k = int(np.argmin(e))
            o[k] += o_rest
            e[k] += e_rest
    assert len(o) >= 2
    return float(chisquare(o, e).pvalue)


def run(model, method, *, seed, burn_in, n_samples, thin, **kw):
    rng = seed_states(seed, 1)[0]
    s = potts.init_state(model, method, rng)
    return potts.run_chain(
        model, method, s, rng, burn_in=burn_in, n_samples=n_samples, thin=thin, **kw
    )


# ---------------------------------------------------------------------------------- exact


def full_state_distribution(model):
    """All q^N states (base-q digits, first site most significant) and their probabilities."""
    n = model.n_sites
    states = np.array(list(itertools.product(range(model.q), repeat=n)), dtype=np.uint8)
    e = model.energy(states.reshape(-1, *model.shape)) * n
    w = np.exp(-model.beta * (e - e.min()))
    return w / w.sum()


def full_state_index(x, q):
    flat = x.reshape(len(x), -1).astype(np.int64)
    return flat @ (q ** np.arange(flat.shape[1] - 1, -1, -1, dtype=np.int64))


def set_partitions(n):
    """Restricted growth strings of length n (one per set partition of n sites)."""
    out = []

    def rec(prefix, k):
        if len(prefix) == n:
            out.append(list(prefix))
            return
        for a in range(k + 1):
            rec([*prefix, a], max(k, a + 1))

    rec([0], 1)
    return np.array(out, dtype=np.int64)


def pattern_distribution(model):
    """Exact probabilities of colour patterns (states up to a relabelling of colours).

    A pattern with k blocks stands for q (q-1) ... (q-k+1) colourings of equal energy.
    """
    pats = set_partitions(model.n_sites)
    k = pats.max(axis=1) + 1
    mult = np.array([math.prod(range(model.q - kk + 1, model.q + 1)) for kk in k], dtype=float)
    e = model.energy(pats.reshape(-1, *model.shape)) * model.n_sites
    w = mult * np.exp(-model.beta * (e - e.min()))
    return pats, w / w.sum()


def canonical_patterns(x):
    """Relabel each sample's colours in order of first appearance (row-major)."""
    s = x.reshape(len(x), -1).astype(np.int64)
    n = s.shape[1]
    first = np.argmax(s[:, :, None] == s[:, None, :], axis=2)  # first site with the same colour
    is_first = first == np.arange(n)
    return np.take_along_axis(np.cumsum(is_first, axis=1), first, axis=1) - 1


def pattern_index(pats, x):
    n = pats.shape[1]
    powers = n ** np.arange(n - 1, -1, -1, dtype=np.int64)
    codes = pats @ powers
    order = np.argsort(codes)
    got = canonical_patterns(x) @ powers
    pos = np.searchsorted(codes[order], got)
    assert (codes[order][pos] == got).all()
    return order[pos]


def brute_force_ising_energy(T, L):
    """Mean energy per site of the L x L periodic Ising model by enumerating 2^(L^2) states."""
    n = L * L
    idx = np.arange(2**n, dtype=np.int64)
    spins = (1 - 2 * ((idx[:, None] >> np.arange(n)) & 1)).astype(np.int8).reshape(-1, L, L)
    e = ld.Ising(L=L, T=T).energy(spins) * n
    w = np.exp(-(e - e.min()) / T)
    return float((w * e).sum() / w.sum() / n)


# ---------------------------------------------------------------------------------- tests


def test_resolve_method_and_errors():
    tc3 = potts.critical_temperature(3)
    assert abs(tc3 - 0.994973) < 1e-6
    assert abs(potts.critical_temperature(4) - 0.910239) < 1e-6
    assert potts.resolve_method(ld.Potts(L=4, q=3, T=tc3)) == "wolff"
    assert potts.resolve_method(ld.Potts(L=4, q=2, T=5.0)) == "heatbath"
    assert potts.resolve_method(ld.Potts(L=4, q=5, T=0.5)) == "heatbath"
    assert potts.resolve_method(ld.Potts(L=4, q=3, T=1.0), "Swendsen-Wang") == "sw"
    assert not potts.is_iid(ld.Potts(L=4, q=3, T=1.0), "sw")
    with pytest.raises(ParameterError, match="'glauber'.*'heatbath'"):
        potts.resolve_method(ld.Potts(L=4, q=3, T=1.0), "glauber")
    with pytest.raises(ParameterError, match="Potts model"):
        potts.resolve_method(ld.Ising(L=4, T=1.0), "auto")
    m = ld.Potts(L=4, q=3, T=1.0)
    rng = seed_states(0, 1)[0]
    with pytest.raises(ParameterError, match="thin"):
        potts.run_chain(
            m, "sw", potts.init_state(m, "sw", rng), rng, burn_in=0, n_samples=1, thin=0
        )
    with pytest.raises(ParameterError, match="uint8 of shape"):
        potts.run_chain(m, "sw", np.zeros((4, 4), np.int64), rng, burn_in=0, n_samples=1, thin=1)
    with pytest.raises(ParameterError, match="clusters_per_sweep"):
        potts.run_chain(
            m,
            "sw",
            potts.init_state(m, "sw", rng),
            rng,
            burn_in=0,
            n_samples=1,
            thin=1,
            clusters_per_sweep=2,
        )


KERNELS = {
    "heatbath": (
        lambda s, r, q, beta: potts._local_sweep(s, r, q, potts._tables(beta)[0], False) * 0,
        lambda s, ref, q, beta: potts.heatbath_sweep_reference(s, ref, q, beta) or 0,
    ),
    "metropolis": (
        lambda s, r, q, beta: potts._local_sweep(s, r, q, potts._tables(beta)[0], True),
        potts.metropolis_sweep_reference,
    ),
    "wolff": (
        lambda s, r, q, beta: potts._wolff_cluster(
            s, r, q, potts._tables(beta)[1], np.empty(s.size, np.int64)
        ),
        potts.wolff_cluster_reference,
    ),
    "sw": (
        lambda s, r, q, beta: potts._sw_sweep(
            s, r, q, potts._tables(beta)[1], np.empty(s.size, np.int64), np.empty(s.size, np.int64)
        ),
        potts.sw_sweep_reference,
    ),
}


@pytest.mark.parametrize("method", potts.METHODS)
@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("q", [2, 3, 10, 255])
def test_kernel_matches_reference_bit_for_bit(method, L, q):
    kernel, reference = KERNELS[method]
    for T in (0.3, 1.0, 4.0):
        st = seed_states([L, q, int(10 * T)], 2)
        s0 = potts.init_state(ld.Potts(L=L, q=q, T=T), method, st[0])
        a, b = s0.copy(), s0.copy()
        rng = st[1].copy()
        ref = Xoshiro256Reference(st[1])
        for _ in range(4):
            assert kernel(a, rng, q, 1 / T) == reference(b, ref, q, 1 / T)
            np.testing.assert_array_equal(a, b)
        assert [int(v) for v in rng] == ref.s
        assert a.max() < q


@pytest.mark.parametrize("method", potts.METHODS)
@pytest.mark.parametrize(("L", "q"), [(2, 2), (3, 7), (4, 255)])
def test_run_chain_matches_reference_chain(method, L, q):
    """The whole driver (sweeps + colour relabelling + sampling) against the Python chain."""
    model = ld.Potts(L=L, q=q, T=0.8)
    st = seed_states([L, q, 7], 2)
    s = potts.init_state(model, method, st[0])
    expected = potts.run_chain_reference(
        model, method, s.copy(), Xoshiro256Reference(st[1]), n_sweeps=6, clusters_per_sweep=2
    )
    kw = {"clusters_per_sweep": 2} if method == "wolff" else {}
    rng = st[1].copy()
    x, e, m, _ = potts.run_chain(model, method, s, rng, burn_in=2, n_samples=2, thin=2, **kw)
    np.testing.assert_array_equal(x, np.stack(expected)[[3, 5]])
    np.testing.assert_array_equal(s, expected[-1])
    np.testing.assert_allclose(e, model.energy(np.stack(expected)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(m, model.magnetization(np.stack(expected)), rtol=0, atol=1e-15)


# (L, q, T, histogram kind): full-state histograms where q^N is small, colour-pattern histograms
# (exact for any q) otherwise; L = 3 exercises the sequential (odd-L) sweep. T = Tc(q) except
# for q = 255: at Tc the 2 x 2 lattice tunnels so rarely between its ordered and all-distinct
# patterns (tau_int ~ 400 sweeps except for heat bath) that T = 0.7 keeps the test cheap.
CASES = [
    (2, 2, None, "full"),
    (2, 3, None, "full"),
    (2, 4, None, "full"),
    (2, 10, None, "pattern"),
    (2, 255, 0.7, "pattern"),
    (3, 2, None, "full"),
    (3, 3, None, "pattern"),
    (3, 10, None, "pattern"),
]


@pytest.mark.parametrize("method", potts.METHODS)
@pytest.mark.parametrize(("L", "q", "T", "kind"), CASES)
def test_state_histogram_matches_enumeration(method, L, q, T, kind):
    model = ld.Potts(L=L, q=q, T=potts.critical_temperature(q) if T is None else T)
    rng = seed_states([L, q, len(method)], 1)[0]
    s = potts.init_state(model, method, rng)
    # Pilot: thin by 3 tau_int of the energy, the order parameter and, for full-state
    # histograms, the fraction of colour 0 (a slow mode invisible to the colour-symmetric
    # series; patterns do not see it).
    x, e, m, _ = potts.run_chain(model, method, s, rng, burn_in=2000, n_samples=20_000, thin=1)
    series = [e[2000:], m[2000:]] + ([(x == 0).mean(axis=(1, 2))] if kind == "full" else [])
    thin = math.ceil(3 * max(tau_int(y).tau for y in series))
    n = {"full": 40_000, "pattern": 10_000 if L == 2 else 20_000}[kind]
    x, e, m, _ = potts.run_chain(model, method, s, rng, burn_in=0, n_samples=n, thin=thin)
    for y in (e, m):
        assert thin >= tau_int(y).tau
    if kind == "full":
        assert tau_int((x == 0).mean(axis=(1, 2))).tau < 1.0
    if kind == "full":
        probs = full_state_distribution(model)
        obs = np.bincount(full_state_index(x, q), minlength=probs.size)
    else:
        pats, probs = pattern_distribution(model)
        obs = np.bincount(pattern_index(pats, x), minlength=probs.size)
    assert chi2_pvalue(obs, probs) > P_MIN


@pytest.mark.parametrize("method", ["heatbath", "wolff", "sw"])
def test_q2_is_ising_at_twice_the_temperature(method):
    """delta(s, s') = (1 + S S') / 2 with S = 1 - 2 s: Potts q=2 at T is Ising at 2T, and
    e_potts = (e_ising - 2) / 2 per site."""
    for L, T, exact in ((4, 1.0, None), (4, 1.4, None), (16, 1.0, "kaufman"), (16, 1.3, "kaufman")):
        if exact is None:
            e_ising = brute_force_ising_energy(2 * T, L)
        else:
            try:
                from latticediff.exact import ising_energy
            except ImportError:
                from latticediff.exact.ising2d import ising_energy
            e_ising = float(ising_energy(2 * T, L))
        model = ld.Potts(L=L, q=2, T=T)
        _, e, _, _ = run(
            model, method, seed=[L, int(10 * T)], burn_in=500, n_samples=20_000, thin=1
        )
        e = e[500:]
        err = mean_stderr(e)
        assert abs(e.mean() - (e_ising - 2) / 2) < 4 * err, (L, T, e.mean(), err)


@pytest.mark.parametrize(("L", "q", "T"), [(8, 3, 0.994973), (7, 4, 0.95), (7, 10, 0.75)])
def test_methods_agree_on_larger_lattices(L, q, T):
    model = ld.Potts(L=L, q=q, T=T)
    means = {}
    for method in potts.METHODS:
        _, e, m, _ = run(
            model, method, seed=[L, q, len(method)], burn_in=1000, n_samples=20_000, thin=1
        )
        means[method] = [(s.mean(), mean_stderr(s)) for s in (e[1000:], m[1000:])]
    for a, b in itertools.combinations(potts.METHODS, 2):
        for (ma, sa), (mb, sb) in zip(means[a], means[b], strict=True):
            assert abs(ma - mb) < 4 * math.hypot(sa, sb), (a, b, ma, mb, sa, sb)


def test_wolff_fixed_schedule():
    model = ld.Potts(L=8, q=3, T=0.9)
    x, e, m, info = run(model, "wolff", seed=1, burn_in=100, n_samples=10, thin=3)
    k = info["clusters_per_sweep"]
    assert k == max(1, round(model.n_sites / info["mean_cluster_size_burn_in"]))
    assert info["pilot_clusters"] == 0
    assert e.shape == m.shape == (130,) and x.shape == (10, 8, 8)
    # Observables of the series match the stored samples at the sampling times.
    np.testing.assert_allclose(e[100 + 2 :: 3], model.energy(x))
    np.testing.assert_allclose(m[100 + 2 :: 3], model.magnetization(x))
    # A given k is used as is; without burn-in, unrecorded pilot clusters estimate it.
    _, _, _, info2 = run(
        model, "wolff", seed=1, burn_in=5, n_samples=2, thin=1, clusters_per_sweep=7
    )
    assert info2["clusters_per_sweep"] == 7 and "pilot_clusters" not in info2
    _, e3, _, info3 = run(model, "wolff", seed=1, burn_in=0, n_samples=4, thin=1)
    assert info3["pilot_clusters"] == 20 and e3.shape == (4,)


def test_extreme_temperatures_stay_finite():
    for q in (2, 255):
        # Near T = 0 every move away from the ordered state has weight exp(-4000) = 0 in
        # double precision: the tables must underflow cleanly, never give inf or nan.
        model = ld.Potts(L=6, q=q, T=1e-3)
        for method in potts.METHODS:
            rng = seed_states(q, 1)[0]
            s = np.zeros(model.shape, np.uint8)
            x, e, m, _ = potts.run_chain(model, method, s, rng, burn_in=20, n_samples=5, thin=2)
            assert (e == -2.0).all() and (m == 1.0).all()
            assert (x == x[:, :1, :1]).all()
        model = ld.Potts(L=6, q=q, T=1e6)
        for method in potts.METHODS:
            x, e, m, _ = run(model, method, seed=q, burn_in=50, n_samples=5, thin=2)
            assert np.isfinite(e).all() and np.isfinite(m).all() and x.max() < q


def ratio_and_error(a2: np.ndarray, n_blocks: int = 40) -> tuple[float, float]:
    """R = <a^2> / <a>^2 of a = |m|^2 with a blocked-jackknife error (blocks >> tau_int)."""
    b = a2[: len(a2) // n_blocks * n_blocks].reshape(n_blocks, -1)
    s2, s4 = b.mean(axis=1), (b**2).mean(axis=1)
    loo = [(s4.sum() - s4[i]) / (s2.sum() - s2[i]) ** 2 * (n_blocks - 1) for i in range(n_blocks)]
    loo = np.array(loo)
    return float((a2**2).mean() / a2.mean() ** 2), float(
        math.sqrt((n_blocks - 1) * ((loo - loo.mean()) ** 2).mean())
    )


@pytest.mark.slow
def test_q3_binder_crossing_locates_tc():
    """Crossing of R = <|m|^4> / <|m|^2>^2 of m = mean exp(2 pi i s / 3), L = 16 vs 24.

    R is 1 in the ordered and 2 in the disordered phase; the curves for different L cross
    near Tc = 1 / ln(1 + sqrt 3) = 0.994973. We bracket the crossing between three
    temperatures (the bracket's ends must differ by > 3 sigma) and interpolate linearly.
    """
    temps = (0.975, 0.995, 1.015)
    ratio, err = {}, {}
    for L in (16, 24):
        for T in temps:
            model = ld.Potts(L=L, q=3, T=T)
            x, e, _, _ = run(
                model, "wolff", seed=[L, int(1000 * T)], burn_in=500, n_samples=40_000, thin=1
            )
            assert tau_int(e[500:]).tau < 40  # blocks of 1000 sweeps are >> tau_int
            z = np.exp(2j * np.pi * x.reshape(len(x), -1) / 3).mean(axis=1)
            ratio[L, T], err[L, T] = ratio_and_error(np.abs(z) ** 2)
    d = np.array([ratio[16, T] - ratio[24, T] for T in temps])
    sd = np.array([math.hypot(err[16, T], err[24, T]) for T in temps])
    # Ordered side: the larger lattice is more ordered (smaller R); disordered side: reverse.
    assert d[0] > 3 * sd[0] and d[-1] < -3 * sd[-1], (d, sd)
    k = int(np.argmax(d < 0))
    tc = temps[k - 1] + (temps[k] - temps[k - 1]) * d[k - 1] / (d[k - 1] - d[k])
    assert abs(tc / 0.994973 - 1) < 0.02, (tc, d, sd)
