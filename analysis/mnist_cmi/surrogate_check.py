"""Is the I-MMSE map biased at high noise? The estimator run on a Gaussian surrogate of MNIST,
whose CMI is known exactly.

``gaussian_check.py`` found the I-MMSE values of ``run.py`` 1.4-3.6 times above the Gaussian
CMI of MNIST's pixel covariance at t = 0.6-0.8. That is either information in the
non-Gaussian structure of the digits or an upward bias of the estimator. This script separates
the two: it draws images ``x_0 ~ N(mu, Sigma)`` with MNIST's mean and covariance (10,000, as
many as the test set), runs ``latticediff.info.immse.immse_cmi_profile`` with exactly the
settings of ``run.py`` (``MODEL``, the same split, seed and geometry), and compares with the
exact CMI of that Gaussian: the full value and the value for the estimator's own target, C
replaced by its top 16 principal components (``gaussian_check.cmi_grid`` with the population
covariance; the estimator fits its components on its own training images, which moves the
target by less than the bootstrap error of ``gaussian_check``).

    python analysis/mnist_cmi/surrogate_check.py            # t = 0.6, 0.7, 0.8; r = 1, 2, 4
    python analysis/mnist_cmi/surrogate_check.py --t 0.7 --radius 1 --seed 1 --out /tmp/s

Writes ``OUT/surrogate_check.json`` (atomically; ``OUT/surrogate_check_seed{S}.json`` for
``--seed S != 0``) with per (t, r) the estimate, its stderr, the exact values and the z-scores.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> S = np.cov(rng.standard_normal((50, 6)), rowvar=False)
>>> x = surrogate_images(np.zeros(6), S, 4000, seed=1, shape=(2, 3))
>>> x.shape, bool(np.abs(np.cov(x.reshape(4000, -1), rowvar=False) - S).max() < 0.1)
((4000, 1, 2, 3), True)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
from gaussian_check import N_PC, cmi_grid, load_pixels  # noqa: E402

# run.py's settings, loaded under a name of its own: other studies also have a module "run"
_spec = importlib.util.spec_from_file_location("_mnist_cmi_run", HERE / "run.py")
_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_run)
CENTER, MODEL = _run.CENTER, _run.MODEL


def surrogate_images(mu, Sigma, n: int, *, seed: int, shape=(28, 28)) -> np.ndarray:
    """``n`` images drawn from ``N(mu, Sigma)`` (float32 ``(n, 1, *shape)``). Sigma may be
    singular (MNIST's border pixels never vary): the draw uses its eigen-decomposition with the
    negative rounding-level eigenvalues set to 0."""
    lam, V = np.linalg.eigh(np.asarray(Sigma, float))
    root = V * np.sqrt(np.clip(lam, 0.0, None))
    z = np.random.default_rng(seed).standard_normal((n, len(lam)))
    x = np.asarray(mu, float) + z @ root.T
    return x.astype(np.float32).reshape(n, 1, *shape)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    ap.add_argument("--t", type=float, nargs="+", default=[0.6, 0.7, 0.8])
    ap.add_argument("--radius", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seed", type=int, default=0, help="surrogate draw and estimator seed")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    a = ap.parse_args(argv)
    if not Path(a.mnist).is_dir():
        ap.error(f"--mnist {a.mnist} is not a directory with the MNIST IDX files")
    if any(not 0.0 < t < 1.0 for t in a.t):
        ap.error(f"--t values must lie in (0, 1), got {a.t}")
    if any(r < 1 or r > 13 for r in a.radius) or sorted(set(a.radius)) != a.radius:
        ap.error(f"--radius must be increasing integers in [1, 13], got {a.radius}")
    import torch

    from latticediff.info.immse import immse_cmi_profile

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    X = load_pixels(Path(a.mnist), None)  # (10000, 784) in [-1, 1]
    mu, Sigma = X.mean(axis=0), np.cov(X, rowvar=False)
    x0 = surrogate_images(mu, Sigma, len(X), seed=1000 + a.seed)
    exact = cmi_grid(Sigma, a.t, a.radius, k=N_PC)
    rows = []
    for i, t in enumerate(a.t):
        t0 = time.perf_counter()
        es = immse_cmi_profile(
            x0, radii=a.radius, t=t, periodic=False, center=CENTER, seed=a.seed, threads=1,
            **MODEL,
        )  # fmt: skip
        for j, (r, e) in enumerate(zip(a.radius, es, strict=True)):
            full, pc = float(exact["full"][i, j]), float(exact["pc"][i, j])
            se = e.stderr if e.stderr > 0 else float("nan")
            rows.append(
                dict(
                    t=t,
                    r=r,
                    cmi=e.value,
                    cmi_stderr=e.stderr,
                    exact_full=full,
                    exact_pc16=pc,
                    z_pc16=(e.value - pc) / se,
                    ratio_pc16=e.value / pc if pc > 0 else None,
                    identical_copies=bool(e.value == 0.0 and e.stderr > 0.0),
                )  # fmt: skip
            )
            print(
                f"t = {t:.2f}, r = {r}: I-MMSE {e.value:+.5f} ± {e.stderr:.5f}   exact Gaussian "
                f"{full:.5f} (16 PCs {pc:.5f})   z = {rows[-1]['z_pc16']:+.1f}",
                flush=True,
            )
        print(f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    res = dict(
        description=(
            "run.py's I-MMSE estimator on Gaussian surrogate images with MNIST's mean and "
            "covariance (pixels in [-1, 1]); exact_* is the CMI of that Gaussian, pc16 the "
            "estimator's target (C via its top 16 principal components)"
        ),
        n_images=int(len(x0)),
        seed=a.seed,
        model=MODEL,
        rows=rows,
        seconds=time.perf_counter() - t_start,
    )
    a.out.mkdir(parents=True, exist_ok=True)
    name = "surrogate_check.json" if a.seed == 0 else f"surrogate_check_seed{a.seed}.json"
    tmp = a.out / (name + ".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, a.out / name)
    print(f"wrote {a.out / name} ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
