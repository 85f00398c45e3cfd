"""Training the joint scorer (paper §3.3-3.4) on `rheumabook.training.fit`, and its checkpoints.

- `sampling_weights` / `epoch_indices`: batches drawn with weights inversely proportional to the
  frequency of each site's grade (paper §3.3), with replacement, one epoch = as many draws as sites.
- `train_model`: one `ScoringModel` in two stages, two `fit` calls on the same model: the backbone
  frozen (only the head learns, at `frozen_lr`), then everything unfrozen (at `unfrozen_lr`); AdamW
  with weight decay, gradient clipping; warm-up + cosine for transformers, ReduceLROnPlateau for
  CNNs (`schedule_for`); the paper's augmentations (`augment.augment_crops`); the focal loss over
  smoothed targets per kind, sites without that kind's score masked out.
- `train_scorer`: the shared set-up (one model, both kinds) or the independent one (one model per
  kind), as `config.shared` says; returns a `Scorer`.
- `save_scorer`, `load_scorer`, `default_checkpoint`, `load_or_train_scorer`: checkpoints with
  `training.save_checkpoint` / `load_checkpoint` (safetensors + JSON, format `CHECKPOINT_FORMAT`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from ..cache import artifacts_dir, content_key, source_fingerprint
from ..joints import MAX_SCORE, SCORE_KINDS
from ..profiles import ScoringConfig
from ..training import (FitConfig, StepContext, checkpoint_paths, fit, load_checkpoint, load_or_train,
                        read_checkpoint_header, save_checkpoint, seeded)
from ..training.distributed import rank_seed
from .augment import augment_crops, augmentations, standardize_crops, to_unit
from .data import CropSet
from .losses import focal_loss
from .model import ScoringModel, load_backbone_weights, num_classes

__all__ = ["CHECKPOINT_FORMAT", "TRANSFORMER_FAMILIES", "schedule_for", "build_scorer", "sampling_weights",
           "epoch_indices", "Scorer", "train_model", "train_scorer", "save_scorer", "load_scorer", "scorer_provenance",
           "default_checkpoint", "load_or_train_scorer", "crop_probabilities"]

CHECKPOINT_FORMAT = "rheumabook.scoring/1"
"""The format tag of a scoring-model checkpoint."""
CALIBRATION_SOURCE = "truth"
"""The labels the calibration strength is fitted to on the phantom's calibration patients (chapter 7)."""
TRANSFORMER_FAMILIES: tuple[str, ...] = ("tiny_vit", "swin", "vit", "deit", "mobilevit", "maxvit", "coatnet",
                                         "test_vit")
"""timm name prefixes trained as transformers (warm-up + cosine); every other backbone counts as a CNN."""
Device = Union[str, torch.device]


def schedule_for(config: ScoringConfig) -> str:
    """`fit`'s scheduler: "warmup_cosine" for a transformer backbone, "plateau" for a CNN (paper §3.4)."""
    if config.schedule == "cosine":
        return "warmup_cosine"
    if config.schedule == "plateau":
        return "plateau"
    return "warmup_cosine" if config.backbone.startswith(TRANSFORMER_FAMILIES) else "plateau"


def build_scorer(config: ScoringConfig, kinds: Sequence[str] = SCORE_KINDS) -> ScoringModel:
    """The `ScoringModel` of `config` for `kinds` (random weights; seed them with `training.seeded`)."""
    return ScoringModel(config.backbone, kinds=kinds, img_size=config.crop_size, hidden=config.hidden,
                        backbone_kwargs=config.backbone_kwargs)


