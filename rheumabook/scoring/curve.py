"""Chapter 5's learning curve: what more training patients buy the scorer.

The phantom renders as many patients as a budget buys (`profiles.ScoringPlan.train_patients`,
`data.stream_patients`), so the book can ask what the paper could not: how accuracy grows with
the number of labelled patients. `learning_curve` trains the profile's scorer (same config, same
epochs) on the first n training patients for each n in `sizes` (the chapter's own patients
first, then the scorer's phantom stream: each smaller set is a prefix of the larger ones) and
measures it on the held-out patients, with patient-bootstrap intervals. Epochs stay fixed, so a
larger set also means proportionally more optimisation steps, as it would in practice. Each
point's numbers are kept as JSON (`cache.cached_json`), so an interrupted chapter continues.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence, Union

import pandas as pd

from ..cache import cached_json, content_key, data_digest, source_fingerprint
from ..joints import SCORE_KINDS
from ..profiles import ScoringConfig
from .data import CropSet, ScoringData
from .evaluate import metric_row
from .train import Scorer, train_scorer

__all__ = ["curve_sizes", "learning_curve"]


def curve_sizes(sizes: Sequence[int], available: int) -> list[int]:
    """The learning curve's training-set sizes: `sizes` that are at most `available`, ascending, and
    `available` itself (the main scorer's point) when the list would otherwise stop short of it."""
    out = sorted({int(n) for n in sizes if 0 < int(n) <= available})
    return out if out and out[-1] == available else out + [int(available)]


def _point(data: ScoringData, train: CropSet, config: ScoringConfig, labels: str, n_boot: int,
           scorer: Optional[Scorer], device: str, progress: bool) -> dict:
    """One curve point: train (unless `scorer` is given), predict the held-out crops, metrics per kind and reference."""
    start = time.perf_counter()
    if scorer is None:
        scorer = train_scorer(train, config, labels=labels, device=device, progress=progress,
                              desc=f"{len(set(train.patients))} training patients")
    pred = scorer.predict(data.test.crops, device=device)
    out: dict = {"seconds": time.perf_counter() - start}
    for source in ("truth", "ds"):
        for kind in SCORE_KINDS:
            reference = data.test.labels(kind, source)
            if (reference >= 0).any():
                row = metric_row(reference, pred[kind], data.test.patients, n_boot=n_boot, seed=config.seed)
                out.update({f"{source}_{kind}_{m}": row[m] for m in ("accuracy", "accuracy_low", "accuracy_high",
                                                                      "mae", "mae_low", "mae_high")})
    return out


def learning_curve(data: ScoringData, config: ScoringConfig, sizes: Sequence[int], *, labels: str = "ds",
                   main: Optional[Scorer] = None, n_boot: int = 1000, cache: Union[str, Path, None] = None,
                   device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """Weighted accuracy and MAE on the held-out patients against the number of training patients.

    data: the chapter's `ScoringData` (its `train_patients` in order: the chapter's own, then the
    stream's). sizes: training-set sizes (`curve_sizes` adds the full set). main: the scorer
    already trained on all of them (the chapter's), reused for the last point instead of training
    it again. cache: a folder for each point's numbers (None: none kept). Returns one row per
    size: patients, crops, seconds (of training and prediction; a reused or cached point keeps
    the time it took), then <reference>_<kind>_<metric> for reference "truth" (the phantom's; absent
    on real data) and "ds", kind erosion / jsn, metric accuracy / mae with _low / _high.
    """
    from tqdm.auto import tqdm

    from .. import scoring, training

    rows = []
    code = source_fingerprint(scoring, training)
    for n in tqdm(curve_sizes(sizes, len(data.train_patients)), desc="learning curve", disable=not progress):
        train = data.train.of_patients(data.train_patients[:n])
        reuse = main if n == len(data.train_patients) else None
        key = content_key(code, config, labels, n_boot, data_digest(train.sites, train.crops, train.train),
                          data_digest(data.test.sites, data.test.crops, data.test.train))
        path = None if cache is None else Path(cache) / f"scoring-curve-{key}.json"
        numbers = cached_json(path, lambda: _point(data, train, config, labels, n_boot, reuse, device, progress),
                              required=["seconds"])
        rows.append({"patients": n, "crops": len(train), **numbers})
    return pd.DataFrame(rows)
