"""Neural estimators of I(A:C|B) for discrete lattice data, and the denoiser gap.

    I(A:C|B) = H(A|B) - H(A|BC)

Both conditional entropies are estimated by the held-out cross-entropy of a predictor of x_A
trained by cross-entropy: one predictor sees only the shell B (``0 < d_inf <= r``), the other
sees the window of radius ``far_radius`` around A, *with A itself removed* (DESIGN.md §2). A
held-out cross-entropy is an upper bound of the conditional entropy it estimates (Gibbs'
inequality); the difference of two is not a bound, so both are reported and the construction is
checked against exact values (the noisy 1D chain, :mod:`latticediff.exact.noisy_chain`).

**The far region.** "Everything else" is replaced by the window of radius ``far_radius = R``, so
what is estimated is ``I(A : C_R | B) = I(r) - I(R)``, where ``C_R`` is the ring
``r < d <= R`` (the chain rule, as for :mod:`.plugin`). Take R several Markov lengths beyond r
(the default is ``max(radii) + 6``, capped by the lattice) and check that a larger R does not
move the answer; ``far_radius = min(L) // 2`` (periodic) makes the far predictor see the whole
lattice except A.

**One network, one mask per predictor.** All predictors (the shells of the requested radii and
the far window) live in one network with one visibility mask each; every training batch gives
each mask exactly the same number of sites, so all predictors get the same budget (data, steps,
optimiser), and the parts they share are trained on all of it. Two architectures:

- ``"rings"`` (default, :class:`ShellRecurrentPredictor`): the window is read ring by ring from
  the outside in, ``h <- tanh(U_d x_d + V h)``, starting from a learned state beyond the
  outermost ring the mask may see; an MLP on the final state gives the logits. This is the form
  of exact message passing on a hidden Markov chain, and mask r shares all its updates with the
  far mask.
- ``"mlp"`` (:class:`MaskedWindowPredictor`): a per-mask first layer on the whole window with
  the unseen offsets set to exact zeros, then a shared MLP.

In the MLP, what a mask may not see enters through ``torch.where`` (an exact copy of a
constant); the ring reader never reads rings beyond a mask's radius (its state is ``h0`` until
then, and only the rows of masks that read ring d are updated there, which also makes a small
radius cheap). Either way mask k is a function of its shell alone, bitwise (tested), and A
itself is never read (the "blind spot": its offsets are not in the window at all).
``shared=False`` trains one network per mask instead (the same budget each; a check, at
``len(radii) + 1`` times the cost).

**Summaries of the far region** (lower bounds on I(A:C|B), by data processing). When the far
window has far more sites than the samples can train weights for, ``ring_sums_beyond = s``
reads each ring beyond s through its mean, and ``far_pool="all"`` pools all of them into one
standardised sum read in one step. A weak global mode needs the second: below Tc on the
bit-flip path (2D Ising, T = 2, L = 64, gamma t = 1.8, the same budget) the per-ring reader
finds J = I/(1-2p)^2 = 0.011 +- 0.005 and the pooled one 0.300 +- 0.019, against 0.347 from the
weak-signal model (``analysis/ising_markov``); the exact CMI of a hidden-global-sign mixture is
a test.

**Accuracy, measured** on the noisy chain (K = 1, p = 0.05 and 0.2, 45 000 x 128 training
sites, R = 10, hidden 32, 8192 sites per step; ``analysis/chain_cmi/``). With the plain
masked MLP the far predictor's extra excess loss (about (parameters that only it uses) /
(2 x examples), plus slowly learnt high-order interactions) biased the CMI low by 3e-5..1e-4
nats at r >= 3, many times the paired error bar (~1e-5); more steps reduced it roughly like
1 / steps, more width did not. The ring reader cut this bias by 3-10x: all r = 1..6 within 3
sigma of the exact values, but at p = 0.2 still systematically low by 1-3 sigma at 4000 steps
(-1 % of the CMI at r = 1 to -30 % at r = 6, where the CMI is 7e-5 nats) and by 0.8-2.3 sigma
at 8000 steps (-22 % at r = 6), the study's budget now. Treat deviations of a few 1e-5 nats as
the resolution of a CPU-sized budget.

**The null** (``null_correction=True``). The far predictor has weights the shell predictor
lacks, and their held-out excess loss biases the difference by an amount of the order of the
error bar or more (a few 1e-5 nats on the clean 2D Ising model at the study's budget, resolved
at up to 8 sigma by five replicates, ``analysis/ising_markov``). For each r the estimator then
trains the same two predictors, with the same budget, on data whose far region (offsets
beyond r) comes from a fixed partner sample: ``I(A : C' | B) = 0`` exactly, so what that run
measures is the bias alone, and it is subtracted per held-out sample (paired bootstrap). The
partner must be fixed per sample, as the real far region is: redrawn at every step, it acts as
a regulariser the real run does not have and misses the over-fitting (tested). The corrected
value is no longer a lower bound; its error combines both runs' (about sqrt(2) times the
uncorrected one where the CMI is ~0, nearly unchanged where the CMI dominates: on the noisy
chain the null's errors were 2-4e-6 nats against 1e-5 to 2e-4). Measured on the clean
2D Ising model (5 replicates, ``analysis/ising_markov/out/null``): the null reproduces the
bias (-7.8e-5 against -7.3e-5 nats at T = 3.5) and the corrected values pass |I| < 3 sigma at
T = 1.5, 2.269 and 3.5, but lean positive by about 1e-5 nats. Ignoring pure-noise inputs costs
the null a little more than ignoring redundant ones costs the real run, so the uncorrected and
the corrected values bracket the truth. ``details["null"]["shell_retrained"]`` compares the
shell predictor of the two runs (one predictor trained twice), a direct look at the training
spread that the bootstrap error leaves out.

**Examples and errors.** On a translation-invariant lattice every site (block origin) of every
sample is an example. The last ``test_fraction`` of the samples is held out for the estimate;
with ``early_stopping`` (default) the last 10 % of the remaining samples are a validation split
on which every predictor is checked 10 times during training, and each predictor is its
snapshot with the lowest validation loss (measured: i.i.d. 32 x 32 spins, 300 training
samples, R = 8: without it the far predictor over-fitted its ~9000 ring weights and the "CMI"
came out at -0.029 nats). both
cross-entropies are evaluated on the *same* held-out sites, and the CMI is the mean of the
paired per-sample differences. Sites within a sample are correlated, so the standard error is a
bootstrap over whole held-out samples (contiguous groups of them, ``n_groups``). It covers the
evaluation noise only, not the spread between training runs (``details["train_seed_note"]``);
compare with a second seed when that matters. Values are never clipped: a CMI that is 0 comes
out as ``0 +- stderr``, negative half of the time.

The **denoiser gap** (:func:`denoiser_gap`) is the same construction with the clean ``x_0A`` as
target and the noisy window as input: ``Delta(r, t) = CE_r(t) - CE_global(t)``
``= I(x_0A : x_tC | x_tB)`` for the Bayes-optimal denoisers, from two trained denoisers of
:mod:`latticediff.nn` evaluated on the same noisy held-out samples.

>>> import numpy as np
>>> from latticediff.exact.noisy_chain import sample_noisy_chain
>>> _, y = sample_noisy_chain(1.0, 0.2, n=100, N=32, rng=0)
>>> e = neural_cmi(y, radius=1, far_radius=4, steps=20, hidden=8, seed=0)
>>> e.method, e.details["sites"]["B"], e.details["sites"]["far"]
('neural', 2, 8)
>>> abs(e.value - (e.details["H_A_given_B"] - e.details["H_A_given_BC"])) < 1e-12
True
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..lattice import shell_offsets
from ._schedule import warmup_cosine
from .result import CMIEstimate

__all__ = [
    "neural_cmi",
    "neural_cmi_profile",
    "null_parts",
    "denoiser_gap",
    "neural_cmi_from_denoisers",
    "MaskedWindowPredictor",
    "ShellRecurrentPredictor",
    "window_offsets",
    "ARCHITECTURES",
]

ARCHITECTURES = ("rings", "mlp")
MAX_CLASSES = 4096  # joint values of A a softmax predicts
_EVAL_FLOATS = 1 << 22  # window entries held at once during evaluation
_VAL_SITES = 1 << 18  # most validation sites used for early stopping
_N_CHECKS = 10  # validation checks per training run


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


# ---------------------------------------------------------------------------------------------
# geometry


def window_offsets(
    ndim: int, far_radius: int, *, block: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets of A and of the window around it, ordered by L-infinity distance to A.

    Returns ``(offA, offW, dist)``: A's ``block^ndim`` offsets, the window offsets
    ``0 < d <= far_radius`` sorted by distance ``d`` (stable, lexicographic within a shell), and
    their distances. The shell of radius r is then the first ``(dist <= r).sum()`` offsets.

    >>> offA, offW, dist = window_offsets(1, 2)
    >>> offA.ravel().tolist(), offW.ravel().tolist(), dist.tolist()
    ([0], [-1, 1, -2, 2], [1, 1, 2, 2])
    """
    offA, offB, _ = shell_offsets(ndim, far_radius, block=block)
    d = np.max(np.where(offB < 0, -offB, np.maximum(offB - (block - 1), 0)), axis=1)
    order = np.argsort(d, kind="stable")
    return offA, offB[order], d[order]


