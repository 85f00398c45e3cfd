"""Tests of rheumabook.scoring: joint crops, smoothed targets, the focal loss, the scoring model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from rheumabook.joints import mirror_boxes_x
from rheumabook.scoring import (MISSING, ScoringModel, crop_joints, crop_windows, draw_factors, focal_loss,
                                idx_pool, smoothed_targets)

# ---------------------------------------------------------------------------- smoothed targets


def test_smoothed_targets_hand_computed():
    t = smoothed_targets([0, 2, 4], num_classes=5, p=0.4)
    expected = torch.tensor([[0.8, 0.2, 0.0, 0.0, 0.0],   # end grade: 1 - p/2, one neighbour p/2
                             [0.0, 0.2, 0.6, 0.2, 0.0],   # interior: 1 - p, both neighbours p/2
                             [0.0, 0.0, 0.0, 0.2, 0.8]])
    torch.testing.assert_close(t, expected)
    torch.testing.assert_close(smoothed_targets([1], 6, p=0.1), torch.tensor([[0.05, 0.9, 0.05, 0, 0, 0]]))
    torch.testing.assert_close(smoothed_targets([1], 2, p=0.4), torch.tensor([[0.2, 0.8]]))
    exact = smoothed_targets([0, 3], 5, p=0.3, dtype=torch.float64)
    assert exact.dtype == torch.float64 and exact[0, 0].item() == 1 - 0.3 / 2 and exact[1, 2].item() == 0.3 / 2


def test_smoothed_targets_rows_sum_to_one_and_missing_rows_are_zero():
    labels = torch.tensor([[0, 1, 2], [3, 4, 5], [MISSING, 5, 0]])
    t = smoothed_targets(labels, 6, p=0.4)
    assert t.shape == (3, 3, 6)
    present = labels != MISSING
    torch.testing.assert_close(t.sum(-1)[present], torch.ones(int(present.sum())))
    assert t[2, 0].abs().sum() == 0
    # p = 0: one-hot; NaN in a float array (pandas' missing value) = missing.
    torch.testing.assert_close(smoothed_targets(np.array([2.0, np.nan]), 4, p=0.0),
                               torch.tensor([[0.0, 0, 1, 0], [0, 0, 0, 0]]))


@pytest.mark.parametrize("labels, num_classes, p, match", [
    ([5], 5, 0.4, "0..4"), ([-2], 5, 0.4, "0..4"), ([1.5], 5, 0.4, "whole grades"),
    ([1], 1, 0.4, "num_classes"), ([1], 5, 1.0, "0 <= p < 1"), ([1], 5, -0.1, "0 <= p < 1"),
    (torch.tensor([True]), 5, 0.4, "integer"),
])
def test_smoothed_targets_errors(labels, num_classes, p, match):
    with pytest.raises(ValueError, match=match):
        smoothed_targets(labels, num_classes, p)


# ---------------------------------------------------------------------------- focal loss


def test_focal_loss_hand_computed():
    # Uniform logits over 3 classes: q_c = 1/3; label 0 -> t = (0.8, 0.2, 0).
    # L = -sum_c t_c (1 - 1/3)^2 log(1/3) = (4/9) log 3.
    zeros = torch.zeros(1, 3)
    assert focal_loss(zeros, [0], 3).item() == pytest.approx(4 / 9 * math.log(3), rel=1e-6)
    assert focal_loss(zeros, [0], 3, gamma=0.0).item() == pytest.approx(math.log(3), rel=1e-6)
    assert focal_loss(zeros, [0], 3, alpha=2.0).item() == pytest.approx(8 / 9 * math.log(3), rel=1e-6)
    # Two classes, q = (0.25, 0.75), label 1 -> t = (0.2, 0.8):
    # L = -(0.2 * 0.75^2 * log 0.25 + 0.8 * 0.25^2 * log 0.75) = 0.170342...
    logits = torch.log(torch.tensor([[1.0, 3.0]]))
    expected = -(0.2 * 0.75 ** 2 * math.log(0.25) + 0.8 * 0.25 ** 2 * math.log(0.75))
    assert focal_loss(logits, [1], 2).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.170342, abs=1e-6)


def test_focal_loss_reductions():
    logits = torch.log(torch.tensor([[1.0, 3.0], [1.0, 1.0]]))
    per_site = focal_loss(logits, [1, 0], 2, reduction="none")
    assert per_site.shape == (2,)
    assert per_site[1].item() == pytest.approx(0.25 * math.log(2), rel=1e-6)  # t = (0.8, 0.2), q = 1/2
    torch.testing.assert_close(focal_loss(logits, [1, 0], 2, reduction="sum"), per_site.sum())
    torch.testing.assert_close(focal_loss(logits, [1, 0], 2), per_site.mean())


def test_focal_loss_without_smoothing_and_focusing_is_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 6, generator=gen) * 3
    labels = torch.randint(0, 6, (64,), generator=gen)
    torch.testing.assert_close(focal_loss(logits, labels, 6, p=0.0, gamma=0.0), F.cross_entropy(logits, labels))
    # gamma = 0 with smoothing: cross-entropy against the soft (probability) targets.
    soft = smoothed_targets(labels, 6, p=0.4)
    torch.testing.assert_close(focal_loss(logits, labels, 6, p=0.4, gamma=0.0), F.cross_entropy(logits, soft))
    # Missing sites: cross_entropy's ignore_index averages over the present ones, as focal_loss does.
    labels[::3] = MISSING
    torch.testing.assert_close(focal_loss(logits, labels, 6, p=0.0, gamma=0.0),
                               F.cross_entropy(logits, labels, ignore_index=MISSING))


def _brute_force_focal(logits: torch.Tensor, labels: list[int], num_classes: int, p: float, gamma: float,
                       alpha: float) -> float:
    """An independent, loop-by-loop reference written from the paper's definitions (no shared code)."""
    total, count = 0.0, 0
    for row, y in zip(logits.tolist(), labels):
        if y < 0:
            continue
        exps = [math.exp(v - max(row)) for v in row]
        q = [e / sum(exps) for e in exps]
        for c in range(num_classes):
            if c == y:
                t = 1 - p / 2 if y in (0, num_classes - 1) else 1 - p
            elif abs(c - y) == 1:
                t = p / 2
            else:
                t = 0.0
            total += -alpha * t * (1 - q[c]) ** gamma * math.log(q[c])
        count += 1
    return total / count


