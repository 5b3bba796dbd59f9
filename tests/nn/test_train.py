"""Training: determinism under a seed, checkpoint + resume, learning, evaluation, model folders."""

import json
import math

import numpy as np
import pytest
import torch

from latticediff.errors import DataFileError, ParameterError
from latticediff.nn import (
    GlobalDenoiser,
    LocalDenoiser,
    encode_input,
    evaluate_per_site_loss,
    input_channels,
    load_model,
    output_channels,
    predict_x0,
    save_model,
    train_denoiser,
)
from latticediff.noise import BitFlip, GaussianPath, UniformResample


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These networks are tiny: one intra-op thread is faster and immune to a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _spins(n=64, L=6, seed=0):
    return np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=(n, 1, L, L))


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


KW = dict(batch_size=8, lr=3e-3, progress=False)


def test_training_is_deterministic_under_seed():
    data, bf = _spins(), BitFlip(gamma=1.0)
    runs = []
    for seed in (3, 3, 4):
        net = LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0)
        hist = train_denoiser(net, data, bf, steps=15, seed=seed, **KW)
        runs.append((_weights(net), hist.losses))
    assert _same(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not _same(runs[0][0], runs[2][0])
    assert np.all(np.isfinite(runs[0][1])) and runs[0][1].shape == (15,)


def test_grad_clip_bounds_the_step_and_is_inert_when_loose():
    """A huge clip norm never binds: bitwise the run without clipping. A tiny one binds at
    every step: AdamW's update is scale-free except for its eps, so gradients clipped to 1e-12
    move the weights far less."""
    data, bf = _spins(), BitFlip(gamma=1.0)
    w0 = _weights(LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0))
    moved = {}
    for clip in (None, 1e9, 1e-12):
        net = LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0)
        hist = train_denoiser(net, data, bf, steps=10, seed=3, grad_clip=clip, **KW)
        w = _weights(net)
        moved[clip] = (w, sum(float((w[k] - w0[k]).abs().sum()) for k in w), hist.losses)
    assert _same(moved[None][0], moved[1e9][0])
    assert np.array_equal(moved[None][2], moved[1e9][2])
    assert 0 < moved[1e-12][1] < 0.1 * moved[None][1]
    for bad in (0, -1.0, float("nan"), True, "1"):
        with pytest.raises(ParameterError, match="grad_clip must be None or a finite number"):
            train_denoiser(LocalDenoiser(1, 1, 2), data, bf, steps=1, grad_clip=bad, **KW)


class _CrashingSampler:
    """Uniform times that raise on a given call, to simulate a killed run."""

    def __init__(self, crash_at=None):
        self.calls, self.crash_at = 0, crash_at

    def __call__(self, rng, n):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("simulated interruption")
        return rng.random(n) * 2.0


@pytest.mark.parametrize("make", ["local", "global"])
def test_checkpoint_resume_equals_uninterrupted(tmp_path, make):
    data, bf = _spins(seed=1), BitFlip(gamma=0.5)

    def build(seed):
        if make == "local":
            return LocalDenoiser(2, 1, 2, hidden=6, depth=2, seed=seed)
        return GlobalDenoiser(1, 2, hidden=4, levels=1, seed=seed)

    ref = build(0)
    h_ref = train_denoiser(ref, data, bf, steps=12, seed=5, t_sampler=_CrashingSampler(), **KW)

    # a run killed during step 7 (checkpoints every 3 steps: the last one is at step 6) ...
    net = build(0)
    with pytest.raises(KeyboardInterrupt):
        train_denoiser(
            net,
            data,
            bf,
            steps=12,
            seed=5,
            t_sampler=_CrashingSampler(crash_at=8),
            checkpoint_dir=tmp_path,
            checkpoint_every=3,
            **KW,
        )
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6
    # ... resumed in a fresh process-like setting: a model built with another seed
    net2 = build(99)
    h = train_denoiser(
        net2,
        data,
        bf,
        steps=12,
        seed=5,
        t_sampler=_CrashingSampler(),
        checkpoint_dir=tmp_path,
        checkpoint_every=3,
        resume=True,
        **KW,
    )
    assert h.start_step == 6
    assert _same(_weights(net2), _weights(ref))
    np.testing.assert_array_equal(h.losses, h_ref.losses)
    # resuming a finished run does nothing; extending it continues from the end
    h2 = train_denoiser(
        net2,
        data,
        bf,
        steps=12,
        seed=5,
        t_sampler=_CrashingSampler(),
        checkpoint_dir=tmp_path,
        resume=True,
        **KW,
    )
    assert h2.start_step == 12 and _same(_weights(net2), _weights(ref))


