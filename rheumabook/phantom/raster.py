"""Projection of the phantom: hand geometry (mm) -> density masks -> attenuation -> display -> noise -> pixels.

Bones (cortex level), their medullae (a lower level drawn over them), the pisiform (a
higher level) and erosions (cut to zero) are rasterised into one uint8 density image with
OpenCV's anti-aliased polygons (1/16-pixel vertices, outlines inset by the 0.72 px that
anti-aliasing adds, so widths and joint spaces keep their size); the soft-tissue envelope
is drawn on a <= 1 mm grid and blurred (1.2 mm). Attenuation = soft tissue + bone density
(with a +-5 % trabecular texture); detector signal = 1 - exp(-attenuation); then a random
display window and gamma, a heel-effect/mottle gain field, quantum-like noise and a 3x3
detector blur. Background is dark, bone bright (the usual display of a radiograph).
``uint16`` output holds 12-bit values (0..4095).

Image coordinates use pixel edges (pixel i spans [i, i+1], as the boxes); OpenCV's
drawing puts pixel i's centre at i, hence the - 0.5 when drawing.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from ..joints import HANDS, JOINTS
from ..schema import BOX_COLUMNS
from .anatomy import _SOFT_BLUR_MM, UINT16_MAX
from .hand import build_hand
from .markers import draw_markers
from .outline import HandGeo

__all__ = ["render_image"]

# Densities in attenuation units (the detector signal is 1 - exp(-sum)); bone levels are drawn
# into a uint8 density image at _LEVEL_PER_MU levels per unit.
_MU_CORTEX = 1.30
_MU_MEDULLA = 0.92
_MU_OVERLAY = 1.55  # pisiform seen through the triquetrum
_LEVEL_PER_MU = 150.0
_LEVEL_CORTEX = int(round(_MU_CORTEX * _LEVEL_PER_MU))
_LEVEL_MEDULLA = int(round(_MU_MEDULLA * _LEVEL_PER_MU))
_LEVEL_OVERLAY = int(round(_MU_OVERLAY * _LEVEL_PER_MU))
_MU_SOFT = 0.40  # palm/forearm thickness; fingers get ~0.9 of it
_TEXTURE = 0.05  # std of the trabecular wobble of the bone density
_PSF = cv2.getGaussianKernel(3, 0.6).ravel()  # the detector blur, applied to the final image
_NOISE_PER_BYTE = 1.0 / (73.9 * float(np.sum(_PSF**2)))  # uniform bytes have std 73.9; the blur shrinks it


def _to_px(pts: np.ndarray, m: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Hand-frame mm -> image pixels (float)."""
    return pts @ m.T + origin


_AA_GROW_PX = 0.72
"""OpenCV's anti-aliased fillPoly paints ~0.72 px beyond the outline on every side (measured on
straight edges); `_fill` insets outlines by this much so that bone widths and joint spaces keep
their geometric size in pixels."""


def _inset(polys: list[np.ndarray], delta: float) -> list[np.ndarray]:
    """Move each vertex of closed polygons `delta` px inwards along its mitred normal (smooth outlines).

    All polygons are handled in one vectorised pass (the phantom draws ~150 per image).
    """
    sizes = np.array([len(p) for p in polys])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pts = np.concatenate(polys)
    idx = np.arange(len(pts))
    nxt = idx + 1
    last = starts + sizes - 1
    nxt[last] = starts
    prv = idx - 1
    prv[starts] = last
    e = pts[nxt] - pts
    n = np.column_stack([e[:, 1], -e[:, 0]]) / np.maximum(np.hypot(e[:, 0], e[:, 1]), 1e-9)[:, None]
    cross = pts[:, 0] * pts[nxt, 1] - pts[nxt, 0] * pts[:, 1]
    area2 = np.add.reduceat(cross, starts)
    n *= np.where(np.repeat(area2, sizes) > 0, -1.0, 1.0)[:, None]  # make the normals point inwards
    prev = n[prv]
    denom = np.maximum(1.0 + np.sum(prev * n, axis=1), 0.3)[:, None]  # mitre; limited at sharp corners
    moved = pts + delta * (prev + n) / denom
    return np.split(moved, starts[1:])


def _fill(img: np.ndarray, polys: list[np.ndarray], value: int) -> None:
    """Anti-aliased filled polygons (float pixel coordinates, 1/16 px precision) into a uint8 image.

    Each outline is inset by `_AA_GROW_PX` first, so the painted area matches the polygon's.
    """
    if not polys:
        return
    for q in _inset(polys, _AA_GROW_PX):
        cv2.fillPoly(img, [np.round(q * 16.0).astype(np.int32)], int(value), cv2.LINE_AA, 4)


