"""Strict locality of LocalDenoiser (DESIGN.md §2, habit 3), padding, equivariance, global reach.

The locality test is exhaustive: for every radius r in 0..12, every architecture and lattice
sizes L = 2r+2 (even) and 2r+3 (odd), every single input (channel, site) outside the window
``||j - i||_inf <= r`` is changed in turn and the output at the probed site must stay *bitwise*
identical (float32, CPU); changing an input at a corner of the window must change it. All
parameters, including the FiLM layers that start at zero, are randomised so the time
conditioning is active, and every sample in a batch gets a different t.
"""

import itertools

import numpy as np
import pytest
import torch

from latticediff.errors import ParameterError
from latticediff.nn.local import LocalDenoiser, pad_lattice, split_logits
from latticediff.nn.unet import GlobalDenoiser


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These networks are tiny: one intra-op thread is faster and immune to a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


ARCHS = {
    "2d-circular": dict(dim=2, padding="circular", in_channels=2),
    "2d-zeros": dict(dim=2, padding="zeros", in_channels=1),
    "2d-reflect": dict(dim=2, padding="reflect", in_channels=1),
    "2d-circular-stacked": dict(dim=2, padding="circular", in_channels=1, spatial_layers=3),
    "1d-circular": dict(dim=1, padding="circular", in_channels=2),
    "1d-zeros": dict(dim=1, padding="zeros", in_channels=1),
    "2d-parity": dict(dim=2, padding="circular", in_channels=2, input_features="vertex_parity"),
}
RADII = range(13)


def _randomise(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter (also the zero-initialised FiLM layers) a generic random value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.ndim >= 2 else 10
            p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)
    return net


def _local(r: int, arch: str, seed: int = 0) -> LocalDenoiser:
    kw = dict(ARCHS[arch])
    cin = kw.pop("in_channels")
    depth = 3 if kw.get("spatial_layers", 1) > 1 else 2
    net = LocalDenoiser(r, cin, 3, hidden=4, depth=depth, n_freq=2, emb_dim=4, seed=seed, **kw)
    return _randomise(net, seed + 1)


def _dist(j, i, L, periodic):
    d = np.abs(np.asarray(j) - np.asarray(i))
    if periodic:
        d = np.minimum(d, L - d)
    return int(d.max())


