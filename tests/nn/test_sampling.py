"""Reverse samplers, hybrid schedules and compute accounting.

The samplers are validated independently of training: the denoisers here are torch modules that
compute the *exact* posterior (i.i.d. data: a per-site Bayes rule, r = 0; an open Ising chain:
forward-backward over the whole chain, a global denoiser; Gaussian data: the linear
E[x_0 | x_t]). Ancestral sampling with an exact posterior must reproduce the data distribution
(exactly for i.i.d. data at any number of steps; for correlated data as the steps shrink, since
each step factorises over sites). Tolerances are 4 standard errors of independent draws.
"""

import doctest
import math

import numpy as np
import pytest
import torch

import latticediff.nn.sampling as sampling_module
from latticediff.errors import ParameterError
from latticediff.nn import GlobalDenoiser, LocalDenoiser
from latticediff.nn.sampling import (
    ComputeReport,
    HybridSchedule,
    ModelCost,
    default_times,
    sample_discrete,
    sample_gaussian,
)
from latticediff.noise import BitFlip, GaussianPath, UniformResample

Z = 4.0


def test_doctests():
    res = doctest.testmod(sampling_module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted >= 7 and res.failed == 0


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------------------------
# exact denoisers (same interface as LocalDenoiser: x (n, C_in, *shape), per-sample time feature)


class _Exact(torch.nn.Module):
    """Shared attributes. ``embed`` is set so that predict_x0 passes the time feature c."""

    prediction = "logits"

    def __init__(self, dim, cin, cout, radius):
        super().__init__()
        self.dim, self.in_channels, self.out_channels = dim, cin, cout
        self.receptive_radius = radius
        self.embed = torch.nn.Identity()

    def flops_per_site(self, shape=None):
        return 10.0


class ExactIID(_Exact):
    """P(x_0 = k | x_t) ∝ prior_k C_k(y) for i.i.d. K-state data under M(u) = uI + (1-u)/K J
    channels (bit flips: u = 1 - 2p; resampling: u = exp(-gamma t)); c = 1 - u."""

    def __init__(self, prior, dim=2, channels=1):
        K = len(prior)
        super().__init__(dim, channels if K == 2 else K * channels, K * channels, 0)
        self.logprior = torch.log(torch.tensor(prior, dtype=torch.float64))
        self.K, self.C = K, channels

    def forward(self, x, c):
        n, K = x.shape[0], self.K
        x = x.double()
        if K == 2:
            idx = ((x + 1) / 2).round().long()
        else:
            idx = x.view(n, K, self.C, *x.shape[2:]).argmax(dim=1)
        bshape = (n, 1) + (1,) * (idx.ndim - 1)
        u = (1 - c.double()).view(bshape)
        ks = torch.arange(K).view((1, K) + (1,) * (idx.ndim - 1))
        lik = torch.where(idx[:, None] == ks, u + (1 - u) / K, (1 - u) / K)
        logits = self.logprior.view((1, K) + (1,) * (idx.ndim - 1)) + torch.log(lik)
        return logits.reshape(n, K * self.C, *x.shape[2:]).float()


class ExactOpenChain(_Exact):
    """Exact per-site posterior of an open Ising chain (coupling K, zero field) seen through bit
    flips with p = c / 2, by the forward-backward recursion over the whole chain."""

    def __init__(self, K):
        super().__init__(1, 1, 2, None)
        e, f = math.exp(K), math.exp(-K)
        self.T = torch.tensor([[e, f], [f, e]], dtype=torch.float64)

    def forward(self, x, c):
        y = x[:, 0].double()
        n, N = y.shape
        p = (c.double() / 2)[:, None]
        up = y > 0
        em = torch.stack([torch.where(up, p, 1 - p), torch.where(up, 1 - p, p)], dim=-1)
        a = [em[:, 0] / em[:, 0].sum(1, keepdim=True)]
        for i in range(1, N):
            v = em[:, i] * (a[-1] @ self.T)
            a.append(v / v.sum(1, keepdim=True))
        b = [torch.ones(n, 2, dtype=torch.float64)]
        for i in range(N - 2, -1, -1):
            v = (em[:, i + 1] * b[0]) @ self.T.T
            b.insert(0, v / v.sum(1, keepdim=True))
        post = torch.stack([a[i] * b[i] for i in range(N)], dim=1)
        post = post / post.sum(-1, keepdim=True)
        return torch.log(post.clamp_min(1e-300)).permute(0, 2, 1).float()


class ExactGaussian(_Exact):
    """E[x_0 | x_t] on the linear path (alpha = 1 - t, sigma = t, time feature c = t) for
    x_0 ~ N(mu, s^2) i.i.d.: mu + alpha s^2 / (alpha^2 s^2 + sigma^2) (x_t - alpha mu)."""

    prediction = "x0"

    def __init__(self, mu, s, scale=1.0):
        super().__init__(2, 1, 1, 0)
        self.mu, self.s2, self.scale = mu, s * s, scale

    def forward(self, x, c):
        t = c.double().view(-1, 1, 1, 1)
        a = 1 - t
        k = self.scale * a * self.s2 / (a * a * self.s2 + t * t)
        return (self.mu + k * (x.double() - a * self.mu)).float()


def _binom_ok(k, n, p):
    return abs(k - n * p) <= Z * math.sqrt(n * p * (1 - p))


# ----------------------------------------------------------------------------------------------
# discrete: exactness with exact denoisers


@pytest.mark.parametrize("t_max,n_steps", [(math.inf, 1), (math.inf, 6), (4.0, 3)])
def test_iid_spins_reproduce_the_data_distribution(t_max, n_steps):
    # For i.i.d. data the exact per-site posterior makes every step exact, at any step count.
    net = ExactIID([0.2, 0.8])
    sched = HybridSchedule.single(net, t_max)
    x, _ = sample_discrete(sched, BitFlip(), (16, 16), 64, n_steps=n_steps, seed=1, dtype=np.int8)
    assert x.shape == (64, 1, 16, 16) and x.dtype == np.int8
    assert _binom_ok(int((x == 1).sum()), x.size, 0.8)
    # A denoiser with the wrong prior (0.7) gives a clearly different density: the check bites.
    wrong, _ = sample_discrete(
        HybridSchedule.single(ExactIID([0.3, 0.7]), t_max),
        BitFlip(),
        (16, 16),
        64,
        n_steps=n_steps,
        seed=1,
        dtype=np.int8,
    )
    assert not _binom_ok(int((wrong == 1).sum()), wrong.size, 0.8)


def test_bits_encoding_and_argmax_final_step():
    net = ExactIID([0.2, 0.8])
    sched = HybridSchedule.single(net, math.inf)
    x, _ = sample_discrete(sched, BitFlip(), (16, 16), 64, n_steps=5, seed=2, dtype=np.uint8)
    assert x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1}
    assert _binom_ok(int(x.sum()), x.size, 0.8)
    # argmax at the last step (from p = 0.1 on the grid uniform in p) keeps the noisy value:
    # P(x = +1) = 0.8 * 0.9 + 0.2 * 0.1 = 0.74, not the data's 0.8.
    assert default_times(BitFlip(), math.inf, 5)[-2] == pytest.approx(BitFlip().t_of_p(0.1))
    xa, _ = sample_discrete(
        sched, BitFlip(), (16, 16), 64, n_steps=5, seed=2, dtype=np.int8, final="argmax"
    )
    assert _binom_ok(int((xa == 1).sum()), xa.size, 0.74)


