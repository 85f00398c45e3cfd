"""Tests of rheumabook.stats.agreement: the raters' "1 vs 2" agreement (paper §3.1, Table 1 "Average expert")."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook.joints import SCORE_KINDS
from rheumabook.schema import SCORES_COLUMNS
from rheumabook.stats import agreement
from rheumabook.stats.metrics import weighted_accuracy, weighted_mae


@pytest.fixture(scope="module")
def phantom(simulated_cohort):
    """A few hundred phantom patients and their simulated scores (no images: fast)."""
    return simulated_cohort(300, 2024)


def _tiny_scores():
    """Hand-made scores of two sites (erosion at MCP2 of the left and right hand)."""
    rows = [("P1", "left", "MCP2", "R1", "erosion", 0), ("P1", "left", "MCP2", "R2", "erosion", 1),
            ("P1", "left", "MCP2", "R3", "erosion", 2),
            ("P1", "right", "MCP2", "R1", "erosion", 3), ("P1", "right", "MCP2", "R2", "erosion", 3)]
    return pd.DataFrame(rows, columns=list(SCORES_COLUMNS))


def test_one_vs_two_reference_by_hand():
    pairs = agreement.one_vs_two(_tiny_scores()).set_index(["hand", "expert_id"])
    # left: R1 vs mean(1, 2) = 1.5 -> 1 (halves down); R2 vs mean(0, 2) = 1; R3 vs mean(0, 1) = 0.5 -> 0
    assert pairs.loc[("left", "R1"), "reference"] == 1
    assert pairs.loc[("left", "R2"), "reference"] == 1
    assert pairs.loc[("left", "R3"), "reference"] == 0
    # right: R3 did not score; R1 and R2 are each other's reference; R3 has no row there
    assert pairs.loc[("right", "R1"), "reference"] == 3 and pairs.loc[("right", "R2"), "reference"] == 3
    assert ("right", "R3") not in pairs.index
    with pytest.raises(ValueError, match="reference"):
        agreement.one_vs_two(_tiny_scores(), reference="median")


def test_agreement_agrees_with_metrics_module(phantom):
    _, scores = phantom
    pairs = agreement.one_vs_two(scores)
    by_rater = agreement.agreement_by_rater(scores).set_index(["kind", "expert_id"])
    for (kind, expert), group in pairs.groupby(["kind", "expert_id"]):
        assert by_rater.loc[(kind, expert), "accuracy"] == pytest.approx(weighted_accuracy(group["reference"], group["score"]))
        assert by_rater.loc[(kind, expert), "mae"] == pytest.approx(weighted_mae(group["reference"], group["score"]))
    table = agreement.agreement_table(scores, n_boot=200, seed=1)
    for kind in SCORE_KINDS:
        assert table.loc[kind, "accuracy"] == pytest.approx(by_rater.loc[kind, "accuracy"].mean())
        assert table.loc[kind, "mae"] == pytest.approx(by_rater.loc[kind, "mae"].mean())
        assert table.loc[kind, "accuracy_low"] < table.loc[kind, "accuracy"] < table.loc[kind, "accuracy_high"]
        assert table.loc[kind, "mae_low"] < table.loc[kind, "mae"] < table.loc[kind, "mae_high"]


def test_calibrated_to_table1_average_expert(phantom):
    """The phantom raters' 1-vs-2 agreement lands within +/-0.05 of paper Table 1 "Average expert"."""
    _, scores = phantom
    table = agreement.agreement_table(scores)
    for kind in SCORE_KINDS:
        for metric in ("accuracy", "mae"):
            target = agreement.PAPER_AVERAGE_EXPERT[kind][metric]
            assert abs(table.loc[kind, metric] - target) <= 0.05, (kind, metric, table.loc[kind, metric], target)
    comparison = agreement.paper_comparison(table)
    assert comparison.loc[("erosion", "accuracy"), "paper"] == 0.79
    np.testing.assert_allclose(comparison["difference"], comparison["phantom"] - comparison["paper"])


def test_bad_input():
    good = _tiny_scores()
    with pytest.raises(ValueError, match="columns"):
        agreement.agreement_table(good.drop(columns="kind"))
    with pytest.raises(ValueError, match="kind"):
        agreement.agreement_table(good.assign(kind="pain"))
    with pytest.raises(ValueError, match="duplicate"):
        agreement.agreement_table(pd.concat([good, good.iloc[:1]]))
    with pytest.raises(ValueError, match="0..5"):
        agreement.agreement_table(good.assign(score=7))
    with pytest.raises(ValueError, match="no rows"):
        agreement.agreement_table(good.iloc[:0])
    with pytest.raises(ValueError, match="two raters"):
        agreement.one_vs_two(good[good["expert_id"] == "R1"])
