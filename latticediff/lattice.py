"""Square lattices in 1-3 dimensions: neighbours, edges, and the A / B / C regions of the CMI.

Conventions (DESIGN.md §2):

- Sites are indexed row-major (C order) over ``shape``; a *flat index* is ``np.ravel_multi_index``.
- Distances are L-infinity; on a periodic lattice they use the minimum image along each axis.
- **Regions** around a site ``center`` (or the ``block``-wide cube whose lowest corner is
  ``center``): A = the block, B = the shell ``0 < dist(j, A) <= r``, C = everything else.
  Without periodicity the regions are clipped at the borders (images).
- **Edges** (the loop gas, channels-first data ``(d, *shape)``): channel ``c`` of site ``x`` is the
  edge from ``x`` to ``x + e_{d-1-c}``. In 2D this is :class:`latticediff.LoopGas`'s layout:
  channel 0 is (i, j) -> (i, j+1), channel 1 is (i, j) -> (i+1, j). Edge regions are defined by
  one of two rules (:func:`edge_shell_mask`):

  * ``"owner"`` (default): an edge belongs to the region of the site that owns it (its first
    endpoint ``x``). This is the geometry a radius-r local denoiser of channels-first data sees,
    and A for ``block=1`` is the ``d`` edges of one site.
  * ``"endpoints"``: an edge belongs to the ball of radius ``r`` if *both* endpoints lie in it;
    A = edges with both endpoints in the block (needs ``block >= 2``), B = edges of the radius-r
    ball not in A, C = the rest (edges leaving the ball are in C).

>>> A, B, C = shell_mask((5, 5), (2, 2), 1)
>>> int(A.sum()), int(B.sum()), int(C.sum())
(1, 8, 16)
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError

__all__ = [
    "neighbours",
    "linf_distance",
    "shell_mask",
    "shell_offsets",
    "edges",
    "edge_shell_mask",
]

_EDGE_RULES = ("owner", "endpoints")


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _check_shape(shape) -> tuple[int, ...]:
    if _is_int(shape):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ParameterError(
            f"lattice: shape must be a tuple of 1-3 integers, got {shape!r}"
        ) from None
    if not 1 <= len(shape) <= 3 or not all(_is_int(n) and n >= 1 for n in shape):
        raise ParameterError(f"lattice: shape must be a tuple of 1-3 integers >= 1, got {shape!r}")
    return tuple(int(n) for n in shape)


def _check_center(center, shape: tuple[int, ...]) -> tuple[int, ...]:
    if _is_int(center):
        center = (int(center),)
    try:
        center = tuple(center)
    except TypeError:
        raise ParameterError(
            f"lattice: center must be a tuple of integers, got {center!r}"
        ) from None
    if len(center) != len(shape) or not all(_is_int(c) for c in center):
        raise ParameterError(
            f"lattice: center must have {len(shape)} integer coordinates, got {center!r}"
        )
    for c, n in zip(center, shape, strict=True):
        if not 0 <= c < n:
            raise ParameterError(f"lattice: center {center} lies outside shape {shape}")
    return tuple(int(c) for c in center)


def _check_nonneg(name: str, v) -> int:
    if not _is_int(v) or v < 0:
        raise ParameterError(f"lattice: {name} must be an integer >= 0, got {v!r}")
    return int(v)


def _check_block(block, shape: tuple[int, ...]) -> int:
    if not _is_int(block) or not 1 <= block <= min(shape):
        raise ParameterError(
            f"lattice: block must be an integer in [1, {min(shape)}], got {block!r}"
        )
    return int(block)


def neighbours(shape, *, periodic: bool = True) -> np.ndarray:
    """Flat indices of the ``2 d`` nearest neighbours of every site, shape ``(n_sites, 2 d)``.

    Column ``2 a`` is the neighbour at ``-1`` along axis ``a``, column ``2 a + 1`` the one at
    ``+1``. On an open lattice a missing neighbour is ``-1``. For ``L = 2`` periodic both columns
    of an axis name the same site (the torus multigraph, as in :mod:`latticediff.systems`).

    >>> neighbours((4,))[0].tolist()
    [3, 1]
    >>> neighbours((3, 3), periodic=False)[0].tolist()
    [-1, 3, -1, 1]
    """
    shape = _check_shape(shape)
    coords = np.indices(shape).reshape(len(shape), -1)
    out = np.empty((coords.shape[1], 2 * len(shape)), dtype=np.int64)
    for a, n in enumerate(shape):
        for k, step in enumerate((-1, 1)):
            c = coords.copy()
            c[a] += step
            if periodic:
                c[a] %= n
                out[:, 2 * a + k] = np.ravel_multi_index(tuple(c), shape)
            else:
                ok = (c[a] >= 0) & (c[a] < n)
                c[a] = np.clip(c[a], 0, n - 1)
                out[:, 2 * a + k] = np.where(ok, np.ravel_multi_index(tuple(c), shape), -1)
    return out


def linf_distance(shape, center, *, block: int = 1, periodic: bool = True) -> np.ndarray:
    """L-infinity distance of every site to the block ``center + [0, block)^d``, shape ``shape``.

    Periodic lattices use the minimum image along each axis.

    >>> linf_distance((6,), (0,)).tolist()
    [0, 1, 2, 3, 2, 1]
    >>> linf_distance((6,), (0,), block=2, periodic=False).tolist()
    [0, 0, 1, 2, 3, 4]
    """
    shape = _check_shape(shape)
    center = _check_center(center, shape)
    block = _check_block(block, shape)
    dist = np.zeros(shape, dtype=np.int64)
    for a, (n, c) in enumerate(zip(shape, center, strict=True)):
        x = np.arange(n)
        if periodic:
            delta = (x - c) % n
            # inside the block: 0; otherwise the shorter way round to its nearer end
            d = np.where(delta < block, 0, np.minimum(delta - (block - 1), n - delta))
        else:
            delta = x - c
            d = np.where(delta < 0, -delta, np.maximum(delta - (block - 1), 0))
        view = [1] * len(shape)
        view[a] = n
        dist = np.maximum(dist, d.reshape(view))
    return dist


def shell_mask(
    shape, center, r: int, *, block: int = 1, periodic: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks ``(A, B, C)`` over the sites of a lattice of ``shape``.

    A = the ``block``-wide cube with lowest corner ``center`` (one site for ``block = 1``),
    B = the L-infinity shell ``0 < dist(j, A) <= r``, C = the rest. ``periodic=False`` clips the
    regions at the borders. The three masks partition the lattice.

    >>> A, B, C = shell_mask((8,), (0,), 2, periodic=False)
    >>> B.nonzero()[0].tolist(), int(C.sum())
    ([1, 2], 5)
    >>> A, B, C = shell_mask((6, 6), (1, 1), 1, block=2)
    >>> int(A.sum()), int(B.sum()), int(C.sum())
    (4, 12, 20)
    """
    r = _check_nonneg("r", r)
    dist = linf_distance(shape, center, block=block, periodic=periodic)
    A = dist == 0
    B = (dist > 0) & (dist <= r)
    return A, B, ~(A | B)


