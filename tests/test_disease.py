"""Tests of rheumabook.phantom.disease: the phantom's true erosion/JSN grades (paper §3.1, Fig. 1)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook.joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, applies
from rheumabook.phantom import disease


@pytest.fixture(scope="module")
def cohort():
    return disease.sample_cohort(500, np.random.default_rng(123))


def test_one_patient_layout_and_missing_pattern():
    truth = disease.sample_truth(np.random.default_rng(0))
    assert list(truth.columns) == ["hand", "joint", "erosion", "jsn"]
    assert list(truth["hand"]) == [h for h in HANDS for _ in JOINTS]
    assert list(truth["joint"]) == list(JOINTS) * len(HANDS)
    for kind in SCORE_KINDS:
        assert truth[kind].dtype == "Int64"
        expected_missing = np.array([not applies(j, kind) for j in truth["joint"]])
        np.testing.assert_array_equal(truth[kind].isna().to_numpy(), expected_missing)
        present = truth[kind].dropna()
        assert ((present >= 0) & (present <= MAX_SCORE[kind])).all()


def test_same_generator_state_gives_same_patient_and_different_seeds_differ():
    a = disease.sample_patient(np.random.default_rng(7))
    b = disease.sample_patient(np.random.default_rng(7))
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.severity == b.severity
    frames = [disease.sample_truth(np.random.default_rng(s), healthy_fraction=0.0) for s in range(5)]
    assert any(not frames[0].equals(f) for f in frames[1:])


def test_grade_histogram_matches_target_reading_of_fig1(cohort):
    truth, _ = cohort
    for kind in SCORE_KINDS:
        observed = disease.grade_distribution(truth, kind).to_numpy()
        np.testing.assert_allclose(observed, disease.TARGET_DISTRIBUTION[kind], atol=0.025)
    ero = disease.grade_distribution(truth, "erosion").to_numpy()
    assert np.all(np.diff(ero) < 0), "erosion counts must fall with the grade (Fig. 1a)"
    jsn = disease.grade_distribution(truth, "jsn").to_numpy()
    assert jsn[2] < min(jsn[1], jsn[3]) and jsn[4] < jsn[3], "JSN grades 2 and 4 are the rare ones (Fig. 1b)"


def test_thresholds_are_reproduced_by_refitting():
    refit = disease.fit_thresholds(n_patients=8000, seed=99)
    for kind in SCORE_KINDS:
        np.testing.assert_allclose(refit[kind], disease.THRESHOLDS[kind], atol=0.06)


def test_healthy_patients_share_and_all_zero(cohort):
    truth, severity = cohort
    per_patient = truth.groupby("patient_id", sort=False)[["erosion", "jsn"]].sum()
    all_zero = (per_patient.sum(axis=1) == 0).reindex(severity.index)
    assert abs(all_zero.mean() - 42 / 330) < 0.04
    # every patient with severity 0 is all zero (a severe patient can hardly be)
    assert all_zero[severity == 0].all()
    healthy = disease.sample_patient(np.random.default_rng(1), severity=0.0)
    assert healthy.healthy and healthy.severity == 0.0
    assert (healthy.truth[["erosion", "jsn"]].fillna(0) == 0).all().all()


def test_severity_drives_scores_within_patient(cohort):
    truth, severity = cohort
    means = truth.groupby("patient_id", sort=False)[["erosion", "jsn"]].mean().astype(float).reindex(severity.index)
    for kind in SCORE_KINDS:
        assert np.corrcoef(severity.to_numpy(), means[kind].to_numpy())[0, 1] > 0.7
    # scores of one patient correlate: between-patient variance dominates (intraclass correlation)
    ero = truth.assign(e=truth["erosion"].astype(float))
    between = ero.groupby("patient_id")["e"].mean().var()
    assert between / ero["e"].var() > 0.25  # about 1/36 = 0.03 if joints were independent
    # forcing a higher severity with the same generator state raises the damage
    mild = disease.sample_truth(np.random.default_rng(5), severity=0.1)
    severe = disease.sample_truth(np.random.default_rng(5), severity=0.9)
    for kind in SCORE_KINDS:
        assert severe[kind].sum() > mild[kind].sum()


def test_joint_patterns_and_jsn_accompanies_erosion(cohort):
    truth, _ = cohort
    level = truth["joint"].str.extract(r"^(DIP|PIP|MCP)")[0]
    ero_by_level = truth.assign(level=level, e=truth["erosion"].astype(float)).groupby("level")["e"].mean()
    assert ero_by_level["MCP"] > ero_by_level["DIP"] and ero_by_level["PIP"] > ero_by_level["DIP"]
    wrist = truth.loc[truth["joint"] == "wrist", "erosion"].astype(float).mean()
    assert wrist > ero_by_level["DIP"]
    both = truth.dropna(subset=["erosion", "jsn"])
    jsn_if_eroded = both.loc[both["erosion"] >= 2, "jsn"].astype(float).mean()
    jsn_if_not = both.loc[both["erosion"] == 0, "jsn"].astype(float).mean()
    assert jsn_if_eroded > jsn_if_not + 1.0


def test_cohort_ids_and_bad_input():
    truth, severity = disease.sample_cohort(3, np.random.default_rng(0), patient_ids=["a", "b", "c"])
    assert list(pd.unique(truth["patient_id"])) == ["a", "b", "c"] and len(truth) == 3 * 42
    assert list(severity.index) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="Generator"):
        disease.sample_truth(0)
    with pytest.raises(ValueError, match="healthy_fraction"):
        disease.sample_truth(np.random.default_rng(0), healthy_fraction=1.5)
    with pytest.raises(ValueError, match="severity"):
        disease.sample_patient(np.random.default_rng(0), severity=2.0)
    with pytest.raises(ValueError, match="distinct"):
        disease.sample_cohort(2, np.random.default_rng(0), patient_ids=["a", "a"])
    with pytest.raises(ValueError, match="kind"):
        disease.grade_distribution(truth, "pain")
