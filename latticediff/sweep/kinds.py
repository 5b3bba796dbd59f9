"""Task kinds: named functions ``fn(params, seed) -> dict of JSON values`` with a parameter schema.

A kind is registered once per process with :func:`register_kind`; tasks name it, and plans are
validated against its schema before any work starts. Kind functions must be deterministic given
``(params, seed)`` and must not depend on global state, so results do not depend on where or in
which order tasks ran. They run in worker processes: define them at module level in an importable
module (or in the script under its ``if __name__ == "__main__":`` guard's module) so they pickle.

Built-in kinds
--------------
``exact_ising``  T, L=None -> exact energy and specific heat per site (Onsager; Kaufman for
                 finite L), from :mod:`latticediff.exact`.
``mc``           model (``model.to_dict()``), n_samples, burn_in, thin, method, n_chains ->
                 mean and standard error of every observable, tau_int, sampler settings and any
                 sampling warnings, from :func:`latticediff.run_mc` (one thread per task).
``chain_cmi``    K, p, r, far=None -> ``{"cmi": I(A:C|B)}`` in nats, exact, for the bit-flipped
                 1D Ising chain, from :func:`latticediff.exact.noisy_chain.chain_cmi`.
``sleep``        seconds, value, fail, log -> ``{"value", "draw"}``: a diagnostic kind for testing
                 executors (sleeps, draws one uniform number from its seed, can fail on purpose
                 and can append a line to a log file each time it runs).

>>> from latticediff.sweep import register_kind, Param, Task
>>> def square(params, seed):
...     return {"y": params["x"] ** 2}
>>> register_kind("square_doc", square, {"x": Param("float", lo=0)})
>>> Task("square_doc", {"x": 3}).params["x"]
3.0
>>> Task("square_doc", {"x": -1})
Traceback (most recent call last):
...
latticediff.sweep.task.PlanError: task (kind 'square_doc', id ...): parameter 'x' must be >= 0...
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..errors import ParameterError
from .task import PlanError

__all__ = [
    "Param",
    "Kind",
    "register_kind",
    "unregister_kind",
    "get_kind",
    "known_kinds",
    "REQUIRED",
]


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()
_TYPES = ("int", "float", "bool", "str", "dict", "list", "any")
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "dict": "a table",
    "list": "a list",
}


@dataclass(frozen=True)
class Param:
    """One parameter of a kind's schema.

    ``type`` is one of ``int``, ``float`` (ints are converted), ``bool``, ``str``, ``dict``,
    ``list`` or ``any``; ``default`` (``REQUIRED`` if none; ``None`` makes the parameter
    optional, accepting null); ``lo``/``hi`` bound numbers (closed unless ``lo_open``/``hi_open``);
    ``choices`` lists allowed values; ``normalize`` maps a valid value to its canonical form and
    raises :class:`~latticediff.errors.ParameterError` for invalid ones (e.g. a model table).
    """

    type: str
    default: object = REQUIRED
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | None = None
    normalize: Callable | None = None
    doc: str = ""

    def __post_init__(self):
        if self.type not in _TYPES:
            raise ParameterError(
                f"Param: type must be one of {', '.join(_TYPES)}, got {self.type!r}"
            )

    def describe(self) -> str:
        """Short human description, e.g. ``float in (0, 0.5]``."""
        s = self.type
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            s += f" in {left}{self.lo}, {self.hi}{right}"
        elif self.lo is not None:
            s += f" {'>' if self.lo_open else '>='} {self.lo}"
        elif self.hi is not None:
            s += f" {'<' if self.hi_open else '<='} {self.hi}"
        if self.choices:
            s += f" one of {list(self.choices)}"
        if self.default is not REQUIRED:
            s += f", default {self.default!r}"
        return s

    def check(self, name: str, value):
        """Validated, normalised value (raises PlanError naming the parameter)."""

        def bad(msg):
            raise PlanError(f"parameter {name!r} {msg}", field=name)

        if value is None:
            if self.default is None:
                return None
            bad(f"must be {self.describe()}, got null")
        t = self.type
        got = f"got {value!r} ({type(value).__name__})"
        if t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                bad(f"must be {_TYPE_WORDS[t]}, {got}")
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                bad(f"must be {_TYPE_WORDS[t]}, {got}")
            value = float(value)
            if not math.isfinite(value):
                bad(f"must be finite, got {value!r}")
        elif t == "bool" and not isinstance(value, bool):
            bad(f"must be {_TYPE_WORDS[t]}, {got}")
        elif t == "str" and not isinstance(value, str):
            bad(f"must be {_TYPE_WORDS[t]}, {got}")
        elif t == "dict" and not isinstance(value, dict):
            bad(f"must be {_TYPE_WORDS[t]}, {got}")
        elif t == "list" and not isinstance(value, list):
            bad(f"must be {_TYPE_WORDS[t]}, {got}")
        if t in ("int", "float"):
            lo, hi = self.lo, self.hi
            if lo is not None and (value <= lo if self.lo_open else value < lo):
                bad(f"must be {'>' if self.lo_open else '>='} {lo}, got {value!r}")
            if hi is not None and (value >= hi if self.hi_open else value > hi):
                bad(f"must be {'<' if self.hi_open else '<='} {hi}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            bad(f"must be one of {list(self.choices)}, got {value!r}")
        if self.normalize is not None:
            try:
                value = self.normalize(value)
            except ParameterError as exc:
                bad(f"is invalid: {exc}")
        return value


@dataclass(frozen=True)
class Kind:
    """A registered task kind: its function, schema, and an optional warm-up hook.

    ``warmup(list_of_params)`` runs once in the coordinator before work fans out to worker
    processes (e.g. to compile Numba kernels into the on-disk cache so workers load rather than
    compile them all at once); its failures are logged and ignored.
    """

    name: str
    fn: Callable
    schema: Mapping[str, Param]
    doc: str = ""
    warmup: Callable | None = field(default=None, compare=False)

    def validate(self, params: Mapping) -> dict:
        """Params with defaults filled in and values normalised; PlanError names the field."""
        unknown = [k for k in params if k not in self.schema]
        if unknown:
            known = ", ".join(self.schema) or "(none)"
            raise PlanError(
                f"unknown parameter {unknown[0]!r} for kind {self.name!r}; known: {known}",
                field=unknown[0],
            )
        out = {}
        for name, p in self.schema.items():
            if name in params:
                out[name] = p.check(name, params[name])
            elif p.default is REQUIRED:
                raise PlanError(f"missing parameter {name!r} ({p.describe()})", field=name)
            else:
                out[name] = p.default
        return out


_KINDS: dict[str, Kind] = {}


def _as_param(name: str, spec) -> Param:
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, str):
        return Param(spec)
    if isinstance(spec, Mapping):
        d = dict(spec)
        if "range" in d:
            d["lo"], d["hi"] = d.pop("range")
        try:
            return Param(**d)
        except TypeError as exc:
            raise ParameterError(f"register_kind: bad schema entry {name!r}: {exc}") from None
    raise ParameterError(
        f"register_kind: schema entry {name!r} must be a Param, a type name or a dict, got {spec!r}"
    )


def register_kind(
    name: str,
    fn: Callable,
    schema: Mapping,
    *,
    doc: str = "",
    warmup: Callable | None = None,
    replace: bool = False,
) -> None:
    """Register a task kind ``name`` computed by ``fn(params: dict, seed: int) -> dict``.

    ``schema`` maps parameter names to :class:`Param` objects, type names (``"float"``) or dicts
    such as ``{"type": "float", "range": (0, None), "default": 1.0}``. The name ``seed`` is
    reserved (the seed is a task field). Registering a different function under a taken name
    raises unless ``replace=True``; re-registering the same function (a module imported twice,
    e.g. by a worker process) is allowed.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ParameterError(f"register_kind: name must be an identifier string, got {name!r}")
    if not callable(fn):
        raise ParameterError(f"register_kind: fn must be callable, got {fn!r}")
    if not isinstance(schema, Mapping):
        raise ParameterError(f"register_kind: schema must be a mapping, got {schema!r}")
    if "seed" in schema:
        raise ParameterError("register_kind: 'seed' is reserved (it is a task field, not a param)")
    params = {k: _as_param(k, v) for k, v in schema.items()}
    old = _KINDS.get(name)
    if old is not None and not replace and _qualname(old.fn) != _qualname(fn):
        raise ParameterError(
            f"register_kind: kind {name!r} is already registered to {_qualname(old.fn)}; "
            "pass replace=True to override"
        )
    _KINDS[name] = Kind(name, fn, params, doc or (fn.__doc__ or "").strip(), warmup)


