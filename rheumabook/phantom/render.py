"""`render`: one seeded synthetic bilateral PA hand radiograph with known joint boxes and scores.

The clinical collection behind the paper (§3.1: 330 bilateral hand radiographs, 42
boxes each, erosion and JSN scores by three radiologists) cannot ship with the book,
so every chapter runs by default on radiographs rendered here. ``render(seed)`` draws
one patient and returns a `Radiograph`: the image, its 42 true joint boxes, the true
erosion/JSN score of every site, the pixel spacing and a ``meta`` dict describing the
pose, exposure and confounders.

The model
---------
* **Geometry in millimetres** (phantom v2, issue 9; v3 proportions, issue 20). Every bone lives in a
  hand frame (x towards the thumb, y towards the finger tips, origin at the midcarpal joint), built from
  the round anatomical figures of ``shared/reference/hand-anatomy.md``: bone lengths per
  finger, shafts of the reference's widths flaring smoothly to ends 1.3-1.5x as wide (a waist of
  0.6-0.75x the ends), metacarpals fanning to heads ~55 mm apart (the reference's 80-90 mm hand
  over them, ~77 mm with the phantom's thinner palm) with the fingers turned back towards the middle one, a first metacarpal seen foreshortened
  (0.9, its palmar abduction), cortex
  0.9-2 mm at mid-shaft thinning to 0.5 mm under the joint surfaces, joint spaces MCP 1.75,
  PIP 1.05, DIP/IP 0.8, CMC 1.25, radiocarpal 2.25 and intercarpal 1.5 mm. A head is a
  convex parabolic cap (bicondylar, with a shallow notch, at the phalanges) and the next
  bone's base the same cap shifted by the joint space, so the joint line is a curved band of
  even width; the fingers bend about the centre of curvature of the head. Distal phalanges
  end in a tuft, two sesamoids overlap the MCP1 head, eight carpal bones in two rows (the
  pisiform over the triquetrum, the hook of the hamate seen end-on), radius and ulna with
  their styloids are laid out once so that neighbours keep their joint spaces.
* **Patients and posture vary** (`_draw_variation`): hand size (0.9-1.1), bone widths
  (0.9-1.1) and each bone's length (+-4 %), a quarter of the patients adolescents with open
  growth plates, finger flexion (phalanges foreshortened up to 14 %), spread, thumb
  abduction, a slight supination, rotation (+-8 deg) and position (low in the field: 1-3 cm
  of forearm, as a single-hand film frames it).
* **Image formation in 2.5-D** (`thickness`, `exposure`): per pixel the path length of the
  beam through cortex, medulla and soft tissue -- tubular bones as tubes (the chord of an
  elliptic cross-section, outer minus inner for the cortex), compact bones as ellipsoids,
  soft tissue rounded from the distance to the skin -- then Beer-Lambert attenuation, the log
  exposure with a heel-effect gradient, a display window and gamma, detector blur,
  signal-dependent quantum noise, collimator shadows, lead markers, a label and a ruler
  (`markers`), 8- or 12-bit quantisation (``dtype=np.uint16``: 0..4095) and optionally the
  MONOCHROME1 polarity (``monochrome1=True``). `formation_stages` returns every step.
* **Damage where it is scored** (Sharp/van der Heijde, paper refs [38, 39]).
  JSN grade -> remaining joint space 1.0 / ~0.8 focal (one side of the joint narrowed
  to 0.6) / ~0.6 / ~0.3 / 0 with a bony bridge (ankylosis): both bone ends grow into the
  gap, so nothing outside the joint moves; from grade 2 the bone under the joint surfaces is
  sclerotic (denser). Erosions remove bone (down to soft tissue: lucent, never black) in
  ragged defects that break the cortex at the bare areas next to the joint: grade 1 one
  ~1 mm marginal defect, 2-4 larger defects shared between the two bone ends (2 = large but
  not past the bone's midline, 3 = past it, 4 = 3 + 1 or 2 + 2), 5 = collapse of both bone
  ends. Wrist sites: defects on the carpal bones ("wrist"), the ulnar styloid/head ("ulna"),
  the distal radius rim ("radiocarpal"); wrist JSN narrows the intercarpal spaces (4 =
  fused carpus). Every damaged site also shows periarticular osteopenia (a less dense
  medulla around the joint, deeper with its grades). See `damage` and `wrist`.
* **Confounders.** The width of the background gap between the hands (each hand keeps
  1.5-6 % of the width from the image's middle, so a top-to-bottom seam always has >= 3 %
  of background to pass through, chapter 3), exposure (beam quality, window, gamma, heel
  effect, a grey background on half the films) and noise, lead side markers "L"/"R" near
  each hand (missing ~8 %, wrong ~6 % of the time), a burnt-in text label and a lead ruler
  (`markers`). The patient's right hand is on the image's LEFT half (PA view), thumbs
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
well a method works on real radiographs: there is no subluxation or deformity, no
overlapping fingers, no jewellery, casts or implants; bones are smooth analytic shapes with
a noise texture, not trabecular networks, and erosions are cut from simple ragged outlines.
Numbers measured on it are phantom numbers, not
clinical ones.

Speed: ~120 ms of CPU per 2048 px radiograph on one core (~8/s; `benchmarks/bench_phantom.py`).

Used by chapters 1-4 (through `rheumabook.data`) and by the tests of the other modules.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from ..joints import HANDS, JOINTS, SCORE_KINDS
from ..schema import check_truth
from . import disease
from .anatomy import ASPECT, DEFAULT_SIZE, FIELD_WIDTH_MM, MIN_SIZE
from .raster import render_image

__all__ = ["OPTIONS", "Radiograph", "render", "formation_stages"]

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
    "monochrome1": False,  # store the image inverted (DICOM MONOCHROME1: bone dark, background bright)
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
    for name in ("markers", "label", "monochrome1"):
        if not isinstance(opts[name], (bool, np.bool_)):
            raise ValueError(f"option {name}={opts[name]!r} must be True or False")
        opts[name] = bool(opts[name])
    return opts


# --------------------------------------------------------------------------- rendering


def formation_stages(seed: int | np.random.Generator, *, size: int = DEFAULT_SIZE, dtype: Any = np.uint8,
                     truth: Optional[pd.DataFrame] = None, **options: Any) -> tuple[Radiograph, dict]:
    """`render` with every intermediate image of the image formation kept (chapter 1 shows them).

    Returns (radiograph, stages): the same `Radiograph` as ``render(seed, ...)`` gives, and a dict of
    float32 (H, W) arrays in the order they are made: bone_outer_mm, medulla_mm, soft_mm (path
    lengths, `thickness`), attenuation, log_exposure, display, blur, noise, collimation, markers
    (`exposure`), plus bones: hand -> [(bone name, centre in pixels, axis angle in degrees)].
    """
    stages: dict = {}
    return _render(seed, size, dtype, truth, options, stages), stages


def render(seed: int | np.random.Generator, *, size: int = DEFAULT_SIZE, dtype: Any = np.uint8,
           truth: Optional[pd.DataFrame] = None, **options: Any) -> Radiograph:
    """Render one seeded bilateral PA hand radiograph with its true boxes and scores.

    seed: an int (the same seed and options give identical bytes and tables) or a
        `numpy.random.Generator`. Every random number comes from that one generator (the
        pixel noise, the anatomical variation, the beam and the collimation from two child
        generators seeded by one of its draws), in a fixed order that depends neither on the
        truth nor on `size`: a seed is the same patient and pose at every size, and phantom v2
        draws the same true grades for a seed as phantom v1 did.
    size: image width in pixels (landscape, height = 0.75 * size); pixel spacing
        = 360 mm / size (0.176 mm/px at 2048). At least 256.
    dtype: numpy.uint8 (0..255) or numpy.uint16 (12-bit: 0..4095).
    truth: the patient's true scores (DataFrame hand, joint, erosion, jsn, validated by
        `rheumabook.schema.check_truth` with one_radiograph=True; other columns are dropped);
        None draws them from the disease model with the same generator
        (`disease.sample_patient(rng)`, i.e. `disease.sample_truth` plus the severity,
        recorded in ``meta["severity"]``), after all the phantom's own draws. The pose,
        exposure, markers and noise do not depend on the truth, so re-rendering a seed
        with an edited truth changes the image only at the edited joints.
    options: noise (multiplier, 0 = none), markers / label (draw them; markers also the
        ruler), rotation_deg, spread, scale, gamma (fix a pose/exposure parameter instead of
        drawing it), marker_error_rate, marker_missing_rate, monochrome1 (store inverted).
        Unknown names raise ValueError.

    Returns a `Radiograph` (image, boxes, truth, pixel_spacing_mm, meta). ``meta`` holds
    pose (per hand: rotation_deg, scale, spread, thumb_deg, origin_px, px_per_mm,
    open_growth_plates, ...),
    exposure, markers (per hand: letter, correct, box; None if missing), label (text, box
    or None), ruler (its box or None), gap_px (first/last background column between the hands), hand_extent_x_px,
    joints (per hand and site: centre in box coordinates; for finger and CMC joints also
    the unit axis towards the finger tip, gap_px and end_width_px), seed, size, severity.
    """
    return _render(seed, size, dtype, truth, options, None)


def _render(seed: int | np.random.Generator, size: Any, dtype: Any, truth: Optional[pd.DataFrame], options: dict,
            stages: Optional[dict]) -> Radiograph:
    """`render`'s body; `stages` (a dict or None) receives the intermediate images (`formation_stages`)."""
    size = _check_size(size)
    dt = _check_dtype(dtype)
    d, truth, severity, opts = _draws(seed, size, truth, options)
    W, H = size, int(round(size * ASPECT))
    spacing = FIELD_WIDTH_MM / W
    image, boxes, meta = render_image(d, truth, W, H, spacing, dt, opts, stages)
    meta["seed"] = int(seed) if not isinstance(seed, np.random.Generator) else None
    meta["size"] = (H, W)
    meta["severity"] = None if severity is None else float(severity)
    return Radiograph(image=image, boxes=boxes, truth=truth, pixel_spacing_mm=spacing, meta=meta)


