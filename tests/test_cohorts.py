"""Tests of rheumabook.stats.cohorts: the aggregates compared over many phantom cohorts (chapter 2)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook import aggregate, stats
from rheumabook.joints import SCORE_KINDS
from rheumabook.stats import cohorts
from rheumabook.stats.metrics import weighted_accuracy, weighted_mae

# Dawid-Skene with few EM steps keeps these tests fast; the chapter uses the defaults (`cohorts.AGGREGATES`).
FAST = {"majority vote": aggregate.majority_vote,
        "Dawid-Skene": lambda scores: aggregate.dawid_skene(scores, n_iter=5),
        "mean rounded": aggregate.mean_rounded}


@pytest.fixture(scope="module")
def per_cohort():
    return stats.compare_over_cohorts(4, 10, seed=3, aggregates=FAST, progress=False)


def test_comparison_shape_and_order(per_cohort):
    assert list(per_cohort.columns) == ["cohort", "method", "kind", "metric", "value"]
    assert len(per_cohort) == 4 * len(FAST) * len(SCORE_KINDS) * 2
    assert list(per_cohort["cohort"].unique()) == [0, 1, 2, 3]
    assert list(per_cohort["method"].unique()) == list(FAST)
    assert list(per_cohort["kind"].unique()) == list(SCORE_KINDS)
    assert per_cohort["value"].notna().all()
    assert per_cohort.query("metric == 'accuracy'")["value"].between(0, 1).all()
    assert (per_cohort.query("metric == 'mae'")["value"] >= 0).all()


def test_comparison_is_deterministic_and_a_prefix(per_cohort):
    again = stats.compare_over_cohorts(4, 10, seed=3, aggregates=FAST, progress=False)
    pd.testing.assert_frame_equal(again, per_cohort)
    fewer = stats.compare_over_cohorts(2, 10, seed=3, aggregates=FAST, progress=False)
    pd.testing.assert_frame_equal(fewer, per_cohort[per_cohort["cohort"] < 2].reset_index(drop=True))
    other = stats.compare_over_cohorts(2, 10, seed=4, aggregates=FAST, progress=False)
    assert not np.allclose(other["value"].to_numpy(), fewer["value"].to_numpy())


def test_cohorts_are_independent_draws():
    t0, s0 = cohorts.cohort_scores(0, 6, seed=1)
    t1, s1 = cohorts.cohort_scores(1, 6, seed=1)
    again, again_scores = cohorts.cohort_scores(0, 6, seed=1)
    pd.testing.assert_frame_equal(t0, again)
    pd.testing.assert_frame_equal(s0, again_scores)
    assert not t0[["erosion", "jsn"]].equals(t1[["erosion", "jsn"]])
    with pytest.raises(ValueError):
        cohorts.cohort_scores(-1, 6)


def test_values_match_a_direct_computation(per_cohort):
    """Cohort 2 scored by hand: the aggregate merged with the truth by site, the metrics of §3.5."""
    truth, scores = cohorts.cohort_scores(2, 10, seed=3)
    mr = aggregate.mean_rounded(scores)
    long = truth.melt(id_vars=["patient_id", "hand", "joint"], value_vars=["erosion", "jsn"],
                      var_name="kind", value_name="truth").dropna(subset=["truth"])
    merged = long.merge(mr, on=["patient_id", "hand", "joint", "kind"])
    got = per_cohort.query("cohort == 2 and method == 'mean rounded'").set_index(["kind", "metric"])["value"]
    for kind in SCORE_KINDS:
        sub = merged[merged["kind"] == kind]
        assert got[(kind, "accuracy")] == pytest.approx(weighted_accuracy(sub["truth"], sub["score"]))
        assert got[(kind, "mae")] == pytest.approx(weighted_mae(sub["truth"], sub["score"]))


def test_t_interval_by_hand():
    mean, low, high = cohorts.t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2.0  # t(0.975, 3) * sd / sqrt(4)
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    with pytest.raises(ValueError):
        cohorts.t_interval([1.0])
    with pytest.raises(ValueError):
        cohorts.t_interval([1.0, 2.0], level=1.5)


def test_summary_and_differences_intervals_contain_the_mean(per_cohort):
    summary = stats.summarise(per_cohort)
    assert len(summary) == len(FAST) * len(SCORE_KINDS) * 2
    assert list(summary["method"].unique()) == list(FAST)
    diffs = stats.differences(per_cohort)
    assert list(diffs["contrast"].unique()) == ["Dawid-Skene - majority vote", "Dawid-Skene - mean rounded"]
    assert len(diffs) == 2 * len(SCORE_KINDS) * 2
    for table in (summary, diffs):
        assert (table["n_cohorts"] == 4).all()
        assert ((table["low"] <= table["mean"]) & (table["mean"] <= table["high"])).all()
    # the paired difference is the mean of the per-cohort differences
    wide = per_cohort.pivot(index="cohort", columns=["method", "kind", "metric"], values="value")
    row = diffs.set_index(["contrast", "kind", "metric"]).loc[("Dawid-Skene - mean rounded", "jsn", "mae")]
    assert row["mean"] == pytest.approx((wide[("Dawid-Skene", "jsn", "mae")] - wide[("mean rounded", "jsn", "mae")]).mean())


def _synthetic(shift_accuracy, shift_mae, noise=0.01, n=10):
    """per_cohort with A = B + shift (+ noise) on every cohort, for the verdict logic."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(n):
        for kind in SCORE_KINDS:
            for metric, shift in (("accuracy", shift_accuracy), ("mae", shift_mae)):
                base = 0.5
                rows.append((c, "B", kind, metric, base))
                rows.append((c, "A", kind, metric, base + shift + noise * rng.standard_normal()))
    return pd.DataFrame(rows, columns=["cohort", "method", "kind", "metric", "value"])


def test_verdicts_follow_the_intervals():
    better = stats.differences(_synthetic(+0.1, -0.1), contrasts=[("A", "B")])
    assert set(better["verdict"]) == {"A better"}  # higher accuracy, lower MAE
    worse = stats.differences(_synthetic(-0.1, +0.1), contrasts=[("A", "B")])
    assert set(worse["verdict"]) == {"B better"}
    tie = stats.differences(_synthetic(0.0, 0.0, noise=0.05), contrasts=[("A", "B")])
    assert ((tie["low"] <= 0) & (tie["high"] >= 0)).all()
    assert set(tie["verdict"]) == {"no difference measured"}


def test_bad_input(per_cohort):
    with pytest.raises(ValueError, match="n_cohorts"):
        stats.compare_over_cohorts(1, 10, aggregates=FAST, progress=False)
    with pytest.raises(ValueError, match="columns"):
        stats.summarise(per_cohort.drop(columns="value"))
