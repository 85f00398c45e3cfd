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
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "RHEUMABOOK_PROFILE"


@dataclass(frozen=True)
class DataConfig:
    """The chapter data set (chapters 1-3): how many phantom radiographs, at what size."""

    n_patients: int  # phantom radiographs in the chapter data set
    image_size: int  # long side of a phantom radiograph, pixels


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


LOSS_KINDS: tuple[str, ...] = ("schedule", "mse", "diou")
"""Localiser losses: "schedule" = paper eq. (1), MSE up to `switch_epoch`, DIoU after; or one of them throughout."""


@dataclass(frozen=True)
class LocalizerConfig:
    """Everything that defines one localiser training run (paper §3.3-3.4); saved as the checkpoint's JSON.

    Model: backbone (timm name, pretrained=False), input_size (H, W) of a hand image,
    coord_channels (CoordConv), pool_grid (feature map average-pooled to (rows, cols) before
    the head; paper: 2 x 1), hidden (width of the two-layer head; paper: 512).
    Training: epochs, loss (`LOSS_KINDS`), switch_epoch, batch_size, lr (AdamW, cosine decay
    after a short warm-up), weight_decay (paper §3.4: 1e-2), grad_clip (max gradient norm;
    paper §3.4 clips), augment, seed.
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

    def replace(self, **changes: Any) -> "LocalizerConfig":
        """A copy with some fields changed (the ablation's variants, a test's smaller run)."""
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


@dataclass(frozen=True)
class LocalizationPlan:
    """Chapter 4's data and experiments around the localiser: training hands and the Table 2 ablation."""

    train_hands: int  # phantom hands used for training (extra radiographs are rendered to reach it)
    render_size: int  # width of the extra phantom radiographs rendered to reach train_hands
    ablation_epochs: int  # epochs of each Table 2 ablation run
    ablation_backbones: tuple[str, ...]  # (efficientnet-like, resnet-like) timm names
    ablation_hands: int  # training hands of each ablation run (a subset of the training hands)


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets of one profile, one field per stage. Chapters read these; nothing else hard-codes them.

    A new stage adds its config dataclass above and one field here.
    """

    name: str
    data: DataConfig  # chapters 1-3
    localizer: LocalizerConfig  # chapter 4: the model and its training run
    localization: LocalizationPlan  # chapter 4: training hands and the ablation

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed (e.g. a smaller data set for a test)."""
        return dataclasses.replace(self, **changes)


QUICK = Profile(
    name="quick",
    data=DataConfig(n_patients=60, image_size=1400),
    localizer=LocalizerConfig(backbone="test_efficientnet", input_size=(160, 128), pool_grid=(2, 1), hidden=512,
                              epochs=10, switch_epoch=4, batch_size=16, lr=2e-3,
                              augment=Augment(5.0, 0.05, 0.03)),
    localization=LocalizationPlan(train_hands=700, render_size=400, ablation_epochs=5,
                                  ablation_backbones=("test_efficientnet", "test_resnet"), ablation_hands=300),
)

FULL = Profile(
    name="full",
    data=DataConfig(n_patients=330, image_size=2400),
    localizer=LocalizerConfig(backbone="tf_efficientnetv2_s", input_size=(512, 384), pool_grid=(2, 1), hidden=512,
                              epochs=150, switch_epoch=50, batch_size=32, lr=1e-3,
                              augment=Augment(10.0, 0.1, 0.05)),
    localization=LocalizationPlan(train_hands=2000, render_size=1200, ablation_epochs=60,
                                  ablation_backbones=("tf_efficientnetv2_s", "resnet50"), ablation_hands=1000),
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
