"""Plotting helpers of the chapters (matplotlib, seaborn where it helps, ipywidgets with a static twin).

Conventions: images are 2-D uint8/uint16 arrays (y, x) shown in gray with a percentile window;
boxes are (x_min, y_min, x_max, y_max) in pixels of the image shown (a DataFrame with those
columns, optionally hand/joint, or an (N, 4) array). Hands are the patient's: on a PA
radiograph the patient's right hand lies on the image's left half.

Chapter 1 (data) helpers come first; other chapters append theirs below a header naming the chapter.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .joints import HANDS, JOINTS, MAX_SCORE, SCORE_KINDS, SITE_BY_NAME

HAND_COLORS: dict[str, str] = {"right": "#ff7f0e", "left": "#17becf"}
"""Box colour per (patient's) hand, used by every chapter."""

SITE_KIND_COLORS: dict[str, str] = {"both": "#6a3d9a", "erosion": "#e31a1c", "jsn": "#1f78b4"}
"""Colour of a site in the joint map by which score applies there."""

WIDGETS_ENV = "RHEUMABOOK_WIDGETS"
"""Set to 1/0 to force interactive widgets on/off (default: on only in a live notebook UI)."""


# ============================================================================ chapter 1: the data


def display_range(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(vmin, vmax) gray window: percentiles of the image (uint16 phantoms use a fraction of 0..65535)."""
    values = np.asarray(image)
    if values.size > 1_000_000:  # a strided sample is plenty for percentiles and much faster
        step = int(np.ceil(np.sqrt(values.size / 1_000_000)))
        values = values[::step, ::step]
    vmin, vmax = np.percentile(values, [low, high])
    return float(vmin), float(max(vmax, vmin + 1))


def _box_array(boxes: Any) -> np.ndarray:
    """(N, 4) float array from a boxes DataFrame (x_min..y_max columns) or an array."""
    if isinstance(boxes, pd.DataFrame):
        boxes = boxes[["x_min", "y_min", "x_max", "y_max"]].to_numpy(dtype=float)
    arr = np.asarray(boxes, dtype=float).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    return arr


def draw_boxes(ax, image: Optional[np.ndarray], boxes: Any, *, labels: bool | Sequence[str] = True,
               color: Optional[str] = None, linewidth: float = 1.0, fontsize: float = 6,
               linestyle: str = "-", window: Optional[tuple[float, float]] = None) -> None:
    """Draw boxes (and, if `image` is given, the image under them) on `ax`.

    `boxes`: DataFrame with x_min, y_min, x_max, y_max (+ optional hand, joint) or an (N, 4) array.
    Colour: `color`, else by hand (`HAND_COLORS`), else white. `labels=True` writes the joint
    name above each box (when `boxes` has a joint column); a list gives the labels explicitly.
    """
    from matplotlib.patches import Rectangle

    if image is not None:
        vmin, vmax = window or display_range(image)
        ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="antialiased")
    arr = _box_array(boxes)
    is_frame = isinstance(boxes, pd.DataFrame)
    hands = boxes["hand"].tolist() if is_frame and "hand" in boxes else [None] * len(arr)
    if labels is True:
        names = boxes["joint"].tolist() if is_frame and "joint" in boxes else [None] * len(arr)
    elif labels is False or labels is None:
        names = [None] * len(arr)
    else:
        names = list(labels)
    for (x0, y0, x1, y1), hand, name in zip(arr, hands, names):
        c = color or HAND_COLORS.get(hand, "white")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=c, linewidth=linewidth,
                               linestyle=linestyle))
        if name:
            ax.text(x0, y0, str(name), color=c, fontsize=fontsize, va="bottom", ha="left", clip_on=True)


def show_radiograph(ax, image: np.ndarray, boxes: Any = None, *, title: Optional[str] = None,
                    labels: bool = True, hand_labels: bool = True, window: Optional[tuple[float, float]] = None,
                    fontsize: float = 5, linewidth: float = 0.8) -> None:
    """Show a bilateral radiograph with its joint boxes labelled by joint (chapter 1 gallery).

    `hand_labels` writes which half holds which of the patient's hands (right hand on the image's left).
    """
    draw_boxes(ax, image, boxes if boxes is not None else np.zeros((0, 4)), labels=labels,
               window=window, fontsize=fontsize, linewidth=linewidth)
    if hand_labels:  # under the image, where they hide nothing (markers and labels sit in its corners)
        for x, hand in ((0.25, "right"), (0.75, "left")):
            ax.text(x, -0.01, f"patient's {hand} hand", color=HAND_COLORS[hand], fontsize=7,
                    ha="center", va="top", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def zoom_joint(ax, image: np.ndarray, box: Sequence[float], *, context: float = 2.5, title: Optional[str] = None,
               draw_box: bool = True, color: str = "#ffd92f") -> None:
    """Show the region around one box, `context` times its size, with its own gray window (chapter 1).

    The paper's scoring crops use 2.5x the box (§3.2). Axes keep the radiograph's pixel coordinates.
    Only a view of the image is shown; nothing is copied or resampled here.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = context * max(x1 - x0, y1 - y0) / 2  # a square region, so every zoom has the same aspect
    height, width = image.shape[:2]
    c0, c1 = int(max(0, np.floor(cx - half))), int(min(width, np.ceil(cx + half)))
    r0, r1 = int(max(0, np.floor(cy - half))), int(min(height, np.ceil(cy + half)))
    region = image[r0:r1, c0:c1]
    vmin, vmax = display_range(region, 1, 99.5)
    ax.imshow(region, cmap="gray", vmin=vmin, vmax=vmax, extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5),
              interpolation="nearest" if region.shape[0] < 200 else "antialiased")
    if draw_box:
        draw_boxes(ax, None, [[x0, y0, x1, y1]], labels=False, color=color, linewidth=0.8, linestyle="--")
    ax.set_xlim(cx - half, cx + half)
    ax.set_ylim(cy + half, cy - half)
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


