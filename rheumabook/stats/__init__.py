"""Statistics of the book: scoring metrics, rater agreement, cohort statistics.

- `agreement`: the paper's "1 vs 2" rater agreement (Table 1 "Average expert").
- `metrics`: class-weighted accuracy / MAE (paper §3.5) and (cluster) bootstrap intervals.
- `cohort`: how alike a patient's joint scores are (`patient_icc`), which sites go together.
- `truth`: aggregates and single raters scored against a known truth (the phantom).
- `cohorts`: the aggregates compared over many phantom cohorts, paired differences with t-intervals.
- `totals`: agreement of per-patient totals (Bland-Altman bias and limits, r, the healthy patients).
"""
from . import agreement, cohort, cohorts, metrics, totals, truth
from .agreement import (PAPER_AVERAGE_EXPERT, PAPER_AVERAGE_EXPERT_SD, Reference, agreement_by_rater,
                        agreement_table, one_vs_two, paper_comparison)
from .cohort import patient_icc, site_correlation
from .cohorts import compare_over_cohorts, differences, summarise
from .metrics import bootstrap_ci, paired, weighted_accuracy, weighted_mae
from .totals import HEALTHY_TOTAL, totals_agreement
from .truth import against_truth, confusion_recovery, prior_recovery, raters_against_truth

__all__ = [
    "PAPER_AVERAGE_EXPERT", "PAPER_AVERAGE_EXPERT_SD", "Reference", "one_vs_two", "agreement_by_rater",
    "agreement_table", "paper_comparison", "agreement",
    "metrics", "cohort", "truth", "bootstrap_ci", "paired", "weighted_accuracy", "weighted_mae",
    "patient_icc", "site_correlation", "against_truth", "raters_against_truth", "confusion_recovery",
    "prior_recovery", "cohorts", "compare_over_cohorts", "summarise", "differences",
    "totals", "HEALTHY_TOTAL", "totals_agreement",
]
