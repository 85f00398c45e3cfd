"""Lesion geometry: the phantom's truth as polygons (`phantom.lesion_geometry`) and in crop pixels (`explain.lesions`).

The phantom checks read the rendered image (not the drawing code): bone removed by an erosion
darkens the pixels inside its polygons, a narrowed joint brightens its joint space, and nothing
changes outside the site's box. The crop checks compare the masks with what `crop_joints` cuts
from an image with the same polygons painted in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rheumabook import phantom
from rheumabook.explain import joint_region_masks, lesion_masks, polygons_in_crop, rasterise_polygons
from rheumabook.joints import HANDS, JOINTS, applies
from rheumabook.scoring.crops import crop_joints, crop_windows
from test_phantom import healthy_truth, with_grade  # the same healthy truth and one-site edits as the renderer's tests

BOX = ["x_min", "y_min", "x_max", "y_max"]


def polygons_of(table: pd.DataFrame, hand: str, joint: str, kind: str) -> list[np.ndarray]:
    row = table[(table["hand"] == hand) & (table["joint"] == joint) & (table["kind"] == kind)]
    assert len(row) == 1
    return row["polygons"].iloc[0]


# --------------------------------------------------------------------------- the phantom's geometry


def test_same_draws_as_render_and_nothing_rendered_changes():
    """lesion_geometry advances a generator exactly as render does; render's bytes do not depend on it."""
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    before = phantom.render(7, size=300)
    phantom.render(a, size=300)
    phantom.lesion_geometry(b, size=300)
    assert a.bit_generator.state == b.bit_generator.state
    after = phantom.render(7, size=300)
    assert np.array_equal(before.image, after.image) and before.boxes.equals(after.boxes)


def mixed_truth() -> pd.DataFrame:
    """Every erosion grade 0-5 and JSN grade 0-4 in turn over the sites."""
    t = healthy_truth()
    for kind, top in (("erosion", 5), ("jsn", 4)):
        scored = t[kind].notna().to_numpy()
        t.loc[scored, kind] = np.arange(scored.sum()) % (top + 1)
    return t


@pytest.mark.parametrize("seed, truth", [(0, None), (4, mixed_truth())])
def test_erosion_polygons_exactly_where_graded(seed, truth):
    rg = phantom.render(seed, size=400, truth=truth)
    table = phantom.lesion_geometry(seed, size=400, truth=truth)
    assert list(table.columns) == ["hand", "joint", "kind", "grade", "polygons"]
    expected = [(h, j, k) for h in HANDS for j in JOINTS for k in ("erosion", "jsn") if applies(j, k)]
    assert list(zip(table.hand, table.joint, table.kind)) == expected  # 37 per hand, fixed order
    truth = rg.truth.set_index(["hand", "joint"])
    for row in table.itertuples():
        assert row.grade == truth.loc[(row.hand, row.joint), row.kind]
        for p in row.polygons:
            assert p.ndim == 2 and p.shape[1] == 2 and len(p) >= 3 and np.isfinite(p).all()
    erosion = table[table.kind == "erosion"]
    n = erosion.polygons.map(len)
    assert ((n > 0) == (erosion.grade >= 1)).all()
    assert (erosion.grade >= 1).any() and (erosion.grade == 0).any()  # both cases occur in these films
    assert (table[table.kind == "jsn"].polygons.map(len) > 0).all()  # the joint space, at every grade


def test_lesions_lie_in_their_joint_region_of_the_crop():
    """Mapped into the site's crop, each lesion lies inside the box's region (wrist bites may poke out a little)."""
    for seed in (0, 2):
        rg = phantom.render(seed, size=600)
        truth = rg.truth.copy()
        truth["erosion"] = truth["erosion"].where(truth["erosion"].isna(), 3)
        for t in (rg.truth, truth):
            table = phantom.lesion_geometry(seed, size=600, truth=t)
            table = table[table.polygons.map(len) > 0]
            boxes = rg.boxes.set_index(["hand", "joint"]).loc[list(zip(table.hand, table.joint))].reset_index()
            masks = lesion_masks(list(table.polygons), boxes, size=96)
            region = joint_region_masks(96, 2.5, boxes[BOX].to_numpy(), list(boxes.hand))
            assert masks.sum(axis=(1, 2)).min() > 0
            inside = (masks & region).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
            wrist_erosion = ((table.joint == "wrist") & (table.kind == "erosion")).to_numpy()
            assert inside[~wrist_erosion].min() >= 0.97, table[~wrist_erosion][inside[~wrist_erosion] < 0.97]
            assert inside.min() >= 0.85


