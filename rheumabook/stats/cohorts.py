"""Aggregates compared over many independent phantom cohorts, with intervals across cohorts (chapter 2).

One cohort is one draw of the phantom's disease model and raters: `n_patients` true grade sets
(`phantom.disease.sample_cohort`) scored by the three simulated radiologists
(`phantom.raters.simulate_scores`); no image is rendered. Each aggregate of `AGGREGATES` (majority
vote, Dawid-Skene, the ARISE-style rounded mean) is scored against the cohort's truth with the
weighted accuracy and MAE of paper §3.5 (`truth.against_truth`, point estimates).

A single cohort cannot rank two aggregates whose metrics differ by a few hundredths: the
difference moves from cohort to cohort. So the comparison is made on N cohorts, and each
contrast (e.g. Dawid-Skene minus majority vote) is summarised by the mean of its N PAIRED
differences (both aggregates scored on the same cohort) with a 95 % **Student-t interval across
cohorts**: mean +- t(0.975, N-1) * sd / sqrt(N). Cohorts are independent and identically drawn,
so their differences are i.i.d.; the t-interval is exact for normal differences and close for
N >= 10 otherwise. `differences` also says, per contrast, what the interval supports: the first
aggregate better, the second better, or "no difference measured" where the interval contains 0.

Cohort i's random stream is `SeedSequence([seed, COHORT_STREAM, i])`, split into one stream for
the truth and one for the raters: cohort i does not depend on how many cohorts are run (10
cohorts are a prefix of 20), and no cohort shares a stream with a chapter's data set
(`data.phantom_streams`). The same seed gives the same tables.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import aggregate
from ..phantom import disease, raters
from .truth import against_truth

__all__ = ["COHORT_STREAM", "AGGREGATES", "CONTRASTS", "BETTER", "cohort_scores", "compare_over_cohorts",
           "t_interval", "summarise", "differences"]

COHORT_STREAM: int = 0xC0407
"""Second entropy word of every comparison cohort's seed, so that its streams differ from other phantom streams."""

AGGREGATES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "majority vote": aggregate.majority_vote,
    "Dawid-Skene": aggregate.dawid_skene,
    "mean rounded": aggregate.mean_rounded,
}
"""The aggregates compared, by the method names the result tables use (the chapter's defaults)."""

CONTRASTS: tuple[tuple[str, str], ...] = (("Dawid-Skene", "majority vote"), ("Dawid-Skene", "mean rounded"))
"""Paired differences reported by default: (first, second) -> first minus second."""

BETTER: dict[str, int] = {"accuracy": +1, "mae": -1}
"""Which way is better for each metric: +1 higher (accuracy), -1 lower (MAE)."""

_NO_DIFFERENCE = "no difference measured"


