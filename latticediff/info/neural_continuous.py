"""Neural estimator of I(A:C|B) for continuous data (real-valued lattices, images on a Gaussian
noising path), from conditional density models trained by maximum likelihood.

    I(A:C|B) = h(x_A | x_B) - h(x_A | x_BC)

Each conditional differential entropy is estimated by the held-out negative log-likelihood of a
conditional **mixture density network** (Bishop 1994) that outputs a K-component Gaussian
mixture for the scalar x_A. The predictors are the masks of one network
(:class:`MaskedMixtureDensityNet`, as in :mod:`.neural` for discrete data): the inputs are the
far window ordered by distance to A; the shell predictor of radius r keeps the shell B
(``0 < d_inf <= r``) and multiplies every other input by 0, the far predictor keeps the whole far
set (every other site or pixel; or the window ``d <= far_radius``, which estimates
``I(A : C_R | B)``). A itself is never an input. Each mask has its own linear map, so the
linear-Gaussian conditional (exact for Gaussian data, e.g.
:class:`latticediff.exact.gaussian_field.GaussianField`) is representable with K = 1 and
``depth = 0``; the MLP on top is shared by the masks. All masks are trained on the same
minibatches with the same schedule (equal budgets); each keeps the snapshot with its own best
validation NLL (early stopping on a slice of the training samples).

Compared with a difference of two MINE-type bounds this has no clipping and much lower variance:
both NLLs are evaluated on the **same** held-out examples and the CMI is the mean of the paired
per-example differences, whose spread is of order the CMI itself rather than of the entropies.
The standard error is a bootstrap over whole held-out samples (or over the ``groups`` given),
because sites of one sample are correlated. Values are never clipped.

**Bias.** A held-out NLL upper-bounds its conditional entropy; the far predictor, with more
inputs, overfits more, which biases the held-out CMI *down* by about
``(extra fitted parameters) / (2 N_train)``; the same difference on training samples
(``details["value_in_sample"]``) is biased *up* by about as much, and their mean
(``details["value_mean_in_out"]``, with ``..._stderr``) cancels the first-order fitting bias
(as in Takeuchi's/Akaike's criterion). The stderr does not include training-run spread.
Noisy data made from clean samples should be passed as clean ``samples`` with ``noise=``: each
training minibatch is then noised afresh, which removes the overfitting to the noise.

Examples: on a periodic lattice every site of every sample is an example (translation
invariance); on images (``periodic=False``) A is one pixel (default the centre) and each image
gives one example, with the regions clipped at the borders. Inputs and target are standardised
by one scalar mean and scale from the training samples; entropies in ``details`` are in the
units of the data.

Discrete data: the differential entropies of atoms diverge. For quantised data (e.g. 8-bit
images at t = 0) add uniform dequantisation noise within each quantisation bin first: since the
bin is recoverable from the dequantised value and the added noise is independent, the CMI of the
dequantised data *equals* the discrete CMI (the estimate is still hard: the densities are spiky).

>>> from latticediff.exact.gaussian_field import GaussianField
>>> g = GaussianField(6, 0.5)
>>> x0 = g.sample(200, seed=0)
>>> e = neural_cmi_continuous(x0, radius=1, steps=50, hidden=8, depth=1, seed=0)
>>> e.method, e.details["sites"]["B"], e.details["sites"]["far"]
('neural_continuous', 8, 35)
>>> abs(e.value - (e.details["h_A_given_B"] - e.details["h_A_given_BC"])) < 1e-12
True
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ParameterError
from ._schedule import warmup_cosine
from .result import CMIEstimate

__all__ = ["neural_cmi_continuous", "neural_cmi_continuous_profile"]

_LOG_SIGMA_BOUND = 7.0  # soft bound on log-scales (standardised units): stability, not a clip
_EVAL_CHUNK = 1 << 15  # examples per evaluation chunk
_LOG_2PI = math.log(2.0 * math.pi)


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _is_num(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float | np.integer | np.floating)


# ---------------------------------------------------------------------------------------------
# the density model


def _mdn_class():
    import torch
    from torch import nn

    class MaskedMixtureDensityNet(nn.Module):
        """Conditional K-component Gaussian mixtures of a scalar target, one per input mask.

        Inputs are the far window ``(batch, n_in)``, columns ordered by distance to A; mask m
        keeps the first ``n_cols[m]`` columns and multiplies the rest by 0, so predictor m is a
        function of those columns alone (``0 * x = 0`` for finite x). Each mask has its own
        linear map (so linear-Gaussian conditionals are exact with K = 1); an MLP (``depth``
        hidden layers of width ``hidden``, SiLU, last layer zero-initialised) on the masked
        input plus a one-hot mask code is *shared* by all masks, so the near and far predictors
        learn the same features from the same minibatches and their approximation errors are
        alike, which is what their difference needs. Returns ``(logits, mu, log_sigma)``, each
        ``(n_masks, batch, K)``.
        """

        def __init__(self, n_in: int, n_cols, n_components: int, hidden: int, depth: int):
            super().__init__()
            K = n_components
            M = len(n_cols)
            self.K, self.M = K, M
            cols = torch.as_tensor(list(n_cols))
            self.register_buffer("mask", (torch.arange(n_in)[None] < cols[:, None]).float())
            bound = 0.1 / math.sqrt(max(1, n_in))
            self.lin_w = nn.Parameter(torch.empty(M, n_in, 3 * K).uniform_(-bound, bound))
            b = torch.zeros(M, 3 * K)
            if K > 1:  # spread the component means to break the symmetry
                b[:, K : 2 * K] = torch.linspace(-1.5, 1.5, K)
            self.lin_b = nn.Parameter(b)
            self.mlp = None
            if depth > 0:
                layers: list[nn.Module] = []
                w = n_in + M
                for _ in range(depth):
                    layers += [nn.Linear(w, hidden), nn.SiLU()]
                    w = hidden
                last = nn.Linear(w, 3 * K)
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
                self.mlp = nn.Sequential(*layers, last)

        def forward(self, x):
            xm = x[None] * self.mask[:, None, :]  # (M, B, n_in)
            out = torch.einsum("mbi,mio->mbo", xm, self.lin_w) + self.lin_b[:, None]
            if self.mlp is not None:
                code = torch.eye(self.M, dtype=x.dtype)[:, None].expand(-1, x.shape[0], -1)
                out = out + self.mlp(torch.cat((xm, code), dim=-1))
            logits, mu, raw = out.split(self.K, dim=-1)
            log_sigma = _LOG_SIGMA_BOUND * torch.tanh(raw / _LOG_SIGMA_BOUND)
            return logits, mu, log_sigma

        def nll(self, x, y):
            """Negative log-likelihood of y (batch,) in nats under every mask: (M, batch)."""
            logits, mu, log_sigma = self(x)
            z = (y[None, :, None] - mu) * torch.exp(-log_sigma)
            logp = -0.5 * z * z - log_sigma - 0.5 * _LOG_2PI
            return -torch.logsumexp(torch.log_softmax(logits, dim=-1) + logp, dim=-1)

    return MaskedMixtureDensityNet


def __getattr__(name: str):
    # the torch class is built on first use, so importing this module stays light
    if name == "MaskedMixtureDensityNet":
        cls = _mdn_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# geometry


def _geometry(shape, periodic: bool, center, far_radius):
    """(centres (V,) flat, idx (V, W) flat indices of the far set ordered by distance, dist (W,)).

    Periodic: every site is a centre; offsets span the whole torus once (``-(L//2)..(L-1)//2``)
    minus A, or the window ``d <= far_radius``. Open: one centre; offsets clipped at the borders.
    """
    H, W = shape
    if periodic:
        oy = np.arange(-(H // 2), (H - 1) // 2 + 1)
        ox = np.arange(-(W // 2), (W - 1) // 2 + 1)
    else:
        cy, cx = center
        oy = np.arange(-cy, H - cy)
        ox = np.arange(-cx, W - cx)
    gy, gx = np.meshgrid(oy, ox, indexing="ij")
    gy, gx = gy.ravel(), gx.ravel()
    d = np.maximum(np.abs(gy), np.abs(gx))
    keep = d > 0
    if far_radius is not None:
        keep &= d <= far_radius
    gy, gx, d = gy[keep], gx[keep], d[keep]
    order = np.argsort(d, kind="stable")
    gy, gx, d = gy[order], gx[order], d[order]
    if periodic:
        cyy, cxx = np.divmod(np.arange(H * W), W)
        idx = ((cyy[:, None] + gy[None]) % H) * W + (cxx[:, None] + gx[None]) % W
        centres = np.arange(H * W)
    else:
        c = center[0] * W + center[1]
        idx = (c + gy * W + gx)[None]
        centres = np.array([c])
    return centres, idx, d


# ---------------------------------------------------------------------------------------------
# training and evaluation


def _train_one(
    model,
    train_rows,
    Xf,
    idx_t,
    cen,
    cols,
    s_train,
    v_pool,
    s_val,
    v_val,
    *,
    steps,
    batch,
    lr,
    wd,
    eval_every,
    seed,
):
    """Train all masks of ``model`` on the same minibatches of windows ``Xf[s, idx[v, :cols]]``;
    keep the state with the best total validation NLL. Returns (per-mask val NLL, step)."""
    import torch

    gen = np.random.default_rng([int(seed), 0x5EED])
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    V = v_pool

    def val_nll():
        v = _val_nll(model, Xf, idx_t, cen, cols, s_val, v_val)
        model.train()
        return v

    def batch_loss():
        s = s_train[gen.integers(0, len(s_train), size=batch)]
        v = torch.from_numpy(gen.integers(0, V, size=batch))
        rows = train_rows(s, gen)  # (batch, H*W): fresh noise per batch when noise is given
        b = torch.arange(batch)
        x = rows[b[:, None], idx_t[v, :cols]]
        y = rows[b, cen[v]]
        return model.nll(x, y).mean()

    model.train()
    hist = []
    best_val, best_step, snapshots = _early_stopped_sgd(
        model, opt, steps, lr, eval_every, val_nll, batch_loss, hist
    )
    model.eval()
    return best_val, best_step, snapshots, hist


def _early_stopped_sgd(module, opt, steps, lr, eval_every, val_nll, batch_loss, hist=None):
    """``steps`` optimiser steps on ``batch_loss()`` with the warm-up + cosine schedule; every
    ``eval_every`` steps and at the end, ``val_nll()`` (one value per mask) and per-mask early
    stopping: each mask keeps the snapshot where ITS validation NLL was best (the far mask, with
    the most inputs, usually starts to overfit first). Returns (best_val, best_step, snapshots);
    appends (step, val) to ``hist`` when given."""
    best_val = best_step = None
    snapshots = {}
    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:
            v_nll = val_nll()
            if best_val is None:
                best_val, best_step = np.full(len(v_nll), np.inf), np.full(len(v_nll), -1)
            if hist is not None:
                hist.append((step, v_nll.tolist()))
            snapshots = _keep_best(module, step, v_nll, best_val, best_step, snapshots)
        if step == steps:
            break
        for g in opt.param_groups:
            g["lr"] = warmup_cosine(step, steps, lr)
        loss = batch_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return best_val, best_step, snapshots


def _val_nll(model, Xf, idx_t, cen, cols, s_val, v_val) -> np.ndarray:
    """Mean NLL per mask (n_masks,) over the validation examples (model left in eval mode)."""
    import torch

    model.eval()
    with torch.no_grad():
        tot = 0.0
        for lo in range(0, len(s_val), _EVAL_CHUNK):
            s = s_val[lo : lo + _EVAL_CHUNK]
            v = v_val[lo : lo + _EVAL_CHUNK]
            x = Xf[s[:, None], idx_t[v, :cols]]
            y = Xf[s, cen[v]]
            tot = tot + model.nll(x, y).double().sum(dim=1).numpy()
    return tot / len(s_val)


def _fit_lstsq(model, Xf, idx_t, cen, cols, s_train, V) -> dict:
    """Exact maximum-likelihood fit of every mask of a ``depth = 0``, K = 1 model.

    The model is then homoscedastic linear-Gaussian per mask, ``x_A ~ N(b + w . x_B, s^2)``;
    its MLE on the training examples (every centre of every training sample) is ordinary least
    squares with ``s^2`` = mean squared residual. The normal equations of the far window are
    accumulated once in float64 and each mask solves its leading block (columns are ordered by
    distance, so a mask's inputs are a prefix). Sets the mean and log-scale of each mask (no
    dependence of the scale on the inputs) and returns a note for ``details``.
    """
    import torch

    n1 = cols + 1
    ztz = np.zeros((n1, n1))
    zty = np.zeros(n1)
    yty, n_rows = 0.0, 0
    per = max(1, _EVAL_CHUNK // V)
    with torch.no_grad():
        for lo in range(0, len(s_train), per):
            rows = Xf[torch.from_numpy(s_train[lo : lo + per])]  # (m, H*W)
            X = rows[:, idx_t[:, :cols]].reshape(-1, cols).double().numpy()
            y = rows[:, cen].reshape(-1).double().numpy()
            ztz[0, 0] += X.shape[0]
            colsum = X.sum(axis=0)
            ztz[0, 1:] += colsum
            ztz[1:, 0] += colsum
            ztz[1:, 1:] += X.T @ X
            zty[0] += y.sum()
            zty[1:] += X.T @ y
            yty += float(y @ y)
            n_rows += X.shape[0]
    mask_cols = model.mask.sum(dim=1).long().tolist()
    w = torch.zeros_like(model.lin_w)
    b = torch.zeros_like(model.lin_b)
    conds = []
    for m, c in enumerate(mask_cols):
        A, rhs = ztz[: c + 1, : c + 1], zty[: c + 1]
        beta = np.linalg.solve(A, rhs)
        rss = max(yty - 2.0 * beta @ rhs + beta @ A @ beta, 0.0)
        if not rss > 0:
            raise ParameterError(
                "neural_cmi_continuous: fit='lstsq' found an exact fit (zero residual)"
            )
        log_s = 0.5 * math.log(rss / n_rows)
        if not abs(log_s) < _LOG_SIGMA_BOUND:
            raise ParameterError(
                f"neural_cmi_continuous: fit='lstsq' residual log-scale {log_s:.2f} is outside "
                f"the model's bound +-{_LOG_SIGMA_BOUND}"
            )
        b[m, 1] = float(beta[0])
        w[m, :c, 1] = torch.from_numpy(beta[1:]).to(w.dtype)
        b[m, 2] = _LOG_SIGMA_BOUND * math.atanh(log_s / _LOG_SIGMA_BOUND)
        conds.append(float(np.linalg.cond(A)))
    with torch.no_grad():
        model.lin_w.copy_(w)
        model.lin_b.copy_(b)
    return {"rows": int(n_rows), "condition_numbers": conds}


def _keep_best(model, step, v_nll, best_val, best_step, snapshots) -> dict:
    """Per-mask early stopping: where the validation NLL ``v_nll`` beats ``best_val``, record
    ``step`` (both arrays updated in place) and a copy of the model's state; drop snapshots no
    mask points to any more. Returns the snapshots {step: state_dict}."""
    better = v_nll < best_val
    if better.any():
        snapshots[step] = {k: t.clone() for k, t in model.state_dict().items()}
        best_val[better] = v_nll[better]
        best_step[better] = step
        snapshots = {k: v for k, v in snapshots.items() if k in set(best_step.tolist())}
    return snapshots


def _eval_best(model, snapshots, best_step, evaluate):
    """Per-mask values (n_masks, n) of ``evaluate()``, each mask at its own best snapshot."""
    out = None
    for step, state in snapshots.items():
        model.load_state_dict(state)
        vals = evaluate()
        out = np.empty_like(vals) if out is None else out
        rows = best_step == step
        out[rows] = vals[rows]
    return out


def _eval_per_sample(model, Xf, idx_t, cen, cols, s_ids, V):
    """Mean NLL per sample over its V centres, float64 (n_masks, len(s_ids))."""
    import torch

    out = np.empty((model.M, len(s_ids)))
    per = max(1, _EVAL_CHUNK // V)
    with torch.no_grad():
        for lo in range(0, len(s_ids), per):
            ids = torch.from_numpy(s_ids[lo : lo + per])
            m = ids.shape[0]
            s = ids.repeat_interleave(V)
            v = torch.arange(V).repeat(m)
            x = Xf[s[:, None], idx_t[v, :cols]]
            y = Xf[s, cen[v]]
            out[:, lo : lo + m] = model.nll(x, y).double().view(-1, m, V).mean(dim=2).numpy()
    return out


def _bootstrap(diff, unit, n_boot, seed):
    """Mean over samples and bootstrap stderr, resampling whole units (samples or groups)."""
    _, u = np.unique(unit, return_inverse=True)
    G = int(u.max()) + 1
    num = np.bincount(u, weights=diff, minlength=G)
    den = np.bincount(u, minlength=G).astype(np.float64)
    rng = np.random.default_rng([int(seed), 0xB007])
    Wt = rng.multinomial(G, np.full(G, 1.0 / G), size=n_boot).astype(np.float64)
    boot = (Wt @ num) / (Wt @ den)
    return float(num.sum() / den.sum()), float(boot.std(ddof=1)), G


# ---------------------------------------------------------------------------------------------
# low-dimensional far summary (``far_summary=k``): a lower bound that nests the shell model


_SUMMARY_RIDGES = (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0)  # relative ridges tried
_CORRECTION_DEPTH = None  # None: the MLP depth of the shell model


def _fit_summary(Xpca, Xreg, n_cols_list, n_far, k, ridge=None, residualise=True):
    """Per mask m (shell of ``n_cols_list[m]`` columns), a linear map of the far window to ``k``
    features: the first k principal components of x_C (fit on ``Xpca``), minus their ridge
    regression on x_B (fit on ``Xreg``), centred and scaled to unit variance on ``Xreg``.
    Returns (A (M, n_far, k), c (M, k), k_eff per mask). Any such feature is a function of
    (x_B, x_C), so by data processing h(A | B, feature) >= h(A | B, C): a lower bound of the CMI.
    The regression on x_B removes what B already says about C (exact for Gaussian data)."""
    M = len(n_cols_list)
    A = np.zeros((M, n_far, k))
    c = np.zeros((M, k))
    k_eff = []
    for m, nb in enumerate(n_cols_list):
        xc = Xpca[:, nb:]
        kk = min(k, xc.shape[1])
        mc = xc.mean(axis=0)
        _, _, vt = np.linalg.svd(xc - mc, full_matrices=False)
        P = vt[:kk].T  # (|C|, kk)
        z = (Xreg[:, nb:] - mc) @ P
        xb = Xreg[:, :nb]
        mb = xb.mean(axis=0)
        xbc = xb - mb
        zc = z - z.mean(axis=0)
        if ridge is None:  # choose the ridge on a hold-out fifth of the fitting rows
            cut = (4 * len(xbc)) // 5
            Ga = xbc[:cut].T @ xbc[:cut]
            scale = max(float(np.trace(Ga)) / max(nb, 1), 1e-12)
            errs = []
            for rr in _SUMMARY_RIDGES:
                Ra = np.linalg.solve(Ga + rr * scale * np.eye(nb), xbc[:cut].T @ zc[:cut])
                errs.append(float(((zc[cut:] - xbc[cut:] @ Ra) ** 2).sum()))
            ridge = _SUMMARY_RIDGES[int(np.argmin(errs))]
        G = xbc.T @ xbc
        lam = ridge * max(float(np.trace(G)) / max(nb, 1), 1e-12)
        R = np.linalg.solve(G + lam * np.eye(nb), xbc.T @ zc)  # (nb, kk)
        if not residualise:
            R = np.zeros_like(R)
        zeta = z - xb @ R
        mz = zeta.mean(axis=0)
        sz = np.maximum(zeta.std(axis=0), 1e-6)
        A[m, nb:, :kk] = P / sz
        A[m, :nb, :kk] = -R / sz
        c[m, :kk] = (-mc @ P - mz) / sz
        k_eff.append(kk)
    return A, c, k_eff


def _correction_class():
    import torch
    from torch import nn

    class FarCorrection(nn.Module):
        """Per-mask correction of the frozen shell mixture parameters from the summary features:
        ``out_far = out_shell + zeta W_m + b_m + MLP_m([zeta, out_shell])``, every term initialised
        at exactly 0, so at step 0 the far predictor *is* the shell predictor."""

        def __init__(self, M: int, k: int, n_out: int, hidden: int, depth: int):
            super().__init__()
            self.M = M
            self.W = nn.Parameter(torch.zeros(M, k, n_out))
            self.b = nn.Parameter(torch.zeros(M, n_out))
            self.layers = nn.ParameterList()
            self.depth = depth
            if depth > 0:
                w = k + n_out
                for _ in range(depth):
                    bound = 1.0 / math.sqrt(w)
                    self.layers.append(
                        nn.Parameter(torch.empty(M, w, hidden).uniform_(-bound, bound))
                    )
                    self.layers.append(nn.Parameter(torch.zeros(M, hidden)))
                    w = hidden
                self.layers.append(nn.Parameter(torch.zeros(M, w, n_out)))
                self.layers.append(nn.Parameter(torch.zeros(M, n_out)))

        def forward(self, zeta, shell):
            """zeta (M, B, k), shell (M, B, n_out) -> far mixture parameters (M, B, n_out)."""
            out = shell + torch.einsum("mbk,mko->mbo", zeta, self.W) + self.b[:, None]
            if self.depth > 0:
                h = torch.cat((zeta, shell), dim=-1)
                n = len(self.layers)
                for i in range(0, n, 2):
                    h = (
                        torch.einsum("mbi,mio->mbo", h, self.layers[i])
                        + self.layers[i + 1][:, None]
                    )
                    if i < n - 2:
                        h = torch.nn.functional.silu(h)
                out = out + h
            return out

    return FarCorrection


def _mixture_nll(out, y, K):
    """NLL (M, batch) of y (batch,) under raw mixture parameters out (M, batch, 3K)."""
    import torch

    logits, mu, log_sigma = out.split(K, dim=-1)
    log_sigma = torch.clamp(log_sigma, -1.5 * _LOG_SIGMA_BOUND, 1.5 * _LOG_SIGMA_BOUND)
    z = (y[None, :, None] - mu) * torch.exp(-log_sigma)
    logp = -0.5 * z * z - log_sigma - 0.5 * _LOG_2PI
    return -torch.logsumexp(torch.log_softmax(logits, dim=-1) + logp, dim=-1)


def _far_summary_stage(
    model, snapshots, best_step, radii_u, mask_cols, fits, *, x, standard, noise, Xf, Xtr,
    Xval, Xte, tr_ids, te_ids, s_train, n_tr, n_test, sv, vv, idx_t, cen, V, n_far, k,
    n_components, hidden, depth, steps, batch, lr, wd, eval_every, seed, train_rows, sd,
    residualise,
):  # fmt: skip
    """``far_summary=k``: fit the summary features, train the zero-initialised correction of
    the frozen shell predictors, and add ``fits[("far", r)]``. Returns a small info dict."""
    import copy

    import torch

    K = n_components
    M = len(mask_cols)
    # fitting rows (training samples only): clean for the principal axes (isotropic noise has
    # the same axes), as noised for the regression on B and the scales
    frng = np.random.default_rng([int(seed), 0xF17])
    if noise is None:
        src_c, src_r, pool = Xf, Xf, s_train
    else:
        pool = np.arange(n_tr)
        src_c, src_r = standard(x[s_train[:n_tr]]), Xtr
    n_pairs = len(pool) * V
    if n_pairs <= 20000:
        fs = np.repeat(pool, V)
        fv = np.tile(np.arange(V), len(pool))
    else:
        fs = pool[frng.integers(0, len(pool), size=20000)]
        fv = frng.integers(0, V, size=20000)
    fs_t, fv_t = torch.from_numpy(fs), torch.from_numpy(fv)
    Xpca = src_c[fs_t[:, None], idx_t[fv_t, :n_far]].double().numpy()
    Xreg = src_r[fs_t[:, None], idx_t[fv_t, :n_far]].double().numpy()
    A, c, k_eff = _fit_summary(Xpca, Xreg, mask_cols, n_far, k, residualise=residualise)
    A_t = torch.from_numpy(A.astype(np.float32))
    c_t = torch.from_numpy(c.astype(np.float32))

    # frozen shell predictors, each at its best snapshot
    frozen = []
    for step, state in snapshots.items():
        rows = np.flatnonzero(best_step == step)
        if len(rows):
            mcopy = copy.deepcopy(model)
            mcopy.load_state_dict(state)
            mcopy.eval()
            frozen.append((torch.from_numpy(rows), mcopy))

    def features(xw):
        with torch.no_grad():
            zeta = torch.einsum("bi,mik->mbk", xw, A_t) + c_t[:, None]
            sh = None
            for rows, mc in frozen:
                logits, mu, log_sigma = mc(xw)
                o = torch.cat((logits, mu, log_sigma), dim=-1)
                sh = torch.empty_like(o) if sh is None else sh
                sh[rows] = o[rows]
        return zeta, sh

    torch.manual_seed(int(np.random.default_rng([int(seed), 0xC0EE]).integers(2**62)))
    cdepth = depth if _CORRECTION_DEPTH is None else _CORRECTION_DEPTH
    corr = _correction_class()(M, k, 3 * K, hidden, cdepth)
    opt = torch.optim.AdamW(corr.parameters(), lr=lr, weight_decay=wd)
    gen = np.random.default_rng([int(seed), 0x5EEE])

    # validation features are fixed (the shell models are frozen)
    val = []
    for lo in range(0, len(sv), _EVAL_CHUNK):
        s, v = sv[lo : lo + _EVAL_CHUNK], vv[lo : lo + _EVAL_CHUNK]
        xw = Xval[s[:, None], idx_t[v, :n_far]]
        val.append((*features(xw), Xval[s, cen[v]]))

    def val_nll():
        with torch.no_grad():
            tot = 0.0
            for zeta, sh, y in val:
                tot = tot + _mixture_nll(corr(zeta, sh), y, K).double().sum(dim=1).numpy()
        return tot / len(sv)

    def batch_loss():
        s = s_train[gen.integers(0, len(s_train), size=batch)]
        v = torch.from_numpy(gen.integers(0, V, size=batch))
        rows = train_rows(s, gen)
        b = torch.arange(batch)
        zeta, sh = features(rows[b[:, None], idx_t[v, :n_far]])
        return _mixture_nll(corr(zeta, sh), rows[b, cen[v]], K).mean(dim=1).sum()

    best_val, best_at, snaps = _early_stopped_sgd(
        corr, opt, steps, lr, eval_every, val_nll, batch_loss
    )

    def per_sample(X, s_ids):
        out = np.empty((M, len(s_ids)))
        per = max(1, _EVAL_CHUNK // V)
        with torch.no_grad():
            for lo in range(0, len(s_ids), per):
                ids = torch.from_numpy(s_ids[lo : lo + per])
                m = ids.shape[0]
                s = ids.repeat_interleave(V)
                v = torch.arange(V).repeat(m)
                zeta, sh = features(X[s[:, None], idx_t[v, :n_far]])
                nll = _mixture_nll(corr(zeta, sh), X[s, cen[v]], K)
                out[:, lo : lo + m] = nll.double().view(-1, m, V).mean(dim=2).numpy()
        return out

    test = _eval_best(corr, snaps, best_at, lambda: per_sample(Xte, te_ids))
    test = test.reshape(M, -1, n_test).mean(axis=1)
    train = _eval_best(corr, snaps, best_at, lambda: per_sample(Xtr, tr_ids))
    for m, r in enumerate(radii_u):
        fits[("far", r)] = {
            "test": test[m],
            "train": train[m],
            "train_nll": float(train[m].mean()) + math.log(sd),
            "val_nll": float(best_val[m]) + math.log(sd),
            "best_step": int(best_at[m]),
            "cols": int(mask_cols[m] + k_eff[m]),
        }
    note = {
        "features": "first k principal components of x_C (clean training samples)"
        + (" minus their ridge regression on x_B" if residualise else "")
        + ", standardised; far = frozen shell + zero-initialised correction",
        "bound": "lower bound of I(A:C|B) (data processing)",
    }
    return {"k_eff": k_eff, "note": note}


# ---------------------------------------------------------------------------------------------
# public API


def neural_cmi_continuous_profile(
    samples,
    *,
    radii,
    periodic: bool = True,
    center=None,
    far_radius: int | None = None,
    n_components: int = 1,
    hidden: int = 64,
    depth: int = 2,
    steps: int = 1500,
    batch: int = 1024,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    test_fraction: float = 0.3,
    val_fraction: float = 0.15,
    eval_every: int | None = None,
    groups=None,
    noise=None,
    eval_draws: int = 1,
    n_boot: int = 400,
    seed: int = 0,
    threads: int | None = None,
    far_summary: int | None = None,
    summary_residualise: bool = True,
    fit: str = "sgd",
) -> list[CMIEstimate]:
    """Neural ``I(A:C|B)`` of continuous data at several shell radii; one far model is shared.

    Parameters
    ----------
    samples : float array ``(n, 1, H, W)`` or ``(n, H, W)`` (one real channel).
    radii : shell radii r >= 0 (L-infinity). Periodic: ``r <= (min(H, W) - 1) // 2``.
    periodic : True: torus, every site an example. False: an image, A = ``center`` (default
        ``(H // 2, W // 2)``), regions clipped at the borders, one example per sample.
    far_radius : None = the far model sees everything but A; else the window ``d <= far_radius``
        (then the estimate is ``I(A : C_R | B)``); must exceed every radius.
    n_components, hidden, depth : mixture components K, MLP width and number of hidden layers
        (``depth = 0``: linear-Gaussian conditionals, exact for Gaussian data when K = 1).
    steps, batch, lr, weight_decay : AdamW with warm-up and cosine decay, the same for every
        model (equal budgets); the state with the best validation NLL is kept.
    test_fraction, val_fraction : the last ``test_fraction`` of the samples (or of the
        ``groups``) are held out for the estimate; the last ``val_fraction`` of the rest select
        the training step.
    eval_every : validation interval in steps (default ``max(1, steps // 15)``).
    groups : optional integer label per sample; samples sharing a label (e.g. noise draws of one
        image) are split and bootstrapped together.
    noise : optional ``noise(x, rng) -> x_t``, float ``(m, H, W)`` in and out: then ``samples``
        are clean data and every training minibatch is noised afresh with ``rng`` (a NumPy
        Generator), e.g. ``lambda x, rng: (1 - t) * x + t * rng.standard_normal(x.shape)``; the
        validation and test samples get fixed draws (``eval_draws`` per test sample, averaged).
        Fresh noise removes the overfitting to the noise that fixed noisy samples invite.
    n_boot, seed, threads : bootstrap replicas, master seed, torch threads (None: unchanged).
    far_summary : None (default) = the far predictor sees the whole far set. An integer k: for
        each radius the far predictor sees B and only k summary features of C: the first k
        principal components of x_C (fit on the clean training samples, pooled over centres),
        minus their ridge regression on x_B (fit on the training samples as noised), standardised.
        It is built *on top of* the trained shell predictor (its best snapshot, frozen): the far
        mixture parameters are the shell ones plus a correction from the features (linear, plus
        an MLP of the same ``hidden``/``depth`` on features and shell outputs) initialised at
        exactly 0 and early-stopped per radius on validation, so it starts as the shell model
        and can only move by fitting. Since the features are a function of (x_B, x_C), this
        estimates ``I(A : f(C, B) | B) <= I(A:C|B)``: a lower bound, with ~3K(k+1) fitted
        parameters per radius instead of ~3K |C|.
    summary_residualise : with ``far_summary``: True (default) subtracts from the principal
        components their ridge regression on x_B (ridge chosen on a hold-out fifth of the fitting
        rows), so the features carry what C adds to B (needed to be tight for linear-Gaussian
        data, where C is strongly correlated with B); False uses the raw components (looser but
        nothing is fitted on x_B, more robust when B is large compared with the training set).
    fit : ``"sgd"`` (default): AdamW as above. ``"lstsq"``: only for ``depth = 0``,
        ``n_components = 1``, fixed samples (``noise=None``) and no ``far_summary``: every mask
        gets its exact maximum-likelihood fit, ordinary least squares with a constant scale, on
        all training examples (``steps``, ``batch``, ``lr`` are then unused). This removes the
        optimiser's noise, which otherwise sets the floor of the estimate where the CMI is
        ~1e-5 nats; the overfitting bias (above) remains.

    Returns a list of :class:`CMIEstimate` (``method="neural_continuous"``), one per radius, in
    nats, never clipped. ``details`` holds the two held-out entropies (data units), their train
    and validation NLLs, the chosen steps, the site counts and the split sizes.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((120, 1, 7, 7))  # i.i.d.: CMI = 0
    >>> es = neural_cmi_continuous_profile(x, radii=[1, 2], steps=40, depth=0, seed=1)
    >>> [e.radius for e in es], all(abs(e.value) < 5 * e.stderr + 0.01 for e in es)
    ([1, 2], True)
    """
    import torch

    who = "neural_cmi_continuous"
    t0 = time.perf_counter()
    x = np.asarray(samples)
    if x.dtype.kind != "f":
        raise ParameterError(
            f"{who}: samples must be a float array (continuous data), got dtype {x.dtype}; "
            "use method='neural' for discrete data"
        )
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ParameterError(f"{who}: samples must have one channel, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ParameterError(f"{who}: samples must be (n, 1, H, W) or (n, H, W), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{who}: samples must be finite")
    n, H, W = x.shape
    for name, v, lo in (
        ("n_components", n_components, 1),
        ("hidden", hidden, 1),
        ("depth", depth, 0),
        ("steps", steps, 1),
        ("batch", batch, 2),
        ("n_boot", n_boot, 2),
        ("eval_draws", eval_draws, 1),
        ("seed", seed, 0),
        *((("far_summary", far_summary, 1),) if far_summary is not None else ()),
    ):
        if not _is_int(v) or v < lo:
            raise ParameterError(f"{who}: {name} must be an integer >= {lo}, got {v!r}")
    for name, v in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not _is_num(v) or not 0.0 < v < 1.0:
            raise ParameterError(f"{who}: {name} must be a number in (0, 1), got {v!r}")
    for name, v in (("lr", lr), ("weight_decay", weight_decay)):
        if not _is_num(v) or not (math.isfinite(v) and v >= 0) or (name == "lr" and v == 0):
            raise ParameterError(f"{who}: {name} must be a finite number > 0, got {v!r}")
    if fit not in ("sgd", "lstsq"):
        raise ParameterError(f"{who}: fit must be 'sgd' or 'lstsq', got {fit!r}")
    if fit == "lstsq" and not (
        depth == 0 and n_components == 1 and noise is None and far_summary is None
    ):
        raise ParameterError(
            f"{who}: fit='lstsq' needs depth=0, n_components=1, noise=None and no far_summary "
            f"(the linear-Gaussian model on fixed samples), got depth={depth}, "
            f"n_components={n_components}, noise={'set' if noise is not None else None}, "
            f"far_summary={far_summary}"
        )
    if eval_every is None:
        eval_every = max(1, steps // 15)
    if not _is_int(eval_every) or eval_every < 1:
        raise ParameterError(f"{who}: eval_every must be an integer >= 1, got {eval_every!r}")
    radii_in = [radii] if _is_int(radii) else list(radii)
    if not radii_in or not all(_is_int(r) and r >= 0 for r in radii_in):
        raise ParameterError(f"{who}: radii must be integers >= 0, got {radii!r}")
    radii_l = [int(r) for r in radii_in]
    if periodic:
        rmax = (min(H, W) - 1) // 2
        if max(radii_l) > rmax:
            raise ParameterError(
                f"{who}: on a periodic {H}x{W} lattice radii must be <= {rmax}, got {max(radii_l)}"
            )
        center = None
    else:
        if center is None:
            center = (H // 2, W // 2)
        if (
            not isinstance(center, tuple | list)
            or len(center) != 2
            or not all(_is_int(c) for c in center)
            or not (0 <= center[0] < H and 0 <= center[1] < W)
        ):
            raise ParameterError(f"{who}: center must be (row, col) inside {H}x{W}, got {center!r}")
        center = (int(center[0]), int(center[1]))
    if far_radius is not None:
        if not _is_int(far_radius) or far_radius <= max(radii_l):
            raise ParameterError(
                f"{who}: far_radius must be None or an integer > max(radii) = {max(radii_l)}, "
                f"got {far_radius!r}"
            )
    centres, idx, dist = _geometry((H, W), bool(periodic), center, far_radius)
    n_cols = {r: int((dist <= r).sum()) for r in radii_l}
    n_far = idx.shape[1]
    if any(n_cols[r] >= n_far for r in radii_l):
        raise ParameterError(f"{who}: the region C is empty for some radius in {radii_l}")

    # split: whole samples (or groups), test = the last test_fraction
    if groups is None:
        unit = np.arange(n)
    else:
        unit = np.asarray(groups)
        if unit.shape != (n,) or unit.dtype.kind not in "iu":
            raise ParameterError(
                f"{who}: groups must be integers of shape ({n},), got {unit.dtype} {unit.shape}"
            )
    _, first = np.unique(unit, return_index=True)
    order_units = unit[np.sort(first)]
    G = len(order_units)
    n_test_u = int(round(test_fraction * G))
    n_val_u = int(round(val_fraction * (G - n_test_u)))
    if n_test_u < 2 or n_val_u < 1 or G - n_test_u - n_val_u < 1:
        raise ParameterError(
            f"{who}: too few samples/groups ({G}) for test_fraction={test_fraction} and "
            f"val_fraction={val_fraction}"
        )
    test_u = order_units[G - n_test_u :]
    val_u = order_units[G - n_test_u - n_val_u : G - n_test_u]
    is_test = np.isin(unit, test_u)
    is_val = np.isin(unit, val_u)
    s_test = np.flatnonzero(is_test)
    s_val = np.flatnonzero(is_val)
    s_train = np.flatnonzero(~is_test & ~is_val)

    # one scalar standardisation from the training samples (noised once, if noise is given)
    ref = x[s_train[:2000]]
    if noise is not None:
        ref = np.asarray(noise(ref, np.random.default_rng([int(seed), 0x57D])))
    mu = float(ref.mean())
    sd = float(ref.std())
    if not sd > 0:
        raise ParameterError(f"{who}: the training samples are constant")
    idx_t = torch.from_numpy(idx.astype(np.int64))
    cen = torch.from_numpy(centres.astype(np.int64))
    V = len(centres)
    n_tr = min(len(s_train), max(2, (1 << 15) // V))
    ev = np.random.default_rng([int(seed), 0xE7A1])  # fixed draws for validation and test

    def standard(a):
        return torch.from_numpy(((a.reshape(len(a), H * W) - mu) / sd).astype(np.float32))

    if noise is None:
        Xf = standard(x)
        Xval, Xte, Xtr = Xf, Xf, Xf
        val_pool, te_ids, tr_ids = s_val, s_test, s_train[:n_tr]

        def train_rows(si, gen):
            return Xf[torch.from_numpy(si)]
    else:

        def noisy(si, rng):
            out = np.asarray(noise(x[si], rng))
            if out.shape != (len(si), H, W) or out.dtype.kind != "f":
                raise ParameterError(f"{who}: noise must return floats of shape (m, {H}, {W})")
            return out

        Xval = standard(noisy(s_val, ev))
        Xte = standard(np.concatenate([noisy(s_test, ev) for _ in range(eval_draws)]))
        Xtr = standard(noisy(s_train[:n_tr], ev))
        val_pool = np.arange(len(s_val))
        te_ids = np.arange(len(s_test) * eval_draws)
        tr_ids = np.arange(n_tr)

        def train_rows(si, gen):
            return standard(noisy(si, gen))

    # validation examples: up to 2^15 (sample, centre) pairs, fixed
    vrng = np.random.default_rng([int(seed), 0x7A1])
    n_v = min(len(s_val) * V, 1 << 15)
    sv = torch.from_numpy(val_pool[vrng.integers(0, len(val_pool), size=n_v)])
    vv = torch.from_numpy(vrng.integers(0, V, size=n_v))
    MDN = _mdn_class()

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        # one network, masks: far (everything in the window) first, then every radius
        radii_u = sorted(set(radii_l))
        summary = far_summary is not None
        tags = list(radii_u) if summary else ["far", *radii_u]
        mask_cols = ([] if summary else [n_far]) + [n_cols[r] for r in radii_u]
        torch.manual_seed(int(np.random.default_rng([int(seed), 0x1A17]).integers(2**62)))
        model = MDN(n_far, mask_cols, n_components, hidden, depth)
        lstsq_info = None
        if fit == "lstsq":
            lstsq_info = _fit_lstsq(model, Xf, idx_t, cen, n_far, s_train, V)
            best_val = _val_nll(model, Xval, idx_t, cen, n_far, sv, vv)
            best_step = np.zeros(len(mask_cols), dtype=np.int64)
            snapshots = {0: {k: t.clone() for k, t in model.state_dict().items()}}
        else:
            best_val, best_step, snapshots, _hist = _train_one(
                model, train_rows, Xval, idx_t, cen, n_far, s_train, V, sv, vv,
                steps=steps, batch=batch, lr=float(lr), wd=float(weight_decay),
                eval_every=eval_every, seed=int(seed),
            )  # fmt: skip
        test = _eval_best(
            model, snapshots, best_step,
            lambda: _eval_per_sample(model, Xte, idx_t, cen, n_far, te_ids, V),
        )  # fmt: skip
        test = test.reshape(len(mask_cols), -1, len(s_test)).mean(axis=1)  # over noise draws
        train = _eval_best(
            model, snapshots, best_step,
            lambda: _eval_per_sample(model, Xtr, idx_t, cen, n_far, tr_ids, V),
        )  # fmt: skip
        fits = {}
        for m, tag in enumerate(tags):
            fits[tag] = {
                "test": test[m],
                "train": train[m],
                "train_nll": float(train[m].mean()) + math.log(sd),
                "val_nll": float(best_val[m]) + math.log(sd),
                "best_step": int(best_step[m]),
                "cols": int(mask_cols[m]),
            }
        summary_info = None
        if summary:
            summary_info = _far_summary_stage(
                model, snapshots, best_step, radii_u, mask_cols, fits,
                x=x, standard=standard, noise=noise, Xf=Xf if noise is None else None,
                Xtr=Xtr, Xval=Xval, Xte=Xte, tr_ids=tr_ids, te_ids=te_ids, s_train=s_train,
                n_tr=n_tr, n_test=len(s_test), sv=sv, vv=vv, idx_t=idx_t, cen=cen, V=V,
                n_far=n_far, k=int(far_summary), n_components=n_components, hidden=hidden,
                depth=depth, steps=steps, batch=batch, lr=float(lr), wd=float(weight_decay),
                eval_every=eval_every, seed=int(seed), train_rows=train_rows, sd=sd,
                residualise=bool(summary_residualise),
            )  # fmt: skip
    finally:
        torch.set_num_threads(old_threads)

    out = []
    for r in radii_l:
        near = fits[r]
        far = fits[("far", r)] if summary else fits["far"]
        diff = near["test"] - far["test"]
        value, stderr, n_units = _bootstrap(diff, unit[s_test], n_boot, seed)
        h_b, h_b_se, _ = _bootstrap(near["test"], unit[s_test], n_boot, seed)
        h_bc, h_bc_se, _ = _bootstrap(far["test"], unit[s_test], n_boot, seed)
        in_sample, in_se, _ = _bootstrap(
            near["train"] - far["train"], unit[s_train[: len(near["train"])]], n_boot, seed
        )
        out.append(
            CMIEstimate(
                value=value,
                stderr=stderr,
                method="neural_continuous",
                radius=r,
                n_samples=int(n),
                details={
                    "h_A_given_B": h_b + math.log(sd),
                    "h_A_given_B_stderr": h_b_se,
                    "h_A_given_BC": h_bc + math.log(sd),
                    "h_A_given_BC_stderr": h_bc_se,
                    "train_nll": {"B": near["train_nll"], "far": far["train_nll"]},
                    # the same difference on training samples: biased the other way by
                    # overfitting; the mean of the two cancels the first-order fitting bias
                    "value_in_sample": in_sample,
                    "value_in_sample_stderr": in_se,
                    "value_mean_in_out": 0.5 * (value + in_sample),
                    "value_mean_in_out_stderr": 0.5 * math.hypot(stderr, in_se),
                    "val_nll": {"B": near["val_nll"], "far": far["val_nll"]},
                    "best_step": {"B": near["best_step"], "far": far["best_step"]},
                    "sites": {"B": near["cols"], "far": far["cols"]},
                    "far_radius": far_radius,
                    "far_summary": None
                    if summary_info is None
                    else {"k": summary_info["k_eff"][radii_u.index(r)], **summary_info["note"]},
                    "periodic": bool(periodic),
                    "center": list(center) if center is not None else None,
                    "examples_per_sample": int(V),
                    "n_train": int(len(s_train)),
                    "n_val": int(len(s_val)),
                    "n_test": int(len(s_test)),
                    "bootstrap_units": int(n_units),
                    "n_components": int(n_components),
                    "hidden": int(hidden),
                    "depth": int(depth),
                    "fit": fit,
                    "lstsq": lstsq_info,
                    "steps": int(steps) if fit == "sgd" else None,
                    "batch": int(batch) if fit == "sgd" else None,
                    "standardisation": {"mean": mu, "scale": sd},
                    "stderr_note": "bootstrap over held-out samples/groups; excludes the "
                    "spread between training runs",
                    "seconds": time.perf_counter() - t0,
                },
            )
        )
    return out


def neural_cmi_continuous(samples, *, radius: int, **kwargs) -> CMIEstimate:
    """Neural ``I(A:C|B)`` of continuous data at one radius: :func:`neural_cmi_continuous_profile`
    with ``radii=[radius]`` (all its options apply).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((100, 1, 5, 5))
    >>> e = neural_cmi_continuous(x, radius=1, steps=30, depth=0)
    >>> e.radius, e.method, e.details["sites"]
    (1, 'neural_continuous', {'B': 8, 'far': 24})
    """
    if "radii" in kwargs:
        raise ParameterError("neural_cmi_continuous: pass radius=..., not radii (see _profile)")
    return neural_cmi_continuous_profile(samples, radii=[radius], **kwargs)[0]
