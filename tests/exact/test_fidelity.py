"""The fidelity bound 2 TV^2 <= D <= I_p - I_q <= I_p, checked exactly against brute force."""

import itertools
import math

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.exact import fidelity as fb
from latticediff.exact import noisy_chain as nc
from latticediff.info.cmi import apply_bitflip_noise, exact_cmi

QUANTITIES = ("tv", "kl", "cmi_p", "cmi_q")
TOL = 1e-12


def _chain_table(K: float, p: float, r: int, l: int) -> np.ndarray:  # noqa: E741
    """p[a, b, c] of the window -(r+l)..(r+l) of the noisy chain, by explicit enumeration.

    Independent of the module: every hidden and observed configuration of the window.
    """
    n = 2 * (r + l) + 1
    bits = np.array(list(itertools.product([0, 1], repeat=n)))
    spins = 1 - 2 * bits
    p_hidden = np.full(len(bits), 0.5)
    for i in range(n - 1):
        p_hidden *= np.exp(K * spins[:, i] * spins[:, i + 1]) / (2 * np.cosh(K))
    same = bits[:, None, :] == bits[None, :, :]  # [hidden, observed, site]
    p_obs = p_hidden @ np.prod(np.where(same, 1 - p, p), axis=2)
    centre = r + l
    A = [centre]
    B = [i for i in range(n) if 0 < abs(i - centre) <= r]
    C = [i for i in range(n) if abs(i - centre) > r]
    return p_obs.reshape((2,) * n).transpose(A + B + C).reshape(2, 2 ** len(B), 2 ** len(C))


_LOOPGAS_TABLE = {}


def _loopgas_noisy(L: int, p: float) -> np.ndarray:
    """Distribution of y = x XOR e over all 2^(2 L^2) edge configurations, axis per edge."""
    if (L, p) not in _LOOPGAS_TABLE:
        states, _ = ld.exact.enumerate_states(ld.LoopGas(L=L))
        flat = states.reshape(len(states), -1).astype(np.int64)
        n = flat.shape[1]
        index = flat @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))
        clean = np.bincount(index, minlength=1 << n) / len(states)
        _LOOPGAS_TABLE[(L, p)] = apply_bitflip_noise(clean, p).reshape((2,) * n)
    return _LOOPGAS_TABLE[(L, p)]


def _loopgas_table(L: int, p: float, r: int, geometry: str) -> np.ndarray:
    masks = fb.fidelity_loopgas_regions(L, r, geometry=geometry)
    order = [list(np.flatnonzero(m.ravel())) for m in masks]
    noisy = np.clip(_loopgas_noisy(L, p), 0.0, None)
    shape = tuple(2 ** len(o) for o in order)
    return noisy.transpose(order[0] + order[1] + order[2]).reshape(shape)


def _assert_same(got, ref, tol=TOL):
    for name in QUANTITIES:
        assert abs(getattr(got, name) - getattr(ref, name)) < tol, (name, got, ref)


# ---------------------------------------------------------------------------------------------
# brute force


@pytest.mark.parametrize(
    "K, p, r, l",
    [(1.0, 0.2, 0, 1), (1.0, 0.1, 1, 2), (1.0, 0.3, 2, 1), (0.5, 0.05, 2, 2), (-0.7, 0.15, 1, 3)],
)
def test_chain_matches_brute_force(K, p, r, l):  # noqa: E741
    table = _chain_table(K, p, r, l)
    deltas = (0.001, 0.05, 0.25)
    got = fb.fidelity_bound_chain(K, p, deltas, r, l=l)
    for d, b in zip(deltas, got, strict=True):
        ref = fb.fidelity_bound_table(table, fb.bitflip_channel(1, d))
        _assert_same(b, ref)
        assert (b.n_a, b.n_b, b.n_c) == (ref.n_a, ref.n_b, ref.n_c) == (1, 2 * r, 2 * l)


def test_chain_numba_kernel_matches_numpy_reference():
    deltas = (0.0, 0.01, 0.1, 0.5)
    fast = fb.fidelity_bound_chain(1.0, 0.2, deltas, 3, l=2)
    slow = fb.fidelity_bound_chain(1.0, 0.2, deltas, 3, l=2, use_numba=False)
    for a, b in zip(fast, slow, strict=True):
        _assert_same(a, b, tol=1e-14)


def test_chain_cmi_matches_transfer_matrix_values():
    for r, l in ((0, 3), (2, 2), (4, 3)):  # noqa: E741
        b = fb.fidelity_bound_chain(1.0, 0.2, 0.1, r, l=l)
        assert abs(b.cmi_p - nc.chain_cmi(1.0, 0.2, r, far=l)) < TOL


