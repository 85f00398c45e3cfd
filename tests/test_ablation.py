"""Tests of the Table 2 ablation over seeds (rheumabook.localize.ablation): the interval maths against
hand-computed values, the paired differences, the words an interval gets, determinism of the runs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook import localize as L
from rheumabook.profiles import get_profile
from test_localize import synthetic_hands

T_975_2DF = 4.302653  # Student's t, 97.5 % quantile, 2 degrees of freedom (tables: 4.303)


def test_mean_interval_hand_computed():
    mean, low, high = L.mean_interval([1.0, 2.0, 3.0])  # sd 1, n 3: half-width 4.302653 / sqrt(3) = 2.484138
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    # four values 0, 0, 1, 1: mean 0.5, sd sqrt(1/3), t(0.975, 3) = 3.182446 -> half-width 0.918693
    assert L.mean_interval([0, 0, 1, 1])[1:] == pytest.approx((0.5 - 0.918693, 0.5 + 0.918693), abs=1e-6)
    # a 90 % interval is narrower: t(0.95, 2) = 2.919986
    assert L.mean_interval([1.0, 2.0, 3.0], level=0.90)[2] == pytest.approx(2 + 2.919986 / math.sqrt(3), abs=1e-6)
    one = L.mean_interval([0.7])
    assert one[0] == 0.7 and math.isnan(one[1]) and math.isnan(one[2])
    assert L.mean_interval([0.4, float("nan"), 0.4]) == pytest.approx((0.4, 0.4, 0.4))  # nan dropped, no spread
    with pytest.raises(ValueError):
        L.mean_interval([])
    with pytest.raises(ValueError):
        L.mean_interval([1, 2], level=95)


def fake_runs(iou: dict[str, list[float]]) -> pd.DataFrame:
    """A `run_ablation`-shaped table with chosen IoUs per role over seeds 0, 1, 2 (loc accuracy 1)."""
    variants = L.ablation_variants(("eff", "res")).set_index("role")
    rows = [{"role": role, **variants.loc[role].to_dict(), "seed": seed, "mean_iou": v, "loc_accuracy": 1.0}
            for role, values in iou.items() for seed, v in enumerate(values)]
    return pd.DataFrame(rows).merge(L.PAPER_TABLE2, on="paper_model", how="left")


# mse varies over seeds; each other variant is a fixed per-seed step from the one it changes
IOU = {"mse": [0.50, 0.52, 0.54], "diou": [0.51, 0.54, 0.57], "diou_grid": [0.56, 0.60, 0.64],
       "second_backbone": [0.52, 0.55, 0.58]}


def test_summary_means_and_t_intervals_by_hand():
    summary = L.ablation_summary(fake_runs(IOU))
    assert list(summary["role"]) == list(L.ABLATION_ROLES) and (summary["n_seeds"] == 3).all()
    mse = summary.set_index("role").loc["mse"]
    # mean 0.52, sd 0.02: half-width 4.302653 * 0.02 / sqrt(3) = 0.049683
    assert (mse["mean_iou"], mse["mean_iou_sd"]) == pytest.approx((0.52, 0.02))
    assert (mse["mean_iou_low"], mse["mean_iou_high"]) == pytest.approx((0.470317, 0.569683), abs=1e-6)
    diou = summary.set_index("role").loc["diou"]
    assert diou["mean_iou_high"] - diou["mean_iou"] == pytest.approx(T_975_2DF * 0.03 / math.sqrt(3), abs=1e-6)
    assert (summary["loc_accuracy_low"] == 1.0).all() and (summary["paper_iou"] == [0.56, 0.65, 0.68, 0.71]).all()
    rows = L.ablation_results(fake_runs(IOU))  # a per-seed table is summarised first
    assert rows["diou_grid"]["mean_iou"] == pytest.approx(0.60)


def test_paired_differences_by_hand_and_their_words():
    diffs = L.ablation_differences(fake_runs(IOU)).set_index("comparison")
    assert list(diffs.index) == [c[0] for c in L.ABLATION_COMPARISONS]
    half = T_975_2DF * 0.01 / math.sqrt(3)  # every per-seed difference has sd 0.01: half-width 0.024841
    expect = {"diou_vs_mse": 0.02, "grid_vs_none": 0.06, "backbone": -0.05}
    for name, mean in expect.items():
        row = diffs.loc[name]
        assert (row["diff"], row["diff_low"], row["diff_high"]) == pytest.approx((mean, mean - half, mean + half),
                                                                                 abs=1e-6)
    assert diffs.loc["diou_vs_mse", "paper_diff"] == pytest.approx(0.65 - 0.56)
    assert diffs.loc["diou_vs_mse", "verdict"] == "no difference measured at this scale (interval spans 0)"
    assert diffs.loc["grid_vs_none", "verdict"] == "diou_grid higher than diou (interval above 0)"
    assert diffs.loc["backbone", "verdict"] == "diou_grid higher than second_backbone (interval below 0)"
    # pairing matters: the two means' own intervals overlap, the paired difference's does not hold 0
    s = L.ablation_summary(fake_runs(IOU)).set_index("role")
    assert s.loc["diou_grid", "mean_iou_low"] < s.loc["diou", "mean_iou_high"]


def test_interval_words_and_sign():
    assert L.interval_sign(0.01, 0.05) == 1 and L.interval_sign(-0.05, -0.01) == -1
    assert L.interval_sign(-0.01, 0.05) == 0 and L.interval_sign(0.0, 0.05) == 0  # touching 0 is not above it
    assert L.interval_words(0.01, 0.05, a="DIoU", b="MSE") == "DIoU higher than MSE (interval above 0)"
    assert L.interval_words(-0.05, -0.01, a="DIoU", b="MSE") == "MSE higher than DIoU (interval below 0)"
    assert L.interval_words(-0.01, 0.05) == "no difference measured at this scale (interval spans 0)"
    assert L.interval_words(math.nan, math.nan).startswith("one seed")
    with pytest.raises(ValueError):
        L.interval_sign(0.2, 0.1)


def test_headline_names_means_and_bounds():
    runs = fake_runs(IOU)
    head = L.ablation_headline(runs)
    assert head["ablation_seeds"] == 3
    assert head["ablation_iou_mse"] == pytest.approx(0.52)
    assert (head["ablation_iou_mse_low"], head["ablation_iou_mse_high"]) == pytest.approx((0.470317, 0.569683),
                                                                                          abs=1e-6)
    assert head["ablation_iou_diff_grid_vs_none"] == pytest.approx(0.06)
    skipped = L.ablation_headline(None)
    assert set(skipped) == set(head) and all(v is None for v in skipped.values())
    with pytest.raises(ValueError, match="twice"):
        L.ablation_summary(pd.concat([runs, runs.iloc[:1]]))


def test_profiles_run_at_least_three_seeds():
    for name in ("quick", "full"):
        assert get_profile(name).localization.ablation_seeds >= 3
    assert L.ablation_seeds(3, base_seed=7) == (7, 8, 9)
    with pytest.raises(ValueError):
        L.ablation_seeds(0)


def test_run_ablation_is_deterministic_and_seeds_differ():
    torch.set_num_threads(1)
    train, test = synthetic_hands(24, seed=1), synthetic_hands(8, seed=2)
    base = L.LocalizerConfig(backbone="test_efficientnet", input_size=(64, 48), hidden=32, epochs=4,
                             switch_epoch=2, batch_size=8, lr=5e-3, augment=L.Augment(3, 0.05, 0.02), seed=0)
    kwargs = dict(epochs=2, n_hands=16, seeds=(3, 4), progress=False)
    a = L.run_ablation(train, test, base, ("test_efficientnet", "test_resnet"), **kwargs)
    b = L.run_ablation(train, test, base, ("test_efficientnet", "test_resnet"), **kwargs)
    assert list(a["role"]) == [r for r in L.ABLATION_ROLES for _ in range(2)] and list(a["seed"]) == [3, 4] * 4
    cols = ["role", "seed", "mean_iou", "loc_accuracy", "parameters"]
    pd.testing.assert_frame_equal(a[cols], b[cols])  # same call, same numbers (bit for bit on a CPU)
    by = a.set_index(["role", "seed"])["mean_iou"]
    assert all(by[(r, 3)] != by[(r, 4)] for r in L.ABLATION_ROLES)  # the seed changes the run
    assert (a["cpu_seconds"] > 0).all() and np.isfinite(a["seconds"]).all()
    with pytest.raises(ValueError, match="distinct"):
        L.run_ablation(train, test, base, ("test_efficientnet", "test_resnet"), epochs=1, seeds=(1, 1))


def test_run_ablation_by_role_and_from_its_cache(tmp_path, monkeypatch):
    """One cell per variant (`roles`), and an interrupted chapter continues: cached runs are not trained again."""
    torch.set_num_threads(1)
    train, test = synthetic_hands(20, seed=1), synthetic_hands(6, seed=2)
    base = L.LocalizerConfig(backbone="test_efficientnet", input_size=(64, 48), hidden=32, epochs=4,
                             switch_epoch=2, batch_size=8, lr=5e-3, augment=L.Augment(3, 0.05, 0.02), seed=0)
    backbones = ("test_efficientnet", "test_resnet")
    kwargs = dict(epochs=1, n_hands=12, seeds=(3, 4), progress=False)
    plain = L.run_ablation(train, test, base, backbones, roles=["diou"], **kwargs)
    assert list(plain["role"]) == ["diou", "diou"] and list(plain["seed"]) == [3, 4]
    first = L.run_ablation(train, test, base, backbones, roles=["diou"], cache=tmp_path, **kwargs)
    assert len(list(tmp_path.glob("ablation-run-*.json"))) == 2
    timed = ["seconds", "cpu_seconds"]  # wall and CPU times differ between two trainings; the results do not
    pd.testing.assert_frame_equal(first.drop(columns=timed), plain.drop(columns=timed))  # the cache changes no number

    import rheumabook.localize.ablation as ablation_module

    def no_training(*args, **kw):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(ablation_module, "train_localizer", no_training)
    again = L.run_ablation(train, test, base, backbones, roles=["diou"], cache=tmp_path, **kwargs)
    pd.testing.assert_frame_equal(again, first)  # read back bit for bit
    # Other hands are another run: the key follows the data, so it trains (and here fails loudly).
    with pytest.raises(AssertionError, match="trained again"):
        L.run_ablation(synthetic_hands(20, seed=9), test, base, backbones, roles=["diou"], cache=tmp_path, **kwargs)
    # A half-written (corrupt) cache file is not trusted: that run is trained again.
    next(tmp_path.glob("ablation-run-*.json")).write_text('{"mean_iou": ')
    with pytest.raises(AssertionError, match="trained again"):
        L.run_ablation(train, test, base, backbones, roles=["diou"], cache=tmp_path, **kwargs)
    with pytest.raises(ValueError, match="subset"):
        L.run_ablation(train, test, base, backbones, roles=["coordconv"], **kwargs)
