"""Neural CMI: exact blind spots and masks, paired errors, and the noisy chain's exact values."""

import doctest
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import latticediff as ld  # noqa: E402
from latticediff.errors import ParameterError  # noqa: E402
from latticediff.exact.noisy_chain import (  # noqa: E402
    chain_cmi,
    chain_denoiser_gap,
    chain_shell_entropy,
)
from latticediff.info import neural as neural_module  # noqa: E402
from latticediff.info.neural import (  # noqa: E402
    MaskedWindowPredictor,
    ShellRecurrentPredictor,
    denoiser_gap,
    neural_cmi,
    neural_cmi_profile,
    window_offsets,
)


@pytest.fixture(autouse=True)
def one_thread():
    # on a shared 2-core machine torch's intra-op threads mostly wait for each other
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _noisy_chain(p, n, N=64, seed=1):
    x = ld.sample(ld.IsingChain(N=N, K=1.0), n_samples=n, seed=seed)
    bf = ld.BitFlip(gamma=1.0)
    return bf.sample(x, float(bf.t_of_p(p)), np.random.default_rng(seed + 1))


def test_doctests():
    res = doctest.testmod(neural_module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted > 0 and res.failed == 0


# ---------------------------------------------------------------------------------------------
# geometry and exact masks


@pytest.mark.parametrize("d,R,block", [(1, 3, 1), (2, 2, 1), (2, 3, 2), (3, 1, 1)])
def test_window_offsets_are_shells_sorted_by_distance(d, R, block):
    offA, offW, dist = window_offsets(d, R, block=block)
    assert len(offA) == block**d
    assert len(offW) == (2 * R + block) ** d - block**d
    assert np.all(np.diff(dist) >= 0) and dist.min() == 1 and dist.max() == R
    # A is never in the window (the blind spot)
    a = {tuple(o) for o in offA}
    assert not a & {tuple(o) for o in offW}
    for r in range(R + 1):
        assert (dist <= r).sum() == (2 * r + block) ** d - block**d


def _perturb_outside(win, visible, rng):
    w2 = win.clone()
    w2[:, visible:] = torch.from_numpy(rng.normal(size=w2[:, visible:].shape).astype(np.float32))
    return w2


@pytest.mark.parametrize("arch", ["mlp", "rings"])
def test_each_mask_reads_only_its_shell_bitwise(arch):
    """Changing any input outside mask k's shell leaves its logits bitwise unchanged, and some
    change inside changes them (for every mask, both architectures, forward and mask_logits)."""
    rng = np.random.default_rng(0)
    offA, offW, dist = window_offsets(2, 3)
    radii = [0, 1, 2, 3]
    visible = [int((dist <= r).sum()) for r in radii]
    if arch == "mlp":
        net = MaskedWindowPredictor(len(offW), 2, 4, visible=visible, hidden=16, seed=0)
    else:
        sizes = [int((dist == d).sum()) for d in (1, 2, 3)]
        net = ShellRecurrentPredictor(sizes, 2, 4, radii=radii, hidden=16, seed=0)
    M = 7
    win = torch.from_numpy(rng.choice([-1.0, 1.0], size=(M, len(offW), 2)).astype(np.float32))
    batch = win.unsqueeze(0).expand(len(radii), *win.shape).contiguous()
    ref = net(batch)
    for k, vis in enumerate(visible):
        out_k = net.mask_logits(k, win)
        torch.testing.assert_close(out_k, ref[k], rtol=1e-5, atol=1e-6)
        w2 = _perturb_outside(win, vis, rng)
        assert torch.equal(net.mask_logits(k, w2), out_k)
        b2 = batch.clone()
        b2[k] = w2
        assert torch.equal(net(b2)[k], ref[k])
        if vis > 0:  # a change inside the shell is seen
            w3 = win.clone()
            w3[:, vis - 1] *= -1
            assert not torch.equal(net.mask_logits(k, w3), out_k)


def test_rings_forward_with_unsorted_radii_matches_each_mask():
    """The batched forward runs masks in ascending radius; any mask order gives the same logits
    as each mask alone, and the masks read only their own prefix of the window."""
    rng = np.random.default_rng(4)
    offA, offW, dist = window_offsets(2, 3)
    sizes = [int((dist == d).sum()) for d in (1, 2, 3)]
    radii = [3, 0, 2, 1]
    net = ShellRecurrentPredictor(sizes, 1, 3, radii=radii, hidden=8, seed=1)
    assert net.n_visible == tuple(int((dist <= r).sum()) for r in radii)
    win = torch.from_numpy(rng.choice([-1.0, 1.0], size=(4, 5, len(offW), 1)).astype(np.float32))
    out = net(win)
    for k in range(len(radii)):
        torch.testing.assert_close(net.mask_logits(k, win[k]), out[k], rtol=1e-5, atol=1e-6)


def _assert_far_reads_only_a_sum(net, win, lo, hi, rng):
    """Mask 2 (the far one) sees offsets lo:hi only through their sum: permuting them leaves
    its logits unchanged, flipping one of them does not."""
    far = net.mask_logits(2, win)
    perm = win.clone()
    perm[:, lo:hi] = win[:, lo:hi][:, torch.from_numpy(rng.permutation(hi - lo))]
    torch.testing.assert_close(net.mask_logits(2, perm), far, rtol=1e-5, atol=1e-6)
    flip = win.clone()
    flip[:, lo] *= -1
    assert not torch.allclose(net.mask_logits(2, flip), far)


def test_ring_sums_beyond_reads_only_ring_means():
    """With summed_beyond = s the shell masks are unchanged (bitwise the same as without), and
    the far mask sees a ring beyond s only through its mean: permuting that ring's offsets
    leaves the output unchanged, changing its mean does not."""
    rng = np.random.default_rng(6)
    offA, offW, dist = window_offsets(2, 4)
    sizes = [int((dist == d).sum()) for d in (1, 2, 3, 4)]
    radii = [1, 2, 4]
    plain = ShellRecurrentPredictor(sizes, 1, 2, radii=radii, hidden=8, seed=2)
    summed = ShellRecurrentPredictor(sizes, 1, 2, radii=radii, hidden=8, seed=2, summed_beyond=2)
    assert summed.U[3].in_features == 1 and summed.U[1].in_features == sizes[1]
    win = torch.from_numpy(rng.choice([-1.0, 1.0], size=(9, len(offW), 1)).astype(np.float32))
    shared = {k: v for k, v in plain.state_dict().items() if not k.startswith(("U.2", "U.3"))}
    summed.load_state_dict(shared, strict=False)
    for k in (0, 1):  # shells read only full rings: with the same weights, the same outputs
        assert torch.equal(summed.mask_logits(k, win), plain.mask_logits(k, win))
    _assert_far_reads_only_a_sum(summed, win, sum(sizes[:3]), sum(sizes), rng)  # ring 4
    with pytest.raises(ParameterError, match="summed_beyond"):
        ShellRecurrentPredictor(sizes, 1, 2, radii=radii, hidden=8, summed_beyond=1)


def test_ring_sums_beyond_option_and_errors():
    x = np.random.default_rng(8).integers(0, 2, size=(300, 24)).astype(np.uint8)
    es = neural_cmi_profile(
        x, radii=[1, 2], far_radius=6, steps=120, hidden=8, seed=1, ring_sums_beyond=2
    )
    for e in es:  # i.i.d. bits: CMI 0
        assert abs(e.value) < 4 * e.stderr + 2e-4, e
        assert e.details["ring_sums_beyond"] == 2 and "means" in e.details["far_region"]
    with pytest.raises(ParameterError, match="ring_sums_beyond must be"):
        neural_cmi_profile(x, radii=[1, 2], far_radius=6, steps=5, ring_sums_beyond=1)
    with pytest.raises(ParameterError, match="needs architecture='rings'"):
        neural_cmi_profile(
            x, radii=[1], far_radius=4, steps=5, architecture="mlp", ring_sums_beyond=2
        )


def test_far_pool_all_reads_one_pooled_sum():
    """far_pool='all': the shell masks are those of the default layout (same weights, same
    outputs), and the far mask sees rings beyond s only through their pooled sum: moving values
    between those rings leaves it unchanged, changing the sum does not."""
    rng = np.random.default_rng(7)
    offA, offW, dist = window_offsets(2, 4)
    sizes = [int((dist == d).sum()) for d in (1, 2, 3, 4)]
    radii = [1, 2, 4]
    plain = ShellRecurrentPredictor(sizes, 1, 2, radii=radii, hidden=8, seed=3)
    pooled = ShellRecurrentPredictor(
        sizes, 1, 2, radii=radii, hidden=8, seed=3, summed_beyond=2, far_pool="all"
    )
    assert len(pooled.U) == 2 and pooled.U_pool.in_features == 1
    shared = {k: v for k, v in plain.state_dict().items() if not k.startswith(("U.2", "U.3"))}
    pooled.load_state_dict(shared, strict=False)
    win = torch.from_numpy(rng.choice([-1.0, 1.0], size=(9, len(offW), 1)).astype(np.float32))
    for k in (0, 1):
        assert torch.equal(pooled.mask_logits(k, win), plain.mask_logits(k, win))
    torch.testing.assert_close(
        pooled(win[None].expand(3, -1, -1, -1))[2], pooled.mask_logits(2, win)
    )
    _assert_far_reads_only_a_sum(pooled, win, sum(sizes[:2]), sum(sizes), rng)  # rings 3 and 4
    with pytest.raises(ParameterError, match="far_pool must be"):
        ShellRecurrentPredictor(sizes, 1, 2, radii=radii, summed_beyond=2, far_pool="sum")
    with pytest.raises(ParameterError, match="largest radius must be R = 4"):
        ShellRecurrentPredictor(sizes, 1, 2, radii=[1, 3], summed_beyond=2, far_pool="all")


def test_far_pool_option_and_errors():
    x = np.random.default_rng(9).integers(0, 2, size=(300, 24)).astype(np.uint8)
    es = neural_cmi_profile(
        x, radii=[1, 2], far_radius=6, steps=120, hidden=8, seed=1, ring_sums_beyond=2,
        far_pool="all",
    )  # fmt: skip
    for e in es:  # i.i.d. bits: CMI 0
        assert abs(e.value) < 4 * e.stderr + 2e-4, e
        assert e.details["far_pool"] == "all" and "pooled" in e.details["far_region"]
    with pytest.raises(ParameterError, match="set ring_sums_beyond"):
        neural_cmi_profile(x, radii=[1, 2], far_radius=6, steps=5, far_pool="all")
    with pytest.raises(ParameterError, match="far_pool must be 'rings' or 'all', got 'x'"):
        neural_cmi_profile(x, radii=[1, 2], far_radius=6, steps=5, far_pool="x")


def _global_sign_h(n: int, mu: float) -> float:
    """H(x_A | S) for the global-sign mixture, S the sum of n observed spins: s = +-1 equally
    likely, then every spin is s with probability (1 + mu)/2, independently. S is sufficient
    for s, and P(x_A = 1 | S) = 1/2 + (mu/2) tanh(S atanh(mu))."""
    from scipy.stats import binom

    k = np.arange(n + 1)
    p_s = 0.5 * (binom.pmf(k, n, (1 + mu) / 2) + binom.pmf(k, n, (1 - mu) / 2))
    q = 0.5 + 0.5 * mu * np.tanh((2 * k - n) * np.arctanh(mu))
    return float(p_s @ -(q * np.log(q) + (1 - q) * np.log1p(-q)))


def test_far_pool_matches_exact_cmi_of_a_global_sign_mixture():
    """The structure of the Ising model below Tc in its simplest exact form: a hidden global
    sign. I(A:C|B) = H(A|S_B) - H(A|S_B + S_C) exactly; the pooled far reader recovers it."""
    mu, N, n = 0.25, 64, 2000
    rng = np.random.default_rng(0)
    s = rng.choice([-1, 1], size=(n, 1))
    x = (s * np.where(rng.random((n, N)) < (1 + mu) / 2, 1, -1)).astype(np.int8)
    es = neural_cmi_profile(
        x, radii=[1, 2], far_radius=31, steps=300, hidden=16, seed=0, ring_sums_beyond=2,
        far_pool="all",
    )  # fmt: skip
    for r, e in zip((1, 2), es, strict=True):
        exact = _global_sign_h(2 * r, mu) - _global_sign_h(62, mu)  # window: 62 sites but A
        assert exact > 0.02
        assert abs(e.value - exact) < 3 * e.stderr and abs(e.value - exact) < 0.005, (r, e, exact)


def test_centre_value_never_enters():
    """Flipping the target site itself changes only the targets, never the windows."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(4, 9, 9))
    codes, q, shape, _ = neural_module._layout(x, None, "t")
    offA, offW, _ = window_offsets(2, 4)
    idxW, _ = neural_module._neighbour_index(shape, offW, True, 4, 1)
    centre = np.arange(81)
    assert not np.any(idxW == centre[:, None])


# ---------------------------------------------------------------------------------------------
# statistics


def test_iid_bits_give_zero_and_seed_determinism():
    x = np.random.default_rng(5).integers(0, 2, size=(400, 32)).astype(np.uint8)
    kw = dict(radii=[1, 2], far_radius=4, steps=150, hidden=8, seed=3)
    a = neural_cmi_profile(x, **kw)
    b = neural_cmi_profile(x, **kw)
    for e, f in zip(a, b, strict=True):
        assert e.value == f.value and e.stderr == f.stderr
        assert e.stderr > 0
        assert abs(e.value) < 4 * e.stderr + 2e-4, e
        # the two held-out entropies are reported and difference to the value
        assert math.isclose(
            e.value, e.details["H_A_given_B"] - e.details["H_A_given_BC"], abs_tol=1e-12
        )
        assert abs(e.details["H_A_given_BC"] - math.log(2)) < 0.01


def test_early_stopping_prevents_overfitting_the_far_window():
    """Few i.i.d. samples, a far window of 80 sites: trained to the end, the far predictor
    over-fits and the "CMI" is hugely negative; early stopping keeps it consistent with 0."""
    x = np.random.default_rng(7).choice(np.array([-1, 1], np.int8), size=(80, 12, 12))
    kw = dict(radius=1, far_radius=4, steps=400, batch_sites=2048, seed=0)
    bad = neural_cmi(x, early_stopping=False, **kw)
    good = neural_cmi(x, **kw)
    assert bad.value < -10 * bad.stderr
    assert abs(good.value) < 4 * good.stderr + 1e-3, good
    assert good.details["best_step"]["BC"] < 400 and good.details["n_validation_samples"] == 6


def test_null_correction_removes_the_over_fitting_bias():
    """The same over-fitting set-up without early stopping: the far predictor's excess loss
    makes the raw "CMI" hugely negative; the null run (far region from another sample, exactly
    independent) over-fits alike, and the corrected value is consistent with 0."""
    x = np.random.default_rng(7).choice(np.array([-1, 1], np.int8), size=(80, 12, 12))
    kw = dict(radii=[1], far_radius=4, steps=400, batch_sites=2048, seed=0)
    es = neural_cmi_profile(x, early_stopping=False, null_correction=True, **kw)
    for e in es:
        null = e.details["null"]
        raw, raw_se = null["uncorrected"], null["uncorrected_stderr"]
        assert raw < -5 * raw_se and null["cmi"] < -5 * null["cmi_stderr"], e  # -13 sigma each
        assert abs(e.value) < 3 * e.stderr, e
        # the corrected value is the paired difference of the two runs' estimates
        assert math.isclose(e.value, raw - null["cmi"], rel_tol=0, abs_tol=1e-12)
        retrain = null["shell_retrained"]  # the shell predictor of both runs, trained twice
        assert math.isclose(
            retrain["difference"],
            null["H_A_given_B"] - e.details["H_A_given_B"],
            rel_tol=0,
            abs_tol=1e-12,
        )
    # the plain run is the same computation as without the option (the null draws its own
    # randomness), and the default is off
    plain = neural_cmi_profile(x, early_stopping=False, **kw)
    assert [e.value for e in plain] == [e.details["null"]["uncorrected"] for e in es]
    assert "null" not in plain[0].details
    parts = neural_module.null_parts(es)  # the lists a study stores beside the corrected values
    assert parts["uncorrected"] == [e.value for e in plain]
    assert parts["null"] == [e.details["null"]["cmi"] for e in es]
    assert parts["shell_retrain_diff"] == [e.details["null"]["shell_retrained"]["difference"]
                                           for e in es]  # fmt: skip
    with pytest.raises(ParameterError, match="r = 1 has no null run"):
        neural_module.null_parts(plain)


def test_null_run_sees_no_information_beyond_the_shell():
    """A hidden global sign: the far region carries information (the exact CMI is > 0.02), but
    in the null run it comes from another sample, so the null CMI is 0 within its error while
    the corrected estimate keeps the exact value (shared=False: the shell predictor is the
    main run's)."""
    mu, N, n = 0.25, 64, 2000
    rng = np.random.default_rng(0)
    s = rng.choice([-1, 1], size=(n, 1))
    x = (s * np.where(rng.random((n, N)) < (1 + mu) / 2, 1, -1)).astype(np.int8)
    (e,) = neural_cmi_profile(
        x, radii=[1], far_radius=31, steps=300, hidden=16, seed=0, ring_sums_beyond=1,
        far_pool="all", null_correction=True, shared=False,
    )  # fmt: skip
    exact = _global_sign_h(2, mu) - _global_sign_h(62, mu)
    null = e.details["null"]
    assert abs(null["cmi"]) < 3 * null["cmi_stderr"] + 1e-4, null
    assert null["H_A_given_B"] == e.details["H_A_given_B"] and null["shell_retrained"] is None
    assert neural_module.null_parts([e])["shell_retrain_diff"] == [None]
    assert abs(e.value - exact) < 3 * e.stderr and abs(e.value - exact) < 0.005, (e, exact)


def test_paired_bootstrap_matches_naive_error():
    rng = np.random.default_rng(0)
    d = rng.normal(0.01, 0.1, size=(1, 4000))
    v, se, naive, G = neural_module._paired_bootstrap(d, np.ones(4000), None, 2000, 0)
    assert G == 1000
    assert abs(v[0] - d.mean()) < 1e-12
    assert abs(se[0] / naive[0] - 1) < 0.1
    assert abs(naive[0] / (0.1 / math.sqrt(4000)) - 1) < 0.1


def test_noisy_chain_small_radii_match_exact():
    """p = 0.2: I(r) for r = 1, 2 against the transfer-matrix values (within 4 sigma and 3e-3);
    the far predictor's held-out entropy is an upper bound of H(y_0 | y_rest) up to noise."""
    p = 0.2
    y = _noisy_chain(p, 3000)
    es = neural_cmi_profile(
        y, radii=[1, 2], far_radius=5, steps=600, batch_sites=2048, lr=1e-2, hidden=16, seed=0
    )
    for e in es:
        ex = chain_cmi(1.0, p, e.radius)
        assert abs(e.value - ex) < 4 * e.stderr + 1e-4 and abs(e.value - ex) < 3e-3, (e, ex)
    hf = chain_shell_entropy(1.0, p, 5)
    e = es[0]
    assert e.details["H_A_given_BC"] > hf - 4 * e.details["H_A_given_BC_stderr"]
    assert e.details["H_A_given_BC"] - hf < 0.01


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["rings", "mlp"])
def test_noisy_chain_profile_against_exact_slow(arch):
    """p = 0.2, r = 1..4, 8000 x 64 sites: within 4 sigma + 5e-5 and 0.005 nats of exact."""
    p = 0.2
    y = _noisy_chain(p, 8000, seed=11)
    es = neural_cmi_profile(
        y, radii=[1, 2, 3, 4], far_radius=8, steps=1500, architecture=arch, seed=1
    )
    for e in es:
        ex = chain_cmi(1.0, p, e.radius)
        assert abs(e.value - ex) < 0.005
        assert abs(e.value - ex) < 4 * e.stderr + 5e-5, (arch, e, ex)


def test_two_dimensional_and_channel_layouts():
    rng = np.random.default_rng(2)
    x = rng.choice(np.array([-1, 1], np.int8), size=(30, 6, 6))
    e = neural_cmi(x, radius=1, far_radius=2, steps=3, hidden=4)
    assert e.details["sites"] == {"A": 1, "B": 8, "far": 24}
    loops = rng.integers(0, 2, size=(30, 2, 6, 6)).astype(np.uint8)  # channels first
    e = neural_cmi(loops, radius=1, far_radius=2, steps=3, hidden=4, architecture="mlp")
    assert e.details["n_classes"] == 4 and e.details["channels"] == 2
    e = neural_cmi(x, radius=1, far_radius=2, block=2, steps=3, hidden=4)
    assert e.details["n_classes"] == 16 and e.details["sites"]["A"] == 4
    # open boundaries: only centres whose whole far window is inside
    e = neural_cmi(x, radius=0, far_radius=1, periodic=False, steps=3, hidden=4)
    assert e.details["sites_per_sample"] == 16


def test_estimate_cmi_front_door_dispatches():
    x = np.random.default_rng(4).integers(0, 2, size=(60, 16))
    e = ld.estimate_cmi(x, radius=1, method="neural", far_radius=3, steps=5, hidden=4)
    assert e.method == "neural" and e.radius == 1


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(radius=-1), "radii"),
        (dict(radius=1, far_radius=1), "far_radius"),
        (dict(radius=1, far_radius=40), "far_radius"),
        (dict(radius=1, steps=0), "steps"),
        (dict(radius=1, lr=-1.0), "lr"),
        (dict(radius=1, test_fraction=1.0), "test_fraction"),
        (dict(radius=1, architecture="cnn"), "architecture"),
        (dict(radius=1, null_correction="yes"), "null_correction"),
    ],
)
def test_bad_arguments_raise(kw, match):
    x = np.random.default_rng(0).integers(0, 2, size=(20, 16))
    with pytest.raises(ParameterError, match=match):
        neural_cmi(x, **kw)