def test_iid_potts_states_reproduce_the_data_distribution():
    from scipy.stats import chisquare

    prior = np.array([0.6, 0.3, 0.1])
    net = ExactIID(list(prior))
    x, _ = sample_discrete(
        HybridSchedule.single(net, math.inf), UniformResample(q=3), (12, 12), 50, n_steps=4, seed=3
    )
    assert x.dtype == np.uint8 and x.shape == (50, 1, 12, 12)
    counts = np.bincount(x.ravel(), minlength=3)
    assert chisquare(counts, prior * x.size).pvalue > 1e-3
    assert chisquare(counts, np.array([0.5, 0.35, 0.15]) * x.size).pvalue < 1e-6


def _chain_corr(x):
    s = x[:, 0].astype(np.float64)
    c = (s[:, 1:] * s[:, :-1]).mean(axis=1)  # one value per (independent) sample
    return c.mean(), c.std(ddof=1) / math.sqrt(c.size)


def test_chain_global_exact_denoiser_recovers_correlations():
    K = 0.7
    net = ExactOpenChain(K)
    sched = HybridSchedule.single(net, math.inf)
    kw = dict(seed=4, dtype=np.int8, batch_size=4096)
    # One step samples every site from its marginal: the correlations are lost (product state).
    x1, _ = sample_discrete(sched, BitFlip(), (16,), 2000, n_steps=1, **kw)
    c1, se1 = _chain_corr(x1)
    assert abs(c1) < Z * se1 + 0.01
    # Many small steps: each factorised step is nearly exact; the bias is ~0.5/n_steps
    # (measured: 0.021 at 25 steps, 0.0024 at 200), well below 4 sigma (~0.018) here.
    x, _ = sample_discrete(sched, BitFlip(), (16,), 2000, n_steps=128, **kw)
    c, se = _chain_corr(x)
    assert abs(c - math.tanh(K)) < Z * se, (c, se)


