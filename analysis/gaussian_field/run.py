"""The massive Gaussian free field as an exact benchmark (issue 6, item 2).

Data: ``GaussianField(L=32, mass)`` for mass in {1.0, 0.1} (0.1 is near-critical: the
correlation length ~1/m = 10 is a third of L; the finite-size effect on the CMI is measured
against L = 64), noised on the ``linear`` path ``x_t = (1-t) x_0 + t z`` and the ``vp`` path.
A = one site, B = the L-infinity shell ``0 < d <= r``, C = the rest of the torus. Five parts:

1. ``sampler``: the FFT sampler against the exact covariance: per-sample translation averages
   of ``x(i) x(i + d)`` for every lag d, their mean over n samples, the standard error over
   samples, and the z-score against ``GaussianField.correlation``.
2. ``exact``: ``I_t(A:C|B)`` on a fine t grid, r = 1..8, both masses and paths; the Markov
   length ``xi(t)`` fitted to the r-decay (``fit_markov_length`` on the resolved radii >= 2),
   the local decay length from the two largest resolved radii, and the asymptotic prediction
   ``xi_inf = 1 / (2 kappa)``, ``cosh kappa = 1 + M^2/2``, ``M^2 = m^2 + alpha^2/sigma^2``
   (``Sigma_t^{-1}`` is a lattice Green function of mass M; the CMI is quadratic in the
   coupling across the shell). Finite-size check: the same CMIs at L = 64.
3. ``bound``: the locality-gap bound ``Delta_loc^2 <= 4 sqrt(I) / sigma^2`` (m_A = 1)
   evaluated exactly (``GaussianField.locality_bound``) at every (mass, path, t, r) of the grid.
4. ``neural``: ``neural_cmi_continuous_profile`` (linear-Gaussian conditionals, far window of
   radius R) against the exact ``I(r) - I(R)`` (``exact_cmi(..., far_radius=R)``): z-scores.
5. ``denoiser``: ``LocalDenoiser`` (x_0 prediction, MSE, ``train_denoiser``) at fixed t and one
   model along the path: held-out MSE per t against ``optimal_mse(t, r)``, with the standard
   error over samples and the paired excess over the exact optimal local denoiser
   (``optimal_denoise``) on the same noisy inputs.

Usage::

    python analysis/gaussian_field/run.py            # full plan, ~6-9 min on 1 CPU thread
    python analysis/gaussian_field/run.py --quick    # smoke run, ~1-2 min

Writes ``out/results.json`` and the figures ``out/*.png`` (``--out`` to change the folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
MASSES = (1.0, 0.1)
PATHS = ("linear", "vp")
BOUND_CAP = 0.2256  # max over I of (1 - exp(-2I)) / (4 sqrt I)
RES_FLOOR = 1e-27  # below this the quadratic forms are rounding noise (~1e-30)

PLANS = {
    "full": dict(
        L=32,
        L_big=64,
        radii=list(range(1, 9)),
        t_linear=[round(0.01 * k, 2) for k in range(1, 100)],
        t_vp=np.geomspace(0.005, 4.0, 60).tolist(),
        sampler_n=4000,
        neural=[
            # (mass, t, radii, far_radius, n_samples, steps, lr); batch 8192
            (0.1, 0.3, [1, 2, 3], 4, 3000, 2000, 0.01),
            (0.1, 0.6, [1, 2, 3], 4, 3000, 2000, 0.01),
            (1.0, 0.4, [1, 2], 3, 3000, 2000, 0.003),
        ],
        neural_batch=8192,
        den_L=16,
        den_fixed=[(1.0, 0.5, 1), (0.1, 0.5, 1), (0.1, 0.5, 2), (0.1, 0.7, 2), (0.1, 0.8, 3)],
        den_steps=(600, 300, 150),
        den_train_n=3000,
        den_test_n=2000,
        den_path=dict(mass=0.1, r=2, hidden=16, steps=(1200, 600, 300), t_range=(0.1, 0.9)),
        den_path_ts=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    ),
    "quick": dict(
        L=32,
        L_big=64,
        radii=list(range(1, 9)),
        t_linear=[0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95],
        t_vp=[0.01, 0.1, 0.5, 1.0, 3.0],
        sampler_n=500,
        neural=[(0.1, 0.5, [1, 2], 3, 600, 300, 0.01)],
        neural_batch=2048,
        den_L=12,
        den_fixed=[(0.1, 0.7, 2)],
        den_steps=(200, 100, 50),
        den_train_n=800,
        den_test_n=400,
        den_path=dict(mass=0.1, r=1, hidden=16, steps=(200, 100, 50), t_range=(0.1, 0.9)),
        den_path_ts=[0.3, 0.6],
    ),
}


def _clean(obj):
    """JSON-able: NaN -> None, inf -> "inf", numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return obj


