"""Distance-IoU loss (Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
Regression", AAAI 2020, arXiv:1911.08287); paper eq. (2)."""
from __future__ import annotations

import torch

from ..boxes import box_centers, check_paired, paired_intersection_union
from .reduction import reduce_loss

__all__ = ["diou_loss"]


def diou_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean", eps: float = 1e-7) -> torch.Tensor:
    """Distance-IoU loss, paper eq. (2): 1 - IoU(b, b^) + rho^2(b, b^) / c^2.

    pred, target: float tensors (..., 4) of paired boxes (x_min, y_min, x_max, y_max), any unit
        (the same for both); integer boxes are computed in float32. rho is the distance between
        the two box centres, c the diagonal of the smallest box enclosing both.
    reduction: "none" -> shape (...); "mean" or "sum" -> a scalar (`reduce_loss`: the mean of an
        empty input is 0, still differentiable).
    eps: added to the union and to c^2 so that degenerate (zero-area) boxes give finite values.
    Inverted boxes (x_max < x_min) count as empty (IoU 0) but keep the centre-distance term, so a
    regressor that starts with inverted boxes still gets a gradient towards the target.
    For valid boxes this equals `torchvision.ops.distance_box_iou_loss` (the tests check it).
    """
    check_paired(pred, target, "diou_loss")
    if not (torch.is_floating_point(pred) and torch.is_floating_point(target)):
        pred, target = pred.float(), target.float()
    inter, union = paired_intersection_union(pred, target)
    iou = inter / (union + eps)
    enclose_lt = torch.minimum(pred[..., :2], target[..., :2])
    enclose_rb = torch.maximum(pred[..., 2:], target[..., 2:])
    c2 = ((enclose_rb - enclose_lt) ** 2).sum(dim=-1) + eps
    rho2 = ((box_centers(pred) - box_centers(target)) ** 2).sum(dim=-1)
    return reduce_loss(1 - iou + rho2 / c2, reduction)
