"""The loop-gas denoiser study (analysis/loopgas_denoisers/run.py) at small size.

Exact references checked against brute-force enumeration; a trained radius-1 denoiser against
the exact Bayes-optimal radius-1 cross-entropy; the exact excess loss Delta(r) of the
Bayes-optimal local denoisers is positive near p_c and falls with r; and (slow) the whole
pipeline at L = 8 with the generation check that all-local sampling leaves vertex defects.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

import latticediff as ld
from latticediff.systems import LoopGas

from .._scripts import load_script

RUN = Path(__file__).resolve().parents[2] / "analysis" / "loopgas_denoisers" / "run.py"


@pytest.fixture(scope="module")
def study():
    return load_script(RUN)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny networks: one intra-op thread is faster and immune to a busy machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _brute_local_table(r, p, L=8):
    """P(sigma, e_A) by enumerating every error on the window's edges, syndromes from
    LoopGas.vertex_parity on an embedding torus (a different code path from the study's)."""
    c = L // 2
    win = [(ch, c + i, c + j) for i in range(-r, r + 1) for j in range(-r, r + 1) for ch in (0, 1)]
    n = len(win)
    bits = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(np.uint8)
    e = np.zeros((1 << n, 2, L, L), np.uint8)
    for k, (ch, i, j) in enumerate(win):
        e[:, ch, i, j] = bits[:, k]
    par = LoopGas.vertex_parity(e)
    inner = [(i, j) for i in range(-r + 1, r + 1) for j in range(-r + 1, r + 1)]
    sig = sum(par[:, c + i, c + j].astype(np.int64) << b for b, (i, j) in enumerate(inner))
    a = e[:, 0, c, c].astype(np.int64) + 2 * e[:, 1, c, c]
    w = p ** bits.sum(1) * (1 - p) ** (n - bits.sum(1))
    out = np.zeros((1 << len(inner), 4))
    np.add.at(out, (sig, a), w)
    return out


def test_local_table_matches_bruteforce(study):
    for p in (0.03, 0.11, 0.3):
        table = study.local_syndrome_table(1, p)
        np.testing.assert_allclose(table, _brute_local_table(1, p), rtol=1e-12, atol=1e-15)
    # limits: no information at p = 1/2, and the radius-1 window beats radius 0 (h(p))
    assert study.exact_local_ce(1, 0.5) == pytest.approx(math.log(2), abs=1e-12)
    for p in (0.05, 0.11, 0.2):
        h0, h1, h2 = study.binary_entropy(p), study.exact_local_ce(1, p), study.exact_local_ce(2, p)
        assert h0 > h1 > h2 > 0


def _cycle_space(L):
    """All 2^(L^2 + 1) cycles of the L x L torus (edge layout of LoopGas), as (n, 2, L, L)."""
    basis = []
    for i, j in list(itertools.product(range(L), range(L)))[1:]:  # L^2 - 1 independent plaquettes
        b = np.zeros((2, L, L), np.uint8)
        b[0, i, j] = b[0, (i + 1) % L, j] = b[1, i, j] = b[1, i, (j + 1) % L] = 1
        basis.append(b)
    wx = np.zeros((2, L, L), np.uint8)
    wx[0, 0, :] = 1
    wy = np.zeros((2, L, L), np.uint8)
    wy[1, :, 0] = 1
    basis += [wx, wy]
    B = np.array(basis).reshape(len(basis), -1).astype(np.int64)
    k = len(basis)
    coef = (np.arange(1 << k)[:, None] >> np.arange(k)) & 1
    Z = (coef @ B) % 2
    assert len({z.tobytes() for z in Z.astype(np.uint8)}) == 1 << k  # independent
    assert not LoopGas.vertex_parity(Z.reshape(-1, 2, L, L)).any()  # closed
    return Z.reshape(-1, 2, L, L).astype(np.uint8)


def test_global_posterior_matches_bruteforce(study):
    L, p = 3, 0.13
    Z = _cycle_space(L)
    assert len(Z) == 2 ** (L * L + 1)
    rng = np.random.default_rng(0)
    x = Z[rng.integers(0, len(Z), 5)]
    y = x ^ (rng.random(x.shape) < p).astype(np.uint8)
    sites = (np.arange(5), rng.integers(0, L, 5), rng.integers(0, L, 5))
    got = study.global_posterior(p, y, sites)
    for k in range(5):
        s, i, j = sites[0][k], sites[1][k], sites[2][k]
        flips = (Z ^ y[s]).reshape(len(Z), -1).sum(1)
        w = p**flips * (1 - p) ** (2 * L * L - flips)
        ea = (Z[:, 0, i, j] ^ y[s, 0, i, j]).astype(int) + 2 * (Z[:, 1, i, j] ^ y[s, 1, i, j])
        want = np.bincount(ea, weights=w, minlength=4)
        np.testing.assert_allclose(got[k], want / want.sum(), rtol=1e-9, atol=1e-12)


def test_all_site_global_posterior_equals_per_site_pfaffians(study):
    """The one-factorisation route (rank-4 updates) against brute force on the 3 x 3 torus and
    against four Pfaffians per site at L = 6, from p near 0 to near 1/2."""
    L = 3
    Z = _cycle_space(L)
    rng = np.random.default_rng(1)
    x = Z[rng.integers(0, len(Z), 3)]
    y = x ^ (rng.random(x.shape) < 0.13).astype(np.uint8)
    got = study.global_posterior_all(0.13, y)
    for s in range(3):
        flips = (Z ^ y[s]).reshape(len(Z), -1).sum(1)
        w = 0.13**flips * 0.87 ** (2 * L * L - flips)
        for i, j in itertools.product(range(L), range(L)):
            ea = (Z[:, 0, i, j] ^ y[s, 0, i, j]).astype(int) + 2 * (Z[:, 1, i, j] ^ y[s, 1, i, j])
            want = np.bincount(ea, weights=w, minlength=4)
            np.testing.assert_allclose(got[s, i, j], want / want.sum(), rtol=1e-9, atol=1e-12)
    L = 6
    x = np.asarray(ld.sample(LoopGas(L=L, x=1.0), n_samples=3, seed=2))
    ii, jj = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    for p in (0.002, 0.05, 0.11, 0.3, 0.44):
        y = x ^ (rng.random(x.shape) < p).astype(np.uint8)
        got = study.global_posterior_all(p, y)
        for s in range(3):
            sites = (np.full(L * L, s), ii.ravel(), jj.ravel())
            want = study.global_posterior(p, y, sites).reshape(L, L, 4)
            np.testing.assert_allclose(got[s], want, rtol=1e-8, atol=1e-12)


def test_excess_over_exact_global_is_zero_for_the_exact_denoiser(study):
    """excess_over_exact_global: the exact global module has no excess (to rounding); for the
    exact radius-1 denoiser it is the exact radius-1 gap, computed here per site the way
    exact_comparison does (per-site Pfaffians and the syndrome table)."""
    from latticediff.noise import BitFlip

    proc = BitFlip(gamma=1.0)
    xs = np.asarray(ld.sample(LoopGas(L=6, x=1.0), n_samples=4, seed=3))
    ps = [0.05, 0.11]
    ex = study.excess_over_exact_global(study.exact_global_module(), xs, proc, ps)
    assert ex["p"] == ps and ex["n_samples"] == 4
    np.testing.assert_allclose(ex["mean"], 0.0, atol=1e-9)
    loc = study.excess_over_exact_global(study.exact_local_module(1, proc), xs, proc, ps)
    u = np.random.default_rng(study.SEEDS["exact_noise"]).random(xs.shape)
    ii, jj = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    for k, p in enumerate(ps):
        y = xs ^ (u < p).astype(np.uint8)
        sites = (np.repeat(np.arange(4), 36), np.tile(ii.ravel(), 4), np.tile(jj.ravel(), 4))
        ya = np.stack([y[sites[0], 0, sites[1], sites[2]], y[sites[0], 1, sites[1], sites[2]]], 1)
        px_g = study._px(study.edge_marginals(study.global_posterior(p, y, sites)), ya)
        px_l = study._px(study.edge_marginals(study.local_posterior(1, p, y, sites)), ya)
        want = study.kl_bits(px_g, px_l).mean()
        assert loc["mean"][k] == pytest.approx(want, rel=1e-6) and want > 0.02  # float32 logits


def test_exact_gap_positive_and_falls_with_radius(study):
    """Delta(r) = E KL(P(x_A|y) || P(x_A|y_Q)) > 0 at p = 0.11 on L = 8, smaller for r = 2."""
    L, p, n = 8, 0.11, 64
    x = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=5)
    y = x ^ (np.random.default_rng(1).random(x.shape) < p).astype(np.uint8)
    # four well-separated sites per sample; errors from the spread of the per-sample means
    sites = (np.repeat(np.arange(n), 4), np.tile([0, 4, 0, 4], n), np.tile([1, 1, 5, 5], n))
    pg = study.edge_marginals(study.global_posterior(p, y, sites))
    kl = {}
    for r in (1, 2):
        pl = study.edge_marginals(study.local_posterior(r, p, y, sites))
        kl[r] = study.kl_bits(pg, pl).mean(axis=1).reshape(n, 4).mean(axis=1)
    se = {r: kl[r].std(ddof=1) / math.sqrt(n) for r in kl}
    assert kl[1].mean() > 4 * se[1]
    d = kl[1] - kl[2]
    assert d.mean() > 3 * d.std(ddof=1) / math.sqrt(n)


