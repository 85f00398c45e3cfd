"""Path lengths (mm) of the X-ray beam through bone and soft tissue: the 2.5-D model of the phantom.

A PA radiograph shows, per pixel, how much matter the beam crossed. The phantom computes that
matter as thickness maps, one full-resolution float32 image each for the path through a bone's
outer surface (``outer``) and through its medullary cavity (``inner``), and one coarse map of the
soft tissue. The cortex path is ``outer - inner``.

* **Long bones are tubes** (`add_long_bone`): at every station ``u`` along its axis a bone's cross
  section is an ellipse of half-width ``h(u)`` across the image and ``kappa * h(u)`` in depth, with
  a cortex shell around the medulla, so the path across the shaft at distance ``v`` from the axis
  is the chord ``2 kappa sqrt(h(u)^2 - v^2)``, and the medulla's the same with the inner
  half-width ``h(u) - cortex(u)``. The half-width narrows to a waist and flares towards both ends
  (smoothstep over `FLARE` of the length); the cortex is thickest at mid-shaft and thins to the
  subchondral plate under the joint surfaces. The ends are the parabolic caps of
  `outline.bone_outline` (convex heads, concave bases, the bicondylar notch of the phalangeal
  heads and the matching ridge of the next base, JSN extensions); near a cap the path falls to 0
  like an ellipsoid's, ``sqrt(e (2 rho - e)) / rho`` at depth ``e`` below the surface.
* **Compact bones are ellipsoids** (`add_compact_bone`): carpals, sesamoids, the pisiform, the
  distal radius and ulna are outlines; their path is ``2 kappa sqrt(d (2R - d))`` from the
  distance ``d`` to the outline (a distance transform) and the local half-width ``R`` (the ridge of
  the distance map), and the medulla's the same one cortex thickness further in. Overlapping
  bones add, as in a projection.
* **Soft tissue** (`soft_tissue_thickness`): the hand's outline, drawn on a <= 1 mm grid, its
  distance transform ``d`` gives a rounded profile: a finger is a cylinder as wide as it is
  deep, ``2 sqrt(d (2R - d))`` with R its local half-width, and the palm, thenar and forearm
  thicken slowly beyond a finger's half-thickness.

Every function is vectorised numpy/OpenCV over the bone's bounding box only. Pixel coordinates
use pixel edges (pixel i spans [i, i+1]); a pixel is sampled at its centre i + 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .outline import normal_of

__all__ = ["FLARE", "LongBone", "add_long_bone", "add_compact_bone", "soft_tissue_thickness"]

FLARE = 0.24
"""Share of a long bone's length over which each end flares from the waist to the end's width."""
_PHYSIS_HALF_MM = 0.45  # half-width of an open growth plate
_SOFT_RF_MM = 8.5  # half-thickness of a finger's soft tissue (the rounded part of the profile)
_SOFT_SLOPE = 0.5  # beyond it the tissue thickens by this much per mm further in (palm, forearm)
_SOFT_MAX_MM = 42.0


@dataclass(frozen=True)
class LongBone:
    """A tubular bone in the hand frame (mm): base centre `origin`, unit `axis` towards its head.

    length: base to head along the axis; hb/hs/hh: half-widths at the base, the waist and the head;
    cb/ch: curvature of the base's concave and the head's convex cap (u = -c v^2); ext_b/ext_h:
    (mean, slope across the end) by which JSN grows the caps into the joint space; notch_b/notch_h:
    depth of the bicondylar notch of the head and the matching ridge of the base; cortex/cortex_end:
    cortex at mid-shaft and under the joint surfaces; tip_cortex: the shell under a tuft (distal
    phalanx); kappa: depth / width of the cross-section; physis_b/physis_h: an open growth plate
    (a lucent band ~0.8 mm wide) this far from the base/head surface (0 = closed); name: e.g.
    "proximal phalanx 3".
    """

    origin: np.ndarray
    axis: np.ndarray
    length: float
    hb: float
    hs: float
    hh: float
    cb: float
    ch: float
    ext_b: tuple = (0.0, 0.0)
    ext_h: tuple = (0.0, 0.0)
    notch_b: float = 0.0
    notch_h: float = 0.0
    cortex: float = 1.5
    cortex_end: float = 0.5
    tip_cortex: float = 0.0
    kappa: float = 0.85
    physis_b: float = 0.0
    physis_h: float = 0.0
    name: str = ""


def _roi(pts_px: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int] | None:
    """Integer pixel box (x0, y0, x1, y1) around points, padded and clipped to the image; None if empty."""
    H, W = shape
    x0, y0 = np.floor(pts_px.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(pts_px.max(axis=0) + pad).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    return None if x1 <= x0 or y1 <= y0 else (int(x0), int(y0), int(x1), int(y1))


def _smooth(t: np.ndarray) -> np.ndarray:
    """Smoothstep of t clipped to [0, 1]."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rounding(e: np.ndarray, rho: float) -> np.ndarray:
    """Ellipsoidal fall-off (squared) of the path at depth e below an end surface: t (2 - t), t = e / rho in [0, 1]."""
    t = np.clip(e * (1.0 / max(rho, 1e-3)), 0.0, 1.0)
    return t * (2.0 - t)