@pytest.mark.parametrize("joint, kind, grade", [("MCP3", "erosion", 3), ("PIP2", "erosion", 2),
                                                ("CMC1", "erosion", 2), ("ulna", "erosion", 2),
                                                ("wrist", "erosion", 2), ("MCP2", "jsn", 3), ("PIP4", "jsn", 2),
                                                ("CMC4", "jsn", 3)])
def test_rendered_lesion_is_inside_its_polygons(joint, kind, grade):
    """The same film with and without the lesion: the strong changes lie in (or within 3 px of) the polygons."""
    healthy = healthy_truth()
    damaged = with_grade(healthy, "left", joint, kind, grade)
    a = phantom.render(1, size=1024, truth=healthy, noise=0.0)
    b = phantom.render(1, size=1024, truth=damaged, noise=0.0)
    polys = polygons_of(phantom.lesion_geometry(1, size=1024, truth=damaged, noise=0.0), "left", joint, kind)
    assert polys
    diff = b.image.astype(float) - a.image.astype(float)
    mask = rasterise_polygons(polys, diff.shape)
    near = rasterise_polygons(polys, diff.shape, margin=3)
    x0, y0, x1, y1 = (int(v) for v in a.box("left", joint))
    box = np.zeros(diff.shape, bool)
    box[y0:y1, x0:x1] = True
    sign = -1.0 if kind == "erosion" else 1.0  # bone removed is darker; bone grown into the space brighter
    assert sign * diff[mask].mean() > 10.0
    assert abs(diff[box & ~near].mean()) < 1.0
    strong = np.abs(diff) > 8
    assert strong.sum() > 20 and (strong & near).sum() >= 0.98 * strong.sum()
    # and the polygons are no larger than the lesion: most of their pixels change (an erosion's outline
    # also reaches past the bone's margin, into soft tissue that stays as it was)
    assert (np.abs(diff[mask]) > 4).mean() >= (0.5 if kind == "erosion" else 0.75)
    # the healthy film's polygons are the same joint space (JSN) or none (erosion)
    healthy_polys = polygons_of(phantom.lesion_geometry(1, size=1024, truth=healthy), "left", joint, kind)
    if kind == "erosion":
        assert healthy_polys == []
    else:
        np.testing.assert_allclose(np.vstack(healthy_polys), np.vstack(polys))


def test_geometry_does_not_depend_on_size_but_scales_with_it():
    small = phantom.lesion_geometry(3, size=512)
    large = phantom.lesion_geometry(3, size=1024)
    for a, b in zip(small.polygons, large.polygons):
        for p, q in zip(a, b):
            np.testing.assert_allclose(2.0 * p, q, atol=1e-6)


def test_bad_arguments_are_refused_as_render_refuses_them():
    with pytest.raises(ValueError, match="size"):
        phantom.lesion_geometry(0, size=100)
    with pytest.raises(ValueError, match="unknown phantom option"):
        phantom.lesion_geometry(0, size=300, nosie=0.0)
    with pytest.raises(ValueError, match="seed"):
        phantom.lesion_geometry(-1, size=300)
    with pytest.raises(ValueError, match="dtype"):
        phantom.lesion_geometry(0, size=300, dtype=np.float32)


# --------------------------------------------------------------------------- crop pixels


def _square(x: float, y: float, half: float) -> np.ndarray:
    return np.array([[x - half, y - half], [x + half, y - half], [x + half, y + half], [x - half, y + half]])


def test_masks_follow_crop_joints_pixels():
    """A polygon painted into an image and cut by crop_joints lands where lesion_masks puts it (both hands)."""
    image = np.zeros((300, 400), np.uint8)
    poly = np.array([[170.3, 120.2], [196.8, 131.4], [188.1, 160.7], [160.9, 151.5]])
    painted = rasterise_polygons([poly], image.shape)
    image[painted] = 255
    box = np.array([[150.2, 110.7, 210.4, 170.1]])
    for hand in ("left", "right"):
        crop = crop_joints(image, box, factor=2.0, size=64, hands=hand)[0] > 127
        mask = lesion_masks([[poly]], box, factor=2.0, size=64, hands=hand)[0]
        iou = (crop & mask).sum() / (crop | mask).sum()
        assert iou > 0.85, (hand, iou)
    off = lesion_masks([[_square(20.0, 20.0, 5.0)]], box, factor=2.0, size=64)[0]
    assert not off.any()  # a polygon outside the window leaves the crop's mask empty


