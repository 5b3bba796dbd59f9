"""The CMI front door, the Walsh-Hadamard noise, and exact enumeration against the exact chain."""

import sys
import types

import numpy as np
import pytest

import latticediff as ld
from latticediff.errors import ParameterError
from latticediff.exact.noisy_chain import chain_cmi, chain_limits, sample_noisy_chain
from latticediff.info.cmi import (
    METHODS,
    apply_bitflip_noise,
    estimate_cmi,
    exact_cmi,
    walsh_hadamard,
)
from latticediff.info.plugin import plugin_cmi
from latticediff.info.result import CMIEstimate


@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_walsh_hadamard_matches_dense_matrix(n):
    N = 1 << n
    H = np.array([[(-1) ** bin(i & j).count("1") for j in range(N)] for i in range(N)], float)
    a = np.random.default_rng(n).standard_normal((3, N))
    assert np.allclose(walsh_hadamard(a), a @ H.T, atol=1e-12)
    assert np.allclose(walsh_hadamard(walsh_hadamard(a)) / N, a, atol=1e-12)


def test_bitflip_noise_matches_per_bit_channel():
    n, p = 8, 0.13
    rng = np.random.default_rng(0)
    P = rng.random(1 << n)
    P /= P.sum()
    ref = P.reshape((2,) * n)
    ch = np.array([[1 - p, p], [p, 1 - p]])
    for ax in range(n):  # reference: apply the 2 x 2 channel along every bit's axis
        ref = np.moveaxis(np.tensordot(ch, np.moveaxis(ref, ax, 0), axes=(1, 0)), 0, ax)
    out = apply_bitflip_noise(P, p)
    assert np.allclose(out, ref.ravel(), atol=1e-15)
    assert out.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.allclose(apply_bitflip_noise(P, 0.5), 1 / (1 << n))


def test_clean_ising_is_markov_and_noise_creates_cmi():
    states, P = ld.exact.exact_distribution(ld.Ising(L=4, T=2.3))
    for center in [(0, 0), (1, 2)]:
        assert abs(exact_cmi(states, P, radius=1, center=center).value) < 1e-12
    noisy = exact_cmi(states, P, radius=1, p=0.1)
    assert noisy.value > 1e-3 and noisy.stderr == 0.0
    # translation invariance of the torus
    other = exact_cmi(states, P, radius=1, p=0.1, center=(2, 3))
    assert other.value == pytest.approx(noisy.value, abs=1e-13)
    # on a 4 x 4 torus the radius-2 shell covers everything: C is empty
    assert exact_cmi(states, P, radius=2, p=0.1).value == pytest.approx(0.0, abs=1e-13)


def test_noise_branch_agrees_with_clean_branch():
    states, P = ld.exact.exact_distribution(ld.Ising(L=3, T=1.5))
    clean = exact_cmi(states, P, radius=0)
    tiny = exact_cmi(states, P, radius=0, p=1e-300)  # the Walsh-Hadamard path, no noise
    for k in clean.details["entropies"]:
        assert tiny.details["entropies"][k] == pytest.approx(
            clean.details["entropies"][k], abs=1e-12
        )


@pytest.mark.parametrize("r,D", [(0, 2), (1, 1), (1, 3), (2, 2)])
def test_exact_enumeration_equals_exact_chain(r, D):
    """Independent exact methods: WHT-noised enumeration of an open chain vs transfer matrices."""
    K, p = 1.0, 0.2
    N = 2 * (r + D) + 1
    states, P = ld.exact.exact_distribution(ld.IsingChain(N=N, K=K, periodic=False))
    e = exact_cmi(states, P, radius=r, p=p, center=(r + D,), periodic=False)
    assert e.value == pytest.approx(chain_cmi(K, p, r, far=D), abs=1e-12)


