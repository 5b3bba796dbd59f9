"""Quality metrics: near zero (large p-values) for samples of the same distribution, clearly
nonzero for a different one; exact defect densities of bit-flipped loop gases; image metrics on
MNIST against noise-corrupted digits."""

import doctest
import math
import warnings

import numpy as np
import pytest

import latticediff as ld
import latticediff.quality as quality_module
from latticediff.errors import ParameterError, SamplingWarning
from latticediff.quality import (
    _patch_stats,
    compare_distributions,
    frechet_distance,
    image_quality,
    loopgas_quality,
    mnist_classifier_scores,
    spin_quality,
)

Z = 4.0


def test_doctests():
    res = doctest.testmod(quality_module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted >= 5 and res.failed == 0


def test_compare_distributions():
    rng = np.random.default_rng(0)
    same = compare_distributions(rng.normal(1, 2, 3000), rng.normal(1, 2, 3000), name="x")
    assert same.ks_pvalue > 1e-3 and abs(same.z) < Z and same.wasserstein < 0.2
    assert same.n == same.n_ref == 3000 and same.name == "x"
    shifted = compare_distributions(rng.normal(1.3, 2, 3000), rng.normal(1, 2, 3000))
    assert shifted.ks_pvalue < 1e-6 and shifted.z > Z
    assert abs(shifted.wasserstein - 0.3) < 0.1 and abs(shifted.mean_diff - 0.3) < Z * 0.052
    assert set(shifted.to_dict()) >= {"ks", "ks_pvalue", "wasserstein", "mean_diff", "z"}
    assert "KS" in str(shifted)
    with pytest.raises(ParameterError, match="at least 2 values"):
        compare_distributions([1.0], [1.0, 2.0])
    with pytest.raises(ParameterError, match="NaN"):
        compare_distributions([1.0, np.nan], [1.0, 2.0])


@pytest.fixture(scope="module")
def ising_samples():
    kw = dict(n_samples=400, burn_in=300, thin=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        a = ld.sample(ld.Ising(L=8, T=2.0), seed=1, **kw)
        b = ld.sample(ld.Ising(L=8, T=2.0), seed=2, **kw)
        c = ld.sample(ld.Ising(L=8, T=3.0), seed=3, **kw)
    return a, b, c


def test_spin_quality_same_and_different_temperature(ising_samples):
    a, b, c = ising_samples
    m = ld.Ising(L=8, T=2.0)
    same = spin_quality(a[:, None], b, m)  # channels-first generated samples are accepted
    for comp in same.values():
        assert comp.ks_pvalue > 1e-3 and abs(comp.z) < Z, comp
    assert same["energy"].wasserstein < 0.05 and same["abs_magnetization"].wasserstein < 0.05
    diff = spin_quality(c, b, m)
    for comp in diff.values():
        assert comp.ks_pvalue < 1e-10 and abs(comp.z) > 10, comp
    # energy per site: about -1.75 at T = 2 and -0.8 at T = 3 on an 8 x 8 lattice
    assert diff["energy"].wasserstein > 0.5 and diff["abs_magnetization"].wasserstein > 0.3


def test_spin_quality_potts_and_errors():
    m = ld.Potts(L=4, q=3, T=1.0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(200, 4, 4)).astype(np.uint8)
    y = np.zeros((200, 4, 4), np.uint8)
    y[:100] = 1
    q = spin_quality(x, y, m)
    assert q["energy"].ref_mean == -2.0 and q["abs_magnetization"].ref_mean == 1.0
    assert q["energy"].ks_pvalue < 1e-10
    with pytest.raises(ParameterError, match="Potts states 0..2, got 3"):
        spin_quality(x + 1, y, m)
    with pytest.raises(ParameterError, match="spins -1/\\+1, got 0"):
        spin_quality(np.zeros((5, 4, 4), np.int8), np.ones((5, 4, 4), np.int8), ld.Ising(L=4, T=1))
    with pytest.raises(ParameterError, match="shape \\(n, 4, 4\\)"):
        spin_quality(np.ones((5, 5, 5), np.int8), np.ones((5, 4, 4), np.int8), ld.Ising(L=4, T=1))
    with pytest.raises(ParameterError, match="loopgas_quality"):
        spin_quality(x, y, ld.LoopGas(L=4))


def test_loopgas_quality_true_samples_and_bit_flips():
    model = ld.LoopGas(L=6, x=1.0)
    b = ld.sample(model, n_samples=400, seed=1)
    ref = ld.sample(model, n_samples=400, seed=2)
    q = loopgas_quality(b)
    assert q.defect_density == 0.0 and q.defect_free_fraction == 1.0
    assert sum(q.winding_counts) == 400 and q.winding_pvalue > 1e-3  # uniform sectors at x = 1
    qr = loopgas_quality(b, ref)
    assert qr.winding_pvalue > 1e-3 and qr.occupation.ks_pvalue > 1e-3
    assert qr.reference_winding_counts is not None and sum(qr.reference_winding_counts) == 400
    # Bit flips with probability p: a vertex is a defect iff an odd number of its 4 edges
    # flipped, probability (1 - (1 - 2p)^4) / 2 exactly.
    p = 0.02
    noisy = ld.BitFlip().sample(b, ld.BitFlip().t_of_p(p), np.random.default_rng(0))
    qn = loopgas_quality(noisy)
    exact = (1 - (1 - 2 * p) ** 4) / 2
    assert abs(qn.defect_density - exact) < Z * qn.defect_density_stderr
    assert qn.defect_density > 10 * qn.defect_density_stderr
    assert sum(qn.winding_counts) == round(qn.defect_free_fraction * 400)
    assert qn.to_dict()["occupation"] is None


def test_loopgas_winding_detects_a_wrong_sector_law():
    model = ld.LoopGas(L=4, x=1.0)
    ref = ld.sample(model, n_samples=200, seed=3)
    trivial = np.zeros((200, 2, 4, 4), np.uint8)  # closed (empty) loops, all in sector (0, 0)
    q = loopgas_quality(trivial)
    assert q.defect_density == 0.0 and q.winding_counts == (200, 0, 0, 0)
    assert q.winding_pvalue < 1e-10
    assert loopgas_quality(trivial, ref).winding_pvalue < 1e-10
    assert loopgas_quality(trivial, trivial).winding_pvalue == 1.0
    one = loopgas_quality(trivial[:1])
    assert math.isnan(one.winding_pvalue) and math.isnan(one.defect_density_stderr)
    with pytest.raises(ParameterError, match="edge bits 0/1, got 2"):
        loopgas_quality(trivial + 2)
    with pytest.raises(ParameterError, match="\\(n, 2, L, L\\)"):
        loopgas_quality(np.zeros((3, 1, 4, 4), np.uint8))
    with pytest.raises(ParameterError, match="reference has L=5"):
        loopgas_quality(trivial, np.zeros((2, 2, 5, 5), np.uint8))


def test_patch_statistics_match_a_direct_computation():
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.random.default_rng(0).random((3, 2, 7, 9)) + 100.0  # offset: cancellation check
    for k in (1, 3, 5):
        m, v = _patch_stats(x, k)
        w = sliding_window_view(x, (k, k), axis=(-2, -1))
        assert np.allclose(m, w.mean(axis=(-2, -1)).reshape(3, -1), rtol=0, atol=1e-10)
        assert np.allclose(v, w.var(axis=(-2, -1)).reshape(3, -1), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def mnist_sets(request):
    from tests.conftest import MNIST_DIR

    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST test set not found at {MNIST_DIR}")
    from latticediff.images import load_mnist

    x, _ = load_mnist(MNIST_DIR)
    # Random disjoint subsets of the images the classifier does not train on (index >= 5000);
    # consecutive blocks of MNIST are not exchangeable (they come from different writers).
    perm = 5000 + np.random.default_rng(0).permutation(5000)
    a, b = x[perm[:400]], x[perm[400:800]]
    noisy = np.clip(a + 0.3 * np.random.default_rng(1).standard_normal(a.shape), 0, 1)
    return MNIST_DIR, a, b, noisy.astype(np.float32)


def test_image_patch_metrics(mnist_sets):
    _, a, b, noisy = mnist_sets
    same = image_quality(a, b)
    diff = image_quality(noisy, b)
    for key in ("mean3", "var3", "mean5", "var5"):
        s, d = same.patches[key], diff.patches[key]
        # same distribution: at the permutation noise floor; noisy digits: far above it
        assert s.wasserstein < 2.5 * s.baseline_wasserstein, (key, s)
        assert d.wasserstein > 10 * d.baseline_wasserstein and d.pvalue == 1 / 21, (key, d)
        assert abs(s.mean_diff) < Z * s.mean_diff_stderr
    assert same.pixels.wasserstein < 2.5 * same.pixels.baseline_wasserstein
    assert diff.pixels.ks > 0.2 and same.pixels.ks < 0.05
    assert same.classifier is None and same.c2st_accuracy is None
    assert set(same.to_dict()["patches"]) == {"mean3", "var3", "mean5", "var5"}
    with pytest.raises(ParameterError, match="same \\(C, H, W\\)"):
        image_quality(a, b[:, :, :20])
    with pytest.raises(ParameterError, match="patch size 30 exceeds"):
        image_quality(a, b, patch_sizes=(30,))


def test_image_classifier_scores_and_two_sample_test(mnist_sets):
    folder, a, b, noisy = mnist_sets
    q = image_quality(a, b, patch_sizes=(3,), mnist_dir=folder, two_sample_test=True)
    real, ref = q.classifier, q.reference_classifier
    assert real.classifier_accuracy > 0.9  # held-out MNIST test images
    assert real.confidence > 0.9 and real.inception_score > 7.5
    assert abs(real.confidence - ref.confidence) < Z * math.hypot(
        real.confidence_stderr, ref.confidence_stderr
    )
    assert abs(q.c2st_accuracy - 0.5) < Z * q.c2st_stderr  # real vs real: indistinguishable
    # Uniform noise images: no digit-like structure, collapsed class distribution.
    junk = np.random.default_rng(2).random((200, 1, 28, 28)).astype(np.float32)
    sj = mnist_classifier_scores(junk, folder)
    assert sj.inception_score < 3 and sj.class_entropy < 1.5
    # Signed data are mapped back with value_range.
    signed = mnist_classifier_scores(2 * a - 1, folder, value_range=(-1, 1))
    assert signed.confidence == pytest.approx(real.confidence)
    qn = image_quality(noisy, b, patch_sizes=(3,), two_sample_test=True)
    assert qn.c2st_accuracy > 0.9
    assert qn.frechet is None  # no classifier features without mnist_dir
    with pytest.raises(ParameterError, match="\\(n, 1, 28, 28\\)"):
        mnist_classifier_scores(np.zeros((3, 1, 8, 8)), folder)


# ----------------------------------------------------------------------------------------------
# Frechet distance


def _frechet_closed_form(mu1, c1, mu2, c2):
    """The textbook formula with scipy's general matrix square root (an independent route)."""
    from scipy.linalg import sqrtm

    cross = sqrtm(c1 @ c2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * cross))


def test_frechet_formula_matches_scipy_sqrtm():
    from latticediff.quality import _frechet

    rng = np.random.default_rng(3)
    for d in (1, 2, 5, 16):
        A, B = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        c1, c2 = A @ A.T + 0.1 * np.eye(d), B @ B.T + 0.1 * np.eye(d)
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        assert _frechet(mu1, c1, mu2, c2) == pytest.approx(
            _frechet_closed_form(mu1, c1, mu2, c2), rel=1e-8, abs=1e-10
        )
        assert _frechet(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-9 * np.trace(c1))


def test_frechet_distance_of_gaussian_samples_matches_exact_value():
    """Samples of two known Gaussians: the estimate lies within 4 bootstrap errors of the exact
    2-Wasserstein distance squared, and two samples of one Gaussian sit at the noise floor."""
    rng = np.random.default_rng(4)
    mu1, mu2 = np.array([0.0, 1.0, -0.5]), np.array([0.5, 0.5, 0.0])
    A = np.array([[1.0, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.5]])
    B = np.array([[0.6, 0.0, 0.0], [0.2, 1.2, 0.0], [0.0, 0.4, 0.9]])
    a = mu1 + rng.normal(size=(20000, 3)) @ A.T
    b = mu2 + rng.normal(size=(20000, 3)) @ B.T
    exact = _frechet_closed_form(mu1, A @ A.T, mu2, B @ B.T)
    fd = frechet_distance(a, b, n_boot=100, seed=1)
    assert abs(fd.value - exact) < Z * fd.stderr, (fd, exact)
    assert fd.noise_floor < 0.1 * exact
    same = frechet_distance(a[:10000], a[10000:], n_boot=100)
    assert abs(same.value - same.noise_floor) < Z * math.hypot(same.stderr, same.noise_floor_stderr)
    flipped = frechet_distance(b, a, n_boot=100, seed=1)
    assert flipped.value == pytest.approx(fd.value, rel=1e-9)  # symmetric


def test_frechet_distance_rejects_bad_input():
    a = np.zeros((10, 3))
    with pytest.raises(ParameterError, match="same d"):
        frechet_distance(a, np.zeros((10, 2)))
    with pytest.raises(ParameterError, match="n >= 4"):
        frechet_distance(a[:3], a)
    with pytest.raises(ParameterError, match="NaN"):
        frechet_distance(np.full((10, 3), np.nan), a)
    with pytest.raises(ParameterError, match="n_boot"):
        frechet_distance(a, a, n_boot=1)


def test_image_frechet_distance_on_mnist(mnist_sets):
    """Real vs real digits: at the reference's noise floor; noisy digits: far above it."""
    folder, a, b, noisy = mnist_sets
    q = image_quality(a, b, patch_sizes=(3,), mnist_dir=folder)
    fd = q.frechet
    assert fd.n_features == 64 and fd.n == 400 and fd.n_ref == 400
    assert abs(fd.value - fd.noise_floor) < Z * math.hypot(fd.stderr, fd.noise_floor_stderr)
    qn = image_quality(noisy, b, patch_sizes=(3,), mnist_dir=folder)
    fn = qn.frechet
    assert fn.value - fn.noise_floor > 5 * math.hypot(fn.stderr, fn.noise_floor_stderr)
    assert q.to_dict()["frechet"]["value"] == fd.value
