"""The CLI, tested in-process: one-line errors with exit status 2, nothing overwritten."""

import json

import h5py
import pytest

from latticediff._cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["sample", "ising", "--L", "8", "--T", "-1", "--n", "5", "--seed", "1"],
         "T must be a finite number > 0, got -1.0"),
        (["sample", "loopgas", "--L", "8", "--x", "1.5", "--n", "5", "--seed", "1"],
         "x must be in (0.0, 1.0], got 1.5"),
        (["sample", "ising", "--L", "1", "--T", "2", "--n", "5", "--seed", "1"],
         "L must be >= 2, got 1"),
        (["sample", "ising", "--L", "8", "--T", "2", "--n", "0", "--seed", "1"],
         "n_samples must be an integer >= 1, got 0"),
        (["sample", "xy", "--L", "8", "--T", "2", "--n", "5", "--seed", "1"],
         "unknown model 'xy'; known models: ising, potts, loopgas, chain"),
        (["sample", "potts", "--L", "8", "--T", "2", "--n", "5", "--seed", "1"],
         "model 'potts' needs --q"),
        (["sample", "ising", "--L", "8", "--T", "2", "--n", "5"], "required: --seed"),
        (["sample", "ising", "--L", "7", "--T", "2", "--n", "5", "--seed", "1",
          "--method", "multispin"], "even"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, tmp_path, argv, needle):
    code, out, err = _run(capsys, *argv, "-o", str(tmp_path / "x.h5"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("latticediff: error:")
    assert needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.h5").exists()


def test_sample_then_info_then_refuse_overwrite(capsys, tmp_path):
    f = tmp_path / "ising.h5"
    args = ["sample", "ising", "--L", "8", "--T", "3.0", "--n", "50", "--seed", "3",
            "--burn-in", "50", "--thin", "5", "--quiet", "-o", str(f)]
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    assert "wrote 50 samples" in out
    with h5py.File(f, "r") as h:
        (name,) = list(h)
        assert h[name]["samples"].shape == (50, 8, 8)
        assert json.loads(h[name].attrs["model_params"])["T"] == 3.0
    before = f.read_bytes()
    code, out, err = _run(capsys, *args)
    assert code == 2 and "use --force" in err
    assert f.read_bytes() == before
    code, out, err = _run(capsys, "info", str(f), "--verify")
    assert code == 0 and "ising" in out
    code, out, err = _run(capsys, *args[:-2], "--seed", "4", "--append", "--name", "second",
                          "-o", str(f))
    assert code == 0, err
    with h5py.File(f, "r") as h:
        assert len(h) == 2


def test_info_on_foreign_and_missing_files(capsys, tmp_path):
    code, _, err = _run(capsys, "info", str(tmp_path / "missing.h5"))
    assert code == 2 and err.count("\n") == 1
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h:
        h["x"] = [1, 2, 3]
    code, _, err = _run(capsys, "info", str(foreign))
    assert code == 2 and "latticediff" in err
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    code, _, err = _run(capsys, "info", str(text))
    assert code == 2


def test_exact_commands(capsys):
    code, out, _ = _run(capsys, "exact", "ising", "--T", "2.0", "3.0", "--L", "16", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and rows[0]["L"] == 16
    code, out, _ = _run(capsys, "exact", "critical")
    assert code == 0 and "0.1092" in out
    code, _, err = _run(capsys, "exact", "ising")
    assert code == 2 and "--T" in err
