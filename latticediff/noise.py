"""Forward noise processes with exact per-time marginals, and the exact reverse steps samplers need.

Three families (DESIGN.md §2), each a frozen dataclass validated on construction:

- :class:`BitFlip` for binary data (±1 spins as int8, {0, 1} bits as uint8; per edge for the
  loop gas): every site flips independently with probability ``p(t) = (1 - exp(-2 gamma t))/2``.
- :class:`UniformResample` for q-state data (Potts states, uint8 in {0..q-1}): every site is
  resampled uniformly with probability ``1 - exp(-gamma t)``.
- :class:`GaussianPath` for real-valued data: ``x_t = alpha(t) x_0 + sigma(t) z`` with the
  ``linear`` (the paper's path), ``vp`` and ``ve`` schedules.

Both discrete processes are continuous-time Markov chains whose transition matrix over K values
has the form ``M(u) = u I + (1 - u)/K J`` (J = all-ones) with a *keep coefficient* u(t): bit flip
is K = 2 with ``u = exp(-2 gamma t) = 1 - 2 p``; uniform resampling is ``u = exp(-gamma t)``.
Since ``M(u1) M(u2) = M(u1 u2)``, the channel from time s to time t > s has ``u_{t|s} = u_t/u_s``;
for bit flips this is the composition rule of binary symmetric channels,
``(1 - 2 p_t) = (1 - 2 p_s)(1 - 2 p_{t|s})``.

The reverse step (D3PM, Austin et al. 2021, arXiv:2107.03006, eq. 4) marginalises the exact
posterior ``q(x_s | x_t, x_0)`` over a denoiser's per-site prediction ``P(x_0 | x_t)``::

    p(x_s = j | x_t = y) = sum_k q(x_s = j | x_t = y, x_0 = k) P(x_0 = k | x_t)
                         = A_j [u_s P_j / C_j + (1 - u_s)/K sum_k P_k / C_k],
    A_j = q(x_t = y | x_s = j) = u_{t|s} [j = y] + (1 - u_{t|s})/K,
    C_k = q(x_t = y | x_0 = k) = u_t [k = y] + (1 - u_t)/K.

Given the exact per-site posterior ``P(x_0,i | x_t)`` (all of x_t, not just site i) this gives
the exact per-site marginal of ``x_s,i | x_t``, because the noise is independent per site;
only the product over sites is an approximation.

Example
-------
>>> import numpy as np
>>> from latticediff.noise import BitFlip
>>> bf = BitFlip(gamma=1.0)
>>> round(float(bf.p(bf.t_of_p(0.1))), 12)
0.1
>>> x0 = np.ones((2, 1, 4, 4), dtype=np.int8)
>>> bf.sample(x0, 0.5, np.random.default_rng(0)).dtype
dtype('int8')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .errors import ParameterError

__all__ = ["BitFlip", "UniformResample", "GaussianPath", "PREDICTIONS", "process_from_dict"]

#: What a real-valued denoiser may predict on a Gaussian path.
PREDICTIONS = ("x0", "eps", "v")


# ----------------------------------------------------------------------------------------------
# validation helpers


def _check_positive(cls: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{cls}: {name} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{cls}: {name} must be a finite number > 0, got {value!r}")
    return v


def _as_time(cls: str, t, lo: float, hi: float, *, name: str = "t") -> np.ndarray:
    """t as a float64 array, every entry in [lo, hi] (hi may be inf)."""
    try:
        a = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{cls}: {name} must be a number or array of numbers, got {t!r}"
        raise ParameterError(msg) from None
    if a.size and (np.isnan(a).any() or (a < lo).any() or (a > hi).any()):
        bad = a[np.isnan(a) | (a < lo) | (a > hi)].ravel()[0]
        raise ParameterError(f"{cls}: {name} must be in [{lo}, {hi}], got {bad}")
    return a


def _bcast(cls: str, t: np.ndarray, ndim: int, shape: tuple, name: str = "t") -> np.ndarray:
    """Broadcast a scalar or per-sample t (shape = a prefix of ``shape``) against data."""
    if t.ndim == 0:
        return t
    if t.ndim > ndim or t.shape != tuple(shape[: t.ndim]):
        raise ParameterError(
            f"{cls}: {name} must be a scalar or have shape equal to a prefix of the data shape "
            f"{tuple(shape)} (e.g. one value per sample), got shape {t.shape}"
        )
    return t.reshape(t.shape + (1,) * (ndim - t.ndim))


def _check_rng(cls: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(
            f"{cls}: rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _check_order(cls: str, t: np.ndarray, s: np.ndarray) -> None:
    if np.any(np.broadcast_to(s >= t, np.broadcast_shapes(s.shape, t.shape))):
        raise ParameterError(f"{cls}: a reverse step needs s < t, got t={t!r}, s={s!r}")


# ----------------------------------------------------------------------------------------------
# discrete processes


class _Discrete:
    """Shared machinery of the discrete processes: the M(u) = u I + (1-u)/K J channel family."""

    name: ClassVar[str]
    t_max: ClassVar[float] = math.inf

    # subclasses define: n_classes, _rate (u(t) = exp(-_rate t)), _check_x, to_index, from_index

    def keep(self, t) -> np.ndarray | float:
        """Keep coefficient ``u(t)`` of the channel ``M(u) = u I + (1-u)/K J``; 1 at t = 0."""
        a = _as_time(type(self).__name__, t, 0.0, math.inf)
        return self._out(np.exp(-self._rate * a))

    def snr(self, t) -> np.ndarray | float:
        """Signal-to-noise ratio ``u(t)^2`` (for bit flips ``(1 - 2p)^2 = exp(-4 gamma t)``).

        It is the squared correlation between a site's clean and noisy value (for bit flips
        ``<x_0 x_t>^2``), decreasing from 1 at t = 0 to 0 at t = inf. (Unlike a Gaussian
        ``alpha^2/sigma^2`` it is bounded; ``snr/(1 - snr)`` is the unbounded analogue.)
        """
        a = _as_time(type(self).__name__, t, 0.0, math.inf)
        return self._out(np.exp(-2.0 * self._rate * a))

    def t_of_snr(self, snr) -> np.ndarray | float:
        """Inverse of :meth:`snr`; ``snr`` in [0, 1], ``snr = 0`` gives t = inf."""
        a = _as_time(type(self).__name__, snr, 0.0, 1.0, name="snr")
        with np.errstate(divide="ignore"):
            return self._out(-np.log(a) / (2.0 * self._rate))

    def time_feature(self, t) -> np.ndarray | float:
        """The bounded noise coordinate ``1 - u(t)`` in [0, 1] that denoisers are conditioned on.

        For bit flips it is ``2 p(t)``; for uniform resampling the resampling probability.
        """
        a = _as_time(type(self).__name__, t, 0.0, math.inf)
        return self._out(-np.expm1(-self._rate * a))

    def default_t(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training times: the keep coefficient u(t) uniform in (0, 1] (bit flips: p uniform
        in [0, 1/2)), so the whole path is covered evenly in its natural coordinate."""
        _check_rng(type(self).__name__, rng)
        u = 1.0 - rng.random(n)  # in (0, 1]
        return -np.log(u) / self._rate

    @staticmethod
    def _out(a: np.ndarray):
        return float(a) if a.ndim == 0 else a

    # --- forward sampling

    def _resample(self, x: np.ndarray, t_keep: np.ndarray, rng: np.random.Generator):
        """Keep each site with prob. u, else replace it by a uniform value (may equal the old)."""
        idx = self.to_index(x)
        r = rng.random(x.shape)
        new = rng.integers(0, self.n_classes, size=x.shape)
        idx = np.where(r < t_keep, idx, new)
        return self.from_index(idx, x.dtype)

    def sample(self, x0, t, rng: np.random.Generator) -> np.ndarray:
        """Draw ``x_t ~ q(x_t | x_0)`` (same shape and dtype as ``x0``).

        ``t`` is a scalar or one value per sample (any array whose shape is a prefix of
        ``x0.shape``; it is broadcast over the remaining axes). The number of random draws does
        not depend on t, so the same generator state gives coupled samples at different t.
        """
        cls = type(self).__name__
        x0 = self._check_x(x0)
        rng = _check_rng(cls, rng)
        tt = _bcast(cls, _as_time(cls, t, 0.0, math.inf), x0.ndim, x0.shape)
        return self._draw(x0, np.exp(-self._rate * tt), rng)

    def sample_transition(self, x_s, s, t, rng: np.random.Generator) -> np.ndarray:
        """Draw ``x_t ~ q(x_t | x_s)`` for t >= s (the channel with keep ``u_t / u_s``)."""
        cls = type(self).__name__
        x_s = self._check_x(x_s)
        rng = _check_rng(cls, rng)
        ss = _bcast(cls, _as_time(cls, s, 0.0, math.inf, name="s"), x_s.ndim, x_s.shape, "s")
        tt = _bcast(cls, _as_time(cls, t, 0.0, math.inf), x_s.ndim, x_s.shape)
        if np.any(np.broadcast_to(tt < ss, np.broadcast_shapes(tt.shape, ss.shape))):
            raise ParameterError(f"{cls}: sample_transition needs t >= s, got t={t!r}, s={s!r}")
        with np.errstate(invalid="ignore"):
            u = np.where(np.isinf(tt), 0.0, np.exp(-self._rate * (tt - ss)))
        return self._draw(x_s, u, rng)

    def _draw(self, x, u, rng):
        return self._resample(x, u, rng)

    def sample_prior(self, shape, rng: np.random.Generator, *, dtype=None) -> np.ndarray:
        """Draw from the stationary (t = inf) distribution: i.i.d. uniform values."""
        rng = _check_rng(type(self).__name__, rng)
        idx = rng.integers(0, self.n_classes, size=tuple(shape))
        return self.from_index(idx, self._prior_dtype(dtype))

    # --- reverse step

    def posterior_step(self, x_t, probs_x0, t, s, *, axis: int = -1) -> np.ndarray:
        """Per-site probabilities of ``x_s`` given ``x_t``, for 0 <= s < t (D3PM step).

        ``probs_x0`` holds a denoiser's per-site prediction ``P(x_0 = k | x_t)`` over the
        :attr:`n_classes` class indices (see :meth:`to_index`) along ``axis``; the other axes
        match ``x_t``. Returns float64 probabilities of the same shape (class axis in the same
        place) summing to 1. With ``s = 0`` it returns ``probs_x0`` itself (renormalised).
        See the module docstring for the formula; ``t = inf`` (start from the prior) is allowed.
        """
        cls = type(self).__name__
        x_t = self._check_x(x_t)
        K = self.n_classes
        P = np.asarray(probs_x0, dtype=np.float64)
        if P.ndim != x_t.ndim + 1:
            raise ParameterError(
                f"{cls}: probs_x0 must have one more axis than x_t {x_t.shape} (the class "
                f"axis), got shape {P.shape}"
            )
        P = np.moveaxis(P, axis, -1)
        if P.shape != x_t.shape + (K,):
            raise ParameterError(
                f"{cls}: probs_x0 must have shape {x_t.shape} plus a class axis of length {K}, "
                f"got {np.moveaxis(P, -1, axis).shape} (axis={axis})"
            )
        if not np.all(np.isfinite(P)) or np.any(P < 0):
            raise ParameterError(f"{cls}: probs_x0 must be finite and >= 0")
        tot = P.sum(axis=-1, keepdims=True)
        if np.any(np.abs(tot - 1.0) > 1e-4):
            bad = tot.ravel()[np.argmax(np.abs(tot - 1.0).ravel())]
            raise ParameterError(
                f"{cls}: probs_x0 must sum to 1 over the class axis (tolerance 1e-4), got {bad}"
            )
        P = P / tot
        tt = _bcast(cls, _as_time(cls, t, 0.0, math.inf), x_t.ndim, x_t.shape)
        ss = _bcast(cls, _as_time(cls, s, 0.0, math.inf, name="s"), x_t.ndim, x_t.shape, "s")
        _check_order(cls, tt, ss)
        u_t = np.exp(-self._rate * tt)[..., None]
        u_s = np.exp(-self._rate * ss)[..., None]
        u_ts = u_t / u_s
        onehot = self.to_index(x_t)[..., None] == np.arange(K)
        # (1 - u)/K computed with expm1 so that small t keeps full relative precision.
        off_t = (-np.expm1(-self._rate * tt) / K)[..., None]
        off_ts = (-np.expm1(-self._rate * (tt - ss)) / K)[..., None]  # s < t, so no inf - inf
        off_s = (-np.expm1(-self._rate * ss) / K)[..., None]
        C = np.where(onehot, u_t + off_t, off_t)
        A = np.where(onehot, u_ts + off_ts, off_ts)
        R = P / C
        post = A * (u_s * R + off_s * R.sum(axis=-1, keepdims=True))
        post = post / post.sum(axis=-1, keepdims=True)
        return np.moveaxis(post, -1, axis)

    def sample_posterior(
        self, x_t, probs_x0, t, s, rng: np.random.Generator, *, axis: int = -1
    ) -> np.ndarray:
        """Draw ``x_s`` (dtype of ``x_t``) from :meth:`posterior_step`, independently per site."""
        rng = _check_rng(type(self).__name__, rng)
        post = np.moveaxis(self.posterior_step(x_t, probs_x0, t, s, axis=axis), axis, -1)
        x_t = np.asarray(x_t)
        return self.from_index(_categorical(post, rng), x_t.dtype)


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Class indices drawn from probabilities on the last axis (inverse CDF, one uniform each)."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1])[..., None] * cdf[..., -1:]
    return np.minimum((cdf <= u).sum(axis=-1), probs.shape[-1] - 1)


