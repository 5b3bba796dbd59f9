"""Loop gas: where along the reverse path do the hybrid sampler's extra vertex defects appear?

The profiler's hybrid (local outside its window, global inside) leaves more vertex defects than
the all-global sampler built from the same networks (README, "loop gas"). Two questions separate
the candidate causes:

1. *Which part of the schedule is responsible?* Besides all-global and the profiler's hybrid,
   two half-hybrids use the same networks: global down to the end of the window, then the
   profiler's local tail ("global head, local tail"), and the profiler's local head down to the
   start of the window, then global to the end ("local head, global tail").
2. *When does each chain leave the noisy data distribution?* At reverse time s the exact
   marginal of x_s is the clean loop gas with i.i.d. bit flips at p(s); since clean samples have
   no defects and a vertex is odd iff an odd number of its four edges flipped, the exact defect
   density is ``rho(p) = (1 - (1 - 2p)^4) / 2``. Every chain's measured density minus rho(p(s))
   (the excess) is recorded after every step (``sample_discrete``'s ``callback``).

The networks are those of ``run.py --only loopgas --local-features vertex_parity
--global-features vertex_parity --steps 4000`` (same data seed, same training; their final
losses are checked against that run's ``loopgas_results.json``), and the window is that run's
profile (read back, not re-estimated).

    python analysis/profiler/defect_trajectory.py --models-dir /tmp/dt_models  # 16-80 min
    python analysis/profiler/defect_trajectory.py --quick --out /tmp/dt   # smoke, ~1 min

A third question follows from the first two: does a short global stage at the very end
(``--global-end``: the profiler's hybrid with the global network for every p below a few small
values) recover the all-global quality?

Writes ``OUT/defect_trajectory.json`` and ``OUT/defect_trajectory.png``; also, for the final
samples, the distance from each defect to its nearest other defect (torus Manhattan distance),
which says whether the leftovers are adjacent pairs (one missing edge flip) or far apart.
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
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from run import P_C, _diff, _dump, _threads, _train, loopgas_data  # noqa: E402


def exact_defect_density(p):
    """Defects per vertex of the bit-flipped loop gas: an odd number of 4 flipped edges."""
    return (1.0 - (1.0 - 2.0 * np.asarray(p, dtype=float)) ** 4) / 2.0


def nearest_defect_distances(b: np.ndarray) -> np.ndarray:
    """Torus Manhattan distance from every defect to its nearest other defect, all samples
    pooled (a sample with a single defect cannot occur: defects come in even numbers)."""
    import latticediff as ld

    par = ld.LoopGas.vertex_parity(b)
    L = par.shape[-1]
    out = []
    for s in par:
        ij = np.argwhere(s)
        if len(ij) < 2:
            continue
        d = np.abs(ij[:, None, :] - ij[None, :, :])
        d = np.minimum(d, L - d).sum(axis=-1)
        np.fill_diagonal(d, 10 * L)
        out.append(d.min(axis=1))
    return np.concatenate(out) if out else np.zeros(0, dtype=int)


def _merged(segs):
    """A HybridSchedule from (t_lo, t_hi, model, name) pieces, neighbours of one model joined."""
    from latticediff.nn.sampling import HybridSchedule

    merged = []
    for lo, hi, m, name in sorted(segs, key=lambda z: z[0]):
        if merged and merged[-1][2] is m:
            merged[-1] = (merged[-1][0], hi, m, name)
        else:
            merged.append((lo, hi, m, name))
    return HybridSchedule(merged)


def _split(hybrid, glob, w_lo: float, w_hi: float, keep: str):
    """The hybrid with global everywhere above the window's end (``keep="tail"``) or below its
    start (``keep="head"``); the profiler's local segments stay on the other side."""

    segs = []
    for s in hybrid.segments:
        local = s.name != "global"
        if keep == "tail" and local and s.t_lo >= w_hi * (1 - 1e-12):
            local = False
        if keep == "head" and local and s.t_hi <= w_lo * (1 + 1e-12):
            local = False
        segs.append((s.t_lo, s.t_hi, s.model if local else glob, s.name if local else "global"))
    return _merged(segs)


def _global_end(hybrid, glob, t_end: float):
    """The hybrid with the global network for every ``t <= t_end`` (a final clean-up stage)."""

    segs = []
    for s in hybrid.segments:
        if s.t_hi <= t_end:
            segs.append((s.t_lo, s.t_hi, glob, "global"))
        elif s.t_lo < t_end:
            segs += [(s.t_lo, t_end, glob, "global"), (t_end, s.t_hi, s.model, s.name)]
        else:
            segs.append((s.t_lo, s.t_hi, s.model, s.name))
    return _merged(segs)


