"""The phantom: seeded synthetic bilateral PA hand radiographs with known joint boxes, true scores and raters.

``render(seed)`` draws one patient and returns a `Radiograph` (image, 42 true boxes, true
erosion/JSN scores, pixel spacing, pose/exposure/confounder ``meta``); `disease` draws
true grades, `raters` simulates the three radiologists who score them. The model is
described in `rheumabook.phantom.render`. Modules, as data flows through them:
`anatomy` (sizes in mm) -> `outline` (polygon helpers) -> `wrist`, `hand` (one hand's
geometry) with `damage` (erosions, JSN) -> `raster` (projection to pixels) and `markers`
(side markers, label) -> `render` (draws, options, `Radiograph`).
"""
from . import disease, raters
from .anatomy import ASPECT, DEFAULT_SIZE, FIELD_WIDTH_MM, MIN_SIZE, UINT16_MAX
from .render import OPTIONS, Radiograph, render

__all__ = [
    "render", "Radiograph", "OPTIONS", "DEFAULT_SIZE", "MIN_SIZE", "FIELD_WIDTH_MM", "ASPECT", "UINT16_MAX",
    "disease", "raters",
]
