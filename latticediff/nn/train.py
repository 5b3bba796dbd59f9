"""Training and evaluation of denoisers along a forward process; model folders on disk.

- :func:`train_denoiser`: cross-entropy (discrete processes) or MSE (Gaussian paths) with AdamW.
  Each step ``k`` draws its batch indices, times and noise on the CPU from a NumPy generator
  seeded by ``(seed, k)``, so a run is deterministic under its seed, does not depend on the
  device, and a run resumed from a checkpoint ends with the same weights as an uninterrupted one.
- :func:`evaluate_per_site_loss`: held-out per-site loss (nats for cross-entropy) at fixed
  times, with a standard error over samples; the noise depends only on ``(seed, t index, batch)``
  so two models evaluated with the same seed see the same noisy inputs (paired differences).
- :func:`predict_x0`: a trained model's per-site ``P(x_0 | x_t)`` (discrete, ready for
  ``process.posterior_step``) or x0 estimate (Gaussian, ready for ``euler_step``/``ddpm_step``).
- :func:`save_model` / :func:`load_model`: ``models/<name>-<id>/`` with ``config.json``,
  ``card.md`` and ``weights.pt`` (DESIGN.md §3); the id is a content hash of the config.

How data meet the network (see :func:`encode_input`): ±1 spins enter as ±1, {0, 1} bits as ±1,
q-state data as one-hot channels (``q * C`` input channels, layout ``k * C + c``); real data as
they are. The network is conditioned on ``process.time_feature(t)`` in [0, 1].

Example
-------
>>> import numpy as np
>>> from latticediff.noise import BitFlip
>>> from latticediff.nn import LocalDenoiser, train_denoiser, evaluate_per_site_loss
>>> data = np.ones((64, 1, 6, 6), np.int8)        # a trivially learnable data set
>>> bf = BitFlip(gamma=1.0)
>>> net = LocalDenoiser(1, 1, 2, hidden=8, depth=2, seed=0)
>>> hist = train_denoiser(net, data, bf, steps=30, batch_size=16, lr=1e-2, seed=0, progress=False)
>>> bool(hist.losses[-5:].mean() < hist.losses[:5].mean())
True
>>> res = evaluate_per_site_loss(net, data, bf, [0.05], seed=1)
>>> res.mean.shape, bool(res.stderr[0] >= 0)
((1,), True)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataFileError, ParameterError
from ..noise import GaussianPath, _check_prediction, _Discrete
from .local import LocalDenoiser, split_logits
from .unet import GlobalDenoiser

__all__ = [
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
    "CHECKPOINT_NAME",
]

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_CLASSES = {"LocalDenoiser": LocalDenoiser, "GlobalDenoiser": GlobalDenoiser}


# ----------------------------------------------------------------------------------------------
# data <-> network


def _is_discrete(process) -> bool:
    if isinstance(process, _Discrete):
        return True
    if isinstance(process, GaussianPath):
        return False
    raise ParameterError(
        f"process must be a BitFlip, UniformResample or GaussianPath, got {type(process).__name__}"
    )


def input_channels(process, channels: int) -> int:
    """Network input channels for data with ``channels`` channels under ``process``.

    >>> from latticediff.noise import UniformResample, BitFlip
    >>> input_channels(UniformResample(q=3), 1), input_channels(BitFlip(), 2)
    (3, 2)
    """
    if _is_discrete(process) and process.n_classes > 2:
        return process.n_classes * channels
    return channels


def output_channels(process, channels: int) -> int:
    """Network output channels: ``n_classes * channels`` logits (discrete) or ``channels``.

    >>> from latticediff.noise import BitFlip, GaussianPath
    >>> output_channels(BitFlip(), 2), output_channels(GaussianPath(), 1)
    (4, 1)
    """
    return process.n_classes * channels if _is_discrete(process) else channels


def encode_input(x_t: np.ndarray, process) -> torch.Tensor:
    """Noisy data ``(n, C, *shape)`` as the float32 network input (see module docstring).

    >>> import numpy as np
    >>> from latticediff.noise import BitFlip
    >>> encode_input(np.array([[[0, 1]]], np.uint8), BitFlip()).tolist()
    [[[-1.0, 1.0]]]
    """
    if not _is_discrete(process):
        return torch.from_numpy(np.ascontiguousarray(x_t, dtype=np.float32))
    idx = process.to_index(x_t)
    K = process.n_classes
    if K == 2:
        return torch.from_numpy((2.0 * idx - 1.0).astype(np.float32))
    onehot = (idx[:, None] == np.arange(K).reshape((1, K) + (1,) * (idx.ndim - 1))).astype(
        np.float32
    )  # (n, K, C, *shape)
    return torch.from_numpy(onehot.reshape((idx.shape[0], K * idx.shape[1]) + idx.shape[2:]))


def _check_model_data(model, data, process) -> tuple[np.ndarray, bool]:
    discrete = _is_discrete(process)
    if not isinstance(data, np.ndarray):
        raise ParameterError(
            f"data must be a NumPy array (n, C, *shape), got {type(data).__name__}"
        )
    dim = getattr(model, "dim", None)
    if dim is None:
        raise ParameterError("model must be a LocalDenoiser, GlobalDenoiser or have .dim")
    if data.ndim != dim + 2 or data.shape[0] < 1:
        raise ParameterError(
            f"data must have shape (n, C, {', '.join(['L'] * dim)}) for a dim={dim} model, "
            f"got {data.shape}"
        )
    C = data.shape[1]
    cin, cout = input_channels(process, C), output_channels(process, C)
    if model.in_channels != cin or model.out_channels != cout:
        raise ParameterError(
            f"model has in/out channels ({model.in_channels}, {model.out_channels}); data with "
            f"C={C} under {type(process).__name__} need ({cin}, {cout})"
        )
    if discrete:
        process.to_index(data)  # validates dtype and values, names the bad value
        if model.prediction != "logits":
            raise ParameterError(
                f"discrete processes need prediction='logits', got {model.prediction!r}"
            )
    else:
        if data.dtype.kind not in "fiu":
            raise ParameterError(f"Gaussian paths need real data, got dtype {data.dtype}")
        _check_prediction(model.prediction)
    return data, discrete


def _resolve_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ParameterError(f"device must be 'cpu', 'cuda', 'cuda:<i>' or None, got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} but CUDA is not available; use 'cpu' or None")
    return torch.device(device)


def _cond(model, process, t: np.ndarray, device) -> torch.Tensor | None:
    if getattr(model, "embed", None) is None:
        return None
    c = np.array(np.broadcast_to(process.time_feature(t), t.shape), dtype=np.float32)
    return torch.from_numpy(c).to(device)


def _per_sample_loss(model, process, discrete, out, x0, z, t, x_t, loss="native"):
    """Per-sample mean over sites and channels of the loss (torch tensor (n,))."""
    n = out.shape[0]
    if discrete:
        target = torch.from_numpy(process.to_index(x0)).to(out.device)
        ce = F.cross_entropy(split_logits(out, process.n_classes), target, reduction="none")
        return ce.reshape(n, -1).mean(dim=1)
    if loss == "x0":
        pred = process.to_x0(model.prediction, out.detach().cpu().double().numpy(), x_t, t)
        err = (pred - np.asarray(x0, dtype=np.float64)) ** 2
        return torch.from_numpy(err.reshape(n, -1).mean(axis=1))
    target = process.target(model.prediction, x0, z, t)
    target = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).to(out.device)
    return ((out - target) ** 2).reshape(n, -1).mean(dim=1)


def _noise(process, discrete, x0, t, rng):
    if discrete:
        return process.sample(x0, t, rng), None
    return process.sample(x0, t, rng)


# ----------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainHistory:
    """What :func:`train_denoiser` returns.

    ``losses``: mean training loss of every step from 0 to ``steps`` (restored from the
    checkpoint when resumed); ``wall_s`` and ``sites_per_s`` (lattice sites of clean samples
    processed per second) refer to the steps run in this call; ``start_step`` is where this call
    began (non-zero after a resume).
    """

    losses: np.ndarray
    steps: int
    start_step: int
    wall_s: float
    sites_per_s: float
    device: str


def _t_batch(t_sampler, process, rng, n) -> np.ndarray:
    if t_sampler is None:
        return process.default_t(n, rng)
    if isinstance(t_sampler, int | float | np.integer | np.floating) and not isinstance(
        t_sampler, bool
    ):
        return np.full(n, float(t_sampler))
    t = np.asarray(t_sampler(rng, n), dtype=np.float64)
    if t.shape != (n,):
        raise ParameterError(f"t_sampler(rng, n) must return shape ({n},), got {t.shape}")
    return t


def _sampler_id(t_sampler) -> str:
    if t_sampler is None:
        return "default"
    if callable(t_sampler):
        return "callable:" + getattr(t_sampler, "__qualname__", type(t_sampler).__qualname__)
    return repr(float(t_sampler))


def _arch(model) -> dict | str:
    """The model's architecture (its config without the init seed, which a resume overrides)."""
    if not hasattr(model, "config"):
        return type(model).__name__
    cfg = model.config()
    return {**cfg, "kwargs": {k: v for k, v in cfg["kwargs"].items() if k != "seed"}}


