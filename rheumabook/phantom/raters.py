"""The phantom's three simulated radiologists and the scores they write (paper §3.1, Table 1).

The real collection was scored by three radiologists with 5, 7 and 30 years
of experience (paper §3.1). The phantom simulates them as raters ``R1``
(5 years), ``R2`` (7 years) and ``R3`` (30 years). A rater is described by
*confusion matrices*: ``C[t, o]`` = probability that the rater writes grade
``o`` when the true grade is ``t`` (rows: true grade, columns: written grade;
each row sums to 1), built from a few numbers (`Rater`):

- ``slip``: how often the rater writes a wrong grade, scaled per true grade by
  `DIFFICULTY` (a normal joint is easy to call, the middle grades are hard);
- ``up``: the share of slips that go upwards: R1 scores high, R2 scores low,
  R3 is unbiased. A slip with no room (below 0, above the maximum) stays on
  the true grade, so a low-scoring rater is very reliable on normal joints;
- ``far``: the share of slips that miss by two grades or more (scaled by
  `FAR_SHAPE`), geometric in the distance (`FAR_DECAY`).

Real disagreement is not independent from joint to joint: some sites are
*ambiguous* (overlapping bones, a large erosion whose grade sums the damage
of both bone ends, hand-anatomy.md) and every reader struggles with them. So a
share `AMBIGUITY[kind][t]` of the sites with true grade ``t`` is ambiguous
(the same sites for all raters); there each rater slips with probability
``ambiguous_slip`` and misses far with share ``ambiguous_far``. A rater's true
confusion matrix (`confusion_matrix`, ``sites="all"``) is the mixture of its
clear-site and ambiguous-site matrices. Dawid-Skene assumes raters err
independently given the truth; the shared ambiguity breaks that assumption,
as real data does (chapter 2 shows what that costs).

The paper's agreement numbers need this: the Table 1 "Average expert" erosion
MAE (0.48) is 2.3 times its error rate (1 - 0.79), so when experts disagree
on erosion they disagree by two grades or more on average (class-weighted);
independent +/-1 slips cannot produce that. JSN slips are almost all +/-1
(its MAE 0.25 is about its error rate 0.24); for erosion the calibration
leaves few +/-1 slips (clear sites) and puts most disagreement on ambiguous
sites, where a miss is two grades or more.

Each rater also leaves some scores out (``missing``: single scores;
``missing_hand``: a whole hand): those rows are absent from the scores.

The numbers were CALIBRATED (`CALIBRATION`, re-checked by a test) so that on
the phantom's disease model the raters' "1 vs 2" agreement
(`rheumabook.stats.agreement.agreement_table`)
matches the paper's Table 1 "Average expert" row within +/-0.05. That
agreement is therefore built into the phantom; it is not a finding.

Used by `rheumabook.data` (writing the phantom data set) and chapter 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from ..joints import MAX_SCORE, SCORE_KINDS
from ..schema import check_truth

__all__ = [
    "DIFFICULTY", "FAR_SHAPE", "FAR_DECAY", "AMBIGUITY_SHAPE", "CALIBRATION", "Rater", "build_raters", "RATERS",
    "ambiguity", "confusion_matrix", "true_confusion", "simulate_scores",
]

DIFFICULTY: dict[str, tuple[float, ...]] = {
    # erosion 0..5: a normal joint is easy to call; grades 1-4 hinge on "how large"; 5 (collapse) is clearer.
    "erosion": (0.2, 1.0, 1.0, 1.0, 1.0, 0.6),
    # jsn 0..4: 1 ("focal or doubtful") and 2 (more than half the space left) are the hard calls; 4 (ankylosis) is clear.
    "jsn": (0.3, 1.1, 1.5, 1.0, 0.7),
}
"""Relative slip rate per true grade on a clear site (multiplies a rater's ``slip``)."""

FAR_SHAPE: dict[str, tuple[float, ...]] = {
    "erosion": (0.1, 0.3, 0.6, 1.0, 1.0, 1.0),
    "jsn": (0.0, 0.3, 0.6, 1.0, 1.0),
}
"""Relative share of slips that miss by two grades or more, per true grade (multiplies ``far``)."""

FAR_DECAY: float = 0.8
"""A far slip misses by 2 + k grades with probability proportional to FAR_DECAY**k (within the scale)."""

AMBIGUITY_SHAPE: dict[str, tuple[float, ...]] = {
    # Ambiguity grows with the damage: a normal joint is rarely ambiguous, a large erosion often.
    "erosion": (0.0, 0.2, 1.0, 1.0, 1.0, 1.0),
    "jsn": (0.2, 0.8, 1.0, 0.8, 0.4),
}
"""Relative share of ambiguous sites per true grade (multiplied by CALIBRATION[kind]["ambiguity"])."""

CALIBRATION: dict[str, dict[str, float]] = {
    "erosion": {"slip": 0.05, "far": 0.15, "ambiguity": 0.29, "ambiguous_slip": 0.85, "ambiguous_far": 1.0},
    "jsn": {"slip": 0.166, "far": 0.05, "ambiguity": 0.15, "ambiguous_slip": 0.37, "ambiguous_far": 0.0},
}
"""Base rates per kind, calibrated so that `stats.agreement.agreement_table` on the phantom matches Table 1 "Average expert".

slip / far: clear sites (x DIFFICULTY / FAR_SHAPE and the rater's experience factor);
ambiguity: share of ambiguous sites (x AMBIGUITY_SHAPE); ambiguous_slip / ambiguous_far: rates there.
How: the shapes and the far shares were fixed by judgement, then per kind the two remaining numbers
were grid-searched on 6 phantom cohorts of 400 patients (disease.sample_cohort). Over 12 other
cohorts of 300 patients the 1-vs-2 agreement averages erosion 0.781 / 0.478 and JSN 0.767 / 0.252
(accuracy / MAE; cohort-to-cohort range about +/-0.02 and +/-0.04 for the erosion MAE); with the
quick profile's 60 patients the erosion MAE varies by about +/-0.09.
"""


@dataclass(frozen=True)
class Rater:
    """One simulated radiologist: error rates per score kind and how often scores are left out."""

    expert_id: str
    years: int  # experience, paper §3.1
    slip: dict[str, float]  # per kind: base probability of a wrong grade on a clear site (x DIFFICULTY[kind][t])
    far: dict[str, float]  # per kind: base share of far slips on a clear site (x FAR_SHAPE[kind][t])
    ambiguous_slip: dict[str, float]  # per kind: probability of a wrong grade on an ambiguous site
    ambiguous_far: dict[str, float]  # per kind: share of far slips on an ambiguous site
    up: float  # share of slips that go upwards (0.5 = unbiased)
    missing: float = 0.02  # probability that a single score is left out
    missing_hand: float = 0.01  # probability that a whole hand (all its scores) is left out


# Experience orders the error rates: R1 (junior) over-scores, R2 under-scores, R3 (senior) is the most
# reliable and unbiased. Per rater: (expert_id, years, error factor, up, missing, missing_hand).
_EXPERIENCE = (
    ("R1", 5, 1.25, 0.8, 0.03, 0.01),
    ("R2", 7, 1.1, 0.25, 0.02, 0.01),
    ("R3", 30, 0.65, 0.5, 0.01, 0.005),
)


def build_raters(calibration: dict[str, dict[str, float]] = CALIBRATION) -> tuple[Rater, ...]:
    """The three raters R1-R3 for given base rates per kind (`CALIBRATION` layout), scaled by experience."""
    def scaled(key: str, factor: float) -> dict[str, float]:
        return {kind: min(0.95, factor * calibration[kind][key]) for kind in SCORE_KINDS}

    return tuple(
        Rater(eid, years, slip=scaled("slip", f), far=scaled("far", 1.0), ambiguous_slip=scaled("ambiguous_slip", f),
              ambiguous_far=scaled("ambiguous_far", 1.0), up=up, missing=miss, missing_hand=miss_hand)
        for eid, years, f, up, miss, miss_hand in _EXPERIENCE
    )


RATERS: tuple[Rater, ...] = build_raters()
"""The three phantom radiologists (paper §3.1: 5, 7 and 30 years of experience)."""


def ambiguity(kind: str, calibration: dict[str, dict[str, float]] = CALIBRATION) -> np.ndarray:
    """(K,) share of ambiguous sites per true grade of `kind` (the same for every rater)."""
    return np.minimum(1.0, calibration[kind]["ambiguity"] * np.asarray(AMBIGUITY_SHAPE[kind], dtype=float))


def _magnitudes(room: int, far: float) -> np.ndarray:
    """Probabilities of missing by 1..room grades in one direction: 1 - far for one grade, the rest geometric."""
    if room == 1:
        return np.array([1.0])
    tail = FAR_DECAY ** np.arange(room - 1)
    return np.concatenate([[1.0 - far], far * tail / tail.sum()])


def _slip_matrix(slip: np.ndarray, far: np.ndarray, up: float) -> np.ndarray:
    """(K, K) confusion matrix from per-true-grade slip rates and far shares (length K each)."""
    k = slip.shape[0]
    matrix = np.diag(1.0 - slip)
    for t in range(k):
        for direction, share in ((+1, up), (-1, 1.0 - up)):
            room = (k - 1 - t) if direction > 0 else t
            if room == 0:  # nowhere to slip to: the rater writes the true grade
                matrix[t, t] += slip[t] * share
                continue
            for m, p in enumerate(_magnitudes(room, far[t]), start=1):
                matrix[t, t + direction * m] += slip[t] * share * p
    return matrix


def confusion_matrix(
    rater: Rater,
    kind: str,
    *,
    sites: Literal["all", "clear", "ambiguous"] = "all",
    calibration: dict[str, dict[str, float]] = CALIBRATION,
) -> np.ndarray:
    """True confusion matrix of `rater` for `kind`: (K, K) float, rows = true grade, columns = written grade.

    K = MAX_SCORE[kind] + 1; every row sums to 1. ``sites="all"`` (default) is what the rater does on
    average (the mixture of clear and ambiguous sites, weighted by `ambiguity`); "clear" and
    "ambiguous" give the two parts.
    """
    if kind not in MAX_SCORE:
        raise ValueError(f"unknown score kind {kind!r}; expected one of {SCORE_KINDS}")
    k = MAX_SCORE[kind] + 1
    clear = _slip_matrix(
        np.minimum(0.95, rater.slip[kind] * np.asarray(DIFFICULTY[kind])),
        np.minimum(0.95, rater.far[kind] * np.asarray(FAR_SHAPE[kind])),
        rater.up,
    )
    hard = _slip_matrix(np.full(k, rater.ambiguous_slip[kind]), np.full(k, rater.ambiguous_far[kind]), rater.up)
    if sites == "clear":
        return clear
    if sites == "ambiguous":
        return hard
    if sites != "all":
        raise ValueError(f"sites must be 'all', 'clear' or 'ambiguous', got {sites!r}")
    a = ambiguity(kind, calibration)[:, None]
    return (1.0 - a) * clear + a * hard


def true_confusion(
    raters: Sequence[Rater] = RATERS, calibration: dict[str, dict[str, float]] = CALIBRATION
) -> dict[str, dict[str, np.ndarray]]:
    """All true confusion matrices: {kind: {expert_id: (K, K) array, rows true, columns written}} (chapter 2)."""
    return {kind: {r.expert_id: confusion_matrix(r, kind, calibration=calibration) for r in raters}
            for kind in SCORE_KINDS}


def simulate_scores(
    truth: pd.DataFrame,
    rng: np.random.Generator,
    *,
    raters: Sequence[Rater] = RATERS,
    calibration: dict[str, dict[str, float]] = CALIBRATION,
) -> pd.DataFrame:
    """Scores written by the simulated radiologists for the true grades in `truth` (paper §3.1).

    Args:
        truth: DataFrame patient_id, hand, joint, erosion, jsn (grades "Int64"/int, <NA> where n/a).
        rng: numpy Generator; the same state gives the same scores.
        raters: the raters to simulate (default `RATERS`: R1, R2, R3).
        calibration: supplies the share of ambiguous sites (`ambiguity`).
    Returns:
        Long DataFrame with columns patient_id, hand, joint, expert_id, kind, score (int64): one row per
        applicable site, rater and kind, minus the scores the raters left out (rows absent). Rows are
        in truth order, then kind, then rater.
    """
    truth = check_truth(truth)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    truth = truth.reset_index(drop=True)
    hand_key = truth["patient_id"].astype(str) + "\x00" + truth["hand"].astype(str)
    hand_codes, hand_uniques = pd.factorize(hand_key)
    # Fixed draw order: hands left out, site ambiguity (one uniform per site, shared by both kinds, so a
    # site that is hard to read for erosion tends to be hard for JSN too), then per kind and rater.
    hand_drop = {r.expert_id: rng.random(len(hand_uniques)) < r.missing_hand for r in raters}
    u_site = rng.random(len(truth))
    frames = []
    for kind in SCORE_KINDS:
        grades = pd.to_numeric(truth[kind], errors="coerce")
        rows = np.flatnonzero(grades.notna().to_numpy())
        true_grade = grades.to_numpy(dtype=float, na_value=np.nan)[rows].astype(np.int64)
        hard = u_site[rows] < ambiguity(kind, calibration)[true_grade]
        for rater in raters:
            cdf_clear = np.cumsum(confusion_matrix(rater, kind, sites="clear"), axis=1)
            cdf_hard = np.cumsum(confusion_matrix(rater, kind, sites="ambiguous"), axis=1)
            cdf = np.where(hard[:, None], cdf_hard[true_grade], cdf_clear[true_grade])
            u = rng.random(rows.size)
            written = np.minimum((u[:, None] >= cdf).sum(axis=1), MAX_SCORE[kind])
            keep = (rng.random(rows.size) >= rater.missing) & ~hand_drop[rater.expert_id][hand_codes[rows]]
            sel = rows[keep]
            frames.append(pd.DataFrame({
                "row": sel,
                "patient_id": truth["patient_id"].to_numpy()[sel],
                "hand": truth["hand"].to_numpy()[sel],
                "joint": truth["joint"].to_numpy()[sel],
                "expert_id": rater.expert_id,
                "kind": kind,
                "score": written[keep].astype(np.int64),
            }))
    scores = pd.concat(frames, ignore_index=True)
    kind_order = scores["kind"].map({k: i for i, k in enumerate(SCORE_KINDS)})
    rater_order = scores["expert_id"].map({r.expert_id: i for i, r in enumerate(raters)})
    order = np.lexsort((rater_order.to_numpy(), kind_order.to_numpy(), scores["row"].to_numpy()))
    return scores.iloc[order].drop(columns="row").reset_index(drop=True)
