"""The sampling front door: ``ld.sample`` and ``ld.run_mc``.

One call runs ``n_chains`` independent chains, each with its own xoshiro256** stream spawned
from ``seed``, in threads (the kernels release the GIL). The output depends only on
``(model, n_samples, seed, burn_in, thin, method, n_chains)``; ``n_threads`` changes the speed,
never the numbers.

Thinning is in *sweeps* (one sweep = one attempted update per degree of freedom, or for cluster
methods a fixed number of clusters flipping about N spins on average). With ``thin=None`` the
chains are burnt in first, ``tau_int`` of the energy and of the order parameter is measured on
the second half of the burn-in, and ``thin = ceil(2 tau_int)`` so stored samples are effectively
independent. After the run, ``tau_int`` is measured again on the production series and a
:class:`~latticediff.errors.SamplingWarning` is raised if ``thin < 2 tau_int``.

>>> import latticediff as ld
>>> s = ld.sample(ld.Ising(L=8, T=3.0), n_samples=16, seed=1, burn_in=100, thin=4)
>>> s.shape, s.dtype
((16, 8, 8), dtype('int8'))
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .._version import __version__
from ..errors import ParameterError, SamplingWarning
from ..systems import Ising, IsingChain, LoopGas, Potts
from ._rng import seed_states
from .autocorr import TauEstimate, mean_stderr, tau_int

__all__ = ["sample", "run_mc", "MCResult", "DEFAULT_CHAINS"]

DEFAULT_CHAINS = 4
_SERIES = ("energy", "order")


def _family(model):
    """The driver module for a model (imported lazily: it compiles Numba kernels)."""
    if isinstance(model, Ising):
        from . import ising as fam
    elif isinstance(model, Potts):
        from . import potts as fam
    elif isinstance(model, LoopGas):
        from . import loopgas as fam
    elif isinstance(model, IsingChain):
        from . import chain as fam
    else:
        raise ParameterError(
            f"sample: model must be one of Ising, Potts, LoopGas, IsingChain, got {model!r}"
        )
    return fam


def _check_count(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ParameterError(f"sample: {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class MCResult:
    """Samples plus everything needed to judge and reproduce them.

    ``series`` maps ``"energy"`` and ``"order"`` to per-sweep arrays ``(n_chains, n_sweeps)`` of
    the production phase; ``tau_int`` holds their integrated autocorrelation times in sweeps.
    """

    model: object
    samples: np.ndarray
    observables: dict
    series: dict
    tau_int: dict
    method: str
    seed: int
    burn_in: int
    thin: int
    n_chains: int
    iid: bool
    info: dict = field(default_factory=dict)
    wall_time: float = 0.0

    def estimate(self, name: str) -> tuple[float, float]:
        """Mean of a per-sample observable and its standard error.

        The error uses tau_int measured on the stored samples (chains treated as independent),
        so it is honest even when thinning was too small.
        """
        if name not in self.observables:
            raise KeyError(f"unknown observable {name!r}; have {sorted(self.observables)}")
        x = np.asarray(self.observables[name], dtype=np.float64)
        chains = _split_by_chain(x, self.n_chains)
        if self.iid or min(c.size for c in chains) < 8:
            return float(x.mean()), float(x.std(ddof=1) / math.sqrt(max(x.size - 1, 1)))
        n_min = min(c.size for c in chains)
        stacked = np.stack([c[:n_min] for c in chains])
        return float(x.mean()), mean_stderr(stacked)

    def provenance(self) -> dict:
        """JSON-able provenance for the HDF5 file (DESIGN.md §5)."""
        return {
            "sampler": self.method,
            "seed": self.seed,
            "burn_in": self.burn_in,
            "thin": self.thin,
            "n_chains": self.n_chains,
            "iid": self.iid,
            "tau_int": {k: v.to_dict() for k, v in self.tau_int.items()},
            "tau_int_units": "sweeps",
            "info": self.info,
            "wall_time_s": round(self.wall_time, 3),
            "package_version": __version__,
        }


def _split_by_chain(x: np.ndarray, n_chains: int) -> list[np.ndarray]:
    sizes = _chain_sizes(x.shape[0], n_chains)
    return np.split(x, np.cumsum(sizes)[:-1])


def _chain_sizes(n: int, n_chains: int) -> list[int]:
    return [n // n_chains + (c < n % n_chains) for c in range(n_chains)]


def _tau(series: np.ndarray) -> TauEstimate:
    """tau_int over chains of equal length; constant series give 1/2."""
    return tau_int(series)


def run_mc(
    model,
    *,
    n_samples: int,
    seed: int,
    burn_in: int | None = None,
    thin: int | None = None,
    method: str = "auto",
    n_chains: int | None = None,
    n_threads: int | None = None,
    progress: bool = False,
    warn: bool = True,
) -> MCResult:
    """Run Monte Carlo for ``model`` and return samples with observables and diagnostics.

    Parameters
    ----------
    n_samples : number of stored configurations (split evenly over chains, chain-major order).
    seed : non-negative integer; the same seed gives bit-identical output.
    burn_in : sweeps discarded per chain (default 1000 for local updates, 200 for cluster
        updates, 0 for exact i.i.d. samplers).
    thin : sweeps between stored samples; ``None`` sets ``ceil(2 tau_int)`` from the burn-in.
    method : ``"auto"`` or a method of the model's family (e.g. ``"metropolis"``, ``"wolff"``,
        ``"sw"``, ``"heatbath"``, ``"multispin"`` for Ising, ``"exact"``, ``"mcmc"``).
    n_chains : independent chains (default 4, or fewer when n_samples is smaller).
    n_threads : threads running chains (default: all cores); does not change the output.

    >>> import latticediff as ld
    >>> r = ld.run_mc(ld.IsingChain(N=32, K=0.5), n_samples=1000, seed=0)
    >>> r.iid, r.samples.shape
    (True, (1000, 32))
    """
    n_samples = _check_count("n_samples", n_samples, 1)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"sample: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if not isinstance(method, str):
        raise ParameterError(f"sample: method must be a string, got {method!r}")
    fam = _family(model)
    if method == "multispin":
        return _run_multispin(model, n_samples, seed, burn_in, thin, n_chains, progress)
    method = fam.resolve_method(model, method)
    iid = bool(fam.is_iid(model, method))
    cluster = method in ("wolff", "sw")
    if burn_in is None:
        burn_in = 0 if iid else (200 if cluster else 1000)
    burn_in = _check_count("burn_in", burn_in, 0)
    if thin is not None:
        thin = _check_count("thin", thin, 1)
    n_chains = DEFAULT_CHAINS if n_chains is None else _check_count("n_chains", n_chains, 1)
    n_chains = min(n_chains, n_samples)
    n_threads = (
        (os.cpu_count() or 1) if n_threads is None else _check_count("n_threads", n_threads, 1)
    )

    t0 = time.perf_counter()
    rngs = seed_states(seed, n_chains)
    states = [fam.init_state(model, method, rngs[c]) for c in range(n_chains)]
    sizes = _chain_sizes(n_samples, n_chains)
    carry: list[dict] = [{} for _ in range(n_chains)]
    info: dict = {}

    with ThreadPoolExecutor(max_workers=min(n_threads, n_chains)) as pool:
        # Phase 1: burn-in (also fixes per-chain settings such as clusters per sweep).
        burn_series = [None] * n_chains
        # Cluster methods run this phase even with burn_in=0: it fixes clusters per sweep once,
        # so every production block of a chain uses the same measurement schedule.
        if not iid and (burn_in > 0 or cluster):

            def burn(c):
                _, e, o, inf = fam.run_chain(
                    model, method, states[c], rngs[c], burn_in=burn_in, n_samples=0, thin=1
                )
                carry[c] = _carry_from_info(inf)
                burn_series[c] = (e, o)

            list(pool.map(burn, range(n_chains)))
            info["burn_in_info"] = _carry_from_info(carry[0]) or None
        if thin is None:
            thin = 1 if iid else _auto_thin(burn_series, burn_in, warn)
        # Phase 2: production, in blocks so a progress bar can follow long runs.
        samples = [[] for _ in range(n_chains)]
        series = {k: [[] for _ in range(n_chains)] for k in _SERIES}
        chain_info = [{} for _ in range(n_chains)]
        done = [0]
        lock = threading.Lock()
        bar = _progress_bar(n_samples, progress, model)

        def produce(c):
            remaining = sizes[c]
            block = max(1, min(remaining, 4096 // thin + 1, math.ceil(sizes[c] / 20)))
            while remaining > 0:
                m = min(block, remaining)
                s, e, o, inf = fam.run_chain(
                    model,
                    method,
                    states[c],
                    rngs[c],
                    burn_in=0,
                    n_samples=m,
                    thin=thin,
                    **carry[c],
                )
                samples[c].append(s)
                series["energy"][c].append(e)
                series["order"][c].append(o)
                chain_info[c] = inf
                remaining -= m
                with lock:
                    done[0] += m
                    if bar is not None:
                        bar.update(m)

        list(pool.map(produce, range(n_chains)))
        if bar is not None:
            bar.close()

    out = np.concatenate([np.concatenate(s) for s in samples if s], axis=0)
    ser = {k: [np.concatenate(v[c]) for c in range(n_chains)] for k, v in series.items()}
    n_min = min(len(x) for x in ser["energy"])
    ser = {k: np.stack([x[:n_min] for x in v]) for k, v in ser.items()}
    taus = {k: (TauEstimate(0.5, 0.0, 0, n_min, True) if iid else _tau(v)) for k, v in ser.items()}
    info.update({k: v for k, v in chain_info[0].items() if _jsonable(v)})
    result = MCResult(
        model=model,
        samples=out,
        observables=model.observables(out),
        series=ser,
        tau_int=taus,
        method=method,
        seed=seed,
        burn_in=burn_in,
        thin=thin,
        n_chains=n_chains,
        iid=iid,
        info=info,
        wall_time=time.perf_counter() - t0,
    )
    if warn and not iid:
        _warn_thinning(result)
    return result


def sample(
    model,
    *,
    n_samples: int,
    seed: int,
    burn_in: int | None = None,
    thin: int | None = None,
    method: str = "auto",
    n_chains: int | None = None,
    n_threads: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Samples of ``model`` as an array ``(n_samples, *model.shape)`` of ``model.dtype``.

    A thin wrapper over :func:`run_mc` (same arguments) for when only the configurations are
    needed; use ``run_mc`` to get tau_int, observables and provenance too.

    >>> import latticediff as ld
    >>> b = ld.sample(ld.LoopGas(L=4, x=1.0), n_samples=5, seed=3)
    >>> b.shape, int(ld.LoopGas(L=4).defects(b).sum())
    ((5, 2, 4, 4), 0)
    """
    return run_mc(
        model,
        n_samples=n_samples,
        seed=seed,
        burn_in=burn_in,
        thin=thin,
        method=method,
        n_chains=n_chains,
        n_threads=n_threads,
        progress=progress,
    ).samples


