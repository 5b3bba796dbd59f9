"""Exact-likelihood CMI of the bit-flipped uniform loop gas (the ``syndrome`` estimator).

The model
---------
``y = x + e (mod 2)`` on the 2 L^2 edges of the L x L torus (channel 0: edge (i, j)-(i, j+1),
channel 1: edge (i, j)-(i+1, j), as in :class:`latticediff.LoopGas`), with x uniform on the cycle
space Z (the Z-basis distribution of the toric code) and e i.i.d. Bernoulli(p). Its CMI
transition sits at the Nishimori point of the random-bond Ising model, p_c = 0.1092 (Sang &
Hsieh, "Stability of mixed-state quantum phases via finite Markov length", PRL 134, 070403
(2025); DESIGN.md §2).

Exact marginals
---------------
For an edge set Q, x_Q is uniform on the restriction Z_Q, so ``P(y_Q)`` is constant on the
cosets ``y_Q + Z_Q`` and, by a Fourier transform over GF(2)^Q,

    P(y_Q) = 2^{-|Q|} sum_{c in Cut_Q} (1 - 2p)^{|c|} (-1)^{y . c},

where Cut_Q holds the edge boundaries dS of vertex sets S with dS inside Q (the parity checks
of Q: vertex stars inside Q and, for each hole of Q, the parity of the edges into the hole).
Their number is 2^{rank_Q} with rank_Q = (components of the graph (V, E \\ Q)) - 1, and

    H(y_Q) = H(sigma_Q(e_Q)) + (|Q| - rank_Q) log 2

(the formula of DESIGN.md §2; checked against brute force in the tests). The cuts dS are the
homologically trivial cycles of the dual lattice, so the sum is the trivial-homology loop sum of
a random-bond Ising model on the plaquettes with bond weights ``tanh K_b = (1 - 2p)(-1)^{y_b}``
on the bonds dual to Q -- the Nishimori line, e^{-2K} = p / (1 - p) -- evaluated exactly by
Kasteleyn Pfaffians in :mod:`._rbim` (four boundary sectors on the torus). The cost is about
1 ms per Pfaffian at L = 12. log P agrees with a positive-weight transfer matrix to ~1e-13 for
typical samples; the loop expansion cancels for very atypical y at tiny p (e.g. 5 % flipped
bits at p = 1e-4), where the relative error of P grows (1e-6 seen).

Estimator
---------
Entropies are ``H(y_Q) = -E log P(y_Q)``; because P(y_Q) only depends on the coset of y_Q and
y_Q - e_Q lies in Z_Q, it suffices to sample e. The CMI ``I(A:C|B) = H(A|B) - H(A|BC)`` is the
mean of per-sample terms on the same error samples, so its standard error is the sample
standard deviation over sqrt(n); the estimate is unbiased and never clipped. The default
estimator sums the outcome y_A out exactly (a Rao-Blackwellisation) and writes the CMI as
``E KL(P(y_A | y_BC) || P(y_A | y_B))``, averaged over translates of A in each sample; see
:func:`syndrome_cmi`.

Geometry
--------
Degrees of freedom are sites that own their two edges (channels 0 and 1), the layout of loop-gas
data ``(2, L, L)``. A is the a x a block of sites with corner (0, 0), B the sites at periodic
L-infinity distance 1..r from it, C the rest; ``2 r + a <= L - 1`` keeps C non-empty. In this
geometry the clean loop gas is exactly Markov: I(A:C|B) = 0 for every r >= 1 at p = 0, while
at r = 0 it is 2 log 2 for a = 1 (x_A is fixed by x_C). Exactly at p = 0 the entropies are the
integer counts above and no sampling is done.

Example
-------
>>> from latticediff.info.syndrome import syndrome_cmi
>>> est = syndrome_cmi(L=6, p=0.1, radius=1, n_samples=64, seed=1)
>>> est.method, est.radius, est.n_samples, est.value > -3 * est.stderr
('syndrome', 1, 64, True)
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from .result import CMIEstimate

__all__ = [
    "EntropyEstimate",
    "loopgas_regions",
    "loopgas_log_prob",
    "loopgas_entropy",
    "syndrome_cmi",
    "cut_rank",
]

LOG2 = math.log(2.0)
P_C_NISHIMORI = 0.1092  # Nishimori point of the 2D +-J random-bond Ising model
_BATCH = 2048  # samples per random stream (SeedSequence child); fixes the draw per sample
_CHUNK = 8  # samples per parallel work item (any value gives the same numbers)


@dataclass(frozen=True)
class EntropyEstimate:
    """An entropy H(y_Q) in nats with its standard error (``stderr = 0`` when exact).

    ``syndrome_entropy`` is ``value - (n_edges - rank) log 2``, the entropy of the parity-check
    syndrome sigma_Q(e_Q); ``rank`` is the GF(2) rank of the checks inside Q.

    >>> h = EntropyEstimate(value=1.2, stderr=0.01, n_samples=100, n_edges=4, rank=1)
    >>> round(h.syndrome_entropy, 6)
    -0.879442
    """

    value: float
    stderr: float
    n_samples: int | None
    n_edges: int
    rank: int
    details: dict = field(default_factory=dict)

    @property
    def syndrome_entropy(self) -> float:
        return self.value - (self.n_edges - self.rank) * LOG2

    def __str__(self) -> str:
        return f"H = {self.value:.6g} ± {self.stderr:.2g} nats (|Q| = {self.n_edges})"


# --------------------------------------------------------------------------------------------
# Validation and regions
# --------------------------------------------------------------------------------------------


def _check_L(L) -> int:
    if isinstance(L, bool) or not isinstance(L, int | np.integer) or L < 2:
        raise ParameterError(f"L must be an integer >= 2, got {L!r}")
    return int(L)


def _check_p(p) -> float:
    try:
        pf = float(p)
    except (TypeError, ValueError):
        raise ParameterError(f"p must be a float in [0, 0.5], got {p!r}") from None
    if not (0.0 <= pf <= 0.5):
        raise ParameterError(f"p must be in [0, 0.5], got {p!r}")
    return pf


def _check_count(name: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
        raise ParameterError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def loopgas_regions(L: int, radius: int, a: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site masks (A, B, C), each bool (L, L), of the annulus geometry on the L x L torus.

    A is the a x a block with corner (0, 0); B the sites at periodic L-infinity distance
    1..radius from A; C the rest. Requires ``2 * radius + a <= L - 1`` (C non-empty). A site owns
    its two edges (channels 0 and 1); see :func:`edge_mask`.

    >>> A, B, C = loopgas_regions(5, 1)
    >>> int(A.sum()), int(B.sum()), int(C.sum())
    (1, 8, 16)
    """
    L = _check_L(L)
    radius = _check_count("radius", radius, 0)
    a = _check_count("a", a, 1)
    if 2 * radius + a > L - 1:
        raise ParameterError(
            f"radius={radius}, a={a} leave no region C on an L={L} torus; "
            f"need 2 * radius + a <= L - 1 = {L - 1}"
        )
    idx = np.arange(L)
    # periodic distance of each row (column) index to the block {0, ..., a-1}
    d = np.min(np.abs(idx[:, None] - np.arange(a)[None, :]), axis=1)
    d = np.minimum(d, np.min((np.arange(a)[None, :] - idx[:, None]) % L, axis=1))
    d = np.minimum(d, np.min((idx[:, None] - np.arange(a)[None, :]) % L, axis=1))
    dist = np.maximum(d[:, None], d[None, :])
    A = dist == 0
    B = (dist >= 1) & (dist <= radius)
    C = dist > radius
    return A, B, C