def _fingerprint(data: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{data.shape}{data.dtype.str}".encode())
    h.update(np.ascontiguousarray(data).view(np.uint8).reshape(-1).data)
    return h.hexdigest()


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_denoiser(
    model: torch.nn.Module,
    data: np.ndarray,
    process,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | None = "cpu",
    t_sampler: float | Callable | None = None,
    weight_decay: float = 1e-2,
    grad_clip: float | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainHistory:
    """Train ``model`` in place to denoise ``data`` along ``process``; returns a TrainHistory.

    Parameters
    ----------
    model : LocalDenoiser or GlobalDenoiser
        Built for this data: ``in_channels = input_channels(process, C)``,
        ``out_channels = output_channels(process, C)``; ``prediction="logits"`` for discrete
        processes, "x0"/"eps"/"v" for Gaussian paths. Moved to ``device``.
    data : ndarray (n, C, *shape)
        Clean samples: int8 ±1 spins, uint8 bits, uint8 q-state values, or real values.
    process : BitFlip, UniformResample or GaussianPath
    steps : total number of optimisation steps (including those done before a resume).
    batch_size, lr, weight_decay : AdamW settings (constant learning rate).
    grad_clip : None (default) or a number > 0: the gradient's global norm is clipped to it
        before each step (``torch.nn.utils.clip_grad_norm_``). At a constant learning rate a
        rare large gradient can throw a trained network into a dead state (measured: a loop-gas
        U-Net at L = 16 trained to 0.455 nats per edge for 3600 steps, then jumped to 9.3 and
        stayed at ln 2, the uniform prediction); clipping bounds each step.
    seed : the whole run's randomness (batch indices, times, noise) derives from (seed, step).
        Parameter initialisation is the model's own (build it with ``seed=``).
    device : "cpu" (default), "cuda", or None for CUDA when available. Noise is always drawn
        on the CPU.
    t_sampler : None (``process.default_t``: the whole path), a number (train at one fixed t,
        e.g. for an unconditional model), or a callable ``(rng, n) -> t array``.
    checkpoint_dir, checkpoint_every : save ``checkpoint_dir/checkpoint.pt`` (weights,
        optimizer, step, loss history, torch RNG state, and the run's settings) every
        ``checkpoint_every`` steps (default: ``max(1, steps // 10)``) and at the end; written to
        a temporary name and renamed.
    resume : continue from ``checkpoint_dir/checkpoint.pt`` if it exists (its settings must
        match; ``steps`` may be larger). Without resume an existing checkpoint is an error.
    progress : show a tqdm progress bar.

    Training uses deterministic algorithms (``torch.use_deterministic_algorithms``, restored
    afterwards), so two runs with the same seed on the CPU give identical weights.
    """
    from tqdm.auto import tqdm

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ParameterError(f"steps must be an integer >= 0, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ParameterError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(weight_decay, int | float) and weight_decay >= 0):
        raise ParameterError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be an integer >= 0, got {seed!r}")
    if grad_clip is not None and not (
        isinstance(grad_clip, int | float)
        and not isinstance(grad_clip, bool)
        and math.isfinite(grad_clip)
        and grad_clip > 0
    ):
        raise ParameterError(f"grad_clip must be None or a finite number > 0, got {grad_clip!r}")
    data, discrete = _check_model_data(model, data, process)
    if getattr(model, "embed", None) is None and (t_sampler is None or callable(t_sampler)):
        raise ParameterError(
            "the model has no time embedding (t_embedding=None): train it at one fixed time, "
            "t_sampler=<number>"
        )
    if resume and checkpoint_dir is None:
        raise ParameterError("resume=True needs a checkpoint_dir")
    if checkpoint_every is None:
        checkpoint_every = max(1, steps // 10)
    if (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, int)
        or (checkpoint_every < 1)
    ):
        raise ParameterError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")
    dev = _resolve_device(device)
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    meta = {
        "seed": int(seed),
        "batch_size": batch_size,
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "grad_clip": None if grad_clip is None else float(grad_clip),
        "model": _arch(model),
        "process": process.to_dict(),
        "t_sampler": _sampler_id(t_sampler),
        "data": _fingerprint(data),
    }
    losses = np.full(steps, np.nan)
    start = 0
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME
        if ckpt.exists() and not resume:
            raise ParameterError(
                f"checkpoint {ckpt} exists: pass resume=True to continue it, or use another "
                "checkpoint_dir"
            )
        if ckpt.exists():
            # Load on the CPU: load_state_dict copies into the model's device, and the optimizer
            # moves its state to its parameters' device.
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
            saved = json.loads(state["meta"])
            for key, value in meta.items():
                if saved.get(key) != value:
                    raise ParameterError(
                        f"cannot resume {ckpt}: {key} was {saved.get(key)!r}, now {value!r}"
                    )
            start = int(state["step"])
            if start > steps:
                raise ParameterError(f"checkpoint {ckpt} is at step {start} > steps={steps}")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            losses[:start] = state["losses"].numpy()[:start]
        ckpt.parent.mkdir(parents=True, exist_ok=True)

    def save(step):
        _atomic_torch_save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "losses": torch.from_numpy(losses[:step].copy()),
                "torch_rng": torch.get_rng_state(),
                "meta": json.dumps(meta, sort_keys=True),
            },
            ckpt,
        )

    n = data.shape[0]
    sites = math.prod(data.shape[2:])
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    model.train()
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, disable=not progress, desc="train", leave=False)
    try:
        for step in range(start, steps):
            rng = np.random.default_rng([int(seed), step])
            idx = rng.integers(0, n, size=batch_size)
            x0 = data[idx]
            t = _t_batch(t_sampler, process, rng, batch_size)
            x_t, z = _noise(process, discrete, x0, t, rng)
            out = model(encode_input(x_t, process).to(dev), _cond(model, process, t, dev))
            loss = _per_sample_loss(model, process, discrete, out, x0, z, t, x_t).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(grad_clip))
            opt.step()
            losses[step] = float(loss.detach())
            bar.update(1)
            if progress and (step % 10 == 0 or step == steps - 1):
                bar.set_postfix(loss=f"{losses[step]:.4f}")
            if ckpt is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                save(step + 1)
        if ckpt is not None and start == steps:
            save(steps)
    finally:
        bar.close()
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    wall = time.perf_counter() - t0
    ran = steps - start
    return TrainHistory(
        losses=losses,
        steps=steps,
        start_step=start,
        wall_s=wall,
        sites_per_s=(ran * batch_size * sites / wall) if ran and wall > 0 else float("nan"),
        device=str(dev),
    )


