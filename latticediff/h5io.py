"""HDF5 files of lattice samples, shared with collaborators (DESIGN.md §5 and §9.9).

One file holds one or more *data sets*; each is an HDF5 group ``/<name>`` with a ``samples``
array ``(n, *model.shape)``, an ``observables`` group of per-sample 1D arrays, and attributes
that make it self-describing without latticediff installed (model and parameters, encoding,
sampler, burn-in, thinning, tau_int, seed, versions, creation time, content id). The layout,
every attribute, and how to read a file from C, Julia, MATLAB or bare h5py are documented in
``data/README.md``; that document is the contract, this module one implementation of it.

Guarantees
----------
* **Readable everywhere**: gzip (deflate) level 4 + shuffle, no Blosc/LZF; UTF-8 variable-length
  string attributes; no None values; JSON attributes kept under 60 000 bytes; file-format
  objects capped at the HDF5 1.8 versions (``libver=("earliest", "v108")``).
* **Checksummed**: every dataset carries the Fletcher-32 filter; a corrupted chunk raises
  :class:`~latticediff.errors.DataFileError` ("checksum mismatch (file corrupted)") on read.
  ``content_id`` (SHA-256 of the model JSON and the raw sample bytes) is the data set's identity
  and is re-checked on read.
* **Atomic**: whole-file writes go to a temporary file ``.<name>.<random>.tmp`` in the same
  directory, are fsynced, and are renamed into place; on any error the temporary file is removed
  and a file already at the final name is left untouched. Appending copies the file first.

Example
-------
>>> import os, tempfile, numpy as np, latticediff as ld
>>> from latticediff import h5io
>>> d = tempfile.mkdtemp()
>>> path = os.path.join(d, "ising.h5")
>>> model = ld.Ising(L=4, T=2.0)
>>> s = np.ones((5, 4, 4), np.int8)
>>> name = h5io.write_samples(path, s, model=model, observables=model.observables(s),
...                           provenance={"sampler": "wolff", "burn_in": 100, "thin": 2, "seed": 7})
>>> ss = h5io.read_samples(path)
>>> ss.model, ss.samples.shape, ss.attrs["sampler"], float(ss.observables["energy"][0])
(Ising(L=4, T=2.0, h=0.0), (5, 4, 4), 'wolff', -2.0)
>>> h5io.validate_file(path)
>>> import shutil; shutil.rmtree(d)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ._version import __version__
from .errors import DataFileError, DataFileExistsError, ParameterError
from .systems import MODEL_CLASSES, model_from_dict

__all__ = [
    "SCHEMA_VERSION",
    "FORMAT_NAME",
    "SampleSet",
    "DataFileExistsError",
    "write_samples",
    "append_samples",
    "read_samples",
    "list_datasets",
    "describe",
    "validate_file",
    "content_id",
]

SCHEMA_VERSION = 1
FORMAT_NAME = "latticediff-samples"

# Lowest-possible object versions, and never anything newer than HDF5 1.8's: everything we write
# (chunked + resizable datasets, deflate/shuffle/fletcher32, UTF-8 strings) exists in 1.8, so the
# files open in HDF5 >= 1.8 (MATLAB, old h5py, Julia, R, netCDF-4 tools); the upper bound turns an
# accidental use of a newer feature into a write-time error instead of an unreadable file. With
# "earliest", resizable chunked datasets keep the v1 B-tree chunk index that 1.8 understands.
LIBVER = ("earliest", "v108")
# Target uncompressed chunk size; chunks hold whole samples (>= 1 sample), so a chunk of a large
# lattice may exceed it. A few hundred KB compresses well and fits HDF5's default 1 MiB cache.
CHUNK_BYTES = 1 << 18
OBS_CHUNK = 1 << 15  # elements (256 KiB of float64) per observable chunk
# Attributes in the 1.8 object-header format are limited to 64 KiB each; stay clearly below.
MAX_ATTR_BYTES = 60_000
_FILTERS = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]{0,127}\Z")
_MISSING = object()


@dataclass(frozen=True, eq=False)
class SampleSet:
    """One data set read from a samples file.

    ``samples`` is ``(n, *model.shape)`` of ``model.dtype``; ``observables`` maps names to
    ``(n,)`` arrays; ``attrs`` holds every group attribute with the JSON ones parsed
    (``model_params``, ``tau_int``, ``seed``, ``provenance``, ``segments``) and NumPy scalars
    turned into Python numbers; ``name`` is the group name in the file.

    >>> import numpy as np, latticediff as ld
    >>> ss = SampleSet(np.zeros((2, 3), np.int8), {}, ld.IsingChain(N=3, K=1.0), {}, "x")
    >>> ss.n, ss  # doctest: +NORMALIZE_WHITESPACE
    (2, SampleSet(name='x', model=IsingChain(N=3, K=1.0, periodic=True), samples=2 x (3,) int8, observables=[]))
    """  # noqa: E501

    samples: np.ndarray
    observables: dict[str, np.ndarray]
    model: Any
    attrs: dict[str, Any]
    name: str

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.samples.shape[0])

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        s = self.samples
        return (
            f"SampleSet(name={self.name!r}, model={self.model!r}, "
            f"samples={s.shape[0]} x {tuple(s.shape[1:])} {s.dtype}, "
            f"observables={sorted(self.observables)})"
        )


# ----------------------------------------------------------------------------------------------
# model-dependent facts: encoding, boundary, axes, value check


def _encoding(model) -> str:
    if model.name in ("ising", "chain"):
        return "spin int8 {-1,+1}"
    if model.name == "potts":
        return f"potts uint8 {{0..{model.q - 1}}}"
    if model.name == "loopgas":
        return "bits uint8 {0,1}; channel 0 = edge (i,j)->(i,j+1), channel 1 = edge (i,j)->(i+1,j)"
    raise ParameterError(f"no HDF5 encoding defined for model {model.name!r}")


def _axes(model) -> str:
    return {"ising": "sample,i,j", "potts": "sample,i,j", "loopgas": "sample,channel,i,j"}.get(
        model.name, "sample,i"
    )


def _boundary(model) -> str:
    return "open" if getattr(model, "periodic", True) is False else "periodic"


def _bad_values(model, block: np.ndarray) -> np.ndarray:
    """Boolean mask of entries outside the model's value set."""
    if model.name in ("ising", "chain"):
        return (block != 1) & (block != -1)
    if model.name == "potts":
        return block >= model.q
    return block > 1  # loop gas bits


