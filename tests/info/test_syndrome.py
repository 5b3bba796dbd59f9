"""The syndrome CMI estimator of the bit-flipped uniform loop gas (latticediff.info.syndrome).

Four independent routes to the same marginals are cross-checked: first-principles enumeration of
the cycle space (with the noise convolved in by Walsh-Hadamard transforms), the parity-check
(syndrome) formula, the explicit sum over cuts, a transfer matrix over plaquette spins with
positive weights, and the production Pfaffians (direct, and rank-4 updates through a selected
inverse). Statistical tests use fixed seeds and 4-sigma tolerances.
"""

import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.info import _rbim
from latticediff.info import syndrome as S
from latticediff.info.result import CMIEstimate

LOG2 = math.log(2.0)


def _annulus(L, r, a=1):
    A, B, C = S.loopgas_regions(L, r, a)
    return [S.edge_mask(L, m) for m in (A, B, C)]


def _regions_3x3():
    """Regions of the 3 x 3 torus: a site, a star, an annulus with a hole, a band, random, all."""
    L = 3
    rng = np.random.default_rng(11)
    star = np.zeros((2, L, L), bool)
    star[0, 1, 1] = star[0, 1, 0] = star[1, 1, 1] = star[1, 0, 1] = True
    ring = np.ones((2, L, L), bool)
    ring[:, 1, 1] = False  # the edges of site (1, 1) removed: a hole
    band = np.zeros((2, L, L), bool)
    band[:, 0, :] = True
    out = [
        S.edge_mask(L, S.loopgas_regions(L, 0)[0]),
        star,
        ring,
        band,
        rng.random((2, L, L)) < 0.6,
        np.ones((2, L, L), bool),
    ]
    return out


# --------------------------------------------------------------------------------------------
# 1. The syndrome formula against brute force
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.03, 0.1092, 0.27])
def test_syndrome_formula_matches_bruteforce_on_3x3_torus(p):
    """H(y_Q) = H(sigma_Q(e_Q)) + (|Q| - rank_Q) log 2 (DESIGN.md §2), to 1e-12."""
    L = 3
    for q in _regions_3x3():
        h_first = S._ref_entropy_cycles(L, p, q)
        h_syn, rank = S._ref_syndrome_entropy(L, p, q)
        assert rank == S.cut_rank(L, q)
        assert h_syn + (q.sum() - rank) * LOG2 == pytest.approx(h_first, abs=1e-12)
        assert S._ref_entropy_cuts(L, p, q) == pytest.approx(h_first, abs=1e-12)


def test_ranks_count_holes():
    """An annulus has one check per vertex star inside it plus one for its hole."""
    L = 7
    qa, qb, _ = _annulus(L, 2)
    # stars inside the 5 x 5 block AB: the 4 x 4 interior vertices; B loses the stars that touch
    # A (3 vertices merged into one component by A's edges) and gains the hole check
    assert S.cut_rank(L, qa | qb) == 16
    assert S.cut_rank(L, qb) == 16 - 3 + 1
    assert S.cut_rank(L, np.ones((2, L, L), bool)) == L * L - 1


# --------------------------------------------------------------------------------------------
# 2. Pfaffians against loop enumeration, transfer matrices and cut sums
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 3, 4])
def test_kasteleyn_sectors_give_trivial_class_loop_sum(L):
    rng = np.random.default_rng(L)
    plan = _rbim.RegionPlan(L, np.ones((2, L, L), bool))
    n = plan.n_nodes
    A = np.empty((n, n))
    hi = np.empty(n, np.int64)
    for _ in range(3):
        x = rng.uniform(-1, 1, (2, L, L))
        c = _rbim.loop_class_sums_bruteforce(L, x)
        w = x.reshape(-1)[plan.bedge]
        pfs = []
        for th in range(4):
            ref = _rbim.pfaffian_reference(_rbim.kasteleyn_dense(plan, w, th))
            _rbim._fill_kasteleyn(A, hi, n, plan.bu, plan.bv, w, plan.bseam, th)
            sg, lg = _rbim.pfaffian_envelope(A, hi, n)
            assert sg * math.exp(lg) == pytest.approx(ref, rel=1e-12, abs=1e-14)
            pfs.append(ref)
        assert sum(pfs) / 4 == pytest.approx(c[0, 0], rel=1e-12)
        lc = _rbim.log_c0(A, hi, n, plan.bu, plan.bv, w, plan.bseam, plan.n_sectors)
        assert math.exp(lc) == pytest.approx(c[0, 0], rel=1e-12)


