"""Training-run spread of the MNIST CMI map: the same cells estimated with several seeds.

The bootstrap stderr of ``run.py`` covers evaluation noise on the held-out images only. At small
t the networks are the weak part (README), so the spread between training runs can exceed it.
A seed changes the network initialisation, the minibatches and the noise draws, not the split
(the held-out images are the same in every run), so the spread over seeds measures the training
error and not the sampling error of the test images. For each (t, r) present in every run this
script reports the mean over seeds, the spread ``sd`` and its ratio to the typical bootstrap
stderr of one run, and for the mean the conservative error ``sqrt(boot^2 + sd^2 / n)``: the
test-image error does not average down over seeds (same images), the training error does.

    python analysis/mnist_cmi/run.py --seed S --t 0 0.1 0.2 0.3 --radius 1 2 3 4 --workers 1 \\
        --out analysis/mnist_cmi/out/seed_spread/seedS          # S = 1, 2, 3; ~7 min each
    python analysis/mnist_cmi/seed_spread.py analysis/mnist_cmi/out \\
        analysis/mnist_cmi/out/seed_spread/seed1 analysis/mnist_cmi/out/seed_spread/seed2 \\
        analysis/mnist_cmi/out/seed_spread/seed3

Writes ``out/seed_spread/seed_spread.json`` (or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def combine(runs: list[dict]) -> dict:
    """Cells common to every run: mean, sd over runs, the rms bootstrap stderr and the error of
    the mean, sqrt(boot^2 + sd^2 / n); t = 1's exact zeros are skipped.

    >>> a = {"t": [0.5], "radius": [1], "cmi": [[0.010]], "cmi_stderr": [[0.001]],
    ...      "exactly_zero": [[False]], "seed": 0}
    >>> b = dict(a, cmi=[[0.014]], seed=1)
    >>> c = combine([a, b])["cells"][0]
    >>> round(c["mean"], 4), round(c["sd_over_seeds"], 5), round(c["stderr_of_mean"], 5)
    (0.012, 0.00283, 0.00224)
    """
    if len(runs) < 2:
        raise ValueError(f"need at least 2 runs to measure a spread, got {len(runs)}")
    cells = {}
    for k, res in enumerate(runs):
        for i, t in enumerate(res["t"]):
            for j, r in enumerate(res["radius"]):
                if res["exactly_zero"][i][j]:
                    continue
                cells.setdefault((float(t), int(r)), {})[k] = (
                    float(res["cmi"][i][j]),
                    float(res["cmi_stderr"][i][j]),
                )
    rows = []
    for (t, r), per in sorted(cells.items()):
        if len(per) != len(runs):
            continue
        v = np.array([per[k][0] for k in range(len(runs))])
        b = np.array([per[k][1] for k in range(len(runs))])
        sd = float(v.std(ddof=1))
        rms_b = float(np.sqrt(np.mean(b**2)))
        se = math.sqrt(rms_b**2 + sd**2 / len(v))
        rows.append(
            {
                "t": t,
                "radius": r,
                "values": v.tolist(),
                "bootstrap_stderr": b.tolist(),
                "mean": float(v.mean()),
                "sd_over_seeds": sd,
                "stderr_of_mean": se,
                "rms_bootstrap_stderr": rms_b,
                "sd_over_rms_bootstrap": sd / rms_b if rms_b > 0 else math.nan,
                "z_mean": float(v.mean()) / se if se > 0 else math.nan,
            }
        )
    return {"n_runs": len(runs), "seeds": [res.get("seed") for res in runs], "cells": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="output folders of run.py (each with results.json)")
    ap.add_argument("--out", default=str(HERE / "out" / "seed_spread" / "seed_spread.json"))
    args = ap.parse_args(argv)
    runs = []
    for d in args.runs:
        p = Path(d) / "results.json"
        if not p.is_file():
            raise SystemExit(f"seed_spread.py: no results.json in {d}")
        runs.append(json.loads(p.read_text()))
    seeds = [r.get("seed") for r in runs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"seed_spread.py: the runs must have different seeds, got {seeds}")
    try:
        res = combine(runs)
    except ValueError as e:
        raise SystemExit(f"seed_spread.py: {e}") from None
    res["runs"] = [str(d) for d in args.runs]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"{res['n_runs']} runs, seeds {seeds}")
    print("   t   r   mean ± error           z   sd/bootstrap   values")
    for c in res["cells"]:
        print(
            f"{c['t']:4.1f} {c['radius']:3d}  {c['mean']:+.4f} ± {c['stderr_of_mean']:.4f}"
            f"  {c['z_mean']:+5.1f}  {c['sd_over_rms_bootstrap']:6.2f}        "
            + " ".join(f"{v:+.4f}" for v in c["values"])
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