# Schematic positions (mm-like units) of the 21 sites of a RIGHT hand as it lies on a PA
# radiograph: fingers up, thumb towards the image centre (to the right), little finger left.
_SCHEMATIC: dict[str, tuple[float, float]] = {
    "IP": (76, 20), "MCP1": (64, -8), "CMC1": (44, -44),
    "DIP2": (35, 70), "PIP2": (34, 46), "MCP2": (31, 0),
    "DIP3": (11, 76), "PIP3": (10, 50), "MCP3": (9, 2),
    "DIP4": (-14, 70), "PIP4": (-13, 46), "MCP4": (-12, 0),
    "DIP5": (-40, 56), "PIP5": (-37, 34), "MCP5": (-34, -6),
    "CMC3": (9, -58), "CMC4": (-13, -58), "CMC5": (-33, -54),
    "wrist": (6, -80), "ulna": (-26, -104), "radiocarpal": (26, -102),
}
_TIPS = {1: (82, 38), 2: (36, 88), 3: (12, 96), 4: (-15, 88), 5: (-42, 72)}
_CMC_BASE = {2: (30, -58)}  # the index metacarpal base is not a scored site, but its bone is drawn


def _site_xy(joint: str, hand: str) -> tuple[float, float]:
    """Schematic position of a site; the patient's left hand is the mirror image of the right."""
    x, y = _SCHEMATIC[joint]
    return (x, y) if hand == "right" else (-x, y)


