"""Tests of rheumabook.phantom: contract, determinism, geometry against anatomy, damage where it is scored.

The geometric checks read the rendered image only through intensity profiles sampled with
scipy (not with the OpenCV code that drew it) and compare with the figures of
shared/reference/hand-anatomy.md, written out here as literals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from rheumabook import phantom
from rheumabook.joints import HANDS, JOINTS, MAX_SCORE, applies

SMALL = 512  # contract checks on small images keep the file fast
# healthy joint space widths, mid-range of hand-anatomy.md (MCP 1.5-2.0, PIP 0.9-1.2, DIP/IP 0.7-0.9 mm)
ANATOMY_GAP_MM = {"MCP": 1.75, "PIP": 1.05, "DIP": 0.8, "IP": 0.8}


def healthy_truth() -> pd.DataFrame:
    """All applicable grades 0, <NA> elsewhere."""
    rows = [(h, j, 0 if applies(j, "erosion") else pd.NA, 0 if applies(j, "jsn") else pd.NA)
            for h in HANDS for j in JOINTS]
    return pd.DataFrame(rows, columns=["hand", "joint", "erosion", "jsn"]).astype({"erosion": "Int64", "jsn": "Int64"})


def with_grade(truth: pd.DataFrame, hand: str, joint: str, kind: str, grade: int) -> pd.DataFrame:
    t = truth.copy()
    t.loc[(t["hand"] == hand) & (t["joint"] == joint), kind] = grade
    return t


def profile(image: np.ndarray, centre, direction, half_len: float, step: float = 0.25):
    """Bilinear intensity profile through `centre` along unit `direction`: offsets, values.

    `centre` is in box coordinates (pixel i spans [i, i+1]); scipy samples pixel i at i.
    """
    t = np.arange(-half_len, half_len + step / 2, step)
    x = centre[0] - 0.5 + t * direction[0]
    y = centre[1] - 0.5 + t * direction[1]
    values = ndimage.map_coordinates(image.astype(float), [y, x], order=1, mode="nearest")
    return t, values


def dip_width(t: np.ndarray, v: np.ndarray, search: float, plateau: tuple[float, float]) -> tuple[float, float, float]:
    """Full width at half depth of the darkest dip within |t| <= search; returns (width, position, depth)."""
    inside = np.abs(t) <= search
    i0 = int(np.flatnonzero(inside)[np.argmin(v[inside])])
    ring = (np.abs(t) >= plateau[0]) & (np.abs(t) <= plateau[1])
    top = min(np.median(v[ring & (t < 0)]), np.median(v[ring & (t > 0)]))
    half = (top + v[i0]) / 2.0

    def crossing(step: int) -> float:
        i = i0
        while 0 < i < len(v) - 1 and v[i] < half:
            i += step
        j = i - step  # v[j] < half <= v[i]
        return t[j] + (half - v[j]) / (v[i] - v[j]) * (t[i] - t[j])

    return crossing(1) - crossing(-1), t[i0], top - v[i0]


def box_centre(r: phantom.Radiograph, hand: str, joint: str) -> np.ndarray:
    x0, y0, x1, y1 = r.box(hand, joint)
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])


@pytest.fixture(scope="module")
def healthy_2048() -> phantom.Radiograph:
    """A noise-free healthy patient at the default (clinical) resolution, pose fixed for measuring."""
    return phantom.render(5, truth=healthy_truth(), noise=0.0, markers=False, label=False, rotation_deg=4.0)


# ---------------------------------------------------------------------------- contract


def test_contract_shapes_and_tables():
    r = phantom.render(1, size=SMALL)
    assert r.image.shape == (round(0.75 * SMALL), SMALL) and r.image.dtype == np.uint8
    assert r.pixel_spacing_mm == pytest.approx(360.0 / SMALL)
    assert list(r.boxes.columns) == ["hand", "joint", "x_min", "y_min", "x_max", "y_max"]
    assert list(zip(r.boxes["hand"], r.boxes["joint"])) == [(h, j) for h in HANDS for j in JOINTS]
    assert list(r.truth.columns) == ["hand", "joint", "erosion", "jsn"]
    assert list(zip(r.truth["hand"], r.truth["joint"])) == [(h, j) for h in HANDS for j in JOINTS]
    for kind in ("erosion", "jsn"):
        assert str(r.truth[kind].dtype) == "Int64"
        ok = r.truth["joint"].map(lambda j, k=kind: applies(j, k))
        assert r.truth.loc[~ok, kind].isna().all()
        assert r.truth.loc[ok, kind].notna().all()
        assert r.truth.loc[ok, kind].between(0, MAX_SCORE[kind]).all()
    for key in ("pose", "exposure", "markers", "label", "gap_px", "severity", "joints"):
        assert key in r.meta
    assert set(r.meta["pose"]) == set(HANDS)


def test_default_size_is_clinical_resolution():
    r = phantom.render(0, noise=0.0)
    assert r.image.shape == (1536, 2048)
    assert 0.15 <= r.pixel_spacing_mm <= 0.2


def test_deterministic_bytes_and_tables():
    a = phantom.render(7, size=SMALL)
    b = phantom.render(7, size=SMALL)
    assert a.image.tobytes() == b.image.tobytes()
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.meta["pose"] == b.meta["pose"] or str(a.meta["pose"]) == str(b.meta["pose"])
    c = phantom.render(8, size=SMALL)
    assert a.image.tobytes() != c.image.tobytes()
    assert not np.allclose(a.boxes[["x_min", "y_min"]].to_numpy(), c.boxes[["x_min", "y_min"]].to_numpy())


@pytest.mark.parametrize("seed", [12, 19])
def test_size_only_resamples_the_same_radiograph(seed):
    """The geometry is in millimetres: another size gives the same boxes, scaled (to rounding)."""
    a = phantom.render(seed, size=SMALL)
    b = phantom.render(seed, size=2 * SMALL)
    cols = ["x_min", "y_min", "x_max", "y_max"]
    np.testing.assert_allclose(b.boxes[cols].to_numpy(), 2 * a.boxes[cols].to_numpy(), atol=0.2)
    assert b.pixel_spacing_mm == pytest.approx(a.pixel_spacing_mm / 2)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def test_generator_seed_uses_that_stream():
    a = phantom.render(np.random.default_rng(3), size=SMALL)
    b = phantom.render(3, size=SMALL)
    assert a.image.tobytes() == b.image.tobytes()


def test_pose_and_noise_do_not_depend_on_truth():
    """Re-rendering a seed with another truth keeps pose, boxes and exposure (only damage changes)."""
    a = phantom.render(9, size=SMALL)
    b = phantom.render(9, size=SMALL, truth=healthy_truth())
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    assert str(a.meta["pose"]) == str(b.meta["pose"]) and a.meta["exposure"] == b.meta["exposure"]


def test_uint16_is_12_bit_and_matches_uint8():
    a = phantom.render(2, size=SMALL, dtype=np.uint16)
    b = phantom.render(2, size=SMALL)
    assert a.image.dtype == np.uint16 and 255 < a.image.max() <= 4095
    assert np.corrcoef(a.image.ravel().astype(float), b.image.ravel().astype(float))[0, 1] > 0.995


# ---------------------------------------------------------------------------- layout


@pytest.mark.parametrize("seed", range(6))
def test_boxes_inside_and_on_the_right_half(seed):
    """The patient's right hand lies on the image's left half (PA view), each box inside the image."""
    r = phantom.render(seed, size=SMALL)
    H, W = r.image.shape
    b = r.boxes
    assert (b["x_min"] >= 0).all() and (b["y_min"] >= 0).all() and (b["x_max"] <= W).all() and (b["y_max"] <= H).all()
    assert (b["x_max"] - b["x_min"] > 2).all() and (b["y_max"] - b["y_min"] > 2).all()
    right, left = b[b["hand"] == "right"], b[b["hand"] == "left"]
    assert (right["x_max"] <= W / 2).all() and (left["x_min"] >= W / 2).all()
    # thumbs point to the middle: the thumb IP lies nearer the middle than the little finger's DIP
    rb = right.set_index("joint")
    lb = left.set_index("joint")
    assert rb.at["IP", "x_max"] > rb.at["DIP5", "x_max"]
    assert lb.at["IP", "x_min"] < lb.at["DIP5", "x_min"]


@pytest.mark.parametrize("seed", [0, 11, 23])
def test_background_gap_between_hands(seed):
    """A seam can run top to bottom between the hands: >= 3 % of the width with no tissue, around the middle."""
    r = phantom.render(seed, size=SMALL, noise=0.0, markers=False, label=False)
    H, W = r.image.shape
    lo, hi = r.meta["gap_px"]
    assert lo < W / 2 < hi and hi - lo >= 0.03 * W
    band = r.image[:, lo:hi + 1].astype(int)
    assert (band.max(axis=1) - band.min(axis=1) <= 1).all()  # flat: background only (the heel effect is vertical)
    bg = np.median(band)
    for half in (r.image[:, : lo], r.image[:, hi + 1:]):
        assert (half.astype(int) > bg + 40).mean() > 0.05  # there is a hand in each half


def test_markers_and_label_stay_off_joints_and_gap():
    for seed in range(8):
        r = phantom.render(seed, size=SMALL, marker_error_rate=0.0, marker_missing_rate=0.0)
        W = r.image.shape[1]
        lo, hi = r.meta["gap_px"]
        boxes = r.boxes[["x_min", "y_min", "x_max", "y_max"]].to_numpy()
        placed = [m["box"] for m in r.meta["markers"].values() if m is not None]
        if r.meta["label"] is not None:
            placed.append(r.meta["label"]["box"])
        for x0, y0, x1, y1 in placed:
            assert x1 <= lo or x0 >= hi
            overlap = (boxes[:, 0] < x1) & (x0 < boxes[:, 2]) & (boxes[:, 1] < y1) & (y0 < boxes[:, 3])
            assert not overlap.any()
        for hand, m in r.meta["markers"].items():
            if m is not None:
                assert m["letter"] == ("R" if hand == "right" else "L") and m["correct"]
                assert (m["box"][2] <= W / 2) == (hand == "right")


def test_marker_error_and_missing_rates():
    wrong = phantom.render(4, size=SMALL, marker_error_rate=1.0, marker_missing_rate=0.0).meta["markers"]
    shown = [m for m in wrong.values() if m is not None]
    assert shown and all(not m["correct"] for m in shown)
    assert all(m["letter"] == ("L" if h == "right" else "R") for h, m in wrong.items() if m is not None)
    none = phantom.render(4, size=SMALL, marker_missing_rate=1.0).meta["markers"]
    assert all(m is None for m in none.values())


# ---------------------------------------------------------------------------- geometry against anatomy


def test_boxes_centred_on_joint_spaces(healthy_2048):
    """Along each finger's axis the darkest point near a box centre is its joint space."""
    r = healthy_2048
    for hand in HANDS:
        for joint in JOINTS:
            level = joint.rstrip("12345")
            if level not in ANATOMY_GAP_MM:
                continue
            info = r.meta["joints"][hand][joint]
            c = box_centre(r, hand, joint)
            x0, y0, x1, y1 = r.box(hand, joint)
            assert x0 < info["centre"][0] < x1 and y0 < info["centre"][1] < y1
            gap_px = ANATOMY_GAP_MM[level] * r.meta["pose"][hand]["px_per_mm"]
            t, v = profile(r.image, c, info["axis"], 0.5 * (x1 - x0))
            _, where, depth = dip_width(t, v, gap_px + 4.0, (gap_px / 2 + 3.0, gap_px / 2 + 9.0))
            assert abs(where) <= gap_px / 2 + 1.5, (hand, joint, where)
            assert depth > 25, (hand, joint, depth)  # a clearly darker gap between the bone ends