@pytest.mark.slow
def test_chain_factorisation_bias_vanishes_with_more_steps():
    K = 0.7
    sched = HybridSchedule.single(ExactOpenChain(K), math.inf)
    kw = dict(seed=5, dtype=np.int8, batch_size=20000)
    x, _ = sample_discrete(sched, BitFlip(), (16,), 20000, n_steps=25, **kw)
    c25, se25 = _chain_corr(x)
    x, _ = sample_discrete(sched, BitFlip(), (16,), 20000, n_steps=400, **kw)
    c400, se400 = _chain_corr(x)
    assert c25 - math.tanh(K) < -Z * se25  # visibly biased at 25 steps
    assert abs(c400 - math.tanh(K)) < Z * se400


def test_hybrid_switching_does_not_change_the_random_stream():
    # Two distinct but identical exact models in a hybrid give bitwise the same samples as one.
    a, b = ExactIID([0.4, 0.6]), ExactIID([0.4, 0.6])
    b.receptive_radius = None  # label it global
    single = HybridSchedule.single(a, 3.0)
    hybrid = HybridSchedule.local_global(a, b, window=(0.5, 1.5), t_max=3.0)
    kw = dict(n_steps=10, seed=7, dtype=np.int8)
    x1, r1 = sample_discrete(single, BitFlip(), (8, 8), 10, **kw)
    x2, r2 = sample_discrete(hybrid, BitFlip(), (8, 8), 10, **kw)
    assert np.array_equal(x1, x2)
    times = default_times(BitFlip(), 3.0, 10)[:-1]
    n_glob = int(np.sum((times > 0.5) & (times <= 1.5)))
    assert 0 < n_glob < 10
    assert r2["global"].evaluations == n_glob and r2["local r=0"].evaluations == 10 - n_glob
    assert r1["local r=0"].evaluations == 10


def test_same_seed_same_samples_and_batch_size_does_not_matter():
    net = LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0)
    sched = HybridSchedule.single(net, 2.0)
    kw = dict(n_steps=6, dtype=np.int8)
    a, _ = sample_discrete(sched, BitFlip(), (6, 6), 9, seed=11, **kw)
    b, _ = sample_discrete(sched, BitFlip(), (6, 6), 9, seed=11, batch_size=4, **kw)
    c, _ = sample_discrete(sched, BitFlip(), (6, 6), 9, seed=12, **kw)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_loop_gas_channels_and_callback():
    net = LocalDenoiser(1, 2, 4, hidden=4, depth=1, seed=0)  # C = 2 edge channels, 2 classes
    seen = []
    x, rep = sample_discrete(
        HybridSchedule.single(net, math.inf),
        BitFlip(),
        (5, 5),
        3,
        n_steps=4,
        seed=0,
        dtype=np.uint8,
        callback=lambda k, s, xs: seen.append((k, s, xs.shape)),
    )
    assert x.shape == (3, 2, 5, 5) and x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1}
    assert [k for k, _, _ in seen] == [0, 1, 2, 3] and seen[-1][1] == 0.0
    assert rep.n_steps == 4 and rep.sites == 25


# ----------------------------------------------------------------------------------------------
# compute accounting