def add_long_bone(outer: np.ndarray, inner: np.ndarray, b: LongBone, m: np.ndarray, origin: np.ndarray,
                  outline_px: np.ndarray) -> None:
    """Add one tubular bone's paths (mm) to the `outer` and `inner` (H, W) float32 maps, in place.

    m, origin: the hand frame -> pixel map (p_px = m @ p + origin); outline_px: the bone's outline in
    pixels (its bounding box is where the bone is computed).
    """
    box = _roi(outline_px, outer.shape, 2.0)
    if box is None:
        return
    x0, y0, x1, y1 = box
    minv = np.linalg.inv(m)
    d, n = b.axis, normal_of(b.axis)
    gu, gv = minv.T @ d, minv.T @ n  # u and v are affine in the pixel coordinates
    cu = -float(gu @ origin) - float(d @ b.origin)
    cv = -float(gv @ origin) - float(n @ b.origin)
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5
    ys = np.arange(y0, y1, dtype=np.float32) + 0.5
    u = np.float32(gu[0]) * xs[None, :] + (np.float32(gu[1]) * ys + np.float32(cu))[:, None]
    v = np.float32(gv[0]) * xs[None, :] + (np.float32(gv[1]) * ys + np.float32(cv))[:, None]
    t_o, t_i = _tube(u, v, b)
    outer[y0:y1, x0:x1] += t_o
    inner[y0:y1, x0:x1] += t_i


def _tube(u: np.ndarray, v: np.ndarray, b: LongBone) -> tuple[np.ndarray, np.ndarray]:
    """Outer and medullary path (mm) of a tube at local coordinates u (along), v (across), both (h, w)."""
    v2 = v * v
    nb = np.square(np.clip(1.0 - v2 * (1.0 / (0.3 * b.hb) ** 2), 0.0, None))  # the notch/ridge profile
    nh = np.square(np.clip(1.0 - v2 * (1.0 / (0.3 * b.hh) ** 2), 0.0, None))
    ub = -b.cb * v2 - (b.ext_b[0] + (b.ext_b[1] / b.hb) * v) - b.notch_b * nb  # base surface
    uh = (b.length - b.ch * v2) + (b.ext_h[0] + (b.ext_h[1] / b.hh) * v) - b.notch_h * nh  # head surface
    lip_b, lip_h = -b.cb * b.hb**2, b.length - b.ch * b.hh**2
    s = (u - lip_b) * (1.0 / (lip_h - lip_b))
    fb, fh = _smooth(1.0 - s * (1.0 / FLARE)), _smooth(1.0 - (1.0 - s) * (1.0 / FLARE))
    h = b.hs + (b.hb - b.hs) * fb + (b.hh - b.hs) * fh
    e_b, e_h = u - ub, uh - u
    rho_b, rho_h = 0.3 * b.hb, (0.9 if b.tip_cortex else 0.45) * b.hh
    t_o = np.clip(h * h - v2, 0.0, None) * _rounding(e_b, rho_b) * _rounding(e_h, rho_h)
    ce = b.cortex_end
    ct = ce + (b.cortex - ce) * (1.0 - np.maximum(fb, fh))
    hi = np.clip(h - ct, 0.0, None)
    tip = b.tip_cortex if b.tip_cortex else ce
    t_i = np.clip(hi * hi - v2, 0.0, None) * _rounding(e_b - ce, rho_b - ce) * _rounding(e_h - tip, rho_h - tip)
    k2 = 2.0 * b.kappa
    t_o, t_i = k2 * np.sqrt(t_o), k2 * np.sqrt(t_i)
    for dist, e in ((b.physis_b, e_b), (b.physis_h, e_h)):
        if dist > 0:  # cartilage of the growth plate: bone is missing in a band parallel to the joint surface
            gap = 1.0 - 0.8 * np.clip(1.0 - np.square((e - dist) * (1.0 / _PHYSIS_HALF_MM)), 0.0, None)
            t_o *= gap
            t_i *= gap
    return t_o, t_i


