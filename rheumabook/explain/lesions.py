"""Lesion geometry in crop pixels: polygons of a radiograph mapped into a scoring crop and rasterised.

The phantom gives each lesion as polygons in pixels of the radiograph
(`rheumabook.phantom.lesion_geometry`); an explanation map lives in pixels of a scoring crop.
The crop's geometry is `rheumabook.scoring.crops.crop_windows`' (and `crop_joints`'): the box
squared about its centre, its side times ``sqrt(factor)`` (an *area* factor), the window rounded
to whole pixels, resized to ``size`` x ``size``, and a right hand's crop mirrored left-right into
left orientation. So a point (x, y) of the radiograph lands at

    ((x - window_x0) * s, (y - window_y0) * s),  s = size / window side,

and, in a right hand's mirrored crop, at x' = size - x'. Coordinates are pixel edges in both
images (pixel i spans [i, i+1]), as the boxes'. A mask pixel is in a lesion when its centre
(i + 0.5) lies inside one of the polygons (even-odd rule per polygon, union over polygons); a
polygon too thin to cover any pixel centre marks the pixel under its vertices' mean, so a
lesion inside the crop never vanishes. ``margin`` dilates the mask by that many crop pixels (a
disc): the pointing game's tolerance (Zhang et al. 2018 allow 15 px at 224 px).
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence, Union

import numpy as np
import pandas as pd

__all__ = ["polygons_in_crop", "rasterise_polygons", "lesion_masks"]

Polygons = Sequence[np.ndarray]
BoxesLike = Union[pd.DataFrame, np.ndarray, Sequence]


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer (crop pixels), got {size!r}")
    return int(size)


def _check_polygons(polygons: Polygons) -> list[np.ndarray]:
    """Each polygon as a finite float (n, 2) array, n >= 3, or a ValueError naming it."""
    if isinstance(polygons, np.ndarray):
        raise ValueError("polygons must be a list of (n, 2) arrays (one list per crop), not one array")
    out = []
    for i, p in enumerate(polygons):
        arr = np.asarray(p, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 3:
            raise ValueError(f"polygon {i} must be an (n, 2) array of (x, y) vertices with n >= 3, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"polygon {i} has a missing or infinite vertex")
        out.append(arr)
    return out


def _window_polygons(polygons: list[np.ndarray], window: np.ndarray, size: int) -> list[np.ndarray]:
    """Radiograph pixels -> crop pixels of `window` (x0, y0, x1, y1) resized to `size`, unmirrored."""
    scale = size / (window[2] - window[0])
    return [(p - window[:2]) * scale for p in polygons]


def polygons_in_crop(polygons: Polygons, box: Sequence[float], *, factor: float = 2.5, size: int = 224,
                     hand: str | None = None, mirror_right: bool = True) -> list[np.ndarray]:
    """Polygons (x, y) in radiograph pixels -> the same polygons in pixels of `box`'s crop (module docstring).

    box: (x_min, y_min, x_max, y_max) in pixels of the radiograph; factor: the area enlargement
    the crop was cut with (`scoring.EVAL_FACTOR` = 2.5); size: the crop's side (pixels); hand:
    "left" / "right" / None, with `mirror_right` as `crop_joints` mirrors right hands. Returns
    (n, 2) float arrays of (x, y) crop pixels (pixel edges); points outside the crop are kept.
    """
    from ..scoring.crops import _hands_of, crop_windows

    size = _check_size(size)
    window = crop_windows(np.asarray(box, dtype=float)[None], factor)[0]
    out = _window_polygons(_check_polygons(polygons), window, size)
    hand_of = _hands_of(None, hand, 1)
    if mirror_right and hand_of is not None and hand_of[0] == "right":
        out = [np.column_stack([size - p[:, 0], p[:, 1]]) for p in out]
    return out


def _fill_polygon(mask: np.ndarray, poly: np.ndarray) -> None:
    """Set the pixels of `mask` whose centres lie inside `poly` (even-odd rule; pixel-edge coordinates)."""
    height, width = mask.shape
    c0, c1 = max(math.floor(poly[:, 0].min() - 0.5), 0), min(math.ceil(poly[:, 0].max() - 0.5) + 1, width)
    r0, r1 = max(math.floor(poly[:, 1].min() - 0.5), 0), min(math.ceil(poly[:, 1].max() - 0.5) + 1, height)
    if c1 <= c0 or r1 <= r0:
        return
    x, y = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)
    inside = np.zeros(x.shape, bool)
    xi, yi = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xi, 1), np.roll(yi, 1)
    for k in range(len(poly)):
        crosses = (yi[k] > y) != (yj[k] > y)
        if crosses.any():  # yi != yj wherever the edge crosses a row of centres
            x_cross = xi[k] + (y - yi[k]) * (xj[k] - xi[k]) / np.where(crosses, yj[k] - yi[k], 1.0)
            inside ^= crosses & (x < x_cross)
    if inside.any():
        mask[r0:r1, c0:c1] |= inside
        return
    cx, cy = poly.mean(axis=0)  # thinner than a pixel: the pixel under its middle
    if 0 <= cx < width and 0 <= cy < height:
        mask[int(cy), int(cx)] = True


def _dilate(mask: np.ndarray, margin: float) -> np.ndarray:
    """Pixels whose centres lie within `margin` pixels of a mask pixel's centre."""
    if not (isinstance(margin, numbers.Real) and not isinstance(margin, bool) and math.isfinite(margin)
            and margin >= 0):
        raise ValueError(f"margin must be a finite number of crop pixels >= 0, got {margin!r}")
    r = int(math.floor(margin))
    if r == 0 or not mask.any():
        return mask
    import cv2  # deferred, as in scoring.crops

    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (dx**2 + dy**2 <= margin**2).astype(np.uint8)
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def rasterise_polygons(polygons: Polygons, size: int | tuple[int, int], *, margin: float = 0.0) -> np.ndarray:
    """Boolean mask of the pixels inside any polygon (module docstring), dilated by `margin` pixels.

    polygons: (n, 2) arrays of (x, y) in pixels of the mask (pixel edges); size: the mask's side,
    or its (height, width). Returns a bool (size, size) or (height, width) array; no polygon: all False.
    """
    height, width = (size, size) if np.ndim(size) == 0 else tuple(size)
    mask = np.zeros((_check_size(height), _check_size(width)), bool)
    for poly in _check_polygons(polygons):
        _fill_polygon(mask, poly)
    return _dilate(mask, margin)


