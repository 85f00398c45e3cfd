"""The phantom's disease model: patient severity -> true erosion and JSN grade per joint (paper §3.1, Fig. 1).

The real collection (paper §3.1) has 330 patients, 42 of them normal, and its
score histograms (Fig. 1) show erosion counts falling off roughly
exponentially with the grade and JSN spread over all grades, with grades 2
and 4 rarer than 0, 1 and 3. The phantom draws true grades so that these
shapes come out, from an ordered-probit model:

- a patient is healthy with probability ``healthy_fraction`` (default 0.13 =
  42/330): every applicable grade is 0;
- otherwise the patient has a severity ``s ~ Beta(1.4, 2.2)`` in (0, 1);
- each site (hand h, joint j) gets a continuous damage

      latent_k = GAIN * s * w[k, j] + u_j + e_hj + eps_khj     (k = erosion or jsn)

  where ``w[k, j]`` is the site's susceptibility (RA hits MCP, PIP and the
  wrist/ulnar styloid early, DIP rarely), ``u_j ~ N(0, 0.45)`` is shared by
  the same joint of both hands (RA is symmetric), ``e_hj ~ N(0, 0.35)`` is
  shared by erosion and JSN of the same site (JSN tends to accompany
  erosion), and ``eps_khj ~ N(0, 0.45)`` is the kind's own noise;
- the grade is the number of thresholds ``THRESHOLDS[k]`` below the latent.

Within a patient the severity term makes all scores rise and fall together.
The thresholds were fitted once by `fit_thresholds` so that the grade
histogram over a large cohort matches `TARGET_DISTRIBUTION` (which is our
reading of Fig. 1; the paper gives no counts). Scores that do not apply to a
site are <NA> (pandas "Int64"), never 0.

Used by `render` (the truth of a radiograph when none is given), by `rheumabook.data` and by chapters 1-2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ..joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, SITES, applies

__all__ = [
    "HEALTHY_FRACTION", "TARGET_DISTRIBUTION", "SEVERITY_BETA", "GAIN", "SIGMA_PAIR", "SIGMA_SITE", "SIGMA_KIND",
    "SUSCEPTIBILITY", "THRESHOLDS", "PatientDisease", "sample_patient", "sample_truth", "sample_cohort",
    "grade_distribution", "fit_thresholds",
]

HEALTHY_FRACTION: float = 42 / 330
"""Share of normal patients in the paper's collection (§3.1: 42 of 330)."""

TARGET_DISTRIBUTION: dict[str, tuple[float, ...]] = {
    # Fig. 1a: "an exponential trend, with a marked decline in joint count as the score increases"
    # (successive grades about 0.4x as frequent; grade 5 collects the tail of complete collapse).
    "erosion": (0.60, 0.23, 0.095, 0.04, 0.02, 0.015),
    # Fig. 1b: "most narrowing categories appear consistently represented, except for scores two and four".
    "jsn": (0.40, 0.27, 0.09, 0.18, 0.06),
}
"""Share of each grade over all applicable sites of a cohort (healthy patients included); our reading of Fig. 1."""

SEVERITY_BETA: tuple[float, float] = (1.4, 2.2)
"""Beta(a, b) of a patient's severity: right-skewed, most patients mild, a few severe."""

GAIN: float = 3.0
"""How strongly severity drives the damage latent, relative to the unit-scale site noise."""

SIGMA_PAIR, SIGMA_SITE, SIGMA_KIND = 0.45, 0.35, 0.45
"""Standard deviations of the joint-pair, site (shared by both kinds) and kind-specific noise."""

# Susceptibility of each joint level to each kind of damage (scaled by GAIN * severity).
# RA typically erodes MCP 2-3, PIP, the ulnar styloid and the wrist early; DIP joints are mostly
# spared (DIP damage is more typical of osteoarthritis and psoriatic arthritis).
_LEVEL_WEIGHT: dict[str, dict[str, float]] = {
    "erosion": {"IP": 0.65, "DIP": 0.35, "PIP": 0.85, "MCP": 1.0, "CMC": 0.7, "wrist": 1.0},
    "jsn": {"IP": 0.7, "DIP": 0.45, "PIP": 0.9, "MCP": 0.95, "CMC": 0.85, "wrist": 1.0},
}
_JOINT_ADJUST: dict[str, float] = {"MCP2": 0.1, "MCP3": 0.1, "ulna": 0.05, "radiocarpal": -0.15, "MCP1": -0.15}


