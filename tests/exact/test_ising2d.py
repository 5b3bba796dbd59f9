"""Tests of latticediff.exact.ising2d: Kaufman vs brute force, vs Onsager, vs mpmath, vs golden."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.exact import ising2d

TC = ld.exact.TC_ISING
KC = ld.exact.KC_ISING
GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden" / "ising2d_kaufman.json"


def brute_force(rows, cols, temperatures):
    """ln Z, u, c of the rows x cols torus by summing all 2^N states (np.roll bonds)."""
    N = rows * cols
    idx = np.arange(2**N)
    s = (((idx[:, None] >> np.arange(N)) & 1) * 2 - 1).reshape(-1, rows, cols)
    E = -(s * np.roll(s, -1, -1) + s * np.roll(s, -1, -2)).sum((-1, -2)).astype(float)
    out = []
    for T in temperatures:
        lw = -E / T
        mx = lw.max()
        w = np.exp(lw - mx)
        Z = w.sum()
        p = w / Z
        u = p @ E
        var = p @ (E - u) ** 2
        out.append((mx + math.log(Z), u / N, var / (T * T * N)))
    return np.array(out)


TEMPS = [0.8, 1.5, 2.0, TC, 2.5, 3.0, 6.0]


@pytest.mark.parametrize("L", [2, 3, 4])
def test_kaufman_matches_enumeration(L):
    ref = brute_force(L, L, TEMPS)
    got = np.stack(
        [
            ld.exact.ising_log_partition(TEMPS, L),
            ld.exact.ising_energy(TEMPS, L),
            ld.exact.ising_specific_heat(TEMPS, L),
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rows,cols", [(2, 3), (3, 2), (3, 4), (4, 3), (2, 5)])
def test_rectangular_torus_matches_enumeration(rows, cols):
    # The internal m x n formula (m columns, n rows) is checked on rectangles too.
    ref = brute_force(rows, cols, TEMPS)
    logz, d1, d2 = ising2d._kaufman(1.0 / np.array(TEMPS), cols, rows)
    N = rows * cols
    got = np.stack([logz, -d1 / N, d2 / (np.array(TEMPS) ** 2 * N)], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def _kaufman_direct(K, L, signed=True):
    """Plain transcription of Kaufman's Z for small L, to test the sign of gamma_0."""
    A = math.cosh(2 * K) / math.tanh(2 * K)
    g = [math.acosh(A - math.cos(math.pi * j / L)) for j in range(2 * L)]
    g0 = 2 * K + math.log(math.tanh(K))
    g[0] = g0 if signed else abs(g0)
    odd, even = g[1::2], g[0::2]
    tot = (
        np.prod([2 * math.cosh(L * x / 2) for x in odd])
        + np.prod([2 * math.sinh(L * x / 2) for x in odd])
        + np.prod([2 * math.cosh(L * x / 2) for x in even])
        + np.prod([2 * math.sinh(L * x / 2) for x in even])
    )
    return math.log(0.5 * tot) + L * L / 2 * math.log(2 * math.sinh(2 * K))


def test_sign_of_gamma0_matters_above_tc():
    L = 3
    for T in (1.5, 3.0, 5.0):
        ref = brute_force(L, L, [T])[0, 0]
        assert abs(_kaufman_direct(1 / T, L, signed=True) - ref) < 1e-12
        wrong = abs(_kaufman_direct(1 / T, L, signed=False) - ref)
        if T > TC:
            assert wrong > 1e-3  # |gamma_0| is wrong above Tc ...
        else:
            assert wrong < 1e-12  # ... and harmless below, where gamma_0 > 0


def test_mpmath_accuracy_up_to_L128(monkeypatch):
    mp = pytest.importorskip("mpmath")
    monkeypatch.setattr(mp.mp, "dps", 40)  # mpmath's precision is global: restore it

    def logz(K, L):
        A = mp.cosh(2 * K) * mp.coth(2 * K)
        g = [2 * K + mp.log(mp.tanh(K))]
        g += [mp.acosh(A - mp.cos(mp.pi * j / L)) for j in range(1, 2 * L)]
        terms = [
            mp.fprod(2 * f(L * x / 2) for x in g[start::2])
            for f in (mp.cosh, mp.sinh)
            for start in (1, 0)
        ]
        return mp.log(mp.fsum(terms) / 2) + mp.mpf(L * L) / 2 * mp.log(2 * mp.sinh(2 * K))

    worst = 0.0
    for L in (16, 128):
        for T in (1.0, 2.2, TC, 3.0, 5.0):
            K = 1 / mp.mpf(T)
            f = lambda k, L=L: logz(k, L)  # noqa: E731
            ref = [f(K), -mp.diff(f, K, 1) / L**2, K**2 * mp.diff(f, K, 2) / L**2]
            got = [
                ld.exact.ising_log_partition(T, L),
                ld.exact.ising_energy(T, L),
                ld.exact.ising_specific_heat(T, L),
            ]
            for g_, r_ in zip(got, ref, strict=True):
                worst = max(worst, abs(g_ / float(r_) - 1))
    assert worst < 1e-12  # brief asks for < 1e-9; measured ~1e-13


