"""Localisation metrics of paper §3.5 on paired boxes (prediction i against target i).

- IoU: `paired_iou` (from `rheumabook.boxes`).
- Localisation accuracy: `localization_hits`, `localization_accuracy` -- a prediction is a hit
  when its centre lies within one box width / height of the target's centre.
- `per_joint_metrics` (per joint site) and `summary_metrics` (overall, what `evaluate` reports).

Boxes (x_min, y_min, x_max, y_max) as numpy arrays or tensors, in any common unit (pixels of
the hand images in the book).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..boxes import ArrayLike, as_box_array, check_paired, paired_iou
from ..joints import JOINTS

__all__ = ["paired_iou", "localization_hits", "localization_accuracy", "per_joint_metrics", "summary_metrics"]


def _paired_arrays(pred: ArrayLike, target: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Float64 numpy copies of paired boxes (..., 4), checked to match (ValueError naming `what`)."""
    p, t = as_box_array(pred, name="pred", batched=True), as_box_array(target, name="target", batched=True)
    check_paired(p, t, what)
    return p, t


def localization_hits(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """Whether each prediction is a hit (paper §3.5): bool (...) for (..., 4) pred and target boxes.

    A hit: the predicted box's centre lies inside the target box widened by half its width on
    the left and on the right and by half its height above and below (edges included), i.e.
    |centre_x(pred) - centre_x(target)| <= width(target) and the same in y. Pixels, any unit.
    """
    p, t = _paired_arrays(pred, target, "localization_hits")
    cx, cy = (p[..., 0] + p[..., 2]) / 2, (p[..., 1] + p[..., 3]) / 2
    half_w, half_h = (t[..., 2] - t[..., 0]) / 2, (t[..., 3] - t[..., 1]) / 2
    return ((cx >= t[..., 0] - half_w) & (cx <= t[..., 2] + half_w)
            & (cy >= t[..., 1] - half_h) & (cy <= t[..., 3] + half_h))


def localization_accuracy(pred: ArrayLike, target: ArrayLike) -> float:
    """Fraction of predictions that are hits (`localization_hits`; paper §3.5); NaN for no boxes."""
    hits = localization_hits(pred, target)
    return float(hits.mean()) if hits.size else float("nan")


def per_joint_metrics(pred: ArrayLike, target: ArrayLike, joints: Sequence[str] = JOINTS) -> pd.DataFrame:
    """Localisation metrics per joint site, for boxes of many hands: (N, K, 4) pred and target, K = len(joints).

    Returns a DataFrame indexed by joint (in `joints` order) with columns iou (mean IoU),
    loc_accuracy (fraction of hits), center_error (mean distance of the centres, in the
    boxes' unit) and n (hands). Chapter 4 sorts it to find the worst joints.
    """
    p, t = _paired_arrays(pred, target, "per_joint_metrics")
    if p.ndim != 3 or p.shape[1] != len(joints):
        raise ValueError(f"pred and target must be (N hands, {len(joints)} joints, 4), got {p.shape}")
    iou = paired_iou(p, t)
    hits = localization_hits(p, t)
    err = np.hypot((p[..., 0] + p[..., 2] - t[..., 0] - t[..., 2]) / 2, (p[..., 1] + p[..., 3] - t[..., 1] - t[..., 3]) / 2)
    return pd.DataFrame({"iou": iou.mean(axis=0), "loc_accuracy": hits.mean(axis=0),
                         "center_error": err.mean(axis=0), "n": np.full(len(joints), p.shape[0])},
                        index=pd.Index(list(joints), name="joint"))


def summary_metrics(pred: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """Overall loc_accuracy and mean_iou over all boxes of (..., 4) pred/target (what `evaluate` reports)."""
    return {"loc_accuracy": localization_accuracy(pred, target), "mean_iou": float(np.mean(paired_iou(pred, target)))}
