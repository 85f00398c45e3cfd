"""Plotting helpers of the chapters (matplotlib, seaborn where it helps, ipywidgets with a static twin).

Conventions: images are 2-D uint8/uint16 arrays (y, x) shown in gray with a percentile window;
boxes are (x_min, y_min, x_max, y_max) in pixels of the image shown (a DataFrame with those
columns, optionally hand/joint, or an (N, 4) array). Hands are the patient's: on a PA
radiograph the patient's right hand lies on the image's left half.

- `radiograph`: gray windows, boxes, a radiograph with its boxes, a zoom on one joint.
- `joint_map`: the schematic hand with its 21 sites.
- `distributions`: grade histograms (paper Fig. 1).
- `patient`: one patient's caption, a site's scores, the radiograph-plus-zoom figure.
- `browser`: `widgets_live` and the patient browser (ipywidgets).
- `seam`: the seam between the hands, its energy, and the seam explorer (chapter 3).
- `pipeline`: the scored radiograph, predicted totals against the truth (chapter 7).
- `explain`: TinyViT's windows and merges, pretraining reconstructions, heat maps on crops (chapter 6).
"""
from .browser import WIDGETS_ENV, patient_browser, widgets_live
from .distributions import score_distributions
from .explain import heat_overlay_grid, reconstruction_figure, stage_layouts, window_layout_figure
from .joint_map import SITE_KIND_COLORS, joint_map
from .patient import joint_scores_text, radiograph_caption, show_patient_joint
from .pipeline import bland_altman, landmark_overlay, save_figure, score_overlay, totals_scatter
from .radiograph import HAND_COLORS, display_range, draw_boxes, show_radiograph, zoom_joint
from .seam import seam_explorer, seam_figure, show_split

__all__ = [
    "HAND_COLORS", "display_range", "draw_boxes", "show_radiograph", "zoom_joint",
    "SITE_KIND_COLORS", "joint_map",
    "score_distributions",
    "radiograph_caption", "joint_scores_text", "show_patient_joint",
    "WIDGETS_ENV", "widgets_live", "patient_browser",
    "show_split", "seam_figure", "seam_explorer",
    "score_overlay", "totals_scatter", "bland_altman", "landmark_overlay", "save_figure",
    "stage_layouts", "window_layout_figure", "reconstruction_figure", "heat_overlay_grid",
]
