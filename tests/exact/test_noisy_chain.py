"""Exact noisy-chain values against brute force, and their physics (monotonicity, decay)."""

import itertools
import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.exact import noisy_chain as nc

CASES = [(1.0, 0.1), (1.0, 0.2), (0.4, 0.05), (-0.7, 0.3)]


def _brute_joint(K: float, p: float, n: int) -> np.ndarray:
    """P(s, y) of n consecutive sites of the infinite stationary noisy chain, shape (2^n, 2^n).

    Written independently of the module: explicit loops over configurations.
    """
    confs = np.array(list(itertools.product([1, -1], repeat=n)))
    ps = np.full(len(confs), 0.5)
    for i in range(n - 1):
        ps *= np.exp(K * confs[:, i] * confs[:, i + 1]) / (2 * np.cosh(K))
    agree = confs[:, None, :] == confs[None, :, :]  # [s, y, site]
    pyx = np.prod(np.where(agree, 1 - p, p), axis=2)
    return ps[:, None] * pyx, confs


def _H(p):
    p = np.asarray(p).ravel()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _marginal_y(joint, confs, keep):
    """Marginal distribution of y on the sites in ``keep``."""
    py = joint.sum(axis=0)
    keys = confs[:, keep]
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    return np.bincount(inv.ravel(), weights=py)


@pytest.mark.parametrize("K,p", CASES)
@pytest.mark.parametrize("R", [0, 1, 2, 3])
def test_window_entropies_match_brute_force(K, p, R):
    n = 2 * R + 1
    joint, confs = _brute_joint(K, p, n)
    assert abs(joint.sum() - 1) < 1e-12
    # H(s_c | y) = H(s_c, y) - H(y)
    c = R
    sc = confs[:, c]
    joint_sc_y = np.stack([joint[sc == 1].sum(axis=0), joint[sc == -1].sum(axis=0)])
    h_s = _H(joint_sc_y) - _H(joint.sum(axis=0))
    assert nc.chain_denoiser_entropy(K, p, R) == pytest.approx(h_s, abs=1e-12)
    # H(y_c | y_others) = H(y) - H(y_others)
    others = [i for i in range(n) if i != c]
    h_y = _H(joint.sum(axis=0)) - (_H(_marginal_y(joint, confs, others)) if others else 0.0)
    assert nc.chain_shell_entropy(K, p, R) == pytest.approx(h_y, abs=1e-12)


@pytest.mark.parametrize("K,p", CASES[:2])
@pytest.mark.parametrize("r,D", [(0, 2), (1, 1), (1, 2), (2, 1)])
def test_finite_far_cmi_matches_brute_force(K, p, r, D):
    n = 2 * (r + D) + 1
    joint, confs = _brute_joint(K, p, n)
    c = r + D
    B = [i for i in range(n) if 0 < abs(i - c) <= r]
    BC = [i for i in range(n) if i != c]
    hb = lambda keep: _H(_marginal_y(joint, confs, keep)) if keep else 0.0  # noqa: E731
    cmi = hb([c, *B]) - hb(B) - (hb([c, *BC]) - hb(BC))
    assert nc.chain_cmi(K, p, r, far=D) == pytest.approx(cmi, abs=1e-12)


def test_ring_deficit_is_the_cmi_at_the_outer_radius():
    """Chain rule: I(A : ring | B) = I(r) - I(r + far), since B + ring is the larger shell."""
    K, p = 1.0, 0.2
    for r, far in [(0, 1), (1, 2), (3, 3)]:
        lhs = nc.chain_cmi(K, p, r, R_max=10) - nc.chain_cmi(K, p, r, far=far, R_max=10)
        assert lhs == pytest.approx(nc.chain_cmi(K, p, r + far, R_max=10), abs=1e-13)


def test_window_entropy_decreases_to_its_limit():
    K, p = 1.0, 0.2
    h = [nc.chain_denoiser_entropy(K, p, r) for r in range(9)]
    assert all(a > b for a, b in zip(h, h[1:], strict=False))
    lim = nc.chain_limits(K, p, R_max=10)
    assert h[-1] > lim["H_s_inf"]
    assert nc.chain_denoiser_entropy(K, p, math.inf, R_max=10) == lim["H_s_inf"]
    # r = 0 is the binary entropy of p
    hb = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert h[0] == pytest.approx(hb, abs=1e-14)


@pytest.mark.parametrize("K,p", [(1.0, 0.05), (1.0, 0.2), (0.5, 0.3)])
def test_cmi_and_gap_positive_decreasing_exponential(K, p):
    cmi = np.array([nc.chain_cmi(K, p, r, R_max=11) for r in range(11)])
    gap = np.array([nc.chain_denoiser_gap(K, p, r, R_max=11) for r in range(11)])
    for v in (cmi, gap):
        assert np.all(v[:9] > 0)
        assert np.all(np.diff(v[:9]) < 0)
    lam = nc.chain_decay_rate(K, p)
    # sub-leading terms alternate in sign: the two-step ratio cancels them at leading order
    for v in (cmi, gap):
        ratio = math.sqrt(v[8] / v[6])
        assert ratio == pytest.approx(lam, rel=0.01)


