"""Exact random-bond Ising sums on the torus by Pfaffians (kernels for :mod:`.syndrome`).

What is computed
----------------
Spins sit on the plaquettes of the L x L torus (the dual lattice); plaquette (i, j) has corners
(i, j), (i, j+1), (i+1, j), (i+1, j+1), as in :mod:`latticediff.mc.loopgas`. Every primal edge
b of a region Q carries a dual bond with weight ``x_b`` (``x_b = 0`` for edges outside Q):

- channel 0, edge h(i, j) = (i, j)-(i, j+1): bond between plaquettes (i-1, j) and (i, j);
- channel 1, edge v(i, j) = (i, j)-(i+1, j): bond between plaquettes (i, j-1) and (i, j).

The kernels return ``c0 = sum_G prod_{b in G} x_b`` over the even subgraphs G of the dual torus
whose homology class is trivial. (With ``x_b = (1-2p)(-1)^{e_b}`` this is the Fourier form of
the probability of a bit-flip syndrome; see :mod:`.syndrome`.)

How
---
The loop sum is a Pfaffian (Kasteleyn 1963; Fisher 1966; McCoy & Wu, "The Two-Dimensional
Ising Model", ch. V). Each spin becomes a "city" of four nodes E, N, W, S (order 0..3), all six
pairs joined with weight +1 (the crossing pairs E-W, N-S supply the -1 that makes the three
internal matchings of an empty city sum to 1); a bond joins the E node of the left spin to the
W node of the right one, or the S node of the upper spin (smaller row) to the N node of the
lower one, with weight ``x_b`` oriented from the first to the second. On the torus each of the
four matrices K_theta -- the weights of bonds crossing the column seam (L-1 -> 0) and/or the
row seam negated -- gives the loop sum with homology-dependent signs, and for every L

    sum_theta Pf(K_theta) = 4 c0.

(The sign tables differ between odd and even L but their column for the trivial class is all
+1; pinned against brute-force loop enumeration on 2 x 2, 3 x 3 and 4 x 4 tori in the tests.)
When the bonds of Q contain no non-contractible cycle, the four Pfaffians coincide and one is
computed.

The Pfaffian is the Parlett-Reid elimination with partial pivoting (as in Wimmer's PFAPACK,
ACM TOMS 38, 30 (2012)), restricted to an envelope: the spins are ordered column by column with
the columns folded (0, L-1, 1, L-2, ...) so that every bond joins nodes at most ~8L apart, and
each elimination step updates only the rows and columns its pivot pair can reach. The cost is
~n w^2 with n = 4 L^2 nodes and w ~ 8-12 L instead of n^3 / 3.

Reordering whole cities (blocks of four nodes) is an even permutation and cities without bonds
have Pfaffian +1, so both leave the Pfaffian unchanged.

Many sites at once
------------------
The CMI needs log c0 for the four sign patterns of the two bonds of A, for every translate of A.
``ldl_envelope`` keeps the block LDL^T factor of each K_theta, ``takahashi_band`` computes the
entries of K_theta^{-1} inside the factor's band by Takahashi's recursion (Takahashi, Fagan &
Chen 1973; cost ~ the factorisation), and ``lowrank_variants`` turns them into every sign
pattern of every site by the rank-4 update Pf(K + U C U^T) = Pf(K) Pf(C^-1 + U^T K^-1 U) /
Pf(C^-1). A sector whose Pfaffian nearly vanishes (below 1e-6 of the largest) is not updated
through its inverse; the caller then evaluates those variants directly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# The six internal pairs of a city; all carry +1 from the lower to the higher node index.
_CITY_PAIRS = ((0, 1), (1, 2), (2, 3), (0, 3), (0, 2), (1, 3))
_E, _N, _W, _S = 0, 1, 2, 3
# A sector whose |Pf| is below 1e-6 of the largest is not updated through its inverse.
_LOG_SINGULAR = -6.0 * math.log(10.0)


# --------------------------------------------------------------------------------------------
# Region plans: which spins and bonds a region touches, in elimination order.
# --------------------------------------------------------------------------------------------


def dual_bond(L: int, c: int, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Dual bond of primal edge (c, i, j): ((spin u), (spin v), seam) with u -> v oriented.

    ``seam`` is 0 for an interior bond, 1 for a bond crossing the column seam (L-1 -> 0), 2 for
    one crossing the row seam.
    """
    if c == 0:  # h(i, j): plaquette (i-1, j) above, (i, j) below; S node -> N node
        u = ((i - 1) % L, j)
        return u, (i, j), 2 if i == 0 else 0
    u = (i, (j - 1) % L)  # v(i, j): plaquette (i, j-1) left, (i, j) right; E node -> W node
    return u, (i, j), 1 if j == 0 else 0


def _fold_position(L: int, j: int) -> int:
    """Position of column j in the folded order 0, L-1, 1, L-2, ... (neighbours <= 2 apart)."""
    return 2 * j if 2 * j <= L - 1 else 2 * (L - 1 - j) + 1


