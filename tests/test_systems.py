import numpy as np
import pytest

import latticediff as ld
from latticediff.systems import model_from_dict


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: ld.Ising(L=1, T=1.0), r"L must be >= 2, got 1"),
        (lambda: ld.Ising(L=4, T=0.0), r"T must be a finite number > 0, got 0.0"),
        (lambda: ld.Ising(L=4, T=float("nan")), r"T must be a finite number"),
        (lambda: ld.Ising(L=4.5, T=1.0), r"L must be an integer"),
        (lambda: ld.Potts(L=4, q=1, T=1.0), r"q must be in \[2, 255\], got 1"),
        (lambda: ld.LoopGas(L=4, x=0.0), r"x must be in \(0.0, 1.0\], got 0.0"),
        (lambda: ld.LoopGas(L=4, x=1.5), r"x must be in \(0.0, 1.0\], got 1.5"),
        (lambda: ld.IsingChain(N=1, K=1.0), r"N must be >= 2"),
        (lambda: ld.IsingChain(N=4, K=1.0, periodic="yes"), r"periodic must be a bool"),
    ],
)
def test_invalid_parameters_are_named(bad, match):
    with pytest.raises(ld.ParameterError, match=match):
        bad()


def test_models_are_frozen_and_round_trip():
    for m in (ld.Ising(L=4, T=2.0, h=0.1), ld.Potts(L=3, q=5, T=0.7), ld.LoopGas(L=3, x=0.4),
              ld.IsingChain(N=7, K=-0.3, periodic=False)):
        assert model_from_dict(m.to_dict()) == m
        with pytest.raises(AttributeError):
            m.L = 9  # noqa: B010 - frozen dataclass
    with pytest.raises(ld.ParameterError, match="unknown model 'xy'; known models"):
        model_from_dict({"model": "xy", "L": 4})


def test_ising_energy_counts_each_bond_once_per_direction():
    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(3, 5, 5))
    m = ld.Ising(L=5, T=1.0, h=0.3)
    explicit = []
    for c in s.astype(int):
        e = 0.0
        for i in range(5):
            for j in range(5):
                e -= c[i, j] * (c[i, (j + 1) % 5] + c[(i + 1) % 5, j]) + 0.3 * c[i, j]
        explicit.append(e / 25)
    np.testing.assert_allclose(m.energy(s), explicit)


def test_potts_order_parameter_range():
    m = ld.Potts(L=4, q=3, T=1.0)
    assert m.magnetization(np.zeros((1, 4, 4), np.uint8))[0] == 1.0
    s = np.arange(16, dtype=np.uint8).reshape(1, 4, 4) % 4
    assert ld.Potts(L=4, q=4, T=1.0).magnetization(s)[0] == 0.0


def test_loopgas_defects_and_winding():
    m = ld.LoopGas(L=4)
    b = np.zeros((1, 2, 4, 4), np.uint8)
    b[0, 0, 1, :] = 1  # a horizontal non-contractible loop in row 1
    assert m.defects(b)[0] == 0
    assert tuple(m.winding(b)[0]) == (1, 0)
    b[0, 1, 2, 3] = 1  # one dangling edge: two odd vertices
    assert m.defects(b)[0] == 2
    plaquette = np.zeros((2, 4, 4), np.uint8)
    plaquette[0, 0, 0] = plaquette[0, 1, 0] = plaquette[1, 0, 0] = plaquette[1, 0, 1] = 1
    assert m.defects(plaquette)[()] == 0 and tuple(m.winding(plaquette)) == (0, 0)


def test_chain_observables():
    m = ld.IsingChain(N=4, K=1.0)
    s = np.array([[1, 1, -1, -1]], np.int8)
    assert m.nn_correlation(s)[0] == 0.0  # bonds +,-,+,- around the ring
    assert ld.IsingChain(N=4, K=1.0, periodic=False).nn_correlation(s)[0] == pytest.approx(1 / 3)