def _first_bad(model, block: np.ndarray, offset: int = 0) -> str | None:
    bad = _bad_values(model, block)
    if not bad.any():
        return None
    idx = np.unravel_index(int(np.argmax(bad)), block.shape)
    where = tuple(int(i) for i in (idx[0] + offset, *idx[1:]))
    return f"value {block[idx]} at index {where}"


def _check_model(model):
    if getattr(model, "name", None) not in MODEL_CLASSES or not hasattr(model, "to_dict"):
        known = ", ".join(sorted(MODEL_CLASSES))
        raise ParameterError(
            f"model must be a latticediff.systems model ({known}), got {type(model).__name__}"
        )
    return model


# ----------------------------------------------------------------------------------------------
# JSON and attribute helpers


def _jsonable(obj, where: str):
    """Plain JSON types only; non-finite floats become null (strict JSON has no NaN/Infinity)."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ParameterError(f"{where}: keys must be strings, got {k!r}")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, list | tuple | np.ndarray):
        seq = obj.tolist() if isinstance(obj, np.ndarray) else obj
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(seq)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise ParameterError(
        f"{where} must be JSON-able (None, bool, int, float, str, list, dict), "
        f"got {type(obj).__name__}"
    )


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _model_json(model) -> str:
    """Canonical JSON of ``model.to_dict()``: the ``model_params`` attribute, hashed into the id."""
    return _dumps(_jsonable(model.to_dict(), "model"))


def _set_str(attrs, key: str, value: str) -> None:
    n = len(value.encode("utf-8"))
    if n > MAX_ATTR_BYTES:
        raise ParameterError(
            f"attribute {key!r} would be {n} bytes; HDF5 attributes must stay below "
            f"{MAX_ATTR_BYTES} bytes (keep provenance small; store large data as datasets)"
        )
    attrs[key] = value  # h5py: scalar variable-length UTF-8 string


def _utcnow() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ParameterError(
            f"{what} must be 1-128 characters from [A-Za-z0-9_.+=-] starting with a letter or "
            f"digit, got {name!r}"
        )
    return name


# ----------------------------------------------------------------------------------------------
# content id


def _hasher(model_params: str):
    h = hashlib.sha256()
    h.update(model_params.encode("utf-8"))
    h.update(b"\n")
    return h


def _raw(block: np.ndarray) -> np.ndarray:
    # Raw bytes in C order, little-endian for multi-byte types (all current encodings are 1 byte).
    return np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<"))


def content_id(samples: np.ndarray, *, model) -> str:
    """Content id of a data set: SHA-256 hex of ``model_params + "\\n" + raw sample bytes``.

    ``model_params`` is the canonical JSON of ``model.to_dict()`` (sorted keys, no spaces), exactly
    as stored in the ``model_params`` attribute; the sample bytes are in C order.

    >>> import numpy as np, latticediff as ld
    >>> content_id(np.ones((1, 2, 2), np.int8), model=ld.Ising(L=2, T=1.0))[:12]
    '178ded86d7d3'
    """
    model = _check_model(model)
    h = _hasher(_model_json(model))
    h.update(_raw(np.asarray(samples, dtype=model.dtype)))
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# preparing a write (all validation happens before the disk is touched)


@dataclass(frozen=True)
class _Prepared:
    samples: np.ndarray
    model: Any
    model_params: str
    observables: dict[str, np.ndarray]
    provenance: dict
    sampler: str
    burn_in: int
    thin: int
    tau_int: Any
    seed: Any
    content_id: str
    name: str


def _opt_int(p: dict, key: str, lo: int) -> int:
    v = p.get(key)
    if v is None:
        return -1
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ParameterError(f"provenance[{key!r}] must be an integer >= {lo} or absent, got {v!r}")
    return v


def _prepare(samples, model, observables, provenance, name) -> _Prepared:
    model = _check_model(model)
    if not isinstance(samples, np.ndarray):
        raise ParameterError(f"samples must be a NumPy array, got {type(samples).__name__}")
    want = (None, *model.shape)
    if samples.ndim != len(want) or tuple(samples.shape[1:]) != tuple(model.shape):
        raise ParameterError(
            f"samples must have shape (n, {', '.join(map(str, model.shape))}) for {model!r}, "
            f"got {samples.shape}"
        )
    if samples.shape[0] < 1:
        raise ParameterError("samples must hold at least one sample, got n = 0")
    if samples.dtype != model.dtype:
        raise ParameterError(
            f"samples must have dtype {model.dtype} for {model.name} ({_encoding(model)}), "
            f"got {samples.dtype}"
        )
    # blockwise, so the temporaries stay small for very large arrays
    rows = max(1, (16 << 20) // max(1, samples[0].nbytes))
    bad = None
    for start in range(0, samples.shape[0], rows):
        bad = _first_bad(model, samples[start : start + rows], start)
        if bad is not None:
            break
    if bad is not None:
        raise ParameterError(f"samples hold a {bad} outside the encoding {_encoding(model)!r}")
    n = samples.shape[0]
    obs = {}
    for k, v in (observables or {}).items():
        _check_name(k, "observable name")
        a = np.asarray(v)
        if a.shape != (n,):
            raise ParameterError(f"observable {k!r} must have shape ({n},), got {a.shape}")
        if a.dtype.kind in "biu":
            a = a.astype(np.int64)
        elif a.dtype.kind == "f":
            a = a.astype(np.float64)
        else:
            raise ParameterError(f"observable {k!r} must be real numbers, got dtype {a.dtype}")
        obs[k] = a
    if provenance is None:
        provenance = {}
    if not isinstance(provenance, Mapping):
        raise ParameterError(f"provenance must be a dict, got {type(provenance).__name__}")
    prov = _jsonable(provenance, "provenance")
    sampler = prov.get("sampler", prov.get("method", "unknown"))
    if not isinstance(sampler, str) or not sampler:
        raise ParameterError(f"provenance['sampler'] must be a non-empty string, got {sampler!r}")
    tau = prov.get("tau_int", {})
    mp = _model_json(model)
    h = _hasher(mp)
    h.update(_raw(samples))
    cid = h.hexdigest()
    if name is None:
        name = f"{model.name}-{cid[:12]}"
    _check_name(name, "data set name")
    return _Prepared(
        samples=samples,
        model=model,
        model_params=mp,
        observables=obs,
        provenance=prov,
        sampler=sampler,
        burn_in=_opt_int(prov, "burn_in", 0),
        thin=_opt_int(prov, "thin", 1),
        tau_int={} if tau is None else tau,
        seed=prov.get("seed"),
        content_id=cid,
        name=name,
    )


# ----------------------------------------------------------------------------------------------
# writing


def _write_root(f: h5py.File, created: str) -> None:
    _set_str(f.attrs, "format", FORMAT_NAME)
    f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
    _set_str(f.attrs, "created_by", f"latticediff {__version__}")
    _set_str(f.attrs, "created", created)


def _write_observable(og: h5py.Group, key: str, values: np.ndarray) -> None:
    og.create_dataset(key, data=values, chunks=(OBS_CHUNK,), maxshape=(None,), **_FILTERS)


def _segment(p: _Prepared, start: int, created: str) -> dict:
    return {
        "start": start,
        "stop": start + p.samples.shape[0],
        "created": created,
        "provenance": p.provenance,
    }


def _write_group(f: h5py.File, p: _Prepared, created: str) -> None:
    if p.name in f:
        raise ParameterError(f"data set {p.name!r} already exists in the file; choose another name")
    model = p.model
    g = f.create_group(p.name)
    sample_bytes = max(1, int(np.prod(model.shape)) * model.dtype.itemsize)
    rows = max(1, CHUNK_BYTES // sample_bytes)
    g.create_dataset(
        "samples",
        data=p.samples,
        chunks=(rows, *model.shape),
        maxshape=(None, *model.shape),
        **_FILTERS,
    )
    og = g.create_group("observables")
    for k, v in p.observables.items():
        _write_observable(og, k, v)
    a = g.attrs
    _set_str(a, "model", model.name)
    _set_str(a, "model_params", p.model_params)
    a["lattice_shape"] = np.asarray(model.shape, dtype=np.int64)
    _set_str(a, "boundary", _boundary(model))
    _set_str(a, "encoding", _encoding(model))
    _set_str(a, "axes", _axes(model))
    _set_str(a, "sampler", p.sampler)
    a["burn_in"] = np.int64(p.burn_in)
    a["thin"] = np.int64(p.thin)
    _set_str(a, "tau_int", _dumps(p.tau_int))
    _set_str(a, "seed", _dumps(p.seed))
    _set_str(a, "package_version", __version__)
    a["schema_version"] = np.int64(SCHEMA_VERSION)
    _set_str(a, "created", created)
    _set_str(a, "content_id", p.content_id)
    a["n_samples"] = np.int64(p.samples.shape[0])
    _set_str(a, "provenance", _dumps(p.provenance))
    _set_str(a, "segments", _dumps([_segment(p, 0, created)]))


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(d: str) -> None:
    # Makes the rename durable on POSIX; not possible (nor needed) everywhere.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exists_error(path: str) -> DataFileExistsError:
    return DataFileExistsError(
        f"{path}: file exists; pass overwrite=True (CLI: --force) to replace it, "
        "or append_samples() to add a data set to it"
    )


def _commit(tmp: str, path: str, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    # A hard link creates the final name atomically *only if absent* (no check-then-rename race).
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:  # file system without hard links: check, then rename
        if os.path.lexists(path):
            raise _exists_error(path) from None
        os.replace(tmp, path)
        return
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _temp_name(path: str) -> str:
    d, base = os.path.split(os.path.abspath(path))
    return os.path.join(d, f".{base}.{secrets.token_hex(6)}.tmp")


def _atomic(path: str, fill: Callable[[h5py.File], None], *, overwrite: bool, source=None) -> None:
    """Build the file under a temporary name (a copy of ``source`` if given), then rename it."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise DataFileError(f"{path}: directory {d} does not exist")
    tmp = _temp_name(path)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
            shutil.copymode(source, tmp)
        with h5py.File(tmp, "r+" if source is not None else "w-", libver=LIBVER) as f:
            fill(f)
        _fsync_path(tmp)
        _commit(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)


