"""Reading and validating the data set's CSV tables, with errors that name the file and line.

Shared by the book's layout (`dataset.load_dataset`) and the public-release adapter (`release`).
A table is read as strings (`read_table`) with its source line in column `LINE` (header = line
1); the `parse_*` functions check it and return typed columns; `sort_rows` puts rows in the one
canonical order (patients in natural order, `schema.natural_key`; hands in `joints.HANDS`
order; joints in `joints.JOINTS` order). `to_long` and `uniform_truth` convert and build
score tables in memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, applies
from ..schema import BOX_COLUMNS, BOXES_COLUMNS, KEY_COLUMNS, SCORES_COLUMNS, TRUTH_COLUMNS, natural_order
from .errors import DatasetError, MissingDatasetFileError

__all__ = [
    "LINE", "line_of", "read_table", "csv_header", "check_ids", "check_names", "parse_number",
    "check_score_values", "check_unique", "sort_rows", "parse_boxes", "parse_scores", "finish_scores",
    "parse_truth", "check_boxes_inside", "to_long", "uniform_truth",
]


# ---------------------------------------------------------------------------- reading

LINE = "_line"  # column holding the source line of a row (header = line 1), for error messages


def line_of(source: str, df: pd.DataFrame, mask: pd.Series) -> str:
    """'file line N' of the first row where `mask` holds, plus how many more rows are affected."""
    bad = df[mask]
    first = bad.iloc[0]
    more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
    return f"{source} line {first[LINE]}{more}"


def read_table(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV as strings, with a `LINE` column; errors for a missing file, columns or rows."""
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
    df[LINE] = np.arange(2, len(df) + 2)
    return df


def check_ids(df: pd.DataFrame, source: str) -> None:
    """Non-empty patient ids."""
    empty = df["patient_id"] == ""
    if empty.any():
        raise DatasetError(f"{line_of(source, df, empty)}: empty patient_id")


_NAMES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("hand", HANDS, "expected 'left' or 'right' (the patient's hands)"),
    ("joint", JOINTS, f"expected one of {', '.join(JOINTS)}"),
)
"""(column, the book's names, what to say) for `check_names`."""


def check_names(df: pd.DataFrame, source: str) -> None:
    """Hand and joint names are the book's (`joints.HANDS`, `joints.JOINTS`); the error names the first bad row."""
    for col, names, hint in _NAMES:
        bad = ~df[col].isin(names)
        if bad.any():
            raise DatasetError(f"{line_of(source, df, bad)}: unknown {col} {df.loc[bad, col].iloc[0]!r}; {hint}")


def parse_number(df: pd.DataFrame, col: str, source: str, *, integer: bool, allow_empty: bool) -> pd.Series:
    """A column of strings -> float64 (NaN for empty), with errors naming the row."""
    text = df[col].astype(str)
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
    empty = text == ""
    if not allow_empty and empty.any():
        raise DatasetError(f"{line_of(source, df, empty)}: empty {col}")
    bad = values.isna() & ~empty
    if bad.any():
        raise DatasetError(f"{line_of(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not a number")
    bad = ~np.isfinite(values) & ~empty
    if bad.any():
        raise DatasetError(f"{line_of(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not finite")
    if integer:
        bad = (values != np.round(values)) & ~empty
        if bad.any():
            raise DatasetError(f"{line_of(source, df, bad)}: {col} {text[bad].iloc[0]!r} is not a whole number")
    return values


def check_score_values(df: pd.DataFrame, kind: pd.Series, values: pd.Series, source: str, col: str) -> None:
    """Scores in range for their kind (erosion 0-5, JSN 0-4) and only at sites where the kind applies."""
    present = values.notna()
    for k in SCORE_KINDS:
        is_k = (kind == k) & present
        out = is_k & ((values < 0) | (values > MAX_SCORE[k]))
        if out.any():
            raise DatasetError(f"{line_of(source, df, out)}: {k} {col} {values[out].iloc[0]:g} out of range; "
                               f"{k} scores are 0-{MAX_SCORE[k]}")
        na_site = is_k & ~df["joint"].map(lambda j, k=k: applies(j, k))
        if na_site.any():
            joint = df.loc[na_site, "joint"].iloc[0]
            raise DatasetError(f"{line_of(source, df, na_site)}: {k} {col} at {joint}, where no {k} score applies "
                               f"(paper §3.1); leave it out (a score that does not apply is missing, never 0)")


def check_unique(df: pd.DataFrame, keys: Sequence[str], source: str, what: str) -> None:
    """No two rows with the same key."""
    dup = df.duplicated(list(keys), keep="first")
    if dup.any():
        row = df[dup].iloc[0]
        first = df[(df[list(keys)] == row[list(keys)]).all(axis=1)].iloc[0]
        raise DatasetError(f"{line_of(source, df, dup)}: duplicate {what} "
                           f"({', '.join(f'{k}={row[k]}' for k in keys)}), first seen on line {first[LINE]}")


# ---------------------------------------------------------------------------- order and typed tables


