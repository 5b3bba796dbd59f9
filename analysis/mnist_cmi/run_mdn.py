"""MNIST CMI heat map over (t, r): I(A:C|B) of the noisy images on the linear path, A = the
centre pixel, B = the L-infinity shell of radius r around it (clipped at the borders), C = the
rest of the image, estimated with ``latticediff.info.neural_continuous`` (two conditional
mixture-density networks, held-out NLL difference, paired bootstrap over images).

Data: the 10,000 MNIST test images, pixels scaled from [0, 1] to [-1, 1] (``2 x - 1``,
``latticediff.images.to_signed``), then ``x_t = (1 - t) x_0 + t z`` with z ~ N(0, 1) per pixel:
the estimator gets the clean images and draws fresh noise for every training minibatch (so the
networks cannot overfit the noise), and ``eval_draws`` fixed draws per held-out image (averaged
per image; the bootstrap resamples images). At t = 0 the pixels are 8-bit
quantised, so each is dequantised by uniform noise within its bin (width 2/255): that leaves the
discrete CMI unchanged (the bin is recoverable from the dequantised value) and makes the
differential entropies finite. At t = 1 the data are pure noise and the CMI is exactly 0 (a null
check of the estimator).

Usage (from the repo root; CPU only)::

    python analysis/mnist_cmi/run_mdn.py --quick     # < 3 min: 4 times, 3 radii, fewer images
    python analysis/mnist_cmi/run_mdn.py             # the full grid (see README for the time)

Writes ``out/mdn/results.json`` and ``out/mdn/mnist_cmi_heatmap.{png,pdf}`` next to this file
(superseded by ``run.py``, the I-MMSE estimator; kept to reproduce the history in the README).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PAPER_PEAK_T = 0.3  # arXiv:2508.06614, MNIST centre pixel, linear path

PLANS = {
    "quick": {
        "t": [0.0, 0.3, 0.6, 1.0],
        "radius": [1, 3, 6],
        "n_images": 3000,
        "eval_draws": 4,
        "steps": 300,
    },
    "full": {
        "t": [round(0.1 * k, 1) for k in range(11)],
        "radius": [1, 2, 3, 4, 6, 8, 12],
        "n_images": 10000,
        "eval_draws": 2,
        "steps": 600,
    },
    "medium": {  # the far_summary run: fits ~20 min on the shared 2-core machine
        "t": [round(0.1 * k, 1) for k in range(11)],
        "radius": [1, 2, 3, 4, 6, 8, 12],
        "n_images": 10000,
        "eval_draws": 2,
        "steps": 300,
    },
}
MODEL = {"n_components": 2, "hidden": 16, "depth": 1, "batch": 512, "lr": 3e-3}
CENTER = (14, 14)
FAR_SUMMARY = 16  # far predictor sees B + 16 principal-component features of C (lower bound)


def path_noise(t: float):
    """``noise(x, rng)`` for the estimator: x_t = (1-t) x + t z, or dequantisation at t = 0."""
    if t == 0.0:

        def dequantise(x, rng):
            return x + rng.uniform(0.0, 2.0 / 255.0, size=x.shape).astype(np.float32)

        return dequantise

    a, s = np.float32(1.0 - t), np.float32(t)

    def linear(x, rng):
        return a * x + s * rng.standard_normal(x.shape, dtype=np.float32)

    return linear


def peaks(ts, radii, cmi: np.ndarray) -> tuple[float, dict]:
    """t of the largest CMI averaged over the radii, and the argmax t for each radius."""
    peak_t = float(ts[int(np.argmax(cmi.mean(axis=1)))])
    per_r = {str(r): float(ts[int(np.argmax(cmi[:, j]))]) for j, r in enumerate(radii)}
    return peak_t, per_r


def heatmap(res: dict, path_png: Path, path_pdf: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array(res["t"])
    r = np.array(res["radius"])
    cmi = np.array(res["cmi"])  # held-out estimate, (len(t), len(r))
    se = np.array(res["cmi_stderr"])
    corr = np.array(res["cmi_bias_corrected"])
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    vmax = max(float(np.nanmax(np.abs(cmi[t > 0]))), 1e-6)  # t = 0 saturates (see README)
    im = ax0.imshow(
        cmi.T,
        origin="lower",
        aspect="auto",
        cmap="RdBu_r",
        vmin=-vmax,
        vmax=vmax,
        extent=(t[0] - 0.05, t[-1] + 0.05, -0.5, len(r) - 0.5),
    )
    ax0.set_yticks(range(len(r)), [str(v) for v in r])
    ax0.set_xlabel("t  (x_t = (1-t) x_0 + t z)")
    ax0.set_ylabel("buffer radius r")
    k = res.get("model", {}).get("far_summary")
    what = f"lower bound: far = B + {k} PCs of C" if k else "far = all pixels"
    ax0.set_title(f"MNIST centre pixel: held-out I(A:C|B) [nats]\n({what})", fontsize=9)
    ax0.axvline(PAPER_PEAK_T, color="w", ls="--", lw=1, label=f"paper peak t~{PAPER_PEAK_T}")
    ax0.axvline(res["peak_t"], color="r", ls=":", lw=1.5, label=f"measured peak t={res['peak_t']}")
    ax0.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax0, label="nats (not clipped; colour saturates at t = 0)")
    for j, rv in enumerate(r):
        lines = ax1.errorbar(
            t, cmi[:, j], yerr=se[:, j], marker="o", ms=3, capsize=2, label=f"r={rv}"
        )
        ax1.plot(t, corr[:, j], ls=":", lw=0.8, color=lines[0].get_color())
    ax1.axhline(0.0, color="k", lw=0.6)
    ax1.set_yscale("symlog", linthresh=0.01, linscale=2.0)
    ax1.axvline(PAPER_PEAK_T, color="gray", ls="--", lw=1)
    ax1.set_xlabel("t")
    ax1.set_ylabel("I(A:C|B) [nats], ±1 stderr (symlog)")
    ax1.set_title("held-out ±1 se (solid); in/out-mean correction (dotted)", fontsize=9)
    ax1.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path_png, dpi=130)
    fig.savefig(path_pdf)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a < 3 min subset")
    ap.add_argument(
        "--plan", choices=sorted(PLANS), default=None, help="full (default), medium or quick"
    )
    ap.add_argument(
        "--mnist",
        default=str(ROOT.parent / "shared" / "datasets" / "mnist"),
        help="directory with the MNIST IDX files (default ../shared/datasets/mnist)",
    )
    ap.add_argument("--out", default=str(HERE / "out" / "mdn"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--replot", action="store_true", help="only redraw the figure from out/results.json"
    )
    ap.add_argument(
        "--far-summary",
        type=int,
        default=FAR_SUMMARY,
        help="k summary features of C for the far predictor (a lower bound of the CMI; "
        f"default {FAR_SUMMARY}); 0 = the far predictor sees every pixel (the old estimator)",
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: best on a shared machine)"
    )
    ap.add_argument("--t", type=float, nargs="+", help="override the plan's t values")
    ap.add_argument("--radius", type=int, nargs="+", help="override the plan's radii")
    ap.add_argument("--hidden", type=int, help="override the MLP width (capacity check)")
    ap.add_argument("--depth", type=int, help="override the MLP depth (capacity check)")
    ap.add_argument("--components", type=int, help="override the mixture components K")
    args = ap.parse_args(argv)

    from latticediff.images import load_mnist, to_signed
    from latticediff.info.neural_continuous import neural_cmi_continuous_profile

    plan_name = args.plan or ("quick" if args.quick else "full")
    plan = dict(PLANS[plan_name])
    if args.t:
        plan["t"] = [float(v) for v in args.t]
    if args.radius:
        plan["radius"] = [int(v) for v in args.radius]
    model = dict(MODEL)
    for key, val in (("hidden", args.hidden), ("depth", args.depth)):
        if val is not None:
            model[key] = val
    if args.components is not None:
        model["n_components"] = args.components
    out = Path(args.out)
    if args.replot:
        res = json.loads((out / "results.json").read_text())
        res["peak_t"], res["peak_t_per_radius"] = peaks(
            res["t"], res["radius"], np.array(res["cmi"])
        )
        res["peak_t_rule"] = "argmax over the t grid of the held-out cmi averaged over the radii"
        res.pop("peak_t_heldout", None)
        (out / "results.json").write_text(json.dumps(res, indent=1))
        heatmap(res, out / "mnist_cmi_heatmap.png", out / "mnist_cmi_heatmap.pdf")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    x0, _ = load_mnist(args.mnist, split="test", n=plan["n_images"])
    x0 = to_signed(x0)  # [0, 1] -> [-1, 1]

    cmi = np.zeros((len(plan["t"]), len(plan["radius"])))
    se = np.zeros_like(cmi)
    h_b = np.zeros_like(cmi)
    cin = np.zeros_like(cmi)
    cbc = np.zeros_like(cmi)
    cbc_se = np.zeros_like(cmi)
    h_bc = np.zeros(len(plan["t"]))
    per_t = []
    for i, t in enumerate(plan["t"]):
        t1 = time.perf_counter()
        ests = neural_cmi_continuous_profile(
            x0,
            radii=plan["radius"],
            periodic=False,
            center=CENTER,
            steps=plan["steps"],
            noise=path_noise(t),
            eval_draws=plan["eval_draws"],
            seed=args.seed,
            threads=args.threads,
            far_summary=args.far_summary or None,
            summary_residualise=False,
            **model,
        )
        for j, e in enumerate(ests):
            cmi[i, j] = e.value
            se[i, j] = e.stderr
            h_b[i, j] = e.details["h_A_given_B"]
            cin[i, j] = e.details["value_in_sample"]
            cbc[i, j] = e.details["value_mean_in_out"]
            cbc_se[i, j] = e.details["value_mean_in_out_stderr"]
        h_bc[i] = ests[0].details["h_A_given_BC"]
        d = ests[0].details
        per_t.append(
            {
                "t": t,
                "seconds": time.perf_counter() - t1,
                "best_step": {str(e.radius): e.details["best_step"]["B"] for e in ests}
                | {"far": d["best_step"]["far"]},
                "train_nll_far": d["train_nll"]["far"],
                "val_nll_far": d["val_nll"]["far"],
                "n_train": d["n_train"],
                "n_test": d["n_test"],
                "bootstrap_units": d["bootstrap_units"],
            }
        )
        print(
            f"t={t:.1f}  "
            + "  ".join(
                f"r={r}: {v:+.4f}±{s:.4f} [held-out {h:+.4f}]"
                for r, v, s, h in zip(plan["radius"], cbc[i], cbc_se[i], cmi[i], strict=True)
            )
            + f"  ({per_t[-1]['seconds']:.0f} s)",
            flush=True,
        )
        partial = {"t": plan["t"][: i + 1], "radius": plan["radius"], "per_t": per_t}
        for key, arr in (("cmi", cmi), ("cmi_stderr", se), ("cmi_bias_corrected", cbc)):
            partial[key] = arr[: i + 1].tolist()
        (out / "partial.json").write_text(json.dumps(partial, indent=1))

    peak_t, peak_per_r = peaks(plan["t"], plan["radius"], cmi)
    res = {
        "description": "I(A:C|B) in nats of MNIST test images on the linear path x_t = (1-t) x_0 + "
        "t z, pixels scaled to [-1, 1]; A = pixel (14, 14), B = L-inf shell of radius r (clipped "
        "at borders), C = rest of the image; neural_continuous estimator (conditional mixture "
        "density networks, held-out NLL difference, bootstrap over images); t = 0 dequantised.",
        "t": plan["t"],
        "radius": plan["radius"],
        "cmi": cmi.tolist(),
        "cmi_stderr": se.tolist(),
        "cmi_note": "cmi = held-out NLL difference (biased DOWN by the far model's overfitting); "
        "cmi_in_sample = the same on training images (biased UP); cmi_bias_corrected = their "
        "mean (first-order fitting bias cancels), the map shown in the figure",
        "cmi_in_sample": cin.tolist(),
        "cmi_bias_corrected": cbc.tolist(),
        "cmi_bias_corrected_stderr": cbc_se.tolist(),
        "h_A_given_B": h_b.tolist(),
        "h_A_given_BC": h_bc.tolist(),
        "peak_t": peak_t,
        "peak_t_rule": "argmax over the t grid of the held-out cmi averaged over the radii",
        "peak_t_per_radius": peak_per_r,
        "paper_peak_t": PAPER_PEAK_T,
        "plan": plan_name,
        "n_images": plan["n_images"],
        "eval_draws": plan["eval_draws"],
        "center": list(CENTER),
        "model": model
        | {"steps": plan["steps"], "far_summary": args.far_summary or None}
        | {"summary_residualise": False},
        "per_t": per_t,
        "seed": args.seed,
        "seconds": time.perf_counter() - t_start,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    (out / "results.json").write_text(json.dumps(res, indent=1))
    heatmap(res, out / "mnist_cmi_heatmap.png", out / "mnist_cmi_heatmap.pdf")
    print(f"peak t = {peak_t} (paper ~{PAPER_PEAK_T}); {res['seconds']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
