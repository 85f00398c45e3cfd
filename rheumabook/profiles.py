"""Profiles: the one place that sets the size of everything that costs time.

- ``quick``: the default without a GPU. The whole book executes on a 2-core
  laptop in minutes (and in CI). It renders fewer, smaller radiographs and
  trains small models for few epochs, so its numbers are rougher.
- ``full``: the default with a GPU; paper-scale settings (paper §3.3-3.4).

A chapter's parameters cell reads ``profile = "auto"``. Resolution order:
an explicit name (papermill parameter) > the ``RHEUMABOOK_PROFILE``
environment variable > ``auto`` (GPU -> full, else quick).

Used by every chapter.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

ENV_VAR = "RHEUMABOOK_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets of one profile. Chapters read these; nothing else hard-codes them."""

    name: str
    # --- data (chapters 1-2) ---
    n_patients: int  # phantom radiographs in the chapter data set
    image_size: int  # long side of a phantom radiograph, pixels
    # --- localisation (chapter 4, paper §3.3) ---
    loc_backbone: str  # timm model name, pretrained=False
    loc_input_size: tuple[int, int]  # (height, width) of a hand image fed to the regressor
    loc_train_hands: int  # phantom hands used for training
    loc_epochs: int
    loc_switch_epoch: int  # MSE up to this epoch, DIoU after (paper eq. (1): 50)
    loc_batch_size: int
    loc_lr: float
    loc_ablation_epochs: int  # epochs for each Table 2 ablation run
    loc_ablation_backbones: tuple[str, ...]
    loc_ablation_hands: int  # training hands of each ablation run (a subset of the training hands)
    loc_pool_grid: tuple[int, int]  # feature map average-pooled to (rows, cols) before the head (paper: 2 x 1)
    loc_hidden: int  # hidden width of the two-layer head (paper: 512)
    loc_augment: tuple[float, float, float]  # (rotation +-deg, scale +-fraction, shift +-fraction of the side)
    loc_render_size: int  # width of the extra phantom radiographs rendered to reach loc_train_hands

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed (e.g. a smaller data set for a test)."""
        return dataclasses.replace(self, **changes)


QUICK = Profile(
    name="quick",
    n_patients=60,
    image_size=1400,
    loc_backbone="test_efficientnet",
    loc_input_size=(160, 128),
    loc_train_hands=700,
    loc_epochs=10,
    loc_switch_epoch=4,
    loc_batch_size=16,
    loc_lr=2e-3,
    loc_ablation_epochs=5,
    loc_ablation_backbones=("test_efficientnet", "test_resnet"),
    loc_ablation_hands=300,
    loc_pool_grid=(2, 1),
    loc_hidden=512,
    loc_augment=(5.0, 0.05, 0.03),
    loc_render_size=400,
)

FULL = Profile(
    name="full",
    n_patients=330,
    image_size=2400,
    loc_backbone="tf_efficientnetv2_s",
    loc_input_size=(512, 384),
    loc_train_hands=2000,
    loc_epochs=150,
    loc_switch_epoch=50,
    loc_batch_size=32,
    loc_lr=1e-3,
    loc_ablation_epochs=60,
    loc_ablation_backbones=("tf_efficientnetv2_s", "resnet50"),
    loc_ablation_hands=1000,
    loc_pool_grid=(2, 1),
    loc_hidden=512,
    loc_augment=(10.0, 0.1, 0.05),
    loc_render_size=1200,
)

PROFILES: dict[str, Profile] = {"quick": QUICK, "full": FULL}


def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is not installed)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_name(name: str | None = "auto") -> str:
    """The profile name that `name` stands for: an explicit name, else the environment, else GPU -> full."""
    if name in (None, "", "auto"):
        name = os.environ.get(ENV_VAR, "auto").strip() or "auto"
    if name == "auto":
        return "full" if gpu_available() else "quick"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of 'auto', {', '.join(map(repr, PROFILES))} "
                         f"(set by the chapter's parameters cell or ${ENV_VAR})")
    return name


def get_profile(name: str | None = "auto") -> Profile:
    """The `Profile` for `name` ("auto", "quick" or "full"); see the module docstring for the order."""
    return PROFILES[resolve_name(name)]


def resolve_device(device: str | None = "auto") -> str:
    """"cuda" when asked for or when `device` is "auto" and a GPU is present, else "cpu"."""
    if device in (None, "", "auto"):
        return "cuda" if gpu_available() else "cpu"
    if device.startswith("cuda") and not gpu_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return device
