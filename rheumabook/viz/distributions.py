"""Grade distributions: histograms of erosion and JSN scores, like paper Fig. 1 (chapters 1-2)."""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from ..joints import MAX_SCORE, SCORE_KINDS

__all__ = ["score_distributions"]


def score_distributions(scores: pd.DataFrame, *, hue: Optional[str] = None, axes=None,
                        stat: Optional[str] = None, title: Optional[str] = None, palette: Any = None):
    """Histograms of erosion and JSN grades, like paper Fig. 1 (two panels: erosion, JSN).

    `scores`: long scores (kind, score [, expert_id ...]) or a truth table (erosion, jsn); several
    sources can be concatenated with `data.to_long(..., source=name)` and split by `hue="expert_id"`.
    `stat`: "count" (joints, as in Fig. 1; the default without hue) or "proportion" (the default
    with hue, each hue level normalised on its own so that sources of different size compare).
    Returns the two axes.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..data import to_long

    long = to_long(scores)
    if hue is not None and hue not in long:
        raise ValueError(f"hue column {hue!r} not in the scores; columns are {list(long.columns)}")
    stat = stat or ("proportion" if hue else "count")
    hue_order = None
    if hue is not None:
        levels = [str(v) for v in pd.unique(long[hue])]
        hue_order = sorted(levels, key=lambda v: (v != "truth", v))
        long = long.assign(**{hue: long[hue].astype(str)})
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, kind, letter in zip(axes, SCORE_KINDS, "ab"):
        sub = long[long["kind"] == kind].copy()
        sub["score"] = sub["score"].astype(int)
        sns.histplot(data=sub, x="score", hue=hue, hue_order=hue_order, discrete=True, stat=stat, common_norm=False,
                     multiple="dodge" if hue else "layer", shrink=0.85, ax=ax, palette=palette,
                     color=None if hue else ("#e31a1c" if kind == "erosion" else "#1f78b4"))
        ax.set_xticks(range(MAX_SCORE[kind] + 1))
        ax.set_xlabel(f"{'erosion' if kind == 'erosion' else 'JSN'} score")
        ax.set_ylabel("joints" if stat == "count" else stat)
        ax.set_title(f"({letter}) {'Erosion' if kind == 'erosion' else 'JSN'}", fontsize=10)
    if title:
        axes[0].figure.suptitle(title, fontsize=11)
    return axes