def test_clean_and_pure_noise_limits():
    for r in range(1, 6):
        assert abs(nc.chain_cmi(1.3, 0.0, r, R_max=7)) < 1e-14  # clean chain is Markov
        assert abs(nc.chain_cmi(1.3, 0.0, r, far=2, R_max=7)) < 1e-14
        assert abs(nc.chain_cmi(1.3, 0.5, r, R_max=7)) < 1e-14  # y independent of s
        assert abs(nc.chain_cmi(0.0, 0.2, r, R_max=7)) < 1e-14  # independent spins
    assert abs(nc.chain_cmi(1.3, 0.5, 0, R_max=7)) < 1e-14
    # r = 0 of the clean chain: I(y_0 : rest) = I(s_0 : s_-1, s_1) > 0
    assert nc.chain_cmi(1.3, 0.0, 0, R_max=7) > 0.1
    # the denoiser gap of the clean chain is 0 already at r = 0
    assert abs(nc.chain_denoiser_gap(1.3, 0.0, 0, R_max=7)) < 1e-14
    assert nc.chain_markov_length(1.0, 0.0) == 0.0
    assert nc.chain_markov_length(0.0, 0.2) == 0.0
    assert nc.chain_markov_length(1.0, 0.5) == pytest.approx(-1 / (2 * math.log(math.tanh(1.0))))


def _debruijn_rate(K, p, m):
    """Slow reference for the decay rate: the second-moment operator on the last m observations.

    The filter message is computed from the last m observations only (uninformed before), so the
    state space is finite (2 x 2^m); the Perron root is found by plain power iteration.
    """
    h = math.atanh(1 - 2 * p)
    tk = math.tanh(K)
    n = 2**m
    codes = np.arange(n)
    u = np.zeros(n)
    for j in range(m - 1, -1, -1):
        y = 1 - 2 * ((codes >> j) & 1)
        u = h * y + np.arctanh(tk * np.tanh(u))
    w = (tk * (1 - np.tanh(u) ** 2) / (1 - tk**2 * np.tanh(u) ** 2)) ** 2
    T = np.array([[math.exp(K), math.exp(-K)], [math.exp(-K), math.exp(K)]]) / (2 * math.cosh(K))
    E = np.array([[1 - p, p], [p, 1 - p]])
    v = np.ones((2, n))
    lam = 0.0
    for _ in range(400):
        new = np.zeros_like(v)
        for s in range(2):
            for s2 in range(2):
                for yb in range(2):
                    nxt = ((codes << 1) | yb) & (n - 1)
                    new[s] += w * T[s, s2] * E[yb, s2] * v[s2, nxt]
        lam = np.abs(new).max() / np.abs(v).max()
        v = new / np.abs(new).max()
    return lam


@pytest.mark.parametrize("K,p", [(1.0, 0.2), (0.5, 0.1)])
def test_decay_rate_matches_debruijn_reference(K, p):
    # the truncated reference converges geometrically (alternating) in m: average m, m+1
    ref = 0.5 * (_debruijn_rate(K, p, 11) + _debruijn_rate(K, p, 12))
    assert nc.chain_decay_rate(K, p) == pytest.approx(ref, rel=2e-4)
    # the gauge map s_i -> (-1)^i s_i, y_i -> (-1)^i y_i sends K to -K
    assert nc.chain_markov_length(-K, p) == pytest.approx(nc.chain_markov_length(K, p), rel=1e-12)


def test_infinite_limit_error_estimate_is_honest():
    for K, p in [(1.0, 0.2), (1.5, 0.15)]:
        coarse = nc.chain_limits(K, p, R_max=7)
        fine = nc.chain_limits(K, p, R_max=11)
        for key in ("H_s_inf", "H_y_inf"):
            diff = abs(coarse[key] - fine[key])
            assert diff <= coarse[key + "_error"] + fine[key + "_error"]
            assert fine[key + "_error"] < coarse[key + "_error"]
    assert nc.chain_limits(1.0, 0.2, R_max=11)["H_y_inf_error"] < 1e-7


def test_sampler_statistics():
    K, p = 0.8, 0.15
    s, y = nc.sample_noisy_chain(K, p, n=2000, N=64, rng=np.random.default_rng(7))
    assert s.dtype == np.int8 and set(np.unique(s)) == {-1, 1}
    # bonds are i.i.d. (exact Markov chain sampling): binomial errors are honest
    nn = (s[:, 1:] * s[:, :-1]).astype(float)
    assert abs(nn.mean() - math.tanh(K)) < 4 * nn.std() / math.sqrt(nn.size)
    agree = (s * y).astype(float)
    assert abs(agree.mean() - (1 - 2 * p)) < 4 * agree.std() / math.sqrt(agree.size)
    m0 = s[:, 0].astype(float)  # first spin uniform
    assert abs(m0.mean()) < 4 / math.sqrt(m0.size)
    s2, y2 = nc.sample_noisy_chain(K, p, n=2000, N=64, rng=7)
    assert np.array_equal(s, s2) and np.array_equal(y, y2)


def test_parameter_errors():
    with pytest.raises(ParameterError, match=r"p must be in \[0, 0.5\]"):
        nc.chain_cmi(1.0, 0.7, 1)
    with pytest.raises(ParameterError, match="r must be >= 0"):
        nc.chain_cmi(1.0, 0.1, -1)
    with pytest.raises(ParameterError, match="exceeds R_max"):
        nc.chain_denoiser_entropy(1.0, 0.1, 13)
    with pytest.raises(ParameterError, match="K must be finite"):
        nc.chain_markov_length(math.inf, 0.1)
    with pytest.raises(ParameterError, match="R_max"):
        nc.chain_limits(1.0, 0.1, R_max=20)
