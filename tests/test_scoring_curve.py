"""Chapter 5's learning curve and chapter 7's prior adjustment (issue 21): `scoring.curve`, `scoring.calibration`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from rheumabook import scoring
from rheumabook.scoring import (ScoringData, curve_sizes, expected_grade, label_prior, learning_curve, prior_adjusted,
                                sampled_prior, sampling_weights)
from test_scoring_train import synthetic_set, tiny_config

# ------------------------------------------------------------------------------ prior adjustment


def test_priors_hand_computed():
    labels = np.array([0, 0, 1, -1])  # -1: missing, skipped
    np.testing.assert_allclose(label_prior(labels, 3), [3 / 6, 2 / 6, 1 / 6])  # counts 2, 1, 0 plus 1 each
    np.testing.assert_allclose(label_prior(labels, 3, pseudo=0), [2 / 3, 1 / 3, 0])
    # weights 1, 1, 2 on the kept labels (mean 4/3): weighted counts 1.5, 1.5, 0, plus 1 each
    np.testing.assert_allclose(sampled_prior(labels, np.array([1, 1, 2, 5.0]), 3), [2.5 / 6, 2.5 / 6, 1 / 6])
    with pytest.raises(ValueError, match="top grade"):
        label_prior(np.array([0, 3]), 3)


def test_prior_adjustment_hand_computed():
    proba = np.array([[0.5, 0.5], [0.2, 0.8]])
    # uniform sampling, prior (0.9, 0.1): [0.45, 0.05] -> [0.9, 0.1]; [0.18, 0.08] -> [0.6923, 0.3077]
    np.testing.assert_allclose(prior_adjusted(proba, np.array([0.9, 0.1])), [[0.9, 0.1], [0.18 / 0.26, 0.08 / 0.26]])
    np.testing.assert_allclose(prior_adjusted(proba, np.array([0.9, 0.1]), tau=0), proba)  # no adjustment
    same = np.array([0.7, 0.3])
    np.testing.assert_allclose(prior_adjusted(proba, same, sampled=same), proba)  # sampled as it occurs: nothing to undo
    np.testing.assert_allclose(expected_grade(np.array([[0.2, 0.8], [1.0, 0.0]])), [0.8, 0.0])
    with pytest.raises(ValueError, match="positive"):
        prior_adjusted(proba, np.array([1.0, 0.0]))


def test_prior_adjustment_recovers_the_bayes_posterior_of_a_known_model():
    """Independent reference: three Gaussian classes with a skewed prior. The posterior under balanced
    (uniform) sampling, adjusted by the true prior, equals the exact posterior under that prior."""
    means, prior = np.array([0.0, 1.0, 2.5]), np.array([0.7, 0.2, 0.1])
    x = np.linspace(-2, 4, 41)
    like = norm.pdf(x[:, None], means[None, :], 1.0)
    balanced = like / like.sum(axis=1, keepdims=True)
    exact = like * prior / (like * prior).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(prior_adjusted(balanced, prior), exact, rtol=1e-10)
    # from a non-uniform sampling too: the posterior under sampled prior s, adjusted by prior / s
    s = np.array([0.5, 0.3, 0.2])
    under_s = like * s / (like * s).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(prior_adjusted(under_s, prior, sampled=s), exact, rtol=1e-10)
    # the adjusted argmax calls the rare classes less often than the balanced one, never more
    assert (exact.argmax(axis=1) <= balanced.argmax(axis=1)).all() and (exact.argmax(1) < balanced.argmax(1)).any()


def test_the_sampled_prior_of_the_training_weights_is_near_uniform_for_one_kind():
    labels = np.random.default_rng(0).choice(4, size=4000, p=[0.7, 0.2, 0.07, 0.03])
    w = sampling_weights({"erosion": labels})
    np.testing.assert_allclose(sampled_prior(labels, w, 4, pseudo=0), [0.25] * 4, atol=1e-9)


# ------------------------------------------------------------------------------ learning curve


def test_curve_sizes_end_at_the_full_set():
    assert curve_sizes([25, 50, 100, 400], 96) == [25, 50, 96]
    assert curve_sizes([25, 96], 96) == [25, 96]
    assert curve_sizes([], 40) == [40]


@pytest.fixture(scope="module")
def curve_data():
    torch.set_num_threads(1)
    train, test = synthetic_set(200, seed=1), synthetic_set(60, seed=2, draws=0)
    patients = list(dict.fromkeys(train.patients))
    return ScoringData(train, test, patients, list(dict.fromkeys(test.patients)))


def test_learning_curve_trains_on_prefixes_and_reuses_main_and_cache(curve_data, tmp_path, monkeypatch):
    config = tiny_config(frozen_epochs=0, unfrozen_epochs=1)
    seen = []
    real = scoring.curve.train_scorer

    def recording(train, *args, **kwargs):
        seen.append(list(dict.fromkeys(train.patients)))
        return real(train, *args, **kwargs)

    monkeypatch.setattr(scoring.curve, "train_scorer", recording)
    main = real(curve_data.train, config, progress=False)
    curve = learning_curve(curve_data, config, [5, 10], main=main, cache=tmp_path, n_boot=50, progress=False)
    assert list(curve["patients"]) == [5, 10, 20] and list(curve["crops"]) == [50, 100, 200]
    assert seen == [curve_data.train_patients[:5], curve_data.train_patients[:10]]  # prefixes; the main one reused
    direct = scoring.metric_row(curve_data.test.labels("erosion", "truth"), main.predict(curve_data.test.crops)["erosion"],
                                curve_data.test.patients, n_boot=50, seed=config.seed)
    assert curve["truth_erosion_accuracy"].iloc[-1] == pytest.approx(direct["accuracy"])
    for column in ("truth_jsn_accuracy", "ds_erosion_mae_high"):
        assert curve[column].notna().all()
    monkeypatch.setattr(scoring.curve, "train_scorer", lambda *a, **k: pytest.fail("a cached point was trained again"))
    again = learning_curve(curve_data, config, [5, 10], main=main, cache=tmp_path, n_boot=50, progress=False)
    pd.testing.assert_frame_equal(again, curve)


def test_a_scorer_keeps_its_training_priors_and_calibrates_with_them(tmp_path):
    torch.set_num_threads(1)
    train = synthetic_set(120, seed=3)
    scorer = scoring.train_scorer(train, tiny_config(frozen_epochs=0, unfrozen_epochs=1), progress=False)
    y = train.labels("erosion")
    w = sampling_weights({k: train.labels(k) for k in ("erosion", "jsn")})
    np.testing.assert_allclose(scorer.priors["erosion"]["natural"], label_prior(y, 6))
    np.testing.assert_allclose(scorer.priors["erosion"]["sampled"], sampled_prior(y, w, 6))
    scoring.save_scorer(tmp_path / "s", scorer)
    again = scoring.load_scorer(tmp_path / "s")
    assert again.priors == scorer.priors  # through the checkpoint's JSON
    proba = scorer.predict_proba(train.crops[:20])
    calibrated = again.calibrated(proba)
    np.testing.assert_allclose(calibrated["jsn"], prior_adjusted(proba["jsn"], np.array(scorer.priors["jsn"]["natural"]),
                                                                 np.array(scorer.priors["jsn"]["sampled"])), rtol=1e-5)
    with pytest.raises(ValueError, match="no training priors"):
        scoring.Scorer(scorer.models, scorer.config).calibrated(proba)


def test_fit_tau_hand_computed():
    """Two kinds of sites, prior (0.8, 0.2) over uniform draws: the logit of grade 1 drops by log(4) = 1.386 per unit τ.

    A = (0.4, 0.6), label 0: grade 1 until log(1.5) / 1.386 = 0.29. C = (0.3, 0.7), label 1: grade 1 until
    log(7 / 3) / 1.386 = 0.61. So the bias per site is +0.5 for τ < 0.3, 0 for 0.3 <= τ <= 0.6, -0.5 above.
    """
    proba = np.array([[0.4, 0.6]] * 3 + [[0.3, 0.7]] * 3)
    labels = np.array([0] * 3 + [1] * 3)
    prior = np.array([0.8, 0.2])
    tau, bias = scoring.fit_tau(proba, labels, prior)
    taus = np.array(scoring.TAU_GRID)
    np.testing.assert_allclose(bias, np.select([taus < 0.29, taus < 0.61], [0.5, 0.0], -0.5))
    assert tau == 0.6  # zero bias from 0.3 to 0.6: the tie goes to the strength nearest Bayes
    masked = scoring.fit_tau(np.vstack([proba, [[0.9, 0.1]]]), np.append(labels, -1), prior)[0]
    assert masked == tau  # a missing label is skipped
    with pytest.raises(ValueError, match="label"):
        scoring.fit_tau(proba, np.full(6, -1), prior)


def test_a_fitted_calibration_strength_is_kept_and_used(tmp_path):
    torch.set_num_threads(1)
    train = synthetic_set(120, seed=3)
    scorer = scoring.train_scorer(train, tiny_config(frozen_epochs=0, unfrozen_epochs=1), progress=False)
    aside = synthetic_set(60, seed=4)
    assert scorer.tau("erosion") == 1.0  # none fitted yet: Bayes
    table = scorer.fit_calibration(aside, "truth")
    proba = scorer.predict_proba(aside.crops)
    for kind in ("erosion", "jsn"):
        priors = scorer.priors[kind]
        tau, bias = scoring.fit_tau(proba[kind], aside.labels(kind, "truth"), np.array(priors["natural"]),
                                    np.array(priors["sampled"]))
        assert scorer.tau(kind) == tau and priors["tau_source"] == "truth"
        mine = table[table["kind"] == kind]
        np.testing.assert_allclose(mine["bias_per_joint"], bias)
        assert mine.loc[mine["chosen"], "tau"].tolist() == [tau]
        expected = prior_adjusted(proba[kind], np.array(priors["natural"]), np.array(priors["sampled"]), tau=tau)
        np.testing.assert_allclose(scorer.calibrated(proba)[kind], expected, rtol=1e-5)
    scoring.save_scorer(tmp_path / "s", scorer)
    again = scoring.load_scorer(tmp_path / "s")  # through the checkpoint's JSON
    assert again.tau("jsn") == scorer.tau("jsn")
    pd.testing.assert_frame_equal(again.calibration_table(), table)
