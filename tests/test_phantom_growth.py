"""Age as a patient variable (issue 20): the growth figures, and what a child's hand geometry and film show.

The figures are hand-computed from the module's stated rules (linear growth between round atlas
figures); the geometry checks build one hand at two ages and compare what was drawn.
"""
from __future__ import annotations

import numpy as np
import pytest

from rheumabook.joints import JOINTS
from rheumabook.phantom import growth, hand, render
from rheumabook.phantom.outline import clip_half_plane
from test_phantom_proportions import nominal_pose  # tests/ is on the path under pytest (no __init__.py)


def shoelace_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_age_from_one_uniform_draw():
    assert growth.age_from_uniform(0.0) == pytest.approx(14.0)
    assert growth.age_from_uniform(0.125) == pytest.approx(15.0)  # halfway through the adolescents' share
    assert growth.age_from_uniform(0.25) == pytest.approx(18.0)  # the first adult
    assert growth.age_from_uniform(0.625) == pytest.approx(49.0)  # halfway through the adults: 18 + 62 / 2
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="u must lie in"):
            growth.age_from_uniform(bad)


def test_hand_size_grows_to_the_adults_and_stays():
    assert growth.hand_size(6.0) == pytest.approx(0.70)
    assert growth.hand_size(11.0) == pytest.approx((0.82 + 0.89) / 2)
    assert growth.hand_size(17.0) == growth.hand_size(60.0) == 1.0
    sizes = [growth.hand_size(a) for a in np.linspace(6, 80, 200)]
    assert np.all(np.diff(sizes) >= 0)


def test_carpal_centres_appear_in_order_and_reach_adult_size():
    six = growth.carpal_ossification(6.0)
    assert six["pisiform"] == six["hook of the hamate"] == 0.0  # they ossify at ~10
    assert six["capitate"] == pytest.approx(0.3 + 0.7 * 5.8 / 14.8)
    assert six["scaphoid"] == pytest.approx(0.3 + 0.7 * 0.5 / 9.5)
    # at every age a centre that appears earlier is at least as large as one that appears later
    order = sorted(growth.CARPAL_ONSET_YEARS, key=growth.CARPAL_ONSET_YEARS.get)
    for age in (3.0, 6.0, 9.0, 12.0):
        sizes = [growth.carpal_ossification(age)[name] for name in order]
        assert np.all(np.diff(sizes) <= 1e-12), (age, sizes)
    assert set(growth.carpal_ossification(15.0).values()) == {1.0}
    assert growth.physes_open(15.9) and not growth.physes_open(16.0)


def test_clip_half_plane_against_hand_computed_areas():
    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    kept = clip_half_plane(square, np.array([1.0, 1.0]) / np.sqrt(2), np.sqrt(2))  # x + y >= 2: half the square
    assert shoelace_area(kept) == pytest.approx(2.0)
    above = clip_half_plane(square, np.array([0.0, 1.0]), 0.5)  # y >= 0.5
    assert shoelace_area(above) == pytest.approx(3.0)
    assert above[:, 1].min() == pytest.approx(0.5)
    assert np.array_equal(clip_half_plane(square, np.array([0.0, 1.0]), -1.0), square)
    assert clip_half_plane(square, np.array([0.0, 1.0]), 3.0).shape == (0, 2)


def hand_at(age: float):
    pose = nominal_pose()
    pose["var"] = dict(pose["var"], age=age, physes=growth.physes_open(age))
    return hand.build_hand({j: (0, 0) for j in JOINTS}, pose, np.ones(5), np.full((21, 12), 0.5))


RASTER_PX_PER_MM = 10


def raster(poly: np.ndarray) -> np.ndarray:
    """A polygon (hand frame, mm) filled on a 10 px/mm boolean grid over x -60..60, y -60..60 (row = y)."""
    import cv2

    grid = np.zeros((1200, 1200), np.uint8)
    cv2.fillPoly(grid, [np.round((poly + 60.0) * RASTER_PX_PER_MM).astype(np.int32)], 1)
    return grid.astype(bool)


def compact(geo) -> dict:
    return {name: poly for poly, _, _, _, name in geo.compact}


def test_a_child_has_small_carpal_centres_no_pisiform_and_separate_epiphyses():
    adult, child = compact(hand_at(40.0)), compact(hand_at(7.0))
    sizes = growth.carpal_ossification(7.0)
    assert "pisiform" in adult and "hook of the hamate" in adult
    assert "pisiform" not in child and "hook of the hamate" not in child
    for name in ("capitate", "lunate", "scaphoid", "trapezium"):
        ratio = shoelace_area(child[name]) / shoelace_area(adult[name])
        assert ratio == pytest.approx(sizes[name] ** 2, rel=0.08), name  # a linear size: the area goes with its square
        assert np.allclose(child[name].mean(axis=0), adult[name].mean(axis=0), atol=0.5)  # about the same centre
    for bone in ("radius", "ulna"):
        assert f"{bone} epiphysis" not in adult
        epi, meta = raster(child[f"{bone} epiphysis"]), raster(child[bone])
        assert not (epi & meta).any()
        # the growth plate: in every column across the epiphysis's middle, the metaphysis stops below where the
        # epiphysis starts, a cartilage gap apart (rows are y, 10 per mm, up the image's rows)
        cols = np.flatnonzero(epi.any(axis=0))
        for col in cols[len(cols) // 4: 3 * len(cols) // 4]:
            epi_low, meta_high = np.flatnonzero(epi[:, col]).min(), np.flatnonzero(meta[:, col]).max()
            assert (epi_low - meta_high) / RASTER_PX_PER_MM > 0.7, (bone, col)
        assert shoelace_area(child[f"{bone} epiphysis"]) + shoelace_area(child[bone]) < shoelace_area(adult[bone])


def test_the_joint_boxes_stay_on_the_adult_carpus():
    adult, child = hand_at(40.0), hand_at(7.0)
    for site in ("wrist", "radiocarpal", "ulna", "CMC3", "MCP2"):
        assert np.allclose(adult.boxes[site][0], child.boxes[site][0])


def test_the_drawn_cohort_is_a_quarter_adolescents_with_open_growth_plates():
    ages = []
    for seed in range(40):
        pose = render(seed, size=256).meta["pose"]["left"]
        age = pose["age_years"]
        ages.append(age)
        assert 14.0 <= age < 16.0 or 18.0 <= age <= 80.0, (seed, age)
        assert pose["open_growth_plates"] == growth.physes_open(age)
    adolescents = sum(a < 18 for a in ages)
    assert 3 <= adolescents <= 18, ages  # ~25 % of 40: a binomial 10 +- 2.7


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_the_age_option_renders_the_same_patient_as_a_child(seed):
    adult, child = render(seed, size=256, age=40.0), render(seed, size=256, age=7.0)
    for hand in ("left", "right"):
        a, c = adult.meta["pose"][hand], child.meta["pose"][hand]
        assert (a["age_years"], a["open_growth_plates"]) == (40.0, False)
        assert (c["age_years"], c["open_growth_plates"]) == (7.0, True)
        # the child's hand is drawn at its age's size: the patient's size factor (0.9-1.1 x 0.99-1.01) x 0.73
        # (placement in the field may shrink a hand that does not fit, never enlarge it)
        assert c["scale"] <= 1.1 * 1.01 * growth.hand_size(7.0)
        assert c["scale"] < 0.85 * a["scale"]
    with pytest.raises(ValueError, match="option age=5"):
        render(seed, size=256, age=5)
