"""Framing: crop a hand image to its foreground (with a margin) before it is resized for the localiser.

Why: a half of a bilateral radiograph (chapter 3's seam split) leaves a wide, uneven band of
background around the hand, while a single-hand film is usually framed tightly. Resized to the
model's input as they are, the same hand would come out at different sizes and places, and a
model trained on one kind sees a hand it never met in the other. Cropping both to the hand's
foreground, plus a fixed margin, widened to the model's aspect ratio, makes them look alike.
The same `frame_box` runs when hands are prepared for training (`hands.hands_of_radiograph`)
and at inference (`rheumabook.evaluate`), so nothing differs between the two.

How the foreground is found (`foreground_box`), robustly and in ~1 ms:

1. the image is shrunk to `WORK_SIZE` px on its long side (area interpolation) and blurred
   (Gaussian, sigma 2 work px), so noise, texture and text do not count;
2. the background's slow top-to-bottom trend is removed (`background_trend`): the heel effect
   and uneven processing make a film's background brighten towards one end (one real film's
   rises by ~15 grey levels from top to bottom), and one global threshold, set for the brighter
   end, then lies above the faint soft tissue of the finger tips at the other: the frame cuts
   the fingers off. The trend is read where only background lies, in the left and right border
   strips (a quadratic in the row, fitted robustly to the strips' row medians) and subtracted
   row by row. A trend flatter than `TREND_MIN` is noise and left alone, so a flat background
   frames exactly as without this step;
3. Otsu's threshold splits it into two classes; the class the image's top, left and right
   border strips mostly belong to is the background (so an inverted, MONOCHROME1-like image
   works too: the hand is whichever class is *not* at the border). Where bones and palm are far
   brighter than the thin soft tissue of the finger tips, Otsu parts the two and the tips fall
   into the background: on the development hands the frame cut the distal phalanges off 7 of 9
   real films, and the localiser, seeing shortened fingers, placed every joint too proximal.
   So the foreground then grows outwards into faint tissue (`grow_into_faint_tissue`): pixels
   clearly above the background level of their row, read near the side edges, up to
   `FAINT_REACH` of the long side away;
4. a morphological opening (`THIN` of the long side) removes thin things: collimation edges,
   ruler ticks, burnt-in text; bands lying along an image edge and thinner than `BAND` of the
   image are dropped as collimation or detector borders;
5. a closing (`MERGE` of the long side) joins the bones and soft tissue of one hand, and the
   largest connected blob is the hand; small separate blobs (side markers, plates) are ignored.

`frame_box` adds `FRAME_MARGIN` of the foreground's long side on every side that does not touch
the image's edge (the forearm leaves the film at the bottom) and widens the shorter side about
the centre to the model's aspect ratio (not slid back inside the image, so that the hand is
centred in every frame); where the box reaches past the image `crop_frame` pads with the
background level. Boxes are mapped exactly: a frame is an
integer pixel box (x0, y0, x1, y1) of the source image, `to_frame` / `from_frame` (from
`rheumabook.handview`, where a hand's whole mapping lives) are the affine maps between source pixels
and normalised (0..1) frame coordinates, and round trips are exact up to float rounding. An image with no foreground frames as a whole.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..boxes import ArrayLike
from ..handview import from_frame, to_frame

__all__ = ["FRAME_MARGIN", "WORK_SIZE", "resize_hand", "work_image", "background_trend", "border_pixels",
           "grow_into_faint_tissue", "otsu_foreground", "foreground_mask", "foreground_box",
           "frame_box", "full_frame", "crop_frame", "frame_hand", "to_frame", "from_frame"]

FRAME_MARGIN = 0.06
"""Margin added on each side of the foreground box, as a fraction of its long side."""
WORK_SIZE = 256
"""Long side (px) of the shrunken copy the foreground is found on."""
THIN, MERGE, BAND = 0.015, 0.06, 0.06
"""Opening size, closing size (fractions of the long side) and the widest edge band dropped (of the image)."""
TREND_STRIP, TREND_ITERATIONS = 0.03, 20
"""Width of the side strips the background trend is read from (fraction of the work image's long side), and the
reweighting steps of its least-absolute-deviations fit."""
TREND_MIN = 2 / 255
"""Peak-to-peak range (0..1 grey scale) below which a background trend counts as noise and is not removed."""
FAINT_SIGMAS, FAINT_MIN, FAINT_REACH = 4.0, 8 / 255, 0.2
"""Faint tissue (`grow_into_faint_tissue`): how far above the background's median a pixel must be, in robust
standard deviations of the background and at least FAINT_MIN (0..1 grey scale), and how far (fraction of the work
image's long side) the foreground may grow into such pixels."""


def _as_unit(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8/uint16 image as float32 in 0..1 (uint16 by its own maximum)."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a hand image must be 2-D uint8 or uint16, got shape {image.shape} dtype {image.dtype}")
    scale = 255.0 if image.dtype == np.uint8 else max(float(image.max()), 1.0)
    return image.astype(np.float32) / scale


def _drop_edge_bands(mask: np.ndarray) -> np.ndarray:
    """`mask` without connected parts that lie along an image edge and are thinner than BAND of the image."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.ones(n, bool)
    for i in range(1, n):
        x, y, bw, bh = stats[i, :4]
        along_x = (y == 0 or y + bh == h) and bw > 0.5 * w and bh < BAND * h
        along_y = (x == 0 or x + bw == w) and bh > 0.5 * h and bw < BAND * w
        keep[i] = not (along_x or along_y)
    keep[0] = False
    return keep[labels]


def background_trend(small: np.ndarray) -> np.ndarray:
    """The slow top-to-bottom trend of a work image's background, (H, 1) float32 with median 0; subtract it.

    small: the shrunken, blurred image (H, W) in 0..1. Each row's background level is read on
    both sides, as the median of the left and of the right border strip (`TREND_STRIP` of the
    long side wide): 2H samples. They are fitted by one quadratic in the row, a(y) = b1 y + b2 y^2
    (y in -1..1), plus a constant per side (a horizontal gradient or a collimation band along
    one side only shifts its side): first by least absolute deviations (`TREND_ITERATIONS` steps
    of iteratively reweighted least squares), then by least squares on the samples within 3
    robust standard deviations (1.4826 MAD, at least 1/255) of that fit. A thumb, ruler, marker
    or blanked corner touching a strip over some rows is an outlier of a smooth trend.
    The top and bottom strips are not used: burnt-in labels sit at the top, the forearm crosses
    the bottom (a column profile read from the top strip followed the labels and cut finger tips
    on phantom films). The trend a(y) less its median keeps the background's level; zeros when
    its range is below `TREND_MIN`, so a flat background is left exactly as it is.
    """
    h, w = small.shape
    strip = max(2, int(round(TREND_STRIP * max(h, w))))
    values = np.concatenate([np.median(small[:, :strip], axis=1), np.median(small[:, -strip:], axis=1)])
    y = np.linspace(-1.0, 1.0, h)
    side = np.repeat([0.0, 1.0], h)
    design = np.stack([1.0 - side, side, np.tile(y, 2), np.tile(y * y, 2)], axis=1)
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    for _ in range(TREND_ITERATIONS):  # least absolute deviations, by iteratively reweighted least squares
        root_weight = 1.0 / np.sqrt(np.maximum(np.abs(values - design @ coef), 1e-4))
        coef = np.linalg.lstsq(design * root_weight[:, None], values * root_weight, rcond=None)[0]
    residual = np.abs(values - design @ coef)
    keep = residual <= 3 * max(1.4826 * float(np.median(residual)), 1 / 255)
    coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]  # least squares on the samples kept
    rows = coef[2] * y + coef[3] * y * y
    rows = rows - np.median(rows)
    if float(rows.max() - rows.min()) < TREND_MIN:
        return np.zeros((h, 1), dtype=np.float32)
    return rows.astype(np.float32)[:, None]


def work_image(image: np.ndarray) -> np.ndarray:
    """The copy every foreground decision is made on: float32 0..1 (uint16 by its own maximum), shrunk to
    `WORK_SIZE` px on its long side (area interpolation; never enlarged) and blurred (sigma 2 px)."""
    x = _as_unit(image)
    h, w = x.shape
    f = WORK_SIZE / max(h, w)
    small = cv2.resize(x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA) if f < 1 else x
    return cv2.GaussianBlur(small, (0, 0), 2.0)


def border_pixels(mask: np.ndarray, inset: float = 0.0) -> np.ndarray:
    """The mask's top row and side columns (not the bottom, where the forearm leaves the film), on the edge
    (`inset` 0) or `inset` of the size in from it, past collimation bands and labels along the edges."""
    if inset <= 0:
        return np.concatenate([mask[0], mask[:, 0], mask[:, -1]])
    dy, dx = (max(1, round(inset * n)) for n in mask.shape)
    return np.concatenate([mask[dy, dx:-dx], mask[dy:, dx], mask[dy:, -dx - 1]])


def _row_levels(strip: np.ndarray, fg: np.ndarray, window: int = 9) -> np.ndarray | None:
    """Per row, the median of a (H, k) strip's pixels outside `fg`, filled across rows with none (a thumb or the
    forearm crossing the strip) and smoothed by a running median of `window` rows; None if no row has any."""
    values = np.where(fg, np.nan, strip)
    has = (~fg).any(axis=1)
    if not has.any():
        return None
    rows = np.full(strip.shape[0], np.nan, dtype=np.float32)
    rows[has] = np.nanmedian(values[has], axis=1)
    index = np.arange(rows.size)
    rows = np.interp(index, index[has], rows[has]).astype(np.float32)
    padded = np.pad(rows, window // 2, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1).astype(np.float32)


def grow_into_faint_tissue(signal: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """`fg` grown into the faint pixels next to it: those `FAINT_SIGMAS` robust standard deviations (1.4826 MAD,
    at least `FAINT_MIN`) above the background, up to `FAINT_REACH` of the long side away. The background's level
    in each row runs straight from that row's level in a strip near the left edge (`TREND_STRIP` wide and as far
    in, past thin bands along the edge; the median outside `fg`, `_row_levels`) to the right one's; its noise is
    read on those strips.

    Why: Otsu's threshold splits the histogram where the two classes part, and on a film whose palm and bones
    are much brighter than the thin soft tissue of the finger tips it parts between the two: the finger tips
    fall into the background and the frame cuts them off (a real film with a grey background lost the distal
    phalanges of three fingers this way). Growing only outwards from Otsu's foreground, a step at a time, keeps
    faint noise or a band far from the hand out. signal: the trend-free work image with the hand bright.
    """
    h, w = fg.shape
    strip = max(2, int(round(TREND_STRIP * max(h, w))))
    inner = (slice(strip, 2 * strip), slice(-2 * strip, -strip))  # one strip in: past thin bands along the edges
    left, right = (_row_levels(signal[:, cols], fg[:, cols]) for cols in inner)
    if left is None or right is None or not fg.any():
        return fg
    # the background's level in each row: a straight line from the left strip's level to the right one's (a film
    # may brighten from top to bottom and from side to side); its noise from the strips' residuals
    level = left[:, None] + (right - left)[:, None] * np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    residual = np.concatenate([(signal - level)[:, cols][~fg[:, cols]] for cols in inner])
    spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    faint = signal - level > max(FAINT_SIGMAS * spread, FAINT_MIN)
    grown = fg.astype(np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for _ in range(max(1, int(round(FAINT_REACH * max(fg.shape))))):
        step = cv2.dilate(grown, cross) & faint
        if not (step & ~grown.astype(bool)).any():
            break
        grown = grown | step
    return grown.astype(bool)


def otsu_foreground(small: np.ndarray, *, border_inset: float = 0.0) -> np.ndarray:
    """The foreground of a `work_image`: its background trend removed (`background_trend`), Otsu's threshold,
    and the class that holds most of the border (`border_pixels` at `border_inset`) called background, so
    an inverted display works too; then grown into the faint tissue beside it (`grow_into_faint_tissue`). The one
    detector: framing cleans it up to the hand (`foreground_mask`); the pipeline's input checks (`pipeline.checks`)
    weigh it on each side of the seam."""
    small = small - background_trend(small)
    u8 = np.clip(np.rint(small * 255), 0, 255).astype(np.uint8)
    _, fg = cv2.threshold(u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = fg.astype(bool)
    inverted = border_pixels(fg, border_inset).mean() > 0.5  # the border is mostly "bright": the hand is the dark class
    if inverted:
        fg = ~fg
    return grow_into_faint_tissue(1.0 - small if inverted else small, fg)


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """Boolean mask of the hand at work resolution (long side `WORK_SIZE`); see the module docstring."""
    fg = otsu_foreground(work_image(image))
    side = max(fg.shape)
    k = max(3, int(round(THIN * side)) | 1)
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    fg = _drop_edge_bands(fg.astype(bool))
    k = max(3, int(round(MERGE * side)) | 1)
    merged = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    if n < 2:
        return np.zeros_like(fg)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == largest) & fg


def resize_hand(image: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D hand image to `input_size` (height, width) as uint8 (area interpolation).

    uint16 images are scaled by their own maximum first, so 12-bit films keep all 256 levels.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"a hand image must be 2-D (y, x), got shape {image.shape}")
    if image.dtype == np.uint16:
        image = image.astype(np.float32) * (255.0 / max(float(image.max()), 1.0))
    elif image.dtype != np.uint8:
        raise ValueError(f"a hand image must be uint8 or uint16, got {image.dtype}")
    out = cv2.resize(image, (int(input_size[1]), int(input_size[0])), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if out.dtype != np.uint8 else out


def full_frame(image_shape: tuple[int, int]) -> np.ndarray:
    """The frame that keeps the whole image: (0, 0, width, height)."""
    return np.array([0, 0, int(image_shape[1]), int(image_shape[0])], dtype=np.int64)


def foreground_box(image: np.ndarray) -> np.ndarray:
    """Integer pixel box (x0, y0, x1, y1) around the hand's foreground (`foreground_mask`); the whole image if none."""
    mask = foreground_mask(image)
    h, w = np.asarray(image).shape
    if not mask.any():
        return full_frame((h, w))
    ys, xs = np.nonzero(mask)
    fy, fx = h / mask.shape[0], w / mask.shape[1]
    box = np.array([xs.min() * fx, ys.min() * fy, (xs.max() + 1) * fx, (ys.max() + 1) * fy])
    return np.array([np.floor(box[0]), np.floor(box[1]), np.ceil(box[2]), np.ceil(box[3])], dtype=np.int64)


