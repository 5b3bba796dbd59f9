"""A trained strictly local x_0 denoiser reaches the exact radius-r optimum on the Gaussian field.

On the massive Gaussian free field the Bayes-optimal radius-r x_0 denoiser is linear in the
window (``GaussianField.optimal_denoiser_weights``), with per-site MSE
``GaussianField.optimal_mse(t, r)``. A small :class:`LocalDenoiser` trained by MSE at one fixed
t on exact samples must reach it. Two measurements on held-out samples:

* ``mse_net / optimal_mse - 1``, with the standard error over independent samples (~0.3 %
  here); asserted ``< 2 % + 3 se`` in absolute value;
* the paired excess over the exact optimal denoiser applied to the *same* noisy inputs,
  ``mean(e_net - e_opt) / optimal_mse``, whose standard error is ~100x smaller; asserted in
  ``[-3 se, 2 %)`` (it cannot be significantly negative: nothing beats the Bayes optimum).
"""

import math

import numpy as np
import pytest
import torch

from latticediff.exact.gaussian_field import GaussianField
from latticediff.nn import LocalDenoiser, train_denoiser
from latticediff.noise import GaussianPath


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("mass,t,r", [(0.5, 0.5, 1), (0.1, 0.7, 2)])
def test_local_denoiser_reaches_exact_optimum(mass, t, r):
    g = GaussianField(12, mass)
    path = GaussianPath("linear")
    data = g.sample(3000, seed=0).astype(np.float32)  # 432k training sites
    net = LocalDenoiser(r, 1, 1, hidden=16, depth=2, t_embedding=None, prediction="x0", seed=0)
    # constant-lr AdamW phases with decreasing lr (train_denoiser has no schedule)
    for k, (steps, lr) in enumerate(((400, 3e-3), (200, 1e-3), (100, 1e-4))):
        train_denoiser(
            net, data, path, steps=steps, batch_size=32, lr=lr, t_sampler=t, seed=k,
            weight_decay=0.0, progress=False,
        )  # fmt: skip
    x0 = g.sample(2000, seed=1)  # held out
    xt, _ = path.sample(x0, t, np.random.default_rng(2))
    with torch.no_grad():
        pred = net(torch.from_numpy(xt.astype(np.float32))).double().numpy()
    e_net = ((pred - x0) ** 2).reshape(len(x0), -1).mean(axis=1)  # per-sample, independent
    e_opt = ((g.optimal_denoise(xt, t, r, path) - x0) ** 2).reshape(len(x0), -1).mean(axis=1)
    opt = g.optimal_mse(t, r, path)
    n = len(x0)
    rel = e_net.mean() / opt - 1.0
    rel_se = e_net.std(ddof=1) / math.sqrt(n) / opt
    assert abs(rel) < 0.02 + 3 * rel_se, (rel, rel_se)
    d = (e_net - e_opt) / opt
    excess, excess_se = d.mean(), d.std(ddof=1) / math.sqrt(n)
    assert -3 * excess_se < excess < 0.02, (excess, excess_se)
    # the radius matters: the radius-(r-1) optimum is worse by much more than the tolerance
    assert g.optimal_mse(t, r - 1, path) / opt - 1 > 0.02
