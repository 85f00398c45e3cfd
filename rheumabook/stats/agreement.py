"""Agreement between raters in the paper's "1 vs 2" regime (paper §3.1, §3.5, Table 1 "Average expert").

Every rater's score of a site is compared with the aggregate of the other raters' scores
of that site (`one_vs_two`): by default their mean rounded to a grade (halves down),
optionally their Dawid-Skene aggregate. From these pairs come each rater's class-weighted
accuracy and MAE (`agreement_by_rater`, the metrics of `rheumabook.stats.metrics` with the
reference as y_true) and the paper's "Average expert" row, their mean over the raters, with
an optional cluster bootstrap over patients (`agreement_table`); `paper_comparison` puts
it beside the paper's numbers (`PAPER_AVERAGE_EXPERT`, `PAPER_AVERAGE_EXPERT_SD`).

Scores are long tables (`schema.SCORES_COLUMNS`), validated by `schema.check_scores`.
Used by chapter 2; the phantom's raters (`rheumabook.phantom.raters`) are calibrated on it.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ..aggregate import dawid_skene
from ..joints import MAX_SCORE, SCORE_KINDS
from ..schema import check_scores

__all__ = [
    "PAPER_AVERAGE_EXPERT", "PAPER_AVERAGE_EXPERT_SD", "Reference", "one_vs_two", "agreement_by_rater",
    "agreement_table", "paper_comparison",
]

PAPER_AVERAGE_EXPERT: dict[str, dict[str, float]] = {
    "erosion": {"accuracy": 0.79, "mae": 0.48},
    "jsn": {"accuracy": 0.76, "mae": 0.25},
}
"""Paper Table 1, row "Average expert" (1 vs 2 regime, weighted metrics): the calibration target."""

PAPER_AVERAGE_EXPERT_SD: dict[str, dict[str, float]] = {
    "erosion": {"accuracy": 0.03, "mae": 0.13},
    "jsn": {"accuracy": 0.03, "mae": 0.04},
}
"""The +/- of the same row of Table 1 (the paper does not say over what it is taken)."""

Reference = Literal["mean", "dawid_skene"]
"""What a rater is compared with in `one_vs_two`: the others' rounded mean or their Dawid-Skene aggregate."""


def one_vs_two(scores: pd.DataFrame, *, reference: Reference = "mean") -> pd.DataFrame:
    """Every rater's score next to the aggregate of the other raters' scores of the same site ("1 vs 2").

    reference:
        "mean" (default): the mean of the other raters' scores, rounded to a grade, an exact half
            rounded DOWN (toward less damage). With two other raters there is no majority to vote
            on; the mean is the natural consensus of two ordinal grades, it is transparent and
            deterministic and it needs no model. Rounding halves down is the conservative reading
            (damage both do not agree on is not counted) and matches our majority-vote tie rule.
            Sites the other raters did not score at all are skipped; where only one other rater
            scored, that score is the reference.
        "dawid_skene": Dawid-Skene fitted on the other raters only (the paper's own aggregation,
            §3.1); offered as a sensitivity check. With two raters DS is weakly determined: it
            breaks every disagreement with the prior and confusion matrices it fitted from those
            same two opinions.
    Returns:
        DataFrame kind, expert_id, patient_id, hand, joint, score, reference (int64).
    """
    scores = check_scores(scores)
    keys = ["kind", "patient_id", "hand", "joint"]
    experts = sorted(scores["expert_id"].unique())
    if len(experts) < 2:
        raise ValueError(f"1 vs 2 agreement needs at least two raters, got {experts}")
    out = []
    for expert in experts:
        own = scores[scores["expert_id"] == expert]
        others = scores[scores["expert_id"] != expert]
        if reference == "mean":
            ref = others.groupby(keys, sort=False)["score"].mean()
            ref = np.ceil(ref - 0.5).astype(np.int64).rename("reference")  # halves round down
        elif reference == "dawid_skene":
            agg = dawid_skene(others)
            ref = agg.set_index(keys)["score"].astype(np.int64).rename("reference")
        else:
            raise ValueError(f"unknown reference {reference!r}; expected 'mean' or 'dawid_skene'")
        merged = own.join(ref, on=keys, how="inner")
        out.append(merged[["kind", "expert_id", "patient_id", "hand", "joint", "score", "reference"]])
    return pd.concat(out, ignore_index=True)