def _check_locality(net: LocalDenoiser, L: int, site: tuple, rng: np.random.Generator):
    dim, r, cin = net.dim, net.radius, net.in_channels
    periodic = net.padding == "circular"
    x0 = torch.from_numpy(rng.choice([-1.0, 1.0], size=(1, cin) + (L,) * dim).astype(np.float32))
    outside = [
        (c, j)
        for j in itertools.product(range(L), repeat=dim)
        if _dist(j, site, L, periodic) > r
        for c in range(cin)
    ]
    assert len(outside) == cin * (L**dim - min(2 * r + 1, L) ** dim) or not periodic
    corners = [
        tuple((s + d) % L for s, d in zip(site, sgn, strict=True))
        for sgn in ((-r,) * dim, (r,) * dim)
    ]
    if not periodic:  # window clipped by the boundary: use its in-lattice extreme corners
        corners = [
            tuple(min(max(s + d, 0), L - 1) for s, d in zip(site, sgn, strict=True))
            for sgn in ((-r,) * dim, (r,) * dim)
        ]
    inside = [(0, c) for c in corners]
    if getattr(net, "input_features", None) == "vertex_parity":
        # the window's edges at offset -r are read only through the parity of the vertex they
        # end on: h at (0, -r) and v at (-r, 0) (the corner (-r, -r) is never read)
        i, j = site
        inside = [(0, ((i + r) % L, (j + r) % L)), (0, (i, (j - r) % L)), (1, ((i - r) % L, j))]
    perts = outside + inside
    B = len(perts)
    x = x0.repeat((B,) + (1,) * (dim + 1))
    for b, (c, j) in enumerate(perts):
        x[(b, c) + j] = -x[(b, c) + j]
    t = torch.linspace(0.0, 1.0, B)
    base = x0.repeat((B,) + (1,) * (dim + 1))
    dev = next(net.parameters()).device
    x, t, base = x.to(dev), t.to(dev), base.to(dev)
    with torch.no_grad():
        out = net(x, t)
        ref = net(base, t)  # same batch positions and t as the perturbed inputs
    idx = (slice(None), slice(None)) + site
    o, rf = out[idx], ref[idx]
    n_out = len(outside)
    for b in range(n_out):
        assert torch.equal(o[b], rf[b]), f"r={r} L={L} site={site}: input {perts[b]} leaked"
    for b in range(n_out, B):
        assert not torch.equal(o[b], rf[b]), f"r={r} L={L}: window corner {perts[b]} ignored"


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("r", RADII)
def test_strict_locality_exhaustive(arch, r):
    if r == 0 and "input_features" in ARCHS[arch]:
        pytest.skip(
            "vertex parities need radius >= 1 (checked in test_local_vertex_parity_feature)"
        )
    net = _local(r, arch, seed=r)
    rng = np.random.default_rng(100 + r)
    for L in (2 * r + 2, 2 * r + 3):
        centre = (L // 2,) * net.dim
        _check_locality(net, L, centre, rng)
        if net.padding != "circular" and L % 2:  # near the boundary the padding is in the window
            _check_locality(net, L, (1,) * net.dim, rng)


class _Leaky(LocalDenoiser):
    """A deliberately broken model: adds a tiny global term (the test must catch it)."""

    def forward(self, x, t=None):
        return super().forward(x, t) + 1e-6 * x.mean()


def test_locality_check_detects_leaks():
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="leaked"):
        _check_locality(_randomise(_Leaky(2, 1, 3, hidden=4, seed=0), 1), 7, (3, 3), rng)
    wider = _local(3, "2d-circular")
    wider.radius = 2  # claims r = 2 but sees r = 3: the sites at distance 3 must be flagged
    with pytest.raises(AssertionError, match="leaked"):
        _check_locality(wider, 9, (4, 4), rng)
    blind = _local(2, "1d-circular")
    blind.radius = 3  # claims r = 3 but sees r = 2: the window corners must be flagged
    with pytest.raises(AssertionError, match="ignored"):
        _check_locality(blind, 9, (4,), rng)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("arch", ["2d-circular", "2d-zeros", "1d-circular"])
