"""Tests of the scorer's data, sampling, augmentation, training, checkpoints and evaluation (issue 10).

Training runs use timm's tiny `test_efficientnet` on synthetic 32-px crops whose grade is drawn
into the picture (a disc whose radius grows with the grade): seconds on one CPU thread.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rheumabook.profiles import QUICK, ScoringConfig
from rheumabook.scoring import (MISSING, CropSet, Scorer, augment_crops, difference_row, epoch_indices, focal_loss,
                                load_scorer, metric_row, paper_augmentations, sampling_weights, save_scorer,
                                schedule_for, standardize_crops, to_unit, train_model, train_scorer)
from rheumabook.scoring.train import _step
from rheumabook.stats import bootstrap_ci, weighted_accuracy

SIZE = 32


def disc_crops(grades: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, SIZE, SIZE) crops: noise plus a bright disc of radius 3 + 2 x grade."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    out = rng.integers(0, 60, size=(len(grades), SIZE, SIZE)).astype(np.uint8)
    for i, g in enumerate(grades):
        out[i][np.hypot(yy, xx) <= 3 + 2 * g] = 200
    return out


def synthetic_set(n: int, seed: int = 0, draws: int = 2) -> CropSet:
    """A CropSet of n disc crops: erosion = grade (0-5, skewed to 0), JSN = min(grade, 4); every 7th erosion missing."""
    rng = np.random.default_rng(seed)
    grades = rng.choice(6, size=n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
    erosion = np.where(np.arange(n) % 7 == 3, MISSING, grades)
    sites = pd.DataFrame({"patient_id": [f"P{i // 10:03d}" for i in range(n)], "hand": "left", "joint": "MCP2",
                          "ds_erosion": erosion, "ds_jsn": np.minimum(grades, 4),
                          "truth_erosion": grades, "truth_jsn": np.minimum(grades, 4)})
    train = np.stack([disc_crops(grades, rng) for _ in range(draws)]) if draws else None
    return CropSet(sites, disc_crops(grades, rng), train)


def tiny_config(**changes) -> ScoringConfig:
    base = ScoringConfig(backbone="test_efficientnet", crop_size=SIZE, hidden=32, frozen_epochs=1, unfrozen_epochs=3,
                         frozen_lr=3e-3, unfrozen_lr=3e-3, batch_size=32, augment=False, seed=0)
    return base.replace(**changes)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- sampling


def test_weighted_sampling_balances_the_grades_of_one_kind():
    rng = np.random.default_rng(0)
    y = rng.choice(5, size=4000, p=[0.7, 0.15, 0.08, 0.05, 0.02])
    y[::11] = MISSING
    w = sampling_weights({"jsn": y})
    assert (w[y == MISSING] == 0).all()
    drawn = y[epoch_indices(w, np.random.default_rng(1), n=50_000)]
    assert (drawn != MISSING).all()
    shares = np.bincount(drawn, minlength=5) / drawn.size
    np.testing.assert_allclose(shares, 0.2, atol=0.015)  # raw shares run from 0.70 down to 0.02


def test_weighted_sampling_raises_the_rare_grades_of_both_kinds_in_the_shared_model():
    rng = np.random.default_rng(0)
    g = rng.choice(6, size=3000, p=[0.6, 0.2, 0.1, 0.05, 0.03, 0.02])
    labels = {"erosion": g, "jsn": np.minimum(g, 4)}
    drawn = epoch_indices(sampling_weights(labels), np.random.default_rng(2), n=30_000)
    for kind, y in labels.items():
        raw = np.bincount(y) / y.size
        got = np.bincount(y[drawn], minlength=raw.size) / drawn.size
        assert got.min() > 3 * raw.min() and got.max() < 0.5 * raw.max()


def test_schedule_follows_the_backbone_family():
    assert schedule_for(tiny_config(backbone="tiny_vit_5m_224")) == "warmup_cosine"
    assert schedule_for(tiny_config(backbone="swin_tiny_patch4_window7_224")) == "warmup_cosine"
    assert schedule_for(tiny_config(backbone="resnet34")) == "plateau"
    assert schedule_for(tiny_config(backbone="resnet34", schedule="cosine")) == "warmup_cosine"


# ---------------------------------------------------------------------------- masking


def test_sites_without_a_score_are_out_of_the_training_loss_and_gradient():
    train = synthetic_set(64)
    config = tiny_config()
    from rheumabook.scoring import build_scorer

    torch.manual_seed(0)
    model = build_scorer(config).train()
    idx = np.arange(32)
    erosion = train.labels("erosion")[idx]
    assert (erosion == MISSING).any()
    from rheumabook.training import StepContext

    loss, n = _step(train, config, ("erosion", "jsn"), "ds", 0, "cpu")(
        model, idx, StepContext(1, 0, torch.device("cpu"), False))
    x = standardize_crops(to_unit(train.epoch_crops(1)[idx])).requires_grad_(True)
    parts = model.split_logits(model(x))
    present = torch.from_numpy(erosion != MISSING)
    expected = (focal_loss(parts["erosion"][present], torch.from_numpy(erosion[erosion != MISSING]), 6)
                + focal_loss(parts["jsn"], torch.from_numpy(train.labels("jsn")[idx]), 5))
    torch.testing.assert_close(loss, expected)
    # the erosion logits of a masked site get no gradient from the loss
    logits = parts["erosion"].detach().requires_grad_(True)
    focal_loss(logits, torch.from_numpy(erosion), 6).backward()
    assert logits.grad[~present].abs().sum() == 0 and logits.grad[present].abs().sum() > 0
    # and an independent erosion model never draws them
    assert (sampling_weights({"erosion": train.labels("erosion")})[train.labels("erosion") == MISSING] == 0).all()


# ---------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    train, test = synthetic_set(320, seed=0), synthetic_set(200, seed=1, draws=0)
    return train, test, train_scorer(train, tiny_config(), progress=False)


def _accuracy(scorer: Scorer, test: CropSet) -> dict[str, float]:
    pred = scorer.predict(test.crops)
    return {k: weighted_accuracy(test.labels(k, "truth"), pred[k]) for k in ("erosion", "jsn")}


def test_a_short_training_beats_the_untrained_model(trained):
    train, test, scorer = trained
    from rheumabook.scoring import build_scorer
    from rheumabook.training import seeded

    untrained = Scorer([seeded(0, lambda: build_scorer(tiny_config()).eval())], tiny_config())
    before, after = _accuracy(untrained, test), _accuracy(scorer, test)
    for kind in ("erosion", "jsn"):
        assert before[kind] < 0.45, before  # an untrained model cannot pass the bar below
        assert after[kind] >= 0.7, after
    hist = scorer.history
    assert list(hist["stage"]) == ["frozen", "unfrozen", "unfrozen", "unfrozen"]
    assert list(hist["epoch"]) == [1, 2, 3, 4]


def test_checkpoint_round_trip_gives_identical_predictions(trained, tmp_path):
    _, test, scorer = trained
    paths = save_scorer(tmp_path / "scorer", scorer)
    assert [p.suffix for p in paths] == [".safetensors"] and (tmp_path / "scorer.json").is_file()
    loaded = load_scorer(tmp_path / "scorer")
    assert loaded.config == scorer.config
    a, b = scorer.predict_proba(test.crops), loaded.predict_proba(test.crops)
    for kind in a:
        np.testing.assert_array_equal(a[kind], b[kind])
    assert list(loaded.history["train_loss"]) == pytest.approx(list(scorer.history["train_loss"]))


def test_independent_models_round_trip_and_score_one_kind_each(tmp_path):
    train, test = synthetic_set(96), synthetic_set(40, seed=1, draws=0)
    config = tiny_config(shared=False, frozen_epochs=0, unfrozen_epochs=1)
    scorer = train_scorer(train, config, progress=False)
    assert [m.kinds for m in scorer.models] == [("erosion",), ("jsn",)]
    save_scorer(tmp_path / "ind", scorer)
    assert (tmp_path / "ind-erosion.safetensors").is_file() and (tmp_path / "ind-jsn.json").is_file()
    loaded = load_scorer(tmp_path / "ind", shared=False)
    a, b = scorer.predict_proba(test.crops), loaded.predict_proba(test.crops)
    assert set(a) == {"erosion", "jsn"}
    for kind in a:
        np.testing.assert_array_equal(a[kind], b[kind])


def test_same_seed_same_predictions_and_another_seed_others():
    train, test = synthetic_set(96), synthetic_set(40, seed=1, draws=0)
    config = tiny_config(frozen_epochs=1, unfrozen_epochs=1, augment=True)
    runs = [train_model(train, config.replace(seed=s), progress=False)[0] for s in (0, 0, 1)]
    x = standardize_crops(to_unit(test.crops))
    with torch.no_grad():
        out = [m(x) for m in runs]
    assert torch.equal(out[0], out[1])
    assert not torch.equal(out[0], out[2])


def test_augmentations_are_seeded_per_crop_and_leave_the_global_generator_alone():
    x = to_unit(disc_crops(np.array([0, 2, 5, 1]), np.random.default_rng(0)))
    state = torch.random.get_rng_state()
    a = augment_crops(x, torch.Generator().manual_seed(3))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = augment_crops(x, torch.Generator().manual_seed(3))
    c = augment_crops(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    same = augment_crops(x[:1].expand(6, -1, -1, -1).clone(), torch.Generator().manual_seed(0))
    assert len({tuple(v.flatten()[:64].tolist()) for v in same}) > 1  # each crop gets its own draw
    assert len(paper_augmentations(SIZE).transforms) == 6


# ---------------------------------------------------------------------------- evaluation


def test_weighted_accuracy_equals_sklearn_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    for k in (2, 5, 6):
        y = np.concatenate([np.arange(k), rng.integers(0, k, 300)])  # every class present
        p = np.where(rng.random(y.size) < 0.6, y, rng.integers(0, k, y.size))
        assert weighted_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)


def patient_blocks(n_patients: int = 12, per_patient: int = 40, seed: int = 0):
    """Joints whose correctness is decided per patient: perfectly correlated within a patient."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(4), n_patients * per_patient // 4)
    good = np.repeat(rng.random(n_patients) < 0.5, per_patient)
    pred = np.where(good, y, (y + 1) % 4)
    return y, pred, np.repeat([f"P{i}" for i in range(n_patients)], per_patient)