# ----------------------------------------------------------------------------------------------
# evaluation and prediction


@dataclass(frozen=True)
class PerSiteLoss:
    """Held-out per-site loss at each time: ``mean[i] ± stderr[i]`` at ``t[i]``.

    ``per_sample[i, j]`` is the loss of sample j averaged over its sites and channels (nats for
    cross-entropy), so differences between models evaluated with the same seed can be paired.
    ``stderr`` is the standard error over samples (they are assumed independent).
    """

    t: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    per_sample: np.ndarray
    loss: str

    def to_dict(self) -> dict:
        """JSON-able summary (without per-sample values)."""
        return {
            "t": self.t.tolist(),
            "mean": self.mean.tolist(),
            "stderr": self.stderr.tolist(),
            "n_samples": int(self.per_sample.shape[1]),
            "loss": self.loss,
        }


def evaluate_per_site_loss(
    model: torch.nn.Module,
    data: np.ndarray,
    process,
    ts: Sequence[float],
    *,
    seed: int = 0,
    batch_size: int = 256,
    device: str | None = "cpu",
    loss: str = "native",
) -> PerSiteLoss:
    """Per-site held-out loss of ``model`` on clean ``data`` noised at each time in ``ts``.

    Discrete processes: cross-entropy of the clean value in nats. Gaussian paths:
    ``loss="native"`` is the training MSE of the model's prediction ("x0", "eps" or "v"),
    ``loss="x0"`` the MSE of the implied x0 estimate (comparable across prediction kinds).
    The noise for time index i and batch b comes from ``np.random.default_rng([seed, i, b])``:
    every model evaluated with the same seed, data and batch_size sees the same noisy inputs.
    """
    data, discrete = _check_model_data(model, data, process)
    if loss not in ("native", "x0"):
        raise ParameterError(f"loss must be 'native' or 'x0', got {loss!r}")
    if discrete and loss != "native":
        raise ParameterError("loss='x0' is for Gaussian paths; discrete models use cross-entropy")
    ts = np.atleast_1d(np.asarray(ts, dtype=np.float64))
    if ts.ndim != 1 or ts.size == 0:
        raise ParameterError(f"ts must be a non-empty 1D list of times, got shape {ts.shape}")
    dev = _resolve_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    n = data.shape[0]
    per = np.empty((ts.size, n))
    try:
        with torch.no_grad():
            for i, tv in enumerate(ts):
                for b, lo in enumerate(range(0, n, batch_size)):
                    rng = np.random.default_rng([int(seed), i, b])
                    x0 = data[lo : lo + batch_size]
                    t = np.full(x0.shape[0], tv)
                    x_t, z = _noise(process, discrete, x0, t, rng)
                    out = model(encode_input(x_t, process).to(dev), _cond(model, process, t, dev))
                    ls = _per_sample_loss(model, process, discrete, out, x0, z, t, x_t, loss)
                    per[i, lo : lo + x0.shape[0]] = ls.double().cpu().numpy()
    finally:
        model.train(was_training)
    se = per.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.full(ts.size, np.nan)
    return PerSiteLoss(t=ts, mean=per.mean(axis=1), stderr=se, per_sample=per, loss=loss)