def test_golden_file_reproduced():
    doc = json.loads(GOLDEN.read_text())
    recs = doc["records"]
    assert {r["L"] for r in recs} == {4, 8, 16, 32, 64}
    assert {r["T"] for r in recs} == {1.5, 2.0, 2.269, 2.269185314, 3.0}
    for r in recs:
        for key, fn in (
            ("energy", ld.exact.ising_energy),
            ("specific_heat", ld.exact.ising_specific_heat),
            ("log_partition", ld.exact.ising_log_partition),
        ):
            assert fn(r["T"], r["L"]) == pytest.approx(r[key], rel=1e-12), (key, r)


# ----------------------------------------------------------------------------- Onsager
def test_onsager_energy_at_tc_and_known_values():
    assert ld.exact.ising_energy(TC) == pytest.approx(-math.sqrt(2), abs=1e-13)
    # ln Z / N at Tc = 2G/pi + ln(2)/2 (G = Catalan's constant).
    catalan = 0.915965594177219015
    logz_c = 2 * catalan / math.pi + 0.5 * math.log(2)
    assert -ld.exact.ising_free_energy(TC) / TC == pytest.approx(logz_c, rel=1e-12)
    # c diverges like -A0 ln|1 - T/Tc|, A0 = (8/pi) K_c^2, on both sides (float TC is only
    # within 1e-16 of Tc, so c(TC) is large but finite).
    A0 = 8 / math.pi * KC**2
    assert ld.exact.ising_specific_heat(TC) > 15
    for side in (-1, 1):
        c5, c7 = (ld.exact.ising_specific_heat(TC * (1 + side * 10.0**-k)) for k in (5, 7))
        assert (c7 - c5) / (2 * math.log(10)) == pytest.approx(A0, rel=1e-4)


@pytest.mark.parametrize("T", [1.2, 2.0, 2.5, 3.0, 4.5])
def test_onsager_energy_and_heat_are_derivatives_of_free_energy(T):
    # u = -d(ln Z/N)/dK from the integral (quadrature) form; c = -K^2 du/dK.
    def logz(K):
        return -ld.exact.ising_free_energy(1 / K) * K

    K, h = 1 / T, 1e-4
    u_fd = -(logz(K + h) - logz(K - h)) / (2 * h)
    assert ld.exact.ising_energy(T) == pytest.approx(u_fd, abs=1e-7)
    h = 1e-5
    du = (ld.exact.ising_energy(1 / (K + h)) - ld.exact.ising_energy(1 / (K - h))) / (2 * h)
    assert ld.exact.ising_specific_heat(T) == pytest.approx(-K * K * du, abs=1e-7)


def test_onsager_free_energy_against_double_integral():
    T = 3.0
    K = 1 / T
    c2, s2 = math.cosh(2 * K) ** 2, math.sinh(2 * K)
    val, _ = integrate.dblquad(
        lambda a, b: math.log(c2 - s2 * (math.cos(a) + math.cos(b))),
        0,
        math.pi,
        0,
        math.pi,
        epsabs=1e-12,
    )
    logz = math.log(2) + val / (2 * math.pi**2)
    assert -ld.exact.ising_free_energy(T) / T == pytest.approx(logz, rel=1e-10)


# ----------------------------------------------------------------------------- finite size
@pytest.mark.parametrize("T", [1.5, 3.0, 5.0])
def test_kaufman_converges_to_onsager_away_from_tc(T):
    assert ld.exact.ising_energy(T, 128) == pytest.approx(ld.exact.ising_energy(T), abs=1e-12)
    assert ld.exact.ising_specific_heat(T, 128) == pytest.approx(
        ld.exact.ising_specific_heat(T), rel=1e-9
    )


def test_free_energy_finite_size_ln2_below_tc():
    # Below Tc the torus has two ordered sectors: f_L - f_inf -> -T ln 2 / N.
    T, L = 1.5, 64
    df = ld.exact.ising_free_energy(T, L) - ld.exact.ising_free_energy(T)
    assert df * L * L / T == pytest.approx(-math.log(2), abs=1e-8)
    # Above Tc the finite-size correction is exponentially small.
    assert ld.exact.ising_free_energy(3.0, L) == pytest.approx(
        ld.exact.ising_free_energy(3.0), abs=1e-12
    )


