"""Confounders burnt into a phantom radiograph: lead side markers ("L"/"R"), a text label and a ruler.

Each hand gets a 10 mm lead letter in a free corner of its half (missing ~8 %, showing the
wrong side ~6 % of the time: `render` options marker_missing_rate / marker_error_rate),
most images a burnt-in label ("ID ... date PA") in another free corner and about half a
radiopaque ruler (a grey strip with ticks every 5 mm) in a free corner beside the hand. None may
cover a joint box or the background gap between the hands, so the seam (chapter 3) and
the boxes stay clean; where no place is free the marker, label or ruler is left out.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..joints import HANDS

__all__ = ["draw_markers"]


def _overlaps(b: tuple, others: list[tuple]) -> bool:
    """Whether box `b` intersects any of `others` (x0, y0, x1, y1)."""
    return any(b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3] for o in others)


def _draw_text(y: np.ndarray, text: str, x: int, y0: int, height_px: float, value: float, frame: bool,
               on_plate: bool = False) -> tuple[int, int, int, int]:
    """Burn `text` (lead letters or a label) into float image `y` with its top-left at (x, y0); returns its box."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 2)
    fs = height_px / th
    thick = max(1, int(round(height_px / 7.0)))
    (tw, th), base = cv2.getTextSize(text, font, fs, thick)
    pad = int(round(0.25 * height_px))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    Hh, Ww = y.shape
    x0, yy0 = int(max(0, min(x, Ww - bw))), int(max(0, min(y0, Hh - bh)))
    roi = np.zeros((bh, bw), np.uint8)
    cv2.putText(roi, text, (pad, pad + th), font, fs, 255, thick, cv2.LINE_AA)
    if frame:
        cv2.rectangle(roi, (1, 1), (bw - 2, bh - 2), 255, max(1, thick // 2), cv2.LINE_AA)
    sub = y[yy0:yy0 + bh, x0:x0 + bw]
    r = roi[: sub.shape[0], : sub.shape[1]].astype(np.float32) / 255.0
    if on_plate:  # dark letters on a bright plate
        sub[...] = 0.92 * (1.0 - r) + 0.08 * r
    else:
        np.maximum(sub, value * r, out=sub)
    return (x0, yy0, x0 + sub.shape[1], yy0 + sub.shape[0])


def draw_markers(y: np.ndarray, d: dict, box_rows: list, extents: dict, W: int, H: int, spacing: float,
                  opts: dict) -> tuple[dict, Optional[dict], Optional[tuple]]:
    """Side markers near each hand and a text label in a free corner, away from joints and the middle gap.

    y: the float image, drawn into; d: the radiograph's draws (marker_u, corner_u, label);
    box_rows: the joint boxes (hand, joint, x_min, y_min, x_max, y_max); extents: hand ->
    (x_lo, x_hi) px. Returns (markers: hand -> {letter, correct, box} or None, label: {text,
    box} or None, ruler: its box or None; drawn with the markers option only).
    """
    joint_boxes = [(r[2], r[3], r[4], r[5]) for r in box_rows]
    taken: list[tuple] = []  # boxes of what was drawn so far
    margin = int(0.015 * W)
    halves = {"right": (margin, int(extents["right"][1]) - margin),
              "left": (int(extents["left"][0]) + margin, W - margin)}
    markers = _side_markers(y, d, joint_boxes, taken, halves, margin, H, spacing, opts)
    label = _text_label(y, d, joint_boxes, taken, halves, margin, H, opts)
    if label is not None:
        taken.append(label["box"])
    gap = (int(np.ceil(extents["right"][1])), int(np.floor(extents["left"][0])) - 1)
    ruler = _ruler(y, d["physics"]["ruler"], joint_boxes, taken, halves, gap, margin, H, spacing) if opts["markers"] else None
    return markers, label, ruler


def _ruler(y: np.ndarray, ru: dict, joint_boxes: list, taken: list, halves: dict, gap: tuple[int, int], margin: int,
           H: int, spacing: float) -> Optional[tuple[int, int, int, int]]:
    """A radiopaque ruler (a grey strip with bright ticks every 5 mm, long ones every cm) in a free corner.

    ru: {"present", "length_mm", "level", "order" (the 8 corners of both halves, tried in this
    order)}. It is put where it covers no joint box, nothing drawn before and no tissue (the
    image there is as dark as the background between the hands: `gap`), as a ruler lies beside
    the hand on a film; returns its box, or None.
    """
    if not ru["present"]:
        return None
    length, width = int(round(ru["length_mm"] / spacing)), int(round(7.0 / spacing))
    background = float(np.median(y[:, gap[0]:gap[1] + 1])) if gap[1] >= gap[0] else float(y.min())
    cands = []
    for hand in ("right", "left"):
        x_lo, x_hi = halves[hand]
        cands += [(hand, x_lo, margin), (hand, x_hi - length, margin), (hand, x_lo, H - margin - width),
                  (hand, x_hi - length, H - margin - width)]
    for c in ru["order"]:
        hand, x0, y0 = cands[c]
        b = (int(x0), int(y0), int(x0) + length, int(y0) + width)
        if b[0] < halves[hand][0] or b[2] > halves[hand][1] or _overlaps(b, joint_boxes + taken):
            continue
        sub = y[b[1]:b[3], b[0]:b[2]]
        if sub.size == 0 or float(np.percentile(sub, 90)) > background + 0.06:
            continue  # tissue under it
        strip = np.full((width, length), ru["level"], np.float32)
        step = 5.0 / spacing
        for i in range(int(length / step) + 1):
            x = int(round(i * step))
            tick = width if i % 2 == 0 else width // 2
            cv2.line(strip, (x, 0), (x, tick - 1), 1.0, max(1, int(round(0.4 / spacing))), cv2.LINE_AA)
        np.maximum(sub, strip[: sub.shape[0], : sub.shape[1]], out=sub)
        taken.append(b)
        return b
    return None


def _side_markers(y: np.ndarray, d: dict, joint_boxes: list, taken: list, halves: dict, margin: int, H: int,
                  spacing: float, opts: dict) -> dict[str, Optional[dict]]:
    """One lead letter per hand in the first free corner of its half (``d["corner_u"]`` orders the corners).

    Appends the drawn boxes to `taken`; a hand whose marker is missing, or finds no free corner, gets None.
    """
    markers: dict[str, Optional[dict]] = {}
    letter_px = 10.0 / spacing  # 10 mm lead letters
    for hi, hand in enumerate(HANDS):
        mu = d["marker_u"][hi]
        missing = (not opts["markers"]) or mu[0] < opts["marker_missing_rate"]
        wrong = mu[1] < opts["marker_error_rate"]
        if missing:
            markers[hand] = None
            continue
        letter = ("R" if hand == "right" else "L") if not wrong else ("L" if hand == "right" else "R")
        x_lo, x_hi = halves[hand]
        side = int(letter_px * 1.6)
        order = np.argsort(d["corner_u"][hi])
        cands = [(x_lo, margin), (x_hi - side, margin), (x_lo, H - margin - side), (x_hi - side, H - margin - side)]
        placed = None
        for c in order:
            cx, cy = cands[c]
            b = (cx - 2, cy - 2, cx + side + 2, cy + side + 2)
            if cx >= x_lo and cx + side <= x_hi and not _overlaps(b, joint_boxes + taken):
                placed = _draw_text(y, letter, cx, cy, letter_px, 1.0, frame=mu[2] < 0.5)
                break
        if placed is None:
            markers[hand] = None
            continue
        taken.append(placed)
        markers[hand] = {"letter": letter, "correct": not wrong, "box": tuple(int(v) for v in placed)}
    return markers


def _text_label(y: np.ndarray, d: dict, joint_boxes: list, taken: list, halves: dict, margin: int, H: int,
                opts: dict) -> Optional[dict]:
    """The burnt-in label ("ID <7 digits>  <date>  PA") in a free corner of either half, or None (~15 % none)."""
    lu = d["label"]
    if not (opts["label"] and lu["u"][0] < 0.85):
        return None
    yyyy, mm, dd = lu["date"]
    text = f"ID {''.join(map(str, lu['digits']))}  {yyyy:04d}-{mm:02d}-{dd:02d}  PA"
    h_px = 0.018 * H
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, h_px / 22.0, 1)
    bw, bh = tw + int(0.5 * h_px) + 4, th + base + int(0.5 * h_px) + 4
    order = np.argsort(d["corner_u"][len(HANDS)])
    cands = []
    for hand in ("right", "left"):
        x_lo, x_hi = halves[hand]
        cands += [(x_lo, margin), (x_hi - bw, margin), (x_lo, H - margin - bh), (x_hi - bw, H - margin - bh)]
    for c in list(order) + [4 + int(o) for o in order]:
        cx, cy = cands[c]
        hand = "right" if c < 4 else "left"
        x_lo, x_hi = halves[hand]
        b = (cx, cy, cx + bw, cy + bh)
        if cx >= x_lo and cx + bw <= x_hi and not _overlaps(b, joint_boxes + taken):
            box = _draw_text(y, text, cx, cy, h_px, 0.95, frame=False, on_plate=lu["u"][1] < 0.4)
            return {"text": text, "box": tuple(int(v) for v in box)}
    return None
