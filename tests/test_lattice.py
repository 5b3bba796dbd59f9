"""Regions, neighbours and edges of square lattices, against brute-force geometry."""

import itertools

import numpy as np
import pytest

from latticediff import lattice as lat
from latticediff.errors import ParameterError


def _brute_dist(shape, center, block, periodic):
    """L-inf distance of each site to the block by explicit loops over block sites."""
    out = np.zeros(shape, dtype=int)
    block_sites = [
        tuple(c + k for c, k in zip(center, ks, strict=True))
        for ks in itertools.product(range(block), repeat=len(shape))
    ]
    for x in itertools.product(*[range(n) for n in shape]):
        best = None
        for b in block_sites:
            d = 0
            for xa, ba, n in zip(x, b, shape, strict=True):
                if periodic:
                    da = abs(xa - ba % n)
                    da = min(da, n - da)
                else:
                    da = abs(xa - ba)
                d = max(d, da)
            best = d if best is None else min(best, d)
        out[x] = best
    return out


@pytest.mark.parametrize(
    "shape,center,block",
    [
        ((9,), (0,), 1),
        ((9,), (6,), 3),
        ((6, 7), (5, 1), 1),
        ((6, 6), (4, 4), 2),
        ((4, 5, 3), (3, 0, 2), 1),
    ],
)
@pytest.mark.parametrize("periodic", [True, False])
def test_distance_and_masks_match_brute_force(shape, center, block, periodic):
    ref = _brute_dist(shape, center, block, periodic)
    d = lat.linf_distance(shape, center, block=block, periodic=periodic)
    assert np.array_equal(d, ref)
    for r in range(4):
        A, B, C = lat.shell_mask(shape, center, r, block=block, periodic=periodic)
        assert np.array_equal(A, ref == 0)
        assert np.array_equal(B, (ref > 0) & (ref <= r))
        assert np.array_equal(C, ref > r)
        assert np.all(A.astype(int) + B + C == 1)  # a partition


@pytest.mark.parametrize("d", [1, 2, 3])
def test_shell_sizes_on_large_lattice(d):
    L, r, a = 11, 2, 2
    A, B, C = lat.shell_mask((L,) * d, (3,) * d, r, block=a)
    assert A.sum() == a**d
    assert B.sum() == (a + 2 * r) ** d - a**d
    assert C.sum() == L**d - (a + 2 * r) ** d


def test_open_lattice_clips_at_border():
    A, B, C = lat.shell_mask((5, 5), (0, 0), 1, periodic=False)
    assert B.sum() == 3 and C.sum() == 21


@pytest.mark.parametrize("d", [1, 2, 3])
def test_offsets_agree_with_masks(d):
    L, r, outer, a = 12, 1, 3, 2
    c = (4,) * d
    oA, oB, oC = lat.shell_offsets(d, r, block=a, outer=outer)
    dist = lat.linf_distance((L,) * d, c, block=a)
    for offs, sel in (
        (oA, dist == 0),
        (oB, (dist > 0) & (dist <= r)),
        (oC, (dist > r) & (dist <= outer)),
    ):
        pos = {tuple((np.array(c) + o) % L) for o in offs}
        assert pos == set(zip(*np.nonzero(sel), strict=True))
        assert len(pos) == len(offs)
    # fixed lexicographic order
    assert [tuple(o) for o in oB] == sorted(tuple(o) for o in oB)


@pytest.mark.parametrize("shape", [(5,), (4, 6), (3, 4, 5)])
def test_neighbours(shape):
    nb = lat.neighbours(shape)
    n = int(np.prod(shape))
    assert nb.shape == (n, 2 * len(shape))
    for i in range(n):
        assert len(set(nb[i])) == 2 * len(shape)  # L >= 3: all distinct
        for j in nb[i]:
            assert i in nb[j]  # symmetric
        xi = np.array(np.unravel_index(i, shape))
        for j in nb[i]:
            xj = np.array(np.unravel_index(j, shape))
            diff = np.minimum(np.abs(xi - xj), np.array(shape) - np.abs(xi - xj))
            assert diff.sum() == 1
    nbo = lat.neighbours(shape, periodic=False)
    n_missing = (nbo == -1).sum()
    assert n_missing == sum(2 * n // L for L in shape)


def test_edges_follow_loopgas_layout():
    L = 4
    u, v = lat.edges((L, L))
    assert u.shape == v.shape == (2, L, L)
    for i, j in itertools.product(range(L), repeat=2):
        assert u[0, i, j] == u[1, i, j] == i * L + j
        assert v[0, i, j] == i * L + (j + 1) % L  # channel 0: (i, j) -> (i, j+1)
        assert v[1, i, j] == ((i + 1) % L) * L + j  # channel 1: (i, j) -> (i+1, j)
    _, vo = lat.edges((L, L), periodic=False)
    assert (vo == -1).sum() == 2 * L


def test_edge_masks():
    A, B, C = lat.edge_shell_mask((5, 5), (2, 2), 1)
    sA, sB, sC = lat.shell_mask((5, 5), (2, 2), 1)
    for e, s in ((A, sA), (B, sB), (C, sC)):
        assert np.array_equal(e[0], s) and np.array_equal(e[1], s)
    # endpoints rule, brute force
    L, c, a, r = 7, (2, 3), 2, 1
    A, B, C = lat.edge_shell_mask((L, L), c, r, block=a, rule="endpoints")
    dist = _brute_dist((L, L), c, a, True)
    u, v = lat.edges((L, L))
    for ch, i, j in itertools.product(range(2), range(L), range(L)):
        du = dist.ravel()[u[ch, i, j]]
        dv = dist.ravel()[v[ch, i, j]]
        far = max(du, dv)
        assert A[ch, i, j] == (far == 0)
        assert B[ch, i, j] == (0 < far <= r)
        assert C[ch, i, j] == (far > r)
    assert A.sum() == 2 * a * (a - 1)
    # open lattice: missing edges belong to no region
    A, B, C = lat.edge_shell_mask((4, 4), (0, 0), 1, periodic=False)
    assert (A | B | C).sum() == 2 * 4 * 3


def test_errors():
    with pytest.raises(ParameterError, match="shape"):
        lat.shell_mask((4, 4, 4, 4), (0, 0, 0, 0), 1)
    with pytest.raises(ParameterError, match="outside"):
        lat.shell_mask((4, 4), (4, 0), 1)
    with pytest.raises(ParameterError, match="r must be an integer >= 0"):
        lat.shell_mask((4, 4), (0, 0), -1)
    with pytest.raises(ParameterError, match="block"):
        lat.shell_mask((4, 4), (0, 0), 1, block=5)
    with pytest.raises(ParameterError, match="block >= 2"):
        lat.edge_shell_mask((4, 4), (0, 0), 1, rule="endpoints")
    with pytest.raises(ParameterError, match="rule"):
        lat.edge_shell_mask((4, 4), (0, 0), 1, rule="midpoint")
    with pytest.raises(ParameterError, match="outer"):
        lat.shell_offsets(2, 3, outer=2)