def sampling_weights(labels: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) sampling weights: per kind, 1 / (classes present x count of the site's grade), summed over kinds.

    For one kind every grade present then gets the same total weight: sampled batches are
    balanced in expectation. For the shared model each kind contributes its own balancing term
    (a site with both scores carries both). A site with no score at all gets weight 0.
    """
    n = len(next(iter(labels.values())))
    weights = np.zeros(n)
    for y in labels.values():
        y = np.asarray(y)
        present = y >= 0
        if not present.any():
            continue
        counts = np.bincount(y[present])
        n_classes = int((counts > 0).sum())
        weights[present] += 1.0 / (n_classes * counts[y[present]])
    if not weights.any():
        raise ValueError("no site has a label to train on")
    return weights


def epoch_indices(weights: np.ndarray, rng: np.random.Generator, n: Optional[int] = None) -> np.ndarray:
    """`n` (default: all sites) site indices drawn with replacement with probability proportional to `weights`."""
    p = np.asarray(weights, dtype=float) / np.sum(weights)
    return rng.choice(len(p), size=len(p) if n is None else int(n), replace=True, p=p)


@dataclass
class Scorer:
    """Trained scoring model(s): one shared model (both kinds) or one per kind, with their history."""

    models: list[ScoringModel]
    config: ScoringConfig
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0
    provenance: str = ""  # `scorer_provenance` of the run that made it ("" when unknown)
    priors: dict = field(default_factory=dict)  # {kind: {"natural", "sampled"}}: `calibration.training_priors`

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds scored, in `SCORE_KINDS` order."""
        return tuple(k for k in SCORE_KINDS if any(k in m.kinds for m in self.models))

    def predict_proba(self, crops: np.ndarray, *, batch_size: int = 256, device: Device = "cpu") -> dict[str, np.ndarray]:
        """{kind: (N, grades) float32 probabilities} for (N, S, S) crops (eval mode, standardised like training)."""
        for model in self.models:
            model.eval().to(device)
        return crop_probabilities(self.models, crops, batch_size=batch_size, device=device)

    def predict(self, crops: np.ndarray, **kwargs: Any) -> dict[str, np.ndarray]:
        """{kind: (N,) int64 grades}: the most probable grade of each crop."""
        return {k: p.argmax(axis=1).astype(np.int64) for k, p in self.predict_proba(crops, **kwargs).items()}

    def calibrated(self, proba: dict[str, np.ndarray], tau: Optional[float] = None) -> dict[str, np.ndarray]:
        """`proba` (as `predict_proba` gives it) re-weighted from the balanced training draws to the
        training labels' own grade frequencies (`calibration.prior_adjusted`): grades whose sum is a total.

        tau: the adjustment's strength; None = each kind's fitted strength (`fit_calibration`), or
        1 (Bayes) where none was fitted.
        """
        from .calibration import prior_adjusted

        missing = [k for k in proba if k not in self.priors]
        if missing:
            raise ValueError(f"this scorer holds no training priors for {missing} (saved by older code: train it again)")
        return {k: prior_adjusted(p, np.asarray(self.priors[k]["natural"]), np.asarray(self.priors[k]["sampled"]),
                                  tau=self.tau(k) if tau is None else tau).astype(np.float32)
                for k, p in proba.items()}

    def tau(self, kind: str) -> float:
        """The calibration strength of `kind`: fitted by `fit_calibration`, else 1 (Bayes)."""
        return float(self.priors.get(kind, {}).get("tau", 1.0))

    def fit_calibration(self, crops: CropSet, source: str = "truth", *, device: Device = "cpu") -> pd.DataFrame:
        """Fit each kind's calibration strength on `crops` (`calibration.fit_tau`) and keep it in `priors`.

        crops: sites set aside for it, never trained or reported on (`ScoringData.calibration`);
        source: their labels ("truth" on the phantom, "ds" on real data). Returns the bias per joint
        of every strength tried, one row per (kind, tau), with the chosen one marked; `calibration_table`
        gives the same from the priors a saved scorer keeps.
        """
        proba = self.predict_proba(crops.crops, device=device)
        return self.fit_calibration_to(proba, {kind: crops.labels(kind, source) for kind in proba}, source)

    def fit_calibration_to(self, proba: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                           source: str) -> pd.DataFrame:
        """`fit_calibration` from balanced probabilities scored elsewhere: proba[kind] (N, G), labels[kind] (N,).

        The pipeline fits on its own boxes this way (`pipeline.RheumaVIT.fit_calibration`): the
        strength a total needs depends on the crops the scorer is given, not only on the scorer.
        """
        from .calibration import fit_tau

        for kind, p in proba.items():
            priors = self.priors[kind]
            tau, bias = fit_tau(p, labels[kind], np.asarray(priors["natural"]), np.asarray(priors["sampled"]))
            self.priors[kind] = {**priors, "tau": tau, "tau_source": source,
                                 "tau_sites": int((np.asarray(labels[kind]) >= 0).sum()),
                                 "tau_bias": [float(b) for b in bias]}
        return self.calibration_table()

    def calibration_table(self) -> pd.DataFrame:
        """The fitted calibration (`fit_calibration`): kind, tau, bias_per_joint, chosen; empty when none was fitted."""
        from .calibration import TAU_GRID

        rows = [{"kind": kind, "tau": t, "bias_per_joint": b, "chosen": t == priors["tau"]}
                for kind, priors in self.priors.items() if "tau_bias" in priors
                for t, b in zip(TAU_GRID, priors["tau_bias"])]
        return pd.DataFrame(rows, columns=["kind", "tau", "bias_per_joint", "chosen"])


@torch.no_grad()
def crop_probabilities(models: Sequence[torch.nn.Module], crops: np.ndarray, *, batch_size: int = 256,
                       device: Device = "cpu", bfloat16: bool = False,
                       channels_last: bool = False) -> dict[str, np.ndarray]:
    """{kind: (N, grades) float32 probabilities} of (N, S, S) crops through `models` as they are.

    Each batch of `batch_size` crops is standardised as in training (`to_unit`,
    `standardize_crops`), run through every model (under bf16 autocast when `bfloat16`, in
    channels-last layout when `channels_last`), and each model's logits split per kind
    (`ScoringModel.split_logits`) and soft-maxed. `Scorer.predict_proba` and the pipeline's
    `predict_crops` both score this way.
    """
    device_type = torch.device(device).type
    out: dict[str, list] = {k: [] for k in SCORE_KINDS if any(k in m.kinds for m in models)}
    for model in models:
        for start in range(0, len(crops), batch_size):
            x = standardize_crops(to_unit(crops[start:start + batch_size])).to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bfloat16):
                logits = model(x)
            for kind, part in model.split_logits(logits.float()).items():
                out[kind].append(torch.softmax(part, dim=1).cpu())
    return {k: torch.cat(v).numpy() if v else np.zeros((0, num_classes(k)), np.float32) for k, v in out.items()}


