"""Joint localisation by box regression (paper §3.3, §3.5, Table 2).

A hand has a fixed set of 21 joint sites (`rheumabook.joints.JOINTS`), so RheumaVIT
does not *detect* joints: it *regresses* 21 boxes per hand image, one per site, in a
fixed order. This module holds every piece of that stage:

- CoordConv input (paper ref. [23]): `coordinate_channels`, `model_inputs`.
- `BoxRegressor`: a timm backbone (`pretrained=False`), average pooling to a small
  grid, then two fully connected layers (hidden 512, ReLU) to 21 x 4 normalised box
  coordinates; `forward_features` / `forward_head` kept separate.
- Losses: `diou_loss` (paper eq. (2)) and the MSE -> DIoU schedule of eq. (1)
  (`loss_for_epoch`, `localization_loss`).
- Metrics (paper §3.5): `paired_iou`, `localization_hits`, `localization_accuracy`,
  `per_joint_metrics`.
- Augmentation: `random_affines` + `warp_images` + `transform_boxes` rotate, scale and
  shift a batch and move its boxes with it (box centres mapped exactly, sizes scaled).
- Data: `prepare_hands` cuts radiographs into hands with `preprocess.split_hands`
  (the patient's right hand mirrored into left orientation), resizes them to the
  profile's input size and keeps them, with their boxes, in one `HandSet` of tensors
  (in memory, and cached on disk as .npz). `localization_data` is chapter 4's data:
  a patient split, plus extra phantom hands (`render_phantom_hands`) for training.
- Training: `LocalizerConfig`, `train_localizer`, `predict_boxes`, `evaluate`;
  checkpoints: `save_localizer` / `load_localizer` (safetensors + JSON, no pickle);
  `load_or_train_localizer` for later chapters.
- The Table 2 ablation: `ablation_variants`, `run_ablation`, `PAPER_TABLE2`.

Box convention: (x_min, y_min, x_max, y_max), pixel-edge coordinates (torchvision).
Inside the model boxes are *normalised*: x / width, y / height of the model input.

Used by chapter 4 (book/04_localization.ipynb) and by the chapters that crop joints.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .joints import HANDS, JOINTS

N_JOINTS = len(JOINTS)
BOX_COLUMNS = ("x_min", "y_min", "x_max", "y_max")
ArrayLike = Union[np.ndarray, torch.Tensor]

# ============================================================================ CoordConv (paper ref. [23])


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


# ============================================================================ the model (paper §3.3, Fig. 2b)


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


# ============================================================================ box geometry, losses, metrics


def _check_boxes(pred: ArrayLike, target: ArrayLike, what: str) -> None:
    """Both box sets must be (..., 4) with the same shape (used by the losses and metrics)."""
    if tuple(pred.shape) != tuple(target.shape) or (len(pred.shape) and pred.shape[-1] != 4) or not len(pred.shape):
        raise ValueError(f"{what}: pred and target must both have shape (..., 4) as (x_min, y_min, x_max, y_max) "
                         f"and match, got {tuple(pred.shape)} and {tuple(target.shape)}")


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply 'none' / 'mean' / 'sum'; the mean of nothing is 0 (kept in the graph) instead of NaN."""
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean() if values.numel() else values.sum() * 0.0
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of (..., 4) boxes; an inverted box (x_max < x_min or y_max < y_min) has area 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def _intersection_union(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Intersection and union areas of paired boxes (..., 4) -> two (...) tensors."""
    lt = torch.maximum(pred[..., :2], target[..., :2])
    rb = torch.minimum(pred[..., 2:], target[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, _area(pred) + _area(target) - inter


def diou_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean", eps: float = 1e-7) -> torch.Tensor:
    """Distance-IoU loss, paper eq. (2): 1 - IoU(b, b^) + rho^2(b, b^) / c^2 (Zheng et al. 2020).

    pred, target: float tensors (..., 4) of paired boxes (x_min, y_min, x_max, y_max), any units
        (the same for both). rho is the distance between the two box centres, c the diagonal of
        the smallest box enclosing both.
    reduction: 'none' (shape (...)), 'mean' or 'sum' (scalars); the mean of an empty input is 0.
    eps: added to the union and to c^2 so that degenerate (zero-area) boxes give finite values.
    Inverted boxes (x_max < x_min) count as empty (IoU 0) but keep the centre-distance term,
    so a regressor that starts with inverted boxes still gets a gradient towards the target.
    For valid boxes this equals `torchvision.ops.distance_box_iou_loss` (tests check it).
    """
    _check_boxes(pred, target, "diou_loss")
    if not (torch.is_floating_point(pred) and torch.is_floating_point(target)):
        pred, target = pred.float(), target.float()  # integer pixel boxes: compute in float
    inter, union = _intersection_union(pred, target)
    iou = inter / (union + eps)
    enclose_lt = torch.minimum(pred[..., :2], target[..., :2])
    enclose_rb = torch.maximum(pred[..., 2:], target[..., 2:])
    c2 = ((enclose_rb - enclose_lt) ** 2).sum(dim=-1) + eps
    centre_pred = (pred[..., :2] + pred[..., 2:]) / 2
    centre_target = (target[..., :2] + target[..., 2:]) / 2
    rho2 = ((centre_pred - centre_target) ** 2).sum(dim=-1)
    return _reduce(1 - iou + rho2 / c2, reduction)


LOSS_KINDS = ("schedule", "mse", "diou")
"""Training losses: eq. (1)'s MSE-then-DIoU schedule, MSE throughout, or DIoU throughout (Table 2 ablation)."""


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
    """The training loss between normalised boxes (N, K, 4): MSE on the normalised coordinates, or DIoU in pixels.

    DIoU is computed after scaling to the input's pixels (x * W, y * H), so that its distance
    term measures real distances on a non-square image rather than normalised ones.
    """
    _check_boxes(pred, target, "localization_loss")
    if which == "mse":
        return F.mse_loss(pred, target)
    if which == "diou":
        scale = pred.new_tensor([input_size[1], input_size[0]] * 2)
        return diou_loss(pred * scale, target * scale, reduction="mean")
    raise ValueError(f"loss must be 'mse' or 'diou', got {which!r}")


def _as_numpy_boxes(boxes: ArrayLike, name: str) -> np.ndarray:
    """Float64 numpy copy of (..., 4) boxes given as an array or tensor (used by the metrics)."""
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4) as (x_min, y_min, x_max, y_max), got {arr.shape}")
    return arr


