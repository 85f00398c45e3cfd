"""The localiser's network (paper §3.3, Fig. 2b): CoordConv input and the box regressor.

- `coordinate_channels`, `model_inputs`: the CoordConv input (paper ref. [23]).
- `BoxRegressor`: a timm backbone (`pretrained=False`), average pooling to a small grid, then
  two fully connected layers (hidden 512, ReLU) to 21 x 4 normalised box coordinates;
  `forward_features` / `forward_head` kept separate.
- `build_model`: the regressor a `LocalizerConfig` describes; `count_parameters`.

Boxes inside the model are *normalised*: x / width, y / height of the model input.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
from torch import nn

from ..boxes import ArrayLike
from ..joints import JOINTS
from ..profiles import LocalizerConfig

__all__ = ["N_JOINTS", "coordinate_channels", "model_inputs", "BoxRegressor", "build_model", "count_parameters"]

N_JOINTS = len(JOINTS)
"""Boxes per hand: one per joint site of `joints.JOINTS`, in that order."""


def coordinate_channels(height: int, width: int, *, dtype: torch.dtype = torch.float32,
                        device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """The two CoordConv channels for an image of `height` x `width`: float (2, H, W).

    Channel 0 is the x coordinate and channel 1 the y coordinate of each pixel centre,
    normalised to [-1, 1] as in Liu et al. 2018 (paper ref. [23]): -1 + (2 i + 1) / n
    for pixel i of n, so the grid is symmetric about the image centre.
    """
    if height < 1 or width < 1:
        raise ValueError(f"coordinate channels need height, width >= 1, got {height} x {width}")
    xs = (torch.arange(width, dtype=dtype, device=device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=dtype, device=device) * 2 + 1) / height - 1
    return torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)])


def model_inputs(images: torch.Tensor, coord_channels: bool = True) -> torch.Tensor:
    """The 3-channel network input for grayscale images (N, 1, H, W) float: image + x + y, or the image thrice.

    With `coord_channels` the image is concatenated with `coordinate_channels` (CoordConv);
    without, the grayscale image is repeated into 3 channels, so that the ablation keeps
    the same backbone (same first convolution, same parameter count) and only the
    coordinate grid differs.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (N, 1, H, W) grayscale, got shape {tuple(images.shape)}")
    if not coord_channels:
        return images.expand(-1, 3, -1, -1)
    n, _, h, w = images.shape
    coords = coordinate_channels(h, w, dtype=images.dtype, device=images.device)
    return torch.cat([images, coords[None].expand(n, -1, -1, -1)], dim=1)




class BoxRegressor(nn.Module):
    """Regresses `n_boxes` boxes per hand image: timm backbone -> average pool -> FC 512 -> ReLU -> FC.

    backbone: timm model name (created with `pretrained=False`, 3 input channels: image + 2
        coordinate channels, or the image thrice when `coord_channels` is False).
    input_size: (height, width) of the images the model is built for; the pooling grid is
        applied to the backbone's feature map of that size.
    pool_grid: (rows, cols) the feature map is average-pooled to before flattening. The paper
        pools its 1280 x 16 x 8 map with an 8 x 8 kernel, i.e. to a 2 x 1 grid: a little
        spatial layout survives the pooling, which a box regressor needs.
    hidden: width of the hidden fully connected layer (512 in the paper).
    Input: (N, 1, H, W) float images (standardised, see `standardize`). Output: (N, n_boxes, 4)
    normalised boxes (x_min / W, y_min / H, x_max / W, y_max / H).
    """

    def __init__(self, backbone: str, input_size: tuple[int, int], *, coord_channels: bool = True,
                 pool_grid: tuple[int, int] = (2, 1), hidden: int = 512, n_boxes: int = N_JOINTS) -> None:
        super().__init__()
        import timm

        height, width = (int(v) for v in input_size)
        if height < 32 or width < 32:
            raise ValueError(f"input_size must be at least 32 x 32 pixels (height, width), got {input_size}")
        if min(pool_grid) < 1 or hidden < 1 or n_boxes < 1:
            raise ValueError(f"pool_grid, hidden and n_boxes must be positive, got {pool_grid}, {hidden}, {n_boxes}")
        try:
            self.backbone = timm.create_model(backbone, pretrained=False, in_chans=3, num_classes=0, global_pool="")
        except RuntimeError as err:  # timm raises RuntimeError for an unknown name
            raise ValueError(f"unknown timm backbone {backbone!r}: {err}") from None
        self.config = {"backbone": backbone, "input_size": [height, width], "coord_channels": bool(coord_channels),
                       "pool_grid": [int(pool_grid[0]), int(pool_grid[1])], "hidden": int(hidden),
                       "n_boxes": int(n_boxes)}
        channels, fh, fw = self._probe_features(height, width)
        if fh < pool_grid[0] or fw < pool_grid[1]:
            raise ValueError(f"backbone {backbone!r} gives a {fh} x {fw} feature map at input {height} x {width}, "
                             f"smaller than pool_grid {tuple(pool_grid)}; use a larger input or a smaller grid")
        self.feature_shape = (channels, fh, fw)
        self.pool = nn.AdaptiveAvgPool2d(tuple(pool_grid))
        self.fc1 = nn.Linear(channels * pool_grid[0] * pool_grid[1], hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, n_boxes * 4)
        self.n_boxes = int(n_boxes)
        self.coord_channels = bool(coord_channels)
        self.input_size = (height, width)

    @torch.no_grad()
    def _probe_features(self, height: int, width: int) -> tuple[int, int, int]:
        """(channels, h, w) of the backbone's feature map for one input; timm's metadata differ between families."""
        was_training = self.backbone.training
        self.backbone.eval()
        out = self.backbone.forward_features(torch.zeros(1, 3, height, width))
        self.backbone.train(was_training)
        return int(out.shape[1]), int(out.shape[2]), int(out.shape[3])

    def set_prior(self, mean_boxes: ArrayLike, weight_scale: float = 0.1) -> None:
        """Start from the average layout: output bias = `mean_boxes` (n_boxes, 4) normalised, small weights.

        A regressor initialised this way predicts the mean training hand at step 0 and
        only has to learn each hand's deviation from it -- far fewer epochs on a CPU.
        """
        mean = torch.as_tensor(np.asarray(mean_boxes, dtype=np.float32)).reshape(-1)
        if mean.numel() != self.n_boxes * 4:
            raise ValueError(f"mean_boxes must hold {self.n_boxes} x 4 values, got {mean.numel()}")
        with torch.no_grad():
            self.fc2.bias.copy_(mean)
            self.fc2.weight.mul_(weight_scale)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) images -> the backbone's feature map (N, C, h, w), CoordConv channels added first."""
        return self.backbone.forward_features(model_inputs(images, self.coord_channels))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) features -> (N, n_boxes, 4) normalised boxes: pool to the grid, flatten, FC-ReLU-FC."""
        x = torch.flatten(self.pool(features), 1)
        x = self.fc2(self.act(self.fc1(x)))
        return x.view(x.shape[0], self.n_boxes, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) float images -> (N, n_boxes, 4) normalised boxes (x_min, y_min, x_max, y_max)."""
        return self.forward_head(self.forward_features(images))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (chapter 4 prints it for each ablation backbone)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))



def build_model(config: LocalizerConfig) -> BoxRegressor:
    """The untrained `BoxRegressor` a config describes."""
    return BoxRegressor(config.backbone, config.input_size, coord_channels=config.coord_channels,
                        pool_grid=config.pool_grid, hidden=config.hidden)

