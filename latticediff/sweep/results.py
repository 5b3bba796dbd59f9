"""Sweep results: an append-only JSON Lines file, one row per finished task, keyed by task id.

Each row is one line::

    {"id": "<sha256 hex>", "kind": "...", "params": {...}, "upstream": [...], "seed": <int>,
     "result": {...}, "version": "<latticediff version>",
     "wall_s": <float>, "worker": "<host>:<pid>", "finished": "<UTC ISO time>"}

The first seven fields are the *deterministic part*: the same plan gives the same bytes there
whatever executor, worker count or order ran it (:func:`deterministic_part`). The last three say
how this run went. Nested objects have sorted keys; non-finite result numbers are written as
``NaN``/``Infinity`` (Python's JSON dialect; pandas and most readers accept them).

Durability (DESIGN.md §5, §9.1): only the coordinating process writes, with one ``write()`` of a
whole line, then ``flush`` and ``fsync``, so a crash can leave at most a torn *last* line. Readers
ignore such a tail with a warning; the writer cuts it off before appending on resume. The writer
holds an exclusive ``flock`` on the file, so two sweeps cannot append to it at once, and never
writes a row for an id already present. A file is only opened for writing when there is work to
do: re-running a finished sweep leaves it byte-identical, modification time included.

>>> import tempfile, pathlib
>>> from latticediff.sweep import Task, ResultsWriter, make_row, read_results
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> t = Task("sleep", {"value": 1.5})
>>> with ResultsWriter(path) as w:
...     w.append(make_row(t, {"value": 1.5}, wall_s=0.0, worker="here"))
...     w.append(make_row(t, {"value": 1.5}, wall_s=0.0, worker="here"))  # same id: skipped
True
False
>>> [r["result"]["value"] for r in read_results(path)]
[1.5]
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .._version import __version__
from ..errors import DataFileError, ParameterError
from .task import Task, thaw

__all__ = [
    "make_row",
    "encode_row",
    "read_results",
    "finished_ids",
    "deterministic_part",
    "ResultsWriter",
    "combine",
    "table",
    "to_csv",
    "plot_results",
    "TornTailWarning",
    "RUN_FIELDS",
]

log = logging.getLogger("latticediff.sweep")

#: Fields of a row that describe one run rather than the task's result.
RUN_FIELDS = ("wall_s", "worker", "finished")
_ORDER = ("id", "kind", "params", "upstream", "seed", "result", "version", *RUN_FIELDS)


class TornTailWarning(UserWarning):
    """A results file ends with an incomplete line (a write interrupted by a crash)."""


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_row(
    task: Task, result: Mapping, *, wall_s: float, worker: str, finished: str | None = None
) -> dict:
    """The results row of ``task`` (fields in the documented order)."""
    return {
        "id": task.id,
        "kind": task.kind,
        "params": thaw(task.params),
        "upstream": list(task.upstream),
        "seed": task.effective_seed,
        "result": dict(result),
        "version": __version__,
        "wall_s": round(float(wall_s), 6),
        "worker": str(worker),
        "finished": finished or _utc_now(),
    }


def encode_row(row: Mapping) -> bytes:
    """One ASCII line (with its newline): top-level fields in fixed order, nested keys sorted."""
    keys = [k for k in _ORDER if k in row] + sorted(k for k in row if k not in _ORDER)
    parts = [
        f"{json.dumps(k)}:{json.dumps(row[k], sort_keys=True, separators=(',', ':'))}" for k in keys
    ]
    return ("{" + ",".join(parts) + "}\n").encode("ascii")


def deterministic_part(row: Mapping) -> dict:
    """The row without its run fields (wall time, worker, finish time)."""
    return {k: v for k, v in row.items() if k not in RUN_FIELDS}


def _scan(path: Path, *, warn: bool = True) -> tuple[list[dict], int]:
    """Rows of a results file and the byte length of its complete part.

    A final fragment without a newline, or a final line that does not parse, is a torn tail
    (a crash during the last write): reported and left out. A bad line before the end is
    corruption and raises DataFileError.
    """
    data = path.read_bytes()
    rows: list[dict] = []
    pos = 0
    n = len(data)
    lineno = 0
    while pos < n:
        end = data.find(b"\n", pos)
        lineno += 1
        last = end == -1 or end == n - 1
        chunk = data[pos:] if end == -1 else data[pos:end]
        try:
            if end == -1:
                raise ValueError("no newline")
            row = json.loads(chunk)
            if not isinstance(row, dict) or "id" not in row:
                raise ValueError("not a results row")
        except ValueError:
            if not last:
                raise DataFileError(
                    f"{path}: line {lineno} is not a results row (the file is corrupted; "
                    "only its last line can be torn by a crash)"
                ) from None
            if warn:
                msg = (
                    f"{path}: ignoring a torn last line ({n - pos} bytes, line {lineno}); "
                    "a sweep was interrupted while writing it and will redo that task"
                )
                warnings.warn(msg, TornTailWarning, stacklevel=3)
            return rows, pos
        rows.append(row)
        pos = end + 1
    return rows, pos


def read_results(path, *, dedupe: bool = True) -> list[dict]:
    """Rows of a results file in file order (a torn last line is ignored with a warning).

    With ``dedupe`` (default) only the first row of each id is kept; the writer never writes two,
    but concatenated files might.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results file {str(path)!r} not found")
    rows, _ = _scan(path)
    if not dedupe:
        return rows
    seen: set = set()
    out = []
    for r in rows:
        if r["id"] not in seen:
            seen.add(r["id"])
            out.append(r)
    return out


