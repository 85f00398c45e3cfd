"""Scoring aggregated labels and single raters against a known truth (the phantom; chapter 2).

On the phantom every joint's true grade is known, so each aggregate (majority vote, Dawid-Skene)
and each simulated radiologist can be scored against it with the class-weighted metrics of paper
§3.5 (`metrics`), and Dawid-Skene's estimated rater confusion matrices and grade prior can be put
beside the true ones. Rows are matched by (patient, hand, joint, kind), never by position.

Result tables are long: one row per (method, kind, metric) with columns method, kind, metric
("accuracy" / "mae"), estimate, low, high (a 95 % cluster-bootstrap interval over patients; NaN
where none is computed). Select by name, e.g. ``table.set_index(["method", "kind", "metric"])``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..aggregate import with_truth
from ..joints import MAX_SCORE, SCORE_KINDS
from ..schema import KEY_COLUMNS
from .metrics import bootstrap_ci, weighted_accuracy, weighted_mae

__all__ = ["WEIGHTED_METRICS", "against_truth", "raters_against_truth", "confusion_recovery", "prior_recovery"]

WEIGHTED_METRICS = (("accuracy", weighted_accuracy), ("mae", weighted_mae))
"""The metrics of paper §3.5 by the names the result tables use."""


def against_truth(aggregates: Mapping[str, pd.DataFrame], truth: pd.DataFrame, *, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Weighted accuracy and MAE of each aggregate against the truth, with cluster-bootstrap intervals.

    `aggregates`: {method name: `majority_vote` / `dawid_skene` output}; `truth`: patient_id, hand,
    joint, erosion, jsn (`Dataset.truth`). Each (method, kind) is scored on its sites with the
    true grade as y_true; the interval resamples whole patients (`metrics.bootstrap_ci` with
    groups = patient_id; `n_boot` replicates, every one seeded by `seed`). Returns the long table
    of the module docstring, methods in the given order, kinds in SCORE_KINDS order. `n_boot=0`
    computes the estimates only (low and high NaN; `stats.cohorts` scores many cohorts so).
    """
    results = []
    for method, table in aggregates.items():
        joined = with_truth(table, truth)
        for kind in SCORE_KINDS:
            sub = joined[joined["kind"] == kind]
            for metric_name, metric in WEIGHTED_METRICS:
                if n_boot == 0:
                    est, low, high = metric(sub["truth"], sub["score"]), np.nan, np.nan
                else:
                    est, low, high = bootstrap_ci(metric, sub["truth"], sub["score"], n_boot=n_boot, seed=seed,
                                                  level=level, groups=sub["patient_id"])
                results.append({"method": method, "kind": kind, "metric": metric_name,
                                "estimate": est, "low": low, "high": high})
    return pd.DataFrame(results, columns=["method", "kind", "metric", "estimate", "low", "high"])


def raters_against_truth(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Weighted accuracy and MAE of each expert alone against the truth (no interval: low, high are NaN).

    `scores`: long scores (patient_id, hand, joint, expert_id, kind, score); `truth` as in
    `against_truth`. Method names are "rater <expert_id> alone", experts in sorted order.
    """
    long_truth = truth.melt(id_vars=list(KEY_COLUMNS), value_vars=list(SCORE_KINDS), var_name="kind",
                            value_name="truth")
    single = scores.merge(long_truth, on=[*KEY_COLUMNS, "kind"])
    results = []
    for (expert, kind), sub in single.groupby(["expert_id", "kind"]):
        for metric_name, metric in WEIGHTED_METRICS:
            results.append({"method": f"rater {expert} alone", "kind": kind, "metric": metric_name,
                            "estimate": metric(sub["truth"], sub["score"]), "low": np.nan, "high": np.nan})
    return pd.DataFrame(results, columns=["method", "kind", "metric", "estimate", "low", "high"])


def _grade_shares(truth: pd.DataFrame, kind: str) -> pd.Series:
    """Share of each true grade 0..max of `kind` (index = grade, 0 for absent grades)."""
    return truth[kind].dropna().astype(int).value_counts(normalize=True).reindex(
        range(MAX_SCORE[kind] + 1), fill_value=0.0)


def confusion_recovery(estimated: Mapping[str, Mapping[str, np.ndarray]],
                       true: Mapping[str, Mapping[str, np.ndarray]], truth: pd.DataFrame) -> pd.DataFrame:
    """How close estimated rater confusion matrices are to the true ones, per kind and expert.

    `estimated`, `true`: {kind: {expert_id: (K, K) array}}, rows = true grade, columns = written
    grade (`DawidSkeneFit.confusion`, `phantom.raters.true_confusion()`); a NaN row is a grade the
    estimate never assigned. Returns one row per (kind, expert), indexed so, with the diagonal
    (probability of writing the true grade) weighted by the true grade shares of `truth`, true and
    estimated, and the total variation distance between the estimated and the true row of grade 0
    and, averaged, of grades 2 and up.
    """
    rows = []
    for kind in SCORE_KINDS:
        observed = _grade_shares(truth, kind).to_numpy()
        for expert in sorted(estimated[kind]):
            est, ref = np.asarray(estimated[kind][expert]), np.asarray(true[kind][expert])
            tv = 0.5 * np.nansum(np.abs(est - ref), axis=1)  # per true grade (row index = grade)
            rows.append({"kind": kind, "expert": expert,
                         "diagonal, true (weighted by grade share)": float(observed @ np.diag(ref)),
                         "diagonal, DS estimate": float(observed @ np.nan_to_num(np.diag(est))),
                         "row distance, grade 0": tv[0], "row distance, grades >= 2 (mean)": float(np.nanmean(tv[2:]))})
    return pd.DataFrame(rows).set_index(["kind", "expert"])


def prior_recovery(priors: Mapping[str, np.ndarray], truth: pd.DataFrame) -> pd.DataFrame:
    """Estimated grade priors ({kind: (K,) array}, `DawidSkeneFit.priors`) beside the true grade shares.

    Returns a table indexed by grade with columns ("DS prior", kind) and ("true share", kind).
    """
    prior = pd.DataFrame({kind: pd.Series(priors[kind]) for kind in SCORE_KINDS})
    share = pd.DataFrame({kind: truth[kind].dropna().astype(int).value_counts(normalize=True)
                          for kind in SCORE_KINDS}).reindex(prior.index)
    return pd.concat({"DS prior": prior, "true share": share}, axis=1).rename_axis("grade")
