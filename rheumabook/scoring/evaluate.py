"""Scoring the scorer (paper §3.5, Table 1, Figs. 3-4): weighted accuracy and MAE with patient-bootstrap intervals.

- `graded_sites` / `site_accuracy`: the sites every array grades (MISSING = -1 left out), and the
  weighted accuracy there without an interval (per-seed differences).
- `metric_row`: weighted accuracy and weighted MAE (`stats.metrics`) of predictions against a
  reference on the sites where both exist, each with a 95 % percentile bootstrap interval that
  resamples PATIENTS (`stats.bootstrap_ci(groups=patient)`): a patient's joints are correlated,
  resampling joints would make the interval too narrow.
- `evaluation_table`: rows of `metric_row` for several predictors x references x kinds.
- `expert_predictions`: the simulated experts' own scores on the same sites (each expert one
  "predictor"; their rows pooled give the "Average expert" against truth or DS).
- `one_vs_two_rows`: the paper's own "Average expert" (1 vs 2) restricted to the test sites.
- `majority_baseline`: the most frequent training grade predicted everywhere.
- `predicted_box_sites`: chapter 4's predicted boxes, mapped back to the radiograph, as sites.
- `confusion`: a confusion matrix (rows true grade, columns predicted).
- `shift_stability`: how many grades change when every box moves by a pixel.
- `PAPER_TABLE1`, `PAPER_TABLE3`: the paper's numbers, for the tables beside ours.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..joints import MAX_SCORE, SCORE_KINDS
from ..schema import KEY_COLUMNS
from ..stats import bootstrap_ci, weighted_accuracy, weighted_mae
from .losses import MISSING

__all__ = ["PAPER_TABLE1", "PAPER_TABLE3", "graded_sites", "site_accuracy", "metric_row", "evaluation_table", "expert_predictions",
           "pooled", "difference_row", "one_vs_two_rows", "majority_baseline", "predicted_box_sites", "confusion", "interval_text",
           "shift_stability"]


def _paper(text: str) -> pd.DataFrame:
    """A paper table typed as 'row: erosion acc +- , MAE +- ; JSN acc +- , MAE +-' lines (as printed)."""
    cols = ["erosion_accuracy", "erosion_acc_pm", "erosion_mae", "erosion_mae_pm",
            "jsn_accuracy", "jsn_acc_pm", "jsn_mae", "jsn_mae_pm"]
    rows = {}
    for line in text.strip().splitlines():
        name, values = line.split(":")
        rows[name.strip()] = [float(v) for v in values.replace("±", " ").split()]
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols).rename_axis("paper row")


_AVERAGE_EXPERT = "Average expert: 0.79 ± 0.03  0.48 ± 0.13  0.76 ± 0.03  0.25 ± 0.04"
PAPER_TABLE1 = _paper(f"""
RetinaNet [30]:      0.43 ± 0.09  1.68 ± 0.24  0.41 ± 0.05  0.58 ± 0.08
Team Shirin:         0.62 ± 0.05  0.93 ± 0.17  0.60 ± 0.04  0.43 ± 0.05
Csabaibio:           0.56 ± 0.05  0.95 ± 0.16  0.65 ± 0.04  0.36 ± 0.04
Zbigniew Wojna [25]: 0.53 ± 0.05  1.22 ± 0.21  0.58 ± 0.04  0.45 ± 0.05
RheumaVIT (ours):    0.74 ± 0.05  0.75 ± 0.18  0.67 ± 0.04  0.36 ± 0.05
{_AVERAGE_EXPERT}
""")
"""Paper Table 1 (real radiographs, against the experts' Dawid-Skene labels; +/- as printed)."""

PAPER_TABLE3 = _paper(f"""
VGG:          0.63 ± 0.05  0.79 ± 0.19  0.57 ± 0.04  0.56 ± 0.07
EfficientNet: 0.58 ± 0.05  1.23 ± 0.28  0.62 ± 0.04  0.40 ± 0.05
Swin:         0.62 ± 0.05  0.95 ± 0.21  0.64 ± 0.04  0.40 ± 0.05
TinyViT:      0.74 ± 0.05  0.75 ± 0.18  0.67 ± 0.04  0.36 ± 0.05
MobileViT:    0.61 ± 0.05  1.06 ± 0.23  0.63 ± 0.04  0.41 ± 0.05
{_AVERAGE_EXPERT}
""")
"""Paper Table 3 (backbone ablation, same metrics)."""


def graded_sites(*grades: np.ndarray) -> np.ndarray:
    """(N,) bool: the sites where every one of the aligned (N,) grade arrays has a grade (>= 0; MISSING is -1)."""
    if not grades:
        raise ValueError("graded_sites needs at least one grade array")
    arrays = [np.asarray(g) for g in grades]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"grade arrays must be aligned (one entry per site), got shapes {[a.shape for a in arrays]}")
    return np.logical_and.reduce([a >= 0 for a in arrays])


