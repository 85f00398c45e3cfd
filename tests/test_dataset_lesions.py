"""The lesions of a written phantom data set (`data.dataset_lesions`) and in its crops (`pretrain.site_lesion_masks`)."""
from __future__ import annotations


import numpy as np
import pytest

from rheumabook import data, phantom, pretrain
from rheumabook.explain import lesion_masks
from rheumabook.schema import BOX_COLUMNS


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = data.write_phantom_dataset(tmp_path_factory.mktemp("lesions") / "ds", 3, seed=4, size=512, progress=False)
    return data.load_dataset(root)


def test_the_polygons_are_those_of_each_patients_render_seed(written):
    table = data.dataset_lesions(written, ["P0002", "P0000"])
    assert list(dict.fromkeys(table["patient_id"])) == ["P0002", "P0000"]
    seeds = written.patient_info.set_index("patient_id")["render_seed"]
    again = phantom.lesion_geometry(int(seeds["P0002"]), size=512)
    mine = table[table["patient_id"] == "P0002"].reset_index(drop=True)
    assert len(mine) == len(again) == 74
    for a, b in zip(mine["polygons"], again["polygons"]):
        assert len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))
    # the grades are the data set's truth
    truth = written.truth.set_index(["patient_id", "hand", "joint"])
    for row in mine.itertuples():
        assert row.grade == truth.loc[("P0002", row.hand, row.joint), row.kind]


def test_real_data_stale_phantoms_and_unknown_patients_are_refused(written, tmp_path):
    with pytest.raises(ValueError, match="not in the data set"):
        data.dataset_lesions(written, ["P9999"])
    stale = data.load_dataset(written.root)
    stale.info["generator_fingerprint"] = "0000000000000000"
    with pytest.raises(ValueError, match="other phantom code"):
        data.dataset_lesions(stale)
    real = data.load_dataset(written.root)
    real.info["kind"] = "real"
    with pytest.raises(ValueError, match="only for phantom"):
        data.dataset_lesions(real)


def test_site_masks_follow_each_crops_box_hand_and_kind(written):
    lesions = data.dataset_lesions(written)
    sites = written.boxes.merge(written.truth, on=["patient_id", "hand", "joint"])
    eroded = sites[sites["erosion"].fillna(0) >= 1].head(6).reset_index(drop=True)
    assert len(eroded) and set(eroded["hand"]) <= {"left", "right"}
    masks = pretrain.site_lesion_masks(eroded, lesions, "erosion", factor=2.5, size=64)
    assert masks.shape == (len(eroded), 64, 64) and all(m.any() for m in masks)
    # the same as mapping each site's polygons by hand through explain.lesion_masks
    table = lesions.set_index(["patient_id", "hand", "joint", "kind"])["polygons"]
    polys = [table.loc[(r.patient_id, r.hand, r.joint, "erosion")] for r in eroded.itertuples()]
    ref = lesion_masks(polys, eroded[list(BOX_COLUMNS)].to_numpy(float), factor=2.5, size=64,
                       hands=eroded["hand"].tolist())
    assert np.array_equal(masks, ref)
    healthy = sites[sites["erosion"] == 0].head(3).reset_index(drop=True)
    assert not pretrain.site_lesion_masks(healthy, lesions, "erosion", factor=2.5, size=64).any()
    assert pretrain.site_lesion_masks(healthy, lesions, "jsn", factor=2.5, size=64).any(axis=(1, 2)).all()
    with pytest.raises(ValueError, match="kind must be"):
        pretrain.site_lesion_masks(healthy, lesions, "bone", factor=2.5, size=64)
    with pytest.raises(ValueError, match="no lesion geometry"):
        pretrain.site_lesion_masks(healthy, lesions[lesions["patient_id"] != healthy.at[0, "patient_id"]], "jsn",
                                   factor=2.5, size=64)


def test_moved_crops_cut_each_site_around_its_moved_box(written):
    from rheumabook.data import working_image
    from rheumabook.profiles import QUICK
    from rheumabook.scoring import crop_joints

    sites = written.boxes.iloc[[50, 3, 45, 7]].reset_index(drop=True)  # two patients, both hands, out of order
    config = QUICK.scoring
    still, same = pretrain.moved_crops(written, sites, config, shift=0.0)
    assert np.array_equal(same[list(BOX_COLUMNS)].to_numpy(), sites[list(BOX_COLUMNS)].to_numpy())
    for i, row in sites.iterrows():
        ref = crop_joints(working_image(written.image(row.patient_id)), sites.iloc[[i]], factor=config.eval_factor,
                          size=config.crop_size)
        assert np.array_equal(still[i], ref[0])
    crops, moved = pretrain.moved_crops(written, sites, config, shift=0.3, seed=2)
    again, moved_again = pretrain.moved_crops(written, sites, config, shift=0.3, seed=2)
    assert np.array_equal(crops, again) and moved.equals(moved_again)
    delta = moved[list(BOX_COLUMNS)].to_numpy() - sites[list(BOX_COLUMNS)].to_numpy()
    assert np.allclose(delta[:, :2], delta[:, 2:]) and (np.abs(delta) > 0).all()  # moved, not resized
    assert not np.array_equal(crops, still)
    for i, row in moved.iterrows():
        ref = crop_joints(working_image(written.image(row.patient_id)), moved.iloc[[i]], factor=config.eval_factor,
                          size=config.crop_size)
        assert np.array_equal(crops[i], ref[0])
    with pytest.raises(ValueError, match="no sites"):
        pretrain.moved_crops(written, sites.iloc[:0], config, shift=0.3)