def paired_iou(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """IoU of each predicted box with its own target: (N, 4) and (N, 4) -> float64 (N,) (paper §3.5).

    Boxes (x_min, y_min, x_max, y_max) in pixels (any common unit), numpy arrays or tensors;
    (..., 4) inputs give (...) outputs. Two empty boxes have IoU 0 (not NaN); inverted boxes
    count as empty.
    """
    p, t = _as_numpy_boxes(pred, "pred"), _as_numpy_boxes(target, "target")
    _check_boxes(p, t, "paired_iou")
    inter, union = _intersection_union(torch.from_numpy(p), torch.from_numpy(t))
    inter, union = inter.numpy(), union.numpy()
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def localization_hits(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """Whether each prediction is a hit (paper §3.5): bool (N,) for (N, 4) pred and target boxes.

    A hit: the predicted box's centre lies inside the target box widened by half its width on
    the left and on the right and by half its height above and below (edges included), i.e.
    |centre_x(pred) - centre_x(target)| <= width(target) and the same in y. Pixels, any unit.
    """
    p, t = _as_numpy_boxes(pred, "pred"), _as_numpy_boxes(target, "target")
    _check_boxes(p, t, "localization_hits")
    cx, cy = (p[..., 0] + p[..., 2]) / 2, (p[..., 1] + p[..., 3]) / 2
    half_w, half_h = (t[..., 2] - t[..., 0]) / 2, (t[..., 3] - t[..., 1]) / 2
    return ((cx >= t[..., 0] - half_w) & (cx <= t[..., 2] + half_w)
            & (cy >= t[..., 1] - half_h) & (cy <= t[..., 3] + half_h))


def localization_accuracy(pred: ArrayLike, target: ArrayLike) -> float:
    """Fraction of predictions that are hits (`localization_hits`; paper §3.5); NaN for no boxes."""
    hits = localization_hits(pred, target)
    return float(hits.mean()) if hits.size else float("nan")


def per_joint_metrics(pred: ArrayLike, target: ArrayLike, joints: Sequence[str] = JOINTS) -> pd.DataFrame:
    """Localisation metrics per joint site, for boxes of many hands: (N, K, 4) pred and target, K = len(joints).

    Returns a DataFrame indexed by joint (in `joints` order) with columns iou (mean IoU),
    loc_accuracy (fraction of hits), center_error (mean distance of the centres, in the
    boxes' unit) and n (hands). Chapter 4 sorts it to find the worst joints.
    """
    p, t = _as_numpy_boxes(pred, "pred"), _as_numpy_boxes(target, "target")
    _check_boxes(p, t, "per_joint_metrics")
    if p.ndim != 3 or p.shape[1] != len(joints):
        raise ValueError(f"pred and target must be (N hands, {len(joints)} joints, 4), got {p.shape}")
    iou = paired_iou(p, t)
    hits = localization_hits(p, t)
    err = np.hypot((p[..., 0] + p[..., 2] - t[..., 0] - t[..., 2]) / 2, (p[..., 1] + p[..., 3] - t[..., 1] - t[..., 3]) / 2)
    return pd.DataFrame({"iou": iou.mean(axis=0), "loc_accuracy": hits.mean(axis=0),
                         "center_error": err.mean(axis=0), "n": np.full(len(joints), p.shape[0])},
                        index=pd.Index(list(joints), name="joint"))


def summary_metrics(pred: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """Overall loc_accuracy and mean_iou over all boxes of (..., 4) pred/target (used by `evaluate`)."""
    return {"loc_accuracy": localization_accuracy(pred, target), "mean_iou": float(np.mean(paired_iou(pred, target)))}


# ============================================================================ geometric augmentation


@dataclass(frozen=True)
class Augment:
    """Ranges of the random geometric augmentation (uniform in each range); all zero = none.

    rotation_deg: rotation about the image centre, +- degrees. scale: zoom factor 1 +- scale.
    shift: translation, +- this fraction of the width (x) and height (y). No flips: the right
    hand is already mirrored into left orientation, so a flip would only teach a hand that
    never occurs.
    """

    rotation_deg: float = 0.0
    scale: float = 0.0
    shift: float = 0.0

    def __post_init__(self) -> None:
        if self.rotation_deg < 0 or not 0 <= self.scale < 1 or not 0 <= self.shift < 0.5:
            raise ValueError(f"augmentation ranges must be rotation_deg >= 0, 0 <= scale < 1, 0 <= shift < 0.5; "
                             f"got {self}")

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return bool(self.rotation_deg or self.scale or self.shift)


def affine_matrix(angle_deg: ArrayLike, scale: ArrayLike, shift_xy: ArrayLike, size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, 3) pixel-space affine maps: input pixel (x, y, 1) -> output pixel, for an image `size` = (H, W).

    Each map scales by `scale` and rotates by `angle_deg` about the image centre (a positive
    angle turns the image clockwise on screen, since y points down), then shifts by
    `shift_xy` pixels.
    angle_deg, scale: (N,); shift_xy: (N, 2).
    """
    angle = torch.as_tensor(angle_deg, dtype=torch.float64) * (math.pi / 180)
    s = torch.as_tensor(scale, dtype=torch.float64)
    shift = torch.as_tensor(shift_xy, dtype=torch.float64).reshape(-1, 2)
    h, w = size
    cx, cy = w / 2, h / 2
    cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
    m = torch.zeros(angle.shape[0], 3, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    # p' = A (p - c) + c + shift
    m[:, 0, 2] = cx - cos * cx + sin * cy + shift[:, 0]
    m[:, 1, 2] = cy - sin * cx - cos * cy + shift[:, 1]
    m[:, 2, 2] = 1
    return m


def random_affines(n: int, size: tuple[int, int], augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """`n` random pixel-space affine maps (n, 3, 3) drawn from `augment`'s ranges with `generator`."""
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64) * 2 - 1  # uniform in [-1, 1]
    h, w = size
    return affine_matrix(u[:, 0] * augment.rotation_deg, 1 + u[:, 1] * augment.scale,
                         torch.stack([u[:, 2] * augment.shift * w, u[:, 3] * augment.shift * h], dim=1), size)


def warp_images(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Warp (N, C, H, W) float images by pixel-space maps (N, 3, 3) (input -> output), bilinear, border fill.

    affine_grid wants the inverse map (output -> input) in [-1, 1] coordinates (align_corners
    False: pixel edges at -1 and 1, the same pixel-edge convention as the boxes), so the
    pixel map is inverted and conjugated with the pixel <-> [-1, 1] change of coordinates.
    Border fill repeats the edge: the forearm leaving the bottom of the image continues.
    """
    n, _, h, w = images.shape
    to_norm = torch.tensor([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]], dtype=torch.float64, device=images.device)
    theta = to_norm @ torch.linalg.inv(matrices.to(images.device, torch.float64)) @ torch.linalg.inv(to_norm)
    grid = F.affine_grid(theta[:, :2].to(images.dtype), [n, images.shape[1], h, w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


BOX_TRANSFORMS = ("centre", "corners")


def transform_boxes(boxes: torch.Tensor, matrices: torch.Tensor, mode: str = "centre") -> torch.Tensor:
    """Move pixel boxes (N, K, 4) with the pixel-space affine maps (N, 3, 3) of their images.

    mode "centre" (the default, used in training): the box centre is mapped exactly and the
    width and height are multiplied by the map's scale (rotation ignored). A joint box is
    drawn around the joint, axis-aligned, whatever the hand's tilt, so a tilted hand's box
    is about as large as before; mode "corners" maps the four corners and takes their
    enclosing box, which is exact for the rotated rectangle but grows with the angle
    (by about (w + h) |sin(angle)|) and would teach the model to draw boxes too large.
    """
    if mode not in BOX_TRANSFORMS:
        raise ValueError(f"mode must be one of {BOX_TRANSFORMS}, got {mode!r}")
    m = matrices.to(boxes.device, boxes.dtype)
    a, t = m[:, None, :2, :2], m[:, None, :2, 2]
    if mode == "centre":
        centre = (boxes[..., :2] + boxes[..., 2:]) / 2
        half = (boxes[..., 2:] - boxes[..., :2]) / 2
        scale = torch.sqrt(torch.abs(torch.linalg.det(m[:, :2, :2])))[:, None, None]
        new_centre = (a @ centre[..., None])[..., 0] + t
        return torch.cat([new_centre - half * scale, new_centre + half * scale], dim=-1)
    x0, y0, x1, y1 = boxes.unbind(-1)
    corners = torch.stack([torch.stack(c, -1) for c in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], dim=-2)
    moved = (a[:, :, None] @ corners[..., None])[..., 0] + t[:, :, None]
    return torch.cat([moved.min(dim=-2).values, moved.max(dim=-2).values], dim=-1)


def standardize(images: torch.Tensor) -> torch.Tensor:
    """Per-image zero mean, unit variance of (N, 1, H, W) images (uint8 or float): exposure varies between radiographs."""
    x = images.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp(min=1e-3)
    return (x - mean) / std


# ============================================================================ hands: split, mirror, resize, cache


def _atomic_write(target: Path, write, suffix: str = "") -> None:
    """Call write(tmp_path), then rename into `target`; nothing half-written is left on failure.

    The temp file gets the usual permissions (0o666 minus the umask), not mkstemp's private 0o600.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise




@dataclass(frozen=True, eq=False)
class HandSet:
    """Hand images ready for the regressor, with their boxes: the prepared, cached training data.

    images: uint8 tensor (N, 1, H, W), each hand resized to the model's input size; the
        patient's right hand mirrored into left orientation (paper §3.2).
    boxes: float32 tensor (N, 21, 4), the hand's joint boxes normalised by the input size
        (x / W, y / H), in `joints.JOINTS` order.
    meta: DataFrame, one row per hand: patient_id, hand, height, width (pixels of the hand's
        half of the radiograph, before resizing), offset_x (the half's column 0 in the
        radiograph), mirrored (bool), radiograph_width.
    """

    images: torch.Tensor
    boxes: torch.Tensor
    meta: pd.DataFrame

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 1 or self.images.dtype != torch.uint8:
            raise ValueError(f"HandSet.images must be uint8 (N, 1, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if tuple(self.boxes.shape) != (n, N_JOINTS, 4) or len(self.meta) != n:
            raise ValueError(f"HandSet needs {n} x {N_JOINTS} x 4 boxes and {n} meta rows, got "
                             f"{tuple(self.boxes.shape)} and {len(self.meta)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the prepared images."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, index: Union[Sequence[int], np.ndarray]) -> "HandSet":
        """The hands at positions `index` (e.g. those of some patients)."""
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return HandSet(self.images[idx], self.boxes[idx], self.meta.iloc[idx.numpy()].reset_index(drop=True))

    def of_patients(self, patient_ids: Iterable[str]) -> "HandSet":
        """The hands of some patients (both hands each), in this set's order."""
        keep = set(map(str, patient_ids))
        return self.subset(np.flatnonzero(self.meta["patient_id"].astype(str).isin(keep).to_numpy()))

    def pixel_boxes(self, normalised: Optional[ArrayLike] = None) -> np.ndarray:
        """Boxes (N, 21, 4) in pixels of each hand's half image (before resizing, after mirroring).

        normalised: model outputs (N, 21, 4) in normalised coordinates; None = this set's targets.
        """
        norm = self.boxes if normalised is None else normalised
        norm = _as_numpy_boxes(norm, "normalised boxes")
        if norm.shape != (len(self), N_JOINTS, 4):
            raise ValueError(f"normalised boxes must be ({len(self)}, {N_JOINTS}, 4), got {norm.shape}")
        w = self.meta["width"].to_numpy(dtype=np.float64)[:, None]
        h = self.meta["height"].to_numpy(dtype=np.float64)[:, None]
        return norm * np.stack([w, h, w, h], axis=-1)

    def radiograph_boxes(self, normalised: Optional[ArrayLike] = None) -> pd.DataFrame:
        """Boxes in pixels of the radiographs: long DataFrame patient_id, hand, joint, x_min .. y_max.

        Undoes the resize, the mirroring and the half's offset (as `preprocess.HandSplit.to_radiograph`).
        """
        px = self.pixel_boxes(normalised)
        rows = []
        for i, m in enumerate(self.meta.itertuples(index=False)):
            b = px[i].copy()
            if m.mirrored:
                b[:, [0, 2]] = m.width - px[i][:, [2, 0]]
            b[:, [0, 2]] += m.offset_x
            rows.append(pd.DataFrame(b, columns=list(BOX_COLUMNS)).assign(
                patient_id=m.patient_id, hand=m.hand, joint=list(JOINTS)))
        cols = ["patient_id", "hand", "joint", *BOX_COLUMNS]
        return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)

    def save(self, path: Union[str, Path]) -> Path:
        """Write to an .npz (no pickle), atomically: a temp file renamed into place."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"images": self.images.numpy(), "boxes": self.boxes.numpy()}
        for col in self.meta.columns:
            values = self.meta[col].to_numpy()
            arrays[f"meta__{col}"] = values.astype(str) if values.dtype == object else values
        _atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> "HandSet":
        """Read a HandSet written by `save` (allow_pickle=False)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = pd.DataFrame({k[len("meta__"):]: z[k] for k in z.files if k.startswith("meta__")})
            return cls(torch.from_numpy(z["images"].copy()), torch.from_numpy(z["boxes"].copy()), meta)


def resize_hand(image: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D hand image to `input_size` (height, width) as uint8 (area interpolation; uint16 scaled down)."""
    import cv2

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"a hand image must be 2-D (y, x), got shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) * (255.0 / 65535.0))
    elif image.dtype != np.uint8:
        raise ValueError(f"a hand image must be uint8 or uint16, got {image.dtype}")
    out = cv2.resize(image, (int(input_size[1]), int(input_size[0])), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if out.dtype != np.uint8 else out


def hands_of_radiograph(image: np.ndarray, boxes: pd.DataFrame, input_size: tuple[int, int],
                        **split_options: Any) -> list[tuple[str, np.ndarray, np.ndarray, dict]]:
    """Split one radiograph at its seam and prepare both hands: [(hand, image, boxes, meta), ...].

    image: the bilateral radiograph, 2-D uint8/uint16. boxes: its 42 joint boxes (hand, joint,
    x_min .. y_max, pixels of the radiograph). Each hand comes back resized to `input_size`
    (uint8 (H, W)), the patient's right hand mirrored into left orientation, with its 21
    boxes normalised to the resized image (float32 (21, 4), `JOINTS` order) and a meta dict.
    A hand without all 21 boxes is left out (real data may lack some).
    """
    from .preprocess import split_hands

    split = split_hands(image, mirror_right=True, **split_options)
    out = []
    for hand in HANDS:
        rows = boxes[boxes["hand"] == hand].set_index("joint")
        if not set(JOINTS) <= set(rows.index):
            continue
        half = split.hand(hand)
        h, w = half.shape
        px = split.to_half(rows.loc[list(JOINTS), list(BOX_COLUMNS)].to_numpy(dtype=float), hand)
        norm = (px / np.array([w, h, w, h], dtype=float)).astype(np.float32)
        meta = {"hand": hand, "height": h, "width": w, "offset_x": split.offset(hand),
                "mirrored": split.mirrored(hand), "radiograph_width": image.shape[1]}
        out.append((hand, resize_hand(np.ascontiguousarray(half), input_size), norm, meta))
    return out


def prepare_hands(dataset: Any, input_size: tuple[int, int], patient_ids: Optional[Iterable[str]] = None, *,
                  cache: Union[str, Path, None] = None, progress: bool = True, **split_options: Any) -> HandSet:
    """All hands of a data set (`data.Dataset`: `.patients`, `.image(pid)`, `.boxes`) as one `HandSet`.

    Each radiograph is split at its minimum-energy seam (`preprocess.split_hands`, paper §3.2),
    the right hand mirrored into left orientation, both hands resized to `input_size`
    (height, width) with their boxes scaled along. Hands without all 21 boxes are skipped
    (with a warning). `cache`: an .npz path; when it exists it is loaded instead (delete it
    to rebuild), else the result is written there -- epochs and reruns then cost no splitting.
    """
    from tqdm.auto import tqdm

    input_size = (int(input_size[0]), int(input_size[1]))
    if cache is not None and Path(cache).is_file():
        hands = HandSet.load(cache)
        if hands.input_size != input_size:
            raise ValueError(f"cached hands in {cache} are {hands.input_size}, not {input_size}; delete the file")
        return hands
    pids = list(dataset.patients if patient_ids is None else patient_ids)
    if not pids:
        raise ValueError("no patients to prepare hands from")
    by_patient = dict(tuple(dataset.boxes.groupby("patient_id", sort=False)))
    images, boxes, meta, skipped = [], [], [], 0
    for pid in tqdm(pids, desc="splitting radiographs into hands", disable=not progress):
        rows = by_patient.get(str(pid))
        if rows is None:
            skipped += 2
            continue
        found = hands_of_radiograph(dataset.image(pid), rows, input_size, **split_options)
        skipped += len(HANDS) - len(found)
        for hand, img, norm, m in found:
            images.append(img)
            boxes.append(norm)
            meta.append({"patient_id": str(pid), **m})
    if skipped:
        warnings.warn(f"{skipped} hand(s) without all {N_JOINTS} joint boxes were left out", stacklevel=2)
    if not images:
        raise ValueError("none of the patients has a hand with all 21 joint boxes")
    hands = HandSet(torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(boxes)),
                    pd.DataFrame(meta))
    if cache is not None:
        hands.save(cache)
    return hands


def mean_boxes(hands: HandSet) -> np.ndarray:
    """The average normalised layout (21, 4) of a HandSet's boxes: the regressor's starting point."""
    return hands.boxes.mean(dim=0).numpy()


HELD_OUT_FRACTION = 0.2
"""Share of patients chapter 4 holds out to test the localiser on."""


def split_patients(patient_ids: Sequence[str], test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, test) patient ids: a seeded random `test_fraction` held out, whole patients (both hands) each side."""
    ids = [str(p) for p in patient_ids]
    if not 0 < test_fraction < 1 or len(ids) < 2:
        raise ValueError(f"need 0 < test_fraction < 1 and >= 2 patients, got {test_fraction} and {len(ids)}")
    n_test = min(len(ids) - 1, max(1, int(round(len(ids) * test_fraction))))
    perm = np.random.default_rng(seed).permutation(len(ids))
    test = set(perm[:n_test].tolist())
    return [p for i, p in enumerate(ids) if i not in test], [p for i, p in enumerate(ids) if i in test]


def extra_phantom_seeds(seed: int, n: int) -> list[int]:
    """Render seeds of the localiser's extra phantom radiographs: a stream of their own, disjoint from the chapter data set's."""
    seq = np.random.SeedSequence([int(seed), 0x10C])  # 0x10C: "loc", so the stream differs from data.phantom_streams
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in seq.spawn(int(n))]


def render_phantom_hands(n_radiographs: int, seed: int, input_size: tuple[int, int], *, size: int = 700,
                         cache: Union[str, Path, None] = None, progress: bool = True,
                         **render_options: Any) -> HandSet:
    """Hands of `n_radiographs` extra phantom radiographs, rendered in memory at `size` px and prepared like `prepare_hands`.

    The localiser sees a hand at about 200 px, so rendering at a few hundred pixels instead of
    the data set's size loses nothing it could use and costs a fraction of the time. Patient ids
    are "X0000", ...; the seeds come from `extra_phantom_seeds`, so these patients are never
    among the chapter data set's (held-out) patients. `cache`: an .npz path, as in `prepare_hands`.
    """
    from tqdm.auto import tqdm

    from . import phantom

    if cache is not None and Path(cache).is_file():
        return HandSet.load(cache)
    images, boxes, meta = [], [], []
    for i, s in enumerate(tqdm(extra_phantom_seeds(seed, n_radiographs), desc="rendering extra phantom hands",
                               disable=not progress)):
        rad = phantom.render(s, size=size, **render_options)
        for hand, img, norm, m in hands_of_radiograph(rad.image, rad.boxes, input_size):
            images.append(img)
            boxes.append(norm)
            meta.append({"patient_id": f"X{i:04d}", **m})
    if not images:
        raise ValueError("n_radiographs must be >= 1")
    hands = HandSet(torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(boxes)), pd.DataFrame(meta))
    if cache is not None:
        hands.save(cache)
    return hands


def concat_hands(*sets: HandSet) -> HandSet:
    """One HandSet holding the hands of several (same input size), in order."""
    sets = [s for s in sets if s is not None and len(s)]
    if not sets:
        raise ValueError("nothing to concatenate")
    if len({s.input_size for s in sets}) != 1:
        raise ValueError(f"hand sets of different input sizes {[s.input_size for s in sets]}")
    return HandSet(torch.cat([s.images for s in sets]), torch.cat([s.boxes for s in sets]),
                   pd.concat([s.meta for s in sets], ignore_index=True))


PREP_VERSION = 1
"""Version of the hand preparation (split, mirror, resize); part of every cache key, bump it when that changes."""


def _cache_key(*parts: Any) -> str:
    """Short hash of JSON-able parts: names a cache file after everything that determines its content."""
    import hashlib

    text = json.dumps([PREP_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _phantom_fingerprint() -> str:
    """Hash of the phantom's source code: hands rendered by other code are stale (chapter 4's cache)."""
    import hashlib
    import inspect

    from . import disease, phantom

    return hashlib.sha256("".join(inspect.getsource(m) for m in (phantom, disease)).encode()).hexdigest()[:16]


@dataclass
class LocalizationData:
    """Chapter 4's hands: `train` (training patients + extra phantom hands) and `test` (held-out patients)."""

    train: HandSet
    test: HandSet
    train_patients: list[str]
    test_patients: list[str]
    n_extra_radiographs: int
    seconds: float

    def summary(self) -> pd.Series:
        """Counts for the chapter to show."""
        return pd.Series({"training patients (data set)": len(self.train_patients),
                          "extra phantom radiographs (training only)": self.n_extra_radiographs,
                          "training hands": len(self.train), "held-out patients": len(self.test_patients),
                          "held-out hands": len(self.test), "input size (H, W)": self.train.input_size,
                          "preparation seconds": round(self.seconds, 1)}, name="localisation data")


def localization_data(dataset: Any, profile: Any, seed: int = 0, *, cache_dir: Union[str, Path, None] = None,
                      progress: bool = True) -> LocalizationData:
    """The hands chapter 4 trains and tests the localiser on, prepared once and cached.

    dataset: a `data.Dataset` (the chapter data set: phantom or real). profile: a `profiles.Profile`.
    Patients are split by `split_patients` (HELD_OUT_FRACTION held out, seeded); their hands are
    prepared with `prepare_hands` at `profile.loc_input_size`. For the phantom, when the training
    patients have fewer than `profile.loc_train_hands` hands, extra phantom radiographs are rendered
    at `profile.loc_render_size` px (`render_phantom_hands`, their own seed stream) and added to the
    training hands only; the test hands are always the data set's held-out patients. Real data gets
    no synthetic hands. cache_dir: where the prepared tensors are kept (None = `<artifacts>/cache/`).
    """
    from .data import artifacts_dir

    start = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir is not None else artifacts_dir() / "cache"
    size = tuple(int(v) for v in profile.loc_input_size)
    train_ids, test_ids = split_patients(dataset.patients, HELD_OUT_FRACTION, seed)
    info = dict(getattr(dataset, "info", {}) or {})
    sets = {}
    for name, ids in (("train", train_ids), ("test", test_ids)):
        key = _cache_key(info, ids, size)
        sets[name] = prepare_hands(dataset, size, ids, cache=cache_dir / f"hands-{name}-{key}.npz", progress=progress)
    train, n_extra = sets["train"], 0
    if getattr(dataset, "is_phantom", False) and profile.loc_train_hands > len(train):
        n_extra = math.ceil((profile.loc_train_hands - len(train)) / len(HANDS))
        key = _cache_key(_phantom_fingerprint(), n_extra, seed, profile.loc_render_size, size)
        extra = render_phantom_hands(n_extra, seed, size, size=profile.loc_render_size,
                                     cache=cache_dir / f"hands-extra-{key}.npz", progress=progress)
        train = concat_hands(train, extra)
    return LocalizationData(train, sets["test"], train_ids, test_ids, n_extra, time.perf_counter() - start)


# ============================================================================ training (paper §3.3-3.4)


@dataclass(frozen=True)
class LocalizerConfig:
    """Everything that defines one localiser training run; saved as the checkpoint's JSON.

    Model: backbone (timm name), input_size (H, W), coord_channels, pool_grid, hidden.
    Training: epochs, loss ("schedule" = paper eq. (1): MSE up to switch_epoch, DIoU after;
    "mse"; "diou"), batch_size, lr (AdamW, cosine decay after a short warm-up), weight_decay
    (paper §3.4: 1e-2), grad_clip (max gradient norm; paper §3.4 clips), augment, seed.
    """

    backbone: str
    input_size: tuple[int, int]
    coord_channels: bool = True
    pool_grid: tuple[int, int] = (2, 1)
    hidden: int = 512
    epochs: int = 10
    switch_epoch: int = 3
    loss: str = "schedule"
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-2
    grad_clip: float = 5.0
    warmup_fraction: float = 0.05
    augment: Augment = field(default_factory=Augment)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0, got {self.epochs}, "
                             f"{self.batch_size}, {self.lr}")
        if not 0 <= self.switch_epoch:
            raise ValueError(f"switch_epoch must be >= 0, got {self.switch_epoch}")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "pool_grid", tuple(int(v) for v in self.pool_grid))
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", Augment(**self.augment))

    @classmethod
    def from_profile(cls, profile: Any, **changes: Any) -> "LocalizerConfig":
        """The profile's localiser (`loc_*` fields of `profiles.Profile`), with `changes` applied."""
        values = dict(backbone=profile.loc_backbone, input_size=profile.loc_input_size,
                      pool_grid=profile.loc_pool_grid, hidden=profile.loc_hidden, epochs=profile.loc_epochs,
                      switch_epoch=profile.loc_switch_epoch, batch_size=profile.loc_batch_size, lr=profile.loc_lr,
                      augment=Augment(*profile.loc_augment))
        values.update(changes)
        return cls(**values)

    def replace(self, **changes: Any) -> "LocalizerConfig":
        """A copy with some fields changed (the ablation's variants)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """A JSON-ready dict (tuples -> lists, the augmentation as a dict)."""
        d = dataclasses.asdict(self)
        d["input_size"], d["pool_grid"] = list(self.input_size), list(self.pool_grid)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "LocalizerConfig":
        """Inverse of `to_json`; unknown keys are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown localiser config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{**d, "augment": Augment(**d.get("augment", {}))})


def build_model(config: LocalizerConfig) -> BoxRegressor:
    """The untrained `BoxRegressor` a config describes."""
    return BoxRegressor(config.backbone, config.input_size, coord_channels=config.coord_channels,
                        pool_grid=config.pool_grid, hidden=config.hidden)


@dataclass
class TrainResult:
    """What `train_localizer` returns: the model (eval mode), its config, the per-epoch history, the time."""

    model: BoxRegressor
    config: LocalizerConfig
    history: pd.DataFrame
    seconds: float

    @property
    def final(self) -> dict:
        """The last epoch's row of the history as a dict."""
        return self.history.iloc[-1].to_dict()


def _lr_lambda(total_steps: int, warmup_fraction: float):
    """Linear warm-up, then cosine decay to 2 % of the peak (per optimiser step)."""
    warmup = max(1, int(round(total_steps * warmup_fraction)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def predict_boxes(model: BoxRegressor, hands: HandSet, *, batch_size: int = 64,
                  device: Union[str, torch.device] = "cpu") -> np.ndarray:
    """Normalised boxes (N, 21, 4) float32 that `model` predicts for the hands of `hands` (eval mode)."""
    if hands.input_size != tuple(model.input_size):
        raise ValueError(f"the hands are {hands.input_size} but the model was built for {tuple(model.input_size)}; "
                         f"prepare the hands at the model's input size")
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(hands), batch_size):
        x = standardize(hands.images[start:start + batch_size]).to(device)
        out.append(model(x).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, N_JOINTS, 4), np.float32)


def evaluate(model: BoxRegressor, hands: HandSet, *, device: Union[str, torch.device] = "cpu") -> dict[str, float]:
    """loc_accuracy and mean_iou of the model on `hands`, in pixels of the hand images (paper §3.5)."""
    pred = hands.pixel_boxes(predict_boxes(model, hands, device=device))
    return summary_metrics(pred, hands.pixel_boxes())


def train_localizer(train: HandSet, config: LocalizerConfig, val: Optional[HandSet] = None, *,
                    device: Union[str, torch.device] = "cpu", progress: bool = True,
                    desc: str = "training the localiser") -> TrainResult:
    """Train a `BoxRegressor` on `train` (paper §3.3-3.4, scaled by `config`); evaluate on `val` each epoch.

    Determinism: torch.manual_seed(config.seed) before the model is built; the epoch order
    and the augmentations come from generators seeded with config.seed. AdamW, cosine
    learning rate with warm-up, gradient clipping, the loss of paper eq. (1) per epoch.
    The head starts at the training set's mean layout (`BoxRegressor.set_prior`). On a GPU the
    uint8 hands move to it once and are standardised and augmented there, under bfloat16
    autocast (the loss in float32).
    Returns a `TrainResult`; history columns: epoch, loss_kind, train_loss, lr, seconds and,
    with `val`, val_loc_accuracy and val_mean_iou.
    """
    from tqdm.auto import tqdm

    if len(train) == 0:
        raise ValueError("the training set holds no hands")
    if train.input_size != config.input_size:
        raise ValueError(f"training hands are {train.input_size} but the config asks for {config.input_size}")
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    model = build_model(config)
    model.set_prior(mean_boxes(train))
    model.to(device).train()
    cuda = torch.device(device).type == "cuda"
    images_all, boxes_all = train.images.to(device), train.boxes.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config.epochs * steps_per_epoch,
                                                                config.warmup_fraction))
    order_rng = np.random.default_rng(config.seed)
    aug_gen = torch.Generator().manual_seed(config.seed)
    h, w = config.input_size
    to_px = torch.tensor([w, h, w, h], dtype=torch.float32, device=device)
    history = []
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=not progress)
    for epoch in bar:
        which = loss_for_epoch(epoch, config.switch_epoch, config.loss)
        model.train()
        total, seen = 0.0, 0
        for idx in np.array_split(order_rng.permutation(len(train)), steps_per_epoch):
            idx_t = torch.from_numpy(idx).to(device)
            images = standardize(images_all[idx_t])
            boxes = boxes_all[idx_t]
            if config.augment.active:
                mats = random_affines(len(idx), config.input_size, config.augment, aug_gen)
                images = warp_images(images, mats)
                boxes = transform_boxes(boxes * to_px, mats, "centre") / to_px
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                pred = model(images)
            loss = localization_loss(pred.float(), boxes, which, config.input_size)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        row = {"epoch": epoch, "loss_kind": which, "train_loss": total / seen, "lr": opt.param_groups[0]["lr"]}
        if val is not None and len(val):
            row.update({f"val_{k}": v for k, v in evaluate(model, val, device=device).items()})
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("train_loss", "val_loc_accuracy", "val_mean_iou")})
    model.eval()
    return TrainResult(model, config, pd.DataFrame(history), time.perf_counter() - start)


