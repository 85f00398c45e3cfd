"""Augmentation of the localiser's training batches: geometry that moves the boxes, and domain randomisation.

Geometry (no flips): `random_affines` draws pixel-space affine maps from an `Augment`'s ranges
(rotation, zoom, shift), `random_frame_jitter` the framing's jitter (width and height zoomed
independently, shifted), `warp_images` applies them to a batch and `transform_boxes` moves its
boxes along (box centres mapped exactly, widths and heights scaled).
Domain randomisation (issue 9: a model trained on the phantom alone must meet real films):
`randomize_appearance` varies contrast, brightness, gamma, polarity (inversion), sharpness
(Gaussian blur), noise and adds occluding marker plates -- the image only, boxes stay.
`augment_batch` is the whole training-time chain (the one step `train._batch_step` calls), with
every random number drawn from one seeded `torch.Generator`, so a run is reproducible.
`standardize` is the per-image normalisation every model input goes through.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..boxes import ArrayLike, box_centers
from ..profiles import Augment

__all__ = ["Augment", "affine_matrix", "random_affines", "random_frame_jitter", "warp_images", "BOX_TRANSFORMS",
           "transform_boxes", "randomize_appearance", "augment_batch", "standardize"]


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


def random_frame_jitter(n: int, size: tuple[int, int], jitter: float, generator: torch.Generator) -> torch.Tensor:
    """`n` pixel-space maps (n, 3, 3) that vary the framing: x and y zoomed about the centre by independent
    factors 1 +- `jitter`, then shifted by +- jitter / 2 of the width and height (a tighter or looser crop)."""
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64) * 2 - 1
    h, w = size
    sx, sy = 1 + u[:, 0] * jitter, 1 + u[:, 1] * jitter
    m = torch.zeros(n, 3, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 1, 1], m[:, 2, 2] = sx, sy, 1
    m[:, 0, 2] = w / 2 * (1 - sx) + u[:, 2] * jitter / 2 * w
    m[:, 1, 2] = h / 2 * (1 - sy) + u[:, 3] * jitter / 2 * h
    return m


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
    width and height are multiplied by the lengths of the map's x and y columns (its zoom along
    each axis; for rotation + zoom both are the zoom, rotation ignored). A joint box is
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
        scale = torch.linalg.vector_norm(m[:, :2, :2], dim=1)[:, None, :]  # (N, 1, 2): zoom of x and of y
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


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur of (N, 1, H, W) images with a per-image sigma (N,) in pixels (0 = unchanged), reflect padding."""
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    s = sigma.to(x.device, x.dtype).clamp(min=1e-3)[:, None]
    k = torch.exp(-0.5 * (t[None] / s) ** 2)
    k = k / k.sum(dim=1, keepdim=True)  # (N, K); sigma ~0 gives a delta
    n, _, h, w = x.shape
    y = F.pad(x.reshape(1, n, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=n)
    y = F.conv2d(y, k[:, None, :, None], groups=n)
    return y.reshape(n, 1, h, w)


def _plates(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Paint one rectangle (8-30 % of the width and height, bright or dark) on each image with probability `p`."""
    n, _, h, w = x.shape
    u = torch.rand(n, 6, generator=generator)
    on = u[:, 0] < p
    pw, ph = (0.08 + 0.22 * u[:, 1]) * w, (0.08 + 0.22 * u[:, 2]) * h
    x0, y0 = u[:, 3] * (w - pw), u[:, 4] * (h - ph)
    value = torch.where(u[:, 5] < 0.5, 0.05 + 0.1 * u[:, 5], 0.85 + 0.2 * (u[:, 5] - 0.5))
    xs = torch.arange(w, dtype=torch.float32)[None, :]
    ys = torch.arange(h, dtype=torch.float32)[None, :]
    inside_x = (xs >= x0[:, None]) & (xs < (x0 + pw)[:, None])
    inside_y = (ys >= y0[:, None]) & (ys < (y0 + ph)[:, None])
    mask = (inside_y[:, :, None] & inside_x[:, None, :] & on[:, None, None])[:, None].to(x.device)
    return torch.where(mask, value.to(x.device, x.dtype)[:, None, None, None], x)


def randomize_appearance(images: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """Domain randomisation of float images (N, 1, H, W) on a 0..1 scale; returns the same shape and dtype.

    In this order, each with its own per-image draw from `generator`: contrast and brightness
    (about mid-grey, clipped to 0..1), gamma, a marker plate, inversion, blur, noise. A zero
    range (or probability) leaves its step out. Radiographs differ in all of these between
    machines, exposures and display settings, and the phantom varies them only a little.
    """
    x = images
    n = x.shape[0]
    u = torch.rand(n, 7, generator=generator, dtype=torch.float32)
    sym = (u * 2 - 1).to(x.device, x.dtype)[:, :, None, None]  # (N, 7, 1, 1) in [-1, 1]
    if augment.contrast:
        gain = torch.exp(sym[:, 0:1] * augment.contrast)
        x = ((x - 0.5) * gain + 0.5 + sym[:, 1:2] * augment.contrast / 4).clamp(0, 1)
    if augment.gamma:
        x = x.clamp(min=1e-6) ** torch.exp(sym[:, 2:3] * augment.gamma)
    if augment.plates:
        x = _plates(x, augment.plates, generator)
    if augment.invert:
        flip = (u[:, 3] < augment.invert).to(x.device)[:, None, None, None]
        x = torch.where(flip, 1 - x, x)
    if augment.blur:
        x = _blur(x, u[:, 4] * augment.blur)
    if augment.noise:
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
        x = x + noise * (u[:, 5] * augment.noise).to(x.device, x.dtype)[:, None, None, None]
    return x


def augment_batch(images: torch.Tensor, boxes: torch.Tensor, augment: Augment,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch augmented: uint8 images (N, 1, H, W) and normalised boxes (N, K, 4) ->
    (standardised float images, normalised boxes moved along).

    Geometry first (`random_affines` composed with `random_frame_jitter`, one warp, border fill),
    then `randomize_appearance` on the 0..1 scale, then `standardize`. Without augmentation this
    is `standardize(images)`, exactly what inference does.
    """
    x = images.float() / 255.0
    if augment.geometric:
        n, _, h, w = x.shape
        mats = random_affines(n, (h, w), augment, generator)
        if augment.frame_jitter:
            mats = mats @ random_frame_jitter(n, (h, w), augment.frame_jitter, generator)
        x = warp_images(x, mats)
        to_px = torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
        boxes = transform_boxes(boxes * to_px, mats, "centre") / to_px
    if augment.photometric:
        x = randomize_appearance(x, augment, generator)
    return standardize(x), boxes
