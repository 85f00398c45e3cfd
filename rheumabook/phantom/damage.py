"""Damage where it is scored (Sharp/van der Heijde, paper refs [38, 39]): JSN, erosions, sclerosis, osteopenia.

JSN grade -> how much of a joint space closes (`jsn_closure`: 1.0 / ~0.8 focal / ~0.6 /
~0.3 / 0 with a bony bridge of the space is left); the caller grows both bone ends into
the gap, so nothing outside the joint moves, and from grade 2 the bone under both joint
surfaces is sclerotic (`jsn_sclerosis`: bands of added cortex). Erosions are outlines (hand
frame, mm) where bone is removed down to soft tissue (lucent, never black), with ragged
margins (`ragged`): at a finger/CMC joint (`finger_erosions`) grade 1 is one ~1 mm marginal
defect that breaks the cortex at the bare area, 2-4 larger defects shared between the two bone
ends (`_erosion_split`: 2 = large but not past the bone's midline, 3 = past it, 4 = 3 + 1 or
2 + 2), 5 = collapse of both bone ends; at the wrist sites (`wrist_bites`) `grade` bites at
candidate margins. Every damaged site is also osteopenic (`osteopenia`: a less dense medulla
around the joint, deeper with its grades, inside its box). Each site's shapes come from its own
uniforms, so damage at one joint never moves or marks another.
"""
from __future__ import annotations

import numpy as np

from .anatomy import _BRIDGE_MM, JSN_REMAINING
from .outline import circle, JointGeo, normal_of

__all__ = ["jsn_closure", "finger_erosions", "wrist_bites", "ragged", "jsn_sclerosis", "osteopenia"]


def jsn_closure(grade: int, gap: float, u: np.ndarray) -> tuple[float, float]:
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


def finger_erosions(j: JointGeo, grade: int, u: np.ndarray, *, distal_only: bool = False) -> list[np.ndarray]:
    """Cut polygons (hand frame) for an erosion grade at a finger/CMC joint; u: >= 10 uniforms.

    distal_only: every defect in the distal bone end, for a site that is one bone's end (CMC1 is scored at
    the base of the first metacarpal, not the trapezium); two defects then take opposite margins.
    """
    if grade == 0:
        return []
    d, nv, g, c = j.axis, normal_of(j.axis), j.gap, j.curv
    ew = 2.0 * max(j.h_prox, j.h_dist)
    if grade == 5:  # collapse of both bone ends: a wide ragged hole where the joint surfaces were
        cuts = [circle(j.centre, 0.56 * ew, g / 2 + 0.24 * ew, d, 28)]
        for k in range(3):
            a = 2 * np.pi * u[2 + k]
            p = j.centre + np.cos(a) * (g / 2 + 0.24 * ew) * d + np.sin(a) * 0.56 * ew * nv
            cuts.append(circle(p, 0.15 * ew, 0.15 * ew, d, 16))
        return cuts
    cuts = []
    first_side = None
    for k, (end, eg) in enumerate(_erosion_split(grade, u[0])):
        side = 1.0 if u[1 + k] < 0.5 else -1.0
        if distal_only:
            end = 1
            side = side if first_side is None else -first_side
            first_side = side
        h = j.h_prox if end == 0 else j.h_dist
        sgn = -1.0 if end == 0 else 1.0  # proximal bone end lies at u < 0 in the joint frame
        # each bone end's defect is placed in that bone's own frame
        centre, d = (j.centre, j.axis) if end == 1 or j.axis_prox is None else (j.centre_prox, j.axis_prox)
        nv = normal_of(d)
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
        pts = ragged(np.zeros(2), r, along, np.array([0.0, 1.0]), u[4 + k], 22)  # columns (across, along)
        pu = u_c + pts[:, 1]
        # keep the defect on its own side of the joint: the other bone end stays whole
        pu = np.minimum(pu, -0.05) if end == 0 else np.maximum(pu, 0.05)
        cuts.append(centre + np.outer(pu, d) + np.outer(v_c + pts[:, 0], nv))
    return cuts


def wrist_bites(points: list[np.ndarray], grade: int, u: np.ndarray, r_scale: float = 1.0) -> list[np.ndarray]:
    """Erosion defects at wrist sites: `grade` round bites (radius growing with the grade) at candidate margins."""
    if grade == 0:
        return []
    r = (0.5 + 0.42 * min(grade, 4)) * r_scale
    order = np.argsort(u[: len(points)])
    cuts = []
    for k in range(min(grade, len(points))):
        p = points[order[k]]
        cuts.append(ragged(p, r, r * (0.8 + 0.4 * u[6 + k % 4]), np.array([0.0, 1.0]), u[6 + k % 4], 18))
    return cuts


def ragged(centre: np.ndarray, r_across: float, r_along: float, d: np.ndarray, u: float, n: int = 22) -> np.ndarray:
    """An erosion's outline: an ellipse (`outline.circle`) with an irregular, notched margin.

    The radius wobbles by ~+-20 % (harmonics 3 and 5 with phases from the uniform `u`), so the
    defect's edge is ragged like a real erosion's, not a clean bite.
    """
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    wobble = 1.0 + 0.14 * np.sin(3.0 * t + 2.0 * np.pi * u) + 0.08 * np.sin(5.0 * t + 13.0 * u)
    nv = normal_of(d)
    return centre + np.outer(np.cos(t) * r_along * wobble, d) + np.outer(np.sin(t) * r_across * wobble, nv)


def jsn_sclerosis(j: JointGeo, grade: int, closure: tuple[float, float]) -> list[tuple[np.ndarray, float]]:
    """Subchondral sclerosis beside a narrowed finger/CMC joint: (outline, mm of cortex added) per bone end.

    A band under each (grown) joint surface, ~1.5 mm deep, denser with the grade (JSN 2-4: 0.6,
    1.0, 1.4 mm of extra cortex along the beam); none at grades 0-1. Outlines in the hand frame.
    """
    if grade < 2:
        return []
    mm = 0.2 + 0.4 * (grade - 1)
    depth, c, g = 1.5, j.curv, j.gap
    grow = min(closure[0] / 2.0, g / 2.0)
    bands = []
    for end in (0, 1):  # 0: the proximal bone's head, 1: the distal bone's base
        h = 0.85 * (j.h_prox if end == 0 else j.h_dist)
        centre, d = (j.centre_prox, j.axis_prox) if end == 0 and j.axis_prox is not None else (j.centre, j.axis)
        v = np.linspace(-h, h, 9)
        sgn = -1.0 if end == 0 else 1.0
        surface = sgn * (g / 2.0 - grow) - c * v**2
        inner = surface + sgn * depth
        pu = np.concatenate([surface, inner[::-1]])
        pv = np.concatenate([v, v[::-1]])
        bands.append((centre + np.outer(pu, d) + np.outer(pv, normal_of(d)), mm))
    return bands


def osteopenia(centre: np.ndarray, half_box: tuple[float, float], erosion: int, jsn: int) -> list[tuple]:
    """Periarticular osteopenia at a damaged joint: [(centre, radius mm, share of the medulla lost)], or [].

    The bone next to an inflamed joint loses density first (hand-anatomy.md, "How rheumatoid
    damage looks"): a disc of 0.7x the box's half-size, the share growing with the joint's grades
    (4 % per grade point, at most 30 %); it stays inside the joint's box.
    """
    points = erosion + jsn
    if points == 0:
        return []
    return [(np.asarray(centre, float), 0.7 * min(half_box), min(0.04 * points, 0.3))]

