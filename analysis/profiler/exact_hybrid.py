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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE / "out" / "exact_hybrid"))
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    ap.add_argument("--samples", type=int, default=64, help="generated samples per schedule")
    ap.add_argument("--steps", default="80,240", help="comma-separated reverse step counts")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
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
    from latticediff.profiler import profile_locality, schedule_from_dict
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
    ps = (
        [0.03, 0.07, 0.11, 0.15, 0.19]
        if a.quick
        else list(np.round(np.arange(0.03, 0.22, 0.02), 2))
    )
    rep = profile_locality(
        h5,
        path="bitflip",
        p=ps,
        radii=[1, 2],
        estimator_options={"n_samples": 16 if a.quick else 64, "n_threads": 1},
        eps=0.2,
        tolerance="relative",
        r_max=2,
        n_steps=step_counts[0],
        seed=a.seed,
    )
    prof_s = time.perf_counter() - t0
    rep.to_json(out / "profile.json")
    print(rep.summary(), flush=True)
    proc = rep.process_object()

    loc = {r: ex.exact_local_module(r, proc) for r in (1, 2)}
    glob = ex.exact_global_module()
    schedules = {
        "all-global": HybridSchedule.single(glob, math.inf),
        "profiler hybrid": rep.hybrid_schedule(loc, glob),
        "all-local r=2": HybridSchedule.single(loc[2], math.inf),
    }
    if rep.window is not None:  # the profiler's radii, its window handed to local r = 2
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
                f"{k} steps, {name:26s}: defects/vertex {q['defect_density']:.4f} ± "
                f"{q['defect_density_stderr']:.4f}, defect-free {q['defect_free_fraction']:.2f}, "
                f"global steps {row[name]['global_steps']}/{k}, {cr.wall_s:.0f} s",
                flush=True,
            )
        g = row["all-global"]["wall_s"]
        for name in schedules:
            row[name]["wall_fraction_of_global"] = row[name]["wall_s"] / g
        result["runs"][f"{a.samples} samples, {k} steps"] = row
        tmp = out / "exact_hybrid.json.tmp"  # after every step count: a partial run keeps data
        tmp.write_text(json.dumps(result, indent=1, default=float) + "\n")
        os.replace(tmp, out / "exact_hybrid.json")
    print(f"wrote {out / 'exact_hybrid.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
