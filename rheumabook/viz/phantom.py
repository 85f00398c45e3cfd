"""Figures of the phantom itself (chapter 1): the bones by name, the image formation step by step, grade ladders.

- `show_anatomy`: one hand (or its wrist) close up with every bone named at its centre.
- `formation_figure`: the image-formation steps of `rheumabook.phantom.formation_stages`, one
  panel each, on the same region: path lengths (bone, cortex, medulla, soft tissue) ->
  attenuation -> log exposure (heel effect) -> display window -> detector blur and quantum noise
  -> collimation, markers and ruler -> the stored image.
- `grade_ladders`: erosion 0-5 and JSN 0-4 at one joint of one patient, side by side (every other
  site healthy, same pose, exposure and noise), so what changes between panels is the damage.
- `model_input_ladders` (chapter 5): the same ladders of one kind for several joints, each panel
  the crop the scorer sees (its evaluation crop at its input size), with how far each crop is from
  the healthy one in grey levels: which grades a model at that resolution can tell apart at all.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .radiograph import display_range, zoom_joint

__all__ = ["FORMATION_PANELS", "hand_region", "show_anatomy", "formation_figure", "grade_ladders",
           "model_input_ladders"]

FORMATION_PANELS: tuple[tuple[str, str], ...] = (
    ("bone_outer_mm", "1a path through bone (mm)"),
    ("cortex_mm", "1b ... through cortex (mm)"),
    ("medulla_mm", "1c ... through medulla (mm)"),
    ("soft_mm", "1d ... through soft tissue (mm)"),
    ("attenuation", "2 attenuation  sum mu_i t_i"),
    ("log_exposure", "3 log exposure + heel effect"),
    ("display", "4 window and gamma"),
    ("noise", "5 detector blur + quantum noise"),
    ("markers", "6 collimation, markers, ruler"),
    ("image", "7 stored image (8 bit, 3x3 blur)"),
)
"""(stage, title) of each panel of `formation_figure`, in the order the phantom makes them."""


def hand_region(radiograph: Any, hand: str, part: str = "hand", margin: float = 0.08) -> tuple[int, int, int, int]:
    """Pixel region (x0, y0, x1, y1) around one hand's boxes (part "hand") or its wrist boxes (part "wrist")."""
    b = radiograph.boxes[radiograph.boxes["hand"] == hand]
    if part == "wrist":
        b = b[b["joint"].isin(["wrist", "radiocarpal", "ulna", "CMC1", "CMC3", "CMC4", "CMC5"])]
    elif part != "hand":
        raise ValueError(f"part must be 'hand' or 'wrist', got {part!r}")
    x0, y0, x1, y1 = b["x_min"].min(), b["y_min"].min(), b["x_max"].max(), b["y_max"].max()
    pad = margin * max(x1 - x0, y1 - y0)
    H, W = radiograph.image.shape
    return (int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(W, x1 + pad)), int(min(H, y1 + pad)))


_SHORT = {"metacarpal ": "MC", "proximal phalanx ": "PP", "middle phalanx ": "MP", "distal phalanx ": "DP"}
"""Short labels of the tubular bones (their ray's number follows: MC3 = third metacarpal)."""
_NUDGE_MM = {"pisiform": (-3.0, 3.5), "triquetrum": (1.5, -2.5), "sesamoid": (0.0, 0.0)}
"""Label offsets (mm, image x and y) where two bones' centres nearly coincide on a PA view."""


