"""The docstring examples of the analysis scripts run with the test suite (pytest collects
``latticediff`` and ``tests`` only). Every script under ``analysis/`` that has one is found by
its ``>>>`` prompt, so a new script's examples are checked without registering it here."""

import doctest
import importlib.util
from pathlib import Path

import pytest

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
SCRIPTS = sorted(p for p in ANALYSIS.glob("*/*.py") if ">>>" in p.read_text())


def test_scripts_with_examples_are_found():
    assert ANALYSIS / "ising_markov" / "run.py" in SCRIPTS


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_docstring_examples(path):
    spec = importlib.util.spec_from_file_location(f"_doctest_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # scripts guard main() with __name__ == "__main__"
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted > 0 and res.failed == 0, res
