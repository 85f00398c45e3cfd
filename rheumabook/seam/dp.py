"""The minimum-energy seam by dynamic programming (seam carving, Avidan & Shamir 2007; paper §3.2).

1. `cumulative_energy`  the table M[y, x] = E[y, x] + min(M[y-1, x-1:x+2]).
2. `seam_from_table`    backtracks the least-energy path through M, with a fixed tie rule.
3. `min_energy_seam`    both: the top-to-bottom 8-connected path of least total energy.
`seam_cost` sums the energy along a seam (chapter 3 and the tests compare seams with it).

A seam is int64 (H,): the column of the path in each row, |seam[y] - seam[y-1]| <= 1.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cumulative_energy", "seam_from_table", "min_energy_seam", "seam_cost"]


def _check_energy(energy: np.ndarray) -> np.ndarray:
    """A finite, non-empty 2-D float64 copy of an energy map (used by the DP functions)."""
    energy = np.asarray(energy)
    if energy.ndim != 2 or energy.size == 0:
        raise ValueError(f"energy must be a non-empty 2-D array (y, x), got shape {energy.shape}")
    energy = energy.astype(np.float64)
    if not np.all(np.isfinite(energy)):
        raise ValueError("energy contains NaN or infinite values; the seam needs finite energies")
    return energy


def cumulative_energy(energy: np.ndarray) -> np.ndarray:
    """The seam-carving DP table: M[y, x] = least energy of an 8-connected path from row 0 to (y, x).

    energy: 2-D (H, W) finite numbers. Returns float64 (H, W) with M[0] = E[0] and
    M[y, x] = E[y, x] + min(M[y-1, x-1], M[y-1, x], M[y-1, x+1]) (neighbours outside the
    image ignored). One vectorised step per row: no Python loop over pixels.
    """
    energy = _check_energy(energy)
    height, width = energy.shape
    table = np.empty_like(energy)
    table[0] = energy[0]
    best = np.empty(width)
    for y in range(1, height):
        prev = table[y - 1]
        best[:] = prev
        np.minimum(best[1:], prev[:-1], out=best[1:])  # from the upper-left neighbour
        np.minimum(best[:-1], prev[1:], out=best[:-1])  # from the upper-right neighbour
        np.add(energy[y], best, out=table[y])
    return table


def seam_from_table(table: np.ndarray) -> np.ndarray:
    """Backtrack the least-energy seam through a `cumulative_energy` table; int64 (H,), one x per row.

    Ties are broken deterministically: the seam ends at the smallest x of the least
    total in the last row; walking up, among the predecessors with the least cumulative
    energy it prefers the straight step (x), then the left one (x-1), then the right one
    (x+1). The result is the lexicographically first optimal path in that order.
    """
    table = np.asarray(table, dtype=np.float64)
    height, width = table.shape
    seam = np.empty(height, dtype=np.int64)
    x = int(np.argmin(table[-1]))  # np.argmin returns the first (smallest x) minimum
    seam[-1] = x
    for y in range(height - 1, 0, -1):
        prev = table[y - 1]
        best_x, best = x, prev[x]  # straight first ...
        if x > 0 and prev[x - 1] < best:  # ... then left, then right, each only if strictly better
            best_x, best = x - 1, prev[x - 1]
        if x < width - 1 and prev[x + 1] < best:
            best_x = x + 1
        x = best_x
        seam[y - 1] = x
    return seam


def min_energy_seam(energy: np.ndarray) -> np.ndarray:
    """The top-to-bottom 8-connected path of least total energy (Avidan & Shamir 2007; paper §3.2).

    energy: 2-D (H, W) finite numbers. Returns int64 (H,): the column of the path in each
    row, with |seam[y] - seam[y-1]| <= 1. Exact (dynamic programming, `cumulative_energy`);
    ties broken as `seam_from_table` documents (smallest end x, then straight > left > right).
    """
    return seam_from_table(cumulative_energy(energy))


def seam_cost(energy: np.ndarray, seam: np.ndarray) -> float:
    """Total energy along a seam (one x per row); chapter 3 and the tests compare seams with it."""
    energy = np.asarray(energy)
    seam = np.asarray(seam)
    return float(energy[np.arange(energy.shape[0]), seam].sum())
