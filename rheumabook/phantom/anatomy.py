"""The phantom's anatomy in millimetres (``shared/reference/hand-anatomy.md``) and its detector field.

Round figures per finger (bone lengths, shaft widths, cortex), the healthy joint spaces,
the head shapes, the rays' nominal angles, where the metacarpals sit on the carpus, the
layout of the wrist before it is seated (`wrist.carpal_layout`) and what a JSN grade
leaves of a joint space. Everything else in the package draws from these numbers; none
of them depends on the image size.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FIELD_WIDTH_MM", "ASPECT", "DEFAULT_SIZE", "MIN_SIZE", "UINT16_MAX", "BONE_LENGTH_MM", "SHAFT_WIDTH_MM", "CORTEX_MM", "JOINT_SPACE_MM", "JSN_REMAINING", "radius_top", "RADIUS_X", "ULNA", "CARPAL_NAMES", "CARPAL_START"]

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
    1: (9.0, 8.2, 6.6),
    2: (8.6, 8.6, 6.8, 5.6),
    3: (8.8, 8.8, 7.0, 5.8),
    4: (7.8, 7.8, 6.6, 5.4),
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
_HEAD_DEPTH = {"MCP": 0.27, "MCP1": 0.2, "PIP": 0.12, "DIP": 0.10, "IP": 0.12, "CMC": 0.04, "tip": 0.3}
_END_FLARE = {"metacarpal base": 1.12, "metacarpal head": 1.38, "thumb metacarpal base": 1.35,
              "thumb metacarpal head": 1.35, "phalanx head": 1.34, "tuft": 1.2}
"""Width of a bone end / its shaft (`SHAFT_WIDTH_MM` is the shaft at its waist: metacarpals 7-10 mm, proximal
phalanges 7-9, middle 6-7, distal 5-6). The ends flare to 1.3-1.5x the shaft, so the waist is 0.6-0.75x the ends;
a distal phalanx ends in a tuft ~1.2x its shaft (hand-anatomy.md). A phalanx's base matches the head before it.
The bases of metacarpals 2-5 stay narrower (1.12x): they meet side by side on the carpus, which is narrower
than a real one, and wider bases would overlap there."""
_NOTCH = 0.02  # depth of the notch between the two condyles of a phalangeal head, x the head's width
_PHYSIS = 0.3  # an open growth plate lies this far (x the end's width) from the joint surface
_SOFT_BLUR_MM = 1.2  # blur of the skin edge
_SOFT_MM = {"metacarpal": 5.5, "proximal": 4.6, "middle": 4.0, "distal": 3.6, "tip": 4.0}
"""Soft tissue beside the bones of a finger (each side) and beyond the tip."""
_WEB_REACH = 0.35
"""How far up the proximal phalanges (MCP to PIP) the webs between the fingers reach."""
_WEB_REACH_THUMB = 0.8
"""How far up the first metacarpal (CMC1 to MCP1) the first web reaches from the index."""

# Nominal ray angles in degrees from the hand's long axis, positive towards the thumb. The metacarpals fan out
# so that their heads lie ~55 mm apart, centre to centre (a hand 80-90 mm wide over them, hand-anatomy.md; ~77
# with the phantom's palm soft tissue). The development hands' MCP2-MCP5 span is 1.41 +- 0.09 x their MCP3-PIP3
# distance (phantom v2: 1.08). The fingers turn back towards the middle one at the MCPs (_MCP_TURN), so that
# the finger tips keep their places.
_MC_ANGLE = {2: 15.0, 3: 1.5, 4: -11.0, 5: -24.0}
_MCP_TURN = {2: -11.0, 3: 0.0, 4: 5.5, 5: 11.0}
_THUMB_FORESHORTENING = 0.9
"""Projected length of the first metacarpal / its true length: it leaves the trapezium tilted ~25 deg out of
the film's plane (palmar abduction), so a PA view sees it short and broad (hand-anatomy.md)."""
_CMC1_RADIAL_MM = 3.0
"""How far radially of the trapezium's centre line the first metacarpal's base meets it (its saddle faces
distally and radially): the thumb starts low and wide of the index, as on the development hands."""
_SPREAD_ANGLE = {2: 7.0, 3: 0.0, 4: -6.0, 5: -12.0}  # added to the phalanges per unit of spread (x the patient's gain)
_MC_ON_CARPAL = {2: 0.0, 3: 0.0, 4: 0.7, 5: -0.9}
"""Where a metacarpal base sits on its carpal bone: offset of its axis from the bone's centre, in half-widths."""
_MC_CARPAL = {2: ("trapezoid", "capitate", "trapezium"), 3: ("capitate",), 4: ("hamate", "capitate"), 5: ("hamate",)}
"""The carpal bone(s) each metacarpal base meets (the first one places it)."""

# Damage: JSN grade -> remaining fraction of the joint space (grade 1 is focal, see jsn_closure).
JSN_REMAINING: dict[int, float] = {0: 1.0, 1: 0.8, 2: 0.6, 3: 0.3, 4: 0.0}
_BRIDGE_MM = 0.5  # JSN 4: the bone ends overlap by this much, a bony bridge


# --------------------------------------------------------------------------- wrist layout


def radius_top(x: np.ndarray) -> np.ndarray:
    """y of the distal radius joint surface (radial inclination ~20 deg, slightly concave) at x in RADIUS_X, mm."""
    x = np.asarray(x, dtype=float)
    return -15.5 + 0.36 * (x + 6.5) - 1.3 * (1.0 - ((x - 7.25) / 13.75) ** 2)


RADIUS_X = (-6.5, 21.0)  # ulnar corner (sigmoid notch) .. radial styloid; 27.5 mm wide
ULNA = (-15.0, 6.6, -17.5)  # head centre x, head half-width, top of the head dome (y)
CARPAL_NAMES = ("scaphoid", "lunate", "triquetrum", "trapezium", "trapezoid", "capitate", "hamate")
# (cx, cy, a_l, a_r, b_d, b_u, rot_deg, power) before the layout search seats them. Longest extents (mm; hand-anatomy.md
# in brackets): scaphoid 21 (25-28), lunate 15 (~18), triquetrum 13 (~15), capitate 19 (20-25), hamate 17, trapezoid 11,
# trapezium 12; carpus 33 mm from the lunate's radial facet to the capitate's top (25-30: real carpals overlap in a PA
# view, the phantom's keep their joint spaces). Issue 20: 15-25 % larger than phantom v3's first carpus, which put the
# thumb and the fifth ray 0.1-0.15 MCP3-PIP3 lengths off the development hands' mean layout
CARPAL_START = {
    "scaphoid": (13.6, -5.0, 5.2, 5.2, 10.5, 10.5, 45.0, 2.3),
    "lunate": (0.0, -7.0, 7.4, 7.4, 6.2, 6.2, 0.0, 2.6),
    "triquetrum": (-12.0, -4.0, 6.2, 6.0, 5.8, 5.8, 0.0, 2.5),
    "capitate": (1.0, 7.0, 6.2, 6.2, 9.5, 9.5, 0.0, 2.7),
    "hamate": (-12.5, 6.0, 7.6, 7.6, 8.0, 8.0, 0.0, 2.8),
    "trapezoid": (11.5, 9.0, 4.6, 4.6, 5.4, 5.4, 0.0, 2.8),
    "trapezium": (19.0, 6.0, 5.0, 5.0, 6.0, 6.0, 45.0, 2.5),
}