def test_trained_radius1_denoiser_reaches_exact_bayes_ce(study):
    """A radius-1 LocalDenoiser trained briefly at p = 0.11 (L = 8) gets within 0.025 nats of
    the exact Bayes-optimal radius-1 cross-entropy, and never below it (beyond noise)."""
    from latticediff.nn import LocalDenoiser, evaluate_per_site_loss, train_denoiser
    from latticediff.noise import BitFlip

    bf, p, L = BitFlip(gamma=1.0), 0.11, 8
    t = float(bf.t_of_p(p))
    data = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=2000, seed=1)
    test = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=400, seed=2)
    net = LocalDenoiser(1, 2, 4, hidden=64, depth=2, spatial_layers=1, seed=0)
    train_denoiser(
        net, data, bf, steps=300, batch_size=64, lr=3e-3, seed=0, t_sampler=t, progress=False
    )
    res = evaluate_per_site_loss(net, test, bf, [t], seed=3)
    exact = study.exact_local_ce(1, p)
    ce, se = float(res.mean[0]), float(res.stderr[0])
    assert ce > exact - 4 * se
    assert ce < exact + 0.025  # the no-context value h(p) is exact + 0.097


def test_region_pfaffian_local_posterior_matches_table(study, monkeypatch):
    """The r >= 3 code path (window Pfaffians + channel inversion) agrees with the exact
    r <= 2 tables when forced onto r = 1, 2."""
    L, p, n = 8, 0.09, 3
    x = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=7)
    y = x ^ (np.random.default_rng(2).random(x.shape) < p).astype(np.uint8)
    sites = (np.arange(n), np.array([0, 3, 7]), np.array([6, 0, 2]))
    for r in (1, 2):
        want = study.local_posterior(r, p, y, sites)
        got = np.empty_like(want)
        for k in range(n):
            mask = np.zeros((L, L), bool)
            idx = np.arange(-r, r + 1)
            mask[np.ix_((sites[1][k] + idx) % L, (sites[2][k] + idx) % L)] = True
            one = ([k], [sites[1][k]], [sites[2][k]])
            got[k] = study._posterior_from_pfaffians(p, y, one, mask)[0]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_exact_local_module_is_local_and_exact(study):
    """The Bayes radius-2 sampler module reproduces local_posterior and ignores every input
    outside its window (changing all of them leaves the centre's logits bitwise equal)."""
    import torch

    from latticediff.nn import encode_input
    from latticediff.noise import BitFlip

    bf, L, r, p = BitFlip(gamma=1.0), 9, 2, 0.1
    mod = study.exact_local_module(r, bf)
    x = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=2, seed=3)
    y = x ^ (np.random.default_rng(4).random(x.shape) < p).astype(np.uint8)
    c = torch.full((2,), 2 * p)
    out = mod(encode_input(y, bf), c).numpy().reshape(2, 2, 2, L, L)  # (n, K, C, L, L)
    px1 = 1 / (1 + np.exp(out[:, 0] - out[:, 1]))  # P(x_c = 1)
    sites = (np.array([0, 1]), np.array([4, 0]), np.array([4, 8]))
    pe = study.edge_marginals(study.local_posterior(r, p, y, sites))
    for k in range(2):
        s, i, j = sites[0][k], sites[1][k], sites[2][k]
        want = np.where(y[s, :, i, j] == 1, 1 - pe[k], pe[k])
        np.testing.assert_allclose(px1[s, :, i, j], want, rtol=1e-6)  # float32 logits
    # perturb everything outside the window of the centre site (4, 4)
    inside = np.zeros((L, L), bool)
    inside[2:7, 2:7] = True
    y2 = y.copy()
    y2[:, :, ~inside] ^= 1
    out2 = mod(encode_input(y2, bf), c).numpy().reshape(2, 2, 2, L, L)
    assert np.array_equal(out2[..., 4, 4], out[..., 4, 4])
    y3 = y.copy()
    y3[0, 0, 3, 3] ^= 1  # edge (3,3)-(3,4): flips two inner-star parities of the window
    out3 = mod(encode_input(y3, bf), c).numpy().reshape(2, 2, 2, L, L)
    assert not np.array_equal(out3[0, :, :, 4, 4], out[0, :, :, 4, 4])