def _step(train: CropSet, config: ScoringConfig, kinds: Sequence[str], source: str, offset: int, device: Device):
    """The per-batch step: the epoch's crop draw, augmentation, standardisation, forward, masked focal loss."""
    labels = {k: torch.from_numpy(train.labels(k, source).copy()) for k in kinds}
    generator = torch.Generator().manual_seed(rank_seed(config.seed + 7919 * offset))  # other draws per process
    pipeline = augmentations(config.augment, config.crop_size)

    def step(model: ScoringModel, idx: np.ndarray, context: StepContext) -> tuple[torch.Tensor, int]:
        x = to_unit(train.epoch_crops(offset + context.epoch)[idx])
        if pipeline is not None:
            x = augment_crops(x, generator, pipeline)
        x = standardize_crops(x).to(device)
        with context.autocast():
            logits = model(x)
        parts = model.split_logits(logits.float())
        t_idx = torch.from_numpy(idx)
        loss = sum(focal_loss(parts[k], labels[k][t_idx].to(device), num_classes(k), p=config.smoothing,
                              gamma=config.gamma, alpha=config.alpha) for k in kinds)
        return loss, len(idx)

    return step


def _stage(model: ScoringModel, train: CropSet, config: ScoringConfig, kinds: Sequence[str], source: str, *,
           frozen: bool, offset: int, weights: np.ndarray, rng: np.random.Generator, evaluate: Any,
           device: Device, progress: bool, desc: str) -> pd.DataFrame:
    """One training stage (`fit` call): frozen backbone at frozen_lr, or all unfrozen at unfrozen_lr."""
    epochs = config.frozen_epochs if frozen else config.unfrozen_epochs
    model.freeze_backbone(frozen)
    steps = max(1, math.ceil(len(train) / config.batch_size))

    def batches(epoch: int):
        yield from np.array_split(epoch_indices(weights, rng), steps)

    fit_config = FitConfig(epochs=epochs, lr=config.frozen_lr if frozen else config.unfrozen_lr,
                           weight_decay=config.weight_decay, grad_clip=config.grad_clip,
                           scheduler=schedule_for(config), warmup_fraction=config.warmup_fraction)
    result = fit(model, _step(train, config, kinds, source, offset, device), batches, fit_config,
                 steps_per_epoch=steps, evaluate=evaluate, device=device, progress=progress,
                 epoch_columns=lambda e: {"stage": "frozen" if frozen else "unfrozen"},
                 desc=f"{desc} ({'frozen backbone' if frozen else 'all unfrozen'})")
    history = result.history.assign(epoch=result.history["epoch"] + offset)
    return history


