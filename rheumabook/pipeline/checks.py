"""What the pipeline refuses, and how it says so: bad files, blank or one-hand films, upside-down films.

Every refusal is an `InputError` (a ValueError) whose message names the image and the fix, or a
`ModelError` for a checkpoint that is missing or does not fit this code. The command line turns
them into one line on stderr per file and a non-zero exit status (`rheumabook.cli`).

How a radiograph is judged (`check_radiograph`, all on `localize.framing.work_image`: a copy shrunk to
`WORK_SIZE` px on its long side and blurred, on which the localiser's framing finds a hand too):

- **readable**: a path is read with `data.read_image` (PNG, JPEG, 8/16-bit TIFF, MetaImage, DICOM);
  an array must be 2-D uint8/uint16 (RGB is converted with a warning, as `seam.split_hands` does);
- **large enough**: at least `MIN_SIDE` pixels on the short side;
- **not blank**: the blurred image spans at least `MIN_CONTRAST` of its full scale (uint8: 255;
  uint16: its own maximum) between its 0.5th and 99.5th percentiles;
- **both hands** (``hands="both"``; one, when it names a hand): the framing's detector
  (`localize.framing.otsu_foreground`: the background's trend removed, Otsu's threshold, the class
  near the image's border, here `BORDER_INSET` in from the edge so that collimation bands and
  labels don't count, is the background, so an inverted display works too) finds the foreground; the
  foreground on each side of the seam is measured, and the smaller side must hold at least
  `MIN_HAND_RATIO` of the larger. A bilateral phantom film scores ~0.9, a single hand ~0.05:
  the seam of a one-hand film either runs beside the hand or through it, leaving a sliver;
- **upright** (fingers at the top): in each hand, the foreground of the top third of the rows
  comes in more separate runs (the fingers) than that of the bottom third (the wrist and
  forearm), and the forearm leaves the film at the bottom, not at the top. The two cues are
  added (`orientation_score`); below zero the film is refused as upside down. A film turned by
  90 degrees is not detected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..localize.framing import WORK_SIZE  # the checks and the framing look at the same work image

__all__ = ["InputError", "ModelError", "MIN_SIDE", "MIN_CONTRAST", "MIN_HAND_RATIO", "WORK_SIZE", "HAND_CHOICES",
           "source_name", "load_input", "check_image", "foreground", "hand_masses", "orientation_score",
           "check_radiograph"]

MIN_SIDE = 128
"""Shortest side (pixels) of a radiograph the pipeline accepts: a hand must span ~100 px for the localiser."""
MIN_CONTRAST = 0.04
"""Smallest 0.5-99.5 percentile spread of the blurred image, as a fraction of its full scale."""
MIN_HAND_RATIO = 0.3
"""Foreground on the lighter side of the seam, as a fraction of the heavier side, for two hands."""
HAND_CHOICES: tuple[str, ...] = ("both", "left", "right")
"""What a film holds: both hands (a bilateral PA film) or one patient hand."""

Source = Union[str, Path, np.ndarray]


class InputError(ValueError):
    """An input radiograph the pipeline cannot score; the message names the image and the fix."""


class ModelError(ValueError):
    """A checkpoint the pipeline cannot use (missing, damaged, or made for other code); says what to do."""


def source_name(source: Source, index: int = 0) -> str:
    """How messages and tables name an input: the path as given, or ``array[<index>]``."""
    return str(source) if isinstance(source, (str, Path)) else f"array[{index}]"


def load_input(source: Source, name: Optional[str] = None) -> np.ndarray:
    """The 2-D uint8/uint16 image of `source` (a path, or an array), or an `InputError` naming it."""
    from ..data.errors import DatasetError

    name = name or source_name(source)
    if isinstance(source, (str, Path)):
        from ..data.images import READABLE_SUFFIXES, read_image

        try:
            image = read_image(source)
        except DatasetError as exc:
            raise InputError(f"{exc}. Fix: give a radiograph file of one of the types "
                             f"{', '.join(READABLE_SUFFIXES)}") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot be read ({exc.strerror or exc}); check the path and its permissions") \
                from None
        return check_image(image, name)
    return check_image(source, name)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """`image` as a 2-D uint8/uint16 array (`seam.as_grayscale`), at least `MIN_SIDE` px a side, else `InputError`."""
    from ..seam import as_grayscale

    try:
        image = as_grayscale(np.asarray(image))
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
    if image.ndim != 2:
        raise InputError(f"{name}: expected a 2-D grayscale radiograph (H, W), got shape {image.shape}")
    if min(image.shape) < MIN_SIDE:
        raise InputError(f"{name}: the image is {image.shape[1]} x {image.shape[0]} pixels, too small to score: the "
                         f"short side needs at least {MIN_SIDE} px. Fix: give the film at its full resolution")
    return image


BORDER_INSET = 0.06
"""Where the background is read: this fraction of the image's size in from the edge (`foreground`)."""


