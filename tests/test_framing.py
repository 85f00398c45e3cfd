"""Framing on an uneven background (issue 9): the background's top-to-bottom trend is removed before Otsu.

References are hand-built: a planted hand whose box is known, a background ramp whose shape is
known, and the frame the same image gets with the trend step switched off (the framing as it
was before the step, for backgrounds that have no trend).
"""
import numpy as np
import pytest

from rheumabook.localize import framing as F

H, W = 400, 300
HAND_BOX = (80, 60, 220, 400)  # x0, y0, x1, y1: fingers from y0 down to the palm, the forearm leaves at the bottom


def gradient_film(ramp: float = 90.0, inverted: bool = False, seed: int = 0) -> np.ndarray:
    """A 400 x 300 film whose background rises by `ramp` grey levels from top to bottom (a heel effect), with a
    hand: bright palm and forearm (+70 over the local background) and fainter fingers and thumb (+45: less
    bone and soft tissue than under the palm); noise; optionally inverted (MONOCHROME1-like)."""
    rng = np.random.default_rng(seed)
    background = 30.0 + ramp * (np.arange(H) / (H - 1))[:, None] * np.ones((1, W))
    img = background + rng.normal(0, 4, (H, W))
    x0, y0, x1, y1 = HAND_BOX
    img[200:400, 100:200] += 70  # palm and forearm
    for k in range(4):  # four faint fingers from y0 down to the palm
        img[y0:200, 100 + 27 * k:114 + 27 * k] += 45
    img[230:300, x0:100] += 45  # thumb
    img[150:200, 200:x1] += 45  # the little finger's side
    img = np.clip(img, 0, 255).astype(np.uint8)
    return 255 - img if inverted else img


@pytest.mark.parametrize("inverted", [False, True])
def test_frame_keeps_faint_fingers_on_a_background_that_brightens_downwards(inverted):
    img = gradient_film(inverted=inverted)
    box = F.foreground_box(img)
    np.testing.assert_allclose(box, HAND_BOX, atol=8)  # ~1.6 px per work pixel, plus the blur
    frame = F.frame_box(img, (160, 128))
    x0, y0, x1, y1 = HAND_BOX
    assert frame[0] <= x0 and frame[1] <= y0 and frame[2] >= x1 and frame[3] >= y1  # the whole hand is framed


def test_without_the_trend_step_and_the_growth_the_fingers_are_cut(monkeypatch):
    """The test above needs the steps: with the trend step and the growth into faint tissue switched off (the
    framing before them), the fingers fall below Otsu's cut."""
    monkeypatch.setattr(F, "background_trend", lambda small: np.zeros((small.shape[0], 1), np.float32))
    monkeypatch.setattr(F, "grow_into_faint_tissue", lambda signal, fg: fg)
    box = F.foreground_box(gradient_film())
    assert box[1] > HAND_BOX[1] + 60  # the top of the frame lies well below the finger tips


def faint_tip_film(side_ramp: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 400 x 300 film whose palm and fingers' bones are far brighter (+140) than the finger tips' soft tissue
    (+22, the last 60 px of each finger): Otsu parts bone from tissue and drops the tips. The background
    brightens by `side_ramp` grey levels from left to right."""
    rng = np.random.default_rng(seed)
    img = 40.0 + side_ramp * np.linspace(0.0, 1.0, W)[None, :] + rng.normal(0, 3, (H, W))
    x0, y0, x1, y1 = HAND_BOX
    img[200:400, 100:200] += 140  # palm and forearm
    for k in range(4):
        img[y0 + 60:200, 100 + 27 * k:114 + 27 * k] += 140  # the fingers' bones and thick tissue
        img[y0:y0 + 60, 100 + 27 * k:114 + 27 * k] += 22  # their faint tips
    img[230:300, x0:100] += 140  # thumb
    img[150:200, 200:x1] += 140
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("side_ramp", [0.0, 30.0])
def test_faint_finger_tips_are_framed_and_without_growing_they_are_cut(monkeypatch, side_ramp):
    """Hand-built reference: the tips start at HAND_BOX's top. Growing into faint tissue reaches them, on a flat
    background and on one 30 levels brighter on the right (the level follows the side strips); switched off,
    Otsu's cut leaves them out, 60 px short."""
    img = faint_tip_film(side_ramp)
    np.testing.assert_allclose(F.foreground_box(img), HAND_BOX, atol=8)
    monkeypatch.setattr(F, "grow_into_faint_tissue", lambda signal, fg: fg)
    assert F.foreground_box(img)[1] > HAND_BOX[1] + 50


def test_growing_stays_off_noise_and_away_from_the_hand():
    """Pure noise next to the hand does not count as tissue, and a faint patch far from the hand is not reached."""
    img = faint_tip_film()
    patch = img.copy()
    patch[20:60, 240:290] = np.clip(patch[20:60, 240:290].astype(int) + 22, 0, 255)  # faint, but 20+ px away
    np.testing.assert_allclose(F.foreground_box(patch), HAND_BOX, atol=8)
    fg = np.zeros((128, 96), bool)
    fg[64:, 32:64] = True  # a bright hand on a flat background: nothing faint beside it, nothing added
    signal = np.where(fg, 180 / 255, 40 / 255).astype(np.float32)
    assert (F.grow_into_faint_tissue(signal, fg) == fg).all()


def test_background_trend_recovers_a_known_ramp_and_ignores_a_thumb_on_one_side():
    y = np.arange(256) / 255.0
    truth = 0.3 * y + 0.2 * (y - 0.5) ** 2  # a background rising by ~0.3 of the grey scale, slightly curved
    small = (0.2 + truth[:, None] + np.zeros((1, 180))).astype(np.float32)
    small[:, 90:] += 0.05  # the right side a little brighter: a constant per side, not a trend
    expect = truth - np.median(truth)
    np.testing.assert_allclose(F.background_trend(small)[:, 0], expect, atol=2e-3)
    touched = small.copy()
    touched[100:170, :40] += 0.4  # a thumb (or ruler) across the left strip over 70 rows
    touched[:20, -30:] = 0.0  # a blanked (black) corner at the top right
    np.testing.assert_allclose(F.background_trend(touched)[:, 0], expect, atol=2e-3)


def test_a_flat_background_frames_exactly_as_without_the_trend_step(monkeypatch):
    rng = np.random.default_rng(3)
    img = rng.normal(40, 6, (H, W))
    img[200:400, 100:200] = 150
    for k in range(4):
        img[60:200, 100 + 27 * k:114 + 27 * k] = 150
    img = np.clip(img, 0, 255).astype(np.uint8)
    frames = [F.frame_box(img, (160, 128)), F.frame_box(255 - img, (160, 128))]
    monkeypatch.setattr(F, "background_trend", lambda s: np.zeros((s.shape[0], 1), np.float32))
    before = [F.frame_box(img, (160, 128)), F.frame_box(255 - img, (160, 128))]
    for now, then in zip(frames, before):
        np.testing.assert_array_equal(now, then)
