"""Image formation of the phantom: path lengths (mm) -> attenuation -> log exposure -> display, blur, noise.

The steps, in the order `expose` applies them (chapter 1 shows each one, `stages=True`):

1. **Attenuation.** ``A = mu_soft t_soft + mu_cortex (t_outer - t_inner) + mu_medulla tex t_inner``
   (mm times 1/mm, the exponent of Beer-Lambert's ``I = I0 exp(-sum mu_i t_i)``), with the path
   lengths of `thickness`. ``tex`` is the trabecular texture of the medulla (1 +- ~10 %). The
   attenuation coefficients are effective values for a ~50 kVp hand exposure (cortical bone
   ~0.26/mm, trabecular bone and marrow ~0.07/mm, soft tissue ~0.045/mm, scaled by the draw's
   ``kv``: a softer beam gives more contrast; the soft tissue by ``soft`` too, its water and fat
   content varies). Erosion defects remove bone (``keep``), subchondral
   sclerosis adds cortex, periarticular osteopenia thins the medulla (`damage`).
2. **Log exposure.** The detector records ``I``; the processed image shows ``-log(I / I0)``, i.e.
   ``A`` itself, plus ``-log(I0(y) / I0)``: the heel effect makes the beam weaker towards the
   anode, a gradient from top to bottom.
3. **Display.** A window ``(A / A_ref - lo) / (hi - lo)`` and a gamma: background dark, bone
   bright (MONOCHROME2); a gain field (a smooth mottle along rows and columns).
4. **Detector blur** (Gaussian, sigma 0.1 mm) and **quantum noise**: the photon count behind
   the hand is ``N0 exp(-A)``, so the noise of the log image grows like ``exp(A / 2)``: bone is
   noisier than background; a larger pixel collects more photons (std ~ 1 / pixel spacing).
5. **Collimation**: the collimator's shadow, bright bands with a soft edge along some image edges.

Side markers, the label and the ruler (`markers`) are burnt in after this; `raster._quantise`
rounds to 8 or 12 bits, blurs by the detector's 3x3 kernel and inverts for MONOCHROME1.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

__all__ = ["MU", "A_REF", "attenuation", "expose"]

MU = {"cortex": 0.26, "medulla": 0.07, "soft": 0.045}
"""Effective attenuation coefficients (1/mm) at the reference beam quality (kv = 1)."""
A_REF = 3.0
"""Attenuation shown as white by a window with hi = 1 (a little more than a metacarpal head under the palm)."""
_A_NOISE = 2.0
"""Attenuation at which the noise has std ``noise_sigma`` (about a shaft under the palm)."""
_TEXTURE = 0.10  # relative std of the medulla's trabecular texture
_BLUR_MM = 0.1  # detector blur (Gaussian sigma)
_PSF = cv2.getGaussianKernel(3, 0.6).ravel()  # the final 3x3 detector blur (raster._quantise)
_NOISE_PER_BYTE = 1.0 / (73.9 * float(np.sum(_PSF**2)))  # uniform bytes have std 73.9; the blur shrinks it
_NOISE_SPACING_MM = 0.176
"""Pixel spacing at which ``noise_sigma`` holds; larger pixels collect more photons (std ~ 1 / spacing)."""


def attenuation(outer: np.ndarray, inner: np.ndarray, soft: np.ndarray, extra: dict, d: dict) -> np.ndarray:
    """The attenuation image A (float32 (H, W)) from full-grid path lengths and the soft tissue (full grid).

    outer, inner: bone paths (mm); soft: soft-tissue path (mm); extra: "keep" (uint8, 255 = bone kept,
    or None), "sclerosis" (mm of added cortex, float32 or None), "osteopenia" (uint8 share of the
    medulla removed x 255, or None); d: the draws (``physics`` kv, ``noise`` texture). `outer` is
    used as the output buffer.
    """
    H, W = outer.shape
    kv = d["physics"]["kv"]
    mu_c, mu_m, mu_s = MU["cortex"] * kv, MU["medulla"] * kv, MU["soft"] * kv * d["physics"]["soft"]
    tex = cv2.GaussianBlur(d["noise"]["texture"], (0, 0), 1.0)  # half resolution, 127.5 +- ~21
    tex = cv2.resize(tex, (W, H), interpolation=cv2.INTER_LINEAR)
    # medulla coefficient: mu_m (1 +- _TEXTURE), as float32 from the uint8 texture
    gain = mu_m * _TEXTURE / 21.0
    mu_inner = tex.astype(np.float32)
    mu_inner *= gain
    mu_inner += mu_m - 127.5 * gain - mu_c  # the medulla replaces cortex inside the inner surface
    if extra.get("osteopenia") is not None:
        mu_inner -= extra["osteopenia"].astype(np.float32) * (mu_m / 255.0)
    a = outer
    if extra.get("sclerosis") is not None:
        a += extra["sclerosis"]
    a *= mu_c
    mu_inner *= inner
    a += mu_inner
    if extra.get("keep") is not None:
        cv2.multiply(a, extra["keep"], dst=a, scale=1.0 / 255.0, dtype=cv2.CV_32F)
    a += mu_s * soft
    return a


def expose(a: np.ndarray, d: dict, spacing: float, nfac: float, stages: Optional[dict] = None) -> np.ndarray:
    """Attenuation A (float32 (H, W), modified) -> the displayed float32 image in about [0, 1], with noise.

    stages: a dict that receives copies of the intermediate images ("attenuation", "log_exposure"
    (with the heel effect), "display" (window, gain, gamma), "blur", "noise", "collimation"), or None.
    """
    H, W = a.shape
    ex, nz, ph = d["exposure"], d["noise"], d["physics"]

    def keep(name: str, img: np.ndarray) -> None:
        if stages is not None:
            stages[name] = img.copy()

    keep("attenuation", a)
    # heel effect: the beam is weaker towards the anode; the log image gains -log(I0(y) / I0)
    heel = -np.log1p(ex["heel"] * np.linspace(-0.5, 0.5, H, dtype=np.float32)).astype(np.float32)
    a += heel[:, None]
    keep("log_exposure", a)
    noise_gain = None
    if nfac > 0:  # quantum noise of the log image ~ exp(A / 2), evaluated before the window
        noise_gain = cv2.exp((a - np.float32(_A_NOISE)) * np.float32(0.5))
    lo, hi = ex["window_lo"] - ph["background"], ex["window_hi"]  # some films show the background grey
    y = a
    y *= 1.0 / (A_REF * ph["a_ref"] * (hi - lo))
    y -= lo / (hi - lo)
    rows = 1.0 + nfac * ex["mottle"] * nz["mottle_y"]
    y *= rows[:, None]
    y *= (1.0 + nfac * ex["mottle"] * nz["mottle_x"])[None, :]
    np.clip(y, 1e-4, 1.0, out=y)
    cv2.pow(y, ex["gamma"], dst=y)
    keep("display", y)
    sigma_px = _BLUR_MM / spacing
    if sigma_px >= 0.35:
        y = cv2.GaussianBlur(y, (0, 0), sigma_px)
    keep("blur", y)
    if noise_gain is not None:
        fine = nz["fine"].astype(np.float32)
        fine -= 127.5
        fine *= nfac * ex["noise_sigma"] * _NOISE_PER_BYTE * min(1.0, _NOISE_SPACING_MM / spacing)
        fine *= noise_gain
        y += fine
    keep("noise", y)
    _collimate(y, ph["collimation"], spacing)
    keep("collimation", y)
    return y


def _collimate(y: np.ndarray, coll: dict, spacing: float) -> None:
    """Bright bands (the collimator's shadow, level `coll["level"]`) along the edges in `coll["mm"]`, in place.

    coll["mm"]: (top, bottom, left, right) band widths in mm (0 = none); the edge is soft (0.6 mm).
    """
    widths = coll["mm"]
    if not any(w > 0 for w in widths):
        return
    H, W = y.shape
    pen = 0.6 / spacing

    def ramp(n: int, first: float, last: float) -> np.ndarray:
        i = np.arange(n, dtype=np.float32) + 0.5
        r = np.zeros(n, np.float32)
        if first > 0:
            r = np.maximum(r, np.clip((first / spacing - i) / pen + 0.5, 0.0, 1.0))
        if last > 0:
            r = np.maximum(r, np.clip((i - (n - last / spacing)) / pen + 0.5, 0.0, 1.0))
        return r

    ry, rx = ramp(H, widths[0], widths[1]), ramp(W, widths[2], widths[3])
    rows = ry > 0  # only the bands are touched: whole rows at the top/bottom, then columns at the sides
    if rows.any():
        band = np.maximum(ry[rows, None], rx[None, :])
        y[rows] = y[rows] * (1.0 - band) + coll["level"] * band
    cols = rx > 0
    if cols.any():
        band = rx[None, cols]
        sub = y[~rows][:, cols]
        y[np.ix_(~rows, cols)] = sub * (1.0 - band) + coll["level"] * band
