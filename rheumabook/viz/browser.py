"""Interactive browsers (ipywidgets) and when to show them: only in a live notebook, never in the book's HTML.

Executed HTML must never show an empty widget box, so chapters show a static figure and add
the widget only when `widgets_live()` is True (Colab, Jupyter, VS Code; not papermill or a
book build). The seam's explorer is `rheumabook.viz.seam.seam_explorer`.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

from ..joints import HANDS, JOINTS
from .patient import show_patient_joint

__all__ = ["WIDGETS_ENV", "widgets_live", "patient_browser"]

WIDGETS_ENV = "RHEUMABOOK_WIDGETS"
"""Set to 1/0 to force interactive widgets on/off (default: on only in a live notebook UI)."""


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