def _draws(seed: int | np.random.Generator, size: int, truth: Optional[pd.DataFrame],
           options: dict) -> tuple[dict, pd.DataFrame, Optional[float], dict]:
    """Checked options, truth and seed, then every draw of one radiograph: (d, truth, severity, opts).

    size: the checked image width. The draws come in a fixed order that depends neither on the
    truth nor on the options (`render`); `render` and `lesions.lesion_geometry` share them.
    """
    opts = _check_options(options)
    if truth is not None:
        truth = _radiograph_truth(truth)
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        rng = np.random.default_rng(int(seed))
    else:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    d = _draw(rng, size, int(round(size * ASPECT)))
    if truth is None:
        # the disease model's last draws; sample_patient also tells the severity (sample_truth does not)
        patient = disease.sample_patient(rng)
        truth, severity = _radiograph_truth(patient.truth), patient.severity
    else:
        severity = truth.attrs.get("severity")
    _fix_drawn(d, opts)
    return d, truth, severity, opts


def _radiograph_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """`schema.check_truth` for one radiograph: 42 rows in HANDS x JOINTS order, columns hand, joint, erosion,
    jsn only (Int64, <NA> where a score does not apply); its ``attrs`` (e.g. a severity) are kept."""
    checked = check_truth(truth, one_radiograph=True)
    out = pd.DataFrame({"hand": checked["hand"].tolist(), "joint": checked["joint"].tolist(),
                        **{kind: checked[kind].array for kind in SCORE_KINDS}})
    out.attrs = dict(truth.attrs)
    return out


