"""Class-weighted scoring metrics and bootstrap intervals (paper §3.5, Table 1).

Joint scores are heavily imbalanced (most joints are grade 0, paper Fig. 1),
so the paper reports *weighted* metrics: every grade present in the
reference counts equally, however rare it is.

- weighted accuracy = mean over the classes c present in `y_true` of the
  recall  #{y_pred == c and y_true == c} / #{y_true == c}
  (scikit-learn's `balanced_accuracy_score`);
- weighted MAE = mean over the classes c present in `y_true` of the mean
  of |y_pred - y_true| over the items whose true class is c.

Missing values (NaN, None, pandas <NA>) in either array drop that item.
Arrays are matched by position, not by index. Used by chapters 2 and later.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

__all__ = ["ArrayLike", "paired", "weighted_accuracy", "weighted_mae", "bootstrap_ci"]

ArrayLike = Sequence[float] | np.ndarray | pd.Series | pd.api.extensions.ExtensionArray


def _as_float(values: ArrayLike, name: str) -> np.ndarray:
    """1-D float array with NaN for every missing value (NaN, None, <NA>); a clear error for non-numbers."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub" and values.ndim == 1:
        return values.astype(float)  # fast path (bootstrap replicates)
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        series = pd.Series(values).reset_index(drop=True)
    else:
        array = np.asarray(values, dtype=object)
        if array.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
        series = pd.Series(array)
    try:
        series = pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers (scores) or missing values: {err}") from None
    return series.to_numpy(dtype=float, na_value=np.nan)


def paired(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The items where both `y_true` and `y_pred` are present, as two float arrays (positional matching).

    Raises ValueError when the lengths differ or nothing is left after dropping missing values.
    """
    t = _as_float(y_true, "y_true")
    p = _as_float(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}")
    keep = ~(np.isnan(t) | np.isnan(p))
    if not keep.any():
        raise ValueError(f"no item has both y_true and y_pred present ({t.shape[0]} items, all missing in one or the other)")
    return t[keep], p[keep]


def _per_class(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class present in `t` (sorted): (count, number correct, summed absolute error)."""
    classes, inverse = np.unique(t, return_inverse=True)
    count = np.bincount(inverse, minlength=classes.size).astype(float)
    correct = np.bincount(inverse, weights=(t == p).astype(float), minlength=classes.size)
    abserr = np.bincount(inverse, weights=np.abs(t - p), minlength=classes.size)
    return count, correct, abserr


def weighted_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean per-class recall over the classes present in `y_true` (paper §3.5 "weighted accuracy").

    Args:
        y_true, y_pred: 1-D sequences of equal length (scores; missing values are dropped pairwise).
    Returns:
        float in [0, 1].
    """
    count, correct, _ = _per_class(*paired(y_true, y_pred))
    return float(np.mean(correct / count))


def weighted_mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean over the classes present in `y_true` of the mean |y_pred - y_true| within that class (paper §3.5).

    Args:
        y_true, y_pred: 1-D sequences of equal length (scores; missing values are dropped pairwise).
    Returns:
        float >= 0, in score points.
    """
    count, _, abserr = _per_class(*paired(y_true, y_pred))
    return float(np.mean(abserr / count))


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int | np.random.Generator = 0,
    level: float = 0.95,
    groups: Optional[ArrayLike] = None,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of `metric(y_true, y_pred)`: returns (estimate, low, high).

    Items with a missing value are dropped first. Without `groups`, items are resampled with
    replacement. With `groups` (one label per item, e.g. the patient id), whole groups are
    resampled (a cluster bootstrap): joints of one patient are correlated, so resampling joints
    one by one would make the interval too narrow. A replicate on which the metric fails (e.g. no
    class left) is skipped; the estimate is the metric on all the data, not the bootstrap mean.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    t_all = _as_float(y_true, "y_true")
    p_all = _as_float(y_pred, "y_pred")
    t, p = paired(t_all, p_all)
    estimate = float(metric(t, p))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if groups is None:
        draws = (rng.integers(0, t.size, size=t.size) for _ in range(n_boot))
    else:
        g = np.asarray(groups, dtype=object)
        if g.shape[0] != t_all.shape[0]:
            raise ValueError(f"groups must have one label per item ({t_all.shape[0]}), got {g.shape[0]}")
        g = g[~(np.isnan(t_all) | np.isnan(p_all))]
        _, codes = np.unique(g.astype(str), return_inverse=True)
        members = np.split(np.argsort(codes, kind="stable"), np.cumsum(np.bincount(codes))[:-1])
        draws = (np.concatenate([members[i] for i in rng.integers(0, len(members), size=len(members))])
                 for _ in range(n_boot))
    values = []
    for idx in draws:
        try:
            values.append(float(metric(t[idx], p[idx])))
        except ValueError:
            continue
    if not values:
        raise ValueError("every bootstrap replicate failed; is there enough data?")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return estimate, float(low), float(high)