def test_chain_converges_monotonically_in_l():
    bounds = [fb.fidelity_bound_chain(1.0, 0.3, 0.1, 1, l=l) for l in range(1, 6)]  # noqa: E741
    for name in ("tv", "kl", "cmi_p"):
        values = [getattr(b, name) for b in bounds]
        assert all(b > a for a, b in zip(values, values[1:], strict=False)), (name, values)
    assert bounds[-1].cmi_p < nc.chain_cmi(1.0, 0.3, 1)  # the infinite-C limit from above


def test_chain_symmetry_classes_cover_every_pattern_pair():
    for r in range(5):
        left, right, weight = fb._chain_b_classes(r)
        assert weight.sum() == 4**r
        assert set(np.unique(weight)) <= {1.0, 2.0, 4.0}


@pytest.mark.parametrize(
    "geometry, r, p", [("edge", 0, 0.05), ("edge", 1, 0.11), ("edge", 2, 0.2), ("site", 0, 0.1)]
)
def test_loopgas_matches_brute_force(geometry, r, p):
    table = _loopgas_table(3, p, r, geometry)
    deltas = (0.01, 0.25)
    got = fb.fidelity_bound_loopgas(3, p, deltas, r, geometry=geometry)
    n_a = int(round(math.log2(table.shape[0])))
    for d, b in zip(deltas, got, strict=True):
        _assert_same(b, fb.fidelity_bound_table(table, fb.bitflip_channel(n_a, d)))


def test_loopgas_cmi_matches_exact_cmi():
    states, probs = ld.exact.exact_distribution(ld.LoopGas(L=3))
    ref = exact_cmi(states, probs, radius=0, p=0.1).value  # site geometry, r = 0
    assert abs(fb.fidelity_bound_loopgas(3, 0.1, 0.1, 0, geometry="site").cmi_p - ref) < TOL


def test_loopgas_clean_and_fully_noisy_limits():
    log2 = math.log(2)
    b = fb.fidelity_bound_loopgas(4, 0.0, 0.1, 0)  # one edge is fixed by the others
    assert abs(b.cmi_p - log2) < TOL and b.tv > 0
    b = fb.fidelity_bound_loopgas(4, 0.0, 0.1, 0, geometry="site")
    assert abs(b.cmi_p - 2 * log2) < TOL
    for geometry in ("edge", "site"):  # clean data with B around A: exactly Markov
        b = fb.fidelity_bound_loopgas(4, 0.0, 0.25, 1, geometry=geometry)
        assert abs(b.cmi_p) < TOL and abs(b.tv) < TOL
        b = fb.fidelity_bound_loopgas(4, 0.5, 0.25, 1, geometry=geometry)
        assert max(abs(getattr(b, q)) for q in QUANTITIES) < TOL


def test_xor_extend_spans_what_it_should():
    rng = np.random.default_rng(5)
    vecs = [int(v) for v in rng.integers(0, 1 << 10, size=14)] + [3, 5, 6]
    basis, added = fb._xor_extend([], vecs)
    assert basis == sorted(basis, reverse=True) and len(added) == len(basis)
    span = set(fb._span(basis).tolist())
    brute = {0}
    for v in vecs:
        brute |= {x ^ v for x in brute}
    assert span == brute and len(span) == 2 ** len(basis)


# ---------------------------------------------------------------------------------------------
# the chain of inequalities and the local recovery


def test_chain_of_inequalities_holds_on_a_grid():
    deltas = (0.001, 0.05, 0.25, 0.5)
    results = []
    for p in (0.0, 0.01, 0.1, 0.3, 0.5):
        for r in range(4):
            results += fb.fidelity_bound_chain(1.0, p, deltas, r, l=2)
    for p in (0.0, 0.05, 0.11, 0.3):
        for geometry, radii in (("edge", (0, 1, 2, 3)), ("site", (0, 1))):
            for r in radii:
                results += fb.fidelity_bound_loopgas(4, p, deltas, r, geometry=geometry)
    worst = max(b.max_violation for b in results)
    assert worst < TOL, worst
    assert all(b.tv >= 0 and b.kl >= 0 and b.cmi_q >= 0 for b in results)
    assert any(b.ratio > 0.1 for b in results)  # not trivially slack


def test_local_recovery_is_not_the_global_one():
    # r = 0 with noisy data: B tells nothing, C does; the recovery that ignores C must err
    b = fb.fidelity_bound_chain(1.0, 0.1, 0.1, 0, l=2)
    assert b.tv > 1e-2 and b.kl > 0 and b.cmi_p > 0
    channel = fb.bitflip_channel(1, 0.1)
    # the global recovery (C moved into B) is exact: TV = 0, and so are the CMIs
    glob = fb.fidelity_bound_table(_chain_table(1.0, 0.1, 0, 2).reshape(2, -1, 1), channel)
    assert max(abs(getattr(glob, q)) for q in QUANTITIES) < TOL