def cohort_scores(index: int, n_patients: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Comparison cohort `index`: (truth, scores) of `n_patients` phantom patients (see the module docstring)."""
    if index < 0 or n_patients < 1:
        raise ValueError(f"need index >= 0 and n_patients >= 1, got {index} and {n_patients}")
    truth_seq, raters_seq = np.random.SeedSequence([int(seed), COHORT_STREAM, int(index)]).spawn(2)
    truth, _ = disease.sample_cohort(n_patients, np.random.default_rng(truth_seq))
    return truth, raters.simulate_scores(truth, np.random.default_rng(raters_seq))


def compare_over_cohorts(n_cohorts: int, n_patients: int, *, seed: int = 0,
                         aggregates: Mapping[str, Callable[[pd.DataFrame], pd.DataFrame]] | None = None,
                         progress: bool = True) -> pd.DataFrame:
    """Every aggregate scored against the truth on `n_cohorts` independent phantom cohorts.

    Args:
        n_cohorts, n_patients: how many cohorts, of how many patients each (e.g. `profile.data`'s
            comparison_cohorts and comparison_patients).
        seed: the comparison's seed (cohort streams as in the module docstring).
        aggregates: {method: function(scores) -> aggregated table}; default `AGGREGATES`.
        progress: a tqdm bar over the cohorts.
    Returns:
        Long DataFrame cohort (int), method, kind, metric ("accuracy" / "mae"), value: one row per
        cohort, method (given order), kind (SCORE_KINDS order) and metric.
    """
    from tqdm.auto import tqdm

    if n_cohorts < 2:
        raise ValueError(f"an interval across cohorts needs n_cohorts >= 2, got {n_cohorts}")
    aggregates = dict(AGGREGATES if aggregates is None else aggregates)
    frames = []
    for index in tqdm(range(n_cohorts), desc=f"aggregates on {n_cohorts} phantom cohorts", disable=not progress):
        truth, scores = cohort_scores(index, n_patients, seed)
        tables = {method: function(scores) for method, function in aggregates.items()}
        scored = against_truth(tables, truth, n_boot=0)
        frames.append(scored[["method", "kind", "metric", "estimate"]].rename(columns={"estimate": "value"})
                      .assign(cohort=index))
    return pd.concat(frames, ignore_index=True)[["cohort", "method", "kind", "metric", "value"]]


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval mean +- t((1 + level) / 2, n - 1) * sd / sqrt(n) of i.i.d. values."""
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size < 2 or np.isnan(x).any():
        raise ValueError(f"need at least two values and no NaN, got {x.size} values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    mean = float(x.mean())
    half = float(student_t.ppf((1.0 + level) / 2.0, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def _interval_rows(groups, level: float) -> list[dict]:
    """For each (key dict, values) of `groups`: the key plus n_cohorts, mean, sd, low, high."""
    rows = []
    for key, values in groups:
        mean, low, high = t_interval(values, level)
        rows.append({**key, "n_cohorts": len(values), "mean": mean, "sd": float(np.std(values, ddof=1)),
                     "low": low, "high": high})
    return rows


def _wide(per_cohort: pd.DataFrame) -> pd.DataFrame:
    """per_cohort as a table indexed by cohort with columns (method, kind, metric); refuses duplicates."""
    missing = {"cohort", "method", "kind", "metric", "value"} - set(per_cohort.columns)
    if missing:
        raise ValueError(f"per_cohort lacks columns {sorted(missing)}; pass the output of compare_over_cohorts")
    columns = list(dict.fromkeys(per_cohort[["method", "kind", "metric"]].itertuples(index=False, name=None)))
    wide = per_cohort.pivot(index="cohort", columns=["method", "kind", "metric"], values="value")
    return wide[pd.MultiIndex.from_tuples(columns, names=["method", "kind", "metric"])]  # in the input's order


def summarise(per_cohort: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Each (method, kind, metric) over the cohorts: n_cohorts, mean, sd and the t-interval low, high."""
    wide = _wide(per_cohort)
    groups = [(dict(zip(("method", "kind", "metric"), column)), wide[column].to_numpy()) for column in wide.columns]
    return pd.DataFrame(_interval_rows(groups, level))


def _verdict(first: str, second: str, metric: str, low: float, high: float) -> str:
    """What an interval of first - second supports: which is better, or no difference measured (0 inside)."""
    if low <= 0.0 <= high:
        return _NO_DIFFERENCE
    first_better = (low > 0.0) == (BETTER[metric] > 0)
    return f"{first if first_better else second} better"


def differences(per_cohort: pd.DataFrame, contrasts: Sequence[tuple[str, str]] = CONTRASTS,
                level: float = 0.95) -> pd.DataFrame:
    """Paired differences first - second per cohort, summarised with a t-interval across cohorts.

    Returns one row per (contrast, kind, metric), contrasts in the given order, with columns
    contrast ("first - second"), first, second, kind, metric, n_cohorts, mean, sd, low, high and
    verdict ("<first> better", "<second> better" or "no difference measured": 0 lies in [low, high]).
    For accuracy a positive difference favours `first`; for MAE a negative one does (`BETTER`).
    """
    wide = _wide(per_cohort)
    groups = []
    for first, second in contrasts:
        for kind, metric in wide[first].columns:
            key = {"contrast": f"{first} - {second}", "first": first, "second": second, "kind": kind, "metric": metric}
            groups.append((key, (wide[(first, kind, metric)] - wide[(second, kind, metric)]).to_numpy()))
    table = pd.DataFrame(_interval_rows(groups, level))
    table["verdict"] = [_verdict(r.first, r.second, r.metric, r.low, r.high) for r in table.itertuples()]
    return table