def test_joint_space_widths_match_anatomy(healthy_2048):
    """Healthy MCP/PIP/DIP spaces measured on the image = anatomical width x pixels per mm."""
    r = healthy_2048
    ratios = {}
    for hand in HANDS:
        k = r.meta["pose"][hand]["px_per_mm"]
        assert k == pytest.approx(r.meta["pose"][hand]["scale"] / r.pixel_spacing_mm)
        for joint in JOINTS:
            level = joint.rstrip("12345")
            if level not in ANATOMY_GAP_MM:
                continue
            gap_px = ANATOMY_GAP_MM[level] * k
            t, v = profile(r.image, box_centre(r, hand, joint), r.meta["joints"][hand][joint]["axis"], 40.0, 0.1)
            width, _, _ = dip_width(t, v, gap_px + 4.0, (gap_px / 2 + 3.0, gap_px / 2 + 9.0))
            ratios[(hand, joint)] = width / gap_px
            if level == "MCP":
                assert abs(width - gap_px) <= max(1.5, 0.2 * gap_px), (hand, joint, width, gap_px)
    assert 0.85 < np.median(list(ratios.values())) < 1.15


def test_cortex_brighter_than_medulla(healthy_2048):
    """Across a metacarpal shaft the cortex (bright lines along the edges) is brighter than the medullary cavity."""
    r = healthy_2048
    for hand in HANDS:
        for f in (3, 4, 5):  # the rays with a CMC box
            base = np.array(r.meta["joints"][hand][f"CMC{f}"]["centre"])
            head = np.array(r.meta["joints"][hand][f"MCP{f}"]["centre"])
            axis = (head - base) / np.linalg.norm(head - base)
            across = np.array([-axis[1], axis[0]])
            t, v = profile(r.image, (base + head) / 2.0, across, 12.0 * r.meta["pose"][hand]["px_per_mm"], 0.5)
            # the shaft: the contiguous bright run around the centre
            k = r.meta["pose"][hand]["px_per_mm"]
            bone = v > (v.min() + np.median(v[np.abs(t) < 1.0 * k])) / 2.0  # above the soft tissue between rays
            i = len(t) // 2
            assert bone[i]
            lo_i, hi_i = i, i
            while lo_i > 0 and bone[lo_i - 1]:
                lo_i -= 1
            while hi_i < len(t) - 1 and bone[hi_i + 1]:
                hi_i += 1
            width = t[hi_i] - t[lo_i]
            assert 6.0 * k < width < 11.0 * k  # metacarpal shafts are 7-10 mm wide
            # a tube seen side-on: the beam runs longest through the cortex where it grazes the medulla,
            # so the brightest line on each side lies within the cortex (+ 1 mm) of the edge
            n_edge = int(3.0 * k / 0.5)
            middle = np.median(v[np.abs(t - (t[lo_i] + t[hi_i]) / 2) < 1.0 * k])
            for side in (v[lo_i: lo_i + n_edge], v[hi_i - n_edge + 1: hi_i + 1]):
                assert side.max() > middle + 8, (hand, f)


