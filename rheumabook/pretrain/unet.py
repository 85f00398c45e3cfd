"""A U-Net around the scoring backbone: the encoder of the self-supervised pretraining (paper §3.3).

The paper "used the backbone as a block encoder in the UNet model". Here the encoder *is* the
scoring backbone, built by `scoring.build_scorer` exactly as `ScoringModel` builds it (same timm
name, keywords and crop size, so the same parameter names and shapes), and its stage outputs are
the U-Net's skips, read with timm's ``forward_intermediates`` (for TinyViT at a 64-px crop: 16, 8,
4 and 2 px maps at strides 4, 8, 16, 32). The decoder is light: from the deepest map up, each
block upsamples bilinearly to the next skip's size, concatenates it and applies two
3x3 conv-BatchNorm-ReLU layers; blocks without a skip (from stride 4 to the input's stride 1)
only upsample and apply one such layer (at full resolution they cost the most), and a 1x1
convolution gives the one output channel. The input image
itself is *not* a skip: a clean copy of the corrupted input at full resolution would let the
decoder copy it through and leave the encoder with little to learn.

`encoder_state_dict` gives the encoder's weights with `ScoringModel.backbone`'s keys, which
`scoring.load_backbone_weights` loads.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UNet", "build_unet", "encoder_state_dict"]


def _conv_block(in_channels: int, out_channels: int, layers: int = 2) -> nn.Sequential:
    """`layers` 3x3 conv-BatchNorm-ReLU layers (a decoder block: two after a skip, one when only upsampling)."""
    out: list[nn.Module] = []
    for i in range(layers):
        out += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*out)


class UNet(nn.Module):
    """Encoder (a timm backbone with ``forward_intermediates``) + light decoder -> one channel at input size.

    encoder: the backbone (e.g. `ScoringModel.backbone`); its stage outputs are the skips.
    in_chans, img_size: the input the encoder takes, (N, in_chans, img_size, img_size); img_size must
        be a multiple of the encoder's total stride.
    decoder_channels: widths of the decoder blocks, deepest first: one per skip above the deepest
        stage, then one per factor 2 from the shallowest skip's stride down to 1.
    Input: (N, in_chans, S, S) float. Output: (N, 1, S, S) float (the reconstruction, unbounded).
    """

    def __init__(self, encoder: nn.Module, *, in_chans: int = 1, img_size: int = 224,
                 decoder_channels: Sequence[int] = (128, 64, 32, 16, 16)) -> None:
        super().__init__()
        if not hasattr(encoder, "forward_intermediates"):
            raise ValueError(f"the encoder {type(encoder).__name__} has no forward_intermediates (timm >= 1.0 "
                             f"gives it to most backbones); the U-Net needs its stage outputs as skips")
        self.encoder, self.in_chans, self.img_size = encoder, int(in_chans), int(img_size)
        channels, strides = self._probe_skips()
        if strides[0] < 1 or any(b != 2 * a for a, b in zip(strides, strides[1:])):
            raise ValueError(f"the encoder's stage strides {strides} are not successive factors of 2; the "
                             f"decoder upsamples by 2 per block")
        n_up = int(math.log2(strides[0]))
        need = len(channels) - 1 + n_up
        if len(decoder_channels) != need:
            raise ValueError(f"decoder_channels needs {need} widths for this encoder ({len(channels) - 1} skip "
                             f"blocks + {n_up} upsampling blocks to stride 1), got {tuple(decoder_channels)}")
        self.skip_channels, self.skip_strides = channels, strides
        blocks, previous = [], channels[-1]
        for i, width in enumerate(decoder_channels):
            skip = channels[-2 - i] if i < len(channels) - 1 else 0
            blocks.append(_conv_block(previous + skip, int(width), layers=2 if skip else 1))
            previous = int(width)
        self.decoder = nn.ModuleList(blocks)
        self.out = nn.Conv2d(previous, 1, 1)

    @torch.no_grad()
    def _probe_skips(self) -> tuple[list[int], list[int]]:
        """(channels, strides) of the encoder's stage outputs, from one blank input (eval mode)."""
        was_training = self.encoder.training
        self.encoder.eval()
        feats = self.encoder.forward_intermediates(torch.zeros(1, self.in_chans, self.img_size, self.img_size),
                                                   intermediates_only=True)
        self.encoder.train(was_training)
        if any(f.ndim != 4 for f in feats):
            raise ValueError(f"the encoder's stage outputs {[tuple(f.shape) for f in feats]} are not NCHW maps")
        strides = [self.img_size // f.shape[-1] for f in feats]
        if any(self.img_size % f.shape[-1] or f.shape[-1] != f.shape[-2] for f in feats):
            raise ValueError(f"img_size {self.img_size} is not a multiple of the encoder's strides; feature maps "
                             f"{[tuple(f.shape[-2:]) for f in feats]}")
        return [int(f.shape[1]) for f in feats], strides

    def skips(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's stage outputs for (N, in_chans, S, S) input, shallowest first: (N, C_i, S/s_i, S/s_i)."""
        if x.ndim != 4 or x.shape[1] != self.in_chans or x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise ValueError(f"input must be (N, {self.in_chans}, {self.img_size}, {self.img_size}), got "
                             f"{tuple(x.shape)}")
        return list(self.encoder.forward_intermediates(x, intermediates_only=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, S, S) corrupted crops -> (N, 1, S, S) reconstruction."""
        feats = self.skips(x)
        y = feats[-1]
        for i, block in enumerate(self.decoder):
            if i < len(feats) - 1:
                skip = feats[-2 - i]
                y = torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)
            else:
                y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = block(y)
        return self.out(y)


def build_unet(scoring: Any, decoder_channels: Sequence[int]) -> UNet:
    """The U-Net whose encoder is the backbone `scoring.build_scorer(scoring)` builds (random weights).

    scoring: a `profiles.ScoringConfig` (backbone, backbone_kwargs, crop_size). Seed with `training.seeded`.
    """
    from ..scoring import build_scorer

    backbone = build_scorer(scoring.replace(backbone_weights="")).backbone
    return UNet(backbone, in_chans=1, img_size=scoring.crop_size, decoder_channels=decoder_channels)


def encoder_state_dict(unet: UNet) -> dict[str, torch.Tensor]:
    """The encoder's weights under `ScoringModel.backbone`'s keys (detached, contiguous, on the CPU)."""
    return {k: v.detach().cpu().contiguous() for k, v in unet.encoder.state_dict().items()}