def shell_offsets(
    ndim: int, r: int, *, block: int = 1, outer: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Relative offsets ``(A, B, C)`` of the regions on an infinite lattice, each ``(k, ndim)``.

    A = ``[0, block)^ndim``, B = ``0 < dist <= r``, C = the ring ``r < dist <= outer``
    (empty for ``outer=None``). Offsets are listed in lexicographic order, so a pattern read at
    them is in a fixed site order. Used by the translation-averaging estimators.

    >>> A, B, C = shell_offsets(1, 2, outer=3)
    >>> A.ravel().tolist(), B.ravel().tolist(), C.ravel().tolist()
    ([0], [-2, -1, 1, 2], [-3, 3])
    """
    if not _is_int(ndim) or not 1 <= ndim <= 3:
        raise ParameterError(f"lattice: ndim must be 1, 2 or 3, got {ndim!r}")
    r = _check_nonneg("r", r)
    if not _is_int(block) or block < 1:
        raise ParameterError(f"lattice: block must be an integer >= 1, got {block!r}")
    if outer is None:
        outer = r
    outer = _check_nonneg("outer", outer)
    if outer < r:
        raise ParameterError(f"lattice: outer must be >= r = {r}, got {outer}")
    lo, hi = -outer, block - 1 + outer
    grid = np.stack(np.meshgrid(*([np.arange(lo, hi + 1)] * ndim), indexing="ij"), axis=-1).reshape(
        -1, ndim
    )
    # distance of each offset to the block [0, block)
    d = np.max(np.where(grid < 0, -grid, np.maximum(grid - (block - 1), 0)), axis=1)
    return grid[d == 0], grid[(d > 0) & (d <= r)], grid[(d > r) & (d <= outer)]


def edges(shape, *, periodic: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Endpoints ``(u, v)`` of every edge, each an int64 array of shape ``(d, *shape)``.

    Edge ``(c, x)`` joins site ``x`` (flat index ``u[c, x]``) to ``x + e_{d-1-c}`` (``v[c, x]``);
    on an open lattice ``v = -1`` where that neighbour does not exist (no such edge).

    >>> u, v = edges((3, 3))
    >>> int(u[0, 1, 2]), int(v[0, 1, 2]), int(v[1, 1, 2])   # (1,2)->(1,0) and (1,2)->(2,2)
    (5, 3, 8)
    """
    shape = _check_shape(shape)
    d = len(shape)
    nb = neighbours(shape, periodic=periodic)
    u = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), (d, *shape)).copy()
    v = np.stack([nb[:, 2 * (d - 1 - c) + 1].reshape(shape) for c in range(d)])
    return u, v


