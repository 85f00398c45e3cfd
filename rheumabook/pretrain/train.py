"""Self-supervised pretraining of the scoring backbone (paper §3.3): data, training, checkpoints, cache.

- `pretrain_seeds` / `pretraining_crops`: the unlabelled data, the stand-in for the paper's 3818
  external radiographs: extra phantom radiographs from a seed stream of their own (never among the
  chapter data set's patients nor the localiser's extra radiographs), every joint cropped at a
  random area factor (`ScoringConfig.train_factor`) around a randomly shifted centre.
- `pretrain_encoder`: the U-Net (`unet.build_unet`) trained on `training.fit` to give back the clean
  crop from a corrupted one (`corrupt.corrupt_crops`), L1 loss, both sides standardised per crop as
  the scorer standardises its input (`scoring.standardize_crops`, each with its own crop's statistics).
- `reconstruction_l1`: the L1 on a fixed set of crops under fixed corruptions (the curve's metric),
  next to the L1 of the corrupted input itself (what "do nothing" scores).
- `save_pretrained` / `load_pretrained` / `load_or_pretrain`: the U-Net as a checkpoint
  (`training.save_checkpoint`, format `CHECKPOINT_FORMAT`) plus the encoder alone as
  ``<stem>-encoder.safetensors`` with `ScoringModel.backbone`'s keys, which
  `ScoringConfig.backbone_weights` names for the scorer to start from; cached under
  ``<artifacts>/models/`` by a content key of the configs, the seed and the code.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..cache import artifacts_dir, atomic_write, content_key, source_fingerprint
from ..profiles import PretrainConfig, ScoringConfig
from ..training import (FitConfig, StepContext, checkpoint_paths, fit, load_checkpoint, load_or_train,
                        read_checkpoint_header, save_checkpoint, seeded)
from ..training.distributed import rank_seed
from . import corrupt as corrupt_module
from . import unet as unet_module
from .corrupt import corrupt_crops, corruptions
from .unet import UNet, build_unet, encoder_state_dict

__all__ = ["CHECKPOINT_FORMAT", "ENCODER_FORMAT", "pretrain_seeds", "pretraining_crops", "Pretrained",
           "reconstruction_l1", "pretrain_encoder", "save_pretrained", "load_pretrained", "pretrain_fingerprint",
           "load_or_pretrain"]

CHECKPOINT_FORMAT = "rheumabook.pretrain/1"
"""The format tag of a pretraining checkpoint (the whole U-Net)."""
ENCODER_FORMAT = "rheumabook.pretrain.encoder/1"
"""The format tag in the metadata of the encoder-only weights (`ScoringModel.backbone`'s keys)."""
VAL_FRACTION = 0.1
"""Share of the pretraining radiographs whose crops are held out for the reconstruction curve."""
Device = Union[str, torch.device]


def pretrain_seeds(seed: int, n: int) -> list[int]:
    """Render seeds of the pretraining radiographs: a stream of their own (0x9E7, "pre").

    Disjoint from the chapter data set's (`data.phantom_writer.phantom_streams`) and the localiser's
    extra radiographs (`localize.extra_phantom_seeds`): other entropy, so other seeds.
    """
    seq = np.random.SeedSequence([int(seed), 0x9E7])
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in seq.spawn(int(n))]


