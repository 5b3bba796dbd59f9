"""Does the global loop-gas denoiser leave fewer vertex defects when it is given the vertex
parities as an input channel (``GlobalDenoiser(..., input_features="vertex_parity")``)?

The all-global sampler of ``run.py`` leaves ~0.06 defects per vertex at CPU budgets, although
the Bayes-optimal global denoiser leaves none: a defect is the XOR of four edges, a function a
small convolutional network learns slowly. This script trains the plain and the parity-aware
global U-Net with the same seeds, data, budget and noise schedule as ``run.py``'s global model
(PMixture over p, AdamW at lr then lr / 5, batch 32), a local r = 3 model likewise, and samples
all-global and hybrid (local r = 3 outside the window of ``out/results.json``, global inside)
with each global model: 64 samples of L = 16, 100 ancestral steps, the same start noise.

    python analysis/loopgas_denoisers/parity_features.py              # 1000 steps, ~10 min
    python analysis/loopgas_denoisers/parity_features.py --steps 4000 --out /tmp/x

Writes ``out/parity_features[_<steps>].json`` (defect densities with standard errors, training
losses and wall times, FLOP fractions).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import torch  # noqa: E402
from run import GAMMA, SEEDS, PMixture  # noqa: E402

import latticediff as ld  # noqa: E402
from latticediff.nn import GlobalDenoiser, LocalDenoiser, train_denoiser  # noqa: E402
from latticediff.nn.sampling import HybridSchedule, sample_discrete  # noqa: E402
from latticediff.noise import BitFlip  # noqa: E402
from latticediff.quality import loopgas_quality  # noqa: E402

L = 16
N_TRAIN = 20000
GEN_N, GEN_STEPS = 64, 100
N_REFERENCE = 400


def train(net, data, process, steps, seed_offset, device="cpu"):
    """run.py's budget split: 3/4 of the steps at lr 2e-3, 1/4 at 4e-4; same t sampler."""
    ts = PMixture(process)
    s1 = int(round(0.75 * steps))
    t0 = time.perf_counter()
    train_denoiser(net, data, process, steps=s1, batch_size=32, lr=2e-3,
                        seed=1000 + seed_offset, t_sampler=ts, progress=False,
                        device=device)  # fmt: skip
    h2 = train_denoiser(net, data, process, steps=steps - s1, batch_size=32, lr=4e-4,
                        seed=2000 + seed_offset, t_sampler=ts, progress=False,
                        device=device)  # fmt: skip
    tail = h2.losses[-max(1, (steps - s1) // 5) :]
    return {"train_wall_s": time.perf_counter() - t0, "final_train_loss": float(np.mean(tail))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="training steps per model")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda: training and sampling")
    args = ap.parse_args(argv)
    if args.steps < 4:
        ap.error(f"--steps must be >= 4, got {args.steps}")
    if args.device not in ("cpu", "cuda"):
        ap.error(f"--device must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    window_p = json.loads((HERE / "out" / "results.json").read_text())["generation"]["window_p"]

    process = BitFlip(gamma=GAMMA)
    data = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=N_TRAIN, seed=SEEDS["train_data"])
    ref = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=N_REFERENCE, seed=SEEDS["reference"])
    models = {
        "global": GlobalDenoiser(2, 4, hidden=32, levels=3, seed=0),
        "global + parity": GlobalDenoiser(
            2, 4, hidden=32, levels=3, seed=0, input_features="vertex_parity"
        ),
        "local r=3": LocalDenoiser(3, 2, 4, hidden=32, depth=4, spatial_layers=3, seed=3),
    }
    training = {}
    for name, net in models.items():
        training[name] = {
            **train(net, data, process, args.steps, 0, args.device),
            "n_params": net.n_params(),
        }
        print(f"trained {name}: {training[name]}", flush=True)

    t_lo, t_hi = (float(process.t_of_p(q)) for q in window_p)
    loc = models["local r=3"]
    schedules = {
        "global": HybridSchedule.single(models["global"], math.inf),
        "global + parity": HybridSchedule.single(models["global + parity"], math.inf),
        "hybrid r=3 + global": HybridSchedule.local_global(
            loc, models["global"], window=(t_lo, t_hi), t_max=math.inf
        ),
        "hybrid r=3 + global + parity": HybridSchedule.local_global(
            loc, models["global + parity"], window=(t_lo, t_hi), t_max=math.inf
        ),
    }
    gen, reports = {}, {}
    for name, sched in schedules.items():
        x, rep = sample_discrete(sched, process, (L, L), GEN_N, n_steps=GEN_STEPS,
                                 seed=SEEDS["generate"], dtype=np.uint8,
                                 device=args.device)  # fmt: skip
        q = loopgas_quality(x, ref)
        reports[name] = rep
        gen[name] = {
            "defects_per_vertex": q.defect_density,
            "defects_per_vertex_stderr": q.defect_density_stderr,
            "defect_free_fraction": q.defect_free_fraction,
            "gflop": rep.total_flops / 1e9,
        }
        print(f"{name:30s} defects/vertex {q.defect_density:.4f} +- "
              f"{q.defect_density_stderr:.4f}", flush=True)  # fmt: skip
    g_flops = reports["global"].total_flops
    for name, rep in reports.items():
        gen[name]["flops_fraction_of_plain_global"] = rep.total_flops / g_flops
    res = {
        "L": L,
        "steps": args.steps,
        "batch": 32,
        "n_train": N_TRAIN,
        "window_p": window_p,
        "generation": {"n_samples": GEN_N, "n_steps": GEN_STEPS, "schedules": gen},
        "training": training,
        "threads": args.threads,
        "device": args.device,
    }
    name = "parity_features.json" if args.steps == 1000 else f"parity_features_{args.steps}.json"
    tmp = out / (name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n")
    tmp.replace(out / name)
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
