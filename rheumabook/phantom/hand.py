"""One hand of the phantom in its own frame (mm): the wrist, five rays, the soft-tissue envelope.

A ray is a chain of tubular bones (metacarpal, then two or three phalanges, `thickness.LongBone`):
each shaft narrows to a waist and flares to its ends, each bone's base matches the previous
head's width; a head is a parabolic cap (bicondylar at the phalanges: a shallow notch) and the
next bone's base is the same cap shifted by the joint space, so the gap is even, and each bone
turns about the centre of curvature of the previous head (the finger bends there). Distal
phalanges end in a tuft; two sesamoids lie over the MCP1 head. The patient's variation
(`render._draw_variation`: widths, bone lengths, flexion, spread, growth plates) shapes the
plan. The metacarpal base is seated on its carpal bone(s), the CMC space apart. Finger/CMC
boxes are squares 1.7x the wider bone end, centred on the joint space. JSN grows both bone ends
into the space (`damage.jsn_closure`) and, from grade 2, makes the bone under it sclerotic
(`damage.jsn_sclerosis`); erosions are cut into them (`damage.finger_erosions`); a damaged
site's bone is osteopenic (`damage.osteopenia`). `build_hand` returns everything in a
`HandGeo`, which `raster` projects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..joints import JOINTS, applies
from .anatomy import (_CMC1_RADIAL_MM, _END_FLARE, _HEAD_DEPTH, _MC_ANGLE, _MC_CARPAL, _MC_ON_CARPAL, _MCP_TURN, _NOTCH,
                      _PHYSIS, _SOFT_MM, _SPREAD_ANGLE, _THUMB_FORESHORTENING, _WEB_REACH, _WEB_REACH_THUMB,
                      BONE_LENGTH_MM, CORTEX_MM,
                      JOINT_SPACE_MM, SHAFT_WIDTH_MM)
from .damage import finger_erosions, jsn_closure, jsn_sclerosis, osteopenia
from .thickness import LongBone
from .outline import HandGeo, JointGeo, circle, normal_of, bone_outline, place_local, seat_against, unit_vector
from .wrist import Uniforms, build_wrist, carpal_layout, carpal_outlines

__all__ = ["build_hand"]


def build_hand(scores: dict[str, tuple[int, int]], pose: dict, length_factor: np.ndarray,
                dmg: np.ndarray) -> HandGeo:
    """The geometry of one hand (hand frame, mm) for its scores {site: (erosion, jsn)} and pose.

    length_factor: (5,) per-ray bone length factors; dmg: (21, 12) damage uniforms per site
    in JOINTS order (each site's shapes come only from its own row).
    """
    geo = HandGeo()
    ero = {k: v[0] for k, v in scores.items()}
    jsn = {k: v[1] for k, v in scores.items()}
    site_idx = {name: i for i, name in enumerate(JOINTS)}

    def rnd(site: str) -> np.ndarray:
        return dmg[site_idx[site]]

    lo, hi = build_wrist(geo, ero, jsn, rnd)
    nominal = carpal_outlines()  # the metacarpals sit on the healthy carpus: they do not move with wrist damage
    for f in range(1, 6):  # thumb and fingers
        _build_ray(geo, f, pose, length_factor[f - 1], nominal, ero, jsn, rnd)
    _palm_and_forearm(geo, lo, hi)
    return geo


def _palm_and_forearm(geo: HandGeo, lo: np.ndarray, hi: np.ndarray) -> None:
    """Soft tissue of the palm (with the thenar eminence and the webs) and the forearm into `geo`; the fingers have theirs.

    lo, hi: the healthy carpus's bounding corners (mm): the wrist's sides lie just beside them.
    """
    wl, wr = lo[0] - 6.5, hi[0] + 6.0  # wrist sides, beside the carpus
    palm_pts = []
    for f in range(2, 6):
        j = geo.joints[f"MCP{f}"]
        w = j.h_prox + _SOFT_MM["metacarpal"]
        palm_pts += [j.centre + w * normal_of(j.axis) + 5.0 * j.axis, j.centre - w * normal_of(j.axis) + 5.0 * j.axis]
    for f in range(2, 6):  # the webs between the fingers reach about a third of the way up the proximal phalanges
        mcp, pip = geo.joints[f"MCP{f}"].centre, geo.joints[f"PIP{f}"].centre
        palm_pts.append(mcp + _WEB_REACH * (pip - mcp))
    mc1 = geo.joints["CMC1"]
    n1 = normal_of(mc1.axis)
    for along in (0.0, 16.0, 26.0):  # the thenar covers the proximal half of the first metacarpal
        palm_pts += [mc1.centre + (mc1.h_dist + 6.0) * n1 + along * mc1.axis,
                     mc1.centre - (mc1.h_dist + 4.0) * n1 + along * mc1.axis]
    # the first web (adductor pollicis) spans from the index to the thumb's metacarpal, most of the way up it
    reach = _WEB_REACH_THUMB * float(np.linalg.norm(geo.joints["MCP1"].centre - mc1.centre))
    palm_pts.append(mc1.centre - (mc1.h_dist + 4.0) * n1 + reach * mc1.axis)
    palm_pts += [np.array([wl, -6.0]), np.array([wr, -8.0]), np.array([wl + 0.5, -22.0]), np.array([wr + 0.5, -22.0])]
    hull = cv2.convexHull(np.array(palm_pts, dtype=np.float32)).reshape(-1, 2).astype(float)
    geo.soft.append((hull, 255))
    ys = np.linspace(-6.0, -200.0, 98)  # down the ulnar side, back up the radial side (dense: `_place_hand`)
    ulnar = np.column_stack([np.interp(ys, [-200.0, -40.0, -22.0, -6.0], [wl + 3.0, wl + 0.8, wl + 0.5, wl]), ys])
    radial = np.column_stack([np.interp(ys, [-200.0, -40.0, -22.0, -8.0], [wr - 1.0, wr + 0.8, wr + 0.5, wr]), ys])
    forearm = np.vstack([ulnar, radial[::-1]])
    geo.soft.append((forearm, 255))
    geo.envelope += [hull, forearm]


# --------------------------------------------------------------------------- one ray


@dataclass(frozen=True)
class _Ray:
    """The plan of ray `f` (1 = thumb) before it is placed: per bone (proximal first) and per joint.

    lengths: bone lengths (mm); widths: (base, shaft, head) widths per bone (mm); caps: (base,
    head) cap curvature per bone (1/mm); dirs: unit direction per bone (hand frame); kinds:
    bone names ("metacarpal", ...); levels / sites / gaps: per joint between bones i and i+1,
    its level ("MCP", "PIP", ...), its site name and its healthy space (mm).
    """

    f: int
    lengths: list
    widths: list
    caps: list
    dirs: list
    kinds: tuple
    levels: tuple
    sites: tuple
    gaps: list


def _ray_angles(f: int, pose: dict) -> list[float]:
    """Angle of each bone of ray `f` (deg from the hand's long axis, positive towards the thumb)."""
    jit = pose["finger_jitter"][f - 1]
    if f == 1:
        a_mc = pose["thumb_deg"]
        return [a_mc, a_mc - 12.0 + jit[1], a_mc - 18.0 + jit[1] + jit[2]]
    a_mc = _MC_ANGLE[f] + jit[0]
    a_ph = a_mc + _MCP_TURN[f] + _SPREAD_ANGLE[f] * pose["spread"] * pose["var"]["spread_gain"]
    return [a_mc, a_ph + jit[1], a_ph + jit[1] + jit[2], a_ph + jit[1] + jit[2] + 0.5 * jit[2]]


def _ray_plan(f: int, pose: dict, lf: float) -> _Ray:
    """Bone lengths (scaled by `lf`), widths, cap curvatures and directions of ray `f` in its pose.

    The patient's variation (``pose["var"]``, `render._draw_variation`) scales each bone's length
    and all widths, and foreshortens the phalanges of a flexed finger.
    """
    var = pose["var"]
    kinds = ("metacarpal", "proximal", "distal") if f == 1 else ("metacarpal", "proximal", "middle", "distal")
    lengths = [v * lf * var["bones"][f - 1, i] * (1.0 if i == 0 else var["flexion"][f - 1])
               for i, v in enumerate(BONE_LENGTH_MM[f])]
    if f == 1:
        lengths[0] *= _THUMB_FORESHORTENING
    levels = ("MCP", "IP") if f == 1 else ("MCP", "PIP", "DIP")
    sites = ("MCP1", "IP") if f == 1 else (f"MCP{f}", f"PIP{f}", f"DIP{f}")
    # widths (base, shaft, head): the ends flare to 1.3-1.5x the shaft, the base of each phalanx matches the
    # head of the bone before it, a distal phalanx ends in a tuft (_END_FLARE)
    thumb = "thumb " if f == 1 else ""
    widths = []
    for i, ws in enumerate(SHAFT_WIDTH_MM[f]):
        ws = ws * var["width"]
        if i == 0:
            wb, wh = ws * _END_FLARE[thumb + "metacarpal base"], ws * _END_FLARE[thumb + "metacarpal head"]
        else:
            wb = widths[-1][2] * 0.98
            wh = ws * _END_FLARE["tuft" if kinds[i] == "distal" else "phalanx head"]
        widths.append((wb, ws, wh))
    caps = []
    for i in range(len(lengths)):
        lvl_h = ("MCP1" if f == 1 else "MCP") if i == 0 else (levels[i] if i < len(levels) else "tip")
        ch = _HEAD_DEPTH[lvl_h] * 2.0 / widths[i][2]  # depth = c (w/2)^2
        cb = _HEAD_DEPTH["CMC"] * 2.0 / widths[i][0] if i == 0 else caps[-1][1]
        caps.append((cb, ch))
    return _Ray(f, lengths, widths, caps, [unit_vector(a) for a in _ray_angles(f, pose)], kinds, levels, sites,
                [JOINT_SPACE_MM[lvl] for lvl in levels])


def _cmc_site(f: int) -> Optional[str]:
    """The scored CMC site of ray `f` ("CMC1", "CMC3".."CMC5"), None for the second ray (not scored)."""
    return "CMC1" if f == 1 else (f"CMC{f}" if f >= 3 else None)


def _seat_metacarpal(ray: _Ray, carpal: dict[str, np.ndarray]) -> np.ndarray:
    """The metacarpal base's origin (hand frame, mm), seated along the ray on its carpal bone(s), CMC space apart."""
    f, d0 = ray.f, ray.dirs[0]
    nominal = bone_outline(ray.lengths[0], ray.widths[0][0] / 2, ray.widths[0][1] / 2, ray.widths[0][2] / 2, *ray.caps[0])
    nominal = nominal[: len(nominal) // 2]  # the base half is what meets the carpus
    if f == 1:
        carpal_pts = carpal["trapezium"]
        start = np.mean(carpal_pts, axis=0) + 12.0 * d0 + _CMC1_RADIAL_MM * normal_of(d0)
    else:
        cx, cy, a_l, a_r = carpal_layout()[_MC_CARPAL[f][0]][:4]
        carpal_pts = np.vstack([carpal[name] for name in _MC_CARPAL[f]])
        start = np.array([cx + _MC_ON_CARPAL[f] * (a_r if _MC_ON_CARPAL[f] > 0 else a_l), cy + 26.0])
    return start + seat_against(place_local(nominal, start, d0), carpal_pts, -d0, JOINT_SPACE_MM["CMC"])


def _build_joints(geo: HandGeo, ray: _Ray, base_pt: np.ndarray, ero: dict[str, int], jsn: dict[str, int],
                  rnd: Uniforms) -> tuple[list, list, list]:
    """Walk the chain from the metacarpal base: joints, boxes and finger erosions into `geo`.

    Each bone turns about the centre of curvature of the previous head. Returns per bone its
    origin (base, hand frame) and the JSN extensions of its base and head caps ((mean, slope)).
    """
    n = len(ray.lengths)
    cmc_site = _cmc_site(ray.f)
    ext_b0 = (0.0, 0.0)  # JSN at CMC3-5 lengthens the metacarpal base into the CMC space
    if cmc_site is not None and applies(cmc_site, "jsn"):
        ext_b0 = jsn_closure(jsn[cmc_site], JOINT_SPACE_MM["CMC"], rnd(cmc_site)[10:12])
    origins = [base_pt]
    ext_h = [(0.0, 0.0)] * n
    ext_b = [ext_b0] + [(0.0, 0.0)] * (n - 1)
    dirs = ray.dirs
    for i in range(n - 1):
        ch = ray.caps[i][1]
        radius = 1.0 / (2.0 * ch)
        tip = origins[i] + ray.lengths[i] * dirs[i]
        centre_c = tip - radius * dirs[i]
        g = ray.gaps[i]
        origins.append(centre_c + (radius + g) * dirs[i + 1])
        jc = centre_c + (radius + g / 2.0) * dirs[i + 1]
        hp, hd = ray.widths[i][2] / 2.0, ray.widths[i + 1][0] / 2.0
        side = 1.7 * 2.0 * max(hp, hd)  # the box: 1.7x the wider bone end, centred on the joint space
        jg = JointGeo(jc, dirs[i + 1], g, hp, hd, ch, (side / 2.0, side / 2.0), ray.levels[i],
                       centre_prox=tip + (g / 2.0) * dirs[i], axis_prox=dirs[i])
        site = ray.sites[i]
        geo.joints[site] = jg
        geo.boxes[site] = (jc, jg.half_box)
        closure = jsn_closure(jsn[site], g, rnd(site)[10:12])
        ext_h[i] = (closure[0] / 2.0, closure[1] / 2.0)
        ext_b[i + 1] = (closure[0] / 2.0, closure[1] / 2.0)
        geo.erode(site, finger_erosions(jg, ero[site], rnd(site)))
        geo.sclerosis += jsn_sclerosis(jg, jsn[site], closure)
        geo.osteopenia += osteopenia(jc, jg.half_box, ero[site], jsn[site])
    return origins, ext_b, ext_h


def _build_cmc(geo: HandGeo, ray: _Ray, base_pt: np.ndarray, ero: dict[str, int], jsn: dict[str, int],
               rnd: Uniforms) -> None:
    """The CMC joint of the ray into `geo` (its box where the site is scored; erosions at CMC1)."""
    f, d0 = ray.f, ray.dirs[0]
    cmc_site = _cmc_site(f)
    hb0 = ray.widths[0][0] / 2.0
    cmc_c = base_pt - (JOINT_SPACE_MM["CMC"] / 2.0) * d0
    cmc = JointGeo(cmc_c, d0, JOINT_SPACE_MM["CMC"], hb0 * 0.8, hb0, ray.caps[0][0], (0.85 * 2 * hb0, 0.85 * 2 * hb0),
                    "CMC")
    geo.joints[f"CMC{f}"] = cmc
    if cmc_site is not None:
        geo.boxes[cmc_site] = (cmc_c, cmc.half_box)
    if cmc_site == "CMC1":
        geo.erode("CMC1", finger_erosions(cmc, ero["CMC1"], rnd("CMC1"), distal_only=True))
    if cmc_site is not None:
        geo.osteopenia += osteopenia(cmc_c, cmc.half_box, ero[cmc_site], jsn[cmc_site])


def _ray_bones(geo: HandGeo, ray: _Ray, origins: list, ext_b: list, ext_h: list, physes: bool) -> None:
    """The ray's tubular bones (`thickness.LongBone`, cortex thinner under the joint surfaces) into `geo`.

    Phalangeal heads are bicondylar (a notch) and the next base has the matching ridge; with
    `physes` (an adolescent) the growth plates are open: at the phalangeal bases, the heads of
    metacarpals 2-5 and the base of the first.
    """
    names = {"metacarpal": "metacarpal", "proximal": "proximal phalanx", "middle": "middle phalanx",
             "distal": "distal phalanx"}
    notch = [_NOTCH * ray.widths[i][2] if ray.kinds[i] in ("proximal", "middle") else 0.0
             for i in range(len(ray.lengths))]
    for i, L in enumerate(ray.lengths):
        wb, ws, wh = ray.widths[i]
        cb, ch = ray.caps[i]
        outline = place_local(bone_outline(L, wb / 2, ws / 2, wh / 2, cb, ch, ext_b=ext_b[i], ext_h=ext_h[i]),
                              origins[i], ray.dirs[i])
        geo.bones.append(outline)
        kind = ray.kinds[i]
        phys_b = _PHYSIS * wb if physes and (kind != "metacarpal" or ray.f == 1) else 0.0
        phys_h = _PHYSIS * wh if physes and kind == "metacarpal" and ray.f > 1 else 0.0
        tube = LongBone(origin=origins[i], axis=ray.dirs[i], length=L, hb=wb / 2, hs=ws / 2, hh=wh / 2, cb=cb, ch=ch,
                        ext_b=ext_b[i], ext_h=ext_h[i], notch_b=notch[i - 1] if i else 0.0, notch_h=notch[i],
                        cortex=CORTEX_MM[kind], cortex_end=CORTEX_MM["end"],
                        tip_cortex=2.2 if kind == "distal" else 0.0, physis_b=phys_b, physis_h=phys_h,
                        name=f"{names[kind]} {ray.f}")
        geo.tubes.append((tube, outline))
    if ray.f == 1:  # two sesamoids over the palmar side of the MCP1 head, overlapping it on a PA view
        j = geo.joints["MCP1"]
        d, nv = j.axis_prox, normal_of(j.axis_prox)
        for side in (-1.0, 1.0):
            c = j.centre_prox - 3.2 * d + side * 0.45 * j.h_prox * nv
            geo.compact.append((circle(c, 1.9, 2.6, d, 24), 0.5, 0.9, False, "sesamoid"))


def _finger_soft_tissue(geo: HandGeo, ray: _Ray, origins: list) -> None:
    """The finger's soft tissue into `geo`: a tube along the ray from the metacarpal head to past the tip."""
    lengths, dirs, widths, kinds = ray.lengths, ray.dirs, ray.widths, ray.kinds
    tip = origins[-1] + lengths[-1] * dirs[-1]
    axis_pts = [origins[1] - 10.0 * dirs[1]] + [origins[i] + 0.5 * lengths[i] * dirs[i] for i in range(1, len(lengths))]
    axis_pts += [tip - 1.5 * dirs[-1]]
    half = [widths[1][0] / 2 + _SOFT_MM["metacarpal"]]
    half += [widths[i][1] / 2 + _SOFT_MM[kinds[i]] + 0.6 for i in range(1, len(lengths))]
    half += [widths[-1][2] / 2 + _SOFT_MM["distal"]]
    if ray.f == 1:
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
    geo.soft.append((finger, 245 if ray.f == 1 else 225))
    geo.envelope.append(finger)


def _build_ray(geo: HandGeo, f: int, pose: dict, lf: float, carpal: dict[str, np.ndarray],
               ero: dict[str, int], jsn: dict[str, int], rnd: Uniforms) -> None:
    """Bones, joints, damage and soft tissue of ray `f` (1 = thumb), added to `geo`.

    carpal: the healthy carpal outlines (the metacarpal base is seated on them); lf: the
    ray's bone length factor; rnd: site -> its damage uniforms.
    """
    ray = _ray_plan(f, pose, lf)
    base_pt = _seat_metacarpal(ray, carpal)
    origins, ext_b, ext_h = _build_joints(geo, ray, base_pt, ero, jsn, rnd)
    _build_cmc(geo, ray, base_pt, ero, jsn, rnd)
    _ray_bones(geo, ray, origins, ext_b, ext_h, pose["var"]["physes"])
    _finger_soft_tissue(geo, ray, origins)
