"""Splitting a bilateral hand radiograph into its two hands along a minimum-energy seam (paper §3.2).

RheumaVIT splits every radiograph into a left-hand and a right-hand image along
"a linked sequence of pixels across the entire image with the smallest
gradient" -- the minimum-energy seam of seam carving (Avidan & Shamir 2007,
paper ref. [3]) -- after a morphological opening (against background noise) and
CLAHE (to raise the gradient at the hand/background boundary). This module
implements that pipeline:

1. `as_grayscale`       checks the input (2-D uint8/uint16; RGB/RGBA converted with a warning).
2. `open_and_equalize`  morphological opening (square element) + CLAHE (OpenCV), same dtype out.
3. `gradient_energy`    energy = L2 magnitude of the 3x3 Sobel gradient of the preprocessed
                        image (scaled to 0..1 by the dtype's maximum) after a blur (so the
                        gradient is measured at the scale of the hand's edge, not of the
                        pixel noise), itself blurred (so the seam runs down the *middle* of a
                        background gap instead of hugging one hand's edge).
   `seam_energy`        steps 2-3 together, for radiographs wider than 1024 px on a shrunk
                        copy whose energy is resized back (the energy is smooth anyway).
4. `cumulative_energy`  the dynamic-programming table M[y, x] = E[y, x] + min(M[y-1, x-1:x+2]).
5. `min_energy_seam`    the top-to-bottom 8-connected path of least total energy.
6. `split_hands`        searches the seam inside a central band of columns and cuts
                        the radiograph into two halves (`HandSplit`), filling the
                        other side of the seam with background, never cropping.

Naming. "left"/"right" are the PATIENT's hands everywhere in the book. On a PA
radiograph the patient's right hand lies on the IMAGE's left. `HandSplit` therefore
has `.image_left` / `.image_right` (the raw halves, by image side) and
`.hand("left")` / `.hand("right")` (= `.left` / `.right`, by patient side, mirrored
when asked).

Boxes are (x_min, y_min, x_max, y_max) in pixel-edge coordinates of the image they
refer to (torchvision convention): a box covering pixel columns 3..5 has x_min=3, x_max=6.

Used by chapter 3 (book/03_seam.ipynb) and by the localiser of chapter 4.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import pandas as pd

from .joints import HANDS, mirror_boxes_x

MIN_SIDE = 32
"""Smallest height and width (pixels) `split_hands` accepts: below it there is no room for a band and a seam."""

DEFAULT_BAND = (0.3, 0.7)
"""Default central band (fractions of the width) that the seam may use."""

BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")

Boxes = Union[np.ndarray, pd.DataFrame]


# ----------------------------------------------------------------------------- input checks


def as_grayscale(image: np.ndarray) -> np.ndarray:
    """The 2-D uint8/uint16 (y, x) array `image` stands for, or a ValueError saying what is wrong.

    RGB (H, W, 3) and RGBA (H, W, 4) inputs are converted to grayscale (ITU-R BT.601
    luma, OpenCV) with a warning; (H, W, 1) is squeezed. Floats and booleans are
    refused: their intensity scale is unknown, so the caller must convert explicitly.
    """
    image = np.asarray(image)
    if image.dtype == bool or np.issubdtype(image.dtype, np.floating) or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"image dtype {image.dtype} is not supported: expected uint8 or uint16 grayscale. Convert first, "
            "e.g. (img * 255).round().astype(np.uint8) for floats in 0..1, img.astype(np.uint16) for integers "
            "in 0..65535."
        )
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); expected a 2-D grayscale radiograph")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        warnings.warn(
            f"image has shape {image.shape} (RGB{'A' if image.shape[2] == 4 else ''}); converting it to grayscale "
            "(BT.601 luma). Pass a 2-D array to silence this warning.",
            stacklevel=3,
        )
        image = cv2.cvtColor(np.ascontiguousarray(image), code)
    if image.ndim != 2:
        raise ValueError(
            f"image must be 2-D (y, x) grayscale, or (y, x, 3|4) RGB(A) to convert; got shape {image.shape}"
        )
    return np.ascontiguousarray(image)


def _check_size(image: np.ndarray) -> None:
    """Refuse images too small to split (used by `split_hands`)."""
    if min(image.shape) < MIN_SIDE:
        raise ValueError(
            f"image of shape {image.shape} is too small to split: need at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )


# ----------------------------------------------------------------------------- preprocessing (paper §3.2)


def _odd(value: float) -> int:
    """`value` rounded half up, then up to odd, at least 3 (kernel widths; used by the `default_*` sizes)."""
    k = max(3, int(np.floor(value + 0.5)))
    return k if k % 2 else k + 1


def default_opening(width: int) -> int:
    """Auto side (pixels, odd) of the opening's square element: about 1/128 of the width (17 px at 2048)."""
    return _odd(width / 128)