def finished_ids(path) -> set[str]:
    """Ids of the tasks with a row in ``path`` (empty if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return set()
    rows, _ = _scan(path)
    return {r["id"] for r in rows}


class ResultsWriter:
    """The single appender of a results file (context manager).

    Opening takes an exclusive lock (a second writer gets DataFileError), cuts off a torn tail,
    and loads the ids already present; :meth:`append` writes a row unless its id is there,
    with one ``write`` of the full line followed by ``fsync``.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            self._lock()
            rows, good = _scan(self.path, warn=False)
            size = os.fstat(self._fd).st_size
            if size > good:
                log.warning(
                    "%s: cutting off a torn last line (%d bytes) left by an interrupted run",
                    self.path,
                    size - good,
                )
                os.ftruncate(self._fd, good)
                os.fsync(self._fd)
            self.ids = {r["id"] for r in rows}
            if created:
                _fsync_dir(self.path.parent)
        except BaseException:
            self.close()
            raise

    def _lock(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks; single-writer is then on the user
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataFileError(
                f"{self.path}: another sweep is writing this results file (it holds the lock); "
                "wait for it or choose another output"
            ) from None
        except OSError as exc:  # e.g. a network file system without locks
            log.warning("%s: could not lock the results file (%s); continuing", self.path, exc)

    def append(self, row: Mapping) -> bool:
        """Append ``row``; False (and nothing written) if its id is already in the file."""
        if self._fd is None:
            raise DataFileError(f"{self.path}: writer is closed")
        if row["id"] in self.ids:
            return False
        line = encode_row(row)
        written = os.write(self._fd, line)
        while written < len(line):  # regular files write whole; loop only for odd file systems
            written += os.write(self._fd, line[written:])
        os.fsync(self._fd)
        self.ids.add(row["id"])
        return True

    def close(self):
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)  # also releases the flock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def combine(inputs: Sequence, out, *, tasks: Sequence[Task] | None = None) -> list[dict]:
    """Merge results files (shards, or interrupted runs) into ``out``, written atomically.

    Rows are deduplicated by id; rows of the same id must agree in their deterministic part
    (else DataFileError naming the id and both files). Order: the plan order of ``tasks`` when
    given (rows of tasks not in the plan follow, by id), else by id. ``out`` may be one of the
    inputs. Returns the merged rows.

    >>> import tempfile, pathlib
    >>> from latticediff.sweep import Task, ResultsWriter, make_row
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i, v in enumerate([1.0, 2.0]):
    ...     row = make_row(Task("sleep", {"value": v}), {"value": v}, wall_s=0, worker="w")
    ...     with ResultsWriter(d / f"shard{i}.jsonl") as w:
    ...         _ = w.append(row)
    >>> len(combine([d / "shard0.jsonl", d / "shard1.jsonl", d / "shard0.jsonl"], d / "all.jsonl"))
    2
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    if not inputs:
        raise ParameterError("combine: give at least one input file")
    merged: dict[str, dict] = {}
    origin: dict[str, str] = {}
    for path in inputs:
        path = Path(path)
        for row in read_results(path, dedupe=False):
            rid = row["id"]
            if rid in merged:
                if deterministic_part(merged[rid]) != deterministic_part(row):
                    raise DataFileError(
                        f"combine: task {rid[:16]} has different results in {origin[rid]} and "
                        f"{path} (a changed kind or package version?); refusing to merge"
                    )
                continue
            merged[rid] = row
            origin[rid] = str(path)
    if tasks is not None:
        pos = {t.id: i for i, t in enumerate(tasks)}
        keys = sorted(merged, key=lambda k: (pos.get(k, len(pos)), k))
    else:
        keys = sorted(merged)
    rows = [merged[k] for k in keys]
    _atomic_write(Path(out), b"".join(encode_row(r) for r in rows))
    return rows


# ---------------------------------------------------------------------------------------------
# Tables, CSV and plots
# ---------------------------------------------------------------------------------------------


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _rows_of(results) -> list[dict]:
    if isinstance(results, str | os.PathLike):
        return read_results(results)
    return list(results)


def table(results) -> tuple[list[str], list[dict]]:
    """Tidy table of results (rows or a file): one record per task, one column per field.

    Columns: ``id``, ``kind``, ``seed``, the parameters (nested tables as dotted names such as
    ``model.T``), the result fields (prefixed ``result.`` only where a name is also a parameter),
    then ``version``, ``wall_s``, ``worker``, ``finished``. Lists become JSON text.
    """
    rows = _rows_of(results)
    pcols: dict[str, None] = {}
    rcols: dict[str, None] = {}
    flat = []
    for r in rows:
        p = _flatten(r.get("params", {}))
        res = _flatten(r.get("result", {}))
        pcols.update(dict.fromkeys(p))
        rcols.update(dict.fromkeys(res))
        flat.append((r, p, res))
    meta = {"id", "kind", "seed", "upstream", "version", *RUN_FIELDS}
    taken = set(pcols) | meta
    rname = {k: (f"result.{k}" if k in taken else k) for k in rcols}
    columns = ["id", "kind", "seed", *pcols, *rname.values(), "upstream", "version", *RUN_FIELDS]
    records = []
    for r, p, res in flat:
        rec = {c: r.get(c) for c in ("id", "kind", "seed", "version", *RUN_FIELDS)}
        rec["upstream"] = " ".join(r.get("upstream", []))
        rec.update(p)
        rec.update({rname[k]: v for k, v in res.items()})
        records.append({c: rec.get(c) for c in columns})
    return columns, records


def to_csv(results, path) -> Path:
    """Write the tidy :func:`table` of ``results`` (rows or a results file) as CSV, atomically.

    Missing values are empty cells; lists are JSON text; floats keep full precision (repr).
    """
    columns, records = table(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for rec in records:
        w.writerow([_cell(rec[c]) for c in columns])
    path = Path(path)
    _atomic_write(path, buf.getvalue().encode("utf-8"))
    return path


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list | dict):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _lookup(row: Mapping, name: str):
    """A parameter (dotted for nested tables) or, failing that, a result field of a row."""
    for src in (row.get("params", {}), row.get("result", {})):
        cur = src
        for part in name.split("."):
            if isinstance(cur, Mapping) and part in cur:
                cur = cur[part]
            else:
                cur = _missing
                break
        if cur is not _missing:
            return cur
    if name in ("seed", "wall_s"):
        return row.get(name)
    return _missing


_missing = object()


def plot_results(
    results,
    *,
    x: str,
    y: str,
    group: str | None = None,
    out,
    kind: str | None = None,
    logy: bool = False,
) -> Path:
    """Plot result field ``y`` against parameter ``x``, one line per value of ``group``.

    Error bars come from ``<y>_err`` when rows have it. ``kind`` restricts to one task kind. The
    format follows ``out``'s suffix (PNG, PDF, SVG). Uses Matplotlib's Agg canvas (no display).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in _rows_of(results) if kind is None or r.get("kind") == kind]
    series: dict = {}
    for r in rows:
        xv, yv = _lookup(r, x), _lookup(r, y)
        if xv is _missing or yv is _missing or not _is_num(xv) or not _is_num(yv):
            continue
        gv = _lookup(r, group) if group else None
        ev = _lookup(r, f"{y}_err")
        ev = ev if _is_num(ev) else math.nan
        series.setdefault(None if gv is _missing else gv, []).append((xv, yv, ev))
    if not series:
        raise ParameterError(
            f"plot: no rows have numeric {x!r} and {y!r}"
            + (f" (kind {kind!r})" if kind else "")
            + (f"; fields of the first row: {sorted(_flatten(rows[0]['params']))} (params), "
               f"{sorted(_flatten(rows[0]['result']))} (result)" if rows else "")
        )  # fmt: skip
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for g in sorted(series, key=lambda v: (v is None, str(v) if not _is_num(v) else v)):
        pts = sorted(series[g])
        xs, ys, es = zip(*pts, strict=True)
        label = None if group is None else f"{group} = {g}"
        if all(math.isnan(e) for e in es):
            ax.plot(xs, ys, "o-", ms=3, label=label)
        else:
            ax.errorbar(xs, ys, yerr=es, fmt="o-", ms=3, capsize=2, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if logy:
        ax.set_yscale("log")
    if group is not None:
        ax.legend(fontsize="small")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    return out


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
