"""Cost of the CMI estimators against L and r, with the issue's two CPU targets.

Measures wall clock (medians over ``--repeats`` timed calls after one untimed warm-up call that
also compiles the Numba kernels):

* ``syndrome`` (exact per-sample likelihoods of the bit-flipped uniform loop gas,
  :func:`latticediff.info.syndrome.syndrome_cmi`, KL form): samples per minute at
  L = 8, 12, 16 and every shell radius r that leaves C non-empty, p = 0.1, on all cores
  (Numba threads = ``--threads``). Target: >= 1000 samples per minute at L = 12 on 2 cores.
* ``neural`` (held-out cross-entropy difference of two trained predictors,
  :func:`latticediff.info.neural.neural_cmi_profile`): one CMI point (its error bar included)
  at the default budget (2000 AdamW steps of 8192 sites, rings architecture, hidden 32), on
  bit-flipped Ising samples (T = 2.269, p = 0.1) of L = 16, 32, 64 with the same number of
  sites (so the cost should not depend on L), radius 2, far radius 8. Target: <= 2 minutes on
  the CPU for L = 32.
* ``plugin`` (Grassberger plug-in on the noisy chain) and ``chain`` (transfer matrices) for
  scale.

Timings are only meaningful on an otherwise idle machine: the load average before and after is
recorded, and the CPU steal (time the hypervisor gave to other guests) during each timed call,
which on a shared virtual machine moves a 2000-step neural point by tens of seconds.
Writes ``analysis/benchmarks/out/bench_cmi.json`` and prints a table.

    python analysis/benchmarks/bench_cmi.py            # ~30 min on an idle 2-core machine
    python analysis/benchmarks/bench_cmi.py --only neural --neural-sizes 32 --out X.json
    python analysis/benchmarks/bench_cmi.py --quick    # smoke run (< 1 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGETS = {
    "syndrome_samples_per_min_L12_min": 1000.0,
    "neural_point_L32_seconds_max": 120.0,
}


def cpu_steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests since boot, all cores (Linux; else None).

    On a shared virtual machine this, not the load average, says whether a timing was disturbed.
    """
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


STEALS: list = []  # CPU steal (s) during each timed call, in call order


def timed(fn, repeats: int, warmup: bool = True):
    """Median wall time of ``repeats`` calls (after one untimed warm-up call), all times, and
    the last call's result. The CPU steal during each call is appended to ``STEALS``."""
    if warmup:
        fn()  # JIT compilation, caches
    ts = []
    for _ in range(repeats):
        s0 = cpu_steal_seconds()
        t0 = time.perf_counter()
        res = fn()
        ts.append(time.perf_counter() - t0)
        s1 = cpu_steal_seconds()
        STEALS.append(None if s0 is None or s1 is None else s1 - s0)
    return statistics.median(ts), ts, res