def test_compute_report_hybrid_half_global():
    loc = LocalDenoiser(1, 1, 1, hidden=8, depth=2, prediction="x0", padding="zeros", seed=0)
    glo = GlobalDenoiser(1, 1, hidden=8, levels=1, prediction="x0", padding="zeros", seed=0)
    sched = HybridSchedule.local_global(loc, glo, window=(0.25, 0.75), t_max=1.0)
    n, shape = 3, (8, 8)
    # Uniform grid 1.0, 0.9, ..., 0.1 -> 0: steps starting at 0.7 ... 0.3 use the global model.
    x, rep = sample_gaussian(sched, GaussianPath(), shape, n, n_steps=10, seed=0)
    fl, fg = loc.flops_per_site(), glo.flops_per_site(shape)
    assert fl == 2 * (1 * 8 * 9 + 8 * 8 + 8 * 1)  # 3x3 conv, 1x1 conv, 1x1 head
    assert rep["local r=1"].evaluations == 5 and rep["global"].evaluations == 5
    assert rep["local r=1"].flops == 5 * n * 64 * fl
    assert rep["global"].flops == pytest.approx(5 * n * 64 * fg)
    assert rep.total_flops == pytest.approx(5 * n * 64 * (fl + fg))
    assert rep.fraction_of_global() == pytest.approx((fl + fg) / (2 * fg))
    assert rep.fraction_of_global(glo) == pytest.approx((fl + fg) / (2 * fg))
    _, rep_g = sample_gaussian(
        HybridSchedule.single(glo, 1.0), GaussianPath(), shape, n, n_steps=10, seed=0
    )
    assert rep_g.fraction_of_global() == pytest.approx(1.0)
    assert rep.relative_to(rep_g)["flops"] == pytest.approx((fl + fg) / (2 * fg))
    assert rep.wall_s >= rep.network_wall_s > 0
    d = rep.to_dict()
    assert d["models"][0]["evaluations"] + d["models"][1]["evaluations"] == 10
    assert "total" in rep.summary()
    with pytest.raises(KeyError, match="no model named"):
        rep["local r=7"]


def test_compute_report_needs_one_global_model():
    rep = ComputeReport((ModelCost("local r=1", 1, 4, 10.0, 40.0, 0.0),), 1, 4, (1,), "cpu", 0.0)
    with pytest.raises(ParameterError, match="0 global models"):
        rep.fraction_of_global()


# ----------------------------------------------------------------------------------------------
# schedules


def _nets():
    return [LocalDenoiser(r, 1, 2, hidden=2, depth=1, seed=0) for r in (0, 1, 2)]


def test_schedule_validation_errors():
    a, b, c = _nets()
    with pytest.raises(ParameterError, match="gap between segment \\[0, 0.4\\]"):
        HybridSchedule([(0.0, 0.4, a), (0.5, 1.0, b)])
    with pytest.raises(ParameterError, match="overlap"):
        HybridSchedule([(0.0, 0.6, a), (0.5, 1.0, b)])
    with pytest.raises(ParameterError, match="start at t = 0"):
        HybridSchedule([(0.1, 1.0, a)])
    with pytest.raises(ParameterError, match="t_lo < t_hi"):
        HybridSchedule([(0.0, 0.0, a)])
    with pytest.raises(ParameterError, match="only the last segment may end at inf"):
        HybridSchedule([(0.0, 1.0, a), (1.0, math.inf, b), (2.0, 3.0, c)])
    with pytest.raises(ParameterError, match=">= 0"):
        HybridSchedule([(-1.0, 1.0, a)])
    with pytest.raises(ParameterError, match="torch.nn.Module"):
        HybridSchedule([(0.0, 1.0, "not a model")])
    with pytest.raises(ParameterError, match="at least one segment"):
        HybridSchedule([])
    with pytest.raises(ParameterError, match="same dim"):
        HybridSchedule([(0.0, 0.5, a), (0.5, 1.0, LocalDenoiser(1, 1, 2, hidden=2, dim=1))])
    with pytest.raises(ParameterError, match="two different models are named 'x'"):
        HybridSchedule([(0.0, 0.5, a, "x"), (0.5, 1.0, b, "x")])
    with pytest.raises(ParameterError, match="window must satisfy"):
        HybridSchedule.local_global(a, b, window=(0.5, 0.2), t_max=1.0)
    with pytest.raises(ParameterError, match="window must satisfy"):
        HybridSchedule.local_global(a, b, window=(0.2, 1.5), t_max=1.0)
    with pytest.raises(ParameterError, match="same object"):
        HybridSchedule.local_global(a, a, window=(0.2, 0.5), t_max=1.0)


