"""Strictly local denoisers: the output at a site depends only on the inputs within radius r.

A :class:`LocalDenoiser` of radius r pads its input *once*, explicitly, by r sites on every side
(:func:`pad_lattice`: circular on periodic lattices, zeros or reflection for images), then applies
only unpadded ("valid") convolutions whose kernel radii add up to exactly r, followed by 1x1
convolutions. So the output has the input's spatial size and the output at site i is a function
of exactly the window ``||j - i||_inf <= r`` (wrapped on periodic lattices; the window may wrap
onto itself when 2r + 1 > L). Conditioning on the noise level is per sample (a Fourier
embedding of a scalar, then a per-channel scale and shift, FiLM), so it cannot leak information
between sites. With circular padding the network is exactly translation-equivariant.

Position-aware variant (``positional="fourier"`` or ``"learned"``): for data that are not
stationary, such as centred digits, the best denoiser depends on *where* a pixel is (at t -> 1
the optimal x0 estimate is the position-dependent mean image). The network then also receives a
fixed description p(i) of the absolute position of the output site i: smooth sin/cos features of
its coordinates, or a learned per-site map for one lattice shape. p(i) is added, through a 1x1
(per-site) linear map, to the hidden features right after the last spatial convolution, where
the grid is the lattice itself. "Local" then means **data-local**: the output at i depends on
the noisy input only within the window ``||j - i||_inf <= r`` (exactly, bitwise, as before),
and in addition on the index i itself through p(i), which carries no data. Translation
equivariance is given up on purpose; with ``positional=None`` (the default) nothing changes.

Conventions shared with :mod:`latticediff.nn.unet` and :mod:`latticediff.nn.train`:

- input ``x``: float tensor ``(n, C_in, *shape)`` with ``len(shape) == dim``; ``t``: one
  conditioning scalar per sample, the process's ``time_feature(t)`` in [0, 1];
- discrete data: the output ``(n, K * C, *shape)`` holds logits; :func:`split_logits` views it
  as ``(n, K, C, *shape)`` (class axis 1, as ``torch.nn.functional.cross_entropy`` wants);
- Gaussian paths: the output ``(n, C, *shape)`` is the ``prediction`` ("x0", "eps" or "v").

Example
-------
>>> import torch
>>> from latticediff.nn.local import LocalDenoiser
>>> net = LocalDenoiser(2, 1, 2, hidden=8, depth=2, seed=0)
>>> net(torch.zeros(3, 1, 7, 7), torch.full((3,), 0.2)).shape
torch.Size([3, 2, 7, 7])
>>> net.flops_per_site()  # 2 * (1*8*25 + 8*8 + 8*2)
560
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError

__all__ = [
    "LocalDenoiser",
    "pad_lattice",
    "split_logits",
    "FourierEmbedding",
    "PADDINGS",
    "PREDICTION_KINDS",
    "POSITIONAL_KINDS",
    "fourier_positions",
]

PADDINGS = ("circular", "zeros", "reflect")
#: "logits" for discrete data; "x0", "eps", "v" for Gaussian paths.
PREDICTION_KINDS = ("logits", "x0", "eps", "v")
#: Position encodings of :class:`LocalDenoiser` (None: translation-equivariant, the default).
POSITIONAL_KINDS = (None, "fourier", "learned")


# ----------------------------------------------------------------------------------------------
# padding


def _reflect_index(n_out: torch.Tensor, L: int) -> torch.Tensor:
    """Indices for reflection without repeating the edge (numpy's and torch's "reflect"),
    valid for any pad width (several reflections when the pad exceeds L - 1)."""
    if L == 1:
        return torch.zeros_like(n_out)
    period = 2 * (L - 1)
    m = n_out % period
    return torch.where(m < L, m, period - m)


def pad_lattice(x: torch.Tensor, r: int, mode: str, dim: int) -> torch.Tensor:
    """Pad the last ``dim`` axes of ``x`` by ``r`` sites on both sides.

    ``mode``: ``"circular"`` (periodic wrap; any r, wrapping several times when r > L),
    ``"zeros"``, or ``"reflect"`` (mirror without repeating the edge, any r). Built from index
    gathers rather than ``torch.nn.functional.pad(mode="circular")``, whose circular mode has had
    bugs and refuses pads larger than the input.

    >>> import torch
    >>> pad_lattice(torch.arange(3.0).view(1, 1, 3), 2, "circular", 1)
    tensor([[[1., 2., 0., 1., 2., 0., 1.]]])
    >>> pad_lattice(torch.arange(3.0).view(1, 1, 3), 2, "reflect", 1)
    tensor([[[2., 1., 0., 1., 2., 1., 0.]]])
    """
    if mode not in PADDINGS:
        raise ParameterError(f"padding must be one of {PADDINGS}, got {mode!r}")
    if r == 0:
        return x
    if mode == "zeros":
        return F.pad(x, (r, r) * dim, mode="constant", value=0.0)
    for ax in range(x.ndim - dim, x.ndim):
        L = x.shape[ax]
        j = torch.arange(-r, L + r, device=x.device)
        idx = j % L if mode == "circular" else _reflect_index(j, L)
        x = torch.index_select(x, ax, idx)
    return x


def split_logits(out: torch.Tensor, n_classes: int) -> torch.Tensor:
    """View a discrete denoiser's output ``(n, K*C, *shape)`` as ``(n, K, C, *shape)``.

    >>> import torch
    >>> split_logits(torch.zeros(2, 6, 5, 5), 3).shape
    torch.Size([2, 3, 2, 5, 5])
    """
    n, kc = out.shape[:2]
    if kc % n_classes:
        raise ParameterError(f"output has {kc} channels, not a multiple of n_classes={n_classes}")
    return out.view(n, n_classes, kc // n_classes, *out.shape[2:])


def fourier_positions(shape, n_freq: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Smooth features of the absolute position of every site of a lattice of ``shape``.

    For each axis a with length L_a and coordinate ``u = (i_a + 1/2) / L_a`` in (0, 1), the
    features ``cos(pi k u), sin(pi k u)`` for k = 1..n_freq: ``2 n_freq len(shape)`` channels,
    returned as ``(2 n_freq len(shape), *shape)``. They depend on the site index only (never on
    data) and are smooth on the scale ``L / n_freq``.

    >>> fourier_positions((4, 6), 2).shape
    torch.Size([8, 4, 6])
    >>> round(float(fourier_positions((5,), 1)[0, 2]), 6)  # cos(pi/2) at the centre
    0.0
    """
    shape = tuple(int(s) for s in shape)
    k = math.pi * torch.arange(1, n_freq + 1, dtype=torch.float64, device=device)
    feats = []
    for a, L in enumerate(shape):
        u = (torch.arange(L, dtype=torch.float64, device=device) + 0.5) / L
        ang = k[:, None] * u[None, :]  # (n_freq, L)
        view = [1] * len(shape)
        view[a] = L
        for f in (torch.cos(ang), torch.sin(ang)):
            feats.append(f.view(n_freq, *view).expand(n_freq, *shape))
    return torch.cat(feats, dim=0).to(dtype)


