"""What the pipeline returns: one tidy 42-row table per radiograph, its totals, and the files it is written to.

A `PipelineResult` holds one radiograph's table (`RESULT_COLUMNS`): one row per (hand, joint),
hands in `joints.HANDS` order and joints in `joints.JOINTS` order; the box in pixels of the
radiograph as given (x_min, y_min, x_max, y_max, the torchvision convention); the erosion and
JSN grades (nullable Int64: <NA> where the site has no such score, paper §3.1, never 0) and the
class probabilities p_erosion_0..5 and p_jsn_0..4 (NaN where the site has no such score). Its
`totals` are the sums of the grades over the scored sites: the erosion total, the JSN total and
their sum, the total (modified) Sharp score of the hands.

`write_results` writes many results atomically (a temporary file, then a rename) as CSV (the
tables stacked, an ``image`` column first) or JSON (per image: name, hands, totals, rows; and the
files that failed). `read_results` reads either back into the stacked table.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..joints import MAX_SCORE, SCORE_KINDS
from ..schema import BOX_COLUMNS

__all__ = ["RESULTS_FORMAT", "PROBA_COLUMNS", "RESULT_COLUMNS", "TOTAL_COLUMNS", "FORMATS", "PipelineResult",
           "Failure", "results_table", "totals_table", "write_results", "read_results"]

RESULTS_FORMAT = "rheumabook.pipeline/1"
"""The format tag of a JSON results file."""
PROBA_COLUMNS: dict[str, tuple[str, ...]] = {k: tuple(f"p_{k}_{g}" for g in range(MAX_SCORE[k] + 1))
                                              for k in SCORE_KINDS}
"""Class probability columns per kind: p_erosion_0..p_erosion_5, p_jsn_0..p_jsn_4."""
RESULT_COLUMNS: tuple[str, ...] = ("hand", "joint", *BOX_COLUMNS, *SCORE_KINDS,
                                   *(c for k in SCORE_KINDS for c in PROBA_COLUMNS[k]))
"""The columns of one radiograph's table."""
TOTAL_COLUMNS: tuple[str, ...] = ("erosion_total", "jsn_total", "total_sharp")
"""The totals of one radiograph: sums of the erosion grades, of the JSN grades, and of both."""
FORMATS: tuple[str, ...] = ("csv", "json")


@dataclass(frozen=True, eq=False)
class PipelineResult:
    """One radiograph scored by `RheumaVIT`.

    name: the input's name (its path as given, or ``array[i]``). table: 42 rows (21 for a
    single-hand film), `RESULT_COLUMNS`. hands: "both", "left" or "right" (what the film held).
    image: the radiograph (2-D uint8/uint16), kept for `overlay`; None when not kept.
    """

    name: str
    table: pd.DataFrame
    hands: str = "both"
    image: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def totals(self) -> dict[str, int]:
        """erosion_total, jsn_total, total_sharp: the grades summed over the sites that carry them."""
        erosion = int(self.table["erosion"].sum(skipna=True))
        jsn = int(self.table["jsn"].sum(skipna=True))
        return {"erosion_total": erosion, "jsn_total": jsn, "total_sharp": erosion + jsn}

    @property
    def expected_totals(self) -> dict[str, float]:
        """erosion_expected, jsn_expected, total_expected: the expected grades (Σ g p(g) of each site's
        probabilities, `scoring.expected_grade`) summed over the sites that carry them: a total
        without the rounding of each joint to its most probable grade."""
        from ..scoring.calibration import expected_grade

        out = {}
        for kind in SCORE_KINDS:
            p = self.table[list(PROBA_COLUMNS[kind])].dropna().to_numpy(dtype=np.float64)
            out[f"{kind}_expected"] = float(expected_grade(p).sum()) if len(p) else 0.0
        out["total_expected"] = out["erosion_expected"] + out["jsn_expected"]
        return out

    def overlay(self, ax: Any = None, *, title: Optional[str] = None) -> Any:
        """Draw the radiograph with each box and its grades (`viz.score_overlay`); returns the axes."""
        from ..viz.pipeline import score_overlay

        if self.image is None:
            raise ValueError(f"{self.name}: the result does not keep its image; score it with keep_image=True")
        return score_overlay(self.image, self.table, ax=ax, title=self.name if title is None else title)


