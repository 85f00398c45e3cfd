"""The seam's energy: input checks, opening + CLAHE, and the blurred Sobel magnitude (paper §3.2).

1. `as_grayscale`       checks the input (2-D uint8/uint16; RGB/RGBA converted with a warning).
2. `open_and_equalize`  morphological opening (square element) + CLAHE (OpenCV), same dtype out.
3. `gradient_energy`    energy = L2 magnitude of the 3x3 Sobel gradient of the preprocessed
                        image (scaled to 0..1 by the dtype's maximum) after a blur (so the
                        gradient is measured at the scale of the hand's edge, not of the
                        pixel noise), itself blurred (so the seam runs down the *middle* of a
                        background gap instead of hugging one hand's edge).
4. `seam_energy`        steps 2-3 together with a `SeamConfig`, for radiographs wider than
                        `SeamConfig.work_width` on a shrunk copy whose energy is resized back
                        (the energy is smooth anyway).

Kernel widths are in pixels of the image they are applied to: None = the `default_*`
size for its width, 0 or 1 = off, anything else rounded up to odd.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Optional

import cv2
import numpy as np

from .config import SeamConfig

__all__ = [
    "as_grayscale", "default_opening", "default_presmooth", "default_smooth",
    "open_and_equalize", "gradient_energy", "seam_energy",
]


# ----------------------------------------------------------------------------- input checks


def as_grayscale(image: np.ndarray) -> np.ndarray:
    """The 2-D uint8/uint16 (y, x) array `image` stands for, or a ValueError saying what is wrong.

    RGB (H, W, 3) and RGBA (H, W, 4) inputs are converted to grayscale (ITU-R BT.601
    luma, OpenCV) with a warning; (H, W, 1) is squeezed. Floats and booleans are
    refused: their intensity scale is unknown, so the caller must convert explicitly.
    """
    image = np.asarray(image)
    if image.dtype == bool or np.issubdtype(image.dtype, np.floating) or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            f"image dtype {image.dtype} is not supported: expected uint8 or uint16 grayscale. Convert first, "
            "e.g. (img * 255).round().astype(np.uint8) for floats in 0..1, img.astype(np.uint16) for integers "
            "in 0..65535."
        )
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); expected a 2-D grayscale radiograph")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        warnings.warn(
            f"image has shape {image.shape} (RGB{'A' if image.shape[2] == 4 else ''}); converting it to grayscale "
            "(BT.601 luma). Pass a 2-D array to silence this warning.",
            stacklevel=3,
        )
        image = cv2.cvtColor(np.ascontiguousarray(image), code)
    if image.ndim != 2:
        raise ValueError(
            f"image must be 2-D (y, x) grayscale, or (y, x, 3|4) RGB(A) to convert; got shape {image.shape}"
        )
    return np.ascontiguousarray(image)


def _check_columns(columns: Optional[tuple[int, int]], width: int) -> tuple[int, int]:
    """The band (x0, x1) as ints with 0 <= x0 < x1 <= width (None = all columns), or a ValueError."""
    x0, x1 = (0, width) if columns is None else (int(columns[0]), int(columns[1]))
    if not 0 <= x0 < x1 <= width:
        raise ValueError(f"columns must satisfy 0 <= x0 < x1 <= width={width}, got {columns}")
    return x0, x1


# ----------------------------------------------------------------------------- kernel sizes


def _odd(value: float) -> int:
    """`value` rounded half up, then up to odd, at least 3 (kernel widths; used by the `default_*` sizes)."""
    k = max(3, int(np.floor(value + 0.5)))
    return k if k % 2 else k + 1


def default_opening(width: int) -> int:
    """Auto side (pixels, odd) of the opening's square element: about 1/128 of the width (17 px at 2048)."""
    return _odd(width / 128)


def default_presmooth(width: int) -> int:
    """Auto width (pixels, odd) of the blur before the gradient: about 1/50 of the width (41 px at 2048)."""
    return _odd(width / 50)


def default_smooth(width: int) -> int:
    """Auto width (pixels, odd) of the blur of the gradient magnitude: about 1/32 of the width (65 px at 2048)."""
    return _odd(width / 32)


