"""Tests of rheumabook.stats.truth: aggregates and raters scored against a known truth (chapter 2)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook import aggregate, stats
from rheumabook.joints import MAX_SCORE, SCORE_KINDS


def _truth_and_scores():
    """Two patients, two erosion sites and one JSN site each; R1 is always right, R2 one grade high."""
    truth = pd.DataFrame({"patient_id": ["P1", "P1", "P1", "P2", "P2", "P2"],
                          "hand": ["left"] * 6, "joint": ["MCP2", "MCP3", "CMC3"] * 2,
                          "erosion": pd.array([0, 2, pd.NA, 1, 0, pd.NA], dtype="Int64"),
                          "jsn": pd.array([1, 0, 2, 0, 0, 1], dtype="Int64")})
    rows = []
    for r in truth.itertuples():
        for kind in SCORE_KINDS:
            grade = getattr(r, kind)
            if grade is pd.NA:
                continue
            rows.append((r.patient_id, r.hand, r.joint, "R1", kind, int(grade)))
            rows.append((r.patient_id, r.hand, r.joint, "R2", kind, min(int(grade) + 1, MAX_SCORE[kind])))
    scores = pd.DataFrame(rows, columns=["patient_id", "hand", "joint", "expert_id", "kind", "score"])
    return truth, scores


def test_against_truth_matches_the_metrics_and_ignores_row_order():
    truth, scores = _truth_and_scores()
    mv = aggregate.majority_vote(scores)  # ties between R1 and R2 -> the lower grade = R1 = truth
    table = stats.against_truth({"majority vote": mv, "shuffled": mv.sample(frac=1.0, random_state=3)},
                                truth, n_boot=50, seed=0)
    assert list(table.columns) == ["method", "kind", "metric", "estimate", "low", "high"]
    est = table.set_index(["method", "kind", "metric"])["estimate"]
    for kind in SCORE_KINDS:
        assert est[("majority vote", kind, "accuracy")] == 1.0 and est[("majority vote", kind, "mae")] == 0.0
        assert est[("shuffled", kind, "accuracy")] == est[("majority vote", kind, "accuracy")]
    assert (table["low"] <= table["estimate"]).all() and (table["estimate"] <= table["high"]).all()


def test_raters_against_truth_by_hand():
    truth, scores = _truth_and_scores()
    est = stats.raters_against_truth(scores, truth).set_index(["method", "kind", "metric"])["estimate"]
    assert est[("rater R1 alone", "erosion", "accuracy")] == 1.0
    # R2 writes one grade high everywhere: no grade right, MAE 1 (erosion grades 0, 1, 2 present)
    assert est[("rater R2 alone", "erosion", "accuracy")] == 0.0
    assert est[("rater R2 alone", "erosion", "mae")] == pytest.approx(1.0)
    assert stats.raters_against_truth(scores, truth)["low"].isna().all()


def test_confusion_and_prior_recovery():
    truth, _ = _truth_and_scores()
    eye = {kind: {"R1": np.eye(MAX_SCORE[kind] + 1)} for kind in SCORE_KINDS}
    table = stats.confusion_recovery(eye, eye, truth)
    assert list(table.index) == [("erosion", "R1"), ("jsn", "R1")]
    assert (table["diagonal, true (weighted by grade share)"] == 1.0).all()
    assert (table["row distance, grade 0"] == 0.0).all()
    priors = {kind: np.full(MAX_SCORE[kind] + 1, 1 / (MAX_SCORE[kind] + 1)) for kind in SCORE_KINDS}
    both = stats.prior_recovery(priors, truth)
    assert both.loc[0, ("true share", "erosion")] == pytest.approx(0.5)
    assert both.loc[0, ("DS prior", "jsn")] == pytest.approx(0.2)