@pytest.mark.slow
def test_exact_local_sampler_leaves_defects_that_global_avoids(study):
    """Ancestral sampling at L = 6 with the Bayes-optimal denoisers: radius 1 leaves vertex
    defects, the global one (Pfaffians) generates closed loops (~1 min)."""
    from latticediff.noise import BitFlip

    plan = dict(exact_gen_L=6, exact_gen_n=8, exact_gen_steps=40, n_reference=200)
    res, _ = study.generate_exact(BitFlip(gamma=1.0), plan, (0.0, 0.2), lambda *_: None)
    loc = res["schedules"]["exact local r=1"]["quality"]
    glo = res["schedules"]["exact global"]["quality"]
    assert loc["defect_density"] > 5 * loc["defect_density_stderr"] > 0
    assert glo["defect_density"] < loc["defect_density"] - 4 * loc["defect_density_stderr"]
    assert glo["defect_free_fraction"] >= 0.75


def _tiny_plan(study, **extra):
    """A plan at L = 8 small enough for the default test run; ``extra`` overrides its keys."""
    return (
        dict(
            study.PLANS["quick"],
            L=8,
            radii=[1, 2, 3],
            n_train=128,
            steps=6,
            anneal_steps=2,
            n_eval=8,
            p_eval=[0.05, 0.1, 0.15, 0.2],
            exact_p=[0.08, 0.12],
            exact_samples=2,
            exact_local_samples=1,
            gen_n=2,
            gen_steps=4,
            exact_gen_L=4,
            exact_gen_n=2,
            exact_gen_steps=4,
            n_reference=20,
            bootstrap=10,
        )
        | extra
    )