def test_finite_size_scaling_at_tc():
    sizes = [32, 64, 128, 256]
    # u(Tc, L) = -sqrt 2 + a / L + ...
    a = [(ld.exact.ising_energy(TC, L) + math.sqrt(2)) * L for L in sizes]
    assert all(x < 0 for x in a)
    assert abs(a[-1] - a[-2]) < 1e-4 and abs(a[-2] - a[-3]) < 4e-4
    # c(Tc, L) = A0 ln L + const + O(ln L / L), A0 = (8/pi) K_c^2 (Ferdinand & Fisher 1969).
    A0 = 8 / math.pi * KC**2
    c = [ld.exact.ising_specific_heat(TC, L) for L in sizes]
    ratios = [(c[i + 1] - c[i]) / (A0 * math.log(2)) for i in range(len(sizes) - 1)]
    assert all(0 < r - 1 < 0.02 for r in ratios)
    assert ratios[-1] - 1 < 0.003 and ratios[0] > ratios[1] > ratios[2]


def test_large_and_cold_lattices_are_finite():
    T = np.array([0.05, 0.5, 2.0, TC, 10.0, 1e3])
    for fn in (ld.exact.ising_energy, ld.exact.ising_specific_heat, ld.exact.ising_free_energy):
        assert np.all(np.isfinite(fn(T, 1024)))
    assert ld.exact.ising_energy(0.05, 1024) == pytest.approx(-2.0, abs=1e-12)
    assert ld.exact.ising_energy(2.0, 1024) == pytest.approx(ld.exact.ising_energy(2.0), abs=1e-13)


# ----------------------------------------------------------------------------- Yang
def test_yang_magnetization():
    assert ld.exact.ising_magnetization(2.0) == pytest.approx(
        (1 - math.sinh(1.0) ** -4) ** 0.125, rel=1e-15
    )
    assert ld.exact.ising_magnetization(2.0) == pytest.approx(0.911319377877496, rel=1e-12)
    np.testing.assert_array_equal(ld.exact.ising_magnetization([TC, 2.5, 100.0]), 0.0)
    assert ld.exact.ising_magnetization(0.1) == pytest.approx(1.0, abs=1e-15)
    # m ~ (8 sqrt2 K_c (1 - T/Tc))^(1/8) as T -> Tc-.
    t = 1e-8
    amp = (8 * math.sqrt(2) * KC * t) ** 0.125
    assert ld.exact.ising_magnetization(TC * (1 - t)) == pytest.approx(amp, rel=1e-6)
    m = ld.exact.ising_magnetization(np.linspace(0.5, TC, 50))
    assert np.all(np.diff(m) <= 0)


# ----------------------------------------------------------------------------- API
@pytest.mark.parametrize("L", [None, 8])
def test_vectorised_shapes(L):
    T = np.linspace(1.0, 4.0, 6).reshape(2, 3)
    for fn in (ld.exact.ising_energy, ld.exact.ising_specific_heat, ld.exact.ising_free_energy):
        out = fn(T, L)
        assert isinstance(out, np.ndarray) and out.shape == (2, 3)
        assert isinstance(fn(2.0, L), float)
        np.testing.assert_allclose(out[1, 2], fn(float(T[1, 2]), L), rtol=1e-15)
        assert fn([], L).shape == (0,)
    assert ld.exact.ising_magnetization(T).shape == (2, 3)
    assert ld.exact.ising_log_partition(T, 8).shape == (2, 3)


def test_chunking_does_not_change_results(monkeypatch):
    T = np.linspace(1.0, 4.0, 37)
    ref = ld.exact.ising_specific_heat(T, 16)
    monkeypatch.setattr(ising2d, "_CHUNK", 64)  # 2 temperatures per chunk for L = 16
    np.testing.assert_array_equal(ld.exact.ising_specific_heat(T, 16), ref)


@pytest.mark.parametrize("bad_T", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(bad_T):
    with pytest.raises(ParameterError, match="T must be"):
        ld.exact.ising_energy(bad_T)
    with pytest.raises(ParameterError, match="T must be"):
        ld.exact.ising_specific_heat([1.0, bad_T], L=4)


@pytest.mark.parametrize("bad_L", [1, 0, 2.5, True, "8"])
def test_bad_size(bad_L):
    with pytest.raises(ParameterError, match="L must be"):
        ld.exact.ising_energy(2.0, bad_L)
    with pytest.raises(ParameterError, match="L must be"):
        ld.exact.ising_log_partition(2.0, bad_L)