def test_evaluation_intervals_resample_patients_not_joints():
    y, pred, patients = patient_blocks()
    row = metric_row(y, pred, patients, n_boot=500, seed=0)
    joints = bootstrap_ci(weighted_accuracy, y, pred, n_boot=500, seed=0)  # what resampling joints would give
    assert row["n_patients"] == 12 and row["n_sites"] == len(y)
    assert row["accuracy"] == pytest.approx(joints[0])
    assert (row["accuracy_high"] - row["accuracy_low"]) > 3 * (joints[2] - joints[1])
    # patient resampling: every replicate is a mix of whole patients, so the accuracy is a multiple of 1/12
    assert row["accuracy_low"] * 12 == pytest.approx(round(row["accuracy_low"] * 12))


def test_difference_intervals_resample_patients_and_say_no_difference_when_they_straddle_zero():
    y, pred, patients = patient_blocks()
    same = difference_row(y, pred, pred, patients, n_boot=200)
    assert same["accuracy"] == 0 and same["verdict"] == "no difference measured at this scale"
    better = difference_row(y, y, pred, patients, n_boot=200)
    assert better["accuracy_low"] > 0 and better["verdict"].startswith("higher accuracy")
    noisy = difference_row(y, pred, np.roll(pred, 40), patients, n_boot=500)  # another patient's luck
    assert noisy["accuracy_low"] < 0 < noisy["accuracy_high"]