def _fix_drawn(d: dict, opts: dict) -> None:
    """Replace drawn pose/exposure values by the ones fixed in `opts` (after drawing: the stream stays the same)."""
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


# --------------------------------------------------------------------------- the draws


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
    # the anatomical variation and the beam/collimation come from a sibling child generator
    noise_seq, var_seq = np.random.SeedSequence(int(rng.integers(0, 2**63))).spawn(2)
    noise_rng = np.random.default_rng(noise_seq)
    var_rng = np.random.default_rng(var_seq)
    physics = _draw_physics(var_rng)
    _draw_variation(var_rng, pose)
    noise = {
        "fine": _noise_bytes(noise_rng, (H, W)),
        "texture": _noise_bytes(noise_rng, ((H + 1) // 2, (W + 1) // 2)),
        "mottle_y": _smooth_curve(noise_rng, H),
        "mottle_x": _smooth_curve(noise_rng, W),
    }
    return {"patient_scale": patient_scale, "length_factor": length_factor, "pose": pose, "damage": damage,
            "exposure": exposure, "marker_u": marker_u, "corner_u": corner_u, "label": label, "noise": noise,
            "physics": physics}


def _draw_variation(rng: np.random.Generator, pose: dict) -> None:
    """Per-patient proportions and per-hand posture into ``pose[hand]["var"]`` (see `hand.build_hand`).

    width: bone width factor (0.9-1.1, one per patient); bones: (5, 4) per-bone length factors
    (+-4 %); physes: open growth plates (an adolescent, ~25 % of patients; chapter 1); per hand:
    flexion (5,) foreshortening of each finger's phalanges (0.86-1, a finger bent towards the
    palm looks shorter on a PA film), spread_gain (1-1.6, fingers spread further apart) and
    supination (0.94-1: the hand turned a little about its long axis looks narrower).
    """
    width = float(rng.uniform(0.9, 1.1))
    bones = rng.uniform(0.96, 1.04, size=(5, 4))
    physes = bool(rng.uniform() < 0.25)
    for hand in HANDS:
        pose[hand]["var"] = {"width": width, "bones": bones, "physes": physes,
                             "flexion": rng.uniform(0.86, 1.0, size=5), "spread_gain": float(rng.uniform(1.0, 1.6)),
                             "supination": float(rng.uniform(0.94, 1.0))}


def _draw_physics(rng: np.random.Generator) -> dict:
    """Beam quality (kv: attenuation scale, a_ref: the window's reference, soft: the soft tissue's share),
    a grey background on half the films, the collimation bands and the ruler (`markers`)."""
    kv = float(rng.uniform(0.8, 1.25))
    a_ref = float(rng.uniform(0.85, 1.15))
    present = rng.uniform(size=5)
    widths = rng.uniform((1.0, 1.5, 0.8, 0.8), (4.0, 4.5, 3.0, 3.0))  # top, bottom, left, right (mm)
    coll = {"mm": tuple(float(w) if (present[0] < 0.55 and p < 0.6) else 0.0 for w, p in zip(widths, present[1:])),
            "level": float(rng.uniform(0.55, 0.95))}
    background = float(rng.uniform(0.0, 0.45)) if rng.uniform() < 0.5 else 0.0
    soft = float(rng.uniform(0.8, 1.35))
    ruler = {"present": bool(rng.uniform() < 0.5), "length_mm": float(rng.uniform(50.0, 100.0)),
             "order": [int(i) for i in rng.permutation(8)], "level": float(rng.uniform(0.45, 0.75))}
    return {"kv": kv, "a_ref": a_ref, "soft": soft, "background": background, "collimation": coll, "ruler": ruler}


def _smooth_curve(rng: np.random.Generator, n: int, knots: int = 12) -> np.ndarray:
    """A smooth random curve of `n` float32 samples in about [-1, 1] (`knots` random values, interpolated)."""
    values = rng.uniform(-1.0, 1.0, size=knots)
    return np.interp(np.linspace(0.0, knots - 1.0, n), np.arange(knots), values).astype(np.float32)


def _noise_bytes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Uniform uint8 noise from the generator's byte stream (far cheaper than normal draws)."""
    return np.frombuffer(rng.bytes(shape[0] * shape[1]), dtype=np.uint8).reshape(shape)
