"""Argument errors of the analysis scripts' command lines: one line, exit status 2, before any
work is done (argparse's ``error``)."""

import pytest

from ._scripts import load_script


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--clean-models", "potts"], "--clean-models takes ising and/or loopgas"),
        (["--steps", "100"], "--steps must be >= 1 and needs its own --out"),
        (["--steps", "0", "--out", "/tmp/never"], "--steps must be >= 1"),
        (["--null-correction"], "--null-correction needs its own --out"),
        (["--far-pool", "all"], "pools the rings beyond --ring-sums-beyond"),
    ],
)
def test_ising_markov_rejects_bad_options(argv, match, capsys):
    run = load_script("ising_markov/run.py")
    with pytest.raises(SystemExit) as exc:
        run.main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--L", "3"], "--L must be >= 4, got 3"),
        (["--L", "16", "--r-max", "8"], "--r-max must be in [1, 7] for L = 16"),
        (["--r-max", "0"], "--r-max must be in [1, 4] for L = 10"),
        (["--rule", "sideways:1"], "tolerance must be relative or absolute"),
        (["--grad-clip", "0"], "--grad-clip must be a finite number > 0"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_profiler_study_rejects_bad_options(argv, match, capsys):
    run = load_script("profiler/run.py")
    with pytest.raises(SystemExit) as exc:
        run.main(["--only", "loopgas", *argv, "--out", "/tmp/never_written"])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_parity_features_rejects_a_bad_device(capsys):
    run = load_script("loopgas_denoisers/parity_features.py")
    with pytest.raises(SystemExit) as exc:
        run.main(["--device", "tpu", "--out", "/tmp/never_written"])
    assert exc.value.code == 2
    assert "--device must be cpu or cuda, got 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--L", "3"], "--L must be >= 4 (the radius-1 pattern spans 3 sites), got 3"),
        (["--n", "100", "--n-plugin", "101"], "--n-plugin must lie in [2, --n = 100], got 101"),
        (["--confidence", "1"], "--confidence must lie in (0, 1), got 1.0"),
    ],
)
def test_loopgas_fano_rejects_bad_options(argv, match, capsys, tmp_path):
    run = load_script("ising_markov/loopgas_fano.py")
    with pytest.raises(SystemExit) as exc:
        run.main([*argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--mnist", "/nonexistent/mnist"], "--mnist /nonexistent/mnist is not a directory"),
        (["--t", "0", "0.5"], "--t values must lie in (0, 1), got [0.0, 0.5]"),
        (["--radius", "2", "1"], "--radius must be increasing integers in [1, 13], got [2, 1]"),
    ],
)
def test_mnist_surrogate_check_rejects_bad_options(argv, match, capsys, tmp_path):
    run = load_script("mnist_cmi/surrogate_check.py")
    with pytest.raises(SystemExit) as exc:  # an existing --mnist folder first, so --t is judged
        run.main(["--mnist", str(tmp_path), *argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