def test_winding_detection():
    L = 5
    assert _rbim.has_winding_cycle(L, np.ones((2, L, L), bool))
    qa, qb, qc = _annulus(L, 1)
    assert not _rbim.has_winding_cycle(L, qa | qb)
    assert not _rbim.has_winding_cycle(L, qb)
    assert _rbim.has_winding_cycle(L, qb | qc)
    band = np.zeros((2, L, L), bool)
    band[1, 2, :] = True  # dual bonds of a row of vertical edges: a closed horizontal dual loop
    assert _rbim.has_winding_cycle(L, band)
    band[1, 2, 0] = False
    assert not _rbim.has_winding_cycle(L, band)


@pytest.mark.parametrize("L", [3, 4, 5, 6])
def test_log_prob_matches_transfer_matrix_and_cut_sum(L):
    rng = np.random.default_rng(100 + L)
    regions = [np.ones((2, L, L), bool), rng.random((2, L, L)) < 0.8]
    if L >= 4:
        qa, qb, qc = _annulus(L, 1)
        regions += [qb, qa | qb, qb | qc]
    for q in regions:
        for p in (0.01, 0.1092, 0.3):
            y = (rng.random((4, 2, L, L)) < max(p, 0.05)).astype(np.uint8)
            got = S.loopgas_log_prob(L, p, q, y)
            np.testing.assert_allclose(got, S._ref_log_prob_transfer(L, p, q, y), atol=1e-10)
            if S.cut_rank(L, q) <= 16:
                np.testing.assert_allclose(got, S._ref_log_prob_cuts(L, p, q, y), atol=1e-10)


def test_log_prob_is_a_normalised_distribution():
    """sum over all y_Q of P(y_Q) = 1 (|Q| = 10 edges of a 4 x 4 torus)."""
    L = 4
    qa, qb, _ = _annulus(L, 1)
    q = qb.copy()
    q[:, 2, :] = False  # cut the annulus to 10 edges, still with checks
    idx = np.flatnonzero(q.reshape(-1))
    codes = np.arange(2**idx.size)
    y = np.zeros((codes.size, 2 * L * L), np.uint8)
    y[:, idx] = (codes[:, None] >> np.arange(idx.size)[None, :]) & 1
    lp = S.loopgas_log_prob(L, 0.13, q, y.reshape(-1, 2, L, L))
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-12)


def test_log_prob_clean_loop_gas_counts_cycles():
    """p = 0: P(y_Q) = 2^-(|Q| - rank) for y in the cycle space, 0 outside."""
    L = 5
    qa, qb, qc = _annulus(L, 1)
    z = S._cycle_space(3)  # any closed-loop configuration of the 3 x 3 torus would do; use L = 5:
    rng = np.random.default_rng(0)
    y = np.zeros((2, L, L), np.uint8)
    for _ in range(6):  # a random closed loop: boundaries of random plaquettes + a winding loop
        i, j = rng.integers(0, L, 2)
        for c, a, b in ((0, i, j), (0, (i + 1) % L, j), (1, i, j), (1, i, (j + 1) % L)):
            y[c, a, b] ^= 1
    y[0, 2, :] ^= 1
    assert z.shape[0] == 2**10
    for q in (qb, qa | qb, qb | qc, np.ones((2, L, L), bool)):
        lp = S.loopgas_log_prob(L, 0.0, q, y)[0]
        assert lp == pytest.approx(-(q.sum() - S.cut_rank(L, q)) * LOG2, abs=1e-10)
    bad = y.copy()
    bad[0, 0, 0] ^= 1  # two defects
    assert S.loopgas_log_prob(L, 0.0, np.ones((2, L, L), bool), bad)[0] == -np.inf