@pytest.mark.slow
def test_study_quick_pipeline(study, tmp_path):
    """The whole study at a tiny plan (L = 8): every stage runs and writes its outputs."""
    import json

    study.PLANS["tiny"] = _tiny_plan(
        study,
        n_train=256,
        steps=20,
        anneal_steps=5,
        n_eval=16,
        gen_n=4,
        gen_steps=6,
        exact_gen_n=2,
        exact_gen_steps=6,
        n_reference=50,
        bootstrap=20,
    )
    try:
        assert study.main(["--plan", "tiny", "--out", str(tmp_path)]) == 0
    finally:
        del study.PLANS["tiny"]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["complete"]
    assert set(res["evaluation"]["delta"]) == {"1", "2", "3"}
    assert "hybrid r=3 + global" in res["generation"]["schedules"]
    for stem in ("delta_vs_p", "cross_entropy", "defects", "samples"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 0


def test_train_only_processes_then_resume_on_another_machine(study, tmp_path):
    """The device path of gpu_run.sh at a tiny plan: models trained one per call (as one
    process per model would) equal one sequential training bitwise; a --no-exact run loads them;
    --resume keeps its stages and adds the exact ones; --trained-on without weights exits 2."""
    import json

    import torch

    study.PLANS["tiny-dev"] = _tiny_plan(study, features="vertex_parity", grad_clip=1.0)
    models, out = tmp_path / "m", tmp_path / "out"
    base = ["--plan", "tiny-dev", "--models-dir", str(models), "--out", str(out)]
    try:
        for name in ("global", "r=3", "r=2", "r=1"):  # any order: seeds belong to the names
            assert study.main([*base, "--train-only", name]) == 0
        (cache,) = models.iterdir()
        assert not (cache / "train_info.json").exists()
        seq = tmp_path / "seq"  # the same plan, trained in one process
        assert (
            study.main([*base[:2], "--models-dir", str(seq), "--train-only", "r=1,r=2,r=3,global"])
            == 0
        )
        for name in ("r=1", "r=2", "r=3", "global"):
            a = torch.load(cache / f"{name}.pt", weights_only=True)
            b = torch.load(next(seq.iterdir()) / f"{name}.pt", weights_only=True)
            assert all(torch.equal(a[k], b[k]) for k in a)
        assert study.main([*base, "--no-exact"]) == 0
        first = json.loads((out / "results.json").read_text())
        assert first["exact"] is None and first["generation"] is not None
        assert (cache / "train_info.json").exists()  # merged from the per-model files
        assert study.main([*base, "--resume", "--trained-on", "cpu"]) == 0
        res = json.loads((out / "results.json").read_text())
        assert res["complete"] and res["trained_on"] == "cpu"
        assert res["stages_kept_from_previous_run"] == {"evaluation": "cpu", "generation": "cpu"}
        assert res["evaluation"] == first["evaluation"]
        assert set(res["exact"]["delta_exact"]) == {"1", "2", "3"}
        assert res["generation_exact"]["L"] == 4
        with pytest.raises(SystemExit) as e:  # no weights trained on cuda in this cache
            study.main([*base, "--trained-on", "cuda"])
        assert e.value.code == 2
        with pytest.raises(SystemExit) as e:  # a results.json of another plan
            study.main(["--quick", "--out", str(out), "--resume"])
        assert e.value.code == 2
    finally:
        del study.PLANS["tiny-dev"]


# ---------------------------------------------------------------------------------------------
# exact_gap.py: the Bayes-optimal gap at larger L and r, without networks


@pytest.fixture(scope="module")
def gap_script():
    return load_script(RUN.parent / "exact_gap.py")


def test_gap_vanishes_when_the_window_covers_the_torus(gap_script):
    """A radius-3 window on a 6 x 6 torus covers every edge: the local posterior is the global
    one through another Pfaffian route (region mask vs whole torus), so Delta = 0 to rounding,
    while r = 1, 2 (syndrome tables) leave a positive gap near p_c."""
    L, n = 6, 6
    x = np.asarray(ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=5))
    u = np.random.default_rng(0).random(x.shape)
    sites = gap_script.sites_of(L, n, 1)
    d = gap_script.gaps_at(0.1, x, u, sites, [1, 2, 3])
    assert d.shape == (3, n)
    assert np.all(d[:2] >= 0) and d[0].mean() > 1e-3 and d[1].mean() > 1e-4
    assert np.abs(d[2]).max() < 1e-9, d[2]