def train_model(train: CropSet, config: ScoringConfig, kinds: Sequence[str] = SCORE_KINDS, *, labels: str = "ds",
                val: Optional[CropSet] = None, device: Device = "cpu", progress: bool = True,
                desc: str = "training the scorer") -> tuple[ScoringModel, pd.DataFrame]:
    """Train one `ScoringModel` for `kinds` on `train`'s crops and `labels` ("ds" or "truth") labels.

    Two stages (frozen, then unfrozen; either may have 0 epochs). Seeded by config.seed: initial
    weights, the weighted draws of each epoch, the augmentations. With `val`, each epoch's history
    row gets the weighted accuracy on it against the truth (``val_acc_<kind>``) -- for the curves
    only; nothing is selected on it. Returns (model in eval mode, history).
    """
    kinds = tuple(k for k in SCORE_KINDS if k in kinds)
    model = seeded(config.seed, lambda: build_scorer(config, kinds))
    if config.backbone_weights:  # chapter 6: the self-supervised pretrained backbone (`rheumabook.pretrain`)
        load_backbone_weights(model.backbone, artifacts_dir() / config.backbone_weights)
    weights = sampling_weights({k: train.labels(k, labels) for k in kinds})
    rng = np.random.default_rng([config.seed, 0x5A])

    def on_val(m: ScoringModel, epoch: int) -> dict:
        from ..stats import weighted_accuracy

        pred = Scorer([m], config).predict(val.crops, device=device)
        m.train()
        return {f"val_acc_{k}": weighted_accuracy(*_present(val.labels(k, "truth"), pred[k])) for k in kinds}

    histories, offset = [], 0
    for frozen in (True, False):
        if (config.frozen_epochs if frozen else config.unfrozen_epochs) < 1:
            continue
        histories.append(_stage(model, train, config, kinds, labels, frozen=frozen, offset=offset, weights=weights,
                                rng=rng, evaluate=on_val if val is not None else None, device=device,
                                progress=progress, desc=desc))
        offset += config.frozen_epochs if frozen else config.unfrozen_epochs
    model.freeze_backbone(False)
    return model.eval(), pd.concat(histories, ignore_index=True)