def predict_x0(
    model: torch.nn.Module,
    x_t: np.ndarray,
    t,
    process,
    *,
    device: str | None = "cpu",
    batch_size: int = 256,
) -> np.ndarray:
    """The model's estimate of the clean data at (x_t, t), in the form reverse steps take.

    Discrete: float64 probabilities ``P(x_0 = k | x_t)`` of shape ``x_t.shape + (K,)`` (class
    axis last), for ``process.posterior_step`` / ``sample_posterior``. Gaussian: the x0 estimate
    (converted from the model's eps or v prediction), dtype of x_t (float64 for integer input).
    ``t`` is a scalar or one value per sample.
    """
    discrete = _is_discrete(process)
    x_t = np.asarray(x_t)
    if x_t.ndim != model.dim + 2:
        raise ParameterError(f"x_t must have shape (n, C, *shape), got {x_t.shape}")
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), (x_t.shape[0],))
    dev = _resolve_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    outs = []
    try:
        with torch.no_grad():
            for lo in range(0, x_t.shape[0], batch_size):
                xb, tb = x_t[lo : lo + batch_size], t[lo : lo + batch_size]
                out = model(encode_input(xb, process).to(dev), _cond(model, process, tb, dev))
                if discrete:
                    p = torch.softmax(split_logits(out, process.n_classes).double(), dim=1)
                    outs.append(torch.movedim(p, 1, -1).cpu().numpy())
                else:
                    pred = out.double().cpu().numpy()
                    outs.append(process.to_x0(model.prediction, pred, xb, tb))
    finally:
        model.train(was_training)
    res = np.concatenate(outs, axis=0)
    if discrete:
        return res
    return res.astype(x_t.dtype if x_t.dtype.kind == "f" else np.float64, copy=False)