def _susceptibility(kind: str) -> np.ndarray:
    """(21,) float weights w[kind, joint] in JOINTS order (0 where the kind does not apply)."""
    return np.array(
        [(_LEVEL_WEIGHT[kind][s.level] + _JOINT_ADJUST.get(s.name, 0.0)) if applies(s.name, kind) else 0.0 for s in SITES]
    )


SUSCEPTIBILITY: dict[str, np.ndarray] = {kind: _susceptibility(kind) for kind in SCORE_KINDS}
"""Per kind, a (21,) array of site weights in JOINTS order (0 where the score does not apply)."""

THRESHOLDS: dict[str, np.ndarray] = {
    # Fitted by fit_thresholds(n_patients=40_000, seed=0); a test re-checks the resulting histogram.
    "erosion": np.array([0.9723, 1.7448, 2.2867, 2.697, 3.0851]),
    "jsn": np.array([0.4505, 1.2087, 1.4941, 2.3992]),
}
"""Cut points of the damage latent between successive grades (MAX_SCORE[kind] of them)."""

_APPLIES = {kind: np.array([applies(j, kind) for j in JOINTS]) for kind in SCORE_KINDS}


@dataclass(frozen=True)
class PatientDisease:
    """One phantom patient's disease: `severity` in [0, 1] (0 = healthy) and the true grades.

    `truth`: DataFrame with 42 rows (hands in HANDS order, joints in JOINTS order) and columns
    hand, joint, erosion, jsn; the scores are "Int64" with <NA> where a score does not apply.
    """

    severity: float
    healthy: bool
    truth: pd.DataFrame


def _draw_latents(rng: np.random.Generator, severity: np.ndarray) -> dict[str, np.ndarray]:
    """Damage latents of `n` patients: per kind an (n, 2, 21) float array (hands x JOINTS).

    Draw order is fixed (pair, site, then each kind's noise), so the same Generator state gives the same grades.
    """
    n = severity.shape[0]
    pair = rng.normal(0.0, SIGMA_PAIR, size=(n, 1, len(JOINTS)))
    site = rng.normal(0.0, SIGMA_SITE, size=(n, len(HANDS), len(JOINTS)))
    out = {}
    for kind in SCORE_KINDS:
        own = rng.normal(0.0, SIGMA_KIND, size=(n, len(HANDS), len(JOINTS)))
        out[kind] = GAIN * severity[:, None, None] * SUSCEPTIBILITY[kind][None, None, :] + pair + site + own
    return out


def _grades(latent: np.ndarray, kind: str) -> np.ndarray:
    """Integer grades 0..MAX_SCORE[kind] for a latent array: the number of thresholds strictly below it."""
    return np.searchsorted(THRESHOLDS[kind], latent, side="left").astype(np.int64)


