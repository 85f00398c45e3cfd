"""The in-memory data set (`Dataset`), its image files, and reading the book's layout (`load_dataset`).

The book's layout (one folder; written by `phantom_writer.write_phantom_dataset`, read by
`load_dataset`)::

    root/
      dataset.json    what it is (phantom or real), seed, image size, pixel spacing, layout version
      patients.csv    one row per radiograph: patient_id, image, width, height, dtype,
                      pixel_spacing_mm, and the phantom's per-image settings (pose, exposure, ...)
      images/<patient_id>.png      2-D grayscale, lossless (uint16 stays uint16); a real data set
                                   may keep its original .jpeg/.jpg/.tif files instead
      boxes.csv       patient_id, hand, joint, x_min, y_min, x_max, y_max (pixels of that image)
      scores.csv      long: patient_id, hand, joint, expert_id, kind, score
                      (kind "erosion" 0-5 or "jsn" 0-4; a score that was not given is an absent row)
      truth.csv       phantom only: patient_id, hand, joint, erosion, jsn (empty where n/a)

Hands are the PATIENT's hands ("left"/"right"); joints are `joints.JOINTS` names. Only
`dataset.json`-less real data sets may lack `patients.csv`; `truth.csv` exists only for the phantom.
Without `patients.csv` the patients are those of the tables in natural order ("P2" before "P10",
`schema.natural_order`). Every reader validates: a bad file raises `DatasetError` naming the file,
the line and what to fix (`tables`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..cache import display_path
from ..joints import HANDS
from ..schema import BOXES_COLUMNS, SCORES_COLUMNS, TRUTH_COLUMNS, natural_order
from .errors import DatasetError, MissingDatasetFileError
from .images import IMAGE_SUFFIXES, read_image, write_png  # image files live in `images` (PNG, JPEG, .mha, DICOM)
from .tables import (LINE, check_boxes_inside, check_ids, check_unique, finish_scores, line_of, parse_boxes,
                     parse_number, parse_scores, parse_truth, read_table, sort_rows)

__all__ = [
    "LAYOUT_VERSION", "IMAGE_SUFFIXES", "Dataset", "read_image", "write_png", "load_dataset",
    "index_images", "read_image_size", "resolve_images", "default_patient_info",
]

LAYOUT_VERSION = 1
"""Version of the on-disk layout above; bump it when the layout changes (cached phantoms are rewritten)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set of bilateral hand radiographs with joint boxes and expert scores (paper §3.1).

    Tables (pandas, tidy, sorted by patient, hand in `joints.HANDS` order, joint in `joints.JOINTS` order):

    - `boxes`: patient_id (str), hand, joint, x_min, y_min, x_max, y_max (float64 pixels of the
      patient's radiograph, torchvision convention). Real data may have boxes for only some patients.
    - `scores`: long format patient_id, hand, joint, expert_id, kind ("erosion"/"jsn"), score (Int64).
      A score that was not given, or does not apply at the site, is an absent row.
    - `truth`: phantom only, patient_id, hand, joint, erosion, jsn (Int64, <NA> where the score does
      not apply); None for real data, where nobody knows the truth.
    - `patient_info`: one row per radiograph (patient_id, image, width, height, ...).
    - `info`: the `dataset.json` dictionary (what the data set is, seed, pixel spacing ...).
    """

    boxes: pd.DataFrame
    scores: pd.DataFrame
    truth: Optional[pd.DataFrame]
    patient_info: pd.DataFrame
    info: dict
    image_paths: Mapping[str, Path] = field(repr=False)
    root: Optional[Path] = None

    @property
    def patients(self) -> list[str]:
        """Patient ids (one radiograph each), in the data set's order."""
        return list(self.patient_info["patient_id"])

    @property
    def is_phantom(self) -> bool:
        """Whether this is the synthetic phantom (its `truth` is known)."""
        return self.info.get("kind") == "phantom"

    def image_path(self, patient_id: str) -> Path:
        """Path of the patient's radiograph file."""
        try:
            return Path(self.image_paths[str(patient_id)])
        except KeyError:
            raise KeyError(f"no patient {patient_id!r} in this data set; patients are e.g. "
                           f"{', '.join(self.patients[:5])} ({len(self.patients)} in all)") from None

    def image(self, patient_id: str) -> np.ndarray:
        """The patient's radiograph: 2-D uint8 or uint16 array (y, x), exactly as stored."""
        return read_image(self.image_path(patient_id))

    def boxes_of(self, patient_id: str, hand: Optional[str] = None) -> pd.DataFrame:
        """Boxes of one patient (optionally one hand), in `joints.JOINTS` order, index reset."""
        return _rows_of(self.boxes, patient_id, hand)

    def scores_of(self, patient_id: str, hand: Optional[str] = None) -> pd.DataFrame:
        """Expert scores of one patient (optionally one hand), long format."""
        return _rows_of(self.scores, patient_id, hand)

    def truth_of(self, patient_id: str, hand: Optional[str] = None) -> Optional[pd.DataFrame]:
        """True scores of one patient (phantom only; None for real data)."""
        return None if self.truth is None else _rows_of(self.truth, patient_id, hand)

    def subset(self, patient_ids: Iterable[str]) -> "Dataset":
        """The same data set restricted to some patients (e.g. a train/test split), in the given order."""
        ids = [str(p) for p in patient_ids]
        unknown = [p for p in ids if p not in self.image_paths]
        if unknown:
            raise KeyError(f"unknown patient id(s) {unknown[:5]} ({len(unknown)} in all)")
        keep = set(ids)
        order = {p: i for i, p in enumerate(ids)}

        def pick(df: pd.DataFrame) -> pd.DataFrame:
            out = df[df["patient_id"].isin(keep)]
            out = out.iloc[np.argsort(out["patient_id"].map(order).to_numpy(), kind="stable")]
            return out.reset_index(drop=True)

        return Dataset(boxes=pick(self.boxes), scores=pick(self.scores),
                       truth=None if self.truth is None else pick(self.truth),
                       patient_info=pick(self.patient_info), info=dict(self.info),
                       image_paths={p: self.image_paths[p] for p in ids}, root=self.root)

    def summary(self) -> pd.Series:
        """A few counts that describe the data set (chapter 1 shows them)."""
        return pd.Series({
            "kind": self.info.get("kind", "unknown"),
            "radiographs": len(self.patients),
            "radiographs with boxes": self.boxes["patient_id"].nunique(),
            "joint boxes": len(self.boxes),
            "experts": self.scores["expert_id"].nunique(),
            "expert scores": len(self.scores),
            "truth known": self.truth is not None,
        }, name="data set")

    def __repr__(self) -> str:
        s = self.summary()
        where = f" at {display_path(self.root)}" if self.root else ""  # no machine path in the book
        return (f"Dataset({s['kind']}{where}: {s['radiographs']} radiographs, {s['joint boxes']} joint boxes, "
                f"{s['expert scores']} scores by {s['experts']} experts, truth {'known' if s['truth known'] else 'unknown'})")


def _rows_of(df: pd.DataFrame, patient_id: str, hand: Optional[str]) -> pd.DataFrame:
    """Rows of one patient (and hand) of a tidy table."""
    mask = df["patient_id"] == str(patient_id)
    if hand is not None:
        if hand not in HANDS:
            raise ValueError(f"unknown hand {hand!r}; expected one of {HANDS} (the patient's hands)")
        mask &= df["hand"] == hand
    return df[mask].reset_index(drop=True)


# ---------------------------------------------------------------------------- image files


def index_images(images_dir: Path) -> dict[str, Path]:
    """Map file stem -> path of every image file in `images_dir` (not recursive)."""
    if not images_dir.is_dir():
        raise MissingDatasetFileError(f"{images_dir}: missing images folder; it must hold one radiograph "
                                      f"per patient, named <patient_id>.png (or .jpeg/.jpg/.tif)")
    found: dict[str, Path] = {}
    for path in sorted(images_dir.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            stem = path.stem.strip()
            if stem in found:
                raise DatasetError(f"{images_dir}: two images for patient {stem!r}: {found[stem].name} and {path.name}")
            found[stem] = path
    return found


def read_image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header only; `DatasetError` if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable image ({type(exc).__name__}: {exc}); "
                           f"replace it with a valid {', '.join(IMAGE_SUFFIXES)} file") from None


def resolve_images(patients: Sequence[str], images: Mapping[str, Path], images_dir: Path,
                   tables: Mapping[str, pd.DataFrame], verify_images: bool) -> dict[str, tuple[int, int]]:
    """Check every patient has a readable image; return their (width, height)."""
    for name, df in tables.items():
        missing = ~df["patient_id"].isin(images.keys())
        if missing.any():
            pid = df.loc[missing, "patient_id"].iloc[0]
            n = df.loc[missing, "patient_id"].nunique()
            raise MissingDatasetFileError(
                f"{line_of(name, df, missing)}: no image for patient {pid!r} in {images_dir} "
                f"(expected {pid}.png or {pid}.jpeg; {n} patient(s) without an image)")
    unlisted = [p for p in patients if p not in images]
    if unlisted:
        raise MissingDatasetFileError(f"{images_dir}: no image for patient {unlisted[0]!r} "
                                      f"({len(unlisted)} patient(s) without an image)")
    sizes = {}
    for pid in patients:
        sizes[pid] = read_image_size(images[pid])
        if verify_images:
            image = read_image(images[pid])
            if (image.shape[1], image.shape[0]) != sizes[pid]:  # pragma: no cover - PIL and cv2 disagree
                raise DatasetError(f"{images[pid]}: header says {sizes[pid]}, pixels are {image.shape[::-1]}")
    return sizes


# ---------------------------------------------------------------------------- reading the book's layout


def load_dataset(root: Path | str, *, verify_images: bool = False) -> Dataset:
    """Read a data set in the book's layout (module docstring) and validate it.

    Always checked: folder and CSVs exist with their columns and rows, hands/joints/kinds are known,
    scores are whole numbers in range (erosion 0-5, JSN 0-4) at sites where they apply, keys are
    unique, every patient has an image whose header is readable, and boxes lie inside their image.
    `verify_images=True` also decodes every image (slower; catches truncated files up front --
    otherwise `Dataset.image` raises a `DatasetError` naming the file when it meets one).
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingDatasetFileError(f"{root}: no such data set folder (write one with "
                                      f"rheumabook.data.write_phantom_dataset or point data_root at the real data)")
    info = _read_info(root / "dataset.json")
    boxes_path, scores_path, truth_path = root / "boxes.csv", root / "scores.csv", root / "truth.csv"
    boxes = parse_boxes(read_table(boxes_path, BOXES_COLUMNS, "the joint boxes"), str(boxes_path))
    scores = parse_scores(read_table(scores_path, SCORES_COLUMNS, "the expert scores"), str(scores_path))
    truth = None
    if truth_path.is_file():
        raw_truth = read_table(truth_path, TRUTH_COLUMNS, "the true scores")
        truth = parse_truth(raw_truth, str(truth_path))
    elif info.get("kind") == "phantom":
        raise MissingDatasetFileError(f"{truth_path}: missing; a phantom data set records its true scores")

    patient_info = _read_patient_info(root / "patients.csv")
    tables = {str(boxes_path): boxes, str(scores_path): scores}
    if truth is not None:
        tables[str(truth_path)] = raw_truth
    patients = _patient_order(patient_info, tables.values())
    if patient_info is not None:
        _check_listed(patient_info, root / "patients.csv", tables)
    images = index_images(root / "images")
    sizes = resolve_images(patients, images, root / "images", tables, verify_images)
    check_boxes_inside(boxes, sizes, str(boxes_path))
    if patient_info is None:
        patient_info = default_patient_info(patients, images, sizes)
    else:
        _check_listed_sizes(patient_info, sizes, root / "patients.csv")
    return Dataset(boxes=sort_rows(boxes)[list(BOXES_COLUMNS)], scores=finish_scores(scores, str(scores_path)),
                   truth=truth, patient_info=patient_info, info=info,
                   image_paths={p: images[p] for p in patients}, root=root)


def _read_info(info_path: Path) -> dict[str, Any]:
    """dataset.json as a dict (kind "real" when absent or unset); checks it is this layout version."""
    info: dict[str, Any] = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{info_path}: not valid JSON ({exc})") from None
        if not isinstance(info, dict):
            raise DatasetError(f"{info_path}: must hold a JSON object")
        version = info.get("layout_version", LAYOUT_VERSION)
        if version != LAYOUT_VERSION:
            raise DatasetError(f"{info_path}: layout version {version}, this rheumabook reads version "
                               f"{LAYOUT_VERSION}; rewrite the data set with this version")
    info.setdefault("kind", "real")
    return info


def _read_patient_info(path: Path) -> Optional[pd.DataFrame]:
    """patients.csv (optional for real data) with typed width/height/spacing; None when absent."""
    if not path.is_file():
        return None
    df = read_table(path, ("patient_id",), "the list of radiographs")
    check_ids(df, str(path))
    check_unique(df, ["patient_id"], str(path), "patient")
    out = df.drop(columns=[LINE])
    for col in ("width", "height"):
        if col in out:
            out[col] = parse_number(df, col, str(path), integer=True, allow_empty=False).astype("int64")
    for col in out.columns:
        if col not in ("patient_id", "image", "width", "height", "dtype"):
            # the phantom's settings: numbers where they are numbers, text otherwise
            numeric = pd.to_numeric(out[col].where(out[col] != "", None), errors="coerce")
            if numeric.notna().sum() == (out[col] != "").sum():
                out[col] = numeric
            elif out[col].isin(["True", "False", ""]).all():  # flags, empty where not applicable
                out[col] = pd.array(out[col].map({"True": True, "False": False, "": None}), dtype="boolean")
    return out.reset_index(drop=True)


def _patient_order(patient_info: Optional[pd.DataFrame], tables: Iterable[pd.DataFrame]) -> list[str]:
    """Patients: those of patients.csv in its order, else every id in the tables, naturally sorted."""
    if patient_info is not None:
        return list(patient_info["patient_id"])
    ids: set[str] = set()
    for df in tables:
        ids.update(df["patient_id"])
    return natural_order(ids)


def default_patient_info(patients: Sequence[str], images: Mapping[str, Path],
                         sizes: Mapping[str, tuple[int, int]]) -> pd.DataFrame:
    """patients table for a data set without patients.csv: image file name and size."""
    return pd.DataFrame({"patient_id": list(patients), "image": [images[p].name for p in patients],
                         "width": [sizes[p][0] for p in patients], "height": [sizes[p][1] for p in patients]})


def _check_listed(info: pd.DataFrame, path: Path, tables: Mapping[str, pd.DataFrame]) -> None:
    """Every patient in the tables is listed in patients.csv."""
    listed = set(info["patient_id"])
    for name, df in tables.items():
        unlisted = ~df["patient_id"].isin(listed)
        if unlisted.any():
            raise DatasetError(f"{line_of(name, df, unlisted)}: patient {df.loc[unlisted, 'patient_id'].iloc[0]!r} "
                               f"is not listed in {path}")


def _check_listed_sizes(info: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], path: Path) -> None:
    """Image sizes listed in patients.csv match the images."""
    if "width" in info and "height" in info:
        for pid, w, h in zip(info["patient_id"], info["width"], info["height"]):
            if sizes[pid] != (w, h):
                raise DatasetError(f"{path}: patient {pid} is listed as {w}x{h}, its image is "
                                   f"{sizes[pid][0]}x{sizes[pid][1]}")

