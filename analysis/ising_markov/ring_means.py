"""Below Tc: the neural CMI with the full far reader against the ring-mean far reader.

``neural_cmi_profile(..., ring_sums_beyond=3)`` lets the far predictor read the rings beyond
r = 3 only through their means: a lower bound on I(A:C|B) with O(R hidden) far weights instead
of one per window site. At late noise times the full reader has to find per-site weights of
size ~(1-2p)^2 m^2 on thousands of sites and loses the signal (README, "below Tc"); the ring
means carry the magnetisation with a handful of weights. This script measures both on the same
noisy samples: 2D Ising T = 2.0, 4000 samples, bit flips at gamma t, radii 1..3,
far_radius = L/2, the study's network budget (hidden 32, 2000 steps of 8192 sites).

    python analysis/ising_markov/ring_means.py 16 1.0,1.4,1.8     # ~4 min on one core
    python analysis/ising_markov/ring_means.py 32 1.4,1.8         # ~12 min on one core
    python analysis/ising_markov/ring_means.py 64 1.8 --n 16000 --ring-only
                                   # more configurations at the same training budget (~10 min)

Prints one JSON line per (gamma t, reader) and writes ``out/ring_means_L<L>.json``.
The reader that resolves the late-time signal is the pooled one
(``neural_cmi_profile(..., far_pool="all")``; ``run.py --far-pool all``, README).
J = I / (1 - 2p)^2 is the normalised CMI of the README's rule.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main(argv=None) -> int:
    import argparse

    import torch

    import latticediff as ld
    from latticediff.info.neural import neural_cmi_profile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("L", type=int)
    ap.add_argument("gamma_t", help="comma-separated gamma t values")
    ap.add_argument("--n", type=int, default=4000, help="Monte Carlo configurations")
    ap.add_argument("--ring-only", action="store_true", help="only the ring-mean reader")
    args = ap.parse_args(argv)
    try:
        gts = [float(v) for v in args.gamma_t.split(",")]
    except ValueError:
        ap.error(f"gamma_t must be comma-separated numbers, got {args.gamma_t!r}")
    if args.L < 8 or args.n < 100:
        ap.error(f"need L >= 8 and --n >= 100, got L={args.L}, n={args.n}")
    L = args.L
    torch.set_num_threads(1)
    x = ld.sample(ld.Ising(L=L, T=2.0), n_samples=args.n, seed=5)
    rows = []
    for gt in gts:
        p = (1 - math.exp(-2 * gt)) / 2
        flips = np.random.default_rng(int(gt * 100)).random(x.shape) < p
        y = np.where(flips, -x, x).astype(np.int8)
        for rsb in (3,) if args.ring_only else (None, 3):
            t0 = time.perf_counter()
            es = neural_cmi_profile(
                y, radii=[1, 2, 3], far_radius=L // 2, steps=2000, seed=0, ring_sums_beyond=rsb
            )
            row = {
                "L": L,
                "gamma_t": gt,
                "p": p,
                "ring_sums_beyond": rsb,
                "n": args.n,
                "cmi": [e.value for e in es],
                "cmi_stderr": [e.stderr for e in es],
                "J": [e.value / (1 - 2 * p) ** 2 for e in es],
                "seconds": time.perf_counter() - t0,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    tag = "" if args.n == 4000 else f"_n{args.n}"
    out = HERE / "out" / f"ring_means_L{L}{tag}.json"
    out.write_text(json.dumps({"T": 2.0, "n": args.n, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
