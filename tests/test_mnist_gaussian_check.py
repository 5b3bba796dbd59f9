"""The network-free Gaussian cross-check of the MNIST CMI map (``mnist_cmi/gaussian_check.py``):
the Schur-complement CMI against the log-determinant form and the Gaussian field's exact CMI,
the principal-component variant's algebra, the bootstrap covariance, and the command line."""

import json

import numpy as np
import pytest

from latticediff.exact.gaussian_field import GaussianField
from latticediff.lattice import shell_mask

from ._scripts import load_script


@pytest.fixture(scope="module")
def gc():
    return load_script("mnist_cmi/gaussian_check.py")


def _spd(n, seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, 2 * n))
    return G @ G.T / (2 * n) + 0.05 * np.eye(n)


def _torus_regions(L, r):
    """A = site 0, B = the periodic L-inf shell 0 < d <= r, C = the rest: the field's geometry."""
    mA, mB, mC = shell_mask((L, L), (0, 0), r, periodic=True)
    return tuple(np.flatnonzero(m.ravel()) for m in (mA, mB, mC))


def test_gaussian_cmi_equals_logdet_form(gc):
    S = _spd(12, 0)
    for A, B, C in [([0], [1, 2, 3], [4, 5, 6, 7]), ([5], [], [0, 1, 11]), ([2, 3], [7], [9, 10])]:
        a, b = gc.gaussian_cmi(S, A, B, C), gc.gaussian_cmi_logdet(S, A, B, C)
        assert a > 1e-4
        assert abs(a - b) < 1e-12 * max(1.0, abs(a))


@pytest.mark.parametrize("t", [0.3, 0.7])
@pytest.mark.parametrize("r", [1, 2])
def test_gaussian_cmi_matches_the_fields_exact_cmi(gc, t, r):
    g = GaussianField(8, 0.5)
    St = gc.path_cov(g.covariance(), t)
    assert np.allclose(St, g.cov_t(t), atol=1e-14)  # the linear path's covariance
    A, B, C = _torus_regions(8, r)
    exact = g.exact_cmi(t, r)
    assert exact > 1e-6
    assert abs(gc.gaussian_cmi(St, A, B, C) - exact) < 1e-10 * exact + 1e-14
    assert abs(gc.gaussian_cmi_logdet(St, A, B, C) - exact) < 1e-9 * exact + 1e-13
    # the grid routine (shared Var(A | rest), path covariance inside) with the torus geometry
    grid = gc.cmi_grid(g.covariance(), [t], [r], geometry=lambda rr: _torus_regions(8, rr))
    assert abs(grid["full"][0, 0] - exact) < 1e-10 * exact + 1e-14


def test_image_geometry_is_clipped(gc):
    A, B, C = gc.regions(12)
    assert A.tolist() == [14 * 28 + 14]
    assert B.size == 25 * 25 - 1 and A.size + B.size + C.size == 784
    assert len(set(A) | set(B) | set(C)) == 784
    _, B1, _ = gc.regions(1, shape=(6, 6), center=(0, 0))  # a corner: clipped, not wrapped
    assert sorted(B1.tolist()) == [1, 6, 7]


def test_pc_variant_is_a_lower_bound_and_exact_with_all_components(gc):
    L = 7
    geo = lambda r: gc.regions(r, shape=(L, L), center=(3, 3))  # noqa: E731
    Sigma = _spd(L * L, 1)
    ts, radii = [0.4, 0.7, 0.9], [1, 2]
    g = gc.cmi_grid(Sigma, ts, radii, k=3, geometry=geo)
    assert np.all(g["full"] > 0) and np.all(g["pc"] > 0)
    assert np.all(g["pc"] <= g["full"] + 1e-15)
    assert np.any(g["pc"] < 0.9 * g["full"])  # three components lose something here
    # every component kept: f is a rotation of C, the value is the full one
    k_all = L * L
    g_all = gc.cmi_grid(Sigma, ts, radii, k=k_all, geometry=geo)
    assert np.allclose(g_all["pc"], g_all["full"], rtol=1e-9, atol=1e-14)


