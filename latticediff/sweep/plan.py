"""Sweep plans: TOML files or Python lists of tasks, expanded and validated before any work.

TOML shape (read with :mod:`tomllib`)::

    [[sweep]]
    kind = "exact_ising"
    L = 16                      # fixed parameters: any key other than the reserved ones
    [sweep.grid]                # cartesian product, first key slowest
    T = [2.0, 2.269, 2.5]
    [sweep.zip]                 # lists of equal length, advanced together
    ...

    [[sweep]]                   # more blocks; tasks of all blocks form one plan, in order
    kind = "mc"
    n_samples = 1000
    model = {model = "ising", L = 8, T = 2.0}
    [sweep.grid]
    model.T = [2.0, 3.0]        # dotted keys set entries of table parameters
    seed = [1, 2]               # 'seed' fixes the task seed (replicas); default: from the id

Reserved keys of a ``[[sweep]]`` block: ``kind``, ``grid``, ``zip``, ``seed``, ``upstream``.
A key may appear only once across fixed values, grid and zip; a grid or zip entry must be a
non-empty list. The whole plan is expanded and every task validated against its kind's schema
before anything runs; the first problem raises :class:`~latticediff.sweep.PlanError` naming the
task (its index in the plan and its id) and the field. Two tasks with the same id are an error.

>>> from latticediff.sweep import grid, zip_, expand
>>> grid(a=[1, 2], b=["x", "y"])
[{'a': 1, 'b': 'x'}, {'a': 1, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 2, 'b': 'y'}]
>>> zip_(a=[1, 2], b=["x", "y"])
[{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]
>>> [t.params["value"] for t in expand("sleep", grid=grid(value=[1, 2]))]
[1.0, 2.0]
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .task import PlanError, Task

__all__ = ["grid", "zip_", "expand", "load_plan", "plan_from_dict", "check_plan"]

_RESERVED = {"kind", "grid", "zip", "seed", "upstream"}


def grid(**lists) -> list[dict]:
    """Cartesian product of the keyword lists (first key varies slowest)."""
    for k, v in lists.items():
        _check_list(k, v, "grid")
    keys = list(lists)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists.values())]


def zip_(**lists) -> list[dict]:
    """Entries of the keyword lists taken together; all lists must have the same length."""
    for k, v in lists.items():
        _check_list(k, v, "zip")
    lengths = {k: len(v) for k, v in lists.items()}
    if len(set(lengths.values())) > 1:
        raise PlanError(f"zip: lists must have equal lengths, got {lengths}", field="zip")
    keys = list(lists)
    return [dict(zip(keys, combo, strict=True)) for combo in zip(*lists.values(), strict=True)]


def _check_list(key, value, what):
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) == 0:
        raise PlanError(f"{what} entry {key!r} must be a non-empty list, got {value!r}", field=key)


def _set_path(d: dict, path: str, value, where: str):
    """Set ``d[a][b] = value`` for ``path = "a.b"``, copying nested tables on the way."""
    parts = path.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, Mapping):
            raise PlanError(
                f"{where}: {path!r} addresses a key inside {p!r}, which is not a table",
                field=path,
            )
        cur[p] = nxt = dict(nxt)
        cur = nxt
    cur[parts[-1]] = value


def expand(
    kind: str,
    *,
    params: Mapping | None = None,
    grid: Sequence[Mapping] | None = None,
    zip: Sequence[Mapping] | None = None,  # noqa: A002 - mirrors the TOML key
    seed: int | None = None,
    upstream: Sequence[str] = (),
) -> list[Task]:
    """Tasks of one kind: fixed ``params`` combined with every (grid point x zip point).

    ``grid``/``zip`` are lists of dicts as made by :func:`grid` and :func:`zip_` (or any list of
    parameter dicts). Keys may be dotted (``"model.T"``) to set entries of table parameters; the
    key ``seed`` sets the task seed. A key given twice raises.

    >>> [t.params["seconds"] for t in expand("sleep", params={"value": 1.0},
    ...                                       zip=zip_(seconds=[0.0, 0.5]))]
    [0.0, 0.5]
    """
    return _expand(kind, params or {}, list(grid or [{}]), list(zip or [{}]), seed, upstream)


def _expand(kind, fixed, grid_points, zip_points, seed, upstream, *, where="plan", offset=0):
    fixed = dict(fixed)
    tasks = []
    idx = offset
    for gp in grid_points:
        for zp in zip_points:
            dup = set(gp) & set(zp) or (set(gp) | set(zp)) & set(fixed)
            if seed is not None and "seed" in (set(gp) | set(zp)):
                dup = {"seed"}
            if dup:
                k = sorted(dup)[0]
                raise PlanError(
                    f"{where}: task[{idx}] (kind {kind!r}): parameter {k!r} is given more "
                    "than once (fixed, grid, zip)",
                    index=idx,
                    field=k,
                )
            params = {k: v for k, v in fixed.items()}
            task_seed = seed
            for k, v in (*gp.items(), *zp.items()):
                if k == "seed":
                    task_seed = v
                else:
                    _set_path(params, k, v, where)
            try:
                tasks.append(Task(kind, params, tuple(upstream), task_seed))
            except PlanError as exc:
                raise _with_index(exc, where, idx) from None
            idx += 1
    return tasks


def _with_index(exc: PlanError, where: str, idx: int) -> PlanError:
    msg = str(exc)
    msg = msg[len("task ") :] if msg.startswith("task (") else msg
    return PlanError(f"{where}: task[{idx}] {msg}", index=idx, task_id=exc.task_id, field=exc.field)


def _flatten_lists(table: Mapping, where: str, prefix: str = "") -> dict:
    """``{"model": {"T": [..]}}`` -> ``{"model.T": [..]}``: nested TOML tables as dotted keys."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten_lists(v, where, key + "."))
        else:
            _check_list(key, v, where)
            out[key] = v
    return out


