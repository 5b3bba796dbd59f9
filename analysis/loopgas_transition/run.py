"""Locate the CMI transition of the bit-flipped uniform loop gas and compare with p_c = 0.1092.

The data: I(A:C|B) of y = x + e (x uniform on the cycle space of the L x L torus, e i.i.d.
Bernoulli(p)) for A = one site (its two edges), B = the L-infinity shell of radius r, C = the
rest, from ``latticediff.info.syndrome.syndrome_cmi`` (exact per-sample likelihoods by
Pfaffians; KL estimator averaged over all translates of A; unbiased, error = std / sqrt(n)).

The analysis (fit windows are stated in results.json):

1. Finite-size collapse in r (primary): ``I(p, r) = r^-alpha Phi((p - p_c) r^(1/nu))`` fitted
   in log form, ``log I + alpha log r = psi(x)`` with psi a cubic polynomial in
   ``x = (p - p_c) r^(1/nu)``, weighted by the relative errors, on the points with
   ``r >= r_min``, a region C at least ``c_min`` sites wide (``L - 2 r - 1 >= c_min``), the largest
   L available for each r, and ``I > 3 stderr``; errors of (p_c, nu, alpha) from a parametric
   bootstrap (every I redrawn from its Gaussian error, the whole fit repeated).
2. Peak of I(p) at fixed (L, r): vertex of a weighted parabola through the largest value and its
   two neighbours (bootstrap error); its drift with r.
3. Markov length xi(p): weighted fit of log I = c - r / xi over ``r >= r_min`` at each (L, p);
   the p where xi peaks.

Usage::

    python analysis/loopgas_transition/run.py --quick      # a few minutes on 2 cores
    python analysis/loopgas_transition/run.py              # the full plan (hours; see README)

Points already in out/points.jsonl are reused (the run is resumable); ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EXACT_P_C = 0.1092  # Nishimori point of the +-J random-bond Ising model (DESIGN.md §2)

PLANS = {
    "quick": {
        "sizes": [8, 10, 12],
        "p": [0.06, 0.08, 0.10, 0.12, 0.14, 0.16],
        "n_samples": 120,
    },
    # Sized for one 16-core node (~6 min with 12 Numba threads): larger radii, where the peak
    # of I(p) at fixed r approaches p_c, and p = 0.05 / 0.15 for the decay in r on both sides.
    # The cost per sample grows steeply with r (L = 20, r = 9: ~1.7 s on one core), so the
    # sample counts fall with L and the largest L keeps only its large radii.
    "node": {
        "sizes": [12, 16, 20],
        "p": [0.05, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.15],
        "n_samples": {12: 400, 16: 150, 20: 80},
        "radii": {20: [5, 7, 9]},
    },
    # The quick plan plus what two CPU cores afford in ~15 min: p = 0.05 / 0.15 at L = 12 (decay
    # in r on both sides of p_c) and L = 16 at r = 5, 6, 7 around p_c (where the peak of I(p) at
    # fixed r should move towards p_c). Reuses the quick plan's points.
    "extended": {
        "sizes": [8, 10, 12, 16],
        "p": [0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16],
        "p_at": {
            8: [0.06, 0.08, 0.10, 0.12, 0.14, 0.16],
            10: [0.06, 0.08, 0.10, 0.12, 0.14, 0.16],
            12: [0.05, 0.06, 0.08, 0.10, 0.12, 0.14, 0.15, 0.16],
            16: [0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13],
        },
        "n_samples": {8: 120, 10: 120, 12: 120, 16: 60},
        "radii": {16: [5, 6, 7]},
        # the decay in r on both sides of p_c over r = 2..6 at L = 16 (C >= 3 sites wide)
        "extra": [
            {"L": 16, "radii": [2, 3, 4], "p": [0.05, 0.15]},
            {"L": 16, "radii": [5, 6], "p": [0.05, 0.15]},
        ],
    },
    "full": {
        "sizes": [8, 10, 12, 14, 16],
        "p": [round(0.06 + 0.01 * k, 3) for k in range(11)],  # 0.06 .. 0.16
        "n_samples": 2000,
    },
}
R_MIN = 2  # smallest shell radius in the fits (r = 1 is dominated by nearest-neighbour terms)
P_MIN_COLLAPSE = 5  # an (L, r) curve enters the collapse only with at least this many p values
C_MIN = 3  # smallest width of region C (in sites) for a point to enter the collapse


def radii(L: int, plan: dict | None = None) -> list[int]:
    """Shell radii computed at size L: all that leave C non-empty, unless the plan restricts."""
    if plan is not None and L in plan.get("radii", {}):
        return list(plan["radii"][L])
    return list(range(1, (L - 2) // 2 + 1))


def p_grid_at(plan: dict, L: int) -> list[float]:
    return list(plan.get("p_at", {}).get(L, plan["p"]))


def n_samples_at(plan: dict, L: int) -> int:
    n = plan["n_samples"]
    return int(n[L]) if isinstance(n, dict) else int(n)


def point_key(L: int, r: int, p: float, n: int, seed: int) -> str:
    return f"L={L},r={r},p={p:.4f},n={n},seed={seed}"


def compute_points(
    plan: dict, out: Path, seed: int, threads: int | None, fresh: bool, dry: bool = False
) -> list:
    """Every point of the plan, reusing finished ones; ``dry``: only the finished ones."""
    from latticediff.info.syndrome import syndrome_cmi

    path = out / "points.jsonl"
    if fresh and path.exists():
        path.unlink()
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["key"]] = row
    rows = []
    blocks = [(L, radii(L, plan), p_grid_at(plan, L)) for L in plan["sizes"]]
    blocks += [(b["L"], b["radii"], b["p"]) for b in plan.get("extra", [])]
    for L, rs, ps in blocks:
        n = n_samples_at(plan, L)
        for r in rs:
            for p in ps:
                key = point_key(L, r, p, n, seed)
                if key in done:
                    rows.append(done[key])
                    continue
                if dry:
                    continue
                ss = np.random.SeedSequence([seed, L, r, int(round(p * 10000))])
                t0 = time.perf_counter()
                est = syndrome_cmi(L, p, r, n_samples=n, seed=ss, n_threads=threads)
                dt = time.perf_counter() - t0
                row = {
                    "key": key,
                    "L": L,
                    "r": r,
                    "p": p,
                    "n_samples": n,
                    "value": est.value,
                    "stderr": est.stderr,
                    "difference": est.details["other_estimator"]["difference"],
                    "n_sites": est.details["n_sites"],
                    "marginal_check": est.details["marginal_check"],
                    "n_direct_fallbacks": est.details["n_direct_fallbacks"],
                    "seconds": dt,
                }
                with path.open("a") as f:  # append-only: an interrupted run resumes here
                    f.write(json.dumps(row) + "\n")
                rows.append(row)
                print(
                    f"L={L:2d} r={r} p={p:.3f}  I = {est.value:.5f} ± {est.stderr:.5f}  "
                    f"({dt:.1f} s)",
                    flush=True,
                )
    return rows


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _collapse_residuals(theta, data, degree):
    p_c, log_nu, alpha = theta
    nu = math.exp(log_nu)
    L, r, p, val, err = data.T
    x = (p - p_c) * r ** (1.0 / nu)
    y = np.log(val) + alpha * np.log(r)
    sy = err / val
    X = np.vander(x, degree + 1)
    coef, *_ = np.linalg.lstsq(X / sy[:, None], y / sy, rcond=None)
    return (y - X @ coef) / sy


_START = (0.11, math.log(1.5), 1.0)  # (p_c, log nu, alpha) to start the collapse fit from


def collapse_fit(data: np.ndarray, degree: int = 3, start=_START):
    from scipy.optimize import least_squares

    best = None
    for p0 in (start[0] - 0.02, start[0], start[0] + 0.02):
        for nu0 in (1.0, 1.5, 2.5):
            res = least_squares(
                _collapse_residuals,
                x0=[p0, math.log(nu0), start[2]],
                args=(data, degree),
                bounds=([0.03, math.log(0.3), -3.0], [0.2, math.log(6.0), 6.0]),
            )
            if best is None or res.cost < best.cost:
                best = res
    chi2 = 2 * best.cost
    dof = len(data) - (degree + 1) - 3
    return best.x, chi2, dof


def collapse_with_bootstrap(data: np.ndarray, n_boot: int, seed: int) -> dict:
    theta, chi2, dof = collapse_fit(data)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        d = data.copy()
        d[:, 3] = data[:, 3] + rng.normal(size=len(data)) * data[:, 4]
        keep = d[:, 3] > 0
        if keep.sum() < 8:
            continue
        th, _, _ = collapse_fit(d[keep], start=theta)
        boots.append(th)
    boots = np.array(boots)
    return {
        "p_c": float(theta[0]),
        "p_c_stderr": float(boots[:, 0].std(ddof=1)) if len(boots) > 1 else float("nan"),
        "nu": float(math.exp(theta[1])),
        "nu_stderr": float(np.exp(boots[:, 1]).std(ddof=1)) if len(boots) > 1 else float("nan"),
        "alpha": float(theta[2]),
        "alpha_stderr": float(boots[:, 2].std(ddof=1)) if len(boots) > 1 else float("nan"),
        "chi2": float(chi2),
        "dof": int(dof),
        "n_points": int(len(data)),
        "n_bootstrap": int(len(boots)),
    }


def peak_position(p, val, err, n_boot=200, seed=0):
    """Vertex of the weighted parabola through the maximum and its two neighbours."""
    p, val, err = map(np.asarray, (p, val, err))
    k = int(np.argmax(val))
    if k == 0 or k == len(p) - 1:
        return float("nan"), float("nan")

    def vertex(v):
        c = np.polyfit(p[k - 1 : k + 2], v[k - 1 : k + 2], 2, w=1 / err[k - 1 : k + 2])
        return -c[1] / (2 * c[0]) if c[0] < 0 else np.nan

    rng = np.random.default_rng(seed)
    boots = [vertex(val + rng.normal(size=len(val)) * err) for _ in range(n_boot)]
    boots = np.array([b for b in boots if np.isfinite(b)])
    return float(vertex(val)), float(boots.std(ddof=1)) if len(boots) > 2 else float("nan")


def markov_length(r, val, err):
    """xi and its error from a weighted fit of log I = c - r / xi (points with I > 3 stderr)."""
    r, val, err = map(np.asarray, (r, val, err))
    keep = val > 3 * err
    if keep.sum() < 2:
        return float("nan"), float("nan")
    r, y, sy = r[keep], np.log(val[keep]), err[keep] / val[keep]
    if len(r) == 2:
        slope = (y[1] - y[0]) / (r[1] - r[0])
        s_slope = math.hypot(sy[0], sy[1]) / abs(r[1] - r[0])
    else:
        coef, cov = np.polyfit(r, y, 1, w=1 / sy, cov="unscaled")
        slope, s_slope = coef[0], math.sqrt(cov[0, 0])
    if slope >= 0:
        return float("inf"), float("nan")
    return float(-1 / slope), float(s_slope / slope**2)


def widest_size(arr: np.ndarray) -> int:
    """The size with the most radii computed (ties: the larger L)."""
    sizes = sorted({int(x) for x in arr[:, 0]})
    return max(sizes, key=lambda L: (len(set(arr[arr[:, 0] == L, 1])), L))


def decay_fits(arr: np.ndarray, L: int, p: float) -> dict:
    """Exponential (log I linear in r) against power-law (log I linear in log r) decay of I(r)
    at fixed (L, p), weighted, over r >= R_MIN with I > 3 stderr; chi2/dof of each."""
    m = (arr[:, 0] == L) & np.isclose(arr[:, 2], p) & (arr[:, 1] >= R_MIN)
    m &= arr[:, 3] > 3 * arr[:, 4]
    r, val, err = arr[m, 1], arr[m, 3], arr[m, 4]
    out = {"L": L, "p": p, "radii": r.tolist(), "n_points": int(m.sum())}
    if m.sum() < 3:
        return out
    y, w = np.log(val), val / err
    for name, x in (("exponential", r), ("power_law", np.log(r))):
        coef, cov = np.polyfit(x, y, 1, w=w, cov="unscaled")
        chi2 = float(np.sum(((np.polyval(coef, x) - y) * w) ** 2))
        out[name] = {
            "slope": float(coef[0]),
            "slope_stderr": float(math.sqrt(cov[0, 0])),
            "chi2": chi2,
            "dof": int(m.sum() - 2),
        }
    s, ds = out["exponential"]["slope"], out["exponential"]["slope_stderr"]
    out["xi"], out["xi_stderr"] = float(-1 / s), float(ds / s**2)
    return out


def analyse(rows: list, plan: dict, seed: int, n_boot: int) -> dict:
    arr = np.array([[r["L"], r["r"], r["p"], r["value"], r["stderr"]] for r in rows], float)
    sizes = sorted({int(x) for x in arr[:, 0]})
    # 1. collapse: largest L per r, C at least C_MIN wide, r >= R_MIN, significant points
    sel = []
    for r in sorted({int(x) for x in arr[:, 1]}):
        if r < R_MIN:
            continue
        Ls = [
            L
            for L in sizes
            if L - 2 * r - 1 >= C_MIN
            and ((arr[:, 0] == L) & (arr[:, 1] == r)).sum() >= P_MIN_COLLAPSE
        ]
        if not Ls:
            continue
        m = (arr[:, 0] == max(Ls)) & (arr[:, 1] == r) & (arr[:, 3] > 3 * arr[:, 4])
        sel.append(arr[m])
    data = np.concatenate(sel) if sel else np.zeros((0, 5))
    collapse = collapse_with_bootstrap(data, n_boot, seed) if len(data) >= 10 else None
    # 2. peaks and 3. Markov lengths
    peaks, xis = [], []
    for L in sizes:
        for r in sorted({int(x) for x in arr[arr[:, 0] == L, 1]}):
            m = (arr[:, 0] == L) & (arr[:, 1] == r)
            if m.sum() < 3:
                continue
            o = np.argsort(arr[m, 2])
            pk, pe = peak_position(arr[m, 2][o], arr[m, 3][o], arr[m, 4][o], seed=seed)
            peaks.append({"L": L, "r": r, "p_peak": pk, "p_peak_stderr": pe})
        for p in plan["p"]:
            m = (arr[:, 0] == L) & (np.isclose(arr[:, 2], p)) & (arr[:, 1] >= R_MIN)
            xi, xe = markov_length(arr[m, 1], arr[m, 3], arr[m, 4])
            xis.append({"L": L, "p": p, "xi": xi, "xi_stderr": xe})
    out = {
        "exact_p_c": EXACT_P_C,
        "sizes": sizes,
        "radii": {str(L): radii(L, plan) for L in sizes},
        "p_grid": plan["p"],
        "n_samples_per_point": {str(L): n_samples_at(plan, L) for L in sizes},
        "estimator": "syndrome_cmi, KL form averaged over translates of A (a = 1)",
        "fit_windows": {
            "collapse": f"r >= {R_MIN}, C at least {C_MIN} sites wide, largest L per r with at "
            f"least {P_MIN_COLLAPSE} values of p, "
            "I > 3 stderr; log I + alpha log r = cubic in (p - p_c) r^(1/nu)",
            "peak": "weighted parabola through the maximum of I(p) and its two neighbours",
            "markov_length": f"log I = c - r / xi over r >= {R_MIN}, I > 3 stderr",
        },
        "peaks": peaks,
        "markov_length": xis,
        "decay": [
            decay_fits(arr, widest_size(arr), p)
            for p in plan["p"]
            if min(abs(p - 0.05), abs(p - 0.15), abs(p - EXACT_P_C)) < 0.006
        ],
    }
    if collapse is not None:
        out.update(
            p_c=collapse["p_c"],
            p_c_stderr=collapse["p_c_stderr"],
            nu=collapse["nu"],
            nu_stderr=collapse["nu_stderr"],
            alpha=collapse["alpha"],
            alpha_stderr=collapse["alpha_stderr"],
            collapse=collapse,
            deviation_from_exact_in_stderr=(collapse["p_c"] - EXACT_P_C) / collapse["p_c_stderr"]
            if collapse["p_c_stderr"] > 0
            else None,
        )
    else:
        out.update(p_c=None, p_c_stderr=None, nu=None, collapse=None)
    out["_collapse_data"] = data.tolist()
    return out


def make_figure(rows: list, res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = np.array([[r["L"], r["r"], r["p"], r["value"], r["stderr"]] for r in rows], float)
    Lr = widest_size(arr)
    fig, ax = plt.subplots(2, 2, figsize=(10, 8))
    a = ax[0, 0]
    for r in sorted({int(x) for x in arr[:, 1]}):
        # the largest L with a curve in p for this r (P_MIN_COLLAPSE points at least)
        Ls = [
            L
            for L in sorted(set(arr[arr[:, 1] == r, 0]))
            if ((arr[:, 0] == L) & (arr[:, 1] == r)).sum() >= P_MIN_COLLAPSE
        ]
        if not Ls:
            continue
        L = int(Ls[-1])
        m = (arr[:, 0] == L) & (arr[:, 1] == r)
        o = np.argsort(arr[m, 2])
        a.errorbar(
            arr[m, 2][o], arr[m, 3][o], arr[m, 4][o], marker="o", ms=3, label=f"r={r} (L={L})"
        )
    a.axvline(EXACT_P_C, color="k", ls="--", lw=0.8)
    a.set(xlabel="p", ylabel="I(A:C|B) [nats]", yscale="log", title="largest L per r (>= 5 p)")
    a.legend(fontsize=7)
    a = ax[0, 1]
    cmap = plt.get_cmap("viridis")
    ps = res["p_grid"]
    for k, p in enumerate(ps):
        m = (arr[:, 0] == Lr) & np.isclose(arr[:, 2], p) & (arr[:, 3] > 0)
        if not m.any():
            continue
        o = np.argsort(arr[m, 1])
        a.errorbar(
            arr[m, 1][o],
            arr[m, 3][o],
            arr[m, 4][o],
            marker="o",
            ms=3,
            color=cmap(k / max(1, len(ps) - 1)),
            label=f"p={p}",
        )
    a.set(xlabel="r", ylabel="I(A:C|B) [nats]", yscale="log", title=f"L = {Lr}")
    a.legend(fontsize=6, ncol=2)
    a = ax[1, 0]
    for L in res["sizes"]:
        xs = [x for x in res["markov_length"] if x["L"] == L and np.isfinite(x["xi"])]
        a.errorbar(
            [x["p"] for x in xs],
            [x["xi"] for x in xs],
            [x["xi_stderr"] for x in xs],
            marker="o",
            ms=3,
            label=f"L={L}",
        )
    a.axvline(EXACT_P_C, color="k", ls="--", lw=0.8)
    a.set(xlabel="p", ylabel="Markov length xi", title=f"fit over r >= {R_MIN}")
    a.legend(fontsize=7)
    a = ax[1, 1]
    if res.get("collapse"):
        d = np.array(res["_collapse_data"])
        pc, nu, al = res["p_c"], res["nu"], res["alpha"]
        for r in sorted(set(d[:, 1])):
            m = d[:, 1] == r
            x = (d[m, 2] - pc) * r ** (1 / nu)
            a.errorbar(
                x,
                d[m, 3] * r**al,
                d[m, 4] * r**al,
                marker="o",
                ms=3,
                ls="",
                label=f"r={int(r)} (L={int(d[m, 0][0])})",
            )
        a.set(
            yscale="log",
            xlabel="(p - p_c) r^(1/nu)",
            ylabel="r^alpha I",
            title=f"p_c = {pc:.4f} ± {res['p_c_stderr']:.4f}, nu = {nu:.2f}, alpha = {al:.2f}",
        )
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "loopgas_cmi.png", dpi=130)
    fig.savefig(out / "loopgas_cmi.pdf")
    plt.close(fig)


def estimate_full_cost(rows: list) -> dict:
    """Seconds per sample against L (fit t ~ L^k over the measured sizes), full plan in hours."""
    per = {}
    for r in rows:
        per.setdefault(r["L"], []).append(r["seconds"] / r["n_samples"])
    Ls = np.array(sorted(per))
    t = np.array([np.mean(per[L]) for L in Ls])  # mean over r and p
    if len(Ls) >= 2:
        k, c = np.polyfit(np.log(Ls), np.log(t), 1)
    else:
        k, c = 4.0, math.log(t[0]) - 4.0 * math.log(Ls[0])
    full = PLANS["full"]
    total = sum(
        math.exp(c) * L**k * full["n_samples"] * len(radii(L)) * len(full["p"])
        for L in full["sizes"]
    )
    return {
        "seconds_per_sample": {str(int(L)): float(x) for L, x in zip(Ls, t, strict=True)},
        "cost_exponent_in_L": float(k),
        "full_plan_hours_estimate": float(total / 3600),
    }


def _json_safe(obj):
    """NaN and infinities become null (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def xi_peak(res: dict) -> dict:
    """Where the Markov length peaks at the largest L (parabola through the top three points)."""
    L = max(res["sizes"])
    xs = sorted((x for x in res["markov_length"] if x["L"] == L), key=lambda x: x["p"])
    xs = [x for x in xs if math.isfinite(x["xi"]) and math.isfinite(x["xi_stderr"])]
    if len(xs) < 3:
        return {"L": L, "p_xi_peak": None, "p_xi_peak_stderr": None}
    pk, pe = peak_position(
        [x["p"] for x in xs], [x["xi"] for x in xs], [x["xi_stderr"] for x in xs]
    )
    return {"L": L, "p_xi_peak": pk, "p_xi_peak_stderr": pe}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small plan (a few minutes)")
    ap.add_argument("--plan", choices=sorted(PLANS), default=None, help="overrides --quick")
    ap.add_argument(
        "--analyse-only",
        action="store_true",
        help="no new points: analyse those already in OUT/points.jsonl for this plan",
    )
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    ap.add_argument("--n-boot", type=int, default=100, help="bootstrap refits of the collapse")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--fresh", action="store_true", help="ignore points already computed")
    args = ap.parse_args(argv)
    name = args.plan or ("quick" if args.quick else "full")
    plan = PLANS[name]
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = compute_points(
        plan, args.out, args.seed, args.threads, args.fresh, dry=args.analyse_only
    )
    if not rows:
        print(f"no points of plan {name!r} in {args.out}")
        return 2
    res = analyse(rows, plan, args.seed, args.n_boot)
    res["plan"] = name
    res["markov_length_peak"] = xi_peak(res)
    res["cost"] = estimate_full_cost(rows)
    res["wall_seconds_this_run"] = time.perf_counter() - t0
    res["cpu_count"] = os.cpu_count()
    make_figure(rows, res, args.out)
    tmp = args.out / "results.json.tmp"
    public = _json_safe({k: v for k, v in res.items() if not k.startswith("_")})
    tmp.write_text(json.dumps(public, indent=1, allow_nan=False))
    tmp.replace(args.out / "results.json")
    if res.get("p_c") is not None:
        print(
            f"p_c = {res['p_c']:.4f} ± {res['p_c_stderr']:.4f} (exact {EXACT_P_C}), "
            f"nu = {res['nu']:.2f} ± {res['nu_stderr']:.2f}, alpha = {res['alpha']:.2f}, "
            f"chi2/dof = {res['collapse']['chi2']:.1f}/{res['collapse']['dof']}"
        )
    print("peaks of I(p):", [(x["L"], x["r"], round(x["p_peak"], 4)) for x in res["peaks"]])
    print("peak of xi(p):", res["markov_length_peak"])
    for d in res["decay"]:
        if "exponential" in d:
            e, q = d["exponential"], d["power_law"]
            print(
                f"decay L={d['L']} p={d['p']}: xi = {d['xi']:.2f} ± {d['xi_stderr']:.2f}, "
                f"chi2/dof exp {e['chi2']:.1f}/{e['dof']}, power {q['chi2']:.1f}/{q['dof']}"
            )
    print(f"full plan estimate: {res['cost']['full_plan_hours_estimate']:.1f} h on this machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