def test_checkpoint_conflicts_raise(tmp_path):
    data, bf = _spins(), BitFlip()
    net = LocalDenoiser(1, 1, 2, hidden=4, depth=1, seed=0)
    train_denoiser(net, data, bf, steps=4, seed=0, checkpoint_dir=tmp_path, **KW)
    with pytest.raises(ParameterError, match="exists: pass resume=True"):
        train_denoiser(net, data, bf, steps=4, seed=0, checkpoint_dir=tmp_path, **KW)
    with pytest.raises(ParameterError, match="cannot resume .*seed was 0, now 1"):
        train_denoiser(net, data, bf, steps=8, seed=1, checkpoint_dir=tmp_path, resume=True, **KW)
    with pytest.raises(ParameterError, match="cannot resume .*data"):
        train_denoiser(
            net, _spins(seed=9), bf, steps=8, seed=0, checkpoint_dir=tmp_path, resume=True, **KW
        )
    with pytest.raises(ParameterError, match="step 4 > steps=2"):
        train_denoiser(net, data, bf, steps=2, seed=0, checkpoint_dir=tmp_path, resume=True, **KW)
    with pytest.raises(ParameterError, match="needs a checkpoint_dir"):
        train_denoiser(net, data, bf, steps=2, seed=0, resume=True, **KW)


def test_loss_decreases_on_learnable_task():
    """All-up spins: the clean value is always +1, so the cross-entropy can go to ~0."""
    data, bf = np.ones((32, 1, 6, 6), np.int8), BitFlip(gamma=1.0)
    net = LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0)
    ts = [0.05, 0.5]
    before = evaluate_per_site_loss(net, data, bf, ts, seed=1)
    hist = train_denoiser(net, data, bf, steps=60, seed=0, batch_size=16, lr=1e-2, progress=False)
    after = evaluate_per_site_loss(net, data, bf, ts, seed=1)
    assert hist.losses[-10:].mean() < 0.3 * hist.losses[:10].mean()
    assert np.all(after.mean < 0.2 * before.mean), (before.mean, after.mean)
    assert hist.sites_per_s > 0 and hist.device == "cpu"


def test_reaches_bayes_optimal_cross_entropy_iid_spins():
    """i.i.d. uniform spins, fixed p = 0.1: the Bayes-optimal denoiser reports P(x0 = y) = 1-p,
    so the per-site cross-entropy is the binary entropy H2(p); an r = 0 model must reach it."""
    bf = BitFlip(gamma=1.0)
    t = bf.t_of_p(0.1)
    h2 = -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    train, held = _spins(n=256, L=8, seed=2), _spins(n=400, L=8, seed=3)
    net = LocalDenoiser(0, 1, 2, hidden=8, depth=1, t_embedding=None, seed=0)
    train_denoiser(
        net, train, bf, steps=150, seed=0, t_sampler=t, batch_size=32, lr=2e-2, progress=False
    )
    res = evaluate_per_site_loss(net, held, bf, [t], seed=4)
    # held-out CE >= H2 up to noise, and within 0.01 nats of it
    assert res.mean[0] > h2 - 4 * res.stderr[0]
    assert res.mean[0] < h2 + 0.01, (res.mean[0], h2)
    assert res.stderr[0] == pytest.approx(res.per_sample[0].std(ddof=1) / math.sqrt(400))


def test_potts_uniform_resample_one_hot():
    ur = UniformResample(q=3, gamma=1.0)
    data = np.zeros((32, 1, 5, 5), np.uint8)
    data[:, :, ::2] = 2  # striped, trivially learnable
    assert input_channels(ur, 1) == 3 and output_channels(ur, 1) == 3
    x = encode_input(np.array([[[[0, 2]]]], np.uint8), ur)
    assert x.shape == (1, 3, 1, 2) and x[0, :, 0, 1].tolist() == [0.0, 0.0, 1.0]
    net = LocalDenoiser(1, 3, 3, hidden=8, depth=2, seed=0)
    hist = train_denoiser(net, data, ur, steps=40, seed=0, batch_size=8, lr=1e-2, progress=False)
    assert hist.losses[-5:].mean() < 0.5 * hist.losses[:5].mean()
    p = predict_x0(net, ur.sample(data[:4], 0.2, np.random.default_rng(0)), 0.2, ur)
    assert p.shape == (4, 1, 5, 5, 3)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    post = ur.posterior_step(data[:4], p, 0.2, 0.1)  # predict_x0 output feeds the D3PM step
    assert post.shape == p.shape


