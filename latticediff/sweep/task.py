"""Tasks: frozen, validated descriptions of one unit of sweep work, identified by a content hash.

A :class:`Task` is ``(kind, params, upstream, seed)``. Its canonical JSON form (sorted keys, no
whitespace, floats by ``repr``, after the kind's schema has filled in defaults and converted
types) is hashed with SHA-256; the hex digest is the task's ``id``. Two tasks that mean the same
thing (``T=2`` and ``T=2.0`` for a float parameter, defaults written out or not) have the same id,
so a results file can tell which tasks are already done.

The random seed a task's function receives derives from that id unless the task fixes one, so a
result depends only on the task, never on the executor, the worker or the order of execution.

>>> from latticediff.sweep import Task
>>> t = Task("sleep", {"value": 2})
>>> t.params["value"], t.params["seconds"]          # int -> float, default filled in
(2.0, 0.0)
>>> t.id == Task("sleep", {"value": 2.0, "seconds": 0}).id
True
>>> len(t.id), t.short_id == t.id[:16], 0 <= t.effective_seed < 2**63
(64, True, True)
>>> Task("sleep", {"value": "big"})
Traceback (most recent call last):
...
latticediff.sweep.task.PlanError: task (kind 'sleep', id ...): parameter 'value' must be a number...
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import ParameterError

__all__ = ["Task", "PlanError", "canonical_json", "freeze", "thaw"]


class PlanError(ParameterError):
    """A sweep plan or task is invalid; the message names the task (index and id) and the field.

    Attributes ``index`` (position in the plan, or None), ``task_id`` (hex id of the task as
    written, or None when it cannot be computed) and ``field`` (the offending parameter, or None).
    """

    def __init__(self, message: str, *, index=None, task_id=None, field=None):
        super().__init__(message)
        self.index = index
        self.task_id = task_id
        self.field = field

    def __reduce__(self):  # keep the attributes when pickled across processes
        return (_rebuild_plan_error, (str(self), self.index, self.task_id, self.field))


def _rebuild_plan_error(message, index, task_id, field):
    return PlanError(message, index=index, task_id=task_id, field=field)


# --------------------------------------------------------------------------------------------
# JSON values: plain (dict/list) for hashing and writing, frozen (MappingProxy/tuple) inside Task
# --------------------------------------------------------------------------------------------


def _plain(value, where: str):
    """Convert to plain JSON types (dict with str keys, list, str, int, float, bool, None).

    NumPy scalars become Python numbers; tuples become lists; non-finite floats are rejected
    (they have no JSON spelling and would make ids ambiguous).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            raise ParameterError(f"{where} must be finite, got {v!r}")
        return v
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"{where}: keys must be strings, got {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, bytes | bytearray):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ParameterError(
        f"{where} must be a JSON value (number, string, bool, null, list, table), "
        f"got {value!r} ({type(value).__name__})"
    )


