"""Are the vertex defects of the trained samplers a network error or a sampling error?

The reverse sampler draws every edge independently from its posterior marginal at each step
(D3PM), so even the exact global denoiser leaves defects when a step flips several edges of one
vertex at once; that error falls as the number of steps grows (L = 6, exact: 0.05 defects per
vertex at 20 steps, 0 at 80). This script reruns the generation stage of ``run.py`` with the
trained networks of one run (from its ``--models-dir`` cache) at several numbers of steps, with
the same window, seeds, reference and quality metric, and reports the defect density of every
schedule against the number of steps.

    python analysis/loopgas_denoisers/run.py --plan full-parity --steps 4000 \\
        --models-dir M --out analysis/loopgas_denoisers/out/parity_4000
    python analysis/loopgas_denoisers/steps_sweep.py --plan full-parity --steps 4000 \\
        --models-dir M --run analysis/loopgas_denoisers/out/parity_4000

Writes ``steps_sweep.json`` and ``steps_sweep.png`` into the run's folder (``--stem`` names
them otherwise). ``--global-steps N`` adds the same plan's global network trained for N steps
(``run.py --steps N --train-only global --models-dir M``), to see whether the global sampler's
remaining defects fall with training; ``--global-plan NAME`` takes it from another plan (e.g.
another learning rate).
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
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from run import (  # noqa: E402
    GAMMA,
    PLANS,
    SEEDS,
    build_models,
    excess_over_exact_global,
    generate,
    load_weights,
    weights_cache,
    with_steps,
)


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ns = res["n_steps"]
    means = []
    for k, (name, rows) in enumerate(res["defects"].items()):
        m = np.array([r["mean"] for r in rows])
        e = np.array([r["stderr"] for r in rows])
        means.append(m)
        style = dict(lw=2.5, color="k") if name == "global" else dict(color=f"C{k}")
        ls = "--" if name.startswith("exact") else "-"
        ax.errorbar(ns, m, e, marker="o", capsize=3, label=name, ls=ls, **style)
    ax.set_xscale("log")
    if np.min(means) > 0:
        ax.set_yscale("log")
    else:  # a defect-free schedule: keep its zeros on the axis
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylim(bottom=0)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("reverse steps (uniform in p from 1/2)")
    ax.set_ylabel("vertex defects per vertex (true data: 0)")
    lo, hi = res["window_p"]
    ax.set_title(
        f"trained networks ({res['plan_name']}, {res['train_steps']} steps), L = {res['L']}, "
        f"{res['n_samples']} samples;\nhybrid = global for p in [{lo:.2f}, {hi:.2f}]",
        fontsize=9,
    )
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", default="full-parity", choices=sorted(PLANS))
    ap.add_argument("--steps", type=int, default=None, help="the run's --steps (training)")
    ap.add_argument("--models-dir", required=True, help="the run's --models-dir")
    ap.add_argument("--trained-on", default="cpu", help="device the weights were trained on")
    ap.add_argument("--run", type=Path, required=True, help="the run's --out (results.json)")
    ap.add_argument("--n-steps", type=int, nargs="+", default=[100, 200, 400, 800])
    ap.add_argument("--n", type=int, default=None, help="samples (default: the plan's gen_n)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--plot-only", action="store_true", help="redraw from <stem>.json")
    ap.add_argument("--stem", default="steps_sweep", help="output names <stem>.json/.png")
    ap.add_argument(
        "--global-steps",
        type=int,
        default=None,
        help="also sample with the global network of the same plan trained for this many steps "
        "(from --models-dir, e.g. run.py --steps N --train-only global): training error or not?",
    )
    ap.add_argument(
        "--global-plan",
        default=None,
        choices=sorted(PLANS),
        help="the plan of the --global-steps network (default: --plan), e.g. another learning rate",
    )
    ap.add_argument(
        "--global-tail",
        action="store_true",
        help="add 'hybrid r=3 + global tail': global on the window and on every step below it "
        "(the profiler's tail='global' rule), local r = 3 above",
    )
    a = ap.parse_args(argv)
    if not a.stem or "/" in a.stem or a.stem.startswith("."):
        ap.error(f"--stem must be a plain file name, got {a.stem!r}")
    if a.global_plan is not None and a.global_steps is None:
        ap.error("--global-plan needs --global-steps (the steps of that plan's global network)")
    if a.plot_only:
        figure(json.loads((a.run / f"{a.stem}.json").read_text()), a.run / f"{a.stem}.png")
        return 0
    if any(n < 2 for n in a.n_steps):
        ap.error(f"--n-steps must all be >= 2, got {a.n_steps}")
    results = a.run / "results.json"
    if not results.exists():
        ap.error(f"--run: no {results}")
    run = json.loads(results.read_text())
    plan = dict(PLANS[a.plan])
    if a.steps is not None:
        plan = with_steps(plan, a.steps)
    if run.get("plan") != plan:
        ap.error(f"--run {a.run} was made with another plan or --steps ({run.get('plan_name')!r})")
    cache = weights_cache(plan, a.models_dir, a.trained_on)
    if not (cache / "train_info.json").exists():
        ap.error(f"no trained weights in {cache}")
    import torch

    import latticediff as ld
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.noise import BitFlip
    from latticediff.quality import loopgas_quality

    torch.set_num_threads(a.threads)
    models = build_models(plan)
    load_weights(models, cache, "cpu")
    longer = None
    if a.global_steps is not None:
        gplan = a.global_plan or a.plan
        p2 = with_steps(PLANS[gplan], a.global_steps)
        c2 = weights_cache(p2, a.models_dir, a.trained_on)
        if not (c2 / "global.pt").exists():
            ap.error(f"--global-steps {a.global_steps}: no global network of {gplan} in {c2}")
        longer = {"global": build_models(p2)["global"]}
        load_weights(longer, c2, "cpu")
        longer = longer["global"]
        longer_label = f"global, {a.global_steps} training steps"
        if a.global_plan not in (None, a.plan):
            longer_label = f"global ({a.global_plan}, {a.global_steps} steps)"
    process = BitFlip(gamma=GAMMA)
    window = tuple(run["generation"]["window_p"])
    t_hi = float(process.t_of_p(window[1]))
    reference = ld.sample(
        ld.LoopGas(L=plan["L"], x=1.0), n_samples=plan["n_reference"], seed=SEEDS["reference"]
    )
    n = a.n or plan["gen_n"]
    res = dict(
        plan_name=a.plan,
        train_steps=plan["steps"] + plan["anneal_steps"],
        L=plan["L"],
        n_samples=n,
        window_p=list(window),
        n_steps=a.n_steps,
        seed=SEEDS["generate"],
        defects={},
        defect_free={},
        wall_s={},
    )

    # the global networks' own error, against the exact global posterior on every edge
    xs = ld.sample(
        ld.LoopGas(L=plan["L"], x=1.0), n_samples=plan["exact_samples"], seed=SEEDS["exact_data"]
    )
    nets = {"global": models["global"]}
    if longer is not None:
        nets[longer_label] = longer
    res["excess_over_exact_global"] = {}
    for name, net in nets.items():
        ex = excess_over_exact_global(net, xs, process, plan["exact_p"])
        res["excess_over_exact_global"][name] = ex
        k = int(np.argmax(ex["mean"]))
        print(f"{name}: excess over the exact global denoiser, max {ex['mean'][k]:.4f} +- "
              f"{ex['stderr'][k]:.4f} nats/edge at p = {ex['p'][k]}", flush=True)  # fmt: skip
    for ns in a.n_steps:
        t0 = time.perf_counter()
        print(f"{ns} steps", flush=True)
        gen, _ = generate(
            models, process, dict(plan, gen_n=n, gen_steps=ns), "cpu", window, reference, print
        )
        extra = {}
        if longer is not None:
            extra[longer_label] = HybridSchedule.single(longer, math.inf)
        if a.global_tail:
            extra["hybrid r=3 + global tail"] = HybridSchedule.local_global(
                models["r=3"], models["global"], window=(0.0, t_hi), t_max=math.inf
            )
        for name, sched in extra.items():  # the same seed, grid and metric as generate()
            x, rep = sample_discrete(
                sched, process, (plan["L"], plan["L"]), n, n_steps=ns, seed=SEEDS["generate"],
                dtype=np.uint8, device="cpu",
            )  # fmt: skip
            q = loopgas_quality(x, reference)
            gen["schedules"][name] = dict(
                quality=q.to_dict(),
                flops_relative_to_global=rep.total_flops
                / gen["schedules"]["global"]["compute"]["total_flops"],
            )
            print(f"  {name:22s} defects/vertex {q.defect_density:.4f} +- "
                  f"{q.defect_density_stderr:.4f}")  # fmt: skip
        for name, row in gen["schedules"].items():
            q = row["quality"]
            res["defects"].setdefault(name, []).append(
                dict(mean=q["defect_density"], stderr=q["defect_density_stderr"])
            )
            res["defect_free"].setdefault(name, []).append(
                int(round(q["defect_free_fraction"] * n))
            )
            flops = row.get("flops_relative_to_global")
            if flops is None and "compute_relative_to_global" in row:
                flops = row["compute_relative_to_global"]["flops"]
            res.setdefault("flops_relative_to_global", {}).setdefault(name, []).append(flops)
        res["wall_s"][str(ns)] = time.perf_counter() - t0
    out = a.run / f"{a.stem}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    tmp.replace(out)
    figure(res, a.run / f"{a.stem}.png")
    for name, rows in res["defects"].items():
        cells = "  ".join(
            f"{r['mean']:.4f}({math.ceil(1e4 * r['stderr']):d})" for r in rows
        )  # stderr in units of the last digit
        print(f"{name:22s} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
