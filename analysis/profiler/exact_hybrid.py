"""Loop gas: the profiler's schedule run with *exact* Bayes-optimal denoisers (no training error).

With trained networks the profiler's hybrid leaves more vertex defects than the all-global
sampler, and ``defect_trajectory.py`` traced the excess to the local tail of the schedule. Is
that the networks (trained on forward-noised data, off-distribution on the reverse chain) or
locality itself? This script removes the networks: at L = 6 the Bayes-optimal radius-r posteriors
(r = 1, 2: exact syndrome tables) and the Bayes-optimal global posterior (four Kasteleyn
Pfaffians per site and step) are computable, as in ``analysis/loopgas_denoisers``.

1. Profile: Monte Carlo samples of the uniform loop gas at L = 6 are written to HDF5 and profiled
   by ``profile_locality`` (bit flips, ``syndrome`` CMI, radii 1-2, relative rule). The torus
   allows r <= 2 only, so r_max = 2; eps = 0.2 keeps the L = 10 study's threshold for a global
   cell, xi > r_max / ln(1/eps) (there 4 / ln 20 = 1.34, here 2 / ln 5 = 1.24). Fixed before
   any sampling: with eps = 0.05 and r_max = 2 every cell with xi > 0.67 would be global.
2. Samplers (same random numbers for every schedule, ancestral steps uniform in p): all-global,
   the profiler's hybrid (``report.hybrid_schedule`` with the exact local r = 1, 2 and the exact
   global denoiser), all-local r = 2, and, for contrast, the hybrid with the window removed.
3. Quality: vertex defects per vertex (0 for every true sample) and winding sectors
   (``loopgas_quality`` against Monte Carlo); compute: global steps of each schedule, predicted by
   the profile and counted by the sampler, and sampling wall time (the Pfaffians dominate, so
   the global-step fraction is the cost fraction; the networks' FLOP prediction does not apply).

    python analysis/profiler/exact_hybrid.py                 # ~30 min on one core
    python analysis/profiler/exact_hybrid.py --quick --out /tmp/eh   # smoke, ~1 min

Writes ``OUT/exact_hybrid.json`` (default ``out/exact_hybrid/``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def _exact_modules():
    """The exact denoiser modules of ``analysis/loopgas_denoisers/run.py`` (one source)."""
    path = HERE.parent / "loopgas_denoisers" / "run.py"
    spec = importlib.util.spec_from_file_location("_loopgas_denoisers_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _profile(h5, ps, quick: bool, n_steps: int, seed: int):
    """The L = 6 profile (rule in the module docstring)."""
    from latticediff.profiler import profile_locality

    return profile_locality(
        h5,
        path="bitflip",
        p=ps,
        radii=[1, 2],
        estimator_options={"n_samples": 16 if quick else 64, "n_threads": 1},
        eps=0.2,
        tolerance="relative",
        r_max=2,
        n_steps=n_steps,
        seed=seed,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE / "out" / "exact_hybrid"))
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    ap.add_argument("--samples", type=int, default=64, help="generated samples per schedule")
    ap.add_argument("--steps", default="80,240", help="comma-separated reverse step counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--windows",
        default="",
        help="extra schedules: comma-separated p intervals LO-HI run by the exact global "
        "denoiser, local r = 2 elsewhere (e.g. 0.08-0.12,0-0.12)",
    )
    ap.add_argument(
        "--windows-only",
        action="store_true",
        help="only the --windows schedules (profile read back from OUT/profile.json); "
        "writes OUT/exact_hybrid_windows.json",
    )
    a = ap.parse_args(argv)
    windows = []
    for item in filter(None, a.windows.split(",")):
        try:
            lo, hi = (float(v) for v in item.split("-"))
        except ValueError:
            ap.error(f"--windows items must be LO-HI p intervals, got {item!r}")
        if not 0 <= lo < hi <= 0.5:
            ap.error(f"--windows interval {item!r} must satisfy 0 <= LO < HI <= 0.5")
        windows.append((lo, hi))
    if a.windows_only and not windows:
        ap.error("--windows-only needs --windows")
    try:
        step_counts = [int(v) for v in a.steps.split(",")]
    except ValueError:
        ap.error(f"--steps must be comma-separated integers, got {a.steps!r}")
    if a.samples < 2 or any(k < 1 for k in step_counts):
        ap.error(f"need --samples >= 2 and steps >= 1, got {a.samples}, {step_counts}")
    if a.quick:
        a.samples, step_counts = 8, [20]

    import torch

    torch.set_num_threads(1)
    import latticediff as ld
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.profiler import schedule_from_dict
    from latticediff.quality import loopgas_quality

    ex = _exact_modules()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    L = 6
    m = ld.LoopGas(L=L, x=1.0)
    n_train, n_ref = (800, 256) if a.quick else (6000, 2000)
    x = ld.sample(m, n_samples=n_train + n_ref, seed=a.seed)
    h5 = out / "loopgas_L6.h5"
    ld.write_samples(h5, x[:n_train], model=m, name="train", overwrite=True)
    ref = x[n_train:]

    t0 = time.perf_counter()
    prof_path = out / "profile.json"
    ps = (
        [0.03, 0.07, 0.11, 0.15, 0.19]
        if a.quick
        else list(np.round(np.arange(0.03, 0.22, 0.02), 2))
    )
    if a.windows_only and not prof_path.exists():
        raise SystemExit(f"exact_hybrid.py: --windows-only reads {prof_path}; run without it first")
    if a.windows_only:  # same seed, same data: the profile is read back, not re-estimated
        from latticediff.profiler import LocalityProfile

        rep = LocalityProfile.from_json(prof_path)
    else:
        rep = _profile(h5, ps, a.quick, step_counts[0], a.seed)
    prof_s = time.perf_counter() - t0
    rep.to_json(prof_path)
    print(rep.summary(), flush=True)
    proc = rep.process_object()

    loc = {r: ex.exact_local_module(r, proc) for r in (1, 2)}
    glob = ex.exact_global_module()
    schedules = {} if a.windows_only else {
        "all-global": HybridSchedule.single(glob, math.inf),
        "profiler hybrid": rep.hybrid_schedule(loc, glob),
        "all-local r=2": HybridSchedule.single(loc[2], math.inf),
    }  # fmt: skip
    for lo, hi in windows:
        t_lo, t_hi = float(proc.t_of_p(lo)), float(proc.t_of_p(hi))
        segs = [(0.0, t_lo, loc[2]), (t_lo, t_hi, glob), (t_hi, math.inf, loc[2])]
        schedules[f"global for p in [{lo:g}, {hi:g}], local r=2 elsewhere"] = HybridSchedule(
            [seg for seg in segs if seg[1] > seg[0]]
        )
    if not a.windows_only and rep.window is not None:  # profiler's radii, window -> local r = 2
        sd = rep.schedule_dict()
        sd["segments"] = [
            dict(seg, radius=2, kind="local") if seg["radius"] is None else seg
            for seg in sd["segments"]
        ]
        schedules["profiler radii, no window"] = schedule_from_dict(sd, loc, glob)
    result = {
        "L": L,
        "n_train_profile": n_train,
        "n_reference": n_ref,
        "profile_s": prof_s,
        "window_p": [float(proc.p(w)) for w in rep.window] if rep.window else None,
        "radius_schedule": [None if r is None else int(r) for r in rep.radius_schedule],
        "xi": [float(v) for v in rep.xi],
        "p_grid": ps,
        "schedules": {k: repr(v) for k, v in schedules.items()},
        "runs": {},
    }
    for k in step_counts:
        pred = rep.predicted_fraction(n_steps=k)
        row = {"predicted_global_steps": int(pred["steps_global"])}
        for name, sched in schedules.items():
            xs, cr = sample_discrete(
                sched, proc, (L, L), a.samples, n_steps=k, seed=a.seed + 1, dtype=np.uint8
            )
            q = loopgas_quality(xs, ref).to_dict()
            evals = {mm.name: mm.evaluations for mm in cr.models}
            row[name] = {
                "defect_density": q["defect_density"],
                "defect_density_stderr": q["defect_density_stderr"],
                "defect_free_fraction": q["defect_free_fraction"],
                "winding_counts": q["winding_counts"],
                "winding_pvalue": q["winding_pvalue"],
                "global_steps": int(evals.get("global", 0)),
                "wall_s": cr.wall_s,
            }
            print(
                f"{k} steps, {name:46s}: defects/vertex {q['defect_density']:.4f} ± "
                f"{q['defect_density_stderr']:.4f}, defect-free {q['defect_free_fraction']:.2f}, "
                f"global steps {row[name]['global_steps']}/{k}, {cr.wall_s:.0f} s",
                flush=True,
            )
        if "all-global" in row:
            g = row["all-global"]["wall_s"]
            for name in schedules:
                row[name]["wall_fraction_of_global"] = row[name]["wall_s"] / g
        result["runs"][f"{a.samples} samples, {k} steps"] = row
        # written after every step count: an interrupted run keeps what it measured
        dest = out / ("exact_hybrid_windows.json" if a.windows_only else "exact_hybrid.json")
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
        os.replace(tmp, dest)
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