def unregister_kind(name: str) -> None:
    """Remove a kind (for tests)."""
    _KINDS.pop(name, None)


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def get_kind(name: str) -> Kind:
    """The registered kind ``name``; PlanError lists the known ones otherwise."""
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise PlanError(
            f"unknown kind {name!r}; known kinds: {', '.join(known_kinds())}", field="kind"
        ) from None


def known_kinds() -> list[str]:
    """Names of the registered kinds, sorted.

    >>> {"exact_ising", "mc", "chain_cmi", "sleep"} <= set(known_kinds())
    True
    """
    return sorted(_KINDS)


# ---------------------------------------------------------------------------------------------
# Built-in kinds. Heavy modules are imported inside the functions, so registering costs nothing.
# ---------------------------------------------------------------------------------------------


def _exact_ising(params: dict, seed: int) -> dict:
    """Exact energy and specific heat per site of the 2D Ising model (infinite or finite L)."""
    from .. import exact

    T, L = params["T"], params["L"]
    return {
        "energy": float(exact.ising_energy(T, L=L)),
        "specific_heat": float(exact.ising_specific_heat(T, L=L)),
    }


def _model_dict(d) -> dict:
    from ..systems import model_from_dict

    return model_from_dict(d).to_dict()


def _mc(params: dict, seed: int) -> dict:
    """Monte Carlo estimates: mean and standard error of each observable, tau_int, settings."""
    import warnings

    from ..mc.front import run_mc
    from ..systems import model_from_dict

    model = model_from_dict(params["model"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_mc(
            model,
            n_samples=params["n_samples"],
            seed=seed,
            burn_in=params["burn_in"],
            thin=params["thin"],
            method=params["method"],
            n_chains=params["n_chains"],
            n_threads=1,  # one level of parallelism: the sweep already runs tasks in parallel
        )
    out: dict = {}
    for name in res.observables:
        mean, err = res.estimate(name)
        out[name] = mean
        out[f"{name}_err"] = err
    for name, tau in res.tau_int.items():
        out[f"tau_{name}"] = float(tau.tau)
        out[f"tau_{name}_reliable"] = bool(tau.reliable)
    out.update(method=res.method, burn_in=res.burn_in, thin=res.thin, n_chains=res.n_chains)
    # Flag doubtful chains instead of dropping them (DESIGN.md §9.3).
    out["warnings"] = sorted({str(w.message) for w in caught})
    return out


def _mc_warmup(params_list) -> None:
    """Run each distinct (model, method) for one sweep in the coordinator: this compiles the
    kernels "auto" resolves to into Numba's on-disk cache, which the workers then load."""
    from ..mc.front import run_mc
    from ..systems import model_from_dict

    seen = set()
    t0 = time.perf_counter()
    for p in params_list:
        key = (json.dumps(p["model"], sort_keys=True), p["method"])
        if key in seen:
            continue
        seen.add(key)
        run_mc(
            model_from_dict(p["model"]), n_samples=2, seed=0, burn_in=2, thin=1,
            method=p["method"], n_chains=1, n_threads=1, warn=False,
        )  # fmt: skip
        if time.perf_counter() - t0 > 60:  # compiled by now; the rest only costs time
            break


def _chain_cmi(params: dict, seed: int) -> dict:
    """Exact I(A:C|B) in nats of the 1D Ising chain under bit flips with probability p."""
    from ..exact.noisy_chain import chain_cmi

    return {"cmi": float(chain_cmi(params["K"], params["p"], params["r"], far=params["far"]))}


def _sleep(params: dict, seed: int) -> dict:
    """Diagnostic: sleep, then return ``value`` and one uniform draw from the task's seed."""
    import numpy as np

    if params["log"]:
        # One line per execution, appended atomically (O_APPEND), so tests can count runs.
        fd = os.open(params["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{params['value']!r} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
    time.sleep(params["seconds"])
    if params["fail"]:
        raise RuntimeError(f"sleep task asked to fail (value={params['value']!r})")
    return {"value": params["value"], "draw": float(np.random.default_rng(seed).random())}


register_kind(
    "exact_ising",
    _exact_ising,
    {
        "T": Param("float", lo=0, lo_open=True, doc="temperature"),
        "L": Param("int", default=None, lo=2, doc="periodic L x L; null for the infinite lattice"),
    },
)
register_kind(
    "mc",
    _mc,
    {
        "model": Param("dict", normalize=_model_dict, doc="model.to_dict(), e.g. {model='ising'}"),
        "n_samples": Param("int", lo=1),
        "burn_in": Param("int", default=None, lo=0),
        "thin": Param("int", default=None, lo=1),
        "method": Param("str", default="auto"),
        "n_chains": Param("int", default=None, lo=1),
    },
    warmup=_mc_warmup,
)  # fmt: skip
register_kind(
    "chain_cmi",
    _chain_cmi,
    {
        "K": Param("float", doc="coupling J/T"),
        "p": Param("float", lo=0.0, hi=0.5, doc="bit-flip probability"),
        "r": Param("int", lo=0, doc="buffer radius"),
        "far": Param("int", default=None, lo=0, doc="width of C (null: the whole far chain)"),
    },
)
register_kind(
    "sleep",
    _sleep,
    {
        "seconds": Param("float", default=0.0, lo=0.0, hi=3600.0),
        "value": Param("float", default=0.0),
        "fail": Param("bool", default=False),
        "log": Param("str", default="", doc="file to append one line to per execution"),
    },
)
