"""Data sets on disk: the book's layout, the phantom data set, and the public release (paper §3.1).

The book's layout (one folder; written by `write_phantom_dataset`, read by `load_dataset`)::

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

`load_public_release` / `convert_public_release` read the long CSVs of the public release of the
clinic's annotations (AIRI / V.A. Nasonova Research Institute, "AIRINIIReumHands", paper §3.1
footnote 1); `chapter_dataset` is what chapters 1-4 call to get their data.

Every reader validates: a bad file raises `DatasetError` naming the file, the line and what to fix.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, SITE_BY_NAME, applies, sites_for

LAYOUT_VERSION = 1
"""Version of the on-disk layout above; bump it when the layout changes (cached phantoms are rewritten)."""

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpeg", ".jpg", ".tif", ".tiff", ".bmp")
"""Image files a data set may hold; the book writes PNG (lossless, keeps uint16)."""

BOX_COLUMNS: tuple[str, ...] = ("x_min", "y_min", "x_max", "y_max")
BOXES_COLUMNS: tuple[str, ...] = ("patient_id", "hand", "joint", *BOX_COLUMNS)
SCORES_COLUMNS: tuple[str, ...] = ("patient_id", "hand", "joint", "expert_id", "kind", "score")
TRUTH_COLUMNS: tuple[str, ...] = ("patient_id", "hand", "joint", "erosion", "jsn")

ARTIFACTS_ENV = "RHEUMABOOK_ARTIFACTS"
"""Environment variable that moves the artifact cache (default: `artifacts/` in the repository root)."""

PNG_COMPRESSION = 3  # zlib level: lossless either way; 3 is ~3x faster to write than 9 and ~10 % larger


class DatasetError(ValueError):
    """A data set on disk (or a table given in memory) breaks the book's data contract."""


class MissingDatasetFileError(DatasetError, FileNotFoundError):
    """A file or folder the data set needs is missing."""


# --------------------------------------------------------------------------------------------
# The in-memory data set
# --------------------------------------------------------------------------------------------


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
        where = f" at {self.root}" if self.root else ""
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


def read_image(path: Path | str) -> np.ndarray:
    """Read a radiograph file as a 2-D uint8/uint16 array (cv2 IMREAD_UNCHANGED; colour -> gray).

    Raises `DatasetError` naming the file when it cannot be decoded.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise MissingDatasetFileError(f"{path}: image file is missing")
    # np.fromfile + imdecode instead of cv2.imread: works with non-ASCII paths too.
    buf = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if image is None:
        raise DatasetError(f"{path}: cannot decode the image (corrupt, truncated or not an image file); "
                           f"replace it with a readable {', '.join(IMAGE_SUFFIXES)} file")
    if image.ndim == 3:  # a colour JPEG of a radiograph: the channels are equal, keep one gray plane
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"{path}: image dtype {image.dtype} is not uint8 or uint16")
    return image


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a 2-D uint8/uint16 image losslessly as PNG (same image -> same bytes)."""
    import cv2

    image = np.asarray(image)
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a radiograph must be a 2-D uint8 or uint16 array, got shape {image.shape} dtype {image.dtype}")
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - cv2 encodes any 2-D uint8/uint16 array
        raise OSError(f"cv2 could not encode {path.name} as PNG")
    Path(path).write_bytes(buf.tobytes())


# --------------------------------------------------------------------------------------------
# Validation of tables (shared by the book's layout and the public-release adapter)
# --------------------------------------------------------------------------------------------

_LINE = "_line"  # column holding the source line of a row (header = line 1), for error messages


def _where(source: str, df: pd.DataFrame, mask: pd.Series) -> str:
    """'file line N' of the first row where `mask` holds, plus how many more rows are affected."""
    bad = df[mask]
    first = bad.iloc[0]
    more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
    return f"{source} line {first[_LINE]}{more}"


