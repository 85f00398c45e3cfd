"""Label efficiency: does self-supervised pretraining help when labels are scarce? (chapter 6, paper App. B)

Pretraining is meant to pay where labels are few: the paper fine-tuned with all 330 patients and
reported its effect on that one size. Chapter 6 asks the question the phantom can answer, at
several sizes: the scorer is fine-tuned with and without the pretrained encoder on the first n
labelled training patients, for each n of `profiles.LabelEfficiencyPlan.sizes` and each of its
seeds, with chapter 5's recipe otherwise (`scoring.train_scorer`).

- `efficiency_runs` trains every (arm, seed, size) and keeps each run's held-out predictions
  as JSON (`cache.cached_json`, keyed by the code, the config with its encoder file, the labels and
  the data), so a re-run or an interrupted chapter trains nothing twice.
- `efficiency_table` summarises them per (size, reference, kind): each arm's weighted accuracy
  averaged over the seeds, and the paired difference (with - without), with patient-bootstrap 95 %
  intervals. The seeds' predictions are stacked on the same held-out sites before resampling: the
  pooled per-grade recall of the stack is the mean of the seeds' recalls (every seed scores the
  same sites), so the estimate is the seeds' mean and one patient resample moves all seeds' copies
  of a patient together. The interval is over patients given these seeds; the per-seed differences
  are listed beside it, so the reader sees the seeds' spread as well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..cache import cached_json, content_key, data_digest, source_fingerprint
from ..joints import SCORE_KINDS

__all__ = ["ARMS", "efficiency_sizes", "efficiency_runs", "efficiency_table"]

ARMS: tuple[str, ...] = ("without", "with")
"""The two arms of every comparison: random initial backbone weights, and the pretrained encoder."""


def efficiency_sizes(sizes: Sequence[int], available: int) -> list[int]:
    """The sizes to run, ascending: each of `sizes` capped at `available`; 0 stands for all `available`."""
    if available < 1:
        raise ValueError("label efficiency needs at least one labelled training patient")
    if not sizes or any(int(n) < 0 for n in sizes):
        raise ValueError(f"sizes must be a non-empty list of patient counts >= 0 (0 = all), got {list(sizes)}")
    return sorted({available if int(n) == 0 else min(int(n), available) for n in sizes})


def _run(data: Any, n: int, config: Any, labels: str, device: str, progress: bool, desc: str) -> dict:
    """Train on the first n training patients; the held-out predictions per kind as lists."""
    from ..scoring import train_scorer

    train = data.train.of_patients(data.train_patients[:n])
    scorer = train_scorer(train, config, labels=labels, device=device, progress=progress, desc=desc)
    pred = scorer.predict(data.test.crops, device=device)
    return {"seconds": scorer.seconds, **{kind: np.asarray(pred[kind]).astype(int).tolist() for kind in pred}}


def efficiency_runs(data: Any, without: Any, with_: Any, sizes: Sequence[int], seeds: Sequence[int], *,
                    labels: str = "ds", cache: Union[str, Path, None] = None, device: str = "cpu",
                    progress: bool = True) -> pd.DataFrame:
    """Fine-tune without and with pretraining for every seed and size; the held-out predictions of each run.

    data: chapter 5's `scoring.ScoringData` (its `train_patients` in order, the chapter's own first).
    without, with_: the two arms' `ScoringConfig` (`with_` names the pretrained encoder in
    `backbone_weights`, `pretrained_scoring_config`); each run replaces only the seed. sizes: patient
    counts (`efficiency_sizes`: 0 = all). cache: a folder for each run's JSON (None: nothing kept).
    Returns one row per (arm, seed, patients): seconds (training), and one column per score kind
    holding the (N,) predicted grades on `data.test`'s crops.
    """
    from tqdm.auto import tqdm

    from .. import scoring, training

    if without.backbone_weights or not with_.backbone_weights:
        raise ValueError("`without` must start from random weights and `with_` from a pretrained encoder "
                         "(ScoringConfig.backbone_weights)")
    if not seeds:
        raise ValueError("label efficiency needs at least one seed")
    code = source_fingerprint(scoring, training)
    test_digest = data_digest(data.test.sites, data.test.crops)
    plan = [(arm, int(s), n) for n in efficiency_sizes(sizes, len(data.train_patients)) for s in seeds for arm in ARMS]
    rows = []
    for arm, seed, n in tqdm(plan, desc="label efficiency", disable=not progress):
        config = (without if arm == "without" else with_).replace(seed=seed)
        train = data.train.of_patients(data.train_patients[:n])
        key = content_key(code, config, labels, data_digest(train.sites, train.crops, train.train), test_digest)
        path = None if cache is None else Path(cache) / f"label-efficiency-{key}.json"
        found = cached_json(path, lambda: _run(data, n, config, labels, device, False,
                                               f"{arm} pretraining, {n} patients, seed {seed}"),
                            required=["seconds", *SCORE_KINDS])
        rows.append({"arm": arm, "seed": seed, "patients": n, "seconds": found["seconds"],
                     **{kind: np.asarray(found[kind], dtype=int) for kind in SCORE_KINDS}})
    return pd.DataFrame(rows)


def efficiency_table(runs: pd.DataFrame, test: Any, sources: Mapping[str, str], *, n_boot: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """Per (patients, reference, kind): both arms' seed-mean weighted accuracy and the paired difference.

    runs: `efficiency_runs`' table. test: the held-out `scoring.CropSet` the runs predicted.
    sources: {reference name: label source}, e.g. {"truth": "truth", "DS labels": "ds"}.
    Columns: patients, reference, kind, seeds, accuracy_without / accuracy_with (with _low / _high),
    difference (with - without) with difference_low / _high, verdict, and seed_differences (the
    per-seed differences, seeds in order). Intervals resample patients (`scoring.difference_row`).
    """
    from ..scoring import difference_row, metric_row, site_accuracy

    if runs.empty:
        raise ValueError("no label-efficiency runs to summarise")
    rows = []
    for n, at in runs.groupby("patients", sort=True):
        seeds = sorted(set(at["seed"]))
        by = {(r.arm, r.seed): r for r in at.itertuples()}
        missing = [(arm, s) for arm in ARMS for s in seeds if (arm, s) not in by]
        if missing:
            raise ValueError(f"{n} patients: runs missing for (arm, seed) {missing}")
        patients = np.tile(np.asarray(test.patients, dtype=object), len(seeds))
        for name, source in sources.items():
            for kind in SCORE_KINDS:
                truth = test.labels(kind, source)
                if not (truth >= 0).any():
                    continue
                stack = {arm: np.concatenate([getattr(by[(arm, s)], kind) for s in seeds]) for arm in ARMS}
                reference = np.tile(truth, len(seeds))
                row: dict[str, Any] = {"patients": int(n), "reference": name, "kind": kind, "seeds": len(seeds)}
                for arm in ARMS:
                    m = metric_row(reference, stack[arm], patients, n_boot=n_boot, seed=seed)
                    row.update({f"accuracy_{arm}{end}": m[f"accuracy{end}"] for end in ("", "_low", "_high")})
                d = difference_row(reference, stack["with"], stack["without"], patients, n_boot=n_boot, seed=seed)
                per_seed = [site_accuracy(truth, getattr(by[("with", s)], kind))
                            - site_accuracy(truth, getattr(by[("without", s)], kind))
                            for s in seeds]
                rows.append({**row, "difference": d["accuracy"], "difference_low": d["accuracy_low"],
                             "difference_high": d["accuracy_high"], "verdict": d["verdict"],
                             "seed_differences": per_seed})
    return pd.DataFrame(rows)
