"""The book's tables: their columns, their one sort order, and their validation.

Every stage reads and writes the same few long-format tables (design.md, "The
data contract"):

- boxes: one row per (patient, hand, joint), ``BOXES_COLUMNS``; a box is
  ``(x_min, y_min, x_max, y_max)`` in pixels, the torchvision convention;
- scores: one row per (patient, hand, joint, expert, kind), ``SCORES_COLUMNS``;
- truth: one row per (patient, hand, joint), ``TRUTH_COLUMNS``; a grade that
  does not apply at a site (paper §3.1) is missing (<NA>), never 0.

Patients, experts and every other id sort in *natural* order (`natural_key`):
"P2" before "P10", whatever the rows' order on input. This module is the only
place that rule lives.

Used by the phantom, the data layer, aggregation and the statistics.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Iterable

import numpy as np
import pandas as pd

from .joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, applies

__all__ = [
    "KEY_COLUMNS", "BOX_COLUMNS", "BOXES_COLUMNS", "SCORES_COLUMNS", "TRUTH_COLUMNS",
    "natural_key", "natural_order", "check_scores", "check_truth",
]

KEY_COLUMNS: tuple[str, ...] = ("patient_id", "hand", "joint")
"""The key of one joint site of one patient."""
BOX_COLUMNS: tuple[str, ...] = ("x_min", "y_min", "x_max", "y_max")
"""A box's corners in pixels of the image it refers to."""
BOXES_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *BOX_COLUMNS)
SCORES_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "expert_id", "kind", "score")
TRUTH_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *SCORE_KINDS)


# ---------------------------------------------------------------------------- order


def natural_key(value: object) -> tuple:
    """Sort key in which digit runs compare as numbers: "P2" < "P10", "2" < "10", "R1" < "R3".

    Works on any id (str, int, numpy scalar): it is compared as text split into digit and
    non-digit runs.
    """
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", str(value)) if part)


def natural_order(values: Iterable[object]) -> list:
    """The distinct `values` in natural order (`natural_key`)."""
    return sorted(set(values), key=natural_key)


# ---------------------------------------------------------------------------- scores


def check_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Validated copy of a long score table with int64 scores; rows with a missing score are dropped.

    `scores` needs ``SCORES_COLUMNS`` (others are dropped). Raises ValueError for a
    non-DataFrame, missing columns, no scored rows, an unknown hand, joint or kind, a score at a
    site where its kind does not apply, a grade that is not an integer in range, or the same
    (patient, hand, joint, expert, kind) scored twice. The row order is kept.
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    missing = set(SCORES_COLUMNS) - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack columns {sorted(missing)}; expected {', '.join(SCORES_COLUMNS)} (long format)")
    out = scores[list(SCORES_COLUMNS)].copy()
    out["score"] = pd.to_numeric(out["score"], errors="coerce")
    out = out[out["score"].notna()]
    if out.empty:
        raise ValueError("scores hold no rows with a score; nothing to aggregate")
    _check_sites(out)
    unknown = set(out["kind"].unique()) - set(SCORE_KINDS)
    if unknown:
        raise ValueError(f"unknown score kind(s) {sorted(map(str, unknown))}; expected {SCORE_KINDS}")
    misplaced = [not applies(j, k) for j, k in zip(out["joint"], out["kind"])]
    if any(misplaced):
        row = out[misplaced].iloc[0]
        raise ValueError(f"a {row.kind} score at joint {row.joint}, where {row.kind} is not scored "
                         f"(see rheumabook.joints.sites_for)")
    for kind in SCORE_KINDS:
        s = out.loc[out["kind"] == kind, "score"]
        if ((s < 0) | (s > MAX_SCORE[kind]) | (s != s.round())).any():
            raise ValueError(f"{kind} scores must be integers 0..{MAX_SCORE[kind]}")
    dup = out.duplicated(["patient_id", "hand", "joint", "expert_id", "kind"])
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(f"{int(dup.sum())} duplicate scores, e.g. patient {first.patient_id} {first.hand} "
                         f"{first.joint} {first.kind} by {first.expert_id}; keep one score per expert and site")
    out["score"] = out["score"].astype(np.int64)
    return out.reset_index(drop=True)


