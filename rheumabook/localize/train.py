"""Training the localiser (paper §3.3-3.4) with `training.fit`, predicting, evaluating, checkpoints.

- `train_localizer`: a seeded run of `LocalizerConfig` on a `HandSet` (eq. (1) loss schedule,
  augmentation, warm-up + cosine learning rate), evaluated each epoch on held-out hands.
- `initial_localizer`: the model as training starts (the prior: the mean training layout).
- `predict_boxes`, `evaluate`: normalised predictions and the §3.5 metrics in hand pixels.
- `save_localizer`, `load_localizer`: `training.checkpoint` with the localiser's format tag;
  `default_checkpoint`, `load_or_train_localizer`: what later chapters call.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import torch

from ..cache import artifacts_dir, content_key, source_fingerprint
from ..joints import JOINTS
from ..profiles import LocalizerConfig
from ..training import FitConfig, StepContext, fit, load_checkpoint, load_or_train, save_checkpoint, seeded
from ..training.distributed import rank_seed
from .augment import augment_batch, standardize
from .hands import HandSet, localization_data, mean_boxes
from .loss import localization_loss, loss_for_epoch
from .metrics import summary_metrics
from .model import N_JOINTS, BoxRegressor, build_model

__all__ = ["CHECKPOINT_FORMAT", "TrainResult", "fit_config", "initial_localizer", "train_localizer",
           "predict_boxes", "evaluate", "save_localizer", "load_localizer", "default_checkpoint",
           "localizer_provenance", "load_or_train_localizer"]

CHECKPOINT_FORMAT = "rheumabook.localize/1"
"""The format tag of a localiser checkpoint (`training.checkpoint`)."""
Device = Union[str, torch.device]


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


def fit_config(config: LocalizerConfig) -> FitConfig:
    """The optimisation part of a localiser config: AdamW, warm-up + cosine per step, clipping."""
    return FitConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay, grad_clip=config.grad_clip,
                     scheduler="warmup_cosine", warmup_fraction=config.warmup_fraction)


def initial_localizer(train: HandSet, config: LocalizerConfig) -> BoxRegressor:
    """The model as `train_localizer` starts it: built after ``torch.manual_seed(config.seed)``, its head
    at `train`'s mean layout (`BoxRegressor.set_prior`). Evaluated untrained, it is the prior to beat."""
    model = seeded(config.seed, lambda: build_model(config))
    model.set_prior(mean_boxes(train))
    return model


@torch.no_grad()
def predict_boxes(model: BoxRegressor, hands: HandSet, *, batch_size: int = 64, device: Device = "cpu") -> np.ndarray:
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


def evaluate(model: BoxRegressor, hands: HandSet, *, device: Device = "cpu") -> dict[str, float]:
    """loc_accuracy and mean_iou of the model on `hands`, in pixels of the hand images (paper §3.5)."""
    pred = hands.pixel_boxes(predict_boxes(model, hands, device=device))
    return summary_metrics(pred, hands.pixel_boxes())


def _batch_step(train: HandSet, config: LocalizerConfig, device: Device):
    """The per-batch step of `train_localizer`: augment (`augment.augment_batch`: geometry with the boxes
    moved along, domain randomisation, standardisation), forward, eq. (1) loss.

    The uint8 hands move to `device` once and are augmented there; the augmentations come from
    a generator seeded with config.seed; the loss is in float32.
    """
    images_all, boxes_all = train.images.to(device), train.boxes.to(device)
    aug_gen = torch.Generator().manual_seed(rank_seed(config.seed))  # other draws per process

    def step(model: BoxRegressor, idx: torch.Tensor, context: StepContext) -> tuple[torch.Tensor, int]:
        images, boxes = augment_batch(images_all[idx], boxes_all[idx], config.augment, aug_gen)
        with context.autocast():
            pred = model(images)
        which = loss_for_epoch(context.epoch, config.switch_epoch, config.loss)
        return localization_loss(pred.float(), boxes, which, config.input_size), len(idx)

    return step


def train_localizer(train: HandSet, config: LocalizerConfig, val: Optional[HandSet] = None, *,
                    device: Device = "cpu", progress: bool = True, desc: str = "training the localiser") -> TrainResult:
    """Train a `BoxRegressor` on `train` (paper §3.3-3.4, scaled by `config`); evaluate on `val` each epoch.

    Determinism: the initial weights follow config.seed (`initial_localizer`); the epoch order
    (a numpy generator) and the augmentations (a torch generator) are seeded with it too. AdamW,
    warm-up + cosine learning rate, gradient clipping, the loss of paper eq. (1) per epoch, under
    mixed-precision autocast on a GPU (`training.fit`). Returns a `TrainResult`; history columns: epoch,
    loss_kind, train_loss, lr, then with `val` val_loc_accuracy and val_mean_iou, then seconds.
    """
    if len(train) == 0:
        raise ValueError("the training set holds no hands")
    if train.input_size != config.input_size:
        raise ValueError(f"training hands are {train.input_size} but the config asks for {config.input_size}")
    start = time.perf_counter()
    model = initial_localizer(train, config)
    step = _batch_step(train, config, device)
    order_rng = np.random.default_rng(config.seed)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)

    def batches(epoch: int):
        for idx in np.array_split(order_rng.permutation(len(train)), steps_per_epoch):
            yield torch.from_numpy(idx).to(device)

    def on_val(model: BoxRegressor, epoch: int) -> dict:
        return {f"val_{k}": v for k, v in evaluate(model, val, device=device).items()}

    result = fit(model, step, batches, fit_config(config), steps_per_epoch=steps_per_epoch,
                 evaluate=on_val if val is not None and len(val) else None,
                 epoch_columns=lambda epoch: {"loss_kind": loss_for_epoch(epoch, config.switch_epoch, config.loss)},
                 device=device, progress=progress, desc=desc,
                 postfix=("train_loss", "val_loc_accuracy", "val_mean_iou"))
    return TrainResult(result.model, config, result.history, time.perf_counter() - start)


