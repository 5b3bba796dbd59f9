"""Network-free cross-check of the MNIST CMI map at high noise: the Gaussian CMI of MNIST's
pixel covariance on the linear path.

Why it works. On ``x_t = alpha x_0 + sigma z`` (alpha = 1 - t, sigma = t) the signal-to-noise
ratio is ``s = alpha^2 / sigma^2 = ((1 - t) / t)^2`` (times the data variance). At small s every
mutual information of x_t is a power series in s whose terms of order s and s^2 involve only the
covariance of x_0; the higher cumulants (non-Gaussianity) enter one order later. I(A:C|B) starts
at O(s^2) (it needs a correlation between A and C), so the CMI of x_t equals that of a Gaussian
with the same covariance, ``Sigma_t = alpha^2 Sigma + sigma^2 I``, up to a relative correction
O(s x cumulant ratios). The Gaussian value is a log-ratio of Schur complements,

    I(A:C|B) = 1/2 log[Var(x_A | x_B) / Var(x_A | x_B, x_C)],

computed exactly from the data's covariance, with no network: a prediction of the neural
(I-MMSE) map of ``run.py`` at t >= 0.7 that becomes exact as t -> 1 (t = 0.9: s = 0.012). The
expansion parameter is reported per t as ``s Var(x_A)`` (the centre pixel) and, more
conservatively, ``s lambda_max`` (the image's top principal component, a collective direction
observed at a much higher snr).

Two variants: C = every other pixel (``full``), and C replaced by its top 16 principal
components ``f(C) = V^T x_C`` (PCA of the clean C-pixels' covariance), the input the neural
estimator actually sees, so ``pc16`` is the Gaussian value of its target I(A : f(C) | B)
<= I(A:C|B). V is orthonormal, so the noisy features' covariance follows from Sigma_t:
``Cov(x_A, x_B, V^T x_C) = alpha^2 M Sigma M^T + sigma^2 I`` with M the stacked rows
``e_A, e_B, V^T``. Error bars: bootstrap over images (resample the images, recompute Sigma, the
principal axes and every value), the standard deviation of the replicates; ``boot_mean - value``
estimates the plug-in bias of the finite-sample covariance.

Geometry as in ``run.py``: 28 x 28 images, pixels ``2 x - 1`` in [-1, 1], A = pixel (14, 14),
B = the L-infinity shell ``0 < d <= r`` clipped at the borders, C = the rest.

Usage (from the repo root; one core, numpy only)::

    python analysis/mnist_cmi/gaussian_check.py            # full: 10,000 images, 200 replicates
    python analysis/mnist_cmi/gaussian_check.py --quick    # 2,000 images, 2 t, 3 r, 5 replicates

Writes ``out/gaussian_check.json`` (atomically) and ``out/gaussian_check.png`` next to this
file (or ``--out``), and prints a table beside the I-MMSE values of ``out/results.json``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core: the machine is shared

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHAPE = (28, 28)
CENTER = (14, 14)
N_PC = 16
STUDY_T = (0.6, 0.7, 0.8, 0.9)
PLANS = {
    "full": {
        "t": sorted({round(0.5 + 0.05 * k, 2) for k in range(10)} | set(STUDY_T)),
        "radius": [1, 2, 3, 4, 6, 8, 12],
        "n_images": 10000,
        "n_boot": 200,
    },
    "quick": {"t": [0.7, 0.9], "radius": [1, 2, 4], "n_images": 2000, "n_boot": 5},
}


# ----------------------------------------------------------------------------------------------
# Gaussian information from covariance blocks


def _idx(v) -> np.ndarray:
    return np.atleast_1d(np.asarray(v, dtype=np.int64))


def conditional_cov(S: np.ndarray, a, cond) -> np.ndarray:
    """``Cov(x_a | x_cond)`` of a Gaussian with covariance S: the Schur complement
    ``S_aa - S_ac S_cc^{-1} S_ca``, through the Cholesky factor of ``S_cc``.

    >>> S = np.array([[2.0, 1.0], [1.0, 1.0]])
    >>> float(conditional_cov(S, 0, [1])[0, 0]), float(conditional_cov(S, 0, [])[0, 0])
    (1.0, 2.0)
    """
    from scipy.linalg import cho_factor, solve_triangular

    a, cond = _idx(a), _idx(cond)
    v = S[np.ix_(a, a)].astype(float)
    if cond.size == 0:
        return v
    L, _ = cho_factor(S[np.ix_(cond, cond)], lower=True, check_finite=False)
    w = solve_triangular(L, S[np.ix_(cond, a)], lower=True, check_finite=False)
    return v - w.T @ w


def _logdet_pd(S: np.ndarray) -> float:
    from scipy.linalg import cho_factor

    if S.size == 0:
        return 0.0
    L, _ = cho_factor(S, lower=True, check_finite=False)
    return 2.0 * float(np.log(np.diag(L)).sum())


def gaussian_cmi(S: np.ndarray, A, B, C) -> float:
    """``I(A:C|B)`` in nats of a Gaussian with covariance S; A, B, C are index lists (A may hold
    several sites, B may be empty): ``1/2 [log det Cov(A|B) - log det Cov(A|B,C)]``, i.e.
    ``1/2 log[Var(A|B) / Var(A|B,C)]`` for one site.

    >>> S = np.array([[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]])  # Markov chain
    >>> abs(gaussian_cmi(S, [0], [1], [2])) < 1e-15
    True
    >>> round(gaussian_cmi(S, [0], [], [2]), 6) == round(-0.5 * math.log(1 - 0.25**2), 6)
    True
    """
    B, C = _idx(B), _idx(C)
    return 0.5 * (
        _logdet_pd(conditional_cov(S, A, B)) - _logdet_pd(conditional_cov(S, A, np.r_[B, C]))
    )


def gaussian_cmi_logdet(S: np.ndarray, A, B, C) -> float:
    """The same from four log-determinants,
    ``1/2 [log det S_AB + log det S_BC - log det S_B - log det S_ABC]`` (a check)."""
    A, B, C = _idx(A), _idx(B), _idx(C)

    def ld(ix):
        return _logdet_pd(S[np.ix_(ix, ix)])

    return 0.5 * (ld(np.r_[A, B]) + ld(np.r_[B, C]) - ld(B) - ld(np.r_[A, B, C]))


def path_cov(Sigma: np.ndarray, t: float) -> np.ndarray:
    """``Sigma_t = (1 - t)^2 Sigma + t^2 I``, the covariance of ``x_t = (1-t) x_0 + t z``."""
    St = (1.0 - t) ** 2 * np.asarray(Sigma, float)
    St[np.diag_indices_from(St)] += t * t
    return St


def regions(r: int, shape=SHAPE, center=CENTER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat indices (A, B, C) of the image: centre pixel, L-inf shell ``0 < d <= r`` clipped at
    the borders, the rest (``latticediff.lattice.shell_mask``, open boundaries).

    >>> A, B, C = regions(1)
    >>> A.tolist(), B.size, C.size
    ([406], 8, 775)
    """
    from latticediff.lattice import shell_mask

    mA, mB, mC = shell_mask(shape, center, int(r), periodic=False)
    return tuple(np.flatnonzero(m.ravel()) for m in (mA, mB, mC))


