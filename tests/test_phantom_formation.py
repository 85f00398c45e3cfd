"""Tests of the phantom's 2.5-D image formation (issue 9): path lengths, boxes on their joints, damage, polarity.

The geometry is checked through the path-length maps `phantom.formation_stages` returns, against
literal anatomical figures (hand-anatomy.md) and against the joint metadata of the radiograph, never
against the code that drew them; damage is checked by rendering one seed with and without it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from rheumabook import phantom
from rheumabook.data import uniform_truth
from rheumabook.joints import HANDS, JOINTS, applies

FINGER_LEVELS = ("MCP", "PIP", "DIP", "IP", "CMC")


def healthy_truth() -> pd.DataFrame:
    """Every applicable grade 0 (<NA> where a score does not apply)."""
    return uniform_truth(erosion=0, jsn=0)


def with_grade(truth: pd.DataFrame, hand: str, joint: str, kind: str, grade: int) -> pd.DataFrame:
    """`truth` with one site's grade changed."""
    out = truth.copy()
    out.loc[(out["hand"] == hand) & (out["joint"] == joint), kind] = grade
    return out


def sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values at (x, y) points in box coordinates (pixel i spans [i, i+1])."""
    pts = np.atleast_2d(points)
    return ndimage.map_coordinates(image.astype(float), [pts[:, 1] - 0.5, pts[:, 0] - 0.5], order=1, mode="nearest")


@pytest.fixture(scope="module")
def healthy_stages():
    return phantom.formation_stages(17, truth=healthy_truth(), noise=0.0, markers=False, label=False)


# ---------------------------------------------------------------------------- determinism and polarity


def test_same_seed_same_bytes_all_options():
    for kw in ({}, {"dtype": np.uint16}, {"monochrome1": True}):
        a, b = phantom.render(31, size=512, **kw), phantom.render(31, size=512, **kw)
        assert a.image.tobytes() == b.image.tobytes()
        pd.testing.assert_frame_equal(a.boxes, b.boxes)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 4095)])
def test_monochrome1_is_the_inverted_image(dtype, top):
    plain = phantom.render(4, size=512, dtype=dtype)
    inverted = phantom.render(4, size=512, dtype=dtype, monochrome1=True)
    assert inverted.image.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(inverted.image.astype(int), top - plain.image.astype(int))
    pd.testing.assert_frame_equal(inverted.boxes, plain.boxes)
    with pytest.raises(ValueError, match="monochrome1"):
        phantom.render(4, size=512, monochrome1="yes")


def test_formation_stages_end_in_the_rendered_image():
    r, st = phantom.formation_stages(8, size=512)
    assert r.image.tobytes() == phantom.render(8, size=512).image.tobytes()
    for name in ("bone_outer_mm", "medulla_mm", "soft_mm", "attenuation", "log_exposure", "display", "noise",
                 "collimation", "markers"):
        assert st[name].shape == r.image.shape and st[name].dtype == np.float32, name
    assert (st["medulla_mm"] <= st["bone_outer_mm"] + 1e-4).all()  # the medulla lies inside the bone
    names = {n for n, _, _ in st["bones"]["left"]}
    assert {"metacarpal 3", "proximal phalanx 3", "middle phalanx 3", "distal phalanx 3", "scaphoid", "lunate",
            "capitate", "hamate", "pisiform", "radius", "ulna", "sesamoid"} <= names


# ---------------------------------------------------------------------------- geometry from the path lengths


def test_shaft_is_a_tube(healthy_stages):
    """Across a metacarpal waist the bone path is a chord profile: widest (~2 x 0.85 x half-width) at the axis,
    the medulla's narrower, and the cortex path peaks near the edges (bright cortical lines)."""
    r, st = healthy_stages
    for hand in HANDS:
        k = r.meta["pose"][hand]["px_per_mm"]
        base = np.array(r.meta["joints"][hand]["CMC3"]["centre"])
        head = np.array(r.meta["joints"][hand]["MCP3"]["centre"])
        axis = (head - base) / np.linalg.norm(head - base)
        across = np.array([-axis[1], axis[0]])
        t = np.arange(-8.0, 8.01, 0.1) * k
        pts = (base + head) / 2.0 + t[:, None] * across
        outer, inner = sample(st["bone_outer_mm"], pts), sample(st["medulla_mm"], pts)
        labels, _ = ndimage.label(outer > 0.05)  # the bone under the centre, not its neighbours
        run = labels == labels[len(t) // 2]
        outer, inner, t = outer * run, inner * run, t
        width_mm = (t[run].max() - t[run].min()) / k
        assert 6.0 < width_mm < 11.0  # metacarpal shafts 7-10 mm (patients vary +-10 %)
        assert outer.max() == pytest.approx(0.85 * width_mm, rel=0.15)  # depth = 0.85 x width at the axis
        cortex = outer - inner
        mid = np.abs(t) < 0.5 * k
        assert cortex[~mid].max() > 1.3 * cortex[mid].max()  # the shell is longest where the beam grazes it
        assert inner[mid].min() > 0  # a medullary cavity at the axis


@pytest.mark.parametrize("hand", HANDS)
def test_every_box_centre_lies_in_its_joint_space(healthy_stages, hand):
    """For each finger and CMC site the box centre is (nearly) bone-free, while 1.5 mm beyond the joint space's
    half-width along the joint axis (2.5 mm for a carpal), on both sides, the beam crosses both bones the site
    names."""
    r, st = healthy_stages
    bone = st["bone_outer_mm"]
    for joint in JOINTS:
        info = r.meta["joints"][hand][joint]
        if "axis" not in info:
            continue
        x0, y0, x1, y1 = r.box(hand, joint)
        c = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
        k = r.meta["pose"][hand]["px_per_mm"]
        axis = np.array(info["axis"])
        # a metacarpal base meets its carpal bone(s) across its width: the fourth sits on the hamate and the
        # capitate, its axis pointing at the joint between them, so the carpal side is looked for 2.5 mm around
        cmc = joint.startswith("CMC")
        off = info["gap_px"] / 2.0 + (2.5 if cmc else 1.5) * k
        side = np.array([-axis[1], axis[0]]) * k * np.linspace(-2.5, 2.5, 11)[:, None] * (1.0 if cmc else 0.0)
        centre = sample(bone, c)[0]
        prox, dist = sample(bone, c - off * axis + side).max(), sample(bone, c + off * axis + side).max()
        assert centre < 0.25 * min(prox, dist), (hand, joint, centre, prox, dist)
        assert prox > 3.0 and dist > 3.0, (hand, joint, prox, dist)  # > 3 mm of bone along the beam


# ---------------------------------------------------------------------------- damage where it is scored


def _sites():
    for joint in JOINTS:
        for kind in ("erosion", "jsn"):
            if applies(joint, kind):
                yield joint, kind


@pytest.mark.parametrize("joint, kind", list(_sites()))
def test_damage_only_at_its_site(joint, kind):
    """Grade 3 at one site changes the image inside that site's box and nowhere else (same seed, no noise)."""
    healthy = healthy_truth()
    base = phantom.render(23, size=1024, truth=healthy, noise=0.0)
    r = phantom.render(23, size=1024, truth=with_grade(healthy, "right", joint, kind, 3), noise=0.0)
    diff = np.abs(r.image.astype(int) - base.image.astype(int)) > 2
    x0, y0, x1, y1 = (int(round(v)) for v in base.box("right", joint))
    inside = diff[y0:y1, x0:x1].sum()
    assert inside > 0, (joint, kind)
    assert inside >= 0.97 * diff.sum(), (joint, kind, inside, diff.sum())


def test_erosion_is_lucent_not_black():
    """An erosion removes bone down to soft tissue: the defect is never darker than the tissue around the bone."""
    healthy = healthy_truth()
    base, st0 = phantom.formation_stages(23, size=2048, truth=healthy, noise=0.0)
    eroded, st1 = phantom.formation_stages(23, size=2048, truth=with_grade(healthy, "left", "MCP3", "erosion", 4),
                                           noise=0.0)
    x0, y0, x1, y1 = (int(round(v)) for v in base.box("left", "MCP3"))
    a0, a1 = st0["attenuation"][y0:y1, x0:x1], st1["attenuation"][y0:y1, x0:x1]
    soft = st1["soft_mm"][y0:y1, x0:x1]
    removed = a0 - a1 > 0.05
    assert removed.sum() * (base.pixel_spacing_mm ** 2) > 5.0  # several mm^2 of bone gone
    soft_only = 0.045 * 0.8 * 0.8 * soft[removed]  # the least attenuation soft tissue alone can have
    assert (a1[removed] >= soft_only - 1e-3).all()


def test_jsn_grade_4_bridges_the_joint(healthy_stages):
    r0, st0 = healthy_stages
    r4, st4 = phantom.formation_stages(17, truth=with_grade(healthy_truth(), "left", "PIP3", "jsn", 4), noise=0.0,
                                       markers=False, label=False)
    info = r0.meta["joints"]["left"]["PIP3"]
    x0, y0, x1, y1 = r0.box("left", "PIP3")
    c = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    assert sample(st0["bone_outer_mm"], c)[0] < 1.0  # healthy: the space is empty
    assert sample(st4["bone_outer_mm"], c)[0] > 4.0  # ankylosis: bone crosses the former space
    assert info["gap_px"] > 0


def test_ruler_and_collimation_stay_off_joints_and_gap():
    """Rulers (about half the films) and collimator shadows cover no joint box and leave the seam's gap clear."""
    rulers = 0
    for seed in range(12):
        r = phantom.render(seed, size=512, noise=0.0)
        lo, hi = r.meta["gap_px"]
        boxes = r.boxes[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        if r.meta["ruler"] is not None:
            rulers += 1
            x0, y0, x1, y1 = r.meta["ruler"]
            assert x1 <= lo or x0 >= hi
            assert not ((boxes[:, 0] < x1) & (x0 < boxes[:, 2]) & (boxes[:, 1] < y1) & (y0 < boxes[:, 3])).any()
        band = r.image[:, lo:hi + 1].astype(int)
        assert (band.max(axis=1) - band.min(axis=1) <= 1).all(), seed  # collimation bands run along whole rows
    assert 2 <= rulers <= 10


def test_chapter_1_figures():
    """The chapter-1 figures draw one panel per formation step and per grade, and name the bones they show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rheumabook.viz import phantom as phantom_viz

    r, st = phantom.formation_stages(8, size=512)
    fig = phantom_viz.formation_figure(r, st, phantom_viz.hand_region(r, "left"))
    assert sum(bool(ax.images) for ax in fig.axes) == len(phantom_viz.FORMATION_PANELS)
    fig, ax = plt.subplots()
    phantom_viz.show_anatomy(ax, r, st, hand="left", part="wrist")
    assert {"lunate", "radius"} <= {t.get_text() for t in ax.texts}
    fig = phantom_viz.grade_ladders(8, joint="PIP3", size=512)
    assert sum(bool(ax.images) for ax in fig.axes) == 6 + 5
    with pytest.raises(ValueError, match="CMC3 has no erosion"):
        phantom_viz.grade_ladders(8, joint="CMC3", size=512)
    plt.close("all")


def test_model_input_ladders_show_the_scorers_crop_and_how_far_each_grade_is_from_healthy():
    """Chapter 5's ladder: each panel is the scorer's evaluation crop, titled by its distance from grade 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rheumabook.scoring import crop_joints
    from rheumabook.viz import phantom as phantom_viz

    fig, diffs = phantom_viz.model_input_ladders(8, ["PIP3"], size=512, crop_size=32)
    assert sum(bool(ax.images) for ax in fig.axes) == 6
    assert list(diffs["grade"]) == list(range(6)) and diffs["mean_abs_diff"].iloc[0] == 0.0
    # the panel of grade 0 is the scorer's evaluation crop of the healthy joint, computed here independently
    rad = phantom.render(8, size=512, truth=uniform_truth(erosion=0, jsn=0))
    box = rad.boxes[(rad.boxes["hand"] == "left") & (rad.boxes["joint"] == "PIP3")]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), crop_joints(rad.image, box, size=32)[0])
    # a collapsed joint (5) changes the crop more than one discrete erosion (1) does
    assert diffs["mean_abs_diff"].iloc[5] > diffs["mean_abs_diff"].iloc[1] > 0.0
    plt.close("all")
