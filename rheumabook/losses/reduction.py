"""How every loss in `rheumabook.losses` reduces its per-element values."""
from __future__ import annotations

import torch

__all__ = ["REDUCTIONS", "reduce_loss"]

REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")


def reduce_loss(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """`values` as they are ("none"), summed ("sum") or averaged ("mean").

    The mean of an empty tensor is 0, kept in the autograd graph (``values.sum() * 0``), not
    NaN: a batch without boxes then contributes nothing instead of poisoning the step.
    """
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean() if values.numel() else values.sum() * 0.0
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