def feature_cov(Sigma: np.ndarray, A, B, C, k: int = N_PC) -> tuple[np.ndarray, np.ndarray]:
    """Clean covariance ``M Sigma M^T`` of ``(x_A, x_B, V^T x_C)`` with V the top-k principal
    axes of ``Sigma_CC`` (orthonormal, so ``M M^T = I`` and the noisy features have covariance
    ``path_cov(M Sigma M^T, t)``), and the k variances ``lambda`` along them."""
    from scipy.linalg import eigh

    A, B, C = _idx(A), _idx(B), _idx(C)
    k = min(int(k), C.size)
    lam, V = eigh(Sigma[np.ix_(C, C)], subset_by_index=[C.size - k, C.size - 1])
    lam, V = lam[::-1], V[:, ::-1]  # largest first
    AB = np.r_[A, B]
    top = Sigma[np.ix_(AB, AB)]
    off = Sigma[np.ix_(AB, C)] @ V
    F = np.block([[top, off], [off.T, np.diag(lam)]])
    return 0.5 * (F + F.T), lam


def cmi_grid(Sigma: np.ndarray, ts, radii, k: int = N_PC, geometry=regions) -> dict:
    """Gaussian ``I(A:C|B)`` (``full``) and ``I(A:f(C)|B)`` (``pc``, f = top-k principal
    components of the clean C pixels) on the linear path, arrays indexed ``[t][r]``.
    ``geometry(r)`` gives the index lists (A, B, C); A is the same site for every r.

    Var(A | everything else) is shared by all radii of the full variant, Var(A|B) by both
    variants (the same covariance block)."""
    Sigma = np.asarray(Sigma, float)
    geo = [geometry(r) for r in radii]
    A = geo[0][0]
    rest = np.setdiff1d(np.arange(Sigma.shape[0]), A)
    feats = [feature_cov(Sigma, *g, k=k)[0] for g in geo]
    full = np.empty((len(ts), len(radii)))
    pc = np.empty_like(full)
    for i, t in enumerate(ts):
        St = path_cov(Sigma, t)
        v_all = conditional_cov(St, A, rest)[0, 0]
        for j, ((a, b, _), F) in enumerate(zip(geo, feats, strict=True)):
            v_b = conditional_cov(St, a, b)[0, 0]
            full[i, j] = 0.5 * math.log(v_b / v_all)
            v_bf = conditional_cov(path_cov(F, t), 0, np.arange(1, F.shape[0]))[0, 0]
            pc[i, j] = 0.5 * math.log(v_b / v_bf)
    return {"full": full, "pc": pc}


