"""Where does the gap of the Bayes-optimal local denoiser of the bit-flipped loop gas peak, and
does the peak move towards the Nishimori point p_c = 0.1092 as the radius grows?

``run.py`` measures the exact gap ``Delta(r, p) = E_y KL(P(x_A | y) || P(x_A | y_Q))`` (nats
per edge; Q the radius-r window, A one site's two edges) at L = 16 for r <= 6 on 32-96 samples,
and finds its maximum at p ~ 0.085-0.09 for every r, below p_c. With
``Delta ~ gamma(p) exp(-r / xi(p))`` and xi peaking at p_c, the maximum in p reaches p_c only
as r grows. This script measures that drift without networks: the same exact posteriors
(Kasteleyn Pfaffians for the global and the r >= 3 window posteriors, syndrome tables for
r = 1, 2; ``run.py``), on a larger torus, to larger r and on more samples.

    python analysis/loopgas_denoisers/exact_gap.py                 # L = 24, r = 1..8, ~30 min
    python analysis/loopgas_denoisers/exact_gap.py --quick --out /tmp/g   # L = 12, ~1 min
    python analysis/loopgas_denoisers/exact_gap.py --plan large --threads 14  # L = 32, r <= 10

Method: ``n`` exact loop-gas samples (``ld.sample``), 4 well-separated sites each (``--sites``:
1, 4, 16 or 64 on a grid of translates; the global posterior of every edge comes from one
factorisation per sample, ``run.global_px1_all``); one uniform
per edge shared by every p (``e = u < p``), so the curves are smooth in p; Delta averaged over
the sites of a sample, errors from the spread over samples. Peak of Delta(p) at fixed r:
``run.fit_peak`` (weighted parabola through the grid maximum and two neighbours on each side).
Drift: ``p*(r) = p_inf + b / r`` and the scaling form ``p_inf + b r^(-1/nu)`` (nu = 1.5, the
Nishimori point's), fitted over r >= the plan's ``fit_from``; every error (peaks, p_inf) is a
bootstrap over samples that redoes every peak and the fit on the same resampled set, so the
correlation between radii (same samples) is carried through. The two forms extrapolate
differently, so neither limit is a measurement of p_c. Markov length of the gap:
``run.gap_markov_length`` (``log Delta = c - r / xi`` over r >= 2): the form-free locator.

Writes ``out/exact_gap.json`` (``exact_gap_large.*`` / ``exact_gap_xl.*`` for those plans,
``_s{N}`` appended for ``--sites N`` other than 4; and ``.npz``, the per-sample values, from
which an interrupted run resumes) and the ``.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from run import (  # noqa: E402
    at_sites,
    fit_peak,
    gap_markov_length,
    global_px1_all,
    local_gaps,
)

P_C = 0.1092
PLANS = {
    "full": dict(
        L=24,
        radii=list(range(1, 9)),
        p=[round(0.04 + 0.01 * k, 2) for k in range(13)],
        n=160,
        fit_from=3,
    ),
    "quick": dict(L=12, radii=[1, 2, 3, 4], p=[0.06, 0.08, 0.10, 0.12, 0.14], n=12, fit_from=2),
    # one device call (gpu_run.sh; the Pfaffians run in parallel over samples on its CPU cores):
    # r up to 10 on a torus that leaves C 11 sites wide, p on the peak region only
    "large": dict(
        L=32,
        radii=list(range(1, 11)),
        p=[round(0.06 + 0.01 * k, 2) for k in range(10)],
        n=160,
        fit_from=3,
    ),
}
# the same on L = 48 (C is 27 sites wide at r = 10): is the L = 32 peak at r = 7..10 a
# finite-size value? ~3 min per p on 2 cores with --sites 16
PLANS["xl"] = dict(PLANS["large"], L=48)


def sites_of(L: int, n: int, seed: int, per: int = 4):
    """``per`` sites per sample (a square, k^2): a random origin and its translates on a k x k
    grid of spacing L/k (for 4: the translates by L/2, far apart)."""
    k = math.isqrt(per)
    if k * k != per or not 1 <= k <= L:
        raise ValueError(f"sites per sample must be a square k^2 with 1 <= k <= L, got {per}")
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, L, n), rng.integers(0, L, n)
    offs = [(a * L // k, b * L // k) for b in range(k) for a in range(k)]
    n_idx = np.repeat(np.arange(n), len(offs))
    i0 = (np.repeat(i, len(offs)) + np.tile([a for a, _ in offs], n)) % L
    j0 = (np.repeat(j, len(offs)) + np.tile([b for _, b in offs], n)) % L
    return n_idx, i0, j0


def gaps_at(p: float, x: np.ndarray, u: np.ndarray, sites, radii) -> np.ndarray:
    """Per-sample Delta(r, p) for every r, shape (len(radii), n): the per-edge KL of the radius-r
    posterior from the global one, averaged over the sample's sites and A's two edges."""
    y = x ^ (u < p).astype(np.uint8)
    px_g = at_sites(global_px1_all(p, y), sites)  # every edge from one factorisation per sample
    return local_gaps(p, y, px_g, sites, radii)


# Correlation-length exponent of the random-bond Ising model at its Nishimori point, nu = 1.50(3)
# (Merz & Chalker, PRB 65, 054425 (2002); 1.52(3) in Parisen Toldin, Pelissetto & Vicari,
# J. Stat. Phys. 135, 1039 (2009)). If the gap obeys a scaling form in (p - p_c) r^(1/nu), its
# maximum moves as p*(r) = p_c + b r^(-1/nu): slower than 1/r.
NU_NISHIMORI = 1.5


def drift_fit(radii, peaks, errs, fit_from: int, exponent: float = 1.0):
    """Weighted fit p*(r) = p_inf + b r^(-exponent) over r >= fit_from with a peak; (p_inf, b)
    or None."""
    rr = np.array([r for r, v in zip(radii, peaks, strict=True) if r >= fit_from and v is not None])
    if len(rr) < 3:
        return None
    v = np.array([peaks[radii.index(r)] for r in rr])
    w = np.array([1.0 / max(errs[radii.index(r)] or 0.0, 1e-4) for r in rr])
    b, a = np.polyfit(rr ** (-float(exponent)), v, 1, w=w)
    return float(a), float(b)


def analyse(plan: dict, D: np.ndarray, n_boot: int, seed: int) -> dict:
    """Peaks per r, the drift fit and the gap's Markov length, all with bootstrap errors."""
    radii, p = plan["radii"], np.array(plan["p"])
    n = D.shape[2]

    def peaks(Db):
        m = Db.mean(axis=2)
        se = Db.std(axis=2, ddof=1) / math.sqrt(n)
        return [fit_peak(p, m[k], se[k]) for k in range(len(radii))]

    central = peaks(D)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        boot.append(peaks(D[:, :, rng.integers(0, n, n)]))
    boot = np.array([[np.nan if v is None else v for v in row] for row in boot])
    ok = np.isfinite(boot)
    errs = [
        float(np.std(boot[ok[:, k], k], ddof=1)) if ok[:, k].sum() > 2 else None
        for k in range(len(radii))
    ]

    def drift(exponent, model):
        fit = drift_fit(radii, central, errs, plan["fit_from"], exponent)
        fits = [
            drift_fit(
                radii,
                [v if np.isfinite(v) else None for v in row],
                errs,
                plan["fit_from"],
                exponent,
            )  # fmt: skip
            for row in boot
        ]
        a_boot = np.array([f[0] for f in fits if f is not None])
        if fit is None or len(a_boot) <= 2:
            return None
        p_inf, b = fit
        e = float(a_boot.std(ddof=1))
        return {
            "model": model,
            "exponent": float(exponent),
            "fit_radii": [r for r in radii if r >= plan["fit_from"]],
            "p_inf": p_inf,
            "p_inf_stderr": e,
            "b": b,
            "bootstrap_ok_fraction": float(len(a_boot) / n_boot),
            "exact_p_c": P_C,
            "deviation_sigma": (p_inf - P_C) / e if e > 0 else None,
        }

    mean, se = D.mean(axis=2), D.std(axis=2, ddof=1) / math.sqrt(n)
    ex = {
        "p": p.tolist(),
        "delta_exact": {
            str(r): {"mean": mean[k].tolist(), "stderr": se[k].tolist()}
            for k, r in enumerate(radii)
        },
    }
    xi = gap_markov_length(ex)
    res = {
        "peaks": [
            {
                "r": r,
                "p_peak": central[k],
                "p_peak_stderr": errs[k],
                "bootstrap_ok_fraction": float(ok[:, k].mean()),
                "p_peak_grid": float(p[int(np.argmax(mean[k]))]),
                "delta_max": float(mean[k].max()),
                "delta_max_stderr": float(se[k][np.argmax(mean[k])]),
            }
            for k, r in enumerate(radii)
        ],
        # two forms of the approach to the limit; which one holds is not known, so both are
        # reported and neither is a measurement of p_c (the gap's decay length is the form-free
        # locator, ``markov_length``)
        "drift": drift(1.0, "p*(r) = p_inf + b / r"),
        "drift_nu": drift(
            1.0 / NU_NISHIMORI, f"p*(r) = p_inf + b r^(-1/nu), nu = {NU_NISHIMORI} (Nishimori)"
        ),
        "markov_length": xi,
        "delta": ex["delta_exact"],
    }
    return res