@pytest.mark.parametrize("prediction", ["x0", "eps", "v"])
def test_gaussian_training_each_prediction(prediction):
    path = GaussianPath("linear")
    data = np.full((32, 1, 6, 6), 0.5, np.float32)
    data[:, :, :, ::2] = -0.5
    net = LocalDenoiser(1, 1, 1, hidden=8, depth=2, prediction=prediction, seed=0)
    before = evaluate_per_site_loss(net, data, path, [0.3], seed=1, loss="x0")
    hist = train_denoiser(
        net,
        data,
        path,
        steps=60,
        seed=0,
        batch_size=8,
        lr=1e-2,
        t_sampler=lambda rng, n: 0.1 + 0.8 * rng.random(n),
        progress=False,
    )
    after = evaluate_per_site_loss(net, data, path, [0.3], seed=1, loss="x0")
    assert np.isfinite(hist.losses).all()
    assert after.mean[0] < 0.5 * before.mean[0], (before.mean, after.mean)
    x_t, _ = path.sample(data[:3], 0.3, np.random.default_rng(0))
    x0_hat = predict_x0(net, x_t, 0.3, path)
    assert x0_hat.shape == x_t.shape and x0_hat.dtype == np.float32
    native = evaluate_per_site_loss(net, data, path, [0.3], seed=1)
    assert native.loss == "native" and np.isfinite(native.mean).all()


def test_evaluation_is_paired_and_deterministic():
    data, bf = _spins(n=50), BitFlip()
    a = LocalDenoiser(1, 1, 2, hidden=4, seed=0)
    b = LocalDenoiser(2, 1, 2, hidden=4, seed=1)
    r1 = evaluate_per_site_loss(a, data, bf, [0.1, 0.4], seed=7, batch_size=16)
    r2 = evaluate_per_site_loss(a, data, bf, [0.1, 0.4], seed=7, batch_size=16)
    assert np.array_equal(r1.per_sample, r2.per_sample) and r1.per_sample.shape == (2, 50)
    r3 = evaluate_per_site_loss(a, data, bf, [0.1, 0.4], seed=8, batch_size=16)
    assert not np.array_equal(r1.per_sample, r3.per_sample)
    # same seed -> same noisy inputs for every model: check through the noise itself
    rb = evaluate_per_site_loss(b, data, bf, [0.1], seed=7, batch_size=16)
    assert rb.per_sample.shape == (1, 50)
    assert json.loads(json.dumps(r1.to_dict()))["n_samples"] == 50


def test_save_and_load_model(tmp_path):
    net = GlobalDenoiser(1, 2, hidden=4, levels=1, seed=0)
    train_denoiser(net, _spins(n=16), BitFlip(), steps=2, seed=0, **KW)
    cfg = {"name": "ising-global", "data": "toy", "steps": 2}
    p = save_model(net, tmp_path / "models", cfg, "# toy\nA toy model.", metrics={"ce": 0.5})
    assert p.parent == tmp_path / "models" and p.name.startswith("ising-global-")
    assert sorted(f.name for f in p.iterdir()) == [
        "card.md",
        "config.json",
        "metrics.json",
        "weights.pt",
    ]
    stored = json.loads((p / "config.json").read_text())
    assert stored["id"] == p.name.split("-")[-1] and stored["model"]["class"] == "GlobalDenoiser"
    assert save_model(net, tmp_path / "models", cfg, "again") == p  # content-addressed
    assert save_model(net, tmp_path / "models", {**cfg, "steps": 3}, "x") != p
    loaded = load_model(p)
    x = torch.randn(2, 1, 5, 5)
    with torch.no_grad():
        assert torch.equal(
            loaded(x, torch.tensor([0.1, 0.2])), net.eval()(x, torch.tensor([0.1, 0.2]))
        )
    assert loaded.saved_config["data"] == "toy"
    with pytest.raises(ParameterError, match="name"):
        save_model(net, tmp_path, {"name": "../evil"}, "")
    with pytest.raises(ParameterError, match="JSON"):
        save_model(net, tmp_path, {"x": float("nan")}, "")
    with pytest.raises(DataFileError, match="not a model folder"):
        load_model(tmp_path / "nope")


def test_training_validation():
    data, bf = _spins(), BitFlip()
    with pytest.raises(ParameterError, match=r"in/out channels \(1, 3\)"):
        train_denoiser(LocalDenoiser(1, 1, 3), data, bf, steps=1, **KW)
    with pytest.raises(ParameterError, match="dim=1 model"):
        train_denoiser(LocalDenoiser(1, 1, 2, dim=1), data, bf, steps=1, **KW)
    with pytest.raises(ParameterError, match="fixed time"):
        train_denoiser(LocalDenoiser(1, 1, 2, t_embedding=None), data, bf, steps=1, **KW)
    with pytest.raises(ParameterError, match="prediction='logits'"):
        train_denoiser(LocalDenoiser(1, 1, 2, prediction="x0"), data, bf, steps=1, **KW)
    with pytest.raises(ParameterError, match="int8 spins"):
        train_denoiser(LocalDenoiser(1, 1, 2), data.astype(np.float32), bf, steps=1, **KW)
    with pytest.raises(ParameterError, match="steps"):
        train_denoiser(LocalDenoiser(1, 1, 2), data, bf, steps=-1, **KW)
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA is not available"):
            train_denoiser(LocalDenoiser(1, 1, 2), data, bf, steps=1, device="cuda", **KW)
