"""The public release of the clinic's annotations (AIRINIIReumHands, paper §3.1 footnote 1), read as a `Dataset`.

The release (AIRI / V.A. Nasonova Research Institute of Rheumatology) holds long score and box
CSVs and a folder of images. `load_public_release` reads it in place, mapping its hand, joint,
finger and disease names to the book's (`RELEASE_JOINT_MAP`, `RELEASE_HANDS`, `RELEASE_DISEASES`)
and its centre/size boxes to corners (`release_boxes_to_corners`); `convert_public_release` writes
it once in the book's layout; `find_public_release` finds its files in a folder. Errors name the
file and line (`tables`).
"""
from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import pandas as pd

from ..cache import atomic_directory
from ..joints import JOINTS, SITE_BY_NAME
from ..schema import BOX_COLUMNS, BOXES_COLUMNS, KEY_COLUMNS, natural_order
from .dataset import (IMAGE_SUFFIXES, LAYOUT_VERSION, Dataset, default_patient_info, index_images,
                      resolve_images)
from .errors import DatasetError
from .tables import (LINE, check_boxes_inside, csv_header, finish_scores, line_of, parse_boxes, parse_number,
                     parse_scores, read_table, sort_rows)

__all__ = [
    "RELEASE_SCORE_COLUMNS", "RELEASE_BOX_COLUMNS", "RELEASE_DX_IS_FULL_WIDTH", "RELEASE_JOINT_MAP",
    "RELEASE_DISEASES", "RELEASE_HANDS", "map_release_names", "release_boxes_to_corners",
    "load_public_release", "convert_public_release", "find_public_release",
]

RELEASE_SCORE_COLUMNS: tuple[str, ...] = ("expert_id", "patient_id", "hand", "joint", "finger", "disease", "score")
RELEASE_BOX_COLUMNS: tuple[str, ...] = ("patient_id", "hand", "joint", "finger", "xcenter", "ycenter", "dx", "dy")

RELEASE_DX_IS_FULL_WIDTH: bool = True
"""Whether the release's box `dx`/`dy` are the full width/height (True) or half of it (False).

Our best reading: full width -- the hackathon baseline published for this clinic's data
(ARISE-2025) divides dx by the image width to get YOLO's normalised box width. If boxes of the
real data come out twice too large or too small (chapter 1 draws them), flip this constant.
"""

_WRIST_PARTS = ("multangular", "navicular", "scaphoid", "trapezium", "lunate", "capitate",
                "multangular-navicular", "capitate-navicular-lunate", "multangular-navicular-lunate")

RELEASE_JOINT_MAP: pd.DataFrame = pd.DataFrame(
    [
        # (release joint, release finger or None, our joint): our best reading of the release's names.
        ("IP", 1, "IP"), ("IP", None, "IP"),
        ("PIP", 1, "IP"), ("DIP", 1, "IP"),  # the thumb has one interphalangeal joint, named either way
        *[(lvl, f, f"{lvl}{f}") for lvl in ("DIP", "PIP") for f in range(2, 6)],
        *[("MCP", f, f"MCP{f}") for f in range(1, 6)],
        ("CMC", 1, "CMC1"), ("MC1", None, "CMC1"), ("MCB", 1, "CMC1"), ("1st metacarpal base", None, "CMC1"),
        ("base", 1, "CMC1"),
        *[("CMC", f, f"CMC{f}") for f in range(3, 6)],
        ("wrist", None, "wrist"), ("carpus", None, "wrist"), ("intercarpal", None, "wrist"),
        *[(part, None, "wrist") for part in _WRIST_PARTS],  # paper §3.1: the wrist score is their maximum
        ("ulna", None, "ulna"), ("ulnar", None, "ulna"), ("ulnar styloid", None, "ulna"),
        # §3.1 also names the radius among the parts of the wrist erosion score; a separate "radius" row we
        # read as the book's radiocarpal site (the distal radius), which has its own erosion and JSN scores.
        ("radius", None, "radiocarpal"), ("radial", None, "radiocarpal"), ("radiocarpal", None, "radiocarpal"),
        # our own names, without a finger (or with the finger they imply)
        *[(j, None, j) for j in JOINTS],
        *[(j, SITE_BY_NAME[j].finger, j) for j in JOINTS if SITE_BY_NAME[j].finger is not None],
    ],
    columns=["release_joint", "release_finger", "joint"],
).astype({"release_finger": "Int64"})
"""The one table mapping the release's (joint, finger) names to ours (`joints.JOINTS`).

Matching ignores case, spaces, "_" and "-"; finger is 1 (thumb) .. 5 (little finger), or
empty/"none" for wrist sites (finger names like "thumb"/"index" are read as numbers too). Rows
whose joint is a wrist part (multangular, navicular, lunate, capitate ...) fold into "wrist",
taking the maximum score per expert, as paper §3.1 defines the wrist score. This is our best
reading of the release's names, made without the real files: an unknown name raises a
`DatasetError` naming the file and line -- add a row here when that happens.
"""