def test_shifting_the_box_moves_the_mask_by_the_same_crop_pixels():
    """Window side 60 px -> crop 120 px (scale 2): a box 5 px right and 3 px down moves the mask 10 px left, 6 up."""
    box = np.array([100.2, 80.3, 140.2, 120.3])  # side 40; area factor 2.25 -> window side 60
    assert crop_windows(box[None], 2.25)[0][2] - crop_windows(box[None], 2.25)[0][0] == 60
    poly = [np.array([[115.1, 95.4], [128.7, 99.9], [121.3, 112.2]]), _square(118.0, 102.0, 2.2)]
    here = lesion_masks([poly], box[None], factor=2.25, size=120)[0]
    there = lesion_masks([poly], (box + [5, 3, 5, 3])[None], factor=2.25, size=120)[0]
    assert here.sum() > 50
    assert np.array_equal(there[:-6, :-10], here[6:, 10:]) and there.sum() == here.sum()
    moved = polygons_in_crop(poly, box + [5, 3, 5, 3], factor=2.25, size=120)
    for p, q in zip(polygons_in_crop(poly, box, factor=2.25, size=120), moved):
        np.testing.assert_allclose(q, p - [10.0, 6.0])


def test_right_hand_mask_is_the_mirrored_left_one():
    rg = phantom.render(2, size=500)
    table = phantom.lesion_geometry(2, size=500)
    table = table[(table.hand == "right") & (table.polygons.map(len) > 0)]
    boxes = rg.boxes.set_index(["hand", "joint"]).loc[list(zip(table.hand, table.joint))].reset_index()
    mirrored = lesion_masks(list(table.polygons), boxes, size=48)  # the table's "hand" column: right
    plain = lesion_masks(list(table.polygons), boxes, size=48, mirror_right=False)
    assert mirrored.any() and np.array_equal(mirrored, plain[:, :, ::-1])
    assert not np.array_equal(mirrored, plain)
    polys = table.polygons.iloc[0]
    right = polygons_in_crop(polys, boxes[BOX].to_numpy()[0], size=48, hand="right")
    left = polygons_in_crop(polys, boxes[BOX].to_numpy()[0], size=48, hand="left")
    for p, q in zip(right, left):
        np.testing.assert_allclose(p[:, 0], 48 - q[:, 0])
        np.testing.assert_allclose(p[:, 1], q[:, 1])


def test_rasterise_centres_margin_and_thin_polygons():
    mask = rasterise_polygons([_square(5.0, 5.0, 2.0)], 10)  # centres 3.5 .. 6.5 lie in [3, 7]
    assert mask.sum() == 16 and mask[3:7, 3:7].all()
    grown = rasterise_polygons([_square(5.0, 5.0, 2.0)], 10, margin=1.0)
    assert grown.sum() == 16 + 4 * 4 and (grown >= mask).all()
    thin = rasterise_polygons([np.array([[2.1, 2.2], [2.3, 2.2], [2.2, 2.4]])], 10)  # covers no pixel centre
    assert thin.sum() == 1 and thin[2, 2]
    assert not rasterise_polygons([], (4, 6)).any() and rasterise_polygons([], (4, 6)).shape == (4, 6)


def test_crop_geometry_errors():
    box = np.array([[10.0, 10.0, 30.0, 30.0]])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        lesion_masks([[np.zeros((2, 2))]], box)
    with pytest.raises(ValueError, match="one polygon list per box"):
        lesion_masks([[], []], box)
    with pytest.raises(ValueError, match="margin"):
        lesion_masks([[]], box, margin=-1.0)
    with pytest.raises(ValueError, match="size"):
        rasterise_polygons([], 0)
    with pytest.raises(ValueError, match="list of"):
        rasterise_polygons(np.zeros((4, 2)), 10)
    with pytest.raises(ValueError, match="hand"):
        polygons_in_crop([_square(20.0, 20.0, 2.0)], box[0], hand="middle")
