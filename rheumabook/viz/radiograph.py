"""Radiographs and their joint boxes on matplotlib axes (chapters 1, 3 and 4).

Images are 2-D uint8/uint16 arrays (y, x) shown in gray with a percentile window; boxes are
(x_min, y_min, x_max, y_max) in pixels of the image shown (a DataFrame with those columns,
optionally hand/joint, or an (N, 4) array). Hands are the patient's: on a PA radiograph the
patient's right hand lies on the image's left half.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..boxes import as_box_array

__all__ = ["HAND_COLORS", "display_range", "draw_boxes", "show_radiograph", "zoom_joint"]

HAND_COLORS: dict[str, str] = {"right": "#ff7f0e", "left": "#17becf"}
"""Box colour per (patient's) hand, used by every chapter."""


def display_range(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(vmin, vmax) gray window: percentiles of the image (uint16 phantoms use a fraction of 0..65535)."""
    values = np.asarray(image)
    if values.size > 1_000_000:  # a strided sample is plenty for percentiles and much faster
        step = int(np.ceil(np.sqrt(values.size / 1_000_000)))
        values = values[::step, ::step]
    vmin, vmax = np.percentile(values, [low, high])
    return float(vmin), float(max(vmax, vmin + 1))


def draw_boxes(ax, image: Optional[np.ndarray], boxes: Any, *, labels: bool | Sequence[str] = True,
               color: Optional[str] = None, linewidth: float = 1.0, fontsize: float = 6,
               linestyle: str = "-", window: Optional[tuple[float, float]] = None) -> None:
    """Draw boxes (and, if `image` is given, the image under them) on `ax`.

    `boxes`: DataFrame with x_min, y_min, x_max, y_max (+ optional hand, joint) or an (N, 4) array.
    Colour: `color`, else by hand (`HAND_COLORS`), else white. `labels=True` writes the joint
    name above each box (when `boxes` has a joint column); a list gives the labels explicitly.
    """
    from matplotlib.patches import Rectangle

    if image is not None:
        vmin, vmax = window or display_range(image)
        ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="antialiased")
    arr = as_box_array(boxes)
    is_frame = isinstance(boxes, pd.DataFrame)
    hands = boxes["hand"].tolist() if is_frame and "hand" in boxes else [None] * len(arr)
    if labels is True:
        names = boxes["joint"].tolist() if is_frame and "joint" in boxes else [None] * len(arr)
    elif labels is False or labels is None:
        names = [None] * len(arr)
    else:
        names = list(labels)
    for (x0, y0, x1, y1), hand, name in zip(arr, hands, names):
        c = color or HAND_COLORS.get(hand, "white")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=c, linewidth=linewidth,
                               linestyle=linestyle))
        if name:
            ax.text(x0, y0, str(name), color=c, fontsize=fontsize, va="bottom", ha="left", clip_on=True)


def show_radiograph(ax, image: np.ndarray, boxes: Any = None, *, title: Optional[str] = None,
                    labels: bool = True, hand_labels: bool = True, window: Optional[tuple[float, float]] = None,
                    fontsize: float = 5, linewidth: float = 0.8) -> None:
    """Show a bilateral radiograph with its joint boxes labelled by joint (chapter 1 gallery).

    `hand_labels` writes which half holds which of the patient's hands (right hand on the image's left).
    """
    draw_boxes(ax, image, boxes if boxes is not None else np.zeros((0, 4)), labels=labels,
               window=window, fontsize=fontsize, linewidth=linewidth)
    if hand_labels:  # under the image, where they hide nothing (markers and labels sit in its corners)
        for x, hand in ((0.25, "right"), (0.75, "left")):
            ax.text(x, -0.01, f"patient's {hand} hand", color=HAND_COLORS[hand], fontsize=7,
                    ha="center", va="top", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def zoom_joint(ax, image: np.ndarray, box: Sequence[float], *, context: float = 2.5, title: Optional[str] = None,
               draw_box: bool = True, color: str = "#ffd92f") -> None:
    """Show the region around one box, `context` times its size, with its own gray window (chapter 1).

    The paper's scoring crops use 2.5x the box (§3.2). Axes keep the radiograph's pixel coordinates.
    Only a view of the image is shown; nothing is copied or resampled here.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = context * max(x1 - x0, y1 - y0) / 2  # a square region, so every zoom has the same aspect
    height, width = image.shape[:2]
    c0, c1 = int(max(0, np.floor(cx - half))), int(min(width, np.ceil(cx + half)))
    r0, r1 = int(max(0, np.floor(cy - half))), int(min(height, np.ceil(cy + half)))
    region = image[r0:r1, c0:c1]
    vmin, vmax = display_range(region, 1, 99.5)
    ax.imshow(region, cmap="gray", vmin=vmin, vmax=vmax, extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5),
              interpolation="nearest" if region.shape[0] < 200 else "antialiased")
    if draw_box:
        draw_boxes(ax, None, [[x0, y0, x1, y1]], labels=False, color=color, linewidth=0.8, linestyle="--")
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy + half, cy - half)
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
