"""The window-gathering kernel of the neural estimators against its NumPy reference."""

import numpy as np

from latticediff.info._gather import (
    gather_windows,
    gather_windows_mixed,
    gather_windows_reference,
)


def test_gather_matches_reference():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(7, 30, 3)).astype(np.float32)
    idx = rng.integers(0, 30, size=(30, 11))
    s = rng.integers(0, 7, size=200)
    v = rng.integers(0, 30, size=200)
    out = np.full((200, 11, 3), np.nan, dtype=np.float32)
    gather_windows(feats, s, idx, v, np.full(200, 11), out)
    np.testing.assert_array_equal(out, gather_windows_reference(feats, s, idx, v))


def test_gather_int8_features_into_float32():
    rng = np.random.default_rng(1)
    feats = rng.choice(np.array([-1, 1], dtype=np.int8), size=(5, 16, 1))
    idx = rng.integers(0, 16, size=(16, 8))
    s, v = rng.integers(0, 5, size=50), rng.integers(0, 16, size=50)
    out = np.empty((50, 8, 1), dtype=np.float32)
    gather_windows(feats, s, idx, v, np.full(50, 8), out)
    np.testing.assert_array_equal(
        out, gather_windows_reference(feats, s, idx, v).astype(np.float32)
    )


def test_gather_prefix_counts_zero_the_rest():
    """Row m holds its first count[m] offsets and exact zeros after them (F = 1 and F = 3)."""
    rng = np.random.default_rng(2)
    for F in (1, 3):
        feats = rng.normal(size=(6, 25, F)).astype(np.float32)
        idx = rng.integers(0, 25, size=(25, 9))
        s, v = rng.integers(0, 6, size=40), rng.integers(0, 25, size=40)
        count = rng.integers(0, 12, size=40)  # counts above the window width are clipped
        out = np.full((40, 9, F), np.nan, dtype=np.float32)
        gather_windows(feats, s, idx, v, count, out)
        ref = gather_windows_reference(feats, s, idx, v, count)
        np.testing.assert_array_equal(out, ref)
        assert np.all(out[count == 0] == 0)


def test_gather_mixed_reads_offsets_from_swap_on_from_the_partner():
    """Offsets swap[m] <= k < count[m] come from sample s2[m], the rest as gather_windows."""
    rng = np.random.default_rng(3)
    for F in (1, 3):
        feats = rng.normal(size=(6, 25, F)).astype(np.float32)
        idx = rng.integers(0, 25, size=(25, 9))
        s, s2, v = (rng.integers(0, n, size=40) for n in (6, 6, 25))
        swap, count = rng.integers(0, 12, size=40), rng.integers(0, 12, size=40)
        out = np.full((40, 9, F), np.nan, dtype=np.float32)
        gather_windows_mixed(feats, s, s2, idx, v, swap, count, out)
        ref = gather_windows_reference(feats, s, idx, v, count, s2=s2, swap=swap)
        np.testing.assert_array_equal(out, ref)
        swap[0], count[0] = 3, 9  # row 0 reads both samples: 0..2 from s, 3..8 from s2
        out[0] = np.nan
        gather_windows_mixed(feats, s[:1], s2[:1], idx, v[:1], swap[:1], count[:1], out[:1])
        np.testing.assert_array_equal(out[0, :3], feats[s[0], idx[v[0], :3]])
        np.testing.assert_array_equal(out[0, 3:], feats[s2[0], idx[v[0], 3:]])
