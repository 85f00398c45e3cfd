"""Box operations in the torchvision convention: (x_min, y_min, x_max, y_max), pixel-edge coordinates.

- `as_box_array`: one way in for boxes -- a boxes DataFrame (``schema.BOX_COLUMNS``), an
  (N, 4) or (..., 4) array or tensor -- out as a float64 numpy copy.
- `box_area`, `paired_intersection_union`, `paired_iou`: geometry of boxes paired one to one
  (box i of `pred` with box i of `target`, as torchvision's ``box_iou`` diagonal).
- `box_centers`, `check_paired`: small shared helpers of the losses and metrics.

An inverted box (x_max < x_min or y_max < y_min) counts as empty (area 0) everywhere.
The losses on boxes (DIoU) live in `rheumabook.losses`.

Used by the seam (`seam`), the localiser (`localize`), the losses and the figures (`viz`).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np
import pandas as pd
import torch

from .schema import BOX_COLUMNS

__all__ = ["ArrayLike", "as_box_array", "check_paired", "box_area", "box_centers", "paired_intersection_union",
           "paired_iou"]

ArrayLike = Union[np.ndarray, torch.Tensor]


def as_box_array(boxes: Any, *, name: str = "boxes", batched: bool = False) -> np.ndarray:
    """Float64 numpy copy of boxes (x_min, y_min, x_max, y_max); never a view of the input.

    boxes: a DataFrame with ``BOX_COLUMNS`` (other columns ignored) -> (N, 4); a numpy array,
        torch tensor or nested sequence of shape (N, 4) -> (N, 4), a single box (4,) -> (1, 4),
        anything empty -> (0, 4). With ``batched=True`` an array keeps its shape (..., 4)
        (e.g. (hands, joints, 4)); only the last axis must be 4.
    name: what to call the boxes in the ValueError raised for missing columns or a bad shape.
    """
    if isinstance(boxes, pd.DataFrame):
        missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
        if missing:
            raise ValueError(f"{name} DataFrame lacks columns {missing}; expected {list(BOX_COLUMNS)}")
        # np.array(..., copy=True): pandas (copy-on-write) may hand out a read-only view
        return np.array(boxes.loc[:, list(BOX_COLUMNS)].to_numpy(dtype=np.float64), copy=True)
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    arr = np.array(boxes, dtype=np.float64, copy=True)
    if batched:
        if arr.ndim < 1 or arr.shape[-1] != 4:
            raise ValueError(f"{name} must have shape (..., 4) as (x_min, y_min, x_max, y_max), got {arr.shape}")
        return arr
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.shape == (4,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as (x_min, y_min, x_max, y_max), got {arr.shape}")
    return arr


def check_paired(pred: ArrayLike, target: ArrayLike, what: str) -> None:
    """Raise ValueError unless `pred` and `target` are paired boxes: the same shape (..., 4)."""
    if tuple(pred.shape) != tuple(target.shape) or not len(pred.shape) or pred.shape[-1] != 4:
        raise ValueError(f"{what}: pred and target must both have shape (..., 4) as (x_min, y_min, x_max, y_max) "
                         f"and match, got {tuple(pred.shape)} and {tuple(target.shape)}")


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas (...) of boxes (..., 4); an inverted box has area 0 (torchvision's `box_area` would go negative)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_centers(boxes: ArrayLike) -> ArrayLike:
    """Centres (..., 2) as (x, y) of boxes (..., 4); numpy in, numpy out, tensor in, tensor out."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def paired_intersection_union(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Intersection and union areas (two (...) tensors) of paired boxes `pred`, `target` (..., 4)."""
    lt = torch.maximum(pred[..., :2], target[..., :2])
    rb = torch.minimum(pred[..., 2:], target[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, box_area(pred) + box_area(target) - inter


def paired_iou(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """IoU of each box with its own partner: (..., 4) and (..., 4) -> float64 (...) numpy (paper §3.5).

    pred, target: numpy arrays or tensors in a common unit (pixels, or normalised). Two empty
    boxes have IoU 0 (not NaN); inverted boxes count as empty. For valid boxes this is the
    diagonal of `torchvision.ops.box_iou(pred, target)`.
    """
    p, t = as_box_array(pred, name="pred", batched=True), as_box_array(target, name="target", batched=True)
    check_paired(p, t, "paired_iou")
    inter, union = paired_intersection_union(torch.from_numpy(p), torch.from_numpy(t))
    inter, union = inter.numpy(), union.numpy()
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
