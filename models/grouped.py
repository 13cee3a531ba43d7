"""Arrays of processes: Arrow columns as NumPy, groups numbered in order of first appearance, per-group statistics.

Deciding over a million processes works on whole columns; the results must still equal, to the last bit, what loops
over processes computed (dicts filled in process order, ``sum`` of a list, ``np.mean`` of each group's array):

- :func:`first_seen` and :func:`groups` number values and key tuples as a dict would meet them;
- ``np.bincount`` with weights adds in row order, as a running sum does;
- :func:`pairwise_sums` and :func:`medians` give ``np.sum``/``np.mean``/``np.median``/``np.average`` of every group
  at once: NumPy sums a contiguous float64 array pairwise (eight running sums in blocks of up to 128 values, halves
  above that), and :func:`pairwise_sums` replays that order for all groups of one size together.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def flags(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return a boolean Arrow column as a NumPy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def numbers(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return a numeric Arrow column as float64, null as NaN."""
    return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def flagged(rows: pa.Table, mask: np.ndarray) -> list[dict[str, Any]]:
    """Return the rows a mask selects as dicts (the flagged ones, to word their explanations)."""
    return rows.filter(pa.array(mask, pa.bool_())).to_pylist()


def first_seen(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Number the distinct values (no nulls) in order of first appearance; return each row's number and the values."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(array)
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64), encoded.dictionary.to_pylist()


def codes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Return integer codes of values (no nulls), equal values sharing a code (numbered as first seen)."""
    return first_seen(values)[0]


def groups(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number rows' key tuples (integer codes) in first-appearance order; return each row's group, each group's first
    row."""
    if not keys or len(keys[0]) == 0:
        return np.zeros(0 if not keys else len(keys[0]), dtype=np.int64), np.zeros(0, dtype=np.int64)
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        # Re-number after each key, so the combined code stays below the number of rows.
        _, combined = np.unique(combined * (int(key.max()) + 1) + key, return_inverse=True)
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    number = np.empty_like(order)
    number[order] = np.arange(len(order))
    return number[inverse].astype(np.int64), first[order].astype(np.int64)


class Segments:
    """The rows of each group, in row order: ``rows(g)`` without a pass over every row per group."""

    def __init__(self, group: np.ndarray, count: int) -> None:
        self.order = np.argsort(group, kind="stable")
        self.ends = np.cumsum(np.bincount(group, minlength=count))

    def rows(self, g: int) -> np.ndarray:
        """Return the indices of group g's rows, in row order."""
        return self.order[(self.ends[g - 1] if g else 0) : self.ends[g]]


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