def _trained(models: dict, cache: Path | None, tag: str, train) -> dict:
    """``(training record, models)``: ``models`` trained by ``train()``, or, when ``cache``
    holds this ``tag``, the saved ones (the package's model folders, ``load_model``)."""
    from latticediff.nn import load_model, save_model

    manifest = cache / f"{tag}.json" if cache else None
    if manifest is not None and manifest.is_file():
        folders = json.loads(manifest.read_text())
        print(f"models loaded from {cache} ({tag})")
        loaded = {name: load_model(folders[name]) for name in models}
        return json.loads((cache / f"{tag}.training.json").read_text()), loaded
    training = train()
    if manifest is not None:
        cache.mkdir(parents=True, exist_ok=True)
        folders = {}
        for name, m in models.items():
            cfg = {"name": f"{tag}-{name.replace(' ', '').replace('=', '')}", "tag": tag}
            card = f"Loop-gas denoiser '{name}' of analysis/profiler/defect_trajectory.py ({tag})."
            folders[name] = str(save_model(m, cache, cfg, card))
        (cache / f"{tag}.training.json").write_text(json.dumps(training, indent=1))
        manifest.write_text(json.dumps(folders, indent=1))
    return training, models


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=4000, help="training steps per network")
    ap.add_argument("--n", type=int, default=256, help="samples per schedule")
    ap.add_argument("--k", type=int, default=240, help="reverse steps")
    ap.add_argument(
        "--run-dir",
        default=str(HERE / "out" / "parity_local_4000"),
        help="the profiler run whose profile (and training record) is used",
    )
    ap.add_argument("--out", default=None, help="default: RUN_DIR")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models-dir", default=None, help="cache of the trained weights")
    ap.add_argument(
        "--global-end",
        type=float,
        nargs="*",
        default=[0.005, 0.01, 0.02],
        help="also sample the hybrid with the global network for every p below these values",
    )
    args = ap.parse_args(argv)
    _threads(1)
    import latticediff as ld
    from latticediff.nn.sampling import HybridSchedule, sample_discrete
    from latticediff.profiler import LocalityProfile, profile_locality
    from latticediff.quality import loopgas_quality

    run_dir = Path(args.run_dir)
    out = Path(args.out) if args.out else run_dir
    out.mkdir(parents=True, exist_ok=True)
    seed = args.seed
    t0 = time.perf_counter()
    # the data of run.py's run_loopgas, same seed (bitwise the same samples)
    m, x, n_train = loopgas_data(args.quick, seed)
    L, ref = m.L, x[n_train:]
    prof = run_dir / "loopgas_profile.json"
    if args.quick:  # a tiny profile of its own
        h5 = out / "loopgas.h5"
        ld.write_samples(h5, x[:n_train], model=m, name="train", overwrite=True)
        rep = profile_locality(
            h5,
            path="bitflip",
            p=[0.03, 0.07, 0.11, 0.15, 0.19],
            radii=[1, 2],
            estimator_options={"n_samples": 16, "n_threads": 1},
            eps=0.05,
            r_max=2,
            n_steps=40,
            local_kwargs={"hidden": 32, "depth": 3, "spatial_layers": 2},
            global_kwargs={"hidden": 32, "levels": 2},
            seed=seed,
        )
    else:
        if not prof.is_file():
            print(
                f"error: no profile at {prof} (run analysis/profiler/run.py first)", file=sys.stderr
            )
            return 2
        rep = LocalityProfile.from_json(prof)
    feat = {"input_features": "vertex_parity"}
    loc, glob = rep.default_models(seed=seed, global_extra=feat, local_extra=feat)
    proc = rep.process_object()
    steps = 100 if args.quick else args.steps
    models = {f"local r={r}": mm for r, mm in loc.items()} | {"global": glob}
    tag = f"loopgas-L{L}-parity-s{steps}-seed{seed}"
    cache = Path(args.models_dir) if args.models_dir else None
    training, models = _trained(
        models, cache, tag, lambda: _train(models, x[:n_train], proc, steps, seed, 2e-3, 32)
    )
    loc, glob = {r: models[f"local r={r}"] for r in loc}, models["global"]
    check = {}
    rec = run_dir / "loopgas_results.json"
    if not args.quick and rec.is_file():
        old = json.loads(rec.read_text())["training"]
        check = {
            k: {"this": training[k]["final_loss"], "run_dir": old[k]["final_loss"]}
            for k in training
            if k in old
        }
        print("final losses against the profiler run:", check)

    w_lo, w_hi = rep.window
    hybrid = rep.hybrid_schedule(loc, glob)
    rl = max(loc)
    runs = {
        "all-global": HybridSchedule.single(glob, math.inf),
        "hybrid (profiler)": hybrid,
        "global head, local tail": _split(hybrid, glob, w_lo, w_hi, "tail"),
        "local head, global tail": _split(hybrid, glob, w_lo, w_hi, "head"),
        f"all-local r={rl}": HybridSchedule.single(loc[rl], math.inf),
    }
    for pe in args.global_end:
        if not 0 < pe < 0.5:
            ap.error(f"--global-end values must lie in (0, 0.5), got {pe}")
        runs[f"hybrid + global for p < {pe:g}"] = _global_end(hybrid, glob, float(proc.t_of_p(pe)))
    n, k = (32, 40) if args.quick else (args.n, args.k)
    res = {}
    for name, sched in runs.items():
        traj = []

        def cb(step, s, xs, traj=traj):
            d = ld.LoopGas.vertex_parity(xs).mean(axis=(-1, -2))
            traj.append((float(s), float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))))

        t1 = time.perf_counter()
        xs, cr = sample_discrete(
            sched, proc, (L, L), n, n_steps=k, seed=seed + 2, dtype=np.uint8, callback=cb
        )
        q = loopgas_quality(xs, ref).to_dict()
        s_arr = np.array([z[0] for z in traj])
        p_arr = np.asarray(proc.p(s_arr), dtype=float)
        dist = nearest_defect_distances(xs)
        res[name] = {
            "schedule": repr(sched),
            "fraction_of_global": cr.fraction_of_global(glob),
            "defect_density": q["defect_density"],
            "defect_density_stderr": q["defect_density_stderr"],
            "defect_free_fraction": q["defect_free_fraction"],
            "trajectory": {
                "t": s_arr.tolist(),
                "p": p_arr.tolist(),
                "defect_density": [z[1] for z in traj],
                "defect_density_stderr": [z[2] for z in traj],
                "exact": exact_defect_density(p_arr).tolist(),
            },
            "nearest_defect_distance_counts": np.bincount(dist, minlength=L + 1)[: L + 1].tolist(),
            "wall_s": time.perf_counter() - t1,
        }
        print(
            f"  {name}: defects {q['defect_density']:.4f} ± {q['defect_density_stderr']:.4f}, "
            f"FLOPs {res[name]['fraction_of_global']:.3f} x, "
            f"{res[name]['wall_s']:.0f} s",
            flush=True,
        )
    g = res["all-global"]
    for name, r in res.items():
        if name != "all-global":
            r["minus_global"] = _diff(
                r["defect_density"],
                r["defect_density_stderr"],
                g["defect_density"],
                g["defect_density_stderr"],
            )
    doc = {
        "L": L,
        "n_samples": n,
        "n_steps": k,
        "sampling_seed": seed + 2,
        "window_t": [w_lo, w_hi],
        "window_p": [float(proc.p(w_lo)), float(proc.p(w_hi))],
        "profile": str(prof) if not args.quick else "quick (own)",
        "training": training,
        "training_check": check,
        "schedules": res,
        "wall_s": time.perf_counter() - t0,
    }
    _dump(out / "defect_trajectory.json", doc)
    plot(doc, out / "defect_trajectory.png")
    print(f"wrote {out / 'defect_trajectory.json'} and .png")
    return 0


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, r in doc["schedules"].items():
        tr = r["trajectory"]
        p = np.array(tr["p"])
        ex = np.array(tr["defect_density"]) - np.array(tr["exact"])
        se = np.array(tr["defect_density_stderr"])
        lab = f"{name}: {r['defect_density']:.4f} ± {r['defect_density_stderr']:.4f}"
        (ln,) = a1.plot(p, ex, lw=1.3, label=lab)
        a1.fill_between(p, ex - se, ex + se, color=ln.get_color(), alpha=0.25, lw=0)
        c = np.array(r["nearest_defect_distance_counts"], dtype=float)
        if c.sum() > 0:
            a2.plot(np.arange(len(c)), c / doc["n_samples"], "o-", color=ln.get_color(), ms=3)
    a1.axvspan(*doc["window_p"], color="0.85", zorder=0, label="profiler's global window")
    a1.axvline(P_C, color="k", ls=":", lw=1, label=f"p_c = {P_C}")
    a1.axhline(0, color="k", lw=0.6)
    a1.set_xscale("symlog", linthresh=0.01)
    a1.set_xlim(0.5, 0)
    a1.set_xlabel("bit-flip probability p of the reverse-time state (reverse time runs right)")
    a1.set_ylabel("defects / vertex  minus  exact (1 - (1-2p)^4) / 2")
    a1.legend(fontsize=7, loc="upper left")
    a1.set_title(
        f"L = {doc['L']}, {doc['n_samples']} samples, {doc['n_steps']} steps (±1 s.e.)", fontsize=9
    )
    a2.set_xlabel("distance to the nearest other defect (torus Manhattan)")
    a2.set_ylabel("defects per sample")
    a2.set_title("final samples: how far apart the leftover defects are", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