def test_quick_profile_scorer_config_round_trips_through_json():
    assert ScoringConfig.from_json(QUICK.scoring.to_json()) == QUICK.scoring


def test_augment_settings_and_the_old_boolean_spelling():
    from rheumabook.scoring import AUGMENT_SETS, augmentations

    assert tiny_config(augment=True).augment == "paper" and tiny_config(augment=False).augment == "none"
    assert augmentations("none", SIZE) is None
    shift = augmentations("crop_and_pad", SIZE)
    x = to_unit(disc_crops(np.array([3]), np.random.default_rng(0)))
    moved = augment_crops(x.expand(8, -1, -1, -1).clone(), torch.Generator().manual_seed(0), shift)
    assert moved.shape == (8, 1, SIZE, SIZE) and not all(torch.equal(m, x[0]) for m in moved)
    assert set(AUGMENT_SETS) == {"paper", "crop_and_pad", "none"}
    with pytest.raises(ValueError):
        tiny_config(augment="mixup")


def test_batched_crop_and_pad_gives_torchvisions_pixels_exactly():
    # the reference: torchvision's v2.RandomCrop called on each crop in turn, from the same generator state
    from torchvision.transforms import v2

    from rheumabook.scoring.augment import CropAndPad

    x = torch.rand(37, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    reference = v2.RandomCrop(64, padding=6, fill=0.0)
    expected = augment_crops(x, torch.Generator().manual_seed(11), v2.Compose([reference]))  # Compose: per crop
    got = augment_crops(x, torch.Generator().manual_seed(11), CropAndPad(64, 6))
    assert torch.equal(got, expected) and got.stride() == expected.stride()  # the layout too: convolutions see it
    assert not torch.equal(got, x)
    torch.manual_seed(5)
    one = CropAndPad(64, 6)(x[0])
    torch.manual_seed(5)
    assert torch.equal(one, reference(x[0]))


def test_run_comparison_trains_every_row_the_independent_one_and_the_cnn_ensemble():
    from rheumabook.profiles import ScoringPlan
    from rheumabook.scoring import run_comparison

    train, test = synthetic_set(96), synthetic_set(30, seed=1, draws=0)
    plan = ScoringPlan(backbones=(("TinyViT", "test_efficientnet", {}), ("ResNet34", "test_resnet", {}),
                                  ("DenseNet", "test_efficientnet", {})), frozen_epochs=0, unfrozen_epochs=1)
    probas, extra, runs = run_comparison(train, test.crops, tiny_config(augment="crop_and_pad"), plan,
                                         extra_crops=test.crops[:10], progress=False)
    ensemble = "Csabaibio-style ensemble (ResNet34 + DenseNet)"
    assert set(probas) == {"TinyViT", "ResNet34", "DenseNet", "TinyViT independent", "TinyViT without augmentation",
                           ensemble}
    assert set(extra) == set(probas) and extra["TinyViT"]["jsn"].shape == (10, 5)
    np.testing.assert_allclose(probas[ensemble]["erosion"],
                               (probas["ResNet34"]["erosion"] + probas["DenseNet"]["erosion"]) / 2)
    assert list(runs["scheduler"]) == ["plateau"] * 5  # CNNs all (test_efficientnet, test_resnet)
    assert runs.set_index("row").loc["TinyViT without augmentation", "augment"] == "none"
