"""Plug-in CMI: pattern counting against brute force, bias corrections, honest error bars."""

import math
from collections import Counter

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.exact.noisy_chain import chain_cmi, sample_noisy_chain
from latticediff.info.cmi import exact_cmi
from latticediff.info.plugin import entropy_from_counts, plugin_cmi
from latticediff.lattice import shell_offsets


def _brute_entropies(x, r, c, block, periodic):
    """Plug-in entropies of AB, BC, B, ABC by explicit loops and Counters."""
    d = x.ndim - 1
    oA, oB, oC = shell_offsets(d, r, block=block, outer=r + c)
    spatial = x.shape[1:]
    counters = {k: Counter() for k in ("AB", "BC", "B", "ABC")}
    allo = np.concatenate([oA, oB, oC])
    for s in range(x.shape[0]):
        for pos in np.ndindex(*spatial):
            pts = np.array(pos) + allo
            if periodic:
                pts = pts % np.array(spatial)
            elif np.any(pts < 0) or np.any(pts >= np.array(spatial)):
                continue
            vals = [int(x[(s, *p)]) for p in pts]
            a = tuple(vals[: len(oA)])
            b = tuple(vals[len(oA) : len(oA) + len(oB)])
            cc = tuple(vals[len(oA) + len(oB) :])
            counters["AB"][a + b] += 1
            counters["BC"][b + cc] += 1
            counters["B"][b] += 1
            counters["ABC"][a + b + cc] += 1
    out = {}
    for k, cnt in counters.items():
        n = np.array(list(cnt.values()), dtype=float)
        N = n.sum()
        out[k] = math.log(N) - float((n * np.log(n)).sum()) / N
    return out


@pytest.mark.parametrize(
    "shape,r,c,block,periodic",
    [
        ((7,), 1, 1, 1, True),
        ((9,), 2, 1, 1, False),
        ((5, 6), 0, 1, 1, True),
        ((6, 6), 0, 1, 2, False),
    ],
)
def test_counting_matches_brute_force(shape, r, c, block, periodic):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(6, *shape)).astype(np.uint8)  # ternary: relabelling tested
    e = plugin_cmi(x, radius=r, c_width=c, block=block, periodic=periodic, bias="none", n_boot=4)
    ref = _brute_entropies(x, r, c, block, periodic)
    for k, v in ref.items():
        assert e.details["entropies_ml"][k] == pytest.approx(v, abs=1e-12)
    assert e.value == pytest.approx(ref["AB"] + ref["BC"] - ref["B"] - ref["ABC"], abs=1e-12)


def test_entropy_corrections():
    c = np.array([3, 1, 0, 6])
    N, m = 10, 3
    ml = math.log(N) - (3 * math.log(3) + 6 * math.log(6)) / N
    assert entropy_from_counts(c) == pytest.approx(ml)
    assert entropy_from_counts(c, bias="miller-madow") == pytest.approx(ml + (m - 1) / (2 * N))
    # Grassberger's G(1) = psi(1) - ln 2 - gamma... checked on counts of one: H_G = ln N - G(1)
    from scipy.special import digamma

    G1 = digamma(1) - 0.5 * (digamma(1) - digamma(0.5))
    assert entropy_from_counts([1, 1, 1, 1], bias="grassberger") == pytest.approx(math.log(4) - G1)
    # bias-corrected estimates are closer to the truth for a uniform law on 64 symbols
    rng = np.random.default_rng(0)
    errs = {b: [] for b in ("none", "miller-madow", "grassberger")}
    for _ in range(50):
        counts = np.bincount(rng.integers(0, 64, 100), minlength=64)
        for b in errs:
            errs[b].append(entropy_from_counts(counts, bias=b) - math.log(64))
    bias = {b: abs(np.mean(v)) for b, v in errs.items()}
    assert bias["grassberger"] < bias["miller-madow"] < bias["none"]
    with pytest.raises(ParameterError):
        entropy_from_counts([1, -1])


def test_iid_data_has_zero_cmi():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2, size=(300, 128), dtype=np.uint8)
    for r in (0, 1, 2):
        e = plugin_cmi(x, radius=r)
        assert abs(e.value) < 4 * e.stderr
        assert e.stderr < 2e-3