def test_local_recovery_uses_b():
    # clean chain (Markov): the radius-1 recovery from (A, B) is exact, one from A alone is not
    local = fb.fidelity_bound_chain(1.0, 0.0, 0.1, 1, l=2)
    assert abs(local.tv) < TOL and abs(local.cmi_p) < TOL
    table = _chain_table(1.0, 0.0, 1, 2)
    blind = fb.fidelity_bound_table(table.reshape(2, 1, -1), fb.bitflip_channel(1, 0.1))
    assert blind.tv > 1e-2


def test_no_channel_no_error_and_tv_grows_with_delta():
    out = fb.fidelity_bound_chain(1.0, 0.2, (0.0, 0.01, 0.05, 0.25), 1, l=2)
    assert abs(out[0].tv) < TOL and abs(out[0].kl) < TOL and abs(out[0].cmi_drop) < TOL
    tvs = [b.tv for b in out]
    assert all(b > a for a, b in zip(tvs, tvs[1:], strict=False))


def test_fidelity_radius_formula():
    eps, gamma, xi = 1e-3, 0.3, 0.8
    r = fb.fidelity_radius(eps, gamma=gamma, xi=xi)
    assert abs(math.sqrt(gamma * math.exp(-r / xi) / 2) - eps) < 1e-15
    assert fb.fidelity_radius(eps / 10, gamma=gamma, xi=xi) > r


# ---------------------------------------------------------------------------------------------
# parameters and results


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fb.fidelity_bound_chain(1.0, 0.6, 0.1, 1), "p_noise must be in"),
        (lambda: fb.fidelity_bound_chain(1.0, 0.1, 0.7, 1), "delta must be in"),
        (lambda: fb.fidelity_bound_chain(1.0, 0.1, [], 1), "empty"),
        (lambda: fb.fidelity_bound_chain(1.0, 0.1, 0.1, -1), "r must be in"),
        (lambda: fb.fidelity_bound_chain(1.0, 0.1, 0.1, 1, l=0), "l must be in"),
        (lambda: fb.fidelity_bound_chain(1.0, 0.1, 0.1, 10, l=5), "r \\+ l <= 14"),
        (lambda: fb.fidelity_bound_loopgas(5, 0.1, 0.1, 1), "L must be in"),
        (lambda: fb.fidelity_bound_loopgas(3, 0.1, 0.1, 1, geometry="site"), "C empty"),
        (lambda: fb.fidelity_bound_loopgas(3, 0.1, 0.1, 3), "C empty"),
        (lambda: fb.fidelity_bound_loopgas(4, 0.1, 0.1, 1, geometry="ring"), "geometry"),
        (lambda: fb.bitflip_channel(1, 1.5), "delta must be in"),
        (lambda: fb.fidelity_bound_table(np.ones((2, 2)) / 4, np.eye(2)), "three axes"),
        (lambda: fb.fidelity_bound_table(np.ones((2, 1, 2)) / 4, np.ones((2, 2))), "columns"),
        (lambda: fb.fidelity_radius(0.0, gamma=1.0, xi=1.0), "eps must be positive"),
    ],
)
def test_bad_parameters_raise(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_result_is_frozen_validated_and_serialisable():
    b = fb.fidelity_bound_chain(1.0, 0.2, 0.1, 1, l=2)
    with pytest.raises(AttributeError):
        b.tv = 0.0
    d = b.to_dict()
    assert d["params"] == {"K": 1.0, "l": 2} and d["two_tv_sq"] == pytest.approx(2 * b.tv**2)
    assert set(b.violations) == {"pinsker", "kl_vs_cmi_drop", "cmi_drop_vs_cmi"}
    with pytest.raises(ParameterError, match="system"):
        fb.FidelityBound("ising", None, None, None, 0.0, 0.0, 0.0, 0.0, 1, 1, 1)
    with pytest.raises(ParameterError, match="tv must be in"):
        fb.FidelityBound("table", None, None, None, 2.0, 0.0, 0.0, 0.0, 1, 1, 1)
    tiny = fb.FidelityBound("table", None, None, None, 1e-20, 0.0, 1e-30, 0.0, 1, 1, 1)
    assert math.isnan(tiny.ratio) and tiny.to_dict()["ratio"] is None


def test_exported_from_latticediff_exact():
    for name in fb.__all__:
        assert getattr(ld.exact, name) is getattr(fb, name)
