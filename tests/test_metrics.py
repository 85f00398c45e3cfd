"""Tests of rheumabook.stats.metrics: class-weighted accuracy / MAE (paper §3.5) and bootstrap intervals."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from rheumabook.stats.metrics import bootstrap_ci, paired, weighted_accuracy, weighted_mae


def test_hand_computed_cases():
    y_true = [0, 0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 3, 0]
    # recalls: class 0 3/4, class 1 1/2, class 2 0/1 -> mean 5/12
    assert weighted_accuracy(y_true, y_pred) == pytest.approx((3 / 4 + 1 / 2 + 0) / 3)
    # mean |error|: class 0 1/4, class 1 2/2, class 2 2/1 -> mean 13/12
    assert weighted_mae(y_true, y_pred) == pytest.approx((1 / 4 + 1 + 2) / 3)
    assert weighted_accuracy([3, 3], [3, 3]) == 1.0 and weighted_mae([3, 3], [3, 3]) == 0.0
    # classes only in y_pred do not count as classes
    assert weighted_accuracy([1, 1, 1], [1, 5, 1]) == pytest.approx(2 / 3)


def _brute_force_mae(t, p):
    per_class = []
    for c in sorted(set(t)):
        errors = [abs(pi - ti) for ti, pi in zip(t, p) if ti == c]
        per_class.append(sum(errors) / len(errors))
    return sum(per_class) / len(per_class)


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    t = rng.choice(6, size=300, p=[0.6, 0.2, 0.1, 0.05, 0.03, 0.02])
    p = np.clip(t + rng.integers(-2, 3, size=t.size) * (rng.random(t.size) < 0.3), 0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when y_pred has classes absent from y_true
        expected = balanced_accuracy_score(t, p)
    assert weighted_accuracy(t, p) == pytest.approx(expected)
    assert weighted_mae(t, p) == pytest.approx(_brute_force_mae(list(t), list(p)))


def test_missing_values_are_dropped_pairwise():
    t = pd.array([0, 1, None, 2, 1, 0], dtype="Int64")
    p = [0, np.nan, 1, 2, 0, None]
    keep_t, keep_p = [0, 2, 1], [0, 2, 0]
    assert weighted_accuracy(t, p) == pytest.approx(weighted_accuracy(keep_t, keep_p))
    assert weighted_mae(t, p) == pytest.approx(weighted_mae(keep_t, keep_p))
    assert weighted_accuracy(pd.Series([1, pd.NA, 2], dtype="object"), np.array([1.0, 2.0, 2.0])) == 1.0
    # a pandas Series with a shuffled index is matched by position, not by index
    s = pd.Series([0, 1, 2], index=[2, 0, 1])
    assert weighted_accuracy(s, [0, 1, 2]) == 1.0
    t2, p2 = paired([1, None, 3], [1, 2, None])
    np.testing.assert_array_equal(t2, [1.0])
    np.testing.assert_array_equal(p2, [1.0])


def test_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        weighted_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="no item"):
        weighted_mae([None, 1], [0, None])
    with pytest.raises(ValueError, match="one-dimensional"):
        weighted_accuracy([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="numbers"):
        weighted_accuracy(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(weighted_accuracy, [0, 1], [0, 1], level=95)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(weighted_accuracy, [0, 1], [0, 1], groups=[1])


def _toy(seed=0, n=400):
    rng = np.random.default_rng(seed)
    t = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])
    p = np.where(rng.random(n) < 0.75, t, rng.integers(0, 4, size=n))
    return t, p


def test_bootstrap_interval_brackets_estimate_and_is_reproducible():
    t, p = _toy()
    est, low, high = bootstrap_ci(weighted_accuracy, t, p, n_boot=300, seed=3)
    assert est == pytest.approx(weighted_accuracy(t, p))
    assert low < est < high and high - low < 0.3
    assert (est, low, high) == bootstrap_ci(weighted_accuracy, t, p, n_boot=300, seed=3)
    narrower = bootstrap_ci(weighted_accuracy, t, p, n_boot=300, seed=3, level=0.5)
    assert narrower[1] > low and narrower[2] < high


def test_cluster_bootstrap_of_copies_equals_item_bootstrap():
    # Every group = 5 identical copies of one item: resampling groups is resampling items
    # (the weighted metrics do not change when every item is repeated the same number of times).
    t, p = _toy(n=150)
    groups = np.repeat(np.arange(t.size), 5)
    clustered = bootstrap_ci(weighted_mae, np.repeat(t, 5), np.repeat(p, 5), n_boot=2000, seed=1, groups=groups)
    items = bootstrap_ci(weighted_mae, t, p, n_boot=2000, seed=2)
    np.testing.assert_allclose(clustered, items, atol=0.03)
    # ...whereas treating the copies as independent items makes the interval far too narrow
    naive = bootstrap_ci(weighted_mae, np.repeat(t, 5), np.repeat(p, 5), n_boot=2000, seed=1)
    assert (naive[2] - naive[1]) < 0.6 * (clustered[2] - clustered[1])


def test_graded_sites_keeps_the_sites_every_array_grades():
    from rheumabook.scoring import MISSING, graded_sites

    truth = np.array([0, 1, MISSING, 2, 3])
    a = np.array([0, MISSING, 1, 2, 0])
    b = np.array([1, 1, 1, MISSING, 0])
    assert graded_sites(truth, a).tolist() == [True, False, False, True, True]
    assert graded_sites(truth, a, b).tolist() == [True, False, False, False, True]
    with pytest.raises(ValueError, match="aligned"):
        graded_sites(truth, a[:3])
    with pytest.raises(ValueError, match="at least one"):
        graded_sites()


def test_site_accuracy_is_metric_rows_point_estimate_on_the_graded_sites():
    """By hand: on the graded sites (0, 3, 4) truth (0, 2, 3) vs prediction (0, 2, 0): recalls 1, 1, 0 -> 2/3;
    sklearn's balanced accuracy on the same sites, and `metric_row`'s point estimate, agree."""
    from rheumabook.scoring import MISSING, metric_row, site_accuracy

    truth = np.array([0, 1, MISSING, 2, 3])
    pred = np.array([0, MISSING, 1, 2, 0])
    assert site_accuracy(truth, pred) == pytest.approx(2 / 3)
    assert site_accuracy(truth, pred) == pytest.approx(balanced_accuracy_score([0, 2, 3], [0, 2, 0]))
    row = metric_row(truth, pred, np.array(["p1", "p1", "p2", "p2", "p3"]), n_boot=20, seed=0)
    assert row["accuracy"] == pytest.approx(site_accuracy(truth, pred)) and row["n_sites"] == 3