def _neighbour_index(shape, offsets: np.ndarray, periodic: bool, R: int, block: int):
    """Flat indices ``idx[v, w]`` of site ``centre_v + offsets[w]``, and the centres used.

    Periodic: every site is a centre (indices wrap). Open: only centres whose whole window
    (radius R around the block) lies inside the lattice.
    """
    shape = tuple(int(s) for s in shape)
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    centres = np.stack([g.ravel() for g in grids], axis=1)  # (V, d)
    if not periodic:
        lo, hi = R, np.array(shape) - (R + block - 1)
        ok = np.all((centres >= lo) & (centres < hi), axis=1)
        centres = centres[ok]
    pts = centres[:, None, :] + offsets[None, :, :]  # (V, W, d)
    if periodic:
        pts = pts % np.array(shape)
    flat = np.ravel_multi_index(tuple(np.moveaxis(pts, -1, 0)), shape)
    return flat.astype(np.int64), centres


# ---------------------------------------------------------------------------------------------
# data layout


def _layout(samples, channel_axis, who: str):
    """(codes (n, C, V_all) int64 in [0, q), q, spatial shape, values) from discrete samples."""
    samples = np.asarray(samples)
    if samples.dtype.kind not in "biu":
        raise ParameterError(
            f"{who}: samples must be an integer or bool array (discrete data), got {samples.dtype}"
        )
    if channel_axis is None:
        channel_axis = samples.ndim == 4
    if not isinstance(channel_axis, bool | np.bool_):
        raise ParameterError(
            f"{who}: channel_axis must be None, True or False, got {channel_axis!r}"
        )
    spatial_ndim = samples.ndim - 1 - int(channel_axis)
    if not 1 <= spatial_ndim <= 3:
        raise ParameterError(
            f"{who}: samples must be (n, *shape) with 1-3 lattice axes (plus a channel axis if "
            f"channel_axis=True), got shape {samples.shape}"
        )
    if not channel_axis:
        samples = samples[:, None]
    values, codes = np.unique(samples, return_inverse=True)
    codes = codes.reshape(samples.shape).astype(np.int64)
    q = max(2, len(values))
    n, C = samples.shape[:2]
    shape = samples.shape[2:]
    return codes.reshape(n, C, -1), q, shape, values


def _encode(codes: np.ndarray, q: int) -> torch.Tensor:
    """Network features per site, (n, V, F): +-1 per channel for q = 2, else one-hot."""
    n, C, V = codes.shape
    if q == 2:
        f = (2.0 * codes - 1.0).astype(np.float32)  # (n, C, V)
    else:
        f = (codes[:, :, None, :] == np.arange(q)[None, None, :, None]).astype(np.float32)
        f = f.reshape(n, C * q, V)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(f, 1, 2)))


# ---------------------------------------------------------------------------------------------
# the predictor


class MaskedWindowPredictor(nn.Module):
    """Predictors of x_A from the window around A, one per visibility mask, sharing a trunk.

    Input: windows ``(K, m, W, F)``: for each of the ``K`` masks, ``m`` windows of ``W`` offsets
    ordered by distance (:func:`window_offsets`) with ``F`` features per site. Mask ``k`` reads
    the first ``visible[k]`` offsets of its windows; the other offsets are replaced by exact
    zeros (``torch.where``, so their values cannot leak). Each mask has its own first layer
    (``W F -> hidden``); then a shared MLP (``depth - 1`` more layers of width ``hidden``,
    SiLU) gives logits over ``n_classes`` joint values of A. A is not in the window, so no
    mask can see it.

    >>> net = MaskedWindowPredictor(4, 1, 2, visible=[2, 4], hidden=8, seed=0)
    >>> net(torch.ones(2, 3, 4, 1)).shape
    torch.Size([2, 3, 2])
    """

    def __init__(
        self,
        n_offsets: int,
        n_features: int,
        n_classes: int,
        *,
        visible,
        hidden: int = 64,
        depth: int = 3,
        seed: int | None = None,
    ):
        super().__init__()
        visible = [int(v) for v in visible]
        if not visible or any(not 0 <= v <= n_offsets for v in visible):
            raise ParameterError(
                f"MaskedWindowPredictor: visible counts must lie in [0, {n_offsets}], got {visible}"
            )
        for name, v, lo in (("hidden", hidden, 1), ("depth", depth, 1)):
            if not _is_int(v) or v < lo:
                raise ParameterError(
                    f"MaskedWindowPredictor: {name} must be an integer >= {lo}, got {v!r}"
                )
        self.n_offsets, self.n_features, self.n_classes = n_offsets, n_features, n_classes
        keep = torch.arange(n_offsets)[None, :] < torch.tensor(visible)[:, None]
        self.register_buffer("keep", keep[:, None, :, None])  # (K, 1, W, 1) bool
        self.visible = tuple(visible)
        self.n_masks = len(visible)
        K, n_in = len(visible), max(n_offsets * n_features, 1)

        def build():
            bound = 1.0 / math.sqrt(n_in)  # nn.Linear's default initialisation, per mask
            self.in_weight = nn.Parameter(torch.empty(K, n_in, hidden).uniform_(-bound, bound))
            self.in_bias = nn.Parameter(torch.empty(K, 1, hidden).uniform_(-bound, bound))
            self.body = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
            self.head = nn.Linear(hidden, n_classes)

        if seed is None:
            build()
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                build()

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(K, m, n_classes)`` for windows ``(K, m, W, F)`` (see the class docstring)."""
        K = self.keep.shape[0]
        if windows.ndim != 4 or windows.shape[0] != K or windows.shape[2] != self.n_offsets:
            raise ParameterError(
                f"MaskedWindowPredictor: windows must be (K={K}, m, W={self.n_offsets}, F), got "
                f"{tuple(windows.shape)}"
            )
        zero = torch.zeros((), dtype=windows.dtype, device=windows.device)
        x = torch.where(self.keep, windows, zero)  # unseen offsets become exact zeros
        m = windows.shape[1]
        if self.n_offsets == 0:
            x = torch.zeros(K, m, 1, dtype=windows.dtype, device=windows.device)
        h = torch.baddbmm(self.in_bias, x.reshape(K, m, -1), self.in_weight)
        return self._trunk(F.silu(h))

    def mask_logits(self, k: int, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(M, n_classes)`` of mask ``k`` alone for windows ``(M, W, F)``.

        Same arithmetic as :meth:`forward` for that mask (tested), without computing the
        others.
        """
        zero = torch.zeros((), dtype=windows.dtype, device=windows.device)
        x = torch.where(self.keep[k], windows, zero)
        if self.n_offsets == 0:
            x = torch.zeros(windows.shape[0], 1, dtype=windows.dtype, device=windows.device)
        h = torch.addmm(self.in_bias[k], x.reshape(x.shape[0], -1), self.in_weight[k])
        return self._trunk(F.silu(h))

    @property
    def n_visible(self) -> tuple[int, ...]:
        """Offsets each mask reads: a prefix of the window (offsets are ordered by distance)."""
        return self.visible

    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        for lin in self.body:
            h = F.silu(lin(h))
        return self.head(h)


