"""Projection of the phantom: hand geometry (mm) -> path-length maps -> the displayed image, with its boxes.

`_place_hand` fits each hand's geometry into its half of the field; `_draw_hand` adds its
bones' path lengths to two full-resolution float32 maps (through the outer surfaces and
through the medullae, `thickness`), draws its outline on a <= 1 mm grid for the soft tissue
and its damage into uint8 layers (erosion defects, subchondral sclerosis, periarticular
osteopenia, allocated only when there is damage). `render_image` then forms the image
(`exposure`: attenuation, log exposure, window, blur, noise, collimation), burns in the
markers and quantises (8 or 12 bits, the detector's 3x3 blur, optionally MONOCHROME1).

Image coordinates use pixel edges (pixel i spans [i, i+1], as the boxes); OpenCV's
drawing puts pixel i's centre at i, hence the - 0.5 when drawing.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional

import cv2
import numpy as np
import pandas as pd

from ..joints import HANDS, JOINTS
from ..schema import BOX_COLUMNS
from .anatomy import _SOFT_BLUR_MM, UINT16_MAX
from .exposure import attenuation, expose
from .hand import build_hand
from .markers import draw_markers
from .outline import HandGeo
from .thickness import add_compact_bone, add_long_bone, soft_tissue_thickness

__all__ = ["render_image", "placed_hands"]

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


def _frame_matrix(k: float, rot_deg: float, mirror: float, across: float = 1.0) -> np.ndarray:
    """2x2 matrix hand frame (mm, y distal) -> image pixels (y down): scale, rotation, mirror.

    across: how much narrower the hand looks across its long axis (a slight supination, <= 1).
    """
    a = math.radians(rot_deg)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return k * r @ np.diag([mirror * across, -1.0])


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
        m = _frame_matrix(k, -mirror * pose["rotation_deg"], mirror, pose["var"]["supination"])
        rel = env @ m.T
        low = low_pts @ m.T
        pad = blur_mm / spacing  # every term below is proportional to the size: the fit is size-independent
        top_m, bottom_m, outer_m = 0.02 * H, 0.03 * H, 0.01 * W
        y_lo = top_m + pad - rel[:, 1].min()
        y_hi = H - bottom_m - low[:, 1].max()
        if y_hi >= y_lo:
            oy = y_lo + (0.7 + 0.3 * pose["u_y"]) * (y_hi - y_lo)  # low in the field: ~1-3 cm of forearm
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
                  opts: dict, stages: Optional[dict] = None) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Geometry -> masks -> attenuation -> display -> noise -> markers -> quantised image.

    d: the radiograph's draws (`render._draw`); truth: 42 validated rows in HANDS x JOINTS
    order; W, H: image size (px); spacing: mm per pixel; dt: uint8 or uint16; opts: the
    checked render options. Returns (image, boxes, meta) as `render` documents them. stages: a dict
    that receives a copy of every intermediate image (`exposure`; chapter 1 shows them), or None.
    """
    layers = _rasterize_hands(d, truth, W, H, spacing)
    soft = _soft_full(layers, W, H, spacing)
    if stages is not None:
        stages.update(bone_outer_mm=layers["outer"].copy(), medulla_mm=layers["inner"].copy(), soft_mm=soft.copy(),
                      bones=layers["bones"])
    a = attenuation(layers["outer"], layers["inner"], soft, layers["extra"], d)
    y = expose(a, d, spacing, opts["noise"], stages)
    markers, label, ruler = draw_markers(y, d, layers["box_rows"], layers["extents"], W, H, spacing, opts)
    if stages is not None:
        stages["markers"] = y.copy()
    image = _quantise(y, dt, opts["monochrome1"])
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
        "ruler": None if ruler is None else tuple(int(v) for v in ruler),
        "gap_px": gap,  # (first, last) column of background between the hands
        "hand_extent_x_px": {h: (float(a), float(b)) for h, (a, b) in extents.items()},
        "joints": layers["joints"],
        "uint16_range": UINT16_MAX if dt == np.dtype(np.uint16) else None,
    }
    return image, boxes, meta


