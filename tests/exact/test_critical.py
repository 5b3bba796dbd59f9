"""Tests of latticediff.exact.critical: the table of critical points and the bit-flip map."""

import dataclasses
import math

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError

EXPECTED_NAMES = {
    "ising1d",
    "ising2d",
    "ising3d",
    "loopgas",
    "mwpm_threshold",
    "nishimori",
    "nishimori_time",
    "potts3",
    "potts4",
    "xy_bkt",
}


def test_table_contents():
    cps = ld.exact.CRITICAL_POINTS
    assert set(cps) == EXPECTED_NAMES
    for name, cp in cps.items():
        assert isinstance(cp, ld.exact.CriticalPoint)
        assert cp.name == name and cp.source and cp.model and cp.parameter
        assert cp.uncertainty >= 0 and math.isfinite(cp.value)
    cp = ld.exact.critical_point
    assert cp("ising2d").value == pytest.approx(2 / math.log(1 + math.sqrt(2)), rel=1e-15)
    assert cp("ising2d").value == pytest.approx(2.269185314213022, rel=1e-15)
    assert cp("ising2d").exact and not cp("nishimori").exact
    assert cp("potts3").value == pytest.approx(0.994973, abs=5e-7)
    assert cp("potts4").value == pytest.approx(0.910239, abs=5e-7)
    assert cp("ising3d").value == pytest.approx(4.5115232, abs=1e-7)
    assert cp("xy_bkt").value == pytest.approx(0.8929, abs=cp("xy_bkt").uncertainty)
    assert (cp("nishimori").value, cp("nishimori").uncertainty) == (0.1092, 0.0001)
    assert cp("mwpm_threshold").value < cp("nishimori").value  # matching is suboptimal
    # Loop gas: x_c = tanh K_c = sqrt 2 - 1.
    assert cp("loopgas").value == pytest.approx(math.tanh(ld.exact.KC_ISING), rel=1e-15)
    assert cp("loopgas").value == pytest.approx(math.sqrt(2) - 1, rel=1e-15)
    assert cp("ising1d").value == 0.0
    t = cp("nishimori_time")
    assert t.value == pytest.approx(0.1232, abs=5e-5)
    assert ld.exact.bitflip_probability(t.value) == pytest.approx(0.1092, rel=1e-14)
    assert t.uncertainty == pytest.approx(1e-4 / (1 - 2 * 0.1092), rel=1e-12)


def test_lookup_normalises_names_and_lists_known_ones():
    assert ld.exact.critical_point("Nishimori-Time") is ld.exact.CRITICAL_POINTS["nishimori_time"]
    assert ld.exact.critical_point(" XY bkt ") is ld.exact.CRITICAL_POINTS["xy_bkt"]
    with pytest.raises(ParameterError) as info:
        ld.exact.critical_point("heisenberg3d")
    msg = str(info.value)
    assert "heisenberg3d" in msg and all(n in msg for n in EXPECTED_NAMES)


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ld.exact.critical_point("ising2d").value = 2.0


def test_potts_tc():
    q = np.arange(2, 11)
    tc = ld.exact.potts_tc(q)
    assert tc.shape == (9,) and np.all(np.diff(tc) < 0)
    np.testing.assert_allclose(tc, 1 / np.log(1 + np.sqrt(q)), rtol=1e-15)
    # q = 2 Potts is Ising with J_Ising = 1/2: Tc halves.
    assert ld.exact.potts_tc(2) == pytest.approx(ld.exact.TC_ISING / 2, rel=1e-15)
    assert ld.exact.potts_tc(3) == ld.exact.critical_point("potts3").value
    assert isinstance(ld.exact.potts_tc(4), float)
    for bad in (0.5, float("nan"), -3):
        with pytest.raises(ParameterError, match="q must be"):
            ld.exact.potts_tc(bad)


def test_bitflip_map_round_trip_and_edges():
    p = np.array([0.0, 1e-12, 0.05, 0.1092, 0.15, 0.49])
    gt = ld.exact.bitflip_time(p)
    np.testing.assert_allclose(ld.exact.bitflip_probability(gt), p, rtol=1e-14, atol=0)
    assert ld.exact.bitflip_time(0.1092) == pytest.approx(-math.log(1 - 2 * 0.1092) / 2)
    assert ld.exact.bitflip_time(1e-12) == pytest.approx(1e-12, rel=1e-10)  # no cancellation
    assert ld.exact.bitflip_time(0.5) == math.inf
    assert ld.exact.bitflip_probability(math.inf) == 0.5
    assert ld.exact.bitflip_probability(0.0) == 0.0
    assert ld.exact.bitflip_probability([[0.1, 0.2]]).shape == (1, 2)
    for bad in (-0.01, 0.51, float("nan")):
        with pytest.raises(ParameterError, match=r"p must be in \[0, 0.5\]"):
            ld.exact.bitflip_time(bad)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ParameterError, match="gamma\\*t must be >= 0"):
            ld.exact.bitflip_probability(bad)
