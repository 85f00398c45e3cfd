"""One hand geometry (issue 20, item 3): `handview.HandView` maps boxes between a radiograph, a hand image and the
localiser's normalised frame; the seam split, the training hands, the pipeline and the real-image check all use it."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rheumabook import phantom
from rheumabook.handview import HandView, clip_boxes, from_frame, to_frame
from rheumabook.joints import JOINTS
from rheumabook.schema import BOX_COLUMNS


def test_a_hand_computed_view():
    # radiograph box x 110..130 in a half starting at column 100, 50 px wide, mirrored: 10..30 -> 20..40;
    # the frame (10, 0, 60, 100) makes it 0.2..0.6 across and 0.2..0.4 down
    view = HandView("right", width=50, height=100, offset=100, mirrored=True, frame=(10, 0, 60, 100))
    box = np.array([[110.0, 20.0, 130.0, 40.0]])
    assert view.to_hand(box).tolist() == [[20.0, 20.0, 40.0, 40.0]]
    assert view.to_model(box) == pytest.approx(np.array([[0.2, 0.2, 0.6, 0.4]]))
    assert view.to_image(np.array([[0.2, 0.2, 0.6, 0.4]])) == pytest.approx(box)


@pytest.mark.parametrize("hand, mirrored, framed", list(itertools.product(("left", "right"), (False, True),
                                                                         (False, True))))
def test_boxes_survive_the_round_trip_for_every_hand_mirror_and_frame(hand, mirrored, framed):
    rng = np.random.default_rng(7)
    offset = 0 if hand == "right" else 613
    frame = (-12, 30, 488, 930) if framed else None  # a frame may reach past the hand image (padded)
    view = HandView(hand, width=540, height=900, offset=offset, mirrored=mirrored, frame=frame)
    xy = rng.uniform([offset, 0], [offset + 500, 850], size=(21, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 40, size=(21, 2))], axis=1)
    assert view.to_radiograph(view.to_hand(boxes)) == pytest.approx(boxes, abs=1e-9)
    assert view.to_image(view.to_model(boxes)) == pytest.approx(boxes, abs=1e-9)
    model = view.to_model(boxes)
    assert (model[:, 2] > model[:, 0]).all() and (model[:, 3] > model[:, 1]).all()  # mirroring keeps x_min < x_max
    # the mirror reverses the boxes' left-right order (of their centres); the frame alone never does
    order = np.argsort(boxes[:, 0] + boxes[:, 2])
    step = np.diff((model[:, 0] + model[:, 2])[order])
    assert (step < 0).all() if mirrored else (step > 0).all()
    # clipped to the radiograph, a box past its edge keeps at least a pixel
    far = view.to_image(np.array([[-2.0, -2.0, -1.5, -1.5], [0.4, 0.4, 0.5, 0.5]]), (900, 1200))
    assert (far[:, [0, 2]] >= 0).all() and (far[:, [0, 2]] <= 1200).all() and (far[:, [1, 3]] <= 900).all()
    assert (far[:, 2] - far[:, 0] >= 1).all() and (far[:, 3] - far[:, 1] >= 1).all()


def test_clip_and_frame_maps_are_exact_inverses_and_checked():
    assert clip_boxes(np.array([[-5.0, 3.0, -4.0, 8.0]]), (10, 20)).tolist() == [[0.0, 3.0, 1.0, 8.0]]
    frame = (3, 4, 103, 54)
    b = np.array([[13.0, 9.0, 53.0, 29.0]])
    assert to_frame(b, frame).tolist() == [[0.1, 0.1, 0.5, 0.5]] and from_frame(to_frame(b, frame), frame) == pytest.approx(b)
    with pytest.raises(ValueError, match="hand must be one of"):
        HandView("both", width=10, height=10)
    with pytest.raises(ValueError, match="x1 > x0"):
        HandView("left", width=10, height=10, frame=(5, 0, 5, 10))


def test_the_seam_split_the_training_hands_and_the_pipeline_share_it():
    from rheumabook.localize import hands_of_radiograph
    from rheumabook.localize.hands import _stack_hands
    from rheumabook.seam import split_hands

    rad = phantom.render(3, size=700)
    split = split_hands(rad.image, mirror_right=True)
    prepared = hands_of_radiograph(rad.image, rad.boxes, (96, 72))
    stacked = _stack_hands([("P", h) for h in prepared])
    back = stacked.radiograph_boxes()
    for hand, image, norm, meta in prepared:
        true = rad.boxes[rad.boxes["hand"] == hand].set_index("joint").loc[list(JOINTS), list(BOX_COLUMNS)]
        view = split.view(hand).with_frame((meta["frame_x0"], meta["frame_y0"], meta["frame_x1"], meta["frame_y1"]))
        assert np.array_equal(view.to_model(true).astype(np.float32), norm)  # the training targets
        assert split.to_half(true.to_numpy(), hand) == pytest.approx(view.to_hand(true))
        got = back[back["hand"] == hand][list(BOX_COLUMNS)].to_numpy()
        assert got == pytest.approx(true.to_numpy(), abs=1e-3)  # float32 targets, mapped back by the same view
        assert view.mirrored == (hand == "right") and (view.offset == 0) == (hand == "right")