def test_gaps_at_all_site_posterior_equals_per_site_route_and_sites_grid(gap_script, study):
    """gaps_at reads the global posterior from the all-site factorisation; it equals the per-site
    Pfaffian route on the same sites. sites_of puts k^2 translates on a grid of spacing L/k."""
    L, n, p = 8, 3, 0.1
    x = np.asarray(ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=7))
    u = np.random.default_rng(2).random(x.shape)
    sites = gap_script.sites_of(L, n, 4)
    d = gap_script.gaps_at(p, x, u, sites, [1, 3])
    n_idx, i0, j0 = sites
    y = x ^ (u < p).astype(np.uint8)
    ya = np.stack([y[n_idx, 0, i0, j0], y[n_idx, 1, i0, j0]], axis=1)
    px_g = study._px(study.edge_marginals(study.global_posterior(p, y, sites)), ya)
    for k, r in enumerate([1, 3]):
        px_l = study._px(study.edge_marginals(study.local_posterior(r, p, y, sites)), ya)
        want = study.kl_bits(px_g, px_l).mean(axis=1).reshape(n, -1).mean(axis=1)
        np.testing.assert_allclose(d[k], want, rtol=1e-7, atol=1e-12)
    s16 = gap_script.sites_of(L, n, 4, per=16)
    assert len(s16[0]) == 16 * n and np.array_equal(s16[0], np.repeat(np.arange(n), 16))
    di = (s16[1][:16] - s16[1][0]) % L
    dj = (s16[2][:16] - s16[2][0]) % L
    assert sorted(zip(di.tolist(), dj.tolist(), strict=True)) == [
        (a, b) for a in (0, 2, 4, 6) for b in (0, 2, 4, 6)
    ]
    with pytest.raises(ValueError, match="square"):
        gap_script.sites_of(L, n, 4, per=8)