def test_schedule_lookup_names_and_tolerant_boundaries():
    a, b, c = _nets()
    # any order; 0.1 + 0.2 = 0.30000000000000004 is matched to 0.3 within the tolerance
    s = HybridSchedule([(0.3, 1.0, c), (0.1, 0.1 + 0.2, b), (0.0, 0.1, a)])
    assert [seg.name for seg in s.segments] == ["local r=0", "local r=1", "local r=2"]
    assert s.model_at(0.0).model is a and s.model_at(0.1).model is a
    assert s.model_at(0.1000001).model is b and s.model_at(1.0).model is c
    with pytest.raises(ParameterError, match="t must be in"):
        s.model_at(1.5)
    # duplicate default names get a suffix; one model in two segments is one entry
    a2 = LocalDenoiser(0, 1, 2, hidden=2, depth=1, seed=1)
    s2 = HybridSchedule([(0.0, 0.2, a), (0.2, 0.5, a2), (0.5, 1.0, a)])
    assert [n for n, _ in s2.models] == ["local r=0", "local r=0 #2"]
    assert (
        repr(s2)
        == "HybridSchedule([0, 0.2] local r=0, (0.2, 0.5] local r=0 #2, (0.5, 1] local r=0)"
    )
    assert HybridSchedule.single(a, math.inf, name="tiny").models[0][0] == "tiny"
    assert HybridSchedule(s2) == s2


def test_sampler_argument_errors():
    a = LocalDenoiser(1, 1, 2, hidden=2, depth=1, seed=0)
    s = HybridSchedule.single(a, 2.0)
    bf = BitFlip()
    with pytest.raises(ParameterError, match="dtype=np.int8"):
        sample_discrete(s, bf, (4, 4), 2, n_steps=2)
    with pytest.raises(ParameterError, match="exactly one of n_steps"):
        sample_discrete(s, bf, (4, 4), 2, dtype=np.int8)
    with pytest.raises(ParameterError, match="run from the schedule's t_max=2"):
        sample_discrete(s, bf, (4, 4), 2, times=[1.0, 0.0], dtype=np.int8)
    with pytest.raises(ParameterError, match="strictly decreasing"):
        sample_discrete(s, bf, (4, 4), 2, times=[2.0, 2.5, 0.0], dtype=np.int8)
    with pytest.raises(ParameterError, match="shape must be 2 positive integers"):
        sample_discrete(s, bf, (4,), 2, n_steps=2, dtype=np.int8)
    with pytest.raises(ParameterError, match="sample_gaussian"):
        sample_discrete(s, GaussianPath(), (4, 4), 2, n_steps=2)
    with pytest.raises(ParameterError, match="HybridSchedule"):
        sample_discrete(a, bf, (4, 4), 2, n_steps=2, dtype=np.int8)
    with pytest.raises(ParameterError, match="final must be"):
        sample_discrete(s, bf, (4, 4), 2, n_steps=2, dtype=np.int8, final="mean")
    with pytest.raises(ParameterError, match="seed must be"):
        sample_discrete(s, bf, (4, 4), 2, n_steps=2, dtype=np.int8, seed=-1)
    with pytest.raises(ParameterError, match="not a multiple of n_classes=3"):
        sample_discrete(s, UniformResample(q=3), (4, 4), 2, n_steps=2)
    g = HybridSchedule.single(LocalDenoiser(0, 1, 1, hidden=2, prediction="x0"), 1.0)
    with pytest.raises(ParameterError, match="sample_discrete"):
        sample_gaussian(g, bf, (4, 4), 2, n_steps=2)
    with pytest.raises(ParameterError, match="path's t_max=5"):
        sample_gaussian(g, GaussianPath("vp"), (4, 4), 2, n_steps=2)
    with pytest.raises(ParameterError, match="method must be"):
        sample_gaussian(g, GaussianPath(), (4, 4), 2, n_steps=2, method="heun")
    with pytest.raises(ParameterError, match="clip_x0 needs lo < hi"):
        sample_gaussian(g, GaussianPath(), (4, 4), 2, n_steps=2, clip_x0=(1, -1))


