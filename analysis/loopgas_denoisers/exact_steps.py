"""Exact Bayes-optimal samplers of the bit-flipped loop gas at the trained networks' size.

Does all-local sampling leave vertex defects at any number of reverse steps, while a global or
a hybrid sampler avoids them, when no network error is involved? ``run.py`` answers this with
exact denoisers at L = 6 only (four Pfaffians per site and step); ``run.global_posterior_all``
(one factorisation per sample and step) makes the exact global sampler affordable at L = 16,
the size of the trained networks and of ``steps_sweep.py``, whose trained curves this script
puts beside the exact ones.

Schedules (all exact; ancestral D3PM sampling with the same seed, time grid and reference as
``run.py``'s generation stage):

- ``exact local r=1``, ``exact local r=2``: the Bayes-optimal radius-r denoisers (syndrome
  tables) at every step;
- ``exact global``: the Bayes-optimal denoiser of the whole torus at every step;
- ``exact hybrid r=2 + global window``: global for p in the window, local r = 2 elsewhere;
- ``exact hybrid r=2 + global tail``: global on the window and every step below it, local r = 2
  above (the profiler's ``tail="global"`` rule).

    python analysis/loopgas_denoisers/exact_steps.py \\
        --run analysis/loopgas_denoisers/out/parity_4000     # L = 16, 64 samples, ~40 min
    python analysis/loopgas_denoisers/exact_steps.py --quick --out /tmp/x   # L = 6, ~10 s

The window is the run's measured one (``--run``: ``results.json`` -> generation -> window_p)
unless ``--window`` names it. Writes ``<out>/exact_steps.json`` (after every schedule, so an
interrupted run resumes with ``--resume``) and ``exact_steps.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from run import (  # noqa: E402
    GAMMA,
    SEEDS,
    exact_global_module,
    exact_local_module,
)

PLANS = {
    "full": dict(L=16, n=64, n_steps=[100, 200, 400], n_reference=2000),
    "quick": dict(L=6, n=8, n_steps=[20, 40], n_reference=200),
}
ORDER = (
    "exact local r=1",
    "exact local r=2",
    "exact hybrid r=2 + global window",
    "exact hybrid r=2 + global tail",
    "exact global",
)


def schedules(process, window_p) -> dict:
    from latticediff.nn.sampling import HybridSchedule

    inf = math.inf
    t_lo, t_hi = (float(process.t_of_p(q)) for q in window_p)
    loc1, loc2 = exact_local_module(1, process), exact_local_module(2, process)
    glo = exact_global_module()
    # named segments, so the compute report tells the models apart
    return {
        "exact local r=1": HybridSchedule.single(loc1, inf, name="exact local r=1"),
        "exact local r=2": HybridSchedule.single(loc2, inf, name="exact local r=2"),
        "exact hybrid r=2 + global window": HybridSchedule(
            [
                (0.0, t_lo, loc2, "exact local r=2"),
                (t_lo, t_hi, glo, "exact global"),
                (t_hi, inf, loc2, "exact local r=2"),
            ]
        ),
        "exact hybrid r=2 + global tail": HybridSchedule(
            [(0.0, t_hi, glo, "exact global"), (t_hi, inf, loc2, "exact local r=2")]
        ),
        "exact global": HybridSchedule.single(glo, inf, name="exact global"),
    }


def figure(res: dict, trained: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8))
    colors = dict(zip(ORDER, ("C3", "C1", "C2", "C0", "k"), strict=True))
    for name in ORDER:
        rows = res["results"].get(name, {})
        ns = sorted(int(k) for k in rows)
        if not ns:
            continue
        m = [rows[str(k)]["defect_density"] for k in ns]
        e = [rows[str(k)]["defect_density_stderr"] for k in ns]
        free = [rows[str(k)]["defect_free"] for k in ns]
        ax.errorbar(ns, m, e, marker="o", capsize=3, color=colors[name], label=name,
                    lw=2.5 if name == "exact global" else 1.5)  # fmt: skip
        for k, v, f in zip(ns, m, free, strict=True):
            ax.annotate(f"{f}/{res['n']}", (k, v), textcoords="offset points", xytext=(4, 4),
                        fontsize=6, color=colors[name])  # fmt: skip
    if trained:
        for name, style in (
            ("global", "k"),
            ("local r=3", "C1"),
            ("hybrid r=3 + global tail", "C0"),
        ):
            if name in trained["defects"]:
                rows = trained["defects"][name]
                ax.plot(trained["n_steps"], [r["mean"] for r in rows], ls=":", marker="x",
                        color=style, alpha=0.6, label=f"trained {name} (steps_sweep)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0)
    allns = {int(k) for rows in res["results"].values() for k in rows}
    allns = sorted(allns | set(trained["n_steps"] if trained else ()))
    ax.set_xticks(allns, [str(n) for n in allns])
    ax.set_xlabel("reverse steps (uniform in 1 - 2p from p = 1/2)")
    ax.set_ylabel("vertex defects per vertex (true data: 0)")
    lo, hi = res["window_p"]
    ax.set_title(
        f"exact Bayes-optimal samplers, L = {res['L']}, {res['n']} samples (labels: defect-free);\n"
        f"window p in [{lo:.2f}, {hi:.2f}]; dotted: trained networks at the same L",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="L = 6, 8 samples, 20 and 40 steps")
    ap.add_argument(
        "--run", type=Path, default=None, help="a run.py --out (window, trained curves)"
    )
    ap.add_argument("--window", type=float, nargs=2, default=None, metavar=("P_LO", "P_HI"))
    ap.add_argument("--n", type=int, default=None, help="samples (default: the plan's)")
    ap.add_argument("--n-steps", type=int, nargs="+", default=None)
    ap.add_argument("--only", nargs="+", default=None, choices=ORDER, metavar="NAME",
                    help=f"run just these schedules (of: {', '.join(ORDER)})")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1, help="Numba threads (Pfaffians)")
    ap.add_argument("--resume", action="store_true", help="keep the finished cells of the json")
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="default: --run, else out/")
    a = ap.parse_args(argv)
    plan = dict(PLANS["quick" if a.quick else "full"])
    if a.n is not None:
        if a.n < 2:
            ap.error(f"--n must be >= 2 (errors need a spread over samples), got {a.n}")
        plan["n"] = a.n
    if a.n_steps is not None:
        if any(k < 2 for k in a.n_steps):
            ap.error(f"--n-steps must all be >= 2, got {a.n_steps}")
        plan["n_steps"] = sorted(set(a.n_steps))
    if a.threads < 1:
        ap.error(f"--threads must be >= 1, got {a.threads}")
    out = a.out or a.run or HERE / "out"
    path = out / "exact_steps.json"
    trained = None
    if a.run is not None:
        if not (a.run / "results.json").exists():
            ap.error(f"--run: no {a.run / 'results.json'}")
        sweep = a.run / "steps_sweep.json"
        if sweep.exists():
            trained = json.loads(sweep.read_text())
            if trained.get("L") != plan["L"]:
                trained = None  # another size: not comparable
    if a.plot_only:
        if not path.exists():
            ap.error(f"--plot-only: no {path}")
        figure(json.loads(path.read_text()), trained, out / "exact_steps.png")
        return 0
    if a.window is not None:
        window = [float(v) for v in a.window]
    elif a.run is not None:
        window = json.loads((a.run / "results.json").read_text())["generation"]["window_p"]
    else:
        ap.error("give --window P_LO P_HI or --run (the measured window)")
    if not 0.0 < window[0] < window[1] < 0.5:
        ap.error(f"--window must satisfy 0 < P_LO < P_HI < 0.5, got {window}")

    import numba

    numba.set_num_threads(a.threads)
    import latticediff as ld
    from latticediff.nn.sampling import sample_discrete
    from latticediff.noise import BitFlip
    from latticediff.quality import loopgas_quality

    out.mkdir(parents=True, exist_ok=True)
    process = BitFlip(gamma=GAMMA)
    L, n = plan["L"], plan["n"]
    res = dict(L=L, n=n, window_p=window, seed=SEEDS["generate"], gamma=GAMMA, results={})
    if a.resume and path.exists():
        prev = json.loads(path.read_text())
        if {k: prev.get(k) for k in ("L", "n", "window_p", "seed")} == {
            k: res[k] for k in ("L", "n", "window_p", "seed")
        }:
            res["results"] = prev["results"]
        else:
            ap.error(f"--resume: {path} was made with another L, n, window or seed")
    reference = ld.sample(
        ld.LoopGas(L=L, x=1.0), n_samples=plan["n_reference"], seed=SEEDS["reference"]
    )
    res["reference"] = loopgas_quality(reference).to_dict()
    scheds = schedules(process, window)
    for ns in plan["n_steps"]:
        for name in a.only or ORDER:
            if str(ns) in res["results"].get(name, {}):
                continue
            x, rep = sample_discrete(
                scheds[name], process, (L, L), n, n_steps=ns, seed=SEEDS["generate"],
                dtype=np.uint8, device="cpu",
            )  # fmt: skip
            q = loopgas_quality(x, reference)
            evals = {m.name: m.evaluations for m in rep.models}
            walls = {m.name: m.wall_s for m in rep.models}
            res["results"].setdefault(name, {})[str(ns)] = dict(
                defect_density=q.defect_density,
                defect_density_stderr=q.defect_density_stderr,
                defect_free=int(round(q.defect_free_fraction * n)),
                winding_pvalue=q.winding_pvalue,
                global_step_fraction=evals.get("exact global", 0) / rep.n_steps,
                wall_s=rep.wall_s,
                wall_s_per_model=walls,
                quality=q.to_dict(),
            )
            print(
                f"{ns:5d} steps  {name:34s} defects/vertex {q.defect_density:.4f} +- "
                f"{q.defect_density_stderr:.4f}  defect-free {q.defect_free_fraction * n:.0f}/{n}"
                f"  global steps {evals.get('exact global', 0)}/{rep.n_steps}  {rep.wall_s:.0f} s",
                flush=True,
            )
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(res, indent=1))
            tmp.replace(path)
    figure(res, trained, out / "exact_steps.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
