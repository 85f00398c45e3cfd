"""The phantom: seeded synthetic bilateral PA hand radiographs with known joint boxes, true scores and raters.

``render(seed)`` draws one patient and returns a `Radiograph` (image, 42 true boxes, true
erosion/JSN scores, pixel spacing, pose/exposure/confounder ``meta``); `formation_stages`
does the same and keeps every step of the image formation; `disease` draws true grades,
`raters` simulates the three radiologists who score them. The model is described in
`rheumabook.phantom.render`. Modules, as data flows through them: `anatomy` (sizes in mm)
-> `outline` (polygon helpers) -> `wrist`, `hand` (one hand's geometry) with `damage`
(erosions, JSN, sclerosis, osteopenia) -> `raster` (placement, projection) with
`thickness` (path lengths through tubes, ellipsoids, soft tissue) and `exposure`
(attenuation to display, blur, noise, collimation) and `markers` (side markers, label,
ruler) -> `render` (draws, options, `Radiograph`). `lesions` (`lesion_geometry`): each scored
site's lesion geometry (erosion cuts, joint spaces) in the radiograph's pixels, opt-in, drawing nothing.
"""
from . import disease, raters
from .anatomy import ASPECT, DEFAULT_SIZE, FIELD_WIDTH_MM, MIN_SIZE, UINT16_MAX
from .lesions import LESION_COLUMNS, lesion_geometry
from .render import OPTIONS, Radiograph, formation_stages, render

__all__ = [
    "render", "formation_stages", "lesion_geometry", "LESION_COLUMNS", "Radiograph", "OPTIONS", "DEFAULT_SIZE",
    "MIN_SIZE", "FIELD_WIDTH_MM", "ASPECT", "UINT16_MAX",
    "disease", "raters",
]
