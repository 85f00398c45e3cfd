"""Where the truth is drawn: each scored site's lesion geometry, in pixels of the rendered radiograph.

The phantom knows where every lesion it renders lies, so an explanation map of a scorer can
be checked against it (chapter 6, the pointing game: `rheumabook.explain.pointing`).
``lesion_geometry(seed, size=..., truth=..., **options)`` takes `render`'s arguments, makes the
same draws and builds the same hand geometry, placed where `render` places it, but draws
nothing: the image, boxes, truth and random stream of `render` do not change, and
the polygons belong to the radiograph that `render` gives for the same arguments.

Per scored site and kind (`joints.applies`), a list of closed polygons, each an (n, 2) float
array of (x, y) in pixels of the radiograph, pixel-edge coordinates like the boxes (pixel i
spans [i, i+1]):

- **erosion**: the outlines of the bone removed at that site (`damage.finger_erosions`,
  `damage.wrist_bites`), exactly the cuts `render` draws. Grade 0: no polygon.
- **jsn**: the joint space the grade is read from, the *healthy* space between the two bone
  ends (`joint_space`). It is given at every grade: narrowing grows both bone ends into it
  (grade 4 bridges it), so the changed pixels lie inside it, with subchondral sclerosis
  (grades 2-4) in a ~1.5 mm band beyond each side. Finger joints and CMC3-5: one curved
  band between the head and base caps; "radiocarpal": the band over the distal radius's
  joint surface; "wrist": the intercarpal spaces (`intercarpal_spaces`).

At the finger and CMC joints, and for every erosion, all of a lesion's strong pixel changes lie
within 3 px of its polygons at 1024 px (tests/test_lesions.py). The wrist's JSN sites change
more than their spaces: wrist JSN grows every carpal bone, its outer faces too, and radiocarpal
JSN lifts the radius's joint surface, which thickens the projected radius a little below it.
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import cv2
import numpy as np
import pandas as pd

from ..joints import JOINTS, applies
from .anatomy import ASPECT, DEFAULT_SIZE, FIELD_WIDTH_MM, JOINT_SPACE_MM, RADIUS_X, radius_top
from .outline import HandGeo, JointGeo, normal_of
from .raster import _to_px, placed_hands
from .render import _check_dtype, _check_size, _draws
from .wrist import carpal_outlines

__all__ = ["LESION_COLUMNS", "joint_space", "radiocarpal_space", "intercarpal_spaces", "hand_lesions",
           "lesion_geometry"]

LESION_COLUMNS: tuple[str, ...] = ("hand", "joint", "kind", "grade", "polygons")
"""Columns of `lesion_geometry`'s table."""


def joint_space(j: JointGeo, n: int = 9) -> np.ndarray:
    """(2n, 2) outline (hand frame, mm) of a finger or CMC joint's healthy space between its bone ends.

    The proximal bone's head cap, in its own frame, lies at ``u = -gap/2 - c v^2`` from
    ``centre_prox`` along ``axis_prox``; the distal bone's base cap at ``u = gap/2 - c v^2`` from
    ``centre`` along ``axis`` (`hand._build_joints`); v runs across the narrower bone end. A CMC
    joint has one frame: its carpal side is the metacarpal base's cap shifted by the space.
    """
    h = min(j.h_prox, j.h_dist)
    v = np.linspace(-h, h, n)
    c, g = j.curv, j.gap
    centre_p, axis_p = (j.centre_prox, j.axis_prox) if j.axis_prox is not None else (j.centre, j.axis)
    head = centre_p + np.outer(-g / 2.0 - c * v**2, axis_p) + np.outer(v, normal_of(axis_p))
    base = j.centre + np.outer(g / 2.0 - c * v**2, j.axis) + np.outer(v, normal_of(j.axis))
    return np.vstack([head, base[::-1]])


def radiocarpal_space() -> np.ndarray:
    """(52, 2) outline (hand frame, mm) of the radiocarpal space: the healthy gap over the radius's joint surface.

    Radiocarpal JSN lifts that surface into the gap (`wrist._build_radius`); the carpus does not move.
    """
    xs = np.linspace(RADIUS_X[0] + 0.4, RADIUS_X[1] - 0.6, 26)
    top = radius_top(xs)
    return np.vstack([np.column_stack([xs, top]), np.column_stack([xs, top + JOINT_SPACE_MM["radiocarpal"]])[::-1]])


