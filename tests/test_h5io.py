"""The HDF5 samples schema (latticediff/h5io.py, documented in data/README.md).

Samples are built by hand (random arrays in each model's encoding): these tests check storage,
not physics, and must not depend on the samplers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import latticediff as ld
from latticediff import h5io
from latticediff.errors import DataFileError, ParameterError

REPO = Path(__file__).resolve().parents[1]
README = REPO / "data" / "README.md"

STRING_ATTRS = [
    "model",
    "model_params",
    "boundary",
    "encoding",
    "axes",
    "sampler",
    "tau_int",
    "seed",
    "package_version",
    "created",
    "content_id",
    "provenance",
    "segments",
]
JSON_ATTRS = ["model_params", "tau_int", "seed", "provenance", "segments"]
INT_ATTRS = ["burn_in", "thin", "schema_version", "n_samples"]


def _random_samples(model, n, rng):
    if model.name in ("ising", "chain"):
        return rng.choice(np.array([-1, 1], np.int8), size=(n, *model.shape))
    if model.name == "potts":
        return rng.integers(0, model.q, size=(n, *model.shape), dtype=np.uint8)
    return rng.integers(0, 2, size=(n, *model.shape), dtype=np.uint8)


MODELS = {
    "ising": lambda: ld.Ising(L=5, T=2.3, h=0.1),
    "potts": lambda: ld.Potts(L=4, q=5, T=0.9),
    "loopgas": lambda: ld.LoopGas(L=3, x=0.7),
    "chain": lambda: ld.IsingChain(N=7, K=-0.4, periodic=False),
}

PROVENANCE = {
    "method": "wolff",
    "burn_in": 200,
    "thin": 3,
    "tau_int": {"energy": 1.25, "magnetization": float("nan")},
    "seed": 2**70 + 5,  # more than 64 bits: stored as JSON text, read back exactly
    "n_chains": 2,
    "wall_time_s": 0.5,
    "shape_used": (4, 4),
    "counts": np.arange(3),
}


def _write(path, model, n=20, seed=0, **kw):
    rng = np.random.default_rng(seed)
    s = _random_samples(model, n, rng)
    kw.setdefault("observables", model.observables(s))
    name = h5io.write_samples(path, s, model=model, **kw)
    return name, s


def _dir_listing(d: Path):
    return sorted(p.name for p in d.iterdir())


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_round_trip_every_model(tmp_path, kind):
    model = MODELS[kind]()
    path = tmp_path / "s.h5"
    name, s = _write(path, model, n=37, seed=1, provenance=PROVENANCE)
    assert name == f"{model.name}-{h5io.content_id(s, model=model)[:12]}"
    ss = h5io.read_samples(path)
    assert ss.name == name and ss.model == model and ss.n == 37
    assert ss.samples.dtype == model.dtype and ss.samples.shape == (37, *model.shape)
    np.testing.assert_array_equal(ss.samples, s)
    want_obs = model.observables(s)
    assert sorted(ss.observables) == sorted(want_obs)
    for k, v in want_obs.items():
        np.testing.assert_array_equal(ss.observables[k], v)
        assert ss.observables[k].dtype in (np.float64, np.int64)
    a = ss.attrs
    assert a["model"] == model.name and a["lattice_shape"] == model.shape
    assert a["sampler"] == "wolff" and a["burn_in"] == 200 and a["thin"] == 3
    assert a["tau_int"] == {"energy": 1.25, "magnetization": None}  # NaN -> null (strict JSON)
    assert a["seed"] == 2**70 + 5
    assert a["provenance"]["shape_used"] == [4, 4] and a["provenance"]["counts"] == [0, 1, 2]
    assert a["provenance"]["n_chains"] == 2
    assert a["content_id"] == h5io.content_id(s, model=model)
    assert a["segments"] == [
        {"start": 0, "stop": 37, "created": a["created"], "provenance": a["provenance"]}
    ]
    assert a["boundary"] == ("open" if kind == "chain" else "periodic")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["created"])
    assert h5io.list_datasets(path) == [name]
    h5io.validate_file(path)


def test_defaults_without_provenance_or_observables(tmp_path):
    model = ld.Ising(L=2, T=1.0)  # smallest lattice
    s = np.ones((1, 2, 2), np.int8)
    h5io.write_samples(tmp_path / "a.h5", s, model=model, name="one")
    ss = h5io.read_samples(tmp_path / "a.h5", "one")
    assert ss.observables == {}
    assert ss.attrs["sampler"] == "unknown" and ss.attrs["burn_in"] == -1
    assert ss.attrs["thin"] == -1 and ss.attrs["tau_int"] == {} and ss.attrs["seed"] is None


def test_chunks_hold_whole_samples_and_filters(tmp_path):
    model = ld.Ising(L=200, T=2.0)  # 40 000 bytes per sample -> 6 samples per chunk
    _write(tmp_path / "big.h5", model, n=13)
    with h5py.File(tmp_path / "big.h5", "r") as f:
        (g,) = f.values()
        ds = g["samples"]
        assert ds.chunks == (h5io.CHUNK_BYTES // 40_000, 200, 200)
        assert ds.maxshape == (None, 200, 200)
        for d in [ds, *g["observables"].values()]:
            assert d.compression == "gzip" and d.compression_opts == 4
            assert d.shuffle and d.fletcher32
        assert ds.id.get_num_chunks() == 3
        # "earliest" file format: superblock version 0, readable by HDF5 1.8
        assert f.id.get_create_plist().get_version()[0] == 0


# ---------------------------------------------------------------------------------------------
# self-description: bare h5py, the README's example, h5dump


def test_bare_h5py_finds_every_attribute(tmp_path):
    path = tmp_path / "s.h5"
    model = ld.Potts(L=3, q=3, T=1.0)
    name, s = _write(path, model, provenance=PROVENANCE)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == h5io.FORMAT_NAME
        assert f.attrs["schema_version"] == h5io.SCHEMA_VERSION
        assert f.attrs["created_by"] == f"latticediff {ld.__version__}"
        assert isinstance(f.attrs["created"], str)
        g = f[name]
        a = g.attrs
        for k in STRING_ATTRS:
            assert isinstance(a[k], str) and a[k], k
            t = a.get_id(k).get_type()
            assert isinstance(t, h5py.h5t.TypeStringID) and t.is_variable_str(), k
            assert t.get_cset() == h5py.h5t.CSET_UTF8, k
        for k in INT_ATTRS:
            assert a[k].dtype == np.int64 and a[k].shape == (), k
        assert a["lattice_shape"].dtype == np.int64 and list(a["lattice_shape"]) == [3, 3]
        parsed = {k: json.loads(a[k]) for k in JSON_ATTRS}
        assert parsed["model_params"] == {"model": "potts", "L": 3, "q": 3, "T": 1.0}
        assert parsed["seed"] == 2**70 + 5
        assert parsed["provenance"]["method"] == "wolff"
        assert a["encoding"] == "potts uint8 {0..2}" and a["axes"] == "sample,i,j"
        assert a["n_samples"] == 20 and a["schema_version"] == 1
        np.testing.assert_array_equal(g["samples"][...], s)
        assert sorted(g["observables"]) == ["energy", "magnetization"]
        # attributes never hold None-like empties, and every one is documented in the README
        doc = README.read_text()
        for k in list(a) + list(f.attrs):
            assert f"`{k}`" in doc, f"attribute {k} is not documented in data/README.md"


def _readme_block(marker: str, lang: str) -> str:
    text = README.read_text()
    i = text.index(marker)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, i)
    assert m, f"no ```{lang} block after {marker!r} in {README}"
    return m.group(1)


def test_readme_python_example_runs_without_latticediff(tmp_path):
    d = tmp_path
    _write(d / "samples.h5", ld.Ising(L=4, T=2.0), provenance=PROVENANCE, name="ising-a")
    for kind in ("potts", "loopgas", "chain"):
        m = MODELS[kind]()
        s = _random_samples(m, 5, np.random.default_rng(2))
        h5io.append_samples(d / "samples.h5", s, model=m, name=f"{kind}-b")
    code = _readme_block("<!-- tested: bare-h5py", "python")
    code += "\nimport sys\nassert 'latticediff' not in sys.modules\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=d, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == ["chain-b", "ising-a", "loopgas-b", "potts-b"]
    assert "ising {'L': 4, 'T': 2.0, 'h': 0.0, 'model': 'ising'} (20, 4, 4) int8" in lines[1]


def _h5dump():
    exe = shutil.which("h5dump")
    if exe is None:
        pytest.skip("h5dump not installed (apt-get install hdf5-tools)")
    return exe


def test_h5dump_reads_file_and_readme_shell_recipe(tmp_path):
    exe = _h5dump()
    path = tmp_path / "samples.h5"
    model = ld.LoopGas(L=4)
    name, s = _write(path, model, provenance=PROVENANCE)
    r = subprocess.run([exe, "-A", "-p", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "CHECKSUM FLETCHER32" in out and "COMPRESSION DEFLATE { LEVEL 4 }" in out
    assert "PREPROCESSING SHUFFLE" in out and "H5T_CSET_UTF8" in out
    for k in [*STRING_ATTRS, *INT_ATTRS, "lattice_shape", "format", "created_by"]:
        assert f'ATTRIBUTE "{k}"' in out, k
    # the README's shell recipe recomputes the content id from h5dump output alone
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not available")
    sh = _readme_block("From a shell:", "sh").replace("/NAME", f"/{name}")
    r = subprocess.run(["bash", "-c", sh], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == h5io.content_id(s, model=model)


# ---------------------------------------------------------------------------------------------
# corruption and foreign files


def _flip_chunk_bytes(path, dset: str, chunk: int):
    with h5py.File(path, "r") as f:
        info = f[dset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        pos = info.byte_offset + info.size // 2
        fh.seek(pos)
        b = fh.read(4)
        fh.seek(pos)
        fh.write(bytes(x ^ 0xFF for x in b))


def test_corrupted_sample_chunk_is_detected(tmp_path):
    path = tmp_path / "c.h5"
    model = ld.Ising(L=64, T=2.0)  # 64 samples per chunk -> 4 chunks
    name, _ = _write(path, model, n=200)
    with h5py.File(path, "r") as f:
        assert f[f"{name}/samples"].id.get_num_chunks() == 4
    _flip_chunk_bytes(path, f"{name}/samples", 2)
    for fn in (h5io.read_samples, h5io.validate_file):
        with pytest.raises(DataFileError, match="checksum mismatch \\(file corrupted\\)") as ei:
            fn(path)
        assert str(path) in str(ei.value) and repr(name) in str(ei.value)
    # metadata is intact: the file can still be listed and described
    assert h5io.list_datasets(path) == [name]
    assert name in h5io.describe(path)


def test_corrupted_observable_chunk_is_detected(tmp_path):
    path = tmp_path / "c.h5"
    name, _ = _write(path, ld.Ising(L=4, T=2.0), n=300)
    _flip_chunk_bytes(path, f"{name}/observables/energy", 0)
    with pytest.raises(DataFileError, match="checksum mismatch.*observables/energy"):
        h5io.validate_file(path)
    with pytest.raises(DataFileError, match="checksum mismatch"):
        h5io.read_samples(path)


def test_content_id_mismatch_is_detected(tmp_path):
    path = tmp_path / "c.h5"
    name, s = _write(path, ld.Ising(L=4, T=2.0))
    with h5py.File(path, "r+") as f:  # a valid rewrite (checksums recomputed), different data
        f[f"{name}/samples"][0, 0, 0] = -s[0, 0, 0]
    with pytest.raises(DataFileError, match="content id mismatch"):
        h5io.read_samples(path)
    with pytest.raises(DataFileError, match="content id mismatch"):
        h5io.validate_file(path)
    ss = h5io.read_samples(path, verify=False)
    assert ss.samples[0, 0, 0] == -s[0, 0, 0]


def test_out_of_encoding_values_are_detected(tmp_path):
    path = tmp_path / "c.h5"
    name, _ = _write(path, ld.Potts(L=3, q=3, T=1.0))
    with h5py.File(path, "r+") as f:
        f[f"{name}/samples"][4, 1, 2] = 7
    with pytest.raises(DataFileError, match=r"value 7 at index \(4, 1, 2\)"):
        h5io.validate_file(path)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        h5io.read_samples(tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not hdf5 at all\n")
    (tmp_path / "empty.h5").write_bytes(b"")
    for p in ("text.h5", "empty.h5"):
        for fn in (h5io.validate_file, h5io.read_samples, h5io.list_datasets, h5io.describe):
            with pytest.raises(DataFileError, match="not an HDF5 file"):
                fn(tmp_path / p)
    with pytest.raises(DataFileError, match="is a directory"):
        h5io.validate_file(tmp_path)


def test_foreign_hdf5_files(tmp_path):
    p = tmp_path / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["samples"] = np.zeros((3, 4, 4), np.int8)
    with pytest.raises(DataFileError, match="not a latticediff samples file.*missing"):
        h5io.validate_file(p)
    with h5py.File(p, "a") as f:
        f.attrs["format"] = "someone-else"
    with pytest.raises(DataFileError, match="'someone-else'"):
        h5io.read_samples(p)
    with pytest.raises(DataFileError, match="not a latticediff samples file"):
        h5io.append_samples(p, np.ones((1, 2), np.int8), model=ld.IsingChain(N=2, K=1.0))


def test_unsupported_schema_version(tmp_path):
    path = tmp_path / "v.h5"
    name, _ = _write(path, ld.Ising(L=4, T=2.0))
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = np.int64(2)
    with pytest.raises(DataFileError, match="unsupported schema version 2.*upgrade"):
        h5io.validate_file(path)
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = np.int64(1)
        f[name].attrs["schema_version"] = np.int64(3)
    with pytest.raises(DataFileError, match="unsupported schema version 3"):
        h5io.read_samples(path)


def test_shape_dtype_attrs_must_match_the_model(tmp_path):
    path = tmp_path / "m.h5"
    name, s = _write(path, ld.Ising(L=4, T=2.0))
    base = path.read_bytes()

    def tamper(fn):
        path.write_bytes(base)
        with h5py.File(path, "r+") as f:
            fn(f[name])

    tamper(lambda g: g.attrs.modify("model_params", '{"L":5,"T":2.0,"h":0.0,"model":"ising"}'))
    with pytest.raises(DataFileError, match="lattice_shape"):
        h5io.validate_file(path)

    def retype(g):
        del g["samples"]
        g["samples"] = s.astype(np.int16)

    tamper(retype)
    with pytest.raises(DataFileError, match="dtype int16.*needs int8"):
        h5io.read_samples(path)

    def reshape(g):
        del g["samples"]
        g["samples"] = np.ones((20, 16), np.int8)
        g.attrs["lattice_shape"] = np.array([16])

    tamper(reshape)
    with pytest.raises(DataFileError, match="lattice_shape"):
        h5io.validate_file(path)
    tamper(lambda g: g.attrs.modify("n_samples", np.int64(21)))
    with pytest.raises(DataFileError, match="n_samples = 21 but samples hold 20"):
        h5io.validate_file(path)
    tamper(lambda g: g.attrs.__delitem__("content_id"))
    with pytest.raises(DataFileError, match="required attribute 'content_id' is missing"):
        h5io.read_samples(path)
    tamper(lambda g: g.attrs.modify("model_params", '{"model": "ising", "L": 4'))
    with pytest.raises(DataFileError, match="'model_params' is not valid JSON"):
        h5io.read_samples(path)
    tamper(lambda g: g.attrs.modify("model_params", '{"model":"ising","L":4,"T":-1}'))
    with pytest.raises(DataFileError, match="not a valid model.*T must be"):
        h5io.read_samples(path)


# ---------------------------------------------------------------------------------------------
# atomic writes


def test_existing_file_is_not_overwritten(tmp_path):
    path = tmp_path / "x.h5"
    _write(path, ld.Ising(L=4, T=2.0), seed=1)
    before = path.read_bytes()
    with pytest.raises(h5io.DataFileExistsError, match="file exists.*overwrite=True") as ei:
        _write(path, ld.Ising(L=4, T=2.0), seed=2)
    assert isinstance(ei.value, FileExistsError) and isinstance(ei.value, DataFileError)
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == ["x.h5"]
    name, s = _write(path, ld.Potts(L=3, q=2, T=1.0), seed=3, overwrite=True)
    assert h5io.list_datasets(path) == [name]  # the whole file was replaced
    np.testing.assert_array_equal(h5io.read_samples(path).samples, s)
    assert _dir_listing(tmp_path) == ["x.h5"]


def test_file_created_by_a_racing_writer_is_not_replaced(tmp_path, monkeypatch):
    # Another process creates the file after our existence check: the hard-link commit refuses.
    path = tmp_path / "x.h5"
    _write(path, ld.Ising(L=4, T=2.0), seed=1)
    before = path.read_bytes()
    real = os.path.lexists
    monkeypatch.setattr(os.path, "lexists", lambda p: False if Path(p) == path else real(p))
    with pytest.raises(h5io.DataFileExistsError, match="file exists"):
        _write(path, ld.Ising(L=4, T=2.0), seed=2)
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["x.h5"]


def test_write_works_without_hard_links(tmp_path, monkeypatch):
    def no_link(*a):
        raise PermissionError(1, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_link)
    _write(tmp_path / "x.h5", ld.Ising(L=4, T=2.0))
    h5io.validate_file(tmp_path / "x.h5")
    assert _dir_listing(tmp_path) == ["x.h5"]


def _boom(*a, **k):
    raise RuntimeError("simulated failure mid-write")


@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_no_trace(tmp_path, monkeypatch, existing):
    path = tmp_path / "x.h5"
    if existing:
        _write(path, ld.Ising(L=4, T=2.0), seed=1)

    def state():
        return _dir_listing(tmp_path), path.read_bytes() if existing else None

    before = state()
    monkeypatch.setattr(h5io, "_write_observable", _boom)  # samples already written by then
    with pytest.raises(RuntimeError, match="simulated failure"):
        _write(path, ld.Ising(L=4, T=2.0), seed=2, overwrite=True)
    assert state() == before
    monkeypatch.undo()
    monkeypatch.setattr(h5io, "_fsync_path", _boom)  # fails once the new file is complete
    with pytest.raises(RuntimeError, match="simulated failure"):
        _write(path, ld.Ising(L=4, T=2.0), seed=3, overwrite=True)
    assert state() == before


def test_failed_append_leaves_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "x.h5"
    m = ld.Ising(L=4, T=2.0)
    name, s = _write(path, m, seed=1)
    before = path.read_bytes()
    monkeypatch.setattr(h5io, "_write_observable", _boom)  # new data set: samples written
    with pytest.raises(RuntimeError, match="simulated failure"):
        h5io.append_samples(path, s, model=m, observables=m.observables(s), name="new")
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["x.h5"]
    real = h5io._append_rows
    calls = []

    def append_then_fail(ds, values):  # extend: samples appended, observables not yet
        real(ds, values)
        calls.append(ds.name)
        if len(calls) == 2:
            _boom()

    monkeypatch.setattr(h5io, "_append_rows", append_then_fail)
    with pytest.raises(RuntimeError, match="simulated failure"):
        h5io.append_samples(path, s, model=m, observables=m.observables(s), name=name, extend=True)
    assert calls == [f"/{name}/samples", f"/{name}/observables/energy"]
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["x.h5"]
    monkeypatch.undo()
    monkeypatch.setattr(h5io, "_fsync_path", _boom)
    with pytest.raises(RuntimeError, match="simulated failure"):
        h5io.append_samples(path, s, model=m, name="new2")
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["x.h5"]
    monkeypatch.undo()
    h5io.append_samples(path, s, model=m, name="new3")
    assert h5io.list_datasets(path) == sorted([name, "new3"])


def test_invalid_input_writes_nothing(tmp_path):
    p = tmp_path / "x.h5"
    m = ld.Ising(L=3, T=1.0)
    ok = np.ones((2, 3, 3), np.int8)
    bad = [
        (dict(samples=ok.astype(np.int16)), "dtype int8"),
        (dict(samples=np.ones((2, 3, 4), np.int8)), r"shape \(n, 3, 3\)"),
        (dict(samples=np.ones((0, 3, 3), np.int8)), "at least one sample"),
        (dict(samples=np.zeros((2, 3, 3), np.int8)), r"value 0 at index \(0, 0, 0\)"),
        (dict(samples=[[1]]), "NumPy array"),
        (dict(observables={"e": np.zeros(3)}), r"'e' must have shape \(2,\)"),
        (dict(observables={"e": np.array(["a", "b"])}), "real numbers"),
        (dict(observables={"bad/name": np.zeros(2)}), "observable name"),
        (dict(name="a/b"), "data set name"),
        (dict(name=""), "data set name"),
        (dict(provenance={"x": object()}), r"provenance\['x'\] must be JSON-able"),
        (dict(provenance={1: 2}), "keys must be strings"),
        (dict(provenance={"burn_in": -5}), "burn_in"),
        (dict(provenance={"note": "x" * 70_000}), "'provenance' would be .* bytes"),
        (dict(model="ising"), "latticediff.systems model"),
    ]
    for kw, msg in bad:
        args = {"samples": ok, "model": m, **kw}
        with pytest.raises(ParameterError, match=msg):
            h5io.write_samples(p, args.pop("samples"), **args)
        assert _dir_listing(tmp_path) == [], kw
    with pytest.raises(DataFileError, match="does not exist"):
        h5io.write_samples(tmp_path / "no" / "x.h5", ok, model=m)


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import latticediff as ld
    from latticediff import h5io

    real = h5io._write_observable

    def slow(*a, **k):  # samples are written; stop here until killed
        real(*a, **k)
        print("MID", flush=True)
        time.sleep(60)

    h5io._write_observable = slow
    m = ld.Ising(L=128, T=2.0)
    s = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=(400, 128, 128))
    h5io.write_samples(sys.argv[1], s, model=m, observables={"e": np.zeros(400)}, overwrite=True)
    """
)


