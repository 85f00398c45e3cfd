"""One patient of a data set: a caption, the scores of a site, and the radiograph-plus-zoom figure (chapter 1).

`dataset` is a `rheumabook.data.Dataset` (phantom or real): `image`, `boxes_of`, `scores_of`,
`truth_of` (None for real data) and `patient_info`.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from ..joints import SCORE_KINDS
from .radiograph import draw_boxes, show_radiograph, zoom_joint

__all__ = ["radiograph_caption", "joint_scores_text", "show_patient_joint"]


def _marker_text(row: pd.Series) -> list[str]:
    """'right 'R'', 'left none', 'left 'R' (wrong!)': the side markers of the patient's hands, where recorded."""
    marks = []
    for hand in ("right", "left"):  # the patient's hands; a marker may be missing or show the wrong side
        if f"markers.{hand}.letter" not in row and f"markers.{hand}" not in row:
            continue
        letter = row.get(f"markers.{hand}.letter")
        if not isinstance(letter, str) or not letter:
            marks.append(f"{hand} none")
        else:
            correct = row.get(f"markers.{hand}.correct")
            wrong = correct is not None and not pd.isna(correct) and not bool(correct)
            marks.append(f"{hand} '{letter}'" + (" (wrong!)" if wrong else ""))
    return marks


def radiograph_caption(dataset, patient_id: str) -> str:
    """A one-line caption: total true (or mean expert) grade, and the phantom's pose, exposure and markers if known."""
    from ..data import to_long

    truth = dataset.truth_of(patient_id)
    if truth is not None:
        parts = [f"{patient_id}: total grade {int(to_long(truth)['score'].sum())}"]
    else:
        scores = dataset.scores_of(patient_id)
        mean = scores.groupby(["hand", "joint", "kind"])["score"].mean().sum() if len(scores) else 0
        parts = [f"{patient_id}: total grade {mean:.0f} (mean of experts)"]
    row = dataset.patient_info.set_index("patient_id").loc[patient_id]
    if "pose.right.rotation_deg" in row and "pose.left.rotation_deg" in row:
        parts.append(f"rotation {row['pose.right.rotation_deg']:+.0f}/{row['pose.left.rotation_deg']:+.0f} deg")
    if "exposure.gamma" in row:
        parts.append(f"gamma {row['exposure.gamma']:.2f}")
    marks = _marker_text(row)
    if marks:
        parts.append("markers " + ", ".join(marks))
    return ", ".join(parts)


def _fmt(value: Any) -> str:
    """A grade for display: '-' when missing or not applicable."""
    return "-" if value is None or pd.isna(value) else str(int(value))


def joint_scores_text(dataset, patient_id: str, hand: str, joint: str) -> str:
    """One line per source with the erosion/JSN scores of a site: truth (phantom) and each expert."""
    lines = []
    truth = dataset.truth_of(patient_id, hand)
    if truth is not None:
        row = truth[truth["joint"] == joint].iloc[0]
        lines.append("truth: " + ", ".join(f"{k} {_fmt(row[k])}" for k in SCORE_KINDS))
    scores = dataset.scores_of(patient_id, hand)
    scores = scores[scores["joint"] == joint]
    for expert, group in scores.groupby("expert_id", sort=True):
        given = dict(zip(group["kind"], group["score"]))
        lines.append(f"{expert}: " + ", ".join(f"{k} {_fmt(given.get(k))}" for k in SCORE_KINDS))
    return "\n".join(lines) if lines else "no scores"


def show_patient_joint(dataset, patient_id: str, hand: str = "right", joint: str = "MCP2", *,
                       context: float = 2.5, image: Optional[np.ndarray] = None):
    """A figure: the radiograph with the chosen site highlighted, a zoom on it, and its scores (chapter 1 browser)."""
    import matplotlib.pyplot as plt

    image = dataset.image(patient_id) if image is None else image
    boxes = dataset.boxes_of(patient_id)
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    show_radiograph(a0, image, boxes, labels=False, linewidth=0.5,
                    title=f"patient {patient_id}: {len(boxes)} joint boxes")
    chosen = boxes[(boxes["hand"] == hand) & (boxes["joint"] == joint)]
    if chosen.empty:
        a1.text(0.5, 0.5, f"no box for {hand} {joint}", ha="center", va="center")
        a1.set_axis_off()
    else:
        draw_boxes(a0, None, chosen, labels=False, color="#ffd92f", linewidth=1.8)
        zoom_joint(a1, image, chosen[["x_min", "y_min", "x_max", "y_max"]].iloc[0],
                   context=context, title=f"{hand} {joint} ({context:g}x the box)")
    a1.text(1.04, 0.5, joint_scores_text(dataset, patient_id, hand, joint), transform=a1.transAxes,
            fontsize=8, va="center", family="monospace")
    fig.tight_layout()
    return fig
