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


def test_without_the_trend_step_the_fingers_are_cut(monkeypatch):
    """The test above needs the step: switched off (the framing before it), the fingers fall below Otsu's cut."""
    monkeypatch.setattr(F, "background_trend", lambda small: np.zeros((small.shape[0], 1), np.float32))
    box = F.foreground_box(gradient_film())
    assert box[1] > HAND_BOX[1] + 60  # the top of the frame lies well below the finger tips


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