def frame_box(image: np.ndarray, input_size: tuple[int, int], *, margin: float = FRAME_MARGIN) -> np.ndarray:
    """The frame of a hand image: its foreground box, `margin` of its long side added on each side that does not
    touch the image's edge (a forearm cut by the film's edge has nothing beyond it), the short side widened to
    the aspect of `input_size` (H, W) about the centre (never slid: the hand stays centred, however much
    background its film has). Integer pixels; it may reach past the image (`crop_frame` pads)."""
    h_img, w_img = np.asarray(image).shape
    box = foreground_box(image).astype(float)
    x0, y0, x1, y1 = box
    pad = margin * max(x1 - x0, y1 - y0)
    edge = 0.01 * max(h_img, w_img)
    x0 = x0 - pad if x0 > edge else x0
    y0 = y0 - pad if y0 > edge else y0
    x1 = x1 + pad if x1 < w_img - edge else x1
    y1 = y1 + pad if y1 < h_img - edge else y1
    aspect = input_size[0] / input_size[1]  # H / W
    w, h = x1 - x0, y1 - y0
    if h / w < aspect:  # grow the short side about the centre: the hand sits in the middle of every frame
        grow = (w * aspect - h) / 2
        y0, y1 = y0 - grow, y1 + grow
    else:
        grow = (h / aspect - w) / 2
        x0, x1 = x0 - grow, x1 + grow
    return np.array([np.floor(x0), np.floor(y0), np.ceil(x1), np.ceil(y1)], dtype=np.int64)


def crop_frame(image: np.ndarray, frame: ArrayLike) -> np.ndarray:
    """The pixels of `frame` (x0, y0, x1, y1) of a 2-D image; parts past the image are filled with its background
    level (the median of the pixels outside the foreground, or of the whole image)."""
    image = np.asarray(image)
    x0, y0, x1, y1 = (int(v) for v in np.asarray(frame))
    h, w = image.shape
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return image[y0:y1, x0:x1]
    mask = foreground_mask(image)
    small = cv2.resize(image, mask.shape[::-1], interpolation=cv2.INTER_AREA)
    fill = np.median(small[~mask]) if (~mask).any() else np.median(small)
    out = np.full((y1 - y0, x1 - x0), fill, dtype=image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def frame_hand(image: np.ndarray, input_size: tuple[int, int], *, framing: bool = True,
               margin: float = FRAME_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image at `input_size` (H, W), frame): the hand framed (`frame_box`, or the whole image when
    `framing` is False) and resized with area interpolation (`resize_hand`)."""
    frame = frame_box(image, input_size, margin=margin) if framing else full_frame(np.asarray(image).shape)
    return resize_hand(np.ascontiguousarray(crop_frame(image, frame)), input_size), frame