@dataclass(frozen=True)
class BitFlip(_Discrete):
    """Independent bit flips: ``p(t) = (1 - exp(-2 gamma t)) / 2``, t in [0, inf].

    For ±1 spins (int8) and {0, 1} bits (uint8; the loop gas is flipped per edge). Class indices
    (the cross-entropy targets of a denoiser): spin -1 -> 0, +1 -> 1; bit b -> b.

    >>> import numpy as np
    >>> bf = BitFlip(gamma=0.5)
    >>> round(float(bf.p(1.0)), 6), round(float(bf.t_of_p(bf.p(1.0))), 12)
    (0.31606, 1.0)
    >>> P = np.array([[0.9, 0.1]])            # denoiser: x_0 = -1 with prob. 0.9
    >>> post = bf.posterior_step(np.array([1], np.int8), P, t=1.0, s=0.5)
    >>> post.shape, bool(abs(post.sum() - 1) < 1e-12)
    ((1, 2), True)
    >>> BitFlip(gamma=0)
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: BitFlip: gamma must be a finite number > 0, got 0
    """

    gamma: float = 1.0
    name: ClassVar[str] = "bitflip"
    n_classes: ClassVar[int] = 2

    def __post_init__(self):
        object.__setattr__(self, "gamma", _check_positive("BitFlip", "gamma", self.gamma))

    @property
    def _rate(self) -> float:
        return 2.0 * self.gamma

    def to_dict(self) -> dict:
        """``{"process": "bitflip", "gamma": ...}`` (JSON-able, for configs)."""
        return {"process": self.name, "gamma": self.gamma}

    def p(self, t) -> np.ndarray | float:
        """Flip probability ``(1 - exp(-2 gamma t)) / 2`` in [0, 1/2]."""
        a = _as_time("BitFlip", t, 0.0, math.inf)
        return self._out(-0.5 * np.expm1(-2.0 * self.gamma * a))

    def t_of_p(self, p) -> np.ndarray | float:
        """Inverse of :meth:`p`: ``t = -log(1 - 2p) / (2 gamma)``, p in [0, 1/2] (1/2 -> inf)."""
        a = _as_time("BitFlip", p, 0.0, 0.5, name="p")
        with np.errstate(divide="ignore"):
            return self._out(-np.log1p(-2.0 * a) / (2.0 * self.gamma))

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype == np.int8:
            if not np.all((x == 1) | (x == -1)):
                bad = x[(x != 1) & (x != -1)].ravel()[0]
                raise ParameterError(f"BitFlip: int8 spins must be -1 or +1, got {bad}")
        elif x.dtype == np.uint8:
            if not np.all(x <= 1):
                bad = x[x > 1].ravel()[0]
                raise ParameterError(f"BitFlip: uint8 bits must be 0 or 1, got {bad}")
        else:
            raise ParameterError(
                f"BitFlip: data must be int8 spins in {{-1, +1}} or uint8 bits in {{0, 1}}, "
                f"got dtype {x.dtype}"
            )
        return x

    def to_index(self, x) -> np.ndarray:
        """Class indices (int64): spin -1 -> 0, +1 -> 1; bit b -> b."""
        x = self._check_x(x)
        if x.dtype == np.int8:
            return (x.astype(np.int64) + 1) // 2
        return x.astype(np.int64)

    def from_index(self, idx, dtype) -> np.ndarray:
        """Values of ``dtype`` (int8 spins or uint8 bits) from class indices in {0, 1}."""
        idx = np.asarray(idx)
        dt = np.dtype(dtype)
        if dt == np.int8:
            return (2 * idx - 1).astype(np.int8)
        if dt == np.uint8:
            return idx.astype(np.uint8)
        raise ParameterError(f"BitFlip: dtype must be int8 (spins) or uint8 (bits), got {dt}")

    def _prior_dtype(self, dtype):
        if dtype is None:
            raise ParameterError("BitFlip.sample_prior: pass dtype=np.int8 (spins) or np.uint8")
        return dtype

    def _draw(self, x, u, rng):
        # A flip with probability (1 - u)/2: one uniform per site, compared with p.
        flip = rng.random(x.shape) < 0.5 * (1.0 - u)
        if x.dtype == np.int8:
            return np.where(flip, -x, x).astype(np.int8)
        return (x ^ flip.astype(np.uint8)).astype(np.uint8)