def write_samples(
    path,
    samples: np.ndarray,
    *,
    model,
    observables: Mapping[str, np.ndarray] | None = None,
    name: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> str:
    """Write one data set into a new samples file at ``path``; return the data set's name.

    ``samples`` is ``(n, *model.shape)`` of ``model.dtype`` with values in the model's encoding;
    ``observables`` maps names to ``(n,)`` arrays (stored as float64 or int64); ``provenance`` is a
    dict of JSON-able values stored whole, of which ``sampler`` (or ``method``), ``burn_in``,
    ``thin``, ``tau_int`` and ``seed`` also become their own attributes. ``name`` defaults to
    ``"<model>-<first 12 hex digits of the content id>"``.

    The write is atomic (temporary file, fsync, rename). An existing file raises
    :class:`DataFileExistsError` unless ``overwrite=True``, which replaces the *whole* file.

    >>> import os, tempfile, numpy as np, latticediff as ld
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "p.h5")
    >>> write_samples(p, np.zeros((2, 3, 3), np.uint8), model=ld.Potts(L=3, q=3, T=1.0))
    'potts-7232398ceb3c'
    >>> write_samples(p, np.zeros((2, 3, 3), np.uint8), model=ld.Potts(L=3, q=3, T=1.0))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.DataFileExistsError: ...: file exists; pass overwrite=True (CLI: --force) ...
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    p = _prepare(samples, model, observables, provenance, name)
    if not overwrite and os.path.lexists(path):
        raise _exists_error(path)
    created = _utcnow()

    def fill(f):
        _write_root(f, created)
        _write_group(f, p, created)

    _atomic(path, fill, overwrite=overwrite)
    return p.name


def append_samples(
    path,
    samples: np.ndarray,
    *,
    model,
    name: str | None = None,
    observables: Mapping[str, np.ndarray] | None = None,
    provenance: Mapping[str, Any] | None = None,
    extend: bool = False,
) -> str:
    """Add samples to an existing file, atomically (copy, modify the copy, fsync, rename).

    * ``extend=False`` (default): add a **new data set** ``name`` (default: from the content id),
      which may be of any model (one file can hold, e.g., a temperature scan). An existing name
      is an error.
    * ``extend=True``: append ``samples`` to the existing data set ``name`` along the sample
      axis. The model must equal the stored one, and ``sampler``, ``burn_in`` and ``thin`` must
      match too (otherwise the samples are not draws from the same process: write a new data
      set); the same observables must be given. ``n_samples`` and ``content_id`` are updated, and
      a record ``{start, stop, created, provenance}`` is appended to ``segments``; the group's
      ``provenance``, ``seed`` and ``tau_int`` keep describing the first write.

    The stored data set is re-verified (checksums and content id) before it is extended. The cost
    is a copy of the whole file. Returns the data set's name.

    >>> import os, tempfile, numpy as np, latticediff as ld
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "c.h5"); m = ld.IsingChain(N=4, K=0.5)
    >>> write_samples(p, np.ones((2, 4), np.int8), model=m, name="run")
    'run'
    >>> append_samples(p, -np.ones((3, 4), np.int8), model=m, name="run", extend=True)
    'run'
    >>> append_samples(p, np.ones((1, 4), np.int8), model=ld.IsingChain(N=4, K=0.9), name="hot")
    'hot'
    >>> list_datasets(p), read_samples(p, "run").n
    (['hot', 'run'], 5)
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    if extend and name is None:
        raise ParameterError("append_samples(extend=True) needs the name of the data set to extend")
    p = _prepare(samples, model, observables, provenance, name)
    with _open(path):  # the file must exist and be ours before we copy it
        pass
    created = _utcnow()

    def fill(f):
        if extend:
            _extend_group(path, f, p, created)
        else:
            _write_group(f, p, created)
        _set_str(f.attrs, "modified", created)

    _atomic(path, fill, overwrite=True, source=path)
    return p.name