@dataclass(frozen=True)
class Failure:
    """An input that could not be scored: its name and the message (what is wrong, what to do)."""

    name: str
    message: str


def results_table(results: Sequence[PipelineResult]) -> pd.DataFrame:
    """The tables of several results stacked, with an ``image`` column first (in the given order)."""
    parts = [r.table.assign(image=r.name) for r in results]
    if not parts:
        return pd.DataFrame(columns=["image", *RESULT_COLUMNS])
    return pd.concat(parts, ignore_index=True)[["image", *RESULT_COLUMNS]]


def totals_table(results: Sequence[PipelineResult], *, expected: bool = False) -> pd.DataFrame:
    """One row per result: image, hands, erosion_total, jsn_total, total_sharp (and with `expected`,
    `PipelineResult.expected_totals`: erosion_expected, jsn_expected, total_expected)."""
    rows = [{"image": r.name, "hands": r.hands, **r.totals, **(r.expected_totals if expected else {})} for r in results]
    extra = ["erosion_expected", "jsn_expected", "total_expected"] if expected else []
    return pd.DataFrame(rows, columns=["image", "hands", *TOTAL_COLUMNS, *extra])


def _json_doc(results: Sequence[PipelineResult], failures: Sequence[Failure]) -> dict:
    """The JSON document of `write_results`: nulls where a score does not apply."""
    images = []
    for r in results:
        rows = json.loads(r.table.to_json(orient="records"))  # <NA> and NaN -> null
        images.append({"image": r.name, "hands": r.hands, "totals": r.totals, "joints": rows})
    return {"format": RESULTS_FORMAT, "images": images,
            "failed": [{"image": f.name, "error": f.message} for f in failures]}


def write_results(path: Union[str, Path], results: Sequence[PipelineResult], *, format: str = "csv",
                  failures: Sequence[Failure] = ()) -> Path:
    """Write `results` to `path` as "csv" or "json", atomically: nothing at `path` until it is complete.

    CSV: `results_table` (failures are not rows; the caller reports them). JSON: see the module docstring.
    """
    from ..cache import atomic_write_text

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "csv":
        text = results_table(results).to_csv(index=False, float_format="%.6g")
    else:
        text = json.dumps(_json_doc(results, failures), indent=1) + "\n"
    return atomic_write_text(Path(path), text)


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """A read-back table with the pipeline's dtypes: Int64 grades, float boxes and probabilities."""
    out = table.copy()
    for kind in SCORE_KINDS:
        out[kind] = pd.to_numeric(out[kind]).astype("Int64")
    floats = [*BOX_COLUMNS, *(c for k in SCORE_KINDS for c in PROBA_COLUMNS[k])]
    out[floats] = out[floats].apply(pd.to_numeric).astype(float)
    out["image"], out["hand"], out["joint"] = (out[c].astype(str) for c in ("image", "hand", "joint"))
    return out


def read_results(path: Union[str, Path]) -> pd.DataFrame:
    """The stacked table (`results_table`) of a file `write_results` wrote, CSV or JSON (by its suffix)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != RESULTS_FORMAT:
            raise ValueError(f"{path}: not a {RESULTS_FORMAT!r} results file (format {doc.get('format')!r})")
        rows = [{"image": im["image"], **row} for im in doc["images"] for row in im["joints"]]
        table = pd.DataFrame(rows, columns=["image", *RESULT_COLUMNS])
    else:
        table = pd.read_csv(path, dtype={"image": str, "hand": str, "joint": str})
    return _typed(table)