# ----------------------------------------------------------------------------------------------
# model folders

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def model_from_config(cfg: dict) -> torch.nn.Module:
    """Build an (untrained) model from ``model.config()``.

    >>> net = LocalDenoiser(2, 1, 2, hidden=4, seed=1)
    >>> type(model_from_config(net.config())).__name__
    'LocalDenoiser'
    """
    cls = MODEL_CLASSES.get(cfg.get("class"))
    if cls is None:
        raise ParameterError(f"model class must be one of {tuple(MODEL_CLASSES)}, got {cfg!r}")
    return cls(**cfg["kwargs"])


def _canonical(obj) -> str:
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"config must be JSON-serialisable (no NaN/inf): {e}") from None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_model(
    model: torch.nn.Module,
    folder: str | os.PathLike,
    config: dict,
    card_text: str,
    *,
    metrics: dict | None = None,
) -> Path:
    """Write ``<folder>/<name>-<id>/`` with ``config.json``, ``card.md``, ``weights.pt``
    (and ``metrics.json`` when given); returns that path.

    ``name`` is ``config["name"]`` (letters, digits, ``_.-``; default the model class in lower
    case). The stored config is ``{"name", "model": model.config(), **config}`` plus its ``id``,
    the first 12 hex digits of the SHA-256 of that config's canonical JSON, so the same config
    always lands in the same folder. Files are written to temporary names and renamed.

    >>> import tempfile
    >>> net = LocalDenoiser(1, 1, 2, hidden=4, seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_model(net, d, {"name": "demo", "radius": 1}, "A demo model.")
    ...     sorted(f.name for f in p.iterdir()), p.name.startswith("demo-")
    (['card.md', 'config.json', 'weights.pt'], True)
    """
    if not isinstance(config, dict):
        raise ParameterError(f"config must be a dict, got {type(config).__name__}")
    name = config.get("name", type(model).__name__.lower())
    if not isinstance(name, str) or not _NAME.match(name):
        raise ParameterError(
            f"config['name'] must be letters, digits, '_', '.', '-' (no path separators), "
            f"got {name!r}"
        )
    if "id" in config:
        raise ParameterError("config must not contain 'id' (it is the content hash)")
    full = {**config, "name": name, "model": model.config()}
    model_id = hashlib.sha256(_canonical(full).encode()).hexdigest()[:12]
    out = Path(folder) / f"{name}-{model_id}"
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _atomic_torch_save(state, out / "weights.pt")
    if metrics is not None:
        _atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    _atomic_write_text(out / "card.md", card_text if card_text.endswith("\n") else card_text + "\n")
    _atomic_write_text(
        out / "config.json", json.dumps({**full, "id": model_id}, indent=2, sort_keys=True) + "\n"
    )
    return out


def load_model(path: str | os.PathLike, *, device: str | None = "cpu") -> torch.nn.Module:
    """Load a model folder written by :func:`save_model` (weights with ``weights_only=True``).

    Returns the model in eval mode; its stored config is at ``model.saved_config``.
    """
    p = Path(path)
    cfg_path, w_path = p / "config.json", p / "weights.pt"
    if not cfg_path.is_file() or not w_path.is_file():
        raise DataFileError(f"{p} is not a model folder (needs config.json and weights.pt)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFileError(f"{cfg_path} is not valid JSON: {e}") from None
    model = model_from_config(cfg["model"])
    dev = _resolve_device(device)
    model.load_state_dict(torch.load(w_path, map_location=dev, weights_only=True))
    model.to(dev).eval()
    model.saved_config = cfg
    return model