def test_bad_data_raise():
    with pytest.raises(ParameterError, match="discrete"):
        neural_cmi(np.zeros((10, 16)), radius=1)
    with pytest.raises(ParameterError, match="held-out"):
        neural_cmi(np.zeros((3, 16), np.int8), radius=1, far_radius=3)
    with pytest.raises(ParameterError, match="joint values"):
        neural_cmi(np.zeros((10, 2, 9, 9), np.uint8), radius=1, far_radius=2, block=3)


# ---------------------------------------------------------------------------------------------
# denoiser gap


def test_denoiser_gap_of_a_model_with_itself_is_exactly_zero():
    from latticediff.nn import LocalDenoiser

    x = ld.sample(ld.IsingChain(N=32, K=1.0), n_samples=20, seed=0)[:, None]
    net = LocalDenoiser(1, 1, 2, hidden=8, dim=1, t_embedding=None, seed=0)
    es = denoiser_gap(net, net, x, ld.BitFlip(), [0.05, 0.2])
    assert len(es) == 2
    for e in es:
        assert e.value == 0.0 and e.stderr == 0.0
        assert e.details["CE_local"] == e.details["CE_global"]


@pytest.mark.slow
def test_denoiser_gap_on_the_chain_matches_exact_slow():
    """Local r = 1 against r = 8 denoisers at p = 0.1: Delta(1) = 0.021132 (exact)."""
    from latticediff.nn import LocalDenoiser, train_denoiser

    x = ld.sample(ld.IsingChain(N=64, K=1.0), n_samples=8000, seed=2)[:, None]
    tr, te = x[:5000], x[5000:]
    bf = ld.BitFlip(gamma=1.0)
    t = float(bf.t_of_p(0.1))
    nets = []
    for r in (1, 8):
        net = LocalDenoiser(r, 1, 2, hidden=64, dim=1, t_embedding=None, seed=r)
        for lr, steps, s in ((3e-3, 1200, 0), (3e-4, 400, 1)):
            train_denoiser(
                net, tr, bf, steps=steps, batch_size=128, lr=lr, seed=s, t_sampler=t, progress=False
            )
        nets.append(net)
    e = denoiser_gap(nets[0], nets[1], te, bf, t, seed=9)
    ex = chain_denoiser_gap(1.0, 0.1, 1)
    assert abs(e.value - ex) < 4 * e.stderr + 1e-3, (e, ex)