RELEASE_DISEASES: dict[str, str] = {
    "erosion": "erosion", "erosions": "erosion", "ero": "erosion", "er": "erosion", "e": "erosion",
    "jsn": "jsn", "narrowing": "jsn", "jointspacenarrowing": "jsn", "spacenarrowing": "jsn", "n": "jsn",
}
"""The release's `disease` values (normalised: lower case, no spaces/_/-) -> our score kind."""

RELEASE_HANDS: dict[str, str] = {"left": "left", "l": "left", "lt": "left", "right": "right", "r": "right", "rt": "right"}
"""The release's `hand` values (normalised) -> the patient's hand (see `hand_convention`)."""

_FINGER_WORDS = {"thumb": 1, "index": 2, "middle": 3, "ring": 4, "little": 5, "pinky": 5, "small": 5,
                 "i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}


def _norm(text: str) -> str:
    """Normalise a name for matching: lower case, without spaces, '_' and '-'."""
    return "".join(ch for ch in str(text).lower() if ch not in " _-")


_JOINT_LOOKUP: dict[tuple[str, Optional[int]], str] = {
    (_norm(j), None if pd.isna(f) else int(f)): ours
    for j, f, ours in RELEASE_JOINT_MAP.itertuples(index=False)
}
_WRIST_PART_KEYS = {_norm(p) for p in _WRIST_PARTS}


def _parse_finger(text: str) -> Optional[int] | str:
    """Release finger -> 1..5 ('2', '2.0', 'index', 'II' -> 2); '', 'none', 'nan' -> None; else the text (an error later)."""
    t = _norm(text)
    if t in ("", "none", "nan", "na", "null"):
        return None
    if t in _FINGER_WORDS:
        return _FINGER_WORDS[t]
    try:
        value = float(t)
    except ValueError:
        return str(text)
    return int(value) if value == int(value) else str(text)


def map_release_names(df: pd.DataFrame, source: str, *, hand_convention: str = "patient") -> pd.DataFrame:
    """Replace the release's hand/joint/finger (and disease, if present) by ours; errors name the line.

    `df` holds strings and a `_line` column. Returns a copy with `hand`, `joint` (ours),
    `wrist_part` (whether the row was a wrist part folded into "wrist") and `kind` (if `disease`).
    `hand_convention="patient"` reads "left" as the patient's left hand (our convention);
    "image" reads it as the image's left half, i.e. the patient's RIGHT hand on a PA radiograph.
    """
    if hand_convention not in ("patient", "image"):
        raise ValueError(f"hand_convention must be 'patient' or 'image', got {hand_convention!r}")
    out = df.copy()
    hands = df["hand"].map(lambda h: RELEASE_HANDS.get(_norm(h)))
    bad = hands.isna()
    if bad.any():
        raise DatasetError(f"{line_of(source, df, bad)}: unknown hand {df.loc[bad, 'hand'].iloc[0]!r}; "
                           f"expected one of {', '.join(sorted(RELEASE_HANDS))} (add it to data.RELEASE_HANDS)")
    if hand_convention == "image":
        hands = hands.map({"left": "right", "right": "left"})
    out["hand"] = hands

    joints, parts = [], []
    for joint, finger, line in zip(df["joint"], df["finger"], df[LINE]):
        f = _parse_finger(finger)
        key = (_norm(joint), f)
        ours = _JOINT_LOOKUP.get(key) if not isinstance(f, str) else None
        if ours is None:
            raise DatasetError(f"{source} line {line}: unknown joint {joint!r} with finger {finger!r}; "
                               f"add the name to data.RELEASE_JOINT_MAP (known names: "
                               f"{', '.join(sorted(set(RELEASE_JOINT_MAP['release_joint'])))})")
        joints.append(ours)
        parts.append(_norm(joint) in _WRIST_PART_KEYS)
    out["joint"] = joints
    out["wrist_part"] = parts
    if "disease" in df:
        kinds = df["disease"].map(lambda d: RELEASE_DISEASES.get(_norm(d)))
        bad = kinds.isna()
        if bad.any():
            raise DatasetError(f"{line_of(source, df, bad)}: unknown disease {df.loc[bad, 'disease'].iloc[0]!r}; "
                               f"expected erosion or JSN (add a synonym to data.RELEASE_DISEASES)")
        out["kind"] = kinds
    return out


def release_boxes_to_corners(xcenter: np.ndarray, ycenter: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                             *, full_width: bool = RELEASE_DX_IS_FULL_WIDTH) -> np.ndarray:
    """Centre/size boxes -> (N, 4) float64 (x_min, y_min, x_max, y_max), pixels.

    With `full_width` (the default, `RELEASE_DX_IS_FULL_WIDTH`) dx is the whole width, so
    x_min = xcenter - dx / 2; otherwise dx is the half-width, x_min = xcenter - dx.
    """
    half = 0.5 if full_width else 1.0
    xc, yc, w, h = (np.asarray(v, dtype=np.float64) for v in (xcenter, ycenter, dx, dy))
    return np.stack([xc - half * w, yc - half * h, xc + half * w, yc + half * h], axis=1)


def _release_patient_ids(values: pd.Series) -> pd.Series:
    """Release patient ids as text; '12.0' (a float column) -> '12'."""
    def one(v: str) -> str:
        try:
            f = float(v)
        except ValueError:
            return v
        return str(int(f)) if math.isfinite(f) and f == int(f) else v
    return values.map(one)


def load_public_release(scores_csv: Path | str, boxes_csv: Path | str, images_dir: Path | str, *,
                        hand_convention: str = "patient", clip_boxes: bool = True,
                        verify_images: bool = False) -> Dataset:
    """Read the public release (AIRINIIReumHands: long score and box CSVs + a folder of images).

    Scores CSV columns: expert_id, patient_id, hand, joint, finger, disease, score (extra columns,
    such as an unnamed index, are ignored; rows with an empty score are dropped and counted in
    `info["dropped_empty_scores"]`). Boxes CSV: patient_id, hand, joint, finger, xcenter, ycenter,
    dx, dy (dx/dy: see `RELEASE_DX_IS_FULL_WIDTH`). Names map through `RELEASE_JOINT_MAP`; wrist
    parts fold into "wrist" by their maximum. Images: `<patient_id>.jpeg` (or .png/.jpg/.tif).
    Boxes poking out of the image are clipped to it when `clip_boxes` (with a warning).
    Returns a `Dataset` whose images stay where they are (`truth` is None).
    """
    scores_csv, boxes_csv, images_dir = Path(scores_csv), Path(boxes_csv), Path(images_dir)
    scores, n_empty = _read_release_scores(scores_csv, hand_convention)
    boxes = _read_release_boxes(boxes_csv, hand_convention)
    images = index_images(images_dir)
    tables = {str(boxes_csv): boxes, str(scores_csv): scores}
    patients = natural_order(set(boxes["patient_id"]) | set(scores["patient_id"]))
    sizes = resolve_images(patients, images, images_dir, tables, verify_images)
    boxes, n_clipped = _clip_boxes(boxes, sizes) if clip_boxes else (boxes, 0)
    if n_clipped:
        warnings.warn(f"{boxes_csv}: {n_clipped} box(es) reached outside their image and were clipped to it",
                      stacklevel=2)
    check_boxes_inside(boxes, sizes, str(boxes_csv))
    _check_hand_sides(boxes, sizes, str(boxes_csv))
    info = {
        "name": "AIRINIIReumHands (public release, V.A. Nasonova Research Institute of Rheumatology / AIRI)",
        "kind": "real",
        "description": "Bilateral hand radiographs scored by three radiologists (paper §3.1); CC BY-NC-SA 3.0.",
        "layout_version": LAYOUT_VERSION,
        "source": {"scores_csv": str(scores_csv), "boxes_csv": str(boxes_csv), "images_dir": str(images_dir)},
        "hand_convention": hand_convention,
        "dx_is_full_width": RELEASE_DX_IS_FULL_WIDTH,
        "dropped_empty_scores": n_empty,
        "clipped_boxes": n_clipped,
        "pixel_spacing_mm": None,
    }
    return Dataset(boxes=sort_rows(boxes)[list(BOXES_COLUMNS)], scores=finish_scores(scores, str(scores_csv)),
                   truth=None, patient_info=default_patient_info(patients, images, sizes), info=info,
                   image_paths={p: images[p] for p in patients}, root=None)


def _read_release_scores(scores_csv: Path, hand_convention: str) -> tuple[pd.DataFrame, int]:
    """The release's scores in our names (wrist parts folded, `LINE` kept) and how many empty scores were dropped."""
    raw = read_table(scores_csv, RELEASE_SCORE_COLUMNS, "the release's expert scores")
    raw["patient_id"] = _release_patient_ids(raw["patient_id"])
    empty = raw["score"] == ""
    raw = raw[~empty]
    if raw.empty:
        raise DatasetError(f"{scores_csv}: every score is empty")
    mapped = map_release_names(raw, str(scores_csv), hand_convention=hand_convention)
    scores = parse_scores(mapped, str(scores_csv))
    scores["wrist_part"] = mapped["wrist_part"].to_numpy()
    return _fold_wrist_parts(scores, str(scores_csv)), int(empty.sum())


def _read_release_boxes(boxes_csv: Path, hand_convention: str) -> pd.DataFrame:
    """The release's boxes in our names and corner format (`parse_boxes` output, `LINE` kept)."""
    raw_boxes = read_table(boxes_csv, RELEASE_BOX_COLUMNS, "the release's joint boxes")
    raw_boxes["patient_id"] = _release_patient_ids(raw_boxes["patient_id"])
    mapped_boxes = map_release_names(raw_boxes, str(boxes_csv), hand_convention=hand_convention)
    part = mapped_boxes["wrist_part"]
    if part.any():
        raise DatasetError(f"{line_of(str(boxes_csv), mapped_boxes, part)}: a box for the wrist part "
                           f"{raw_boxes.loc[part, 'joint'].iloc[0]!r}; the book has one 'wrist' box per hand")
    numbers = {c: parse_number(raw_boxes, c, str(boxes_csv), integer=False, allow_empty=False)
               for c in ("xcenter", "ycenter", "dx", "dy")}
    corners = release_boxes_to_corners(numbers["xcenter"], numbers["ycenter"], numbers["dx"], numbers["dy"])
    converted = mapped_boxes[[*KEY_COLUMNS, LINE]].copy()
    for i, col in enumerate(BOX_COLUMNS):
        converted[col] = corners[:, i]
    return parse_boxes(converted, str(boxes_csv))


def _fold_wrist_parts(scores: pd.DataFrame, source: str) -> pd.DataFrame:
    """Wrist-part rows -> one "wrist" row per (patient, hand, expert, kind) with the maximum score (§3.1)."""
    parts = scores[scores["wrist_part"]]
    rest = scores[~scores["wrist_part"]]
    if parts.empty:
        return rest.drop(columns="wrist_part")
    keys = [*KEY_COLUMNS, "expert_id", "kind"]
    clash = parts.set_index(keys).index.isin(rest.set_index(keys).index)
    if clash.any():
        raise DatasetError(f"{line_of(source, parts, pd.Series(clash, index=parts.index))}: a wrist part and a "
                           f"'wrist' score for the same patient, hand, expert and kind; keep one of them")
    folded = parts.groupby(keys, as_index=False, sort=False).agg(score=("score", "max"), _line=(LINE, "min"))
    return pd.concat([rest.drop(columns="wrist_part"), folded], ignore_index=True)


def _clip_boxes(boxes: pd.DataFrame, sizes: Mapping[str, tuple[int, int]]) -> tuple[pd.DataFrame, int]:
    """Clip boxes to their image; returns the boxes and how many changed."""
    w = boxes["patient_id"].map(lambda p: sizes[p][0]).astype(float)
    h = boxes["patient_id"].map(lambda p: sizes[p][1]).astype(float)
    out = boxes.copy()
    out["x_min"] = out["x_min"].clip(lower=0)
    out["y_min"] = out["y_min"].clip(lower=0)
    out["x_max"] = np.minimum(out["x_max"], w)
    out["y_max"] = np.minimum(out["y_max"], h)
    changed = int((out[list(BOX_COLUMNS)] != boxes[list(BOX_COLUMNS)]).any(axis=1).sum())
    return out, changed


def _check_hand_sides(boxes: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], source: str) -> None:
    """Warn when the 'right' hand's boxes lie on the image's right half: the hands are probably image-sided."""
    if boxes.empty:
        return
    centre = (boxes["x_min"] + boxes["x_max"]) / 2 / boxes["patient_id"].map(lambda p: sizes[p][0])
    side = centre.groupby(boxes["hand"]).mean()
    if {"left", "right"} <= set(side.index) and side["right"] > side["left"]:
        warnings.warn(f"{source}: the 'right' hand's boxes lie right of the 'left' hand's (mean x {side['right']:.2f} "
                      f"vs {side['left']:.2f} of the width); on a PA radiograph the patient's right hand is on the "
                      f"image's left. If the release names hands by image side, pass hand_convention='image'.",
                      stacklevel=3)


