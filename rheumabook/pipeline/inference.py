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

Three more things cost nothing in accuracy:

- TinyViT adds a learned relative-position bias to every attention matrix, and hands it to
  ``F.scaled_dot_product_attention`` as a (heads, N, N) mask. PyTorch's fused CPU kernel takes
  only a 4-D mask; a 3-D one sends the call to the unfused "math" fallback, which materialises
  the attention matrix and checks every row for -inf (about twice as slow for TinyViT's 7x7
  windows). `freeze_attention_biases` stores each bias once as (1, heads, N, N) in the module's
  own eval-mode cache, so the fused kernel runs; the sum it computes is the same.
- GELU on a channels-last 4-D tensor takes PyTorch's strided element-wise path, about twice
  as slow as the same GELU over the memory in order; TinyViT's first stage (MBConv blocks, 256
  channels at a quarter of the crop side) spends a tenth of the scorer's time there.
  `MemoryOrderGELU` applies it to the NHWC view, which is contiguous: the same function, to
  within an ulp (the vectorised erf and the scalar one round differently).
- Crops go through the scorer in chunks sized to the CPU's caches (`default_crop_batch`): the
  first TinyViT stage holds 256 channels at a quarter of the crop side, 67 MB in bf16 for 42
  crops at 224 px, and tensors that large are mapped and faulted in afresh by the allocator on
  every call. Eight crops at 224 px (a fixed pixel budget at other sizes) stay in the heap.

`predict_crops` scores crops through such prepared models as `scoring.Scorer.predict_proba` does
(both call `scoring.crop_probabilities`), in chunks of `default_crop_batch` crops.
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

__all__ = ["PRECISIONS", "MemoryOrderGELU", "crop_batch", "default_crop_batch", "freeze_attention_biases",
           "fused_copy", "inference_copy", "memory_order_gelus", "predict_crops"]

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""Arithmetic the scorer may run in: float32 (exact) or bfloat16 (autocast, faster on recent CPUs/GPUs)."""


CPU_PIXELS_PER_BATCH: int = 8 * 224 * 224
"""Crop pixels per forward pass of the scorer on a CPU: 8 crops at 224 px, 24 at 128 (`default_crop_batch`)."""

GPU_CROPS_PER_BATCH: int = 256
"""Crops per forward pass on a GPU, where a large batch keeps the device busy."""


def default_crop_batch(crop_size: int, device: Union[str, torch.device] = "cpu") -> int:
    """Crops per forward pass: `GPU_CROPS_PER_BATCH` on a GPU, a fixed pixel budget on a CPU (>= 1)."""
    if torch.device(device).type != "cpu":
        return GPU_CROPS_PER_BATCH
    return max(1, round(CPU_PIXELS_PER_BATCH / (int(crop_size) ** 2)))


def crop_batch(batch_size: Optional[int], crop_size: int, device: Union[str, torch.device] = "cpu") -> int:
    """`batch_size` crops per forward pass, checked (>= 1); None: `default_crop_batch` for the size and device."""
    if batch_size is None:
        return default_crop_batch(crop_size, device)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1 crop per forward pass, got {batch_size}")
    return int(batch_size)


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


class MemoryOrderGELU(nn.GELU):
    """``nn.GELU`` that runs over a channels-last tensor's memory in order (the NHWC view).

    A 4-D tensor in channels-last layout is contiguous as (N, H, W, C): GELU on that permuted view
    takes the contiguous (vectorised) path, and permuting back gives the channels-last result, equal
    to ``nn.GELU``'s to within an ulp of rounding. Any other input goes to ``nn.GELU``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


def memory_order_gelus(model: nn.Module) -> int:
    """Replace every ``nn.GELU`` of `model` (in place) by a `MemoryOrderGELU` of the same kind; the count."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.GELU:
                setattr(parent, name, MemoryOrderGELU(approximate=child.approximate))
                count += 1
    return count


def _has_bias_cache(module: nn.Module) -> bool:
    """A timm TinyViT ``Attention``: a bias table, its (N, N) index, and the eval-mode cache it reads."""
    return isinstance(getattr(module, "attention_biases", None), torch.Tensor) \
        and isinstance(getattr(module, "attention_bias_idxs", None), torch.Tensor) \
        and isinstance(getattr(module, "attention_bias_cache", None), dict)


@torch.no_grad()
def freeze_attention_biases(model: nn.Module) -> int:
    """Cache every TinyViT attention bias as a (1, heads, N, N) tensor on its device; the count cached.

    timm's ``Attention.get_attention_biases`` returns ``attention_bias_cache[str(device)]`` in eval
    mode and builds the (heads, N, N) bias there otherwise. The same values with a leading batch
    axis broadcast identically in both of its paths (``attn + bias`` and the SDPA mask) and let
    PyTorch's fused CPU attention kernel take the mask (module docstring). The cache is timm's own:
    ``.train()`` and ``.to()`` empty it, after which the module rebuilds its 3-D bias (correct, only
    slower), so call this last, on a model in eval mode that stays where it is.
    """
    count = 0
    for module in model.modules():
        if _has_bias_cache(module):
            bias = module.attention_biases[:, module.attention_bias_idxs]  # (heads, N, N)
            module.attention_bias_cache = {str(bias.device): bias.unsqueeze(0).contiguous()}
            count += 1
    return count


def inference_copy(model: nn.Module, device: Union[str, torch.device] = "cpu", *,
                   channels_last: bool = True) -> nn.Module:
    """`fused_copy` of `model` on `device`, biases frozen, eval mode; channels-last (and its GELU) if asked."""
    model = fused_copy(model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        memory_order_gelus(model)
    freeze_attention_biases(model)
    return model


@torch.inference_mode()
def predict_crops(models: Sequence[nn.Module], crops: np.ndarray, *, batch_size: Optional[int] = None,
                  device: Union[str, torch.device] = "cpu", precision: str = "float32",
                  channels_last: bool = True) -> dict[str, np.ndarray]:
    """{kind: (N, grades) float32 probabilities} of (N, S, S) crops through the prepared scoring models.

    `scoring.crop_probabilities` (standardised as in training, soft-max per kind) in `precision`,
    channels-last when `channels_last`. batch_size: crops per forward pass (None:
    `default_crop_batch` for the crops' size and the device).
    """
    from ..scoring import crop_probabilities

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return crop_probabilities(models, crops, batch_size=crop_batch(batch_size, crops.shape[-1], device), device=device,
                              bfloat16=precision == "bfloat16", channels_last=channels_last)
