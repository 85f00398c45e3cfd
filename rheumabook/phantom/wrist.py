"""The wrist of the phantom: eight carpal bones in two rows, the distal radius and the ulna with its styloid.

The carpal bones (super-ellipses, `anatomy.CARPAL_START`) are seated once against each
other and the radius with their joint spaces (`carpal_layout`). `build_wrist` adds one
hand's wrist to its `HandGeo` as compact bones (ellipsoids in projection, `thickness`; the
pisiform over the triquetrum and the hook of the hamate add to the bones under them):
intercarpal JSN grows each bone towards its row neighbours (4 = a fused carpus), radiocarpal
JSN lifts the radius's joint surface, and erosions bite the carpal bones ("wrist"), the ulnar
styloid/head ("ulna") and the distal radius rim ("radiocarpal"); a damaged wrist site is
osteopenic. The wrist boxes do not move with wrist damage.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from .anatomy import CARPAL_NAMES, CARPAL_START, RADIUS_X, ULNA, JOINT_SPACE_MM, radius_top
from .damage import jsn_closure, osteopenia, wrist_bites
from .outline import circle, HandGeo, seat_against, superellipse, unit_vector

__all__ = ["Uniforms", "carpal_layout", "carpal_outlines", "build_wrist"]

Uniforms = Callable[[str], np.ndarray]
"""site -> that site's damage uniforms (12 per site, see `render._draw`)."""


@functools.lru_cache(maxsize=1)
def carpal_layout() -> dict[str, tuple]:
    """Carpal bone parameters seated against each other and the radius with their joint spaces (computed once)."""
    p = {k: list(v) for k, v in CARPAL_START.items()}
    gap_ic, gap_rc = JOINT_SPACE_MM["intercarpal"], JOINT_SPACE_MM["radiocarpal"]
    xs = np.linspace(*RADIUS_X, 80)
    radius = np.vstack([np.column_stack([xs, radius_top(xs)]), [[RADIUS_X[1], -40.0], [RADIUS_X[0], -40.0]]])
    down, left, right = np.array([0.0, -1.0]), np.array([-1.0, 0.0]), np.array([1.0, 0.0])

    def poly(name: str) -> np.ndarray:
        return superellipse(*p[name])

    def shift(name: str, t: np.ndarray) -> None:
        p[name][0] += t[0]
        p[name][1] += t[1]

    def seat(name: str, against: list[str] | np.ndarray, d: np.ndarray, gap: float) -> None:
        fixed = against if isinstance(against, np.ndarray) else np.vstack([poly(a) for a in against])
        start = -10.0 * d  # start well away from the neighbours, then travel towards them
        shift(name, start)
        shift(name, seat_against(poly(name), fixed, d, gap))

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
def carpal_outlines() -> dict[str, np.ndarray]:
    """The healthy carpal bones' outlines (hand frame, mm): what metacarpals, boxes and soft tissue use."""
    return {name: superellipse(*params, 48) for name, params in carpal_layout().items()}



def _build_carpus(geo: HandGeo, ero: dict[str, int], jsn: dict[str, int], rnd: Uniforms) -> dict[str, np.ndarray]:
    """Carpal bones, their medullae and the pisiform into `geo`; returns the (damaged) carpal outlines by name."""
    # intercarpal narrowing grows each bone towards its row neighbours (4 = fused)
    layout = carpal_layout()
    wj = jsn["wrist"]
    gap_ic = JOINT_SPACE_MM["intercarpal"]
    grow_all, _ = jsn_closure(wj, gap_ic, rnd("wrist")[10:12])
    grow_all = grow_all / 2.0
    focal_bones = {"capitate", "lunate", "scaphoid"} if wj == 1 else set(CARPAL_NAMES)
    collapse = 0.78 if ero["wrist"] == 5 else 1.0
    carpal_polys: dict[str, np.ndarray] = {}
    for name in CARPAL_NAMES:
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
        carpal_polys[name] = superellipse(cx, cy, a_l, a_r, b_d, b_u, rot, pw, 48)
    # the pisiform lies over the triquetrum on a PA view: their paths add
    tq = layout["triquetrum"]
    geo.compact.append((superellipse(tq[0] - 1.5, tq[1] + 0.8, 4.0, 4.0, 4.4, 4.4, 0.0, 2.0, 32), 0.6, 0.6, False,
                        "pisiform"))
    for name, pts in carpal_polys.items():
        geo.compact.append((pts, 0.7, 0.75, False, name))  # carpal cortex is thin
    hm = layout["hamate"]  # the hook of the hamate, seen end-on: a faint ring over the bone
    geo.compact.append((superellipse(hm[0] + 1.2, hm[1] - 1.0, 2.2, 2.2, 2.6, 2.6, 0.0, 2.0, 24), 0.7, 0.5, False,
                        "hook of the hamate"))
    return carpal_polys


