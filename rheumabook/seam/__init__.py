"""Splitting a bilateral hand radiograph into its two hands along a minimum-energy seam (paper §3.2).

RheumaVIT splits every radiograph into a left-hand and a right-hand image along
"a linked sequence of pixels across the entire image with the smallest
gradient" -- the minimum-energy seam of seam carving (Avidan & Shamir 2007,
paper ref. [3]) -- after a morphological opening (against background noise) and
CLAHE (to raise the gradient at the hand/background boundary). The stage, as data
flows through it:

- `config`  `SeamConfig`: every setting of the split (band, opening, CLAHE, blurs,
            working width, fill), validated once; the defaults are the book's method.
- `energy`  `as_grayscale` -> `open_and_equalize` -> `gradient_energy`; `seam_energy` does
            both steps for a `SeamConfig`, on a shrunk copy for wide radiographs.
- `dp`      `cumulative_energy`, `seam_from_table`, `min_energy_seam`: the exact
            least-energy 8-connected path by dynamic programming; `seam_cost`.
- `split`   `split_hands(image, config=...)` -> `HandSplit`: the two halves, the seam, and
            box mapping between radiograph and halves (`view`: each half's
            `handview.HandView`; `to_half`, `to_radiograph`, `hand_of`, `clearance`, `cuts`).
- `survey`  `survey_splits`, `summarize_survey`, `compare_variants`, `first_cut`: does
            the seam cut any true joint box over a data set (chapter 3's numbers).

"left"/"right" are the PATIENT's hands everywhere (the patient's right hand lies on the
image's left of a PA radiograph). Boxes are (x_min, y_min, x_max, y_max) pixel edges.

Used by chapter 3 (book/03_seam.ipynb) and by the localiser's hand preparation (chapter 4).
"""
from .config import DEFAULT_BAND, MIN_SIDE, WORK_WIDTH, SeamConfig, band_fractions
from .dp import cumulative_energy, min_energy_seam, seam_cost, seam_from_table
from .energy import (
    as_grayscale, default_opening, default_presmooth, default_smooth, gradient_energy, open_and_equalize,
    seam_energy,
)
from .split import Boxes, HandSplit, band_columns, split_hands
from .survey import SEAM_VARIANTS, SURVEY_COLUMNS, compare_variants, first_cut, summarize_survey, survey_splits

__all__ = [
    "MIN_SIDE", "DEFAULT_BAND", "WORK_WIDTH", "SeamConfig", "band_fractions",
    "as_grayscale", "default_opening", "default_presmooth", "default_smooth",
    "open_and_equalize", "gradient_energy", "seam_energy",
    "cumulative_energy", "seam_from_table", "min_energy_seam", "seam_cost",
    "Boxes", "band_columns", "HandSplit", "split_hands",
    "SEAM_VARIANTS", "SURVEY_COLUMNS", "survey_splits", "summarize_survey", "compare_variants", "first_cut",
]
