"""Table 1 at the book's scale (paper §4.2, Table 1): the one assembly chapters 5 and 7 share.

`table1` measures each model's grades on a set of held-out sites against every reference the
data has (the phantom's truth; the experts' Dawid-Skene labels), beside the majority-class
baseline, the simulated experts pooled ("Average expert") and the paper's own "1 vs 2" expert
row, each a `metric_row` (weighted accuracy and MAE, patient-bootstrap intervals). The result,
a `Table1`, looks rows up by exact labels (`row`), prints the paper's layout (`wide`) and gives a
chapter its headline numbers (`headline`). `on_sites` carries grades predicted on the crops of
other boxes (the localiser's) back onto the sites of the true boxes, so both rows share one
set of joints; `paper_table` prints the paper's Tables 1 and 3 as they are printed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..joints import SCORE_KINDS
from ..schema import KEY_COLUMNS
from .evaluate import (PAPER_TABLE1, evaluation_table, expert_predictions, interval_text, majority_baseline,
                       metric_row, one_vs_two_rows, pooled)

__all__ = ["MAJORITY", "EXPERTS", "ONE_VS_TWO", "REFERENCES", "Table1", "table1", "on_sites", "paper_table"]

MAJORITY = "majority-class baseline"
"""The row of the most frequent training grade, predicted everywhere."""
EXPERTS = "Average expert (3 simulated, pooled)"
"""The row of the three simulated experts' own grades, pooled, against each reference."""
ONE_VS_TWO = "Average expert (1 vs 2)"
"""The paper's expert row: each expert against the rounded mean of the other two (`one_vs_two_rows`)."""
REFERENCES: dict[str, str] = {"truth": "truth", "ds": "DS labels"}
"""Label source (`scoring.LABEL_SOURCES`) -> the reference's name in the table."""


def on_sites(predictions: Mapping[str, np.ndarray], source: pd.DataFrame, target: pd.DataFrame) -> dict[str, np.ndarray]:
    """{kind: grades on `target`'s rows}: `predictions` made on `source`'s rows, matched by (patient, hand, joint).

    A target site that `source` lacks (a hand the localiser did not see) gets -1 (missing).
    """
    def keys(sites: pd.DataFrame) -> pd.MultiIndex:
        return pd.MultiIndex.from_frame(sites[list(KEY_COLUMNS)].astype(str))

    position = pd.Series(np.arange(len(source)), index=keys(source)).reindex(keys(target)).to_numpy()
    found = ~np.isnan(position)
    at = np.nan_to_num(position).astype(np.int64)
    return {kind: np.where(found, np.asarray(pred)[at], -1).astype(np.int64) for kind, pred in predictions.items()}


