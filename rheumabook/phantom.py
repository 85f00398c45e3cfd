"""The phantom: seeded synthetic bilateral PA hand radiographs with known joint boxes and scores.

The clinical collection behind the paper (§3.1: 330 bilateral hand radiographs, 42
boxes each, erosion and JSN scores by three radiologists) cannot ship with the book,
so every chapter runs by default on radiographs rendered here. ``render(seed)`` draws
one patient and returns a `Radiograph`: the image, its 42 true joint boxes, the true
erosion/JSN score of every site, the pixel spacing and a ``meta`` dict describing the
pose, exposure and confounders.

The model
---------
* **Geometry in millimetres.** Every bone is a polygon in a hand frame (x towards the
  thumb, y towards the finger tips, origin at the midcarpal joint) built from the round
  anatomical figures of ``shared/reference/hand-anatomy.md``: bone lengths per finger,
  shaft widths (bone ends flared 1.2-1.4x), cortex 0.9-2 mm on the shafts and 0.5 mm
  under the joint surfaces, joint spaces MCP 1.75, PIP 1.05, DIP/IP 0.8, CMC 1.25,
  radiocarpal 2.25 and intercarpal 1.5 mm. A head is a parabolic cap and the next
  bone's base is the same cap shifted by the joint space, so the gap is even; the
  fingers bend about the centre of curvature of the head. Eight carpal bones in two
  rows (super-ellipses, pisiform drawn over the triquetrum), radius and ulna with its
  styloid are laid out once so that neighbours keep their joint spaces.
* **Projection.** Bones (cortex level), their medullae (a lower level drawn over them),
  the pisiform (a higher level) and erosions (cut to zero) are rasterised into one uint8
  density image with OpenCV's anti-aliased polygons (1/16-pixel vertices, outlines inset
  by the 0.72 px that anti-aliasing adds, so widths and joint spaces keep their size);
  the soft-tissue envelope is drawn on a <= 1 mm grid and blurred (1.2 mm). Attenuation
  = soft tissue + bone density (with a +-5 % trabecular texture); detector signal =
  1 - exp(-attenuation); then a random display window and gamma, a heel-effect/mottle
  gain field, quantum-like noise and a 3x3 detector blur. Background is dark, bone
  bright (the usual display of a radiograph). ``dtype=np.uint16`` gives 12-bit values
  (0..4095), as stored by many hand radiographs.
* **Damage where it is scored** (Sharp/van der Heijde, paper refs [38, 39]).
  JSN grade -> remaining joint space 1.0 / ~0.8 focal (one side of the joint narrowed
  to 0.6) / ~0.6 / ~0.3 / 0 with a bony bridge (ankylosis): both bone ends grow into the
  gap, so nothing outside the joint moves. Erosion cuts defects into the bone ends next
  to the joint: grade 1 one ~1 mm marginal defect, 2-4 larger defects shared between the
  two bone ends (2 = large but not past the bone's midline, 3 = past it, 4 = 3 + 1 or
  2 + 2), 5 = collapse of both bone ends. Wrist sites: defects on the carpal bones
  ("wrist"), the ulnar styloid/head ("ulna"), the distal radius rim ("radiocarpal");
  wrist JSN narrows the intercarpal spaces (4 = fused carpus).
* **Pose and confounders.** Per image: hand size (patient scale 0.9-1.1), rotation
  (+-8 deg), finger spread, thumb abduction, small per-finger angles, position, the
  width of the background gap between the hands (each hand keeps 1.5-6 % of the width
  from the image's middle, so a top-to-bottom seam always has >= 3 % of background to
  pass through, chapter 3), exposure (window, gamma, heel effect) and noise, lead side
  markers "L"/"R" near each hand (missing ~8 %, wrong ~6 % of the time) and a burnt-in
  text label. The patient's right hand is on the image's LEFT half (PA view), thumbs
  pointing to the middle.

Pixel spacing and coordinates
-----------------------------
The detector field is 360 mm x 270 mm (a 4:3 landscape image), so
``pixel_spacing_mm = 360 / size``: 0.176 mm/px at the default ``size=2048``
(2048 x 1536 px, clinical resolution) and 0.257 mm/px at the quick profile's 1400
(1400 x 1050 px). Anatomy is drawn at ``meta["pose"][hand]["px_per_mm"]`` = hand scale /
pixel spacing, so how hard a grade is to see follows from anatomy. At 2048 a healthy DIP
space is ~4.5 px, a grade-1 erosion ~8 px wide and ~5 px deep, a grade-1 JSN at a DIP
narrows one edge of the space by ~1.8 px. At 1400 (quick profile) the DIP space is ~3 px,
a grade-1 erosion ~5 x 3 px and a grade-1 DIP JSN moves one edge by ~1.2 px (0.6 px on
average across the joint): the smallest grades at the DIPs are nearly sub-pixel, so the
scoring chapters should expect them to be missed there. The geometry in millimetres does
not depend on `size`: the same seed at another size is the same radiograph, resampled.
``size`` below 256 is refused. Boxes ``(x_min, y_min, x_max, y_max)`` use pixel edges
(pixel i spans [i, i+1], the torchvision convention; ``image[int(y_min):int(y_max),
int(x_min):int(x_max)]`` crops a box); a finger/CMC box is a square 1.7x the wider bone
end, centred on the joint space.

What the phantom can and cannot tell
------------------------------------
It is a teaching phantom: it makes the pipeline (aggregation, seam splitting, box
regression, scoring) runnable and its steps checkable against known truth, and it keeps
the *relative* difficulty of sites and grades that anatomy implies. It cannot tell how
well a method works on real radiographs: there is no osteopenia, no subluxation or
deformity, no overlapping fingers, no jewellery, casts or implants, bones are smooth
polygons and erosions are clean bites. Numbers measured on it are phantom numbers, not
clinical ones.

Speed: ~64 ms of CPU per 2048 px radiograph on one core (~15/s; `benchmarks/bench_phantom.py`).

Used by chapters 1-4 (through `rheumabook.data`) and by the tests of the other modules.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np
import pandas as pd

from . import disease
from .joints import HANDS, JOINTS, MAX_SCORE, applies

# --------------------------------------------------------------------------- geometry of the image

FIELD_WIDTH_MM = 360.0
"""Width of the detector field; ``pixel_spacing_mm = FIELD_WIDTH_MM / size``."""
ASPECT = 0.75
"""Image height / width (a landscape 4:3 image: 2048 x 1536 at the default size)."""
DEFAULT_SIZE = 2048
MIN_SIZE = 256
UINT16_MAX = 4095
"""uint16 output uses the 12-bit range 0..4095 (BitsStored = 12, as many hand radiographs)."""

# --------------------------------------------------------------------------- anatomy (mm), hand-anatomy.md

BONE_LENGTH_MM: dict[int, tuple[float, ...]] = {
    1: (46.0, 31.0, 22.0),  # thumb: metacarpal, proximal, distal phalanx
    2: (68.0, 40.0, 23.0, 17.0),  # fingers: metacarpal, proximal, middle, distal phalanx
    3: (65.0, 45.0, 27.0, 18.0),
    4: (58.0, 42.0, 26.0, 18.0),
    5: (54.0, 33.0, 19.0, 16.0),
}
SHAFT_WIDTH_MM: dict[int, tuple[float, ...]] = {
    1: (9.0, 8.4, 6.6),
    2: (8.6, 8.6, 6.8, 5.6),
    3: (8.8, 8.8, 7.0, 5.8),
    4: (7.8, 8.0, 6.6, 5.4),
    5: (7.4, 7.2, 6.0, 5.0),
}
CORTEX_MM = {"metacarpal": 2.0, "proximal": 1.5, "middle": 1.2, "distal": 0.9, "end": 0.5}
"""Cortex thickness on the shafts and under the joint surfaces (the subchondral plate)."""

JOINT_SPACE_MM: dict[str, float] = {
    "MCP": 1.75, "PIP": 1.05, "DIP": 0.8, "IP": 0.8, "CMC": 1.25, "radiocarpal": 2.25,
    "intercarpal": 1.5,  # not in the table; a round figure like the CMC spaces
}
"""Healthy joint space widths on a PA radiograph (mid-range of hand-anatomy.md)."""

# Depth of a bone head's parabolic cap as a fraction of its width: MCP heads are round,
# PIP/DIP heads (condyles) flatter. The next bone's base is the same cap shifted by the gap.
_HEAD_DEPTH = {"MCP": 0.27, "MCP1": 0.2, "PIP": 0.12, "DIP": 0.10, "IP": 0.12, "CMC": 0.04, "tip": 0.55}
_SOFT_BLUR_MM = 1.2  # blur of the skin edge
_SOFT_MM = {"metacarpal": 5.5, "proximal": 4.6, "middle": 4.0, "distal": 3.6, "tip": 4.0}
"""Soft tissue beside the bones of a finger (each side) and beyond the tip."""

# Nominal ray angles in degrees from the hand's long axis, positive towards the thumb.
_MC_ANGLE = {2: 8.0, 3: 1.5, 4: -6.0, 5: -12.5}
_SPREAD_ANGLE = {2: 7.0, 3: 0.0, 4: -6.0, 5: -12.0}  # added to the phalanges per unit of spread
_MC_ON_CARPAL = {2: 0.0, 3: 0.0, 4: 0.7, 5: -0.58}
"""Where a metacarpal base sits on its carpal bone: offset of its axis from the bone's centre, in half-widths."""
_MC_CARPAL = {2: ("trapezoid",), 3: ("capitate",), 4: ("hamate", "capitate"), 5: ("hamate",)}
"""The carpal bone(s) each metacarpal base meets (the first one places it)."""

