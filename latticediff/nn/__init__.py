"""Torch side of latticediff: strictly local and global denoisers, training, model folders.

Importing this subpackage imports torch; ``import latticediff`` alone does not.

>>> from latticediff.nn import LocalDenoiser
>>> LocalDenoiser(3, 1, 2, hidden=8).receptive_radius
3
"""

from .local import LocalDenoiser, pad_lattice, split_logits
from .sampling import (
    ComputeReport,
    HybridSchedule,
    ModelCost,
    Segment,
    default_times,
    sample_discrete,
    sample_gaussian,
)
from .train import (
    PerSiteLoss,
    TrainHistory,
    encode_input,
    evaluate_per_site_loss,
    input_channels,
    load_model,
    model_from_config,
    output_channels,
    predict_x0,
    save_model,
    train_denoiser,
)
from .unet import GlobalDenoiser

__all__ = [
    "LocalDenoiser",
    "GlobalDenoiser",
    "pad_lattice",
    "split_logits",
    "train_denoiser",
    "evaluate_per_site_loss",
    "predict_x0",
    "encode_input",
    "input_channels",
    "output_channels",
    "save_model",
    "load_model",
    "model_from_config",
    "TrainHistory",
    "PerSiteLoss",
    "HybridSchedule",
    "Segment",
    "ComputeReport",
    "ModelCost",
    "default_times",
    "sample_discrete",
    "sample_gaussian",
]
