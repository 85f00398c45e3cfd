"""The 21 joint sites of one hand, in the book's one fixed order (paper §3.1).

RheumaVIT scores a modified Sharp/van der Heijde set of sites. The paper lists
erosion sites as "interphalangeal, 4 distal interphalangeal, 4 proximal
interphalangeal, 5 metacarpophalangeal, 1st metacarpal base, wrist, ulnar, and
radiocarpal" -- that is 18 names, although the text says 17. We follow the named
list (18 erosion sites) and flag the discrepancy here and in chapter 1. JSN is
scored at 19 sites: the same finger joints, CMC 3-5, wrist and radiocarpal.
The union of both lists is the 21 boxes per hand the localiser regresses.

Used by every chapter; chapter 1 draws the joint map.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

HANDS: tuple[str, ...] = ("left", "right")
"""The patient's hands. On a PA radiograph the patient's right hand lies on the image's left."""

SCORE_KINDS: tuple[str, ...] = ("erosion", "jsn")
MAX_SCORE: dict[str, int] = {"erosion": 5, "jsn": 4}
"""Highest grade of each score (erosion 0-5, JSN 0-4, Sharp/van der Heijde)."""


@dataclass(frozen=True)
class JointSite:
    """One scored site of a hand: its short name, what it is, and which scores apply."""

    name: str
    description: str
    finger: Optional[int]  # 1 = thumb ... 5 = little finger; None for wrist sites
    level: str  # "IP", "DIP", "PIP", "MCP", "CMC" or "wrist"
    erosion: bool
    jsn: bool


def _site(name: str, description: str, finger: Optional[int], level: str, erosion: bool, jsn: bool) -> JointSite:
    return JointSite(name, description, finger, level, erosion, jsn)


_FINGER_NAMES = {1: "thumb", 2: "index finger", 3: "middle finger", 4: "ring finger", 5: "little finger"}

SITES: tuple[JointSite, ...] = (
    _site("IP", "interphalangeal joint of the thumb", 1, "IP", True, True),
    *(_site(f"DIP{f}", f"distal interphalangeal joint, {_FINGER_NAMES[f]}", f, "DIP", True, True) for f in range(2, 6)),
    *(_site(f"PIP{f}", f"proximal interphalangeal joint, {_FINGER_NAMES[f]}", f, "PIP", True, True) for f in range(2, 6)),
    *(_site(f"MCP{f}", f"metacarpophalangeal joint, {_FINGER_NAMES[f]}", f, "MCP", True, True) for f in range(1, 6)),
    _site("CMC1", "base of the first metacarpal (first carpometacarpal joint)", 1, "CMC", True, False),
    *(_site(f"CMC{f}", f"carpometacarpal joint {f}", f, "CMC", False, True) for f in range(3, 6)),
    _site("wrist", "intercarpal joints (multangular, navicular, lunate, capitate)", None, "wrist", True, True),
    _site("ulna", "distal ulna (ulnar styloid)", None, "wrist", True, False),
    _site("radiocarpal", "radiocarpal joint (distal radius)", None, "wrist", True, True),
)

JOINTS: tuple[str, ...] = tuple(s.name for s in SITES)
"""The 21 site names of one hand, in the fixed order used for boxes and model outputs."""

EROSION_SITES: tuple[str, ...] = tuple(s.name for s in SITES if s.erosion)
"""The 18 sites that carry an erosion score (0-5)."""

JSN_SITES: tuple[str, ...] = tuple(s.name for s in SITES if s.jsn)
"""The 19 sites that carry a joint space narrowing score (0-4)."""

SITE_BY_NAME: dict[str, JointSite] = {s.name: s for s in SITES}

MIRROR_HAND: dict[str, str] = {"left": "right", "right": "left"}
"""The other hand: mirroring an image of one hand left-right makes it look like the other."""


def joint_index(name: str) -> int:
    """Position of a site in `JOINTS`; a clear error for an unknown name."""
    try:
        return JOINTS.index(name)
    except ValueError:
        raise ValueError(f"unknown joint site {name!r}; expected one of {', '.join(JOINTS)}") from None


def sites_for(kind: str) -> tuple[str, ...]:
    """The sites scored for `kind` ("erosion" or "jsn")."""
    if kind == "erosion":
        return EROSION_SITES
    if kind == "jsn":
        return JSN_SITES
    raise ValueError(f"unknown score kind {kind!r}; expected 'erosion' or 'jsn'")


def applies(joint: str, kind: str) -> bool:
    """Whether a score of `kind` exists at `joint` (it is missing, never 0, where it does not)."""
    return joint in sites_for(kind)


def mirror_boxes_x(boxes: np.ndarray, width: int) -> np.ndarray:
    """Mirror (N, 4) pixel boxes `(x_min, y_min, x_max, y_max)` left-right in an image `width` pixels wide.

    A box that covers pixel columns x_min..x_max (pixel edges) maps to
    width - x_max .. width - x_min, so mirroring twice gives the boxes back.
    """
    boxes = np.asarray(boxes, dtype=float)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {boxes.shape}")
    out = boxes.copy()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out
