"""The trained local denoisers on a larger torus: where does their excess loss peak at L = 32?

A radius-r denoiser reads only its (2r+1) x (2r+1) window, and the Bayes-optimal radius-r
posterior of the uniform loop gas does not depend on L once the window fits on the torus (the
window's marginal law is the same). So networks trained at L = 16 (``run.py``) are valid
radius-r denoisers at any larger L, unchanged. What depends on L is the reference: the global
posterior. This script scores the trained local networks against the *exact* global denoiser
(``run.global_px1_all``, one Pfaffian factorisation per sample) on an L x L torus:

    excess(r, p) = E_y mean_e KL(P(x_e | y) || q_r(x_e | y_window))    (nats per edge)

over every edge of ``n`` exact samples, with one uniform per edge shared by every p (so the
curves are smooth in p). For r = 1, 2 the exact radius-r gap on the same samples is computed
beside it (syndrome tables), which separates the Bayes gap from the training error. Peaks in p:
``run.peaks_with_bootstrap`` (weighted parabola through the maximum and its neighbours,
bootstrap over samples). The exact Bayes gaps of r <= 10 at L = 32 (``exact_gap.py --plan
large``, L = 24 with the default plan) are read from ``out/exact_gap*.json`` when one was made
at the same L, for the figure.

    python analysis/loopgas_denoisers/transfer_gap.py --models-dir /tmp/lgmodels    # ~25 min
    python analysis/loopgas_denoisers/transfer_gap.py --models-dir M --L 24 --n 32 --out /tmp/t

Options ``--plan``/``--steps``/``--trained-on`` name the trained weights as in ``run.py``
(default: the ``full-parity-gn`` plan at 16000 steps, whose local networks have the smallest
training error). Writes ``OUT/transfer_gap_L{L}.json`` and ``.png``; per-p progress goes to
``.npz``, from which ``--resume`` continues. ``--summary`` collects every L in ``OUT`` into
``transfer_gap_summary.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
    at_sites,
    build_models,
    global_px1_all,
    load_weights,
    local_gaps,
    net_excess,
    peaks_with_bootstrap,
    weights_cache,
    with_steps,
)

P_C = 0.1092
P_GRID = [0.02, 0.05, 0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.14, 0.17, 0.20]


def measure(nets: dict, xs: np.ndarray, ps, process, *, exact_radii=(1, 2), state=None, save=None):
    """Per-sample excess of every net over the exact global posterior, and the exact radius-r
    gaps for ``exact_radii``: dict name -> (len(ps), n) arrays. ``state`` (the same dict, from
    a previous call) skips the p already done; ``save(state)`` is called after each p."""
    n, L = xs.shape[0], xs.shape[-1]
    names = list(nets) + [f"exact r={r}" for r in exact_radii]
    if state is None:
        state = {k: np.full((len(ps), n), np.nan) for k in names}
        state["done"] = np.zeros(len(ps), bool)
    u = np.random.default_rng(SEEDS["exact_noise"]).random(xs.shape)
    ii, jj = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    sites = (np.repeat(np.arange(n), L * L), np.tile(ii.ravel(), n), np.tile(jj.ravel(), n))
    for k, q in enumerate(ps):
        if state["done"][k]:
            continue
        t0 = time.perf_counter()
        y = xs ^ (u < q).astype(np.uint8)
        px_g = global_px1_all(float(q), y)  # (n, 2, L, L)
        for name, net in nets.items():
            state[name][k] = net_excess(net, y, px_g, float(q), process)
        gaps = local_gaps(float(q), y, at_sites(px_g, sites), sites, exact_radii)
        for r, row in zip(exact_radii, gaps, strict=True):
            state[f"exact r={r}"][k] = row
        state["done"][k] = True
        if save is not None:
            save(state)
        print(
            f"p = {q:.3f}: "
            + "  ".join(f"{nm} {np.mean(state[nm][k]):.4f}" for nm in names)
            + f"  [{time.perf_counter() - t0:.1f} s]",
            flush=True,
        )
    return state


def analyse(ps, state: dict, n_boot: int) -> dict:
    p = np.asarray(ps, float)
    out = {}
    for k, (name, a) in enumerate((nm, v) for nm, v in state.items() if nm != "done"):
        n = a.shape[1]
        out[name] = dict(
            mean=a.mean(axis=1).tolist(),
            stderr=(a.std(axis=1, ddof=1) / math.sqrt(n)).tolist(),
            peak=peaks_with_bootstrap(p, a, np.zeros_like(a), n_boot, SEEDS["bootstrap"] + 70 + k),
        )
    return out


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 4.6))
    p = np.array(res["p"])
    nets = [k for k in res["curves"] if not k.startswith("exact")]
    cmap = plt.get_cmap("viridis")
    for i, name in enumerate(nets):
        c = res["curves"][name]
        col = cmap(i / max(1, len(nets) - 1))
        ax[0].errorbar(p, c["mean"], c["stderr"], color=col, marker="o", ms=3, capsize=2,
                       label=f"network {name}")  # fmt: skip
    for name, ls in (("exact r=1", "--"), ("exact r=2", ":")):
        if name in res["curves"]:
            c = res["curves"][name]
            ax[0].plot(p, c["mean"], "k" + ls, lw=1, label=f"{name} (Bayes)")
    ax[0].axvline(P_C, color="r", lw=0.8, ls="--", label="p_c = 0.1092")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("bit-flip probability p")
    ax[0].set_ylabel("excess over the exact global denoiser (nats/edge)")
    ax[0].set_title(f"L = 16 networks on L = {res['L']} ({res['n_samples']} samples)")
    ax[0].legend(fontsize=7, ncol=2, loc="lower center")

    def draw(series, label, marker, color, dx):
        rr = [r for r, v, _ in series if v is not None]
        ax[1].errorbar(
            np.array(rr) + dx,
            [v for _, v, _ in series if v is not None],
            [e or 0 for _, v, e in series if v is not None],
            fmt=marker, color=color, capsize=3, label=label,
        )  # fmt: skip

    draw(res["peaks_networks"], f"networks, L = {res['L']}", "o", "C0", -0.1)
    if res.get("peaks_exact_same_L"):
        draw(res["peaks_exact_same_L"], f"exact Bayes, L = {res['L']}", "s", "k", 0.1)
    if res.get("peaks_networks_L16"):
        draw(res["peaks_networks_L16"], "networks, L = 16 (run.py)", "^", "C1", 0.0)
    ax[1].axhline(P_C, color="r", lw=0.8, ls="--", label="p_c = 0.1092")
    ax[1].set_xlabel("radius r")
    ax[1].set_ylabel("p at the peak of the excess")
    ax[1].set_title("peak of the local denoiser's excess, against r")
    ax[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(out: Path) -> dict:
    """Collect every ``transfer_gap_L*.json`` in ``out``: the peaks per L and r (networks, and the
    exact r = 1, 2 gaps on the same samples), drawn in ``transfer_gap_summary.png`` (peak against
    r per L, with the exact_gap.py peaks; peak against 1/L per r). Returns the table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(
        (json.loads(f.read_text()) for f in out.glob("transfer_gap_L*.json")), key=lambda d: d["L"]
    )
    if not runs:
        raise FileNotFoundError(f"no transfer_gap_L*.json in {out}")
    table = {
        d["L"]: {
            k: [c["peak"]["p_peak"], c["peak"]["p_peak_stderr"]] for k, c in d["curves"].items()
        }
        for d in runs
    }
    fig, ax = plt.subplots(1, 2, figsize=(13.5, 5.4))
    for i, d in enumerate(runs):
        col = plt.get_cmap("plasma")(i / max(1, len(runs)))
        rr = sorted(int(k[2:]) for k in d["curves"] if k.startswith("r="))
        v = [table[d["L"]][f"r={r}"] for r in rr]
        ax[0].errorbar(
            np.array(rr) - 0.15 + 0.1 * i,
            [a for a, _ in v],
            [e for _, e in v],
            fmt="o-",
            color=col,
            ms=4,
            capsize=2,
            label=f"networks, L = {d['L']}",
        )
        if d.get("peaks_exact_same_L"):
            ex = [(r, v_, e) for r, v_, e in d["peaks_exact_same_L"] if v_ is not None]
            ax[0].errorbar(
                [r + 0.3 for r, _, _ in ex],
                [v_ for _, v_, _ in ex],
                [e for *_, e in ex],
                fmt="s",
                mfc="none",
                color=col,
                ms=5,
                capsize=2,
                label=f"exact Bayes, L = {d['L']} (exact_gap.py)",
            )
    ax[0].axhline(P_C, color="r", lw=0.8, ls="--", label="p_c = 0.1092")
    ax[0].set_xlabel("radius r")
    ax[0].set_ylabel("p at the peak of the excess over the exact global")
    ax[0].set_title("trained L = 16 local networks on larger tori")
    ax[0].legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    inv = np.array([1.0 / d["L"] for d in runs])
    for k, (name, fmt) in enumerate(
        (("r=6", "o-"), ("r=2", "s-"), ("exact r=2", "s--"), ("exact r=1", "^--"), ("r=1", "^-"))
    ):
        v = [table[d["L"]].get(name) for d in runs]
        if all(x is not None and x[0] is not None for x in v):
            ax[1].errorbar(
                inv,
                [a for a, _ in v],
                [e for _, e in v],
                fmt=fmt,
                color=f"C{k}",
                capsize=2,
                label=name if name.startswith("exact") else f"network {name}",
            )
    ax[1].axhline(P_C, color="r", lw=0.8, ls="--", label="p_c = 0.1092")
    ax[1].set_xlabel("1 / L")
    ax[1].set_ylabel("p at the peak")
    ax[1].set_title("the peak against the torus size (same networks)")
    ax[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(out / "transfer_gap_summary.png", dpi=120)
    plt.close(fig)
    res = {"exact_p_c": P_C, "peaks": {str(L): v for L, v in table.items()}}
    tmp = out / "transfer_gap_summary.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out / "transfer_gap_summary.json")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", default="full-parity-gn", choices=sorted(PLANS))
    ap.add_argument("--steps", type=int, default=16000)
    ap.add_argument("--models-dir", required=True, help="where run.py put the trained weights")
    ap.add_argument("--trained-on", default="cpu")
    ap.add_argument("--L", type=int, default=32)
    ap.add_argument("--n", type=int, default=96, help="exact clean samples")
    ap.add_argument("--p", type=float, nargs="+", default=P_GRID)
    ap.add_argument("--n-boot", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument(
        "--summary", action="store_true", help="only collect the runs in --out into a summary"
    )
    a = ap.parse_args(argv)
    if a.summary:
        try:
            res = summary(a.out)
        except FileNotFoundError as e:
            ap.error(str(e))
        for L, v in res["peaks"].items():
            print(
                f"L = {L}: " + "  ".join(f"{k} {p:.4f}({1e4 * e:.0f})" for k, (p, e) in v.items())
            )
        return 0
    plan = with_steps(PLANS[a.plan], a.steps)
    r_max = max(plan["radii"])
    if a.L < 2 * r_max + 2:
        ap.error(f"--L must be >= {2 * r_max + 2} (the radius-{r_max} window must fit), got {a.L}")
    if a.n < 4:
        ap.error(f"--n must be >= 4 (errors from the spread over samples), got {a.n}")
    if any(not 0.0 < q < 0.5 for q in a.p) or sorted(a.p) != a.p or len(a.p) < 5:
        ap.error(f"--p must be >= 5 increasing values in (0, 0.5), got {a.p}")
    cache = weights_cache(plan, a.models_dir, a.trained_on)
    if not all((cache / f"r={r}.pt").exists() for r in plan["radii"]):
        ap.error(f"no trained local networks of plan {a.plan} ({a.steps} steps) in {cache}")
    import torch

    import latticediff as ld
    from latticediff.noise import BitFlip

    torch.set_num_threads(a.threads)
    models = build_models(plan)
    load_weights(models, cache, "cpu")
    nets = {f"r={r}": models[f"r={r}"] for r in plan["radii"]}
    xs = ld.sample(ld.LoopGas(L=a.L, x=1.0), n_samples=a.n, seed=SEEDS["exact_data"] + a.L)
    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"transfer_gap_L{a.L}"
    npz = stem.with_suffix(".npz")
    state = None
    if a.resume and npz.exists():
        z = np.load(npz)
        if list(z["p"]) != list(a.p) or z["done"].shape != (len(a.p),):
            ap.error(f"--resume: {npz} was made with another --p grid")
        state = {k: z[k] for k in z.files if k != "p"}

    def save(st):
        tmp = stem.with_suffix(".tmp.npz")
        np.savez(tmp, p=np.asarray(a.p), **st)
        os.replace(tmp, npz)

    t0 = time.perf_counter()
    state = measure(nets, xs, a.p, BitFlip(gamma=GAMMA), state=state, save=save)
    curves = analyse(a.p, state, a.n_boot)
    res = dict(
        plan_name=a.plan,
        train_steps=a.steps,
        weights=str(cache.name),
        L=a.L,
        n_samples=a.n,
        p=list(a.p),
        exact_p_c=P_C,
        units="nats per edge",
        curves=curves,
        peaks_networks=[
            (r, curves[f"r={r}"]["peak"]["p_peak"], curves[f"r={r}"]["peak"]["p_peak_stderr"])
            for r in plan["radii"]
        ],
        wall_s_this_call=time.perf_counter() - t0,  # a --resume call counts only its own p
    )
    for exact_file in sorted((HERE / "out").glob("exact_gap*.json")):  # exact_gap.py's outputs
        ex = json.loads(exact_file.read_text())
        if ex.get("plan", {}).get("L") == a.L:
            res["peaks_exact_same_L"] = [
                (d["r"], d["p_peak"], d["p_peak_stderr"]) for d in ex["peaks"]
            ]
            res["peaks_exact_source"] = str(exact_file.relative_to(REPO))
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, stem.with_suffix(".json"))
    figure(res, stem.with_suffix(".png"))
    for r, v, e in res["peaks_networks"]:
        print(f"network r = {r}: excess peaks at p = {v} +- {e}")
    print(f"wrote {stem.with_suffix('.json')} and .png ({res['wall_s_this_call']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
