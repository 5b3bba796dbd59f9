"""MNIST CMI heat map over (t, r): I(A:C|B) of the noisy images on the linear path, A = the
centre pixel, B = the L-infinity shell of radius r around it (clipped at the borders), C = the
rest of the image, from denoising errors by the conditional I-MMSE identity
(``latticediff.info.immse``): I = 1/2 int_0^snr_t [mmse_B(u) - mmse_BC(u)] du.

Data: the 10,000 MNIST test images, pixels scaled from [0, 1] to [-1, 1] (``2 x - 1``), then
``x_t = (1 - t) x_0 + t z``. The estimator takes the clean images and noises every minibatch
afresh; held-out images get ``eval_draws`` fixed draws. t = 1 is pure noise: the integral is
empty and I = 0 exactly. t = 0 has snr = infinity: the integral is truncated at
``snr_max`` (stated in the output).

Usage (from the repo root; CPU only)::

    python analysis/mnist_cmi/run.py --quick     # < 1 min: t in {0.3, 0.5, 0.7}, r in {1, 3}
    python analysis/mnist_cmi/run.py             # the full grid; see README for the time
    python analysis/mnist_cmi/run.py --replot    # redraw from out/results.json

Writes ``out/results.json`` and ``out/mnist_cmi_heatmap.{png,pdf}`` next to this file; each
finished t is also kept in ``out/partial/`` and reused by ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PAPER_PEAK_T = 0.3  # arXiv:2508.06614, MNIST centre pixel, linear path
CENTER = (14, 14)

PLANS = {
    "full": {
        "t": [round(0.1 * k, 1) for k in range(11)],
        "radius": [1, 2, 3, 4, 6, 8, 12],
        "n_images": 10000,
    },
    "quick": {"t": [0.3, 0.5, 0.7], "radius": [1, 3], "n_images": 3000},
}
MODEL = {
    "far_features": 16,
    "hidden": 64,
    "depth": 2,
    "steps": 1500,
    "finetune_steps": 1000,
    "batch": 512,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "n_nodes": 16,
    "eval_draws": 4,
    "snr_max": 1e4,
}
QUICK_MODEL = {"steps": 300, "finetune_steps": 200, "eval_draws": 2}


def one_t(job: dict) -> dict:
    """All radii at one t (runs in a worker process)."""
    import torch

    from latticediff.images import load_mnist, to_signed
    from latticediff.info.immse import immse_cmi_profile

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    x0, _ = load_mnist(job["mnist"], split="test", n=job["n_images"])
    x0 = to_signed(x0).astype(np.float32)
    es = immse_cmi_profile(
        x0, radii=job["radius"], t=job["t"], periodic=False, center=CENTER, seed=job["seed"],
        threads=1, **job["model"],
    )  # fmt: skip
    row = {
        "t": job["t"],
        "cmi": [e.value for e in es],
        "cmi_stderr": [e.stderr for e in es],
        "cmi_in_sample": [e.details.get("value_in_sample", 0.0) for e in es],
        "exactly_zero": [e.value == 0.0 and e.stderr == 0.0 for e in es],
        "identical_copies": [e.value == 0.0 and e.stderr > 0.0 for e in es],
        "truncated": bool(es[0].details["truncated"]),
        "log_u_range": es[0].details["log_u_range"],
        "training": [e.details.get("training") for e in es],
        "mmse_far": [e.details.get("mmse_far") for e in es],
        "mmse_control": [e.details.get("mmse_control") for e in es],
        "log_u_nodes": es[0].details.get("log_u_nodes"),
        "n_train": es[0].details["n_train"],
        "n_test": es[0].details["n_test"],
        "seconds": time.perf_counter() - t0,
    }
    path = Path(job["partial"]) / f"t_{job['t']:.2f}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, path)  # atomic: an interrupted run never leaves a half-written row
    print(
        f"t={job['t']:.1f}  "
        + "  ".join(
            f"r={r}: {v:+.4f}±{s:.4f}"
            for r, v, s in zip(job["radius"], row["cmi"], row["cmi_stderr"], strict=True)
        )
        + f"  ({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


def peaks(ts, radii, cmi, se) -> dict:
    """Where the CMI peaks in t: per radius the argmax on the grid and, where the maximum is
    interior, the vertex of a weighted parabola through it and its neighbours with a bootstrap
    error (``latticediff.info.scaling.peak_location``); the same for the mean over radii."""
    from latticediff.info.scaling import peak_location

    ts = np.asarray(ts, float)
    out = {}
    curves = {str(r): (cmi[:, j], se[:, j]) for j, r in enumerate(radii)}
    curves["mean"] = (cmi.mean(axis=1), np.sqrt((se**2).sum(axis=1)) / cmi.shape[1])
    for key, (y, e) in curves.items():
        out[key] = {"argmax_t": float(ts[int(np.argmax(y))]), "vertex_t": None,
                    "vertex_t_stderr": None, "status": "fewer than 3 times"}  # fmt: skip
        if len(ts) >= 3:
            p = peak_location(ts, y, np.maximum(e, 1e-6), seed=0)
            out[key] |= {
                "vertex_t": None if not np.isfinite(p.value) else float(p.value),
                "vertex_t_stderr": None if not np.isfinite(p.stderr) else float(p.stderr),
                "status": p.status,
            }
    return out


def rescaled_t(t, scale: float):
    """The time at which data ``scale * x_0`` on the linear path carry what ``x_0`` carries at t.

    A per-site rescaling of every pixel is a bijection, so every information quantity of
    ``x_t = alpha x_0 + sigma z`` depends on the data scale only through ``scale^2 snr(t)``:
    t' solves ``snr(t') scale^2 = snr(t)``. The peak of I(A:C|B) in t therefore depends on the
    pixel convention, which a comparison with a paper has to fix.

    >>> round(float(rescaled_t(0.5, 0.5)), 4)   # [-1, 1] pixels at t = 0.5 are [0, 1] at 1/3
    0.3333
    >>> round(float(rescaled_t(0.3, 1.0)), 12), float(rescaled_t(1.0, 0.5))
    (0.3, 1.0)
    """
    from latticediff.noise import GaussianPath

    path = GaussianPath(kind="linear")
    return path.t_of_snr(path.snr(t) / scale**2)


def other_scales(peak: dict) -> dict:
    """The measured peak and the paper's times, moved between pixel conventions
    (:func:`rescaled_t`; this study's pixels are ``2 x - 1`` for x in [0, 1], so x itself is
    ``scale = 1/2`` of them)."""
    v, e = peak.get("vertex_t"), peak.get("vertex_t_stderr")
    out = {
        "note": "I(A:C|B) at t for pixels x in [0, 1] equals this study's at t' with "
        "snr(t') = snr(t) / 4 (a rescaling is a bijection); "
        "latticediff.noise.GaussianPath('linear').snr",
        "paper_t_on_this_scale_if_pixels_in_0_1": {
            str(t): float(rescaled_t(t, 2.0)) for t in (PAPER_PEAK_T, 0.7)
        },
    }
    if v is not None and e is not None:
        lo, mid, hi = (float(rescaled_t(x, 0.5)) for x in (v - e, v, v + e))
        out["peak_t_if_pixels_in_0_1"] = {"vertex_t": mid, "vertex_t_stderr": (hi - lo) / 2}
    return out


def heatmap(res: dict, path_png: Path, path_pdf: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array(res["t"])
    r = np.array(res["radius"])
    cmi = np.array(res["cmi"])
    se = np.array(res["cmi_stderr"])
    zero = np.array(res["exactly_zero"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    vmax = max(float(np.abs(cmi).max()), 1e-6)
    im = ax0.imshow(
        cmi.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
        extent=(t[0] - 0.05, t[-1] + 0.05, -0.5, len(r) - 0.5),
    )  # fmt: skip
    for i, tv in enumerate(t):
        for j in range(len(r)):
            sig = cmi[i, j] / se[i, j] if se[i, j] > 0 else 0.0
            mark = "0" if zero[i, j] else ("" if abs(sig) < 3 else f"{sig:.0f}σ")
            ax0.text(tv, j, mark, ha="center", va="center", fontsize=6, color="k")
    ax0.set_yticks(range(len(r)), [str(v) for v in r])
    ax0.set_xlabel("t  (x_t = (1-t) x_0 + t z)")
    ax0.set_ylabel("buffer radius r")
    ax0.set_title(
        "MNIST centre pixel: I(A:C|B) [nats], I-MMSE estimator\n"
        f"(C via {res['model']['far_features']} PCs: lower bound; labels: significance >= 3σ)",
        fontsize=9,
    )
    ax0.axvline(PAPER_PEAK_T, color="k", ls="--", lw=1, label=f"paper peak t~{PAPER_PEAK_T}")
    t01 = float(rescaled_t(PAPER_PEAK_T, 2.0))  # the paper's t on our scale if its x is in [0, 1]
    ax0.axvline(
        t01, color="gray", ls="-.", lw=1, label=f"same, if its pixels are in [0,1]: {t01:.2f}"
    )
    pk = res["peak"]["mean"]["vertex_t"]
    if pk is not None:
        ax0.axvline(pk, color="m", ls=":", lw=1.5, label=f"measured peak t={pk:.2f}")
    ax0.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax0, label="nats (not clipped)")
    for j, rv in enumerate(r):
        ax1.errorbar(t, cmi[:, j], yerr=se[:, j], marker="o", ms=3, capsize=2, label=f"r={rv}")
    ax1.axhline(0.0, color="k", lw=0.6)
    ax1.set_yscale("symlog", linthresh=1e-3, linscale=1.0)
    ax1.axvline(PAPER_PEAK_T, color="gray", ls="--", lw=1)
    if res.get("truncated_t"):
        ax1.annotate(f"t=0: snr truncated at {res['model']['snr_max']:.0e}", (0.0, 0.0),
                     xytext=(0.02, 0.03), textcoords="axes fraction", fontsize=7)  # fmt: skip
    ax1.set_xlabel("t")
    ax1.set_ylabel("I(A:C|B) [nats], ±1 stderr (symlog)")
    ax1.set_title("held-out estimate per radius", fontsize=9)
    ax1.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path_png, dpi=130)
    fig.savefig(path_pdf)
    plt.close(fig)


def assemble(rows: list[dict], plan: dict, model: dict, meta: dict) -> dict:
    rows = sorted(rows, key=lambda d: d["t"])
    ts = [d["t"] for d in rows]
    cmi = np.array([d["cmi"] for d in rows])
    se = np.array([d["cmi_stderr"] for d in rows])
    return {
        "description": "I(A:C|B) in nats of MNIST test images on the linear path x_t = (1-t) "
        "x_0 + t z, pixels scaled to [-1, 1]; A = pixel (14, 14), B = L-inf shell of radius r "
        "(clipped at the borders), C = rest of the image (through its first principal "
        "components: a lower bound); conditional I-MMSE estimator (latticediff.info.immse), "
        "bootstrap stderr over held-out images (excludes training-run spread).",
        "t": ts,
        "radius": plan["radius"],
        "cmi": cmi.tolist(),
        "cmi_stderr": se.tolist(),
        "cmi_in_sample": [d["cmi_in_sample"] for d in rows],
        "exactly_zero": [d["exactly_zero"] for d in rows],
        "exactly_zero_note": "True at t = 1, where the integral is empty (pure noise): I = 0 "
        "exactly",
        "identical_copies": [d["identical_copies"] for d in rows],
        "identical_copies_note": "True where far and control kept a common start that ignores "
        "C (validation chose step 0 for both): the value is 0 (nothing detected) and its "
        "stderr is the estimator's resolution, the bootstrap error of the un-stopped copies' "
        "difference (latticediff.info.immse)",
        "truncated_t": [d["t"] for d in rows if d["truncated"]],
        "peak": peaks(ts, plan["radius"], cmi, se),
        "paper_peak_t": PAPER_PEAK_T,
        "n_images": plan["n_images"],
        "center": list(CENTER),
        "model": model,
        "per_t": [
            {k: d[k] for k in ("t", "seconds", "training", "log_u_range", "n_train", "n_test")}
            | {"mmse_far": d["mmse_far"], "mmse_control": d["mmse_control"]}
            for d in rows
        ],
        "log_u_nodes": {str(d["t"]): d["log_u_nodes"] for d in rows},
        **meta,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a < 1 min subset")
    ap.add_argument(
        "--mnist",
        default=str(ROOT.parent / "shared" / "datasets" / "mnist"),
        help="directory with the MNIST IDX files (default ../shared/datasets/mnist)",
    )
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="processes, one t each (1 thread)")
    ap.add_argument("--resume", action="store_true", help="reuse finished t from out/partial")
    ap.add_argument("--replot", action="store_true", help="redraw from out/results.json")
    ap.add_argument("--t", type=float, nargs="+", help="override the plan's t values")
    ap.add_argument("--radius", type=int, nargs="+", help="override the plan's radii")
    ap.add_argument("--steps", type=int, help="override the common-start steps (check runs)")
    ap.add_argument("--finetune-steps", type=int, help="override the fine-tuning steps")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.replot:
        res = json.loads((out / "results.json").read_text())
        res["pixel_scale"] = other_scales(res["peak"]["mean"])
        tmp = out / "results.json.tmp"
        tmp.write_text(json.dumps(res, indent=1))
        os.replace(tmp, out / "results.json")
        heatmap(res, out / "mnist_cmi_heatmap.png", out / "mnist_cmi_heatmap.pdf")
        return 0
    if not Path(args.mnist).is_dir():
        raise SystemExit(f"run.py: --mnist {args.mnist} is not a directory with the IDX files")
    if args.workers < 1:
        raise SystemExit(f"run.py: --workers must be >= 1, got {args.workers}")
    plan = dict(PLANS["quick" if args.quick else "full"])
    model = dict(MODEL) | (QUICK_MODEL if args.quick else {})
    if args.t:
        plan["t"] = [float(v) for v in args.t]
    if args.radius:
        plan["radius"] = sorted(int(v) for v in args.radius)
    for key, val in (("steps", args.steps), ("finetune_steps", args.finetune_steps)):
        if val is not None:
            model[key] = int(val)
    partial = out / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    rows, jobs = [], []
    for t in plan["t"]:
        p = partial / f"t_{t:.2f}.json"
        if args.resume and p.exists():
            row = json.loads(p.read_text())
            if len(row["cmi"]) == len(plan["radius"]):
                rows.append(row)
                continue
        jobs.append(
            {"t": t, "radius": plan["radius"], "n_images": plan["n_images"], "seed": args.seed,
             "mnist": args.mnist, "model": model, "partial": str(partial)}
        )  # fmt: skip
    # the most expensive times (small t: the longest log-snr range) first
    jobs.sort(key=lambda j: j["t"])
    if args.workers == 1:
        rows += [one_t(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as ex:
            rows += list(ex.map(one_t, jobs))
    meta = {
        "seed": args.seed,
        "seconds": time.perf_counter() - t_start,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    res = assemble(rows, plan, model, meta)
    res["pixel_scale"] = other_scales(res["peak"]["mean"])
    (out / "results.json").write_text(json.dumps(res, indent=1))
    heatmap(res, out / "mnist_cmi_heatmap.png", out / "mnist_cmi_heatmap.pdf")
    pk = res["peak"]["mean"]
    print(
        f"peak (mean over r): argmax t = {pk['argmax_t']}, vertex {pk['vertex_t']} ± "
        f"{pk['vertex_t_stderr']} (paper ~{PAPER_PEAK_T}); {meta['seconds']:.0f} s; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
