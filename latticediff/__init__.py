"""latticediff: phases of data distributions and strictly local diffusion models on lattices.

``import latticediff as ld`` gives a flat namespace. It is light: NumPy only at import time;
Numba kernels, torch, h5py and matplotlib load on first use of the names that need them.

>>> import latticediff as ld
>>> ld.Ising(L=8, T=2.0)
Ising(L=8, T=2.0, h=0.0)
>>> round(ld.exact.ising_energy(2.0), 6)
-1.745565
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .errors import DataFileError, LatticeDiffError, ParameterError, SamplingWarning
from .systems import Ising, IsingChain, LoopGas, Potts, model_from_dict

# name -> module that defines it; resolved lazily so heavy dependencies load only when used.
_LAZY = {
    "sample": "latticediff.mc.front",
    "run_mc": "latticediff.mc.front",
    "MCResult": "latticediff.mc.front",
    "tau_int": "latticediff.mc.autocorr",
    "write_samples": "latticediff.h5io",
    "read_samples": "latticediff.h5io",
    "list_datasets": "latticediff.h5io",
    "validate_file": "latticediff.h5io",
    "append_samples": "latticediff.h5io",
    "describe": "latticediff.h5io",
    "SampleSet": "latticediff.h5io",
    "content_id": "latticediff.h5io",
    "BitFlip": "latticediff.noise",
    "UniformResample": "latticediff.noise",
    "GaussianPath": "latticediff.noise",
    "LocalDenoiser": "latticediff.nn.local",
    "GlobalDenoiser": "latticediff.nn.unet",
    "train_denoiser": "latticediff.nn.train",
    "evaluate_per_site_loss": "latticediff.nn.train",
    "predict_x0": "latticediff.nn.train",
    "save_model": "latticediff.nn.train",
    "load_model": "latticediff.nn.train",
    "estimate_cmi": "latticediff.info.cmi",
    "CMIEstimate": "latticediff.info.result",
    "fit_markov_length": "latticediff.info.markov",
    "MarkovFit": "latticediff.info.markov",
    "shell_mask": "latticediff.lattice",
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
    "neural_cmi_continuous": "latticediff.info.neural_continuous",
    "immse_cmi": "latticediff.info.immse",
    "GaussianField": "latticediff.exact.gaussian_field",
    "FidelityBound": "latticediff.exact.fidelity",
    "profile_locality": "latticediff.profiler",
    "LocalityProfile": "latticediff.profiler",
    "load_profile_data": "latticediff.profiler",
    "schedule_from_dict": "latticediff.profiler",
    "fidelity_bound_chain": "latticediff.exact.fidelity",
    "fidelity_bound_loopgas": "latticediff.exact.fidelity",
    "syndrome_cmi": "latticediff.info.syndrome",
    "loopgas_entropy": "latticediff.info.syndrome",
    "loopgas_log_prob": "latticediff.info.syndrome",
    "loopgas_regions": "latticediff.info.syndrome",
    "load_mnist": "latticediff.images",
    "load_images": "latticediff.images",
    "load_skimage_patches": "latticediff.images",
    "load_lfw_faces": "latticediff.images",
    "load_digits_images": "latticediff.images",
    "to_signed": "latticediff.images",
    "from_signed": "latticediff.images",
    "HybridSchedule": "latticediff.nn.sampling",
    "sample_discrete": "latticediff.nn.sampling",
    "sample_gaussian": "latticediff.nn.sampling",
    "ComputeReport": "latticediff.nn.sampling",
    "spin_quality": "latticediff.quality",
    "loopgas_quality": "latticediff.quality",
    "image_quality": "latticediff.quality",
    "compare_distributions": "latticediff.quality",
    "frechet_distance": "latticediff.quality",
    "run_sweep": "latticediff.sweep",
    "Task": "latticediff.sweep",
    "load_plan": "latticediff.sweep",
    "register_kind": "latticediff.sweep",
    "read_results": "latticediff.sweep",
    "PlanError": "latticediff.sweep",
    "TaskError": "latticediff.sweep",
}
_SUBMODULES = {
    "exact", "mc", "h5io", "noise", "nn", "info", "sweep", "plotting", "lattice", "images",
    "quality", "profiler",
}

__all__ = [
    "__version__",
    "Ising",
    "Potts",
    "LoopGas",
    "IsingChain",
    "model_from_dict",
    "LatticeDiffError",
    "ParameterError",
    "DataFileError",
    "SamplingWarning",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        mod = importlib.import_module(f"latticediff.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'latticediff' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