# ----------------------------------------------------------------------------------------------
# Gaussian paths


def _scheme_variance(s, times, method):
    """Variance of x_0 produced by Euler (DDIM) or DDPM steps with the exact E[x_0|x_t], for
    x_0 ~ N(mu, s^2) on the linear path started from x_1 ~ N(0, 1): every step is linear in x_t,
    so the variance follows a scalar recursion (DDIM: Song et al. 2021, eq. 12 with eta = 0;
    DDPM posterior: Kingma et al. 2021, eq. 9)."""
    v = 1.0
    for t, u in zip(times[:-1], times[1:], strict=True):
        at, st, au, su = 1 - t, t, 1 - u, u
        k = at * s * s / (at * at * s * s + st * st)  # x0_hat - mu = k (x_t - at mu)
        if method == "euler":
            v *= (au * k + su / st * (1 - at * k)) ** 2
        else:
            a_tu = at / au
            var_tu = st**2 - a_tu**2 * su**2
            lin = a_tu * su**2 / st**2 + au * var_tu / st**2 * k
            v = lin**2 * v + var_tu * su**2 / st**2
    return v


@pytest.mark.parametrize("method", ["euler", "ddpm"])
def test_gaussian_exact_x0_predictor(method):
    mu, s = 0.7, 0.4
    net = ExactGaussian(mu, s)
    sched = HybridSchedule.single(net, 1.0)
    n_steps = 50
    x, rep = sample_gaussian(
        sched, GaussianPath(), (16, 16), 200, n_steps=n_steps, seed=1, method=method
    )
    assert x.shape == (200, 1, 16, 16) and x.dtype == np.float32
    N = x.size  # sites are independent: the exact denoiser acts per site
    times = np.linspace(1.0, 0.0, n_steps + 1)
    v_scheme = _scheme_variance(s, times, method)
    # the mean is exact at any step count; the variance is that of the discrete scheme
    assert abs(x.mean() - mu) < Z * math.sqrt(v_scheme / N)
    assert abs(x.var() / v_scheme - 1) < Z * math.sqrt(2 / N)
    # ... which converges to the data variance s^2 as the steps shrink (O(1/n_steps))
    errs = [
        abs(_scheme_variance(s, np.linspace(1, 0, m + 1), method) / s**2 - 1)
        for m in (50, 200, 2000)
    ]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.005
    # A wrong denoiser (posterior slope off by 20%) is clearly detected.
    bad, _ = sample_gaussian(
        HybridSchedule.single(ExactGaussian(mu, s, scale=0.8), 1.0),
        GaussianPath(),
        (16, 16),
        200,
        n_steps=n_steps,
        seed=1,
        method=method,
    )
    assert abs(bad.var() / v_scheme - 1) > 10 * math.sqrt(2 / N)


def test_gaussian_determinism_and_clipping():
    net = ExactGaussian(0.0, 1.0)
    sched = HybridSchedule.single(net, 1.0)
    kw = dict(n_steps=5, method="ddpm")
    a, _ = sample_gaussian(sched, GaussianPath(), (4, 4), 6, seed=3, **kw)
    b, _ = sample_gaussian(sched, GaussianPath(), (4, 4), 6, seed=3, batch_size=2, **kw)
    c, _ = sample_gaussian(sched, GaussianPath(), (4, 4), 6, seed=4, **kw)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    x, _ = sample_gaussian(sched, GaussianPath(), (4, 4), 6, seed=3, clip_x0=(-0.1, 0.1), **kw)
    assert x.min() >= -0.1 - 1e-7 and x.max() <= 0.1 + 1e-7  # last step returns x0_hat


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_random_stream():
    net = ExactIID([0.3, 0.7])
    sched = HybridSchedule.single(net, math.inf)
    kw = dict(n_steps=4, seed=0, dtype=np.int8)
    a, _ = sample_discrete(sched, BitFlip(), (8, 8), 4, device="cpu", **kw)
    b, rep = sample_discrete(sched, BitFlip(), (8, 8), 4, device="cuda", **kw)
    assert rep.device.startswith("cuda")
    assert np.mean(a == b) > 0.99  # same stream; only float rounding of the network may differ
