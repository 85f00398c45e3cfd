"""Polygon helpers of the phantom, in the hand frame (mm): directions, ellipses, long-bone outlines, seating.

The hand frame has x towards the thumb, y towards the finger tips and its origin at the
midcarpal joint. A polygon is an (n, 2) float array of (x, y) vertices. `seat_against` slides one
outline along a direction until it is a given gap from another: that is how neighbouring
bones keep their joint spaces. `JointGeo` and `HandGeo` are the records a hand's
geometry is collected in (by `hand.build_hand`) before it is rasterised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ["unit_vector", "normal_of", "circle", "superellipse", "seat_against", "bone_outline", "place_local", "JointGeo", "HandGeo"]


def unit_vector(angle_deg: float) -> np.ndarray:
    """Unit vector of a ray at `angle_deg` from the hand's +y axis towards +x (the thumb side)."""
    a = math.radians(angle_deg)
    return np.array([math.sin(a), math.cos(a)])


def normal_of(d: np.ndarray) -> np.ndarray:
    """The vector 90 deg clockwise of `d` in the hand frame: towards the thumb for an upright ray."""
    return np.array([d[1], -d[0]])


def circle(centre: np.ndarray, r_across: float, r_along: float, d: np.ndarray, n: int = 20) -> np.ndarray:
    """(n, 2) polygon of an ellipse with semi-axes `r_along` along unit `d` and `r_across` across it."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    nv = normal_of(d)
    return centre + np.outer(np.cos(t) * r_along, d) + np.outer(np.sin(t) * r_across, nv)


def superellipse(cx: float, cy: float, a_l: float, a_r: float, b_d: float, b_u: float,
                  rot_deg: float = 0.0, power: float = 2.0, n: int = 64) -> np.ndarray:
    """(n, 2) outline of a super-ellipse with a different half-extent in each direction (carpal bones).

    a_l/a_r: half-widths towards -x/+x, b_d/b_u: half-heights towards -y/+y of the
    unrotated shape; `rot_deg` turns it (positive = its +y end towards +x).
    """
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / power
    x = np.sign(c) * np.abs(c) ** e * np.where(c > 0, a_r, a_l)
    y = np.sign(s) * np.abs(s) ** e * np.where(s > 0, b_u, b_d)
    a = math.radians(rot_deg)
    xr = x * math.cos(a) + y * math.sin(a)
    yr = -x * math.sin(a) + y * math.cos(a)
    return np.column_stack([xr + cx, yr + cy])


def _resample(poly: np.ndarray, step: float) -> np.ndarray:
    """Points every ~`step` mm along a closed polygon (for the clearance search)."""
    p = np.vstack([poly, poly[:1]])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    t = np.linspace(0.0, s[-1], max(int(s[-1] / step), 8), endpoint=False)
    return np.column_stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])])


def _clearance(moving: np.ndarray, fixed: np.ndarray, d: np.ndarray, tol: float = 0.3) -> float:
    """How far outline `moving` can travel along unit `d` before it touches outline `fixed` (mm).

    Both outlines are densely resampled point sets and must start apart. Points are binned
    by their position across `d` (bins `tol`/2 wide, neighbours count as aligned): the answer
    is the smallest gap between the front of `moving` and the near face of `fixed` in a bin.
    """
    nv = normal_of(d)
    qa, qb = moving @ nv, fixed @ nv
    lo = min(qa.min(), qb.min())
    w = tol / 2.0
    ia, ib = ((qa - lo) / w).astype(np.intp) + 1, ((qb - lo) / w).astype(np.intp) + 1
    nb = int(max(ia.max(), ib.max())) + 2
    front = np.full(nb, -np.inf)
    np.maximum.at(front, ia, moving @ d)
    face = np.full(nb, np.inf)
    np.minimum.at(face, ib, fixed @ d)
    face[1:-1] = np.minimum(face[1:-1], np.minimum(face[:-2], face[2:]))
    return float(np.min(face - front))


def seat_against(moving: np.ndarray, fixed: np.ndarray, d: np.ndarray, gap: float) -> np.ndarray:
    """The translation that moves `moving` along `d` until it is `gap` mm from `fixed`."""
    a, b = _resample(moving, 0.2), _resample(fixed, 0.2)
    c = _clearance(a, b, d)
    if not np.isfinite(c):  # pragma: no cover - a layout bug, not a user error
        raise RuntimeError("phantom layout: the shapes do not face each other along the seating direction")
    return (c - gap) * d


# --------------------------------------------------------------------------- bones


_N_SIDE, _N_CAP = 10, 9
_S = np.linspace(0.0, 1.0, _N_SIDE + 2)[1:-1]  # stations along a bone's sides
_FLARE_B = np.clip(1 - _S / 0.3, 0, None) ** 2  # the ends flare over ~30 % of the length
_FLARE_H = np.clip(1 - (1 - _S) / 0.3, 0, None) ** 2
_CAP = np.linspace(-1.0, 1.0, _N_CAP)  # stations across an end, in half-widths


def bone_outline(length: float, hb: float, hs: float, hh: float, cb: float, ch: float, *,
             u0: float = 0.0, u1: float = 0.0, ext_b: tuple[float, float] = (0.0, 0.0),
             ext_h: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(38, 2) outline of a long bone in its own frame: columns (v across, u along; base at u=0).

    hb/hs/hh: half-widths at the base, shaft and head; cb/ch: curvature of the base's
    concave and the head's convex parabolic cap (u = -c v^2 around the end). u0/u1 move the
    caps inwards (the medulla), ext_b/ext_h = (mean, slope across the end) move them
    outwards into the joint space (JSN).
    """
    out = np.empty((2 * (_N_CAP + _N_SIDE), 2))
    nc, ns = _N_CAP, _N_SIDE
    c = _CAP[::-1]  # base cap runs from +v to -v
    out[:nc, 0] = hb * c
    out[:nc, 1] = u0 - cb * (hb * c) ** 2 - (ext_b[0] + ext_b[1] * c)
    lip_b, lip_h = u0 - cb * hb**2, length - u1 - ch * hh**2
    u = lip_b + _S * (lip_h - lip_b)
    h = hs + (hb - hs) * _FLARE_B + (hh - hs) * _FLARE_H
    out[nc:nc + ns, 0] = -h
    out[nc:nc + ns, 1] = u
    out[nc + ns:2 * nc + ns, 0] = hh * _CAP
    out[nc + ns:2 * nc + ns, 1] = length - u1 - ch * (hh * _CAP) ** 2 + (ext_h[0] + ext_h[1] * _CAP)
    out[2 * nc + ns:, 0] = h[::-1]
    out[2 * nc + ns:, 1] = u[::-1]
    return out


