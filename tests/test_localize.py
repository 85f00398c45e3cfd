"""Tests of rheumabook.localize: DIoU against torchvision, metrics against hand-computed cases,
augmentation against pixels, the model's shapes, training determinism and checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.ops import box_iou, distance_box_iou_loss

from rheumabook import localize as L
from rheumabook.joints import JOINTS, mirror_boxes_x

TINY = "test_efficientnet"  # timm's test model: ~0.1 M parameters, fast on 2 cores


def random_boxes(n: int, gen: torch.Generator, scale: float = 100.0) -> torch.Tensor:
    """n valid float64 boxes (x_min <= x_max, y_min <= y_max) with corners in [0, scale)."""
    a = torch.rand(n, 2, generator=gen, dtype=torch.float64) * scale
    b = torch.rand(n, 2, generator=gen, dtype=torch.float64) * scale
    return torch.cat([torch.minimum(a, b), torch.maximum(a, b)], dim=1)


# ----------------------------------------------------------------------------- DIoU loss (paper eq. 2)


def test_diou_matches_torchvision_on_random_degenerate_and_disjoint_boxes():
    gen = torch.Generator().manual_seed(1)
    pred, target = random_boxes(500, gen), random_boxes(500, gen)
    # far apart (no overlap), zero-width, zero-height, points, identical
    far = target + torch.tensor([300.0, 300.0, 300.0, 300.0], dtype=torch.float64)
    line = pred.clone()
    line[:, 2] = line[:, 0]
    flat = pred.clone()
    flat[:, 3] = flat[:, 1]
    point = pred.clone()
    point[:, 2:] = point[:, :2]
    cases = [(pred, target), (pred, far), (line, target), (flat, target), (point, target), (point, point),
             (target, target), (line, line)]
    for p, t in cases:
        for reduction in ("none", "mean", "sum"):
            ours = L.diou_loss(p, t, reduction=reduction)
            ref = distance_box_iou_loss(p, t, reduction=reduction)
            torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    # float32 too, with the same eps
    p32, t32 = pred.float(), target.float()
    torch.testing.assert_close(L.diou_loss(p32, t32, "none"), distance_box_iou_loss(p32, t32), atol=1e-6, rtol=0)


def test_diou_batched_shape_empty_input_and_errors():
    gen = torch.Generator().manual_seed(2)
    p, t = random_boxes(6, gen).view(2, 3, 4), random_boxes(6, gen).view(2, 3, 4)
    assert L.diou_loss(p, t, "none").shape == (2, 3)
    torch.testing.assert_close(L.diou_loss(p, t, "none").reshape(-1),
                               distance_box_iou_loss(p.reshape(-1, 4), t.reshape(-1, 4)), atol=1e-6, rtol=0)
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = L.diou_loss(empty, torch.zeros(0, 4), "mean")
    assert loss.item() == 0.0 and loss.requires_grad
    assert L.diou_loss(empty, torch.zeros(0, 4), "none").shape == (0,)
    with pytest.raises(ValueError, match="reduction"):
        L.diou_loss(p, t, "avg")
    with pytest.raises(ValueError, match="shape"):
        L.diou_loss(p, t[:, :2])


def test_diou_hand_computed_and_gradient_for_inverted_boxes():
    # two unit squares side by side: IoU 0, centres 1 apart, enclosing box 2 x 1 -> c^2 = 5
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, 2.0, 1.0]])
    assert L.diou_loss(a, b).item() == pytest.approx(1 + 1 / 5, abs=1e-6)
    # an inverted prediction (x_max < x_min) is empty but still pulled towards the target
    inv = torch.tensor([[3.0, 3.0, 2.0, 2.0]], requires_grad=True)
    loss = L.diou_loss(inv, a)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 1
    assert inv.grad.abs().sum() > 0


def test_loss_schedule_is_eq_1():
    assert [L.loss_for_epoch(e, 3) for e in range(1, 6)] == ["mse"] * 3 + ["diou"] * 2
    assert L.loss_for_epoch(7, 3, "mse") == "mse" and L.loss_for_epoch(1, 3, "diou") == "diou"
    with pytest.raises(ValueError):
        L.loss_for_epoch(0, 3)


# ----------------------------------------------------------------------------- metrics (paper §3.5)


def test_paired_iou_hand_computed_and_against_torchvision():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 9], [3, 3, 1, 1]], float)
    target = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [5, 5, 5, 9], [0, 0, 4, 4]], float)
    # identical 1; half-overlap 50/150; disjoint 0; two empty boxes 0 (not NaN); inverted = empty -> 0
    np.testing.assert_allclose(L.paired_iou(pred, target), [1.0, 1 / 3, 0.0, 0.0, 0.0])
    gen = torch.Generator().manual_seed(3)
    p, t = random_boxes(200, gen), random_boxes(200, gen)
    np.testing.assert_allclose(L.paired_iou(p, t), torch.diag(box_iou(p, t)).numpy(), atol=1e-12)


def test_localization_accuracy_hand_computed_boundaries():
    target = np.array([[10, 10, 20, 30]] * 6, float)  # width 10, height 20: hit zone x in [5, 25], y in [0, 40]
    centres = [(15, 20), (25, 20), (25.01, 20), (15, 0), (15, -0.01), (4, 41)]
    pred = np.array([[cx - 1, cy - 1, cx + 1, cy + 1] for cx, cy in centres], float)
    np.testing.assert_array_equal(L.localization_hits(pred, target), [True, True, False, True, False, False])
    assert L.localization_accuracy(pred, target) == pytest.approx(3 / 6)
    # tensors work the same way, and the prediction's size does not matter, only its centre
    big = torch.tensor([[-100.0, -100.0, 130.0, 140.0]])
    assert L.localization_accuracy(big, torch.tensor([[10.0, 10.0, 20.0, 30.0]])) == 1.0
    assert np.isnan(L.localization_accuracy(np.zeros((0, 4)), np.zeros((0, 4))))


def test_per_joint_metrics_matches_flat_metrics():
    rng = np.random.default_rng(4)
    corners = rng.uniform(0, 100, (5, len(JOINTS), 2, 2))  # two (x, y) points per box
    target = np.concatenate([corners.min(axis=2), corners.max(axis=2)], axis=-1)
    pred = target + rng.normal(0, 3, target.shape)
    table = L.per_joint_metrics(pred, target)
    assert list(table.index) == list(JOINTS) and (table["n"] == 5).all()
    for j, name in enumerate(JOINTS):
        assert table.loc[name, "iou"] == pytest.approx(L.paired_iou(pred[:, j], target[:, j]).mean())
        assert table.loc[name, "loc_accuracy"] == pytest.approx(L.localization_accuracy(pred[:, j], target[:, j]))
    with pytest.raises(ValueError, match="joints"):
        L.per_joint_metrics(pred[:, :3], target[:, :3])


# ----------------------------------------------------------------------------- CoordConv + model


def test_coordinate_channels_are_pixel_centres_in_minus_one_one():
    c = L.coordinate_channels(4, 2)
    assert c.shape == (2, 4, 2)
    np.testing.assert_allclose(c[0, 0].numpy(), [-0.5, 0.5])
    np.testing.assert_allclose(c[1, :, 0].numpy(), [-0.75, -0.25, 0.25, 0.75])
    x = torch.rand(3, 1, 4, 2)
    with_c, without = L.model_inputs(x, True), L.model_inputs(x, False)
    assert with_c.shape == without.shape == (3, 3, 4, 2)
    assert torch.equal(with_c[:, 0], x[:, 0]) and torch.equal(with_c[1, 1:], c)
    assert torch.equal(without[:, 2], x[:, 0])


def test_box_regressor_shapes_head_split_and_prior():
    torch.manual_seed(0)
    model = L.BoxRegressor(TINY, (64, 48), pool_grid=(2, 1), hidden=32).eval()
    x = torch.randn(2, 1, 64, 48)
    feats = model.forward_features(x)
    assert feats.shape[0] == 2 and tuple(feats.shape[1:]) == model.feature_shape
    out = model(x)
    assert out.shape == (2, len(JOINTS), 4)
    torch.testing.assert_close(model.forward_head(feats), out)
    prior = np.random.default_rng(0).uniform(0, 1, (len(JOINTS), 4)).astype(np.float32)
    model.set_prior(prior)
    torch.testing.assert_close(model.fc2.bias.view(-1, 4), torch.from_numpy(prior))
    with pytest.raises(ValueError, match="timm backbone"):
        L.BoxRegressor("no_such_net", (64, 48))
    with pytest.raises(ValueError, match="pool_grid"):
        L.BoxRegressor(TINY, (64, 48), pool_grid=(8, 8))


# ----------------------------------------------------------------------------- augmentation moves boxes correctly


def _bright_box_image(h: int, w: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    img = torch.zeros(1, 1, h, w)
    x0, y0, x1, y1 = box
    img[0, 0, y0:y1, x0:x1] = 1.0
    return img


def _bright_extent(img: torch.Tensor) -> np.ndarray:
    ys, xs = np.nonzero(img[0, 0].numpy() > 0.5)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("angle,scale,shift", [(0, 1.0, (6, -4)), (0, 1.25, (0, 0)), (0, 0.8, (3, 5)),
                                               (20, 1.0, (0, 0)), (-15, 1.1, (4, 2))])
def test_warp_and_box_transform_agree_with_the_pixels(angle, scale, shift):
    h, w = 80, 60
    box = (20, 30, 36, 42)
    mats = L.affine_matrix([angle], [scale], [shift], (h, w))
    warped = L.warp_images(_bright_box_image(h, w, box), mats.float())
    moved = L.transform_boxes(torch.tensor([[box]], dtype=torch.float64), mats, "corners")[0, 0].numpy()
    np.testing.assert_allclose(_bright_extent(warped), moved, atol=1.01)  # one pixel of resampling
    centre = L.transform_boxes(torch.tensor([[box]], dtype=torch.float64), mats, "centre")[0, 0].numpy()
    np.testing.assert_allclose((centre[:2] + centre[2:]) / 2, (moved[:2] + moved[2:]) / 2, atol=1e-9)
    np.testing.assert_allclose(centre[2:] - centre[:2], scale * np.array([16, 12]), atol=1e-9)
    if angle == 0:  # without rotation both modes are the same exact map
        np.testing.assert_allclose(centre, moved, atol=1e-9)


def test_random_affines_are_seeded_and_bounded():
    aug = L.Augment(rotation_deg=5, scale=0.1, shift=0.05)
    a = L.random_affines(50, (64, 48), aug, torch.Generator().manual_seed(7))
    b = L.random_affines(50, (64, 48), aug, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    scale = torch.sqrt(torch.linalg.det(a[:, :2, :2]))
    assert bool(((scale >= 0.9 - 1e-9) & (scale <= 1.1 + 1e-9)).all())
    identity = L.random_affines(3, (64, 48), L.Augment(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(identity, torch.eye(3, dtype=torch.float64).expand(3, 3, 3))
    with pytest.raises(ValueError):
        L.Augment(scale=1.5)


# ----------------------------------------------------------------------------- HandSet, training, checkpoints


def synthetic_hands(n: int, size=(64, 48), seed: int = 0) -> L.HandSet:
    """Hands whose 21 'joints' are bright squares at a jittered layout: the regressor can learn it."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 7), np.linspace(0.2, 0.8, 3)), -1).reshape(-1, 2)
    images, boxes = [], []
    for _ in range(n):
        centre = base + rng.uniform(-0.06, 0.06, 2)
        b = np.concatenate([centre - 0.05, centre + 0.05], 1)
        img = np.zeros((h, w), np.uint8)
        for x0, y0, x1, y1 in (b * [w, h, w, h]).round().astype(int):
            img[y0:y1, x0:x1] = 200
        images.append(img)
        boxes.append(b.astype(np.float32))
    meta = pd.DataFrame({"patient_id": [f"p{i // 2}" for i in range(n)], "hand": ["left", "right"] * (n // 2),
                         "height": 400, "width": 300, "offset_x": 0, "mirrored": False, "radiograph_width": 600})
    return L.HandSet(torch.from_numpy(np.stack(images)[:, None]), torch.from_numpy(np.stack(boxes)), meta)


def test_handset_pixel_and_radiograph_boxes_undo_mirroring(tmp_path):
    hands = synthetic_hands(4)
    meta = hands.meta.copy()
    meta["mirrored"] = [False, True, False, True]
    meta["offset_x"] = [300, 0, 310, 0]
    hands = L.HandSet(hands.images, hands.boxes, meta)
    px = hands.pixel_boxes()
    np.testing.assert_allclose(px[0], hands.boxes[0].numpy() * [300, 400, 300, 400], rtol=1e-6)
    rad = hands.radiograph_boxes()
    got = rad[rad["patient_id"] == "p0"].set_index("hand").loc["right", list(L.BOX_COLUMNS)].to_numpy(float)
    np.testing.assert_allclose(got, mirror_boxes_x(px[1], 300), rtol=1e-6)
    got_left = rad[rad["patient_id"] == "p0"].set_index("hand").loc["left", list(L.BOX_COLUMNS)].to_numpy(float)
    np.testing.assert_allclose(got_left, px[0] + [300, 0, 300, 0], rtol=1e-6)
    back = L.HandSet.load(hands.save(tmp_path / "hands.npz"))
    assert torch.equal(back.images, hands.images) and torch.equal(back.boxes, hands.boxes)
    pd.testing.assert_frame_equal(back.meta, hands.meta, check_dtype=False)


def test_training_learns_is_deterministic_and_checkpoints_roundtrip(tmp_path):
    torch.set_num_threads(2)
    train, val = synthetic_hands(48, seed=1), synthetic_hands(12, seed=2)
    cfg = L.LocalizerConfig(backbone=TINY, input_size=(64, 48), hidden=64, epochs=4, switch_epoch=2,
                            batch_size=16, lr=3e-3, augment=L.Augment(3, 0.05, 0.02), seed=5)
    a = L.train_localizer(train, cfg, val, progress=False)
    b = L.train_localizer(train, cfg, val, progress=False)
    assert list(a.history["loss_kind"]) == ["mse", "mse", "diou", "diou"]
    pd.testing.assert_frame_equal(a.history.drop(columns="seconds"), b.history.drop(columns="seconds"))
    # the prior alone already puts most centres inside the (widened) boxes; training must not break that
    assert a.final["val_loc_accuracy"] >= 0.5
    path = L.save_localizer(tmp_path / "models" / "loc", a.model, cfg, extra={"note": "test"})
    assert path.suffix == ".safetensors" and (tmp_path / "models" / "loc.json").is_file()
    assert json.loads((tmp_path / "models" / "loc.json").read_text())["config"]["backbone"] == TINY
    model, cfg2, extra = L.load_localizer(tmp_path / "models" / "loc")
    assert cfg2 == cfg and extra == {"note": "test"}
    np.testing.assert_allclose(L.predict_boxes(model, val), L.predict_boxes(a.model, val), atol=1e-6)
    assert not list((tmp_path / "models").glob(".*"))  # no temp files left behind
    with pytest.raises(FileNotFoundError):
        L.load_localizer(tmp_path / "nothing")


def test_config_from_profile_and_json_roundtrip():
    from rheumabook.profiles import FULL, QUICK

    for prof in (QUICK, FULL):
        cfg = L.LocalizerConfig.from_profile(prof)
        assert cfg.backbone == prof.loc_backbone and cfg.input_size == tuple(prof.loc_input_size)
        assert L.LocalizerConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    assert L.LocalizerConfig.from_profile(FULL).switch_epoch == 50
    with pytest.raises(ValueError, match="loss"):
        L.LocalizerConfig(backbone=TINY, input_size=(64, 48), loss="l1")


def test_split_patients_is_seeded_and_disjoint():
    ids = [f"p{i}" for i in range(20)]
    tr, te = L.split_patients(ids, 0.2, 3)
    assert len(te) == 4 and not set(tr) & set(te) and sorted(tr + te) == sorted(ids)
    assert L.split_patients(ids, 0.2, 3) == (tr, te)


# ----------------------------------------------------------------------------- hands from phantom radiographs


def test_hands_of_radiograph_mirrors_the_right_hand_and_boxes_map_back():
    from rheumabook import phantom

    rad = phantom.render(3, size=400)
    hands = L.hands_of_radiograph(rad.image, rad.boxes, (80, 64))
    assert [h[0] for h in hands] == ["left", "right"]
    for hand, img, norm, meta in hands:
        assert img.shape == (80, 64) and img.dtype == np.uint8 and norm.shape == (len(JOINTS), 4)
        assert (norm >= -1e-6).all() and (norm <= 1 + 1e-6).all()
        # in left-hand orientation the thumb (IP) lies on the image's left of the little finger (DIP5),
        # as on the patient's left hand of a PA radiograph (the image's right half, thumb towards the middle)
        assert (norm[JOINTS.index("IP"), 0] + norm[JOINTS.index("IP"), 2]) < (norm[JOINTS.index("DIP5"), 0] + norm[JOINTS.index("DIP5"), 2])
    assert hands[1][3]["mirrored"] and not hands[0][3]["mirrored"]
    meta = pd.DataFrame([{"patient_id": "p", **h[3]} for h in hands])
    hs = L.HandSet(torch.from_numpy(np.stack([h[1] for h in hands])[:, None]),
                   torch.from_numpy(np.stack([h[2] for h in hands])), meta)
    back = hs.radiograph_boxes()
    expected = rad.boxes.sort_values(["hand", "joint"]).reset_index(drop=True)
    got = back.sort_values(["hand", "joint"]).reset_index(drop=True)
    np.testing.assert_allclose(got[list(L.BOX_COLUMNS)].to_numpy(), expected[list(L.BOX_COLUMNS)].to_numpy(), atol=1e-3)


def test_localization_data_splits_patients_adds_extra_phantom_hands_and_caches(tmp_path):
    from rheumabook import data
    from rheumabook.profiles import QUICK

    root = data.write_phantom_dataset(tmp_path / "ds", 5, 0, size=400, progress=False)
    ds = data.load_dataset(root)
    prof = QUICK.replace(loc_input_size=(64, 48), loc_train_hands=12, loc_render_size=300)
    a = L.localization_data(ds, prof, seed=0, cache_dir=tmp_path / "cache", progress=False)
    assert len(a.test_patients) == 1 and not set(a.train_patients) & set(a.test_patients)
    assert set(a.test.meta["patient_id"]) == set(a.test_patients)
    assert a.n_extra_radiographs == 2 and len(a.train) == 8 + 4
    assert not set(a.train.meta["patient_id"]) & set(a.test_patients)
    b = L.localization_data(ds, prof, seed=0, cache_dir=tmp_path / "cache", progress=False)  # from the cache
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.boxes, b.test.boxes)
    assert len(list((tmp_path / "cache").glob("hands-*.npz"))) == 3


def test_ablation_variants_name_the_paper_rows():
    v = L.ablation_variants(("effnet_like", "resnet_like"))
    assert list(v["loss"]) == ["mse", "schedule", "schedule", "schedule"]
    assert list(v["coord_channels"]) == [False, False, True, True]
    assert set(v["paper_model"]) <= set(L.PAPER_TABLE2["paper_model"])
    with pytest.raises(ValueError):
        L.ablation_variants(("only_one",))
