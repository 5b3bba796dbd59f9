"""Sample-quality metrics: generated samples against Monte Carlo ground truth or real images.

- :func:`spin_quality`: energy and |m| distributions of generated spin configurations against
  reference samples (Ising, Potts, Ising chain): two-sample Kolmogorov-Smirnov statistic and
  p-value (``scipy.stats.ks_2samp``), Wasserstein-1 distance
  (``scipy.stats.wasserstein_distance``) and the difference of means with its standard error.
- :func:`loopgas_quality`: vertex-defect density (exactly 0 for every true loop-gas sample) and
  the frequencies of the four winding sectors (chi-square against uniform, the exact law of the
  x = 1 loop gas, or against reference samples).
- :func:`image_quality`: offline image metrics: distribution distances of pixel values and of
  k x k patch means and variances, and optionally, for 28 x 28 digits, scores from a small
  classifier trained here on MNIST (a poor man's Inception score), the Frechet distance between
  the two sets in that classifier's hidden-layer features (the FID recipe of Heusel et al. 2017,
  arXiv:1706.08500, with a network trained here instead of Inception), and a classifier
  two-sample test ("can a classifier tell generated from real?"). Nothing is downloaded.

Statistics assume the samples in each set are independent (Monte Carlo references should be
thinned to ~2 tau_int, which :func:`latticediff.sample` does by default). For discrete
observables (energies of a small lattice take few values) the KS p-value is conservative.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> c = compare_distributions(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000), name="x")
>>> bool(c.ks_pvalue > 0.01), bool(abs(c.z) < 4)
(True, True)
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ParameterError

__all__ = [
    "Comparison",
    "compare_distributions",
    "spin_quality",
    "LoopGasQuality",
    "loopgas_quality",
    "PatchComparison",
    "ClassifierScores",
    "FrechetDistance",
    "frechet_distance",
    "ImageQuality",
    "image_quality",
    "mnist_classifier_scores",
    "mnist_features",
]


# ----------------------------------------------------------------------------------------------
# scalar distributions


def _mean_se(v: np.ndarray) -> tuple[float, float]:
    n = v.size
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan)


@dataclass(frozen=True)
class Comparison:
    """A scalar observable of generated samples compared with its reference distribution.

    ``ks``/``ks_pvalue``: two-sample Kolmogorov-Smirnov statistic and p-value; ``wasserstein``:
    the Wasserstein-1 (earth mover's) distance in the observable's units; ``mean_diff`` =
    ``mean - ref_mean`` with ``mean_diff_stderr`` (independent samples); ``z`` their ratio.
    """

    name: str
    n: int
    n_ref: int
    mean: float
    mean_stderr: float
    ref_mean: float
    ref_mean_stderr: float
    mean_diff: float
    mean_diff_stderr: float
    ks: float
    ks_pvalue: float
    wasserstein: float

    @property
    def z(self) -> float:
        """``mean_diff / mean_diff_stderr`` (0 when both are 0)."""
        if self.mean_diff_stderr > 0:
            return self.mean_diff / self.mean_diff_stderr
        return 0.0 if self.mean_diff == 0 else math.copysign(math.inf, self.mean_diff)

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {**asdict(self), "z": self.z}

    def __str__(self) -> str:
        return (
            f"{self.name}: mean {self.mean:.5g} vs {self.ref_mean:.5g} (diff {self.mean_diff:+.3g}"
            f" ± {self.mean_diff_stderr:.2g}), KS {self.ks:.3f} (p = {self.ks_pvalue:.3g}), "
            f"W1 {self.wasserstein:.3g}"
        )


def _as_values(v, what: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).ravel()
    if a.size < 2:
        raise ParameterError(f"{what} needs at least 2 values, got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{what} contains NaN or inf")
    return a


def compare_distributions(values, reference, *, name: str = "") -> Comparison:
    """Compare two independent samples of a scalar (KS, Wasserstein-1, difference of means).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> c = compare_distributions(rng.normal(0.5, 1, 4000), rng.normal(0, 1, 4000))
    >>> bool(c.ks_pvalue < 1e-6), round(c.wasserstein, 1)
    (True, 0.5)
    """
    from scipy.stats import ks_2samp, wasserstein_distance

    a = _as_values(values, f"{name or 'values'} (generated)")
    b = _as_values(reference, f"{name or 'values'} (reference)")
    m, se = _mean_se(a)
    mr, ser = _mean_se(b)
    ks = ks_2samp(a, b)
    return Comparison(
        name=name,
        n=a.size,
        n_ref=b.size,
        mean=m,
        mean_stderr=se,
        ref_mean=mr,
        ref_mean_stderr=ser,
        mean_diff=m - mr,
        mean_diff_stderr=math.hypot(se, ser),
        ks=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        wasserstein=float(wasserstein_distance(a, b)),
    )


# ----------------------------------------------------------------------------------------------
# spin models


def _lattice_stack(x, model, what: str) -> np.ndarray:
    """(n, *model.shape) from (n, *model.shape) or channels-first (n, 1, *model.shape)."""
    x = np.asarray(x)
    shape = tuple(model.shape)
    if x.shape[1:] == (1, *shape):
        x = x[:, 0]
    if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise ParameterError(
            f"{what} must have shape (n, {', '.join(map(str, shape))}) or (n, 1, "
            f"{', '.join(map(str, shape))}) for {model!r}, got {x.shape}"
        )
    return x


def _check_values(x: np.ndarray, model, what: str) -> np.ndarray:
    if model.name in ("ising", "chain"):
        ok = (x == 1) | (x == -1)
        allowed = "spins -1/+1"
    else:
        ok = (x >= 0) & (x < model.q) & (x == np.round(x))
        allowed = f"Potts states 0..{model.q - 1}"
    if not np.all(ok):
        bad = x[~ok].ravel()[0]
        raise ParameterError(f"{what} must hold {allowed}, got {bad}")
    return x.astype(model.dtype)


def spin_quality(samples, reference, model) -> dict[str, Comparison]:
    """Energy and |m| distributions of generated spin samples against reference samples.

    Parameters
    ----------
    samples, reference : arrays ``(n, *model.shape)`` or channels-first ``(n, 1, *model.shape)``
        (what :func:`latticediff.nn.sample_discrete` returns), of ±1 spins (Ising, IsingChain)
        or Potts states. The reference is typically ``latticediff.sample(model, ...)``.
    model : Ising, Potts or IsingChain (its ``energy`` and ``magnetization`` per site are used;
        for Potts the order parameter is already in [0, 1]).

    Returns ``{"energy": Comparison, "abs_magnetization": Comparison}``.

    >>> import numpy as np, latticediff as ld
    >>> m = ld.Ising(L=4, T=2.0)
    >>> up = np.ones((50, 4, 4), np.int8)
    >>> q = spin_quality(up, up, m)
    >>> q["energy"].wasserstein, q["abs_magnetization"].mean_diff
    (0.0, 0.0)
    """
    if getattr(model, "name", None) not in ("ising", "potts", "chain"):
        raise ParameterError(
            f"model must be an Ising, Potts or IsingChain, got {type(model).__name__} (use "
            "loopgas_quality for the loop gas)"
        )
    s = _check_values(_lattice_stack(samples, model, "samples"), model, "samples")
    r = _check_values(_lattice_stack(reference, model, "reference"), model, "reference")
    return {
        "energy": compare_distributions(model.energy(s), model.energy(r), name="energy"),
        "abs_magnetization": compare_distributions(
            np.abs(model.magnetization(s)), np.abs(model.magnetization(r)), name="|m|"
        ),
    }


# ----------------------------------------------------------------------------------------------
# loop gas


@dataclass(frozen=True)
class LoopGasQuality:
    """Loop-gas checks of a set of edge configurations.

    ``defect_density``: odd-degree vertices per vertex, mean ± ``defect_density_stderr`` over
    samples (exactly 0 for true samples); ``defect_free_fraction``: samples without any defect.
    ``winding_counts``: defect-free samples in the sectors (w_x, w_y) = (0,0), (0,1), (1,0),
    (1,1) (windings are only defined for closed loops); ``winding_chi2``/``winding_pvalue``:
    chi-square test against the uniform law (reference None; exact for x = 1) or against the
    reference's sector frequencies (contingency table). NaN when there are too few defect-free
    samples (fewer than 2); the chi-square approximation wants >= 5 expected per sector.
    ``occupation``: edge-occupation comparison with the reference (None without one).
    """

    n: int
    defect_density: float
    defect_density_stderr: float
    defect_free_fraction: float
    winding_counts: tuple[int, int, int, int]
    winding_chi2: float
    winding_pvalue: float
    reference_winding_counts: tuple[int, int, int, int] | None = None
    occupation: Comparison | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["occupation"] = None if self.occupation is None else self.occupation.to_dict()
        return d


def _edges(b, what: str, L: int | None = None) -> np.ndarray:
    b = np.asarray(b)
    if b.ndim != 4 or b.shape[1] != 2 or b.shape[2] != b.shape[3] or b.shape[0] < 1:
        raise ParameterError(f"{what} must have shape (n, 2, L, L) (loop-gas edges), got {b.shape}")
    if L is not None and b.shape[2] != L:
        raise ParameterError(f"{what} has L={b.shape[2]}, the samples have L={L}")
    if not np.all((b == 0) | (b == 1)):
        bad = b[(b != 0) & (b != 1)].ravel()[0]
        raise ParameterError(f"{what} must hold edge bits 0/1, got {bad}")
    return b.astype(np.uint8)


def _sectors(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from .systems import LoopGas

    defects = LoopGas.vertex_parity(b).sum(axis=(-1, -2))
    w = LoopGas.winding(b[defects == 0])
    counts = np.bincount(2 * w[:, 0] + w[:, 1], minlength=4) if len(w) else np.zeros(4, int)
    return defects, counts


def loopgas_quality(samples, reference=None) -> LoopGasQuality:
    """Vertex defects and winding sectors of generated loop-gas samples ``(n, 2, L, L)``.

    ``reference`` (optional, same L): Monte Carlo samples; then windings are compared with its
    sector frequencies instead of the uniform law, and the edge occupation distributions are
    compared (:class:`Comparison`).

    >>> import numpy as np, latticediff as ld
    >>> b = ld.sample(ld.LoopGas(L=4, x=1.0), n_samples=64, seed=0)
    >>> q = loopgas_quality(b)
    >>> q.defect_density, q.defect_free_fraction, sum(q.winding_counts)
    (0.0, 1.0, 64)
    """
    from scipy.stats import chi2_contingency, chisquare

    b = _edges(samples, "samples")
    n, L = b.shape[0], b.shape[2]
    defects, counts = _sectors(b)
    dens = defects / (L * L)
    d_mean, d_se = _mean_se(dens) if n > 1 else (float(dens.mean()), math.nan)
    chi2 = pval = math.nan
    ref_counts = occ = None
    if reference is not None:
        r = _edges(reference, "reference", L)
        _, rc = _sectors(r)
        ref_counts = tuple(int(c) for c in rc)
        occ = compare_distributions(
            b.mean(axis=(1, 2, 3)), r.mean(axis=(1, 2, 3)), name="occupation"
        )
        table = np.stack([counts, rc])
        table = table[:, table.sum(axis=0) > 0]  # sectors seen by neither set carry no test
        if counts.sum() >= 2 and rc.sum() >= 2 and table.shape[1] >= 2:
            res = chi2_contingency(table, correction=False)
            chi2, pval = float(res.statistic), float(res.pvalue)
        elif counts.sum() >= 2 and table.shape[1] == 1:
            chi2, pval = 0.0, 1.0  # both sets all in one and the same sector
    elif counts.sum() >= 2:
        res = chisquare(counts)
        chi2, pval = float(res.statistic), float(res.pvalue)
    return LoopGasQuality(
        n=n,
        defect_density=float(d_mean),
        defect_density_stderr=float(d_se),
        defect_free_fraction=float(np.mean(defects == 0)),
        winding_counts=tuple(int(c) for c in counts),
        winding_chi2=chi2,
        winding_pvalue=pval,
        reference_winding_counts=ref_counts,
        occupation=occ,
    )


# ----------------------------------------------------------------------------------------------
# images


@dataclass(frozen=True)
class PatchComparison:
    """Distance between the distributions of a per-patch (or per-pixel) statistic.

    ``ks`` and ``wasserstein`` compare the pooled values (no KS p-value: the patches of one
    image are not independent). ``mean_diff ± mean_diff_stderr`` uses per-image averages, which
    are independent. ``baseline_wasserstein`` is the mean distance after randomly reassigning
    whole images between the two sets (same set sizes): the noise floor that samples of the
    reference distribution reach. ``pvalue`` is the permutation p-value of ``wasserstein``,
    ``(1 + #{permuted >= observed}) / (n_permutations + 1)``, valid because images are
    exchangeable under the null (its resolution is ``1 / (n_permutations + 1)``).
    """

    name: str
    ks: float
    wasserstein: float
    mean_diff: float
    mean_diff_stderr: float
    baseline_wasserstein: float
    pvalue: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClassifierScores:
    """Scores of images under the MNIST classifier (see :func:`mnist_classifier_scores`).

    ``confidence``: mean max class probability; ``entropy``: mean per-image class entropy
    (nats; low = confident); ``class_entropy``: entropy of the mean class distribution (nats;
    log 10 = 2.303 for balanced classes, low = mode collapse); ``inception_score``:
    ``exp(class_entropy - entropy)`` = ``exp E KL(p(y|x) || p(y))`` (10 at best);
    ``class_frequencies``: the mean class distribution; ``classifier_accuracy``: the classifier's
    accuracy on held-out MNIST test images (for context).
    """

    n: int
    confidence: float
    confidence_stderr: float
    entropy: float
    class_entropy: float
    inception_score: float
    class_frequencies: tuple[float, ...]
    classifier_accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrechetDistance:
    """Frechet distance between Gaussians fitted to two feature sets (see
    :func:`frechet_distance`).

    ``value``: the plug-in distance (it is biased upwards at finite set sizes, roughly by
    ``tr C_a / n_a + tr C_b / n_b``); ``stderr``: bootstrap standard deviation (both sets
    resampled); ``noise_floor ± noise_floor_stderr``: the same distance between disjoint random
    parts of the reference (the first sized like ``features`` if the reference has twice as
    many rows, else halves; mean and standard deviation over splits), rescaled to the
    comparison's set sizes by the 1/n law of the plug-in bias -- the value that samples of the
    reference distribution itself reach.
    Compare ``value`` with ``noise_floor``, not with 0.
    """

    value: float
    stderr: float
    noise_floor: float
    noise_floor_stderr: float
    n: int
    n_ref: int
    n_features: int
    features: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImageQuality:
    """What :func:`image_quality` returns: ``pixels`` and ``patches`` (name -> comparison,
    e.g. ``"mean3"``, ``"var5"``), and optionally ``classifier`` / ``reference_classifier``
    (:class:`ClassifierScores` of the generated and reference images) and the classifier
    two-sample test ``c2st_accuracy ± c2st_stderr`` (0.5 = indistinguishable, 1 = trivially
    told apart) and ``frechet`` (:class:`FrechetDistance` in the classifier's hidden-layer
    features)."""

    n: int
    n_ref: int
    pixels: PatchComparison
    patches: dict[str, PatchComparison] = field(default_factory=dict)
    classifier: ClassifierScores | None = None
    reference_classifier: ClassifierScores | None = None
    c2st_accuracy: float | None = None
    c2st_stderr: float | None = None
    frechet: FrechetDistance | None = None

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "n_ref": self.n_ref,
            "pixels": self.pixels.to_dict(),
            "patches": {k: v.to_dict() for k, v in self.patches.items()},
            "classifier": None if self.classifier is None else self.classifier.to_dict(),
            "reference_classifier": (
                None if self.reference_classifier is None else self.reference_classifier.to_dict()
            ),
            "c2st_accuracy": self.c2st_accuracy,
            "c2st_stderr": self.c2st_stderr,
            "frechet": None if self.frechet is None else self.frechet.to_dict(),
        }


def _images(x, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] < 2:
        raise ParameterError(
            f"{what} must have shape (n, C, H, W) or (n, H, W) with n >= 2, got {x.shape}"
        )
    if x.dtype.kind not in "fiub":
        raise ParameterError(f"{what} must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{what} contains NaN or inf")
    return x


def _box(x: np.ndarray, k: int) -> np.ndarray:
    """Sums over all k x k windows (stride 1, no padding) of the last two axes."""
    c = np.zeros(x.shape[:-2] + (x.shape[-2] + 1, x.shape[-1] + 1))
    c[..., 1:, 1:] = x.cumsum(axis=-2).cumsum(axis=-1)
    return c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]


def _patch_stats(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch mean and variance of all k x k windows (stride 1), shape (n, n_patches)."""
    n, kk = x.shape[0], k * k
    mean = _box(x, k) / kk
    # Centre first: E[x^2] - E[x]^2 with a per-image offset keeps the cancellation small.
    xc = x - x.mean(axis=(-2, -1), keepdims=True)
    mc = _box(xc, k) / kk
    var = np.maximum(_box(xc * xc, k) / kk - mc * mc, 0.0)
    return mean.reshape(n, -1), var.reshape(n, -1)


def _patch_comparison(name, a, b, max_values, n_permutations, rng) -> PatchComparison:
    """a, b: (n_images, values_per_image), same number of values per image."""
    from scipy.stats import ks_2samp, wasserstein_distance

    ma, sa = _mean_se(a.mean(axis=1))
    mb, sb = _mean_se(b.mean(axis=1))
    na, nb = a.shape[0], b.shape[0]
    per = max(1, max_values // (na + nb))
    if a.shape[1] > per:  # the same random positions in every image (spatially stratified)
        cols = np.sort(rng.choice(a.shape[1], size=per, replace=False))
        a, b = a[:, cols], b[:, cols]
    w_obs = float(wasserstein_distance(a.ravel(), b.ravel()))
    # Permutation null: reassign whole images (the exchangeable units) between the two sets.
    pooled = np.concatenate([a, b])
    w_perm = np.empty(n_permutations)
    for k in range(n_permutations):
        p = rng.permutation(na + nb)
        w_perm[k] = wasserstein_distance(pooled[p[:na]].ravel(), pooled[p[na:]].ravel())
    return PatchComparison(
        name=name,
        ks=float(ks_2samp(a.ravel(), b.ravel()).statistic),
        wasserstein=w_obs,
        mean_diff=ma - mb,
        mean_diff_stderr=math.hypot(sa, sb),
        baseline_wasserstein=float(w_perm.mean()) if n_permutations else math.nan,
        pvalue=float((1 + np.sum(w_perm >= w_obs)) / (n_permutations + 1))
        if n_permutations
        else math.nan,
    )


def _entropy(p: np.ndarray, axis=-1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=axis)


class _PCA:
    """Principal components from the top-k eigenvectors of the covariance (only k are
    computed), for the few-hundred-feature images here; faster than a full decomposition."""

    def __init__(self, k: int):
        self.k = k

    def fit(self, X: np.ndarray) -> _PCA:
        from scipy.linalg import eigh

        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        d = X.shape[1]
        k = min(self.k, d)
        _, vecs = eigh(Xc.T @ Xc / X.shape[0], subset_by_index=[d - k, d - 1])
        self.components_ = vecs[:, ::-1].T  # largest variance first
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) @ self.components_.T


def _single_thread():
    """BLAS on one thread: these problems are small, and on a shared machine extra threads
    cost far more than they gain."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@lru_cache(maxsize=4)
def _mnist_classifier(folder: str, n_train: int, seed: int):
    """PCA(50) + one-hidden-layer MLP on the first n_train MNIST test images; cached per
    process. Returns (pca, mlp, held-out accuracy on up to 2000 of the remaining images)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from .images import load_mnist

    x, y = load_mnist(folder, split="test")
    if not 100 <= n_train <= x.shape[0] - 100:
        raise ParameterError(f"n_train must be in [100, {x.shape[0] - 100}], got {n_train}")
    X = x.reshape(x.shape[0], -1).astype(np.float64)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=100, random_state=seed)
    with warnings.catch_warnings(), _single_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pca = _PCA(50).fit(X[:n_train])
        mlp.fit(pca.transform(X[:n_train]), y[:n_train])
    hold = slice(n_train, min(n_train + 2000, x.shape[0]))
    acc = float(np.mean(mlp.predict(pca.transform(X[hold])) == y[hold]))
    return pca, mlp, acc


def _classifier_inputs(images, mnist_dir, value_range, n_train, seed):
    """Checked images as rows in [0, 1] ``(n, 784)`` and the cached classifier for them."""
    x = _images(images, "images")
    if x.shape[1:] != (1, 28, 28):
        raise ParameterError(f"the MNIST classifier needs images (n, 1, 28, 28), got {x.shape}")
    lo, hi = (float(v) for v in value_range)
    if not lo < hi:
        raise ParameterError(f"value_range must be (lo, hi) with lo < hi, got {value_range!r}")
    folder = str(Path(os.fspath(mnist_dir)).resolve())
    X = np.clip((x - lo) / (hi - lo), 0.0, 1.0).reshape(x.shape[0], -1)
    return X, _mnist_classifier(folder, int(n_train), int(seed))


def mnist_classifier_scores(
    images, mnist_dir, *, value_range=(0.0, 1.0), n_train: int = 5000, seed: int = 0
) -> ClassifierScores:
    """Score 28 x 28 grey images with a small classifier trained here on MNIST.

    The classifier (PCA to 50 components, then a scikit-learn MLP with 64 hidden units) is
    trained on the first ``n_train`` images of the MNIST test split in ``mnist_dir`` (the IDX
    files, see :func:`latticediff.images.load_mnist`) and cached per process; use the images
    from index ``n_train`` on as reference data so that none of them was seen in training.
    ``value_range`` is the range the images are in (``(-1, 1)`` for
    :func:`latticediff.images.to_signed` data); they are mapped to [0, 1] and clipped.
    """
    X, (pca, mlp, acc) = _classifier_inputs(images, mnist_dir, value_range, n_train, seed)
    with _single_thread():
        p = mlp.predict_proba(pca.transform(X))
    conf = p.max(axis=1)
    c_mean, c_se = _mean_se(conf)
    ent = float(_entropy(p).mean())
    marg = p.mean(axis=0)
    cent = float(_entropy(marg))
    return ClassifierScores(
        n=X.shape[0],
        confidence=c_mean,
        confidence_stderr=c_se,
        entropy=ent,
        class_entropy=cent,
        inception_score=float(math.exp(cent - ent)),
        class_frequencies=tuple(float(v) for v in marg),
        classifier_accuracy=acc,
    )


def mnist_features(images, mnist_dir, *, value_range=(0.0, 1.0), n_train: int = 5000, seed=0):
    """Hidden-layer activations (n, 64) of the MNIST classifier of
    :func:`mnist_classifier_scores` (same training, same cache): the features in which
    :func:`image_quality` measures the Frechet distance."""
    X, (pca, mlp, _) = _classifier_inputs(images, mnist_dir, value_range, n_train, seed)
    if mlp.activation != "relu":  # the layer formula below is the ReLU one
        raise RuntimeError(f"unexpected classifier activation {mlp.activation!r}")
    with _single_thread():
        return np.maximum(pca.transform(X) @ mlp.coefs_[0] + mlp.intercepts_[0], 0.0)


def _gauss_stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1])