def _present(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.asarray(y_true) >= 0
    return np.asarray(y_true)[keep], np.asarray(y_pred)[keep]


def train_scorer(train: CropSet, config: ScoringConfig, *, labels: str = "ds", val: Optional[CropSet] = None,
                 device: Device = "cpu", progress: bool = True, desc: str = "training the scorer") -> Scorer:
    """The shared model (config.shared) or one independent model per kind, trained with `train_model`."""
    from .calibration import training_priors

    start = time.perf_counter()
    models, histories, priors = [], [], {}
    for kinds in config.kinds:
        model, history = train_model(train, config, kinds, labels=labels, val=val, device=device, progress=progress,
                                     desc=desc if config.shared else f"{desc}: {kinds[0]}")
        models.append(model)
        histories.append(history.assign(model="+".join(kinds)))
        y = {k: train.labels(k, labels) for k in kinds}
        priors.update(training_priors(y, sampling_weights(y), {k: MAX_SCORE[k] + 1 for k in kinds}))
    return Scorer(models, config, pd.concat(histories, ignore_index=True), time.perf_counter() - start,
                  priors=priors)


def _stems(path: Union[str, Path], config: ScoringConfig) -> list[Path]:
    path = checkpoint_paths(path)[0].with_suffix("")
    return [path] if config.shared else [path.with_name(f"{path.name}-{kinds[0]}") for kinds in config.kinds]


def save_scorer(path: Union[str, Path], scorer: Scorer, extra: Optional[dict] = None) -> list[Path]:
    """Save each model as `<stem>[-<kind>].safetensors` + `.json` (config, kinds, history, `extra`)."""
    history = scorer.history.drop(columns=["seconds"], errors="ignore").to_dict(orient="list")
    out = []
    for stem, model in zip(_stems(path, scorer.config), scorer.models):
        out.append(save_checkpoint(stem, model, scorer.config, format=CHECKPOINT_FORMAT, kinds=list(model.kinds),
                                   extra={"history": history, "train_seconds": scorer.seconds, "priors": scorer.priors,
                                          **(extra or {})}))
    return out


def load_scorer(path: Union[str, Path], *, device: Device = "cpu", shared: bool = True) -> Scorer:
    """Load a scorer saved by `save_scorer` (`shared=False`: the per-kind files of an independent one)."""
    stem = checkpoint_paths(path)[0].with_suffix("")
    stems = [stem] if shared else [stem.with_name(f"{stem.name}-{k}") for k in SCORE_KINDS]
    models, config, extra = [], None, {}
    for s in stems:
        kinds = read_checkpoint_header(s, format=CHECKPOINT_FORMAT)["kinds"]
        ckpt = load_checkpoint(s, format=CHECKPOINT_FORMAT, config_type=ScoringConfig,
                               build=lambda c, kinds=kinds: build_scorer(c, kinds), expect={"kinds": kinds},
                               device=device)
        models.append(ckpt.model)
        config, extra = ckpt.config, ckpt.extra
    return Scorer(models, config, pd.DataFrame(extra.get("history", {})), float(extra.get("train_seconds", 0.0)),
                  str(extra.get("provenance", "")), dict(extra.get("priors", {})))


def default_checkpoint(profile_name: str, seed: int, data_kind: str = "phantom") -> Path:
    """Where chapter 5 keeps the profile's scorer: `<artifacts>/models/scorer-<profile>-seed<seed>[-<kind>]`."""
    suffix = "" if data_kind == "phantom" else f"-{data_kind}"
    return artifacts_dir() / "models" / f"scorer-{profile_name}-seed{seed}{suffix}"


def scorer_provenance(profile: Any, dataset: Any = None, *, seed: int = 0) -> str:
    """Content key of everything that shapes the profile's saved scorer (recorded in its JSON).

    The scoring, training and aggregation code (`scoring/`, `training/`, `aggregate`: the
    Dawid-Skene labels), the patient split (`localize.hands`), the scoring config, the training
    data (`data.dataset_identity`), how many patients the scorer's phantom stream adds
    (`profiles.ScoringPlan.train_patients`; the stream's images come from the same generator, whose
    fingerprint the identity holds) and the calibration patients set aside (`calibration_patients`).
    A saved scorer with another provenance is stale.
    """
    from .. import aggregate, scoring, training
    from ..data import dataset_identity
    from ..localize import hands
    from .data import CALIBRATION_STREAM, STREAM

    plan = profile.scoring_comparison
    return content_key(source_fingerprint(scoring, training, aggregate, hands), profile.scoring.replace(seed=seed),
                       dataset_identity(dataset, profile=profile, seed=seed),
                       {"stream": STREAM, "train_patients": plan.train_patients,
                        "calibration": [CALIBRATION_STREAM, plan.calibration_patients, CALIBRATION_SOURCE]})


def load_or_train_scorer(profile: Any, dataset: Any = None, *, seed: int = 0, device: Device = "cpu",
                         path: Union[str, Path, None] = None, data: Any = None, progress: bool = True) -> Scorer:
    """The profile's scorer: loaded from `<artifacts>/models/` if saved, else trained now (and saved).

    Trains on chapter 5's training crops (`data.chapter_scoring_data`: chapter 4's training patients
    and, on the phantom, the scorer's own phantom stream up to `profile.scoring_comparison.train_patients`,
    with the experts' Dawid-Skene labels), evaluated each epoch on the held-out crops for the curves.
    data: a ready `ScoringData` (else built from `dataset`, else from the profile's chapter data set).
    """
    from .data import chapter_scoring_data

    config = profile.scoring.replace(seed=seed)
    if path is None:
        kind = "phantom" if dataset is None or getattr(dataset, "is_phantom", False) else "real"
        path = default_checkpoint(profile.name, seed, kind)
    n_train: list[int] = []

    def train() -> Scorer:
        nonlocal data, dataset
        if data is None:
            if dataset is None:
                from ..data import chapter_dataset

                dataset = chapter_dataset(profile=profile, seed=seed, progress=progress)
            data = chapter_scoring_data(profile, dataset, seed, progress=progress)
        n_train.append(len(data.train))
        has_truth = data.test.labels(SCORE_KINDS[0], "truth").max() >= 0
        scorer = train_scorer(data.train, config, val=data.test if has_truth else None, device=device,
                              progress=progress)
        if data.calibration is not None:
            scorer.fit_calibration(data.calibration, CALIBRATION_SOURCE, device=device)
        return scorer

    def save(scorer: Scorer, extra: dict) -> None:
        save_scorer(path, scorer, extra={"train_crops": n_train[-1], **extra})
        scorer.provenance = extra["provenance"]

    return load_or_train(_stems(path, config), format=CHECKPOINT_FORMAT,
                         provenance=scorer_provenance(profile, dataset, seed=seed), what="scorer",
                         load=lambda: load_scorer(path, device=device, shared=config.shared), train=train, save=save,
                         loaded_note=lambda scorer: config.backbone,
                         training_note=f"the {profile.name!r} profile's, {config.backbone}, "
                                       f"{config.frozen_epochs} + {config.unfrozen_epochs} epochs")