def _class_counts(pairs: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per patient (P) and reference grade (K): counts, correct counts, summed |error|; plus patient ids."""
    k = MAX_SCORE[kind] + 1
    pid_codes, pids = pd.factorize(pairs["patient_id"])
    ref = pairs["reference"].to_numpy()
    err = np.abs(pairs["score"].to_numpy() - ref)
    flat = pid_codes * k + ref
    size = len(pids) * k
    n = np.bincount(flat, minlength=size).reshape(-1, k).astype(float)
    correct = np.bincount(flat, weights=(err == 0).astype(float), minlength=size).reshape(-1, k)
    abserr = np.bincount(flat, weights=err.astype(float), minlength=size).reshape(-1, k)
    return n, correct, abserr, np.asarray(pids)


def _weighted_from_counts(n: np.ndarray, correct: np.ndarray, abserr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted accuracy and MAE from (..., K) class totals: means over the classes with n > 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.nanmean(np.where(n > 0, correct / n, np.nan), axis=-1)
        mae = np.nanmean(np.where(n > 0, abserr / n, np.nan), axis=-1)
    return acc, mae


def agreement_by_rater(scores: pd.DataFrame, *, reference: Reference = "mean") -> pd.DataFrame:
    """Each rater's weighted accuracy and MAE against the other raters ("1 vs 2"): rows (kind, expert_id).

    Columns: kind, expert_id, accuracy, mae, n (sites compared). See `one_vs_two` for the reference.
    The weighted metrics are those of `rheumabook.stats.metrics` with the reference as y_true.
    """
    pairs = one_vs_two(scores, reference=reference)
    rows = []
    for (kind, expert), group in pairs.groupby(["kind", "expert_id"], sort=True):
        n, correct, abserr, _ = _class_counts(group, kind)
        acc, mae = _weighted_from_counts(n.sum(0), correct.sum(0), abserr.sum(0))
        rows.append({"kind": kind, "expert_id": expert, "accuracy": float(acc), "mae": float(mae), "n": len(group)})
    return pd.DataFrame(rows)


def agreement_table(
    scores: pd.DataFrame,
    *,
    reference: Reference = "mean",
    n_boot: int = 0,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """The paper's "Average expert" row (Table 1): 1-vs-2 weighted accuracy and MAE, averaged over the raters.

    For every rater, its scores are compared with the aggregate of the other raters' scores of the
    same sites (`one_vs_two`; default: their mean rounded, halves down), giving a weighted accuracy
    and a weighted MAE per kind (paper §3.5); the table averages these over the raters.

    With `n_boot` > 0, a cluster bootstrap over patients (all of a patient's joints resampled
    together, the same patients for every rater) adds percentile intervals at `level`.

    Returns:
        DataFrame indexed by kind ("erosion", "jsn") with columns accuracy, mae, n_raters, n_sites
        (+ accuracy_low, accuracy_high, mae_low, mae_high when bootstrapped).
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    pairs = one_vs_two(scores, reference=reference)
    rng = np.random.default_rng(seed)
    rows = {}
    for kind in [k for k in SCORE_KINDS if k in set(pairs["kind"])]:
        sub = pairs[pairs["kind"] == kind]
        patients = pd.Index(pd.unique(sub["patient_id"]))
        experts = sorted(sub["expert_id"].unique())
        k = MAX_SCORE[kind] + 1
        # (R, P, K) class totals per rater and patient, on one common patient axis.
        tensors = np.zeros((3, len(experts), len(patients), k))
        for i, expert in enumerate(experts):
            group = sub[sub["expert_id"] == expert]
            n, correct, abserr, pids = _class_counts(group, kind)
            at = patients.get_indexer(pids)
            tensors[0, i, at], tensors[1, i, at], tensors[2, i, at] = n, correct, abserr
        acc, mae = _weighted_from_counts(*tensors.sum(axis=2))  # (R,) each
        row = {"accuracy": float(acc.mean()), "mae": float(mae.mean()), "n_raters": len(experts), "n_sites": len(sub)}
        if n_boot:
            # Multinomial patient weights = resampling patients with replacement.
            weights = rng.multinomial(len(patients), np.full(len(patients), 1.0 / len(patients)), size=n_boot)
            totals = np.einsum("bp,srpk->sbrk", weights, tensors)  # (3, B, R, K)
            b_acc, b_mae = _weighted_from_counts(*totals)  # (B, R)
            alpha = (1.0 - level) / 2.0
            row["accuracy_low"], row["accuracy_high"] = np.nanquantile(b_acc.mean(axis=1), [alpha, 1 - alpha])
            row["mae_low"], row["mae_high"] = np.nanquantile(b_mae.mean(axis=1), [alpha, 1 - alpha])
        rows[kind] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "kind"
    return table


def paper_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """`agreement_table` output beside the paper's Table 1 "Average expert" numbers (chapter 2).

    Returns a DataFrame indexed by (kind, metric) with columns phantom, paper, paper_sd, difference.
    """
    rows = []
    for kind in table.index:
        for metric in ("accuracy", "mae"):
            ours, paper = float(table.loc[kind, metric]), PAPER_AVERAGE_EXPERT[kind][metric]
            rows.append({"kind": kind, "metric": metric, "phantom": ours, "paper": paper,
                         "paper_sd": PAPER_AVERAGE_EXPERT_SD[kind][metric], "difference": ours - paper})
    return pd.DataFrame(rows).set_index(["kind", "metric"])