def pretraining_crops(config: PretrainConfig, scoring: ScoringConfig, *, seed: int = 0,
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(crops, radiograph) of `config.n_radiographs` extra phantom radiographs: (N, S, S) uint8 and (N,) int.

    Every joint box of each radiograph (rendered at `config.render_size` px) is shifted by up to
    +- `config.jitter` of its side in x and y and cropped `config.crops_per_joint` times at an
    area factor drawn from `scoring.train_factor` (`scoring.crop_joints`: squared, zero padded,
    resized to `scoring.crop_size`, right hands mirrored). No labels are used: only the images.
    """
    from tqdm.auto import tqdm

    from .. import phantom
    from ..schema import BOX_COLUMNS
    from ..scoring import crop_joints

    rng = np.random.default_rng([int(seed), 0x9E7, 1])
    crops, origin = [], []
    for i, s in enumerate(tqdm(pretrain_seeds(seed, config.n_radiographs), desc="rendering pretraining radiographs",
                               disable=not progress)):
        rad = phantom.render(s, size=config.render_size)
        for _ in range(config.crops_per_joint):
            boxes = rad.boxes.copy()
            xy = boxes[list(BOX_COLUMNS)].to_numpy(dtype=float)
            side = np.maximum(xy[:, 2] - xy[:, 0], xy[:, 3] - xy[:, 1])
            shift = rng.uniform(-config.jitter, config.jitter, size=(len(xy), 2)) * side[:, None]
            boxes[list(BOX_COLUMNS)] = xy + np.concatenate([shift, shift], axis=1)
            crops.append(crop_joints(rad.image, boxes, factor=scoring.train_factor, size=scoring.crop_size, rng=rng))
            origin.append(np.full(len(boxes), i))
    return np.concatenate(crops), np.concatenate(origin)


@dataclass
class Pretrained:
    """A pretrained U-Net with its configs, history (one row per epoch) and, once saved, its files."""

    unet: UNet
    config: PretrainConfig
    scoring: ScoringConfig
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0
    l1: dict = field(default_factory=dict)  # reconstruction L1 on the held-out crops: before, after, corrupted input
    path: Optional[Path] = None  # the checkpoint's stem

    @property
    def encoder_path(self) -> Path:
        """The encoder-only safetensors file (`ScoringModel.backbone`'s keys) next to the checkpoint."""
        if self.path is None:
            raise ValueError("this pretraining was not saved yet; save_pretrained(path, pretrained) first")
        return self.path.with_name(self.path.name + "-encoder.safetensors")


def _unit_pairs(crops: np.ndarray, generator: torch.Generator, pipeline: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, target): the corrupted and the clean crops, each standardised with its own statistics."""
    from ..scoring import standardize_crops, to_unit

    clean = to_unit(crops)
    return standardize_crops(corrupt_crops(clean, generator, pipeline)), standardize_crops(clean)


@torch.no_grad()
def reconstruction_l1(unet: UNet, crops: np.ndarray, config: PretrainConfig, *, seed: int = 0,
                      batch_size: int = 256, device: Device = "cpu") -> dict[str, float]:
    """Mean L1 on `crops` under corruptions fixed by `seed`: {"reconstruction": model, "corrupted": input itself}."""
    pipeline, generator = corruptions(config), torch.Generator().manual_seed(int(seed))
    was_training = unet.training
    unet.eval().to(device)
    total, identity, n = 0.0, 0.0, 0
    for start in range(0, len(crops), batch_size):
        x, y = _unit_pairs(crops[start:start + batch_size], generator, pipeline)
        out = unet(x.to(device)).float().cpu()
        total += F.l1_loss(out, y, reduction="sum").item()
        identity += F.l1_loss(x, y, reduction="sum").item()
        n += y.numel()
    unet.train(was_training)
    return {"reconstruction": total / n, "corrupted": identity / n}


def pretrain_encoder(crops: np.ndarray, config: PretrainConfig, scoring: ScoringConfig, *, seed: Optional[int] = None,
                     val: Optional[np.ndarray] = None, device: Device = "cpu", progress: bool = True) -> Pretrained:
    """Train the U-Net around `scoring`'s backbone to reconstruct clean `crops` ((N, S, S)) from corrupted ones.

    L1 loss on `training.fit` (AdamW, warm-up + cosine, clipping). Seeded by `seed` (default
    config.seed): the initial weights, each epoch's shuffle, the corruptions. With `val`, each epoch's
    history row gets ``val_l1`` (`reconstruction_l1` under fixed corruptions) and `Pretrained.l1`
    holds it before and after training. Returns the U-Net in eval mode.
    """
    seed = config.seed if seed is None else int(seed)
    if crops.ndim != 3 or crops.shape[1:] != (scoring.crop_size, scoring.crop_size):
        raise ValueError(f"crops must be (N, {scoring.crop_size}, {scoring.crop_size}), got {crops.shape}")
    start = time.perf_counter()
    unet = seeded(seed, lambda: build_unet(scoring, config.decoder_channels))
    pipeline, generator = corruptions(config), torch.Generator().manual_seed(rank_seed(seed + 0x9E7))
    steps = max(1, math.ceil(len(crops) / config.batch_size))

    def batches(epoch: int):
        yield from np.array_split(np.random.default_rng([seed, 0x9E7, epoch]).permutation(len(crops)), steps)

    def step(model: UNet, idx: np.ndarray, context: StepContext) -> tuple[torch.Tensor, int]:
        x, y = _unit_pairs(crops[idx], generator, pipeline)
        with context.autocast():
            out = model(x.to(context.device))
        return F.l1_loss(out.float(), y.to(context.device)), len(idx)

    def evaluate(model: UNet, epoch: int) -> dict:
        return {"val_l1": reconstruction_l1(model, val, config, seed=seed, device=device)["reconstruction"]}

    before = reconstruction_l1(unet, val, config, seed=seed, device=device) if val is not None else {}
    fit_config = FitConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                           grad_clip=config.grad_clip, scheduler="warmup_cosine", warmup_fraction=config.warmup_fraction)
    result = fit(unet, step, batches, fit_config, steps_per_epoch=steps, evaluate=evaluate if val is not None else None,
                 device=device, progress=progress, desc="pretraining the encoder (U-Net, L1)",
                 postfix=("train_loss", "val_l1"))
    l1 = {}
    if val is not None:
        after = reconstruction_l1(unet, val, config, seed=seed, device=device)
        l1 = {"before": before["reconstruction"], "after": after["reconstruction"], "corrupted": after["corrupted"]}
    return Pretrained(result.model, config, scoring, result.history, time.perf_counter() - start, l1)


def save_pretrained(path: Union[str, Path], pretrained: Pretrained, extra: Optional[dict] = None) -> Pretrained:
    """Save the U-Net at stem `path` (safetensors + JSON) and the encoder alone beside it; returns it with `path` set."""
    from safetensors.torch import save_file

    stem = checkpoint_paths(path)[0].with_suffix("")
    history = pretrained.history.drop(columns=["seconds"], errors="ignore").to_dict(orient="list")
    save_checkpoint(stem, pretrained.unet, pretrained.config, format=CHECKPOINT_FORMAT,
                    scoring=pretrained.scoring.replace(backbone_weights="").to_json(),
                    extra={"history": history, "train_seconds": pretrained.seconds, "l1": pretrained.l1,
                           **(extra or {})})
    pretrained.path = stem
    state = encoder_state_dict(pretrained.unet)
    atomic_write(pretrained.encoder_path, lambda tmp: save_file(state, tmp, metadata={"format": ENCODER_FORMAT}),
                 suffix=".safetensors")
    return pretrained


def load_pretrained(path: Union[str, Path], *, device: Device = "cpu") -> Pretrained:
    """Load what `save_pretrained` wrote (the U-Net in eval mode; its encoder file must exist too)."""
    stem = checkpoint_paths(path)[0].with_suffix("")
    header = read_checkpoint_header(stem, format=CHECKPOINT_FORMAT)
    scoring = ScoringConfig.from_json(header["scoring"])
    ckpt = load_checkpoint(stem, format=CHECKPOINT_FORMAT, config_type=PretrainConfig,
                           build=lambda c: build_unet(scoring, c.decoder_channels), device=device)
    out = Pretrained(ckpt.model, ckpt.config, scoring, pd.DataFrame(ckpt.extra.get("history", {})),
                     float(ckpt.extra.get("train_seconds", 0.0)), dict(ckpt.extra.get("l1", {})), stem)
    if not out.encoder_path.is_file():
        raise FileNotFoundError(f"{out.encoder_path}: the encoder weights of {stem.name} are missing; pretrain again")
    return out


def pretrain_fingerprint() -> str:
    """Hash of the code that makes a pretraining: this module, the U-Net, the corruptions, the phantom, the crops."""
    from .. import phantom
    from ..scoring import crops as crops_module
    from ..scoring import model as model_module

    return source_fingerprint(sys.modules[__name__], unet_module, corrupt_module, phantom, crops_module, model_module)


def _encoder_fields(scoring: ScoringConfig) -> dict:
    """What of the scoring config shapes the encoder and its data (not the scorer's training)."""
    return {"backbone": scoring.backbone, "backbone_kwargs": scoring.to_json()["backbone_kwargs"],
            "crop_size": scoring.crop_size, "train_factor": list(scoring.train_factor)}


def load_or_pretrain(profile: Any, *, seed: int = 0, device: Device = "cpu", progress: bool = True,
                     cache_dir: Union[str, Path, None] = None) -> Pretrained:
    """The profile's pretrained U-Net: loaded from ``<artifacts>/models/`` if cached, else pretrained now (and saved).

    profile: a `profiles.Profile` (its `pretrain` and `scoring` configs). The entry is named
    ``pretrain-<profile>-seed<seed>-<key>``, the key a `cache.content_key` of both configs (the encoder's
    part of the scoring one), the seed and `pretrain_fingerprint`.
    """
    config = profile.pretrain.replace(seed=seed)
    if config.n_radiographs < 2:
        raise ValueError(f"load_or_pretrain holds out {VAL_FRACTION:.0%} of the radiographs (at least one) for the "
                         f"curve: it needs n_radiographs >= 2, got {config.n_radiographs}")
    key = content_key(pretrain_fingerprint(), config.to_json(), _encoder_fields(profile.scoring), seed)
    folder = Path(cache_dir) if cache_dir is not None else artifacts_dir() / "models"
    stem = folder / f"pretrain-{profile.name}-seed{seed}-{key}"

    def train() -> tuple[Pretrained, dict]:
        crops, origin = pretraining_crops(config, profile.scoring, seed=seed, progress=progress)
        held_out = origin >= config.n_radiographs - max(1, int(round(VAL_FRACTION * config.n_radiographs)))
        made = pretrain_encoder(crops[~held_out], config, profile.scoring, seed=seed, val=crops[held_out],
                                device=device, progress=progress)
        return made, {"train_crops": int((~held_out).sum()), "val_crops": int(held_out.sum())}

    made = load_or_train(stem, format=CHECKPOINT_FORMAT, provenance=key, what="pretrained encoder",
                         load=lambda: (load_pretrained(stem, device=device), {}), train=train,
                         save=lambda made, extra: save_pretrained(stem, made[0], extra={**made[1], **extra}),
                         beside=[stem.with_name(stem.name + "-encoder.safetensors")],
                         training_note=f"{config.n_radiographs} phantom radiographs, {config.epochs} epochs")
    return made[0]