def add_compact_bone(outer: np.ndarray, inner: np.ndarray, poly_px: np.ndarray, px_per_mm: float, cortex_mm: float,
                     kappa: float = 0.8, ridge_mm: float = 0.0) -> None:
    """Add one compact bone (an outline in pixels) as an ellipsoid-like body to `outer` / `inner`, in place.

    The path is ``2 kappa sqrt(d (2R - d))`` from the distance d (mm) to the outline; R is the
    largest d (a carpal bone) or, with ridge_mm > 0 (an elongated bone: radius, ulna), the local
    ridge of the distance map within ridge_mm. The medulla starts `cortex_mm` inside.
    """
    box = _roi(poly_px, outer.shape, 2.0)
    if box is None:
        return
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly_px - [x0 + 0.5, y0 + 0.5]) * 16.0).astype(np.int32)], 1, cv2.LINE_8, 4)
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    dist -= 0.5
    dist *= 1.0 / px_per_mm  # mm from the outline
    if ridge_mm > 0:
        r_px = max(int(round(ridge_mm * px_per_mm)), 1)
        ridge = cv2.dilate(dist, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_px + 1, 2 * r_px + 1)))
    else:
        ridge = np.float32(max(float(dist.max()), 1e-3))
    dd = np.clip(dist, 0.0, None)
    t_o = np.sqrt(np.clip(dd * (2.0 * ridge - dd), 0.0, None))
    di = np.clip(dd - cortex_mm, 0.0, None)
    t_i = np.sqrt(np.clip(di * (2.0 * (ridge - cortex_mm) - di), 0.0, None))
    outer[y0:y1, x0:x1] += (2.0 * kappa) * t_o
    inner[y0:y1, x0:x1] += (2.0 * kappa) * t_i


def soft_tissue_thickness(mask: np.ndarray, mm_per_px: float) -> np.ndarray:
    """Soft-tissue path (mm, float32) from a uint8 mask of the hand on a coarse grid of `mm_per_px`.

    A finger is a cylinder: ``2 sqrt(d (2R - d))`` at distance d from the skin, R its local
    half-width (the ridge of the distance map within 9 mm), so a thin finger tip is thin; where
    the tissue is wider than a finger (R > R_F = 8.5 mm: palm, thenar, forearm) it thickens
    beyond R_F (0.5 mm per mm, smoothed over 4 mm), at most 42 mm.
    """
    dist = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 5)
    dist -= 0.5
    dist *= mm_per_px
    np.clip(dist, 0.0, None, out=dist)
    r_px = max(int(round(9.0 / mm_per_px)), 1)
    ridge = cv2.dilate(dist, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_px + 1, 2 * r_px + 1)))
    r = np.clip(ridge, 0.5, _SOFT_RF_MM)
    inside = np.minimum(dist, r)
    deep = cv2.GaussianBlur(_SOFT_SLOPE * (dist - inside), (0, 0), 4.0 / mm_per_px)  # no crease along the medial axis
    t = 2.0 * np.sqrt(inside * (2.0 * r - inside)) + deep
    return np.minimum(t, _SOFT_MAX_MM).astype(np.float32)