def _read_table(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV as strings, with a `_line` column; errors for a missing file, columns or rows."""
    if not path.is_file():
        raise MissingDatasetFileError(f"{path}: missing; a data set needs {what} here")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty; it must start with the header "
                           f"{','.join(required)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}; "
                           f"{what} needs {', '.join(required)}")
    if df.empty:
        raise DatasetError(f"{path}: the table has a header but no rows; {what} must not be empty")
    df = df.apply(lambda col: col.str.strip())
    df[_LINE] = np.arange(2, len(df) + 2)
    return df


def _check_ids(df: pd.DataFrame, source: str) -> None:
    """Non-empty patient ids."""
    empty = df["patient_id"] == ""
    if empty.any():
        raise DatasetError(f"{_where(source, df, empty)}: empty patient_id")


def _check_names(df: pd.DataFrame, source: str) -> None:
    """Hand and joint names are the book's (`joints.HANDS`, `joints.JOINTS`)."""
    bad = ~df["hand"].isin(HANDS)
    if bad.any():
        raise DatasetError(f"{_where(source, df, bad)}: unknown hand {df.loc[bad, 'hand'].iloc[0]!r}; "
                           f"expected 'left' or 'right' (the patient's hands)")
    bad = ~df["joint"].isin(JOINTS)
    if bad.any():
        raise DatasetError(f"{_where(source, df, bad)}: unknown joint {df.loc[bad, 'joint'].iloc[0]!r}; "
                           f"expected one of {', '.join(JOINTS)}")


def _parse_number(df: pd.DataFrame, col: str, source: str, *, integer: bool, allow_empty: bool) -> pd.Series:
    """A column of strings -> float64 (NaN for empty), with errors naming the row."""
    text = df[col].astype(str)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    empty = text == ""
    if not allow_empty and empty.any():
        raise DatasetError(f"{_where(source, df, empty)}: empty {col}")
    bad = values.isna() & ~empty
    if bad.any():
        raise DatasetError(f"{_where(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not a number")
    bad = ~np.isfinite(values) & ~empty
    if bad.any():
        raise DatasetError(f"{_where(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not finite")
    if integer:
        bad = (values != np.round(values)) & ~empty
        if bad.any():
            raise DatasetError(f"{_where(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not a whole number")
    return values


def _check_score_values(df: pd.DataFrame, kind: pd.Series, values: pd.Series, source: str, col: str) -> None:
    """Scores in range for their kind (erosion 0-5, JSN 0-4) and only at sites where the kind applies."""
    present = values.notna()
    for k in SCORE_KINDS:
        is_k = (kind == k) & present
        out = is_k & ((values < 0) | (values > MAX_SCORE[k]))
        if out.any():
            raise DatasetError(f"{_where(source, df, out)}: {k} {col} {values[out].iloc[0]:g} out of range; "
                               f"{k} scores are 0-{MAX_SCORE[k]}")
        na_site = is_k & ~df["joint"].map(lambda j, k=k: applies(j, k))
        if na_site.any():
            joint = df.loc[na_site, "joint"].iloc[0]
            raise DatasetError(f"{_where(source, df, na_site)}: {k} {col} at {joint}, where no {k} score applies "
                               f"(paper §3.1); leave it out (a score that does not apply is missing, never 0)")


def _check_unique(df: pd.DataFrame, keys: Sequence[str], source: str, what: str) -> None:
    """No two rows with the same key."""
    dup = df.duplicated(list(keys), keep="first")
    if dup.any():
        row = df[dup].iloc[0]
        first = df[(df[list(keys)] == row[list(keys)]).all(axis=1)].iloc[0]
        raise DatasetError(f"{_where(source, df, dup)}: duplicate {what} "
                           f"({', '.join(f'{k}={row[k]}' for k in keys)}), first seen on line {first[_LINE]}")


def _natural_key(pid: str) -> tuple:
    """Sort key for patient/expert ids: numbers numerically ("2" < "10"), other ids as text."""
    return (0, int(pid), "") if pid.isdigit() else (1, 0, pid)


def _rank(values: pd.Series) -> pd.Series:
    """Position of each id in natural order (for sorting)."""
    text = values.astype(str)
    order = {v: i for i, v in enumerate(sorted(set(text), key=_natural_key))}
    return text.map(order)


def _sort(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Canonical order: patient (natural), hand (`HANDS`), joint (`JOINTS`), then `extra` columns (kind, expert)."""
    keys = {
        "__patient": _rank(df["patient_id"]),
        "__hand": df["hand"].map({h: i for i, h in enumerate(HANDS)}),
        "__joint": df["joint"].map({j: i for i, j in enumerate(JOINTS)}),
    }
    for col in extra:
        keys[f"__{col}"] = (df[col].map({k: i for i, k in enumerate(SCORE_KINDS)}) if col == "kind"
                            else _rank(df[col]))
    out = df.assign(**keys).sort_values(list(keys), kind="stable")
    return out.drop(columns=list(keys)).reset_index(drop=True)


def _expert_ids(values: pd.Series) -> pd.Series:
    """Expert ids as int64 when they are all whole numbers (as in the release), else as strings."""
    text = values.astype(str)
    if text.str.fullmatch(r"-?\d+").all():
        return text.astype("int64")
    return text


def _parse_boxes(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a boxes table of strings (+ `_line`) -> typed, with `_line` kept."""
    _check_ids(df, source)
    _check_names(df, source)
    out = df[["patient_id", "hand", "joint", _LINE]].copy()
    for col in BOX_COLUMNS:
        out[col] = _parse_number(df, col, source, integer=False, allow_empty=False)
    bad = (out["x_max"] <= out["x_min"]) | (out["y_max"] <= out["y_min"])
    if bad.any():
        raise DatasetError(f"{_where(source, out, bad)}: empty box (need x_min < x_max and y_min < y_max; "
                           f"boxes are (x_min, y_min, x_max, y_max) in pixels)")
    _check_unique(out, ["patient_id", "hand", "joint"], source, "box")
    return out[[*BOXES_COLUMNS, _LINE]]


def _parse_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a long scores table of strings (+ `_line`) -> typed (score float), `_line` kept. Keys not checked."""
    _check_ids(df, source)
    _check_names(df, source)
    bad = ~df["kind"].isin(SCORE_KINDS)
    if bad.any():
        raise DatasetError(f"{_where(source, df, bad)}: unknown kind {df.loc[bad, 'kind'].iloc[0]!r}; "
                           f"expected 'erosion' or 'jsn'")
    empty = df["expert_id"] == ""
    if empty.any():
        raise DatasetError(f"{_where(source, df, empty)}: empty expert_id")
    values = _parse_number(df, "score", source, integer=True, allow_empty=False)
    _check_score_values(df, df["kind"], values, source, "score")
    out = df[["patient_id", "hand", "joint", "expert_id", "kind", _LINE]].copy()
    out["score"] = values
    return out


def _finish_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Unique keys, typed columns, canonical order; drops `_line`."""
    _check_unique(df, ["patient_id", "hand", "joint", "expert_id", "kind"], source, "score")
    out = df.copy()
    out["expert_id"] = _expert_ids(out["expert_id"])
    out["score"] = out["score"].round().astype("Int64")
    out = _sort(out, extra=("kind", "expert_id"))
    return out[list(SCORES_COLUMNS)]


def _parse_truth(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a truth table of strings: complete, in range, missing exactly where a score does not apply."""
    _check_ids(df, source)
    _check_names(df, source)
    _check_unique(df, ["patient_id", "hand", "joint"], source, "truth row")
    out = df[["patient_id", "hand", "joint"]].copy()
    for kind in SCORE_KINDS:
        values = _parse_number(df, kind, source, integer=True, allow_empty=True)
        _check_score_values(df, pd.Series(kind, index=df.index), values, source, "score")
        missing = values.isna() & df["joint"].map(lambda j, k=kind: applies(j, k))
        if missing.any():
            raise DatasetError(f"{_where(source, df, missing)}: missing true {kind} at "
                               f"{df.loc[missing, 'joint'].iloc[0]}, where it applies")
        out[kind] = values.round().astype("Int64")
    return _sort(out)[list(TRUTH_COLUMNS)]


def _check_boxes_inside(boxes: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], source: str) -> None:
    """Every box lies inside its image (0 <= x <= width, 0 <= y <= height)."""
    w = boxes["patient_id"].map(lambda p: sizes[p][0])
    h = boxes["patient_id"].map(lambda p: sizes[p][1])
    bad = (boxes["x_min"] < 0) | (boxes["y_min"] < 0) | (boxes["x_max"] > w) | (boxes["y_max"] > h)
    if bad.any():
        row = boxes[bad].iloc[0]
        pid = row["patient_id"]
        raise DatasetError(f"{_where(source, boxes, bad)}: box ({row['x_min']:g}, {row['y_min']:g}, {row['x_max']:g}, "
                           f"{row['y_max']:g}) of {pid} {row['hand']} {row['joint']} lies outside its "
                           f"{sizes[pid][0]}x{sizes[pid][1]} image")


# --------------------------------------------------------------------------------------------
# Images folder
# --------------------------------------------------------------------------------------------


def _index_images(images_dir: Path) -> dict[str, Path]:
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


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file from its header only; `DatasetError` if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable image ({type(exc).__name__}: {exc}); "
                           f"replace it with a valid {', '.join(IMAGE_SUFFIXES)} file") from None


def _resolve_images(patients: Sequence[str], images: Mapping[str, Path], images_dir: Path,
                    tables: Mapping[str, pd.DataFrame], verify_images: bool) -> dict[str, tuple[int, int]]:
    """Check every patient has a readable image; return their (width, height)."""
    for name, df in tables.items():
        missing = ~df["patient_id"].isin(images.keys())
        if missing.any():
            pid = df.loc[missing, "patient_id"].iloc[0]
            n = df.loc[missing, "patient_id"].nunique()
            raise MissingDatasetFileError(
                f"{_where(name, df, missing)}: no image for patient {pid!r} in {images_dir} "
                f"(expected {pid}.png or {pid}.jpeg; {n} patient(s) without an image)")
    unlisted = [p for p in patients if p not in images]
    if unlisted:
        raise MissingDatasetFileError(f"{images_dir}: no image for patient {unlisted[0]!r} "
                                      f"({len(unlisted)} patient(s) without an image)")
    sizes = {}
    for pid in patients:
        sizes[pid] = _image_size(images[pid])
        if verify_images:
            image = read_image(images[pid])
            if (image.shape[1], image.shape[0]) != sizes[pid]:  # pragma: no cover - PIL and cv2 disagree
                raise DatasetError(f"{images[pid]}: header says {sizes[pid]}, pixels are {image.shape[::-1]}")
    return sizes


# --------------------------------------------------------------------------------------------
# Reading the book's layout
# --------------------------------------------------------------------------------------------


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
    info: dict[str, Any] = {}
    info_path = root / "dataset.json"
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

    boxes_path, scores_path, truth_path = root / "boxes.csv", root / "scores.csv", root / "truth.csv"
    boxes = _parse_boxes(_read_table(boxes_path, BOXES_COLUMNS, "the joint boxes"), str(boxes_path))
    scores = _parse_scores(_read_table(scores_path, SCORES_COLUMNS, "the expert scores"), str(scores_path))
    truth = None
    if truth_path.is_file():
        raw_truth = _read_table(truth_path, TRUTH_COLUMNS, "the true scores")
        truth = _parse_truth(raw_truth, str(truth_path))
    elif info.get("kind") == "phantom":
        raise MissingDatasetFileError(f"{truth_path}: missing; a phantom data set records its true scores")

    patient_info = _read_patient_info(root / "patients.csv")
    tables = {str(boxes_path): boxes, str(scores_path): scores}
    if truth is not None:
        tables[str(truth_path)] = raw_truth
    patients = _patient_order(patient_info, tables.values())
    if patient_info is not None:
        _check_listed(patient_info, root / "patients.csv", tables)
    images = _index_images(root / "images")
    sizes = _resolve_images(patients, images, root / "images", tables, verify_images)
    _check_boxes_inside(boxes, sizes, str(boxes_path))
    if patient_info is None:
        patient_info = _default_patient_info(patients, images, sizes)
    else:
        _check_listed_sizes(patient_info, sizes, root / "patients.csv")
    return Dataset(boxes=_sort(boxes)[list(BOXES_COLUMNS)], scores=_finish_scores(scores, str(scores_path)),
                   truth=truth, patient_info=patient_info, info=info,
                   image_paths={p: images[p] for p in patients}, root=root)


def _read_patient_info(path: Path) -> Optional[pd.DataFrame]:
    """patients.csv (optional for real data) with typed width/height/spacing; None when absent."""
    if not path.is_file():
        return None
    df = _read_table(path, ("patient_id",), "the list of radiographs")
    _check_ids(df, str(path))
    _check_unique(df, ["patient_id"], str(path), "patient")
    out = df.drop(columns=[_LINE])
    for col in ("width", "height"):
        if col in out:
            out[col] = _parse_number(df, col, str(path), integer=True, allow_empty=False).astype("int64")
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
    return sorted(ids, key=_natural_key)


def _default_patient_info(patients: Sequence[str], images: Mapping[str, Path],
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
            raise DatasetError(f"{_where(name, df, unlisted)}: patient {df.loc[unlisted, 'patient_id'].iloc[0]!r} "
                               f"is not listed in {path}")


def _check_listed_sizes(info: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], path: Path) -> None:
    """Image sizes listed in patients.csv match the images."""
    if "width" in info and "height" in info:
        for pid, w, h in zip(info["patient_id"], info["width"], info["height"]):
            if sizes[pid] != (w, h):
                raise DatasetError(f"{path}: patient {pid} is listed as {w}x{h}, its image is "
                                   f"{sizes[pid][0]}x{sizes[pid][1]}")


# --------------------------------------------------------------------------------------------
# Writing the phantom data set
# --------------------------------------------------------------------------------------------


def patient_ids(n_patients: int) -> list[str]:
    """Ids of a phantom data set: "P0000", "P0001", ... (zero-padded so text order = number order)."""
    width = max(4, len(str(n_patients - 1)))
    return [f"P{i:0{width}d}" for i in range(n_patients)]


def phantom_streams(seed: int, n_patients: int) -> tuple[list[int], np.random.Generator]:
    """The random streams of a phantom data set: one render seed per patient, and the raters' Generator.

    Both derive from `seed` via `np.random.SeedSequence`: patient i's seed does not depend on
    `n_patients`, so a smaller data set is a prefix of a larger one (same images, same truth).
    """
    images_seq, raters_seq = np.random.SeedSequence(seed).spawn(2)
    seeds = [int(s.generate_state(1, dtype=np.uint32)[0]) for s in images_seq.spawn(n_patients)]
    return seeds, np.random.default_rng(raters_seq)


def _generator_fingerprint() -> str:
    """Short hash of the code that generates the phantom data set: a cache made by other code is stale."""
    from . import disease, phantom, raters

    digest = hashlib.sha256()
    for module in (phantom, disease, raters):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A CSV/JSON-friendly scalar (numpy -> Python; lists/dicts -> JSON text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (type, np.dtype)):  # e.g. dtype=np.uint16 passed to the phantom
        try:
            return np.dtype(value).name
        except TypeError:
            return getattr(value, "__name__", str(value))
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(np.asarray(value).tolist() if isinstance(value, np.ndarray) else value,
                          default=lambda v: v.item() if isinstance(v, np.generic) else str(v))
    return value


_META_SKIP = ("joints", "seed", "size")
"""Keys of `Radiograph.meta` not copied to patients.csv: per-joint geometry (re-render to get it) and duplicates."""


def _flatten(meta: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten the phantom's nested meta dict into dotted keys with plain values (patients.csv columns)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if not prefix and key in _META_SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = _plain(value)
    return out


def _check_radiograph(rad: Any, pid: str) -> None:
    """The phantom honours its contract (2-D uint8/uint16 image, 42 boxes and truth rows)."""
    image = getattr(rad, "image", None)
    if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"phantom.render gave patient {pid} an image that is not a 2-D uint8/uint16 array")
    for name in ("boxes", "truth"):
        table = getattr(rad, name)
        if len(table) != len(HANDS) * len(JOINTS):
            raise ValueError(f"phantom.render gave patient {pid} {len(table)} {name} rows, expected "
                             f"{len(HANDS) * len(JOINTS)} (21 joints x 2 hands)")


def _check_target(root: Path, overwrite: bool) -> None:
    """Refuse to replace an existing non-empty folder (or a file) unless `overwrite`."""
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another path")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to replace it, "
                              f"or choose another folder")


def _make_temp_dir(root: Path) -> Path:
    """A hidden temp folder next to `root` (same file system, so the final rename is atomic)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private (0700); the data set should not be
    return tmp


def _move_into_place(tmp: Path, root: Path, overwrite: bool) -> None:
    """Rename the finished temp folder to `root` (the old one, if replaced, is removed afterwards)."""
    old = None
    if root.is_dir():
        if any(root.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{root} appeared while the data set was written; not replacing it")
            old = root.with_name(f".{root.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            root.rename(old)
        else:
            root.rmdir()
    try:
        tmp.rename(root)  # atomic on one file system: readers see nothing or everything
    except OSError as exc:
        if old is not None:
            old.rename(root)
        raise FileExistsError(f"could not move the new data set to {root}: {exc}") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_phantom_dataset(root: Path | str, n_patients: int, seed: int, *, size: Optional[int] = None,
                          overwrite: bool = False, progress: bool = True, **render_options: Any) -> Path:
    """Render a phantom data set and write it in the book's layout (paper §3.1, on synthetic data).

    For each of `n_patients` patients ("P0000", ...) renders one bilateral radiograph with
    `rheumabook.phantom.render(patient_seed, size=size, **render_options)` (patient seeds from
    `phantom_streams(seed, n_patients)`), then simulates three radiologists' scores of all joints
    with `rheumabook.raters.simulate_scores(truth, rng)`. `size=None` uses the phantom's default.

    Writes images as lossless PNG (uint16 stays uint16), boxes.csv, scores.csv, truth.csv,
    patients.csv and dataset.json (layout: module docstring). Everything is written into a hidden
    temp folder next to `root` and renamed at the end, so an interrupted run leaves no `root`.
    The same arguments give byte-identical files. Returns `root`.
    """
    from tqdm.auto import tqdm

    from . import __version__, phantom, raters

    root = Path(root)
    if int(n_patients) != n_patients or n_patients < 1:
        raise ValueError(f"n_patients must be a positive whole number, got {n_patients!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    n_patients, seed = int(n_patients), int(seed)
    _check_target(root, overwrite)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_temp_dir(root)
    try:
        (tmp / "images").mkdir()
        seeds, raters_rng = phantom_streams(seed, n_patients)
        kwargs = dict(render_options)
        if size is not None:
            kwargs["size"] = int(size)
        boxes, truth, rows = [], [], []
        ids = patient_ids(n_patients)
        for pid, patient_seed in zip(tqdm(ids, desc="rendering phantom radiographs", disable=not progress), seeds):
            rad = phantom.render(patient_seed, **kwargs)
            _check_radiograph(rad, pid)
            write_png(tmp / "images" / f"{pid}.png", rad.image)
            boxes.append(rad.boxes.assign(patient_id=pid))
            truth.append(rad.truth.assign(patient_id=pid))
            height, width = rad.image.shape
            fixed = {"patient_id": pid, "image": f"{pid}.png", "width": width, "height": height,
                     "dtype": str(rad.image.dtype), "pixel_spacing_mm": float(rad.pixel_spacing_mm),
                     "render_seed": patient_seed}
            meta = {k if k not in fixed else f"meta.{k}": v for k, v in _flatten(getattr(rad, "meta", {})).items()}
            rows.append({**fixed, **meta})

        truth_df = _sort(pd.concat(truth, ignore_index=True))[list(TRUTH_COLUMNS)]
        truth_df = truth_df.astype({"erosion": "Int64", "jsn": "Int64"})
        scores_df = raters.simulate_scores(truth_df.copy(), raters_rng)
        scores_df = scores_df[scores_df["score"].notna()]  # a score not given is an absent row
        scores_df = _sort(scores_df.reset_index(drop=True), extra=("kind", "expert_id"))[list(SCORES_COLUMNS)]
        scores_df = scores_df.astype({"score": "Int64"})
        boxes_df = _sort(pd.concat(boxes, ignore_index=True))[list(BOXES_COLUMNS)]
        boxes_df = boxes_df.astype({c: "float64" for c in BOX_COLUMNS})
        patients_df = pd.DataFrame(rows)

        csv = dict(index=False, lineterminator="\n")
        boxes_df.to_csv(tmp / "boxes.csv", **csv)
        scores_df.to_csv(tmp / "scores.csv", **csv)
        truth_df.to_csv(tmp / "truth.csv", **csv)
        patients_df.to_csv(tmp / "patients.csv", **csv)

        spacings = sorted(set(patients_df["pixel_spacing_mm"]))
        shapes = sorted(set(zip(patients_df["height"], patients_df["width"])))
        info = {
            "name": "RheumaBook phantom",
            "kind": "phantom",
            "description": ("Synthetic bilateral hand radiographs rendered by rheumabook.phantom, with known joint "
                            "boxes and true Sharp/van der Heijde erosion (0-5) and JSN (0-4) scores, scored by "
                            "three simulated radiologists (rheumabook.raters). Not patient data."),
            "layout_version": LAYOUT_VERSION,
            "rheumabook_version": __version__,
            "generator_fingerprint": _generator_fingerprint(),
            "seed": seed,
            "n_patients": n_patients,
            "size": None if size is None else int(size),
            "render_options": {k: _plain(v) for k, v in render_options.items()},
            "image_shape": list(shapes[0]) if len(shapes) == 1 else None,
            "dtype": sorted(set(patients_df["dtype"])),
            "pixel_spacing_mm": spacings[0] if len(spacings) == 1 else None,
            "pixel_spacing_mm_range": [min(spacings), max(spacings)],
            "n_experts": int(scores_df["expert_id"].nunique()),
            "hands": "the patient's hands; on the PA radiograph the patient's right hand is on the image's left",
            "box_format": "x_min, y_min, x_max, y_max in pixels of the patient's image",
        }
        # dataset.json last: a folder with it was written to the end
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _move_into_place(tmp, root, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


# --------------------------------------------------------------------------------------------
# The public release of the clinic's annotations (AIRINIIReumHands)
# --------------------------------------------------------------------------------------------

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
        raise DatasetError(f"{_where(source, df, bad)}: unknown hand {df.loc[bad, 'hand'].iloc[0]!r}; "
                           f"expected one of {', '.join(sorted(RELEASE_HANDS))} (add it to data.RELEASE_HANDS)")
    if hand_convention == "image":
        hands = hands.map({"left": "right", "right": "left"})
    out["hand"] = hands

    joints, parts = [], []
    for joint, finger, line in zip(df["joint"], df["finger"], df[_LINE]):
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
            raise DatasetError(f"{_where(source, df, bad)}: unknown disease {df.loc[bad, 'disease'].iloc[0]!r}; "
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
    raw = _read_table(scores_csv, RELEASE_SCORE_COLUMNS, "the release's expert scores")
    raw["patient_id"] = _release_patient_ids(raw["patient_id"])
    empty = raw["score"] == ""
    n_empty = int(empty.sum())
    raw = raw[~empty]
    if raw.empty:
        raise DatasetError(f"{scores_csv}: every score is empty")
    mapped = map_release_names(raw, str(scores_csv), hand_convention=hand_convention)
    scores = _parse_scores(mapped, str(scores_csv))
    scores["wrist_part"] = mapped["wrist_part"].to_numpy()
    scores = _fold_wrist_parts(scores, str(scores_csv))

    raw_boxes = _read_table(boxes_csv, RELEASE_BOX_COLUMNS, "the release's joint boxes")
    raw_boxes["patient_id"] = _release_patient_ids(raw_boxes["patient_id"])
    mapped_boxes = map_release_names(raw_boxes, str(boxes_csv), hand_convention=hand_convention)
    part = mapped_boxes["wrist_part"]
    if part.any():
        raise DatasetError(f"{_where(str(boxes_csv), mapped_boxes, part)}: a box for the wrist part "
                           f"{raw_boxes.loc[part, 'joint'].iloc[0]!r}; the book has one 'wrist' box per hand")
    numbers = {c: _parse_number(raw_boxes, c, str(boxes_csv), integer=False, allow_empty=False)
               for c in ("xcenter", "ycenter", "dx", "dy")}
    corners = release_boxes_to_corners(numbers["xcenter"], numbers["ycenter"], numbers["dx"], numbers["dy"])
    converted = mapped_boxes[["patient_id", "hand", "joint", _LINE]].copy()
    for i, col in enumerate(BOX_COLUMNS):
        converted[col] = corners[:, i]
    boxes = _parse_boxes(converted, str(boxes_csv))

    images = _index_images(images_dir)
    tables = {str(boxes_csv): boxes, str(scores_csv): scores}
    patients = sorted(set(boxes["patient_id"]) | set(scores["patient_id"]), key=_natural_key)
    sizes = _resolve_images(patients, images, images_dir, tables, verify_images)
    boxes, n_clipped = _clip_boxes(boxes, sizes) if clip_boxes else (boxes, 0)
    if n_clipped:
        warnings.warn(f"{boxes_csv}: {n_clipped} box(es) reached outside their image and were clipped to it",
                      stacklevel=2)
    _check_boxes_inside(boxes, sizes, str(boxes_csv))
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
    return Dataset(boxes=_sort(boxes)[list(BOXES_COLUMNS)], scores=_finish_scores(scores, str(scores_csv)),
                   truth=None, patient_info=_default_patient_info(patients, images, sizes), info=info,
                   image_paths={p: images[p] for p in patients}, root=None)


def _fold_wrist_parts(scores: pd.DataFrame, source: str) -> pd.DataFrame:
    """Wrist-part rows -> one "wrist" row per (patient, hand, expert, kind) with the maximum score (§3.1)."""
    parts = scores[scores["wrist_part"]]
    rest = scores[~scores["wrist_part"]]
    if parts.empty:
        return rest.drop(columns="wrist_part")
    keys = ["patient_id", "hand", "joint", "expert_id", "kind"]
    clash = parts.set_index(keys).index.isin(rest.set_index(keys).index)
    if clash.any():
        raise DatasetError(f"{_where(source, parts, pd.Series(clash, index=parts.index))}: a wrist part and a "
                           f"'wrist' score for the same patient, hand, expert and kind; keep one of them")
    folded = parts.groupby(keys, as_index=False, sort=False).agg(score=("score", "max"), _line=(_LINE, "min"))
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

    Same reading as `load_public_release`; written atomically like `write_phantom_dataset`.
    """
    from tqdm.auto import tqdm

    ds = load_public_release(scores_csv, boxes_csv, images_dir, hand_convention=hand_convention)
    out_root = Path(out_root)
    _check_target(out_root, overwrite)
    out_root.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_temp_dir(out_root)
    try:
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
        _move_into_place(tmp, out_root, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_root


def _csv_header(path: Path) -> set[str]:
    """Column names of a CSV file (empty set if it is missing or unreadable)."""
    if not path.is_file():
        return set()
    try:
        return {str(c).strip() for c in pd.read_csv(path, nrows=0).columns}
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return set()


def find_public_release(root: Path | str) -> Optional[tuple[Path, Path, Path]]:
    """(scores_csv, boxes_csv, images_dir) if `root` holds the release's files (searched 2 levels deep), else None.

    CSVs are recognised by their header; the images folder is the one holding the most image files.
    """
    root = Path(root)
    csvs = sorted(p for pattern in ("*.csv", "*/*.csv", "*/*/*.csv") for p in root.glob(pattern))
    scores = boxes = None
    for path in csvs:
        header = _csv_header(path)
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


# --------------------------------------------------------------------------------------------
# What the chapters call
# --------------------------------------------------------------------------------------------


def find_repo_root(start: Path | str | None = None) -> Optional[Path]:
    """The RheumaBook repository containing `start` (default: the working directory), or None.

    Walks up until a folder holds both `_toc.yml` and `rheumabook/`, so a notebook running in
    `book/` finds the repository root. Used for the artifact cache.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "rheumabook").is_dir():
            return folder
    return None


def artifacts_dir() -> Path:
    """Where chapters cache what they make: $RHEUMABOOK_ARTIFACTS, else `<repo>/artifacts`, else `./artifacts`."""
    env = os.environ.get(ARTIFACTS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    repo = find_repo_root()
    return (repo if repo is not None else Path.cwd()) / "artifacts"


def phantom_dir(profile_name: str, seed: int) -> Path:
    """Cache folder of a profile's phantom data set: `<artifacts>/phantom/<profile>-seed<seed>`."""
    return artifacts_dir() / "phantom" / f"{profile_name}-seed{seed}"


def _cache_matches(ds: Dataset, n_patients: int, seed: int, size: int) -> Optional[str]:
    """None if a cached phantom is what the profile asks for, else why not."""
    want = {"kind": "phantom", "n_patients": n_patients, "seed": seed, "size": size,
            "layout_version": LAYOUT_VERSION, "generator_fingerprint": _generator_fingerprint()}
    for key, value in want.items():
        if ds.info.get(key) != value:
            return f"{key} is {ds.info.get(key)!r}, want {value!r}"
    return None


def chapter_dataset(data_root: Path | str | None = None, profile: Any = "auto", seed: int = 0, *,
                    progress: bool = True) -> Dataset:
    """The data set of chapters 1-4.

    - `data_root` given: the real data, in the book's layout (`load_dataset`) or the public
      release's (`find_public_release` + `load_public_release`), detected from the files.
    - else: the profile's phantom (`profile.n_patients` radiographs at `profile.image_size`),
      written once to `phantom_dir(profile.name, seed)` and reused while it matches. Prints which.
    `profile` is a `profiles.Profile` or a name ("auto", "quick", "full").
    """
    from .profiles import Profile, get_profile

    if data_root is not None:
        data_root = Path(data_root).expanduser()
        if not data_root.is_dir():
            raise MissingDatasetFileError(f"data_root {data_root} is not a folder; point it at the real data set "
                                          f"(the book's layout or the public release's CSVs and images)")
        if (data_root / "dataset.json").is_file() or set(SCORES_COLUMNS) <= _csv_header(data_root / "scores.csv"):
            ds = load_dataset(data_root)
            print(f"Real data set from {data_root}: {ds!r}")
            return ds
        found = find_public_release(data_root)
        if found is None:
            raise MissingDatasetFileError(
                f"{data_root}: neither the book's layout (scores.csv, boxes.csv, images/) nor the public release "
                f"(a CSV with columns {', '.join(RELEASE_SCORE_COLUMNS)}, one with {', '.join(RELEASE_BOX_COLUMNS)}, "
                f"and a folder of images)")
        ds = load_public_release(*found)
        print(f"Public release from {data_root} (scores {found[0].name}, boxes {found[1].name}, "
              f"images {found[2]}): {ds!r}")
        return ds

    cfg = profile if isinstance(profile, Profile) else get_profile(profile)
    root = phantom_dir(cfg.name, seed)
    if (root / "dataset.json").is_file():
        try:
            ds = load_dataset(root)
            why = _cache_matches(ds, cfg.n_patients, seed, cfg.image_size)
        except DatasetError as exc:
            why = f"it is unreadable ({exc})"
        if why is None:
            print(f"Reusing the phantom data set in {root} ({cfg.n_patients} radiographs, written earlier).")
            return ds
        print(f"Rewriting the phantom data set in {root}: {why}.")
    start = time.perf_counter()
    try:
        write_phantom_dataset(root, cfg.n_patients, seed, size=cfg.image_size, overwrite=root.exists(),
                              progress=progress)
    except FileExistsError:
        if not (root / "dataset.json").is_file():  # another process did not win the race either
            raise
        print(f"Another process wrote {root} meanwhile; using it.")
    else:
        print(f"Wrote the phantom data set to {root}: {cfg.n_patients} radiographs at {cfg.image_size} px "
              f"in {time.perf_counter() - start:.0f} s.")
    return load_dataset(root)


# --------------------------------------------------------------------------------------------
# Describing a data set (chapter 1)
# --------------------------------------------------------------------------------------------


def to_long(table: pd.DataFrame, *, source: Optional[str] = None) -> pd.DataFrame:
    """Scores in long format (patient_id, hand, joint, [expert_id,] kind, score) from either shape.

    A truth table (wide: erosion, jsn columns) becomes one row per applicable (site, kind) with
    `expert_id` = `source` (default "truth"); a long scores table is returned as a copy. The score
    column is Int64 and rows with a missing score are dropped. Used by `viz.score_distributions`.
    """
    if {"kind", "score"} <= set(table.columns):
        out = table.copy()
    elif set(SCORE_KINDS) <= set(table.columns):
        ids = [c for c in ("patient_id", "hand", "joint") if c in table.columns]
        out = table.melt(id_vars=ids, value_vars=list(SCORE_KINDS), var_name="kind", value_name="score")
        out.insert(len(ids), "expert_id", source or "truth")
    else:
        raise ValueError(f"expected a long scores table (kind, score) or a truth table (erosion, jsn); "
                         f"got columns {list(table.columns)}")
    if source is not None:
        out["expert_id"] = source
    out = out[out["score"].notna()].reset_index(drop=True)
    out["score"] = out["score"].astype("Int64")
    return out


def uniform_truth(erosion: int = 0, jsn: int = 0) -> pd.DataFrame:
    """A one-patient truth table (42 rows: hand, joint, erosion, jsn) with the same grade at every site.

    Grades go where the kind applies, <NA> elsewhere. Chapter 1 renders phantoms with it to show
    what each grade looks like (`phantom.render(seed, truth=uniform_truth(erosion=3))`).
    """
    for kind, grade in (("erosion", erosion), ("jsn", jsn)):
        if int(grade) != grade or not 0 <= grade <= MAX_SCORE[kind]:
            raise ValueError(f"{kind} grade must be a whole number 0-{MAX_SCORE[kind]}, got {grade!r}")
    rows = [(h, j, int(erosion) if applies(j, "erosion") else pd.NA, int(jsn) if applies(j, "jsn") else pd.NA)
            for h in HANDS for j in JOINTS]
    return pd.DataFrame(rows, columns=["hand", "joint", "erosion", "jsn"]).astype({"erosion": "Int64", "jsn": "Int64"})


def patient_icc(scores: pd.DataFrame, kind: str) -> float:
    """Share of the variance of joint scores that lies between patients: one-way ICC(1) (chapter 1).

    `scores`: a truth table (wide) or long scores (averaged over experts per site first). With
    k = mean number of scored sites per patient (the usual n0 for unequal groups),
    ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW), where MSB/MSW are the between/within-patient mean
    squares of a one-way ANOVA. 0: a patient's sites are no more alike than any two sites;
    1: all sites of a patient have the same score. NaN when it is undefined (no variance).
    """
    long = to_long(scores)
    long = long[long["kind"] == kind]
    if long.empty:
        raise ValueError(f"no {kind!r} scores to compute an ICC from")
    site = long.groupby(["patient_id", "hand", "joint"])["score"].mean().astype(float)
    groups = site.groupby(level="patient_id")
    n_i = groups.size().to_numpy(dtype=float)
    means = groups.mean().to_numpy()
    a, n = len(n_i), n_i.sum()
    if a < 2 or n <= a:
        return float("nan")
    grand = site.mean()
    ssb = float((n_i * (means - grand) ** 2).sum())
    ssw = float(((site - groups.transform("mean")) ** 2).sum())
    msb, msw = ssb / (a - 1), ssw / (n - a)
    k = (n - (n_i ** 2).sum() / n) / (a - 1)
    denom = msb + (k - 1) * msw
    return float((msb - msw) / denom) if denom > 0 else float("nan")


def site_correlation(truth: pd.DataFrame, kind: str, *, hand: Optional[str] = None) -> pd.DataFrame:
    """Spearman correlation across patients between the `kind` scores of every pair of sites (chapter 1).

    `truth`: wide truth table or long scores (mean over experts). Returns a square DataFrame
    indexed by "hand joint" (or joint, for one `hand`), in `joints` order, NaN where a site is constant.
    """
    long = to_long(truth)
    long = long[long["kind"] == kind]
    if hand is not None:
        long = long[long["hand"] == hand]
    site = long.groupby(["patient_id", "hand", "joint"])["score"].mean().astype(float).reset_index()
    site["site"] = site["joint"] if hand is not None else site["hand"] + " " + site["joint"]
    wide = site.pivot(index="patient_id", columns="site", values="score")
    order = [j if hand is not None else f"{h} {j}" for h in ([hand] if hand else HANDS) for j in sites_for(kind)]
    wide = wide.reindex(columns=[c for c in order if c in wide.columns])
    return wide.corr(method="spearman")

