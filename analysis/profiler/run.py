"""Locality profiler study: profile -> schedule -> hybrid sampler, on the loop gas and on MNIST.

For each data set:

1. ``latticediff.profiler.profile_locality`` (the library's profiler) measures the CMI at
   several radii along the path, fits the Markov length xi(t), recommends r(t) and the global
   window, and
   predicts the FLOPs of the hybrid sampler relative to all-global;
2. the models of the profiler's cost model (``report.default_models()``: one LocalDenoiser per
   radius the schedule uses, and the GlobalDenoiser) are trained with equal budgets (MNIST:
   ``analysis/mnist_denoisers/run.py --profile`` trains its own r = 1, 3, 6 and U-Net models
   and samples the profiled schedule beside its other three);
3. ``report.hybrid_schedule(local, global)`` goes straight into the sampler, beside an
   all-global run with the same seed; the sampler's ComputeReport gives the measured FLOPs
   fraction, ``latticediff.quality`` the sample quality of both.

Run from the repository root:  python analysis/profiler/run.py  [--quick] [--only loopgas|mnist]
Outputs in analysis/profiler/out/ (see README.md).
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
P_C = 0.1092  # Nishimori point


def _threads(n: int) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", str(n))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    import torch

    torch.set_num_threads(n)


def _dump(path: Path, obj) -> None:
    from latticediff.profiler import _clean

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(obj), indent=1) + "\n")
    os.replace(tmp, path)


def _diff(a: float, ea: float, b: float, eb: float) -> dict:
    d, e = a - b, math.hypot(ea, eb)
    return {"difference": d, "stderr": e, "sigma": d / e if e > 0 else math.nan}


def _train(
    models: dict,
    data,
    process,
    steps: int,
    seed: int,
    lr: float,
    batch: int,
    grad_clip=None,
    device: str = "cpu",
) -> dict:
    """Train every model with the same settings and seed. ``failed``: a final loss no better
    than the uniform prediction (ln 2 per binary site) marks a network that lost its training
    (it happened once at a constant learning rate without ``grad_clip``)."""
    from latticediff.nn import train_denoiser

    out = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        h = train_denoiser(
            m, data, process, steps=steps, batch_size=batch, lr=lr, seed=seed, progress=False,
            grad_clip=grad_clip, device=device,
        )  # fmt: skip
        tail = np.asarray(h.losses)[-max(1, steps // 10) :]
        final = float(np.mean(tail)) if len(tail) else None
        out[name] = {
            "steps": steps,
            "grad_clip": grad_clip,
            "final_loss": final,
            "failed": bool(final is not None and final >= math.log(2) - 0.01),
            "device": device,
            "n_params": int(sum(p.numel() for p in m.parameters())),
            "wall_s": time.perf_counter() - t0,
        }
        print(f"  trained {name}: {out[name]['wall_s']:.0f} s, loss {final}"
              + ("  ** FAILED: no better than the uniform prediction **"
                 if out[name]["failed"] else ""))  # fmt: skip
    return out


def _window_p(rep):
    proc = rep.process_object()
    return [float(proc.p(w)) for w in rep.window]


def _compute_check(rep, cr_h, cr_g, glob, n_steps, loc=None) -> dict:
    pred = rep.predicted_fraction(n_steps=n_steps)["fraction_of_global"]
    meas = cr_h.fraction_of_global(glob)
    built = None if loc is None else rep.predicted_fraction(
        n_steps=n_steps, local_models=loc, global_model=glob)["fraction_of_global"]  # fmt: skip
    return {
        "predicted_fraction_of_global": pred,
        "predicted_fraction_for_trained_models": built,
        "measured_fraction_of_global": meas,
        "measured_over_predicted": meas / pred,
        "within_20_percent": bool(abs(meas / pred - 1.0) <= 0.2),
        "predicted_saving": 1 - pred,
        "measured_saving": 1 - meas,
        "wall_fraction_of_global": cr_h.wall_s / cr_g.wall_s,
        "network_wall_fraction_of_global": cr_h.network_wall_s / cr_g.network_wall_s,
        "hybrid_report": cr_h.to_dict(),
        "global_report": cr_g.to_dict(),
    }


# ---------------------------------------------------------------------------------------------


def loopgas_side(quick: bool, L: int | None = None) -> int:
    """The loop-gas torus side: ``L``, else 8 (quick) or 10."""
    return L or (8 if quick else 10)


def loopgas_data(quick: bool, seed: int, L: int | None = None):
    """The study's loop-gas samples: ``(model, samples, n_train)``; the first ``n_train`` train
    the networks, the rest are the Monte Carlo reference (also used by defect_trajectory.py).
    ``L``: the torus side (default 8 quick, 10 full)."""
    import latticediff as ld

    m = ld.LoopGas(L=loopgas_side(quick, L), x=1.0)
    n_train, n_ref = (800, 128) if quick else (6000, 256)
    return m, ld.sample(m, n_samples=n_train + n_ref, seed=seed), n_train


def _nxk(text: str) -> tuple[int, int]:
    """``"256x240"`` -> (256, 240): samples x reverse steps (an argparse type)."""
    try:
        n, k = (int(v) for v in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NxK (samples x steps, e.g. 256x240), got {text!r}"
        ) from None
    if n < 2 or k < 1:
        raise argparse.ArgumentTypeError(f"need N >= 2 samples and K >= 1 steps, got {text!r}")
    return n, k


def _rule(text: str) -> dict:
    """``"absolute:0.001"`` -> the profiler's radius rule ``{"tolerance", "eps"}`` (an argparse
    type)."""
    tol, _, eps = text.partition(":")
    try:
        rule = {"tolerance": tol, "eps": float(eps)}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected TOLERANCE:EPS (e.g. absolute:0.001), got {text!r}"
        ) from None
    if tol not in ("relative", "absolute") or not rule["eps"] > 0:
        raise argparse.ArgumentTypeError(
            f"tolerance must be relative or absolute and eps > 0, got {text!r}"
        )
    return rule


def run_loopgas(
    out: Path,
    quick: bool,
    seed: int,
    train_steps: int | None = None,
    reuse: bool = False,
    global_features: str | None = None,
    local_features: str | None = None,
    step_checks=(),
    sweep_size=None,
    rule=None,
    do_sweep=True,
    L=None,
    r_max=None,
    grad_clip=None,
    device="cpu",
    threads=1,
    tail="local",
) -> dict:
    rule = rule or _rule("relative:0.05")
    import latticediff as ld
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.profiler import profile_locality
    from latticediff.quality import loopgas_quality

    t0 = time.perf_counter()
    m, x, n_train = loopgas_data(quick, seed, L)
    L, n_ref = m.L, len(x) - n_train
    h5 = out / "loopgas.h5"
    ld.write_samples(h5, x[:n_train], model=m, name="train", overwrite=True)
    ref = x[n_train:]
    print(f"loop gas L={L}: {n_train} + {n_ref} MC samples, {time.perf_counter() - t0:.0f} s")

    ps = [0.03, 0.07, 0.11, 0.15, 0.19] if quick else list(np.round(np.arange(0.03, 0.22, 0.02), 2))
    settings = dict(
        path="bitflip",
        p=ps,
        radii=list(range(1, (r_max or (3 if quick else 4)) + 1)),
        # results do not depend on n_threads (syndrome_cmi); more threads on a bigger machine
        estimator_options={"n_samples": 16 if quick else 64, "n_threads": threads},
        eps=rule["eps"],
        tolerance=rule["tolerance"],
        tail=tail,
        r_max=r_max or (3 if quick else 4),
        n_steps=40 if quick else 60,
        local_kwargs={"hidden": 32, "depth": 3, "spatial_layers": 2},
        global_kwargs={"hidden": 32, "levels": 2},
        seed=seed,
    )
    prof_json = out / "loopgas_profile.json"
    if reuse and prof_json.exists():
        # same seed -> same data; the profile (the slow part) is read back, not re-estimated
        from latticediff.profiler import LocalityProfile

        rep = LocalityProfile.from_json(prof_json)
        print(f"profile read from {prof_json}")
        if (rep.tolerance, rep.eps, rep.tail) != (settings["tolerance"], settings["eps"], tail):
            rep = rep.reschedule(tolerance=settings["tolerance"], eps=settings["eps"], tail=tail)
    else:
        rep = profile_locality(h5, **settings, progress=True)
    rep.to_json(prof_json)
    _dump(out / "loopgas_schedule.json", rep.schedule_dict())
    rep.plot(
        out / "loopgas_profile.png",
        title=f"bit-flipped uniform loop gas, L = {L} (syndrome CMI); p_c = {P_C}",
    )
    print(rep.summary())
    variants = {}
    for r_max in (2, 3, 4, 5):
        for eps in (0.1, 0.05, 0.02):
            v = rep.reschedule(r_max=r_max, eps=eps)
            variants[f"r_max={r_max}, eps={eps}"] = {
                "window_p": [float(proc_p) for proc_p in _window_p(v)] if v.window else None,
                "radius_schedule": list(v.radius_schedule),
                "predicted_fraction_of_global": v.predicted["fraction_of_global"],
            }

    # train the cost model's architecture: one local model per radius in the schedule + global
    extra = {"input_features": global_features} if global_features else None
    lextra = {"input_features": local_features} if local_features else None
    loc, glob = rep.default_models(seed=seed, global_extra=extra, local_extra=lextra)
    proc = rep.process_object()
    steps = train_steps or (150 if quick else 400)
    models = {f"local r={r}": mm for r, mm in loc.items()} | {"global": glob}
    training = _train(
        models, x[:n_train], proc, steps, seed, lr=2e-3, batch=32, grad_clip=grad_clip,
        device=device,
    )  # fmt: skip

    n, n_steps = (32, 40) if quick else (96, settings["n_steps"])
    sched = rep.hybrid_schedule(loc, glob)
    runs = {"global": HybridSchedule.single(glob, math.inf), "hybrid": sched}
    if loc:
        rl = max(loc)
        runs[f"local r={rl}"] = HybridSchedule.single(loc[rl], math.inf)
    samples, reports, quality = {}, {}, {}
    for name, s in runs.items():
        xs, cr = sample_discrete(s, proc, (L, L), n, n_steps=n_steps, seed=seed + 1, dtype=np.uint8)
        samples[name], reports[name] = xs, cr
        quality[name] = loopgas_quality(xs, ref).to_dict()
        print(
            f"  sampled {name}: {cr.wall_s:.0f} s, defects/vertex "
            f"{quality[name]['defect_density']:.4f} ± {quality[name]['defect_density_stderr']:.4f}"
        )
    np.savez_compressed(
        out / "loopgas_samples.npz",
        **{k.replace(" ", "_").replace("=", ""): v[:8] for k, v in samples.items()},
    )
    comp = _compute_check(rep, reports["hybrid"], reports["global"], glob, n_steps, loc)
    qg, qh = quality["global"], quality["hybrid"]
    if not do_sweep:
        sweep = []
    elif sweep_size is None:
        sweep = _window_sweep(rep, loc, glob, proc, (L, L), n, n_steps, seed + 1, ref, qg)
    else:  # its own all-global reference at that size, same seed
        ns, ks = sweep_size
        xs, _ = sample_discrete(runs["global"], proc, (L, L), ns, n_steps=ks, seed=seed + 3,
                                dtype=np.uint8)  # fmt: skip
        qg_s = loopgas_quality(xs, ref).to_dict()
        print(f"  sweep reference: global {qg_s['defect_density']:.4f} ± "
              f"{qg_s['defect_density_stderr']:.4f} ({ns} samples, {ks} steps)")  # fmt: skip
        sweep = _window_sweep(rep, loc, glob, proc, (L, L), ns, ks, seed + 3, ref, qg_s)
    # the reverse step factorises over edges: its defects vanish only as the step shrinks, so
    # the same models are sampled again with more steps (and more samples, smaller errors)
    step_check = {}
    for n2, k2 in step_checks:
        row = {}
        for name, s in runs.items():
            xs, _ = sample_discrete(s, proc, (L, L), n2, n_steps=k2, seed=seed + 2, dtype=np.uint8)
            q = loopgas_quality(xs, ref).to_dict()
            row[name] = {k: q[k] for k in ("defect_density", "defect_density_stderr",
                                           "defect_free_fraction")}  # fmt: skip
        g = row["global"]
        for name in row:
            if name != "global":
                row[name]["minus_global"] = _diff(
                    row[name]["defect_density"], row[name]["defect_density_stderr"],
                    g["defect_density"], g["defect_density_stderr"],
                )  # fmt: skip
        step_check[f"{n2} samples, {k2} steps"] = row
        print(f"  {n2} samples, {k2} steps: " + ", ".join(
            f"{k} {v['defect_density']:.4f} ± {v['defect_density_stderr']:.4f}"
            for k, v in row.items()))  # fmt: skip
    verdict = {
        "training_failed": sorted(k for k, v in training.items() if v["failed"]),
        "window_p": [float(proc.p(w)) for w in rep.window] if rep.window else None,
        "p_c_in_window": bool(rep.window and proc.p(rep.window[0]) <= P_C <= proc.p(rep.window[1])),
        "xi_peak_p": float(rep.points[int(np.nanargmax(rep.xi))].noise),
        "compute": {k: v for k, v in comp.items() if not k.endswith("_report")},
        "defects_hybrid_minus_global": _diff(
            qh["defect_density"],
            qh["defect_density_stderr"],
            qg["defect_density"],
            qg["defect_density_stderr"],
        ),
    }
    res = {
        "data": {"model": m.to_dict(), "n_train": n_train, "n_reference": n_ref, "file": h5.name},
        "profile_settings": settings,
        "profile": "loopgas_profile.json",
        "schedule": repr(sched),
        "rule_variants": variants,
        "training": training,
        "global_input_features": global_features,
        "local_input_features": local_features,
        "sampling": {"n": n, "n_steps": n_steps, "seed": seed + 1, "final": "sample"},
        "quality": quality,
        "compute": comp,
        "verdict": verdict,
        "window_sweep": sweep,
        "step_check": step_check,
        "wall_s": time.perf_counter() - t0,
    }
    _dump(out / "loopgas_results.json", res)
    marks = [("profiler's hybrid", comp["measured_fraction_of_global"], qh)]
    for name in quality:
        if name.startswith("local"):
            marks.append((f"all-{name}", reports[name].fraction_of_global(glob), quality[name]))
    if sweep_size is None:
        _plot_sweep(out / "loopgas_window_sweep.png", sweep, qg, L, marks)
    else:  # the main runs have another size: the sweep's own reference only
        _plot_sweep(out / "loopgas_window_sweep.png", sweep, qg_s, L)
    return res


def _window_sweep(rep, loc, glob, proc, shape, n, n_steps, seed, ref, qg) -> list:
    """Quality against compute along the rule variants that the trained models can serve
    (every r(t) <= the largest trained radius): the same models as the profiler's own hybrid
    (and, unless ``--sweep`` sets another size, its seed and step grid), the window widened or
    narrowed by the rule's (eps, r_max), every variant reported (none is picked)."""
    from latticediff.nn.sampling import sample_discrete
    from latticediff.quality import loopgas_quality

    rl = max(loc) if loc else 0
    seen, rows = set(), []
    for r_max in range(1, rl + 1):
        for eps in (0.2, 0.1, 0.05, 0.02, 0.01):
            v = rep.reschedule(r_max=r_max, eps=eps)
            key = (v.window, v.radius_schedule)
            if key in seen or v.window is None:
                continue
            seen.add(key)
            xs, cr = sample_discrete(
                v.hybrid_schedule(loc, glob), proc, shape, n, n_steps=n_steps, seed=seed,
                dtype=np.uint8,
            )  # fmt: skip
            q = loopgas_quality(xs, ref).to_dict()
            row = {
                "eps": eps, "r_max": r_max, "window_p": _window_p(v),
                "radius_schedule": list(v.radius_schedule),
                "predicted_fraction_of_global": v.predicted_fraction(
                    n_steps=n_steps, local_models=loc, global_model=glob)[
                    "fraction_of_global"],
                "measured_fraction_of_global": cr.fraction_of_global(glob),
                "defect_density": q["defect_density"],
                "defect_density_stderr": q["defect_density_stderr"],
                "defect_free_fraction": q["defect_free_fraction"],
                "minus_global": _diff(q["defect_density"], q["defect_density_stderr"],
                                      qg["defect_density"], qg["defect_density_stderr"]),
            }  # fmt: skip
            rows.append(row)
            print(
                f"  window p in [{row['window_p'][0]:.3f}, {row['window_p'][1]:.3f}] "
                f"(eps={eps}, r_max={r_max}): FLOPs {row['measured_fraction_of_global']:.3f} x, "
                f"defects {row['defect_density']:.4f} ± {row['defect_density_stderr']:.4f} "
                f"({row['minus_global']['sigma']:+.1f} sigma vs global)"
            )
    return sorted(rows, key=lambda r: r["measured_fraction_of_global"])


