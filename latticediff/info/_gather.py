"""Window gathering for the neural estimators: ``out[m, k] = feats[s[m], idx[v[m], k]]``.

Torch's advanced indexing with two index tensors costs ~15 ns per gathered element on this
machine kind (8192 windows of 288 offsets: 36 ms, most of a training step); the loop below is
~2 ns per element on the CPU. CUDA tensors keep torch indexing. ``feats`` may be any numeric
dtype (the estimators store their +-1 / one-hot features as int8); ``out`` sets the output dtype.

``count[m]`` limits row m to the first ``count[m]`` offsets (the rest of the row is set to 0):
a training row of a radius-r mask reads only the offsets within distance r, which come first.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def gather_windows_mixed(feats, s, s2, idx, v, swap, count, out):
    """Kernel: as :func:`gather_windows`, but offsets ``swap[m] <= k < count[m]`` are read from
    sample ``s2[m]`` (the null of :func:`~latticediff.info.neural.neural_cmi_profile`: the far
    region taken from another sample)."""
    W = idx.shape[1]
    F = feats.shape[2]
    for m in range(s.shape[0]):
        fs = feats[s[m]]
        fp = feats[s2[m]]
        row = idx[v[m]]
        o = out[m]
        n = min(count[m], W)
        a = min(swap[m], n)
        if F == 1:  # the common case (+-1 or 0/1 features): one element per offset
            for k in range(a):
                o[k, 0] = fs[row[k], 0]
            for k in range(a, n):
                o[k, 0] = fp[row[k], 0]
        else:
            for k in range(n):
                src = fs if k < a else fp
                j = row[k]
                for f in range(F):
                    o[k, f] = src[j, f]
        o[n:] = 0


@njit(cache=True, nogil=True)
def gather_windows(feats, s, idx, v, count, out):
    """Kernel: ``out[m, k, :] = feats[s[m], idx[v[m], k], :]`` for ``k < count[m]``, else 0."""
    gather_windows_mixed(feats, s, s, idx, v, count, count, out)


def gather_windows_reference(feats, s, idx, v, count=None, s2=None, swap=None) -> np.ndarray:
    """NumPy reference of :func:`gather_windows` and, with ``s2`` and ``swap``, of
    :func:`gather_windows_mixed` (the same values, newly allocated)."""
    k = np.arange(idx.shape[1])[None, :, None]
    out = feats[s[:, None], idx[v]]
    if s2 is not None:
        out = np.where(k < swap[:, None, None], out, feats[s2[:, None], idx[v]])
    if count is not None:
        out = np.where(k < count[:, None, None], out, 0)
    return out
