"""Chapter 5's comparisons at the profile's scale (paper Tables 1 and 3): backbones, CNN ensemble, shared vs independent.

`run_comparison` trains each backbone of a `profiles.ScoringPlan` with the same short two-stage
budget on the same crops and labels (the main model's config with the backbone swapped and the
plan's epochs), and returns their held-out probabilities; the RA2-DREAM-style rows are the
ResNet34 and DenseNet runs (Team Shirin's two CNNs) and the average of their probabilities
(Csabaibio's CNN ensemble); the independent set-up is the TinyViT row trained as one model per
kind; and the TinyViT row trained once more without augmentation shows what CropAndPad buys on
predicted boxes. Every run is seeded by the config's seed; CNNs get ReduceLROnPlateau, transformers warm-up
+ cosine (`train.schedule_for`).
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..profiles import ScoringConfig
from .data import CropSet
from .train import schedule_for, train_scorer

__all__ = ["ENSEMBLE_MEMBERS", "comparison_config", "run_comparison", "ensemble"]

ENSEMBLE_MEMBERS: tuple[str, ...] = ("ResNet34", "DenseNet")
"""The plan rows whose probabilities are averaged into the Csabaibio-style ensemble."""


def comparison_config(base: ScoringConfig, plan: Any, backbone: str, kwargs: dict, *,
                      shared: bool = True) -> ScoringConfig:
    """`base` with another backbone (and its keywords) and the plan's short two-stage budget."""
    return base.replace(backbone=backbone, backbone_kwargs=dict(kwargs), frozen_epochs=plan.frozen_epochs,
                        unfrozen_epochs=plan.unfrozen_epochs, shared=shared, schedule="auto")


def ensemble(probas: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The probability average of several models' {kind: (N, grades)} outputs (a soft-voting ensemble)."""
    return {k: np.mean([p[k] for p in probas], axis=0) for k in probas[0]}


def run_comparison(train: CropSet, test_crops: np.ndarray, base: ScoringConfig, plan: Any, *,
                   independent: Optional[str] = "TinyViT", without_augmentation: Optional[str] = "TinyViT",
                   extra_crops: Optional[np.ndarray] = None, labels: str = "ds", device: str = "cpu",
                   progress: bool = True) -> tuple[dict, dict, pd.DataFrame]:
    """Train the plan's backbones (plus `independent`'s per-kind variant and `without_augmentation`'s run
    with ``augment="none"``) and predict `test_crops` (and `extra_crops`, e.g. crops of predicted boxes).

    Returns ({row: {kind: (N, grades) probabilities}} on test_crops, the same on extra_crops (empty
    without them), a runs table: row, backbone, shared, augment, parameters, scheduler, cpu_seconds).
    Rows: the plan's labels, "<label> independent", "<label> without augmentation" and
    "Csabaibio-style ensemble (ResNet34 + DenseNet)".
    """
    probas: dict[str, dict[str, np.ndarray]] = {}
    extra: dict[str, dict[str, np.ndarray]] = {}
    runs = []
    jobs = [(label, name, kw, {}) for label, name, kw in plan.backbones]
    jobs += [(f"{label} independent", name, kw, {"shared": False}) for label, name, kw in plan.backbones
             if label == independent]
    jobs += [(f"{label} without augmentation", name, kw, {"augment": "none"}) for label, name, kw in plan.backbones
             if label == without_augmentation and base.augment != "none"]
    for label, name, kw, changes in jobs:
        config = comparison_config(base, plan, name, kw).replace(**changes)
        start = time.process_time()
        scorer = train_scorer(train, config, labels=labels, device=device, progress=progress, desc=label)
        probas[label] = scorer.predict_proba(test_crops, device=device)
        if extra_crops is not None:
            extra[label] = scorer.predict_proba(extra_crops, device=device)
        runs.append({"row": label, "backbone": name, "shared": config.shared, "augment": config.augment,
                     "parameters": sum(p.numel() for m in scorer.models for p in m.parameters()),
                     "scheduler": schedule_for(config), "cpu_seconds": time.process_time() - start})
    for out in (probas, extra):
        members = [out[m] for m in ENSEMBLE_MEMBERS if m in out]
        if members and len(members) == len(ENSEMBLE_MEMBERS):
            out["Csabaibio-style ensemble (ResNet34 + DenseNet)"] = ensemble(members)
    return probas, extra, pd.DataFrame(runs)