# Damage: JSN grade -> remaining fraction of the joint space (grade 1 is focal, see _jsn_closure).
JSN_REMAINING: dict[int, float] = {0: 1.0, 1: 0.8, 2: 0.6, 3: 0.3, 4: 0.0}
_BRIDGE_MM = 0.5  # JSN 4: the bone ends overlap by this much, a bony bridge

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

# --------------------------------------------------------------------------- options

_OPTION_DEFAULTS: dict[str, Any] = {
    "noise": 1.0,  # multiplier of all noise (0 = a noiseless image)
    "markers": True,  # draw the lead side markers ("L"/"R")
    "label": True,  # draw the burnt-in text label
    "rotation_deg": None,  # fix both hands' rotation (deg, positive = finger tips outwards)
    "spread": None,  # fix the finger spread (0 = fingers parallel to their metacarpals, ~1.3 wide)
    "scale": None,  # fix the patient's hand scale (1 = the anatomical table sizes)
    "gamma": None,  # fix the display gamma
    "marker_error_rate": 0.06,  # probability that a present marker shows the wrong side
    "marker_missing_rate": 0.08,  # probability that a hand has no marker
}
OPTIONS: tuple[str, ...] = tuple(_OPTION_DEFAULTS)
"""Names accepted as ``**options`` by `render` (see `render`'s docstring)."""


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Radiograph:
    """One rendered bilateral PA radiograph with its truth.

    image: 2-D ``uint8`` (0..255) or ``uint16`` (12-bit, 0..4095) array (y, x), landscape.
    boxes: 42 rows, columns hand, joint, x_min, y_min, x_max, y_max (float pixels of
        ``image``, torchvision convention, clipped to the image); hands in
        ``joints.HANDS`` order, joints in ``joints.JOINTS`` order.
    truth: 42 rows, columns hand, joint, erosion, jsn (``Int64``, <NA> where a score does
        not apply at the site).
    pixel_spacing_mm: detector pixel spacing (``FIELD_WIDTH_MM / size``).
    meta: pose (per hand), exposure, markers, label, gap (background columns between the
        hands), hand extents, joint centres/axes, severity (if the truth carried one).
    """

    image: np.ndarray
    boxes: pd.DataFrame
    truth: pd.DataFrame
    pixel_spacing_mm: float
    meta: dict = field(default_factory=dict)

    def box(self, hand: str, joint: str) -> tuple[float, float, float, float]:
        """The true box ``(x_min, y_min, x_max, y_max)`` of one site (chapter 1 uses it)."""
        row = self.boxes[(self.boxes["hand"] == hand) & (self.boxes["joint"] == joint)]
        if len(row) != 1:
            raise ValueError(f"no box for hand={hand!r}, joint={joint!r}; hands are {HANDS}, joints {JOINTS}")
        r = row.iloc[0]
        return (float(r.x_min), float(r.y_min), float(r.x_max), float(r.y_max))


# --------------------------------------------------------------------------- small geometry helpers


def _unit(angle_deg: float) -> np.ndarray:
    """Unit vector of a ray at `angle_deg` from the hand's +y axis towards +x (the thumb side)."""
    a = math.radians(angle_deg)
    return np.array([math.sin(a), math.cos(a)])


def _normal(d: np.ndarray) -> np.ndarray:
    """The vector 90 deg clockwise of `d` in the hand frame: towards the thumb for an upright ray."""
    return np.array([d[1], -d[0]])


def _circle(centre: np.ndarray, r_across: float, r_along: float, d: np.ndarray, n: int = 20) -> np.ndarray:
    """(n, 2) polygon of an ellipse with semi-axes `r_along` along unit `d` and `r_across` across it."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    nv = _normal(d)
    return centre + np.outer(np.cos(t) * r_along, d) + np.outer(np.sin(t) * r_across, nv)


def _superellipse(cx: float, cy: float, a_l: float, a_r: float, b_d: float, b_u: float,
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
    nv = _normal(d)
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


def _seat(moving: np.ndarray, fixed: np.ndarray, d: np.ndarray, gap: float) -> np.ndarray:
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


def _outline(length: float, hb: float, hs: float, hh: float, cb: float, ch: float, *,
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


def _place(local: np.ndarray, origin: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Local (v, u) bone outline -> hand frame: origin + u d + v n."""
    return local @ np.array([[d[1], -d[0]], [d[0], d[1]]]) + origin


@dataclass
class _JointGeo:
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
class _HandGeo:
    """Everything drawn for one hand, in the hand frame (mm)."""

    bones: list = field(default_factory=list)
    medullae: list = field(default_factory=list)
    overlays: list = field(default_factory=list)  # bones projected over others (pisiform)
    cuts: list = field(default_factory=list)  # erosions, drawn as holes in bone and medulla
    soft: list = field(default_factory=list)  # (polygon, level 0..255)
    envelope: list = field(default_factory=list)  # points bounding the soft tissue
    joints: dict = field(default_factory=dict)  # site -> _JointGeo (finger joints, CMC)
    boxes: dict = field(default_factory=dict)  # site -> (centre, (half_x, half_y)) in mm


# --------------------------------------------------------------------------- wrist layout


def _radius_top(x: np.ndarray) -> np.ndarray:
    """y of the distal radius joint surface (radial inclination ~20 deg, slightly concave) at x in _RADIUS_X, mm."""
    x = np.asarray(x, dtype=float)
    return -15.5 + 0.36 * (x + 6.5) - 1.3 * (1.0 - ((x - 7.25) / 13.75) ** 2)


_RADIUS_X = (-6.5, 21.0)  # ulnar corner (sigmoid notch) .. radial styloid; 27.5 mm wide
_ULNA = (-15.0, 6.6, -17.5)  # head centre x, head half-width, top of the head dome (y)
_CARPAL_NAMES = ("scaphoid", "lunate", "triquetrum", "trapezium", "trapezoid", "capitate", "hamate")
# (cx, cy, a_l, a_r, b_d, b_u, rot_deg, power) before the layout search seats them; carpus ~27 mm tall
_CARPAL_START = {
    "scaphoid": (13.6, -5.0, 4.8, 4.8, 8.6, 8.6, 45.0, 2.3),
    "lunate": (0.0, -7.0, 6.6, 6.6, 5.6, 5.6, 0.0, 2.6),
    "triquetrum": (-12.0, -4.0, 5.2, 5.0, 5.4, 5.4, 0.0, 2.5),
    "capitate": (1.0, 7.0, 5.2, 5.2, 8.3, 8.3, 0.0, 2.7),
    "hamate": (-12.5, 6.0, 6.2, 6.2, 7.4, 7.4, 0.0, 2.8),
    "trapezoid": (11.5, 9.0, 4.0, 4.0, 5.2, 5.2, 0.0, 2.8),
    "trapezium": (19.0, 6.0, 4.5, 4.5, 5.6, 5.6, 45.0, 2.5),
}