# ----------------------------------------------------------------------------------------------
# data, bootstrap, comparison


def load_pixels(mnist: Path, n: int | None) -> np.ndarray:
    """The MNIST test images, pixels in [-1, 1], flattened: float64 (n, 784)."""
    from latticediff.images import load_mnist, to_signed

    x0, _ = load_mnist(mnist, split="test", n=n)
    return to_signed(x0).reshape(len(x0), -1).astype(np.float64)


def weighted_cov(Xc: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Covariance (divisor n) of the rows of the centred data Xc, row i counted w_i times
    (a bootstrap resample as multiplicities; ``w = None``: each once)."""
    n = Xc.shape[0]
    if w is None:
        S = Xc.T @ Xc / n
    else:
        d = w @ Xc / n
        S = Xc.T @ (w[:, None] * Xc) / n - np.outer(d, d)
    return 0.5 * (S + S.T)


def load_immse(path: Path) -> dict | None:
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    return {k: res[k] for k in ("t", "radius", "cmi", "cmi_stderr", "identical_copies")
            if k in res}  # fmt: skip


def _find(seq, v, tol=1e-9):
    for i, x in enumerate(seq):
        if abs(float(x) - float(v)) < tol:
            return i
    return None


def compare(ts, radii, gauss: dict, immse: dict | None) -> list[dict]:
    """One row per (t, r) on both grids: I-MMSE value and stderr beside the Gaussian values,
    the differences (error: I-MMSE stderr and bootstrap sd in quadrature), z and the ratios."""
    if immse is None:
        return []
    rows = []
    for i, t in enumerate(ts):
        ii = _find(immse["t"], t)
        if ii is None:
            continue
        for j, r in enumerate(radii):
            jj = _find(immse["radius"], r)
            if jj is None:
                continue
            v, e = float(immse["cmi"][ii][jj]), float(immse["cmi_stderr"][ii][jj])
            ident = bool(immse.get("identical_copies", [[False] * 99] * 99)[ii][jj])
            row = {"t": float(t), "radius": int(r), "immse": v, "immse_stderr": e,
                   "immse_identical_copies": ident}  # fmt: skip
            for key in ("full", "pc16"):
                g, sd = gauss[key]["value"][i][j], gauss[key]["boot_sd"][i][j]
                err = math.hypot(e, sd)
                row[f"gauss_{key}"] = g
                row[f"gauss_{key}_sd"] = sd
                row[f"diff_{key}"] = v - g
                row[f"diff_{key}_err"] = err
                row[f"z_{key}"] = (v - g) / err if err > 0 else None
                row[f"ratio_{key}"] = v / g if g > 0 else None
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# figure and table


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.array(res["t"])
    radii = res["radius"]
    show = [r for r in radii if r in (1, 2, 3, 4, 6, 8, 12)][:7]
    ncol = 4
    nrow = math.ceil((len(show) + 1) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.1 * nrow + 0.9), squeeze=False)
    axes = axes.ravel()
    cmp_rows = res["immse_comparison"]
    style = {"full": ("C0", "Gaussian, full C"), "pc16": ("C1", f"Gaussian, C via {N_PC} PCs")}
    for ax, r in zip(axes, show, strict=False):
        j = radii.index(r)
        vals = []
        for key, (col, lab) in style.items():
            g = np.array(res[key]["value"])[:, j]
            sd = np.array(res[key]["boot_sd"])[:, j]
            ax.plot(ts, g, color=col, lw=1.6, label=lab)
            ax.fill_between(ts, np.maximum(g - sd, g * 1e-3), g + sd, color=col, alpha=0.25, lw=0)
            vals += list(g)
        pts = [c for c in cmp_rows if c["radius"] == r]
        # resolved above 0 by more than 1 stderr: a point with its error bar; otherwise (0†
        # cells, values within 1 stderr of 0) a log axis cannot show the bar: an open
        # triangle at max(value, 0) + stderr, a 1-sigma upper limit
        ok = [c for c in pts if c["immse"] > c["immse_stderr"] and not c["immse_identical_copies"]]
        if ok:
            ax.errorbar([c["t"] for c in ok], [c["immse"] for c in ok],
                        yerr=[c["immse_stderr"] for c in ok], fmt="o", ms=4, color="k",
                        capsize=2, label="I-MMSE (run.py), ±1 stderr", zorder=5)  # fmt: skip
            vals += [c["immse"] for c in ok]
        lim = [c for c in pts if c not in ok]
        if lim:
            up = [max(c["immse"], 0.0) + c["immse_stderr"] for c in lim]
            ax.plot([c["t"] for c in lim], up, "v", ms=5, mfc="none", color="k", zorder=5,
                    label="I-MMSE 0† or within 1σ of 0: value + stderr (upper limit)")  # fmt: skip
            vals += up
        ax.axvline(0.7, color="gray", ls="--", lw=1, label="t = 0.7 (issue: ~0 beyond)")
        ax.set_yscale("log")
        pos = [v for v in vals if v > 0]
        if pos:
            ax.set_ylim(min(pos) / 3, max(pos) * 3)
        ax.set_title(f"r = {r}", fontsize=10)
        ax.set_xlabel("t")
        ax.grid(alpha=0.3, which="major")
    for ax in axes[: len(show) : ncol]:
        ax.set_ylabel("I(A:C|B) [nats]")
    ax = axes[len(show)]
    ex = res["expansion"]
    ax.plot(ts, ex["s_var_A"], "-", color="C2", label="s·Var(x_A)  (centre pixel)")
    ax.plot(ts, ex["s_lambda_max"], "-", color="C3", label="s·λ_max  (top PC of the image)")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.axvline(0.7, color="gray", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_title("expansion parameter, s = ((1-t)/t)²", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    for extra in axes[len(show) + 1 :]:
        extra.axis("off")
    handles, labels = [], []
    for a in axes[: len(show)]:
        for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(
        "MNIST centre pixel, linear path, pixels in [-1, 1]: Gaussian CMI of the pixel covariance"
        f" (bands: ±1 bootstrap sd, {res['settings']['n_boot']} replicates,"
        f" {res['settings']['n_images']} images) vs the I-MMSE estimate",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def table(res: dict) -> str:
    lines = ["t     s*Var(x_A)  s*lam_max"]
    ex = res["expansion"]
    for i, t in enumerate(res["t"]):
        lines.append(f"{t:<5g} {ex['s_var_A'][i]:10.4f}  {ex['s_lambda_max'][i]:9.3f}")
    lines.append("")
    head = (f"{'t':>4} {'r':>3}  {'gauss_full':>19}  {'gauss_pc16':>19}  {'immse':>19}  "
            f"{'imm/pc16':>8} {'imm/full':>8}")  # fmt: skip
    lines.append(head)
    cmp_rows = {(c["t"], c["radius"]): c for c in res["immse_comparison"]}
    for i, t in enumerate(res["t"]):
        for j, r in enumerate(res["radius"]):
            c = cmp_rows.get((float(t), int(r)))
            if c is None and res["immse_comparison"]:
                continue
            f, fs = res["full"]["value"][i][j], res["full"]["boot_sd"][i][j]
            p, ps = res["pc16"]["value"][i][j], res["pc16"]["boot_sd"][i][j]
            s = f"{t:>4g} {r:>3}  {f:10.3e}±{fs:8.1e}  {p:10.3e}±{ps:8.1e}"
            if c is not None:
                mark = "†" if c["immse_identical_copies"] else " "
                rp = "-" if c["ratio_pc16"] is None else f"{c['ratio_pc16']:.2f}"
                rf = "-" if c["ratio_full"] is None else f"{c['ratio_full']:.2f}"
                s += f"  {c['immse']:10.3e}±{c['immse_stderr']:7.1e}{mark} {rp:>8} {rf:>8}"
            lines.append(s)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--mnist",
        default=str(ROOT.parent / "shared" / "datasets" / "mnist"),
        help="directory with the MNIST IDX files (default ../shared/datasets/mnist)",
    )
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    ap.add_argument("--immse", default=str(HERE / "out" / "results.json"),
                    help="run.py's results.json to compare with (skipped if absent)")  # fmt: skip
    ap.add_argument("--n-boot", type=int, default=None,
                    help="bootstrap replicates (default 200; --quick: 5)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="2,000 images, 2 t, 3 r: seconds")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = ap.parse_args(argv)
    mnist = Path(args.mnist)
    if not mnist.is_dir():
        ap.exit(2, f"{ap.prog}: error: --mnist {mnist} is not a directory (MNIST IDX files)\n")
    plan = dict(PLANS["quick" if args.quick else "full"])
    if args.n_boot is not None:
        if args.n_boot < 2:
            ap.error(f"--n-boot must be >= 2, got {args.n_boot}")
        plan["n_boot"] = int(args.n_boot)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    X = load_pixels(mnist, plan["n_images"])
    n = X.shape[0]
    Xc = X - X.mean(axis=0)
    ts, radii = plan["t"], plan["radius"]
    Sigma = weighted_cov(Xc)
    point = cmi_grid(Sigma, ts, radii)
    rng = np.random.default_rng(args.seed)
    boot = {"full": [], "pc": []}
    t_boot = time.perf_counter()
    for _ in range(plan["n_boot"]):
        w = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        g = cmi_grid(weighted_cov(Xc, w), ts, radii)
        boot["full"].append(g["full"])
        boot["pc"].append(g["pc"])
    t_boot = time.perf_counter() - t_boot

    def summary(key):
        b = np.array(boot[key])
        return {
            "value": point[key].tolist(),
            "boot_sd": b.std(axis=0, ddof=1).tolist(),
            "boot_mean": b.mean(axis=0).tolist(),
            "boot_p16": np.percentile(b, 16, axis=0).tolist(),
            "boot_p84": np.percentile(b, 84, axis=0).tolist(),
        }

    gauss = {"full": summary("full"), "pc16": summary("pc")}
    A = regions(1)[0][0]
    var_A = float(Sigma[A, A])
    lam_max = float(np.linalg.eigvalsh(Sigma)[-1])
    snr = [((1 - t) / t) ** 2 for t in ts]
    immse = load_immse(Path(args.immse))
    res = {
        "description": "Gaussian I(A:C|B) in nats of MNIST test images on the linear path "
        "x_t = (1-t) x_0 + t z, pixels in [-1, 1], from the clean pixel covariance Sigma "
        "(Sigma_t = (1-t)^2 Sigma + t^2 I): A = pixel (14, 14), B = L-inf shell 0 < d <= r "
        "clipped at the borders, C = the rest ('full') or its top 16 principal components "
        "('pc16', the input of run.py's I-MMSE estimator). Arrays indexed [t][r]. Equal to the "
        "true CMI up to a relative O(s) non-Gaussian correction, s = ((1-t)/t)^2 x variance.",
        "t": [float(t) for t in ts],
        "radius": [int(r) for r in radii],
        "full": gauss["full"],
        "pc16": gauss["pc16"],
        "boot_note": "boot_sd: standard deviation over bootstrap replicates (images resampled "
        "with replacement; Sigma, the principal axes and all values recomputed); "
        "boot_mean - value estimates the plug-in bias of the finite-sample covariance",
        "expansion": {
            "snr": snr,
            "var_A": var_A,
            "lambda_max": lam_max,
            "s_var_A": [s * var_A for s in snr],
            "s_lambda_max": [s * lam_max for s in snr],
            "note": "s = ((1-t)/t)^2; non-Gaussian corrections are relatively O(s x variance): "
            "s Var(x_A) for the centre pixel, s lambda_max for the image's top principal "
            "component (a collective direction, the conservative measure)",
        },
        "immse_source": str(args.immse) if immse is not None else None,
        "immse_comparison": compare(ts, radii, gauss, immse),
        "comparison_note": "diff = immse - gauss; diff_err = hypot(immse_stderr, boot_sd); "
        "ratio = immse / gauss; immse_identical_copies: run.py's 0† cells (value 0 = nothing "
        "detected, stderr = resolution)",
        "settings": {
            "n_images": int(n),
            "n_boot": int(plan["n_boot"]),
            "n_pc": N_PC,
            "seed": int(args.seed),
            "quick": bool(args.quick),
            "center": list(CENTER),
            "pixels": "2 x - 1, x in [0, 1]",
            "covariance": "divisor n, mean removed",
            "mnist": str(mnist),
        },
        "seconds": time.perf_counter() - t_start,
        "seconds_bootstrap": t_boot,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    tmp = out / "gaussian_check.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out / "gaussian_check.json")
    figure(res, out / "gaussian_check.png")
    print(table(res))
    print(f"{res['seconds']:.0f} s ({t_boot:.0f} s bootstrap); wrote {out}/gaussian_check.*",
          file=sys.stdout)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
