"""Figures of the seam between the two hands (chapter 3): the split, its energy, and an interactive explorer.

`split` is a `rheumabook.seam.HandSplit` (from `rheumabook.seam.split_hands`); boxes are as in
`rheumabook.viz.radiograph`.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from .radiograph import draw_boxes

__all__ = ["show_split", "seam_figure", "seam_explorer"]


def show_split(ax, image: np.ndarray, split: Any, boxes: Any = None, *, title: Optional[str] = None,
               band: bool = True, color: str = "#e41a1c", linewidth: float = 1.2, labels: bool = False) -> None:
    """A radiograph with its seam (`seam.HandSplit`), the searched band and, optionally, the boxes (chapter 3).

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

    `split` must come from `seam.split_hands(..., keep_energy=True)`. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if split.energy is None:
        raise ValueError("split has no energy map: call seam.split_hands(image, keep_energy=True)")
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    show_split(a0, image, split, boxes, title=title)
    a1.imshow(split.energy, cmap="magma", aspect="auto")
    a1.plot(split.seam - split.band[0], np.arange(len(split.seam)), color="cyan", linewidth=1)
    a1.set_title("energy in the band, and the seam", fontsize=9)
    a1.set_axis_off()
    fig.tight_layout()
    return fig


def seam_explorer(dataset, *, patient: Optional[str] = None):
    """An ipywidgets control of the `seam.SeamConfig` settings over a data set's radiographs (chapter 3).

    Shows the radiograph with its seam and boxes, and the band's energy. Returns the widget;
    display it only when `widgets_live()` (show the static figure otherwise).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from ..seam import DEFAULT_BAND, SeamConfig, split_hands

    patients = dataset.patients
    pick = w.Dropdown(options=patients, value=patient or patients[0], description="patient")
    band = w.FloatRangeSlider(value=DEFAULT_BAND, min=0.0, max=1.0, step=0.05, description="band")
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
                config = SeamConfig(band=band.value, opening=auto(opening.value), clahe=clahe.value,
                                    presmooth=auto(presmooth.value), smooth=auto(smooth.value))
                split = split_hands(image, config=config, keep_energy=True)
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
