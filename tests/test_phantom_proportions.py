"""The phantom hand's proportions against the anatomy reference (issue 20, phantom v3).

The figures come from ``shared/reference/hand-anatomy.md``, written out here rather than read from
`phantom.anatomy`, so that a change to the phantom's constants is checked against the reference and not
against itself: bone lengths per finger, shaft widths per bone kind, ends that flare to 1.3-1.5x the
shaft (a waist of 0.6-0.75x the ends), a distal tuft ~1.2x its shaft, and a hand 80-90 mm
wide over the metacarpal heads.
"""
from __future__ import annotations

import numpy as np
import pytest

from rheumabook.joints import JOINTS
from rheumabook.phantom import anatomy, hand

REFERENCE_LENGTH_MM = {  # hand-anatomy.md, "Bone lengths (mm)": thumb, index, middle, ring, little
    "metacarpal": (46, 68, 65, 58, 54),
    "proximal": (31, 40, 45, 42, 33),
    "middle": (23, 27, 26, 19),
    "distal": (22, 17, 18, 18, 16),
}
REFERENCE_SHAFT_MM = {"metacarpal": (7, 10), "proximal": (7, 9), "middle": (6, 7), "distal": (5, 6)}
FLARE = (1.3, 1.5)  # bone ends / shaft
WAIST = (0.6, 0.75)  # shaft / ends


def nominal_pose(thumb_deg: float = 38.0) -> dict:
    """A pose without the patient's variation: every width, length and flexion factor 1."""
    var = {"width": 1.0, "bones": np.ones((5, 4)), "flexion": np.ones(5), "spread_gain": 1.0, "physes": False}
    return {"thumb_deg": thumb_deg, "spread": 0.0, "finger_jitter": np.zeros((5, 3)), "var": var}


def bones() -> list[tuple[int, str, float, tuple[float, float, float]]]:
    """(ray, kind, true length mm, (base, shaft, head) widths mm) of every bone of the nominal hand."""
    out = []
    for f in range(1, 6):
        plan = hand._ray_plan(f, nominal_pose(), 1.0)
        for i, (kind, length, widths) in enumerate(zip(plan.kinds, plan.lengths, plan.widths)):
            if f == 1 and i == 0:  # the plan holds the projected (foreshortened) length; the reference the true one
                length = length / anatomy._THUMB_FORESHORTENING
            out.append((f, kind, length, widths))
    return out


def ratio_range(kind: str, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float]:
    """The reference's width / length range for a bone kind: narrowest width over the longest bone,
    widest width over the shortest one, the widths times `scale` (low, high)."""
    w_lo, w_hi = REFERENCE_SHAFT_MM[kind]
    lengths = REFERENCE_LENGTH_MM[kind]
    return scale[0] * w_lo / max(lengths), scale[1] * w_hi / min(lengths)


@pytest.mark.parametrize("f, kind, length, widths", bones(),
                         ids=[f"ray{f}-{kind}" for f, kind, _, _ in bones()])
def test_width_over_length_of_every_bone_lies_in_the_reference_range(f, kind, length, widths):
    base, shaft, head = widths
    low, high = ratio_range(kind)
    assert low <= shaft / length <= high, f"shaft {shaft:.2f} mm over {length:.1f} mm"
    low, high = ratio_range(kind, FLARE)
    for name, end in (("base", base), ("head", head)):
        if kind == "distal" and name == "head":
            continue  # the tuft, checked below
        assert low <= end / length <= high, f"{name} {end:.2f} mm over {length:.1f} mm"


@pytest.mark.parametrize("f, kind, length, widths", bones(),
                         ids=[f"ray{f}-{kind}" for f, kind, _, _ in bones()])
