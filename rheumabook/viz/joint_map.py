"""The joint map: a schematic hand with its 21 scored sites (paper §3.1), chapter 1 and later chapters."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import pandas as pd

from ..joints import HANDS, JOINTS, SITE_BY_NAME

__all__ = ["SITE_KIND_COLORS", "joint_map"]

SITE_KIND_COLORS: dict[str, str] = {"both": "#6a3d9a", "erosion": "#e31a1c", "jsn": "#1f78b4"}
"""Colour of a site in the joint map by which score applies there."""

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
_FINGER_CHAINS = {1: ["CMC1", "MCP1", "IP"], 2: ["MCP2", "PIP2", "DIP2"], 3: ["CMC3", "MCP3", "PIP3", "DIP3"],
                  4: ["CMC4", "MCP4", "PIP4", "DIP4"], 5: ["CMC5", "MCP5", "PIP5", "DIP5"]}


def _site_xy(joint: str, hand: str) -> tuple[float, float]:
    """Schematic position of a site; the patient's left hand is the mirror image of the right."""
    x, y = _SCHEMATIC[joint]
    return (x, y) if hand == "right" else (-x, y)


def _draw_bones(ax, hand: str) -> None:
    """The gray skeleton under the sites: five rays from base to tip, the wrist and the forearm bones."""
    from matplotlib.patches import Ellipse

    bone = dict(color="0.75", linewidth=5, solid_capstyle="round", zorder=1)
    sign = 1 if hand == "right" else -1
    for f, chain in _FINGER_CHAINS.items():
        pts = ([(sign * _CMC_BASE[f][0], _CMC_BASE[f][1])] if f in _CMC_BASE else []) + [_site_xy(j, hand)
                                                                                         for j in chain]
        pts.append((sign * _TIPS[f][0], _TIPS[f][1]))
        ax.plot(*zip(*pts), **bone)
    ax.add_patch(Ellipse(_site_xy("wrist", hand), 70, 30, facecolor="0.9", edgecolor="0.75", zorder=0))
    for j, dy in (("ulna", -40), ("radiocarpal", -44)):
        x, y = _site_xy(j, hand)
        ax.plot([x, x], [y, y + dy], **bone)


def _value_norm(values: Mapping[str, float], vmin: Optional[float], vmax: Optional[float]):
    """(joint -> value without the missing ones, the colour normalisation of those values)."""
    import matplotlib.pyplot as plt

    vals = {j: float(v) for j, v in dict(values).items() if v is not None and not pd.isna(v)}
    lo = min(vals.values(), default=0.0) if vmin is None else vmin
    hi = max(vals.values(), default=1.0) if vmax is None else vmax
    return vals, plt.Normalize(lo, hi if hi > lo else lo + 1)


def _site_colours(joint: str, vals: Optional[dict[str, float]], norm: Any, colormap: Any) -> tuple[Any, Any]:
    """(face, edge) of a site: by the score kinds that apply there, by its value, or hollow without one."""
    site = SITE_BY_NAME[joint]
    if vals is None:
        kind = "both" if site.erosion and site.jsn else ("erosion" if site.erosion else "jsn")
        return SITE_KIND_COLORS[kind], "black"
    if joint in vals:
        return colormap(norm(vals[joint])), "black"
    return "white", "0.5"


def _label_site(ax, joint: str, x: float, y: float) -> None:
    """Finger sites: label above the dot (neighbours are close sideways); others beside it."""
    site = SITE_BY_NAME[joint]
    above = site.level in ("DIP", "PIP", "MCP", "CMC") and site.finger != 1
    offset, ha = ((0, 6), "center") if above else ((7, 0) if x >= 0 else (-7, 0), "left" if x >= 0 else "right")
    ax.annotate(joint, (x, y), xytext=offset, textcoords="offset points", ha=ha,
                va="bottom" if above else "center", fontsize=6.5, zorder=4,
                bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.7))


def _kind_legend(ax) -> None:
    """The legend of the site colours when no values are shown."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=SITE_KIND_COLORS[k],
                      markeredgecolor="black", label=lbl)
               for k, lbl in (("both", "erosion + JSN"), ("erosion", "erosion only"), ("jsn", "JSN only"))]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7, frameon=False)


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

    if hand not in HANDS:
        raise ValueError(f"unknown hand {hand!r}; expected one of {HANDS}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 5))
    _draw_bones(ax, hand)
    vals = norm = colormap = None
    if values is not None:
        vals, norm = _value_norm(values, vmin, vmax)
        colormap = plt.get_cmap(cmap)
    for joint in JOINTS:
        x, y = _site_xy(joint, hand)
        face, edge = _site_colours(joint, vals, norm, colormap)
        ax.scatter([x], [y], s=120, c=[face], edgecolors=edge, linewidths=0.8, zorder=3)
        if labels:
            _label_site(ax, joint, x, y)
    if values is None:
        _kind_legend(ax)
    else:
        ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label=colorbar_label)
    ax.set_title(title if title is not None else f"patient's {hand} hand (as on a PA radiograph)", fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlim(-112, 112)
    ax.set_ylim(-150, 104)
    ax.set_axis_off()
    return ax
