"""CPU cost of the denoisers: training throughput and sampling cost per site against L.

For LocalDenoiser r = 1, 3, 6 and the GlobalDenoiser baseline, on 1-channel L x L lattices with
L = 16, 32, 64 and torch threads = 1 and 2, measures

- training throughput: sites per second of one optimisation step (forward, MSE backward, AdamW
  update) on a batch of lattices holding a fixed number of sites (``--sites``, default 8192,
  i.e. 32 / 8 / 2 lattices), so per-call overheads do not favour one L;
- sampling cost: seconds per reverse step per site, one no-grad forward pass over the same batch
  (a reverse step is one network evaluation plus O(1) arithmetic per site).

Each number is the median of ``--repeats`` timed calls after ``--warmup`` untimed ones; the
spread (min, max) is kept, and the flatness ratios are also given from the minima (contention
from other jobs only adds time, so the fastest call is the least disturbed). The local model's
cost per site should not depend on L (its FLOPs per site are L-independent);
``flat_ratio`` = cost(L=64) / cost(L=16) quantifies that.

    python analysis/benchmarks/bench_denoisers.py           # < 3 min on an idle 2-core machine
    python analysis/benchmarks/bench_denoisers.py --quick   # fewer repeats

Writes ``analysis/benchmarks/out/bench_denoisers.json`` and prints a table. The load average at
start and end is recorded: timings taken while other jobs share the cores are not reliable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from latticediff.nn import GlobalDenoiser, LocalDenoiser  # noqa: E402

SIZES = (16, 32, 64)
RADII = (1, 3, 6)


def make_model(kind: str, hidden: int):
    if kind == "global":
        return GlobalDenoiser(
            1, 1, hidden=hidden, levels=3, padding="circular", prediction="x0", seed=0
        )
    r = int(kind.split("=")[1])
    return LocalDenoiser(r, 1, 1, hidden=hidden, depth=3, spatial_layers=2, prediction="x0", seed=0)


def _timed(fn, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_one(kind: str, L: int, sites: int, hidden: int, warmup: int, repeats: int) -> dict:
    n = max(1, sites // (L * L))
    model = make_model(kind, hidden)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, L, L, generator=gen)
    target = torch.randn(n, 1, L, L, generator=gen)
    t = torch.rand(n, generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_step():
        loss = ((model(x, t) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sample_step():
        with torch.no_grad():
            model(x, t)

    model.train()
    tr = _timed(train_step, warmup, repeats)
    model.eval()
    sa = _timed(sample_step, warmup, repeats)
    ns = n * L * L
    med_tr, med_sa = statistics.median(tr), statistics.median(sa)
    return {
        "model": kind,
        "L": L,
        "batch": n,
        "sites": ns,
        "n_params": model.n_params(),
        "flops_per_site": float(model.flops_per_site((L, L))),
        "train_sites_per_s": ns / med_tr,
        "train_s_per_site": med_tr / ns,
        "train_s_range": [min(tr), max(tr)],
        "train_s_per_site_min": min(tr) / ns,
        "sample_s_per_step_per_site": med_sa / ns,
        "sample_s_range": [min(sa), max(sa)],
        "sample_s_per_step_per_site_min": min(sa) / ns,
        "sample_gflops_per_s": float(model.flops_per_site((L, L))) * ns / med_sa / 1e9,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--sites", type=int, default=8192, help="lattice sites per batch")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=HERE / "out" / "bench_denoisers.json")
    args = ap.parse_args(argv)
    warmup, repeats = (1, 3) if args.quick else (2, 5)
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    rows = []
    kinds = [f"r={r}" for r in RADII] + ["global"]
    for th in args.threads:
        torch.set_num_threads(th)
        for kind in kinds:
            for L in SIZES:
                row = bench_one(kind, L, args.sites, args.hidden, warmup, repeats)
                row["threads"] = th
                rows.append(row)
    # Flatness: cost per site at the largest L over the smallest, per (threads, model).
    flat = {}
    for th in args.threads:
        for kind in kinds:
            sel = {r["L"]: r for r in rows if r["threads"] == th and r["model"] == kind}
            flat[f"threads={th} {kind}"] = {
                "train": sel[SIZES[-1]]["train_s_per_site"] / sel[SIZES[0]]["train_s_per_site"],
                "sample": sel[SIZES[-1]]["sample_s_per_step_per_site"]
                / sel[SIZES[0]]["sample_s_per_step_per_site"],
                # Contention on a shared machine only adds time: the fastest call is the
                # least disturbed estimate.
                "train_min": sel[SIZES[-1]]["train_s_per_site_min"]
                / sel[SIZES[0]]["train_s_per_site_min"],
                "sample_min": sel[SIZES[-1]]["sample_s_per_step_per_site_min"]
                / sel[SIZES[0]]["sample_s_per_step_per_site_min"],
            }
    res = {
        "sizes": list(SIZES),
        "sites_per_batch": args.sites,
        "hidden": args.hidden,
        "warmup": warmup,
        "repeats": repeats,
        "statistic": "median",
        "rows": rows,
        "flat_ratio_L64_over_L16": flat,
        "loadavg_start": list(load0),
        "loadavg_end": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "wall_s": time.perf_counter() - t_all,
        "host": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(
        f"{'thr':>3} {'model':>6} {'L':>3} {'batch':>5} {'FLOP/site':>9} "
        f"{'train sites/s':>13} {'sample us/site/step':>19}"
    )
    for r in rows:
        print(
            f"{r['threads']:>3} {r['model']:>6} {r['L']:>3} {r['batch']:>5} "
            f"{r['flops_per_site']:>9.0f} {r['train_sites_per_s']:>13.0f} "
            f"{1e6 * r['sample_s_per_step_per_site']:>19.3f}"
        )
    print("cost per site, L=64 / L=16 (1 = flat), from medians [from minima]:")
    for k, v in flat.items():
        print(
            f"  {k:>16}: train {v['train']:.2f} [{v['train_min']:.2f}], "
            f"sample {v['sample']:.2f} [{v['sample_min']:.2f}]"
        )
    print(f"load average start {load0}, end {res['loadavg_end']}; wall {res['wall_s']:.0f} s")
    return res


if __name__ == "__main__":
    main()