def placed_hands(d: dict, truth: pd.DataFrame, W: int, H: int,
                 spacing: float) -> Iterator[tuple[str, HandGeo, np.ndarray, np.ndarray, dict]]:
    """Each hand's geometry (hand frame, mm) and its placement in the image, in HANDS order.

    d, truth, W, H, spacing: as `render_image` takes them. Yields (hand, geo, m, origin, info):
    `_to_px(points, m, origin)` maps the hand frame to image pixels (pixel-edge coordinates, as the
    boxes); info as `_place_hand` returns it. Draws nothing: what `render_image` rasterises, and what
    `lesions.lesion_geometry` reads the truth's geometry from.
    """
    ero = truth["erosion"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))
    jsn = truth["jsn"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))
    for hi, hand in enumerate(HANDS):
        scores = {j: (int(ero[hi, ji]), int(jsn[hi, ji])) for ji, j in enumerate(JOINTS)}
        pose = d["pose"][hand]
        geo = build_hand(scores, pose, d["length_factor"], d["damage"][hi])
        m, origin, info = _place_hand(geo, hand, pose, W, H, spacing)
        yield hand, geo, m, origin, info


def _rasterize_hands(d: dict, truth: pd.DataFrame, W: int, H: int, spacing: float) -> dict:
    """Both hands' geometry, placed and drawn: the density and soft-tissue layers, boxes and per-hand meta.

    Returns a dict: density ((H, W) uint8 bone levels), soft (coarse uint8 soft-tissue mask),
    soft_factor (its down-sampling factor), box_rows (42 tuples hand, joint, x_min, y_min,
    x_max, y_max), extents (hand -> (x_lo, x_hi) px), pose and joints (hand -> meta).
    """
    # path lengths (mm) through the bones' outer surfaces and their medullae, full grid; the soft
    # tissue's outline on a coarser grid (it is smooth); erosion defects in a uint8 mask
    outer, inner = np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)
    qs = _soft_factor(spacing)
    Hq, Wq = -(-H // qs), -(-W // qs)
    soft = np.zeros((Hq, Wq), np.uint8)
    layers = _DamageLayers(H, W)
    out = {"outer": outer, "inner": inner, "soft": soft, "soft_factor": qs, "box_rows": [], "extents": {},
           "pose": {}, "joints": {}, "bones": {}}
    for hand, geo, m, origin, info in placed_hands(d, truth, W, H, spacing):
        pose = d["pose"][hand]
        _draw_hand(outer, inner, soft, layers, geo, m, origin, np.array([Wq / W, Hq / H]), info["scale"] / spacing)
        k = info["scale"] / spacing
        out["bones"][hand] = _bone_labels(geo, m, origin)
        rows, out["joints"][hand] = _hand_boxes(geo, hand, m, origin, k, pose["rotation_deg"], W, H)
        out["box_rows"] += rows
        out["extents"][hand] = info["extent_x"]
        out["pose"][hand] = {"rotation_deg": pose["rotation_deg"], "scale": info["scale"], "spread": pose["spread"],
                             "thumb_deg": pose["thumb_deg"], "origin_px": (float(origin[0]), float(origin[1])),
                             "inner_margin_frac": pose["inner_margin"], "px_per_mm": float(k),
                             "open_growth_plates": bool(pose["var"]["physes"])}
    out["extra"] = layers.result()
    return out


class _DamageLayers:
    """Full-grid layers of damage, allocated only when a radiograph has any: erosion defects (uint8 mask of
    bone kept), subchondral sclerosis (mm of cortex added) and periarticular osteopenia (share of medulla lost)."""

    def __init__(self, H: int, W: int) -> None:
        self.shape = (H, W)
        self.keep: Optional[np.ndarray] = None
        self.sclerosis: Optional[np.ndarray] = None
        self.osteopenia: Optional[np.ndarray] = None

    def cut(self, polys: list[np.ndarray]) -> None:
        """Remove bone inside the outlines (pixels)."""
        if polys:
            if self.keep is None:
                self.keep = np.full(self.shape, 255, np.uint8)
            _fill(self.keep, [p - 0.5 for p in polys], 0)

    def sclerose(self, bands: list[tuple[np.ndarray, float]]) -> None:
        """Add cortex (mm along the beam) inside band outlines (pixels); stored as uint8, 50 levels per mm."""
        for poly, mm in bands:
            if self.sclerosis is None:
                self.sclerosis = np.zeros(self.shape, np.uint8)
            _fill(self.sclerosis, [poly - 0.5], int(round(50.0 * mm)))

    def thin(self, discs: list[tuple], k: float) -> None:
        """Periarticular osteopenia: discs (centre px, radius mm, share) of medulla lost, fading to the rim."""
        for c, r_mm, share in discs:
            if self.osteopenia is None:
                self.osteopenia = np.zeros(self.shape, np.uint8)
            for ring in (1.0, 0.8, 0.6, 0.4):  # a stepped fall-off: full share inside 0.4 r, a quarter at the rim
                level = int(round(255.0 * share * min(1.0, 1.25 - ring)))
                cv2.circle(self.osteopenia, (int(round(c[0] * 16 - 8)), int(round(c[1] * 16 - 8))),
                           int(round(ring * r_mm * k * 16)), level, -1, cv2.LINE_AA, 4)

    def result(self) -> dict:
        """The layers as `exposure.attenuation` takes them (None where absent; sclerosis in mm, float32)."""
        scl = None if self.sclerosis is None else self.sclerosis.astype(np.float32) * np.float32(1.0 / 50.0)
        return {"keep": self.keep, "sclerosis": scl, "osteopenia": self.osteopenia}


def _draw_hand(outer: np.ndarray, inner: np.ndarray, soft: np.ndarray, layers: _DamageLayers, geo: HandGeo,
               m: np.ndarray, origin: np.ndarray, sq: np.ndarray, k: float) -> None:
    """Project one placed hand: bone paths into `outer`/`inner` (full grid), its outline into `soft` (grid
    scaled by `sq`), damage into `layers`. k: pixels per mm."""
    def px(pts: np.ndarray) -> np.ndarray:
        return _to_px(pts, m, origin)

    for tube, outline in geo.tubes:
        add_long_bone(outer, inner, tube, m, origin, px(outline))
    for poly, cortex, kappa, elongated, _ in geo.compact:
        add_compact_bone(outer, inner, px(poly), k, cortex, kappa, elongated)
    layers.cut([px(p) for p in geo.cuts])
    layers.sclerose([(px(p), mm) for p, mm in geo.sclerosis])
    layers.thin([(px(c[None, :])[0], r, share) for c, r, share in geo.osteopenia], k)
    _fill(soft, [px(poly) * sq - 0.5 for poly, _ in geo.soft], 255)


def _bone_labels(geo: HandGeo, m: np.ndarray, origin: np.ndarray) -> list[tuple[str, tuple[float, float], float]]:
    """(name, centre in pixels, axis angle in degrees on screen) of every bone of a placed hand: tubes at mid-shaft
    along their axis, compact bones at their centroid (angle 0)."""
    out = []
    for tube, _ in geo.tubes:
        c = _to_px((tube.origin + 0.5 * tube.length * tube.axis)[None, :], m, origin)[0]
        a = tube.axis @ m.T
        angle = float(np.degrees(np.arctan2(-a[1], a[0])))
        out.append((tube.name, (float(c[0]), float(c[1])), angle))
    for poly, _, _, _, name in geo.compact:
        c = _to_px(np.mean(poly, axis=0)[None, :], m, origin)[0]
        out.append((name, (float(c[0]), float(c[1])), 0.0))
    return out


def _soft_full(layers: dict, W: int, H: int, spacing: float) -> np.ndarray:
    """The soft-tissue path (mm) on the full grid: thickness from the coarse outline, smoothed and resized."""
    qs = layers["soft_factor"]
    t = soft_tissue_thickness(layers["soft"], spacing * qs)
    t = cv2.GaussianBlur(t, (0, 0), max(0.5, 0.5 / (spacing * qs)))
    return cv2.resize(t, (W, H), interpolation=cv2.INTER_LINEAR)


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


def _quantise(y: np.ndarray, dt: np.dtype, monochrome1: bool = False) -> np.ndarray:
    """Float image (clipped at 0; 1 = white) -> uint8 0..255 or 12-bit uint16, then the detector's 3x3 blur.

    The blur comes after quantisation (it also correlates the noise over ~2 px). `y` is modified.
    monochrome1: store inverted (DICOM MONOCHROME1: 0 = white), as some detectors do.
    """
    np.maximum(y, 0.0, out=y)
    if dt == np.dtype(np.uint8):
        image = cv2.convertScaleAbs(y, alpha=255.0)  # rounds and saturates at 255
    else:
        np.minimum(y, 1.0, out=y)
        y *= float(UINT16_MAX)
        y += 0.5
        image = y.astype(np.uint16)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    if monochrome1:
        image = (255 if dt == np.dtype(np.uint8) else UINT16_MAX) - image
    return image.astype(dt, copy=False)