def test_pc_covariance_equals_explicit_projection(gc):
    L, k, t, r = 7, 4, 0.6, 1
    Sigma = _spd(L * L, 2)
    A, B, C = gc.regions(r, shape=(L, L), center=(3, 3))
    lam, V = np.linalg.eigh(Sigma[np.ix_(C, C)])
    V = V[:, -k:]
    M = np.zeros((1 + B.size + k, L * L))
    M[0, A[0]] = 1.0
    M[1 + np.arange(B.size), B] = 1.0
    M[1 + B.size :, C] = V.T
    F = M @ gc.path_cov(Sigma, t) @ M.T  # covariance of the noisy features, directly
    nb = B.size
    want = gc.gaussian_cmi(F, [0], np.arange(1, 1 + nb), np.arange(1 + nb, 1 + nb + k))
    got = gc.cmi_grid(Sigma, [t], [r], k=k, geometry=lambda rr: (A, B, C))["pc"][0, 0]
    assert want > 1e-4
    assert abs(got - want) < 1e-10 * want
    Fc, lam_top = gc.feature_cov(Sigma, A, B, C, k=k)
    assert np.allclose(lam_top, lam[::-1][:k])
    # equal up to the signs of the axes: M's last k rows are V^T
    Ft = gc.path_cov(Fc, t)
    m = 1 + nb
    assert np.allclose(Ft[:m, :m], F[:m, :m], atol=1e-12)
    assert np.allclose(Ft[m:, m:], F[m:, m:][::-1, ::-1], atol=1e-12)  # diagonal, largest first
    assert np.allclose(np.abs(Ft[:m, m:]), np.abs(F[:m, m:][:, ::-1]), atol=1e-12)


def test_weighted_cov_is_the_covariance_of_the_resample(gc):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 6))
    Xc = X - X.mean(axis=0)
    w = rng.multinomial(50, np.full(50, 1 / 50)).astype(float)
    rows = np.repeat(np.arange(50), w.astype(int))
    assert np.allclose(gc.weighted_cov(Xc, w), np.cov(X[rows], rowvar=False, bias=True))
    assert np.allclose(gc.weighted_cov(Xc), np.cov(X, rowvar=False, bias=True))


def test_quick_run_end_to_end(gc, mnist_dir, tmp_path, capsys):
    fake = {
        "t": [0.7, 1.0],
        "radius": [1, 4],
        "cmi": [[0.01, 0.004], [0.0, 0.0]],
        "cmi_stderr": [[0.001, 0.0005], [0.0, 0.0]],
        "identical_copies": [[False, True], [False, False]],
    }
    (tmp_path / "results.json").write_text(json.dumps(fake))
    out = tmp_path / "out"
    argv = ["--quick", "--mnist", str(mnist_dir), "--out", str(out), "--n-boot", "3"]
    assert gc.main(argv + ["--immse", str(tmp_path / "results.json")]) == 0
    res = json.loads((out / "gaussian_check.json").read_text())
    assert not list(out.glob("*.tmp"))
    assert (out / "gaussian_check.png").stat().st_size > 10_000
    assert res["t"] == [0.7, 0.9] and res["radius"] == [1, 2, 4]
    assert res["settings"]["n_boot"] == 3 and res["settings"]["n_images"] == 2000
    full, pc = np.array(res["full"]["value"]), np.array(res["pc16"]["value"])
    assert full.shape == pc.shape == (2, 3)
    assert np.all(pc > 0) and np.all(pc <= full)
    assert np.all(np.array(res["full"]["boot_sd"]) > 0)
    assert np.all(np.diff(full, axis=0) < 0)  # decays towards pure noise
    ex = res["expansion"]
    assert ex["snr"][1] == pytest.approx(1 / 81) and ex["s_var_A"][1] < 0.02
    rows = {(c["t"], c["radius"]): c for c in res["immse_comparison"]}
    assert set(rows) == {(0.7, 1), (0.7, 4)}  # t = 0.9 and r = 2 are not on the fake grid
    c = rows[(0.7, 1)]
    assert c["ratio_pc16"] == pytest.approx(0.01 / c["gauss_pc16"])
    assert c["diff_full"] == pytest.approx(0.01 - c["gauss_full"])
    assert c["diff_full_err"] == pytest.approx(np.hypot(0.001, c["gauss_full_sd"]))
    assert rows[(0.7, 4)]["immse_identical_copies"] is True
    assert "gauss_full" in capsys.readouterr().out


def test_missing_mnist_dir_exits_2_with_one_line(gc, tmp_path, capsys):
    missing = tmp_path / "no_mnist_here"
    with pytest.raises(SystemExit) as exc:
        gc.main(["--mnist", str(missing), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]
    assert not (tmp_path / "out").exists()