def site_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Weighted accuracy of `y_pred` against `y_true` on the sites both grade (`graded_sites`), without an interval."""
    keep = graded_sites(y_true, y_pred)
    return float(weighted_accuracy(np.asarray(y_true)[keep], np.asarray(y_pred)[keep]))


def metric_row(y_true: np.ndarray, y_pred: np.ndarray, patients: np.ndarray, *, n_boot: int = 1000,
               seed: int = 0) -> dict[str, float]:
    """Weighted accuracy and MAE with patient-bootstrap 95 % intervals over the sites where both are >= 0.

    Returns accuracy, accuracy_low, accuracy_high, mae, mae_low, mae_high, n_sites, n_patients.
    The same seed gives the same replicates for both metrics (one resampling of patients).
    """
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    keep = graded_sites(y_true, y_pred)
    t, p, g = y_true[keep], y_pred[keep], np.asarray(patients, dtype=object)[keep]
    acc = bootstrap_ci(weighted_accuracy, t, p, n_boot=n_boot, seed=seed, groups=g)
    mae = bootstrap_ci(weighted_mae, t, p, n_boot=n_boot, seed=seed, groups=g)
    return {"accuracy": acc[0], "accuracy_low": acc[1], "accuracy_high": acc[2],
            "mae": mae[0], "mae_low": mae[1], "mae_high": mae[2],
            "n_sites": int(keep.sum()), "n_patients": int(len(set(g)))}


def evaluation_table(predictions: Mapping[str, Mapping[str, np.ndarray]], references: Mapping[str, Mapping[str, np.ndarray]],
                     patients: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (predictor, reference, kind): `metric_row` of predictions[predictor][kind] vs references[ref][kind].

    All arrays are aligned with `patients` (one entry per site, -1 = missing). Columns: model,
    reference, kind, then `metric_row`'s keys.
    """
    rows = []
    for name, pred in predictions.items():
        for ref_name, ref in references.items():
            for kind in SCORE_KINDS:
                if kind not in pred or kind not in ref or not ((np.asarray(ref[kind]) >= 0).any()):
                    continue
                rows.append({"model": name, "reference": ref_name, "kind": kind,
                             **metric_row(ref[kind], pred[kind], patients, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(rows)


def expert_predictions(scores: pd.DataFrame, sites: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """{expert_id: {kind: (N,) grades on `sites`' rows, -1 where that expert gave none}}."""
    out: dict[str, dict[str, np.ndarray]] = {}
    keys = sites[list(KEY_COLUMNS)].astype({"patient_id": str})
    for expert, own in scores.groupby("expert_id", sort=True):
        own = own.assign(patient_id=own["patient_id"].astype(str))
        out[str(expert)] = {}
        for kind in SCORE_KINDS:
            part = own[own["kind"] == kind][[*KEY_COLUMNS, "score"]]
            merged = keys.merge(part, on=list(KEY_COLUMNS), how="left")
            out[str(expert)][kind] = pd.to_numeric(merged["score"]).fillna(MISSING).to_numpy(dtype=np.int64)
    return out


def pooled(predictions: Mapping[str, Mapping[str, np.ndarray]], references: Mapping[str, np.ndarray],
           patients: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several predictors' (e.g. the experts') predictions stacked against the same reference: (y_true, y_pred, patients)."""
    names = list(predictions)
    return (np.concatenate([references[kind]] * len(names)),
            np.concatenate([predictions[n][kind] for n in names]), np.concatenate([patients] * len(names)))


def one_vs_two_rows(scores: pd.DataFrame, sites: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The paper's "Average expert" (1 vs 2: each expert vs the rounded mean of the other two), on `sites` only."""
    from ..stats import one_vs_two

    keys = sites[list(KEY_COLUMNS)].astype({"patient_id": str}).drop_duplicates()
    pairs = one_vs_two(scores).assign(patient_id=lambda d: d["patient_id"].astype(str))
    pairs = pairs.merge(keys, on=list(KEY_COLUMNS), how="inner")
    rows = []
    for kind in SCORE_KINDS:
        part = pairs[pairs["kind"] == kind]
        rows.append({"model": "Average expert (1 vs 2)", "reference": "other two experts", "kind": kind,
                     **metric_row(part["reference"].to_numpy(), part["score"].to_numpy(),
                                  part["patient_id"].to_numpy(), n_boot=n_boot, seed=seed)})
    return pd.DataFrame(rows)


def majority_baseline(train_labels: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """{kind: (n,) the most frequent training grade of that kind}: the baseline every model must beat."""
    out = {}
    for kind, y in train_labels.items():
        y = np.asarray(y)
        out[kind] = np.full(n, int(np.bincount(y[y >= 0], minlength=MAX_SCORE[kind] + 1).argmax()), dtype=np.int64)
    return out


def predicted_box_sites(sites: pd.DataFrame, boxes: pd.DataFrame) -> pd.DataFrame:
    """`sites` with their boxes replaced by predicted ones (radiograph pixels; `HandSet.radiograph_boxes`).

    Sites without a predicted box (a hand the localiser did not see) are dropped; the labels stay.
    """
    from ..schema import BOX_COLUMNS

    pred = boxes[[*KEY_COLUMNS, *BOX_COLUMNS]].astype({"patient_id": str})
    out = sites.drop(columns=list(BOX_COLUMNS)).merge(pred, on=list(KEY_COLUMNS), how="inner")
    return out[list(sites.columns)].reset_index(drop=True)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, kind: str, *, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix (rows: true grade, columns: predicted grade) over sites where both are >= 0.

    normalize=True divides each row by its count (each row then shows that grade's recall on the diagonal).
    """
    k = MAX_SCORE[kind] + 1
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    keep = graded_sites(y_true, y_pred)
    m = np.bincount(y_true[keep] * k + y_pred[keep], minlength=k * k).reshape(k, k).astype(float)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            m = m / m.sum(axis=1, keepdims=True)
    return pd.DataFrame(m, index=pd.Index(range(k), name="true"), columns=pd.Index(range(k), name="predicted"))


def interval_text(row: Mapping[str, Any], metric: str, digits: int = 2) -> str:
    """'0.62 [0.55, 0.70]' for `metric` ("accuracy" or "mae") of a `metric_row`."""
    return f"{row[metric]:.{digits}f} [{row[f'{metric}_low']:.{digits}f}, {row[f'{metric}_high']:.{digits}f}]"


def _verdict(acc: tuple[float, float, float], mae: tuple[float, float, float]) -> str:
    """Words for a difference (A - B): what its 95 % intervals exclude, else "no difference measured"."""
    parts = []
    if acc[1] > 0 or acc[2] < 0:
        parts.append("higher accuracy" if acc[1] > 0 else "lower accuracy")
    if mae[1] > 0 or mae[2] < 0:
        parts.append("lower MAE" if mae[2] < 0 else "higher MAE")
    return "; ".join(parts) if parts else "no difference measured at this scale"


def difference_row(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, patients: np.ndarray, *,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired difference A - B of weighted accuracy and MAE on the sites all three have, with 95 % intervals
    from the same patient resamples for both predictors; `verdict` puts the intervals in words."""
    y_true, pred_a, pred_b = (np.asarray(v, dtype=float) for v in (y_true, pred_a, pred_b))
    keep = graded_sites(y_true, pred_a, pred_b)
    t, a, b = y_true[keep], pred_a[keep], pred_b[keep]
    g = np.asarray(patients, dtype=object)[keep]
    position = np.arange(t.size, dtype=float)  # resampled along with y_true: picks the same sites of A and B

    def paired_metric(metric):
        return lambda tt, ii: metric(tt, a[ii.astype(int)]) - metric(tt, b[ii.astype(int)])

    acc = bootstrap_ci(paired_metric(weighted_accuracy), t, position, n_boot=n_boot, seed=seed, groups=g)
    mae = bootstrap_ci(paired_metric(weighted_mae), t, position, n_boot=n_boot, seed=seed, groups=g)
    return {"accuracy": acc[0], "accuracy_low": acc[1], "accuracy_high": acc[2],
            "mae": mae[0], "mae_low": mae[1], "mae_high": mae[2], "verdict": _verdict(acc, mae),
            "n_sites": int(keep.sum())}


def shift_stability(scorer: Any, dataset: Any, sites: pd.DataFrame, config: Any, *, shift: float = 1.0) -> pd.DataFrame:
    """How many of `scorer`'s grades change when every box of `sites` moves by `shift` pixels.

    Each site is cropped (`crops.crop_joints` at the config's evaluation factor and crop size, from
    `data.working_image` of its radiograph) as it is, and moved right, left, down and up. Returns one
    row per (direction, kind): the share of scored sites whose grade changed, and the mean absolute
    change. A localiser is never exact to the pixel: a scorer that flips many grades here inherits
    the localiser's pixel noise.
    """
    from ..data.images import working_image
    from ..schema import BOX_COLUMNS
    from .crops import crop_joints

    moves = {"right": (shift, 0.0), "left": (-shift, 0.0), "down": (0.0, shift), "up": (0.0, -shift)}
    crops = {name: [] for name in ("none", *moves)}
    for pid, rows in sites.groupby("patient_id", sort=False):
        image = working_image(dataset.image(pid))
        for name, (dx, dy) in (("none", (0.0, 0.0)), *moves.items()):
            moved = rows.copy()
            moved[list(BOX_COLUMNS)] = rows[list(BOX_COLUMNS)].to_numpy(dtype=float) + [dx, dy, dx, dy]
            crops[name].append(crop_joints(image, moved, factor=config.eval_factor, size=config.crop_size))
    grades = {name: scorer.predict(np.concatenate(c)) for name, c in crops.items()}
    out = []
    for name in moves:
        for kind in SCORE_KINDS:
            scored = sites[f"ds_{kind}"].to_numpy() >= 0
            base, moved = grades["none"][kind][scored], grades[name][kind][scored]
            out.append({"direction": name, "kind": kind, "changed": float((base != moved).mean()),
                        "mean_abs_change": float(np.abs(base - moved).mean())})
    return pd.DataFrame(out)
