"""CMI of data on a Gaussian path from denoising errors: the conditional I-MMSE identity.

For the noisy data ``x_t = alpha x_0 + sigma z`` and one site A, the A-channel is
``y_A = alpha x_0A + sigma z_A`` with z_A independent of everything else, so
``I(y_A : y_C | y_B) = I(x_0A ; y_A | y_B) - I(x_0A ; y_A | y_BC)``, and each term is a
mutual information of x_0A through a Gaussian channel of signal-to-noise ratio
``snr_t = alpha^2 / sigma^2``. The I-MMSE relation of Guo, Shamai & Verdu (IEEE Trans. Inf.
Theory 51, 1261 (2005)), which holds conditionally on side information, then gives

    I(A:C|B)_t = 1/2 int_0^{snr_t} [mmse_B(u) - mmse_BC(u)] du
               = 1/2 int_{-inf}^{log snr_t} u [mmse_B(u) - mmse_BC(u)] d(log u),

where ``mmse_Y(u) = E[(x_0A - E[x_0A | sqrt(u) x_0A + z', y_Y])^2]``: the error of denoising
the clean value at A from a copy of A at signal-to-noise ratio u <= snr_t, with the other
regions Y seen at time t. The integrand is >= 0 (more side information never hurts), and every
term is a *regression* error: no density model of x_A is needed, which is what makes this
estimator work where the differential entropies are hard (spiky 8-bit pixels, heavy tails).

Estimator (:func:`immse_cmi_profile`). Per radius, a regression network sees (y_A(u), log u,
y_B, f(C)). Stage 1 trains it as the *control*, with f(C) taken from a *different* sample, so it
learns the radius-r denoiser and nothing about C. Stage 2 fine-tunes two copies of it on the same
minibatches with the same budget: the *far* copy gets f(C) of its own sample, the *control* copy
keeps the other sample's. Both start from the same state and have identical capacity and inputs
of identical statistics, so the misfit of the common start and most of the optimiser's noise
are shared and cancel in the difference; only the information that C carries about A separates
them. (Trained independently from scratch, the two networks' excess errors differ by more than
the CMI on MNIST.) f is either the whole far region (``far_features=None``) or its first k principal
components (fit on clean training samples; a function of C, so the target is then
``I(A : f(C) | B) <= I(A:C|B)``, a lower bound). Each network predicts the clean value with the
preconditioning of Karras et al. (arXiv:2206.00364), so its loss weight is ~u, the weight of
the integrand. The integral runs over Gauss-Legendre nodes in ``log u`` on
``[log u_lo, log min(snr_t, snr_max)]``; every held-out example is evaluated at every node with
the *same* noise for both networks (paired), and the standard error is a bootstrap over whole
held-out samples. Values are never clipped.

Stated approximations: the tail ``u < u_lo`` (``snr_min * Var(x_A)`` <= 1e-4 by default)
contributes at most ``snr_min / 2`` nats and is left out; above ``snr_max`` (only reached near
t = 0) the integral is truncated and ``details["truncated"]`` says so (the value is then the CMI
with A observed at that signal-to-noise ratio); at ``snr_t = 0`` (pure noise) the integral is
empty and the value is exactly 0. Learned denoisers are worse than Bayes: equal excess errors
cancel, unequal ones do not, and the stderr does not include the spread between training runs.

>>> from latticediff.exact.gaussian_field import GaussianField
>>> g = GaussianField(6, 0.5)
>>> x0 = g.sample(200, seed=0)
>>> e = immse_cmi(x0, radius=1, t=0.5, steps=40, hidden=8, depth=1, n_nodes=4, seed=0)
>>> e.method, e.details["sites"]["B"], e.details["snr_t"]
('immse', 8, 1.0)
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ParameterError
from .neural_continuous import (
    _bootstrap,
    _early_stopped_sgd,
    _geometry,
    _is_int,
    _is_num,
)
from .result import CMIEstimate

__all__ = ["immse_cmi", "immse_cmi_profile"]

_EVAL_ROWS = 1 << 14  # (example, node) rows per evaluation chunk
_N_HATS = 8  # piecewise-linear-in-log(u) linear maps (exact form for Gaussian data)


def _net_class():
    import torch
    from torch import nn

    class IMMSENet(nn.Module):
        """Denoiser of a scalar clean value: ``F(inputs, log u)``, the preconditioned output.

        ``F = sum_j h_j(log u) (W_j inp + b_j) + MLP(inp, hats)`` with ``h_j`` hat functions on
        the log-u interval: a linear map whose coefficients interpolate piecewise-linearly in
        log u (the Bayes denoiser of Gaussian data is of this form up to interpolation error)
        plus an MLP (last layer zero-initialised) for everything non-linear.
        """

        def __init__(self, n_in: int, hidden: int, depth: int):
            super().__init__()
            self.lin = nn.Linear(n_in, _N_HATS)
            nn.init.zeros_(self.lin.weight)
            nn.init.zeros_(self.lin.bias)
            self.mlp = None
            if depth > 0:
                layers: list[nn.Module] = []
                w = n_in + _N_HATS
                for _ in range(depth):
                    layers += [nn.Linear(w, hidden), nn.SiLU()]
                    w = hidden
                last = nn.Linear(w, 1)
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)
                self.mlp = nn.Sequential(*layers, last)

        def forward(self, inp, hats):
            out = (self.lin(inp) * hats).sum(dim=1)
            if self.mlp is not None:
                out = out + self.mlp(torch.cat((inp, hats), dim=1))[:, 0]
            return out

    return IMMSENet


def _hats(ell, lo: float, hi: float):
    """Hat (linear B-spline) basis on ``_N_HATS`` equally spaced knots of [lo, hi]: (n, J)."""
    import torch

    pos = (ell - lo) / max(hi - lo, 1e-12) * (_N_HATS - 1)
    knots = torch.arange(_N_HATS, dtype=ell.dtype)
    return torch.clamp(1.0 - (pos[:, None] - knots[None]).abs(), min=0.0)


def _grow(old, new, n_keep: int) -> None:
    """Copy ``old``'s weights into the larger ``new`` (same class, more inputs): the first
    ``n_keep`` input columns (the copy of A and the old shell, which are the first columns of the
    new shell because shells are ordered by distance) keep their weights, every other input
    column starts at 0, so ``new`` computes what ``old`` did from those inputs."""
    import torch

    with torch.no_grad():
        new.lin.weight.zero_()
        new.lin.weight[:, :n_keep] = old.lin.weight[:, :n_keep]
        new.lin.bias.copy_(old.lin.bias)
        if new.mlp is not None:
            n_old, n_new = old.lin.in_features, new.lin.in_features
            w0, w1 = old.mlp[0].weight, new.mlp[0].weight
            w1.zero_()
            w1[:, :n_keep] = w0[:, :n_keep]
            w1[:, n_new:] = w0[:, n_old:]  # the hat inputs
            new.mlp[0].bias.copy_(old.mlp[0].bias)
            for a, b in zip(list(old.mlp)[1:], list(new.mlp)[1:], strict=True):
                b.load_state_dict(a.state_dict())


def _nodes(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes in ``log u`` on [lo, hi] and weights for ``int f(u) du``
    (``du = u d(log u)``): ``sum_q w_q f(u_q)``.

    >>> ell, w = _nodes(-25.0, 0.0, 24)
    >>> # int_0^1 du / (1 + u) = ln 2
    >>> round(float(np.sum(w / (1.0 + np.exp(ell)))), 6), round(math.log(2.0), 6)
    (0.693147, 0.693147)
    """
    nodes, weights = np.polynomial.legendre.leggauss(n)
    ell = 0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)
    return ell, 0.5 * (hi - lo) * weights * np.exp(ell)


