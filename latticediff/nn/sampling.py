"""Reverse samplers for trained denoisers, hybrid local/global schedules, and compute accounting.

- :class:`HybridSchedule`: which denoiser runs at which time, a validated list of segments
  ``(t_lo, t_hi, model)`` that tile the sampling interval ``[0, t_max]`` with no gap or overlap.
  A reverse step from ``t`` to ``s < t`` uses the model of the segment with ``t_lo < t <= t_hi``
  (it denoises ``x_t``, so the starting time of the step decides).
- :func:`sample_discrete`: ancestral (D3PM) sampling for bit flips and uniform resampling
  (Austin et al. 2021, arXiv:2107.03006): start from the stationary distribution at ``t_max``,
  and at each step draw ``x_s`` site by site from ``sum_k q(x_s | x_t, x_0 = k) P(x_0 = k | x_t)``
  (:meth:`latticediff.noise.BitFlip.posterior_step`), with ``P(x_0 | x_t)`` from the model.
- :func:`sample_gaussian`: Euler steps of the probability-flow ODE (DDIM with eta = 0, Song, Meng
  & Ermon 2021, arXiv:2010.02502) or ancestral DDPM steps (Ho, Jain & Abbeel 2020,
  arXiv:2006.11239) on a :class:`latticediff.noise.GaussianPath`, from the model's x0 estimate.
- :class:`ComputeReport`: for every model, the number of network evaluations, FLOPs
  (``flops_per_site x sites x samples x evaluations``) and wall time, and the fraction of the
  compute an all-global run would need.

Random numbers come from one NumPy generator per call, ``np.random.default_rng(seed)``, on the
CPU: the same seed gives the same prior draw and step noise on every device, and the same
samples on a given device (network outputs on a GPU may differ from the CPU's in the last bits,
which can flip a rare categorical draw). Samples are drawn for all ``n`` at once, so
``batch_size`` (the network batch) never changes the result.

Example
-------
>>> import numpy as np
>>> from latticediff.noise import BitFlip
>>> from latticediff.nn import LocalDenoiser, GlobalDenoiser
>>> loc = LocalDenoiser(1, 1, 2, hidden=4, depth=1, seed=0)
>>> glo = GlobalDenoiser(1, 2, hidden=4, levels=1, seed=0)
>>> sched = HybridSchedule.local_global(loc, glo, window=(0.2, 0.5), t_max=2.0)
>>> sched
HybridSchedule([0, 0.2] local r=1, (0.2, 0.5] global, (0.5, 2] local r=1)
>>> x, report = sample_discrete(sched, BitFlip(), (6, 6), 3, n_steps=8, seed=0, dtype=np.int8)
>>> x.shape, x.dtype, sum(m.evaluations for m in report.models)
((3, 1, 6, 6), dtype('int8'), 8)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ParameterError
from ..noise import GaussianPath, _Discrete
from .train import _resolve_device, predict_x0

__all__ = [
    "HybridSchedule",
    "Segment",
    "sample_discrete",
    "sample_gaussian",
    "ComputeReport",
    "ModelCost",
    "default_times",
]

_REL = 1e-12  # relative tolerance when matching segment boundaries


# ----------------------------------------------------------------------------------------------
# schedules


def _default_name(model) -> str:
    r = getattr(model, "receptive_radius", None)
    if r is None:
        return "global"
    return f"local r={r}"


def _fmt(t: float) -> str:
    return "inf" if math.isinf(t) else f"{t:g}"


def _as_bound(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"HybridSchedule: {what} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or v < 0:
        raise ParameterError(f"HybridSchedule: {what} must be a number >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class Segment:
    """One piece of a :class:`HybridSchedule`: ``model`` denoises every ``x_t`` with
    ``t_lo < t <= t_hi`` (the first segment also owns t = 0); ``name`` labels it in reports."""

    t_lo: float
    t_hi: float
    model: torch.nn.Module
    name: str


@dataclass(frozen=True, init=False)
class HybridSchedule:
    """Which denoiser runs at which time of the reverse process.

    Built from segments ``(t_lo, t_hi, model)`` or ``(t_lo, t_hi, model, name)`` (any order)
    that tile ``[0, t_max]``: the first starts at 0, each ends where the next begins (boundaries
    equal to 1e-12 relative), ``t_lo < t_hi``, and only the last may end at ``inf`` (for
    discrete processes, whose stationary point is t = inf). Gaps and overlaps raise
    :class:`~latticediff.errors.ParameterError` naming the two segments.

    Names default to ``"local r=<radius>"`` for models with a ``receptive_radius`` and
    ``"global"`` for those whose radius is None (:class:`~latticediff.nn.GlobalDenoiser`);
    distinct models that would share a name get ``" #2"``, ``" #3"``, ... One model may serve
    several segments; it is then one entry in the :class:`ComputeReport`.

    >>> from latticediff.nn import LocalDenoiser
    >>> a, b = LocalDenoiser(0, 1, 2, hidden=2, seed=0), LocalDenoiser(2, 1, 2, hidden=2, seed=0)
    >>> s = HybridSchedule([(0.5, 1.0, a), (0.0, 0.5, b)])
    >>> s.t_max, s.model_at(0.5).name, s.model_at(0.7).name
    (1.0, 'local r=2', 'local r=0')
    >>> HybridSchedule([(0.0, 0.4, a), (0.5, 1.0, b)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: HybridSchedule: gap between segment [0, 0.4] ...
    """

    segments: tuple[Segment, ...]

    def __init__(self, segments: Sequence):
        if isinstance(segments, HybridSchedule):
            segments = segments.segments
        try:
            items = list(segments)
        except TypeError:
            raise ParameterError(
                f"HybridSchedule: segments must be a list of (t_lo, t_hi, model[, name]), "
                f"got {type(segments).__name__}"
            ) from None
        if not items:
            raise ParameterError("HybridSchedule: needs at least one segment (t_lo, t_hi, model)")
        raw = []
        for k, item in enumerate(items):
            if isinstance(item, Segment):
                item = (item.t_lo, item.t_hi, item.model, item.name)
            if not isinstance(item, tuple | list) or len(item) not in (3, 4):
                raise ParameterError(
                    f"HybridSchedule: segment {k} must be (t_lo, t_hi, model) or "
                    f"(t_lo, t_hi, model, name), got {item!r}"
                )
            lo = _as_bound(item[0], f"segment {k} t_lo")
            hi = _as_bound(item[1], f"segment {k} t_hi")
            model = item[2]
            name = item[3] if len(item) == 4 else None
            if not isinstance(model, torch.nn.Module) or not isinstance(
                getattr(model, "dim", None), int
            ):
                raise ParameterError(
                    f"HybridSchedule: segment {k} model must be a torch.nn.Module with an integer "
                    f"attribute dim (a LocalDenoiser or GlobalDenoiser), got {type(model).__name__}"
                )
            if name is not None and (not isinstance(name, str) or not name):
                raise ParameterError(
                    f"HybridSchedule: segment {k} name must be a non-empty str, got {name!r}"
                )
            if math.isinf(lo):
                raise ParameterError(f"HybridSchedule: segment {k} t_lo must be finite, got {lo}")
            if not hi > lo:
                raise ParameterError(
                    f"HybridSchedule: segment {k} needs t_lo < t_hi, got [{_fmt(lo)}, {_fmt(hi)}]"
                )
            raw.append([lo, hi, model, name])
        raw.sort(key=lambda r: (r[0], r[1]))
        if raw[0][0] != 0.0:
            raise ParameterError(
                f"HybridSchedule: the segments must start at t = 0; the first covers "
                f"[{_fmt(raw[0][0])}, {_fmt(raw[0][1])}] (gap [0, {_fmt(raw[0][0])}))"
            )
        for a, b in zip(raw, raw[1:], strict=False):
            if math.isinf(a[1]):
                raise ParameterError(
                    f"HybridSchedule: only the last segment may end at inf; "
                    f"[{_fmt(a[0])}, inf] is followed by [{_fmt(b[0])}, {_fmt(b[1])}]"
                )
            tol = _REL * max(1.0, abs(a[1]))
            if abs(a[1] - b[0]) > tol:
                kind = "gap" if a[1] < b[0] else "overlap"
                raise ParameterError(
                    f"HybridSchedule: {kind} between segment [{_fmt(a[0])}, {_fmt(a[1])}] and "
                    f"segment [{_fmt(b[0])}, {_fmt(b[1])}]; each segment must start where the "
                    "previous one ends"
                )
            b[0] = a[1]  # snap within the tolerance
        dims = {r[2].dim for r in raw}
        if len(dims) > 1:
            raise ParameterError(f"HybridSchedule: all models must have the same dim, got {dims}")
        object.__setattr__(self, "segments", tuple(_named(raw)))

    # --- constructors

    @classmethod
    def single(cls, model, t_max: float, *, name: str | None = None) -> HybridSchedule:
        """One model over the whole interval ``[0, t_max]`` (``t_max`` may be inf).

        >>> from latticediff.nn import GlobalDenoiser
        >>> HybridSchedule.single(GlobalDenoiser(1, 2, hidden=2, levels=0), 1.0)
        HybridSchedule([0, 1] global)
        """
        return cls([(0.0, t_max, model) if name is None else (0.0, t_max, model, name)])

    @classmethod
    def local_global(
        cls, local_model, global_model, *, window: tuple[float, float], t_max: float
    ) -> HybridSchedule:
        """``local_model`` on ``[0, t_lo]`` and ``(t_hi, t_max]``, ``global_model`` inside the
        window ``(t_lo, t_hi]`` (pieces of zero length are left out: ``t_lo = 0`` or
        ``t_hi = t_max``). Needs ``0 <= t_lo < t_hi <= t_max``.

        >>> from latticediff.nn import LocalDenoiser, GlobalDenoiser
        >>> loc, glo = LocalDenoiser(3, 1, 1, hidden=2), GlobalDenoiser(1, 1, hidden=2)
        >>> HybridSchedule.local_global(loc, glo, window=(0.0, 0.5), t_max=1.0)
        HybridSchedule([0, 0.5] global, (0.5, 1] local r=3)
        """
        try:
            lo, hi = window
        except (TypeError, ValueError):
            raise ParameterError(f"window must be a pair (t_lo, t_hi), got {window!r}") from None
        lo, hi = _as_bound(lo, "window t_lo"), _as_bound(hi, "window t_hi")
        tm = _as_bound(t_max, "t_max")
        if not (lo < hi <= tm) or math.isinf(lo):
            raise ParameterError(
                f"window must satisfy 0 <= t_lo < t_hi <= t_max={_fmt(tm)}, got "
                f"({_fmt(lo)}, {_fmt(hi)})"
            )
        if local_model is global_model:
            raise ParameterError("local_global: local_model and global_model are the same object")
        segs = []
        if lo > 0:
            segs.append((0.0, lo, local_model))
        segs.append((lo, hi, global_model))
        if hi < tm:
            segs.append((hi, tm, local_model))
        return cls(segs)

    # --- queries

    @property
    def t_max(self) -> float:
        """Upper end of the sampling interval."""
        return self.segments[-1].t_hi

    @property
    def models(self) -> tuple[tuple[str, torch.nn.Module], ...]:
        """``(name, model)`` of each distinct model, in order of first appearance."""
        out, seen = [], set()
        for s in self.segments:
            if id(s.model) not in seen:
                seen.add(id(s.model))
                out.append((s.name, s.model))
        return tuple(out)

    def model_at(self, t: float) -> Segment:
        """The segment whose model denoises ``x_t``: ``t_lo < t <= t_hi`` (t = 0: the first)."""
        t = float(t)
        if not (0.0 <= t <= self.t_max):
            raise ParameterError(f"t must be in [0, {_fmt(self.t_max)}], got {t}")
        for s in self.segments:
            if t <= s.t_hi:
                return s
        return self.segments[-1]  # unreachable: t <= t_max

    def __repr__(self) -> str:
        parts = []
        for k, s in enumerate(self.segments):
            left = "[" if k == 0 else "("
            parts.append(f"{left}{_fmt(s.t_lo)}, {_fmt(s.t_hi)}] {s.name}")
        return f"HybridSchedule({', '.join(parts)})"


def _named(raw) -> list[Segment]:
    """Give every distinct model one name; user names must not collide between models."""
    names: dict[int, str] = {}
    for _, _, model, name in raw:
        if name is None:
            continue
        old = names.get(id(model))
        if old is not None and old != name:
            raise ParameterError(f"HybridSchedule: one model is named both {old!r} and {name!r}")
        if any(v == name for k, v in names.items() if k != id(model)):
            raise ParameterError(f"HybridSchedule: two different models are named {name!r}")
        names[id(model)] = name
    used = set(names.values())
    for _, _, model, _ in raw:
        if id(model) in names:
            continue
        base, k, name = _default_name(model), 1, _default_name(model)
        while name in used:
            k += 1
            name = f"{base} #{k}"
        names[id(model)] = name
        used.add(name)
    return [Segment(lo, hi, m, names[id(m)]) for lo, hi, m, _ in raw]


# ----------------------------------------------------------------------------------------------
# compute accounting


@dataclass(frozen=True)
class ModelCost:
    """Compute spent by one model in one sampling call.

    ``evaluations``: reverse steps this model served (each one forward pass over all
    ``n_samples``); ``flops = flops_per_site x sites x n_samples x evaluations`` (NaN when the
    model has no ``flops_per_site``); ``wall_s``: time in its forward passes, including the
    input encoding and the device transfer (CUDA synchronised).
    """

    name: str
    radius: int | None
    evaluations: int
    flops_per_site: float
    flops: float
    wall_s: float

    @property
    def kind(self) -> str:
        """``"global"`` or ``"r=<radius>"``."""
        return "global" if self.radius is None else f"r={self.radius}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "radius": self.radius,
            "evaluations": self.evaluations,
            "flops_per_site": self.flops_per_site,
            "flops": self.flops,
            "wall_s": self.wall_s,
        }


@dataclass(frozen=True)
class ComputeReport:
    """What a sampling call cost, per model and in total.

    ``wall_s`` is the whole call (network passes plus the reverse-step arithmetic and random
    draws); ``network_wall_s`` only the forward passes. ``shape`` is the lattice (spatial)
    shape, ``sites`` its number of sites.

    >>> r = ComputeReport(
    ...     models=(ModelCost("local r=1", 1, 6, 100.0, 6e4, 0.1),
    ...             ModelCost("global", None, 4, 1000.0, 4e5, 0.3)),
    ...     n_samples=1, n_steps=10, shape=(10, 10), device="cpu", wall_s=0.5)
    >>> r.total_flops, round(r.fraction_of_global(), 3)
    (460000.0, 0.46)
    """

    models: tuple[ModelCost, ...]
    n_samples: int
    n_steps: int
    shape: tuple[int, ...]
    device: str
    wall_s: float

    @property
    def sites(self) -> int:
        return math.prod(self.shape)

    @property
    def total_flops(self) -> float:
        return float(sum(m.flops for m in self.models))

    @property
    def network_wall_s(self) -> float:
        return float(sum(m.wall_s for m in self.models))

    def __getitem__(self, name: str) -> ModelCost:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model named {name!r}; models: {[m.name for m in self.models]}")

    def fraction_of_global(self, global_model=None) -> float:
        """FLOPs of this run divided by those of an all-global run with the same time grid
        (``n_steps`` evaluations of the global model).

        ``global_model``: a model with ``flops_per_site(shape)``; default the one model of
        this report with radius None (an error if there is none or several).
        """
        if global_model is not None:
            fps = float(global_model.flops_per_site(tuple(self.shape)))
        else:
            glob = [m for m in self.models if m.radius is None]
            if len(glob) != 1:
                raise ParameterError(
                    f"fraction_of_global: the report has {len(glob)} global models "
                    f"({[m.name for m in glob]}); pass global_model="
                )
            fps = glob[0].flops_per_site
        ref = fps * self.sites * self.n_samples * self.n_steps
        return self.total_flops / ref

    def relative_to(self, other: ComputeReport) -> dict[str, float]:
        """``{"flops": ..., "wall_s": ..., "network_wall_s": ...}``: this run's cost divided
        by ``other``'s (e.g. a hybrid run relative to an all-global one)."""
        if not isinstance(other, ComputeReport):
            raise ParameterError(f"other must be a ComputeReport, got {type(other).__name__}")

        def ratio(a, b):
            return a / b if b > 0 else math.nan

        return {
            "flops": ratio(self.total_flops, other.total_flops),
            "wall_s": ratio(self.wall_s, other.wall_s),
            "network_wall_s": ratio(self.network_wall_s, other.network_wall_s),
        }

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {
            "models": [m.to_dict() for m in self.models],
            "n_samples": self.n_samples,
            "n_steps": self.n_steps,
            "shape": list(self.shape),
            "device": self.device,
            "wall_s": self.wall_s,
            "network_wall_s": self.network_wall_s,
            "total_flops": self.total_flops,
        }

    def summary(self) -> str:
        """A small text table, one row per model plus the total."""
        rows = [f"{'model':<16}{'evals':>7}{'GFLOP':>12}{'wall s':>10}"]
        for m in self.models:
            rows.append(f"{m.name:<16}{m.evaluations:>7}{m.flops / 1e9:>12.4g}{m.wall_s:>10.3f}")
        rows.append(
            f"{'total':<16}{self.n_steps:>7}{self.total_flops / 1e9:>12.4g}{self.wall_s:>10.3f}"
        )
        return "\n".join(rows)


class _Meter:
    """Accumulates evaluations and forward-pass time per model."""

    def __init__(self, schedule: HybridSchedule, shape: tuple[int, ...], dev: torch.device):
        self.schedule, self.shape, self.dev = schedule, shape, dev
        self.evals = {id(m): 0 for _, m in schedule.models}
        self.wall = {id(m): 0.0 for _, m in schedule.models}

    def _sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def predict(self, model, x, t, process, batch_size):
        self._sync()
        t0 = time.perf_counter()
        out = predict_x0(model, x, t, process, device=str(self.dev), batch_size=batch_size)
        self._sync()
        self.wall[id(model)] += time.perf_counter() - t0
        self.evals[id(model)] += 1
        return out

    def report(self, n: int, n_steps: int, wall: float) -> ComputeReport:
        costs = []
        for name, m in self.schedule.models:
            fn = getattr(m, "flops_per_site", None)
            fps = float(fn(self.shape)) if callable(fn) else math.nan
            ev = self.evals[id(m)]
            costs.append(
                ModelCost(
                    name=name,
                    radius=getattr(m, "receptive_radius", None),
                    evaluations=ev,
                    flops_per_site=fps,
                    flops=fps * math.prod(self.shape) * n * ev,
                    wall_s=self.wall[id(m)],
                )
            )
        return ComputeReport(
            models=tuple(costs),
            n_samples=n,
            n_steps=n_steps,
            shape=self.shape,
            device=str(self.dev),
            wall_s=wall,
        )


# ----------------------------------------------------------------------------------------------
# shared checks


def _check_int(name: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _check_shape(shape, schedule: HybridSchedule) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        given = tuple(shape)
        shp = tuple(int(s) for s in given)
    except (TypeError, ValueError):
        raise ParameterError(f"shape must be a tuple of lattice sizes, got {shape!r}") from None
    dim = schedule.segments[0].model.dim
    if len(shp) != dim or any(s < 1 for s in shp) or shp != given:
        raise ParameterError(
            f"shape must be {dim} positive integers (the lattice shape, without the channel "
            f"axis) for dim={dim} models, got {shape!r}"
        )
    return shp


def _channels(schedule: HybridSchedule, per_class: int, channels) -> int:
    """Data channels C implied by the models' out_channels (``per_class`` outputs per channel)."""
    found = {}
    for name, m in schedule.models:
        oc = getattr(m, "out_channels", None)
        if oc is None:
            continue
        if oc % per_class:
            raise ParameterError(
                f"model {name!r} has {oc} output channels, not a multiple of n_classes={per_class}"
            )
        found[name] = oc // per_class
    if len(set(found.values())) > 1:
        raise ParameterError(f"the models disagree on the number of data channels: {found}")
    if channels is not None:
        channels = _check_int("channels", channels, 1)
        if found and channels not in found.values():
            raise ParameterError(f"channels={channels} but the models produce {found}")
        return channels
    if not found:
        raise ParameterError("the models have no out_channels attribute; pass channels=")
    return next(iter(found.values()))


def default_times(process, t_max: float, n_steps: int) -> np.ndarray:
    """The default time grid ``t_0 = t_max > t_1 > ... > t_{n_steps} = 0``.

    Discrete processes: uniform in the keep coefficient ``u(t)`` (for bit flips uniform in the
    flip probability p), so ``t_max = inf`` (the exact stationary start) is allowed and the
    steps are even in the process's natural coordinate. Gaussian paths: uniform in t.

    >>> from latticediff.noise import BitFlip
    >>> bf = BitFlip()
    >>> [round(float(bf.p(t)), 3) for t in default_times(bf, float("inf"), 4)]
    [0.5, 0.375, 0.25, 0.125, 0.0]
    """
    n_steps = _check_int("n_steps", n_steps, 1)
    t_max = float(t_max)
    if isinstance(process, _Discrete):
        u = np.linspace(float(process.keep(t_max)), 1.0, n_steps + 1)
        t = np.asarray(process.t_of_snr(u**2), dtype=np.float64)
    elif isinstance(process, GaussianPath):
        if not math.isfinite(t_max):
            raise ParameterError("Gaussian paths need a finite t_max")
        t = np.linspace(t_max, 0.0, n_steps + 1)
    else:
        raise ParameterError(
            f"process must be a BitFlip, UniformResample or GaussianPath, got "
            f"{type(process).__name__}"
        )
    t[0], t[-1] = t_max, 0.0
    if np.any(np.diff(t) >= 0):
        raise ParameterError(
            f"n_steps={n_steps} is too large to give distinct times below t_max={t_max}"
        )
    return t


def _times(process, schedule: HybridSchedule, n_steps, times) -> np.ndarray:
    if (n_steps is None) == (times is None):
        raise ParameterError("pass exactly one of n_steps= (default grid) and times=")
    if times is None:
        return default_times(process, schedule.t_max, n_steps)
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise ParameterError(f"times must be a 1D array of at least 2 times, got shape {t.shape}")
    if t[0] != schedule.t_max or t[-1] != 0.0:
        raise ParameterError(
            f"times must run from the schedule's t_max={_fmt(schedule.t_max)} down to 0, "
            f"got {_fmt(t[0])} ... {_fmt(t[-1])}"
        )
    if np.any(np.isnan(t)) or np.any(np.diff(t) >= 0):
        raise ParameterError("times must be strictly decreasing")
    return t


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _progress(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc=desc, leave=False)


# ----------------------------------------------------------------------------------------------
# discrete processes


def sample_discrete(
    schedule: HybridSchedule,
    process,
    shape,
    n: int,
    *,
    n_steps: int | None = None,
    times=None,
    seed: int = 0,
    dtype=None,
    final: str = "sample",
    channels: int | None = None,
    device: str | None = None,
    batch_size: int = 256,
    progress: bool = False,
    callback: Callable | None = None,
) -> tuple[np.ndarray, ComputeReport]:
    """Ancestral (D3PM) sampling of ``n`` lattice configurations with the schedule's denoisers.

    Parameters
    ----------
    schedule : HybridSchedule
        Denoisers trained on ``process`` (discrete logits, ``prediction="logits"``).
    process : BitFlip or UniformResample
    shape : lattice shape without the channel axis, e.g. ``(L, L)``.
    n : number of samples.
    n_steps : number of reverse steps on the :func:`default_times` grid (uniform in the keep
        coefficient), or ``times`` : an explicit grid from ``schedule.t_max`` down to 0.
    seed : all randomness (the start and every step) comes from ``np.random.default_rng(seed)``.
    dtype : the data encoding: ``np.int8`` (±1 spins) or ``np.uint8`` (0/1 bits; the loop gas)
        for bit flips, required; ``np.uint8`` (default) for q-state data.
    final : ``"sample"`` (default) draws x_0 from the model's ``P(x_0 | x_{t_1})`` at the last
        step, which is what ancestral sampling prescribes and keeps the sampled distribution
        honest; ``"argmax"`` takes the most likely value per site instead (lower-entropy, biased
        samples; sometimes used for display).
    channels : data channels C (default: from the models' ``out_channels / n_classes``).
    device : "cpu", "cuda" or None (CUDA when available) for the networks.
    batch_size : network batch (does not change the samples).
    progress : show a progress bar.
    callback : called as ``callback(k, s, x_s)`` after step k (for trajectories).

    The chain starts at ``schedule.t_max`` from the stationary distribution
    (``process.sample_prior``: i.i.d. uniform values); that is exact for ``t_max = inf`` and
    off by the keep coefficient ``u(t_max)`` per site otherwise (for bit flips
    ``exp(-2 gamma t_max)``), so choose t_max where that is negligible. Each step draws every
    site independently from its exact per-site reverse marginal given the model's ``P(x_0|x_t)``
    (:meth:`~latticediff.noise.BitFlip.posterior_step`); only the product over sites is an
    approximation, which vanishes as the steps get small.

    Returns ``(samples, report)``: samples ``(n, C, *shape)`` of ``dtype`` (Ising ``C = 1``,
    loop gas ``C = 2``) and a :class:`ComputeReport`.
    """
    if not isinstance(process, _Discrete):
        raise ParameterError(
            f"sample_discrete needs a BitFlip or UniformResample process, got "
            f"{type(process).__name__} (use sample_gaussian for Gaussian paths)"
        )
    if not isinstance(schedule, HybridSchedule):
        raise ParameterError(
            f"schedule must be a HybridSchedule (HybridSchedule.single(model, t_max) for one "
            f"model), got {type(schedule).__name__}"
        )
    if final not in ("sample", "argmax"):
        raise ParameterError(f"final must be 'sample' or 'argmax', got {final!r}")
    shp = _check_shape(shape, schedule)
    n = _check_int("n", n, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    C = _channels(schedule, process.n_classes, channels)
    ts = _times(process, schedule, n_steps, times)
    rng = np.random.default_rng(_check_seed(seed))
    if process.n_classes == 2 and (dtype is None or np.dtype(dtype) not in (np.int8, np.uint8)):
        raise ParameterError(
            f"{type(process).__name__} data need dtype=np.int8 (±1 spins) or np.uint8 (0/1 "
            f"bits), got {dtype!r}"
        )
    dev = _resolve_device(device)
    meter = _Meter(schedule, shp, dev)
    t_start = time.perf_counter()
    x = process.sample_prior((n, C, *shp), rng, dtype=dtype)
    nst = ts.size - 1
    bar = _progress(nst, progress, "sample")
    try:
        for k in range(nst):
            t, s = float(ts[k]), float(ts[k + 1])
            seg = schedule.model_at(t)
            probs = meter.predict(seg.model, x, t, process, batch_size)
            if s == 0.0 and final == "argmax":
                x = process.from_index(np.argmax(probs, axis=-1), x.dtype)
            else:
                x = process.sample_posterior(x, probs, t, s, rng)
            if callback is not None:
                callback(k, s, x)
            bar.update(1)
    finally:
        bar.close()
    return x, meter.report(n, nst, time.perf_counter() - t_start)


# ----------------------------------------------------------------------------------------------
# Gaussian paths


def sample_gaussian(
    schedule: HybridSchedule,
    path: GaussianPath,
    shape,
    n: int,
    *,
    n_steps: int | None = None,
    times=None,
    seed: int = 0,
    method: str = "euler",
    clip_x0: tuple[float, float] | None = None,
    channels: int | None = None,
    device: str | None = None,
    batch_size: int = 256,
    progress: bool = False,
    callback: Callable | None = None,
) -> tuple[np.ndarray, ComputeReport]:
    """Reverse sampling on a Gaussian path with the schedule's denoisers.

    Starts from ``path.sample_prior`` at ``t_max = path.t_max`` (exact for the linear path,
    whose ``x_1`` is pure noise) and steps down a time grid (``n_steps`` uniform steps in t, or
    an explicit ``times`` grid from t_max to 0). At each step the segment's model gives an x0
    estimate (:func:`latticediff.nn.predict_x0`, converted from eps or v predictions), then:

    - ``method="euler"``: ``path.euler_step``, the deterministic DDIM (eta = 0) / probability
      flow ODE step; randomness only in the start.
    - ``method="ddpm"``: ``path.ddpm_step``, a draw from ``q(x_s | x_t, x_0 = x0_hat)``.

    The last step (to t = 0) returns the x0 estimate itself. ``clip_x0=(lo, hi)`` clips every
    x0 estimate to the data range (e.g. ``(-1, 1)`` for images mapped by
    :func:`latticediff.images.to_signed`), a common stabiliser; None (default) leaves them.

    Other parameters as for :func:`sample_discrete`. Returns ``(samples, report)`` with float32
    samples ``(n, C, *shape)``.

    >>> import numpy as np
    >>> from latticediff.noise import GaussianPath
    >>> from latticediff.nn import LocalDenoiser
    >>> net = LocalDenoiser(1, 1, 1, hidden=4, prediction="x0", padding="zeros", seed=0)
    >>> sched = HybridSchedule.single(net, 1.0)
    >>> x, rep = sample_gaussian(sched, GaussianPath(), (5, 5), 2, n_steps=4, seed=0)
    >>> x.shape, x.dtype, rep["local r=1"].evaluations
    ((2, 1, 5, 5), dtype('float32'), 4)
    """
    if not isinstance(path, GaussianPath):
        raise ParameterError(
            f"sample_gaussian needs a GaussianPath, got {type(path).__name__} (use "
            "sample_discrete for bit flips and uniform resampling)"
        )
    if not isinstance(schedule, HybridSchedule):
        raise ParameterError(
            f"schedule must be a HybridSchedule (HybridSchedule.single(model, t_max) for one "
            f"model), got {type(schedule).__name__}"
        )
    if method not in ("euler", "ddpm"):
        raise ParameterError(f"method must be 'euler' or 'ddpm', got {method!r}")
    if schedule.t_max != path.t_max:
        raise ParameterError(
            f"the schedule must end at the path's t_max={path.t_max:g} (where the prior is "
            f"drawn), got t_max={_fmt(schedule.t_max)}"
        )
    if clip_x0 is not None:
        try:
            lo, hi = (float(v) for v in clip_x0)
        except (TypeError, ValueError):
            raise ParameterError(f"clip_x0 must be None or (lo, hi), got {clip_x0!r}") from None
        if not lo < hi:
            raise ParameterError(f"clip_x0 needs lo < hi, got {clip_x0!r}")
    shp = _check_shape(shape, schedule)
    n = _check_int("n", n, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    C = _channels(schedule, 1, channels)
    ts = _times(path, schedule, n_steps, times)
    rng = np.random.default_rng(_check_seed(seed))
    dev = _resolve_device(device)
    meter = _Meter(schedule, shp, dev)
    t_start = time.perf_counter()
    x = path.sample_prior((n, C, *shp), rng, dtype=np.float32)
    nst = ts.size - 1
    bar = _progress(nst, progress, "sample")
    try:
        for k in range(nst):
            t, s = float(ts[k]), float(ts[k + 1])
            seg = schedule.model_at(t)
            x0 = meter.predict(seg.model, x, t, path, batch_size)
            if clip_x0 is not None:
                x0 = np.clip(x0, lo, hi)
            if method == "euler":
                x = path.euler_step(x, x0, t, s)
            else:
                x = path.ddpm_step(x, x0, t, s, rng)
            x = x.astype(np.float32, copy=False)
            if callback is not None:
                callback(k, s, x)
            bar.update(1)
    finally:
        bar.close()
    return x, meter.report(n, nst, time.perf_counter() - t_start)
