"""Profiles: the one place that sets the size of everything that costs time.

- ``quick``: the default without a GPU. The whole book executes on a 2-core
  laptop in minutes (and in CI). It renders fewer, smaller radiographs and
  trains small models for few epochs, so its numbers are rougher.
- ``colab``: the default on Colab with a GPU: the paper's models at the paper's
  resolution (EfficientNetV2-S at 512 x 384, TinyViT-5M on 224-px crops of
  2400-px films, the full Table 3 backbones), with data and epochs sized by
  the cost model (``python -m rheumabook.book plan --profile colab``) so that
  each chapter fits 20 minutes on a T4 in float16 and the book 2 hours.
- ``full``: the default with a GPU elsewhere; paper-scale settings (paper §3.3-3.4).

A chapter's parameters cell reads ``profile = "auto"``. Resolution order:
an explicit name (papermill parameter) > the ``RHEUMABOOK_PROFILE``
environment variable > ``auto`` (Colab with a GPU -> colab, another GPU -> full,
else quick).

Used by every chapter.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

ENV_VAR = "RHEUMABOOK_PROFILE"


class RunConfig:
    """What every saved run config shares: `replace`, and a JSON form its checkpoint stores.

    A config dataclass inherits this and names itself in `json_label` (for the error on unknown
    keys); `_from_json_fields` turns the stored fields back into constructor arguments where
    JSON lost their type (the localiser's augmentation).
    """

    json_label = "run"

    def replace(self, **changes: Any):
        """A copy with some fields changed (an ablation's variant, a test's smaller run)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """A JSON-ready dict (tuples -> lists, nested dataclasses -> dicts)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, d: dict):
        """Inverse of `to_json`; unknown keys are refused, naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown {cls.json_label} config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cls._from_json_fields(dict(d)))

    @classmethod
    def _from_json_fields(cls, d: dict) -> dict:
        return d


@dataclass(frozen=True)
class DataConfig:
    """The chapter data set (chapters 1-3): how many phantom radiographs, at what size."""

    n_patients: int  # phantom radiographs in the chapter data set
    image_size: int  # long side of a phantom radiograph, pixels
    comparison_cohorts: int = 10  # chapter 2: independent phantom cohorts (scores only) comparing the aggregates
    comparison_patients: int = 60  # chapter 2: patients per comparison cohort


@dataclass(frozen=True)
class Augment:
    """Ranges of the random augmentation of the localiser's training (uniform in each range); all zero = none.

    Geometry (boxes move along): rotation_deg: rotation about the image centre, +- degrees.
    scale: zoom factor 1 +- scale. shift: translation, +- this fraction of the width (x) and
    height (y). frame_jitter: the framing varies (`localize.framing`): width and height zoomed
    independently by 1 +- frame_jitter and shifted by +- half that. No flips: the right hand is
    already mirrored into left orientation, so a flip would only teach a hand that never occurs.
    Domain randomisation (`localize.augment.randomize_appearance`; the image only): contrast
    (log contrast factor +- contrast, brightness +- contrast / 4), gamma (log gamma +- gamma),
    invert (probability of a negative image), blur (Gaussian sigma up to `blur` px of the
    input), noise (Gaussian noise of standard deviation up to `noise`, on a 0..1 scale),
    plates (probability of an occluding marker plate, a bright or dark rectangle).
    """

    rotation_deg: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    frame_jitter: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0
    invert: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    plates: float = 0.0

    def __post_init__(self) -> None:
        if self.rotation_deg < 0 or not 0 <= self.scale < 1 or not 0 <= self.shift < 0.5:
            raise ValueError(f"augmentation ranges must be rotation_deg >= 0, 0 <= scale < 1, 0 <= shift < 0.5; "
                             f"got {self}")
        if not 0 <= self.frame_jitter < 0.5 or min(self.contrast, self.gamma, self.blur, self.noise) < 0:
            raise ValueError(f"need 0 <= frame_jitter < 0.5 and contrast, gamma, blur, noise >= 0; got {self}")
        if not (0 <= self.invert <= 1 and 0 <= self.plates <= 1):
            raise ValueError(f"invert and plates are probabilities in [0, 1]; got {self}")

    @property
    def geometric(self) -> bool:
        """Whether the image (and its boxes) are warped: rotation, zoom, shift or framing jitter."""
        return bool(self.rotation_deg or self.scale or self.shift or self.frame_jitter)

    @property
    def photometric(self) -> bool:
        """Whether the appearance is randomised (contrast, gamma, inversion, blur, noise, plates)."""
        return bool(self.contrast or self.gamma or self.invert or self.blur or self.noise or self.plates)

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return self.geometric or self.photometric