def _append_rows(ds: h5py.Dataset, values: np.ndarray) -> None:
    n0 = ds.shape[0]
    ds.resize(n0 + values.shape[0], axis=0)
    ds[n0:] = values


def _extend_group(path: str, f: h5py.File, p: _Prepared, created: str) -> None:
    if p.name not in f:
        raise ParameterError(
            f"{path}: no data set {p.name!r} to extend; data sets: {_group_names(f)}"
        )
    meta = _meta(path, f, p.name)
    if meta.model != p.model:
        raise ParameterError(
            f"{path}: data set {p.name!r} holds {meta.model!r}; cannot extend it with samples of "
            f"{p.model!r}"
        )
    for key, new in (("sampler", p.sampler), ("burn_in", p.burn_in), ("thin", p.thin)):
        if meta.attrs[key] != new:
            raise ParameterError(
                f"{path}: data set {p.name!r} has {key} = {meta.attrs[key]!r}, new samples have "
                f"{new!r}; write them as a new data set instead"
            )
    g = f[p.name]
    stored_obs = sorted(g["observables"])
    if stored_obs != sorted(p.observables):
        raise ParameterError(
            f"{path}: data set {p.name!r} stores observables {stored_obs}; extending needs the "
            f"same, got {sorted(p.observables)}"
        )
    for key, v in p.observables.items():
        o = g["observables"][key]
        if o.dtype != v.dtype:
            raise ParameterError(
                f"{path}: observable {key!r} is stored as {o.dtype}, new values are {v.dtype}"
            )
    h = _hash_and_check(path, p.name, g["samples"], meta)  # refuse to extend a corrupted set
    n0 = g["samples"].shape[0]
    _append_rows(g["samples"], p.samples)
    for key, v in p.observables.items():
        _append_rows(g["observables"][key], v)
    h.update(_raw(p.samples))
    g.attrs["n_samples"] = np.int64(n0 + p.samples.shape[0])
    _set_str(g.attrs, "content_id", h.hexdigest())
    _set_str(g.attrs, "segments", _dumps([*meta.attrs["segments"], _segment(p, n0, created)]))
    _set_str(g.attrs, "modified", created)


