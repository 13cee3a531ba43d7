"""Per-group statistics over arrays, equal to the last bit to NumPy's reductions of each group's own array.

Scores aggregate hundreds of thousands of (buyer, year) and (supplier, year) groups. Calling ``np.mean`` once per group
costs a Python call each; these functions compute every group at once and give the same floats: NumPy sums a
contiguous float64 array pairwise (eight running sums in blocks of up to 128 values, halves above that), and
:func:`pairwise_sums` replays that order for all groups of one size together.
"""

from __future__ import annotations

import numpy as np

BLOCK = 128  # NumPy's PW_BLOCKSIZE
LANES = 8


def _pairwise(rows: np.ndarray) -> np.ndarray:
    """Sum each row of a matrix as ``np.sum`` sums a contiguous float64 array of that length."""
    n = rows.shape[1]
    if n < LANES:
        total = np.zeros(rows.shape[0])
        for j in range(n):
            total += rows[:, j]
        return total
    if n <= BLOCK:
        lanes = rows[:, :LANES].copy()
        stop = n - n % LANES
        for j in range(LANES, stop, LANES):
            lanes += rows[:, j : j + LANES]
        total = ((lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])) + (
            (lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7])
        )
        for j in range(stop, n):
            total += rows[:, j]
        return total
    half = n // 2
    half -= half % LANES
    return _pairwise(rows[:, :half]) + _pairwise(rows[:, half:])


def _by_size(values: np.ndarray, group: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the values sorted by group (row order kept within a group), each group's size and its first index."""
    order = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return values[order], sizes, starts


def pairwise_sums(values: np.ndarray, group: np.ndarray, count: int) -> np.ndarray:
    """Return ``np.sum(values[group == g])`` for every group g < count (0.0 for an empty group)."""
    ordered, sizes, starts = _by_size(np.asarray(values, dtype=float), group, count)
    sums = np.zeros(count)
    for size in np.unique(sizes[sizes > 0]).tolist():
        members = np.flatnonzero(sizes == size)
        sums[members] = _pairwise(ordered[starts[members][:, None] + np.arange(size)])
    return sums


def medians(values: np.ndarray, group: np.ndarray, count: int) -> np.ndarray:
    """Return ``np.median(values[group == g])`` for every group g < count (NaN for an empty group; no NaN values)."""
    values = np.asarray(values, dtype=float)
    order = np.lexsort((values, group))
    ordered = values[order]
    sizes = np.bincount(group, minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    result = np.full(count, np.nan)
    odd = (sizes % 2 == 1) & (sizes > 0)
    even = (sizes % 2 == 0) & (sizes > 0)
    # np.median takes the mean of the middle one or two values: a sum from 0.0, then a division.
    result[odd] = 0.0 + ordered[starts[odd] + sizes[odd] // 2]
    low, high = ordered[starts[even] + sizes[even] // 2 - 1], ordered[starts[even] + sizes[even] // 2]
    result[even] = ((0.0 + low) + high) / 2
    return result