def bench_syndrome(sizes, n_samples, repeats, threads):
    from latticediff.info.syndrome import syndrome_cmi

    rows = []
    for L in sizes:
        for r in range(1, (L - 2) // 2 + 1):
            n = n_samples[L]

            def run(L=L, r=r, n=n):
                return syndrome_cmi(L, 0.1, r, n_samples=n, seed=1, n_threads=threads)

            med, ts, est = timed(run, repeats)
            rows.append(
                {
                    "L": L,
                    "r": r,
                    "n_samples": n,
                    "seconds": med,
                    "seconds_all": ts,
                    "samples_per_min": 60 * n / med,
                    "sites_averaged": est.details["n_sites"],
                    "cmi": est.value,
                    "cmi_stderr": est.stderr,
                }
            )
            print(
                f"syndrome L={L:2d} r={r}: {60 * n / med:8.0f} samples/min "
                f"({est.details['n_sites']} translates of A per sample; "
                f"I = {est.value:.4f} ± {est.stderr:.4f})",
                flush=True,
            )
    return rows


def noisy_ising(L: int, n: int, seed: int) -> np.ndarray:
    import latticediff as ld

    x = ld.sample(ld.Ising(L=L, T=2.269), n_samples=n, seed=seed)
    flips = np.random.default_rng(seed + 1).random(x.shape) < 0.1
    return np.where(flips, -x, x).astype(np.int8)


def bench_neural(sizes, total_sites, steps, repeats, threads):
    import torch

    from latticediff.info.neural import neural_cmi_profile

    torch.set_num_threads(threads)
    rows = []
    for L in sizes:
        n = max(8, total_sites // (L * L))
        y = noisy_ising(L, n, seed=L)

        def run(y=y, steps=steps):
            return neural_cmi_profile(y, radii=[2], far_radius=8, steps=steps, seed=0)

        run(steps=20)  # warm-up: imports, allocator, thread pool (a short run, same shapes)
        med, ts, est = timed(run, repeats, warmup=False)
        steal = STEALS[-repeats:]
        est = est[0]
        rows.append(
            {
                "L": L,
                "n_samples": n,
                "sites": n * L * L,
                "steps": steps,
                "seconds": med,
                "seconds_all": ts,
                "cpu_steal_seconds_all": steal,
                "cmi": est.value,
                "cmi_stderr": est.stderr,
            }
        )
        print(
            f"neural   L={L:2d} ({n} samples, {steps} steps): {med:6.1f} s per point "
            f"(I = {est.value:.4f} ± {est.stderr:.4f})",
            flush=True,
        )
    return rows


def bench_small(repeats):
    from latticediff.exact.noisy_chain import sample_noisy_chain
    from latticediff.info.cmi import estimate_cmi

    _, y = sample_noisy_chain(1.0, 0.1, n=2000, N=256, rng=0)
    rows = []
    for r in (1, 3, 5):
        med, _, _ = timed(lambda r=r: estimate_cmi(y, radius=r, method="plugin"), repeats)
        rows.append({"method": "plugin", "r": r, "sites": y.size, "seconds": med})
        med, _, _ = timed(lambda r=r: estimate_cmi(None, radius=r, method="chain", K=1.0, p=0.1), 3)
        rows.append({"method": "chain", "r": r, "seconds": med})
    for row in rows:
        print(f"{row['method']:8s} r={row['r']}: {row['seconds'] * 1e3:8.1f} ms", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (all cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "bench_cmi.json")
    ap.add_argument(
        "--only", choices=("syndrome", "neural", "small"), default=None, help="one part only"
    )
    ap.add_argument(
        "--neural-sizes", type=int, nargs="+", default=[16, 32, 64], help="L of the neural part"
    )
    args = ap.parse_args(argv)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    if args.quick:
        syn = bench_syndrome([8], {8: 20}, 1, args.threads)
        neu = bench_neural([16], 16 * 1024, 50, 1, args.threads)
    else:
        syn, neu = [], []
        if args.only in (None, "syndrome"):
            syn = bench_syndrome([8, 12, 16], {8: 400, 12: 200, 16: 60}, args.repeats, args.threads)
        if args.only in (None, "neural"):
            neu = bench_neural(args.neural_sizes, 1000 * 1024, 2000, args.repeats, args.threads)
    small = bench_small(1 if args.quick else args.repeats) if args.only in (None, "small") else []
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()
    l12 = [row["samples_per_min"] for row in syn if row["L"] == 12]
    n32 = [row["seconds"] for row in neu if row["L"] == 32]
    checks = {}
    if l12:
        checks["syndrome_samples_per_min_L12_min"] = {
            "measured_worst_r": min(l12),
            "per_r": l12,
            "target": TARGETS["syndrome_samples_per_min_L12_min"],
            "ok": min(l12) >= TARGETS["syndrome_samples_per_min_L12_min"],
        }
    if n32:
        checks["neural_point_L32_seconds_max"] = {
            "measured": n32[0],
            "target": TARGETS["neural_point_L32_seconds_max"],
            "ok": n32[0] <= TARGETS["neural_point_L32_seconds_max"],
        }
    for k, v in checks.items():
        print(f"target {k}: {v}")
    steal = [x for x in STEALS if x is not None]
    print(
        f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f}; CPU steal during timed "
        f"calls: {sum(steal):.1f} s; wall {wall:.0f} s"
    )
    res = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "threads": args.threads,
        "quick": args.quick,
        "load_average_before": load0,
        "load_average_after": load1,
        "cpu_steal_seconds_timed_calls": STEALS,
        "wall_seconds": wall,
        "syndrome": syn,
        "neural": neu,
        "small": small,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
