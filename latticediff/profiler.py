"""Locality profiler: Markov length along a noising path, a radius schedule, the global window.

:func:`profile_locality` takes any data set the package can load (a lattice HDF5 samples file,
an MNIST IDX directory, a folder of images, an ``.npz`` / ``.h5`` image stack, or an array),
pushes it along a forward process and, at every time ``t`` of a grid,

1. estimates ``I(A:C|B)`` at several shell radii r with the estimator that fits the data
   (``estimator="auto"``):

   - ``syndrome`` (exact per-sample likelihoods, no training) for the bit-flipped *uniform*
     loop gas, detected from the HDF5 model metadata (``LoopGas`` with ``x = 1``);
   - ``neural`` (held-out cross-entropies, :func:`latticediff.info.neural.neural_cmi_profile`)
     for any other discrete lattice data (bit flips or uniform resampling);
   - ``immse`` (denoising-error gaps by the conditional I-MMSE identity,
     :func:`latticediff.info.immse.immse_cmi_profile`) for real-valued data on a Gaussian path
     (``linear``, ``vp``, ``ve``), every minibatch noised afresh; ``neural_continuous``
     (conditional mixture densities) on request;

2. fits ``I(r) ~ gamma exp(-r / xi)`` (:func:`latticediff.info.markov.fit_markov_length`,
   its window rule and error bars);

3. recommends a radius ``r(t)`` by the **radius rule** and marks the **global window**:

   - ``tolerance="relative"`` (default): ``r(t) = ceil(xi ln(1 / eps))``, the radius at which
     the fitted CMI has fallen to a fraction ``eps`` of its amplitude gamma (``eps`` Markov
     lengths' worth of decay; independent of the amplitude, so the window follows xi);
     ``tolerance="absolute"``: ``r(t) = ceil(xi ln(gamma / eps))``, the smallest radius whose
     *predicted* CMI is below ``eps`` nats (the fidelity bound ``2 TV^2 <= I`` of DESIGN.md §2).
     Either way ``r(t) >= r_min``.
   - No radius is resolved above the noise (the fit's window rule drops every radius): the data
     are local at this t within the estimator's resolution, ``r(t) = r_min``. Exactly one radius
     is resolved: ``r(t)`` = the first radius whose CMI is not resolved (at least ``r_min``).
   - A global network is needed at t when the fit shows no decay (slope >= 0), when xi is not
     resolved (``xi_stderr / xi > max_rel_err``), when ``r(t) > r_max``, or (with
     ``negative_cmi="global"``, the default) when some radius has a CMI below ``-snr`` standard
     errors: the true CMI is >= 0, so the estimator failed there and locality is not
     established.
   - **Window**: every grid point owns the cell between the midpoints to its neighbours (in the
     process's natural coordinate: the keep coefficient ``u(t)`` for discrete processes, t for
     Gaussian paths; the first cell starts at t = 0, the last ends at t_max). The window runs
     from the lower edge of the first global cell to the upper edge of the last one (global
     cells are joined: grid points between them are global too). With ``tail="global"`` the
     global network also serves every step below the window, down to t = 0 (the sampler's
     low-noise end; see :func:`profile_locality`).

4. predicts the compute of the hybrid sampler relative to all-global over ``n_steps`` reverse
   steps on the sampler's default time grid (:func:`latticediff.nn.sampling.default_times`):
   a step from ``t_k`` costs the FLOPs per site of the model of the cell containing ``t_k``
   (``LocalDenoiser.flops_per_site`` at radius ``r(t_k)``, ``GlobalDenoiser.flops_per_site``
   inside the window), divided by ``n_steps`` global steps.

The result, :class:`LocalityProfile`, is a frozen dataclass with ``to_dict``/``to_json``,
``from_json``, :meth:`~LocalityProfile.plot`, the schedule in JSON form
(:meth:`~LocalityProfile.schedule_dict`) and as a
:class:`~latticediff.nn.sampling.HybridSchedule` (:meth:`~LocalityProfile.hybrid_schedule`).

>>> import numpy as np
>>> rep = LocalityProfile.from_dict(_EXAMPLE)
>>> rep.radius_schedule, rep.window
((1, None, 2), (0.1, 0.3))
>>> [(s["t_lo"], s["t_hi"], s["radius"]) for s in rep.schedule_dict()["segments"]]
[(0.0, 0.1, 1), (0.1, 0.3, None), (0.3, 1.0, 2)]
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import DataFileError, ParameterError

__all__ = [
    "PATHS",
    "ESTIMATORS",
    "LocalityPoint",
    "LocalityProfile",
    "profile_locality",
    "load_profile_data",
    "schedule_from_dict",
    "default_grid",
]

PATHS = ("bitflip", "uniform", "linear", "vp", "ve")
ESTIMATORS = ("auto", "syndrome", "neural", "neural_continuous", "immse")
TOLERANCES = ("relative", "absolute")
SCHEMA = "latticediff.locality_profile/1"

#: the architecture whose FLOPs define the default cost model (and that
#: :meth:`LocalityProfile.default_models` builds):
#: LocalDenoiser(r, **DEFAULT_LOCAL), GlobalDenoiser(**DEFAULT_GLOBAL)
DEFAULT_LOCAL = {"hidden": 32, "depth": 3, "spatial_layers": 1}
DEFAULT_GLOBAL = {"hidden": 32, "levels": 2}

#: default estimator settings (merged under the user's ``estimator_options``)
_DEFAULT_OPTIONS = {
    "syndrome": {"n_samples": 64},
    "neural": {"steps": 300, "hidden": 16},
    "neural_continuous": {
        "steps": 300,
        "hidden": 16,
        "depth": 1,
        "n_components": 2,
        "eval_draws": 2,
    },
    "immse": {"steps": 600, "finetune_steps": 400, "hidden": 32, "n_nodes": 12, "eval_draws": 2},
}


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _is_num(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float | np.integer | np.floating)


def _clean(v):
    """JSON-able copy: NaN -> None, inf -> "inf", tuples -> lists, NumPy scalars -> Python."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        v = float(v)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return v


def _num(v) -> float:
    """Inverse of :func:`_clean` for one number."""
    if v is None:
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    return float(v)


# ---------------------------------------------------------------------------------------------
# data


def _is_mnist_dir(p: Path) -> bool:
    from .images import MNIST_FILES

    return any(
        all((p / s).exists() or (p / (s + ".gz")).exists() for s in stems)
        for stems in MNIST_FILES.values()
    )