# ---------------------------------------------------------------------------- damage


def test_jsn_narrows_only_its_joint():
    healthy = healthy_truth()
    base = phantom.render(21, size=1400, truth=healthy)
    box = base.box("right", "PIP3")
    widths = []
    for grade in range(5):
        r = phantom.render(21, size=1400, truth=with_grade(healthy, "right", "PIP3", "jsn", grade))
        diff = np.abs(r.image.astype(int) - base.image.astype(int)) > 3
        if grade == 0:
            assert not diff.any()
        else:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            inside = diff[y0:y1, x0:x1].sum()
            assert inside > 0 and inside >= 0.95 * diff.sum()
        info = r.meta["joints"]["right"]["PIP3"]
        t, v = profile(r.image, box_centre(r, "right", "PIP3"), info["axis"], 25.0, 0.1)
        gap_px = ANATOMY_GAP_MM["PIP"] * r.meta["pose"]["right"]["px_per_mm"]
        width, _, depth = dip_width(t, v, gap_px + 3.0, (gap_px / 2 + 3.0, gap_px / 2 + 7.0))
        widths.append((width, depth))
    (w0, d0), (w1, d1), (w2, d2), (w3, d3), (w4, d4) = widths
    assert abs(w0 - ANATOMY_GAP_MM["PIP"] * base.meta["pose"]["right"]["px_per_mm"]) < 1.0
    assert w0 > w1 > w2 > w3  # 1: focal ~0.8, 2: ~0.6, 3: ~0.3 of the space left
    assert 0.4 < w2 / w0 < 0.8
    assert d4 < 0.1 * d0  # grade 4: the space is gone (bony bridge)


