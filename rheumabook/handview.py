"""One hand's view: where a hand image sits in its radiograph and in the localiser's input.

A bilateral radiograph is cut at its seam into two hand images (`seam.HandSplit`); a single-hand
film is one hand image. The localiser sees every hand in one orientation (the patient's left
hand as a PA film shows it: thumb on the image's left), cropped to a frame around the hand
(`localize.framing`) and resized, with its boxes normalised to that frame. Four numbers and a
frame tie these together, and a `HandView` maps boxes through them, both ways::

    radiograph px --(x - offset)--> hand px --(mirrored in `width`)--> view px --(frame -> 0..1)--> model

- `to_hand` / `to_radiograph`: the first two steps (the seam's halves; `to_radiograph` clips to the
  radiograph and keeps every box at least a pixel wide when given its shape);
- `to_model` / `to_image`: all of them (a localiser's training targets; its predictions back in the film).

Boxes are (N, 4) ``(x_min, y_min, x_max, y_max)`` in pixels (`boxes.as_box_array` reads arrays, tensors
and DataFrames); model boxes are the same in 0..1 of the frame. Used by `seam.split` (`HandSplit.view`),
`localize.hands` (training hands and `HandSet.radiograph_boxes`), `pipeline.model` and
`evaluate.landmarks`: the one place this geometry is written.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .boxes import as_box_array
from .joints import HANDS, mirror_boxes_x

__all__ = ["HandView", "to_frame", "from_frame", "clip_boxes"]


def to_frame(boxes: Any, frame: Any) -> np.ndarray:
    """Pixel boxes (..., 4) of the source image -> normalised (0..1) coordinates of `frame` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = np.asarray(frame, dtype=np.float64)
    return (np.asarray(boxes, dtype=np.float64) - [x0, y0, x0, y0]) / [x1 - x0, y1 - y0, x1 - x0, y1 - y0]


def from_frame(normalised: Any, frame: Any) -> np.ndarray:
    """Inverse of `to_frame`: normalised boxes (..., 4) of `frame` -> pixel boxes of the source image."""
    x0, y0, x1, y1 = np.asarray(frame, dtype=np.float64)
    return np.asarray(normalised, dtype=np.float64) * [x1 - x0, y1 - y0, x1 - x0, y1 - y0] + [x0, y0, x0, y0]


def clip_boxes(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 4) pixel boxes clipped to an image of `shape` (H, W), each kept at least one pixel wide and high."""
    px = np.array(boxes, dtype=np.float64)
    h, w = shape
    px[:, [0, 2]] = np.clip(px[:, [0, 2]], 0, w)
    px[:, [1, 3]] = np.clip(px[:, [1, 3]], 0, h)
    px[:, 2] = np.maximum(px[:, 2], np.minimum(px[:, 0] + 1, w))
    px[:, 0] = np.minimum(px[:, 0], px[:, 2] - 1)
    px[:, 3] = np.maximum(px[:, 3], np.minimum(px[:, 1] + 1, h))
    px[:, 1] = np.minimum(px[:, 1], px[:, 3] - 1)
    return px


@dataclass(frozen=True, eq=False)
class HandView:
    """How one hand image maps to its radiograph and to the localiser's input (see the module docstring).

    hand: the patient's hand ("left" or "right"). width, height: the hand image's size in pixels (before
    mirroring, which keeps it). offset: the radiograph column of the hand image's column 0 (0 for a
    single-hand film). mirrored: whether the view is the hand image mirrored left-right. frame: (x0, y0,
    x1, y1) in pixels of the (mirrored) view, the region the localiser sees; None = the whole view.
    """

    hand: str
    width: int
    height: int
    offset: int = 0
    mirrored: bool = False
    frame: Optional[tuple[float, float, float, float]] = None

    def __post_init__(self) -> None:
        if self.hand not in HANDS:
            raise ValueError(f"hand must be one of {HANDS}, got {self.hand!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"a hand image needs width and height >= 1, got {self.width} x {self.height}")
        if self.frame is not None:
            frame = tuple(float(v) for v in np.asarray(self.frame).reshape(-1))
            if len(frame) != 4 or not (frame[2] > frame[0] and frame[3] > frame[1]):
                raise ValueError(f"frame must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {self.frame}")
            object.__setattr__(self, "frame", frame)

    def with_frame(self, frame: Any) -> "HandView":
        """The same view, framed to `frame` (x0, y0, x1, y1) of the view (e.g. `localize.frame_hand`'s)."""
        return dataclasses.replace(self, frame=frame)

    @property
    def frame_box(self) -> tuple[float, float, float, float]:
        """The frame, or the whole view (0, 0, width, height) when none was set."""
        return self.frame if self.frame is not None else (0.0, 0.0, float(self.width), float(self.height))

    def to_hand(self, boxes: Any) -> np.ndarray:
        """Radiograph pixel boxes -> pixel boxes of the view (shifted by the offset, mirrored if `mirrored`)."""
        arr = as_box_array(boxes)
        arr[:, [0, 2]] -= self.offset
        return mirror_boxes_x(arr, self.width) if self.mirrored else arr

    def to_radiograph(self, boxes: Any, shape: Optional[tuple[int, int]] = None) -> np.ndarray:
        """Pixel boxes of the view -> radiograph pixels (the inverse of `to_hand`); clipped to `shape` (H, W)
        of the radiograph when given (`clip_boxes`)."""
        arr = as_box_array(boxes)
        if self.mirrored:
            arr = mirror_boxes_x(arr, self.width)
        arr[:, [0, 2]] += self.offset
        return arr if shape is None else clip_boxes(arr, shape)

    def to_model(self, boxes: Any) -> np.ndarray:
        """Radiograph pixel boxes -> the localiser's normalised boxes (0..1 of the frame), float64 (N, 4)."""
        return to_frame(self.to_hand(boxes), self.frame_box)

    def to_image(self, normalised: Any, shape: Optional[tuple[int, int]] = None) -> np.ndarray:
        """The localiser's normalised boxes (N, 4) -> radiograph pixels (the inverse of `to_model`), clipped to
        `shape` (H, W) when given."""
        return self.to_radiograph(from_frame(normalised, self.frame_box), shape)
