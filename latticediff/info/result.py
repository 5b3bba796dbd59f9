"""The value type every CMI estimator returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CMIEstimate:
    """An estimate of I(A:C|B) in nats with its standard error, never clipped.

    ``value`` may be slightly negative for a finite-sample estimate of a quantity that is 0;
    it is reported as measured. ``details`` holds estimator-specific numbers (the entropies that
    were differenced, sample counts, the bias correction applied, ...), JSON-able.

    >>> e = CMIEstimate(value=0.0123, stderr=0.0004, method="exact", radius=2)
    >>> print(e)
    I(A:C|B) = 0.0123 ± 0.0004 nats (method=exact, r=2)
    """

    value: float
    stderr: float
    method: str
    radius: int
    n_samples: int | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if not math.isfinite(self.value):
            raise ValueError(f"CMIEstimate: value must be finite, got {self.value}")
        if not (self.stderr >= 0):
            raise ValueError(f"CMIEstimate: stderr must be >= 0, got {self.stderr}")

    def __str__(self) -> str:
        return (
            f"I(A:C|B) = {self.value:.4g} ± {self.stderr:.2g} nats "
            f"(method={self.method}, r={self.radius})"
        )

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "method": self.method,
            "radius": self.radius,
            "n_samples": self.n_samples,
            "details": self.details,
        }
