"""Statistics that describe a cohort's scores (chapter 1): how alike one patient's joints are, and which sites go together.

- `patient_icc`: the share of the variance of joint scores that lies between patients (ICC(1));
- `site_correlation`: Spearman correlation across patients between the scores of two sites.

Both take a truth table (wide: erosion, jsn columns) or long expert scores (averaged over experts
per site first); see `rheumabook.data.to_long`.
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from ..data.tables import to_long
from ..joints import HANDS, sites_for
from ..schema import KEY_COLUMNS

__all__ = ["patient_icc", "site_correlation"]


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
    site = long.groupby(list(KEY_COLUMNS))["score"].mean().astype(float)
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
    site = long.groupby(list(KEY_COLUMNS))["score"].mean().astype(float).reset_index()
    site["site"] = site["joint"] if hand is not None else site["hand"] + " " + site["joint"]
    wide = site.pivot(index="patient_id", columns="site", values="score")
    order = [j if hand is not None else f"{h} {j}" for h in ([hand] if hand else HANDS) for j in sites_for(kind)]
    wide = wide.reindex(columns=[c for c in order if c in wide.columns])
    return wide.corr(method="spearman")

