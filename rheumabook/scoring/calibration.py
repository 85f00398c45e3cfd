"""From balanced grades to grades a total can use: the prior (logit) adjustment, Menon et al. 2021.

The scorer trains on class-balanced batches (paper §3.3, `train.sampling_weights`): rare grades
are drawn about as often as grade 0. What it learns is therefore the posterior under the
*sampled* label distribution, not the natural one. By Bayes, for a crop x and grade g,

    p_sampled(g | x) ∝ p(x | g) π_sampled(g)      and      p(g | x) ∝ p(x | g) π(g),

so the natural posterior is the sampled one re-weighted by π(g) / π_sampled(g), then renormalised
(in logits: add log π(g) - log π_sampled(g); with exactly uniform sampling this is Menon et al.'s
logit adjustment by log π(g)). The argmax of the balanced posterior maximises weighted (balanced)
accuracy, the paper's metric; the adjusted one maximises plain accuracy, and its grades sum to
totals without the over-calling of rare grades that balanced training builds in (chapter 7).

- `label_prior`: π, the grade frequencies of a label vector (with a pseudo-count).
- `sampled_prior`: π_sampled, the grade frequencies of the weighted draws.
- `prior_adjusted`: the natural posterior from the balanced one.
- `expected_grade`: Σ g p(g), a total's unbiased per-joint share under calibrated probabilities.
- `training_priors`: both priors of a training run, per kind, as a scorer's checkpoint keeps them.
- `fit_tau`: the adjustment's strength τ, chosen on sites set aside for it (patients of the scorer's
  own calibration stream, never trained or tested on) so that their grades sum to their labels' sum.

Why a strength τ below Bayes' 1: the re-weighting is exact only for probabilities that are
themselves calibrated, and the scorer's are softened by the neighbour-smoothed targets and the
focal loss (paper §3.3), which flattens them towards the neighbouring grades. The full re-weighting
then pushes too many borderline joints down to grade 0 (chapter 7 measures both). τ is a single
number per kind, fitted on patients of its own, never on the patients the book reports.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["TAU_GRID", "label_prior", "sampled_prior", "prior_adjusted", "expected_grade", "training_priors",
           "fit_tau"]

TAU_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))
"""The strengths `fit_tau` tries: 0 (the balanced grades as they are) to 1 (Bayes) in steps of 0.05."""


def label_prior(labels: np.ndarray, n_grades: int, *, weights: Optional[np.ndarray] = None,
                pseudo: float = 1.0) -> np.ndarray:
    """(n_grades,) frequencies of the grades in `labels` (entries < 0 are missing and skipped).

    weights: one weight per label (the sampling weights: then this is the sampled prior);
    pseudo: added to every grade's (weighted) count first, so no grade has probability 0.
    """
    labels = np.asarray(labels, dtype=np.int64)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != labels.shape:
        raise ValueError(f"weights must have the labels' shape {labels.shape}, got {w.shape}")
    if n_grades < 2 or pseudo < 0:
        raise ValueError(f"need n_grades >= 2 and pseudo >= 0, got {n_grades} and {pseudo}")
    keep = labels >= 0
    if (labels[keep] >= n_grades).any():
        raise ValueError(f"labels above the top grade {n_grades - 1}: {sorted(set(labels[labels >= n_grades]))}")
    if not keep.any() and pseudo == 0:
        raise ValueError("no labels to count and no pseudo-count")
    counts = np.bincount(labels[keep], weights=w[keep] / max(w[keep].mean(), 1e-300) if keep.any() else None,
                         minlength=n_grades) + pseudo
    return counts / counts.sum()


def sampled_prior(labels: np.ndarray, weights: np.ndarray, n_grades: int, *, pseudo: float = 1.0) -> np.ndarray:
    """(n_grades,) grade frequencies of draws made with `weights` (`train.sampling_weights`) from `labels`."""
    return label_prior(labels, n_grades, weights=weights, pseudo=pseudo)


def prior_adjusted(proba: np.ndarray, prior: np.ndarray, sampled: Optional[np.ndarray] = None, *,
                   tau: float = 1.0) -> np.ndarray:
    """The natural posterior: `proba` (N, G) re-weighted by (prior / sampled) ** tau per grade, rows renormalised.

    prior: π (G,), the natural grade frequencies; sampled: π_sampled (G,), those of the training
    draws (None: uniform, Menon et al.'s case). tau: the adjustment's strength (0: none, 1: Bayes).
    Computed in logs, so tiny probabilities do not underflow.
    """
    proba = np.asarray(proba, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    sampled = np.full_like(prior, 1.0 / len(prior)) if sampled is None else np.asarray(sampled, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(prior) or sampled.shape != prior.shape:
        raise ValueError(f"proba must be (N, {len(prior)}) and both priors ({len(prior)},); got {proba.shape}, "
                         f"{prior.shape}, {sampled.shape}")
    if (prior <= 0).any() or (sampled <= 0).any():
        raise ValueError("priors must be positive (give label_prior a pseudo-count)")
    logits = np.log(np.clip(proba, 1e-300, None)) + tau * (np.log(prior) - np.log(sampled))
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def expected_grade(proba: np.ndarray) -> np.ndarray:
    """(N,) Σ_g g · p(g): the mean grade under the probabilities (a total's share of each joint)."""
    proba = np.asarray(proba, dtype=np.float64)
    return proba @ np.arange(proba.shape[1], dtype=np.float64)


def training_priors(labels: dict[str, np.ndarray], weights: np.ndarray,
                    n_grades: dict[str, int]) -> dict[str, dict[str, list[float]]]:
    """{kind: {"natural": π, "sampled": π_sampled}} of one training run: the labels' own grade
    frequencies and those of the draws made with `weights` (`train.sampling_weights` of the same
    labels). Lists of floats, so a checkpoint's JSON keeps them (`scoring.Scorer.priors`)."""
    return {kind: {"natural": label_prior(y, n_grades[kind]).tolist(),
                   "sampled": sampled_prior(y, weights, n_grades[kind]).tolist()} for kind, y in labels.items()}


def fit_tau(proba: np.ndarray, labels: np.ndarray, prior: np.ndarray, sampled: Optional[np.ndarray] = None, *,
            taus: tuple[float, ...] = TAU_GRID) -> tuple[float, np.ndarray]:
    """(τ, per-τ bias): the strength whose adjusted grades sum closest to the labels on these sites.

    proba: (N, G) balanced probabilities of N sites set aside for calibration; labels: (N,) their
    reference grades (< 0: missing, skipped). prior, sampled: as `prior_adjusted`. The bias of a τ
    is the mean over sites of (adjusted argmax grade - label): a total's bias per joint. The τ of
    the smallest |bias| wins; a tie goes to the larger τ (closer to Bayes). Returns τ and the
    biases, one per entry of `taus`, for a chapter to draw.
    """
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if proba.ndim != 2 or len(proba) != len(labels):
        raise ValueError(f"proba must be (N, G) with one label per row; got {proba.shape} and {labels.shape}")
    keep = labels >= 0
    if not keep.any():
        raise ValueError("fit_tau needs sites with a label; all are missing")
    if not taus:
        raise ValueError("fit_tau needs at least one strength to try")
    bias = np.array([float(np.mean(prior_adjusted(proba[keep], prior, sampled, tau=t).argmax(axis=1) - labels[keep]))
                     for t in taus])
    best = min(range(len(taus)), key=lambda i: (round(abs(bias[i]), 12), -taus[i]))
    return float(taus[best]), bias