def _carry_from_info(inf: dict) -> dict:
    """Settings fixed during burn-in that production must reuse (fixed Wolff schedule)."""
    return {k: inf[k] for k in ("clusters_per_sweep",) if k in inf}


def _jsonable(v) -> bool:
    return isinstance(v, int | float | str | bool) or v is None


def _auto_thin(burn_series, burn_in: int, warn: bool) -> int:
    if burn_in < 20 or burn_series[0] is None:
        if warn:
            warnings.warn(
                f"thin=None needs a burn-in of >= 20 sweeps to measure tau_int, got {burn_in};"
                " using thin=1",
                SamplingWarning,
                stacklevel=3,
            )
        return 1
    # A burn-in estimate of tau_int is noisy and biased low: thin by its upper 2-sigma bound.
    bounds = []
    for idx in (0, 1):
        t = _tau(np.stack([s[idx][burn_in // 2 :] for s in burn_series]))
        bounds.append(t.tau + 2 * t.stderr)
    return max(1, math.ceil(2 * max(bounds)))


def _warn_thinning(result: MCResult) -> None:
    for k, t in result.tau_int.items():
        if result.thin < 2 * t.tau:
            warnings.warn(
                f"{result.model!r}, method={result.method}: thin={result.thin} sweeps is below"
                f" 2*tau_int({k})={2 * t.tau:.1f}; stored samples are correlated",
                SamplingWarning,
                stacklevel=3,
            )
        if not t.reliable:
            warnings.warn(
                f"{result.model!r}: production run ({result.n_chains} chains x {t.n} sweeps)"
                f" is short for tau_int({k})={t.tau:.1f} sweeps; tau_int itself is uncertain",
                SamplingWarning,
                stacklevel=3,
            )


def _progress_bar(total: int, progress: bool, model):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sampling {model.name}", unit="sample", dynamic_ncols=True)


def _run_multispin(model, n_samples, seed, burn_in, thin, n_chains, progress) -> MCResult:
    """64 replicas per uint64 word; each word is one independent 64-replica ensemble."""
    from . import multispin

    if not isinstance(model, Ising):
        raise ParameterError(f"sample: method='multispin' is for Ising only, got {model.name}")
    t0 = time.perf_counter()
    burn_in = 1000 if burn_in is None else _check_count("burn_in", burn_in, 0)
    thin = 1 if thin is None else _check_count("thin", thin, 1)
    n_words = 1 if n_chains is None else _check_count("n_chains", n_chains, 1)
    per_word = math.ceil(n_samples / (64 * n_words))
    rngs = seed_states(seed, n_words)
    outs, energies = [], []
    for w in range(n_words):
        s, e = multispin.run_multispin(
            model, rngs[w], burn_in=burn_in, n_samples=per_word, thin=thin
        )
        outs.append(np.swapaxes(s, 0, 1).reshape(-1, *model.shape))  # replica-major
        energies.append(e[burn_in:].T)
    out = np.concatenate(outs)[:n_samples]
    ser = np.concatenate(energies)
    return MCResult(
        model=model,
        samples=out,
        observables=model.observables(out),
        series={"energy": ser},
        tau_int={"energy": _tau(ser)},
        method="multispin",
        seed=seed,
        burn_in=burn_in,
        thin=thin,
        n_chains=64 * n_words,
        iid=False,
        info={"words": n_words, "replicas_per_word": 64},
        wall_time=time.perf_counter() - t0,
    )