class ShellRecurrentPredictor(nn.Module):
    """Predictors of x_A that read the window ring by ring, from the outside in.

    The window offsets are grouped into rings ``d = 1..R`` (``ring_sizes[d-1]`` offsets each,
    ordered as :func:`window_offsets` orders them). A state ``h`` starts at a learned ``h0``
    beyond ring R and is updated at each ring, ``h <- tanh(U_d x_d + V h + b_d)``; logits come
    from an MLP on the state after ring 1. Mask ``k`` (radius ``r_k``) holds the state at
    ``h0`` until it reaches ring ``r_k``, so it reads rings ``1..r_k`` alone (exactly: the held
    state is a copy of ``h0``). This is message passing from the far region inwards, the form
    of the exact posterior of a hidden Markov chain, and mask r and the far mask share every
    update they have in common.

    ``summed_beyond = s`` (optional, >= every radius but the largest): rings ``d > s`` enter
    through their mean per feature, ``U_d`` mapping F numbers instead of ``ring_sizes[d-1] F``.
    The far predictor then sees the shell and a summary of the far region: a lower bound on its
    information by data processing, with far fewer weights (a global mode such as the
    magnetisation below Tc is carried by ring means).

    ``far_pool="all"`` (with ``summed_beyond = s < R``; the largest radius must be R) pools
    every ring beyond s into one number per feature, their sum over sqrt(number of offsets),
    read by a single update before ring s. A global mode then costs one weight per hidden unit
    and no recurrence through the far rings: with per-ring means a weak magnetisation must be
    relayed through R - s tanh steps, each with its own weights, and at late noise times the
    training no longer finds it (``analysis/ising_markov``, below Tc).

    >>> net = ShellRecurrentPredictor([2, 2], 1, 2, radii=[1, 2], hidden=8, seed=0)
    >>> net(torch.ones(2, 3, 4, 1)).shape
    torch.Size([2, 3, 2])
    """

    def __init__(
        self,
        ring_sizes,
        n_features: int,
        n_classes: int,
        *,
        radii,
        hidden: int = 64,
        depth: int = 2,
        seed: int | None = None,
        summed_beyond: int | None = None,
        far_pool: str = "rings",
    ):
        super().__init__()
        ring_sizes = [int(v) for v in ring_sizes]
        R = len(ring_sizes)
        radii = [int(r) for r in radii]
        if not radii or any(not 0 <= r <= R for r in radii):
            raise ParameterError(
                f"ShellRecurrentPredictor: radii must lie in [0, {R}], got {radii}"
            )
        inner = sorted(radii)[:-1]  # every mask but the far one reads its rings in full
        if summed_beyond is not None and (
            not _is_int(summed_beyond) or not max(inner, default=0) <= summed_beyond <= R
        ):
            raise ParameterError(
                f"ShellRecurrentPredictor: summed_beyond must be None or an integer in "
                f"[{max(inner, default=0)}, {R}] (no mask but the far one may read a summed "
                f"ring), got {summed_beyond!r}"
            )
        self.summed_beyond = R if summed_beyond is None else int(summed_beyond)
        if far_pool not in ("rings", "all"):
            raise ParameterError(
                f"ShellRecurrentPredictor: far_pool must be 'rings' or 'all', got {far_pool!r}"
            )
        self.far_pool = far_pool
        self._pooled = far_pool == "all" and self.summed_beyond < R
        if self._pooled and max(radii) != R:
            raise ParameterError(
                f"ShellRecurrentPredictor: far_pool='all' pools rings {self.summed_beyond + 1}.."
                f"{R} for the far mask, so the largest radius must be R = {R}, got {max(radii)}"
            )
        for name, v, lo in (("hidden", hidden, 1), ("depth", depth, 1)):
            if not _is_int(v) or v < lo:
                raise ParameterError(
                    f"ShellRecurrentPredictor: {name} must be an integer >= {lo}, got {v!r}"
                )
        self.ring_sizes, self.radii = tuple(ring_sizes), tuple(radii)
        self.n_offsets, self.n_features, self.n_classes = sum(ring_sizes), n_features, n_classes
        self.bounds = np.concatenate([[0], np.cumsum(ring_sizes)]).tolist()
        ascending = all(a <= b for a, b in zip(radii, radii[1:], strict=False))
        self._order = None if ascending else torch.argsort(torch.tensor(radii), stable=True)

        def build():
            self.h0 = nn.Parameter(torch.zeros(hidden))
            self.U = nn.ModuleList(
                nn.Linear((n if d <= self.summed_beyond else 1) * n_features, hidden)
                for d, n in enumerate(ring_sizes[: self.summed_beyond if self._pooled else R], 1)
            )
            self.V = nn.Linear(hidden, hidden, bias=False)
            self.body = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
            self.head = nn.Linear(hidden, n_classes)
            if self._pooled:  # built last: the default layout (and its seeding) is unchanged
                self.U_pool = nn.Linear(n_features, hidden)

        if seed is None:
            build()
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                build()

    def _run(self, x: torch.Tensor, first: list[int]) -> torch.Tensor:
        """Logits for rows ``x`` (M, W, F) whose radii are non-decreasing down the rows.

        ``first[d]`` is the first row that reads ring ``d`` (those with radius >= d form a
        suffix of the rows). Only those rows are updated at ring d, so a mask of small radius
        costs only its own rings; rows that have not reached their radius yet hold ``h0``.
        """
        M = x.shape[0]
        h, a_prev = None, M
        top = len(self.ring_sizes)
        if self._pooled:  # rows reading beyond s are the far mask's: one pooled update
            s = self.summed_beyond
            a = first[s + 1]
            if a < M:
                lo, hi = self.bounds[s], self.bounds[top]
                xp = x[a:, lo:hi].sum(dim=1) / math.sqrt(hi - lo)
                h = torch.tanh(self.U_pool(xp) + self.V(self.h0.expand(M - a, -1)))
                a_prev = a
            top = s
        for d in range(top, 0, -1):
            a = first[d]
            if a >= M:
                continue
            if h is None:
                h = self.h0.expand(M - a, -1)
            elif a < a_prev:  # masks of radius d start here, from h0
                h = torch.cat([self.h0.expand(a_prev - a, -1), h])
            xd = x[a:, self.bounds[d - 1] : self.bounds[d]]
            xd = xd.mean(dim=1) if d > self.summed_beyond else xd.reshape(M - a, -1)
            h = torch.tanh(self.U[d - 1](xd) + self.V(h))
            a_prev = a
        if h is None:
            h = self.h0.expand(M, -1)
        elif a_prev > 0:  # radius-0 masks read nothing
            h = torch.cat([self.h0.expand(a_prev, -1), h])
        for lin in self.body:
            h = F.silu(lin(h))
        return self.head(h)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(K, m, n_classes)`` for windows ``(K, m, W, F)``, mask k on slice k."""
        K, m = windows.shape[:2]
        order = self._order
        if order is not None:  # radii not ascending: run the masks in ascending order
            order = order.to(windows.device)
            windows = windows[order]
        rs = sorted(self.radii)
        first = [0] + [m * sum(r < d for r in rs) for d in range(1, len(self.ring_sizes) + 1)]
        out = self._run(windows.reshape(K * m, *windows.shape[2:]), first).view(K, m, -1)
        return out if order is None else out[torch.argsort(order)]

    def mask_logits(self, k: int, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``(M, n_classes)`` of mask ``k`` alone for windows ``(M, W, F)``."""
        M, r = windows.shape[0], self.radii[k]
        first = [0] + [0 if r >= d else M for d in range(1, len(self.ring_sizes) + 1)]
        return self._run(windows, first)

    @property
    def n_visible(self) -> tuple[int, ...]:
        """Offsets each mask reads: a prefix of the window (offsets are ordered by ring)."""
        return tuple(self.bounds[r] for r in self.radii)

    @property
    def n_masks(self) -> int:
        return len(self.radii)


