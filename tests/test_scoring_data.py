"""Tests of rheumabook.scoring.data: labels per site, chapter 4's patient split, the crop cache (issue 10)."""
from __future__ import annotations

import numpy as np
import pytest

from rheumabook.joints import applies
from rheumabook.localize import HELD_OUT_FRACTION, split_patients
from rheumabook.profiles import QUICK
from rheumabook.scoring import MISSING, CropSet, crop_set, predicted_box_sites, scoring_data, site_labels
from rheumabook.scoring import data as scoring_data_module


@pytest.fixture(scope="module")
def phantom_dataset(tmp_path_factory):
    """A 5-patient phantom data set at 400 px."""
    from rheumabook import data

    root = data.write_phantom_dataset(tmp_path_factory.mktemp("phantom") / "ds", 5, 0, size=400, progress=False)
    return data.load_dataset(root)


def test_site_labels_are_ds_and_truth_with_missing_where_a_score_does_not_apply(phantom_dataset):
    sites = site_labels(phantom_dataset)
    assert len(sites) == len(phantom_dataset.boxes)
    for kind in ("erosion", "jsn"):
        na = ~sites["joint"].map(lambda j: applies(j, kind))
        for source in ("ds", "truth"):
            assert (sites.loc[na, f"{source}_{kind}"] == MISSING).all()
            assert (sites.loc[~na, f"{source}_{kind}"] >= 0).all()
    assert (sites["ds_erosion"] == sites["truth_erosion"]).mean() > 0.6  # DS close to, not equal to, the truth


def test_scoring_data_holds_out_chapter_4s_patients_and_caches_the_crops(phantom_dataset, tmp_path, monkeypatch):
    config = QUICK.scoring.replace(crop_size=32)
    sd = scoring_data(phantom_dataset, config, seed=0, draws=2, cache_dir=tmp_path, progress=False)
    train_ids, test_ids = split_patients(phantom_dataset.patients, HELD_OUT_FRACTION, 0)
    assert sd.train_patients == train_ids and sd.test_patients == test_ids
    assert set(sd.test.patients) == set(test_ids) and not set(sd.train.patients) & set(test_ids)
    assert sd.train.train.shape == (2, len(sd.train), 32, 32) and sd.test.train is None
    assert not np.array_equal(sd.train.epoch_crops(1), sd.train.epoch_crops(2))  # each draw its own factors
    assert np.array_equal(sd.train.epoch_crops(1), sd.train.epoch_crops(3))
    assert len(list(tmp_path.glob("scoring-crops-*.npz"))) == 2

    def refuse(*args, **kwargs):
        raise AssertionError("the crops should come from the cache")

    monkeypatch.setattr(scoring_data_module, "_cut_sets", refuse)
    again = scoring_data(phantom_dataset, config, seed=0, draws=2, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.train.train, sd.train.train)
    assert again.test.sites.equals(sd.test.sites)


def test_predicted_boxes_are_their_own_cache_entry(phantom_dataset, tmp_path):
    config = QUICK.scoring.replace(crop_size=32)
    sites = site_labels(phantom_dataset)
    ids = phantom_dataset.patients[:1]
    true = crop_set(phantom_dataset, ids, config, sites=sites, cache_dir=tmp_path, progress=False)
    boxes = sites[["patient_id", "hand", "joint", "x_min", "y_min", "x_max", "y_max"]].copy()
    boxes[["x_min", "x_max"]] += 3.0
    moved = crop_set(phantom_dataset, ids, config, sites=predicted_box_sites(sites, boxes), cache_dir=tmp_path,
                     progress=False)
    assert len(moved) == len(true) and not np.array_equal(moved.crops, true.crops)
    assert np.array_equal(moved.labels("jsn", "truth"), true.labels("jsn", "truth"))
    loaded = CropSet.load(next(iter(sorted(tmp_path.glob("*.npz")))))
    assert loaded.sites["patient_id"].tolist()[0] == ids[0]


def test_the_scorers_stream_tops_up_the_training_patients_only(phantom_dataset, tmp_path, monkeypatch):
    """Issue 21: training patients from the scorer's own phantom stream, prefixed; the test set stays the chapter's."""
    from rheumabook import data
    from rheumabook.scoring import CALIBRATION_PREFIX, STREAM_PREFIX, chapter_scoring_data, stream_patients

    monkeypatch.setenv("RHEUMABOOK_ARTIFACTS", str(tmp_path))
    profile = QUICK.replace(scoring=QUICK.scoring.replace(crop_size=32),
                            data=QUICK.data.__class__(n_patients=5, image_size=400))
    train_ids, test_ids = split_patients(phantom_dataset.patients, HELD_OUT_FRACTION, 0)
    plain = QUICK.scoring_comparison
    assert stream_patients(profile.replace(scoring_comparison=plain.__class__(**{**vars(plain), "train_patients": 2})),
                           phantom_dataset) is None  # the chapter's own patients are enough
    profile = profile.replace(scoring_comparison=plain.__class__(**{**vars(plain), "train_patients": len(train_ids) + 3,
                                                                    "calibration_patients": 2}))
    sd = chapter_scoring_data(profile, phantom_dataset, 0, progress=False, cache_dir=tmp_path)
    # the calibration patients: a stream of their own, cropped like the held-out ones, in no other set
    assert sorted(set(sd.calibration.patients)) == [f"{CALIBRATION_PREFIX}P0000", f"{CALIBRATION_PREFIX}P0001"]
    assert sd.calibration.train is None and not set(sd.calibration.patients) & set(sd.train.patients)
    calibration = data.stream_dataset(profile, 0, "calibration", 2, progress=False)
    assert not np.array_equal(calibration.image("P0000"), data.stream_dataset(profile, 0, "scoring", 3,
                                                                              progress=False).image("P0000"))
    assert sd.summary()["calibration patients (set aside)"] == 2
    assert sd.n_stream == 3 and sd.train_patients[:len(train_ids)] == train_ids
    assert sd.train_patients[len(train_ids):] == [f"{STREAM_PREFIX}P000{i}" for i in range(3)]
    assert list(dict.fromkeys(sd.train.patients)) == sd.train_patients and sd.test_patients == test_ids
    assert sd.train.train.shape[:2] == (4, len(sd.train)) and (sd.train.labels("erosion") >= -1).all()
    stream = data.stream_dataset(profile, 0, "scoring", 3, progress=False)  # cached: the same patients again
    assert stream.patients == ["P0000", "P0001", "P0002"]
    # its own stream: other images than the chapter's first patients
    assert not np.array_equal(stream.image("P0000"), phantom_dataset.image("P0000"))
    prefix = sd.train.of_patients(sd.train_patients[:len(train_ids)])
    np.testing.assert_array_equal(prefix.crops, scoring_data(phantom_dataset, profile.scoring, 0, progress=False,
                                                              cache_dir=tmp_path).train.crops)