@pytest.mark.parametrize("existing", [False, True])
def test_sigkill_mid_write(tmp_path, existing):
    path = tmp_path / "big.h5"
    if existing:
        _write(path, ld.Ising(L=4, T=2.0))
        before = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "MID", proc.stderr.read()
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].name.startswith(".big.h5.")
        assert temps[0].stat().st_size > 1_000_000  # 6.5 MB of spins were written to it
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if existing:
        assert path.read_bytes() == before
        h5io.validate_file(path)
    else:
        assert not path.exists()
    # a stray temp file may remain after SIGKILL, but only under the temporary name
    assert all(p.name in ("big.h5", temps[0].name) for p in tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# several data sets per file, appending, extending


def test_multiple_data_sets(tmp_path):
    path = tmp_path / "scan.h5"
    written = {}
    for i, T in enumerate([1.5, 2.269, 3.0]):
        m = ld.Ising(L=4, T=T)
        s = _random_samples(m, 10 + i, np.random.default_rng(i))
        fn = h5io.write_samples if i == 0 else h5io.append_samples
        name = fn(path, s, model=m, name=f"T{T}", observables=m.observables(s))
        written[name] = (m, s)
    m = ld.LoopGas(L=3)
    written[h5io.append_samples(path, _random_samples(m, 4, np.random.default_rng(9)), model=m)] = (
        m,
        None,
    )
    names = h5io.list_datasets(path)
    assert names == sorted(written) and len(names) == 4
    for name, (m, s) in written.items():
        ss = h5io.read_samples(path, name)
        assert ss.model == m
        if s is not None:
            np.testing.assert_array_equal(ss.samples, s)
    with pytest.raises(ParameterError, match="holds 4 data sets; pass name= one of"):
        h5io.read_samples(path)
    with pytest.raises(ParameterError, match="no data set 'T9'"):
        h5io.read_samples(path, "T9")
    before = path.read_bytes()
    ising3 = ld.Ising(L=4, T=3.0)
    with pytest.raises(ParameterError, match="'T3.0' already exists"):
        h5io.append_samples(path, np.ones((1, 4, 4), np.int8), model=ising3, name="T3.0")
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["scan.h5"]
    h5io.validate_file(path)
    with h5py.File(path, "r") as f:
        assert "modified" in f.attrs
    text = h5io.describe(path)
    for name in names:
        assert f"[{name}]" in text


def test_extend_data_set(tmp_path):
    path = tmp_path / "e.h5"
    m = ld.Ising(L=4, T=2.0)
    prov = {"sampler": "wolff", "burn_in": 10, "thin": 2, "seed": 1}
    name, s1 = _write(path, m, n=15, seed=1, provenance=prov)
    s2 = _random_samples(m, 9, np.random.default_rng(5))
    prov2 = {**prov, "seed": 2}
    obs2 = m.observables(s2)
    got = h5io.append_samples(
        path, s2, model=m, name=name, observables=obs2, provenance=prov2, extend=True
    )
    assert got == name
    ss = h5io.read_samples(path)
    both = np.concatenate([s1, s2])
    np.testing.assert_array_equal(ss.samples, both)
    np.testing.assert_array_equal(ss.observables["energy"], m.energy(both))
    assert ss.attrs["content_id"] == h5io.content_id(both, model=m)
    assert ss.attrs["n_samples"] == 24 and ss.attrs["seed"] == 1  # top level: first write
    segs = ss.attrs["segments"]
    assert [(g["start"], g["stop"], g["provenance"]["seed"]) for g in segs] == [
        (0, 15, 1),
        (15, 24, 2),
    ]
    h5io.validate_file(path)
    before = path.read_bytes()
    refusals = [
        (dict(model=ld.Ising(L=4, T=2.5)), "holds Ising.*cannot extend"),
        (dict(provenance={**prov, "burn_in": 11}), "burn_in = 10.*new data set"),
        (dict(provenance={**prov, "sampler": "metropolis"}), "sampler = 'wolff'"),
        (dict(observables={}), "stores observables"),
        (dict(name="other"), "no data set 'other' to extend"),
    ]
    for kw, msg in refusals:
        args = {
            "model": m,
            "name": name,
            "observables": m.observables(s2),
            "provenance": prov,
            **kw,
        }
        with pytest.raises(ParameterError, match=msg):
            h5io.append_samples(path, s2, extend=True, **args)
        assert path.read_bytes() == before and _dir_listing(tmp_path) == ["e.h5"], kw
    with pytest.raises(ParameterError, match="needs the name"):
        h5io.append_samples(path, s2, model=m, extend=True)


def test_extend_refuses_corrupted_data_set(tmp_path):
    path = tmp_path / "e.h5"
    m = ld.Ising(L=4, T=2.0)
    name, s = _write(path, m, n=10, observables={})
    with h5py.File(path, "r+") as f:
        f[f"{name}/samples"][0, 0, 0] = -s[0, 0, 0]
    before = path.read_bytes()
    with pytest.raises(DataFileError, match="content id mismatch"):
        h5io.append_samples(path, s, model=m, name=name, extend=True)
    assert path.read_bytes() == before and _dir_listing(tmp_path) == ["e.h5"]


# ---------------------------------------------------------------------------------------------
# describe, laziness


def test_describe_summary(tmp_path):
    path = tmp_path / "d.h5"
    m = ld.Ising(L=4, T=2.0)
    name, s = _write(path, m, n=50, provenance=PROVENANCE)
    text = h5io.describe(path)
    e = m.energy(s)
    mean, err = e.mean(), e.std(ddof=1) / np.sqrt(e.size)
    for frag in [
        f"[{name}]",
        'ising {"L":4,"T":2.0,"h":0.0,"model":"ising"}',
        "50 x (4, 4) int8, periodic, encoding: spin int8 {-1,+1}",
        "sampler      wolff, burn_in 200, thin 3, seed 1180591620717411303429",
        '{"energy": 1.25, "magnetization": null}',
        h5io.content_id(s, model=m),
        f"energy           {mean:.6g} +- {err:.2g}",
        '"n_chains": 2',
        "1 data set\n",
    ]:
        assert frag in text, (frag, text)


def test_import_latticediff_does_not_import_h5py():
    code = "import sys, latticediff; assert 'h5py' not in sys.modules, 'h5py imported eagerly'"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