def edge_mask(L: int, region_mask) -> np.ndarray:
    """Edge mask (2, L, L) of a region given as an edge mask or as a site mask (L, L).

    >>> edge_mask(3, loopgas_regions(3, 0)[0]).sum()
    np.int64(2)
    """
    m = np.asarray(region_mask)
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise ParameterError("region_mask must be boolean (or 0/1)")
        m = m.astype(bool)
    if m.shape == (L, L):
        return np.broadcast_to(m, (2, L, L)).copy()
    if m.shape == (2, L, L):
        return m.copy()
    raise ParameterError(
        f"region_mask must have shape ({L}, {L}) (sites) or (2, {L}, {L}) (edges), got {m.shape}"
    )


def _edge_endpoints(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex indices (i L + j) of both ends of every flat edge c L^2 + i L + j."""
    i, j = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    u = np.concatenate([(i * L + j).ravel(), (i * L + j).ravel()])
    v = np.concatenate([(i * L + (j + 1) % L).ravel(), (((i + 1) % L) * L + j).ravel()])
    return u, v


def _components(L: int, keep: np.ndarray) -> np.ndarray:
    """Component label per vertex of the graph with the edges ``keep`` (flat bool)."""
    u, v = _edge_endpoints(L)
    parent = np.arange(L * L)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(u[keep], v[keep], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    roots = np.array([find(a) for a in range(L * L)])
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def cut_rank(L: int, region_mask) -> int:
    """GF(2) rank of the parity checks inside Q: (components of (V, E minus Q)) - 1.

    The checks are the cuts dS contained in Q; S must be a union of components of the graph
    without the edges of Q, and S and its complement give the same cut.

    >>> cut_rank(4, np.ones((2, 4, 4), bool)), cut_rank(4, np.zeros((2, 4, 4), bool))
    (15, 0)
    """
    L = _check_L(L)
    q = edge_mask(L, region_mask).reshape(-1)
    return int(_components(L, ~q).max())


# --------------------------------------------------------------------------------------------
# Core evaluation
# --------------------------------------------------------------------------------------------


def _plans(L: int, masks: list[np.ndarray], flips: list[np.ndarray | None]):
    """Flatten the region plans of ``masks`` into the arrays of ``_rbim.log_probs``."""
    from . import _rbim

    n_nodes, n_edges, n_var, n_sec, boff = [], [], [], [], [0]
    bu, bv, be, bs, bf = [], [], [], [], []
    for mask, flip in zip(masks, flips, strict=True):
        plan = _rbim.RegionPlan(L, mask)
        n_nodes.append(plan.n_nodes)
        n_edges.append(plan.n_edges)
        n_sec.append(plan.n_sectors)
        fl = np.full(plan.bedge.size, -1, np.int64)
        if flip is not None:
            for pos, edge in enumerate(flip):
                fl[plan.bedge == edge] = pos
        n_var.append(1 if flip is None else 2 ** len(flip))
        bu.append(plan.bu)
        bv.append(plan.bv)
        be.append(plan.bedge)
        bs.append(plan.bseam)
        bf.append(fl)
        boff.append(boff[-1] + plan.bedge.size)

    def cat(xs):
        return np.ascontiguousarray(np.concatenate(xs) if xs else np.zeros(0), dtype=np.int64)

    return (
        np.array(n_nodes, np.int64),
        np.array(n_edges, np.int64),
        np.array(n_var, np.int64),
        np.array(boff, np.int64),
        cat(bu),
        cat(bv),
        cat(be),
        cat(bs),
        cat(bf),
        np.array(n_sec, np.int64),
    )


@contextmanager
def _numba_threads(n_threads: int | None):
    if n_threads is None:
        yield
        return
    import numba

    n_threads = _check_count("n_threads", n_threads, 1)
    old = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _log_probs(L, p, errs, masks, flips, n_threads=None) -> np.ndarray:
    """Exact log P(y_Q = errs_Q + delta) for every sample, region and flip variant."""
    from . import _rbim

    arrays = _plans(L, masks, flips)
    errs = np.ascontiguousarray(errs, dtype=np.uint8).reshape(len(errs), 2 * L * L)
    with _numba_threads(n_threads):
        out = _rbim.log_probs(errs, 1.0 - 2.0 * p, *arrays, _CHUNK)
    return out


def _draw_errors(L: int, p: float, n: int, seed) -> np.ndarray:
    """i.i.d. Bernoulli(p) errors (n, 2 L^2); batch k uses the k-th child of SeedSequence(seed),
    so the first m samples do not depend on n."""
    if isinstance(seed, np.random.SeedSequence):
        # a fresh copy: spawning from the caller's object would advance its child counter
        ss = np.random.SeedSequence(
            seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size
        )
    else:
        ss = np.random.SeedSequence(seed)
    n_batches = (n + _BATCH - 1) // _BATCH
    out = np.empty((n, 2 * L * L), np.uint8)
    for k, child in enumerate(ss.spawn(n_batches)):
        m = min(_BATCH, n - k * _BATCH)
        out[k * _BATCH : k * _BATCH + m] = np.random.default_rng(child).random((m, 2 * L * L)) < p
    return out


def _check_seed(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer or a SeedSequence, got {seed!r}")
    return int(seed)


def loopgas_log_prob(L: int, p: float, region_mask, y) -> np.ndarray:
    """Exact ``log P(y_Q)`` (nats) of observations of the bit-flipped uniform loop gas.

    ``y`` is uint8/bool of shape (2, L, L) or (n, 2, L, L); only the edges of the region
    (an edge mask (2, L, L) or a site mask (L, L)) are used. Computed by Kasteleyn Pfaffians of
    the random-bond Ising model on the Nishimori line (module docstring).

    >>> import numpy as np
    >>> y = np.zeros((2, 4, 4), np.uint8)
    >>> round(float(loopgas_log_prob(4, 0.0, np.ones((4, 4), bool), y)[0] / np.log(2)), 6)
    -17.0
    """
    L = _check_L(L)
    p = _check_p(p)
    q = edge_mask(L, region_mask)
    y = np.asarray(y)
    if y.shape == (2, L, L):
        y = y[None]
    if y.ndim != 4 or y.shape[1:] != (2, L, L):
        raise ParameterError(f"y must have shape (2, {L}, {L}) or (n, 2, {L}, {L}), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ParameterError("y must hold bits 0/1")
    y = y.reshape(len(y), -1).astype(np.uint8)
    if p == 0.0:
        # no noise: uniform on Z_Q, i.e. 2^-(|Q| - rank) when every check inside Q holds
        qf = q.reshape(-1)
        lab = _components(L, ~qf)
        u, v = _edge_endpoints(L)
        yq = (y & qf[None, :]).astype(np.int64)
        par = np.zeros((len(y), L * L), np.int64)
        np.add.at(par.T, u, yq.T)
        np.add.at(par.T, v, yq.T)
        viol = np.zeros((len(y), int(lab.max()) + 1), np.int64)
        np.add.at(viol.T, lab, (par % 2).T)
        ok = ~(viol % 2).any(axis=1)
        rank = int(lab.max())
        return np.where(ok, -(int(qf.sum()) - rank) * LOG2, -np.inf)
    return _log_probs(L, p, y, [q], [None])[:, 0, 0]


def _mean_err(x: np.ndarray) -> tuple[float, float]:
    n = x.size
    m = float(np.mean(x))
    s = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return m, s


def loopgas_entropy(
    L: int,
    p: float,
    region_mask,
    *,
    n_samples: int = 1000,
    seed=0,
    n_threads: int | None = None,
) -> EntropyEstimate:
    """Entropy H(y_Q) in nats of the bit-flipped uniform loop gas on a region Q of the torus.

    Unbiased Monte Carlo over the errors with exact per-sample log-probabilities (exact, with
    ``stderr = 0``, at p = 0 and p = 0.5). ``region_mask``: edge mask (2, L, L) or site mask
    (L, L).

    >>> import numpy as np
    >>> h = loopgas_entropy(4, 0.1, np.ones((4, 4), bool), n_samples=200, seed=3)
    >>> (h.n_edges, h.rank), bool(0 < h.syndrome_entropy < 15 * np.log(2))
    ((32, 15), True)
    """
    L = _check_L(L)
    p = _check_p(p)
    n_samples = _check_count("n_samples", n_samples, 2)
    seed = _check_seed(seed)
    q = edge_mask(L, region_mask)
    nq = int(q.sum())
    rank = cut_rank(L, q)
    if p == 0.0 or p == 0.5:
        value = (nq - rank) * LOG2 if p == 0.0 else nq * LOG2
        return EntropyEstimate(value, 0.0, None, nq, rank, {"exact": True, "L": L, "p": p})
    errs = _draw_errors(L, p, n_samples, seed)
    lp = _log_probs(L, p, errs, [q], [None], n_threads)[:, 0, 0]
    if not np.all(np.isfinite(lp)):
        raise FloatingPointError("non-finite log-probability from the Pfaffian contraction")
    h, err = _mean_err(-lp)
    return EntropyEstimate(h, err, n_samples, nq, rank, {"exact": False, "L": L, "p": p})


def _site_log_c0(
    L: int,
    p: float,
    errs: np.ndarray,
    radius: int,
    a: int,
    sites: np.ndarray,
    n_threads: int | None = None,
):
    """Per-sample, per-site log c0 of B, AB(y_A) and ABC(y_A) (see _rbim.site_log_c0)."""
    from . import _rbim

    A, B, _ = loopgas_regions(L, radius, a)
    qa, qb = edge_mask(L, A), edge_mask(L, B)
    a_edges = [tuple(int(x) for x in e) for e in zip(*np.nonzero(qa), strict=True)]
    nA = len(a_edges)
    gplan = _rbim.RegionPlan(L, np.ones((2, L, L), bool))
    bond_of_edge = {int(e): k for k, e in enumerate(gplan.bedge)}
    extra = []
    for c, i, j in a_edges:
        u, v, _ = _rbim.dual_bond(L, c, i, j)
        extra += [u, v]
    lplan = _rbim.RegionPlan(L, qb, extra_spins=extra)
    lsu = np.empty((1, nA), np.int64)
    lsv = np.empty((1, nA), np.int64)
    lss = np.empty((1, nA), np.int64)
    for b, (c, i, j) in enumerate(a_edges):
        u, v, seam = _rbim.dual_bond(L, c, i, j)
        lsu[0, b], lsv[0, b] = lplan.bond_nodes(u, v, c)
        lss[0, b] = seam
    gbidx = np.empty((len(sites), nA), np.int64)
    for s, (i0, j0) in enumerate(sites):
        for b, (c, i, j) in enumerate(a_edges):
            gbidx[s, b] = bond_of_edge[c * L * L + ((i + i0) % L) * L + (j + j0) % L]
    lbc, lbi, lbj = np.unravel_index(lplan.bedge, (2, L, L))
    ac, ai, aj = (np.array(x, np.int64) for x in zip(*a_edges, strict=True))
    errs = np.ascontiguousarray(errs, dtype=np.uint8).reshape(len(errs), 2 * L * L)
    with _numba_threads(n_threads):
        res, fb = _rbim.site_log_c0(
            errs,
            1.0 - 2.0 * p,
            L,
            gplan.n_nodes,
            gplan.bu,
            gplan.bv,
            gplan.bedge,
            gplan.bseam,
            gplan.n_sectors,
            gplan.bu[gbidx],
            gplan.bv[gbidx],
            gplan.bseam[gbidx],
            gbidx,
            lplan.n_nodes,
            lplan.bu,
            lplan.bv,
            lbc.astype(np.int64),
            lbi.astype(np.int64),
            lbj.astype(np.int64),
            lplan.bseam,
            lplan.n_sectors,
            lsu,
            lsv,
            lss,
            ac,
            ai,
            aj,
            np.ascontiguousarray(sites, dtype=np.int64),
            _CHUNK,
        )
    return res, fb


def _logsumexp(x: np.ndarray) -> np.ndarray:
    mx = x.max(axis=-1, keepdims=True)
    return mx[..., 0] + np.log(np.exp(x - mx).sum(axis=-1))


def _site_sites(L: int, stride) -> np.ndarray:
    if stride == "all":
        stride = 1
    stride = _check_count("site_stride", stride, 1)
    g = np.arange(0, L, stride)
    return np.array([(i, j) for i in g for j in g], np.int64)


_ESTIMATORS = ("kl", "difference", "direct")
_BATCH_SITES = 256  # samples per call of the site kernel (bounds the memory of per-site values)


def syndrome_cmi(
    L: int,
    p: float,
    radius: int,
    *,
    n_samples: int = 1000,
    seed=0,
    a: int = 1,
    estimator: str | None = None,
    site_stride: int | str | None = None,
    n_threads: int | None = None,
) -> CMIEstimate:
    """I(A:C|B) in nats of the bit-flipped uniform loop gas on the L x L torus, exact likelihoods.

    A: a x a block of sites (each site owns its two edges), B: the periodic L-infinity shell of
    the given ``radius`` around A, C: the rest (:func:`loopgas_regions`). Each sample draws the
    errors e; the marginals of y_B, y_AB, y_BC, y_ABC are exact Pfaffians (module docstring).

    Estimators (all unbiased; the error bar is std / sqrt(n_samples) over i.i.d. samples):

    ``"kl"`` (default for a = 1)
        I = E KL(P(y_A | y_BC) || P(y_A | y_B)): y_A is summed out exactly, every term is >= 0,
        and each sample averages the term over the sites of a sublattice with spacing
        ``site_stride`` (translation invariance; default 1 for radius <= 2, else 2; "all" = 1).
        The global marginals of all sites come from one factorisation per boundary sector
        (rank-4 updates through a selected inverse), the local ones from one factorisation per
        site.
    ``"difference"``
        Same samples and sites, I = E[H(y_A | y_B) - H(y_A | y_BC)].
    ``"direct"`` (any a; default for a > 1)
        One site; I = E[-log P(y_AB) - log P(y_BC) + log P(y_B) + log P(y_ABC)] with the four
        marginals evaluated separately at the sampled y: the plain estimator.

    Results depend only on (seed, n_samples) and the options, not on ``n_threads``. ``details``
    holds each entropy H(AB), H(BC), H(B), H(ABC) with its error, the conditional entropies,
    the syndrome entropies and ranks, the other site estimator on the same samples, and
    ``marginal_check``: the largest |log sum_{y_A} P(y_AB) - log P(y_B)|, which must be at
    rounding level (two independent Pfaffian routes to the same number).

    >>> est = syndrome_cmi(L=6, p=0.0, radius=1)
    >>> est.value, est.stderr, est.details["exact"]
    (0.0, 0.0, True)
    """
    L = _check_L(L)
    p = _check_p(p)
    A, B, C = loopgas_regions(L, radius, a)
    n_samples = _check_count("n_samples", n_samples, 2)
    seed = _check_seed(seed)
    if estimator is None:
        estimator = "kl" if a == 1 else "direct"
    if estimator not in _ESTIMATORS:
        raise ParameterError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
    if estimator != "direct" and a != 1:
        raise ParameterError(
            f"estimator={estimator!r} sums out y_A exactly and supports a = 1 only, got a={a}; "
            "use estimator='direct'"
        )
    qa, qb, qc = (edge_mask(L, m) for m in (A, B, C))
    masks = {"AB": qa | qb, "BC": qb | qc, "B": qb, "ABC": qa | qb | qc}
    nq = {k: int(m.sum()) for k, m in masks.items()}
    ranks = {k: cut_rank(L, m) for k, m in masks.items()}
    base = {
        "L": L,
        "p": p,
        "a": int(a),
        "radius": int(radius),
        "estimator": estimator,
        "geometry": "A: a x a block of sites; B: L-inf shell 1..r; C: rest; sites own 2 edges",
        "n_edges": nq,
        "ranks": ranks,
        "seed": None if isinstance(seed, np.random.SeedSequence) else seed,
    }
    if p == 0.0 or p == 0.5:
        h = {k: ((nq[k] - ranks[k]) * LOG2 if p == 0.0 else nq[k] * LOG2) for k in masks}
        val = h["AB"] + h["BC"] - h["B"] - h["ABC"]
        val = 0.0 if abs(val) < 1e-9 else val  # an integer multiple of log 2
        details = dict(base, exact=True, entropies={k: [v, 0.0] for k, v in h.items()})
        return CMIEstimate(val, 0.0, "syndrome", int(radius), None, details)

    errs = _draw_errors(L, p, n_samples, seed)
    if estimator == "direct":
        order = ["AB", "BC", "B", "ABC"]
        lp = _log_probs(L, p, errs, [masks[k] for k in order], [None] * 4, n_threads)[:, :, 0]
        per = {k: -lp[:, i] for i, k in enumerate(order)}
        cond_b = per["AB"] - per["B"]
        cond_bc = per["ABC"] - per["BC"]
        d = cond_b - cond_bc
        other = {}
        extra = {"n_sites": 1}
    else:
        if site_stride is None:
            site_stride = 1 if radius <= 2 else 2
        sites = _site_sites(L, site_stride)
        acc = {k: [] for k in ("lpb", "lpbc", "hb", "hbc", "kl", "chk", "fb")}
        for start in range(0, n_samples, _BATCH_SITES):
            res, fb = _site_log_c0(
                L, p, errs[start : start + _BATCH_SITES], radius, a, sites, n_threads
            )
            nv = (res.shape[2] - 1) // 2
            lc_b, lc_ab, lc_abc = res[..., 0], res[..., 1 : 1 + nv], res[..., 1 + nv :]
            lse_ab = _logsumexp(lc_ab)
            lse_abc = _logsumexp(lc_abc)
            lq_b = lc_ab - lse_ab[..., None]
            lq_bc = lc_abc - lse_abc[..., None]
            q_b, q_bc = np.exp(lq_b), np.exp(lq_bc)
            acc["lpb"].append((lc_b - nq["B"] * LOG2).mean(1))
            acc["lpbc"].append((lse_abc - nq["ABC"] * LOG2).mean(1))
            acc["hb"].append(-(q_b * lq_b).sum(-1).mean(1))
            acc["hbc"].append(-(q_bc * lq_bc).sum(-1).mean(1))
            acc["kl"].append((q_bc * (lq_bc - lq_b)).sum(-1).mean(1))
            acc["chk"].append(np.abs(lse_ab - lc_b - (nq["AB"] - nq["B"]) * LOG2).max(1))
            acc["fb"].append(fb)
        acc = {k: np.concatenate(v) for k, v in acc.items()}
        per = {
            "B": -acc["lpb"],
            "AB": -acc["lpb"] + acc["hb"],
            "BC": -acc["lpbc"],
            "ABC": -acc["lpbc"] + acc["hbc"],
        }
        cond_b, cond_bc = acc["hb"], acc["hbc"]
        diff = cond_b - cond_bc
        d = acc["kl"] if estimator == "kl" else diff
        alt = "difference" if estimator == "kl" else "kl"
        other = {alt: list(_mean_err(diff if estimator == "kl" else acc["kl"]))}
        extra = {
            "n_sites": int(len(sites)),
            "site_stride": int(site_stride if site_stride != "all" else 1),
            "marginal_check": float(np.max(acc["chk"])),
            "n_direct_fallbacks": int(np.sum(acc["fb"] > 0)),
        }
    for k, v in per.items():
        if not np.all(np.isfinite(v)):
            raise FloatingPointError(f"non-finite log-probability in region {k}")
    if not np.all(np.isfinite(d)):
        raise FloatingPointError("non-finite per-sample CMI")
    val, err = _mean_err(d)
    ent = {k: list(_mean_err(v)) for k, v in per.items()}
    details = dict(
        base,
        exact=False,
        entropies=ent,
        syndrome_entropies={k: ent[k][0] - (nq[k] - ranks[k]) * LOG2 for k in ent},
        conditional={"H(A|B)": list(_mean_err(cond_b)), "H(A|BC)": list(_mean_err(cond_bc))},
        other_estimator=other,
        **extra,
    )
    return CMIEstimate(val, err, "syndrome", int(radius), n_samples, details)


# --------------------------------------------------------------------------------------------
# Slow references (tests): four independent routes to the same numbers
# --------------------------------------------------------------------------------------------


def _wht(a: np.ndarray) -> np.ndarray:
    """Unnormalised Walsh-Hadamard transform along a length-2^k vector."""
    a = np.array(a, dtype=float)
    n = a.size
    h = 1
    while h < n:
        a = a.reshape(-1, 2, h)
        a = np.stack([a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]], axis=1)
        h *= 2
    return a.reshape(n)


def _popcount(n_bits: int) -> np.ndarray:
    codes = np.arange(2**n_bits, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n_bits)[None, :]) & 1).sum(1)


def _ref_cuts(L: int, mask) -> np.ndarray:
    """All cuts dS contained in Q as rows of a bool array (2^rank, 2 L^2), via components."""
    q = edge_mask(L, mask).reshape(-1)
    lab = _components(L, ~q)
    u, v = _edge_endpoints(L)
    nc = int(lab.max()) + 1
    basis = np.zeros((nc - 1, 2 * L * L), dtype=bool)
    for k in range(nc - 1):
        basis[k] = (lab[u] == k) ^ (lab[v] == k)
    if nc - 1 > 22:
        raise ParameterError(f"too many checks to enumerate ({nc - 1} > 22)")
    codes = np.arange(2 ** (nc - 1), dtype=np.int64)
    coeff = ((codes[:, None] >> np.arange(nc - 1)[None, :]) & 1).astype(np.int64)
    return ((coeff @ basis.astype(np.int64)) % 2).astype(bool)


def _ref_log_prob_cuts(L: int, p: float, mask, y) -> np.ndarray:
    """log P(y_Q) = log[2^-|Q| sum_cuts (1-2p)^|c| (-1)^(y.c)] by explicit cut enumeration."""
    q = edge_mask(L, mask).reshape(-1)
    cuts = _ref_cuts(L, mask)
    y = np.asarray(y, dtype=np.int64).reshape(-1, 2 * L * L)
    sign = 1 - 2 * ((y @ cuts.T.astype(np.int64)) % 2)
    tot = (sign * (1.0 - 2.0 * p) ** cuts.sum(1)[None, :]).sum(1)
    with np.errstate(divide="ignore"):
        return np.log(tot) - q.sum() * LOG2


def _ref_entropy_cuts(L: int, p: float, mask) -> float:
    """Exact H(y_Q): the whole distribution of y_Q by one Walsh-Hadamard transform of the cut
    spectrum (|Q| <= 24)."""
    q = edge_mask(L, mask).reshape(-1)
    nq = int(q.sum())
    if nq > 24:
        raise ParameterError(f"|Q| = {nq} too large for enumeration (<= 24)")
    cuts = _ref_cuts(L, mask)[:, q]
    spec = np.zeros(2**nq)
    codes = (cuts.astype(np.int64) << np.arange(nq)[None, :]).sum(1)
    spec[codes] = (1.0 - 2.0 * p) ** cuts.sum(1)
    prob = _wht(spec) / 2**nq
    prob = prob[prob > 0]
    return float(-(prob * np.log(prob)).sum())


def _cycle_space(L: int) -> np.ndarray:
    """All 2^(L^2+1) cycles of the torus as rows of a bool array (L <= 4)."""
    nE = 2 * L * L
    basis = []
    for i in range(L):  # plaquette boundaries h(i,j), h(i+1,j), v(i,j), v(i,j+1)
        for j in range(L):
            b = np.zeros(nE, np.int64)
            for c, a, k in ((0, i, j), (0, (i + 1) % L, j), (1, i, j), (1, i, (j + 1) % L)):
                b[c * L * L + a * L + k] ^= 1
            basis.append(b)
    basis = basis[:-1]
    wx = np.zeros(nE, np.int64)
    wx[[j for j in range(L)]] = 1  # channel-0 edges of row 0
    wy = np.zeros(nE, np.int64)
    wy[[L * L + i * L for i in range(L)]] = 1  # channel-1 edges of column 0
    Bm = np.array(basis + [wx, wy])
    codes = np.arange(2 ** Bm.shape[0], dtype=np.int64)
    coeff = (codes[:, None] >> np.arange(Bm.shape[0])[None, :]) & 1
    return ((coeff @ Bm) % 2).astype(bool)


def _ref_entropy_cycles(L: int, p: float, mask) -> float:
    """H(y_Q) from first principles: histogram of x_Q over the whole cycle space, XOR-convolved
    with the Bernoulli(p) noise by Walsh-Hadamard transforms (L <= 3, |Q| <= 22)."""
    q = edge_mask(L, mask).reshape(-1)
    nq = int(q.sum())
    z = _cycle_space(L)[:, q]
    codes = (z.astype(np.int64) << np.arange(nq)[None, :]).sum(1)
    px = np.bincount(codes, minlength=2**nq) / len(codes)
    py = _wht(_wht(px) * (1.0 - 2.0 * p) ** _popcount(nq)) / 2**nq
    py = py[py > 1e-300]
    return float(-(py * np.log(py)).sum())


def _ref_syndrome_entropy(L: int, p: float, mask) -> tuple[float, int]:
    """(H(sigma_Q(e_Q)), rank_Q) by brute force: every vertex set S gives a candidate check dS,
    kept if inside Q; GF(2) rank by elimination; syndrome distribution over all e_Q (L <= 3)."""
    q = edge_mask(L, mask).reshape(-1)
    u, v = _edge_endpoints(L)
    nV = L * L
    checks = []
    for code in range(1, 2 ** (nV - 1)):  # S and its complement give the same cut
        s = (code >> np.arange(nV)) & 1
        cut = (s[u] ^ s[v]).astype(bool)
        if cut.any() and not (cut & ~q).any():
            checks.append(cut[q])
    # GF(2) row reduction
    rows = [int("".join("1" if b else "0" for b in c), 2) for c in checks]
    basis = []
    for r in rows:
        for b in basis:
            r = min(r, r ^ b)
        if r:
            basis.append(r)
    rank = len(basis)
    nq = int(q.sum())
    if rank == 0:
        return 0.0, 0
    H = np.array([[int(ch) for ch in format(b, f"0{nq}b")] for b in basis], dtype=np.int64)
    e = ((np.arange(2**nq)[:, None] >> np.arange(nq)[None, :]) & 1)[:, ::-1]
    syn = (e @ H.T) % 2
    scode = (syn << np.arange(rank)[None, :]).sum(1)
    k = e.sum(1)
    pe = p**k * (1.0 - p) ** (nq - k)
    ps = np.bincount(scode, weights=pe, minlength=2**rank)
    ps = ps[ps > 0]
    return float(-(ps * np.log(ps)).sum()), rank


def _ref_log_prob_transfer(L: int, p: float, mask, y) -> np.ndarray:
    """log P(y_Q) = log[2^-(L^2+2) sum_{s, h} prod_{b in Q} w(y_b + (ds)_b + h_b)], w(0) = 1-p,
    w(1) = p, summed by a row transfer matrix over plaquette spins s (2^L states) for each of
    the four winding representatives h (L <= 7). Independent of the loop expansion."""
    q = edge_mask(L, mask)
    y = np.asarray(y, dtype=np.int64).reshape(-1, 2, L, L)
    states = (np.arange(2**L)[:, None] >> np.arange(L)[None, :]) & 1  # bit j = spin of column j
    out = np.empty(len(y))

    def wt(bits, inq):
        return np.where(inq, np.where(bits == 1, p, 1.0 - p), 1.0)

    for n, yy in enumerate(y):
        total = 0.0
        for hx in (0, 1):  # primal winding loop h(0, j): the dual bonds of the row seam
            for hy in (0, 1):  # primal winding loop v(i, 0): the dual bonds of the column seam
                M = np.eye(2**L)
                for i in range(L):
                    # bonds inside plaquette row i: edge v(i, j) between plaquettes (i, j-1), (i, j)
                    diag = np.ones(2**L)
                    for j in range(L):
                        bit = yy[1, i, j] ^ states[:, (j - 1) % L] ^ states[:, j] ^ (hy * (j == 0))
                        diag *= wt(bit, q[1, i, j])
                    # bonds to row i+1: edge h(i+1, j) between plaquettes (i, j), (i+1, j)
                    ii = (i + 1) % L
                    T = np.ones((2**L, 2**L))
                    for j in range(L):
                        bit = (
                            yy[0, ii, j]
                            ^ states[:, None, j]
                            ^ states[None, :, j]
                            ^ (hx * (ii == 0))
                        )
                        T *= wt(bit, q[0, ii, j])
                    M = M @ (diag[:, None] * T)
                total += np.trace(M)
        out[n] = math.log(total) - (L * L + 2) * LOG2
    return out
