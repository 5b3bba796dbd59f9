"""MNIST on the linear Gaussian path: strictly local denoisers (r = 1, 3, 6) against a global
U-Net, the measured MSE gap Delta_r(t), and a hybrid sampler (local r = 3 outside a window chosen
from the gap, global inside) compared with all-global and all-local sampling.

Run from the repository root::

    python analysis/mnist_denoisers/run.py            # full study (~20 min on 2 CPU cores)
    python analysis/mnist_denoisers/run.py --quick    # smoke version (< 3 min)
    python analysis/mnist_denoisers/run.py --device cuda --threads 8 --out DIR   # "gpu" plan

The local models are position-aware by default (``--positional fourier``: data-local, with
smooth features of the pixel's absolute position; see LocalDenoiser); ``--positional none``
gives the translation-equivariant local models of the first version of this study.

Writes ``out/results.json``, ``out/mse_gap.{png,pdf}``, ``out/samples.{png,pdf}`` (all schedules
side by side, with real held-out digits) and ``out/samples_<schedule>.png`` (one grid each).
See README.md for the design and the window rule.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from latticediff.images import load_mnist, to_signed  # noqa: E402
from latticediff.nn import (  # noqa: E402
    GlobalDenoiser,
    HybridSchedule,
    LocalDenoiser,
    evaluate_per_site_loss,
    sample_gaussian,
    train_denoiser,
)
from latticediff.noise import GaussianPath  # noqa: E402
from latticediff.quality import image_quality  # noqa: E402

RADII = (1, 3, 6)
HYBRID_RADIUS = 3

#: Full and quick plans. Every model gets the same number of optimisation steps and batch size.
PLANS = {
    # 2000 samples per schedule against 2000 held-out digits: the sample-quality comparisons
    # (Frechet distance, C2ST) need their error bars halved from the 500/1000 of the first runs
    "full": dict(
        n_train=8000,
        n_eval=2000,
        steps=1200,
        batch=32,
        lr=2e-3,
        hidden=24,
        g_hidden=24,
        g_levels=2,
        n_t=13,
        n_samples=2000,
        n_sample_steps=25,
        two_sample_test=True,
    ),
    # One NVIDIA H100 (16 CPU cores), <= 5 min wall including sampling and quality: 2000 steps
    # x batch 128 = 256k training images per model (32 epochs of 8000), 6.7x the full plan's;
    # the same architectures; 2000 held-out images, 1000 samples per schedule, 50 steps.
    "gpu": dict(
        n_train=8000,
        n_eval=2000,
        steps=2000,
        batch=128,
        lr=2e-3,
        hidden=24,
        g_hidden=24,
        g_levels=2,
        n_t=19,
        n_samples=1000,
        n_sample_steps=50,
        two_sample_test=True,
    ),
    "quick": dict(
        n_train=1000,
        n_eval=200,
        steps=40,
        batch=32,
        lr=3e-3,
        hidden=16,
        g_hidden=16,
        g_levels=2,
        n_t=7,
        n_samples=64,
        n_sample_steps=10,
        two_sample_test=False,
    ),
}

#: Window rule: grid times where Delta_3(t) >= WINDOW_FRACTION * max_t Delta_3 and
#: Delta_3(t) > WINDOW_SIGMAS paired standard errors; the contiguous run around the maximum.
WINDOW_FRACTION = 0.25
WINDOW_SIGMAS = 3.0

HELD_OUT_START = 8000  # MNIST test images from here on: held out (denoiser eval + quality ref)

#: Position code of the local models (LocalDenoiser ``positional``): "fourier" (default),
#: "learned" or "none" (translation-equivariant, the first version of this study).
POSITIONAL = ("fourier", "learned", "none")
POS_FEATURES = 4  # fourier: 4 frequencies per axis (16 channels); learned: 4 channels per pixel


def local_kwargs(positional: str = "fourier") -> dict:
    """Extra LocalDenoiser arguments for a position code (see POSITIONAL)."""
    if positional not in POSITIONAL:
        raise ValueError(f"positional must be one of {POSITIONAL}, got {positional!r}")
    if positional == "none":
        return {}
    kw = dict(positional=positional, pos_features=POS_FEATURES)
    if positional == "learned":
        kw["shape"] = (28, 28)
    return kw


def build_models(plan: dict, seed: int = 0, positional: str = "fourier") -> dict:
    """{"r=1": ..., "r=3": ..., "r=6": ..., "global": ...}: x0-predicting denoisers for 1-channel
    28 x 28 images (zero padding), each initialised from ``seed``; the local ones with the
    position code ``positional`` (data-local either way)."""
    models = {}
    for r in RADII:
        models[f"r={r}"] = LocalDenoiser(
            r,
            1,
            1,
            hidden=plan["hidden"],
            depth=3,
            spatial_layers=2,
            padding="zeros",
            prediction="x0",
            seed=seed,
            **local_kwargs(positional),
        )
    models["global"] = GlobalDenoiser(
        1,
        1,
        hidden=plan["g_hidden"],
        levels=plan["g_levels"],
        padding="zeros",
        prediction="x0",
        seed=seed,
    )
    return models


def load_split(mnist: Path, n_train: int, n_eval: int):
    """Signed images in [-1, 1]: training = the first ``n_train`` test images (<= 8000),
    held-out = ``n_eval`` images from index 8000 on (never seen by the denoisers nor by the
    quality classifier, which trains on indices < 5000)."""
    x, _ = load_mnist(mnist, split="test")
    x = to_signed(x)
    if n_train > HELD_OUT_START:
        raise ValueError(f"n_train must be <= {HELD_OUT_START}, got {n_train}")
    held = x[HELD_OUT_START : HELD_OUT_START + n_eval]
    return np.ascontiguousarray(x[:n_train]), np.ascontiguousarray(held)


def gap_curves(per: dict, ref: str = "global") -> dict:
    """Paired gaps Delta_m(t) = MSE_m - MSE_ref per model from per-sample losses
    (``per[name]`` shape (n_t, n_images), same noisy inputs for all models)."""
    out = {}
    for name, p in per.items():
        if name == ref:
            continue
        d = p - per[ref]
        n = d.shape[1]
        out[name] = {
            "mean": d.mean(axis=1),
            "stderr": d.std(axis=1, ddof=1) / math.sqrt(n),
        }
    return out


def choose_window(
    ts, gap, stderr, *, fraction: float = WINDOW_FRACTION, sigmas: float = WINDOW_SIGMAS
) -> dict:
    """The global window from a measured gap curve (see WINDOW_FRACTION / WINDOW_SIGMAS).

    Grid points qualify when ``gap >= fraction * max(gap)`` and ``gap > sigmas * stderr``; the
    window is the contiguous run of qualifying points around the maximum, extended half a grid
    spacing on each side (to 0 or 1 at the ends of the grid).

    >>> w = choose_window([0.1, 0.3, 0.5, 0.7, 0.9], [0.0, 0.5, 1.0, 0.2, 0.0], [0.01] * 5)
    >>> w["t_lo"], w["t_hi"], w["points"]
    (0.2, 0.6, [0.3, 0.5])
    """
    ts, gap, se = (np.asarray(v, dtype=np.float64) for v in (ts, gap, stderr))
    k = int(np.argmax(gap))
    ok = (gap >= fraction * gap[k]) & (gap > sigmas * se)
    if not ok[k]:
        raise RuntimeError(f"the largest gap ({gap[k]:.3g} +- {se[k]:.2g}) is not significant")
    lo = hi = k
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    while hi < ts.size - 1 and ok[hi + 1]:
        hi += 1
    t_lo = 0.0 if lo == 0 else 0.5 * (ts[lo - 1] + ts[lo])
    t_hi = 1.0 if hi == ts.size - 1 else 0.5 * (ts[hi] + ts[hi + 1])
    # Vertex of the parabola through the maximum and its neighbours: where the gap peaks.
    t_peak = float(ts[k])
    if 0 < k < ts.size - 1:
        y0, y1, y2 = gap[k - 1 : k + 2]
        den = y0 - 2 * y1 + y2
        if den < 0:
            h = ts[k + 1] - ts[k]
            t_peak = float(ts[k] + 0.5 * h * (y0 - y2) / den)
    return {
        "t_lo": round(float(t_lo), 10),
        "t_hi": round(float(t_hi), 10),
        "points": [round(float(t), 10) for t in ts[lo : hi + 1]],
        "t_argmax": float(ts[k]),
        "t_peak_parabola": t_peak,
        "max_gap": float(gap[k]),
        "max_gap_stderr": float(se[k]),
        "rule": (
            f"contiguous grid points around the maximum with Delta_{HYBRID_RADIUS}(t) >= "
            f"{fraction:g} x max and > {sigmas:g} paired stderr, widened by half a grid step"
        ),
    }


def gap_shape(ts, gap, stderr) -> dict:
    """Does the gap peak inside the t grid and fall again? The maximum, the gap at the last grid
    point, their difference in paired standard errors (independent errors, conservative), and
    ``interior_peak``: the maximum is not at the last grid point and the last point lies
    significantly (> 3 sigma) below it.

    >>> gap_shape([0.1, 0.5, 0.9], [0.0, 1.0, 0.2], [0.01] * 3)["interior_peak"]
    True
    """
    ts, gap, se = (np.asarray(v, dtype=np.float64) for v in (ts, gap, stderr))
    k = int(np.argmax(gap))
    drop = float(gap[k] - gap[-1])
    drop_se = float(math.hypot(se[k], se[-1]))
    return {
        "t_argmax": float(ts[k]),
        "max": float(gap[k]),
        "last": float(gap[-1]),
        "drop_to_last": drop,
        "drop_sigmas": drop / drop_se if drop_se > 0 else float("inf"),
        "interior_peak": bool(k < ts.size - 1 and drop > 3 * drop_se),
    }


def tile(x: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Signed images (n, 1, 28, 28) as one grey [0, 1] mosaic (black background)."""
    h, w = x.shape[2:]
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad), np.float32)
    img = np.clip((x[:, 0] + 1.0) / 2.0, 0.0, 1.0)
    for k in range(min(rows * cols, x.shape[0])):
        i, j = divmod(k, cols)
        out[pad + i * (h + pad) : pad + i * (h + pad) + h, pad + j * (w + pad) :][:, :w] = img[k]
    return out


