"""The I-MMSE CMI estimator for data on Gaussian paths, against the exact Gaussian field."""

import math

import numpy as np
import pytest

from latticediff.errors import ParameterError
from latticediff.exact.gaussian_field import GaussianField
from latticediff.info.immse import _nodes, immse_cmi, immse_cmi_profile


@pytest.mark.parametrize("mass,t,r", [(0.1, 0.5, 1), (0.1, 0.2, 2), (1.0, 0.7, 1)])
def test_immse_identity_is_exact_for_the_gaussian_field(mass, t, r):
    """1/2 int_0^snr [mmse_B(u) - mmse_BC(u)] du over the estimator's own quadrature and
    integration range equals the exact log-det CMI (Gaussian: mmse_Y(u) = 1/(1/V_Y + u) with
    V_Y the variance of the clean value given the noisy side information)."""
    g = GaussianField(8, mass)
    a, s = 1.0 - t, t
    vy_b, vy_bc = g.conditional_variance(t, r)  # Var(y_A | y_B), Var(y_A | y_BC)
    v_b, v_bc = (vy_b - s * s) / a**2, (vy_bc - s * s) / a**2
    snr = a * a / (s * s)
    v_a = g.variance
    lo, hi = math.log(2e-4 / v_a), math.log(snr)  # the estimator's defaults (data units)
    ell, w = _nodes(lo, hi, 16)
    u = np.exp(ell)
    value = 0.5 * np.sum(w * (1.0 / (1.0 / v_b + u) - 1.0 / (1.0 / v_bc + u)))
    exact = g.exact_cmi(t, r)
    # the left-out tail u < u_lo is below snr_min / 2 = 1e-4 nats
    assert abs(value - exact) <= 1e-4 + 1e-6 * exact
    assert value <= exact + 1e-12


@pytest.mark.slow
def test_immse_matches_exact_cmi_on_the_gaussian_field():
    g = GaussianField(8, 0.1)  # near-critical
    x0 = g.sample(1000, seed=0)
    es = immse_cmi_profile(x0, radii=[1, 2, 3], t=0.5, far_features=None, steps=3000, depth=0,
                           hidden=32, lr=0.01, threads=1, seed=0)  # fmt: skip
    for e in es:
        exact = g.exact_cmi(0.5, e.radius)
        assert abs(e.value - exact) < 3 * e.stderr + 1e-4, (e.radius, e.value, e.stderr, exact)
        assert e.stderr < 0.001


def test_immse_resolves_the_gaussian_field_cmi_fast():
    """The default-run version: r = 1 on the near-critical field, within 3 sigma of exact."""
    g = GaussianField(8, 0.1)
    x0 = g.sample(600, seed=1)
    e = immse_cmi(x0, radius=1, t=0.5, far_features=None, steps=1500, depth=0, lr=0.01,
                  n_nodes=8, eval_draws=1, threads=1, seed=0)  # fmt: skip
    exact = g.exact_cmi(0.5, 1)  # 0.0173
    assert abs(e.value - exact) < 3 * e.stderr, (e.value, e.stderr, exact)
    assert e.value > 5 * e.stderr  # resolved, not just consistent
    d = e.details
    assert d["sites"] == {"B": 8, "C": 55} and d["far_inputs"] == 55
    assert d["examples_per_sample"] == 64 and not d["truncated"]
    assert len(d["mmse_far"]) == len(d["mmse_control"]) == 8
    # more side information never hurts: the far error curve lies below the control's
    assert np.mean(np.array(d["mmse_far"]) <= np.array(d["mmse_control"]) + 1e-3) == 1.0


def test_immse_null_on_iid_images_and_principal_components():
    x = np.random.default_rng(3).standard_normal((400, 1, 9, 9)).astype(np.float32)
    es = immse_cmi_profile(x, radii=[1, 3], t=0.3, periodic=False, far_features=4, steps=200,
                           hidden=16, depth=1, n_nodes=6, threads=1, seed=2)  # fmt: skip
    for e in es:
        assert abs(e.value) < 3 * e.stderr + 2e-3, (e.radius, e.value, e.stderr)
        assert e.details["far_inputs"] == 4 and e.details["center"] == [4, 4]


def test_immse_exact_zero_at_pure_noise_and_truncation_flag():
    x = np.random.default_rng(0).standard_normal((60, 7, 7))
    e = immse_cmi(x, radius=2, t=1.0)
    assert (e.value, e.stderr) == (0.0, 0.0) and e.details["sites"]["B"] == 24
    e = immse_cmi(x, radius=1, t=0.0, steps=5, depth=0, n_nodes=2, eval_draws=1)
    assert e.details["truncated"] and e.details["log_u_range"][1] == pytest.approx(math.log(1e4))