# ----------------------------------------------------------------------------------------------
# reading and checking


@contextlib.contextmanager
def _open(path):
    """Open ``path`` read-only after checking it is a latticediff samples file we can read."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a directory, not an HDF5 file")
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from None
    if not is_h5:
        raise DataFileError(f"{path}: not an HDF5 file (no HDF5 signature)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(
            f"{path}: HDF5 signature found but the file cannot be opened: {exc}"
        ) from None
    try:
        fmt = _attr(f.attrs, "format")
        if fmt is _MISSING:
            raise DataFileError(
                f"{path}: an HDF5 file, but not a latticediff samples file "
                f"(root attribute 'format' is missing; expected {FORMAT_NAME!r})"
            )
        if fmt != FORMAT_NAME:
            raise DataFileError(
                f"{path}: an HDF5 file, but not a latticediff samples file "
                f"(root attribute 'format' is {fmt!r}; expected {FORMAT_NAME!r})"
            )
        _check_version(path, "root", _attr(f.attrs, "schema_version"))
        yield f
    finally:
        f.close()


def _check_version(path: str, where: str, v) -> None:
    if v is _MISSING or isinstance(v, bool) or not isinstance(v, int):
        raise DataFileError(f"{path}: {where} attribute 'schema_version' missing or not an integer")
    if v > SCHEMA_VERSION:
        raise DataFileError(
            f"{path}: unsupported schema version {v} ({where}); this latticediff "
            f"({__version__}) reads versions 1..{SCHEMA_VERSION}: upgrade latticediff"
        )
    if v < 1:
        raise DataFileError(f"{path}: invalid schema version {v} ({where}); versions start at 1")


def _attr(attrs, key: str):
    """An attribute as a plain Python value (str, int, float, tuple of ints), or ``_MISSING``."""
    if key not in attrs:
        return _MISSING
    v = attrs[key]
    if isinstance(v, bytes | np.bytes_):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, np.ndarray):
        return tuple(x.item() if isinstance(x, np.generic) else x for x in v)
    if isinstance(v, bytes | np.bytes_):
        return v.decode("utf-8")
    if isinstance(v, np.generic):
        return v.item()
    return v


# attribute -> kind; "json" attributes are UTF-8 strings holding JSON.
_GROUP_ATTRS = {
    "model": str,
    "model_params": "json",
    "lattice_shape": tuple,
    "boundary": str,
    "encoding": str,
    "axes": str,
    "sampler": str,
    "burn_in": int,
    "thin": int,
    "tau_int": "json",
    "seed": "json",
    "package_version": str,
    "schema_version": int,
    "created": str,
    "content_id": str,
    "n_samples": int,
    "provenance": "json",
    "segments": "json",
}


@dataclass(frozen=True)
class _Meta:
    model: Any
    model_params: str
    attrs: dict


def _group_names(f: h5py.File) -> list[str]:
    return sorted(k for k, v in f.items() if isinstance(v, h5py.Group) and "samples" in v)


def _meta(path: str, f: h5py.File, name: str) -> _Meta:
    """Parse and cross-check a data set's attributes against its datasets (no bulk reads)."""
    where = f"{path}: data set {name!r}"
    g = f.get(name)
    if not isinstance(g, h5py.Group) or not isinstance(g.get("samples"), h5py.Dataset):
        raise DataFileError(f"{where}: missing (no group /{name} with a 'samples' dataset)")
    attrs: dict[str, Any] = {}
    for key in g.attrs:
        attrs[key] = _attr(g.attrs, key)
    for key, kind in _GROUP_ATTRS.items():
        v = attrs.get(key, _MISSING)
        if v is _MISSING:
            raise DataFileError(f"{where}: required attribute {key!r} is missing")
        if kind == "json":
            if not isinstance(v, str):
                raise DataFileError(f"{where}: attribute {key!r} must be a JSON string")
            try:
                attrs[key] = json.loads(v)
            except ValueError as exc:
                raise DataFileError(
                    f"{where}: attribute {key!r} is not valid JSON: {exc}"
                ) from None
        elif kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise DataFileError(f"{where}: attribute {key!r} must be an integer, got {v!r}")
        elif kind is str and not isinstance(v, str):
            raise DataFileError(f"{where}: attribute {key!r} must be a string, got {v!r}")
        elif kind is tuple and not (isinstance(v, tuple) and all(isinstance(x, int) for x in v)):
            raise DataFileError(f"{where}: attribute {key!r} must be an integer array, got {v!r}")
    _check_version(path, f"data set {name!r}", attrs["schema_version"])
    mp = attrs["model_params"]
    try:
        model = model_from_dict(mp)
    except (ParameterError, TypeError, AttributeError) as exc:
        raise DataFileError(
            f"{where}: attribute 'model_params' is not a valid model: {exc}"
        ) from None
    checks = [
        ("model", attrs["model"], model.name),
        ("lattice_shape", attrs["lattice_shape"], tuple(model.shape)),
        ("boundary", attrs["boundary"], _boundary(model)),
        ("encoding", attrs["encoding"], _encoding(model)),
    ]
    for key, got, want in checks:
        if got != want:
            raise DataFileError(
                f"{where}: attribute {key!r} is {got!r} but model_params {mp} implies {want!r}"
            )
    ds = g["samples"]
    if tuple(ds.shape[1:]) != tuple(model.shape) or ds.ndim != 1 + len(model.shape):
        raise DataFileError(
            f"{where}: samples have shape {ds.shape}, but the model {model!r} needs "
            f"(n, {', '.join(map(str, model.shape))})"
        )
    if ds.dtype != model.dtype:
        raise DataFileError(
            f"{where}: samples have dtype {ds.dtype}, but the model {model!r} needs {model.dtype}"
        )
    n = ds.shape[0]
    if attrs["n_samples"] != n:
        raise DataFileError(f"{where}: n_samples = {attrs['n_samples']} but samples hold {n}")
    og = g.get("observables")
    if not isinstance(og, h5py.Group):
        raise DataFileError(f"{where}: missing group 'observables'")
    for k, o in og.items():
        if not isinstance(o, h5py.Dataset) or o.shape != (n,) or o.dtype.kind not in "iuf":
            raise DataFileError(
                f"{where}: observable {k!r} must be a numeric ({n},) dataset, got "
                f"{getattr(o, 'shape', '?')} {getattr(o, 'dtype', type(o).__name__)}"
            )
    # canonical bytes the content id is computed over: the stored string itself
    mp_str = g.attrs["model_params"]
    mp_str = mp_str.decode("utf-8") if isinstance(mp_str, bytes) else str(mp_str)
    return _Meta(model=model, model_params=mp_str, attrs=attrs)


