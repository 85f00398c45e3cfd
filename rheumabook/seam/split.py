"""Cutting a bilateral radiograph into the patient's two hands along its minimum-energy seam (paper §3.2).

`split_hands` searches the seam inside a central band of columns (`band_columns`) and
cuts the radiograph into two halves (`HandSplit`), filling the other side of the seam
with background, never cropping.

Naming. "left"/"right" are the PATIENT's hands everywhere in the book. On a PA
radiograph the patient's right hand lies on the IMAGE's left. `HandSplit` therefore
has `.image_left` / `.image_right` (the raw halves, by image side) and
`.hand("left")` / `.hand("right")` (= `.left` / `.right`, by patient side, mirrored
when asked).

Boxes are (x_min, y_min, x_max, y_max) in pixel-edge coordinates of the image they
refer to (torchvision convention): a box covering pixel columns 3..5 has x_min=3, x_max=6.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..boxes import as_box_array
from ..handview import HandView
from ..joints import HANDS
from ..schema import BOX_COLUMNS
from .config import DEFAULT_BAND, MIN_SIDE, SeamConfig, band_fractions
from .dp import min_energy_seam
from .energy import as_grayscale, seam_energy

__all__ = ["Boxes", "band_columns", "HandSplit", "split_hands"]

Boxes = Union[np.ndarray, pd.DataFrame]
"""Boxes as an (N, 4) array or a DataFrame with the `schema.BOX_COLUMNS` (other columns kept)."""


def _check_size(image: np.ndarray) -> None:
    """Refuse images too small to split (used by `split_hands`)."""
    if min(image.shape) < MIN_SIDE:
        raise ValueError(
            f"image of shape {image.shape} is too small to split: need at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )


def _check_not_constant(image: np.ndarray) -> None:
    """Refuse a constant (blank) image (used by `split_hands`): it has no hands, and any seam would "split" it."""
    low, high = int(image.min()), int(image.max())
    if low == high:
        raise ValueError(f"image of shape {image.shape} is constant (every pixel is {low}): a blank film has no "
                         f"hands to split; check the file or its export")


def band_columns(width: int, band: tuple[float, float] = DEFAULT_BAND) -> tuple[int, int]:
    """Pixel columns [x0, x1) of a band given as fractions (lo, hi) of `width`; at least 3 columns wide.

    The band is clipped to [1, width - 1) so that both halves keep at least one column.
    """
    lo, hi = band_fractions(band)
    x0 = max(1, int(np.floor(lo * width)))
    x1 = min(width - 1, int(np.ceil(hi * width)))
    if x1 - x0 < 3:
        raise ValueError(f"band {band!r} leaves {max(0, x1 - x0)} columns of a {width}-pixel image; widen it")
    return x0, x1


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


def _box_rows(y_min: float, y_max: float, height: int) -> tuple[int, int]:
    """Radiograph rows [r0, r1) a box overlaps (pixel edges rounded outwards), clipped to the image."""
    return max(0, int(np.floor(y_min))), min(height, int(np.ceil(y_max)))


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

    def view(self, hand: str) -> HandView:
        """The `handview.HandView` of the patient's `hand`: its half's offset, width and mirroring (no frame)."""
        return HandView(_check_hand(hand), width=self.width(hand), height=self.shape[0], offset=self.offset(hand),
                        mirrored=self.mirrored(hand))

    def to_half(self, boxes: Boxes, hand: str) -> Boxes:
        """Radiograph boxes of the patient's `hand` -> boxes in that hand's image (`view(hand).to_hand`).

        boxes: (N, 4) array or a DataFrame with x_min, y_min, x_max, y_max (other columns kept).
        Returns the same kind (a float array, or a DataFrame copy).
        """
        return _like(boxes, self.view(hand).to_hand(boxes))

    def to_radiograph(self, boxes: Boxes, hand: str) -> Boxes:
        """Boxes in the image of the patient's `hand` -> radiograph boxes (the inverse of `to_half`)."""
        return _like(boxes, self.view(hand).to_radiograph(boxes))

    def hand_of(self, boxes: Boxes) -> np.ndarray:
        """For each radiograph box, the patient hand whose side of the seam holds it wholly, else None.

        A box lies on the image-left side (the patient's right hand) if x_max <= seam[y] in every
        row y it overlaps, on the image-right side (the patient's left hand) if x_min >= seam[y]
        in every such row; a box cut by the seam, or outside the image's rows, gets None.
        Returns an object array of "left" / "right" / None, one per box.
        """
        arr = as_box_array(boxes)
        out = np.empty(len(arr), dtype=object)
        for i, (x_min, y_min, x_max, y_max) in enumerate(arr):
            r0, r1 = _box_rows(y_min, y_max, self.shape[0])
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
        arr = as_box_array(boxes)
        if hands is None:
            if not isinstance(boxes, pd.DataFrame) or "hand" not in boxes.columns:
                raise ValueError("give `hands`, or boxes as a DataFrame with a 'hand' column")
            hands = boxes["hand"].tolist()
        hands = [_check_hand(h) for h in hands]
        if len(hands) != len(arr):
            raise ValueError(f"{len(hands)} hands given for {len(arr)} boxes")
        out = np.full(len(arr), np.nan)
        for i, ((x_min, y_min, x_max, y_max), hand) in enumerate(zip(arr, hands)):
            r0, r1 = _box_rows(y_min, y_max, self.shape[0])
            if r1 > r0:
                rows = self.seam[r0:r1]
                out[i] = (rows - x_max).min() if hand == "right" else (x_min - rows).min()
        return out

    def cuts(self, boxes: Boxes, hands: Optional[Sequence[str]] = None) -> np.ndarray:
        """Whether the seam cuts each box or leaves it on the wrong side: `clearance` < 0, bool (N,).

        A box outside the image's rows (clearance NaN) counts as not cut. hands: as in `clearance`.
        """
        return self.clearance(boxes, hands) < 0


