"""Information analysis: CMI estimators behind one front door, and Markov-length fits.

``estimate_cmi(samples, *, radius, method, ...)`` returns a :class:`CMIEstimate` (nats, with a
standard error, never clipped); :func:`fit_markov_length` turns CMI values against the radius
into a Markov length with a stated fit window. Names resolve lazily, so importing this package
costs nothing until an estimator is used.

>>> from latticediff import info
>>> round(info.estimate_cmi(None, radius=3, method="chain", K=1.0, p=0.1).value, 7)
0.0006148
"""

from __future__ import annotations

import importlib

from .result import CMIEstimate

# name -> module that defines it
_LAZY = {
    "estimate_cmi": "latticediff.info.cmi",
    "exact_cmi": "latticediff.info.cmi",
    "walsh_hadamard": "latticediff.info.cmi",
    "apply_bitflip_noise": "latticediff.info.cmi",
    "METHODS": "latticediff.info.cmi",
    "plugin_cmi": "latticediff.info.plugin",
    "entropy_from_counts": "latticediff.info.plugin",
    "fano_cmi_bound": "latticediff.info.fano",
    "fano_entropy_bound": "latticediff.info.fano",
    "FanoBound": "latticediff.info.fano",
    "fit_markov_length": "latticediff.info.markov",
    "MarkovFit": "latticediff.info.markov",
    "syndrome_cmi": "latticediff.info.syndrome",
    "neural_cmi_continuous": "latticediff.info.neural_continuous",
    "neural_cmi_continuous_profile": "latticediff.info.neural_continuous",
    "immse_cmi": "latticediff.info.immse",
    "immse_cmi_profile": "latticediff.info.immse",
    "find_crossing": "latticediff.info.scaling",
    "crossings": "latticediff.info.scaling",
    "peak_location": "latticediff.info.scaling",
    "fit_log_drift": "latticediff.info.scaling",
    "collapse_fit": "latticediff.info.scaling",
    "binder_cumulant": "latticediff.info.scaling",
    "Crossing": "latticediff.info.scaling",
    "Peak": "latticediff.info.scaling",
    "DriftFit": "latticediff.info.scaling",
    "CollapseFit": "latticediff.info.scaling",
}

__all__ = ["CMIEstimate", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'latticediff.info' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