@pytest.mark.parametrize("L,p", [(4, 0.1), (6, 0.11), (7, 0.03)])
def test_ldl_factor_and_takahashi_band_match_dense_inverse(L, p):
    rng = np.random.default_rng(L)
    plan = _rbim.RegionPlan(L, np.ones((2, L, L), bool))
    t = 1 - 2 * p
    w = np.where(rng.random(plan.bedge.size) < p, -t, t)
    n = plan.n_nodes
    for th in range(4):
        K = _rbim.kasteleyn_dense(plan, w, th)
        A = np.zeros((n, n))
        hi = np.zeros(n, np.int64)
        perm = np.zeros(n, np.int64)
        ext = np.zeros(n, np.int64)
        piv = np.zeros(n)
        _rbim._fill_kasteleyn(A, hi, n, plan.bu, plan.bv, w, plan.bseam, th)
        sg, lg = _rbim.ldl_envelope(A, hi, n, perm, ext, piv)
        assert sg * math.exp(lg) == pytest.approx(_rbim.pfaffian_reference(K), rel=1e-11)
        Kp = K[np.ix_(perm, perm)]
        Lm, D = np.eye(n), np.zeros((n, n))
        for k in range(0, n, 2):
            d = piv[k // 2]
            D[k, k + 1], D[k + 1, k] = d, -d
            Lm[k + 2 : ext[k] + 1, k] = -A[k + 1, k + 2 : ext[k] + 1] / d
            Lm[k + 2 : ext[k] + 1, k + 1] = A[k, k + 2 : ext[k] + 1] / d
        np.testing.assert_allclose(Lm @ D @ Lm.T, Kp, atol=1e-12)
        Z = np.zeros((n, n))
        band = np.arange(n)
        _rbim.takahashi_band(A, n, ext, piv, Z, band)
        inside = (
            np.maximum.outer(np.arange(n), np.arange(n))
            <= band[np.minimum.outer(np.arange(n), np.arange(n))]
        )
        np.testing.assert_allclose(Z[inside], np.linalg.inv(Kp)[inside], atol=1e-10)
        x = np.zeros(n)
        x[3] = 1.0
        _rbim.ldl_solve(A, n, ext, piv, x)
        np.testing.assert_allclose(x, np.linalg.solve(Kp, np.eye(n)[3]), atol=1e-10)


@pytest.mark.parametrize("L,r,p", [(5, 1, 0.02), (8, 2, 0.11), (7, 2, 0.3)])
def test_site_updates_match_direct_pfaffians(L, r, p):
    """All-site rank-4 updates (global region) and per-site updates (local) == direct."""
    qa, qb, qc = _annulus(L, r)
    a_edges = np.flatnonzero(qa.reshape(-1))
    errs = S._draw_errors(L, p, 5, 3)
    sites = S._site_sites(L, 1)
    res, fb = S._site_log_c0(L, p, errs, r, 1, sites)
    assert fb.sum() == 0
    for s in (0, 7, len(sites) - 1):
        i0, j0 = sites[s]
        sh = np.roll(errs.reshape(-1, 2, L, L), (-i0, -j0), axis=(2, 3)).reshape(len(errs), -1)
        lp = S._log_probs(L, p, sh, [qb, qa | qb, qa | qb | qc], [None, a_edges, a_edges])
        ref = np.concatenate(
            [
                lp[:, 0, :1] + qb.sum() * LOG2,
                lp[:, 1, :4] + (qa | qb).sum() * LOG2,
                lp[:, 2, :4] + 2 * L * L * LOG2,
            ],
            axis=1,
        )
        np.testing.assert_allclose(res[:, s, :], ref, atol=1e-9)


# --------------------------------------------------------------------------------------------
# 3. Estimators: unbiasedness, clean limit, reproducibility
# --------------------------------------------------------------------------------------------


def test_entropy_estimates_are_unbiased_on_3x3_torus():
    L, p = 3, 0.12
    for q in _regions_3x3()[1:]:
        exact = S._ref_entropy_cuts(L, p, q)
        ests = [S.loopgas_entropy(L, p, q, n_samples=400, seed=s) for s in range(5)]
        mean = np.mean([e.value for e in ests])
        err = math.sqrt(sum(e.stderr**2 for e in ests)) / len(ests)
        # regions without checks have y_Q uniform: every sample gives |Q| log 2 exactly
        assert abs(mean - exact) < 4 * err + 1e-12, (mean, exact, err)


def _exact_cmi(L, p, r):
    qa, qb, qc = _annulus(L, r)
    h = {
        k: S._ref_entropy_cuts(L, p, m) if m.any() else 0.0
        for k, m in {"AB": qa | qb, "BC": qb | qc, "B": qb, "ABC": qa | qb | qc}.items()
    }
    return h["AB"] + h["BC"] - h["B"] - h["ABC"]


@pytest.mark.parametrize("estimator", ["kl", "difference", "direct"])
def test_cmi_estimators_are_unbiased_on_3x3_torus(estimator):
    """r = 0 (the largest shell a 3 x 3 torus allows): I(A:C) against enumeration."""
    L, p = 3, 0.1
    exact = _exact_cmi(L, p, 0)
    assert 0.1 < exact < 2 * LOG2
    ests = [S.syndrome_cmi(L, p, 0, n_samples=300, seed=s, estimator=estimator) for s in range(4)]
    mean = np.mean([e.value for e in ests])
    err = math.sqrt(sum(e.stderr**2 for e in ests)) / len(ests)
    assert abs(mean - exact) < 4 * err, (mean, exact, err)


def test_clean_loop_gas_is_markov_for_r_ge_1():
    """p = 0: I = 0 exactly for every r >= 1 (sites own their two edges); I(A:C) > 0 at r = 0."""
    for L in (4, 5, 8, 9):
        for a in (1, 2):
            for r in range(0, (L - 1 - a) // 2 + 1):
                est = S.syndrome_cmi(L, 0.0, r, a=a)
                # r = 0: x_A is fixed by x_C up to the a = 2 block's inner plaquette loop
                want = {1: 2 * LOG2, 2: 6 * LOG2}[a] if r == 0 else 0.0
                assert est.value == pytest.approx(want, abs=1e-12)
                assert est.stderr == 0.0


def test_pfaffian_path_reproduces_clean_counts():
    """The Pfaffians at p = 0 (t = 1) give the integer counts of the exact path."""
    L = 6
    y = np.zeros((1, 2, L, L), np.uint8)
    for q in _annulus(L, 2):
        lp = S._log_probs(L, 0.0, y.reshape(1, -1), [q], [None])[0, 0, 0]
        assert lp == pytest.approx(-(q.sum() - S.cut_rank(L, q)) * LOG2, abs=1e-9)


def test_cmi_estimators_agree_and_are_not_negative():
    L, p, r = 6, 0.11, 1
    kl = S.syndrome_cmi(L, p, r, n_samples=200, seed=4)
    diff = S.syndrome_cmi(L, p, r, n_samples=200, seed=5, estimator="difference")
    direct = S.syndrome_cmi(L, p, r, n_samples=600, seed=6, estimator="direct")
    assert isinstance(kl, CMIEstimate) and kl.method == "syndrome" and kl.radius == r
    assert kl.details["estimator"] == "kl" and kl.details["n_sites"] == L * L
    for e in (kl, diff, direct):
        assert e.value > -3 * e.stderr
    assert kl.value > 0  # every KL term is >= 0
    for e in (diff, direct):
        assert abs(kl.value - e.value) < 4 * math.hypot(kl.stderr, e.stderr)
    assert kl.details["marginal_check"] < 1e-10
    assert kl.stderr < diff.stderr  # the KL form is the low-variance one here
    ent = kl.details["entropies"]
    cmi_from_entropies = ent["AB"][0] + ent["BC"][0] - ent["B"][0] - ent["ABC"][0]
    assert cmi_from_entropies == pytest.approx(kl.details["other_estimator"]["difference"][0])


def test_seed_reproducibility_and_thread_independence():
    a = S.syndrome_cmi(6, 0.1, 1, n_samples=40, seed=9, n_threads=1)
    b = S.syndrome_cmi(6, 0.1, 1, n_samples=40, seed=9, n_threads=2)
    c = S.syndrome_cmi(6, 0.1, 1, n_samples=40, seed=10)
    assert a.value == b.value and a.stderr == b.stderr
    assert a.details == b.details
    assert c.value != a.value
    ss = np.random.SeedSequence(77)
    d = S.syndrome_cmi(6, 0.1, 1, n_samples=20, seed=ss)
    assert S.syndrome_cmi(6, 0.1, 1, n_samples=20, seed=ss).value == d.value  # ss not consumed
    # the first samples do not depend on how many are drawn
    e1 = S._draw_errors(5, 0.2, 3000, 1)
    e2 = S._draw_errors(5, 0.2, 10, 1)
    np.testing.assert_array_equal(e1[:10], e2)


def test_parameter_errors_name_the_value():
    with pytest.raises(ParameterError, match="2 \\* radius"):
        S.syndrome_cmi(6, 0.1, 3)
    with pytest.raises(ParameterError, match="p must be in"):
        S.syndrome_cmi(6, 0.7, 1)
    with pytest.raises(ParameterError, match="L must be"):
        S.syndrome_cmi(1, 0.1, 0)
    with pytest.raises(ParameterError, match="estimator"):
        S.syndrome_cmi(6, 0.1, 1, estimator="mine")
    with pytest.raises(ParameterError, match="a = 1 only"):
        S.syndrome_cmi(8, 0.1, 1, a=2, estimator="kl")
    with pytest.raises(ParameterError, match="region_mask"):
        S.loopgas_entropy(4, 0.1, np.ones((3, 3), bool))
    with pytest.raises(ParameterError, match="n_samples"):
        S.loopgas_entropy(4, 0.1, np.ones((4, 4), bool), n_samples=1)


def test_block_a2_direct_estimator_runs():
    est = S.syndrome_cmi(8, 0.1, 1, a=2, n_samples=20, seed=0)
    assert est.details["estimator"] == "direct" and est.details["n_edges"]["AB"] == 2 * 16
    assert math.isfinite(est.value) and est.stderr > 0


# --------------------------------------------------------------------------------------------
# 4. Larger checks (slow)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_l12_site_estimator_matches_direct_and_is_fast():
    import time

    L, p, r = 12, 0.11, 2
    S.syndrome_cmi(L, p, r, n_samples=2, seed=0)  # compile
    t0 = time.perf_counter()
    kl = S.syndrome_cmi(L, p, r, n_samples=300, seed=1)
    dt = time.perf_counter() - t0
    direct = S.syndrome_cmi(L, p, r, n_samples=1500, seed=2, estimator="direct")
    assert abs(kl.value - direct.value) < 4 * math.hypot(kl.stderr, direct.stderr)
    assert kl.details["n_direct_fallbacks"] == 0
    assert dt < 120  # generous: the machine is shared


@pytest.mark.slow
def test_cmi_decays_with_radius_away_from_threshold():
    for p in (0.05, 0.15):
        vals = [S.syndrome_cmi(10, p, r, n_samples=200, seed=r) for r in (1, 2, 3)]
        for x, y in zip(vals, vals[1:], strict=False):
            assert y.value < x.value
