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

__all__ = ["VGG_MINI_PLAN", "TINY_VIT_WINDOWS", "vgg_mini", "tiling_windows", "register"]

VGG_MINI_PLAN: tuple = (8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M")
"""VGG-11's plan (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M) at 1/8 of the width."""


TINY_VIT_WINDOWS: tuple[int, ...] = (7, 7, 14, 7)
"""timm TinyViT's windows per stage; at 224 px they tile the token grids (56, 28, 14, 7) exactly."""


def tiling_windows(crop_size: int, windows: tuple[int, ...] = TINY_VIT_WINDOWS, design_size: int = 224) -> tuple[int, ...]:
    """TinyViT windows for `crop_size` that partition each stage's token grid as `windows` do at `design_size`.

    TinyViT zero-pads every grid to a multiple of its window and attends over the padding too, so
    the 224-px windows at a 128-px crop (grids 32, 16, 8, 4 against windows 7, 7, 14, 7) spend
    most of stages 2 and 3 on padding. Scaling each window with the grid keeps the paper's layout
    (16 windows in stage 1, global attention in stages 2 and 3): at 128 px (4, 4, 8, 4). Pass the
    result as ``backbone_kwargs={"window_sizes": ...}``; it changes the relative-position tables,
    so it is a different model from the 224-px one (train it at that size). Used by
    `benchmarks/bench_pipeline.py`.
    """
    if crop_size < 32 or crop_size % 32:
        raise ValueError(f"crop_size must be a positive multiple of 32 (TinyViT downsamples 32 x), got {crop_size}")
    return tuple(max(1, round(w * crop_size / design_size)) for w in windows)


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
