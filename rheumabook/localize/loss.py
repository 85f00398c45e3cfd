"""The localiser's training objective, paper eq. (1): MSE on the normalised boxes, then DIoU (eq. (2))."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..boxes import check_paired
from ..losses import diou_loss
from ..profiles import LOSS_KINDS

__all__ = ["LOSS_KINDS", "loss_for_epoch", "localization_loss"]


def loss_for_epoch(epoch: int, switch_epoch: int, kind: str = "schedule") -> str:
    """Which loss paper eq. (1) uses in 1-based `epoch`: "mse" while epoch <= switch_epoch, then "diou".

    kind "mse" or "diou" fixes the loss for the whole run (the ablation's rows).
    """
    if kind not in LOSS_KINDS:
        raise ValueError(f"loss kind must be one of {LOSS_KINDS}, got {kind!r}")
    if epoch < 1:
        raise ValueError(f"epochs count from 1, got {epoch}")
    if kind != "schedule":
        return kind
    return "mse" if epoch <= switch_epoch else "diou"


def localization_loss(pred: torch.Tensor, target: torch.Tensor, which: str,
                      input_size: tuple[int, int]) -> torch.Tensor:
    """The training loss (a scalar) between normalised boxes (N, K, 4): "mse" on the coordinates, or "diou" in pixels.

    DIoU is computed after scaling to the input's pixels (x * W, y * H for `input_size` = (H, W)),
    so that its distance term measures real distances on a non-square image.
    """
    check_paired(pred, target, "localization_loss")
    if which == "mse":
        return F.mse_loss(pred, target)
    if which == "diou":
        scale = pred.new_tensor([input_size[1], input_size[0]] * 2)
        return diou_loss(pred * scale, target * scale, reduction="mean")
    raise ValueError(f"loss must be 'mse' or 'diou', got {which!r}")
