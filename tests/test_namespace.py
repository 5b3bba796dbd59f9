"""The flat ``import latticediff as ld`` namespace: light, complete, documented."""

import subprocess
import sys

import pytest

import latticediff as ld


def test_import_is_light():
    code = (
        "import sys, latticediff as ld; ld.Ising(L=4, T=1.0); "
        "heavy = [m for m in ('torch', 'h5py', 'matplotlib', 'numba', 'scipy', 'dask') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", sorted(ld.__all__))
def test_public_names_resolve_and_have_docstrings(name):
    obj = getattr(ld, name)
    if name == "__version__":
        assert isinstance(obj, str)
        return
    assert (obj.__doc__ or "").strip(), f"ld.{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ld.nope  # noqa: B018
