"""Shared test settings.

Statistical tests use fixed seeds and 3-4 sigma tolerances, so they are deterministic; a failure
means the code changed, not bad luck.
"""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "datasets" / "mnist"


@pytest.fixture
def mnist_dir():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST test set not found at {MNIST_DIR}")
    return MNIST_DIR