def _frame_matrix(k: float, rot_deg: float, mirror: float) -> np.ndarray:
    """2x2 matrix hand frame (mm, y distal) -> image pixels (y down): scale, rotation, mirror."""
    a = math.radians(rot_deg)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return k * r @ np.diag([mirror, -1.0])


def _soft_factor(spacing: float) -> int:
    """Down-sampling factor (1-4) of the soft-tissue layer: its grid stays <= ~1 mm."""
    return int(np.clip(round(1.0 / spacing), 1, 4))


def _place_hand(geo: HandGeo, hand: str, pose: dict, W: int, H: int,
                spacing: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Choose the hand's pixel transform so it fits its half with the pose's gap; returns (matrix, origin, info)."""
    mirror = 1.0 if hand == "right" else -1.0  # patient's right hand: image left, thumb towards the middle
    # the soft-tissue edge is blurred (sigma _SOFT_BLUR_MM, drawn on a grid of <= 1.05 mm): keep this
    # much background beyond the outline, in mm, so the layout does not depend on the image size
    blur_mm = 3.5 * _SOFT_BLUR_MM + 2.5
    scale = pose["scale"]
    env = np.vstack(geo.envelope)
    rc_c, rc_h = geo.boxes["radiocarpal"]
    ul_c, ul_h = geo.boxes["ulna"]
    low_pts = np.array([rc_c + [0.0, -rc_h[1]], ul_c + [0.0, -ul_h[1]]])
    for _ in range(40):
        k = scale / spacing
        m = _frame_matrix(k, -mirror * pose["rotation_deg"], mirror)
        rel = env @ m.T
        low = low_pts @ m.T
        pad = blur_mm / spacing  # every term below is proportional to the size: the fit is size-independent
        top_m, bottom_m, outer_m = 0.02 * H, 0.03 * H, 0.01 * W
        y_lo = top_m + pad - rel[:, 1].min()
        y_hi = H - bottom_m - low[:, 1].max()
        if y_hi >= y_lo:
            oy = y_lo + pose["u_y"] * (y_hi - y_lo) * 0.6
            inside = rel[(rel[:, 1] + oy) <= H + pad]
            x_min, x_max = inside[:, 0].min() - pad, inside[:, 0].max() + pad
            inner = pose["inner_margin"] * W
            if mirror > 0:
                x_lo, x_hi = outer_m - x_min, W / 2.0 - inner - x_max
            else:
                x_lo, x_hi = W / 2.0 + inner - x_min, W - outer_m - x_max
            if x_hi >= x_lo:
                ox = x_lo + pose["u_x"] * (x_hi - x_lo)
                info = {"scale": scale, "extent_x": (float(ox + x_min), float(ox + x_max)),
                        "top_y": float(oy + rel[:, 1].min() - pad)}
                return m, np.array([ox, oy]), info
        scale *= 0.97  # does not fit: shrink the hand a little (no new random draws)
    raise RuntimeError("phantom hand does not fit its half of the image")  # pragma: no cover


def render_image(d: dict, truth: pd.DataFrame, W: int, H: int, spacing: float, dt: np.dtype,
                  opts: dict) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Geometry -> masks -> attenuation -> display -> noise -> markers -> quantised image.

    d: the radiograph's draws (`render._draw`); truth: 42 validated rows in HANDS x JOINTS
    order; W, H: image size (px); spacing: mm per pixel; dt: uint8 or uint16; opts: the
    checked render options. Returns (image, boxes, meta) as `render` documents them.
    """
    layers = _rasterize_hands(d, truth, W, H, spacing)
    y = _expose(layers["density"], layers["soft"], layers["soft_factor"], d, W, H, spacing, opts["noise"])
    markers, label = draw_markers(y, d, layers["box_rows"], layers["extents"], W, H, spacing, opts)
    image = _quantise(y, dt)
    boxes = pd.DataFrame(layers["box_rows"], columns=["hand", "joint", *BOX_COLUMNS])
    for c in BOX_COLUMNS:
        boxes[c] = boxes[c].astype(float).round(2)
    extents = layers["extents"]
    # columns lo..hi (inclusive) lie wholly between the hands' extents (pixel i spans [i, i+1])
    gap = (int(math.ceil(extents["right"][1])), int(math.floor(extents["left"][0])) - 1)
    meta = {
        "pose": layers["pose"],
        "exposure": {k: v for k, v in d["exposure"].items()},
        "markers": markers,
        "label": label,
        "gap_px": gap,  # (first, last) column of background between the hands
        "hand_extent_x_px": {h: (float(a), float(b)) for h, (a, b) in extents.items()},
        "joints": layers["joints"],
        "uint16_range": UINT16_MAX if dt == np.dtype(np.uint16) else None,
    }
    return image, boxes, meta


def _rasterize_hands(d: dict, truth: pd.DataFrame, W: int, H: int, spacing: float) -> dict:
    """Both hands' geometry, placed and drawn: the density and soft-tissue layers, boxes and per-hand meta.

    Returns a dict: density ((H, W) uint8 bone levels), soft (coarse uint8 soft-tissue mask),
    soft_factor (its down-sampling factor), box_rows (42 tuples hand, joint, x_min, y_min,
    x_max, y_max), extents (hand -> (x_lo, x_hi) px), pose and joints (hand -> meta).
    """
    # one uint8 density image: cortex, then medulla drawn over it, then erosions cut to 0; the
    # anti-aliased edges blend neighbouring levels, which is what a projection would do
    dens = np.zeros((H, W), np.uint8)
    qs = _soft_factor(spacing)  # soft tissue is smooth: draw and blur it on a coarser grid
    Hq, Wq = -(-H // qs), -(-W // qs)
    soft = np.zeros((Hq, Wq), np.uint8)
    ero = truth["erosion"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))
    jsn = truth["jsn"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))
    out = {"density": dens, "soft": soft, "soft_factor": qs, "box_rows": [], "extents": {}, "pose": {}, "joints": {}}
    for hi, hand in enumerate(HANDS):
        scores = {j: (int(ero[hi, ji]), int(jsn[hi, ji])) for ji, j in enumerate(JOINTS)}
        pose = d["pose"][hand]
        geo = build_hand(scores, pose, d["length_factor"], d["damage"][hi])
        m, origin, info = _place_hand(geo, hand, pose, W, H, spacing)
        _draw_hand(dens, soft, geo, m, origin, np.array([Wq / W, Hq / H]))
        k = info["scale"] / spacing
        rows, out["joints"][hand] = _hand_boxes(geo, hand, m, origin, k, pose["rotation_deg"], W, H)
        out["box_rows"] += rows
        out["extents"][hand] = info["extent_x"]
        out["pose"][hand] = {"rotation_deg": pose["rotation_deg"], "scale": info["scale"], "spread": pose["spread"],
                             "thumb_deg": pose["thumb_deg"], "origin_px": (float(origin[0]), float(origin[1])),
                             "inner_margin_frac": pose["inner_margin"], "px_per_mm": float(k)}
    return out


