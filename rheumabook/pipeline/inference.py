"""Running the scorer fast at inference: batch norm folded into its convolutions, channels-last, bf16 if asked.

Training needs batch norm as a layer; inference does not: a convolution followed by batch norm
in eval mode is one convolution with rescaled weights and a bias. timm's TinyViT builds its
convolutions as ``ConvNorm`` (Conv2d + BatchNorm2d), which has a ``fuse()`` that returns exactly
that convolution; `fused_copy` replaces every such pair in a copy of a model (the trained model
itself is left untouched). The outputs agree with the unfused model to float rounding (~1e-6).
Channels-last memory layout (NHWC) lets oneDNN's convolutions skip the reorders of NCHW inputs.
Both cut the CPU time of TinyViT-5M on 42 crops at 224 px by about a third
(`benchmarks/bench_pipeline.py`). ``precision="bfloat16"`` (CPU autocast; on CPUs with
AVX512-BF16 or AMX) is faster again but changes the probabilities by ~1e-2: off by default.

`predict_crops` is `scoring.Scorer.predict_proba` for such prepared models: the same
standardisation (`scoring.to_unit`, `scoring.standardize_crops`) and softmax per kind.
"""
from __future__ import annotations

import copy
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

__all__ = ["PRECISIONS", "fused_copy", "inference_copy", "predict_crops"]

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""Arithmetic the scorer may run in: float32 (exact) or bfloat16 (autocast, faster on recent CPUs/GPUs)."""


def _fusable(module: nn.Module) -> bool:
    """A timm ``ConvNorm`` (a Conv2d and a BatchNorm2d with a ``fuse()``), the pairs TinyViT is built of."""
    return type(module).__name__ == "ConvNorm" and callable(getattr(module, "fuse", None)) \
        and isinstance(getattr(module, "conv", None), nn.Conv2d) and isinstance(getattr(module, "bn", None),
                                                                                nn.BatchNorm2d)


def fused_copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model` (eval mode) with every conv + batch norm pair folded into one convolution."""
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _fusable(child):
                with torch.no_grad():
                    setattr(parent, name, child.fuse())
    return model


def inference_copy(model: nn.Module, device: Union[str, torch.device] = "cpu", *,
                   channels_last: bool = True) -> nn.Module:
    """`fused_copy` of `model` on `device`, in channels-last layout when `channels_last`, in eval mode."""
    model = fused_copy(model).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


@torch.inference_mode()
def predict_crops(models: Sequence[nn.Module], crops: np.ndarray, *, batch_size: int = 256,
                  device: Union[str, torch.device] = "cpu", precision: str = "float32",
                  channels_last: bool = True) -> dict[str, np.ndarray]:
    """{kind: (N, grades) float32 probabilities} of (N, S, S) crops through the prepared scoring models.

    Standardised as in training (`scoring.to_unit`, `scoring.standardize_crops`); each model's
    logits split per kind (`ScoringModel.split_logits`) and soft-maxed.
    """
    from ..scoring import num_classes, standardize_crops, to_unit

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device_type = torch.device(device).type
    out: dict[str, list] = {}
    for model in models:
        for kind in model.kinds:
            out.setdefault(kind, [])
        for start in range(0, len(crops), batch_size):
            x = standardize_crops(to_unit(crops[start:start + batch_size])).to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
                logits = model(x)
            for kind, part in model.split_logits(logits.float()).items():
                out[kind].append(torch.softmax(part, dim=1).cpu())
    return {k: torch.cat(v).numpy() if v else np.zeros((0, num_classes(k)), np.float32) for k, v in out.items()}