def _kernel_width(value: Optional[int], auto: int, name: str) -> int:
    """A blur/element width: None -> `auto`, 0 or 1 -> 1 (off), else an odd int; used by the functions below."""
    if value is None:
        return auto
    if value < 0:
        raise ValueError(f"{name} must be >= 0 pixels (0 = off, None = auto), got {value}")
    value = int(value)
    return max(1, value if value % 2 else value + 1)


def _scaled_width(k: int, scale: float) -> int:
    """A kernel width `k` (radiograph pixels) at `scale`: 1 stays 1 (off), others odd and >= 3 (`seam_energy`)."""
    if k <= 1 or scale == 1.0:
        return k
    return _odd(k * scale)


@contextmanager
def _opencv_single_thread():
    """Run OpenCV filters on one thread, then restore its thread count.

    The seam must be bit-reproducible (reviewers re-run chapters 3 and 4), and a seam
    computed under heavy CPU load once differed from the same call on a quiet machine;
    one thread rules out any dependence on how OpenCV splits the work. The split still
    takes well under 0.2 s at 2048 px on one core (benchmarks/bench_seam.py).
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


# ----------------------------------------------------------------------------- preprocessing (paper §3.2)


def open_and_equalize(
    image: np.ndarray,
    *,
    opening: Optional[int] = None,
    clahe: bool = True,
    clip_limit: float = 2.0,
    tiles: int = 8,
) -> np.ndarray:
    """Morphological opening, then CLAHE: the preprocessing of paper §3.2.

    image: 2-D uint8 or uint16 (y, x) (RGB/RGBA converted with a warning).
    opening: side in pixels of the square structuring element; None = `default_opening`
        (about 1/128 of the width), 0 = no opening. Opening (erosion then dilation) removes
        bright specks smaller than the element -- background noise -- and keeps the hands,
        which are far wider. A square element is separable, so this costs a few ms even
        at 2048 px (a disk of the same size gives nearly the same opening at ~15x the cost).
    clahe: apply contrast-limited adaptive histogram equalisation (OpenCV) with
        `clip_limit` and a `tiles` x `tiles` grid; it steepens the faint soft-tissue edge of
        the hand against the background -- and, without the opening, the background noise too.
    Returns an array of the input's shape and dtype (uint8 in -> uint8 out, uint16 -> uint16).
    """
    image = as_grayscale(image)
    opening = _kernel_width(opening, default_opening(image.shape[1]), "opening")
    out = image
    if opening > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (opening, opening))
        out = cv2.morphologyEx(out, cv2.MORPH_OPEN, kernel)
    if clahe:
        if clip_limit <= 0 or tiles < 1:
            raise ValueError(f"CLAHE needs clip_limit > 0 and tiles >= 1, got clip_limit={clip_limit}, tiles={tiles}")
        out = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles))).apply(out)
    return out


def gradient_energy(
    image: np.ndarray,
    *,
    presmooth: Optional[int] = None,
    smooth: Optional[int] = None,
    columns: Optional[tuple[int, int]] = None,
) -> np.ndarray:
    """Seam energy of a (preprocessed) image: the blurred magnitude of a smoothed Sobel gradient, float32 (y, x).

    E = blur_s(sqrt(Gx^2 + Gy^2)), with Gx, Gy the 3x3 Sobel derivatives of blur_p(image / dtype max).
    - `presmooth` (blur_p, kernel width in pixels, None = `default_presmooth`, 0 = off): the
      gradient is taken at the scale of the soft-tissue edge, not of the pixel noise. Pixel
      noise has large 3x3 gradients everywhere; after this blur they are small, while the
      hand's edge, a few millimetres wide, keeps most of its gradient.
    - `smooth` (blur_s, None = `default_smooth`, 0 = off): spreads each edge's energy sideways,
      so inside a background gap the energy is lowest farthest from both hands and the seam
      keeps its distance from them instead of hugging one hand's outline.
    Both blurs are OpenCV stack blurs (fast Gaussian approximations, cost independent of the
    width). Dividing by the dtype's maximum puts uint8 and uint16 energies on the same scale.
    columns: (x0, x1) to compute only those columns (the seam's band); the filters still
        see a margin around them, so the result equals the full map's columns x0:x1.
    """
    image = as_grayscale(image)
    width = image.shape[1]
    presmooth = _kernel_width(presmooth, default_presmooth(width), "presmooth")
    smooth = _kernel_width(smooth, default_smooth(width), "smooth")
    x0, x1 = _check_columns(columns, width)
    margin = presmooth // 2 + smooth // 2 + 2  # what the two blurs and the Sobel read beyond x0:x1
    lo, hi = max(0, x0 - margin), min(width, x1 + margin)
    crop = image[:, lo:hi].astype(np.float32) * np.float32(1.0 / np.iinfo(image.dtype).max)
    with _opencv_single_thread():
        if presmooth > 1:
            crop = cv2.stackBlur(crop, (presmooth, presmooth))
        gx = cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3)
        energy = np.sqrt(gx * gx + gy * gy)
        if smooth > 1:
            energy = cv2.stackBlur(energy, (smooth, smooth))
    return np.ascontiguousarray(energy[:, x0 - lo : x1 - lo])


def seam_energy(
    image: np.ndarray,
    *,
    columns: Optional[tuple[int, int]] = None,
    config: SeamConfig = SeamConfig(),
) -> np.ndarray:
    """The energy the seam minimises: `open_and_equalize` then `gradient_energy`, float32 (H, x1 - x0).

    image: 2-D uint8/uint16 radiograph (y, x). columns: (x0, x1), the band to return (default all).
    config: the `SeamConfig` whose opening, clahe, clip_limit, tiles, presmooth, smooth and
        work_width make the energy (its band and fill are `split_hands`' business). Kernel
        widths are in pixels OF THE RADIOGRAPH.
    A radiograph wider than `config.work_width` is first shrunk to that width (area
    averaging), its energy computed there with the kernels scaled alike, and the energy map
    resized back (bilinear) to the radiograph's pixels. The energy is blurred over ~W/32
    pixels anyway, so nothing the seam needs is lost, and a 2048-px split costs a quarter of
    the filtering. The seam itself is always searched at full resolution, one x per row.
    """
    image = as_grayscale(image)
    width = image.shape[1]
    x0, x1 = _check_columns(columns, width)
    opening = _kernel_width(config.opening, default_opening(width), "opening")
    presmooth = _kernel_width(config.presmooth, default_presmooth(width), "presmooth")
    smooth = _kernel_width(config.smooth, default_smooth(width), "smooth")
    clahe = dict(clahe=config.clahe, clip_limit=config.clip_limit, tiles=config.tiles)
    if config.work_width is None or width <= config.work_width:
        pre = open_and_equalize(image, opening=opening, **clahe)
        return gradient_energy(pre, presmooth=presmooth, smooth=smooth, columns=(x0, x1))
    return _energy_at_work_width(image, (x0, x1), config.work_width / width, (opening, presmooth, smooth), clahe)


def _energy_at_work_width(image: np.ndarray, columns: tuple[int, int], scale: float,
                          kernels: tuple[int, int, int], clahe: dict) -> np.ndarray:
    """`seam_energy` of a wide radiograph: computed on a copy shrunk by `scale`, resized back to the band.

    kernels: the (opening, presmooth, smooth) widths in radiograph pixels; clahe: the
    keywords of `open_and_equalize`. Returns float32 (H, x1 - x0) in radiograph pixels.
    """
    height, width = image.shape
    x0, x1 = columns
    opening, presmooth, smooth = kernels
    small = cv2.resize(image, (int(round(width * scale)), max(1, int(round(height * scale)))),
                       interpolation=cv2.INTER_AREA)
    pre = open_and_equalize(small, opening=_scaled_width(opening, scale), **clahe)
    sx, sy = small.shape[1] / width, small.shape[0] / height  # exact factors after rounding the size
    a = max(0, int(np.floor(x0 * sx)) - 2)  # the small image's columns that cover the band, with a margin
    b = min(small.shape[1], int(np.ceil(x1 * sx)) + 2)
    strip = gradient_energy(pre, presmooth=_scaled_width(presmooth, scale), smooth=_scaled_width(smooth, scale),
                            columns=(a, b))
    # Back to radiograph pixels (bilinear, pixel centres aligned as in cv2.resize): the band's
    # pixel (x, y) reads the strip at ((x0 + x + 0.5) * sx - 0.5 - a, (y + 0.5) * sy - 0.5).
    to_strip = np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5 - a], [0.0, sy, 0.5 * sy - 0.5]])
    return cv2.warpAffine(strip, to_strip, (x1 - x0, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