def lesion_masks(polygons: Sequence[Polygons], boxes: BoxesLike, *, factor: Union[float, np.ndarray] = 2.5,
                 size: int = 224, hands: Union[str, Sequence[str], None] = None, margin: float = 0.0,
                 mirror_right: bool = True) -> np.ndarray:
    """(N, size, size) bool masks of each crop's lesion polygons, in the crops `crop_joints` cuts.

    polygons: N lists of (n, 2) arrays of (x, y) radiograph pixels, one list per crop (e.g. the
        ``polygons`` column of `phantom.lesion_geometry`); an empty list gives an empty mask.
    boxes: the N crops' boxes (a DataFrame with the box columns, optionally "hand", or (N, 4)).
    factor: the area enlargement (one, or one per crop); size: the crops' side; hands: as
        `crop_joints` takes them (None: the table's "hand" column, else no mirroring).
    margin: dilation in crop pixels. The mask is drawn in window orientation and then mirrored
    for right hands, as `crop_joints` mirrors the resized crop.
    """
    from ..scoring.crops import _hands_of, as_boxes, crop_windows

    size = _check_size(size)
    arr = as_boxes(boxes)
    if len(polygons) != len(arr):
        raise ValueError(f"one polygon list per box is needed: {len(polygons)} lists for {len(arr)} boxes")
    windows = crop_windows(arr, factor)
    hand_of = _hands_of(boxes, hands, len(arr))
    out = np.zeros((len(arr), size, size), bool)
    for i, (polys, window) in enumerate(zip(polygons, windows)):
        out[i] = rasterise_polygons(_window_polygons(_check_polygons(polys), window, size), size, margin=margin)
        if mirror_right and hand_of is not None and hand_of[i] == "right":
            out[i] = out[i][:, ::-1]
    return out