LOSS_KINDS: tuple[str, ...] = ("schedule", "mse", "diou")
"""Localiser losses: "schedule" = paper eq. (1), MSE up to `switch_epoch`, DIoU after; or one of them throughout."""


@dataclass(frozen=True)
class LocalizerConfig(RunConfig):
    """Everything that defines one localiser training run (paper §3.3-3.4); saved as the checkpoint's JSON.

    Model: backbone (timm name, pretrained=False), input_size (H, W) of a hand image,
    coord_channels (CoordConv), pool_grid (feature map average-pooled to (rows, cols) before
    the head; paper: 2 x 1), hidden (width of the two-layer head; paper: 512).
    Training: epochs, loss (`LOSS_KINDS`), switch_epoch, batch_size, lr (AdamW, cosine decay
    after a short warm-up), weight_decay (paper §3.4: 1e-2), grad_clip (max gradient norm;
    paper §3.4 clips), augment, seed.
    Data: framing (crop each hand image to its foreground before resizing, `localize.framing`;
    the same at training and inference; checkpoints saved before it existed read as False).
    """

    json_label = "localiser"

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
    framing: bool = True
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
    def _from_json_fields(cls, d: dict) -> dict:
        # checkpoints saved before framing existed were trained without it
        return {"framing": False, **d, "augment": Augment(**d.get("augment", {}))}


@dataclass(frozen=True)
class LocalizationPlan:
    """Chapter 4's data and experiments around the localiser: training hands and the Table 2 ablation."""

    train_hands: int  # phantom hands used for training (extra radiographs are rendered to reach it)
    render_size: int  # width of the extra phantom radiographs rendered to reach train_hands
    ablation_epochs: int  # epochs of each Table 2 ablation run
    ablation_backbones: tuple[str, ...]  # (efficientnet-like, resnet-like) timm names
    ablation_hands: int  # training hands of each ablation run (a subset of the training hands)
    ablation_seeds: int = 3  # seeds per ablation variant: chapter 4 shows means with t-intervals over them


SCORING_SCHEDULES: tuple[str, ...] = ("auto", "cosine", "plateau")
"""Scoring learning-rate schedules (paper §3.4): warm-up + cosine for transformers, ReduceLROnPlateau for
CNNs; "auto" picks by backbone family."""