@pytest.mark.parametrize("num_classes, p, gamma, alpha", [(6, 0.4, 2.0, 1.0), (5, 0.2, 0.5, 0.25), (5, 0.0, 3.0, 1.0)])
def test_focal_loss_matches_brute_force_reference(num_classes, p, gamma, alpha):
    gen = torch.Generator().manual_seed(num_classes)
    logits = torch.randn(20, num_classes, generator=gen, dtype=torch.float64) * 2
    labels = torch.randint(0, num_classes, (20,), generator=gen).tolist()
    labels[3] = labels[7] = MISSING
    got = focal_loss(logits, labels, num_classes, p=p, gamma=gamma, alpha=alpha).item()
    # float64 logits are computed in float64: the two must agree to ~1e-12, not just float32's 1e-6.
    assert got == pytest.approx(_brute_force_focal(logits, labels, num_classes, p, gamma, alpha), rel=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 2.0, 3.5])
def test_focal_loss_matches_monai_softmax_focal_loss_with_soft_targets(gamma):
    monai_losses = pytest.importorskip("monai.losses", reason="MONAI is the test-only independent implementation")
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 6, generator=gen) * 2
    labels = torch.randint(0, 6, (32,), generator=gen)
    soft = smoothed_targets(labels, 6, p=0.4)
    # MONAI's softmax focal loss, element-wise: -(1 - q_c)^gamma t_c log q_c, shape (N, C).
    reference = monai_losses.FocalLoss(use_softmax=True, gamma=gamma, reduction="none")(logits, soft)
    torch.testing.assert_close(focal_loss(logits, labels, 6, p=0.4, gamma=gamma), reference.sum(dim=1).mean())


def test_focal_loss_gradients_flow():
    logits = (torch.randn(16, 5, generator=torch.Generator().manual_seed(2)) * 4).requires_grad_()
    labels = torch.arange(16) % 5
    focal_loss(logits, labels, 5).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad.abs().sum(dim=1) > 0).all()  # every scored site pulls on its logits
    # Confident and right: the focal factor silences it far more than cross-entropy would.
    confident = torch.tensor([[20.0, 0, 0, 0, 0]], requires_grad=True)
    focal_loss(confident, [0], 5, p=0.0).backward()
    assert torch.isfinite(confident.grad).all()