def _draw_hand(dens: np.ndarray, soft: np.ndarray, geo: HandGeo, m: np.ndarray, origin: np.ndarray,
               sq: np.ndarray) -> None:
    """Draw one placed hand: bone levels into `dens` (full grid), soft tissue into `soft` (grid scaled by `sq`)."""
    def px(pts: np.ndarray) -> np.ndarray:
        return _to_px(pts, m, origin)

    _fill(dens, [px(p) - 0.5 for p in geo.bones], _LEVEL_CORTEX)
    _fill(dens, [px(p) - 0.5 for p in geo.medullae], _LEVEL_MEDULLA)
    _fill(dens, [px(p) - 0.5 for p in geo.overlays], _LEVEL_OVERLAY)
    _fill(dens, [px(p) - 0.5 for p in geo.cuts], 0)
    for poly, level in geo.soft:  # on the coarse grid
        _fill(soft, [px(poly) * sq - 0.5], level)


def _hand_boxes(geo: HandGeo, hand: str, m: np.ndarray, origin: np.ndarray, k: float, rotation_deg: float,
                W: int, H: int) -> tuple[list, dict]:
    """One placed hand's 21 boxes (rows hand, joint, x_min, y_min, x_max, y_max; clipped) and joint meta.

    k: pixels per mm of the hand. Joint meta per site: centre (px); for finger and CMC joints
    also the unit axis towards the finger tip, gap_px and end_width_px.
    """
    rot = math.radians(rotation_deg)
    rows, jm = [], {}
    for joint in JOINTS:
        c_mm, (hx, hy) = geo.boxes[joint]
        c = _to_px(c_mm[None, :], m, origin)[0]
        if joint in ("wrist", "radiocarpal", "ulna"):
            # axis-aligned box around the rotated rectangle
            hx, hy = (abs(math.cos(rot)) * hx + abs(math.sin(rot)) * hy,
                      abs(math.sin(rot)) * hx + abs(math.cos(rot)) * hy)
        hxp, hyp = hx * k, hy * k
        rows.append((hand, joint, max(c[0] - hxp, 0.0), max(c[1] - hyp, 0.0),
                     min(c[0] + hxp, float(W)), min(c[1] + hyp, float(H))))
        jg = geo.joints.get(joint)
        entry = {"centre": (float(c[0]), float(c[1]))}
        if jg is not None:
            ax = jg.axis @ m.T
            ax = ax / np.linalg.norm(ax)
            entry.update(axis=(float(ax[0]), float(ax[1])), gap_px=float(jg.gap * k),
                         end_width_px=float(2 * max(jg.h_prox, jg.h_dist) * k))
        jm[joint] = entry
    return rows, jm