def save_localizer(path: Union[str, Path], model: BoxRegressor, config: LocalizerConfig,
                   extra: Optional[dict] = None) -> Path:
    """Save a localiser as `<path>.safetensors` (weights) + `<path>.json` (config, joint order, `extra`).

    path: a stem (".safetensors" / ".json" suffixes are stripped). extra: more JSON (metrics,
    timings; "mean_boxes", the training hands' average layout (21, 4), is what the real-image
    check, `rheumabook.evaluate`, uses as its baseline). Written atomically, no pickle (`training.save_checkpoint`). Returns the weights path.
    """
    return save_checkpoint(path, model, config, format=CHECKPOINT_FORMAT, extra=extra, joints=list(JOINTS))


def load_localizer(path: Union[str, Path], *, device: Device = "cpu") -> tuple[BoxRegressor, LocalizerConfig, dict]:
    """Load a localiser saved by `save_localizer`: (model in eval mode, config, extra).

    FileNotFoundError when a file is missing; ValueError for another format or another joint order.
    """
    ckpt = load_checkpoint(path, format=CHECKPOINT_FORMAT, config_type=LocalizerConfig, build=build_model,
                           expect={"joints": list(JOINTS)}, device=device)
    return ckpt.model, ckpt.config, ckpt.extra


def default_checkpoint(profile_name: str, seed: int, data_kind: str = "phantom") -> Path:
    """Where chapter 4 stores the profile's localiser: `<artifacts>/models/localizer-<profile>-seed<seed>[-<kind>]`.

    data_kind: "phantom" (no suffix) or e.g. "real" -- a model trained on real data is kept apart.
    """
    suffix = "" if data_kind == "phantom" else f"-{data_kind}"
    return artifacts_dir() / "models" / f"localizer-{profile_name}-seed{seed}{suffix}"


def localizer_provenance(profile: Any, dataset: Any = None, *, seed: int = 0) -> str:
    """Content key of everything that shapes the profile's saved localiser (recorded in its JSON).

    The localisation and training code (`localize/`, `training/`), the hand preparation
    (`preparation_fingerprint`: seam, framing, boxes, joints, schema), the localiser and plan
    configs, and the training data (`data.dataset_identity`: the phantom's recipe and generator
    fingerprint, or a real data set's info). A saved localiser with another provenance is stale.
    """
    from .. import localize, training
    from ..data import dataset_identity
    from .hands import preparation_fingerprint

    return content_key(source_fingerprint(localize, training), preparation_fingerprint(),
                       profile.localizer.replace(seed=seed), profile.localization,
                       dataset_identity(dataset, profile=profile, seed=seed))


def load_or_train_localizer(profile: Any, dataset: Any = None, *, seed: int = 0, device: Device = "cpu",
                            path: Union[str, Path, None] = None,
                            progress: bool = True) -> tuple[BoxRegressor, LocalizerConfig]:
    """The profile's localiser: loaded from `<artifacts>/models/` if chapter 4 saved it, else trained now.

    profile: a `profiles.Profile`. dataset: the `data.Dataset` to train on when no checkpoint
    exists (None = `data.chapter_dataset(profile=profile, seed=seed)`). Says which it did
    (paths shown relative to the artifacts folder). Training here uses chapter 4's training
    hands (`localization_data`: its held-out 20 % of patients stay unseen), so the model is
    the one chapter 4 would have saved. A checkpoint made by other code, configs or data (its
    `localizer_provenance` differs) is stale: it is trained again and overwritten.
    """
    if path is None:
        kind = "phantom" if dataset is None or getattr(dataset, "is_phantom", False) else "real"
        path = default_checkpoint(profile.name, seed, kind)

    def train() -> tuple[BoxRegressor, LocalizerConfig, dict]:
        data = dataset
        if data is None:
            from ..data import chapter_dataset

            data = chapter_dataset(profile=profile, seed=seed, progress=progress)
        config = profile.localizer.replace(seed=seed)
        hands = localization_data(data, profile, seed, progress=progress)
        result = train_localizer(hands.train, config, device=device, progress=progress)
        return result.model, config, {"train_seconds": result.seconds, "train_hands": len(hands.train),
                                      "mean_boxes": mean_boxes(hands.train).tolist()}

    model, config, _ = load_or_train(
        path, format=CHECKPOINT_FORMAT, provenance=localizer_provenance(profile, dataset, seed=seed),
        what="localiser", load=lambda: load_localizer(path, device=device), train=train,
        save=lambda made, extra: save_localizer(path, made[0], made[1], extra={**made[2], **extra}),
        loaded_note=lambda made: f"{made[1].backbone}, input {made[1].input_size}",
        training_note=f"the {profile.name!r} profile's, as chapter 4 trains and saves it")
    return model, config