def _vertex_parity(xp: torch.Tensor) -> torch.Tensor:
    """Loop-gas edges ``(n, 2, M, M)`` (channel 0: h(i,j), the edge to (i,j+1); 1: v(i,j), the
    edge to (i+1,j); +-1) -> ``(n, M-1, M-1)``: entry (a, b) is the product
    ``h(i,j) h(i,j-1) v(i,j) v(i-1,j)`` of the four edges at the vertex (i, j) = (a+1, b+1),
    -1 exactly at a defect. Shared by the local and the global denoisers."""
    eh, ev = xp[:, 0], xp[:, 1]
    return eh[:, 1:, 1:] * eh[:, 1:, :-1] * ev[:, 1:, 1:] * ev[:, :-1, 1:]


def _with_parities(xp: torch.Tensor) -> torch.Tensor:
    """Edges padded by r, ``(n, 2, M, M)`` -> ``(n, 4, M-2, M-2)``: the edges and two parity
    channels, cropped by one site on every side, so that a stack of radius r - 1 on the result
    reads only the input window of radius r. Entry j of the result is padded site j + 1; its
    parities are those of the vertices at padded sites j + 1 and j + 2 (diagonal), which read
    sites j .. j + 2."""
    par = _vertex_parity(xp)
    return torch.cat([xp[:, :, 1:-1, 1:-1], par[:, None, :-1, :-1], par[:, None, 1:, 1:]], dim=1)


