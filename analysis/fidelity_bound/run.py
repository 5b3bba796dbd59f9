"""The fidelity bound 2 TV(p, p_hat)^2 <= I(A:C|B), checked exactly (issue 6, item 1).

For a channel N on region A (one more forward bit-flip step, probability delta) and the Bayes
recovery built from the (A, B) marginal only (the best radius-r local denoiser), the chain

    2 TV^2 <= D(p || p_hat) <= I_p(A:C|B) - I_q(A':C|B) <= I_p(A:C|B)

is evaluated without sampling (:mod:`latticediff.exact.fidelity`) on

* the noisy 1D Ising chain (K = 1, hidden Markov chain at noise level p_noise), A = site 0,
  B = 1 <= |i| <= r, C = the next l sites on each side, r = 0..10;
* the bit-flipped uniform loop gas on the 3 x 3 and 4 x 4 tori, two geometries;

and (c) the radius the bound asks for, ``r >= xi ln(gamma / (2 eps^2))`` with (gamma, xi)
fitted to the infinite-C chain CMI, against the smallest r at which the exact TV <= eps.

Usage::

    python analysis/fidelity_bound/run.py            # ~2-4 min on one core
    python analysis/fidelity_bound/run.py --quick    # smoke run, r <= 6, < 1 min

Writes ``out/results.json`` and the figures ``out/chain_bound.png``, ``out/chain_ratio.png``,
``out/loopgas_bound.png``, ``out/radius.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import latticediff as ld  # noqa: E402
from latticediff.exact import fidelity as fb  # noqa: E402
from latticediff.exact import noisy_chain as nc  # noqa: E402

HERE = Path(__file__).resolve().parent
K = 1.0
P_NOISE = (0.01, 0.05, 0.1, 0.2, 0.3)
DELTAS = (0.001, 0.01, 0.05, 0.1, 0.25)
R_MAX = 10
EPS = (1e-2, 1e-3, 1e-4)
LOOPGAS_P = (0.01, 0.05, 0.1, 0.11, 0.2, 0.3)
LOOPGAS_CASES = ((3, "edge", (0, 1, 2)), (3, "site", (0,)), (4, "edge", (0, 1, 2, 3)))
LOOPGAS_CASES += ((4, "site", (0, 1)),)
TOL = 1e-12


def l_for(r: int) -> int:
    """Sites of C on each side used at radius r: max(3, min(5, 12 - r)) (cost ~ 4^(r + l))."""
    return max(3, min(5, 12 - r))


def clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return clean(float(v))
    return v


def row(b: fb.FidelityBound, **extra) -> dict:
    d = b.to_dict()
    params = d.pop("params")
    return {**params, **d, **extra}


# ---------------------------------------------------------------------------------------------
# (a) the chain


def chain_grid(radii) -> tuple[list, dict]:
    rows = []
    inf = {}
    for p in P_NOISE:
        lim = nc.chain_limits(K, p)
        inf[p] = {"error": lim["H_y_inf_error"], "xi_exact": nc.chain_markov_length(K, p)}
        for r in radii:
            cmi_inf = nc.chain_cmi(K, p, r)
            for b in fb.fidelity_bound_chain(K, p, DELTAS, r, l=l_for(r)):
                rows.append(row(b, cmi_inf=cmi_inf, cmi_inf_error=lim["H_y_inf_error"]))
        print(f"  chain p={p}: done ({time.process_time():.0f} s CPU)", flush=True)
    return rows, inf


def chain_convergence(quick: bool) -> list:
    """TV, D and I_p against l at fixed r: all increase towards the infinite-C values."""
    out = []
    cases = [(0.05, 0), (0.2, 0), (0.2, 2), (0.3, 2), (0.3, 5)]
    for p, r in cases:
        l_max = min(8, 13 - r) if not quick else min(5, 10 - r)
        series = [fb.fidelity_bound_chain(K, p, (0.01, 0.25), r, l=l) for l in range(1, l_max + 1)]
        cmi_inf = nc.chain_cmi(K, p, r)
        entry = {"p_noise": p, "r": r, "l": list(range(1, l_max + 1)), "cmi_inf": cmi_inf}
        for k, d in enumerate((0.01, 0.25)):
            tv = [s[k].tv for s in series]
            kl = [s[k].kl for s in series]
            entry[f"tv_delta_{d}"] = tv
            entry[f"kl_delta_{d}"] = kl
            entry[f"ratio_delta_{d}"] = [s[k].ratio for s in series]
        cmi = [s[0].cmi_p for s in series]
        entry["cmi_p"] = cmi
        entry["monotone_in_l"] = bool(
            all(
                np.all(np.diff(entry[key]) > 0)
                for key in ("cmi_p", "tv_delta_0.01", "tv_delta_0.25")
            )
        )
        entry["cmi_p_below_inf"] = bool(cmi[-1] <= cmi_inf + 1e-12)
        entry["rel_gap_to_inf_at_lmax"] = (cmi_inf - cmi[-1]) / cmi_inf
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# (b) the loop gas


def loopgas_grid() -> list:
    rows = []
    for L, geometry, radii in LOOPGAS_CASES:
        for r in radii:
            for p in LOOPGAS_P:
                for b in fb.fidelity_bound_loopgas(L, p, DELTAS, r, geometry=geometry):
                    rows.append(row(b))
    return rows


def loopgas_bruteforce_check() -> float:
    """Max |structured - brute force| over L = 3, all geometries and radii, two p and deltas."""
    from latticediff.info.cmi import apply_bitflip_noise

    states, _ = ld.exact.enumerate_states(ld.LoopGas(L=3))
    flat = states.reshape(len(states), -1).astype(np.int64)
    n = flat.shape[1]
    index = flat @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64))
    clean_table = np.bincount(index, minlength=1 << n) / len(states)
    worst = 0.0
    for p in (0.05, 0.11):
        noisy = np.clip(apply_bitflip_noise(clean_table, p), 0, None).reshape((2,) * n)
        for _, geometry, radii in LOOPGAS_CASES[:2]:
            for r in radii:
                masks = fb.fidelity_loopgas_regions(3, r, geometry=geometry)
                order = [list(np.flatnonzero(m.ravel())) for m in masks]
                shape = tuple(2 ** len(o) for o in order)
                table = noisy.transpose(order[0] + order[1] + order[2]).reshape(shape)
                for d in (0.01, 0.25):
                    ref = fb.fidelity_bound_table(table, fb.bitflip_channel(len(order[0]), d))
                    got = fb.fidelity_bound_loopgas(3, p, d, r, geometry=geometry)
                    for q in ("tv", "kl", "cmi_p", "cmi_q"):
                        worst = max(worst, abs(getattr(ref, q) - getattr(got, q)))
    return worst


def loopgas_pfaffian_check(n: int = 6) -> dict:
    """L = 4: P(y_Q) from the syndrome grouping against the Pfaffian code of info.syndrome.

    Q = A u B of the edge geometry at r = 1, 2 and the site geometry at r = 1; random y.
    """
    from latticediff.info.syndrome import loopgas_log_prob

    L, p = 4, 0.1
    u, v = fb._torus_edges(L)
    emask = (np.int64(1) << u) | (np.int64(1) << v)
    f = fb._syndrome_distribution(L, p)
    dim_z = L * L + 1
    rng = np.random.default_rng(0)
    worst = 0.0
    for geometry, r in (("edge", 1), ("edge", 2), ("site", 1)):
        A, B, C = (m.ravel() for m in fb.fidelity_loopgas_regions(L, r, geometry=geometry))
        Q = A | B
        basis_c, _ = fb._xor_extend([], emask[C])
        s_c = fb._span(basis_c)
        count_c = 2.0 ** (int(C.sum()) - len(basis_c))
        y = (rng.random((n, 2 * L * L)) < 0.3).astype(np.uint8) * Q
        for yy in y:
            sig = int(np.bitwise_xor.reduce(emask[yy.astype(bool)], initial=0))
            mine = math.log(count_c * f[sig ^ s_c].sum() * 2.0**-dim_z)
            theirs = float(loopgas_log_prob(L, p, Q.reshape(2, L, L), yy.reshape(2, L, L))[0])
            worst = max(worst, abs(mine - theirs))
    return {"L": L, "p": p, "n_per_region": n, "max_abs_log_prob_diff": worst}


# ---------------------------------------------------------------------------------------------
# (c) the radius the bound asks for


def radius_table(chain_rows: list, radii) -> list:
    out = []
    for p in P_NOISE:
        cmi = np.array([nc.chain_cmi(K, p, r) for r in radii])
        err = nc.chain_limits(K, p)["H_y_inf_error"]
        # fit window: r >= 2 while the infinite-C value is far above its extrapolation error
        good = [r for r, c in zip(radii, cmi, strict=True) if r >= 2 and c > 1e3 * (err + 1e-16)]
        hi = max(good)
        fit = ld.fit_markov_length(radii, cmi, np.zeros(len(radii)), window=(2, hi))
        gamma, xi = fit.amplitude, fit.xi
        for eps in EPS:
            r_formula = fb.fidelity_radius(eps, gamma=gamma, xi=xi)
            # the paper's scaling form, read literally with the CMI decay length
            r_paper = xi * math.log(math.sqrt(gamma) / eps)
            r_pred = max(0, math.ceil(r_formula - 1e-9))
            # the bound on the exact infinite-C CMI (no fit): smallest r with I(r) <= 2 eps^2
            ok = [r for r, c in zip(radii, cmi, strict=True) if c <= 2 * eps**2]
            r_bound = min(ok) if ok else None
            needed = {}
            for d in DELTAS:
                tvs = {
                    x["r"]: x["tv"]
                    for x in chain_rows
                    if x["p_noise"] == p and x["delta"] == d and x["r"] in radii
                }
                hit = [r for r in radii if tvs[r] <= eps]
                needed[str(d)] = min(hit) if hit else None
            out.append(
                {
                    "p_noise": p,
                    "eps": eps,
                    "gamma_fit": gamma,
                    "xi_fit": xi,
                    "xi_exact": nc.chain_markov_length(K, p),
                    "fit_window": list(fit.window),
                    "r_formula": r_formula,
                    "r_paper_form": r_paper,
                    "r_predicted": r_pred,
                    "r_bound_exact_cmi": r_bound,
                    "r_needed_by_delta": needed,
                }
            )
    return out


# ---------------------------------------------------------------------------------------------
# figures


def figures(res: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    rows = res["chain"]["rows"]
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(DELTAS)))
    ps = [p for p in P_NOISE if p >= 0.05]
    fig, axes = plt.subplots(1, len(ps), figsize=(4.2 * len(ps), 4.0), sharey=True)
    for ax, p in zip(axes, ps, strict=True):
        sel = [x for x in rows if x["p_noise"] == p]
        rr = sorted({x["r"] for x in sel})
        first = [next(x for x in sel if x["r"] == r) for r in rr]
        ax.semilogy(
            rr, [x["cmi_p"] for x in first], "k-", lw=2.5, label="$I_p(A:C|B)$, C = l sites"
        )
        ax.semilogy(rr, [x["cmi_inf"] for x in first], "k:", lw=1.5, label="$I$, infinite C")
        for c, d in zip(colors, DELTAS, strict=True):
            s = [x for x in sel if x["delta"] == d]
            s.sort(key=lambda x: x["r"])
            ax.semilogy(
                [x["r"] for x in s],
                [x["two_tv_sq"] for x in s],
                "o-",
                color=c,
                ms=3,
                label=rf"$2\,TV^2$, $\delta$={d}",
            )
            ax.semilogy(
                [x["r"] for x in s],
                [x["cmi_drop"] for x in s],
                "--",
                color=c,
                lw=0.8,
                label=rf"$I_p - I_q$, $\delta$={d}",
            )
        ax.set_title(f"noisy Ising chain, K = 1, p = {p}")
        ax.set_xlabel("buffer radius r")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("nats")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.savefig(out / "chain_bound.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    names.append("chain_bound.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    pcolors = plt.cm.plasma(np.linspace(0.0, 0.85, len(P_NOISE)))
    for ax, d in zip(axes, (0.01, 0.25), strict=True):
        for c, p in zip(pcolors, P_NOISE, strict=True):
            s = sorted(
                (x for x in rows if x["p_noise"] == p and x["delta"] == d), key=lambda x: x["r"]
            )
            s = [x for x in s if x["ratio"] is not None]
            ax.semilogy(
                [x["r"] for x in s], [x["ratio"] for x in s], "o-", ms=3, color=c, label=f"p = {p}"
            )
        ax.set_title(rf"tightness $2\,TV^2 / I_p$, chain, $\delta$ = {d}")
        ax.set_xlabel("buffer radius r")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "chain_ratio.png", dpi=130)
    plt.close(fig)
    names.append("chain_ratio.png")

    lg = res["loopgas"]["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    lp = (0.05, 0.11, 0.2)
    lcol = plt.cm.plasma(np.linspace(0.0, 0.8, len(lp)))
    for ax, (L, geometry) in zip(axes[:2], ((4, "edge"), (3, "edge")), strict=True):
        for c, p in zip(lcol, lp, strict=True):
            s = sorted(
                (x for x in lg if x["L"] == L and x["geometry"] == geometry and x["p_noise"] == p),
                key=lambda x: x["r"],
            )
            rr = sorted({x["r"] for x in s})
            cm = [next(x["cmi_p"] for x in s if x["r"] == r) for r in rr]
            ax.semilogy(rr, cm, "-", lw=2.5, color=c, label=f"$I_p$, p = {p}")
            for d, m in ((0.25, "o"), (0.01, "s")):
                tv2 = [
                    next(x["two_tv_sq"] for x in s if x["r"] == r and x["delta"] == d) for r in rr
                ]
                ax.semilogy(
                    rr,
                    tv2,
                    m + "--",
                    ms=4,
                    lw=1,
                    color=c,
                    label=rf"$2\,TV^2$, p = {p}, $\delta$ = {d}",
                )
        ax.set_title(f"loop gas, L = {L}, A = one edge, B = edges within distance r")
        ax.set_xlabel("r")
        ax.set_xticks(rr)
        ax.grid(alpha=0.3, which="both")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("nats")
    axes[0].legend(fontsize=6, loc="lower left")
    ax = axes[2]
    for (L, geometry, radii), mk in zip(LOOPGAS_CASES, "os^v", strict=True):
        for r in radii:
            s = sorted(
                (
                    x
                    for x in lg
                    if x["L"] == L
                    and x["geometry"] == geometry
                    and x["r"] == r
                    and x["delta"] == 0.25
                ),
                key=lambda x: x["p_noise"],
            )
            ax.plot(
                [x["p_noise"] for x in s],
                [x["ratio"] or np.nan for x in s],
                mk + "-",
                ms=4,
                label=f"L={L} {geometry} r={r}",
            )
    ax.set_title(r"loop gas tightness $2\,TV^2/I_p$, $\delta$ = 0.25")
    ax.set_xlabel("p_noise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "loopgas_bound.png", dpi=130)
    plt.close(fig)
    names.append("loopgas_bound.png")

    rad = res["radius"]
    fig, axes = plt.subplots(1, len(EPS), figsize=(4.3 * len(EPS), 4.0), sharey=True)
    for ax, eps in zip(axes, EPS, strict=True):
        s = [x for x in rad if x["eps"] == eps]
        pp = [x["p_noise"] for x in s]
        ax.plot(
            pp,
            [x["r_formula"] for x in s],
            "k-",
            lw=2,
            label=r"bound: $\xi \ln(\gamma / 2\varepsilon^2)$ (fit)",
        )
        ax.plot(
            pp,
            [x["r_bound_exact_cmi"] if x["r_bound_exact_cmi"] is not None else np.nan for x in s],
            "k^:",
            label=r"bound: min r with $I(r) \leq 2\varepsilon^2$",
        )
        ax.plot(
            pp,
            [x["r_paper_form"] for x in s],
            "-",
            color="0.55",
            lw=1.5,
            label=r"paper's form $\xi \ln(\sqrt{\gamma} / \varepsilon)$ (same fit)",
        )
        for c, d in zip(colors, DELTAS, strict=True):
            need = [x["r_needed_by_delta"][str(d)] for x in s]
            ax.plot(
                pp,
                [np.nan if n is None else n for n in need],
                "o-",
                ms=4,
                color=c,
                label=rf"needed: min r with TV $\leq \varepsilon$, $\delta$ = {d}",
            )
        ax.set_title(rf"chain, $\varepsilon$ = {eps:g}")
        ax.set_xlabel("p_noise")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("radius r")
    axes[0].legend(fontsize=6.5, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "radius.png", dpi=130)
    plt.close(fig)
    names.append("radius.png")
    return names


# ---------------------------------------------------------------------------------------------


def summarise(res: dict) -> dict:
    chain = res["chain"]["rows"]
    lg = res["loopgas"]["rows"]
    allrows = chain + lg

    def ratio_range(rows):
        r = [x["ratio"] for x in rows if x["ratio"] is not None]
        return [min(r), max(r)] if r else None

    worst = max(allrows, key=lambda x: x["max_violation"])
    return {
        "n_cases": len(allrows),
        "max_violation": worst["max_violation"],
        "max_violation_case": {k: worst[k] for k in ("system", "p_noise", "delta", "r")},
        "chain_holds_everywhere": all(x["max_violation"] <= TOL for x in allrows),
        "max_violation_by_inequality": {
            k: max(
                x["two_tv_sq"] - x["kl"]
                if k == "pinsker"
                else x["kl"] - x["cmi_drop"]
                if k == "kl_vs_cmi_drop"
                else -x["cmi_q"]
                for x in allrows
            )
            for k in ("pinsker", "kl_vs_cmi_drop", "cmi_drop_vs_cmi")
        },
        "ratio_range_chain": ratio_range(chain),
        "ratio_range_chain_by_delta": {
            str(d): ratio_range([x for x in chain if x["delta"] == d]) for d in DELTAS
        },
        "ratio_range_loopgas": ratio_range(lg),
        "ratio_range_loopgas_by_delta": {
            str(d): ratio_range([x for x in lg if x["delta"] == d]) for d in DELTAS
        },
        "two_tv_sq_over_kl_range": [
            min(x["two_tv_sq"] / x["kl"] for x in allrows if x["kl"] > 1e-20),
            max(x["two_tv_sq"] / x["kl"] for x in allrows if x["kl"] > 1e-20),
        ],
        "chain_ratio_delta_0.25": {
            str(p): {
                str(r): next(
                    x["ratio"]
                    for x in chain
                    if x["p_noise"] == p and x["delta"] == 0.25 and x["r"] == r
                )
                for r in sorted({x["r"] for x in chain})
                if r in (0, 1, 2, 5, 10)
            }
            for p in P_NOISE
        },
        "kl_over_cmi_drop_range": [
            min(x["kl"] / x["cmi_drop"] for x in allrows if x["cmi_drop"] > 1e-20),
            max(x["kl"] / x["cmi_drop"] for x in allrows if x["cmi_drop"] > 1e-20),
        ],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="r <= 6 and short l scans (smoke run)")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    ap.add_argument("--plot-only", action="store_true", help="redraw figures from results.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        res = json.loads((out / "results.json").read_text())
        print("figures:", figures(res, out))
        return 0
    t0 = time.time()
    radii = list(range(0, (6 if args.quick else R_MAX) + 1))
    print("chain grid ...", flush=True)
    chain_rows, inf = chain_grid(radii)
    print("chain convergence in l ...", flush=True)
    conv = chain_convergence(args.quick)
    print("loop gas ...", flush=True)
    lg_rows = loopgas_grid()
    checks = {
        "loopgas_L3_structured_vs_bruteforce_max_abs_diff": loopgas_bruteforce_check(),
    }
    print("loop gas L = 4 against the Pfaffian code ...", flush=True)
    checks["loopgas_L4_marginal_vs_pfaffian"] = loopgas_pfaffian_check()
    print("radii ...", flush=True)
    rad = radius_table(chain_rows, radii)
    res = {
        "meta": {
            "command": "python analysis/fidelity_bound/run.py" + (" --quick" if args.quick else ""),
            "latticediff": ld.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "units": "nats",
            "tolerance": TOL,
            "chain": {
                "K": K,
                "p_noise": P_NOISE,
                "delta": DELTAS,
                "r": radii,
                "l_rule": "l = max(3, min(5, 12 - r)) sites of C on each side of B",
                "regions": "A = site 0, B = 1 <= |i| <= r, C = r < |i| <= r + l",
                "infinite_c": "chain_cmi(K, p, r) (transfer matrices, R_max = 12 extrapolation)",
                "infinite_c_error": {str(p): inf[p]["error"] for p in P_NOISE},
            },
            "loopgas": {
                "p_noise": LOOPGAS_P,
                "delta": DELTAS,
                "cases": [[L, g, list(rs)] for L, g, rs in LOOPGAS_CASES],
                "geometry_edge": "A = edge (0,0)-(0,1); B = other edges at distance <= r "
                "(1 + torus graph distance between nearest endpoints); C = the rest of the torus",
                "geometry_site": "A = the 2 edges of site (0,0); B = edges of sites at L-inf "
                "distance 1..r (owner rule, DESIGN.md 2); C = the rest",
            },
            "radius_formula": "r >= xi ln(gamma / (2 eps^2)) = 2 xi ln(sqrt(gamma/2) / eps)",
            "eps": EPS,
        },
        "chain": {"rows": chain_rows},
        "chain_l_convergence": conv,
        "loopgas": {"rows": lg_rows},
        "checks": checks,
        "radius": rad,
    }
    res["summary"] = summarise(res)
    res["meta"]["wall_s"] = time.time() - t0
    res = clean(res)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(out / "results.json")
    print("figures:", figures(res, out))
    print(json.dumps(res["summary"], indent=1))
    print(json.dumps(checks, indent=1))
    print(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