@pytest.mark.parametrize("joint", ["MCP2", "PIP4", "DIP3", "IP", "CMC1", "wrist", "ulna", "radiocarpal"])
def test_erosion_removes_bone_growing_with_grade(joint):
    healthy = healthy_truth()
    base = phantom.render(13, size=1024, truth=healthy, noise=0.0)
    x0, y0, x1, y1 = (int(round(v)) for v in base.box("left", joint))
    removed = []
    for grade in range(6):
        r = phantom.render(13, size=1024, truth=with_grade(healthy, "left", joint, "erosion", grade), noise=0.0)
        darker = np.clip(base.image.astype(int) - r.image.astype(int), 0, None)
        changed = np.abs(base.image.astype(int) - r.image.astype(int)) > 3
        if grade:
            assert changed[y0:y1, x0:x1].sum() >= 0.9 * changed.sum() > 0  # the defect is at the scored site
        removed.append(darker[y0:y1, x0:x1].sum())
    assert removed[0] == 0 < removed[1] < removed[3] < removed[5]
    assert removed[5] > 3 * removed[1]


@pytest.mark.parametrize("joint", ["MCP2", "wrist", "radiocarpal", "CMC3"])
def test_damage_does_not_move_joint_boxes(joint):
    healthy = healthy_truth()
    a = phantom.render(3, size=SMALL, truth=healthy)
    worst = healthy.copy()
    at = worst["joint"] == joint
    worst.loc[at, "erosion"] = worst.loc[at, "erosion"].where(worst.loc[at, "erosion"].isna(), 5)
    worst.loc[at, "jsn"] = worst.loc[at, "jsn"].where(worst.loc[at, "jsn"].isna(), 4)
    b = phantom.render(3, size=SMALL, truth=worst)
    pd.testing.assert_frame_equal(a.boxes, b.boxes)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, words", [
    (dict(size=100), "size"),
    (dict(size=2048.5), "size"),
    (dict(size=True), "size"),
    (dict(dtype=np.float32), "dtype"),
    (dict(dtype="int8"), "dtype"),
    (dict(colour="red"), "colour"),
    (dict(noise=-1.0), "noise"),
    (dict(markers="yes"), "markers"),
    (dict(scale=3.0), "scale"),
])
def test_bad_options(kwargs, words):
    with pytest.raises(ValueError, match=words):
        phantom.render(0, **kwargs)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", None])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        phantom.render(seed, size=SMALL)


