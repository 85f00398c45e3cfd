"""Tests of rheumabook.aggregate: majority vote and Dawid-Skene through crowd-kit (paper §3.1)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote

from rheumabook import aggregate
from rheumabook.joints import MAX_SCORE, SCORE_KINDS
from rheumabook.schema import SCORES_COLUMNS
from rheumabook.stats.metrics import weighted_accuracy, weighted_mae

COLUMNS = list(SCORES_COLUMNS)


def _tiny():
    """Hand-made scores: four sites, with a tie, a missing rater and a clear majority."""
    rows = [
        # P1 left MCP2 erosion: 1, 1, 3 -> 1 (majority)
        ("P1", "left", "MCP2", "R1", "erosion", 1), ("P1", "left", "MCP2", "R2", "erosion", 1),
        ("P1", "left", "MCP2", "R3", "erosion", 3),
        # P1 left PIP3 erosion: 2, 0, 4 -> three-way tie -> lowest grade 0
        ("P1", "left", "PIP3", "R1", "erosion", 2), ("P1", "left", "PIP3", "R2", "erosion", 0),
        ("P1", "left", "PIP3", "R3", "erosion", 4),
        # P2 right wrist jsn: R2 missing, 3 and 2 -> tie -> 2
        ("P2", "right", "wrist", "R1", "jsn", 3), ("P2", "right", "wrist", "R3", "jsn", 2),
        # P2 right CMC4 jsn (no erosion there): 4, 4, 4 -> 4
        ("P2", "right", "CMC4", "R1", "jsn", 4), ("P2", "right", "CMC4", "R2", "jsn", 4),
        ("P2", "right", "CMC4", "R3", "jsn", 4),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def phantom(simulated_cohort):
    return simulated_cohort(150, 0)


def test_majority_vote_by_hand():
    mv = aggregate.majority_vote(_tiny()).set_index(["patient_id", "hand", "joint", "kind"])
    assert mv.loc[("P1", "left", "MCP2", "erosion"), "score"] == 1
    assert mv.loc[("P1", "left", "PIP3", "erosion"), "score"] == 0  # tie -> the lower grade
    assert mv.loc[("P2", "right", "wrist", "jsn"), "score"] == 2  # two raters disagree -> the lower grade
    assert mv.loc[("P2", "right", "CMC4", "jsn"), "score"] == 4
    row = mv.loc[("P1", "left", "MCP2", "erosion")]
    np.testing.assert_allclose(row[list(aggregate.PROBA_COLUMNS)].to_numpy(dtype=float), [0, 2 / 3, 0, 1 / 3, 0, 0])
    assert mv.loc[("P2", "right", "wrist", "jsn"), "n_raters"] == 2
    assert np.isnan(mv.loc[("P2", "right", "wrist", "jsn"), "p_5"])
    assert mv["score"].dtype == "Int64"


def test_output_columns_sorted_and_probabilities_sum_to_one(phantom):
    _, scores = phantom
    for result in (aggregate.majority_vote(scores), aggregate.dawid_skene(scores, n_iter=10)):
        assert list(result.columns) == ["patient_id", "hand", "joint", "kind", "score", "n_raters",
                                        "p_0", "p_1", "p_2", "p_3", "p_4", "p_5"]
        for kind in SCORE_KINDS:
            sub = result[result["kind"] == kind]
            k = MAX_SCORE[kind] + 1
            p = sub[list(aggregate.PROBA_COLUMNS[:k])].to_numpy()
            np.testing.assert_allclose(p.sum(axis=1), 1.0)
            np.testing.assert_array_equal(sub["score"].to_numpy(dtype=int), p.argmax(axis=1))
            if k < len(aggregate.PROBA_COLUMNS):
                assert sub[list(aggregate.PROBA_COLUMNS[k:])].isna().all().all()
        assert not result.duplicated(["patient_id", "hand", "joint", "kind"]).any()


def _crowd(scores, kind):
    sub = scores[scores["kind"] == kind]
    task = sub["patient_id"] + "|" + sub["hand"] + "|" + sub["joint"]
    return pd.DataFrame({"task": task.to_numpy(), "worker": sub["expert_id"].to_numpy(),
                         "label": sub["score"].to_numpy(dtype=int)})


def _keyed(result, kind):
    sub = result[result["kind"] == kind]
    return sub.set_index(sub["patient_id"] + "|" + sub["hand"] + "|" + sub["joint"])


def test_majority_vote_matches_crowdkit(phantom):
    _, scores = phantom
    ours = aggregate.majority_vote(scores)
    for kind in SCORE_KINDS:
        k = MAX_SCORE[kind] + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = MajorityVote().fit_predict_proba(_crowd(scores, kind))
        ref = ref.reindex(columns=range(k), fill_value=0.0)
        mine = _keyed(ours, kind).loc[ref.index]
        np.testing.assert_allclose(mine[list(aggregate.PROBA_COLUMNS[:k])].to_numpy(), ref.to_numpy())
        top = ref.to_numpy()
        untied = (top == top.max(axis=1, keepdims=True)).sum(axis=1) == 1
        np.testing.assert_array_equal(mine["score"].to_numpy(dtype=int)[untied], top.argmax(axis=1)[untied])


def test_dawid_skene_matches_crowdkit(simulated_cohort):
    truth, scores = simulated_cohort(40, 3)
    fit = aggregate.fit_dawid_skene(scores, n_iter=30)
    for kind in SCORE_KINDS:
        k = MAX_SCORE[kind] + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = DawidSkene(n_iter=30, tol=-np.inf).fit(_crowd(scores, kind))
        ref = model.probas_.reindex(columns=range(k), fill_value=0.0)
        mine = _keyed(fit.labels, kind).loc[ref.index]
        np.testing.assert_allclose(mine[list(aggregate.PROBA_COLUMNS[:k])].to_numpy(), ref.to_numpy(), atol=1e-9)
        np.testing.assert_array_equal(mine["score"].to_numpy(dtype=int),
                                      model.labels_.loc[ref.index].to_numpy(dtype=int))
        for expert in ("R1", "R2", "R3"):
            e = model.errors_.xs(expert, level="worker")  # rows written grade, columns true grade
            for true_grade in e.columns:
                for written in e.index:
                    assert fit.confusion[kind][expert][true_grade, written] == pytest.approx(e.loc[written, true_grade])
        np.testing.assert_allclose(fit.priors[kind], model.priors_.reindex(range(k), fill_value=0).to_numpy())


def test_dawid_skene_beats_majority_vote_on_the_phantom(phantom):
    """On one 150-patient cohort: DS's MAE is lower on both kinds, its JSN accuracy higher. Erosion accuracy
    is not checked here: over many cohorts its mean gain is under 0.01 (chapter 2, `stats.cohorts`), so one
    cohort can rank either way."""
    truth, scores = phantom
    results = {"mv": aggregate.majority_vote(scores), "ds": aggregate.dawid_skene(scores)}
    for kind in SCORE_KINDS:
        metric = {}
        for name, result in results.items():
            joined = aggregate.with_truth(result, truth)
            joined = joined[joined["kind"] == kind]
            metric[name] = (weighted_accuracy(joined["truth"], joined["score"]), weighted_mae(joined["truth"], joined["score"]))
        if kind == "jsn":
            assert metric["ds"][0] > metric["mv"][0], (kind, metric)
        assert metric["ds"][1] < metric["mv"][1], (kind, metric)


def test_row_order_does_not_matter(phantom):
    _, scores = phantom
    small = scores[scores["patient_id"].isin(["P0000", "P0001", "P0002"])]
    shuffled = small.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(aggregate.majority_vote(small), aggregate.majority_vote(shuffled))
    pd.testing.assert_frame_equal(aggregate.dawid_skene(small, n_iter=5), aggregate.dawid_skene(shuffled, n_iter=5))


def test_to_wide_and_with_truth_round_trip(phantom):
    truth, _ = phantom
    small = truth[truth["patient_id"].isin(["P0003", "P0004"])].reset_index(drop=True)
    # every rater writes the truth: any aggregate must give the truth back
    perfect = []
    for kind in SCORE_KINDS:
        present = small.dropna(subset=[kind])
        for expert in ("R1", "R2"):
            perfect.append(present[["patient_id", "hand", "joint"]].assign(expert_id=expert, kind=kind,
                                                                           score=present[kind].astype(int)))
    perfect = pd.concat(perfect, ignore_index=True)
    wide = aggregate.to_wide(aggregate.majority_vote(perfect))
    pd.testing.assert_frame_equal(wide, small, check_dtype=False)
    assert (wide[["erosion", "jsn"]].dtypes == "Int64").all()
    joined = aggregate.with_truth(aggregate.majority_vote(perfect), small)
    assert (joined["truth"] == joined["score"]).all()


def test_bad_input():
    good = _tiny()
    with pytest.raises(ValueError, match="no rows"):
        aggregate.majority_vote(good.iloc[:0])
    with pytest.raises(ValueError, match="columns"):
        aggregate.dawid_skene(good.drop(columns="expert_id"))
    with pytest.raises(ValueError, match="kind"):
        aggregate.majority_vote(good.assign(kind="swelling"))
    with pytest.raises(ValueError, match="not scored"):
        aggregate.majority_vote(pd.concat([good, good.iloc[-1:].assign(kind="erosion")]))  # no erosion at CMC4
    with pytest.raises(ValueError, match="hand"):
        aggregate.majority_vote(good.assign(hand="middle"))
    with pytest.raises(ValueError, match="DataFrame"):
        aggregate.majority_vote([1, 2, 3])
    with pytest.raises(ValueError, match="n_iter"):
        aggregate.dawid_skene(good, n_iter=0)


# ---------------------------------------------------------------------------- comparing two aggregates


def test_vote_ties_by_hand():
    mv = aggregate.majority_vote(_tiny())
    tied = aggregate.vote_ties(mv)
    by_site = dict(zip(zip(mv["patient_id"], mv["joint"]), tied))
    # 1,1,3: a majority; 2,0,4: three-way tie; 3,2 (a rater missing): tie; 4,4,4: unanimous
    assert by_site == {("P1", "MCP2"): False, ("P1", "PIP3"): True, ("P2", "wrist"): True, ("P2", "CMC4"): False}


def test_paired_scores_match_by_site_not_by_position(phantom):
    _, scores = phantom
    mv = aggregate.majority_vote(scores)
    ds = aggregate.dawid_skene(scores, n_iter=5)
    shuffled = ds.sample(frac=1.0, random_state=0)  # same rows, another order
    pair = aggregate.paired_scores(mv, shuffled, ("mv", "ds"))
    assert list(pair.columns) == ["patient_id", "hand", "joint", "kind", "mv", "ds"]
    assert pair[["patient_id", "hand", "joint", "kind"]].equals(mv[["patient_id", "hand", "joint", "kind"]])
    np.testing.assert_array_equal(pair["ds"].to_numpy(), ds["score"].to_numpy())  # ds came in mv's order
    with pytest.raises(ValueError, match="missing from the other table"):
        aggregate.paired_scores(mv, ds.iloc[1:])


def test_compare_aggregates_counts_agreement_and_ties():
    scores = _tiny()
    mv = aggregate.majority_vote(scores)
    other = mv.copy()
    other.loc[(other["joint"] == "PIP3"), "score"] = 2  # disagree at the tied erosion site only
    table = aggregate.compare_aggregates(mv, other.iloc[::-1])  # the order of `other` does not matter
    assert list(table.index) == ["erosion", "jsn"]
    assert table.loc["erosion", "sites"] == 2 and table.loc["erosion", "majority-vote ties"] == 1
    assert table.loc["erosion", "same grade"] == 0.5 and table.loc["erosion", "same grade where tied"] == 0.0
    assert table.loc["jsn", "same grade"] == 1.0 and table.loc["jsn", "share tied"] == 0.5


# ---------------------------------------------------------------------------- the rounded mean (ARISE-2025)


def test_mean_rounded_by_hand():
    extra = pd.DataFrame([
        ("P3", "left", "MCP2", "R1", "erosion", 0), ("P3", "left", "MCP2", "R2", "erosion", 0),
        ("P3", "left", "MCP2", "R3", "erosion", 1),  # 1/3 -> 0
        ("P3", "left", "MCP3", "R2", "erosion", 0), ("P3", "left", "MCP3", "R3", "erosion", 1),  # 1/2 -> 1 (half up)
        ("P3", "left", "MCP4", "R3", "erosion", 5),  # one rater only -> that score
    ], columns=COLUMNS)
    mr = aggregate.mean_rounded(pd.concat([_tiny(), extra], ignore_index=True))
    got = mr.set_index(["patient_id", "hand", "joint", "kind"])
    expected = {("P1", "left", "MCP2", "erosion"): 2,  # 1, 1, 3: mean 5/3 -> 2 (the vote says 1)
                ("P1", "left", "PIP3", "erosion"): 2,  # 2, 0, 4: mean 2 (the vote's tie says 0)
                ("P3", "left", "MCP2", "erosion"): 0, ("P3", "left", "MCP3", "erosion"): 1,
                ("P3", "left", "MCP4", "erosion"): 5,
                ("P2", "right", "wrist", "jsn"): 3,  # R2 missing: 3 and 2 -> 2.5 -> 3 (half up)
                ("P2", "right", "CMC4", "jsn"): 4}
    assert {key: int(got.loc[key, "score"]) for key in expected} == expected
    assert got.loc[("P2", "right", "wrist", "jsn"), "n_raters"] == 2
    assert got.loc[("P3", "left", "MCP4", "erosion"), "n_raters"] == 1
    np.testing.assert_allclose(got.loc[("P1", "left", "MCP2", "erosion"), list(aggregate.PROBA_COLUMNS)]
                               .to_numpy(dtype=float), [0, 2 / 3, 0, 1 / 3, 0, 0])
    assert np.isnan(got.loc[("P2", "right", "wrist", "jsn"), "p_5"])
    assert mr["score"].dtype == "Int64"


def test_mean_rounded_has_the_shape_and_order_of_majority_vote(phantom):
    _, scores = phantom
    mv, mr = aggregate.majority_vote(scores), aggregate.mean_rounded(scores)
    assert list(mr.columns) == list(mv.columns)
    for column in ("patient_id", "hand", "joint", "kind", "n_raters", *aggregate.PROBA_COLUMNS):
        pd.testing.assert_series_equal(mr[column], mv[column])  # same sites, order and vote shares
    shuffled = aggregate.mean_rounded(scores.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(shuffled, mr)


def test_mean_rounded_equals_a_brute_force_groupby(phantom):
    """An independent computation: exact fractions per site, half up, by a pandas groupby."""
    from fractions import Fraction

    _, scores = phantom
    small = scores[scores["patient_id"].isin(["P0000", "P0003", "P0007", "P0011"])]
    brute = {}
    for key, group in small.groupby(["patient_id", "hand", "joint", "kind"]):
        mean = Fraction(int(group["score"].sum()), len(group))
        brute[key] = int(mean) + (1 if mean - int(mean) >= Fraction(1, 2) else 0)
    mr = aggregate.mean_rounded(small)
    ours = dict(zip(zip(mr["patient_id"], mr["hand"], mr["joint"], mr["kind"]), mr["score"].astype(int)))
    assert ours == brute
    halves = [k for k, g in small.groupby(["patient_id", "hand", "joint", "kind"]) if len(g) == 2]
    assert halves, "the sample should contain sites with a missing score"


def test_fast_dawid_skene_is_bit_for_bit_crowdkit(simulated_cohort):
    """The default (tol=None) skips crowd-kit's evidence bound; the posteriors, errors and priors are unchanged."""
    truth, scores = simulated_cohort(12, 5)
    fit = aggregate.fit_dawid_skene(scores)
    assert fit.n_iter == {"erosion": 100, "jsn": 100}
    for kind in SCORE_KINDS:
        data, _ = aggregate._crowd_table(scores, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = DawidSkene(n_iter=100, tol=-np.inf).fit(data)
            fast = aggregate._dawid_skene_model(100, None).fit(data)
        pd.testing.assert_frame_equal(fast.probas_, reference.probas_, check_exact=True)
        pd.testing.assert_frame_equal(fast.errors_, reference.errors_, check_exact=True)
        pd.testing.assert_series_equal(fast.priors_, reference.priors_, check_exact=True)
    with_tol = aggregate.fit_dawid_skene(scores, tol=1e-5)  # crowd-kit's own bound and stopping rule
    assert max(with_tol.n_iter.values()) < 100
