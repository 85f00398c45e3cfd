"""The paper's scoring augmentations (§3.4) through torchvision ``transforms.v2``, seeded, per crop.

The paper lists albumentations' InvertImg, ColorJitter, HorizontalFlip, RandomRotate90, Rotate
and CropAndPad. Their torchvision counterparts, applied to a float crop in [0, 1]:

- InvertImg -> ``v2.RandomInvert`` (1 - x);
- ColorJitter -> ``v2.ColorJitter`` (brightness and contrast: a grayscale crop has no hue or saturation);
- HorizontalFlip -> ``v2.RandomHorizontalFlip``;
- RandomRotate90 -> ``v2.RandomChoice`` of ``v2.RandomRotation`` by exactly 0, 90, 180 or 270 degrees;
- Rotate -> ``v2.RandomRotation`` (small angles, zero fill);
- CropAndPad -> ``v2.RandomCrop(size, padding=...)``: zero-pad every side, then cut a crop of the
  original size at a random place, so each side is cropped or padded by up to that margin.

torchvision draws a transform's parameters once per call, so `augment_crops` calls the pipeline on
each crop separately, inside ``torch.random.fork_rng`` seeded from a `torch.Generator`: the same
generator state gives the same augmented batch, and the global torch generator is left untouched.
CropAndPad alone (the quick profile's) is applied to the whole batch at once (`CropAndPad`): the
same draws in the same order, the same pixels, without a call per crop (it was a tenth of a CPU
training step).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

__all__ = ["AUGMENT_SETS", "augmentations", "paper_augmentations", "to_unit", "standardize_crops", "augment_crops",
           "CropAndPad"]


def paper_augmentations(size: int, *, invert: float = 0.2, jitter: float = 0.2, rotation_deg: float = 15.0,
                        pad_fraction: float = 0.1):
    """The v2 pipeline of the paper's six augmentations for square crops of side `size` (see module docstring)."""
    from torchvision.transforms import v2

    rot90 = v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0.0, 90.0, 180.0, 270.0)])
    return v2.Compose([
        v2.RandomInvert(p=invert),
        v2.RandomApply([v2.ColorJitter(brightness=jitter, contrast=jitter)], p=0.5),
        v2.RandomHorizontalFlip(p=0.5),
        rot90,
        v2.RandomRotation(rotation_deg, fill=0.0),
        v2.RandomCrop(size, padding=max(1, int(round(pad_fraction * size))), fill=0.0),
    ])


AUGMENT_SETS: tuple[str, ...] = ("paper", "crop_and_pad", "none")
"""`ScoringConfig.augment` values: all six of the paper's augmentations, only CropAndPad (the crop moved by up
to a tenth of its side, as an imprecise box would move it), or none."""


def augmentations(name: str, size: int):
    """The v2 pipeline `name` (`AUGMENT_SETS`) for crops of side `size`; None for "none"."""
    from torchvision.transforms import v2

    if name not in AUGMENT_SETS:
        raise ValueError(f"augment must be one of {AUGMENT_SETS}, got {name!r}")
    if name == "none":
        return None
    if name == "crop_and_pad":
        return CropAndPad(size, max(1, int(round(0.1 * size))))
    return paper_augmentations(size)


def to_unit(crops: np.ndarray) -> torch.Tensor:
    """(N, S, S) crops -> float32 (N, 1, S, S) in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are."""
    crops = np.asarray(crops)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(crops.dtype, 1.0)
    return torch.from_numpy(crops.astype(np.float32) / np.float32(scale)).unsqueeze(1)


def standardize_crops(x: torch.Tensor) -> torch.Tensor:
    """Each crop to mean 0 and standard deviation 1 (floor 1e-3): exposure differences drop out."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True).clamp(min=1e-3)
    return (x - mean) / std


def augment_crops(x: torch.Tensor, generator: torch.Generator, pipeline: Optional[object] = None) -> torch.Tensor:
    """Augment each crop of a float (N, 1, S, S) batch in [0, 1] with its own random draw of `pipeline`.

    generator: the seeded source of the draws (one integer per batch); the global torch generator is
    restored afterwards. pipeline: a v2 transform (default `paper_augmentations(S)`).
    """
    if x.ndim != 4:
        raise ValueError(f"crops must be (N, 1, S, S), got {tuple(x.shape)}")
    pipeline = paper_augmentations(x.shape[-1]) if pipeline is None else pipeline
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(pipeline, CropAndPad):
            return pipeline.batch(x)
        return torch.stack([pipeline(crop) for crop in x])


@dataclass(frozen=True)
class CropAndPad:
    """CropAndPad as ``v2.RandomCrop(size, padding=pad, fill=0.0)`` draws it, for a whole batch at once.

    torchvision pads each crop by `pad` zeros on every side, draws the top and then the left corner
    with ``torch.randint`` from the global generator and cuts `size` x `size`. `batch` pads the batch
    once, makes the same draws in the same order and slices every crop: the pixels of torchvision's
    per-crop loop, exactly (tests/test_scoring_train.py), without its per-call overhead.
    """

    size: int
    pad: int

    def __call__(self, crop: torch.Tensor) -> torch.Tensor:
        """One (C, S, S) crop, as the v2 transform would return it."""
        return self.batch(crop[None])[0]

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) crops, each with its own draw, in order."""
        padded = torch.nn.functional.pad(x, (self.pad,) * 4, value=0.0)
        _, _, ph, pw = padded.shape
        cuts = []
        for crop in padded:  # torchvision's draws for each call, in its order: top, then left
            top = int(torch.randint(0, ph - self.size + 1, size=())) if ph > self.size else 0
            left = int(torch.randint(0, pw - self.size + 1, size=())) if pw > self.size else 0
            cuts.append(crop[:, top:top + self.size, left:left + self.size])
        # stacked as torchvision's loop is: the same values and the same memory layout (a permuted copy of a
        # one-channel batch can look channels-last to the convolutions, which then round differently)
        return torch.stack(cuts)