def _rank(values: pd.Series) -> pd.Series:
    """Position of each id in natural order (`schema.natural_order`: "P2" before "P10"), for sorting."""
    text = values.astype(str)
    return text.map({v: i for i, v in enumerate(natural_order(text))})


def sort_rows(df: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
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


def parse_boxes(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a boxes table of strings (+ `LINE`) -> typed, with `LINE` kept."""
    check_ids(df, source)
    check_names(df, source)
    out = df[[*KEY_COLUMNS, LINE]].copy()
    for col in BOX_COLUMNS:
        out[col] = parse_number(df, col, source, integer=False, allow_empty=False)
    bad = (out["x_max"] <= out["x_min"]) | (out["y_max"] <= out["y_min"])
    if bad.any():
        raise DatasetError(f"{line_of(source, out, bad)}: empty box (need x_min < x_max and y_min < y_max; "
                           f"boxes are (x_min, y_min, x_max, y_max) in pixels)")
    check_unique(out, KEY_COLUMNS, source, "box")
    return out[[*BOXES_COLUMNS, LINE]]


def parse_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a long scores table of strings (+ `LINE`) -> typed (score float), `LINE` kept. Keys not checked."""
    check_ids(df, source)
    check_names(df, source)
    bad = ~df["kind"].isin(SCORE_KINDS)
    if bad.any():
        raise DatasetError(f"{line_of(source, df, bad)}: unknown kind {df.loc[bad, 'kind'].iloc[0]!r}; "
                           f"expected 'erosion' or 'jsn'")
    empty = df["expert_id"] == ""
    if empty.any():
        raise DatasetError(f"{line_of(source, df, empty)}: empty expert_id")
    values = parse_number(df, "score", source, integer=True, allow_empty=False)
    check_score_values(df, df["kind"], values, source, "score")
    out = df[[*KEY_COLUMNS, "expert_id", "kind", LINE]].copy()
    out["score"] = values
    return out


def finish_scores(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Unique keys, typed columns, canonical order; drops `LINE`."""
    check_unique(df, [*KEY_COLUMNS, "expert_id", "kind"], source, "score")
    out = df.copy()
    out["expert_id"] = _expert_ids(out["expert_id"])
    out["score"] = out["score"].round().astype("Int64")
    out = sort_rows(out, extra=("kind", "expert_id"))
    return out[list(SCORES_COLUMNS)]


def parse_truth(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a truth table of strings: complete, in range, missing exactly where a score does not apply."""
    check_ids(df, source)
    check_names(df, source)
    check_unique(df, KEY_COLUMNS, source, "truth row")
    out = df[list(KEY_COLUMNS)].copy()
    for kind in SCORE_KINDS:
        values = parse_number(df, kind, source, integer=True, allow_empty=True)
        check_score_values(df, pd.Series(kind, index=df.index), values, source, "score")
        missing = values.isna() & df["joint"].map(lambda j, k=kind: applies(j, k))
        if missing.any():
            raise DatasetError(f"{line_of(source, df, missing)}: missing true {kind} at "
                               f"{df.loc[missing, 'joint'].iloc[0]}, where it applies")
        out[kind] = values.round().astype("Int64")
    return sort_rows(out)[list(TRUTH_COLUMNS)]


def check_boxes_inside(boxes: pd.DataFrame, sizes: Mapping[str, tuple[int, int]], source: str) -> None:
    """Every box lies inside its image (0 <= x <= width, 0 <= y <= height)."""
    w = boxes["patient_id"].map(lambda p: sizes[p][0])
    h = boxes["patient_id"].map(lambda p: sizes[p][1])
    bad = (boxes["x_min"] < 0) | (boxes["y_min"] < 0) | (boxes["x_max"] > w) | (boxes["y_max"] > h)
    if bad.any():
        row = boxes[bad].iloc[0]
        pid = row["patient_id"]
        raise DatasetError(f"{line_of(source, boxes, bad)}: box ({row['x_min']:g}, {row['y_min']:g}, {row['x_max']:g}, "
                           f"{row['y_max']:g}) of {pid} {row['hand']} {row['joint']} lies outside its "
                           f"{sizes[pid][0]}x{sizes[pid][1]} image")


def csv_header(path: Path) -> set[str]:
    """Column names of a CSV file (empty set if it is missing or unreadable)."""
    if not path.is_file():
        return set()
    try:
        return {str(c).strip() for c in pd.read_csv(path, nrows=0).columns}
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return set()


# ---------------------------------------------------------------------------- tables in memory


def to_long(table: pd.DataFrame, *, source: Optional[str] = None) -> pd.DataFrame:
    """Scores in long format (patient_id, hand, joint, [expert_id,] kind, score) from either shape.

    A truth table (wide: erosion, jsn columns) becomes one row per applicable (site, kind) with
    `expert_id` = `source` (default "truth"); a long scores table is returned as a copy. The score
    column is Int64 and rows with a missing score are dropped. Used by `viz.score_distributions`.
    """
    if {"kind", "score"} <= set(table.columns):
        out = table.copy()
    elif set(SCORE_KINDS) <= set(table.columns):
        ids = [c for c in KEY_COLUMNS if c in table.columns]
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