def _check(who, name, v, lo, kind=int):
    ok = _is_int(v) if kind is int else _is_num(v) and math.isfinite(v)
    if not ok or v < lo:
        raise ParameterError(
            f"{who}: {name} must be {'an integer' if kind is int else 'a number'} "
            f">= {lo}, got {v!r}"
        )


def immse_cmi_profile(
    samples,
    *,
    radii,
    t,
    path="linear",
    periodic: bool = True,
    center=None,
    far_features: int | None = 16,
    n_nodes: int = 16,
    snr_max: float = 1e4,
    snr_min: float = 2e-4,
    hidden: int = 64,
    depth: int = 2,
    steps: int = 1500,
    finetune_steps: int | None = None,
    finetune_lr: float | None = None,
    batch: int = 512,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    test_fraction: float = 0.3,
    val_fraction: float = 0.15,
    eval_every: int | None = None,
    eval_draws: int = 2,
    n_boot: int = 400,
    seed: int = 0,
    threads: int | None = None,
) -> list[CMIEstimate]:
    """``I(A:C|B)`` of ``x_t = alpha(t) x_0 + sigma(t) z`` from clean samples ``x_0``, by the
    conditional I-MMSE identity (module docstring), at several shell radii.

    Parameters
    ----------
    samples : clean data, float ``(n, 1, H, W)`` or ``(n, H, W)``; every training minibatch is
        noised afresh, held-out samples get ``eval_draws`` fixed draws.
    radii : shell radii r >= 0 (L-infinity); periodic: ``r <= (min(H, W) - 1) // 2``.
    t, path : the time and the :class:`latticediff.noise.GaussianPath` (or its kind).
    periodic : True: torus, every site an example; False: an image, A = ``center`` (default
        the middle pixel), regions clipped at the borders, one example per sample.
    far_features : k: C enters through its first k principal components (clean training
        samples, pooled over centres; the estimate is a lower bound ``I(A : f(C) | B)``);
        None: every site of C is an input.
    n_nodes : Gauss-Legendre nodes in log u for the integral.
    snr_max, snr_min : the integral runs over u in [snr_min / Var(x_A), min(snr_t, snr_max)]
        (signal-to-noise ratios in units of the data's standard deviation).
    hidden, depth : MLP width and hidden layers (``depth = 0``: the log-u-interpolated linear
        map only, exact for Gaussian data up to interpolation).
    steps, batch, lr, weight_decay, eval_every : AdamW with warm-up and cosine decay for the
        common start (stage 1); every stage keeps the state with the best validation integral.
    finetune_steps, finetune_lr : stage 2, the same for both copies (default: steps, lr).
    test_fraction, val_fraction, n_boot, seed, threads : held-out split (by sample), early-
        stopping split, bootstrap replicas, master seed, torch threads (None: unchanged).

    Returns one :class:`CMIEstimate` per radius (``method="immse"``), nats, never clipped;
    ``details`` has the per-node error curves of both networks, the in-sample value, the
    integration range and the split sizes.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((150, 1, 7, 7))  # i.i.d.: CMI = 0
    >>> es = immse_cmi_profile(x, radii=[1, 2], t=0.3, steps=40, depth=0, n_nodes=4, seed=1)
    >>> [e.radius for e in es], all(abs(e.value) < 5 * e.stderr + 0.01 for e in es)
    ([1, 2], True)
    """
    import torch

    from ..noise import GaussianPath

    who = "immse_cmi"
    t_start = time.perf_counter()
    x = np.asarray(samples)
    if x.dtype.kind != "f":
        raise ParameterError(f"{who}: samples must be a float array, got dtype {x.dtype}")
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ParameterError(f"{who}: samples must have one channel, got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ParameterError(f"{who}: samples must be (n, 1, H, W) or (n, H, W), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{who}: samples must be finite")
    n, H, W = x.shape
    for name, v, lo in (("n_nodes", n_nodes, 1), ("hidden", hidden, 1), ("depth", depth, 0),
                        ("steps", steps, 1), ("batch", batch, 2), ("eval_draws", eval_draws, 1),
                        ("n_boot", n_boot, 2), ("seed", seed, 0)):  # fmt: skip
        _check(who, name, v, lo)
    if far_features is not None:
        _check(who, "far_features", far_features, 1)
    finetune_steps = steps if finetune_steps is None else finetune_steps
    _check(who, "finetune_steps", finetune_steps, 1)
    finetune_lr = lr if finetune_lr is None else finetune_lr
    for name, v in (("lr", lr), ("finetune_lr", finetune_lr), ("snr_max", snr_max),
                    ("snr_min", snr_min)):  # fmt: skip
        if not _is_num(v) or not (math.isfinite(v) and v > 0):
            raise ParameterError(f"{who}: {name} must be a finite number > 0, got {v!r}")
    _check(who, "weight_decay", weight_decay, 0.0, kind=float)
    for name, v in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not _is_num(v) or not 0.0 < v < 1.0:
            raise ParameterError(f"{who}: {name} must be a number in (0, 1), got {v!r}")
    gp = path if isinstance(path, GaussianPath) else None
    if gp is None:
        if not isinstance(path, str):
            raise ParameterError(f"{who}: path must be a GaussianPath or its kind, got {path!r}")
        gp = GaussianPath(path)
    alpha, sigma = float(gp.alpha(t)), float(gp.sigma(t))
    eval_every = max(1, steps // 15) if eval_every is None else eval_every
    _check(who, "eval_every", eval_every, 1)
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
        center = (H // 2, W // 2) if center is None else center
        if (
            not isinstance(center, tuple | list)
            or len(center) != 2
            or not all(_is_int(c) for c in center)
            or not (0 <= center[0] < H and 0 <= center[1] < W)
        ):
            raise ParameterError(f"{who}: center must be (row, col) inside {H}x{W}, got {center!r}")
        center = (int(center[0]), int(center[1]))
    centres, idx, dist = _geometry((H, W), bool(periodic), center, None)
    n_cols = {r: int((dist <= r).sum()) for r in radii_l}
    n_far = idx.shape[1]
    if any(n_cols[r] >= n_far for r in radii_l):
        raise ParameterError(f"{who}: the region C is empty for some radius in {radii_l}")

    # split by sample: test = the last test_fraction, validation = the last val_fraction of the rest
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * (n - n_test)))
    if n_test < 2 or n_val < 1 or n - n_test - n_val < 2:
        raise ParameterError(
            f"{who}: too few samples ({n}) for test_fraction={test_fraction} and "
            f"val_fraction={val_fraction}"
        )
    s_train = np.arange(n - n_test - n_val)
    s_val = np.arange(n - n_test - n_val, n - n_test)
    s_test = np.arange(n - n_test, n)
    V = len(centres)

    # standardised clean data: x' = (x - mu) / sd, so x_t = sd (alpha x' + (sigma/sd) z) + const
    mu = float(x[s_train].mean())
    sd = float(x[s_train].std())
    if not sd > 0:
        raise ParameterError(f"{who}: the training samples are constant")
    X0 = torch.from_numpy(((x.reshape(n, H * W) - mu) / sd).astype(np.float32))
    s_noise = sigma / sd
    snr_t = alpha * alpha / (s_noise * s_noise) if s_noise > 0 else math.inf
    idx_t = torch.from_numpy(idx.astype(np.int64))
    cen = torch.from_numpy(centres.astype(np.int64))
    xa_train = X0[torch.from_numpy(s_train)][:, cen].reshape(-1)
    m_A, v_A = float(xa_train.mean()), float(xa_train.var())
    if not v_A > 0:
        raise ParameterError(f"{who}: the value at A is constant in the training samples")
    in_scale = 1.0 / math.sqrt(alpha * alpha + s_noise * s_noise)  # unit-variance inputs

    lo = math.log(snr_min / v_A)
    hi = math.log(min(snr_t, snr_max)) if snr_t > 0 else -math.inf
    truncated = snr_t > snr_max
    base = {
        "t": float(t), "path": gp.to_dict(), "alpha": alpha, "sigma": sigma,
        "snr_t": alpha * alpha / (sigma * sigma) if sigma > 0 else math.inf,  # data units
        "log_u_range": [lo, hi], "truncated": bool(truncated), "snr_max": float(snr_max),
        "tail_bound_nats": 0.5 * snr_min, "periodic": bool(periodic),
        "center": list(center) if center is not None else None,
        "examples_per_sample": int(V), "n_train": int(len(s_train)), "n_val": int(len(s_val)),
        "n_test": int(n_test), "far_features": far_features, "hidden": int(hidden),
        "depth": int(depth), "steps": int(steps), "batch": int(batch), "n_nodes": int(n_nodes),
        "eval_draws": int(eval_draws),
        "standardisation": {"mean": mu, "scale": sd, "var_A": v_A},
        "stderr_note": "bootstrap over held-out samples; excludes the spread between training runs",
    }  # fmt: skip
    if not hi > lo:  # pure noise, or all of the integral inside the tail bound
        note = (
            "pure noise (snr_t = 0): I = 0 exactly"
            if snr_t == 0
            else f"snr_t below the integration range: |I| <= {0.5 * snr_min:g} nats, reported as 0"
        )
        return [
            CMIEstimate(
                value=0.0,
                stderr=0.0,
                method="immse",
                radius=r,
                n_samples=int(n),
                details={
                    **base,
                    "sites": {"B": n_cols[r], "C": n_far - n_cols[r]},
                    "note": note,
                },
            )  # fmt: skip
            for r in radii_l
        ]
    ell_nodes, w_nodes = _nodes(lo, hi, int(n_nodes))

    def run_radius(r: int) -> CMIEstimate:
        nb = n_cols[r]
        if far_features is None:
            k = n_far - nb
            F0 = fscale = None
        else:
            # k principal components of the clean far region (pooled over centres). The
            # noisy window's projection is alpha * (clean projection) + sigma * N(0, I_k),
            # because the principal axes are orthonormal: the clean projections F0 are
            # computed once and only k noise numbers are drawn per example.
            rows = min(len(s_train) * V, 20000)
            prng = np.random.default_rng([int(seed), r, 0xC0A])
            ss = torch.from_numpy(prng.choice(s_train, size=rows))
            vv = torch.from_numpy(prng.integers(0, V, size=rows))
            xc = X0[ss[:, None], idx_t[vv, nb:]].double()
            mc = xc.mean(dim=0)
            k = min(int(far_features), xc.shape[1])
            _, _, vt = torch.linalg.svd(xc - mc, full_matrices=False)
            Pc = vt[:k].T.float()
            F0 = torch.stack([(X0[:, idx_t[v, nb:]] - mc.float()) @ Pc for v in range(V)], 1)
            lam = ((xc - mc) @ vt[:k].T).var(dim=0).float()
            fscale = torch.rsqrt(alpha * alpha * lam + s_noise * s_noise)  # unit variance
        n_in = 1 + nb + k

        def shell_in(s, v, g, nb=nb):
            win = X0[s[:, None], idx_t[v, :nb]]
            return (alpha * win + s_noise * torch.randn(win.shape, generator=g)) * in_scale

        def far_in(s, v, g, nb=nb, F0=F0, fscale=fscale):
            if F0 is None:
                win = X0[s[:, None], idx_t[v, nb:]]
                return (alpha * win + s_noise * torch.randn(win.shape, generator=g)) * in_scale
            f = F0[s, v]
            return (alpha * f + s_noise * torch.randn(f.shape, generator=g)) * fscale

        def inputs(xa, ell, zp, shell, far):
            """Preconditioned inputs and the skip/out coefficients for the copy of A at
            log-snr ell with noise zp (Karras et al. 2022, sigma_data = the std at A)."""
            sig2 = torch.exp(-ell)
            c_in = torch.rsqrt(sig2 + v_A)
            c_skip = v_A / (sig2 + v_A)
            c_out = torch.sqrt(sig2 * v_A / (sig2 + v_A))
            ya = (xa - m_A) + torch.sqrt(sig2) * zp
            inp = torch.cat(((c_in * ya)[:, None], shell, far), dim=1)
            return inp, c_skip * ya, c_out

        def integrals(roles, s_ids, draws, tag, want_curve=False):
            """Per-sample integrals 1/2 sum_q w_q err_q for each (net, role) in ``roles``
            (role "far": C of the sample itself, "control": C of the next sample in
            ``s_ids``, a fixed derangement), with paired noise; and the per-node mean
            errors. Shapes (len(roles), len(s_ids)) and (len(roles), Q)."""
            g = torch.Generator().manual_seed(
                int(np.random.default_rng([int(seed), r, tag]).integers(2**62))
            )
            Q = len(ell_nodes)
            ell_q = torch.from_numpy(ell_nodes.astype(np.float32))
            w_q = torch.from_numpy(w_nodes)
            hats_q = _hats(ell_q, lo, hi)
            res = torch.zeros(len(roles), len(s_ids), dtype=torch.float64)
            curve = torch.zeros(len(roles), Q, dtype=torch.float64)
            per = max(1, _EVAL_ROWS // (V * Q))
            s_all = torch.from_numpy(s_ids)
            other = s_all.roll(1)
            with torch.no_grad():
                for _ in range(draws):
                    for a in range(0, len(s_ids), per):
                        s = s_all[a : a + per].repeat_interleave(V)
                        v = torch.arange(V).repeat(len(s) // V)
                        m = len(s)
                        xa = X0[s, cen[v]].repeat_interleave(Q)
                        shell = shell_in(s, v, g).repeat_interleave(Q, dim=0)
                        ell = ell_q.repeat(m)
                        zp = torch.randn(m * Q, generator=g)
                        hq = hats_q.repeat(m, 1)
                        for j, (net, role) in enumerate(roles):
                            so = s if role == "far" else other[a : a + per].repeat_interleave(V)
                            far = far_in(so, v, g).repeat_interleave(Q, dim=0)
                            inp, skip, c_out = inputs(xa, ell, zp, shell, far)
                            err = ((xa - m_A) - skip - c_out * net(inp, hq)) ** 2
                            err = err.double().view(m, Q)
                            if want_curve:
                                curve[j] += err.sum(dim=0)
                            contrib = 0.5 * (err * w_q[None]).sum(dim=1)
                            res[j, a : a + per] += contrib.view(-1, V).mean(dim=1)
            res /= draws
            curve /= draws * len(s_ids) * V
            return res.numpy(), curve.numpy()

        seed_r = np.random.default_rng([int(seed), r, 0x1A5E]).integers(2**62, size=3)
        st = torch.from_numpy(s_train)
        s_val_e = s_val[: max(2, (1 << 12) // V)]

        def fit(net, role, n_steps, rate, gseed):
            """AdamW on the preconditioned loss, early-stopped on the validation integral."""
            opt = torch.optim.AdamW(net.parameters(), lr=rate, weight_decay=weight_decay)
            g = torch.Generator().manual_seed(int(gseed))

            def batch_loss():
                net.train()
                s = st[torch.randint(0, len(st), (batch,), generator=g)]
                v = torch.randint(0, V, (batch,), generator=g)
                xa = X0[s, cen[v]]
                shell = shell_in(s, v, g)
                far = far_in(s if role == "far" else s.roll(1), v, g)
                ell = lo + (hi - lo) * torch.rand(batch, generator=g)
                zp = torch.randn(batch, generator=g)
                inp, skip, c_out = inputs(xa, ell, zp, shell, far)
                target = ((xa - m_A) - skip) / c_out
                return ((net(inp, _hats(ell, lo, hi)) - target) ** 2).mean()

            def val_loss():
                net.eval()
                return integrals([(net, role)], s_val_e, 1, 0x7A1)[0].mean(axis=1)

            every = max(1, min(eval_every, n_steps))
            best_val, best_step, snaps = _early_stopped_sgd(
                net, opt, n_steps, rate, every, val_loss, batch_loss
            )
            last = {k: v.clone() for k, v in net.state_dict().items()}  # the un-stopped net
            net.load_state_dict(snaps[int(best_step[0])])
            net.eval()
            return {"val_integral": float(best_val[0]), "best_step": int(best_step[0])}, last

        # stage 1: the common start, a denoiser whose far inputs belong to another sample;
        # from the previous (smaller) radius' start when there is one, its new shell inputs
        # at zero weight, so it begins as that denoiser and early stopping keeps it no worse
        torch.manual_seed(int(seed_r[0]))
        start = Net(n_in, hidden, depth)
        if starts:
            nb_prev, prev = starts[-1]
            _grow(prev, start, 1 + nb_prev)
        hist = {"common_start": fit(start, "control", steps, lr, seed_r[1])[0]}
        hist["common_start"]["from_radius"] = radii_u[len(starts) - 1] if starts else None
        starts.append((nb, start))
        # stage 2: two copies fine-tuned on the same minibatches; only the far copy sees the
        # far inputs of its own sample, so their difference is what C adds about A
        nets, last = [], []
        for role in ("far", "control"):
            net = Net(n_in, hidden, depth)
            net.load_state_dict(start.state_dict())
            hist[role], state = fit(net, role, finetune_steps, finetune_lr, seed_r[2])
            nets.append(net)
            last.append(state)

        roles = [(nets[0], "far"), (nets[1], "control")]
        te, curve = integrals(roles, s_test, eval_draws, 0x7E57, want_curve=True)
        n_tr_eval = min(len(s_train), max(n_test, 64))
        tr, _ = integrals(roles, s_train[:n_tr_eval], 1, 0x7A2)
        diff = te[1] - te[0]  # control minus far: the CMI integrand summed
        value, stderr, n_units = _bootstrap(diff, s_test, n_boot, seed)
        resolution = None
        if not np.any(diff):
            # Both copies kept the common start (neither fine-tune beat it on validation) and
            # the start ignores the far inputs (grown from a smaller radius, its new inputs at
            # zero weight): the paired difference is identically 0 and so is its bootstrap
            # error. The value (no information detected) stands; its error is the estimator's
            # resolution, the bootstrap error of the un-stopped fine-tunes' difference.
            for net, state in zip(nets, last, strict=True):
                net.load_state_dict(state)
                net.eval()
            te_last, _ = integrals(roles, s_test, eval_draws, 0x7E57)
            _, stderr, _ = _bootstrap(te_last[1] - te_last[0], s_test, n_boot, seed)
            resolution = (
                "far and control copies gave identical outputs (both stopped at a start that "
                "ignores C): value 0, stderr = the bootstrap error of the un-stopped copies' "
                "difference (the estimator's resolution)"
            )
        in_s, in_se, _ = _bootstrap(tr[1] - tr[0], s_train[:n_tr_eval], n_boot, seed)
        return CMIEstimate(
            value=value, stderr=stderr, method="immse", radius=r, n_samples=int(n),
            details={
                **base,
                "sites": {"B": nb, "C": n_far - nb},
                "far_inputs": int(k),
                "value_in_sample": in_s,
                "value_in_sample_stderr": in_se,
                "log_u_nodes": ell_nodes.tolist(),
                "mmse_far": curve[0].tolist(),
                "mmse_control": curve[1].tolist(),
                "training": hist,
                "bootstrap_units": int(n_units),
                **({"note": resolution} if resolution else {}),
                "seconds": time.perf_counter() - t_start,
            },
        )  # fmt: skip

    Net = _net_class()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        radii_u = sorted(set(radii_l))  # increasing: each start grows from the previous one
        starts: list = []
        by_r = {r: run_radius(r) for r in radii_u}
        out = [by_r[r] for r in radii_l]
    finally:
        torch.set_num_threads(old_threads)
    return out


def immse_cmi(samples, *, radius: int, **kwargs) -> CMIEstimate:
    """:func:`immse_cmi_profile` at one radius (all its options apply; ``t`` is required).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((100, 1, 5, 5))
    >>> e = immse_cmi(x, radius=1, t=1.0)   # pure noise on the linear path: exactly 0
    >>> e.value, e.stderr, e.details["note"]
    (0.0, 0.0, 'pure noise (snr_t = 0): I = 0 exactly')
    """
    if "radii" in kwargs:
        raise ParameterError("immse_cmi: pass radius=..., not radii (see immse_cmi_profile)")
    if "t" not in kwargs:
        raise ParameterError("immse_cmi: t (the time on the Gaussian path) is required")
    return immse_cmi_profile(samples, radii=[radius], **kwargs)[0]