@dataclass
class Table1:
    """A Table 1: one row per (model, reference, kind) with `metric_row`'s columns."""

    table: pd.DataFrame

    def row(self, model: str, reference: str, kind: str) -> pd.Series:
        """The row of `model` against `reference` for `kind` (exact labels); KeyError naming what exists."""
        t = self.table
        hit = t[(t["model"] == model) & (t["reference"] == reference) & (t["kind"] == kind)]
        if len(hit) != 1:
            raise KeyError(f"no single row ({model!r}, {reference!r}, {kind!r}); the table has models "
                           f"{list(dict.fromkeys(t['model']))} and references {list(dict.fromkeys(t['reference']))}")
        return hit.iloc[0]

    @property
    def references(self) -> list[str]:
        """The references the models were measured against (no "other two experts")."""
        return [r for r in REFERENCES.values() if r in set(self.table["reference"])]

    def wide(self) -> pd.DataFrame:
        """The paper's layout: rows (model, reference), columns '<kind> accuracy' / '<kind> MAE', 'value [low, high]'."""
        t = self.table.assign(acc=self.table.apply(lambda r: interval_text(r, "accuracy"), axis=1),
                              mae=self.table.apply(lambda r: interval_text(r, "mae"), axis=1))
        w = t.pivot_table(index=["model", "reference"], columns="kind", values=["acc", "mae"], aggfunc="first",
                          sort=False)
        w.columns = [f"{kind} {'accuracy' if m == 'acc' else 'MAE'}" for m, kind in w.columns]
        return w[[f"{k} {m}" for k in SCORE_KINDS for m in ("accuracy", "MAE")]]

    def headline(self, model: str) -> dict[str, float]:
        """The numbers a chapter records for `model`, per kind and reference tag ("truth", "ds"):
        accuracy_<kind>_<tag> (with _low, _high), mae_<kind>_<tag>, majority_accuracy_<kind>_<tag>,
        margin_over_majority_<kind>_<tag>, expert_accuracy_<kind>_<tag>; and expert_1vs2_accuracy_<kind>."""
        out: dict[str, float] = {}
        for kind in SCORE_KINDS:
            for tag, reference in REFERENCES.items():
                if reference not in self.references:
                    continue
                ours, majority = self.row(model, reference, kind), self.row(MAJORITY, reference, kind)
                out[f"accuracy_{kind}_{tag}"] = float(ours["accuracy"])
                out[f"accuracy_{kind}_{tag}_low"] = float(ours["accuracy_low"])
                out[f"accuracy_{kind}_{tag}_high"] = float(ours["accuracy_high"])
                out[f"mae_{kind}_{tag}"] = float(ours["mae"])
                out[f"majority_accuracy_{kind}_{tag}"] = float(majority["accuracy"])
                out[f"margin_over_majority_{kind}_{tag}"] = float(ours["accuracy"] - majority["accuracy"])
                out[f"expert_accuracy_{kind}_{tag}"] = float(self.row(EXPERTS, reference, kind)["accuracy"])
            out[f"expert_1vs2_accuracy_{kind}"] = float(self.row(ONE_VS_TWO, "other two experts", kind)["accuracy"])
        return out


def table1(models: Mapping[str, Mapping[str, np.ndarray]], sites: pd.DataFrame, scores: pd.DataFrame,
           train_labels: Mapping[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0) -> Table1:
    """Table 1 on held-out `sites` (`scoring.site_labels` rows: truth_<kind>, ds_<kind>, patient_id).

    models: {row label: {kind: (N,) grades on `sites`' rows, -1 missing}}. scores: the experts'
    long score table (their own grades and the "1 vs 2" row on these sites). train_labels:
    {kind: training labels}, whose most frequent grade is the majority-class baseline.
    References: the truth where the sites have one (the phantom), then the DS labels.
    """
    patients = sites["patient_id"].astype(str).to_numpy()
    references = {}
    for tag, name in REFERENCES.items():
        labels = {k: sites[f"{tag}_{k}"].to_numpy(dtype=np.int64) for k in SCORE_KINDS}
        if any((v >= 0).any() for v in labels.values()):
            references[name] = labels
    rows = {**models, MAJORITY: majority_baseline(train_labels, len(sites))}
    experts = expert_predictions(scores, sites)
    pooled_rows = [{"model": EXPERTS, "reference": name, "kind": kind,
                    **metric_row(*pooled(experts, reference, patients, kind), n_boot=n_boot, seed=seed)}
                   for name, reference in references.items() for kind in SCORE_KINDS]
    table = pd.concat([evaluation_table(rows, references, patients, n_boot=n_boot, seed=seed),
                       pd.DataFrame(pooled_rows), one_vs_two_rows(scores, sites, n_boot=n_boot, seed=seed)],
                      ignore_index=True)
    return Table1(table)


def paper_table(paper: pd.DataFrame = PAPER_TABLE1) -> pd.DataFrame:
    """A paper table (`PAPER_TABLE1`, `PAPER_TABLE3`: real radiographs, against the experts' Dawid-Skene
    labels) as printed: 'value ± sd' per kind and metric, one row per paper row."""
    cells = {f"{k} {m}": paper[f"{k}_{c}"].map("{:.2f}".format) + " ± " + paper[f"{k}_{pm}"].map("{:.2f}".format)
             for k in SCORE_KINDS for m, c, pm in (("accuracy", "accuracy", "acc_pm"), ("MAE", "mae", "mae_pm"))}
    return pd.DataFrame(cells)
