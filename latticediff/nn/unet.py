"""A global denoiser baseline with the local denoisers' interface, for any lattice size.

:class:`GlobalDenoiser` is a small U-Net: residual 3x3 convolution blocks at ``levels + 1``
resolutions (stride-2 convolutions down, nearest-neighbour interpolation back up to the *exact*
size of the skip connection, so odd sizes and sizes that are not powers of two work), plus a
global pathway at the coarsest level: the spatial mean of the features goes through an MLP and
is added back at every site. Padding (circular for periodic lattices, zeros or reflection for
images) is done explicitly with :func:`latticediff.nn.local.pad_lattice`.

The strided path makes it only approximately translation-equivariant (exactly for shifts by
multiples of ``2^levels``); it is a baseline, not a physics-respecting architecture.

Receptive field: the whole lattice, at every size, because of the global-mean pathway (every
output depends on every input). The convolutional path alone sees about
``3 * 2^(levels+1)`` sites across.

>>> import torch
>>> from latticediff.nn.unet import GlobalDenoiser
>>> net = GlobalDenoiser(1, 2, hidden=8, levels=2, seed=0)
>>> net(torch.zeros(2, 1, 7, 7), torch.tensor([0.1, 0.9])).shape   # odd L is fine
torch.Size([2, 2, 7, 7])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .local import (
    _CONV,
    FourierEmbedding,
    _check_common,
    _check_int,
    _Denoiser,
    _init_seeded,
    _vertex_parity,
    pad_lattice,
)

__all__ = ["GlobalDenoiser"]


class _PadConv(nn.Module):
    """A k = 3 convolution (optionally strided) after explicit padding by 1."""

    def __init__(self, conv, cin, cout, padding, dim, stride=1):
        super().__init__()
        self.conv = conv(cin, cout, 3, stride=stride)
        self.padding, self.dim = padding, dim

    def forward(self, h):
        return self.conv(pad_lattice(h, 1, self.padding, self.dim))


_NORMS = (None, "group", "group-stream")


def _norm_layer(norm: str | None, ch: int) -> nn.Module:
    """GroupNorm (up to 8 groups) for norm="group" or "group-stream", the identity for None."""
    return nn.GroupNorm(math.gcd(ch, 8), ch) if norm in _NORMS[1:] else nn.Identity()


class _ResBlock(nn.Module):
    def __init__(self, conv, ch, padding, dim, emb_dim, norm=None):
        super().__init__()
        self.c1 = _PadConv(conv, ch, ch, padding, dim)
        self.c2 = _PadConv(conv, ch, ch, padding, dim)
        # GroupNorm before each activation ("group", "group-stream"). It bounds the branch,
        # not the stream h, which GlobalDenoiser normalises between blocks for "group-stream"
        # (analysis/loopgas_denoisers/README.md: the stream blew up without it).
        self.n1, self.n2 = _norm_layer(norm, ch), _norm_layer(norm, ch)
        self.film = None if emb_dim is None else nn.Linear(emb_dim, 2 * ch)
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.dim = dim

    def forward(self, h, emb):
        y = h
        if emb is not None:
            scale, shift = self.film(emb).chunk(2, dim=1)
            bshape = (h.shape[0], -1) + (1,) * self.dim
            y = y * (1.0 + scale.view(bshape)) + shift.view(bshape)
        y = self.c1(F.silu(self.n1(y)))
        y = self.c2(F.silu(self.n2(y)))
        return h + y


class GlobalDenoiser(_Denoiser):
    """U-Net-style denoiser whose receptive field is the whole lattice (any size, odd included).

    Same call signature and output conventions as
    :class:`~latticediff.nn.local.LocalDenoiser`: ``net(x, t)`` with ``x`` of shape
    ``(n, in_channels, *shape)`` and one conditioning scalar per sample.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden : int
        Channels at every resolution.
    levels : int >= 0
        Number of stride-2 downsamplings (a size-1 axis stays size 1).
    padding : "circular" | "zeros" | "reflect"
    dim : 1, 2 or 3
    t_embedding, n_freq, emb_dim, prediction, seed : as for LocalDenoiser.
    norm : None (default), ``"group"`` or ``"group-stream"``. ``"group"``: GroupNorm before
        every activation of the residual blocks and before the output layer. ``"group-stream"``:
        also before every down-sampling and merge convolution, so the residual stream's scale is
        reset at each change of resolution. Without any, the activations of a long training run
        grew by ~8x per block until the loss collapsed to ln 2 (loop gas, 8000 steps at lr
        2e-3, gradient clipping on). ``"group"`` only delayed that (16000 steps: collapse at
        step ~5800): the branches are normalised, but the plain convolutions between the blocks
        multiply the stream by a gain that grew to ~10 per stage (10^6 at the head; probe in
        analysis/loopgas_denoisers/README.md); ``"group-stream"`` ran the same 16000 steps
        without a collapse. The default keeps earlier models and their ids unchanged.
    input_features : None or ``"vertex_parity"``. ``"vertex_parity"`` is for loop-gas edge
        data (``in_channels=2``: horizontal and vertical edge of each site, in the +-1 encoding
        of :func:`~latticediff.nn.train.encode_input`; ``dim=2``, circular padding): one input
        channel is added, the product ``h(i,j) h(i,j-1) v(i,j) v(i-1,j)`` of the four edges at
        each vertex, which is -1 exactly at a vertex defect
        (:meth:`latticediff.systems.LoopGas.vertex_parity`). A convolutional network has to
        learn this four-input XOR otherwise; at equal budget it halved the defects that the
        all-global loop-gas sampler leaves (L = 16, 1000 steps: 0.031 against 0.063 per vertex).

    :meth:`flops_per_site` counts 2 x multiply-adds of all convolutions for a given lattice
    shape, divided by the number of sites (coarse levels cost less per site); per-sample MLPs
    (time embedding, global pathway) are not counted.

    >>> net = GlobalDenoiser(1, 2, hidden=4, levels=1, dim=1, seed=0)
    >>> net.receptive_radius is None, net.flops_per_site((16,)) > 0
    (True, True)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        hidden: int = 32,
        levels: int = 3,
        padding: str = "circular",
        dim: int = 2,
        t_embedding: str | None = "fourier",
        n_freq: int = 8,
        emb_dim: int = 64,
        prediction: str = "logits",
        seed: int | None = None,
        input_features: str | None = None,
        norm: str | None = None,
    ):
        super().__init__()
        _check_int("in_channels", in_channels, 1)
        _check_int("out_channels", out_channels, 1)
        _check_int("hidden", hidden, 1)
        _check_int("levels", levels, 0, 10)
        if norm not in _NORMS:
            raise ParameterError(f"norm must be one of {_NORMS}, got {norm!r}")
        if input_features not in (None, "vertex_parity"):
            raise ParameterError(
                f"input_features must be None or 'vertex_parity', got {input_features!r}"
            )
        if input_features == "vertex_parity" and (
            in_channels != 2 or dim != 2 or padding != "circular"
        ):
            raise ParameterError(
                "input_features='vertex_parity' needs loop-gas edges: in_channels=2, dim=2, "
                f"padding='circular'; got in_channels={in_channels}, dim={dim}, "
                f"padding={padding!r}"
            )
        _check_int("n_freq", n_freq, 1, 30)
        _check_int("emb_dim", emb_dim, 1)
        _check_common(padding, dim, prediction, t_embedding)
        self._kwargs = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            hidden=hidden,
            levels=levels,
            padding=padding,
            dim=dim,
            t_embedding=t_embedding,
            n_freq=n_freq,
            emb_dim=emb_dim,
            prediction=prediction,
            seed=seed,
        )
        if input_features is not None:  # only when set: older configs stay valid as they are
            self._kwargs["input_features"] = input_features
        if norm is not None:
            self._kwargs["norm"] = norm
        self.input_features, self.norm = input_features, norm
        self.dim, self.padding, self.levels = dim, padding, levels
        self.in_channels, self.out_channels, self.prediction = in_channels, out_channels, prediction

        def build():
            conv = _CONV[dim]
            e = None if t_embedding is None else emb_dim
            h = hidden
            self.embed = None if t_embedding is None else FourierEmbedding(n_freq, emb_dim)
            c_in = in_channels + (1 if input_features == "vertex_parity" else 0)
            self.stem = _PadConv(conv, c_in, h, padding, dim)
            self.down_blocks = nn.ModuleList(
                _ResBlock(conv, h, padding, dim, e, norm) for _ in range(levels)
            )
            self.downs = nn.ModuleList(
                _PadConv(conv, h, h, padding, dim, stride=2) for _ in range(levels)
            )
            self.mid1 = _ResBlock(conv, h, padding, dim, e, norm)
            self.global_mlp = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
            self.mid2 = _ResBlock(conv, h, padding, dim, e, norm)
            self.merges = nn.ModuleList(
                _PadConv(conv, 2 * h, h, padding, dim) for _ in range(levels)
            )
            # "group-stream": the stream itself is normalised before every plain convolution
            # (identities otherwise: no parameters, so other models' weights are unchanged)
            sn = norm if norm == "group-stream" else None
            self.down_norms = nn.ModuleList(_norm_layer(sn, h) for _ in range(levels))
            self.merge_norms = nn.ModuleList(_norm_layer(sn, 2 * h) for _ in range(levels))
            self.up_blocks = nn.ModuleList(
                _ResBlock(conv, h, padding, dim, e, norm) for _ in range(levels)
            )
            self.out_norm = _norm_layer(norm, h)
            self.head = conv(h, out_channels, 1)

        _init_seeded(build, seed)

    @property
    def receptive_radius(self):
        """None: the receptive field is the whole lattice."""
        return None

    def forward(self, x: torch.Tensor, t=None) -> torch.Tensor:
        """Map ``x`` ``(n, C_in, *shape)`` and per-sample ``t`` to ``(n, C_out, *shape)``."""
        self._check_input(x)
        emb = self._film(t, x)
        if self.input_features == "vertex_parity":
            # pad by one (periodic): the vertex at lattice site (i, j) is padded entry (i, j)
            par = _vertex_parity(pad_lattice(x, 1, "circular", 2))[:, : x.shape[-2], : x.shape[-1]]
            x = torch.cat([x, par[:, None]], dim=1)
        h = self.stem(x)
        skips = []
        for block, down, dn in zip(self.down_blocks, self.downs, self.down_norms, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = down(dn(h))
        h = self.mid1(h, emb)
        g = self.global_mlp(h.mean(dim=tuple(range(2, h.ndim))))
        h = h + g.view(g.shape + (1,) * self.dim)
        h = self.mid2(h, emb)
        ups = zip(self.up_blocks, self.merges, self.merge_norms, reversed(skips), strict=True)
        for block, merge, mn, skip in ups:
            h = F.interpolate(h, size=skip.shape[2:], mode="nearest")
            h = block(merge(mn(torch.cat([h, skip], dim=1))), emb)
        return self.head(F.silu(self.out_norm(h)))

    def flops_per_site(self, shape) -> float:
        """2 x convolution multiply-adds per lattice site for inputs of spatial ``shape``."""
        if shape is None or len(tuple(shape)) != self.dim:
            raise ParameterError(
                f"flops_per_site needs the lattice shape ({self.dim} ints), got {shape}"
            )
        macs = 0

        def hook(mod, inp, out):
            nonlocal macs
            sites = out[0, 0].numel()
            macs += sites * mod.in_channels * mod.out_channels * math.prod(mod.kernel_size)

        handles = [
            m.register_forward_hook(hook)
            for m in self.modules()
            if isinstance(m, nn.modules.conv._ConvNd)
        ]
        try:
            p = next(self.parameters())
            x = torch.zeros((1, self.in_channels, *shape), dtype=p.dtype, device=p.device)
            with torch.no_grad():
                self(x, None if self.embed is None else 0.5)
        finally:
            for hd in handles:
                hd.remove()
        return 2 * macs / math.prod(shape)
