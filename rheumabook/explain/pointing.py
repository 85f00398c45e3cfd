"""The pointing game: does an explanation map point at the lesion? (Zhang et al. 2018)

Zhang, Bargal, Lin, Brandt, Shen & Sclaroff, "Top-down neural attention by excitation
backprop", IJCV 126 (2018): a map *hits* when its maximum lies on the object, and the
pointing accuracy is hits / (hits + misses) over the images. Their tolerance of 15 px around
the object (at 224 px) is here the mask's own dilation (`explain.lesions.lesion_masks(...,
margin=...)`), so these functions take the masks as given.

Two ways to point (`pointing_hits`):

- ``"peak"``: the map's maximum lies inside the mask. When several pixels share the maximum,
  the map hits when at least half of them lie inside. (Taking any one of them would let a
  flat map hit every lesion; taking the first in memory order would favour the crop's top-left.)
- ``"mass"``: where the map's mass concentrates: its ``top`` share of pixels with the largest
  values (5 % by default: those at or above the 95th percentile, ties included), and the map
  hits when at least half of them lie inside. A fixed share of *pixels*, not of mass: the set
  of pixels holding 5 % of a map's mass is one pixel of a sharp map and 5 % of the crop for a
  flat one, so the modes would measure sharpness as much as place; a fixed share compares
  smooth maps (rollout) and sparse ones (gradients) on equal terms. A peak on a single noisy
  pixel decides "peak" but not "mass".

A uniform map hits in both modes only when the mask covers at least half the crop. The
baseline a map must beat is `centre_prior`, a Gaussian at the crop's centre: the crop is
centred on the joint, so "look at the middle" already finds many lesions. `pointing_table`
gives the hit rates of several map sets with patient-bootstrap intervals
(`rheumabook.stats.bootstrap_ci`); `pointing_verdicts` puts one map's against others' in words,
from the intervals alone: apart, or no difference measured at this scale.
"""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .region import ArrayLike, _as_array

__all__ = ["POINTING_MODES", "pointing_hits", "centre_prior", "pointing_table", "pointing_verdicts"]

POINTING_MODES: tuple[str, ...] = ("peak", "mass")
"""The ways a map points (`pointing_hits`)."""