def has_winding_cycle(L: int, mask: np.ndarray) -> bool:
    """Whether the dual bonds of the edge set ``mask`` (2, L, L) contain a non-contractible cycle.

    Spins are lifted to the plane along a spanning forest; a bond whose lifted ends differ by
    more than its own displacement closes a cycle that winds around the torus.
    """
    parent = {}
    lift = {}

    def find(s):
        # returns (root, offset of s relative to root)
        off = (0, 0)
        while parent[s] != s:
            d = lift[s]
            off = (off[0] + d[0], off[1] + d[1])
            s = parent[s]
        return s, off

    for c, i, j in zip(*np.nonzero(mask), strict=True):
        u, v, _ = dual_bond(L, int(c), int(i), int(j))
        disp = (1, 0) if c == 0 else (0, 1)  # lifted position of v minus that of u
        for s in (u, v):
            if s not in parent:
                parent[s] = s
                lift[s] = (0, 0)
        ru, ou = find(u)
        rv, ov = find(v)
        if ru == rv:
            if (ov[0] - ou[0], ov[1] - ou[1]) != disp:
                return True
        else:
            # attach rv under ru: pos(rv) - pos(ru) = ou + disp - ov
            parent[rv] = ru
            lift[rv] = (ou[0] + disp[0] - ov[0], ou[1] + disp[1] - ov[1])
    return False


class RegionPlan:
    """Precomputed Kasteleyn structure of one edge region Q of the L x L torus.

    Attributes: ``n_edges`` (|Q|), ``n_nodes`` (4 x spins touched), ``bu``, ``bv`` (node
    indices of each bond, oriented u -> v), ``bedge`` (flat primal edge index c L^2 + i L + j),
    ``bseam`` (0 interior, 1 column seam, 2 row seam), ``n_sectors`` (1 or 4).
    """

    def __init__(self, L: int, mask: np.ndarray, extra_spins=()):
        mask = np.asarray(mask, dtype=bool)
        self.L = L
        self.n_edges = int(mask.sum())
        bonds = []
        spins = {(int(i) % L, int(j) % L) for i, j in extra_spins}
        for c, i, j in zip(*np.nonzero(mask), strict=True):
            u, v, seam = dual_bond(L, int(c), int(i), int(j))
            bonds.append((u, v, seam, int(c) * L * L + int(i) * L + int(j), int(c)))
            spins.add(u)
            spins.add(v)
        order = sorted(spins, key=lambda s: (_fold_position(L, s[1]), s[0]))
        self.index = {s: k for k, s in enumerate(order)}
        nb = len(bonds)
        self.n_nodes = 4 * len(order)
        self.bu = np.empty(nb, np.int64)
        self.bv = np.empty(nb, np.int64)
        self.bedge = np.empty(nb, np.int64)
        self.bseam = np.empty(nb, np.int64)
        for k, (u, v, seam, flat, c) in enumerate(bonds):
            self.bu[k], self.bv[k] = self.bond_nodes(u, v, c)
            self.bedge[k] = flat
            self.bseam[k] = seam
        self.n_sectors = 4 if has_winding_cycle(L, mask) else 1

    def bond_nodes(self, u, v, c):
        """Node indices (from, to) of the bond of channel c between spins u and v."""
        du, dv = (_S, _N) if c == 0 else (_E, _W)
        return 4 * self.index[u] + du, 4 * self.index[v] + dv


# --------------------------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _fill_kasteleyn(A, hi, n, bu, bv, w, bseam, theta):
    """Upper triangle of K_theta into A[:n, :n] (zeroed first) and the row extents ``hi``.

    ``theta`` bit 0 negates bonds crossing the column seam, bit 1 those crossing the row seam.
    """
    for i in range(n):
        for j in range(i, n):
            A[i, j] = 0.0
        hi[i] = i
    for s in range(0, n, 4):
        # all six city pairs, +1 from lower to higher index
        A[s, s + 1] = 1.0
        A[s, s + 2] = 1.0
        A[s, s + 3] = 1.0
        A[s + 1, s + 2] = 1.0
        A[s + 1, s + 3] = 1.0
        A[s + 2, s + 3] = 1.0
        hi[s] = s + 3
        hi[s + 1] = s + 3
        hi[s + 2] = s + 3
    for k in range(bu.shape[0]):
        x = w[k]
        sm = bseam[k]
        if (sm == 1 and (theta & 1)) or (sm == 2 and (theta & 2)):
            x = -x
        u = bu[k]
        v = bv[k]
        if u < v:
            A[u, v] += x
            if hi[u] < v:
                hi[u] = v
        else:
            A[v, u] -= x
            if hi[v] < u:
                hi[v] = u