def default_presmooth(width: int) -> int:
    """Auto width (pixels, odd) of the blur before the gradient: about 1/50 of the width (41 px at 2048)."""
    return _odd(width / 50)


def default_smooth(width: int) -> int:
    """Auto width (pixels, odd) of the blur of the gradient magnitude: about 1/32 of the width (65 px at 2048)."""
    return _odd(width / 32)


def _kernel_width(value: Optional[int], auto: int, name: str) -> int:
    """A blur/element width: None -> `auto`, 0 or 1 -> 1 (off), else an odd int; used by the functions below."""
    if value is None:
        return auto
    if value < 0:
        raise ValueError(f"{name} must be >= 0 pixels (0 = off, None = auto), got {value}")
    value = int(value)
    return max(1, value if value % 2 else value + 1)


def open_and_equalize(
    image: np.ndarray,
    *,
    opening: Optional[int] = None,
    clahe: bool = True,
    clip_limit: float = 2.0,
    tiles: int = 8,
) -> np.ndarray:
    """Morphological opening, then CLAHE: the preprocessing of paper §3.2.

    image: 2-D uint8 or uint16 (y, x) (RGB/RGBA converted with a warning).
    opening: side in pixels of the square structuring element; None = `default_opening`
        (about 1/128 of the width), 0 = no opening. Opening (erosion then dilation) removes
        bright specks smaller than the element -- background noise -- and keeps the hands,
        which are far wider. A square element is separable, so this costs a few ms even
        at 2048 px (a disk of the same size gives nearly the same opening at ~15x the cost).
    clahe: apply contrast-limited adaptive histogram equalisation (OpenCV) with
        `clip_limit` and a `tiles` x `tiles` grid; it steepens the faint soft-tissue edge of
        the hand against the background -- and, without the opening, the background noise too.
    Returns an array of the input's shape and dtype (uint8 in -> uint8 out, uint16 -> uint16).
    """
    image = as_grayscale(image)
    opening = _kernel_width(opening, default_opening(image.shape[1]), "opening")
    out = image
    if opening > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (opening, opening))
        out = cv2.morphologyEx(out, cv2.MORPH_OPEN, kernel)
    if clahe:
        if clip_limit <= 0 or tiles < 1:
            raise ValueError(f"CLAHE needs clip_limit > 0 and tiles >= 1, got clip_limit={clip_limit}, tiles={tiles}")
        out = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles))).apply(out)
    return out


def gradient_energy(
    image: np.ndarray,
    *,
    presmooth: Optional[int] = None,
    smooth: Optional[int] = None,
    columns: Optional[tuple[int, int]] = None,
) -> np.ndarray:
    """Seam energy of a (preprocessed) image: the blurred magnitude of a smoothed Sobel gradient, float32 (y, x).

    E = blur_s(sqrt(Gx^2 + Gy^2)), with Gx, Gy the 3x3 Sobel derivatives of blur_p(image / dtype max).
    - `presmooth` (blur_p, kernel width in pixels, None = `default_presmooth`, 0 = off): the
      gradient is taken at the scale of the soft-tissue edge, not of the pixel noise. Pixel
      noise has large 3x3 gradients everywhere; after this blur they are small, while the
      hand's edge, a few millimetres wide, keeps most of its gradient.
    - `smooth` (blur_s, None = `default_smooth`, 0 = off): spreads each edge's energy sideways,
      so inside a background gap the energy is lowest farthest from both hands and the seam
      keeps its distance from them instead of hugging one hand's outline.
    Both blurs are OpenCV stack blurs (fast Gaussian approximations, cost independent of the
    width). Dividing by the dtype's maximum puts uint8 and uint16 energies on the same scale.
    columns: (x0, x1) to compute only those columns (the seam's band); the filters still
        see a margin around them, so the result equals the full map's columns x0:x1.
    """
    image = as_grayscale(image)
    height, width = image.shape
    presmooth = _kernel_width(presmooth, default_presmooth(width), "presmooth")
    smooth = _kernel_width(smooth, default_smooth(width), "smooth")
    x0, x1 = (0, width) if columns is None else (int(columns[0]), int(columns[1]))
    if not 0 <= x0 < x1 <= width:
        raise ValueError(f"columns must satisfy 0 <= x0 < x1 <= width={width}, got {columns}")
    margin = presmooth // 2 + smooth // 2 + 2  # what the two blurs and the Sobel read beyond x0:x1
    lo, hi = max(0, x0 - margin), min(width, x1 + margin)
    crop = image[:, lo:hi].astype(np.float32) * np.float32(1.0 / np.iinfo(image.dtype).max)
    with _opencv_single_thread():
        if presmooth > 1:
            crop = cv2.stackBlur(crop, (presmooth, presmooth))
        gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3)
        energy = np.sqrt(gx * gx + gy * gy)
        if smooth > 1:
            energy = cv2.stackBlur(energy, (smooth, smooth))
    return np.ascontiguousarray(energy[:, x0 - lo : x1 - lo])