def _corrupt(path: str, name: str, what: str, exc: BaseException) -> DataFileError:
    return DataFileError(
        f"{path}: data set {name!r}: checksum mismatch (file corrupted) while reading {what}: {exc}"
    )


def _read(path: str, name: str, ds: h5py.Dataset, sel=()) -> np.ndarray:
    try:
        return ds[sel]
    except OSError as exc:  # HDF5 reports a failed Fletcher-32 check as a filter failure
        raise _corrupt(path, name, f"{ds.name}[{sel}]" if sel != () else ds.name, exc) from None


def _hash_and_check(path: str, name: str, ds: h5py.Dataset, meta: _Meta):
    """Read every chunk of ``ds`` (checksums), check values, verify ``content_id``; return hasher.

    The returned hasher has consumed the stored samples, so it can go on with appended ones.
    """
    h = _hasher(meta.model_params)
    rows = max(1, ds.chunks[0]) * 8
    for start in range(0, ds.shape[0], rows):
        block = _read(path, name, ds, np.s_[start : start + rows])
        bad = _first_bad(meta.model, block, start)
        if bad is not None:
            raise DataFileError(
                f"{path}: data set {name!r}: samples hold a {bad}, outside the encoding "
                f"{_encoding(meta.model)!r}"
            )
        h.update(_raw(block))
    got = h.copy().hexdigest()
    if got != meta.attrs["content_id"]:
        raise DataFileError(
            f"{path}: data set {name!r}: content id mismatch (stored {meta.attrs['content_id']}, "
            f"computed {got}); the samples or model_params were changed after writing"
        )
    return h