def _check_sites(table: pd.DataFrame) -> None:
    """Hands in `HANDS` and joints in `JOINTS` (ValueError naming the first unknown one)."""
    bad_hand = ~table["hand"].isin(HANDS)
    if bad_hand.any():
        raise ValueError(f"unknown hand(s) {sorted(map(str, table.loc[bad_hand, 'hand'].unique()))}; "
                         f"expected {HANDS} (the patient's hands)")
    bad_joint = ~table["joint"].isin(JOINTS)
    if bad_joint.any():
        raise ValueError(f"unknown joint(s) {sorted(map(str, table.loc[bad_joint, 'joint'].unique()))}; "
                         f"expected names from rheumabook.joints.JOINTS")


# ---------------------------------------------------------------------------- truth


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _checked_grades(values: list, joints: list[str], labels: list[str], kind: str) -> pd.arrays.IntegerArray:
    """Grades of one kind as Int64: integers 0..max where the kind applies, <NA> where it does not."""
    out = []
    for value, joint, label in zip(values, joints, labels):
        if not applies(joint, kind):
            if not _is_missing(value):
                raise ValueError(f"truth has a {kind} score ({value!r}) at {label}, where {kind} is not "
                                 f"scored; use <NA>")
            out.append(pd.NA)
            continue
        if _is_missing(value):
            raise ValueError(f"truth {kind} is missing at {label}, where it applies; give a grade")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or float(value) != int(value):
            raise ValueError(f"truth {kind} at {label} is {value!r}, not an integer grade")
        if not 0 <= int(value) <= MAX_SCORE[kind]:
            raise ValueError(f"truth {kind} at {label} is {value!r}, outside 0..{MAX_SCORE[kind]}")
        out.append(int(value))
    return pd.array(out, dtype="Int64")


def check_truth(truth: pd.DataFrame, *, one_radiograph: bool = False) -> pd.DataFrame:
    """Validated copy of a truth table, grades as Int64 (<NA> exactly where a kind does not apply).

    A cohort (default) needs columns patient_id, hand, joint, erosion, jsn, one row per
    (patient, hand, joint); its row order is kept. With ``one_radiograph=True`` (the phantom's
    `render`) patient_id is not needed and the table must hold exactly the 42 sites of
    `HANDS` x `JOINTS`; it comes back in that order. Other columns and ``attrs`` are kept.
    Raises ValueError naming the first problem: a missing column, an unknown hand or joint, a
    site given twice (or, for one radiograph, missing), a grade that is not an integer in range,
    a grade where its kind does not apply, or none where it does.
    """
    keys = ["hand", "joint"] if one_radiograph else list(KEY_COLUMNS)
    if not isinstance(truth, pd.DataFrame):
        raise ValueError(f"truth must be a pandas DataFrame with columns {', '.join(keys + list(SCORE_KINDS))}; "
                         f"got {type(truth).__name__}")
    missing = [c for c in (*keys, *SCORE_KINDS) if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks column(s) {missing}; it needs {', '.join(keys + list(SCORE_KINDS))} "
                         f"(e.g. phantom.disease.sample_cohort)")
    _check_sites(truth)
    dup = truth.duplicated(keys)
    if dup.any():
        row = truth[dup].iloc[0]
        raise ValueError(f"truth has more than one row for {', '.join(f'{k}={row[k]!r}' for k in keys)}")
    out = truth.copy()
    if one_radiograph:
        position = {key: i for i, key in enumerate(zip(truth["hand"], truth["joint"]))}
        sites = [(h, j) for h in HANDS for j in JOINTS]
        lack = [s for s in sites if s not in position]
        if lack:
            raise ValueError(f"truth needs one row per (hand, joint), 42 in all; missing {lack[:4]}"
                             + (" ..." if len(lack) > 4 else ""))
        out = truth.iloc[[position[s] for s in sites]].reset_index(drop=True)
    labels = [" ".join(map(str, k)) for k in zip(*(out[c].tolist() for c in keys))]
    for kind in SCORE_KINDS:
        out[kind] = _checked_grades(out[kind].tolist(), out["joint"].tolist(), labels, kind)
    out.attrs = dict(truth.attrs)
    return out
