"""The one front door to the CMI estimators, :func:`estimate_cmi`, and the exact enumeration.

Methods (DESIGN.md §2; issue "information analysis"):

============  ==================================================================================
``plugin``    counting with a bias correction, translation-averaged (:mod:`.plugin`); far region
              approximated by a ring of width ``c_width``
``chain``     exact, the noisy 1D Ising chain by transfer matrices, infinite chain
              (:mod:`latticediff.exact.noisy_chain`); ``samples=None``, needs ``K`` and ``p``
``exact``     exact, tiny lattices: an explicit probability table (e.g. from
              :func:`latticediff.exact.enumeration.exact_distribution`) with optional bit-flip noise
              applied exactly by a Walsh–Hadamard transform; ``samples=None``
``syndrome``  the bit-flipped uniform loop gas via syndrome entropies
              (:func:`latticediff.info.syndrome.syndrome_cmi`)
``neural``    held-out cross-entropies of trained predictors
              (:func:`latticediff.info.neural.neural_cmi`)
``neural_continuous``  held-out NLLs of conditional mixture densities, real-valued data
              (:func:`latticediff.info.neural_continuous.neural_cmi_continuous`)
``immse``     clean real-valued data on a Gaussian path (option ``t``): the conditional I-MMSE
              integral of denoising-error gaps (:func:`latticediff.info.immse.immse_cmi`)
============  ==================================================================================

Every method returns a :class:`~latticediff.info.result.CMIEstimate` in nats, never clipped.

>>> import latticediff as ld
>>> e = estimate_cmi(None, radius=1, method="chain", K=1.0, p=0.2)
>>> round(e.value, 5), e.stderr < 1e-8
(0.02221, True)
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

from ..errors import ParameterError
from ..lattice import shell_mask
from .result import CMIEstimate

__all__ = ["METHODS", "estimate_cmi", "exact_cmi", "walsh_hadamard", "apply_bitflip_noise"]

METHODS = ("plugin", "chain", "exact", "syndrome", "neural", "neural_continuous", "immse")
MAX_NOISY_BITS = 24  # a noisy table holds 2^bits float64 values (128 MiB at 24)


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


# ---------------------------------------------------------------------------------------------
# Walsh-Hadamard transform and exact bit-flip noise


def walsh_hadamard(a) -> np.ndarray:
    """Unnormalised fast Walsh–Hadamard transform along the last axis (length ``2^n``).

    ``out[S] = sum_x a[x] (-1)^popcount(S & x)``; applying it twice multiplies by ``2^n``.
    Cost ``n 2^n`` (butterflies), vectorised in NumPy.

    >>> walsh_hadamard([1.0, 0.0, 0.0, 0.0]).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> walsh_hadamard([0.0, 1.0, 0.0, 0.0]).tolist()
    [1.0, -1.0, 1.0, -1.0]
    """
    a = np.array(a, dtype=np.float64)
    n = a.shape[-1]
    if n < 1 or n & (n - 1):
        raise ParameterError(f"walsh_hadamard: the last axis must have length 2^n, got {n}")
    lead = a.shape[:-1]
    h = 1
    while h < n:
        b = a.reshape(*lead, n // (2 * h), 2, h)
        x = b[..., 0, :]
        y = b[..., 1, :]
        a = np.stack((x + y, x - y), axis=-2).reshape(*lead, n)
        h *= 2
    return a


def apply_bitflip_noise(probs, p: float) -> np.ndarray:
    """Distribution of ``x XOR e`` for ``x ~ probs`` (length ``2^n``), e i.i.d. Bernoulli(p) bits.

    The noise is a convolution on bit strings, diagonal in the Walsh–Hadamard basis: each
    character ``S`` is multiplied by ``(1 - 2p)^|S|``. Exact up to rounding (~1e-16 per entry).

    >>> apply_bitflip_noise([1.0, 0.0, 0.0, 0.0], 0.1).round(6).tolist()
    [0.81, 0.09, 0.09, 0.01]
    """
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
        raise ParameterError(f"apply_bitflip_noise: p must be a number in [0, 1], got {p!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ParameterError(f"apply_bitflip_noise: p must be in [0, 1], got {p}")
    f = walsh_hadamard(probs)
    n = f.shape[-1]
    weight = np.bitwise_count(np.arange(n, dtype=np.uint64)).astype(np.float64)
    f *= (1.0 - 2.0 * p) ** weight
    out = walsh_hadamard(f) / n
    return out


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def exact_cmi(
    states,
    probs,
    *,
    radius: int,
    p: float = 0.0,
    center=None,
    block: int = 1,
    periodic: bool = True,
    channel_axis: bool | None = None,
) -> CMIEstimate:
    """Exact ``I(A:C|B)`` of a tiny lattice distribution given as an explicit table, optional noise.

    ``states``: ``(S, *shape)`` (or ``(S, C, *shape)`` with channels, the default for 4-D input,
    e.g. the loop gas ``(S, 2, L, L)``: a site's channels belong to its region, the "owner" rule
    of :mod:`latticediff.lattice`); ``probs``: ``(S,)`` probabilities summing to 1. Regions from
    :func:`latticediff.lattice.shell_mask` around ``center`` (default: the origin); C is the whole
    rest of the lattice. ``p > 0`` applies independent bit-flip noise to every value (binary data
    only) exactly: the table is spread over all ``2^bits`` configurations and convolved by a
    Walsh–Hadamard transform (at most 24 bits). ``stderr`` is 0.

    >>> import latticediff as ld
    >>> states, P = ld.exact.exact_distribution(ld.Ising(L=4, T=2.5))
    >>> round(exact_cmi(states, P, radius=1).value, 12)        # clean Ising: Markov network
    0.0
    >>> round(exact_cmi(states, P, radius=1, p=0.1).value, 6)
    0.003619
    """
    states = np.asarray(states)
    probs = np.asarray(probs, dtype=np.float64)
    if states.ndim < 2 or states.shape[0] != probs.shape[0] or probs.ndim != 1:
        raise ParameterError(
            f"exact_cmi: states must be (S, *shape) and probs (S,), got {states.shape} and "
            f"{probs.shape}"
        )
    if np.any(probs < 0) or not np.isclose(probs.sum(), 1.0, atol=1e-9):
        raise ParameterError(f"exact_cmi: probs must be >= 0 and sum to 1, got sum {probs.sum()}")
    if not _is_int(radius) or radius < 0:
        raise ParameterError(f"exact_cmi: radius must be an integer >= 0, got {radius!r}")
    if channel_axis is None:
        channel_axis = states.ndim == 4
    shape = states.shape[2:] if channel_axis else states.shape[1:]
    if not 1 <= len(shape) <= 3:
        raise ParameterError(f"exact_cmi: lattice must have 1-3 axes, got states {states.shape}")
    if center is None:
        center = (0,) * len(shape)
    A, B, C = shell_mask(shape, center, radius, block=block, periodic=periodic)
    n_ch = states.shape[1] if channel_axis else 1
    # one boolean per value of a configuration (channels first, then sites in C order)
    site_of = [np.broadcast_to(m, (n_ch, *shape)).ravel() for m in (A, B, C)]
    flat = states.reshape(states.shape[0], -1)
    values, sym = np.unique(flat, return_inverse=True)
    sym = sym.reshape(flat.shape)
    details = {
        "estimator": "exact enumeration",
        "p": float(p),
        "n_values": int(flat.shape[1]),
        "sites": {"A": int(A.sum()), "B": int(B.sum()), "C": int(C.sum())},
        "center": list(center),
        "block": int(block),
        "periodic": bool(periodic),
    }
    regions = {"AB": (0, 1), "BC": (1, 2), "B": (1,), "ABC": (0, 1, 2)}
    H = {}
    if p == 0.0:
        for name, parts in regions.items():
            cols = np.flatnonzero(np.logical_or.reduce([site_of[i] for i in parts]))
            if cols.size == 0:
                H[name] = 0.0
                continue
            q = max(2, len(values))
            if cols.size * np.log2(q) <= 62:  # pack the pattern into one integer (fast unique)
                key = sym[:, cols].astype(np.int64) @ (q ** np.arange(cols.size, dtype=np.int64))
                _, inv = np.unique(key, return_inverse=True)
            else:
                _, inv = np.unique(sym[:, cols], axis=0, return_inverse=True)
            H[name] = _entropy(np.bincount(inv.ravel(), weights=probs))
    else:
        if len(values) > 2:
            raise ParameterError(
                f"exact_cmi: bit-flip noise needs binary values, got {len(values)} distinct values"
            )
        n_bits = flat.shape[1]
        if n_bits > MAX_NOISY_BITS:
            raise ParameterError(
                f"exact_cmi: noisy enumeration holds 2^{n_bits} probabilities; at most "
                f"{MAX_NOISY_BITS} bits are allowed"
            )
        # big-endian index, so that reshape((2,) * n) puts value j on axis j
        index = sym @ (1 << np.arange(n_bits - 1, -1, -1, dtype=np.int64))
        table = np.bincount(index, weights=probs, minlength=1 << n_bits)
        noisy = apply_bitflip_noise(table, p).reshape((2,) * n_bits)
        details["min_probability"] = float(noisy.min())  # rounding check (>= -1e-16)
        noisy = np.clip(noisy, 0.0, None)  # removes rounding residue of order 1e-17 only
        for name, parts in regions.items():
            keep = np.logical_or.reduce([site_of[i] for i in parts])
            axes = tuple(int(j) for j in np.flatnonzero(~keep))
            H[name] = _entropy(noisy.sum(axis=axes).ravel())
    value = H["AB"] + H["BC"] - H["B"] - H["ABC"]
    details["entropies"] = H
    details["H_A_given_B"] = H["AB"] - H["B"]
    details["H_A_given_BC"] = H["ABC"] - H["BC"]
    return CMIEstimate(
        value=float(value), stderr=0.0, method="exact", radius=int(radius), details=details
    )


# ---------------------------------------------------------------------------------------------
# the noisy chain


def _chain(radius: int, *, K, p, far=None, R_max=None) -> CMIEstimate:
    from ..exact import noisy_chain as nc

    R_max = nc.R_MAX_DEFAULT if R_max is None else R_max
    value = nc.chain_cmi(K, p, radius, far=far, R_max=R_max)
    h_b = nc.chain_shell_entropy(K, p, radius, R_max=R_max)
    details = {
        "estimator": "exact transfer matrices (hidden Markov chain)",
        "K": float(K),
        "p": float(p),
        "far": far,
        "H_A_given_B": h_b,
        "H_A_given_BC": h_b - value,
        "markov_length": nc.chain_markov_length(K, p),
    }
    if far is None:
        lim = nc.chain_limits(K, p, R_max=R_max)
        stderr = lim["H_y_inf_error"]
        details["far_region"] = "all |i| > r (infinite chain)"
        details["stderr_meaning"] = f"error estimate of the R -> inf extrapolation (R_max={R_max})"
    else:
        stderr = 0.0
        details["far_region"] = f"r < |i| <= r + far = {radius + far}"
    return CMIEstimate(
        value=float(value),
        stderr=float(stderr),
        method="chain",
        radius=int(radius),
        details=details,
    )


# ---------------------------------------------------------------------------------------------
# the front door


def _check_kwargs(method: str, fn, kwargs: dict, skip: tuple[str, ...]) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n in params if n not in skip]
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise ParameterError(
            f"estimate_cmi: method={method!r} does not take {bad}; its options are {allowed}"
        )
    missing = [
        n
        for n, prm in params.items()
        if n not in skip
        and prm.default is inspect.Parameter.empty
        and n not in kwargs
        and prm.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if missing:
        raise ParameterError(f"estimate_cmi: method={method!r} needs {missing}")


def _lazy(method: str, module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ParameterError(
            f"estimate_cmi: method={method!r} is not available in this installation "
            f"({module} is missing)"
        ) from None
    try:
        return getattr(mod, name)
    except AttributeError:
        raise ParameterError(
            f"estimate_cmi: method={method!r} is not available ({module}.{name} is missing)"
        ) from None


def estimate_cmi(samples, *, radius: int, method: str, **kwargs) -> CMIEstimate:
    """Estimate ``I(A:C|B)`` in nats for shell radius ``radius`` with one of :data:`METHODS`.

    ``samples`` are discrete lattice data for ``plugin`` and ``neural``; they must be ``None``
    for the exact methods ``chain`` (options ``K``, ``p``, ``far``, ``R_max``) and ``exact``
    (options ``states``, ``probs``, ``p``, ``center``, ``block``, ``periodic``, ``channel_axis``).
    ``plugin`` takes the options of :func:`latticediff.info.plugin.plugin_cmi`; ``syndrome`` and
    ``neural`` forward theirs to :func:`latticediff.info.syndrome.syndrome_cmi` and
    :func:`latticediff.info.neural.neural_cmi`. Unknown methods, unknown or missing options,
    ``radius < 0`` and samples given to a method that cannot use them raise
    :class:`~latticediff.errors.ParameterError`.

    >>> e = estimate_cmi(None, radius=2, method="chain", K=1.0, p=0.05)
    >>> round(e.value, 7), e.method
    (0.0012094, 'chain')
    >>> estimate_cmi(None, radius=1, method="magic")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.ParameterError: estimate_cmi: unknown method 'magic'; known methods: ...
    """
    if method not in METHODS:
        raise ParameterError(
            f"estimate_cmi: unknown method {method!r}; known methods: {', '.join(METHODS)}"
        )
    if not _is_int(radius) or radius < 0:
        raise ParameterError(f"estimate_cmi: radius must be an integer >= 0, got {radius!r}")
    radius = int(radius)
    if method in ("chain", "exact") and samples is not None:
        raise ParameterError(
            f"estimate_cmi: method={method!r} is exact and takes no samples; pass samples=None "
            f"(got an object of type {type(samples).__name__})"
        )
    if method == "chain":
        _check_kwargs(method, _chain, kwargs, skip=("radius",))
        return _chain(radius, **kwargs)
    if method == "exact":
        _check_kwargs(method, exact_cmi, kwargs, skip=("radius",))
        return exact_cmi(radius=radius, **kwargs)
    if method == "plugin":
        from .plugin import plugin_cmi

        if samples is None:
            raise ParameterError("estimate_cmi: method='plugin' needs samples, got None")
        _check_kwargs(method, plugin_cmi, kwargs, skip=("samples", "radius"))
        return plugin_cmi(samples, radius=radius, **kwargs)
    if method == "syndrome":
        fn = _lazy(method, "latticediff.info.syndrome", "syndrome_cmi")
        params = inspect.signature(fn).parameters
        if "samples" in params:
            return fn(samples=samples, radius=radius, **kwargs)
        if samples is not None:
            raise ParameterError(
                "estimate_cmi: method='syndrome' draws its own noise for the uniform loop gas; "
                "pass samples=None with its options (e.g. L, p, n_samples, seed)"
            )
        _check_kwargs(method, fn, kwargs, skip=("radius",))
        return fn(radius=radius, **kwargs)
    if method == "immse":
        fn = _lazy(method, "latticediff.info.immse", "immse_cmi")
        if samples is None:
            raise ParameterError("estimate_cmi: method='immse' needs clean samples, got None")
        return fn(samples, radius=radius, **kwargs)
    if method == "neural_continuous":
        fn = _lazy(method, "latticediff.info.neural_continuous", "neural_cmi_continuous")
        if samples is None:
            raise ParameterError("estimate_cmi: method='neural_continuous' needs samples, got None")
        return fn(samples, radius=radius, **kwargs)
    # neural
    fn = _lazy(method, "latticediff.info.neural", "neural_cmi")
    if samples is None:
        raise ParameterError("estimate_cmi: method='neural' needs samples, got None")
    return fn(samples, radius=radius, **kwargs)
