"""Load an analysis script as a module (the scripts are not a package; pytest collects
``latticediff`` and ``tests`` only). Scripts guard ``main()`` with ``__name__ == "__main__"``,
so loading runs nothing but their definitions."""

import importlib.util
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"


def load_script(path):
    """The module of ``path``, absolute or relative to ``analysis/`` (e.g. "chain_cmi/run.py")."""
    path = Path(path)
    if not path.is_absolute():
        path = ANALYSIS / path
    name = f"_script_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
