"""Monte Carlo samplers for the q-state Potts model ``H = -sum_<ij> delta(s_i, s_j)``.

Follows the driver protocol of :mod:`latticediff.mc`. Bonds are the 2 L^2 pairs (i, i + e_x),
(i, i + e_y) of the periodic lattice (the ``np.roll`` convention of
:meth:`latticediff.Potts.energy`; for L = 2 each neighbouring pair is counted twice and every
update below treats the doubled bond as two bonds). States are uint8 in {0, ..., q-1}; every
kernel works for any q in [2, 255].

Methods
-------
``"heatbath"``
    Single-site heat bath. For even L the sweep visits the two checkerboard sublattices in
    turn (row-major inside each); for odd L, where no checkerboard exists on the torus, the
    sweep is sequential (row-major). The local draw costs O(1) for any q: states absent from
    the four neighbours share one uniform weight.
``"metropolis"``
    Single-site Metropolis: one sweep is N proposals at uniformly random sites, each to a
    uniformly random *different* state. Sites are drawn at random, not swept in a fixed order,
    because for q = 2 the proposal is deterministic and zero-energy flips are always accepted:
    under checkerboard sweeps the width-1 stripe states of any even-L torus then form a closed
    class the chain can neither enter nor leave (a reducible chain, seen on the 2 x 2 torus
    against enumeration). Random sites make the chain irreducible and aperiodic for every
    0 < T < inf.
``"wolff"``
    Potts Wolff cluster (Wolff, PRL 62, 361 (1989)): grow the Fortuin-Kasteleyn cluster of a
    random seed site through equal neighbours with probability ``1 - exp(-beta)`` per bond and
    recolour it with a uniformly random different state. Measurements are taken on a *fixed*
    schedule: one sweep is ``k = max(1, round(N / <cluster size>))`` clusters, with k estimated
    during burn-in (the burn-in sweeps themselves grow clusters until N sites were flipped) and
    then frozen, so that the measurement times never depend on the chain's own history.
``"sw"``
    Swendsen-Wang (PRL 58, 86 (1987)): all FK bonds at once, every cluster recoloured with a
    uniformly random state of q.

After every sweep of every method the colours are relabelled cyclically, ``s -> (s + c) mod q``
with c uniform in {0, ..., q-1}. H is invariant under any relabelling, so the move leaves the
Boltzmann distribution invariant; it removes the slow colour modes that the colour-symmetric
series (energy, order parameter) and hence tau_int cannot see. Without it, Wolff at q = 2
recolours a near-spanning cluster every sweep (a period-2 oscillation, so samples thinned by an
even number of sweeps keep their colour for long times), and local updates at low T change the
majority colour only rarely.

``"auto"`` picks ``"wolff"`` for ``q <= 4`` (continuous transition) at ``T <= 1.25 Tc(q)``,
``Tc(q) = 1 / ln(1 + sqrt q)``, where critical slowing down makes local updates slow, and
``"heatbath"`` otherwise (high T, or q > 4 where the transition is first order and clusters do
not help).

Series: energy per site (``Potts.energy``) and the order parameter
``(q max_a n_a / N - 1) / (q - 1)`` (``Potts.magnetization``) after every sweep.

Example
-------
>>> import latticediff as ld
>>> from latticediff.mc import potts
>>> from latticediff.mc._rng import seed_states
>>> model = ld.Potts(L=8, q=3, T=1.0)
>>> rng = seed_states(1, 1)[0]
>>> method = potts.resolve_method(model, "auto")
>>> state = potts.init_state(model, method, rng)
>>> x, e, m, info = potts.run_chain(model, method, state, rng, burn_in=20, n_samples=5, thin=2)
>>> method, x.shape, x.dtype, e.shape, info["clusters_per_sweep"] >= 1
('wolff', (5, 8, 8), dtype('uint8'), (30,), True)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..errors import ParameterError
from ..systems import Potts
from ._rng import randbelow, uniform

__all__ = [
    "METHODS",
    "critical_temperature",
    "resolve_method",
    "is_iid",
    "init_state",
    "run_chain",
    "heatbath_sweep_reference",
    "metropolis_sweep_reference",
    "wolff_cluster_reference",
    "sw_sweep_reference",
    "colour_shift_reference",
    "run_chain_reference",
]

METHODS = ("heatbath", "metropolis", "wolff", "sw")
_ALIASES = {
    "heat-bath": "heatbath",
    "heat_bath": "heatbath",
    "swendsen-wang": "sw",
    "swendsen_wang": "sw",
}
_CODE = {"heatbath": 0, "metropolis": 1, "wolff": 2, "sw": 3}
# Wolff: minimum number of clusters behind the estimate of <cluster size>.
_MIN_CLUSTERS_FOR_K = 20


def critical_temperature(q: int) -> float:
    """Critical temperature ``1 / ln(1 + sqrt q)`` of the infinite square-lattice Potts model.

    >>> round(critical_temperature(3), 6)
    0.994973
    """
    return 1.0 / math.log1p(math.sqrt(q))


def resolve_method(model: Potts, method: str = "auto") -> str:
    """Map ``method`` ("auto" or an alias) to one of :data:`METHODS`.

    >>> resolve_method(Potts(L=8, q=3, T=0.9)), resolve_method(Potts(L=8, q=10, T=0.7))
    ('wolff', 'heatbath')
    """
    if not isinstance(model, Potts):
        raise ParameterError(f"potts sampler needs a Potts model, got {type(model).__name__}")
    m = str(method).lower()
    m = _ALIASES.get(m, m)
    if m == "auto":
        if model.q <= 4 and model.T <= 1.25 * critical_temperature(model.q):
            return "wolff"
        return "heatbath"
    if m not in METHODS:
        raise ParameterError(
            f"Potts: unknown method {method!r}; allowed: 'auto', {', '.join(map(repr, METHODS))}"
        )
    return m


def is_iid(model: Potts, method: str) -> bool:
    """Potts samplers are Markov chains: never i.i.d."""
    resolve_method(model, method)
    return False


def init_state(model: Potts, method: str, rng: np.ndarray) -> np.ndarray:
    """A uniformly random (infinite-temperature) configuration drawn with ``rng``.

    >>> from latticediff.mc._rng import seed_states
    >>> s = init_state(Potts(L=4, q=5, T=1.0), "heatbath", seed_states(0, 1)[0])
    >>> s.shape, s.dtype, int(s.max()) < 5
    ((4, 4), dtype('uint8'), True)
    """
    resolve_method(model, method)
    s = np.empty(model.shape, dtype=np.uint8)
    _random_fill(s, rng, model.q)
    return s


# --------------------------------------------------------------------------------------------
# Numba kernels


@njit(cache=True, nogil=True)
def _random_fill(s, rng, q):
    L = s.shape[0]
    for i in range(L):
        for j in range(L):
            s[i, j] = randbelow(rng, q)


@njit(cache=True, nogil=True)
def _heatbath_site(s, i, j, L, q, E, rng):
    # E[k] = exp(-beta k): weights are taken relative to the most frequent neighbour state
    # so that nothing overflows however large beta is.
    a0 = s[i - 1 if i > 0 else L - 1, j]
    a1 = s[i + 1 if i < L - 1 else 0, j]
    a2 = s[i, j - 1 if j > 0 else L - 1]
    a3 = s[i, j + 1 if j < L - 1 else 0]
    # Neighbour count of each *distinct* neighbour state, attached to its first occurrence.
    n0 = 1 + (a1 == a0) + (a2 == a0) + (a3 == a0)
    n1 = 0
    if a1 != a0:
        n1 = 1 + (a2 == a1) + (a3 == a1)
    n2 = 0
    if a2 != a0 and a2 != a1:
        n2 = 1 + (a3 == a2)
    n3 = 0
    if a3 != a0 and a3 != a1 and a3 != a2:
        n3 = 1
    nmax = max(max(n0, n1), max(n2, n3))
    base = E[nmax]  # weight of a state seen by no neighbour
    w0 = E[nmax - n0] - base
    w1 = E[nmax - n1] - base
    w2 = E[nmax - n2] - base
    w3 = E[nmax - n3] - base
    flat = q * base
    x = uniform(rng) * (flat + w0 + w1 + w2 + w3)
    if x < flat:
        # Every state has the weight `base`; conditionally on x < flat, x / base is uniform.
        new = np.int64(x / base)
        if new >= q:
            new = q - 1
        s[i, j] = new
        return
    x -= flat
    if x < w0:
        s[i, j] = a0
        return
    x -= w0
    if x < w1:
        s[i, j] = a1
        return
    x -= w1
    if x < w2:
        s[i, j] = a2
        return
    x -= w2
    if x < w3:
        s[i, j] = a3
        return
    s[i, j] = a0  # only reached through round-off


@njit(cache=True, nogil=True)
def _metropolis_site(s, i, j, L, q, E, rng):
    a0 = s[i - 1 if i > 0 else L - 1, j]
    a1 = s[i + 1 if i < L - 1 else 0, j]
    a2 = s[i, j - 1 if j > 0 else L - 1]
    a3 = s[i, j + 1 if j < L - 1 else 0]
    old = s[i, j]
    r = randbelow(rng, q - 1)
    new = r + 1 if r >= old else r  # uniform over the q - 1 other states
    n_old = (a0 == old) + (a1 == old) + (a2 == old) + (a3 == old)
    n_new = (a0 == new) + (a1 == new) + (a2 == new) + (a3 == new)
    d = n_old - n_new  # = (E_new - E_old) in units of J
    if d <= 0 or uniform(rng) < E[d]:
        s[i, j] = new
        return 1
    return 0


@njit(cache=True, nogil=True)
def _local_sweep(s, rng, q, E, metropolis):
    """One heat-bath or Metropolis sweep; returns the number of accepted Metropolis moves."""
    L = s.shape[0]
    acc = 0
    if metropolis:
        for _ in range(L * L):
            site = randbelow(rng, L * L)
            i = site // L
            acc += _metropolis_site(s, i, site - i * L, L, q, E, rng)
    elif L % 2 == 0:
        for parity in range(2):
            for i in range(L):
                for j in range((i + parity) % 2, L, 2):
                    _heatbath_site(s, i, j, L, q, E, rng)
    else:
        for i in range(L):
            for j in range(L):
                _heatbath_site(s, i, j, L, q, E, rng)
    return acc


@njit(cache=True, nogil=True)
def _wolff_cluster(s, rng, q, padd, stack):
    """Grow and recolour one Wolff cluster; returns its size. ``stack`` is int64[N] scratch."""
    L = s.shape[0]
    site = randbelow(rng, L * L)
    i = site // L
    j = site - i * L
    old = s[i, j]
    r = randbelow(rng, q - 1)
    new = r + 1 if r >= old else r
    # Recolouring on push marks a site as visited (new != old), so each site is pushed once.
    # A doubled bond (L = 2) is tried twice, as the multigraph requires.
    s[i, j] = new
    stack[0] = site
    top = 1
    size = 1
    while top > 0:
        top -= 1
        site = stack[top]
        i = site // L
        j = site - i * L
        im = i - 1 if i > 0 else L - 1
        ip = i + 1 if i < L - 1 else 0
        jm = j - 1 if j > 0 else L - 1
        jp = j + 1 if j < L - 1 else 0
        if s[im, j] == old and uniform(rng) < padd:
            s[im, j] = new
            stack[top] = im * L + j
            top += 1
            size += 1
        if s[ip, j] == old and uniform(rng) < padd:
            s[ip, j] = new
            stack[top] = ip * L + j
            top += 1
            size += 1
        if s[i, jm] == old and uniform(rng) < padd:
            s[i, jm] = new
            stack[top] = i * L + jm
            top += 1
            size += 1
        if s[i, jp] == old and uniform(rng) < padd:
            s[i, jp] = new
            stack[top] = i * L + jp
            top += 1
            size += 1
    return size


@njit(cache=True, nogil=True)
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]  # path halving
        a = parent[a]
    return a


@njit(cache=True, nogil=True)
def _sw_sweep(s, rng, q, padd, parent, label):
    """One Swendsen-Wang update; returns the number of clusters."""
    L = s.shape[0]
    N = L * L
    for a in range(N):
        parent[a] = a
        label[a] = -1
    # Bond order: for each site in row-major order, the +x bond then the +y bond.
    for i in range(L):
        ip = i + 1 if i < L - 1 else 0
        for j in range(L):
            jp = j + 1 if j < L - 1 else 0
            if s[i, j] == s[i, jp] and uniform(rng) < padd:
                ra = _find(parent, i * L + j)
                rb = _find(parent, i * L + jp)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if s[i, j] == s[ip, j] and uniform(rng) < padd:
                ra = _find(parent, i * L + j)
                rb = _find(parent, ip * L + j)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    # New colours are drawn per cluster in order of first appearance (row-major), so the
    # random stream does not depend on union-find internals.
    n_clusters = 0
    for a in range(N):
        r = _find(parent, a)
        if label[r] < 0:
            label[r] = randbelow(rng, q)
            n_clusters += 1
        s[a // L, a % L] = label[r]
    return n_clusters


@njit(cache=True, nogil=True)
def _colour_shift(s, rng, q):
    """Relabel every colour a -> (a + c) mod q with c uniform in [0, q)."""
    c = randbelow(rng, q)
    if c == 0:
        return
    L = s.shape[0]
    for i in range(L):
        for j in range(L):
            a = s[i, j] + c
            s[i, j] = a - q if a >= q else a


@njit(cache=True, nogil=True)
def _observables(s, q, counts):
    """(energy per site, order parameter) of one configuration."""
    L = s.shape[0]
    # Reset only the colours present: O(N) per call whatever q is.
    for i in range(L):
        for j in range(L):
            counts[s[i, j]] = 0
    same = 0
    cmax = 0
    for i in range(L):
        ip = i + 1 if i < L - 1 else 0
        for j in range(L):
            jp = j + 1 if j < L - 1 else 0
            a = s[i, j]
            counts[a] += 1
            cmax = max(cmax, counts[a])
            same += (a == s[i, jp]) + (a == s[ip, j])
    N = L * L
    return -same / N, (q * cmax / N - 1.0) / (q - 1.0)


@njit(cache=True, nogil=True)
def _run(s, rng, code, q, E, padd, k, burn_in, n_samples, thin, samples, e_out, m_out):
    """Fixed-schedule chain: ``burn_in`` sweeps, then ``n_samples`` x (``thin`` sweeps, copy).

    Returns a method-dependent counter: accepted moves (metropolis), flipped sites (wolff),
    clusters (sw).
    """
    L = s.shape[0]
    N = L * L
    counts = np.zeros(q, dtype=np.int64)
    stack = np.empty(N, dtype=np.int64)
    parent = np.empty(N, dtype=np.int64)
    label = np.empty(N, dtype=np.int64)
    total = 0
    n_sweeps = burn_in + n_samples * thin
    for t in range(n_sweeps):
        if code == 0:
            _local_sweep(s, rng, q, E, False)
        elif code == 1:
            total += _local_sweep(s, rng, q, E, True)
        elif code == 2:
            for _ in range(k):
                total += _wolff_cluster(s, rng, q, padd, stack)
        else:
            total += _sw_sweep(s, rng, q, padd, parent, label)
        _colour_shift(s, rng, q)
        e, m = _observables(s, q, counts)
        e_out[t] = e
        m_out[t] = m
        u = t + 1 - burn_in
        if u > 0 and u % thin == 0:
            samples[u // thin - 1] = s
    return total


@njit(cache=True, nogil=True)
def _wolff_adaptive(s, rng, q, padd, n_sweeps, e_out, m_out, n_clusters, n_flipped):
    """Burn-in sweeps of Wolff clusters grown until N sites were flipped; per-sweep counts."""
    L = s.shape[0]
    N = L * L
    counts = np.zeros(q, dtype=np.int64)
    stack = np.empty(N, dtype=np.int64)
    for t in range(n_sweeps):
        c = 0
        f = 0
        while f < N:
            f += _wolff_cluster(s, rng, q, padd, stack)
            c += 1
        n_clusters[t] = c
        n_flipped[t] = f
        _colour_shift(s, rng, q)
        e, m = _observables(s, q, counts)
        e_out[t] = e
        m_out[t] = m


# --------------------------------------------------------------------------------------------
# Driver


def _check_counts(burn_in, n_samples, thin):
    for name, v, lo in (("burn_in", burn_in, 0), ("n_samples", n_samples, 0), ("thin", thin, 1)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ParameterError(f"run_chain: {name} must be an integer >= {lo}, got {v!r}")
    return int(burn_in), int(n_samples), int(thin)


def _tables(beta: float) -> tuple[np.ndarray, float]:
    E = np.exp(-beta * np.arange(5, dtype=np.float64))
    return E, float(-math.expm1(-beta))


def run_chain(
    model: Potts,
    method: str,
    state: np.ndarray,
    rng: np.ndarray,
    *,
    burn_in: int,
    n_samples: int,
    thin: int,
    clusters_per_sweep: int | None = None,
):
    """Advance ``state`` and ``rng`` in place and return ``(samples, energy, order, info)``.

    See the module docstring for the methods. The series have length
    ``burn_in + n_samples * thin`` (one value per sweep). For ``"wolff"``, ``k`` clusters make
    one sweep: pass ``clusters_per_sweep`` to fix it, otherwise it is estimated from the
    second half of the burn-in (each burn-in sweep grows clusters until N sites flipped); if
    fewer than 20 clusters were grown there, extra unrecorded pilot clusters are grown first
    (counted in ``info["pilot_clusters"]``).

    >>> from latticediff.mc._rng import seed_states
    >>> model = Potts(L=4, q=10, T=0.7)
    >>> rng = seed_states(3, 1)[0]
    >>> s = init_state(model, "heatbath", rng)
    >>> x, e, m, info = run_chain(model, "heatbath", s, rng, burn_in=3, n_samples=2, thin=1)
    >>> x.shape, e.shape, bool((x[-1] == s).all())
    ((2, 4, 4), (5,), True)
    """
    method = resolve_method(model, method)
    burn_in, n_samples, thin = _check_counts(burn_in, n_samples, thin)
    if state.shape != model.shape or state.dtype != np.uint8:
        raise ParameterError(
            f"Potts: state must be uint8 of shape {model.shape}, got {state.dtype} {state.shape}"
        )
    q, N = model.q, model.n_sites
    E, padd = _tables(model.beta)
    n_tot = burn_in + n_samples * thin
    e_out = np.empty(n_tot, dtype=np.float64)
    m_out = np.empty(n_tot, dtype=np.float64)
    samples = np.empty((n_samples, *model.shape), dtype=np.uint8)
    info: dict = {"method": method}
    code = _CODE[method]
    k = 1
    start = 0
    if method == "wolff":
        if clusters_per_sweep is None:
            n_cl = np.zeros(burn_in, dtype=np.int64)
            n_fl = np.zeros(burn_in, dtype=np.int64)
            _wolff_adaptive(state, rng, q, padd, burn_in, e_out, m_out, n_cl, n_fl)
            half = burn_in // 2
            c, f = int(n_cl[half:].sum()), int(n_fl[half:].sum())
            pilot = 0
            if c < _MIN_CLUSTERS_FOR_K:
                # Too little burn-in to estimate <cluster size>: grow unrecorded pilot clusters.
                pilot = _MIN_CLUSTERS_FOR_K - c
                stack = np.empty(N, dtype=np.int64)
                for _ in range(pilot):
                    f += _wolff_cluster(state, rng, q, padd, stack)
                c += pilot
            mean_size = f / c
            k = max(1, round(N / mean_size))
            info.update(mean_cluster_size_burn_in=mean_size, pilot_clusters=pilot)
            start = burn_in
        else:
            if (
                isinstance(clusters_per_sweep, bool)
                or not isinstance(clusters_per_sweep, int | np.integer)
                or clusters_per_sweep < 1
            ):
                raise ParameterError(
                    f"Potts: clusters_per_sweep must be an integer >= 1, got {clusters_per_sweep!r}"
                )
            k = int(clusters_per_sweep)
        info["clusters_per_sweep"] = k
    elif clusters_per_sweep is not None:
        raise ParameterError(f"Potts: clusters_per_sweep applies to 'wolff' only, not {method!r}")
    total = _run(
        state,
        rng,
        code,
        q,
        E,
        padd,
        k,
        burn_in - start,
        n_samples,
        thin,
        samples,
        e_out[start:],
        m_out[start:],
    )
    n_fixed = n_tot - start
    if method == "metropolis":
        info["acceptance"] = total / max(1, n_fixed * N)
    elif method == "wolff":
        info["mean_cluster_size"] = total / max(1, n_fixed * k)
    elif method == "sw":
        info["mean_clusters_per_sweep"] = total / max(1, n_fixed)
    return samples, e_out, m_out, info


# --------------------------------------------------------------------------------------------
# Slow NumPy/Python references, drawing from a Xoshiro256Reference in the same order


def _sweep_order(L):
    if L % 2 == 0:
        return [(i, j) for p in range(2) for i in range(L) for j in range((i + p) % 2, L, 2)]
    return [(i, j) for i in range(L) for j in range(L)]


def _neighbours(s, i, j):
    L = s.shape[0]
    return [
        int(s[(i - 1) % L, j]),
        int(s[(i + 1) % L, j]),
        int(s[i, (j - 1) % L]),
        int(s[i, (j + 1) % L]),
    ]


def heatbath_sweep_reference(s: np.ndarray, ref, q: int, beta: float) -> None:
    """Python heat-bath sweep, in place, equal bit for bit to the kernel.

    ``ref`` is a :class:`~latticediff.mc._rng.Xoshiro256Reference`. The distinct-state weights
    are ``exp(-beta (nmax - n_a))``, every other state weighs ``exp(-beta nmax)``.
    """
    E, _ = _tables(beta)
    for i, j in _sweep_order(s.shape[0]):
        nb = _neighbours(s, i, j)
        distinct = []  # (state, count) in order of first occurrence
        for a in nb:
            if a not in [d for d, _ in distinct]:
                distinct.append((a, nb.count(a)))
        nmax = max(c for _, c in distinct)
        base = E[nmax]
        w = [E[nmax - c] - base for _, c in distinct] + [0.0] * (4 - len(distinct))
        flat = q * base
        x = ref.uniform() * (flat + w[0] + w[1] + w[2] + w[3])
        if x < flat:
            s[i, j] = min(int(x / base), q - 1)
            continue
        x -= flat
        new = distinct[0][0]
        for (a, _), wa in zip(distinct, w, strict=False):
            if x < wa:
                new = a
                break
            x -= wa
        s[i, j] = new


def metropolis_sweep_reference(s: np.ndarray, ref, q: int, beta: float) -> int:
    """Python Metropolis sweep, in place, equal bit for bit to the kernel; returns acceptances."""
    E, _ = _tables(beta)
    L = s.shape[0]
    acc = 0
    for _ in range(L * L):
        i, j = divmod(ref.randbelow(L * L), L)
        nb = _neighbours(s, i, j)
        old = int(s[i, j])
        r = ref.randbelow(q - 1)
        new = r + 1 if r >= old else r
        d = nb.count(old) - nb.count(new)
        if d <= 0 or ref.uniform() < E[d]:
            s[i, j] = new
            acc += 1
    return acc


def wolff_cluster_reference(s: np.ndarray, ref, q: int, beta: float) -> int:
    """Python Wolff cluster (same stack discipline as the kernel); returns its size."""
    _, padd = _tables(beta)
    L = s.shape[0]
    site = ref.randbelow(L * L)
    i, j = divmod(site, L)
    old = int(s[i, j])
    r = ref.randbelow(q - 1)
    new = r + 1 if r >= old else r
    s[i, j] = new
    stack = [(i, j)]
    size = 1
    while stack:
        i, j = stack.pop()
        for a, b in (((i - 1) % L, j), ((i + 1) % L, j), (i, (j - 1) % L), (i, (j + 1) % L)):
            if s[a, b] == old and ref.uniform() < padd:
                s[a, b] = new
                stack.append((a, b))
                size += 1
    return size


def sw_sweep_reference(s: np.ndarray, ref, q: int, beta: float) -> int:
    """Python Swendsen-Wang update, in place, equal bit for bit to the kernel.

    Clusters are found with :func:`scipy.sparse.csgraph.connected_components` on the activated
    bonds; colours are drawn per cluster in order of first appearance. Returns the number of
    clusters.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, padd = _tables(beta)
    L = s.shape[0]
    N = L * L
    rows, cols = [], []
    for i in range(L):
        for j in range(L):
            for a, b in ((i, (j + 1) % L), ((i + 1) % L, j)):
                if s[i, j] == s[a, b] and ref.uniform() < padd:
                    rows.append(i * L + j)
                    cols.append(a * L + b)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(N, N))
    n, lab = connected_components(graph, directed=False)
    colour = {}
    flat = s.reshape(-1)
    for a in range(N):
        if lab[a] not in colour:
            colour[lab[a]] = ref.randbelow(q)
        flat[a] = colour[lab[a]]
    return n


def colour_shift_reference(s: np.ndarray, ref, q: int) -> None:
    """The cyclic relabelling that follows every sweep, in place (NumPy)."""
    c = ref.randbelow(q)
    s[...] = (s.astype(np.int64) + c) % q


def run_chain_reference(
    model: Potts, method: str, state: np.ndarray, ref, *, n_sweeps: int, clusters_per_sweep: int = 1
) -> list[np.ndarray]:
    """Python version of ``run_chain(..., burn_in=0, n_samples=n_sweeps, thin=1)`` for a fixed
    Wolff schedule; returns the configuration after every sweep."""
    method = resolve_method(model, method)
    q, beta = model.q, model.beta
    out = []
    for _ in range(n_sweeps):
        if method == "heatbath":
            heatbath_sweep_reference(state, ref, q, beta)
        elif method == "metropolis":
            metropolis_sweep_reference(state, ref, q, beta)
        elif method == "wolff":
            for _ in range(clusters_per_sweep):
                wolff_cluster_reference(state, ref, q, beta)
        else:
            sw_sweep_reference(state, ref, q, beta)
        colour_shift_reference(state, ref, q)
        out.append(state.copy())
    return out