def figure(plan: dict, res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    radii, p = plan["radii"], np.array(plan["p"])
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.4))
    cols = plt.cm.viridis(np.linspace(0, 0.9, len(radii)))
    for k, r in enumerate(radii):
        d = res["delta"][str(r)]
        ax[0].errorbar(
            p,
            d["mean"],
            d["stderr"],
            color=cols[k],
            marker="o",
            ms=3,
            lw=1,
            capsize=2,
            label=f"r = {r}",
        )
        pk = res["peaks"][k]
        if pk["p_peak"] is not None:
            ax[0].axvline(pk["p_peak"], color=cols[k], lw=0.6, ls=":")
    ax[0].axvline(P_C, color="r", lw=1, label="p_c = 0.1092")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("bit-flip probability p")
    ax[0].set_ylabel("exact gap Delta(r, p) [nats / edge]")
    ax[0].set_title(f"Bayes-optimal local vs global denoiser, L = {plan['L']}")
    lo, hi = ax[0].get_ylim()
    ax[0].set_ylim(lo, hi * 30)  # room above the curves for the legend
    ax[0].legend(fontsize=7, ncol=4, loc="upper center")
    pk = [(q["r"], q["p_peak"], q["p_peak_stderr"]) for q in res["peaks"] if q["p_peak"]]
    if pk:
        r_, v_, e_ = (np.array([t[i] or 0.0 for t in pk], float) for i in range(3))
        ax[1].errorbar(1.0 / r_, v_, e_, fmt="o", color="k", capsize=3, label="peak of Delta(p)")
    for key, style, form in (("drift", "b-", "b/r"), ("drift_nu", "g--", "b r^(-1/nu)")):
        dr = res.get(key)
        if dr:
            xs = np.linspace(0, 1.0 / min(dr["fit_radii"]), 50)
            ax[1].plot(
                xs,
                dr["p_inf"] + dr["b"] * xs ** dr.get("exponent", 1.0),
                style,
                lw=1,
                label=f"p_inf + {form}: p_inf = {dr['p_inf']:.4f} ± {dr['p_inf_stderr']:.4f}",
            )
    ax[1].axhline(P_C, color="r", lw=1, label="p_c = 0.1092")
    ax[1].set_xlim(left=0)
    ax[1].set_xlabel("1 / r")
    ax[1].set_ylabel("p at the maximum of Delta(r, p)")
    ax[1].legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.68))
    ax[1].set_title("peak position against 1/r")
    xi = res["markov_length"]
    good = [(q, x, e) for q, x, e in zip(xi["p"], xi["xi"], xi["xi_stderr"], strict=True) if x]
    if good:
        q_, x_, e_ = (np.array(v, float) for v in zip(*good, strict=True))
        ax[2].errorbar(q_, x_, e_, fmt="o-", color="k", capsize=3)
    ax[2].axvline(P_C, color="r", lw=1)
    ax[2].set_xlabel("p")
    ax[2].set_ylabel("decay length of Delta in r (r >= 2)")
    ax[2].set_title("Markov length of the gap")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="L = 12, r <= 4, 12 samples")
    ap.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default=None,
        help="full (default), quick, large (L = 32, r <= 10: exact_gap_large.*) or xl (L = 48, "
        "r <= 10: exact_gap_xl.*)",
    )
    ap.add_argument("--n", type=int, default=None, help="samples (default: the plan's)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--n-boot", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1, help="Numba threads")
    ap.add_argument(
        "--sites",
        type=int,
        default=4,
        choices=[1, 4, 16, 64],
        help="sites per sample, on a grid of translates (default 4; more sites cut the noise "
        "of the per-sample means, at the cost of the r >= 3 window Pfaffians per site)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "out")
    a = ap.parse_args(argv)
    if a.n is not None and a.n < 3:
        ap.error(f"--n must be >= 3 (errors need a spread over samples), got {a.n}")
    if a.n_boot < 10:
        ap.error(f"--n-boot must be >= 10, got {a.n_boot}")
    if a.threads < 1:
        ap.error(f"--threads must be >= 1, got {a.threads}")
    name = a.plan or ("quick" if a.quick else "full")
    plan = dict(PLANS[name])
    stem = "exact_gap" if name in ("full", "quick") else f"exact_gap_{name}"  # keep full's apart
    if a.sites != 4:
        stem += f"_s{a.sites}"
    if a.n is not None:
        plan["n"] = a.n
    import numba

    numba.set_num_threads(a.threads)
    import latticediff as ld

    a.out.mkdir(parents=True, exist_ok=True)
    L, n = plan["L"], plan["n"]
    # the default 4 sites stay out of the key, which keeps caches made before --sites valid
    key = json.dumps({**plan, "seed": a.seed, **({} if a.sites == 4 else {"sites": a.sites})},
                     sort_keys=True)  # fmt: skip
    cache = a.out / f"{stem}.npz"
    D = np.full((len(plan["radii"]), len(plan["p"]), n), np.nan)
    if cache.exists():
        with np.load(cache) as f:
            if str(f["key"]) == key:
                D = f["D"].copy()
    x = np.asarray(ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=a.seed))
    u = np.random.default_rng([a.seed, 1]).random(x.shape)
    sites = sites_of(L, n, a.seed + 2, a.sites)
    t_all = time.perf_counter()
    for k, p in enumerate(plan["p"]):
        if np.all(np.isfinite(D[:, k])):
            continue
        t0 = time.perf_counter()
        D[:, k] = gaps_at(p, x, u, sites, plan["radii"])
        tmp = a.out / f"{stem}.tmp.npz"
        np.savez(tmp, D=D, key=np.array(key))
        os.replace(tmp, cache)
        print(
            f"p = {p:.3f}: Delta r="
            + " ".join(f"{v:.2e}" for v in D[:, k].mean(axis=1))
            + f"  [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
    res = analyse(plan, D, a.n_boot, a.seed + 3)
    res = {
        "plan": {**plan, "seed": a.seed, "sites_per_sample": a.sites},
        "exact_p_c": P_C,
        **res,
        "wall_s_this_call": time.perf_counter() - t_all,
    }
    tmp = a.out / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, a.out / f"{stem}.json")
    figure(plan, res, a.out / f"{stem}.png")
    for q in res["peaks"]:
        e = q["p_peak_stderr"]
        print(
            f"r = {q['r']}: peak p = {q['p_peak']}"
            + (f" ± {e:.4f}" if e else "")
            + f"  (grid max {q['p_peak_grid']}, Delta max {q['delta_max']:.2e})"
        )
    for d in (res["drift"], res["drift_nu"]):
        if d:
            z = d["deviation_sigma"]
            print(
                f"{d['model']}: p_inf = {d['p_inf']:.4f} ± {d['p_inf_stderr']:.4f} (exact p_c {P_C}"
                + ("" if z is None else f"; {z:+.1f} sigma")
                + ")"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