def test_strict_locality_on_cuda(arch):
    """cuDNN's Winograd/FFT convolutions leak rounding error across sites; LocalDenoiser
    bypasses cuDNN on CUDA (exact_on_cuda) so locality stays bitwise there too."""
    for r in (1, 4, 8, 12):
        kw = dict(ARCHS[arch])
        cin = kw.pop("in_channels")
        net = LocalDenoiser(r, cin, 3, hidden=64, depth=3, seed=r, **kw)
        net = _randomise(net, r).cuda()
        L = 2 * r + 3
        _check_locality(net, L, (L // 2,) * net.dim, np.random.default_rng(r))


@pytest.mark.parametrize("arch", ["2d-circular", "1d-circular", "2d-reflect", "2d-zeros"])
def test_locality_larger_lattice(arch):
    """A lattice much larger than the window (perturbations far away and just outside)."""
    for r in (1, 4):
        _check_locality(
            _local(r, arch, seed=7),
            4 * r + 7,
            (2 * r + 3,) * ARCHS[arch]["dim"],
            np.random.default_rng(r),
        )


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("r", [1, 3, 5, 12])
def test_small_lattices_window_wraps(dim, r):
    """L <= 2r+1: the circular window wraps onto itself, so every site is in it; the code must
    still give the input's shape, stay equivariant, and depend on every site."""
    arch = "2d-circular" if dim == 2 else "1d-circular"
    net = _local(r, arch, seed=3)
    rng = np.random.default_rng(r)
    for L in sorted({1, 2, 3, r + 1, 2 * r + 1}):
        x0 = torch.from_numpy(rng.choice([-1.0, 1.0], size=(1, 2) + (L,) * dim).astype(np.float32))
        sites = list(itertools.product(range(L), repeat=dim))
        x = x0.repeat((len(sites),) + (1,) * (dim + 1))
        for b, j in enumerate(sites):
            x[(b, 0) + j] = -x[(b, 0) + j]
        t = torch.full((len(sites),), 0.4)
        with torch.no_grad():
            out = net(x, t)
            ref = net(x0.repeat((len(sites),) + (1,) * (dim + 1)), t)
        assert out.shape == x.shape[:1] + (3,) + x.shape[2:]
        centre = (slice(None), slice(None)) + (L // 2,) * dim
        changed = (out[centre] != ref[centre]).any(dim=1)
        assert bool(changed.all()), f"L={L}: some site in the wrapped window was ignored"
        shift = tuple(range(1, dim + 1))
        with torch.no_grad():
            rolled = net(torch.roll(x0, shift, dims=tuple(range(2, 2 + dim))), 0.4)
            expect = torch.roll(net(x0, 0.4), shift, dims=tuple(range(2, 2 + dim)))
        torch.testing.assert_close(rolled, expect, rtol=1e-5, atol=1e-5)
    for pad in ("zeros", "reflect"):  # also runs when the window exceeds the lattice
        net2 = LocalDenoiser(r, 1, 2, hidden=3, depth=1, padding=pad, dim=dim, seed=0)
        y = net2(torch.ones((2, 1) + (2,) * dim), torch.tensor([0.1, 0.2]))
        assert y.shape == (2, 2) + (2,) * dim and torch.isfinite(y).all()


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_translation_equivariance_circular(dim):
    r = 2
    net = _randomise(
        LocalDenoiser(r, 2, 4, hidden=6, depth=3, spatial_layers=2, dim=dim, seed=1), 2
    ).double()
    L = 9 if dim < 3 else 6
    x = torch.randn((3, 2) + (L,) * dim, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    dims = tuple(range(2, 2 + dim))
    for shift in [(1,) * dim, tuple(range(2, 2 + dim)), (L - 1,) * dim]:
        with torch.no_grad():
            a = net(torch.roll(x, shift, dims=dims), t)
            b = torch.roll(net(x, t), shift, dims=dims)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "mode,np_mode", [("circular", "wrap"), ("zeros", "constant"), ("reflect", "reflect")]
)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_pad_lattice_matches_numpy(mode, np_mode, dim):
    rng = np.random.default_rng(dim)
    for L, r in [(1, 0), (1, 3), (2, 1), (3, 2), (4, 7), (5, 12)]:
        if mode == "reflect" and L == 1:
            continue  # numpy cannot reflect a single site; we replicate it (tested below)
        a = rng.standard_normal((2, 3) + (L,) * dim)
        got = pad_lattice(torch.from_numpy(a), r, mode, dim).numpy()
        want = np.pad(a, [(0, 0), (0, 0)] + [(r, r)] * dim, mode=np_mode)
        assert np.array_equal(got, want), (L, r)
    one = torch.ones((1, 1) + (1,) * dim)
    assert torch.equal(pad_lattice(one, 3, "reflect", dim), torch.ones((1, 1) + (7,) * dim))


def test_circular_pad_by_hand():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    p = pad_lattice(x, 1, "circular", 2)
    assert p.shape == (1, 1, 5, 6)
    assert torch.equal(p[0, 0, 1:-1, 1:-1], x[0, 0])
    assert torch.equal(p[0, 0, 0, 1:-1], x[0, 0, -1])  # top row is the last row
    assert torch.equal(p[0, 0, 1:-1, 0], x[0, 0, :, -1])  # left column is the last column
    assert p[0, 0, 0, 0] == x[0, 0, -1, -1]  # corner wraps diagonally


def test_local_cost_and_layers():
    net = LocalDenoiser(3, 2, 4, hidden=8, depth=3, seed=0)
    assert net.layer_radii == (3, 0, 0)
    assert net.flops_per_site() == 2 * (2 * 8 * 49 + 8 * 8 + 8 * 8 + 8 * 4)
    assert net.flops_per_site((64, 64)) == net.flops_per_site((16, 16))
    conv_params = (2 * 8 * 49 + 8) + 2 * (8 * 8 + 8) + (8 * 4 + 4)
    emb_params = (17 * 64 + 64) + (64 * 64 + 64) + 3 * (64 * 16 + 16)
    assert net.n_params() == conv_params + emb_params
    stacked = LocalDenoiser(7, 1, 2, hidden=4, depth=4, spatial_layers=3, seed=0)
    assert stacked.layer_radii == (3, 2, 2, 0)
    assert [c.kernel_size[0] for c in stacked.convs] == [7, 5, 5, 1]
    assert LocalDenoiser(1, 1, 2, depth=3, spatial_layers=3).layer_radii == (1, 0, 0)
    r0 = LocalDenoiser(0, 1, 2, hidden=4, depth=2, dim=1)
    assert all(c.kernel_size == (1,) for c in r0.convs)
    # the cost grows with r like (2r+1)^dim in the first layer only
    f = [LocalDenoiser(r, 1, 2, hidden=8, depth=2).flops_per_site() for r in range(4)]
    assert np.all(np.diff(f) > 0)


def test_seeded_construction_and_config():
    a = LocalDenoiser(2, 1, 2, hidden=4, seed=5)
    state = torch.random.get_rng_state()
    b = LocalDenoiser(**a.config()["kwargs"])
    assert torch.equal(torch.random.get_rng_state(), state)  # construction left torch's RNG alone
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    assert a.config()["class"] == "LocalDenoiser"


def test_split_logits_layout():
    out = torch.arange(2 * 6 * 3 * 3.0).view(2, 6, 3, 3)
    v = split_logits(out, 3)
    assert v.shape == (2, 3, 2, 3, 3)
    assert torch.equal(v[:, 1, 0], out[:, 2])  # channel index k * C + c
    with pytest.raises(ParameterError, match="not a multiple"):
        split_logits(out, 4)


def test_local_validation():
    with pytest.raises(ParameterError, match="radius must be an integer >= 0, got -1"):
        LocalDenoiser(-1, 1, 2)
    with pytest.raises(ParameterError, match="padding must be one of"):
        LocalDenoiser(1, 1, 2, padding="replicate")
    with pytest.raises(ParameterError, match="spatial_layers"):
        LocalDenoiser(1, 1, 2, depth=2, spatial_layers=3)
    with pytest.raises(ParameterError, match="dim"):
        LocalDenoiser(1, 1, 2, dim=4)
    net = LocalDenoiser(1, 2, 2, hidden=3)
    with pytest.raises(ParameterError, match=r"input must have shape \(n, 2, L, L\)"):
        net(torch.zeros(1, 1, 5, 5), 0.1)
    with pytest.raises(ParameterError, match="t .one value per sample. is required"):
        net(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ParameterError, match="one value per sample"):
        net(torch.zeros(2, 2, 5, 5), torch.zeros(3))
    with pytest.raises(ParameterError, match="without t"):
        LocalDenoiser(1, 2, 2, t_embedding=None)(torch.zeros(1, 2, 5, 5), 0.1)


# ---------------------------------------------------------------------------------------------
# global baseline


@pytest.mark.parametrize("padding", ["circular", "zeros", "reflect"])
@pytest.mark.parametrize("dim", [1, 2])
def test_global_reaches_every_site(padding, dim):
    net = _randomise(
        GlobalDenoiser(
            2, 3, hidden=4, levels=2, padding=padding, dim=dim, n_freq=2, emb_dim=4, seed=0
        ),
        1,
    ).double()
    for L in (1, 2, 5, 8, 9, 15):
        x = torch.randn((1, 2) + (L,) * dim, dtype=torch.float64, requires_grad=True)
        y = net(x, torch.tensor([0.3], dtype=torch.float64))
        assert y.shape == (1, 3) + (L,) * dim
        centre = (0, 0) + (L // 2,) * dim
        (grad,) = torch.autograd.grad(y[centre], x)
        assert bool((grad.abs() > 0).all()), f"L={L}: centre output misses some input"
        # and a finite change far away changes the centre output
        x2 = x.detach().clone()
        x2[(0, 0) + (0,) * dim] += 1.0
        with torch.no_grad():
            assert not torch.equal(
                net(x2, torch.tensor([0.3], dtype=torch.float64))[centre], y.detach()[centre]
            )


def test_global_any_size_and_cost():
    net = GlobalDenoiser(1, 2, hidden=4, levels=3, seed=0)
    for shape in [(1, 1), (3, 7), (16, 16), (17, 13), (28, 28)]:
        assert net(torch.zeros((2, 1) + shape), torch.tensor([0.0, 1.0])).shape == (2, 2) + shape
    f16, f64 = net.flops_per_site((16, 16)), net.flops_per_site((64, 64))
    assert f16 > 0 and abs(f64 / f16 - 1) < 0.05  # per-site cost is ~independent of L
    assert net.receptive_radius is None
    assert net.n_params() == sum(p.numel() for p in net.parameters())
    with pytest.raises(ParameterError, match="lattice shape"):
        net.flops_per_site(None)
    g1 = GlobalDenoiser(1, 1, hidden=4, levels=1, dim=1, t_embedding=None, prediction="eps")
    assert g1(torch.zeros(1, 1, 11)).shape == (1, 1, 11) and g1.prediction == "eps"


def test_global_vertex_parity_feature(tmp_path):
    """The added channel is -1 exactly at the vertex defects of the edge configuration (the
    same convention as LoopGas.vertex_parity), the network sees it, and the option survives a
    save/load round trip."""
    from latticediff.nn.train import encode_input, load_model, save_model
    from latticediff.noise import BitFlip
    from latticediff.systems import LoopGas

    b = np.random.default_rng(0).integers(0, 2, size=(3, 2, 6, 5)).astype(np.uint8)
    x = encode_input(b, BitFlip())
    net = GlobalDenoiser(2, 4, hidden=4, levels=1, seed=0, input_features="vertex_parity")
    assert net.stem.conv.in_channels == 3
    seen = {}
    hook = net.stem.register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    t = torch.full((3,), 0.2)
    y = net(x, t)
    hook.remove()
    par = seen["x"][:, 2].numpy()
    np.testing.assert_array_equal(par == -1, LoopGas.vertex_parity(b).astype(bool))
    torch.testing.assert_close(seen["x"][:, :2], x)
    back = load_model(save_model(net, tmp_path, {"name": "parity"}, "test"))
    assert back.input_features == "vertex_parity"
    torch.testing.assert_close(back(x, t), y)
    plain = GlobalDenoiser(2, 4, hidden=4, levels=1, seed=0)
    assert "input_features" not in plain.config()["kwargs"]  # old configs unchanged
    for kw in (dict(in_channels=1), dict(padding="zeros"), dict(input_features="syndrome")):
        args = dict(in_channels=2, padding="circular", input_features="vertex_parity") | kw
        with pytest.raises(ParameterError, match="input_features"):
            GlobalDenoiser(args.pop("in_channels"), 4, hidden=4, **args)


def test_global_group_norm_option(tmp_path):
    """norm="group" adds a GroupNorm before every activation of the residual blocks and before
    the head; it survives a save/load round trip, plain configs do not mention it, and an
    unknown value is refused by name."""
    from latticediff.nn.train import load_model, save_model

    net = GlobalDenoiser(2, 4, hidden=8, levels=2, seed=0, norm="group")
    plain = GlobalDenoiser(2, 4, hidden=8, levels=2, seed=0)
    n_norms = sum(isinstance(m, torch.nn.GroupNorm) for m in net.modules())
    assert n_norms == 2 * (2 * 2 + 2) + 1  # two per block (2 down, 2 mid, 2 up), one at the head
    assert net.n_params() == plain.n_params() + n_norms * 2 * 8
    x = torch.randn(3, 2, 6, 5)
    t = torch.full((3,), 0.3)
    y = net(x, t)
    back = load_model(save_model(net, tmp_path, {"name": "normed"}, "test"))
    assert back.norm == "group"
    torch.testing.assert_close(back(x, t), y)
    assert "norm" not in plain.config()["kwargs"]  # earlier configs and ids unchanged
    with pytest.raises(ParameterError, match="'batch'"):
        GlobalDenoiser(2, 4, hidden=8, norm="batch")
    # "group-stream": one more GroupNorm before each of the 2 down and 2 merge convolutions
    stream = GlobalDenoiser(2, 4, hidden=8, levels=2, seed=0, norm="group-stream")
    gns = [m for m in stream.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(gns) == n_norms + 4
    assert stream.n_params() == net.n_params() + 2 * 2 * 8 + 2 * 2 * 16
    back = load_model(save_model(stream, tmp_path, {"name": "stream"}, "test"))
    assert back.norm == "group-stream"
    torch.testing.assert_close(back(x, t), stream(x, t))
    # the stream norm undoes a scale of the stream: blow up the first block's output, and the
    # input of the first down-sampling convolution keeps unit variance per group
    seen = []
    stream.downs[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        stream.stem.conv.weight.mul_(1e4)
        stream(x, t)
    v = seen[0].reshape(3, 8, -1).var(dim=2, unbiased=False)  # 8 groups of one channel
    torch.testing.assert_close(v, torch.ones_like(v), atol=1e-3, rtol=0)


def test_local_vertex_parity_feature(tmp_path):
    """The local model's two parity channels are the LoopGas.vertex_parity of the vertex at each
    site and of its diagonal neighbour; the convolutions shrink to radius r - 1; the option
    survives save/load and is refused where it cannot work."""
    from latticediff.nn.local import _with_parities
    from latticediff.nn.train import encode_input, load_model, save_model
    from latticediff.noise import BitFlip
    from latticediff.systems import LoopGas

    b = np.random.default_rng(1).integers(0, 2, size=(3, 2, 7, 7)).astype(np.uint8)
    x = encode_input(b, BitFlip())
    r = 2
    h = _with_parities(pad_lattice(x, r, "circular", 2))
    assert h.shape == (3, 4, 7 + 2 * (r - 1), 7 + 2 * (r - 1))
    core = h[:, :, r - 1 : r - 1 + 7, r - 1 : r - 1 + 7]  # entry of lattice site i
    defect = LoopGas.vertex_parity(b).astype(bool)
    np.testing.assert_array_equal(core[:, 2].numpy() == -1, defect)
    np.testing.assert_array_equal(core[:, 3].numpy() == -1, np.roll(defect, (-1, -1), (1, 2)))
    torch.testing.assert_close(core[:, :2], x)
    net = LocalDenoiser(3, 2, 4, hidden=4, depth=2, seed=0, input_features="vertex_parity")
    assert net.receptive_radius == 3 and net.conv_radius == 2 and net.convs[0].in_channels == 4
    t = torch.full((3,), 0.3)
    y = net(x, t)
    back = load_model(save_model(net, tmp_path, {"name": "local-parity"}, "test"))
    assert back.input_features == "vertex_parity"
    torch.testing.assert_close(back(x, t), y)
    assert "input_features" not in LocalDenoiser(3, 2, 4, hidden=4).config()["kwargs"]
    for r_bad, kw in ((0, {}), (2, dict(padding="zeros")), (2, dict(dim=1))):
        with pytest.raises(ParameterError, match="input_features"):
            LocalDenoiser(r_bad, 2, 4, hidden=4, input_features="vertex_parity", **kw)
    with pytest.raises(ParameterError, match="input_features"):
        LocalDenoiser(2, 2, 4, hidden=4, input_features="syndrome")


# ---------------------------------------------------------------------------------------------
# position-aware local denoisers: data-local, not translation-equivariant


def _positional(r, kind, *, padding, dim, L, seed=0, depth=3, spatial_layers=2):
    kw = dict(positional=kind, pos_features=2)
    if kind == "learned":
        kw["shape"] = (L,) * dim
    net = LocalDenoiser(
        r,
        1,
        3,
        hidden=4,
        depth=depth,
        spatial_layers=spatial_layers,
        padding=padding,
        dim=dim,
        n_freq=2,
        emb_dim=4,
        seed=seed,
        **kw,
    )
    return _randomise(net, seed + 1)


@pytest.mark.parametrize("kind", ["fourier", "learned"])
@pytest.mark.parametrize("padding", ["zeros", "circular", "reflect"])
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("r", [0, 1, 2, 3, 5])
def test_positional_strict_locality(kind, padding, dim, r):
    """With a position code the output at i still depends on the *data* only within the window:
    every single input outside it leaves the probed output bitwise unchanged, the window's
    corners change it (the same exhaustive check as for plain models), at the centre and next
    to the boundary, with one or two spatial layers."""
    rng = np.random.default_rng(10 * r + dim)
    for L in (2 * r + 2, 2 * r + 3):
        for spatial in (1, 2):
            net = _positional(
                r, kind, padding=padding, dim=dim, L=L, seed=r + spatial, spatial_layers=spatial
            )
            _check_locality(net, L, (L // 2,) * dim, rng)
            _check_locality(net, L, (1,) * dim, rng)


def test_positional_is_position_aware_and_plain_is_not():
    """Same data window, different places: a plain model gives the same output (translation
    equivariance), a positional one does not; the position code carries no data."""
    L, r = 13, 2
    x = torch.zeros(1, 1, L, L)  # identical (zero) windows at every site away from the border
    for kind in ("fourier", "learned"):
        net = _positional(r, kind, padding="zeros", dim=2, L=L)
        with torch.no_grad():
            y = net(x, 0.7)[0, 0]
        assert not torch.equal(y[4, 4], y[6, 8]), kind
        code = net.position_code((L, L))
        assert code.shape == (net.pos_channels, L, L)
        assert torch.equal(code, net.position_code((L, L)))  # a fixed function of the site
    plain = _randomise(LocalDenoiser(r, 1, 3, hidden=4, padding="zeros", seed=0), 1)
    with torch.no_grad():
        y = plain(x, 0.7)[0, 0]
    assert torch.equal(y[4, 4], y[6, 8])
    assert plain.position_code((L, L)) is None


def test_positional_cost_params_and_defaults():
    """FLOPs and parameters include the position code's projection (and the learned map);
    the shared layers start from the same parameters as the plain model (built last), and the
    plain model's config has no positional keys (so its content id is unchanged)."""
    common = dict(hidden=8, depth=3, spatial_layers=2, padding="zeros", prediction="x0", seed=3)
    plain = LocalDenoiser(3, 1, 1, **common)
    four = LocalDenoiser(3, 1, 1, positional="fourier", pos_features=3, **common)
    learn = LocalDenoiser(3, 1, 1, positional="learned", pos_features=5, shape=(9, 11), **common)
    assert four.pos_channels == 12 and learn.pos_channels == 5
    assert four.flops_per_site() == plain.flops_per_site() + 2 * 12 * 8
    assert learn.flops_per_site((9, 11)) == plain.flops_per_site() + 2 * 5 * 8
    assert four.n_params() == plain.n_params() + 12 * 8
    assert learn.n_params() == plain.n_params() + 5 * 8 + 5 * 9 * 11
    for net in (four, learn):
        sd = net.state_dict()
        for k, v in plain.state_dict().items():
            assert torch.equal(sd[k], v), k
    assert "positional" not in plain.config()["kwargs"]
    assert four.config()["kwargs"]["positional"] == "fourier"
    assert learn.config()["kwargs"]["shape"] == [9, 11]
    # position code enters after the last spatial layer (layer 0 when r = 0)
    assert four.pos_layer == 1 and LocalDenoiser(0, 1, 1, positional="fourier").pos_layer == 0


def test_fourier_positions_values():
    from latticediff.nn.local import fourier_positions

    p = fourier_positions((4, 6), 2, dtype=torch.float64)
    u_row = (torch.arange(4, dtype=torch.float64) + 0.5) / 4
    u_col = (torch.arange(6, dtype=torch.float64) + 0.5) / 6
    # channel order: axis 0 cos k=1,2, sin k=1,2, then axis 1
    torch.testing.assert_close(p[1, :, 0], torch.cos(2 * torch.pi * u_row))
    torch.testing.assert_close(p[2, :, 3], torch.sin(torch.pi * u_row))
    torch.testing.assert_close(p[4, 2, :], torch.cos(torch.pi * u_col))
    torch.testing.assert_close(p[7, 1, :], torch.sin(2 * torch.pi * u_col))


@pytest.mark.parametrize("kind", ["fourier", "learned"])
def test_positional_config_round_trip(kind, tmp_path):
    """save_model / load_model rebuild the position-aware model exactly (config.json holds the
    option; the learned shape as a JSON list)."""
    from latticediff.nn.train import load_model, save_model

    kw = dict(positional=kind, pos_features=3)
    if kind == "learned":
        kw["shape"] = (10, 10)
    net = _randomise(LocalDenoiser(2, 1, 1, hidden=4, padding="zeros", seed=0, **kw), 5)
    folder = save_model(net, tmp_path, {"name": f"pos-{kind}"}, "Position-aware test model.")
    back = load_model(folder)
    assert back.positional == kind and back.config() == net.config()
    x = torch.randn(3, 1, 10, 10)
    with torch.no_grad():
        assert torch.equal(
            back(x, torch.tensor([0.1, 0.5, 0.9])), net(x, torch.tensor([0.1, 0.5, 0.9]))
        )


def test_positional_validation():
    with pytest.raises(ParameterError, match="positional must be one of"):
        LocalDenoiser(1, 1, 1, positional="sinusoid")
    with pytest.raises(ParameterError, match="needs shape"):
        LocalDenoiser(1, 1, 1, positional="learned")
    with pytest.raises(ParameterError, match="needs shape"):
        LocalDenoiser(1, 1, 1, positional="learned", shape=(5,))  # dim = 2
    with pytest.raises(ParameterError, match="only used with"):
        LocalDenoiser(1, 1, 1, positional="fourier", shape=(5, 5))
    with pytest.raises(ParameterError, match="pos_features"):
        LocalDenoiser(1, 1, 1, positional="fourier", pos_features=0)
    net = LocalDenoiser(1, 1, 1, positional="learned", shape=(5, 5))
    with pytest.raises(ParameterError, match="learned position map is for lattice shape"):
        net(torch.zeros(1, 1, 6, 6), 0.1)
    assert net(torch.zeros(2, 1, 5, 5), 0.1).shape == (2, 1, 5, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["fourier", "learned"])
def test_positional_strict_locality_on_cuda(kind):
    for r in (1, 4, 8):
        L = 2 * r + 3
        net = _positional(r, kind, padding="zeros", dim=2, L=L, seed=r).cuda()
        _check_locality(net, L, (L // 2, L // 2), np.random.default_rng(r))
        _check_locality(net, L, (1, 1), np.random.default_rng(r))