# ----------------------------------------------------------------------------------------------
# conditioning


class FourierEmbedding(nn.Module):
    """Per-sample embedding of a scalar c in [0, 1]: ``[c, sin(pi 2^k c), cos(pi 2^k c)]`` for
    k < n_freq, then a two-layer SiLU MLP to ``emb_dim`` features."""

    def __init__(self, n_freq: int = 8, emb_dim: int = 64):
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freq, dtype=torch.float32))
        self.mlp = nn.Sequential(
            nn.Linear(2 * n_freq + 1, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim), nn.SiLU()
        )

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        a = c[:, None] * self.freqs.to(c.dtype)
        return self.mlp(torch.cat([c[:, None], torch.sin(a), torch.cos(a)], dim=1))


def _as_cond(t, x: torch.Tensor) -> torch.Tensor:
    """One conditioning scalar per sample as a tensor of x's dtype and device."""
    c = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if c.ndim == 0:
        c = c.expand(x.shape[0])
    if c.shape != (x.shape[0],):
        raise ParameterError(
            f"t must be a scalar or have one value per sample, shape ({x.shape[0]},), "
            f"got shape {tuple(c.shape)}"
        )
    return c


_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _check_int(name: str, v, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(f"{name} must be an integer {rng}, got {v!r}")
    return v


def _check_common(padding, dim, prediction, t_embedding):
    if padding not in PADDINGS:
        raise ParameterError(f"padding must be one of {PADDINGS}, got {padding!r}")
    _check_int("dim", dim, 1, 3)
    if prediction not in PREDICTION_KINDS:
        raise ParameterError(f"prediction must be one of {PREDICTION_KINDS}, got {prediction!r}")
    if t_embedding not in ("fourier", None):
        raise ParameterError(f"t_embedding must be 'fourier' or None, got {t_embedding!r}")


class _Denoiser(nn.Module):
    """Shared bookkeeping of the denoiser family (config, parameter count, input checks)."""

    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def config(self) -> dict:
        """``{"class": ..., "kwargs": ...}``: JSON-able, rebuilds the module (untrained)."""
        return {"class": type(self).__name__, "kwargs": dict(self._kwargs)}

    def _check_input(self, x: torch.Tensor):
        if x.ndim != self.dim + 2 or x.shape[1] != self.in_channels:
            raise ParameterError(
                f"{type(self).__name__}: input must have shape (n, {self.in_channels}, "
                f"{', '.join(['L'] * self.dim)}), got {tuple(x.shape)}"
            )

    def _film(self, t, x) -> torch.Tensor | None:
        if self.embed is None:
            if t is not None:
                raise ParameterError(
                    f"{type(self).__name__} was built with t_embedding=None; call it without t"
                )
            return None
        if t is None:
            raise ParameterError(f"{type(self).__name__}: t (one value per sample) is required")
        return self.embed(_as_cond(t, x))


def _init_seeded(module_init, seed):
    """Run a module's layer construction under a fixed torch seed without touching the global
    generator's state (so building a model never changes other random streams)."""
    if seed is None:
        return module_init()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module_init()


class LocalDenoiser(_Denoiser):
    """Strictly local convolutional denoiser of radius r (receptive field exactly (2r+1)^dim).

    Parameters
    ----------
    radius : int >= 0
        Output at site i depends only on inputs with ``||j - i||_inf <= radius``.
    in_channels, out_channels : int
        For discrete data ``out_channels = n_classes * C`` (logits, see :func:`split_logits`).
    hidden : int
        Width of the hidden layers.
    depth : int >= 1
        Number of hidden layers (convolution + FiLM + SiLU); then a final 1x1 convolution.
    spatial_layers : int >= 1
        How many of the hidden layers are spatial: the radius is split as evenly as possible
        among ``min(spatial_layers, radius)`` valid convolutions (kernel ``2 r_k + 1``,
        ``sum r_k = radius``); the rest are 1x1. Default 1: one (2r+1)^dim convolution followed
        by a per-site MLP.
    padding : "circular" | "zeros" | "reflect"
    dim : 1, 2 or 3
        Lattice dimension (1 for chains, 2 for lattices and images).
    t_embedding : "fourier" | None
        Condition on one scalar per sample (the process's ``time_feature``) through FiLM; None
        gives an unconditional model for a fixed noise level.
    prediction : "logits" | "x0" | "eps" | "v"
        What the output means (used by training and samplers).
    seed : int or None
        Seed of the parameter initialisation (None: torch's global generator).
    positional : None | "fourier" | "learned"
        None (default): no position input; with circular padding the network is exactly
        translation-equivariant. Otherwise the output at site i also depends on a position
        code p(i) (never on data outside the window): ``"fourier"``:
        :func:`fourier_positions` with ``pos_features`` frequencies per axis
        (``2 * pos_features * dim`` fixed channels, any lattice shape); ``"learned"``: a learned
        map of ``pos_features`` channels per site, for the one lattice ``shape`` given. p(i)
        enters through a 1x1 linear map (``pos_channels x hidden`` weights, no bias) added to
        the hidden features right after the last spatial convolution (the first layer when
        r = 0), before FiLM and the nonlinearity.
    pos_features : int >= 1
        Frequencies per axis (fourier) or channels of the learned map (learned). Default 4.
    shape : sequence of ``dim`` ints, only for ``positional="learned"``
        The lattice shape the learned map is made for (inputs must have it).
    input_features : None | ``"vertex_parity"``
        For loop-gas edges (``in_channels=2``, ``dim=2``, circular padding, radius >= 1), as
        for :class:`~latticediff.nn.unet.GlobalDenoiser`: two channels are added, the parity
        ``h(i,j) h(i,j-1) v(i,j) v(i-1,j)`` of the vertex at i (-1 exactly at a defect) and that
        of the vertex diagonally above it, i + (1, 1). Each reads edges up to one site away, so
        the convolutions get radius ``r - 1`` and the model stays strictly local at r: every
        input it reads lies in the window ``||j - i||_inf <= r`` (edges at offset ±r enter only
        through the parities).

    Cost: :meth:`flops_per_site` = 2 x (multiply-adds of every convolution per output site),
    ``2 * sum_l c_in,l c_out,l k_l^dim``, independent of the lattice size, plus
    ``2 * pos_channels * hidden`` for the position code's projection when ``positional`` is
    set (the code itself is a learned table or a few sines and cosines per site, elementwise
    work that is not counted). The per-sample time embedding MLP (O(emb_dim^2) per sample, not
    per site) and elementwise operations are not counted. :meth:`n_params` includes the
    projection and, for "learned", the map.

    >>> import torch
    >>> net = LocalDenoiser(0, 1, 2, hidden=4, depth=1, seed=0)   # r = 0: 1x1 convolutions
    >>> net(torch.ones(1, 1, 3, 3), 0.5).shape, net.receptive_radius
    (torch.Size([1, 2, 3, 3]), 0)
    >>> lg = LocalDenoiser(2, 2, 4, hidden=4, depth=2, seed=0, input_features="vertex_parity")
    >>> lg(torch.ones(1, 2, 6, 6), 0.5).shape, lg.receptive_radius, lg.conv_radius
    (torch.Size([1, 4, 6, 6]), 2, 1)
    """

    def __init__(
        self,
        radius: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden: int = 64,
        depth: int = 3,
        spatial_layers: int = 1,
        padding: str = "circular",
        dim: int = 2,
        t_embedding: str | None = "fourier",
        n_freq: int = 8,
        emb_dim: int = 64,
        prediction: str = "logits",
        seed: int | None = None,
        positional: str | None = None,
        pos_features: int = 4,
        shape=None,
        input_features: str | None = None,
    ):
        super().__init__()
        _check_int("radius", radius, 0)
        _check_int("in_channels", in_channels, 1)
        _check_int("out_channels", out_channels, 1)
        _check_int("hidden", hidden, 1)
        _check_int("depth", depth, 1)
        _check_int("spatial_layers", spatial_layers, 1, depth)
        _check_int("n_freq", n_freq, 1, 30)
        _check_int("emb_dim", emb_dim, 1)
        _check_common(padding, dim, prediction, t_embedding)
        if positional not in POSITIONAL_KINDS:
            raise ParameterError(
                f"positional must be one of {POSITIONAL_KINDS}, got {positional!r}"
            )
        _check_int("pos_features", pos_features, 1, 64)
        if positional == "learned":
            if shape is None or isinstance(shape, str | bytes) or len(shape) != dim:
                raise ParameterError(
                    f'positional="learned" needs shape= (a sequence of {dim} lattice lengths), '
                    f"got {shape!r}"
                )
            shape = [_check_int("shape entries", s, 1) for s in shape]
        elif shape is not None:
            raise ParameterError('shape= is only used with positional="learned"')
        if input_features not in (None, "vertex_parity"):
            raise ParameterError(
                f"input_features must be None or 'vertex_parity', got {input_features!r}"
            )
        if input_features == "vertex_parity" and (
            in_channels != 2 or dim != 2 or padding != "circular" or radius < 1
        ):
            raise ParameterError(
                "input_features='vertex_parity' needs loop-gas edges and radius >= 1: "
                f"in_channels=2, dim=2, padding='circular'; got radius={radius}, "
                f"in_channels={in_channels}, dim={dim}, padding={padding!r}"
            )
        self._kwargs = dict(
            radius=radius,
            in_channels=in_channels,
            out_channels=out_channels,
            hidden=hidden,
            depth=depth,
            spatial_layers=spatial_layers,
            padding=padding,
            dim=dim,
            t_embedding=t_embedding,
            n_freq=n_freq,
            emb_dim=emb_dim,
            prediction=prediction,
            seed=seed,
        )
        if positional is not None:  # only then: configs (and their ids) of plain models unchanged
            self._kwargs.update(positional=positional, pos_features=pos_features)
            if shape is not None:
                self._kwargs["shape"] = list(shape)
        if input_features is not None:
            self._kwargs["input_features"] = input_features
        self.input_features = input_features
        self.positional, self.pos_features = positional, pos_features
        self.pos_shape = None if shape is None else tuple(shape)
        self.radius, self.dim, self.padding = radius, dim, padding
        self.in_channels, self.out_channels, self.prediction = in_channels, out_channels, prediction
        r_conv = radius - 1 if input_features else radius  # the parities reach one site further
        m = min(spatial_layers, r_conv)
        radii = [r_conv // m + (1 if k < r_conv % m else 0) for k in range(m)] if m else []
        self.layer_radii = tuple(radii + [0] * (depth - len(radii)))
        assert sum(self.layer_radii) == r_conv and len(self.layer_radii) == depth
        #: Hidden layer after which the grid is the lattice itself: the position code enters here.
        self.pos_layer = max(len(radii) - 1, 0)
        if positional == "fourier":
            self.pos_channels = 2 * pos_features * dim
        elif positional == "learned":
            self.pos_channels = pos_features
        else:
            self.pos_channels = 0

        def build():
            conv = _CONV[dim]
            chans = [in_channels + (2 if input_features else 0)] + [hidden] * depth
            self.convs = nn.ModuleList(
                conv(chans[k], chans[k + 1], 2 * rk + 1) for k, rk in enumerate(self.layer_radii)
            )
            self.head = conv(hidden, out_channels, 1)
            if t_embedding is None:
                self.embed, self.films = None, None
            else:
                self.embed = FourierEmbedding(n_freq, emb_dim)
                # FiLM starts as the identity (zero weights): the time signal enters smoothly.
                self.films = nn.ModuleList(nn.Linear(emb_dim, 2 * hidden) for _ in range(depth))
                for f in self.films:
                    nn.init.zeros_(f.weight)
                    nn.init.zeros_(f.bias)
            # Built last, so that plain models draw exactly the same initial parameters as before.
            if positional is None:
                self.pos_proj, self.pos_map = None, None
            else:
                self.pos_proj = conv(self.pos_channels, hidden, 1, bias=False)
                if positional == "learned":
                    self.pos_map = nn.Parameter(0.5 * torch.randn(pos_features, *shape))
                else:
                    self.pos_map = None

        _init_seeded(build, seed)

    #: On CUDA, bypass cuDNN so that locality holds bitwise (see forward); set False on an
    #: instance to let cuDNN choose faster algorithms (local up to float rounding only).
    exact_on_cuda: bool = True

    @property
    def receptive_radius(self) -> int:
        """Radius r of the window the output at a site depends on."""
        return self.radius

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """Map ``x`` ``(n, C_in, *shape)`` and per-sample ``t`` to ``(n, C_out, *shape)``."""
        self._check_input(x)
        emb = self._film(t, x)
        pos = self.position_code(x.shape[2:], dtype=x.dtype, device=x.device)
        h = pad_lattice(x, self.radius, self.padding, self.dim)  # the only padding
        if self.input_features == "vertex_parity":
            h = _with_parities(h)
        if h.is_cuda and self.exact_on_cuda:
            # cuDNN picks Winograd/FFT convolutions even with deterministic=True, benchmark=False;
            # their rounding error spreads over a tile or the whole lattice (measured on an H100:
            # centre outputs moved by 3e-8 to 2e-4 when inputs outside the window changed).
            # PyTorch's own im2col + GEMM path computes each output from its window alone.
            with torch.backends.cudnn.flags(enabled=False):
                return self._body(h, emb, pos)
        return self._body(h, emb, pos)

    @property
    def conv_radius(self) -> int:
        """Summed radius of the convolutions (``radius``, or ``radius - 1`` with parities)."""
        return sum(self.layer_radii)

    def position_code(self, shape, *, dtype=torch.float32, device=None) -> torch.Tensor | None:
        """The position code p(i), ``(pos_channels, *shape)``, or None without ``positional``.
        A function of the site index only: no data enters it."""
        shape = tuple(int(s) for s in shape)
        if self.positional is None:
            return None
        if self.positional == "fourier":
            return fourier_positions(shape, self.pos_features, dtype=dtype, device=device)
        if shape != self.pos_shape:
            raise ParameterError(
                f"this LocalDenoiser's learned position map is for lattice shape "
                f"{self.pos_shape}, got input of shape {shape}"
            )
        return self.pos_map.to(dtype)

    def _body(self, h: torch.Tensor, emb: torch.Tensor | None, pos=None) -> torch.Tensor:
        for k, conv in enumerate(self.convs):
            h = conv(h)
            if pos is not None and k == self.pos_layer:
                # (1, hidden, *shape): the same per-site offset for every sample of the batch
                h = h + self.pos_proj(pos.unsqueeze(0))
            if emb is not None:
                scale, shift = self.films[k](emb).chunk(2, dim=1)
                bshape = (h.shape[0], -1) + (1,) * self.dim
                h = h * (1.0 + scale.view(bshape)) + shift.view(bshape)
            h = F.silu(h)
        return self.head(h)

    def flops_per_site(self, shape=None) -> int:
        """FLOPs per output site: 2 x multiply-adds of all convolutions, including the position
        code's 1x1 projection when ``positional`` is set (``shape`` is ignored: the cost does
        not depend on the lattice size)."""
        macs = 0
        extra = [] if self.pos_proj is None else [self.pos_proj]
        for m in [*self.convs, self.head, *extra]:
            k = math.prod(m.kernel_size)
            macs += m.in_channels * m.out_channels * k
        return 2 * macs