@functools.lru_cache(maxsize=1)
def _carpal_layout() -> dict[str, tuple]:
    """Carpal bone parameters seated against each other and the radius with their joint spaces (computed once)."""
    p = {k: list(v) for k, v in _CARPAL_START.items()}
    gap_ic, gap_rc = JOINT_SPACE_MM["intercarpal"], JOINT_SPACE_MM["radiocarpal"]
    xs = np.linspace(*_RADIUS_X, 80)
    radius = np.vstack([np.column_stack([xs, _radius_top(xs)]), [[_RADIUS_X[1], -40.0], [_RADIUS_X[0], -40.0]]])
    down, left, right = np.array([0.0, -1.0]), np.array([-1.0, 0.0]), np.array([1.0, 0.0])

    def poly(name: str) -> np.ndarray:
        return _superellipse(*p[name])

    def shift(name: str, t: np.ndarray) -> None:
        p[name][0] += t[0]
        p[name][1] += t[1]

    def seat(name: str, against: list[str] | np.ndarray, d: np.ndarray, gap: float) -> None:
        fixed = against if isinstance(against, np.ndarray) else np.vstack([poly(a) for a in against])
        start = -10.0 * d  # start well away from the neighbours, then travel towards them
        shift(name, start)
        shift(name, _seat(poly(name), fixed, d, gap))

    # one pass, each bone against neighbours already in place: the proximal row on the radius
    # (x chosen by hand), the distal row on the proximal row and beside the capitate
    seat("lunate", radius, down, gap_rc)
    seat("scaphoid", radius, down, gap_rc)
    seat("scaphoid", ["lunate"], left, gap_ic)
    seat("scaphoid", radius, down, gap_rc)
    seat("triquetrum", ["lunate"], right, gap_ic)
    seat("capitate", ["lunate", "scaphoid"], down, gap_ic)
    seat("hamate", ["capitate"], right, gap_ic)
    seat("hamate", ["triquetrum", "lunate"], down, gap_ic)
    seat("trapezoid", ["capitate"], left, gap_ic)
    seat("trapezoid", ["scaphoid"], down, gap_ic)
    seat("trapezium", ["scaphoid"], down, gap_ic)
    seat("trapezium", ["trapezoid"], left, 0.8)  # the trapezium is tilted: on a PA view it nearly meets the trapezoid
    return {k: tuple(v) for k, v in p.items()}


@functools.lru_cache(maxsize=1)
def _carpal_outlines() -> dict[str, np.ndarray]:
    """The healthy carpal bones' outlines (hand frame, mm): what metacarpals, boxes and soft tissue use."""
    return {name: _superellipse(*params, 48) for name, params in _carpal_layout().items()}


# --------------------------------------------------------------------------- damage


def _jsn_closure(grade: int, gap: float, u: np.ndarray) -> tuple[float, float]:
    """Total closure of a joint space (mean, slope across the joint) for a JSN grade; u: 2 uniforms."""
    if grade == 0:
        return (0.0, 0.0)
    if grade == 1:  # focal: one side of the joint narrowed to ~0.6, the other normal (mean ~0.8)
        return (0.2 * gap, (0.2 if u[0] < 0.5 else -0.2) * gap)
    if grade == 4:  # ankylosis: no space left, the bone ends bridge
        return (gap + _BRIDGE_MM, 0.0)
    remaining = JSN_REMAINING[grade] + 0.1 * (u[1] - 0.5)
    return ((1.0 - remaining) * gap, 0.0)


def _erosion_split(grade: int, u: float) -> list[tuple[int, int]]:
    """Share a finger joint's erosion grade (1-4) between its bone ends: [(end, grade)], end 0 = proximal."""
    first = 0 if u < 0.5 else 1
    other = 1 - first
    coin = (u * 2.0) % 1.0 < 0.5
    if grade == 1:
        return [(first, 1)]
    if grade == 2:
        return [(first, 2)] if coin else [(first, 1), (other, 1)]
    # 3 and 4 take opposite branches of the coin, so one patient's grade 4 always shows more than its grade 3
    if grade == 3:
        return [(first, 3)] if coin else [(first, 2), (other, 1)]
    return [(first, 2), (other, 2)] if coin else [(first, 3), (other, 1)]


def _finger_erosions(j: _JointGeo, grade: int, u: np.ndarray) -> list[np.ndarray]:
    """Cut polygons (hand frame) for an erosion grade at a finger/CMC joint; u: >= 10 uniforms."""
    if grade == 0:
        return []
    d, nv, g, c = j.axis, _normal(j.axis), j.gap, j.curv
    ew = 2.0 * max(j.h_prox, j.h_dist)
    if grade == 5:  # collapse of both bone ends: a wide ragged hole where the joint surfaces were
        cuts = [_circle(j.centre, 0.56 * ew, g / 2 + 0.24 * ew, d, 28)]
        for k in range(3):
            a = 2 * np.pi * u[2 + k]
            p = j.centre + np.cos(a) * (g / 2 + 0.24 * ew) * d + np.sin(a) * 0.56 * ew * nv
            cuts.append(_circle(p, 0.15 * ew, 0.15 * ew, d, 16))
        return cuts
    cuts = []
    for k, (end, eg) in enumerate(_erosion_split(grade, u[0])):
        side = 1.0 if u[1 + k] < 0.5 else -1.0
        h = j.h_prox if end == 0 else j.h_dist
        sgn = -1.0 if end == 0 else 1.0  # proximal bone end lies at u < 0 in the joint frame
        # each bone end's defect is placed in that bone's own frame
        centre, d = (j.centre, j.axis) if end == 1 or j.axis_prox is None else (j.centre_prox, j.axis_prox)
        nv = _normal(d)
        jitter = u[4 + k]
        if eg == 1:  # a discrete ~1 mm marginal defect in the bare area next to the cartilage
            r, along = 0.7, 0.7
            v_c = side * (h - 0.15)  # breaks the cortex: ~1.4 mm wide, ~0.85 mm deep
            u_c = sgn * (g / 2 + 0.9 + 0.8 * jitter) - c * h**2
        elif eg == 2:  # large, reaching in from the margin but not past the bone's midline
            r = max(1.2, 0.26 * ew)
            along = 0.9 * r
            v_c = side * (h - 0.45 * r)  # reaches ~0.38 ew in from the margin
            u_c = sgn * (g / 2 + 0.35 * along) - c * v_c**2
        else:  # past the midline: ~1.5x the area of a grade 2, so 2 + 2 > 3 > 2 + 1
            r = 0.29 * ew
            along = 0.9 * r
            v_c = side * 0.17 * ew  # spans -0.1 ew .. 0.44 ew across the joint surface
            u_c = sgn * (g / 2 + 0.35 * along) - c * v_c**2
        pts = _circle(np.zeros(2), r, along, np.array([0.0, 1.0]), 22)  # columns (across, along)
        pu = u_c + pts[:, 1]
        # keep the defect on its own side of the joint: the other bone end stays whole
        pu = np.minimum(pu, -0.05) if end == 0 else np.maximum(pu, 0.05)
        cuts.append(centre + np.outer(pu, d) + np.outer(v_c + pts[:, 0], nv))
    return cuts


def _bites(points: list[np.ndarray], grade: int, u: np.ndarray, r_scale: float = 1.0) -> list[np.ndarray]:
    """Erosion defects at wrist sites: `grade` round bites (radius growing with the grade) at candidate margins."""
    if grade == 0:
        return []
    r = (0.5 + 0.42 * min(grade, 4)) * r_scale
    order = np.argsort(u[: len(points)])
    cuts = []
    for k in range(min(grade, len(points))):
        p = points[order[k]]
        cuts.append(_circle(p, r, r * (0.8 + 0.4 * u[6 + k % 4]), np.array([0.0, 1.0]), 18))
    return cuts


# --------------------------------------------------------------------------- one hand


