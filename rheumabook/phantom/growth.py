"""Age as a patient variable: what a child's hand radiograph shows that an adult's does not.

A quarter of the phantom's patients are adolescents (14-16 years, open growth plates, a hand and
carpus nearly grown), the rest adults (18-80 years); `render(..., age=...)` fixes a patient's age
anywhere from 6 years, for a child. Younger children by default were measured (issue 20, chapter
4): on the phantom's own held-out hands the localiser's accuracy fell from 1.0 to 0.97, and on the
development hands (children's) nothing was gained, so the book's default cohort stays close to
the adult films its readers bring. From a patient's age follow, in round figures from the standard atlases of skeletal maturation
(Greulich and Pyle; not in ``hand-anatomy.md``, which describes adults):

- **Hand size** (`hand_size`): a six-year-old's hand is about 0.7 of an adult's length, a
  twelve-year-old's about 0.9; the hand grows to its adult size by about 17. The phantom scales
  the whole hand (its proportions stay the adult ones).
- **Open growth plates** (`physes_open`) until about 16: a lucent band across the bases of the
  phalanges, the heads of metacarpals 2-5, the base of the first and the distal radius and ulna
  (their epiphyses are separate bones, `wrist`).
- **The carpus ossifies in a fixed order** (`carpal_ossification`): capitate and hamate in the
  first year, the triquetrum at ~2.5, the lunate at ~4, trapezium, trapezoid and scaphoid at
  5-6, the pisiform and the hook of the hamate at ~10. Each centre starts small and round and
  reaches its adult size at about 15, so a child's carpal bones stand apart in wide cartilage
  spaces. The joint boxes stay on the adult carpus: where a site lies does not change.

The true grades do not depend on age (chapter 2's raters are unaffected).
"""
from __future__ import annotations

import numpy as np

__all__ = ["CHILD_SHARE", "CHILD_AGES", "ADULT_AGES", "AGE_RANGE", "PHYSIS_CLOSURE_YEARS", "CARPAL_ONSET_YEARS",
           "CARPAL_MATURE_YEARS", "age_from_uniform", "hand_size", "physes_open", "carpal_ossification"]

CHILD_SHARE = 0.25
"""Share of the patients who are adolescents (`CHILD_AGES`)."""
CHILD_AGES = (14.0, 16.0)
ADULT_AGES = (18.0, 80.0)
AGE_RANGE = (6.0, 80.0)
"""The ages `render`'s ``age`` option accepts (years)."""
PHYSIS_CLOSURE_YEARS = 16.0
"""The hand's growth plates are open below this age (they close at ~14-17, girls first)."""

_HAND_SIZE = ((6.0, 0.70), (8.0, 0.76), (10.0, 0.82), (12.0, 0.89), (14.0, 0.95), (16.0, 0.99), (17.0, 1.0))
"""(age in years, hand length / an adult's): round figures from growth charts of hand length."""

CARPAL_ONSET_YEARS: dict[str, float] = {
    "capitate": 0.2, "hamate": 0.3, "triquetrum": 2.5, "lunate": 4.0, "trapezium": 5.0, "trapezoid": 5.5,
    "scaphoid": 5.5, "pisiform": 10.0, "hook of the hamate": 10.0,
}
"""Age (years) at which each carpal ossification centre appears (Greulich-Pyle order)."""
CARPAL_MATURE_YEARS = 15.0
"""Age at which the carpal bones reach their adult size."""
_FIRST_SIZE = 0.3
"""A centre's size when it appears, x its adult size (linear)."""


def age_from_uniform(u: float) -> float:
    """The patient's age (years) from one uniform draw in [0, 1): below `CHILD_SHARE` an adolescent, uniform over
    `CHILD_AGES`; else an adult, uniform over `ADULT_AGES` (one draw, so the random stream after it is the same
    as when the phantom drew only whether the growth plates were open)."""
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must lie in [0, 1), got {u!r}")
    if u < CHILD_SHARE:
        lo, hi = CHILD_AGES
        return lo + (hi - lo) * u / CHILD_SHARE
    lo, hi = ADULT_AGES
    return lo + (hi - lo) * (u - CHILD_SHARE) / (1.0 - CHILD_SHARE)


def hand_size(age: float) -> float:
    """Hand length at `age` / an adult's (linear between the `_HAND_SIZE` figures; 1 from 17 on)."""
    ages, sizes = zip(*_HAND_SIZE)
    return float(np.interp(age, ages, sizes))


def physes_open(age: float) -> bool:
    """Whether the growth plates are still open at `age`."""
    return age < PHYSIS_CLOSURE_YEARS


def carpal_ossification(age: float) -> dict[str, float]:
    """Linear size of each carpal ossification centre at `age`, x its adult size (0: not yet ossified).

    A centre appears at `CARPAL_ONSET_YEARS` at `_FIRST_SIZE` and grows linearly to 1 at `CARPAL_MATURE_YEARS`.
    """
    out = {}
    for name, onset in CARPAL_ONSET_YEARS.items():
        if age < onset:
            out[name] = 0.0
            continue
        grown = min((age - onset) / (CARPAL_MATURE_YEARS - onset), 1.0)
        out[name] = _FIRST_SIZE + (1.0 - _FIRST_SIZE) * grown
    return out