def _path(kind):
    from latticediff.noise import GaussianPath

    return GaussianPath(kind)


# ----------------------------------------------------------------------------------------------
# 1. sampler against the exact covariance


def part_sampler(plan, seed):
    from latticediff.exact.gaussian_field import GaussianField

    L, n = plan["L"], plan["sampler_n"]
    out = {}
    named = [(0, 0), (0, 1), (1, 1), (0, 2), (2, 3), (0, 4), (0, 8), (5, 7), (0, L // 2)]
    for mass in MASSES:
        g = GaussianField(L, mass)
        x = g.sample(n, seed=[seed, 1, int(mass * 1000)])[:, 0]
        f = np.fft.fft2(x)
        # per-sample translation average of x(i) x(i + d), every lag d at once
        ac = np.fft.ifft2(np.abs(f) ** 2).real / (L * L)
        mean = ac.mean(axis=0)
        se = ac.std(axis=0, ddof=1) / math.sqrt(n)
        C = g.correlation()
        z = (mean - C) / se
        # ac(d) = ac(-d): count each lag pair once
        dy, dx = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
        uniq = (dy * L + dx) <= (((-dy) % L) * L + (-dx) % L)
        zu = z[uniq]
        # per-mode power |FFT x|^2 / L^2 against 1/lambda(k): independent across modes (k ~ -k)
        pw = np.abs(f) ** 2 / (L * L)
        zm = (pw.mean(axis=0) - 1.0 / g.eigenvalues) / (pw.std(axis=0, ddof=1) / math.sqrt(n))
        zmu = zm[uniq]
        out[str(mass)] = {
            "n_samples": n,
            "n_lags_independent": int(uniq.sum()),
            "max_abs_z": float(np.abs(zu).max()),
            "argmax_lag": [int(v) for v in np.unravel_index(np.abs(z).argmax(), z.shape)],
            "frac_abs_z_gt_2": float((np.abs(zu) > 2).mean()),
            "frac_abs_z_gt_3": float((np.abs(zu) > 3).mean()),
            "chi2_per_lag": float((zu**2).mean()),
            "mean_z_over_lags": float(zu.mean()),
            "modes": {
                "n_modes_independent": int(uniq.sum()),
                "max_abs_z": float(np.abs(zmu).max()),
                "frac_abs_z_gt_3": float((np.abs(zmu) > 3).mean()),
                "chi2_per_mode": float((zmu**2).mean()),
            },
            "expected_max_abs_z_iid": float(
                # median of the max of k independent |N(0,1)|
                _median_max_abs_normal(int(uniq.sum()))
            ),
            "named_lags": [
                {
                    "lag": [a, b],
                    "exact": float(C[a, b]),
                    "sampled": float(mean[a, b]),
                    "stderr": float(se[a, b]),
                    "z": float(z[a, b]),
                }
                for a, b in named
            ],
            "_profile": {
                "d": list(range(L // 2 + 1)),
                "exact": C[0, : L // 2 + 1].tolist(),
                "sampled": mean[0, : L // 2 + 1].tolist(),
                "stderr": se[0, : L // 2 + 1].tolist(),
            },
        }
    return out


def _median_max_abs_normal(k):
    from scipy.special import ndtri

    # P(max |Z| <= z) = (2 Phi(z) - 1)^k = 1/2
    return float(ndtri(0.5 * (1.0 + 0.5 ** (1.0 / k))))


# ----------------------------------------------------------------------------------------------
# 2. + 3. exact CMI, Markov length, locality-gap bound


def _xi_inf(mass, t, kind):
    p = _path(kind)
    a, s = float(p.alpha(t)), float(p.sigma(t))
    M2 = mass**2 + (a / s) ** 2
    return 1.0 / (2.0 * math.acosh(1.0 + M2 / 2.0))


def part_exact_and_bound(plan):
    from latticediff.exact.gaussian_field import GaussianField
    from latticediff.info.markov import fit_markov_length

    L, radii = plan["L"], plan["radii"]
    grids = {"linear": plan["t_linear"], "vp": plan["t_vp"]}
    res = {}
    for mass in MASSES:
        g = GaussianField(L, mass)
        gb = GaussianField(plan["L_big"], mass)
        for kind, ts in grids.items():
            rows = []
            for t in ts:
                bs = [g.locality_bound(t, r, kind) for r in radii]
                cmi = np.array([b.cmi for b in bs])
                gap = np.array([b.gap_sq for b in bs])
                ident = np.array([b.gap_sq_identity for b in bs])
                resolved = (cmi > RES_FLOOR) & (np.abs(gap - ident) <= 1e-6 * gap)
                # Markov length: resolved radii >= 2, contiguous from 2
                rr = [r for r, ok in zip(radii, resolved, strict=True) if ok and r >= 2]
                fit = None
                if len(rr) >= 2:
                    vals = np.array([cmi[radii.index(r)] for r in rr])
                    fit = fit_markov_length(rr, vals, np.zeros(len(rr)), window=(rr[0], rr[-1]))
                xi_local = math.nan
                if len(rr) >= 2:
                    i1, i2 = radii.index(rr[-2]), radii.index(rr[-1])
                    xi_local = (rr[-1] - rr[-2]) / math.log(cmi[i1] / cmi[i2])
                # finite size: L = 64 against L = 32 (where resolved), and xi at L = 64
                cmi_big = np.array([gb.locality_bound(t, r, kind).cmi for r in radii])
                fs = [abs(cb / c - 1.0) for c, cb in zip(cmi, cmi_big, strict=True) if c > 1e-11]
                xi_big = math.nan
                if len(rr) >= 2:
                    vb = np.array([cmi_big[radii.index(r)] for r in rr])
                    xi_big = fit_markov_length(rr, vb, np.zeros(len(rr)), window=(rr[0], rr[-1])).xi
                rows.append(
                    {
                        "t": float(t),
                        "cmi": cmi.tolist(),
                        "cmi_logratio": [g.exact_cmi(t, r, kind) for r in radii],
                        "resolved": resolved.tolist(),
                        "gap_sq": gap.tolist(),
                        "bound": [b.bound for b in bs],
                        "ratio": [b.ratio for b in bs],
                        "holds": [b.holds for b in bs],
                        "sigma2_over_var_bc": [b.sigma**2 / b.var_given_bc for b in bs],
                        "identity_rel_mismatch": (np.abs(gap - ident) / gap).tolist(),
                        "xi_fit": fit.xi if fit is not None else math.nan,
                        "xi_fit_stderr": fit.xi_stderr if fit is not None else math.nan,
                        "xi_fit_window": list(fit.window) if fit is not None else [],
                        "xi_local": xi_local,
                        "xi_inf": _xi_inf(mass, t, kind),
                        "finite_size_max_rel_diff_L64": max(fs) if fs else math.nan,
                        "cmi_L64": cmi_big.tolist(),
                        "xi_fit_L64": xi_big,
                    }
                )
            res[f"{mass}/{kind}"] = {"mass": mass, "path": kind, "radii": radii, "rows": rows}
    return res


def summarize_bound(exact):
    n = n_res = 0
    fails = []
    max_ratio = (-1.0, None)
    max_ratio_res = (-1.0, None)
    min_margin = math.inf
    for key, blk in exact.items():
        for row in blk["rows"]:
            for i, r in enumerate(blk["radii"]):
                n += 1
                ratio = row["ratio"][i]
                where = {"case": key, "t": row["t"], "r": r}
                if not row["holds"][i]:
                    fails.append({**where, "gap_sq": row["gap_sq"][i], "bound": row["bound"][i]})
                if ratio is not None and not math.isnan(ratio):
                    if ratio > max_ratio[0]:
                        max_ratio = (ratio, where)
                    if row["resolved"][i]:
                        n_res += 1
                        min_margin = min(min_margin, 1.0 - ratio)
                        if ratio > max_ratio_res[0]:
                            max_ratio_res = (ratio, where)
    return {
        "n_points": n,
        "n_resolved": n_res,
        "holds_everywhere": not fails,
        "violations": fails,
        "max_ratio": max_ratio[0],
        "max_ratio_at": max_ratio[1],
        "max_ratio_resolved": max_ratio_res[0],
        "max_ratio_resolved_at": max_ratio_res[1],
        "min_margin_resolved": min_margin,
        "analytic_cap": BOUND_CAP,
        "note": "ratio = gap_sq / bound; 'resolved' = CMI > 1e-27 and the two computations of "
        "the gap (quadratic form; (1 - e^{-2I}) / Var(x_A|x_BC)) agree to 1e-6. Unresolved "
        "points are rounding noise on both sides; there the bound holds by the identity.",
    }


def tables(exact, plan):
    """CMI table on a coarse t subset (for the README) and xi(t)."""
    pick = {"linear": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9], "vp": [0.01, 0.1, 0.5, 1.0, 3.0]}
    out = {}
    for key, blk in exact.items():
        rows = blk["rows"]
        ts = np.array([row["t"] for row in rows])
        sel = []
        for t in pick[blk["path"]]:
            i = int(np.abs(ts - t).argmin())
            if i not in sel:
                sel.append(i)
        out[key] = [
            {
                "t": rows[i]["t"],
                "cmi": rows[i]["cmi"],
                "xi_fit": rows[i]["xi_fit"],
                "xi_fit_L64": rows[i]["xi_fit_L64"],
                "xi_local": rows[i]["xi_local"],
                "xi_inf": rows[i]["xi_inf"],
            }
            for i in sel
        ]
    return out


# ----------------------------------------------------------------------------------------------
# 4. neural CMI estimator against the exact values


#: How the linear-Gaussian conditionals are fitted: "lstsq" = their exact maximum-likelihood
#: fit (no optimiser noise), "sgd" = AdamW as for every other model (the optimiser's noise floor
#: shows where the CMI is ~1e-5 nats).
FITS = ("lstsq", "sgd")


def part_neural(plan, seed):
    from latticediff.exact.gaussian_field import GaussianField
    from latticediff.info.neural_continuous import neural_cmi_continuous_profile

    L = plan["L"]
    out = []
    for k, (mass, t, radii, R, n, steps, lr) in enumerate(plan["neural"]):
        g = GaussianField(L, mass)
        p = _path("linear")
        x0 = g.sample(n, seed=[seed, 4, k])
        xt, _ = p.sample(x0, t, np.random.default_rng([seed, 5, k]))
        for fit in FITS:
            t0 = time.perf_counter()
            es = neural_cmi_continuous_profile(
                xt, radii=radii, far_radius=R, depth=0, n_components=1, lr=lr, fit=fit,
                batch=plan["neural_batch"], steps=steps, eval_every=steps, threads=1, seed=seed,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            for e in es:
                exact = g.exact_cmi(t, e.radius, p, far_radius=R)
                fit_bias = e.details["value_mean_in_out"] - e.value
                out.append(
                    {
                        "fit": fit,
                        "mass": mass,
                        "t": t,
                        "r": e.radius,
                        "far_radius": R,
                        "exact": exact,
                        "exact_full_C": g.exact_cmi(t, e.radius, p),
                        "estimate": e.value,
                        "stderr": e.stderr,
                        "z": (e.value - exact) / e.stderr,
                        "within_3_sigma": abs(e.value - exact) < 3 * e.stderr,
                        "estimate_mean_in_out": e.details["value_mean_in_out"],
                        "fit_bias_estimate": fit_bias,
                        "z_with_fit_bias": (e.value - exact) / math.hypot(e.stderr, fit_bias),
                        "n_samples": n,
                        "n_train": e.details["n_train"],
                        "n_test": e.details["n_test"],
                        "steps": steps if fit == "sgd" else None,
                        "lr": lr if fit == "sgd" else None,
                        "batch": plan["neural_batch"] if fit == "sgd" else None,
                        "seconds_profile": wall,
                    }
                )
            print(f"  neural m={mass} t={t} fit={fit}: {wall:.0f}s", flush=True)
    return out


# ----------------------------------------------------------------------------------------------
# 5. trained local denoisers against the exact radius-r optimum


def _train(net, data, path, t_sampler, steps, seed):
    from latticediff.nn import train_denoiser

    lrs = (3e-3, 1e-3, 1e-4)  # constant-lr phases: train_denoiser has no lr schedule
    wall = 0.0
    for k, (st, lr) in enumerate(zip(steps, lrs, strict=True)):
        h = train_denoiser(
            net, data, path, steps=int(st), batch_size=32, lr=lr, t_sampler=t_sampler,
            seed=seed * 10 + k, weight_decay=0.0, progress=False,
        )  # fmt: skip
        wall += h.wall_s
    return wall


def _evaluate(net, g, path, t, r, n, seed):
    import torch

    x0 = g.sample(n, seed=[seed, 7, int(1000 * t)])
    xt, _ = path.sample(x0, t, np.random.default_rng([seed, 8, int(1000 * t)]))
    cond = None
    if net.embed is not None:
        cond = torch.full((n,), float(path.time_feature(t)))
    with torch.no_grad():
        pred = net(torch.from_numpy(xt.astype(np.float32)), cond).double().numpy()
    e_net = ((pred - x0) ** 2).reshape(n, -1).mean(axis=1)
    e_opt = ((g.optimal_denoise(xt, t, r, path) - x0) ** 2).reshape(n, -1).mean(axis=1)
    opt = g.optimal_mse(t, r, path)
    d = (e_net - e_opt) / opt
    rel = e_net.mean() / opt - 1.0
    rel_se = e_net.std(ddof=1) / math.sqrt(n) / opt
    return {
        "t": t,
        "r": r,
        "mse": float(e_net.mean()),
        "mse_stderr": float(e_net.std(ddof=1) / math.sqrt(n)),
        "optimal_mse": opt,
        "optimal_mse_r_minus_1": g.optimal_mse(t, r - 1, path) if r > 0 else math.nan,
        "optimal_mse_global": g.optimal_mse(t, None, path),
        "ratio_minus_1": rel,
        "ratio_minus_1_stderr": rel_se,
        "within_2pct": abs(rel) < 0.02 + 3 * rel_se,
        "paired_excess": float(d.mean()),
        "paired_excess_stderr": float(d.std(ddof=1) / math.sqrt(n)),
        "mc_optimal_ratio_minus_1": float(e_opt.mean() / opt - 1.0),
        "n_test": n,
    }


def part_denoiser(plan, seed):
    import torch

    from latticediff.exact.gaussian_field import GaussianField
    from latticediff.nn import LocalDenoiser

    torch.set_num_threads(1)
    path = _path("linear")
    L = plan["den_L"]
    fixed = []
    for k, (mass, t, r) in enumerate(plan["den_fixed"]):
        g = GaussianField(L, mass)
        data = g.sample(plan["den_train_n"], seed=[seed, 6, k]).astype(np.float32)
        net = LocalDenoiser(
            r, 1, 1, hidden=16, depth=2, t_embedding=None, prediction="x0", seed=seed
        )
        wall = _train(net, data, path, t, plan["den_steps"], seed)
        ev = _evaluate(net, g, path, t, r, plan["den_test_n"], seed)
        fixed.append(
            {"mass": mass, "L": L, **ev, "train_seconds": wall, "n_params": net.n_params()}
        )
        print(f"  denoiser fixed m={mass} t={t} r={r}: {wall:.0f}s", flush=True)
    cfg = plan["den_path"]
    g = GaussianField(L, cfg["mass"])
    data = g.sample(plan["den_train_n"], seed=[seed, 6, 99]).astype(np.float32)
    net = LocalDenoiser(cfg["r"], 1, 1, hidden=cfg["hidden"], depth=2, prediction="x0", seed=seed)
    lo, hi = cfg["t_range"]

    def t_sampler(rng, n):
        return rng.uniform(lo, hi, n)

    wall = _train(net, data, path, t_sampler, cfg["steps"], seed + 1)
    along = [
        _evaluate(net, g, path, t, cfg["r"], plan["den_test_n"], seed) for t in plan["den_path_ts"]
    ]
    print(f"  denoiser along the path: {wall:.0f}s", flush=True)
    return {
        "fixed_t": fixed,
        "along_path": {
            "mass": cfg["mass"],
            "r": cfg["r"],
            "L": L,
            "hidden": cfg["hidden"],
            "t_train_range": [lo, hi],
            "train_seconds": wall,
            "n_params": net.n_params(),
            "per_t": along,
        },
        "architecture": "LocalDenoiser(hidden=16 (path model: see along_path), depth=2, "
        "spatial_layers=1), x0 prediction, MSE; train_denoiser with AdamW phases "
        "lr 3e-3 / 1e-3 / 1e-4, batch 32, weight_decay 0",
    }


# ----------------------------------------------------------------------------------------------
# figures


def figures(res, outdir: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exact = res["exact"]
    cmap = plt.get_cmap("viridis")

    # CMI vs t, log scale
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for i, mass in enumerate(MASSES):
        for j, kind in enumerate(PATHS):
            ax = axes[i, j]
            blk = exact[f"{mass}/{kind}"]
            ts = np.array([row["t"] for row in blk["rows"]])
            for k, r in enumerate(blk["radii"]):
                c = np.array([row["cmi"][k] for row in blk["rows"]])
                ok = np.array([row["resolved"][k] for row in blk["rows"]])
                c = np.where(ok, c, np.nan)
                ax.semilogy(ts, c, color=cmap(k / max(1, len(blk["radii"]) - 1)), label=f"r={r}")
            for e in res["neural"]:
                if kind == "linear" and e["mass"] == mass and e["fit"] == "lstsq":
                    full = e["exact_full_C"]
                    # the estimator measures I(r) - I(R); shift by I(R) to plot on the I(r) curve
                    y = e["estimate"] + (full - e["exact"])
                    ax.errorbar(e["t"], y, yerr=e["stderr"], fmt="o", color="red", ms=4, capsize=2)
            if kind == "vp":
                ax.set_xscale("log")
            ax.set_ylim(1e-20, 1)
            ax.set_xlabel("t" + (" (vp)" if kind == "vp" else " (linear)"))
            ax.set_ylabel("I(A:C|B) [nats]")
            ax.set_title(f"m = {mass}, {kind} path, L = {res['plan']['L']}")
            ax.grid(alpha=0.3, which="both")
            if i == 0 and j == 0:
                ax.legend(fontsize=8, ncol=2)
    label = "red: neural estimates (fit=lstsq) (r, t) ± 1σ"
    axes[0, 0].text(0.02, 0.02, label, transform=axes[0, 0].transAxes, fontsize=8)
    fig.savefig(outdir / "cmi_vs_t.png", dpi=120)
    plt.close(fig)

    # Markov length
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for j, kind in enumerate(PATHS):
        ax = axes[j]
        for mass, col in zip(MASSES, ("C0", "C3"), strict=True):
            rows = exact[f"{mass}/{kind}"]["rows"]
            ts = np.array([row["t"] for row in rows])
            ax.plot(ts, [row["xi_fit"] for row in rows], "-", color=col, label=f"m={mass}: fit r≥2")
            ax.plot(
                ts, [row["xi_local"] for row in rows], "--", color=col, label=f"m={mass}: local"
            )
            ax.plot(ts, [row["xi_inf"] for row in rows], ":", color=col, label=f"m={mass}: 1/(2κ)")
            ax.plot(
                ts, [row["xi_fit_L64"] for row in rows], "-.", color=col, lw=0.8,
                label=f"m={mass}: fit r≥2, L={res['plan']['L_big']}",
            )  # fmt: skip
        if kind == "vp":
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"t ({kind})")
        ax.set_ylabel("Markov length ξ(t)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.savefig(outdir / "markov_length.png", dpi=120)
    plt.close(fig)

    # locality bound ratio
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for i, mass in enumerate(MASSES):
        for j, kind in enumerate(PATHS):
            ax = axes[i, j]
            blk = exact[f"{mass}/{kind}"]
            ts = np.array([row["t"] for row in blk["rows"]])
            for k, r in enumerate(blk["radii"]):
                y = np.array(
                    [row["ratio"][k] if row["resolved"][k] else np.nan for row in blk["rows"]],
                    dtype=float,
                )
                ax.semilogy(ts, y, color=cmap(k / max(1, len(blk["radii"]) - 1)), label=f"r={r}")
            ax.axhline(1.0, color="k", lw=1, label="bound (ratio 1)")
            ax.axhline(BOUND_CAP, color="gray", ls="--", lw=1, label="Gaussian cap 0.2256")
            if kind == "vp":
                ax.set_xscale("log")
            ax.set_ylim(1e-16, 2)
            ax.set_xlabel(f"t ({kind})")
            ax.set_ylabel("Δ_loc² / (4 √I / σ²)")
            ax.set_title(f"locality-gap bound, m = {mass}, {kind}")
            ax.grid(alpha=0.3, which="both")
            if i == 0 and j == 0:
                ax.legend(fontsize=7, ncol=2)
    fig.savefig(outdir / "locality_bound.png", dpi=120)
    plt.close(fig)

    # neural estimates and denoisers
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    ax = axes[0]
    for j, fit in enumerate(FITS):
        pts = [e for e in res["neural"] if e["fit"] == fit]
        for k, e in enumerate(pts):
            col = "C0" if e["mass"] == 1.0 else "C3"
            ax.errorbar(k + 0.15 * (2 * j - 1), e["z"], yerr=1.0, fmt="os"[j], color=col,
                        mfc="none" if fit == "sgd" else col,
                        label=f"fit={fit}" if k == 0 else None)  # fmt: skip
    ax.legend(fontsize=7)
    ax.set_xticks(range(len(pts)))
    ax.set_xticklabels(
        [f"m={e['mass']} t={e['t']} r={e['r']}" for e in pts], rotation=60, fontsize=7
    )
    ax.axhspan(-3, 3, color="green", alpha=0.1)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("z = (neural - exact) / stderr")
    ax.set_title("neural CMI vs exact I(r) - I(R)")
    ax = axes[1]
    fx = res["denoiser"]["fixed_t"]
    for k, d in enumerate(fx):
        ax.errorbar(k, 100 * d["ratio_minus_1"], yerr=100 * d["ratio_minus_1_stderr"], fmt="o",
                    color="C0", label="MSE/opt - 1" if k == 0 else None)  # fmt: skip
        ax.errorbar(k + 0.15, 100 * d["paired_excess"], yerr=100 * d["paired_excess_stderr"],
                    fmt="s", color="C2", label="paired excess" if k == 0 else None)  # fmt: skip
        gap = 100 * (d["optimal_mse_r_minus_1"] / d["optimal_mse"] - 1)
        ax.plot(k, gap, "x", color="gray", label="opt(r-1)/opt(r) - 1" if k == 0 else None)
    ax.set_xticks(range(len(fx)))
    ax.set_xticklabels(
        [f"m={d['mass']} t={d['t']} r={d['r']}" for d in fx], rotation=60, fontsize=7
    )
    ax.axhspan(-2, 2, color="green", alpha=0.1)
    ax.set_ylabel("%")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title("fixed-t local denoisers vs optimal_mse(t, r)")
    ax.legend(fontsize=7)
    ax = axes[2]
    ap = res["denoiser"]["along_path"]
    ts = [d["t"] for d in ap["per_t"]]
    ax.errorbar(ts, [100 * d["ratio_minus_1"] for d in ap["per_t"]],
                yerr=[100 * d["ratio_minus_1_stderr"] for d in ap["per_t"]], fmt="o-",
                label="MSE/opt - 1")  # fmt: skip
    ax.errorbar(ts, [100 * d["paired_excess"] for d in ap["per_t"]],
                yerr=[100 * d["paired_excess_stderr"] for d in ap["per_t"]], fmt="s-",
                label="paired excess")  # fmt: skip
    ax.plot(ts, [100 * (d["optimal_mse_r_minus_1"] / d["optimal_mse"] - 1) for d in ap["per_t"]],
            "x:", color="gray", label="opt(r-1)/opt(r) - 1")  # fmt: skip
    ax.axhspan(-2, 2, color="green", alpha=0.1)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("t (linear)")
    ax.set_ylabel("%")
    ax.set_title(f"one model along the path (m={ap['mass']}, r={ap['r']}, L={ap['L']})")
    ax.legend(fontsize=7)
    fig.savefig(outdir / "neural_and_denoisers.png", dpi=120)
    plt.close(fig)

    # sampler covariance along the axis
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for mass, col in zip(MASSES, ("C0", "C3"), strict=True):
        p = res["sampler"][str(mass)]["_profile"]
        ax.plot(p["d"], p["exact"], "-", color=col, label=f"exact m={mass}")
        ax.errorbar(p["d"], p["sampled"], yerr=p["stderr"], fmt="o", ms=3, color=col,
                    label=f"sampled (n={res['sampler'][str(mass)]['n_samples']})")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("lag d along an axis")
    ax.set_ylabel("C(0, d)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.savefig(outdir / "sampler_covariance.png", dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (~1-2 min)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "out"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    plan_name = "quick" if args.quick else "full"
    plan = PLANS[plan_name]
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    timing = {}
    res = {"plan_name": plan_name, "plan": plan, "seed": args.seed}

    t0 = time.perf_counter()
    res["sampler"] = part_sampler(plan, args.seed)
    timing["sampler"] = time.perf_counter() - t0
    print(f"sampler: {timing['sampler']:.0f}s", flush=True)

    t0 = time.perf_counter()
    res["exact"] = part_exact_and_bound(plan)
    res["bound_summary"] = summarize_bound(res["exact"])
    res["cmi_table"] = tables(res["exact"], plan)
    fs = [
        row["finite_size_max_rel_diff_L64"]
        for blk in res["exact"].values()
        for row in blk["rows"]
        if row["finite_size_max_rel_diff_L64"] == row["finite_size_max_rel_diff_L64"]
    ]
    res["finite_size"] = {
        f"{mass}/{kind}": max(
            (
                row["finite_size_max_rel_diff_L64"]
                for row in res["exact"][f"{mass}/{kind}"]["rows"]
                if row["finite_size_max_rel_diff_L64"] == row["finite_size_max_rel_diff_L64"]
            ),
            default=math.nan,
        )
        for mass in MASSES
        for kind in PATHS
    }
    res["finite_size"]["note"] = (
        "max over the grid (CMI > 1e-11) of |I_L64 / I_L32 - 1|; 1/m = 1 and 10 vs L = 32"
    )
    timing["exact_and_bound"] = time.perf_counter() - t0
    print(f"exact + bound: {timing['exact_and_bound']:.0f}s (max fs {max(fs):.2e})", flush=True)

    t0 = time.perf_counter()
    res["neural"] = part_neural(plan, args.seed)
    timing["neural"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    res["denoiser"] = part_denoiser(plan, args.seed)
    timing["denoiser"] = time.perf_counter() - t0

    res["headline"] = {
        "sampler_max_abs_z": {m: res["sampler"][m]["max_abs_z"] for m in res["sampler"]},
        "sampler_modes_max_abs_z": {
            m: res["sampler"][m]["modes"]["max_abs_z"] for m in res["sampler"]
        },
        "bound_holds_everywhere": res["bound_summary"]["holds_everywhere"],
        "bound_max_ratio": res["bound_summary"]["max_ratio"],
        **{
            f"neural_{fit}_{key}": fn([e for e in res["neural"] if e["fit"] == fit])
            for fit in FITS
            for key, fn in (
                ("max_abs_z", lambda es: max(abs(e["z"]) for e in es)),
                ("n_within_3_sigma", lambda es: sum(e["within_3_sigma"] for e in es)),
                ("n_points", len),
            )
        },
        "denoiser_fixed_max_abs_ratio_minus_1": max(
            abs(d["ratio_minus_1"]) for d in res["denoiser"]["fixed_t"]
        ),
        "denoiser_fixed_max_paired_excess": max(
            d["paired_excess"] for d in res["denoiser"]["fixed_t"]
        ),
    }
    timing["total"] = time.perf_counter() - t_all
    res["timing_s"] = timing
    res["threads"] = {"torch": torch.get_num_threads(), "OMP": os.environ.get("OMP_NUM_THREADS")}
    figures(res, outdir)
    tmp = outdir / "results.json.tmp"
    tmp.write_text(json.dumps(_clean(res), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / "results.json")
    print(json.dumps(_clean(res["headline"]), indent=1))
    print(f"total {timing['total']:.0f}s -> {outdir}")


if __name__ == "__main__":
    main()