def _build_radius(geo: HandGeo, jsn: dict[str, int], rnd: Uniforms) -> None:
    """The distal radius into `geo`: metaphysis flaring to a 27.5 mm end, styloid on the radial side.

    Radiocarpal JSN lifts the joint surface (the carpus does not move).
    """
    x0, x1 = RADIUS_X
    xs = np.linspace(x0 + 0.4, x1 - 0.6, 26)
    xn = (xs - xs.mean()) / ((xs.max() - xs.min()) / 2.0)  # -1 (ulnar) .. 1 (radial)
    rc_mean, rc_slope = jsn_closure(jsn["radiocarpal"], JOINT_SPACE_MM["radiocarpal"], rnd("radiocarpal")[10:12])
    ytop = radius_top(xs) + rc_mean + rc_slope * xn
    y0, y1 = float(radius_top(x0)), float(radius_top(x1))
    radius = np.vstack([[[-3.0, -200.0], [-3.2, -60.0], [-4.2, -36.0], [x0 + 0.1, -24.0], [x0 - 0.2, y0 - 1.8]],
                        np.column_stack([xs, ytop]),
                        [[x1 - 0.1, y1 + 0.3], [x1 + 0.7, y1 - 1.5], [x1 + 1.2, -17.0], [x1 - 0.2, -27.0],
                         [16.0, -42.0], [14.2, -60.0], [13.6, -200.0]]])
    geo.compact.append((radius, 1.3, 0.7, True, "radius"))


def _styloid_x() -> float:
    """x of the ulnar styloid's base: it rises from the ulnar corner of the ulnar head (mm)."""
    ucx, uh, _ = ULNA
    return ucx - uh + 0.2


def _build_ulna(geo: HandGeo) -> None:
    """The ulna into `geo`: head with a dome, a narrower shaft, the styloid on the ulnar side."""
    ucx, uh, utop = ULNA
    t = np.linspace(0.0, np.pi, 15)
    head = np.column_stack([ucx + uh * np.cos(t), utop - 2.6 + 2.6 * np.sin(t)])
    ulna = np.vstack([[[ucx + 4.3, -200.0], [ucx + 4.4, -60.0], [ucx + 5.6, -32.0], [ucx + uh, -22.0]], head,
                      [[ucx - uh, -22.0], [ucx - 5.4, -32.0], [ucx - 4.6, -60.0], [ucx - 4.4, -200.0]]])
    sx = _styloid_x()
    styloid = np.array([[sx - 0.3, -19.0], [sx - 0.2, -16.0], [sx + 0.6, -13.0], [sx + 1.8, -12.6], [sx + 2.6, -14.5],
                        [sx + 3.0, -17.0], [sx + 3.2, -19.0]])  # a spur rising from the head (their paths add)
    geo.compact += [(ulna, 1.3, 0.85, True, "ulna"), (styloid, 0.3, 0.9, False, "ulnar styloid")]