def _qdict(q, ref_conf) -> dict:
    d = q.to_dict()
    d["summary"] = {
        "confidence": q.classifier.confidence if q.classifier else None,
        "confidence_stderr": q.classifier.confidence_stderr if q.classifier else None,
        "inception_score": q.classifier.inception_score if q.classifier else None,
        "reference_confidence": ref_conf,
        "pixel_w1": q.pixels.wasserstein,
        "pixel_w1_noise_floor": q.pixels.baseline_wasserstein,
        "var3_w1": q.patches["var3"].wasserstein,
        "var3_w1_noise_floor": q.patches["var3"].baseline_wasserstein,
        "c2st_accuracy": q.c2st_accuracy,
        "c2st_stderr": q.c2st_stderr,
        "frechet": q.frechet.value if q.frechet else None,
        "frechet_stderr": q.frechet.stderr if q.frechet else None,
        "frechet_noise_floor": q.frechet.noise_floor if q.frechet else None,
    }
    return d


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke version (< 3 min)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default=None,
        help="quick with --quick, else gpu with --device cuda, else full",
    )
    ap.add_argument(
        "--positional",
        choices=POSITIONAL,
        default="fourier",
        help="position code of the local models (none: translation-equivariant)",
    )
    ap.add_argument("--mnist", type=Path, default=REPO.parent / "shared" / "datasets" / "mnist")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: best on a shared machine)"
    )
    ap.add_argument("--steps", type=int, default=None, help="override the training steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a locality-profile JSON (latticediff profile ... -o DIR): adds the schedule it "
        "recommends, run with these local models (r = 1, 3, 6) and the global one",
    )
    args = ap.parse_args(argv)
    prof = None
    if args.profile is not None:
        from latticediff.profiler import LocalityProfile

        prof = LocalityProfile.from_json(args.profile)  # fails before any training

    torch.set_num_threads(args.threads)
    plan_name = args.plan or ("quick" if args.quick else "gpu" if args.device == "cuda" else "full")
    plan = dict(PLANS[plan_name])
    if args.steps is not None:
        plan["steps"] = args.steps
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    path = GaussianPath("linear")
    train, held = load_split(args.mnist, plan["n_train"], plan["n_eval"])
    print(
        f"train {train.shape}, held-out {held.shape}, plan {plan_name} {plan}, "
        f"positional {args.positional}",
        flush=True,
    )

    # --- training: same steps, batch, lr and data stream (seed) for every model
    models = build_models(plan, seed=args.seed, positional=args.positional)
    train_info = {}
    for name, m in models.items():
        h = train_denoiser(
            m,
            train,
            path,
            steps=plan["steps"],
            batch_size=plan["batch"],
            lr=plan["lr"],
            seed=args.seed,
            device=args.device,
            progress=False,
        )
        tail = h.losses[-max(1, plan["steps"] // 10) :]
        train_info[name] = {
            "n_params": m.n_params(),
            "flops_per_site": float(m.flops_per_site((28, 28))),
            "wall_s": h.wall_s,
            "sites_per_s": h.sites_per_s,
            "final_train_loss": float(tail.mean()),
        }
        print(f"trained {name}: {train_info[name]}", flush=True)

    stage_wall = {"load_and_train": time.perf_counter() - t_all}

    # --- held-out x0-MSE per pixel against t (paired: same noisy inputs for every model)
    t_stage = time.perf_counter()
    ts = np.round(np.linspace(0.05, 0.95, plan["n_t"]), 6)
    evals = {
        name: evaluate_per_site_loss(
            m, held, path, ts, seed=1234, batch_size=250, device=args.device, loss="x0"
        )
        for name, m in models.items()
    }
    per = {k: v.per_sample for k, v in evals.items()}
    gaps = gap_curves(per)
    window = choose_window(
        ts, gaps[f"r={HYBRID_RADIUS}"]["mean"], gaps[f"r={HYBRID_RADIUS}"]["stderr"]
    )
    print(f"window: {window}", flush=True)

    stage_wall["evaluate_gap"] = time.perf_counter() - t_stage
    t_stage = time.perf_counter()

    # --- sampling: same seed, start noise and time grid for every schedule
    loc, glo = models[f"r={HYBRID_RADIUS}"], models["global"]
    schedules = {
        "global": HybridSchedule.single(glo, 1.0),
        "hybrid": HybridSchedule.local_global(
            loc, glo, window=(window["t_lo"], window["t_hi"]), t_max=1.0
        ),
        f"local_r{HYBRID_RADIUS}": HybridSchedule.single(loc, 1.0),
    }
    profiled = None
    if prof is not None:
        by_r = {int(k[2:]): m for k, m in models.items() if k.startswith("r=")}
        schedules["profiled"] = prof.hybrid_schedule(by_r, glo)
        pred = prof.predicted_fraction(
            local_models=by_r, global_model=glo, n_steps=plan["n_sample_steps"]
        )
        profiled = {
            "profile": str(args.profile),
            "window": prof.window,
            "radius_schedule": list(prof.radius_schedule),
            "t_grid": list(prof.t),
            "predicted_fraction_of_global": pred["fraction_of_global"],
        }
    samples, reports = {}, {}
    for name, sch in schedules.items():
        x, rep = sample_gaussian(
            sch,
            path,
            (28, 28),
            plan["n_samples"],
            n_steps=plan["n_sample_steps"],
            seed=args.seed + 7,
            method="euler",
            clip_x0=(-1.0, 1.0),
            device=args.device,
            batch_size=250,
        )
        samples[name], reports[name] = np.clip(x, -1.0, 1.0), rep
        print(f"sampled {name}: {rep.wall_s:.1f} s", flush=True)

    stage_wall["sample"] = time.perf_counter() - t_stage
    t_stage = time.perf_counter()

    # --- quality against held-out real digits
    quality, ref_conf = {}, None
    for name, x in samples.items():
        q = image_quality(
            x,
            held,
            mnist_dir=args.mnist,
            value_range=(-1.0, 1.0),
            two_sample_test=plan["two_sample_test"],
            seed=0,
        )
        ref_conf = q.reference_classifier.confidence if q.reference_classifier else None
        quality[name] = _qdict(q, ref_conf)
    stage_wall["quality"] = time.perf_counter() - t_stage
    print(f"stage wall times (s): {stage_wall}", flush=True)
    # Distance of each schedule's sample to the all-global sample from the same start noise.
    dist = {}
    for name, x in samples.items():
        d = ((x - samples["global"]) ** 2).reshape(x.shape[0], -1).mean(axis=1)
        dist[name] = {"mean": float(d.mean()), "stderr": float(d.std(ddof=1) / math.sqrt(d.size))}

    g_rep = reports["global"]
    compute = {}
    for name, rep in reports.items():
        compute[name] = {
            "report": rep.to_dict(),
            "flops_fraction_of_global": rep.fraction_of_global(glo),
            "relative_to_global": rep.relative_to(g_rep),
        }

    def cmp(a, b):
        qa, qb = quality[a]["summary"], quality[b]["summary"]
        diff = qa["confidence"] - qb["confidence"]
        se = math.hypot(qa["confidence_stderr"], qb["confidence_stderr"])
        res = {"confidence_diff": diff, "confidence_diff_stderr": se, "z": diff / se}
        if qa["c2st_accuracy"] is not None:
            dc = qa["c2st_accuracy"] - qb["c2st_accuracy"]
            sc = math.hypot(qa["c2st_stderr"], qb["c2st_stderr"])
            res.update(c2st_diff=dc, c2st_diff_stderr=sc)
        if qa["frechet"] is not None:
            # both distances use the same reference, so the quadrature error is conservative
            df = qa["frechet"] - qb["frechet"]
            sf = math.hypot(qa["frechet_stderr"], qb["frechet_stderr"])
            res.update(frechet_diff=df, frechet_diff_stderr=sf, frechet_z=df / sf)
        return res

    lname = f"local_r{HYBRID_RADIUS}"
    verdict = {
        "hybrid_minus_global": cmp("hybrid", "global"),
        "hybrid_minus_local": cmp("hybrid", lname),
        "global_minus_local": cmp("global", lname),
        "hybrid_flops_fraction": compute["hybrid"]["flops_fraction_of_global"],
        "hybrid_wall_fraction": compute["hybrid"]["relative_to_global"]["wall_s"],
        "hybrid_network_wall_fraction": compute["hybrid"]["relative_to_global"]["network_wall_s"],
    }
    if profiled is not None:
        meas = compute["profiled"]["flops_fraction_of_global"]
        profiled |= {
            "measured_fraction_of_global": meas,
            "measured_over_predicted": meas / profiled["predicted_fraction_of_global"],
            "saving_within_20_percent": bool(
                abs((1 - meas) / (1 - profiled["predicted_fraction_of_global"]) - 1) <= 0.2
            )
            if profiled["predicted_fraction_of_global"] < 1
            else None,
        }
        verdict["profiled_minus_global"] = cmp("profiled", "global")
        verdict["profiled_minus_local"] = cmp("profiled", lname)
        verdict["profiled"] = profiled

    results = {
        "plan": plan_name,
        "settings": {
            **plan,
            "seed": args.seed,
            "threads": args.threads,
            "device": args.device,
            "positional": args.positional,
            "device_name": torch.cuda.get_device_name() if args.device == "cuda" else None,
        },
        "path": path.to_dict(),
        "data": {
            "mnist": str(args.mnist),
            "train_indices": [0, plan["n_train"]],
            "held_out_indices": [HELD_OUT_START, HELD_OUT_START + plan["n_eval"]],
            "range": [-1.0, 1.0],
        },
        "models": train_info,
        "t": ts.tolist(),
        "mse": {
            k: {"mean": v.mean.tolist(), "stderr": v.stderr.tolist()} for k, v in evals.items()
        },
        "gap": {
            k: {"mean": v["mean"].tolist(), "stderr": v["stderr"].tolist()} for k, v in gaps.items()
        },
        "gap_peak_t": {k: float(ts[int(np.argmax(v["mean"]))]) for k, v in gaps.items()},
        "gap_shape": {k: gap_shape(ts, v["mean"], v["stderr"]) for k, v in gaps.items()},
        "window": window,
        "schedules": {k: repr(v) for k, v in schedules.items()},
        "quality": quality,
        "distance_to_global_sample": dist,
        "compute": compute,
        "verdict": verdict,
        "paper_gap_peak_t": 0.3,
        "wall_s": None,
        "stage_wall_s": stage_wall,
        "host": {"python": platform.python_version(), "torch": torch.__version__},
    }
    make_figures(results, samples, held, out)
    # the generated images (float16, in [-1, 1]): later metrics need no retraining
    np.savez_compressed(
        out / "samples.npz", **{k: v.astype(np.float16) for k, v in samples.items()}
    )
    results["wall_s"] = time.perf_counter() - t_all
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(json.dumps({"window": window, "verdict": verdict, "wall_s": results["wall_s"]}, indent=1))
    return results


def make_figures(res: dict, samples: dict, held: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.asarray(res["t"])
    w = res["window"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for name, d in res["mse"].items():
        ax[0].errorbar(ts, d["mean"], d["stderr"], marker="o", ms=3, capsize=2, label=name)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("t (linear path)")
    ax[0].set_ylabel("held-out x0-MSE per pixel")
    ax[0].legend()
    ax[0].set_title("(a) denoising error")
    for name, d in res["gap"].items():
        ax[1].errorbar(ts, d["mean"], d["stderr"], marker="o", ms=3, capsize=2, label=name)
    ax[1].axvspan(w["t_lo"], w["t_hi"], color="0.85", label="global window (from r=3 gap)")
    ax[1].axhline(0, color="k", lw=0.5)
    ax[1].axvline(res["paper_gap_peak_t"], color="k", ls=":", lw=1, label="paper: t ~ 0.3")
    ax[1].set_xlabel("t (linear path)")
    ax[1].set_ylabel(r"$\Delta_r(t)$ = MSE$_r$ - MSE$_{global}$")
    ax[1].legend(fontsize=8)
    ax[1].set_title("(b) local - global gap (paired)")
    st = res["settings"]
    fig.suptitle(
        f"MNIST, linear path; local models positional={st['positional']}; plan {res['plan']} "
        f"({st['steps']} steps x {st['batch']}, {st['device']})",
        fontsize=9,
    )
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"mse_gap.{ext}", dpi=120)
    plt.close(fig)

    panels = {"real (held out)": held, **samples}
    fig, ax = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    v = res["verdict"]
    for a, (name, x) in zip(ax, panels.items(), strict=True):
        a.imshow(tile(x, 8, 8), cmap="gray", vmin=0, vmax=1)
        a.set_axis_off()
        title = name
        if name in res["quality"]:
            s = res["quality"][name]["summary"]
            title += f"\nconf {s['confidence']:.3f}±{s['confidence_stderr']:.3f}"
            if name == "hybrid":
                title += f", {v['hybrid_flops_fraction']:.2f} of global FLOPs"
            if name == "profiled":
                title += f", {v['profiled']['measured_fraction_of_global']:.2f} of global FLOPs"
        a.set_title(title, fontsize=9)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(out / f"samples.{ext}", dpi=120)
    plt.close(fig)
    for name, x in samples.items():
        plt.imsave(
            out / f"samples_{name}.png",
            np.kron(tile(x, 10, 10), np.ones((3, 3))),
            cmap="gray",
            vmin=0,
            vmax=1,
        )


if __name__ == "__main__":
    main()