def load_profile_data(source, *, key: str | None = None, n: int | None = None):
    """Load data for :func:`profile_locality`: ``(x, info)`` with x channels-first.

    ``source``: an array (integer: discrete lattice data ``(n, C, *shape)``; float: real-valued
    ``(n, C, H, W)``), a latticediff HDF5 samples file (``key`` = data set name), an MNIST
    directory (IDX files; test split, pixels mapped to [-1, 1]), a folder of PNG/JPEG images,
    or an ``.npz``/``.h5`` image stack (:func:`latticediff.images.load_images`; pixels in
    [0, 1] mapped to [-1, 1]). ``n`` keeps the first n samples. ``info`` describes the data:
    ``kind`` ("lattice" or "images"), ``model`` (the HDF5 model metadata, or None), ``periodic``
    (True for lattices, False for images), ``source``, ``shape``, ``n``.

    >>> import numpy as np
    >>> x, info = load_profile_data(np.zeros((4, 2, 5, 5), np.uint8))
    >>> x.shape, info["kind"], info["periodic"]
    ((4, 2, 5, 5), 'lattice', True)
    >>> load_profile_data("/nonexistent/data.h5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.DataFileError: /nonexistent/data.h5 does not exist; ...
    """
    model = None
    if isinstance(source, np.ndarray):
        x = source
        src = f"array {x.shape} {x.dtype}"
        kind = "lattice" if x.dtype.kind in "biu" else "images"
        periodic = kind == "lattice"
    else:
        try:
            p = Path(os.fspath(source))
        except TypeError:
            raise ParameterError(
                f"data must be an array or a path, got {type(source).__name__}"
            ) from None
        src = str(p)
        if not p.exists():
            raise DataFileError(
                f"{p} does not exist; expected a latticediff HDF5 samples file, an MNIST "
                "directory, a folder of images, or an .npz/.h5 image file"
            )
        if p.is_dir() and _is_mnist_dir(p):
            from .images import load_mnist, to_signed

            x, _ = load_mnist(p, split="test", n=n)
            x = to_signed(x).astype(np.float32)
            kind, periodic = "images", False
        elif p.suffix.lower() in (".h5", ".hdf5") and _is_samples_file(p, key):
            from .h5io import read_samples

            ss = read_samples(p, key)
            model = ss.model.to_dict()
            x = ss.samples
            if ss.model.name != "loopgas":
                x = x[:, None]  # (n, *shape) -> (n, 1, *shape); the loop gas is (n, 2, L, L)
            kind, periodic = "lattice", True
        else:
            from .images import load_images, to_signed

            x = to_signed(load_images(p, key=key)).astype(np.float32)
            kind, periodic = "images", False
    x = np.asarray(x)
    if x.ndim < 3:
        raise ParameterError(
            f"data must be channels-first (n, C, *shape) with 1-3 lattice axes, got {x.shape}"
        )
    if n is not None:
        if not _is_int(n) or n < 1:
            raise ParameterError(f"n must be an integer >= 1, got {n!r}")
        x = x[:n]
    info = {
        "source": src,
        "kind": kind,
        "model": model,
        "periodic": bool(periodic),
        "shape": list(x.shape[1:]),
        "n": int(x.shape[0]),
        "dtype": str(x.dtype),
    }
    return x, info


def _is_samples_file(p: Path, key) -> bool:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            if key is not None and key in f and isinstance(f[key], h5py.Dataset):
                return False
            if key is None and "images" in f and isinstance(f["images"], h5py.Dataset):
                return False
    except OSError as e:
        raise DataFileError(f"{p}: not a readable HDF5 file ({e})") from None
    return True


# ---------------------------------------------------------------------------------------------
# processes and grids


def _make_process(path: str, x: np.ndarray, gamma: float | None):
    from .noise import BitFlip, GaussianPath, UniformResample

    if path not in PATHS:
        raise ParameterError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
    discrete = x.dtype.kind in "biu"
    if path in ("bitflip", "uniform"):
        if not discrete:
            raise ParameterError(
                f"path={path!r} is for discrete data; these data are {x.dtype} (real-valued): "
                "use path='linear', 'vp' or 've'"
            )
        g = 1.0 if gamma is None else gamma
        if path == "bitflip":
            vals = np.unique(x)
            if not (set(vals.tolist()) <= {0, 1} or set(vals.tolist()) <= {-1, 1}):
                raise ParameterError(
                    f"path='bitflip' needs binary data (0/1 bits or -1/+1 spins), got values "
                    f"{vals[:8].tolist()}; use path='uniform' for q-state data"
                )
            return BitFlip(gamma=g)
        q = int(x.max()) + 1
        return UniformResample(q=max(2, q), gamma=g)
    if gamma is not None:
        raise ParameterError(f"gamma is a rate of the discrete paths, not of path={path!r}")
    if discrete:
        raise ParameterError(
            f"path={path!r} is a Gaussian path for real-valued data; these data are {x.dtype} "
            "(discrete): use path='bitflip' or 'uniform'"
        )
    return GaussianPath(path)


def _coord(process, t):
    """The natural coordinate in which grids are uniform: keep u(t) (discrete), t (Gaussian)."""
    from .noise import GaussianPath

    if isinstance(process, GaussianPath):
        return np.asarray(t, dtype=np.float64)
    return np.asarray(process.keep(np.asarray(t, dtype=np.float64)), dtype=np.float64)


def _t_of_coord(process, c):
    from .noise import GaussianPath

    if isinstance(process, GaussianPath):
        return np.asarray(c, dtype=np.float64)
    return np.asarray(process.t_of_snr(np.asarray(c, dtype=np.float64) ** 2), dtype=np.float64)


def _noise_level(process, t) -> np.ndarray:
    """What figures put on the x axis: p for bit flips, the resampling probability for uniform
    resampling, t for Gaussian paths."""
    from .noise import BitFlip, UniformResample

    t = np.asarray(t, dtype=np.float64)
    if isinstance(process, BitFlip):
        return np.asarray(process.p(t))
    if isinstance(process, UniformResample):
        return np.asarray(process.p_resample(t))
    return t


def default_grid(process, n: int = 10) -> np.ndarray:
    """Default time grid of ``n`` points: bit flips p = 0.02 .. 0.30, uniform resampling with
    probability 0.05 .. 0.6 (both uniform in that probability), the linear and ve paths
    t = 0.05 .. 0.95, vp t = 0.05 .. 3.

    >>> from latticediff.noise import BitFlip
    >>> [round(float(p), 3) for p in BitFlip().p(default_grid(BitFlip(), 3))]
    [0.02, 0.16, 0.3]
    """
    from .noise import BitFlip, GaussianPath, UniformResample

    if isinstance(process, BitFlip):
        return np.asarray(process.t_of_p(np.linspace(0.02, 0.30, n)), dtype=np.float64)
    if isinstance(process, UniformResample):
        return np.asarray(process.t_of_p_resample(np.linspace(0.05, 0.6, n)), dtype=np.float64)
    if isinstance(process, GaussianPath) and process.kind == "vp":
        return np.linspace(0.05, 3.0, n)
    return np.linspace(0.05, 0.95, n)


def _sampler_times(process, t_max: float, n_steps: int) -> np.ndarray:
    """:func:`latticediff.nn.sampling.default_times` without importing torch (same formula)."""
    from .noise import GaussianPath

    if isinstance(process, GaussianPath):
        t = np.linspace(t_max, 0.0, n_steps + 1)
    else:
        u = np.linspace(float(process.keep(t_max)), 1.0, n_steps + 1)
        t = np.asarray(process.t_of_snr(u**2), dtype=np.float64)
    t[0], t[-1] = t_max, 0.0
    return t


