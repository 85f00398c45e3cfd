"""The scoring loss: neighbour-smoothed targets and the focal loss over them (paper §3.3, eq. (3)).

Erosion (0-5) and JSN (0-4) are ordinal grades scored as classes. A one-hot target would
punish predicting grade 2 for a true 3 exactly as much as predicting 0, so the paper spreads
the target over the neighbouring grades (`smoothed_targets`) and trains with the focal loss
(`focal_loss`). A site where a score does not apply (paper §3.1) or is unknown has label -1:
it is masked out of the loss and out of the mean, never treated as grade 0.

Used by the scoring training loop (chapter 5) and plotted in chapter 5.
"""
from __future__ import annotations

import numbers
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..losses.reduction import REDUCTIONS, reduce_loss

__all__ = ["MISSING", "smoothed_targets", "focal_loss"]

MISSING: int = -1
"""The label of a site without a score; such a site drops out of the loss."""

Labels = Union[torch.Tensor, np.ndarray, list]


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return int(num_classes)


def _as_labels(labels: Labels, num_classes: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """Labels as an int64 tensor; -1 (or NaN in a float array, pandas' missing value) = missing.

    Refuses non-integral values and grades outside 0..num_classes-1 with a ValueError.
    """
    t = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels, dtype=float))
    if torch.is_floating_point(t):
        t = torch.where(torch.isnan(t), torch.full_like(t, MISSING), t)
        if (t != torch.round(t)).any():
            raise ValueError(f"labels must be whole grades (or -1 / NaN for missing), got {t[t != torch.round(t)][:5]}")
    elif t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"labels must be integer grades, got dtype {t.dtype}")
    t = t.to(device=device, dtype=torch.int64)
    bad = (t != MISSING) & ((t < 0) | (t >= num_classes))
    if bad.any():
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (or be {MISSING} = missing), "
                         f"got {t[bad][:5].tolist()}")
    return t