def test_drift_fit_recovers_the_limit(gap_script):
    radii = [1, 2, 3, 4, 5, 6]
    peaks = [0.11 - 0.12 / r for r in radii]
    peaks[0] = None  # a radius without a peak is skipped
    a, b = gap_script.drift_fit(radii, peaks, [0.01] * 6, fit_from=2)
    assert abs(a - 0.11) < 1e-12 and abs(b + 0.12) < 1e-12
    assert gap_script.drift_fit(radii, [None] * 4 + [0.1, 0.1], [0.01] * 6, 2) is None
    nu = gap_script.NU_NISHIMORI  # the scaling form p_c + b r^(-1/nu) is recovered too
    peaks = [0.1092 - 0.04 * r ** (-1 / nu) for r in radii]
    a, b = gap_script.drift_fit(radii, peaks, [0.01] * 6, fit_from=1, exponent=1 / nu)
    assert abs(a - 0.1092) < 1e-12 and abs(b + 0.04) < 1e-12


def test_exact_gap_quick_run(gap_script, tmp_path, capsys):
    assert gap_script.main(["--quick", "--n", "4", "--n-boot", "20", "--out", str(tmp_path)]) == 0
    import json

    res = json.loads((tmp_path / "exact_gap.json").read_text())
    assert [q["r"] for q in res["peaks"]] == [1, 2, 3, 4]
    assert all(v >= 0 for d in res["delta"].values() for v in d["mean"])  # a KL divergence
    assert (tmp_path / "exact_gap.png").stat().st_size > 10_000
    # a second call resumes from exact_gap.npz: nothing is recomputed
    capsys.readouterr()
    assert gap_script.main(["--quick", "--n", "4", "--n-boot", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "r = 1: peak" in out and not any(ln.startswith("p = ") for ln in out.splitlines())
    assert math.isfinite(res["drift"]["p_inf_stderr"])
    assert math.isfinite(res["drift_nu"]["p_inf_stderr"]) and res["drift_nu"]["exponent"] < 1
    with pytest.raises(SystemExit) as exc:
        gap_script.main(["--quick", "--n", "2", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_translated_window_batch_equals_per_site_windows(study):
    """local_posterior (r >= 3) translates each sample to put its site at the centre and runs
    one batch of Pfaffians; a window mask placed at each site itself (one call per site, the
    torus wrapping through the window) gives the same posteriors."""
    L, p, n = 8, 0.1, 4
    x = ld.sample(ld.LoopGas(L=L, x=1.0), n_samples=n, seed=11)
    y = x ^ (np.random.default_rng(5).random(x.shape) < p).astype(np.uint8)
    sites = (np.array([0, 1, 2, 3, 3]), np.array([0, 7, 2, 5, 1]), np.array([7, 0, 6, 3, 1]))
    for r in (3, 4):  # r = 4: the 9 x 9 window covers the 8 x 8 torus
        got = study.local_posterior(r, p, y, sites)
        for k in range(len(sites[0])):
            mask = np.zeros((L, L), bool)
            idx = np.arange(-r, r + 1)
            mask[np.ix_((sites[1][k] + idx) % L, (sites[2][k] + idx) % L)] = True
            one = ([sites[0][k]], [sites[1][k]], [sites[2][k]])
            want = study._posterior_from_pfaffians(p, y, one, mask)[0]
            np.testing.assert_allclose(got[k], want, rtol=1e-9, atol=1e-12)
        assert not np.allclose(got[0], got[1])  # different sites, different posteriors


def test_gpu_probe_times_three_settings_on_the_cpu(tmp_path):
    """gpu_probe.py (the first minute of a device call) runs on the CPU too: three timings per
    model, a profiler table, and one-line argument errors."""
    import json

    probe = load_script(RUN.parent / "gpu_probe.py")
    out = tmp_path / "probe"
    assert (
        probe.main(["--device", "cpu", "--steps", "2", "--models", "r=1", "--out", str(out)]) == 0
    )
    row = json.loads((out / "probe.json").read_text())["ms_per_step"]["r=1"]
    assert set(row) == {"as_is", "nondeterministic", "forward_backward"}
    assert all(v > 0 for v in row.values())
    assert "aten::" in (out / "profile_r1.txt").read_text()
    for bad in (["--steps", "1"], ["--models", "r=9"]):
        with pytest.raises(SystemExit) as e:
            probe.main([*bad, "--device", "cpu", "--out", str(out)])
        assert e.value.code == 2


def test_steps_sweep_reruns_generation_of_a_cached_run(study, tmp_path):
    """steps_sweep.py loads a run's cached networks and window and samples at several numbers
    of steps: one defect density per schedule and step count; bad input exits 2."""
    import json
    import sys

    sweep = load_script(RUN.parent / "steps_sweep.py")
    plans = sys.modules["run"].PLANS  # the run module steps_sweep imported
    plans["tiny-ss"] = _tiny_plan(study)
    models, out = tmp_path / "m", tmp_path / "out"
    try:
        runmod = sys.modules["run"]
        args = ["--plan", "tiny-ss", "--models-dir", str(models), "--out", str(out), "--no-exact"]
        assert runmod.main(args) == 0
        base = ["--plan", "tiny-ss", "--models-dir", str(models), "--run", str(out)]
        assert sweep.main([*base, "--n-steps", "3", "6", "--n", "2", "--global-tail"]) == 0
        res = json.loads((out / "steps_sweep.json").read_text())
        assert res["n_steps"] == [3, 6]
        want = {"global", "hybrid r=3 + global", "hybrid r=3 + global tail", "local r=3"}
        assert set(res["defects"]) >= want
        assert all(len(v) == 2 and v[0]["mean"] >= 0 for v in res["defects"].values())
        fl = res["flops_relative_to_global"]
        assert fl["global"] == [1.0, 1.0]
        assert 0 < fl["hybrid r=3 + global"][0] <= fl["hybrid r=3 + global tail"][0] < 1
        assert (out / "steps_sweep.png").stat().st_size > 10_000
        (out / "steps_sweep.png").unlink()
        assert sweep.main([*base, "--plot-only"]) == 0  # redrawn from the JSON alone
        assert (out / "steps_sweep.png").stat().st_size > 10_000
        # the same plan's global network at another budget, beside the others
        assert runmod.main([*args[:-1], "--steps", "10", "--train-only", "global"]) == 0
        extra = ["--n-steps", "3", "--n", "2", "--global-steps", "10", "--stem", "longer"]
        assert sweep.main([*base, *extra]) == 0
        res2 = json.loads((out / "longer.json").read_text())
        assert "global, 10 training steps" in res2["defects"]
        assert res2["defects"]["global"] == res["defects"]["global"][:1]  # same seeds, same data
        # ... and from another plan (another learning rate)
        plans["tiny-ss-lr"] = dict(plans["tiny-ss"], lr=plans["tiny-ss"]["lr"] / 2)
        lr_args = ["--plan", "tiny-ss-lr", *args[2:-1], "--steps", "10", "--train-only", "global"]
        assert runmod.main(lr_args) == 0
        extra = [*extra[:-1], "other", "--global-plan", "tiny-ss-lr"]
        assert sweep.main([*base, *extra]) == 0
        res3 = json.loads((out / "other.json").read_text())
        assert "global (tiny-ss-lr, 10 steps)" in res3["defects"]
        ex = res3["excess_over_exact_global"]
        assert set(ex) == {"global", "global (tiny-ss-lr, 10 steps)"}
        assert all(v["p"] == [0.08, 0.12] and min(v["mean"]) > 0 for v in ex.values())
        bad_args = (
            ["--n-steps", "1"],  # too few
            ["--steps", "99"],  # not the run's plan
            ["--global-steps", "12"],  # no such global network
            ["--global-plan", "tiny-ss-lr"],  # without --global-steps
            ["--stem", "../x"],
        )
        for bad in bad_args:
            with pytest.raises(SystemExit) as e:
                sweep.main([*base, *bad])
            assert e.value.code == 2
    finally:
        plans.pop("tiny-ss")
        plans.pop("tiny-ss-lr", None)


def test_exact_steps_samples_resumes_and_rejects_bad_input(tmp_path):
    """exact_steps.py (exact samplers against the number of steps): one cell per schedule and
    step count with its compute split, a resume that keeps finished cells, and one-line errors."""
    import json

    es = load_script(RUN.parent / "exact_steps.py")
    out = tmp_path / "es"
    base = ["--quick", "--window", "0.04", "0.13", "--n", "3", "--out", str(out)]
    only = ["--only", "exact local r=1", "exact hybrid r=2 + global tail"]
    assert es.main([*base, "--n-steps", "6", *only]) == 0
    res = json.loads((out / "exact_steps.json").read_text())
    cells = res["results"]
    assert set(cells) == {"exact local r=1", "exact hybrid r=2 + global tail"}
    assert cells["exact local r=1"]["6"]["global_step_fraction"] == 0.0
    assert 0 < cells["exact hybrid r=2 + global tail"]["6"]["global_step_fraction"] < 1
    assert all(c["6"]["defect_density"] >= 0 for c in cells.values())
    stamp = cells["exact local r=1"]["6"]["wall_s"]
    assert es.main([*base, "--n-steps", "6", "8", "--resume", "--only", "exact local r=1"]) == 0
    cells = json.loads((out / "exact_steps.json").read_text())["results"]
    assert cells["exact local r=1"]["6"]["wall_s"] == stamp  # kept, not redone
    assert set(cells["exact local r=1"]) == {"6", "8"}
    assert (out / "exact_steps.png").stat().st_size > 10_000
    for bad in (["--n-steps", "1"], ["--window", "0.2", "0.1"], ["--n", "1"]):
        with pytest.raises(SystemExit) as e:
            es.main([*base, *bad])
        assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        es.main(["--quick", "--out", str(tmp_path / "none")])  # no window and no run
    assert e.value.code == 2


def test_transfer_gap_scores_exact_local_denoisers_as_their_bayes_gap(tmp_path, capsys):
    """transfer_gap.py: an exact radius-r module scored by ``measure`` on a larger torus has the
    excess of the exact radius-r gap computed beside it (same samples and noise), and the
    peaks and figure come out; bad options give one-line errors."""
    import json
    import sys

    from latticediff.noise import BitFlip

    tg = load_script(RUN.parent / "transfer_gap.py")
    runmod = sys.modules["run"]
    proc = BitFlip(gamma=1.0)
    xs = np.asarray(ld.sample(LoopGas(L=8, x=1.0), n_samples=4, seed=9))
    ps = [0.04, 0.07, 0.1, 0.13, 0.16]
    nets = {f"r={r}": runmod.exact_local_module(r, proc) for r in (1, 2)}
    saved = []
    st = tg.measure(nets, xs, ps, proc, save=lambda s: saved.append(int(s["done"].sum())))
    assert saved == [1, 2, 3, 4, 5]
    for r in (1, 2):
        np.testing.assert_allclose(st[f"r={r}"], st[f"exact r={r}"], rtol=1e-5, atol=1e-9)
    assert np.all(st["exact r=1"] > st["exact r=2"])
    res = tg.analyse(ps, st, n_boot=20)
    assert set(res) == {"r=1", "r=2", "exact r=1", "exact r=2"}
    assert 0.04 <= res["exact r=1"]["peak"]["p_peak_grid"] <= 0.16
    figure_res = dict(L=8, n_samples=4, p=ps, curves=res, peaks_networks=[(1, 0.08, 0.01)])
    tg.figure(figure_res, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 10_000
    for L in (8, 10):  # the summary collects every L in a folder
        (tmp_path / f"transfer_gap_L{L}.json").write_text(json.dumps(dict(figure_res, L=L)))
    summ = tg.summary(tmp_path)
    assert set(summ["peaks"]) == {"8", "10"} and summ["peaks"]["8"]["r=1"][0] is not None
    assert (tmp_path / "transfer_gap_summary.png").stat().st_size > 10_000
    with pytest.raises(SystemExit) as e:
        tg.main(["--models-dir", "x", "--summary", "--out", str(tmp_path / "empty")])
    assert e.value.code == 2 and "no transfer_gap_L*.json" in capsys.readouterr().err
    for bad, msg in (
        (["--L", "12"], "--L must be >= 14"),
        (["--n", "2"], "--n must be >= 4"),
        (["--p", "0.1", "0.05"], "--p must be >= 5 increasing values"),
    ):
        with pytest.raises(SystemExit) as e:
            tg.main(["--models-dir", str(tmp_path), *bad])
        assert e.value.code == 2 and msg in capsys.readouterr().err
