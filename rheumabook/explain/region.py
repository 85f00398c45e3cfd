"""Where a map's mass falls: the fraction inside a region, against the region's share of the area.

A saliency or rollout map that "looks at the joint" puts more of its mass inside the joint
region than the region's share of the crop: ``region_mass_ratio = mass fraction / area
fraction`` is 1 for a uniform map, above 1 when the map concentrates on the region, and at
most ``1 / area fraction`` (all mass inside).

The joint box inside a scoring crop follows from `rheumabook.scoring.crops.crop_windows`:
the box is squared about its centre (side ``max(width, height)``), the window's side is that
times ``sqrt(factor)`` (an *area* factor) rounded to whole pixels, and the window is resized
to ``crop_size``. So the squared box is the central square of side ``crop_size / sqrt(factor)``
(up to the window's rounding to whole pixels); given the boxes themselves,
`joint_region_masks` maps each box's own rectangle through its exact window instead.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["mass_in_region", "region_mass_ratio", "joint_region_masks"]

ArrayLike = Union[np.ndarray, "torch.Tensor"]  # noqa: F821 -- torch tensors are accepted, not required


def _as_array(values: ArrayLike, name: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ValueError(f"{name} must be (N, H, W) or (H, W), got shape {values.shape}")
    return values


def _heat_and_masks(heat: ArrayLike, masks: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    heat = _as_array(heat, "heat").astype(np.float64)
    masks = _as_array(masks, "masks")
    if masks.dtype != bool:
        raise ValueError(f"masks must be boolean, got dtype {masks.dtype}")
    if masks.shape[1:] != heat.shape[1:] or masks.shape[0] not in (1, heat.shape[0]):
        raise ValueError(f"masks {masks.shape} do not fit heat {heat.shape}: one (H, W) mask or one per map")
    if (heat < 0).any() or not np.isfinite(heat).all():
        raise ValueError("heat maps must be finite and non-negative")
    return heat, np.broadcast_to(masks, heat.shape)


def mass_in_region(heat: ArrayLike, masks: ArrayLike) -> np.ndarray:
    """(N,) fraction of each map's mass inside its mask.

    heat: (N, H, W) or (H, W) non-negative maps (numpy or torch; need not be normalised).
    masks: boolean (N, H, W), or one (H, W) mask for all maps. An all-zero map is refused.
    """
    heat, masks = _heat_and_masks(heat, masks)
    total = heat.sum(axis=(1, 2))
    if (total <= 0).any():
        raise ValueError(f"map {int(np.argmax(total <= 0))} has no mass (all zero): its fraction is undefined")
    return (heat * masks).sum(axis=(1, 2)) / total


def region_mass_ratio(heat: ArrayLike, masks: ArrayLike) -> np.ndarray:
    """(N,) mass fraction inside the mask divided by the mask's area fraction (1 = no preference)."""
    fraction = mass_in_region(heat, masks)
    _, masks = _heat_and_masks(heat, masks)
    area = masks.mean(axis=(1, 2))
    if (area <= 0).any():
        raise ValueError(f"mask {int(np.argmax(area <= 0))} is empty: the ratio is undefined")
    return fraction / area


def _inside(lo: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    """(N, size) bool: pixel centres (k + 0.5) within [lo, hi) per row."""
    centres = np.arange(size) + 0.5
    return (centres[None, :] >= lo[:, None]) & (centres[None, :] < hi[:, None])


def joint_region_masks(crop_size: int, factor: Union[float, Sequence[float], np.ndarray] = 2.5,
                       boxes: Optional[np.ndarray] = None, hands: Union[str, Sequence[str], None] = None
                       ) -> np.ndarray:
    """Boolean mask(s) of the joint box inside its enlarged crop (module docstring).

    crop_size: side of the square crops (pixels). factor: the area enlargement the crops were
        cut with (`rheumabook.scoring.EVAL_FACTOR` = 2.5 at evaluation), one or one per box.
    boxes: None -> one (crop_size, crop_size) mask, the central square of side
        ``crop_size / sqrt(factor)`` (the squared box). Else (N, 4) boxes (x_min, y_min, x_max, y_max)
        in pixels of the radiograph -> (N, crop_size, crop_size) masks of each box's own rectangle,
        mapped through its exact `crop_windows` window; `hands` ("left"/"right", one or per box)
        mirrors right-hand rectangles as `crop_joints` mirrors their crops.
    A pixel belongs to the region when its centre lies in the half-open box [min, max).
    """
    from ..scoring.crops import as_boxes, crop_windows

    if isinstance(crop_size, bool) or int(crop_size) != crop_size or crop_size < 1:
        raise ValueError(f"crop_size must be a positive integer, got {crop_size!r}")
    size = int(crop_size)
    if boxes is None:
        factor = float(np.asarray(factor, dtype=float).reshape(-1)[0]) if np.ndim(factor) else float(factor)
        if not np.isfinite(factor) or factor < 1:
            raise ValueError(f"an area factor >= 1 is needed for the box to lie inside the crop, got {factor}")
        half = size / np.sqrt(factor) / 2
        inside = _inside(np.array([size / 2 - half]), np.array([size / 2 + half]), size)[0]
        return inside[:, None] & inside[None, :]
    boxes = as_boxes(boxes)
    windows = crop_windows(boxes, factor)
    scale = size / (windows[:, 2] - windows[:, 0])
    x0, x1 = (boxes[:, 0] - windows[:, 0]) * scale, (boxes[:, 2] - windows[:, 0]) * scale
    y0, y1 = (boxes[:, 1] - windows[:, 1]) * scale, (boxes[:, 3] - windows[:, 1]) * scale
    if hands is not None:
        right = np.asarray([hands] * len(boxes) if isinstance(hands, str) else list(hands)) == "right"
        if right.shape != (len(boxes),):
            raise ValueError(f"hands must be one name or one per box ({len(boxes)}), got {len(right)}")
        x0, x1 = np.where(right, size - x1, x0), np.where(right, size - x0, x1)
    return _inside(y0, y1, size)[:, :, None] & _inside(x0, x1, size)[:, None, :]