def smoothed_targets(labels: Labels, num_classes: int, p: float = 0.4, *,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Target distributions (..., num_classes) that spread probability `p` to the neighbouring grades.

    With y the true grade and C = num_classes (paper §3.3, "p is the probability of labeling
    error"):

        t_y     = 1 - p        if y has two neighbours (0 < y < C-1),
        t_y     = 1 - p/2      at either end (y = 0 or y = C-1: only one neighbour),
        t_{y±1} = p/2          for each neighbour that exists,
        t_c     = 0            otherwise,

    so every row sums to 1 and a one-grade miss costs less than a larger one whatever the loss.
    Written as one sum: t = (1-p) e_y + (p/2)(e_{y-1} + e_{y+1}) where a neighbour that falls
    off the scale hands its p/2 back to y.

    labels: integer grades of any shape (tensor, array or list); -1 (or NaN) = missing, whose
        row is all zeros (it carries no target; `focal_loss` masks it out anyway).
    p: 0 <= p < 1; p = 0 gives one-hot targets.
    Returns a float tensor of shape labels.shape + (num_classes,), on the labels' device.
    """
    num_classes = _check_num_classes(num_classes)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"p (the labeling-error probability) must satisfy 0 <= p < 1, got {p!r}")
    y = _as_labels(labels, num_classes, labels.device if isinstance(labels, torch.Tensor) else None)
    present = y != MISSING
    y_safe = torch.where(present, y, torch.zeros_like(y))
    grades = torch.arange(num_classes, device=y.device)
    distance = (grades - y_safe.unsqueeze(-1)).abs()
    at_end = (y_safe == 0) | (y_safe == num_classes - 1)
    # Built in `dtype` (not cast afterwards) so float64 targets are exact to float64 precision. The end
    # grades lose only one p/2 (to their single neighbour): the last term adds the missing p/2 back.
    targets = ((distance == 0).to(dtype) * (1.0 - p) + (distance == 1).to(dtype) * (p / 2)
               + (at_end.unsqueeze(-1) & (distance == 0)).to(dtype) * (p / 2))
    return targets * present.unsqueeze(-1).to(dtype)


def _scored_mask(labels: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """True where a site is scored: label present and, if given, `mask` True."""
    scored = labels != MISSING
    if mask is None:
        return scored
    mask = torch.as_tensor(mask, device=labels.device)
    if mask.shape != labels.shape:
        raise ValueError(f"mask must have the labels' shape {tuple(labels.shape)}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = scored), got dtype {mask.dtype}")
    return scored & mask


def focal_loss(logits: torch.Tensor, labels: Labels, num_classes: int, p: float = 0.4, gamma: float = 2.0,
               alpha: float = 1.0, reduction: str = "mean", mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Focal loss over neighbour-smoothed targets, paper eq. (3): -alpha sum_c t_c (1 - q_c)^gamma log q_c.

    logits: float (N, num_classes), unnormalised; q = softmax(logits) over the classes.
    labels: (N,) integer grades, -1 (or NaN) = missing; t = `smoothed_targets(labels, num_classes, p)`.
    mask: optional bool (N,), True = scored; a site is scored when its label is present and
        the mask (if any) is True. Unscored sites contribute nothing and do not count in the mean.
    gamma >= 0: focusing exponent (paper §3.4: "the standard parameter", 2: the weight grows
        quadratically with the deviation 1 - q_c from certainty). alpha > 0: overall weight.
    reduction: "mean" over the scored sites (0, still differentiable, when none is scored),
        "sum", or "none" -> (N,) per-site losses with 0 at the unscored sites.

    Why this reading of eq. (3). The paper writes the loss for "the target class" with
    probability q and target probability p_c; with a *soft* target every class c is a target
    class with weight t_c, so the loss is the t-weighted sum of the per-class focal terms:

        L = -alpha sum_c t_c (1 - q_c)^gamma log q_c.

    It is linear in t, so it is the *expected* one-hot focal loss when the recorded grade is a
    draw from t -- exactly what "p is the probability of labeling error" describes. It is the
    textbook focal loss (Lin et al. 2017) for one-hot t; for gamma = 0 it is the cross-entropy
    against the soft target, -sum_c t_c log q_c (torch's ``cross_entropy`` with probability
    targets; with p = 0 too, plain cross-entropy); and it is what MONAI's ``softmax_focal_loss``
    computes for soft targets (the tests check all three). The other conceivable reading,
    (1 - q_y)^gamma with q_y the true grade's probability alone multiplying the whole soft
    cross-entropy, is no such expectation: it lets the true grade's confidence decide how much the
    neighbours' terms count.
    The gradient w.r.t. the logits, per class term, is finite everywhere for gamma = 0 and gamma >= 1 (the
    factor (1-q)^gamma is clamped at 0 so rounding never makes it negative).
    """
    num_classes = _check_num_classes(num_classes)
    if not isinstance(logits, torch.Tensor) or not torch.is_floating_point(logits):
        raise ValueError(f"logits must be a float tensor (N, num_classes), got {type(logits).__name__} "
                         f"{getattr(logits, 'dtype', '')}")
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(f"logits must have shape (N, {num_classes}), got {tuple(logits.shape)}")
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or gamma < 0:
        raise ValueError(f"gamma must be a number >= 0, got {gamma!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha <= 0:
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    y = _as_labels(labels, num_classes, logits.device)
    if y.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},) to match the logits, got {tuple(y.shape)}")
    scored = _scored_mask(y, mask)
    # At least float32 even under bf16 autocast: log q of a rare grade needs the precision.
    log_q = F.log_softmax(logits if logits.dtype == torch.float64 else logits.float(), dim=1)
    targets = smoothed_targets(y, num_classes, p, dtype=log_q.dtype)
    modulating = (1.0 - log_q.exp()).clamp(min=0.0).pow(gamma)
    per_site = -alpha * (targets * modulating * log_q).sum(dim=1)
    if reduction == "none":
        return torch.where(scored, per_site, torch.zeros_like(per_site))
    # Selecting (not zeroing) the scored sites keeps the unscored ones out of the mean's count.
    return reduce_loss(per_site[scored], reduction)