def _pick(path: str, f: h5py.File, name: str | None) -> str:
    names = _group_names(f)
    if name is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise DataFileError(f"{path}: the file holds no data sets")
        raise ParameterError(f"{path} holds {len(names)} data sets; pass name= one of {names}")
    if name not in names:
        raise ParameterError(f"{path}: no data set {name!r}; data sets: {names}")
    return name


def read_samples(path, name: str | None = None, *, verify: bool = True) -> SampleSet:
    """Read one data set into memory as a :class:`SampleSet`.

    ``name`` may be omitted when the file holds exactly one data set. Checksums (Fletcher-32) are
    always checked by HDF5; ``verify=True`` also recomputes the content id. Problems raise
    :class:`~latticediff.errors.DataFileError` naming the file, the data set and the cause.

    >>> import os, tempfile, numpy as np, latticediff as ld
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "l.h5")
    >>> write_samples(p, np.zeros((4, 2, 3, 3), np.uint8), model=ld.LoopGas(L=3), name="empty")
    'empty'
    >>> read_samples(p)
    SampleSet(name='empty', model=LoopGas(L=3, x=1.0), samples=4 x (2, 3, 3) uint8, observables=[])
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    with _open(path) as f:
        name = _pick(path, f, name)
        meta = _meta(path, f, name)
        g = f[name]
        samples = _read(path, name, g["samples"])
        obs = {k: _read(path, name, o) for k, o in sorted(g["observables"].items())}
    if verify:
        h = _hasher(meta.model_params)
        h.update(_raw(samples))
        if h.hexdigest() != meta.attrs["content_id"]:
            raise DataFileError(
                f"{path}: data set {name!r}: content id mismatch (stored "
                f"{meta.attrs['content_id']}, computed {h.hexdigest()}); the samples or "
                "model_params were changed after writing"
            )
    return SampleSet(
        samples=samples, observables=obs, model=meta.model, attrs=meta.attrs, name=name
    )


def list_datasets(path) -> list[str]:
    """Names of the data sets in a samples file, sorted.

    >>> import os, tempfile, numpy as np, latticediff as ld
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "x.h5")
    >>> write_samples(p, np.ones((1, 2), np.int8), model=ld.IsingChain(N=2, K=1.0), name="a")
    'a'
    >>> list_datasets(p)
    ['a']
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    with _open(path) as f:
        return _group_names(f)