@pytest.mark.parametrize("r,c", [(1, 1), (2, 1), (2, 2), (3, 1)])
def test_noisy_chain_against_exact(r, c):
    K, p = 1.0, 0.2
    _, y = sample_noisy_chain(K, p, n=400, N=300, rng=11)
    exact = chain_cmi(K, p, r, far=c)
    for bias in ("grassberger", "miller-madow"):
        e = plugin_cmi(y, radius=r, c_width=c, periodic=False, bias=bias)
        assert abs(e.value - exact) < 4 * e.stderr, (bias, e, exact)
    # the uncorrected plug-in is biased upwards once B C has many patterns
    raw = plugin_cmi(y, radius=3, c_width=2, periodic=False, bias="none")
    assert raw.value - chain_cmi(K, p, 3, far=2) > 4 * raw.stderr


def test_error_bar_is_calibrated():
    """The spread of estimates over independent data sets matches the reported errors."""
    K, p, r, c = 1.0, 0.2, 1, 1
    est, err_jk, err_bs = [], [], []
    for seed in range(30):
        _, y = sample_noisy_chain(K, p, n=100, N=200, rng=1000 + seed)
        e = plugin_cmi(y, radius=r, c_width=c, periodic=False)
        b = plugin_cmi(y, radius=r, c_width=c, periodic=False, error="bootstrap", n_boot=100)
        est.append(e.value)
        err_jk.append(e.stderr)
        err_bs.append(b.stderr)
    sd = np.std(est, ddof=1)
    # 30 replicas: the sample sd is known to ~13 %; allow a 35 % band
    assert 0.65 < np.mean(err_jk) / sd < 1.35
    assert 0.65 < np.mean(err_bs) / sd < 1.35
    pulls = (np.array(est) - chain_cmi(K, p, r, far=c)) / np.array(err_jk)
    assert abs(np.mean(pulls)) < 4 / math.sqrt(len(pulls))


def test_periodic_data_and_translation_average():
    """A periodic chain is read with wrap-around; the open read discards the seam."""
    K, p = 0.8, 0.1
    _, y = sample_noisy_chain(K, p, n=300, N=200, rng=4)
    e_open = plugin_cmi(y, radius=1, c_width=1, periodic=False)
    assert e_open.details["n_examples"] == 300 * (200 - 4)
    e_per = plugin_cmi(y, radius=1, c_width=1, periodic=True)
    assert e_per.details["n_examples"] == 300 * 200
    # 4 of 200 centres straddle the seam (independent halves): a small, visible difference
    assert abs(e_per.value - e_open.value) < 0.05 * e_open.value + 3 * e_open.stderr


def test_two_dimensional_and_channels_against_exact():
    # 3 x 3 torus: A = a site, C = the ring of width 1 = all 8 other sites, so the plug-in
    # estimates the exact I(A : rest) of the enumerated distribution
    rng = np.random.default_rng(2)
    states, P = ld.exact.exact_distribution(ld.Ising(L=3, T=2.0))
    x = states[rng.choice(len(P), size=4000, p=P)]
    e = plugin_cmi(x, radius=0, c_width=1)
    ref = exact_cmi(states, P, radius=0).value
    assert abs(e.value - ref) < 4 * e.stderr
    # loop gas (2, 3, 3): a site's two edges form one symbol (channel axis)
    states, P = ld.exact.exact_distribution(ld.LoopGas(L=3, x=1.0))
    x = states[rng.choice(len(P), size=4000, p=P)]
    e = plugin_cmi(x, radius=0, c_width=1)
    assert e.details["alphabet"] == 4
    ref = exact_cmi(states, P, radius=0).value
    assert abs(e.value - ref) < 4 * e.stderr


def test_parameter_errors():
    x = np.zeros((10, 20), dtype=np.int8)
    with pytest.raises(ParameterError, match="radius"):
        plugin_cmi(x, radius=-1)
    with pytest.raises(ParameterError, match="c_width"):
        plugin_cmi(x, radius=1, c_width=0)
    with pytest.raises(ParameterError, match="spans"):
        plugin_cmi(x, radius=8, c_width=3)
    with pytest.raises(ParameterError, match="bias"):
        plugin_cmi(x, radius=1, bias="nsb")
    with pytest.raises(ParameterError, match="error='jackknife'"):
        plugin_cmi(x, radius=1, bias="jackknife", error="bootstrap")
    with pytest.raises(ParameterError, match="integer or bool"):
        plugin_cmi(x.astype(float), radius=1)
    with pytest.raises(ParameterError, match=">= 2 samples"):
        plugin_cmi(x[:1], radius=1)
    with pytest.raises(ParameterError, match="64-bit"):
        plugin_cmi(
            np.zeros((4, 40, 40), dtype=np.int8)
            + np.arange(2, dtype=np.int8)[:, None, None].repeat(2, 0),
            radius=2,
            c_width=2,
        )