# ---------------------------------------------------------------------------------------------
# helpers shared with the denoiser gap


def _groups(n: int, n_groups) -> tuple[np.ndarray, int]:
    if n_groups is None:
        n_groups = min(n, 1000)
    if not _is_int(n_groups) or not 2 <= n_groups <= n:
        raise ParameterError(f"n_groups must be an integer in [2, {n}], got {n_groups!r}")
    return (np.arange(n) * int(n_groups)) // n, int(n_groups)


def _paired_bootstrap(diff: np.ndarray, weights: np.ndarray, n_groups, n_boot: int, seed: int):
    """Mean of per-sample differences (weighted by sites) and its block-bootstrap stderr.

    Resampling unit: contiguous groups of whole samples (sites within a sample are correlated).
    """
    g, G = _groups(diff.shape[-1], n_groups)
    num = np.stack([np.bincount(g, weights=d * weights, minlength=G) for d in np.atleast_2d(diff)])
    den = np.bincount(g, weights=weights, minlength=G)
    rng = np.random.default_rng([int(seed), 0xB007])
    W = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)
    boot = (W @ num.T) / (W @ den)[:, None]  # (n_boot, rows)
    value = num.sum(axis=1) / den.sum()
    stderr = boot.std(axis=0, ddof=1)
    # plain standard error of the mean over groups, for comparison
    per_group = num / np.where(den > 0, den, 1.0)
    naive = per_group.std(axis=1, ddof=1) / math.sqrt(G)
    return value, stderr, naive, G


