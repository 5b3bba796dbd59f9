"""Throughput of the 2D Ising kernels, with a plain vectorised NumPy baseline timed in the same run.

Measures (wall clock, medians over repeated rounds after JIT warm-up; every round runs every
case once, so a load spike on a shared machine hits all cases alike and the ratios stay fair):

* single-thread checkerboard Metropolis (``ising.run_chain``, the whole chain including the
  per-sweep energy series): spin-update attempts per ns, L = 64, 128, 256 at T = 2.269 and 1.5;
* Wolff at Tc: ns per flipped spin (including the per-sweep energy), L = 64, 128;
* multi-spin coding (``multispin.run_multispin``; 64 replicas = 64 attempts per site update,
  including the per-sweep energies of all replicas): attempts per ns, L = 64, 128, 256 at Tc;
* a vectorised NumPy checkerboard (strided sublattice views, ``np.roll`` neighbour sums,
  ``Generator.random`` uniforms) at Tc, and the ratios scalar/NumPy and multispin/NumPy;
* 2-core scaling: two independent Metropolis chains (L = 128, Tc) in two threads (the kernels
  release the GIL) against one chain in one thread; speedup = 2 t1 / t2.

Prints a table and writes ``analysis/benchmarks/out/bench_ising.json`` (with the load average
before and after: timings are only meaningful on an otherwise idle machine).

Usage::

    .venv/bin/python analysis/benchmarks/bench_ising.py            # full run (~1 min)
    .venv/bin/python analysis/benchmarks/bench_ising.py --quick    # smoke run (~10 s)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numba  # noqa: E402

from latticediff.mc import ising, multispin  # noqa: E402
from latticediff.mc._rng import seed_states  # noqa: E402
from latticediff.systems import Ising  # noqa: E402

TC = ising.TC
TARGETS = {
    "scalar_attempts_per_ns_min": 0.15,
    "multispin_attempts_per_ns_min_L>=128": 1.0,
    "multispin_over_numpy_min_L>=128": 35.0,
    "wolff_ns_per_flip_max": 35.0,
    "two_core_speedup_min": 1.8,
}


def numpy_checkerboard(s: np.ndarray, beta: float, gen: np.random.Generator, n_sweeps: int):
    """Plain vectorised checkerboard Metropolis (h = 0), same acceptance rule as the kernels.

    Sublattice p (sites with (i + j) % 2 == p) is two strided views (even rows, odd rows).
    """
    # acceptance by s * nb in {-4, -2, 0, 2, 4} (dE = 2 s nb); a(0) = 1/2 as in the kernels
    acc = np.array([1.0, 1.0, 0.5, np.exp(-4 * beta), np.exp(-8 * beta)])
    for _ in range(n_sweeps):
        for p in (0, 1):
            nb = np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1)
            for r0 in (0, 1):
                view = (slice(r0, None, 2), slice((r0 + p) % 2, None, 2))
                sv = s[view]
                flip = gen.random(sv.shape) < acc[(sv * nb[view] + 4) >> 1]
                sv[flip] *= -1  # sv is a view: updates s in place
    return s


def _n_sweeps(L: int, seconds: float, ns_per_site: float) -> int:
    return max(2, int(seconds / (L * L * ns_per_site * 1e-9)))


# Each case builder warms up its kernel and returns a callable that runs the timed work and
# returns the number of work units done (attempts, or flipped spins for Wolff).


def case_scalar(L, T, sec):
    model = Ising(L=L, T=T)
    rng = seed_states(1, 1)[0]
    state = ising.init_state(model, "metropolis", rng)
    ising.run_chain(model, "metropolis", state, rng, burn_in=200, n_samples=0, thin=1)
    n = _n_sweeps(L, sec, 6.0)

    def run():
        ising.run_chain(model, "metropolis", state, rng, burn_in=n, n_samples=0, thin=1)
        return n * L * L

    return run, {"L": L, "T": T, "sweeps": n}


def case_numpy(L, T, sec):
    model = Ising(L=L, T=T)
    gen = np.random.default_rng(1)
    s = ising.init_state(model, "metropolis", seed_states(1, 1)[0])
    numpy_checkerboard(s, model.beta, gen, 20)
    n = _n_sweeps(L, sec, 40.0)

    def run():
        numpy_checkerboard(s, model.beta, gen, n)
        return n * L * L

    return run, {"L": L, "T": T, "sweeps": n, "state": s, "model": model}


def case_multispin(L, T, sec):
    model = Ising(L=L, T=T)
    rng = seed_states(3, 1)[0]
    words = multispin._ms_init(L, rng, model.T < TC)
    multispin.run_multispin(model, rng, burn_in=50, n_samples=0, thin=1, state=words)
    n = _n_sweeps(L, sec, 30.0)

    def run():
        multispin.run_multispin(model, rng, burn_in=n, n_samples=0, thin=1, state=words)
        return 64 * n * L * L

    return run, {"L": L, "T": T, "sweeps": n}


def case_wolff(L, sec):
    model = Ising(L=L, T=TC)
    rng = seed_states(2, 1)[0]
    state = ising.init_state(model, "wolff", rng)
    *_, info = ising.run_chain(model, "wolff", state, rng, burn_in=400, n_samples=0, thin=1)
    k = info["clusters_per_sweep"]
    n = _n_sweeps(L, sec, 25.0)
    sizes = []

    def run():
        *_, inf = ising.run_chain(
            model, "wolff", state, rng, burn_in=n, n_samples=0, thin=1, clusters_per_sweep=k
        )
        sizes.append(inf["mean_cluster_size"])
        return inf["mean_cluster_size"] * k * n

    return run, {"L": L, "T": TC, "sweeps": n, "clusters_per_sweep": k, "sizes": sizes}


def case_threads(L, sec, n_threads):
    """n_threads independent chains, one per thread, the same number of sweeps each."""
    model = Ising(L=L, T=TC)
    rngs = seed_states(4, n_threads)
    states = [ising.init_state(model, "metropolis", r) for r in rngs]
    for s, r in zip(states, rngs, strict=True):
        ising.run_chain(model, "metropolis", s, r, burn_in=50, n_samples=0, thin=1)
    n = _n_sweeps(L, sec, 6.0)

    def one(c):
        ising.run_chain(model, "metropolis", states[c], rngs[c], burn_in=n, n_samples=0, thin=1)

    def run():
        th = [threading.Thread(target=one, args=(c,)) for c in range(n_threads)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        return n_threads * n * L * L

    return run, {"L": L, "T": TC, "sweeps": n, "threads": n_threads}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (numbers are rough)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 7, quick 3)")
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "analysis" / "benchmarks" / "out" / "bench_ising.json",
        help="JSON output path",
    )
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    sec = 0.05 if args.quick else 0.25  # target seconds per timed call
    load0 = os.getloadavg()
    t_start = time.perf_counter()

    cases = {}
    for L in (64, 128, 256):
        for T in (TC, 1.5):
            cases[f"scalar L={L} T={T:.3f}"] = case_scalar(L, T, sec)
        cases[f"numpy L={L} T={TC:.3f}"] = case_numpy(L, TC, sec)
        cases[f"multispin L={L} T={TC:.3f}"] = case_multispin(L, TC, sec)
    for L in (64, 128):
        cases[f"wolff L={L}"] = case_wolff(L, sec)
    cases["threads1 L=128"] = case_threads(128, 2 * sec, 1)
    cases["threads2 L=128"] = case_threads(128, 2 * sec, 2)

    times: dict[str, list] = {k: [] for k in cases}
    units: dict[str, list] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, (run, _meta) in cases.items():
            t0 = time.perf_counter()
            u = run()
            times[name].append(time.perf_counter() - t0)
            units[name].append(u)

    def rate(name):  # work units per ns, median over rounds
        return statistics.median(u / t / 1e9 for u, t in zip(units[name], times[name], strict=True))

    res: dict = {"scalar": [], "numpy": [], "multispin": [], "wolff": []}
    for name, (_, meta) in cases.items():
        kind = name.split()[0]
        row = {k: v for k, v in meta.items() if k not in ("state", "model", "sizes")}
        row["times_s"] = times[name]
        if kind == "wolff":
            row["ns_per_flipped_spin"] = 1.0 / rate(name)
            row["mean_cluster_size"] = statistics.median(meta["sizes"])
            res["wolff"].append(row)
        elif kind in ("scalar", "numpy", "multispin"):
            row["attempts_per_ns"] = rate(name)
            if kind == "numpy":
                row["energy_final"] = float(meta["model"].energy(meta["state"]))
            res[kind].append(row)
    t1 = statistics.median(times["threads1 L=128"])
    t2 = statistics.median(times["threads2 L=128"])
    res["threads"] = {"L": 128, "T": TC, "t1_s": t1, "t2_s": t2, "speedup": 2 * t1 / t2}

    np_by_L = {r["L"]: r["attempts_per_ns"] for r in res["numpy"]}
    sc = {(r["L"], r["T"]): r["attempts_per_ns"] for r in res["scalar"]}
    ms_by_L = {r["L"]: r["attempts_per_ns"] for r in res["multispin"]}
    res["ratios"] = [
        {
            "L": L,
            "scalar_over_numpy": sc[L, TC] / np_by_L[L],
            "multispin_over_numpy": ms_by_L[L] / np_by_L[L],
            "multispin_over_scalar": ms_by_L[L] / sc[L, TC],
        }
        for L in sorted(np_by_L)
    ]
    big = [r for r in res["ratios"] if r["L"] >= 128]
    measured = {
        "scalar_attempts_per_ns_min": min(sc.values()),
        "multispin_attempts_per_ns_min_L>=128": min(ms_by_L[L] for L in (128, 256)),
        "multispin_over_numpy_min_L>=128": min(r["multispin_over_numpy"] for r in big),
        "wolff_ns_per_flip_max": max(r["ns_per_flipped_spin"] for r in res["wolff"]),
        "two_core_speedup_min": res["threads"]["speedup"],
    }
    res["targets"] = TARGETS
    res["measured"] = measured
    res["meets_target"] = {
        k: (v <= TARGETS[k]) if k.endswith("_max") else (v >= TARGETS[k])
        for k, v in measured.items()
    }
    res["meta"] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeats": repeats,
        "wall_s": time.perf_counter() - t_start,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "note": "wall-clock medians; trust only runs on an idle machine (see loadavg)",
    }

    print(f"load average before/after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print("\ncheckerboard Metropolis, 1 thread (attempts/ns)")
    print("   L      T   scalar    numpy  multispin")
    for L in (64, 128, 256):
        for T in (TC, 1.5):
            line = f"{L:4d}  {T:5.3f}  {sc[L, T]:6.3f}"
            if T == TC:
                line += f"  {np_by_L[L]:7.4f}  {ms_by_L[L]:8.3f}"
            print(line)
    print("\nratios at Tc:   L   scalar/numpy   multispin/numpy   multispin/scalar")
    for r in res["ratios"]:
        print(
            f"            {r['L']:4d}   {r['scalar_over_numpy']:11.1f}   "
            f"{r['multispin_over_numpy']:14.1f}   {r['multispin_over_scalar']:14.1f}"
        )
    print("\nWolff at Tc:  L   k   <cluster>   ns/flipped spin")
    for r in res["wolff"]:
        print(
            f"            {r['L']:4d} {r['clusters_per_sweep']:3d}  {r['mean_cluster_size']:9.1f}"
            f"   {r['ns_per_flipped_spin']:10.2f}"
        )
    th = res["threads"]
    print(
        f"\n2 chains in 2 threads vs 1 chain in 1 thread (L=128, Tc): t1={th['t1_s']:.3f}s "
        f"t2={th['t2_s']:.3f}s speedup={th['speedup']:.2f}"
    )
    print("\ntarget               measured   target   ok")
    for k, v in measured.items():
        print(f"  {k:38s} {v:8.3f} {TARGETS[k]:8.3f}   {res['meets_target'][k]}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return res


if __name__ == "__main__":
    main()