def freeze(value):
    """Read-only copy of a plain JSON value: dicts -> MappingProxyType, lists -> tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """Plain mutable copy of a (possibly frozen) JSON value: mappings -> dict, tuples -> list."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def canonical_json(value) -> str:
    """Canonical JSON text: sorted keys, no whitespace, floats by ``repr``, ASCII only.

    >>> canonical_json({"b": 1.0, "a": [2, "x"]})
    '{"a":[2,"x"],"b":1.0}'
    """
    return json.dumps(
        thaw(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _digest(kind, params, upstream, seed) -> str:
    form = {"kind": kind, "params": params, "upstream": list(upstream), "seed": seed}
    return hashlib.sha256(canonical_json(form).encode("ascii")).hexdigest()


def _raw_id(kind, params, upstream, seed) -> str | None:
    """Id of a task as written (before validation), for error messages; None if not hashable."""
    try:
        return _digest(kind, _plain(params, "params"), [str(u) for u in upstream], seed)
    except Exception:
        return None


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Task:
    """One unit of sweep work: ``kind`` applied to ``params``.

    Parameters
    ----------
    kind : name of a registered task kind (see :func:`latticediff.sweep.known_kinds`).
    params : JSON-able mapping, validated against the kind's schema on construction; the stored
        copy is read-only, has defaults filled in and types normalised (int -> float for float
        parameters).
    upstream : ids of artifacts the task reads (data sets, trained models); part of the identity,
        so a task re-runs when its inputs change.
    seed : ``None`` (default) derives the seed from the task id; an integer fixes it (and is part
        of the identity). Either way the seed is a property of the task, not of where it ran.

    Equality and hashing go by ``id``.
    """

    kind: str
    params: Mapping = field(default_factory=dict)
    upstream: tuple = ()
    seed: int | None = None
    id: str = field(init=False)

    def __post_init__(self):
        kind, params, upstream, seed = self.kind, self.params, self.upstream, self.seed
        if isinstance(upstream, str):  # a lone id, not a sequence of characters
            upstream = (upstream,)
        raw_id = _raw_id(kind, params, upstream or (), seed)

        def fail(msg, fld=None):
            label = f"kind {kind!r}, id {raw_id[:16]}" if raw_id else f"kind {kind!r}"
            raise PlanError(f"task ({label}): {msg}", task_id=raw_id, field=fld)

        if not isinstance(kind, str) or not kind:
            fail(f"kind must be a non-empty string, got {kind!r}", "kind")
        if not isinstance(params, Mapping):
            fail(f"params must be a mapping, got {type(params).__name__}", "params")
        if upstream is None:
            upstream = ()
        if not isinstance(upstream, Sequence) or not all(
            isinstance(u, str) and u for u in upstream
        ):
            fail(f"upstream must be a list of artifact ids (strings), got {upstream!r}", "upstream")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            fail(f"seed must be a non-negative integer or None, got {seed!r}", "seed")
        try:
            plain = _plain(params, "params")
        except ParameterError as exc:
            fail(str(exc).removeprefix("params."), None)
        from .kinds import get_kind  # late: kinds imports this module

        try:
            spec = get_kind(kind)
            norm = spec.validate(plain)
        except PlanError as exc:
            fail(str(exc), exc.field)
        seed = None if seed is None else int(seed)
        object.__setattr__(self, "params", freeze(norm))
        object.__setattr__(self, "upstream", tuple(upstream))
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "id", _digest(kind, norm, upstream, seed))

    def __reduce__(self):
        # Read-only mappings do not pickle; ship plain data and restore without re-validating
        # (the receiving process may not have the kind registered, e.g. a results reader).
        return (_restore_task, (self.kind, thaw(self.params), self.upstream, self.seed, self.id))

    # identity ---------------------------------------------------------------------------------
    def __eq__(self, other):
        return isinstance(other, Task) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        p = ", ".join(f"{k}={v!r}" for k, v in thaw(self.params).items())
        extra = (f", upstream={list(self.upstream)}" if self.upstream else "") + (
            f", seed={self.seed}" if self.seed is not None else ""
        )
        return f"Task({self.kind!r}, {{{p}}}{extra}) #{self.short_id}"

    @property
    def short_id(self) -> str:
        """First 16 hex digits of the id (64 bits), for messages and logs."""
        return self.id[:16]

    @property
    def effective_seed(self) -> int:
        """The seed the task function receives: ``seed`` if fixed, else 63 bits of the id."""
        if self.seed is not None:
            return self.seed
        return int(self.id[:16], 16) >> 1

    def canonical(self) -> str:
        """The canonical JSON form whose SHA-256 is ``id``."""
        return canonical_json(
            {
                "kind": self.kind,
                "params": self.params,
                "upstream": list(self.upstream),
                "seed": self.seed,
            }
        )

    def to_dict(self) -> dict:
        """Plain dict ``{"kind", "params", "upstream", "seed"}`` (seed None when derived)."""
        return {
            "kind": self.kind,
            "params": thaw(self.params),
            "upstream": list(self.upstream),
            "seed": self.seed,
        }

    def describe(self, max_len: int = 120) -> str:
        """One line ``kind k=v k=v`` for logs: parameters that differ from their defaults
        (nested tables as compact JSON)."""
        from .kinds import get_kind

        schema = get_kind(self.kind).schema
        parts = []
        for k, v in thaw(self.params).items():
            if k in schema and schema[k].default == v and type(schema[k].default) is type(v):
                continue
            if isinstance(v, dict | list):
                v = json.dumps(v, separators=(",", ":"))
            parts.append(f"{k}={v}")
        s = " ".join([self.kind, *parts])
        return s if len(s) <= max_len else s[: max_len - 3] + "..."

    @classmethod
    def from_row(cls, row: Mapping) -> Task:
        """Rebuild the task of a results row and check that its id matches the row's id.

        Rows store the effective seed; a derived seed is recognised by recomputing the id.
        """
        base = dict(kind=row["kind"], params=row["params"], upstream=tuple(row.get("upstream", ())))
        t = cls(**base)
        if t.id != row.get("id"):
            t = cls(**base, seed=row.get("seed"))
        if t.id != row.get("id"):
            raise PlanError(
                f"results row id {str(row.get('id'))[:16]} does not match its task "
                f"(recomputed {t.short_id}): the row was edited or written by another version",
                task_id=row.get("id"),
            )
        return t


def _restore_task(kind, params, upstream, seed, task_id) -> Task:
    t = object.__new__(Task)
    object.__setattr__(t, "kind", kind)
    object.__setattr__(t, "params", freeze(params))
    object.__setattr__(t, "upstream", tuple(upstream))
    object.__setattr__(t, "seed", seed)
    object.__setattr__(t, "id", task_id)
    return t
