"""`SeamConfig`: how the seam's energy is made and what fills the halves (paper §3.2), in one frozen value.

Every setting of `split_hands` that shapes the seam or the pixels of the halves lives
here, validated once when the config is made, so a caller (the localiser's hand
preparation, a chapter's ablation, a cache key) passes one object instead of threading
keywords through ``**options``. The defaults are the book's method; a variant is
``SeamConfig(opening=0)`` or ``config.replace(band=(0.0, 1.0))``.

Used by `rheumabook.seam.energy`, `rheumabook.seam.split` and chapters 3 and 4.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = ["MIN_SIDE", "DEFAULT_BAND", "WORK_WIDTH", "SeamConfig", "band_fractions"]

MIN_SIDE = 32
"""Smallest height and width (pixels) `split_hands` accepts: below it there is no room for a band and a seam."""

DEFAULT_BAND = (0.3, 0.7)
"""Default central band (fractions of the width) that the seam may use."""

WORK_WIDTH = 1024
"""Default width (pixels) at which `seam_energy` computes the energy of wider radiographs."""


def band_fractions(band: Any) -> tuple[float, float]:
    """`band` as two floats (lo, hi) with 0 <= lo < hi <= 1 (fractions of the width), or a ValueError."""
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"band must be two fractions (lo, hi) of the width, got {band!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"band must satisfy 0 <= lo < hi <= 1 (fractions of the width), got {band!r}")
    return lo, hi


def _is_int(value: Any) -> bool:
    """A whole number that is not a bool (bools are ints in Python, never a pixel count here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_kernel(name: str, value: Optional[int]) -> Optional[int]:
    """A kernel width in radiograph pixels: None (auto), 0 or 1 (off), or a positive int."""
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be None (auto), 0 (off) or a width >= 1 in pixels, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class SeamConfig:
    """How `split_hands` finds the seam and fills the halves. Defaults: the book's method (chapter 3).

    band: fractions (lo, hi) of the width, 0 <= lo < hi <= 1; the seam is searched only in
        these columns. Outside a central band the outer background strips beside each hand
        are also zero-energy paths, and the seam could run there instead of between the hands.
    opening: side in RADIOGRAPH pixels of the opening's square element; None = about 1/128 of
        the width (`default_opening`), 0 = no opening.
    clahe: apply CLAHE after the opening; clip_limit (> 0) and tiles (>= 1, a tiles x tiles
        grid) are its OpenCV parameters.
    presmooth, smooth: widths in radiograph pixels of the blur before the Sobel gradient and of
        the blur of its magnitude; None = about 1/50 and 1/32 of the width, 0 = off.
    work_width: radiographs wider than this (pixels, >= `MIN_SIDE`) get their energy computed on
        a copy shrunk to this width; None = always at full resolution.
    fill: the value written beyond the seam in each half (must fit the image's dtype, checked
        when splitting); None = the median of the radiograph along the seam (the background).
    """

    band: tuple[float, float] = DEFAULT_BAND
    opening: Optional[int] = None
    clahe: bool = True
    clip_limit: float = 2.0
    tiles: int = 8
    presmooth: Optional[int] = None
    smooth: Optional[int] = None
    work_width: Optional[int] = WORK_WIDTH
    fill: Optional[int] = None

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalise the fields once, here
        set_field(self, "band", band_fractions(self.band))
        for name in ("opening", "presmooth", "smooth"):
            set_field(self, name, _check_kernel(name, getattr(self, name)))
        if not isinstance(self.clahe, (bool, np.bool_)):
            raise ValueError(f"clahe must be True or False, got {self.clahe!r}")
        set_field(self, "clahe", bool(self.clahe))
        if not isinstance(self.clip_limit, numbers.Real) or not self.clip_limit > 0:
            raise ValueError(f"clip_limit (CLAHE) must be a number > 0, got {self.clip_limit!r}")
        if not _is_int(self.tiles) or self.tiles < 1:
            raise ValueError(f"tiles (CLAHE grid) must be an int >= 1, got {self.tiles!r}")
        set_field(self, "tiles", int(self.tiles))
        if self.work_width is not None:
            if not _is_int(self.work_width) or self.work_width < MIN_SIDE:
                raise ValueError(f"work_width must be None (full resolution) or an int >= {MIN_SIDE} pixels, "
                                 f"got {self.work_width!r}")
            set_field(self, "work_width", int(self.work_width))
        if self.fill is not None:
            if not _is_int(self.fill) or self.fill < 0:
                raise ValueError(f"fill must be None (the background along the seam) or an int >= 0, "
                                 f"got {self.fill!r}")
            set_field(self, "fill", int(self.fill))

    def replace(self, **changes: Any) -> "SeamConfig":
        """A copy with some fields changed (validated again), e.g. chapter 3's variants."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """A JSON-ready dict (the band as a list): what a cache key of split hands hashes."""
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        return d