def _broken_truths():
    t = healthy_truth()
    yield t.drop(columns="jsn"), "jsn"
    yield t.iloc[:-1], "missing"
    yield pd.concat([t, t.iloc[:1]]), "more than one row"
    bad = t.copy()
    bad.loc[0, "joint"] = "MCP9"
    yield bad, "MCP9"
    bad = t.copy()
    bad.loc[0, "hand"] = "middle"
    yield bad, "middle"
    yield with_grade(t, "left", "MCP2", "erosion", 6), "outside 0..5"
    yield with_grade(t, "left", "PIP2", "jsn", -1), "outside 0..4"
    yield with_grade(t, "left", "CMC3", "erosion", 1), "not scored"
    bad = t.copy()
    bad["erosion"] = bad["erosion"].astype("Float64")
    bad.loc[(bad["hand"] == "left") & (bad["joint"] == "MCP2"), "erosion"] = 1.5
    yield bad, "not an integer"
    bad = t.copy()
    bad.loc[(bad["hand"] == "right") & (bad["joint"] == "wrist"), "jsn"] = pd.NA
    yield bad, "missing at right wrist"
    yield "not a frame", "DataFrame"


@pytest.mark.parametrize("truth, words", list(_broken_truths()))
def test_bad_truth(truth, words):
    with pytest.raises(ValueError, match=words):
        phantom.render(0, size=SMALL, truth=truth)


def test_truth_is_reordered_and_extra_columns_ignored():
    t = with_grade(healthy_truth(), "right", "DIP2", "erosion", 3)
    shuffled = t.sample(frac=1.0, random_state=0).assign(patient_id="P0001")
    r = phantom.render(0, size=SMALL, truth=shuffled)
    pd.testing.assert_frame_equal(r.truth.reset_index(drop=True), t.reset_index(drop=True), check_dtype=False)
    assert r.truth.set_index(["hand", "joint"]).at[("right", "DIP2"), "erosion"] == 3
