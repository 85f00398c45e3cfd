"""Geometric augmentation that moves the boxes with the image (rotation, zoom, shift; no flips).

`random_affines` draws pixel-space affine maps from an `Augment`'s ranges, `warp_images` applies
them to a batch and `transform_boxes` moves its boxes along (box centres mapped exactly, sizes
scaled). `standardize` is the per-image normalisation every model input goes through.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..boxes import ArrayLike, box_centers
from ..profiles import Augment

__all__ = ["Augment", "affine_matrix", "random_affines", "warp_images", "BOX_TRANSFORMS", "transform_boxes",
           "standardize"]


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
        centre = box_centers(boxes)
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