def sample_patient(
    rng: np.random.Generator,
    *,
    healthy_fraction: float = HEALTHY_FRACTION,
    severity: Optional[float] = None,
) -> PatientDisease:
    """Draw one patient's severity and true grades (paper §3.1).

    Args:
        rng: the numpy Generator every draw comes from (same state -> same patient).
        healthy_fraction: probability that the patient is normal (all applicable grades 0).
        severity: force the severity in [0, 1] instead of drawing it (0 makes a healthy patient).
            The same number of random values is drawn either way, so the rest of the stream is unchanged.

    Returns:
        `PatientDisease` with `.severity`, `.healthy` and `.truth` (42 rows: hand, joint, erosion, jsn).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if not 0.0 <= healthy_fraction <= 1.0:
        raise ValueError(f"healthy_fraction must lie in [0, 1], got {healthy_fraction}")
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1] (0 = healthy), got {severity}")
    # Always draw the same values, whatever the options, so that patients stay aligned in a cohort.
    u_healthy = rng.random()
    drawn = float(rng.beta(*SEVERITY_BETA))
    latents = _draw_latents(rng, np.array([drawn if severity is None else severity]))
    healthy = (u_healthy < healthy_fraction) if severity is None else severity == 0.0
    sev = 0.0 if healthy else (drawn if severity is None else float(severity))
    columns = {"hand": np.repeat(np.array(HANDS, dtype=object), len(JOINTS)), "joint": np.tile(np.array(JOINTS, dtype=object), len(HANDS))}
    for kind in SCORE_KINDS:
        grades = np.zeros((len(HANDS), len(JOINTS)), dtype=np.int64) if healthy else _grades(latents[kind][0], kind)
        mask = np.broadcast_to(~_APPLIES[kind], grades.shape).ravel()
        columns[kind] = pd.array(np.where(mask, 0, grades.ravel()), dtype="Int64")
        columns[kind][mask] = pd.NA
    return PatientDisease(severity=sev, healthy=bool(healthy), truth=pd.DataFrame(columns))


def sample_truth(rng: np.random.Generator, **options) -> pd.DataFrame:
    """True grades of one patient: 42 rows (hand, joint) with columns hand, joint, erosion, jsn ("Int64", <NA> where n/a).

    Keyword options go to `sample_patient` (healthy_fraction, severity).
    """
    return sample_patient(rng, **options).truth


def sample_cohort(
    n_patients: int,
    rng: np.random.Generator,
    *,
    patient_ids: Optional[Sequence[str]] = None,
    healthy_fraction: float = HEALTHY_FRACTION,
) -> tuple[pd.DataFrame, pd.Series]:
    """True grades of `n_patients` patients, drawn one after another with `sample_patient`.

    Returns:
        truth: DataFrame patient_id, hand, joint, erosion, jsn (n_patients * 42 rows; "Int64", <NA> where n/a);
        severity: float Series indexed by patient_id (0 for healthy patients).
    Patient ids default to "P0000", "P0001", ... Used by tests and chapter 2.
    """
    if n_patients < 1:
        raise ValueError(f"n_patients must be at least 1, got {n_patients}")
    ids = [f"P{i:04d}" for i in range(n_patients)] if patient_ids is None else list(patient_ids)
    if len(ids) != n_patients or len(set(ids)) != n_patients:
        raise ValueError(f"patient_ids must hold {n_patients} distinct ids, got {len(ids)} ({len(set(ids))} distinct)")
    frames, sev = [], []
    for pid in ids:
        patient = sample_patient(rng, healthy_fraction=healthy_fraction)
        frames.append(patient.truth.assign(patient_id=pid))
        sev.append(patient.severity)
    truth = pd.concat(frames, ignore_index=True)[["patient_id", "hand", "joint", "erosion", "jsn"]]
    return truth, pd.Series(sev, index=pd.Index(ids, name="patient_id"), name="severity")


def grade_distribution(truth: pd.DataFrame, kind: str) -> pd.Series:
    """Share of each grade 0..MAX_SCORE[kind] among the non-missing `kind` scores of `truth` (chapters 1-2)."""
    if kind not in MAX_SCORE:
        raise ValueError(f"unknown score kind {kind!r}; expected one of {SCORE_KINDS}")
    values = truth[kind].dropna().astype(int)
    if values.empty:
        raise ValueError(f"truth has no non-missing {kind!r} scores")
    return values.value_counts(normalize=True).reindex(range(MAX_SCORE[kind] + 1), fill_value=0.0).rename_axis("grade")


def fit_thresholds(n_patients: int = 40_000, seed: int = 0) -> dict[str, np.ndarray]:
    """Re-derive `THRESHOLDS`: latent quantiles that give `TARGET_DISTRIBUTION` on a large cohort.

    Healthy patients contribute only zeros, so the diseased patients' grade-0 share is reduced
    accordingly before taking quantiles of their pooled latents. Slow-ish (seconds); used once to
    fix the constants and by the tests.
    """
    rng = np.random.default_rng(seed)
    severity = rng.beta(*SEVERITY_BETA, size=n_patients)
    latents = _draw_latents(rng, severity)
    out = {}
    for kind in SCORE_KINDS:
        values = latents[kind][:, :, _APPLIES[kind]].ravel()
        target = np.asarray(TARGET_DISTRIBUTION[kind], dtype=float)
        diseased = target.copy()
        diseased[0] -= HEALTHY_FRACTION
        diseased /= 1.0 - HEALTHY_FRACTION
        if diseased[0] <= 0:
            raise ValueError(f"target grade-0 share of {kind} is below the healthy fraction")
        out[kind] = np.quantile(values, np.cumsum(diseased)[:-1])
    return out