@functools.lru_cache(maxsize=1)
def intercarpal_spaces(step: float = 0.05) -> tuple[np.ndarray, ...]:
    """Outlines (hand frame, mm) of the healthy intercarpal spaces, where wrist JSN grows the carpal bones.

    A point outside every carpal bone belongs to a space when its distances to the nearest two
    bones sum to at most 1.25 intercarpal gaps (between two faces a gap apart the sum is the gap;
    at a space's mouth it grows). Computed once on a `step` mm grid (the carpus does not depend on
    the patient); spaces under 0.5 mm^2 are dropped.
    """
    bones = list(carpal_outlines().values())
    allpts = np.vstack(bones)
    lo, hi = allpts.min(axis=0) - 1.0, allpts.max(axis=0) + 1.0
    shape = (int(np.ceil((hi[1] - lo[1]) / step)) + 1, int(np.ceil((hi[0] - lo[0]) / step)) + 1)
    dists, inside = [], np.zeros(shape, bool)
    for poly in bones:
        outside = np.full(shape, 255, np.uint8)
        cv2.fillPoly(outside, [np.round((poly - lo) / step * 16.0).astype(np.int32)], 0, cv2.LINE_8, 4)
        dists.append(cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * step)
        inside |= outside == 0
    near = np.sort(np.stack(dists), axis=0)
    space = ~inside & (near[0] + near[1] <= 1.25 * JOINT_SPACE_MM["intercarpal"])
    contours, _ = cv2.findContours(space.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return tuple(c.reshape(-1, 2).astype(float) * step + lo for c in contours
                 if cv2.contourArea(c) * step**2 >= 0.5)


def hand_lesions(geo: HandGeo) -> dict[tuple[str, str], list[np.ndarray]]:
    """{(site, kind): [outline, ...]} of one hand in the hand frame (mm), for every scored (site, kind).

    Erosion: ``geo.erosions`` (the cuts drawn at that site; none at grade 0). JSN: the site's
    healthy joint space (`joint_space`, `radiocarpal_space`, `intercarpal_spaces`).
    """
    out: dict[tuple[str, str], list[np.ndarray]] = {}
    for site in JOINTS:
        if applies(site, "erosion"):
            out[(site, "erosion")] = [np.asarray(p, float) for p in geo.erosions.get(site, [])]
        if applies(site, "jsn"):
            if site == "radiocarpal":
                out[(site, "jsn")] = [radiocarpal_space()]
            elif site == "wrist":
                out[(site, "jsn")] = list(intercarpal_spaces())
            else:
                out[(site, "jsn")] = [joint_space(geo.joints[site])]
    return out


def lesion_geometry(seed: int | np.random.Generator, *, size: int = DEFAULT_SIZE, dtype: Any = np.uint8,
                    truth: Optional[pd.DataFrame] = None, **options: Any) -> pd.DataFrame:
    """Each scored site's lesion geometry in pixels of ``render(seed, size=size, truth=truth, **options)``.

    Arguments as `render` takes them (`dtype` is checked, and changes no geometry); an int seed
    gives the polygons of the radiograph `render` gives for it; a Generator is advanced as
    `render` would advance it.

    Returns a table with `LESION_COLUMNS`, one row per hand, site and kind where that kind is
    scored (`joints.applies`: 37 per hand), in HANDS x JOINTS x SCORE_KINDS order: grade (``Int64``,
    the true grade) and polygons: a list of (n, 2) float arrays of (x, y) image pixels, pixel-edge
    coordinates as the boxes (module docstring: erosion = bone removed, empty at grade 0; jsn = the
    healthy joint space, at every grade).
    """
    size = _check_size(size)
    _check_dtype(dtype)
    d, truth, _, _ = _draws(seed, size, truth, options)
    W, H = size, int(round(size * ASPECT))
    grades = truth.set_index(["hand", "joint"])
    rows = []
    for hand, geo, m, origin, _ in placed_hands(d, truth, W, H, FIELD_WIDTH_MM / W):
        for (site, kind), polys in hand_lesions(geo).items():
            rows.append((hand, site, kind, grades.loc[(hand, site), kind], [_to_px(p, m, origin) for p in polys]))
    table = pd.DataFrame(rows, columns=list(LESION_COLUMNS))  # placed_hands and hand_lesions keep the order
    table["grade"] = table["grade"].astype("Int64")
    return table