def test_masked_sites_drop_out_of_the_loss():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(10, 6, generator=gen)
    labels = torch.randint(0, 6, (10,), generator=gen)
    labels[[2, 5]] = MISSING
    loss = focal_loss(logits, labels, 6)
    changed = logits.clone()
    changed[[2, 5]] = torch.tensor([50.0, -50, 3, 0, 7, -9])
    torch.testing.assert_close(focal_loss(changed, labels, 6), loss)  # a masked logit changes nothing
    keep = labels != MISSING
    torch.testing.assert_close(loss, focal_loss(logits[keep], labels[keep], 6))  # not diluted by the masked
    # The mask argument does the same as label -1.
    full = torch.randint(0, 6, (10,), generator=gen)
    torch.testing.assert_close(focal_loss(logits, full, 6, mask=full != full[0]),
                               focal_loss(logits[full != full[0]], full[full != full[0]], 6))
    per_site = focal_loss(changed.requires_grad_(), labels, 6, reduction="none")
    assert per_site[[2, 5]].abs().sum() == 0
    per_site.sum().backward()
    assert changed.grad[[2, 5]].abs().sum() == 0 and changed.grad[keep].abs().sum() > 0


def test_all_masked_gives_zero_loss_that_still_backpropagates():
    logits = torch.randn(4, 5, requires_grad=True)
    loss = focal_loss(logits, [MISSING] * 4, 5)
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(logits=torch.zeros(2, 4)), r"shape \(N, 5\)"), (dict(logits=torch.zeros(2, 5, 1)), "shape"),
    (dict(logits=torch.zeros(2, 5, dtype=torch.long)), "float tensor"), (dict(labels=[0]), r"shape \(2,\)"),
    (dict(gamma=-1.0), "gamma"), (dict(alpha=0.0), "alpha"), (dict(reduction="avg"), "reduction"),
    (dict(mask=torch.ones(2)), "bool"), (dict(mask=torch.ones(3, dtype=torch.bool)), "mask must have"),
    (dict(labels=[0, 5]), "0..4"),
])
def test_focal_loss_errors(kwargs, match):
    args = dict(logits=torch.zeros(2, 5), labels=[0, 1], num_classes=5) | kwargs
    with pytest.raises(ValueError, match=match):
        focal_loss(**args)


# ---------------------------------------------------------------------------- crops


def _planted(height=200, width=300, box=(100, 50, 120, 70), value=255, dtype=np.uint8) -> np.ndarray:
    image = np.zeros((height, width), dtype=dtype)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = value
    return image


def test_crop_windows_use_the_area_reading():
    boxes = np.array([[100, 50, 120, 70], [0, 0, 10, 20]], dtype=float)
    windows = crop_windows(boxes, np.array([2.25, 4.0]))
    # Area factor 2.25 -> side x 1.5: 20 -> 30 about the centre (110, 60).
    np.testing.assert_array_equal(windows[0], [95, 45, 125, 75])
    # A 10 x 20 box is squared to 20 x 20 first, then x sqrt(4) = 2: side 40 about (5, 10).
    np.testing.assert_array_equal(windows[1], [-15, -10, 25, 30])
    side = windows[:, 2] - windows[:, 0]
    np.testing.assert_allclose(side ** 2 / np.array([20 * 20, 20 * 20]), [2.25, 4.0])


def test_planted_square_lands_in_the_crop_centre():
    image = _planted()
    crop = crop_joints(image, [[100, 50, 120, 70]], factor=4.0, size=40)[0]  # window 40 px: no resampling
    assert crop.dtype == np.uint8 and crop.shape == (40, 40)
    assert (crop[10:30, 10:30] == 255).all()
    assert crop.sum() == 255 * 20 * 20
    big = crop_joints(image, [[100, 50, 120, 70]], factor=4.0, size=224)[0]  # enlarged: centre still bright
    ys, xs = np.nonzero(big > 127)
    assert abs(ys.mean() - 111.5) < 1.5 and abs(xs.mean() - 111.5) < 1.5
    assert (big[100:124, 100:124] == 255).all() and big[:40].max() == 0


def test_border_is_zero_padded_and_dtype_kept():
    image = np.full((50, 60), 1000, dtype=np.uint16)
    crop = crop_joints(image, [[0, 0, 10, 10]], factor=4.0, size=20)[0]  # window (-5, -5, 15, 15)
    assert crop.dtype == np.uint16
    assert (crop[:5] == 0).all() and (crop[:, :5] == 0).all()
    assert (crop[5:, 5:] == 1000).all()
    far = crop_joints(image.astype(np.float32), [[55, 45, 60, 50]], factor=9.0, size=15)[0]  # window (50, 40, 65, 55)
    assert far.dtype == np.float32
    assert (far[:10, :10] == 1000).all() and (far[10:] == 0).all() and (far[:, 10:] == 0).all()