def validate_file(path) -> None:
    """Check a samples file completely; return None or raise ``DataFileError`` naming the problem.

    Detects: a missing file, a non-HDF5 file, an HDF5 file of another format, an unsupported
    schema version, attributes missing or inconsistent with the model, samples whose shape, dtype
    or values do not match the model, a corrupted chunk (every chunk of every dataset is read,
    so every Fletcher-32 checksum is checked) and a content id mismatch.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "t.txt")
    >>> _ = open(p, "w").write("hello")
    >>> validate_file(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latticediff.errors.DataFileError: ...t.txt: not an HDF5 file (no HDF5 signature)
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    with _open(path) as f:
        names = _group_names(f)
        if not names:
            raise DataFileError(f"{path}: the file holds no data sets")
        for name in names:
            meta = _meta(path, f, name)
            g = f[name]
            _hash_and_check(path, name, g["samples"], meta)
            for o in g["observables"].values():
                ochunk = o.chunks[0] if o.chunks else o.shape[0]
                for start in range(0, o.shape[0], max(1, ochunk) * 8):
                    _read(path, name, o, np.s_[start : start + max(1, ochunk) * 8])


def _fmt_json(v) -> str:
    return json.dumps(v, sort_keys=True)


def describe(path) -> str:
    """Human-readable summary of a samples file (used by ``latticediff info``).

    Reads attributes and observables only (not the samples), so it is quick on large files.
    Observable errors are naive standard errors ``std / sqrt(n)``, which ignore autocorrelation.

    >>> import os, tempfile, numpy as np, latticediff as ld
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "x.h5"); m = ld.IsingChain(N=2, K=1.0)
    >>> s = np.ones((3, 2), np.int8)
    >>> _ = write_samples(p, s, model=m, observables=m.observables(s), name="a")
    >>> print(describe(p))  # doctest: +ELLIPSIS
    file ...x.h5: latticediff-samples schema 1, created ... by latticediff ..., 1 data set
    <BLANKLINE>
    [a]
      model        chain {"K":1.0,"N":2,"model":"chain","periodic":true}
      samples      3 x (2,) int8, periodic, encoding: spin int8 {-1,+1} (axes sample,i)
      sampler      unknown, burn_in -, thin -, seed null
      tau_int      {}
      created      ... (latticediff ..., schema 1)
      content id   ...
      observables  (mean +- naive stderr)
        energy           -1 +- 0
        magnetization    1 +- 0
        nn_correlation   1 +- 0
    >>> import shutil; shutil.rmtree(d)
    """
    path = os.fspath(path)
    out = []
    with _open(path) as f:
        names = _group_names(f)
        created = _attr(f.attrs, "created")
        by = _attr(f.attrs, "created_by")
        head = (
            f"file {path}: {FORMAT_NAME} schema {_attr(f.attrs, 'schema_version')}, "
            f"created {created if created is not _MISSING else '?'} by "
            f"{by if by is not _MISSING else '?'}, {len(names)} data set"
            f"{'' if len(names) == 1 else 's'}"
        )
        modified = _attr(f.attrs, "modified")
        if modified is not _MISSING:
            head += f", modified {modified}"
        out.append(head)
        for name in names:
            meta = _meta(path, f, name)
            a = meta.attrs
            g = f[name]
            ds = g["samples"]

            def opt(v):
                return "-" if v < 0 else str(v)

            out += [
                "",
                f"[{name}]",
                f"  model        {a['model']} {meta.model_params}",
                f"  samples      {ds.shape[0]} x {tuple(ds.shape[1:])} {ds.dtype}, "
                f"{a['boundary']}, encoding: {a['encoding']} (axes {a['axes']})",
                f"  sampler      {a['sampler']}, burn_in {opt(a['burn_in'])}, "
                f"thin {opt(a['thin'])}, seed {_fmt_json(a['seed'])}",
                f"  tau_int      {_fmt_json(a['tau_int'])}",
                f"  created      {a['created']} (latticediff {a['package_version']}, "
                f"schema {a['schema_version']})",
                f"  content id   {a['content_id']}",
            ]
            if len(a["segments"]) > 1:
                out.append(f"  segments     {len(a['segments'])} writes")
            prov_extra = {
                k: v
                for k, v in a["provenance"].items()
                if k not in ("sampler", "method", "burn_in", "thin", "tau_int", "seed")
            }
            if prov_extra:
                out.append(f"  provenance   {_fmt_json(prov_extra)}")
            obs = g["observables"]
            if len(obs):
                out.append("  observables  (mean +- naive stderr)")
                for k in sorted(obs):
                    v = _read(path, name, obs[k]).astype(np.float64)
                    n = v.size
                    mean = float(np.mean(v)) if n else math.nan
                    err = float(np.std(v, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
                    out.append(f"    {k:<16} {mean:.6g} +- {err:.2g}")
            else:
                out.append("  observables  none")
    return "\n".join(out)