def joint_map(ax=None, *, hand: str = "right", values: Optional[Mapping[str, float]] = None,
              cmap: str = "magma_r", vmin: Optional[float] = None, vmax: Optional[float] = None,
              labels: bool = True, title: Optional[str] = None, colorbar_label: str = ""):
    """A schematic hand with its 21 sites (paper §3.1), coloured by which score applies.

    Without `values`: purple = erosion and JSN, red = erosion only (CMC1, ulna), blue = JSN only
    (CMC3-5). With `values` (joint -> number, e.g. mean erosion grade) the sites are coloured by
    value and sites without a value are hollow. `hand` is the patient's hand, drawn as it lies on
    a PA radiograph (right hand: thumb to the right). Returns the axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse

    if hand not in HANDS:
        raise ValueError(f"unknown hand {hand!r}; expected one of {HANDS}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 5))
    bone = dict(color="0.75", linewidth=5, solid_capstyle="round", zorder=1)

    def xy(joint: str) -> tuple[float, float]:
        return _site_xy(joint, hand)

    sign = 1 if hand == "right" else -1
    for f, chain in {1: ["CMC1", "MCP1", "IP"], 2: ["MCP2", "PIP2", "DIP2"], 3: ["CMC3", "MCP3", "PIP3", "DIP3"],
                     4: ["CMC4", "MCP4", "PIP4", "DIP4"], 5: ["CMC5", "MCP5", "PIP5", "DIP5"]}.items():
        pts = ([(sign * _CMC_BASE[f][0], _CMC_BASE[f][1])] if f in _CMC_BASE else []) + [xy(j) for j in chain]
        pts.append((sign * _TIPS[f][0], _TIPS[f][1]))
        ax.plot(*zip(*pts), **bone)
    ax.add_patch(Ellipse(xy("wrist"), 70, 30, facecolor="0.9", edgecolor="0.75", zorder=0))
    for j, dy in (("ulna", -40), ("radiocarpal", -44)):
        x, y = xy(j)
        ax.plot([x, x], [y, y + dy], **bone)

    norm = None
    if values is not None:
        vals = {j: float(v) for j, v in dict(values).items() if v is not None and not pd.isna(v)}
        lo = min(vals.values(), default=0.0) if vmin is None else vmin
        hi = max(vals.values(), default=1.0) if vmax is None else vmax
        norm = plt.Normalize(lo, hi if hi > lo else lo + 1)
        colormap = plt.get_cmap(cmap)
    for joint in JOINTS:
        site = SITE_BY_NAME[joint]
        x, y = xy(joint)
        if values is None:
            kind = "both" if site.erosion and site.jsn else ("erosion" if site.erosion else "jsn")
            face, edge = SITE_KIND_COLORS[kind], "black"
        elif joint in vals:
            face, edge = colormap(norm(vals[joint])), "black"
        else:
            face, edge = "white", "0.5"
        ax.scatter([x], [y], s=120, c=[face], edgecolors=edge, linewidths=0.8, zorder=3)
        if labels:  # finger sites: label above the dot (neighbours are close sideways); others beside it
            above = site.level in ("DIP", "PIP", "MCP", "CMC") and site.finger != 1
            offset, ha = ((0, 6), "center") if above else ((7, 0) if x >= 0 else (-7, 0), "left" if x >= 0 else "right")
            ax.annotate(joint, (x, y), xytext=offset, textcoords="offset points", ha=ha,
                        va="bottom" if above else "center", fontsize=6.5, zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.7))
    if values is None:
        handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=SITE_KIND_COLORS[k],
                          markeredgecolor="black", label=lbl)
                   for k, lbl in (("both", "erosion + JSN"), ("erosion", "erosion only"), ("jsn", "JSN only"))]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7,
                  frameon=False)
    else:
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, shrink=0.6, label=colorbar_label)
    ax.set_title(title if title is not None else f"patient's {hand} hand (as on a PA radiograph)", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(-112, 112)
    ax.set_ylim(-150, 104)
    ax.set_axis_off()
    return ax


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

    from .data import to_long

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


def radiograph_caption(dataset, patient_id: str) -> str:
    """A one-line caption: total true (or mean expert) grade, and the phantom's pose, exposure and markers if known."""
    from .data import to_long

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
    if marks:
        parts.append("markers " + ", ".join(marks))
    return ", ".join(parts)


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


def _fmt(value: Any) -> str:
    """A grade for display: '-' when missing or not applicable."""
    return "-" if value is None or pd.isna(value) else str(int(value))


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


