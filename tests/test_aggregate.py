"""Tests of rheumabook.aggregate: majority vote and Dawid-Skene through crowd-kit (paper §3.1)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote

from rheumabook import aggregate
from rheumabook.joints import MAX_SCORE, SCORE_KINDS
from rheumabook.phantom import disease, raters
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
def phantom():
    rng = np.random.default_rng(0)
    truth, _ = disease.sample_cohort(150, rng)
    return truth, raters.simulate_scores(truth, rng)


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


def test_dawid_skene_matches_crowdkit():
    rng = np.random.default_rng(3)
    truth, _ = disease.sample_cohort(40, rng)
    scores = raters.simulate_scores(truth, rng)
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
    truth, scores = phantom
    results = {"mv": aggregate.majority_vote(scores), "ds": aggregate.dawid_skene(scores)}
    for kind in SCORE_KINDS:
        metric = {}
        for name, result in results.items():
            joined = aggregate.with_truth(result, truth)
            joined = joined[joined["kind"] == kind]
            metric[name] = (weighted_accuracy(joined["truth"], joined["score"]), weighted_mae(joined["truth"], joined["score"]))
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