def convert_public_release(scores_csv: Path | str, boxes_csv: Path | str, images_dir: Path | str,
                           out_root: Path | str, *, overwrite: bool = False, hand_convention: str = "patient",
                           progress: bool = True) -> Path:
    """Write the public release in the book's layout under `out_root` (images copied byte for byte).

    Same reading as `load_public_release`; written atomically (`cache.atomic_directory`) like
    `write_phantom_dataset`.
    """
    from tqdm.auto import tqdm

    ds = load_public_release(scores_csv, boxes_csv, images_dir, hand_convention=hand_convention)
    out_root = Path(out_root)
    with atomic_directory(out_root, overwrite=overwrite) as tmp:
        (tmp / "images").mkdir()
        names = []
        for pid in tqdm(ds.patients, desc="copying radiographs", disable=not progress):
            src = ds.image_path(pid)
            name = f"{pid}{src.suffix.lower()}"
            shutil.copyfile(src, tmp / "images" / name)
            names.append(name)
        csv = dict(index=False, lineterminator="\n")
        ds.boxes.to_csv(tmp / "boxes.csv", **csv)
        ds.scores.to_csv(tmp / "scores.csv", **csv)
        ds.patient_info.assign(image=names).to_csv(tmp / "patients.csv", **csv)
        (tmp / "dataset.json").write_text(json.dumps(ds.info, indent=2, sort_keys=True) + "\n")
    return out_root


def find_public_release(root: Path | str) -> Optional[tuple[Path, Path, Path]]:
    """(scores_csv, boxes_csv, images_dir) if `root` holds the release's files (searched 2 levels deep), else None.

    CSVs are recognised by their header; the images folder is the one holding the most image files.
    """
    root = Path(root)
    csvs = sorted(p for pattern in ("*.csv", "*/*.csv", "*/*/*.csv") for p in root.glob(pattern))
    scores = boxes = None
    for path in csvs:
        header = csv_header(path)
        if scores is None and set(RELEASE_SCORE_COLUMNS) <= header:
            scores = path
        elif boxes is None and set(RELEASE_BOX_COLUMNS) <= header:
            boxes = path
    if scores is None or boxes is None:
        return None
    folders = [root, *sorted(p for p in root.glob("*") if p.is_dir()), *sorted(p for p in root.glob("*/*") if p.is_dir())]
    count = {d: sum(1 for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES) for d in folders}
    best = max(folders, key=lambda d: count[d])
    return (scores, boxes, best) if count[best] else None