def foreground(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(foreground mask at work resolution, contrast): `localize.framing.otsu_foreground`, the localiser's own
    detector, with the background read `BORDER_INSET` in from the edge.

    contrast: the 0.5-99.5 percentile spread of the blurred work image (0..1 of full scale).
    """
    from ..localize.framing import otsu_foreground, work_image

    small = work_image(image)
    lo, hi = np.percentile(small, [0.5, 99.5])
    return otsu_foreground(small, border_inset=BORDER_INSET), float(hi - lo)


def _seam_at_work(seam: np.ndarray, shape: tuple[int, int], work: tuple[int, int]) -> np.ndarray:
    """The seam's column per work-resolution row, in work-resolution pixels (float)."""
    rows = np.minimum((np.arange(work[0]) * shape[0] / work[0]).astype(int), shape[0] - 1)
    return np.asarray(seam, dtype=float)[rows] * work[1] / shape[1]


def hand_masses(mask: np.ndarray, seam: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """Foreground pixels (work resolution) on the image-left and image-right side of the seam."""
    cut = _seam_at_work(seam, shape, mask.shape)[:, None]
    cols = np.arange(mask.shape[1])[None, :]
    return int((mask & (cols < cut)).sum()), int((mask & (cols >= cut)).sum())


def _runs(mask: np.ndarray) -> np.ndarray:
    """Number of separate foreground runs in each row of `mask` (rows without foreground: 0)."""
    d = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    return (d == 1).sum(axis=1)


def orientation_score(mask: np.ndarray) -> float:
    """> 0 for fingers at the top, < 0 for fingers at the bottom (module docstring): mean runs per
    foreground row in the top third minus the bottom third, plus (touches bottom) - (touches top)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size < 3:
        return 0.0
    part = mask[rows[0]:rows[-1] + 1]
    third = max(1, len(part) // 3)
    runs = _runs(part)
    fingers = runs[:third].mean() - runs[-third:].mean()
    top = min(max(1, round(BORDER_INSET * mask.shape[0])), mask.shape[0] - 1)  # first row below the cleared band
    return float(fingers + int(mask[-1].any()) - int(mask[top].any()))


def check_radiograph(image: np.ndarray, name: str, hands: str, seam: np.ndarray, *,
                     check_orientation: bool = True) -> None:
    """Refuse a blank, one-hand (when `hands` is "both") or upside-down film with an `InputError`.

    image: 2-D uint8/uint16 (`check_image`). seam: (H,) the seam's column per row (`seam.HandSplit.seam`):
    two balanced sides of foreground make two hands, refused too when `hands` names one. See the
    module docstring for the rules.
    """
    if hands not in HAND_CHOICES:
        raise ValueError(f"hands must be one of {HAND_CHOICES}, got {hands!r}")
    mask, contrast = foreground(image)
    if contrast < MIN_CONTRAST or not mask.any():
        raise InputError(f"{name}: the image is blank (its gray levels span {contrast:.1%} of the full scale, less "
                         f"than {MIN_CONTRAST:.0%}): no hand to score. Fix: check the export of the film")
    left, right = hand_masses(mask, seam, image.shape)
    ratio = min(left, right) / max(left, right, 1)
    if hands == "both" and ratio < MIN_HAND_RATIO:
        side = "left" if left < right else "right"
        raise InputError(f"{name}: only one hand found (the image's {side} side holds {ratio:.0%} of the other "
                         f"side's foreground, less than {MIN_HAND_RATIO:.0%}). Fix: for a single-hand film say "
                         f"which hand it shows (--hands left or --hands right)")
    if hands != "both" and ratio >= MIN_HAND_RATIO:
        raise InputError(f"{name}: two hands found (foreground on both sides of the seam, {ratio:.0%}), but "
                         f"hands={hands!r} says the film shows one. Fix: score it with --hands both")
    if check_orientation:
        mask = large_components(_clear_frame(mask))
        halves = [mask] if hands != "both" else _halves(mask, seam, image.shape)
        score = sum(orientation_score(m) for m in halves)
        if score < 0:
            raise InputError(f"{name}: the film looks upside down (the fingers are at the bottom). Fix: rotate it by "
                             f"180 degrees (np.rot90(image, 2)) and score it again")


def _clear_frame(mask: np.ndarray, inset: float = BORDER_INSET) -> np.ndarray:
    """The mask with its top band and side bands (`inset` of the size) cleared; the bottom, where the
    forearm leaves the film, is kept. Collimation bands, labels and rulers live in that frame."""
    dy, dx = (max(1, round(inset * n)) for n in mask.shape)
    out = mask.copy()
    out[:dy] = False
    out[:, :dx] = False
    out[:, -dx:] = False
    return out


def large_components(mask: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """The mask's connected regions of at least `fraction` of the largest one's area: the hands.

    Drops what is not a hand but may be bright -- labels, side markers, rulers, a collimation
    band along an edge -- before the orientation is read from the shape.
    """
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= fraction * areas.max()) + 1
    return np.isin(labels, keep)


def _halves(mask: np.ndarray, seam: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """The mask on each side of the seam (the other side cleared)."""
    cut = _seam_at_work(seam, shape, mask.shape)[:, None]
    cols = np.arange(mask.shape[1])[None, :]
    return [mask & (cols < cut), mask & (cols >= cut)]