def test_immse_deterministic_under_seed():
    x = GaussianField(6, 0.5).sample(120, seed=0)
    kw = dict(radius=1, t=0.4, steps=30, hidden=8, depth=1, n_nodes=3, threads=1, seed=5)
    assert immse_cmi(x, **kw).value == immse_cmi(x, **kw).value


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"radius": 1, "t": 0.5, "steps": 0}, "steps must be an integer >= 1, got 0"),
        ({"radius": 1, "t": 0.5, "far_features": 0}, "far_features must be"),
        ({"radius": 1, "t": 0.5, "snr_max": -1.0}, "snr_max must be a finite number > 0"),
        ({"radius": 4, "t": 0.5}, "radii must be <= 3, got 4"),
        ({"radius": 1, "t": 1.5}, "t"),
        ({"radius": 1, "t": 0.5, "path": "cosine"}, "kind must be one of"),
        ({"radius": 1, "t": 0.5, "periodic": False, "center": (9, 0)}, "center must be"),
        ({"radius": 1}, "t .* is required"),
    ],
)
def test_immse_bad_input(kwargs, match):
    x = np.random.default_rng(0).standard_normal((50, 1, 7, 7))
    with pytest.raises(ParameterError, match=match):
        immse_cmi(x, **kwargs)


def test_immse_rejects_integer_samples():
    with pytest.raises(ParameterError, match="float array"):
        immse_cmi(np.ones((20, 5, 5), np.int8), radius=1, t=0.5)


def test_estimate_cmi_routes_immse():
    import latticediff as ld

    x = np.random.default_rng(0).standard_normal((60, 1, 7, 7))
    e = ld.estimate_cmi(x, radius=1, method="immse", t=1.0)
    assert e.method == "immse" and e.value == 0.0
    with pytest.raises(ParameterError, match="needs clean samples"):
        ld.estimate_cmi(None, radius=1, method="immse", t=0.5)


@pytest.mark.parametrize("depth", [0, 2])
def test_grow_keeps_the_smaller_radius_denoiser(depth):
    """A start grown from a smaller radius computes exactly what the smaller one did from the
    copy of A and the old shell; every new input (outer shell, far features) has weight 0."""
    import torch

    from latticediff.info.immse import _grow, _hats, _net_class

    Net = _net_class()
    torch.manual_seed(0)
    old = Net(1 + 8 + 4, 16, depth)
    for p in old.parameters():  # zero-initialised layers too: make every weight matter
        torch.nn.init.normal_(p, std=0.3)
    new = Net(1 + 24 + 4, 16, depth)
    _grow(old, new, 1 + 8)
    x = torch.randn(50, 1 + 24 + 4)
    hats = _hats(torch.rand(50) * 4 - 2, -2.0, 2.0)
    x_old = torch.cat((x[:, :9], torch.zeros(50, 4)), dim=1)
    with torch.no_grad():
        assert torch.equal(new(x, hats), old(x_old, hats))


def test_immse_below_the_tail_is_reported_as_bounded_zero():
    x = np.random.default_rng(0).standard_normal((60, 7, 7))
    e = immse_cmi(x, radius=1, t=0.995)  # snr_t = 2.5e-5 < snr_min: all of it inside the tail
    assert (e.value, e.stderr) == (0.0, 0.0) and "|I| <= 0.0001 nats" in e.details["note"]


def test_immse_identical_copies_still_carry_an_error_bar():
    # At r = 2 here both fine-tunes keep the grown start, whose far weights are exactly 0: the
    # paired difference vanishes identically, and the error must come from the resolution
    # (the un-stopped copies), not be reported as 0 +- 0.
    g = GaussianField(8, 1.0)
    x0 = g.sample(500, seed=0)
    kw = dict(t=0.2, threads=1, seed=0, steps=150, finetune_steps=150, depth=0, hidden=8)
    es = immse_cmi_profile(x0, radii=[1, 2], lr=0.01, far_features=None, **kw)
    for e in es:
        assert e.stderr > 0, (e.radius, e.value, e.details.get("note"))
    e2 = es[1]
    assert e2.value == 0.0 and "identical outputs" in e2.details["note"]
    assert abs(e2.value - g.exact_cmi(0.2, 2)) < 3 * e2.stderr