def show_anatomy(ax, radiograph: Any, stages: dict, hand: str = "left", part: str = "hand",
                 fontsize: float = 6.5, skip: Sequence[str] = ("hook of the hamate", "sesamoid")) -> None:
    """One hand of a radiograph close up, every bone named at its centre (`stages["bones"]`).

    stages: from `phantom.formation_stages` (its "bones" entry: hand -> [(name, (x, y), angle)]);
    tubular bones get short labels (MC = metacarpal, PP/MP/DP = proximal/middle/distal phalanx, then
    the ray: 1 = thumb). part: "hand" (the whole hand; the carpal bones are left to part "wrist") or
    "wrist". skip: bone names not to write.
    """
    from ..phantom.anatomy import CARPAL_NAMES

    x0, y0, x1, y1 = hand_region(radiograph, hand, part)
    region = radiograph.image[y0:y1, x0:x1]
    vmin, vmax = display_range(region, 1, 99.8)
    ax.imshow(region, cmap="gray", vmin=vmin, vmax=vmax, extent=(x0, x1, y1, y0), interpolation="antialiased")
    k = radiograph.meta["pose"][hand]["px_per_mm"]
    for name, (x, y), angle in stages["bones"][hand]:
        carpal = name in CARPAL_NAMES or name == "pisiform"
        if name in skip or (part == "hand" and carpal) or not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        dx, dy = _NUDGE_MM.get(name, (0.0, 0.0))
        label = name
        for long, short in _SHORT.items():
            label = label.replace(long, short)
        ax.text(x + dx * k, y + dy * k, label, fontsize=fontsize, color="#ffd92f", ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.15", fc="black", ec="none", alpha=0.45))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_axis_off()


def formation_figure(radiograph: Any, stages: dict, region: Optional[Sequence[int]] = None, *,
                     ncols: int = 5, panel_size: float = 2.6):
    """A figure of the image-formation steps (`FORMATION_PANELS`) on one region (default: the whole image).

    Each panel has its own gray window (path lengths and attenuation from 0 to their 99.8th
    percentile), so that every step is readable; the colour bar-free panels are meant to be read
    in order, left to right. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    x0, y0, x1, y1 = region if region is not None else (0, 0, radiograph.image.shape[1], radiograph.image.shape[0])
    layers = dict(stages)
    layers["cortex_mm"] = stages["bone_outer_mm"] - stages["medulla_mm"]
    layers["image"] = radiograph.image.astype(np.float32)
    nrows = -(-len(FORMATION_PANELS) // ncols)
    aspect = (y1 - y0) / max(x1 - x0, 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * panel_size, nrows * panel_size * aspect + 0.4))
    for ax, (name, title) in zip(np.ravel(axes), FORMATION_PANELS):
        img = layers[name][y0:y1, x0:x1]
        if name.endswith("_mm") or name == "attenuation":
            vmin, vmax = 0.0, float(max(np.percentile(img, 99.8), 1e-3))
        else:
            vmin, vmax = display_range(img, 0.2, 99.8)
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="antialiased")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    for ax in np.ravel(axes)[len(FORMATION_PANELS):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def _with_grade(seed: int, hand: str, joint: str, kind: str, grade: int, size: int) -> Any:
    """`phantom.render(seed)` with every site healthy but `joint` of `hand` at `grade` of `kind`.

    The pose, exposure and noise do not depend on the truth, so two grades differ only in the damage.
    """
    from .. import phantom
    from ..data import uniform_truth
    from ..joints import applies

    if not applies(joint, kind):
        raise ValueError(f"{joint} has no {kind} score; pick a site that has both (e.g. MCP2, PIP3)")
    truth = uniform_truth(erosion=0, jsn=0)
    truth.loc[(truth["hand"] == hand) & (truth["joint"] == joint), kind] = grade
    return phantom.render(seed, size=size, truth=truth)


def grade_ladders(seed: int, hand: str = "right", joint: str = "MCP2", *, size: int = 2048, context: float = 2.2,
                  panel_size: float = 1.9):
    """Erosion 0-5 (top row) and JSN 0-4 (bottom row) at one joint of one patient, every other site healthy.

    Renders the seed 11 times (`phantom.render` with an edited truth: the pose, exposure and noise
    do not depend on it) and zooms on the joint at `context` x its box. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .. import phantom

    fig, axes = plt.subplots(2, 6, figsize=(6 * panel_size, 2 * panel_size + 0.9))
    for row, (kind, top) in enumerate((("erosion", 5), ("jsn", 4))):
        for g in range(6):
            ax = axes[row, g]
            if g > top:
                ax.set_axis_off()
                continue
            rad = _with_grade(seed, hand, joint, kind, g, size)
            zoom_joint(ax, rad.image, rad.box(hand, joint), context=context, draw_box=False,
                       title=f"{'erosion' if kind == 'erosion' else 'JSN'} {g}")
    plates = " (an adolescent: the thin dark lines across the bone ends are open growth plates)" \
        if rad.meta["pose"][hand]["open_growth_plates"] else ""
    fig.suptitle(f"{hand} {joint}, one patient, every other site healthy ({size} px, "
                 f"{phantom.FIELD_WIDTH_MM / size:.3f} mm/pixel){plates}", fontsize=9)
    fig.tight_layout()
    return fig


def model_input_ladders(seed: int, joints: Sequence[str], *, kind: str = "erosion", size: int = 1400,
                        crop_size: int = 64, factor: float = 2.5, hand: str = "left", panel_size: float = 1.25):
    """Every grade of `kind` at each of `joints` as the scorer sees it: its evaluation crop at its input size.

    One row per joint, one panel per grade (`_with_grade`: the same patient, pose and noise; every
    other site healthy). Each crop is `scoring.crop_joints` of the `size`-px film at area `factor`,
    resized to `crop_size` px, on one grey scale (0-255) so panels compare. Its title gives the mean
    |crop - grade-0 crop| in grey levels: a grade whose crop differs from a healthy one by a
    fraction of a grey level is one that no model at this resolution can tell from healthy.
    Returns (figure, DataFrame joint, grade, mean_abs_diff).
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    from ..joints import MAX_SCORE
    from ..scoring import crop_joints

    top = MAX_SCORE[kind]
    fig, axes = plt.subplots(len(joints), top + 1, figsize=((top + 1) * panel_size, len(joints) * panel_size + 0.6),
                             squeeze=False)
    rows = []
    for r, joint in enumerate(joints):
        healthy = None
        for g in range(top + 1):
            rad = _with_grade(seed, hand, joint, kind, g, size)
            box = rad.boxes[(rad.boxes["hand"] == hand) & (rad.boxes["joint"] == joint)]
            crop = crop_joints(rad.image, box, factor=factor, size=crop_size)[0].astype(np.float64)
            healthy = crop if healthy is None else healthy
            diff = float(np.abs(crop - healthy).mean())
            rows.append({"joint": joint, "grade": g, "mean_abs_diff": diff})
            ax = axes[r, g]
            ax.imshow(crop, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"{joint} {g}" + (f": {diff:.2f}" if g else ""), fontsize=7)
            ax.set_axis_off()
    fig.suptitle(f"{kind} 0-{top} at the scorer's input ({crop_size} px crops of a {size}-px film); "
                 f"title: grade, mean |difference from grade 0| in grey levels", fontsize=8)
    fig.tight_layout()
    return fig, pd.DataFrame(rows)
