"""The I-MMSE CMI estimator (``latticediff.info.immse``) against the exact CMI of the Gaussian
free field, on a grid of masses, times and radii: the validation of the estimator that the MNIST
heat map (``analysis/mnist_cmi``) uses.

L = 8 torus, n = 1000 exact FFT samples per mass, every site an example (64 per sample), the
far inputs are every site of C (``far_features=None``), linear-in-log-u network (``depth=0``:
the Bayes denoiser of Gaussian data is linear), 3000 + 3000 steps. Exact values:
``GaussianField.exact_cmi``.

    python analysis/gaussian_field/immse_check.py            # ~6 min on one core
    python analysis/gaussian_field/immse_check.py --quick    # one point, ~30 s

Writes ``out/immse_check.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GRID = {"mass": [0.1, 1.0], "t": [0.2, 0.5, 0.8], "radius": [1, 2]}
SETTINGS = {"steps": 3000, "depth": 0, "hidden": 32, "lr": 0.01, "far_features": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "out" / "immse_check.json"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    from latticediff.exact.gaussian_field import GaussianField
    from latticediff.info.immse import immse_cmi_profile

    grid = {"mass": [0.1], "t": [0.5], "radius": [1]} if a.quick else GRID
    n = 300 if a.quick else 1000
    rows = []
    t0 = time.perf_counter()
    for mass in grid["mass"]:
        g = GaussianField(8, mass)
        x0 = g.sample(n, seed=a.seed)
        for t in grid["t"]:
            t1 = time.perf_counter()
            es = immse_cmi_profile(
                x0, radii=grid["radius"], t=t, threads=1, seed=a.seed, **SETTINGS
            )
            for e in es:
                ex = g.exact_cmi(t, e.radius)
                z = (e.value - ex) / e.stderr if e.stderr > 0 else float("nan")
                rows.append(
                    {"mass": mass, "t": t, "radius": e.radius, "cmi": e.value,
                     "stderr": e.stderr, "exact": ex, "z": z, "seconds": time.perf_counter() - t1}
                )  # fmt: skip
                print(f"m={mass} t={t} r={e.radius}: {e.value:.5f} ± {e.stderr:.5f}, "
                      f"exact {ex:.5f}, z = {z:+.2f}", flush=True)  # fmt: skip
    zs = np.array([r["z"] for r in rows])
    dev = np.array([abs(r["cmi"] - r["exact"]) for r in rows])
    summary = {
        "n_points": len(rows),
        "within_3_sigma": int((np.abs(zs) < 3).sum()),  # a NaN z (no error bar) counts as a miss
        "max_abs_z": float(np.nanmax(np.abs(zs))),
        "max_abs_deviation_nats": float(dev.max()),
        "chi2_per_point": float(np.nanmean(zs**2)),
    }
    res = {"L": 8, "n_samples": n, "settings": SETTINGS, "points": rows, "summary": summary,
           "seconds": time.perf_counter() - t0}  # fmt: skip
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(summary), f"{res['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