def test_right_hand_crops_are_mirrored_into_left_orientation():
    image = _planted(box=(100, 50, 120, 70))
    image[55:65, 100:104] = 128  # an asymmetric mark on the box's left edge
    box = [[100, 50, 120, 70]]
    left = crop_joints(image, box, factor=2.25, size=30, hands="left")[0]
    right = crop_joints(image, box, factor=2.25, size=30, hands="right")[0]
    np.testing.assert_array_equal(right, left[:, ::-1])
    assert (left[10:20, 5:9] == 128).all() and (right[10:20, 21:25] == 128).all()
    # The same as mirroring the whole radiograph and its box (joints.mirror_boxes_x), then cropping.
    mirrored = crop_joints(np.ascontiguousarray(image[:, ::-1]), mirror_boxes_x(np.array(box), image.shape[1]),
                           factor=2.25, size=30, hands="left")[0]
    np.testing.assert_array_equal(right, mirrored)
    # The table's "hand" column is used when `hands` is not given; mirror_right=False keeps the orientation.
    table = pd.DataFrame({"hand": ["left", "right"], "joint": ["MCP2", "MCP2"], "x_min": [100, 100],
                          "y_min": [50, 50], "x_max": [120, 120], "y_max": [70, 70]})
    both = crop_joints(image, table, factor=2.25, size=30)
    np.testing.assert_array_equal(both[0], left)
    np.testing.assert_array_equal(both[1], right)
    np.testing.assert_array_equal(crop_joints(image, table, factor=2.25, size=30, mirror_right=False)[1], left)