def edge_shell_mask(
    shape,
    center,
    r: int,
    *,
    block: int = 1,
    periodic: bool = True,
    rule: str = "owner",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks ``(A, B, C)`` over the edges ``(d, *shape)`` of a lattice (module docstring).

    ``rule="owner"``: the site masks of :func:`shell_mask` broadcast over the ``d`` channels.
    ``rule="endpoints"``: an edge is in the radius-r ball if both its endpoints are; A = edges
    inside the block (``block >= 2``), B = ball minus A, C = the rest. Edges that do not exist
    on an open lattice are in none of the three.

    >>> A, B, C = edge_shell_mask((5, 5), (2, 2), 1)
    >>> int(A.sum()), int(B.sum()), int(C.sum())
    (2, 16, 32)
    >>> A, B, C = edge_shell_mask((6, 6), (2, 2), 1, block=2, rule="endpoints")
    >>> int(A.sum()), int(B.sum()), int(C.sum())
    (4, 20, 48)
    """
    if rule not in _EDGE_RULES:
        raise ParameterError(f"lattice: edge rule must be one of {_EDGE_RULES}, got {rule!r}")
    shape = _check_shape(shape)
    d = len(shape)
    u, v = edges(shape, periodic=periodic)
    exists = v >= 0
    if rule == "owner":
        A, B, C = shell_mask(shape, center, r, block=block, periodic=periodic)
        masks = [np.broadcast_to(m, (d, *shape)) & exists for m in (A, B, C)]
        return masks[0], masks[1], masks[2]
    if block < 2:
        raise ParameterError(
            "lattice: rule='endpoints' needs block >= 2 (no edge lies inside one site), "
            f"got {block}"
        )
    r = _check_nonneg("r", r)
    dist = linf_distance(shape, center, block=block, periodic=periodic).ravel()
    vv = np.where(exists, v, 0)
    far = np.maximum(dist[u], dist[vv])  # the edge lies in the ball of radius far
    A = exists & (far == 0)
    B = exists & (far > 0) & (far <= r)
    C = exists & (far > r)
    return A, B, C