def _build_hand(scores: dict[str, tuple[int, int]], pose: dict, length_factor: np.ndarray,
                dmg: np.ndarray) -> _HandGeo:
    """The geometry of one hand (hand frame, mm) for its scores {site: (erosion, jsn)} and pose."""
    geo = _HandGeo()
    ero = {k: v[0] for k, v in scores.items()}
    jsn = {k: v[1] for k, v in scores.items()}
    site_idx = {name: i for i, name in enumerate(JOINTS)}

    def rnd(site: str) -> np.ndarray:
        return dmg[site_idx[site]]

    # ---- carpus: intercarpal narrowing grows each bone towards its row neighbours (4 = fused)
    layout = _carpal_layout()
    wj = jsn["wrist"]
    gap_ic = JOINT_SPACE_MM["intercarpal"]
    grow_all, _ = _jsn_closure(wj, gap_ic, rnd("wrist")[10:12])
    grow_all = grow_all / 2.0
    focal_bones = {"capitate", "lunate", "scaphoid"} if wj == 1 else set(_CARPAL_NAMES)
    collapse = 0.78 if ero["wrist"] == 5 else 1.0
    carpal_polys: dict[str, np.ndarray] = {}
    for name in _CARPAL_NAMES:
        cx, cy, a_l, a_r, b_d, b_u, rot, pw = layout[name]
        g = grow_all * (2.0 if wj == 1 else 1.0) if name in focal_bones else 0.0
        proximal_row = name in ("scaphoid", "lunate", "triquetrum")
        if name == "trapezium":  # keep its distal (CMC1) facet; grow the other sides
            a_l, a_r, b_d = a_l + g, a_r + g, b_d + g
        elif proximal_row:  # keep the radiocarpal space; grow sideways and towards the distal row
            a_l, a_r, b_u = a_l + g, a_r + g, b_u + g
        else:  # distal row: keep the CMC spaces
            a_l, a_r, b_d = a_l + g, a_r + g, b_d + g
        b_d, b_u = b_d * collapse, b_u * collapse
        carpal_polys[name] = _superellipse(cx, cy, a_l, a_r, b_d, b_u, rot, pw, 48)
    # the pisiform lies over the triquetrum on a PA view: it adds density instead of replacing it
    tq = layout["triquetrum"]
    geo.overlays.append(_superellipse(tq[0] - 1.5, tq[1] + 0.8, 4.0, 4.0, 4.4, 4.4, 0.0, 2.0, 32))
    for name, pts in carpal_polys.items():
        geo.bones.append(pts)
        c = np.mean(pts, axis=0)
        geo.medullae.append(c + (pts - c) * 0.84)  # carpal cortex is thin

    # ---- radius: metaphysis flaring to a 27.5 mm end, styloid on the radial side; JSN lifts the joint surface
    x0, x1 = _RADIUS_X
    xs = np.linspace(x0 + 0.4, x1 - 0.6, 26)
    xn = (xs - xs.mean()) / ((xs.max() - xs.min()) / 2.0)  # -1 (ulnar) .. 1 (radial)
    rc_mean, rc_slope = _jsn_closure(jsn["radiocarpal"], JOINT_SPACE_MM["radiocarpal"], rnd("radiocarpal")[10:12])
    ytop = _radius_top(xs) + rc_mean + rc_slope * xn
    y0, y1 = float(_radius_top(x0)), float(_radius_top(x1))
    radius = np.vstack([[[-3.0, -200.0], [-3.2, -60.0], [-4.2, -36.0], [x0 + 0.1, -24.0], [x0 - 0.2, y0 - 1.8]],
                        np.column_stack([xs, ytop]),
                        [[x1 - 0.1, y1 + 0.3], [x1 + 0.7, y1 - 1.5], [x1 + 1.2, -17.0], [x1 - 0.2, -27.0],
                         [16.0, -42.0], [14.2, -60.0], [13.6, -200.0]]])
    geo.bones.append(radius)
    geo.medullae.append(np.vstack([[[-0.7, -200.0], [-0.9, -60.0], [-2.4, -36.0], [x0 + 1.6, -22.0]],
                                   np.column_stack([xs[2:-2], _radius_top(xs[2:-2]) - 1.2]),
                                   [[x1 - 1.0, y1 - 3.0], [x1 - 0.6, -17.0], [x1 - 1.8, -27.0], [13.8, -42.0],
                                    [11.8, -60.0], [11.2, -200.0]]]))

    # ---- ulna: head with a dome, a narrower shaft, the styloid on the ulnar side
    ucx, uh, utop = _ULNA
    t = np.linspace(0.0, np.pi, 15)
    head = np.column_stack([ucx + uh * np.cos(t), utop - 2.6 + 2.6 * np.sin(t)])
    ulna = np.vstack([[[ucx + 4.3, -200.0], [ucx + 4.4, -60.0], [ucx + 5.6, -32.0], [ucx + uh, -22.0]], head,
                      [[ucx - uh, -22.0], [ucx - 5.4, -32.0], [ucx - 4.6, -60.0], [ucx - 4.4, -200.0]]])
    sx = ucx - uh + 0.2  # the styloid rises from the ulnar corner of the head
    styloid = np.array([[sx - 0.3, -21.0], [sx - 0.2, -16.0], [sx + 0.6, -13.0], [sx + 1.8, -12.6], [sx + 2.6, -14.5],
                        [sx + 3.0, -18.0], [sx + 3.4, -21.0]])
    geo.bones += [ulna, styloid]
    geo.medullae.append(np.vstack([[[ucx + 2.4, -200.0], [ucx + 2.6, -60.0], [ucx + 4.0, -30.0], [ucx + uh - 1.2, -21.0]],
                                   np.column_stack([ucx + (uh - 1.2) * np.cos(t), utop - 3.0 + 1.8 * np.sin(t)]),
                                   [[ucx - uh + 1.2, -21.0], [ucx - 4.0, -30.0], [ucx - 2.6, -60.0], [ucx - 2.4, -200.0]]]))

    # wrist-site erosions (u[0:6] choose the places, u[6:10] the shapes)
    geo.cuts += _bites([carpal_polys[n][k] for n, k in (("scaphoid", 12), ("scaphoid", 36), ("lunate", 40),
                                                         ("capitate", 16), ("trapezium", 4), ("trapezoid", 30))],
                       ero["wrist"], rnd("wrist"))
    ulna_sites = ([sx + 0.9, -13.2], [sx - 0.2, -17.0], [sx + 3.1, -17.5], [ucx + 3.5, utop - 0.6],
                  [ucx - 1.0, utop], [sx - 0.2, -20.5])
    geo.cuts += _bites([np.array(p) for p in ulna_sites], ero["ulna"], rnd("ulna"))
    rim = [np.array([x, float(_radius_top(x)) + 0.2]) for x in (x1 - 1.5, 15.0, 9.0, 3.0, -2.0, x0 + 0.6)]
    geo.cuts += _bites(rim, ero["radiocarpal"], rnd("radiocarpal"))
    if ero["wrist"] == 5:
        geo.cuts += _bites([carpal_polys[n][k] for n, k in (("capitate", 40), ("lunate", 10), ("scaphoid", 24),
                                                             ("hamate", 20))], 4, rnd("wrist")[::-1], 1.4)
    if ero["ulna"] == 5:
        geo.cuts.append(_circle(np.array([ucx, utop]), uh * 0.95, 3.6, np.array([0.0, 1.0]), 24))
    if ero["radiocarpal"] == 5:
        xm = (x0 + x1) / 2.0
        geo.cuts.append(_circle(np.array([xm, float(_radius_top(xm))]), 11.0, 3.4, _unit(-20.0), 28))

    # wrist boxes (centre, half-size) in mm
    nominal = _carpal_outlines()  # boxes, soft tissue and the metacarpals do not move with wrist damage
    carpus = np.vstack(list(nominal.values()))
    lo, hi = carpus.min(axis=0), carpus.max(axis=0)
    geo.boxes["wrist"] = ((lo + hi) / 2.0, tuple((hi - lo) / 2.0 * 1.05))
    geo.boxes["ulna"] = (np.array([ucx - 1.5, utop + 1.0]), (11.5, 11.5))
    geo.boxes["radiocarpal"] = (np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0 + 1.1]),
                                ((x1 - x0) / 2.0 + 2.5, (y1 - y0) / 2.0 + 5.0))

    # ---- rays: thumb and fingers
    for f in range(1, 6):
        _build_ray(geo, f, pose, length_factor[f - 1], nominal, ero, jsn, rnd)

    # ---- soft tissue: palm with the thenar eminence, forearm (the fingers were added by _build_ray)
    wl, wr = lo[0] - 6.5, hi[0] + 6.0  # wrist sides, beside the carpus
    palm_pts = []
    for f in range(2, 6):
        j = geo.joints[f"MCP{f}"]
        w = j.h_prox + _SOFT_MM["metacarpal"]
        palm_pts += [j.centre + w * _normal(j.axis) + 5.0 * j.axis, j.centre - w * _normal(j.axis) + 5.0 * j.axis]
    mc1 = geo.joints["CMC1"]
    n1 = _normal(mc1.axis)
    for along in (0.0, 16.0, 26.0):  # the thenar covers the proximal half of the first metacarpal
        palm_pts += [mc1.centre + (mc1.h_dist + 6.0) * n1 + along * mc1.axis,
                     mc1.centre - (mc1.h_dist + 4.0) * n1 + along * mc1.axis]
    palm_pts += [np.array([wl, -6.0]), np.array([wr, -8.0]), np.array([wl + 0.5, -22.0]), np.array([wr + 0.5, -22.0])]
    hull = cv2.convexHull(np.array(palm_pts, dtype=np.float32)).reshape(-1, 2).astype(float)
    geo.soft.append((hull, 255))
    ys = np.linspace(-6.0, -200.0, 98)  # down the ulnar side, back up the radial side (dense: `_place_hand`)
    ulnar = np.column_stack([np.interp(ys, [-200.0, -40.0, -22.0, -6.0], [wl + 3.0, wl + 0.8, wl + 0.5, wl]), ys])
    radial = np.column_stack([np.interp(ys, [-200.0, -40.0, -22.0, -8.0], [wr - 1.0, wr + 0.8, wr + 0.5, wr]), ys])
    forearm = np.vstack([ulnar, radial[::-1]])
    geo.soft.append((forearm, 255))
    geo.envelope += [hull, forearm]
    return geo


