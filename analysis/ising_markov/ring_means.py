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

Prints one JSON line per (gamma t, reader) and writes ``out/ring_means_L<L>.json``.
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
    import torch

    import latticediff as ld
    from latticediff.info.neural import neural_cmi_profile

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: ring_means.py L GAMMA_T[,GAMMA_T...]", file=sys.stderr)
        return 2
    L, gts = int(argv[0]), [float(v) for v in argv[1].split(",")]
    torch.set_num_threads(1)
    x = ld.sample(ld.Ising(L=L, T=2.0), n_samples=4000, seed=5)
    rows = []
    for gt in gts:
        p = (1 - math.exp(-2 * gt)) / 2
        flips = np.random.default_rng(int(gt * 100)).random(x.shape) < p
        y = np.where(flips, -x, x).astype(np.int8)
        for rsb in (None, 3):
            t0 = time.perf_counter()
            es = neural_cmi_profile(
                y, radii=[1, 2, 3], far_radius=L // 2, steps=2000, seed=0, ring_sums_beyond=rsb
            )
            row = {
                "L": L,
                "gamma_t": gt,
                "p": p,
                "ring_sums_beyond": rsb,
                "cmi": [e.value for e in es],
                "cmi_stderr": [e.stderr for e in es],
                "J": [e.value / (1 - 2 * p) ** 2 for e in es],
                "seconds": time.perf_counter() - t0,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = HERE / "out" / f"ring_means_L{L}.json"
    out.write_text(json.dumps({"T": 2.0, "n": 4000, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
