"""The docstring examples of the analysis scripts run with the test suite (pytest collects
``latticediff`` and ``tests`` only). Every script under ``analysis/`` that has one is found by
its ``>>>`` prompt, so a new script's examples are checked without registering it here."""

import doctest

import pytest

from ._scripts import ANALYSIS, load_script

SCRIPTS = sorted(p for p in ANALYSIS.glob("*/*.py") if ">>>" in p.read_text())


def test_scripts_with_examples_are_found():
    assert ANALYSIS / "ising_markov" / "run.py" in SCRIPTS


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_docstring_examples(path):
    module = load_script(path)
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.attempted > 0 and res.failed == 0, res