@njit(cache=True, nogil=True)
def pfaffian_envelope(A, hi, n):
    """Signed Pfaffian ``(sign, log|Pf|)`` of the skew matrix whose upper triangle is A[:n, :n].

    ``hi[i]`` must bound the last nonzero column of row i (upper part); A and hi are overwritten.
    Returns ``(0.0, -inf)`` for a singular matrix.
    """
    sign = 1.0
    logabs = 0.0
    for k in range(0, n - 1, 2):
        # partial pivoting: the largest entry of row k pairs with k
        kp = k + 1
        big = abs(A[k, k + 1])
        for j in range(k + 2, hi[k] + 1):
            v = abs(A[k, j])
            if v > big:
                big = v
                kp = j
        if big == 0.0:
            return 0.0, -np.inf
        if kp != k + 1:
            p = k + 1
            q = kp
            # symmetric swap of indices p < q on upper-triangle storage (rows >= k matter)
            t = A[k, p]
            A[k, p] = A[k, q]
            A[k, q] = t
            A[p, q] = -A[p, q]
            for i in range(p + 1, q):
                t = A[p, i]
                A[p, i] = -A[i, q]
                A[i, q] = -t
                if hi[i] < q:
                    hi[i] = q
            top = max(hi[p], hi[q])
            for i in range(q + 1, top + 1):
                t = A[p, i]
                A[p, i] = A[q, i]
                A[q, i] = t
            hp = hi[p]
            hi[p] = max(hi[q], q)
            hi[q] = max(hp, q)
            sign = -sign
        piv = A[k, k + 1]
        if piv < 0.0:
            sign = -sign
        logabs += math.log(abs(piv))
        m = max(hi[k], hi[k + 1])
        inv = 1.0 / piv
        # Schur complement of the pivot pair: A_ij += u_i tau_j - tau_i u_j on [k+2, m]
        for i in range(k + 2, m + 1):
            ti = A[k, i] * inv
            ui = A[k + 1, i]
            if ti == 0.0 and ui == 0.0:
                continue
            for j in range(i + 1, m + 1):
                A[i, j] += ui * (A[k, j] * inv) - ti * A[k + 1, j]
            if hi[i] < m:
                hi[i] = m
    if n % 2 == 1:
        return 0.0, -np.inf
    return sign, logabs


@njit(cache=True, nogil=True)
def log_c0(A, hi, n, bu, bv, w, bseam, n_sectors):
    """log of the trivial-class loop sum c0 = (1/4) sum_theta Pf(K_theta) (one sector if it
    suffices). Returns NaN if the sum is not positive (it always is for |x_b| <= 1)."""
    if n == 0:
        return 0.0
    signs = np.empty(4)
    logs = np.empty(4)
    for th in range(n_sectors):
        _fill_kasteleyn(A, hi, n, bu, bv, w, bseam, th)
        s, lg = pfaffian_envelope(A, hi, n)
        signs[th] = s
        logs[th] = lg
    if n_sectors == 1:
        if signs[0] > 0.0:
            return logs[0]
        return np.nan
    mx = -np.inf
    for th in range(4):
        if signs[th] != 0.0 and logs[th] > mx:
            mx = logs[th]
    if mx == -np.inf:
        return np.nan
    acc = 0.0
    for th in range(4):
        if signs[th] != 0.0:
            acc += signs[th] * math.exp(logs[th] - mx)
    if not acc > 0.0:
        return np.nan
    return mx + math.log(acc / 4.0)