def plan_from_dict(data: Mapping, *, source: str = "plan") -> list[Task]:
    """Expand and validate a parsed TOML plan (``{"sweep": [blocks...]}``)."""
    if not isinstance(data, Mapping):
        raise PlanError(f"{source}: a plan must be a table with [[sweep]] blocks")
    extra = set(data) - {"sweep", "name", "description"}
    if extra:
        raise PlanError(
            f"{source}: unknown top-level key {sorted(extra)[0]!r}; "
            "expected [[sweep]] blocks (and optional name, description)",
            field=sorted(extra)[0],
        )
    blocks = data.get("sweep")
    if not blocks:
        raise PlanError(f"{source}: no [[sweep]] blocks", field="sweep")
    if isinstance(blocks, Mapping):
        blocks = [blocks]
    tasks: list[Task] = []
    for b, block in enumerate(blocks):
        where = f"{source}: sweep block {b}"
        if not isinstance(block, Mapping):
            raise PlanError(f"{where} must be a table, got {block!r}")
        if "kind" not in block:
            raise PlanError(
                f"{where} (task[{len(tasks)}] onwards): missing 'kind'",
                index=len(tasks),
                field="kind",
            )
        g = _flatten_lists(block.get("grid", {}), f"{where} [sweep.grid]")
        z = _flatten_lists(block.get("zip", {}), f"{where} [sweep.zip]")
        try:
            gp = grid(**g) if g else [{}]
            zp = zip_(**z) if z else [{}]
        except PlanError as exc:
            raise PlanError(f"{where}: {exc}", index=len(tasks), field=exc.field) from None
        fixed = {k: v for k, v in block.items() if k not in _RESERVED}
        upstream = block.get("upstream", ())
        if isinstance(upstream, str):
            upstream = (upstream,)
        tasks += _expand(
            block["kind"], fixed, gp, zp, block.get("seed"), upstream,
            where=source, offset=len(tasks),
        )  # fmt: skip
    return check_plan(tasks, source=source)


def load_plan(path) -> list[Task]:
    """Read a TOML plan file and return its validated tasks, in plan order.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "plan.toml"
    >>> _ = p.write_text('[[sweep]]\\nkind = "sleep"\\n[sweep.grid]\\nvalue = [1, 2, 3]\\n')
    >>> len(load_plan(p))
    3
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"plan file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    return plan_from_dict(data, source=str(path))


def check_plan(tasks: Iterable, *, source: str = "plan") -> list[Task]:
    """Check a list of tasks: every item a :class:`Task`, no two with the same id."""
    tasks = list(tasks)
    seen: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if not isinstance(t, Task):
            raise PlanError(f"{source}: task[{i}] is not a Task, got {t!r}", index=i)
        if t.id in seen:
            raise PlanError(
                f"{source}: task[{i}] (id {t.short_id}) duplicates task[{seen[t.id]}]: "
                f"{t.describe()}",
                index=i,
                task_id=t.id,
            )
        seen[t.id] = i
    return tasks