def _check_common(who, *, hidden, depth, steps, batch_sites, lr, test_fraction, n_boot, seed):
    for name, v, lo in (
        ("hidden", hidden, 1),
        ("depth", depth, 1),
        ("steps", steps, 1),
        ("batch_sites", batch_sites, 2),
        ("n_boot", n_boot, 2),
        ("seed", seed, 0),
    ):
        if not _is_int(v) or v < lo:
            raise ParameterError(f"{who}: {name} must be an integer >= {lo}, got {v!r}")
    if (
        isinstance(lr, bool)
        or not isinstance(lr, int | float)
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise ParameterError(f"{who}: lr must be a finite number > 0, got {lr!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float):
        raise ParameterError(
            f"{who}: test_fraction must be a number in (0, 1), got {test_fraction!r}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"{who}: test_fraction must be in (0, 1), got {test_fraction}")


# ---------------------------------------------------------------------------------------------
# the estimator


def neural_cmi_profile(
    samples,
    *,
    radii,
    far_radius: int | None = None,
    block: int = 1,
    periodic: bool = True,
    channel_axis: bool | None = None,
    hidden: int = 32,
    depth: int = 2,
    steps: int = 2000,
    batch_sites: int = 8192,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    shared: bool = True,
    architecture: str = "rings",
    ring_sums_beyond: int | None = None,
    far_pool: str = "rings",
    null_correction: bool = False,
    early_stopping: bool = True,
    test_fraction: float = 0.25,
    n_groups: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> list[CMIEstimate]:
    """Neural ``I(A : C_R | B_r)`` for several shell radii r at once (module docstring).

    Parameters
    ----------
    samples : integer array
        ``(n, N)`` chains, ``(n, L, L)`` lattices, ``(n, L, L, L)`` with ``channel_axis=False``,
        or channels-first ``(n, C, L, L)`` (the default reading of 4-D input; a site's channels
        form one symbol, e.g. the loop gas' two edges). Any small alphabet (values relabelled;
        two values enter the network as +-1, more as one-hot). Samples should be independent;
        the last ``test_fraction`` of them is held out.
    radii : sequence of int >= 0
        Shell radii r; ``r = 0`` is the empty shell (``H(A|B) = H(A)``).
    far_radius : int > max(radii)
        Window of the far predictor (module docstring); default ``max(radii) + 6``, capped at
        ``min(shape) - block`` (larger windows would wrap onto A).
    block : side of A (a ``block^d`` cube; joint values of A are the classes, at most 4096).
    periodic : True (every site is a centre, windows wrap) or False (only centres whose whole
        far window lies inside).
    architecture : ``"rings"`` (default) or ``"mlp"`` (module docstring).
    ring_sums_beyond : None, or an integer s in [max(radii), far_radius] (``"rings"`` only):
        the far predictor reads rings beyond s through their mean per feature
        (:class:`ShellRecurrentPredictor` ``summed_beyond``). The estimate is then
        ``I(A : f(C) | B)`` with f = full rings up to s and ring means beyond, a lower bound on
        ``I(A : C | B)``; use it when the far window has far more sites than the samples can
        train weights for.
    far_pool : ``"rings"`` (default: one mean per ring beyond ``ring_sums_beyond``) or
        ``"all"`` (every ring beyond it pooled into one sum over sqrt(sites) per feature, read
        in one step; a tighter-budget lower bound for a global mode such as the
        magnetisation, :class:`ShellRecurrentPredictor`). ``"all"`` needs ``ring_sums_beyond``.
    null_correction : also train, for each r, the same predictors on data whose far region
        (offsets beyond the shell of radius r) is taken from another, independent sample, and
        subtract their CMI, which is 0 exactly, from the estimate (module docstring: the
        null). Costs about ``len(radii)`` more training runs of two predictors each.
    hidden, depth : width of the layers; ``depth`` layers from the window (or ring state) to
        the logits: for ``"rings"`` the recurrence plus ``depth - 1`` MLP layers, for ``"mlp"``
        the per-mask first layer plus ``depth - 1`` shared layers.
    steps, batch_sites, lr, weight_decay : AdamW steps on batches of ``batch_sites`` random
        (sample, site) examples, each mask getting ``batch_sites // n_masks`` of them;
        learning rate with a 5 % linear warm-up and cosine decay to 0.
    shared : one network for all masks (default) or one network per mask (same budget each).
    early_stopping : hold out the last 10 % of the training samples (at most 2^18 sites) and
        evaluate each predictor on them 10 times during training; each predictor is the
        snapshot with its lowest validation cross-entropy. Guards against over-fitting when
        data are few (a far window has many more weights than a small shell).
    device : "cpu" (default) or "cuda"; the data go to the device once.
    progress : show a tqdm progress bar.
    n_groups, n_boot : bootstrap over ``n_groups`` contiguous groups of held-out samples
        (default one per sample, at most 1000), ``n_boot`` replicates.
    seed : the run's randomness (initialisation, batches, bootstrap).

    Returns one :class:`CMIEstimate` per radius (same order), ``method="neural"``, with
    ``details`` holding both held-out entropies (``H_A_given_B``, ``H_A_given_BC``), their
    standard errors, the training loss at the end, the geometry and the budget; with
    ``null_correction``, ``details["null"]`` holds the null run's CMI and entropies and the
    uncorrected estimate, and ``value`` is the corrected one. The estimates
    share the far predictor and the held-out sites, so their errors are correlated across r.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 3, size=(40, 8, 8))   # 2D, three values
    >>> es = neural_cmi_profile(x, radii=[0, 1], far_radius=2, steps=5, hidden=8)
    >>> [(e.radius, e.details["sites"]["B"], e.details["sites"]["far"]) for e in es]
    [(0, 0, 24), (1, 8, 24)]
    >>> es[0].details["n_classes"], es[0].details["n_test_sites"]
    (3, 640)
    """
    who = "neural_cmi"
    _check_common(
        who,
        hidden=hidden,
        depth=depth,
        steps=steps,
        batch_sites=batch_sites,
        lr=lr,
        test_fraction=test_fraction,
        n_boot=n_boot,
        seed=seed,
    )
    try:
        radii = [int(r) if _is_int(r) else r for r in radii]
    except TypeError:
        raise ParameterError(
            f"{who}: radii must be a sequence of integers, got {radii!r}"
        ) from None
    if not radii or any(not _is_int(r) or r < 0 for r in radii):
        raise ParameterError(f"{who}: radii must be non-empty integers >= 0, got {radii!r}")
    if len(set(radii)) != len(radii):
        raise ParameterError(f"{who}: radii must be distinct, got {radii}")
    if not _is_int(block) or block < 1:
        raise ParameterError(f"{who}: block must be an integer >= 1, got {block!r}")
    if not isinstance(periodic, bool | np.bool_):
        raise ParameterError(f"{who}: periodic must be True or False, got {periodic!r}")
    if not isinstance(weight_decay, int | float) or not weight_decay >= 0:
        raise ParameterError(f"{who}: weight_decay must be a number >= 0, got {weight_decay!r}")
    if architecture not in ARCHITECTURES:
        raise ParameterError(
            f"{who}: architecture must be one of {ARCHITECTURES}, got {architecture!r}"
        )
    if ring_sums_beyond is not None and architecture != "rings":
        raise ParameterError(
            f"{who}: ring_sums_beyond needs architecture='rings', got {architecture!r}"
        )
    if far_pool not in ("rings", "all"):
        raise ParameterError(f"{who}: far_pool must be 'rings' or 'all', got {far_pool!r}")
    if far_pool == "all" and ring_sums_beyond is None:
        raise ParameterError(f"{who}: far_pool='all' pools the rings beyond ring_sums_beyond; "
                             "set ring_sums_beyond (an integer), got None")  # fmt: skip
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ParameterError(f"{who}: device must be 'cpu', 'cuda' or 'cuda:<i>', got {device!r}")
    if not isinstance(null_correction, bool | np.bool_):
        raise ParameterError(
            f"{who}: null_correction must be True or False, got {null_correction!r}"
        )

    codes, q, shape, values = _layout(samples, channel_axis, who)
    n, C, _ = codes.shape
    d = len(shape)
    r_max = max(radii)
    cap = min(shape) - block if periodic else (min(shape) - block) // 2
    if far_radius is None:
        far_radius = min(r_max + 6, cap)
    if not _is_int(far_radius) or not r_max < far_radius <= cap:
        raise ParameterError(
            f"{who}: far_radius must be an integer in ({r_max}, {cap}] (above max(radii); at "
            f"most min(shape) - block{'' if periodic else ', halved for open boundaries'} for "
            f"shape {tuple(shape)}), got {far_radius!r}"
        )
    far_radius = int(far_radius)
    if ring_sums_beyond is not None and (
        not _is_int(ring_sums_beyond) or not r_max <= ring_sums_beyond <= far_radius
    ):
        raise ParameterError(
            f"{who}: ring_sums_beyond must be None or an integer in [max(radii) = {r_max}, "
            f"far_radius = {far_radius}], got {ring_sums_beyond!r}"
        )
    offA, offW, dist = window_offsets(d, far_radius, block=block)
    nA = len(offA) * C
    n_classes = q**nA
    if n_classes > MAX_CLASSES:
        raise ParameterError(
            f"{who}: A has {q}^{nA} = {n_classes} joint values; at most {MAX_CLASSES} are "
            "predicted (reduce block)"
        )
    n_test = max(1, int(round(test_fraction * n)))
    n_train = n - n_test
    if n_train < 2 or n_test < 2:
        raise ParameterError(
            f"{who}: need >= 2 training and >= 2 held-out samples, got n = {n} with "
            f"test_fraction = {test_fraction}"
        )
    idxW, centres = _neighbour_index(shape, offW, bool(periodic), far_radius, block)
    idxA, _ = _neighbour_index(shape, offA, bool(periodic), far_radius, block)
    V = idxW.shape[0]
    if V == 0:
        raise ParameterError(
            f"{who}: no site of a lattice of shape {tuple(shape)} has its whole window of "
            f"radius {far_radius} inside (open boundaries); reduce far_radius"
        )
    radii_all = [*radii, far_radius]
    visible = [int((dist <= r).sum()) for r in radii_all]
    K = len(radii_all)
    dev = torch.device(device)

    feats = _encode(codes, q).to(dev)  # (n, V_all, F)
    if dev.type == "cpu":
        # features are +-1 or 0/1: int8 storage quarters the memory the window gather touches
        # (random access over all samples; the gather writes float32)
        feats = feats.to(torch.int8)
    Fdim = feats.shape[2]
    # joint class of A: sum over (site, channel) of code * q^j
    target_all = np.zeros((n, V), dtype=np.int64)
    for j, (a, c) in enumerate((a, c) for a in range(len(offA)) for c in range(C)):
        target_all += codes[:, c, :][:, idxA[:, a]] * (q**j)
    target_all = torch.from_numpy(target_all).to(dev)
    idxW_t = torch.from_numpy(idxW).to(dev)

    groups = [list(range(K))] if shared else [[k] for k in range(K)]
    per_mask = max(1, batch_sites // K) if shared else batch_sites
    nets, losses_end = [None] * K, [math.nan] * K
    best_steps, val_history = [steps] * K, [[] for _ in range(K)]
    # early stopping: a validation split taken from the end of the training samples, at most
    # _VAL_SITES sites (the test split is never looked at before the final evaluation)
    if early_stopping:
        n_val = min(max(2, int(round(0.1 * n_train))), max(2, _VAL_SITES // V))
        if n_train - n_val < 2:
            raise ParameterError(
                f"{who}: early_stopping needs >= 2 fitting and >= 2 validation samples, got "
                f"{n_train} training samples; pass early_stopping=False or more samples"
            )
        n_fit = n_train - n_val
        val_ids = np.arange(n_fit, n_train)
    else:
        n_fit, val_ids = n_train, None
    ring_sizes = [int((dist == dd).sum()) for dd in range(1, far_radius + 1)]

    def make_net(ks, net_seed):
        if architecture == "mlp":
            return MaskedWindowPredictor(
                len(offW),
                Fdim,
                n_classes,
                visible=[visible[k] for k in ks],
                hidden=hidden,
                depth=depth,
                seed=net_seed,
            ).to(dev)
        return ShellRecurrentPredictor(
            ring_sizes,
            Fdim,
            n_classes,
            radii=[radii_all[k] for k in ks],
            hidden=hidden,
            depth=depth,
            seed=net_seed,
            summed_beyond=ring_sums_beyond,
            far_pool=far_pool if K - 1 in ks else "rings",  # shared=False: the far net pools
        ).to(dev)

    data = (feats, target_all, idxW_t)
    t_start = time.perf_counter()
    for gi, ks in enumerate(groups):
        net = make_net(ks, int(seed) * 1009 + gi)
        tail, snaps, bsteps, hist = _train(
            net, data, n_fit, val_ids, per_mask, steps, lr, weight_decay, (seed, gi), progress
        )
        for j, k in enumerate(ks):
            nets[k] = (net, j) if snaps is None else (snaps[j], j)
            losses_end[k] = tail[j]
            best_steps[k] = bsteps[j]
            val_history[k] = [(h["step"], h["val_ce"][j]) for h in hist]
    train_s = time.perf_counter() - t_start

    # held-out per-sample cross-entropies, (K, n_test); train-set CE on a subset for the gap
    test_ids = np.arange(n_train, n)
    ce_test = _evaluate(nets, data, test_ids)
    sub = np.unique(np.linspace(0, n_fit - 1, min(n_test, n_fit, 500)).astype(np.int64))
    ce_train = _evaluate(nets, data, sub).mean(axis=1)
    diff = ce_test[: K - 1] - ce_test[K - 1][None, :]
    if null_correction:
        # the null: for each r, the same predictors (same per-mask budget) with the far region
        # beyond the shell from another sample, so I(A : C' | B) = 0 exactly; what they measure
        # is the estimator's own bias at this budget, subtracted below
        null_ce, null_best = np.empty((2, K - 1, n_test)), []
        for i in range(K - 1):
            ks = [i, K - 1] if shared else [K - 1]
            net = make_net(ks, int(seed) * 1009 + 500 + i)
            swaps = [None] * (len(ks) - 1) + [visible[i]]
            _, snaps, bsteps, _ = _train(
                net, data, n_fit, val_ids, per_mask, steps, lr, weight_decay,
                (seed, 500 + i), progress, swaps,
            )  # fmt: skip
            pair = [(net if snaps is None else snaps[j], j) for j in range(len(ks))]
            ce = _evaluate(pair, data, test_ids, swaps)
            null_ce[0, i] = ce[0] if shared else ce_test[i]
            null_ce[1, i] = ce[-1]
            null_best.append([int(b) for b in bsteps])
        null_diff = null_ce[0] - null_ce[1]
        # last rows: the shell predictor of the null run minus the main one, the same
        # predictor trained twice (shared=True): a direct look at the training spread
        diff = np.concatenate([diff, null_diff, diff - null_diff, null_ce[0] - ce_test[: K - 1]])
    wall = time.perf_counter() - t_start

    w = np.ones(n_test)
    vals, ses, naive, G = _paired_bootstrap(diff, w, n_groups, n_boot, seed)
    hv, hse, _, _ = _paired_bootstrap(ce_test, w, n_groups, n_boot, seed + 1)
    if null_correction:
        nh, nhse, _, _ = _paired_bootstrap(
            null_ce.reshape(-1, n_test), w, n_groups, n_boot, seed + 2
        )
    out = []
    for i, r in enumerate(radii):
        details = {
            "estimator": "held-out cross-entropy of masked window predictors (paired)",
            "H_A_given_B": float(hv[i]),
            "H_A_given_B_stderr": float(hse[i]),
            "H_A_given_BC": float(hv[K - 1]),
            "H_A_given_BC_stderr": float(hse[K - 1]),
            "train_cross_entropy": {"B": float(ce_train[i]), "BC": float(ce_train[K - 1])},
            "final_train_loss": {"B": losses_end[i], "BC": losses_end[K - 1]},
            "early_stopping": bool(early_stopping),
            "best_step": {"B": int(best_steps[i]), "BC": int(best_steps[K - 1])},
            "validation_ce": {"B": val_history[i], "BC": val_history[K - 1]},
            "far_radius": far_radius,
            "far_region": f"C = ring radius < d_inf <= far_radius = {far_radius}"
            + (
                ""
                if ring_sums_beyond is None
                else f"; rings beyond {ring_sums_beyond} read as "
                + ("means" if far_pool == "rings" else "one pooled sum")
                + " (a lower bound)"
            ),
            "ring_sums_beyond": ring_sums_beyond,
            "far_pool": far_pool,
            "sites": {"A": len(offA), "B": visible[i], "far": visible[K - 1]},
            "block": int(block),
            "periodic": bool(periodic),
            "alphabet": int(q),
            "channels": int(C),
            "n_classes": int(n_classes),
            "n_train_samples": int(n_train),
            "n_validation_samples": int(n_train - n_fit),
            "n_test_samples": int(n_test),
            "sites_per_sample": int(V),
            "n_test_sites": int(n_test * V),
            "stderr_method": (
                f"bootstrap over {G} contiguous groups of whole held-out samples, "
                f"{n_boot} replicates (paired differences)"
            ),
            "stderr_naive": float(naive[i]),
            "train_seed_note": "stderr is evaluation noise only; training-run spread not included",
            "budget": {
                "steps": int(steps),
                "sites_per_mask_per_step": int(per_mask),
                "lr": float(lr),
                "hidden": int(hidden),
                "depth": int(depth),
                "shared_network": bool(shared),
                "architecture": architecture,
                "n_params": int(sum(p.numel() for p in nets[i][0].parameters())),
            },
            "train_wall_s": train_s,
            "wall_s": wall,
            "seed": int(seed),
        }
        j = i
        if null_correction:
            j = 2 * (K - 1) + i  # the corrected row
            details["null"] = {
                "cmi": float(vals[K - 1 + i]),
                "cmi_stderr": float(ses[K - 1 + i]),
                "H_A_given_B": float(nh[i]),
                "H_A_given_B_stderr": float(nhse[i]),
                "H_A_given_BC": float(nh[K - 1 + i]),
                "H_A_given_BC_stderr": float(nhse[K - 1 + i]),
                "best_step": null_best[i],
                "uncorrected": float(vals[i]),
                "uncorrected_stderr": float(ses[i]),
                "far_region": f"offsets beyond radius {r} from a partner sample, n_test // 2 on",
                "value": "uncorrected - null (paired per held-out sample)",
                "shell_retrained": (
                    None
                    if not shared
                    else {
                        "difference": float(vals[3 * (K - 1) + i]),
                        "stderr": float(ses[3 * (K - 1) + i]),
                        "note": "held-out CE of the shell predictor of the null run minus the "
                        "main run's: one predictor trained twice. A difference well beyond its "
                        "stderr is training spread, which the CMI's stderr does not cover",
                    }
                ),
            }
            details["stderr_naive"] = float(naive[j])
        out.append(
            CMIEstimate(
                value=float(vals[j]),
                stderr=float(ses[j]),
                method="neural",
                radius=int(r),
                n_samples=int(n),
                details=details,
            )
        )
    return out


def _windows(data, s, v, count=None, partner=None):
    """Windows (M, W, F) and targets (M,) of sample ids s at centre indices v.

    ``count`` (CPU only, optional): row m needs only its first ``count[m]`` offsets (the
    offsets its mask reads); the rest of the row is left at 0 instead of gathered.
    ``partner = (s2, swap)`` (optional): offsets ``k >= swap[m]`` of row m are read from sample
    ``s2[m]`` (tensor, numpy array), the far region of the null (``null_correction``).
    """
    feats, target_all, idxW_t = data
    W = idxW_t.shape[1]
    if feats.device.type != "cpu":
        win = feats[s[:, None], idxW_t[v]]
        if partner is not None:
            s2, swap = partner
            k = torch.arange(W, device=feats.device)[None, :, None]
            swap = torch.as_tensor(swap, device=feats.device)[:, None, None]
            win = torch.where(k < swap, win, feats[s2[:, None], idxW_t[v]])
        return win, target_all[s, v]
    from ._gather import gather_windows_mixed

    sn, vn = s.numpy(), v.numpy()
    if count is None:
        count = np.full(sn.shape[0], W, dtype=np.int64)
    s2, swap = (sn, count) if partner is None else (partner[0].numpy(), partner[1])
    out = np.empty((sn.shape[0], W, feats.shape[2]), dtype=np.float32)
    gather_windows_mixed(feats.numpy(), sn, s2, idxW_t.numpy(), vn, swap, count, out)
    return torch.from_numpy(out), target_all[s, v]


def _train(net, data, n_fit, val_ids, per_mask, steps, lr, wd, seeds, progress, swaps=None):
    """Train ``net`` on samples ``[0, n_fit)``; per-mask early stopping on ``val_ids``.

    ``swaps`` (optional, one per mask, None for none): mask j reads offsets ``k >= swaps[j]``
    from a partner, sample ``(s + n_fit // 2) % n_fit`` for sample s. The partner is fixed, as
    the far region of the real run is: a partner drawn afresh for each row would be a
    regulariser the real run does not have, and its null would miss the over-fitting bias
    (measured: i.i.d. spins, no early stopping, raw CMI -0.083, fresh-partner null +0.0006).
    Half the set away, so that neighbours in a Monte Carlo chain are not paired.

    Returns (final-10 % training loss per mask, per-mask snapshots or None, best steps, the
    validation CE per mask at each check).
    """
    import copy

    from tqdm.auto import tqdm

    feats, _, idxW_t = data
    dev = feats.device
    K = net.n_masks
    V = idxW_t.shape[0]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)

    M = per_mask * K
    # row m belongs to mask m // per_mask and reads only that mask's offsets
    count = np.repeat(np.asarray(net.n_visible, dtype=np.int64), per_mask)
    W = idxW_t.shape[1]
    if swaps is not None:  # per training row; a mask without a swap reads all W offsets
        swap_rows = np.repeat(
            np.asarray([W if sw is None else sw for sw in swaps], dtype=np.int64), per_mask
        )
    n_tail = max(1, steps // 10)
    tail = torch.zeros(K, dtype=torch.float64, device=dev)
    check_every = max(1, steps // _N_CHECKS)
    best = np.full(K, np.inf)
    best_step = [steps] * K
    snaps = [None] * K
    history = []

    def check(step):
        net.eval()
        val = _evaluate([(net, j) for j in range(K)], data, val_ids, swaps).mean(axis=1)
        net.train()
        history.append({"step": step, "val_ce": val.tolist()})
        for j in range(K):
            if val[j] < best[j]:
                best[j], best_step[j] = val[j], step
                snaps[j] = copy.deepcopy(net).eval()

    net.train()
    bar = tqdm(total=steps, disable=not progress, desc="neural_cmi", leave=False)
    try:
        for step in range(steps):
            rng = np.random.default_rng([int(seeds[0]), 7919, int(seeds[1]), step])
            s = rng.integers(0, n_fit, size=M)
            v = rng.integers(0, V, size=M)
            s_t, v_t = torch.from_numpy(s).to(dev), torch.from_numpy(v).to(dev)
            partner = None
            if swaps is not None:
                s2 = (s + n_fit // 2) % n_fit
                partner = (torch.from_numpy(s2).to(dev), swap_rows)
            win, tgt = _windows(data, s_t, v_t, count, partner)
            logits = net(win.view(K, per_mask, *win.shape[1:]))
            ce = F.cross_entropy(logits.reshape(M, -1), tgt, reduction="none").view(K, per_mask)
            loss = ce.mean()
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(step, steps, lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step >= steps - n_tail:  # mean training loss per mask over the last 10 %
                tail += ce.detach().double().mean(dim=1)
            if val_ids is not None and ((step + 1) % check_every == 0 or step + 1 == steps):
                if not history or history[-1]["step"] != step + 1:
                    check(step + 1)
            bar.update(1)
    finally:
        bar.close()
    net.eval()
    return (
        (tail / n_tail).cpu().tolist(),
        (snaps if val_ids is not None else None),
        best_step,
        history,
    )


def _evaluate(nets, data, sample_ids, swaps=None) -> np.ndarray:
    """Per-sample mean cross-entropy (nats) of every mask, shape (K, len(sample_ids)).

    ``swaps`` (optional, one per entry of ``nets``, None for none): entry k reads offsets
    ``>= swaps[k]`` from the sample half-way along ``sample_ids`` (cyclically; see _train).
    """
    feats, _, idxW_t = data
    dev = feats.device
    K = len(nets)
    V, W = idxW_t.shape
    Fdim = feats.shape[2]
    sample_ids = np.asarray(sample_ids, dtype=np.int64)
    partners = np.roll(sample_ids, -(len(sample_ids) // 2))
    swaps = [None] * K if swaps is None else swaps
    chunk = max(1, _EVAL_FLOATS // max(1, V * W * Fdim))
    out = np.empty((K, len(sample_ids)))
    with torch.no_grad():
        for lo in range(0, len(sample_ids), chunk):
            ids = sample_ids[lo : lo + chunk]
            m = ids.shape[0]
            s = torch.from_numpy(np.repeat(ids, V)).to(dev)
            v = torch.arange(V, device=dev).repeat(m)
            win, tgt = _windows(data, s, v)
            mixed = {}  # swap -> windows whose offsets >= swap come from the partner
            for k, (net, j) in enumerate(nets):
                x, sw = win, swaps[k]
                if sw is not None:
                    if sw not in mixed:
                        s2 = torch.from_numpy(np.repeat(partners[lo : lo + m], V)).to(dev)
                        rows = np.full(len(s), sw, dtype=np.int64)
                        mixed[sw] = _windows(data, s, v, partner=(s2, rows))[0]
                    x = mixed[sw]
                ce = F.cross_entropy(net.mask_logits(j, x).double(), tgt, reduction="none")
                out[k, lo : lo + m] = ce.view(m, V).mean(dim=1).cpu().numpy()
    return out


def neural_cmi(samples, *, radius: int, **kwargs) -> CMIEstimate:
    """Neural ``I(A:C|B)`` at one shell radius: :func:`neural_cmi_profile` with ``radii=[radius]``.

    All options of :func:`neural_cmi_profile` apply (``far_radius``, ``steps``, ``hidden``, ...).
    This is what ``estimate_cmi(samples, radius=r, method="neural", ...)`` calls.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).integers(0, 2, size=(100, 16))
    >>> e = neural_cmi(x, radius=1, far_radius=3, steps=20, hidden=8)
    >>> e.radius, e.details["n_test_samples"]
    (1, 25)
    """
    if "radii" in kwargs:
        raise ParameterError("neural_cmi: pass radius=, not radii= (use neural_cmi_profile)")
    return neural_cmi_profile(samples, radii=[radius], **kwargs)[0]


def null_parts(estimates) -> dict[str, list]:
    """The parts of null-corrected estimates (``null_correction=True``), one list entry per
    estimate: ``uncorrected``, ``null`` (each with ``_stderr``) and ``shell_retrain_diff`` (with
    ``_stderr``; None entries for ``shared=False``). A study stores them beside the corrected
    values to show what the correction did.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 2, size=(60, 12))
    >>> es = neural_cmi_profile(x, radii=[1], far_radius=3, steps=4, hidden=4,
    ...                         null_correction=True)
    >>> sorted(null_parts(es))[:3]
    ['null', 'null_stderr', 'shell_retrain_diff']
    """
    nd = []
    for e in estimates:
        if "null" not in e.details:
            raise ParameterError(
                f"null_parts: the estimate at r = {e.radius} has no null run "
                "(neural_cmi_profile(..., null_correction=True))"
            )
        nd.append(e.details["null"])
    shell = [d["shell_retrained"] or {} for d in nd]
    return {
        "uncorrected": [d["uncorrected"] for d in nd],
        "uncorrected_stderr": [d["uncorrected_stderr"] for d in nd],
        "null": [d["cmi"] for d in nd],
        "null_stderr": [d["cmi_stderr"] for d in nd],
        "shell_retrain_diff": [s.get("difference") for s in shell],
        "shell_retrain_diff_stderr": [s.get("stderr") for s in shell],
    }


# ---------------------------------------------------------------------------------------------
# the denoiser gap


def denoiser_gap(
    local_model,
    global_model,
    data,
    process,
    t,
    *,
    seed: int = 0,
    batch_size: int = 256,
    n_groups: int | None = None,
    n_boot: int = 1000,
    device: str | None = "cpu",
):
    """``Delta(r, t) = CE_local(t) - CE_global(t)`` from two trained denoisers, paired.

    Both models are evaluated by :func:`latticediff.nn.train.evaluate_per_site_loss` on the
    same held-out clean ``data`` ``(n, C, *shape)`` with the same noise (same ``seed`` and
    ``batch_size``), so the per-sample differences are paired; the standard error is a bootstrap
    over contiguous groups of whole samples. For Bayes-optimal denoisers Delta equals
    ``I(x_0A : x_tC | x_tB)`` with B the local model's window (DESIGN.md §2); for trained ones
    each CE is an upper bound, and Delta is reported as measured (never clipped).

    ``t`` is a time or a sequence of times; returns one :class:`CMIEstimate` (``method
    "denoiser_gap"``, ``radius`` = the local model's radius) or a list of them. ``details``
    holds both cross-entropies and their standard errors.

    >>> import numpy as np
    >>> from latticediff.noise import BitFlip
    >>> from latticediff.nn import LocalDenoiser
    >>> x = np.ones((8, 1, 12), np.int8)
    >>> a = LocalDenoiser(1, 1, 2, hidden=4, dim=1, seed=0)
    >>> b = LocalDenoiser(3, 1, 2, hidden=4, dim=1, seed=1)
    >>> e = denoiser_gap(a, b, x, BitFlip(), 0.1)
    >>> e.method, e.radius, sorted(e.details)[:2]
    ('denoiser_gap', 1, ['CE_global', 'CE_global_stderr'])
    """
    from ..nn.train import evaluate_per_site_loss

    if not _is_int(n_boot) or n_boot < 2:
        raise ParameterError(f"denoiser_gap: n_boot must be an integer >= 2, got {n_boot!r}")
    scalar = np.ndim(t) == 0
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    data = np.asarray(data)
    if data.shape[0] < 2:
        raise ParameterError(f"denoiser_gap: need >= 2 held-out samples, got {data.shape[0]}")
    kw = dict(seed=seed, batch_size=batch_size, device=device)
    lo = evaluate_per_site_loss(local_model, data, process, ts, **kw)
    hi = evaluate_per_site_loss(global_model, data, process, ts, **kw)
    if lo.loss != hi.loss:
        raise ParameterError("denoiser_gap: the two models have different losses")
    w = np.ones(data.shape[0])
    diff = lo.per_sample - hi.per_sample  # (T, n)
    vals, ses, naive, G = _paired_bootstrap(diff, w, n_groups, n_boot, seed)
    r = getattr(local_model, "receptive_radius", getattr(local_model, "radius", -1))
    out = []
    for i, tv in enumerate(ts):
        details = {
            "estimator": "paired held-out loss difference of a local and a global denoiser",
            "t": float(tv),
            "loss": lo.loss,
            "CE_local": float(lo.mean[i]),
            "CE_local_stderr": float(lo.stderr[i]),
            "CE_global": float(hi.mean[i]),
            "CE_global_stderr": float(hi.stderr[i]),
            "local_model": type(local_model).__name__,
            "global_model": type(global_model).__name__,
            "stderr_method": (
                f"bootstrap over {G} contiguous groups of whole held-out samples, {n_boot} "
                "replicates (paired differences)"
            ),
            "stderr_naive": float(naive[i]),
            "n_test_samples": int(data.shape[0]),
        }
        out.append(
            CMIEstimate(
                value=float(vals[i]),
                stderr=float(ses[i]),
                method="denoiser_gap",
                radius=int(r),
                n_samples=int(data.shape[0]),
                details=details,
            )
        )
    return out[0] if scalar else out


#: The denoiser gap read as a CMI estimate (same function).
neural_cmi_from_denoisers = denoiser_gap
