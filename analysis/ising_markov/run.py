"""2D Ising along the bit-flip path: Markov length above Tc, the speciation window below Tc,
and the clean-data check that the CMI vanishes for r >= 1 (issue 4).

Data: ``ld.run_mc(ld.Ising(L, T))`` (Wolff near/below Tc, thinning from tau_int), generated at
the start of the run and cached as .npy; the clean uniform loop gas ``ld.LoopGas(L, x=1)``
(exact i.i.d. sampler). Noise: bit flips ``p(t) = (1 - exp(-2 gamma t)) / 2``, gamma = 1, with
*coupled* noise along the path: one uniform u per site and sample, a spin is flipped at time t
iff ``u < p(t)`` (every marginal is exact; neighbouring t share most of their noise, which makes
I(t) smooth in t). The CMI is that of the noisy data, ``I(y_A : y_C | y_B)`` (A one site, B the
L-infinity shell ``0 < d <= r``, C the window ``r < d <= far_radius``), nats, from
:func:`latticediff.info.neural.neural_cmi_profile` (ring reader, one shared network for all
radii, held-out paired cross-entropy, bootstrap over held-out samples).

Sections:

- ``clean``: Ising T = 1.5, 2.269, 3.5 and the loop gas at p = 0, r = 1..3. Nearest-neighbour
  Gibbs states are Markov networks: I = 0 exactly for r >= 1. Check: |I| < 3 sigma and
  sigma <= 0.002 nats.
- ``above`` (T = 3.0): I(r), r = 1..4, far_radius 8 (the same geometry for every L) along the
  path for L = 16, 32, 64; xi(t) from ``fit_markov_length`` (its default window rule). Claim to
  test: I(r, t) and xi(t) do not grow with L.
- ``below`` (T = 2.0): I(r), r = 1..3, with the far predictor seeing the whole lattice
  (far_radius = L // 2), for L = 16, 32, 64.

**Rule for t_nl (below Tc).** The non-local part of the CMI is the information y_A carries
about the global sign s (which the far region knows and the shell does not). For weak signal
each site carries mu^2 / 2 nats about s, mu = (1 - 2p) m, so
``I(r, t) ~ (1 - 2p)^2 m^2 / 2 * f(N mu^2)`` once the shell has lost the sign
(|B| mu^2 << 1), with f -> 1 while the whole lattice still knows s (N mu^2 >> 1) and f -> 0
after. The raw I(r, t) therefore decays like (1 - 2p)^2 long before the speciation time (its
late half-peak point is set by |B|, not by L; reported as ``t_half_raw``, for contrast), so the
rule is applied to the *normalised* CMI ``J(t) = I(r, t) / (1 - 2p(t))^2``:

    t_nl = the first grid time after the maximum of J where J falls below max(J) / 2,
           linearly interpolated between the two bracketing grid points (r = 1).

Errors: parametric bootstrap (each J(t) redrawn from N(J, sigma_J), independently across t;
the coupled noise makes neighbouring points positively correlated, so this is conservative for
differences), 1000 replicates; t_nl_stderr is their standard deviation. The slope
d(gamma t_nl)/d ln L is a weighted least-squares fit over L with bootstrap errors.

**Prediction (speciation).** In the Gaussian weak-signal model f(lambda) =
E tanh^2(lambda + sqrt(lambda) z), lambda = N mu^2, z ~ N(0,1); f = 1/2 at lambda* = 0.851
(computed below), so gamma t_s = ln(L m) / 2 - ln(lambda*) / 4 with Yang's m(T): slope 1/2 in
ln L. (Finite-L magnetisation and the connected susceptibility shift the offset, not the slope.)

Usage::

    python analysis/ising_markov/run.py --quick                       # CPU smoke, < 3 min
    python analysis/ising_markov/run.py --device cuda --workers 8     # full plan, one H100
    python analysis/ising_markov/run.py --replot                      # figures from out/

Results are appended per point to ``OUT/points.jsonl`` (a rerun skips finished points, so an
interrupted run resumes); ``OUT/results.json`` and the PNGs are rebuilt from it at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GAMMA = 1.0
TC = 2.0 / math.log(1.0 + math.sqrt(2.0))

PLANS = {
    "full": {
        "clean": {
            "ising": {"Ts": [1.5, 2.269, 3.5], "L": 32, "n": 4000},
            "loopgas": {"L": 16, "n": 12000},
            "radii": [1, 2, 3],
            "far_radius": 6,
        },
        "above": {
            "T": 3.0,
            "Ls": [16, 32, 64],
            "n_sites": 1 << 22,
            "radii": [1, 2, 3, 4],
            "far_radius": 8,
            "gamma_t": [0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0],
        },
        "below": {
            "T": 2.0,
            "Ls": [16, 32, 64],
            "n": 4000,
            "radii": [1, 2, 3],
            "gamma_t": [round(0.2 * k, 3) for k in range(1, 16)],
        },
        "nn": {"hidden": 32, "depth": 2, "steps": 2000, "batch_sites": 8192},
    },
    "quick": {
        "clean": {
            "ising": {"Ts": [2.269], "L": 16, "n": 600},
            "loopgas": None,
            "radii": [1, 2],
            "far_radius": 4,
        },
        "above": {
            "T": 3.0,
            "Ls": [16],
            "n_sites": 1 << 17,
            "radii": [1, 2, 3],
            "far_radius": 5,
            "gamma_t": [0.1, 0.3],
        },
        "below": {"T": 2.0, "Ls": [16], "n": 600, "radii": [1, 2], "gamma_t": [0.6, 1.4, 2.2]},
        "nn": {"hidden": 16, "depth": 2, "steps": 200, "batch_sites": 2048},
    },
}


# ---------------------------------------------------------------------------------------------
# tasks


def _key(task: dict) -> str:
    return hashlib.sha256(json.dumps(task, sort_keys=True).encode()).hexdigest()[:16]


def make_tasks(
    plan: dict,
    seed: int,
    ring_sums_beyond: int | None = None,
    far_pool: str = "rings",
    null_correction: bool = False,
) -> list[dict]:
    """Every point of the plan; ``ring_sums_beyond`` and a non-default ``far_pool`` (below Tc
    only) and ``null_correction`` (every point) are part of a point's key only when set, so
    points of earlier runs keep their keys."""
    nn = plan["nn"]
    nc = {"null_correction": True} if null_correction else {}
    rsb = {} if ring_sums_beyond is None else {"ring_sums_beyond": int(ring_sums_beyond)}
    if far_pool != "rings":
        rsb["far_pool"] = far_pool
    tasks = []
    c = plan["clean"]
    for T in c["ising"]["Ts"]:
        tasks.append(
            {
                "section": "clean",
                "model": "ising",
                "T": T,
                "L": c["ising"]["L"],
                "n": c["ising"]["n"],
                "gamma_t": 0.0,
                "radii": c["radii"],
                "far_radius": c["far_radius"],
                "nn": nn,
                "seed": seed,
                **nc,
            }
        )
    if c["loopgas"]:
        tasks.append(
            {
                "section": "clean",
                "model": "loopgas",
                "T": None,
                "L": c["loopgas"]["L"],
                "n": c["loopgas"]["n"],
                "gamma_t": 0.0,
                "radii": c["radii"],
                "far_radius": c["far_radius"],
                "nn": nn,
                "seed": seed,
                **nc,
            }
        )
    a, b = plan["above"], plan["below"]
    noisy = []
    for L in a["Ls"]:
        n = max(200, a["n_sites"] // (L * L))
        for gt in a["gamma_t"]:
            noisy.append(
                {
                    "section": "above",
                    "model": "ising",
                    "T": a["T"],
                    "L": L,
                    "n": n,
                    "gamma_t": gt,
                    "radii": a["radii"],
                    "far_radius": a["far_radius"],
                    "nn": nn,
                    "seed": seed,
                    **nc,
                }
            )
    for L in b["Ls"]:
        for gt in b["gamma_t"]:
            noisy.append(
                {
                    "section": "below",
                    "model": "ising",
                    "T": b["T"],
                    "L": L,
                    "n": b["n"],
                    "gamma_t": gt,
                    "radii": b["radii"],
                    "far_radius": L // 2,
                    "nn": nn,
                    "seed": seed,
                    **rsb,
                    **nc,
                }
            )
    # most expensive first (window size x sites), so a pool finishes evenly
    noisy.sort(key=lambda k: -((2 * k["far_radius"] + 1) ** 2) * min(k["n"], 3000))
    return tasks + noisy


def _data_name(task: dict) -> str:
    if task["model"] == "loopgas":
        return f"loopgas_L{task['L']}_n{task['n']}_s{task['seed']}.npy"
    return f"ising_T{task['T']}_L{task['L']}_n{task['n']}_s{task['seed']}.npy"


def generate_data(tasks: list[dict], cache: Path, threads: int) -> dict:
    """Monte Carlo for every (model, T, L, n) the tasks need; cached .npy; returns timings."""
    import latticediff as ld

    cache.mkdir(parents=True, exist_ok=True)
    info = {}
    seen = {}
    for t in tasks:
        seen[_data_name(t)] = t
    for name, t in seen.items():
        path = cache / name
        if path.exists():
            continue
        t0 = time.perf_counter()
        if t["model"] == "loopgas":
            model = ld.LoopGas(L=t["L"], x=1.0)
        else:
            model = ld.Ising(L=t["L"], T=t["T"])
        res = ld.run_mc(
            model,
            n_samples=t["n"],
            seed=int(t["seed"]) + 17 * t["L"],
            n_chains=max(4, threads),
            n_threads=threads,
            warn=False,
        )
        x = res.samples
        # random global flips: exact symmetry of the Gibbs state, removes any chain-sign memory
        if t["model"] == "ising":
            rng = np.random.default_rng([int(t["seed"]), t["L"], 99])
            x = (x * rng.choice(np.array([-1, 1], np.int8), size=(len(x), 1, 1))).astype(np.int8)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, x)
        os.replace(tmp, path)
        info[name] = {
            "wall_s": time.perf_counter() - t0,
            "method": res.method,
            "thin": res.thin,
            "tau_int_energy": float(res.tau_int["energy"].tau)
            if hasattr(res.tau_int["energy"], "tau")
            else None,
        }
        print(
            f"[mc] {name}: {info[name]['wall_s']:.1f} s ({res.method}, thin {res.thin})", flush=True
        )
    return info


def noisy_samples(x: np.ndarray, task: dict) -> tuple[np.ndarray, float]:
    """Coupled bit flips: one uniform per site (fixed per data set), flip iff u < p(t)."""
    import latticediff as ld

    p = float(ld.BitFlip(gamma=GAMMA).p(task["gamma_t"] / GAMMA))
    if p == 0.0:
        return x, 0.0
    rng = np.random.default_rng(
        [int(task["seed"]), int(task["L"]), 4242, int(round(1000 * (task["T"] or 0)))]
    )
    u = rng.random(x.shape, dtype=np.float32)
    if x.dtype == np.int8:
        return np.where(u < p, -x, x).astype(np.int8), p
    return (x ^ (u < p).astype(np.uint8)).astype(np.uint8), p


def run_point(task: dict, cache: str, device: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from latticediff.info.neural import neural_cmi_profile, null_parts

    t0 = time.perf_counter()
    x = np.load(Path(cache) / _data_name(task))
    y, p = noisy_samples(x, task)
    nn = task["nn"]
    es = neural_cmi_profile(
        y,
        radii=task["radii"],
        far_radius=task["far_radius"],
        hidden=nn["hidden"],
        depth=nn["depth"],
        steps=nn["steps"],
        batch_sites=nn["batch_sites"],
        seed=int(task["seed"]),
        device=device,
        ring_sums_beyond=task.get("ring_sums_beyond"),
        far_pool=task.get("far_pool", "rings"),
        null_correction=task.get("null_correction", False),
    )
    d = es[0].details
    null = {}
    if "null" in d:  # cmi is then the corrected value; the parts are kept beside it
        null = {k if k.startswith("shell") else f"cmi_{k}": v for k, v in null_parts(es).items()}
        if d["null"]["shell_retrained"] is None:  # shared=False: no shell predictor trained twice
            null = {k: v for k, v in null.items() if not k.startswith("shell")}
    return {
        "key": _key(task),
        "task": task,
        "p": p,
        "cmi": [e.value for e in es],
        "cmi_stderr": [e.stderr for e in es],
        "H_A_given_BC": d["H_A_given_BC"],
        "H_A_given_B": [e.details["H_A_given_B"] for e in es],
        "best_step": [e.details["best_step"] for e in es],
        "n_test_sites": d["n_test_sites"],
        "n_params": d["budget"]["n_params"],
        "train_wall_s": d["train_wall_s"],
        "wall_s": time.perf_counter() - t0,
        "device": device,
        **null,
    }


def _init_worker(threads: int):
    os.environ["NUMBA_NUM_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def run_all(
    tasks, out: Path, cache: Path, device: str, workers: int, threads: int, deadline: float | None
):
    path = out / "points.jsonl"
    done = set()
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                done.add(json.loads(line)["key"])
    todo = [t for t in tasks if _key(t) not in done]
    print(
        f"[run] {len(tasks)} points, {len(done)} done, {len(todo)} to do, {workers} worker(s)",
        flush=True,
    )

    def write(row):
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        t = row["task"]
        print(
            f"[pt] {t['section']:5s} T={t['T']} L={t['L']} gt={t['gamma_t']}: "
            f"I={[f'{v:.2e}' for v in row['cmi']]} se={[f'{v:.1e}' for v in row['cmi_stderr']]}"
            f" ({row['wall_s']:.1f} s)",
            flush=True,
        )

    if workers <= 1:
        for t in todo:
            if deadline and time.time() > deadline:
                print("[run] deadline reached; stopping (rerun to resume)", flush=True)
                break
            write(run_point(t, str(cache), device, threads))
        return
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pool = cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,)
    )
    futs = {pool.submit(run_point, t, str(cache), device, threads): t for t in todo}
    try:
        for f in cf.as_completed(
            futs, timeout=None if not deadline else max(1.0, deadline - time.time())
        ):
            try:
                write(f.result())
            except Exception as e:  # record and continue
                print(f"[err] {futs[f]}: {e!r}", flush=True)
        pool.shutdown(wait=True)
    except cf.TimeoutError:
        print("[run] deadline reached; stopping the workers (rerun to resume)", flush=True)
        procs = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:  # the workers this run started
            proc.terminate()


# ---------------------------------------------------------------------------------------------
# analysis


def weak_signal_f(lam: float) -> float:
    """f(lambda) = E tanh^2(lambda + sqrt(lambda) z), z ~ N(0, 1) (Gauss-Hermite quadrature).

    >>> weak_signal_f(0.0), round(weak_signal_f(50.0), 6)
    (0.0, 1.0)
    """
    z, w = np.polynomial.hermite_e.hermegauss(80)
    return float(np.sum(w / w.sum() * np.tanh(lam + np.sqrt(lam) * z) ** 2))


def lambda_star() -> float:
    """lambda with f(lambda) = 1/2.

    >>> round(lambda_star(), 3)
    0.851
    """
    from scipy.optimize import brentq

    return brentq(lambda lam: weak_signal_f(lam) - 0.5, 1e-3, 20.0)


def half_crossing(t, J, start=None):
    """First t after argmax(J) where J < max(J)/2 (linear interpolation); nan if none."""
    i0 = int(np.nanargmax(J)) if start is None else start
    half = J[i0] / 2.0
    for i in range(i0 + 1, len(J)):
        if J[i] < half:
            a, b = J[i - 1], J[i]
            return float(t[i - 1] + (half - a) / (b - a) * (t[i] - t[i - 1]))
    return math.nan


def _wls(x, y, s):
    w = 1.0 / np.asarray(s) ** 2
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = cov @ X.T @ (w * y)
    return beta, cov


def combine_clean(points: list[dict]) -> list[dict]:
    """Clean points of several seeds (``--seed``: new Monte Carlo data, noise and network
    initialisation, so the runs are independent replicates), combined per data set and r.

    The bootstrap stderr of one run is evaluation noise only; the spread over replicates adds
    the training error. The error of the mean is ``sqrt((rms_boot^2 + sd^2) / n)`` (both
    terms count the evaluation noise once more: conservative). Data sets with one seed are
    left out. The check is the issue's: ``|mean| < 3 sigma`` and ``sigma <= 0.002`` nats.

    >>> a = {"model": "ising", "T": 1.5, "L": 8, "seed": 0, "radii": [1],
    ...      "cmi": [3e-5], "cmi_stderr": [1e-5]}
    >>> c = combine_clean([a, dict(a, seed=1, cmi=[-1e-5])])[0]["checks"][0]
    >>> round(c["mean"], 7), round(c["stderr_of_mean"], 7), c["within_3_sigma"]
    (1e-05, 2.12e-05, True)
    """
    groups = {}
    for c in points:
        groups.setdefault((c["model"], c["T"], c["L"]), []).append(c)
    out = []
    for (model, T, L), cs in groups.items():
        cs = sorted(cs, key=lambda c: c["seed"])
        if len(cs) < 2:
            continue
        checks = []
        for j, rad in enumerate(cs[0]["radii"]):
            v = np.array([c["cmi"][j] for c in cs])
            b = np.array([c["cmi_stderr"][j] for c in cs])
            sd = float(v.std(ddof=1))
            rms_b = float(np.sqrt(np.mean(b**2)))
            se = math.sqrt((rms_b**2 + sd**2) / len(v))
            checks.append(
                {
                    "r": rad,
                    "values": v.tolist(),
                    "bootstrap_stderr": b.tolist(),
                    "mean": float(v.mean()),
                    "sd_over_seeds": sd,
                    "sd_over_rms_bootstrap": sd / rms_b if rms_b > 0 else math.nan,
                    "stderr_of_mean": se,
                    "z": float(v.mean()) / se,
                    "within_3_sigma": bool(abs(v.mean()) < 3 * se),
                    "sigma_le_0.002": se <= 0.002,
                }
            )
        out.append(
            {
                "model": model,
                "T": T,
                "L": L,
                "seeds": [c["seed"] for c in cs],
                "checks": checks,
                "pass": all(k["within_3_sigma"] and k["sigma_le_0.002"] for k in checks),
            }
        )
    return out


def analyse(rows: list[dict], plan_name: str) -> dict:
    from latticediff.exact import ising_magnetization
    from latticediff.info.markov import fit_markov_length

    res = {"plan": plan_name, "gamma": GAMMA, "Tc": TC, "clean": [], "above": {}, "below": {}}
    for r in rows:
        t = r["task"]
        if t["section"] != "clean":
            continue
        checks = [
            {
                "r": rad,
                "cmi": v,
                "stderr": s,
                "z": v / s,
                "within_3_sigma": abs(v) < 3 * s,
                "sigma_le_0.002": s <= 0.002,
            }
            for rad, v, s in zip(t["radii"], r["cmi"], r["cmi_stderr"], strict=True)
        ]
        res["clean"].append(
            {
                "model": t["model"],
                "T": t["T"],
                "seed": t["seed"],
                "L": t["L"],
                "n": t["n"],
                "far_radius": t["far_radius"],
                "radii": t["radii"],
                "cmi": r["cmi"],
                "cmi_stderr": r["cmi_stderr"],
                "checks": checks,
                "pass": all(c["within_3_sigma"] and c["sigma_le_0.002"] for c in checks),
                # 0 <= I(A:C|B) <= H(A|B) <= E[held-out CE of the shell predictor]: a bound
                # that needs no subtraction (tight where A is fixed by B, as in the loop gas)
                "upper_bound_H_A_given_B": r["H_A_given_B"],
                "wall_s": r["wall_s"],
                **{
                    k: v
                    for k, v in r.items()
                    if k.startswith(("cmi_", "shell_retrain")) and k != "cmi_stderr"
                },
            }
        )
    res["clean_combined"] = combine_clean(res["clean"])
    lam = lambda_star()
    for sec in ("above", "below"):
        groups = {}
        for r in rows:
            if r["task"]["section"] == sec:
                groups.setdefault(r["task"]["L"], []).append(r)
        seeds = sorted({r["task"]["seed"] for rs in groups.values() for r in rs})
        if len(seeds) > 1:
            raise SystemExit(
                f"run.py: the {sec} points of this folder come from seeds {seeds}; only the "
                "clean section combines seeds, give other seeds their own --out"
            )
        for L, rs in sorted(groups.items()):
            rs.sort(key=lambda r: r["task"]["gamma_t"])
            radii = rs[0]["task"]["radii"]
            gt = np.array([r["task"]["gamma_t"] for r in rs])
            p = np.array([r["p"] for r in rs])
            I = np.array([r["cmi"] for r in rs])
            S = np.array([r["cmi_stderr"] for r in rs])
            fits = [fit_markov_length(radii, I[i], S[i]) for i in range(len(rs))]
            e = {
                "T": rs[0]["task"]["T"],
                "L": L,
                "n": rs[0]["task"]["n"],
                "far_radius": rs[0]["task"]["far_radius"],
                "radii": radii,
                "gamma_t": gt.tolist(),
                "t": (gt / GAMMA).tolist(),
                "p": p.tolist(),
                "cmi": I.tolist(),
                "cmi_stderr": S.tolist(),
                "xi": [f.xi if math.isfinite(f.xi) else None for f in fits],
                "xi_stderr": [f.xi_stderr if math.isfinite(f.xi_stderr) else None for f in fits],
                "xi_fit_window": [list(f.window) for f in fits],
                "xi_status": [f.status for f in fits],
                "wall_s": [r["wall_s"] for r in rs],
            }
            if sec == "below":
                T = e["T"]
                m = float(ising_magnetization(T))
                fac = (1.0 - 2.0 * p) ** 2
                J, SJ = I[:, 0] / fac, S[:, 0] / fac
                rng = np.random.default_rng(123 + L)
                boot = np.array(
                    [half_crossing(gt, J + SJ * rng.standard_normal(len(J))) for _ in range(1000)]
                )
                tnl = half_crossing(gt, J)
                braw = np.array(
                    [
                        half_crossing(gt, I[:, 0] + S[:, 0] * rng.standard_normal(len(J)))
                        for _ in range(1000)
                    ]
                )
                e.update(
                    {
                        "J": J.tolist(),
                        "J_stderr": SJ.tolist(),
                        "m_yang": m,
                        # the weak-signal model of the docstring, no fitted parameter
                        "J_model": [
                            m**2 / 2 * weak_signal_f(L * L * (1 - 2 * q) ** 2 * m**2) for q in p
                        ],
                        "gamma_t_nl": tnl,
                        "gamma_t_nl_stderr": float(np.nanstd(boot)),
                        "gamma_t_nl_boot_nan_fraction": float(np.mean(np.isnan(boot))),
                        "gamma_t_half_raw": half_crossing(gt, I[:, 0]),
                        "gamma_t_half_raw_stderr": float(np.nanstd(braw)),
                        "gamma_t_s_pred": math.log(L * m) / 2 - math.log(lam) / 4,
                        "rule": "r=1: first gamma t after argmax J where J = I/(1-2p)^2 < "
                        "max J / 2, linear interpolation; parametric bootstrap",
                    }
                )
            res[sec][str(L)] = e
    b = res["below"]
    Ls = [
        int(k)
        for k in b
        if b[k].get("gamma_t_nl") is not None
        and math.isfinite(b[k]["gamma_t_nl"])
        and b[k]["gamma_t_nl_stderr"] > 0
    ]
    res["slope"] = {
        "prediction": 0.5,
        "lambda_star": lam,
        "prediction_formula": "gamma t_s = ln(L m)/2 - ln(lambda*)/4",
    }
    if len(Ls) >= 2:
        x = np.log(Ls)
        y = np.array([b[str(L)]["gamma_t_nl"] for L in Ls])
        s = np.array([b[str(L)]["gamma_t_nl_stderr"] for L in Ls])
        beta, cov = _wls(x, y, s)
        yr = np.array([b[str(L)]["gamma_t_half_raw"] for L in Ls])
        sr = np.maximum([b[str(L)]["gamma_t_half_raw_stderr"] for L in Ls], 1e-3)
        br, cr = _wls(x, yr, sr)
        res["slope"].update(
            {
                "Ls": Ls,
                "slope": float(beta[1]),
                "slope_stderr": float(math.sqrt(cov[1, 1])),
                "intercept": float(beta[0]),
                "deviation_sigma": float((beta[1] - 0.5) / math.sqrt(cov[1, 1])),
                "slope_raw_half_peak": float(br[1]),
                "slope_raw_half_peak_stderr": float(math.sqrt(cr[1, 1])),
            }
        )
    return res


# ---------------------------------------------------------------------------------------------
# figures


def plot(res: dict, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    if res["above"]:
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
        for k, e in res["above"].items():
            gt = np.array(e["gamma_t"])
            I, S = np.array(e["cmi"]), np.array(e["cmi_stderr"])
            for j, r in enumerate(e["radii"]):
                ax[0].errorbar(
                    gt,
                    I[:, j],
                    S[:, j],
                    marker="o",
                    ms=3,
                    capsize=2,
                    ls=["-", "--", ":", "-."][j % 4],
                    color=f"C{list(res['above']).index(k)}",
                    label=f"L={k}, r={r}",
                )
            xi = np.array([np.nan if v is None else v for v in e["xi"]], float)
            xs = np.array([np.nan if v is None else v for v in e["xi_stderr"]], float)
            ax[1].errorbar(gt, xi, xs, marker="o", capsize=2, label=f"L={k}")
            ax[2].errorbar(
                gt + 0.004 * int(k) / 16, I[:, 0], S[:, 0], marker="o", capsize=2, label=f"L={k}"
            )
        ax[0].set_yscale("symlog", linthresh=1e-4)
        ax[0].set(
            xlabel=r"$\gamma t$",
            ylabel="I(A:C|B) [nats]",
            title=f"T = {e['T']} (above Tc): CMI, r = 1..{max(e['radii'])}",
        )
        ax[0].legend(fontsize=6, ncol=3)
        ax[1].set(
            xlabel=r"$\gamma t$",
            ylabel=r"Markov length $\xi$",
            title=r"fitted $\xi(t)$ (default window rule)",
        )
        ax[1].legend()
        ax[2].set(xlabel=r"$\gamma t$", ylabel="I(r=1) [nats]", title="r = 1 vs L")
        ax[2].legend()
        top = ax[0].secondary_xaxis(
            "top",
            functions=(
                lambda g: 0.5 * (1 - np.exp(-2 * np.asarray(g))),
                lambda q: -0.5 * np.log(np.clip(1 - 2 * np.asarray(q), 1e-9, None)),
            ),
        )
        top.set_xlabel("p")
        fig.tight_layout()
        fig.savefig(out / "above_tc.png", dpi=120)
        plt.close(fig)
        made.append("above_tc.png")
    if res["below"]:
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
        for i, (k, e) in enumerate(res["below"].items()):
            gt = np.array(e["gamma_t"])
            I, S = np.array(e["cmi"]), np.array(e["cmi_stderr"])
            ax[0].errorbar(
                gt, I[:, 0], S[:, 0], marker="o", capsize=2, color=f"C{i}", label=f"L={k}, r=1"
            )
            if I.shape[1] > 1:
                ax[0].plot(gt, I[:, 1], ls="--", color=f"C{i}", alpha=0.6)
            J, SJ = np.array(e["J"]), np.array(e["J_stderr"])
            ax[1].errorbar(gt, J, SJ, marker="o", capsize=2, color=f"C{i}", label=f"L={k}")
            if "J_model" in e:
                ax[1].plot(gt, e["J_model"], ls="--", color=f"C{i}", alpha=0.7)
            if e["gamma_t_nl"] is not None and math.isfinite(e["gamma_t_nl"]):
                ax[1].axvline(e["gamma_t_nl"], color=f"C{i}", lw=0.8)
            ax[1].axvline(e["gamma_t_s_pred"], color=f"C{i}", lw=0.8, ls=":")
        ax[0].set_yscale("symlog", linthresh=1e-4)
        ax[0].set(
            xlabel=r"$\gamma t$",
            ylabel="I [nats]",
            title=f"T = {e['T']} (below Tc), far = whole lattice (r=2 dashed)",
        )
        ax[0].legend()
        ax[1].set(
            xlabel=r"$\gamma t$",
            ylabel=r"$J = I(r{=}1)/(1-2p)^2$",
            title=r"normalised CMI (dashed: model); solid: $t_{nl}$, dotted: prediction",
        )
        ax[1].set_ylim(-0.1, None)
        ax[1].legend()
        Ls = np.array([int(k) for k in res["below"]])
        y = np.array([res["below"][k]["gamma_t_nl"] for k in res["below"]], float)
        s = np.array([res["below"][k]["gamma_t_nl_stderr"] for k in res["below"]], float)
        yr = np.array([res["below"][k]["gamma_t_half_raw"] for k in res["below"]], float)
        ax[2].errorbar(np.log(Ls), y, s, marker="o", capsize=3, label=r"$\gamma t_{nl}$ (J rule)")
        ax[2].plot(np.log(Ls), yr, "s--", label="raw I half-peak (contrast)")
        xx = np.linspace(np.log(Ls.min()) - 0.2, np.log(Ls.max()) + 0.2, 10)
        m = res["below"][str(Ls[0])]["m_yang"]
        lam = res["slope"]["lambda_star"]
        ax[2].plot(
            xx,
            (xx + math.log(m)) / 2 - math.log(lam) / 4,
            "k:",
            label=r"$\ln(Lm)/2 - \ln\lambda^*/4$",
        )
        sl = res["slope"]
        if "slope" in sl:
            ax[2].set_title(f"slope {sl['slope']:.2f} ± {sl['slope_stderr']:.2f} (prediction 0.5)")
        ax[2].set(xlabel="ln L", ylabel=r"$\gamma t$")
        ax[2].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "below_tc.png", dpi=120)
        plt.close(fig)
        made.append("below_tc.png")
    if res["clean"]:
        fig, ax = plt.subplots(figsize=(7, 3.8))
        comb = res.get("clean_combined") or []
        # with replicates: the seed means and their errors (spread included), seeds as dots
        series = comb or res["clean"]
        for i, c in enumerate(series):
            lab = (
                f"Ising T={c['T']} L={c['L']}" if c["model"] == "ising" else f"loop gas L={c['L']}"
            )
            if comb:
                rads = np.array([k["r"] for k in c["checks"]], float) + 0.1 * i
                val = [k["mean"] for k in c["checks"]]
                err = 3 * np.array([k["stderr_of_mean"] for k in c["checks"]])
                lab += f", mean of seeds {c['seeds']}"
                for k, rr in zip(c["checks"], rads, strict=True):
                    ax.plot([rr] * len(k["values"]), k["values"], ".", color=f"C{i}", alpha=0.4)
                raw = [  # --null-correction: the uncorrected values, for comparison
                    p["cmi_uncorrected"]
                    for p in res["clean"]
                    if (p["model"], p["T"], p["L"]) == (c["model"], c["T"], c["L"])
                    and "cmi_uncorrected" in p
                ]
                if raw:
                    ax.plot(rads, np.mean(raw, axis=0), "x", color=f"C{i}", ms=7)
            else:
                rads, val = np.array(c["radii"], float) + 0.08 * i, c["cmi"]
                err = 3 * np.array(c["cmi_stderr"])
            ax.errorbar(
                rads,
                val,
                err,
                marker="o",
                capsize=3,
                ls="none",
                color=f"C{i}",
                label=f"{lab} (±3σ)",
            )
        ax.axhline(0, color="k", lw=0.8)
        nulled = any("cmi_null" in p for p in res["clean"])
        title = "clean data: CMI for r >= 1" + (
            " (null-corrected; x: uncorrected mean)" if nulled else ""
        )
        ax.set(xlabel="r", ylabel="I(A:C|B) [nats]", title=title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "clean.png", dpi=120)
        plt.close(fig)
        made.append("clean.png")
    return made


def _load_rows(out: Path) -> list[dict]:
    path = out / "points.jsonl"
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["key"]] = row
    return list(rows.values())


def finish(out: Path, plan_name: str, extra: dict) -> dict:
    res = analyse(_load_rows(out), plan_name)
    res.update(extra)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(res, indent=1, default=float))
    os.replace(tmp, out / "results.json")
    if res["clean"]:  # a run without the clean section has nothing to pass (not "all pass")
        comb = res["clean_combined"]
        clean = {
            "section": "clean",
            "criterion": "|I| < 3 sigma and sigma <= 0.002 nats, r >= 1",
            "points": res["clean"],
            "all_pass_single_runs": all(c["pass"] for c in res["clean"]),
            "combined": comb,
            "sigma_rule": "combined: sqrt((rms_boot^2 + sd_over_seeds^2) / n_seeds) "
            "(replicates: new data, noise and network seeds); points: bootstrap of one run",
        }
        # the verdict uses the errors that include the training spread where replicates exist
        clean["all_pass"] = (
            all(c["pass"] for c in comb)
            and {(c["model"], c["T"], c["L"]) for c in comb}
            == {(c["model"], c["T"], c["L"]) for c in res["clean"]}
            if comb
            else clean["all_pass_single_runs"]
        )
        tmp = out / "clean.json.tmp"
        tmp.write_text(json.dumps(clean, indent=1, default=float))
        os.replace(tmp, out / "clean.json")
    made = plot(res, out)
    wrote = [out / "results.json"] + ([out / "clean.json"] if res["clean"] else [])
    print(f"[out] {', '.join(map(str, wrote))}, {made}", flush=True)
    return res


def summary(res: dict):
    for c in res["clean"]:
        print(
            f"clean {c['model']} T={c['T']} L={c['L']} seed {c['seed']}: "
            + ", ".join(f"r={k['r']}: {k['cmi']:+.2e}±{k['stderr']:.1e}" for k in c["checks"])
            + f" -> {'PASS' if c['pass'] else 'FAIL'}"
        )
    for c in res.get("clean_combined", []):
        print(
            f"clean {c['model']} T={c['T']} L={c['L']}, seeds {c['seeds']} combined: "
            + ", ".join(
                f"r={k['r']}: {k['mean']:+.2e}±{k['stderr_of_mean']:.1e}" for k in c["checks"]
            )
            + f" -> {'PASS' if c['pass'] else 'FAIL'}"
        )
    for k, e in res["above"].items():
        print(f"above L={k}: I(r=1)={[f'{v[0]:.1e}' for v in e['cmi']]}")
        print(f"   xi={[None if v is None else round(v, 2) for v in e['xi']]}")
    for k, e in res["below"].items():
        print(
            f"below L={k}: gamma t_nl = {e['gamma_t_nl']:.3f} ± {e['gamma_t_nl_stderr']:.3f} "
            f"(pred {e['gamma_t_s_pred']:.3f}); raw half-peak {e['gamma_t_half_raw']:.3f}"
        )
    if "slope" in res["slope"]:
        s = res["slope"]
        print(
            f"slope d(gamma t_nl)/d ln L = {s['slope']:.3f} ± {s['slope_stderr']:.3f} "
            f"(prediction 0.5; {s['deviation_sigma']:+.1f} sigma)"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="CPU smoke plan (< 3 min, 1 thread)")
    ap.add_argument("--out", default=None, help="output folder (default out/ or out/quick/)")
    ap.add_argument("--cache", default=None, help="sample cache (default /tmp/ising_markov_cache)")
    ap.add_argument("--workers", type=int, default=1, help="processes running points")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--mc-threads", type=int, default=None, help="numba threads for the MC")
    ap.add_argument("--sections", default="clean,above,below")
    ap.add_argument(
        "--clean-models",
        default="ising,loopgas",
        help="comma-separated models of the clean section to run (ising, loopgas)",
    )
    ap.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds after start to stop launching points (results stay)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--ring-sums-beyond",
        type=int,
        default=None,
        help="below Tc: far reader sees rings beyond this radius as means (needs --out)",
    )
    ap.add_argument(
        "--far-pool",
        choices=("rings", "all"),
        default="rings",
        help="below Tc, with --ring-sums-beyond: 'all' pools every ring beyond it into one "
        "sum (one weight per hidden unit; resolves the late-time magnetisation signal)",
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per point instead of the plan's (a budget check; needs --out)",
    )
    ap.add_argument(
        "--null-correction",
        action="store_true",
        help="subtract the CMI of a null run (far region from another sample) from every "
        "point (about len(radii) times more training; needs --out)",
    )
    ap.add_argument(
        "--gamma-t",
        default=None,
        help="comma-separated gamma t values: run only these points of the noisy sections "
        "(a subset of the plan's grid keeps the points' keys, so a later full run resumes)",
    )
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma-separated L values: run only these sizes of the noisy sections (same keys)",
    )
    ap.add_argument("--replot", action="store_true", help="only rebuild results/figures")
    args = ap.parse_args(argv)
    if args.ring_sums_beyond is not None and args.out is None:
        ap.error("--ring-sums-beyond needs its own --out folder (its points are other points)")
    if args.steps is not None and (args.steps < 1 or args.out is None):
        ap.error(f"--steps must be >= 1 and needs its own --out folder, got {args.steps}")
    clean_models = set(args.clean_models.split(","))
    bad = clean_models - {"ising", "loopgas"}
    if bad:
        ap.error(f"--clean-models takes ising and/or loopgas, got {sorted(bad)}")
    if args.null_correction and args.out is None:
        ap.error("--null-correction needs its own --out folder (its points are other points)")
    if args.far_pool != "rings" and args.ring_sums_beyond is None:
        ap.error(f"--far-pool {args.far_pool} pools the rings beyond --ring-sums-beyond; set it")
    plan_name = "quick" if args.quick else "full"
    out = Path(args.out) if args.out else HERE / "out" / ("quick" if args.quick else "")
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:  # the timings are those of the runs that made the points: keep them
        keep = {}
        if (out / "results.json").exists():
            old = json.loads((out / "results.json").read_text())
            keep = {k: old[k] for k in ("timing", "timing_previous") if k in old}
        summary(finish(out, plan_name, keep))
        return
    start = time.time()
    mc_threads = args.mc_threads or (os.cpu_count() if args.device != "cpu" else 1)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(mc_threads))
    import torch

    torch.set_num_threads(args.threads)
    plan = PLANS[plan_name]
    if args.steps is not None:  # part of every point's key (through "nn")
        plan = {**plan, "nn": {**plan["nn"], "steps": args.steps}}
    secs = set(args.sections.split(","))
    tasks = [
        t
        for t in make_tasks(
            plan, args.seed, args.ring_sums_beyond, args.far_pool, args.null_correction
        )
        if t["section"] in secs and (t["section"] != "clean" or t["model"] in clean_models)
    ]
    # subsets of the noisy sections' grid (the points keep their keys); clean points stay
    for opt, field, cast in (("gamma_t", "gamma_t", float), ("sizes", "L", int)):
        text = getattr(args, opt)
        if text is None:
            continue
        flag = "--" + opt.replace("_", "-")
        try:
            keep = {cast(v) for v in text.split(",")}
        except ValueError:
            ap.error(f"{flag} must be comma-separated {cast.__name__}s, got {text!r}")
        tasks = [t for t in tasks if t["section"] == "clean" or t[field] in keep]
        if not any(t["section"] != "clean" for t in tasks):
            ap.error(f"{flag} {text!r} matches no point of the plan's noisy sections")
    cache = Path(args.cache or "/tmp/ising_markov_cache")
    t0 = time.perf_counter()
    mc = generate_data(tasks, cache, mc_threads)
    t_mc = time.perf_counter() - t0
    print(f"[mc] total {t_mc:.1f} s", flush=True)
    t0 = time.perf_counter()
    deadline = start + args.deadline if args.deadline else None
    run_all(tasks, out, cache, args.device, args.workers, args.threads, deadline)
    t_nn = time.perf_counter() - t0
    timing = {
        "timing": {
            "mc_s": t_mc,
            "points_s": t_nn,
            "total_s": time.time() - start,
            "device": args.device,
            "workers": args.workers,
            "threads": args.threads,
            "mc": mc,
            "argv": sys.argv[1:],
        }
    }
    prev = out / "results.json"
    if prev.exists():  # keep the timings of every earlier run into this folder, newest first
        try:
            old = json.loads(prev.read_text())
        except json.JSONDecodeError:
            old = {}
        earlier = old.get("timing_previous") or []
        earlier = [earlier] if isinstance(earlier, dict) else earlier  # one-run form, older files
        timing["timing_previous"] = ([old["timing"]] if "timing" in old else []) + earlier
    summary(finish(out, plan_name, timing))


if __name__ == "__main__":
    main()