@contextmanager
def _opencv_single_thread():
    """Run OpenCV filters on one thread, then restore its thread count.

    The seam must be bit-reproducible (reviewers re-run chapters 3 and 4), and a seam
    computed under heavy CPU load once differed from the same call on a quiet machine;
    one thread rules out any dependence on how OpenCV splits the work. The split still
    takes well under 0.2 s at 2048 px on one core (benchmarks/bench_seam.py).
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)

WORK_WIDTH = 1024
"""Default width (pixels) at which `seam_energy` computes the energy of wider radiographs."""


def _scaled_width(k: int, scale: float) -> int:
    """A kernel width `k` (radiograph pixels) at `scale`: 1 stays 1 (off), others odd and >= 3 (`seam_energy`)."""
    if k <= 1 or scale == 1.0:
        return k
    return _odd(k * scale)


def seam_energy(
    image: np.ndarray,
    *,
    columns: Optional[tuple[int, int]] = None,
    opening: Optional[int] = None,
    clahe: bool = True,
    clip_limit: float = 2.0,
    tiles: int = 8,
    presmooth: Optional[int] = None,
    smooth: Optional[int] = None,
    work_width: Optional[int] = WORK_WIDTH,
) -> np.ndarray:
    """The energy the seam minimises: `open_and_equalize` then `gradient_energy`, float32 (H, x1 - x0).

    image: 2-D uint8/uint16 radiograph (y, x). columns: (x0, x1), the band to return (default all).
    opening, presmooth, smooth: kernel widths in pixels OF THE RADIOGRAPH (None = the
        `default_*` sizes for its width, 0 = off); clahe, clip_limit, tiles: see `open_and_equalize`.
    work_width: a radiograph wider than this is first shrunk to this width (area averaging), its
        energy computed there with the kernels scaled alike, and the energy map resized back
        (bilinear) to the radiograph's pixels. The energy is blurred over ~W/32 pixels anyway,
        so nothing the seam needs is lost, and a 2048-px split costs a quarter of the
        filtering. None = always at full resolution.
    The seam itself is always searched at full resolution, one x per radiograph row.
    """
    image = as_grayscale(image)
    height, width = image.shape
    x0, x1 = (0, width) if columns is None else (int(columns[0]), int(columns[1]))
    if not 0 <= x0 < x1 <= width:
        raise ValueError(f"columns must satisfy 0 <= x0 < x1 <= width={width}, got {columns}")
    opening = _kernel_width(opening, default_opening(width), "opening")
    presmooth = _kernel_width(presmooth, default_presmooth(width), "presmooth")
    smooth = _kernel_width(smooth, default_smooth(width), "smooth")
    if work_width is not None and work_width < MIN_SIDE:
        raise ValueError(f"work_width must be at least {MIN_SIDE} pixels (or None = full resolution), got {work_width}")
    scale = 1.0 if work_width is None or width <= work_width else work_width / width
    if scale == 1.0:
        pre = open_and_equalize(image, opening=opening, clahe=clahe, clip_limit=clip_limit, tiles=tiles)
        return gradient_energy(pre, presmooth=presmooth, smooth=smooth, columns=(x0, x1))
    small = cv2.resize(image, (int(round(width * scale)), max(1, int(round(height * scale)))),
                       interpolation=cv2.INTER_AREA)
    pre = open_and_equalize(small, opening=_scaled_width(opening, scale), clahe=clahe, clip_limit=clip_limit,
                            tiles=tiles)
    sx, sy = small.shape[1] / width, small.shape[0] / height  # exact factors after rounding the size
    a = max(0, int(np.floor(x0 * sx)) - 2)  # the small image's columns that cover the band, with a margin
    b = min(small.shape[1], int(np.ceil(x1 * sx)) + 2)
    strip = gradient_energy(pre, presmooth=_scaled_width(presmooth, scale), smooth=_scaled_width(smooth, scale),
                            columns=(a, b))
    # Back to radiograph pixels (bilinear, pixel centres aligned as in cv2.resize): the band's
    # pixel (x, y) reads the strip at ((x0 + x + 0.5) * sx - 0.5 - a, (y + 0.5) * sy - 0.5).
    to_strip = np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5 - a], [0.0, sy, 0.5 * sy - 0.5]])
    return cv2.warpAffine(strip, to_strip, (x1 - x0, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------- the seam (dynamic programming)


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


# ----------------------------------------------------------------------------- splitting the radiograph


def band_columns(width: int, band: tuple[float, float] = DEFAULT_BAND) -> tuple[int, int]:
    """Pixel columns [x0, x1) of a band given as fractions (lo, hi) of `width`; at least 3 columns wide.

    The band is clipped to [1, width - 1) so that both halves keep at least one column.
    """
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be two fractions (lo, hi) of the width, got {band!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"band must satisfy 0 <= lo < hi <= 1 (fractions of the width), got {band!r}")
    x0 = max(1, int(np.floor(lo * width)))
    x1 = min(width - 1, int(np.ceil(hi * width)))
    if x1 - x0 < 3:
        raise ValueError(f"band {band!r} leaves {max(0, x1 - x0)} columns of a {width}-pixel image; widen it")
    return x0, x1


def _box_array(boxes: Boxes) -> np.ndarray:
    """(N, 4) float copy of boxes given as an array or a DataFrame with x_min..y_max (chapter 3, chapter 4)."""
    if isinstance(boxes, pd.DataFrame):
        missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
        if missing:
            raise ValueError(f"boxes DataFrame lacks columns {missing}; expected {list(BOX_COLUMNS)}")
        # np.array(..., copy=True): pandas (copy-on-write) may hand out a read-only view
        return np.array(boxes.loc[:, list(BOX_COLUMNS)].to_numpy(dtype=float), copy=True)
    arr = np.asarray(boxes, dtype=float)
    if arr.ndim == 1 and arr.shape == (4,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (x_min, y_min, x_max, y_max), got {arr.shape}")
    return arr.copy()


def _like(boxes: Boxes, arr: np.ndarray) -> Boxes:
    """`arr` in the form `boxes` came in: a DataFrame copy with new coordinates, or the array."""
    if isinstance(boxes, pd.DataFrame):
        out = boxes.copy()
        out[list(BOX_COLUMNS)] = arr
        return out
    return arr


def _check_hand(hand: str) -> str:
    """The patient hand name, or a ValueError (used by `HandSplit`)."""
    if hand not in HANDS:
        raise ValueError(f"hand must be one of {HANDS} (the PATIENT's hand), got {hand!r}")
    return hand


@dataclass(frozen=True, eq=False)  # eq=False: fields are arrays, compare them explicitly
class HandSplit:
    """A bilateral radiograph cut along a seam into its two hands.

    seam: int64 (H,), column of the seam in each row of the radiograph. Pixel (y, x) belongs
        to the image-left side if x < seam[y], to the image-right side if x >= seam[y].
    image_left: (H, max(seam)) radiograph columns 0..max(seam)-1, every pixel with x >= seam[y]
        replaced by `fill`: the PATIENT's RIGHT hand, as it appears on the radiograph.
    image_right: (H, W - min(seam)) columns min(seam)..W-1, pixels with x < seam[y] filled:
        the PATIENT's LEFT hand.
    mirror_right: whether `hand("right")` is mirrored left-right into the orientation of a left hand.
    fill: the background value written beyond the seam (input dtype).
    band: the columns [x0, x1) the seam was searched in.
    shape: (H, W) of the radiograph.

    Coordinates: a box in a half is the radiograph box shifted by `offset(hand)` in x (no
    shift in y), then mirrored inside the half's width if `mirrored(hand)`. `to_half` and
    `to_radiograph` do and undo exactly that.
    """

    seam: np.ndarray
    image_left: np.ndarray
    image_right: np.ndarray
    mirror_right: bool
    fill: int
    band: tuple[int, int]
    shape: tuple[int, int]
    energy: Optional[np.ndarray] = field(default=None, repr=False)  # the band's energy map, for chapter 3

    def hand(self, hand: str) -> np.ndarray:
        """Image of the PATIENT's `hand` ("left" or "right"); the right one mirrored if `mirror_right`.

        The mirrored image is a view with a negative stride (np.ascontiguousarray it for torch).
        """
        if _check_hand(hand) == "left":
            return self.image_right
        return self.image_left[:, ::-1] if self.mirror_right else self.image_left

    @property
    def left(self) -> np.ndarray:
        """The PATIENT's left hand (the image's right half). Same as `hand("left")`."""
        return self.hand("left")

    @property
    def right(self) -> np.ndarray:
        """The PATIENT's right hand (the image's left half, mirrored if `mirror_right`). Same as `hand("right")`."""
        return self.hand("right")

    def offset(self, hand: str) -> int:
        """Radiograph column of column 0 of `hand`'s half before any mirroring (the y offset is always 0)."""
        return 0 if _check_hand(hand) == "right" else int(self.seam.min())

    @property
    def offsets(self) -> dict[str, tuple[int, int]]:
        """(x, y) offset of each patient hand's half in the radiograph, before mirroring."""
        return {h: (self.offset(h), 0) for h in HANDS}

    def mirrored(self, hand: str) -> bool:
        """Whether `hand`'s image is mirrored left-right relative to the radiograph."""
        return _check_hand(hand) == "right" and self.mirror_right

    def width(self, hand: str) -> int:
        """Width in pixels of `hand`'s half."""
        return int(self.hand(hand).shape[1])

    def to_half(self, boxes: Boxes, hand: str) -> Boxes:
        """Radiograph boxes of the patient's `hand` -> boxes in that hand's image.

        boxes: (N, 4) array or a DataFrame with x_min, y_min, x_max, y_max (other columns kept).
        Returns the same kind (a float array, or a DataFrame copy).
        """
        arr = _box_array(boxes)
        arr[:, [0, 2]] -= self.offset(hand)
        if self.mirrored(hand):
            arr = mirror_boxes_x(arr, self.width(hand))
        return _like(boxes, arr)

    def to_radiograph(self, boxes: Boxes, hand: str) -> Boxes:
        """Boxes in the image of the patient's `hand` -> radiograph boxes (the inverse of `to_half`)."""
        arr = _box_array(boxes)
        if self.mirrored(hand):
            arr = mirror_boxes_x(arr, self.width(hand))
        arr[:, [0, 2]] += self.offset(hand)
        return _like(boxes, arr)

    def hand_of(self, boxes: Boxes) -> np.ndarray:
        """For each radiograph box, the patient hand whose side of the seam holds it wholly, else None.

        A box lies on the image-left side (the patient's right hand) if x_max <= seam[y] in every
        row y it overlaps, on the image-right side (the patient's left hand) if x_min >= seam[y]
        in every such row; a box cut by the seam, or outside the image's rows, gets None.
        Returns an object array of "left" / "right" / None, one per box.
        """
        arr = _box_array(boxes)
        height = self.shape[0]
        out = np.empty(len(arr), dtype=object)
        for i, (x_min, y_min, x_max, y_max) in enumerate(arr):
            r0, r1 = max(0, int(np.floor(y_min))), min(height, int(np.ceil(y_max)))
            if r1 <= r0:
                out[i] = None
                continue
            rows = self.seam[r0:r1]
            if x_max <= rows.min():
                out[i] = "right"
            elif x_min >= rows.max():
                out[i] = "left"
            else:
                out[i] = None
        return out

    def clearance(self, boxes: Boxes, hands: Optional[Sequence[str]] = None) -> np.ndarray:
        """Signed gap in pixels between each radiograph box and the seam, on the side of the box's hand.

        hands: the patient hand of each box; None = the `hand` column of a boxes DataFrame.
        For a patient's right-hand box (image left): min over its rows of seam[y] - x_max; for a
        left-hand box: min of x_min - seam[y]. >= 0: the box lies wholly on its own side, with
        that many pixels to spare; < 0: the seam cuts the box or passes on the wrong side of it.
        NaN for a box outside the image's rows. float64 (N,).
        """
        arr = _box_array(boxes)
        if hands is None:
            if not isinstance(boxes, pd.DataFrame) or "hand" not in boxes.columns:
                raise ValueError("give `hands`, or boxes as a DataFrame with a 'hand' column")
            hands = boxes["hand"].tolist()
        hands = [_check_hand(h) for h in hands]
        if len(hands) != len(arr):
            raise ValueError(f"{len(hands)} hands given for {len(arr)} boxes")
        out = np.full(len(arr), np.nan)
        for i, ((x_min, y_min, x_max, y_max), hand) in enumerate(zip(arr, hands)):
            r0, r1 = max(0, int(np.floor(y_min))), min(self.shape[0], int(np.ceil(y_max)))
            if r1 > r0:
                rows = self.seam[r0:r1]
                out[i] = (rows - x_max).min() if hand == "right" else (x_min - rows).min()
        return out