@njit(cache=True, nogil=True)
def ldl_envelope(A, hi, n, perm, ext, piv):
    """Block LDL^T factorisation P K P^T = L D L^T of the skew matrix in A (upper triangle).

    Same pivoting and envelope as :func:`pfaffian_envelope`, but the factor is kept: after the
    call rows k, k+1 of A hold r = K'[k, k+2:] and u = K'[k+1, k+2:] of the pivot pair (k, k+1)
    up to column ``ext[k]`` (so L[i, k] = -u_i / d_k and L[i, k+1] = r_i / d_k), ``piv[k // 2]``
    is d_k = K'[k, k+1], and ``perm[i]`` is the original index at position i. Later swaps are
    applied to the stored rows so that L belongs to the final permutation. Returns
    ``(sign, log|Pf|)``; ``(0.0, -inf)`` if singular.
    """
    for i in range(n):
        perm[i] = i
        ext[i] = i
    sign = 1.0
    logabs = 0.0
    for k in range(0, n - 1, 2):
        kp = k + 1
        big = abs(A[k, k + 1])
        for j in range(k + 2, hi[k] + 1):
            v = abs(A[k, j])
            if v > big:
                big = v
                kp = j
        if big == 0.0:
            return 0.0, -np.inf
        if kp != k + 1:
            p = k + 1
            q = kp
            for j in range(k):  # stored rows of L: swap their columns p and q
                if ext[j] >= p:
                    t = A[j, p]
                    A[j, p] = A[j, q] if q <= ext[j] else 0.0
                    A[j, q] = t
                    if t != 0.0 and ext[j] < q:
                        ext[j] = q  # the pair (j, j^1) shares one extent
                        ext[j ^ 1] = q
            t = A[k, p]
            A[k, p] = A[k, q]
            A[k, q] = t
            A[p, q] = -A[p, q]
            for i in range(p + 1, q):
                t = A[p, i]
                A[p, i] = -A[i, q]
                A[i, q] = -t
                if hi[i] < q:
                    hi[i] = q
            top = max(hi[p], hi[q])
            for i in range(q + 1, top + 1):
                t = A[p, i]
                A[p, i] = A[q, i]
                A[q, i] = t
            hp = hi[p]
            hi[p] = max(hi[q], q)
            hi[q] = max(hp, q)
            t2 = perm[p]
            perm[p] = perm[q]
            perm[q] = t2
            sign = -sign
        piv_k = A[k, k + 1]
        piv[k // 2] = piv_k
        if piv_k < 0.0:
            sign = -sign
        logabs += math.log(abs(piv_k))
        m = max(hi[k], hi[k + 1])
        ext[k] = m
        ext[k + 1] = m
        inv = 1.0 / piv_k
        for i in range(k + 2, m + 1):
            ti = A[k, i] * inv
            ui = A[k + 1, i]
            if ti == 0.0 and ui == 0.0:
                continue
            for j in range(i + 1, m + 1):
                A[i, j] += ui * (A[k, j] * inv) - ti * A[k + 1, j]
            if hi[i] < m:
                hi[i] = m
    if n % 2 == 1:
        return 0.0, -np.inf
    return sign, logabs


@njit(cache=True, nogil=True)
def takahashi_band(A, n, ext, piv, Z, band):
    """Entries of Z = (L D L^T)^{-1} inside a band, from the factor left by ldl_envelope.

    Takahashi's recursion Z[I, J] = -sum_{M > I} L[M, I]^T Z[M, J] (J > I) and
    Z[I, I] = D_I^{-1} - sum_{M > I} L[M, I]^T Z[M, I] over 2 x 2 blocks, run from the last
    pair backwards. Row k is computed up to column ``band[k]``: a running maximum of the
    factor's extents and of the columns requested through ``band`` on entry (``band[i] = i``
    requests nothing), which makes the band closed under the recursion. Z is stored in full
    (skew) inside the band: ``Z[i, j]`` is valid for ``max(i, j) <= band[min(i, j)]``.
    """
    run = -1
    for k in range(0, n, 2):
        # on entry band[i] may hold a column that row i must reach (default: i)
        e = max(ext[k], k + 1, band[k], band[k + 1])
        if e > run:
            run = e
        band[k] = run
        band[k + 1] = run
    for k in range(n - 2, -1, -2):
        d = piv[k // 2]
        inv = 1.0 / d
        E = ext[k]
        Bk = band[k]
        for j in range(k + 2, Bk + 1):
            Z[k, j] = 0.0
            Z[k + 1, j] = 0.0
        for m in range(k + 2, E + 1):
            l0 = -A[k + 1, m] * inv
            l1 = A[k, m] * inv
            if l0 == 0.0 and l1 == 0.0:
                continue
            for j in range(k + 2, Bk + 1):
                zmj = Z[m, j]
                Z[k, j] -= l0 * zmj
                Z[k + 1, j] -= l1 * zmj
        for j in range(k + 2, Bk + 1):
            Z[j, k] = -Z[k, j]
            Z[j, k + 1] = -Z[k + 1, j]
        s = -inv
        for m in range(k + 2, E + 1):
            s += (-A[k + 1, m] * inv) * Z[k + 1, m]
        Z[k, k + 1] = s
        Z[k + 1, k] = -s
        Z[k, k] = 0.0
        Z[k + 1, k + 1] = 0.0


@njit(cache=True, nogil=True)
def _small_pfaffian(M, m):
    """Pfaffian (plain value) of the m x m skew matrix in M[:m, :m] (m <= 8), M overwritten."""
    val = 1.0
    for k in range(0, m - 1, 2):
        kp = k + 1
        big = abs(M[k, k + 1])
        for j in range(k + 2, m):
            if abs(M[k, j]) > big:
                big = abs(M[k, j])
                kp = j
        if big == 0.0:
            return 0.0
        if kp != k + 1:
            for i in range(m):  # swap rows and columns k+1, kp
                t = M[k + 1, i]
                M[k + 1, i] = M[kp, i]
                M[kp, i] = t
            for i in range(m):
                t = M[i, k + 1]
                M[i, k + 1] = M[i, kp]
                M[i, kp] = t
            val = -val
        d = M[k, k + 1]
        val *= d
        for i in range(k + 2, m):
            ti = M[k, i] / d
            ui = M[k + 1, i]
            for j in range(k + 2, m):
                M[i, j] += ui * (M[k, j] / d) - ti * M[k + 1, j]
    return val


@njit(cache=True, nogil=True)
def ldl_solve(A, n, ext, piv, x):
    """Solve (L D L^T) y = x in place (the factor left by ldl_envelope, permuted coordinates)."""
    for k in range(0, n - 1, 2):  # L y' = x
        inv = 1.0 / piv[k // 2]
        xk = x[k]
        xk1 = x[k + 1]
        for i in range(k + 2, ext[k] + 1):
            x[i] -= (-A[k + 1, i] * inv) * xk + (A[k, i] * inv) * xk1
    for k in range(0, n - 1, 2):  # D y'' = y'
        inv = 1.0 / piv[k // 2]
        xk = x[k]
        x[k] = -x[k + 1] * inv
        x[k + 1] = xk * inv
    for k in range(n - 2, -1, -2):  # L^T y = y''
        inv = 1.0 / piv[k // 2]
        s0 = 0.0
        s1 = 0.0
        for i in range(k + 2, ext[k] + 1):
            s0 += (-A[k + 1, i] * inv) * x[i]
            s1 += (A[k, i] * inv) * x[i]
        x[k] -= s0
        x[k + 1] -= s1


@njit(cache=True, nogil=True)
def _inverse_entry(A, Z, n, pos, band, ext, piv, xw, a, b):
    """(K^{-1})_{ab}: from the band of Z, or by one solve when (a, b) lies outside it."""
    pa = pos[a]
    pb = pos[b]
    if pa == pb:
        return 0.0
    lo = min(pa, pb)
    hi_ = max(pa, pb)
    if hi_ <= band[lo]:
        return Z[pa, pb]
    for i in range(n):
        xw[i] = 0.0
    xw[pb] = 1.0
    ldl_solve(A, n, ext, piv, xw)
    return xw[pa]


@njit(cache=True, nogil=True)
def lowrank_variants(
    A,
    hi,
    Z,
    perm,
    pos,
    ext,
    piv,
    band,
    n,
    bu,
    bv,
    w,
    bseam,
    n_sectors,
    su,
    sv,
    sseam,
    sw0,
    sw,
    R,
    M,
    nodes,
    xw,
    out,
):
    """log c0 for every site and every sign pattern of its bonds, from one factorisation per sector.

    Site s has ``nA = su.shape[1]`` bonds (nodes su -> sv, seam flags sseam) whose weight in
    the plan is ``sw0[s]`` (0 if absent) and whose variant-v weight is ``sw[s, b] * (-1)^{bit b
    of v}``. With Delta the change of K, Pf(K + Delta) = Pf(K) Pf(C^-1 + W) / Pf(C^-1) over the
    changed bonds (C their 2 x 2 blocks, W = K^{-1} on their nodes). ``out[s, v]`` receives
    log c0. Returns ``(ok, log c0 of the plan itself)``; ok is False if a sector's Pfaffian is
    too close to zero for the update to be trusted (the caller then evaluates directly).
    Inverse entries outside the Takahashi band come from one extra solve each.
    """
    n_sites = su.shape[0]
    nA = su.shape[1]
    nvar = 1 << nA
    signs = np.zeros(4)
    logs = np.full(4, -np.inf)
    for th in range(n_sectors):
        _fill_kasteleyn(A, hi, n, bu, bv, w, bseam, th)
        sg, lg = ldl_envelope(A, hi, n, perm, ext, piv)
        if sg == 0.0:
            return False, np.nan
        signs[th] = sg
        logs[th] = lg
        for i in range(n):
            pos[perm[i]] = i
            band[i] = i
        # widen the band so that it holds every entry the sites need
        for s in range(n_sites):
            for b1 in range(nA):
                for b2 in range(nA):
                    for x1 in range(2):
                        for x2 in range(2):
                            pa = pos[su[s, b1]] if x1 == 0 else pos[sv[s, b1]]
                            pb = pos[su[s, b2]] if x2 == 0 else pos[sv[s, b2]]
                            lo = min(pa, pb)
                            if max(pa, pb) > band[lo]:
                                band[lo] = max(pa, pb)
        takahashi_band(A, n, ext, piv, Z, band)
        for s in range(n_sites):
            for v in range(nvar):
                nf = 0
                pc = 1.0
                for b in range(nA):
                    x = sw[s, b]
                    if (v >> b) & 1:
                        x = -x
                    eps = x - sw0[s, b]
                    sm = sseam[s, b]
                    if (sm == 1 and (th & 1)) or (sm == 2 and (th & 2)):
                        eps = -eps
                    if eps == 0.0:
                        continue
                    # C^{-1} block [[0, -1/eps], [1/eps, 0]] on nodes (su, sv)
                    M[2 * nf, 2 * nf + 1] = -1.0 / eps
                    M[2 * nf + 1, 2 * nf] = 1.0 / eps
                    M[2 * nf, 2 * nf] = 0.0
                    M[2 * nf + 1, 2 * nf + 1] = 0.0
                    pc *= -1.0 / eps
                    nodes[2 * nf] = su[s, b]
                    nodes[2 * nf + 1] = sv[s, b]
                    nf += 1
                m = 2 * nf
                for i in range(m):
                    for j in range(m):
                        if i == j:
                            continue
                        w_ij = _inverse_entry(A, Z, n, pos, band, ext, piv, xw, nodes[i], nodes[j])
                        if i // 2 == j // 2:
                            M[i, j] += w_ij  # on top of the C^{-1} block
                        else:
                            M[i, j] = w_ij
                R[th, s, v] = _small_pfaffian(M, m) / pc if m > 0 else 1.0
    mx = -np.inf
    for th in range(n_sectors):
        if logs[th] > mx:
            mx = logs[th]
    for th in range(n_sectors):
        # a near-singular sector makes the inverse, hence the update, unreliable
        if logs[th] - mx < _LOG_SINGULAR:
            return False, np.nan
    for s in range(n_sites):
        for v in range(nvar):
            acc = 0.0
            for th in range(n_sectors):
                acc += signs[th] * math.exp(logs[th] - mx) * R[th, s, v]
            if n_sectors == 4:
                acc /= 4.0
            out[s, v] = mx + math.log(acc) if acc > 0.0 else np.nan
    acc = 0.0
    for th in range(n_sectors):
        acc += signs[th] * math.exp(logs[th] - mx)
    if n_sectors == 4:
        acc /= 4.0
    return True, (mx + math.log(acc) if acc > 0.0 else np.nan)


@njit(cache=True, nogil=True)
def _log_probs_chunk(
    errs,
    t,
    start,
    stop,
    n_nodes,
    n_edges,
    n_var,
    boff,
    bu,
    bv,
    bedge,
    bseam,
    bflip,
    n_sectors,
    out,
    A,
    hi,
    w,
):
    """log Pr(y_Q = e_Q + delta) for samples start..stop-1, every region and variant delta."""
    log2 = math.log(2.0)
    for s in range(start, stop):
        for r in range(n_nodes.shape[0]):
            b0 = boff[r]
            b1 = boff[r + 1]
            for v in range(n_var[r]):
                for k in range(b0, b1):
                    bit = errs[s, bedge[k]]
                    if bflip[k] >= 0:
                        bit ^= (v >> bflip[k]) & 1
                    w[k - b0] = -t if bit else t
                lc = log_c0(
                    A,
                    hi,
                    n_nodes[r],
                    bu[b0:b1],
                    bv[b0:b1],
                    w[: b1 - b0],
                    bseam[b0:b1],
                    n_sectors[r],
                )
                out[s, r, v] = lc - n_edges[r] * log2


@njit(cache=True, nogil=True, parallel=True)
def log_probs(
    errs, t, n_nodes, n_edges, n_var, boff, bu, bv, bedge, bseam, bflip, n_sectors, chunk
):
    """Per-sample exact ``log Pr(y_Q = e_Q + delta)``, shape (n_samples, R, max n_var).

    ``errs`` is uint8 (n_samples, 2 L^2) with flat edge index c L^2 + i L + j; ``t = 1 - 2p``.
    Region r owns bonds ``boff[r]:boff[r+1]`` of the flat bond arrays and is evaluated for
    ``n_var[r]`` variants: variant v flips the error bit of every bond k with ``bflip[k] >= 0``
    and bit ``bflip[k]`` of v set (unused variants are NaN). Samples are split into fixed
    chunks, each with its own workspace, so the result does not depend on the thread count.
    """
    ns = errs.shape[0]
    nreg = n_nodes.shape[0]
    nmax = 1
    bmax = 1
    vmax = 1
    for r in range(nreg):
        nmax = max(nmax, n_nodes[r])
        bmax = max(bmax, boff[r + 1] - boff[r])
        vmax = max(vmax, n_var[r])
    out = np.full((ns, nreg, vmax), np.nan)
    n_chunks = (ns + chunk - 1) // chunk
    for c in prange(n_chunks):
        A = np.empty((nmax, nmax))
        hi = np.empty(nmax, np.int64)
        w = np.empty(bmax)
        _log_probs_chunk(
            errs,
            t,
            c * chunk,
            min(ns, (c + 1) * chunk),
            n_nodes,
            n_edges,
            n_var,
            boff,
            bu,
            bv,
            bedge,
            bseam,
            bflip,
            n_sectors,
            out,
            A,
            hi,
            w,
        )
    return out


@njit(cache=True, nogil=True)
def _sites_one_sample(
    errs_s,
    t,
    L,
    g,
    gbu,
    gbv,
    gbe,
    gbs,
    gns,
    gsu,
    gsv,
    gss,
    gbidx,
    ln_,
    lbu,
    lbv,
    lbc,
    lbi,
    lbj,
    lbs,
    lns,
    lsu,
    lsv,
    lss,
    ac,
    ai,
    aj,
    sites,
    ws,
    res,
):
    """All per-site log c0 values of one error sample (see site_log_c0)."""
    (A, hi, Z, perm, pos, ext, piv, band, R, M, nodes, xw, wg, wl, sw0, sw, out1, outg) = ws
    n_sites = sites.shape[0]
    nA = ac.shape[0]
    nvar = 1 << nA
    # global region: one factorisation per sector serves every site
    for k in range(gbu.shape[0]):
        wg[k] = -t if errs_s[gbe[k]] else t
    for s in range(n_sites):
        for b in range(nA):
            sw0[s, b] = wg[gbidx[s, b]]
            sw[s, b] = wg[gbidx[s, b]]
    ok, _ = lowrank_variants(
        A,
        hi,
        Z,
        perm,
        pos,
        ext,
        piv,
        band,
        g,
        gbu,
        gbv,
        wg,
        gbs,
        gns,
        gsu,
        gsv,
        gss,
        sw0[:n_sites],
        sw[:n_sites],
        R,
        M,
        nodes,
        xw,
        outg,
    )
    n_fallback = 0
    if not ok:  # a near-singular sector: evaluate every variant directly (rare)
        n_fallback = 1
        for s in range(n_sites):
            for v in range(nvar):
                for b in range(nA):
                    if (v >> b) & 1:
                        wg[gbidx[s, b]] = -wg[gbidx[s, b]]
                outg[s, v] = log_c0(A, hi, g, gbu, gbv, wg, gbs, gns)
                for b in range(nA):
                    if (v >> b) & 1:
                        wg[gbidx[s, b]] = -wg[gbidx[s, b]]
    for s in range(n_sites):
        for v in range(nvar):
            res[s, 1 + nvar + v] = outg[s, v]
    # local region B around each site, with the bonds of A added
    for s in range(n_sites):
        i0 = sites[s, 0]
        j0 = sites[s, 1]
        for k in range(lbu.shape[0]):
            e = errs_s[lbc[k] * L * L + ((lbi[k] + i0) % L) * L + (lbj[k] + j0) % L]
            wl[k] = -t if e else t
        for b in range(nA):
            e = errs_s[ac[b] * L * L + ((ai[b] + i0) % L) * L + (aj[b] + j0) % L]
            sw0[0, b] = 0.0
            sw[0, b] = -t if e else t
        ok, base = lowrank_variants(
            A,
            hi,
            Z,
            perm,
            pos,
            ext,
            piv,
            band,
            ln_,
            lbu,
            lbv,
            wl,
            lbs,
            lns,
            lsu,
            lsv,
            lss,
            sw0[:1],
            sw[:1],
            R,
            M,
            nodes,
            xw,
            out1,
        )
        if not ok:
            n_fallback += 1
            for v in range(nvar):
                res[s, 1 + v] = np.nan
            res[s, 0] = np.nan
        else:
            res[s, 0] = base
            for v in range(nvar):
                res[s, 1 + v] = out1[0, v]
    return n_fallback


@njit(cache=True, nogil=True, parallel=True)
def site_log_c0(
    errs,
    t,
    L,
    g,
    gbu,
    gbv,
    gbe,
    gbs,
    gns,
    gsu,
    gsv,
    gss,
    gbidx,
    ln_,
    lbu,
    lbv,
    lbc,
    lbi,
    lbj,
    lbs,
    lns,
    lsu,
    lsv,
    lss,
    ac,
    ai,
    aj,
    sites,
    chunk,
):
    """Per-sample, per-site log c0 of B, of AB and of ABC for every outcome of y_A.

    ``res[n, s]`` = [log c0_B, log c0_AB(v) for v < 2^nA, log c0_ABC(v) for v < 2^nA], where
    variant v flips the error bits of the A edges named by its bits, with A translated to site
    ``sites[s]``. The global region ABC (plan g*) is factorised once per sector and every site
    is a low-rank update; the local region B (plan l*, laid out around the origin, bond edges
    given as channel/row/column offsets) is evaluated per site on translated errors. Also
    returns the number of samples that needed the direct fallback.
    """
    ns = errs.shape[0]
    n_sites = sites.shape[0]
    nA = ac.shape[0]
    nvar = 1 << nA
    res = np.full((ns, n_sites, 1 + 2 * nvar), np.nan)
    fb = np.zeros(ns, np.int64)
    nmax = max(g, ln_, 1)
    n_chunks = (ns + chunk - 1) // chunk
    for c in prange(n_chunks):
        ws = (
            np.zeros((nmax, nmax)),
            np.zeros(nmax, np.int64),
            np.zeros((nmax, nmax)),
            np.zeros(nmax, np.int64),
            np.zeros(nmax, np.int64),
            np.zeros(nmax, np.int64),
            np.zeros(nmax),
            np.zeros(nmax, np.int64),
            np.zeros((4, n_sites, nvar)),
            np.zeros((8, 8)),
            np.zeros(8, np.int64),
            np.zeros(nmax),
            np.zeros(max(gbu.shape[0], 1)),
            np.zeros(max(lbu.shape[0], 1)),
            np.zeros((n_sites, nA)),
            np.zeros((n_sites, nA)),
            np.zeros((1, nvar)),
            np.zeros((n_sites, nvar)),
        )
        for smp in range(c * chunk, min(ns, (c + 1) * chunk)):
            fb[smp] = _sites_one_sample(
                errs[smp],
                t,
                L,
                g,
                gbu,
                gbv,
                gbe,
                gbs,
                gns,
                gsu,
                gsv,
                gss,
                gbidx,
                ln_,
                lbu,
                lbv,
                lbc,
                lbi,
                lbj,
                lbs,
                lns,
                lsu,
                lsv,
                lss,
                ac,
                ai,
                aj,
                sites,
                ws,
                res[smp],
            )
    return res, fb


# --------------------------------------------------------------------------------------------
# Slow references (tests)
# --------------------------------------------------------------------------------------------


def kasteleyn_dense(plan: RegionPlan, w: np.ndarray, theta: int) -> np.ndarray:
    """Full skew-symmetric K_theta as a dense NumPy array (reference for the kernels)."""
    n = plan.n_nodes
    K = np.zeros((n, n))
    for s in range(0, n, 4):
        for a, b in _CITY_PAIRS:
            K[s + a, s + b] = 1.0
            K[s + b, s + a] = -1.0
    for k in range(plan.bu.size):
        x = float(w[k])
        if (plan.bseam[k] == 1 and theta & 1) or (plan.bseam[k] == 2 and theta & 2):
            x = -x
        K[plan.bu[k], plan.bv[k]] += x
        K[plan.bv[k], plan.bu[k]] -= x
    return K


def pfaffian_reference(K: np.ndarray) -> float:
    """Pfaffian of a dense skew matrix by Parlett-Reid elimination (plain NumPy, O(n^3))."""
    A = np.array(K, dtype=float)
    n = A.shape[0]
    if n % 2:
        return 0.0
    val = 1.0
    for k in range(0, n - 1, 2):
        kp = k + 1 + int(np.abs(A[k + 1 :, k]).argmax())
        if kp != k + 1:
            A[[k + 1, kp], :] = A[[kp, k + 1], :]
            A[:, [k + 1, kp]] = A[:, [kp, k + 1]]
            val = -val
        if A[k + 1, k] == 0.0:
            return 0.0
        tau = A[k, k + 2 :] / A[k, k + 1]
        val *= A[k, k + 1]
        if k + 2 < n:
            A[k + 2 :, k + 2 :] += np.outer(tau, A[k + 2 :, k + 1])
            A[k + 2 :, k + 2 :] -= np.outer(A[k + 2 :, k + 1], tau)
    return val


def loop_class_sums_bruteforce(L: int, x: np.ndarray) -> np.ndarray:
    """Loop sums by homology class, ``c[a, b]`` (a: row-seam parity, b: column-seam parity).

    ``x`` is the (2, L, L) array of bond weights indexed by primal edge. Enumerates the 2^(L^2+1)
    even subgraphs of the dual torus (L <= 4).
    """
    nE = 2 * L * L
    flat = np.asarray(x, dtype=float).reshape(nE)
    basis = []
    for i in range(L):  # dual cycles around primal vertices: the star of vertex (i, j)
        for j in range(L):
            v = np.zeros(nE, np.uint8)
            for c, a, b in ((0, i, j), (0, i, (j - 1) % L), (1, i, j), (1, (i - 1) % L, j)):
                v[c * L * L + a * L + b] ^= 1
            basis.append(v)
    basis = basis[:-1]
    wrow = np.zeros(nE, np.uint8)  # dual loop crossing the column seam: edges v(0, j)
    wrow[[L * L + 0 * L + j for j in range(L)]] = 1
    wcol = np.zeros(nE, np.uint8)  # dual loop crossing the row seam: edges h(i, 0)
    wcol[[0 * L * L + i * L + 0 for i in range(L)]] = 1
    basis += [wrow, wcol]
    B = np.array(basis, dtype=np.int64)
    nb = B.shape[0]
    codes = np.arange(2**nb, dtype=np.int64)
    coeff = (codes[:, None] >> np.arange(nb)[None, :]) & 1
    G = (coeff @ B) % 2
    seam_row = np.array([0 * L * L + 0 * L + j for j in range(L)])  # h(0, j): row seam bonds
    seam_col = np.array([L * L + i * L + 0 for i in range(L)])  # v(i, 0): column seam bonds
    a = G[:, seam_row].sum(1) % 2
    b = G[:, seam_col].sum(1) % 2
    wts = np.prod(np.where(G == 1, flat[None, :], 1.0), axis=1)
    c = np.zeros((2, 2))
    np.add.at(c, (a, b), wts)
    return c