def _frechet(mu_a, cov_a, mu_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2).

    Both matrix square roots go through symmetric eigendecompositions; eigenvalues of these
    positive semi-definite matrices that come out below 0 (rounding, ~1e-16 relative) are set
    to 0 before the square root.
    """
    w, V = np.linalg.eigh(cov_a)
    root_a = (V * np.sqrt(np.maximum(w, 0.0))) @ V.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    cross = float(np.sqrt(np.maximum(inner, 0.0)).sum())
    d = mu_a - mu_b
    return float(d @ d + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def frechet_distance(
    features,
    reference,
    *,
    n_boot: int = 200,
    n_splits: int = 10,
    seed: int = 0,
    name: str = "",
) -> FrechetDistance:
    """Frechet distance between Gaussians fitted to two sets of feature vectors, with a
    bootstrap error and the reference's own noise floor (:class:`FrechetDistance`).

    ``features`` ``(n, d)`` and ``reference`` ``(n_ref, d)``, d >= 1, n and n_ref >= 4
    (the noise floor needs >= 2 reference rows per half). For two Gaussians this is the exact
    2-Wasserstein distance squared (Dowson & Landau 1982); on network features it is the FID
    recipe.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2)) + [1.0, 0.0]
    >>> fd = frechet_distance(a, b, n_boot=50)
    >>> bool(abs(fd.value - 1.0) < 5 * fd.stderr), bool(fd.noise_floor < 0.01)
    (True, True)
    """
    a, r = np.asarray(features), np.asarray(reference)
    for what, f in (("features", a), ("reference", r)):
        if f.ndim != 2 or f.shape[0] < 4 or f.shape[1] < 1 or f.dtype.kind not in "fiub":
            raise ParameterError(
                f"{what} must be a real (n, d) array with n >= 4 and d >= 1, got shape "
                f"{f.shape} and dtype {f.dtype}"
            )
        if not np.all(np.isfinite(f)):
            raise ParameterError(f"{what} contains NaN or inf")
    if a.shape[1] != r.shape[1]:
        raise ParameterError(
            f"features and reference must have the same d, got {a.shape[1]} and {r.shape[1]}"
        )
    for what, v, lo in (("n_boot", n_boot, 2), ("n_splits", n_splits, 2)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ParameterError(f"{what} must be an integer >= {lo}, got {v!r}")
    a, r = a.astype(np.float64), r.astype(np.float64)
    rng = np.random.default_rng([int(seed), 0xFD])
    value = _frechet(*_gauss_stats(a), *_gauss_stats(r))
    boot = [
        _frechet(
            *_gauss_stats(a[rng.integers(0, a.shape[0], a.shape[0])]),
            *_gauss_stats(r[rng.integers(0, r.shape[0], r.shape[0])]),
        )
        for _ in range(int(n_boot))
    ]
    # The floor is measured on disjoint halves of the reference (sizes m1, m2) and rescaled to
    # the comparison's sizes: the plug-in distance of two samples of one distribution grows
    # like 1/n_a + 1/n_b (Chong & Forsyth 2020, arXiv:1911.07023, FID linear in 1/N).
    m1 = min(a.shape[0], r.shape[0] // 2)
    m2 = r.shape[0] - m1
    scale = (1.0 / a.shape[0] + 1.0 / r.shape[0]) / (1.0 / m1 + 1.0 / m2)
    floors = []
    for _ in range(int(n_splits)):
        perm = rng.permutation(r.shape[0])
        d = _frechet(*_gauss_stats(r[perm[:m1]]), *_gauss_stats(r[perm[m1:]]))
        floors.append(scale * d)
    return FrechetDistance(
        value=value,
        stderr=float(np.std(boot, ddof=1)),
        noise_floor=float(np.mean(floors)),
        noise_floor_stderr=float(np.std(floors, ddof=1)),
        n=int(a.shape[0]),
        n_ref=int(r.shape[0]),
        n_features=int(a.shape[1]),
        features=name,
    )


def _c2st(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float]:
    """Classifier two-sample test: 5-fold cross-validated accuracy of a logistic regression
    telling a from b, with a binomial standard error (Lopez-Paz & Oquab 2017,
    arXiv:1610.06545). Balanced by subsampling the larger set. Features: up to 50 principal
    components of the pooled images; PCA sees no labels, so under the null the accuracy stays
    unbiased at 1/2."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    m = min(a.shape[0], b.shape[0])
    a = a[rng.choice(a.shape[0], m, replace=False)].reshape(m, -1)
    b = b[rng.choice(b.shape[0], m, replace=False)].reshape(m, -1)
    X = np.concatenate([a, b])
    y = np.r_[np.zeros(m, int), np.ones(m, int)]
    k = int(min(50, X.shape[1], X.shape[0] // 2))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with warnings.catch_warnings(), _single_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        F = _PCA(k).fit(X).transform(X)
        pred = cross_val_predict(LogisticRegression(max_iter=1000), F, y, cv=cv)
    acc = float(np.mean(pred == y))
    return acc, math.sqrt(acc * (1 - acc) / y.size) if 0 < acc < 1 else 0.5 / math.sqrt(y.size)


def image_quality(
    samples,
    reference,
    *,
    patch_sizes=(3, 5),
    mnist_dir=None,
    value_range=(0.0, 1.0),
    two_sample_test: bool = False,
    seed: int = 0,
    n_permutations: int = 20,
    max_values: int = 20_000,
) -> ImageQuality:
    """Offline quality metrics of generated images against reference images.

    Parameters
    ----------
    samples, reference : ``(n, C, H, W)`` (or ``(n, H, W)``) real arrays, same C, H, W.
    patch_sizes : k for the k x k patch statistics (per-patch mean and variance over all
        stride-1 windows of every channel).
    mnist_dir : a directory with the MNIST IDX files; when given and the images are
        ``(n, 1, 28, 28)``, adds :func:`mnist_classifier_scores` for both sets and the
        Frechet distance between them in the classifier's features (the reference should
        then come from MNIST test images with index >= 5000).
    value_range : the data range, for the classifier (``(-1, 1)`` for signed data).
    two_sample_test : also run a classifier two-sample test (a few seconds).
    seed : seed of the subsampling, the permutations and the classifiers.
    n_permutations : image reassignments for each statistic's noise floor and p-value
        (:class:`PatchComparison`); 0 skips them.
    max_values : values per statistic (over both sets) used for KS/W1, subsampled at the same
        random positions in every image.

    Compare every ``wasserstein`` with its ``baseline_wasserstein``: the distance that
    sampling noise alone gives at these set sizes.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((40, 1, 8, 8)), rng.random((40, 1, 8, 8))
    >>> q = image_quality(a, b, patch_sizes=(3,))
    >>> sorted(q.patches), bool(q.pixels.wasserstein < 0.05)
    (['mean3', 'var3'], True)
    """
    x = _images(samples, "samples")
    r = _images(reference, "reference")
    if x.shape[1:] != r.shape[1:]:
        raise ParameterError(
            f"samples and reference must have the same (C, H, W), got {x.shape[1:]} and "
            f"{r.shape[1:]}"
        )
    ks = []
    for k in patch_sizes:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"patch_sizes must be integers >= 1, got {k!r}")
        if k > min(x.shape[2:]):
            raise ParameterError(f"patch size {k} exceeds the image size {x.shape[2:]}")
        ks.append(int(k))
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, int):
        raise ParameterError(f"n_permutations must be an integer >= 0, got {n_permutations!r}")
    if n_permutations < 0:
        raise ParameterError(f"n_permutations must be an integer >= 0, got {n_permutations!r}")
    if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1:
        raise ParameterError(f"max_values must be an integer >= 1, got {max_values!r}")
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    args = (max_values, n_permutations, rng)
    pixels = _patch_comparison("pixels", x.reshape(n, -1), r.reshape(r.shape[0], -1), *args)
    patches = {}
    for k in ks:
        (xm, xv), (rm, rv) = _patch_stats(x, k), _patch_stats(r, k)
        patches[f"mean{k}"] = _patch_comparison(f"mean{k}", xm, rm, *args)
        patches[f"var{k}"] = _patch_comparison(f"var{k}", xv, rv, *args)
    cls = ref_cls = fd = None
    if mnist_dir is not None and x.shape[1:] == (1, 28, 28):
        cls = mnist_classifier_scores(x, mnist_dir, value_range=value_range, seed=seed)
        ref_cls = mnist_classifier_scores(r, mnist_dir, value_range=value_range, seed=seed)
        if min(n, r.shape[0]) >= 4:
            fx, fr = (
                mnist_features(v, mnist_dir, value_range=value_range, seed=seed) for v in (x, r)
            )
            fd = frechet_distance(
                fx, fr, seed=seed, name="MNIST classifier hidden layer (64 ReLU units)"
            )
    acc = se = None
    if two_sample_test:
        if min(n, r.shape[0]) < 10:
            raise ParameterError("two_sample_test needs at least 10 images in each set")
        acc, se = _c2st(x, r, seed)
    return ImageQuality(
        n=n,
        n_ref=r.shape[0],
        pixels=pixels,
        patches=patches,
        classifier=cls,
        reference_classifier=ref_cls,
        c2st_accuracy=acc,
        c2st_stderr=se,
        frechet=fd,
    )