def _expose(dens: np.ndarray, soft: np.ndarray, qs: int, d: dict, W: int, H: int, spacing: float,
            nfac: float) -> np.ndarray:
    """Density and soft-tissue layers -> the displayed float32 (H, W) image in about [0, 1], with noise.

    Trabecular texture, attenuation and detector signal 1 - exp(-att), the display window,
    a heel-effect/mottle gain field, gamma, then quantum-like noise scaled by `nfac`.
    """
    ex, nz = d["exposure"], d["noise"]
    # ---- trabecular texture: the bone density wobbles by ~+-5 % (uint8 x uint8 / 128)
    tex = cv2.GaussianBlur(nz["texture"], (0, 0), 1.0)  # half resolution, 127.5 +- ~21
    gain_u8 = 128.0 * _TEXTURE / 21.0
    tex = cv2.addWeighted(tex, gain_u8, tex, 0.0, 128.0 - 127.5 * gain_u8)  # 128 * (1 +- _TEXTURE)
    dens = cv2.multiply(dens, cv2.resize(tex, (W, H), interpolation=cv2.INTER_LINEAR), scale=1.0 / 128.0)
    # ---- attenuation (negated), detector signal 1 - exp(-att)
    soft = cv2.GaussianBlur(soft, (0, 0), _SOFT_BLUR_MM / (spacing * qs))
    soft = cv2.resize(soft, (W, H), interpolation=cv2.INTER_LINEAR)
    natt = cv2.addWeighted(soft, -_MU_SOFT / 255.0, dens, -1.0 / _LEVEL_PER_MU, 0.0, dtype=cv2.CV_32F)
    e = cv2.exp(natt, dst=natt)
    # ---- display window on the signal: y = (1 - e - lo) / (hi - lo), gain field, gamma
    lo, hi = ex["window_lo"], ex["window_hi"]
    e *= -1.0 / (hi - lo)
    e += (1.0 - lo) / (hi - lo)
    y = e
    # a separable gain field: heel effect (top to bottom) and a smooth mottle along rows and columns
    rows = 1.0 + ex["heel"] * np.linspace(-0.5, 0.5, H, dtype=np.float32) + nfac * ex["mottle"] * nz["mottle_y"]
    y *= rows[:, None]
    y *= (1.0 + nfac * ex["mottle"] * nz["mottle_x"])[None, :]
    np.clip(y, 1e-4, 1.0, out=y)
    cv2.pow(y, ex["gamma"], dst=y)
    # ---- quantum-like noise (uniform bytes; the final blur makes it grain-like and near-normal)
    if nfac > 0:
        fine = nz["fine"].astype(np.float32)
        fine -= 127.5
        fine *= nfac * ex["noise_sigma"] * _NOISE_PER_BYTE
        y += fine
    return y


def _quantise(y: np.ndarray, dt: np.dtype) -> np.ndarray:
    """Float image (clipped at 0; 1 = white) -> uint8 0..255 or 12-bit uint16, then the detector's 3x3 blur.

    The blur comes after quantisation (it also correlates the noise over ~2 px). `y` is modified.
    """
    np.maximum(y, 0.0, out=y)
    if dt == np.dtype(np.uint8):
        image = cv2.convertScaleAbs(y, alpha=255.0)  # rounds and saturates at 255
    else:
        np.minimum(y, 1.0, out=y)
        y *= float(UINT16_MAX)
        y += 0.5
        image = y.astype(np.uint16)
    return cv2.GaussianBlur(image, (3, 3), 0.6)
