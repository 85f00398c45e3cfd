"""Tests of rheumabook.boxes and rheumabook.losses: box conversion, IoU and DIoU against torchvision
and hand-computed cases, the uniform reduction and its empty-input guard."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.ops import box_area as tv_box_area
from torchvision.ops import box_iou, distance_box_iou_loss

from rheumabook.boxes import as_box_array, box_area, box_centers, check_paired, paired_iou
from rheumabook.losses import diou_loss, reduce_loss
from rheumabook.schema import BOX_COLUMNS


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
            ours = diou_loss(p, t, reduction=reduction)
            ref = distance_box_iou_loss(p, t, reduction=reduction)
            torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    # float32 too, with the same eps
    p32, t32 = pred.float(), target.float()
    torch.testing.assert_close(diou_loss(p32, t32, "none"), distance_box_iou_loss(p32, t32), atol=1e-6, rtol=0)


def test_diou_batched_shape_empty_input_and_errors():
    gen = torch.Generator().manual_seed(2)
    p, t = random_boxes(6, gen).view(2, 3, 4), random_boxes(6, gen).view(2, 3, 4)
    assert diou_loss(p, t, "none").shape == (2, 3)
    torch.testing.assert_close(diou_loss(p, t, "none").reshape(-1),
                               distance_box_iou_loss(p.reshape(-1, 4), t.reshape(-1, 4)), atol=1e-6, rtol=0)
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = diou_loss(empty, torch.zeros(0, 4), "mean")
    assert loss.item() == 0.0 and loss.requires_grad
    assert diou_loss(empty, torch.zeros(0, 4), "none").shape == (0,)
    with pytest.raises(ValueError, match="reduction"):
        diou_loss(p, t, "avg")
    with pytest.raises(ValueError, match="shape"):
        diou_loss(p, t[:, :2])


def test_diou_hand_computed_and_gradient_for_inverted_boxes():
    # two unit squares side by side: IoU 0, centres 1 apart, enclosing box 2 x 1 -> c^2 = 5
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[1.0, 0.0, 2.0, 1.0]])
    assert diou_loss(a, b).item() == pytest.approx(1 + 1 / 5, abs=1e-6)
    # an inverted prediction (x_max < x_min) is empty but still pulled towards the target
    inv = torch.tensor([[3.0, 3.0, 2.0, 2.0]], requires_grad=True)
    loss = diou_loss(inv, a)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 1
    assert inv.grad.abs().sum() > 0


def test_paired_iou_hand_computed_and_against_torchvision():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 9], [3, 3, 1, 1]], float)
    target = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [5, 5, 5, 9], [0, 0, 4, 4]], float)
    # identical 1; half-overlap 50/150; disjoint 0; two empty boxes 0 (not NaN); inverted = empty -> 0
    np.testing.assert_allclose(paired_iou(pred, target), [1.0, 1 / 3, 0.0, 0.0, 0.0])
    gen = torch.Generator().manual_seed(3)
    p, t = random_boxes(200, gen), random_boxes(200, gen)
    np.testing.assert_allclose(paired_iou(p, t), torch.diag(box_iou(p, t)).numpy(), atol=1e-12)


def test_as_box_array_from_frames_arrays_tensors_and_empties():
    frame = pd.DataFrame([[1, 2, 3, 4, "MCP1"], [5, 6, 7, 8, "MCP2"]], columns=[*BOX_COLUMNS, "joint"])
    arr = as_box_array(frame)
    np.testing.assert_array_equal(arr, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert arr.dtype == np.float64 and arr.flags.writeable
    arr[0, 0] = 99  # a copy: the frame is untouched
    assert frame.loc[0, "x_min"] == 1
    np.testing.assert_array_equal(as_box_array([1, 2, 3, 4]), [[1, 2, 3, 4]])
    np.testing.assert_array_equal(as_box_array(torch.tensor([[1.0, 2, 3, 4]])), [[1, 2, 3, 4]])
    for empty in ([], np.zeros((0, 4)), frame.iloc[:0]):
        assert as_box_array(empty).shape == (0, 4)
    batched = np.zeros((3, 21, 4))
    assert as_box_array(batched, batched=True).shape == (3, 21, 4)
    with pytest.raises(ValueError, match="lacks columns"):
        as_box_array(frame.drop(columns="y_max"))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        as_box_array(batched)
    with pytest.raises(ValueError, match="my boxes"):
        as_box_array(np.zeros((2, 3)), name="my boxes", batched=True)


def test_area_centres_and_pairing_checks():
    gen = torch.Generator().manual_seed(5)
    b = random_boxes(50, gen)
    torch.testing.assert_close(box_area(b), tv_box_area(b))
    assert box_area(torch.tensor([[3.0, 3.0, 1.0, 5.0]])).item() == 0.0  # inverted: empty, not negative
    np.testing.assert_array_equal(box_centers(np.array([[0.0, 2.0, 4.0, 6.0]])), [[2.0, 4.0]])
    check_paired(b, b, "ok")
    with pytest.raises(ValueError, match="what"):
        check_paired(b, b[:3], "what")


def test_reduce_loss_is_uniform():
    v = torch.tensor([1.0, 2.0, 3.0])
    assert reduce_loss(v, "sum").item() == 6.0 and reduce_loss(v, "mean").item() == 2.0
    assert reduce_loss(v, "none") is v
    assert reduce_loss(torch.zeros(0), "mean").item() == 0.0
    with pytest.raises(ValueError, match="reduction"):
        reduce_loss(v, "max")