def split_hands(
    image: np.ndarray,
    *,
    mirror_right: bool = False,
    band: tuple[float, float] = DEFAULT_BAND,
    opening: Optional[int] = None,
    clahe: bool = True,
    clip_limit: float = 2.0,
    tiles: int = 8,
    presmooth: Optional[int] = None,
    smooth: Optional[int] = None,
    work_width: Optional[int] = WORK_WIDTH,
    fill: Optional[int] = None,
    keep_energy: bool = False,
) -> HandSplit:
    """Split a bilateral PA hand radiograph into the patient's two hands (paper §3.2).

    image: 2-D uint8/uint16 (y, x), at least `MIN_SIDE` pixels each way; RGB/RGBA converted
        with a warning; floats, booleans and other dtypes refused.
    mirror_right: mirror the patient's right hand (the image's left half) so that it looks
        like a left hand: one localiser then serves both hands.
    band: fractions (lo, hi) of the width; the seam is searched only in these columns.
        Outside a central band the outer background strips beside each hand are also
        zero-energy paths, and the seam could run there instead of between the hands.
    opening, clahe, clip_limit, tiles, presmooth, smooth, work_width: how the energy is made,
        see `seam_energy` (opening + CLAHE, then the blurred Sobel magnitude of `gradient_energy`).
    fill: value written beyond the seam in each half; None = the median of the radiograph
        along the seam (the seam runs through background, so that is the background level).
    keep_energy: keep the band's energy map in the result (chapter 3 draws it).
    Returns a `HandSplit`. The halves are never cropped through a hand: each keeps every
    pixel on its side of the seam, at the radiograph's full height.
    """
    image = as_grayscale(image)
    _check_size(image)
    height, width = image.shape
    x0, x1 = band_columns(width, band)
    energy = seam_energy(image, columns=(x0, x1), opening=opening, clahe=clahe, clip_limit=clip_limit, tiles=tiles,
                         presmooth=presmooth, smooth=smooth, work_width=work_width)
    seam = min_energy_seam(energy) + x0
    if fill is None:
        fill = int(np.median(image[np.arange(height), seam]))
    elif not 0 <= int(fill) <= np.iinfo(image.dtype).max:
        raise ValueError(f"fill={fill} does not fit the image's dtype {image.dtype} (0..{np.iinfo(image.dtype).max})")
    cols_left = np.arange(int(seam.max()))
    image_left = image[:, : cols_left.size].copy()
    image_left[cols_left[None, :] >= seam[:, None]] = fill
    start = int(seam.min())
    cols_right = np.arange(start, width)
    image_right = image[:, start:].copy()
    image_right[cols_right[None, :] < seam[:, None]] = fill
    return HandSplit(
        seam=seam,
        image_left=image_left,
        image_right=image_right,
        mirror_right=bool(mirror_right),
        fill=fill,
        band=(x0, x1),
        shape=(height, width),
        energy=energy if keep_energy else None,
    )