def _plot_sweep(path: Path, sweep: list, qg: dict, L: int, marks=()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not sweep:
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    f = [r["measured_fraction_of_global"] for r in sweep]
    d = [r["defect_density"] for r in sweep]
    e = [r["defect_density_stderr"] for r in sweep]
    ax.errorbar(f, d, yerr=e, fmt="o", label="hybrid, one point per rule variant")
    for r in sweep:
        lo, hi = r["window_p"]
        ax.annotate(f"[{lo:.2f},{hi:.2f}]", (r["measured_fraction_of_global"], r["defect_density"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    for (label, frac, q), mk in zip(marks, "s^v", strict=False):
        ax.errorbar(frac, q["defect_density"], yerr=q["defect_density_stderr"], fmt=mk, label=label)
    g, ge = qg["defect_density"], qg["defect_density_stderr"]
    ax.axhspan(g - ge, g + ge, color="C1", alpha=0.3)
    ax.axhline(g, color="C1", label="all-global (FLOPs 1)")
    ax.set_xlabel("FLOPs / all-global (measured)")
    ax.set_ylabel("vertex defects per vertex")
    ax.set_title(f"loop gas L = {L}: hybrid quality vs compute (window p in [lo, hi])", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def run_mnist(out: Path, quick: bool, seed: int, mnist: Path, threads: int = 1) -> dict:
    """Profile MNIST on the linear path (I-MMSE CMI, absolute rule), then hand the profile to
    ``analysis/mnist_denoisers/run.py --profile``, which trains its r = 1, 3, 6 and global
    models and samples the profiled schedule beside all-global and all-local."""
    import subprocess

    from latticediff.profiler import profile_locality

    t0 = time.perf_counter()
    opts = {"steps": 1500, "finetune_steps": 1000, "hidden": 64, "n_nodes": 16,
            "eval_draws": 4, "far_features": 16}  # fmt: skip
    if quick:
        opts = {"steps": 100, "finetune_steps": 100, "hidden": 16, "n_nodes": 8,
                "eval_draws": 1, "far_features": 8}  # fmt: skip
    settings = dict(
        path="linear",
        t=[0.3, 0.6, 0.9] if quick else [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        radii=[1, 2, 3] if quick else [1, 2, 3, 4, 6],
        n=1000 if quick else None,
        estimator="immse",
        estimator_options=opts,  # torch threads: set once in main()
        # absolute: the CMI vanishes towards t = 1 while xi grows (README: "Why the absolute rule")
        tolerance="absolute",
        eps=1e-3,
        r_max=6,
        n_steps=25,
        seed=seed,
    )
    rep = profile_locality(mnist, **settings, progress=True)
    prof = out / "mnist_profile.json"
    rep.to_json(prof)
    _dump(out / "mnist_schedule.json", rep.schedule_dict())
    rep.plot(out / "mnist_profile.png", title="MNIST, linear path, A = centre pixel (I-MMSE CMI)")
    print(rep.summary())
    sampler_out = out / "mnist_sampler"
    cmd = [sys.executable, str(REPO / "analysis" / "mnist_denoisers" / "run.py"),
           "--profile", str(prof), "--out", str(sampler_out), "--mnist", str(mnist),
           "--seed", str(seed), "--threads", str(threads)]  # fmt: skip
    cmd += ["--quick"] if quick else []
    subprocess.run(cmd, check=True)
    study = json.loads((sampler_out / "results.json").read_text())
    v = study["verdict"]
    verdict = {
        "window_t": list(rep.window) if rep.window else None,
        "reasons": [pt.reason for pt in rep.points],
        "predicted_fraction_cost_model": rep.predicted["fraction_of_global"],
        "profiled": v.get("profiled"),
        "profiled_minus_global": v.get("profiled_minus_global"),
        "profiled_minus_local": v.get("profiled_minus_local"),
    }
    res = {
        "profile_settings": settings,
        "profile": prof.name,
        "sampler_study": str(sampler_out.relative_to(out)),
        "verdict": verdict,
        "wall_s": time.perf_counter() - t0,
    }
    _dump(out / "mnist_results.json", res)
    return res


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--only", choices=("loopgas", "mnist"), default=None)
    ap.add_argument("--out", default=str(HERE / "out"))
    ap.add_argument("--mnist", default=str(REPO.parent / "shared" / "datasets" / "mnist"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--train-steps", type=int, default=None, help="loop gas: training steps (default 400)"
    )
    ap.add_argument(
        "--reuse-profile",
        action="store_true",
        help="loop gas: read out/loopgas_profile.json instead of estimating it again",
    )
    ap.add_argument(
        "--global-features",
        choices=("vertex_parity",),
        default=None,
        help="loop gas: extra input of the global network (GlobalDenoiser input_features)",
    )
    ap.add_argument(
        "--local-features",
        choices=("vertex_parity",),
        default=None,
        help="loop gas: extra input of the local networks (LocalDenoiser input_features)",
    )
    ap.add_argument(
        "--step-check",
        nargs="*",
        type=_nxk,
        default=[],
        metavar="NxK",
        help="loop gas: also sample N configurations with K reverse steps per schedule",
    )
    ap.add_argument(
        "--sweep",
        type=_nxk,
        default=None,
        metavar="NxK",
        help="loop gas: window sweep with N samples and K steps (default: as the main runs)",
    )
    ap.add_argument(
        "--rule",
        type=_rule,
        default="relative:0.05",
        metavar="TOLERANCE:EPS",
        help="loop gas: the profiler's radius rule, e.g. absolute:0.001 (default relative:0.05)",
    )
    ap.add_argument("--no-sweep", action="store_true", help="loop gas: skip the window sweep")
    ap.add_argument("--L", type=int, default=None, help="loop gas: torus side (default 10)")
    ap.add_argument(
        "--tail",
        choices=("local", "global"),
        default="local",
        help="loop gas: who serves the steps below the window (profile_locality tail)",
    )
    ap.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="loop gas: where the networks train (sampling uses CUDA whenever it is available)",
    )
    ap.add_argument(
        "--grad-clip",
        type=float,
        default=None,
        help="loop gas: clip every network's gradient norm to this value (train_denoiser)",
    )
    ap.add_argument(
        "--r-max",
        type=int,
        default=None,
        help="loop gas: largest radius profiled and served by a local network (default 4)",
    )
    a = ap.parse_args(argv)
    if a.L is not None and a.L < 4:
        ap.error(f"--L must be >= 4, got {a.L}")
    if a.grad_clip is not None and not (math.isfinite(a.grad_clip) and a.grad_clip > 0):
        ap.error(f"--grad-clip must be a finite number > 0, got {a.grad_clip}")
    L_eff = loopgas_side(a.quick, a.L)
    if a.r_max is not None and not 1 <= a.r_max <= (L_eff - 2) // 2:
        ap.error(
            f"--r-max must be in [1, {(L_eff - 2) // 2}] for L = {L_eff} (region C at least one "
            f"site wide), got {a.r_max}"
        )
    _threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = {}
    if a.only in (None, "loopgas"):
        summary["loopgas"] = run_loopgas(
            out,
            a.quick,
            a.seed,
            train_steps=a.train_steps,
            reuse=a.reuse_profile,
            global_features=a.global_features,
            local_features=a.local_features,
            step_checks=a.step_check,
            sweep_size=a.sweep,
            rule=a.rule,
            do_sweep=not a.no_sweep,
            L=a.L,
            r_max=a.r_max,
            grad_clip=a.grad_clip,
            device=a.device,
            threads=a.threads,
            tail=a.tail,
        )["verdict"]
    if a.only in (None, "mnist"):
        summary["mnist"] = run_mnist(out, a.quick, a.seed, Path(a.mnist), a.threads)["verdict"]
    summary["wall_s"] = time.perf_counter() - t0
    summary["cpu_s"] = time.process_time()
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