# ============================================================================ checkpoints (safetensors + JSON)


def _paths(path: Union[str, Path]) -> tuple[Path, Path]:
    """(weights, config) paths of a checkpoint: `<stem>.safetensors` and `<stem>.json`."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_localizer(path: Union[str, Path], model: BoxRegressor, config: Union[LocalizerConfig, dict],
                   extra: Optional[dict] = None) -> Path:
    """Save a localiser as `<path>.safetensors` (weights) + `<path>.json` (config; no pickle anywhere).

    path: a stem (".safetensors" / ".json" suffixes are stripped). config: the `LocalizerConfig`
    (or its JSON dict) the model was trained with; extra: more JSON (metrics, data seed ...).
    Returns the weights path.
    """
    from safetensors.torch import save_file

    weights, meta = _paths(path)
    cfg = config.to_json() if isinstance(config, LocalizerConfig) else dict(config)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    doc = {"format": "rheumabook.localize/1", "config": cfg, "joints": list(JOINTS), "extra": extra or {}}
    text = json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n"
    _atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": "rheumabook.localize/1"}))
    _atomic_write(meta, lambda tmp: Path(tmp).write_text(text))
    return weights


def load_localizer(path: Union[str, Path], *, device: Union[str, torch.device] = "cpu"
                   ) -> tuple[BoxRegressor, LocalizerConfig, dict]:
    """Load a localiser saved by `save_localizer`: (model in eval mode, config, extra)."""
    from safetensors.torch import load_file

    weights, meta = _paths(path)
    for p in (weights, meta):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: missing; a localiser checkpoint is a .safetensors + .json pair")
    doc = json.loads(meta.read_text())
    if doc.get("format") != "rheumabook.localize/1":
        raise ValueError(f"{meta}: not a rheumabook localiser checkpoint (format {doc.get('format')!r})")
    if list(doc.get("joints", [])) != list(JOINTS):
        raise ValueError(f"{meta}: trained for joints {doc.get('joints')}, the book uses {list(JOINTS)}")
    config = LocalizerConfig.from_json(doc["config"])
    model = build_model(config)
    model.load_state_dict(load_file(str(weights), device="cpu"))
    return model.to(device).eval(), config, doc.get("extra", {})


def default_checkpoint(profile_name: str, seed: int, data_kind: str = "phantom") -> Path:
    """Where chapter 4 stores the profile's localiser: `<artifacts>/models/localizer-<profile>-seed<seed>[-<kind>]`.

    data_kind: "phantom" (no suffix) or e.g. "real" -- a model trained on real data is kept apart.
    """
    from .data import artifacts_dir

    suffix = "" if data_kind == "phantom" else f"-{data_kind}"
    return artifacts_dir() / "models" / f"localizer-{profile_name}-seed{seed}{suffix}"


def load_or_train_localizer(profile: Any, dataset: Any = None, *, seed: int = 0,
                            device: Union[str, torch.device] = "cpu", path: Union[str, Path, None] = None,
                            progress: bool = True) -> tuple[BoxRegressor, LocalizerConfig]:
    """The profile's localiser: loaded from `<artifacts>/models/` if chapter 4 saved it, else trained now.

    profile: a `profiles.Profile`. dataset: the `data.Dataset` to train on when no checkpoint
    exists (None = `data.chapter_dataset(profile=profile, seed=seed)`). Says which it did.
    Training here uses chapter 4's training hands (`localization_data`: its held-out 20 % of
    patients stay unseen), so the model is the one chapter 4 would have saved.
    """
    if path is None:
        kind = "phantom" if dataset is None or getattr(dataset, "is_phantom", False) else "real"
        path = default_checkpoint(profile.name, seed, kind)
    path = Path(path)
    if _paths(path)[0].is_file():
        model, config, _ = load_localizer(path, device=device)
        print(f"Loaded the localiser from {_paths(path)[0]} ({config.backbone}, input {config.input_size}).")
        return model, config
    print(f"No saved localiser at {_paths(path)[0]}: training the {profile.name!r} profile's localiser now "
          f"(chapter 4 does the same and saves it).")
    if dataset is None:
        from .data import chapter_dataset

        dataset = chapter_dataset(profile=profile, seed=seed, progress=progress)
    config = LocalizerConfig.from_profile(profile, seed=seed)
    hands = localization_data(dataset, profile, seed, progress=progress)
    result = train_localizer(hands.train, config, device=device, progress=progress)
    save_localizer(path, result.model, config, extra={"train_seconds": result.seconds, "train_hands": len(hands.train)})
    return result.model, config


# ============================================================================ the Table 2 ablation (paper §4.1)

PAPER_TABLE2 = pd.DataFrame(
    [("RetinaNet", 0.21, 0.18), ("SSD", 0.68, 0.93), ("Resnet-50 + MSE loss", 0.56, 0.90),
     ("Resnet-50 + DIoU-loss", 0.65, 0.98), ("Resnet-50 + DIoU-loss + coordinate grid", 0.68, 0.98),
     ("EfficientNet-V2-S + DIoU-loss + coordinate grid", 0.71, 0.99),
     ("EfficientNet-V2-L + DIoU-loss + coordinate grid", 0.72, 0.98)],
    columns=["paper_model", "paper_iou", "paper_loc_accuracy"])
"""Paper Table 2 (joint localisation on the clinic's real radiographs), for chapter 4 to print beside its own."""


def ablation_variants(backbones: Sequence[str]) -> pd.DataFrame:
    """The Table 2 rows chapter 4 re-runs: (resnet-like) backbones[1] with MSE, DIoU, DIoU + grid; backbones[0] with DIoU + grid.

    Columns: variant, backbone, loss ("mse" or "schedule" = eq. (1)), coord_channels, paper_model
    (the Table 2 row it stands for). backbones: (efficientnet-like, resnet-like) timm names, as in
    `profiles.Profile.loc_ablation_backbones`.
    """
    if len(backbones) != 2:
        raise ValueError(f"the ablation needs two backbones (efficientnet-like, resnet-like), got {backbones!r}")
    eff, res = backbones
    rows = [(f"{res} + MSE loss", res, "mse", False, "Resnet-50 + MSE loss"),
            (f"{res} + DIoU loss", res, "schedule", False, "Resnet-50 + DIoU-loss"),
            (f"{res} + DIoU loss + coordinate grid", res, "schedule", True, "Resnet-50 + DIoU-loss + coordinate grid"),
            (f"{eff} + DIoU loss + coordinate grid", eff, "schedule", True,
             "EfficientNet-V2-S + DIoU-loss + coordinate grid")]
    return pd.DataFrame(rows, columns=["variant", "backbone", "loss", "coord_channels", "paper_model"])


def run_ablation(train: HandSet, test: HandSet, base: LocalizerConfig, backbones: Sequence[str], *,
                 epochs: int, n_hands: Optional[int] = None, progress: bool = True) -> pd.DataFrame:
    """Train each `ablation_variants` row briefly and measure it on `test` (a Table 2 at this profile's scale).

    base: the config the variants start from (input size, head, lr, augmentation, seed). Each run
    trains `epochs` epochs on the first `n_hands` training hands (all if None); the MSE -> DIoU
    switch is scaled to the same fraction of the run as in `base`. Returns the variants with
    loc_accuracy, mean_iou, parameters and seconds, the paper's numbers beside them.
    """
    subset = train if n_hands is None or n_hands >= len(train) else train.subset(range(int(n_hands)))
    switch = max(1, int(round(epochs * base.switch_epoch / base.epochs)))
    rows = []
    for v in ablation_variants(backbones).itertuples(index=False):
        cfg = base.replace(backbone=v.backbone, loss=v.loss, coord_channels=bool(v.coord_channels),
                           epochs=int(epochs), switch_epoch=switch)
        result = train_localizer(subset, cfg, progress=progress, desc=f"ablation: {v.variant}")
        rows.append({**v._asdict(), **evaluate(result.model, test), "parameters": count_parameters(result.model),
                     "seconds": result.seconds})
    return pd.DataFrame(rows).merge(PAPER_TABLE2, on="paper_model", how="left")
