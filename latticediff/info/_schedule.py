"""Learning-rate schedule shared by the neural CMI estimators (no torch needed)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, steps: int, lr: float) -> float:
    """Learning rate at ``step`` of ``steps``: a linear warm-up over the first 5 % (at least one
    step), then cosine decay to 0.

    >>> [round(warmup_cosine(s, 40, 1.0), 3) for s in (0, 1, 2, 21, 39)]
    [0.5, 1.0, 1.0, 0.5, 0.002]
    """
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    return 0.5 * lr * (1.0 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))