@dataclass(frozen=True)
class ScoringConfig(RunConfig):
    """Everything that defines one joint-scoring training run (paper §3.2-3.4); saved as the checkpoint's JSON.

    Model: backbone (timm name, pretrained=False), backbone_kwargs (extra `timm.create_model`
    keywords, e.g. a smaller TinyViT for the CPU profile), crop_size (crop side, pixels), hidden
    (head width; paper: 512), shared (one model for erosion and JSN, 11 logits) or independent
    (one model per kind).
    Crops (paper §3.2): eval_factor (area enlargement at evaluation, 2.5) and train_factor (the
    (low, high) range of the random area enlargement in training, (1, 4)); train_shift (not in the
    paper; 0 = off): the training crops' centres moved by N(0, train_shift x box side) in x and y,
    so the scorer learns joints placed as loosely as a localiser places its boxes (chapter 7).
    Loss (paper §3.3, eq. (3)): smoothing (p of the neighbour-smoothed targets, 0.4), gamma, alpha.
    Training (paper §3.4): frozen_epochs at frozen_lr (backbone frozen), then unfrozen_epochs at
    unfrozen_lr (all trained); AdamW with weight_decay, max gradient norm grad_clip, batch_size,
    schedule (`SCORING_SCHEDULES`) with warmup_fraction, weighted_sampling (batches drawn with weights
    inversely proportional to the grade's frequency), augment ("paper": the paper's six augmentations,
    "crop_and_pad": only the shift of the crop, "none"; True / False read as "paper" / "none"), seed.
    Initial backbone weights (paper §3.3, chapter 6): backbone_weights, a safetensors file of
    self-supervised pretrained backbone weights (`rheumabook.pretrain`), relative to the artifacts
    folder or absolute; "" (the default) = random initial weights, as chapter 5 trains.
    """

    json_label = "scoring"

    backbone: str = "tiny_vit_5m_224"
    crop_size: int = 224
    backbone_kwargs: dict = field(default_factory=dict)
    hidden: int = 512
    shared: bool = True
    eval_factor: float = 2.5
    train_factor: tuple[float, float] = (1.0, 4.0)
    train_shift: float = 0.0
    smoothing: float = 0.4
    gamma: float = 2.0
    alpha: float = 1.0
    frozen_epochs: int = 50
    unfrozen_epochs: int = 100
    frozen_lr: float = 1e-3
    unfrozen_lr: float = 5e-5
    batch_size: int = 32
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    schedule: str = "auto"
    warmup_fraction: float = 0.05
    weighted_sampling: bool = True
    augment: str = "paper"
    seed: int = 0
    backbone_weights: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.augment, bool):  # True / False: all of the paper's augmentations or none
            object.__setattr__(self, "augment", "paper" if self.augment else "none")
        if self.augment not in ("paper", "crop_and_pad", "none"):
            raise ValueError(f"augment must be 'paper', 'crop_and_pad' or 'none', got {self.augment!r}")
        if self.schedule not in SCORING_SCHEDULES:
            raise ValueError(f"schedule must be one of {SCORING_SCHEDULES}, got {self.schedule!r}")
        if self.crop_size < 16 or self.batch_size < 1 or self.frozen_epochs < 0 or self.unfrozen_epochs < 0:
            raise ValueError(f"crop_size must be >= 16, batch_size >= 1, epochs >= 0; got {self.crop_size}, "
                             f"{self.batch_size}, {self.frozen_epochs}, {self.unfrozen_epochs}")
        if self.frozen_epochs + self.unfrozen_epochs < 1 or self.frozen_lr <= 0 or self.unfrozen_lr <= 0:
            raise ValueError("a scoring run needs at least one epoch and learning rates > 0")
        if not (math.isfinite(self.train_shift) and self.train_shift >= 0):
            raise ValueError(f"train_shift must be a finite fraction of the box side >= 0, got {self.train_shift}")
        low, high = (float(v) for v in self.train_factor)
        if not 0 < low <= high or self.eval_factor <= 0:
            raise ValueError(f"enlargement factors must be > 0 with low <= high, got train {self.train_factor}, "
                             f"eval {self.eval_factor}")
        if not 0 <= self.smoothing < 1 or self.gamma < 0 or self.alpha <= 0:
            raise ValueError(f"need 0 <= smoothing < 1, gamma >= 0, alpha > 0; got {self.smoothing}, "
                             f"{self.gamma}, {self.alpha}")
        object.__setattr__(self, "train_factor", (low, high))
        # JSON turns tuples into lists: hold list-valued timm keywords as tuples so a round trip compares equal.
        object.__setattr__(self, "backbone_kwargs", {k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in dict(self.backbone_kwargs).items()})

    @property
    def kinds(self) -> tuple[tuple[str, ...], ...]:
        """The score kinds of each model trained: (("erosion", "jsn"),) shared, else one model per kind."""
        return (("erosion", "jsn"),) if self.shared else (("erosion",), ("jsn",))