def widgets_live() -> bool:
    """Whether interactive widgets will work here: a live notebook UI, not papermill or a book build.

    True on Colab, in a kernel started by a Jupyter server (which sets JPY_SESSION_NAME) or in
    VS Code; `RHEUMABOOK_WIDGETS=1/0` forces it. Executed HTML must never show an empty widget box,
    so chapters show a static figure and add the widget only when this is True.
    """
    forced = os.environ.get(WIDGETS_ENV, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    return "google.colab" in sys.modules or bool(os.environ.get("JPY_SESSION_NAME")) or "VSCODE_PID" in os.environ


def patient_browser(dataset, *, patient: Optional[str] = None, hand: str = "right", joint: str = "MCP2",
                    context: float = 2.5):
    """An ipywidgets browser of patients and joints (chapter 1): drop-downs + the `show_patient_joint` figure.

    Returns the widget; display it only when `widgets_live()` (show the static figure otherwise).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    patients = dataset.patients
    pick_patient = w.Dropdown(options=patients, value=patient or patients[0], description="patient")
    pick_hand = w.ToggleButtons(options=list(HANDS), value=hand, description="hand")
    pick_joint = w.Dropdown(options=list(JOINTS), value=joint, description="joint")
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            fig = show_patient_joint(dataset, pick_patient.value, pick_hand.value, pick_joint.value, context=context)
            display(fig)
            plt.close(fig)

    for control in (pick_patient, pick_hand, pick_joint):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([pick_patient, pick_joint]), pick_hand, out])


# ============================================================================ chapter 3: seam splitting


def show_split(ax, image: np.ndarray, split: Any, boxes: Any = None, *, title: Optional[str] = None,
               band: bool = True, color: str = "#e41a1c", linewidth: float = 1.2, labels: bool = False) -> None:
    """A radiograph with its seam (`preprocess.HandSplit`), the searched band and, optionally, the boxes (chapter 3).

    Boxes cut by the seam (`split.hand_of` disagrees with their hand) are drawn thick and red.
    """
    draw_boxes(ax, image, boxes if boxes is not None else np.zeros((0, 4)), labels=labels, linewidth=0.7)
    if boxes is not None and isinstance(boxes, pd.DataFrame) and "hand" in boxes and len(boxes):
        wrong = boxes[split.hand_of(boxes) != boxes["hand"].to_numpy()]
        if len(wrong):
            draw_boxes(ax, None, wrong, labels=False, color="red", linewidth=2.0)
    rows = np.arange(len(split.seam))
    ax.plot(split.seam, rows, color=color, linewidth=linewidth)
    if band:
        for x in split.band:
            ax.axvline(x, color="#ffd92f", linestyle="--", linewidth=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def seam_figure(image: np.ndarray, split: Any, boxes: Any = None, *, title: Optional[str] = None):
    """Radiograph with seam, band and boxes beside the band's energy and the seam (chapter 3).

    `split` must come from `preprocess.split_hands(..., keep_energy=True)`. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if split.energy is None:
        raise ValueError("split has no energy map: call preprocess.split_hands(image, keep_energy=True)")
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    show_split(a0, image, split, boxes, title=title)
    a1.imshow(split.energy, cmap="magma", aspect="auto")
    a1.plot(split.seam - split.band[0], np.arange(len(split.seam)), color="cyan", linewidth=1)
    a1.set_title("energy in the band, and the seam", fontsize=9)
    a1.set_axis_off()
    fig.tight_layout()
    return fig


def seam_explorer(dataset, *, patient: Optional[str] = None):
    """An ipywidgets control of `preprocess.split_hands`' parameters over a data set's radiographs (chapter 3).

    Shows the radiograph with its seam and boxes, and the band's energy. Returns the widget;
    display it only when `widgets_live()` (show the static figure otherwise).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import preprocess

    patients = dataset.patients
    pick = w.Dropdown(options=patients, value=patient or patients[0], description="patient")
    band = w.FloatRangeSlider(value=preprocess.DEFAULT_BAND, min=0.0, max=1.0, step=0.05, description="band")
    opening = w.IntSlider(value=-1, min=-1, max=41, step=2, description="opening",
                          tooltip="-1 = auto, 0 = off, else pixels")
    clahe = w.Checkbox(value=True, description="CLAHE")
    presmooth = w.IntSlider(value=-1, min=-1, max=81, step=2, description="presmooth")
    smooth = w.IntSlider(value=-1, min=-1, max=161, step=2, description="smooth")
    out = w.Output()

    def auto(v: int) -> Optional[int]:
        return None if v < 0 else v

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            image = dataset.image(pick.value)
            boxes = dataset.boxes_of(pick.value)
            try:
                split = preprocess.split_hands(image, band=band.value, opening=auto(opening.value), clahe=clahe.value,
                                               presmooth=auto(presmooth.value), smooth=auto(smooth.value),
                                               keep_energy=True)
            except ValueError as exc:  # e.g. a band squeezed to nothing: say so instead of a traceback
                print(f"cannot split with these settings: {exc}")
                return
            ok = np.mean(split.hand_of(boxes) == boxes["hand"].to_numpy()) if len(boxes) else float("nan")
            fig = seam_figure(image, split, boxes, title=f"{pick.value}: {ok:.0%} of the boxes on their own side")
            display(fig)
            plt.close(fig)

    for control in (pick, band, opening, clahe, presmooth, smooth):
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([pick, clahe]), band, w.HBox([opening, presmooth, smooth]), out])
