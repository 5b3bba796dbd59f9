"""A tiny version of ``analysis/mnist_denoisers/run.py``: MNIST on the linear Gaussian path.

Trains a local r = 1 and a global denoiser for the same few steps on 500 digits, checks that the
global model's held-out x0-MSE at t = 0.5 is below the local one's by more than 4 paired
standard errors (the local model sees a 3 x 3 window of a half-noise image and cannot tell which
digit it is in), then runs the study's window rule and a hybrid sample end to end and checks the
compute accounting. The full study is the analysis script.
"""

import doctest
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from latticediff.images import load_mnist, to_signed
from latticediff.nn import (
    GlobalDenoiser,
    HybridSchedule,
    LocalDenoiser,
    evaluate_per_site_loss,
    sample_gaussian,
    train_denoiser,
)
from latticediff.noise import GaussianPath
from latticediff.quality import image_quality

from .._scripts import load_script

RUN = Path(__file__).resolve().parents[2] / "analysis" / "mnist_denoisers" / "run.py"
Z = 4.0


def _study():
    return load_script(RUN)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_window_rule():
    study = _study()
    assert doctest.testmod(study, verbose=False).failed == 0
    ts = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    gap = np.array([0.01, 0.3, 1.0, 0.6, 0.1, 0.5])  # 0.5 qualifies but is not contiguous
    w = study.choose_window(ts, gap, np.full(6, 0.01))
    assert (w["t_lo"], w["t_hi"], w["t_argmax"]) == (0.15, 0.45, 0.3)
    # A point above the fraction but not above 3 stderr is left out.
    w = study.choose_window(ts, gap, np.array([0.01, 0.1, 0.01, 0.01, 0.01, 0.01]))
    assert (w["t_lo"], w["t_hi"]) == (0.25, 0.45)
    # A point below the fraction (0.2 < 0.25 x 1) is left out.
    w = study.choose_window(ts, np.array([0.01, 0.2, 1.0, 0.6, 0.1, 0.5]), np.full(6, 0.01))
    assert w["t_lo"] == 0.25
    # The window reaches the end of the path when the gap does.
    w = study.choose_window(ts, np.array([0.0, 0.0, 0.0, 0.5, 0.9, 1.0]), np.full(6, 0.01))
    assert (w["t_lo"], w["t_hi"]) == (0.35, 1.0)
    with pytest.raises(RuntimeError, match="not significant"):
        study.choose_window(ts, gap, np.full(6, 1.0))


def test_mnist_local_vs_global_end_to_end(mnist_dir):
    study = _study()
    x, _ = load_mnist(mnist_dir, split="test")
    x = to_signed(x)
    train, held = x[:500], x[8000:8200]
    path = GaussianPath("linear")
    common = dict(padding="zeros", prediction="x0", seed=0)
    loc = LocalDenoiser(1, 1, 1, hidden=16, depth=2, **common)
    glo = GlobalDenoiser(1, 1, hidden=12, levels=2, **common)
    for m in (loc, glo):
        train_denoiser(m, train, path, steps=80, batch_size=32, lr=3e-3, seed=0, progress=False)
    ts = [0.2, 0.5]
    ev = {
        name: evaluate_per_site_loss(m, held, path, ts, seed=5, loss="x0")
        for name, m in (("r=1", loc), ("global", glo))
    }
    gap = study.gap_curves({k: v.per_sample for k, v in ev.items()})["r=1"]
    # The models learned something: far below the MSE of predicting 0 everywhere at t = 0.5.
    assert ev["global"].mean[1] < 0.5 * float(np.mean(held**2))
    assert gap["mean"][1] > Z * gap["stderr"][1], (gap, ev["global"].mean, ev["r=1"].mean)

    sched = HybridSchedule.local_global(loc, glo, window=(0.3, 0.7), t_max=1.0)
    n, steps = 24, 10
    xs, rep = sample_gaussian(sched, path, (28, 28), n, n_steps=steps, seed=3, clip_x0=(-1, 1))
    assert xs.shape == (n, 1, 28, 28) and np.all(np.isfinite(xs))
    # Steps starting at t in (0.3, 0.7] use the global model: t = 0.7, 0.6, 0.5, 0.4.
    assert rep["global"].evaluations == 4 and rep["local r=1"].evaluations == 6
    frac = rep.fraction_of_global(glo)
    expect = (4 * glo.flops_per_site((28, 28)) + 6 * loc.flops_per_site()) / (
        steps * glo.flops_per_site((28, 28))
    )
    assert math.isclose(frac, expect, rel_tol=1e-12) and 0.4 < frac < 0.5
    q = image_quality(np.clip(xs, -1, 1), held, patch_sizes=(3,), n_permutations=5)
    assert np.isfinite(q.pixels.wasserstein) and q.pixels.wasserstein > 0


def test_study_positional_option():
    """The study's local models are position-aware by default, plain with 'none'; the GPU plan
    trains more than the CPU plan; the gap-shape summary flags an interior peak."""
    study = _study()
    plan = study.PLANS["quick"]
    pos = study.build_models(plan)
    plain = study.build_models(plan, positional="none")
    assert all(pos[f"r={r}"].positional == "fourier" for r in study.RADII)
    assert all(plain[f"r={r}"].positional is None for r in study.RADII)
    assert study.build_models(plan, positional="learned")["r=3"].pos_shape == (28, 28)
    for r in study.RADII:  # the position code is counted in the cost
        assert pos[f"r={r}"].flops_per_site() > plain[f"r={r}"].flops_per_site()
    with pytest.raises(ValueError, match="positional"):
        study.local_kwargs("sinusoid")
    gpu, full = study.PLANS["gpu"], study.PLANS["full"]
    assert gpu["steps"] * gpu["batch"] > full["steps"] * full["batch"]
    s = study.gap_shape([0.1, 0.5, 0.9], [0.0, 1.0, 0.9], [0.1, 0.1, 0.1])
    assert s["t_argmax"] == 0.5 and not s["interior_peak"]  # the drop is within noise
    assert not study.gap_shape([0.1, 0.5, 0.9], [0.0, 0.5, 1.0], [0.01] * 3)["interior_peak"]


def test_positional_local_learns_the_mean_image(mnist_dir):
    """At t -> 1 the best x0 estimate is the (position-dependent) mean digit. A plain local
    model with zero padding sees only noise away from the border and cannot produce it; the
    same model with the Fourier position code can: its held-out x0-MSE at t = 0.95 is lower
    by more than 4 paired standard errors, far more than the two differ at t = 0.2."""
    x, _ = load_mnist(mnist_dir, split="test")
    x = to_signed(x)
    train, held = x[:500], x[8000:8200]
    path = GaussianPath("linear")
    common = dict(hidden=16, depth=2, padding="zeros", prediction="x0", seed=0)
    nets = {
        "plain": LocalDenoiser(1, 1, 1, **common),
        "fourier": LocalDenoiser(1, 1, 1, positional="fourier", pos_features=4, **common),
    }
    ev = {}
    for name, m in nets.items():
        train_denoiser(m, train, path, steps=120, batch_size=32, lr=3e-3, seed=0, progress=False)
        ev[name] = evaluate_per_site_loss(m, held, path, [0.2, 0.95], seed=5, loss="x0")
    d = ev["plain"].per_sample - ev["fourier"].per_sample  # > 0: the positional one is better
    mean, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
    assert mean[1] > Z * se[1], (mean, se)
    assert abs(mean[0]) < 0.2 * mean[1], (mean, ev["plain"].mean)