@dataclass(frozen=True)
class ScoringPlan:
    """Chapter 5's data and comparison runs around the scorer (paper Tables 1 and 3).

    train_patients: how many patients the main scorer trains on. On the phantom, the chapter's
    training patients are topped up with patients of the scorer's own phantom stream
    (`data.stream_dataset(..., "scoring", ...)`), each scored by the three simulated radiologists
    and labelled by Dawid-Skene as the paper's; the chapter's held-out patients stay the test set.
    Real data trains on its own training patients only. curve_patients: the training-set sizes of
    chapter 5's learning curve (the largest point is the main scorer). calibration_patients: phantom
    patients of a stream of their own, never trained or reported on, on which the scorer's calibration
    strength is fitted (`Scorer.fit_calibration`; chapter 7's calibrated totals). backbones: (row label, timm
    name, timm keywords) per comparison row, in the table's order; rows labelled "ResNet34"/"DenseNet"
    are the RA2-DREAM CNNs (Team Shirin), averaged into the Csabaibio-style ensemble; the comparison
    runs train on the chapter's own training patients. frozen_epochs / unfrozen_epochs: each
    comparison run's two stages. n_boot: bootstrap replicates of every interval.
    """

    backbones: tuple[tuple[str, str, dict], ...]
    frozen_epochs: int
    unfrozen_epochs: int
    n_boot: int = 1000
    train_patients: int = 0
    curve_patients: tuple[int, ...] = ()
    calibration_patients: int = 0


@dataclass(frozen=True)
class PretrainConfig(RunConfig):
    """Self-supervised pretraining of the scoring backbone (paper §3.3; chapter 6); saved as the checkpoint's JSON.

    The encoder is the scoring backbone (`profile.scoring`: backbone, backbone_kwargs, crop_size) inside a
    U-Net with a light decoder (decoder_channels, deepest first); it learns to reconstruct clean crops
    from corrupted ones with an L1 loss.
    Data (the stand-in for the paper's 3818 external radiographs): n_radiographs extra phantom
    radiographs rendered at render_size px from a seed stream of their own, crops_per_joint crops of
    every joint at random area factors (`ScoringConfig.train_factor`), the centre shifted by up to
    +- jitter of the box side.
    Corruptions (`pretrain.corrupt`): Gaussian noise of standard deviation noise_sigma (0..1 scale),
    an elastic deformation (torchvision's alpha, sigma in pixels) with probability elastic_p,
    erase_count cut-out rectangles, each with probability erase_p, of erase_scale (low, high) of the area.
    Training: epochs, batch_size, lr (AdamW, warm-up + cosine), weight_decay, grad_clip,
    warmup_fraction, seed.
    """

    json_label = "pretraining"

    n_radiographs: int = 3818
    render_size: int = 2400
    crops_per_joint: int = 1
    jitter: float = 0.25
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 16)
    noise_sigma: float = 0.05
    elastic_alpha: float = 30.0
    elastic_sigma: float = 4.0
    elastic_p: float = 0.5
    erase_count: int = 3
    erase_p: float = 0.5
    erase_scale: tuple[float, float] = (0.01, 0.04)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    warmup_fraction: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_radiographs < 1 or self.render_size < 64 or self.crops_per_joint < 1:
            raise ValueError(f"need n_radiographs >= 1, render_size >= 64, crops_per_joint >= 1; got "
                             f"{self.n_radiographs}, {self.render_size}, {self.crops_per_joint}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or not 0 <= self.jitter < 1:
            raise ValueError(f"need epochs, batch_size >= 1, lr > 0 and 0 <= jitter < 1; got {self.epochs}, "
                             f"{self.batch_size}, {self.lr}, {self.jitter}")
        low, high = (float(v) for v in self.erase_scale)
        if not 0 < low <= high < 1 or self.erase_count < 0 or not (0 <= self.erase_p <= 1 and 0 <= self.elastic_p <= 1):
            raise ValueError(f"need 0 < erase_scale low <= high < 1, erase_count >= 0 and probabilities in [0, 1]; "
                             f"got {self.erase_scale}, {self.erase_count}, {self.erase_p}, {self.elastic_p}")
        if self.noise_sigma < 0 or self.elastic_alpha < 0 or self.elastic_sigma <= 0:
            raise ValueError(f"need noise_sigma >= 0, elastic_alpha >= 0, elastic_sigma > 0; got {self.noise_sigma}, "
                             f"{self.elastic_alpha}, {self.elastic_sigma}")
        if not self.decoder_channels or min(self.decoder_channels) < 1:
            raise ValueError(f"decoder_channels must be positive widths, got {self.decoder_channels}")
        object.__setattr__(self, "erase_scale", (low, high))
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))