# ---------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class LocalityPoint:
    """The profile at one time: CMI per radius, the Markov-length fit, the recommended radius.

    ``radius`` is None where a global network is needed; ``reason`` says why this radius (or
    why global). ``fit`` is :meth:`latticediff.info.markov.MarkovFit.to_dict`.

    >>> p = LocalityPoint(t=0.5, noise=0.5, radii=(1, 2), cmi=(0.1, 0.01), cmi_stderr=(1e-3,
    ...     1e-3), xi=0.43, xi_stderr=0.01, amplitude=1.0, radius=2, reason="fit")
    >>> p.radius
    2
    """

    t: float
    noise: float
    radii: tuple
    cmi: tuple
    cmi_stderr: tuple
    xi: float
    xi_stderr: float
    amplitude: float
    radius: int | None
    reason: str
    fit: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return _clean({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, d: dict) -> LocalityPoint:
        return cls(
            t=_num(d["t"]),
            noise=_num(d["noise"]),
            radii=tuple(int(r) for r in d["radii"]),
            cmi=tuple(_num(v) for v in d["cmi"]),
            cmi_stderr=tuple(_num(v) for v in d["cmi_stderr"]),
            xi=_num(d["xi"]),
            xi_stderr=_num(d["xi_stderr"]),
            amplitude=_num(d["amplitude"]),
            radius=None if d["radius"] is None else int(d["radius"]),
            reason=str(d["reason"]),
            fit=dict(d.get("fit", {})),
            wall_s=float(d.get("wall_s", 0.0)),
        )


@dataclass(frozen=True)
class LocalityProfile:
    """What :func:`profile_locality` measured and recommends (module docstring for the rules).

    Fields: ``data`` (description of the data set), ``process`` (``to_dict`` of the forward
    process), ``estimator`` (method and settings), ``points`` (one :class:`LocalityPoint` per
    grid time, increasing t), ``eps``, ``tolerance``, ``r_min``, ``r_max``, ``max_rel_err``,
    ``window`` (``(t_lo, t_hi)`` or None), ``boundaries`` (cell edges, ``len(points) + 1``
    values from 0 to ``t_max``), ``cost`` (FLOPs per site per model and the architecture they
    come from), ``predicted`` (the compute prediction), ``rules`` (the rules in words),
    ``wall_s``.

    >>> rep = LocalityProfile.from_dict(_EXAMPLE)
    >>> round(rep.predicted["fraction_of_global"], 3), rep.t_max
    (0.35, 1.0)
    """

    data: dict
    process: dict
    estimator: dict
    points: tuple[LocalityPoint, ...]
    eps: float
    tolerance: str
    r_min: int
    r_max: int
    max_rel_err: float
    window: tuple[float, float] | None
    boundaries: tuple[float, ...]
    cost: dict
    predicted: dict
    rules: dict
    wall_s: float = 0.0
    snr: float = 3.0
    negative_cmi: str = "global"
    tail: str = "local"

    # --- views

    @property
    def t(self) -> tuple[float, ...]:
        """Grid times."""
        return tuple(p.t for p in self.points)

    @property
    def xi(self) -> tuple[float, ...]:
        """Markov length at each grid time (NaN: no fit; inf: no decay)."""
        return tuple(p.xi for p in self.points)

    @property
    def xi_stderr(self) -> tuple[float, ...]:
        return tuple(p.xi_stderr for p in self.points)

    @property
    def radius_schedule(self) -> tuple[int | None, ...]:
        """Recommended radius per grid time, None = global."""
        return tuple(p.radius for p in self.points)

    @property
    def t_max(self) -> float:
        return float(self.boundaries[-1])

    def process_object(self):
        """The forward process as an object (BitFlip, UniformResample or GaussianPath)."""
        from .noise import BitFlip, GaussianPath, UniformResample

        d = dict(self.process)
        name = d.pop("process")
        if name == "bitflip":
            return BitFlip(gamma=d["gamma"])
        if name == "uniform":
            return UniformResample(q=d["q"], gamma=d["gamma"])
        return GaussianPath(**d)

    # --- schedule

    def schedule_dict(self) -> dict:
        """The schedule in JSON form: segments ``{"t_lo", "t_hi", "radius"}`` tiling
        ``[0, t_max]`` (``radius`` None = global), adjacent cells with the same radius merged.
        Pass it with models to :func:`schedule_from_dict` to get a HybridSchedule."""
        segs = []
        b = self.boundaries
        rads = list(self.radius_schedule)
        if self.window is not None:  # everything between the first and last global cell
            glob = [i for i, r in enumerate(rads) if r is None]
            # tail="global": also every cell below the window, down to t = 0
            for i in range(0 if self.tail == "global" else glob[0], glob[-1] + 1):
                rads[i] = None
        for i, r in enumerate(rads):
            lo, hi = float(b[i]), float(b[i + 1])
            if segs and segs[-1]["radius"] == r:
                segs[-1]["t_hi"] = hi
            else:
                segs.append({"t_lo": lo, "t_hi": hi, "radius": r})
        return {
            "schema": "latticediff.hybrid_schedule/1",
            "process": dict(self.process),
            "t_max": _clean(self.t_max),
            "segments": [
                {
                    **s,
                    "t_hi": _clean(s["t_hi"]),
                    "kind": "global" if s["radius"] is None else "local",
                }
                for s in segs
            ],
            "rule": (
                "a segment with radius r runs the smallest local model of radius >= r; "
                "radius null (and any r without such a model) runs the global model"
            ),
        }

    def hybrid_schedule(self, local_models, global_model):
        """A :class:`~latticediff.nn.sampling.HybridSchedule` that runs, on every segment of
        :meth:`schedule_dict`, the smallest of ``local_models`` (a sequence of models with
        ``receptive_radius``, or a mapping radius -> model) whose radius is >= the recommended
        one, and ``global_model`` inside the window (and where no local model is wide enough).

        >>> from latticediff.nn import LocalDenoiser, GlobalDenoiser
        >>> rep = LocalityProfile.from_dict(_EXAMPLE)
        >>> loc = [LocalDenoiser(r, 1, 1, hidden=2, prediction="x0") for r in (1, 3)]
        >>> rep.hybrid_schedule(loc, GlobalDenoiser(1, 1, hidden=2, prediction="x0"))
        HybridSchedule([0, 0.1] local r=1, (0.1, 0.3] global, (0.3, 1] local r=3)
        """
        return schedule_from_dict(self.schedule_dict(), local_models, global_model)

    def predicted_fraction(self, *, n_steps=None, local_models=None, global_model=None) -> dict:
        """The compute prediction for ``n_steps`` reverse steps (default: the profile's), with
        the FLOPs per site of the given models (default: the profile's cost model), using the
        same model choice as :meth:`hybrid_schedule`. Returns the dict stored in ``predicted``.

        >>> rep = LocalityProfile.from_dict(_EXAMPLE)
        >>> d = rep.predicted_fraction(n_steps=20)
        >>> d["steps_global"], round(d["fraction_of_global"], 3)
        (4, 0.35)
        """
        n_steps = int(self.predicted["n_steps"] if n_steps is None else n_steps)
        shape = tuple(self.cost["shape"])
        if local_models is None and global_model is None:
            loc = {int(r): float(f) for r, f in self.cost["local_flops_per_site"].items()}
            glob = float(self.cost["global_flops_per_site"])
        else:
            if local_models is None or global_model is None:
                raise ParameterError("pass both local_models and global_model, or neither")
            loc = {r: float(m.flops_per_site(shape)) for r, m in _by_radius(local_models).items()}
            glob = float(global_model.flops_per_site(shape))
        return _predict(self.process_object(), self.schedule_dict(), n_steps, loc, glob)

    def default_models(
        self,
        *,
        seed: int = 0,
        radii=None,
        global_extra: dict | None = None,
        local_extra: dict | None = None,
    ):
        """Untrained models of the cost model's architecture: ``({r: LocalDenoiser}, global)``
        for the radii the schedule uses (or ``radii``), built for these data and this process.
        ``global_extra`` / ``local_extra``: more keywords for the GlobalDenoiser / every
        LocalDenoiser (e.g. ``{"input_features": "vertex_parity"}``); the stored prediction is
        not changed by them (``predicted_fraction(local_models=..., global_model=...)`` gives
        the one for the models actually built).
        """
        from .nn import GlobalDenoiser, LocalDenoiser
        from .nn.train import input_channels, output_channels

        proc = self.process_object()
        C = int(self.data["shape"][0])
        cin, cout = input_channels(proc, C), output_channels(proc, C)
        dim = len(self.data["shape"]) - 1
        pred = "x0" if self.process["process"] == "gaussian" else "logits"
        pad = "circular" if self.data.get("periodic", True) else "zeros"
        if radii is None:
            radii = sorted({s["radius"] for s in self.schedule_dict()["segments"]} - {None})
        lk, gk = self.cost["local_kwargs"], self.cost["global_kwargs"]
        loc = {
            int(r): LocalDenoiser(
                int(r),
                cin,
                cout,
                dim=dim,
                padding=pad,
                prediction=pred,
                seed=seed + int(r),
                **{**lk, "spatial_layers": min(lk.get("spatial_layers", 1), lk.get("depth", 3))},
                **dict(local_extra or {}),
            )
            for r in radii
        }
        gk = gk | dict(global_extra or {})
        glob = GlobalDenoiser(cin, cout, dim=dim, padding=pad, prediction=pred, seed=seed, **gk)
        return loc, glob

    def reschedule(self, **rules) -> LocalityProfile:
        """The same measurements under other rules, without estimating anything again.

        Keywords: ``eps``, ``tolerance``, ``r_min``, ``r_max``, ``max_rel_err``, ``snr``,
        ``negative_cmi``, ``n_steps`` (as for :func:`profile_locality`); the others keep this
        profile's values. Refits xi, recomputes r(t), the window and the prediction.

        >>> rep = LocalityProfile.from_dict(_EXAMPLE)
        >>> rep.reschedule(eps=0.2).radius_schedule
        (2, None, 2)
        """
        bad = set(rules) - set(_RULE_KEYS) - {"n_steps"}
        if bad:
            raise ParameterError(f"reschedule: unknown rules {sorted(bad)}; known: {_RULE_KEYS}")
        cur = {k: getattr(self, k) for k in _RULE_KEYS}
        n_steps = int(rules.pop("n_steps", self.predicted["n_steps"]))
        new = cur | rules
        _check_rules(new)
        proc = self.process_object()
        radii = list(self.points[0].radii)
        raw = [(p.t, p.cmi, p.cmi_stderr, p.wall_s) for p in self.points]
        cost = self.cost
        have = {int(r) for r in cost["local_flops_per_site"]}
        if not set(range(new["r_min"], new["r_max"] + 1)) <= have:
            cost = _cost_model(
                proc,
                self.data["shape"],
                cost["local_kwargs"],
                cost["global_kwargs"],
                new["r_min"],
                new["r_max"],
            )
        rep = _build(self.data, proc, self.process, self.estimator, radii, raw, new, cost, n_steps)
        object.__setattr__(rep, "wall_s", self.wall_s)
        return rep

    # --- serialisation

    def to_dict(self) -> dict:
        """JSON-able dict; the arrays a reader wants first (t, xi, r(t), window) at the top."""
        return _clean(
            {
                "schema": SCHEMA,
                "data": self.data,
                "process": self.process,
                "estimator": self.estimator,
                "t": list(self.t),
                "noise": [p.noise for p in self.points],
                "noise_name": {"bitflip": "p", "uniform": "p_resample"}.get(
                    self.process["process"], "t"
                ),
                "radii": list(self.points[0].radii) if self.points else [],
                "cmi": [list(p.cmi) for p in self.points],
                "cmi_stderr": [list(p.cmi_stderr) for p in self.points],
                "xi": list(self.xi),
                "xi_stderr": list(self.xi_stderr),
                "amplitude": [p.amplitude for p in self.points],
                "radius_schedule": list(self.radius_schedule),
                "window": None if self.window is None else list(self.window),
                "schedule": self.schedule_dict(),
                "predicted": self.predicted,
                "cost": self.cost,
                "eps": self.eps,
                "tolerance": self.tolerance,
                "r_min": self.r_min,
                "r_max": self.r_max,
                "max_rel_err": self.max_rel_err,
                "snr": self.snr,
                "negative_cmi": self.negative_cmi,
                "tail": self.tail,
                "boundaries": list(self.boundaries),
                "rules": self.rules,
                "points": [p.to_dict() for p in self.points],
                "wall_s": self.wall_s,
            }
        )

    def to_json(self, path=None, *, indent: int = 1) -> str:
        """The report as JSON text; written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            p = Path(os.fspath(path))
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(text + "\n")
            os.replace(tmp, p)
        return text

    @classmethod
    def from_dict(cls, d: dict) -> LocalityProfile:
        if d.get("schema") != SCHEMA:
            raise ParameterError(f"not a locality profile (schema {d.get('schema')!r})")
        return cls(
            data=d["data"],
            process=d["process"],
            estimator=d["estimator"],
            points=tuple(LocalityPoint.from_dict(p) for p in d["points"]),
            eps=float(d["eps"]),
            tolerance=str(d["tolerance"]),
            r_min=int(d["r_min"]),
            r_max=int(d["r_max"]),
            max_rel_err=float(d["max_rel_err"]),
            window=None if d["window"] is None else tuple(_num(v) for v in d["window"]),
            boundaries=tuple(_num(v) for v in d["boundaries"]),
            cost=d["cost"],
            predicted=d["predicted"],
            rules=d["rules"],
            wall_s=float(d.get("wall_s", 0.0)),
            snr=float(d.get("snr", 3.0)),
            negative_cmi=str(d.get("negative_cmi", "global")),
            tail=str(d.get("tail", "local")),
        )

    @classmethod
    def from_json(cls, path) -> LocalityProfile:
        """Read a report written by :meth:`to_json`."""
        p = Path(os.fspath(path))
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise DataFileError(f"{p}: not a readable JSON report ({e})") from None
        return cls.from_dict(d)

    # --- figure

    def plot(self, path=None, *, title: str | None = None):
        """Figure: (a) CMI against r per grid time (log scale), (b) xi(t) with error bars,
        (c) r(t) with r_max; the global window shaded in (b) and (c). Saved to ``path`` when
        given (any matplotlib format); returns the figure."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        proc = self.process_object()
        xname = {"bitflip": "flip probability p", "uniform": "resampling probability"}.get(
            self.process["process"], "t"
        )
        x = np.array([p.noise for p in self.points])
        fig, ax = plt.subplots(1, 3, figsize=(14, 4.2))
        cmap = plt.get_cmap("viridis")
        for i, p in enumerate(self.points):
            c = cmap(i / max(1, len(self.points) - 1))
            r = np.array(p.radii)
            v, e = np.array(p.cmi), np.array(p.cmi_stderr)
            ax[0].errorbar(r, v, e, marker="o", ms=3, color=c, label=f"{x[i]:.3g}", lw=1)
            if math.isfinite(p.xi) and math.isfinite(p.amplitude):
                rr = np.linspace(r.min(), r.max(), 30)
                ax[0].plot(rr, p.amplitude * np.exp(-rr / p.xi), color=c, lw=0.6, ls=":")
        ax[0].set_yscale("symlog", linthresh=self._linthresh(), linscale=2.0)
        ax[0].set_xlabel("buffer radius r")
        ax[0].set_ylabel("I(A:C|B) [nats]")
        ax[0].legend(fontsize=6, ncol=2, title=xname.split()[-1], title_fontsize=7)
        ax[0].set_title("(a) CMI vs r (dotted: fit)")
        xi = np.array(self.xi, dtype=float)
        xe = np.array(self.xi_stderr, dtype=float)
        ok = np.isfinite(xi)
        ax[1].errorbar(x[ok], xi[ok], np.nan_to_num(xe[ok], nan=0.0), marker="o", color="C0")
        for xv, p in zip(x, self.points, strict=True):
            if not math.isfinite(p.xi):
                ax[1].annotate(
                    "no fit" if math.isnan(p.xi) else "no decay",
                    (xv, 0),
                    fontsize=6,
                    rotation=90,
                    va="bottom",
                    ha="center",
                )
        ax[1].set_xlabel(xname)
        ax[1].set_ylabel("Markov length xi")
        ax[1].set_title("(b) xi(t) from I(r) ~ gamma exp(-r/xi)")
        ax[1].set_ylim(bottom=0)
        rs = np.array([np.nan if r is None else r for r in self.radius_schedule], dtype=float)
        ax[2].plot(x, rs, "o-", color="C1", label="r(t) (local)")
        for xv, r in zip(x, self.radius_schedule, strict=True):
            if r is None:
                ax[2].plot([xv], [self.r_max + 1], "x", color="C3")
        ax[2].axhline(self.r_max, color="grey", ls="--", lw=0.8, label=f"r_max = {self.r_max}")
        ax[2].plot([], [], "x", color="C3", label="global")
        ax[2].set_xlabel(xname)
        ax[2].set_ylabel("recommended radius r(t)")
        frac = self.predicted.get("fraction_of_global")
        ax[2].set_title(
            f"(c) schedule; predicted FLOPs {frac:.2f} x all-global"
            if frac is not None
            else "(c) schedule"
        )
        ax[2].set_ylim(0, self.r_max + 2)
        if self.window is not None:
            lo, hi = self.window
            hi = min(hi, self.t_max if math.isfinite(self.t_max) else hi)
            xl = float(_noise_level(proc, lo))
            xh = float(_noise_level(proc, hi)) if math.isfinite(hi) else x.max()
            x0 = float(_noise_level(proc, 0.0))
            for a in ax[1:]:
                a.axvspan(xl, xh, color="C3", alpha=0.15, lw=0, label="global window")
                if self.tail == "global":  # the steps below the window, global too
                    a.axvspan(x0, xl, color="C3", alpha=0.06, lw=0, hatch="//",
                              label="global tail")  # fmt: skip
        ax[2].legend(fontsize=7)
        ax[1].legend(fontsize=7) if self.window is not None else None
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig

    def _linthresh(self) -> float:
        # the median error: values within it are noise and get the linear part of the axis;
        # the smallest error made a one-decade linear band whose tick labels overlapped
        e = [s for p in self.points for s in p.cmi_stderr if s > 0]
        return float(max(1e-6, np.median(e))) if e else 1e-4

    def summary(self) -> str:
        """A text table: t, noise level, xi ± err, r(t); then the window and the saving."""
        rows = [f"{'t':>9} {'noise':>8} {'xi':>14} {'r(t)':>6}  reason"]
        for p in self.points:
            xi = f"{p.xi:.3g} ± {p.xi_stderr:.2g}" if math.isfinite(p.xi) else str(p.xi)
            r = "global" if p.radius is None else str(p.radius)
            rows.append(f"{p.t:>9.4g} {p.noise:>8.4g} {xi:>14} {r:>6}  {p.reason}")
        w = "none" if self.window is None else f"({self.window[0]:.4g}, {self.window[1]:.4g}]"
        pr = self.predicted
        rows.append(
            f"global window: t in {w}"
            + (" and the tail below it (tail='global')" if self.tail == "global" else "")
        )
        rows.append(
            f"predicted FLOPs: {pr['fraction_of_global']:.3f} x all-global over "
            f"{pr['n_steps']} steps ({pr['steps_global']} global)"
        )
        return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# schedule helpers


def _by_radius(local_models) -> dict:
    if isinstance(local_models, dict):
        items = list(local_models.items())
        out = {}
        for r, m in items:
            rr = getattr(m, "receptive_radius", None)
            if rr is None or int(rr) != int(r):
                raise ParameterError(
                    f"local_models[{r!r}] has receptive_radius {rr!r}, expected {r!r}"
                )
            out[int(r)] = m
        return out
    out = {}
    for m in local_models:
        rr = getattr(m, "receptive_radius", None)
        if rr is None:
            raise ParameterError(
                f"local_models must have an integer receptive_radius, got {type(m).__name__} "
                "with None (a global model)"
            )
        if int(rr) in out:
            raise ParameterError(f"two local models have radius {rr}")
        out[int(rr)] = m
    return out


def _pick(radius, available) -> int | None:
    """Smallest available radius >= radius (None: global)."""
    if radius is None:
        return None
    ok = [r for r in sorted(available) if r >= radius]
    return ok[0] if ok else None


def schedule_from_dict(spec: dict, local_models, global_model):
    """A :class:`~latticediff.nn.sampling.HybridSchedule` from the JSON form of
    :meth:`LocalityProfile.schedule_dict` (or a file path holding it, or a whole profile
    report): each segment runs the smallest local model with radius >= its radius, or the
    global model (radius null, or no local model wide enough). Adjacent segments that end up
    with the same model are merged.

    >>> from latticediff.nn import LocalDenoiser, GlobalDenoiser
    >>> spec = {"t_max": "inf", "segments": [{"t_lo": 0, "t_hi": 0.1, "radius": 2},
    ...         {"t_lo": 0.1, "t_hi": 0.2, "radius": None}, {"t_lo": 0.2, "t_hi": "inf",
    ...         "radius": 1}]}
    >>> loc = [LocalDenoiser(r, 1, 2, hidden=2) for r in (1, 2)]
    >>> schedule_from_dict(spec, loc, GlobalDenoiser(1, 2, hidden=2))
    HybridSchedule([0, 0.1] local r=2, (0.1, 0.2] global, (0.2, inf] local r=1)
    """
    from .nn.sampling import HybridSchedule

    if isinstance(spec, str | os.PathLike):
        p = Path(os.fspath(spec))
        try:
            spec = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise DataFileError(f"{p}: not a readable JSON schedule ({e})") from None
    if isinstance(spec, dict) and "schedule" in spec and "segments" not in spec:
        spec = spec["schedule"]
    try:
        segs = spec["segments"]
    except (TypeError, KeyError):
        raise ParameterError("schedule spec must be a dict with 'segments'") from None
    loc = _by_radius(local_models)
    out = []
    for s in segs:
        r = _pick(None if s["radius"] is None else int(s["radius"]), loc)
        model = global_model if r is None else loc[r]
        lo, hi = _num(s["t_lo"]), _num(s["t_hi"])
        if out and out[-1][2] is model:
            out[-1] = (out[-1][0], hi, model)
        else:
            out.append((lo, hi, model))
    return HybridSchedule(out)


def _predict(process, spec: dict, n_steps: int, loc: dict, glob: float) -> dict:
    if not _is_int(n_steps) or n_steps < 1:
        raise ParameterError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    t_max = _num(spec["t_max"])
    ts = _sampler_times(process, t_max, n_steps)
    segs = [(_num(s["t_lo"]), _num(s["t_hi"]), s["radius"]) for s in spec["segments"]]
    total = 0.0
    n_glob = 0
    per_r: dict[str, int] = {}
    for k in range(n_steps):
        t = float(ts[k])
        r = segs[-1][2]
        for _lo, hi, rr in segs:
            if t <= hi:
                r = rr
                break
        m = _pick(None if r is None else int(r), loc)
        if m is None:
            total += glob
            n_glob += 1
        else:
            total += loc[m]
            per_r[str(m)] = per_r.get(str(m), 0) + 1
    frac = total / (n_steps * glob)
    return {
        "n_steps": int(n_steps),
        "fraction_of_global": float(frac),
        "saving": float(1.0 - frac),
        "steps_global": int(n_glob),
        "steps_local": per_r,
        "rule": (
            "sum over the n_steps reverse steps of the sampler's default time grid of the FLOPs "
            "per site of the model serving the step's start time t_k (smallest local radius >= "
            "r(t_k), else global), divided by n_steps x the global model's FLOPs per site"
        ),
    }


# ---------------------------------------------------------------------------------------------
# the radius rule


def _radius_rule(
    radii, cmi, stderr, fit, *, eps, tolerance, r_min, r_max, max_rel_err, snr, negative_cmi
):
    """(radius or None, reason) for one grid point (module docstring)."""
    neg = [r for r, v, e in zip(radii, cmi, stderr, strict=True) if v < -snr * e]
    if neg and negative_cmi == "global":
        return None, (
            f"CMI significantly negative (< -{snr:g} stderr) at r = {neg}: the estimator failed "
            "here, locality not established: global"
        )
    window = list(fit.window)
    if len(window) == 0:
        return r_min, f"CMI not resolved above noise at any radius: local, r = r_min = {r_min}"
    if len(window) == 1:
        later = [r for r in radii if r > window[0]]
        if later:
            r = max(later[0], r_min)
            why = f"CMI resolved only at r = {window[0]}, consistent with 0 from r = {later[0]}"
            if r > r_max:
                return None, why + f"; r = {r} > r_max = {r_max}: global"
            return r, why
        return None, f"CMI resolved at the largest radius r = {window[0]} only: no fit, global"
    if math.isinf(fit.xi):
        return None, f"no decay (fitted slope {fit.slope:.3g} >= 0): global"
    if not math.isfinite(fit.xi):
        return None, f"no fit ({fit.status}): global"
    rel = fit.xi_stderr / fit.xi if fit.xi > 0 else math.inf
    if not rel <= max_rel_err:
        return None, (
            f"xi = {fit.xi:.3g} ± {fit.xi_stderr:.2g} not resolved (rel. err > {max_rel_err}): "
            "global"
        )
    if tolerance == "relative":
        rstar = fit.xi * math.log(1.0 / eps)
        why = f"r = ceil(xi ln(1/eps)) = ceil({rstar:.3g})"
    else:
        rstar = fit.xi * math.log(fit.amplitude / eps) if fit.amplitude > eps else 0.0
        why = f"r = ceil(xi ln(gamma/eps)) = ceil({rstar:.3g})"
    r = max(int(math.ceil(rstar - 1e-9)), r_min)
    if r > r_max:
        return None, why + f" = {r} > r_max = {r_max}: global"
    return r, why


def _rules_text(*, eps, tolerance, r_min, r_max, max_rel_err, snr, negative_cmi, tail) -> dict:
    rad = (
        f"r(t) = max(r_min, ceil(xi ln(1/eps))) with eps = {eps} (the fitted CMI falls to a "
        "fraction eps of its amplitude gamma)"
        if tolerance == "relative"
        else f"r(t) = max(r_min, ceil(xi ln(gamma/eps))) with eps = {eps} nats (the smallest "
        "radius whose fitted CMI gamma exp(-r/xi) is <= eps)"
    )
    return {
        "fit": (
            f"I(r) = gamma exp(-r/xi) by weighted least squares in log I "
            f"(latticediff.info.markov.fit_markov_length, snr = {snr}: radii in increasing "
            "order while I > snr x stderr, stop at the first failure)"
        ),
        "radius": rad + f"; r_min = {r_min}. If no radius is resolved: r = r_min. If one radius "
        "is resolved: the next measured radius.",
        "global": (
            f"global where the fit shows no decay, where xi_stderr / xi > {max_rel_err}, or where "
            f"r(t) > r_max = {r_max}"
            + (
                f"; and where any radius has a significantly negative CMI (< -{snr:g} stderr: "
                "the estimator failed, locality is not established)"
                if negative_cmi == "global"
                else "; significantly negative CMI values are treated as unresolved"
            )
        ),
        "window": (
            "each grid point owns the cell between the midpoints to its neighbours (in u(t) for "
            "discrete processes, in t for Gaussian paths; first cell from 0, last to t_max); "
            "the window runs from the lower edge of the first global cell to the upper edge of "
            "the last (cells between are global too)"
        ),
        "tail": (
            "tail='global': the global network also serves every step below the window, down "
            "to t = 0 (the sampler's low-noise end), the window itself is unchanged"
            if tail == "global"
            else "tail='local': below the window r(t) applies"
        ),
    }


# ---------------------------------------------------------------------------------------------
# estimators


def _choose_estimator(estimator, info, x, process):
    from .noise import GaussianPath

    if estimator not in ESTIMATORS:
        raise ParameterError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    model = info.get("model") or {}
    is_uniform_loopgas = model.get("model") == "loopgas" and float(model.get("x", 0)) == 1.0
    gaussian = isinstance(process, GaussianPath)
    if estimator == "auto":
        if gaussian:
            return "immse"
        if is_uniform_loopgas and process.name == "bitflip":
            return "syndrome"
        return "neural"
    if estimator == "syndrome":
        if process.name != "bitflip":
            raise ParameterError("estimator='syndrome' needs path='bitflip'")
        if not is_uniform_loopgas and not (
            x.ndim == 4 and x.shape[1] == 2 and x.dtype.kind in "bu"
        ):
            raise ParameterError(
                "estimator='syndrome' is exact for the bit-flipped uniform loop gas only "
                "(LoopGas with x = 1, data (n, 2, L, L) of 0/1 bits)"
            )
        return "syndrome"
    if estimator == "neural" and gaussian:
        raise ParameterError(
            "estimator='neural' is for discrete data; use 'immse' or 'neural_continuous'"
        )
    if estimator in ("neural_continuous", "immse") and not gaussian:
        raise ParameterError(f"estimator={estimator!r} needs a Gaussian path")
    return estimator


def _max_radius(method: str, x: np.ndarray, periodic: bool) -> int:
    shape = x.shape[2:]
    if method == "syndrome":
        return (shape[-1] - 2) // 2  # 2r + 1 <= L - 1
    if method == "neural":
        return max(0, (min(shape) - 1) // 2 - 1)  # leave room for a far window > r
    if periodic:
        return (min(shape) - 1) // 2 - 1
    return max(1, min(shape) // 2 - 1)


def _estimate(method, x, process, t, radii, options, seed, periodic, cmi_value):
    """CMI values and errors at one time for all radii."""
    if method == "syndrome":
        from .info.syndrome import syndrome_cmi

        L = int(x.shape[-1])
        p = float(process.p(t))
        out = []
        for r in radii:
            e = syndrome_cmi(L, p, int(r), seed=seed, **options)
            out.append((e.value, e.stderr))
        return out, {"L": L, "p": p}
    if method == "neural":
        from .info.neural import neural_cmi_profile

        rng = np.random.default_rng([int(seed), 0x6E])
        xt = process.sample(x, float(t), rng)
        es = neural_cmi_profile(
            xt, radii=list(radii), channel_axis=True, periodic=periodic, seed=seed, **options
        )
        return [(e.value, e.stderr) for e in es], {"far_radius": es[0].details["far_radius"]}
    if x.shape[1] != 1:
        raise ParameterError(
            f"{method} takes one channel; these data have {x.shape[1]} (convert colour "
            "images to grey: load_images(..., grayscale=True))"
        )
    if method == "immse":
        from .info.immse import immse_cmi_profile

        es = immse_cmi_profile(
            x[:, 0], radii=list(radii), t=float(t), path=process, periodic=periodic, seed=seed,
            **options,
        )  # fmt: skip
        return [(e.value, e.stderr) for e in es], {
            "in_sample": [
                [
                    e.details.get("value_in_sample", 0.0),
                    e.details.get("value_in_sample_stderr", 0.0),
                ]
                for e in es
            ],
            "truncated": bool(es[0].details["truncated"]),
        }
    from .info.neural_continuous import neural_cmi_continuous_profile

    al, si = float(process.alpha(t)), float(process.sigma(t))

    def noise(a, rng):
        return (al * a + si * rng.standard_normal(a.shape)).astype(np.float32)

    es = neural_cmi_continuous_profile(
        x[:, 0], radii=list(radii), periodic=periodic, noise=noise, seed=seed, **options
    )
    if cmi_value == "bias_corrected":
        vals = [(e.details["value_mean_in_out"], e.details["value_mean_in_out_stderr"]) for e in es]
    else:
        vals = [(e.value, e.stderr) for e in es]
    return vals, {
        "held_out": [[e.value, e.stderr] for e in es],
        "in_sample": [
            [e.details["value_in_sample"], e.details["value_in_sample_stderr"]] for e in es
        ],
        "bias_corrected": [
            [e.details["value_mean_in_out"], e.details["value_mean_in_out_stderr"]] for e in es
        ],
    }


# ---------------------------------------------------------------------------------------------
# the front door


def profile_locality(
    data,
    *,
    path: str,
    t=None,
    p=None,
    radii=None,
    estimator: str = "auto",
    estimator_options: dict | None = None,
    cmi_value: str = "held_out",
    eps: float = 0.05,
    tolerance: str = "relative",
    r_min: int = 1,
    r_max: int | None = None,
    max_rel_err: float = 0.5,
    snr: float = 3.0,
    negative_cmi: str = "global",
    tail: str = "local",
    n_steps: int = 100,
    gamma: float | None = None,
    local_kwargs: dict | None = None,
    global_kwargs: dict | None = None,
    key: str | None = None,
    n: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> LocalityProfile:
    """Profile the locality of ``data`` along a noising path (module docstring: the rules).

    Parameters
    ----------
    data : array or path (see :func:`load_profile_data`; ``key`` and ``n`` are passed on).
    path : "bitflip" or "uniform" (discrete data, rate ``gamma``, default 1), or "linear",
        "vp", "ve" (Gaussian paths for real-valued data).
    t, p : the time grid, or for discrete paths the flip (resampling) probabilities; default
        :func:`default_grid` (10 points).
    radii : shell radii to measure (default 1..min(5, what the lattice allows)).
    estimator : "auto" (see module docstring), "syndrome", "neural", "neural_continuous",
        "immse".
    estimator_options : passed to the estimator (e.g. ``{"n_samples": 200}`` for syndrome,
        ``{"steps": 600, "hidden": 32}`` for the neural ones), over these defaults:
        syndrome n_samples 64; neural steps 300, hidden 16; neural_continuous steps 300,
        hidden 16, depth 1, n_components 2, eval_draws 2; immse steps 600, finetune_steps 400,
        hidden 32, n_nodes 12, eval_draws 2.
    cmi_value : neural_continuous only: "held_out" (the held-out NLL difference) or
        "bias_corrected" (its mean with the in-sample difference, see
        :mod:`latticediff.info.neural_continuous`).
    eps, tolerance, r_min, r_max, max_rel_err : the radius and window rules (r_max default:
        the largest measured radius).
    snr : the Markov fit's noise threshold (:func:`~latticediff.info.markov.fit_markov_length`).
    negative_cmi : "global" (default): a grid point where some radius has a CMI below
        ``-snr`` standard errors (a failed estimate: the true CMI is >= 0) is global, since its
        locality is not established; "ignore": such values count as unresolved.
    tail : "local" (default): below the window r(t) applies; "global": the global network also
        serves every step below the window, down to t = 0. The CMI of the data says nothing
        about the states a reverse chain visits at low noise: on the loop gas, trained local
        networks let far-apart vertex defects accumulate there that only a global step removes
        (L = 10 and L = 16, ``analysis/profiler``), while on MNIST a local tail matched
        all-global. The window itself is the same for both.
    n_steps : reverse steps for the compute prediction.
    local_kwargs, global_kwargs : the architecture of the cost model,
        ``LocalDenoiser(r, **local_kwargs)`` and ``GlobalDenoiser(**global_kwargs)`` (defaults
        :data:`DEFAULT_LOCAL`, :data:`DEFAULT_GLOBAL`); their ``flops_per_site`` on these data
        give the prediction. Recompute it for other models with
        :meth:`LocalityProfile.predicted_fraction`.
    seed : master seed (grid point i uses ``seed + i``).

    Returns a :class:`LocalityProfile`. Bad options raise
    :class:`~latticediff.errors.ParameterError`, unreadable data
    :class:`~latticediff.errors.DataFileError`.

    >>> import numpy as np, latticediff as ld
    >>> x = np.zeros((4, 2, 6, 6), np.uint8)   # only the L is read: syndrome draws its noise
    >>> rep = profile_locality(x, path="bitflip", p=[0.05, 0.25], radii=[1, 2],
    ...                        estimator="syndrome", estimator_options={"n_samples": 8})
    >>> rep.estimator["method"], len(rep.points), rep.schedule_dict()["t_max"]
    ('syndrome', 2, 'inf')
    """
    t0 = time.perf_counter()
    x, info = load_profile_data(data, key=key, n=n)
    process = _make_process(path, x, gamma)
    method = _choose_estimator(estimator, info, x, process)
    periodic = bool(info["periodic"])
    if cmi_value not in ("held_out", "bias_corrected"):
        raise ParameterError(f"cmi_value must be 'held_out' or 'bias_corrected', got {cmi_value!r}")
    if cmi_value != "held_out" and method != "neural_continuous":
        raise ParameterError("cmi_value='bias_corrected' applies to estimator='neural_continuous'")
    # grid
    if t is not None and p is not None:
        raise ParameterError("pass t= or p=, not both")
    if p is not None:
        if process.name == "bitflip":
            ts = process.t_of_p(np.atleast_1d(np.asarray(p, dtype=np.float64)))
        elif process.name == "uniform":
            ts = process.t_of_p_resample(np.atleast_1d(np.asarray(p, dtype=np.float64)))
        else:
            raise ParameterError("p= is for discrete paths (bitflip, uniform); use t=")
    elif t is not None:
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    else:
        ts = default_grid(process)
    ts = np.asarray(ts, dtype=np.float64).ravel()
    if ts.size < 1 or not np.all(np.isfinite(ts)) or np.any(ts <= 0):
        raise ParameterError(f"grid times must be finite and > 0, got {ts.tolist()}")
    if np.any(np.diff(np.sort(ts)) == 0):
        raise ParameterError(f"grid times must be distinct, got {ts.tolist()}")
    t_max = float(getattr(process, "t_max", math.inf))
    if np.any(ts >= t_max):
        raise ParameterError(f"grid times must be < t_max = {t_max:g}, got {ts.max():g}")
    ts = np.sort(ts)
    # radii
    rmax_ok = _max_radius(method, x, periodic)
    if radii is None:
        radii = list(range(1, min(5, rmax_ok) + 1))
    radii = [radii] if _is_int(radii) else list(radii)
    if len(radii) < 2 or not all(_is_int(r) and r >= 0 for r in radii):
        raise ParameterError(f"radii must be >= 2 distinct integers >= 0, got {radii!r}")
    radii = sorted({int(r) for r in radii})
    if radii[-1] > rmax_ok:
        raise ParameterError(
            f"radius {radii[-1]} is too large for data of shape {tuple(x.shape[2:])} with "
            f"estimator {method!r} (at most {rmax_ok})"
        )
    # rules
    r_max = radii[-1] if r_max is None else r_max
    _check_rules(
        dict(
            eps=eps,
            tolerance=tolerance,
            r_min=r_min,
            r_max=r_max,
            max_rel_err=max_rel_err,
            snr=snr,
            negative_cmi=negative_cmi,
            tail=tail,
        )
    )
    if not _is_int(n_steps) or n_steps < 1:
        raise ParameterError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not _is_int(seed) or seed < 0:
        raise ParameterError(f"seed must be an integer >= 0, got {seed!r}")
    opts = dict(_DEFAULT_OPTIONS.get(method, {}))
    if estimator_options is not None:
        if not isinstance(estimator_options, dict):
            raise ParameterError(
                f"estimator_options must be a dict, got {type(estimator_options).__name__}"
            )
        if "seed" in estimator_options or "radii" in estimator_options:
            raise ParameterError("estimator_options may not set seed or radii (use seed=, radii=)")
        opts.update(estimator_options)
    local_kwargs = dict(DEFAULT_LOCAL if local_kwargs is None else local_kwargs)
    global_kwargs = dict(DEFAULT_GLOBAL if global_kwargs is None else global_kwargs)

    # cost model first: a bad architecture fails before the expensive part
    cost = _cost_model(process, x.shape[1:], local_kwargs, global_kwargs, r_min, r_max)

    raw = []
    extra = []
    for i, tv in enumerate(ts):
        tp = time.perf_counter()
        try:
            vals, ex = _estimate(method, x, process, tv, radii, opts, seed + i, periodic, cmi_value)
        except TypeError as e:  # unknown estimator option
            raise ParameterError(f"estimator {method!r}: {e}") from None
        v = [float(a) for a, _ in vals]
        s = [float(b) for _, b in vals]
        raw.append((float(tv), v, s, time.perf_counter() - tp))
        extra.append(ex)
        if progress:
            vs = ", ".join(f"{a:.3g}±{b:.1g}" for a, b in zip(v, s, strict=True))
            print(f"profile: t = {tv:.4g}: I(r = {radii}) = {vs}")

    est = {
        "method": method,
        "options": _clean(opts),
        "cmi_value": cmi_value,
        "radii": radii,
        "seed": int(seed),
        "per_point": _clean(extra),
        "geometry": (
            "A: one site (all its channels); B: L-infinity shell 0 < d <= r; C: the rest"
            + ("" if periodic else " (clipped at the image border; A = the centre pixel)")
        ),
    }
    pdict = _clean(process.to_dict()) | ({"q": process.q} if process.name == "uniform" else {})
    rules = dict(
        eps=float(eps),
        tolerance=tolerance,
        r_min=int(r_min),
        r_max=int(r_max),
        max_rel_err=float(max_rel_err),
        snr=float(snr),
        negative_cmi=negative_cmi,
        tail=tail,
    )
    rep = _build(info, process, pdict, est, radii, raw, rules, cost, n_steps)
    object.__setattr__(rep, "wall_s", time.perf_counter() - t0)
    return rep


def _build(info, process, pdict, est, radii, raw, rules, cost, n_steps) -> LocalityProfile:
    """Fits, radius rule, cells, window and prediction from raw CMI values ``raw``:
    ``[(t, cmi per radius, stderr per radius, wall_s), ...]`` sorted by t."""
    from .info.markov import fit_markov_length

    points = []
    for tv, v, s, wall in raw:
        v, s = np.asarray(v, dtype=np.float64), np.asarray(s, dtype=np.float64)
        sf = s
        if not (np.all(s == 0) or np.all(s > 0)):  # exact zeros beside estimates: floor them
            sf = np.where(s > 0, s, float(s[s > 0].min()))
        fit = fit_markov_length(radii, v, sf, snr=rules["snr"], r_min=radii[0])
        r, why = _radius_rule(radii, v, sf, fit, **{k: rules[k] for k in _RADIUS_KEYS})
        points.append(
            LocalityPoint(
                t=float(tv),
                noise=float(_noise_level(process, tv)),
                radii=tuple(radii),
                cmi=tuple(float(a) for a in v),
                cmi_stderr=tuple(float(b) for b in s),
                xi=float(fit.xi),
                xi_stderr=float(fit.xi_stderr),
                amplitude=float(fit.amplitude),
                radius=r,
                reason=why,
                fit=_clean(fit.to_dict()),
                wall_s=float(wall),
            )
        )
    ts = np.array([pt.t for pt in points])
    t_max = float(getattr(process, "t_max", math.inf))
    c = _coord(process, ts)
    mids = 0.5 * (c[1:] + c[:-1])
    inner = _t_of_coord(process, mids) if mids.size else np.zeros(0)
    bounds = (0.0, *(float(b) for b in inner), t_max)
    glob = [i for i, pt in enumerate(points) if pt.radius is None]
    window = (bounds[glob[0]], bounds[glob[-1] + 1]) if glob else None
    rep = LocalityProfile(
        data=info,
        process=pdict,
        estimator=est,
        points=tuple(points),
        eps=rules["eps"],
        tolerance=rules["tolerance"],
        r_min=rules["r_min"],
        r_max=rules["r_max"],
        max_rel_err=rules["max_rel_err"],
        window=window,
        boundaries=bounds,
        cost=cost,
        predicted={"n_steps": int(n_steps)},
        rules=_rules_text(**rules),
        snr=rules["snr"],
        negative_cmi=rules["negative_cmi"],
        tail=rules["tail"],
    )
    object.__setattr__(rep, "predicted", rep.predicted_fraction(n_steps=n_steps))
    return rep


# the keys of r(t) at a grid point; tail acts on the schedule only
_RADIUS_KEYS = ("eps", "tolerance", "r_min", "r_max", "max_rel_err", "snr", "negative_cmi")
_RULE_KEYS = _RADIUS_KEYS + ("tail",)


def _check_rules(d: dict) -> None:
    eps, tolerance, r_min, r_max = d["eps"], d["tolerance"], d["r_min"], d["r_max"]
    if tolerance not in TOLERANCES:
        raise ParameterError(f"tolerance must be one of {TOLERANCES}, got {tolerance!r}")
    if not _is_num(eps) or not (0 < eps < 1 if tolerance == "relative" else eps > 0):
        raise ParameterError(
            f"eps must be a number in (0, 1) for tolerance='relative' and > 0 for 'absolute', "
            f"got {eps!r}"
        )
    if not _is_int(r_min) or r_min < 0:
        raise ParameterError(f"r_min must be an integer >= 0, got {r_min!r}")
    if not _is_int(r_max) or r_max < r_min:
        raise ParameterError(f"r_max must be an integer >= r_min = {r_min}, got {r_max!r}")
    if d["tail"] not in ("local", "global"):
        raise ParameterError(f"tail must be 'local' or 'global', got {d['tail']!r}")
    if d["negative_cmi"] not in ("global", "ignore"):
        raise ParameterError(
            f"negative_cmi must be 'global' or 'ignore', got {d['negative_cmi']!r}"
        )
    if not _is_num(d["snr"]) or not d["snr"] >= 0:
        raise ParameterError(f"snr must be a number >= 0, got {d['snr']!r}")
    if not _is_num(d["max_rel_err"]) or not d["max_rel_err"] > 0:
        raise ParameterError(f"max_rel_err must be a number > 0, got {d['max_rel_err']!r}")


def _cost_model(process, data_shape, local_kwargs, global_kwargs, r_min, r_max) -> dict:
    """FLOPs per site of LocalDenoiser(r) for r_min..r_max and of the GlobalDenoiser, for data
    of shape ``(C, *spatial)``."""
    try:
        from .nn import GlobalDenoiser, LocalDenoiser
        from .nn.train import input_channels, output_channels
    except ImportError as e:  # torch missing
        raise ParameterError(f"the compute prediction needs torch ({e})") from None
    C = int(data_shape[0])
    cin, cout = input_channels(process, C), output_channels(process, C)
    dim = len(data_shape) - 1
    shape = tuple(int(s) for s in data_shape[1:])
    try:
        loc = {}
        for r in range(r_min, r_max + 1):
            kw = dict(local_kwargs)
            kw["spatial_layers"] = max(1, min(kw.get("spatial_layers", 1), kw.get("depth", 3)))
            loc[r] = float(LocalDenoiser(r, cin, cout, dim=dim, **kw).flops_per_site())
        g = GlobalDenoiser(cin, cout, dim=dim, **global_kwargs)
        gf = float(g.flops_per_site(shape))
    except TypeError as e:
        raise ParameterError(f"local_kwargs/global_kwargs: {e}") from None
    return {
        "shape": list(shape),
        "local_flops_per_site": {str(r): f for r, f in loc.items()},
        "global_flops_per_site": gf,
        "local_kwargs": local_kwargs,
        "global_kwargs": global_kwargs,
        "counted": "2 x multiply-adds of all convolutions per site (flops_per_site); time "
        "embeddings and elementwise operations not counted",
    }


# an example report for the doctests (no estimation needed)
_EXAMPLE = {
    "schema": SCHEMA,
    "data": {"kind": "images", "shape": [1, 8, 8], "periodic": False},
    "process": {"process": "gaussian", "kind": "linear", "t_max": 1.0},
    "estimator": {"method": "neural_continuous"},
    "points": [
        {"t": 0.05, "noise": 0.05, "radii": [1, 2], "cmi": [0.01, 0.001],
         "cmi_stderr": [1e-3, 1e-3], "xi": 0.5, "xi_stderr": 0.1, "amplitude": 0.1,
         "radius": 1, "reason": "fit"},
        {"t": 0.15, "noise": 0.15, "radii": [1, 2], "cmi": [0.05, 0.04],
         "cmi_stderr": [1e-3, 1e-3], "xi": "inf", "xi_stderr": None, "amplitude": 0.06,
         "radius": None, "reason": "no decay"},
        {"t": 0.45, "noise": 0.45, "radii": [1, 2], "cmi": [0.01, 0.004],
         "cmi_stderr": [1e-3, 1e-3], "xi": 1.0, "xi_stderr": 0.1, "amplitude": 0.03,
         "radius": 2, "reason": "fit"},
    ],
    "eps": 0.1, "tolerance": "relative", "r_min": 1, "r_max": 3, "max_rel_err": 0.5,
    "window": [0.1, 0.3], "boundaries": [0.0, 0.1, 0.3, 1.0],
    "cost": {"shape": [8, 8], "local_flops_per_site": {"1": 100.0, "2": 200.0, "3": 300.0},
             "global_flops_per_site": 1000.0, "local_kwargs": {}, "global_kwargs": {}},
    "predicted": {"n_steps": 20, "fraction_of_global": 0.35},
    "rules": {},
}  # fmt: skip
