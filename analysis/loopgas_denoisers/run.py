"""Local vs global denoisers of the bit-flipped uniform loop gas, and what they generate.

The data: x uniform on the cycle space of the L x L torus (the loop gas at x = 1, the toric
code's Z-basis distribution), pushed along the bit-flip path y = x + e with e i.i.d.
Bernoulli(p), p = (1 - exp(-2 gamma t))/2 (gamma = 1). The study:

1. **Training.** Strictly local denoisers of radius r = 1..6 (:class:`latticediff.nn.LocalDenoiser`)
   and a global U-Net (:class:`latticediff.nn.GlobalDenoiser`), each conditioned on t, trained by
   cross-entropy with the same budget (steps x batch) on p in [0.005, 0.5) (80 % of the batches
   in [0.005, 0.32], the range that is evaluated; the rest so that the reverse sampler, which
   starts at p = 1/2, sees its whole path).
2. **Excess loss.** Held-out per-edge cross-entropy CE_r(p) and CE_global(p) on the same noisy
   samples, and the paired difference ``Delta(r, p) = CE_r - CE_global`` with its standard error
   over samples. For Bayes-optimal models ``Delta = I(x_0A : y_C | y_AB) >= 0`` (DESIGN.md §2).
   The peak of Delta(r, p) in p per r: vertex of a weighted parabola through the grid maximum
   and its neighbours, error from a bootstrap over held-out samples.
3. **Exact references** (no networks), to tell physics from training error:

   - the Bayes-optimal radius-r posterior: the window Q sees y_Q, whose posterior depends only
     on the parities of the (2r)^2 vertex stars inside Q, so ``H(x_A | y_Q) = H(e_A | sigma_Q(e))``;
     for r = 1, 2 an exact table over the 2^((2r)^2 + 2) joint values of (syndrome, e_A), built
     by XOR-convolving one edge at a time (:func:`local_syndrome_table`); for r >= 3 window
     Pfaffians (:func:`local_posterior`);
   - the Bayes-optimal global posterior P(x_A | y) by Kasteleyn Pfaffians
     (:func:`latticediff.info.syndrome.loopgas_log_prob`, 4 per site, :func:`global_posterior`);
   - hence, on sites of held-out samples with the noise coupled across p, the exact gap
     ``Delta(r) = E_y KL(P(x_A|y) || P(x_A|y_Q))`` for every r, its decay length in r
     (:func:`gap_markov_length`), and each network's excess over the Bayes-optimal global model,
     ``E_y KL(P(x_A|y) || P_net)`` (= CE_net - H(x_A|y)), all Rao-Blackwellised (low variance)
     and paired on the same sites.
4. **Generation.** Ancestral (D3PM) sampling (:func:`latticediff.nn.sampling.sample_discrete`)
   from p = 1/2 with the trained networks at L = 16: all-local r = 1, 3, 6, all-global, and a
   hybrid (local r = 3 outside the window where the measured network Delta(r = 3, p) exceeds
   ``window_frac`` of its maximum, global inside), plus the exact Bayes local r = 1, 2 denoisers;
   and with the exact Bayes denoisers at a small L (local r = 1, global by Pfaffians, hybrid),
   which separates what locality costs from training error. Vertex-defect density (0 for every
   true loop-gas sample), winding sectors and edge occupation against Monte Carlo samples
   (:func:`latticediff.quality.loopgas_quality`), and the compute of each schedule.

Usage::

    python analysis/loopgas_denoisers/run.py --quick          # ~3 min of CPU
    python analysis/loopgas_denoisers/run.py                  # ~15-20 min of CPU
    python analysis/loopgas_denoisers/run.py --device cuda --steps 6000 --batch 64
    python analysis/loopgas_denoisers/run.py --plot-only      # redraw figures from out/

Writes ``out/results.json``, ``out/samples.npz`` (a few generated configurations per schedule)
and the figures ``out/*.png`` / ``*.pdf``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
P_C = 0.1092  # Nishimori point of the +-J random-bond Ising model (DESIGN.md §2)
GAMMA = 1.0
P_UNIFORM = 0.45  # above this p the exact global sampler uses the uniform prior (see below)

PLANS = {
    "quick": dict(
        L=16,
        radii=[1, 2, 3, 4, 5, 6],
        n_train=4000,
        steps=100,
        anneal_steps=30,
        batch=32,
        lr=2e-3,
        hidden=32,
        global_levels=3,
        n_eval=64,
        p_eval=[0.02, 0.05, 0.08, 0.11, 0.14, 0.2, 0.3],
        exact_p=[0.05, 0.11, 0.2],
        exact_samples=4,
        exact_local_samples=2,
        exact_sites=4,
        gen_n=16,
        gen_steps=40,
        exact_gen_L=6,
        exact_gen_n=6,
        exact_gen_steps=20,
        n_reference=400,
        bootstrap=200,
        window_frac=0.5,
    ),
    "full": dict(
        L=16,
        radii=[1, 2, 3, 4, 5, 6],
        n_train=20000,
        steps=750,
        anneal_steps=250,
        batch=32,
        lr=2e-3,
        hidden=32,
        global_levels=3,
        n_eval=512,
        p_eval=[
            0.02,
            0.04,
            0.06,
            0.07,
            0.08,
            0.09,
            0.10,
            0.11,
            0.12,
            0.13,
            0.14,
            0.16,
            0.18,
            0.20,
            0.25,
            0.30,
        ],
        exact_p=[
            0.02,
            0.04,
            0.06,
            0.07,
            0.08,
            0.09,
            0.10,
            0.11,
            0.12,
            0.13,
            0.14,
            0.17,
            0.20,
            0.25,
            0.30,
        ],
        exact_samples=96,
        exact_local_samples=32,
        exact_sites=4,
        gen_n=64,
        gen_steps=100,
        exact_gen_L=6,
        exact_gen_n=32,
        exact_gen_steps=80,
        n_reference=2000,
        bootstrap=500,
        window_frac=0.5,
    ),
}
# "full" with the vertex-parity inputs and clipping of "gpu" (run with --steps 4000 on a CPU:
# does the networks' gap approach the exact one as the global network's training error falls?)
PLANS["full-parity"] = dict(PLANS["full"], features="vertex_parity", grad_clip=1.0)
# "full-parity" with GroupNorm in the global U-Net: the unnormalised one collapsed to ln 2 at
# step ~3000 of an 8000-step run (README); with it, does longer training lower the global floor?
PLANS["full-parity-gn"] = dict(PLANS["full-parity"], global_norm="group")
# the same at half the learning rate: with GroupNorm, 16000 steps at lr 2e-3 still fell to ln 2
# at step ~5800 and recovered only by ~10000 (README)
PLANS["full-parity-gn-lr1e-3"] = dict(PLANS["full-parity-gn"], lr=1e-3)
# GroupNorm also on the stream before the down-sampling and merge convolutions, whose gains
# compounded to 10^6 in the collapse of full-parity-gn (README)
PLANS["full-parity-gns"] = dict(PLANS["full-parity"], global_norm="group-stream")
# A device budget (one H100 call, see gpu_run.sh): 16x the training samples of "full"
# (4000 steps at batch 128), a wider network, vertex parities as an input of every model (they
# halve the global sampler's defects at equal budget, parity_features.py) and gradient clipping
# (an unclipped U-Net diverged late in a long run, analysis/profiler/README.md); 4x the held-out
# samples and 8x the generated sample-steps. The exact references are those of "full".
PLANS["gpu"] = dict(
    PLANS["full"],
    n_train=100000,
    steps=3000,
    anneal_steps=1000,
    batch=128,
    hidden=64,
    features="vertex_parity",
    plain_radii=[1],  # a parity-aware r = 1 model has no convolution: worse than plain (README)
    global_norm="group-stream",  # "group" alone, and no norm, collapsed in long CPU runs (README)
    grad_clip=1.0,
    n_eval=2048,
    gen_n=256,
    gen_steps=200,
)
SEEDS = dict(
    train_data=101,
    test_data=102,
    exact_data=103,
    reference=104,
    eval=7,
    exact_noise=8,
    sites=9,
    generate=11,
    bootstrap=12,
)


# ----------------------------------------------------------------------------------------------
# exact references


def binary_entropy(p):
    """h(p) in nats: the Bayes cross-entropy of a radius-0 denoiser (x_A is uniform)."""
    p = np.asarray(p, dtype=np.float64)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def inner_vertices(r: int) -> list[tuple[int, int]]:
    """Offsets of the vertices whose whole star lies in the radius-r window of site (0, 0).

    A site (i, j) owns the edges (i, j)-(i, j+1) (channel 0) and (i, j)-(i+1, j) (channel 1), so
    the star of vertex (i, j) is owned by sites (i, j), (i, j-1) and (i-1, j): all three are in
    the window |i|, |j| <= r iff -r < i, j <= r.
    """
    return [(i, j) for i in range(-r + 1, r + 1) for j in range(-r + 1, r + 1)]


def local_syndrome_table(r: int, p: float) -> np.ndarray:
    """Joint law P(sigma, e_A) of the inner-star syndrome of the radius-r window and A's errors.

    Shape ``(2^((2r)^2), 4)``; column ``a = e_h + 2 e_v`` (e_h on A's channel-0 edge, e_v on its
    channel-1 edge); row = the syndrome bits in :func:`inner_vertices` order. Only edges in an
    inner star matter (the others carry no information about e_A), each one flips its inner
    endpoints' bits (and A's bit if it is A's edge) with probability p: one XOR convolution per
    edge. Exact; memory 2^((2r)^2 + 2) doubles (r <= 2).

    >>> round(float(local_syndrome_table(1, 0.1).sum()), 12)
    1.0
    """
    if r not in (1, 2):
        raise ValueError(f"the exact table is built for r = 1 or 2 (memory 2^(4r^2+2)), got {r}")
    bit = {v: k for k, v in enumerate(inner_vertices(r))}
    masks: dict[tuple[int, int, int], int] = {}
    for i, j in bit:
        for e in ((0, i, j), (0, i, j - 1), (1, i, j), (1, i - 1, j)):
            masks[e] = masks.get(e, 0) | (1 << (bit[(i, j)] + 2))
    masks[(0, 0, 0)] |= 1
    masks[(1, 0, 0)] |= 2
    dist = np.zeros(1 << (len(bit) + 2))
    dist[0] = 1.0
    idx = np.arange(dist.size)
    for m in masks.values():
        dist = (1.0 - p) * dist + p * dist[idx ^ m]
    return dist.reshape(-1, 4)


def edge_marginals(P: np.ndarray) -> np.ndarray:
    """P(e_c = 1) for c = 0, 1 from a joint law over ``a = e_h + 2 e_v`` (last axis)."""
    return np.stack([P[..., 1] + P[..., 3], P[..., 2] + P[..., 3]], axis=-1)


def exact_local_ce(r: int, p: float) -> float:
    """Bayes-optimal per-edge cross-entropy H(x_c | y_Q) of a radius-r denoiser (nats), r <= 2.

    >>> round(exact_local_ce(1, 0.5), 12) == round(math.log(2), 12)
    True
    """
    if p == 0.0:
        return 0.0
    table = local_syndrome_table(r, p)
    ps = table.sum(axis=1)
    m = edge_marginals(table)  # P(sigma, e_c = 1)
    out = []
    for c in (0, 1):
        joint = np.stack([ps - m[:, c], m[:, c]], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / ps[:, None]), 0.0)
        out.append(-terms.sum())
    return float(np.mean(out))


def local_posterior(r: int, p: float, y: np.ndarray, sites, table=None) -> np.ndarray:
    """Exact P(e_A = a | y_Q) (rows sum to 1) of the radius-r window Q at each (sample, i, j).

    r <= 2: lookup in :func:`local_syndrome_table` by the inner-star syndrome; r >= 3: the
    channel inversion of :func:`global_posterior` applied to the region Pfaffians
    ``P(y_Q)`` of :func:`latticediff.info.syndrome.loopgas_log_prob` (4 per site).
    """
    from latticediff.systems import LoopGas

    n_idx, i0, j0 = (np.asarray(v) for v in sites)
    L = y.shape[-1]
    if r > 2:
        # Translate every sample so that its site sits at (c, c): one window mask then serves all
        # sites, and the Pfaffians run as one batch (parallel over samples) instead of one call
        # per site. A torus translation maps the loop gas and the noise onto themselves.
        c = L // 2
        a = np.arange(L)
        rows = (a[None, :] + (i0 - c)[:, None]) % L  # (m, L): new row a <- old row a + i0 - c
        cols = (a[None, :] + (j0 - c)[:, None]) % L
        yc = y[n_idx[:, None, None, None], np.arange(2)[None, :, None, None],
               rows[:, None, :, None], cols[:, None, None, :]]  # fmt: skip
        mask = np.zeros((L, L), bool)
        w = (c + np.arange(-r, r + 1)) % L  # wraps (covers the torus) when 2 r + 1 >= L
        mask[np.ix_(w, w)] = True
        m = len(n_idx)
        return _posterior_from_pfaffians(p, yc, (np.arange(m), np.full(m, c), np.full(m, c)), mask)
    if table is None:
        table = local_syndrome_table(r, p)
    par = LoopGas.vertex_parity(y[n_idx])
    k = np.arange(len(n_idx))
    sig = np.zeros(len(n_idx), np.int64)
    for b, (a, c) in enumerate(inner_vertices(r)):
        sig |= par[k, (i0 + a) % L, (j0 + c) % L].astype(np.int64) << b
    P = table[sig]
    return P / P.sum(axis=1, keepdims=True)


def global_posterior(p: float, y: np.ndarray, sites) -> np.ndarray:
    """Exact P(e_A = a | y) of the whole torus at each (sample, i, j), rows sum to 1.

    ``P(y_A = b, y_rest)`` for the four values b are exact Pfaffians
    (:func:`latticediff.info.syndrome.loopgas_log_prob`); since ``y_A = x_A + e_A`` with e_A
    independent of the rest, ``P(y_A = b, y_rest) = sum_a M[b, a] P(x_A = a, y_rest)`` with the
    invertible 4 x 4 channel ``M = BSC(p) (x) BSC(p)``, which gives ``P(x_A = a, y_rest)`` and then
    ``P(x_A = a | y) ~ M[y_A, a] P(x_A = a, y_rest)``. The same with a window mask gives the
    radius-r posteriors (:func:`local_posterior`).
    """
    L = y.shape[-1]
    return _posterior_from_pfaffians(p, y, sites, np.ones((L, L), bool))


def global_posterior_all(p: float, y: np.ndarray) -> np.ndarray:
    """:func:`global_posterior` at every site of every sample at once, shape (n, L, L, 4).

    One factorisation of the torus' Kasteleyn matrices per sample and boundary sector gives
    ``P(y_A = b, y_rest)`` of all L^2 sites by rank-4 updates through a selected inverse
    (:mod:`latticediff.info._rbim`, the route of ``syndrome_cmi``); ~100x faster than four
    Pfaffians per site at L = 16 (0.04 s per sample on one core), equal to rounding (tests).
    """
    from latticediff.info.syndrome import _site_log_c0

    y = np.ascontiguousarray(y, dtype=np.uint8)
    n, _, L, _ = y.shape
    ii, jj = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    res, _ = _site_log_c0(L, p, y, 0, 1, np.stack([ii.ravel(), jj.ravel()], axis=1))
    nv = (res.shape[2] - 1) // 2
    lc = res[..., 1 + nv :]  # log c0 of the torus with A's error bits flipped by v (bit 0: h)
    ya = (y[:, 0] + 2 * y[:, 1]).reshape(n, L * L).astype(np.int64)
    b = np.arange(4)
    lpy = np.take_along_axis(lc, b ^ ya[..., None], axis=-1)  # log P(y_A = b, y_rest) + const
    post = _posterior_from_joint(p, np.exp(lpy - lpy.max(axis=-1, keepdims=True)), ya)
    return post.reshape(n, L, L, 4)


def global_px1_all(p: float, y: np.ndarray) -> np.ndarray:
    """Exact ``P(x_e = 1 | y)`` of every edge, in the layout of ``y``: (n, 2, L, L)."""
    pe = edge_marginals(global_posterior_all(p, y))  # P(e = 1 | y), (n, L, L, 2)
    return np.where(y == 1, 1 - pe.transpose(0, 3, 1, 2), pe.transpose(0, 3, 1, 2))


def at_sites(a: np.ndarray, sites) -> np.ndarray:
    """The values of ``a`` (n, 2, L, L, ...) on the two edges of each site: (n_sites, 2, ...)."""
    n_idx, i0, j0 = sites
    return np.stack([a[n_idx, 0, i0, j0], a[n_idx, 1, i0, j0]], axis=1)


def local_gaps(p: float, y: np.ndarray, px_g: np.ndarray, sites, radii) -> np.ndarray:
    """Exact gaps Delta(r, p) per sample, shape (len(radii), n): the KL divergence of the exact
    radius-r posterior of x_A from the global one ``px_g`` (P(x = 1 | y) at the sites,
    (n_sites, 2)), averaged over A's two edges and the sample's sites (an equal number per
    sample, grouped by sample)."""
    n = y.shape[0]
    ya = at_sites(y, sites)
    out = np.empty((len(radii), n))
    for k, r in enumerate(radii):
        table = local_syndrome_table(r, p) if r <= 2 else None
        px_l = _px(edge_marginals(local_posterior(r, p, y, sites, table)), ya)
        out[k] = kl_bits(px_g, px_l).mean(axis=1).reshape(n, -1).mean(axis=1)
    return out


def _posterior_from_joint(p: float, py: np.ndarray, ya: np.ndarray) -> np.ndarray:
    """P(e_A = a | y) (last axis indexed by e_A) from ``py[..., b]`` proportional to
    ``P(y_A = b, y_rest)`` and the observed ``ya``: invert the channel ``M = BSC(p) (x) BSC(p)``
    to get ``P(x_A = a, y_rest)``, then weight by ``M[y_A, a]``."""
    bsc_inv = np.array([[1 - p, -p], [-p, 1 - p]]) / (1 - 2 * p)
    px = np.maximum(py @ np.kron(bsc_inv, bsc_inv).T, 0.0)  # P(x_A = a, y_rest); a = h + 2 v
    ea = ya[..., None] ^ np.arange(4)  # e_A implied by x_A = a
    post = px * np.where(ea & 1, p, 1 - p) * np.where(ea >> 1, p, 1 - p)
    post /= post.sum(axis=-1, keepdims=True)
    out = np.empty_like(post)
    np.put_along_axis(out, ea, post, axis=-1)
    return out


def _posterior_from_pfaffians(p, y, sites, mask) -> np.ndarray:
    from latticediff.info.syndrome import loopgas_log_prob

    n_idx, i0, j0 = (np.asarray(v) for v in sites)
    m = len(n_idx)
    L = y.shape[-1]
    ys = np.repeat(y[n_idx][:, None], 4, axis=1)  # (m, 4, 2, L, L)
    k = np.arange(m)
    for b in range(4):
        ys[k, b, 0, i0, j0] = b & 1
        ys[k, b, 1, i0, j0] = b >> 1
    lp = loopgas_log_prob(L, p, mask, ys.reshape(m * 4, 2, L, L)).reshape(m, 4)
    py = np.exp(lp - lp.max(axis=1, keepdims=True))  # P(y_A = b, y_rest), per-site scale
    ya = y[n_idx, 0, i0, j0].astype(np.int64) + 2 * y[n_idx, 1, i0, j0].astype(np.int64)
    return _posterior_from_joint(p, py, ya)


def kl_bits(p1, p2):
    """KL(Bernoulli(p1) || Bernoulli(p2)) in nats, elementwise (0 log 0 = 0)."""
    p1, p2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    tiny = 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p1 > 0, p1 * (np.log(p1 + tiny) - np.log(p2 + tiny)), 0.0)
        b = np.where(p1 < 1, (1 - p1) * (np.log1p(-p1 + tiny) - np.log1p(-p2 + tiny)), 0.0)
    return a + b


def exact_global_module():
    """The Bayes-optimal global denoiser as a torch module (:func:`global_posterior_all`: one
    Kasteleyn factorisation per sample and step, 0.04 s at L = 16), same interface as
    :func:`exact_local_module`; ``receptive_radius`` is None."""
    import torch

    class ExactGlobal(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dim, self.in_channels, self.out_channels = 2, 2, 4
            self.prediction, self.receptive_radius = "logits", None
            self.embed = True

        def flops_per_site(self, shape=None):
            return float("nan")  # Pfaffians, not a network: counted in wall time only

        def forward(self, x, c):
            y = (x.detach().cpu().numpy() > 0).astype(np.uint8)
            n, _, L, _ = y.shape
            cs = np.broadcast_to(np.asarray(c.detach().cpu(), np.float64), (n,))
            logits = np.zeros((n, 2, 2, L, L))
            for c_k in np.unique(cs):
                p = max(c_k / 2, 1e-9)
                if p > P_UNIFORM:
                    # the channel inversion loses all precision as p -> 1/2, where the posterior
                    # of x_A is the uniform prior up to O((1 - 2p)^2): use the prior (logits 0)
                    continue
                ks = np.flatnonzero(cs == c_k)
                px1 = np.clip(global_px1_all(p, y[ks]), 1e-15, 1 - 1e-15)  # (m, 2, L, L)
                logits[ks, 0], logits[ks, 1] = np.log1p(-px1), np.log(px1)
            return torch.from_numpy(logits.reshape(n, 4, L, L)).to(x.device, x.dtype)

    return ExactGlobal()


def exact_local_module(r: int, process):
    """The Bayes-optimal radius-r denoiser (r = 1, 2) as a torch module for the samplers.

    ``forward(x, c)`` takes the network input (bits as ±1, ``(n, 2, L, L)``) and the per-sample
    time feature ``c = 1 - exp(-2 gamma t) = 2p`` and returns logits ``(n, 4, L, L)`` (layout of
    :func:`latticediff.nn.local.split_logits`) of the exact ``P(x_0 | y_Q)`` from
    :func:`local_syndrome_table`. Strictly local by construction (syndromes of the window's inner
    stars). Not a network: ``flops_per_site`` counts the parity and index operations only.
    """
    import torch

    class ExactLocal(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dim, self.in_channels, self.out_channels = 2, 2, 4
            self.prediction, self.radius = "logits", r
            self.embed = True  # ask the samplers for the time feature
            self._tables: dict[float, np.ndarray] = {}

        @property
        def receptive_radius(self):
            return r

        def flops_per_site(self, shape=None):
            return float(4 * (2 * r) ** 2)

        def _table(self, p):
            key = round(float(p), 12)
            if key not in self._tables:
                self._tables = {key: local_syndrome_table(r, min(max(key, 1e-12), 0.5))}
            return self._tables[key]

        def forward(self, x, c):
            from latticediff.systems import LoopGas

            y = (x.detach().cpu().numpy() > 0).astype(np.uint8)
            n, _, L, _ = y.shape
            par = LoopGas.vertex_parity(y).astype(np.int64)  # (n, L, L)
            sig = np.zeros((n, L, L), np.int64)
            for b, (a, d) in enumerate(inner_vertices(r)):
                # syndrome bit of vertex (i + a, j + d) for the window of site (i, j)
                sig |= np.roll(par, shift=(-a, -d), axis=(1, 2)) << b
            cs = np.broadcast_to(np.asarray(c.detach().cpu(), np.float64), (n,))
            logits = np.empty((n, 2, 2, L, L))  # (n, K, C, L, L)
            for k in range(n):
                P = self._table(cs[k] / 2)[sig[k]]  # (L, L, 4) joint of e_A
                pe = edge_marginals(P / P.sum(axis=-1, keepdims=True))  # P(e_c = 1)
                px1 = np.where(y[k].transpose(1, 2, 0) == 1, 1 - pe, pe)  # P(x_c = 1)
                px1 = np.clip(px1, 1e-15, 1 - 1e-15).transpose(2, 0, 1)
                logits[k, 0], logits[k, 1] = np.log1p(-px1), np.log(px1)
            return torch.from_numpy(logits.reshape(n, 4, L, L)).to(x.device, x.dtype)

    return ExactLocal()


# ----------------------------------------------------------------------------------------------
# models and training


class PMixture:
    """Training times: p uniform on [0.005, 0.32) with prob. 0.8, else on [0.32, 0.499)."""

    def __init__(self, process):
        self.process = process

    def __call__(self, rng, n):
        u, low = rng.random(n), rng.random(n) < 0.8
        p = np.where(low, 0.005 + u * (0.32 - 0.005), 0.32 + u * (0.499 - 0.32))
        return np.asarray(self.process.t_of_p(p))


def with_steps(plan: dict, steps: int) -> dict:
    """``plan`` with ``steps`` training steps in all, split between the main and the annealing
    phase in the plan's proportion (what ``--steps`` does)."""
    total = plan["steps"] + plan["anneal_steps"]
    main = int(round(steps * plan["steps"] / total))
    return dict(plan, steps=main, anneal_steps=steps - main)


