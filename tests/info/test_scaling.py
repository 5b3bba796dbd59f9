"""Finite-size-scaling tools: crossings, peaks, ln L drift, collapse, Binder cumulant.

Synthetic data with known answers; statistical checks use fixed seeds and pulls
``(estimate - truth) / stderr`` whose spread is checked against the nominal one.
"""

import doctest
import json
import math

import numpy as np
import pytest

import latticediff.info.scaling as scaling
from latticediff.errors import ParameterError
from latticediff.info.scaling import (
    binder_cumulant,
    collapse_fit,
    crossings,
    find_crossing,
    fit_log_drift,
    peak_location,
)


def test_doctests():
    res = doctest.testmod(scaling, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted > 20 and res.failed == 0


# ---------------------------------------------------------------------------- crossings


def test_crossing_of_exact_lines_and_parabolas():
    x = np.linspace(0, 1, 11)
    z = np.zeros(11)
    c = find_crossing(x, 3 * x - 1, z, 1 - x, z)  # 3x - 1 = 1 - x at x = 1/2
    assert c.value == pytest.approx(0.5, abs=1e-12)
    assert c.stderr == 0 and c.stderr_prop == 0  # exact data: no error, no bootstrap needed
    assert c.height == pytest.approx(0.5, abs=1e-12)
    assert c.bracket == pytest.approx((0.4, 0.5)) or c.bracket == pytest.approx((0.5, 0.6))
    # y1 - y2 = x^2 - 0.2: zero at sqrt(0.2); degree 2 on 4 points is exact, degree 1 is not
    q2 = find_crossing(x, x**2, z, np.full(11, 0.2), z, degree=2, n_points=4, n_boot=0)
    q1 = find_crossing(x, x**2, z, np.full(11, 0.2), z, n_boot=0)
    assert q2.value == pytest.approx(math.sqrt(0.2), abs=1e-12)
    assert abs(q1.value - math.sqrt(0.2)) > 1e-4  # curvature bias of linear interpolation
    assert abs(q1.value - math.sqrt(0.2)) < 0.01


def test_crossing_without_sign_change_and_with_several():
    x = np.linspace(0, 1, 11)
    e = np.full(11, 0.01)
    none = find_crossing(x, x + 1, e, x, e)
    assert math.isnan(none.value) and "no sign change" in none.status
    wiggly = np.array([1, -1, 1, -1, 1, 1, 1, 1, 1, 1, 1], float) * 0.001
    c = find_crossing(x, wiggly, e, np.zeros(11), e, n_boot=0)
    assert c.n_sign_changes == 4 and c.status.startswith("ambiguous")
    assert c.bracket == pytest.approx((0.1, 0.2))  # the middle (2nd of 4) sign change


def test_crossing_errors_cover_the_truth():
    """Pulls of noisy Binder-like lines: unbiased, unit width; propagation ~ bootstrap."""
    rng = np.random.default_rng(11)
    x = np.linspace(2.20, 2.34, 15)
    tc, ustar = 2.269185, 0.6107
    sig = 0.004
    pulls, hpulls, ratio = [], [], []
    for i in range(100):
        y1 = ustar - 1.5 * (x - tc) + sig * rng.standard_normal(x.size)
        y2 = ustar - 3.0 * (x - tc) + sig * rng.standard_normal(x.size)
        c = find_crossing(x, y1, np.full(15, sig), y2, np.full(15, sig), n_boot=150, seed=i)
        assert c.status == "ok" or c.status.startswith("ambiguous")
        pulls.append((c.value - tc) / c.stderr)
        hpulls.append((c.height - ustar) / c.height_stderr)
        ratio.append(c.stderr_boot / c.stderr_prop)
    pulls, hpulls = np.array(pulls), np.array(hpulls)
    assert abs(np.median(pulls)) < 0.2
    assert 0.9 < np.mean(np.abs(pulls) < 2) <= 1.0
    assert 0.8 < np.std(np.clip(pulls, -6, 6)) < 1.25
    assert 0.9 < np.mean(np.abs(hpulls) < 2) <= 1.0
    assert 0.7 < np.median(ratio) < 1.3


def test_crossings_for_consecutive_sizes():
    x = np.linspace(-1, 1, 21)
    curves = {L: (0.5 - 0.1 * L * (x - 0.05) + 0.01 / L, np.full(21, 1e-3)) for L in (32, 8, 16)}
    out = crossings(x, curves, n_boot=50, seed=3)
    assert list(out) == [(8, 16), (16, 32)]
    for (a, b), c in out.items():
        # 0.1 a (x - 0.05) - 0.01 / a = 0.1 b (x - 0.05) - 0.01 / b
        truth = 0.05 + 0.1 / (a * b)
        assert c.value == pytest.approx(truth, abs=4 * c.stderr)
    json.dumps(out[(8, 16)].to_dict())


def test_crossing_rejects_bad_input():
    x = np.linspace(0, 1, 5)
    e = np.full(5, 0.1)
    with pytest.raises(ParameterError, match="increasing"):
        find_crossing(x[::-1], x, e, 1 - x, e)
    with pytest.raises(ParameterError, match="length 5"):
        find_crossing(x, x[:4], e, 1 - x, e)
    with pytest.raises(ParameterError, match=">= 0"):
        find_crossing(x, x, -e, 1 - x, e)
    with pytest.raises(ParameterError, match="degree"):
        find_crossing(x, x, e, 1 - x, e, degree=4)
    with pytest.raises(ParameterError, match="n_points"):
        find_crossing(x, x, e, 1 - x, e, n_points=9)
    with pytest.raises(ParameterError, match="2 sizes"):
        crossings(x, {8: (x, e)})


# ---------------------------------------------------------------------------- peaks


def test_peak_of_a_parabola_and_its_errors():
    x = np.linspace(2.2, 2.4, 21)
    p = peak_location(x, 1.9 - 30 * (x - 2.2937) ** 2, np.zeros(21))
    assert p.value == pytest.approx(2.2937, abs=1e-12) and p.height == pytest.approx(1.9)
    assert p.stderr == 0
    # one exact point among noisy ones: the sandwich covariance still propagates the others
    e = np.full(21, 0.01)
    e[9] = 0.0
    q = peak_location(x, 1.9 - 30 * (x - 2.2937) ** 2, e, n_boot=0)
    assert 0 < q.stderr_prop < 0.05
    rng = np.random.default_rng(5)
    truth = 2.2937
    pulls = []
    for i in range(100):
        y = 1.9 - 30 * (x - truth) ** 2 + 0.004 * rng.standard_normal(21)
        pk = peak_location(x, y, np.full(21, 0.004), n_points=7, n_boot=150, seed=i)
        assert pk.status == "ok", pk.status
        pulls.append((pk.value - truth) / pk.stderr)
    pulls = np.array(pulls)
    assert abs(np.median(pulls)) < 0.35  # ~3 sigma of a median of 100 unit pulls
    assert 0.88 < np.mean(np.abs(pulls) < 2) <= 1.0


def test_peak_at_the_edge_is_reported_not_invented():
    x = np.linspace(0, 1, 6)
    p = peak_location(x, x, np.full(6, 0.01))
    assert math.isnan(p.value) and "edge" in p.status
    with pytest.raises(ParameterError, match="odd"):
        peak_location(x, -((x - 0.5) ** 2), np.full(6, 0.01), n_points=4)


# ---------------------------------------------------------------------------- drift


def test_log_drift_and_power_law_are_told_apart():
    L = np.array([8, 12, 16, 24, 32, 48, 64])
    rng = np.random.default_rng(7)
    e = np.full(L.size, 0.003)
    votes_log, votes_pow, pulls = [], [], []
    for _ in range(20):
        t_log = 0.25 + 0.12 * np.log(L) + e * rng.standard_normal(L.size)
        t_pow = 0.9 - 1.5 * L ** (-1 / 1.0) + e * rng.standard_normal(L.size)
        f = fit_log_drift(L, t_log, e)
        g = fit_log_drift(L, t_pow, e)
        votes_log.append(f.preferred)
        votes_pow.append(g.preferred)
        pulls.append((g.t_c - 0.9) / g.t_c_stderr)
        assert f.b == pytest.approx(0.12, abs=4 * f.b_stderr)
    assert votes_pow.count("power") == 20
    # nested models: the free-nu power law can imitate ln L, so "undecided" is allowed
    assert votes_log.count("log") >= 14 and votes_log.count("power") <= 2
    assert np.mean(np.abs(pulls) < 3) >= 0.9
    # with nu fixed both models have 2 parameters and chi2 decides
    h = fit_log_drift(L, 0.9 - 1.5 / L, e, nu=1.0)
    assert h.nu_fixed and h.preferred == "power" and h.t_c == pytest.approx(0.9)
    k = fit_log_drift(L, 0.25 + 0.12 * np.log(L), e, nu=1.0)
    assert k.preferred == "log" and k.chi2_log == pytest.approx(0.0, abs=1e-12)


def test_log_drift_flags_the_power_law_running_to_large_nu():
    L = np.array([8, 16, 32, 64, 128, 256])
    f = fit_log_drift(L, 0.1 + 0.2 * np.log(L), np.full(6, 1e-4), nu_bounds=(0.1, 10))
    assert "mimics a ln L drift" in f.note and f.nu == pytest.approx(10, rel=1e-3)
    with pytest.raises(ParameterError, match=">= 3 sizes"):
        fit_log_drift([8, 16], [0.1, 0.2], [0.01, 0.01])
    with pytest.raises(ParameterError, match="e must be > 0"):
        fit_log_drift([8, 16, 32], [0.1, 0.2, 0.3], [0.01, 0.0, 0.01])


# ---------------------------------------------------------------------------- collapse

XC, NU, ALPHA = 0.3, 1.3, 0.4
SIZES = (8, 16, 32, 64)


def _synthetic(rng, rel=0.01, n_x=13):
    """y = s^-alpha Phi((x - x_c) s^(1/nu)) with a non-polynomial Phi and relative noise."""
    x = np.tile(np.linspace(XC - 0.12, XC + 0.12, n_x), len(SIZES))
    s = np.repeat(np.array(SIZES, float), n_x)
    z = (x - XC) * s ** (1 / NU)
    truth = s**-ALPHA * (1.2 + 0.5 * np.tanh(z / 1.5) + 0.1 * np.exp(-(z**2)))
    e = rel * truth
    return x, truth + e * rng.standard_normal(x.size), e, s, truth


def test_collapse_recovers_known_exponents():
    rng = np.random.default_rng(2)
    x, y, e, s, _ = _synthetic(rng)
    f = collapse_fit(
        x, y, e, s, x_c0=0.28, nu0=1.0, alpha0=0.2, degree=5, window=2.0, n_boot=60, seed=1
    )
    assert f.status == "ok", f.status
    assert f.x_c == pytest.approx(XC, abs=4 * f.x_c_stderr)
    assert f.nu == pytest.approx(NU, abs=4 * f.nu_stderr)
    assert f.alpha == pytest.approx(ALPHA, abs=4 * f.alpha_stderr)
    assert f.x_c_stderr < 0.01 and f.nu_stderr < 0.2
    assert 0.4 < f.chi2_dof < 2.0
    # the window rule holds for the points used, and only for them
    z, _ = f.scaled(x, y, s)
    used = np.zeros(x.size, bool)
    used[list(f.used)] = True
    assert np.all(np.abs(z[used]) <= 2.0) and np.all(np.abs(z[~used]) > 2.0)
    # the master curve goes through the rescaled data
    zz, yy = f.scaled(x[used], y[used], s[used])
    resid = (yy - f.master(zz)) / (e[used] * s[used] ** f.alpha)
    assert np.sqrt(np.mean(resid**2)) < 1.5
    json.dumps(f.to_dict())


def test_collapse_log_form_and_fixed_alpha():
    rng = np.random.default_rng(4)
    x, y, e, s, _ = _synthetic(rng)
    f = collapse_fit(
        x, y, e, s, x_c0=0.32, nu0=1.5, alpha0=0.3, degree=5, window=2.0, form="log", n_boot=40
    )
    assert f.x_c == pytest.approx(XC, abs=4 * f.x_c_stderr)
    assert f.nu == pytest.approx(NU, abs=4 * f.nu_stderr)
    assert f.alpha == pytest.approx(ALPHA, abs=4 * f.alpha_stderr)
    # alpha held fixed at the truth: x_c and nu still recovered, alpha reported exactly
    g = collapse_fit(
        x,
        y,
        e,
        s,
        x_c0=0.32,
        nu0=1.5,
        alpha0=ALPHA,
        fit_alpha=False,
        degree=5,
        window=2.0,
        n_boot=40,
    )
    assert g.fitted == ("x_c", "nu") and g.alpha == ALPHA and g.alpha_stderr == 0.0
    assert g.x_c == pytest.approx(XC, abs=4 * g.x_c_stderr)
    # a wrong fixed alpha cannot collapse the data: chi2 / dof explodes
    h = collapse_fit(
        x,
        y,
        e,
        s,
        x_c0=0.32,
        nu0=1.5,
        alpha0=0.0,
        fit_alpha=False,
        degree=5,
        window=2.0,
        n_boot=0,
    )
    assert h.chi2_dof > 20 * g.chi2_dof or h.n_points < g.n_points / 2


def _coverage(n_data, n_boot):
    rng = np.random.default_rng(99)
    pulls = []
    for i in range(n_data):
        x, y, e, s, _ = _synthetic(rng, rel=0.02, n_x=9)
        f = collapse_fit(
            x, y, e, s, x_c0=0.3, nu0=1.3, alpha0=0.4, degree=4, window=1.5, n_boot=n_boot, seed=i
        )
        est = np.array([f.x_c, f.nu, f.alpha])
        err = np.array([f.x_c_stderr, f.nu_stderr, f.alpha_stderr])
        pulls.append((est - np.array([XC, NU, ALPHA])) / err)
    return np.array(pulls)


def test_collapse_bootstrap_coverage_small():
    p = _coverage(10, 25)
    assert np.all(np.isfinite(p))
    assert np.mean(np.abs(p) < 2.5) >= 0.8  # nominal 0.99; tolerant for 10 data sets x 25 boots


@pytest.mark.slow
def test_collapse_bootstrap_coverage():
    p = _coverage(60, 60)
    cover = np.mean(np.abs(p) < 2, axis=0)
    assert np.all(cover > 0.85), cover  # nominal 0.95
    assert np.all(np.abs(np.median(p, axis=0)) < 0.35)


def test_collapse_rejects_bad_input():
    x = np.linspace(0, 1, 6)
    e = np.full(6, 0.1)
    s = np.array([8, 8, 8, 16, 16, 16])
    with pytest.raises(ParameterError, match="2 distinct sizes"):
        collapse_fit(x, x, e, np.full(6, 8), x_c0=0.5, nu0=1)
    with pytest.raises(ParameterError, match="form"):
        collapse_fit(x, x, e, s, x_c0=0.5, nu0=1, form="exp")
    with pytest.raises(ParameterError, match="x_c0"):
        collapse_fit(x, x, e, s, x_c0=2.0, nu0=1)
    with pytest.raises(ParameterError, match="nu0"):
        collapse_fit(x, x, e, s, x_c0=0.5, nu0=0.0)
    f = collapse_fit(x, x, e, s, x_c0=0.5, nu0=1, degree=3)  # 6 points, 4 + 3 parameters
    assert math.isnan(f.x_c) and "too few points" in f.status


# ---------------------------------------------------------------------------- Binder


def test_binder_cumulant_limits_and_error():
    rng = np.random.default_rng(8)
    # ordered: |m| = 1 -> U = 2/3 exactly, zero error
    u, du = binder_cumulant(np.where(rng.random(1000) < 0.5, -1.0, 1.0))
    assert u == pytest.approx(2 / 3) and du == pytest.approx(0.0, abs=1e-12)
    # AR(1) Gaussian (tau_int = (1 + a) / (2 (1 - a)) = 4.5): U -> 0; the jackknife error over
    # blocks matches the spread over independent repetitions
    a = 0.8
    us, dus = [], []
    for _ in range(60):
        w = rng.standard_normal((4, 5000))
        m = np.empty_like(w)
        m[:, 0] = w[:, 0] / math.sqrt(1 - a * a)
        for t in range(1, 5000):
            m[:, t] = a * m[:, t - 1] + w[:, t]
        u, du = binder_cumulant(m, n_blocks=25)
        us.append(u)
        dus.append(du)
    us, dus = np.array(us), np.array(dus)
    assert abs(us.mean()) < 3 * us.std() / math.sqrt(len(us))
    assert 0.75 < np.mean(dus) / us.std(ddof=1) < 1.3
    # complex order parameter: only |m| matters
    ph = np.exp(2j * np.pi * rng.random(1000))
    assert binder_cumulant(ph)[0] == pytest.approx(2 / 3)
    with pytest.raises(ParameterError):
        binder_cumulant(np.zeros((2, 3, 4)))
