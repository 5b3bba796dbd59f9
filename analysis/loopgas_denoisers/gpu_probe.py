"""Where does a training step of the loop-gas denoisers spend its time on a GPU?

The first H100 call (README.md, "GPU attempt") measured 19-28 ms per step of ``train_denoiser``
for networks of 40-200 k weights at batch 128 on a 16 x 16 torus, far above what the arithmetic
needs. This probe, meant as the first ~1-2 minutes of a device call, times the same step in
three settings and writes a profiler table, so that the cause is measured before a long run:

- ``as_is``: ``train_denoiser`` as the studies call it;
- ``nondeterministic``: the same with ``torch.use_deterministic_algorithms`` made a no-op
  (``train_denoiser`` turns it on for reproducibility; on CUDA that selects deterministic
  cuDNN algorithms, some of them slow);
- ``forward_backward``: the bare step (one fixed batch already on the device, no host-side
  noise, no loss synchronisation): a floor for the other two.

    python analysis/loopgas_denoisers/gpu_probe.py --device cuda --out $OUT/probe
    python analysis/loopgas_denoisers/gpu_probe.py --device cpu --steps 5 --out /tmp/probe

Writes ``probe.json`` (median ms per step of 3 repeats for each model and setting) and
``profile_<model>.txt`` (``torch.profiler`` table of the ``as_is`` step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=100, help="steps per timing (>= 2)")
    ap.add_argument("--models", default="r=3,global", help="comma-separated names of run.py")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gpu_probe"))
    a = ap.parse_args(argv)
    if a.steps < 2:
        ap.error(f"--steps must be >= 2, got {a.steps}")
    import torch
    from run import PLANS, PMixture, build_models

    import latticediff as ld
    from latticediff.nn import train_denoiser
    from latticediff.nn.train import encode_input, split_logits
    from latticediff.noise import BitFlip

    plan = PLANS["gpu"]
    models = build_models(plan)
    names = a.models.split(",")
    if not set(names) <= set(models):
        ap.error(f"--models must name models of {sorted(models)}, got {names}")
    a.out.mkdir(parents=True, exist_ok=True)
    process = BitFlip(gamma=1.0)
    data = ld.sample(ld.LoopGas(L=plan["L"], x=1.0), n_samples=4096, seed=1)
    ts = PMixture(process)
    deterministic = torch.use_deterministic_algorithms

    def train(net, steps):
        h = train_denoiser(
            net, data, process, steps=steps, batch_size=plan["batch"], lr=1e-4, seed=0,
            device=a.device, t_sampler=ts, progress=False, grad_clip=plan["grad_clip"],
        )  # fmt: skip
        return 1e3 * h.wall_s / steps

    def bare(net, steps):
        dev = torch.device(a.device)
        net.to(dev).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        rng = np.random.default_rng(0)
        t = ts(rng, plan["batch"])
        x_t = process.sample(data[: plan["batch"]], t, rng)
        x = encode_input(x_t, process).to(dev)
        c = torch.from_numpy(np.asarray(process.time_feature(t), np.float32)).to(dev)
        target = torch.from_numpy(process.to_index(data[: plan["batch"]])).to(dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            out = net(x, c)
            loss = torch.nn.functional.cross_entropy(split_logits(out, 2), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), plan["grad_clip"])
            opt.step()
        sync()
        return 1e3 * (time.perf_counter() - t0) / steps

    res = {"device": a.device, "steps": a.steps, "plan": "gpu", "ms_per_step": {}}
    if a.device.startswith("cuda"):
        res["gpu"] = torch.cuda.get_device_name()
    for name in names:
        net = models[name]
        row = {}
        train(net, 2)  # warm-up: kernels, allocator, cuDNN choices
        row["as_is"] = statistics.median(train(net, a.steps) for _ in range(3))
        torch.use_deterministic_algorithms = lambda *x, **k: None
        try:
            row["nondeterministic"] = statistics.median(train(net, a.steps) for _ in range(3))
        finally:
            torch.use_deterministic_algorithms = deterministic
        try:
            row["forward_backward"] = statistics.median(bare(net, a.steps) for _ in range(3))
        except Exception as e:  # the floor is a diagnostic: report, do not stop the probe
            row["forward_backward_error"] = repr(e)
        res["ms_per_step"][name] = row
        print(name, json.dumps(row), flush=True)
        acts = [torch.profiler.ProfilerActivity.CPU]
        if a.device.startswith("cuda"):
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=acts) as prof:
            train(net, min(a.steps, 20))
        key = "cuda_time_total" if a.device.startswith("cuda") else "cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=25)
        (a.out / f"profile_{name.replace('=', '')}.txt").write_text(table)
    (a.out / "probe.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