def test_front_door_dispatch():
    e = estimate_cmi(None, radius=2, method="chain", K=1.0, p=0.1, R_max=9)
    assert isinstance(e, CMIEstimate) and e.method == "chain"
    assert e.value == chain_cmi(1.0, 0.1, 2, R_max=9)
    assert e.stderr == chain_limits(1.0, 0.1, R_max=9)["H_y_inf_error"]
    e = estimate_cmi(None, radius=2, method="chain", K=1.0, p=0.1, far=1)
    assert e.value == chain_cmi(1.0, 0.1, 2, far=1) and e.stderr == 0.0
    _, y = sample_noisy_chain(1.0, 0.1, n=50, N=100, rng=0)
    a = estimate_cmi(y, radius=1, method="plugin", periodic=False)
    b = plugin_cmi(y, radius=1, periodic=False)
    assert a == b
    states, P = ld.exact.exact_distribution(ld.Ising(L=3, T=2.0))
    e = estimate_cmi(None, radius=0, method="exact", states=states, probs=P, p=0.05)
    assert e.value == exact_cmi(states, P, radius=0, p=0.05).value


def test_front_door_errors():
    with pytest.raises(ParameterError, match="known methods: " + ", ".join(METHODS)):
        estimate_cmi(None, radius=1, method="knn")
    with pytest.raises(ParameterError, match="radius must be an integer >= 0"):
        estimate_cmi(None, radius=-1, method="chain", K=1.0, p=0.1)
    with pytest.raises(ParameterError, match="takes no samples"):
        estimate_cmi(np.zeros((2, 8), np.int8), radius=1, method="chain", K=1.0, p=0.1)
    with pytest.raises(ParameterError, match=r"needs \['p'\]"):
        estimate_cmi(None, radius=1, method="chain", K=1.0)
    with pytest.raises(ParameterError, match=r"does not take \['c_width'\]"):
        estimate_cmi(None, radius=1, method="chain", K=1.0, p=0.1, c_width=2)
    with pytest.raises(ParameterError, match="needs samples"):
        estimate_cmi(None, radius=1, method="plugin")
    with pytest.raises(ParameterError, match=r"does not take \['K'\]"):
        estimate_cmi(np.zeros((2, 8), np.int8), radius=1, method="plugin", K=1.0)


def test_lazy_dispatch_to_syndrome_and_neural(monkeypatch):
    calls = {}

    def fake_syndrome(L, p, radius, *, n_samples=10, seed=0):
        calls["syndrome"] = (L, p, radius, n_samples)
        return CMIEstimate(value=0.5, stderr=0.1, method="syndrome", radius=radius)

    def fake_neural(samples, *, radius, hidden=8):
        calls["neural"] = (samples.shape, radius, hidden)
        return CMIEstimate(value=0.25, stderr=0.1, method="neural", radius=radius)

    monkeypatch.setitem(
        sys.modules, "latticediff.info.syndrome", types.SimpleNamespace(syndrome_cmi=fake_syndrome)
    )
    e = estimate_cmi(None, radius=2, method="syndrome", L=6, p=0.1, n_samples=20)
    assert e.value == 0.5 and calls["syndrome"] == (6, 0.1, 2, 20)
    with pytest.raises(ParameterError, match="draws its own noise"):
        estimate_cmi(np.zeros((2, 2, 6, 6), np.uint8), radius=1, method="syndrome", L=6, p=0.1)
    with pytest.raises(ParameterError, match=r"does not take \['q'\]"):
        estimate_cmi(None, radius=1, method="syndrome", L=6, p=0.1, q=3)

    monkeypatch.setitem(sys.modules, "latticediff.info.neural", None)  # import fails
    with pytest.raises((ParameterError, ImportError)):
        estimate_cmi(np.zeros((2, 8), np.int8), radius=1, method="neural")
    monkeypatch.setitem(
        sys.modules, "latticediff.info.neural", types.SimpleNamespace(neural_cmi=fake_neural)
    )
    e = estimate_cmi(np.zeros((4, 8), np.int8), radius=1, method="neural", hidden=16)
    assert e.value == 0.25 and calls["neural"] == ((4, 8), 1, 16)


def test_neural_missing_module_is_a_clear_error(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake_import(name, *a, **k):
        if name == "latticediff.info.neural":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(ParameterError, match="method='neural' is not available"):
        estimate_cmi(np.zeros((2, 8), np.int8), radius=1, method="neural")