def _maps_and_masks(maps: ArrayLike, masks: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) float maps and bool masks (one (H, W) mask broadcast), checked."""
    maps = _as_array(maps, "maps").astype(np.float64)
    masks = _as_array(masks, "masks")
    if maps.shape[0] == 0 or maps.shape[1] == 0 or maps.shape[2] == 0:
        raise ValueError(f"maps are empty: shape {maps.shape}")
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got dtype {masks.dtype}")
    if masks.shape[1:] != maps.shape[1:] or masks.shape[0] not in (1, maps.shape[0]):
        raise ValueError(f"masks {masks.shape} do not fit maps {maps.shape}: one (H, W) mask or one per map")
    if not np.isfinite(maps).all():
        raise ValueError(f"map {int(np.argmax(~np.isfinite(maps).all(axis=(1, 2))))} has a missing or infinite value")
    masks = np.broadcast_to(masks, maps.shape)
    empty = ~masks.any(axis=(1, 2))
    if empty.any():
        raise ValueError(f"mask {int(np.argmax(empty))} has no pixel: nothing to point at (a lesion outside "
                         f"the crop, or one too small without a margin)")
    return maps, masks


def pointing_hits(maps: ArrayLike, masks: ArrayLike, mode: str = "peak", top: float = 0.05) -> np.ndarray:
    """(N,) bool: whether each map points inside its mask (module docstring).

    maps: (N, H, W) or (H, W) finite maps (numpy or torch; only the order of their values counts).
    masks: bool (N, H, W), or one (H, W) mask for all maps; each must have a pixel.
    mode: "peak" (the maximum; ties: at least half of the maximal pixels inside) or "mass" (at
        least half of the ``top`` share of pixels with the largest values, ties at the threshold
        included, inside). top: that share, in (0, 1]; at least one pixel.
    """
    if mode not in POINTING_MODES:
        raise ValueError(f"mode must be one of {POINTING_MODES}, got {mode!r}")
    if isinstance(top, bool) or not isinstance(top, numbers.Real) or not 0.0 < top <= 1.0:
        raise ValueError(f"top must be a share of the pixels in (0, 1], got {top!r}")
    maps, masks = _maps_and_masks(maps, masks)
    flat = maps.reshape(len(maps), -1)
    if mode == "peak":
        threshold = flat.max(axis=1)
    else:
        k = max(1, math.ceil(float(top) * flat.shape[1] - 1e-9))
        threshold = np.partition(flat, flat.shape[1] - k, axis=1)[:, flat.shape[1] - k]
    chosen = flat >= threshold[:, None]
    inside = (chosen & masks.reshape(len(masks), -1)).sum(axis=1)
    return 2 * inside >= chosen.sum(axis=1)


def centre_prior(size: int, sigma: Optional[float] = None) -> np.ndarray:
    """(size, size) float64 Gaussian at the crop's centre, summing to 1: the baseline map.

    The centre is at (size / 2, size / 2) in pixel-edge coordinates (pixel i's centre at i + 0.5),
    the crop's centre, where `crop_joints` puts the joint box's centre. sigma: the standard
    deviation in pixels (default size / 4).
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer (crop pixels), got {size!r}")
    sigma = size / 4.0 if sigma is None else sigma
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number of pixels > 0, got {sigma!r}")
    d = (np.arange(size) + 0.5 - size / 2.0) ** 2
    prior = np.exp(-(d[:, None] + d[None, :]) / (2.0 * float(sigma) ** 2))
    return prior / prior.sum()


def pointing_table(maps: Mapping[str, ArrayLike], masks: ArrayLike, patients: Sequence, *,
                   modes: Sequence[str] = POINTING_MODES, top: float = 0.05, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> pd.DataFrame:
    """One row per (map set, mode): the pointing accuracy with a patient-bootstrap interval.

    maps: {name: (N, H, W) maps} on the same N crops (e.g. rollout, gradients, the centre prior
    broadcast to N). masks: bool (N, H, W), or one (H, W) mask. patients: (N,) patient ids: whole
    patients are resampled (`stats.bootstrap_ci` with groups), their joints being correlated.
    Columns: maps, mode, hit_rate, hit_rate_low, hit_rate_high (the `level` interval), n_crops,
    n_patients, chance (the masks' mean share of the crop: the peak hit rate of a point drawn at random).
    """
    from ..stats import bootstrap_ci

    if not maps:
        raise ValueError("maps is empty: give at least one {name: (N, H, W) maps}")
    patients = np.asarray(patients, dtype=object)
    rows = []
    for name, heat in maps.items():
        heat, full_masks = _maps_and_masks(heat, masks)
        if patients.shape != (len(heat),):
            raise ValueError(f"patients must have one id per crop ({len(heat)}), got shape {patients.shape}")
        for mode in modes:
            hits = pointing_hits(heat, full_masks, mode=mode, top=top).astype(float)
            est, low, high = bootstrap_ci(lambda h, _: float(np.mean(h)), hits, hits, n_boot=n_boot, seed=seed,
                                          level=level, groups=patients)
            rows.append({"maps": name, "mode": mode, "hit_rate": est, "hit_rate_low": low, "hit_rate_high": high,
                         "n_crops": len(hits), "n_patients": len(set(patients.tolist())),
                         "chance": float(full_masks.mean())})
    return pd.DataFrame(rows)


def pointing_verdicts(table: pd.DataFrame, subject: str, baselines: Sequence[str]) -> pd.DataFrame:
    """One row per (mode, baseline): `subject`'s hit rate against the baseline's, with a verdict from the intervals.

    table: `pointing_table`'s rows. The verdict is "higher" or "lower" when the two 95 % intervals
    do not overlap, else "no difference measured at this scale". Columns: mode, baseline,
    hit_rate, hit_rate_low, hit_rate_high (the subject's), baseline_rate, baseline_low,
    baseline_high, verdict.
    """
    rows = []
    for mode, at in table.groupby("mode", sort=False):
        by = at.set_index("maps")
        for name in (subject, *baselines):
            if name not in by.index:
                raise ValueError(f"no pointing-table row for maps {name!r} in mode {mode!r}")
        ours = by.loc[subject]
        for name in baselines:
            other = by.loc[name]
            verdict = ("higher" if ours["hit_rate_low"] > other["hit_rate_high"] else
                       "lower" if ours["hit_rate_high"] < other["hit_rate_low"] else
                       "no difference measured at this scale")
            rows.append({"mode": mode, "baseline": name, "hit_rate": ours["hit_rate"],
                         "hit_rate_low": ours["hit_rate_low"], "hit_rate_high": ours["hit_rate_high"],
                         "baseline_rate": other["hit_rate"], "baseline_low": other["hit_rate_low"],
                         "baseline_high": other["hit_rate_high"], "verdict": verdict})
    return pd.DataFrame(rows)