@dataclass(frozen=True)
class LabelEfficiencyPlan:
    """Chapter 6's label-efficiency runs (`pretrain.efficiency_runs`): does pretraining help when labels are few?

    sizes: labelled training patients of each point (the first n of chapter 5's training patients,
    the chapter's own first; 0 = all of them). seeds: fine-tuning seeds of every point, both arms.
    frozen_epochs / unfrozen_epochs: each run's two stages (chapter 5's learning rates); epochs stay
    fixed across sizes, so a larger set also means more optimisation steps, as in chapter 5's curve.
    """

    sizes: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    frozen_epochs: int = 1
    unfrozen_epochs: int = 11

    def __post_init__(self) -> None:
        if not self.sizes or min(self.sizes) < 0 or not self.seeds:
            raise ValueError(f"need patient counts >= 0 (0 = all) and at least one seed; got {self.sizes}, {self.seeds}")
        if self.frozen_epochs < 0 or self.unfrozen_epochs < 0 or self.frozen_epochs + self.unfrozen_epochs < 1:
            raise ValueError(f"need epochs >= 0 and at least one in all; got {self.frozen_epochs}, {self.unfrozen_epochs}")


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets of one profile, one field per stage. Chapters read these; nothing else hard-codes them.

    A new stage adds its config dataclass above and one field here.
    """

    name: str
    data: DataConfig  # chapters 1-3
    localizer: LocalizerConfig  # chapter 4: the model and its training run
    localization: LocalizationPlan  # chapter 4: training hands and the ablation
    scoring: ScoringConfig  # chapter 5: the joint-scoring model and its training run
    scoring_comparison: ScoringPlan  # chapter 5: the Table 3 backbone comparison
    pretrain: PretrainConfig  # chapter 6: self-supervised pretraining of the scoring backbone
    label_efficiency: LabelEfficiencyPlan  # chapter 6: fine-tuning with and without it on few labels

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed (e.g. a smaller data set for a test)."""
        return dataclasses.replace(self, **changes)


DOMAIN_RANDOMISATION = dict(frame_jitter=0.08, contrast=0.4, gamma=0.4, invert=0.1, blur=1.2, noise=0.04, plates=0.3)
"""The localiser's domain randomisation (issue 9): appearance and framing varied well past the phantom's own range."""

# TinyViT cut to ~1 M parameters (one block per stage, narrower), windows widened to the whole 16/8/4/2
# feature maps of a 64-px crop (the 224-px windows 7/7/14/7 would pad them 3-12 fold): ~5x faster on a CPU.
_QUICK_SCORING = ScoringConfig(backbone="tiny_vit_5m_224", crop_size=64,
                          backbone_kwargs=dict(embed_dims=(32, 64, 128, 160), depths=(1, 1, 2, 1),
                                               num_heads=(1, 2, 4, 5), window_sizes=(8, 8, 4, 2)),
                          frozen_epochs=1, unfrozen_epochs=11, frozen_lr=1e-3, unfrozen_lr=1e-3, batch_size=32,
                          augment="crop_and_pad",  # all six augmentations need more epochs than quick has (chapter 5)
                          # the pipeline's boxes sit a median 0.16 of a box side off the joint (quick localiser, issue 21):
                          # trained on crops shifted by N(0, 0.15 side), the scorer on those boxes gained erosion 0.48 ->
                          # 0.54, JSN 0.64 -> 0.69, and lost 0.03 on both with true boxes (seed 0, 12 held-out patients)
                          train_shift=0.15)