def test_random_factors_are_reproducible_and_average_2_5():
    image = (np.random.default_rng(0).random((300, 300)) * 255).astype(np.uint8)
    boxes = np.array([[100, 100, 140, 130]] * 8, dtype=float)
    a = crop_joints(image, boxes, factor=(1.0, 4.0), size=32, rng=7)
    b = crop_joints(image, boxes, factor=(1.0, 4.0), size=32, rng=np.random.default_rng(7))
    c = crop_joints(image, boxes, factor=(1.0, 4.0), size=32, rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    factors = draw_factors(100_000, (1.0, 4.0), rng=0)
    assert factors.min() >= 1.0 and factors.max() < 4.0 and factors.mean() == pytest.approx(2.5, abs=0.01)
    np.testing.assert_array_equal(draw_factors(3, 2.5), [2.5, 2.5, 2.5])


def test_shifted_crops_move_the_planted_square_by_the_drawn_offset():
    from rheumabook.scoring.crops import shifted_boxes

    boxes = np.array([[100, 50, 120, 70]] * 4000, dtype=float)  # side 20
    moved = shifted_boxes(boxes, 0.25, 3)
    dx, dy = moved[:, 0] - boxes[:, 0], moved[:, 1] - boxes[:, 1]
    np.testing.assert_allclose(moved[:, 2] - moved[:, 0], 20)  # moved, not resized
    assert np.std(dx) == pytest.approx(0.25 * 20, rel=0.05) and np.std(dy) == pytest.approx(5, rel=0.05)
    assert abs(np.mean(dx)) < 0.3 and abs(np.corrcoef(dx, dy)[0, 1]) < 0.05
    np.testing.assert_array_equal(shifted_boxes(boxes[:2], 0.0, None), boxes[:2])  # off: unchanged, no rng needed
    # one crop: the window moves by the drawn offset, so the planted square moves the other way in the crop
    image = _planted()
    plain = crop_joints(image, [[100, 50, 120, 70]], factor=4.0, size=40)[0]
    gen = np.random.default_rng(11)
    draw_factors(1, 4.0, gen)  # the factors come first (a fixed factor draws nothing)
    offset = shifted_boxes(np.array([[100, 50, 120, 70]], float), 0.1, gen)[0] - [100, 50, 120, 70]
    shifted = crop_joints(image, [[100, 50, 120, 70]], factor=4.0, size=40, rng=11, shift=0.1)[0]
    ys, xs = np.nonzero(shifted == 255)
    y0, x0 = np.nonzero(plain == 255)
    assert xs.mean() - x0.mean() == pytest.approx(-offset[0], abs=0.51)
    assert ys.mean() - y0.mean() == pytest.approx(-offset[1], abs=0.51)
    with pytest.raises(ValueError, match="rng"):
        crop_joints(image, [[100, 50, 120, 70]], factor=4.0, size=40, shift=0.1)
    with pytest.raises(ValueError, match="shift"):
        shifted_boxes(boxes, -0.1, 0)


def test_crop_joints_empty_input_gives_empty_stack():
    out = crop_joints(np.zeros((10, 10), np.uint8), np.zeros((0, 4)), size=16)
    assert out.shape == (0, 16, 16) and out.dtype == np.uint8


@pytest.mark.parametrize("image, boxes, kwargs, match", [
    (np.zeros((10, 10, 3), np.uint8), [[1, 1, 5, 5]], {}, "2-D"),
    (np.zeros((10, 10), bool), [[1, 1, 5, 5]], {}, "dtype"),
    (np.zeros((10, 10), np.int32), [[1, 1, 5, 5]], {}, "dtype"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5]], {}, r"\(N, 4\)"),
    (np.zeros((10, 10), np.uint8), [[5, 1, 5, 5]], {}, "empty"),
    (np.zeros((10, 10), np.uint8), [[1, 1, np.nan, 5]], {}, "missing"),
    (np.zeros((10, 10), np.uint8), [[20, 20, 30, 30]], {}, "outside"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(factor=(1.0, 4.0)), "rng"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(factor=(4.0, 1.0), rng=0), "low <= high"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(factor=0.0), "> 0"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(size=0), "size"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(hands=["left", "right"]), "one per box"),
    (np.zeros((10, 10), np.uint8), [[1, 1, 5, 5]], dict(hands="up"), "unknown hand"),
    (np.zeros((10, 10), np.uint8), pd.DataFrame({"x_min": [1]}), {}, "lacks the columns"),
])
def test_crop_joints_errors(image, boxes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        crop_joints(image, boxes, **kwargs)


# ---------------------------------------------------------------------------- model


@pytest.mark.parametrize("layout, shape, index", [
    ("NCHW", (2, 8, 3, 4), (slice(None), slice(None), 0, 0)),
    ("NHWC", (2, 3, 4, 8), (slice(None), 0, 0, slice(None))),
    ("NLC", (2, 5, 8), (slice(None), 0, slice(None))),
])
def test_idx_pool_picks_the_top_left_vector(layout, shape, index):
    features = torch.randn(shape)
    planted = torch.arange(16.0).reshape(2, 8) + 100
    features[index] = planted
    torch.testing.assert_close(idx_pool(features, layout), planted)
    with pytest.raises(ValueError, match="-D"):
        idx_pool(features[..., 0], layout)


@pytest.mark.parametrize("backbone, layout", [("tiny_vit_5m_224", "NCHW"), ("test_vit", "NLC")])
def test_model_head_sees_exactly_the_planted_top_left_vector(backbone, layout):
    torch.manual_seed(0)
    model = ScoringModel(backbone, img_size=64).eval()
    assert model.feature_layout == layout
    channels = model.head[0].in_features
    planted = torch.linspace(-3, 3, channels)

    def plant(module, inputs, output):  # the backbone's output, top-left position overwritten
        output = output.clone()
        if layout == "NCHW":
            output[:, :, 0, 0] = planted
            output[:, :, 1:, :] = output[:, :, :, 1:] = float("nan")  # any other position would poison the head
        else:
            output[:, 0] = planted
            output[:, 1:] = float("nan")
        return output

    seen = []
    model.backbone.register_forward_hook(plant)
    model.head[0].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        logits = model(torch.randn(3, 1, 64, 64))
    torch.testing.assert_close(seen[0], planted.expand(3, -1))
    assert torch.isfinite(logits).all()


def test_model_shapes_kinds_and_split():
    shared = ScoringModel("test_vit", img_size=64)
    logits = shared(torch.randn(4, 1, 64, 64))
    assert logits.shape == (4, 11) and shared.num_logits == 11
    parts = shared.split_logits(logits)
    assert list(parts) == ["erosion", "jsn"] and parts["erosion"].shape == (4, 6) and parts["jsn"].shape == (4, 5)
    torch.testing.assert_close(torch.cat([parts["erosion"], parts["jsn"]], 1), logits)
    jsn = ScoringModel("test_vit", img_size=64, kinds="jsn")
    assert jsn(torch.randn(2, 1, 64, 64)).shape == (2, 5) and list(jsn.split_logits(torch.zeros(2, 5))) == ["jsn"]
    assert ScoringModel("test_vit", img_size=64, kinds=("jsn", "erosion")).kinds == ("erosion", "jsn")
    head = shared.head
    assert [type(m).__name__ for m in head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert head[0].out_features == 512
    with pytest.raises(ValueError, match="crops must have shape"):
        shared(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="logits must have shape"):
        shared.split_logits(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="kinds"):
        ScoringModel("test_vit", img_size=64, kinds=("erosion", "sharp"))
    with pytest.raises(ValueError, match="unknown timm backbone"):
        ScoringModel("no_such_backbone_xyz", img_size=64)


def test_model_trains_end_to_end_with_the_focal_loss():
    torch.manual_seed(0)
    model = ScoringModel("test_efficientnet", img_size=64)
    crops = torch.randn(8, 1, 64, 64)
    parts = model.split_logits(model(crops))
    erosion = torch.tensor([0, 1, 2, 3, 4, 5, MISSING, 0])
    jsn = torch.tensor([0, 1, 2, 3, 4, MISSING, 1, 2])
    loss = focal_loss(parts["erosion"], erosion, 6) + focal_loss(parts["jsn"], jsn, 5)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.head[0].weight.grad.abs().sum() > 0
    assert next(model.backbone.parameters()).grad.abs().sum() > 0


def test_frozen_backbone_gets_no_gradient_and_stays_in_eval_mode():
    model = ScoringModel("test_efficientnet", img_size=64)
    model.freeze_backbone()
    model.train()
    assert not model.backbone.training and model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    model(torch.randn(4, 1, 64, 64)).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters()) and model.head[0].weight.grad is not None
    model.freeze_backbone(False)
    model.train()
    assert model.backbone.training and all(p.requires_grad for p in model.backbone.parameters())


def test_backbone_weights_load_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = ScoringModel("test_vit", img_size=64).eval()
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in source.backbone.state_dict().items()}, str(path))
    loaded = ScoringModel("test_vit", img_size=64, weights_path=path).eval()
    crops = torch.randn(2, 1, 64, 64)
    torch.testing.assert_close(loaded.forward_features(crops), source.forward_features(crops))
    with pytest.raises(ValueError, match="do not fit"):
        ScoringModel("test_efficientnet", img_size=64, weights_path=path)
    with pytest.raises(ValueError, match="does not exist"):
        ScoringModel("test_vit", img_size=64, weights_path=tmp_path / "missing.safetensors")


