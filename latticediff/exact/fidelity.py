"""The fidelity bound of a local recovery, computed exactly (no sampling).

The statement (arXiv:2508.06614; DESIGN.md §2)
----------------------------------------------
Let ``p(a, b, c)`` be a distribution over three regions A, B, C, let a channel
``N(a' | a)`` act on A only, ``q(a', b, c) = sum_a N(a'|a) p(a, b, c)``, and let the recovery be
the Bayes (Petz) map built from the (A, B) marginal alone -- what a radius-r local denoiser can
know:

    R(a | a', b) = N(a'|a) p(a, b) / q(a', b),
    p_hat(a, b, c) = sum_a' R(a | a', b) q(a', b, c) = p(a, b) sum_a' N(a'|a) q(c | a', b).

Then ``p_hat(a, b) = p(a, b)``, and (Pinsker; joint convexity of the relative entropy, using
that c is independent of a' given (a, b))

    2 TV(p, p_hat)^2  <=  D(p || p_hat)  <=  I_p(A:C|B) - I_q(A':C|B)  <=  I_p(A:C|B).

Every quantity is in nats; ``TV = (1/2) sum |p - p_hat|``. The functions here evaluate all
five numbers exactly and return them as a :class:`FidelityBound`:

* :func:`fidelity_bound_table` -- any explicit table ``p[a, b, c]`` and channel matrix; written
  straight from the definitions (entropies for the CMIs). The reference for the others.
* :func:`fidelity_bound_chain` -- the noisy 1D Ising chain (a hidden Markov chain), A = site 0,
  B = ``1 <= |i| <= r``, C = ``r < |i| <= r + l``: the window of the infinite stationary chain
  seen at bit-flip level ``p_noise``, with one more bit flip of probability ``delta`` on A.
* :func:`fidelity_bound_loopgas` -- the bit-flipped uniform loop gas on the L x L torus
  (L <= 4), with C = all remaining edges of the torus.

How the structured cases are computed
-------------------------------------
All sums are over single configurations, organised as ``J[j, a, s]`` = probability of one
configuration in class ``j`` of B and class ``s`` of C, with multiplicities ``w_B[j]``,
``w_C[s]`` (configurations in the same class give identical contributions). Relative entropies
are summed in the term-wise non-negative form ``sum m phi(P/m - 1)`` with
``phi(x) = (1 + x) log(1 + x) - x`` (a Taylor series for small ``|x|``), so no sum cancels:
values far below the rounding of the probabilities themselves (the chain at p_noise = 0.01
and r = 10 has I ~ 1e-20 nats, decaying smoothly with r) stay meaningful. For one bit in A
every difference (``p - p_hat``, ``p - p(a|b) p(b, c)``, ...) is a multiple of one quantity
formed once per configuration, ``pi_1 J_0 - pi_0 J_1`` (:func:`_accumulate_binary`).

*Chain.* Given the hidden spins ``(x_{-r}, x_r)`` at the ends of the window
``-r..r``, the outer observations on the left and on the right are independent, each with the
one-sided likelihood of :mod:`.noisy_chain` (``_one_sided``). So ``p(c | a, b)`` is a mixture of
four product distributions, with weights ``P(a, b, x_{-r}, x_r)`` from 2 x 2 transfer matrices
of the ``2^r`` one-sided patterns; the ``4^r`` patterns of B are reduced by the mirror and
global-flip symmetries (orbits of size <= 4). Cost ~ ``4^(r + l) / 2`` configurations, each
visited once by a Numba kernel (a NumPy reference of the same sums is kept and tested);
``r = 10, l = 3`` with five values of delta takes ~5 s on one core.

*Loop gas.* ``y = x XOR e`` with x uniform on the cycle space Z and e i.i.d. Bernoulli(p), so
``p(y) = Pr(sigma(e) = sigma(y)) / |Z|`` depends on y only through its vertex syndrome
``sigma(y)`` (a linear map). The syndrome distribution of e is built by XOR-convolution, edge
by edge (``2^V`` entries). Then ``p(a, b, c) = f(sigma_A(a) + sigma_B(b) + sigma_C(c))``: the C
configurations are grouped by their syndrome ``s`` in the subspace ``S_C = sigma_C(F_2^C)``
(each class holds ``2^(|C| - rank S_C)`` of them), and the B configurations by the coset of
``sigma_B(b)`` modulo ``S_C`` (shifting by an element of S_C only relabels s). The table has at
most ``2^(|A| + V - 1)`` entries (131 072 for L = 4 and two A edges).

>>> b = fidelity_bound_chain(1.0, 0.2, 0.1, 2, l=3)
>>> round(b.two_tv_sq, 8), round(b.kl, 8), round(b.cmi_drop, 8), round(b.cmi_p, 8)
(0.00044472, 0.00095334, 0.00248969, 0.00659061)
>>> b.max_violation < 0
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import ParameterError
from . import noisy_chain as _nc

__all__ = [
    "FidelityBound",
    "bitflip_channel",
    "fidelity_bound_table",
    "fidelity_bound_chain",
    "fidelity_bound_loopgas",
    "fidelity_loopgas_regions",
    "fidelity_radius",
    "LOOPGAS_GEOMETRIES",
]

SYSTEMS = ("table", "noisy_chain", "loop_gas")
#: Region geometries of :func:`fidelity_bound_loopgas`.
LOOPGAS_GEOMETRIES = ("edge", "site")
# Below this I_p (nats) the tightness ratio 2 TV^2 / I_p is reported as NaN: TV is then of
# the order of the rounding of the probabilities (~1e-16 relative), so the ratio means nothing.
RATIO_FLOOR = 1e-24
_CHUNK = 1 << 20  # entries of J per vectorised block


# ---------------------------------------------------------------------------------------------
# the result


def _check_prob(who: str, name: str, v, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise ParameterError(f"{who}: {name} must be a number in [0, {hi}], got {v!r}")
    v = float(v)
    if not 0.0 <= v <= hi:
        raise ParameterError(f"{who}: {name} must be in [0, {hi}], got {v}")
    return v


def _check_int(who: str, name: str, v, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise ParameterError(f"{who}: {name} must be an integer >= {lo}, got {v!r}")
    v = int(v)
    if v < lo or (hi is not None and v > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ParameterError(f"{who}: {name} must be in {rng}, got {v}")
    return v


@dataclass(frozen=True)
class FidelityBound:
    """All sides of ``2 TV^2 <= D(p||p_hat) <= I_p(A:C|B) - I_q(A':C|B) <= I_p(A:C|B)``, in nats.

    ``tv`` = TV(p, p_hat), ``kl`` = D(p || p_hat), ``cmi_p`` = I_p(A:C|B) of the data before the
    channel, ``cmi_q`` = I_q(A':C|B) after it. ``p_noise``, ``delta`` and ``r`` are the noise
    level of the data, the bit-flip probability of the channel on A and the radius of B (``None``
    for a general table or channel); ``n_a, n_b, n_c`` count the bits of the regions (for a
    table: log2 of each axis length, rounded); ``params``
    holds the system's own parameters (``K, l`` for the chain, ``L, geometry`` for the loop gas).

    >>> fb = FidelityBound("table", None, None, None, tv=0.1, kl=0.05, cmi_p=0.2, cmi_q=0.1,
    ...                    n_a=1, n_b=1, n_c=1)
    >>> round(fb.two_tv_sq, 12), round(fb.cmi_drop, 12), round(fb.ratio, 12)
    (0.02, 0.1, 0.1)
    >>> round(fb.max_violation, 12)   # < 0: the chain holds with this much slack
    -0.03
    """

    system: str
    p_noise: float | None
    delta: float | None
    r: int | None
    tv: float
    kl: float
    cmi_p: float
    cmi_q: float
    n_a: int
    n_b: int
    n_c: int
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        who = "FidelityBound"
        if self.system not in SYSTEMS:
            raise ParameterError(f"{who}: system must be one of {SYSTEMS}, got {self.system!r}")
        if self.p_noise is not None:
            object.__setattr__(self, "p_noise", _check_prob(who, "p_noise", self.p_noise, 0.5))
        if self.delta is not None:
            object.__setattr__(self, "delta", _check_prob(who, "delta", self.delta, 1.0))
        if self.r is not None:
            object.__setattr__(self, "r", _check_int(who, "r", self.r, 0))
        for name in ("tv", "kl", "cmi_p", "cmi_q"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ParameterError(f"{who}: {name} must be a finite number, got {v!r}")
            if not math.isfinite(float(v)):
                raise ParameterError(f"{who}: {name} must be finite, got {v}")
            object.__setattr__(self, name, float(v))
        if not -1e-12 <= self.tv <= 1.0 + 1e-12:
            raise ParameterError(f"{who}: tv must be in [0, 1], got {self.tv}")
        for name in ("n_a", "n_b", "n_c"):
            object.__setattr__(self, name, _check_int(who, name, getattr(self, name), 0))
        if not isinstance(self.params, dict):
            raise ParameterError(f"{who}: params must be a dict, got {type(self.params).__name__}")

    @property
    def two_tv_sq(self) -> float:
        """``2 TV^2``, the left end of the chain."""
        return 2.0 * self.tv * self.tv

    @property
    def cmi_drop(self) -> float:
        """``I_p(A:C|B) - I_q(A':C|B)``: the CMI destroyed by the channel."""
        return self.cmi_p - self.cmi_q

    @property
    def ratio(self) -> float:
        """Tightness ``2 TV^2 / I_p`` (NaN when ``I_p < 1e-24``, below rounding)."""
        return self.two_tv_sq / self.cmi_p if self.cmi_p > RATIO_FLOOR else math.nan

    @property
    def violations(self) -> dict:
        """Left minus right side of each inequality of the chain (all <= 0 when it holds)."""
        return {
            "pinsker": self.two_tv_sq - self.kl,
            "kl_vs_cmi_drop": self.kl - self.cmi_drop,
            "cmi_drop_vs_cmi": -self.cmi_q,
        }

    @property
    def max_violation(self) -> float:
        """Largest left-minus-right gap of the chain; <= 0 (up to rounding) when it holds."""
        return max(self.violations.values())

    def to_dict(self) -> dict:
        """JSON-able dict of the fields plus ``two_tv_sq``, ``cmi_drop``, ``ratio`` (NaN->None)."""
        d = asdict(self)
        d.update(
            two_tv_sq=self.two_tv_sq,
            cmi_drop=self.cmi_drop,
            ratio=None if math.isnan(self.ratio) else self.ratio,
            max_violation=self.max_violation,
        )
        return d


# ---------------------------------------------------------------------------------------------
# channel and the general table


def bitflip_channel(n_bits: int, delta: float) -> np.ndarray:
    """Matrix ``N[a', a]`` of independent bit flips (probability ``delta``) on ``n_bits`` bits.

    States are integers ``0 .. 2^n_bits - 1``; columns sum to 1.

    >>> bitflip_channel(1, 0.1).tolist()
    [[0.9, 0.1], [0.1, 0.9]]
    >>> bitflip_channel(2, 0.1)[3, 0].round(6).item()   # both bits flipped
    0.01
    """
    n_bits = _check_int("bitflip_channel", "n_bits", n_bits, 0, 12)
    delta = _check_prob("bitflip_channel", "delta", delta, 1.0)
    states = np.arange(1 << n_bits, dtype=np.uint64)
    flips = np.bitwise_count(states[:, None] ^ states[None, :]).astype(np.float64)
    return delta**flips * (1.0 - delta) ** (n_bits - flips)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _cmi_from_table(t: np.ndarray) -> float:
    """I(A:C|B) = H(AB) + H(BC) - H(B) - H(ABC) of a table t[a, b, c]."""
    return (
        _entropy(t.sum(axis=2).ravel())
        + _entropy(t.sum(axis=0).ravel())
        - _entropy(t.sum(axis=(0, 2)))
        - _entropy(t.ravel())
    )


def fidelity_bound_table(table, channel, *, p_noise=None, delta=None, r=None) -> FidelityBound:
    """The fidelity bound for an explicit table ``p[a, b, c]`` and a channel ``N[a', a]`` on A.

    Written directly from the definitions (module docstring): ``q``, the recovery ``R`` from the
    (A, B) marginal, ``p_hat``, ``TV = sum |p - p_hat| / 2``, ``D(p || p_hat) = sum p log
    (p / p_hat)``, and both CMIs from four entropies each. ``table`` is non-negative, sums to 1
    and has three axes (flatten each region's bits into one axis); ``channel`` is square with
    columns summing to 1. ``p_noise``, ``delta``, ``r`` are only recorded. Costs a few passes
    over the table: the brute-force reference for the structured functions.

    >>> t = np.full((2, 2, 2), 1 / 8)                  # independent uniform bits: nothing to lose
    >>> fidelity_bound_table(t, bitflip_channel(1, 0.2)).tv
    0.0
    >>> t = np.zeros((2, 1, 2)); t[0, 0, 0] = t[1, 0, 1] = 0.5   # a = c, B empty
    >>> round(fidelity_bound_table(t, bitflip_channel(1, 0.1)).tv, 12)   # the recovery guesses
    0.18
    """
    who = "fidelity_bound_table"
    t = np.asarray(table, dtype=np.float64)
    N = np.asarray(channel, dtype=np.float64)
    if t.ndim != 3:
        raise ParameterError(f"{who}: table must have three axes (a, b, c), got shape {t.shape}")
    if np.any(t < 0) or not abs(t.sum() - 1.0) < 1e-9:
        raise ParameterError(f"{who}: table must be >= 0 and sum to 1, got sum {t.sum()}")
    n_a = t.shape[0]
    if N.shape != (n_a, n_a):
        raise ParameterError(f"{who}: channel must have shape ({n_a}, {n_a}), got {N.shape}")
    if np.any(N < 0) or not np.allclose(N.sum(axis=0), 1.0, atol=1e-12):
        raise ParameterError(f"{who}: channel columns must be probabilities summing to 1")
    q = np.einsum("xa,abc->xbc", N, t)
    p_ab = t.sum(axis=2)
    q_ab = q.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_c_given_ab = np.where(q_ab[:, :, None] > 0, q / q_ab[:, :, None], 0.0)
    p_hat = p_ab[:, :, None] * np.einsum("xa,xbc->abc", N, q_c_given_ab)
    tv = 0.5 * float(np.abs(t - p_hat).sum())
    m = t > 0
    if np.any(p_hat[m] <= 0):
        kl = math.inf
    else:
        kl = float(np.sum(t[m] * np.log(t[m] / p_hat[m])))
    n_bits = [max(0, int(round(math.log2(n)))) for n in t.shape]
    return FidelityBound(
        "table",
        p_noise,
        delta,
        r,
        tv=tv,
        kl=kl,
        cmi_p=_cmi_from_table(t),
        cmi_q=_cmi_from_table(q),
        n_a=n_bits[0],
        n_b=n_bits[1],
        n_c=n_bits[2],
    )


# ---------------------------------------------------------------------------------------------
# the structured core: classes of B and C configurations with multiplicities


def _phi(x: np.ndarray) -> np.ndarray:
    """``(1 + x) log(1 + x) - x >= 0`` for x >= -1 (= 1 at x = -1), accurate for small |x|."""
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.where(x == -1.0, 1.0, (1.0 + x) * np.log1p(x) - x)
    # sum_{n >= 2} (-1)^n x^n / (n (n - 1)), truncated after x^6 (relative error < 1e-17)
    small = x * x * (0.5 - x * (1 / 6 - x * (1 / 12 - x * (1 / 20 - x / 30))))
    return np.where(np.abs(x) < 1e-3, small, big)


def _rel_terms(P: np.ndarray, m: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """``sum_c cw[c] (P log(P/m) - P + m)`` over the last axis (0 where m = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(m > 0, (P - m) / m, 0.0)
    return (m * _phi(x)) @ cw


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / b, 0.0)


def _accumulate(J: np.ndarray, bw: np.ndarray, cw: np.ndarray, channels, acc: dict) -> None:
    """Add one block's contributions; ``J[j, a, s]``: probability of one configuration."""
    pab = J @ cw  # p(a, b) per configuration of b, (nb, nA)
    pb = pab.sum(axis=1)
    pbc = J.sum(axis=1)  # p(b, c) = q(b, c), (nb, nc)
    # p(a|b) p(b, c): the distribution without A-C correlation, given B
    m = _safe_div(pab, pb[:, None])[:, :, None] * pbc[:, None, :]
    acc["cmi_p"] += float(bw @ _rel_terms(J, m, cw).sum(axis=1))
    for k, N in enumerate(channels):
        Q = np.einsum("xa,jac->jxc", N, J)  # q(a', b, c)
        qab = pab @ N.T
        q_c = _safe_div(Q, qab[:, :, None])  # q(c | a', b)
        Ph = pab[:, :, None] * np.einsum("xa,jxc->jac", N, q_c)  # p_hat(a, b, c)
        acc["tv"][k] += 0.5 * float(bw @ (np.abs(J - Ph) @ cw).sum(axis=1))
        acc["kl"][k] += float(bw @ _rel_terms(J, Ph, cw).sum(axis=1))
        mq = _safe_div(qab, pb[:, None])[:, :, None] * pbc[:, None, :]
        acc["cmi_q"][k] += float(bw @ _rel_terms(Q, mq, cw).sum(axis=1))


def _rel_diff(J: np.ndarray, y: np.ndarray, cw: np.ndarray) -> np.ndarray:
    """``sum_c cw (J log(J/M) - J + M)`` with ``M = J - y`` given the difference y = J - M."""
    M = J - y
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(M > 0, y / M, 0.0)
    return (M * _phi(x)) @ cw


def _accumulate_binary(J0, J1, bw, cw, deltas, acc: dict) -> None:
    """:func:`_accumulate` for one bit in A and bit-flip channels, with every difference exact.

    With ``pi_a = p(a, b)`` and ``Delta = pi_1 J_0 - pi_0 J_1`` (per configuration of c), all
    the differences are multiples of Delta: ``J_0 - p_hat_0 = -(J_1 - p_hat_1) = v Delta`` with
    ``v = delta (1 - delta) (1/q_0 + 1/q_1)``; ``J_a - p(a|b) p(b, c) = +-Delta / p(b)``; and
    ``Q_a' - q(a'|b) p(b, c) = +-(1 - 2 delta) Delta / p(b)``. So TV needs one pass over c for
    all channels, ``TV = (1/2) sum_b 2 v sum_c |Delta|``.
    """
    pi0 = J0 @ cw
    pi1 = J1 @ cw
    pb = pi0 + pi1
    D = pi1[:, None] * J0 - pi0[:, None] * J1
    absd = np.abs(D) @ cw
    inv_pb = _safe_div(np.ones_like(pb), pb)[:, None]
    y = D * inv_pb
    acc["cmi_p"] += float(bw @ (_rel_diff(J0, y, cw) + _rel_diff(J1, -y, cw)))
    for k, d in enumerate(deltas):
        q0 = (1.0 - d) * pi0 + d * pi1
        q1 = d * pi0 + (1.0 - d) * pi1
        v = d * (1.0 - d) * (_safe_div(np.ones_like(q0), q0) + _safe_div(np.ones_like(q1), q1))
        acc["tv"][k] += float(bw @ (v * absd))
        yv = v[:, None] * D
        acc["kl"][k] += float(bw @ (_rel_diff(J0, yv, cw) + _rel_diff(J1, -yv, cw)))
        Q0 = (1.0 - d) * J0 + d * J1
        Q1 = d * J0 + (1.0 - d) * J1
        yq = (1.0 - 2.0 * d) * y
        acc["cmi_q"][k] += float(bw @ (_rel_diff(Q0, yq, cw) + _rel_diff(Q1, -yq, cw)))


def _binary_sums(J0, J1, cw, deltas):
    """Per-b sums of :func:`_accumulate_binary` in one fused pass over c (Numba kernel source).

    Returns ``(absd, terms)``: ``absd[j] = sum_c cw |Delta|`` and ``terms[j]``: column 0 the
    I_p terms, columns ``1..n`` the KL terms and ``n+1..2n`` the I_q terms of the n channels.
    Compiled by :func:`_binary_kernel`; as plain Python it is the same (slow) computation.
    """
    nb, nc = J0.shape
    nd = deltas.size
    absd = np.zeros(nb)
    terms = np.zeros((nb, 1 + 2 * nd))
    v = np.empty(nd)
    for j in range(nb):
        pi0 = 0.0
        pi1 = 0.0
        for c in range(nc):
            pi0 += cw[c] * J0[j, c]
            pi1 += cw[c] * J1[j, c]
        pb = pi0 + pi1
        inv_pb = 1.0 / pb if pb > 0.0 else 0.0
        for k in range(nd):
            d = deltas[k]
            q0 = (1.0 - d) * pi0 + d * pi1
            q1 = d * pi0 + (1.0 - d) * pi1
            iq0 = 1.0 / q0 if q0 > 0.0 else 0.0
            iq1 = 1.0 / q1 if q1 > 0.0 else 0.0
            v[k] = d * (1.0 - d) * (iq0 + iq1)
        for c in range(nc):
            a0 = J0[j, c]
            a1 = J1[j, c]
            D = pi1 * a0 - pi0 * a1
            absd[j] += cw[c] * abs(D)
            for t in range(1 + 2 * nd):
                # the pair (P_0, y) and (P_1, -y) of this column: P log(P / M) - P + M, M = P - y
                if t == 0:
                    p0, p1, y = a0, a1, D * inv_pb
                elif t <= nd:
                    p0, p1, y = a0, a1, v[t - 1] * D
                else:
                    d = deltas[t - 1 - nd]
                    p0 = (1.0 - d) * a0 + d * a1
                    p1 = d * a0 + (1.0 - d) * a1
                    y = (1.0 - 2.0 * d) * D * inv_pb
                acc = 0.0
                for side in range(2):
                    P = p0 if side == 0 else p1
                    yy = y if side == 0 else -y
                    M = P - yy
                    if M > 0.0:
                        x = yy / M
                        if abs(x) < 1e-3:
                            f = x * x * (0.5 - x * (1 / 6 - x * (1 / 12 - x * (1 / 20 - x / 30))))
                        elif x == -1.0:
                            f = 1.0
                        else:
                            f = (1.0 + x) * math.log1p(x) - x
                        acc += M * f
                    elif P > 0.0:
                        acc += math.inf
                terms[j, t] += cw[c] * acc
    return absd, terms


@lru_cache(maxsize=1)
def _binary_kernel():
    """:func:`_binary_sums` compiled by Numba (imported here, so that importing
    :mod:`latticediff.exact` stays free of Numba)."""
    from numba import njit

    return njit(cache=True)(_binary_sums)


def _add_binary(J0, J1, bw, cw, deltas, acc: dict, kernel=None) -> None:
    """Add one block through the Numba kernel, or :func:`_accumulate_binary` (NumPy) if None."""
    if kernel is None:
        _accumulate_binary(J0, J1, bw, cw, deltas, acc)
        return
    d = np.asarray(deltas, dtype=np.float64)
    pi0 = J0 @ cw
    pi1 = J1 @ cw
    q0 = (1.0 - d)[None, :] * pi0[:, None] + d[None, :] * pi1[:, None]
    q1 = d[None, :] * pi0[:, None] + (1.0 - d)[None, :] * pi1[:, None]
    v = (d * (1.0 - d))[None, :] * (
        _safe_div(np.ones_like(q0), q0) + _safe_div(np.ones_like(q1), q1)
    )
    absd, terms = kernel(np.ascontiguousarray(J0), np.ascontiguousarray(J1), cw, d)
    tot = bw @ terms
    acc["cmi_p"] += float(tot[0])
    for k in range(d.size):
        acc["tv"][k] += float(bw @ (v[:, k] * absd))
        acc["kl"][k] += float(tot[1 + k])
        acc["cmi_q"][k] += float(tot[1 + d.size + k])


def _new_acc(n: int) -> dict:
    return {"cmi_p": 0.0, "tv": [0.0] * n, "kl": [0.0] * n, "cmi_q": [0.0] * n}


def _deltas(who: str, delta) -> tuple[tuple[float, ...], bool]:
    """Validate ``delta`` (a number or a sequence); return the tuple and whether it was scalar."""
    if isinstance(delta, int | float | np.integer | np.floating) and not isinstance(delta, bool):
        return (_check_prob(who, "delta", delta, 0.5),), True
    try:
        seq = tuple(delta)
    except TypeError:
        raise ParameterError(
            f"{who}: delta must be a number in [0, 0.5] or a sequence of them, got {delta!r}"
        ) from None
    if not seq:
        raise ParameterError(f"{who}: delta must not be an empty sequence")
    return tuple(_check_prob(who, "delta", d, 0.5) for d in seq), False


# ---------------------------------------------------------------------------------------------
# the noisy chain


def _chain_patterns(K: float, p: float, r: int) -> np.ndarray:
    """``G[i, x0, t] = P(y_{1..r} = pattern_i, x_r = t | x_0)``, shape (2^r, 2, 2).

    Bit k of the pattern is y_{k+1} (0 means +1); by reflection the same table serves the left
    half with bit k = y_{-k-1}. r = 0 gives the identity (x_r = x_0, no observation).
    """
    T, E = _nc._matrices(K, p)
    G = np.eye(2)[None]
    for _ in range(r):
        # the farther observation becomes the most significant bit
        G = np.einsum("ixs,st,yt->yixt", G, T, E).reshape(-1, 2, 2)
    return G


def _chain_b_classes(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical (left, right) pattern pairs under mirror and global flip, with orbit sizes."""
    n = 1 << r
    mask = n - 1
    left, right = np.divmod(np.arange(n * n, dtype=np.int64), n)
    images = np.stack(
        [
            left * n + right,
            right * n + left,
            (left ^ mask) * n + (right ^ mask),
            (right ^ mask) * n + (left ^ mask),
        ]
    )
    canon = images[0] == images.min(axis=0)
    images = np.sort(images[:, canon], axis=0)
    size = 1 + (np.diff(images, axis=0) != 0).sum(axis=0)
    return left[canon], right[canon], size.astype(np.float64)


def fidelity_bound_chain(
    K: float,
    p_noise: float,
    delta,
    r: int,
    *,
    l: int = 4,  # noqa: E741
    use_numba: bool = True,
):
    """Exact fidelity bound of the radius-r local recovery on the noisy 1D Ising chain.

    Data: the infinite stationary Ising chain with coupling ``K`` seen through bit flips of
    probability ``p_noise`` (:mod:`.noisy_chain`); A = site 0, B = ``1 <= |i| <= r``,
    C = ``r < |i| <= r + l`` (``l`` sites on each side: the window of the infinite chain). The
    channel is one more forward step on A: a bit flip with probability ``delta``. Returns a
    :class:`FidelityBound`; a sequence of ``delta`` values returns a tuple of them (the
    expensive part is shared). All values are exact; TV and CMI increase with ``l`` towards
    the infinite-C values (``chain_cmi(K, p_noise, r)`` for the CMI).

    Cost ~ ``4^(r + l) / 2`` configurations times ``1 + 2 len(delta)`` pairs of logarithms
    (``r + l <= 14``; ``r = 10, l = 3``: a few seconds). ``use_numba=False`` runs the NumPy
    reference of the same sums instead of the Numba kernel (slower, for testing).

    >>> b = fidelity_bound_chain(1.0, 0.1, 0.05, 0, l=4)
    >>> round(b.tv, 8), round(b.cmi_p, 8)
    (0.05364222, 0.21496883)
    >>> [round(x.ratio, 4) for x in fidelity_bound_chain(1.0, 0.1, [0.01, 0.25], 3, l=3)]
    [0.0006, 0.136]
    """
    who = "fidelity_bound_chain"
    K = _nc._check_K(K)
    p = _check_prob(who, "p_noise", p_noise, 0.5)
    deltas, scalar = _deltas(who, delta)
    r = _check_int(who, "r", r, 0, 13)
    l = _check_int(who, "l", l, 1, 14)  # noqa: E741
    if r + l > 14:
        raise ParameterError(f"{who}: cost grows like 4^(r + l); need r + l <= 14, got {r + l}")
    W = _nc._one_sided(K, p, l)  # P(c_side | hidden spin at the edge of B), (2^l, 2)
    Phi = np.einsum("us,vt->stuv", W, W).reshape(4, -1)  # components over C = (c_left, c_right)
    G = _chain_patterns(K, p, r)
    left, right, bw = _chain_b_classes(r)
    _, E = _nc._matrices(K, p)
    cw = np.ones(Phi.shape[1])
    acc = _new_acc(len(deltas))
    kernel = _binary_kernel() if use_numba else None
    rows = max(1, _CHUNK // (2 * Phi.shape[1]))
    for start in range(0, len(left), rows):
        sl = slice(start, start + rows)
        # P(a, b, x_{-r} = s, x_r = t) = sum_x0 P(x0) P(a|x0) P(left, s | x0) P(right, t | x0)
        Jst = np.einsum("ax,jxs,jxt->jast", 0.5 * E, G[left[sl]], G[right[sl]])
        J = (Jst.reshape(-1, 4) @ Phi).reshape(Jst.shape[0], 2, -1)
        _add_binary(J[:, 0], J[:, 1], bw[sl], cw, deltas, acc, kernel)
    out = tuple(
        FidelityBound(
            "noisy_chain",
            p,
            d,
            r,
            tv=acc["tv"][k],
            kl=acc["kl"][k],
            cmi_p=acc["cmi_p"],
            cmi_q=acc["cmi_q"][k],
            n_a=1,
            n_b=2 * r,
            n_c=2 * l,
            params={"K": K, "l": l},
        )
        for k, d in enumerate(deltas)
    )
    return out[0] if scalar else out


# ---------------------------------------------------------------------------------------------
# the bit-flipped uniform loop gas


def _torus_edges(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Endpoint vertices (i L + j) of the flat edges c L^2 + i L + j of the (2, L, L) layout."""
    i, j = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    u = np.concatenate([(i * L + j).ravel(), (i * L + j).ravel()])
    v = np.concatenate([(i * L + (j + 1) % L).ravel(), (((i + 1) % L) * L + j).ravel()])
    return u, v


def fidelity_loopgas_regions(L: int, r: int, *, geometry: str = "edge"):
    """Edge masks ``(A, B, C)``, each bool ``(2, L, L)``, of :func:`fidelity_bound_loopgas`.

    ``geometry="edge"``: A = the edge (0,0)-(0,1) (channel 0 of site (0, 0)); B = the other
    edges at distance ``<= r`` from A, where the distance of two edges is 1 + the torus graph
    distance between their nearest endpoints (r = 1: the 6 edges touching A); C = the rest.
    ``geometry="site"``: DESIGN.md §2 with the owner rule, as in
    :func:`latticediff.info.syndrome.loopgas_regions`: A = the two edges of site (0, 0), B = the
    edges of the sites at L-infinity distance ``1..r``, C = the rest (needs ``2 r + 1 <= L - 1``).
    C must not be empty.

    >>> [int(m.sum()) for m in fidelity_loopgas_regions(4, 1)]
    [1, 6, 25]
    >>> [int(m.sum()) for m in fidelity_loopgas_regions(4, 1, geometry="site")]
    [2, 16, 14]
    """
    who = "fidelity_loopgas_regions"
    L = _check_int(who, "L", L, 2, 4)
    r = _check_int(who, "r", r, 0)
    if geometry not in LOOPGAS_GEOMETRIES:
        raise ParameterError(
            f"{who}: geometry must be one of {LOOPGAS_GEOMETRIES}, got {geometry!r}"
        )
    if geometry == "site":
        from ..info.syndrome import edge_mask, loopgas_regions

        if 2 * r + 1 > L - 1:
            raise ParameterError(
                f"{who}: geometry='site' with r = {r} leaves C empty on L = {L}; "
                f"need r <= {(L - 2) // 2}"
            )
        return tuple(edge_mask(L, m) for m in loopgas_regions(L, r))
    u, v = _torus_edges(L)
    coord = np.stack(np.divmod(np.arange(L * L), L), axis=1)
    diff = np.abs(coord[:, None, :] - coord[None, :, :])
    dist_v = np.minimum(diff, L - diff).sum(axis=2)  # torus graph distance between vertices
    a_ends = (u[0], v[0])
    near = np.minimum(dist_v[a_ends[0]], dist_v[a_ends[1]])  # vertex distance to A's ends
    dist_e = 1 + np.minimum(near[u], near[v])
    A = np.zeros(2 * L * L, dtype=bool)
    A[0] = True
    B = (dist_e <= r) & ~A
    C = ~(A | B)
    if not C.any():
        raise ParameterError(f"{who}: r = {r} leaves C empty on L = {L} (geometry='edge')")
    return tuple(m.reshape(2, L, L) for m in (A, B, C))


def _xor_extend(basis: list[int], vectors) -> tuple[list[int], list[int]]:
    """Extend a GF(2) basis (integers as bit vectors, kept in descending order) by ``vectors``.

    Returns the new basis and the vectors added (each reduced, independent of all before it).
    Reducing in descending order clears the leading bit of every basis vector in turn, so a
    vector reduces to 0 exactly when it lies in the span.
    """
    basis = sorted(basis, reverse=True)
    added: list[int] = []
    for v in vectors:
        v = int(v)
        for b in basis:
            v = min(v, v ^ b)
        if v:
            basis.append(v)
            basis.sort(reverse=True)
            added.append(v)
    return basis, added


def _span(basis: list[int]) -> np.ndarray:
    out = np.zeros(1, dtype=np.int64)
    for b in basis:
        out = np.concatenate([out, out ^ b])
    return out


def _syndrome_distribution(L: int, p: float) -> np.ndarray:
    """``f[s] = Pr(sigma(e) = s)`` over all 2^(L^2) vertex syndromes, e i.i.d. Bernoulli(p)."""
    u, v = _torus_edges(L)
    f = np.zeros(1 << (L * L))
    f[0] = 1.0
    idx = np.arange(f.size)
    for a, b in zip(u, v, strict=True):
        f = (1.0 - p) * f + p * f[idx ^ ((1 << a) | (1 << b))]
    return f


def fidelity_bound_loopgas(L: int, p_noise: float, delta, r: int, *, geometry: str = "edge"):
    """Exact fidelity bound of the radius-r local recovery on the bit-flipped uniform loop gas.

    Data ``y = x XOR e`` on the 2 L^2 edges of the L x L torus (layout of
    :class:`latticediff.LoopGas`), x uniform on the closed-loop (even-degree) configurations,
    e i.i.d. Bernoulli(``p_noise``). Regions from :func:`fidelity_loopgas_regions` (C = every
    remaining edge of the torus); the channel flips each bit of A with probability ``delta``.
    Exact via the vertex-syndrome structure (module docstring); ``L <= 4``. A sequence of
    ``delta`` values returns a tuple of :class:`FidelityBound`.

    >>> b = fidelity_bound_loopgas(3, 0.1, 0.1, 1)
    >>> (b.n_a, b.n_b, b.n_c), round(b.tv, 8), round(b.cmi_p, 8)
    ((1, 6, 11), 0.03555002, 0.03539148)
    >>> b.max_violation < 0
    True
    """
    who = "fidelity_bound_loopgas"
    L = _check_int(who, "L", L, 2, 4)
    p = _check_prob(who, "p_noise", p_noise, 0.5)
    deltas, scalar = _deltas(who, delta)
    A, B, C = (m.ravel() for m in fidelity_loopgas_regions(L, r, geometry=geometry))
    u, v = _torus_edges(L)
    emask = (np.int64(1) << u) | (np.int64(1) << v)  # syndrome of each single edge
    n_a, n_b, n_c = int(A.sum()), int(B.sum()), int(C.sum())
    basis_c, _ = _xor_extend([], emask[C])
    # representatives of the cosets of S_C hit by sigma_B: the span of the vectors B adds
    _, new_b = _xor_extend(basis_c, emask[B])
    t_rep = _span(new_b)
    s_c = _span(basis_c)
    sig_a = np.zeros(1 << n_a, dtype=np.int64)
    for k, e in enumerate(emask[A]):  # bit k of a is the k-th A edge (flat order)
        sig_a[(np.arange(1 << n_a) >> k) & 1 == 1] ^= e
    f = _syndrome_distribution(L, p)
    dim_z = 2 * L * L - L * L + 1
    key = t_rep[:, None, None] ^ sig_a[None, :, None] ^ s_c[None, None, :]
    J = f[key] * 2.0**-dim_z  # probability of one configuration (a, b in class j, c in class s)
    bw = np.full(len(t_rep), 2.0 ** (n_b - len(new_b)))
    cw = np.full(len(s_c), 2.0 ** (n_c - len(basis_c)))
    channels = [bitflip_channel(n_a, d) for d in deltas]
    acc = _new_acc(len(channels))
    _accumulate(J, bw, cw, channels, acc)
    out = tuple(
        FidelityBound(
            "loop_gas",
            p,
            d,
            r,
            tv=acc["tv"][k],
            kl=acc["kl"][k],
            cmi_p=acc["cmi_p"],
            cmi_q=acc["cmi_q"][k],
            n_a=n_a,
            n_b=n_b,
            n_c=n_c,
            params={"L": L, "geometry": geometry},
        )
        for k, d in enumerate(deltas)
    )
    return out[0] if scalar else out


# ---------------------------------------------------------------------------------------------
# the radius the bound asks for


def fidelity_radius(eps: float, *, gamma: float, xi: float) -> float:
    """Radius at which the bound guarantees ``TV <= eps`` when ``I(r) <= gamma exp(-r / xi)``.

    From ``2 TV^2 <= I(r) <= gamma e^{-r/xi}``: ``TV <= eps`` once ``gamma e^{-r/xi} <= 2 eps^2``,
    i.e. ``r >= xi ln(gamma / (2 eps^2)) = 2 xi ln(sqrt(gamma / 2) / eps)``. (The paper's
    ``r ~ xi log(sqrt(gamma) / eps)`` has the same form with the decay length of the TV bound,
    ``2 xi``, in place of ``xi`` and the constant ``sqrt 2`` dropped.) May be negative (then any
    ``r >= 0`` does).

    >>> round(fidelity_radius(1e-3, gamma=0.5, xi=1.0), 4)    # ln(0.5 / 2e-6)
    12.4292
    """
    who = "fidelity_radius"
    for name, v in (("eps", eps), ("gamma", gamma), ("xi", xi)):
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise ParameterError(f"{who}: {name} must be a positive number, got {v!r}")
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ParameterError(f"{who}: {name} must be positive and finite, got {v}")
    return float(xi) * math.log(float(gamma) / (2.0 * float(eps) ** 2))
