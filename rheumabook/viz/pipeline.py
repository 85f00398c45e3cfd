"""Figures of the end-to-end pipeline (chapter 7): the scored radiograph, predicted totals against the truth.

- `score_overlay`: the radiograph with each predicted joint box coloured by its grades and
  labelled ``E<erosion> J<jsn>`` (a dash where the site has no such score).
- `totals_scatter`: predicted against true per-patient totals, the identity line, Pearson's r.
- `bland_altman`: difference against mean of two measurements, the mean difference and the
  95 % limits of agreement (mean +- 1.96 SD), Bland & Altman (1986).
- `landmark_overlay`: a single-hand film of the real-image check (`rheumabook.evaluate`) with the
  localiser's boxes (green where the labelled point is hit, red where missed), the labelled points
  and a line from each point to its box centre, so a miss can be seen.
- `save_figure`: write a figure as a PNG atomically (the command lines' ``--overlays``).

The table `score_overlay` draws is one radiograph's pipeline table (`pipeline.RESULT_COLUMNS`:
hand, joint, x_min..y_max, erosion, jsn, ...); nothing here imports the pipeline itself.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from .radiograph import display_range

__all__ = ["score_overlay", "totals_scatter", "bland_altman", "landmark_overlay", "save_figure"]


def _grade_text(value: Any) -> str:
    return "-" if pd.isna(value) else str(int(value))


def score_overlay(image: np.ndarray, table: pd.DataFrame, *, ax: Any = None, title: Optional[str] = None,
                  fontsize: float = 5.5, cmap: str = "autumn_r") -> Any:
    """Draw `image` with the boxes of `table`, each coloured by erosion + JSN (0 yellow .. 9 red) and labelled.

    image: 2-D uint8/uint16 radiograph. table: one radiograph's pipeline table. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 10 * image.shape[0] / image.shape[1]))
    vmin, vmax = display_range(image)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax)
    colours = plt.get_cmap(cmap)
    for row in table.itertuples(index=False):
        damage = sum(0 if pd.isna(v) else int(v) for v in (row.erosion, row.jsn))
        colour = colours(min(damage, 9) / 9)
        ax.add_patch(Rectangle((row.x_min, row.y_min), row.x_max - row.x_min, row.y_max - row.y_min, fill=False,
                               edgecolor=colour, linewidth=0.8))
        ax.text(row.x_min, row.y_min - 2, f"E{_grade_text(row.erosion)} J{_grade_text(row.jsn)}", color=colour,
                fontsize=fontsize, va="bottom")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def totals_scatter(predicted: np.ndarray, truth: np.ndarray, *, ax: Any = None, label: str = "total Sharp score",
                   ) -> tuple[Any, float]:
    """Scatter of predicted against true totals with the identity line; returns (axes, Pearson r)."""
    import matplotlib.pyplot as plt

    p, t = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    r = float(np.corrcoef(p, t)[0, 1]) if len(p) > 1 and p.std() > 0 and t.std() > 0 else float("nan")
    top = max(float(np.max(p, initial=0)), float(np.max(t, initial=0))) * 1.05 + 1
    ax.plot([0, top], [0, top], color="gray", linewidth=0.8, linestyle="--", label="identity")
    ax.scatter(t, p, s=14)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title(f"r = {r:.2f} (n = {len(p)})", fontsize=9)
    ax.legend(fontsize=7)
    return ax, r


def bland_altman(predicted: np.ndarray, truth: np.ndarray, *, ax: Any = None, label: str = "total Sharp score",
                 ) -> tuple[Any, dict[str, float]]:
    """Bland-Altman plot of predicted vs true totals; returns (axes, {bias, sd, lower, upper}).

    x: the mean of the two, y: predicted - true; lines at the mean difference (bias) and at the
    95 % limits of agreement, bias +- 1.96 x the SD of the differences (ddof = 1).
    """
    import matplotlib.pyplot as plt

    from ..stats import totals_agreement

    p, t = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    diff, mean = p - t, (p + t) / 2
    stats = {k: v for k, v in totals_agreement(p, t).items() if k in ("bias", "sd", "lower", "upper")}
    bias = stats["bias"]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(mean, diff, s=14)
    ax.axhline(bias, color="C1", label=f"bias {bias:+.1f}")
    for key in ("lower", "upper"):
        ax.axhline(stats[key], color="C1", linestyle="--", linewidth=0.8)
    ax.axhline(0, color="gray", linewidth=0.6)
    ax.set_xlabel(f"mean of predicted and true {label}")
    ax.set_ylabel("predicted - true")
    ax.set_title(f"limits of agreement {stats['lower']:+.1f} .. {stats['upper']:+.1f}", fontsize=9)
    ax.legend(fontsize=7)
    return ax, stats


def landmark_overlay(image: np.ndarray, boxes: np.ndarray, points: pd.DataFrame, *, ax: Any = None,
                     title: Optional[str] = None, fontsize: float = 5.5) -> Any:
    """Draw a single-hand `image` with the predicted `boxes` of the labelled joints and the labelled points.

    boxes: (21, 4) pixels of `image`, `joints.JOINTS` order. points: the image's rows of
    `evaluate.LandmarkReport.points` (joint, x, y, pred_x, pred_y, pred_hit). A hit's box is green, a miss's
    red; each point is a cross joined to its box centre. Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..joints import JOINTS

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / image.shape[1]))
    vmin, vmax = display_range(image)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax)
    for row in points.itertuples(index=False):
        colour = "lime" if row.pred_hit else "red"
        x0, y0, x1, y1 = np.asarray(boxes, dtype=float)[JOINTS.index(row.joint)]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=0.8))
        ax.plot([row.x, row.pred_x], [row.y, row.pred_y], color=colour, linewidth=0.6)
        ax.plot(row.x, row.y, "+", color="cyan", markersize=5, markeredgewidth=0.8)
        ax.text(x0, y0 - 2, row.joint, color=colour, fontsize=fontsize, va="bottom")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def save_figure(figure: Any, path: Any, *, dpi: int = 150) -> Any:
    """Write `figure` to `path` as a PNG, atomically (complete or absent), then close it; returns the path."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..cache import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png"), suffix=".png")
    plt.close(figure)
    return path