def test_shafts_narrow_to_a_waist_of_their_ends(f, kind, length, widths):
    base, shaft, head = widths
    w_lo, w_hi = REFERENCE_SHAFT_MM[kind]
    # the reference's widths are round figures: the little finger's run up to 10 % below, the thumb's above
    assert 0.9 * w_lo <= shaft <= 1.1 * w_hi, f"shaft {shaft:.2f} mm outside {w_lo}-{w_hi} mm"
    ends = (base,) if kind == "distal" else (base, head)
    if kind == "metacarpal" and f > 1:
        # a known deviation: the bases of metacarpals 2-5 keep 1.12x their shaft. They meet side by side on the
        # phantom's carpus, which is narrower than a real one, and wider bases overlap there as bright wedges.
        ends = (head,)
    for end in ends:
        assert WAIST[0] - 1e-9 <= shaft / end <= WAIST[1] + 1e-9, f"waist {shaft / end:.3f} of an end {end:.2f} mm"
    if kind == "distal":
        assert head / shaft == pytest.approx(1.2, abs=0.05)  # the tuft


def test_metacarpal_heads_span_a_hand_of_the_reference_width():
    """80-90 mm over the metacarpal heads, soft tissue included, in the reference; the phantom's hand is ~77 mm.

    Its bones span the reference's width (heads ~55 mm apart); its palm's soft tissue (5.5 mm a side) is
    thinner than a real hand's. 7 mm a side was tried (issue 20) and missed the development hands' joints by
    more on all three seeds, so the bound below is 75 mm, short of the reference's 80. Phantom v2's fan gave 69 mm."""
    geo = hand.build_hand({j: (0, 0) for j in JOINTS}, nominal_pose(), np.ones(5),
                          np.full((21, 12), 0.5))
    mcp2, mcp5 = geo.joints["MCP2"].centre, geo.joints["MCP5"].centre
    span = float(np.linalg.norm(mcp2 - mcp5))
    half_ends = geo.joints["MCP2"].h_prox + geo.joints["MCP5"].h_prox
    soft = 2 * anatomy._SOFT_MM["metacarpal"]
    assert 75.0 <= span + half_ends + soft <= 90.0, f"{span:.1f} mm between the heads' centres"



@pytest.mark.parametrize("f", range(1, 6))
def test_every_metacarpal_seats_on_the_carpus_at_any_pose_the_draws_allow(f):
    """Each metacarpal base slides along its ray onto its carpal bone(s) (`hand._seat_metacarpal`). Its ray's
    angle jitters by N(0, 1.5 deg): up to 9 deg (6 sigma) either way, at either end of the width and thumb
    ranges, the base must meet them. With the second metacarpal seated on the trapezoid alone, a jitter of
    5.5 deg let it slide past (a chapter's phantom stream met one such hand); it also meets the capitate and
    trapezium, as the real one does."""
    from rheumabook.phantom.wrist import carpal_outlines

    for jitter in np.linspace(-9.0, 9.0, 37):
        for width in (0.9, 1.1):
            for thumb_deg in (28.0, 48.0):
                pose = nominal_pose(thumb_deg)
                pose["var"]["width"] = width
                pose["finger_jitter"][:, 0] = jitter
                base = hand._seat_metacarpal(hand._ray_plan(f, pose, 1.0), carpal_outlines())
                assert np.all(np.isfinite(base))


REFERENCE_CARPAL_MM = {"scaphoid": (25, 28), "lunate": (18, 18), "triquetrum": (15, 15), "capitate": (20, 25)}
"""hand-anatomy.md, "Carpus": the longest extent of the bones it gives a size for (mm)."""


def test_carpal_bones_near_the_reference_sizes_and_the_carpus_near_its_height():
    """Each carpal bone's longest extent lies within 0.8-1 of the reference's, and the carpus (the lunate's radial
    facet to the capitate's top) is 25-34 mm tall against the reference's 25-30: the phantom keeps a joint space
    on every side where real carpals overlap in a PA view, so at full size its carpus would stand ~40 mm.
    Phantom v3's first carpus (scaphoid 17 mm, lunate 13, triquetrum 11) fails the first check."""
    from rheumabook.phantom.wrist import carpal_outlines

    outlines = carpal_outlines()
    for name, (low, high) in REFERENCE_CARPAL_MM.items():
        pts = outlines[name]
        longest = float(np.max(np.linalg.norm(pts[:, None] - pts[None], axis=-1)))
        assert 0.8 * low <= longest <= high, f"{name}: {longest:.1f} mm"
    height = float(outlines["capitate"][:, 1].max() - outlines["lunate"][:, 1].min())
    assert 25.0 <= height <= 34.0, f"carpus {height:.1f} mm tall"