def _fill_value(image: np.ndarray, seam: np.ndarray, fill: Optional[int]) -> int:
    """The background written beyond the seam: `fill`, or the median of `image` along the seam."""
    if fill is None:
        return int(np.median(image[np.arange(image.shape[0]), seam]))
    top = np.iinfo(image.dtype).max
    if not 0 <= int(fill) <= top:
        raise ValueError(f"fill={fill} does not fit the image's dtype {image.dtype} (0..{top})")
    return fill


def split_hands(image: np.ndarray, *, config: SeamConfig = SeamConfig(), mirror_right: bool = False,
                keep_energy: bool = False) -> HandSplit:
    """Split a bilateral PA hand radiograph into the patient's two hands (paper §3.2).

    image: 2-D uint8/uint16 (y, x), at least `MIN_SIDE` pixels each way, not constant (a blank
        image is refused with a ValueError); RGB/RGBA converted with a warning; floats, booleans
        and other dtypes refused.
    config: how the seam is found and the halves filled (`SeamConfig`: the band, the energy's
        opening, CLAHE, blurs and working width, the fill value); the default is the book's method.
    mirror_right: mirror the patient's right hand (the image's left half) so that it looks
        like a left hand: one localiser then serves both hands. It changes no pixel's side.
    keep_energy: keep the band's energy map in the result (chapter 3 draws it).
    Returns a `HandSplit`. The halves are never cropped through a hand: each keeps every
    pixel on its side of the seam, at the radiograph's full height.
    """
    image = as_grayscale(image)
    _check_size(image)
    _check_not_constant(image)
    height, width = image.shape
    x0, x1 = band_columns(width, config.band)
    energy = seam_energy(image, columns=(x0, x1), config=config)
    seam = min_energy_seam(energy) + x0
    fill = _fill_value(image, seam, config.fill)
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