# ---------------------------------------------------------------------------- profile


def test_scoring_config_round_trip_and_validation():
    from rheumabook.profiles import FULL, QUICK, ScoringConfig

    for config in (QUICK.scoring, FULL.scoring, ScoringConfig(shared=False)):
        assert ScoringConfig.from_json(config.to_json()) == config
    assert FULL.scoring.backbone == "tiny_vit_5m_224" and FULL.scoring.crop_size == 224
    assert FULL.scoring.backbone_kwargs == {}  # the paper's TinyViT-5M, not the CPU profile's cut-down one
    assert (FULL.scoring.frozen_epochs, FULL.scoring.unfrozen_epochs) == (50, 100)  # paper §3.4
    assert (FULL.scoring.frozen_lr, FULL.scoring.unfrozen_lr, FULL.scoring.batch_size) == (1e-3, 5e-5, 32)
    assert (FULL.scoring.eval_factor, FULL.scoring.train_factor, FULL.scoring.smoothing) == (2.5, (1.0, 4.0), 0.4)
    assert ScoringConfig(shared=False).kinds == (("erosion",), ("jsn",))
    with pytest.raises(ValueError, match="unknown scoring config keys"):
        ScoringConfig.from_json({"backbone": "resnet18", "epochs": 3})
    for bad in (dict(schedule="step"), dict(train_factor=(4.0, 1.0)), dict(smoothing=1.0), dict(crop_size=8),
                dict(frozen_epochs=0, unfrozen_epochs=0)):
        with pytest.raises(ValueError):
            ScoringConfig(**bad)


def test_quick_profile_model_builds_at_its_crop_size():
    from rheumabook.profiles import QUICK

    config = QUICK.scoring
    model = ScoringModel(config.backbone, img_size=config.crop_size, backbone_kwargs=config.backbone_kwargs,
                         hidden=config.hidden).eval()
    features = model.forward_features(torch.zeros(2, 1, config.crop_size, config.crop_size))
    assert model.feature_layout == "NCHW" and features.shape[2:] == (config.crop_size // 32,) * 2
    assert model(torch.zeros(2, 1, config.crop_size, config.crop_size)).shape == (2, 11)