def _wrist_erosions(geo: HandGeo, carpal_polys: dict[str, np.ndarray], ero: dict[str, int], rnd: Uniforms) -> None:
    """Erosion defects of the wrist sites into ``geo.cuts`` (u[0:6] choose the places, u[6:10] the shapes)."""
    ucx, uh, utop = ULNA
    sx = _styloid_x()
    x0, x1 = RADIUS_X
    geo.erode("wrist", wrist_bites([carpal_polys[n][k] for n, k in (("scaphoid", 12), ("scaphoid", 36), ("lunate", 40),
                                                                ("capitate", 16), ("trapezium", 4), ("trapezoid", 30))],
                                   ero["wrist"], rnd("wrist")))
    ulna_sites = ([sx + 0.9, -13.2], [sx - 0.2, -17.0], [sx + 3.1, -17.5], [ucx + 3.5, utop - 0.6],
                  [ucx - 1.0, utop], [sx - 0.2, -20.5])
    geo.erode("ulna", wrist_bites([np.array(p) for p in ulna_sites], ero["ulna"], rnd("ulna")))
    rim = [np.array([x, float(radius_top(x)) + 0.2]) for x in (x1 - 1.5, 15.0, 9.0, 3.0, -2.0, x0 + 0.6)]
    geo.erode("radiocarpal", wrist_bites(rim, ero["radiocarpal"], rnd("radiocarpal")))
    # grade 5: collapse
    if ero["wrist"] == 5:
        geo.erode("wrist", wrist_bites([carpal_polys[n][k] for n, k in (("capitate", 40), ("lunate", 10),
                                                                    ("scaphoid", 24), ("hamate", 20))],
                                       4, rnd("wrist")[::-1], 1.4))
    if ero["ulna"] == 5:
        geo.erode("ulna", [circle(np.array([ucx, utop]), uh * 0.95, 3.6, np.array([0.0, 1.0]), 24)])
    if ero["radiocarpal"] == 5:
        xm = (x0 + x1) / 2.0
        geo.erode("radiocarpal", [circle(np.array([xm, float(radius_top(xm))]), 11.0, 3.4, unit_vector(-20.0), 28)])


def _wrist_boxes(geo: HandGeo) -> tuple[np.ndarray, np.ndarray]:
    """The wrist, ulna and radiocarpal boxes (centre, half-size; mm) into ``geo.boxes``.

    They are laid out on the healthy carpus, so they do not move with wrist damage. Returns the
    healthy carpus's bounding corners (lo, hi), which the soft tissue of the wrist follows.
    """
    ucx, _, utop = ULNA
    x0, x1 = RADIUS_X
    y0, y1 = float(radius_top(x0)), float(radius_top(x1))
    carpus = np.vstack(list(carpal_outlines().values()))
    lo, hi = carpus.min(axis=0), carpus.max(axis=0)
    geo.boxes["wrist"] = ((lo + hi) / 2.0, tuple((hi - lo) / 2.0 * 1.05))
    geo.boxes["ulna"] = (np.array([ucx - 1.5, utop + 1.0]), (11.5, 11.5))
    geo.boxes["radiocarpal"] = (np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0 + 1.1]),
                                ((x1 - x0) / 2.0 + 2.5, (y1 - y0) / 2.0 + 5.0))
    return lo, hi


def build_wrist(geo: HandGeo, ero: dict[str, int], jsn: dict[str, int],
                 rnd: Uniforms) -> tuple[np.ndarray, np.ndarray]:
    """Carpus, radius and ulna with their damage and boxes into `geo`; returns the healthy carpus's (lo, hi) corners."""
    carpal_polys = _build_carpus(geo, ero, jsn, rnd)
    _build_radius(geo, jsn, rnd)
    _build_ulna(geo)
    _wrist_erosions(geo, carpal_polys, ero, rnd)
    corners = _wrist_boxes(geo)
    for site in ("wrist", "radiocarpal", "ulna"):
        geo.osteopenia += osteopenia(*geo.boxes[site], ero[site], jsn[site])
    return corners
