"""The sample() front door: determinism, chains, thinning diagnostics, errors."""

import warnings

import numpy as np
import pytest

import latticediff as ld


@pytest.mark.parametrize(
    "model",
    [ld.Ising(L=8, T=2.0), ld.Ising(L=8, T=3.5), ld.Potts(L=6, q=3, T=1.0),
     ld.LoopGas(L=4, x=0.5), ld.LoopGas(L=4, x=1.0), ld.IsingChain(N=9, K=0.4)],
    ids=lambda m: repr(m),
)
def test_same_seed_bit_identical_whatever_the_thread_count(model):
    kw = dict(n_samples=40, seed=11, burn_in=50, thin=2)
    a = ld.sample(model, n_threads=1, **kw)
    b = ld.sample(model, n_threads=2, **kw)
    assert a.shape == (40, *model.shape) and a.dtype == model.dtype
    assert np.array_equal(a, b)
    c = ld.sample(model, **{**kw, "seed": 12})
    assert not np.array_equal(a, c)


def test_chains_are_independent_streams():
    res = ld.run_mc(ld.Ising(L=8, T=3.0), n_samples=16, seed=5, n_chains=4, burn_in=20, thin=1)
    first = res.samples[::4]  # the first sample of each chain
    assert len({f.tobytes() for f in first}) == 4


def test_auto_thinning_follows_tau_int():
    res = ld.run_mc(ld.Ising(L=16, T=2.6), n_samples=400, seed=3, method="metropolis",
                    burn_in=600)
    assert res.thin >= 2 and res.thin >= 2 * res.tau_int["energy"].tau - 2 * res.thin
    prov = res.provenance()
    assert prov["thin"] == res.thin and prov["tau_int_units"] == "sweeps"


def test_warns_when_thinning_is_below_two_tau():
    with pytest.warns(ld.SamplingWarning, match=r"thin=1 sweeps is below 2\*tau_int"):
        ld.run_mc(ld.Ising(L=16, T=2.3), n_samples=400, seed=1, method="metropolis",
                  burn_in=100, thin=1)


def test_iid_samplers_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ld.run_mc(ld.IsingChain(N=16, K=2.0), n_samples=200, seed=0)
    assert res.iid and res.tau_int["energy"].tau == 0.5


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_samples=0, seed=1), r"n_samples must be an integer >= 1, got 0"),
        (dict(n_samples=5, seed=-1), r"seed must be a non-negative integer, got -1"),
        (dict(n_samples=5, seed=1, thin=0), r"thin must be an integer >= 1, got 0"),
        (dict(n_samples=5, seed=1, burn_in=-3), r"burn_in must be an integer >= 0, got -3"),
        (dict(n_samples=5, seed=1, method="glauber"), r"glauber"),
    ],
)
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ld.ParameterError, match=match):
        ld.sample(ld.Ising(L=4, T=2.0), **kw)


def test_rejects_unknown_models():
    with pytest.raises(ld.ParameterError, match="model must be one of"):
        ld.sample("ising", n_samples=3, seed=1)


def test_multispin_front_door_shapes():
    res = ld.run_mc(ld.Ising(L=8, T=3.0), n_samples=100, seed=2, method="multispin",
                    burn_in=50, thin=2)
    assert res.samples.shape == (100, 8, 8) and res.samples.dtype == np.int8
    assert res.n_chains == 64
    e, de = res.estimate("energy")
    assert abs(e - ld.exact.ising_energy(3.0, L=8)) < 5 * de + 1e-3