def place_local(local: np.ndarray, origin: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Local (v, u) bone outline -> hand frame: origin + u d + v n."""
    return local @ np.array([[d[1], -d[0]], [d[0], d[1]]]) + origin


@dataclass
class JointGeo:
    """A joint in the hand frame: centre, distal axis, space width, bone-end half-widths and cap curvature."""

    centre: np.ndarray
    axis: np.ndarray
    gap: float
    h_prox: float  # half-width of the proximal bone end (head)
    h_dist: float  # half-width of the distal bone end (base)
    curv: float  # curvature of the head cap (the base cap is the same)
    half_box: tuple[float, float]  # half-size of the box (x, y), mm
    level: str = ""
    # the proximal bone's own frame (its axis differs when the finger bends at the joint)
    centre_prox: Optional[np.ndarray] = None
    axis_prox: Optional[np.ndarray] = None


@dataclass
class HandGeo:
    """Everything drawn for one hand, in the hand frame (mm)."""

    bones: list = field(default_factory=list)  # outlines of the tubular bones (their bounding boxes)
    tubes: list = field(default_factory=list)  # (thickness.LongBone, outline) per tubular bone
    compact: list = field(default_factory=list)  # (outline, cortex mm, kappa, elongated, name) per compact bone
    cuts: list = field(default_factory=list)  # erosions: outlines where bone is removed
    sclerosis: list = field(default_factory=list)  # (outline, mm of cortex added): subchondral sclerosis (JSN)
    osteopenia: list = field(default_factory=list)  # (centre, radius mm, share of the medulla lost)
    soft: list = field(default_factory=list)  # (polygon, level 0..255)
    envelope: list = field(default_factory=list)  # points bounding the soft tissue
    joints: dict = field(default_factory=dict)  # site -> JointGeo (finger joints, CMC)
    boxes: dict = field(default_factory=dict)  # site -> (centre, (half_x, half_y)) in mm
    erosions: dict = field(default_factory=dict)  # site -> its outlines in `cuts` (`lesions` reads them)

    def erode(self, site: str, cuts: list[np.ndarray]) -> None:
        """Add erosion outlines of `site` to `cuts` (drawn) and to ``erosions[site]`` (the truth's geometry)."""
        self.cuts += cuts
        self.erosions.setdefault(site, []).extend(cuts)