QUICK = Profile(
    name="quick",
    data=DataConfig(n_patients=60, image_size=1400),
    localizer=LocalizerConfig(backbone="test_efficientnet", input_size=(160, 128), pool_grid=(2, 1), hidden=512,
                              epochs=10, switch_epoch=4, batch_size=16, lr=2e-3,
                              augment=Augment(5.0, 0.05, 0.03, **DOMAIN_RANDOMISATION)),
    localization=LocalizationPlan(train_hands=700, render_size=400, ablation_epochs=5,
                                  ablation_backbones=("test_efficientnet", "test_resnet"), ablation_hands=300),
    scoring=_QUICK_SCORING,
    scoring_comparison=ScoringPlan(backbones=(
        ("VGG", "vgg_mini", {}),  # rheumabook.scoring.backbones: VGG-11's plan at 1/8 width
        ("EfficientNet", "test_efficientnet", {}),
        ("Swin", "swin_tiny_patch4_window7_224", dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8),
                                                      window_size=4)),
        ("TinyViT", _QUICK_SCORING.backbone, _QUICK_SCORING.backbone_kwargs),
        ("MobileViT", "mobilevit_xxs", {}),
        ("ResNet34", "resnet34", dict(channels=(16, 32, 64, 128), stem_width=16)),
        ("DenseNet", "densenet121", dict(growth_rate=8, block_config=(2, 4, 6, 4))),
    ), frozen_epochs=0, unfrozen_epochs=2,
        # the scorer: the chapter's 48 training patients + 144 of its own phantom stream, 1 + 11 epochs. Measured
        # (issue 21, DS labels, erosion / JSN vs truth): 192 patients x 8 epochs 0.51 / 0.74, x 24 epochs 0.65 /
        # 0.87; 432 x 8 0.58 / 0.87: steps pay more than patients here. Phantom v3, 1 + 11 epochs, seeds 0 / 1:
        # 192 -> 384 patients JSN 0.78 -> 0.83 / 0.76 -> 0.84, erosion 0.52 -> 0.53 / 0.51 -> 0.44, at 1.7-2.0x the
        # training time. 192 is what fits chapter 5's CPU budget (8 min on 2 cores, with the curve and Table 3).
        train_patients=192, curve_patients=(24, 36, 48, 96), calibration_patients=48),
    pretrain=PretrainConfig(n_radiographs=40, render_size=1400, decoder_channels=(64, 32, 16, 8, 8), epochs=3,
                            batch_size=32, lr=2e-3),
    # the quick profile's "all" is the chapter's own 48 labelled training patients (its 144 stream patients would
    # cost 4x more per run); 24 runs (4 sizes x 3 seeds x 2 arms) at half chapter 5's epochs fit chapter 6's budget
    label_efficiency=LabelEfficiencyPlan(sizes=(10, 20, 40, 48), frozen_epochs=1, unfrozen_epochs=5),
)

# The full profile is the quick one at paper scale: only what differs is written.
FULL = QUICK.replace(
    name="full",
    data=DataConfig(n_patients=330, image_size=2400, comparison_cohorts=20, comparison_patients=330),
    localizer=QUICK.localizer.replace(backbone="tf_efficientnetv2_s", input_size=(512, 384), epochs=150,
                                      switch_epoch=50, batch_size=32, lr=1e-3,
                                      augment=Augment(10.0, 0.1, 0.05, **DOMAIN_RANDOMISATION)),
    localization=LocalizationPlan(train_hands=2000, render_size=1200, ablation_epochs=60,
                                  ablation_backbones=("tf_efficientnetv2_s", "resnet50"), ablation_hands=1000,
                                  ablation_seeds=5),
    scoring=QUICK.scoring.replace(crop_size=224, backbone_kwargs={}, frozen_epochs=50, unfrozen_epochs=100,
                                  unfrozen_lr=5e-5, augment="paper"),  # the paper's TinyViT-5M as timm builds it
    scoring_comparison=ScoringPlan(backbones=(
        ("VGG", "vgg16_bn", {}), ("EfficientNet", "efficientnet_b0", {}),
        ("Swin", "swin_tiny_patch4_window7_224", {}), ("TinyViT", "tiny_vit_5m_224", {}),
        ("MobileViT", "mobilevit_s", {}), ("ResNet34", "resnet34", {}), ("DenseNet", "densenet201", {}),
    ), frozen_epochs=10, unfrozen_epochs=30, train_patients=400, curve_patients=(25, 50, 100, 200),
        calibration_patients=50),
    pretrain=PretrainConfig(),  # the paper's 3818 external radiographs, as phantoms at the data set's size
    label_efficiency=LabelEfficiencyPlan(sizes=(10, 20, 40, 100, 0), frozen_epochs=10, unfrozen_epochs=30),
)