def _build_ray(geo: _HandGeo, f: int, pose: dict, lf: float, carpal: dict[str, np.ndarray],
               ero: dict[str, int], jsn: dict[str, int], rnd) -> None:
    """Bones, joints, damage and soft tissue of ray `f` (1 = thumb), added to `geo`."""
    lengths = [v * lf for v in BONE_LENGTH_MM[f]]
    shafts = SHAFT_WIDTH_MM[f]
    kinds = ("metacarpal", "proximal", "distal") if f == 1 else ("metacarpal", "proximal", "middle", "distal")
    levels = ("MCP", "IP") if f == 1 else ("MCP", "PIP", "DIP")
    sites = ("MCP1", "IP") if f == 1 else (f"MCP{f}", f"PIP{f}", f"DIP{f}")
    jit = pose["finger_jitter"][f - 1]
    if f == 1:
        a_mc = pose["thumb_deg"]
        angles = [a_mc, a_mc - 12.0 + jit[1], a_mc - 18.0 + jit[1] + jit[2]]
    else:
        a_mc = _MC_ANGLE[f] + jit[0]
        a_ph = a_mc + _SPREAD_ANGLE[f] * pose["spread"]
        angles = [a_mc, a_ph + jit[1], a_ph + jit[1] + jit[2], a_ph + jit[1] + jit[2] + 0.5 * jit[2]]
    dirs = [_unit(a) for a in angles]
    # widths: base of each bone matches the head of the previous one
    widths = []
    for i, ws in enumerate(shafts):
        if i == 0:
            wb, wh = ws * (1.12 if f > 1 else 1.2), ws * (1.36 if f > 1 else 1.3)
        else:
            wb = widths[-1][2] * 0.98
            wh = ws * (1.2 if kinds[i] != "distal" else 1.0)
        widths.append((wb, ws, wh))
    caps = []
    for i in range(len(lengths)):
        lvl_h = ("MCP1" if f == 1 else "MCP") if i == 0 else (levels[i] if i < len(levels) else "tip")
        ch = _HEAD_DEPTH[lvl_h] * 2.0 / widths[i][2]  # depth = c (w/2)^2
        cb = _HEAD_DEPTH["CMC"] * 2.0 / widths[i][0] if i == 0 else caps[-1][1]
        caps.append((cb, ch))
    gaps = [JOINT_SPACE_MM[lvl] for lvl in levels]

    # seat the metacarpal base on its carpal bone, CMC space apart, along the ray
    d0 = dirs[0]
    cmc_site = "CMC1" if f == 1 else (f"CMC{f}" if f >= 3 else None)
    nominal = _outline(lengths[0], widths[0][0] / 2, widths[0][1] / 2, widths[0][2] / 2, *caps[0])
    nominal = nominal[: len(nominal) // 2]  # the base half is what meets the carpus
    if f == 1:
        carpal_pts = carpal["trapezium"]
        start = np.mean(carpal_pts, axis=0) + 12.0 * d0
    else:
        cx, cy, a_l, a_r = _carpal_layout()[_MC_CARPAL[f][0]][:4]
        carpal_pts = np.vstack([carpal[name] for name in _MC_CARPAL[f]])
        start = np.array([cx + _MC_ON_CARPAL[f] * (a_r if _MC_ON_CARPAL[f] > 0 else a_l), cy + 26.0])
    base_pt = start + _seat(_place(nominal, start, d0), carpal_pts, -d0, JOINT_SPACE_MM["CMC"])
    # JSN at CMC3-5 lengthens the metacarpal base into the CMC space
    ext_b0 = (0.0, 0.0)
    if cmc_site is not None and applies(cmc_site, "jsn"):
        ext_b0 = _jsn_closure(jsn[cmc_site], JOINT_SPACE_MM["CMC"], rnd(cmc_site)[10:12])

    # walk the chain: each bone turns about the centre of curvature of the previous head
    origins = [base_pt]
    ext_h = [(0.0, 0.0)] * len(lengths)
    ext_b = [ext_b0] + [(0.0, 0.0)] * (len(lengths) - 1)
    for i in range(len(lengths) - 1):
        ch = caps[i][1]
        radius = 1.0 / (2.0 * ch)
        tip = origins[i] + lengths[i] * dirs[i]
        centre_c = tip - radius * dirs[i]
        g = gaps[i]
        origins.append(centre_c + (radius + g) * dirs[i + 1])
        jc = centre_c + (radius + g / 2.0) * dirs[i + 1]
        hp, hd = widths[i][2] / 2.0, widths[i + 1][0] / 2.0
        side = 1.7 * 2.0 * max(hp, hd)  # the box: 1.7x the wider bone end, centred on the joint space
        jg = _JointGeo(jc, dirs[i + 1], g, hp, hd, ch, (side / 2.0, side / 2.0), levels[i],
                       centre_prox=tip + (g / 2.0) * dirs[i], axis_prox=dirs[i])
        site = sites[i]
        geo.joints[site] = jg
        geo.boxes[site] = (jc, jg.half_box)
        closure = _jsn_closure(jsn[site], g, rnd(site)[10:12])
        ext_h[i] = (closure[0] / 2.0, closure[1] / 2.0)
        ext_b[i + 1] = (closure[0] / 2.0, closure[1] / 2.0)
        geo.cuts += _finger_erosions(jg, ero[site], rnd(site))
    # the CMC joint (box and erosion site CMC1)
    hb0 = widths[0][0] / 2.0
    cmc_c = base_pt - (JOINT_SPACE_MM["CMC"] / 2.0) * d0
    cmc = _JointGeo(cmc_c, d0, JOINT_SPACE_MM["CMC"], hb0 * 0.8, hb0, caps[0][0], (0.85 * 2 * hb0, 0.85 * 2 * hb0), "CMC")
    geo.joints[f"CMC{f}"] = cmc
    if cmc_site is not None:
        geo.boxes[cmc_site] = (cmc_c, cmc.half_box)
    if cmc_site == "CMC1":
        geo.cuts += _finger_erosions(cmc, ero["CMC1"], rnd("CMC1"))

    # bones and medullae
    for i, L in enumerate(lengths):
        wb, ws, wh = widths[i]
        cb, ch = caps[i]
        geo.bones.append(_place(_outline(L, wb / 2, ws / 2, wh / 2, cb, ch, ext_b=ext_b[i], ext_h=ext_h[i]),
                                origins[i], dirs[i]))
        ce, cs = CORTEX_MM["end"], CORTEX_MM[kinds[i]]
        tip_end = kinds[i] == "distal"
        geo.medullae.append(_place(_outline(L, wb / 2 - ce, max(ws / 2 - cs, 0.6), wh / 2 - (cs if tip_end else ce),
                                            cb, ch, u0=ce + 0.2, u1=(2.2 if tip_end else ce + 0.2)),
                                   origins[i], dirs[i]))

    # finger soft tissue: a tube along the ray from the metacarpal head to past the tip
    tip = origins[-1] + lengths[-1] * dirs[-1]
    axis_pts = [origins[1] - 10.0 * dirs[1]] + [origins[i] + 0.5 * lengths[i] * dirs[i] for i in range(1, len(lengths))]
    axis_pts += [tip - 1.5 * dirs[-1]]
    half = [widths[1][0] / 2 + _SOFT_MM["metacarpal"]]
    half += [widths[i][1] / 2 + _SOFT_MM[kinds[i]] + 0.6 for i in range(1, len(lengths))]
    half += [widths[-1][2] / 2 + _SOFT_MM["distal"]]
    if f == 1:
        axis_pts[0] = origins[0] + 0.45 * lengths[0] * dirs[0]
        half = [h + 1.5 for h in half]
    axis_pts = np.array(axis_pts)
    seg = np.diff(axis_pts, axis=0)
    seg_d = seg / np.linalg.norm(seg, axis=1, keepdims=True)
    pt_d = np.vstack([seg_d[:1], (seg_d[:-1] + seg_d[1:]) / 2.0, seg_d[-1:]])
    pt_n = np.column_stack([pt_d[:, 1], -pt_d[:, 0]])
    pt_n /= np.linalg.norm(pt_n, axis=1, keepdims=True)
    half = np.array(half)[:, None]
    right, left = axis_pts + half * pt_n, axis_pts - half * pt_n
    a = np.linspace(0.0, np.pi, 9)
    dl, nl = pt_d[-1], pt_n[-1]
    r_tip = float(half[-1, 0])
    cap = axis_pts[-1] + np.outer(np.cos(a) * r_tip, nl) + np.outer(np.sin(a) * (r_tip + 0.6), dl)
    finger = np.vstack([left, cap[::-1], right[::-1]])
    geo.soft.append((finger, 245 if f == 1 else 225))
    geo.envelope.append(finger)


# --------------------------------------------------------------------------- validation


def _check_size(size: Any) -> int:
    """`size` as an int >= MIN_SIZE, or a ValueError saying why not."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ValueError(f"size must be an integer number of pixels (the image width), got {size!r}")
    if size < MIN_SIZE:
        raise ValueError(f"size={size} is too small: the phantom needs at least {MIN_SIZE} px "
                         f"(the default {DEFAULT_SIZE} renders at {FIELD_WIDTH_MM / DEFAULT_SIZE:.3f} mm/px)")
    if size > 16384:
        raise ValueError(f"size={size} is too large (at most 16384 px)")
    return int(size)


def _check_dtype(dtype: Any) -> np.dtype:
    """np.uint8 or np.uint16, or a ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be numpy.uint8 or numpy.uint16, got {dtype!r}") from None
    if dt not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"dtype must be numpy.uint8 or numpy.uint16 (12-bit values), got {dt}")
    return dt