@dataclass(frozen=True)
class UniformResample(_Discrete):
    """Uniform resampling for q-state data: with probability ``1 - exp(-gamma t)`` a site is
    replaced by a uniformly random value in {0..q-1} (possibly its old value), t in [0, inf].

    The probability that a site differs from its clean value is ``(1 - 1/q)(1 - exp(-gamma t))``.
    Data are unsigned/signed integer arrays with values in {0..q-1} (Potts states are uint8);
    the class index of a value is the value itself.

    >>> import numpy as np
    >>> ur = UniformResample(q=3, gamma=1.0)
    >>> round(float(ur.p_resample(1.0)), 6)
    0.632121
    >>> x0 = np.zeros((1, 1, 8, 8), np.uint8)
    >>> int(ur.sample(x0, 50.0, np.random.default_rng(1)).max()) <= 2
    True
    >>> UniformResample(q=1)
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: UniformResample: q must be an integer in [2, 256], got 1
    """

    q: int
    gamma: float = 1.0
    name: ClassVar[str] = "uniform"

    def __post_init__(self):
        q = self.q
        if isinstance(q, bool) or not isinstance(q, int | np.integer) or not 2 <= q <= 256:
            raise ParameterError(f"UniformResample: q must be an integer in [2, 256], got {q!r}")
        object.__setattr__(self, "q", int(q))
        object.__setattr__(self, "gamma", _check_positive("UniformResample", "gamma", self.gamma))

    @property
    def n_classes(self) -> int:
        return self.q

    @property
    def _rate(self) -> float:
        return self.gamma

    def to_dict(self) -> dict:
        """``{"process": "uniform", "q": ..., "gamma": ...}`` (JSON-able, for configs)."""
        return {"process": self.name, "q": self.q, "gamma": self.gamma}

    def p_resample(self, t) -> np.ndarray | float:
        """Probability ``1 - exp(-gamma t)`` that a site has been resampled by time t."""
        return self.time_feature(t)

    def t_of_p_resample(self, p) -> np.ndarray | float:
        """Inverse of :meth:`p_resample`, p in [0, 1] (1 -> inf)."""
        a = _as_time("UniformResample", p, 0.0, 1.0, name="p")
        with np.errstate(divide="ignore"):
            return self._out(-np.log1p(-a) / self.gamma)

    def _check_x(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "ui":
            raise ParameterError(
                f"UniformResample: data must be integers in [0, {self.q - 1}], got dtype {x.dtype}"
            )
        if x.size and (x.min() < 0 or x.max() >= self.q):
            bad = x[(x < 0) | (x >= self.q)].ravel()[0]
            raise ParameterError(
                f"UniformResample: values must be in [0, {self.q - 1}] (q={self.q}), got {bad}"
            )
        return x

    def to_index(self, x) -> np.ndarray:
        """Class indices (int64): the values themselves."""
        return self._check_x(x).astype(np.int64)

    def from_index(self, idx, dtype) -> np.ndarray:
        """Values of ``dtype`` from class indices."""
        return np.asarray(idx).astype(dtype)

    def _prior_dtype(self, dtype):
        return np.uint8 if dtype is None else dtype


# ----------------------------------------------------------------------------------------------
# Gaussian paths


_KINDS = ("linear", "vp", "ve")
_VE_SCHEDULES = ("linear", "geometric")


@dataclass(frozen=True)
class GaussianPath:
    """Gaussian noising path ``x_t = alpha(t) x_0 + sigma(t) z``, z ~ N(0, I).

    kinds:

    - ``"linear"`` (the paper's path, rectified flow): ``alpha = 1 - t``, ``sigma = t``,
      t in [0, 1]; x_1 = z exactly.
    - ``"vp"`` (Ornstein–Uhlenbeck / variance preserving): ``alpha = exp(-t)``,
      ``sigma = sqrt(1 - exp(-2t))``, t in [0, t_max] (``t_max`` default 5, alpha = 0.0067).
    - ``"ve"`` (variance exploding): ``alpha = 1``, t in [0, 1], with ``schedule="linear"``
      (default) ``sigma = sigma_max t``, or ``schedule="geometric"``
      ``sigma = sigma_min (sigma_max/sigma_min)^t`` for t > 0 and ``sigma(0) = 0`` (t = 0 is the
      clean data; the smallest positive noise level is sigma_min; Song et al. 2021,
      arXiv:2011.13456). Defaults ``sigma_max = 80``, ``sigma_min = 0.002`` (Karras et al. 2022).

    Velocity means the time derivative of the path, ``v = alpha'(t) x_0 + sigma'(t) z`` (flow
    matching); for the linear path ``v = z - x_0``.

    >>> import numpy as np
    >>> g = GaussianPath("linear")
    >>> float(g.alpha(0.25)), float(g.sigma(0.25)), float(g.snr(0.25))
    (0.75, 0.25, 9.0)
    >>> round(float(g.t_of_snr(9.0)), 12)
    0.25
    >>> x0 = np.zeros((1, 1, 2, 2), np.float32)
    >>> xt, z = g.sample(x0, 0.5, np.random.default_rng(0))
    >>> bool(np.allclose(g.x0_from_eps(xt, z, 0.5), x0, atol=1e-6))
    True
    >>> GaussianPath("vp", sigma_max=3.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: GaussianPath: sigma_max is only used by kind='ve', ...
    """

    kind: str = "linear"
    sigma_max: float | None = None
    sigma_min: float | None = None
    schedule: str | None = None
    t_max: float | None = None
    name: ClassVar[str] = "gaussian"

    def __post_init__(self):
        cls = "GaussianPath"
        if self.kind not in _KINDS:
            raise ParameterError(f"{cls}: kind must be one of {_KINDS}, got {self.kind!r}")
        if self.kind != "ve":
            for key in ("sigma_max", "sigma_min", "schedule"):
                if getattr(self, key) is not None:
                    raise ParameterError(
                        f"{cls}: {key} is only used by kind='ve', got kind={self.kind!r}"
                    )
        if self.kind == "ve":
            sched = "linear" if self.schedule is None else self.schedule
            if sched not in _VE_SCHEDULES:
                raise ParameterError(
                    f"{cls}: schedule must be one of {_VE_SCHEDULES}, got {sched!r}"
                )
            object.__setattr__(self, "schedule", sched)
            smax = (
                80.0
                if self.sigma_max is None
                else _check_positive(cls, "sigma_max", self.sigma_max)
            )
            object.__setattr__(self, "sigma_max", smax)
            if sched == "linear":
                if self.sigma_min is not None:
                    raise ParameterError(
                        f"{cls}: sigma_min is only used by schedule='geometric', got {sched!r}"
                    )
            else:
                smin = (
                    0.002
                    if self.sigma_min is None
                    else _check_positive(cls, "sigma_min", self.sigma_min)
                )
                if smin >= smax:
                    raise ParameterError(
                        f"{cls}: sigma_min must be < sigma_max={smax}, got sigma_min={smin}"
                    )
                object.__setattr__(self, "sigma_min", smin)
        if self.kind == "vp":
            tm = 5.0 if self.t_max is None else _check_positive(cls, "t_max", self.t_max)
        else:
            if self.t_max is not None and float(self.t_max) != 1.0:
                raise ParameterError(
                    f"{cls}: t_max is fixed to 1 for kind={self.kind!r}, got {self.t_max!r}"
                )
            tm = 1.0
        object.__setattr__(self, "t_max", float(tm))

    def to_dict(self) -> dict:
        """JSON-able description (for configs)."""
        d = {"process": self.name, "kind": self.kind, "t_max": self.t_max}
        if self.kind == "ve":
            d.update(schedule=self.schedule, sigma_max=self.sigma_max)
            if self.schedule == "geometric":
                d["sigma_min"] = self.sigma_min
        return d

    # --- schedule

    def _t(self, t, name="t") -> np.ndarray:
        return _as_time("GaussianPath", t, 0.0, self.t_max, name=name)

    _out = staticmethod(_Discrete._out)

    def _alpha(self, t: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return 1.0 - t
        if self.kind == "vp":
            return np.exp(-t)
        return np.ones_like(t)

    def _sigma(self, t: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return t.copy()
        if self.kind == "vp":
            return np.sqrt(-np.expm1(-2.0 * t))
        if self.schedule == "linear":
            return self.sigma_max * t
        ratio = self.sigma_max / self.sigma_min
        return np.where(t > 0, self.sigma_min * ratio**t, 0.0)

    def _dalpha(self, t):
        if self.kind == "linear":
            return -np.ones_like(t)
        if self.kind == "vp":
            return -np.exp(-t)
        return np.zeros_like(t)

    def _dsigma(self, t):
        if self.kind == "linear":
            return np.ones_like(t)
        if self.kind == "vp":
            with np.errstate(divide="ignore"):
                return np.exp(-2.0 * t) / self._sigma(t)
        if self.schedule == "linear":
            return np.full_like(t, self.sigma_max)
        return self._sigma(t) * math.log(self.sigma_max / self.sigma_min)

    def alpha(self, t):
        """Signal coefficient alpha(t)."""
        return self._out(self._alpha(self._t(t)))

    def sigma(self, t):
        """Noise standard deviation sigma(t)."""
        return self._out(self._sigma(self._t(t)))

    def d_alpha(self, t):
        """alpha'(t)."""
        return self._out(self._dalpha(self._t(t)))

    def d_sigma(self, t):
        """sigma'(t) (infinite at t = 0 for vp)."""
        return self._out(self._dsigma(self._t(t)))

    def snr(self, t):
        """``alpha^2 / sigma^2`` (inf at t = 0; 0 at t = 1 on the linear path)."""
        a = self._t(t)
        with np.errstate(divide="ignore"):
            return self._out(self._alpha(a) ** 2 / self._sigma(a) ** 2)

    def t_of_snr(self, snr):
        """Inverse of :meth:`snr` (snr = inf -> t = 0)."""
        cls = "GaussianPath"
        s = _as_time(cls, snr, 0.0, math.inf, name="snr")
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "linear":
                t = 1.0 / (1.0 + np.sqrt(s))
            elif self.kind == "vp":
                t = 0.5 * np.log1p(1.0 / s)
            else:
                sig = 1.0 / np.sqrt(s)
                if self.schedule == "linear":
                    t = sig / self.sigma_max
                else:
                    t = np.log(sig / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)
                    t = np.where(np.isinf(s), 0.0, t)
        t = np.where(np.isinf(s), 0.0, t)
        if np.any(t < 0) or np.any(t > self.t_max * (1 + 1e-12)):
            lo = float(self.snr(self.t_max))
            extra = ", and inf or <= 1/sigma_min^2" if self.schedule == "geometric" else ""
            raise ParameterError(
                f"{cls}: snr must be reachable on this path (>= {lo:g}, the snr at t_max="
                f"{self.t_max:g}{extra}), got {snr!r}"
            )
        return self._out(np.minimum(t, self.t_max))

    def time_feature(self, t):
        """Bounded noise coordinate ``sigma / (alpha + sigma)`` in [0, 1] that denoisers are
        conditioned on; equal to t on the linear path."""
        a = self._t(t)
        al, si = self._alpha(a), self._sigma(a)
        return self._out(si / (al + si))

    def default_t(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Training times uniform in (0, t_max] (t = 0 excluded: nothing to denoise there, and
        the vp velocity is infinite)."""
        _check_rng("GaussianPath", rng)
        return (1.0 - rng.random(n)) * self.t_max

    # --- forward sampling

    def _coef(self, t, x, name="t"):
        tt = _bcast("GaussianPath", self._t(t, name), x.ndim, x.shape, name)
        return tt, self._alpha(tt), self._sigma(tt)

    @staticmethod
    def _float(x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind == "f":
            return x
        if x.dtype.kind in "uib":
            return x.astype(np.float64)
        raise ParameterError(f"GaussianPath: data must be real numbers, got dtype {x.dtype}")

    def sample(self, x0, t, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``(x_t, z)`` with ``x_t = alpha(t) x0 + sigma(t) z``; float dtype of x0 (float64
        for integer data). ``t`` scalar or per-sample (prefix of ``x0.shape``)."""
        x0 = self._float(x0)
        rng = _check_rng("GaussianPath", rng)
        _, al, si = self._coef(t, x0)
        z = rng.standard_normal(x0.shape, dtype=x0.dtype if x0.dtype == np.float32 else np.float64)
        z = z.astype(x0.dtype, copy=False)
        return (al * x0 + si * z).astype(x0.dtype, copy=False), z

    def sample_transition(self, x_s, s, t, rng: np.random.Generator) -> np.ndarray:
        """Draw ``x_t ~ q(x_t | x_s) = N(alpha_{t|s} x_s, sigma_{t|s}^2)`` for t >= s with
        ``alpha_{t|s} = alpha_t/alpha_s`` and ``sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2
        sigma_s^2``."""
        x_s = self._float(x_s)
        rng = _check_rng("GaussianPath", rng)
        ts, a_s, s_s = self._coef(s, x_s, "s")
        tt, a_t, s_t = self._coef(t, x_s)
        if np.any(np.broadcast_to(tt < ts, np.broadcast_shapes(tt.shape, ts.shape))):
            raise ParameterError(f"GaussianPath: sample_transition needs t >= s, got t={t}, s={s}")
        if np.any(a_s == 0):
            raise ParameterError("GaussianPath: sample_transition needs alpha(s) > 0 (s < 1)")
        a_ts = a_t / a_s
        var = np.maximum(s_t**2 - a_ts**2 * s_s**2, 0.0)
        z = rng.standard_normal(x_s.shape)
        return (a_ts * x_s + np.sqrt(var) * z).astype(x_s.dtype, copy=False)

    def sample_prior(self, shape, rng: np.random.Generator, *, dtype=np.float32) -> np.ndarray:
        """Draw the reverse sampler's starting point at ``t_max``: exactly z for linear,
        N(0, 1) for vp (approximate: neglects alpha(t_max) x_0), N(0, sigma_max^2) for ve
        (approximate: neglects x_0 against sigma_max)."""
        rng = _check_rng("GaussianPath", rng)
        z = rng.standard_normal(tuple(shape))
        scale = self.sigma_max if self.kind == "ve" else 1.0
        return (scale * z).astype(dtype)

    # --- prediction conversions

    def _ct(self, t, x):
        x = self._float(x)
        tt, al, si = self._coef(t, x)
        return x, tt, al, si

    def x0_from_eps(self, x_t, eps, t) -> np.ndarray:
        """``x0 = (x_t - sigma eps) / alpha`` (needs alpha(t) > 0)."""
        x_t, _, al, si = self._ct(t, x_t)
        if np.any(al == 0):
            raise ParameterError("GaussianPath: x0_from_eps needs alpha(t) > 0 (t < 1 for linear)")
        return (x_t - si * np.asarray(eps)) / al

    def eps_from_x0(self, x_t, x0, t) -> np.ndarray:
        """``eps = (x_t - alpha x0) / sigma`` (needs sigma(t) > 0, i.e. t > 0)."""
        x_t, _, al, si = self._ct(t, x_t)
        if np.any(si == 0):
            raise ParameterError("GaussianPath: eps_from_x0 needs sigma(t) > 0 (t > 0)")
        return (x_t - al * np.asarray(x0)) / si

    def v_target(self, x0, z, t) -> np.ndarray:
        """Velocity ``v = alpha'(t) x0 + sigma'(t) z`` (``z - x0`` on the linear path)."""
        x0, tt, _, _ = self._ct(t, x0)
        ds = self._dsigma(tt)
        if not np.all(np.isfinite(ds)):
            raise ParameterError("GaussianPath: the vp velocity is infinite at t = 0; use t > 0")
        return self._dalpha(tt) * x0 + ds * np.asarray(z)

    def _vdet(self, tt, al, si):
        det = al * self._dsigma(tt) - si * self._dalpha(tt)
        if not np.all(np.isfinite(det)) or np.any(det == 0):
            raise ParameterError("GaussianPath: velocity is not invertible at this t (vp at t=0)")
        return det

    def x0_from_v(self, x_t, v, t) -> np.ndarray:
        """``x0 = (sigma' x_t - sigma v) / (alpha sigma' - sigma alpha')`` (linear: x_t - t v)."""
        x_t, tt, al, si = self._ct(t, x_t)
        det = self._vdet(tt, al, si)
        return (self._dsigma(tt) * x_t - si * np.asarray(v)) / det

    def eps_from_v(self, x_t, v, t) -> np.ndarray:
        """``eps = (alpha v - alpha' x_t) / (alpha sigma' - sigma alpha')``."""
        x_t, tt, al, si = self._ct(t, x_t)
        det = self._vdet(tt, al, si)
        return (al * np.asarray(v) - self._dalpha(tt) * x_t) / det

    def v_from_x0(self, x_t, x0, t) -> np.ndarray:
        """Velocity implied by an x0 prediction: ``alpha' x0 + sigma' eps(x0)``."""
        eps = self.eps_from_x0(x_t, x0, t)
        return self.v_target(x0, eps, t)

    def target(self, prediction: str, x0, z, t) -> np.ndarray:
        """The regression target of a denoiser that predicts ``prediction`` ("x0", "eps", "v")."""
        _check_prediction(prediction)
        if prediction == "x0":
            return self._float(x0)
        if prediction == "eps":
            return self._float(z)
        return self.v_target(x0, z, t)

    def to_x0(self, prediction: str, pred, x_t, t) -> np.ndarray:
        """Convert a ``prediction`` ("x0", "eps", "v") at (x_t, t) into an x0 estimate."""
        _check_prediction(prediction)
        if prediction == "x0":
            return self._float(pred)
        if prediction == "eps":
            return self.x0_from_eps(x_t, pred, t)
        return self.x0_from_v(x_t, pred, t)

    # --- reverse steps

    def _step_coefs(self, x_t, t, s):
        x_t = self._float(x_t)
        tt, a_t, s_t = self._coef(t, x_t)
        ss, a_s, s_s = self._coef(s, x_t, "s")
        _check_order("GaussianPath", tt, ss)
        return x_t, a_t, s_t, a_s, s_s

    def euler_step(self, x_t, x0_hat, t, s) -> np.ndarray:
        """Deterministic step t -> s < t: ``x_s = alpha_s x0_hat + sigma_s eps_hat`` with
        ``eps_hat = (x_t - alpha_t x0_hat) / sigma_t``.

        This is DDIM with eta = 0 (Song, Meng, Ermon 2021, arXiv:2010.02502), the Euler step of
        the probability-flow ODE in the variables (x/alpha, sigma/alpha); on the linear path it
        equals the Euler step in t, ``x_s = x_t + (s - t) v_hat``. Exact (returns the x_s on the
        same noise realisation) when ``x0_hat`` is the true x_0.
        """
        x_t, a_t, s_t, a_s, s_s = self._step_coefs(x_t, t, s)
        x0_hat = np.asarray(x0_hat)
        eps_hat = (x_t - a_t * x0_hat) / s_t
        return (a_s * x0_hat + s_s * eps_hat).astype(x_t.dtype, copy=False)

    def posterior_mean_var(self, x_t, x0_hat, t, s) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the Gaussian posterior ``q(x_s | x_t, x_0 = x0_hat)``, s < t::

            mean = alpha_{t|s} sigma_s^2 / sigma_t^2 x_t + alpha_s sigma_{t|s}^2 / sigma_t^2 x0
            var  = sigma_{t|s}^2 sigma_s^2 / sigma_t^2

        with ``alpha_{t|s} = alpha_t / alpha_s``, ``sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2
        sigma_s^2`` (Kingma et al. 2021, arXiv:2107.00630, eq. 9).
        """
        x_t, a_t, s_t, a_s, s_s = self._step_coefs(x_t, t, s)
        a_ts = a_t / a_s
        var_ts = np.maximum(s_t**2 - a_ts**2 * s_s**2, 0.0)
        mean = (a_ts * s_s**2 / s_t**2) * x_t + (a_s * var_ts / s_t**2) * np.asarray(x0_hat)
        var = var_ts * s_s**2 / s_t**2
        return mean, np.broadcast_to(var, np.broadcast_shapes(np.shape(var), x_t.shape))

    def ddpm_step(self, x_t, x0_hat, t, s, rng: np.random.Generator) -> np.ndarray:
        """Ancestral step t -> s < t: draw from ``q(x_s | x_t, x_0 = x0_hat)`` (see
        :meth:`posterior_mean_var`); at s = 0 it returns the mean, which is x0_hat."""
        rng = _check_rng("GaussianPath", rng)
        x_t = self._float(x_t)
        mean, var = self.posterior_mean_var(x_t, x0_hat, t, s)
        z = rng.standard_normal(x_t.shape)
        return (mean + np.sqrt(var) * z).astype(x_t.dtype, copy=False)


def _check_prediction(prediction) -> None:
    if prediction not in PREDICTIONS:
        raise ParameterError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")


def process_from_dict(d: dict):
    """Rebuild a process from its :meth:`to_dict` form.

    >>> process_from_dict(BitFlip(gamma=2.0).to_dict())
    BitFlip(gamma=2.0)
    """
    d = dict(d)
    kind = d.pop("process", None)
    classes = {"bitflip": BitFlip, "uniform": UniformResample, "gaussian": GaussianPath}
    if kind not in classes:
        raise ParameterError(f"process must be one of {tuple(classes)}, got {kind!r}")
    if kind == "gaussian" and d.get("kind") != "vp":
        d.pop("t_max", None)
    return classes[kind](**d)