# Colab's T4: the paper's models and resolution, data and epochs sized by the cost model (book.cost) to about
# half of the 20 minutes per chapter it allows at 15 % of the T4's float16 peak (the model left ~25 % of quick's
# chapter 5 unaccounted for: Dawid-Skene, bootstraps, crops). Batch sizes keep every training step's float32
# peak under 10 GiB of the T4's 15 (float16 autocast needs less). Not yet run on a T4.
COLAB = FULL.replace(
    name="colab",
    data=DataConfig(n_patients=120, image_size=2400, comparison_cohorts=10, comparison_patients=120),
    localizer=FULL.localizer.replace(epochs=60, switch_epoch=20, batch_size=16),  # batch 32: 18 GiB
    localization=LocalizationPlan(train_hands=1000, render_size=1200, ablation_epochs=15,
                                  ablation_backbones=("tf_efficientnetv2_s", "resnet50"), ablation_hands=300),
    # from random weights in 30 epochs: the paper's 5e-5 suits its pretrained backbone and 150 epochs
    scoring=FULL.scoring.replace(frozen_epochs=5, unfrozen_epochs=25, unfrozen_lr=5e-4),
    scoring_comparison=dataclasses.replace(FULL.scoring_comparison, frozen_epochs=1, unfrozen_epochs=4,
                                           train_patients=200, curve_patients=(25, 50, 100), calibration_patients=48),
    pretrain=PretrainConfig(n_radiographs=400, render_size=2400, epochs=10),
    label_efficiency=LabelEfficiencyPlan(sizes=(10, 20, 40, 0), frozen_epochs=1, unfrozen_epochs=14),
)

PROFILES: dict[str, Profile] = {"quick": QUICK, "colab": COLAB, "full": FULL}


def on_colab() -> bool:
    """Whether this runs in a Google Colab runtime (its kernels set COLAB_RELEASE_TAG)."""
    return bool(os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU"))


def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU (False when torch is not installed)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_name(name: str | None = "auto") -> str:
    """The profile name that `name` stands for: an explicit name, else the environment, else by the machine
    (Colab with a GPU -> colab, another GPU -> full, no GPU -> quick)."""
    if name in (None, "", "auto"):
        name = os.environ.get(ENV_VAR, "auto").strip() or "auto"
    if name == "auto":
        if not gpu_available():
            return "quick"
        return "colab" if on_colab() else "full"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; expected one of 'auto', {', '.join(map(repr, PROFILES))} "
                         f"(set by the chapter's parameters cell or ${ENV_VAR})")
    return name


def get_profile(name: str | None = "auto") -> Profile:
    """The `Profile` for `name` ("auto", "quick", "colab" or "full"); see the module docstring for the order."""
    return PROFILES[resolve_name(name)]


def resolve_device(device: str | None = "auto") -> str:
    """"cuda" when asked for or when `device` is "auto" and a GPU is present, else "cpu"."""
    if device in (None, "", "auto"):
        return "cuda" if gpu_available() else "cpu"
    if device.startswith("cuda") and not gpu_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return device
