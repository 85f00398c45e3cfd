"""Does the seam cut joints? Splits checked against the true joint boxes, over a whole data set (chapter 3).

- `survey_splits`: split every radiograph of a data set with one `SeamConfig`; one row per
  radiograph: how many of its joint boxes the seam cuts, its smallest clearance, the time.
- `summarize_survey`: a survey's totals (boxes on their own side, radiographs with a cut, the
  smallest clearance as a fraction of the width, the first radiograph with a cut).
- `compare_variants`: the same over several configs, one row per variant: chapter 3's table of
  "what goes wrong" when parts of the method are switched off (`SEAM_VARIANTS`).
- `first_cut`: the first radiograph whose boxes a config cuts (stops there; for a figure).

A box is *cut* when its `HandSplit.clearance` is negative: the seam crosses it or passes on
the wrong side of it. A data set is anything with `.patients`, `.image(pid)` (2-D uint8/uint16)
and `.boxes_of(pid)` (a boxes DataFrame with a ``hand`` column), e.g. `rheumabook.data.Dataset`.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pandas as pd

from .config import SeamConfig
from .split import split_hands

__all__ = ["SEAM_VARIANTS", "SURVEY_COLUMNS", "survey_splits", "summarize_survey", "compare_variants",
           "first_cut"]

SEAM_VARIANTS: dict[str, SeamConfig] = {
    "book default": SeamConfig(),
    "band = whole width (0, 1)": SeamConfig(band=(0.0, 1.0)),
    "paper: opening + CLAHE, plain Sobel": SeamConfig(presmooth=0, smooth=0),
    "CLAHE without opening, plain Sobel": SeamConfig(opening=0, presmooth=0, smooth=0),
    "no blur after the gradient (smooth=0)": SeamConfig(smooth=0),
    "no opening, no CLAHE": SeamConfig(opening=0, clahe=False),
}
"""Chapter 3's variants of the method, each with one guard switched off, by the name its table shows."""

SURVEY_COLUMNS = ("patient_id", "width", "boxes", "cut", "min_clearance_px", "seconds")
"""Columns of a `survey_splits` table."""


def _patient_ids(dataset: Any, patient_ids: Optional[Iterable[str]]) -> list:
    """The patients to check: `patient_ids`, else all of the data set's, in its order."""
    ids = list(dataset.patients if patient_ids is None else patient_ids)
    if not ids:
        raise ValueError("no radiographs to check: the data set (or patient_ids) is empty")
    return ids


def survey_splits(dataset: Any, patient_ids: Optional[Iterable[str]] = None, *,
                  config: SeamConfig = SeamConfig(), progress: bool = False,
                  desc: str = "splitting") -> pd.DataFrame:
    """Split each radiograph with `config` and check its true joint boxes; one row per radiograph.

    Columns (`SURVEY_COLUMNS`): patient_id; width (pixels); boxes (joint boxes checked); cut
    (boxes with clearance < 0); min_clearance_px (smallest clearance, pixels; NaN without
    boxes); seconds (wall time of the `split_hands` call alone). Rows in `patient_ids` order.
    """
    from tqdm.auto import tqdm

    records = []
    for pid in tqdm(_patient_ids(dataset, patient_ids), desc=desc, disable=not progress):
        image, boxes = dataset.image(pid), dataset.boxes_of(pid)
        start = time.perf_counter()
        split = split_hands(image, config=config)
        seconds = time.perf_counter() - start
        gaps = split.clearance(boxes)
        records.append({"patient_id": pid, "width": image.shape[1], "boxes": len(boxes),
                        "cut": int((gaps < 0).sum()),
                        "min_clearance_px": float(np.nanmin(gaps)) if len(boxes) else np.nan,
                        "seconds": seconds})
    return pd.DataFrame.from_records(records, columns=list(SURVEY_COLUMNS))


def summarize_survey(survey: pd.DataFrame) -> dict:
    """The totals of a `survey_splits` table, as a dict of plain Python numbers.

    radiographs, joint_boxes, boxes_cut; boxes_on_own_side (fraction of the boxes not cut);
    radiographs_cut (radiographs with at least one cut box) and radiographs_without_cut (their
    complement, as a fraction); min_clearance_frac_width and median_clearance_frac_width
    (over radiographs, each radiograph's smallest clearance divided by its width; NaNs of
    radiographs without boxes skipped); first_cut (the first patient with a cut box, or None).
    """
    missing = [c for c in SURVEY_COLUMNS if c not in survey.columns]
    if missing or survey.empty:
        raise ValueError(f"expected a non-empty survey_splits table, got columns {list(survey.columns)} "
                         f"and {len(survey)} rows")
    n_boxes, n_cut = survey["boxes"].sum(), survey["cut"].sum()
    clearance = survey["min_clearance_px"] / survey["width"]
    with_cut = survey.loc[survey["cut"] > 0, "patient_id"]
    return {
        "radiographs": len(survey),
        "joint_boxes": int(n_boxes),
        "boxes_cut": int(n_cut),
        "boxes_on_own_side": float((n_boxes - n_cut) / n_boxes) if n_boxes else float("nan"),
        "radiographs_cut": int((survey["cut"] > 0).sum()),
        "radiographs_without_cut": float((survey["cut"] == 0).mean()),
        "min_clearance_frac_width": float(clearance.min()),
        "median_clearance_frac_width": float(clearance.median()),
        "first_cut": with_cut.iloc[0] if len(with_cut) else None,
    }


def compare_variants(dataset: Any, variants: Mapping[str, SeamConfig] = SEAM_VARIANTS,
                     patient_ids: Optional[Iterable[str]] = None, *, progress: bool = False) -> pd.DataFrame:
    """`summarize_survey` of each variant's `survey_splits` over the same radiographs; one row per variant.

    variants: name -> `SeamConfig` (default: chapter 3's `SEAM_VARIANTS`). Returns a DataFrame
    indexed by variant name (in the mapping's order) with `summarize_survey`'s columns (a
    variant that cuts nothing has first_cut NaN, pandas' missing value).
    """
    ids = _patient_ids(dataset, patient_ids)
    if not variants:
        raise ValueError("no variants to compare")
    rows = {}
    for name, config in variants.items():
        if not isinstance(config, SeamConfig):
            raise ValueError(f"variant {name!r} must be a SeamConfig, got {type(config).__name__}")
        survey = survey_splits(dataset, ids, config=config, progress=progress, desc=name)
        rows[name] = summarize_survey(survey)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "variant"
    return table


def first_cut(dataset: Any, config: SeamConfig = SeamConfig(),
              patient_ids: Optional[Iterable[str]] = None) -> Optional[str]:
    """The first patient (in `patient_ids` order) whose joint boxes the seam of `config` cuts, or None.

    Stops at that radiograph, so finding an example costs less than a whole `survey_splits`.
    """
    for pid in _patient_ids(dataset, patient_ids):
        if split_hands(dataset.image(pid), config=config).cuts(dataset.boxes_of(pid)).any():
            return pid
    return None