def build_models(plan: dict, seed: int = 0) -> dict:
    """``{"r=1": LocalDenoiser, ..., "global": GlobalDenoiser}`` for loop-gas bits (C = 2)."""
    from latticediff.nn import GlobalDenoiser, LocalDenoiser

    h = plan["hidden"]
    # vertex parities as extra input channels (plans that set "features"); a parity-aware local
    # model is still strictly radius r: its convolutions reach r - 1, the parities one more
    feat = {"input_features": plan["features"]} if plan.get("features") else {}
    models = {}
    for r in plan["radii"]:
        # r stacked 3x3 convolutions (radius exactly r), then per-site layers
        f = {} if r in plan.get("plain_radii", ()) else feat
        models[f"r={r}"] = LocalDenoiser(
            r, 2, 4, hidden=h, depth=max(r, 2) + 1, spatial_layers=r, seed=seed + r, **f
        )
    norm = {"norm": plan["global_norm"]} if plan.get("global_norm") else {}
    models["global"] = GlobalDenoiser(
        2, 4, hidden=h, levels=plan["global_levels"], seed=seed, **feat, **norm
    )
    return models


def train_all(models, data, process, plan, device, log, only=None, cache=None) -> dict:
    """Equal budget for every model: ``steps`` at lr, then ``anneal_steps`` at lr / 5.

    ``only``: train just these names (the seeds stay those of the full set, so separate
    processes reproduce one sequential run); ``cache``: write each model's weights and
    ``<name>.info.json`` there as soon as it is trained."""
    import torch

    from latticediff.nn import train_denoiser

    info = {}
    ts = PMixture(process)
    for k, (name, net) in enumerate(models.items()):
        if only is not None and name not in only:
            continue
        t0 = time.perf_counter()
        h1 = train_denoiser(
            net,
            data,
            process,
            steps=plan["steps"],
            batch_size=plan["batch"],
            lr=plan["lr"],
            seed=1000 + k,
            device=device,
            t_sampler=ts,
            progress=False,
            grad_clip=plan.get("grad_clip"),
        )
        h2 = train_denoiser(
            net,
            data,
            process,
            steps=plan["anneal_steps"],
            batch_size=plan["batch"],
            lr=plan["lr"] / 5,
            seed=2000 + k,
            device=device,
            t_sampler=ts,
            progress=False,
            grad_clip=plan.get("grad_clip"),
        )
        wall = time.perf_counter() - t0
        tail = h2.losses[-max(1, plan["anneal_steps"] // 5) :]
        info[name] = dict(
            n_params=int(net.n_params()),
            flops_per_site=float(net.flops_per_site((plan["L"], plan["L"]))),
            train_wall_s=wall,
            final_train_loss=float(np.mean(tail)),
            loss_curve=np.concatenate([h1.losses, h2.losses])[
                :: max(1, (plan["steps"] + plan["anneal_steps"]) // 50)
            ].tolist(),
        )
        log(
            f"  trained {name:7s} {wall:6.1f} s  final loss {info[name]['final_train_loss']:.4f}"
            f"  params {info[name]['n_params']}"
        )
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            torch.save(
                {a: b.detach().cpu() for a, b in net.state_dict().items()}, cache / f"{name}.pt"
            )
            (cache / f"{name}.info.json").write_text(json.dumps(info[name]))
    return info


def weights_cache(plan: dict, models_dir, trained_on: str) -> Path:
    """The folder of the trained weights of ``plan`` (trained on device ``trained_on``) under
    ``models_dir``, keyed by the training settings: a rerun of the later stages skips training."""
    train_keys = ("L", "radii", "n_train", "steps", "anneal_steps", "batch", "lr", "hidden",
                  "global_levels")  # fmt: skip
    # keys of later plans enter only when set, so the keys of older caches stay valid
    train_keys += tuple(
        k
        for k in ("features", "plain_radii", "grad_clip", "global_norm")
        if plan.get(k) is not None
    )
    key = {k: plan[k] for k in train_keys} | {"device": trained_on}
    key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(models_dir) / f"loopgas_denoisers-{key}"


def load_weights(models: dict, cache: Path, device: str) -> None:
    """Load every model's weights from ``cache`` (safely: tensors only) onto ``device``."""
    import torch

    for k, m in models.items():
        m.load_state_dict(torch.load(cache / f"{k}.pt", weights_only=True, map_location="cpu"))
        m.to(device)


# ----------------------------------------------------------------------------------------------
# evaluation: CE curves, paired gaps, peaks


def fit_peak(p: np.ndarray, d: np.ndarray, se: np.ndarray, half: int = 2):
    """Vertex of the weighted parabola through the grid maximum of d(p) and ``half`` points on
    each side (fewer at the grid ends); None when the maximum is at the end of the grid or the
    parabola opens upwards or its vertex leaves the fit window."""
    k = int(np.argmax(d))
    if k == 0 or k == len(d) - 1:
        return None
    lo, hi = max(0, k - half), min(len(d), k + half + 1)
    pw, dw, sw = p[lo:hi], d[lo:hi], np.maximum(se[lo:hi], 1e-12)
    c = np.polyfit(pw - p[k], dw, 2, w=1.0 / sw)
    if c[0] >= 0:
        return None
    v = p[k] - c[1] / (2 * c[0])
    return float(v) if pw[0] <= v <= pw[-1] else None


def peaks_with_bootstrap(p, per_r, per_g, n_boot, seed):
    """Peak of the mean paired gap over samples, and its bootstrap spread (samples resampled
    jointly at every p: the held-out clean samples are shared across the grid)."""
    d = per_r - per_g  # (n_p, n)
    n = d.shape[1]
    mean, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(n)
    vertex = fit_peak(p, mean, se)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        db = d[:, idx]
        v = fit_peak(p, db.mean(axis=1), db.std(axis=1, ddof=1) / math.sqrt(n))
        boots.append(np.nan if v is None else v)
    boots = np.array(boots)
    ok = np.isfinite(boots)
    return dict(
        p_peak=vertex,
        p_peak_stderr=float(boots[ok].std(ddof=1)) if ok.sum() > 2 else None,
        p_peak_grid=float(p[int(np.argmax(mean))]),
        bootstrap_ok_fraction=float(ok.mean()),
        bootstrap_ci68=[float(np.quantile(boots[ok], 0.16)), float(np.quantile(boots[ok], 0.84))]
        if ok.sum() > 2
        else None,
        delta_max=float(mean.max()),
        delta_max_stderr=float(se[int(np.argmax(mean))]),
        # statistical only: a gap within the networks' training error is not physics
        significant=bool(mean.max() > 5 * se[int(np.argmax(mean))]),
    )


def evaluate(models, test, process, plan, device, log) -> dict:
    from latticediff.nn import evaluate_per_site_loss

    p = np.array(plan["p_eval"])
    ts = np.asarray(process.t_of_p(p))
    per = {}
    for name, net in models.items():
        t0 = time.perf_counter()
        res = evaluate_per_site_loss(
            net, test, process, ts, seed=SEEDS["eval"], batch_size=128, device=device
        )
        per[name] = res.per_sample
        log(f"  evaluated {name:7s} {time.perf_counter() - t0:5.1f} s")
    n = test.shape[0]
    ce = {
        k: dict(
            mean=v.mean(axis=1).tolist(), stderr=(v.std(axis=1, ddof=1) / math.sqrt(n)).tolist()
        )
        for k, v in per.items()
    }
    delta, peaks = {}, {}
    for r in plan["radii"]:
        d = per[f"r={r}"] - per["global"]
        delta[str(r)] = dict(
            mean=d.mean(axis=1).tolist(), stderr=(d.std(axis=1, ddof=1) / math.sqrt(n)).tolist()
        )
        peaks[str(r)] = peaks_with_bootstrap(
            p, per[f"r={r}"], per["global"], plan["bootstrap"], SEEDS["bootstrap"] + r
        )
    exact_local = {str(r): [exact_local_ce(r, float(q)) for q in p] for r in (1, 2)}
    return dict(
        p=p.tolist(),
        gamma_t=(GAMMA * ts).tolist(),
        n_samples=int(n),
        cross_entropy=ce,
        delta=delta,
        peaks=peaks,
        exact_local_ce=exact_local,
        binary_entropy=binary_entropy(p).tolist(),
    )


def _px(pe: np.ndarray, ya: np.ndarray) -> np.ndarray:
    """P(x_c = 1 | .) from P(e_c = 1 | .) and the observed y_c (first len(pe) sites)."""
    return np.where(ya[: len(pe)] == 1, 1 - pe, pe)


def exact_comparison(models, xs, process, plan, device, log) -> dict:
    """Exact gaps Delta(r, p) of the Bayes-optimal radius-r denoisers and every network's excess
    over the Bayes-optimal global model, at ``exact_p``.

    Sites: ``exact_sites`` well-separated sites of each clean sample in ``xs`` (the global
    posterior and r <= 2 on all samples; r >= 3, 4 region Pfaffians per site, on the first
    ``exact_local_samples``). Each quantity is a per-site KL divergence (Rao-Blackwellised: no
    sampling of x_A), averaged over the sites of a sample; errors from the spread over samples.
    """
    from latticediff.nn import predict_x0

    L, m = plan["L"], plan["exact_sites"]
    n = xs.shape[0]
    n_loc = min(n, plan["exact_local_samples"])
    rng = np.random.default_rng(SEEDS["sites"])
    i, j = rng.integers(0, L, n), rng.integers(0, L, n)
    offs = [(0, 0), (L // 2, 0), (0, L // 2), (L // 2, L // 2)][:m]
    m = len(offs)
    n_idx = np.repeat(np.arange(n), m)
    i0 = np.array([(i[s] + a) % L for s in range(n) for a, _ in offs])
    j0 = np.array([(j[s] + b) % L for s in range(n) for _, b in offs])
    sites = (n_idx, i0, j0)
    sub = slice(0, n_loc * m)
    sites_loc = (n_idx[sub], i0[sub], j0[sub])
    pe = np.array(plan["exact_p"])
    h_g = np.empty((len(pe), n))
    d_ex = {r: np.empty((len(pe), n if r <= 2 else n_loc)) for r in plan["radii"]}
    exc = {name: np.empty((len(pe), n)) for name in models}

    def per_sample(v):  # per-site values -> per-sample means
        return v.reshape(-1, m).mean(axis=1)

    # one uniform per edge for all p (e = u < p): the noise is coupled across the p grid, so the
    # curves are smooth in p and their peaks are located far better than with fresh noise
    u = np.random.default_rng(SEEDS["exact_noise"]).random(xs.shape)
    for k, q in enumerate(pe):
        t0 = time.perf_counter()
        e = (u < q).astype(np.uint8)
        y = xs ^ e
        ya, xa = at_sites(y, sites), at_sites(xs, sites)
        px_g = at_sites(global_px1_all(q, y), sites)  # one factorisation per sample
        h_g[k] = per_sample(-np.log(np.where(xa == 1, px_g, 1 - px_g)).mean(axis=1))
        for r in plan["radii"]:
            st = sites if r <= 2 else sites_loc
            px_l = _px(edge_marginals(local_posterior(r, q, y, st)), ya)
            d_ex[r][k] = per_sample(kl_bits(px_g[: len(px_l)], px_l).mean(axis=1))
        t = float(process.t_of_p(q))
        for name, net in models.items():
            probs = predict_x0(net, y, t, process, device=device)  # (n, 2, L, L, 2)
            px_n = at_sites(probs[..., 1], sites)
            exc[name][k] = per_sample(kl_bits(px_g, px_n).mean(axis=1))
        log(
            f"  exact p={q:.3f}: H_global {h_g[k].mean():.4f}  Delta_exact r=1..: "
            + " ".join(f"{d_ex[r][k].mean():.4f}" for r in plan["radii"])
            + f"  global-net excess {exc['global'][k].mean():.4f}"
            f"  [{time.perf_counter() - t0:.1f} s]"
        )

    def ms(a):
        return dict(
            mean=a.mean(axis=1).tolist(),
            stderr=(a.std(axis=1, ddof=1) / math.sqrt(a.shape[1])).tolist(),
        )

    zeros = np.zeros_like(h_g)
    return dict(
        p=pe.tolist(),
        n_samples=int(n),
        n_samples_local_r_ge_3=int(n_loc),
        sites_per_sample=m,
        h_global_mc=ms(h_g),
        delta_exact={str(r): ms(d_ex[r]) for r in plan["radii"]},
        peaks_exact={
            str(r): peaks_with_bootstrap(
                pe,
                d_ex[r],
                zeros[:, : d_ex[r].shape[1]],
                plan["bootstrap"],
                SEEDS["bootstrap"] + 50 + r,
            )
            for r in plan["radii"]
        },
        excess_over_bayes_global={k: ms(v) for k, v in exc.items()},
        # CE_net - (Bayes CE of the same window): the training error of each network
        training_excess={
            **{f"r={r}": ms(exc[f"r={r}"][:, : d_ex[r].shape[1]] - d_ex[r]) for r in plan["radii"]},
            "global": ms(exc["global"]),
        },
        exact_local_ce={str(r): [exact_local_ce(r, float(q)) for q in pe] for r in (1, 2)},
    )


def net_excess(net, y: np.ndarray, px_g: np.ndarray, p: float, process, device="cpu"):
    """Per-sample excess of ``net`` over the exact global posterior ``px_g`` (P(x = 1 | y) of
    every edge, (n, 2, L, L)) on the noisy ``y`` at flip probability p: the KL divergence in
    nats per edge, averaged over every edge of each sample, shape (n,)."""
    from latticediff.nn import predict_x0

    px_n = predict_x0(net, y, float(process.t_of_p(p)), process, device=device)[..., 1]
    return kl_bits(px_g, px_n).reshape(len(y), -1).mean(axis=1)


def excess_over_exact_global(net, xs, process, ps, device="cpu") -> dict:
    """A network's excess loss over the exact global denoiser, ``E_y KL(P(x_e | y) || q(x_e |
    y))`` in nats per edge, averaged over every edge of each clean sample in ``xs``, at each p
    in ``ps``; errors from the spread over samples. The noise is that of
    :func:`exact_comparison` (one uniform per edge, ``SEEDS["exact_noise"]``), so with the same
    ``xs`` the two agree up to the choice of sites (all edges here, four sites there)."""
    u = np.random.default_rng(SEEDS["exact_noise"]).random(xs.shape)
    mean, se = [], []
    for q in ps:
        y = xs ^ (u < q).astype(np.uint8)
        per = net_excess(net, y, global_px1_all(float(q), y), float(q), process, device)
        mean.append(float(per.mean()))
        se.append(float(per.std(ddof=1) / math.sqrt(len(per))))
    return dict(p=[float(q) for q in ps], mean=mean, stderr=se, n_samples=int(len(xs)))


def gap_markov_length(ex: dict, r_min: int = 2) -> dict:
    """Decay length of the exact gap in r at each p: weighted fit ``log Delta = c - r / xi`` over
    the radii ``r >= r_min`` whose Delta exceeds twice its error (weights Delta / stderr); xi
    error from the fit covariance. The gap decays slowest in r where the Markov length of the
    data peaks, near the transition (with I ~ e^{-r/xi(p)}, the peak of Delta(p) at fixed r
    reaches p_c only as r grows; xi(p) targets p_c directly)."""
    out = dict(p=ex["p"], r_min=r_min, xi=[], xi_stderr=[], radii_used=[])
    for k in range(len(ex["p"])):
        rs, y, w = [], [], []
        for r, d in ex["delta_exact"].items():
            m, s = d["mean"][k], d["stderr"][k]
            if int(r) >= r_min and m > 0 and m > 2 * s:
                rs.append(int(r))
                y.append(math.log(m))
                w.append(m / s if s > 0 else 1e6)
        if len(rs) >= 3:
            c, cov = np.polyfit(rs, y, 1, w=w, cov="unscaled")
            xi = -1.0 / c[0] if c[0] < 0 else None
            se = float(math.sqrt(cov[0, 0]) / c[0] ** 2) if xi is not None else None
        else:
            xi = se = None
        out["xi"].append(None if xi is None else float(xi))
        out["xi_stderr"].append(se)
        out["radii_used"].append(rs)
    good = [
        (x, e, q)
        for x, e, q in zip(out["xi"], out["xi_stderr"], ex["p"], strict=True)
        if x is not None
    ]
    if good:
        xm, em, qm = max(good, key=lambda v: v[0])
        out["p_at_max"] = qm
        # every p whose xi is compatible (1 sigma, combined) with the largest one
        band = [q for x, e, q in good if x + math.hypot(e, em) >= xm]
        out["p_band_compatible_with_max"] = [min(band), max(band)]
    return out


# ----------------------------------------------------------------------------------------------
# generation


def choose_window(p, delta_mean, frac):
    """The hybrid's global window in p: the contiguous run of grid points around the maximum of
    Delta(p) with Delta >= frac * max, widened to the next grid point on each side (0 below the
    grid's first point, the grid's last point above)."""
    p, d = np.asarray(p), np.asarray(delta_mean)
    k = int(np.argmax(d))
    lo = hi = k
    while lo > 0 and d[lo - 1] >= frac * d[k]:
        lo -= 1
    while hi < len(d) - 1 and d[hi + 1] >= frac * d[k]:
        hi += 1
    p_lo = float(p[lo - 1]) if lo > 0 else 0.0
    p_hi = float(p[hi + 1]) if hi < len(d) - 1 else float(p[-1])
    return p_lo, p_hi


def generate(models, process, plan, device, window_p, reference, log):
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.quality import loopgas_quality

    inf = math.inf
    t_lo, t_hi = (float(process.t_of_p(q)) for q in window_p)
    schedules = {}
    for r in (1, 3, 6):
        if f"r={r}" in models:
            schedules[f"local r={r}"] = HybridSchedule.single(models[f"r={r}"], inf)
    for r in (1, 2):
        schedules[f"exact local r={r}"] = HybridSchedule.single(
            exact_local_module(r, process), inf, name=f"exact local r={r}"
        )
    schedules["global"] = HybridSchedule.single(models["global"], inf)
    if "r=3" in models:
        schedules["hybrid r=3 + global"] = HybridSchedule.local_global(
            models["r=3"], models["global"], window=(t_lo, t_hi), t_max=inf
        )
    L = plan["L"]
    out, keep, reports = {}, {}, {}
    for name, sched in schedules.items():
        x, rep = sample_discrete(
            sched,
            process,
            (L, L),
            plan["gen_n"],
            n_steps=plan["gen_steps"],
            seed=SEEDS["generate"],
            dtype=np.uint8,
            device=device,
        )
        q = loopgas_quality(x, reference)
        reports[name] = rep
        keep[name] = x[:8]
        out[name] = dict(
            schedule=repr(sched),
            quality=q.to_dict(),
            compute=rep.to_dict(),
        )
        log(
            f"  {name:22s} defects/vertex {q.defect_density:.4f} +- "
            f"{q.defect_density_stderr:.4f}, defect-free {q.defect_free_fraction:.2f}, "
            f"{rep.total_flops / 1e9:.1f} GFLOP, {rep.wall_s:.1f} s"
        )
    g = reports["global"]
    for name, rep in reports.items():
        out[name]["compute_relative_to_global"] = rep.relative_to(g)
    ref_q = loopgas_quality(reference)
    keep["Monte Carlo"] = reference[:8]
    return dict(
        window_p=list(window_p),
        window_gamma_t=[GAMMA * t_lo, GAMMA * t_hi],
        n_samples=plan["gen_n"],
        n_steps=plan["gen_steps"],
        schedules=out,
        reference=dict(n=int(reference.shape[0]), quality=ref_q.to_dict()),
    ), keep


def generate_exact(process, plan, window_p, log):
    """Ancestral sampling with the *exact* Bayes-optimal denoisers at a small L (no training
    error): all-local r = 1, all-global (Pfaffians), and the hybrid (local r = 1 outside the
    window, global inside). Shows what locality itself costs."""
    import latticediff as ld
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.quality import loopgas_quality

    L, n, steps = plan["exact_gen_L"], plan["exact_gen_n"], plan["exact_gen_steps"]
    loc, glo = exact_local_module(1, process), exact_global_module()
    t_lo, t_hi = (float(process.t_of_p(q)) for q in window_p)
    schedules = {
        "exact local r=1": HybridSchedule.single(loc, math.inf, name="exact local r=1"),
        "exact global": HybridSchedule.single(glo, math.inf, name="exact global"),
        "exact hybrid": HybridSchedule(
            [
                seg
                for seg in (
                    (0.0, t_lo, loc, "exact local r=1"),
                    (t_lo, t_hi, glo, "exact global"),
                    (t_hi, math.inf, loc, "exact local r=1"),
                )
                if seg[1] > seg[0]
            ]
        ),
    }
    reference = ld.sample(
        ld.LoopGas(L=L, x=1.0), n_samples=plan["n_reference"], seed=SEEDS["reference"]
    )
    out, keep = {}, {}
    for name, sched in schedules.items():
        x, rep = sample_discrete(
            sched, process, (L, L), n, n_steps=steps, seed=SEEDS["generate"], dtype=np.uint8
        )
        q = loopgas_quality(x, reference)
        evals = {m.name: m.evaluations for m in rep.models}
        out[name] = dict(
            schedule=repr(sched),
            quality=q.to_dict(),
            evaluations=evals,
            wall_s=rep.wall_s,
            global_step_fraction=evals.get("exact global", 0) / rep.n_steps,
        )
        keep[name] = x[:8]
        log(
            f"  L={L} {name:16s} defects/vertex {q.defect_density:.4f} +- "
            f"{q.defect_density_stderr:.4f}, defect-free {q.defect_free_fraction:.2f}, "
            f"global steps {evals.get('exact global', 0)}/{rep.n_steps}, {rep.wall_s:.1f} s"
        )
    return dict(L=L, n_samples=n, n_steps=steps, window_p=list(window_p), schedules=out), keep


# ----------------------------------------------------------------------------------------------
# figures


def _gamma_t_axis(ax):
    def fwd(p):
        return -0.5 * np.log(np.clip(1 - 2 * np.asarray(p), 1e-9, None)) / GAMMA

    def inv(gt):
        return 0.5 * (1 - np.exp(-2 * GAMMA * np.asarray(gt)))

    sec = ax.secondary_xaxis("top", functions=(fwd, inv))
    sec.set_xlabel(r"$\gamma t$")


def figures(res: dict, samples: dict | None, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev, ex = res.get("evaluation"), res.get("exact")
    if ev is None:
        return []
    p = np.array(ev["p"])
    radii = [int(r) for r in ev["delta"]]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(radii)))
    made = []

    def save(fig, stem):
        for ext in ("png", "pdf"):
            path = out / f"{stem}.{ext}"
            fig.savefig(path, dpi=150, bbox_inches="tight")
            made.append(path)
        plt.close(fig)

    # 1. excess loss Delta(r, p): networks, exact Bayes, peak positions
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    axes = axes.ravel()
    ax = axes[0]
    for c, r in zip(colors, radii, strict=True):
        d = ev["delta"][str(r)]
        m, s = np.array(d["mean"]), np.array(d["stderr"])
        ax.plot(p, m, "-o", ms=3, color=c, label=f"r={r}")
        ax.fill_between(p, m - s, m + s, color=c, alpha=0.25)
    ax.set_title(
        f"trained networks (L={res['plan']['L']}, "
        f"{res['plan']['steps'] + res['plan']['anneal_steps']} steps x "
        f"{res['plan']['batch']})",
        fontsize=9,
    )
    ax.set_ylabel(r"$\Delta(r,p) = CE_r - CE_{global}$ (nats/edge)")
    panels = [ax]
    if ex is not None:
        ax = axes[1]
        pe = np.array(ex["p"])
        for c, r in zip(colors, radii, strict=True):
            d = ex["delta_exact"][str(r)]
            ax.errorbar(
                pe, d["mean"], d["stderr"], fmt="-o", ms=3, color=c, capsize=2, label=f"r={r}"
            )
        ax.set_title(
            r"exact Bayes-optimal: $E_y\,KL(P(x_A|y)\,\|\,P(x_A|y_{AB}))$"
            f" ({ex['n_samples']}x{ex['sites_per_sample']} sites)",
            fontsize=9,
        )
        panels.append(ax)
    else:
        axes[1].set_visible(False)
    for ax in panels:
        ax.axvline(P_C, color="k", ls="--", lw=1, label=r"$p_c=0.1092$")
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xlabel("flip probability p")
        _gamma_t_axis(ax)
        ax.legend(fontsize=7, ncol=2)
    ax = axes[2]
    for key, lab, mk, dx in (
        ("peaks", "networks", "o", -0.08),
        ("peaks_exact", "exact", "s", 0.08),
    ):
        src = ev if key == "peaks" else ex
        if src is None:
            continue
        pk = src[key]
        rs = [r for r in radii if pk[str(r)]["p_peak"] is not None]
        ax.errorbar(
            np.array(rs) + dx,
            [pk[str(r)]["p_peak"] for r in rs],
            [pk[str(r)]["p_peak_stderr"] or 0 for r in rs],
            fmt=mk,
            capsize=3,
            label=f"{lab} (parabola, bootstrap)",
        )
    ax.axhline(P_C, color="k", ls="--", lw=1, label=r"$p_c$")
    ax.set_xlabel("radius r")
    ax.set_ylabel(r"p at the maximum of $\Delta(r,p)$")
    ax.set_ylim(0, 0.25)
    ax.legend(fontsize=7)
    ax = axes[3]
    ml = None if ex is None else ex.get("gap_markov_length")
    if ml is not None:
        ok = [k for k, x in enumerate(ml["xi"]) if x is not None]
        ax.errorbar(
            [ml["p"][k] for k in ok],
            [ml["xi"][k] for k in ok],
            [ml["xi_stderr"][k] for k in ok],
            fmt="s-",
            color="C1",
            capsize=2,
        )
        ax.axvline(P_C, color="k", ls="--", lw=1)
        ax.set_xlabel("flip probability p")
        ax.set_ylabel(r"decay length $\xi$ of exact $\Delta(r)$ in r")
        ax.set_title(rf"$\log\Delta = c - r/\xi$, r >= {ml['r_min']}", fontsize=9)
    else:
        ax.set_visible(False)
    fig.tight_layout()
    save(fig, "delta_vs_p")

    # 2. cross-entropy curves and each network's training error
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    ax.plot(p, ev["binary_entropy"], ":", color="gray", label="h(p) (exact r=0)")
    for c, r in zip(colors, radii, strict=True):
        ax.plot(p, ev["cross_entropy"][f"r={r}"]["mean"], "-", color=c, lw=1, label=f"r={r}")
    ax.plot(p, ev["cross_entropy"]["global"]["mean"], "-", color="C3", lw=2, label="global")
    for r, ls in (("1", "--"), ("2", "-.")):
        ax.plot(p, ev["exact_local_ce"][r], ls, color="k", lw=1, label=f"exact Bayes r={r}")
    if ex is not None:
        h = ex["h_global_mc"]
        ax.errorbar(
            ex["p"],
            h["mean"],
            h["stderr"],
            fmt="*",
            color="C3",
            ms=7,
            label="exact Bayes global (MC)",
        )
    ax.axvline(P_C, color="k", ls="--", lw=0.7)
    ax.set_xlabel("flip probability p")
    ax.set_ylabel("held-out cross-entropy (nats/edge)")
    ax.legend(fontsize=7, ncol=2)
    _gamma_t_axis(ax)
    ax = axes[1]
    if ex is not None:
        pe = np.array(ex["p"])
        for c, r in zip(colors, radii, strict=True):
            e = ex["training_excess"][f"r={r}"]
            ax.errorbar(pe, e["mean"], e["stderr"], fmt="-o", ms=3, color=c, lw=1, label=f"r={r}")
        e = ex["training_excess"]["global"]
        ax.errorbar(pe, e["mean"], e["stderr"], fmt="-o", ms=4, color="C3", lw=2, label="global")
        ax.axvline(P_C, color="k", ls="--", lw=0.7)
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xlabel("flip probability p")
        ax.set_ylabel("CE(network) - CE(Bayes, same window) (nats/edge)")
        ax.set_title("training error of each network (exact references)", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.set_visible(False)
    fig.tight_layout()
    save(fig, "cross_entropy")

    # 3. generation: defect densities per schedule (trained networks; exact denoisers)
    gen, gex = res.get("generation"), res.get("generation_exact")

    def colour(name):
        if "hybrid" in name:
            return "C2"
        if "global" in name:
            return "C3"
        return "gray" if "exact" in name else "C0"

    panels = [g for g in (gen, gex) if g is not None]
    if panels:
        fig, axes = plt.subplots(
            1,
            len(panels),
            figsize=(6.5 * len(panels), 4),
            gridspec_kw=dict(width_ratios=[len(g["schedules"]) for g in panels]),
        )
        axes = np.atleast_1d(axes)
        for ax, g in zip(axes, panels, strict=True):
            names = list(g["schedules"])
            q = [g["schedules"][k]["quality"] for k in names]
            dens = [v["defect_density"] for v in q]
            errs = [v["defect_density_stderr"] for v in q]
            ax.bar(range(len(names)), dens, yerr=errs, capsize=3, color=[colour(k) for k in names])
            for k, name in enumerate(names):
                sc = g["schedules"][name]
                if "compute_relative_to_global" in sc:
                    f = sc["compute_relative_to_global"]["flops"]
                    lab = "table" if not np.isfinite(f) or "exact" in name else f"{f:.2f}x"
                else:
                    lab = f"{sc['global_step_fraction']:.2f} of steps global"
                ax.text(k, dens[k] + errs[k], lab, ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8, ha="right")
            ax.set_ylabel("vertex defects per vertex (true data: 0)")
            lo, hi = g["window_p"]
            L = g.get("L", res["plan"]["L"])
            what = "exact Bayes-optimal denoisers" if g is gex else "trained networks"
            ax.set_title(
                f"{what}: L={L}, {g['n_samples']} samples, {g['n_steps']} steps;\n"
                f"hybrid = global for p in [{lo:.2f}, {hi:.2f}], local elsewhere",
                fontsize=9,
            )
        axes[0].set_xlabel("bar labels: network FLOPs relative to all-global", fontsize=8)
        fig.tight_layout()
        save(fig, "defects")
    if samples:
        from latticediff.systems import LoopGas

        names = list(samples)
        ncol = 4
        fig, axes = plt.subplots(
            len(names), ncol, figsize=(1.9 * ncol, 1.9 * len(names)), squeeze=False
        )
        for a, name in enumerate(names):
            for b in range(ncol):
                ax = axes[a, b]
                if b >= len(samples[name]):
                    ax.set_visible(False)
                    continue
                x = samples[name][b]
                L = x.shape[-1]
                hi_, vi_ = np.nonzero(x[0]), np.nonzero(x[1])
                for i, j in zip(*hi_, strict=True):
                    ax.plot([j, j + 1], [i, i], "k-", lw=0.8)
                for i, j in zip(*vi_, strict=True):
                    ax.plot([j, j], [i, i + 1], "k-", lw=0.8)
                di, dj = np.nonzero(LoopGas.vertex_parity(x))
                ax.plot(dj, di, "o", color="red", ms=2.5)
                ax.set_xlim(-0.5, L + 0.5)
                ax.set_ylim(L + 0.5, -0.5)
                ax.set_aspect("equal")
                ax.set_xticks([])
                ax.set_yticks([])
                if b == 0:
                    ax.set_ylabel(name, fontsize=8)
        fig.suptitle("generated configurations (red: odd vertices = defects)", fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.985))
        save(fig, "samples")
    return made


# ----------------------------------------------------------------------------------------------
# driver


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small plan, < 3 min on 2 cores")
    ap.add_argument("--plan", default=None, help="a plan name from PLANS (overrides --quick)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest for these small nets on a busy box)",
    )
    ap.add_argument("--steps", type=int, default=None, help="override the training steps")
    ap.add_argument("--batch", type=int, default=None, help="override the batch size")
    ap.add_argument("--no-exact", action="store_true", help="skip the Pfaffian references")
    ap.add_argument(
        "--save-models",
        action="store_true",
        help="also write the trained models to out/models/<name>-<id>/",
    )
    ap.add_argument(
        "--models-dir",
        default=None,
        help="cache trained weights here (a rerun with the same plan skips training)",
    )
    ap.add_argument(
        "--trained-on",
        default=None,
        help="load the --models-dir weights trained on this device (e.g. cuda: trained on a "
        "GPU, evaluated here); default: --device",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the stages already in out/results.json (same plan) and run the missing ones, "
        "e.g. the exact references after a --no-exact run on a GPU machine",
    )
    ap.add_argument(
        "--train-only",
        default=None,
        help="comma-separated model names (r=1,...,global): train just these into --models-dir "
        "and stop (one process per model on a GPU machine; a later run loads them all)",
    )
    ap.add_argument("--plot-only", action="store_true", help="redraw figures from out/")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg):
        print(msg, flush=True)

    if args.plot_only:
        res = json.loads((out / "results.json").read_text())
        if res.get("exact") and "gap_markov_length" not in res["exact"]:
            # a derived block added after the run (from the stored exact gaps): store it too
            res["exact"]["gap_markov_length"] = gap_markov_length(res["exact"])
            tmp = out / "results.json.tmp"
            tmp.write_text(json.dumps(res, indent=1))
            tmp.replace(out / "results.json")
        npz = out / "samples.npz"
        samples = dict(np.load(npz)) if npz.exists() else None
        samples = {
            k.replace("__", " ").replace("_plus_", " + "): v for k, v in (samples or {}).items()
        }
        for f in figures(res, samples, out):
            log(f"wrote {f}")
        return 0

    import torch

    import latticediff as ld
    from latticediff.noise import BitFlip

    plan_name = args.plan or ("quick" if args.quick else "full")
    if plan_name not in PLANS:
        ap.error(f"--plan must be one of {sorted(PLANS)}, got {plan_name!r}")
    plan = dict(PLANS[plan_name])
    if args.steps is not None:
        plan = with_steps(plan, args.steps)
    if args.batch is not None:
        plan["batch"] = args.batch
    if args.trained_on is not None and not args.models_dir:
        ap.error("--trained-on needs --models-dir (where the trained weights are)")
    prev = None
    if args.resume:
        path = out / "results.json"
        if not path.exists():
            ap.error(f"--resume: no {path} to resume from")
        prev = json.loads(path.read_text())
        if prev.get("plan") != plan:
            ap.error(f"--resume: {path} was made with another plan ({prev.get('plan_name')!r})")
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    process = BitFlip(gamma=GAMMA)
    model = ld.LoopGas(L=plan["L"], x=1.0)
    log(f"plan {plan_name}: {json.dumps(plan)}")
    data = ld.sample(model, n_samples=plan["n_train"], seed=SEEDS["train_data"])
    test = ld.sample(model, n_samples=plan["n_eval"], seed=SEEDS["test_data"])
    timings = {}

    res = dict(
        study="loopgas_denoisers",
        description="bit-flipped uniform loop gas (x = 1): local vs global denoisers, exact "
        "references, generation",
        exact_p_c=P_C,
        exact_gamma_t_c=float(process.t_of_p(P_C)) * GAMMA,
        gamma=GAMMA,
        plan_name=plan_name,
        plan=plan,
        device=args.device,
        torch_threads=torch.get_num_threads(),
        units="cross-entropies and gaps in nats per edge",
        latticediff_version=getattr(ld, "__version__", "unknown"),
        complete=False,
    )
    timings = res["timings_s"] = {}

    def checkpoint():  # the results so far, atomically (a late crash keeps the early stages)
        tmp = out / "results.json.tmp"
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(out / "results.json")

    log("training (equal budget per model)")
    t0 = time.perf_counter()
    models = build_models(plan)
    cache = None
    if args.models_dir:
        cache = weights_cache(plan, args.models_dir, args.trained_on or args.device)
    if args.train_only is not None:
        only = args.train_only.split(",")
        if cache is None or not set(only) <= set(models):
            ap.error(f"--train-only needs --models-dir and names from {sorted(models)}, got {only}")
        train_all(models, data, process, plan, args.device, log, only=only, cache=cache)
        return 0
    if cache is not None and not (cache / "train_info.json").exists():
        if all((cache / f"{k}.info.json").exists() for k in models):  # trained one by one
            merged = {k: json.loads((cache / f"{k}.info.json").read_text()) for k in models}
            (cache / "train_info.json").write_text(json.dumps(merged))
    if args.trained_on is not None and not (cache / "train_info.json").exists():
        ap.error(f"--trained-on {args.trained_on}: no trained weights in {cache}")
    if cache is not None and (cache / "train_info.json").exists():
        train_info = json.loads((cache / "train_info.json").read_text())
        load_weights(models, cache, args.device)
        log(f"  loaded trained weights from {cache}")
        res["models_loaded_from_cache"] = str(cache)  # train_s below is then only the loading
    else:
        train_info = train_all(models, data, process, plan, args.device, log)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for k, m in models.items():
                torch.save(
                    {a: b.detach().cpu() for a, b in m.state_dict().items()}, cache / f"{k}.pt"
                )
            (cache / "train_info.json").write_text(json.dumps(train_info))
    timings["train_s"] = time.perf_counter() - t0
    res["models"] = {k: dict(config=m.config(), **train_info[k]) for k, m in models.items()}
    if args.save_models:
        from latticediff.nn import save_model

        for k, m in models.items():
            cfg = {
                "name": f"loopgas-{k.replace('=', '')}",
                "study": "loopgas_denoisers",
                "plan": plan,
                "process": process.to_dict(),
            }
            save_model(
                m,
                out / "models",
                cfg,
                f"Loop-gas (x=1, L={plan['L']}) bit-flip "
                f"denoiser {k} from analysis/loopgas_denoisers/run.py.",
            )

    res["trained_on"] = args.trained_on or args.device
    kept = {}  # stages reused from the run being resumed, with the device that ran them
    if prev is not None:
        old_t = prev.get("timings_s", {})
        npz = out / "samples.npz"
        old_samples = {}
        if npz.exists():
            with np.load(npz) as z:
                old_samples = {k.replace("__", " ").replace("_plus_", " + "): z[k] for k in z.files}

    def reuse(stage: str, timing: str) -> bool:
        if prev is None or prev.get(stage) is None:
            return False
        res[stage] = prev[stage]
        timings[timing] = old_t.get(timing)
        kept[stage] = prev.get("device")
        log(f"  {stage}: kept from the run being resumed (device {kept[stage]})")
        return True

    log("held-out cross-entropy and paired gaps")
    if not reuse("evaluation", "evaluate_s"):
        t0 = time.perf_counter()
        res["evaluation"] = evaluate(models, test, process, plan, args.device, log)
        timings["evaluate_s"] = time.perf_counter() - t0
    ev = res["evaluation"]
    for r in plan["radii"]:
        pk = ev["peaks"][str(r)]
        log(
            f"  r={r}: Delta max {pk['delta_max']:.4f} +- {pk['delta_max_stderr']:.4f}, peak p "
            f"{pk['p_peak']} +- {pk['p_peak_stderr']} (grid argmax {pk['p_peak_grid']})"
        )
    checkpoint()

    res["exact"] = None
    if not args.no_exact:
        log("exact references (Pfaffians)")
        if not reuse("exact", "exact_s"):
            t0 = time.perf_counter()
            xs = ld.sample(model, n_samples=plan["exact_samples"], seed=SEEDS["exact_data"])
            res["exact"] = exact_comparison(models, xs, process, plan, args.device, log)
            res["exact"]["gap_markov_length"] = gap_markov_length(res["exact"])
            timings["exact_s"] = time.perf_counter() - t0
        for r in plan["radii"]:
            pk = res["exact"]["peaks_exact"][str(r)]
            log(f"  exact r={r}: peak p {pk['p_peak']} +- {pk['p_peak_stderr']}")
        checkpoint()
    ex = res["exact"]

    log("generation")
    keep = {}
    if reuse("generation", "generate_s"):
        keep = {k: v for k, v in old_samples.items() if not k.startswith("L=")}
    else:
        t0 = time.perf_counter()
        d3 = ev["delta"]["3"]
        k3 = int(np.argmax(d3["mean"]))
        if d3["mean"][k3] > 3 * d3["stderr"][k3]:
            window_source = "network Delta(r=3)"
            window = choose_window(ev["p"], d3["mean"], plan["window_frac"])
        elif ex is not None:
            # the networks' gap is not significant (under-trained): use the exact Bayes gap
            window_source = "exact Delta(r=3) (network Delta(r=3) not significant)"
            window = choose_window(ex["p"], ex["delta_exact"]["3"]["mean"], plan["window_frac"])
        else:
            window_source = "default [0.05, 0.2] (network Delta(r=3) not significant)"
            window = (0.05, 0.2)
        log(f"  hybrid window from {window_source}: p in [{window[0]:.3f}, {window[1]:.3f}]")
        reference = ld.sample(model, n_samples=plan["n_reference"], seed=SEEDS["reference"])
        gen, keep = generate(models, process, plan, args.device, window, reference, log)
        gen["window_source"] = window_source
        gen["window_frac"] = plan["window_frac"]
        res["generation"] = gen
        timings["generate_s"] = time.perf_counter() - t0
    checkpoint()
    if not args.no_exact:
        log("generation with the exact Bayes-optimal denoisers (small L)")
        if reuse("generation_exact", "generate_exact_s"):
            keep.update({k: v for k, v in old_samples.items() if k.startswith("L=")})
        else:
            t0 = time.perf_counter()
            ex_win = res["generation"]["window_p"]
            if ex is not None:  # the exact gap of the radius used here, r = 1
                ex_win = choose_window(ex["p"], ex["delta_exact"]["1"]["mean"], plan["window_frac"])
            res["generation_exact"], keep_ex = generate_exact(process, plan, ex_win, log)
            res["generation_exact"]["window_source"] = (
                "exact Delta(r=1)" if ex else res["generation"]["window_source"]
            )
            keep.update({f"L={plan['exact_gen_L']} {k}": v for k, v in keep_ex.items()})
            timings["generate_exact_s"] = time.perf_counter() - t0
    if kept:
        res["stages_kept_from_previous_run"] = kept
    timings["total_s"] = time.perf_counter() - t_start
    res["complete"] = True
    checkpoint()
    np.savez_compressed(
        out / "samples.npz",
        **{k.replace(" + ", "_plus_").replace(" ", "__"): v for k, v in keep.items()},
    )
    for f in figures(res, keep, out):
        log(f"wrote {f}")
    log(f"done in {timings['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