def _check_options(options: dict) -> dict:
    """Merge `options` into the defaults, with ValueErrors for unknown names and bad values."""
    unknown = sorted(set(options) - set(_OPTION_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown phantom option(s) {', '.join(map(repr, unknown))}; "
                         f"known options: {', '.join(OPTIONS)}")
    opts = dict(_OPTION_DEFAULTS, **options)

    def number(name: str, lo: float, hi: float, allow_none: bool) -> None:
        v = opts[name]
        if v is None and allow_none:
            return
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (lo <= float(v) <= hi):
            raise ValueError(f"option {name}={v!r} must be a number in [{lo}, {hi}]"
                             + (" or None (random)" if allow_none else ""))
        opts[name] = float(v)

    number("noise", 0.0, 10.0, False)
    number("rotation_deg", -20.0, 20.0, True)
    number("spread", 0.0, 2.0, True)
    number("scale", 0.8, 1.2, True)
    number("gamma", 0.3, 3.0, True)
    number("marker_error_rate", 0.0, 1.0, False)
    number("marker_missing_rate", 0.0, 1.0, False)
    for name in ("markers", "label"):
        if not isinstance(opts[name], (bool, np.bool_)):
            raise ValueError(f"option {name}={opts[name]!r} must be True or False")
        opts[name] = bool(opts[name])
    return opts


def check_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """Validate true scores and return them in the book's order (42 rows; hand, joint, erosion, jsn as Int64).

    `truth` needs columns hand, joint, erosion, jsn (others are ignored) with one row per
    (hand, joint) of `joints.HANDS` x `joints.JOINTS`; a score is an integer in its range
    where it applies (erosion 0-5, JSN 0-4) and missing (<NA>) where it does not.
    Its ``attrs`` (e.g. a severity) are kept. Chapter 1 and `render` use it.
    """
    if not isinstance(truth, pd.DataFrame):
        raise ValueError(f"truth must be a pandas DataFrame with columns hand, joint, erosion, jsn; "
                         f"got {type(truth).__name__}")
    missing = [c for c in ("hand", "joint", "erosion", "jsn") if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks column(s) {missing}; it needs hand, joint, erosion, jsn")
    where: dict[tuple, int] = {}
    for i, key in enumerate(zip(truth["hand"].tolist(), truth["joint"].tolist())):
        if key[0] not in HANDS:
            raise ValueError(f"truth has unknown hand {key[0]!r}; expected one of {HANDS} (the patient's hands)")
        if key[1] not in JOINTS:
            raise ValueError(f"truth has unknown joint {key[1]!r}; expected one of the 21 sites in joints.JOINTS")
        if key in where:
            raise ValueError(f"truth has more than one row for hand={key[0]!r}, joint={key[1]!r}")
        where[key] = i
    keys = [(h, j) for h in HANDS for j in JOINTS]
    lack = [k for k in keys if k not in where]
    if lack:
        raise ValueError(f"truth needs one row per (hand, joint), 42 in all; missing {lack[:4]}"
                         + (" ..." if len(lack) > 4 else ""))
    rows = [where[k] for k in keys]
    out = {"hand": [k[0] for k in keys], "joint": [k[1] for k in keys]}
    for kind in ("erosion", "jsn"):
        values = truth[kind].tolist()
        col = []
        for (hand, joint), i in zip(keys, rows):
            v = values[i]
            na = v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
            if not applies(joint, kind):
                if not na:
                    raise ValueError(f"truth has a {kind} score ({v!r}) at {hand} {joint}, where {kind} is not "
                                     f"scored; use <NA>")
                col.append(pd.NA)
                continue
            if na:
                raise ValueError(f"truth {kind} is missing at {hand} {joint}, where it applies; give a grade")
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or float(v) != int(v):
                raise ValueError(f"truth {kind} at {hand} {joint} is {v!r}, not an integer grade")
            if not 0 <= int(v) <= MAX_SCORE[kind]:
                raise ValueError(f"truth {kind} at {hand} {joint} is {v!r}, outside 0..{MAX_SCORE[kind]}")
            col.append(int(v))
        out[kind] = pd.array(col, dtype="Int64")
    result = pd.DataFrame(out)
    result.attrs = dict(truth.attrs)
    return result


# --------------------------------------------------------------------------- rendering


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


def _smooth_curve(rng: np.random.Generator, n: int, knots: int = 12) -> np.ndarray:
    """A smooth random curve of `n` float32 samples in about [-1, 1] (`knots` random values, interpolated)."""
    values = rng.uniform(-1.0, 1.0, size=knots)
    return np.interp(np.linspace(0.0, knots - 1.0, n), np.arange(knots), values).astype(np.float32)


def _soft_factor(spacing: float) -> int:
    """Down-sampling factor (1-4) of the soft-tissue layer: its grid stays <= ~1 mm."""
    return int(np.clip(round(1.0 / spacing), 1, 4))


def _noise_bytes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform uint8 noise from the generator's byte stream (far cheaper than normal draws)."""
    return np.frombuffer(rng.bytes(shape[0] * shape[1]), dtype=np.uint8).reshape(shape)


def render(seed: int | np.random.Generator, *, size: int = DEFAULT_SIZE, dtype: Any = np.uint8,
           truth: Optional[pd.DataFrame] = None, **options: Any) -> Radiograph:
    """Render one seeded bilateral PA hand radiograph with its true boxes and scores.

    seed: an int (the same seed and options give identical bytes and tables) or a
        `numpy.random.Generator`. Every random number comes from that one generator (the
        pixel noise from a child generator seeded by one of its draws), in a fixed order
        that depends neither on the truth nor on `size`: a seed is the same patient and
        pose at every size.
    size: image width in pixels (landscape, height = 0.75 * size); pixel spacing
        = 360 mm / size (0.176 mm/px at 2048). At least 256.
    dtype: numpy.uint8 (0..255) or numpy.uint16 (12-bit: 0..4095).
    truth: the patient's true scores (DataFrame hand, joint, erosion, jsn, see
        `check_truth`); None draws them from the disease model with the same generator
        (`disease.sample_patient(rng)`, i.e. `disease.sample_truth` plus the severity,
        recorded in ``meta["severity"]``), after all the phantom's own draws. The pose,
        exposure, markers and noise do not depend on the truth, so re-rendering a seed
        with an edited truth changes the image only at the edited joints.
    options: noise (multiplier, 0 = none), markers / label (draw them), rotation_deg,
        spread, scale, gamma (fix a pose/exposure parameter instead of drawing it),
        marker_error_rate, marker_missing_rate. Unknown names raise ValueError.

    Returns a `Radiograph` (image, boxes, truth, pixel_spacing_mm, meta). ``meta`` holds
    pose (per hand: rotation_deg, scale, spread, thumb_deg, origin_px, px_per_mm, ...),
    exposure, markers (per hand: letter, correct, box; None if missing), label (text, box
    or None), gap_px (first/last background column between the hands), hand_extent_x_px,
    joints (per hand and site: centre in box coordinates; for finger and CMC joints also
    the unit axis towards the finger tip, gap_px and end_width_px), seed, size, severity.
    """
    size = _check_size(size)
    dt = _check_dtype(dtype)
    opts = _check_options(options)
    if truth is not None:
        truth = check_truth(truth)
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        rng = np.random.default_rng(int(seed))
    else:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")

    W, H = size, int(round(size * ASPECT))
    spacing = FIELD_WIDTH_MM / W

    # ---- every draw, in a fixed order that does not depend on the truth or the options
    d = _draw(rng, W, H)
    severity = None
    if truth is None:
        # the disease model's last draws; sample_patient also tells the severity (sample_truth does not)
        sampler = getattr(disease, "sample_patient", None)
        if sampler is not None:
            patient = sampler(rng)
            truth, severity = check_truth(patient.truth), getattr(patient, "severity", None)
        else:  # pragma: no cover - an older disease module
            truth = check_truth(disease.sample_truth(rng))
    if severity is None:
        severity = truth.attrs.get("severity")
    if opts["rotation_deg"] is not None:
        for h in HANDS:
            d["pose"][h]["rotation_deg"] = opts["rotation_deg"]
    if opts["spread"] is not None:
        for h in HANDS:
            d["pose"][h]["spread"] = opts["spread"]
    if opts["scale"] is not None:
        for h in HANDS:
            d["pose"][h]["scale"] = opts["scale"] * d["pose"][h]["scale"] / d["patient_scale"]
        d["patient_scale"] = opts["scale"]
    if opts["gamma"] is not None:
        d["exposure"]["gamma"] = opts["gamma"]

    image, boxes, meta = _render_image(d, truth, W, H, spacing, dt, opts)
    meta["seed"] = int(seed) if not isinstance(seed, np.random.Generator) else None
    meta["size"] = (H, W)
    meta["severity"] = None if severity is None else float(severity)
    return Radiograph(image=image, boxes=boxes, truth=truth, pixel_spacing_mm=spacing, meta=meta)


def _draw(rng: np.random.Generator, W: int, H: int) -> dict:
    """All random numbers of one radiograph, drawn in a fixed order (determinism and locality)."""
    patient_scale = float(rng.uniform(0.9, 1.1))
    length_factor = rng.uniform(0.97, 1.03, size=5)
    pose = {}
    for hand in HANDS:
        pose[hand] = {
            "scale": patient_scale * float(rng.uniform(0.99, 1.01)),
            "rotation_deg": float(np.clip(rng.normal(0.0, 4.0), -8.0, 8.0)),
            "spread": float(rng.uniform(0.2, 1.3)),
            "thumb_deg": float(rng.uniform(28.0, 48.0)),
            "finger_jitter": rng.normal(0.0, 1.5, size=(5, 3)),
            "inner_margin": float(rng.uniform(0.015, 0.06)),
            "u_x": float(rng.uniform()),
            "u_y": float(rng.uniform()),
        }
    damage = rng.uniform(size=(len(HANDS), len(JOINTS), 12))
    exposure = {
        "window_lo": float(rng.uniform(-0.08, 0.03)),
        "window_hi": float(rng.uniform(0.86, 1.0)),
        "gamma": float(rng.uniform(0.8, 1.3)),
        "noise_sigma": float(rng.uniform(0.008, 0.028)),
        "mottle": float(rng.uniform(0.0, 0.03)),
        "heel": float(rng.uniform(-0.08, 0.08)),
    }
    marker_u = rng.uniform(size=(len(HANDS), 3))
    corner_u = rng.uniform(size=(len(HANDS) + 1, 4))
    label = {
        "u": rng.uniform(size=3),
        "digits": rng.integers(0, 10, size=7),
        "date": (int(rng.integers(2005, 2024)), int(rng.integers(1, 13)), int(rng.integers(1, 29))),
    }
    # the noise fields have as many values as pixels: they come from a child generator seeded by
    # one draw of `rng`, so the draws after them (the truth) are the same at every image size
    noise_rng = np.random.default_rng(int(rng.integers(0, 2**63)))
    noise = {
        "fine": _noise_bytes(noise_rng, (H, W)),
        "texture": _noise_bytes(noise_rng, ((H + 1) // 2, (W + 1) // 2)),
        "mottle_y": _smooth_curve(noise_rng, H),
        "mottle_x": _smooth_curve(noise_rng, W),
    }
    return {"patient_scale": patient_scale, "length_factor": length_factor, "pose": pose, "damage": damage,
            "exposure": exposure, "marker_u": marker_u, "corner_u": corner_u, "label": label, "noise": noise}


def _place_hand(geo: _HandGeo, hand: str, pose: dict, W: int, H: int, spacing: float) -> tuple[np.ndarray, np.ndarray, dict]:
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


def _render_image(d: dict, truth: pd.DataFrame, W: int, H: int, spacing: float, dt: np.dtype,
                  opts: dict) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Geometry -> masks -> attenuation -> display -> noise -> markers -> quantised image."""
    # one uint8 density image: cortex, then medulla drawn over it, then erosions cut to 0; the
    # anti-aliased edges blend neighbouring levels, which is what a projection would do
    dens = np.zeros((H, W), np.uint8)
    qs = _soft_factor(spacing)  # soft tissue is smooth: draw and blur it on a coarser grid
    Hq, Wq = -(-H // qs), -(-W // qs)
    soft = np.zeros((Hq, Wq), np.uint8)
    sq = np.array([Wq / W, Hq / H])
    ero = truth["erosion"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))
    jsn = truth["jsn"].fillna(0).to_numpy(dtype=int).reshape(len(HANDS), len(JOINTS))

    box_rows, meta_pose, extents, joints_meta = [], {}, {}, {}
    for hi, hand in enumerate(HANDS):
        scores = {j: (int(ero[hi, ji]), int(jsn[hi, ji])) for ji, j in enumerate(JOINTS)}
        pose = d["pose"][hand]
        geo = _build_hand(scores, pose, d["length_factor"], d["damage"][hi])
        m, origin, info = _place_hand(geo, hand, pose, W, H, spacing)
        # image coordinates use pixel edges (pixel i spans [i, i+1], as the boxes); OpenCV's
        # drawing puts pixel i's centre at i, hence the - 0.5 when drawing
        px = lambda pts: _to_px(pts, m, origin)  # noqa: E731
        _fill(dens, [px(p) - 0.5 for p in geo.bones], _LEVEL_CORTEX)
        _fill(dens, [px(p) - 0.5 for p in geo.medullae], _LEVEL_MEDULLA)
        _fill(dens, [px(p) - 0.5 for p in geo.overlays], _LEVEL_OVERLAY)
        _fill(dens, [px(p) - 0.5 for p in geo.cuts], 0)
        for poly, level in geo.soft:  # on the coarse grid
            _fill(soft, [px(poly) * sq - 0.5], level)
        k = info["scale"] / spacing
        rot = math.radians(pose["rotation_deg"])
        jm = {}
        for joint in JOINTS:
            c_mm, (hx, hy) = geo.boxes[joint]
            c = px(c_mm[None, :])[0]
            if joint in ("wrist", "radiocarpal", "ulna"):
                # axis-aligned box around the rotated rectangle
                hx, hy = (abs(math.cos(rot)) * hx + abs(math.sin(rot)) * hy,
                          abs(math.sin(rot)) * hx + abs(math.cos(rot)) * hy)
            hxp, hyp = hx * k, hy * k
            box_rows.append((hand, joint, max(c[0] - hxp, 0.0), max(c[1] - hyp, 0.0),
                             min(c[0] + hxp, float(W)), min(c[1] + hyp, float(H))))
            jg = geo.joints.get(joint)
            entry = {"centre": (float(c[0]), float(c[1]))}
            if jg is not None:
                ax = jg.axis @ m.T
                ax = ax / np.linalg.norm(ax)
                entry.update(axis=(float(ax[0]), float(ax[1])), gap_px=float(jg.gap * k),
                             end_width_px=float(2 * max(jg.h_prox, jg.h_dist) * k))
            jm[joint] = entry
        joints_meta[hand] = jm
        extents[hand] = info["extent_x"]
        meta_pose[hand] = {"rotation_deg": pose["rotation_deg"], "scale": info["scale"], "spread": pose["spread"],
                           "thumb_deg": pose["thumb_deg"], "origin_px": (float(origin[0]), float(origin[1])),
                           "inner_margin_frac": pose["inner_margin"], "px_per_mm": float(k)}

    ex = d["exposure"]
    nz = d["noise"]
    nfac = opts["noise"]
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

    markers, label = _draw_markers(y, d, box_rows, extents, W, H, spacing, opts)

    # ---- quantise, then the detector's blur (also correlates the noise over ~2 px)
    np.maximum(y, 0.0, out=y)
    if dt == np.dtype(np.uint8):
        image = cv2.convertScaleAbs(y, alpha=255.0)  # rounds and saturates at 255
    else:
        np.minimum(y, 1.0, out=y)
        y *= float(UINT16_MAX)
        y += 0.5
        image = y.astype(np.uint16)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)

    boxes = pd.DataFrame(box_rows, columns=["hand", "joint", "x_min", "y_min", "x_max", "y_max"])
    for c in ("x_min", "y_min", "x_max", "y_max"):
        boxes[c] = boxes[c].astype(float).round(2)
    # columns lo..hi (inclusive) lie wholly between the hands' extents (pixel i spans [i, i+1])
    gap = (int(math.ceil(extents["right"][1])), int(math.floor(extents["left"][0])) - 1)
    meta = {
        "pose": meta_pose,
        "exposure": {k: v for k, v in ex.items()},
        "markers": markers,
        "label": label,
        "gap_px": gap,  # (first, last) column of background between the hands
        "hand_extent_x_px": {h: (float(a), float(b)) for h, (a, b) in extents.items()},
        "joints": joints_meta,
        "uint16_range": UINT16_MAX if dt == np.dtype(np.uint16) else None,
    }
    return image, boxes, meta


def _overlaps(b: tuple, others: list[tuple]) -> bool:
    """Whether box `b` intersects any of `others` (x0, y0, x1, y1)."""
    return any(b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3] for o in others)


def _draw_text(y: np.ndarray, text: str, x: int, y0: int, height_px: float, value: float, frame: bool,
               on_plate: bool = False) -> tuple[int, int, int, int]:
    """Burn `text` (lead letters or a label) into float image `y` with its top-left at (x, y0); returns its box."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, 1.0, 2)
    fs = height_px / th
    thick = max(1, int(round(height_px / 7.0)))
    (tw, th), base = cv2.getTextSize(text, font, fs, thick)
    pad = int(round(0.25 * height_px))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    Hh, Ww = y.shape
    x0, yy0 = int(max(0, min(x, Ww - bw))), int(max(0, min(y0, Hh - bh)))
    roi = np.zeros((bh, bw), np.uint8)
    cv2.putText(roi, text, (pad, pad + th), font, fs, 255, thick, cv2.LINE_AA)
    if frame:
        cv2.rectangle(roi, (1, 1), (bw - 2, bh - 2), 255, max(1, thick // 2), cv2.LINE_AA)
    sub = y[yy0:yy0 + bh, x0:x0 + bw]
    r = roi[: sub.shape[0], : sub.shape[1]].astype(np.float32) / 255.0
    if on_plate:  # dark letters on a bright plate
        sub[...] = 0.92 * (1.0 - r) + 0.08 * r
    else:
        np.maximum(sub, value * r, out=sub)
    return (x0, yy0, x0 + sub.shape[1], yy0 + sub.shape[0])


def _draw_markers(y: np.ndarray, d: dict, box_rows: list, extents: dict, W: int, H: int, spacing: float,
                  opts: dict) -> tuple[dict, Optional[dict]]:
    """Side markers near each hand and a text label in a free corner, away from joints and the middle gap."""
    joint_boxes = [(r[2], r[3], r[4], r[5]) for r in box_rows]
    taken: list[tuple] = []
    markers: dict[str, Optional[dict]] = {}
    letter_px = 10.0 / spacing  # 10 mm lead letters
    margin = int(0.015 * W)
    halves = {"right": (margin, int(extents["right"][1]) - margin),
              "left": (int(extents["left"][0]) + margin, W - margin)}
    for hi, hand in enumerate(HANDS):
        mu = d["marker_u"][hi]
        missing = (not opts["markers"]) or mu[0] < opts["marker_missing_rate"]
        wrong = mu[1] < opts["marker_error_rate"]
        if missing:
            markers[hand] = None
            continue
        letter = ("R" if hand == "right" else "L") if not wrong else ("L" if hand == "right" else "R")
        x_lo, x_hi = halves[hand]
        side = int(letter_px * 1.6)
        order = np.argsort(d["corner_u"][hi])
        cands = [(x_lo, margin), (x_hi - side, margin), (x_lo, H - margin - side), (x_hi - side, H - margin - side)]
        placed = None
        for c in order:
            cx, cy = cands[c]
            b = (cx - 2, cy - 2, cx + side + 2, cy + side + 2)
            if cx >= x_lo and cx + side <= x_hi and not _overlaps(b, joint_boxes + taken):
                placed = _draw_text(y, letter, cx, cy, letter_px, 1.0, frame=mu[2] < 0.5)
                break
        if placed is None:
            markers[hand] = None
            continue
        taken.append(placed)
        markers[hand] = {"letter": letter, "correct": not wrong, "box": tuple(int(v) for v in placed)}
    label = None
    lu = d["label"]
    if opts["label"] and lu["u"][0] < 0.85:
        yyyy, mm, dd = lu["date"]
        text = f"ID {''.join(map(str, lu['digits']))}  {yyyy:04d}-{mm:02d}-{dd:02d}  PA"
        h_px = 0.018 * H
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, h_px / 22.0, 1)
        bw, bh = tw + int(0.5 * h_px) + 4, th + base + int(0.5 * h_px) + 4
        order = np.argsort(d["corner_u"][len(HANDS)])
        cands = []
        for hand in ("right", "left"):
            x_lo, x_hi = halves[hand]
            cands += [(x_lo, margin), (x_hi - bw, margin), (x_lo, H - margin - bh), (x_hi - bw, H - margin - bh)]
        for c in list(order) + [4 + int(o) for o in order]:
            cx, cy = cands[c]
            hand = "right" if c < 4 else "left"
            x_lo, x_hi = halves[hand]
            b = (cx, cy, cx + bw, cy + bh)
            if cx >= x_lo and cx + bw <= x_hi and not _overlaps(b, joint_boxes + taken):
                box = _draw_text(y, text, cx, cy, h_px, 0.95, frame=False, on_plate=lu["u"][1] < 0.4)
                label = {"text": text, "box": tuple(int(v) for v in box)}
                break
    return markers, label
