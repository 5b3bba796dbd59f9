"""A data-driven upper bound on I(A:C|B) when A is (nearly) a function of its shell B.

Some data sets fix A by its surroundings: in the clean loop gas every vertex has even degree,
so the two edges of a site are parities of edges in the radius-1 shell, and ``H(A|B) = 0``.
There ``I(A:C|B) = 0`` for every C, and an estimator that subtracts two learned cross-entropies
resolves its own training bias instead (``analysis/ising_markov``: +1.3e-6 nats at 5 sigma).
A counting argument needs no subtraction:

1. ``I(A:C|B) <= H(A|B)`` for every C, and for nested shells ``B_r' contains B_r``,
   ``H(A|B_r') <= H(A|B_r)``: one bound at radius r covers every larger radius.
2. Fano's inequality (Cover & Thomas, Thm 2.10.1): any predictor ``f`` of A from B with error
   probability ``P_e`` gives ``H(A|B) <= h(P_e) + P_e log(|A| - 1)``, with ``h`` the binary
   entropy (nats) and ``|A|`` the number of values A can take (``log |A|`` once
   ``P_e >= 1 - 1/|A|``).
3. ``f`` is the plug-in maximum-a-posteriori map, learned by counting on a training part of
   the samples; a B pattern never seen there counts as an error. On the held-out samples it is
   scored at one uniformly drawn centre per sample, so the held-out errors are independent
   Bernoulli trials with probability ``P_e``, and the one-sided Clopper-Pearson bound at the
   requested confidence bounds ``P_e`` (for k = 0 errors in n trials it is
   ``1 - (1 - c)^(1/n)``, about ``3/n`` at c = 0.95).

The result is an upper bound on the CMI that holds with the stated confidence, with no
bias correction and no training noise; it is tight only when A is (nearly) determined by B and
otherwise says little. It assumes independent samples (exact samplers, or a Monte Carlo stream
thinned beyond its autocorrelation). The error rate is that of a uniformly drawn centre, so for
data that are not translation invariant (images, open boundaries) it bounds the
centre-averaged ``H(A|B)``.

>>> import latticediff as ld
>>> x = ld.run_mc(ld.LoopGas(L=16), n_samples=4000, seed=0, warn=False).samples
>>> b = fano_cmi_bound(x, radius=1)
>>> b.n_errors, b.n_test, b.details["b_patterns_in_training"]   # all 2^14 B patterns seen
(0, 2000, 16384)
>>> round(b.error_rate_upper, 6), round(b.upper, 5)        # 1 - 0.05**(1/2000); Fano bound
(0.001497, 0.01288)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..lattice import shell_offsets
from .plugin import _check_counting_input, _is_int, _layout, _pattern_codes

__all__ = ["fano_cmi_bound", "fano_entropy_bound", "FanoBound"]


def fano_entropy_bound(pe: float, n_values: int) -> float:
    """Fano's bound on ``H(A|B)`` in nats for a predictor of A with error probability ``pe``.

    ``h(pe) + pe log(n_values - 1)``, or ``log n_values`` once ``pe >= 1 - 1/n_values`` (the
    bound is increasing up to there and ``H(A|B) <= log |A|`` always).

    >>> round(fano_entropy_bound(0.0, 4), 12), round(fano_entropy_bound(0.5, 2), 6)
    (0.0, 0.693147)
    >>> round(fano_entropy_bound(0.01, 4), 6)
    0.066988
    """
    if not _is_int(n_values) or n_values < 2:
        raise ParameterError(
            f"fano_entropy_bound: n_values must be an integer >= 2, got {n_values!r}"
        )
    pe = float(pe)
    if not 0.0 <= pe <= 1.0:
        raise ParameterError(f"fano_entropy_bound: pe must lie in [0, 1], got {pe!r}")
    if pe >= 1.0 - 1.0 / n_values:
        return math.log(n_values)
    h = 0.0 if pe == 0.0 else -pe * math.log(pe) - (1.0 - pe) * math.log1p(-pe)
    return h + pe * math.log(n_values - 1)


def _clopper_pearson_upper(k: int, n: int, confidence: float) -> float:
    if k >= n:
        return 1.0
    if k == 0:  # closed form; also what beta.ppf gives, without a scipy import
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    from scipy.stats import beta

    return float(beta.ppf(confidence, k + 1, n - k))


@dataclass(frozen=True)
class FanoBound:
    """What :func:`fano_cmi_bound` returns: ``upper`` bounds ``H(A|B)``, and so ``I(A:C|B)``
    for every C and every larger radius, in nats, at the stated ``confidence``.

    ``n_errors`` of ``n_test`` held-out centres (one per held-out sample) were mispredicted
    (``n_unseen`` of them because their B pattern was not in the training part);
    ``error_rate_upper`` is the Clopper-Pearson bound on the error probability that enters
    Fano's inequality with ``n_values`` = the number of values of A. ``details`` has the
    error rate over every held-out centre (a diagnostic: those centres are correlated within
    a sample) and the geometry.

    >>> FanoBound(upper=0.01, confidence=0.95, error_rate_upper=0.0015, n_errors=0, n_test=2000,
    ...           n_unseen=0, n_train=2000, n_values=4, radius=1).upper
    0.01
    """

    upper: float
    confidence: float
    error_rate_upper: float
    n_errors: int
    n_test: int
    n_unseen: int
    n_train: int
    n_values: int
    radius: int
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        if not (0.0 <= self.upper <= math.log(self.n_values) + 1e-12):
            raise ParameterError(
                f"FanoBound: upper must lie in [0, log n_values], got {self.upper!r}"
            )
        if not 0.0 < self.confidence < 1.0:
            raise ParameterError(
                f"FanoBound: confidence must lie in (0, 1), got {self.confidence!r}"
            )
        if not 0 <= self.n_unseen <= self.n_errors <= self.n_test:
            raise ParameterError(
                "FanoBound: need 0 <= n_unseen <= n_errors <= n_test, got "
                f"{self.n_unseen}, {self.n_errors}, {self.n_test}"
            )

    def to_dict(self) -> dict:
        """JSON-able dict of every field."""
        return dict(self.__dict__)


def fano_cmi_bound(
    samples,
    *,
    radius: int = 1,
    block: int = 1,
    periodic: bool = True,
    channel_axis: bool | None = None,
    confidence: float = 0.95,
    train_fraction: float = 0.5,
    seed: int = 0,
) -> FanoBound:
    """Upper bound on ``I(A:C|B) <= H(A|B)`` from discrete samples, by Fano's inequality.

    ``samples`` and the geometry (``radius``, ``block``, ``periodic``, ``channel_axis``) are as
    in :func:`latticediff.info.plugin_cmi` (e.g. the loop gas ``(n, 2, L, L)``, whose site
    symbol is its two edges). The samples are split at random (``seed``) into a training part
    (``train_fraction``) that fixes the plug-in map B -> A and a held-out part scored at one
    random centre per sample; see the module docstring for the argument and its assumptions.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, size=(400, 32), dtype=np.uint8)   # i.i.d. bits: H(A|B) = log 2
    >>> round(fano_cmi_bound(x, radius=1).upper, 6)                # the bound is then log 2
    0.693147
    """
    samples = _check_counting_input("fano_cmi_bound", samples, radius, block)
    if isinstance(confidence, bool) or not (
        isinstance(confidence, int | float) and 0.0 < confidence < 1.0
    ):
        raise ParameterError(f"fano_cmi_bound: confidence must lie in (0, 1), got {confidence!r}")
    if isinstance(train_fraction, bool) or not (
        isinstance(train_fraction, int | float) and 0.0 < train_fraction < 1.0
    ):
        raise ParameterError(
            f"fano_cmi_bound: train_fraction must lie in (0, 1), got {train_fraction!r}"
        )
    n = samples.shape[0]
    n_train = int(round(train_fraction * n))
    if n_train < 1 or n - n_train < 1:
        raise ParameterError(
            f"fano_cmi_bound: {n} samples with train_fraction={train_fraction} leave an empty "
            "training or held-out part"
        )

    sym, Q = _layout(samples, channel_axis)
    spatial = sym.shape[1:]
    offA, offB, _ = shell_offsets(len(spatial), radius, block=block)
    span = block + 2 * radius
    if any(span > L for L in spatial):
        raise ParameterError(
            f"fano_cmi_bound: the pattern spans {span} sites but the lattice has {min(spatial)} "
            "along an axis; reduce radius or block"
        )
    if (len(offA) + len(offB)) * math.log2(Q) > 62:
        raise ParameterError(
            f"fano_cmi_bound: A and B hold {len(offA) + len(offB)} sites over {Q} symbols, more "
            "than 64-bit pattern codes hold; reduce radius or block"
        )
    QA = Q ** len(offA)
    # one code per centre with A's digits lowest (read together so that open boundaries keep
    # the same centres for A and B)
    code = _pattern_codes(sym, np.concatenate([offA, offB]), Q, bool(periodic))
    code_a, code_b = code % QA, code // QA

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    tr, te = order[:n_train], order[n_train:]

    # plug-in MAP map B -> A from the training counts: per B pattern, the most frequent A
    joint, counts = np.unique(code_b[tr] * QA + code_a[tr], return_counts=True)
    jb, ja = joint // QA, joint % QA
    by_b = np.lexsort((counts, jb))  # by B, then by count: the last of each B run is its MAP
    last = np.r_[jb[by_b][1:] != jb[by_b][:-1], True]
    b_keys, a_map = jb[by_b][last], ja[by_b][last]

    def errors(cb, ca):
        pos = np.minimum(np.searchsorted(b_keys, cb), len(b_keys) - 1)
        seen = b_keys[pos] == cb
        return ~seen | (a_map[pos] != ca), ~seen

    centre = rng.integers(0, code_a.shape[1], size=te.size)
    err, unseen = errors(code_b[te, centre], code_a[te, centre])
    k = int(err.sum())
    pe_up = _clopper_pearson_upper(k, int(te.size), float(confidence))
    err_all, _ = errors(code_b[te], code_a[te])
    return FanoBound(
        upper=fano_entropy_bound(pe_up, int(QA)),
        confidence=float(confidence),
        error_rate_upper=float(pe_up),
        n_errors=k,
        n_test=int(te.size),
        n_unseen=int(unseen.sum()),
        n_train=n_train,
        n_values=int(QA),
        radius=int(radius),
        details={
            "error_rate_all_centres": float(err_all.mean()),
            "test_samples_with_an_error": int(err_all.any(axis=1).sum()),
            "centres_per_sample": int(code_a.shape[1]),
            "b_patterns_in_training": int(b_keys.size),
            "sites": {"A": len(offA), "B": len(offB)},
            "block": int(block),
            "periodic": bool(periodic),
        },
    )
