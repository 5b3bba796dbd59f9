"""Trained local denoisers on the noisy 1D Ising chain against the Bayes-optimal cross-entropy.

The clean data are the 1D Ising chain at K = 1 (periodic ring of N = 128 sites, exact i.i.d.
samples from ``ld.sample``); the noisy data are their bit-flipped copies at p = 0.1 (BitFlip with
gamma = 1 at the fixed time t = t_of_p(0.1); one noise level, so the networks are trained at that
single t, without time conditioning). For r = 0..6 a ``LocalDenoiser(radius=r, dim=1)`` is
trained by cross-entropy to predict the clean spin s_0 from the noisy window y_{-r..r}, and its
held-out cross-entropy is compared with the exact Bayes-optimal value
``H(s_0 | y_{-r..r})`` from ``latticediff.exact.noisy_chain.chain_denoiser_entropy``
(transfer matrices; the periodic ring of 128 sites differs from the infinite chain by
tanh(1)^128 ~ 1e-15).

Capacity and data: the Bayes-optimal radius-r denoiser is a function of the 2^(2r+1) noisy
window patterns (8192 at r = 6); a one-convolution + per-site MLP of width 64 represents it
closely, and fresh noise is drawn at every step (training never sees the same noisy window
twice, so it cannot memorise held-out-like noise). Held-out samples are clean chains never used
in training, noised with a fixed seed that is the same for every r (paired comparison).
A trained model's held-out CE can only lie below the exact value by evaluation noise; the
deviation in standard errors is reported for each r.

Usage::

    python analysis/chain_denoisers/run.py --quick   # ~1 min on 2 cores
    python analysis/chain_denoisers/run.py           # full plan, ~6 min on 2 cores (idle)

Writes ``out/results.json`` and ``out/chain_denoisers.png`` / ``.pdf``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
K, P = 1.0, 0.1
RADII = list(range(7))
TOL = 0.01  # nats, the acceptance window

PLANS = {
    # N sites per chain, training / held-out chains, two-phase schedule (lr, steps), batch chains
    "full": dict(N=128, n_train=8000, n_test=8000, phases=((3e-3, 1200), (3e-4, 300)), batch=64),
    "quick": dict(N=128, n_train=2000, n_test=2000, phases=((3e-3, 250), (3e-4, 80)), batch=64),
}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small plan (~1 min)")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    import latticediff as ld
    from latticediff.exact.noisy_chain import chain_denoiser_entropy
    from latticediff.nn import LocalDenoiser, evaluate_per_site_loss, train_denoiser

    torch.set_num_threads(args.threads)
    plan_name = "quick" if args.quick else "full"
    plan = PLANS[plan_name]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    n = plan["n_train"] + plan["n_test"]
    clean = ld.sample(ld.IsingChain(N=plan["N"], K=K), n_samples=n, seed=args.seed + 1)
    clean = clean[:, None, :]  # (n, C=1, N)
    train, test = clean[: plan["n_train"]], clean[plan["n_train"] :]
    bf = ld.BitFlip(gamma=1.0)
    t = float(bf.t_of_p(P))

    rows, per_sample = [], []
    for r in RADII:
        t0 = time.perf_counter()
        net = LocalDenoiser(r, 1, 2, hidden=64, depth=3, dim=1, t_embedding=None, seed=100 + r)
        # constant-lr training, then a short low-lr phase (train_denoiser keeps lr constant)
        for phase, (lr, steps) in enumerate(plan["phases"]):
            train_denoiser(
                net,
                train,
                bf,
                steps=steps,
                batch_size=plan["batch"],
                lr=lr,
                seed=1000 * args.seed + 10 * r + phase,
                t_sampler=t,
                progress=False,
            )
        train_s = time.perf_counter() - t0
        res = evaluate_per_site_loss(net, test, bf, [t], seed=args.seed + 77)
        res_tr = evaluate_per_site_loss(net, train[: plan["n_test"]], bf, [t], seed=args.seed + 78)
        exact = chain_denoiser_entropy(K, P, r)
        ce, se = float(res.mean[0]), float(res.stderr[0])
        per_sample.append(res.per_sample[0])
        rows.append(
            dict(
                radius=r,
                cross_entropy=ce,
                stderr=se,
                train_cross_entropy=float(res_tr.mean[0]),
                exact=exact,
                deviation=ce - exact,
                z=(ce - exact) / se,
                n_params=net.n_params(),
                flops_per_site=net.flops_per_site(),
                train_s=train_s,
            )
        )
        print(
            f"r={r}: CE = {ce:.6f} +- {se:.6f}  exact {exact:.6f}  dev {ce - exact:+.6f} "
            f"({(ce - exact) / se:+.1f} sigma)  [{train_s:.0f} s]",
            flush=True,
        )

    # every model saw the same held-out noisy chains: paired differences to the largest radius
    # cancel the common evaluation noise and test the shape of CE(r) at the 1e-4 level
    last = per_sample[-1]
    diffs = [d - last for d in per_sample]
    paired = {
        "reference_radius": RADII[-1],
        "difference": [float(d.mean()) for d in diffs],
        "difference_stderr": [float(d.std(ddof=1) / np.sqrt(d.size)) for d in diffs],
        "exact_difference": [row["exact"] - rows[-1]["exact"] for row in rows],
    }
    paired["deviation_sigma"] = [
        (a - b) / s if s > 0 else 0.0
        for a, b, s in zip(
            paired["difference"],
            paired["exact_difference"],
            paired["difference_stderr"],
            strict=True,
        )
    ]
    wall = time.perf_counter() - t_all
    ok_tol = all(abs(row["deviation"]) < TOL for row in rows)
    ok_below = all(row["z"] > -4.0 for row in rows)
    results = {
        "K": K,
        "p": P,
        "radius": RADII,
        "cross_entropy": [row["cross_entropy"] for row in rows],
        "cross_entropy_stderr": [row["stderr"] for row in rows],
        "exact": [row["exact"] for row in rows],
        "deviation": [row["deviation"] for row in rows],
        "deviation_sigma": [row["z"] for row in rows],
        "train_cross_entropy": [row["train_cross_entropy"] for row in rows],
        "n_params": [row["n_params"] for row in rows],
        "flops_per_site": [row["flops_per_site"] for row in rows],
        "train_seconds": [row["train_s"] for row in rows],
        "paired_to_largest_radius": paired,
        "units": "nats per site",
        "checks": {
            f"|CE - exact| < {TOL} at every r": ok_tol,
            "no CE below exact by more than 4 sigma": ok_below,
        },
        "setup": {
            "plan": plan_name,
            "chain": f"IsingChain(N={plan['N']}, K={K}), periodic, exact i.i.d. samples",
            "noise": f"BitFlip(gamma=1) at t = t_of_p({P}) = {t:.6f}",
            "n_train_chains": plan["n_train"],
            "n_test_chains": plan["n_test"],
            "n_test_sites": plan["n_test"] * plan["N"],
            "model": "LocalDenoiser(radius=r, 1, 2, hidden=64, depth=3, dim=1, t_embedding=None)",
            "training": [
                {"lr": lr, "steps": s, "batch_chains": plan["batch"]} for lr, s in plan["phases"]
            ],
            "stderr": "standard error over held-out chains (per-chain mean CE; chains i.i.d.)",
            "exact": "latticediff.exact.noisy_chain.chain_denoiser_entropy(K, p, r)",
            "seed": args.seed,
            "torch_threads": args.threads,
            "cpu_count": os.cpu_count(),
            "wall_seconds": wall,
        },
    }
    path = out_dir / "results.json"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)
    figs = _figure(results, out_dir)
    print(f"checks: {results['checks']}")
    print(
        "paired CE(r) - CE(6) minus exact, in sigma: "
        + " ".join(f"{z:+.1f}" for z in paired["deviation_sigma"][:-1])
    )
    print(f"wall time {wall:.0f} s")
    print(f"wrote {path}")
    for fpath in figs:
        print(f"wrote {fpath}")
    return results


def _figure(res: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.array(res["radius"])
    ce = np.array(res["cross_entropy"])
    se = np.array(res["cross_entropy_stderr"])
    ex = np.array(res["exact"])
    fig, (a1, a2) = plt.subplots(
        2, 1, figsize=(5.2, 5.6), sharex=True, gridspec_kw={"height_ratios": [2, 1.2]}
    )
    rr = np.linspace(0, r.max(), 2)
    a1.plot(r, ex, "-", color="0.3", lw=1.2, label=r"exact $H(s_0\,|\,y_{-r..r})$")
    a1.errorbar(r, ce, yerr=se, fmt="o", ms=4, color="C0", capsize=2, label="trained, held-out")
    a1.set_ylabel("cross-entropy (nats/site)")
    a1.set_title(f"1D Ising chain K = {res['K']}, bit flips p = {res['p']}")
    a1.legend(frameon=False)
    a2.axhline(0, color="0.3", lw=1)
    a2.errorbar(r, 1e3 * (ce - ex), yerr=1e3 * se, fmt="o", ms=4, color="C0", capsize=2)
    a2.set_ylim(-12, 12)
    a2.set_ylabel("trained - exact (1e-3 nats)")
    a2.set_xlabel("denoiser radius r")
    a2.fill_between(
        rr, -1e3 * TOL, 1e3 * TOL, color="C2", alpha=0.15, lw=0, label=f"acceptance $\\pm${TOL}"
    )
    a2.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    paths = []
    for ext in ("png", "pdf"):
        pth = out_dir / f"chain_denoisers.{ext}"
        fig.savefig(pth, dpi=150)
        paths.append(pth)
    plt.close(fig)
    return paths


if __name__ == "__main__":
    main()
