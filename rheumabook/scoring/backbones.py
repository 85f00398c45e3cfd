"""Backbones the book adds to timm's registry for the CPU profile, and each family's learning-rate schedule.

timm's VGG fixes its layer plan by the model name (``vgg11`` ...) and ends in a 4096-wide
7 x 7 convolutional MLP: at 64-px crops that is 130 M parameters, hopeless on a CPU. The
`quick` profile's Table 3 row therefore uses `vgg_mini`: timm's own `VGG` class (3 x 3
convolutions + BatchNorm + ReLU, max-pooling between stages, then its ConvMlp) with a VGG-11
layer plan at an eighth of the width and a narrow MLP. It is registered with timm under that name
when `rheumabook.scoring` is imported, so a checkpoint naming it loads like any timm model.
The other quick rows are timm models cut down through keywords (`Profile.scoring_comparison` in `rheumabook.profiles`).
"""
from __future__ import annotations

from typing import Any

__all__ = ["VGG_MINI_PLAN", "vgg_mini", "register"]

VGG_MINI_PLAN: tuple = (8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M")
"""VGG-11's plan (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M) at 1/8 of the width."""


def vgg_mini(pretrained: bool = False, **kwargs: Any):
    """timm's `VGG` with `VGG_MINI_PLAN`, BatchNorm and a 1/16-width MLP (no pretrained weights exist)."""
    import torch.nn as nn
    from timm.models.vgg import VGG

    if pretrained:
        raise ValueError("vgg_mini has no pretrained weights")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    kwargs.setdefault("mlp_ratio", 1 / 16)
    return VGG(list(VGG_MINI_PLAN), norm_layer=nn.BatchNorm2d, **kwargs)


def register() -> None:
    """Register `vgg_mini` with timm (idempotent)."""
    from timm.models import is_model, register_model

    if not is_model("vgg_mini"):
        register_model(vgg_mini)


register()
