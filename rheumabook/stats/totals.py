"""Agreement of per-patient totals (chapter 7): Bland-Altman bias and limits, Pearson r, the healthy patients.

`totals_agreement(predicted, truth)` gives what chapter 7 reads off its scatter and Bland-Altman
plot (Bland & Altman 1986): the bias (mean of predicted - true) with its 95 % confidence interval
(bias +- t(n-1) SD / sqrt(n), Bland & Altman 1999: how well these patients pin the bias down), the
SD of the differences (ddof = 1), the 95 % limits of agreement (bias +- 1.96 SD: where one
patient's difference falls), Pearson's r, and the median
predicted total of the patients whose true total is at most `healthy` (what a trial would see
of its least damaged patients). `viz.pipeline.bland_altman` draws the same numbers.
"""
from __future__ import annotations

import numpy as np

__all__ = ["HEALTHY_TOTAL", "totals_agreement"]

HEALTHY_TOTAL = 5
"""A patient whose true total Sharp score is at most this counts as healthy in `totals_agreement`."""


def totals_agreement(predicted: np.ndarray, truth: np.ndarray, *, healthy: float = HEALTHY_TOTAL) -> dict[str, float]:
    """{bias, bias_low, bias_high, sd, lower, upper, r, n, healthy_n, healthy_median} of predicted against true totals.

    bias_low, bias_high: the bias's 95 % t-interval; r is nan when either side is constant;
    healthy_median is nan without a healthy patient; sd and the intervals are nan for one patient.
    """
    from scipy.stats import t as student_t

    p, t = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if p.shape != t.shape or p.ndim != 1 or not len(p):
        raise ValueError(f"need two equal-length non-empty 1-D arrays of totals, got {p.shape} and {t.shape}")
    diff = p - t
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else float("nan")
    r = float(np.corrcoef(p, t)[0, 1]) if len(p) > 1 and p.std() > 0 and t.std() > 0 else float("nan")
    half = float(student_t.ppf(0.975, len(diff) - 1) * sd / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    well = t <= healthy
    return {"bias": bias, "bias_low": bias - half, "bias_high": bias + half, "sd": sd, "lower": bias - 1.96 * sd,
            "upper": bias + 1.96 * sd, "r": r, "n": int(len(p)), "healthy_n": int(well.sum()),
            "healthy_median": float(np.median(p[well])) if well.any() else float("nan")}
